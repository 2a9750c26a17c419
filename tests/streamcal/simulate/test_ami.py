"""NIS_AMI scenes (issue 12): the fringed PSF of the non-redundant mask, point source or binary, with its truth."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

import streamcal.datamodels.oifits as oifits
import streamcal.models.ami as models
import streamcal.pipelines.ami3 as ami3
import streamcal.simulate.ami as sim
import streamcal.steps.ami as steps
from streamcal.datamodels import read_extensions, read_header
from streamcal.kernels.ami import envelope_overlap
from streamcal.simulate import ExposureSpec, simulate_exposure
from streamcal.simulate.ami import AmiBinary, telescope_errors
from streamcal.simulate.spec import plan_exposure


def test_every_public_name_of_the_ami_modules_imports() -> None:
    for module in (sim, oifits, models, ami3, steps):
        for name in module.__all__:
            assert getattr(module, name) is not None, (module.__name__, name)


def test_a_binary_puts_its_companion_at_the_given_separation_and_pa(tmp_path: Path) -> None:
    binary = AmiBinary(separation_mas=180.0, pa_deg=135.0, contrast=0.2)
    spec = ExposureSpec(exp_type="NIS_AMI", binary=binary)
    exposure = simulate_exposure(spec, tmp_path, rng_seed=5)
    head = read_header(exposure.truth_path)
    assert (head["BINARY"], head["BINSEP"], head["BINPA"], head["BINCON"]) == (True, 180.0, 135.0, 0.2)
    tables = read_extensions(exposure.truth_path, ["SOURCES", "AMI_T3", "AMI_VIS2", "AMI_ERRORS"])
    primary, companion = tables["SOURCES"]
    assert companion["flux"] / primary["flux"] == pytest.approx(0.2)
    east = (companion["ra"] - primary["ra"]) * math.cos(math.radians(primary["dec"])) * 3.6e6
    north = (companion["dec"] - primary["dec"]) * 3.6e6
    assert math.hypot(east, north) == pytest.approx(180.0, rel=1e-6)
    assert math.degrees(math.atan2(east, north)) % 360 == pytest.approx(135.0, abs=1e-6)
    plan = plan_exposure(spec)
    x, y = plan.wcs.world_to_pixel(np.array([companion["ra"]]), np.array([companion["dec"]]))
    assert (x[0], y[0]) == pytest.approx((companion["x"], companion["y"]))
    assert len(tables["AMI_T3"]) == 35 and np.max(np.abs(tables["AMI_T3"]["T3PHI"])) > 5.0
    assert np.all(tables["AMI_VIS2"]["VIS2"] <= 1.0 + 1e-12) and len(tables["AMI_ERRORS"]) == 21


def test_a_point_source_has_no_closure_phase_and_shares_the_telescope_errors(tmp_path: Path) -> None:
    exposure = simulate_exposure(ExposureSpec(exp_type="NIS_AMI", is_psf=True), tmp_path, rng_seed=6)
    assert read_header(exposure.truth_path)["BINARY"] is False
    tables = read_extensions(exposure.truth_path, ["AMI_T3", "AMI_ERRORS"])
    np.testing.assert_allclose(tables["AMI_T3"]["T3PHI"], 0.0, atol=1e-9)
    errors = telescope_errors(ExposureSpec(exp_type="NIS_AMI").detector_seed)
    np.testing.assert_allclose(tables["AMI_ERRORS"]["AMPLOSS"], errors.amplitude)
    rate = read_extensions(exposure.truth_path, ["RATE"])["RATE"]
    assert np.unravel_index(np.argmax(rate), rate.shape) in {(39, 39), (39, 40), (40, 39), (40, 40)}


def test_a_binary_needs_a_contrast_in_0_to_1() -> None:
    with pytest.raises(ValueError, match="contrast"):
        AmiBinary(contrast=1.5)


def test_the_envelope_sees_a_companion_less_with_separation() -> None:
    eta = envelope_overlap(np.array([0.0, 100.0, 250.0, 400.0]), wavelength=4.817e-6, hole_diameter=0.8)
    assert eta[0] == pytest.approx(1.0) and np.all(np.diff(eta) < 0) and eta[-1] > 0.8
