"""calwebb_spec2 for the image-slicer IFU modes (MIR_MRS, NRS_IFU; jwst_spec §1.5, §5.3, §5.4, §5.9; issue 11).

- assign_wcs (:func:`ifu_image`): the SPECWCS reference's IFUSLICES table (:mod:`streamcal.models.ifu`) gives
  every pixel its slice, alpha, beta and wavelength: an :class:`IfuImage`. Pixels between the slices have none.
- flat_field: as for any spectral image.
- photom (:func:`ifu_photom`): DN/s → MJy/sr with ``photmjsr × relresponse(λ)`` of the IFU PHOTOM row, per
  pixel; pixels off the slices or outside the response table become NaN and DO_NOT_USE, as in jwst.
- cube_build (:class:`CubeBuildStep`): the good pixels resampled by 3-D drizzle
  (:mod:`streamcal.kernels.spec.cube`) onto a regular (alpha, beta, λ) grid: an :class:`IfuCube`, written as
  jwst's ``_s3d`` (IFUCubeModel). Other exposures pass through, SKIPPED.
- extract_1d (:func:`extract_cube`): a circular aperture and a background annulus in every plane, radii in
  units of the PSF's FWHM at the plane's wavelength (from the reference), centred on the source found in the cube
  (:mod:`streamcal.kernels.spec.ifu_extract`).

Simplified against jwst: one band per exposure (one cube); the cube is in the slicer frame (``ifualign``: alpha
along CTYPE1, beta along CTYPE2, the spatial keywords an approximate tangent plane about the pointing with the
slicer's axes rolled by ROLL_REF [U]); no straylight, fringe, residual_fringe or pathloss; the source is located
in the cube (``ifu_autocen``) rather than from the target's coordinates.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import ClassVar, NamedTuple

import numpy as np
import numpy.typing as npt

from streamcal.dq import Pixel
from streamcal.errors import BadDataShapeError, InvalidInputError, MissingReferenceError
from streamcal.kernels.image.calibrate import photom_row
from streamcal.kernels.spec import apply_conversion, spectral_conversion
from streamcal.kernels.spec.cube import CubeGrid, CubeWeights, drizzle_weights, resample
from streamcal.kernels.spec.ifu_extract import extract_aperture, locate_source
from streamcal.models.ifu import IfuGeometry, IfuPixels
from streamcal.models.image import ImageData
from streamcal.references import ReferenceFile, RefType
from streamcal.steps.base import Context, StepOutcome, StepStatus
from streamcal.steps.spec.kinds import SpectralImage, SpectralProduct

__all__ = ["CubeBuildStep", "CubeParameters", "IfuCube", "IfuExtraction", "IfuImage", "clamp_band", "cube_sampling",
           "extract_cube", "ifu_image", "ifu_photom"]

_ARCSEC2_TO_SR = (math.pi / (180.0 * 3600.0)) ** 2
_FWHM = 2.0 * math.sqrt(2.0 * math.log(2.0))
_F32 = npt.NDArray[np.float32]


@dataclass(frozen=True, slots=True)
class IfuImage(SpectralImage):
    """An IFU exposure's image with its slicer WCS: per pixel slice, alpha, beta and wavelength."""

    image: ImageData
    geometry: IfuGeometry
    pixels: IfuPixels

    def replace_image(self, image: ImageData) -> IfuImage:
        return IfuImage(image, self.geometry, self.pixels)


@dataclass(frozen=True, slots=True, kw_only=True)
class IfuCube(SpectralProduct):
    """cube_build's output: the (wavelength, beta, alpha) cube of one band and how it was made.

    ``sci``/``err`` in the image's unit (MJy/sr after photom), ``dq``, ``wmap`` (detector pixels per voxel) and
    the variance components, all ``grid.shape``; ``weights`` the resampling matrix and ``pixel_variances`` the
    pixels' (Poisson, read noise, flat) variances, so an extraction can propagate errors exactly; ``header`` the
    SCI keywords (BUNIT, the WCS)."""

    root: str
    primary: dict[str, object]
    header: dict[str, object]
    sci: _F32
    err: _F32
    dq: npt.NDArray[np.uint32]
    wmap: _F32
    var_poisson: _F32
    var_rnoise: _F32
    var_flat: _F32
    grid: CubeGrid
    weights: CubeWeights
    pixel_variances: tuple[npt.NDArray[np.float64], npt.NDArray[np.float64], npt.NDArray[np.float64]]
    geometry: IfuGeometry

    def arrays(self) -> dict[str, np.ndarray]:
        """The extensions of the ``_s3d`` (jwst's IFUCubeModel: no variance components), by name."""
        return {"SCI": self.sci, "ERR": self.err, "DQ": self.dq, "WMAP": self.wmap}


