"""calwebb_image3 on an image3 association (``jwst_spec.md`` §1.6): align, match sky, reject outliers, mosaic,
catalog.

Per ASN product: the science members (``_cal`` images, resolved relative to the ASN file's folder; a missing
member is an AssociationError naming it) → assign_mtwcs → tweakreg → skymatch → outlier_detection
(``<member root>_<asn_id>_crf.fits`` per exposure) → resample (``<product>_i2d.fits`` + quicklook PNG) →
source_catalog (``<product>_cat.ecsv``, ``<product>_segm.fits``). On a one-exposure association the steps that
need several exposures record SKIPPED.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np

from streamcal.associations import Asn, AsnProduct, member_paths
from streamcal.datamodels import Extension, product_file, write_fits
from streamcal.errors import AssociationError
from streamcal.kernels.image.catalog import CatalogResult, write_catalog
from streamcal.kernels.image.resample import Mosaic
from streamcal.kernels.image.wcs import with_header_wcs
from streamcal.models.exposure_times import with_exposure_times
from streamcal.models.image import ImageData, ImageSet, read_image, write_image
from streamcal.pipelines.association import run_association
from streamcal.pipelines.plan import PER_EXPOSURE_KEYS, Outputs, Pipeline, PipelineResult, Plan, RunRequest
from streamcal.pipelines.products import write_with_quicklook
from streamcal.pipelines.runner import run_plan
from streamcal.references import ReferenceStore
from streamcal.routing import RunSpec
from streamcal.steps.base import Context, StepRecord
from streamcal.steps.combine import (
    AssignMtwcsStep,
    MosaicStep,
    OutlierDetectionStep,
    SkyMatchStep,
    SourceCatalogStep,
    TweakRegStep,
)

__all__ = ["IMAGE3", "read_members"]


def read_members(asn: Asn, product: AsnProduct, asn_path: Path) -> ImageSet:
    """The science members of one ASN product as 2-D images with their header WCS.

    Raises
    ------
    AssociationError
        A member is not on storage (named) or is a cube. Not retriable.
    """
    one = dataclasses.replace(asn, products=(product,))
    paths = member_paths(one, asn_path.parent, exptypes=("science",))
    missing = [p.name for p in paths if not p.exists()]
    if missing:
        raise AssociationError(f"{asn_path.name}: product {product.name!r} has member(s) not on storage: "
                               f"{', '.join(missing)}")
    images = []
    for p in paths:
        image = read_image(p)
        if image.is_cube:
            raise AssociationError(f"{asn_path.name}: member {p.name} is a cube; image3 combines 2-D _cal images")
        images.append(with_header_wcs(image, source=p.name))
    return ImageSet(tuple(images))


def _level3_primary(first: ImageData, asn: Asn, asn_path: Path, name: str, n: int) -> dict[str, object]:
    primary = dict(first.primary)
    for key in PER_EXPOSURE_KEYS:
        primary.pop(key, None)
    primary.update(ASNTABLE=asn_path.name, ASNPOOL=asn.asn_pool or "", ASN_ID=asn.asn_id, NINPUTS=n,
                   PRODNAME=name)
    return primary


def _run_product(asn: Asn, product: AsnProduct, asn_path: Path, out_dir: Path, store: ReferenceStore,
                 plan: Plan) -> tuple[list[Path], tuple[StepRecord, ...]]:
    members = read_members(asn, product, asn_path)
    first = members.images[0]
    ctx = Context(header=first.primary, refs=store.for_exposure(first.primary), source=first.root)
    run = run_plan(members, plan, ctx)
    rec = run.recorder
    written: list[Path] = []
    if len(members) > 1 and rec.ran("outlier_detection"):
        crf = run.last(ImageSet)
        assert crf is not None
        keywords = rec.keywords(before="resample")
        for image in crf.images:
            written.append(write_image(out_dir / f"{image.root}_{asn.asn_id}_crf.fits",
                                       image.replace(primary={**image.primary, **keywords})))
    mosaic = run.last(Mosaic)
    if mosaic is None:
        return written, rec.records()
    primary = {**with_exposure_times(_level3_primary(first, asn, asn_path, product.name, len(members)),
                                     mosaic.times), **rec.keywords()}
    written.extend(write_with_quicklook(out_dir / product_file(product.name, "i2d"), mosaic.arrays(), primary=primary,
                                        sci_header=mosaic.sci_header))
    catalog = run.last(CatalogResult)
    if catalog is not None:
        written.append(write_catalog(out_dir / product_file(product.name, "cat", ".ecsv"), catalog.table))
        # integer labels (jwst's SegmentationMapModel: uint32, no BUNIT), on the mosaic's WCS
        segm_header = {k: v for k, v in mosaic.sci_header.items() if k != "BUNIT"}
        written.append(write_fits(out_dir / product_file(product.name, "segm"),
                                  primary={**primary, "DATAMODL": "SegmentationMapModel"},
                                  extensions=[Extension("SCI", catalog.segm.astype(np.uint32), segm_header)]))
    return written, rec.records()


def _run(request: RunRequest, plan: Plan) -> PipelineResult:
    return run_association(request, plan, asn_type="image3", run_product=_run_product)


def _outputs(name: str, spec: RunSpec) -> Outputs:
    return Outputs((product_file(name, "i2d"), product_file(name, "cat", ".ecsv"), product_file(name, "segm")))


IMAGE3 = Pipeline(alias="calwebb_image3", input=ImageSet,
                  steps=(AssignMtwcsStep, TweakRegStep, SkyMatchStep, OutlierDetectionStep, MosaicStep,
                         SourceCatalogStep),
                  run=_run, outputs=_outputs)
