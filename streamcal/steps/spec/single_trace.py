"""calwebb_spec2's steps for a single-trace mode (one point source on one trace: fixed slit, bright-object slit,
MIRI LRS, NIRCam grism time series, SOSS order 1), on one exposure's rate image (jwst_spec §1.5, §5.9).

- assign_wcs reads the SPECWCS reference (:mod:`streamcal.models.spectral`): each dispersion pixel of the image
  gets its wavelength and the trace centre; the image becomes a :class:`TraceImage`.
- flat_field divides by the FLAT reference (the imaging kernel: same variance and NaN/DO_NOT_USE rules).
- photom multiplies each dispersion pixel by ``photmj × relresponse(λ)`` from the PHOTOM row of the optical path
  (DN/s → MJy per pixel for a point source, variances by the square); wavelengths outside the response table
  become NaN and DO_NOT_USE, as in jwst.
- extract_1d sums the trace by boxcar (half-width and background region in units of the trace's σ) and
  converts MJy to Jy: a :class:`Spectrum`, written as jwst's ``_x1d``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar

import numpy as np
import numpy.typing as npt

from streamcal.dq import Pixel
from streamcal.errors import BadDataShapeError, MissingReferenceError
from streamcal.kernels.image.calibrate import photom_row
from streamcal.kernels.image.flat_field import flat_field
from streamcal.kernels.spec import BoxcarAperture, apply_conversion, extract_boxcar, spectral_conversion
from streamcal.kernels.spec.rectify import grid_edges, rectify_trace
from streamcal.models.image import ImageData
from streamcal.models.spectral import SpectralLayout, layout_from_specwcs
from streamcal.references import RefType
from streamcal.steps.base import Context, StepOutcome, StepStatus
from streamcal.steps.spec.kinds import SpectralImage

__all__ = ["S2D_EXP_TYPES", "Extract1dStep", "RectifiedTrace", "SpecAssignWcsStep", "SpecFlatFieldStep",
           "SpecPhotomStep", "Spectrum", "TraceImage", "rectify", "trace_image"]

_DONE = StepStatus.COMPLETE
_MJY_TO_JY = 1e6


@dataclass(frozen=True, slots=True)
class TraceImage(SpectralImage):
    """A rate (later calibrated) image with its trace: per dispersion pixel of the image, the wavelength (µm),
    the trace centre (cross-dispersion pixels, the image's own 0-based frame) and whether it is lit."""

    image: ImageData
    layout: SpectralLayout
    wavelength: npt.NDArray[np.float64]
    centre: npt.NDArray[np.float64]
    lit: npt.NDArray[np.bool_]

    def replace_image(self, image: ImageData) -> TraceImage:
        return TraceImage(image, self.layout, self.wavelength, self.centre, self.lit)


@dataclass(frozen=True, slots=True)
class RectifiedTrace(TraceImage):
    """A calibrated trace and, in ``planes``, resample_spec's rectification of it (the ``_s2d``: SCI, ERR, DQ,
    VAR_*, WAVELENGTH, WHT; rows about the trace × the trace's own wavelength bins). extract_1d reads it as the
    trace image it is."""

    planes: dict[str, npt.NDArray[np.generic]] = field(default_factory=dict)


#: The single-trace EXP_TYPEs whose spec2 writes a rectified ``_s2d``, as jwst's does (not time series).
S2D_EXP_TYPES = frozenset({"NRS_FIXEDSLIT", "MIR_LRS-FIXEDSLIT"})


def rectify(traced: TraceImage, *, half_extent: int) -> RectifiedTrace:
    """resample_spec on a single trace: the calibrated image rectified along its trace onto the grid of its own
    lit wavelengths (flux-conserving; :func:`~streamcal.kernels.spec.rectify.rectify_trace`), rows
    ``−half_extent … +half_extent`` about it."""
    image = traced.image
    edges = grid_edges(traced.wavelength[traced.lit])
    rect = rectify_trace(image.sci, var_poisson=image.var_poisson, var_rnoise=image.var_rnoise,
                         var_flat=image.var_flat, dq=image.dq, dispaxis=traced.layout.dispaxis, centre=traced.centre,
                         wavelength=traced.wavelength, lit=traced.lit, edges=edges, half_extent=half_extent)
    centres = 0.5 * (edges[1:] + edges[:-1])
    good = (rect.dq & np.uint32(Pixel.DO_NOT_USE)) == 0
    planes: dict[str, npt.NDArray[np.generic]] = {
        "SCI": rect.sci, "ERR": np.sqrt(rect.variance), "DQ": rect.dq, "VAR_POISSON": rect.var_poisson,
        "VAR_RNOISE": rect.var_rnoise, "VAR_FLAT": rect.var_flat,
        "WAVELENGTH": np.broadcast_to(centres, rect.sci.shape).copy(), "WHT": good.astype(np.float32)}
    return RectifiedTrace(image, traced.layout, traced.wavelength, traced.centre, traced.lit, planes)


@dataclass(frozen=True, slots=True)
class Spectrum:
    """An extracted spectrum: x1d columns (:data:`streamcal.datamodels.spectra.SPEC_COLUMNS`) and keywords.

    From a cube of integrations every column is 2-D, one row per integration (``is_ints``; written as
    ``_x1dints``)."""

    root: str
    columns: dict[str, npt.NDArray[np.generic]]
    meta: dict[str, object] = field(default_factory=dict)
    primary: dict[str, object] = field(default_factory=dict)

    @property
    def is_ints(self) -> bool:
        return np.ndim(self.columns["WAVELENGTH"]) == 2


def trace_image(image: ImageData, layout: SpectralLayout) -> TraceImage:
    """The image with its trace (assign_wcs's work): wavelength and trace centre per dispersion pixel (a cube of
    integrations shares its planes' trace).

    Raises
    ------
    BadDataShapeError
        A subarray the trace does not cross. Not retriable.
    """
    x0 = int(str(image.primary.get("SUBSTRT1", 1))) - 1
    y0 = int(str(image.primary.get("SUBSTRT2", 1))) - 1
    ny, nx = image.shape
    disp_offset, cross_offset, ndisp = (x0, y0, nx) if layout.dispaxis == 1 else (y0, x0, ny)
    d = np.arange(ndisp, dtype=np.int64) + disp_offset
    lit = (d >= layout.d_range[0]) & (d < layout.d_range[1])
    if not lit.any():
        raise BadDataShapeError(f"{image.root}: the trace ({layout.d_range[0]}-{layout.d_range[1] - 1}) does not "
                                f"fall on this subarray")
    centre = layout.trace(d) - cross_offset
    ncross = nx if layout.dispaxis == 2 else ny
    across = lit & (centre >= -0.5) & (centre <= ncross - 0.5)
    if not across.any():
        raise BadDataShapeError(f"{image.root}: the trace centre ({float(np.median(centre[lit])):.1f} px across "
                                f"the dispersion) lies outside this {ncross}-pixel-wide subarray")
    return TraceImage(image, layout, layout.wavelength(d), centre, lit)


@dataclass(frozen=True, slots=True, kw_only=True)
class SpecAssignWcsStep:
    """The spectral WCS of the SPECWCS reference: wavelength and trace centre per dispersion pixel."""

    name: ClassVar[str] = "assign_wcs"
    reference_types: ClassVar[tuple[RefType, ...]] = (RefType.SPECWCS,)

    def apply(self, image: ImageData, ctx: Context) -> StepOutcome[TraceImage]:
        ref = ctx.refs.require(RefType.SPECWCS)
        traced = trace_image(image, layout_from_specwcs(ref["SPECWCS"], source=ref.name))
        primary = {**image.primary, "DISPAXIS": traced.layout.dispaxis}
        traced = traced.replace_image(image.replace(primary=primary))
        return StepOutcome(traced, _DONE, ((RefType.SPECWCS, ref.name),),
                           {"n_lit_dispersion_pixels": int(traced.lit.sum())})


@dataclass(frozen=True, slots=True, kw_only=True)
class SpecFlatFieldStep:
    """Divides by the FLAT reference and propagates the variances (§5.3)."""

    name: ClassVar[str] = "flat_field"
    reference_types: ClassVar[tuple[RefType, ...]] = (RefType.FLAT,)

    def apply(self, traced: TraceImage, ctx: Context) -> StepOutcome[TraceImage]:
        flat = ctx.refs.require(RefType.FLAT)
        out = flat_field(traced.image, flat["SCI"], flat.arrays.get("ERR"), flat.arrays.get("DQ"))
        return StepOutcome(traced.replace_image(out.image), _DONE, ((RefType.FLAT, flat.name),), out.counts)


def _along_cross(values: npt.NDArray[np.float64], dispaxis: int) -> npt.NDArray[np.float64]:
    """A per-dispersion-pixel vector broadcast over the image (rows when dispersion runs along x)."""
    return values[None, :] if dispaxis == 1 else values[:, None]


@dataclass(frozen=True, slots=True, kw_only=True)
class SpecPhotomStep:
    """DN/s → MJy per pixel (a point source): ``photmj × relresponse(λ)`` of the PHOTOM row (§5.4)."""

    name: ClassVar[str] = "photom"
    reference_types: ClassVar[tuple[RefType, ...]] = (RefType.PHOTOM,)

    def apply(self, traced: TraceImage, ctx: Context) -> StepOutcome[TraceImage]:
        table = ctx.refs.require(RefType.PHOTOM)
        row = photom_row(table["PHOTOM"], traced.image.primary, reference=table.name)
        factor = _along_cross(spectral_conversion(row, traced.wavelength, reference=table.name),
                              traced.layout.dispaxis)
        out = apply_conversion(traced.image, factor, bunit="MJy")  # NaN off the response table: DO_NOT_USE
        unusable = np.broadcast_to(~np.isfinite(factor), traced.image.shape)
        return StepOutcome(traced.replace_image(out), _DONE, ((RefType.PHOTOM, table.name),),
                           {"n_outside_response": int(np.count_nonzero(unusable))})


@dataclass(frozen=True, slots=True, kw_only=True)
class Extract1dStep:
    """Boxcar extraction along the trace (§5.9): half-width and background region in units of the trace's σ;
    the sum of MJy pixels is the flux density (Jy after × 1e6)."""

    name: ClassVar[str] = "extract_1d"
    reference_types: ClassVar[tuple[RefType, ...]] = ()
    half_width_sigma: float = 4.0
    bkg_inner_sigma: float | None = 6.0
    bkg_outer_sigma: float | None = 12.0

    def apply(self, traced: TraceImage, ctx: Context) -> StepOutcome[Spectrum]:
        image, layout, lit = traced.image, traced.layout, traced.lit
        if str(image.sci_header.get("BUNIT", "")).strip() != "MJy":
            raise MissingReferenceError(f"{image.root}: extract_1d needs photom's MJy image "
                                        f"(BUNIT {image.sci_header.get('BUNIT')!r})")
        sigma = layout.sigma_px
        inner = None if self.bkg_inner_sigma is None else self.bkg_inner_sigma * sigma
        outer = None if self.bkg_outer_sigma is None else self.bkg_outer_sigma * sigma
        aperture = BoxcarAperture(self.half_width_sigma * sigma, bkg_inner=inner, bkg_outer=outer)
        centre = np.where(lit, traced.centre, traced.centre[lit][0])
        planes = [image] if not image.is_cube else [_plane(image, i) for i in range(image.sci.shape[0])]
        outs = [extract_boxcar(p.sci, var_poisson=p.var_poisson, var_rnoise=p.var_rnoise, var_flat=p.var_flat,
                               dq=p.dq, dispaxis=layout.dispaxis, centre=centre, aperture=aperture)
                for p in planes]
        jy, jy2 = _MJY_TO_JY, _MJY_TO_JY ** 2

        def stacked(values: list[npt.NDArray[np.generic]]) -> npt.NDArray[np.generic]:
            return np.stack([v[lit] for v in values]) if image.is_cube else values[0][lit]

        columns: dict[str, npt.NDArray[np.generic]] = {
            "WAVELENGTH": stacked([traced.wavelength] * len(outs)),
            "FLUX": stacked([o.flux * jy for o in outs]), "FLUX_ERROR": stacked([o.error * jy for o in outs]),
            "FLUX_VAR_POISSON": stacked([o.var_poisson * jy2 for o in outs]),
            "FLUX_VAR_RNOISE": stacked([o.var_rnoise * jy2 for o in outs]),
            "FLUX_VAR_FLAT": stacked([o.var_flat * jy2 for o in outs]),
            "NPIXELS": stacked([o.npixels for o in outs]), "DQ": stacked([o.dq for o in outs])}
        meta: dict[str, object] = {
            "SPORDER": 1, "DISPAXIS": layout.dispaxis, "SRCTYPE": "POINT",
            "SLTNAME": str(image.primary.get("FXD_SLIT", "") or image.primary.get("SUBARRAY", "")),
            "EXTR_Y" if layout.dispaxis == 1 else "EXTR_X": float(np.median(traced.centre[lit]))}
        complete = outs[0].npixels[lit] >= aperture.half_width * 2 - 1e-9
        return StepOutcome(Spectrum(image.root, columns, meta, dict(image.primary)), _DONE,
                           counts={"n_points": int(lit.sum()), "n_integrations": len(outs),
                                   "n_incomplete_aperture": int((~complete).sum())})


def _plane(image: ImageData, i: int) -> ImageData:
    """Integration ``i`` of a cube."""
    return image.replace(sci=image.sci[i], err=image.err[i], dq=image.dq[i], var_poisson=image.var_poisson[i],
                         var_rnoise=image.var_rnoise[i], var_flat=None if image.var_flat is None else image.var_flat[i])
