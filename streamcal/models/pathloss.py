"""The PATHLOSS reference: the fraction of a source's light an aperture (a fixed slit, an MSA slitlet) passes,
against wavelength and the source's position in the aperture (jwst_spec §5; jwst's ``PathlossModel``).

jwst's PathlossModel holds, per aperture (``apertures[i]``: ``name``, ``shutters``), a point-source table
``pointsource_data`` of shape (n_wavelength, n_y, n_x) with a 3-axis FITS WCS (axis 1 the source's x in the
aperture, axis 2 its y, both in units of the aperture's width and height with 0 at the centre and ±0.5 the
edges; axis 3 the wavelength in metres) and a uniform-source vector ``uniform_data`` (n_wavelength,) with a
1-axis WCS (metres). streamcal's reference store reads arrays, not extension headers, so the file holds the same
content as one binary table ``PATHLOSS`` with a row per aperture (the WCS values in columns, jwst's meaning):

=============== ================= =========================================================================
column          type              meaning
=============== ================= =========================================================================
NAME            str               aperture name (a fixed slit's, e.g. ``S200A1``; ``MOS1x3`` for the MSA)
SHUTTERS        int16             shutters in the aperture (MSA; 0 for a fixed slit)
PS_CRPIX        float64 (3,)      CRPIX1..3 of ``POINTSOURCE`` (1-based)
PS_CRVAL        float64 (3,)      CRVAL1..3: x, y (aperture units), wavelength (m)
PS_CDELT        float64 (3,)      CDELT1..3
POINTSOURCE     float32 (nλ, ny, nx)  point-source pathloss (fraction passed)
UNI_CRPIX       float64           CRPIX1 of ``UNIFORM``
UNI_CRVAL       float64           CRVAL1 (m)
UNI_CDELT       float64           CDELT1 (m)
UNIFORM         float32 (nλ,)     uniform-source pathloss
WIDTH, HEIGHT   float64           the table's x and y unit, arcsec (streamcal's: jwst's WCS knows the slit
                                  size; the fixed slit's source position is the dither offset over it)
=============== ================= =========================================================================

:func:`point_loss` interpolates as jwst's ``pathloss.calculate_pathloss_vector`` (bilinear in the source
position; a position on or beyond the table's last row or column is outside the aperture) and
``interpolate_onto_grid`` (linear in wavelength, NaN outside the table's wavelengths). The simulator and the
pathloss step both call it, so the reference holds exactly the loss the simulation applied.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from streamcal.errors import MissingReferenceError

__all__ = ["PathlossAperture", "aperture_from_table", "pathloss_table", "point_loss", "slitlet_position",
           "uniform_loss"]

F64 = npt.NDArray[np.float64]
_M_PER_UM = 1e-6


@dataclass(frozen=True, slots=True)
class PathlossAperture:
    """One aperture's pathloss tables (module docstring); grids are the WCS values, wavelengths in µm.

    ``pointsource``: shape (n_wavelength, n_y, n_x), float32; ``uniform``: shape (n_wavelength,), float32."""

    name: str
    shutters: int
    wavelength_um: F64  # (n_wavelength,), increasing
    x: F64  # (n_x,), aperture units, increasing
    y: F64  # (n_y,), aperture units, increasing
    pointsource: npt.NDArray[np.float32]
    uniform: npt.NDArray[np.float32]
    width_arcsec: float = 0.2
    height_arcsec: float = 0.46


def _dtype(shape: tuple[int, int, int]) -> np.dtype:
    return np.dtype([("NAME", "S16"), ("SHUTTERS", ">i2"), ("PS_CRPIX", ">f8", (3,)), ("PS_CRVAL", ">f8", (3,)),
                     ("PS_CDELT", ">f8", (3,)), ("POINTSOURCE", ">f4", shape), ("UNI_CRPIX", ">f8"),
                     ("UNI_CRVAL", ">f8"), ("UNI_CDELT", ">f8"), ("UNIFORM", ">f4", (shape[0],)),
                     ("WIDTH", ">f8"), ("HEIGHT", ">f8")])


def _step(values: F64) -> float:
    return float(values[1] - values[0]) if values.size > 1 else 1.0


def pathloss_table(apertures: list[PathlossAperture]) -> np.ndarray:
    """The ``PATHLOSS`` binary table of some apertures (all of one table shape; module docstring).

    Raises
    ------
    ValueError
        No aperture, or apertures of different table shapes. Not retriable.
    """
    if not apertures:
        raise ValueError("a PATHLOSS table needs at least one aperture")
    shape = apertures[0].pointsource.shape
    if any(a.pointsource.shape != shape for a in apertures):
        raise ValueError("the apertures of one PATHLOSS table must share their table shape")
    table = np.zeros(len(apertures), _dtype((shape[0], shape[1], shape[2])))
    for row, a in zip(table, apertures, strict=True):
        row["NAME"], row["SHUTTERS"] = a.name, a.shutters
        row["PS_CRPIX"] = (1.0, 1.0, 1.0)
        row["PS_CRVAL"] = (a.x[0], a.y[0], a.wavelength_um[0] * _M_PER_UM)
        row["PS_CDELT"] = (_step(a.x), _step(a.y), _step(a.wavelength_um) * _M_PER_UM)
        row["POINTSOURCE"], row["UNIFORM"] = a.pointsource, a.uniform
        row["UNI_CRPIX"], row["UNI_CRVAL"] = 1.0, a.wavelength_um[0] * _M_PER_UM
        row["UNI_CDELT"] = _step(a.wavelength_um) * _M_PER_UM
        row["WIDTH"], row["HEIGHT"] = a.width_arcsec, a.height_arcsec
    return table


def _axis(crpix: float, crval: float, cdelt: float, n: int) -> F64:
    return crval + (np.arange(1, n + 1, dtype=np.float64) - crpix) * cdelt


def aperture_from_table(table: np.ndarray, name: str, *, source: str = "PATHLOSS") -> PathlossAperture:
    """The aperture ``name`` of a ``PATHLOSS`` table.

    Raises
    ------
    MissingReferenceError
        The table has no such aperture. Not retriable.
    """
    names = [bytes(n).decode().strip() if isinstance(n, bytes) else str(n).strip() for n in table["NAME"]]
    if name not in names:
        raise MissingReferenceError(f"{source}: no pathloss aperture {name!r} (it has {names})")
    row = table[names.index(name)]
    ps = np.asarray(row["POINTSOURCE"], np.float32)
    nw, ny, nx = ps.shape
    crpix, crval, cdelt = (np.asarray(row[k], np.float64) for k in ("PS_CRPIX", "PS_CRVAL", "PS_CDELT"))
    return PathlossAperture(
        name=name, shutters=int(row["SHUTTERS"]),
        wavelength_um=_axis(crpix[2], crval[2], cdelt[2], nw) / _M_PER_UM,
        x=_axis(crpix[0], crval[0], cdelt[0], nx), y=_axis(crpix[1], crval[1], cdelt[1], ny),
        pointsource=ps, uniform=np.asarray(row["UNIFORM"], np.float32), width_arcsec=float(row["WIDTH"]),
        height_arcsec=float(row["HEIGHT"]))


def _onto_wavelengths(vector: F64, grid_um: F64, wavelength_um: npt.ArrayLike) -> F64:
    """Linear in wavelength; NaN outside the table's wavelengths (jwst's ``interpolate_onto_grid``)."""
    return np.interp(np.asarray(wavelength_um, np.float64), grid_um, vector, left=np.nan, right=np.nan)


def point_loss(aperture: PathlossAperture, wavelength_um: npt.ArrayLike, *, x: float, y: float) -> F64:
    """The point-source pathloss of a source at ``(x, y)`` (aperture units) at each wavelength.

    Parameters
    ----------
    aperture : PathlossAperture
    wavelength_um : array_like, any shape
        µm; NaN gives NaN.
    x, y : float
        The source's place in the aperture (0 the centre, ±0.5 the edges; y of a 1×3 slitlet ±1.5).

    Returns
    -------
    ndarray, float64, the shape of ``wavelength_um``
        The fraction passed; all NaN when the source lies outside the table (jwst: outside the slit).
    """
    col = (x - aperture.x[0]) / _step(aperture.x)
    row = (y - aperture.y[0]) / _step(aperture.y)
    ny, nx = aperture.pointsource.shape[1:]
    wave = np.asarray(wavelength_um, np.float64)
    if not (0 <= col < nx - 1 and 0 <= row < ny - 1):
        return np.full(wave.shape, np.nan)
    j, i = int(col), int(row)
    dx, dy = col - j, row - i
    ps = aperture.pointsource.astype(np.float64)
    vector = ((1 - dx) * (1 - dy) * ps[:, i, j] + (1 - dx) * dy * ps[:, i + 1, j]
              + dx * (1 - dy) * ps[:, i, j + 1] + dx * dy * ps[:, i + 1, j + 1])
    return _onto_wavelengths(vector, aperture.wavelength_um, wave)


def uniform_loss(aperture: PathlossAperture, wavelength_um: npt.ArrayLike) -> F64:
    """The uniform-source pathloss at each wavelength (NaN outside the table's wavelengths)."""
    return _onto_wavelengths(aperture.uniform.astype(np.float64), aperture.wavelength_um, wavelength_um)


def slitlet_position(source_x: float, source_y: float, primary_column: int,
                     columns: tuple[int, ...]) -> tuple[float, float]:
    """An MSA source's (x, y) in its slitlet's table (shutter units, 0 the slitlet's middle) from its place in
    its primary shutter (jwst's ``estimated_source_in_shutter_x/y``, 0…1): SRCXPOS, and SRCYPOS plus the
    primary shutter's offset from the middle one (jwst: ±1 when the shutter above or below is closed)."""
    middle = 0.5 * (min(columns) + max(columns))
    return source_x - 0.5, (primary_column - middle) + (source_y - 0.5)
