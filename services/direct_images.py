"""WFSS exposures waiting for their direct images' source catalog (the tracker's level-2 WFSS associations).

calwebb_spec2 of a WFSS exposure (NIS_WFSS, NRC_WFSS) reads the sources calwebb_image3 found in the
observation's direct images (jwst's level-2 WFSS association: :mod:`streamcal.associations.wfss`). So after
stage 1 the worker does not send such an exposure to calwebb_spec2: it hands the stage-2 work item to the
tracker (on ``association.member-done``), which keeps it here until a level-3 image3 product of matching direct
images has every product the level-2 association names (its mosaic, catalog and segmentation map:
:func:`~streamcal.associations.wfss.level2_wfss_asn`) on storage. Then it writes the level-2 ASN
``<root>_spec2_asn.json`` beside the products and publishes the work item again with that ASN as its input.

The tracker asks again when a wait arrives, when a calwebb_image3 run reports its products (it reads the
``products`` topic) and at each sweep. At the deadline a wait with no catalog becomes a dead letter naming what
it waited for. Waits are not persisted: after a restart the watcher's rescan re-emits a WFSS exposure whose
stage-2 products are missing, and its stage 1 (already done) forwards it here again.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import time
from dataclasses import dataclass, field
from pathlib import Path

from services.bus import Bus
from services.codec import encode
from services.confine import Roots
from services.events import WorkItem, topic_for
from services.membership import HeaderCache
from streamcal.associations import Asn, check_upstream, read_asn, write_asn
from streamcal.associations.wfss import (
    DIRECT_IMAGE_TYPES,
    WFSS_EXP_TYPES,
    direct_image_matches,
    level2_wfss_asn,
    wfss_asn_name,
)
from streamcal.errors import AssociationError, InvalidInputError, StreamcalError
from streamcal.routing import RunSpec
from streamcal.routing.exptypes import AsnType

__all__ = ["CatalogWaits", "find_direct_product"]

log = logging.getLogger(__name__)

#: Image3 ASN files larger than this are not read (a released ASN lists its members: a few kB).
_MAX_ASN_BYTES = 8 * 1024 * 1024


@dataclass(slots=True)
class _AsnCache:
    """Image3 associations beside the products, parsed once per (path, mtime); None for a file that is not one."""

    entries: dict[Path, tuple[int, Asn | None]] = field(default_factory=dict)

    def image3(self, path: Path) -> Asn | None:
        try:
            st = path.stat()
        except OSError:
            return None
        hit = self.entries.get(path)
        if hit is not None and hit[0] == st.st_mtime_ns:
            return hit[1]
        asn: Asn | None = None
        if st.st_size <= _MAX_ASN_BYTES:
            try:
                found = read_asn(path)
                check_upstream(found, path.name)
                asn = found if found.asn_type == AsnType.IMAGE3 else None
            except (AssociationError, OSError) as exc:
                log.debug("not an image3 association: %s (%s)", path.name, exc)
        self.entries[path] = (st.st_mtime_ns, asn)
        return asn


def find_direct_product(products_dir: Path, rate: str, wfss_header: dict[str, object], cache: HeaderCache,
                        asns: _AsnCache | None = None) -> Asn | None:
    """The level-2 association of WFSS exposure file ``rate`` with a finished image3 product of its direct
    images, or None (blocking).

    Looks at the image3 associations beside the products (released by the tracker or copied there from
    upstream): a product whose first science member is a direct image of the exposure
    (:func:`~streamcal.associations.wfss.direct_image_matches`) and whose products the level-2 association
    names are all on storage. The first such product in name order wins.
    """
    asns = asns or _AsnCache()
    for path in sorted(products_dir.glob("*image3*_asn.json")):
        asn = asns.image3(path)
        if asn is None:
            continue
        for product in asn.products:
            level2 = level2_wfss_asn(rate, product.name, wfss_header)
            if not all((products_dir / m.expname).is_file() for m in level2.products[0].members
                       if m.exptype != "science"):
                continue
            science = [m.expname for m in product.members if m.exptype == "science"]
            try:
                header = cache.primary(products_dir / science[0]) if science else None
            except (OSError, StreamcalError):
                continue
            if header is not None and direct_image_matches(wfss_header, header):
                return level2
    return None


@dataclass(slots=True)
class _Wait:
    item: WorkItem
    raw: bytes
    first_seen: float = field(default_factory=time.monotonic)


class CatalogWaits:
    """The WFSS stage-2 work items the tracker holds until their direct images' catalog exists.

    Parameters
    ----------
    bus : Bus
        Where released work items go.
    products_dir : Path
        Where the rate files, the image3 products and the level-2 ASNs are.
    cache : HeaderCache
        The tracker's primary-header cache.
    deadline_s : float
        How long a wait may last before it is a dead letter.
    code_version : str
        Recorded in the level-2 ASNs.
    """

    def __init__(self, *, bus: Bus, products_dir: Path, cache: HeaderCache, deadline_s: float,
                 code_version: str) -> None:
        self.bus = bus
        self.products_dir = products_dir
        self.roots = Roots.of(products=products_dir)
        self.cache = cache
        self.deadline_s = deadline_s
        self.code_version = code_version
        self.waits: dict[str, _Wait] = {}
        self._asns = _AsnCache()

    def __len__(self) -> int:
        return len(self.waits)

    async def want(self, item: WorkItem, raw: bytes) -> None:
        """Hold a WFSS exposure's stage-2 work item (released at once if its catalog is already there).

        Raises
        ------
        InvalidInputError
            The work item is not a WFSS exposure's stage 2. Not retriable.
        ForbiddenPathError, NotRegularFileError
            Its input is not a regular file in the products folder. Not retriable.
        """
        route = RunSpec.from_dict(item.spec).route
        exp_type = str(route.exp_type).upper()
        if exp_type not in WFSS_EXP_TYPES or item.pipeline != route.stage2:
            raise InvalidInputError(f"the tracker holds only WFSS stage-2 work, not {item.pipeline} on "
                                    f"{exp_type} ({item.exposure_id})")
        await asyncio.to_thread(self.roots.require_file, item.input_path, "products", what="WFSS stage-2 input")
        self.waits.setdefault(item.exposure_id, _Wait(item, raw))
        if not await self.check(only=item.exposure_id):
            log.info("%s: waiting for the source catalog of its direct images (%s)", item.exposure_id,
                     DIRECT_IMAGE_TYPES[exp_type])

    async def check(self, only: str | None = None) -> int:
        """Release every wait (or just ``only``) whose catalog is on storage; returns how many were released.
        A failed release (storage, bus) leaves the wait for the next check."""
        released = 0
        for root in [only] if only is not None else sorted(self.waits):
            wait = self.waits.get(root)
            if wait is None:
                continue
            header = await asyncio.to_thread(self.cache.primary, wait.item.input_path)
            level2 = await asyncio.to_thread(find_direct_product, self.products_dir, wait.item.input_path.name,
                                             header, self.cache, self._asns)
            if level2 is None:
                continue
            await self._release(wait, dataclasses.replace(level2, code_version=self.code_version))
            released += 1
        return released

    async def _release(self, wait: _Wait, asn: Asn) -> None:
        item = wait.item
        path = self.products_dir / wfss_asn_name(item.exposure_id)
        await asyncio.to_thread(write_asn, asn, path)
        route = RunSpec.from_dict(item.spec).route
        assert route.stage2 is not None
        released = dataclasses.replace(item, input_path=path)
        await self.bus.publish(topic_for(route.stage2, route), item.exposure_id, encode(released))
        self.waits.pop(item.exposure_id, None)
        log.info("%s: released to %s with the catalog of its direct images (%s)", item.exposure_id, route.stage2,
                 path.name)

    def expired(self) -> list[tuple[str, AssociationError, bytes]]:
        """Remove and return the waits past the deadline: (exposure, the error to dead-letter, the event)."""
        now = time.monotonic()
        out = []
        for root, wait in sorted(self.waits.items()):
            if now - wait.first_seen < self.deadline_s:
                continue
            del self.waits[root]
            exp_type = str(RunSpec.from_dict(wait.item.spec).route.exp_type).upper()
            out.append((root, AssociationError(
                f"{root}: no source catalog from the {DIRECT_IMAGE_TYPES.get(exp_type, 'direct')} images of its "
                f"program and observation after the {self.deadline_s:g} s deadline: calwebb_spec2 of a {exp_type} "
                "exposure needs the calwebb_image3 catalog of its direct images (land them, or an image3 ASN of "
                "them, and the exposure again)"), wait.raw))
        return out
