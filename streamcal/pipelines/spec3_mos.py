"""calwebb_spec3 for NIRSpec MOS (NRS_MSASPEC): exposure-based ``_cal`` members regrouped by source, then
outlier_detection → resample_spec → extract_1d → combine_1d per source (``jwst_spec.md`` §1.7, issue 11).

The input is a spec3 association of NRS_MSASPEC ``_cal`` members (jwst's MultiSlitModel, a slit per open
slitlet: :mod:`streamcal.pipelines.spec2_mos`) taken with one MSA configuration — the dither or nod positions of
one visit, e.g. the 3-shutter-slitlet nod that moves each source from shutter to shutter. Each member's slits
get their traces again from the member's SPECWCS MSA geometry (``MSAQUADS``) and the slit's keywords (MSAQUAD,
SHUTTRID = the primary shutter, SRCXPOS/SRCYPOS = the source's place in it), as spec2's assign_wcs made them
(the ``_cal``'s WAVELENGTH must agree: a member calibrated with another geometry is refused). Then
:func:`~streamcal.steps.spec.spec3_mos.exp_to_source` regroups the slits by SOURCEID and, for each source, the
single-trace plan of calwebb_spec3 runs on its rectified cutouts (:mod:`streamcal.steps.spec.spec3`).

Products per source, named as jwst's spec3 names them: the association product's ``{source_id}`` becomes
``s<SOURCEID:09d>`` (a name without the placeholder gets ``_s<SOURCEID:09d>`` appended, as jwst's
``format_product`` appends an unused value):

- ``<name>_s2d.fits``: the combined rectified slit, jwst's ``SlitModel`` (MJy for a POINT source, MJy/sr for an
  EXTENDED one, the slit's keywords in the SCI header);
- ``<name>_x1d.fits`` (+ quick look ``.png``): its boxcar extraction, ``MultiSpecModel`` (FLUX in Jy, SURF_BRIGHT
  in MJy/sr);
- ``<name>_c1d.fits``: the members' own extractions averaged by exposure time, ``CombinedSpecModel``.

What happens to partial data: a slitlet without a source (SOURCEID 0, jwst's ``b<slitlet>`` background
products) is not combined (streamcal's spec2 extracts none either); a source that only some members hold (its
slitlet off the subarray in the others) is combined from those — N_INPUT in the c1d says how many, and
outlier_detection tests it only when at least three members hold it. Not written: jwst's source-based ``_cal``
(MultiExposureModel) and per-member ``_crf``.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import numpy.typing as npt

from streamcal.associations import Asn, AsnProduct
from streamcal.datamodels import product_file, split_suffix
from streamcal.datamodels.combined import write_c1d, write_s2d
from streamcal.datamodels.quicklook import render_spectrum
from streamcal.datamodels.spectra import Spectrum1D, write_x1d
from streamcal.errors import AssociationError, BadDataShapeError, StreamcalError
from streamcal.models.image import ImageData
from streamcal.models.msa import MsaGeometry, geometry_from_msaquads
from streamcal.pipelines.plan import PER_EXPOSURE_KEYS, Outputs, Plan
from streamcal.pipelines.runner import PlanRun, run_plan
from streamcal.pipelines.spec2_mos import read_multislit
from streamcal.references import ReferenceStore, RefType
from streamcal.steps.base import Context, StepRecord
from streamcal.steps.spec.mos import NOMINAL_PIXAR_SR, shutter_position, surface_brightness
from streamcal.steps.spec.spec3 import CombinedSpectrum, Spec2D, Spec3Spectrum
from streamcal.steps.spec.spec3_mos import MosCutout, MosSource, exp_to_source, source_members, source_product_id

__all__ = ["MOS_EXP_TYPES", "MOS_KEYS", "mos_outputs", "mos_product_name", "read_mos_members", "run_mos_product"]

log = logging.getLogger(__name__)

#: The MOS EXP_TYPEs calwebb_spec3 regroups by source.
MOS_EXP_TYPES = frozenset({"NRS_MSASPEC"})
#: What the members of one MOS product share: the mode, the optical path and the MSA configuration (its
#: metadata file and id; the dither point, PATT_NUM, differs).
MOS_KEYS = ("EXP_TYPE", "FILTER", "GRATING", "MSAMETFL", "MSAMETID")
_PLAIN = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.+-]{0,200}")
#: A member's WAVELENGTH may differ from its rebuilt trace by this share of a pixel's dispersion (float32).
_WAVE_TOLERANCE_PX = 0.01
F32 = npt.NDArray[np.float32]


def mos_product_name(template: str, srcid: str) -> str:
    """The product name of one source: jwst's ``{source_id}`` filled with ``srcid`` (``s000000101``), or
    ``_<srcid>`` appended to a name without it.

    Raises
    ------
    AssociationError
        The result is not a plain file name. Not retriable.
    """
    name = template.replace("{source_id}", srcid) if "{source_id}" in template else f"{template}_{srcid}"
    if not _PLAIN.fullmatch(name):
        raise AssociationError(f"product name {template!r} filled with {srcid!r} is not a plain file name")
    return name


def mos_outputs(name: str) -> Outputs:
    """What a MOS spec3 run declares before it runs: nothing by name. Its products are one set per source
    (``<name with s<SOURCEID:09d>>_s2d/_x1d/_c1d.fits``), and which sources there are is known only from the
    members' MSA configuration, which :meth:`~streamcal.pipelines.plan.Pipeline.outputs` (a name and a run
    specification) cannot read; so a finished MOS stage 3 is not recognised from storage and is run again
    (its products are idempotent)."""
    return Outputs(())


def _text(header: dict[str, object], key: str) -> str:
    return str(header.get(key, "") or "").strip().upper()


def _int(meta: dict[str, object], key: str, where: str) -> int:
    try:
        return int(str(meta[key]))
    except (KeyError, ValueError) as exc:
        raise BadDataShapeError(f"{where}: no integer {key} in the slit's header (a MOS _cal from before "
                                "streamcal wrote jwst's slit keywords: run calwebb_spec2 again)") from exc


def _cutout(root: str, primary: dict[str, object], meta: dict[str, object], planes: dict[str, np.ndarray],
            geometry: MsaGeometry, where: str) -> MosCutout:
    """One slit of a member as a cutout in MJy per pixel with its source's trace (module docstring)."""
    bunit = str(meta.get("BUNIT", "")).strip()
    if bunit not in ("MJy", "MJy/sr"):
        raise BadDataShapeError(f"{where}: BUNIT {bunit!r}; calwebb_spec3 combines calibrated slits (MJy or MJy/sr)")
    row, column = shutter_position(_int(meta, "SHUTTRID", where))
    x, y = (float(str(meta.get(k, 0.0) or 0.0)) + 0.5 for k in ("SRCXPOS", "SRCYPOS"))
    try:
        layout = geometry.quadrant(_int(meta, "MSAQUAD", where)).layout(row, column, x, y)
    except (ValueError, StreamcalError) as exc:
        raise BadDataShapeError(f"{where}: its slit keywords make no trace: {exc}") from exc
    pixar = float(str(meta.get("PIXAR_SR") or primary.get("PIXAR_SR") or NOMINAL_PIXAR_SR))
    scale = pixar if bunit == "MJy/sr" else 1.0
    ny, nx = planes["SCI"].shape
    x0 = int(str(primary.get("SUBSTRT1", 1))) + _int(meta, "SLTSTRT1", where) - 1
    y0 = int(str(primary.get("SUBSTRT2", 1))) + _int(meta, "SLTSTRT2", where) - 1
    wave = np.asarray(planes["WAVELENGTH"], np.float64)
    expected = layout.wavelength(np.arange(x0 - 1, x0 - 1 + nx))
    dispersion = float(np.median(np.abs(np.diff(expected)))) if nx > 1 else 1.0
    off = np.abs(wave - expected[None, :])[np.isfinite(wave)]
    if off.size and float(off.max()) > _WAVE_TOLERANCE_PX * dispersion:
        raise BadDataShapeError(f"{where}: its WAVELENGTH is up to {off.max() / dispersion:.3g} px off the trace "
                                "its SPECWCS reference gives (calibrated with another MSA geometry)")

    def f32(name: str, power: int = 1) -> F32:
        return (np.asarray(planes[name], np.float64) * scale ** power).astype(np.float32)

    image = ImageData(root=root, sci=f32("SCI"), err=f32("ERR"), dq=np.asarray(planes["DQ"]).astype(np.uint32),
                      var_poisson=f32("VAR_POISSON", 2), var_rnoise=f32("VAR_RNOISE", 2),
                      var_flat=f32("VAR_FLAT", 2) if "VAR_FLAT" in planes else None,
                      primary={**primary, "SUBSTRT1": x0, "SUBSTRT2": y0, "SUBSIZE1": nx, "SUBSIZE2": ny},
                      sci_header={**meta, "BUNIT": "MJy"})
    return MosCutout(image, layout, dict(meta), bunit, pixar)


