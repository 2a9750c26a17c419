"""Offline reference store: a folder of reference files plus a manifest, selected CRDS-style."""

from __future__ import annotations

from streamcal.references.manifest import (
    MANIFEST_NAME,
    SELECTOR_KEYS,
    Manifest,
    ManifestEntry,
    ReferenceSetWriter,
    RefType,
)
from streamcal.references.store import ReferenceFile, References, ReferenceStore, exposure_start

__all__ = [
    "MANIFEST_NAME",
    "SELECTOR_KEYS",
    "Manifest",
    "ManifestEntry",
    "RefType",
    "ReferenceFile",
    "ReferenceSetWriter",
    "ReferenceStore",
    "References",
    "exposure_start",
]
