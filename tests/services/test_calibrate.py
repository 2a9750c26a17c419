"""``streamcal calibrate``: the route's stage 1 by default, products listed, failures reported per file."""

from __future__ import annotations

import argparse
import io
import json

from services.calibrate import add_calibrate_command, calibrate_command
from streamcal.associations import build_asn, write_asn
from streamcal.datamodels import read_header
from streamcal.datamodels.naming import product_file
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


def test_calibrate_picks_the_pipeline_a_file_is_input_to(tmp_path):
    """uncal → stage 1, rate → stage 2, a wfs-image3 ASN → calwebb_wfs-image3, a tso3 ASN of ``_cal`` images
    (calwebb_tso3 combines ``_calints``) → a clear failure."""
    program = simulate_program("wfsc", tmp_path / "in", seed=3)
    refs, out = tmp_path / "refs", tmp_path / "out"
    write_reference_set(refs, only={(e.header["DETECTOR"], e.header["SUBARRAY"]) for e in program.exposures})
    common = ["--refs", str(refs), "--out", str(out)]
    raws = [str(e.path) for e in program.exposures]
    text = io.StringIO()
    assert calibrate_command(_args(["calibrate", *raws, *common]), text) == 0
    rates = sorted(str(p) for p in out.glob("*_rate.fits"))
    assert calibrate_command(_args(["calibrate", *rates, *common]), text) == 0
    cals = sorted(out.glob("*_cal.fits"))
    asn = build_asn("wfs-image3", [(c.name, read_header(c)) for c in cals])
    asn_path = write_asn(asn, out / f"{asn.products[0].name}_wfs-image3_asn.json")
    assert calibrate_command(_args(["calibrate", str(asn_path), *common]), text) == 0
    doc = json.loads(asn_path.read_text())
    doc["asn_type"] = "tso3"
    tso3 = out / "jw01234-o005_20240101t000000_tso3_00001_asn.json"
    tso3.write_text(json.dumps(doc))
    assert calibrate_command(_args(["calibrate", str(tso3), *common]), text) == 1
    report = text.getvalue()
    assert report.count("calwebb_detector1 in") == 2 and report.count("calwebb_image2 in") == 2
    # jwst's WFS&C name: the suffix before the activity id (..._wfscmb-03.fits)
    assert "calwebb_wfs-image3 in" in report and (out / product_file(asn.products[0].name, "wfscmb")).exists()
    assert product_file(asn.products[0].name, "wfscmb").endswith("-nrca3_wfscmb-03.fits")
    assert "FAILED (bad_association)" in report and "calwebb_tso3 combines _calints files" in report
