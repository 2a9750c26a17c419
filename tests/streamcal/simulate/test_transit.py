"""The simulated transit (issue 12): per integration from the raw file's INT_TIMES mid-times, one transit across
the segments of an exposure, truth saved, and a wavelength-dependent depth applied per spectral pixel."""

from __future__ import annotations

import numpy as np
import pytest
from astropy.io import fits

from streamcal.datamodels import open_raw, read_extensions
from streamcal.kernels.tso import transit_flux
from streamcal.simulate import ExposureSpec, simulate_exposure
from streamcal.simulate.exposure import light_curve
from streamcal.simulate.spec import plan_exposure
from streamcal.simulate.transit import Transit


def test_each_integration_follows_the_model_at_its_int_times_mid_time(tmp_path):
    transit = Transit(depth=0.02, u1=0.3, u2=0.2, b=0.4)
    whole = light_curve(plan_exposure(ExposureSpec(exp_type="NRC_TSIMAGE", nints=12, transit=transit)))
    parts, times = [], []
    for segment in (1, 2):
        spec = ExposureSpec(exp_type="NRC_TSIMAGE", nints=12, segment=segment, nsegments=2, transit=transit)
        exposure = simulate_exposure(spec, tmp_path, rng_seed=segment)
        with fits.open(exposure.truth_path) as truth:
            rows, head = truth["LIGHTCURVE"].data, dict(truth["LIGHTCURVE"].header)
        with open_raw(exposure.path) as raw:
            int_times = raw.int_times()
        assert int_times is not None
        np.testing.assert_array_equal(rows["int"], int_times["integration_number"])
        np.testing.assert_allclose(rows["MJD"], int_times["int_mid_MJD_UTC"], rtol=0, atol=1e-9)  # 0.1 ms
        expected = transit_flux(rows["MJD"], depth=0.02, t0=head["T0_MJD"], t14=head["T14_S"], u1=0.3, u2=0.2, b=0.4)
        np.testing.assert_allclose(rows["relative_flux"], expected, rtol=0, atol=1e-12)
        assert (head["DEPTH"], head["LD_U1"], head["LD_U2"], head["IMPACT"]) == (0.02, 0.3, 0.2, 0.4)
        parts.append(rows["relative_flux"])
        times.append(rows["MJD"])
    np.testing.assert_allclose(np.concatenate(parts), whole, atol=1e-12)  # one transit across the segments
    mjd = np.concatenate(times)
    assert head["T0_MJD"] == pytest.approx((mjd[0] + mjd[-1]) / 2, abs=1e-9)  # centred in the visit by default
    assert np.concatenate(parts).min() < 1 - 0.02  # limb darkening deepens the centre


def test_a_non_tso_exposure_has_no_transit():
    assert np.all(light_curve(plan_exposure(ExposureSpec(exp_type="NRC_IMAGE"))) == 1.0)


def test_a_depth_slope_scales_each_spectral_pixel_by_its_own_wavelength(tmp_path):
    """Mean rate over the integrations, sloped transit ÷ grey transit: below 1 where the depth is larger (red),
    above 1 where smaller, as the model predicts for each pixel's wavelength."""
    base = dict(exp_type="NRS_BRIGHTOBJ", nints=8, ngroups=3, tsovisit=True)
    slope, ref = 0.004, 3.5
    grey = simulate_exposure(ExposureSpec(**base, transit=Transit(depth=0.01, wave_ref=ref)), tmp_path / "g",
                             rng_seed=1)
    sloped = simulate_exposure(ExposureSpec(**base, transit=Transit(depth=0.01, depth_slope=slope, wave_ref=ref)),
                               tmp_path / "s", rng_seed=1)
    a, b = (read_extensions(e.truth_path, ["RATE", "WAVELENGTH", "LIGHTCURVE"]) for e in (grey, sloped))
    wave = b["WAVELENGTH"]
    lit = np.isfinite(wave) & (a["RATE"] > 0)
    ratio = b["RATE"][lit] / a["RATE"][lit]
    head = fits.getheader(sloped.truth_path, "LIGHTCURVE")
    mjd = b["LIGHTCURVE"]["MJD"]

    def mean_flux(depth: float) -> float:
        return float(transit_flux(mjd, depth=depth, t0=head["T0_MJD"], t14=head["T14_S"], u1=head["LD_U1"],
                                  u2=head["LD_U2"]).mean())

    expected = np.array([mean_flux(0.01 + slope * (w - ref)) for w in wave[lit][::500]]) / mean_flux(0.01)
    np.testing.assert_allclose(ratio[::500], expected, rtol=2e-6)
    assert ratio.min() < 1 < ratio.max()
    assert head["DDEPTHDL"] == slope and head["WAVEREF"] == ref
