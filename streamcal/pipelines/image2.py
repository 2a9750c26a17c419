"""calwebb_image2: bkg_subtract → assign_wcs → flat_field → photom → resample (``jwst_spec.md`` §1.4).

The input is one ``_rate``/``_rateints`` file, or a level-2 imaging association (``image2``/``tso-image2``)
whose every product has one science member and optional background members; each product is calibrated
on its own. The parameter file is selected from the science exposure's route (TSO and WFS&C files skip
resample, TSO also bkg_subtract). bkg_subtract runs only when the product has background members;
resample (the quick-look ``_i2d``) only for MIR/NRC/NIS/FGS_IMAGE 2-D data.

Products per science exposure, written atomically: ``<root>_cal.fits`` (2-D) or ``<root>_calints.fits``
(cube) with S_*/R_* provenance, ``<root>_bsub.fits`` when ``save_bsub`` (2-D only), and ``<root>_i2d.fits``
with its quick-look ``<root>_i2d.png``.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import NamedTuple

from astropy.wcs import WCS

from streamcal.associations import read_asn
from streamcal.datamodels import split_suffix, write_product
from streamcal.datamodels.quicklook import render_quicklook
from streamcal.errors import AssociationError
from streamcal.kernels.image.calibrate import BackgroundParams, assign_wcs, flat_field, photom, subtract_background
from streamcal.kernels.image.resample import ResampleParams, resample
from streamcal.models.image import ImageData, read_image, write_image
from streamcal.pipelines.plan import step_parameters
from streamcal.pipelines.provenance import provenance_keywords
from streamcal.pipelines.result import PipelineResult, StageConfig
from streamcal.references import ReferenceStore, RefType
from streamcal.routing import AsnType, ParsFile, route, select_pars
from streamcal.steps import StepRecord, StepStatus

__all__ = ["RESAMPLE_EXP_TYPES", "run_image2"]

#: The EXP_TYPEs whose 2-D cal images get a quick-look ``_i2d`` (jwst Image2Pipeline).
RESAMPLE_EXP_TYPES = frozenset({"MIR_IMAGE", "NRC_IMAGE", "NIS_IMAGE", "FGS_IMAGE"})
_LEVEL2_IMAGING = frozenset({AsnType.IMAGE2, AsnType.TSO_IMAGE2})


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


def _skipped(name: str, why: str) -> StepRecord:
    return StepRecord(name, StepStatus.SKIPPED, note=why)


def _resample_i2d(image: ImageData, wcs: WCS, path: Path, rparams: ResampleParams, *, alias: str,
                  pars: str) -> tuple[Path, StepRecord]:
    """Drizzle one cal image onto its own TAN grid and write the ``_i2d`` (quick look, not used by stage 3)."""
    started = time.perf_counter()
    mosaic = resample([(image, wcs)], params=rparams)
    record = StepRecord("resample", StepStatus.COMPLETE, time.perf_counter() - started,
                        counts={"n_inputs": int(mosaic.n_inputs)})
    primary = {**image.primary, **provenance_keywords([record], alias=alias, pars=pars)}
    sci_header = mosaic.header(rparams, reference=image)
    return write_product(path, mosaic.arrays(), primary=primary, sci_header=sci_header), record


def _calibrate(job: _Job, image: ImageData, pars: ParsFile, store: ReferenceStore) -> tuple[
        ImageData, WCS | None, list[StepRecord], ImageData | None]:
    """bkg_subtract → assign_wcs → flat_field → photom on one exposure; returns the bsub image if any."""
    records: list[StepRecord] = []
    skip = pars.skipped
    refs = store.for_exposure(image.primary)
    bsub = None
    if "bkg_subtract" in skip:
        records.append(_skipped("bkg_subtract", f"skipped by {pars.path.name}"))
    elif not job.backgrounds:
        records.append(_skipped("bkg_subtract", "no background members"))
    else:
        _, bkg = step_parameters(BackgroundParams, pars, "bkg_subtract")
        result = subtract_background(image, [read_image(b) for b in job.backgrounds], sigma=bkg.sigma,
                                     maxiters=bkg.maxiters)
        image, bsub = result.image, result.image
        records.append(result.record)
    wcs = None
    if "assign_wcs" in skip:
        records.append(_skipped("assign_wcs", f"skipped by {pars.path.name}"))
    else:
        wcs_result = assign_wcs(image)
        image, wcs = wcs_result.image, wcs_result.wcs
        records.append(wcs_result.record)
    if "flat_field" in skip:
        records.append(_skipped("flat_field", f"skipped by {pars.path.name}"))
    else:
        flat = refs.require(RefType.FLAT)
        step = flat_field(image, flat["SCI"], flat.arrays.get("ERR"), flat.arrays.get("DQ"),
                          references=((RefType.FLAT, flat.name),))
        image = step.image
        records.append(step.record)
    if "photom" in skip:
        records.append(_skipped("photom", f"skipped by {pars.path.name}"))
    else:
        table = refs.require(RefType.PHOTOM)
        area = refs.get(RefType.AREA)
        used = ((RefType.PHOTOM, table.name),) + (() if area is None else ((RefType.AREA, area.name),))
        phot = photom(image, table["PHOTOM"], None if area is None else area["SCI"],
                      None if area is None else area.header, photom_header=table.header, references=used)
        image = phot.image
        records.append(phot.record)
    return image, wcs, records, bsub


def _run_job(alias: str, job: _Job, *, store: ReferenceStore, out_dir: Path,
             config: StageConfig) -> tuple[list[Path], list[StepRecord]]:
    image = read_image(job.science).replace(root=job.root)
    header = image.primary
    table = config.table
    pars = select_pars(alias, route(header, table, source=job.science.name), registry=table.registry,
                       library=config.pars, header=header)
    image, wcs, records, bsub = _calibrate(job, image, pars, store)
    written: list[Path] = []
    if bsub is not None and bool(pars.parameters.get("save_bsub", False)) and not bsub.is_cube:
        bsub_keywords = provenance_keywords(records[:1], alias=alias, pars=pars.path.name)  # bkg_subtract only
        written.append(write_image(out_dir / f"{job.root}_bsub.fits",
                                   bsub.replace(primary={**bsub.primary, **bsub_keywords})))
    keywords = provenance_keywords(records, alias=alias, pars=pars.path.name)
    image = image.replace(primary={**image.primary, **keywords})
    suffix = "calints" if image.is_cube else "cal"
    written.append(write_image(out_dir / f"{job.root}_{suffix}.fits", image))
    exp_type = str(header.get("EXP_TYPE", "")).strip().upper()
    if "resample" in pars.skipped:
        records.append(_skipped("resample", f"skipped by {pars.path.name}"))
    elif image.is_cube or exp_type not in RESAMPLE_EXP_TYPES:
        records.append(_skipped("resample", f"no quick-look resample for {exp_type} {image.sci.ndim}-D data"))
    elif wcs is None:
        records.append(_skipped("resample", "no WCS (assign_wcs skipped)"))
    else:
        _, rparams = step_parameters(ResampleParams, pars, "resample")
        path, record = _resample_i2d(image, wcs, out_dir / f"{job.root}_i2d.fits", rparams, alias=alias,
                                     pars=pars.path.name)
        written += [path, render_quicklook(path)]
        records.append(record)
    return written, records


def run_image2(
    alias: str,
    input_path: str | os.PathLike[str],
    *,
    refs_dir: str | os.PathLike[str],
    out_dir: str | os.PathLike[str],
    config: StageConfig | None = None,
) -> PipelineResult:
    """Run calwebb_image2 on a ``_rate``/``_rateints`` file or a level-2 imaging association.

    Returns one :class:`PipelineResult` whose ``exposure_id`` is the (first) product's root and whose
    ``steps`` are the records of every product, in order.

    Raises
    ------
    InvalidInputError subclasses
        An unreadable or malformed input file (from :func:`read_image`), or an association that is not
        level-2 imaging or lacks a science member (AssociationError). Not retriable.
    MissingReferenceError
        No FLAT or PHOTOM reference (or PHOTOM row) for the exposure. Not retriable.
    ReferenceUnavailableError
        A selected reference cannot be read now. Retriable.
    """
    started = time.perf_counter()
    config = config if config is not None else StageConfig.load()
    store = ReferenceStore.open(refs_dir)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    jobs = _jobs(Path(input_path))
    products: list[Path] = []
    records: list[StepRecord] = []
    for job in jobs:
        written, steps = _run_job(alias, job, store=store, out_dir=out, config=config)
        products += written
        records += steps
    return PipelineResult(alias, jobs[0].root, tuple(products), time.perf_counter() - started, tuple(records))
