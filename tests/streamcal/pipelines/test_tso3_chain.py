"""calwebb_tso3 from raw ramps: a transit injected per integration, recovered from the light curve (issue 12).

Each case simulates one TSO exposure split into two segments with a limb-darkened transit centred in it
(:mod:`streamcal.simulate.transit`), runs calwebb_detector1 and calwebb_image2/spec2 on each segment as routed,
associates the two ``_calints`` by the header rules the tracker uses (``build_asn("tso3", ...)``) and runs
calwebb_tso3. The light curve it writes (``_phot.ecsv`` net_aperture_sum for NRC_TSIMAGE, ``_whtlt.ecsv``
whitelight_flux for NRS_BRIGHTOBJ) is fitted with the simulator's own model (:func:`streamcal.kernels.tso.fit_transit`:
duration, impact parameter and limb darkening fixed; depth, mid-time and baseline free) and scored against the
truth: depth within 3σ, mid-time within 30 s, the scatter against the photon-noise limit computed from the
electrons the truth rate puts in the aperture. ``benchmarks/tso3.py`` prints the figures.

The small subarrays read fast, so a simulated exposure lasts seconds and its transit with it: the mid-time
check is easy here; the model has no time scale of its own, so the fit is the same as for hours.
"""

from __future__ import annotations

import importlib
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from astropy.io import fits
from astropy.table import QTable
from photutils.aperture import CircularAperture
from stdatamodels.jwst import datamodels as dm

from streamcal.associations import build_asn, write_asn
from streamcal.calibrate import calibrate
from streamcal.datamodels import read_extensions
from streamcal.datamodels.fitsio import read_header
from streamcal.datamodels.spectra import read_x1d
from streamcal.errors import AssociationError
from streamcal.kernels.tso import fit_transit
from streamcal.models.image import ImageData
from streamcal.pipelines.plan import PipelineResult
from streamcal.pipelines.tso3 import combine_segments
from streamcal.simulate import ExposureSpec, simulate_exposure, write_reference_set
from streamcal.simulate.detector import DetectorModel
from streamcal.simulate.spec import plan_exposure
from streamcal.simulate.spectra import default_spectrum_for
from streamcal.simulate.transit import Transit

#: EXP_TYPE → (NINTS over both segments, NGROUPS, brightness × the default spectrum; None for imaging).
CASES = {"NRC_TSIMAGE": (40, 5, None), "NRS_BRIGHTOBJ": (30, 6, 300.0)}
SEGMENTS = 2


@dataclass(frozen=True)
class TsoChain:
    """One case's tso3 run and what it is scored against."""

    exp_type: str
    root: Path
    asn_path: Path
    refs: Path
    calints: list[Path]
    result: PipelineResult
    transit: dict[str, float]  # the truth LIGHTCURVE header: DEPTH, T0_MJD, T14_S, LD_U1, LD_U2, IMPACT, ...
    truth_mjd: np.ndarray
    truth_flux: np.ndarray  # relative flux per integration, both segments
    electrons: float  # per integration, in the aperture (source + sky), out of transit: the photon limit's


def _spec(exp_type: str, nints: int, ngroups: int, brightness: float | None, segment: int,
          transit: Transit) -> ExposureSpec:
    spectrum = None
    if brightness is not None:
        layout = plan_exposure(ExposureSpec(exp_type=exp_type, tsovisit=True)).layout
        assert layout is not None
        base = default_spectrum_for(layout)
        spectrum = type(base)(base.wavelength_um, base.flux_jy * brightness, base.lines)
    return ExposureSpec(exp_type=exp_type, tsovisit=True, nints=nints, ngroups=ngroups, segment=segment,
                        nsegments=SEGMENTS, spectrum=spectrum, scene_seed=7, transit=transit)


