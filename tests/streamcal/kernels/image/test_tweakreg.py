"""tweakreg recovers the simulator's injected pointing errors from a dithered star field.

The images are stage-2-like: the simulator's scene (Moffat stars sampled at pixel centres, sky) rendered with
each exposure's *true* WCS, plus Gaussian noise; the WCS given to tweakreg is built from the SCI header the
simulator writes, which is off by ``ExposureSpec.pointing_error``.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

import streamcal.kernels.image.tweakreg as tweakreg_module
from streamcal.kernels.image.tweakreg import Alignment, TweakRegParams, apply_alignment, find_stars, tweakreg
from streamcal.kernels.image.wcs import imaging_wcs
from streamcal.models import ImageData
from streamcal.simulate import ExposureSpec
from streamcal.simulate.headers import sci_header
from streamcal.simulate.modes import SceneKind
from streamcal.simulate.scene import moffat_fwhm, render_scene, star_field
from streamcal.simulate.spec import ExposurePlan, plan_exposure

DITHERS = ((0.0, 0.0), (13.37, 5.21), (-7.73, 12.58), (4.12, -9.66))
ERRORS = ((0.8, -1.2, 0.03), (-1.5, 0.6, -0.05), (1.1, 1.5, 0.04), (-0.4, -1.3, -0.02))
_EXPTIME, _GAIN, _READ = 200.0, 2.05, 0.05


def _exposure(spec: ExposureSpec, seed: int) -> tuple[ExposurePlan, ImageData]:
    plan = plan_exposure(spec)
    fwhm = moffat_fwhm(plan.mode.wavelength, plan.detector.pixel_scale)
    shape = (plan.subarray.ny, plan.subarray.nx)
    stars = star_field(np.random.default_rng(42), plan.base_wcs, shape, peak=2000.0, fwhm=fwhm, crowded=True)
    scene = render_scene(SceneKind.STARS, shape=shape, wcs=plan.wcs, stars=stars, level=2000.0, fwhm=fwhm,
                         dispaxis=1, rng=np.random.default_rng(0))
    var = (scene.rate / (_GAIN * _EXPTIME) + _READ**2).astype(np.float32)
    sci = (scene.rate + np.random.default_rng(seed).normal(0.0, np.sqrt(var))).astype(np.float32)
    image = ImageData(root=plan.name.root, sci=sci, err=np.sqrt(var), dq=np.zeros(shape, np.uint32),
                      var_poisson=var - np.float32(_READ**2), var_rnoise=np.full(shape, _READ**2, np.float32),
                      primary={"INSTRUME": "NIRCAM", "DETECTOR": "NRCA1"}, sci_header=sci_header(plan))
    return plan, image


@pytest.fixture(scope="module")
def dither() -> list[tuple[ExposurePlan, ImageData]]:
    base = ExposureSpec(exp_type="NRC_IMAGE", subarray="SUB320A210R", numdthpt=4, patttype="INTRAMODULEX")
    return [_exposure(dataclasses.replace(base, patt_num=k + 1, exposure=k + 1, dither=d, pointing_error=e), k)
            for k, (d, e) in enumerate(zip(DITHERS, ERRORS, strict=True))]


def test_public_names():
    assert set(tweakreg_module.__all__) == {"Alignment", "TweakRegParams", "apply_alignment", "find_stars",
                                            "tweakreg"}


def test_header_wcs_is_off_by_the_pointing_error():
    spec = ExposureSpec(exp_type="NRC_IMAGE", subarray="SUB320A210R", pointing_error=(1.5, -1.0, 0.05))
    plan = plan_exposure(spec)
    head = imaging_wcs(sci_header(plan), (320, 320))
    cx, cy = plan.wcs.crpix1 - 1.0, plan.wcs.crpix2 - 1.0
    # the header's reference pixel sees the sky of true pixel crpix + (dx, dy)
    tx, ty = plan.wcs.world_to_pixel(*head.pixel_to_world_values(cx, cy))
    assert (float(tx) - cx, float(ty) - cy) == pytest.approx((1.5, -1.0), abs=1e-6)
    # and a header pixel 100 px right of it maps 100 px away in the true frame, turned by the rotation
    ux, uy = plan.wcs.world_to_pixel(*head.pixel_to_world_values(cx + 100.0, cy))
    assert np.hypot(float(ux) - tx, float(uy) - ty) == pytest.approx(100.0, abs=1e-6)
    # (plus the convergence of meridians between the two tangent points: 1.5 px at Dec −69.5° is 4e-5°)
    assert abs(np.degrees(np.arctan2(float(uy) - ty, float(ux) - tx))) == pytest.approx(0.05, abs=1e-4)


def test_find_stars_centroids_to_a_hundredth_of_a_pixel(dither):
    plan, image = dither[0]
    stars = find_stars(image, params=TweakRegParams())
    assert len(stars) > 100  # of ~140 stars on the subarray
    truth = star_field(np.random.default_rng(42), plan.base_wcs, image.shape, peak=2000.0,
                       fwhm=moffat_fwhm(plan.mode.wavelength, plan.detector.pixel_scale), crowded=True)
    x, y = plan.wcs.world_to_pixel(truth["ra"], truth["dec"])
    d = np.hypot(np.asarray(stars["x"])[:, None] - x[None], np.asarray(stars["y"])[:, None] - y[None]).min(1)
    bright = np.asarray(stars["snr"]) > 100
    assert np.median(d[bright]) < 0.02


def test_recovers_the_relative_pointing_errors(dither):
    images = [(image, imaging_wcs(image.sci_header, image.shape)) for _, image in dither]
    alignments = tweakreg(images)
    assert all(isinstance(a, Alignment) and a.fitted and a.n_matched > 80 for a in alignments)
    ref = next(k for k, a in enumerate(alignments) if (a.dx, a.dy, a.rotation) == (0.0, 0.0, 0.0))
    ref_plan, ref_wcs = dither[ref][0], images[ref][1]
    worst = 0.0
    for (plan, image), alignment in zip(dither, alignments, strict=True):
        ny, nx = image.shape
        corners = (np.array([0.0, nx - 1.0, nx - 1.0, 0.0, nx / 2]), np.array([0.0, 0.0, ny - 1.0, ny - 1.0, ny / 2]))
        # where the corrected WCS puts the corners in the reference's (header) frame ...
        px, py = ref_wcs.world_to_pixel_values(*alignment.wcs.pixel_to_world_values(*corners))
        # ... and where they truly are relative to the reference's true frame
        tx, ty = ref_plan.wcs.world_to_pixel(*plan.wcs.pixel_to_world(*corners))
        worst = max(worst, float(np.max(np.hypot(px - tx, py - ty))))
        assert alignment.rms < 0.05
    assert worst < 0.05


def test_shift_only_fit_and_apply_alignment(dither):
    (_, first), (_, image) = dither[0], dither[1]
    images = [(im, imaging_wcs(im.sci_header, im.shape)) for im in (first, image)]
    alignments = tweakreg(images, params=TweakRegParams(fitgeometry="shift"))
    moved = next(a for a in alignments if (a.dx, a.dy) != (0.0, 0.0))
    assert moved.rotation == 0.0 and moved.fitted
    k = alignments.index(moved)
    out = apply_alignment(images[k][0], moved)
    assert images[k][0].sci_header["CRVAL1"] != out.sci_header["CRVAL1"]  # input untouched, output corrected
    assert out.sci_header["TWEAKDX"] == moved.dx and out.sci_header["TWEAKNM"] == moved.n_matched
    rebuilt = imaging_wcs(out.sci_header, out.shape)
    np.testing.assert_allclose(rebuilt.wcs.crval, moved.wcs.wcs.crval, rtol=0, atol=1e-12)
    # RA_REF/DEC_REF/ROLL_REF stay consistent with the corrected WCS
    no_pc = {key: v for key, v in out.sci_header.items() if not key.startswith(("PC", "CRVAL"))}
    np.testing.assert_allclose(imaging_wcs(no_pc, out.shape).wcs.get_pc(), rebuilt.wcs.get_pc(), atol=1e-12)
    assert (no_pc["RA_REF"], no_pc["DEC_REF"]) == pytest.approx(tuple(rebuilt.wcs.crval), abs=1e-12)


def test_too_few_stars_leaves_the_image_unaligned(dither):
    (_, first), (_, second) = dither[0], dither[1]
    blank = second.replace(sci=np.zeros_like(second.sci))
    images = [(im, imaging_wcs(im.sci_header, im.shape)) for im in (first, blank)]
    alignments = tweakreg(images)
    assert not alignments[1].fitted and alignments[1].n_matched == 0
    out = apply_alignment(blank, alignments[1])
    assert out.sci_header["CRVAL1"] == blank.sci_header["CRVAL1"] and out.sci_header["TWEAKNM"] == 0


def test_rejects_cubes_and_unknown_geometry(dither):
    _, image = dither[0]
    with pytest.raises(ValueError, match="fitgeometry"):
        TweakRegParams(fitgeometry="general")  # type: ignore[arg-type]
    cube = image.replace(sci=image.sci[None], err=image.err[None], dq=image.dq[None])
    with pytest.raises(ValueError, match="2-D"):
        find_stars(cube)


def test_a_dither_without_pointing_errors_aligns_to_nothing_and_does_not_crash():
    """Issue 13: a plain 4-point dither whose header WCS is right (files jwst's tools wrote, no pointing error):
    every image is fitted, with corrections of (almost) nothing."""
    base = ExposureSpec(exp_type="NRC_IMAGE", subarray="SUB320A210R", numdthpt=4, patttype="INTRAMODULEX")
    images = []
    for k, d in enumerate(DITHERS):
        _, image = _exposure(dataclasses.replace(base, patt_num=k + 1, exposure=k + 1, dither=d), k)
        images.append((image, imaging_wcs(image.sci_header, image.shape)))
    out = tweakreg(images)
    assert all(a.fitted and a.n_matched > 50 for a in out)
    assert max(abs(v) for a in out for v in (a.dx, a.dy)) < 0.02 and max(abs(a.rotation) for a in out) < 1e-3


@pytest.mark.parametrize("sigma", [0.02, 0.0], ids=["errors", "noiseless"])
def test_stars_without_a_finite_position_or_error_take_no_part(sigma):
    """Exact offsets all fall in one histogram bin: the vote's tie must not pick a neighbouring bin (that left
    the initial offset NaN and crashed the matcher with "'x' must be finite", issue 13). A reference star the
    image's WCS cannot place (NaN) and centroids without an error (0) are left out or floored."""
    rng = np.random.default_rng(1)
    p = rng.uniform(0, 300, (60, 2))
    q = p + np.array([1.3, -0.7])
    q[5] = np.nan
    sig = np.full(60, sigma)
    fit = tweakreg_module._fit(p, q, sig, sig, np.array([150.0, 150.0]), params=TweakRegParams(),
                               pixel_scale=0.031)
    assert fit is not None and fit.n == 59 and 5 not in fit.ref_index
    assert fit.shift == pytest.approx([1.3, -0.7], abs=1e-9)
