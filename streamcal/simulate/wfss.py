"""Wide-field slitless spectroscopy (NIS_WFSS, NRC_WFSS) forward model: a few compact sources, each with its own
spectrum, dispersed by the grism's +1 order (issue 11).

Grism trace models (:class:`~streamcal.models.grism.GrismOrder`, written as the GRISMCONF SPECWCS reference)
[U: plausible, not from real reference files; dispersions after JDox]::

    EXP_TYPE   detector  FILTER/PUPIL     dispaxis  band (µm)     µm/px     t (offset from the direct position)
    NIS_WFSS   NIS       GR150C/F150W     1 (x)     1.33 → 1.67   0.00478   +40 … +111 px
    NIS_WFSS   NIS       GR150R/F150W     2 (y)     1.33 → 1.67   0.00478   −40 … −111 px
    NRC_WFSS   NRC*LONG  F356W/GRISMR     1 (x)     3.14 → 3.98   0.00100   −810 … +30 px
    NRC_WFSS   NRC*LONG  F356W/GRISMC     2 (y)     3.14 → 3.98   0.00100   −810 … +30 px

with a slight tilt of the trace (``c − c0 = 0.5 + 0.002 t``; GRISMC curved, ``+ 2e-6 t²``) and a Gaussian cross
profile of σ = 1 px. Only order +1 is simulated (no order 0, −1 or +2, hence no contamination): jwst's
calwebb_spec2 extracts order +1 of WFSS by default.

The scene (:func:`default_wfss_scene`): four or five compact sources at fixed places of the detector's undithered
full frame (so that no two traces of either grism overlap), stored as RA/Dec for the target's pointing; each has
the default spectrum (:func:`~streamcal.simulate.spectra.default_spectrum`, three emission and two absorption
lines) over the band with its own temperature and brightness. The same scene, given to an imaging exposure
(``ExposureSpec.wfss_scene``: NIS_IMAGE CLEAR/F150W, NRC_IMAGE F356W/CLEAR), is its star field: each source a
Moffat star of its own brightness, so calwebb_image3's catalogue of the direct images finds them.

In the grism exposure each source's spectrum is rendered through its order's layout at its direct position
(:func:`~streamcal.simulate.spectra.render_spectrum`: the photometric calibration of the path's PHOTOM row), plus
a uniform sky of ``sky`` DN/s per pixel. Truth (:func:`wfss_truth_extensions`): the per-pixel wavelength of every
trace (within 4σ), the sources' table (WFSS_SOURCES: id, RA, Dec, direct x/y on the exposure's subarray) and per
source (EXTVER in id order, SOURCEID in the header) the injected spectrum and what a perfect extraction returns.
"""

from __future__ import annotations

import dataclasses
from typing import NamedTuple

import numpy as np
import numpy.typing as npt

from streamcal.datamodels import Extension
from streamcal.models.grism import GrismConf, GrismOrder
from streamcal.models.spectral import SpectralLayout
from streamcal.routing import ExpType
from streamcal.simulate.geometry import DETECTORS, Detector, Subarray
from streamcal.simulate.spectra import SourceSpectrum, default_spectrum, extracted_truth, render_spectrum
from streamcal.simulate.spectral_layouts import spectral_photometry
from streamcal.simulate.wcs import TanWcs

__all__ = ["WFSS_MODES", "WfssRender", "WfssScene", "WfssSource", "default_wfss_scene", "grism_conf",
           "grism_element", "render_wfss", "source_layouts", "wfss_layouts", "wfss_truth_extensions"]

WFSS_MODES = frozenset({ExpType.NIS_WFSS, ExpType.NRC_WFSS})
_NIS_DISP = 0.00478
_NRC_DISP = 0.00100
_SIGMA = 1.0


def _order(dispaxis: int, lam0: float, step: float, trace: tuple[float, ...], band: tuple[float, float]) -> GrismOrder:
    return GrismOrder(order=1, dispaxis=dispaxis, wavelength_coeffs=(lam0, step), trace_coeffs=trace,
                      sigma_px=_SIGMA, wave_range=band)


