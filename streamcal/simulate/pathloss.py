"""The slit-loss forward model of NIRSpec's fixed slit (NRS_FIXEDSLIT, S200A1) and MSA slitlets (NRS_MSASPEC,
1×3): the fraction of a point source's light that passes the aperture, against wavelength and the source's
place in it (jwst_spec §5, pathloss).

Simplified [U]: the PSF in the slit plane is a circular Gaussian of FWHM ``1.03 λ / D`` (D = 6.5 m: 0.098″ at
3 µm, 0.16″ at 5 µm; no Airy rings, no telescope aberrations), and the aperture a rectangle that passes what
falls inside it; the pass fraction of a source at ``(x, y)`` (units of the aperture's width and height, 0 the
centre) is the product of two differences of the normal CDF. S200A1 is 0.2″ × 3.2″; a 1×3 MSA slitlet three
0.2″ × 0.46″ shutters, no bars between them (the y grid spans ±1.5 shutters about the middle one). A uniform
source loses nothing by this model (as much light falls in from outside as falls out), so the uniform table is 1.

The tables (:func:`pathloss_aperture`: wavelengths 2.8–5.4 µm every 0.02 µm, positions every 0.05 of the
aperture) are rounded to float32 and the simulator applies :func:`streamcal.models.pathloss.point_loss` of the
rounded table — the interpolation the pathloss step does — so the PATHLOSS reference holds exactly the loss the
exposures saw, as the other references hold what the physics used. Only point sources lose light: a MOS source
that srctype calls EXTENDED (stellarity ≤ 0.75) fills its shutter in this model and loses nothing.

Source positions, as jwst reads them: the fixed slit's from the dither offsets XOFFSET, YOFFSET (arcsec, the
ideal frame taken along the slit's width and length [U]: ``x = XOFFSET / 0.2″``; jwst maps them through the
WCS); an MSA source's from the MSA metadata (``estimated_source_in_shutter_x/y − 0.5``, y plus the primary
shutter's offset from the slitlet's middle one). The decentring moves neither the trace nor the wavelengths
here (no wavecorr for the fixed slit).
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
from scipy.special import ndtr

from streamcal.models.pathloss import PathlossAperture, point_loss, slitlet_position

__all__ = ["APERTURES", "PATHLOSS_MODES", "fs_source_position", "gaussian_slit_loss", "mos_source_position",
           "pathloss_aperture", "source_loss"]

_RAD_TO_ARCSEC = 206264.80624709636
_DIAMETER_M = 6.5
_FWHM_LAMBDA_OVER_D = 1.03
#: Aperture name → (width, height of the table's unit, arcsec; shutters; y extent of the table in those units).
APERTURES: dict[str, tuple[float, float, int, float]] = {"S200A1": (0.2, 3.2, 0, 0.5), "MOS1x3": (0.2, 0.46, 3, 1.5)}
#: The EXP_TYPEs whose exposures lose light in their aperture, and which aperture.
PATHLOSS_MODES: dict[str, str] = {"NRS_FIXEDSLIT": "S200A1", "NRS_MSASPEC": "MOS1x3"}
_WAVE_UM = (2.8, 5.4, 0.02)
_POS_STEP = 0.05


def gaussian_slit_loss(wavelength_um: npt.ArrayLike, *, x: float, y: float, width_arcsec: float,
                       height_arcsec: float, y_extent: float = 0.5) -> npt.NDArray[np.float64]:
    """The analytic pass fraction (module docstring) of a point source at ``(x, y)`` (aperture units).

    ``y_extent``: the open region spans ``±y_extent`` heights (0.5 a single aperture, 1.5 a 1×3 slitlet)."""
    wave = np.asarray(wavelength_um, np.float64)
    sigma = _FWHM_LAMBDA_OVER_D * wave * 1e-6 / _DIAMETER_M * _RAD_TO_ARCSEC / (2 * np.sqrt(2 * np.log(2)))
    sx, sy = sigma / width_arcsec, sigma / height_arcsec
    across = ndtr((0.5 - x) / sx) - ndtr((-0.5 - x) / sx)
    along = ndtr((y_extent - y) / sy) - ndtr((-y_extent - y) / sy)
    return np.asarray(across * along, np.float64)


def pathloss_aperture(name: str) -> PathlossAperture:
    """The tabulated aperture (float32, module docstring), as the PATHLOSS reference holds it.

    Raises
    ------
    KeyError
        No such simulated aperture. Not retriable.
    """
    width, height, shutters, extent = APERTURES[name]
    lo, hi, step = _WAVE_UM
    wave = np.round(np.arange(lo, hi + step / 2, step), 6)
    xs = np.round(np.arange(-0.5, 0.5 + _POS_STEP / 2, _POS_STEP), 6)
    ys = np.round(np.arange(-extent, extent + _POS_STEP / 2, _POS_STEP), 6)
    table = np.empty((wave.size, ys.size, xs.size), np.float32)
    for i, yv in enumerate(ys):
        for j, xv in enumerate(xs):
            table[:, i, j] = gaussian_slit_loss(wave, x=float(xv), y=float(yv), width_arcsec=width,
                                                height_arcsec=height, y_extent=extent)
    table.setflags(write=False)
    uniform = np.ones(wave.size, np.float32)
    uniform.setflags(write=False)
    return PathlossAperture(name, shutters, wave, xs, ys, table, uniform, width, height)


def fs_source_position(xoffset_arcsec: float, yoffset_arcsec: float, aperture: str = "S200A1") -> tuple[float, float]:
    """A fixed-slit source's (x, y) in the slit from the dither offsets (module docstring)."""
    width, height, _, _ = APERTURES[aperture]
    return xoffset_arcsec / width, yoffset_arcsec / height


def mos_source_position(source_x: float, source_y: float, primary_column: int,
                        columns: tuple[int, ...]) -> tuple[float, float]:
    """An MSA source's (x, y) in its 1×3 slitlet's table (:func:`streamcal.models.pathloss.slitlet_position`)."""
    return slitlet_position(source_x, source_y, primary_column, columns)


def source_loss(aperture: str, wavelength_um: npt.ArrayLike, *, x: float, y: float) -> npt.NDArray[np.float64]:
    """The pass fraction the simulator applies: the tabulated aperture interpolated (module docstring).

    Raises
    ------
    ValueError
        The source lies outside the aperture's table. Not retriable.
    """
    loss = point_loss(pathloss_aperture(aperture), wavelength_um, x=x, y=y)
    if np.isnan(loss).all():
        raise ValueError(f"a source at ({x:.3f}, {y:.3f}) lies outside the {aperture} aperture")
    return loss