def _electrons(exp_type: str, spec: ExposureSpec, truth_path: Path, product: Path, curve: np.ndarray) -> float:
    """Electrons per integration out of transit that the measurement collects (source + sky, first to last
    read), from the truth rate and the simulator's gain: imaging within the photometry aperture, spectra within
    extract_1d's boxcar along the whole trace."""
    plan = plan_exposure(spec)
    gain = DetectorModel.build(plan.detector, plan.subarray, seed=spec.detector_seed).gain
    t_int = (plan.timing.ngroups - 1) * plan.timing.tgroup
    truth = read_extensions(truth_path, ["RATE", "EXTRACTED"])
    head = read_header(truth_path)
    rate = truth["RATE"] / curve.mean()  # the truth RATE is this file's mean over its integrations
    if exp_type == "NRC_TSIMAGE":
        table = QTable.read(product, format="ascii.ecsv")
        aperture = CircularAperture((table.meta["xcenter"], table.meta["ycenter"]), r=table.meta["radius"])
        weights = aperture.to_mask(method="exact").to_image(rate.shape)
        return float((weights * rate * gain).sum() * t_int)
    assert plan.layout is not None
    half_width = 4.0 * plan.layout.sigma_px  # extract_1d's default: 4σ of the trace
    extracted = truth["EXTRACTED"]
    source = float(np.sum(extracted["RATE_SUM"]))
    sky = float(head["BKGRATE"]) * 2.0 * half_width * len(extracted)
    return (source + sky) * float(np.median(gain)) * t_int


def run_chain(root: Path, exp_type: str, nints: int, ngroups: int, brightness: float | None, *,
              seed: int = 40, transit: Transit | None = None) -> TsoChain:
    """Simulate the segments (noise seeds ``seed + segment``; the default transit unless ``transit``), run
    detector1 → image2/spec2 → tso3 as routed."""
    refs, out = root / "refs", root / "out"
    calints, truths, specs = [], [], []
    for segment in range(1, SEGMENTS + 1):
        spec = _spec(exp_type, nints, ngroups, brightness, segment, transit or Transit())
        exposure = simulate_exposure(spec, root / "raw", rng_seed=seed + segment)
        if segment == 1:
            write_reference_set(refs, only=[(exposure.header["DETECTOR"], exposure.header["SUBARRAY"])])
        rateints = calibrate(exposure.path, pipeline_alias="calwebb_detector1", refs_dir=refs,
                             out_dir=out).product("rateints")
        calints.append(calibrate(rateints, refs_dir=refs, out_dir=out).product("calints"))
        truths.append(exposure.truth_path)
        specs.append(spec)
    asn = build_asn("tso3", [(c.name, read_header(c)) for c in calints])
    asn_path = write_asn(asn, out / f"{asn.products[0].name}_tso3_asn.json")
    result = calibrate(asn_path, refs_dir=refs, out_dir=root / "tso3")
    assert result.alias == "calwebb_tso3"
    curves = [fits.getdata(t, "LIGHTCURVE") for t in truths]
    transit = {k: float(v) for k, v in fits.getheader(truths[0], "LIGHTCURVE").items()
               if k in ("DEPTH", "T0_MJD", "T14_S", "LD_U1", "LD_U2", "IMPACT", "DDEPTHDL", "WAVEREF")}
    table = next(p for p in result.products if p.name.endswith(("_phot.ecsv", "_whtlt.ecsv")))
    electrons = _electrons(exp_type, specs[0], truths[0], table, np.asarray(curves[0]["relative_flux"]))
    return TsoChain(exp_type, root, asn_path, refs, calints, result, transit,
                    np.concatenate([c["MJD"] for c in curves]), np.concatenate([c["relative_flux"] for c in curves]),
                    electrons)


def light_curve(chain: TsoChain) -> QTable:
    """The chain's light-curve table (``_phot.ecsv`` or ``_whtlt.ecsv``) as astropy reads it."""
    suffix = "_phot.ecsv" if chain.exp_type == "NRC_TSIMAGE" else "_whtlt.ecsv"
    return QTable.read(next(p for p in chain.result.products if p.name.endswith(suffix)), format="ascii.ecsv")


