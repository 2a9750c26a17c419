"""The spectral forward model of the single-trace modes (issue 11): source spectra, layouts, the render, the truth
an exposure writes, and the SPECWCS and PHOTOM references that describe the same layout."""

from __future__ import annotations

import importlib
import math
from pathlib import Path

import numpy as np
import pytest
from astropy import units as u
from astropy.io import fits
from astropy.table import Table
from numpy.polynomial import polynomial

from streamcal.datamodels import read_extensions
from streamcal.kernels.image.calibrate import photom_row
from streamcal.models.spectral import SpectralLayout, layout_from_specwcs, read_specwcs
from streamcal.references import Manifest, ReferenceStore, RefType
from streamcal.simulate import MODES, ExposureSpec, SceneKind, simulate_exposure, write_reference_set
from streamcal.simulate.detector import DetectorModel
from streamcal.simulate.geometry import DETECTORS, Subarray, subarray_for
from streamcal.simulate.headers import primary_header
from streamcal.simulate.photom import SPECTRAL_ELEMENTS, photom_rows
from streamcal.simulate.spec import plan_exposure
from streamcal.simulate.spectra import (
    SINGLE_TRACE_MODES,
    SourceSpectrum,
    default_spectrum,
    default_spectrum_for,
    extracted_truth,
    layout_for,
    read_spectrum_table,
    render_spectrum,
)

MODE_NAMES = sorted(str(e) for e in SINGLE_TRACE_MODES)


def _layout(exp_type: str) -> SpectralLayout:
    mode = MODES[exp_type]  # type: ignore[index]
    return layout_for(exp_type, mode.detector, mode.optics)


def _full(exp_type: str) -> Subarray:
    return subarray_for(DETECTORS[MODES[exp_type].detector], "FULL")  # type: ignore[index]


@pytest.fixture(scope="module")
def full_renders():
    """Every single-trace mode's default spectrum rendered on its detector's full frame."""
    return {e: render_spectrum(_layout(e), default_spectrum_for(_layout(e)), _full(e)) for e in MODE_NAMES}


def _by_dispersion(image: np.ndarray, dispaxis: int) -> np.ndarray:
    """(cross, dispersion) view of a (ny, nx) image."""
    return image if dispaxis == 1 else image.T


@pytest.mark.parametrize("module", ["streamcal.simulate.spectra", "streamcal.simulate.spectral_layouts"])
def test_public_names(module):
    mod = importlib.import_module(module)
    for name in mod.__all__:
        assert getattr(mod, name) is not None, name


def test_the_single_trace_modes_are_the_catalogues_trace_scenes():
    assert {e for e, m in MODES.items() if m.scene is SceneKind.TRACE} == SINGLE_TRACE_MODES


@pytest.mark.parametrize("exp_type", MODE_NAMES)
def test_the_layout_matches_the_mode_and_lights_its_subarrays(exp_type):
    """Dispersion axis as the catalogue says; the whole profile of every lit pixel inside both subarrays."""
    mode, layout = MODES[exp_type], _layout(exp_type)  # type: ignore[index]
    assert layout.dispaxis == mode.dispaxis and layout.calibrated
    spectrum = default_spectrum_for(layout)
    for size in (mode.small, mode.full):
        sub = subarray_for(DETECTORS[mode.detector], size.subarray)
        rows = extracted_truth(layout, spectrum, sub)
        s = rows["FLUX"] / layout.conversion(rows["WAVELENGTH"])
        assert rows.size == layout.d_range[1] - layout.d_range[0]  # every lit pixel is in the subarray
        np.testing.assert_allclose(rows["RATE_SUM"], s, rtol=1e-9)  # and the whole profile with it


