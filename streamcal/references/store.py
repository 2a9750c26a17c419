"""Offline reference selection, CRDS-style, from a folder with a manifest.

Selection for one reftype and one exposure:

1. candidates are the manifest entries of that reftype whose every selector equals the exposure's keyword
   (case-insensitive). A ``SUBARRAY=FULL`` reference also serves subarray exposures, which are then cut out.
2. entries whose USEAFTER is after the exposure start (DATE-OBS + TIME-OBS, else EXPSTART) are dropped;
3. the most specific entry (most selectors matched; an exact SUBARRAY beats a FULL cut-out) wins, and among
   equally specific ones the latest USEAFTER.

Arrays are read once per store, cut to the exposure's subarray (SUBSTRT1/2, SUBSIZE1/2, 1-based), and marked
read-only, so a kernel that tries to modify a reference fails loudly instead of corrupting the next exposure.
Deviation from jwst: darks are cut out of a full-frame dark when no dark matches the subarray (jwst requires
a matching subarray dark).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

import numpy as np

from streamcal.datamodels import read_extensions, read_header
from streamcal.errors import MissingReferenceError, ReferenceUnavailableError
from streamcal.references.manifest import SELECTOR_KEYS, Manifest, ManifestEntry, RefType

__all__ = ["ReferenceFile", "ReferenceStore", "References", "exposure_start"]

_EXTENSIONS: dict[RefType, tuple[str, ...]] = {
    RefType.MASK: ("DQ",),
    RefType.SATURATION: ("SCI", "DQ"),
    RefType.SUPERBIAS: ("SCI", "ERR", "DQ"),
    RefType.READNOISE: ("SCI",),
    RefType.GAIN: ("SCI",),
    RefType.LINEARITY: ("COEFFS", "DQ"),
    RefType.DARK: ("SCI", "DQ"),
    RefType.FLAT: ("SCI", "ERR", "DQ"),
    RefType.PHOTOM: ("PHOTOM",),
    RefType.AREA: ("SCI",),
}
_MJD0 = datetime(1858, 11, 17)


def exposure_start(header: Mapping[str, object]) -> datetime | None:
    """The exposure start from DATE-OBS/TIME-OBS, else EXPSTART (MJD); ``None`` if neither is usable."""
    date, time = header.get("DATE-OBS"), header.get("TIME-OBS")
    if date:
        try:
            return datetime.fromisoformat(f"{date}T{time or '00:00:00'}")
        except ValueError:
            pass
    mjd = header.get("EXPSTART")
    try:
        return _MJD0 + timedelta(days=float(mjd))  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None


def _norm(value: object) -> str:
    return str(value).strip().upper()


@dataclass(frozen=True, slots=True)
class ReferenceFile:
    """One selected reference: where it came from, its primary header, read-only arrays cut to the exposure."""

    reftype: RefType
    path: Path
    header: dict[str, object]
    arrays: dict[str, np.ndarray]

    @property
    def name(self) -> str:
        """The file name, as recorded in R_* provenance keywords."""
        return self.path.name

    def __getitem__(self, ext: str) -> np.ndarray:
        return self.arrays[ext]


def _window(header: Mapping[str, object], ref_header: Mapping[str, object], shape: tuple[int, ...],
            entry: ManifestEntry) -> tuple[slice, slice] | None:
    """The (rows, cols) cut of a reference for the exposure, or ``None`` when no cut is needed."""
    try:
        sx, sy = int(header["SUBSTRT1"]), int(header["SUBSTRT2"])  # type: ignore[call-overload]
        nx, ny = int(header["SUBSIZE1"]), int(header["SUBSIZE2"])  # type: ignore[call-overload]
    except (KeyError, TypeError, ValueError):
        return None
    rx = int(ref_header.get("SUBSTRT1", 1) or 1)  # type: ignore[call-overload]
    ry = int(ref_header.get("SUBSTRT2", 1) or 1)  # type: ignore[call-overload]
    x0, y0 = sx - rx, sy - ry
    if (y0, x0) == (0, 0) and shape[-2:] == (ny, nx):
        return None
    if x0 < 0 or y0 < 0 or y0 + ny > shape[-2] or x0 + nx > shape[-1]:
        raise MissingReferenceError(
            f"{entry.reftype} reference {entry.filename} ({shape[-2]}x{shape[-1]} at SUBSTRT {rx},{ry}) does not "
            f"cover the subarray {ny}x{nx} at SUBSTRT {sx},{sy}"
        )
    return slice(y0, y0 + ny), slice(x0, x0 + nx)


@dataclass
class ReferenceStore:
    """A folder of reference files with a manifest; arrays are cached on the instance, read-only."""

    root: Path
    manifest: Manifest
    _cache: dict[tuple[str, tuple[int, int, int, int] | None], ReferenceFile] = field(default_factory=dict)

    @classmethod
    def open(cls, root: str | os.PathLike[str]) -> ReferenceStore:
        """Load ``<root>/manifest.json``; raises ``ConfigError`` if it is missing or invalid."""
        path = Path(root)
        return cls(path, Manifest.load(path))

    def _matches(self, entry: ManifestEntry, header: Mapping[str, object]) -> int | None:
        """Specificity of a match (higher is more specific), or ``None`` for no match."""
        score = 0
        for key, want in entry.selectors.items():
            have = header.get(key)
            if have is not None and _norm(have) == want:
                score += 2
            elif key == "SUBARRAY" and want == "FULL":
                score += 1  # a full-frame reference serves any subarray by cut-out
            else:
                return None
        return score

    def select(self, reftype: RefType, header: Mapping[str, object]) -> ManifestEntry:
        """The entry that serves this exposure (rules in the module docstring).

        Raises
        ------
        MissingReferenceError
            Nothing matches; the message names the reftype and the selector values asked for. Not retriable.
        """
        start = exposure_start(header)
        best: tuple[int, datetime, ManifestEntry] | None = None
        for entry in self.manifest.entries:
            if entry.reftype != reftype:
                continue
            score = self._matches(entry, header)
            if score is None or (start is not None and entry.useafter > start):
                continue
            if best is None or (score, entry.useafter) > (best[0], best[1]):
                best = (score, entry.useafter, entry)
        if best is None:
            asked = ", ".join(f"{k}={header.get(k)}" for k in SELECTOR_KEYS if header.get(k) not in (None, ""))
            when = f", start {start:%Y-%m-%dT%H:%M:%S}" if start else ""
            raise MissingReferenceError(f"no {reftype} reference in {self.root} for {asked}{when}")
        return best[2]

    def load(self, reftype: RefType, header: Mapping[str, object]) -> ReferenceFile:
        """Select, read (once per store) and cut the reference for this exposure.

        Raises
        ------
        MissingReferenceError
            Not retriable.
        ReferenceUnavailableError
            The selected file cannot be read now. Retriable.
        """
        entry = self.select(reftype, header)
        path = self.root / entry.filename
        full = self._read(entry, path)
        shape = next((a.shape for a in full.arrays.values() if a.dtype.names is None), None)
        window = _window(header, full.header, shape, entry) if shape else None
        if window is None:
            return full
        key = (entry.filename, (window[0].start, window[0].stop, window[1].start, window[1].stop))
        if key not in self._cache:
            arrays = {}
            for ext, data in full.arrays.items():
                cut = data if data.dtype.names is not None or data.ndim < 2 else data[..., window[0], window[1]]
                arrays[ext] = _readonly(np.ascontiguousarray(cut))
            self._cache[key] = ReferenceFile(reftype, path, full.header, arrays)
        return self._cache[key]

    def _read(self, entry: ManifestEntry, path: Path) -> ReferenceFile:
        key = (entry.filename, None)
        if key not in self._cache:
            try:
                arrays = read_extensions(path, _EXTENSIONS[entry.reftype])
                header = read_header(path)
            except (FileNotFoundError, PermissionError) as exc:
                raise ReferenceUnavailableError(f"{entry.reftype} reference {path} cannot be read: {exc}") from exc
            if not arrays:
                wanted = _EXTENSIONS[entry.reftype]
                raise MissingReferenceError(f"{entry.reftype} reference {path} has none of the extensions {wanted}")
            self._cache[key] = ReferenceFile(entry.reftype, path, header,
                                             {k: _readonly(v) for k, v in arrays.items()})
        return self._cache[key]

    def for_exposure(self, header: Mapping[str, object]) -> References:
        """A view bound to one exposure, for steps: ``refs.require(RefType.GAIN)``."""
        return References(self, header)


def _readonly(array: np.ndarray) -> np.ndarray:
    array.setflags(write=False)
    return array


@dataclass(frozen=True)
class References:
    """The references of one exposure, loaded lazily as steps ask for them."""

    store: ReferenceStore
    header: Mapping[str, object]

    def require(self, reftype: RefType) -> ReferenceFile:
        """The reference, or ``MissingReferenceError`` naming what was asked for."""
        return self.store.load(reftype, self.header)

    def get(self, reftype: RefType) -> ReferenceFile | None:
        """The reference, or ``None`` when the store has none for this exposure (the step is skipped)."""
        try:
            return self.store.load(reftype, self.header)
        except MissingReferenceError:
            return None
