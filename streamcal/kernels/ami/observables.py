"""Interferometric observables from per-integration fringes: averaging with errors, and normalisation.

From each integration's fringe amplitudes |V_kl| and phases φ_kl (:mod:`.fringe_fit`), with jwst's definitions
(``leastsqnrm``): squared visibilities |V_kl|²; closure phases φ_ij + φ_jk − φ_ik and triple amplitudes
|V_ij||V_jk||V_ik| of the 35 triangles; closure amplitudes |V_ij||V_kl| / (|V_ik||V_jl|) and quad phases
φ_ij − φ_kl − φ_ik − φ_jl of the 35 quads; hole pistons p_k from φ_kl = p_k − p_l (least squares, Σ p = 0).
Each is averaged over the integrations (phases as the argument of the mean phasor, so wrapping does not bias
them) with the standard error of the mean (sample standard deviation / √nints) as its error. jwst averages
the fringes first and rotates a covariance matrix per baseline; here every observable is averaged directly
(simplified). Angles are in degrees, as jwst writes them.

Normalisation (ami_normalize, jwst's ``CalibOifits``): closure phases target − calibrator, squared
visibilities and amplitudes target ÷ calibrator, closure amplitudes ln(target ÷ calibrator); errors in
quadrature (relative errors for the ratios). Fringe phases, triple amplitudes and quad phases stay the target's.
"""

from __future__ import annotations

from itertools import combinations
from typing import NamedTuple

import numpy as np
import numpy.typing as npt

from streamcal.kernels.ami.mask import BASELINES, N_HOLES, TRIANGLES

__all__ = [
    "QUADS",
    "Observables",
    "average_observables",
    "closure_phases",
    "normalize_observables",
]

F64 = npt.NDArray[np.float64]
#: Hole quadruples (i, j, k, l), i < j < k < l, 0-based, jwst's order.
QUADS: tuple[tuple[int, int, int, int], ...] = tuple(combinations(range(N_HOLES), 4))
_INDEX = {pair: n for n, pair in enumerate(BASELINES)}


class Observables(NamedTuple):
    """Averaged observables of one exposure (or a normalised pair), jwst's units: phases in degrees.

    Shapes: ``vis_*``/``vis2*`` (21,), ``t3_*`` and ``q4_*`` (35,), ``piston*`` (7,); ``piston_c`` is the
    calibrator's pistons after normalisation (else NaN).
    """

    vis_amp: F64
    vis_amp_err: F64
    vis_phi: F64
    vis_phi_err: F64
    vis2: F64
    vis2_err: F64
    t3_amp: F64
    t3_amp_err: F64
    t3_phi: F64
    t3_phi_err: F64
    q4_amp: F64
    q4_amp_err: F64
    q4_phi: F64
    q4_phi_err: F64
    piston: F64
    piston_err: F64
    piston_c: F64
    n_ints: int


def _phase(i: int, j: int, phases: F64) -> F64:
    """φ_ij of the antisymmetric phase array (φ_ji = −φ_ij)."""
    return phases[..., _INDEX[(i, j)]] if i < j else -phases[..., _INDEX[(j, i)]]


def _amp(i: int, j: int, amps: F64) -> F64:
    return amps[..., _INDEX[(min(i, j), max(i, j))]]


def closure_phases(phases: npt.ArrayLike) -> F64:
    """Closure phases φ_ij + φ_jk − φ_ik of :data:`~.mask.TRIANGLES` from fringe phases (..., 21), same unit."""
    p = np.asarray(phases, dtype=np.float64)
    return np.stack([_phase(i, j, p) + _phase(j, k, p) + _phase(k, i, p) for i, j, k in TRIANGLES], axis=-1)


def _triple_amplitudes(amps: F64) -> F64:
    return np.stack([_amp(i, j, amps) * _amp(j, k, amps) * _amp(i, k, amps) for i, j, k in TRIANGLES], axis=-1)


def _quads(amps: F64, phases: F64) -> tuple[F64, F64]:
    ca = np.stack([_amp(i, j, amps) * _amp(m, k, amps) / (_amp(i, k, amps) * _amp(j, m, amps))
                   for i, j, k, m in QUADS], axis=-1)
    q4 = np.stack([_phase(i, j, phases) + _phase(m, k, phases) - _phase(i, k, phases) - _phase(j, m, phases)
                   for i, j, k, m in QUADS], axis=-1)
    return ca, q4


