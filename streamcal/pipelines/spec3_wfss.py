"""calwebb_spec3 for WFSS (NIS_WFSS, NRC_WFSS): every member's sources extracted into one ``_x1d``, then
combined per source into one ``_c1d`` (``jwst_spec.md`` §1.7, issue 11).

The input is a spec3 association of WFSS ``_cal`` members (calwebb_spec2's MultiSlitModel: a slit per source and
order, DN/s, :mod:`streamcal.pipelines.spec2_wfss`). jwst's rules (Asn_Lv3WFSSNIS/NRC) make one association
per grism — the dithers of GR150R, or of GR150C, through one blocking filter, named e.g.
``jw01234-o010_t001_niriss_f150w-gr150r`` — and so do streamcal's; a hand-made association may hold both
grisms of one blocking filter, and their spectra are combined too. Members must share EXP_TYPE and the blocking
filter (NIRISS: PUPIL; NIRCam: FILTER); the grism may differ.

Each member's slits get their traces again from the member's own GRISMCONF SPECWCS reference at the slit's
direct position (SRCXDET/SRCYDET, which spec2 writes; the ``_cal``'s WAVELENGTH must agree with the rebuilt
trace: a member calibrated with another GRISMCONF is refused) and photom's conversion (MJy per DN/s per
column) from the member's PHOTOM reference, as spec2's photom made it (the ``_cal`` stays in DN/s: jwst
calibrates WFSS after extraction). Then the plan runs (:mod:`streamcal.steps.spec.spec3_wfss`): outlier_detection,
resample_spec and cube_build SKIPPED (jwst runs none for slitless modes), extract_1d, combine_1d.

Products, named after the association's product as jwst's spec3 names them for WFSS (no source id: every source
is in each file):

- ``<product>_x1d.fits``: jwst's ``WFSSMultiSpecModel``, one EXTRACT1D table per member (a row per source; FLUX
  in Jy, SURF_BRIGHT in MJy/sr);
- ``<product>_c1d.fits``: jwst's ``WFSSMultiCombinedSpecModel``, one COMBINE1D table per spectral order (a row
  per source), and its quick look ``<product>_c1d.png`` (the brightest source).

Not written: jwst's S_REGION union of the members.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import numpy.typing as npt

from streamcal.associations import Asn, AsnProduct
from streamcal.datamodels import product_file, read_header, split_suffix
from streamcal.datamodels.quicklook import render_spectrum
from streamcal.datamodels.wfss import write_wfss_c1d, write_wfss_x1d
from streamcal.errors import AssociationError, BadDataShapeError
from streamcal.models.grism import CatalogSource, GrismConf, grism_from_table
from streamcal.models.image import ImageData
from streamcal.pipelines import WFSS_EXP_TYPES
from streamcal.pipelines.plan import PER_EXPOSURE_KEYS, Outputs, Plan
from streamcal.pipelines.runner import PlanRun, run_plan
from streamcal.pipelines.spec2_mos import read_multislit
from streamcal.references import ReferenceStore, RefType
from streamcal.steps.base import Context, StepRecord
from streamcal.steps.spec.spec3_wfss import WfssCombined, WfssMember, WfssMemberSet, WfssMemberSpectra
from streamcal.steps.spec.wfss import GrismSlit, GrismSlits, GrismTrace, wfss_photom

__all__ = ["WFSS_EXP_TYPES", "blocking_filter", "read_wfss_members", "run_wfss_product", "wfss_outputs"]

log = logging.getLogger(__name__)

_PLAIN = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.+-]{0,200}")
#: A slit's WAVELENGTH may differ from its rebuilt trace by this share of a pixel's dispersion (float32).
_WAVE_TOLERANCE_PX = 0.01
F32 = npt.NDArray[np.float32]


def _text(header: dict[str, object], key: str) -> str:
    return str(header.get(key, "") or "").strip().upper()


def blocking_filter(header: dict[str, object]) -> str:
    """The blocking filter of a WFSS exposure: NIRISS' PUPIL (its FILTER is the grism), NIRCam's FILTER."""
    return _text(header, "PUPIL" if _text(header, "INSTRUME") == "NIRISS" else "FILTER")


def wfss_outputs(name: str) -> Outputs:
    """The products every complete WFSS spec3 run writes: ``<name>_x1d.fits`` and ``<name>_c1d.fits``."""
    return Outputs((product_file(name, "x1d"), product_file(name, "c1d")))


def _number(meta: dict[str, object], key: str, where: str) -> float:
    try:
        return float(str(meta[key]))
    except (KeyError, ValueError) as exc:
        raise BadDataShapeError(f"{where}: no number {key} in the slit's header (a WFSS _cal from before streamcal "
                                "wrote the direct position SRCXDET/SRCYDET: run calwebb_spec2 again)") from exc


def _slit(root: str, primary: dict[str, object], meta: dict[str, object], planes: dict[str, np.ndarray],
          conf: GrismConf, where: str) -> GrismSlit:
    """One slit of a member as spec2's cutout, with its trace rebuilt (module docstring)."""
    bunit = str(meta.get("BUNIT", "")).strip()
    if bunit != "DN/s":
        raise BadDataShapeError(f"{where}: BUNIT {bunit!r}; a WFSS _cal holds DN/s (photom is applied on extraction)")
    order = int(_number(meta, "SPORDER", where))
    x0, y0 = _number(meta, "SRCXDET", where), _number(meta, "SRCYDET", where)
    try:
        layout = conf.order(order).layout_at(x0, y0)
    except KeyError as exc:
        raise BadDataShapeError(f"{where}: {exc.args[0]}") from exc
    if layout is None:
        raise BadDataShapeError(f"{where}: its direct position ({x0:.1f}, {y0:.1f}) puts no trace on the detector")
    ny, nx = planes["SCI"].shape
    xstart, ystart = int(_number(meta, "SLTSTRT1", where)), int(_number(meta, "SLTSTRT2", where))
    sub_x, sub_y = int(str(primary.get("SUBSTRT1", 1))), int(str(primary.get("SUBSTRT2", 1)))
    wave = np.asarray(planes["WAVELENGTH"], np.float64)
    first, count = (sub_x + xstart - 2, nx) if layout.dispaxis == 1 else (sub_y + ystart - 2, ny)
    expected = layout.wavelength(np.arange(first, first + count))
    expected_2d = expected[None, :] if layout.dispaxis == 1 else expected[:, None]
    dispersion = float(np.median(np.abs(np.diff(expected)))) if count > 1 else 1.0
    off = np.abs(wave - expected_2d)[np.isfinite(wave)]
    if off.size and float(off.max()) > _WAVE_TOLERANCE_PX * dispersion:
        raise BadDataShapeError(f"{where}: its WAVELENGTH is up to {off.max() / dispersion:.3g} px off the trace its "
                                "GRISMCONF reference gives (calibrated with another grism configuration)")

    def f32(name: str) -> F32:
        return np.asarray(planes[name], np.float32)

    image = ImageData(root=root, sci=f32("SCI"), err=f32("ERR"), dq=np.asarray(planes["DQ"]).astype(np.uint32),
                      var_poisson=f32("VAR_POISSON"), var_rnoise=f32("VAR_RNOISE"),
                      var_flat=f32("VAR_FLAT") if "VAR_FLAT" in planes else None,
                      primary={**primary, "SUBSTRT1": sub_x + xstart - 1, "SUBSTRT2": sub_y + ystart - 1,
                               "SUBSIZE1": nx, "SUBSIZE2": ny},
                      sci_header=dict(meta))
    source = CatalogSource(int(_number(meta, "SOURCEID", where)), float(str(meta.get("SRCRA", "nan"))),
                           float(str(meta.get("SRCDEC", "nan"))), float(str(meta.get("SRCXPOS", "nan"))),
                           float(str(meta.get("SRCYPOS", "nan"))))
    return GrismSlit(GrismTrace(source, order, x0, y0, layout), image, xstart, ystart,
                     np.where(np.isfinite(wave), expected_2d, np.nan), srctype=str(meta.get("SRCTYPE", "POINT")))


