"""calwebb_spec3 for the single-trace modes: outlier_detection → resample_spec → extract_1d → combine_1d
(``jwst_spec.md`` §1.7, issue 11).

The input is a spec3 association (``*_spec3_asn.json``) of NRS_FIXEDSLIT, MIR_LRS-FIXEDSLIT or NIS_SOSS
(not time series) exposures; per product, its science members' ``_cal`` files (bare ``*_cal.fits`` names,
looked up in the association's folder — :func:`~streamcal.associations.check_upstream` refuses anything else)
are read, given their trace from the SPECWCS reference of each member, and rectified onto the first member's
wavelength sampling (extended by the others' where they reach beyond it: NIRSpec's NRS1 and NRS2 halves of one
grating combine into one product) × whole-pixel offsets from the trace
(:func:`streamcal.steps.spec.spec3.rectify_members`). Members must share EXP_TYPE and optical path (FILTER,
GRATING, PUPIL, FXD_SLIT).
Products, named after the association's product (jwst's ``{source_id}`` becomes ``s<SOURCEID:09d>``, default
``s000000001``, and ``{slit_name}`` the FXD_SLIT, lower case, as jwst's spec3 fills them for fixed slits):

- ``<product>_s2d.fits``: the combined rectified trace, jwst's ``SlitModel`` (BUNIT MJy: a point source);
- ``<product>_x1d.fits``: its boxcar extraction, jwst's ``MultiSpecModel``, with the quick look
  ``<product>_x1d.png``;
- ``<product>_c1d.fits``: the members' own extractions averaged by exposure time, jwst's
  ``CombinedSpecModel``.

IFU associations (MIR_MRS, NRS_IFU: one mode, detector and band per product) take the same plan on other
models (:mod:`streamcal.steps.spec.spec3_ifu`): each ``_cal`` member (MJy/sr) gets its slicer WCS from its
SPECWCS reference and is placed in the common frame by its XOFFSET/YOFFSET (:mod:`streamcal.pipelines.spec3_ifu`);
outlier_detection tests it against the other members' median cube; resample_spec is SKIPPED; cube_build drizzles
all members into one cube → ``<product>_s3d.fits`` (jwst's ``IFUCubeModel``, MJy/sr) with a quick look
``<product>_s3d.png``; extract_1d (aperture and annulus per plane, on the source found in the cube) →
``<product>_x1d.fits`` + ``.png``; combine_1d is SKIPPED (jwst runs it for non-IFU spectra only). For the single
traces cube_build is SKIPPED.

The other jwst steps of the parameter file (assign_mtwcs, master_background, adaptive_trace_model,
pixel_replace, photom, spectral_leak) are recorded SKIPPED "not implemented in streamcal"; background
members of the association are not used. Not written: jwst's per-member ``_crf`` files (the outliers are
flagged on the rectified grid or in the members' pixels in memory). The services send it only the EXP_TYPEs
above and NIRSpec MOS (:data:`streamcal.pipelines.PARTIAL`). NRS_MSASPEC associations are regrouped by
source and this plan runs once per source (:mod:`streamcal.pipelines.spec3_mos`: ``<product>_s<SOURCEID:09d>``
s2d, x1d and c1d per source; :func:`~streamcal.pipelines.spec3_mos.mos_outputs` says why none is declared
ahead). WFSS associations (NIS_WFSS, NRC_WFSS) extract every member's sources and combine them per source
(:mod:`streamcal.pipelines.spec3_wfss`: ``<product>_x1d.fits``, a WFSSMultiSpecModel with a table per member,
and ``<product>_c1d.fits``, a WFSSMultiCombinedSpecModel).
"""

from __future__ import annotations

import dataclasses
import logging
import re
from pathlib import Path

import numpy as np
import numpy.typing as npt

