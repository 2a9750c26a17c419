"""The calwebb_image2 steps on hand-built images (jwst_spec §5.1–5.4), inputs read-only throughout."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest
from astropy.stats import sigma_clip
from astropy.wcs import WCS
from hypothesis import given
from hypothesis import strategies as st

import streamcal.kernels.image.calibrate as image2
from streamcal.dq import Pixel
from streamcal.errors import BadDataShapeError, MissingReferenceError
from streamcal.kernels.image.calibrate import (
    MJYSR_TO_UJYA2,
    photom,
    photom_row,
    subtract_background,
)
from streamcal.kernels.image.flat_field import flat_field, match_nans_and_flags
from streamcal.models import ImageData
from streamcal.steps import Context, NoReferences, StepStatus
from streamcal.steps.image import AssignWcsStep

NY, NX = 6, 8
DNU, NO_FLAT = int(Pixel.DO_NOT_USE), int(Pixel.NO_FLAT_FIELD)


def _ro(a: np.ndarray) -> np.ndarray:
    a = np.array(a)
    a.setflags(write=False)
    return a


def make_image(shape=(NY, NX), *, sci=10.0, err=None, vp=4.0, vr=9.0, dq=0, root="jw01234001001_02101_00001_nrca1",
               primary=None, sci_header=None):
    sci_a = np.broadcast_to(np.asarray(sci, np.float32), shape).astype(np.float32)
    vp_a = np.full(shape, vp, np.float32)
    vr_a = np.full(shape, vr, np.float32)
    err_a = np.sqrt(vp_a + vr_a) if err is None else np.broadcast_to(np.asarray(err, np.float32), shape)
    dq_a = np.broadcast_to(np.asarray(dq, np.uint32), shape)
    arrays = {k: _ro(v) for k, v in {"sci": sci_a, "err": err_a, "dq": dq_a, "var_poisson": vp_a,
                                      "var_rnoise": vr_a}.items()}
    primary = primary if primary is not None else {"INSTRUME": "NIRCAM", "DETECTOR": "NRCA1", "FILTER": "F200W",
                                                   "PUPIL": "CLEAR", "SUBARRAY": "SUB64P"}
    sci_header = sci_header if sci_header is not None else {
        "CRPIX1": 4.5, "CRPIX2": 3.5, "CRVAL1": 80.5, "CRVAL2": -69.5, "CDELT1": 0.031 / 3600,
        "CDELT2": 0.031 / 3600, "PC1_1": -1.0, "PC1_2": 0.0, "PC2_1": 0.0, "PC2_2": 1.0}
    return ImageData(root=root, primary=primary, sci_header=sci_header, **arrays)


def _var_flat(image: ImageData) -> np.ndarray:
    assert image.var_flat is not None
    return image.var_flat


def _snapshot(image: ImageData) -> dict[str, Any]:
    return {"arrays": {k: v.copy() for k, v in image.arrays().items()}, "primary": dict(image.primary),
            "sci_header": dict(image.sci_header)}


def _assert_unchanged(image: ImageData, snap: dict[str, Any]) -> None:
    for name, before in snap["arrays"].items():
        np.testing.assert_array_equal(image.arrays()[name], before, err_msg=name)
    assert image.primary == snap["primary"]
    assert image.sci_header == snap["sci_header"]


def test_every_public_name_is_importable():
    for name in image2.__all__:
        assert getattr(image2, name) is not None


# --- flat_field ---------------------------------------------------------------------------------------------


def test_flat_divides_and_propagates_the_variances_exactly():
    image = make_image(sci=np.arange(NY * NX, dtype=np.float32).reshape(NY, NX) + 100.0)
    snap = _snapshot(image)
    flat = _ro(np.full((NY, NX), 2.0, np.float32))
    flat_err = _ro(np.full((NY, NX), 0.1, np.float32))
    out, counts = flat_field(image, flat, flat_err, _ro(np.zeros((NY, NX), np.uint32)))
    _assert_unchanged(image, snap)
    expected = image.sci / 2.0
    np.testing.assert_allclose(out.sci, expected, rtol=1e-6)
    np.testing.assert_allclose(out.var_poisson, 4.0 / 4.0, rtol=1e-6)
    np.testing.assert_allclose(out.var_rnoise, 9.0 / 4.0, rtol=1e-6)
    # VAR_FLAT = SCI_before²/F²·ERR_F² = SCI_after²·ERR_F²
    np.testing.assert_allclose(_var_flat(out), (image.sci / 2.0) ** 2 * 0.1**2, rtol=1e-5)
    np.testing.assert_allclose(out.err, np.sqrt(1.0 + 2.25 + expected**2 * 0.01), rtol=1e-5)
    assert out.sci.dtype == np.float32 and _var_flat(out).dtype == np.float32 and out.dq.dtype == np.uint32
    assert counts == {"n_no_flat_field": 0, "n_do_not_use": 0}  # the step's provenance: test_image2_pipeline


def test_nan_and_zero_flat_pixels_are_flagged_and_not_divided():
    image = make_image()
    flat = np.full((NY, NX), 2.0, np.float32)
    flat[1, 1], flat[2, 3] = np.nan, 0.0
    fdq = np.zeros((NY, NX), np.uint32)
    fdq[4, 4] = NO_FLAT  # the reference says "no flat" but the pixel stays usable
    fdq[0, 7] = int(Pixel.UNRELIABLE_FLAT)
    out, counts = flat_field(image, _ro(flat), None, _ro(fdq))
    for y, x in ((1, 1), (2, 3)):
        assert out.dq[y, x] & (NO_FLAT | DNU) == NO_FLAT | DNU
        assert np.isnan(out.sci[y, x]) and np.isnan(out.err[y, x]) and np.isnan(_var_flat(out)[y, x])
    assert out.dq[4, 4] == NO_FLAT  # flat = 1 there: no division, no DO_NOT_USE
    assert out.sci[4, 4] == 10.0 and out.var_poisson[4, 4] == 4.0
    assert out.dq[0, 7] == int(Pixel.UNRELIABLE_FLAT)  # flat DQ is OR-ed in
    assert out.sci[0, 0] == 5.0
    assert counts == {"n_no_flat_field": 3, "n_do_not_use": 2}
    np.testing.assert_array_equal(_var_flat(out)[np.isfinite(out.sci)], 0.0)  # no flat ERR given: 0


def test_nan_and_do_not_use_are_made_consistent():
    sci = np.full((NY, NX), 10.0, np.float32)
    sci[0, 0] = np.nan  # NaN without the flag
    dq = np.zeros((NY, NX), np.uint32)
    dq[5, 5] = DNU | int(Pixel.SATURATED)  # flag with a finite value
    image = make_image(sci=sci, dq=dq)
    out, _ = flat_field(image, _ro(np.ones((NY, NX), np.float32)))
    assert out.dq[0, 0] & DNU
    for a in (out.sci, out.err, out.var_poisson, out.var_rnoise, _var_flat(out)):
        assert np.isnan(a[0, 0]) and np.isnan(a[5, 5])
    assert out.dq[5, 5] == DNU | int(Pixel.SATURATED)
    assert np.isfinite(out.sci).sum() == NY * NX - 2
    again = match_nans_and_flags(out)
    np.testing.assert_array_equal(again.dq, out.dq)


def test_a_cube_is_flat_fielded_plane_by_plane():
    rng = np.random.default_rng(3)
    cube = make_image((3, NY, NX), sci=rng.normal(50, 5, (3, NY, NX)).astype(np.float32))
    flat = _ro(rng.uniform(0.8, 1.2, (NY, NX)).astype(np.float32))
    flat_err = _ro(np.full((NY, NX), 0.02, np.float32))
    snap = _snapshot(cube)
    out, _ = flat_field(cube, flat, flat_err)
    _assert_unchanged(cube, snap)
    assert out.sci.shape == _var_flat(out).shape == out.dq.shape == (3, NY, NX)
    for k in range(3):
        plane = make_image(sci=cube.sci[k])
        ref, _ = flat_field(plane, flat, flat_err)
        for name in ("sci", "err", "var_poisson", "var_rnoise", "var_flat"):
            np.testing.assert_array_equal(getattr(out, name)[k], getattr(ref, name), err_msg=name)


def test_flat_of_the_wrong_shape_is_rejected():
    with pytest.raises(BadDataShapeError, match="flat"):
        flat_field(make_image(), np.ones((NY + 1, NX), np.float32))


@given(sci=st.floats(-1e4, 1e4, width=32), vp=st.floats(0, 1e4, width=32), vr=st.floats(0, 1e4, width=32))
def test_a_unit_flat_without_error_changes_nothing(sci, vp, vr):
    image = make_image(sci=sci, vp=vp, vr=vr)
    out, _ = flat_field(image, _ro(np.ones((NY, NX), np.float32)), _ro(np.zeros((NY, NX), np.float32)))
    np.testing.assert_array_equal(out.sci, image.sci)
    np.testing.assert_array_equal(out.var_poisson, image.var_poisson)
    np.testing.assert_array_equal(_var_flat(out), 0.0)
    np.testing.assert_allclose(out.err, np.sqrt(image.var_poisson + image.var_rnoise), rtol=1e-6)
    np.testing.assert_array_equal(out.dq, image.dq)


# --- photom -------------------------------------------------------------------------------------------------


def _table(rows, *, names=("filter", "pupil", "photmjsr"), as_bytes=True):
    dtype = [(n, "S12" if as_bytes else "U12") if n != "photmjsr" else (n, "f4") for n in names]
    out = np.zeros(len(rows), dtype=dtype)
    for i, row in enumerate(rows):
        out[i] = tuple(v.encode() if isinstance(v, str) and as_bytes else v for v in row)
    out.setflags(write=False)
    return out


NIRCAM_TABLE = _table([("F150W", "CLEAR", 0.5), ("F200W", "F162M", 0.7), ("F200W", "CLEAR", 0.25),
                       ("F200W", "N/A", 0.9)])


def test_photom_converts_to_mjy_per_sr_and_writes_the_photometry_keywords():
    flat_fielded, _ = flat_field(make_image(), _ro(np.full((NY, NX), 2.0, np.float32)),
                                 _ro(np.full((NY, NX), 0.1, np.float32)))
    snap = _snapshot(flat_fielded)
    area = _ro(np.full((NY, NX), 1.01, np.float32))
    area_header = {"PIXAR_SR": 2.26e-14, "PIXAR_A2": 0.000961}
    out, c = photom(flat_fielded, NIRCAM_TABLE, area, area_header, photom_header={"PIXAR_SR": 1.0},
                    reference="photom.fits")
    _assert_unchanged(flat_fielded, snap)
    assert c == pytest.approx(0.25)
    np.testing.assert_allclose(out.sci, flat_fielded.sci * 0.25, rtol=1e-7)
    np.testing.assert_allclose(out.err, flat_fielded.err * 0.25, rtol=1e-7)
    for name in ("var_poisson", "var_rnoise", "var_flat"):
        np.testing.assert_allclose(getattr(out, name), getattr(flat_fielded, name) * 0.0625, rtol=1e-6)
    h = out.sci_header
    assert h["BUNIT"] == "MJy/sr" and h["PHOTMJSR"] == pytest.approx(0.25)
    assert math.isclose(MJYSR_TO_UJYA2, 1e12 / 4.2545170296152e10, rel_tol=1e-12)
    assert math.isclose(MJYSR_TO_UJYA2, 23.5044305391, rel_tol=1e-10)
    assert h["PHOTUJA2"] == pytest.approx(0.25 * 23.5044305391, rel=1e-10)
    assert (h["PIXAR_SR"], h["PIXAR_A2"]) == (2.26e-14, 0.000961)  # AREA header wins over PHOTOM's
    np.testing.assert_array_equal(out.area, area)
    assert out.area is not area  # a copy: the reference cache stays private


def test_pixel_area_falls_back_to_the_photom_header_and_area_is_optional():
    out, _ = photom(make_image(), NIRCAM_TABLE, photom_header={"PIXAR_SR": 3e-14, "PIXAR_A2": 0.001})
    assert (out.sci_header["PIXAR_SR"], out.sci_header["PIXAR_A2"]) == (3e-14, 0.001)
    assert out.area is None
    bare, _ = photom(make_image(), NIRCAM_TABLE)
    assert "PIXAR_SR" not in bare.sci_header


@pytest.mark.parametrize(("primary", "table", "expected"), [
    ({"INSTRUME": "NIRCAM", "FILTER": "F200W", "PUPIL": "F162M"}, NIRCAM_TABLE, 0.7),
    ({"INSTRUME": "NIRCAM", "FILTER": "f150w ", "PUPIL": "clear"}, NIRCAM_TABLE, 0.5),  # case, blanks
    ({"INSTRUME": "NIRCAM", "FILTER": "F200W"}, NIRCAM_TABLE, 0.9),  # no PUPIL keyword ↔ "N/A" row
    ({"INSTRUME": "NIRCAM", "FILTER": "F200W", "PUPIL": "N/A"}, NIRCAM_TABLE, 0.9),
    ({"INSTRUME": "NIRISS", "FILTER": "F150W", "PUPIL": "CLEAR"},
     _table([("F150W", "CLEARP", 2.0), ("F150W", "CLEAR", 3.0)], as_bytes=False), 3.0),
    ({"INSTRUME": "MIRI", "FILTER": "F770W", "SUBARRAY": "SUB256"},
     _table([("F770W", "FULL", 1.0), ("F770W", "SUB256", 2.0)], names=("filter", "subarray", "photmjsr")), 2.0),
    ({"INSTRUME": "MIRI", "FILTER": "F770W", "SUBARRAY": "BRIGHTSKY"},
     _table([("F560W", "GENERIC", 1.0), ("F770W", "GENERIC", 4.0)], names=("filter", "subarray", "photmjsr")), 4.0),
    ({"INSTRUME": "MIRI", "FILTER": "F770W", "SUBARRAY": "FULL"},  # no SUBARRAY column: filter only
     _table([("F770W", "N/A", 5.0)]), 5.0),
    ({"INSTRUME": "NIRSPEC", "FILTER": "F100LP", "GRATING": "G140H"},
     _table([("F100LP", "G140M", 1.0), ("F100LP", "G140H", 7.0)], names=("filter", "grating", "photmjsr")), 7.0),
    ({"INSTRUME": "FGS", "DETECTOR": "GUIDER1"}, _table([("N/A", "N/A", 6.0)]), 6.0),
    ({"INSTRUME": "NIRCAM", "FILTER": "F200W", "PUPIL": "CLEAR"},
     _table([("F200W", "CLEAR", 8.0)], names=("FILTER", "PUPIL", "PHOTMJSR")), 8.0),  # upper-case columns
])
def test_photom_row_selection(primary, table, expected):
    row = photom_row(table, primary)
    column = next(n for n in table.dtype.names if n.lower() == "photmjsr")
    assert float(row[column]) == pytest.approx(expected, rel=1e-7)


def test_no_matching_row_names_the_optical_path():
    with pytest.raises(MissingReferenceError, match=r"photom\.fits.*FILTER=F444W PUPIL=CLEAR"):
        photom(make_image(primary={"INSTRUME": "NIRCAM", "FILTER": "F444W", "PUPIL": "CLEAR"}), NIRCAM_TABLE,
               reference="photom.fits")
    with pytest.raises(MissingReferenceError, match="no rows"):
        photom_row(_table([]), {"INSTRUME": "FGS"})


# --- subtract_background ------------------------------------------------------------------------------------


def _backgrounds(values, errs=None, dqs=None, shape=(NY, NX)):
    out = []
    for i, v in enumerate(values):
        err = 0.5 if errs is None else errs[i]
        dq = 0 if dqs is None else dqs[i]
        out.append(make_image(shape, sci=v, err=err, dq=dq, root=f"bkg{i}"))
    return out


def test_background_is_a_sigma_clipped_mean_and_an_outlier_frame_value_is_rejected():
    # 12 exposures: with n values one outlier is at most (n-1)/sqrt(n) σ from the rest, so 3σ needs n ≥ 11
    levels = [2.0, 2.2, 1.8, 2.1, 1.9, 2.0, 2.05, 1.95, 2.0, 2.1, 1.9, 2.0]
    values = [np.full((NY, NX), v, np.float32) for v in levels]
    values[3][2, 2] = 500.0  # e.g. a cosmic ray left in one background exposure
    errs = [0.4] + [0.3] * 11
    dqs = [0, 0, int(Pixel.JUMP_DET)] + [0] * 9
    bkgs = _backgrounds(values, errs=errs, dqs=dqs)
    science = make_image((2, NY, NX), sci=np.stack([np.full((NY, NX), 10.0), np.full((NY, NX), 20.0)]))
    snaps = [_snapshot(b) for b in (science, *bkgs)]
    out, background, background_err, counts = subtract_background(science, bkgs, sigma=3.0, maxiters=None)
    for image, snap in zip((science, *bkgs), snaps, strict=True):
        _assert_unchanged(image, snap)
    kept = levels[:3] + levels[4:]
    assert background[2, 2] == pytest.approx(np.mean(kept), rel=1e-6)  # 500 rejected
    assert background[0, 0] == pytest.approx(np.mean(levels), rel=1e-6)
    assert background_err[2, 2] == pytest.approx(math.sqrt(0.4**2 + 10 * 0.3**2) / 11, rel=1e-6)
    assert background_err[0, 0] == pytest.approx(math.sqrt(0.4**2 + 11 * 0.3**2) / 12, rel=1e-6)
    # the same background leaves every plane; ERR unchanged; DQ OR-ed
    np.testing.assert_allclose(out.sci[0], 10.0 - background, rtol=1e-6)
    np.testing.assert_allclose(out.sci[1], 20.0 - background, rtol=1e-6)
    np.testing.assert_array_equal(out.err, science.err)
    np.testing.assert_array_equal(out.dq, int(Pixel.JUMP_DET))
    assert counts["n_backgrounds"] == 12 and counts["n_values_rejected"] == 1


def test_background_matches_astropy_sigma_clip_on_noisy_stacks():
    rng = np.random.default_rng(11)
    stack = rng.normal(5.0, 1.0, (7, NY, NX)).astype(np.float32)
    stack[0, :2] += 40.0
    bkgs = _backgrounds(list(stack))
    _, background, _, _ = subtract_background(make_image(), bkgs, sigma=2.5, maxiters=None)
    expected = sigma_clip(stack, sigma=2.5, maxiters=None, axis=0).mean(axis=0)
    np.testing.assert_allclose(background, expected, rtol=1e-5)


def test_cube_backgrounds_are_clipped_over_integrations_then_across_exposures():
    # exposure A: 11 integrations of 1 and one of 90 → 1 after clipping; exposure B: 3 everywhere → mean 2
    a = np.ones((12, NY, NX), np.float32)
    a[4] = 90.0
    b = np.full((4, NY, NX), 3.0, np.float32)
    dq_b = np.zeros((4, NY, NX), np.uint32)
    dq_b[1, 0, 0] = int(Pixel.SATURATED)
    bkgs = [make_image(a.shape, sci=a, err=0.2, root="a"), make_image(b.shape, sci=b, err=0.2, dq=dq_b, root="b")]
    out, background, background_err, counts = subtract_background(make_image(sci=7.0), bkgs)
    np.testing.assert_allclose(background, 2.0, rtol=1e-6)
    # per exposure: sqrt(11·0.2²)/11 and sqrt(4·0.2²)/4 = 0.1; across: sqrt(e_a² + e_b²)/2
    e_a, e_b = 0.2 / math.sqrt(11), 0.1
    np.testing.assert_allclose(background_err, math.sqrt(e_a**2 + e_b**2) / 2, rtol=1e-5)
    np.testing.assert_allclose(out.sci, 5.0, rtol=1e-6)
    assert out.dq[0, 0] == int(Pixel.SATURATED) and out.dq[1, 1] == 0
    assert counts["n_values_rejected"] == NY * NX  # the 90s of exposure A


def test_background_needs_matching_shapes_and_at_least_one_exposure():
    with pytest.raises(BadDataShapeError, match="at least one"):
        subtract_background(make_image(), [])
    with pytest.raises(BadDataShapeError, match="background"):
        subtract_background(make_image(), [make_image((NY, NX + 2))])


# --- assign_wcs ---------------------------------------------------------------------------------------------


def test_assign_wcs_writes_keywords_and_footprint_and_says_distortion_is_ignored():
    image = make_image(primary={"INSTRUME": "NIRCAM", "DETECTOR": "NRCA1"},
                       sci_header={"XREF_SCI": 4.5, "YREF_SCI": 3.5, "RA_REF": 80.5, "DEC_REF": -69.5,
                                   "ROLL_REF": 12.0, "V3I_YANG": -0.56, "VPARITY": -1})
    snap = _snapshot(image)
    outcome = AssignWcsStep().apply(image, Context(header=image.primary, refs=NoReferences()))
    out, wcs = outcome.model, outcome.model.wcs
    _assert_unchanged(image, snap)
    assert isinstance(wcs, WCS) and wcs.pixel_shape == (NX, NY)
    h = out.sci_header
    assert (h["CRVAL1"], h["CRVAL2"], h["CRPIX1"], h["CRPIX2"]) == (80.5, -69.5, 4.5, 3.5)
    assert h["CTYPE1"] == "RA---TAN" and h["CDELT1"] == pytest.approx(0.031 / 3600)
    rel = math.radians(12.0 + (-0.56))
    assert h["PC1_1"] == pytest.approx(-math.cos(rel)) and h["PC1_2"] == pytest.approx(math.sin(rel))
    assert str(h["S_REGION"]).startswith("POLYGON ICRS ") and len(str(h["S_REGION"]).split()) == 10
    assert out.primary["R_DISTOR"] == "N/A"
    assert "distortion" in outcome.note and outcome.status is StepStatus.COMPLETE
    ra, dec = wcs.pixel_to_world_values(3.5, 2.5)  # CRPIX is 1-based
    assert (float(ra), float(dec)) == pytest.approx((80.5, -69.5))
    np.testing.assert_array_equal(out.sci, image.sci)
