"""calwebb_guider: dq_init → guider_cds → flat_field for FGS guiding data (jwst_spec.md §1.3, §4.12).

Guider ramps are small, so the plan runs once on the whole ramp (file DQ is not carried: guider raw files have
none). The product is ``_cal`` (GuiderCalModel layout: SCI/ERR ``(nints', ny, nx)`` in DN/s, DQ ``(ny, nx)``).
"""

from __future__ import annotations

import time

import numpy as np

from streamcal.datamodels import input_root, open_raw, write_product
from streamcal.models.ramp import GuiderRates, RampBlock
from streamcal.pipelines.plan import Outputs, Pipeline, PipelineResult, Plan, RunRequest
from streamcal.pipelines.runner import run_plan
from streamcal.references import ReferenceStore
from streamcal.routing import RunSpec
from streamcal.steps.ramp import DQInitStep, GuiderCdsStep, GuiderFlatFieldStep, RampContext

__all__ = ["GUIDER"]


def _run(request: RunRequest, plan: Plan) -> PipelineResult:
    started = time.perf_counter()
    path = request.input_path
    store = ReferenceStore.open(request.refs_dir)
    with open_raw(path) as raw:
        header, sci_header = raw.primary, raw.sci_header
        root = input_root(path)  # products follow the file name, as jwst's do
        ctx = RampContext(header=header, refs=store.for_exposure(header), shape=raw.shape, source=path.name)
        ny, nx = raw.shape[2:]
        ramp = RampBlock(raw.read_ramp(), np.zeros(raw.shape, np.uint8), np.zeros((ny, nx), np.uint32),
                         slice(0, ny), slice(0, nx))
        run = run_plan(ramp, plan, ctx)
    rates = run.last(GuiderRates)
    assert rates is not None  # the plan requires guider_cds
    primary = {**header, **run.recorder.keywords(), "DATAMODL": "GuiderCalModel"}
    product = write_product(request.out_dir / f"{root}_cal.fits", {"SCI": rates.rate, "ERR": rates.err,
                                                                     "DQ": rates.dq},
                            primary=primary, sci_header={**sci_header, "BUNIT": "DN/s"}, suffix="guider_cal")
    return PipelineResult(plan.pipeline, root, (product,), time.perf_counter() - started, run.recorder.records())


def _outputs(root: str, spec: RunSpec) -> Outputs:
    return Outputs((f"{root}_cal.fits",))


GUIDER = Pipeline(alias="calwebb_guider", input=RampBlock, steps=(DQInitStep, GuiderCdsStep, GuiderFlatFieldStep),
                  run=_run, outputs=_outputs, requires=("guider_cds",))
