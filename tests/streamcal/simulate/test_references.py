"""The reference set is the physics: cut to a subarray it equals the model the exposure was simulated with,
and undoing the forward model with the references alone recovers the injected rate."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace

import numpy as np
import pytest
from astropy.io import fits

from streamcal.datamodels import open_raw, read_headers
from streamcal.dq import Pixel
from streamcal.references import Manifest, References, ReferenceStore, RefType
from streamcal.simulate import DETECTORS, Effects, ExposureSpec, simulate_exposure
from streamcal.simulate.detector import DetectorModel
from streamcal.simulate.linearity import linearize
from streamcal.simulate.spec import plan_exposure
from tests.streamcal.simulate.conftest import REF_DETECTORS

_NIR_TYPES = {RefType.MASK, RefType.SATURATION, RefType.SUPERBIAS, RefType.READNOISE, RefType.GAIN,
              RefType.LINEARITY, RefType.DARK, RefType.FLAT, RefType.PHOTOM, RefType.AREA,
              RefType.APCORR}


def test_manifest_lists_every_reftype_per_detector(reference_set):
    entries = Manifest.load(reference_set).entries
    for det in REF_DETECTORS:
        types = {e.reftype for e in entries if e.selectors["DETECTOR"] == det}
        if det.startswith("MIRI"):  # no superbias; the LRS modes' spectral layouts (issue 11)
            assert types == _NIR_TYPES - {RefType.SUPERBIAS} | {RefType.SPECWCS}
        else:  # NRCA3, short wave: no spectroscopy
            assert types == _NIR_TYPES
    with fits.open(reference_set / "jwst_nircam_gain_nrca3.fits") as hdul:
        head = hdul[0].header
        assert (head["REFTYPE"], head["SUBARRAY"], head["SUBSTRT1"], head["SUBSIZE2"]) == ("GAIN", "FULL", 1, 2048)
    with fits.open(reference_set / "jwst_nircam_area_nrca3.fits") as hdul:
        pixar_sr = DETECTORS["NRCA3"].pixel_scale ** 2 * 2.350443e-11
        assert hdul[0].header["PIXAR_SR"] == pytest.approx(pixar_sr, rel=1e-5, abs=0)
    with fits.open(reference_set / "jwst_nircam_photom_nrca3.fits") as hdul:
        rows = hdul["PHOTOM"].data
        assert ("F200W", "CLEAR") in set(zip(rows["filter"], rows["pupil"], strict=True))


@pytest.mark.parametrize("exp_type", ["NRC_IMAGE", "MIR_IMAGE"])
def test_references_cut_to_the_subarray_are_the_simulated_detector(reference_set, tmp_path, exp_type):
    result = simulate_exposure(ExposureSpec(exp_type=exp_type), tmp_path, rng_seed=1)
    plan = plan_exposure(ExposureSpec(exp_type=exp_type))
    model = DetectorModel.build(plan.detector, plan.subarray)
    refs = ReferenceStore.open(reference_set).for_exposure(read_headers(result.path))
    np.testing.assert_array_equal(refs.require(RefType.GAIN)["SCI"], model.gain)
    np.testing.assert_array_equal(refs.require(RefType.READNOISE)["SCI"], model.readnoise)
    np.testing.assert_array_equal(refs.require(RefType.SATURATION)["SCI"], model.saturation)
    reference = (model.dq & Pixel.REFERENCE_PIXEL) != 0  # the flat is NaN there, as CRDS flats are
    np.testing.assert_array_equal(refs.require(RefType.FLAT)["SCI"], np.where(reference, np.nan, model.flat))
    assert np.all(refs.require(RefType.FLAT)["DQ"][reference] & Pixel.NO_FLAT_FIELD)
    np.testing.assert_array_equal(refs.require(RefType.MASK)["DQ"], model.dq)
    dark = refs.require(RefType.DARK)
    assert dark.header["SUBARRAY"] == plan.subarray.name and dark.header["TFRAME"] == plan.timing.tframe
    if not plan.detector.is_miri:
        np.testing.assert_array_equal(refs.require(RefType.SUPERBIAS)["SCI"], model.bias)
    mask = refs.require(RefType.MASK)["DQ"]
    assert np.any(mask & Pixel.REFERENCE_PIXEL)  # the small subarrays include reference pixels
    with open_raw(result.path) as raw:
        data = raw.read_ramp()
    sat = refs.require(RefType.SATURATION)["SCI"]
    assert np.all(data <= sat) and np.any(data == sat)  # the bright star saturates exactly at the threshold


def _calibrate(data: np.ndarray, refs: References, header: Mapping[str, object], miri: bool) -> np.ndarray:
    """A minimal stage 1 (superbias, reference pixels, linearity, dark, straight-line fit) in DN/s."""
    ramp = data.astype(np.float64)
    if not miri:
        ramp -= refs.require(RefType.SUPERBIAS)["SCI"]
        is_ref = (refs.require(RefType.MASK)["DQ"] & Pixel.REFERENCE_PIXEL) != 0
        for parity in (0, 1):  # single-output subarray: one offset per group and column parity
            cols = np.zeros(is_ref.shape, bool)
            cols[:, parity::2] = True
            level = ramp[:, :, is_ref & cols].mean(axis=-1)
            ramp[:, :, cols] -= level[:, :, None]
    ramp = linearize(ramp, refs.require(RefType.LINEARITY)["COEFFS"])
    dark = refs.require(RefType.DARK)["SCI"]
    dark = dark[0] if dark.ndim == 4 else dark
    nframes = int(str(header["NFRAMES"]))
    missing = ramp.shape[1] * nframes - dark.shape[0]
    if missing > 0:  # the dark_current step extends a short dark linearly from its last two frames
        step = dark[-1] - dark[-2]
        dark = np.concatenate([dark, dark[-1] + step * np.arange(1, missing + 1)[:, None, None]])
    for g in range(ramp.shape[1]):
        ramp[:, g] -= dark[g * nframes:(g + 1) * nframes].mean(axis=0)
    t = np.arange(ramp.shape[1]) * float(str(header["TGROUP"]))
    tc = t - t.mean()
    slopes = np.tensordot(tc, ramp - ramp.mean(axis=1, keepdims=True), axes=(0, 1)) / (tc @ tc)
    return slopes.mean(axis=0)


@pytest.mark.parametrize("exp_type", ["NRC_IMAGE", "MIR_IMAGE"])
def test_undoing_the_physics_with_the_references_recovers_the_rate(reference_set, tmp_path, exp_type):
    spec = ExposureSpec(exp_type=exp_type, effects=Effects(cosmic_rays=False), ngroups=10)
    result = simulate_exposure(spec, tmp_path, rng_seed=2)
    headers = read_headers(result.path)
    refs = ReferenceStore.open(reference_set).for_exposure(headers)
    with open_raw(result.path) as raw:
        data = raw.read_ramp()
    rate = fits.getdata(result.truth_path, "RATE")
    fitted = _calibrate(data, refs, headers, exp_type.startswith("MIR"))
    unsaturated = np.all(data < refs.require(RefType.SATURATION)["SCI"], axis=(0, 1))
    bright = unsaturated & (rate > 0.05 * rate.max())
    assert bright.sum() > 20
    assert np.median(fitted[bright] / rate[bright]) == pytest.approx(1.0, abs=0.005)
    faint = unsaturated & (rate > 0) & ~bright
    noise = np.std(fitted[faint] - rate[faint])
    assert abs(np.mean(fitted[faint] - rate[faint])) < 5 * noise / np.sqrt(faint.sum())  # unbiased


def test_noiseless_group_zero_minus_superbias_is_one_frame_of_signal(reference_set, tmp_path):
    spec = ExposureSpec(exp_type="NRC_DARK", effects=replace(Effects.noiseless(), dark=True))
    result = simulate_exposure(spec, tmp_path, rng_seed=1)
    refs = ReferenceStore.open(reference_set).for_exposure(read_headers(result.path))
    with open_raw(result.path) as raw:
        data = raw.read_ramp()
    bias = refs.require(RefType.SUPERBIAS)["SCI"]
    dark = refs.require(RefType.DARK)["SCI"]
    # frame 0 has one frame of dark charge; the dark reference (frame 0 = 0) removes the rest exactly
    residual = data[0] - bias - dark[: data.shape[1]]
    np.testing.assert_allclose(residual, np.broadcast_to(residual[0], residual.shape), atol=1.01)
