"""calwebb_tso3 on a tso3 association: the segments of one time-series exposure → light curves
(``jwst_spec.md`` §1.10, §5.12; issue 12).

Per ASN product, its science members (``_calints`` cubes with their INT_TIMES, bare names in the association's
folder) are read and concatenated in time order (integration numbers from INT_TIMES): integrations 1…NINTS
each exactly once, or an :class:`~streamcal.errors.AssociationError` naming the duplicated or missing ones and
their segments. The one series then runs the plan (:mod:`streamcal.steps.tso`): outlier_detection →
tso_photometry (imaging: NRC_TSIMAGE, MIR_IMAGE — jwst's own test of EXP_TYPE) or extract_1d → white_light
(spectroscopy, along the trace of the SPECWCS reference). Products:

- ``<member root>_<asn_id>_crfints.fits`` per member (its integrations, outliers NaN and flagged, INT_TIMES);
- imaging: ``<product>_phot.ecsv`` and its plot ``<product>_phot.png`` (net aperture flux against time);
- spectroscopy: ``<product>_x1dints.fits`` (TSOMultiSpecModel: one row per integration of every segment,
  SEGMENT per row, the combined INT_TIMES) and ``<product>_whtlt.ecsv`` with ``<product>_whtlt.png``.

The jwst steps adaptive_trace_model, pixel_replace and photom (NIS_SOSS only in jwst) are recorded SKIPPED.
Simplified: the members must be one exposure's segments of one EXP_TYPE (jwst takes whatever the association
lists); jwst runs outlier_detection per segment, we run it on the whole series (see the step).
"""

from __future__ import annotations

import dataclasses
import logging
from pathlib import Path

import numpy as np

from streamcal.associations import Asn, AsnProduct, member_paths
from streamcal.datamodels import product_file, split_suffix
from streamcal.datamodels.products import read_product
from streamcal.datamodels.spectra import Spectrum1D, write_x1dints
from streamcal.datamodels.tso import PHOT_COLUMNS, render_light_curve, table_meta, write_phot, write_whitelight
from streamcal.errors import AssociationError, BadDataShapeError
from streamcal.models.image import ImageData, read_image, write_image
from streamcal.models.spectral import layout_from_specwcs
from streamcal.pipelines.association import run_association
from streamcal.pipelines.plan import PER_EXPOSURE_KEYS, Outputs, Pipeline, PipelineResult, Plan, RunRequest
from streamcal.pipelines.runner import run_plan
from streamcal.references import ReferenceStore, RefType
from streamcal.routing import RunSpec
from streamcal.steps.base import Context, StepRecord
from streamcal.steps.tso import (
    TsoExtract1dStep,
    TsoOutlierDetectionStep,
    TsoPhotometryStep,
    TsoSeries,
    WhiteLightStep,
)

__all__ = ["NOT_IMPLEMENTED", "TSO3", "TSO_IMAGING", "combine_segments", "read_series"]

log = logging.getLogger(__name__)

#: jwst Tso3Pipeline steps streamcal records as SKIPPED.
NOT_IMPLEMENTED = ("adaptive_trace_model", "pixel_replace", "photom")
#: The EXP_TYPEs jwst's tso3 measures by photometry (the others are spectroscopic).
TSO_IMAGING = frozenset({"NRC_TSIMAGE", "MIR_IMAGE"})


def _error(asn_path: Path, product: AsnProduct, message: str) -> AssociationError:
    return AssociationError(f"{asn_path.name}: product {product.name!r}: {message}")


def _ranges(numbers: list[int]) -> str:
    """``[1, 2, 3, 7]`` → ``"1-3, 7"``."""
    out: list[str] = []
    for n in sorted(set(numbers)):
        if out and int(out[-1].split("-")[-1]) == n - 1:
            out[-1] = f"{out[-1].split('-')[0]}-{n}"
        else:
            out.append(str(n))
    return ", ".join(out)