def _exptime(primary: dict[str, object]) -> float:
    """EFFEXPTM (else EXPTIME, else 1 s): combine_1d's weight, as jwst's default ``exposure_time``."""
    for key in ("EFFEXPTM", "EXPTIME"):
        try:
            value = float(str(primary.get(key)))
        except ValueError:
            continue
        if value > 0:
            return value
    return 1.0


def _member(path: Path, store: ReferenceStore, where: str) -> WfssMember:
    multi = read_multislit(path)
    head = multi.primary
    refs = store.for_exposure(head)
    specwcs = refs.require(RefType.SPECWCS)
    if "GRISMCONF" not in specwcs.arrays:
        raise AssociationError(f"{where}: member {path.name}'s SPECWCS {specwcs.name} has no GRISMCONF table")
    conf = grism_from_table(specwcs["GRISMCONF"], source=specwcs.name)
    root = split_suffix(path)[0]
    slits = [_slit(root, head, meta, planes, conf, f"{path.name} slit {meta.get('SLTNAME', i + 1)}")
             for i, (meta, planes) in enumerate(multi.slits)]
    # spec3 has the cutouts only: the exposure they were cut from is an empty image carrying its headers
    sci_header = {"PIXAR_SR": head["PIXAR_SR"]} if head.get("PIXAR_SR") else {}
    empty = np.zeros((0, 0), np.float32)
    exposure = ImageData(root=root, sci=empty, err=empty, dq=empty.astype(np.uint32), var_poisson=empty,
                         var_rnoise=empty, primary=dict(head), sci_header=sci_header)
    calibrated, _ = wfss_photom(GrismSlits(exposure, tuple(slits)), refs.require(RefType.PHOTOM))
    return WfssMember(root, dict(head), calibrated, _exptime(head))


