"""calwebb_spec2's work on a wide-field slitless (WFSS) exposure, NIS_WFSS and NRC_WFSS (jwst_spec §1.5, issue 11).

The pipeline reads the level-2 association's source catalogue (calwebb_image3's ``_cat.ecsv`` of the direct
images) into :attr:`streamcal.steps.base.Context.grism_sources` before the steps run; then

- assign_wcs: each catalogue source's sky position through the grism exposure's own (undispersed) WCS gives its
  direct position; each order of the GRISMCONF SPECWCS reference (:mod:`streamcal.models.grism`) turns it into
  the source's trace → a :class:`GrismImage`. Traces that do not reach the exposure are dropped (logged and
  counted); a catalogue none of whose sources reaches it is an error.
- extract_2d: a cutout per source and order, the trace's lit dispersion pixels × ``half_height`` pixels either
  side of its centre → :class:`GrismSlits` (jwst's WFSS MultiSlitModel ``_cal``).
- srctype: POINT for every source [U: jwst reads ``is_extended`` from its catalogue, which ours lacks; the
  simulated sources are compact].
- flat_field divides each cutout by its part of the FLAT.
- photom: as jwst, WFSS is calibrated after extraction: the step attaches to each cutout the PHOTOM row's
  ``photmj × relresponse(λ)`` per dispersion column (MJy per DN/s) and leaves the ``_cal`` in DN/s. A cutout whose
  wavelengths all lie outside the sensitivity table is an error; single columns outside it are DO_NOT_USE.
- extract_1d: boxcar along each trace in its cutout (half-width and background region in units of the trace σ,
  the single-trace step's parameters), with the conversion applied column by column (jwst's photom on the
  x1d): one spectrum per source and order (:class:`WfssSpectra`), FLUX in Jy.
"""

from __future__ import annotations

import dataclasses
import logging
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from streamcal.datamodels.spectra import Spectrum1D
from streamcal.dq import Pixel
from streamcal.errors import BadDataShapeError, InvalidInputError, MissingReferenceError
from streamcal.kernels.image.calibrate import photom_row
from streamcal.kernels.image.wcs import imaging_wcs
from streamcal.kernels.spec import apply_conversion, spectral_conversion
from streamcal.models.grism import CatalogSource, GrismConf
from streamcal.models.image import ImageData
from streamcal.models.spectral import SpectralLayout
from streamcal.references import ReferenceFile
from streamcal.steps.base import Context
from streamcal.steps.spec.cutouts import cutout, flat_cutouts
from streamcal.steps.spec.kinds import SpectralImage
from streamcal.steps.spec.single_trace import Extract1dStep, Spectrum, trace_image

__all__ = ["GrismImage", "GrismSlit", "GrismSlits", "GrismTrace", "WfssSpectra", "extract_wfss", "grism_image",
           "grism_slits", "wfss_flat", "wfss_photom", "wfss_srctype"]

log = logging.getLogger(__name__)
_PIXAR_SR = (0.0656 / 206264.80624709636) ** 2  # NIRISS' nominal pixel [U], when the exposure has no PIXAR_SR
_MJY_TO_JY = 1e6


@dataclass(frozen=True, slots=True)
class GrismTrace:
    """One source's trace in one order: its catalogue entry, the direct position on the full frame (0-based)
    and the trace's layout."""

    source: CatalogSource
    order: int
    x0: float
    y0: float
    layout: SpectralLayout


@dataclass(frozen=True, slots=True)
class GrismImage(SpectralImage):
    """A WFSS rate image with its grism orders and the traces of the catalogue's sources on it."""

    image: ImageData
    conf: GrismConf
    traces: tuple[GrismTrace, ...]

    def replace_image(self, image: ImageData) -> GrismImage:
        return GrismImage(image, self.conf, self.traces)


@dataclass(frozen=True, slots=True)
class GrismSlit:
    """One source's cutout in one order: ``xstart``/``ystart`` (1-based) place it in the exposure's image;
    ``wavelength`` per pixel (µm, NaN off the lit columns); ``conversion`` photom's MJy per DN/s per dispersion
    pixel of the cutout (None until photom runs)."""

    trace: GrismTrace
    image: ImageData
    xstart: int
    ystart: int
    wavelength: npt.NDArray[np.float64]
    srctype: str = "UNKNOWN"
    conversion: npt.NDArray[np.float64] | None = None

    def meta(self) -> dict[str, object]:
        """The slit's keywords, as jwst writes a WFSS slit (SLTNAME is the source id; SRCXPOS/SRCYPOS the
        catalogue's centroid in the direct image) plus streamcal's SRCXDET/SRCYDET: the direct position on the
        grism exposure's full frame (0-based), which spec3 rebuilds the trace from."""
        src, ny, nx = self.trace.source, *self.image.shape
        return {"SLTNAME": str(src.source_id), "SOURCEID": src.source_id, "SRCTYPE": self.srctype,
                "SPORDER": self.trace.order, "DISPAXIS": self.trace.layout.dispaxis, "SLTSTRT1": self.xstart,
                "SLTSTRT2": self.ystart, "SLTSIZE1": nx, "SLTSIZE2": ny, "SRCXPOS": src.xcentroid,
                "SRCYPOS": src.ycentroid, "SRCRA": src.ra, "SRCDEC": src.dec, "SRCXDET": self.trace.x0,
                "SRCYDET": self.trace.y0}