@pytest.mark.parametrize("exp_type", MODE_NAMES)
def test_flux_is_conserved_in_every_lit_dispersion_pixel(full_renders, exp_type):
    layout = _layout(exp_type)
    render = full_renders[exp_type]
    rate = _by_dispersion(render.rate, layout.dispaxis)
    first, stop = layout.d_range
    d = np.arange(rate.shape[1])
    lit = (d >= first) & (d < stop)
    assert np.all(rate >= 0) and not rate[:, ~lit].any()  # nothing outside d_range
    wave = polynomial.polyval(d[lit], layout.wavelength_coeffs)
    relresponse = np.interp(wave, layout.response_wavelength, layout.response)
    flux = rate[:, lit].sum(axis=0) * layout.photmj * 1e6 * relresponse
    spectrum = default_spectrum_for(layout)
    np.testing.assert_allclose(flux, np.interp(wave, spectrum.wavelength_um, spectrum.flux_jy), rtol=1e-6, atol=0)
    # each pixel holds the Gaussian integrated over it (not sampled at its centre)
    j = int(np.flatnonzero(lit)[lit.sum() // 2])
    centre = float(polynomial.polyval(j, layout.trace_coeffs))
    cells = np.arange(round(centre) - 3, round(centre) + 4)
    erf = np.vectorize(math.erf)
    scale = math.sqrt(2) * layout.sigma_px
    lo, hi = (0.5 * (1 + erf((edge - centre) / scale)) for edge in (cells - 0.5, cells + 0.5))
    np.testing.assert_allclose(rate[cells, j], rate[:, j].sum() * (hi - lo), rtol=1e-9)


@pytest.mark.parametrize("exp_type", MODE_NAMES)
def test_the_wavelength_map_is_the_polynomial_along_the_trace(full_renders, exp_type):
    layout = _layout(exp_type)
    wmap = _by_dispersion(full_renders[exp_type].wavelength, layout.dispaxis)
    first, stop = layout.d_range
    d = np.arange(first, stop)
    centre = polynomial.polyval(d, layout.trace_coeffs)
    nearest = np.round(centre).astype(int)
    np.testing.assert_array_equal(wmap[nearest, d], polynomial.polyval(d, layout.wavelength_coeffs))
    cross = np.arange(wmap.shape[0])[:, None]
    inside = np.abs(cross - centre[None, :]) <= 4 * layout.sigma_px
    assert np.all(np.isfinite(wmap[:, first:stop]) == inside)  # within 4σ of the trace, NaN beyond
    assert np.all(np.isnan(wmap[:, :first])) and np.all(np.isnan(wmap[:, stop:]))
    lo, hi = layout.wave_range
    assert np.nanmin(wmap) == lo and np.nanmax(wmap) == hi
    steps = np.diff(wmap[nearest, d])
    assert np.all(steps > 0) or np.all(steps < 0)


@pytest.mark.parametrize("exp_type", MODE_NAMES)
def test_a_subarray_render_is_the_cut_of_the_full_frame_render(full_renders, exp_type):
    mode, layout = MODES[exp_type], _layout(exp_type)  # type: ignore[index]
    full = full_renders[exp_type]
    det = DETECTORS[mode.detector]
    subs = [subarray_for(det, mode.small.subarray), subarray_for(det, mode.full.subarray)]
    # and a region cutting the profile (the trace 2–3 px above its edge) and the start of the dispersion range
    first = layout.d_range[0]
    c = int(np.floor(layout.trace(first)))
    subs.append(Subarray("CUT", 40, 50, first - 3 + 1, c - 2 + 1) if layout.dispaxis == 1
                else Subarray("CUT", 50, 40, c - 2 + 1, first - 3 + 1))
    for sub in subs:
        part = render_spectrum(layout, default_spectrum_for(layout), sub)
        window = np.s_[sub.y0:sub.y0 + sub.ny, sub.x0:sub.x0 + sub.nx]
        assert part.rate.shape == (sub.ny, sub.nx) and part.rate.dtype == np.float64
        np.testing.assert_array_equal(part.rate, full.rate[window], err_msg=sub.name)
        np.testing.assert_array_equal(part.wavelength, full.wavelength[window], err_msg=sub.name)
    cut_rows = extracted_truth(layout, default_spectrum_for(layout), subs[-1])
    assert cut_rows["d"].tolist() == list(range(3, 50))
    assert np.all(cut_rows["RATE_SUM"] < cut_rows["FLUX"] / layout.conversion(cut_rows["WAVELENGTH"]))


def test_source_spectrum_interpolates_and_refuses_wavelengths_outside_its_table():
    spectrum = SourceSpectrum(np.array([1.0, 2.0, 4.0]), np.array([1.0, 3.0, 0.0]))
    np.testing.assert_array_equal(spectrum.flux_at([1.0, 1.5, 3.0, 4.0]), [1.0, 2.0, 1.5, 0.0])
    with pytest.raises(ValueError, match=r"outside the spectrum's table 1–4 µm, e.g. 4.5 µm"):
        spectrum.flux_at([2.0, 4.5])
    with pytest.raises(ValueError, match="strictly increasing"):
        SourceSpectrum(np.array([1.0, 1.0]), np.array([1.0, 2.0]))
    with pytest.raises(ValueError, match="same length"):
        SourceSpectrum(np.array([1.0, 2.0]), np.array([1.0]))
    assert not spectrum.flux_jy.flags.writeable


def test_default_spectrum_is_1_mjy_at_the_centre_with_its_lines_resolved():
    lo, hi, step = 2.0, 3.0, 5e-4
    spectrum = default_spectrum(lo, hi, dispersion_um=step)
    assert spectrum.flux_at(2.5) == pytest.approx(1e-3, rel=1e-9)
    assert np.diff(spectrum.wavelength_um).max() <= step / 20 * (1 + 1e-9)  # >= 20 samples per pixel
    kinds = [line.kind for line in spectrum.lines]
    assert kinds.count("emission") == 3 and kinds.count("absorption") == 2
    for line in spectrum.lines:  # against the continuum ±10 FWHM away
        assert lo < line.centre_um < hi and line.fwhm_um == pytest.approx(6 * step)
        side = float(np.mean(spectrum.flux_at([line.centre_um - 10 * line.fwhm_um,
                                                line.centre_um + 10 * line.fwhm_um])))
        peak = float(spectrum.flux_at(line.centre_um))
        assert (peak > 1.2 * side) if line.kind == "emission" else (peak < 0.8 * side)
    # a 5000 K blackbody is Rayleigh–Jeans-like here: brighter in F_ν at the blue end
    assert spectrum.flux_jy[0] > spectrum.flux_jy[-1]


def _write(tmp_path: Path, text: str, name: str = "spec.txt") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def test_a_user_table_round_trips_and_drives_the_render(tmp_path):
    layout = _layout("NRS_FIXEDSLIT")
    lo, hi = layout.wave_range
    wave = np.linspace(lo - 0.01, hi + 0.01, 5000)
    flux = 2e-3 * (wave / 3.0) ** -2 * (1 + 0.5 * np.sin(40 * wave))
    text = "# a user spectrum\n# wavelength_um flux_jy\n\n" + "".join(
        f"{float(w)!r} {float(f)!r}" + ("  # a comment\n" if i == 3 else "\n")
        for i, (w, f) in enumerate(zip(wave, flux, strict=True)))
    spectrum = read_spectrum_table(_write(tmp_path, text))
    np.testing.assert_array_equal(spectrum.wavelength_um, wave)
    np.testing.assert_array_equal(spectrum.flux_jy, flux)
    sub = subarray_for(DETECTORS["NRS1"], "SUBS200A1")
    rate = render_spectrum(layout, spectrum, sub).rate
    d = np.arange(sub.nx)
    w = layout.wavelength(d[layout.d_range[0]:layout.d_range[1]])
    got = rate.sum(axis=0)[layout.d_range[0]:layout.d_range[1]] * layout.conversion(w)
    np.testing.assert_allclose(got, np.interp(w, wave, flux), rtol=1e-6)
    # ECSV with units: nm and mJy are converted to µm and Jy
    table = Table({"wavelength": wave * 1000 * u.nm, "flux": flux * 1000 * u.mJy})
    table.write(tmp_path / "spec.ecsv", format="ascii.ecsv")
    from_ecsv = read_spectrum_table(tmp_path / "spec.ecsv")
    np.testing.assert_allclose(from_ecsv.wavelength_um, wave, rtol=1e-12)
    np.testing.assert_allclose(from_ecsv.flux_jy, flux, rtol=1e-12)


@pytest.mark.parametrize(("text", "line", "message"), [
    ("# header\n1.0 2.0\n2.0 abc\n3.0 1.0\n", 3, "expected two numbers"),
    ("1.0 2.0\n2.0 1.0 7.0\n", 2, "expected two numbers"),
    ("# only one row\n1.0 2.0\n", 2, "at least 2 rows"),
    ("1.0 2.0\n2.0 1.0\n\n2.0 1.0\n", 4, "not greater than 2.0 µm on line 2"),
    ("1.0 2.0\n0.5 1.0\n", 2, "not greater than"),
    ("-1.0 2.0\n2.0 1.0\n", 1, "must be positive"),
    ("1.0 2.0\n2.0 -1.0\n", 2, "must be finite and >= 0"),
    ("1.0 2.0\n2.0 nan\n", 2, "must be finite and >= 0"),
], ids=["non-numeric", "three-columns", "one-row", "repeated", "decreasing", "negative-wavelength",
        "negative-flux", "nan-flux"])
def test_bad_tables_raise_value_error_naming_the_file_and_line(tmp_path, text, line, message):
    path = _write(tmp_path, text, "bad_spectrum.txt")
    with pytest.raises(ValueError, match=rf"bad_spectrum\.txt line {line}: .*{message}"):
        read_spectrum_table(path)


def test_an_ecsv_table_with_a_bad_row_names_its_line(tmp_path):
    Table({"wavelength": [1.0, 2.0, 1.5], "flux": [1.0, 1.0, 1.0]}).write(tmp_path / "s.ecsv", format="ascii.ecsv")
    lines = (tmp_path / "s.ecsv").read_text().splitlines()
    bad_line = next(i for i, text in enumerate(lines, start=1) if text.startswith("1.5"))
    with pytest.raises(ValueError, match=rf"s\.ecsv line {bad_line}: wavelength 1.5 µm is not greater"):
        read_spectrum_table(tmp_path / "s.ecsv")


@pytest.mark.parametrize("exp_type", MODE_NAMES)
def test_the_photom_row_of_the_path_carries_the_layouts_calibration(exp_type):
    mode, layout = MODES[exp_type], _layout(exp_type)  # type: ignore[index]
    det = DETECTORS[mode.detector]
    table = photom_rows(det)
    row = photom_row(table, {"INSTRUME": det.instrument, **mode.optics})
    n = int(row["nelem"])
    assert n >= 2 and float(row["photmj"]) == layout.photmj
    assert tuple(row["wavelength"][:n].astype(np.float64)) == layout.response_wavelength
    assert tuple(row["relresponse"][:n].astype(np.float64)) == layout.response
    assert not row["wavelength"][n:].any() and row["wavelength"].size == SPECTRAL_ELEMENTS  # zero-padded
    assert layout.geometry().with_photom_row(row) == layout
    others = table[table["nelem"] == 0]
    assert others.size and not others["photmj"].any() and not others["relresponse"].any()


@pytest.mark.parametrize(("written", "exp_types"), [
    ("NRS_FIXEDSLIT", ("NRS_FIXEDSLIT", "NRS_BRIGHTOBJ")),
    ("MIR_LRS-SLITLESS", ("MIR_LRS-FIXEDSLIT", "MIR_LRS-SLITLESS")),
    ("NIS_SOSS", ("NIS_SOSS",)),
    ("NRC_TSGRISM", ("NRC_GRISM", "NRC_TSGRISM")),
])
def test_the_specwcs_reference_reads_back_to_the_layout_the_exposure_used(tmp_path, written, exp_types):
    """A compact reference set for one mode's small layout holds the SPECWCS of every single-trace mode of the
    detector (full frame, so any subarray selects it); with the PHOTOM row it is the exposure's layout exactly."""
    mode = MODES[written]  # type: ignore[index]
    write_reference_set(tmp_path, only=[(mode.detector, mode.small.subarray)])
    entries = [e for e in Manifest.load(tmp_path).entries if e.reftype is RefType.SPECWCS
               and e.selectors["EXP_TYPE"] not in ("MIR_MRS", "NRS_IFU", "NRS_MSASPEC", "NIS_WFSS", "NRC_WFSS",
                                                  "NRS_LAMP", "NRS_AUTOWAVE", "NRS_AUTOFLAT")]
    # not single traces — IFU: test_ifu.py; MSA: test_mos_chain.py; WFSS grisms: test_wfss_chain.py; lamps:
    # test_lamp_chain.py
    assert sorted(e.selectors["EXP_TYPE"] for e in entries) == sorted(exp_types)
    assert all(e.selectors["SUBARRAY"] == "FULL" for e in entries)
    store = ReferenceStore.open(tmp_path)
    photom = store.for_exposure(primary_header(plan_exposure(ExposureSpec(exp_type=written)))).require(RefType.PHOTOM)
    for exp_type in exp_types:
        plan = plan_exposure(ExposureSpec(exp_type=exp_type))
        specwcs = store.for_exposure(primary_header(plan)).require(RefType.SPECWCS)
        assert specwcs.header["EXP_TYPE"] == exp_type and specwcs.window is None  # a table: never cut
        assert plan.layout is not None
        assert read_specwcs(specwcs.path) == plan.layout.geometry()
        assert layout_from_specwcs(specwcs["SPECWCS"]) == plan.layout.geometry()
        row = photom_row(photom["PHOTOM"], primary_header(plan))  # the modes of a detector share the path
        assert read_specwcs(specwcs.path).with_photom_row(row) == plan.layout  # the calibration too


def test_modes_without_a_layout_and_spectra_that_do_not_fit_are_refused():
    with pytest.raises(KeyError, match="no spectral layout for NRC_TSGRISM on NRCA1"):
        plan_exposure(ExposureSpec(exp_type="NRC_TSGRISM", detector="NRCA1"))
    with pytest.raises(ValueError, match="takes no spectrum"):
        plan_exposure(ExposureSpec(exp_type="NRC_IMAGE", spectrum=default_spectrum(1.0, 2.0)))
    with pytest.raises(ValueError, match=r"the spectrum covers 3–4 µm; NRS_FIXEDSLIT on NRS1 lights 2.87–4.0"):
        plan_exposure(ExposureSpec(exp_type="NRS_FIXEDSLIT", spectrum=default_spectrum(3.0, 4.0)))
    on_nrs2 = plan_exposure(ExposureSpec(exp_type="NRS_FIXEDSLIT", detector="NRS2")).layout
    assert on_nrs2 is not None and on_nrs2.wave_range[0] > _layout("NRS_FIXEDSLIT").wave_range[1]  # the red half


@pytest.mark.parametrize("exp_type", ["NRS_FIXEDSLIT", "MIR_LRS-SLITLESS"])
def test_an_exposure_truth_holds_the_spectrum_and_its_perfect_extraction(tmp_path, exp_type):
    """EXTRACTED.FLUX is the input spectrum at λ(d); the truth RATE, flat and sky removed, sums to RATE_SUM."""
    plan = plan_exposure(ExposureSpec(exp_type=exp_type))
    layout, spectrum = plan.layout, plan.spectrum
    assert layout is not None and spectrum is not None
    result = simulate_exposure(ExposureSpec(exp_type=exp_type), tmp_path, rng_seed=3)
    truth = read_extensions(result.truth_path, ["RATE", "WAVELENGTH", "SPECTRUM", "EXTRACTED"])
    head = fits.getheader(result.truth_path)
    table, rows = truth["SPECTRUM"], truth["EXTRACTED"]
    np.testing.assert_array_equal(table["WAVELENGTH"], spectrum.wavelength_um)
    np.testing.assert_array_equal(table["FLUX"], spectrum.flux_jy)
    sub = plan.subarray
    d_full = rows["d"] + (sub.x0 if layout.dispaxis == 1 else sub.y0)
    assert head["DISPAXIS"] == layout.dispaxis and d_full.tolist() == list(range(*layout.d_range))
    np.testing.assert_array_equal(rows["WAVELENGTH"], polynomial.polyval(d_full, layout.wavelength_coeffs))
    np.testing.assert_allclose(rows["FLUX"], np.interp(rows["WAVELENGTH"], table["WAVELENGTH"], table["FLUX"]),
                               rtol=1e-12)
    response = DetectorModel.build(plan.detector, sub).response
    source = np.where(response > 0, truth["RATE"] / np.where(response > 0, response, 1), np.nan) - head["BKGRATE"]
    source = _by_dispersion(source, layout.dispaxis)[:, rows["d"]]
    cross = np.arange(source.shape[0])[:, None] + (sub.y0 if layout.dispaxis == 1 else sub.x0)
    profile = np.abs(cross - layout.trace(d_full)[None, :]) <= 8 * layout.sigma_px  # all but 1e-15 of it
    summed = np.where(profile, source, 0.0).sum(axis=0)
    ok = np.isfinite(summed)  # dispersion pixels without a dead pixel in the profile
    assert ok.mean() > 0.8
    np.testing.assert_allclose(summed[ok], rows["RATE_SUM"][ok], rtol=2e-4, atol=2e-4 * rows["RATE_SUM"].max())
    wmap = truth["WAVELENGTH"]
    assert wmap.shape == (sub.ny, sub.nx)
    np.testing.assert_array_equal(wmap, render_spectrum(layout, spectrum, sub).wavelength)
