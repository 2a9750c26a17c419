"""Raw files as the JWST ecosystem writes them, at the SIAF's subarray positions, calibrate against a reference set
that holds only full-frame references (issue 10).

Each file is written by stdatamodels' ``Level1bModel`` (the ``_uncal`` model) with the subarray name, size and
start that pysiaf gives for the aperture — NIRCam NRCA1 SUB160, MIRI imager SUB128, NIRISS SUB80 (AMI) — and for
NIRSpec, whose subarrays the SIAF does not list, SUBS200A1 at the start jwst's fixed-slit files carry. The
references are the simulator's full-frame set for each detector; stage 1 must select them and cut each to
the file's pixels, and its products must say so.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pytest
from astropy.io import fits
from stdatamodels.jwst import datamodels as dm

from streamcal.calibrate import calibrate
from streamcal.datamodels import read_header, read_product
from streamcal.references import ReferenceStore, RefType
from streamcal.routing import RoutingConfig
from streamcal.simulate import write_reference_set

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    import pysiaf

pytestmark = pytest.mark.slow  # a 1.6 GB full-frame reference set

CONFIG = RoutingConfig.load()


def _siaf_start(instrument: str, aperture: str) -> tuple[int, int, int, int]:
    """(SUBSTRT1, SUBSTRT2, SUBSIZE1, SUBSIZE2) of a SIAF aperture."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ap = pysiaf.Siaf(instrument)[aperture]
        x, y = (int(v) for v in ap.dms_corner())
    return x, y, int(ap.XSciSize), int(ap.YSciSize)


CASES = {
    "nircam": dict(instrument="NIRCAM", detector="NRCA1", exp_type="NRC_IMAGE", subarray="SUB160",
                   geometry=("NIRCam", "NRCA1_SUB160"), readpatt="BRIGHT2", tframe=0.27864, axes=(-1, 2),
                   optics={"FILTER": "F200W", "PUPIL": "CLEAR"}),
    "miri": dict(instrument="MIRI", detector="MIRIMAGE", exp_type="MIR_IMAGE", subarray="SUB128",
                 geometry=("MIRI", "MIRIM_SUB128"), readpatt="FASTR1", tframe=0.11904, axes=(1, 2),
                 optics={"FILTER": "F770W"}),
    "niriss": dict(instrument="NIRISS", detector="NIS", exp_type="NIS_AMI", subarray="SUB80",
                   geometry=("NIRISS", "NIS_AMI1"), readpatt="NISRAPID", tframe=0.07544, axes=(-2, -1),
                   optics={"FILTER": "F480M", "PUPIL": "NRM"}),
    "nirspec": dict(instrument="NIRSPEC", detector="NRS1", exp_type="NRS_FIXEDSLIT", subarray="SUBS200A1",
                    geometry=(1, 1029, 2048, 64), readpatt="NRSRAPID", tframe=0.90156, axes=(2, 1),
                    optics={"FILTER": "F290LP", "GRATING": "G395H", "FXD_SLIT": "S200A1"}),
}


@pytest.fixture(scope="module")
def full_frame_refs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("full_frame_refs")
    write_reference_set(root, only=[(c["detector"], "FULL") for c in CASES.values()])
    return root


