"""wfs_combine: one WFS&C dither pair of ``_cal`` images into one ``_wfscmb`` image (jwst_spec.md §5.13).

The algorithm of jwst's ``WfsCombineStep`` (``jwst/wfs_combine/wfs_combine.py``), simplified to our TAN WCS:

1. Map the centre pixel of image 1 to RA/Dec with its WCS and back to a pixel of image 2 with image 2's WCS;
   the offset, rounded to integers, is ``(dx, dy)``: image-2 pixel ``(x + dx, y + dy)`` sees what image-1
   pixel ``(x, y)`` sees.
2. With ``flip_dithers`` and ``dx < 0`` the two images swap roles and the offset is recomputed, so the
   reference image (and the output's headers and WCS) is always the one on the left of the pair.
3. Optional refine (``do_refine``): bad pixels of both images are filled with the mean of the good pixels of
   a ``(2·n_size + 1)²`` box; image 1 is Gaussian-smoothed (σ = ``blur_size``); the centroid of the
   smoothed pixels above 50 % of its peak centres a ``psf_size`` box cut from image 1 and, at the WCS
   offset, from image 2; the integer lag of the boxes' cross-correlation peak is added to ``(dx, dy)``.
4. Image 2 is shifted by the integer offset only (no interpolation); pixels shifted in from outside image 2
   are bad (DO_NOT_USE).
5. Per pixel: both good → SCI and ERR are the mean of the two, DQ 0; one good → that image's SCI and ERR,
   DQ 0; both bad → SCI = ERR = 0 and DQ = DQ1 | DQ2 | DO_NOT_USE.

"Good" means the DQ has no DO_NOT_USE bit **and** SCI is finite. jwst tests the DO_NOT_USE bit (not
``DQ == 0``), so informational flags such as JUMP_DET on an otherwise good pixel do not discard it; a NaN
cannot be averaged, so we also treat non-finite SCI as bad (jwst's cal products flag those DO_NOT_USE
anyway). VAR_POISSON/VAR_RNOISE (not part of ``_wfscmb``) are combined by the same rule as ERR.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
import numpy.typing as npt
from astropy.wcs import WCS
from scipy.ndimage import gaussian_filter, uniform_filter
from scipy.signal import correlate

from streamcal.dq import Pixel
from streamcal.errors import BadDataShapeError
from streamcal.models.image import ImageData, good_mask

__all__ = ["WfsCombineResult", "combine_pair", "wcs_offset"]

F32 = npt.NDArray[np.float32]
U32 = npt.NDArray[np.uint32]
_DNU = np.uint32(Pixel.DO_NOT_USE)


class WfsCombineResult(NamedTuple):
    """The combined image and how the pair was aligned.

    Attributes
    ----------
    image : ImageData
        SCI/ERR/DQ (and VAR_POISSON/VAR_RNOISE) of the reference image's shape; headers of the reference
        image (image 1 after any swap) with ``S_WFSCOM = COMPLETE`` in the primary header.
    dx, dy : int
        Final offset: image-2 pixel ``(x + dx, y + dy)`` was combined with reference pixel ``(x, y)``.
    swapped : bool
        Whether ``flip_dithers`` swapped the images (the reference is then the second input).
    """

    image: ImageData
    dx: int
    dy: int
    swapped: bool


def wcs_offset(shape1: tuple[int, int], wcs1: WCS, wcs2: WCS) -> tuple[int, int]:
    """Integer ``(dx, dy)`` of image 2 relative to image 1, from the centre pixel of image 1 (step 1)."""
    x1, y1 = shape1[1] // 2, shape1[0] // 2
    ra, dec = wcs1.pixel_to_world_values(float(x1), float(y1))
    x2, y2 = wcs2.world_to_pixel_values(ra, dec)
    return int(np.round(float(x2) - x1)), int(np.round(float(y2) - y1))


def _fill_bad(sci: np.ndarray, good: npt.NDArray[np.bool_], n_size: int) -> npt.NDArray[np.float64]:
    """Bad pixels replaced by the mean of the good ones in a ``(2n+1)²`` box (0 where the box has none)."""
    values = np.where(good, sci, 0.0).astype(np.float64)
    size = 2 * n_size + 1
    total = uniform_filter(values, size=size, mode="constant")
    count = uniform_filter(good.astype(np.float64), size=size, mode="constant")
    mean = np.divide(total, count, out=np.zeros_like(total), where=count > 1e-9)
    return np.where(good, values, mean)


def _box(centre: int, half: int, n: int, offset: int, n2: int) -> slice | None:
    """The rows (or columns) of a box around ``centre`` inside image 1 (size ``n``) and, shifted by
    ``offset``, inside image 2 (size ``n2``); None when the two do not overlap."""
    lo = max(centre - half, 0, -offset)
    hi = min(centre + half, n, n2 - offset)
    return slice(lo, hi) if hi - lo >= 2 else None


def _refine(image1: ImageData, image2: ImageData, dx: int, dy: int, *, psf_size: int, blur_size: float,
            n_size: int) -> tuple[int, int]:
    """The correction to ``(dx, dy)`` from cross-correlating boxes around image 1's brightest source."""
    a = _fill_bad(image1.sci, good_mask(image1, "~DO_NOT_USE"), n_size)
    b = _fill_bad(image2.sci, good_mask(image2, "~DO_NOT_USE"), n_size)
    smooth = gaussian_filter(a, sigma=blur_size)
    peak = float(smooth.max())
    if not peak > 0:
        return 0, 0
    yy, xx = np.nonzero(smooth > 0.5 * peak)
    weights = smooth[yy, xx]
    cy, cx = (round(float(np.average(yy, weights=weights))), round(float(np.average(xx, weights=weights))))
    half = max(psf_size // 2, 1)
    rows = _box(cy, half, a.shape[0], dy, b.shape[0])
    cols = _box(cx, half, a.shape[1], dx, b.shape[1])
    if rows is None or cols is None:
        return 0, 0
    box1 = a[rows, cols]
    box2 = b[rows.start + dy:rows.stop + dy, cols.start + dx:cols.stop + dx]
    corr = correlate(box2 - box2.mean(), box1 - box1.mean(), mode="full", method="fft")
    if not np.isfinite(corr).all() or float(np.ptp(corr)) == 0.0:
        return 0, 0
    ky, kx = np.unravel_index(int(np.argmax(corr)), corr.shape)
    return int(kx) - (box1.shape[1] - 1), int(ky) - (box1.shape[0] - 1)


def _shifted(image: ImageData, shape: tuple[int, int], dx: int, dy: int) -> dict[str, np.ndarray]:
    """Image 2 on the reference grid: out[y, x] = image[y + dy, x + dx]; outside image 2 → DO_NOT_USE."""
    ny, nx = shape
    out: dict[str, np.ndarray] = {
        "sci": np.zeros(shape, np.float32), "err": np.zeros(shape, np.float32),
        "var_poisson": np.zeros(shape, np.float32), "var_rnoise": np.zeros(shape, np.float32),
        "dq": np.full(shape, _DNU, np.uint32),
    }
    ny2, nx2 = image.shape
    y0, y1 = max(0, -dy), min(ny, ny2 - dy)
    x0, x1 = max(0, -dx), min(nx, nx2 - dx)
    if y1 > y0 and x1 > x0:
        for name in out:
            out[name][y0:y1, x0:x1] = getattr(image, name)[y0 + dy:y1 + dy, x0 + dx:x1 + dx]
    return out


def _combine(image1: ImageData, two: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    good1 = good_mask(image1, "~DO_NOT_USE")
    good2 = ((two["dq"] & _DNU) == 0) & np.isfinite(two["sci"])
    both, only1, only2 = good1 & good2, good1 & ~good2, ~good1 & good2
    out: dict[str, np.ndarray] = {}
    for name in ("sci", "err", "var_poisson", "var_rnoise"):
        a = getattr(image1, name).astype(np.float32, copy=False)
        b = two[name]
        value = np.zeros(a.shape, np.float32)
        value[both] = 0.5 * (a[both] + b[both])
        value[only1] = a[only1]
        value[only2] = b[only2]
        out[name] = value
    bad = ~(good1 | good2)
    out["dq"] = np.where(bad, image1.dq | two["dq"] | _DNU, np.uint32(0)).astype(np.uint32)
    return out


def _check(image: ImageData, label: str) -> None:
    if image.sci.ndim != 2:
        raise BadDataShapeError(f"wfs_combine: {label} ({image.root}) SCI is {image.sci.ndim}-D; "
                                f"a WFS&C pair is two 2-D _cal images")


def combine_pair(image1: ImageData, image2: ImageData, *, wcs1: WCS, wcs2: WCS, do_refine: bool = False,
                 flip_dithers: bool = True, psf_size: int = 100, blur_size: float = 10, n_size: int = 2
                 ) -> WfsCombineResult:
    """Combine a WFS&C dither pair (jwst_spec.md §5.13). The inputs are never modified.

    Parameters
    ----------
    image1, image2 : ImageData
        2-D ``_cal`` images (SCI/ERR float32, DQ uint32); the shapes may differ.
    wcs1, wcs2 : astropy.wcs.WCS
        Their celestial WCS (:func:`streamcal.kernels.image.wcs.imaging_wcs`).
    do_refine : bool
        Refine the WCS offset by cross-correlation (step 3).
    flip_dithers : bool
        Make the image with the larger x position on the sky the second one (swap when ``dx < 0``).
    psf_size : int
        Side of the cross-correlation boxes, pixels.
    blur_size : float
        σ of the Gaussian smoothing used to find the source, pixels.
    n_size : int
        Half-width of the box whose good pixels fill bad ones before the cross-correlation.

    Returns
    -------
    WfsCombineResult

    Raises
    ------
    BadDataShapeError
        An input is not 2-D. Not retriable.
    """
    _check(image1, "image 1")
    _check(image2, "image 2")
    dx, dy = wcs_offset(image1.shape, wcs1, wcs2)
    swapped = False
    if flip_dithers and dx < 0:
        image1, image2, wcs1, wcs2 = image2, image1, wcs2, wcs1
        dx, dy = wcs_offset(image1.shape, wcs1, wcs2)
        swapped = True
    if do_refine:
        cx, cy = _refine(image1, image2, dx, dy, psf_size=psf_size, blur_size=blur_size, n_size=n_size)
        dx, dy = dx + cx, dy + cy
    combined = _combine(image1, _shifted(image2, image1.shape, dx, dy))
    image = image1.replace(**combined, var_flat=None, area=None,
                           primary={**image1.primary, "S_WFSCOM": "COMPLETE"})
    return WfsCombineResult(image, dx, dy, swapped)