from streamcal.associations import Asn, AsnProduct, member_paths
from streamcal.datamodels import product_file, read_header, split_suffix
from streamcal.datamodels.combined import write_c1d, write_s2d
from streamcal.datamodels.quicklook import render_spectrum
from streamcal.datamodels.spectra import Spectrum1D, write_x1d
from streamcal.errors import AssociationError, BadDataShapeError
from streamcal.models.image import ImageData, read_image
from streamcal.models.spectral import layout_from_specwcs
from streamcal.pipelines.association import run_association
from streamcal.pipelines.plan import PER_EXPOSURE_KEYS, Outputs, Pipeline, PipelineResult, Plan, RunRequest
from streamcal.pipelines.runner import run_plan
from streamcal.pipelines.spec3_ifu import IFU_EXP_TYPES, read_ifu_members, write_ifu_products
from streamcal.pipelines.spec3_mos import MOS_EXP_TYPES, mos_outputs, run_mos_product
from streamcal.pipelines.spec3_wfss import WFSS_EXP_TYPES, run_wfss_product, wfss_outputs
from streamcal.references import ReferenceStore, RefType
from streamcal.routing import RunSpec
from streamcal.steps.base import Context, StepRecord
from streamcal.steps.spec.kinds import Spec3Members
from streamcal.steps.spec.single_trace import TraceImage, trace_image
from streamcal.steps.spec.spec3 import (
    Combine1dStep,
    CombinedSpectrum,
    Spec2D,
    Spec3CubeBuildStep,
    Spec3Extract1dStep,
    Spec3OutlierDetectionStep,
    Spec3Spectrum,
    SpecMemberSet,
    SpecResampleStep,
    rectify_members,
    source_id,
)
from streamcal.steps.spec.spec3_ifu import IfuCombinedCube

__all__ = ["NOT_IMPLEMENTED", "SPEC3", "SPEC3_EXP_TYPES", "product_name", "read_members"]

log = logging.getLogger(__name__)

#: jwst Spec3Pipeline steps streamcal records as SKIPPED for now.
NOT_IMPLEMENTED = ("assign_mtwcs", "master_background", "adaptive_trace_model", "pixel_replace", "photom",
                   "spectral_leak")
#: The EXP_TYPEs calwebb_spec3 combines so far (single trace, one source — MIR_LRS-SLITLESS has no spec3 — and
#: the IFU modes, one band per product).
SPEC3_EXP_TYPES = frozenset({"NRS_FIXEDSLIT", "MIR_LRS-FIXEDSLIT", "NIS_SOSS"}) | IFU_EXP_TYPES


_PLAIN = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.+-]{0,200}")


def product_name(template: str, primary: dict[str, object]) -> str:
    """The product name with jwst's ``{source_id}`` and ``{slit_name}`` filled in for a single source.

    Raises
    ------
    AssociationError
        The filled name is not a plain file name (FXD_SLIT comes from a file: ``../x`` would write elsewhere).
        Not retriable.
    """
    source = source_id(primary)
    slit = str(primary.get("FXD_SLIT", "") or "").strip().lower() or "none"
    name = template.replace("{source_id}", f"s{abs(source):09d}").replace("{slit_name}", slit)
    if not _PLAIN.fullmatch(name):
        raise AssociationError(f"product name {template!r} filled from its first member (FXD_SLIT "
                               f"{slit[:40]!r}) is not a plain file name")
    return name


def _member_error(asn_path: Path, product: AsnProduct, message: str) -> AssociationError:
    return AssociationError(f"{asn_path.name}: product {product.name!r}: {message}")


def _science_paths(asn: Asn, product: AsnProduct, asn_path: Path) -> list[Path]:
    """The product's science ``_cal`` members, each on storage (AssociationError naming them otherwise)."""
    one = dataclasses.replace(asn, products=(product,))
    paths = member_paths(one, asn_path.parent, exptypes=("science",))
    not_cal = [p.name for p in paths if split_suffix(p)[1] != "cal"]
    if not_cal:
        raise _member_error(asn_path, product, f"calwebb_spec3 combines _cal files; not: {', '.join(not_cal)}")
    missing = [p.name for p in paths if not p.exists()]
    if missing:
        raise _member_error(asn_path, product, f"member(s) not on storage: {', '.join(missing)}")
    return paths


