"""calwebb_ami3 from raw ramps (issue 12): NIS_AMI exposures through detector1 and image2 to ``_calints``,
associated by the header rules the tracker uses (``build_asn``), analysed and normalised by calwebb_ami3.

Three exposures share the observatory's fringe errors (hole pistons, per-baseline amplitude losses and phase
errors: ``streamcal.simulate.ami``): a point-source calibrator (IS_PSF=T), a point-source target and a binary
target. The issue's figures: the calibrated closure phases of the point source are consistent with 0 within their
errors (reduced χ² 0.5–2), while its raw ones are not (the calibration matters); a binary fit to the normalised
closure phases and V² (modelling how the fringe fit's envelope sees the companion: ``fit_binary``'s
``hole_diameter``) recovers separation, PA and contrast within 5 % / 2° / 10 %. Products open in
stdatamodels as ``AmiOIModel``; an ami3 association without a calibrator is an AssociationError.
``benchmarks/ami3.py`` prints the figures over several noise seeds.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from stdatamodels.jwst import datamodels as dm

from streamcal.associations import build_asn, write_asn
from streamcal.calibrate import calibrate
from streamcal.datamodels import read_extensions, read_header
from streamcal.errors import AssociationError
from streamcal.kernels.ami import HOLE_DIAMETER, fit_binary
from streamcal.pipelines import implements
from streamcal.pipelines.ami3 import AMI3
from streamcal.pipelines.plan import PipelineResult, RunRequest, build_plan
from streamcal.routing import RoutingConfig, RunSpec
from streamcal.simulate import ExposureSpec, simulate_exposure, write_reference_set
from streamcal.simulate.ami import AmiBinary
from streamcal.simulate.ramp import Effects
from streamcal.simulate.spec import Target

ALIAS = "calwebb_ami3"
NINTS = 12
BINARY = AmiBinary(separation_mas=200.0, pa_deg=60.0, contrast=0.1)


@dataclass(frozen=True)
class AmiRun:
    asn_path: Path
    result: PipelineResult
    truth: Path  # the science member's truth file


def simulate_calints(root: Path, *, exposure: int, is_psf: bool, binary: AmiBinary | None, seed: int,
                     nints: int = NINTS) -> tuple[Path, Path]:
    """One NIS_AMI exposure → ``_calints`` (and its truth file); the calibrator is another target."""
    target = Target(targetid=2, name="SIM-PSF-REF", ra=80.9, dec=-69.2) if is_psf else Target()
    spec = ExposureSpec(exp_type="NIS_AMI", observation=4, exposure=exposure, nexposur=3, expcount=exposure,
                        is_psf=is_psf, nints=nints, binary=binary, target=target,
                        effects=Effects(cr_fraction=0.002))
    raw = simulate_exposure(spec, root / "raw", rng_seed=seed)
    refs = root / "refs"
    if not refs.exists():
        write_reference_set(refs, only=[(raw.header["DETECTOR"], raw.header["SUBARRAY"])])
    rateints = calibrate(raw.path, pipeline_alias="calwebb_detector1", refs_dir=refs,
                         out_dir=root / "out").product("rateints")
    calints = calibrate(rateints, pipeline_alias="calwebb_image2", refs_dir=refs, out_dir=root / "out")
    return calints.product("calints"), raw.truth_path


def run_ami3(asn_path: Path, refs: Path, out: Path) -> PipelineResult:
    first = asn_path.parent / json.loads(asn_path.read_text())["products"][0]["members"][0]["expname"]
    spec = RunSpec.from_header(read_header(first), RoutingConfig.load(), source=first.name)
    plan = build_plan(AMI3, spec.stage(ALIAS))
    return AMI3.run(RunRequest(pipeline=ALIAS, input_path=asn_path, spec=spec, refs_dir=refs, out_dir=out), plan)


def associate(members: list[Path], name: str) -> Path:
    asn = build_asn("ami3", [(p.name, read_header(p)) for p in members])
    return write_asn(asn, members[0].parent / f"{name}_ami3_asn.json")


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, AmiRun]:
    root = tmp_path_factory.mktemp("ami3")
    calibrator, _ = simulate_calints(root, exposure=3, is_psf=True, binary=None, seed=31)
    out = {}
    for name, exposure, binary, seed in (("point", 1, None, 11), ("binary", 2, BINARY, 21)):
        science, truth = simulate_calints(root, exposure=exposure, is_psf=False, binary=binary, seed=seed)
        asn_path = associate([science, calibrator], name)
        out[name] = AmiRun(asn_path, run_ami3(asn_path, root / "refs", root / name), truth)
    return out


def _model(result: PipelineResult, suffix: str) -> dm.AmiOIModel:
    [path] = [p for p in result.products if p.name.endswith(f"_{suffix}.fits")]
    return dm.open(path)


def test_ami3_is_declared_for_nis_ami_and_runs_both_steps(runs: dict[str, AmiRun]) -> None:
    assert implements(ALIAS, "NIS_AMI")
    steps = {s.name: s for s in runs["binary"].result.steps}
    assert list(steps) == ["ami_analyze", "ami_normalize"]
    assert all(s.status == "COMPLETE" for s in steps.values())
    assert steps["ami_analyze"].counts == {"science": 1, "psf": 1, "integrations": 2 * NINTS}


def test_point_source_closure_phases_are_zero_within_their_errors_after_calibration(runs: dict[str, AmiRun]) -> None:
    with _model(runs["point"].result, "aminorm-oi") as norm, _model(runs["point"].result, "ami-oi") as raw:
        chi2 = float(np.mean((norm.t3["T3PHI"] / norm.t3["T3PHIERR"]) ** 2))
        raw_chi2 = float(np.mean((raw.t3["T3PHI"] / raw.t3["T3PHIERR"]) ** 2))
        v2 = np.asarray(norm.vis2["VIS2DATA"])
        v2_pull = (v2 - 1.0) / np.asarray(norm.vis2["VIS2ERR"])
    assert 0.5 <= chi2 <= 2.0, chi2
    assert raw_chi2 > 20.0, raw_chi2  # the injected baseline phase errors: calibration matters
    assert np.all(np.abs(v2 - 1.0) < 0.03) and float(np.mean(v2_pull**2)) < 3.0


def test_binary_is_recovered_from_the_normalised_observables(runs: dict[str, AmiRun]) -> None:
    header = read_header(runs["binary"].truth)
    with _model(runs["binary"].result, "aminorm-oi") as m:
        t3, v2 = m.t3, m.vis2
        fit = fit_binary(v2["VIS2DATA"], v2["VIS2ERR"], v2["UCOORD"], v2["VCOORD"], t3["T3PHI"], t3["T3PHIERR"],
                         t3["U1COORD"], t3["V1COORD"], t3["U2COORD"], t3["V2COORD"],
                         wavelength=float(m.wavelength["EFF_WAVE"][0]), hole_diameter=HOLE_DIAMETER)
    assert abs(fit.separation_mas / header["BINSEP"] - 1.0) < 0.05, fit
    assert abs((fit.pa_deg - header["BINPA"] + 180.0) % 360.0 - 180.0) < 2.0, fit
    assert abs(fit.contrast / header["BINCON"] - 1.0) < 0.10, fit


def test_normalised_closure_phases_follow_the_injected_binary(runs: dict[str, AmiRun]) -> None:
    """The simulator's model closure phases (truth AMI_T3) against the calibrated ones: same sign and scale
    (the fringe model's envelope sees the companion a few per cent fainter, fringe_fit's docstring)."""
    truth = read_extensions(runs["binary"].truth, ["AMI_T3"])["AMI_T3"]["T3PHI"]
    with _model(runs["binary"].result, "aminorm-oi") as m:
        cp = np.asarray(m.t3["T3PHI"])
    slope = float(np.sum(cp * truth) / np.sum(truth * truth))
    assert 0.9 < slope < 1.02 and np.max(np.abs(truth)) > 5.0, slope


def test_products_open_in_stdatamodels_as_amioimodel(runs: dict[str, AmiRun]) -> None:
    result = runs["binary"].result
    names = sorted(p.name for p in result.products)
    asn = json.loads(runs["binary"].asn_path.read_text())
    product = asn["products"][0]["name"]
    assert f"{product}_aminorm-oi.fits" in names
    assert sum(n.endswith(f"_{asn['asn_id']}_ami-oi.fits") for n in names) == 1
    assert sum(n.endswith(f"_{asn['asn_id']}_psf-ami-oi.fits") for n in names) == 1
    for suffix in ("ami-oi", "psf-ami-oi", "aminorm-oi"):
        with _model(result, suffix) as m:
            assert isinstance(m, dm.AmiOIModel)
            m.validate()
            assert len(m.vis) == len(m.vis2) == 21 and len(m.t3) == len(m.q4) == 35 and len(m.array) == 7
            assert m.meta.oifits.array_name == "jwst_ami" and m.meta.oifits.instrument_mode == "NRM"
            assert m.meta.cal_step.ami_analyze == "COMPLETE"
            assert str(m.t3.columns["T3PHI"].unit) == "deg" and str(m.vis2.columns["UCOORD"].unit) == "m"
            assert np.all(np.asarray(m.t3["STA_INDEX"]) >= 1)
    with _model(result, "aminorm-oi") as m:
        assert m.meta.ami.calibrator_object_id == "SIM-PSF-REF" and m.meta.cal_step.ami_normalize == "COMPLETE"
        assert set(m.array.dtype.names or ()) >= {"PISTON_T", "PISTON_C", "PIST_ERR"}


def test_an_ami3_association_without_a_calibrator_is_an_error(runs: dict[str, AmiRun], tmp_path: Path) -> None:
    doc = json.loads(runs["point"].asn_path.read_text())
    doc["products"][0]["members"] = [m for m in doc["products"][0]["members"] if m["exptype"] == "science"]
    lonely = runs["point"].asn_path.parent / "no_calibrator_ami3_asn.json"
    lonely.write_text(json.dumps(doc))
    with pytest.raises(AssociationError, match=r"0 psf members.*calibrator"):
        run_ami3(lonely, runs["point"].asn_path.parent.parent / "refs", tmp_path)
