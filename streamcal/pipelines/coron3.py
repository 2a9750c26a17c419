"""calwebb_coron3 on a coron3 association (``jwst_spec.md`` §1.8, §5.10; issue 12): reference-star PSF
subtraction of coronagraphic exposures.

Per ASN product: the ``science`` and ``psf`` members (``_calints`` cubes, bare names resolved in the ASN file's
folder; a product without either kind, or a member not on storage, is an AssociationError naming it, as jwst's
pipeline aborts) → outlier_detection (mode coron) → stack_refs → align_refs → klip → resample
(:mod:`streamcal.steps.coron`). Products, jwst's names and models:

- ``<member root>_<asn_id>_crfints.fits`` per member when outlier_detection ran: its flagged integrations
  (CubeModel);
- ``<product>_psfstack.fits``: every reference integration (CubeModel);
- ``<science root>_<asn_id>_psfalign.fits`` per science exposure: the references aligned to each of its
  integrations, (nints, N_psf, ny, nx) (QuadModel);
- ``<science root>_<asn_id>_psfsub.fits`` per science exposure: the PSF-subtracted integrations (CubeModel);
- ``<product>_i2d.fits`` + ``.png``: the PSF-subtracted exposures drizzled onto the sky (ImageModel).

Each product carries the S_* keywords of the steps that made it (S_PSFSTK, S_PSFALI, S_KLIP, S_RESAMP,
S_OUTLIR). No reference files are read (jwst's align_refs reads PSFMASK: the mask geometry is a parameter here).
"""

from __future__ import annotations

import time
from pathlib import Path

from streamcal.associations import Asn, AsnProduct, check_upstream, read_asn
from streamcal.datamodels import product_file, write_product
from streamcal.errors import AssociationError
from streamcal.kernels.image.resample import Mosaic
from streamcal.models.coron import CoronAligned, CoronInput, CoronStack, CoronSubtracted
from streamcal.models.exposure_times import with_exposure_times
from streamcal.models.image import ImageData, read_image, write_image
from streamcal.pipelines.plan import PER_EXPOSURE_KEYS, Outputs, Pipeline, PipelineResult, Plan, RunRequest
from streamcal.pipelines.products import write_with_quicklook
from streamcal.pipelines.runner import run_plan
from streamcal.routing import RunSpec
from streamcal.steps.base import Context, NoReferences, StepRecord
from streamcal.steps.coron import AlignRefsStep, CoronOutlierStep, CoronResampleStep, KlipStep, StackRefsStep

__all__ = ["CORON3", "read_coron_members"]


def _require_both(product: AsnProduct, asn_name: str) -> None:
    for kind in ("science", "psf"):
        if not product.by_type(kind):
            raise AssociationError(f"{asn_name}: product {product.name!r} has no {kind} member; calwebb_coron3 "
                                   "subtracts PSF-reference (IS_PSF=T) exposures from science exposures and needs "
                                   "both")


def read_coron_members(product: AsnProduct, asn_dir: Path, asn_name: str) -> CoronInput:
    """The science and PSF-reference ``_calints`` of one ASN product.

    Raises
    ------
    AssociationError
        No science or no psf member, or a member not on storage (named). Not retriable.
    """
    _require_both(product, asn_name)
    science, psf = product.by_type("science"), product.by_type("psf")
    paths = [asn_dir / m.expname for m in (*science, *psf)]
    missing = [p.name for p in paths if not p.is_file()]
    if missing:
        raise AssociationError(f"{asn_name}: product {product.name!r} has member(s) not on storage: "
                               f"{', '.join(missing)}")
    images = [read_image(p) for p in paths]
    return CoronInput(tuple(images[:len(science)]), tuple(images[len(science):]))


def _level3_primary(first: ImageData, asn: Asn, asn_path: Path, name: str, n: int) -> dict[str, object]:
    primary = dict(first.primary)
    for key in PER_EXPOSURE_KEYS:
        primary.pop(key, None)
    primary.update(ASNTABLE=asn_path.name, ASNPOOL=asn.asn_pool or "", ASN_ID=asn.asn_id, NINPUTS=n,
                   PRODNAME=name)
    return primary


