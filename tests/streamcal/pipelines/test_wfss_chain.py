"""calwebb_spec2 on WFSS (NIS_WFSS, NRC_WFSS) from a level-2 association, scored against the injected spectra
(issue 11).

The slow chain (:mod:`tests.streamcal.pipelines.wfss_chain`): two dithered direct images of a field of compact
sources (NIS_IMAGE CLEAR/F150W) through detector1 → image2 → image3 make the source catalogue; both grism
exposures (GR150R, GR150C) of the same field through detector1 and then calwebb_spec2 on the level-2 association
the services write. The fast tests write the catalogue from the simulator's truth instead of running image3.

Figures (the issue's "Done when"): wavelengths within 0.1 px of the simulator's at the same detector pixel, median
flux / truth within 2 % where S/N > 50, pulls of width 0.9–1.1 (pooled over an exposure's sources: a NIRISS
trace has ~70 points, too few for a per-source width), emission-line centroids within 0.1 resolution element of
the truth's on the same pixels. With image3's catalogue the wavelength error is the catalogue's centroid error
along the dispersion (up to 0.11 px for a source 0.3 px off a pixel centre): that test allows 0.15 px.
"""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from astropy.coordinates import SkyCoord
from astropy.table import QTable
from stdatamodels.jwst import datamodels as dm

from streamcal.calibrate import calibrate
from streamcal.datamodels import read_extensions
from streamcal.errors import AssociationError, BadDataShapeError, InvalidInputError
from streamcal.models.grism import CatalogSource
from streamcal.pipelines import PARTIAL, WFSS_EXP_TYPES, implements
from streamcal.pipelines.plan import PipelineResult
from streamcal.simulate import ExposureSpec, simulate_exposure, write_reference_set
from streamcal.simulate.wfss import default_wfss_scene, grism_conf
from tests.streamcal.pipelines.wfss_chain import WfssChain, level2_asn, run_chain, score_source, truth_tables, wfss_rows

NGROUPS = 6


def write_truth_catalog(truth: Path, path: Path, *, shift: tuple[float, float] = (0.0, 0.0)) -> Path:
    """A catalogue in image3's format from the simulator's WFSS_SOURCES (the grism exposure's own frame)."""
    rows = read_extensions(truth, ["WFSS_SOURCES"])["WFSS_SOURCES"]
    table = QTable({"label": np.asarray(rows["source_id"], np.int32), "xcentroid": rows["x"], "ycentroid": rows["y"],
                    "sky_centroid": SkyCoord(rows["ra"] + shift[0], rows["dec"] + shift[1], unit="deg")})
    table.write(path, format="ascii.ecsv", overwrite=True)
    return path


@dataclass(frozen=True)
class FastCase:
    root: Path
    rate: Path
    truth: Path
    asn: Path
    result: PipelineResult


@pytest.fixture(scope="module")
def fast(tmp_path_factory: pytest.TempPathFactory) -> FastCase:
    """GR150C on NIS, full frame; the catalogue from the truth (no image3)."""
    root = tmp_path_factory.mktemp("wfss_fast")
    write_reference_set(root / "refs", only=[("NIS", "FULL")])
    exposure = simulate_exposure(ExposureSpec(exp_type="NIS_WFSS", size="full", ngroups=NGROUPS,
                                              optics=(("FILTER", "GR150C"),)), root / "raw", rng_seed=21)
    out = root / "out"
    rate = calibrate(exposure.path, pipeline_alias="calwebb_detector1", refs_dir=root / "refs",
                     out_dir=out).product("rate")
    write_truth_catalog(exposure.truth_path, out / "jw01234-o001_t001_niriss_clear-f150w_cat.ecsv")
    asn = level2_asn(out, rate, "jw01234-o001_t001_niriss_clear-f150w")
    result = calibrate(asn, pipeline_alias="calwebb_spec2", refs_dir=root / "refs", out_dir=out)
    return FastCase(root, rate, exposure.truth_path, asn, result)


def _lines(exp_type: str) -> dict[int, list[tuple[float, float]]]:
    detector, blocking = ("NIS", "F150W") if exp_type == "NIS_WFSS" else ("NRCALONG", "F356W")
    return {s.source_id: [(ln.centre_um, ln.fwhm_um) for ln in s.spectrum.lines if ln.kind == "emission"]
            for s in default_wfss_scene(detector, blocking).sources}


