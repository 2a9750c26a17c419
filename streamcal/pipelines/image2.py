"""calwebb_image2: bkg_subtract → assign_wcs → flat_field → photom → resample (``jwst_spec.md`` §1.4).

The input is one ``_rate``/``_rateints`` file, or a level-2 imaging association (``image2``/``tso-image2``)
whose every product has one science member and optional background members; each product is calibrated on its
own. The stage specification decides the steps (the TSO and WFS&C parameter files skip resample, TSO also
bkg_subtract); bkg_subtract acts only when the product has background members, the quick-look resample only
on 2-D MIR/NRC/NIS/FGS_IMAGE data.

Products per science exposure, written atomically: ``<root>_cal.fits`` (2-D) or ``<root>_calints.fits`` (cube,
with the ``_rateints``' INT_TIMES table) with the provenance of the steps before resample, ``<root>_bsub.fits``
when ``save_bsub`` (2-D only), and ``<root>_i2d.fits`` with its quick-look ``<root>_i2d.png``.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

from streamcal.associations import read_asn
from streamcal.datamodels import split_suffix
from streamcal.datamodels.products import read_product
from streamcal.errors import AssociationError
from streamcal.kernels.image.resample import Mosaic
from streamcal.models.exposure_times import with_exposure_times
from streamcal.models.image import ImageData, read_image, write_image
from streamcal.pipelines.plan import Outputs, Pipeline, PipelineResult, Plan, RunRequest
from streamcal.pipelines.products import write_with_quicklook
from streamcal.pipelines.runner import run_plan
from streamcal.references import ReferenceStore
from streamcal.routing import AsnType, RunSpec
from streamcal.steps.base import StepRecord
from streamcal.steps.image import (
    AssignWcsStep,
    BkgSubtractStep,
    FlatFieldStep,
    ImageContext,
    PhotomStep,
    QuicklookResampleStep,
)

__all__ = ["IMAGE2", "Image2Params"]

_LEVEL2_IMAGING = frozenset({AsnType.IMAGE2, AsnType.TSO_IMAGE2})


@dataclass(frozen=True, slots=True, kw_only=True)
class Image2Params:
    """calwebb_image2's own parameter: also write the background-subtracted image (``_bsub``, 2-D only)."""

    save_bsub: bool = False


class _Job(NamedTuple):
    """One product to calibrate: output root, science file, background files."""

    root: str
    science: Path
    backgrounds: tuple[Path, ...]


def _jobs(path: Path) -> list[_Job]:
    if path.suffix.lower() != ".json":
        root, _ = split_suffix(path)
        return [_Job(root, path, ())]
    asn = read_asn(path)
    if asn.asn_type not in _LEVEL2_IMAGING:
        raise AssociationError(f"{path.name}: asn_type {asn.asn_type} is not a level-2 imaging association")
    jobs = []
    for product in asn.products:
        science = product.by_type("science")
        if len(science) != 1:  # read_asn already insists on one; kept for ASNs built in memory
            raise AssociationError(f"{path.name}: product {product.name!r} needs one science member")
        jobs.append(_Job(product.name, path.parent / science[0].expname,
                         tuple(path.parent / m.expname for m in product.by_type("background"))))
    return jobs


def _run_job(job: _Job, plan: Plan, store: ReferenceStore, out_dir: Path) -> tuple[list[Path], tuple[StepRecord, ...]]:
    image = read_image(job.science).replace(root=job.root)
    backgrounds = tuple(read_image(b) for b in job.backgrounds) if plan.runs("bkg_subtract") else ()
    ctx = ImageContext(header=image.primary, refs=store.for_exposure(image.primary), source=job.science.name,
                       backgrounds=backgrounds)
    run = run_plan(image, plan, ctx, keep=("bkg_subtract",))
    written: list[Path] = []
    bsub = run.after("bkg_subtract")
    if bsub is not None and plan.parameters.save_bsub and not bsub.is_cube:
        keywords = run.recorder.keywords(before="assign_wcs")
        written.append(write_image(out_dir / f"{job.root}_bsub.fits",
                                   bsub.replace(primary={**bsub.primary, **keywords})))
    cal = run.last(ImageData)
    assert cal is not None  # the input is one
    cal = cal.replace(primary={**cal.primary, **run.recorder.keywords(before="resample")})
    # a cube keeps its INT_TIMES (calwebb_tso3 orders and times the integrations by it)
    int_times = read_product(job.science, extensions=("INT_TIMES",)).arrays.get("INT_TIMES") if cal.is_cube else None
    written.append(write_image(out_dir / f"{job.root}_{'calints' if cal.is_cube else 'cal'}.fits", cal,
                               tables=None if int_times is None else {"INT_TIMES": int_times}))
    mosaic = run.last(Mosaic)
    if mosaic is not None:
        primary = {**with_exposure_times(cal.primary, mosaic.times), **run.recorder.keywords()}
        written.extend(write_with_quicklook(out_dir / f"{job.root}_i2d.fits", mosaic.arrays(), primary=primary,
                                            sci_header=mosaic.sci_header))
    return written, run.recorder.records()


def _run(request: RunRequest, plan: Plan) -> PipelineResult:
    started = time.perf_counter()
    store = ReferenceStore.open(request.refs_dir)
    request.out_dir.mkdir(parents=True, exist_ok=True)
    jobs = _jobs(request.input_path)
    products: list[Path] = []
    records: list[StepRecord] = []
    for job in jobs:
        written, steps = _run_job(job, plan, store, request.out_dir)
        products += written
        records += steps
    return PipelineResult(plan.pipeline, jobs[0].root, tuple(products), time.perf_counter() - started,
                          tuple(records))


def _outputs(root: str, spec: RunSpec) -> Outputs:
    member = f"{root}_{'calints' if spec.route.stage2_input == 'rateints' else 'cal'}.fits"
    return Outputs((member,), member=member)


IMAGE2 = Pipeline(alias="calwebb_image2", input=ImageData,
                  steps=(BkgSubtractStep, AssignWcsStep, FlatFieldStep, PhotomStep, QuicklookResampleStep),
                  parameters=Image2Params, run=_run, outputs=_outputs)
