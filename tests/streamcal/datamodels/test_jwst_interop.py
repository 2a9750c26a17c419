"""jwst and stdatamodels open what streamcal writes, run their steps on it, and streamcal reads what they write
(issue 14).

1. The keyword table frozen into ``streamcal.datamodels.jwst_keywords`` is what the installed stdatamodels says.
2. The ``ASDF`` extension holds the ``meta`` stdatamodels derives from our headers, and jwst's
   ``read_metadata`` (what ``ModelLibrary`` and ``strun`` call first) reads every file we write.
3. Every product kind of the demo program opens with ``stdatamodels.jwst.datamodels.open`` as its DATAMODL's
   class, data intact (slow: the demo program runs end to end, ~90 s).
4. jwst's ``FlatFieldStep`` runs on our ``_cal`` with a flat stdatamodels wrote, CRDS offline.
5. streamcal calibrates an ``_uncal`` that stdatamodels wrote, to the same rate as our own file.
"""

from __future__ import annotations

import io
import shutil
import subprocess
import sys
from pathlib import Path

import asdf
import numpy as np
import pytest
import yaml
from astropy.io import fits
from astropy.table import Table
from stdatamodels import fits_support
from stdatamodels.jwst import datamodels as dm
from stdatamodels.jwst.datamodels.util import read_metadata

from streamcal.calibrate import calibrate
from streamcal.datamodels import jwst_keywords, read_product
from streamcal.datamodels.jwst_asdf import ASDF_EXTENSION, asdf_document, model_tree
from streamcal.routing import RoutingConfig
from streamcal.simulate import simulate_program, write_reference_set
from tests.streamcal.datamodels.jwst_schema_map import generate

#: The stdatamodels classes each product kind may open as (its DATAMODL picks one).
MODELS_BY_KIND = {
    "uncal": {"Level1bModel", "GuiderRawModel"}, "rate": {"ImageModel"}, "rateints": {"CubeModel"},
    "cal": {"ImageModel", "IFUImageModel", "MultiSlitModel", "GuiderCalModel"}, "calints": {"CubeModel"},
    "crf": {"ImageModel"}, "crfints": {"CubeModel"}, "i2d": {"ImageModel"}, "segm": {"SegmentationMapModel"},
    "s2d": {"SlitModel", "MultiSlitModel"}, "s3d": {"IFUCubeModel"},
    "x1d": {"MultiSpecModel", "WFSSMultiSpecModel"}, "x1dints": {"TSOMultiSpecModel"},
    "c1d": {"CombinedSpecModel", "WFSSMultiCombinedSpecModel"}, "psfstack": {"CubeModel"},
    "psfalign": {"QuadModel"}, "psfsub": {"CubeModel"}, "ami-oi": {"AmiOIModel"}, "aminorm-oi": {"AmiOIModel"},
    "psf-ami-oi": {"AmiOIModel"}, "dark": {"RampModel"}, "wfscmb-03": {"ImageModel"},
}
#: Files the demo writes that are not jwst data models: the MSA metadata (jwst reads it with astropy too) and
#: the simulator's truth.
NOT_MODELS = {"msa", "truth"}


def _flat(tree: object, prefix: str = "") -> dict[str, object]:
    """Dotted path -> value of a tree's leaves, HDU references (ASDF ndarrays) left out."""
    if "ndarray" in getattr(tree, "_tag", ""):
        return {}
    if isinstance(tree, dict):
        return {k: v for key, sub in tree.items() for k, v in _flat(sub, f"{prefix}{key}.").items()}
    if isinstance(tree, list):
        return {k: v for i, sub in enumerate(tree) for k, v in _flat(sub, f"{prefix}{i}.").items()}
    return {prefix[:-1]: tree}


