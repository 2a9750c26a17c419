"""Coronagraphic scenes (issue 12): a star behind the mask, a static speckle field shared by the science and the
PSF-reference exposures, and companions placed by the caller.

The rate (DN/s, flat-fielded units) of one coronagraphic exposure is

    star(x)      = shift_δ[ s · F · M(x − x_m) · T(|x − x_m|) · S(x) ]
    companion(x) = c · F · T(|x_c − x_m|) · M(x − x_c)

- ``F`` the star's total (unocculted) flux: its unocculted peak pixel would collect ``_FILL`` [U] full wells per
  integration (a bright coronagraphic target), times ``star_scale`` (the PSF reference is a different star);
- ``M`` the simulator's Moffat PSF (:mod:`streamcal.simulate.scene`, FWHM 1.03 λ/D), normalised to total flux 1;
- ``T(r) = 1 − 0.995·exp(−r²/2σ²)``, σ = 1.5 FWHM: the focal-plane mask's transmission [U], fixed on the detector
  (centre ``x_m``: the subarray's reference pixel); a companion is dimmed by ``T`` at its own separation from the
  mask centre (a scalar: its PSF is not reshaped, simplified);
- ``s`` = ``suppression`` (0.05 [U]): what the Lyot stop leaves of the on-axis star's diffracted halo, so the raw
  residual at 3 λ/D is ≈ 1e-4 of the unocculted peak per pixel (NIRCam's order of magnitude);
- ``S = exp(a·N − a²/2)`` a log-normal speckle modulation of mean 1, ``N`` a unit-variance Gaussian random
  field with correlation length ``speckle_sigma`` λ/D: ``N = (N₀ + p·N₁)/√(1 + p²)`` with ``N₀`` the static
  pattern (``speckle_seed``: shared by every exposure that keeps the default) and ``N₁`` this exposure's own
  perturbation (drawn from the scene seed), ``p`` = ``speckle_perturbation`` (periodic on the subarray);
- ``δ`` = ``star_offset`` (px): where the target-acquisition put the star relative to the mask centre. The
  whole stellar residual (halo, mask imprint and speckles, rendered centred on the mask) moves rigidly with it
  by a Fourier shift (an optical image is band-limited by the pupil, so a sub-pixel move is a phase ramp; the
  rendered Moffat is not quite, so the few negative ringing values are clipped to 0) — simplified: a real mask
  stays put while the star moves. The companions move with the star; the header WCS does not know about it.

Companions are given by separation (λ/D or arcsec), position angle (degrees east of north, through the
exposure's WCS) and contrast (flux ratio to the unocculted star). Defaults: a science exposure has one companion
at 4 λ/D, PA 60°, contrast 1e-4; a PSF reference (IS_PSF=T) has none, is 1.6× brighter [U] and sits
(+0.23, −0.17) px off the mask centre [U]; both carry a 1 % [U] speckle perturbation.

Truth (:meth:`CoronTruth.extensions`): ``COMPANIONS`` (x, y 0-based, flux DN/s as observed: contrast·F·T,
contrast, separation in px and arcsec, PA, mask transmission, RA/Dec), ``SPECKLE`` (the modulation ``S`` this
exposure saw, on the mask-centred grid, before the shift by ``δ``) and ``STARRATE`` (the star's residual rate
without companions); PRIMARY keywords STARFLUX, STARX/STARY, MASKX/MASKY, LAMBDAD (px), PSFFWHM (px), SUPPRESS,
STARSCL, SPKSEED, SPKAMP, SPKPERT, SPKSIGMA. ``SOURCES`` lists the star (its unocculted flux) and the companions.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal, NamedTuple

import numpy as np
import numpy.typing as npt

from streamcal.datamodels import Extension
from streamcal.simulate.scene import SOURCE_DTYPE, SceneResult, moffat_fwhm

if TYPE_CHECKING:
    from streamcal.simulate.spec import ExposurePlan

__all__ = [
    "COMPANION_DTYPE",
    "Companion",
    "CoronScene",
    "CoronTruth",
    "coron_scene",
    "lambda_over_d",
    "mask_transmission",
    "moffat_psf",
]

F32 = npt.NDArray[np.float32]
F64 = npt.NDArray[np.float64]
_BETA = 2.5
_ARCSEC_PER_RAD = 206264.806
_TELESCOPE_D = 6.5  # m
#: Unocculted peak of the star per integration, in full wells [U].
_FILL = 100.0
_MASK_DEPTH = 0.995
_MASK_SIGMA_FWHM = 1.5
#: Uniform background as a fraction of the unocculted peak rate [U].
_BACKGROUND = 2e-6

COMPANION_DTYPE = np.dtype([("x", "f8"), ("y", "f8"), ("flux", "f8"), ("contrast", "f8"), ("separation_px", "f8"),
                            ("separation_arcsec", "f8"), ("pa_deg", "f8"), ("transmission", "f8"),
                            ("ra", "f8"), ("dec", "f8")])


@dataclass(frozen=True, slots=True, kw_only=True)
class Companion:
    """A point source near the star: ``separation`` in ``unit`` ("lambda_d" or "arcsec"), position angle in
    degrees east of north, contrast = its total flux / the star's unocculted total flux."""

    separation: float
    position_angle: float = 0.0
    contrast: float = 1e-4
    unit: Literal["lambda_d", "arcsec"] = "lambda_d"

    def __post_init__(self) -> None:
        if self.unit not in ("lambda_d", "arcsec"):
            raise ValueError(f"companion separation unit must be 'lambda_d' or 'arcsec', not {self.unit!r}")
        if not (self.separation >= 0 and self.contrast > 0):
            raise ValueError(f"companion needs separation ≥ 0 and contrast > 0, not {self.separation}, "
                             f"{self.contrast}")


