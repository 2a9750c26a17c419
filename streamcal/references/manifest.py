"""The reference-store manifest: which file serves which reftype for which exposures.

``<root>/manifest.json``::

    {"format": "streamcal-references", "version": 1,
     "entries": [{"reftype": "gain", "filename": "jwst_nircam_gain_nrca1.fits",
                  "selectors": {"INSTRUME": "NIRCAM", "DETECTOR": "NRCA1"},
                  "useafter": "2022-01-01T00:00:00"}, ...]}

A selector a file does not name matches any exposure. Selector keys are the CRDS ones we support:
INSTRUME, DETECTOR, EXP_TYPE, READPATT, SUBARRAY, FILTER, PUPIL, GRATING (NIRSpec), BAND (MIRI MRS).
"""

from __future__ import annotations

import enum
import json
import os
from collections.abc import Mapping, Sequence
from datetime import datetime
from pathlib import Path
from types import TracebackType

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from streamcal.datamodels import Extension, atomic_path, write_fits
from streamcal.errors import ConfigError

__all__ = [
    "JWST_MODELS", "MANIFEST_NAME", "SELECTOR_KEYS", "Manifest", "ManifestEntry", "RefType", "ReferenceSetWriter",
]

MANIFEST_NAME = "manifest.json"
SELECTOR_KEYS = ("INSTRUME", "DETECTOR", "EXP_TYPE", "READPATT", "SUBARRAY", "FILTER", "PUPIL", "GRATING", "BAND")


class RefType(enum.StrEnum):
    """CRDS reference types used by the pipelines (lower case, as CRDS spells them)."""

    MASK = "mask"
    SATURATION = "saturation"
    SUPERBIAS = "superbias"
    READNOISE = "readnoise"
    GAIN = "gain"
    LINEARITY = "linearity"
    DARK = "dark"
    FLAT = "flat"
    PHOTOM = "photom"
    AREA = "area"
    APCORR = "apcorr"
    SPECWCS = "specwcs"  # a single-trace layout (streamcal.models.spectral) or an IFU slicer (models.ifu)
    PATHLOSS = "pathloss"  # slit loss against wavelength and source position (streamcal.models.pathloss)

    @property
    def keyword(self) -> str:
        """The R_* provenance keyword jwst writes for this reftype (R_GAIN, R_READNO, ...)."""
        return "R_" + {"saturation": "SATURA", "superbias": "SUPERB", "readnoise": "READNO",
                       "linearity": "LINEAR", "photom": "PHOTOM",
                       "specwcs": "SPCWCS", "pathloss": "PTHLOS"}.get(self.value, self.value.upper())


#: The stdatamodels class of each reference type whose layout is jwst's (issue 14): its DATAMODL, so that
#: stdatamodels opens the file as that model. Photom, apcorr and specwcs files have streamcal's own tables.
JWST_MODELS: dict[RefType, str] = {
    RefType.MASK: "MaskModel", RefType.SATURATION: "SaturationModel", RefType.SUPERBIAS: "SuperBiasModel",
    RefType.READNOISE: "ReadnoiseModel", RefType.GAIN: "GainModel", RefType.LINEARITY: "LinearityModel",
    RefType.DARK: "DarkModel", RefType.FLAT: "FlatModel", RefType.AREA: "PixelAreaModel",
}


class ManifestEntry(BaseModel):
    """One reference file and the exposures it serves."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    reftype: RefType
    filename: str
    selectors: dict[str, str] = Field(default_factory=dict)
    useafter: datetime

    @field_validator("selectors")
    @classmethod
    def _known_selectors(cls, value: dict[str, str]) -> dict[str, str]:
        unknown = set(value) - set(SELECTOR_KEYS)
        if unknown:
            raise ValueError(f"unknown selector keys {sorted(unknown)}; known: {list(SELECTOR_KEYS)}")
        return {k: str(v).strip().upper() for k, v in value.items()}

    @field_validator("filename")
    @classmethod
    def _plain_name(cls, value: str) -> str:
        if Path(value).name != value:
            raise ValueError(f"filename {value!r} must be a bare name inside the store folder")
        return value


class Manifest(BaseModel):
    """All entries of one store."""

    model_config = ConfigDict(extra="forbid")

    format: str = "streamcal-references"
    version: int = 1
    entries: list[ManifestEntry] = Field(default_factory=list)

    @classmethod
    def load(cls, root: str | os.PathLike[str]) -> Manifest:
        """Read and validate ``<root>/manifest.json``.

        Raises
        ------
        ConfigError
            The manifest is missing or invalid; names the file and the problem. Not retriable.
        """
        path = Path(root) / MANIFEST_NAME
        try:
            text = path.read_text()
        except FileNotFoundError:
            raise ConfigError(f"no reference manifest at {path} (create one with `streamcal simulate`)") from None
        try:
            manifest = cls.model_validate(json.loads(text))
        except (ValueError, ValidationError) as exc:
            raise ConfigError(f"invalid reference manifest {path}: {exc}") from exc
        if manifest.format != "streamcal-references" or manifest.version != 1:
            raise ConfigError(f"{path}: unsupported manifest format {manifest.format!r} v{manifest.version}")
        return manifest

    def write(self, root: str | os.PathLike[str]) -> Path:
        """Write the manifest atomically; entries sorted for stable diffs."""
        path = Path(root) / MANIFEST_NAME
        entries = sorted(self.entries, key=lambda e: (e.reftype.value, e.filename, e.useafter))
        body = Manifest(entries=entries).model_dump(mode="json")
        with atomic_path(path) as tmp:
            tmp.write_text(json.dumps(body, indent=1) + "\n")
        return path


class ReferenceSetWriter:
    """Writes reference files into a store folder and, on exit, the manifest (merged with an existing one).

    ``with ReferenceSetWriter(root) as w: w.add(RefType.GAIN, "gain_nrca1.fits", selectors=..., ...)``
    """

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(root)
        self._entries: list[ManifestEntry] = []

    def add(
        self,
        reftype: RefType,
        filename: str,
        *,
        selectors: Mapping[str, str],
        useafter: str,
        primary: Mapping[str, object],
        extensions: Sequence[Extension],
    ) -> ManifestEntry:
        """Write one reference file (REFTYPE and USEAFTER added to its primary header) and record it."""
        entry = ManifestEntry(reftype=reftype, filename=filename, selectors=dict(selectors),
                              useafter=datetime.fromisoformat(useafter))
        head = {**primary, "REFTYPE": reftype.value.upper(), "USEAFTER": useafter,
                **{k: v for k, v in entry.selectors.items() if k not in primary}}
        if reftype in JWST_MODELS:
            head.setdefault("DATAMODL", JWST_MODELS[reftype])
        write_fits(self.root / filename, primary=head, extensions=extensions)
        self._entries.append(entry)
        return entry

    def close(self) -> Path:
        """Merge the new entries into ``manifest.json`` (a re-added filename replaces its old entry)."""
        existing: list[ManifestEntry] = []
        if (self.root / MANIFEST_NAME).exists():
            existing = Manifest.load(self.root).entries
        names = {e.filename for e in self._entries}
        merged = [e for e in existing if e.filename not in names] + self._entries
        return Manifest(entries=merged).write(self.root)

    def __enter__(self) -> ReferenceSetWriter:
        self.root.mkdir(parents=True, exist_ok=True)
        return self

    def __exit__(self, et: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None) -> None:
        if et is None:
            self.close()
