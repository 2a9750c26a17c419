"""AMI kernels (issue 12): the mask's geometry, closure phases, the fringe fit on noiseless images from the
simulator, normalisation and the binary model."""

from __future__ import annotations

import math

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

import streamcal.kernels.ami as ami
from streamcal.kernels.ami import (
    BASELINES,
    TRIANGLES,
    Band,
    average_observables,
    band_for,
    baseline_vectors,
    binary_observables,
    closure_phases,
    fit_fringes,
    hole_centres_on_sky,
    normalize_observables,
)
from streamcal.simulate.ami import AmiErrors, _render

PIXEL_SCALE = 0.06557
SCALE = PIXEL_SCALE * math.pi / 180.0 / 3600.0


def test_every_public_name_imports() -> None:
    for name in ami.__all__:
        assert getattr(ami, name) is not None


def test_the_mask_has_21_non_redundant_baselines_and_35_triangles() -> None:
    b = baseline_vectors()
    assert len(BASELINES) == 21 and len(TRIANGLES) == 35
    lengths = np.hypot(b[:, 0], b[:, 1])
    assert lengths.min() > 1.0 and lengths.max() < 5.5
    keys = {tuple(np.round(v, 3)) for v in np.concatenate([b, -b])}
    assert len(keys) == 42  # no two baselines alike (non-redundant), in either direction


@given(pistons=st.lists(st.floats(-3.0, 3.0), min_size=7, max_size=7),
       shift=st.tuples(st.floats(-1e-6, 1e-6), st.floats(-1e-6, 1e-6)))
def test_closure_phases_cancel_hole_pistons_and_source_shifts(pistons: list[float],
                                                             shift: tuple[float, float]) -> None:
    p = np.array(pistons)
    b = baseline_vectors()
    phases = np.array([p[k] - p[m] for k, m in BASELINES]) + 2 * np.pi * (b @ np.array(shift)) / 4.8e-6
    wrapped = np.angle(np.exp(1j * phases))
    cp = closure_phases(wrapped)
    np.testing.assert_allclose(np.angle(np.exp(1j * cp)), 0.0, atol=1e-9)


def _image(comps: list[tuple[float, float, float]], errors: AmiErrors) -> np.ndarray:
    band = band_for("F480M")
    return _render((64, 64), [(x, y, f, 0.0, 0.0) for x, y, f in comps], scale=SCALE,
                   lambdas=band.samples(5), errors=errors)


def test_a_noiseless_point_source_fits_to_its_injected_fringe_errors() -> None:
    """Pistons and per-baseline phase errors come back as fringe phases; a centred coherent source has
    visibilities near 1 (less the injected amplitude losses and the pixel and band smearing)."""
    rng = np.random.default_rng(3)
    errors = AmiErrors(rng.normal(0, 0.2, 7), np.full(21, 0.95), np.radians(rng.normal(0, 2.0, 21)))
    image = _image([(31.7, 32.2, 1.0)], errors)
    fit = fit_fringes(image[None] * 1e4, np.ones((1, 64, 64)), np.ones((1, 64, 64), bool), band=band_for("F480M"),
                      pixel_scale=PIXEL_SCALE)
    # the pistons' tilt moves the fringes as a shift of the source would: the centre is only near the true one
    assert abs(fit.centre[0] - 31.7) < 0.4 and abs(fit.centre[1] - 32.2) < 0.4
    expected = np.array([errors.pistons[k] - errors.pistons[m] for k, m in BASELINES]) + errors.phase
    cp = np.degrees(closure_phases(fit.phases[0]))
    np.testing.assert_allclose(cp, np.degrees(closure_phases(expected)), atol=0.3)
    assert np.all((fit.amplitudes[0] > 0.8) & (fit.amplitudes[0] < 0.99))


def test_normalising_by_itself_gives_unit_visibilities_and_zero_closure_phases() -> None:
    rng = np.random.default_rng(4)
    obs = average_observables(rng.uniform(0.7, 0.9, (5, 21)), rng.normal(0, 0.3, (5, 21)))
    norm = normalize_observables(obs, obs)
    np.testing.assert_allclose(norm.vis2, 1.0)
    np.testing.assert_allclose(norm.t3_phi, 0.0, atol=1e-9)
    np.testing.assert_allclose(norm.t3_phi_err, np.sqrt(2) * obs.t3_phi_err)


@settings(max_examples=25)
@given(sep=st.floats(50.0, 400.0), pa=st.floats(0.0, 360.0))
def test_a_faint_companion_vanishes_from_the_binary_observables(sep: float, pa: float) -> None:
    u, v = np.ones(21), np.zeros(21)
    vis2, cp = binary_observables(u, v, u, v, -u, v, 4.8e-6, separation_mas=sep, pa_deg=pa, contrast=1e-9)
    np.testing.assert_allclose(vis2, 1.0, atol=1e-8)
    np.testing.assert_allclose(cp, 0.0, atol=1e-6)


def test_hole_centres_on_sky_undo_the_detector_rotation() -> None:
    """A detector turned by 30° (J = s·R): the holes turn by R, and fringe phases b·θ read the same on the sky."""
    angle = math.radians(30.0)
    rot = np.array([[math.cos(angle), -math.sin(angle)], [math.sin(angle), math.cos(angle)]])
    sky = hole_centres_on_sky(SCALE * rot)
    pixel = np.array([0.3, -1.2])
    detector_phase = ami.HOLE_CENTRES @ (pixel * SCALE)
    np.testing.assert_allclose(sky @ (SCALE * rot @ pixel), detector_phase, rtol=1e-12)
    assert isinstance(band_for("f480m"), Band)