_DEFAULT_COMPANIONS = (Companion(separation=4.0, position_angle=60.0, contrast=1e-4),)


@dataclass(frozen=True, slots=True, kw_only=True)
class CoronScene:
    """What a coronagraphic exposure shows (module docstring); ``None`` fields take the science or PSF-reference
    default from the exposure's IS_PSF."""

    companions: tuple[Companion, ...] | None = None
    star_scale: float | None = None
    star_offset: tuple[float, float] | None = None
    suppression: float = 0.05
    speckle_seed: int = 2026
    speckle_amplitude: float = 0.5
    speckle_perturbation: float = 0.01
    speckle_sigma: float = 0.5

    def resolved(self, *, is_psf: bool) -> CoronScene:
        """This scene with the defaults of a science (``is_psf`` False) or PSF-reference exposure filled in."""
        return CoronScene(
            companions=self.companions if self.companions is not None else (() if is_psf else _DEFAULT_COMPANIONS),
            star_scale=self.star_scale if self.star_scale is not None else (1.6 if is_psf else 1.0),
            star_offset=self.star_offset if self.star_offset is not None else ((0.23, -0.17) if is_psf else (0.0, 0.0)),
            suppression=self.suppression, speckle_seed=self.speckle_seed, speckle_amplitude=self.speckle_amplitude,
            speckle_perturbation=self.speckle_perturbation, speckle_sigma=self.speckle_sigma)


class CoronTruth(NamedTuple):
    """A rendered coronagraphic exposure: the scene (rate + SOURCES) and what the truth file adds."""

    scene: SceneResult
    companions: np.ndarray  # COMPANION_DTYPE
    speckle: F32
    star_rate: F32
    header: dict[str, object]

    def extensions(self) -> list[Extension]:
        return [Extension("COMPANIONS", self.companions, {"BUNIT": "DN/s"}),
                Extension("SPECKLE", self.speckle), Extension("STARRATE", self.star_rate, {"BUNIT": "DN/s"})]


