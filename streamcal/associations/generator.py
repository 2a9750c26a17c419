"""Level-3 associations from a pool, as jwst's association generator makes them (jwst_spec §6.2).

jwst's operations run the generator per candidate (``generate_per_candidate``): for each candidate of the
pool — an observation ``o###`` or a cross-observation candidate ``c####`` (mosaic, coron, ami, background,
group) — the rules run on the exposures that list it, and each rule groups those exposures by its
constraints. This module reproduces that for the level-3 rules of the stage-3 pipelines it knows:

============  ====================  ==============================================================
asn_type      jwst rule             members grouped by (within one candidate)
============  ====================  ==============================================================
image3        Asn_Lv3Image,         imaging EXP_TYPEs, not WFS&C visits, not background targets,
              Asn_Lv3ImageMosaic    not TSO, not imprints; program, instrument, filter, pupil or
                                    grating, slit, subarray and target (a mosaic candidate: no target)
wfs-image3    Asn_Lv3WFSCMB         imaging EXP_TYPEs with PATTTYPE=WFSC, not line-of-sight jitter
                                    (DMS_NOTE), not a group candidate; as image3 plus detector,
                                    OBS_ID and ACT_ID; two or more members
coron3        Asn_Lv3NRCCoron,      NRC_CORON (a detector that sees the occulted target) or
              Asn_Lv3MIRCoron       MIR_LYOT/MIR_4QPM; optical path and subarray; the target of the
                                    science members; PSF members (IS_PSF) of any target; needs a PSF
ami3          Asn_Lv3AMI            NIS_AMI; as coron3
============  ====================  ==============================================================

Candidates of type group, background and mosaic span observations: an association from one needs members
from more than one observation. Target acquisitions (PNTGTYPE=target_acquisition) of the same program,
instrument and observation join an association as ``target_acquisition`` members, as in jwst.

The result is exactly what the association will hold, so completeness is simple: an association is
complete when every member's stage-2 product exists. Agreement with jwst's own generator on the pools its
wheel ships is measured in ``tests/streamcal/associations/test_generator_oracle.py``.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from streamcal import __version__
from streamcal.associations.model import Asn, AsnMember, AsnProduct
from streamcal.associations.pool import Candidate, Pool, PoolRow
from streamcal.associations.rules import DEGRADED_STATUS_OK, asn_file_name
from streamcal.routing.exptypes import AsnType

__all__ = ["GENERATED_TYPES", "generate", "named_associations", "pool_version_id", "row_exptype"]

IMAGE_EXP_TYPES = frozenset({"nrc_image", "mir_image", "nis_image", "fgs_image", "nrs_mimf"})
TSO_EXP_TYPES = frozenset({"nrc_tsimage", "nrc_tsgrism", "nrs_brightobj"})
MULTI_OBSERVATION_TYPES = frozenset({"group", "background", "mosaic"})
# jwst's EXPTYPE_MAP: EXP_TYPEs whose members are not science (darks, flats, lamps, ...) by their type.
_NON_SCIENCE = {
    "mir_darkall": "dark", "mir_darkimg": "dark", "mir_darkmrs": "dark", "mir_flatimage": "flat",
    "mir_flatmrs": "flat", "mir_flatimage-ext": "flat", "mir_flatmrs-ext": "flat", "mir_tacq": "target_acquisition",
    "mir_taconfirm": "target_acquisition", "nis_dark": "dark", "nis_focus": "engineering", "nis_lamp": "engineering",
    "nis_tacq": "target_acquisition", "nis_taconfirm": "target_acquisition", "nrc_dark": "dark",
    "nrc_flat": "flat", "nrc_focus": "engineering", "nrc_led": "engineering", "nrc_tacq": "target_acquisition",
    "nrc_taconfirm": "target_acquisition", "nrs_autoflat": "autoflat", "nrs_autowave": "autowave",
    "nrs_confirm": "target_acquisition", "nrs_dark": "dark", "nrs_focus": "engineering", "nrs_image": "engineering",
    "nrs_lamp": "engineering", "nrs_msata": "target_acquisition", "nrs_tacq": "target_acquisition",
    "nrs_taconfirm": "target_acquisition", "nrs_taslit": "target_acquisition", "nrs_verify": "target_acquisition",
    "nrs_wata": "target_acquisition", "fgs_dark": "dark", "fgs_focus": "engineering", "fgs_skyflat": "flat",
    "fgs_intflat": "flat",
}
GENERATED_TYPES = (AsnType.IMAGE3, AsnType.WFS_IMAGE3, AsnType.CORON3, AsnType.AMI3)
"""The association types :func:`generate` makes."""


def row_exptype(row: PoolRow) -> str:
    """jwst's member type of an exposure: the pointing type when not science (``target_acquisition``), the
    EXP_TYPE's class (dark, flat, ...), else ``psf`` (IS_PSF), ``imprint`` (IS_IMPRT), ``background``
    (BKGDTARG) or ``science``."""
    pointing = row["pntgtype"]
    if pointing and pointing != "science":
        return pointing
    kind = _NON_SCIENCE.get(row["exp_type"], "science")
    if kind != "science":
        return kind
    for special, column in (("psf", "is_psf"), ("imprint", "is_imprt"), ("background", "bkgdtarg")):
        if row.flag(column):
            return special
    return kind


def _is_tso(row: PoolRow) -> bool:
    return row["pntgtype"] == "science" and (row.flag("tsovisit") or row["exp_type"] in TSO_EXP_TYPES)


def _second_element(row: PoolRow) -> str:
    return row["pupil"] or row["grating"]


_A_SLITS = ("s200a1", "s200a2")


def _slit_key(row: PoolRow) -> str:
    """jwst's slit constraint: S200A1 and S200A2 (the "A" slits) are one value, any other slit its own."""
    return "s200a" if row["fxd_slit"] in _A_SLITS else row["fxd_slit"]


