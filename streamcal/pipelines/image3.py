"""calwebb_image3 on an image3 association (``jwst_spec.md`` §1.6): align, match sky, reject outliers, mosaic, catalog.

With more than one science exposure: tweakreg (assign_mtwcs instead for moving targets, which streamcal does
not implement) → skymatch → outlier_detection (writes ``<member root>_<asn_id>_crf.fits`` per exposure); then
always resample → ``<product>_i2d.fits`` (+ quicklook PNG) → source_catalog → ``<product>_cat.ecsv`` and
``<product>_segm.fits``. A single exposure gets skymatch only when its method is not ``match``, then resample
and the catalog.

Steps and their parameters come from the ``pars-image3pipeline`` file; a parameter a step does not have is a
ConfigError. Members are resolved relative to the ASN file's folder; a missing member is an AssociationError
naming it (the tracker only releases associations whose members exist, so this means the ASN is wrong).
"""

from __future__ import annotations

import dataclasses
import os
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np
from astropy.wcs import WCS

from streamcal.associations import Asn, AsnProduct, member_paths, read_asn
from streamcal.datamodels import write_fits, write_product
from streamcal.datamodels.fitsio import Extension
from streamcal.datamodels.quicklook import render_quicklook
from streamcal.errors import AssociationError, ConfigError, MissingReferenceError
from streamcal.kernels.image.catalog import CatalogParams, select_apcorr, source_catalog, write_catalog
from streamcal.kernels.image.outlier import OutlierParams, flag_outliers
from streamcal.kernels.image.resample import Mosaic, ResampleParams, resample
from streamcal.kernels.image.skymatch import SkyMatchParams, match_sky
from streamcal.kernels.image.tweakreg import TweakRegParams, apply_alignment, tweakreg
from streamcal.kernels.image.wcs import imaging_wcs
from streamcal.models import ImageData, read_image, write_image
from streamcal.models.keywords import header_float, header_str
from streamcal.pipelines.plan import step_parameters
from streamcal.pipelines.provenance import provenance_keywords
from streamcal.pipelines.result import PipelineResult, StageConfig
from streamcal.references import ReferenceFile, ReferenceStore, RefType
from streamcal.routing import ParsFile, route, select_pars
from streamcal.steps import StepRecord, StepStatus

__all__ = ["run_image3"]

Images = list[tuple[ImageData, WCS]]


def _timed(records: list[StepRecord], name: str, fn: Callable[[], Any], *,
           references: tuple[tuple[RefType, str], ...] = (), counts: Callable[[Any], Mapping[str, int]] | None = None
           ) -> Any:
    started = time.perf_counter()
    out = fn()
    records.append(StepRecord(name, StepStatus.COMPLETE, time.perf_counter() - started, references,
                              dict(counts(out)) if counts else {}))
    return out


def _skip(records: list[StepRecord], name: str, why: str) -> None:
    records.append(StepRecord(name, StepStatus.SKIPPED, note=why))


def _science(asn: Asn, product: AsnProduct, asn_path: Path) -> list[Path]:
    one = dataclasses.replace(asn, products=(product,))
    paths = member_paths(one, asn_path.parent, exptypes=("science",))
    missing = [p.name for p in paths if not p.exists()]
    if missing:
        raise AssociationError(f"{asn_path.name}: product {product.name!r} has member(s) not on storage: "
                               f"{', '.join(missing)}")
    return paths


def _crf_path(out_dir: Path, image: ImageData, asn_id: str) -> Path:
    return out_dir / f"{image.root}_{asn_id}_crf.fits"


