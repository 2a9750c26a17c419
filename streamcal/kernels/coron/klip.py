"""klip (``jwst_spec.md`` §5.10): Karhunen–Loève Image Projection PSF subtraction (Soummer, Pueyo & Larkin 2012,
ApJ 755 L28; jwst's ``coron/klip.py``, re-derived).

For each science image ``t`` and its aligned references ``R_k`` (pixels of ``region`` only, flattened):
mean-subtract each (over the region), eigen-decompose ``C = R·Rᵀ`` (N_ref × N_ref), KL vectors
``Z_j = v_jᵀ·R / √λ_j`` in order of decreasing eigenvalue (only those with λ_j > 1e-10·λ_max: a degenerate
library gives fewer modes), keep the first ``truncate``, and subtract the projection:
``out = (t − ⟨t⟩) − Zᵀ(Z·(t − ⟨t⟩))``. Outside ``region`` the output is NaN. ``err`` is jwst's: the per-pixel
standard deviation over k of ``R_k − Zᵀ(Z·R_k)`` (what the KL model leaves of the references themselves).
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
import numpy.typing as npt

__all__ = ["KlipResult", "klip_subtract"]

F32 = npt.NDArray[np.float32]
F64 = npt.NDArray[np.float64]
_EIG_FLOOR = 1e-10


class KlipResult(NamedTuple):
    """PSF-subtracted images, the PSF models subtracted, the model error, and the modes used per image."""

    subtracted: F32  # (nints, ny, nx), NaN outside the region
    model: F32  # (nints, ny, nx), NaN outside the region
    err: F32  # (nints, ny, nx), NaN outside the region
    n_modes: npt.NDArray[np.int64]  # (nints,)


def _basis(refs: F64, truncate: int) -> F64:
    """The first ``truncate`` KL vectors (rows, unit length) of mean-subtracted references (rows)."""
    evals, evecs = np.linalg.eigh(refs @ refs.T)
    order = np.argsort(evals)[::-1]
    evals, evecs = evals[order], evecs[:, order]
    keep = evals > _EIG_FLOOR * max(float(evals[0]), 0.0)
    n = min(truncate, int(np.count_nonzero(keep)))
    z: F64 = (evecs[:, :n].T @ refs) / np.sqrt(evals[:n])[:, None]
    return z


def klip_subtract(science: npt.ArrayLike, refs: npt.ArrayLike, *, region: npt.NDArray[np.bool_],
                  truncate: int) -> KlipResult:
    """Subtract the KLIP PSF model from each science image.

    Parameters
    ----------
    science : ndarray, shape (nints, ny, nx)
        Science images (finite on ``region``; not modified).
    refs : ndarray, shape (nints, nrefs, ny, nx)
        The references aligned to each science image (``_psfalign``), finite on ``region``.
    region : ndarray of bool, shape (ny, nx)
        Pixels the projection uses and the output covers (outside the coronagraph core, off the edges, good).
    truncate : int
        Number of KL modes kept (≥ 1).

    Returns
    -------
    KlipResult

    Raises
    ------
    ValueError
        Shapes disagree, ``truncate`` < 1, or the region is empty. Not retriable.
    """
    sci = np.asarray(science, dtype=np.float64)
    ref = np.asarray(refs, dtype=np.float64)
    if sci.ndim != 3 or ref.ndim != 4 or ref.shape[0] != sci.shape[0] or ref.shape[2:] != sci.shape[1:] \
            or region.shape != sci.shape[1:]:
        raise ValueError(f"klip needs science (nints, ny, nx), refs (nints, nrefs, ny, nx) and region (ny, nx): "
                         f"got {sci.shape}, {ref.shape}, {region.shape}")
    if truncate < 1:
        raise ValueError(f"klip truncate must be ≥ 1, not {truncate}")
    if not region.any():
        raise ValueError("klip: the region is empty")
    shape = sci.shape
    out = np.full(shape, np.nan, np.float32)
    model = np.full(shape, np.nan, np.float32)
    err = np.full(shape, np.nan, np.float32)
    n_modes = np.zeros(shape[0], np.int64)
    for i in range(shape[0]):
        r = ref[i][:, region]
        r = r - r.mean(axis=1, keepdims=True)
        t = sci[i][region]
        t = t - t.mean()
        z = _basis(r, truncate)
        fit = z.T @ (z @ t)
        out[i][region] = t - fit
        model[i][region] = fit
        err[i][region] = np.std(r - (r @ z.T) @ z, axis=0)
        n_modes[i] = z.shape[0]
    return KlipResult(out, model, err, n_modes)