def score(chain: TsoChain) -> dict[str, float]:
    """The fit against the truth: depth and its error, mid-time error (s), the per-integration scatter (ppm)
    and the photon-noise limit (ppm, ``1/sqrt(electrons)``) with the depth error it would allow."""
    table = light_curve(chain)
    flux_col = "net_aperture_sum" if chain.exp_type == "NRC_TSIMAGE" else "whitelight_flux"
    mjd, flux, err = (np.asarray(table[c].value) for c in ("MJD", flux_col, f"{flux_col}_err"))
    t = chain.transit
    fit = fit_transit(mjd, flux, err, t14=t["T14_S"], u1=t["LD_U1"], u2=t["LD_U2"], b=t["IMPACT"])
    photon = 1.0 / np.sqrt(chain.electrons)
    quoted = float(np.median(err / flux))
    return {"depth": fit.depth, "depth_err": fit.depth_err, "true_depth": t["DEPTH"],
            "pull": (fit.depth - t["DEPTH"]) / fit.depth_err, "t0_error_s": (fit.t0 - t["T0_MJD"]) * 86400.0,
            "t0_err_s": fit.t0_err * 86400.0, "chi2": fit.chi2_reduced, "scatter_ppm": fit.residual_rms * 1e6,
            "quoted_ppm": quoted * 1e6, "photon_ppm": photon * 1e6,
            "photon_depth_err": fit.depth_err * photon / quoted, "nints": float(len(mjd))}


@pytest.fixture(scope="module")
def imaging(tmp_path_factory: pytest.TempPathFactory) -> TsoChain:
    return run_chain(tmp_path_factory.mktemp("nrc_tsimage"), "NRC_TSIMAGE", *CASES["NRC_TSIMAGE"])


@pytest.fixture(scope="module")
def spectral(tmp_path_factory: pytest.TempPathFactory) -> TsoChain:
    return run_chain(tmp_path_factory.mktemp("nrs_brightobj"), "NRS_BRIGHTOBJ", *CASES["NRS_BRIGHTOBJ"])


@pytest.fixture(params=["imaging", "spectral"])
def chain(request: pytest.FixtureRequest) -> TsoChain:
    found: TsoChain = request.getfixturevalue(request.param)
    return found


def test_the_transit_is_recovered_within_3_sigma_and_30_s(chain: TsoChain) -> None:
    figures = score(chain)
    assert abs(figures["pull"]) < 3, figures
    assert abs(figures["t0_error_s"]) < 30, figures
    assert 0.5 < figures["chi2"] < 2.0, figures                    # the quoted errors describe the scatter
    # photon noise is a floor: ~40 points measure the scatter to ±12 %, read noise adds to it
    assert figures["photon_ppm"] * 0.75 < figures["scatter_ppm"] < figures["photon_ppm"] * 2.0, figures


