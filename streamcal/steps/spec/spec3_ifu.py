"""calwebb_spec3's work on the image-slicer IFU modes (MIR_MRS, NRS_IFU; ``jwst_spec.md`` §1.7, issue 11).

The members arrive as :class:`IfuMemberSet`: each member's calibrated ``_cal`` image (MJy/sr) with its slicer WCS
(re-made from its SPECWCS reference's IFUSLICES table, as spec2's assign_wcs made it) and its dither offset, the
header's XOFFSET and YOFFSET (arcsec). A member's pixel at slicer coordinates (alpha, beta) sits at
``(alpha + XOFFSET, beta + YOFFSET)`` in the common frame — the undithered slicer frame — because the telescope's
offset moves the sky by −offset across the slicer [U: the dither frame's axes are taken to be the slicer's; the
real instruments' frames are rotated and distorted against each other, which jwst handles through the full
WCS]. Then:

- outlier_detection (:func:`flag_ifu_outliers`): each member's pixels against the median of the other members,
  resampled onto one cube grid and blotted back (:mod:`streamcal.kernels.spec.ifu_outlier`); outliers become
  DO_NOT_USE|OUTLIER and NaN, as jwst marks them, and drop out of the cube;
- cube_build (:func:`build_combined_cube`): the good pixels of all members together, each box shifted by its
  member's offset, drizzled onto one (alpha, beta, λ) grid covering every member's footprint
  (:mod:`streamcal.kernels.spec.cube`); the grid's spaxel edges continue the first member's own spec2 grid.
  Weights are the overlap volumes only (jwst's drizzle), so members of equal depth count equally. A bad pixel's
  wavelength box is shared out to its good neighbours along the dispersion in the same slice column (gaps of up
  to :data:`MAX_GAP` pixels; :func:`filled_boxes`), so each member still tiles the cube: without this, a hole in
  one member is filled by the other members' pixels, which sample the (undersampled) PSF elsewhere, and the
  plane's flux is off by a deterministic ~0.1 % (measured on MIR_MRS: pull width 1.5 at S/N 1100). A single
  spec2 cube does the same implicitly (its voxels are one pixel's footprint: a hole is filled by the spectral
  neighbours); jwst's pixel_replace step exists for this [U: our rule, not jwst's algorithm];
- extract_1d: the spec2 IFU extraction (:func:`streamcal.steps.spec.ifu.extract_cube`) on the combined cube; its
  errors are propagated through the combined resampling matrix, so the covariance the dithers' resampling
  makes is counted.

Simplified against jwst: one band per product (members of different bands are refused when read), no
master_background, no spectral_leak, no per-member ``_crf`` files; the cube is in the slicer frame (``ifualign``).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from scipy import sparse

from streamcal.dq import Pixel
from streamcal.errors import InvalidInputError
from streamcal.kernels.spec.cube import CubeGrid, CubeWeights, drizzle_weights, resample
from streamcal.kernels.spec.ifu_outlier import flag_ifu_outliers
from streamcal.models.ifu import IfuGeometry
from streamcal.steps.spec.ifu import IfuCube, IfuImage, clamp_band, cube_sampling
from streamcal.steps.spec.kinds import Spec3Members, Spec3Product

__all__ = ["MAX_GAP", "IfuCombinedCube", "IfuMember", "IfuMemberSet", "build_combined_cube", "common_grid",
           "dither_offset", "filled_boxes", "flag_members", "good_pixels", "member_weights"]

_OUTLIER = np.uint32(Pixel.DO_NOT_USE | Pixel.OUTLIER)
_DNU = np.uint32(Pixel.DO_NOT_USE)
#: The longest run of bad pixels along the dispersion whose wavelength box the good neighbours share [U].
MAX_GAP = 3


@dataclass(frozen=True, slots=True)
class IfuMember:
    """One member: its root, its calibrated image with the slicer WCS, and its dither offset (arcsec along alpha,
    beta) — a pixel's common-frame position is its own plus the offset."""

    root: str
    ifu: IfuImage
    offset: tuple[float, float]


@dataclass(frozen=True, slots=True)
class IfuMemberSet(Spec3Members):
    """The IFU members of one spec3 product: one mode, one band, one slicer geometry."""

    members: tuple[IfuMember, ...]

    def __len__(self) -> int:
        return len(self.members)

    @property
    def geometry(self) -> IfuGeometry:
        return self.members[0].ifu.geometry


@dataclass(frozen=True, slots=True)
class IfuCombinedCube(Spec3Product):
    """cube_build's output: the cube of all members (an :class:`~streamcal.steps.spec.ifu.IfuCube` in the common
    frame) and the members it came from."""

    cube: IfuCube
    members: IfuMemberSet


