"""NIS_AMI scenes: the fringed PSF of the 7-hole non-redundant mask for a point source or a binary.

Each source m (flux f_m, sky angle θ_m on the detector) adds, at each of :data:`N_WAVELENGTHS` wavelengths
spread over the filter's band (:data:`~streamcal.kernels.ami.mask.AMI_FILTERS`, top-hat [U]),

    f_m · P_λ(θ − θ_m) · [N + 2 Σ_{k<l} a_kl cos(2π b_kl·(θ − θ_m)/λ − (p_k − p_l)·λ0/λ − δ_kl)]

with P_λ the circular hole's Airy envelope, b_kl = r_k − r_l the mask's baselines
(:mod:`streamcal.kernels.ami.mask`), p_k hole pistons (rad at the band centre λ0, achromatic in path) and per
baseline a visibility loss a_kl and a phase error δ_kl. Pistons cancel in closure phases; a_kl and δ_kl do
not, so they play the calibration errors that ami_normalize removes. All three come from the observatory seed
(``detector_seed``), so a target and its calibrator share them. The image is evaluated on a grid oversampled
:data:`OVERSAMPLE` times, binned to pixels, clipped at 0 (a_kl < 1 with δ_kl ≠ 0 is not exactly a positive
coherence matrix), scaled to the mode's peak rate and put on a sky of 0.2 % of it.

A binary (:class:`AmiBinary` on ``ExposureSpec.binary``) places its companion on the sky (separation, PA east
of north), projected with the exposure's WCS; the primary is the target at the reference pixel. Truth: the
PRIMARY keywords AMIFILT, AMIWAVE (m), BINARY, BINSEP (mas), BINPA (deg), BINCON, and the tables AMI_T3
(STA_INDEX 1-based, T3PHI: the binary's closure phases at λ0, deg), AMI_VIS2 (STA_INDEX, VIS2: its squared
visibilities), AMI_ERRORS (STA_INDEX, AMPLOSS a_kl, PHASEERR δ_kl deg) and AMI_PISTONS (STA_INDEX, PISTON deg).
Error sizes are made up [U]: pistons σ = 0.03 wave, a_kl uniform in 0.88–0.98, δ_kl σ = 2°.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, NamedTuple

import numpy as np
import numpy.typing as npt

from streamcal.datamodels import Extension
from streamcal.kernels.ami.fringe_fit import envelope
from streamcal.kernels.ami.mask import BASELINES, HOLE_CENTRES, N_HOLES, TRIANGLES, band_for, baseline_vectors
from streamcal.simulate.scene import SOURCE_DTYPE, SceneResult

if TYPE_CHECKING:
    from streamcal.simulate.spec import ExposurePlan

__all__ = ["N_WAVELENGTHS", "OVERSAMPLE", "AmiBinary", "AmiErrors", "ami_scene", "telescope_errors"]

OVERSAMPLE = 4
N_WAVELENGTHS = 5
_ARCSEC = math.pi / (180.0 * 3600.0)
_SKY = 0.002
F64 = npt.NDArray[np.float64]


@dataclass(frozen=True, slots=True, kw_only=True)
class AmiBinary:
    """A companion to the AMI target: separation (mas), position angle (deg east of north) and contrast (flux
    ratio companion / primary, 0 < contrast ≤ 1)."""

    separation_mas: float = 250.0
    pa_deg: float = 60.0
    contrast: float = 0.1

    def __post_init__(self) -> None:
        if not 0.0 < self.contrast <= 1.0:
            raise ValueError(f"AMI binary contrast must be in (0, 1], not {self.contrast}")
        if self.separation_mas < 0.0:
            raise ValueError(f"AMI binary separation must be ≥ 0 mas, not {self.separation_mas}")


class AmiErrors(NamedTuple):
    """The telescope's fringe errors: hole pistons (rad at λ0), per-baseline amplitude loss and phase (rad)."""

    pistons: F64
    amplitude: F64
    phase: F64


def telescope_errors(detector_seed: int) -> AmiErrors:
    """The observatory's fringe errors (module docstring), the same for every exposure of one seed."""
    rng = np.random.default_rng([detector_seed, 0xA31])
    pistons = 2.0 * np.pi * rng.normal(0.0, 0.03, N_HOLES)
    return AmiErrors(pistons - pistons.mean(), rng.uniform(0.88, 0.98, len(BASELINES)),
                     np.radians(rng.normal(0.0, 2.0, len(BASELINES))))


def _components(plan: ExposurePlan, binary: AmiBinary | None) -> list[tuple[float, float, float, float, float]]:
    """``(x, y, relative flux, ra, dec)`` of the primary and the companion, 0-based pixels of this exposure."""
    ra0, dec0 = plan.base_wcs.pixel_to_world(plan.base_wcs.crpix1 - 1.0, plan.base_wcs.crpix2 - 1.0)
    ras, decs, fluxes = [float(ra0)], [float(dec0)], [1.0]
    if binary is not None:
        sep = binary.separation_mas / 3.6e6  # deg
        pa = math.radians(binary.pa_deg)
        decs.append(decs[0] + sep * math.cos(pa))
        ras.append(ras[0] + sep * math.sin(pa) / math.cos(math.radians(decs[0])))
        fluxes.append(binary.contrast)
    x, y = plan.wcs.world_to_pixel(np.array(ras), np.array(decs))
    return [(float(x[i]), float(y[i]), fluxes[i], ras[i], decs[i]) for i in range(len(ras))]