def test_segments_are_combined_in_time_order_without_gaps_or_duplicates(chain: TsoChain) -> None:
    table = light_curve(chain)
    nints = CASES[chain.exp_type][0]
    assert list(table["int_num"]) == list(range(1, nints + 1))
    assert list(table["segment"]) == [1] * (nints // 2) + [2] * (nints // 2)
    np.testing.assert_allclose(table["MJD"].value, chain.truth_mjd, rtol=0, atol=1e-9)
    assert np.all(np.diff(table["MJD"].value) > 0)
    crfints = [p for p in chain.result.products if p.name.endswith("_crfints.fits")]
    assert len(crfints) == SEGMENTS
    for path, cal in zip(crfints, chain.calints, strict=True):
        with dm.open(path) as crf, dm.open(cal) as member:
            assert isinstance(crf, dm.CubeModel) and crf.data.shape == member.data.shape
            assert list(crf.int_times["integration_number"]) == list(member.int_times["integration_number"])
            assert crf.meta.cal_step.outlier_detection == "COMPLETE"
            assert crf.meta.bunit_data == member.meta.bunit_data  # spectra MJy per pixel, images MJy/sr
        assert read_header(path)["EXSEGNUM"] == read_header(cal)["EXSEGNUM"]  # each keeps its own header


def test_the_tables_read_back_as_ecsv_with_units(chain: TsoChain) -> None:
    table = light_curve(chain)
    assert str(table["MJD"].unit) == "d"
    if chain.exp_type == "NRC_TSIMAGE":
        for column in ("aperture_sum", "aperture_sum_err", "annulus_sum", "annulus_sum_err", "annulus_mean",
                       "annulus_mean_err", "aperture_bkg", "aperture_bkg_err", "net_aperture_sum",
                       "net_aperture_sum_err"):
            assert str(table[column].unit) == "Jy", column
        assert table.meta["exp_type"] == "NRC_TSIMAGE" and table.meta["radius"] == 3.0
        net = table["aperture_sum"] - table["aperture_bkg"]
        np.testing.assert_allclose(table["net_aperture_sum"].value, net.value)
    else:
        assert str(table["whitelight_flux"].unit) == "Jy" and str(table["whitelight_flux_err"].unit) == "Jy"
        assert table.meta["exp_type"] == "NRS_BRIGHTOBJ"
    png = next(p for p in chain.result.products if p.suffix == ".png")
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_the_x1dints_holds_every_segment_and_opens_as_tso_multispec(spectral: TsoChain) -> None:
    chain = spectral
    nints = CASES[chain.exp_type][0]
    x1dints = chain.result.product("x1dints")
    with dm.open(x1dints) as model:
        assert isinstance(model, dm.TSOMultiSpecModel) and len(model.spec) == 1
        assert model.spec[0].spec_table.shape == (nints,) and len(model.int_times) == nints
        assert model.meta.cal_step.white_light == "COMPLETE"
    [(rows, _)] = read_x1d(x1dints)
    assert list(rows["INT_NUM"]) == list(range(1, nints + 1))
    assert list(rows["SEGMENT"]) == [1] * (nints // 2) + [2] * (nints // 2)
    white = light_curve(chain)["whitelight_flux"].value
    finite = np.isfinite(rows["FLUX"]).all(axis=0)
    np.testing.assert_allclose(white, rows["FLUX"][:, finite].sum(axis=1))


def _rewrite(asn_path: Path, members: list[str], name: str) -> Path:
    doc = json.loads(asn_path.read_text())
    doc["products"][0]["members"] = [{"expname": m, "exptype": "science"} for m in members]
    out = asn_path.with_name(name)
    out.write_text(json.dumps(doc))
    return out


def test_a_duplicated_or_missing_segment_is_refused_with_a_clear_error(imaging: TsoChain) -> None:
    chain = imaging
    first, second = (p.name for p in chain.calints)
    half = CASES[chain.exp_type][0] // 2
    twice = _rewrite(chain.asn_path, [first, second, second], "jw01234-o001_dup_tso3_asn.json")
    with pytest.raises(AssociationError, match=rf"integration\(s\) {half + 1}-{2 * half} appear in more than one "
                                               r"member .*seg002.*: a segment is duplicated"):
        calibrate(twice, refs_dir=chain.refs, out_dir=chain.root / "dup")
    gap = _rewrite(chain.asn_path, [second], "jw01234-o001_gap_tso3_asn.json")
    with pytest.raises(AssociationError, match=rf"integration\(s\) 1-{half} of {2 * half} are in no member .*: a "
                                               "segment is missing"):
        calibrate(gap, refs_dir=chain.refs, out_dir=chain.root / "gap")


@pytest.mark.parametrize("module", ["streamcal.pipelines.tso3", "streamcal.steps.tso", "streamcal.kernels.tso",
                                    "streamcal.datamodels.tso", "streamcal.simulate.transit"])
def test_every_public_name_is_importable(module: str) -> None:
    mod = importlib.import_module(module)
    assert mod.__all__ and all(hasattr(mod, name) for name in mod.__all__)


def spectral_depths(chain: TsoChain, nbins: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A transmission spectrum from the ``_x1dints``: the band cut into ``nbins`` bins of equal points, each
    bin's summed flux fitted as the white light is. Returns (mean wavelength µm, depth, depth error) per bin."""
    [(rows, _)] = read_x1d(chain.result.product("x1dints"))
    t = chain.transit
    stat = np.sqrt(rows["FLUX_VAR_POISSON"] + rows["FLUX_VAR_RNOISE"])
    use = np.flatnonzero(np.isfinite(rows["FLUX"]).all(axis=0) & np.isfinite(stat).all(axis=0))
    wave, depth, err = [], [], []
    for part in np.array_split(use, nbins):
        flux, sigma = rows["FLUX"][:, part].sum(axis=1), np.sqrt((stat[:, part] ** 2).sum(axis=1))
        fit = fit_transit(rows["MJD-AVG"], flux, sigma, t14=t["T14_S"], u1=t["LD_U1"], u2=t["LD_U2"],
                          b=t["IMPACT"])
        wave.append(float(rows["WAVELENGTH"][0, part].mean()))
        depth.append(fit.depth)
        err.append(fit.depth_err)
    return np.array(wave), np.array(depth), np.array(err)


def _member(name: str, numbers: list[int], *, segment: int, nints: int = 6) -> tuple[str, ImageData, np.ndarray]:
    """A hand-built ``_calints`` of a few integrations: plane values are the integration numbers."""
    planes = np.array(numbers, np.float32)[:, None, None] * np.ones((1, 4, 4), np.float32)
    image = ImageData(root=name, sci=planes, err=planes, dq=np.zeros(planes.shape, np.uint32), var_poisson=planes,
                      var_rnoise=planes, primary={"NINTS": nints, "EXSEGNUM": segment, "EXP_TYPE": "NRC_TSIMAGE"})
    times = np.zeros(len(numbers), dtype=[("integration_number", "i4"), ("int_mid_MJD_UTC", "f8")])
    times["integration_number"], times["int_mid_MJD_UTC"] = numbers, 60400.0 + np.array(numbers) / 1440
    return name, image, times


def test_segments_given_out_of_order_are_put_in_time_order() -> None:
    cube, rows, segments, order = combine_segments([_member("b", [4, 5, 6], segment=2),
                                                    _member("a", [1, 2, 3], segment=1)], where="asn")
    assert order == [1, 0] and list(segments) == [1, 1, 1, 2, 2, 2]
    assert list(rows["integration_number"]) == list(cube.sci[:, 0, 0]) == [1, 2, 3, 4, 5, 6]
    assert cube.primary["INTSTART"] == 1 and cube.primary["INTEND"] == 6


@pytest.mark.parametrize(("members", "message"), [
    ([("a", [1, 2, 3], 1), ("b", [3, 4, 5, 6], 2)], r"integration\(s\) 3 appear in more than one member \(a, b\)"),
    ([("a", [1, 2], 1), ("b", [5, 6], 3)], r"integration\(s\) 3-4 of 6 are in no member"),
    ([("a", [1, 2, 3], 1), ("b", [4, 5, 6, 7], 2)], r"integration\(s\) 7 are beyond NINTS = 6"),
    ([("a", [1, 3, 5], 1), ("b", [2, 4, 6], 2)], r"do not run 1-6 in time order: position 2 holds integration 3"),
])
def test_duplicated_missing_or_interleaved_integrations_are_refused(members: list, message: str) -> None:
    with pytest.raises(AssociationError, match=message):
        combine_segments([_member(n, nums, segment=s) for n, nums, s in members], where="asn")
