"""Coronagraphic scenes (issue 12): companions where the caller puts them, speckles shared by science and
reference, truth written."""

from __future__ import annotations

import math

import numpy as np
import pytest

from streamcal.datamodels import read_extensions, read_header
from streamcal.simulate import ExposureSpec, simulate_exposure
from streamcal.simulate.coron import (
    Companion,
    CoronScene,
    coron_scene,
    lambda_over_d,
    mask_transmission,
    moffat_psf,
)
from streamcal.simulate.spec import plan_exposure


def _render(spec: ExposureSpec, seed: int = 3):
    plan = plan_exposure(spec)
    return plan, coron_scene(plan, scene=spec.coron, rng=np.random.default_rng(seed))


def test_a_companion_lands_at_its_separation_and_position_angle() -> None:
    """PA 0 is north and PA 90 east on the sky (through the exposure's WCS); the separation is in λ/D or arcsec;
    the flux is contrast × the star's × the mask's transmission there."""
    comps = (Companion(separation=3.0, position_angle=0.0, contrast=1e-4),
             Companion(separation=0.5, position_angle=90.0, contrast=2e-5, unit="arcsec"))
    spec = ExposureSpec(exp_type="NRC_CORON", coron=CoronScene(companions=comps))
    plan, truth = _render(spec)
    lam_d = lambda_over_d(plan.mode.wavelength, plan.detector.pixel_scale)
    rows = truth.companions
    assert rows["separation_px"][0] == pytest.approx(3.0 * lam_d, rel=1e-6)
    assert rows["separation_px"][1] == pytest.approx(0.5 / plan.detector.pixel_scale, rel=1e-3)
    star_ra, star_dec = plan.wcs.pixel_to_world(truth.header["STARX"], truth.header["STARY"])
    ra, dec = plan.wcs.pixel_to_world(rows["x"], rows["y"])
    assert dec[0] - star_dec == pytest.approx(3.0 * lam_d * plan.detector.pixel_scale / 3600, rel=1e-3)  # north
    assert (ra[1] - star_ra) * math.cos(math.radians(float(star_dec))) == pytest.approx(0.5 / 3600, rel=1e-3)
    star = float(truth.header["STARFLUX"])
    for row, comp in zip(rows, comps, strict=True):
        r = math.hypot(row["x"] - truth.header["MASKX"], row["y"] - truth.header["MASKY"])
        t = float(mask_transmission(r, fwhm=float(truth.header["PSFFWHM"])))
        assert row["flux"] == pytest.approx(comp.contrast * star * t, rel=1e-9) and 0.5 < t < 1.0
    assert truth.scene.sources.size == 3  # the star and two companions


def test_the_reference_shares_the_static_speckles_and_is_offset_brighter_and_alone() -> None:
    _, science = _render(ExposureSpec(exp_type="NRC_CORON"), seed=1)
    _, reference = _render(ExposureSpec(exp_type="NRC_CORON", is_psf=True), seed=2)
    assert reference.companions.size == 0 and science.companions.size == 1
    assert science.companions["contrast"][0] == 1e-4  # the default companion
    assert reference.header["STARFLUX"] == pytest.approx(1.6 * science.header["STARFLUX"], rel=1e-12)
    assert (reference.header["STARX"] - reference.header["MASKX"],
            reference.header["STARY"] - reference.header["MASKY"]) == pytest.approx((0.23, -0.17))
    # the speckle fields (mask-centred) match but for the 1 % perturbations
    a = np.log(science.speckle)
    correlation = np.corrcoef(a.ravel(), np.log(reference.speckle).ravel())[0, 1]
    assert 0.9995 < correlation < 0.99999
    # and the star's residual, moved back by the offset and scaled down, is the science's to ~1 %
    k = np.fft.fftfreq(science.speckle.shape[0])
    back = np.fft.ifft2(np.fft.fft2(reference.star_rate) * np.exp(2j * math.pi * (k[None, :] * 0.23
                                                                                   - k[:, None] * 0.17))).real / 1.6
    bright = science.star_rate > 0.01 * science.star_rate.max()
    assert np.std((back - science.star_rate)[bright] / science.star_rate[bright]) < 0.02
    # another static pattern is a different field
    _, other = _render(ExposureSpec(exp_type="NRC_CORON", coron=CoronScene(speckle_seed=99)), seed=1)
    assert abs(np.corrcoef(a.ravel(), np.log(other.speckle).ravel())[0, 1]) < 0.3


def test_bad_companions_are_refused() -> None:
    with pytest.raises(ValueError, match="unit"):
        Companion(separation=1.0, unit="pixels")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="contrast"):
        Companion(separation=1.0, contrast=0.0)


def test_the_truth_file_holds_companions_speckles_and_the_star(tmp_path) -> None:
    spec = ExposureSpec(exp_type="MIR_4QPM", coron=CoronScene(companions=(Companion(separation=4.0,
                                                                                    position_angle=200.0),)))
    exposure = simulate_exposure(spec, tmp_path, rng_seed=4)
    truth = read_extensions(exposure.truth_path, ["COMPANIONS", "SPECKLE", "STARRATE", "SOURCES", "RATE"])
    head = read_header(exposure.truth_path)
    assert truth["COMPANIONS"]["pa_deg"].tolist() == [200.0]
    assert truth["SPECKLE"].shape == truth["STARRATE"].shape == truth["RATE"].shape
    assert truth["SOURCES"]["flux"][0] == pytest.approx(head["STARFLUX"])
    assert head["LAMBDAD"] == pytest.approx(lambda_over_d(10.65, 0.11), rel=1e-2) and head["SPKSEED"] == 2026
    # the mask suppresses the star: its brightest residual pixel is far below its unocculted peak
    peak = head["STARFLUX"] * float(moffat_psf(0.0, 0.0, fwhm=head["PSFFWHM"]))
    assert np.max(truth["STARRATE"]) < 0.01 * peak
