"""calwebb_detector1 and calwebb_dark: the stage-1 ramp steps, run tile by tile (:mod:`.tiled`).

Products, written atomically and named after the input file (``<root>_uncal.fits`` → ``<root>_rate.fits``, as
jwst names them) with S_*/R_* provenance: ``_rate`` and
``_rateints`` (detector1; plus ``_ramp`` with ``save_calibrated_ramp``), or ``_dark`` (calwebb_dark, which does
not fit ramps: its product is the corrected ramp). Steps the parameter file enables but streamcal does not
implement are recorded as SKIPPED with the reason. A MOS exposure's MSA metadata file (MSAMETFL, next to the raw
file) is copied next to the products, where calwebb_spec2 reads it (:func:`streamcal.models.msa.carry_msa_metadata`).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

from streamcal.datamodels import RawExposure, input_root, open_raw, write_product
from streamcal.models.keywords import header_int
from streamcal.models.msa import carry_msa_metadata
from streamcal.models.ramp import RampBlock
from streamcal.pipelines.plan import Outputs, Pipeline, PipelineResult, Plan, RunRequest
from streamcal.pipelines.provenance import Recorder
from streamcal.pipelines.tiled import DEFAULT_BLOCK_BYTES, TiledOutputs, read_edges, run_tiled
from streamcal.references import ReferenceStore
from streamcal.routing import RunSpec
from streamcal.steps.ramp import (
    DarkCurrentStep,
    DQInitStep,
    FirstFrameStep,
    GainScaleStep,
    GroupScaleStep,
    JumpStep,
    LastFrameStep,
    LinearityStep,
    RampContext,
    RampFitStep,
    RefpixStep,
    RscdStep,
    SaturationStep,
    SuperbiasStep,
)

__all__ = ["DARK", "DETECTOR1", "Detector1Params"]


@dataclass(frozen=True, slots=True, kw_only=True)
class Detector1Params:
    """calwebb_detector1's own parameter: also write the calibrated ramp (``_ramp``)."""

    save_calibrated_ramp: bool = False


def _write(out: TiledOutputs, rec: Recorder, raw: RawExposure, root: str, out_dir: Path) -> tuple[Path, ...]:
    primary = {**raw.headers.primary, **rec.keywords()}
    sci = raw.headers.sci
    written = []
    if out.fits:
        written.append(write_product(out_dir / f"{root}_rate.fits", out.rate, primary=primary, sci_header=sci))
        times = raw.int_times()  # jwst carries the raw file's INT_TIMES into _rateints (time-series timing)
        written.append(write_product(out_dir / f"{root}_rateints.fits", out.ints, primary=primary, sci_header=sci,
                                     tables=None if times is None else {"INT_TIMES": times}))
    if out.keep_ramp:
        arrays = {"SCI": out.ramp["SCI"], "PIXELDQ": out.pixeldq, "GROUPDQ": out.ramp["GROUPDQ"]}
        suffix = "dark" if rec.plan.pipeline == DARK.alias else "ramp"
        written.append(write_product(out_dir / f"{root}_{suffix}.fits", arrays, primary=primary, sci_header=sci))
    return tuple(written)


def _run(request: RunRequest, plan: Plan) -> PipelineResult:
    started = time.perf_counter()
    path = request.input_path
    store = ReferenceStore.open(request.refs_dir)
    with open_raw(path) as raw:
        header = raw.primary
        root = input_root(path)  # products follow the file name, as jwst's do
        header_int(header, "NGROUPS")  # required; a clear error before any work
        ctx = RampContext(header=header, refs=store.for_exposure(header), shape=raw.shape, source=path.name,
                          read_edges=lambda: read_edges(raw))
        rec = Recorder(plan)
        out = run_tiled(raw, plan, ctx, rec, block_bytes=request.block_bytes or DEFAULT_BLOCK_BYTES,
                        workers=request.workers, keep_ramp=getattr(plan.parameters, "save_calibrated_ramp", False))
        products = _write(out, rec, raw, root, request.out_dir)
        carry_msa_metadata(header, path, request.out_dir)  # NRS_MSASPEC: stage 2 reads it next to the _rate
    return PipelineResult(plan.pipeline, root, products, time.perf_counter() - started, rec.records())


def _detector1_outputs(root: str, spec: RunSpec) -> Outputs:
    stage2_input = spec.route.stage2_input if spec.route.stage2 is not None else None
    ramp = (f"{root}_ramp.fits",) if spec.stage("calwebb_detector1").parameters.get("save_calibrated_ramp") else ()
    return Outputs((f"{root}_rate.fits", f"{root}_rateints.fits", *ramp),
                   next_input=None if stage2_input is None else f"{root}_{stage2_input}.fits")


def _dark_outputs(root: str, spec: RunSpec) -> Outputs:
    return Outputs((f"{root}_dark.fits",))


_RAMP_STEPS = (GroupScaleStep, DQInitStep, SaturationStep, SuperbiasStep, RefpixStep, FirstFrameStep,
               LastFrameStep, LinearityStep, RscdStep, DarkCurrentStep, JumpStep)
_NOT_IMPLEMENTED = ("emicorr", "ipc", "reset", "charge_migration", "picture_frame", "clean_flicker_noise",
                    "persistence")

DETECTOR1 = Pipeline(alias="calwebb_detector1", input=RampBlock, steps=(*_RAMP_STEPS, RampFitStep, GainScaleStep),
                     not_implemented=_NOT_IMPLEMENTED, parameters=Detector1Params, run=_run,
                     outputs=_detector1_outputs, unlisted_run=False, requires=("ramp_fit",))
DARK = Pipeline(alias="calwebb_dark", input=RampBlock, steps=_RAMP_STEPS, not_implemented=("emicorr", "ipc", "reset"),
                run=_run, outputs=_dark_outputs, unlisted_run=False)
