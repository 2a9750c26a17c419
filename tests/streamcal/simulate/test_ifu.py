"""The IFU forward model (issue 11): a flat sky comes back as its surface brightness through the PHOTOM row; a
point source's pixels sum to its flux; the references hold the geometry and calibration the exposure used."""

from __future__ import annotations

import numpy as np
import pytest

from streamcal.models.ifu import read_ifu_geometry
from streamcal.references import Manifest, ReferenceStore, RefType
from streamcal.simulate import ExposureSpec, write_reference_set
from streamcal.simulate import ifu as ifu_module
from streamcal.simulate.geometry import DETECTORS, subarray_for
from streamcal.simulate.headers import primary_header
from streamcal.simulate.ifu import IfuScene, ifu_truth, render_ifu
from streamcal.simulate.spec import plan_exposure
from streamcal.simulate.spectra import default_spectrum

_SR = (np.pi / 648000) ** 2


def test_every_listed_name_imports() -> None:
    for name in ifu_module.__all__:
        assert getattr(ifu_module, name) is not None


def _scene(exp_type: str) -> IfuScene:
    scene = plan_exposure(ExposureSpec(exp_type=exp_type)).ifu
    assert scene is not None
    return scene


@pytest.mark.parametrize("exp_type", ["MIR_MRS", "NRS_IFU"])
def test_a_flat_sky_and_a_point_source_render_as_calibrated(exp_type: str) -> None:
    scene = _scene(exp_type)
    detector = plan_exposure(ExposureSpec(exp_type=exp_type)).detector
    full = subarray_for(detector, "FULL")
    phot = scene.photometry
    sky_only = render_ifu(scene._replace(spectrum=type(scene.spectrum)(scene.spectrum.wavelength_um,
                                                                       0 * scene.spectrum.flux_jy)), full)
    on = sky_only.pixels.slice >= 0
    conversion = phot.photmj * np.interp(sky_only.pixels.wavelength[on], phot.wavelength, phot.relresponse)
    np.testing.assert_allclose(sky_only.rate[on] * conversion, scene.sky, rtol=1e-12)
    flat = type(scene.spectrum)(scene.spectrum.wavelength_um, np.full(scene.spectrum.flux_jy.size, 2e-3))
    render = render_ifu(scene._replace(sky=0.0, spectrum=flat), full)
    geometry = scene.geometry
    omega = geometry.alpha_scale * geometry.slice_width * _SR
    flux = np.zeros(render.rate.shape)
    flux[on] = render.rate[on] * conversion * omega * 1e6  # Jy per pixel
    middle = geometry.slices[len(geometry.slices) // 2]
    d = (middle.d_range[0] + middle.d_range[1]) // 2  # one dispersion pixel, across every slice
    along = flux[:, d] if geometry.dispaxis == 1 else flux[d, :]
    truth = ifu_truth(scene._replace(spectrum=flat), render.pixels)
    k = d - middle.d_range[0]
    # each slice sees its own wavelength at d (the solutions are shifted), so its PSF σ differs by < 0.1 %
    assert along.sum() == pytest.approx(2e-3 * truth["FOV_FRACTION"][k], rel=1e-5)
    assert truth["FOV_FRACTION"][k] > 0.999
    assert geometry.pixels(render.rate.shape).slice.max() == len(geometry.slices) - 1


def test_the_references_hold_the_slicer_and_the_ifu_calibration(tmp_path) -> None:
    plan = plan_exposure(ExposureSpec(exp_type="NRS_IFU"))
    assert plan.ifu is not None and plan.subarray.name == "ALLSLITS"
    write_reference_set(tmp_path, only=[("NRS1", "ALLSLITS")])
    store = ReferenceStore.open(tmp_path).for_exposure(primary_header(plan))
    specwcs = store.require(RefType.SPECWCS)
    assert read_ifu_geometry(specwcs.path) == plan.ifu.geometry
    row = store.require(RefType.PHOTOM)["PHOTOM"][0]
    assert float(row["photmjsr"]) == plan.ifu.photometry.photmj
    n = int(row["nelem"])
    np.testing.assert_array_equal(row["relresponse"][:n].astype(np.float64), plan.ifu.photometry.relresponse)
    fs = {**primary_header(plan_exposure(ExposureSpec(exp_type="NRS_FIXEDSLIT"))), "SUBARRAY": "ALLSLITS"}
    fs_photom = ReferenceStore.open(tmp_path).for_exposure(fs).require(RefType.PHOTOM)
    assert fs_photom.name != store.require(RefType.PHOTOM).name  # the fixed slit keeps the detector's
    assert {e.selectors["EXP_TYPE"] for e in Manifest.load(tmp_path).entries
            if e.reftype is RefType.SPECWCS} >= {"NRS_IFU", "NRS_FIXEDSLIT"}
    # the small subarray holds the 8 middle slices, and the source's PSF lies on them
    slices = np.unique(plan.ifu.geometry.pixels((plan.subarray.ny, plan.subarray.nx),
                                                (plan.subarray.y0, plan.subarray.x0)).slice)
    assert list(slices[slices >= 0]) == list(range(11, 19))


def test_a_spectrum_that_does_not_cover_the_band_is_refused() -> None:
    with pytest.raises(ValueError, match="the spectrum covers 5–6 µm; MIR_MRS lights"):
        plan_exposure(ExposureSpec(exp_type="MIR_MRS", spectrum=default_spectrum(5.0, 6.0)))
    with pytest.raises(KeyError, match="no IFU geometry for NRS_IFU on NRS2"):
        plan_exposure(ExposureSpec(exp_type="NRS_IFU", detector="NRS2"))


def test_a_dither_moves_the_source_by_minus_the_offset_along_alpha_and_beta() -> None:
    """XOFFSET, YOFFSET (dither × pixel scale, arcsec) move the sky by −offset across the slicer (issue 11)."""
    still = plan_exposure(ExposureSpec(exp_type="MIR_MRS")).ifu
    moved = plan_exposure(ExposureSpec(exp_type="MIR_MRS", dither=(0.5, -1.0))).ifu
    assert still is not None and moved is not None and still.offset == (0.0, 0.0)
    scale = DETECTORS["MIRIFUSHORT"].pixel_scale
    assert moved.offset == pytest.approx((0.5 * scale, -1.0 * scale))
    assert moved.source == pytest.approx((still.source[0] - 0.5 * scale, still.source[1] + 1.0 * scale))
