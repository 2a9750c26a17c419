"""Ramp fitting: optimally weighted OLS slopes per segment, combined per integration and per exposure.

The algorithm is stcal 1.20's ``OLS_C`` with "optimal" weighting (``stcal/ramp_fitting/src/slope_fitter.c``;
``../shared/research/jwst_spec.md`` §4.10), re-vectorised over pixels:

1. Per pixel: ``R = readnoise_cds · gain / √(2·NFRAMES)`` (electrons per group); gain ≤ 0 or NaN adds
   DO_NOT_USE | NO_GAIN_VALUE to the pixel DQ. The median rate (for the Poisson variance) is the mean over
   integrations of the median first difference per group time, jumps and flagged groups excluded (``_ramp_dq``).
2. Per integration: segments are runs of DQ-0 groups (PERSISTENCE ignored), a JUMP_DET group starting the next
   segment; SATURATED or DO_NOT_USE ends one; group 0 SATURATED voids the integration. One-group segments are
   dropped when a longer one exists. Each segment gets a slope, ``var_p`` and ``var_r`` (``_ramp_segments``).
3. Integration: ``1/VAR_R = Σ 1/var_r``, ``1/VAR_P = Σ 1/var_p`` (over ``var_p > 0``), slope ``= VAR_R·Σ s/var_r``
   (read-noise weights, stcal JP-4318), ``ERR = √(1/Σ 1/(var_p + var_r))``. Exposure: the same sums over all
   segments of all integrations, and ``ERR = √(VAR_P + VAR_R)``. A variance ≥ 1e6 is set to 0 (as is an ERR²
   above 1e6 for an integration), and the slope then uses that 0, as in stcal.
4. DQ: PIXELDQ, plus JUMP_DET/PERSISTENCE if any group has them; per integration DO_NOT_USE if every group is
   DO_NOT_USE/SATURATED and SATURATED if every group is, DO_NOT_USE|SATURATED if group 0 is SATURATED; for the
   exposure DO_NOT_USE/SATURATED if every integration has it. Where DQ then has DO_NOT_USE or SATURATED, the slope
   is NaN and the variances and ERR are 0. Finally SATURATED is added wherever any group saturated.

``NGROUPS = 1``: the slope is group 0 over ``(NFRAMES + 1)·TFRAME/2`` (stcal's "only group 0" timing). With
``suppress_one_group`` (stcal's ``ramp_fit`` default is off; jwst's step turns it on), ramps with exactly one good
group become DO_NOT_USE, except when NGROUPS = 1.

Two passes: pixels with no group flag in any integration (nearly all) are fitted row block by row block with the
closed forms of a one-segment ramp (``_ramp_clean``: selection-network medians, a tabulated symmetric weighted OLS,
float32); every other pixel (flags, NaN data, gain ≤ 0, zero read noise) is then gathered and refitted with
stcal's full rules (``_ramp_exact``: one-segment ramps by table, the rest labelled and summed with ``np.bincount``
in ``_ramp_general``). The float32 parts agree with stcal's double-precision C to ~1e-6 relative. Both passes fit
all integrations of a block together (per-integration fits are independent per (integration, pixel)); only the
sums over integrations run integration by integration, so the rounding is that of a per-integration loop.

Differences from stcal: a ZEROFRAME, CHARGELOSS read-noise recomputation, MIRI first/last-frame trimming and the
optional per-segment product are not supported; when group 0 is saturated in every pixel stcal returns nothing,
while this kernel returns NaN rates flagged DO_NOT_USE|SATURATED. Data are read in blocks of about 2 MiB; besides
the outputs, memory use is a few blocks.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
import numpy.typing as npt

from streamcal.dq import Pixel
from streamcal.kernels.ramp._order import _SELECT_NETWORK_MAX, selection_ops
from streamcal.kernels.ramp._ramp_clean import Workspace, fit_clean
from streamcal.kernels.ramp._ramp_exact import Outputs, Setup, fit_exact
from streamcal.kernels.ramp._ramp_segments import PixelInfo, coefficient_table

__all__ = ["RampFitResult", "fit_ramps"]

_BLOCK_ELEMENTS = 1 << 19
F32 = npt.NDArray[np.float32]


class RampFitResult(NamedTuple):
    """Output of :func:`fit_ramps`: rates in DN/s, variances in (DN/s)²."""

    rate: npt.NDArray[np.float32]  #: (ny, nx)
    err: npt.NDArray[np.float32]  #: (ny, nx)
    dq: npt.NDArray[np.uint32]  #: (ny, nx)
    var_poisson: npt.NDArray[np.float32]  #: (ny, nx)
    var_rnoise: npt.NDArray[np.float32]  #: (ny, nx)
    rateints: npt.NDArray[np.float32]  #: (nints, ny, nx)
    err_ints: npt.NDArray[np.float32]  #: (nints, ny, nx)
    dq_ints: npt.NDArray[np.uint32]  #: (nints, ny, nx)
    var_poisson_ints: npt.NDArray[np.float32]  #: (nints, ny, nx)
    var_rnoise_ints: npt.NDArray[np.float32]  #: (nints, ny, nx)
    n_bad_gain: int  #: pixels flagged NO_GAIN_VALUE | DO_NOT_USE
    n_general: int  #: pixel-integrations fitted by the general (multi-segment) path


def fit_ramps(
    data: npt.ArrayLike,
    groupdq: npt.ArrayLike,
    pixeldq: npt.ArrayLike,
    *,
    readnoise: npt.ArrayLike,
    gain: npt.ArrayLike,
    frame_time: float,
    group_time: float,
    nframes: int = 1,
    groupgap: int = 0,
    suppress_one_group: bool = False,
    average_dark_current: npt.ArrayLike | None = None,
) -> RampFitResult:
    """Fit slopes to ramps, stcal ``OLS_C`` with optimal weighting.

    Parameters
    ----------
    data : ndarray, shape (nints, ngroups, ny, nx), float32
        Ramps in DN.
    groupdq : ndarray, shape (nints, ngroups, ny, nx), uint8
        Group DQ (SATURATED, DO_NOT_USE, JUMP_DET, PERSISTENCE are interpreted).
    pixeldq : ndarray, shape (ny, nx), uint32
        Pixel DQ, copied into the output DQ.
    readnoise : ndarray, shape (ny, nx), float32
        CDS read noise in DN (the READNOISE reference). Not modified (stcal scales its argument in place).
    gain : ndarray, shape (ny, nx), float32
        Gain in e/DN; ≤ 0 or NaN flags the pixel NO_GAIN_VALUE | DO_NOT_USE (rate NaN).
    frame_time, group_time : float
        TFRAME and TGROUP in seconds.
    nframes, groupgap : int
        NFRAMES and GROUPGAP (GROUPGAP only enters through ``group_time``).
    suppress_one_group : bool
        Treat ramps with exactly one good group as unusable (ignored when NGROUPS = 1).
    average_dark_current : ndarray, shape (ny, nx), float32, optional
        Dark current in DN/s added to the Poisson variance (0 if omitted).

    Returns
    -------
    RampFitResult
        New arrays; inputs are never modified.

    Raises
    ------
    ValueError
        If shapes disagree or a time is not positive (not retriable).
    """
    del groupgap  # stcal uses it only for the optional pedestal product
    values, gdq, pdq, rn32, gain32, dark = _validate(
        data, groupdq, pixeldq, readnoise, gain, average_dark_current, frame_time, group_time, nframes
    )
    nints, ngroups, ny, nx = values.shape
    pixels = _PixelConsts(gain32.reshape(-1), rn32.reshape(-1), dark.reshape(-1), pdq.reshape(-1),
                          np.sqrt(2.0 * nframes))
    # Times are read as C floats by stcal.
    setup = Setup(float(np.float32(group_time)), (nframes + 1.0) * float(np.float32(frame_time)) / 2.0,
                  suppress_one_group and ngroups > 1, coefficient_table(ngroups), median_ops(ngroups))
    full = _allocate(nints, ny, nx)
    # NaN/inf arise by design (bad gain, zero read noise) and are resolved by the DQ rules, as in stcal's C code.
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        exact = _clean_pass(values, gdq, pixels, setup, full) if ngroups >= 3 else np.arange(ny * nx)
        n_general = _exact_pass(values, gdq, pixels, setup, full, exact)
    return RampFitResult(*full, n_bad_gain=int(np.count_nonzero(~(gain32 > 0))), n_general=n_general)


class _PixelConsts(NamedTuple):
    """Flat per-pixel inputs; :meth:`take` derives what the fits need for some pixels, without full-frame copies."""

    gain: F32
    readnoise: F32
    dark: F32
    pixeldq: npt.NDArray[np.uint32]
    rn_divisor: np.float64

    def take(self, idx: slice | npt.NDArray[np.intp]) -> tuple[tuple[F32, F32, F32], npt.NDArray[np.uint32]]:
        """((gain, per-group read noise in e⁻, dark), PIXELDQ with NO_GAIN_VALUE|DO_NOT_USE on bad gains)."""
        gain = self.gain[idx]
        # stcal's rounding: readnoise_2d *= gain_2d / np.sqrt(2·nframes) (a float64 product stored as float32).
        rnoise = (self.readnoise[idx] * (gain / self.rn_divisor)).astype(np.float32)
        bad = np.where(gain > 0, np.uint32(0), np.uint32(Pixel.DO_NOT_USE | Pixel.NO_GAIN_VALUE))
        return (gain, rnoise, self.dark[idx]), self.pixeldq[idx] | bad


def _clean_pass(values: F32, gdq: npt.NDArray[np.uint8], pixels: _PixelConsts, setup: Setup,
                full: Outputs) -> npt.NDArray[np.intp]:
    """Fit every pixel as clean, block by block; return the (flat) pixels that need the exact path."""
    nints, ngroups, ny, nx = values.shape
    rows = max(1, _BLOCK_ELEMENTS // (nints * ngroups * nx))
    # Integrations are fitted in batches of about one block (all at once unless a single row exceeds it).
    ws = Workspace(rows * nx, ngroups, min(nints, max(1, _BLOCK_ELEMENTS // (ngroups * rows * nx))))
    exact = []
    for r0 in range(0, ny, rows):
        r1 = min(ny, r0 + rows)
        consts, pixeldq = pixels.take(slice(r0 * nx, r1 * nx))
        found = fit_clean(values[:, :, r0:r1].reshape(nints, ngroups, -1),
                          gdq[:, :, r0:r1].reshape(nints, ngroups, -1), consts, pixeldq, setup,
                          _rows(full, r0, r1), ws)
        exact.append(found + r0 * nx)
    return np.concatenate(exact)


def _exact_pass(values: F32, gdq: npt.NDArray[np.uint8], pixels: _PixelConsts, setup: Setup, full: Outputs,
                todo: npt.NDArray[np.intp]) -> int:
    """Refit pixels ``todo`` (flat indices) with stcal's full rules, in chunks; overwrite their products."""
    nints, ngroups = values.shape[:2]
    chunk = max(1, _BLOCK_ELEMENTS // (nints * ngroups))
    npix = full.rate.size
    # (nints·ngroups, pixel) views (copies only for non-C-ordered input): a gather along the contiguous axis.
    vplanes = np.ascontiguousarray(values).reshape(nints * ngroups, -1)
    gplanes = np.ascontiguousarray(gdq).reshape(nints * ngroups, -1)
    n_general = 0
    for c0 in range(0, todo.size, chunk):
        pix = todo[c0:c0 + chunk]
        consts, pixeldq = pixels.take(pix)
        gain, rnoise, dark = (c.astype(np.float64) for c in consts)
        info = PixelInfo(gain=gain, rnoise=rnoise, dark=dark, median_rate=np.zeros(0))
        shape = (nints, ngroups, pix.size)
        part, n_gen = fit_exact(np.take(vplanes, pix, axis=1).reshape(shape),
                                np.take(gplanes, pix, axis=1).reshape(shape), info, pixeldq, setup)
        n_general += n_gen
        # Flat-index puts into the (C-contiguous) outputs: about twice as fast as ``dst[:, pix] = src``.
        per_int = (np.arange(nints)[:, None] * npix + pix).ravel()
        for dst, src in zip(full, part, strict=True):
            np.put(dst, pix if dst.ndim == 2 else per_int, src)
    return n_general


def _allocate(nints: int, ny: int, nx: int) -> Outputs:
    f2, f3 = (ny, nx), (nints, ny, nx)
    return Outputs(
        np.empty(f2, np.float32), np.empty(f2, np.float32), np.empty(f2, np.uint32), np.empty(f2, np.float32),
        np.empty(f2, np.float32), np.empty(f3, np.float32), np.empty(f3, np.float32), np.empty(f3, np.uint32),
        np.empty(f3, np.float32), np.empty(f3, np.float32),
    )


def _rows(full: Outputs, r0: int, r1: int) -> Outputs:
    """Flat views of rows ``r0:r1`` (the outputs are C-contiguous, so these reshapes never copy)."""
    nints = full.rateints.shape[0]
    return Outputs(*(a[r0:r1].reshape(-1) for a in full[:5]),  # type: ignore[arg-type]
                   *(a[:, r0:r1].reshape(nints, -1) for a in full[5:]))


def _validate(
    data: npt.ArrayLike, groupdq: npt.ArrayLike, pixeldq: npt.ArrayLike, readnoise: npt.ArrayLike,
    gain: npt.ArrayLike, dark: npt.ArrayLike | None, frame_time: float, group_time: float, nframes: int,
) -> tuple[npt.NDArray[np.float32], npt.NDArray[np.uint8], npt.NDArray[np.uint32], npt.NDArray[np.float32],
           npt.NDArray[np.float32], npt.NDArray[np.float32]]:
    values = np.asarray(data, dtype=np.float32)
    gdq = np.asarray(groupdq).astype(np.uint8, copy=False)
    pdq = np.asarray(pixeldq).astype(np.uint32, copy=False)
    rn32 = np.asarray(readnoise, dtype=np.float32)
    gain32 = np.asarray(gain, dtype=np.float32)
    dark32 = np.broadcast_to(np.float32(0), gain32.shape) if dark is None else np.asarray(dark, dtype=np.float32)
    if values.ndim != 4 or gdq.shape != values.shape:
        raise ValueError(f"data {values.shape} and groupdq {gdq.shape} must be equal 4-D shapes")
    for name, arr in (("pixeldq", pdq), ("readnoise", rn32), ("gain", gain32), ("average_dark_current", dark32)):
        if arr.shape != values.shape[2:]:
            raise ValueError(f"{name} has shape {arr.shape}, expected {values.shape[2:]}")
    if not (frame_time > 0 and group_time > 0 and nframes >= 1):
        raise ValueError(f"need frame_time, group_time > 0 and nframes >= 1, got {frame_time}, {group_time}, {nframes}")
    return values, gdq, pdq, rn32, gain32, dark32


def median_ops(ngroups: int) -> list[tuple[int, int, bool, bool]]:
    """Selection network for the median of the ``ngroups − 1`` first differences."""
    k = ngroups - 1
    return selection_ops(k, ((k - 1) // 2, k // 2)) if 1 <= k <= _SELECT_NETWORK_MAX else []
