"""calwebb_coron3's steps (``jwst_spec.md`` §1.8, §5.10; issue 12), each binding a kernel of
:mod:`streamcal.kernels.coron` (or :mod:`streamcal.kernels.image.resample`) to one ASN product.

- outlier_detection (mode coron): in every exposure with ≥ 3 integrations, a pixel more than ``snr`` × its ERR
  from the median of its integrations is flagged OUTLIER and DO_NOT_USE (jwst's coron mode compares each
  integration with the median too: simplified, no neighbour growth); SKIPPED, saying so, when no exposure has
  3 integrations.
- stack_refs: every PSF-reference integration into one cube (``_psfstack``).
- align_refs: each reference plane shifted and scaled onto the first integration of each science exposure
  (``_psfalign``: the same shifts for every integration, as jwst's). The fit and KLIP use the pixels farther
  than ``mask_radius`` px [U] from the science exposure's reference pixel (CRPIX: where the mask centre is,
  jwst reads it from the PSFMASK reference, simplified), at least ``edge`` px from the edges and good
  (``bad_bits``) in every integration of that science exposure. Reference ERR is moved like SCI; DQ is the
  stack's, unmoved (simplified).
- klip: KLIP with the first ``truncate`` modes per science integration (``_psfsub``); ERR adds jwst's model
  error in quadrature to the science ERR; pixels outside the region are NaN and DO_NOT_USE.
- resample: each PSF-subtracted exposure's mean over integrations (variances / n) drizzled onto the sky with
  the image3 kernel (jwst resamples every integration: simplified) → ``_i2d``.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import ClassVar

import numpy as np
import numpy.typing as npt

from streamcal.dq import Pixel, interpret_bit_flags
from streamcal.errors import BadDataShapeError, InvalidInputError
from streamcal.kernels.coron.align import align_references, fill_bad_pixels, shift_image
from streamcal.kernels.coron.klip import klip_subtract
from streamcal.kernels.image.resample import Mosaic, ResampleParams, resample
from streamcal.kernels.image.wcs import with_header_wcs
from streamcal.models.coron import AlignedRefs, CoronAligned, CoronInput, CoronStack, CoronSubtracted
from streamcal.models.image import ImageData
from streamcal.models.keywords import header_float
from streamcal.references import RefType
from streamcal.steps.base import Context, StepOutcome, StepStatus

__all__ = ["AlignRefsStep", "CoronOutlierStep", "CoronResampleStep", "KlipStep", "StackRefsStep"]

_DONE = StepStatus.COMPLETE
_BAD = np.uint32(Pixel.DO_NOT_USE)
_MIN_INTS = 3


def _flag_outliers(image: ImageData, snr: float) -> tuple[ImageData, int]:
    sci = image.sci.astype(np.float64)
    good = np.isfinite(sci) & ((image.dq & _BAD) == 0)
    n_good = good.sum(axis=0)
    filled = np.where(good, sci, np.nan)
    filled[:, n_good == 0] = 0.0  # no good integration: nanmedian would warn; nothing is flagged there anyway
    median = np.nanmedian(filled, axis=0)
    err = image.err.astype(np.float64)
    hit = good & (np.abs(sci - median[None]) > snr * np.where(err > 0, err, np.inf))
    dq = image.dq | np.where(hit, np.uint32(Pixel.OUTLIER | Pixel.DO_NOT_USE), np.uint32(0))
    return image.replace(dq=dq.astype(np.uint32)), int(np.count_nonzero(hit))


@dataclass(frozen=True, slots=True, kw_only=True)
class CoronOutlierStep:
    """outlier_detection in jwst's coron mode (module docstring)."""

    name: ClassVar[str] = "outlier_detection"
    reference_types: ClassVar[tuple[RefType, ...]] = ()
    snr: float = 5.0

    def apply(self, data: CoronInput, ctx: Context) -> StepOutcome[CoronInput]:
        if all(im.sci.shape[0] < _MIN_INTS for im in (*data.science, *data.psf)):
            return StepOutcome.skipped(data, f"no exposure has {_MIN_INTS} integrations to take a median of")
        flagged = 0

        def flag(image: ImageData) -> ImageData:
            nonlocal flagged
            if image.sci.shape[0] < _MIN_INTS:
                return image
            out, n = _flag_outliers(image, self.snr)
            flagged += n
            return out
        result = CoronInput(tuple(flag(im) for im in data.science), tuple(flag(im) for im in data.psf))
        return StepOutcome(result, _DONE, counts={"outliers": flagged})