def _render(shape: tuple[int, int], comps: list[tuple[float, float, float, float, float]], *, scale: float,
            lambdas: F64, errors: AmiErrors) -> F64:
    """The noiseless image (arbitrary units) binned from the oversampled grid."""
    ny, nx = shape
    sub = (np.arange(OVERSAMPLE) + 0.5) / OVERSAMPLE - 0.5
    xs = (np.arange(nx)[:, None] + sub).ravel()
    ys = (np.arange(ny)[:, None] + sub).ravel()
    b = baseline_vectors(HOLE_CENTRES)
    dpist = np.array([errors.pistons[k] - errors.pistons[m] for k, m in BASELINES])
    lam0 = float(lambdas.mean())
    fine = np.zeros((ys.size, xs.size))
    for x0, y0, flux, _, _ in comps:
        tx, ty = (xs - x0) * scale, (ys - y0) * scale
        radius = np.hypot(ty[:, None], tx[None, :])
        for lam in lambdas:
            ex = np.exp(2j * np.pi * np.outer(b[:, 0], tx) / lam)
            ey = np.exp(2j * np.pi * np.outer(b[:, 1], ty) / lam)
            weight = errors.amplitude * np.exp(-1j * (dpist * lam0 / lam + errors.phase))
            fringes = np.einsum("k,ky,kx->yx", weight, ey, ex).real
            fine += flux * envelope(radius, float(lam)) * (N_HOLES + 2.0 * fringes)
    binned = fine.reshape(ny, OVERSAMPLE, nx, OVERSAMPLE).mean(axis=(1, 3))
    return np.asarray(np.clip(binned, 0.0, None))


def _truth_tables(comps: list[tuple[float, float, float, float, float]], *, scale: float, lam0: float,
                  errors: AmiErrors) -> list[Extension]:
    """The model observables of the source (what a perfect calibration measures) and the injected errors."""
    b = baseline_vectors(HOLE_CENTRES)
    x0, y0 = comps[0][0], comps[0][1]
    total = sum(c[2] for c in comps)
    vis = sum(c[2] * np.exp(2j * np.pi * (b[:, 0] * (c[0] - x0) + b[:, 1] * (c[1] - y0)) * scale / lam0)
              for c in comps) / total
    index = {pair: n for n, pair in enumerate(BASELINES)}
    t3 = np.zeros(len(TRIANGLES), [("STA_INDEX", ">i2", (3,)), ("T3PHI", ">f8")])
    t3["STA_INDEX"] = np.array(TRIANGLES) + 1
    t3["T3PHI"] = [np.degrees(np.angle(vis[index[(i, j)]] * vis[index[(j, k)]] * np.conj(vis[index[(i, k)]])))
                   for i, j, k in TRIANGLES]
    v2 = np.zeros(len(BASELINES), [("STA_INDEX", ">i2", (2,)), ("VIS2", ">f8")])
    v2["STA_INDEX"], v2["VIS2"] = np.array(BASELINES) + 1, np.abs(vis) ** 2
    errs = np.zeros(len(BASELINES), [("STA_INDEX", ">i2", (2,)), ("AMPLOSS", ">f8"), ("PHASEERR", ">f8")])
    errs["STA_INDEX"], errs["AMPLOSS"], errs["PHASEERR"] = (np.array(BASELINES) + 1, errors.amplitude,
                                                            np.degrees(errors.phase))
    pist = np.zeros(N_HOLES, [("STA_INDEX", ">i2"), ("PISTON", ">f8")])
    pist["STA_INDEX"], pist["PISTON"] = np.arange(1, N_HOLES + 1), np.degrees(errors.pistons)
    return [Extension("AMI_T3", t3, units={"T3PHI": "deg"}), Extension("AMI_VIS2", v2),
            Extension("AMI_ERRORS", errs, units={"PHASEERR": "deg"}),
            Extension("AMI_PISTONS", pist, units={"PISTON": "deg"})]


def ami_scene(plan: ExposurePlan, *, fill: float,
              binary: AmiBinary | None) -> tuple[SceneResult, dict[str, object], list[Extension]]:
    """Render an AMI exposure's rate (DN/s, flat-fielded units) with its truth keywords and tables.

    Parameters
    ----------
    plan : ExposurePlan
        A NIS_AMI exposure (its FILTER picks the band).
    fill : float
        Peak signal per integration as a fraction of the nominal well (saturation − bias).
    binary : AmiBinary or None
        The companion; None for a point source.

    Raises
    ------
    KeyError
        The mode's filter is not an AMI filter. Not retriable.
    """
    filter_name = str(plan.mode.optics.get("FILTER", "F480M"))
    band = band_for(filter_name)
    det, timing = plan.detector, plan.timing
    peak = fill * (det.saturation - det.bias) / max(timing.ngroups * timing.tgroup, timing.tframe)
    shape = (plan.subarray.ny, plan.subarray.nx)
    scale = plan.detector.pixel_scale * _ARCSEC
    comps = _components(plan, binary)
    errors = telescope_errors(plan.spec.detector_seed)
    image = _render(shape, comps, scale=scale, lambdas=band.samples(N_WAVELENGTHS), errors=errors)
    image *= peak / float(image.max())
    total = float(image.sum())
    flux_sum = sum(c[2] for c in comps)
    sources = np.zeros(len(comps), SOURCE_DTYPE)
    for n, (x, y, flux, ra, dec) in enumerate(comps):
        sources[n] = (x, y, total * flux / flux_sum, ra, dec)
    rate = (image + _SKY * peak).astype(np.float32)
    head: dict[str, object] = {"AMIFILT": filter_name, "AMIWAVE": band.centre, "BINARY": binary is not None}
    if binary is not None:
        head.update(BINSEP=binary.separation_mas, BINPA=binary.pa_deg, BINCON=binary.contrast)
    return (SceneResult(rate, sources), head,
            _truth_tables(comps, scale=scale, lam0=band.centre, errors=errors))
