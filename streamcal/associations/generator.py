"""Level-3 associations from a pool, as jwst's association generator makes them (jwst_spec §6.2).

jwst's operations run the generator per candidate (``generate_per_candidate``): for each candidate of the
pool — an observation ``o###`` or a cross-observation candidate ``c####`` (mosaic, coron, ami, background,
group) — the rules run on the exposures that list it, and each rule groups those exposures by its
constraints. This module reproduces that for jwst's level-3 rules (the rule tables are in
:mod:`streamcal.associations.jwst_rules`):

============  =========================================================================================
asn_type      jwst rules
============  =========================================================================================
image3        Asn_Lv3Image, Asn_Lv3ImageMosaic, Asn_Lv3ImageBackground, Asn_Lv3NRCCoronImage (full-frame
              short-wave coronagraphy as plain imaging, ``-image3`` names)
wfs-image3    Asn_Lv3WFSCMB (pairs keyed by detector, OBS_ID and ACT_ID; ``_{suffix}-<act_id>`` names)
coron3        Asn_Lv3NRCCoron, Asn_Lv3MIRCoron (science and PSF references across observations)
ami3          Asn_Lv3AMI
spec3         Asn_Lv3NRSFSS (``{source_id}``/``{slit_name}`` names), Asn_Lv3SpectralSource (MSA,
              ``{source_id}``), Asn_Lv3SpectralTarget (nods: each science exposure is also a background),
              Asn_Lv3NRSIFU, Asn_Lv3MIRMRS, Asn_Lv3SlitlessSpectral, Asn_Lv3WFSSNIS/NRC/MIR, and the
              background-target rules Asn_Lv3SpecAux, Asn_Lv3NRSIFUBackground, Asn_Lv3MIRMRSBackground
tso3          Asn_Lv3TSO (observation candidates only; NIS_SOSS only with NINTS > 1)
============  =========================================================================================

Candidates of type group, background and mosaic span observations: an association from one needs members
from more than one observation. Target acquisitions (PNTGTYPE=target_acquisition) of the same program,
instrument and observation join an association as ``target_acquisition`` members, as in jwst. Background
exposures (BKGDTARG) join the spectroscopic associations of any target with their ``_x1d`` product.

The result is exactly what the association will hold, so completeness is simple: an association is
complete when every member's product exists. Agreement with jwst's own generator on the pools its wheel
ships is measured in ``tests/streamcal/associations/test_generator_oracle.py``.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable
from datetime import UTC, datetime

from streamcal import __version__
from streamcal.associations.jwst_rules import (
    RULES,
    CandidateGroup,
    Level3Rule,
    member_type,
    row_exptype,
    rule_product_name,
    use_integrations,
)
from streamcal.associations.model import Asn, AsnMember, AsnProduct
from streamcal.associations.pool import Candidate, Pool, PoolRow
from streamcal.associations.rules import DEGRADED_STATUS_OK, asn_file_name
from streamcal.routing.exptypes import AsnType

__all__ = ["GENERATED_TYPES", "UNTRACKED_RULES", "generate", "named_associations", "pool_version_id",
           "row_exptype"]

GENERATED_TYPES = (AsnType.IMAGE3, AsnType.WFS_IMAGE3, AsnType.CORON3, AsnType.AMI3, AsnType.SPEC3,
                   AsnType.TSO3)
"""The association types :func:`generate` makes."""

# jwst's LEVEL2B_EXPTYPES: exposures whose stage-2 product is ``_cal`` (``_rate`` for the others).
_LEVEL2B_EXP_TYPES = frozenset({
    "fgs_image", "mir_4qpm", "mir_image", "mir_lyot", "nis_ami", "nis_image", "nrc_coron", "nrc_image",
    "nrs_mimf", "nrc_tsimage", "mir_coroncal", "nis_focus", "nrc_focus", "nrs_focus", "nrs_image",
    "mir_tacq", "mir_taconfirm", "nis_taconfirm", "nis_tacq", "nrc_taconfirm", "nrc_tacq", "nrs_confirm",
    "nrs_msata", "nrs_taconfirm", "nrs_tacq", "nrs_taslit", "nrs_verify", "nrs_wata", "mir_lrs-fixedslit",
    "mir_lrs-slitless", "mir_mrs", "mir_wfss", "nis_soss", "nis_wfss", "nrc_tsgrism", "nrc_wfss",
    "nrs_fixedslit", "nrs_ifu", "nrs_msaspec", "nrs_brightobj",
})


def _member_name(row: PoolRow, exptype: str, rule: Level3Rule) -> str:
    """jwst's level-2 name of a member: ``_x1d`` for a background, else ``_cal`` (``_rate`` for exposures
    without level-2b processing), ``ints`` added for coronagraphic, AMI and time-series exposures."""
    suffix = "x1d" if exptype == "background" else "cal" if row["exp_type"] in _LEVEL2B_EXP_TYPES else "rate"
    if use_integrations(row, rule):
        suffix += "ints"
    return f"{row.root}_{suffix}.fits"


_AcqKey = tuple[Candidate, str, str, str]  # candidate, program, instrument, observation


def _acquisition_index(pool: Pool) -> dict[_AcqKey, list[PoolRow]]:
    """Target acquisitions by candidate, program, instrument and observation (one pass over the pool)."""
    index: dict[_AcqKey, list[PoolRow]] = {}
    for row in pool:
        if row_exptype(row) == "target_acquisition" and not row.is_set("is_imprt"):
            for candidate in row.candidates:
                index.setdefault((candidate, row["program"], row["instrume"], row["obs_num"]), []).append(row)
    return index


def _acquisitions(index: dict[_AcqKey, list[PoolRow]], group: CandidateGroup) -> list[PoolRow]:
    """Target acquisitions of the group's candidate, program, instrument and observations (those of its joined
    backgrounds and PSF references too, as jwst collects them), in pool order."""
    first = group.rows[0]
    found = {r.line: r for obs in {r["obs_num"] for r in (*group.rows, *group.joined)}
             for r in index.get((group.candidate, first["program"], first["instrume"], obs), ())}
    return [found[line] for line in sorted(found)]


def _members(group: CandidateGroup, rule: Level3Rule, acquisitions: list[PoolRow]) -> list[AsnMember]:
    out: list[AsnMember] = []
    seen: set[tuple[str, str]] = set()

    def add(row: PoolRow, exptype: str) -> None:
        name = _member_name(row, exptype, rule)
        if (name, exptype) not in seen:  # jwst's Member equality: expname and exptype
            seen.add((name, exptype))
            out.append(AsnMember(expname=name, exptype=exptype, exposerr=row["exposerr"] or "null"))

    for row in group.rows:
        add(row, member_type(rule, row))
    for row in group.joined:  # backgrounds (their _x1d) and PSF references, of any target
        add(row, "psf" if row_exptype(row) == "psf" else "background")
    if rule.nod_backgrounds:
        science = [r for r in group.rows if member_type(rule, r) == "science"]
        if len(science) >= 2:  # each nod position is the others' background (jwst's make_fixedslit_bkg)
            for row in science:
                add(row, "background")
    for row in acquisitions:
        add(row, "target_acquisition")
    return out


def _asn(group: CandidateGroup, rule: Level3Rule, acquisitions: list[PoolRow], pool: Pool,
         version_id: str | None) -> Asn:
    product = AsnProduct(rule_product_name(group, rule), tuple(_members(group, rule, acquisitions)))
    first = group.rows[0]
    return Asn(asn_type=rule.asn_type, asn_id=group.candidate.id, products=(product,),
               asn_rule=f"candidate_{rule.name}", asn_pool=pool.name, program=first["program"].zfill(5),
               target=group.target_name(rule), version_id=version_id, code_version=f"streamcal {__version__}",
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
        pool order, then joined rows (backgrounds, PSF references), then target acquisitions. Of associations
        of different candidates with the same members, only the observation's is kept (jwst's prune).
        Associations with the same type, candidate, product name and members found by two rules (image3 from
        Asn_Lv3Image and Asn_Lv3ImageMosaic) appear once.
    """
    wanted = set(types)
    rules = [r for r in RULES if r.asn_type in wanted]
    groups: dict[tuple[str, Candidate, tuple[str, ...], str], CandidateGroup] = {}
    joiners: dict[tuple[str, Candidate, tuple[str, ...]], list[PoolRow]] = {}
    for row in pool:
        if row.is_set("is_imprt"):  # jwst: imprints are never level-3 members
            continue
        for candidate in row.candidates:
            for rule in rules:
                if rule.candidate_types and candidate.type not in rule.candidate_types:
                    continue
                if rule.applies(row, candidate):
                    key, target = rule.key(row, candidate)
                    slot = (rule.name, candidate, key, target)
                    if slot not in groups:
                        groups[slot] = CandidateGroup(candidate, key, target)
                    groups[slot].rows.append(row)
                elif rule.joins is not None and rule.joins(row):
                    key, _ = rule.key(row, candidate)
                    joiners.setdefault((rule.name, candidate, key), []).append(row)
    by_rule = {r.name: r for r in rules}
    acquisitions = _acquisition_index(pool)
    out: list[Asn] = []
    seen: set[tuple[object, ...]] = set()
    for (rule_name, candidate, key, _), group in groups.items():
        rule = by_rule[rule_name]
        group.joined.extend(joiners.get((rule_name, candidate, key), ()))
        if not rule.valid(group, rule):
            continue
        asn = _asn(group, rule, _acquisitions(acquisitions, group), pool, version_id)
        product = asn.products[0]
        identity = (asn.asn_type, asn.asn_id, product.name,
                    tuple(sorted((m.expname, m.exptype) for m in product.members)))
        if identity not in seen:
            seen.add(identity)
            out.append(asn)
    out = _prune(out)
    out.sort(key=lambda a: (a.asn_id, str(a.asn_type), a.products[0].name))
    return out