def _multi_exposure(images: Images, pars: ParsFile, records: list[StepRecord], *, moving: bool) -> Images:
    """tweakreg, skymatch and outlier_detection (the steps that need several exposures)."""
    if moving:
        _skip(records, "assign_mtwcs", "moving-target WCS is not implemented in streamcal")
        _skip(records, "tweakreg", "moving target: jwst runs assign_mtwcs instead")
    else:
        _skip(records, "assign_mtwcs", "fixed target")
        skip, tweak = step_parameters(TweakRegParams, pars, "tweakreg")
        if skip:
            _skip(records, "tweakreg", "skipped by the parameter file")
        else:
            fits = _timed(records, "tweakreg", lambda: tweakreg(images, params=tweak),
                          counts=lambda fs: {"matched": sum(f.n_matched for f in fs),
                                             "unaligned": sum(not f.fitted for f in fs)})
            images = [(apply_alignment(img, fit), fit.wcs) for (img, _), fit in zip(images, fits, strict=True)]
    skip, sky = step_parameters(SkyMatchParams, pars, "skymatch")
    if skip:
        _skip(records, "skymatch", "skipped by the parameter file")
    else:
        matched = _timed(records, "skymatch", lambda: match_sky(images, params=sky))
        images = [(img, wcs) for img, (_, wcs) in zip(matched.images, images, strict=True)]
    skip, outlier = step_parameters(OutlierParams, pars, "outlier_detection")
    if skip:
        _skip(records, "outlier_detection", "skipped by the parameter file")
    else:
        found = _timed(records, "outlier_detection", lambda: flag_outliers(images, params=outlier),
                       counts=lambda r: {"outliers": int(sum(r.n_flagged))})
        images = [(img, wcs) for img, (_, wcs) in zip(found.images, images, strict=True)]
    return images


def _single_exposure(images: Images, pars: ParsFile, records: list[StepRecord]) -> Images:
    for name in ("assign_mtwcs", "tweakreg", "outlier_detection"):
        _skip(records, name, "a single exposure")
    skip, sky = step_parameters(SkyMatchParams, pars, "skymatch")
    if skip or sky.skymethod == "match":
        _skip(records, "skymatch", "skipped by the parameter file" if skip else "one exposure has nothing to match")
        return images
    matched = _timed(records, "skymatch", lambda: match_sky(images, params=sky))
    return [(img, wcs) for img, (_, wcs) in zip(matched.images, images, strict=True)]


def _level3_primary(first: ImageData, asn: Asn, asn_path: Path, name: str, n: int) -> dict[str, object]:
    primary = dict(first.primary)
    for key in ("EXPOSURE", "EXPCOUNT", "PATT_NUM", "FILENAME"):
        primary.pop(key, None)
    primary.update(ASNTABLE=asn_path.name, ASNPOOL=asn.asn_pool or "", ASN_ID=asn.asn_id, NINPUTS=n,
                   PRODNAME=name)
    return primary


def _pixel_area_sr(mosaic_header: Mapping[str, object], first: ImageData) -> float:
    if mosaic_header.get("PIXAR_SR") is None:
        raise ConfigError(f"{first.root}: no PIXAR_SR keyword (photom did not run on the stage-2 product?)")
    return header_float(mosaic_header, "PIXAR_SR")


def _apcorr_rows(apcorr: ReferenceFile, first: ImageData) -> np.ndarray:
    """The APCORR rows of the exposure's FILTER/PUPIL (MissingReferenceError when the file has none)."""
    filt = header_str(first.primary, "FILTER") or "N/A"
    pupil = header_str(first.primary, "PUPIL") or "N/A"
    try:
        return select_apcorr(apcorr["APCORR"], filter=filt, pupil=pupil)
    except KeyError as exc:
        raise MissingReferenceError(f"{apcorr.name}: no aperture corrections for FILTER={filt} PUPIL={pupil}"
                                    ) from exc


