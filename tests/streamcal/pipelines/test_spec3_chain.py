"""calwebb_spec3 on the single-trace modes, from raw ramps through detector1 and spec2 to the combined spectrum,
scored against the injected spectrum (issue 11).

A set of three NRS_FIXEDSLIT exposures (three nod positions of one visit: the simulator keeps a spectrum on
its SPECWCS trace whatever the dither, so the members differ by their noise; nods that move the trace are
tested on the kernels, tests/streamcal/kernels/spec/test_rectify.py), a pair of MIR_LRS-FIXEDSLIT exposures
(dispersion along y) and a pair of NIS_SOSS exposures (a curved trace) are simulated bright (S/N > 50 per
dispersion pixel), taken through calwebb_detector1 and
calwebb_spec2, associated by the header rules the tracker uses (``build_asn``), and combined by calwebb_spec3.
The combined x1d must meet the issue's figures (median flux / truth within 2 % where S/N > 50, pull width
0.9–1.1, emission-line centres within 0.1 resolution element), its S/N must be √N times a member's, and a cosmic
ray put into one member's ``_cal`` must be rejected by outlier_detection (and, without it, show). An NRS1 and
an NRS2 exposure combine into one spectrum holding both halves of G395H.
``benchmarks/spectroscopy.py`` prints the figures.
"""

from __future__ import annotations

import dataclasses
import importlib
import json
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from stdatamodels.jwst import datamodels as dm

from streamcal.associations import build_asn, write_asn
from streamcal.calibrate import calibrate
from streamcal.datamodels import read_extensions, read_header
from streamcal.datamodels.spectra import read_x1d
from streamcal.errors import AssociationError
from streamcal.models.image import read_image, write_image
from streamcal.models.spectral import SpectralLayout, layout_from_specwcs
from streamcal.pipelines import PARTIAL, implements
from streamcal.pipelines.plan import PipelineResult, PlannedStep, RunRequest, build_plan
from streamcal.pipelines.spec3 import SPEC3, product_name
from streamcal.references import ReferenceStore, RefType
from streamcal.routing import RoutingConfig, RunSpec
from streamcal.simulate import ExposureSpec, simulate_exposure, write_reference_set
from streamcal.simulate.spec import plan_exposure
from streamcal.simulate.spectra import default_spectrum_for

ALIAS = "calwebb_spec3"
#: EXP_TYPE → (NGROUPS, brightness × the default 1 mJy, members), as test_spectral_chain's single exposures.
SETS = {"NRS_FIXEDSLIT": (20, 300.0, 3), "MIR_LRS-FIXEDSLIT": (10, 30.0, 2), "NIS_SOSS": (10, 100.0, 2)}


@dataclass(frozen=True)
class Chain:
    """A spec3 run on a simulated set: the folder, the association, the members' x1d, truth and line list."""

    exp_type: str
    folder: Path
    asn_path: Path
    refs: Path
    cals: list[Path]
    member_x1d: list[Path]
    truth: np.ndarray  # the EXTRACTED truth table (one member's; every member has the same spectrum)
    lines: list[tuple[float, float]]
    result: PipelineResult


def _run_spec3(asn_path: Path, refs: Path, out: Path, *, outlier_detection: bool = True) -> PipelineResult:
    first = sorted(asn_path.parent.glob("*_cal.fits"))[0]  # the run specification the tracker would record
    spec = RunSpec.from_header(read_header(first), RoutingConfig.load(), source=first.name)
    plan = build_plan(SPEC3, spec.stage(ALIAS))
    if not outlier_detection:
        entries = tuple(PlannedStep(e.name, reason="switched off by the test") if e.name == "outlier_detection"
                        else e for e in plan.entries)
        plan = dataclasses.replace(plan, entries=entries)
    return SPEC3.run(RunRequest(pipeline=ALIAS, input_path=asn_path, spec=spec, refs_dir=refs, out_dir=out), plan)


