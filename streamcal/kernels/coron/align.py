"""align_refs (``jwst_spec.md`` §5.10): shift and scale PSF-reference images onto a science image.

Per reference image: bad pixels (non-finite, or flagged by the caller) are filled with the mean of the good
pixels in a 5×5 box (jwst uses a median in a box: simplified); the integer offset comes from the peak of the
weighted FFT cross-correlation, then ``(dx, dy, scale)`` are refined by least squares on the weighted pixels
(``weight``: jwst's PSFMASK, the coronagraph core and the edges excluded) with the reference moved by a Fourier
shift (``scipy.ndimage.fourier_shift``; periodic, so the edges must carry no weight), then refitted with scipy's
bounded ``arctan`` loss at 3 robust standard deviations of the first fit's residuals, so that a companion or a
cosmic ray in the science image pulls the references less (jwst's fit is plain least squares; a companion of
1e-4 at 3 λ/D still moves the fit by ~0.005 px, which costs ~1 % of its flux, issue 12). The aligned reference is
``scale × shift(reference, dx, dy)``: it matches the science image in position and brightness. Source: jwst's
``coron/imageregistration.py`` (fit of shift and scale to the first science integration), re-derived.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
import numpy.typing as npt
from scipy.ndimage import fourier_shift, uniform_filter
from scipy.optimize import least_squares

__all__ = ["AlignResult", "align_references", "fill_bad_pixels", "shift_image"]

F32 = npt.NDArray[np.float32]
F64 = npt.NDArray[np.float64]
_FILL_BOX = 5
#: Scale of the robust refit's loss, in robust standard deviations of the first fit's residuals.
_ROBUST_SCALE = 3.0


class AlignResult(NamedTuple):
    """The aligned references and how each was moved."""

    aligned: F32  # (nrefs, ny, nx): scale × reference shifted by (dx, dy)
    shifts: F64  # (nrefs, 2): (dx, dy) px applied to each reference
    scales: F64  # (nrefs,)


def fill_bad_pixels(image: npt.ArrayLike, bad: npt.NDArray[np.bool_] | None = None) -> F64:
    """A copy of ``image`` (2-D) with non-finite and ``bad`` pixels replaced by the mean of the good pixels in a
    5×5 box around them (0 where the box has none)."""
    data = np.asarray(image, dtype=np.float64)
    good = np.isfinite(data) if bad is None else np.isfinite(data) & ~bad
    filled = np.where(good, data, 0.0)
    with np.errstate(invalid="ignore", divide="ignore"):
        local = uniform_filter(filled, _FILL_BOX, mode="constant") / uniform_filter(good.astype(float), _FILL_BOX,
                                                                                     mode="constant")
    return np.where(good, data, np.where(np.isfinite(local), local, 0.0))


def shift_image(image: npt.ArrayLike, dx: float, dy: float) -> F64:
    """``image`` moved by ``(dx, dy)`` px (+x right, +y up the array) with a Fourier shift (periodic)."""
    spectrum = fourier_shift(np.fft.fft2(np.asarray(image, dtype=np.float64)), (dy, dx))
    out: F64 = np.fft.ifft2(spectrum).real
    return out


def _integer_offset(target: F64, ref: F64, weight: F64) -> tuple[int, int]:
    cc = np.fft.ifft2(np.fft.fft2(target * weight) * np.conj(np.fft.fft2(ref * weight))).real
    iy, ix = np.unravel_index(int(np.argmax(cc)), cc.shape)
    ny, nx = cc.shape
    return (int(ix) - nx if ix > nx // 2 else int(ix)), (int(iy) - ny if iy > ny // 2 else int(iy))


def align_references(refs: npt.ArrayLike, target: npt.ArrayLike, *, weight: npt.ArrayLike,
                     bad: npt.NDArray[np.bool_] | None = None) -> AlignResult:
    """Align each reference image to ``target``.

    Parameters
    ----------
    refs : ndarray, shape (nrefs, ny, nx)
        The PSF references (one plane per reference integration; not modified).
    target : ndarray, shape (ny, nx)
        The science image to align to (bad pixels filled the same way).
    weight : ndarray, shape (ny, nx)
        ≥ 0 weight of each pixel in the fit (0 on the coronagraph core, the edges and bad science pixels).
    bad : ndarray of bool, shape (nrefs, ny, nx), optional
        Reference pixels not to use (filled before shifting).

    Returns
    -------
    AlignResult

    Raises
    ------
    ValueError
        Shapes disagree or the weight is zero everywhere. Not retriable.
    """
    stack = np.asarray(refs, dtype=np.float64)
    w = np.asarray(weight, dtype=np.float64)
    if stack.ndim != 3 or stack.shape[1:] != np.shape(target) or w.shape != stack.shape[1:]:
        raise ValueError(f"align_refs needs refs (n, ny, nx), target and weight (ny, nx): got {stack.shape}, "
                         f"{np.shape(target)}, {w.shape}")
    if not np.any(w > 0):
        raise ValueError("align_refs: the weight is zero everywhere (the mask leaves no pixels to fit)")
    tgt = fill_bad_pixels(target)
    sqrt_w = np.sqrt(w)
    aligned = np.empty(stack.shape, np.float32)
    shifts = np.zeros((stack.shape[0], 2))
    scales = np.ones(stack.shape[0])
    for k, plane in enumerate(stack):
        ref = fill_bad_pixels(plane, None if bad is None else bad[k])
        ix, iy = _integer_offset(tgt, ref, w)
        scale0 = float(np.sum(w * tgt * ref) / max(np.sum(w * ref * ref), 1e-300))

        def residual(p: F64, ref: F64 = ref) -> F64:
            out: F64 = (sqrt_w * (tgt - p[2] * shift_image(ref, p[0], p[1]))).ravel()
            return out

        x_scale = np.array([0.1, 0.1, abs(scale0) or 1.0])
        fit = least_squares(residual, x0=np.array([ix, iy, scale0], float), x_scale=x_scale)
        # refit robustly: a companion in the science image (or a cosmic ray) must not pull the references
        spread = 1.4826 * float(np.median(np.abs(fit.fun[w.ravel() > 0])))
        if spread > 0:
            fit = least_squares(residual, x0=fit.x, x_scale=x_scale, loss="arctan", f_scale=_ROBUST_SCALE * spread)
        dx, dy, scale = (float(v) for v in fit.x)
        shifts[k], scales[k] = (dx, dy), scale
        aligned[k] = (scale * shift_image(ref, dx, dy)).astype(np.float32)
    return AlignResult(aligned, shifts, scales)
