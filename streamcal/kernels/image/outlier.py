"""outlier_detection for imaging (``jwst_spec.md`` §5.7): flag cosmic rays that ramp fitting missed.

With ``resample_data`` (the default):

1. Each exposure group (the detectors of one exposure, by jwst's group_id keywords; an input missing any of
   them is a group of one) is
   drizzled on its own onto the common grid (:func:`streamcal.kernels.image.resample.output_wcs` of all inputs).
2. In each of those mosaics, pixels whose weight is < ``maskpt`` × the 3σ-clipped mean non-zero weight
   become NaN (stcal ``compute_weight_threshold``).
3. The mosaics are median-combined pixel by pixel, ignoring NaN.
4. The median is blotted back onto every input frame (poly5; near the mosaic's empty regions, where poly5
   reaches a NaN, the bilinear blot fills in; where that is NaN too the pixel is not tested: a
   nearest-pixel fill put wrong values on star cores at frame edges).
5. ``deriv`` = max |difference to the 4 neighbours| of the blotted image.
6. ``mask1 = |sci − bkg − blot − backg| > scale1·deriv + snr1·err`` grown by a 3×3 box (any neighbour set), and
   ``mask2`` likewise with ``(snr2, scale2)``; a pixel is an outlier if both hold (jwst ``flag_crs``).

Without resampling, the inputs (same shape) are median-combined directly and ``|sci − median| > snr1·err``.
Outliers get DQ ``DO_NOT_USE|OUTLIER`` and NaN in SCI, ERR and every VAR_* array. The deriv term is what
protects undersampled star cores (spacetelescope/jwst#9989): the blotted median is smoother than a single
frame exactly where the image changes fastest.
"""

from __future__ import annotations

import contextlib
import math
import tempfile
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

import numpy as np
import numpy.typing as npt
from astropy.stats import sigma_clip
from astropy.wcs import WCS
from scipy import ndimage

from streamcal.dq import Pixel
from streamcal.errors import BadDataShapeError, InvalidInputError
from streamcal.kernels.image.resample import (
    ResampleParams,
    background_level,
    blot,
    check_images,
    good_mask,
    output_wcs,
    resample,
)
from streamcal.models.image import ImageData

__all__ = ["OutlierParams", "OutlierResult", "flag_cosmic_rays", "flag_outliers", "weight_threshold"]

F32 = npt.NDArray[np.float32]
Mask = npt.NDArray[np.bool_]
#: Primary keywords that identify one exposure (jwst's group_id); its detectors share one mosaic.
_EXPOSURE_KEYS = ("PROGRAM", "OBSERVTN", "VISIT", "VISITGRP", "SEQ_ID", "ACT_ID", "EXPOSURE")
_BOX = np.ones((3, 3), dtype=bool)


@dataclass(frozen=True, slots=True, kw_only=True)
class OutlierParams:
    """Parameters of outlier_detection for imaging (jwst defaults).

    Attributes
    ----------
    weight_type, pixfrac, kernel, fillval : as :class:`~streamcal.kernels.image.resample.ResampleParams`
    maskpt : float
        Mosaic pixels with weight < maskpt × median weight are left out of the median.
    snr, scale : (float, float)
        Thresholds of the two passes, in units of ERR and of the blotted image's derivative.
    backg : float
        Background added to the blotted median.
    good_bits : str
        DQ bits usable for the median.
    resample_data : bool
        False: median the inputs directly (they must share one grid).
    in_memory_bytes : int
        The per-group mosaics are kept in memory up to this size; a larger stack goes to a temporary
        memory-mapped file and the median is taken in row blocks (jwst ``in_memory=False``; the full-size
        per-exposure mosaics are what killed image3 on large visits, jwst#8035).
    """

    weight_type: str = "ivm"
    pixfrac: float = 1.0
    kernel: str = "square"
    fillval: float = math.nan
    maskpt: float = 0.7
    snr: tuple[float, float] = (5.0, 4.0)
    scale: tuple[float, float] = (1.2, 0.7)
    backg: float = 0.0
    good_bits: str = "~DO_NOT_USE"
    resample_data: bool = True
    in_memory_bytes: int = 1 << 30

    def __post_init__(self) -> None:
        # jwst parameter files spell these as strings ("5.0 4.0"); keep one form inside
        for name in ("snr", "scale"):
            object.__setattr__(self, name, _pair(getattr(self, name), name))