def simulate_set(root: Path, exp_type: str, ngroups: int, brightness: float, n: int) -> Chain:
    layout = plan_exposure(ExposureSpec(exp_type=exp_type)).layout
    assert layout is not None
    base = default_spectrum_for(layout)
    spectrum = type(base)(base.wavelength_um, base.flux_jy * brightness, base.lines)
    cals, x1ds, truth = [], [], None
    for i in range(n):
        spec = ExposureSpec(exp_type=exp_type, ngroups=ngroups, spectrum=spectrum, exposure=i + 1, patt_num=i + 1,
                            numdthpt=n, patttype="ALONG-SLIT-NOD", dither=(0.0, 2.0 * i), nexposur=n,
                            expcount=i + 1)
        exposure = simulate_exposure(spec, root / "raw", rng_seed=101 + i)
        if i == 0:
            header = exposure.header
            write_reference_set(root / "refs", only=[(header["DETECTOR"], header["SUBARRAY"])])
            truth = read_extensions(exposure.truth_path, ["EXTRACTED"])["EXTRACTED"]
        rate = calibrate(exposure.path, pipeline_alias="calwebb_detector1", refs_dir=root / "refs",
                         out_dir=root / "out").product("rate")
        result = calibrate(rate, pipeline_alias="calwebb_spec2", refs_dir=root / "refs", out_dir=root / "out")
        cals.append(result.product("cal"))
        x1ds.append(result.product("x1d"))
    asn = build_asn("spec3", [(c.name, read_header(c)) for c in cals])
    asn_path = write_asn(asn, root / "out" / f"{asn.products[0].name}_spec3_asn.json")
    assert truth is not None
    result = _run_spec3(asn_path, root / "refs", root / "spec3")
    lines = [(line.centre_um, line.fwhm_um) for line in spectrum.lines if line.kind == "emission"]
    return Chain(exp_type, root, asn_path, root / "refs", cals, x1ds, truth, lines, result)


def _columns(path: Path) -> dict[str, np.ndarray]:
    [(table, _)] = read_x1d(path)
    order = np.argsort(table["WAVELENGTH"])
    return {name: np.asarray(table[name])[order] for name in table.dtype.names or ()}


def score(x1d: Path, truth: np.ndarray, lines: list[tuple[float, float]]) -> dict[str, float]:
    """The issue's figures on an x1d: share at S/N > 50 with a complete aperture, median flux / truth there, pull
    width there (statistical error: the simulated flat is exact), worst emission-line offset in resolution
    elements (2 px), median S/N."""
    cols = _columns(x1d)
    order = np.argsort(truth["WAVELENGTH"])
    true_wave, true_flux = truth["WAVELENGTH"][order], truth["FLUX"][order]
    wave, flux = cols["WAVELENGTH"], cols["FLUX"]
    np.testing.assert_allclose(wave, true_wave, rtol=1e-12)
    statistical = np.sqrt(cols["FLUX_VAR_POISSON"] + cols["FLUX_VAR_RNOISE"])
    snr = flux / statistical
    # complete apertures only: a bad pixel in every member leaves a boxcar without its flux (as in spec2's score)
    complete = cols["NPIXELS"] >= np.nanmax(cols["NPIXELS"]) - 1e-9
    good = np.isfinite(flux) & (snr > 50) & (cols["DQ"] & 1 == 0) & complete
    pulls = (flux[good] - true_flux[good]) / statistical[good]
    resolution = 2 * np.median(np.abs(np.gradient(wave)))
    worst = 0.0
    for centre_um, fwhm in lines:
        near = np.abs(wave - centre_um) < 2 * fwhm
        side = (np.abs(wave - centre_um) > 3 * fwhm) & (np.abs(wave - centre_um) < 5 * fwhm)
        excess = flux[near] - np.polyval(np.polyfit(wave[side], flux[side], 1), wave[near])
        worst = max(worst, abs(np.sum(wave[near] * excess) / np.sum(excess) - centre_um) / resolution)
    return {"snr50": float(good.mean()), "flux_ratio": float(np.median(flux[good] / true_flux[good])),
            "pull_std": float(np.std(pulls)), "line_offset_resel": worst,
            "median_snr": float(np.nanmedian(snr[np.isfinite(snr)]))}


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Callable[[str], Chain]:
    """Each set simulated and calibrated once for the module."""
    cache: dict[str, Chain] = {}

    def get(exp_type: str) -> Chain:
        if exp_type not in cache:
            cache[exp_type] = simulate_set(tmp_path_factory.mktemp(exp_type.lower()), exp_type, *SETS[exp_type])
        return cache[exp_type]
    return get