_F150W = (1.33, 1.67)
_F356W = (3.14, 3.98)
#: (INSTRUME, FILTER, PUPIL) → the grism's orders.
_GRISMS: dict[tuple[str, str, str], GrismConf] = {
    ("NIRISS", "GR150C", "F150W"): GrismConf({1: _order(1, 1.33 - 40 * _NIS_DISP, _NIS_DISP, (0.5, 0.002), _F150W)}),
    ("NIRISS", "GR150R", "F150W"): GrismConf({1: _order(2, 1.33 - 40 * _NIS_DISP, -_NIS_DISP, (0.5, -0.002),
                                                        _F150W)}),
    ("NIRCAM", "F356W", "GRISMR"): GrismConf({1: _order(1, 3.95, _NRC_DISP, (0.5, 0.002), _F356W)}),
    ("NIRCAM", "F356W", "GRISMC"): GrismConf({1: _order(2, 3.95, _NRC_DISP, (0.5, 0.002, 2e-6), _F356W)}),
}
#: (detector family, blocking filter) → the band of the sources' spectra.
_BANDS = {("NIRISS", "F150W"): (_F150W, _NIS_DISP), ("NIRCAM", "F356W"): (_F356W, _NRC_DISP)}


def grism_element(detector: Detector | str, optics: dict[str, str]) -> tuple[str, str, str]:
    """(INSTRUME, FILTER, PUPIL) of a WFSS exposure's optical path."""
    det = detector if isinstance(detector, Detector) else DETECTORS[detector]
    return det.instrument, str(optics.get("FILTER", "N/A")), str(optics.get("PUPIL", "N/A"))


def grism_conf(detector: Detector | str, optics: dict[str, str]) -> GrismConf:
    """The grism configuration of a WFSS optical path (module docstring).

    Raises
    ------
    KeyError
        No simulated grism for this instrument, FILTER and PUPIL. Not retriable.
    """
    key = grism_element(detector, optics)
    if key not in _GRISMS:
        raise KeyError(f"no simulated grism for {key[0]} FILTER={key[1]} PUPIL={key[2]} (known: {sorted(_GRISMS)})")
    return _GRISMS[key]


def wfss_layouts() -> list[tuple[str, tuple[str, str, str], GrismConf]]:
    """Every simulated grism: (EXP_TYPE, (INSTRUME, FILTER, PUPIL), configuration), sorted."""
    return [("NIS_WFSS" if key[0] == "NIRISS" else "NRC_WFSS", key, conf) for key, conf in sorted(_GRISMS.items())]


class WfssSource(NamedTuple):
    """A compact source: id, RA/Dec (deg), its spectrum (F_ν, Jy) and its direct-image brightness (relative)."""

    source_id: int
    ra: float
    dec: float
    spectrum: SourceSpectrum
    brightness: float


@dataclasses.dataclass(frozen=True, slots=True)
class WfssScene:
    """The field: its sources and the sky under the grism exposure (DN/s per pixel, flat-fielded units)."""

    sources: tuple[WfssSource, ...]
    sky: float = 0.2


#: (full-frame x, y of the undithered pointing, brightness × 1 mJy, temperature K) per detector family.
_PLACES = {
    "NIRISS": ((400.0, 500.0, 1.0, 5000.0), (730.0, 820.0, 0.6, 4000.0), (1060.3, 1140.6, 1.5, 6500.0),
               (1390.0, 1460.0, 0.8, 3500.0), (1720.0, 1780.0, 1.2, 8000.0)),
    "NIRCAM": ((1100.0, 1100.0, 1.0, 5000.0), (1400.4, 1400.2, 0.7, 4000.0), (1700.0, 1700.0, 1.4, 6500.0),
               (1950.0, 1000.0, 0.9, 3500.0)),
}


def default_wfss_scene(detector: Detector | str, blocking_filter: str, *, ra: float = 80.4875,
                       dec: float = -69.4985, roll: float = 45.0, flux_mjy: float | None = None) -> WfssScene:
    """The default field of a detector family (module docstring), for a target at (``ra``, ``dec``) seen at
    ``roll`` on the full frame; ``flux_mjy`` scales every source (default 1 mJy for NIRISS, 10 mJy for NIRCam,
    whose grism spreads a source over ~5× more pixels: S/N > 50 across the band in a few groups).

    Raises
    ------
    KeyError
        No WFSS band for this detector and blocking filter. Not retriable.
    """
    det = detector if isinstance(detector, Detector) else DETECTORS[detector]
    (lo, hi), step = _BANDS[(det.instrument, blocking_filter)]
    flux_mjy = flux_mjy if flux_mjy is not None else (1.0 if det.instrument == "NIRISS" else 10.0)
    full = TanWcs(crpix1=1024.5, crpix2=1024.5, ra_ref=ra, dec_ref=dec, roll_ref=roll, v3i_yang=det.v3i_yang,
                  vparity=det.vparity, scale=det.pixel_scale)
    sources = []
    for i, (x, y, scale, temperature) in enumerate(_PLACES[det.instrument], start=1):
        sra, sdec = full.pixel_to_world(x, y)
        spectrum = default_spectrum(lo - 4 * step, hi + 4 * step, dispersion_um=step, temperature_k=temperature,
                                    flux_jy=1e-3 * flux_mjy * scale)
        sources.append(WfssSource(i, float(sra), float(sdec), spectrum, scale))
    return WfssScene(tuple(sources))


