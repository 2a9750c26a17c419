"""calwebb_spec2's pathloss on NRS_FIXEDSLIT: a point source centred and decentred by ±0.3 of the slit width (the
dither offset XOFFSET, as jwst reads the source's place in the fixed slit) loses 4–30 % of its light in the
simulator's slit; with pathloss the x1d's median flux / truth is within 2 % and the pulls 0.9–1.1, without it
(the same exposure, a reference store without PATHLOSS) the flux is low by the loss. ``benchmarks/spectroscopy.py``
prints the table."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from streamcal.calibrate import calibrate, spec_for
from streamcal.datamodels import read_extensions
from streamcal.datamodels.spectra import read_x1d
from streamcal.models.image import read_image
from streamcal.pipelines.plan import PipelineResult, RunRequest, build_plan
from streamcal.pipelines.spec2 import SPEC2
from streamcal.routing import RoutingConfig
from streamcal.simulate import ExposureSpec, simulate_exposure, write_reference_set
from streamcal.simulate.geometry import DETECTORS
from streamcal.simulate.pathloss import APERTURES, source_loss
from streamcal.simulate.spec import plan_exposure
from streamcal.simulate.spectra import default_spectrum_for

#: Source positions across the slit (units of its width).
POSITIONS = (0.0, 0.3, -0.3)


def run_position(root: Path, x: float, *, ngroups: int = 20, brightness: float = 300.0) -> dict[str, float]:
    """Simulate the fixed slit with the source at ``x``, run detector1 and spec2 with and without PATHLOSS."""
    width = APERTURES["S200A1"][0]
    dither = (x * width / DETECTORS["NRS1"].pixel_scale, 0.0)  # XOFFSET = dither × pixel scale = x × width
    plan_ = plan_exposure(ExposureSpec(exp_type="NRS_FIXEDSLIT"))
    assert plan_.layout is not None
    base = default_spectrum_for(plan_.layout)
    spectrum = type(base)(base.wavelength_um, base.flux_jy * brightness, base.lines)
    exposure = simulate_exposure(ExposureSpec(exp_type="NRS_FIXEDSLIT", ngroups=ngroups, spectrum=spectrum,
                                              dither=dither), root / "raw", rng_seed=11)
    header = exposure.header
    refs = root / "refs"
    write_reference_set(refs, only=[(str(header["DETECTOR"]), str(header["SUBARRAY"]))])
    bare = root / "refs_without_pathloss"
    shutil.copytree(refs, bare)
    manifest = json.loads((bare / "manifest.json").read_text())
    manifest["entries"] = [e for e in manifest["entries"] if e["reftype"] != "pathloss"]
    (bare / "manifest.json").write_text(json.dumps(manifest))
    rate = calibrate(exposure.path, pipeline_alias="calwebb_detector1", refs_dir=refs,
                     out_dir=root / "out").product("rate")
    alias, spec = spec_for(rate, RoutingConfig.load())
    plan = build_plan(SPEC2, next(s for s in spec.stages if s.pipeline == alias))
    truth = read_extensions(exposure.truth_path, ["EXTRACTED"])["EXTRACTED"]
    out: dict[str, float] = {"x": x}
    for label, store in (("with", refs), ("without", bare)):
        result: PipelineResult = SPEC2.run(RunRequest(pipeline=alias, input_path=rate, spec=spec, refs_dir=store,
                                                      out_dir=root / label), plan)
        [(table, _)] = read_x1d(result.product("x1d"))
        flux, error = table["FLUX"], table["FLUX_ERROR"]
        statistical = np.sqrt(table["FLUX_VAR_POISSON"] + table["FLUX_VAR_RNOISE"])
        good = np.isfinite(flux) & (flux / error > 50) & (table["NPIXELS"] >= 8.0 - 1e-9)
        out[f"ratio_{label}"] = float(np.median(flux[good] / truth["FLUX"][good]))
        if label == "with":
            out["pull_std"] = float(np.std((flux[good] - truth["FLUX"][good]) / statistical[good]))
            records = {s.name: s for s in result.steps}
            out["pathloss_complete"] = float(records["pathloss"].status == "COMPLETE")
            cal = read_image(result.product("cal"))
            out["srcxpos"] = float(str(cal.sci_header["SRCXPOS"]))
            out["loss"] = float(np.median(source_loss("S200A1", truth["WAVELENGTH"][good], x=x, y=0.0)))
        else:
            out["pathloss_skipped"] = float({s.name: s for s in result.steps}["pathloss"].status == "SKIPPED")
    return out


@pytest.fixture(scope="module", params=POSITIONS, ids=lambda x: f"x{x:+.1f}")
def figures(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> dict[str, float]:
    return run_position(tmp_path_factory.mktemp("pathloss"), request.param)


def test_pathloss_restores_the_flux_of_a_decentred_point_source(figures: dict[str, float]) -> None:
    assert figures["pathloss_complete"] == 1.0 and figures["pathloss_skipped"] == 1.0
    assert figures["srcxpos"] == pytest.approx(figures["x"], abs=1e-6)
    assert figures["ratio_with"] == pytest.approx(1.0, abs=0.02), figures
    assert 0.9 <= figures["pull_std"] <= 1.1, figures
    # without pathloss the flux is low by the loss the simulator applied (4–7 % centred, ~20 % at ±0.3)
    assert figures["ratio_without"] == pytest.approx(figures["loss"], abs=0.02), figures
    assert (figures["loss"] < 0.85) == (abs(figures["x"]) > 0.2), figures
