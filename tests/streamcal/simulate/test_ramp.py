"""Physics of the up-the-ramp forward model against its own injected truth."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from streamcal.simulate.detector import DetectorModel
from streamcal.simulate.geometry import DETECTORS, READOUT_PATTERNS, frame_time, subarray_for
from streamcal.simulate.linearity import linearity_coeffs, linearize
from streamcal.simulate.ramp import Effects, RampTiming, simulate_ramp

NOISELESS = Effects.noiseless()


def _model(detector: str = "NRCA3", subarray: str = "SUB64P") -> DetectorModel:
    det = DETECTORS[detector]
    return DetectorModel.build(det, subarray_for(det, subarray))


def _timing(model: DetectorModel, *, readpatt: str = "RAPID", ngroups: int = 8, nints: int = 1) -> RampTiming:
    r = READOUT_PATTERNS[readpatt]
    return RampTiming(nints=nints, ngroups=ngroups, nframes=r.nframes, groupgap=r.groupgap,
                      tframe=frame_time(model.detector, model.subarray))


def _uniform_rate(model: DetectorModel, dn_per_group: float, timing: RampTiming) -> np.ndarray:
    return (np.full(model.shape, dn_per_group / timing.tgroup, np.float32) * model.response).astype(np.float32)


@pytest.mark.parametrize("readpatt", ["RAPID", "BRIGHT1", "SHALLOW4", "MEDIUM8"])
def test_noiseless_group_differences_are_rate_times_tgroup(readpatt):
    model = _model()
    timing = _timing(model, readpatt=readpatt, ngroups=6, nints=2)
    rate = _uniform_rate(model, 400.0, timing)
    ramp = simulate_ramp(rate, model, timing, effects=NOISELESS, rng=np.random.default_rng(0))
    assert ramp.data.dtype == np.uint16 and ramp.data.shape == (2, 6, 64, 64)
    diffs = np.diff(ramp.data.astype(np.float64), axis=1)
    np.testing.assert_allclose(diffs, np.broadcast_to(rate * timing.tgroup, diffs.shape), atol=1.0)
    # group 0 = superbias + the mean charge of the first group's frames
    first = model.bias + rate * timing.tframe * (timing.nframes + 1) / 2.0
    np.testing.assert_allclose(ramp.data[:, 0], np.broadcast_to(first, ramp.data[:, 0].shape), atol=0.51)
    assert ramp.cosmic_rays.table.size == 0


def test_cds_noise_matches_the_readnoise_reference():
    model = _model()
    read_only = replace(NOISELESS, read_noise=True)
    for readpatt, expected in (("RAPID", 1.0), ("SHALLOW4", 0.5)):  # σ_CDS(group) = RN_CDS/√NFRAMES
        timing = _timing(model, readpatt=readpatt, ngroups=20)
        rate = _uniform_rate(model, 50.0, timing)
        ramp = simulate_ramp(rate, model, timing, effects=read_only, rng=np.random.default_rng(1))
        z = (np.diff(ramp.data.astype(np.float64), axis=1) - rate * timing.tgroup) / model.readnoise
        assert np.std(z[:, :, model.response > 0]) == pytest.approx(expected, rel=0.03)


def test_full_noise_is_read_noise_plus_poisson():
    model = _model()
    timing = _timing(model, ngroups=20)
    rate = _uniform_rate(model, 300.0, timing)
    effects = replace(NOISELESS, read_noise=True, poisson=True)
    ramp = simulate_ramp(rate, model, timing, effects=effects, rng=np.random.default_rng(2))
    lit = model.response > 0
    diffs = np.diff(ramp.data.astype(np.float64), axis=1)[0][:, lit]
    expected_var = model.readnoise[lit] ** 2 + rate[lit] * timing.tgroup / model.gain[lit]  # DN²
    assert np.mean(diffs.var(axis=0, ddof=1) / expected_var) == pytest.approx(1.0, rel=0.03)


def test_cosmic_ray_truth_matches_the_jumps():
    model = _model()
    timing = _timing(model, ngroups=10, nints=2)
    rate = _uniform_rate(model, 100.0, timing)
    effects = replace(NOISELESS, cosmic_rays=True, cr_fraction=0.02)
    ramp = simulate_ramp(rate, model, timing, effects=effects, rng=np.random.default_rng(3))
    truth = ramp.cosmic_rays
    assert truth.table.size > 50
    residual = np.diff(ramp.data.astype(np.float64), axis=1) - rate * timing.tgroup
    jumps = np.argwhere(residual > 5.0)  # (int, diff index, y, x); diff k shows the jump of group k+1
    hit = {(int(i), int(y), int(x)) for i, _, y, x in jumps}
    expected = {(int(r["int"]), int(r["y"]), int(r["x"])) for r in truth.table if r["group"] >= 1}
    assert hit == expected
    hits = {(int(r["int"]), int(r["group"]), int(r["y"]), int(r["x"])) for r in truth.table}
    for i, k, y, x in jumps:  # every jump is a listed hit in that group (a pixel may also be hit before group 1)
        assert (int(i), int(k) + 1, int(y), int(x)) in hits
        assert truth.first_group[i, y, x] <= k + 1
    first_seen = np.full(truth.first_group.shape, -1)
    for i, k, y, x in jumps[::-1]:
        first_seen[i, y, x] = k + 1
    visible = truth.first_group >= 1
    np.testing.assert_array_equal(first_seen[visible], truth.first_group[visible])
    single = truth.table[np.isin(np.arange(truth.table.size), np.unique(
        truth.table[["int", "y", "x"]], return_index=True)[1]) & (truth.table["group"] >= 1)]
    sizes = residual[single["int"], single["group"] - 1, single["y"], single["x"]]
    lone = truth.n_hits[single["int"], single["y"], single["x"]] == 1
    np.testing.assert_allclose(sizes[lone], single["amplitude_dn"][lone], atol=1.0)
    assert truth.n_hits.sum() == truth.table.size


def test_saturation_clips_at_the_threshold():
    model = _model()
    timing = _timing(model, ngroups=6)
    rate = _uniform_rate(model, 20000.0, timing)  # far beyond the well by the last group
    ramp = simulate_ramp(rate, model, timing, effects=Effects(cosmic_rays=False), rng=np.random.default_rng(4))
    assert np.all(ramp.data <= model.saturation)
    lit = model.response > 0
    np.testing.assert_array_equal(ramp.data[0, -1][lit], model.saturation[lit])


def test_linearity_reference_inverts_the_ramp_nonlinearity():
    model = _model()
    timing = _timing(model, ngroups=10)
    well = model.saturation - model.lin_zero
    rate = (0.08 * well / timing.tgroup * (model.response > 0)).astype(np.float32)  # 80 % of the well at g=9
    effects = replace(NOISELESS, nonlinearity=True)
    ramp = simulate_ramp(rate, model, timing, effects=effects, rng=np.random.default_rng(5))
    measured = ramp.data[0].astype(np.float64) - model.lin_zero
    linear = linearize(measured, linearity_coeffs(model.alpha))
    expected = (model.bias - model.lin_zero) + rate * timing.tframe * np.arange(1, 11)[:, None, None]
    lit = model.response > 0
    assert np.all(measured[-1][lit] > 0.7 * well[lit])  # non-linear by several % …
    np.testing.assert_allclose(linear[:, lit], expected[:, lit], rtol=1e-3, atol=1.0)  # … and undone


def test_same_seed_same_ramp_other_seed_other_ramp():
    model = _model()
    timing = _timing(model, ngroups=5, nints=2)
    rate = _uniform_rate(model, 200.0, timing)
    effects = Effects(cr_fraction=0.01)
    a, b, c = (simulate_ramp(rate, model, timing, effects=effects, rng=np.random.default_rng(s), zeroframe=True)
               for s in (7, 7, 8))
    np.testing.assert_array_equal(a.data, b.data)
    np.testing.assert_array_equal(a.zeroframe, b.zeroframe)
    np.testing.assert_array_equal(a.cosmic_rays.table, b.cosmic_rays.table)
    assert not np.array_equal(a.data, c.data)


def test_amplifier_offsets_are_common_to_an_amplifier_parity():
    model = _model()
    timing = _timing(model, ngroups=4)
    effects = replace(NOISELESS, amp_offsets=True)
    ramp = simulate_ramp(np.zeros(model.shape, np.float32), model, timing, effects=effects,
                         rng=np.random.default_rng(6))
    offset = ramp.data[0].astype(np.float64) - model.bias
    for parity in (0, 1):
        cols = offset[:, :, parity::2]
        spread = cols.reshape(4, -1).std(axis=1)
        assert np.all(spread < 0.5)  # rounding only: one offset per group for each parity
    assert np.ptp(offset[:, 0, 0] - offset[0, 0, 0]) > 0.0  # and it drifts from group to group


def test_zeroframe_is_the_first_frame():
    model = _model()
    timing = _timing(model, readpatt="SHALLOW4", ngroups=3)
    rate = _uniform_rate(model, 800.0, timing)
    ramp = simulate_ramp(rate, model, timing, effects=NOISELESS, rng=np.random.default_rng(0), zeroframe=True)
    assert ramp.zeroframe is not None and ramp.zeroframe.shape == (1, 64, 64)
    np.testing.assert_allclose(ramp.zeroframe[0], model.bias + rate * timing.tframe, atol=0.51)