def lambda_over_d(wavelength_um: float, pixel_scale: float) -> float:
    """λ/D of the 6.5 m aperture in pixels of ``pixel_scale`` arcsec."""
    return wavelength_um * 1e-6 / _TELESCOPE_D * _ARCSEC_PER_RAD / pixel_scale


def moffat_psf(x: npt.ArrayLike, y: npt.ArrayLike, *, fwhm: float) -> F64:
    """The simulator's PSF (Moffat β = 2.5, total flux 1) at offsets ``(x, y)`` px from its centre."""
    a = fwhm / (2.0 * math.sqrt(2.0 ** (1.0 / _BETA) - 1.0))
    r2 = (np.asarray(x, float) ** 2 + np.asarray(y, float) ** 2) / (a * a)
    out: F64 = (_BETA - 1.0) / (math.pi * a * a) * (1.0 + r2) ** -_BETA
    return out


def mask_transmission(r: npt.ArrayLike, *, fwhm: float) -> F64:
    """The focal-plane mask's intensity transmission at ``r`` px from its centre [U]."""
    sigma = _MASK_SIGMA_FWHM * fwhm
    out: F64 = 1.0 - _MASK_DEPTH * np.exp(-np.asarray(r, float) ** 2 / (2.0 * sigma * sigma))
    return out


def _random_field(rng: np.random.Generator, shape: tuple[int, int], *, sigma_px: float) -> npt.NDArray[np.complex128]:
    """The Fourier transform of a unit-variance, Gaussian-correlated (σ = ``sigma_px``) periodic random field."""
    ny, nx = shape
    ky, kx = np.fft.fftfreq(ny)[:, None], np.fft.fftfreq(nx)[None, :]
    spectrum = np.fft.fft2(rng.standard_normal(shape)) * np.exp(-2.0 * math.pi**2 * sigma_px**2 * (kx**2 + ky**2))
    field = np.fft.ifft2(spectrum).real
    return spectrum / float(np.std(field))


def _shift(image: F64, dx: float, dy: float) -> F64:
    ny, nx = image.shape
    ky, kx = np.fft.fftfreq(ny)[:, None], np.fft.fftfreq(nx)[None, :]
    out: F64 = np.fft.ifft2(np.fft.fft2(image) * np.exp(-2j * math.pi * (kx * dx + ky * dy))).real
    return out


def _speckle(scene: CoronScene, rng: np.random.Generator, shape: tuple[int, int], *, lambda_d: float) -> F32:
    sigma = scene.speckle_sigma * lambda_d
    static = _random_field(np.random.default_rng(scene.speckle_seed), shape, sigma_px=sigma)
    own = _random_field(rng, shape, sigma_px=sigma)
    p = scene.speckle_perturbation
    spectrum = (static + p * own) / math.sqrt(1.0 + p * p)
    field = np.fft.ifft2(spectrum).real
    a = scene.speckle_amplitude
    return np.exp(a * field - 0.5 * a * a).astype(np.float32)


def _companion_rows(plan: ExposurePlan, scene: CoronScene, *, star: tuple[float, float], mask: tuple[float, float],
                    flux: float, lambda_d: float, fwhm: float) -> np.ndarray:
    scale = plan.detector.pixel_scale
    ra0, dec0 = plan.spec.target.ra, plan.spec.target.dec
    assert scene.companions is not None and scene.star_offset is not None
    rows = np.zeros(len(scene.companions), COMPANION_DTYPE)
    x_t, y_t = (float(v) for v in plan.wcs.world_to_pixel(ra0, dec0))
    for row, comp in zip(rows, scene.companions, strict=True):
        sep_arcsec = comp.separation * (lambda_d * scale if comp.unit == "lambda_d" else 1.0)
        pa = math.radians(comp.position_angle)
        dec = dec0 + sep_arcsec * math.cos(pa) / 3600.0
        ra = ra0 + sep_arcsec * math.sin(pa) / 3600.0 / math.cos(math.radians(dec0))
        x, y = (float(v) for v in plan.wcs.world_to_pixel(ra, dec))
        x, y = x - x_t + star[0], y - y_t + star[1]  # relative to the star, wherever acquisition put it
        t = float(mask_transmission(math.hypot(x - mask[0], y - mask[1]), fwhm=fwhm))
        row["x"], row["y"], row["contrast"], row["pa_deg"] = x, y, comp.contrast, comp.position_angle
        row["flux"], row["transmission"] = comp.contrast * flux * t, t
        row["separation_px"], row["separation_arcsec"] = math.hypot(x - star[0], y - star[1]), sep_arcsec
        row["ra"], row["dec"] = ra, dec
    return rows


