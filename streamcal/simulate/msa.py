"""NIRSpec MOS (NRS_MSASPEC) forward model: an MSA configuration of a few 1×3 slitlets, a point source in most
of them, a flat sky in all (issue 11).

The geometry (:class:`~streamcal.models.msa.MsaGeometry`, written as the MSAQUADS SPECWCS reference) puts
quadrants 3 and 4 on NRS1 with G395H/F290LP [U: plausible, not from real reference files]::

    quadrant  rows × columns  column k crosses at (d = 1024)   shutter pitch (d, c)  band (row 180, x = 0.5)
    3         365 × 171       y = 1030 + 5.3·k                 2.7 px, 5.3 px        2.87 → 4.09 µm
    4         365 × 171       y = 115 + 5.3·k                  2.7 px, 5.3 px        (G395H on NRS1, as the FS)

with the fixed slit's wavelength solution and ±1.5 px tilt across the detector, a source's spectrum shifted by
2.7 px per shutter row from row 180 and by 2 px across a shutter's open width, and a Gaussian cross profile of
σ = 1 px. The default configuration (:func:`default_msa_configuration`) opens six slitlets whose shutters all
fall in rows 896–1151 (the ALLSLITS subarray the small size reads): five hold a point source each, at its own
place in its shutter, with its own flux scale (the default spectrum, a blackbody with lines, times 12…40) and
stellarity; one (slitlet 4) is empty sky. Rows 170–188 give shifts of −27…+22 px.

A pattern of several dither points (NUMDTHPT > 1, this exposure PATT_NUM) is jwst's 3-shutter-slitlet nod: the
same slitlets stay open and the telescope moves each source by one shutter, to the slitlet's middle, upper and
lower shutter at points 1, 2, 3 (then again; :data:`NOD_SHUTTERS`), so its trace moves 5.3 px across the
dispersion and its wavelengths do not change. The MSA metadata file holds every point's rows
(:attr:`MsaScene.pattern`), as jwst's does.

Each slitlet lets through a flat sky of ``sky`` DN/s per pixel (1 % of a 25 mJy source's peak pixel [U]) in
the detector pixels whose centres lie within its open strip (3 shutters × 5.3 px); the sources add their
spectra (:func:`~streamcal.simulate.spectra.render_spectrum`), a point source's times its slit loss at its place
in the slitlet (:func:`slit_loss`, :mod:`streamcal.simulate.pathloss`). No bar shadow or contamination between
slitlets (they do not overlap).

Truth (:func:`msa_truth_extensions`): the per-pixel wavelength of every slitlet's open strip, and per source
slitlet (EXTVER = its order in the configuration, SLITID and SOURCEID in the header) the injected spectrum
(``SPECTRUM``) and what a perfect extraction returns (``EXTRACTED``: FLUX the source's, before the slit loss;
RATE_SUM what reaches the detector, after it).
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable
from typing import NamedTuple

import numpy as np
import numpy.typing as npt

from streamcal.datamodels import Extension
from streamcal.models.msa import MsaConfiguration, MsaGeometry, MsaQuadrant, MsaSlitlet, MsaSource
from streamcal.models.spectral import SpectralLayout
from streamcal.routing import ExpType
from streamcal.simulate.geometry import Detector, Subarray
from streamcal.simulate.pathloss import PATHLOSS_MODES, mos_source_position, source_loss
from streamcal.simulate.spectra import SourceSpectrum, default_spectrum_for, extracted_truth, render_spectrum
from streamcal.simulate.spectral_layouts import _about_zero, spectral_photometry

__all__ = ["MSA_MODES", "NOD_SHUTTERS", "MsaRender", "MsaScene", "default_msa_configuration", "msa_geometry",
           "msa_metadata_name",
           "msa_scene", "msa_truth_extensions", "render_msa", "slit_loss", "slit_span"]

MSA_MODES = frozenset({ExpType.NRS_MSASPEC})
#: jwst's srctype threshold (stellarity above it: a point source), which decides which sources lose light.
POINT_STELLARITY = 0.75
_G395H_NRS1 = (2.870, 5.5e-4, 2.45e-8)  # the fixed slit's, about d0 = 4 (spectral_layouts)
_TILT = 1.5e-3
_PITCH_C = 5.3
_PITCH_D = 2.7
#: The primary shutter's column offset at dither points 1, 2, 3 of the 3-shutter nod (module docstring).
NOD_SHUTTERS = (0, 1, -1)


def _quadrant(number: int, c_at_1024: float) -> MsaQuadrant:
    return MsaQuadrant(quadrant=number, n_rows=365, n_columns=171, row_ref=180.0, disp_pitch=_PITCH_D,
                       disp_open=2.0, cross_pitch=_PITCH_C, wavelength_coeffs=_about_zero(_G395H_NRS1, 4.0),
                       trace_coeffs=(c_at_1024 - 1024 * _TILT, _TILT), sigma_px=1.0, d_range=(4, 2044))


def msa_geometry(detector: Detector | str, optics: dict[str, str]) -> MsaGeometry:
    """The MSA geometry on a detector (module docstring).

    Raises
    ------
    KeyError
        No MOS geometry for this detector and optics (only NRS1 with F290LP/G395H is simulated). Not retriable.
    """
    name = detector.name if isinstance(detector, Detector) else detector
    key = (name, optics.get("FILTER", "N/A"), optics.get("GRATING", "N/A"))
    if key != ("NRS1", "F290LP", "G395H"):
        raise KeyError(f"no MSA geometry for {key[0]} with {key[1]}/{key[2]}")
    return MsaGeometry({3: _quadrant(3, 1030.0), 4: _quadrant(4, 115.0)})


#: (slitlet_id, quadrant, row, centre column, source_id or 0, x, y, brightness × the default spectrum, stellarity)
_SLITLETS = (
    (1, 4, 180, 152, 101, 0.50, 0.50, 40.0, 0.98),
    (2, 4, 175, 160, 102, 0.62, 0.42, 20.0, 0.90),
    (3, 4, 188, 168, 103, 0.45, 0.58, 30.0, 0.85),
    (4, 3, 172, 5, 0, 0.5, 0.5, 0.0, 0.0),
    (5, 3, 185, 12, 105, 0.55, 0.50, 25.0, 0.30),
    (6, 3, 178, 19, 106, 0.40, 0.55, 12.0, 0.95),
)


def default_msa_configuration(*, program: int = 1234, msa_metadata_id: int = 1, dither_point: int = 1,
                              ra: float = 80.4875, dec: float = -69.4985,
                              nod: bool = False) -> tuple[MsaConfiguration, dict[int, float]]:
    """The default MSA configuration (module docstring) and each source's brightness (× the default spectrum);
    ``nod``: the source sits in the shutter of the 3-shutter nod's ``dither_point`` (:data:`NOD_SHUTTERS`)."""
    slitlets, sources, brightness = [], {}, {}
    step = NOD_SHUTTERS[(dither_point - 1) % len(NOD_SHUTTERS)] if nod else 0
    for sid, quad, row, col, source_id, x, y, scale, stellarity in _SLITLETS:
        primary = col + step if source_id else col
        slitlets.append(MsaSlitlet(slitlet_id=sid, quadrant=quad, row=row, columns=(col - 1, col, col + 1),
                                   source_id=source_id, primary_column=primary, source_x=x, source_y=y))
        if source_id:
            sources[source_id] = MsaSource(source_id=source_id, name=f"{program}_{source_id}", alias=f"SIM-{source_id}",
                                           ra=ra + 1e-4 * sid, dec=dec + 1e-4 * sid, stellarity=stellarity)
            brightness[source_id] = scale
    config = MsaConfiguration(msa_metadata_id=msa_metadata_id, dither_point=dither_point, slitlets=tuple(slitlets),
                              sources=sources, program=program)
    return config, brightness