@pytest.fixture(scope="module", params=sorted(SETS))
def chain(request: pytest.FixtureRequest, built: Callable[[str], Chain]) -> Chain:
    return built(request.param)


@pytest.fixture(scope="module")
def nrs(built: Callable[[str], Chain]) -> Chain:
    return built("NRS_FIXEDSLIT")


def _layout(chain: Chain, header: dict[str, object]) -> SpectralLayout:
    ref = ReferenceStore.open(chain.refs).for_exposure(header).require(RefType.SPECWCS)
    return layout_from_specwcs(ref["SPECWCS"], source=ref.name)


def test_spec3_takes_the_single_trace_and_ifu_modes_only() -> None:
    assert {"NRS_FIXEDSLIT", "MIR_LRS-FIXEDSLIT", "NIS_SOSS", "MIR_MRS", "NRS_IFU"} <= PARTIAL[ALIAS]
    assert implements(ALIAS, "NRS_MSASPEC")  # per source: test_spec3_mos.py


def test_products_open_in_stdatamodels_as_jwst_writes_them(chain: Chain) -> None:
    name = product_name(json.loads(chain.asn_path.read_text())["products"][0]["name"], read_header(chain.cals[0]))
    s2d, x1d, c1d = (chain.result.product(s) for s in ("s2d", "x1d", "c1d"))
    assert s2d.name == f"{name}_s2d.fits"
    with dm.open(s2d) as model:
        assert isinstance(model, dm.SlitModel) and model.meta.bunit_data == "MJy"
        assert model.wavelength.shape == model.data.shape and model.meta.cal_step.resample == "COMPLETE"
        assert model.meta.cal_step.extract_1d is None  # written before extract_1d, as jwst's
    with dm.open(x1d) as model:
        assert isinstance(model, dm.MultiSpecModel) and str(model.spec[0].spec_table.columns["FLUX"].unit) == "Jy"
    with dm.open(c1d) as model:
        assert isinstance(model, dm.CombinedSpecModel) and model.meta.cal_step.combine_1d == "COMPLETE"
        assert np.nanmax(model.spec_table["N_INPUT"]) == len(chain.cals)
    assert x1d.with_suffix(".png") in chain.result.products
    skipped = {s.name: s.note for s in chain.result.steps if s.status == "SKIPPED"}
    assert skipped["master_background"] == "not implemented in streamcal"