def read_wfss_members(paths: Sequence[Path], store: ReferenceStore, *, where: str) -> WfssMemberSet:
    """Each member's slits with their traces and photom's conversion (module docstring).

    ``where`` starts every error message (the association and product).

    Raises
    ------
    AssociationError
        A member that is not WFSS, members of different EXP_TYPEs or blocking filters, or a SPECWCS without a
        GRISMCONF table. Not retriable.
    BadDataShapeError
        A member that is not a WFSS MultiSlitModel ``_cal`` in DN/s, or a slit whose keywords make no trace or
        whose WAVELENGTH disagrees with it. Not retriable.
    MissingReferenceError, CorruptFileError
        No SPECWCS or PHOTOM for a member, or an unreadable GRISMCONF. Not retriable.
    InvalidInputError
        A slit whose wavelengths all lie outside its PHOTOM row's response. Not retriable.
    """
    first_key: tuple[str, str] | None = None
    for p in paths:
        head = read_header(p)
        key = (_text(head, "EXP_TYPE"), blocking_filter(head))
        if key[0] not in WFSS_EXP_TYPES:
            raise AssociationError(f"{where}: member {p.name} is {key[0] or 'no EXP_TYPE'}; a WFSS product combines "
                                   f"{' or '.join(sorted(WFSS_EXP_TYPES))} members only")
        if first_key is not None and key != first_key:
            raise AssociationError(
                f"{where}: member {p.name} is {key[0]} through blocking filter {key[1] or 'none'}, the first member "
                f"{first_key[0]} through {first_key[1] or 'none'}: one WFSS product combines one mode and blocking "
                "filter (the grisms may differ)")
        first_key = key
    return WfssMemberSet(tuple(_member(p, store, where) for p in paths))


def _level3_primary(first: dict[str, object], asn: Asn, asn_path: Path, name: str, n: int) -> dict[str, object]:
    primary = {k: v for k, v in first.items() if k not in PER_EXPOSURE_KEYS}
    primary.update(ASNTABLE=asn_path.name, ASNPOOL=asn.asn_pool or "", ASN_ID=asn.asn_id, NINPUTS=n, PRODNAME=name)
    return primary


