"""Level-3 association rules on header mappings: grouping, completeness, names (jwst_spec §6.2, §6.3).

jwst builds associations from a closed pool after an observation ends. We build them incrementally, as
exposures finish stage 2, so every rule here is a pure function of member headers:

- :func:`candidate_key` says which association an exposure belongs to (also the Kafka key);
- :func:`expected_members` / :func:`is_complete` say when to stop waiting (jwst_spec §6.3, a design
  proposal, not jwst behaviour);
- :func:`level3_product_name`, :func:`asn_file_name` and :func:`build_asn` write the result as jwst would.

Headers are looked up by upper-case keyword. Grouping is by observation (PROGRAM + OBSERVTN), never by
jwst's c-candidates, so PSF or background exposures taken in another observation are not found.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime

from streamcal import __version__
from streamcal.associations.model import Asn, AsnMember, AsnProduct
from streamcal.errors import AssociationError, BadKeywordValueError
from streamcal.models.keywords import header_bool, header_int
from streamcal.routing.exptypes import AsnType

__all__ = [
    "DEGRADED_STATUS_OK",
    "asn_file_name",
    "build_asn",
    "candidate_key",
    "expected_members",
    "is_complete",
    "is_level3_member",
    "level3_product_name",
    "member_exptype",
    "optical_element",
]

Header = Mapping[str, object]

DEGRADED_STATUS_OK = "No known degraded exposures in association."

# Values jwst's association code treats as "not set" (associations/lib/dms_base.py _EMPTY). CLEAR is a
# real element: jwst names NIRCam products e.g. ..._nircam_clear-f200w.
_EMPTY = frozenset({"", "NULL", "--", "N", "F", "FALSE", "N/A", "NONE"})
_SLIT_EXP_TYPES = frozenset({"NRS_FIXEDSLIT", "NRS_BRIGHTOBJ"})
_RULES = {
    AsnType.IMAGE3: "Asn_Lv3Image",
    AsnType.SPEC3: "Asn_Lv3SpectralTarget",
    AsnType.CORON3: "Asn_Lv3Coron",
    AsnType.AMI3: "Asn_Lv3AMI",
    AsnType.TSO3: "Asn_Lv3TSO",
    AsnType.WFS_IMAGE3: "Asn_Lv3WFSCMB",
}
_VERSION_ID = re.compile(r"^\d{8}t\d{6}$")


def _level3(asn_type: AsnType | str) -> AsnType:
    try:
        kind = AsnType(asn_type)
    except ValueError:
        raise AssociationError(f"unknown asn_type {asn_type!r}") from None
    if kind.level != 3:
        raise AssociationError(f"{kind} is a level-2 association: one per exposure, no grouping rule")
    return kind


def _value(header: Header, key: str, source: str | None) -> str:
    """A keyword as a lower-case string; "" when absent or one of jwst's empty markers."""
    value = header.get(key)
    if value is None:
        return ""
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise BadKeywordValueError(f"{key}={value!r}{f' in {source}' if source else ''} is not a string")
    text = str(value).strip().upper()
    return "" if text in _EMPTY else text.lower()


def _target(header: Header, source: str | None) -> str:
    """``t`` + TARGETID zero-padded to 3 digits; TARGETID is a pool column, so 1 when absent."""
    return f"t{header_int(header, 'TARGETID', source=source, default=1):03d}"


def member_exptype(header: Header, *, asn_type: AsnType | str | None = None, source: str | None = None) -> str:
    """Return the level-3 member type: ``psf`` (IS_PSF=T), ``background`` (BKGDTARG=T) or ``science``.

    In an image3 association every member is ``science``: background-target images are combined into
    their own image3 product (jwst's Asn_Lv3ImageBackground), not subtracted.

    Raises
    ------
    BadKeywordValueError
        IS_PSF or BKGDTARG is not a FITS logical. Not retriable.
    """
    if asn_type == AsnType.IMAGE3:
        return "science"
    if header_bool(header, "IS_PSF", source=source):
        return "psf"
    if header_bool(header, "BKGDTARG", source=source):
        return "background"
    return "science"


