"""calwebb_spec3 on the IFU modes (MIR_MRS, NRS_IFU), from raw ramps of a 4-point dither through detector1 and
spec2 to the combined cube and spectrum, scored against the injected truth (issue 11).

Each set is four exposures of one bright point source (S/N > 50 per plane in each member), dithered across the
slicer by half-pixel and half-slice steps (the simulator moves the source by −XOFFSET, −YOFFSET along alpha,
beta and records the offset in the truth file), taken through calwebb_detector1 and calwebb_spec2, associated by
the header rules the tracker uses (``build_asn``) and combined by calwebb_spec3 into ``_s3d`` and ``_x1d``. The
combined x1d must meet the issue's figures (median flux / truth within 2 % where S/N > 50, pull width 0.9–1.1,
emission-line centres within 0.1 resolution element), its S/N must be √N times a member's, the source found in
the combined cube must sit at the true (undithered) position within 0.1 spaxel, and a cosmic ray put into one
member's ``_cal`` must be rejected by outlier_detection (and, without it, show). Truth per plane is the injected
spectrum through the cube's wavelength sampling (``test_ifu_chain.expected_flux``). ``benchmarks/spec3.py``
prints the figures.
"""

from __future__ import annotations

import dataclasses
import json
import shutil
import warnings
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
from streamcal.errors import AssociationError, InvalidInputError
from streamcal.models.image import ImageData, read_image, write_image
from streamcal.pipelines import PARTIAL, implements
from streamcal.pipelines.plan import PipelineResult, PlannedStep, RunRequest, build_plan
from streamcal.pipelines.spec3 import SPEC3
from streamcal.routing import RoutingConfig, RunSpec
from streamcal.simulate import ExposureSpec, simulate_exposure, write_reference_set
from streamcal.simulate.geometry import DETECTORS
from streamcal.simulate.ifu import ifu_geometry
from streamcal.simulate.spec import plan_exposure
from streamcal.simulate.spectra import SourceSpectrum
from streamcal.steps.spec.ifu import ifu_image
from streamcal.steps.spec.spec3_ifu import IfuMember, common_grid, dither_offset, filled_boxes
from tests.streamcal.pipelines.test_ifu_chain import expected_flux

ALIAS = "calwebb_spec3"
#: EXP_TYPE → (NGROUPS, brightness × the default 1 mJy): S/N 400–600 per plane in a member, below saturation.
SETS = {"MIR_MRS": (20, 300.0), "NRS_IFU": (20, 40.0)}
#: The dither offsets in units of (along-slice pixel, slice width): half steps in both, 4 points.
PATTERN = ((0.0, 0.0), (0.5, 0.5), (-0.5, 1.0), (1.0, -0.5))


@dataclass(frozen=True)
class IfuSet:
    """A spec3 run on a dithered set: folders, the association, the members' cals and spec2 x1ds, truth."""

    exp_type: str
    asn_path: Path
    refs: Path
    cals: list[Path]
    member_x1d: list[Path]
    spectrum: SourceSpectrum
    source: tuple[float, float]  # the true source position in the common (undithered) frame, arcsec
    spaxel: tuple[float, float]  # alpha, beta spaxel size, arcsec
    result: PipelineResult


def run_spec3(asn_path: Path, refs: Path, out: Path, *, outlier_detection: bool = True) -> PipelineResult:
    first = sorted(asn_path.parent.glob("*_cal.fits"))[0]  # the run specification the tracker would record
    spec = RunSpec.from_header(read_header(first), RoutingConfig.load(), source=first.name)
    plan = build_plan(SPEC3, spec.stage(ALIAS))
    if not outlier_detection:
        entries = tuple(PlannedStep(e.name, reason="switched off by the test") if e.name == "outlier_detection"
                        else e for e in plan.entries)
        plan = dataclasses.replace(plan, entries=entries)
    return SPEC3.run(RunRequest(pipeline=ALIAS, input_path=asn_path, spec=spec, refs_dir=refs, out_dir=out), plan)


