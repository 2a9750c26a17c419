"""Hypothesis strategies for small ramps with arbitrary group flags."""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
import numpy.typing as npt
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from streamcal.dq import Pixel

__all__ = ["Ramp", "ramps"]

_FLAGS = [0, 0, 0, 0, Pixel.DO_NOT_USE, Pixel.SATURATED, Pixel.JUMP_DET, Pixel.PERSISTENCE,
          Pixel.JUMP_DET | Pixel.DO_NOT_USE, Pixel.SATURATED | Pixel.DO_NOT_USE]


class Ramp(NamedTuple):
    data: npt.NDArray[np.float32]
    groupdq: npt.NDArray[np.uint8]
    pixeldq: npt.NDArray[np.uint32]
    gain: npt.NDArray[np.float32]
    readnoise: npt.NDArray[np.float32]


@st.composite
def ramps(draw: st.DrawFn, *, min_groups: int = 1, max_groups: int = 8, flagged: bool = True) -> Ramp:
    nints = draw(st.integers(1, 2))
    ngroups = draw(st.integers(min_groups, max_groups))
    ny, nx = draw(st.integers(1, 5)), draw(st.integers(1, 5))
    shape = (nints, ngroups, ny, nx)
    data = draw(hnp.arrays(np.float32, shape, elements=st.floats(-1e3, 6e4, width=32)))
    flag = st.sampled_from([int(f) for f in _FLAGS]) if flagged else st.just(0)
    groupdq = draw(hnp.arrays(np.uint8, shape, elements=flag))
    pixeldq = draw(hnp.arrays(np.uint32, (ny, nx), elements=st.sampled_from([0, 0, 0, int(Pixel.HOT)])))
    gain = draw(hnp.arrays(np.float32, (ny, nx), elements=st.floats(0.5, 5.0, width=32)))
    readnoise = draw(hnp.arrays(np.float32, (ny, nx), elements=st.floats(1.0, 30.0, width=32)))
    return Ramp(data, groupdq, pixeldq, gain, readnoise)