@dataclass(frozen=True, slots=True)
class GrismSlits(SpectralImage):
    """extract_2d's cutouts; ``image`` is the exposure they were cut from."""

    image: ImageData
    slits: tuple[GrismSlit, ...]

    def replace_image(self, image: ImageData) -> GrismSlits:
        return GrismSlits(image, self.slits)

    def with_slits(self, slits: list[GrismSlit]) -> GrismSlits:
        return GrismSlits(self.image, tuple(slits))


@dataclass(frozen=True, slots=True)
class WfssSpectra(Spectrum):
    """One spectrum per source and order (``spectra``); the inherited columns and meta are the first one's."""

    spectra: tuple[Spectrum1D, ...] = ()


def _origin(image: ImageData) -> tuple[int, int]:
    return int(str(image.primary.get("SUBSTRT1", 1))) - 1, int(str(image.primary.get("SUBSTRT2", 1))) - 1


def grism_image(image: ImageData, conf: GrismConf, sources: tuple[CatalogSource, ...],
                *, reference: str) -> tuple[GrismImage, dict[str, int]]:
    """assign_wcs (module docstring).

    Raises
    ------
    BadDataShapeError
        No catalogue source has a trace on the exposure. Not retriable.
    MissingKeywordError
        The SCI header lacks the pointing keywords. Not retriable.
    """
    if not sources:
        raise BadDataShapeError(f"{image.root}: the source catalogue holds no source")
    wcs = imaging_wcs(image.sci_header, image.shape, primary=image.primary, source=image.root)
    x, y = wcs.world_to_pixel_values(np.array([s.ra for s in sources]), np.array([s.dec for s in sources]))
    x0, y0 = _origin(image)
    ny, nx = image.shape
    traces, dropped = [], []
    for source, xs, ys in zip(sources, np.asarray(x, float) + x0, np.asarray(y, float) + y0, strict=True):
        for number in sorted(conf.orders):
            layout = conf.orders[number].layout_at(xs, ys)
            if layout is not None:
                d = layout.dispersion_pixels()
                cross = layout.trace(d) - (y0 if layout.dispaxis == 1 else x0)
                disp = d - (x0 if layout.dispaxis == 1 else y0)
                ncross, ndisp = (ny, nx) if layout.dispaxis == 1 else (nx, ny)
                on = (disp >= 0) & (disp < ndisp) & (cross >= 0) & (cross <= ncross - 1)
                if np.count_nonzero(on) >= 2:
                    traces.append(GrismTrace(source, number, float(xs), float(ys), layout))
                    continue
            dropped.append(f"{source.source_id}/{number}")
    if dropped:
        log.info("%s: %d source trace(s) off the detector dropped (source/order): %s", image.root, len(dropped),
                 ", ".join(dropped[:20]))
    if not traces:
        raise BadDataShapeError(f"{image.root}: none of the catalogue's {len(sources)} sources has a trace on this "
                                f"{ny}×{nx} exposure ({reference}); is the catalogue of this field?")
    return GrismImage(image, conf, tuple(traces)), {"n_traces": len(traces), "n_traces_off_detector": len(dropped)}


def grism_slits(grism: GrismImage, *, half_height: int) -> tuple[GrismSlits, dict[str, int]]:
    """extract_2d: a cutout per trace, its lit dispersion pixels × ``half_height`` px about its centre."""
    image = grism.image
    ny, nx = image.shape
    x0, y0 = _origin(image)
    slits = []
    for trace in grism.traces:
        layout = trace.layout
        disp_off, cross_off, ndisp, ncross = (x0, y0, nx, ny) if layout.dispaxis == 1 else (y0, x0, ny, nx)
        d = layout.dispersion_pixels()
        d = d[(d - disp_off >= 0) & (d - disp_off < ndisp)]
        centre = layout.trace(d) - cross_off
        lo = max(0, int(np.floor(centre.min())) - half_height)
        hi = min(ncross, int(np.ceil(centre.max())) + half_height + 1)
        disp = slice(int(d[0] - disp_off), int(d[-1] - disp_off) + 1)
        across = slice(lo, hi)
        rows, cols = (across, disp) if layout.dispaxis == 1 else (disp, across)
        cut = cutout(image, rows, cols)
        wave = layout.wavelength(d)
        plane = np.broadcast_to(wave[None, :] if layout.dispaxis == 1 else wave[:, None], cut.shape).copy()
        slits.append(GrismSlit(trace, cut, cols.start + 1, rows.start + 1, plane))
    return GrismSlits(image, tuple(slits)), {"n_slits": len(slits)}


