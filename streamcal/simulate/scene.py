"""What the detector sees: per-pixel count rates (DN/s, flat-fielded units) for each scene kind.

Rates here are those a perfectly flat-fielded image would show; the exposure multiplies them by the pixel
response (the FLAT) to get the rate ramp fitting measures, and by the gain to get electrons.

- Point sources use a Moffat profile (β = 2.5, FWHM from the wavelength: 1.03·λ/D with D = 6.5 m), sampled
  at pixel centres and normalised so that the *total* (infinite-aperture) flux is the catalogued flux.
- Star fields live on the sky: positions are drawn in the undithered frame, stored as RA/Dec, and projected
  with each exposure's own WCS, so dithered exposures see the same stars at shifted pixels.
- Multi-trace scenes (MOS, IFU, WFSS; issue 11 will replace them) are Gaussian traces in the cross-dispersion
  direction (σ = 1.3 px) with a made-up continuum and absorption lines along the dispersion axis, and no
  wavelength solution; lamps show emission lines. Single-trace spectroscopy (``SceneKind.TRACE``) is rendered by
  :func:`streamcal.simulate.spectra.render_spectrum` instead, through the mode's spectral layout.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np
import numpy.typing as npt

from streamcal.simulate.modes import SceneKind
from streamcal.simulate.wcs import TanWcs

__all__ = ["SOURCE_DTYPE", "STAR_DTYPE", "SceneResult", "moffat_fwhm", "peak_to_flux", "render_scene", "star_field"]

#: A catalogue star on the sky: RA, Dec (deg) and total flux (DN/s).
STAR_DTYPE = np.dtype([("ra", "f8"), ("dec", "f8"), ("flux", "f8")])
#: Truth rows for sources in one exposure: 0-based subarray position, flux (DN/s), RA/Dec.
SOURCE_DTYPE = np.dtype([("x", "f8"), ("y", "f8"), ("flux", "f8"), ("ra", "f8"), ("dec", "f8")])
_BETA = 2.5
_TRACE_SIGMA = 1.3
F32 = npt.NDArray[np.float32]


class SceneResult(NamedTuple):
    """The rendered rate map (DN/s, float32 (ny, nx)) and the sources in it (SOURCE_DTYPE)."""

    rate: F32
    sources: np.ndarray


def moffat_fwhm(wavelength_um: float, pixel_scale: float) -> float:
    """PSF FWHM in pixels for a diffraction-limited 6.5 m aperture (at least 1.2 px)."""
    fwhm_arcsec = 1.03 * wavelength_um * 1e-6 / 6.5 * 206264.806
    return max(1.2, fwhm_arcsec / pixel_scale)


def _moffat_alpha(fwhm: float) -> float:
    return fwhm / (2.0 * math.sqrt(2.0 ** (1.0 / _BETA) - 1.0))


def _add_moffat(image: F32, x: float, y: float, flux: float, fwhm: float) -> None:
    """Add a Moffat star of total ``flux`` centred at 0-based ``(x, y)`` to ``image`` in place."""
    a = _moffat_alpha(fwhm)
    radius = math.ceil(10.0 * fwhm)
    ny, nx = image.shape
    y0, y1 = max(0, int(y) - radius), min(ny, int(y) + radius + 1)
    x0, x1 = max(0, int(x) - radius), min(nx, int(x) + radius + 1)
    if y0 >= y1 or x0 >= x1:
        return
    yy, xx = np.mgrid[y0:y1, x0:x1]
    r2 = ((xx - x) ** 2 + (yy - y) ** 2) / (a * a)
    image[y0:y1, x0:x1] += (flux * (_BETA - 1.0) / (math.pi * a * a) * (1.0 + r2) ** -_BETA).astype(np.float32)


def peak_to_flux(peak: float, fwhm: float) -> float:
    """The total flux of a Moffat star whose peak pixel rate is ``peak`` (same units)."""
    a = _moffat_alpha(fwhm)
    return peak * math.pi * a * a / (_BETA - 1.0)


def star_field(rng: np.random.Generator, wcs: TanWcs, shape: tuple[int, int], *, peak: float,
               fwhm: float, crowded: bool) -> np.ndarray:
    """A star catalogue around the pointing: the target at the reference pixel, then fainter field stars.

    Parameters
    ----------
    rng : numpy.random.Generator
    wcs : TanWcs
        The undithered WCS; positions are drawn in its pixel frame (with a margin for dithers).
    shape : tuple of int
        ``(ny, nx)`` of the region.
    peak : float
        Peak pixel rate of the target, DN/s.
    fwhm : float
        PSF FWHM, px.
    crowded : bool
        Add field stars (imaging) or only the target (acquisition, guiding, TSO).

    Returns
    -------
    ndarray of STAR_DTYPE
    """
    ny, nx = shape
    n_field = int(np.clip(ny * nx / 400, 3, 200)) if crowded else 0
    margin = 0.1 * max(ny, nx)
    x = np.concatenate([[wcs.crpix1 - 1.0], rng.uniform(-margin, nx - 1 + margin, n_field)])
    y = np.concatenate([[wcs.crpix2 - 1.0], rng.uniform(-margin, ny - 1 + margin, n_field)])
    delta_mag = np.concatenate([[0.0], rng.uniform(1.0, 7.0, n_field)])
    stars = np.zeros(x.size, STAR_DTYPE)
    stars["ra"], stars["dec"] = wcs.pixel_to_world(x, y)
    stars["flux"] = peak_to_flux(peak, fwhm) * 10.0 ** (-0.4 * delta_mag)
    return stars


def _render_stars(shape: tuple[int, int], wcs: TanWcs, stars: np.ndarray, fwhm: float) -> SceneResult:
    image = np.zeros(shape, dtype=np.float32)
    x, y = wcs.world_to_pixel(stars["ra"], stars["dec"])
    for xi, yi, flux in zip(x, y, stars["flux"], strict=True):
        _add_moffat(image, float(xi), float(yi), float(flux), fwhm)
    sources = np.zeros(stars.size, SOURCE_DTYPE)
    sources["x"], sources["y"], sources["flux"] = x, y, stars["flux"]
    sources["ra"], sources["dec"] = stars["ra"], stars["dec"]
    inside = (x > -0.5) & (x < shape[1] - 0.5) & (y > -0.5) & (y < shape[0] - 0.5)
    return SceneResult(image, sources[inside])


def _spectrum(n: int, rng: np.random.Generator, *, lines: bool) -> npt.NDArray[np.float64]:
    """Relative flux along the dispersion axis (peak ≈ 1)."""
    t = np.linspace(0.0, 1.0, n)
    pix = np.arange(n)
    if lines:
        out = np.full(n, 0.02)
        for centre, amp in zip(rng.uniform(0, n, 25), rng.uniform(0.3, 1.0, 25), strict=True):
            out += amp * np.exp(-0.5 * ((pix - centre) / 1.0) ** 2)
        return np.minimum(out, 1.0)
    out = 0.1 + 0.9 * np.exp(-(((t - 0.45) / 0.4) ** 2))
    for centre, depth in zip(rng.uniform(0, n, 8), rng.uniform(0.1, 0.4, 8), strict=True):
        out *= 1.0 - depth * np.exp(-0.5 * ((pix - centre) / 1.5) ** 2)
    return out


def _render_traces(shape: tuple[int, int], level: float, rng: np.random.Generator, *, ntraces: int,
                   dispaxis: int, lines: bool) -> F32:
    """Traces with dispersion along x (dispaxis 1) or y (2)."""
    ncross, ndisp = shape if dispaxis == 1 else shape[::-1]
    cross = np.arange(ncross)[:, None]
    t = np.linspace(-1.0, 1.0, ndisp)[None, :]
    image = np.zeros((ncross, ndisp), dtype=np.float32)
    spacing = ncross / ntraces
    for k in range(ntraces):
        centre = spacing * (k + 0.5) + 0.1 * spacing * t**2 - 0.5
        flux = level * (1.0 if k == 0 else rng.uniform(0.2, 1.0))
        profile = np.exp(-0.5 * ((cross - centre) / _TRACE_SIGMA) ** 2)
        image += (flux * profile * _spectrum(ndisp, rng, lines=lines)[None, :]).astype(np.float32)
    image += np.float32(0.005 * level)
    return image if dispaxis == 1 else np.ascontiguousarray(image.T)


def render_scene(kind: SceneKind, *, shape: tuple[int, int], wcs: TanWcs, stars: np.ndarray, level: float,
                 fwhm: float, dispaxis: int, rng: np.random.Generator) -> SceneResult:
    """Render one scene.

    Parameters
    ----------
    kind : SceneKind
    shape : tuple of int
        ``(ny, nx)``.
    wcs : TanWcs
        This exposure's WCS (star positions are projected with it).
    stars : ndarray of STAR_DTYPE
        The catalogue for star scenes (ignored otherwise).
    level : float
        Characteristic rate, DN/s: a trace's peak pixel, a flat's level.
    fwhm : float
        PSF FWHM, px.
    dispaxis : int
        1 or 2 for spectral scenes.
    rng : numpy.random.Generator
        Spectral features and secondary trace fluxes.

    Returns
    -------
    SceneResult

    Raises
    ------
    ValueError
        ``SceneKind.TRACE``: single-trace spectra come from :func:`streamcal.simulate.spectra.render_spectrum`.
        Not retriable.
    """
    empty = np.zeros(0, SOURCE_DTYPE)
    ny, nx = shape
    if kind is SceneKind.NONE:
        return SceneResult(np.zeros(shape, dtype=np.float32), empty)
    if kind is SceneKind.UNIFORM:
        yy, xx = np.mgrid[0:ny, 0:nx]
        ramp = 1.0 + 0.03 * (xx / max(nx - 1, 1) - 0.5) + 0.02 * (yy / max(ny - 1, 1) - 0.5)
        return SceneResult((level * ramp).astype(np.float32), empty)
    if kind is SceneKind.TRACE:
        raise ValueError("single-trace spectra are rendered by streamcal.simulate.spectra.render_spectrum")
    if kind in (SceneKind.MULTI_TRACE, SceneKind.LINES):
        ncross = shape[0] if dispaxis == 1 else shape[1]
        ntraces = max(2, min(8, ncross // 16))
        image = _render_traces(shape, level, rng, ntraces=ntraces, dispaxis=dispaxis,
                               lines=kind is SceneKind.LINES)
        return SceneResult(image, empty)
    if kind in (SceneKind.CORON, SceneKind.AMI):
        raise ValueError("coronagraphic and AMI scenes are rendered by streamcal.simulate.coron and .ami")
    result = _render_stars(shape, wcs, stars, fwhm)
    image = result.rate
    if kind is SceneKind.STARS:
        image += np.float32(0.004 * level)  # sky
    return SceneResult(image, result.sources)