def coron_scene(plan: ExposurePlan, *, scene: CoronScene | None, rng: np.random.Generator) -> CoronTruth:
    """Render one coronagraphic exposure's rate (DN/s, flat-fielded units) and its truth (module docstring).

    ``rng`` draws this exposure's speckle perturbation; the static pattern comes from ``speckle_seed``.
    """
    resolved = (scene or CoronScene()).resolved(is_psf=plan.spec.is_psf)
    det, shape = plan.detector, (plan.subarray.ny, plan.subarray.nx)
    fwhm = moffat_fwhm(plan.mode.wavelength, det.pixel_scale)
    lambda_d = lambda_over_d(plan.mode.wavelength, det.pixel_scale)
    t_int = max(plan.timing.ngroups * plan.timing.tgroup, plan.timing.tframe)
    peak = _FILL * (det.saturation - det.bias) / t_int
    assert resolved.star_scale is not None and resolved.star_offset is not None
    flux = float(moffat_psf(0.0, 0.0, fwhm=fwhm) ** -1) * peak * resolved.star_scale
    mask = (plan.base_wcs.crpix1 - 1.0, plan.base_wcs.crpix2 - 1.0)
    star = (mask[0] + resolved.star_offset[0], mask[1] + resolved.star_offset[1])
    yy, xx = np.mgrid[0:shape[0], 0:shape[1]].astype(float)
    dx, dy = xx - mask[0], yy - mask[1]
    speckle = _speckle(resolved, rng, shape, lambda_d=lambda_d)
    centred = resolved.suppression * flux * moffat_psf(dx, dy, fwhm=fwhm) * mask_transmission(np.hypot(dx, dy),
                                                                                               fwhm=fwhm) * speckle
    # the residual moves with the star as a Fourier shift: an optical image is band-limited by the pupil
    star_rate = np.maximum(_shift(centred, *resolved.star_offset), 0.0).astype(np.float32)
    companions = _companion_rows(plan, resolved, star=star, mask=mask, flux=flux, lambda_d=lambda_d, fwhm=fwhm)
    rate = star_rate.astype(np.float64) + _BACKGROUND * peak
    for row in companions:
        rate += row["flux"] * moffat_psf(xx - row["x"], yy - row["y"], fwhm=fwhm)
    sources = np.zeros(1 + companions.size, SOURCE_DTYPE)
    sources[0] = (star[0], star[1], flux, plan.spec.target.ra, plan.spec.target.dec)
    for i, row in enumerate(companions, start=1):
        sources[i] = (row["x"], row["y"], row["flux"], row["ra"], row["dec"])
    header: dict[str, object] = {
        "STARFLUX": flux, "STARX": star[0], "STARY": star[1], "MASKX": mask[0], "MASKY": mask[1],
        "LAMBDAD": lambda_d, "PSFFWHM": fwhm, "SUPPRESS": resolved.suppression, "STARSCL": resolved.star_scale,
        "SPKSEED": resolved.speckle_seed, "SPKAMP": resolved.speckle_amplitude,
        "SPKPERT": resolved.speckle_perturbation, "SPKSIGMA": resolved.speckle_sigma,
    }
    return CoronTruth(SceneResult(rate.astype(np.float32), sources), companions, speckle, star_rate, header)