def wfss_srctype(slits: GrismSlits) -> tuple[GrismSlits, dict[str, int]]:
    """srctype: POINT for every source (module docstring)."""
    out = [dataclasses.replace(s, srctype="POINT") for s in slits.slits]
    return slits.with_slits(out), {"n_point": len(out), "n_extended": 0}


def wfss_flat(slits: GrismSlits, flat: ReferenceFile) -> tuple[GrismSlits, dict[str, int]]:
    """flat_field: each cutout divided by its part of the FLAT (cut to the exposure's subarray by the store)."""
    out, counts = flat_cutouts(slits.slits, flat)
    return slits.with_slits(out), counts


def _columns(slit: GrismSlit) -> npt.NDArray[np.float64]:
    """The wavelength of each dispersion pixel of a cutout."""
    wave = slit.wavelength
    return np.asarray(wave[0] if slit.trace.layout.dispaxis == 1 else wave[:, 0], np.float64)


def wfss_photom(slits: GrismSlits, table: ReferenceFile) -> tuple[GrismSlits, dict[str, int]]:
    """photom: each cutout's conversion per dispersion pixel, the data left in DN/s (module docstring).

    Raises
    ------
    InvalidInputError
        A trace whose wavelengths all lie outside the sensitivity table. Not retriable.
    MissingReferenceError
        No PHOTOM row for the optical path, or one without a spectral calibration. Not retriable.
    """
    row = photom_row(table["PHOTOM"], slits.image.primary, reference=table.name)
    out, outside = [], 0
    for slit in slits.slits:
        wave = _columns(slit)
        factor = spectral_conversion(row, wave, reference=table.name)
        if not np.isfinite(factor).any():
            nelem = int(np.asarray(row["nelem"]))
            tw = np.asarray(row["wavelength"], np.float64)[:nelem]
            raise InvalidInputError(f"{slits.image.root}: source {slit.trace.source.source_id} order "
                                    f"{slit.trace.order}: its wavelengths {wave.min():.4g}–{wave.max():.4g} µm lie "
                                    f"outside the sensitivity of {table.name} ({tw[0]:.4g}–{tw[-1]:.4g} µm)")
        outside += int(np.count_nonzero(~np.isfinite(factor)))
        out.append(dataclasses.replace(slit, conversion=factor))
    return slits.with_slits(out), {"n_outside_response": outside}


def extract_wfss(slits: GrismSlits, ctx: Context, boxcar: Extract1dStep) -> tuple[WfssSpectra, dict[str, int]]:
    """extract_1d with photom's conversion: one spectrum per source and order (module docstring).

    Raises
    ------
    MissingReferenceError
        photom has not run (no conversion). Not retriable.
    """
    pixar = float(str(slits.image.sci_header.get("PIXAR_SR", "") or _PIXAR_SR))
    spectra, incomplete = [], 0
    first: Spectrum | None = None
    for slit in slits.slits:
        if slit.conversion is None:
            raise MissingReferenceError(f"{slits.image.root}: extract_1d of a WFSS exposure needs photom's "
                                        "sensitivity (photom must run)")
        factor = slit.conversion[None, :] if slit.trace.layout.dispaxis == 1 else slit.conversion[:, None]
        calibrated = apply_conversion(slit.image, np.where(np.isfinite(factor), factor, np.nan), bunit="MJy")
        outcome = boxcar.apply(trace_image(calibrated, slit.trace.layout), ctx)
        columns = dict(outcome.model.columns)
        area = np.asarray(columns["NPIXELS"], np.float64) * pixar
        with np.errstate(divide="ignore", invalid="ignore"):
            columns["SURF_BRIGHT"] = np.asarray(columns["FLUX"], np.float64) / _MJY_TO_JY / area
            for part in ("POISSON", "RNOISE", "FLAT"):
                columns[f"SB_VAR_{part}"] = np.asarray(columns[f"FLUX_VAR_{part}"], np.float64) / _MJY_TO_JY ** 2 / \
                    area ** 2
        columns["DQ"] = np.where(np.isfinite(columns["FLUX"]), columns["DQ"],
                                 np.asarray(columns["DQ"], np.uint32) | np.uint32(Pixel.DO_NOT_USE)).astype(np.uint32)
        meta = {**outcome.model.meta, **slit.meta()}
        spectra.append(Spectrum1D(columns, meta))
        incomplete += int(outcome.counts.get("n_incomplete_aperture", 0))
        first = first or Spectrum(slits.image.root, columns, meta, dict(slits.image.primary))
    if first is None:
        raise BadDataShapeError(f"{slits.image.root}: no WFSS cutout to extract")
    result = WfssSpectra(first.root, first.columns, first.meta, first.primary, tuple(spectra))
    return result, {"n_spectra": len(spectra), "n_incomplete_aperture": incomplete}