def read_members(asn: Asn, product: AsnProduct, asn_path: Path, store: ReferenceStore) -> list[TraceImage]:
    """The science members of one single-trace product as calibrated images with their traces (SPECWCS of each
    member).

    Raises
    ------
    AssociationError
        A member not on storage or not a ``_cal`` (named), members of different EXP_TYPEs or optical paths, or
        an EXP_TYPE calwebb_spec3 does not combine yet. Not retriable.
    BadDataShapeError
        A member that is not a calibrated 2-D point-source image (BUNIT MJy). Not retriable.
    MissingReferenceError
        No SPECWCS for a member. Not retriable.
    """
    paths = _science_paths(asn, product, asn_path)
    traced: list[TraceImage] = []
    first_key: tuple[str, ...] | None = None
    for p in paths:
        image = read_image(p)
        head = image.primary
        key = tuple(str(head.get(k, "") or "").strip().upper()
                    for k in ("EXP_TYPE", "FILTER", "GRATING", "PUPIL", "FXD_SLIT"))
        if key[0] not in SPEC3_EXP_TYPES:
            raise _member_error(asn_path, product, f"member {p.name} is {key[0] or 'no EXP_TYPE'}; calwebb_spec3 "
                                f"combines {', '.join(sorted(SPEC3_EXP_TYPES))} so far")
        if first_key is not None and key != first_key:
            raise _member_error(asn_path, product, f"member {p.name} is {'/'.join(k for k in key if k)}, the first "
                                f"member {'/'.join(k for k in first_key if k)}: one product combines one mode and "
                                "optical path")
        first_key = key
        if image.is_cube or str(image.sci_header.get("BUNIT", "")).strip() != "MJy":
            raise BadDataShapeError(f"{asn_path.name}: member {p.name} is not a calibrated 2-D point-source "
                                    f"image (BUNIT {image.sci_header.get('BUNIT')!r}, shape {image.sci.shape})")
        ref = store.for_exposure(head).require(RefType.SPECWCS)
        traced.append(trace_image(image.replace(root=split_suffix(p)[0]),
                                  layout_from_specwcs(ref["SPECWCS"], source=ref.name)))
    return traced


def _level3_primary(first: dict[str, object], asn: Asn, asn_path: Path, name: str, n: int) -> dict[str, object]:
    primary = dict(first)
    for key in PER_EXPOSURE_KEYS:
        primary.pop(key, None)
    primary.update(ASNTABLE=asn_path.name, ASNPOOL=asn.asn_pool or "", ASN_ID=asn.asn_id, NINPUTS=n,
                   PRODNAME=name)
    return primary


def _write_s2d(out: Path, s2d: Spec2D, primary: dict[str, object], slit: dict[str, object]) -> Path:
    r = s2d.rectified
    planes = {"SCI": r.sci, "ERR": np.sqrt(r.variance), "DQ": r.dq, "WAVELENGTH": s2d.wavelength_2d,
              "VAR_POISSON": r.var_poisson, "VAR_RNOISE": r.var_rnoise, "VAR_FLAT": r.var_flat, "WHT": s2d.weight}
    return write_s2d(out, planes, primary=primary, slit=slit)


def _write_spectra(out_dir: Path, name: str, spectra: Spec3Spectrum | None, c1d: CombinedSpectrum | None,
                   primary: dict[str, object], c1d_primary: dict[str, object]) -> list[Path]:
    written: list[Path] = []
    if spectra is not None:
        x1d = write_x1d(out_dir / product_file(name, "x1d"), [Spectrum1D(spectra.combined.columns,
                                                                         spectra.combined.meta)], primary=primary)
        written.append(x1d)
        cols = spectra.combined.columns
        try:  # the quick look is a courtesy: a spectrum it cannot draw does not fail the products
            written.append(render_spectrum(cols["WAVELENGTH"], cols["FLUX"], cols["FLUX_ERROR"], primary,
                                           x1d.with_suffix(".png"), title=x1d.name))
        except BadDataShapeError as exc:
            log.warning("%s: no quick look: %s", x1d.name, exc)
    if c1d is not None:
        c = c1d.columns
        columns: dict[str, npt.ArrayLike] = {
            "WAVELENGTH": c1d.wavelength, "FLUX": c.flux, "ERROR": c.error, "SURF_BRIGHT": c.surf_bright,
            "SB_ERROR": c.sb_error, "DQ": c.dq, "WEIGHT": c.weight, "N_INPUT": c.n_input}
        written.append(write_c1d(out_dir / product_file(name, "c1d"), columns, primary=c1d_primary,
                                 meta=c1d.meta))
    return written


