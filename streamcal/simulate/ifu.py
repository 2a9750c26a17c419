"""The image-slicer IFU modes' forward model: MIR_MRS and NRS_IFU (issue 11).

The sky is a point source (the default spectrum, a blackbody with lines, or a user table) at ``(alpha, beta)``
in the slicer frame, plus a flat sky of surface brightness ``sky`` (MJy/sr). The PSF is a Gaussian of σ ∝ λ
(diffraction), so the source spreads over 2–3 slices. Each detector pixel (:class:`~streamcal.models.ifu.IfuGeometry`)
sees the sky over its footprint — its alpha edges times its slice's width in beta — at the wavelength of its
centre (no spectral integration over the pixel: the lines are several pixels wide):

    SB(pixel) = F_ν(λ) · P_α · P_β / Ω_pix / 1e6 + sky        (MJy/sr; P: the Gaussian's share of each edge range)
    rate      = SB(pixel) / (photmjsr · relresponse(λ))           (DN/s, flat-fielded units)

with ``Ω_pix = alpha_scale · slice_width``. ``photmjsr`` and ``relresponse`` are the IFU PHOTOM reference row's
(float32-rounded), so the pipeline's photom gives back SB(pixel) exactly: ``photmjsr = photmj / Ω_pix``, with
``photmj`` the point-source conversion of a 25.4 m² telescope of the path's throughput (the formula of
:mod:`streamcal.simulate.spectral_layouts`) and the same bell-shaped ``relresponse``.

Modes [U: plausible, not from real reference files; bands from jwst_spec/JDox]::

    EXP_TYPE  detector     band            slices        slice width  along slice        dispersion   PSF σ
    MIR_MRS   MIRIFUSHORT  ch1 SHORT        21, x 8–511   0.177"       17 px × 0.196"     along y      0.132" at 5.3 µm
                           4.90–5.74 µm     (left half)                                  rows 2–1021
    NRS_IFU   NRS1         F290LP/G395H     30, y 546–1505 0.1"        30 px × 0.1"       along x      0.05" at 3.5 µm
                           2.87–4.09 µm     (32-row pitch)                               cols 4–2043

MRS channel 2 (the right half of MIRIFUSHORT) is not simulated: the exposure holds one band, so spec2 makes
one cube. The NRS_IFU small size reads ALLSLITS (rows 896–1151), which holds the 8 middle slices (11–18,
|beta| < 0.4"): a reduced field of view, enough for the source and its extraction aperture; FULL holds all 30.
Each slice's wavelength solution is shifted by a fraction of a pixel from its neighbour's [U].
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
import numpy.typing as npt
from scipy.special import ndtr

from streamcal.models.ifu import IfuGeometry, IfuPixels, IfuSlice
from streamcal.routing import ExpType
from streamcal.simulate.geometry import DETECTORS, Detector, Subarray
from streamcal.simulate.spectra import SourceSpectrum, default_spectrum
from streamcal.simulate.spectral_layouts import RESPONSE_SAMPLES, Photometry

__all__ = ["IFU_MODES", "IFU_TRUTH_DTYPE", "IfuRender", "IfuScene", "ifu_geometry", "ifu_photometry",
           "ifu_scene", "ifu_truth", "render_ifu"]

IFU_MODES = frozenset({ExpType.MIR_MRS, ExpType.NRS_IFU})
#: Truth rows per lit dispersion pixel of the middle slice: WAVELENGTH (µm), FLUX (Jy, F_ν of the source, what an
#: extraction of the whole PSF returns) and FOV_FRACTION (share of the PSF falling on the exposure's slices).
IFU_TRUTH_DTYPE = np.dtype([("WAVELENGTH", ">f8"), ("FLUX", ">f8"), ("FOV_FRACTION", ">f8")])
_ARCSEC2_TO_SR = (np.pi / (180.0 * 3600.0)) ** 2
_H = 6.62607015e-34
_AREA_M2 = 25.4
_JY = 1e-26
_SKY_FRACTION = 0.01


class _Band(NamedTuple):
    """A mode's band [U]: relresponse range, centre, nominal µm/px, peak throughput; slicer layout."""

    response: tuple[float, float]
    centre: float
    dispersion: float
    throughput: float
    source: tuple[float, float]  # default source position (alpha, beta), arcsec


_BANDS = {
    ExpType.MIR_MRS: _Band((4.80, 5.85), 5.3, 8.2e-4, 0.15, (0.25, 0.12)),
    ExpType.NRS_IFU: _Band((2.80, 5.35), 3.5, 5.5e-4, 0.40, (0.03, 0.02)),
}


