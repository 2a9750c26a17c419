"""Jump detection: hand-built examples (stcal style) and properties."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings

from streamcal.dq import Pixel
from streamcal.kernels.ramp import jump
from streamcal.kernels.ramp.jump import JumpResult, detect_jumps
from tests.streamcal.kernels.ramp.simulate import simulate_ramps
from tests.streamcal.kernels.ramp.strategies import Ramp, ramps

JUMP = np.uint8(Pixel.JUMP_DET)


def test_public_names():
    assert set(jump.__all__) == {"JumpResult", "detect_jumps"}


def flat_ramp(shape=(1, 5, 20, 20), rate_dn=50.0):
    """A noiseless 1×5×20×20 ramp of ``rate_dn`` DN per group; CDS read noise 10 DN, gain 2 (σ ≈ 30 e⁻)."""
    groups = np.arange(shape[1], dtype=np.float32)[None, :, None, None]
    data = np.broadcast_to(rate_dn * groups, shape).astype(np.float32)
    gdq = np.zeros(shape, np.uint8)
    gain = np.full(shape[2:], 2.0, np.float32)
    readnoise = np.full(shape[2:], 10.0, np.float32)
    return data, gdq, gain, readnoise


def test_cosmic_ray_at_group_3_is_flagged_there_with_its_four_neighbours():
    data, gdq, gain, rn = flat_ramp()
    data[0, 3:, 10, 10] += 1000.0  # ~70σ: between the neighbour bounds (10σ, 1000σ)
    out = detect_jumps(data, gdq, gain=gain, readnoise=rn)
    flagged = np.argwhere(out.groupdq & JUMP)
    expected = {(0, 3, 10, 10), (0, 3, 9, 10), (0, 3, 11, 10), (0, 3, 10, 9), (0, 3, 10, 11)}
    assert {tuple(int(v) for v in f) for f in flagged} == expected
    assert (out.n_jumps, out.n_neighbors, out.path) == (1, 4, "iterative")


def test_clean_ramp_is_not_flagged():
    data, gdq, gain, rn = flat_ramp()
    out = detect_jumps(data, gdq, gain=gain, readnoise=rn)
    assert not np.any(out.groupdq)
    assert out.n_jumps == out.n_neighbors == 0


def test_huge_jump_does_not_flag_neighbours():
    data, gdq, gain, rn = flat_ramp()
    data[0, 2:, 5, 5] += 5e6  # > 1000σ
    out = detect_jumps(data, gdq, gain=gain, readnoise=rn)
    assert {tuple(int(v) for v in f) for f in np.argwhere(out.groupdq)} == {(0, 2, 5, 5)}


@pytest.mark.parametrize("ngroups", [1, 2])
def test_fewer_than_three_groups_are_skipped(ngroups):
    data, gdq, gain, rn = flat_ramp(shape=(1, ngroups, 20, 20))
    data[0, -1, 4, 4] += 1e4
    out = detect_jumps(data, gdq, gain=gain, readnoise=rn)
    assert out.path == "skipped"
    assert np.array_equal(out.groupdq, gdq)


def test_saturated_and_do_not_use_groups_are_ignored():
    data, gdq, gain, rn = flat_ramp()
    data[0, 3:, 2, 2] += 5000.0
    gdq[0, 3:, 2, 2] = Pixel.SATURATED
    data[0, 2, 7, 7] += 5000.0  # a spike in a DO_NOT_USE group
    gdq[0, 2, 7, 7] = Pixel.DO_NOT_USE
    out = detect_jumps(data, gdq, gain=gain, readnoise=rn)
    assert np.array_equal(out.groupdq, gdq)


def test_neighbours_never_flag_saturated_groups():
    data, gdq, gain, rn = flat_ramp()
    data[0, 3:, 10, 10] += 1000.0
    gdq[0, 3:, 10, 11] = Pixel.SATURATED
    out = detect_jumps(data, gdq, gain=gain, readnoise=rn)
    assert out.groupdq[0, 3, 10, 11] == Pixel.SATURATED
    assert out.n_neighbors == 3


def test_many_groups_use_the_single_pass():
    data, gdq, gain, rn = flat_ramp(shape=(1, 12, 20, 20))
    data[0, 6:, 3, 4] += 800.0
    out = detect_jumps(data, gdq, gain=gain, readnoise=rn)
    assert out.path == "single_pass"
    assert out.groupdq[0, 6, 3, 4] & JUMP


def test_row_blocks_with_a_halo_reproduce_the_whole_frame():
    """A caller runs rows y0-1..y1+1 and keeps y0..y1: neighbour flags cross the block edge."""
    sim = simulate_ramps((1, 6, 64, 48), seed=11, cr_fraction=0.02)
    full = detect_jumps(sim.data, sim.groupdq, gain=sim.gain, readnoise=sim.readnoise).groupdq
    pieces = []
    for y0, y1 in ((0, 20), (20, 21), (21, 45), (45, 64)):
        a, b = max(0, y0 - 1), min(64, y1 + 1)
        part = detect_jumps(sim.data[:, :, a:b], sim.groupdq[:, :, a:b], gain=sim.gain[a:b],
                            readnoise=sim.readnoise[a:b]).groupdq
        pieces.append(part[:, :, y0 - a:y0 - a + (y1 - y0)])
    assert np.array_equal(np.concatenate(pieces, axis=2), full)
    assert np.count_nonzero(full & JUMP) > 50


def test_inputs_read_only_and_unchanged():
    data, gdq, gain, rn = flat_ramp()
    data[0, 3:, 10, 10] += 1000.0
    arrays = [data, gdq, gain, rn]
    copies = [a.copy() for a in arrays]
    for a in arrays:
        a.setflags(write=False)
    out = detect_jumps(data, gdq, gain=gain, readnoise=rn)
    assert isinstance(out, JumpResult)
    assert out.groupdq.flags.writeable and not np.shares_memory(out.groupdq, gdq)
    for a, c in zip(arrays, copies, strict=True):
        assert np.array_equal(a, c)


def test_shape_mismatch_is_a_value_error():
    data, gdq, gain, rn = flat_ramp()
    with pytest.raises(ValueError, match="must have shape"):
        detect_jumps(data, gdq, gain=gain[:5], readnoise=rn)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(ramp=ramps(min_groups=1, max_groups=12))
def test_only_adds_jump_flags_and_keeps_shape(ramp: Ramp):
    copies = [a.copy() for a in ramp]
    for a in ramp:
        a.setflags(write=False)
    out = detect_jumps(ramp.data, ramp.groupdq, gain=ramp.gain, readnoise=ramp.readnoise)
    assert out.groupdq.shape == ramp.data.shape and out.groupdq.dtype == np.uint8
    assert np.all((out.groupdq & ramp.groupdq) == ramp.groupdq)  # flags only added
    assert np.all((out.groupdq ^ ramp.groupdq) & ~JUMP == 0)  # and only JUMP_DET
    assert not np.any(out.groupdq[:, 0] & ~ramp.groupdq[:, 0])  # group 0 never gains a flag
    added = (out.groupdq ^ ramp.groupdq) != 0
    assert not np.any(added & ((ramp.groupdq & (Pixel.SATURATED | Pixel.DO_NOT_USE)) != 0))
    assert np.count_nonzero(added) == out.n_jumps + out.n_neighbors
    for a, c in zip(ramp, copies, strict=True):
        assert np.array_equal(a, c)