def _run_product(asn: Asn, product: AsnProduct, asn_path: Path, out_dir: Path,
                 plan: Plan) -> tuple[list[Path], tuple[StepRecord, ...]]:
    members = read_coron_members(product, asn_path.parent, asn_path.name)
    first = members.science[0]
    run = run_plan(members, plan, Context(header=first.primary, refs=NoReferences(), source=first.root))
    rec = run.recorder
    level3 = _level3_primary(first, asn, asn_path, product.name, len(members.science) + len(members.psf))
    written: list[Path] = []
    if rec.ran("outlier_detection"):
        flagged = run.last(CoronInput)
        assert flagged is not None
        for image in (*flagged.science, *flagged.psf):
            written.append(write_image(out_dir / f"{image.root}_{asn.asn_id}_crfints.fits",
                                       image.replace(primary={**image.primary,
                                                              **rec.keywords(before="stack_refs")})))
    stack = run.last(CoronStack)
    if stack is not None:
        s = stack.psfstack
        written.append(write_product(out_dir / product_file(product.name, "psfstack"),
                                     {"SCI": s.sci, "ERR": s.err, "DQ": s.dq},
                                     primary={**level3, **rec.keywords(before="align_refs")},
                                     sci_header=s.sci_header))
    aligned = run.last(CoronAligned)
    if aligned is not None:
        for science, refs in zip(aligned.science, aligned.aligned, strict=True):
            written.append(write_product(out_dir / f"{refs.root}_{asn.asn_id}_psfalign.fits",
                                         {"SCI": refs.sci, "ERR": refs.err, "DQ": refs.dq},
                                         primary={**science.primary, **rec.keywords(before="klip")},
                                         sci_header=science.sci_header))
    subtracted = run.last(CoronSubtracted)
    if subtracted is not None:
        for cube in subtracted.psfsub:
            written.append(write_product(out_dir / f"{cube.root}_{asn.asn_id}_psfsub.fits",
                                         {"SCI": cube.sci, "ERR": cube.err, "DQ": cube.dq,
                                          "VAR_POISSON": cube.var_poisson, "VAR_RNOISE": cube.var_rnoise},
                                         primary={**cube.primary, **rec.keywords(before="resample")},
                                         sci_header=cube.sci_header))
    mosaic = run.last(Mosaic)
    if mosaic is not None:
        written.extend(write_with_quicklook(out_dir / product_file(product.name, "i2d"), mosaic.arrays(),
                                            primary={**with_exposure_times(level3, mosaic.times),
                                                     **rec.keywords()}, sci_header=mosaic.sci_header))
    return written, rec.records()


def _run(request: RunRequest, plan: Plan) -> PipelineResult:
    started = time.perf_counter()
    path = request.input_path
    asn = read_asn(path)
    if str(asn.asn_type) != "coron3":
        raise AssociationError(f"{path.name}: a {asn.asn_type} association; calwebb_coron3 takes coron3")
    if not asn.products:
        raise AssociationError(f"{path.name}: the association has no products")
    check_upstream(asn, path.name)
    for product in asn.products:  # every product checked before any is calibrated
        _require_both(product, path.name)
    request.out_dir.mkdir(parents=True, exist_ok=True)
    products: list[Path] = []
    records: list[StepRecord] = []
    for product in asn.products:
        written, recs = _run_product(asn, product, path, request.out_dir, plan)
        products.extend(written)
        records.extend(recs)
    return PipelineResult(plan.pipeline, asn.products[0].name, tuple(products), time.perf_counter() - started,
                          tuple(records))


def _outputs(name: str, spec: RunSpec) -> Outputs:
    return Outputs((product_file(name, "psfstack"), product_file(name, "i2d")))


CORON3 = Pipeline(alias="calwebb_coron3", input=CoronInput,
                  steps=(CoronOutlierStep, StackRefsStep, AlignRefsStep, KlipStep, CoronResampleStep),
                  run=_run, outputs=_outputs, requires=("stack_refs", "align_refs", "klip", "resample"))
