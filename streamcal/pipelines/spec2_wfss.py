"""calwebb_spec2 on a WFSS exposure (NIS_WFSS, NRC_WFSS), whose input is a level-2 association (issue 11).

The association is jwst's (``asn_type`` spec2, e.g. ``asn_rule`` Asn_Lv2WFSSNIS), written by the services in the
products folder next to its members, with one product named after the exposure root::

    {"asn_type": "spec2", "asn_id": "o001", "products": [{"name": "<root>", "members": [
      {"expname": "<root>_rate.fits", "exptype": "science"},
      {"expname": "<image3 product>_i2d.fits", "exptype": "direct_image"},
      {"expname": "<image3 product>_cat.ecsv", "exptype": "sourcecat"},
      {"expname": "<image3 product>_segm.fits", "exptype": "segmap"}]}]}

Members must be bare ``*.fits``/``*.ecsv`` names (no folder, no ``..``), resolved in the association's folder;
the science member and the source catalogue must be there (the direct image and segmentation map are not read:
the catalogue's sky positions locate the sources). The catalogue is calwebb_image3's ``_cat.ecsv`` (columns
``label``, ``xcentroid``, ``ycentroid``, ``sky_centroid``).

Steps (SPEC2's plan, :mod:`streamcal.steps.spec.wfss`): assign_wcs → extract_2d → srctype → flat_field → photom →
extract_1d; resample_spec and cube_build record SKIPPED. Products: ``<root>_cal.fits`` (jwst's MultiSlitModel, a
slit per source and order, DN/s: jwst calibrates WFSS after extraction), ``<root>_x1d.fits`` (jwst 3.0's
WFSSMultiSpecModel, FLUX in Jy) and its quick look ``<root>_x1d.png`` (the brightest source).
"""

from __future__ import annotations

import logging
import re
import time
from pathlib import Path

import numpy as np

from streamcal.associations import Asn, read_asn
from streamcal.datamodels.quicklook import render_spectrum
from streamcal.datamodels.wfss import write_wfss_x1d
from streamcal.errors import AssociationError, BadDataShapeError, CorruptFileError
from streamcal.models.grism import CatalogSource
from streamcal.models.image import read_image
from streamcal.pipelines import WFSS_EXP_TYPES
from streamcal.pipelines.plan import PipelineResult, Plan, RunRequest
from streamcal.pipelines.runner import PlanRun, run_plan
from streamcal.pipelines.spec2_mos import cal_primary, cutout_planes, write_multislit
from streamcal.references import ReferenceStore
from streamcal.steps.base import Context
from streamcal.steps.spec.wfss import GrismSlits, WfssSpectra

__all__ = ["WFSS_EXP_TYPES", "WfssInputs", "read_source_catalog", "read_wfss_association", "run_wfss"]

log = logging.getLogger(__name__)

_BARE_MEMBER = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.+-]{0,200}\.(fits|ecsv)")
_PLAIN = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.+-]{0,200}")


class WfssInputs:
    """The files of a WFSS level-2 association: its product name, the science rate and the source catalogue."""

    __slots__ = ("asn", "catalog", "name", "science")

    def __init__(self, asn: Asn, name: str, science: Path, catalog: Path) -> None:
        self.asn, self.name, self.science, self.catalog = asn, name, science, catalog


def _one(members: list[Path], kind: str, source: str) -> Path:
    if len(members) != 1:
        raise AssociationError(f"{source}: a WFSS level-2 association needs exactly one {kind} member, has "
                               f"{len(members)}")
    if not members[0].is_file():
        raise AssociationError(f"{source}: its {kind} member {members[0].name} is not in the association's folder")
    return members[0]


def read_wfss_association(path: Path) -> WfssInputs:
    """Read and check a WFSS level-2 association (module docstring).

    Raises
    ------
    AssociationError
        Not a spec2 association with one product, a member that is not a bare name, or the science member or
        the source catalogue missing from the folder; the message names the file. Not retriable.
    """
    asn = read_asn(path)
    source = path.name
    if str(asn.asn_type) != "spec2" or len(asn.products) != 1:
        raise AssociationError(f"{source}: calwebb_spec2 takes a spec2 association with one product (a WFSS "
                               f"exposure); this is {asn.asn_type} with {len(asn.products)} product(s)")
    product = asn.products[0]
    if not _PLAIN.fullmatch(product.name):
        raise AssociationError(f"{source}: product name {product.name[:80]!r} is not a plain name")
    for member in product.members:
        if not _BARE_MEMBER.fullmatch(member.expname) or ".." in member.expname:
            raise AssociationError(f"{source}: member {member.expname[:80]!r} is not a bare *.fits or *.ecsv file "
                                   "name (members are looked up in the association's folder)")

    def of(kind: str) -> list[Path]:
        return [path.parent / m.expname for m in product.members if m.exptype == kind]

    return WfssInputs(asn, product.name, _one(of("science"), "science", source),
                      _one(of("sourcecat"), "sourcecat (the direct image's source catalogue)", source))


