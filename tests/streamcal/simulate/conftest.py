"""Fixtures of the simulator tests: a reference set for two detectors, written once per session."""

from __future__ import annotations

from pathlib import Path

import pytest

from streamcal.simulate import write_reference_set

#: Detectors whose full reference set the tests write (one NIR, one MIRI).
REF_DETECTORS = ("NRCA3", "MIRIMAGE")


@pytest.fixture(scope="session")
def reference_set(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A reference store (files + manifest) for :data:`REF_DETECTORS` with the default detector seed."""
    root = tmp_path_factory.mktemp("refs")
    write_reference_set(root, detectors=REF_DETECTORS)
    return root
