"""Stage 1 on the detectors the mode catalogue does not use (issue 10): an exposure simulated on each of them,
with references written for that detector alone, calibrates to the rate the simulator injected.

Each case simulates a uniformly lit engineering mode of the detector's instrument (``ExposureSpec.detector``) on
a small subarray, so the median rate is well defined: NIRCam's flat on SUB64P where the SIAF has it (else on
SUB160, which every NIRCam detector has), NIRSpec's lamp flat on SUB32, an FGS internal flat on SUB32CNTR
and an MRS flat on the 64 × 72 MIRI SUB64 cut of MIRIFULONG (the MRS reads only FULL: a small cut keeps the
test short). GUIDER2 also goes through calwebb_guider with a guide star.
"""

from __future__ import annotations

import numpy as np
import pytest
from astropy.io import fits

from streamcal.calibrate import calibrate
from streamcal.datamodels import read_extensions, read_product
from streamcal.dq import Pixel
from streamcal.references import ReferenceStore, RefType
from streamcal.simulate import DETECTORS, MODES, Effects, ExposureSpec, simulate_exposure, write_reference_set
from streamcal.simulate.geometry import subarray_for
from streamcal.simulate.photom import photom_rows

#: DETECTOR → (EXP_TYPE, SUBARRAY) of its case.
CASES = {
    # SUB64P where the SIAF has it, else SUB160 (every NIRCam detector has one)
    **{name: ("NRC_FLAT", "SUB64P") for name in ("NRCA4", "NRCB1", "NRCBLONG")},
    **{name: ("NRC_FLAT", "SUB160") for name in ("NRCA1", "NRCA2", "NRCB2", "NRCB3", "NRCB4")},
    "NRS2": ("NRS_AUTOFLAT", "SUB32"),
    "GUIDER2": ("FGS_INTFLAT", "SUB32CNTR"),
    "MIRIFULONG": ("MIR_FLATMRS", "SUB64"),
}


def test_the_cases_are_every_detector_without_a_mode():
    assert set(CASES) == set(DETECTORS) - {m.detector for m in MODES.values()}


def _simulate(tmp_path, detector: str, exp_type: str, subarray: str, **spec):
    exposure = simulate_exposure(ExposureSpec(exp_type=exp_type, detector=detector, subarray=subarray,
                                              effects=Effects(cr_fraction=0.001), **spec),
                                 tmp_path / "raw", rng_seed=5)
    write_reference_set(tmp_path / "refs", only=[(detector, subarray)])
    return exposure


@pytest.mark.parametrize("detector", sorted(CASES))
def test_detector1_measures_the_injected_rate(tmp_path, detector):
    exp_type, subarray = CASES[detector]
    det, sub = DETECTORS[detector], subarray_for(DETECTORS[detector], subarray)
    exposure = _simulate(tmp_path, detector, exp_type, subarray, ngroups=5)
    header = exposure.header
    assert (header["DETECTOR"], header["FASTAXIS"], header["SLOWAXIS"]) == (detector, det.fastaxis, det.slowaxis)
    assert (header["SUBSTRT1"], header["SUBSTRT2"]) == (sub.substrt1, sub.substrt2)
    refs = ReferenceStore.open(tmp_path / "refs").for_exposure(header)
    photom = refs.require(RefType.PHOTOM)
    assert photom.name.endswith(f"_{detector.lower()}_{subarray.lower()}.fits")
    np.testing.assert_array_equal(photom["PHOTOM"], photom_rows(det))
    result = calibrate(exposure.path, pipeline_alias="calwebb_detector1", refs_dir=tmp_path / "refs",
                       out_dir=tmp_path / "out")
    rate = read_product(result.product("rate"))
    truth = read_extensions(exposure.truth_path, ["RATE"])["RATE"]
    good = ((rate["DQ"] & (Pixel.DO_NOT_USE | Pixel.REFERENCE_PIXEL)) == 0) & (truth > 0)
    assert rate.primary["DETECTOR"] == detector and rate.primary["S_RAMP"] == "COMPLETE"
    assert str(rate.primary["R_GAIN"]).endswith(f"_{detector.lower()}_{subarray.lower()}.fits")
    assert good.mean() > 0.5
    assert np.median(rate["SCI"][good]) == pytest.approx(np.median(truth[good]), rel=0.1)
    assert np.median(rate["SCI"][good] / truth[good]) == pytest.approx(1.0, abs=0.02)  # pixel by pixel, too


def test_guider2_guides(tmp_path):
    """FGS_TRACK on GUIDER2 through calwebb_guider: the flat-fielded CDS rates of the guide star's pixels."""
    exposure = _simulate(tmp_path, "GUIDER2", "FGS_TRACK", "SUB32CNTR")
    assert exposure.header["DETECTOR"] == "GUIDER2" and exposure.header["FASTAXIS"] == 2
    result = calibrate(exposure.path, pipeline_alias="calwebb_guider", refs_dir=tmp_path / "refs",
                       out_dir=tmp_path / "out")
    cal = read_product(result.product("cal"))
    assert cal.primary["S_GUICDS"] == "COMPLETE" and cal.primary["DETECTOR"] == "GUIDER2"
    truth = read_extensions(exposure.truth_path, ["RATE"])["RATE"]
    with fits.open(next((tmp_path / "refs").glob("*_flat_guider2_*.fits"))) as hdul:
        flat = np.asarray(hdul["SCI"].data)
    star = np.isfinite(flat) & (truth > 0.1 * truth.max())
    assert star.sum() >= 4
    rate = np.median(cal["SCI"], axis=0)
    assert np.median(rate[star] * flat[star] / truth[star]) == pytest.approx(1.0, rel=0.1)
