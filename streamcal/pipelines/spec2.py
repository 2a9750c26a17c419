"""calwebb_spec2 for the single-trace modes: assign_wcs → flat_field → photom → extract_1d (``jwst_spec.md``
§1.5, issue 11, first increment).

The input is one ``_rate`` file of a mode with a SPECWCS reference (NRS_FIXEDSLIT, NRS_BRIGHTOBJ,
MIR_LRS-FIXEDSLIT, MIR_LRS-SLITLESS, NRC_GRISM, NRC_TSGRISM, NIS_SOSS order 1). Products: ``<root>_cal.fits``
(the calibrated image, MJy per pixel, provenance of the steps before extract_1d) and ``<root>_x1d.fits`` (jwst's
MultiSpecModel layout) with its quick-look ``<root>_x1d.png`` (flux against wavelength, ±1σ band). The other
jwst steps of the parameter file are recorded SKIPPED "not implemented in
streamcal".

The services send it only the exposures it takes (:data:`streamcal.pipelines.PARTIAL`: those modes, not
time series, whose ``_rateints`` needs per-integration extraction); the other spectroscopic work waits in
``streamcal.pending.calwebb_spec2``.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from pathlib import Path

from streamcal.datamodels import split_suffix
from streamcal.datamodels.quicklook import render_spectrum
from streamcal.datamodels.spectra import Spectrum1D, write_x1d
from streamcal.errors import AssociationError, BadDataShapeError
from streamcal.models.image import ImageData, read_image, write_image
from streamcal.pipelines.plan import Outputs, Pipeline, PipelineResult, Plan, RunRequest
from streamcal.pipelines.runner import run_plan
from streamcal.references import ReferenceStore
from streamcal.routing import RunSpec
from streamcal.steps.base import Context
from streamcal.steps.spec import (
    Extract1dStep,
    SpecAssignWcsStep,
    SpecFlatFieldStep,
    SpecPhotomStep,
    Spectrum,
    TraceImage,
)

__all__ = ["NOT_IMPLEMENTED", "SPEC2", "Spec2Params"]

log = logging.getLogger(__name__)

#: jwst Spec2Pipeline steps streamcal records as SKIPPED for now.
NOT_IMPLEMENTED = (
    "badpix_selfcal", "msa_flagging", "clean_flicker_noise", "imprint_subtract", "bkg_subtract", "extract_2d",
    "srctype", "master_background_mos", "wavecorr", "targ_centroid", "straylight", "fringe", "pathloss",
    "barshadow", "wfss_contam", "residual_fringe", "adaptive_trace_model", "pixel_replace", "resample_spec",
    "cube_build",
)


@dataclass(frozen=True, slots=True, kw_only=True)
class Spec2Params:
    """calwebb_spec2's own parameter (jwst's): write the background-subtracted image. No effect until
    bkg_subtract is implemented."""

    save_bsub: bool = False


def _run(request: RunRequest, plan: Plan) -> PipelineResult:
    started = time.perf_counter()
    source = request.input_path
    if source.suffix.lower() == ".json":
        raise AssociationError(f"{source.name}: calwebb_spec2 takes a _rate file for now (level-2 spectroscopic "
                               "associations are not implemented yet)")
    root, _ = split_suffix(source)
    image = read_image(source).replace(root=root)
    store = ReferenceStore.open(request.refs_dir)
    ctx = Context(header=image.primary, refs=store.for_exposure(image.primary), source=source.name)
    run = run_plan(image, plan, ctx)
    request.out_dir.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    traced = run.last(TraceImage)
    if traced is not None:
        cal = traced.image
        primary = {**cal.primary, **run.recorder.keywords(before="extract_1d")}
        unit = str(cal.sci_header.get("BUNIT", "")) or None  # MJy after photom (a point source), else DN/s
        written.append(write_image(request.out_dir / f"{root}_cal.fits", cal.replace(primary=primary), bunit=unit))
    spectrum = run.last(Spectrum)
    if spectrum is not None:
        primary = {**spectrum.primary, **run.recorder.keywords()}
        x1d = write_x1d(request.out_dir / f"{root}_x1d.fits", [Spectrum1D(spectrum.columns, spectrum.meta)],
                        primary=primary)
        written.append(x1d)
        columns = spectrum.columns
        try:  # the quick look is a courtesy: a spectrum it cannot draw does not fail the products
            written.append(render_spectrum(columns["WAVELENGTH"], columns["FLUX"], columns["FLUX_ERROR"],
                                           primary, x1d.with_suffix(".png"), title=x1d.name))
        except BadDataShapeError as exc:
            log.warning("%s: no quick look: %s", x1d.name, exc)
    return PipelineResult(plan.pipeline, root, tuple(written), time.perf_counter() - started,
                          run.recorder.records())


def _outputs(root: str, spec: RunSpec) -> Outputs:
    return Outputs((f"{root}_cal.fits", f"{root}_x1d.fits"), member=f"{root}_cal.fits")


SPEC2 = Pipeline(alias="calwebb_spec2", input=ImageData,
                 steps=(SpecAssignWcsStep, SpecFlatFieldStep, SpecPhotomStep, Extract1dStep),
                 not_implemented=NOT_IMPLEMENTED, parameters=Spec2Params, run=_run, outputs=_outputs,
                 requires=("extract_1d",))