def _write_x1d(out: Path, spectra: WfssMemberSpectra, primary: dict[str, object]) -> Path:
    exposures = []
    for member, extracted in zip(spectra.members, spectra.spectra, strict=True):
        head = member.primary
        meta = {"FILENAME": f"{member.root}_cal.fits", "EXPGRPID": str(head.get("EXPOSURE", "") or member.root),
                "DISPAXIS": extracted.meta.get("DISPAXIS"), "SPORDER": extracted.meta.get("SPORDER", 1),
                "EFFEXPTM": head.get("EFFEXPTM"), "EFFINTTM": head.get("EFFINTTM")}
        exposures.append(({k: v for k, v in meta.items() if v is not None}, extracted.spectra))
    return write_wfss_x1d(out, exposures, primary=primary)


def _write_c1d(out: Path, combined: WfssCombined, primary: dict[str, object], dispaxis: int) -> list[Path]:
    orders: dict[int, list[tuple[dict[str, object], dict[str, npt.ArrayLike]]]] = {}
    for source in combined.sources:
        c = source.columns
        columns: dict[str, npt.ArrayLike] = {
            "WAVELENGTH": source.wavelength, "FLUX": c.flux, "ERROR": c.error, "SURF_BRIGHT": c.surf_bright,
            "SB_ERROR": c.sb_error, "DQ": c.dq, "WEIGHT": c.weight, "N_INPUT": c.n_input}
        orders.setdefault(int(str(source.meta["SPORDER"])), []).append((source.meta, columns))
    written = [write_wfss_c1d(out, orders, primary=primary, dispaxis=dispaxis)]
    bright = max(combined.sources, key=lambda s: float(np.nanmedian(s.columns.flux)) if s.columns.flux.size else 0.0)
    try:  # a courtesy: a spectrum it cannot draw does not fail the products
        written.append(render_spectrum(bright.wavelength, bright.columns.flux, bright.columns.error, primary,
                                       out.with_suffix(".png"), title=f"{out.name} source {bright.meta['SOURCEID']}"))
    except BadDataShapeError as exc:
        log.warning("%s: no quick look: %s", out.name, exc)
    return written


def _write(run: PlanRun, out_dir: Path, name: str, base: dict[str, object]) -> list[Path]:
    rec, written = run.recorder, []
    spectra = run.last(WfssMemberSpectra)
    if spectra is not None:
        written.append(_write_x1d(out_dir / product_file(name, "x1d"), spectra,
                                  {**base, **rec.keywords(before="combine_1d")}))
    combined = run.last(WfssCombined)
    if combined is not None and combined.sources:
        # one DISPAXIS per COMBINE1D table: the first member's (GR150R and GR150C differ)
        dispaxis = int(str(spectra.spectra[0].meta.get("DISPAXIS", 1))) if spectra is not None else 1
        written.extend(_write_c1d(out_dir / product_file(name, "c1d"), combined, {**base, **rec.keywords()},
                                  dispaxis))
    return written


def run_wfss_product(asn: Asn, product: AsnProduct, asn_path: Path, paths: Sequence[Path], out_dir: Path,
                     store: ReferenceStore, plan: Plan) -> tuple[list[Path], tuple[StepRecord, ...]]:
    """Calibrate one WFSS association product (its science members ``paths``): the products and the step
    records.

    Raises
    ------
    AssociationError
        As :func:`read_wfss_members`, or a product name that is not a plain file name. Not retriable.
    BadDataShapeError, MissingReferenceError, CorruptFileError, InvalidInputError
        As :func:`read_wfss_members`. Not retriable.
    """
    where = f"{asn_path.name}: product {product.name!r}"
    if not _PLAIN.fullmatch(product.name):
        raise AssociationError(f"{where}: the product name is not a plain file name")
    members = read_wfss_members(paths, store, where=where)
    first = members.members[0]
    ctx = Context(header=first.primary, refs=store.for_exposure(first.primary), source=f"{first.root} {product.name}")
    run = run_plan(members, plan, ctx)
    base = _level3_primary(first.primary, asn, asn_path, product.name, len(members))
    return _write(run, out_dir, product.name, base), run.recorder.records()