def stdatamodels_meta(path: Path) -> dict[str, object]:
    """The keywords stdatamodels reads from the headers into its tree (``read_metadata`` without the tree)."""
    with fits.open(path) as hdul:
        schema = asdf.schema.load_schema(getattr(dm, hdul[0].header["DATAMODL"]).schema_url, resolve_references=True)

        class Context:
            _validate_on_assignment = False

        tree: dict[str, object] = {}
        fits_support._load_from_schema(hdul, schema, tree, Context(), ignore_arrays=True, keep_unknown=False)
    return _flat(tree)


def our_tree(path: Path) -> dict[str, object]:
    with fits.open(path) as hdul:
        return yaml.load(io.BytesIO(hdul[ASDF_EXTENSION].data.tobytes()), Loader=asdf.yamlutil.AsdfLoader)


def check_file(path: Path) -> str:
    """Open ``path`` as stdatamodels does; check its class, data and ASDF tree. Returns the class name."""
    kind = path.stem.rsplit("_", 1)[1]
    datamodl = fits.getval(path, "DATAMODL")
    with dm.open(path) as model:
        name = type(model).__name__
        assert name == datamodl and name in MODELS_BY_KIND[kind], (path.name, name)
        with fits.open(path) as hdul:
            if "SCI" in hdul and hdul["SCI"].data is not None and getattr(model, "data", None) is not None:
                np.testing.assert_array_equal(np.asarray(model.data), hdul["SCI"].data)
            if "EXTRACT1D" in hdul and hasattr(model, "spec"):
                assert len(model.spec[0].spec_table) == len(hdul["EXTRACT1D"].data)
    ours, theirs = _flat(our_tree(path)), stdatamodels_meta(path)
    assert ours.keys() == theirs.keys(), path.name
    for key, value in ours.items():  # FITS cards keep 16 significant digits, the tree all 17
        same = value == theirs[key] or (type(value) is float and value == pytest.approx(theirs[key], rel=1e-15))
        assert same, (path.name, key, value, theirs[key])
    assert read_metadata(path)["meta.model_type"] == datamodl
    return name


def test_the_keyword_table_is_the_installed_stdatamodels_one():
    assert Path(jwst_keywords.__file__).read_text() == generate(), (
        "regenerate streamcal/datamodels/jwst_keywords.py (see tests/streamcal/datamodels/jwst_schema_map.py)")


def test_the_asdf_document_is_asdf_and_references_the_hdus(make_raw):
    path, data = make_raw()
    tree = our_tree(path)
    assert tree["meta"]["model_type"] == "Level1bModel" and tree["meta"]["exposure"]["ngroups"] == data.shape[1]
    assert tree["data"]._tag.endswith("core/ndarray-1.0.0")
    assert dict(tree["data"]) == {"source": "fits:SCI,1", "datatype": "uint16", "byteorder": "big",
                            "shape": list(data.shape)}
    with fits.open(path) as hdul:
        with asdf.open(io.BytesIO(hdul[ASDF_EXTENSION].data.tobytes())) as af:
            assert af.tree["meta"]["instrument"]["detector"] == "NRCA1"
        assert len(asdf_document(model_tree(hdul))) < 4000  # meta only: no array bytes


@pytest.fixture(scope="module")
def imaging(tmp_path_factory):
    """One imaging exposure of the dither: its raw file, rate, rateints and cal, and the refs folder."""
    root = tmp_path_factory.mktemp("jwst_interop")
    exposure = simulate_program("imaging_dither", root / "raw").exposures[0]
    refs = root / "refs"
    write_reference_set(refs, only=[("NRCA3", "SUB160P")])
    config = RoutingConfig.load()
    stage1 = calibrate(exposure.path, pipeline_alias="calwebb_detector1", refs_dir=refs, out_dir=root / "out",
                       config=config)
    cal = calibrate(stage1.product("rate"), pipeline_alias="calwebb_image2", refs_dir=refs, out_dir=root / "out",
                    config=config).product("cal")
    return {"uncal": exposure.path, "rate": stage1.product("rate"), "rateints": stage1.product("rateints"),
            "cal": cal, "refs": refs, "config": config}


