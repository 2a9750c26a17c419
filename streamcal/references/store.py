"""Offline reference selection, CRDS-style, from a folder with a manifest.

Selection for one reftype and one exposure:

1. candidates are the manifest entries of that reftype whose every selector equals the exposure's keyword
   (case-insensitive). A ``SUBARRAY=FULL`` reference also serves subarray exposures, which are then cut out.
2. entries whose USEAFTER is after the exposure start (DATE-OBS + TIME-OBS, else EXPSTART) are dropped;
3. the most specific entry (most selectors matched; an exact SUBARRAY beats a FULL cut-out) wins, and among
   equally specific ones the latest USEAFTER — unless its pixels do not cover the exposure's subarray (a
   subarray reference placed elsewhere on the detector): then the next one that does, in that order, usually
   the full-frame reference cut out.

Arrays are read once per store, cut to the exposure's subarray (SUBSTRT1/2, SUBSIZE1/2, 1-based), and marked
read-only, so a kernel that tries to modify a reference fails loudly instead of corrupting the next exposure.
Deviation from jwst: darks are cut out of a full-frame dark when no dark matches the subarray (jwst requires
a matching subarray dark).
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

import numpy as np

from streamcal.datamodels import read_extensions, read_header, read_section
from streamcal.errors import CorruptFileError, MissingReferenceError, ReferenceUnavailableError
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
    RefType.APCORR: ("APCORR",),
    # a trace, an IFU slicer (models.ifu), the MSA (models.msa), a WFSS grism's orders (models.grism)
    RefType.SPECWCS: ("SPECWCS", "IFUSLICES", "MSAQUADS", "GRISMCONF", "FSSLITS"),
    RefType.PATHLOSS: ("PATHLOSS",),  # a row per aperture (streamcal.models.pathloss)
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


class ReferenceFile:
    """One selected reference for one exposure: its file, primary header, and arrays cut to the exposure.

    ``arrays`` (and ``ref[ext]``) load every extension once, read-only — convenient for small files.
    :meth:`read` reads only some rows (and columns) straight from the file, so stage 1 can stream large
    references (darks, linearity cubes) block by block without holding them.
    """

    __slots__ = ("_arrays", "_store_cache", "header", "path", "reftype", "window")

    def __init__(self, reftype: RefType, path: Path, header: dict[str, object],
                 window: tuple[slice, slice] | None, store_cache: dict[Path, dict[str, np.ndarray]]) -> None:
        self.reftype = reftype
        self.path = path
        self.header = header
        self.window = window
        self._store_cache = store_cache
        self._arrays: dict[str, np.ndarray] | None = None

    @property
    def name(self) -> str:
        """The file name, as recorded in R_* provenance keywords."""
        return self.path.name

    @property
    def arrays(self) -> dict[str, np.ndarray]:
        """Every extension, cut to the exposure, read-only (loaded on first use, shared by the store)."""
        if self._arrays is None:
            full = self._store_cache.get(self.path)
            if full is None:
                full = _read_all(self.reftype, self.path)
                self._store_cache[self.path] = full
            if self.window is None:
                self._arrays = full
            else:
                rows, cols = self.window
                self._arrays = {ext: a if a.dtype.names is not None or a.ndim < 2
                                else _readonly(np.ascontiguousarray(a[..., rows, cols])) for ext, a in full.items()}
        return self._arrays

    def __getitem__(self, ext: str) -> np.ndarray:
        return self.arrays[ext]

    def read(self, ext: str, rows: slice, cols: slice | np.ndarray | None = None) -> np.ndarray:
        """Rows ``rows`` (and columns ``cols``: a slice or indices) of an image extension, in exposure
        coordinates.

        Reads from the cache if the arrays are already loaded, else only those bytes from the file.
        Raises ``ReferenceUnavailableError`` (retriable) if the file cannot be read.
        """
        if self._arrays is not None or self.path in self._store_cache:
            data = self.arrays[ext][..., rows, :]
            return data if cols is None else data[..., cols]
        y0, x0, nx = 0, 0, None
        if self.window is not None:
            y0, x0, nx = self.window[0].start, self.window[1].start, self.window[1].stop - self.window[1].start
        start = y0 + (rows.start or 0)
        stop = y0 + (rows.stop if rows.stop is not None else self.window[0].stop - y0 if self.window else 10**9)
        col_index: slice | np.ndarray
        if cols is None or (isinstance(cols, slice) and cols == slice(None)):
            col_index = slice(x0, None if nx is None else x0 + nx)
        elif isinstance(cols, slice):
            col_index = slice(x0 + (cols.start or 0), x0 + cols.stop if cols.stop is not None else
                              (None if nx is None else x0 + nx))
        else:
            col_index = cols + x0
        try:
            data = read_section(self.path, ext, (Ellipsis, slice(start, stop), col_index))
        except (FileNotFoundError, PermissionError) as exc:
            raise ReferenceUnavailableError(f"{self.reftype} reference {self.path} cannot be read: {exc}") from exc
        return _readonly(data)


def _read_all(reftype: RefType, path: Path) -> dict[str, np.ndarray]:
    try:
        arrays = read_extensions(path, _EXTENSIONS[reftype])
    except (FileNotFoundError, PermissionError) as exc:
        raise ReferenceUnavailableError(f"{reftype} reference {path} cannot be read: {exc}") from exc
    if not arrays:
        raise MissingReferenceError(f"{reftype} reference {path} has none of the extensions {_EXTENSIONS[reftype]}")
    return {k: _readonly(v) for k, v in arrays.items()}


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
    _files: dict[tuple[str, tuple[int, int, int, int] | None], ReferenceFile] = field(default_factory=dict)
    _arrays: dict[Path, dict[str, np.ndarray]] = field(default_factory=dict)
    _headers: dict[Path, tuple[dict[str, object], tuple[int, ...] | None]] = field(default_factory=dict)

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

    def candidates(self, reftype: RefType, header: Mapping[str, object]) -> list[ManifestEntry]:
        """The entries that may serve this exposure, best first (rules in the module docstring).

        Raises
        ------
        MissingReferenceError
            Nothing matches; the message names the reftype and the selector values asked for. Not retriable.
        """
        start = exposure_start(header)
        ranked: list[tuple[int, datetime, ManifestEntry]] = []
        for entry in self.manifest.entries:
            if entry.reftype != reftype:
                continue
            score = self._matches(entry, header)
            if score is None or (start is not None and entry.useafter > start):
                continue
            ranked.append((score, entry.useafter, entry))
        if not ranked:
            asked = ", ".join(f"{k}={header.get(k)}" for k in SELECTOR_KEYS if header.get(k) not in (None, ""))
            when = f", start {start:%Y-%m-%dT%H:%M:%S}" if start else ""
            raise MissingReferenceError(f"no {reftype} reference in {self.root} for {asked}{when}")
        ranked.sort(key=lambda r: (r[0], r[1]), reverse=True)
        return [entry for _, _, entry in ranked]

    def select(self, reftype: RefType, header: Mapping[str, object]) -> ManifestEntry:
        """The best-matching entry for this exposure (before checking it covers the exposure's pixels).

        Raises
        ------
        MissingReferenceError
            Nothing matches. Not retriable.
        """
        return self.candidates(reftype, header)[0]

    def load(self, reftype: RefType, header: Mapping[str, object]) -> ReferenceFile:
        """Select the reference for this exposure and describe its cut; arrays are read lazily.

        The best-matching entry whose pixels cover the exposure's subarray wins: a subarray reference placed
        elsewhere on the detector gives way to the full-frame one, cut out.

        Raises
        ------
        MissingReferenceError
            Nothing matches, or nothing that matches covers the subarray (the message names each one tried).
            Not retriable.
        ReferenceUnavailableError
            The selected file cannot be read now. Retriable.
        """
        uncovered: list[str] = []
        for entry in self.candidates(reftype, header):
            path = self.root / entry.filename
            ref_header, shape = self._describe(entry, path)
            try:
                window = _window(header, ref_header, shape, entry) if shape else None
            except MissingReferenceError as exc:
                uncovered.append(str(exc))
                continue
            key = (entry.filename, None if window is None else
                   (window[0].start, window[0].stop, window[1].start, window[1].stop))
            if key not in self._files:
                self._files[key] = ReferenceFile(reftype, path, ref_header, window, self._arrays)
            return self._files[key]
        raise MissingReferenceError("; ".join(uncovered))

    def _describe(self, entry: ManifestEntry, path: Path) -> tuple[dict[str, object], tuple[int, ...] | None]:
        """Primary header and image shape of a reference file (headers only, cached)."""
        if path not in self._headers:
            try:
                header = read_header(path)
                shape = None
                for ext in _EXTENSIONS[entry.reftype]:
                    with contextlib.suppress(CorruptFileError):
                        ext_header = read_header(path, ext)
                        if int(ext_header.get("NAXIS", 0)) >= 2 and "TFIELDS" not in ext_header:  # type: ignore[call-overload]
                            naxis = int(ext_header["NAXIS"])  # type: ignore[call-overload]
                            shape = tuple(int(ext_header[f"NAXIS{naxis - i}"]) for i in range(naxis))  # type: ignore[call-overload]
                            break
            except (FileNotFoundError, PermissionError) as exc:
                raise ReferenceUnavailableError(f"{entry.reftype} reference {path} cannot be read: {exc}") from exc
            self._headers[path] = (header, shape)
        return self._headers[path]

    def for_exposure(self, header: Mapping[str, object]) -> References:
        """A view bound to one exposure, for steps: ``refs.require(RefType.GAIN)``."""
        return References(self, header)


def _readonly(array: np.ndarray) -> np.ndarray:
    array.setflags(write=False)
    return array


@dataclass(frozen=True)
class References:
    """The references of one exposure, loaded lazily as steps ask for them.

    Each reftype is selected once per exposure (a step asks on every tile; the selection scans the
    manifest), and a missing one is remembered as missing.
    """

    store: ReferenceStore
    header: Mapping[str, object]
    _selected: dict[RefType, ReferenceFile | str] = field(default_factory=dict, repr=False)

    def require(self, reftype: RefType) -> ReferenceFile:
        """The reference, or ``MissingReferenceError`` naming what was asked for."""
        found = self._selected.get(reftype)
        if found is None:
            try:
                found = self.store.load(reftype, self.header)
            except MissingReferenceError as exc:
                found = str(exc)  # the message: a fresh error each time, not one growing traceback
            self._selected[reftype] = found
        if isinstance(found, str):
            raise MissingReferenceError(found)
        return found

    def get(self, reftype: RefType) -> ReferenceFile | None:
        """The reference, or ``None`` when the store has none for this exposure (the step is skipped)."""
        try:
            return self.require(reftype)
        except MissingReferenceError:
            return None
