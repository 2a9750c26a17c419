"""Resample an IFU exposure's pixels onto a regular (alpha, beta, λ) cube by 3-D drizzle (jwst's cube_build with
``weighting='drizzle'``, jwst_spec §1.5; issue 11).

Each detector pixel is a box in (alpha, beta, λ): its own alpha edges, its slice's beta edges and its wavelength
edges. A voxel takes the mean of the surface brightness over its volume, every pixel weighted by the volume its
box shares with the voxel:

    SB_j = Σ_i o_ij s_i / Σ_i o_ij,        var_j = Σ_i o_ij² v_i / (Σ_i o_ij)²

The boxes of an image slicer tile the sky and the band (slices tile beta, pixels tile alpha and λ), so where
every pixel is good ``Σ_i o_ij`` is the voxel's volume and the cube conserves flux exactly: Σ_j SB_j · area_j
over a plane is the pixels' flux averaged over the plane's width. Bad pixels simply drop out of the means.

Simplified against jwst: the boxes are axis-aligned (the cube is in the slicer's own frame, jwst's
``coord_system='ifualign'``, no sky rotation or distortion), and the resampling is returned as a sparse matrix
``R`` (voxels × pixels, rows summing to 1), so an extraction can propagate the variances through the
covariance the resampling creates (:mod:`streamcal.kernels.spec.ifu_extract`) instead of jwst's scale factor.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
import numpy.typing as npt
from scipy import sparse

__all__ = ["CubeGrid", "CubeWeights", "drizzle_weights", "resample"]

F64 = npt.NDArray[np.float64]
_SLIVER = 1e-9


class CubeGrid(NamedTuple):
    """A regular cube grid: first edge and step of each axis (arcsec, arcsec, µm) and its sizes
    ``(nwave, nbeta, nalpha)`` (numpy order of the cube)."""

    alpha_start: float
    alpha_step: float
    beta_start: float
    beta_step: float
    wave_start: float
    wave_step: float
    shape: tuple[int, int, int]

    def centres(self) -> tuple[F64, F64, F64]:
        """Voxel centres along (wavelength, beta, alpha)."""
        nw, nb, na = self.shape
        def axis(start: float, step: float, n: int) -> F64:
            return np.asarray(start + (np.arange(n) + 0.5) * step, np.float64)

        return (axis(self.wave_start, self.wave_step, nw), axis(self.beta_start, self.beta_step, nb),
                axis(self.alpha_start, self.alpha_step, na))


class CubeWeights(NamedTuple):
    """The resampling: ``matrix`` (CSR, voxels × pixels, each non-empty row summing to 1), ``coverage`` (the
    share of each voxel's volume the pixels cover, ``(nwave, nbeta, nalpha)``) and ``npix`` (pixels per voxel)."""

    matrix: sparse.csr_matrix
    coverage: F64
    npix: npt.NDArray[np.int32]


def _overlaps(lo: F64, hi: F64, start: float, step: float, n: int) -> tuple[npt.NDArray[np.int64], F64]:
    """For each interval, the cells it can touch (``(m, K)`` indices, clipped) and the lengths it shares with
    them (0 where it does not touch or the cell is off the grid)."""
    first = np.floor((lo - start) / step).astype(np.int64)
    k = int(np.ceil(np.max(hi - lo) / step)) + 1 if lo.size else 1
    index = first[:, None] + np.arange(k)[None, :]
    cell_lo = start + index * step
    length = np.minimum(hi[:, None], cell_lo + step) - np.maximum(lo[:, None], cell_lo)
    # a box edge on a cell edge leaves a rounding sliver in the next cell: not an overlap (it would stand in for
    # the cell's own pixel when that one is bad)
    valid = (index >= 0) & (index < n) & (length > _SLIVER * step)
    return np.clip(index, 0, n - 1), np.where(valid, length, 0.0)


def drizzle_weights(alpha_lo: npt.ArrayLike, alpha_hi: npt.ArrayLike, beta_lo: npt.ArrayLike,
                    beta_hi: npt.ArrayLike, wave_lo: npt.ArrayLike, wave_hi: npt.ArrayLike, *,
                    grid: CubeGrid) -> CubeWeights:
    """The drizzle resampling of pixel boxes onto ``grid`` (module docstring).

    Parameters
    ----------
    alpha_lo, alpha_hi, beta_lo, beta_hi, wave_lo, wave_hi : array_like, shape (m,), float64
        Each pixel's box edges (arcsec, arcsec, µm), ``lo < hi``.
    grid : CubeGrid

    Returns
    -------
    CubeWeights
    """
    edges = [np.asarray(a, np.float64).ravel() for a in (alpha_lo, alpha_hi, beta_lo, beta_hi, wave_lo, wave_hi)]
    nw, nb, na = grid.shape
    ia, oa = _overlaps(edges[0], edges[1], grid.alpha_start, grid.alpha_step, na)
    ib, ob = _overlaps(edges[2], edges[3], grid.beta_start, grid.beta_step, nb)
    iw, ow = _overlaps(edges[4], edges[5], grid.wave_start, grid.wave_step, nw)
    pixel = np.arange(edges[0].size)
    rows, cols, values = [], [], []
    for a in range(ia.shape[1]):
        for b in range(ib.shape[1]):
            for w in range(iw.shape[1]):
                volume = oa[:, a] * ob[:, b] * ow[:, w]
                hit = volume > 0
                rows.append((iw[hit, w] * nb + ib[hit, b]) * na + ia[hit, a])
                cols.append(pixel[hit])
                values.append(volume[hit])
    nvox = nw * nb * na
    shape = (nvox, edges[0].size)
    matrix = sparse.csr_matrix((np.concatenate(values), (np.concatenate(rows), np.concatenate(cols))), shape=shape)
    total = np.asarray(matrix.sum(axis=1)).ravel()
    scale = np.divide(1.0, total, out=np.zeros_like(total), where=total > 0)
    normalized = sparse.csr_matrix(sparse.diags(scale) @ matrix)
    coverage = (total / (grid.alpha_step * grid.beta_step * grid.wave_step)).reshape(grid.shape)
    npix = np.diff(normalized.indptr).astype(np.int32).reshape(grid.shape)
    return CubeWeights(normalized, coverage, npix)


def resample(values: npt.ArrayLike, weights: CubeWeights, *, variance: bool = False) -> F64:
    """A cube of pixel values through the resampling: the weighted mean, or with ``variance`` the variance of
    that mean for independent pixel variances (``R∘R @ v``); NaN where no pixel falls, shape ``coverage.shape``."""
    v = np.asarray(values, np.float64).ravel()
    matrix = weights.matrix.power(2) if variance else weights.matrix
    out = np.asarray(matrix @ v).reshape(weights.coverage.shape)
    return np.where(weights.npix > 0, out, np.nan)