@pytest.mark.parametrize("kind", ["uncal", "rate", "rateints", "cal"])
def test_stage1_and_2_products_open_as_their_models(imaging, kind):
    check_file(imaging[kind])


def test_our_reference_files_in_jwst_layouts_open_as_their_models(imaging):
    opened = {}
    for path in sorted(imaging["refs"].glob("*.fits")):
        if "DATAMODL" not in fits.getheader(path):
            continue  # photom, apcorr, specwcs: streamcal's own tables
        with dm.open(path) as model:
            opened[fits.getval(path, "REFTYPE")] = type(model).__name__
            assert type(model).__name__ == fits.getval(path, "DATAMODL")
        assert our_tree(path)["meta"]["reftype"] == fits.getval(path, "REFTYPE")
    assert opened == {"MASK": "MaskModel", "SATURATION": "SaturationModel", "SUPERBIAS": "SuperBiasModel",
                      "READNOISE": "ReadnoiseModel", "GAIN": "GainModel", "LINEARITY": "LinearityModel",
                      "DARK": "DarkModel", "FLAT": "FlatModel", "AREA": "PixelAreaModel"}


def test_jwst_flat_field_step_runs_on_our_cal_offline(imaging, tmp_path, monkeypatch):
    """CRDS offline: no server, an empty cache, no parameter references; every reference overridden. stpipe
    still asks CRDS which context it used once a reference was used, so that one bookkeeping call is stubbed."""
    monkeypatch.delenv("CRDS_SERVER_URL", raising=False)
    monkeypatch.setenv("CRDS_MODE", "local")
    monkeypatch.setenv("CRDS_PATH", str(tmp_path / "crds"))
    monkeypatch.setenv("STPIPE_DISABLE_CRDS_STEPPARS", "True")
    monkeypatch.setattr("stpipe.crds_client.get_context_used", lambda observatory: "jwst_0000.pmap")
    from jwst.flatfield import FlatFieldStep

    cal = read_product(imaging["cal"])
    shape = cal["SCI"].shape
    flat = dm.FlatModel(data=np.full(shape, 2.0, np.float32), dq=np.zeros(shape, np.uint32),
                        err=np.zeros(shape, np.float32))
    for key in ("INSTRUME", "DETECTOR", "SUBSTRT1", "SUBSTRT2", "SUBSIZE1", "SUBSIZE2"):
        flat[fits_keyword_path(flat, key)] = cal.primary[key]
    flat.meta.reftype, flat.meta.author, flat.meta.pedigree = "FLAT", "streamcal tests", "DUMMY"
    flat.meta.description, flat.meta.useafter = "flat of 2", "2020-01-01T00:00:00"
    flat.save(tmp_path / "flat.fits")
    result = FlatFieldStep.call(str(imaging["cal"]), override_flat=str(tmp_path / "flat.fits"),
                                override_fflat="N/A", override_sflat="N/A", override_dflat="N/A")
    assert result.meta.cal_step.flat_field == "COMPLETE"
    good = np.isfinite(cal["SCI"]) & np.isfinite(result.data)
    assert good.mean() > 0.9
    np.testing.assert_allclose(result.data[good], cal["SCI"][good] / 2, rtol=1e-6)


def fits_keyword_path(model: dm.JwstDataModel, keyword: str) -> str:
    return next(path for path in model.find_fits_keyword(keyword)).removeprefix("model.")


def test_streamcal_calibrates_an_uncal_stdatamodels_wrote(imaging, tmp_path):
    with dm.open(imaging["uncal"]) as ours:
        model = dm.Level1bModel(data=np.asarray(ours.data))
        model.update(ours, only="PRIMARY")
        model.update(ours, only="SCI")
        theirs = tmp_path / Path(imaging["uncal"]).name
        model.save(theirs)  # stdatamodels' own writer: its headers, its ASDF extension
    with fits.open(theirs) as hdul:
        assert hdul[0].header["ORIGIN"] == "STREAMCAL" and "ASDF" in hdul
    rate = calibrate(theirs, pipeline_alias="calwebb_detector1", refs_dir=imaging["refs"], out_dir=tmp_path / "out",
                     config=imaging["config"]).product("rate")
    ours_rate, their_rate = read_product(imaging["rate"]), read_product(rate)
    np.testing.assert_array_equal(their_rate["DQ"], ours_rate["DQ"])
    np.testing.assert_allclose(their_rate["SCI"], ours_rate["SCI"], rtol=1e-6, equal_nan=True)