def test_s2d_conserves_the_flux_of_the_cal(chain: Chain, tmp_path: Path) -> None:
    """Summed across the dispersion, the s2d of one member equals the sum of its cal's usable pixels over the same
    rows (whole-pixel rectification on the member's own wavelength grid moves no flux, adds none, loses none;
    flagged pixels and rows off the subarray are NaN in the s2d)."""
    cal_path = chain.cals[0]
    asn = build_asn("spec3", [(cal_path.name, read_header(cal_path))])
    asn_path = write_asn(asn, cal_path.parent / f"one_{chain.exp_type.lower()}_spec3_asn.json")
    with dm.open(_run_spec3(asn_path, chain.refs, tmp_path).product("s2d")) as model:
        s2d = np.asarray(model.data, dtype=np.float64)
        half = (s2d.shape[0] - 1) // 2
    cal = read_image(cal_path)
    layout = _layout(chain, cal.primary)
    x0, y0 = (int(str(cal.primary.get(k, 1))) - 1 for k in ("SUBSTRT1", "SUBSTRT2"))
    # cross-dispersion × dispersion, in the subarray's pixels
    usable = np.where((cal.dq & 1) == 0, cal.sci.astype(np.float64), np.nan)
    sci, cross0, disp0 = (usable, y0, x0) if layout.dispaxis == 1 else (usable.T, x0, y0)
    d = layout.dispersion_pixels()
    rows = np.rint(layout.trace(d) - cross0).astype(int)
    order = np.argsort(layout.wavelength(d))
    expected = np.array([np.nansum(sci[max(r - half, 0):r + half + 1, j - disp0])
                         for r, j in zip(rows, d, strict=True)])[order]
    got = np.nansum(s2d, axis=0)
    ok = np.isfinite(s2d).sum(axis=0) > half
    assert ok.mean() > 0.99, ok.mean()
    np.testing.assert_allclose(got[ok], expected[ok], rtol=1e-6, atol=1e-6 * np.nanmax(np.abs(expected)))


def test_combined_spectrum_is_true_calibrated_and_sqrt_n_deeper(chain: Chain) -> None:
    figures = score(chain.result.product("x1d"), chain.truth, chain.lines)
    assert figures["snr50"] > 0.8, figures
    assert figures["flux_ratio"] == pytest.approx(1.0, abs=0.02), figures
    assert 0.9 <= figures["pull_std"] <= 1.1, figures
    assert figures["line_offset_resel"] < 0.1, figures
    single = np.mean([score(x, chain.truth, chain.lines)["median_snr"] for x in chain.member_x1d])
    assert figures["median_snr"] / single == pytest.approx(np.sqrt(len(chain.cals)), rel=0.05)
    c1d = score_c1d(chain)
    assert c1d["flux_ratio"] == pytest.approx(1.0, abs=0.02) and 0.9 <= c1d["pull_std"] <= 1.1, c1d
    assert c1d["error_ratio"] == pytest.approx(1.0, abs=0.05), c1d


def score_c1d(chain: Chain) -> dict[str, float]:
    """flux / truth and pull width of the c1d where S/N > 50, and its ERROR against the x1d's FLUX_ERROR. The
    pulls use the combined x1d's statistical error: ERROR, like FLUX_ERROR, includes the flat's uncertainty,
    which the exact simulated flat does not realize."""
    with dm.open(chain.result.product("c1d")) as model:
        table = model.spec_table
        flux, error = np.asarray(table["FLUX"]), np.asarray(table["ERROR"])
    x1d = _columns(chain.result.product("x1d"))
    statistical = np.sqrt(x1d["FLUX_VAR_POISSON"] + x1d["FLUX_VAR_RNOISE"])
    order = np.argsort(chain.truth["WAVELENGTH"])
    true = chain.truth["FLUX"][order]
    complete = x1d["NPIXELS"] >= np.nanmax(x1d["NPIXELS"]) - 1e-9
    good = np.isfinite(flux) & np.isfinite(statistical) & (flux / statistical > 50) & complete
    return {"flux_ratio": float(np.median(flux[good] / true[good])),
            "pull_std": float(np.std((flux[good] - true[good]) / statistical[good])),
            "error_ratio": float(np.median(error[good] / x1d["FLUX_ERROR"][good]))}


def _with_cosmic_ray(nrs: Chain, folder: Path) -> tuple[Path, float]:
    """The NRS association copied to ``folder`` with a cosmic ray on the trace core of the second member's cal;
    returns the new association and the wavelength hit."""
    folder.mkdir(parents=True)
    for path in [*nrs.cals, nrs.asn_path]:
        shutil.copy(path, folder / path.name)
    cal = read_image(nrs.cals[1])
    layout = _layout(nrs, cal.primary)
    column = 1000
    row = int(np.rint(layout.trace(column))) - (int(str(cal.primary["SUBSTRT2"])) - 1)
    sci = cal.sci.copy()
    sci[row - 1:row + 2, column] += 20 * sci[row, column]  # a 3-pixel hit of 20x the core
    write_image(folder / nrs.cals[1].name, cal.replace(sci=sci), bunit="MJy")
    return folder / nrs.asn_path.name, float(layout.wavelength(column))