def ifu_image(image: ImageData, geometry: IfuGeometry) -> IfuImage:
    """The image with its slicer WCS (assign_wcs's work).

    Raises
    ------
    BadDataShapeError
        A cube of integrations (IFU time series are not implemented), or a subarray no slice falls on. Not
        retriable.
    """
    if image.is_cube:
        raise BadDataShapeError(f"{image.root}: IFU spectroscopy takes a 2-D rate (per-integration cubes are not "
                                "implemented)")
    x0 = int(str(image.primary.get("SUBSTRT1", 1))) - 1
    y0 = int(str(image.primary.get("SUBSTRT2", 1))) - 1
    pixels = geometry.pixels(image.shape, (y0, x0))
    if not (pixels.slice >= 0).any():
        raise BadDataShapeError(f"{image.root}: no IFU slice falls on this {image.shape[0]}x{image.shape[1]} "
                                f"subarray at SUBSTRT {x0 + 1},{y0 + 1}")
    return IfuImage(image, geometry, pixels)


def ifu_photom(ifu: IfuImage, table: ReferenceFile) -> tuple[IfuImage, dict[str, int]]:
    """DN/s → MJy/sr per pixel: ``photmjsr × relresponse(λ)`` of the PHOTOM row of the optical path.

    Raises
    ------
    MissingReferenceError
        No row for the path, a row without a response table, or one that covers none of the slices'
        wavelengths. Not retriable.
    """
    row = photom_row(table["PHOTOM"], ifu.image.primary, reference=table.name)
    names = {n.lower(): n for n in (row.dtype.names or ())}
    if "photmjsr" not in names:
        raise MissingReferenceError(f"{table.name}: an IFU PHOTOM row needs photmjsr")
    as_flux: dict[str, object] = {"photmj": row[names["photmjsr"]]}  # the point-source kernel, per steradian
    as_flux.update({k: row[names[k]] for k in ("nelem", "wavelength", "relresponse") if k in names})
    factor = spectral_conversion(as_flux, ifu.pixels.wavelength, reference=table.name)
    on = ifu.pixels.slice >= 0
    if not np.isfinite(factor[on]).any():
        lo, hi = np.nanmin(ifu.pixels.wavelength), np.nanmax(ifu.pixels.wavelength)
        raise MissingReferenceError(f"{table.name}: its response table covers none of the slices' wavelengths "
                                    f"{lo:.4g}–{hi:.4g} µm")
    out = apply_conversion(ifu.image, factor, bunit="MJy/sr")
    unusable = ~np.isfinite(factor)
    return ifu.replace_image(out), {"n_outside_response": int(np.count_nonzero(unusable & on)),
                                    "n_between_slices": int(np.count_nonzero(~on))}


def clamp_band(lo: float, hi: float, wavemin: float | None, wavemax: float | None, *, band: str,
               where: str = "") -> tuple[float, float]:
    """The band ``lo``–``hi`` (µm) cut to cube_build's ``wavemin``/``wavemax`` (None: that end is kept).

    Raises
    ------
    InvalidInputError
        The range asked for does not overlap the band (``band`` names it, ``where`` starts the message). Not
        retriable.
    """
    if wavemin is None and wavemax is None:
        return lo, hi
    want_lo, want_hi = wavemin if wavemin is not None else lo, wavemax if wavemax is not None else hi
    if not (want_lo < want_hi and want_hi > lo and want_lo < hi):
        raise InvalidInputError(f"{where}cube_build's wavelength range {want_lo:.6g}–{want_hi:.6g} µm lies outside "
                                f"{band} {lo:.6g}–{hi:.6g} µm")
    return max(lo, want_lo), min(hi, want_hi)