def _about_zero(coeffs: tuple[float, ...], d0: float) -> tuple[float, ...]:
    """Power-series coefficients in d of a polynomial in u = d − d0."""
    return tuple(float(c) for c in np.polynomial.Polynomial(coeffs)(np.polynomial.Polynomial([-d0, 1.0])).coef)


def _slices(n: int, width: float, first: int, pitch: int, n_alpha: int, wave: tuple[float, ...], d0: float,
            shift: float, d_range: tuple[int, int]) -> tuple[IfuSlice, ...]:
    return tuple(IfuSlice(beta=(s - (n - 1) / 2.0) * width, cross_first=first + pitch * s, n_alpha=n_alpha,
                          d_range=d_range,
                          wavelength_coeffs=_about_zero((wave[0] + shift * (s - (n - 1) / 2.0), *wave[1:]), d0))
                 for s in range(n))


def ifu_geometry(exp_type: ExpType | str, detector: Detector | str, optics: dict[str, str]) -> IfuGeometry:
    """The slicer geometry of an IFU mode on a detector (module docstring table).

    Raises
    ------
    KeyError
        Not an IFU mode, or a detector or optical element it has no geometry for. Not retriable.
    """
    name = detector.name if isinstance(detector, Detector) else detector
    key = (str(exp_type), name, optics.get("FILTER", "N/A"), optics.get("GRATING", optics.get("BAND", "N/A")))
    if key == ("MIR_MRS", "MIRIFUSHORT", "N/A", "SHORT"):
        return IfuGeometry(dispaxis=2, slice_width=0.177, alpha_scale=0.196, psf_sigma=0.132, psf_wave=5.3,
                           slices=_slices(21, 0.177, 8, 24, 17, (4.90, 8.0e-4, 1.9e-8), 2.0, 4e-4, (2, 1022)))
    if key == ("NRS_IFU", "NRS1", "F290LP", "G395H"):
        return IfuGeometry(dispaxis=1, slice_width=0.1, alpha_scale=0.1, psf_sigma=0.05, psf_wave=3.5,
                           slices=_slices(30, 0.1, 546, 32, 30, (2.870, 5.5e-4, 2.45e-8), 4.0, 2e-4, (4, 2044)))
    raise KeyError(f"no IFU geometry for {key[0]} on {name} with {key[2]}/{key[3]}")


def ifu_photometry(exp_type: ExpType | str, detector: Detector | str, geometry: IfuGeometry) -> Photometry:
    """The IFU PHOTOM row's calibration: ``photmjsr`` (MJy/sr per DN/s, in :class:`Photometry`'s ``photmj``
    slot), wavelengths (µm) and relresponse, float32-rounded (module docstring).

    Raises
    ------
    KeyError
        Not an IFU mode. Not retriable.
    """
    det = detector if isinstance(detector, Detector) else DETECTORS[detector]
    band = _BANDS[ExpType(str(exp_type))]
    photmj = 1e-6 * det.gain * _H * (band.centre / band.dispersion) / (_AREA_M2 * band.throughput * _JY)
    omega = geometry.alpha_scale * geometry.slice_width * _ARCSEC2_TO_SR
    wave = np.linspace(*band.response, RESPONSE_SAMPLES).astype(np.float32)
    width = 0.35 * (band.response[1] - band.response[0])
    t_rel = 0.4 + 0.6 * np.exp(-0.5 * ((wave - band.centre) / width) ** 2)
    relresponse = ((wave / band.centre) / t_rel).astype(np.float32)
    return Photometry(float(np.float32(photmj / omega)), wave.astype(np.float64), relresponse.astype(np.float64))


class IfuScene(NamedTuple):
    """What an IFU exposure sees: geometry, calibration, the source (spectrum, position in this exposure's slicer
    frame, arcsec), sky, and the dither ``offset`` (arcsec along alpha, beta) that moved the source there."""

    geometry: IfuGeometry
    photometry: Photometry
    spectrum: SourceSpectrum
    source: tuple[float, float]
    sky: float  # MJy/sr
    offset: tuple[float, float] = (0.0, 0.0)