def msa_metadata_name(program: int, observation: int, visit: int, configuration: int = 1) -> str:
    """jwst's MSA metadata file name, ``jw<ppppp><ooo><vvv>_<cc>_msa.fits``."""
    return f"jw{program:05d}{observation:03d}{visit:03d}_{configuration:02d}_msa.fits"


class MsaScene(NamedTuple):
    """What a MOS exposure sees: the geometry, the configuration, each source's spectrum and the calibration
    (photmj, relresponse of the PHOTOM row), and the sky per pixel (DN/s)."""

    geometry: MsaGeometry
    config: MsaConfiguration
    spectra: dict[int, SourceSpectrum]
    calibration: SpectralLayout  # a calibrated layout carrying photmj and relresponse (geometry unused)
    sky: float
    pattern: tuple[MsaConfiguration, ...] = ()  # every dither point's configuration (the metadata file's rows)


def slit_span(quadrant: MsaQuadrant, slitlet: MsaSlitlet, d: npt.ArrayLike) -> tuple[npt.NDArray[np.float64],
                                                                                   npt.NDArray[np.float64]]:
    """The cross-dispersion edges (low, high) of a slitlet's open strip at dispersion pixel(s) ``d``."""
    return (quadrant.cross(d, min(slitlet.columns) - 0.5), quadrant.cross(d, max(slitlet.columns) + 0.5))