@dataclass(frozen=True, slots=True, kw_only=True)
class StackRefsStep:
    """stack_refs: every PSF-reference integration into one ``_psfstack`` cube."""

    name: ClassVar[str] = "stack_refs"
    reference_types: ClassVar[tuple[RefType, ...]] = ()

    def apply(self, data: CoronInput, ctx: Context) -> StepOutcome[CoronStack]:
        shape = data.science[0].shape
        for image in (*data.science, *data.psf):
            if image.sci.ndim != 3 or image.shape != shape:
                raise BadDataShapeError(f"{image.root}: coron3 needs _calints cubes of one size {shape}; SCI has "
                                        f"shape {image.sci.shape}")
        first = data.psf[0]

        def cat(name: str) -> npt.NDArray[np.float32]:
            return np.concatenate([getattr(im, name) for im in data.psf]).astype(np.float32)
        stack = first.replace(root="psfstack", sci=cat("sci"), err=cat("err"), var_poisson=cat("var_poisson"),
                              var_rnoise=cat("var_rnoise"), var_flat=None, area=None,
                              dq=np.concatenate([im.dq for im in data.psf]).astype(np.uint32))
        return StepOutcome(CoronStack(data.science, stack), _DONE, counts={"references": int(stack.sci.shape[0])})


def _region(science: ImageData, *, mask_radius: float, edge: int, bad_bits: int) -> npt.NDArray[np.bool_]:
    ny, nx = science.shape
    cx = header_float(science.sci_header, "CRPIX1", source=science.root)  # MissingKeywordError without them
    cy = header_float(science.sci_header, "CRPIX2", source=science.root)
    yy, xx = np.mgrid[0:ny, 0:nx]
    inside = (xx >= edge) & (xx < nx - edge) & (yy >= edge) & (yy < ny - edge)
    good = np.all(np.isfinite(science.sci) & ((science.dq & np.uint32(bad_bits)) == 0), axis=0)
    region: npt.NDArray[np.bool_] = inside & good & (np.hypot(xx - (cx - 1.0), yy - (cy - 1.0)) > mask_radius)
    return region


@dataclass(frozen=True, slots=True, kw_only=True)
class AlignRefsStep:
    """align_refs: the reference stack shifted and scaled onto each science exposure (module docstring)."""

    name: ClassVar[str] = "align_refs"
    reference_types: ClassVar[tuple[RefType, ...]] = ()
    mask_radius: float = 4.0
    edge: int = 4
    bad_bits: str = "DO_NOT_USE"

    def __post_init__(self) -> None:
        if self.mask_radius < 0 or self.edge < 0:
            raise ValueError(f"align_refs needs mask_radius, edge ≥ 0, not {self.mask_radius}, {self.edge}")

    def apply(self, data: CoronStack, ctx: Context) -> StepOutcome[CoronAligned]:
        bits = interpret_bit_flags(self.bad_bits) or 0
        stack = data.psfstack
        ref_bad = (stack.dq & np.uint32(bits)) != 0
        aligned = []
        for science in data.science:
            region = _region(science, mask_radius=self.mask_radius, edge=self.edge, bad_bits=bits)
            if not region.any():
                raise InvalidInputError(f"{science.root}: align_refs has no usable pixel outside the mask")
            found = align_references(stack.sci, science.sci[0], weight=region.astype(np.float64), bad=ref_bad)
            err = np.stack([np.abs(s * shift_image(fill_bad_pixels(e), dx, dy))
                            for e, (dx, dy), s in zip(stack.err, found.shifts, found.scales, strict=True)])
            nints = science.sci.shape[0]
            aligned.append(AlignedRefs(
                root=science.root, sci=np.repeat(found.aligned[None], nints, axis=0),
                err=np.repeat(err[None], nints, axis=0).astype(np.float32),
                dq=np.repeat(stack.dq[None], nints, axis=0), shifts=found.shifts, scales=found.scales,
                region=region))
        return StepOutcome(CoronAligned(data.science, stack, tuple(aligned)), _DONE,
                           counts={"references": int(stack.sci.shape[0]), "science": len(aligned)})


