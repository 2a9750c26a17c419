"""SIGTERM ends a real ``streamcal run`` within its grace period, hostile files and all, and nothing is lost
(issue 13). The Kafka variant is in tests/integration/test_kafka.py."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from services.deadletters import DeadLetterStore
from streamcal.simulate import ExposureSpec, simulate_exposure, write_reference_set
from tests.reliability.accounting import account, report

GRACE_S = 5.0


@pytest.fixture(scope="module")
def exposure(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("raw")
    raw = simulate_exposure(ExposureSpec(exp_type="NRC_IMAGE", observation=9, exposure=5), root / "raw",
                           rng_seed=3).path
    write_reference_set(root / "refs", only=[("NRCA3", "SUB64P")])
    return raw, root / "refs"


def land_hostile(ingest: Path) -> int:
    """A FIFO, a link to /dev/zero and a directory under watched names; returns how many."""
    os.mkfifo(ingest / "jw01234009001_02101_00001_nrca3_uncal.fits")
    (ingest / "jw01234009001_02101_00002_nrca3_uncal.fits").symlink_to("/dev/zero")
    (ingest / "jw01234009001_02101_00004_nrca3_uncal.fits").mkdir()
    return 3


def test_sigterm_ends_a_run_within_its_grace_period_and_nothing_is_lost(exposure, tmp_path, request):
    raw, refs = exposure
    ingest, products = tmp_path / "ingest", tmp_path / "products"
    ingest.mkdir()
    hostile = land_hostile(ingest)
    command = [sys.executable, "-m", "services.cli", "run", "--ingest", str(ingest), "--products", str(products),
               "--refs", str(refs), "--poll-interval", "0.1", "--grace", str(GRACE_S), "--concurrency", "1"]
    log = tmp_path / "run.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        store = DeadLetterStore(products / "deadletter")
        deadline = time.monotonic() + 60
        while len(store.records()) < hostile and time.monotonic() < deadline:
            time.sleep(0.1)
        shutil.copy(raw, ingest / ".landing.part")
        (ingest / ".landing.part").rename(ingest / raw.name)
        root = raw.name.removesuffix("_uncal.fits")
        landed = time.monotonic()
        while not (products / f"{root}_cal.fits").exists() and time.monotonic() - landed < 30:
            time.sleep(0.1)
        assert (products / f"{root}_cal.fits").exists(), log.read_text()[-3000:]
        sent = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        status = proc.wait(timeout=GRACE_S + 10)
        took = time.monotonic() - sent
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    text = log.read_text()
    assert status == 143 and took < GRACE_S + 5, (status, took, text[-3000:])
    assert "interrupted by SIGTERM" in text
    ended = report(request, account(ingest, products, {r.letter.key for r in store.records()}))
    assert ended.files_in == hostile + 1 and ended.dead_letters == hostile and not ended.lost