def read_mos_members(paths: Sequence[Path], store: ReferenceStore, *, where: str) -> list[list[MosCutout]]:
    """Each member's slits as cutouts with their sources' traces (member order).

    Raises
    ------
    AssociationError
        Members of different modes, optical paths or MSA configurations (MSAMETFL, MSAMETID). Not retriable.
    BadDataShapeError
        A member that is not a calibrated MultiSlitModel, or a slit whose keywords make no trace or whose
        WAVELENGTH disagrees with it. Not retriable.
    MissingReferenceError, CorruptFileError
        No SPECWCS for a member, or one without an MSAQUADS table. Not retriable.
    """
    first_key: tuple[str, ...] | None = None
    members = []
    for p in paths:
        multi = read_multislit(p)
        head = multi.primary
        key = tuple(_text(head, k) for k in MOS_KEYS)
        if key[0] not in MOS_EXP_TYPES:
            raise AssociationError(f"{where}: member {p.name} is {key[0] or 'no EXP_TYPE'}; a MOS product combines "
                                   "NRS_MSASPEC members only")
        if first_key is not None and key != first_key:
            raise AssociationError(
                f"{where}: member {p.name} is {'/'.join(k for k in key if k)}, the first member "
                f"{'/'.join(k for k in first_key if k)}: one MOS product combines one optical path and one MSA "
                "configuration (MSAMETFL, MSAMETID)")
        first_key = key
        ref = store.for_exposure(head).require(RefType.SPECWCS)
        if "MSAQUADS" not in ref.arrays:
            raise AssociationError(f"{where}: member {p.name}'s SPECWCS {ref.name} has no MSAQUADS table")
        geometry = geometry_from_msaquads(ref["MSAQUADS"], source=ref.name)
        root = split_suffix(p)[0]
        members.append([_cutout(root, head, meta, planes, geometry, f"{p.name} slit {meta.get('SLTNAME', i + 1)}")
                        for i, (meta, planes) in enumerate(multi.slits)])
    return members


