"""The building blocks: catalogue coverage, public names, detector model, linearity fit, WCS."""

from __future__ import annotations

import importlib

import numpy as np
import pytest
from astropy.wcs import WCS

from streamcal.routing import ExpType
from streamcal.simulate import DETECTORS, MODES, SUBARRAYS, mode_spec
from streamcal.simulate.detector import DetectorModel, amp_index
from streamcal.simulate.geometry import frame_time, subarray_for
from streamcal.simulate.linearity import U_MAX, apply_nonlinearity, inverse_series, linearity_coeffs, linearize
from streamcal.simulate.wcs import TanWcs

_MODULES = ("", ".detector", ".exposure", ".geometry", ".headers", ".linearity", ".modes", ".programs", ".ramp",
            ".references", ".scene", ".spec", ".wcs")


@pytest.mark.parametrize("module", _MODULES)
def test_every_public_name_imports(module):
    mod = importlib.import_module("streamcal.simulate" + module)
    for name in mod.__all__:
        assert getattr(mod, name) is not None, name


def test_the_catalogue_covers_every_exp_type_with_known_geometry():
    assert set(MODES) == set(ExpType)
    for mode in MODES.values():
        det = DETECTORS[mode.detector]
        for size in (mode.small, mode.full):
            sub = subarray_for(det, size.subarray)
            assert sub.y0 + sub.ny <= det.shape[0] and sub.x0 + sub.nx <= det.shape[1]
    assert mode_spec("FGS_ID-STACK").guider and not mode_spec("NRC_IMAGE").guider
    assert mode_spec("NRC_GRISM").detector == "NRCALONG" and mode_spec("MIR_MRS").detector == "MIRIFUSHORT"
    with pytest.raises(KeyError):
        mode_spec("NRC_NOPE")


def test_frame_times_match_jdox():
    nrc, nis, nrs = DETECTORS["NRCA3"], DETECTORS["NIS"], DETECTORS["NRS1"]
    assert frame_time(nrc, SUBARRAYS["NIRCAM"]["FULL"]) == pytest.approx(10.73677, abs=1e-4)
    assert frame_time(nrc, subarray_for(nrc, "SUB64P")) == pytest.approx(0.05016, abs=1e-5)
    assert frame_time(nrc, SUBARRAYS["NIRCAM"]["SUBGRISM64"]) == pytest.approx(0.34061, abs=1e-5)
    assert frame_time(nis, SUBARRAYS["NIRISS"]["SUBSTRIP256"]) == pytest.approx(5.494, abs=1e-3)
    assert frame_time(nrs, SUBARRAYS["NIRSPEC"]["SUB2048"]) == pytest.approx(0.902, abs=1e-3)


def test_a_subarray_model_is_the_cut_of_the_full_frame_model():
    det = DETECTORS["MIRIMAGE"]
    full = DetectorModel.build(det, subarray_for(det, "FULL"))
    sub = subarray_for(det, "SUB64")
    part = DetectorModel.build(det, sub)
    window = np.s_[sub.y0:sub.y0 + sub.ny, sub.x0:sub.x0 + sub.nx]
    for name in ("gain", "readnoise", "bias", "lin_zero", "alpha", "saturation", "dark", "flat", "response",
                 "dq", "reference"):
        np.testing.assert_array_equal(getattr(full, name)[window], getattr(part, name), err_msg=name)
    assert np.all(full.reference[:, :4]) and np.all(full.reference[:, -4:]) and not full.reference[:, 4:-4].any()
    assert np.all(full.lin_zero == 0)  # MIRI linearity acts on raw DN
    other = DetectorModel.build(det, sub, seed=1)
    assert not np.array_equal(other.gain, part.gain)


def test_detector_model_statistics():
    det = DETECTORS["NRCA1"]
    model = DetectorModel.build(det, subarray_for(det, "SUBGRISM256"))
    lit = model.response > 0
    assert model.gain.mean() == pytest.approx(det.gain, rel=0.01)
    assert model.readnoise.mean() == pytest.approx(det.readnoise, rel=0.02)
    assert model.flat[lit].std() == pytest.approx(0.02, rel=0.2)
    assert np.all(model.saturation <= 65000) and np.all(model.saturation == np.rint(model.saturation))
    assert np.all(model.alpha * (model.saturation - model.lin_zero) < 0.11)
    assert np.all(model.response[model.reference] == 0) and np.all(model.dark[model.reference] == 0)
    assert set(np.unique(amp_index(det, subarray_for(det, "SUBGRISM256")))) == set(range(8))


def test_the_inverse_polynomial_is_accurate():
    u = np.linspace(1e-6, U_MAX, 2001)
    exact = (1.0 - np.sqrt(1.0 - 4.0 * u)) / 2.0
    np.testing.assert_allclose(np.polyval(inverse_series()[::-1], u), exact, rtol=1e-5)
    alpha = np.full((3, 4), 2e-6, np.float32)
    x = np.linspace(0.0, 0.8 * 0.1 / 2e-6, 50)[:, None, None]  # up to 80 % of a 10 %-non-linear well
    measured = apply_nonlinearity(np.broadcast_to(x, (50, 3, 4)), alpha)
    np.testing.assert_allclose(linearize(measured, linearity_coeffs(alpha)), np.broadcast_to(x, (50, 3, 4)),
                               rtol=1e-3, atol=1e-3)


def test_wcs_agrees_with_astropy():
    w = TanWcs(crpix1=32.5, crpix2=16.5, ra_ref=80.5, dec_ref=-69.5, roll_ref=30.0, v3i_yang=-0.55, vparity=-1,
               scale=0.063)
    x, y = np.array([0.0, 10.0, 63.0]), np.array([0.0, 25.0, 31.0])
    ra, dec = w.pixel_to_world(x, y)
    ra_a, dec_a = WCS(w.header()).wcs_pix2world(x, y, 0)
    np.testing.assert_allclose(ra, ra_a, atol=1e-10)
    np.testing.assert_allclose(dec, dec_a, atol=1e-10)
    back = w.world_to_pixel(ra, dec)
    np.testing.assert_allclose(back[0], x, atol=1e-7)
    np.testing.assert_allclose(back[1], y, atol=1e-7)
