from __future__ import annotations

import io
import json

from services.cli import main


def test_route_prints_a_table_and_dead_letters_bad_files(make_raw, tmp_path):
    good, _ = make_raw()
    tso, _ = make_raw(EXP_TYPE="NRC_TSIMAGE", TSOVISIT=True, EXPOSURE="00002")
    unknown, _ = make_raw(EXP_TYPE="NRC_BOGUS", EXPOSURE="00003")
    text = tmp_path / "notes_uncal.fits"
    text.write_text("not fits\n" * 400)
    out = io.StringIO()
    status = main(["route", str(good), str(tso), str(unknown), str(text)], out=out)
    report = out.getvalue()
    assert status == 1
    assert "calwebb_detector1" in report and "calwebb_image3" in report and "calwebb_tso3" in report
    assert "unknown_exp_type" in report and "'NRC_BOGUS'" in report
    assert "corrupt_file" in report
    assert "2 routed, 2 dead-lettered" in report


def test_route_json_is_machine_readable(make_raw):
    good, _ = make_raw()
    out = io.StringIO()
    assert main(["route", "--json", str(good)], out=out) == 0
    [record] = json.loads(out.getvalue())
    assert record["route"]["stage1"] == "calwebb_detector1"
    assert record["route"]["stage2_input"] == "rate"
    assert record["route"]["asn_type"] == "image3"
