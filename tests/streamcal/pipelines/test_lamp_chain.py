"""calwebb_spec2 on the NIRSpec lamps (NRS_LAMP, NRS_AUTOWAVE, NRS_AUTOFLAT), from raw ramps through
calwebb_detector1, scored against the simulated lamp (issue 11; :mod:`streamcal.simulate.lamps`).

A line lamp (LINE3, G395H on NRS1) fills the fixed slits S200A1 and S1600A1 (OPMODE=FIXEDSLIT) or the six open MSA
slitlets (OPMODE=MSASPEC); a flat lamp (FLAT3) fills them with a smooth continuum. Checks: each line's centre in
each slit's x1d within 0.1 px and 0.1 resolution element (2 px) of its true wavelength; the ``_cal`` WAVELENGTH
is the simulator's; a flat lamp's flat-fielded ``_cal`` recovers its continuum within 2 %; NRS_AUTOFLAT is not
flat-fielded (jwst); products open in stdatamodels as MultiSlitModel / MultiSpecModel; OPMODE=IFU and
GRATING-ONLY are clear, non-retriable errors. ``benchmarks/spectroscopy.py`` prints the figures.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from astropy.io import fits
from stdatamodels.jwst import datamodels as dm

from streamcal.calibrate import calibrate, spec_for
from streamcal.datamodels.spectra import read_x1d
from streamcal.errors import BadKeywordValueError
from streamcal.pipelines import implements
from streamcal.pipelines.plan import PipelineResult, RunRequest, build_plan
from streamcal.pipelines.spec2 import SPEC2
from streamcal.pipelines.spec2_mos import read_multislit
from streamcal.routing import RoutingConfig, RunSpec
from streamcal.simulate import ExposureSpec, simulate_exposure, write_reference_set

#: A resolution element (px) [U: 2 px, as the other NIRSpec tests].
RESEL_PX = 2.0


@dataclass(frozen=True)
class LampCase:
    """A lamp's spec2 run and its truth file."""

    exp_type: str
    result: PipelineResult
    truth_path: Path
    rate: Path


def run_case(root: Path, exp_type: str, *, optics: tuple[tuple[str, str], ...] = (),
             spec2: bool = True) -> LampCase:
    """Simulate a lamp exposure, run calwebb_detector1 and calwebb_spec2 as routed."""
    exposure = simulate_exposure(ExposureSpec(exp_type=exp_type, optics=optics), root / "raw", rng_seed=5)
    header = exposure.header
    write_reference_set(root / "refs", only=[(str(header["DETECTOR"]), str(header["SUBARRAY"]))])
    rate = calibrate(exposure.path, pipeline_alias="calwebb_detector1", refs_dir=root / "refs",
                     out_dir=root / "out").product("rate")
    alias, spec = spec_for(rate, RoutingConfig.load())
    assert alias == "calwebb_spec2"
    result = run_spec2(rate, spec, root / "refs", root / "out") if spec2 else None
    return LampCase(exp_type, result, exposure.truth_path, rate)  # type: ignore[arg-type]


def run_spec2(rate: Path, spec: RunSpec, refs: Path, out: Path) -> PipelineResult:
    plan = build_plan(SPEC2, next(s for s in spec.stages if s.pipeline == "calwebb_spec2"))
    return SPEC2.run(RunRequest(pipeline="calwebb_spec2", input_path=rate, spec=spec, refs_dir=refs, out_dir=out),
                     plan)


def line_figures(case: LampCase) -> dict[str, dict[str, float]]:
    """Per slit: the worst line-centre error in px (of the local dispersion) and in resolution elements, and the
    lines measured. A line's centre is the flux-weighted mean wavelength over ±2 FWHM above a linear continuum."""
    with fits.open(case.truth_path) as hdul:
        lines = np.array(hdul["LINES"].data)
    out = {}
    for table, meta in read_x1d(case.result.product("x1d")):
        wave, flux = np.asarray(table["WAVELENGTH"]), np.asarray(table["FLUX"])
        good = np.isfinite(flux)
        dispersion = float(np.median(np.abs(np.diff(wave))))
        worst, found = 0.0, 0
        for centre, fwhm in zip(lines["WAVELENGTH"], lines["FWHM"], strict=True):
            near = good & (np.abs(wave - centre) < 2 * fwhm)
            side = good & (np.abs(wave - centre) > 3 * fwhm) & (np.abs(wave - centre) < 6 * fwhm)
            if near.sum() < 3 or side.sum() < 3:
                continue
            excess = flux[near] - np.polyval(np.polyfit(wave[side], flux[side], 1), wave[near])
            measured = np.sum(wave[near] * excess) / np.sum(excess)
            worst = max(worst, abs(measured - centre) / dispersion)
            found += 1
        out[str(meta.get("SLTNAME"))] = {"line_px": worst, "line_resel": worst / RESEL_PX, "lines": float(found)}
    return out


def flat_ratio(case: LampCase) -> float:
    """The worst per-slit median of ``_cal`` SCI / the lamp's true rate over fully lit, usable pixels."""
    with fits.open(case.truth_path) as hdul:
        scene = np.array(hdul["SCENE"].data, np.float64)  # the exposure's subarray, as SLTSTRT1/2 place slits
    cal = read_multislit(case.result.product("cal"))
    worst = 0.0
    for head, planes in cal.slits:
        xs, ys = int(str(head["SLTSTRT1"])) - 1, int(str(head["SLTSTRT2"])) - 1
        ny, nx = planes["SCI"].shape
        truth = scene[ys:ys + ny, xs:xs + nx]
        usable = (planes["DQ"] == 0) & np.isfinite(planes["SCI"]) & (truth > 0.99 * np.nanmax(truth, axis=0))
        ratio = float(np.median(planes["SCI"][usable] / truth[usable]))
        worst = max(worst, abs(ratio - 1.0))
    return 1.0 + worst