def _level3_primary(first: dict[str, object], asn: Asn, asn_path: Path, name: str, n: int) -> dict[str, object]:
    primary = {k: v for k, v in first.items() if k not in PER_EXPOSURE_KEYS}
    primary.update(ASNTABLE=asn_path.name, ASNPOOL=asn.asn_pool or "", ASN_ID=asn.asn_id, NINPUTS=n, PRODNAME=name)
    return primary


def _write_source(out_dir: Path, name: str, run: PlanRun, source: MosSource,
                  base: dict[str, object]) -> list[Path]:
    """One source's s2d, x1d (+ quick look) and c1d."""
    rec, meta, cut = run.recorder, source.meta, source.cutouts[0]
    back = 1.0 / cut.pixar_sr if cut.bunit == "MJy/sr" else 1.0  # the s2d in the slit's own unit
    written: list[Path] = []
    s2d = run.last(Spec2D)
    if s2d is not None:
        r = s2d.rectified
        planes: dict[str, npt.ArrayLike] = {"SCI": r.sci * back, "ERR": np.sqrt(r.variance) * back, "DQ": r.dq,
                  "WAVELENGTH": s2d.wavelength_2d, "VAR_POISSON": r.var_poisson * back ** 2,
                  "VAR_RNOISE": r.var_rnoise * back ** 2, "VAR_FLAT": r.var_flat * back ** 2, "WHT": s2d.weight}
        written.append(write_s2d(out_dir / product_file(name, "s2d"), planes, slit=meta, bunit=cut.bunit,
                                 primary={**base, **rec.keywords(before="extract_1d")}))
    primary = {**base, **rec.keywords(before="combine_1d")}
    spectra = run.last(Spec3Spectrum)
    if spectra is not None:
        columns = dict(spectra.combined.columns)
        surface_brightness(columns, columns["NPIXELS"], cut.pixar_sr)
        x1d = write_x1d(out_dir / product_file(name, "x1d"),
                        [Spectrum1D(columns, {**spectra.combined.meta, **meta})], primary=primary)
        written.append(x1d)
        try:  # the quick look is a courtesy: a spectrum it cannot draw does not fail the products
            written.append(render_spectrum(columns["WAVELENGTH"], columns["FLUX"], columns["FLUX_ERROR"], primary,
                                           x1d.with_suffix(".png"), title=x1d.name))
        except BadDataShapeError as exc:
            log.warning("%s: no quick look: %s", x1d.name, exc)
    c1d = run.last(CombinedSpectrum)
    if c1d is not None:
        c = c1d.columns
        cols: dict[str, npt.ArrayLike] = {
            "WAVELENGTH": c1d.wavelength, "FLUX": c.flux, "ERROR": c.error, "SURF_BRIGHT": c.surf_bright,
            "SB_ERROR": c.sb_error, "DQ": c.dq, "WEIGHT": c.weight, "N_INPUT": c.n_input}
        written.append(write_c1d(out_dir / product_file(name, "c1d"), cols, primary={**base, **rec.keywords()},
                                 meta={**c1d.meta, "SRCTYPE": meta.get("SRCTYPE", "POINT")}))
    return written


