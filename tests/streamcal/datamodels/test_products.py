from __future__ import annotations

import numpy as np
import pytest

from streamcal.datamodels import PRODUCTS, ExposureName, read_headers, read_product, write_product
from streamcal.dq import Pixel
from streamcal.errors import BadDataShapeError


def _rate_arrays(ny=16, nx=20, nints=None):
    shape = (ny, nx) if nints is None else (nints, ny, nx)
    rng = np.random.default_rng(3)
    return {
        "SCI": rng.normal(5, 1, shape).astype(np.float64),  # written as float32 whatever comes in
        "ERR": np.full(shape, 0.5),
        "DQ": np.full(shape, int(Pixel.JUMP_DET), np.int64),
        "VAR_POISSON": np.full(shape, 0.2),
        "VAR_RNOISE": np.full(shape, 0.05),
    }


def test_rate_product_layout_and_headers(make_raw):
    raw_path, _ = make_raw()
    headers = read_headers(raw_path)
    name = ExposureName.from_header(headers.primary)
    out = write_product(raw_path.parent / name.filename("rate"), _rate_arrays(),
                        primary=headers.primary, sci_header=headers.sci)
    product = read_product(out)
    assert product.primary["DATAMODL"] == "ImageModel"
    assert product.primary["EXP_TYPE"] == "NRC_IMAGE"  # carried over
    assert product.sci_header["RA_REF"] == 80.5
    assert product.sci_header["BUNIT"] == "DN/s"
    for ext, dtype in [("SCI", np.float32), ("ERR", np.float32), ("DQ", np.uint32),
                       ("VAR_POISSON", np.float32), ("VAR_RNOISE", np.float32)]:
        assert product[ext].dtype == dtype, ext
        assert product[ext].shape == (16, 20)
    assert (product["DQ"] == Pixel.JUMP_DET).all()
    names = {bytes(name).decode().strip() for name in product["DQ_DEF"]["NAME"]}
    assert {"DO_NOT_USE", "JUMP_DET", "REFERENCE_PIXEL"} <= names


def test_rewrite_is_idempotent(tmp_path):
    path = tmp_path / "jw01234001001_02101_00001_nrca1_rate.fits"
    write_product(path, _rate_arrays(), primary={"EXP_TYPE": "NRC_IMAGE"})
    first = read_product(path)["SCI"]
    write_product(path, _rate_arrays(), primary={"EXP_TYPE": "NRC_IMAGE"})
    np.testing.assert_array_equal(read_product(path)["SCI"], first)
    assert sorted(p.name for p in tmp_path.iterdir()) == [path.name]


def test_rateints_is_three_dimensional(tmp_path):
    path = tmp_path / "jw01234001001_02101_00001_nrca1_rateints.fits"
    write_product(path, _rate_arrays(nints=3), primary={})
    assert read_product(path)["SCI"].shape == (3, 16, 20)
    assert read_product(path).primary["DATAMODL"] == "CubeModel"


def test_layout_errors_are_typed(tmp_path):
    arrays = _rate_arrays()
    del arrays["VAR_RNOISE"]
    with pytest.raises(BadDataShapeError, match="needs VAR_RNOISE"):
        write_product(tmp_path / "x_rate.fits", arrays, primary={})
    with pytest.raises(BadDataShapeError, match="dimensions"):
        write_product(tmp_path / "x_rate.fits", _rate_arrays(nints=2), primary={})
    with pytest.raises(BadDataShapeError, match="not extensions"):
        write_product(tmp_path / "x_rate.fits", {**_rate_arrays(), "BOGUS": np.zeros((16, 20))}, primary={})
    with pytest.raises(BadDataShapeError, match="no product layout"):
        write_product(tmp_path / "x_weird.fits", _rate_arrays(), primary={})
    bad = _rate_arrays()
    bad["ERR"] = np.zeros((8, 20))
    with pytest.raises(BadDataShapeError, match="ERR"):
        write_product(tmp_path / "x_rate.fits", bad, primary={})
    assert not list(tmp_path.iterdir())


def test_every_layout_has_sci_first():
    for spec in PRODUCTS.values():
        assert spec.extensions[0].name == "SCI"
