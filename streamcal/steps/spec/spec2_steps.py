"""calwebb_spec2's steps for every spectroscopic kind it takes: each dispatches on the model it is given
(:mod:`streamcal.steps.spec.kinds`) to the single-trace steps (:mod:`streamcal.steps.spec.single_trace`), the
IFU ones (:mod:`streamcal.steps.spec.ifu`) or the MOS ones (:mod:`streamcal.steps.spec.mos`: an ``MSAQUADS``
SPECWCS makes an MsaImage, extract_2d its slit cutouts, which flat_field, photom and extract_1d treat per slit;
issue 11).

- assign_wcs reads the SPECWCS reference: a ``SPECWCS`` layout makes a TraceImage, an ``IFUSLICES`` slicer an
  IfuImage;
- flat_field divides either kind by the FLAT (§5.3);
- photom: MJy per pixel along a trace (a point source), MJy/sr per pixel of an IFU;
- cube_build (:class:`~streamcal.steps.spec.ifu.CubeBuildStep`) makes a cube of an IfuImage and passes a
  TraceImage on, SKIPPED;
- extract_1d: boxcar along a trace, or aperture and annulus in each plane of a cube. Its IFU parameters are the
  aperture radius and the background annulus in units of the PSF's FWHM at each wavelength [U], and
  ``ifu_autocen`` (find the source in the cube; without it the aperture sits at the field centre).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar, cast

import numpy as np

from streamcal.errors import InvalidInputError
from streamcal.kernels.image.flat_field import flat_field
from streamcal.models.grism import grism_from_table
from streamcal.models.ifu import geometry_from_table
from streamcal.models.image import ImageData
from streamcal.models.msa import geometry_from_msaquads
from streamcal.references import RefType
from streamcal.steps.base import Context, StepOutcome, StepStatus
from streamcal.steps.spec.ifu import IfuCube, IfuImage, extract_cube, ifu_image, ifu_photom
from streamcal.steps.spec.kinds import SpectralImage, SpectralProduct
from streamcal.steps.spec.lamp import LampSlits, extract_lamp, is_lamp, lamp_flat, lamp_wcs
from streamcal.steps.spec.mos import MsaImage, MultiSlit, extract_mos, mos_flat, mos_photom
from streamcal.steps.spec.single_trace import Extract1dStep, SpecAssignWcsStep, SpecPhotomStep, Spectrum, TraceImage
from streamcal.steps.spec.wfss import GrismSlits, extract_wfss, grism_image, wfss_flat, wfss_photom

__all__ = ["Spec2AssignWcsStep", "Spec2Extract1dStep", "Spec2FlatFieldStep", "Spec2PhotomStep"]

_DONE = StepStatus.COMPLETE


def _widen(outcome: StepOutcome[TraceImage]) -> StepOutcome[SpectralImage]:
    return StepOutcome(outcome.model, outcome.status, outcome.references_used, outcome.counts, outcome.note)


def _msa_wcs(image: ImageData, ctx: Context, name: str, table: np.ndarray) -> StepOutcome[SpectralImage]:
    """assign_wcs of a MOS exposure: the MSA geometry with the configuration the pipeline read."""
    if ctx.msa is None:
        raise InvalidInputError(f"{image.root}: a MOS exposure needs its MSA configuration (the MSA metadata file "
                                "MSAMETFL names), and none was read")
    msa = MsaImage(image.replace(primary={**image.primary, "DISPAXIS": 1}),
                   geometry_from_msaquads(table, source=name), ctx.msa)
    counts = {"n_slitlets": len(ctx.msa.slitlets), "n_sources": sum(s.has_source for s in ctx.msa.slitlets)}
    return StepOutcome(msa, _DONE, ((RefType.SPECWCS, name),), counts)


def _grism_wcs(image: ImageData, ctx: Context, name: str, table: np.ndarray) -> StepOutcome[SpectralImage]:
    """assign_wcs of a WFSS exposure: the grism's orders at the catalogue's sources the pipeline read."""
    if ctx.grism_sources is None:
        raise InvalidInputError(f"{image.root}: a WFSS exposure needs its direct-image source catalogue (a level-2 "
                                "association's sourcecat member), and none was read")
    conf = grism_from_table(table, source=name)
    grism, counts = grism_image(image, conf, ctx.grism_sources, reference=name)
    dispaxis = grism.traces[0].layout.dispaxis
    grism = grism.replace_image(image.replace(primary={**image.primary, "DISPAXIS": dispaxis}))
    return StepOutcome(grism, _DONE, ((RefType.SPECWCS, name),), counts)


def _no_msa_image(image: SpectralProduct, step: str) -> None:
    if isinstance(image, MsaImage):
        raise InvalidInputError(f"{step} takes a MOS exposure's slit cutouts: extract_2d must run")


@dataclass(frozen=True, slots=True, kw_only=True)
class Spec2AssignWcsStep:
    """The spectral WCS of the SPECWCS reference: a trace's or an IFU slicer's."""

    name: ClassVar[str] = "assign_wcs"
    reference_types: ClassVar[tuple[RefType, ...]] = (RefType.SPECWCS,)

    def apply(self, image: ImageData, ctx: Context) -> StepOutcome[SpectralImage]:
        ref = ctx.refs.require(RefType.SPECWCS)
        if is_lamp(image):  # NIRSpec lamps: fixed slits or MSA shutters by OPMODE (steps.spec.lamp)
            return lamp_wcs(image, ctx, ref)
        if "MSAQUADS" in ref.arrays:
            return _msa_wcs(image, ctx, ref.name, ref["MSAQUADS"])
        if "GRISMCONF" in ref.arrays:  # WFSS: the catalogue's sources through the grism (steps.spec.wfss)
            return _grism_wcs(image, ctx, ref.name, ref["GRISMCONF"])
        if "IFUSLICES" not in ref.arrays:
            return _widen(SpecAssignWcsStep().apply(image, ctx))
        ifu = ifu_image(image, geometry_from_table(ref["IFUSLICES"], source=ref.name))
        primary = {**image.primary, "DISPAXIS": ifu.geometry.dispaxis}
        return StepOutcome(ifu.replace_image(image.replace(primary=primary)), _DONE, ((RefType.SPECWCS, ref.name),),
                           {"n_slice_pixels": int(np.count_nonzero(ifu.pixels.slice >= 0))})


@dataclass(frozen=True, slots=True, kw_only=True)
class Spec2FlatFieldStep:
    """Divides by the FLAT reference and propagates the variances (§5.3), a trace's image or an IFU's."""

    name: ClassVar[str] = "flat_field"
    reference_types: ClassVar[tuple[RefType, ...]] = (RefType.FLAT,)

    def apply(self, image: SpectralImage, ctx: Context) -> StepOutcome[SpectralImage]:
        if isinstance(image, LampSlits) and str(image.image.primary.get("EXP_TYPE", "")).upper() == "NRS_AUTOFLAT":
            return StepOutcome(image, StepStatus.SKIPPED, note="jwst does not flat-field NRS_AUTOFLAT")
        flat = ctx.refs.require(RefType.FLAT)
        _no_msa_image(image, self.name)
        if isinstance(image, LampSlits):
            lamps, lamp_counts = lamp_flat(image, flat)
            return StepOutcome(lamps, _DONE, ((RefType.FLAT, flat.name),), lamp_counts)
        if isinstance(image, GrismSlits):
            slits, counts = wfss_flat(image, flat)
            return StepOutcome(slits, _DONE, ((RefType.FLAT, flat.name),), counts)
        if isinstance(image, MultiSlit):
            multi, counts = mos_flat(image, flat)
            return StepOutcome(multi, _DONE, ((RefType.FLAT, flat.name),), counts)
        out = flat_field(image.image, flat["SCI"], flat.arrays.get("ERR"), flat.arrays.get("DQ"))
        return StepOutcome(image.replace_image(out.image), _DONE, ((RefType.FLAT, flat.name),), out.counts)


@dataclass(frozen=True, slots=True, kw_only=True)
class Spec2PhotomStep:
    """DN/s → MJy per pixel along a trace (a point source), MJy/sr per pixel of an IFU (§5.4)."""

    name: ClassVar[str] = "photom"
    reference_types: ClassVar[tuple[RefType, ...]] = (RefType.PHOTOM,)

    def apply(self, image: SpectralImage, ctx: Context) -> StepOutcome[SpectralImage]:
        if isinstance(image, TraceImage):
            return _widen(SpecPhotomStep().apply(image, ctx))
        if isinstance(image, LampSlits):  # FILTER=OPAQUE: no PHOTOM row; jwst leaves lamps in DN/s
            return StepOutcome(image, StepStatus.SKIPPED, note="a NIRSpec lamp exposure has no photometric "
                               "calibration (FILTER=OPAQUE): the _cal stays in DN/s, as jwst's")
        _no_msa_image(image, self.name)
        if isinstance(image, GrismSlits):  # WFSS: the sensitivity is applied by extract_1d (jwst: on the x1d)
            phot = ctx.refs.require(RefType.PHOTOM)
            slits, wfss_counts = wfss_photom(image, phot)
            return StepOutcome(slits, _DONE, ((RefType.PHOTOM, phot.name),), wfss_counts)
        if isinstance(image, MultiSlit):
            phot = ctx.refs.require(RefType.PHOTOM)
            multi, mos_counts = mos_photom(image, phot)
            return StepOutcome(multi, _DONE, ((RefType.PHOTOM, phot.name),), mos_counts)
        if not isinstance(image, IfuImage):
            raise InvalidInputError(f"photom has no rule for a {type(image).__name__}")
        table = ctx.refs.require(RefType.PHOTOM)
        out, counts = ifu_photom(image, table)
        return StepOutcome(out, _DONE, ((RefType.PHOTOM, table.name),), counts)


@dataclass(frozen=True, slots=True, kw_only=True)
class Spec2Extract1dStep(Extract1dStep):
    """Boxcar extraction along a trace (the single-trace parameters), or from an IFU cube: aperture radius and
    background annulus in units of the PSF's FWHM at each wavelength, centred on the source found in the cube
    (``ifu_autocen``) or on the field centre; or along each MOS source's trace in its slit cutout, half-width and
    background region (the slitlet's other shutters) in units of the trace σ (``mos_*`` [U]: 4 σ as for a single
    trace, and a 1×3 slitlet of 5.3 px shutters leaves 2–3 px each side beyond 5 σ; 3.5 σ lost ~0.1 %)."""

    ifu_radius_fwhm: float = 2.5
    ifu_bkg_inner_fwhm: float = 3.0
    ifu_bkg_outer_fwhm: float = 4.0
    ifu_autocen: bool = True
    mos_half_width_sigma: float = 4.0
    mos_bkg_inner_sigma: float | None = 5.0
    mos_bkg_outer_sigma: float | None = 12.0

    def __post_init__(self) -> None:
        checks = getattr(Extract1dStep, "__post_init__", None)  # the single-trace parameters' own, if any
        if checks is not None:
            checks(self)
        if not 0 < self.ifu_radius_fwhm <= self.ifu_bkg_inner_fwhm < self.ifu_bkg_outer_fwhm:
            raise ValueError("IFU extraction needs 0 < ifu_radius_fwhm <= ifu_bkg_inner_fwhm < ifu_bkg_outer_fwhm")
        inner, outer = self.mos_bkg_inner_sigma, self.mos_bkg_outer_sigma
        background_ok = (inner is None and outer is None) or (
            inner is not None and outer is not None and self.mos_half_width_sigma <= inner < outer)
        if not (self.mos_half_width_sigma > 0 and background_ok):
            raise ValueError("MOS extraction needs 0 < mos_half_width_sigma <= mos_bkg_inner_sigma < "
                             "mos_bkg_outer_sigma (or no background region)")

    def apply(self, model: SpectralProduct, ctx: Context) -> StepOutcome[Spectrum]:
        if isinstance(model, TraceImage):
            return Extract1dStep.apply(self, model, ctx)
        if isinstance(model, GrismSlits):
            wfss, wfss_counts = extract_wfss(model, ctx, Extract1dStep(
                half_width_sigma=self.half_width_sigma, bkg_inner_sigma=self.bkg_inner_sigma,
                bkg_outer_sigma=self.bkg_outer_sigma))
            return StepOutcome(wfss, _DONE, counts=wfss_counts)
        if isinstance(model, LampSlits):  # line lamps: a DN/s spectrum per slit; flat lamps none (jwst)
            if model.kind != "line":
                return StepOutcome(cast(Spectrum, model), StepStatus.SKIPPED,
                                   note="jwst extracts no spectrum from a flat lamp")
            lamp_spectra, lamp_counts = extract_lamp(model)
            return StepOutcome(lamp_spectra, _DONE, counts=lamp_counts)
        if isinstance(model, MultiSlit):
            spectra, counts = extract_mos(model, ctx, half_width_sigma=self.mos_half_width_sigma,
                                          bkg_inner_sigma=self.mos_bkg_inner_sigma,
                                          bkg_outer_sigma=self.mos_bkg_outer_sigma)
            return StepOutcome(spectra, _DONE, counts=counts)
        _no_msa_image(model, self.name)
        if not isinstance(model, IfuCube):
            raise InvalidInputError(f"extract_1d takes a trace or an IFU cube, not a {type(model).__name__} (an IFU "
                                    "exposure is extracted from its cube: cube_build must run)")
        out = extract_cube(model, radius_fwhm=self.ifu_radius_fwhm, inner_fwhm=self.ifu_bkg_inner_fwhm,
                           outer_fwhm=self.ifu_bkg_outer_fwhm, centre=None if self.ifu_autocen else (0.0, 0.0))
        return StepOutcome(Spectrum(model.root, out.columns, out.meta, dict(model.primary)), _DONE,
                           counts=out.counts)