def is_level3_member(header: Header, *, source: str | None = None) -> bool:
    """Return False for exposures no level-3 association takes: imprints (IS_IMPRT=T)."""
    return not header_bool(header, "IS_IMPRT", source=source)


def optical_element(header: Header, *, source: str | None = None) -> str:
    """Return jwst's optical-element string: sorted non-empty FILTER, PUPIL, GRATING joined by ``-``.

    ``"clear"`` when none is set, as in jwst's ``_get_opt_element``.
    """
    elements = sorted(v for v in (_value(header, k, source) for k in ("FILTER", "PUPIL", "GRATING")) if v)
    return "-".join(elements) or "clear"


def _program_and_obs(header: Header, source: str | None) -> list[str]:
    program = header_int(header, "PROGRAM", source=source)
    observation = header_int(header, "OBSERVTN", source=source)
    return [f"jw{program:05d}", f"o{observation:03d}"]


def _path_parts(header: Header, source: str | None) -> list[str]:
    return [optical_element(header, source=source), _value(header, "FXD_SLIT", source) or "-",
            _value(header, "SUBARRAY", source) or "full"]


def candidate_key(header: Header, *, asn_type: AsnType | str, source: str | None = None) -> str:
    """Return the key of the level-3 association an exposure belongs to.

    Always program and observation, then per type (jwst_spec §6.2):

    - image3: instrument, optical path (filter/pupil/grating, slit, subarray), target, and ``bkg`` for
      background targets (BKGDTARG=T exposures form a separate product);
    - spec3, coron3, ami3: instrument and optical path; not the target, so background and PSF exposures
      of the same observation join the science ones;
    - tso3: EXP_TYPE, optical path and target (every exposure and segment of the observation);
    - wfs-image3: visit, visit group, ACT_ID and DETECTOR (the dithered pair).

    Returns
    -------
    str
        E.g. ``"image3:jw01234:o001:nircam:clear-f200w:-:full:t001"``, lower case.

    Raises
    ------
    AssociationError
        ``asn_type`` is not a level-3 type. Not retriable.
    MissingKeywordError, BadKeywordValueError
        A needed keyword is absent or unusable. Not retriable.
    """
    kind = _level3(asn_type)
    parts = [str(kind), *_program_and_obs(header, source)]
    instrument = _value(header, "INSTRUME", source)
    if kind is AsnType.WFS_IMAGE3:
        visit = header_int(header, "VISIT", source=source)
        group = header_int(header, "VISITGRP", source=source)
        parts += [f"v{visit:03d}", f"g{group:02d}", f"a{_value(header, 'ACT_ID', source).zfill(2)}",
                  _value(header, "DETECTOR", source)]
    elif kind is AsnType.TSO3:
        parts += [instrument, _value(header, "EXP_TYPE", source), *_path_parts(header, source),
                  _target(header, source)]
    elif kind is AsnType.IMAGE3:
        parts += [instrument, *_path_parts(header, source), _target(header, source)]
        if header_bool(header, "BKGDTARG", source=source):
            parts.append("bkg")
    else:
        parts += [instrument, *_path_parts(header, source)]
    return ":".join(parts)


def expected_members(header: Header, *, asn_type: AsnType | str, source: str | None = None) -> int:
    """Return how many members to wait for, from one member's header (jwst_spec §6.3, a heuristic).

    - image3, spec3: NUMDTHPT (dither or nod points; 1 when absent) exposures per detector;
    - wfs-image3: exactly 2 (the dithered pair);
    - tso3: EXSEGTOT segments (1 when absent);
    - coron3, ami3: 2, one science and one PSF exposure (see :func:`is_complete` for dithered sets).

    Raises
    ------
    AssociationError
        ``asn_type`` is not a level-3 type. Not retriable.
    BadKeywordValueError
        NUMDTHPT or EXSEGTOT is not a positive integer. Not retriable.
    """
    kind = _level3(asn_type)
    if kind is AsnType.WFS_IMAGE3 or kind in (AsnType.CORON3, AsnType.AMI3):
        return 2
    key = "EXSEGTOT" if kind is AsnType.TSO3 else "NUMDTHPT"
    count = header_int(header, key, source=source, default=1)
    if count < 1:
        raise BadKeywordValueError(f"{key}={count}{f' in {source}' if source else ''} is not positive")
    return count