def figures(x1d: Path, truth: Path, exp_type: str) -> tuple[dict[int, dict[str, float]], float]:
    """Per injected source (matched by sky position) its figures, and the pull width pooled over the exposure's
    sources."""
    truths, lines = truth_tables(truth), _lines(exp_type)
    injected = read_extensions(truth, ["WFSS_SOURCES"])["WFSS_SOURCES"]
    out, pulls = {}, []
    for cols, meta in wfss_rows(x1d):  # image3 numbers its catalogue its own way: match on the sky
        ra, dec = float(str(meta["SOURCE_RA"])), float(str(meta["SOURCE_DEC"]))
        near = np.argmin(np.hypot((injected["ra"] - ra) * np.cos(np.radians(dec)), injected["dec"] - dec))
        sid = int(injected["source_id"][near])
        out[sid] = score_source(cols, meta, truths[sid], lines[sid])
        pulls.append(out[sid].pop("pulls"))
    return out, float(np.std(np.concatenate(pulls)))


def assert_done_when(per_source: dict[int, dict[str, float]], pooled: float, *, wave_px: float = 0.1) -> None:
    for sid, f in per_source.items():
        assert f["wave_error_px"] < wave_px, (sid, f)
        assert f["snr50"] > 0.5, (sid, f)
        assert f["flux_ratio"] == pytest.approx(1.0, abs=0.02), (sid, f)
        assert f["line_offset_resel"] < 0.1, (sid, f)
    assert 0.9 <= pooled <= 1.1, pooled


def test_wfss_is_taken_by_spec2_from_a_level2_association() -> None:
    assert frozenset({"NIS_WFSS", "NRC_WFSS"}) == WFSS_EXP_TYPES
    assert all(implements("calwebb_spec2", e) for e in WFSS_EXP_TYPES)
    assert PARTIAL["calwebb_spec2"] >= WFSS_EXP_TYPES


def test_spec2_products_open_in_stdatamodels_as_jwst_writes_them(fast: FastCase) -> None:
    root = fast.rate.name.removesuffix("_rate.fits")
    assert [p.name for p in fast.result.products] == [f"{root}_cal.fits", f"{root}_x1d.fits", f"{root}_x1d.png"]
    with dm.open(fast.result.product("cal")) as cal:
        assert isinstance(cal, dm.MultiSlitModel) and len(cal.slits) == 5
        assert cal.meta.cal_step.extract_2d == "COMPLETE" and cal.meta.cal_step.extract_1d is None
        for slit in cal.slits:
            assert slit.name == str(slit.source_id) and slit.meta.wcsinfo.spectral_order == 1
            assert slit.meta.wcsinfo.dispersion_direction == 1 and slit.source_type == "POINT"
            assert slit.data.shape == (slit.ysize, slit.xsize) == slit.wavelength.shape
            assert slit.meta.bunit_data == "DN/s"  # jwst calibrates WFSS after extraction
            assert np.isfinite(slit.source_ra) and np.isfinite(slit.source_xpos)
    with dm.open(fast.result.product("x1d")) as x1d:
        assert isinstance(x1d, dm.WFSSMultiSpecModel) and len(x1d.spec) == 1
        table = x1d.spec[0].spec_table
        assert list(table["SOURCE_ID"]) == [1, 2, 3, 4, 5]
        assert str(table.columns["FLUX"].unit) == "Jy" and str(table.columns["WAVELENGTH"].unit) == "um"
        assert x1d.spec[0].spectral_order == 1 and x1d.spec[0].dispersion_direction == 1


def test_spec2_wavelengths_flux_errors_and_lines_match_the_injected_spectra(fast: FastCase) -> None:
    per_source, pooled = figures(fast.result.product("x1d"), fast.truth, "NIS_WFSS")
    assert sorted(per_source) == [1, 2, 3, 4, 5]
    assert_done_when(per_source, pooled)


def _copy(fast: FastCase, folder: Path, *, catalog: bool = True) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    shutil.copy(fast.rate, folder / fast.rate.name)
    if catalog:
        for p in fast.asn.parent.glob("*_cat.ecsv"):
            shutil.copy(p, folder / p.name)
    return level2_asn(folder, folder / fast.rate.name, "jw01234-o001_t001_niriss_clear-f150w")


