"""The ``streamcal run`` and ``streamcal deadletters`` commands (services/commands.py, services/cli.py)."""

from __future__ import annotations

import io
import json
import os
import re
import shutil

import pytest

from services.cli import main
from streamcal.simulate import write_reference_set
from tests.services.support import land

FAST = ["--poll-interval", "0.1", "--concurrency", "1"]


@pytest.fixture
def no_env(monkeypatch):
    """The commands read STREAMCAL_* variables: make sure none leaks in from the developer's shell."""
    for key in [k for k in os.environ if k.startswith("STREAMCAL_")]:
        monkeypatch.delenv(key)


@pytest.mark.slow
def test_run_reports_dead_letters_and_replay_recovers_them(program, tmp_path, no_env):
    """1. `streamcal run --until-idle` on darks and guider exposures with no guider references: the darks
    are calibrated, the three guider exposures are reference_missing dead letters, and the summary says so.
    2. `streamcal deadletters list` shows them; `replay` queues them; once the references exist the next
    `streamcal run` republishes them and they complete; nothing is left."""
    ingest, products, refs = tmp_path / "ingest", tmp_path / "products", tmp_path / "refs"
    land(program.files("jw01234006", "jw01234007"), ingest)
    write_reference_set(refs, only=[("NRCA3", "SUB64P"), ("MIRIMAGE", "SUB64")])
    args = ["run", "--ingest", str(ingest), "--products", str(products), "--refs", str(refs), "--until-idle", "1",
            *FAST]
    out = io.StringIO()
    assert main(args, out=out) == 0
    summary = out.getvalue()
    assert "dead letters: 3" in summary and "reference_missing" in summary
    assert re.search(r"calwebb_dark +2 +2 +0", summary) and "saw 5 files: 5 arrived, 0 skipped" in summary
    assert "arrived: 2 processed, 3 dead-lettered, 0 waiting" in summary
    listed = io.StringIO()
    assert main(["deadletters", "list", "--products", str(products)], out=listed) == 0
    lines = listed.getvalue().splitlines()
    assert len(lines) == 4 and lines[-1].startswith("3 dead letter(s)")
    assert {json.loads(line)["reason"] for line in lines[:3]} == {"reference_missing"}
    assert main(["deadletters", "replay", "--products", str(products), "--reason", "reference_missing"],
                out=io.StringIO()) == 0
    shutil.rmtree(refs)
    shutil.copytree(program.refs, refs)
    out = io.StringIO()
    assert main(args, out=out) == 0
    assert "dead letters: 0" in out.getvalue()
    assert len(list(products.glob("*_guider1_cal.fits"))) == 3
    listed = io.StringIO()
    main(["deadletters", "list", "--products", str(products)], out=listed)
    assert listed.getvalue().strip() == f"0 dead letter(s) in {products / 'deadletter'}"


def test_serve_and_run_fail_fast_on_bad_configuration(tmp_path, no_env, monkeypatch, capsys):
    """3. A worker without --pipeline, an unimplemented pipeline, a missing folder and a typo in a
    STREAMCAL_* variable are startup errors (exit 2, a clear message), never a running-but-broken service."""
    base = ["--products", str(tmp_path / "p"), "--refs", str(tmp_path)]
    assert main(["serve", "worker", *base]) == 2
    assert "needs --pipeline" in capsys.readouterr().err
    assert main(["serve", "worker", "--pipeline", "calwebb_nonesuch", *base]) == 2  # calwebb_ami3 before issue 12
    assert "no implementation of calwebb_nonesuch" in capsys.readouterr().err
    assert main(["serve", "worker", "--pipeline", "calwebb_detector1", *base]) == 2  # stage 1 reads the ingest
    assert "calwebb_detector1 read raw files from the ingest folder" in capsys.readouterr().err
    assert main(["run", "--products", str(tmp_path / "p"), "--refs", str(tmp_path)]) == 2
    assert "ingest_dir is not set" in capsys.readouterr().err
    monkeypatch.setenv("STREAMCAL_PARTITION", "3")
    assert main(["deadletters", "list", "--products", str(tmp_path)]) == 2
    assert "unknown setting STREAMCAL_PARTITION" in capsys.readouterr().err
