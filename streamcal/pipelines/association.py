"""The run of a stage-3 pipeline over an association: one ASN in, each product calibrated in turn.

Every stage-3 pipeline whose products are made one association product at a time (image3, spec3, tso3) runs
through :func:`run_association`: the input must be an ASN of the pipeline's type, checked as an upstream one
(:func:`~streamcal.associations.check_upstream`: bare member names looked up beside the ASN, plain product
names and asn_id) before any product is made, whoever wrote it; then ``run_product`` calibrates each product.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

from streamcal.associations import Asn, AsnProduct, check_upstream, read_asn
from streamcal.errors import AssociationError
from streamcal.pipelines.plan import PipelineResult, Plan, RunRequest
from streamcal.references import ReferenceStore
from streamcal.steps.base import StepRecord

__all__ = ["ProductRun", "run_association"]

#: Calibrates one product of an association: ``(asn, product, asn_path, out_dir, store, plan)`` → the files it
#: wrote and its step records.
ProductRun = Callable[[Asn, AsnProduct, Path, Path, ReferenceStore, Plan], tuple[list[Path], tuple[StepRecord, ...]]]


def run_association(request: RunRequest, plan: Plan, *, asn_type: str, run_product: ProductRun) -> PipelineResult:
    """Run ``run_product`` on every product of the association ``request.input_path``.

    Raises
    ------
    AssociationError
        Not an ASN file, another type of association, or one that names paths. Not retriable.
    """
    started = time.perf_counter()
    path = request.input_path
    if path.suffix.lower() != ".json":
        raise AssociationError(f"{path.name}: {plan.pipeline} takes a {asn_type} association (*_{asn_type}_asn.json)")
    asn = read_asn(path)
    if str(asn.asn_type) != asn_type:
        raise AssociationError(f"{path.name}: a {asn.asn_type} association; {plan.pipeline} takes {asn_type}")
    check_upstream(asn, path.name)
    request.out_dir.mkdir(parents=True, exist_ok=True)
    store = ReferenceStore.open(request.refs_dir)
    products: list[Path] = []
    records: list[StepRecord] = []
    for product in asn.products:
        written, recs = run_product(asn, product, path, request.out_dir, store, plan)
        products.extend(written)
        records.extend(recs)
    return PipelineResult(plan.pipeline, asn.products[0].name, tuple(products), time.perf_counter() - started,
                          tuple(records))
