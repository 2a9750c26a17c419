"""Fixtures of the service tests: one simulated program per session, copied into each test's ingest folder."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.services.support import Program, make_program


@pytest.fixture(scope="session")
def program(tmp_path_factory: pytest.TempPathFactory) -> Program:
    """The demo program plus AMI (imaging dither, TSO, coron, AMI, WFS&C, darks, guider, spectroscopy)."""
    return make_program(tmp_path_factory.mktemp("program"))


@pytest.fixture
def ingest(tmp_path: Path) -> Path:
    """An empty ingest folder."""
    path = tmp_path / "ingest"
    path.mkdir()
    return path
