"""``streamcal quicklook``: one PNG per image product, paths printed, bad files reported without stopping."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
from matplotlib.image import imread

from services import cli
from services.cli import main
from streamcal.datamodels import write_product
from streamcal.datamodels.quicklook import STRETCHES


def _product(folder: Path, name: str) -> Path:
    sci = np.arange(30 * 40, dtype=np.float32).reshape(30, 40)
    arrays = {"SCI": sci, "ERR": np.ones_like(sci), "DQ": np.zeros(sci.shape, np.uint32)}
    return write_product(folder / name, arrays, primary={"EXP_TYPE": "NRC_IMAGE", "FILTER": "F212N"},
                         sci_header={"BUNIT": "MJy/sr"}, suffix="wfscmb")


def test_quicklook_renders_each_file_and_prints_the_pngs(tmp_path):
    files = [_product(tmp_path, f"jw02586-o173_t035_nircam_f212n-nrca{n}_wfscmb.fits") for n in (3, 4)]
    out = io.StringIO()
    assert main(["quicklook", *map(str, files)], out=out) == 0
    printed = out.getvalue().split()
    assert printed == [str(f.with_suffix(".png")) for f in files]
    for png in printed:
        assert imread(png).shape[:2] == (600, 700)


def test_quicklook_reports_a_bad_file_and_renders_the_others(tmp_path, capsys):
    good = _product(tmp_path, "a_wfscmb.fits")
    bad = tmp_path / "notes_i2d.fits"
    bad.write_text("not fits\n" * 400)
    missing = tmp_path / "absent_i2d.fits"
    out = io.StringIO()
    status = main(["quicklook", str(bad), str(good), str(missing), "--out", str(tmp_path / "png"),
                   "--stretch", "log"], out=out)
    assert status == 1
    assert out.getvalue().split() == [str(tmp_path / "png" / "a_wfscmb.png")]
    assert (tmp_path / "png" / "a_wfscmb.png").exists()
    errors = capsys.readouterr().err
    assert f"streamcal quicklook: skipped {bad}" in errors and "not a FITS file" in errors
    assert f"streamcal quicklook: skipped {missing}" in errors
    assert "streamcal quicklook: drew 1, skipped 2" in errors


def test_quicklook_rejects_an_unknown_stretch(tmp_path, capsys):
    with pytest.raises(SystemExit) as exc:
        main(["quicklook", str(tmp_path / "x_i2d.fits"), "--stretch", "histeq"])
    assert exc.value.code == 2
    assert "invalid choice" in capsys.readouterr().err


def test_the_parser_offers_exactly_the_renderer_stretches():
    assert cli._STRETCHES == STRETCHES