def simulate_set(root: Path, exp_type: str, ngroups: int, brightness: float,
                 pattern: tuple[tuple[float, float], ...] = PATTERN, *, seed: int = 211) -> IfuSet:
    scene = plan_exposure(ExposureSpec(exp_type=exp_type)).ifu
    assert scene is not None
    geometry, base = scene.geometry, scene.spectrum
    spectrum = SourceSpectrum(base.wavelength_um, base.flux_jy * brightness, base.lines)
    cals, x1ds, n = [], [], len(pattern)
    source = (0.0, 0.0)
    for i, (ua, ub) in enumerate(pattern):
        plan = plan_exposure(ExposureSpec(exp_type=exp_type))
        scale = DETECTORS[plan.detector.name].pixel_scale  # XOFFSET = dither × pixel scale
        dither = (ua * geometry.alpha_scale / scale, ub * geometry.slice_width / scale)
        spec = ExposureSpec(exp_type=exp_type, ngroups=ngroups, spectrum=spectrum, exposure=i + 1, patt_num=i + 1,
                            numdthpt=n, patttype="4-POINT", dither=dither, nexposur=n, expcount=i + 1)
        exposure = simulate_exposure(spec, root / "raw", rng_seed=seed + i)
        if i == 0:
            write_reference_set(root / "refs", only=[(exposure.header["DETECTOR"], exposure.header["SUBARRAY"])])
        truth = read_header(exposure.truth_path)
        source = (float(str(truth["SRCALPHA"])) + float(str(truth["DITHALPH"])),
                  float(str(truth["SRCBETA"])) + float(str(truth["DITHBETA"])))
        rate = calibrate(exposure.path, pipeline_alias="calwebb_detector1", refs_dir=root / "refs",
                         out_dir=root / "out").product("rate")
        result = calibrate(rate, pipeline_alias="calwebb_spec2", refs_dir=root / "refs", out_dir=root / "out")
        cals.append(result.product("cal"))
        x1ds.append(result.product("x1d"))
    asn = build_asn("spec3", [(c.name, read_header(c)) for c in cals])
    asn_path = write_asn(asn, root / "out" / f"{asn.products[0].name}_spec3_asn.json")
    result = run_spec3(asn_path, root / "refs", root / "spec3")
    return IfuSet(exp_type, asn_path, root / "refs", cals, x1ds, spectrum, source,
                  (geometry.alpha_scale, geometry.slice_width), result)


def _table(x1d: Path) -> tuple[np.ndarray, dict[str, object]]:
    [(table, meta)] = read_x1d(x1d)
    return table, dict(meta)


def score(x1d: Path, spectrum: SourceSpectrum) -> dict[str, float]:
    """The issue's figures on an IFU x1d (as test_ifu_chain's): share of planes at S/N > 50 with a complete
    aperture, median flux / truth there, pull width there (statistical error), worst emission-line offset in
    resolution elements (2 planes), median S/N."""
    table, _ = _table(x1d)
    wave, flux = table["WAVELENGTH"], table["FLUX"]
    statistical = np.sqrt(table["FLUX_VAR_POISSON"] + table["FLUX_VAR_RNOISE"])
    true = expected_flux(spectrum, wave)
    snr = flux / statistical
    good = np.isfinite(flux) & (snr > 50) & (table["DQ"] == 0)
    pulls = (flux[good] - true[good]) / statistical[good]
    resolution = 2 * float(np.median(np.diff(wave)))
    worst = 0.0
    for line in spectrum.lines:
        if line.kind != "emission":
            continue
        near = np.abs(wave - line.centre_um) < 2 * line.fwhm_um
        side = (np.abs(wave - line.centre_um) > 3 * line.fwhm_um) & (np.abs(wave - line.centre_um) < 5 * line.fwhm_um)
        excess = flux[near] - np.polyval(np.polyfit(wave[side], flux[side], 1), wave[near])
        worst = max(worst, abs(np.sum(wave[near] * excess) / np.sum(excess) - line.centre_um) / resolution)
    return {"snr50": float(good.mean()), "flux_ratio": float(np.median(flux[good] / true[good])),
            "pull_std": float(np.std(pulls)), "line_offset_resel": worst,
            "median_snr": float(np.nanmedian(snr[np.isfinite(snr)]))}


def source_offset(ifu: IfuSet) -> tuple[float, float]:
    """The source found in the combined cube minus the true one, in spaxels (alpha, beta)."""
    _, meta = _table(ifu.result.product("x1d"))
    return ((float(str(meta["SRCALPHA"])) - ifu.source[0]) / ifu.spaxel[0],
            (float(str(meta["SRCBETA"])) - ifu.source[1]) / ifu.spaxel[1])


