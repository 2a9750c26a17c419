"""calwebb_spec2's steps for NIRSpec MOS (NRS_MSASPEC), on one exposure's rate image (jwst_spec §1.5, issue 11).

- assign_wcs: the MSA geometry of the SPECWCS reference (``MSAQUADS``, :mod:`streamcal.models.msa`) with the
  exposure's MSA configuration (its slitlets and sources, which the pipeline read from the MSA metadata file
  MSAMETFL names: :attr:`streamcal.steps.base.Context.msa`) → an :class:`MsaImage`. Each source's wavelength
  zero point includes its position across its shutter (what jwst's wavecorr step corrects).
- extract_2d: one cutout per open slitlet that reaches the subarray (its bounding box; pixels outside the
  slitlet's open strip are NON_SCIENCE and DO_NOT_USE, with a NaN wavelength) → a :class:`MultiSlit`. Slitlets
  off the subarray are counted; an exposure none of whose slitlets reaches it is an error.
- srctype: POINT if the slitlet's source has stellarity > 0.75 or an unknown (negative or NaN) stellarity [U],
  EXTENDED otherwise and for an empty (background-only) slitlet, as jwst decides from the MSA metadata.
- flat_field divides each cutout by its part of the FLAT; photom multiplies each cutout by
  ``photmj × relresponse(λ)`` of the optical path's PHOTOM row: MJy per pixel for a POINT slit, MJy/sr (÷ the
  pixel's solid angle, PIXAR_SR or (0.1")² [U]) for an EXTENDED one.
- resample_spec: each calibrated cutout rectified along its trace onto its own wavelength grid (the rectify
  kernel: whole-pixel shifts across, flux-conserving rebinning along) → the ``_s2d`` (MultiSlitModel); the
  extraction still works on the cutouts.
- extract_1d: boxcar along each source's trace in its cutout (half-width and background region in units of the
  trace σ; the background comes from the slitlet's other shutters, the pixels of its open strip outside the
  aperture) → one spectrum per source (:class:`MultiSpectrum`). An empty slitlet gives none and is counted.

Simplified [U]: pathloss, barshadow and master_background_mos are not done (the forward model has no slit loss
and no bars); the per-slit flat is the detector flat (no fore-optics or spectrograph flats).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import ClassVar

import numpy as np
import numpy.typing as npt

from streamcal.datamodels.spectra import Spectrum1D
from streamcal.dq import Pixel
from streamcal.errors import BadDataShapeError, InvalidInputError
from streamcal.kernels.image.calibrate import photom_row
from streamcal.kernels.spec import apply_conversion, spectral_conversion
from streamcal.kernels.spec.rectify import grid_edges, rectify_trace
from streamcal.models.image import ImageData
from streamcal.models.msa import MsaConfiguration, MsaGeometry, MsaSlitlet, MsaSource
from streamcal.models.spectral import SpectralLayout
from streamcal.references import ReferenceFile, RefType
from streamcal.steps.base import Context, StepOutcome, StepStatus
from streamcal.steps.spec.cutouts import flat_cutouts, masked_cutout
from streamcal.steps.spec.kinds import SpectralImage
from streamcal.steps.spec.lamp import LampImage, LampSlits, lamp_slits, rectify_lamp
from streamcal.steps.spec.single_trace import (
    S2D_EXP_TYPES,
    Extract1dStep,
    Spectrum,
    TraceImage,
    rectify,
    trace_image,
)
from streamcal.steps.spec.wfss import GrismImage, GrismSlits, grism_slits, wfss_srctype

__all__ = ["NOMINAL_PIXAR_SR", "POINT_STELLARITY", "SHUTTER_ROWS", "MosSlit", "MsaImage", "MultiSlit", "MultiSpectrum",
           "Spec2Extract2dStep", "Spec2ResampleSpecStep", "Spec2SrctypeStep", "extract_mos", "extract_slits",
           "mos_flat", "mos_photom", "mos_srctype", "rectify_slits", "shutter_id", "shutter_position",
           "surface_brightness"]

_DONE = StepStatus.COMPLETE
#: jwst's srctype threshold: a source more stellar than this is a point source.
POINT_STELLARITY = 0.75
_PIXAR_SR = (0.1 / 206264.80624709636) ** 2  # (0.1")² [U], when the exposure has no PIXAR_SR
#: The pixel solid angle (sr) MOS photom and extract_1d use when the exposure has no PIXAR_SR: (0.1")² [U].
NOMINAL_PIXAR_SR = _PIXAR_SR
_MJY_TO_JY = 1e6


@dataclass(frozen=True, slots=True)
class MsaImage(SpectralImage):
    """A MOS rate image with its MSA geometry and configuration (assign_wcs's output)."""

    image: ImageData
    geometry: MsaGeometry
    config: MsaConfiguration

    def replace_image(self, image: ImageData) -> MsaImage:
        return MsaImage(image, self.geometry, self.config)


@dataclass(frozen=True, slots=True)
class MosSlit:
    """One slitlet's cutout.

    ``image`` is the cutout (its primary's SUBSTRT1/2 give its full-frame origin, 1-based); ``xstart``,
    ``ystart`` (1-based) place it in the exposure's image; ``wavelength`` is per pixel (µm, NaN outside the open
    strip); ``layout`` the trace of the slitlet's source (of its middle shutter's centre when it is empty)."""

    slitlet: MsaSlitlet
    source: MsaSource | None
    layout: SpectralLayout
    image: ImageData
    xstart: int
    ystart: int
    wavelength: npt.NDArray[np.float64]
    srctype: str = "UNKNOWN"

    @property
    def name(self) -> str:
        """jwst's SLTNAME of a MOS slitlet: its slitlet_id."""
        return str(self.slitlet.slitlet_id)

    def meta(self) -> dict[str, object]:
        """The slit's keywords, as jwst writes them in a MultiSlitModel's SCI header and an x1d's EXTRACT1D
        (slitmeta: SLTSTRT1/2 and SLTSIZE1/2 are xstart/ystart and xsize/ysize; MSAQUAD the quadrant; SHUTTRID
        the primary shutter, ``row + (column − 1) × 365`` as jwst numbers it; WAVECOR: the source's position
        across its shutter is in the wavelengths)."""
        s, src = self.slitlet, self.source
        ny, nx = self.image.shape
        out: dict[str, object] = {
            "SLTNAME": self.name, "SLITID": s.slitlet_id, "SOURCEID": s.source_id, "SRCTYPE": self.srctype,
            "MSAQUAD": s.quadrant, "SHUTTRID": shutter_id(s.row, s.primary_column), "SHUTSTA": s.shutter_state,
            "SLTSTRT1": self.xstart, "SLTSTRT2": self.ystart,
            "SLTSIZE1": nx, "SLTSIZE2": ny, "WAVECOR": True, "DISPAXIS": 1}
        if src is not None:
            out.update(SRCNAME=src.name, SRCALIAS=src.alias, STLARITY=src.stellarity, SRCRA=src.ra, SRCDEC=src.dec,
                       SRCXPOS=s.source_x - 0.5, SRCYPOS=s.source_y - 0.5)
        return out


#: Shutter rows per MSA quadrant column in jwst's shutter numbering (SHUTTRID).
SHUTTER_ROWS = 365


def shutter_id(row: int, column: int) -> int:
    """jwst's shutter number of (row, column), both 1-based: ``row + (column − 1) × 365``."""
    return int(row) + (int(column) - 1) * SHUTTER_ROWS


def shutter_position(shutter: int) -> tuple[int, int]:
    """The (row, column) of jwst's shutter number (the inverse of :func:`shutter_id`)."""
    row = (int(shutter) - 1) % SHUTTER_ROWS + 1
    return row, (int(shutter) - row) // SHUTTER_ROWS + 1


@dataclass(frozen=True, slots=True)
class MultiSlit(SpectralImage):
    """The slitlets' cutouts (extract_2d's output); ``image`` is the exposure's image they were cut from;
    ``rectified`` resample_spec's planes per slit (SCI, ERR, DQ, VAR_*, WAVELENGTH, WHT), empty until it runs."""

    image: ImageData
    slits: tuple[MosSlit, ...]
    rectified: tuple[dict[str, npt.NDArray[np.generic]], ...] = ()  # resample_spec's planes per slit, if it ran

    def replace_image(self, image: ImageData) -> MultiSlit:
        return MultiSlit(image, self.slits, self.rectified)

    def with_slits(self, slits: list[MosSlit]) -> MultiSlit:
        """New cutouts (a calibration step's): any rectified planes no longer apply."""
        return MultiSlit(self.image, tuple(slits))


@dataclass(frozen=True, slots=True)
class MultiSpectrum(Spectrum):
    """One spectrum per source slitlet (``spectra``); the inherited columns and meta are the first one's."""

    spectra: tuple[Spectrum1D, ...] = ()


def extract_slits(msa: MsaImage) -> tuple[MultiSlit, dict[str, int]]:
    """extract_2d: a cutout per slitlet reaching the subarray (module docstring).

    Raises
    ------
    BadDataShapeError
        No open slitlet falls on the subarray. Not retriable.
    InvalidInputError
        A slitlet in a quadrant or shutter the geometry does not have. Not retriable.
    """
    image = msa.image
    ny, nx = image.shape
    x0 = int(str(image.primary.get("SUBSTRT1", 1))) - 1
    y0 = int(str(image.primary.get("SUBSTRT2", 1))) - 1
    d = x0 + np.arange(nx)
    ys = y0 + np.arange(ny)
    slits, off = [], 0
    for slitlet in msa.config.slitlets:
        quad = msa.geometry.quadrant(slitlet.quadrant)
        try:
            layout = quad.layout(slitlet.row, slitlet.primary_column, slitlet.source_x, slitlet.source_y)
        except ValueError as exc:
            raise InvalidInputError(f"{image.root}: slitlet {slitlet.slitlet_id}: {exc}") from exc
        lo = quad.cross(d, min(slitlet.columns) - 0.5)
        hi = quad.cross(d, max(slitlet.columns) + 0.5)
        lit = (d >= quad.d_range[0]) & (d < quad.d_range[1])
        inside = (ys[:, None] >= lo[None, :]) & (ys[:, None] < hi[None, :]) & lit[None, :]
        found = masked_cutout(image, inside, layout.wavelength(d))
        if found is None:
            off += 1
            continue
        cut, xstart, ystart, wave = found
        slits.append(MosSlit(slitlet, msa.config.source(slitlet), layout, cut, xstart, ystart, wave))
    if not slits:
        raise BadDataShapeError(f"{image.root}: none of the {len(msa.config.slitlets)} open slitlets of its MSA "
                                f"configuration falls on this {ny}×{nx} subarray")
    counts = {"n_slits": len(slits), "n_slitlets_off_detector": off,
              "n_empty_slitlets": sum(not s.slitlet.has_source for s in slits)}
    return MultiSlit(image, tuple(slits)), counts


def mos_srctype(multi: MultiSlit) -> tuple[MultiSlit, dict[str, int]]:
    """srctype: POINT or EXTENDED per slit (module docstring)."""
    slits = []
    for slit in multi.slits:
        stellarity = np.nan if slit.source is None else slit.source.stellarity
        point = slit.source is not None and (not np.isfinite(stellarity) or stellarity < 0
                                             or stellarity > POINT_STELLARITY)
        slits.append(dataclasses.replace(slit, srctype="POINT" if point else "EXTENDED"))
    n_point = sum(s.srctype == "POINT" for s in slits)
    return multi.with_slits(slits), {"n_point": n_point, "n_extended": len(slits) - n_point}


def mos_flat(multi: MultiSlit, flat: ReferenceFile) -> tuple[MultiSlit, dict[str, int]]:
    """flat_field: each cutout divided by its part of the FLAT (the exposure's subarray cut by the store)."""
    slits, counts = flat_cutouts(multi.slits, flat)
    return multi.with_slits(slits), counts


def mos_photom(multi: MultiSlit, table: ReferenceFile) -> tuple[MultiSlit, dict[str, int]]:
    """photom: MJy per pixel (POINT) or MJy/sr (EXTENDED) per cutout (module docstring).

    Raises
    ------
    MissingReferenceError
        No PHOTOM row for the optical path, or one without a spectral calibration. Not retriable.
    """
    row = photom_row(table["PHOTOM"], multi.image.primary, reference=table.name)
    pixar = float(str(multi.image.sci_header.get("PIXAR_SR", "") or _PIXAR_SR))
    slits, outside = [], 0
    for slit in multi.slits:
        image = slit.image
        scale = spectral_conversion(row, slit.wavelength, reference=table.name)
        unit = "MJy"
        if slit.srctype == "EXTENDED":
            scale, unit = scale / pixar, "MJy/sr"
        outside += int(np.count_nonzero(~np.isfinite(scale) & np.isfinite(slit.wavelength)))
        slits.append(dataclasses.replace(slit, image=apply_conversion(image, scale, bunit=unit)))
    return multi.with_slits(slits), {"n_outside_response": outside}


def extract_mos(multi: MultiSlit, ctx: Context, *, half_width_sigma: float, bkg_inner_sigma: float | None,
                bkg_outer_sigma: float | None) -> tuple[MultiSpectrum, dict[str, int]]:
    """extract_1d: boxcar along each source's trace in its cutout; empty slitlets give no spectrum.

    Raises
    ------
    MissingReferenceError
        A cutout not in photom's units. Not retriable.
    BadDataShapeError
        No slitlet holds a source (nothing to extract). Not retriable.
    """
    boxcar = Extract1dStep(half_width_sigma=half_width_sigma, bkg_inner_sigma=bkg_inner_sigma,
                           bkg_outer_sigma=bkg_outer_sigma)
    spectra, first, empty, incomplete = [], None, 0, 0
    pixar = float(str(multi.image.sci_header.get("PIXAR_SR", "") or _PIXAR_SR))
    for slit in multi.slits:
        if slit.source is None:
            empty += 1
            continue
        image = slit.image
        if str(image.sci_header.get("BUNIT", "")).strip() == "MJy/sr":  # an extended source: sum MJy
            image = image.replace(sci=(image.sci * pixar).astype(np.float32),
                                  var_poisson=(image.var_poisson * pixar ** 2).astype(np.float32),
                                  var_rnoise=(image.var_rnoise * pixar ** 2).astype(np.float32),
                                  var_flat=None if image.var_flat is None else
                                  (image.var_flat * pixar ** 2).astype(np.float32),
                                  err=(image.err * pixar).astype(np.float32),
                                  sci_header={**image.sci_header, "BUNIT": "MJy"})
        outcome = boxcar.apply(trace_image(image, slit.layout), ctx)
        spectrum = outcome.model
        columns = dict(spectrum.columns)
        surface_brightness(columns, spectrum.columns["NPIXELS"], pixar)
        meta = {**spectrum.meta, **slit.meta(), "EXTR_Y": spectrum.meta.get("EXTR_Y")}
        spectra.append(Spectrum1D(columns, meta))
        incomplete += int(outcome.counts.get("n_incomplete_aperture", 0))
        first = first or Spectrum(multi.image.root, columns, meta, dict(multi.image.primary))
    if first is None:
        raise BadDataShapeError(f"{multi.image.root}: none of its {len(multi.slits)} slitlets holds a source")
    result = MultiSpectrum(first.root, first.columns, first.meta, first.primary, tuple(spectra))
    return result, {"n_spectra": len(spectra), "n_empty_slitlets": empty, "n_incomplete_aperture": incomplete}


def surface_brightness(columns: dict[str, npt.NDArray[np.generic]], npixels: npt.NDArray[np.generic],
                        pixar: float) -> None:
    """SURF_BRIGHT (MJy/sr): the flux spread over the aperture's solid angle (jwst's for a point source)."""
    area = np.asarray(npixels, np.float64) * pixar
    with np.errstate(divide="ignore", invalid="ignore"):
        columns["SURF_BRIGHT"] = np.asarray(columns["FLUX"], np.float64) / _MJY_TO_JY / area
        for part in ("POISSON", "RNOISE", "FLAT"):
            columns[f"SB_VAR_{part}"] = (np.asarray(columns[f"FLUX_VAR_{part}"], np.float64)
                                         / _MJY_TO_JY ** 2 / area ** 2)


@dataclass(frozen=True, slots=True, kw_only=True)
class Spec2Extract2dStep:
    """extract_2d: a cutout per open MSA slitlet (a MOS exposure), or per source and order of a WFSS exposure
    (``wfss_half_height`` px either side of the trace [U: room for the 6–12 σ background of a σ ≈ 1 px trace]);
    other exposures pass on, SKIPPED."""

    name: ClassVar[str] = "extract_2d"
    reference_types: ClassVar[tuple[RefType, ...]] = ()
    wfss_half_height: int = 14

    def apply(self, image: SpectralImage, ctx: Context) -> StepOutcome[SpectralImage]:
        if isinstance(image, GrismImage):  # WFSS: a cutout per source and order (steps.spec.wfss)
            slits, wfss_counts = grism_slits(image, half_height=self.wfss_half_height)
            return StepOutcome(slits, _DONE, counts=wfss_counts)
        if isinstance(image, LampImage):  # NIRSpec lamps: a cutout per lit slit (steps.spec.lamp)
            lamps, lamp_counts = lamp_slits(image)
            return StepOutcome(lamps, _DONE, counts=lamp_counts)
        if not isinstance(image, MsaImage):
            return StepOutcome(image, StepStatus.SKIPPED, note="not a MOS exposure (no MSA slitlets to cut out)")
        multi, counts = extract_slits(image)
        return StepOutcome(multi, _DONE, counts=counts)


@dataclass(frozen=True, slots=True, kw_only=True)
class Spec2SrctypeStep:
    """srctype: POINT or EXTENDED per MOS slit from the MSA metadata; other exposures pass on, SKIPPED (their
    extraction treats the source as a point source)."""

    name: ClassVar[str] = "srctype"
    reference_types: ClassVar[tuple[RefType, ...]] = ()

    def apply(self, image: SpectralImage, ctx: Context) -> StepOutcome[SpectralImage]:
        if isinstance(image, GrismSlits):  # WFSS (steps.spec.wfss)
            slits, wfss_counts = wfss_srctype(image)
            return StepOutcome(slits, _DONE, counts=wfss_counts)
        if isinstance(image, LampSlits):  # jwst has no srctype rule for lamps: SRCTYPE = UNKNOWN
            lamp_primary = {**image.image.primary, "SRCTYPE": "UNKNOWN"}
            return StepOutcome(image.replace_image(image.image.replace(primary=lamp_primary)), _DONE,
                               counts={"n_unknown": len(image.slits)})
        if not isinstance(image, MultiSlit):
            return StepOutcome(image, StepStatus.SKIPPED, note="not a MOS exposure (its source type is POINT)")
        multi, counts = mos_srctype(image)
        return StepOutcome(multi, _DONE, counts=counts)


def rectify_slits(multi: MultiSlit, *, half_extent: int) -> tuple[MultiSlit, dict[str, int]]:
    """resample_spec: each cutout rectified along its trace (its source's, or the middle shutter's centre) onto
    the grid of its own lit wavelengths, rows ``−half_extent … +half_extent``."""
    planes = []
    for slit in multi.slits:
        traced = trace_image(slit.image, slit.layout)
        wave = traced.wavelength[traced.lit]
        edges = grid_edges(wave)
        image = slit.image
        rect = rectify_trace(image.sci, var_poisson=image.var_poisson, var_rnoise=image.var_rnoise,
                             var_flat=image.var_flat, dq=image.dq, dispaxis=1, centre=traced.centre,
                             wavelength=traced.wavelength, lit=traced.lit, edges=edges, half_extent=half_extent)
        centres = 0.5 * (edges[1:] + edges[:-1])
        good = (rect.dq & np.uint32(Pixel.DO_NOT_USE)) == 0
        planes.append({"SCI": rect.sci, "ERR": np.sqrt(rect.variance), "DQ": rect.dq,
                       "VAR_POISSON": rect.var_poisson, "VAR_RNOISE": rect.var_rnoise, "VAR_FLAT": rect.var_flat,
                       "WAVELENGTH": np.broadcast_to(centres, rect.sci.shape), "WHT": good.astype(np.float32)})
    return MultiSlit(multi.image, multi.slits, tuple(planes)), {"n_rectified": len(planes)}


@dataclass(frozen=True, slots=True, kw_only=True)
class Spec2ResampleSpecStep:
    """resample_spec, as jwst's spec2 runs it: MOS slits, and the fixed-slit traces of NRS_FIXEDSLIT and
    MIR_LRS-FIXEDSLIT (not time series), rectified along their traces (the ``_s2d``); other exposures pass on,
    SKIPPED. ``half_extent``: rows each side of the trace [U: a MOS slitlet's half height, 8 px]."""

    name: ClassVar[str] = "resample_spec"
    reference_types: ClassVar[tuple[RefType, ...]] = ()
    half_extent: int = 8

    def apply(self, image: SpectralImage, ctx: Context) -> StepOutcome[SpectralImage]:
        if isinstance(image, MultiSlit):
            multi, counts = rectify_slits(image, half_extent=self.half_extent)
            return StepOutcome(multi, _DONE, counts=counts)
        if isinstance(image, LampSlits):  # jwst's is_nrs_slit_linelamp: line lamps only, not NRS_AUTOFLAT
            exp_type = str(image.image.primary.get("EXP_TYPE", "")).strip().upper()
            if image.kind == "line" and exp_type != "NRS_AUTOFLAT":
                lamps, lamp_counts = rectify_lamp(image)
                return StepOutcome(lamps, _DONE, counts=lamp_counts)
            return StepOutcome(image, StepStatus.SKIPPED, note="jwst resamples line lamps only")
        exp_type = str(image.image.primary.get("EXP_TYPE", "")).strip().upper()
        if isinstance(image, TraceImage) and exp_type in S2D_EXP_TYPES and not image.image.is_cube:
            rectified = rectify(image, half_extent=self.half_extent)
            return StepOutcome(rectified, _DONE, counts={"n_rectified": 1})
        return StepOutcome(image, StepStatus.SKIPPED, note=f"no _s2d for {exp_type or 'this exposure'} (jwst "
                           "resamples NRS_FIXEDSLIT, NRS_MSASPEC and MIR_LRS-FIXEDSLIT, not time series)")