def is_complete(asn_type: AsnType | str, headers: Sequence[Header]) -> bool:
    """Return whether a set of distinct member headers completes its association (jwst_spec §6.3).

    - image3, spec3: at least NUMDTHPT science members (read from the first science member);
    - wfs-image3: exactly 2 members;
    - tso3: segments 1..EXSEGTOT all present (EXSEGNUM; an unsegmented exposure is segment 1);
    - coron3, ami3: at least one science and one PSF member, and as many of each as their NUMDTHPT.
    """
    kind = _level3(asn_type)
    if kind is AsnType.WFS_IMAGE3:
        return len(headers) == 2
    if kind is AsnType.TSO3:
        if not headers:
            return False
        total = expected_members(headers[0], asn_type=kind)
        seen = {header_int(h, "EXSEGNUM", default=1) for h in headers}
        return seen >= set(range(1, total + 1))
    by_type: dict[str, list[Header]] = {}
    for header in headers:
        by_type.setdefault(member_exptype(header, asn_type=kind), []).append(header)
    wanted = ["science", "psf"] if kind in (AsnType.CORON3, AsnType.AMI3) else ["science"]
    return all(
        by_type.get(t) and len(by_type[t]) >= header_int(by_type[t][0], "NUMDTHPT", default=1) for t in wanted
    )


def level3_product_name(
    headers: Sequence[Header], *, asn_type: AsnType | str, acid: str | None = None, source: str | None = None
) -> str:
    """Return the source-based product name (jwst_spec §6.1, §7.1), lower case.

    ``jw<ppppp>-<acid>_t<###>_<instrument>_<optelem>[-<slit>][-<subarray>]``, plus
    ``-<detector>_{suffix}-<act_id>`` for wfs-image3 as jwst names it (``{suffix}`` kept for stage 3 to fill:
    ``..._wfscmb-04.fits``). The values come from the first science member; the slit only for NRS_FIXEDSLIT and
    NRS_BRIGHTOBJ; the subarray unless FULL.

    Parameters
    ----------
    headers : sequence of Mapping
        Member headers (any order; PSF and background members are skipped).
    asn_type : AsnType or str
        The level-3 association type.
    acid : str, optional
        The association candidate id; default ``o<OBSERVTN>``.
    source : str, optional
        For error messages.

    Raises
    ------
    AssociationError
        No science member, or a level-2 ``asn_type``. Not retriable.
    """
    kind = _level3(asn_type)
    science = [h for h in headers if member_exptype(h, asn_type=kind, source=source) == "science"]
    if not science:
        raise AssociationError(f"no science member to name the {kind} product after")
    h = science[0]
    program, observation = _program_and_obs(h, source)
    parts = [optical_element(h, source=source)]
    if _value(h, "EXP_TYPE", source).upper() in _SLIT_EXP_TYPES and _value(h, "FXD_SLIT", source):
        parts.append(_value(h, "FXD_SLIT", source))
    subarray = _value(h, "SUBARRAY", source)
    if subarray and subarray != "full":
        parts.append(subarray)
    if kind is AsnType.WFS_IMAGE3:
        parts.append(_value(h, "DETECTOR", source))
    name = f"{program}-{acid or observation}_{_target(h, source)}_{_value(h, 'INSTRUME', source)}_{'-'.join(parts)}"
    if kind is AsnType.WFS_IMAGE3:  # jwst: the suffix goes before the activity, ..._wfscmb-04
        name += "_{suffix}-" + _value(h, "ACT_ID", source).zfill(2)
    name = name.lower()
    if not _PLAIN_NAME.fullmatch(name.replace("{suffix}", "x")):  # header values become a file name: no paths
        raise AssociationError(f"{source}: the product name {name[:80]!r} its header values make is not a plain "
                               "file name (a keyword such as FXD_SLIT or FILTER holds a path or odd characters)")
    return name


_PLAIN_NAME = re.compile(r"[a-z0-9][a-z0-9_.+-]{0,200}")


