"""From raw ramps to a flux- and wavelength-calibrated spectrum, scored against the injected spectrum (issue 11).

The chain calwebb_spec2 will run, step by step, on a simulated exposure of each single-trace family: stage 1
(calwebb_detector1) makes the rate; the flat is divided out; the SPECWCS reference gives each dispersion pixel its
wavelength and trace centre (assign_wcs); the trace is extracted by boxcar with the sky from side regions
(extract_1d); the PHOTOM row's photmj × relresponse(λ) turns DN/s into Jy (photom); the x1d is written as jwst
writes it and opened by stdatamodels. Scored as the issue's "Done when" asks: median flux / truth within 2 % where
S/N > 50 (complete apertures), pulls of width 0.9–1.1, emission-line centres within 0.1 resolution element (2 px)
of the injected ones. Wavelengths equal the injected ones by construction (the simulator and the pipeline read one
SPECWCS), so line centres are the wavelength test that can fail.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from stdatamodels.jwst import datamodels as dm

from streamcal.calibrate import calibrate
from streamcal.datamodels import read_extensions, read_product
from streamcal.datamodels.spectra import Spectrum1D, write_x1d
from streamcal.dq import Pixel
from streamcal.kernels.image.calibrate import photom_row
from streamcal.kernels.spec import BoxcarAperture, extract_boxcar, spectral_conversion
from streamcal.models.spectral import layout_from_specwcs
from streamcal.references import ReferenceStore, RefType
from streamcal.simulate import ExposureSpec, simulate_exposure, write_reference_set
from streamcal.simulate.spec import plan_exposure
from streamcal.simulate.spectra import default_spectrum_for

#: EXP_TYPE → (NGROUPS, brightness × the default 1 mJy spectrum): single-trace families (fixed slit along x, MIRI
#: LRS along y), bright enough for S/N > 50 per pixel and below saturation.
CASES = {"NRS_FIXEDSLIT": (20, 300.0), "MIR_LRS-FIXEDSLIT": (10, 30.0)}


def _chain(tmp_path: Path, exp_type: str, ngroups: int, brightness: float) -> dict[str, object]:
    plan = plan_exposure(ExposureSpec(exp_type=exp_type))
    assert plan.layout is not None
    base = default_spectrum_for(plan.layout)
    spectrum = type(base)(base.wavelength_um, base.flux_jy * brightness, base.lines)
    exposure = simulate_exposure(ExposureSpec(exp_type=exp_type, ngroups=ngroups, spectrum=spectrum),
                                 tmp_path / "raw", rng_seed=11)
    header = exposure.header
    write_reference_set(tmp_path / "refs", only=[(header["DETECTOR"], header["SUBARRAY"])])
    result = calibrate(exposure.path, pipeline_alias="calwebb_detector1", refs_dir=tmp_path / "refs",
                       out_dir=tmp_path / "out")
    rate = read_product(result.product("rate"))
    refs = ReferenceStore.open(tmp_path / "refs").for_exposure(rate.primary)
    layout = layout_from_specwcs(refs.require(RefType.SPECWCS)["SPECWCS"])
    flat = np.asarray(refs.require(RefType.FLAT)["SCI"], dtype=np.float64)
    row = photom_row(refs.require(RefType.PHOTOM)["PHOTOM"], rate.primary, reference="photom")

    # assign_wcs: wavelength and trace centre of each dispersion pixel of the subarray
    x0, y0 = int(rate.primary["SUBSTRT1"]) - 1, int(rate.primary["SUBSTRT2"]) - 1
    ny, nx = rate["SCI"].shape
    disp_offset, cross_offset, ndisp = (x0, y0, nx) if layout.dispaxis == 1 else (y0, x0, ny)
    d_full = np.arange(ndisp) + disp_offset
    lit = (d_full >= layout.d_range[0]) & (d_full < layout.d_range[1])
    wavelength = layout.wavelength(d_full)
    centre = layout.trace(d_full) - cross_offset
    # flat_field
    with np.errstate(invalid="ignore", divide="ignore"):
        sci = rate["SCI"] / flat
        var_p, var_r = rate["VAR_POISSON"] / flat ** 2, rate["VAR_RNOISE"] / flat ** 2
    dq = np.where(np.isfinite(sci), rate["DQ"], rate["DQ"] | Pixel.DO_NOT_USE)
    # extract_1d, then photom: DN/s → MJy → Jy
    aperture = BoxcarAperture(4 * layout.sigma_px, bkg_inner=6 * layout.sigma_px, bkg_outer=12 * layout.sigma_px)
    out = extract_boxcar(sci, var_poisson=var_p, var_rnoise=var_r, dq=dq, dispaxis=layout.dispaxis,
                         centre=np.where(lit, centre, centre[lit][0]), aperture=aperture)
    to_jy = spectral_conversion(row, wavelength) * 1e6
    flux, error = out.flux * to_jy, out.error * to_jy
    x1d = write_x1d(tmp_path / "out" / f"{exposure.path.name.removesuffix('_uncal.fits')}_x1d.fits", [Spectrum1D(
        {"WAVELENGTH": wavelength[lit], "FLUX": flux[lit], "FLUX_VAR_POISSON": (out.var_poisson * to_jy ** 2)[lit],
         "FLUX_VAR_RNOISE": (out.var_rnoise * to_jy ** 2)[lit], "NPIXELS": out.npixels[lit], "DQ": out.dq[lit]},
        {"DISPAXIS": layout.dispaxis, "SPORDER": 1, "SRCTYPE": "POINT"})], primary=rate.primary)
    truth = read_extensions(exposure.truth_path, ["EXTRACTED"])["EXTRACTED"]
    complete = out.npixels >= 2 * aperture.half_width - 1e-9  # no pixel of the aperture lost (CR, bad pixel)
    return {"flux": flux[lit], "error": error[lit], "wavelength": wavelength[lit], "truth": truth,
            "complete": complete[lit],
            "lines": [line for line in spectrum.lines if line.kind == "emission"], "x1d": x1d,
            "dispersion": np.abs(np.gradient(wavelength[lit]))}


@pytest.fixture(scope="module", params=sorted(CASES))
def chain(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> dict[str, object]:
    return _chain(tmp_path_factory.mktemp(request.param.lower()), request.param, *CASES[request.param])


def test_wavelengths_are_the_injected_ones_and_the_x1d_opens_in_stdatamodels(chain: dict) -> None:
    truth = chain["truth"]
    np.testing.assert_allclose(chain["wavelength"], truth["WAVELENGTH"], rtol=1e-12)
    with dm.open(chain["x1d"]) as model:
        assert isinstance(model, dm.MultiSpecModel)
        table = model.spec[0].spec_table
        assert str(table.columns["FLUX"].unit) == "Jy" and str(table.columns["WAVELENGTH"].unit) == "um"
        np.testing.assert_allclose(table["FLUX"], chain["flux"])


def test_flux_is_within_2_percent_of_the_injected_spectrum_and_errors_are_calibrated(chain: dict) -> None:
    flux, error, true = chain["flux"], chain["error"], chain["truth"]["FLUX"]
    assert chain["complete"].mean() > 0.95  # a pixel lost to a cosmic ray or a bad pixel drops its weight
    good = np.isfinite(flux) & np.isfinite(error) & (flux / error > 50) & chain["complete"]
    assert good.mean() > 0.8, f"only {good.mean():.0%} of the band reaches S/N 50 with a complete aperture"
    assert np.median(flux[good] / true[good]) == pytest.approx(1.0, abs=0.02)
    pulls = (flux[good] - true[good]) / error[good]
    assert 0.9 <= np.std(pulls) <= 1.1, np.std(pulls)


def test_emission_lines_are_where_they_were_injected(chain: dict) -> None:
    """Each emission line's flux-weighted centre (over ±2 FWHM, continuum removed) lies within 0.1 resolution
    element (2 px) of the injected centre."""
    wave, flux = chain["wavelength"], chain["flux"]
    order = np.argsort(wave)
    wave, flux = wave[order], flux[order]
    dispersion = np.median(chain["dispersion"])
    for line in chain["lines"]:
        near = np.abs(wave - line.centre_um) < 2 * line.fwhm_um
        side = (np.abs(wave - line.centre_um) > 3 * line.fwhm_um) & (np.abs(wave - line.centre_um) < 5 * line.fwhm_um)
        continuum = np.polyval(np.polyfit(wave[side], flux[side], 1), wave[near])
        excess = flux[near] - continuum
        centre = np.sum(wave[near] * excess) / np.sum(excess)
        assert abs(centre - line.centre_um) < 0.1 * 2 * dispersion, (line, centre)