def _slit_name(row: PoolRow) -> str:
    """The slit part of a product name: jwst names the slit whenever FXD_SLIT is set, whatever the mode."""
    return f"-{row['fxd_slit']}" if row["fxd_slit"] else ""


def _optical_path(row: PoolRow) -> tuple[str, ...]:
    return (row["program"], row["instrume"], row["filter"], _second_element(row), _slit_key(row), row["subarray"])


def _valid_coron_detector(row: PoolRow) -> bool:
    """jwst's nrccoron_valid_detector: DETECTOR, SUBARRAY and PUPIL set, and in full frame MASKBAR sees the
    target only on NRCA4, MASKRND only on NRCA2."""
    if not (row["detector"] and row["subarray"] and row["pupil"]):
        return False
    if row["subarray"] != "full":
        return True
    if row["pupil"] == "maskbar":
        return row["detector"] not in ("nrca1", "nrca2", "nrca3")
    if row["pupil"] == "maskrnd":
        return row["detector"] not in ("nrca1", "nrca3", "nrca4")
    return True


@dataclass(slots=True)
class _Group:
    asn_type: AsnType
    rule: str
    candidate: Candidate
    key: tuple[str, ...]
    rows: list[PoolRow] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class _Rule:
    asn_type: AsnType
    name: str
    applies: Callable[[PoolRow, Candidate], bool]
    key: Callable[[PoolRow, Candidate], tuple[str, ...]]
    valid: Callable[[_Group], bool]
    name_parts: Callable[[_Group], tuple[str, str]]  # (suffix after the optical element, after {suffix})


def _image3_applies(row: PoolRow, candidate: Candidate) -> bool:
    return (row["exp_type"] in IMAGE_EXP_TYPES and "wfsc" not in row["visitype"] and not row.flag("bkgdtarg")
            and not _is_tso(row) and not row.flag("is_imprt") and row_exptype(row) == "science")


def _image3_key(row: PoolRow, candidate: Candidate) -> tuple[str, ...]:
    target = "" if candidate.type == "mosaic" else row["targetid"]
    return (*_optical_path(row), target)


def _multi_observation_ok(group: _Group) -> bool:
    if group.candidate.type in MULTI_OBSERVATION_TYPES:
        return len({r["obs_num"] for r in group.rows}) > 1
    return True


def _wfs_applies(row: PoolRow, candidate: Candidate) -> bool:
    return (row["exp_type"] in IMAGE_EXP_TYPES and row["patttype"] == "wfsc" and row["dms_note"] != "wfsc_los_jitter"
            and candidate.type != "group" and row_exptype(row) == "science")


def _wfs_key(row: PoolRow, candidate: Candidate) -> tuple[str, ...]:
    return (*_optical_path(row), row["targetid"], row["detector"], row["obs_id"], row["act_id"])


