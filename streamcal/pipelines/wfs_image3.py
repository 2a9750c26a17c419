"""calwebb_wfs-image3: WfsCombineStep over every product of a wfs-image3 association (jwst_spec.md §1.11, §5.13).

Each ASN product is one WFS&C dither pair: exactly two ``science`` members, ``_cal`` images resolved relative to
the ASN file's folder. The pair is combined with the parameters of ``pars-wfscombinestep*.yaml`` (its parameters
are the step's: the pipeline is that one step) and written as jwst names it: the product name carries a
``{suffix}`` placeholder before the activity id (``<...>-nrca3_{suffix}-03``, from the generator and from
:func:`streamcal.associations.level3_product_name` alike), filled with ``wfscmb`` (``..._wfscmb-03.fits``:
ImageModel SCI, ERR, DQ) with the reference image's headers and TAN WCS keywords, S_WFSCOM and the provenance
keywords, and a quick-look ``..._wfscmb-03.png``; a name without the placeholder gets ``_wfscmb`` appended.
WfsCombineStep reads no reference files.
"""

from __future__ import annotations

import time
from pathlib import Path

from streamcal.associations import AsnProduct, read_asn
from streamcal.datamodels import product_file
from streamcal.errors import AssociationError
from streamcal.kernels.image.wcs import s_region, wcs_keywords, with_header_wcs
from streamcal.models.image import ImageData, ImageSet, read_image
from streamcal.pipelines.plan import Outputs, Pipeline, PipelineResult, Plan, RunRequest
from streamcal.pipelines.products import write_with_quicklook
from streamcal.pipelines.runner import run_plan
from streamcal.routing import RunSpec
from streamcal.steps.base import Context, NoReferences, StepRecord
from streamcal.steps.combine import WfsCombineStep

__all__ = ["WFS_IMAGE3"]


def _pair(product: AsnProduct, asn_dir: Path, asn_name: str) -> tuple[Path, Path]:
    """The two member files of a product (checked for every product before any is combined)."""
    science = product.by_type("science")
    if len(science) != 2:
        raise AssociationError(f"{asn_name}: product {product.name!r} has {len(science)} science members; "
                               f"a wfs-image3 product is a dither pair of exactly 2")
    paths = [asn_dir / m.expname for m in science]
    for path in paths:
        if not path.is_file():
            raise AssociationError(f"{asn_name}: member {path.name} of product {product.name!r} "
                                   f"does not exist (looked for {path})")
    return paths[0], paths[1]


def _run(request: RunRequest, plan: Plan) -> PipelineResult:
    started = time.perf_counter()
    path = request.input_path
    asn = read_asn(path)
    if not asn.products:
        raise AssociationError(f"{path.name}: the association has no products")
    pairs = [_pair(product, path.parent, path.name) for product in asn.products]
    products: list[Path] = []
    records: list[StepRecord] = []
    for product, paths in zip(asn.products, pairs, strict=True):
        pair = ImageSet(tuple(with_header_wcs(read_image(p)) for p in paths))  # one pair in memory at a time
        first = pair.images[0]
        run = run_plan(pair, plan, Context(header=first.primary, refs=NoReferences(), source=first.root))
        image = run.last(ImageData)
        if image is not None and run.recorder.ran("wfs_combine"):
            assert image.wcs is not None
            sci_header = {**image.sci_header, **wcs_keywords(image.wcs), "S_REGION": s_region(image.wcs, image.shape)}
            products.extend(write_with_quicklook(
                request.out_dir / product_file(product.name, "wfscmb"),
                {"SCI": image.sci, "ERR": image.err, "DQ": image.dq},
                primary={**image.primary, **run.recorder.keywords()}, sci_header=sci_header, suffix="wfscmb"))
        records.extend(run.recorder.records())
    exposure_id = asn.products[0].name if len(asn.products) == 1 else path.name.removesuffix(".json")
    return PipelineResult(plan.pipeline, exposure_id, tuple(products), time.perf_counter() - started, tuple(records))


def _outputs(name: str, spec: RunSpec) -> Outputs:
    return Outputs((product_file(name, "wfscmb"),))


WFS_IMAGE3 = Pipeline(alias="calwebb_wfs-image3", input=ImageSet, steps=(WfsCombineStep,), single_step=True,
                      run=_run, outputs=_outputs)