def _calibrated(layout: SpectralLayout, calibration: SpectralLayout) -> SpectralLayout:
    return dataclasses.replace(layout, photmj=calibration.photmj, response_wavelength=calibration.response_wavelength,
                               response=calibration.response)


def msa_scene(detector: Detector | str, optics: dict[str, str], *, program: int = 1234,
              dither_point: int = 1, spectrum: SourceSpectrum | None = None, n_points: int = 1) -> MsaScene:
    """The default MOS scene on a detector: the default configuration, each source the default spectrum (or
    ``spectrum``) times its brightness; with ``n_points`` > 1 dither points, the 3-shutter nod's point
    ``dither_point`` (module docstring).

    Raises
    ------
    KeyError
        As :func:`msa_geometry`.
    """
    geometry = msa_geometry(detector, optics)
    nod = n_points > 1
    config, brightness = default_msa_configuration(program=program, dither_point=dither_point, nod=nod)
    pattern = tuple(default_msa_configuration(program=program, dither_point=p, nod=nod)[0]
                    for p in range(1, max(n_points, dither_point) + 1))
    cal = spectral_photometry(detector, optics["FILTER"], optics["GRATING"])
    base = geometry.quadrant(3).layout(180, 85)
    calibration = SpectralLayout(dispaxis=1, wavelength_coeffs=base.wavelength_coeffs, trace_coeffs=base.trace_coeffs,
                                 sigma_px=base.sigma_px, d_range=base.d_range, photmj=cal.photmj,
                                 response_wavelength=tuple(cal.wavelength), response=tuple(cal.relresponse))
    spectra: dict[int, SourceSpectrum] = {}
    for slitlet in config.slitlets:
        if not slitlet.has_source:
            continue
        layout = _calibrated(geometry.quadrant(slitlet.quadrant).layout(
            slitlet.row, slitlet.primary_column, slitlet.source_x, slitlet.source_y), calibration)
        own = spectrum if spectrum is not None else default_spectrum_for(layout)
        scale = brightness[slitlet.source_id]
        spectra[slitlet.source_id] = SourceSpectrum(own.wavelength_um, own.flux_jy * scale, own.lines)
    wave = calibration.wavelength(calibration.dispersion_pixels())
    reference = default_spectrum_for(calibration).flux_at(wave) * 25.0 / calibration.conversion(wave)
    sky = float(0.01 * np.median(reference) / (np.sqrt(2 * np.pi) * calibration.sigma_px))
    return MsaScene(geometry, config, spectra, calibration, sky, pattern)