slow = pytest.mark.slow  # the chains: eight exposures through detector1 and spec2, ~3 min (see pyproject.toml)


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Callable[[str], IfuSet]:
    """Each set simulated and calibrated once for the module."""
    cache: dict[str, IfuSet] = {}

    def get(exp_type: str) -> IfuSet:
        if exp_type not in cache:
            cache[exp_type] = simulate_set(tmp_path_factory.mktemp(exp_type.lower()), exp_type, *SETS[exp_type])
        return cache[exp_type]
    return get


@pytest.fixture(scope="module", params=sorted(SETS))
def ifu(request: pytest.FixtureRequest, built: Callable[[str], IfuSet]) -> IfuSet:
    return built(request.param)


def test_spec3_takes_the_ifu_modes() -> None:
    assert {"MIR_MRS", "NRS_IFU"} <= PARTIAL[ALIAS]
    assert implements(ALIAS, "MIR_MRS") and implements(ALIAS, "NRS_IFU")


@slow
def test_products_open_in_stdatamodels_as_jwst_writes_them(ifu: IfuSet) -> None:
    name = json.loads(ifu.asn_path.read_text())["products"][0]["name"]
    s3d, x1d = ifu.result.product("s3d"), ifu.result.product("x1d")
    assert s3d.name == f"{name}_s3d.fits" and x1d.name == f"{name}_x1d.fits"
    with dm.open(s3d) as model:
        assert isinstance(model, dm.IFUCubeModel) and model.meta.bunit_data == "MJy/sr"
        assert model.meta.cal_step.cube_build == "COMPLETE" and model.meta.cal_step.extract_1d is None
        assert model.meta.asn.table_name == ifu.asn_path.name
    with dm.open(x1d) as model:
        assert isinstance(model, dm.MultiSpecModel) and str(model.spec[0].spec_table.columns["FLUX"].unit) == "Jy"
    assert {s3d.with_suffix(".png"), x1d.with_suffix(".png")} <= set(ifu.result.products)
    assert not any(p.name.endswith(("_s2d.fits", "_c1d.fits")) for p in ifu.result.products)
    status = {s.name: (s.status, s.note) for s in ifu.result.steps}
    assert status["outlier_detection"][0] == "COMPLETE" and status["cube_build"][0] == "COMPLETE"
    assert status["resample_spec"] == ("SKIPPED", "IFU members: cube_build combines them")
    assert status["combine_1d"][0] == "SKIPPED"
    assert status["master_background"] == ("SKIPPED", "not implemented in streamcal")


@slow
def test_combined_spectrum_is_true_calibrated_and_sqrt_n_deeper(ifu: IfuSet) -> None:
    figures = score(ifu.result.product("x1d"), ifu.spectrum)
    assert figures["snr50"] > 0.8, figures
    assert figures["flux_ratio"] == pytest.approx(1.0, abs=0.02), figures
    assert 0.9 <= figures["pull_std"] <= 1.1, figures
    assert figures["line_offset_resel"] < 0.1, figures
    single = np.mean([score(x, ifu.spectrum)["median_snr"] for x in ifu.member_x1d])
    assert figures["median_snr"] / single == pytest.approx(np.sqrt(len(ifu.cals)), rel=0.07), figures


@slow
def test_the_combined_cube_puts_the_source_where_it_is(ifu: IfuSet) -> None:
    da, db = source_offset(ifu)
    assert abs(da) < 0.1 and abs(db) < 0.1, (da, db)


@slow
def test_one_undithered_member_gives_back_its_spec2_cube(ifu: IfuSet, tmp_path: Path) -> None:
    """The combined grid continues the first member's own grid: one member at offset 0 is spec2's cube, except
    next to the member's bad pixels (spec3 gives their wavelength boxes to their neighbours; spec2's voxels fill
    from them by their overlaps)."""
    cal = ifu.cals[0]
    asn = build_asn("spec3", [(cal.name, read_header(cal))])
    asn_path = write_asn(asn, cal.parent / "one_spec3_asn.json")
    result = run_spec3(asn_path, ifu.refs, tmp_path)
    with dm.open(result.product("s3d")) as mine, dm.open(cal.with_name(cal.name.replace("_cal", "_s3d"))) as theirs:
        assert mine.data.shape == theirs.data.shape
        assert mine.meta.wcsinfo.crpix1 == theirs.meta.wcsinfo.crpix1
        assert mine.meta.wcsinfo.crpix2 == theirs.meta.wcsinfo.crpix2
        same = np.isclose(mine.data, theirs.data, rtol=1e-6, equal_nan=True)
        assert same.mean() > 0.95, same.mean()