def _run_product(asn: Asn, product: AsnProduct, asn_path: Path, out_dir: Path, store: ReferenceStore,
                 config: StageConfig, alias: str) -> tuple[list[Path], list[StepRecord]]:
    paths = _science(asn, product, asn_path)
    images: Images = []
    for p in paths:
        image = read_image(p)
        if image.is_cube:
            raise AssociationError(f"{asn_path.name}: member {p.name} is a cube; image3 combines 2-D _cal images")
        images.append((image, imaging_wcs(image.sci_header, image.shape, primary=image.primary, source=p.name)))
    first = images[0][0]
    found = route(first.primary, config.table, source=paths[0].name)
    pars = select_pars(alias, found, registry=config.table.registry, library=config.pars, header=first.primary)
    records: list[StepRecord] = []
    moving = (header_str(first.primary, "TARGTYPE") or "") == "MOVING"
    images = (_multi_exposure(images, pars, records, moving=moving) if len(images) > 1
              else _single_exposure(images, pars, records))
    written: list[Path] = []
    provenance = provenance_keywords(records, alias=alias, pars=pars.path.name)
    if len(images) > 1 and any(r.name == "outlier_detection" and r.status is StepStatus.COMPLETE for r in records):
        for image, _ in images:
            crf = image.replace(primary={**image.primary, **provenance})
            written.append(write_image(_crf_path(out_dir, image, asn.asn_id), crf))
    primary = _level3_primary(first, asn, asn_path, product.name, len(images))
    skip, res = step_parameters(ResampleParams, pars, "resample")
    if skip:
        _skip(records, "resample", "skipped by the parameter file")
        _skip(records, "source_catalog", "needs the resampled mosaic")
        return written, records
    mosaic: Mosaic = _timed(records, "resample", lambda: resample(images, params=res))
    sci_header = mosaic.header(res, reference=first)
    skip, cat = step_parameters(CatalogParams, pars, "source_catalog")
    apcorr = store.for_exposure(first.primary).get(RefType.APCORR)
    if skip:
        _skip(records, "source_catalog", "skipped by the parameter file")
        catalog = None
    else:
        references = ((RefType.APCORR, apcorr.name),) if apcorr is not None else ()
        catalog = _timed(records, "source_catalog",
                         lambda: source_catalog(mosaic.sci, mosaic.err, mosaic.wcs,
                                                apcorr=None if apcorr is None else _apcorr_rows(apcorr, first),
                                                pixar_sr=_pixel_area_sr(sci_header, first), params=cat),
                         references=references, counts=lambda c: {"sources": len(c.table)})
    primary.update(provenance_keywords(records, alias=alias, pars=pars.path.name))
    i2d = write_product(out_dir / f"{product.name}_i2d.fits", mosaic.arrays(), primary=primary, sci_header=sci_header)
    written.append(i2d)
    written.append(render_quicklook(i2d))
    if catalog is not None:
        written.append(write_catalog(out_dir / f"{product.name}_cat.ecsv", catalog.table))
        segm_primary = {**primary, "DATAMODL": "SegmentationMapModel"}
        written.append(write_fits(out_dir / f"{product.name}_segm.fits", primary=segm_primary,
                                  extensions=[Extension("SCI", catalog.segm, sci_header)]))
    return written, records


def run_image3(alias: str, asn_path: str | os.PathLike[str], *, refs_dir: str | os.PathLike[str],
               out_dir: str | os.PathLike[str], config: StageConfig | None = None) -> PipelineResult:
    """Run calwebb_image3 on every product of an image3 association.

    Returns
    -------
    PipelineResult
        ``exposure_id`` is the (first) product name; products are the crf files, the i2d, its PNG, the
        catalog and the segmentation map.

    Raises
    ------
    AssociationError
        Malformed ASN, no or missing science members, cube members. Not retriable.
    MosaicTooLargeError
        The output grid would exceed the cap (a broken pointing). Not retriable.
    ConfigError, MissingKeywordError, CorruptFileError ...
        Not retriable.
    """
    started = time.perf_counter()
    path = Path(asn_path)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    asn = read_asn(path)
    cfg = config or StageConfig.load()
    store = ReferenceStore.open(refs_dir)
    products: list[Path] = []
    records: list[StepRecord] = []
    for product in asn.products:
        written, recs = _run_product(asn, product, path, out, store, cfg, alias)
        products.extend(written)
        records.extend(recs)
    return PipelineResult(alias, asn.products[0].name, tuple(products), time.perf_counter() - started,
                          tuple(records))