@pytest.mark.slow
def test_every_product_of_the_demo_opens_as_its_model(tmp_path):
    cli = shutil.which("streamcal", path=str(Path(sys.executable).parent))
    assert cli
    subprocess.run([cli, "simulate", "--program", "demo", "--out", str(tmp_path / "ingest"),
                    "--refs", str(tmp_path / "refs")], check=True, capture_output=True)
    subprocess.run([cli, "run", "--ingest", str(tmp_path / "ingest"), "--products", str(tmp_path / "products"),
                    "--refs", str(tmp_path / "refs"), "--until-idle", "3"], check=True, capture_output=True)
    opened: dict[str, set[str]] = {}
    for path in sorted([*(tmp_path / "products").glob("*.fits"), *(tmp_path / "ingest").glob("*.fits")]):
        kind = path.stem.rsplit("_", 1)[1]
        if kind not in NOT_MODELS:
            opened.setdefault(kind, set()).add(check_file(path))
    for path in (tmp_path / "products").glob("*.ecsv"):
        assert len(Table.read(path)) > 0, path.name
    expected = {"uncal", "rate", "rateints", "cal", "calints", "crf", "i2d", "segm", "s2d", "s3d", "x1d", "c1d",
                "psfstack", "psfalign", "psfsub", "ami-oi", "aminorm-oi", "dark"}
    assert expected <= set(opened), expected - set(opened)
    assert {"GuiderRawModel", "Level1bModel"} <= opened["uncal"]
    assert {"GuiderCalModel", "MultiSlitModel", "ImageModel"} <= opened["cal"]
    assert {"WFSSMultiSpecModel", "MultiSpecModel"} <= opened["x1d"]
    assert {"WFSSMultiCombinedSpecModel", "CombinedSpecModel"} <= opened["c1d"]


def test_time_series_spectra_open_as_their_models(tmp_path):
    """The demo has no spectroscopic time series: an NRS_BRIGHTOBJ exposure (always TSO) through detector1 and
    calwebb_spec2 gives `_rateints`, `_calints` (CubeModel) and `_x1dints` (TSOMultiSpecModel, a row per
    integration)."""
    from streamcal.simulate import ExposureSpec, simulate_exposure

    raw = simulate_exposure(ExposureSpec(exp_type="NRS_BRIGHTOBJ", nints=3), tmp_path / "raw", rng_seed=4).path
    write_reference_set(tmp_path / "refs", only=[("NRS1", str(fits.getval(raw, "SUBARRAY")))])
    config = RoutingConfig.load()
    stage1 = calibrate(raw, refs_dir=tmp_path / "refs", out_dir=tmp_path / "products", config=config)
    rateints = next(p for p in stage1.products if p.name.endswith("_rateints.fits"))
    stage2 = calibrate(rateints, refs_dir=tmp_path / "refs", out_dir=tmp_path / "products", config=config)
    names = {p.stem.rsplit("_", 1)[1]: p for p in [rateints, *stage2.products] if p.suffix == ".fits"}
    assert {"rateints", "calints", "x1dints"} <= set(names)
    assert {kind: check_file(names[kind]) for kind in ("rateints", "calints", "x1dints")} == {
        "rateints": "CubeModel", "calints": "CubeModel", "x1dints": "TSOMultiSpecModel"}
    with dm.open(names["x1dints"]) as model:
        assert len(model.spec[0].spec_table) == 3 and model.spec[0].spec_table.columns["FLUX"].unit == "Jy"