def dither_offset(primary: Mapping[str, object]) -> tuple[float, float]:
    """(XOFFSET, YOFFSET) of a header, arcsec; 0 for a missing keyword.

    Raises
    ------
    InvalidInputError
        A keyword that is not a number. Not retriable.
    """
    out = []
    for key in ("XOFFSET", "YOFFSET"):
        value = primary.get(key)
        try:
            out.append(0.0 if value is None or value == "" else float(str(value)))
        except ValueError as exc:
            raise InvalidInputError(f"{key} = {value!r} is not an offset in arcsec") from exc
    return out[0], out[1]


def good_pixels(ifu: IfuImage) -> npt.NDArray[np.bool_]:
    """The pixels that enter a cube: on a slice, finite values and variances, not DO_NOT_USE (as spec2's)."""
    image, pixels = ifu.image, ifu.pixels
    var_flat = image.var_flat if image.var_flat is not None else np.zeros_like(image.sci)
    return np.asarray((pixels.slice >= 0) & np.isfinite(image.sci) & np.isfinite(pixels.wavelength)
                      & np.isfinite(image.var_poisson) & np.isfinite(image.var_rnoise) & np.isfinite(var_flat)
                      & ((image.dq & _DNU) == 0))


def _band(members: Sequence[IfuMember]) -> tuple[float, float]:
    """The wavelengths every slice of every member covers."""
    lo, hi = -math.inf, math.inf
    for m in members:
        p = m.ifu.pixels
        for s in np.unique(p.slice[p.slice >= 0]):
            lo = max(lo, float(np.nanmin(p.wave_lo[p.slice == s])))
            hi = min(hi, float(np.nanmax(p.wave_hi[p.slice == s])))
    return lo, hi


def _axis(anchor: float, step: float, lo: float, hi: float) -> tuple[float, int]:
    """Start and size of an axis of cells ``step`` wide, edges on ``anchor + k·step``, covering [lo, hi]."""
    start = anchor - math.ceil((anchor - lo) / step - 1e-9) * step
    return start, max(1, math.ceil((hi - start) / step - 1e-9))


def common_grid(members: Sequence[IfuMember], *, scalexy: float = 0.0, scalew: float = 0.0,
                wavemin: float | None = None, wavemax: float | None = None) -> CubeGrid:
    """The cube grid of a member set in the common frame (module docstring): spaxels of ``scalexy`` (0: the
    along-slice pixel by the slice width, as spec2's), planes of ``scalew`` µm (0: the middle slice's dispersion at
    its centre), over the union of the members' footprints and the band they all cover (or
    ``wavemin``–``wavemax`` within it).

    Raises
    ------
    InvalidInputError
        The wavelength range asked for lies outside the members' common band. Not retriable.
    """
    geometry = members[0].ifu.geometry
    spaxel, step = cube_sampling(geometry, scalexy=scalexy, scalew=scalew)
    lo, hi = clamp_band(*_band(members), wavemin, wavemax, band="the members' common band")
    half_a, half_b = geometry.alpha_half_length, geometry.slice_width / 2
    a_lo, a_hi, b_lo, b_hi = [], [], [], []
    for m in members:
        betas = m.ifu.pixels.beta[m.ifu.pixels.slice >= 0]
        a_lo.append(m.offset[0] - half_a)
        a_hi.append(m.offset[0] + half_a)
        b_lo.append(float(betas.min()) - half_b + m.offset[1])
        b_hi.append(float(betas.max()) + half_b + m.offset[1])
    # the first member's own spec2 grid (alpha centred on the slices, beta on the slices present) sets the edges
    first_na = math.ceil(2 * half_a / spaxel[0] - 1e-9)
    first_nb = math.ceil((b_hi[0] - b_lo[0]) / spaxel[1] - 1e-9)
    anchor_a = members[0].offset[0] - first_na * spaxel[0] / 2
    anchor_b = 0.5 * (b_lo[0] + b_hi[0]) - first_nb * spaxel[1] / 2
    alpha_start, na = _axis(anchor_a, spaxel[0], min(a_lo), max(a_hi))
    beta_start, nb = _axis(anchor_b, spaxel[1], min(b_lo), max(b_hi))
    nw = max(1, math.floor((hi - lo) / step))
    return CubeGrid(alpha_start, spaxel[0], beta_start, spaxel[1], lo, step, (nw, nb, na))


