"""Rectification of a single spectral trace onto a common wavelength grid (calwebb_spec3's resample_spec for the
single-trace modes, ``jwst_spec.md`` §1.7, issue 11).

The output is a 2-D array ``(ncross, nwave)``: columns are the bins of a common wavelength grid (given by its
edges, increasing), rows are whole-pixel offsets ``-h … +h`` from the trace. Two one-dimensional operations make
it, each flux conserving:

1. **Across the dispersion: whole-pixel shifts.** In each dispersion pixel ``d`` the rows are the image's pixels
   ``round(c(d)) - h … round(c(d)) + h`` (``c`` the trace centre), copied, not interpolated, so the sum over the
   rows is exactly the sum over those pixels of the ``_cal`` and the noise of different rows stays independent
   (fractional-pixel interpolation would correlate neighbouring rows and make every variance summed over an
   aperture too small, drizzle's known error underestimate). The sub-pixel remainder is kept: the trace centre
   in the rectified frame is row ``h + c(d) - round(c(d))`` (:attr:`Rectified.centre`), which the extraction
   uses. Rows that fall off the image are NaN and DO_NOT_USE.
2. **Along the dispersion: flux-conserving rebinning** (the scheme of SpectRes, Carnall 2017). Input pixel
   ``j`` covers the wavelength interval between the midpoints to its neighbours; an output bin ``k`` takes the
   overlap-weighted mean of the usable inputs it overlaps, ``y_k = Σ_j L_kj x_j / Σ_j L_kj`` with ``L_kj`` the
   overlap length, so ``∫ y dλ`` is conserved where the bin is covered; variances are
   ``Σ_j (L_kj / Σ L_kj)² var_j``. The values are flux densities per dispersion pixel (a ``_cal`` of a point
   source is MJy per pixel and sums across the trace to F_ν), hence the mean rather than a sum. On the input's
   own grid every ``L`` is one pixel and the rebinning is the identity (no smoothing, no correlated noise);
   on another grid neighbouring output bins share inputs and their noise is correlated, which the variances
   do not record (as in jwst).

An output bin with less than half of its width covered by usable input is NaN and DO_NOT_USE; every other
flag of the contributing pixels is ORed into the output DQ. Inputs are never modified. Simplified against
jwst: no spectral-WCS drizzle with pixfrac, no line tilt (each dispersion pixel has one wavelength, as the
SPECWCS layout says).
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
import numpy.typing as npt

from streamcal.dq import Pixel

__all__ = ["Rectified", "common_grid", "grid_edges", "rectify_trace"]

F64 = npt.NDArray[np.float64]
U32 = npt.NDArray[np.uint32]
_DNU = np.uint32(Pixel.DO_NOT_USE)


class Rectified(NamedTuple):
    """A trace on the common grid: ``(ncross, nwave)`` planes and the trace centre row per wavelength bin.

    ``sci`` and the variances are in the input's unit (MJy per pixel for a point-source ``_cal``); ``dq`` is
    uint32; ``centre`` (nwave,) is the trace centre in rectified rows (NaN where no input reached the bin)."""

    sci: F64
    var_poisson: F64
    var_rnoise: F64
    var_flat: F64
    dq: U32
    centre: F64

    @property
    def variance(self) -> F64:
        """The total variance."""
        return self.var_poisson + self.var_rnoise + self.var_flat


def grid_edges(wavelength: npt.ArrayLike) -> F64:
    """Bin edges (increasing, ``n + 1``) of a set of pixel wavelengths: midpoints between neighbours, the outer
    edges half a step beyond the first and last.

    Raises
    ------
    ValueError
        Fewer than two wavelengths, a non-finite one, or two equal. Not retriable.
    """
    wave = np.sort(np.asarray(wavelength, dtype=np.float64).ravel())
    if wave.size < 2 or not np.all(np.isfinite(wave)) or np.any(np.diff(wave) <= 0):
        raise ValueError("a wavelength grid needs >= 2 finite, distinct wavelengths")
    mid = 0.5 * (wave[1:] + wave[:-1])
    return np.concatenate([[wave[0] - (mid[0] - wave[0])], mid, [wave[-1] + (wave[-1] - mid[-1])]])


def common_grid(wavelengths: list[npt.ArrayLike]) -> F64:
    """The common wavelength grid (bin centres, increasing) of several members: the first member's own
    sampling, extended by the samplings of the others where they reach beyond it (two detectors of one
    grating: NIRSpec NRS1 and NRS2 see the two halves of G395H). Inside the first member's range the others
    are rebinned onto its pixels.

    Raises
    ------
    ValueError
        No member, or a member with fewer than two distinct finite wavelengths. Not retriable.
    """
    if not wavelengths:
        raise ValueError("no wavelengths to make a grid of")
    grid = np.sort(np.asarray(wavelengths[0], dtype=np.float64).ravel())
    for other in wavelengths[1:]:
        edges, wave = grid_edges(grid), np.sort(np.asarray(other, dtype=np.float64).ravel())
        own = grid_edges(wave)
        below = wave[own[1:] <= edges[0]]  # whole bins beyond the grid's ends
        above = wave[own[:-1] >= edges[-1]]
        grid = np.concatenate([below, grid, above])
    grid_edges(grid)  # raises on a grid that makes no bins
    return grid


def _cross_rows(planes: dict[str, F64], dq: U32, centre: F64, cols: npt.NDArray[np.intp],
                half_extent: int) -> tuple[dict[str, F64], U32, npt.NDArray[np.bool_], F64]:
    """Whole-pixel rows about the rounded trace, per input column (``(nrow, nin)``), with their usability."""
    ncross = dq.shape[0]
    r = np.rint(centre).astype(np.intp)
    rows = r[None, :] + np.arange(-half_extent, half_extent + 1)[:, None]
    inside = (rows >= 0) & (rows < ncross)
    rows_c = np.clip(rows, 0, ncross - 1)
    taken = {k: np.where(inside, v[rows_c, cols[None, :]], np.nan) for k, v in planes.items()}
    flags = np.where(inside, dq[rows_c, cols[None, :]], _DNU).astype(np.uint32)
    good = inside & ((flags & _DNU) == 0)
    for v in taken.values():
        good &= np.isfinite(v)
    return taken, flags, good, half_extent + (centre - r)


def rectify_trace(sci: npt.ArrayLike, *, var_poisson: npt.ArrayLike, var_rnoise: npt.ArrayLike,
                  var_flat: npt.ArrayLike | None = None, dq: npt.ArrayLike | None = None, dispaxis: int,
                  centre: npt.ArrayLike, wavelength: npt.ArrayLike, lit: npt.ArrayLike, edges: npt.ArrayLike,
                  half_extent: int) -> Rectified:
    """Rectify one trace onto the wavelength grid ``edges`` (see the module docstring).

    Parameters
    ----------
    sci, var_poisson, var_rnoise, var_flat, dq : array-like, 2-D (ny, nx)
        The calibrated image, its variance components (``var_flat`` optional: zeros) and DQ (optional).
    dispaxis : int
        1: dispersion along x, 2: along y.
    centre, wavelength, lit : array-like, 1-D (one per dispersion pixel of the image)
        Trace centre (cross-dispersion pixels, 0-based, the image's frame), wavelength (µm, monotonic over the
        lit pixels) and whether the pixel is on the trace; only lit pixels are rectified.
    edges : array-like, 1-D, increasing
        The output grid's bin edges (µm), ``nwave + 1`` values (:func:`grid_edges`).
    half_extent : int
        Rows ``-half_extent … +half_extent`` about the trace.

    Returns
    -------
    Rectified
        Planes of shape ``(2 · half_extent + 1, nwave)``.

    Raises
    ------
    ValueError
        Shapes disagree, no lit pixel, a non-finite centre or wavelength on a lit pixel, ``edges`` not
        increasing, or ``half_extent`` < 0. Not retriable.
    """
    if dispaxis not in (1, 2):
        raise ValueError(f"DISPAXIS must be 1 or 2, not {dispaxis!r}")
    image = np.asarray(sci, dtype=np.float64)
    if image.ndim != 2:
        raise ValueError(f"rectification needs a 2-D image, got shape {image.shape}")
    raw = {"sci": image, "var_poisson": var_poisson, "var_rnoise": var_rnoise,
           "var_flat": np.zeros_like(image) if var_flat is None else var_flat}
    planes = {k: np.asarray(v, dtype=np.float64) for k, v in raw.items()}
    flags = np.zeros(image.shape, np.uint32) if dq is None else np.asarray(dq, dtype=np.uint32)
    checked: list[tuple[str, npt.NDArray[np.generic]]] = [*planes.items(), ("dq", flags)]
    for name, array in checked:
        if array.shape != image.shape:
            raise ValueError(f"{name} has shape {array.shape}, the image {image.shape}")
    if dispaxis == 2:  # work with dispersion along x
        planes = {k: v.T for k, v in planes.items()}
        flags = flags.T
    ndisp = flags.shape[1]
    c, wave, on = (np.asarray(a) for a in (centre, wavelength, lit))
    if not c.shape == wave.shape == on.shape == (ndisp,):
        raise ValueError(f"centre, wavelength and lit need one value per dispersion pixel ({ndisp})")
    out_edges = np.asarray(edges, dtype=np.float64)
    if out_edges.ndim != 1 or out_edges.size < 2 or np.any(np.diff(out_edges) <= 0):
        raise ValueError("the grid edges must be 1-D and increasing")
    if half_extent < 0:
        raise ValueError(f"half_extent must be >= 0, not {half_extent}")
    cols = np.nonzero(on.astype(bool))[0]
    if cols.size < 2:
        raise ValueError("fewer than two lit dispersion pixels to rectify")
    order = np.argsort(wave[cols])
    cols, c_in, w_in = cols[order], c[cols][order].astype(np.float64), wave[cols][order].astype(np.float64)
    if not (np.all(np.isfinite(c_in)) and np.all(np.isfinite(w_in))):
        raise ValueError("the trace centre or wavelength is not finite on a lit pixel")
    taken, in_dq, good, in_centre = _cross_rows(planes, flags, c_in, cols, half_extent)
    return _rebin(taken, in_dq, good, in_centre, grid_edges(w_in), out_edges)


def _rebin(taken: dict[str, F64], in_dq: U32, good: npt.NDArray[np.bool_], in_centre: F64, in_edges: F64,
           out_edges: F64) -> Rectified:
    """Overlap-weighted rebinning of ``(nrow, nin)`` planes from ``in_edges`` onto ``out_edges``.

    Two passes over the (few) inputs each output bin overlaps: the covered length first, then the normalized
    weights ``L / Σ L``, so a bin fed by one input copies it exactly."""
    nin, nout, nrow = in_edges.size - 1, out_edges.size - 1, good.shape[0]
    lo, hi = out_edges[:-1], out_edges[1:]
    first = np.clip(np.searchsorted(in_edges, lo, side="right") - 1, 0, nin - 1)
    last = np.clip(np.searchsorted(in_edges, hi, side="left") - 1, 0, nin - 1)
    span = int(np.max(last - first)) + 1 if nout else 0

    def overlap(m: int) -> tuple[npt.NDArray[np.intp], F64]:
        j = np.minimum(first + m, nin - 1)
        length = np.clip(np.minimum(hi, in_edges[j + 1]) - np.maximum(lo, in_edges[j]), 0.0, None)
        return j, np.where(first + m <= last, length, 0.0)

    covered = np.zeros((nrow, nout))
    centre_sum, centre_w = np.zeros(nout), np.zeros(nout)
    dq = np.zeros((nrow, nout), np.uint32)
    for m in range(span):
        j, length = overlap(m)
        covered += length[None, :] * good[:, j]
        dq |= np.where(length[None, :] > 0, in_dq[:, j] & ~_DNU, 0).astype(np.uint32)
        centre_sum += length * in_centre[j]
        centre_w += length
    usable = covered >= 0.5 * (hi - lo)[None, :]
    with np.errstate(invalid="ignore", divide="ignore"):
        inv = np.where(usable, 1.0 / np.where(usable, covered, 1.0), 0.0)
        centre = np.where(centre_w > 0, centre_sum / centre_w, np.nan)
    out = {k: np.zeros((nrow, nout)) for k in taken}
    for m in range(span):
        j, length = overlap(m)
        share = np.where(good[:, j], length[None, :] * inv, 0.0)
        share = np.where(share == covered * inv, 1.0, share)  # the only contributor: exactly 1
        for k, v in taken.items():
            value = np.where(good[:, j], v[:, j], 0.0)
            out[k] += (share if k == "sci" else share ** 2) * value
    nan = np.where(usable, 1.0, np.nan)
    dq[~usable] |= _DNU
    return Rectified(sci=out["sci"] * nan, var_poisson=out["var_poisson"] * nan, var_rnoise=out["var_rnoise"] * nan,
                     var_flat=out["var_flat"] * nan, dq=dq, centre=centre)