def outlier_figures(nrs: Chain, folder: Path) -> dict[str, float]:
    """The combined flux's pull against truth at a cosmic ray put into one of three members, with and without
    outlier_detection, and how many pixels it flagged."""
    asn_path, wave_hit = _with_cosmic_ray(nrs, folder / "hit")
    order = np.argsort(nrs.truth["WAVELENGTH"])
    true_wave, true_flux = nrs.truth["WAVELENGTH"][order], nrs.truth["FLUX"][order]
    k = int(np.argmin(np.abs(true_wave - wave_hit)))
    figures: dict[str, float] = {}
    for on in (True, False):
        result = _run_spec3(asn_path, nrs.refs, folder / f"out_{on}", outlier_detection=on)
        cols = _columns(result.product("x1d"))
        figures["pull_with" if on else "pull_without"] = float((cols["FLUX"][k] - true_flux[k]) / cols["FLUX_ERROR"][k])
        if on:
            record = next(s for s in result.steps if s.name == "outlier_detection")
            figures["n_flagged"] = record.counts["n_flagged"]
    return figures


def test_a_cosmic_ray_in_one_member_is_rejected_by_outlier_detection(nrs: Chain, tmp_path: Path) -> None:
    figures = outlier_figures(nrs, tmp_path)
    assert 3 <= figures["n_flagged"] <= 20, figures
    assert abs(figures["pull_with"]) < 3, figures  # rejected: the other two members carry the point
    assert figures["pull_without"] > 20, figures  # kept: the hit shows


def test_two_members_are_not_tested_for_outliers(tmp_path: Path, nrs: Chain) -> None:
    asn = build_asn("spec3", [(c.name, read_header(c)) for c in nrs.cals[:2]])
    asn_path = write_asn(asn, nrs.cals[0].parent / "two_spec3_asn.json")
    result = _run_spec3(asn_path, nrs.refs, tmp_path)
    record = next(s for s in result.steps if s.name == "outlier_detection")
    assert record.counts == {"n_members": 2, "n_flagged": 0, "n_tested_members": 0}


def test_a_missing_member_is_an_association_error_naming_it(nrs: Chain, tmp_path: Path) -> None:
    doc = json.loads(nrs.asn_path.read_text())
    doc["products"][0]["members"].append({"expname": "jw01234001001_02101_00009_nrs1_cal.fits",
                                          "exptype": "science"})
    asn_path = nrs.asn_path.parent / "missing_spec3_asn.json"
    asn_path.write_text(json.dumps(doc))
    with pytest.raises(AssociationError, match=r"not on storage: jw01234001001_02101_00009_nrs1_cal\.fits"):
        _run_spec3(asn_path, nrs.refs, tmp_path)


def test_a_member_of_another_exp_type_is_an_association_error(nrs: Chain, tmp_path: Path) -> None:
    cal = read_image(nrs.cals[0])
    other = cal.replace(primary={**cal.primary, "EXP_TYPE": "NRS_MSASPEC"})
    name = "jw01234001001_02101_00008_nrs1_cal.fits"
    write_image(nrs.cals[0].parent / name, other, bunit="MJy")
    doc = json.loads(nrs.asn_path.read_text())
    doc["products"][0]["members"].append({"expname": name, "exptype": "science"})
    asn_path = nrs.asn_path.parent / "mixed_spec3_asn.json"
    asn_path.write_text(json.dumps(doc))
    with pytest.raises(AssociationError, match=f"member {name} is NRS_MSASPEC"):
        _run_spec3(asn_path, nrs.refs, tmp_path)