class MsaRender(NamedTuple):
    """A MOS exposure's rate (DN/s, flat-fielded units), per-pixel wavelength (NaN off the slitlets) and the
    slitlet map (slitlet_id, 0 off the slitlets)."""

    rate: npt.NDArray[np.float64]
    wavelength: npt.NDArray[np.float64]
    slitlets: npt.NDArray[np.int32]


def slit_loss(scene: MsaScene, slitlet: MsaSlitlet) -> Callable[[npt.NDArray[np.float64]],
                                                                    npt.NDArray[np.float64]] | None:
    """The slit loss of a slitlet's source (:mod:`streamcal.simulate.pathloss`): a point source's (stellarity
    above :data:`POINT_STELLARITY`, or unknown), at its place in its 1×3 slitlet; None for an extended source
    (it fills the shutter: no loss) or a slitlet without one."""
    source = scene.config.sources.get(slitlet.source_id) if slitlet.has_source else None
    if source is None:
        return None
    stellarity = source.stellarity
    if np.isfinite(stellarity) and 0 <= stellarity <= POINT_STELLARITY:
        return None
    x, y = mos_source_position(slitlet.source_x, slitlet.source_y, slitlet.primary_column, slitlet.columns)
    return functools.partial(source_loss, PATHLOSS_MODES["NRS_MSASPEC"], x=x, y=y)


def render_msa(scene: MsaScene, subarray: Subarray) -> MsaRender:
    """Render the scene onto a subarray (module docstring)."""
    shape = (subarray.ny, subarray.nx)
    rate, wave_map = np.zeros(shape), np.full(shape, np.nan)
    ids = np.zeros(shape, np.int32)
    d = subarray.x0 + np.arange(subarray.nx)
    ys = (subarray.y0 + np.arange(subarray.ny))[:, None]
    for slitlet in scene.config.slitlets:
        quad = scene.geometry.quadrant(slitlet.quadrant)
        lo, hi = slit_span(quad, slitlet, d)
        lit = (d >= quad.d_range[0]) & (d < quad.d_range[1])
        inside = (ys >= lo[None, :]) & (ys < hi[None, :]) & lit[None, :]
        layout = quad.layout(slitlet.row, slitlet.primary_column, slitlet.source_x, slitlet.source_y)
        ids[inside] = slitlet.slitlet_id
        wave_map = np.where(inside, layout.wavelength(d)[None, :], wave_map)
        rate[inside] += scene.sky
        if slitlet.has_source:
            rate += render_spectrum(_calibrated(layout, scene.calibration), scene.spectra[slitlet.source_id],
                                    subarray, throughput=slit_loss(scene, slitlet)).rate
    return MsaRender(rate, wave_map, ids)


_SPECTRUM_DTYPE = np.dtype([("WAVELENGTH", ">f8"), ("FLUX", ">f8")])


def msa_truth_extensions(scene: MsaScene, render: MsaRender, subarray: Subarray) -> list[Extension]:
    """The truth file's MOS extensions (module docstring)."""
    out = [Extension("WAVELENGTH", render.wavelength, {"BUNIT": "um"}), Extension("SLITLETS", render.slitlets)]
    for ver, slitlet in enumerate((s for s in scene.config.slitlets if s.has_source), start=1):
        quad = scene.geometry.quadrant(slitlet.quadrant)
        layout = _calibrated(quad.layout(slitlet.row, slitlet.primary_column, slitlet.source_x, slitlet.source_y),
                             scene.calibration)
        spectrum = scene.spectra[slitlet.source_id]
        table = np.zeros(spectrum.wavelength_um.size, _SPECTRUM_DTYPE)
        table["WAVELENGTH"], table["FLUX"] = spectrum.wavelength_um, spectrum.flux_jy
        head: dict[str, object] = {"SLITID": slitlet.slitlet_id, "SOURCEID": slitlet.source_id}
        out += [Extension("SPECTRUM", table, head, ver=ver),
                Extension("EXTRACTED", extracted_truth(layout, spectrum, subarray,
                                                       throughput=slit_loss(scene, slitlet)), head, ver=ver)]
    return out