def asn_file_name(*, program: int, acid: str, asn_type: AsnType | str, version_id: str, sequence: int = 1) -> str:
    """Return ``jw<ppppp>-<acid>_<version_id>_<asn_type>_<NNNNN>_asn.json`` (jwst_spec §6.1).

    Raises
    ------
    AssociationError
        ``version_id`` is not ``yyyymmddthhmmss`` or ``asn_type`` is unknown. Not retriable.
    """
    if not _VERSION_ID.match(version_id):
        raise AssociationError(f"version_id {version_id!r} is not yyyymmddthhmmss")
    try:
        kind = AsnType(asn_type)
    except ValueError:
        raise AssociationError(f"unknown asn_type {asn_type!r}") from None
    return f"jw{program:05d}-{acid.lower()}_{version_id}_{kind}_{sequence:05d}_asn.json"


def _common_key(kind: AsnType, members: Sequence[tuple[str, Header]]) -> str:
    """The one candidate key all members share; imprints and mixed candidates are errors."""
    if not members:
        raise AssociationError(f"{kind}: no members")
    keys = {candidate_key(h, asn_type=kind, source=name) for name, h in members}
    if len(keys) > 1:
        raise AssociationError(f"{kind}: members belong to different associations: {sorted(keys)}")
    imprints = [name for name, h in members if not is_level3_member(h, source=name)]
    if imprints:
        raise AssociationError(f"{kind}: imprint exposures are not level-3 members: {imprints}")
    return keys.pop()


def _check_valid(kind: AsnType, members: Sequence[AsnMember]) -> None:
    types = [m.exptype for m in members]
    if "science" not in types:
        raise AssociationError(f"{kind}: no science member")
    if kind is AsnType.CORON3 and "psf" not in types:
        raise AssociationError("coron3: needs at least one psf member (IS_PSF=T)")
    if kind is AsnType.WFS_IMAGE3 and len(members) != 2:
        raise AssociationError(f"wfs-image3: needs exactly 2 members, got {len(members)}")


def build_asn(
    asn_type: AsnType | str,
    members: Sequence[tuple[str, Header]],
    *,
    asn_id: str | None = None,
    asn_pool: str = "streamcal",
    version_id: str | None = None,
    code_version: str | None = None,
) -> Asn:
    """Build a one-product level-3 association from member file names and their headers.

    Parameters
    ----------
    asn_type : AsnType or str
        A level-3 type.
    members : sequence of (expname, header)
        Stage-2 product names (bare, relative to where the ASN will be written) and the exposure headers.
        Members are sorted by name, so the result does not depend on arrival order.
    asn_id : str, optional
        Default ``o<OBSERVTN>``; also the product's acid.
    asn_pool, version_id, code_version : str, optional
        Provenance fields copied into the ASN; as jwst writes them, ``version_id`` defaults to the UTC time
        of generation (``yyyymmddthhmmss``) and ``code_version`` to this streamcal's version.

    Returns
    -------
    Asn

    Raises
    ------
    AssociationError
        No members, members of different candidates, imprint members, no science member, coron3 without a
        PSF, or wfs-image3 without exactly 2 members. Not retriable.
    """
    kind = _level3(asn_type)
    ordered = sorted(members, key=lambda pair: pair[0])
    key = _common_key(kind, ordered)
    asn_members = tuple(AsnMember(name, member_exptype(h, asn_type=kind, source=name)) for name, h in ordered)
    _check_valid(kind, asn_members)
    headers = [h for _, h in ordered]
    program, observation = _program_and_obs(headers[0], None)
    acid = asn_id or observation
    product = AsnProduct(level3_product_name(headers, asn_type=kind, acid=acid), asn_members)
    return Asn(
        asn_type=kind,
        asn_id=acid,
        products=(product,),
        asn_rule=_RULES[kind],
        asn_pool=asn_pool,
        program=program.removeprefix("jw"),
        target=_target(next(h for _, h in ordered if member_exptype(h, asn_type=kind) == "science"), None),
        version_id=version_id or datetime.now(UTC).strftime("%Y%m%dt%H%M%S"),
        code_version=code_version or f"streamcal {__version__}",
        degraded_status=DEGRADED_STATUS_OK,
        constraints=f"candidate_key={key}",
    )
