"""The command line tells the truth (issue 16): summaries, exit codes and one-line errors a newcomer can act on.

Every test runs the real ``streamcal`` entry point (the console script pip installed) in a subprocess and asserts
what it prints and its exit status.

1. Every option of every subcommand documents its default in ``--help``.
2. ``run`` on a missing ingest folder is an error naming ``--create``; with ``--create`` it creates and watches it.
3. ``run`` again on a finished folder counts the files it skipped as finished, and why.
4. SIGINT/SIGTERM: the summary says "interrupted" and what is unfinished; the status is 130/143.
5. ``serve`` refuses the memory bus; an unreachable broker is one line and a non-zero status (run, serve,
   deadletters).
6. ``calibrate --pipeline`` on a file that is not its input is refused in one line naming the fix.
7. ``asn`` writes the level-3 ASN of complete groups of stage-2 products, as the tracker names it.
8. ``quicklook`` skips what it cannot draw (a raw ramp, a non-FITS file) and draws the rest; status 1.
9. ``route`` keeps its columns aligned when a file is a dead letter.
10. pyproject's license is an SPDX string (no setuptools deprecation noise on ``pip install``).
"""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from services.cli import _COMMANDS
from streamcal.simulate import simulate_program, write_reference_set
from tests.services.support import land, place_stage2_product

STREAMCAL = str(Path(sys.executable).parent / "streamcal")
ROOT = Path(__file__).resolve().parents[2]
FAST = ["--poll-interval", "0.1", "--concurrency", "1"]


def environment() -> dict[str, str]:
    """The process environment without STREAMCAL_* variables from the developer's shell."""
    return {k: v for k, v in os.environ.items() if not k.startswith("STREAMCAL_")}


def streamcal(*args: object, cwd: Path | None = None, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run([STREAMCAL, *map(str, args)], capture_output=True, text=True, cwd=cwd, timeout=timeout,
                          env=environment())


def one_line_error(result: subprocess.CompletedProcess[str], command: str) -> str:
    """The single stderr line of a refused command (no traceback)."""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"streamcal {command}: error: "), result.stderr
    return lines[0]


