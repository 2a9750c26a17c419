"""Hypothesis strategies and builders for small ramps (shared by the kernel tests)."""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp


class Ramp(NamedTuple):
    data: np.ndarray  # float32 (nints, ngroups, ny, nx)
    groupdq: np.ndarray  # uint8
    pixeldq: np.ndarray  # uint32


@st.composite
def ramps(draw, max_ints=2, min_groups=1, max_groups=6, max_side=6):
    shape = (draw(st.integers(1, max_ints)), draw(st.integers(min_groups, max_groups)),
             draw(st.integers(1, max_side)), draw(st.integers(1, max_side)))
    data = draw(hnp.arrays(np.float32, shape, elements=st.floats(-100, 70000, width=32)))
    gdq = draw(hnp.arrays(np.uint8, shape, elements=st.sampled_from([0, 0, 0, 1, 2, 4])))
    pdq = draw(hnp.arrays(np.uint32, shape[2:], elements=st.sampled_from([0, 0, 1, 1 << 31])))
    return Ramp(data, gdq, pdq)


def full_2d(ramp: Ramp, value: float, dtype=np.float32) -> np.ndarray:
    return np.full(ramp.data.shape[2:], value, dtype)


def readonly(*arrays: np.ndarray) -> tuple[np.ndarray, ...]:
    out = []
    for a in arrays:
        b = a.copy()
        b.setflags(write=False)
        out.append(b)
    return tuple(out)
