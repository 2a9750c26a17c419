"""calwebb_ami3 on an ami3 association (``jwst_spec.md`` §1.9, §5.11): NRM fringes → calibrated observables.

Per ASN product: the science and psf members (``_calints`` cubes, resolved relative to the ASN file's folder,
each with its header WCS) → ami_analyze (every science member, then every psf member: fringe fit per
integration, averaged observables) → ami_normalize (science[i] by psf[i], jwst's pairing). Products, named as
jwst's ``save_model`` names them: ``<member root>_<asn_id>_ami-oi.fits`` per science member,
``<member root>_<asn_id>_psf-ami-oi.fits`` per psf member, and ``<product>_aminorm-oi.fits`` for the first
normalised pair (further pairs: ``<science root>_<asn_id>_aminorm-oi.fits``, where jwst would overwrite one
file) — OIFITS2 that stdatamodels opens as ``AmiOIModel`` (:mod:`streamcal.datamodels.oifits`). jwst's
``_amimulti-oi`` and ``_amilg`` intermediates are not written.

Unlike jwst, which skips ami_normalize when the association has no psf member, streamcal requires a calibrator:
an ami3 product without psf members (or without science members) is an AssociationError, since its raw
observables carry the telescope's uncalibrated phase errors (issue 12).
"""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path

from streamcal.associations import Asn, AsnProduct, check_upstream, member_paths, read_asn
from streamcal.datamodels import product_file
from streamcal.datamodels.oifits import write_oifits
from streamcal.errors import AssociationError
from streamcal.kernels.image.wcs import with_header_wcs
from streamcal.models.ami import AmiAnalysis, AmiMembers
from streamcal.models.image import ImageData, read_image
from streamcal.pipelines.plan import Outputs, Pipeline, PipelineResult, Plan, RunRequest
from streamcal.pipelines.runner import run_plan
from streamcal.routing import RunSpec
from streamcal.steps.ami import AmiAnalyzeStep, AmiNormalizeStep
from streamcal.steps.base import Context, NoReferences, StepRecord

__all__ = ["AMI3", "read_ami_members"]


def _read(asn: Asn, product: AsnProduct, asn_path: Path, exptype: str) -> tuple[ImageData, ...]:
    one = dataclasses.replace(asn, products=(product,))
    paths = member_paths(one, asn_path.parent, exptypes=(exptype,))
    missing = [p.name for p in paths if not p.exists()]
    if missing:
        raise AssociationError(f"{asn_path.name}: product {product.name!r} has {exptype} member(s) not on storage: "
                               f"{', '.join(missing)}")
    return tuple(with_header_wcs(read_image(p), source=p.name) for p in paths)


def read_ami_members(asn: Asn, product: AsnProduct, asn_path: Path) -> AmiMembers:
    """The science and psf ``_calints`` of one ami3 product, each with its header WCS.

    Raises
    ------
    AssociationError
        No science member, no psf (calibrator) member, or a member not on storage (named). Not retriable.
    """
    counts = {t: len(product.by_type(t)) for t in ("science", "psf")}
    if counts["science"] == 0 or counts["psf"] == 0:
        raise AssociationError(
            f"{asn_path.name}: ami3 product {product.name!r} has {counts['science']} science and {counts['psf']} psf "
            "members; calwebb_ami3 needs at least one of each (the psf members are the calibrator that "
            "ami_normalize divides out)")
    return AmiMembers(_read(asn, product, asn_path, "science"), _read(asn, product, asn_path, "psf"))


def _write(analysis: AmiAnalysis, asn: Asn, asn_path: Path, product: AsnProduct, out_dir: Path,
           keywords: dict[str, object]) -> list[Path]:
    written = []
    extra = {"ASNTABLE": asn_path.name, "ASNPOOL": asn.asn_pool or "", "ASN_ID": asn.asn_id, **keywords}
    for exp in analysis.exposures:
        suffix = "ami-oi" if exp.role == "science" else "psf-ami-oi"
        written.append(write_oifits(out_dir / f"{exp.root}_{asn.asn_id}_{suffix}.fits", exp.observables,
                                    exp.geometry, primary={**exp.primary, **extra}))
    for n, pair in enumerate(analysis.normalized):
        name = (product_file(product.name, "aminorm-oi") if n == 0
                else f"{pair.science.root}_{asn.asn_id}_aminorm-oi.fits")
        calibrator = str(pair.psf.primary.get("TARGPROP") or pair.psf.primary.get("TARGNAME") or pair.psf.root)
        written.append(write_oifits(out_dir / name, pair.observables, pair.science.geometry,
                                    primary={**pair.science.primary, **extra, "PRODNAME": product.name},
                                    calibrator=calibrator))
    return written


def _run(request: RunRequest, plan: Plan) -> PipelineResult:
    started = time.perf_counter()
    path = request.input_path
    request.out_dir.mkdir(parents=True, exist_ok=True)
    asn = read_asn(path)
    if str(asn.asn_type) != "ami3":
        raise AssociationError(f"{path.name}: a {asn.asn_type} association; calwebb_ami3 takes ami3")
    if not asn.products:
        raise AssociationError(f"{path.name}: the association has no products")
    check_upstream(asn, path.name)  # bare member names in the association's folder, plain product names
    members = [read_ami_members(asn, product, path) for product in asn.products]  # all checked before any work
    products: list[Path] = []
    records: list[StepRecord] = []
    for product, inputs in zip(asn.products, members, strict=True):
        first = inputs.science[0]
        run = run_plan(inputs, plan, Context(header=first.primary, refs=NoReferences(), source=first.root))
        analysis = run.last(AmiAnalysis)
        if analysis is not None:
            products.extend(_write(analysis, asn, path, product, request.out_dir, run.recorder.keywords()))
        records.extend(run.recorder.records())
    return PipelineResult(plan.pipeline, asn.products[0].name, tuple(products), time.perf_counter() - started,
                          tuple(records))


def _outputs(name: str, spec: RunSpec) -> Outputs:
    return Outputs((product_file(name, "aminorm-oi"),))


AMI3 = Pipeline(alias="calwebb_ami3", input=AmiMembers, steps=(AmiAnalyzeStep, AmiNormalizeStep), run=_run,
                outputs=_outputs, requires=("ami_analyze", "ami_normalize"))
