"""Shared fixtures: small, hand-made raw exposures (the simulator has its own tests)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, settings

from streamcal.datamodels import ExposureName, write_raw
from tests.reliability.accounting import REPORT_KEY

# Timing-based health checks and deadlines flake on a loaded 2-core machine; the properties stay the same.
settings.register_profile("streamcal", deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.load_profile("streamcal")


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter, config: pytest.Config) -> None:
    """Where the files that landed ended, per reliability test (tests/reliability/accounting.py)."""
    rows = config.stash.get(REPORT_KEY, [])
    if rows:
        terminalreporter.section("nothing lost: where the files that landed ended")
        for nodeid, accounting in rows:
            terminalreporter.write_line(f"{nodeid}: {accounting.line()}")


def raw_primary(**overrides: object) -> dict[str, object]:
    """A minimal, realistic PRIMARY header of a NIRCam imaging subarray exposure."""
    header: dict[str, object] = {
        "TELESCOP": "JWST", "INSTRUME": "NIRCAM", "DETECTOR": "NRCA1", "EXP_TYPE": "NRC_IMAGE",
        "TSOVISIT": False, "READPATT": "RAPID", "NINTS": 2, "NGROUPS": 4, "NFRAMES": 1, "GROUPGAP": 0,
        "TFRAME": 0.0494, "TGROUP": 0.0494, "SUBARRAY": "SUB64P", "SUBSTRT1": 1, "SUBSTRT2": 1,
        "SUBSIZE1": 20, "SUBSIZE2": 16, "FILTER": "F200W", "PUPIL": "CLEAR", "PROGRAM": "01234",
        "OBSERVTN": "001", "VISIT": "001", "VISITGRP": "02", "SEQ_ID": "1", "ACT_ID": "01",
        "EXPOSURE": "00001", "DATE-OBS": "2024-03-01", "TIME-OBS": "12:00:00.000", "EXPSTART": 60370.5,
    }
    header.update(overrides)
    return header


@pytest.fixture
def make_raw(tmp_path: Path):
    """Write a raw exposure with a known ramp; returns (path, data)."""

    def make(shape=(2, 4, 16, 20), **overrides: object) -> tuple[Path, np.ndarray]:
        nints, ngroups = shape[0], shape[1]
        primary = raw_primary(NINTS=nints, NGROUPS=ngroups, SUBSIZE2=shape[2], SUBSIZE1=shape[3], **overrides)
        rng = np.random.default_rng(7)
        data = rng.integers(1000, 60000, size=shape, dtype=np.uint16)
        name = ExposureName.from_header(primary).filename("uncal")
        path = write_raw(tmp_path / name, primary=primary,
                         sci_header={"RA_REF": 80.5, "DEC_REF": -69.5, "ROLL_REF": 12.0, "V3I_YANG": -0.56,
                                     "VPARITY": -1}, data=data)
        return path, data

    return make