def combine_segments(members: list[tuple[str, ImageData, np.ndarray]], *,
                     where: str) -> tuple[ImageData, np.ndarray, np.ndarray, list[int]]:
    """Concatenate segments (``(name, calints, INT_TIMES rows)``) in time order: the cube, its INT_TIMES rows,
    each integration's segment number (EXSEGNUM) and the members' indices in time order.

    Raises
    ------
    AssociationError
        An integration in two members (duplicated segment), integrations missing between or around the members
        (a segment not in the association) against NINTS, or members of different shapes or EXP_TYPEs. Not
        retriable.
    """
    numbers = [np.asarray(times["integration_number"], dtype=np.int64) for _, _, times in members]
    order = sorted(range(len(members)), key=lambda i: int(numbers[i].min()))
    seen: dict[int, str] = {}
    duplicated: dict[int, list[str]] = {}
    for i in order:
        for n in numbers[i].tolist():
            if n in seen:
                duplicated.setdefault(n, [seen[n]]).append(members[i][0])
            seen[n] = members[i][0]
    if duplicated:
        names = sorted({m for ms in duplicated.values() for m in ms})
        raise AssociationError(f"{where}: integration(s) {_ranges(list(duplicated))} appear in more than one "
                               f"member ({', '.join(names)}): a segment is duplicated")
    first = members[order[0]][1]
    nints = int(str(first.primary.get("NINTS", max(seen)) or max(seen)))
    missing = sorted(set(range(1, nints + 1)) - set(seen))
    if missing:
        raise AssociationError(f"{where}: integration(s) {_ranges(missing)} of {nints} are in no member (members "
                               f"hold {_ranges(list(seen))}): a segment is missing")
    in_order = np.concatenate([numbers[i] for i in order])
    # no duplicates and none missing: what is left is integrations beyond NINTS or members that interleave
    beyond = [n for n in in_order.tolist() if n > nints]
    if beyond:
        raise AssociationError(f"{where}: integration(s) {_ranges(beyond)} are beyond NINTS = {nints}")
    wrong = [k for k, n in enumerate(in_order.tolist()) if n != k + 1]
    if wrong:
        raise AssociationError(f"{where}: the members' integrations do not run 1-{nints} in time order: position "
                               f"{wrong[0] + 1} holds integration {int(in_order[wrong[0]])}")
    kinds = {str(m.primary.get("EXP_TYPE", "")) for _, m, _ in members}
    shapes = {m.shape for _, m, _ in members}
    if len(kinds) > 1 or len(shapes) > 1:
        raise AssociationError(f"{where}: members of one time series must share EXP_TYPE and shape "
                               f"({sorted(kinds)}, {sorted(shapes)})")
    cubes = [members[i][1] for i in order]

    def cat(name: str) -> np.ndarray:
        return np.concatenate([getattr(c, name) for c in cubes])

    var_flat = None if any(c.var_flat is None for c in cubes) else cat("var_flat")
    cube = first.replace(root=cubes[0].root, sci=cat("sci"), err=cat("err"), dq=cat("dq"),
                         var_poisson=cat("var_poisson"), var_rnoise=cat("var_rnoise"), var_flat=var_flat,
                         primary={**cubes[0].primary, "INTSTART": 1, "INTEND": nints},
                         sci_header=dict(cubes[0].sci_header))
    rows = np.concatenate([members[i][2] for i in order])
    segments = np.concatenate([np.full(len(members[i][2]), int(str(members[i][1].primary.get("EXSEGNUM", 1) or 1)),
                                       dtype=np.int32) for i in order])
    return cube, rows, segments, order


def read_series(asn: Asn, product: AsnProduct, asn_path: Path, store: ReferenceStore) -> TsoSeries:
    """One product's members as one time series (module docstring).

    Raises
    ------
    AssociationError
        A member not on storage or not a ``_calints``, or segments duplicated or missing. Not retriable.
    BadDataShapeError
        A member that is not a cube or has no INT_TIMES table. Not retriable.
    MissingReferenceError
        A spectroscopic series without a SPECWCS reference. Not retriable.
    """
    one = dataclasses.replace(asn, products=(product,))
    paths = member_paths(one, asn_path.parent, exptypes=("science",))
    if not paths:
        raise _error(asn_path, product, "no science member")
    not_calints = [p.name for p in paths if split_suffix(p)[1] != "calints"]
    if not_calints:
        raise _error(asn_path, product, f"calwebb_tso3 combines _calints files; not: {', '.join(not_calints)}")
    missing = [p.name for p in paths if not p.exists()]
    if missing:
        raise _error(asn_path, product, f"member(s) not on storage: {', '.join(missing)}")
    members = []
    for p in paths:
        image = read_image(p)
        times = read_product(p, extensions=("INT_TIMES",)).arrays.get("INT_TIMES")
        if not image.is_cube or times is None or len(times) != image.sci.shape[0]:
            raise BadDataShapeError(f"{asn_path.name}: member {p.name} is not a cube of integrations with an "
                                    f"INT_TIMES row each (shape {image.sci.shape}, "
                                    f"{'no' if times is None else len(times)} INT_TIMES rows)")
        members.append((p.name, image.replace(root=split_suffix(p)[0]), times))
    cube, rows, segments, order = combine_segments(members, where=f"{asn_path.name}: product {product.name!r}")
    roots = tuple(members[i][1].root for i in order)
    member_index = np.concatenate([np.full(len(members[i][2]), k, dtype=np.int32) for k, i in enumerate(order)])
    layout = None
    if str(cube.primary.get("EXP_TYPE", "")).strip().upper() not in TSO_IMAGING:
        ref = store.for_exposure(cube.primary).require(RefType.SPECWCS)
        layout = layout_from_specwcs(ref["SPECWCS"], source=ref.name)
    return TsoSeries(cube=cube, int_times=rows, segments=segments, member_index=member_index, member_roots=roots,
                     member_primaries=tuple(dict(members[i][1].primary) for i in order), layout=layout)


def _level3_primary(series: TsoSeries, asn: Asn, asn_path: Path, name: str) -> dict[str, object]:
    primary = dict(series.cube.primary)
    for key in (*PER_EXPOSURE_KEYS, "EXSEGNUM"):
        primary.pop(key, None)
    primary.update(ASNTABLE=asn_path.name, ASNPOOL=asn.asn_pool or "", ASN_ID=asn.asn_id,
                   NINPUTS=len(series.member_roots), PRODNAME=name, INTSTART=1, INTEND=series.nints)
    return primary


