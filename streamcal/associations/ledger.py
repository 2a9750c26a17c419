"""Which declared associations are complete: members by name, done or not (pure bookkeeping, no I/O).

An association whose members are known in advance — an upstream ASN file, or one generated from a pool
(:mod:`streamcal.associations.generator`) — is complete exactly when the stage-2 product of its last member
exists. The ledger holds the declared associations under their keys, indexes them by member file name (an
exposure can belong to several: its observation's and a cross-observation candidate's), and answers, as
each member is done, which associations that member completed.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from streamcal.associations.model import Asn

__all__ = ["Ledger", "member_names"]


def member_names(asn: Asn) -> tuple[str, ...]:
    """Every member file name of an association, in product and member order, without repeats."""
    return tuple(dict.fromkeys(m.expname for p in asn.products for m in p.members))


@dataclass(slots=True)
class Ledger:
    """Declared associations and their members' progress."""

    _asns: dict[str, Asn] = field(default_factory=dict)
    _waiting: dict[str, set[str]] = field(default_factory=dict)
    _by_member: dict[str, set[str]] = field(default_factory=dict)
    _done: set[str] = field(default_factory=set)

    def __contains__(self, key: object) -> bool:
        return key in self._asns

    def __len__(self) -> int:
        return len(self._asns)

    def keys(self) -> list[str]:
        """The declared keys, sorted."""
        return sorted(self._asns)

    def asn(self, key: str) -> Asn:
        """The association declared under ``key`` (KeyError if none)."""
        return self._asns[key]

    def declare(self, key: str, asn: Asn, *, done: Iterable[str] = ()) -> bool:
        """Declare (or re-declare) an association; ``done`` names members already finished. Return whether it
        is complete now."""
        self.forget(key)
        names = member_names(asn)
        self._done.update(done)
        self._asns[key] = asn
        self._waiting[key] = {n for n in names if n not in self._done}
        for name in names:
            self._by_member.setdefault(name, set()).add(key)
        return not self._waiting[key]

    def is_member(self, name: str) -> bool:
        """Whether any declared association lists this member file."""
        return bool(self._by_member.get(name))

    def keys_of(self, name: str) -> list[str]:
        """The keys of the associations listing a member file, sorted."""
        return sorted(self._by_member.get(name, ()))

    def done(self, name: str) -> list[str]:
        """Record a member as done; return the keys it completed (sorted), none if it completed nothing new.

        A member no association lists yet is remembered, so an association declared later counts it.
        """
        self._done.add(name)
        completed = []
        for key in sorted(self._by_member.get(name, ())):
            waiting = self._waiting[key]
            if name in waiting:
                waiting.discard(name)
                if not waiting:
                    completed.append(key)
        return completed

    def missing(self, key: str) -> list[str]:
        """The members of ``key`` not done yet, in member order."""
        waiting = self._waiting[key]
        return [n for n in member_names(self._asns[key]) if n in waiting]

    def is_complete(self, key: str) -> bool:
        """Whether every member of ``key`` is done."""
        return not self._waiting[key]

    def forget(self, key: str) -> None:
        """Drop an association (its members' done state is kept)."""
        asn = self._asns.pop(key, None)
        self._waiting.pop(key, None)
        if asn is None:
            return
        for name in member_names(asn):
            keys = self._by_member.get(name)
            if keys is not None:
                keys.discard(key)
                if not keys:
                    del self._by_member[name]