def filled_boxes(ifu: IfuImage, good: npt.NDArray[np.bool_], *,
                 max_gap: int = MAX_GAP) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    """Each pixel's wavelength box edges (``wave_lo``, ``wave_hi``, (ny, nx)) with every gap of up to ``max_gap``
    bad pixels between two good ones along the dispersion split at its middle wavelength between them (module
    docstring)."""
    p = ifu.pixels
    lo, hi = np.array(p.wave_lo, np.float64), np.array(p.wave_hi, np.float64)
    along = ifu.geometry.dispaxis == 1  # dispersion along x: work on the transpose (rows: dispersion)
    ok, lo_d, hi_d = (good.T, lo.T, hi.T) if along else (good, lo, hi)  # views: edits reach lo, hi
    nd = ok.shape[0]
    index = np.broadcast_to(np.arange(nd)[:, None], ok.shape)
    following = np.minimum.accumulate(np.where(ok, index, nd)[::-1], axis=0)[::-1]  # the first at or after d
    # a good pixel d whose next good pixel n lies 2..max_gap+1 further, in the same slice column: split the gap
    nxt = np.vstack([following[1:], np.full((1, ok.shape[1]), nd)])
    d_idx, col = np.nonzero(ok & (nxt - index >= 2) & (nxt - index <= max_gap + 1) & (nxt < nd))
    n_idx = nxt[d_idx, col]
    same = p.slice.T[d_idx, col] == p.slice.T[n_idx, col] if along else p.slice[d_idx, col] == p.slice[n_idx, col]
    d_idx, col, n_idx = d_idx[same], col[same], n_idx[same]
    middle = 0.5 * (hi_d[d_idx, col] + lo_d[n_idx, col])
    hi_d[d_idx, col] = middle
    lo_d[n_idx, col] = middle
    return lo, hi


def member_weights(member: IfuMember, good: npt.NDArray[np.bool_], grid: CubeGrid, *,
                   fill: bool = False) -> CubeWeights:
    """The drizzle of a member's ``good`` pixels, shifted by its offset, onto ``grid``; with ``fill`` their
    wavelength boxes cover the short gaps of bad pixels (:func:`filled_boxes`)."""
    p, (da, db) = member.ifu.pixels, member.offset
    wave_lo, wave_hi = filled_boxes(member.ifu, good) if fill else (p.wave_lo, p.wave_hi)
    half = member.ifu.geometry.slice_width / 2
    return drizzle_weights(p.alpha_lo[good] + da, p.alpha_hi[good] + da, p.beta[good] - half + db,
                           p.beta[good] + half + db, wave_lo[good], wave_hi[good], grid=grid)


def _total_variance(ifu: IfuImage) -> npt.NDArray[np.float64]:
    image = ifu.image
    var_flat = image.var_flat if image.var_flat is not None else np.zeros_like(image.sci)
    return np.asarray(image.var_poisson, np.float64) + image.var_rnoise + var_flat


def flag_members(members: IfuMemberSet, *, snr: float, scale: float,
                 min_members: int) -> tuple[IfuMemberSet, list[int]]:
    """outlier_detection on IFU members (module docstring): the members with their outliers flagged
    DO_NOT_USE|OUTLIER and set to NaN (SCI and the variances), and each member's count."""
    grid = common_grid(members.members)
    goods = [good_pixels(m.ifu) for m in members.members]
    weights = [member_weights(m, g, grid) for m, g in zip(members.members, goods, strict=True)]
    found = flag_ifu_outliers([m.ifu.image.sci[g] for m, g in zip(members.members, goods, strict=True)],
                              [_total_variance(m.ifu)[g] for m, g in zip(members.members, goods, strict=True)],
                              weights, snr=snr, scale=scale, min_members=min_members)
    out = []
    for member, good, mask in zip(members.members, goods, found.masks, strict=True):
        hit = np.zeros(good.shape, bool)
        hit[good] = mask
        image = member.ifu.image
        nan = np.where(hit, np.float32(np.nan), np.float32(1.0))
        var_flat = None if image.var_flat is None else image.var_flat * nan
        flagged = image.replace(sci=image.sci * nan, var_poisson=image.var_poisson * nan,
                                var_rnoise=image.var_rnoise * nan, var_flat=var_flat,
                                dq=np.where(hit, image.dq | _OUTLIER, image.dq).astype(np.uint32))
        out.append(IfuMember(member.root, member.ifu.replace_image(flagged), member.offset))
    return IfuMemberSet(tuple(out)), found.n_flagged