def cube_sampling(geometry: IfuGeometry, *, scalexy: float, scalew: float) -> tuple[tuple[float, float], float]:
    """Spaxel size (alpha, beta; arcsec) and plane width (µm) of a cube: ``scalexy`` square spaxels or the
    along-slice pixel by the slice width; ``scalew`` or the middle slice's dispersion at its centre."""
    spaxel = (scalexy, scalexy) if scalexy else (geometry.alpha_scale, geometry.slice_width)
    middle = geometry.slices[len(geometry.slices) // 2]
    centre_d = 0.5 * (middle.d_range[0] + middle.d_range[1])
    step = scalew or float(abs(middle.wavelength(centre_d + 0.5) - middle.wavelength(centre_d - 0.5)))
    return spaxel, step


def _grid(ifu: IfuImage, spaxel: tuple[float, float], step: float, wavemin: float | None, wavemax: float | None,
          root: str) -> CubeGrid:
    """The cube grid: alpha over the slices' length, beta over the slices present (centred), λ over the band
    every slice present covers (the slices' wavelength solutions differ a little: a plane at the band's very
    edge would hold only some slices)."""
    geometry, pixels = ifu.geometry, ifu.pixels
    on = pixels.slice >= 0
    present = np.unique(pixels.slice[on])
    lo = max(float(np.nanmin(pixels.wave_lo[pixels.slice == s])) for s in present)
    hi = min(float(np.nanmax(pixels.wave_hi[pixels.slice == s])) for s in present)
    lo, hi = clamp_band(lo, hi, wavemin, wavemax, band="the exposure's", where=f"{root}: ")
    betas = pixels.beta[on]
    beta_lo, beta_hi = float(betas.min()) - geometry.slice_width / 2, float(betas.max()) + geometry.slice_width / 2
    half = geometry.alpha_half_length
    na, nb = math.ceil(2 * half / spaxel[0] - 1e-9), math.ceil((beta_hi - beta_lo) / spaxel[1] - 1e-9)
    mid_beta = 0.5 * (beta_lo + beta_hi)
    nw = max(1, math.floor((hi - lo) / step))
    return CubeGrid(-na * spaxel[0] / 2, spaxel[0], mid_beta - nb * spaxel[1] / 2, spaxel[1], lo, step, (nw, nb, na))


def _wcs_header(grid: CubeGrid, primary: dict[str, object], bunit: str) -> dict[str, object]:
    """The s3d SCI keywords: BUNIT and a 3-D WCS, alpha/beta as an approximate tangent plane about the
    pointing (RA_REF/DEC_REF at alpha = beta = 0, axes rolled by ROLL_REF [U]) and a linear wavelength axis."""
    roll = math.radians(float(str(primary.get("ROLL_REF", 0.0) or 0.0)))
    return {
        "BUNIT": bunit, "WCSAXES": 3,
        "CTYPE1": "RA---TAN", "CTYPE2": "DEC--TAN", "CTYPE3": "WAVE", "CUNIT1": "deg", "CUNIT2": "deg",
        "CUNIT3": "um", "CRPIX1": -grid.alpha_start / grid.alpha_step + 0.5,
        "CRPIX2": -grid.beta_start / grid.beta_step + 0.5, "CRPIX3": 1.0,
        "CRVAL1": float(str(primary.get("RA_REF", primary.get("TARG_RA", 0.0)) or 0.0)),
        "CRVAL2": float(str(primary.get("DEC_REF", primary.get("TARG_DEC", 0.0)) or 0.0)),
        "CRVAL3": grid.wave_start + grid.wave_step / 2, "CDELT1": -grid.alpha_step / 3600.0,
        "CDELT2": grid.beta_step / 3600.0, "CDELT3": grid.wave_step,
        "PC1_1": math.cos(roll), "PC1_2": -math.sin(roll), "PC2_1": math.sin(roll), "PC2_2": math.cos(roll),
        "PC3_3": 1.0, "SPAXAREA": grid.alpha_step * grid.beta_step,
    }


@dataclass(frozen=True, slots=True, kw_only=True)
class CubeParameters:
    """cube_build's parameters (jwst's names), shared by spec2's and spec3's step; see :class:`CubeBuildStep`."""

    scalexy: float = 0.0
    scalew: float = 0.0
    wavemin: float | None = None
    wavemax: float | None = None
    weighting: str = "drizzle"

    def __post_init__(self) -> None:
        if self.weighting != "drizzle":
            raise ValueError(f"weighting {self.weighting!r} is not implemented (only 'drizzle')")
        if self.scalexy < 0 or self.scalew < 0:
            raise ValueError("scalexy and scalew must be >= 0 (0: the default)")


@dataclass(frozen=True, slots=True, kw_only=True)
class CubeBuildStep(CubeParameters):
    """jwst's cube_build for one exposure: the IFU pixels resampled by 3-D drizzle onto a regular cube.

    Parameters (jwst's names): ``scalexy`` the (square) spaxel size in arcsec (0, the default: spaxels of the
    along-slice pixel size by the slice width, aligned with the pixels' footprints — unlike jwst's square
    spaxels, so each spaxel is made of one slice pixel's light at neighbouring wavelengths and a bad pixel is
    filled from its spectral neighbours, not from a pixel elsewhere in the PSF), ``scalew`` the plane width in µm
    (0: the middle slice's dispersion at its centre), ``wavemin``/``wavemax`` the band to cube (default: all of
    it), ``weighting`` (only ``"drizzle"``).
    """

    name: ClassVar[str] = "cube_build"
    reference_types: ClassVar[tuple[RefType, ...]] = ()

    def apply(self, image: SpectralImage, ctx: Context) -> StepOutcome[SpectralProduct]:
        if not isinstance(image, IfuImage):
            return StepOutcome.skipped(image, "not an IFU exposure (cube_build takes MIR_MRS and NRS_IFU)")
        cube = build_cube(image, scalexy=self.scalexy, scalew=self.scalew, wavemin=self.wavemin,
                          wavemax=self.wavemax)
        return StepOutcome(cube, StepStatus.COMPLETE, counts={
            "n_voxels": int(cube.sci.size), "n_empty_voxels": int(np.count_nonzero(cube.wmap == 0)),
            "n_pixels_used": int(cube.weights.matrix.shape[1])})


def build_cube(ifu: IfuImage, *, scalexy: float = 0.0, scalew: float = 0.0, wavemin: float | None = None,
               wavemax: float | None = None) -> IfuCube:
    """The drizzled cube of an IFU image (:class:`CubeBuildStep`).

    Raises
    ------
    InvalidInputError
        The wavelength range asked for lies outside the exposure's, or no good pixel is left. Not retriable.
    """
    image, pixels, geometry = ifu.image, ifu.pixels, ifu.geometry
    spaxel, step = cube_sampling(geometry, scalexy=scalexy, scalew=scalew)
    grid = _grid(ifu, spaxel, step, wavemin, wavemax, image.root)
    var_flat = image.var_flat if image.var_flat is not None else np.zeros_like(image.sci)
    good = ((pixels.slice >= 0) & np.isfinite(image.sci) & np.isfinite(pixels.wavelength)
            & np.isfinite(image.var_poisson) & np.isfinite(image.var_rnoise) & np.isfinite(var_flat)
            & ((image.dq & np.uint32(Pixel.DO_NOT_USE)) == 0))
    if not good.any():
        raise InvalidInputError(f"{image.root}: no good IFU pixel to build a cube from")
    half = geometry.slice_width / 2
    weights = drizzle_weights(pixels.alpha_lo[good], pixels.alpha_hi[good], pixels.beta[good] - half,
                              pixels.beta[good] + half, pixels.wave_lo[good], pixels.wave_hi[good], grid=grid)
    pix_var = (image.var_poisson[good].astype(np.float64), image.var_rnoise[good].astype(np.float64),
               var_flat[good].astype(np.float64))
    sci = resample(image.sci[good], weights)
    variances = [resample(v, weights, variance=True) for v in pix_var]
    empty = weights.npix == 0
    dq = np.where(empty, np.uint32(Pixel.DO_NOT_USE | Pixel.NON_SCIENCE), np.uint32(0)).astype(np.uint32)
    bunit = str(image.sci_header.get("BUNIT", "") or "DN/s")
    return IfuCube(root=image.root, primary=dict(image.primary), header=_wcs_header(grid, image.primary, bunit),
                   sci=sci.astype(np.float32), err=np.sqrt(sum(variances)).astype(np.float32), dq=dq,
                   wmap=weights.npix.astype(np.float32), var_poisson=variances[0].astype(np.float32),
                   var_rnoise=variances[1].astype(np.float32), var_flat=variances[2].astype(np.float32), grid=grid,
                   weights=weights, pixel_variances=pix_var, geometry=geometry)


class IfuExtraction(NamedTuple):
    """An IFU spectrum: x1d columns, the EXTRACT1D keywords and the step's counts."""

    columns: dict[str, npt.NDArray[np.generic]]
    meta: dict[str, object]
    counts: dict[str, int]


def extract_cube(cube: IfuCube, *, radius_fwhm: float, inner_fwhm: float, outer_fwhm: float,
                 centre: tuple[float, float] | None = None) -> IfuExtraction:
    """A point source's spectrum from the cube (module docstring); ``centre`` (alpha, beta, arcsec) or, when
    None, the source found in the cube.

    Raises
    ------
    MissingReferenceError
        The cube is not in MJy/sr (photom did not run). Not retriable.
    InvalidInputError
        No source found in the cube. Not retriable.
    """
    unit = str(cube.header.get("BUNIT", ""))
    if unit != "MJy/sr":
        raise MissingReferenceError(f"{cube.root}: extract_1d needs photom's MJy/sr cube (BUNIT {unit!r})")
    wave, beta, alpha = cube.grid.centres()
    fwhm = _FWHM * cube.geometry.psf_sigma_at(wave)
    if centre is None:
        sigma = float(np.hypot(cube.geometry.psf_sigma_at(np.median(wave)), cube.grid.alpha_step))
        try:
            centre = locate_source(cube.sci, alpha=alpha, beta=beta, sigma=sigma)
        except ValueError as exc:
            raise InvalidInputError(f"{cube.root}: {exc}") from exc
    spaxel_sr = cube.grid.alpha_step * cube.grid.beta_step * _ARCSEC2_TO_SR
    out = extract_aperture(cube.sci, cube.weights.matrix, cube.pixel_variances, alpha=alpha, beta=beta,
                           centre=centre, radius=radius_fwhm * fwhm, inner=inner_fwhm * fwhm,
                           outer=outer_fwhm * fwhm, spaxel_sr=spaxel_sr)
    bad = ~np.isfinite(out.flux) | ~out.complete
    columns: dict[str, npt.NDArray[np.generic]] = {
        "WAVELENGTH": wave, "FLUX": out.flux, "FLUX_VAR_POISSON": out.flux_var[0],
        "FLUX_VAR_RNOISE": out.flux_var[1], "FLUX_VAR_FLAT": out.flux_var[2], "SURF_BRIGHT": out.surf_bright,
        "SB_VAR_POISSON": out.sb_var[0], "SB_VAR_RNOISE": out.sb_var[1], "SB_VAR_FLAT": out.sb_var[2],
        "BACKGROUND": out.background, "BKGD_VAR_POISSON": out.bkg_var[0], "BKGD_VAR_RNOISE": out.bkg_var[1],
        "BKGD_VAR_FLAT": out.bkg_var[2], "NPIXELS": out.npixels,
        "DQ": np.where(bad, np.uint32(Pixel.DO_NOT_USE), np.uint32(0)).astype(np.uint32)}
    columns["FLUX_ERROR"] = np.sqrt(out.flux_var[0] + out.flux_var[1] + out.flux_var[2])
    x = (centre[0] - cube.grid.alpha_start) / cube.grid.alpha_step - 0.5
    y = (centre[1] - cube.grid.beta_start) / cube.grid.beta_step - 0.5
    meta: dict[str, object] = {"SRCTYPE": "POINT", "EXTR_X": float(x), "EXTR_Y": float(y),
                               "SRCALPHA": float(centre[0]), "SRCBETA": float(centre[1])}
    return IfuExtraction(columns, meta, {"n_points": int(wave.size), "n_incomplete_aperture": int(bad.sum())})