def _read(asn: Asn, product: AsnProduct, asn_path: Path, store: ReferenceStore) -> tuple[Spec3Members, ImageData]:
    """The product's members on one grid (IFU members placed in their common frame, single traces rectified) and
    the first member's image (its header names the product)."""
    paths = _science_paths(asn, product, asn_path)
    exp_type = str(read_header(paths[0]).get("EXP_TYPE", "") or "").strip().upper()
    if exp_type in IFU_EXP_TYPES:
        ifu = read_ifu_members(paths, store, where=f"{asn_path.name}: product {product.name!r}")
        return ifu, ifu.members[0].ifu.image
    traced = read_members(asn, product, asn_path, store)
    members: SpecMemberSet = rectify_members(traced)
    return members, traced[0].image


def _run_product(asn: Asn, product: AsnProduct, asn_path: Path, out_dir: Path, store: ReferenceStore,
                 plan: Plan) -> tuple[list[Path], tuple[StepRecord, ...]]:
    paths = _science_paths(asn, product, asn_path)
    if str(read_header(paths[0]).get("EXP_TYPE", "") or "").strip().upper() in MOS_EXP_TYPES:  # per source
        return run_mos_product(asn, product, asn_path, paths, out_dir, store, plan)
    if str(read_header(paths[0]).get("EXP_TYPE", "") or "").strip().upper() in WFSS_EXP_TYPES:
        return run_wfss_product(asn, product, asn_path, paths, out_dir, store, plan)
    members, first = _read(asn, product, asn_path, store)
    ctx = Context(header=first.primary, refs=store.for_exposure(first.primary), source=first.root)
    run = run_plan(members, plan, ctx)
    rec = run.recorder
    name = product_name(product.name, first.primary)
    base = _level3_primary(first.primary, asn, asn_path, name, len(members))
    primary = {**base, **rec.keywords(before="combine_1d")}
    written: list[Path] = []
    cube = run.last(IfuCombinedCube)
    if cube is not None:
        written.extend(write_ifu_products(cube, out_dir / product_file(name, "s3d"),
                                          {**base, **rec.keywords(before="extract_1d")}))
    s2d = run.last(Spec2D)
    if s2d is not None:
        slit = {"SLTNAME": str(first.primary.get("FXD_SLIT", "") or first.primary.get("SUBARRAY", "")),
                "SOURCEID": source_id(first.primary), "SRCTYPE": "POINT"}
        written.append(_write_s2d(out_dir / product_file(name, "s2d"), s2d,
                                  {**base, **rec.keywords(before="extract_1d")}, slit))
    written.extend(_write_spectra(out_dir, name, run.last(Spec3Spectrum), run.last(CombinedSpectrum), primary,
                                  {**base, **rec.keywords()}))
    return written, rec.records()


def _run(request: RunRequest, plan: Plan) -> PipelineResult:
    return run_association(request, plan, asn_type="spec3", run_product=_run_product)


def _outputs(name: str, spec: RunSpec) -> Outputs:
    if str(spec.route.exp_type).upper() in WFSS_EXP_TYPES:
        return wfss_outputs(name)
    if str(spec.route.exp_type).upper() in MOS_EXP_TYPES:
        return mos_outputs(name)  # one set per source: not known before the run
    if str(spec.route.exp_type).upper() in IFU_EXP_TYPES:
        return Outputs(tuple(product_file(name, s) for s in ("s3d", "x1d")))
    return Outputs(tuple(product_file(name, s) for s in ("s2d", "x1d", "c1d")))


SPEC3 = Pipeline(alias="calwebb_spec3", input=Spec3Members,
                 steps=(Spec3OutlierDetectionStep, SpecResampleStep, Spec3CubeBuildStep, Spec3Extract1dStep,
                        Combine1dStep),
                 not_implemented=NOT_IMPLEMENTED, run=_run, outputs=_outputs,
                 requires=("resample_spec", "extract_1d"))