@pytest.fixture(scope="module")
def darks(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """Two dark exposures (one pipeline, no stage 2: the fastest program) and their references."""
    root = tmp_path_factory.mktemp("darks")
    result = simulate_program("darks", root / "ingest", size="small")
    write_reference_set(root / "refs", only=sorted({(str(e.header["DETECTOR"]), str(e.header["SUBARRAY"]))
                                                    for e in result.exposures}))
    return root / "ingest", root / "refs"


def free_port() -> int:
    """A local port nothing listens on."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# 1 -------------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("command", sorted(_COMMANDS))
def test_every_option_documents_its_default(command):
    result = streamcal(command, "--help")
    assert result.returncode == 0, result.stderr
    options = result.stdout.split("options:", 1)[1]
    blocks = re.split(r"\n(?=  -)", options)
    documented = [b for b in blocks if b.strip() and not b.strip().startswith("-h, --help")]
    assert documented
    for block in documented:
        text = " ".join(block.split())
        assert "default" in text or "(required)" in text, f"streamcal {command}: {text}"


# 2 -------------------------------------------------------------------------------------------------------------
def test_run_refuses_a_missing_ingest_folder_unless_asked_to_create_it(tmp_path):
    refs = tmp_path / "refs"
    refs.mkdir()
    common = ["--products", tmp_path / "products", "--refs", refs]
    refused = streamcal("run", "--ingest", tmp_path / "nosuch", *common, "--until-idle", "0.2")
    assert refused.returncode == 2
    assert "nosuch does not exist" in one_line_error(refused, "run") and "--create" in refused.stderr
    assert not (tmp_path / "nosuch").exists()
    created = streamcal("run", "--ingest", tmp_path / "nosuch", *common, "--until-idle", "0.2", "--create", *FAST)
    assert created.returncode == 0, created.stderr
    assert (tmp_path / "nosuch").is_dir() and "saw 0 files" in created.stdout


# 3 -------------------------------------------------------------------------------------------------------------
@pytest.mark.slow
def test_a_second_run_counts_the_files_it_skipped_as_finished(darks, tmp_path):
    """The first run processes both darks; the second skips both as finished, and the summary says so and why
    (issue 16: it said "0 file(s) arrived" and nothing else)."""
    ingest, refs = darks
    land(sorted(ingest.glob("*_uncal.fits")), tmp_path / "ingest")
    args = ["run", "--ingest", tmp_path / "ingest", "--products", tmp_path / "products", "--refs", refs,
            "--until-idle", "0.5", *FAST]
    first = streamcal(*args)
    assert first.returncode == 0, first.stderr
    assert "saw 2 files: 2 arrived, 0 skipped as finished" in first.stdout
    assert "arrived: 2 processed, 0 dead-lettered, 0 waiting" in first.stdout
    assert "file seen by this run → stage-1 products" in first.stdout
    second = streamcal(*args)
    assert second.returncode == 0, second.stderr
    assert "saw 2 files: 0 arrived, 2 skipped as finished" in second.stdout
    assert f"skipped as finished (finished by an earlier run: its products are in {tmp_path / 'products'}): 2" \
        in second.stdout


# 4 -------------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(("sig", "status"), [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_a_signal_interrupts_the_run_says_what_is_unfinished_and_sets_the_status(darks, tmp_path, sig, status):
    ingest, refs = darks
    land(sorted(ingest.glob("*_uncal.fits")), tmp_path / "ingest")
    command = [STREAMCAL, "run", "--ingest", tmp_path / "ingest", "--products", tmp_path / "products", "--refs",
               refs, "--poll-interval", "2", "--concurrency", "1"]  # slow polls: nothing is taken in before the signal
    proc = subprocess.Popen(list(map(str, command)), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=environment(), start_new_session=True)
    try:
        assert proc.stdout is not None
        proc.stdout.readline()                      # "streamcal run: watching ..."
        first_progress = proc.stdout.readline()     # the supervisor runs: the signal handlers are installed
        assert first_progress.startswith("["), first_progress
        proc.send_signal(sig)
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == status, err
    assert f"streamcal run: interrupted by {sig.name} after" in out
    assert f"interrupted by {sig.name}: unfinished work is picked up by the next streamcal run" in out
    assert "saw 2 files" in out
    assert re.search(r"2 files (arrived but unfinished|in the ingest folder not taken in yet)", out), out


# 5 -------------------------------------------------------------------------------------------------------------
def test_serve_refuses_the_memory_bus(tmp_path):
    result = streamcal("serve", "router", "--ingest", tmp_path)
    assert result.returncode == 2
    line = one_line_error(result, "serve")
    assert "cannot work on the memory bus" in line and "--bus kafka://HOST:PORT" in line


@pytest.mark.parametrize("command", ["run", "serve", "deadletters"])
def test_an_unreachable_broker_is_one_line_and_a_failure(command, tmp_path):
    bus = f"kafka://127.0.0.1:{free_port()}"
    (tmp_path / "ingest").mkdir()
    argv = {"run": ["run", "--ingest", tmp_path / "ingest", "--products", tmp_path, "--refs", tmp_path,
                    "--until-idle", "0.2"],
            "serve": ["serve", "router", "--ingest", tmp_path / "ingest"],
            "deadletters": ["deadletters", "list"]}[command]
    result = streamcal(*argv, "--bus", bus)
    assert result.returncode == 2
    line = one_line_error(result, command)
    assert f"cannot reach the Kafka broker at {bus.removeprefix('kafka://')}" in line and "--bus" in line


# 6 -------------------------------------------------------------------------------------------------------------
def test_calibrate_refuses_a_file_that_is_not_input_to_the_pipeline_asked_for(make_raw, tmp_path):
    """Issue 16: ``--pipeline calwebb_image3`` on a raw file failed with "'utf-8' codec can't decode byte 0xb1"."""
    raw, _ = make_raw()
    common = ["--refs", tmp_path, "--out", tmp_path / "out"]
    image3 = streamcal("calibrate", raw, "--pipeline", "calwebb_image3", *common)
    assert image3.returncode == 2
    line = one_line_error(image3, "calibrate")
    assert f"{raw.name} is not input to calwebb_image3" in line and "streamcal asn" in line
    image2 = streamcal("calibrate", raw, "--pipeline", "calwebb_image2", *common)
    assert image2.returncode == 2 and "run stage 1 first" in one_line_error(image2, "calibrate")
    assert not (tmp_path / "out").exists()


# 7 -------------------------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def dither(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    """The raw files of the imaging dither (4 exposures, one image3 association)."""
    root = tmp_path_factory.mktemp("dither")
    return sorted(e.path for e in simulate_program("imaging_dither", root, size="small").exposures)


def test_asn_writes_the_level3_asn_of_complete_groups_only(dither, tmp_path):
    products = tmp_path / "products"
    products.mkdir()
    for raw in dither[:3]:  # stage-2 products on storage (headers as the pipelines record them)
        place_stage2_product(raw, products)
    incomplete = streamcal("asn", products)
    assert incomplete.returncode == 1
    assert "not written: the image3 association of 3 member(s) is incomplete" in incomplete.stdout
    assert "calibrate stage 2 first" in one_line_error(incomplete, "asn")
    place_stage2_product(dither[3], products)
    result = streamcal("asn", products)
    assert result.returncode == 0, result.stderr
    name = "jw01234-o001_t001_nircam_clear-f200w-sub160p_image3_asn.json"  # the name run's tracker gives it
    assert f"{products / name}  (image3, 4 member(s); stage 3: calwebb_image3)" in result.stdout
    doc = json.loads((products / name).read_text())
    assert doc["asn_type"] == "image3"
    assert sorted(m["expname"] for m in doc["products"][0]["members"]) == sorted(
        r.name.replace("_uncal", "_cal") for r in dither)
    missing = streamcal("asn", tmp_path / "nosuch")
    assert missing.returncode == 2 and "is not a folder" in one_line_error(missing, "asn")


# 8 -------------------------------------------------------------------------------------------------------------
def test_quicklook_skips_what_it_cannot_draw_and_draws_the_rest(dither, tmp_path):
    """Issue 16: a raw file was a traceback and stopped the remaining files."""
    from tests.services.test_cli_quicklook import _product

    good = _product(tmp_path, "a_wfscmb.fits")
    text = tmp_path / "notes_i2d.fits"
    text.write_text("not fits\n" * 400)
    result = streamcal("quicklook", dither[0], text, good, "--out", tmp_path / "png")
    assert result.returncode == 1
    assert result.stdout.split() == [str(tmp_path / "png" / "a_wfscmb.png")]
    assert "Traceback" not in result.stderr
    errors = result.stderr.splitlines()
    assert errors[0].startswith(f"streamcal quicklook: skipped {dither[0]}: a raw ramp") and "calibrate" in errors[0]
    assert errors[1].startswith(f"streamcal quicklook: skipped {text}: ") and "not a FITS file" in errors[1]
    assert errors[2] == "streamcal quicklook: drew 1, skipped 2" and len(errors) == 3


# 9 -------------------------------------------------------------------------------------------------------------
def test_route_keeps_its_columns_aligned_with_dead_letters(dither, tmp_path):
    bad = tmp_path / "notes_uncal.fits"
    bad.write_text("not fits\n" * 400)
    result = streamcal("route", *dither[:2], bad)
    assert result.returncode == 1
    lines = result.stdout.splitlines()
    header, rule = lines[0], lines[1]
    starts = [m.start() for m in re.finditer(r"-+", rule)]
    for row in lines[2:4]:  # each routed row: every cell starts under its header
        cells = [m.start() for m in re.finditer(r"\S+", row)]
        assert cells == starts, (row, header)
        assert len(row) <= len(rule)
    dead = lines.index("dead letters")
    assert lines[dead + 1].split() == ["file", "reason", "error"]
    assert lines[dead + 3].startswith("notes_uncal.fits  corrupt_file  notes_uncal.fits is not a FITS file")
    assert lines[-1] == "2 routed, 1 dead-lettered"


# 10 ------------------------------------------------------------------------------------------------------------
def test_the_license_is_an_spdx_expression_so_pip_prints_no_deprecation():
    """setuptools ≥ 77 deprecates ``license = {text = ...}`` (PEP 639): an SPDX string needs no warning."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert project["project"]["license"] == "BSD-3-Clause"
    assert not [c for c in project["project"].get("classifiers", []) if c.startswith("License ::")]
    setuptools = [r for r in project["build-system"]["requires"] if r.startswith("setuptools")]
    assert setuptools == ["setuptools>=77"]