def test_a_member_path_outside_the_folder_is_refused(nrs: Chain, tmp_path: Path) -> None:
    doc = json.loads(nrs.asn_path.read_text())
    doc["products"][0]["members"][0]["expname"] = "../elsewhere/" + doc["products"][0]["members"][0]["expname"]
    asn_path = nrs.asn_path.parent / "escape_spec3_asn.json"
    asn_path.write_text(json.dumps(doc))
    with pytest.raises(AssociationError, match="not a bare"):
        _run_spec3(asn_path, nrs.refs, tmp_path)


@pytest.mark.parametrize("module", ["streamcal.kernels.spec.rectify", "streamcal.kernels.spec.combine2d",
                                    "streamcal.kernels.spec.combine1d", "streamcal.kernels.spec.outlier",
                                    "streamcal.steps.spec.spec3", "streamcal.pipelines.spec3",
                                    "streamcal.kernels.spec.ifu_outlier", "streamcal.steps.spec.spec3_ifu",
                                    "streamcal.pipelines.spec3_ifu",
                                    "streamcal.datamodels.combined"])
def test_every_public_name_is_importable(module: str) -> None:
    mod = importlib.import_module(module)
    assert mod.__all__ and all(hasattr(mod, name) for name in mod.__all__)


def test_the_two_nirspec_detectors_make_one_spectrum_across_the_gap(tmp_path: Path) -> None:
    """G395H spreads over NRS1 and NRS2: one exposure of each, associated together, rectify onto one grid
    that holds both halves, each calibrated against its own truth."""
    cals, truths = [], []
    for detector in ("NRS1", "NRS2"):
        layout = plan_exposure(ExposureSpec(exp_type="NRS_FIXEDSLIT", detector=detector)).layout
        assert layout is not None
        base = default_spectrum_for(layout)
        spectrum = type(base)(base.wavelength_um, base.flux_jy * 300.0, base.lines)
        exposure = simulate_exposure(ExposureSpec(exp_type="NRS_FIXEDSLIT", detector=detector, ngroups=20,
                                                  spectrum=spectrum), tmp_path / "raw", rng_seed=7)
        write_reference_set(tmp_path / "refs", only=[(detector, exposure.header["SUBARRAY"])])
        rate = calibrate(exposure.path, pipeline_alias="calwebb_detector1", refs_dir=tmp_path / "refs",
                         out_dir=tmp_path / "out").product("rate")
        cals.append(calibrate(rate, pipeline_alias="calwebb_spec2", refs_dir=tmp_path / "refs",
                              out_dir=tmp_path / "out").product("cal"))
        truths.append(read_extensions(exposure.truth_path, ["EXTRACTED"])["EXTRACTED"])
    asn = build_asn("spec3", [(c.name, read_header(c)) for c in cals])
    assert len(asn.products[0].members) == 2
    asn_path = write_asn(asn, tmp_path / "out" / f"{asn.products[0].name}_spec3_asn.json")
    result = _run_spec3(asn_path, tmp_path / "refs", tmp_path / "spec3")
    cols = _columns(result.product("x1d"))
    truth = np.concatenate(truths)
    truth = truth[np.argsort(truth["WAVELENGTH"])]
    np.testing.assert_allclose(cols["WAVELENGTH"], truth["WAVELENGTH"], rtol=1e-12)  # both halves, each pixel
    complete = cols["NPIXELS"] >= np.nanmax(cols["NPIXELS"]) - 1e-9
    assert complete.mean() > 0.95
    gap = float(np.max(truths[0]["WAVELENGTH"]))
    for half in (cols["WAVELENGTH"] <= gap, cols["WAVELENGTH"] > gap):
        ratio = cols["FLUX"][complete & half] / truth["FLUX"][complete & half]
        assert ratio.size > 1900 and np.median(ratio) == pytest.approx(1.0, abs=0.02)