def _write_crfints(series: TsoSeries, asn: Asn, out_dir: Path, keywords: dict[str, object]) -> list[Path]:
    crf = series.crf
    if crf is None:
        return []
    written = []
    for k, (root, primary) in enumerate(zip(series.member_roots, series.member_primaries, strict=True)):
        rows = series.member_index == k
        times = series.int_times[rows]
        var_flat = None if crf.var_flat is None else crf.var_flat[rows]
        part = crf.replace(root=root, sci=crf.sci[rows], err=crf.err[rows], dq=crf.dq[rows],
                           var_poisson=crf.var_poisson[rows], var_rnoise=crf.var_rnoise[rows], var_flat=var_flat,
                           primary={**primary, **keywords})
        unit = str(part.sci_header.get("BUNIT", "") or "") or None  # spectra: MJy per pixel, images MJy/sr
        written.append(write_image(out_dir / f"{root}_{asn.asn_id}_crfints.fits", part, tables={"INT_TIMES": times},
                                   bunit=unit))
    return written


def _aperture(x: float, y: float, plan: Plan) -> dict[str, float]:
    """jwst's table meta of the aperture: its centre (0-based) and radii."""
    step = plan.step("tso_photometry")
    radii = {} if step is None else {"radius": step.radius, "radius_inner": step.radius_inner,
                                     "radius_outer": step.radius_outer}
    return {"xcenter": x, "ycenter": y, **radii}


def _plot(mjd: np.ndarray, flux: np.ndarray, error: np.ndarray, png: Path, segments: np.ndarray) -> list[Path]:
    try:  # a courtesy: a curve it cannot draw does not fail the products
        return [render_light_curve(mjd, flux, error, png, title=png.stem, segments=segments)]
    except BadDataShapeError as exc:
        log.warning("%s: no plot: %s", png.name, exc)
        return []


def _write_products(series: TsoSeries, name: str, primary: dict[str, object], out_dir: Path,
                    plan: Plan) -> list[Path]:
    written: list[Path] = []
    meta = table_meta(primary)
    mjd, numbers = series.mid_times, series.int_times["integration_number"]
    if series.phot is not None:
        p = series.phot
        phot = write_phot(out_dir / product_file(name, "phot", ".ecsv"), mjd=mjd,
                          columns={c: getattr(p, c) for c in PHOT_COLUMNS}, unit=series.phot_unit,
                          aperture=_aperture(p.x, p.y, plan),
                          centroids=(p.centroid_x, p.centroid_y), segment=series.segments, int_num=numbers,
                          meta=meta)
        written.append(phot)
        written += _plot(mjd, p.net_aperture_sum, p.net_aperture_sum_err, phot.with_suffix(".png"), series.segments)
    if series.spectrum is not None:
        spectrum = series.spectrum
        written.append(write_x1dints(out_dir / product_file(name, "x1dints"),
                                     [Spectrum1D(spectrum.columns, spectrum.meta)], primary=primary,
                                     int_times=series.int_times, segments=series.segments))
    if series.white:
        whtlt = write_whitelight(out_dir / product_file(name, "whtlt", ".ecsv"), mjd=mjd,
                                 curves=[(w.order, w.flux, w.error) for w in series.white], segment=series.segments,
                                 int_num=numbers, meta=meta)
        written.append(whtlt)
        written += _plot(mjd, series.white[0].flux, series.white[0].error, whtlt.with_suffix(".png"),
                         series.segments)
    return written


def _run_product(asn: Asn, product: AsnProduct, asn_path: Path, out_dir: Path, store: ReferenceStore,
                 plan: Plan) -> tuple[list[Path], tuple[StepRecord, ...]]:
    series = read_series(asn, product, asn_path, store)
    ctx = Context(header=series.cube.primary, refs=store.for_exposure(series.cube.primary), source=asn_path.name)
    run = run_plan(series, plan, ctx)
    out = run.model
    assert isinstance(out, TsoSeries)
    rec = run.recorder
    primary = {**_level3_primary(out, asn, asn_path, product.name), **rec.keywords()}
    written = _write_crfints(out, asn, out_dir, rec.keywords(before="tso_photometry"))
    written += _write_products(out, product.name, primary, out_dir, plan)
    return written, rec.records()


def _run(request: RunRequest, plan: Plan) -> PipelineResult:
    return run_association(request, plan, asn_type="tso3", run_product=_run_product)


def _outputs(name: str, spec: RunSpec) -> Outputs:
    if str(spec.route.exp_type).upper() in TSO_IMAGING:
        return Outputs((product_file(name, "phot", ".ecsv"),))
    return Outputs((product_file(name, "x1dints"), product_file(name, "whtlt", ".ecsv")))


TSO3 = Pipeline(alias="calwebb_tso3", input=TsoSeries,
                steps=(TsoOutlierDetectionStep, TsoPhotometryStep, TsoExtract1dStep, WhiteLightStep),
                not_implemented=NOT_IMPLEMENTED, run=_run, outputs=_outputs)
