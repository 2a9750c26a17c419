"""dark_current: subtract the dark ramp, averaged to the science readout (jwst_spec.md §4.7; stcal ``dark_sub``).

Dark references hold single frames (NFRAMES=1, GROUPGAP=0) with frame 0 ≈ 0. For science taken with NFRAMES
frames per group and GROUPGAP dropped frames between groups, group g of the dark is the mean of frames
``start .. start+NFRAMES-1`` with ``start`` advancing by NFRAMES+GROUPGAP. A dark shorter than the science
is extended linearly from its last two frames. NaN in the dark counts as 0. NIR darks are 3-D (frames, ny, nx)
and serve every integration; MIRI darks are 4-D (nints, frames, ny, nx): integration i uses dark
integration i while there is one (and the exposure's first integration is 1), else the last. PIXELDQ |= dark DQ
(OR over the dark's integrations for MIRI). A dark averaged more coarsely than the science (more frames per
group or a larger gap) cannot be resampled: the step is skipped, as jwst does.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
import numpy.typing as npt

from streamcal.kernels.ramp._common import as_dq, as_f32

__all__ = ["DarkResult", "average_dark", "subtract_dark"]


class DarkResult(NamedTuple):
    data: npt.NDArray[np.float32]  # (nints, ngroups, ny, nx)
    pixeldq: npt.NDArray[np.uint32]  # (ny, nx)
    applied: bool


def _extend(frames: np.ndarray, needed: int) -> np.ndarray:
    """Frames (nframes, ny, nx) extended linearly to ``needed`` frames."""
    have = frames.shape[0]
    if have >= needed:
        return frames[:needed]
    if have < 2:
        raise ValueError(f"a dark with {have} frame cannot be extrapolated to {needed}")
    slope = frames[-1] - frames[-2]
    steps = np.arange(1, needed - have + 1, dtype=np.float32)[:, None, None]
    return np.concatenate([frames, frames[-1] + steps * slope])


def average_dark(frames: npt.ArrayLike, *, ngroups: int, nframes: int, groupgap: int) -> npt.NDArray[np.float32]:
    """Average single dark frames (nframes_dark, ny, nx) to the science readout → (ngroups, ny, nx)."""
    dark = np.nan_to_num(as_f32(frames, "dark", 3), nan=0.0)
    total = ngroups * nframes + (ngroups - 1) * groupgap
    dark = _extend(dark, total)
    if nframes == 1 and groupgap == 0:
        return dark[:ngroups].copy()
    starts = np.arange(ngroups) * (nframes + groupgap)
    out = np.empty((ngroups, *dark.shape[1:]), np.float32)
    for g, start in enumerate(starts):
        out[g] = dark[start:start + nframes].mean(axis=0)
    return out


def subtract_dark(
    data: npt.ArrayLike,
    pixeldq: npt.ArrayLike,
    *,
    dark: npt.ArrayLike,
    dark_dq: npt.ArrayLike | None = None,
    nframes: int = 1,
    groupgap: int = 0,
    dark_nframes: int = 1,
    dark_groupgap: int = 0,
    int_start: int = 1,
) -> DarkResult:
    """Subtract the dark current.

    Parameters
    ----------
    data : ndarray, shape (nints, ngroups, ny, nx), float32
    pixeldq : ndarray, shape (ny, nx), uint32
    dark : ndarray, shape (frames, ny, nx) or (dark_nints, frames, ny, nx), float32
    dark_dq : ndarray, shape (ny, nx) or (dark_nints, 1, ny, nx), uint32, optional
    nframes, groupgap : int
        Science NFRAMES and GROUPGAP.
    dark_nframes, dark_groupgap : int
        The dark's (1 and 0 for a standard reference).
    int_start : int
        INTSTART of this segment (1-based); MIRI per-integration darks only apply from the first integration.

    Returns
    -------
    DarkResult
        New arrays; ``applied`` is False (and the data returned unchanged) when the dark cannot be used.
    """
    sci = as_f32(data, "data", 4)
    pdq = as_dq(pixeldq, "pixeldq", 2, np.uint32)
    if dark_nframes > nframes or dark_groupgap > groupgap:
        return DarkResult(sci, pdq, False)
    ref = as_f32(dark, "dark", (3, 4))
    if dark_dq is not None:
        dq = as_dq(dark_dq, "dark_dq", (2, 3, 4), np.uint32)
        pdq = pdq | (np.bitwise_or.reduce(dq.reshape(-1, *dq.shape[-2:]), axis=0) if dq.ndim > 2 else dq)
    ngroups = sci.shape[1]
    if ref.ndim == 3:
        averaged = average_dark(ref, ngroups=ngroups, nframes=nframes, groupgap=groupgap)
        return DarkResult(sci - averaged, pdq, True)
    out = np.empty_like(sci)
    per_int = [average_dark(ref[i], ngroups=ngroups, nframes=nframes, groupgap=groupgap) for i in range(ref.shape[0])]
    for i in range(sci.shape[0]):
        use = i if (int_start == 1 and i < len(per_int)) else len(per_int) - 1
        out[i] = sci[i] - per_int[use]
    return DarkResult(out, pdq, True)