@dataclass(frozen=True, slots=True, kw_only=True)
class KlipStep:
    """klip: the first ``truncate`` KL modes of the aligned references subtracted from each integration."""

    name: ClassVar[str] = "klip"
    reference_types: ClassVar[tuple[RefType, ...]] = ()
    truncate: int = 50

    def __post_init__(self) -> None:
        if self.truncate < 1:
            raise ValueError(f"klip truncate must be ≥ 1, not {self.truncate}")

    def apply(self, data: CoronAligned, ctx: Context) -> StepOutcome[CoronSubtracted]:
        out = []
        modes = 0
        for science, refs in zip(data.science, data.aligned, strict=True):
            filled = np.stack([fill_bad_pixels(p, (d & _BAD) != 0) for p, d in zip(science.sci, science.dq,
                                                                                  strict=True)])
            result = klip_subtract(filled, refs.sci, region=refs.region, truncate=self.truncate)
            modes = max(modes, int(result.n_modes.max()))
            err = np.sqrt(science.err.astype(np.float64) ** 2 + result.err.astype(np.float64) ** 2)
            dq = science.dq | np.where(refs.region, np.uint32(0), _BAD)[None]
            out.append(science.replace(sci=result.subtracted, err=err.astype(np.float32), dq=dq.astype(np.uint32),
                                       var_flat=None, area=None))
        return StepOutcome(CoronSubtracted(tuple(out), data.psfstack, data.aligned), _DONE,
                           counts={"modes": modes})


def _mean_image(cube: ImageData) -> ImageData:
    good = np.isfinite(cube.sci) & ((cube.dq & _BAD) == 0)
    n = good.sum(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        sci = np.where(good, cube.sci, 0.0).sum(axis=0) / n
        var_p = np.where(good, cube.var_poisson, 0.0).sum(axis=0) / n**2
        var_r = np.where(good, cube.var_rnoise, 0.0).sum(axis=0) / n**2
    none = n == 0
    dq = np.bitwise_or.reduce(cube.dq, axis=0) | np.where(none, _BAD, np.uint32(0))
    var_p, var_r = np.where(none, np.nan, var_p), np.where(none, np.nan, var_r)
    image = cube.replace(sci=np.where(none, np.nan, sci).astype(np.float32),
                         err=np.sqrt(var_p + var_r).astype(np.float32), dq=dq.astype(np.uint32),
                         var_poisson=var_p.astype(np.float32), var_rnoise=var_r.astype(np.float32))
    return with_header_wcs(image, source=cube.root)


@dataclass(frozen=True, slots=True, kw_only=True)
class CoronResampleStep(ResampleParams):
    """resample: each PSF-subtracted exposure's mean integration drizzled onto one sky grid (``_i2d``)."""

    name: ClassVar[str] = "resample"
    reference_types: ClassVar[tuple[RefType, ...]] = ()

    def apply(self, data: CoronSubtracted, ctx: Context) -> StepOutcome[Mosaic]:
        images = [_mean_image(cube) for cube in data.psfsub]
        mosaic = resample([(im, im.wcs) for im in images if im.wcs is not None], params=self)
        mosaic = dataclasses.replace(mosaic, sci_header=mosaic.header(self, reference=images[0]))
        return StepOutcome(mosaic, _DONE)
