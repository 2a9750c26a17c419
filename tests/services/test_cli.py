from __future__ import annotations

import io
import json
from importlib.metadata import version

import pytest

from services import cli
from services.cli import main
from streamcal.associations import generate, read_pool


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


def test_simulate_writes_the_program_pool_that_declares_its_associations(tmp_path):
    """``streamcal simulate --pool``: the pool beside the raw files lists every exposure, and jwst's rules on it
    give the WFS&C pair's association with jwst's product name."""
    out = io.StringIO()
    assert main(["simulate", "--program", "wfsc", "--out", str(tmp_path / "ingest"), "--pool"], out=out) == 0
    [pool_file] = sorted((tmp_path / "ingest").glob("jw01234_*_pool.csv"))
    assert pool_file.name in out.getvalue()
    pool = read_pool(pool_file)
    assert sorted(r.filename for r in pool) == sorted(p.name for p in (tmp_path / "ingest").glob("*_uncal.fits"))
    [asn] = generate(pool)
    assert asn.asn_type == "wfs-image3" and asn.asn_id == "o005" and len(asn.products[0].members) == 2
    assert asn.products[0].name == "jw01234-o005_t001_nircam_clear-f200w-sub64p-nrca3_{suffix}-03"


def test_simulate_help_documents_the_all_detectors_option_and_its_default(capsys):
    """``--all-detectors`` (every detector's full-frame references) is off unless asked for: the demo stays fast."""
    with pytest.raises(SystemExit) as exit_info:
        main(["simulate", "--help"])
    assert exit_info.value.code == 0
    text = " ".join(capsys.readouterr().out.split())
    assert "--all-detectors" in text and "(default: off)" in text


def test_version_is_the_installed_distributions(capsys):
    """``streamcal --version`` prints the version pip recorded (issue 14)."""
    with pytest.raises(SystemExit) as exit_info:
        main(["--version"])
    assert exit_info.value.code == 0
    assert capsys.readouterr().out.strip() == f"streamcal {version('streamcal')}"


def test_version_from_a_source_tree_that_was_never_installed_says_how_to_fix_it(capsys, monkeypatch):
    """Without distribution metadata ``streamcal.__version__`` is ``0+unknown``: say why instead of printing it."""
    monkeypatch.setattr(cli, "__version__", "0+unknown")
    with pytest.raises(SystemExit) as exit_info:
        main(["--version"])
    assert exit_info.value.code == 0
    out = capsys.readouterr().out
    assert "version unknown" in out and "pip install" in out and "0+unknown" not in out