def run_mos_product(asn: Asn, product: AsnProduct, asn_path: Path, paths: Sequence[Path], out_dir: Path,
                    store: ReferenceStore, plan: Plan) -> tuple[list[Path], tuple[StepRecord, ...]]:
    """Calibrate one MOS association product (its science members ``paths``): the plan runs once per source;
    the step records of every source, in SOURCEID order.

    Raises
    ------
    AssociationError
        As :func:`read_mos_members`, or a product name that does not make a plain file name. Not retriable.
    BadDataShapeError
        As :func:`read_mos_members`, or no slit of any member holds a source, or a member holding one source in
        two slits. Not retriable.
    """
    where = f"{asn_path.name}: product {product.name!r}"
    members = read_mos_members(paths, store, where=where)
    try:
        sources, counts = exp_to_source(members)
    except ValueError as exc:
        raise BadDataShapeError(f"{where}: {exc}") from exc
    if not sources:
        raise BadDataShapeError(f"{where}: no slit of its {len(paths)} members holds a source")
    log.info("%s: %d sources from %d members (%d partial, %d background slits not combined)", where,
             counts["n_sources"], len(paths), counts["n_partial_sources"], counts["n_background_slits"])
    written: list[Path] = []
    records: list[StepRecord] = []
    for source in sources:
        name = mos_product_name(product.name, source_product_id(source.source_id, source.meta.get("SRCNAME")))
        first = source.cutouts[0].image
        ctx = Context(header=first.primary, refs=store.for_exposure(first.primary), source=f"{first.root} {name}")
        run = run_plan(source_members(source), plan, ctx)
        base = _level3_primary(first.primary, asn, asn_path, name, len(source.cutouts))
        written.extend(_write_source(out_dir, name, run, source, base))
        records.extend(run.recorder.records())
    return written, tuple(records)