def _with_cosmic_ray(ifu: IfuSet, folder: Path) -> tuple[Path, float]:
    """The association copied to ``folder`` with a hit of 20× the PSF core on three pixels along the dispersion
    in the second member's cal; returns the new association and the wavelength hit."""
    folder.mkdir(parents=True)
    for path in [*ifu.cals, ifu.asn_path]:
        shutil.copy(path, folder / path.name)
    cal = read_image(ifu.cals[1])
    wavelength = read_extensions(ifu.cals[1], ["WAVELENGTH"])["WAVELENGTH"].astype(np.float64)
    # the PSF core at the middle of the band: the brightest spectrum across the slices, by its median over
    # ±5 pixels along the dispersion (a single bright pixel, a cosmic ray detector1 left, does not count)
    dispaxis = int(str(cal.primary["DISPAXIS"]))
    sci, wave = (cal.sci, wavelength) if dispaxis == 2 else (cal.sci.T, wavelength.T)  # rows: dispersion
    d = sci.shape[0] // 2
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # columns between the slices: all NaN
        profile = np.nanmedian(np.where(np.isfinite(wave[d - 5:d + 6]), sci[d - 5:d + 6], np.nan), axis=0)
    c = int(np.nanargmax(profile))
    hit = sci.copy()
    hit[d - 1:d + 2, c] += 20 * profile[c]
    write_image(folder / ifu.cals[1].name, cal.replace(sci=hit if dispaxis == 2 else np.ascontiguousarray(hit.T)),
                bunit="MJy/sr")
    return folder / ifu.asn_path.name, float(wave[d, c])


def outlier_figures(ifu: IfuSet, folder: Path) -> dict[str, float]:
    """The combined flux's pull against truth at a cosmic ray put into one of the members, with and without
    outlier_detection, and how many pixels it flagged (with and without the hit)."""
    asn_path, wave_hit = _with_cosmic_ray(ifu, folder / "hit")
    figures: dict[str, float] = {}
    for on in (True, False):
        result = run_spec3(asn_path, ifu.refs, folder / f"out_{on}", outlier_detection=on)
        table, _ = _table(result.product("x1d"))
        k = int(np.argmin(np.abs(table["WAVELENGTH"] - wave_hit)))
        true = expected_flux(ifu.spectrum, table["WAVELENGTH"])[k]
        figures["pull_with" if on else "pull_without"] = float((table["FLUX"][k] - true) / table["FLUX_ERROR"][k])
        if on:
            figures["n_flagged"] = next(s for s in result.steps if s.name == "outlier_detection").counts["n_flagged"]
    clean = next(s for s in ifu.result.steps if s.name == "outlier_detection")
    figures["n_flagged_clean"] = clean.counts["n_flagged"]
    return figures


@slow
def test_a_cosmic_ray_in_one_member_is_rejected_by_outlier_detection(ifu: IfuSet, tmp_path: Path) -> None:
    figures = outlier_figures(ifu, tmp_path)
    assert figures["n_flagged"] >= figures["n_flagged_clean"] + 3, figures
    assert abs(figures["pull_with"]) < 3, figures  # rejected: the other members carry the point
    assert figures["pull_without"] > 10, figures  # kept: the hit shows


def _mixed(ifu: IfuSet, name: str, primary: dict[str, object]) -> Path:
    cal = read_image(ifu.cals[0])
    write_image(ifu.cals[0].parent / name, cal.replace(primary=primary), bunit="MJy/sr")
    doc = json.loads(ifu.asn_path.read_text())
    doc["products"][0]["members"].append({"expname": name, "exptype": "science"})
    asn_path = ifu.asn_path.parent / f"mixed_{primary['EXP_TYPE']}_{primary.get('BAND', 'x')}_spec3_asn.json"
    asn_path.write_text(json.dumps(doc))
    return asn_path