def read_source_catalog(path: Path) -> tuple[CatalogSource, ...]:
    """The sources of calwebb_image3's ``_cat.ecsv`` (``label``, ``sky_centroid``, ``xcentroid``, ``ycentroid``).

    Raises
    ------
    CorruptFileError
        Not a readable ECSV table with those columns. Not retriable.
    """
    from astropy.table import Table  # only the WFSS runs pay for astropy.table

    try:
        table = Table.read(path, format="ascii.ecsv")
    except (ValueError, TypeError, KeyError, IndexError, OSError) as exc:
        raise CorruptFileError(f"{path.name}: not a readable source catalogue ({exc})") from exc
    missing = [c for c in ("label", "sky_centroid", "xcentroid", "ycentroid") if c not in table.colnames]
    if missing:
        raise CorruptFileError(f"{path.name}: a source catalogue needs the columns label, sky_centroid, xcentroid "
                               f"and ycentroid; missing {missing}")
    sky = table["sky_centroid"]
    try:
        ra, dec = np.asarray(sky.ra.deg, np.float64), np.asarray(sky.dec.deg, np.float64)
    except AttributeError as exc:
        raise CorruptFileError(f"{path.name}: sky_centroid is not a sky coordinate column") from exc
    return tuple(CatalogSource(int(label), float(r), float(d), float(x), float(y)) for label, r, d, x, y in
                 zip(table["label"], ra, dec, table["xcentroid"], table["ycentroid"], strict=True)
                 if np.isfinite(r) and np.isfinite(d))


def _cal(run: PlanRun, out_dir: Path, root: str) -> list[Path]:
    slits = run.last(GrismSlits)
    if slits is None:
        return []
    primary = cal_primary(slits.image, run)
    planes = [(slit.meta(), cutout_planes(slit.image, slit.wavelength)) for slit in slits.slits]
    bunits = [str(s.image.sci_header.get("BUNIT", "DN/s")) for s in slits.slits]
    return [write_multislit(out_dir / f"{root}_cal.fits", planes, primary=primary, bunits=bunits)]


def _x1d(run: PlanRun, out_dir: Path, root: str, science: Path) -> list[Path]:
    spectra = run.last(WfssSpectra)
    if spectra is None:
        return []
    primary = {**spectra.primary, **run.recorder.keywords()}
    head = spectra.primary
    meta = {"FILENAME": f"{root}_cal.fits", "EXPGRPID": str(head.get("EXPOSURE", "") or root),
            "DISPAXIS": spectra.meta.get("DISPAXIS"), "SPORDER": spectra.meta.get("SPORDER", 1),
            "EFFEXPTM": head.get("EFFEXPTM"), "EFFINTTM": head.get("EFFINTTM")}
    x1d = write_wfss_x1d(out_dir / f"{root}_x1d.fits", [({k: v for k, v in meta.items() if v is not None},
                                                        spectra.spectra)], primary=primary)
    written = [x1d]
    bright = max(spectra.spectra, key=lambda s: float(np.nanmedian(np.asarray(s.columns["FLUX"], np.float64))))
    cols = bright.columns
    try:  # a courtesy: a spectrum it cannot draw does not fail the products
        written.append(render_spectrum(np.asarray(cols["WAVELENGTH"]), np.asarray(cols["FLUX"]),
                                       np.asarray(cols["FLUX_ERROR"]), primary, x1d.with_suffix(".png"),
                                       title=f"{x1d.name} source {bright.meta.get('SOURCEID')}"))
    except BadDataShapeError as exc:
        log.warning("%s: no quick look: %s", x1d.name, exc)
    return written


def run_wfss(request: RunRequest, plan: Plan) -> PipelineResult:
    """calwebb_spec2 on a WFSS level-2 association (module docstring).

    Raises
    ------
    AssociationError
        A malformed association or a member missing from its folder. Not retriable.
    CorruptFileError
        An unreadable catalogue. Not retriable.
    BadDataShapeError
        No catalogue source has a trace on the exposure. Not retriable.
    InvalidInputError
        The science member is not a WFSS exposure, or a trace's wavelengths lie outside the sensitivity
        reference. Not retriable.
    """
    started = time.perf_counter()
    inputs = read_wfss_association(request.input_path)
    sources = read_source_catalog(inputs.catalog)
    image = read_image(inputs.science).replace(root=inputs.name)
    exp_type = str(image.primary.get("EXP_TYPE", "")).strip().upper()
    if exp_type not in WFSS_EXP_TYPES:
        raise AssociationError(f"{request.input_path.name}: science member {inputs.science.name} is {exp_type or 'no'} "
                               f"EXP_TYPE; a level-2 association goes to calwebb_spec2 for "
                               f"{', '.join(sorted(WFSS_EXP_TYPES))} only")
    store = ReferenceStore.open(request.refs_dir)
    ctx = Context(header=image.primary, refs=store.for_exposure(image.primary), source=inputs.science.name,
                  grism_sources=sources)
    run = run_plan(image, plan, ctx)
    request.out_dir.mkdir(parents=True, exist_ok=True)
    written = [*_cal(run, request.out_dir, inputs.name), *_x1d(run, request.out_dir, inputs.name, inputs.science)]
    return PipelineResult(plan.pipeline, inputs.name, tuple(written), time.perf_counter() - started,
                          run.recorder.records())