def _coron_applies(row: PoolRow, candidate: Candidate) -> bool:
    if row.flag("bkgdtarg") or row_exptype(row) not in ("science", "psf"):
        return False
    if row["exp_type"] == "nrc_coron":
        return _valid_coron_detector(row)
    return row["exp_type"] in ("mir_lyot", "mir_4qpm")


def _ami_applies(row: PoolRow, candidate: Candidate) -> bool:
    return row["exp_type"] == "nis_ami" and row_exptype(row) in ("science", "psf")


def _path_key(row: PoolRow, candidate: Candidate) -> tuple[str, ...]:
    return _optical_path(row)


def _has_psf_and_science(group: _Group) -> bool:
    types = {row_exptype(r) for r in group.rows}
    return {"psf", "science"} <= types


def _plain(group: _Group) -> tuple[str, str]:
    return "", ""


def _wfs_name(group: _Group) -> tuple[str, str]:
    row = group.rows[0]
    return f"-{row['detector']}", f"-{row['act_id'].zfill(2)}"


_RULES = (
    _Rule(AsnType.IMAGE3, "Asn_Lv3Image", _image3_applies, _image3_key, _multi_observation_ok, _plain),
    _Rule(AsnType.WFS_IMAGE3, "Asn_Lv3WFSCMB", _wfs_applies, _wfs_key,
          lambda g: len(g.rows) >= 2 and _multi_observation_ok(g), _wfs_name),
    _Rule(AsnType.CORON3, "Asn_Lv3Coron", _coron_applies, _path_key,
          lambda g: _has_psf_and_science(g) and _multi_observation_ok(g), _plain),
    _Rule(AsnType.AMI3, "Asn_Lv3AMI", _ami_applies, _path_key,
          lambda g: _has_psf_and_science(g) and _multi_observation_ok(g), _plain),
)


def _science_target(group: _Group) -> str:
    """The target of an association: of its science members (PSF references have their own); ``t000`` for a
    mosaic, whose rule does not constrain the target."""
    if group.asn_type is AsnType.IMAGE3 and group.candidate.type == "mosaic":
        return "t000"
    targets = sorted({r["targetid"] for r in group.rows if row_exptype(r) == "science"}
                     or {r["targetid"] for r in group.rows})
    return "t" + "-".join(targets).rjust(3, "0")


def _optical_element(row: PoolRow) -> str:
    elements = sorted((e for e in (row["filter"], _second_element(row)) if e), key=str.lower)
    return "-".join(elements) or "clear"


def _product_name(group: _Group, infix: str, tail: str) -> str:
    row = group.rows[0]
    program = row["program"].zfill(5)
    name = f"jw{program}-{group.candidate.id}_{_science_target(group)}_{row['instrume']}_{_optical_element(row)}"
    name += _slit_name(row)
    if row["subarray"] and row["subarray"] != "full":
        name += f"-{row['subarray']}"
    name += infix
    if tail:
        name += "_{suffix}" + tail
    return name.lower()


_AcqKey = tuple[Candidate, str, str, str]  # candidate, program, instrument, observation


def _acquisition_index(pool: Pool) -> dict[_AcqKey, list[PoolRow]]:
    """Target acquisitions by candidate, program, instrument and observation (one pass over the pool)."""
    index: dict[_AcqKey, list[PoolRow]] = {}
    for row in pool:
        if row_exptype(row) == "target_acquisition":
            for candidate in row.candidates:
                index.setdefault((candidate, row["program"], row["instrume"], row["obs_num"]), []).append(row)
    return index


def _acquisitions(index: dict[_AcqKey, list[PoolRow]], group: _Group) -> list[PoolRow]:
    """Target acquisitions of the group's candidate, program, instrument and observations, in pool order."""
    first = group.rows[0]
    found = {r.line: r for obs in {r["obs_num"] for r in group.rows}
             for r in index.get((group.candidate, first["program"], first["instrume"], obs), ())}
    return [found[line] for line in sorted(found)]


_PER_INTEGRATION = frozenset({AsnType.CORON3, AsnType.AMI3, AsnType.TSO3})