@pytest.fixture(scope="module")
def line_fs(tmp_path_factory: pytest.TempPathFactory) -> LampCase:
    return run_case(tmp_path_factory.mktemp("lamp_fs"), "NRS_LAMP")


def test_lamps_are_taken_by_spec2() -> None:
    for exp_type in ("NRS_LAMP", "NRS_AUTOWAVE", "NRS_AUTOFLAT"):
        assert implements("calwebb_spec2", exp_type)


def test_fixed_slit_line_lamp_lines_land_on_their_wavelengths(line_fs: LampCase) -> None:
    names = {p.name for p in line_fs.result.products}
    root = line_fs.result.exposure_id
    assert {f"{root}_cal.fits", f"{root}_s2d.fits", f"{root}_x1d.fits"} <= names
    figures = line_figures(line_fs)
    assert set(figures) == {"S200A1", "S1600A1"}
    for slit, f in figures.items():
        assert f["lines"] >= 6, slit
        assert f["line_px"] < 0.1, (slit, f)
        assert f["line_resel"] < 0.1, (slit, f)


def test_fixed_slit_line_lamp_products_are_jwst_models(line_fs: LampCase) -> None:
    with dm.open(line_fs.result.product("cal")) as cal:
        assert isinstance(cal, dm.MultiSlitModel)
        assert {s.name for s in cal.slits} == {"S200A1", "S1600A1"}
        assert cal.slits[0].meta.bunit_data == "DN/s"
        assert cal.meta.cal_step.photom == "SKIPPED"
        assert cal.meta.cal_step.flat_field == "COMPLETE"
    with dm.open(line_fs.result.product("s2d")) as s2d:
        assert isinstance(s2d, dm.MultiSlitModel)
    with dm.open(line_fs.result.product("x1d")) as x1d:
        assert isinstance(x1d, dm.MultiSpecModel)
        assert len(x1d.spec) == 2
        assert x1d.spec[0].spec_table.columns["FLUX"].unit == "DN/s"


def test_cal_wavelengths_are_the_simulators(line_fs: LampCase) -> None:
    with fits.open(line_fs.truth_path) as hdul:
        truth = np.array(hdul["WAVELENGTH"].data)
    cal = read_multislit(line_fs.result.product("cal"))
    for head, planes in cal.slits:
        xs, ys = int(str(head["SLTSTRT1"])) - 1, int(str(head["SLTSTRT2"])) - 1
        ny, nx = planes["WAVELENGTH"].shape
        mine, true = planes["WAVELENGTH"], truth[ys:ys + ny, xs:xs + nx]
        both = np.isfinite(mine) & np.isfinite(true)
        assert both.sum() > 0.9 * np.isfinite(mine).sum()
        dispersion = np.median(np.abs(np.diff(true[both])))
        assert np.max(np.abs(mine[both] - true[both])) < 0.01 * dispersion


def test_msa_flat_lamp_continuum_is_recovered_after_flat_field(tmp_path: Path) -> None:
    case = run_case(tmp_path, "NRS_LAMP", optics=(("LAMP", "FLAT3"), ("OPMODE", "MSASPEC")))
    names = {p.name for p in case.result.products}
    assert names == {f"{case.result.exposure_id}_cal.fits"}  # a flat lamp: no s2d, no x1d (jwst)
    with dm.open(case.result.product("cal")) as cal:
        assert isinstance(cal, dm.MultiSlitModel)
        assert len(cal.slits) == 6
        assert cal.meta.cal_step.flat_field == "COMPLETE"
    assert abs(flat_ratio(case) - 1.0) < 0.02


def test_autoflat_is_not_flat_fielded(tmp_path: Path) -> None:
    case = run_case(tmp_path, "NRS_AUTOFLAT")
    with dm.open(case.result.product("cal")) as cal:
        assert isinstance(cal, dm.MultiSlitModel)
        assert cal.meta.cal_step.flat_field == "SKIPPED"


def test_msa_line_lamp_lines_in_every_slitlet(tmp_path: Path) -> None:
    case = run_case(tmp_path, "NRS_AUTOWAVE", optics=(("OPMODE", "MSASPEC"),))
    figures = line_figures(case)
    assert len(figures) == 6
    for slit, f in figures.items():
        assert f["lines"] >= 6 and f["line_px"] < 0.1, (slit, f)


@pytest.mark.parametrize("opmode", ["IFU", "GRATING-ONLY"])
def test_unsupported_opmode_is_a_clear_error(tmp_path: Path, line_fs: LampCase, opmode: str) -> None:
    rate = tmp_path / line_fs.rate.name
    with fits.open(line_fs.rate) as hdul:
        hdul[0].header["OPMODE"] = opmode
        hdul.writeto(rate)
    _, spec = spec_for(rate, RoutingConfig.load())
    with pytest.raises(BadKeywordValueError, match=opmode) as caught:
        run_spec2(rate, spec, line_fs.rate.parent.parent / "refs", tmp_path / "out")
    assert not caught.value.retriable