@slow
def test_members_of_another_band_or_mode_are_an_association_error(built: Callable[[str], IfuSet],
                                                                  tmp_path: Path) -> None:
    mrs = built("MIR_MRS")
    head = read_image(mrs.cals[0]).primary
    other_band = _mixed(mrs, "jw01234001001_02101_00008_mirifushort_cal.fits", {**head, "BAND": "MEDIUM"})
    with pytest.raises(AssociationError, match=r"00008_mirifushort_cal\.fits is MIR_MRS/.*MEDIUM.*one mode"):
        run_spec3(other_band, mrs.refs, tmp_path / "band")
    other_mode = _mixed(mrs, "jw01234001001_02101_00009_mirifushort_cal.fits", {**head, "EXP_TYPE": "NRS_IFU"})
    with pytest.raises(AssociationError, match=r"00009_mirifushort_cal\.fits is NRS_IFU"):
        run_spec3(other_mode, mrs.refs, tmp_path / "mode")


def _member(offset: tuple[float, float], bad: tuple[tuple[int, int], ...] = ()) -> tuple[IfuMember, np.ndarray]:
    """An NRS_IFU member on a 64 × 48 corner of the ALLSLITS rows (slices along x) and its good-pixel mask."""
    geometry = ifu_geometry("NRS_IFU", "NRS1", {"FILTER": "F290LP", "GRATING": "G395H"})
    shape, zeros = (48, 64), np.zeros((48, 64), np.float32)
    image = ImageData(root="m", sci=zeros, err=zeros, dq=np.zeros(shape, np.uint32), var_poisson=zeros,
                      var_rnoise=zeros, primary={"SUBSTRT1": 1, "SUBSTRT2": 897})
    ifu = ifu_image(image, geometry)
    good = ifu.pixels.slice >= 0
    for y, x in bad:
        good[y, x] = False
    return IfuMember("m", ifu, offset), good


def test_a_bad_pixel_gap_is_shared_by_its_good_neighbours_along_the_dispersion() -> None:
    y = 20
    member, good = _member((0.0, 0.0), bad=((y, 10), (y, 11), *((y, x) for x in range(30, 35))))
    assert good[y, 9] and good[y, 12]
    lo, hi = filled_boxes(member.ifu, good)
    p = member.ifu.pixels
    middle = 0.5 * (p.wave_hi[y, 9] + p.wave_lo[y, 12])
    assert hi[y, 9] == middle and lo[y, 12] == middle  # a gap of 2: split at its middle wavelength
    assert lo[y, 9] == p.wave_lo[y, 9] and hi[y, 12] == p.wave_hi[y, 12]
    np.testing.assert_array_equal(hi[y, 29], p.wave_hi[y, 29])  # a gap of 5 (> MAX_GAP) stays a hole
    changed = (lo != p.wave_lo) | (hi != p.wave_hi)
    assert np.count_nonzero(changed[np.isfinite(p.wave_lo)]) == 2


def test_the_common_grid_covers_every_member_on_the_first_members_spaxel_edges() -> None:
    first, _ = _member((0.0, 0.0))
    second, _ = _member((0.05, -0.25))
    alone = common_grid([first])
    both = common_grid([first, second])
    assert both.alpha_step == alone.alpha_step and both.beta_step == alone.beta_step
    for start, step, other in ((both.alpha_start, both.alpha_step, alone.alpha_start),
                               (both.beta_start, both.beta_step, alone.beta_start)):
        assert abs((other - start) / step - round((other - start) / step)) < 1e-9  # the same edges
    assert both.beta_start <= alone.beta_start - 0.25 + 1e-9 and both.shape[2] == alone.shape[2] + 1
    assert both.wave_start == alone.wave_start and both.shape[0] == alone.shape[0]


def test_dither_offsets_come_from_xoffset_and_yoffset() -> None:
    assert dither_offset({"XOFFSET": 0.25, "YOFFSET": "-0.1"}) == (0.25, -0.1)
    assert dither_offset({}) == (0.0, 0.0)
    with pytest.raises(InvalidInputError, match="XOFFSET"):
        dither_offset({"XOFFSET": "east"})
