"""``streamcal calibrate``: the route's stage 1 by default, products listed, failures reported per file."""

from __future__ import annotations

import argparse
import io

from services.calibrate import add_calibrate_command, calibrate_command
from streamcal.simulate import simulate_program, write_reference_set


def _args(argv):
    parser = argparse.ArgumentParser()
    add_calibrate_command(parser.add_subparsers(dest="command"))
    return parser.parse_args(argv)


def test_calibrate_runs_each_files_stage1_and_reports_failures(tmp_path):
    program = simulate_program("darks", tmp_path / "in", seed=2)
    write_reference_set(tmp_path / "refs", only={(e.header["DETECTOR"], e.header["SUBARRAY"])
                                                 for e in program.exposures})
    bad = tmp_path / "in" / "broken_uncal.fits"
    bad.write_text("not fits\n" * 300)
    files = [str(e.path) for e in program.exposures] + [str(bad)]
    out = io.StringIO()
    status = calibrate_command(_args(["calibrate", *files, "--refs", str(tmp_path / "refs"),
                                      "--out", str(tmp_path / "out")]), out)
    text = out.getvalue()
    assert status == 1
    assert text.count("calwebb_dark in") == len(program.exposures)
    assert "_dark.fits" in text and "FAILED (corrupt_file)" in text
    assert f"{len(program.exposures)} calibrated, 1 failed" in text
    assert len(list((tmp_path / "out").glob("*_dark.fits"))) == len(program.exposures)
