"""Parity with stcal 1.20.0 (``stcal_baseline.md``) on simulated ramps and on adversarial DQ patterns.

stcal is called through ``stcal_ref`` with the exact dtypes it needs (a wrong dtype aborts the interpreter) and a
copy of the read noise (its ramp fit scales the array in place).
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
import numpy.typing as npt
import pytest

from streamcal.dq import Pixel
from streamcal.kernels.ramp.jump import detect_jumps
from streamcal.kernels.ramp.ramp_fit import RampFitResult, fit_ramps
from tests.streamcal.kernels.ramp.simulate import SimRamp, simulate_ramps
from tests.streamcal.kernels.ramp.stcal_ref import stcal_jump, stcal_ramp_fit

JUMP = np.uint8(Pixel.JUMP_DET)
SAT = np.uint8(Pixel.SATURATED)


class Run(NamedTuple):
    sim: SimRamp
    ours_gdq: npt.NDArray[np.uint8]
    stcal_gdq: npt.NDArray[np.uint8]
    ours: RampFitResult
    stcal: dict[str, npt.NDArray[np.generic]]


def _fit(sim: SimRamp, gdq: npt.NDArray[np.uint8]) -> RampFitResult:
    return fit_ramps(sim.data, gdq, sim.pixeldq, readnoise=sim.readnoise, gain=sim.gain,
                     frame_time=sim.group_time, group_time=sim.group_time)


@pytest.fixture(scope="module", params=[(1, 10, 256, 256), (2, 6, 128, 128)], ids=["1x10x256", "2x6x128"])
def run(request: pytest.FixtureRequest) -> Run:
    sim = simulate_ramps(request.param, seed=20240611)
    ours_gdq = detect_jumps(sim.data, sim.groupdq, gain=sim.gain, readnoise=sim.readnoise).groupdq
    stcal_gdq, _ = stcal_jump(sim.data, sim.groupdq, sim.gain, sim.readnoise)
    image, _ = stcal_ramp_fit(sim.data, stcal_gdq, sim.pixeldq, sim.gain, sim.readnoise,
                              frame_time=sim.group_time, group_time=sim.group_time)
    return Run(sim, ours_gdq, stcal_gdq, _fit(sim, ours_gdq), image)


def _false_flags(gdq: npt.NDArray[np.uint8], cr: npt.NDArray[np.bool_]) -> int:
    """JUMP_DET flags that are neither an injected CR nor one of its 4 neighbours."""
    near = cr.copy()
    near[..., 1:, :] |= cr[..., :-1, :]
    near[..., :-1, :] |= cr[..., 1:, :]
    near[..., :, 1:] |= cr[..., :, :-1]
    near[..., :, :-1] |= cr[..., :, 1:]
    return int(np.count_nonzero(((gdq & JUMP) != 0) & ~near))


def test_jump_recall_and_false_flags(run: Run):
    detectable = run.sim.cr & ((run.sim.groupdq & SAT) == 0)
    for gdq in (run.ours_gdq, run.stcal_gdq):
        recall = np.count_nonzero(detectable & ((gdq & JUMP) != 0)) / np.count_nonzero(detectable)
        assert recall >= 0.99
    assert _false_flags(run.ours_gdq, run.sim.cr) <= 1.1 * _false_flags(run.stcal_gdq, run.sim.cr)


def test_jump_flags_match_stcal(run: Run):
    assert np.array_equal(run.ours_gdq, run.stcal_gdq)


def test_rates_agree_where_dq_agrees(run: Run):
    ours, ref = run.ours, run.stcal
    same = (ours.dq == ref["dq"]) & np.isfinite(ours.rate) & np.isfinite(ref["slope"])
    assert np.count_nonzero(same) > 0.95 * same.size
    close = np.abs(ours.rate[same] - ref["slope"][same]) <= 1e-3 * ref["err"][same]
    assert np.mean(close) >= 0.99


def test_err_matches_stcal(run: Run):
    ok = (run.stcal["err"] > 0) & (run.ours.err > 0)
    assert np.median(np.abs(run.ours.err[ok] / run.stcal["err"][ok] - 1)) <= 0.01


def test_clean_pixel_accuracy_matches_stcal(run: Run):
    clean = ~run.sim.cr.any(axis=(0, 1)) & ((run.ours.dq & SAT) == 0) & ((run.stcal["dq"] & SAT) == 0)
    ours_err = np.median(np.abs(run.ours.rate[clean] - run.sim.rate[clean]))
    stcal_err = np.median(np.abs(run.stcal["slope"][clean] - run.sim.rate[clean]))
    assert ours_err <= 1.02 * stcal_err


def test_ramp_fit_on_the_same_groupdq_matches_stcal_closely(run: Run):
    sim = run.sim
    ours = _fit(sim, run.stcal_gdq)
    image, integ = stcal_ramp_fit(sim.data, run.stcal_gdq, sim.pixeldq, sim.gain, sim.readnoise,
                                  frame_time=sim.group_time, group_time=sim.group_time)
    np.testing.assert_array_equal(ours.dq, image["dq"])
    np.testing.assert_array_equal(ours.dq_ints, integ["dq"])
    for mine, key in ((ours.rate, "slope"), (ours.err, "err"), (ours.var_rnoise, "var_rnoise")):
        np.testing.assert_allclose(mine, image[key], rtol=2e-5, atol=1e-6, equal_nan=True)
    np.testing.assert_allclose(ours.var_poisson, image["var_poisson"], rtol=5e-4, atol=1e-6, equal_nan=True)
    np.testing.assert_allclose(ours.rateints, integ["slope"], rtol=2e-5, atol=1e-6, equal_nan=True)
    np.testing.assert_allclose(ours.err_ints, integ["err"], rtol=2e-5, atol=1e-6, equal_nan=True)


@pytest.mark.parametrize(("shape", "path"), [((1, 14, 48, 40), "single_pass"), ((100, 3, 12, 10), "sigma_clip")])
def test_other_jump_paths_match_stcal(shape, path):
    sim = simulate_ramps(shape, seed=5, cr_fraction=0.02)
    ours = detect_jumps(sim.data, sim.groupdq, gain=sim.gain, readnoise=sim.readnoise)
    ref, _ = stcal_jump(sim.data, sim.groupdq, sim.gain, sim.readnoise)
    assert ours.path == path
    np.testing.assert_array_equal(ours.groupdq, ref)


def _adversarial(seed: int) -> tuple[npt.NDArray[np.float32], ...]:
    """Small ramps with random DQ combinations, NaN data, bad gains and pixel DQ (the fuzz that found past bugs)."""
    rng = np.random.default_rng(seed)
    nints, ngroups = int(rng.integers(1, 4)), int(rng.integers(1, 8))
    shape = (nints, ngroups, int(rng.integers(3, 12)), int(rng.integers(3, 12)))
    rate = rng.uniform(-1, 200, shape[2:])
    data = rate * 10.737 * np.arange(1, ngroups + 1)[None, :, None, None] + rng.normal(0, 5, shape)
    data = data.astype(np.float32)
    gdq = np.zeros(shape, np.uint8)
    hit = rng.random(shape) < rng.uniform(0, 0.5)
    gdq[hit] = rng.choice(np.array([0, 0, 1, 2, 3, 4, 4, 32, 36, 5, 6, 34], np.uint8), hit.sum())
    if rng.random() < 0.5:
        gdq[np.maximum.accumulate((gdq & SAT) != 0, axis=1)] |= SAT
    if rng.random() < 0.3:
        data[rng.random(shape) < 0.05] = np.nan
    gain = rng.normal(2, 0.1, shape[2:]).astype(np.float32)
    if rng.random() < 0.3:
        gain[rng.random(shape[2:]) < 0.1] = rng.choice([0.0, np.nan, -1.0])
    pdq = np.zeros(shape[2:], np.uint32)
    if rng.random() < 0.3:
        pdq[rng.random(shape[2:]) < 0.2] = rng.choice([1, 2, 4, 1024])
    gdq[0, 0, 0, 0] = 0  # stcal returns nothing when group 0 saturates in every pixel
    return data, gdq, pdq, gain, rng.normal(10, 1, shape[2:]).astype(np.float32)


# 29, 44, 85: NGROUPS = 1 with a saturated integration (stcal's median rate becomes NaN, so VAR_POISSON = 0).
@pytest.mark.parametrize("seed", [29, 44, 85, *range(200, 230)])
@pytest.mark.parametrize("suppress", [False, True])
def test_adversarial_dq_matches_stcal(seed: int, suppress: bool):
    data, gdq, pdq, gain, rn = _adversarial(seed)
    image, integ = stcal_ramp_fit(data, gdq, pdq, gain, rn, frame_time=10.737, group_time=10.737,
                                  suppress_one_group=suppress)
    ours = fit_ramps(data, gdq, pdq, readnoise=rn, gain=gain, frame_time=10.737, group_time=10.737,
                     suppress_one_group=suppress)
    pairs = [(ours.rate, image["slope"]), (ours.err, image["err"]), (ours.var_poisson, image["var_poisson"]),
             (ours.var_rnoise, image["var_rnoise"]), (ours.rateints, integ["slope"]), (ours.err_ints, integ["err"]),
             (ours.var_poisson_ints, integ["var_poisson"]), (ours.var_rnoise_ints, integ["var_rnoise"])]
    for mine, ref in pairs:
        np.testing.assert_allclose(mine, ref, rtol=2e-4, atol=1e-6, equal_nan=True)
    np.testing.assert_array_equal(ours.dq, image["dq"])
    np.testing.assert_array_equal(ours.dq_ints, integ["dq"])
    if data.shape[1] >= 3 and not suppress:
        ref_gdq, _ = stcal_jump(data, gdq, gain, rn)
        mine_gdq = detect_jumps(data, gdq, gain=gain, readnoise=rn).groupdq
        cleared = ((gdq & JUMP) != 0) & ((gdq & (SAT | Pixel.DO_NOT_USE)) != 0)  # stcal clears these; we never do
        np.testing.assert_array_equal(np.where(cleared, 0, mine_gdq), np.where(cleared, 0, ref_gdq))
