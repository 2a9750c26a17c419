"""Real-format FGS guider files calibrate (issue 10): written by stdatamodels' GuiderRawModel with the keyword
set and names the observatory gives them — ``jw01019001001_gs-acq1_2022117003102_uncal.fits``, no VISITGRP,
SEQ_ID, ACT_ID or EXPOSURE, subarrays called ``128X128``, ``32X32``, ``8X8``, ``2048X64`` — against a reference set
holding only full-frame guider references (cut to each subarray by SUBSTRT)."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pytest
from stdatamodels.jwst import datamodels as dm

from services.router import route_exposure
from streamcal.calibrate import calibrate
from streamcal.datamodels import read_header, read_product
from streamcal.references import ReferenceStore, RefType
from streamcal.routing import RoutingConfig
from streamcal.simulate import write_reference_set

CONFIG = RoutingConfig.load()
TGROUP = 0.0712
STEP = 200.0  # DN between consecutive groups


@pytest.fixture(scope="module")
def refs(tmp_path_factory):
    root = tmp_path_factory.mktemp("fgs_refs")
    write_reference_set(root, detectors=["GUIDER1"])
    return root


def _guider_file(folder: Path, name: str, *, exp_type: str, subarray: str, start: tuple[int, int],
                 shape: tuple[int, int, int, int]) -> Path:
    nints, ngroups, ny, nx = shape
    rng = np.random.default_rng(3)
    model = dm.GuiderRawModel()
    model.data = (rng.normal(11000.0, 3.0, shape)
                  + STEP * np.arange(ngroups)[None, :, None, None]).astype(np.float32)
    meta = model.meta
    meta.instrument.name, meta.instrument.detector = "FGS", "GUIDER1"
    meta.exposure.type, meta.exposure.readpatt = exp_type, exp_type.removeprefix("FGS_").split("-")[0]
    meta.exposure.nints, meta.exposure.ngroups, meta.exposure.nframes, meta.exposure.groupgap = nints, ngroups, 1, 0
    meta.exposure.frame_time = meta.exposure.group_time = TGROUP
    meta.exposure.start_time = 59696.02
    meta.subarray.name = subarray
    meta.subarray.xstart, meta.subarray.ystart = start
    meta.subarray.xsize, meta.subarray.ysize = nx, ny
    meta.subarray.fastaxis, meta.subarray.slowaxis = -2, -1  # as real GUIDER1 files have them
    meta.observation.program_number, meta.observation.observation_number = "01019", "001"
    meta.observation.visit_number = "001"
    meta.observation.date, meta.observation.time = "2022-04-27", "00:31:02.000"
    meta.filename = name
    path = folder / name
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # stdatamodels warns about the optional tables a guider file lacks
        model.save(path)
    return path


@pytest.mark.parametrize(("name", "exp_type", "subarray", "start", "shape"), [
    ("jw01019001001_gs-acq1_2022117003102_uncal.fits", "FGS_ACQ1", "128X128", (961, 961), (1, 2, 128, 128)),
    ("jw01019001001_gs-track_2022117003402_uncal.fits", "FGS_TRACK", "32X32", (1009, 1009), (6, 2, 32, 32)),
    ("jw01019001001_gs-fg_2022117003802_uncal.fits", "FGS_FINEGUIDE", "8X8", (1021, 1021), (3, 8, 8, 8)),
    ("jw01019001001_gs-id-1_2022117002802_uncal.fits", "FGS_ID-STACK", "2048X64", (1, 993), (2, 2, 64, 2048)),
])
def test_real_format_guider_files_route_and_calibrate(tmp_path, refs, name, exp_type, subarray, start, shape):
    path = _guider_file(tmp_path, name, exp_type=exp_type, subarray=subarray, start=start, shape=shape)
    header = read_header(path)
    for key in ("VISITGRP", "SEQ_ID", "ACT_ID", "EXPOSURE"):
        assert key not in header  # the real keyword set
    routed = route_exposure(path, CONFIG.table, CONFIG.library)
    assert routed.route.stage1 == "calwebb_guider" and routed.exposure_id == name.removesuffix("_uncal.fits")
    result = calibrate(path, refs_dir=refs, out_dir=tmp_path / "out", config=CONFIG)
    assert result.alias == "calwebb_guider" and result.product("cal").name == name.replace("_uncal", "_cal")
    cal = read_product(result.product("cal"))
    assert cal.primary["S_GUICDS"] == cal.primary["S_FLAT"] == "COMPLETE"
    flat = ReferenceStore.open(refs).for_exposure(header).require(RefType.FLAT)
    assert flat.name.endswith("_guider1.fits") and flat["SCI"].shape == shape[2:]  # the full frame, cut
    assert cal["SCI"].shape[0] == (1 if exp_type.startswith("FGS_ID") else shape[0])
    assert np.isfinite(cal["SCI"]).mean() > 0.9
    # what the data say, before the flat: STEP DN per group over the group time (ID: the smaller of two
    # integrations' differences, low by ~0.56 of the 4-DN noise of a difference); FINEGUIDE, as jwst's guider_cds:
    # the last 4 groups' mean minus the first 4's (4 STEP here) over TGROUP (issue 14)
    rate = cal["SCI"] * np.where(np.isfinite(flat["SCI"]), flat["SCI"], np.nan)
    steps = 4 if exp_type == "FGS_FINEGUIDE" else 1
    np.testing.assert_allclose(np.nanmedian(rate), steps * STEP / TGROUP, rtol=0.02)