def _raw_file(folder: Path, case: dict, index: int) -> Path:
    geometry = case["geometry"]
    x0, y0, nx, ny = _siaf_start(*geometry) if isinstance(geometry[0], str) else geometry
    nints, ngroups = 1, 5
    rng = np.random.default_rng(index)
    # light on the detector's illuminated pixels only: the outer 4 rows and columns of a near-infrared detector,
    # and MIRI's 4 columns each side, are reference pixels
    rows, cols = np.arange(y0 - 1, y0 - 1 + ny), np.arange(x0 - 1, x0 - 1 + nx)
    width = 1032 if case["instrument"] == "MIRI" else 2048
    lit_cols = (cols >= 4) & (cols < width - 4)
    lit_rows = np.ones(ny, bool) if case["instrument"] == "MIRI" else (rows >= 4) & (rows < 2044)
    lit = lit_rows[:, None] & lit_cols[None, :]
    ramp = (12000.0 + 150.0 * np.arange(ngroups)[None, :, None, None] * lit
            + rng.normal(0.0, 4.0, (nints, ngroups, ny, nx)))
    model = dm.Level1bModel()
    model.data = np.round(ramp).astype(np.uint16)
    meta = model.meta
    meta.instrument.name, meta.instrument.detector = case["instrument"], case["detector"]
    for key, value in case["optics"].items():
        setattr(meta.instrument, {"FILTER": "filter", "PUPIL": "pupil", "GRATING": "grating",
                                  "FXD_SLIT": "fixed_slit"}[key], value)
    meta.exposure.type, meta.exposure.readpatt = case["exp_type"], case["readpatt"]
    meta.exposure.nints, meta.exposure.ngroups, meta.exposure.nframes, meta.exposure.groupgap = nints, ngroups, 1, 0
    meta.exposure.frame_time = meta.exposure.group_time = case["tframe"]
    meta.exposure.start_time = 60000.5
    meta.subarray.name = case["subarray"]
    meta.subarray.xstart, meta.subarray.ystart, meta.subarray.xsize, meta.subarray.ysize = x0, y0, nx, ny
    meta.subarray.fastaxis, meta.subarray.slowaxis = case["axes"]
    obs = meta.observation
    obs.program_number, obs.observation_number, obs.visit_number = "01234", f"{20 + index:03d}", "001"
    obs.visit_group, obs.sequence_id, obs.activity_id, obs.exposure_number = "02", "1", "01", "00001"
    obs.date, obs.time = "2023-02-25", "12:00:00.000"
    meta.target.proposer_name = "SIAF-TEST"
    name = f"jw01234{20 + index:03d}001_02101_00001_{case['detector'].lower()}_uncal.fits"
    meta.filename = name
    path = folder / name
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model.save(path)
    return path


@pytest.mark.parametrize("which", sorted(CASES))
def test_a_file_at_its_siaf_position_calibrates_with_full_frame_references_only(tmp_path, full_frame_refs, which):
    case = CASES[which]
    path = _raw_file(tmp_path, case, sorted(CASES).index(which))
    header = read_header(path)
    x0, y0 = int(header["SUBSTRT1"]), int(header["SUBSTRT2"])
    nx, ny = int(header["SUBSIZE1"]), int(header["SUBSIZE2"])
    refs = ReferenceStore.open(full_frame_refs).for_exposure(header)
    gain = refs.require(RefType.GAIN)
    assert gain["SCI"].shape == (ny, nx)  # the full-frame reference, cut at the file's start
    with fits.open(full_frame_refs / gain.name) as full:
        frame = np.asarray(full["SCI"].data)
    assert frame.shape[0] >= y0 - 1 + ny and frame.shape[1] >= x0 - 1 + nx
    np.testing.assert_array_equal(gain["SCI"], frame[y0 - 1:y0 - 1 + ny, x0 - 1:x0 - 1 + nx])
    result = calibrate(path, refs_dir=full_frame_refs, out_dir=tmp_path / "out", config=CONFIG)
    assert result.alias == "calwebb_detector1"
    rate = read_product(result.product("rate"))
    assert rate.primary["SUBSTRT1"] == x0 and rate.primary["SUBSTRT2"] == y0
    assert rate["SCI"].shape == (ny, nx)
    assert rate.primary["S_SATURA"] == rate.primary["S_DARK"] == "COMPLETE"
    assert str(rate.primary["R_GAIN"]).endswith(f"_{case['detector'].lower()}.fits")
    science = np.isfinite(rate["SCI"]) & (rate["DQ"] == 0)
    expected = 150.0 / case["tframe"]  # DN/s: 150 DN per group, one frame per group
    assert science.mean() > 0.5
    assert np.median(rate["SCI"][science]) == pytest.approx(expected, rel=0.1)
