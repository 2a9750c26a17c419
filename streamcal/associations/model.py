"""The association (ASN) file: jwst's JSON format (jwst_spec §6.1).

::

    {"asn_type": "image3", "asn_rule": "Asn_Lv3Image", "asn_id": "o001", "asn_pool": "...",
     "program": "01234", "target": "t001", "version_id": "...", "code_version": "...",
     "degraded_status": "...", "constraints": "...",
     "products": [{"name": "jw01234-o001_t001_nircam_clear-f200w",
                   "members": [{"expname": "jw01234001001_02101_00001_nrca1_cal.fits",
                                "exptype": "science"}, ...]}]}

ASN files come from outside (an upstream generator may drop them into the ingest folder), so reading is
tolerant of extra keys but strict about what we use: ``asn_type``, ``asn_id``, ``products`` and, per
product, ``name`` and ``members`` (each with ``expname`` and ``exptype``) are required; every product
needs a science member (exactly one at level 2). Member ``exptype`` is read case-insensitively and
stored lower-case.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from streamcal.datamodels.fitsio import atomic_path
from streamcal.errors import AssociationError
from streamcal.routing.exptypes import AsnType

__all__ = [
    "LEVEL2_MEMBER_TYPES",
    "LEVEL3_MEMBER_TYPES",
    "PRODUCT_NAME_TEMPLATES",
    "Asn",
    "AsnMember",
    "AsnProduct",
    "asn_from_dict",
    "check_upstream",
    "member_paths",
    "read_asn",
    "to_json",
    "write_asn",
]

LEVEL2_MEMBER_TYPES = frozenset(
    {"science", "background", "imprint", "selfcal", "sourcecat", "segmap", "direct_image", "target_acquisition"}
)
LEVEL3_MEMBER_TYPES = frozenset({"science", "background", "psf", "target_acquisition"})

_OPTIONAL_TEXT = ("asn_rule", "asn_pool", "program", "target", "version_id", "code_version",
                  "degraded_status", "constraints")


@dataclass(frozen=True, slots=True)
class AsnMember:
    """One member file of a product; ``expname`` is a bare name resolved relative to the ASN file."""

    expname: str
    exptype: str
    exposerr: str | None = None
    asn_candidate: str | None = None


@dataclass(frozen=True, slots=True)
class AsnProduct:
    """One output product: its name (the output root) and its members."""

    name: str
    members: tuple[AsnMember, ...]

    def by_type(self, exptype: str) -> tuple[AsnMember, ...]:
        """Return the members of one exptype (e.g. ``"science"``), in file order."""
        return tuple(m for m in self.members if m.exptype == exptype)


@dataclass(frozen=True, slots=True, kw_only=True)
class Asn:
    """An association: what to combine and what to call the result."""

    asn_type: AsnType
    asn_id: str
    products: tuple[AsnProduct, ...]
    asn_rule: str | None = None
    asn_pool: str | None = None
    program: str | None = None
    target: str | None = None
    version_id: str | None = None
    code_version: str | None = None
    degraded_status: str | None = None
    constraints: str | None = None

    @property
    def level(self) -> int:
        """2 or 3."""
        return self.asn_type.level

    def to_dict(self) -> dict[str, object]:
        """Return the JSON document (keys in jwst's order; None-valued optional keys left out)."""
        head: dict[str, object] = {"asn_type": str(self.asn_type), "asn_rule": self.asn_rule,
                                   "version_id": self.version_id, "code_version": self.code_version,
                                   "degraded_status": self.degraded_status, "program": self.program,
                                   "constraints": self.constraints, "asn_id": self.asn_id,
                                   "target": self.target, "asn_pool": self.asn_pool}
        doc = {k: v for k, v in head.items() if v is not None}
        doc["products"] = [
            {"name": p.name, "members": [_member_dict(m) for m in p.members]} for p in self.products
        ]
        return doc


def _member_dict(member: AsnMember) -> dict[str, str]:
    doc = {"expname": member.expname, "exptype": member.exptype}
    if member.exposerr is not None:
        doc["exposerr"] = member.exposerr
    if member.asn_candidate is not None:
        doc["asn_candidate"] = member.asn_candidate
    return doc


def to_json(asn: Asn) -> str:
    """Serialize an association as jwst writes it (indented JSON, trailing newline)."""
    return json.dumps(asn.to_dict(), indent=4) + "\n"


def _optional(doc: Mapping[str, object], key: str, where: str) -> str | None:
    value = doc.get(key)
    if value is None:
        return None
    if key == "program" and isinstance(value, int) and not isinstance(value, bool):
        return f"{value:05d}"  # some generators write the program as a number
    if not isinstance(value, str):
        raise AssociationError(f"{where}: {key}={value!r} is not a string")
    return value


def _required(doc: Mapping[str, object], key: str, where: str) -> str:
    value = _optional(doc, key, where)
    if value is None:
        raise AssociationError(f"{where}: required key {key!r} is missing")
    if not value.strip():
        raise AssociationError(f"{where}: {key} is blank")
    return value


def _member(doc: object, where: str, allowed: frozenset[str]) -> AsnMember:
    if not isinstance(doc, Mapping):
        raise AssociationError(f"{where}: a member must be an object, got {doc!r}")
    expname = _required(doc, "expname", where)
    exptype = _required(doc, "exptype", where).strip().lower()
    if exptype not in allowed:
        raise AssociationError(f"{where}: unknown member exptype {exptype!r} (expected one of {sorted(allowed)})")
    return AsnMember(
        expname=expname,
        exptype=exptype,
        exposerr=_optional(doc, "exposerr", where),
        asn_candidate=_optional(doc, "asn_candidate", where),
    )


def _product(doc: object, where: str, level: int) -> AsnProduct:
    if not isinstance(doc, Mapping):
        raise AssociationError(f"{where}: a product must be an object, got {doc!r}")
    name = _required(doc, "name", where)
    members_doc = doc.get("members")
    if not isinstance(members_doc, list) or not members_doc:
        raise AssociationError(f"{where}: 'members' must be a non-empty list")
    allowed = LEVEL2_MEMBER_TYPES if level == 2 else LEVEL3_MEMBER_TYPES
    members = tuple(_member(m, f"{where}.members[{i}]", allowed) for i, m in enumerate(members_doc))
    n_science = sum(m.exptype == "science" for m in members)
    if n_science == 0:
        raise AssociationError(f"{where}: product {name!r} has no science member")
    if level == 2 and n_science > 1:
        raise AssociationError(f"{where}: level-2 product {name!r} has {n_science} science members, not 1")
    return AsnProduct(name=name, members=members)


def asn_from_dict(doc: object, *, source: str = "<asn>") -> Asn:
    """Validate a decoded ASN document.

    Raises
    ------
    AssociationError
        Missing keys, wrong types, unknown asn_type or member exptype, or a product without a science
        member. The message starts with ``source``. Not retriable.
    """
    if not isinstance(doc, Mapping):
        raise AssociationError(f"{source}: an association must be a JSON object")
    asn_type_text = _required(doc, "asn_type", source)
    try:
        asn_type = AsnType(asn_type_text.strip().lower())
    except ValueError:
        raise AssociationError(f"{source}: unknown asn_type {asn_type_text!r}") from None
    products_doc = doc.get("products")
    if not isinstance(products_doc, list) or not products_doc:
        raise AssociationError(f"{source}: 'products' must be a non-empty list")
    products = tuple(
        _product(p, f"{source}: products[{i}]", asn_type.level) for i, p in enumerate(products_doc)
    )
    optional = {key: _optional(doc, key, source) for key in _OPTIONAL_TEXT}
    asn_id = _required(doc, "asn_id", source)
    return Asn(asn_type=asn_type, asn_id=asn_id, products=products, **optional)


def read_asn(source: str | os.PathLike[str]) -> Asn:
    """Read an association from a file, or from JSON text.

    Parameters
    ----------
    source : str or PathLike
        A path, or a ``str`` whose first non-blank character is ``{`` (JSON text).

    Returns
    -------
    Asn

    Raises
    ------
    AssociationError
        The file cannot be read, is not JSON, or is not a valid association; the message names the file.
        Not retriable.
    """
    if isinstance(source, str) and source.lstrip().startswith("{"):
        text, name = source, "<asn text>"
    else:
        path = Path(source)
        name = str(path)
        try:
            size = path.stat().st_size
            if size > MAX_ASN_BYTES:  # read nothing of a file no association needs to be
                raise AssociationError(f"{name}: {size} bytes, more than the {MAX_ASN_BYTES} an association file "
                                       "may have")
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise AssociationError(f"{name}: cannot read association: {exc}") from exc
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as exc:
        raise AssociationError(f"{name}: malformed JSON: {exc}") from exc
    return asn_from_dict(doc, source=name)


_BARE_FILE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.+-]{0,200}\.fits$")
_PRODUCT_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.+-]{0,200}$")
#: The largest association file read (jwst's largest are a few hundred kB).
MAX_ASN_BYTES = 8 * 1024 * 1024
_ASN_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")
PRODUCT_NAME_TEMPLATES = ("{suffix}", "{source_id}", "{slit_name}")
"""The placeholders jwst writes into level-3 product names, filled in by the stage-3 pipeline."""