def _member(row: PoolRow, exptype: str, asn_type: AsnType) -> AsnMember:
    """A member names the exposure's stage-2 product: ``_calints`` (per integration) for the science and PSF
    members of coron3, ami3 and tso3, ``_cal`` otherwise (target acquisitions always)."""
    suffix = "calints" if asn_type in _PER_INTEGRATION and exptype != "target_acquisition" else "cal"
    return AsnMember(expname=f"{row.root}_{suffix}.fits", exptype=exptype, exposerr=row["exposerr"] or "null")


def _asn(group: _Group, rule: _Rule, acquisitions: Iterable[PoolRow], pool: Pool, version_id: str | None) -> Asn:
    infix, tail = rule.name_parts(group)
    members = [_member(r, row_exptype(r), rule.asn_type) for r in group.rows]
    members += [_member(r, "target_acquisition", rule.asn_type) for r in acquisitions]
    product = AsnProduct(_product_name(group, infix, tail), tuple(members))
    first = group.rows[0]
    return Asn(asn_type=rule.asn_type, asn_id=group.candidate.id, products=(product,),
               asn_rule=f"candidate_{rule.name}", asn_pool=pool.name, program=first["program"].zfill(5),
               target=_science_target(group), version_id=version_id, code_version=f"streamcal {__version__}",
               degraded_status=DEGRADED_STATUS_OK,
               constraints=f"candidate={group.candidate.id}:{group.candidate.type}; " + ":".join(group.key))


def generate(pool: Pool, *, types: Iterable[AsnType] = GENERATED_TYPES, version_id: str | None = None) -> list[Asn]:
    """Return the level-3 associations of a pool, per candidate, for the given association types.

    Parameters
    ----------
    pool : Pool
        The exposures of a program (:func:`streamcal.associations.pool.read_pool`).
    types : iterable of AsnType
        Which association types to make (default: all of :data:`GENERATED_TYPES`).
    version_id : str, optional
        Copied into each ASN.

    Returns
    -------
    list of Asn
        One single-product association per group, ordered by candidate id then product name; members in
        pool order, target acquisitions last. Identical groups found from two rules (image3 from
        Asn_Lv3Image and Asn_Lv3ImageMosaic) appear once.
    """
    wanted = set(types)
    rules = [r for r in _RULES if r.asn_type in wanted]
    groups: dict[tuple[str, str, str, tuple[str, ...]], tuple[_Rule, _Group]] = {}
    for row in pool:
        for candidate in row.candidates:
            for rule in rules:
                if rule.applies(row, candidate):
                    key = rule.key(row, candidate)
                    slot = (str(rule.asn_type), candidate.id, candidate.type, key)
                    if slot not in groups:
                        groups[slot] = (rule, _Group(rule.asn_type, rule.name, candidate, key))
                    groups[slot][1].rows.append(row)
    acquisitions = _acquisition_index(pool)
    out: list[Asn] = []
    for rule, group in groups.values():
        if rule.valid(group):
            out.append(_asn(group, rule, _acquisitions(acquisitions, group), pool, version_id))
    out.sort(key=lambda a: (a.asn_id, a.products[0].name))
    return out


_POOL_VERSION = re.compile(r"^jw\d{5}_(\d{8}t\d{6})_pool\.csv$", re.IGNORECASE)


def pool_version_id(pool_name: str, mtime_ns: int) -> str:
    """The version id of a pool's associations: the ``yyyymmddthhmmss`` of a pool named as the observatory
    names them (``jw<ppppp>_<version>_pool.csv``), else the pool file's modification time (UTC)."""
    match = _POOL_VERSION.match(pool_name)
    if match:
        return match.group(1).lower()
    return datetime.fromtimestamp(mtime_ns / 1e9, UTC).strftime("%Y%m%dt%H%M%S")


def named_associations(pool: Pool, *, version_id: str) -> list[tuple[str, Asn]]:
    """:func:`generate`, each association with the file name jwst would give it:
    ``jw<ppppp>-<acid>_<version_id>_<asn_type>_<NNNNN>_asn.json``, numbered per candidate and type."""
    counts: Counter[tuple[str, str]] = Counter()
    out = []
    for asn in generate(pool, version_id=version_id):
        counts[(asn.asn_id, str(asn.asn_type))] += 1
        name = asn_file_name(program=int(asn.program or 0), acid=asn.asn_id, asn_type=asn.asn_type,
                             version_id=version_id, sequence=counts[(asn.asn_id, str(asn.asn_type))])
        out.append((name, asn))
    return out
