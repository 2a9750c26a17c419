"""Small helpers shared by the stage-1 kernels: dtype checks and box growth of a mask."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

__all__: list[str] = []


def as_f32(array: npt.ArrayLike, name: str, ndim: int | tuple[int, ...]) -> npt.NDArray[np.float32]:
    """``array`` as float32 (no copy when it already is), checking its number of dimensions."""
    out = np.asarray(array, dtype=np.float32)
    _check_ndim(out, name, ndim)
    return out


def as_dq(array: npt.ArrayLike, name: str, ndim: int | tuple[int, ...], dtype: type[np.unsignedinteger]) -> np.ndarray:
    """A DQ array as ``dtype`` (uint8 GROUPDQ, uint32 PIXELDQ), checking its number of dimensions."""
    out = np.asarray(array)
    if out.dtype != dtype:
        out = out.astype(dtype)
    _check_ndim(out, name, ndim)
    return out


def _check_ndim(array: np.ndarray, name: str, ndim: int | tuple[int, ...]) -> None:
    allowed = (ndim,) if isinstance(ndim, int) else ndim
    if array.ndim not in allowed:
        raise ValueError(f"{name} must have {' or '.join(map(str, allowed))} dimensions, got shape {array.shape}")


def grow_box(mask: npt.NDArray[np.bool_], n: int) -> npt.NDArray[np.bool_]:
    """Dilate a boolean mask over its last two axes by a (2n+1)² box (a new array)."""
    if n <= 0:
        return mask.copy()
    out = mask.copy()
    for _ in range(n):  # n is 1 in practice; each pass grows by one pixel in all 8 directions
        grown = out.copy()
        grown[..., 1:, :] |= out[..., :-1, :]
        grown[..., :-1, :] |= out[..., 1:, :]
        rows = grown.copy()
        grown[..., :, 1:] |= rows[..., :, :-1]
        grown[..., :, :-1] |= rows[..., :, 1:]
        out = grown
    return out
