"""Deterministic JWST file names (``jwst_spec.md`` §7.1).

Exposure-based names::

    jw<ppppp><ooo><vvv>_<gg><s><aa>_<eeeee>[-seg<NNN>]_<detector>_<suffix>.fits

ppppp program, ooo observation, vvv visit, gg visit group, s parallel sequence, aa activity (base 36),
eeeee exposure number, NNN the 1-based segment of a TSO exposure; the detector is lower case.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from streamcal.errors import BadKeywordValueError, MissingKeywordError

__all__ = ["ExposureName", "identity_conflict", "input_root", "product_file", "split_suffix"]

#: The suffixes jwst strips from an input file's name to get the root its products are named after.
_INPUT_SUFFIXES = frozenset({"uncal", "rate", "rateints", "cal", "calints", "ramp", "dark", "trapsfilled", "bsub",
                             "crf", "i2d"})

_NAME_RE = re.compile(
    r"^jw(?P<program>\d{5})(?P<observation>\d{3})(?P<visit>\d{3})"
    r"_(?P<visit_group>\d{2})(?P<parallel_seq>\d)(?P<activity>[0-9a-zA-Z]{2})"
    r"_(?P<exposure>\d{5})(?:-seg(?P<segment>\d{3}))?"
    r"_(?P<detector>[a-z0-9]+)(?:_(?P<suffix>[a-z0-9-]+))?(?:\.fits)?$"
)


def product_file(name: str, suffix: str, extension: str = ".fits") -> str:
    """The file a level-3 product named ``name`` writes for ``suffix``: ``<name>_<suffix><extension>``, or,
    when jwst put a ``{suffix}`` placeholder in the name (WFS&C: ``..._{suffix}-02``), the name with the
    suffix in its place."""
    if "{suffix}" in name:
        return name.replace("{suffix}", suffix) + extension
    return f"{name}_{suffix}{extension}"


def _int_keyword(header: Mapping[str, object], key: str, source: str | None) -> int:
    value = header.get(key)
    if value is None or value == "":
        raise MissingKeywordError(key, source)
    try:
        return int(str(value).strip())
    except ValueError:
        raise BadKeywordValueError(f"{key}={value!r} in {source or 'header'} is not a number") from None


@dataclass(frozen=True, slots=True)
class ExposureName:
    """The identity of one exposure (one detector, one segment) and the names derived from it."""

    program: int
    observation: int
    visit: int
    visit_group: int
    parallel_seq: int
    activity: str
    exposure: int
    detector: str
    segment: int | None = None

    def __post_init__(self) -> None:
        activity = str(self.activity).lower()
        if len(activity) == 1:
            activity = "0" + activity
        object.__setattr__(self, "activity", activity)
        object.__setattr__(self, "detector", self.detector.lower())
        limits = {"program": 99999, "observation": 999, "visit": 999, "visit_group": 99,
                  "parallel_seq": 9, "exposure": 99999}
        for field, limit in limits.items():
            value = getattr(self, field)
            if not 0 <= value <= limit:
                raise BadKeywordValueError(f"{field}={value} does not fit a JWST file name (0..{limit})")
        if not re.fullmatch(r"[0-9a-z]{2}", activity):
            raise BadKeywordValueError(f"activity {self.activity!r} is not two base-36 digits")
        if not re.fullmatch(r"[a-z0-9]+", self.detector):
            raise BadKeywordValueError(f"detector {self.detector!r} cannot be used in a file name")
        if self.segment is not None and not 1 <= self.segment <= 999:
            raise BadKeywordValueError(f"segment {self.segment} is not in 1..999")

    @property
    def root(self) -> str:
        """The name without suffix, e.g. ``jw01234001001_02101_00001_nrca1``."""
        seg = f"-seg{self.segment:03d}" if self.segment is not None else ""
        return (
            f"jw{self.program:05d}{self.observation:03d}{self.visit:03d}"
            f"_{self.visit_group:02d}{self.parallel_seq:d}{self.activity}"
            f"_{self.exposure:05d}{seg}_{self.detector}"
        )

    def filename(self, suffix: str) -> str:
        """``<root>_<suffix>.fits``."""
        return f"{self.root}_{suffix}.fits"

    @classmethod
    def from_header(cls, header: Mapping[str, object], *, source: str | None = None) -> ExposureName:
        """Build the name from PRIMARY keywords (PROGRAM, OBSERVTN, VISIT, VISITGRP, SEQ_ID, ACT_ID,
        EXPOSURE, DETECTOR, and EXSEGNUM when EXSEGTOT > 1).

        Raises
        ------
        MissingKeywordError, BadKeywordValueError
            Not retriable.
        """
        detector = header.get("DETECTOR")
        if not detector:
            raise MissingKeywordError("DETECTOR", source)
        act = header.get("ACT_ID")
        if act is None or act == "":
            raise MissingKeywordError("ACT_ID", source)
        segment = None
        segtot = header.get("EXSEGTOT")
        if segtot not in (None, "") and int(str(segtot)) > 1:
            segment = _int_keyword(header, "EXSEGNUM", source)
        return cls(
            program=_int_keyword(header, "PROGRAM", source),
            observation=_int_keyword(header, "OBSERVTN", source),
            visit=_int_keyword(header, "VISIT", source),
            visit_group=_int_keyword(header, "VISITGRP", source),
            parallel_seq=_int_keyword(header, "SEQ_ID", source),
            activity=str(act).strip(),
            exposure=_int_keyword(header, "EXPOSURE", source),
            detector=str(detector).strip(),
            segment=segment,
        )

    @classmethod
    def parse(cls, name: str | Path) -> ExposureName:
        """Parse a file name (any suffix). Raises ``BadKeywordValueError`` if it is not a JWST name."""
        base = Path(name).name
        match = _NAME_RE.match(base)
        if match is None:
            raise BadKeywordValueError(f"{base!r} is not a JWST exposure file name")
        g = match.groupdict()
        return cls(
            program=int(g["program"]),
            observation=int(g["observation"]),
            visit=int(g["visit"]),
            visit_group=int(g["visit_group"]),
            parallel_seq=int(g["parallel_seq"]),
            activity=g["activity"],
            exposure=int(g["exposure"]),
            detector=g["detector"],
            segment=int(g["segment"]) if g["segment"] else None,
        )


def input_root(name: str | Path) -> str:
    """The root an input file's products are named after, as jwst names them: the file name without ``.fits`` and
    without its ``_<suffix>`` when that is a product suffix (``_uncal``, ``_rate``, ...), else the whole stem.

    ``jw01234001001_02101_00001_nrca1_uncal.fits`` → ``jw01234001001_02101_00001_nrca1``;
    ``jw01019001001_gs-acq1_2022117003102_uncal.fits`` → ``jw01019001001_gs-acq1_2022117003102``.
    """
    stem = Path(name).name
    stem = stem.removesuffix(".fits")
    root, sep, suffix = stem.rpartition("_")
    return root if sep and root and suffix in _INPUT_SUFFIXES else stem


def identity_conflict(name: str | Path, header: Mapping[str, object]) -> str | None:
    """Say so when a file's name and its header's identity (PROGRAM … DETECTOR) name different exposures.

    Products follow the file name (:func:`input_root`), as jwst's do; a header without a full identity (real
    guider files have no VISITGRP/SEQ_ID/ACT_ID/EXPOSURE) is no conflict. Returns the message, or None.
    """
    try:
        from_header = ExposureName.from_header(header).root
    except (MissingKeywordError, BadKeywordValueError, ValueError):
        return None
    root = input_root(name)
    if root == from_header:
        return None
    return (f"{Path(name).name}: the file name says {root!r}, the header says {from_header!r}; its products are "
            f"named after the file")


def split_suffix(name: str | Path) -> tuple[str, str]:
    """Split ``<root>_<suffix>.fits`` into (root, suffix); works for exposure and level-3 names."""
    stem = Path(name).name
    if stem.endswith(".fits"):
        stem = stem[: -len(".fits")]
    root, sep, suffix = stem.rpartition("_")
    if not sep:
        raise BadKeywordValueError(f"{Path(name).name!r} has no _<suffix>")
    return root, suffix
