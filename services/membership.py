"""Association membership from what is on storage (blocking helpers the tracker runs in a thread).

The tracker keeps no state that cannot be rebuilt: a member is a stage-2 product in the products folder — the
one its stage-2 pipeline declares as the association member (``Outputs.member``). Its primary header, carried
over from the raw file, records the run specification the router decided (:meth:`RunSpec.from_header`: no
routing here) and gives its level-3 candidate key (:func:`streamcal.associations.candidate_key`). Completeness
is :func:`streamcal.associations.is_complete` over the members' headers.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from services.products import outputs_of
from streamcal.associations import Asn, build_asn, candidate_key
from streamcal.datamodels import read_header, split_suffix
from streamcal.errors import StreamcalError
from streamcal.routing import Route, RoutingConfig, RunSpec

__all__ = [
    "HeaderCache",
    "Member",
    "asn_path_for",
    "build_for",
    "declared_association_id",
    "declared_dir",
    "observation_prefix",
    "scan_members",
    "stage3_products",
]

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Member:
    """A stage-2 product that belongs to a level-3 association."""

    product: Path
    root: str
    header: dict[str, object]
    spec: RunSpec
    key: str

    @property
    def route(self) -> Route:
        return self.spec.route


@dataclass(slots=True)
class HeaderCache:
    """Primary headers, and what they make of a product (member or not), by (path, mtime): each product is
    read, routed and keyed once, not on every member-done event of its observation."""

    _entries: dict[Path, tuple[int, dict[str, object]]] = field(default_factory=dict)
    _members: dict[Path, tuple[int, Member | None]] = field(default_factory=dict)

    def primary(self, path: Path) -> dict[str, object]:
        """The primary header of a FITS file (re-read when the file changed)."""
        mtime = path.stat().st_mtime_ns
        hit = self._entries.get(path)
        if hit is not None and hit[0] == mtime:
            return hit[1]
        header = read_header(path)
        self._entries[path] = (mtime, header)
        return header


def _member(path: Path, cache: HeaderCache, config: RoutingConfig) -> Member | None:
    """The member a stage-2 product is, or None (not a stage-2 product of a route with a stage 3)."""
    try:
        mtime = path.stat().st_mtime_ns
    except OSError:
        return None
    hit = cache._members.get(path)
    if hit is not None and hit[0] == mtime:
        return hit[1]
    try:
        member = _evaluate(path, cache, config)
    except OSError as exc:  # storage trouble: not remembered, asked again next time
        log.debug("cannot read %s now (%s)", path.name, exc)
        return None
    cache._members[path] = (mtime, member)
    return member


def _evaluate(path: Path, cache: HeaderCache, config: RoutingConfig) -> Member | None:
    try:
        root, _ = split_suffix(path)
        header = cache.primary(path)
        spec = RunSpec.from_header(header, config, source=path.name)
        if spec is None:
            return None
        found = spec.route
        if found.asn_type is None or found.stage3 is None or found.stage2 is None:
            return None
        if header.get("PIPELINE") != found.stage2:  # made by another pipeline (calibrate --pipeline)
            return None
        if outputs_of(found.stage2, root, spec).member != path.name:
            return None
        key = candidate_key(header, asn_type=found.asn_type, source=path.name)
    except StreamcalError as exc:
        log.debug("not an association member: %s (%s)", path.name, exc)
        return None
    return Member(path, root, header, spec, key)


def scan_members(products_dir: Path, config: RoutingConfig, cache: HeaderCache, *,
                 prefix: str = "jw") -> list[Member]:
    """Every association member among the products whose name starts with ``prefix``.

    Candidate keys always include program and observation, so the tracker scans one observation
    (``prefix="jw<ppppp><ooo>"``) to evaluate one association. Each product's header is read once (per
    modification time).
    """
    paths: Iterable[Path] = sorted(products_dir.glob(f"{prefix}*.fits"))
    members = [_member(p, cache, config) for p in paths]
    return [m for m in members if m is not None]


def observation_prefix(root: str) -> str:
    """``jw<ppppp><ooo>`` of an exposure root (the products of one observation, guider names included); ``""``
    (every product) for a name that does not start so, since products follow their input's file name."""
    match = re.match(r"jw\d{8}", root)
    return match.group(0) if match else ""


def build_for(members: list[Member], *, code_version: str) -> Asn:
    """The level-3 ASN of a set of members (bare product names: the ASN sits next to them).

    Raises
    ------
    AssociationError
        The members cannot form the association (e.g. coron3 without a PSF). Not retriable.
    """
    kind = members[0].route.asn_type
    assert kind is not None
    return build_asn(kind, [(m.product.name, m.header) for m in members], code_version=code_version)


def declared_dir(products_dir: Path) -> Path:
    """Where the tracker keeps the associations upstream declared (ASN files and pools), from declaration on:
    ``<products>/associations``. Released ones are also copied beside the products."""
    return products_dir / "associations"


def declared_association_id(asn: Asn) -> str:
    """The id a declared association is tracked under: its identity — type, program, candidate and product
    name — not its file name, so a regenerated pool (a new version id in every ASN name) or a copy of an ASN
    file under another name supersedes the earlier declaration instead of doubling it."""
    program = f"jw{asn.program}" if asn.program else "jw"
    return f"asn:{asn.asn_type}:{program}-{asn.asn_id}:{asn.products[0].name}"


def asn_path_for(products_dir: Path, asn: Asn) -> Path:
    """Where the tracker writes an ASN: ``<product name>_<asn_type>_asn.json`` beside the products (a name
    with jwst's ``{suffix}`` placeholder, WFS&C's ``..._{suffix}-04``, gets the type in its place:
    ``..._wfs-image3-04_asn.json``)."""
    name = asn.products[0].name
    if "{suffix}" in name:
        return products_dir / f"{name.replace('{suffix}', str(asn.asn_type))}_asn.json"
    return products_dir / f"{name}_{asn.asn_type}_asn.json"


def stage3_products(products_dir: Path, asn: Asn, spec: RunSpec) -> list[Path]:
    """Stage-3 products already written for an ASN (those its stage-3 pipeline declares; none for a stage 3
    streamcal does not implement, whose work waits in its topic)."""
    assert spec.route.stage3 is not None
    try:
        names = outputs_of(spec.route.stage3, asn.products[0].name, spec).products
    except StreamcalError:
        return []
    return [products_dir / n for n in names if (products_dir / n).exists()]