def ifu_scene(exp_type: ExpType | str, detector: Detector | str, optics: dict[str, str], *,
              spectrum: SourceSpectrum | None = None, source: tuple[float, float] | None = None,
              offset: tuple[float, float] = (0.0, 0.0)) -> IfuScene:
    """The scene of an IFU exposure: the default spectrum (1 mJy at the band centre) unless one is given, the
    mode's default source position unless one is given, and a sky of 1 % of the default source's peak surface
    brightness [U].

    ``offset`` is the telescope's dither offset (the header's XOFFSET, YOFFSET, arcsec), taken along (alpha,
    beta) [U: the slicer's axes are those of the dither frame; the real MRS and NIRSpec IFU frames are rotated
    and distorted against it]: the sky moves by −offset, so the source lands at ``source − offset`` in this
    exposure's slicer frame (``source`` stays where it is on the sky: its place in the undithered frame).

    Raises
    ------
    KeyError
        As :func:`ifu_geometry`.
    ValueError
        The spectrum does not cover the band. Not retriable.
    """
    geometry = ifu_geometry(exp_type, detector, optics)
    lo, hi = geometry.wave_range
    step = _BANDS[ExpType(str(exp_type))].dispersion
    default = default_spectrum(lo - 3 * step, hi + 3 * step, dispersion_um=step)
    spectrum = default if spectrum is None else spectrum
    if spectrum.wave_range[0] > lo or spectrum.wave_range[1] < hi:
        raise ValueError(f"the spectrum covers {spectrum.wave_range[0]:.6g}–{spectrum.wave_range[1]:.6g} µm; "
                         f"{exp_type} lights {lo:.6g}–{hi:.6g} µm")
    centre = 0.5 * (lo + hi)
    sigma = float(geometry.psf_sigma_at(centre))
    peak = float(default.flux_at(centre)) / (2 * np.pi * sigma**2 * _ARCSEC2_TO_SR) / 1e6
    on_sky = source if source is not None else _BANDS[ExpType(str(exp_type))].source
    return IfuScene(geometry, ifu_photometry(exp_type, detector, geometry), spectrum,
                    (on_sky[0] - offset[0], on_sky[1] - offset[1]), _SKY_FRACTION * peak, offset)


class IfuRender(NamedTuple):
    """An IFU exposure's rate (DN/s, flat-fielded units, source + sky) and its per-pixel coordinates."""

    rate: npt.NDArray[np.float64]
    pixels: IfuPixels


def _share(lo: npt.NDArray[np.float64], hi: npt.NDArray[np.float64], centre: float,
           sigma: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    """The share of a unit Gaussian in [lo, hi] (taken on the far side of the centre, exact in the wings)."""
    a, b = (lo - centre) / sigma, (hi - centre) / sigma
    return np.asarray(np.where(a + b < 0, ndtr(b) - ndtr(a), ndtr(-a) - ndtr(-b)))


def render_ifu(scene: IfuScene, subarray: Subarray) -> IfuRender:
    """Render the scene onto a subarray (module docstring); 0 off the slices."""
    geometry, phot = scene.geometry, scene.photometry
    pixels = geometry.pixels((subarray.ny, subarray.nx), (subarray.y0, subarray.x0))
    on = pixels.slice >= 0
    wave = pixels.wavelength[on]
    sigma = geometry.psf_sigma_at(wave)
    alpha0, beta0 = scene.source
    half = geometry.slice_width / 2.0
    share = (_share(pixels.alpha_lo[on], pixels.alpha_hi[on], alpha0, sigma)
             * _share(pixels.beta[on] - half, pixels.beta[on] + half, beta0, sigma))
    omega = geometry.alpha_scale * geometry.slice_width * _ARCSEC2_TO_SR
    surface = scene.spectrum.flux_at(wave) * share / omega / 1e6 + scene.sky
    rate = np.zeros((subarray.ny, subarray.nx))
    rate[on] = surface / (phot.photmj * np.interp(wave, phot.wavelength, phot.relresponse))
    return IfuRender(rate, pixels)


def ifu_truth(scene: IfuScene, pixels: IfuPixels) -> np.ndarray:
    """The source's flux per wavelength (:data:`IFU_TRUTH_DTYPE`) at the middle slice's lit dispersion pixels,
    with the share of the PSF on the slices present in ``pixels`` (the subarray's)."""
    geometry = scene.geometry
    middle = geometry.slices[len(geometry.slices) // 2]
    wave = middle.wavelength(np.arange(*middle.d_range))
    present = np.unique(pixels.slice[pixels.slice >= 0])
    betas = np.array([geometry.slices[i].beta for i in present])
    sigma = geometry.psf_sigma_at(wave)
    alpha0, beta0 = scene.source
    half_a, half_b = geometry.alpha_half_length, geometry.slice_width / 2.0
    rows = np.zeros(wave.size, IFU_TRUTH_DTYPE)
    rows["WAVELENGTH"], rows["FLUX"] = wave, scene.spectrum.flux_at(wave)
    if betas.size:
        rows["FOV_FRACTION"] = (_share(np.full(wave.size, -half_a), np.full(wave.size, half_a), alpha0, sigma)
                                * _share(np.full(wave.size, betas.min() - half_b),
                                         np.full(wave.size, betas.max() + half_b), beta0, sigma))
    return rows