def check_upstream(asn: Asn, source: str) -> None:
    """Refuse an association from outside that the services cannot follow safely.

    Upstream ASN files and pools are not trusted as paths: every member must be a bare ``*.fits`` file name
    (no folder, no ``..``), resolved in the products folder; the asn_id a plain id; every product name a plain
    name (jwst's ``{suffix}``, ``{source_id}`` and ``{slit_name}`` placeholders allowed), since stage 3 writes
    files named after both. Only level-3 associations are tracked.

    Raises
    ------
    AssociationError
        The message names ``source`` and the offending value. Not retriable.
    """
    if asn.level != 3:
        raise AssociationError(f"{source}: a level-{asn.level} association has nothing to wait for")
    if asn.asn_id and not _ASN_ID.fullmatch(asn.asn_id):  # stage 3 puts it in file names (<member>_<asn_id>_crf)
        raise AssociationError(f"{source}: asn_id {asn.asn_id[:80]!r} is not a plain id (letters, digits, _ . -)")
    for product in asn.products:
        bare = product.name
        for template in PRODUCT_NAME_TEMPLATES:
            bare = bare.replace(template, "x")
        if not _PRODUCT_NAME.match(bare):
            raise AssociationError(f"{source}: product name {product.name[:80]!r} is not a plain name")
        for member in product.members:
            if not _BARE_FILE.match(member.expname) or ".." in member.expname:
                raise AssociationError(f"{source}: member {member.expname[:80]!r} is not a bare *.fits file name "
                                       "(members are looked up in the products folder)")


def write_asn(asn: Asn, path: str | os.PathLike[str]) -> Path:
    """Write an association atomically (a temp file in the same folder, then ``os.replace``).

    Returns
    -------
    Path
        The written file.

    Raises
    ------
    OSError
        The folder is not writable; the temp file is removed. Retriable if the storage comes back.
    """
    path = Path(path)
    with atomic_path(path) as tmp:
        tmp.write_text(to_json(asn), encoding="utf-8")
    return path


def member_paths(asn: Asn, asn_dir: str | os.PathLike[str], *, exptypes: Sequence[str] | None = None) -> list[Path]:
    """Resolve member file names against the folder of the ASN file.

    Parameters
    ----------
    asn : Asn
        The association.
    asn_dir : str or PathLike
        The folder holding the ASN file; bare (relative) expnames are resolved against it, absolute ones
        are kept.
    exptypes : sequence of str, optional
        Only members of these exptypes (default: all).

    Returns
    -------
    list of Path
        In product order, then member order.
    """
    base = Path(asn_dir)
    return [
        base / member.expname
        for product in asn.products
        for member in product.members
        if exptypes is None or member.exptype in exptypes
    ]