def _prune(asns: list[Asn]) -> list[Asn]:
    """jwst's prune of duplicate memberships: of associations from different candidates with exactly the same
    members (names and types), only the lowest-level candidate's is kept — an observation's over a
    cross-observation candidate's (jwst keeps the greatest ``asn_id``: ``o…`` > ``c…`` > ``a…``)."""
    def members(asn: Asn) -> frozenset[tuple[str, str]]:
        return frozenset((m.expname, m.exptype) for m in asn.products[0].members)

    best: dict[frozenset[tuple[str, str]], str] = {}
    for asn in asns:
        best[members(asn)] = max(best.get(members(asn), ""), asn.asn_id)
    return [a for a in asns if a.asn_id == best[members(a)]]


_POOL_VERSION = re.compile(r"^jw\d{5}_(\d{8}t\d{6})_pool\.csv$", re.IGNORECASE)


def pool_version_id(pool_name: str, mtime_ns: int) -> str:
    """The version id of a pool's associations: the ``yyyymmddthhmmss`` of a pool named as the observatory
    names them (``jw<ppppp>_<version>_pool.csv``), else the pool file's modification time (UTC)."""
    match = _POOL_VERSION.match(pool_name)
    if match:
        return match.group(1).lower()
    return datetime.fromtimestamp(mtime_ns / 1e9, UTC).strftime("%Y%m%dt%H%M%S")


UNTRACKED_RULES = frozenset({"candidate_Asn_Lv3NRCCoronImage"})
"""Rules whose associations the services do not declare: jwst images full-frame short-wave coronagraphy from
``_cal`` products, but streamcal's calwebb_image2 makes ``_calints`` for NRC_CORON, so such an association
could never complete (it would only expire)."""


def named_associations(pool: Pool, *, version_id: str) -> list[tuple[str, Asn]]:
    """:func:`generate` without :data:`UNTRACKED_RULES`, each association with the file name jwst would give
    it: ``jw<ppppp>-<acid>_<version_id>_<asn_type>_<NNNNN>_asn.json``, numbered per candidate and type."""
    counts: Counter[tuple[str, str]] = Counter()
    out = []
    for asn in generate(pool, version_id=version_id):
        if asn.asn_rule in UNTRACKED_RULES:
            continue
        counts[(asn.asn_id, str(asn.asn_type))] += 1
        name = asn_file_name(program=int(asn.program or 0), acid=asn.asn_id, asn_type=asn.asn_type,
                             version_id=version_id, sequence=counts[(asn.asn_id, str(asn.asn_type))])
        out.append((name, asn))
    return out