def _calibrated(layout: SpectralLayout, detector: Detector, optics: dict[str, str]) -> SpectralLayout:
    _, filt, pupil = grism_element(detector, optics)
    cal = spectral_photometry(detector, filt, pupil)
    return dataclasses.replace(layout, photmj=cal.photmj, response_wavelength=tuple(cal.wavelength),
                               response=tuple(cal.relresponse))


def source_layouts(scene: WfssScene, order: GrismOrder, wcs: TanWcs, subarray: Subarray, detector: Detector,
                   optics: dict[str, str]) -> list[tuple[WfssSource, float, float, SpectralLayout]]:
    """Each source whose trace reaches the detector: (source, direct x, direct y on the full frame, its
    calibrated layout)."""
    out = []
    for source in scene.sources:
        x, y = wcs.world_to_pixel(source.ra, source.dec)
        xf, yf = float(x) + subarray.x0, float(y) + subarray.y0
        layout = order.layout_at(xf, yf)
        if layout is not None:
            out.append((source, xf, yf, _calibrated(layout, detector, optics)))
    return out


class WfssRender(NamedTuple):
    """A grism exposure's rate (DN/s, flat-fielded units, sky included), wavelength map (µm, NaN off the traces)
    and the traced sources (source, direct x, y on the full frame, layout)."""

    rate: npt.NDArray[np.float64]
    wavelength: npt.NDArray[np.float64]
    traced: list[tuple[WfssSource, float, float, SpectralLayout]]


def render_wfss(scene: WfssScene, conf: GrismConf, wcs: TanWcs, subarray: Subarray, detector: Detector,
                optics: dict[str, str]) -> WfssRender:
    """Render the scene's +1 order through the grism onto a subarray, with ``wcs`` (the true pointing)."""
    rate = np.full((subarray.ny, subarray.nx), scene.sky)
    wave = np.full(rate.shape, np.nan)
    traced = source_layouts(scene, conf.order(1), wcs, subarray, detector, optics)
    for source, _, _, layout in traced:
        render = render_spectrum(layout, source.spectrum, subarray)
        rate += render.rate
        wave = np.where(np.isfinite(render.wavelength), render.wavelength, wave)
    return WfssRender(rate, wave, traced)


_SPECTRUM_DTYPE = np.dtype([("WAVELENGTH", ">f8"), ("FLUX", ">f8")])
_SOURCES_DTYPE = np.dtype([("source_id", ">i4"), ("ra", ">f8"), ("dec", ">f8"), ("x", ">f8"), ("y", ">f8")])


def wfss_truth_extensions(render: WfssRender, subarray: Subarray) -> list[Extension]:
    """The truth file's WFSS extensions (module docstring)."""
    table = np.zeros(len(render.traced), _SOURCES_DTYPE)
    out = [Extension("WAVELENGTH", render.wavelength, {"BUNIT": "um"})]
    for i, (source, x, y, layout) in enumerate(render.traced):
        table[i] = (source.source_id, source.ra, source.dec, x - subarray.x0, y - subarray.y0)
        spectrum = np.zeros(source.spectrum.wavelength_um.size, _SPECTRUM_DTYPE)
        spectrum["WAVELENGTH"], spectrum["FLUX"] = source.spectrum.wavelength_um, source.spectrum.flux_jy
        head: dict[str, object] = {"SOURCEID": source.source_id, "SPORDER": 1}
        out += [Extension("SPECTRUM", spectrum, head, ver=i + 1),
                Extension("EXTRACTED", extracted_truth(layout, source.spectrum, subarray), head, ver=i + 1)]
    out.insert(1, Extension("WFSS_SOURCES", table))
    return out
