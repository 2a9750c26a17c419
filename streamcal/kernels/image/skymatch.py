"""skymatch (``jwst_spec.md`` §5.6): equalise the sky levels of the images of one mosaic.

Sky statistics are sigma-clipped (``nclip`` passes of ``[mean − lsigma·σ, mean + usigma·σ]``, as stsci
imagestats) over good pixels (``dqbits``, finite SCI), then either the median or the histogram mode (bins of
0.1σ, peak refined by a parabola through the neighbouring bins, as imagestats).

- ``"local"``: each image's own sky statistic.
- ``"global"``: every image gets the minimum of the local skies.
- ``"match"`` (default): relative offsets from the overlaps only. For each pair of images, the pixels of one are
  mapped (nearest pixel) into the other; the difference of the two sky statistics over that common patch of
  sky is one equation ``s_i − s_j = d_ij`` weighted by the number of pixels. The weighted least-squares
  solution of each connected group of images is shifted so its lowest image is 0 ("match down"); an image
  that overlaps nothing gets 0.

The result goes into BKGLEVEL with BKGSUB = F (resample subtracts it), or with ``subtract`` the data are
subtracted and BKGSUB = T.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np
import numpy.typing as npt
from astropy.wcs import WCS
from scipy.sparse.csgraph import connected_components

from streamcal.errors import InvalidInputError
from streamcal.kernels.image.resample import check_images, pixel_map
from streamcal.models.image import ImageData, good_mask

__all__ = ["SkyMatchParams", "SkyResult", "match_sky", "sky_statistic"]

F64 = npt.NDArray[np.float64]
_METHODS = ("match", "global", "local")
_STATS = ("mode", "median")
#: Pairs sharing fewer good pixels than this are treated as not overlapping.
_MIN_OVERLAP = 25
_BINWIDTH_SIGMA = 0.1


@dataclass(frozen=True, slots=True, kw_only=True)
class SkyMatchParams:
    """Parameters of skymatch (jwst defaults).

    Attributes
    ----------
    skymethod : str
        ``"match"``, ``"global"`` or ``"local"``.
    skystat : str
        ``"mode"`` or ``"median"`` of the clipped pixels.
    nclip : int
        Sigma-clipping passes.
    lsigma, usigma : float
        Lower and upper clipping limits in σ.
    subtract : bool
        Subtract the level from SCI (BKGSUB = T) instead of only recording it.
    dqbits : str
        DQ bits usable for the statistics.
    """

    skymethod: str = "match"
    skystat: str = "mode"
    nclip: int = 5
    lsigma: float = 4.0
    usigma: float = 4.0
    subtract: bool = False
    dqbits: str = "~DO_NOT_USE+NON_SCIENCE"

    def __post_init__(self) -> None:
        if self.skymethod not in _METHODS:
            raise InvalidInputError(f"skymethod must be one of {_METHODS}, not {self.skymethod!r}")
        if self.skystat not in _STATS:
            raise InvalidInputError(f"skystat must be one of {_STATS}, not {self.skystat!r}")


class SkyResult(NamedTuple):
    """New images with BKGLEVEL/BKGSUB set (or the sky subtracted), and the level of each."""

    images: list[ImageData]
    levels: list[float]


def _mode(values: F64, sigma: float) -> float:
    width = _BINWIDTH_SIGMA * sigma
    lo = float(values.min())
    nbins = int((float(values.max()) - lo) / width) + 1 if width > 0 else 1
    if nbins <= 2:
        return float(values.mean())
    hist = np.bincount(np.minimum(((values - lo) / width).astype(np.int64), nbins - 1), minlength=nbins)
    peak = int(np.argmax(hist))
    centre = lo + (peak + 0.5) * width
    if peak == 0 or peak == nbins - 1:
        return centre
    dh1 = float(hist[peak] - hist[peak - 1])
    dh2 = float(hist[peak] - hist[peak + 1])
    if dh1 + dh2 == 0:
        return centre
    return centre + 0.5 * width * (dh1 - dh2) / (dh1 + dh2)


def sky_statistic(values: npt.ArrayLike, *, params: SkyMatchParams = SkyMatchParams()) -> float:
    """The sigma-clipped sky statistic of ``values`` (finite ones only); NaN when none are left."""
    data = np.asarray(values, dtype=np.float64).ravel()
    data = data[np.isfinite(data)]
    for _ in range(params.nclip):
        if data.size < 2:
            break
        mean, std = float(data.mean()), float(data.std())
        kept = data[(data >= mean - params.lsigma * std) & (data <= mean + params.usigma * std)]
        if kept.size == data.size:
            break
        data = kept
    if data.size == 0:
        return math.nan
    if params.skystat == "median" or data.size < 2:
        return float(np.median(data))
    return _mode(data, float(data.std()))


def _pair_difference(a: tuple[ImageData, WCS, npt.NDArray[np.bool_]], b: tuple[ImageData, WCS,
                     npt.NDArray[np.bool_]], params: SkyMatchParams) -> tuple[float, int]:
    """``sky_a − sky_b`` over their common good pixels, and how many pixels that is."""
    img_a, wcs_a, good_a = a
    img_b, wcs_b, good_b = b
    pixmap = pixel_map(wcs_b, wcs_a, img_b.shape)
    with np.errstate(invalid="ignore"):
        xa = np.rint(pixmap[..., 0])
        ya = np.rint(pixmap[..., 1])
    ny, nx = img_a.shape
    inside = good_b & (xa >= 0) & (xa < nx) & (ya >= 0) & (ya < ny)
    ia = ya[inside].astype(np.intp)
    ja = xa[inside].astype(np.intp)
    common = good_a[ia, ja]
    n = int(common.sum())
    if n < _MIN_OVERLAP:
        return math.nan, 0
    sky_a = sky_statistic(img_a.sci[ia[common], ja[common]], params=params)
    sky_b = sky_statistic(img_b.sci[inside][common], params=params)
    return sky_a - sky_b, n


def _solve_offsets(n: int, equations: list[tuple[int, int, float, int]]) -> F64:
    """Least-squares ``s_i − s_j = d`` per connected component, each shifted so its minimum is 0."""
    adjacency = np.zeros((n, n), dtype=bool)
    for i, j, _, _ in equations:
        adjacency[i, j] = adjacency[j, i] = True
    ncomp, labels = connected_components(adjacency, directed=False)
    levels = np.zeros(n)
    for c in range(ncomp):
        members = np.flatnonzero(labels == c)
        if members.size < 2:
            continue
        index = {int(m): k for k, m in enumerate(members)}
        rows = [(i, j, d, w) for i, j, d, w in equations if i in index]
        a = np.zeros((len(rows) + 1, members.size))
        rhs = np.zeros(len(rows) + 1)
        for r, (i, j, d, w) in enumerate(rows):
            sw = math.sqrt(w)
            a[r, index[i]], a[r, index[j]], rhs[r] = sw, -sw, sw * d
        a[-1, :] = 1.0  # gauge: the offsets sum to 0 (removed by the shift below)
        solution = np.linalg.lstsq(a, rhs, rcond=None)[0]
        levels[members] = solution - solution.min()
    return levels


def match_sky(images: Sequence[tuple[ImageData, WCS]], *, params: SkyMatchParams = SkyMatchParams()) -> SkyResult:
    """Measure (and record or subtract) the sky of each image.

    Parameters
    ----------
    images : sequence of (ImageData, astropy.wcs.WCS)
        2-D images; not modified.
    params : SkyMatchParams

    Raises
    ------
    BadDataShapeError
        An input is not 2-D. Not retriable.
    """
    if images:  # no images: nothing to match (an empty result)
        check_images(images, "skymatch")
    goods = [good_mask(image, params.dqbits) for image, _ in images]
    if params.skymethod == "match":
        equations = []
        for i, j in itertools.combinations(range(len(images)), 2):
            d, n = _pair_difference((*images[i], goods[i]), (*images[j], goods[j]), params)
            if n:
                equations.append((i, j, d, n))
        levels = [float(v) for v in _solve_offsets(len(images), equations)]
    else:
        local = [sky_statistic(image.sci[good], params=params) for (image, _), good in zip(images, goods,
                                                                                            strict=True)]
        local = [0.0 if math.isnan(v) else v for v in local]
        levels = local if params.skymethod == "local" else [min(local, default=0.0)] * len(local)
    out = []
    for (image, _), level in zip(images, levels, strict=True):
        header = {**image.sci_header, "BKGLEVEL": level, "BKGSUB": params.subtract}
        sci = image.sci - np.float32(level) if params.subtract else image.sci
        out.append(image.replace(sci=sci.astype(np.float32, copy=False), sci_header=header))
    return SkyResult(images=out, levels=levels)