def _cube_header(grid: CubeGrid, primary: Mapping[str, object], origin: tuple[float, float],
                 bunit: str) -> dict[str, object]:
    """The s3d SCI keywords: BUNIT and a 3-D WCS, alpha/beta an approximate tangent plane about the first member's
    pointing (RA_REF/DEC_REF at its own alpha = beta = 0, ``origin`` in the common frame; axes rolled by ROLL_REF
    [U]) and a linear wavelength axis — spec2's cube header on the common grid."""
    roll = math.radians(float(str(primary.get("ROLL_REF", 0.0) or 0.0)))
    return {
        "BUNIT": bunit, "WCSAXES": 3,
        "CTYPE1": "RA---TAN", "CTYPE2": "DEC--TAN", "CTYPE3": "WAVE", "CUNIT1": "deg", "CUNIT2": "deg",
        "CUNIT3": "um", "CRPIX1": (origin[0] - grid.alpha_start) / grid.alpha_step + 0.5,
        "CRPIX2": (origin[1] - grid.beta_start) / grid.beta_step + 0.5, "CRPIX3": 1.0,
        "CRVAL1": float(str(primary.get("RA_REF", primary.get("TARG_RA", 0.0)) or 0.0)),
        "CRVAL2": float(str(primary.get("DEC_REF", primary.get("TARG_DEC", 0.0)) or 0.0)),
        "CRVAL3": grid.wave_start + grid.wave_step / 2, "CDELT1": -grid.alpha_step / 3600.0,
        "CDELT2": grid.beta_step / 3600.0, "CDELT3": grid.wave_step,
        "PC1_1": math.cos(roll), "PC1_2": -math.sin(roll), "PC2_1": math.sin(roll), "PC2_2": math.cos(roll),
        "PC3_3": 1.0, "SPAXAREA": grid.alpha_step * grid.beta_step,
    }


def _combine_weights(parts: Sequence[CubeWeights], grid: CubeGrid) -> CubeWeights:
    """One resampling of the members' pixels side by side: each member's overlaps (its normalized rows times the
    voxel's covered volume), stacked by columns and normalized again."""
    volume = grid.alpha_step * grid.beta_step * grid.wave_step
    raw = sparse.hstack([sparse.diags(w.coverage.ravel() * volume) @ w.matrix for w in parts], format="csr")
    total = np.asarray(raw.sum(axis=1)).ravel()
    scale = np.divide(1.0, total, out=np.zeros_like(total), where=total > 0)
    matrix = sparse.csr_matrix(sparse.diags(scale) @ raw)
    npix = np.diff(matrix.indptr).astype(np.int32).reshape(grid.shape)
    return CubeWeights(matrix, (total / volume).reshape(grid.shape), npix)


def build_combined_cube(members: IfuMemberSet, *, scalexy: float = 0.0, scalew: float = 0.0,
                        wavemin: float | None = None, wavemax: float | None = None) -> IfuCube:
    """The drizzled cube of all members' good pixels in the common frame (module docstring).

    Raises
    ------
    InvalidInputError
        The wavelength range asked for lies outside the members' common band, or no good pixel is left. Not
        retriable.
    """
    grid = common_grid(members.members, scalexy=scalexy, scalew=scalew, wavemin=wavemin, wavemax=wavemax)
    goods = [good_pixels(m.ifu) for m in members.members]
    if not any(g.any() for g in goods):
        raise InvalidInputError(f"{members.members[0].root}: no good IFU pixel in any member to build a cube from")
    weights = _combine_weights([member_weights(m, g, grid, fill=True)
                                for m, g in zip(members.members, goods, strict=True)], grid)
    images = [(m.ifu.image, g) for m, g in zip(members.members, goods, strict=True)]
    sci = np.concatenate([im.sci[g] for im, g in images]).astype(np.float64)
    pix_var = tuple(np.concatenate([np.asarray(getattr(im, name) if getattr(im, name) is not None
                                               else np.zeros_like(im.sci), np.float64)[g] for im, g in images])
                    for name in ("var_poisson", "var_rnoise", "var_flat"))
    variances = [resample(v, weights, variance=True) for v in pix_var]
    empty = weights.npix == 0
    first = members.members[0]
    image = first.ifu.image
    bunit = str(image.sci_header.get("BUNIT", "") or "DN/s")
    return IfuCube(root=first.root, primary=dict(image.primary),
                   header=_cube_header(grid, image.primary, first.offset, bunit),
                   sci=resample(sci, weights).astype(np.float32), err=np.sqrt(sum(variances)).astype(np.float32),
                   dq=np.where(empty, np.uint32(Pixel.DO_NOT_USE | Pixel.NON_SCIENCE), np.uint32(0)).astype(np.uint32),
                   wmap=weights.npix.astype(np.float32), var_poisson=variances[0].astype(np.float32),
                   var_rnoise=variances[1].astype(np.float32), var_flat=variances[2].astype(np.float32), grid=grid,
                   weights=weights, pixel_variances=(pix_var[0], pix_var[1], pix_var[2]), geometry=first.ifu.geometry)