def _pistons(phases: F64) -> F64:
    """Hole pistons p (rad, Σ p = 0) with φ_kl ≈ p_k − p_l, per integration: (nints, 7)."""
    design = np.zeros((len(BASELINES) + 1, N_HOLES))
    for n, (k, m) in enumerate(BASELINES):
        design[n, k], design[n, m] = 1.0, -1.0
    design[-1] = 1.0
    rhs = np.concatenate([phases, np.zeros((phases.shape[0], 1))], axis=1)
    return np.asarray(np.linalg.lstsq(design, rhs.T, rcond=None)[0].T)


def _mean(values: F64) -> tuple[F64, F64]:
    n = values.shape[0]
    err = values.std(axis=0, ddof=1) / np.sqrt(n) if n > 1 else np.full(values.shape[1:], np.nan)
    return values.mean(axis=0), err


def _mean_phase(radians: F64) -> tuple[F64, F64]:
    """Mean (argument of the mean phasor) and standard error, degrees; deviations taken about the mean."""
    centre = np.angle(np.mean(np.exp(1j * radians), axis=0))
    deviation = np.angle(np.exp(1j * (radians - centre)))
    n = radians.shape[0]
    err = deviation.std(axis=0, ddof=1) / np.sqrt(n) if n > 1 else np.full(radians.shape[1:], np.nan)
    return np.degrees(centre + deviation.mean(axis=0)), np.degrees(err)


def average_observables(amplitudes: npt.ArrayLike, phases: npt.ArrayLike) -> Observables:
    """Average per-integration fringes (amplitudes, phases in rad; (nints, 21)) into :class:`Observables`.

    Errors are the standard error of the mean over the integrations (NaN with a single integration).
    """
    amps = np.atleast_2d(np.asarray(amplitudes, dtype=np.float64))
    phis = np.atleast_2d(np.asarray(phases, dtype=np.float64))
    vis_amp, vis_amp_err = _mean(amps)
    vis_phi, vis_phi_err = _mean_phase(phis)
    vis2, vis2_err = _mean(amps**2)
    t3_amp, t3_amp_err = _mean(_triple_amplitudes(amps))
    t3_phi, t3_phi_err = _mean_phase(closure_phases(phis))
    ca, q4 = _quads(amps, phis)
    q4_amp, q4_amp_err = _mean(ca)
    q4_phi, q4_phi_err = _mean_phase(q4)
    piston, piston_err = _mean_phase(_pistons(phis))
    return Observables(vis_amp, vis_amp_err, vis_phi, vis_phi_err, vis2, vis2_err, t3_amp, t3_amp_err, t3_phi,
                       t3_phi_err, q4_amp, q4_amp_err, q4_phi, q4_phi_err, piston, piston_err,
                       np.full(N_HOLES, np.nan), amps.shape[0])


def _ratio(t: F64, t_err: F64, c: F64, c_err: F64) -> tuple[F64, F64]:
    r = t / c
    return r, np.abs(r) * np.hypot(t_err / t, c_err / c)


def normalize_observables(target: Observables, calibrator: Observables) -> Observables:
    """Calibrate the target's observables by the calibrator's (module docstring)."""
    cp = np.degrees(np.angle(np.exp(1j * np.radians(target.t3_phi - calibrator.t3_phi))))
    vis_amp, vis_amp_err = _ratio(target.vis_amp, target.vis_amp_err, calibrator.vis_amp, calibrator.vis_amp_err)
    vis2, vis2_err = _ratio(target.vis2, target.vis2_err, calibrator.vis2, calibrator.vis2_err)
    q4_amp = np.log(target.q4_amp / calibrator.q4_amp)
    q4_amp_err = np.hypot(target.q4_amp_err / target.q4_amp, calibrator.q4_amp_err / calibrator.q4_amp)
    return target._replace(
        vis_amp=vis_amp, vis_amp_err=vis_amp_err, vis2=vis2, vis2_err=vis2_err, t3_phi=cp,
        t3_phi_err=np.hypot(target.t3_phi_err, calibrator.t3_phi_err), q4_amp=q4_amp, q4_amp_err=q4_amp_err,
        piston_err=np.hypot(target.piston_err, calibrator.piston_err), piston_c=calibrator.piston)