def _pair(value: object, name: str) -> tuple[float, float]:
    items = value.replace(",", " ").split() if isinstance(value, str) else value
    try:
        first, second = (float(v) for v in items)  # type: ignore[attr-defined]
    except (TypeError, ValueError) as exc:
        raise InvalidInputError(f"{name} must be two numbers such as '5.0 4.0', not {value!r}") from exc
    return first, second


class OutlierResult(NamedTuple):
    """New images with outliers flagged, the count per image, and the median image with its grid."""

    images: list[ImageData]
    n_flagged: list[int]
    median: F32
    median_wcs: WCS


def _groups(images: Sequence[ImageData]) -> list[list[int]]:
    """Indices of the inputs, grouped by exposure (input order kept)."""
    groups: dict[object, list[int]] = {}
    for i, image in enumerate(images):
        values = tuple(image.primary.get(k) for k in _EXPOSURE_KEYS)
        # only a complete exposure identity groups inputs: a partial one could merge different exposures
        key: object = ("input", i) if any(v is None for v in values) else values
        groups.setdefault(key, []).append(i)
    return list(groups.values())


def _nanmedian(stack: F32) -> F32:
    """NaN-median over axis 0, in row blocks of ~64 MiB (a memory-mapped stack is read a block at a time)."""
    n, ny, nx = stack.shape
    rows = max(1, (64 << 20) // max(1, n * nx * 4))
    out = np.empty((ny, nx), dtype=np.float32)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN pixels stay NaN on purpose
        for y0 in range(0, ny, rows):
            out[y0:y0 + rows] = np.nanmedian(np.asarray(stack[:, y0:y0 + rows]), axis=0)
    return out


def _median_mosaic(images: Sequence[tuple[ImageData, WCS]], out_wcs: WCS, params: OutlierParams) -> F32:
    rparams = ResampleParams(pixfrac=params.pixfrac, kernel=params.kernel, fillval=math.nan,
                             weight_type=params.weight_type, good_bits=params.good_bits)
    nx, ny = out_wcs.pixel_shape
    groups = _groups([image for image, _ in images])
    shape = (len(groups), int(ny), int(nx))
    with contextlib.ExitStack() as stack_files:
        if 4 * math.prod(shape) > params.in_memory_bytes:
            folder = stack_files.enter_context(tempfile.TemporaryDirectory(prefix="streamcal-outlier-"))
            stack: F32 = np.lib.format.open_memmap(Path(folder) / "stack.npy", mode="w+", dtype=np.float32,
                                                   shape=shape)
        else:
            stack = np.empty(shape, dtype=np.float32)
        for g, members in enumerate(groups):
            mosaic = resample([images[i] for i in members], params=rparams, out_wcs=out_wcs, variance=False)
            threshold = weight_threshold(mosaic.wht, params.maskpt)
            stack[g] = np.where(mosaic.wht >= threshold, mosaic.sci, np.nan)  # threshold inf: all NaN
            del mosaic
        median = _nanmedian(stack)
        del stack
    return median


def _blot_filled(median: F32, median_wcs: WCS, wcs: WCS, shape: tuple[int, int]) -> F32:
    out = blot(median, median_wcs, wcs, shape)
    for interp in ("linear",):
        missing = ~np.isfinite(out)
        if not missing.any():
            break
        out = np.where(missing, blot(median, median_wcs, wcs, shape, interp=interp), out)
    return out


def _abs_deriv(image: F32) -> F32:
    """Max |difference| to the 4 neighbours, NaN where the image is NaN (stcal ``_abs_deriv``, same results)."""
    out = np.zeros_like(image)
    out[np.isnan(image)] = np.nan
    with np.errstate(invalid="ignore"):
        rows = np.abs(np.diff(image, axis=0))
        np.putmask(out[1:], np.isfinite(rows), rows)
        np.putmask(out[:-1], rows > out[:-1], rows)
        cols = np.abs(np.diff(image, axis=1))
        np.putmask(out[:, 1:], cols > out[:, 1:], cols)
        np.putmask(out[:, :-1], cols > out[:, :-1], cols)
    return out


def weight_threshold(weight: F32, maskpt: float) -> float:
    """``maskpt`` × the 3σ-clipped mean of the non-zero finite weights (jwst/stcal ``compute_weight_threshold``)."""
    values = weight[np.isfinite(weight) & (weight != 0)]
    if values.size == 0:
        return math.inf
    clipped = sigma_clip(values, sigma=3, maxiters=5, masked=False, copy=False)
    return float(np.mean(clipped, dtype=np.float64)) * maskpt


def flag_cosmic_rays(sci: F32, err: F32, blotted: F32, *, params: OutlierParams) -> Mask:
    """jwst's imaging test (stcal ``flag_resampled_crs``): ``|sci − blot − backg| > scale·deriv + snr·err`` with
    the first (snr, scale) grown by a 3×3 box AND the second; True = outlier."""
    diff = np.abs(sci - blotted - np.float32(params.backg))
    deriv = _abs_deriv(blotted)
    err = np.nan_to_num(err)  # as stcal: a NaN error leaves only the derivative term
    with np.errstate(invalid="ignore"):
        mask1 = diff > params.scale[0] * deriv + params.snr[0] * err
        mask2 = diff > params.scale[1] * deriv + params.snr[1] * err
    grown = ndimage.binary_dilation(mask1, structure=_BOX)
    return np.asarray(grown & mask2, dtype=bool)


def _apply(image: ImageData, outliers: Mask) -> ImageData:
    nan = np.float32(np.nan)
    dq = image.dq | np.where(outliers, np.uint32(Pixel.DO_NOT_USE | Pixel.OUTLIER), np.uint32(0))
    var_flat = None if image.var_flat is None else np.where(outliers, nan, image.var_flat)
    return image.replace(sci=np.where(outliers, nan, image.sci), err=np.where(outliers, nan, image.err),
                         dq=dq.astype(np.uint32), var_poisson=np.where(outliers, nan, image.var_poisson),
                         var_rnoise=np.where(outliers, nan, image.var_rnoise), var_flat=var_flat)


def flag_outliers(images: Sequence[tuple[ImageData, WCS]], *, params: OutlierParams = OutlierParams(),
                  out_wcs: WCS | None = None) -> OutlierResult:
    """Flag outliers against the median of the other exposures.

    Parameters
    ----------
    images : sequence of (ImageData, astropy.wcs.WCS)
        2-D calibrated images (MJy/sr); not modified.
    params : OutlierParams
    out_wcs : astropy.wcs.WCS, optional
        Grid of the median; default :func:`~streamcal.kernels.image.resample.output_wcs` of the inputs.

    Returns
    -------
    OutlierResult
        ``images`` are new objects; setting S_OUTLIR is the caller's job.

    Raises
    ------
    BadDataShapeError
        An input is not 2-D, or (``resample_data=False``) the inputs differ in shape. Not retriable.
    MosaicTooLargeError
        The common grid is absurdly large (bad pointing). Not retriable.
    """
    check_images(images, "outlier_detection")
    if params.resample_data:
        if out_wcs is None:
            out_wcs = output_wcs([w for _, w in images])
        median = _median_mosaic(images, out_wcs, params)
        median_wcs = out_wcs
    else:
        median, median_wcs = _median_direct(images, params)
    flagged: list[ImageData] = []
    counts: list[int] = []
    for image, wcs in images:
        if params.resample_data:
            blotted = _blot_filled(median, median_wcs, wcs, image.shape)
            sci = image.sci - np.float32(background_level(image))
            outliers = flag_cosmic_rays(sci, image.err, blotted, params=params)
        else:
            with np.errstate(invalid="ignore"):
                outliers = np.abs(image.sci - np.float32(background_level(image)) - median) > params.snr[0] * image.err
        outliers &= np.isfinite(image.sci)  # already-bad pixels are not new outliers
        flagged.append(_apply(image, outliers))
        counts.append(int(outliers.sum()))
    return OutlierResult(images=flagged, n_flagged=counts, median=median, median_wcs=median_wcs)


def _median_direct(images: Sequence[tuple[ImageData, WCS]], params: OutlierParams) -> tuple[F32, WCS]:
    shapes = {image.shape for image, _ in images}
    if len(shapes) != 1:
        raise BadDataShapeError(f"resample_data=False needs inputs of one shape, got {sorted(shapes)}")
    stack = np.stack([np.where(good_mask(image, params.good_bits), image.sci - np.float32(background_level(image)),
                               np.float32(np.nan)) for image, _ in images]).astype(np.float32)
    return _nanmedian(stack), images[0][1]