def test_a_catalogue_missing_from_the_association_folder_is_a_clear_error(fast: FastCase, tmp_path: Path) -> None:
    asn = _copy(fast, tmp_path / "in", catalog=False)
    with pytest.raises(AssociationError, match=r"sourcecat .* not in the association's folder"):
        calibrate(asn, pipeline_alias="calwebb_spec2", refs_dir=fast.root / "refs", out_dir=tmp_path / "out")
    assert not (tmp_path / "out").exists() or not list((tmp_path / "out").iterdir())


def test_a_catalogue_with_no_source_on_the_detector_is_a_clear_error(fast: FastCase, tmp_path: Path) -> None:
    asn = _copy(fast, tmp_path / "in")
    cat = next((tmp_path / "in").glob("*_cat.ecsv"))
    write_truth_catalog(fast.truth, cat, shift=(0.0, 0.5))  # half a degree north: off the field
    with pytest.raises(BadDataShapeError, match="none of the catalogue's 5 sources has a trace"):
        calibrate(asn, pipeline_alias="calwebb_spec2", refs_dir=fast.root / "refs", out_dir=tmp_path / "out")


@pytest.mark.parametrize("member", ["../x_cat.ecsv", "/etc/passwd", "sub/x_cat.ecsv"])
def test_a_member_that_is_a_path_is_refused(fast: FastCase, tmp_path: Path, member: str) -> None:
    asn = _copy(fast, tmp_path / "in")
    doc = json.loads(asn.read_text())
    doc["products"][0]["members"][2]["expname"] = member
    asn.write_text(json.dumps(doc))
    with pytest.raises(AssociationError, match="not a bare"):
        calibrate(asn, pipeline_alias="calwebb_spec2", refs_dir=fast.root / "refs", out_dir=tmp_path / "out")


def test_wavelengths_outside_the_sensitivity_reference_are_a_clear_error(fast: FastCase) -> None:
    """A trace whose wavelengths all lie outside the PHOTOM row's response table cannot be calibrated."""
    from streamcal.models.image import read_image
    from streamcal.references import ReferenceStore, RefType
    from streamcal.steps.base import Context
    from streamcal.steps.spec import Spec2AssignWcsStep
    from streamcal.steps.spec.mos import Spec2Extract2dStep
    from streamcal.steps.spec.wfss import wfss_photom

    image = read_image(fast.rate)
    refs = ReferenceStore.open(fast.root / "refs").for_exposure(image.primary)
    sources = tuple(CatalogSource(int(r["source_id"]), float(r["ra"]), float(r["dec"]), 0.0, 0.0)
                    for r in read_extensions(fast.truth, ["WFSS_SOURCES"])["WFSS_SOURCES"])
    ctx = Context(header=image.primary, refs=refs, grism_sources=sources)
    slits = Spec2Extract2dStep().apply(Spec2AssignWcsStep().apply(image, ctx).model, ctx).model
    table = np.array(refs.require(RefType.PHOTOM)["PHOTOM"])
    table["wavelength"] = table["wavelength"] * 2.0  # the response moved to 2.6–3.4 µm

    class Shifted:
        name = "shifted_photom.fits"

        def __getitem__(self, key: str) -> np.ndarray:
            return table

    with pytest.raises(InvalidInputError, match="outside the sensitivity"):
        wfss_photom(slits, Shifted())  # type: ignore[arg-type]


def test_a_trace_off_the_detector_is_dropped() -> None:
    order = grism_conf("NIS", {"FILTER": "GR150C", "PUPIL": "F150W"}).order(1)
    assert order.layout_at(1000.0, 1000.0) is not None
    assert order.layout_at(2040.0, 1000.0) is None  # +40 … +111 px beyond the right edge
    partial = order.layout_at(1990.0, 1000.0)
    assert partial is not None and partial.d_range == (2030, 2048)


@pytest.fixture(scope="module")
def chain(tmp_path_factory: pytest.TempPathFactory) -> WfssChain:
    return run_chain(tmp_path_factory.mktemp("wfss_chain"), "NIS_WFSS")


@pytest.mark.slow
def test_the_full_chain_with_image3s_catalogue_meets_the_figures(chain: WfssChain) -> None:
    for result, truth in zip(chain.results, chain.truths, strict=True):
        per_source, pooled = figures(result.product("x1d"), truth, "NIS_WFSS")
        assert sorted(per_source) == [1, 2, 3, 4, 5]
        assert_done_when(per_source, pooled, wave_px=0.15)
