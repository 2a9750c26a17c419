"""Interop with the JWST ecosystem: stdatamodels opens what we write, and we read what it writes."""

from __future__ import annotations

import numpy as np
import pytest
from stdatamodels.jwst import datamodels as dm

from streamcal.datamodels import ExposureName, open_raw, read_headers, write_product
from tests.conftest import raw_primary


def test_our_raw_file_opens_as_level1b_and_ramp(make_raw):
    path, data = make_raw()
    with dm.open(path) as model:
        assert isinstance(model, dm.Level1bModel)
        assert model.data.shape == data.shape
        assert model.meta.exposure.type == "NRC_IMAGE"
        assert model.meta.exposure.ngroups == data.shape[1]
        assert model.meta.instrument.detector == "NRCA1"
        assert model.meta.wcsinfo.roll_ref == 12.0
        np.testing.assert_array_equal(model.data, data)
    with dm.RampModel(path) as ramp:
        assert ramp.data.dtype == np.float32
        np.testing.assert_array_equal(ramp.data, data.astype(np.float32))


@pytest.mark.parametrize(("suffix", "model_cls", "nints"), [("rate", "ImageModel", None),
                                                            ("rateints", "CubeModel", 3)])
def test_products_open_in_stdatamodels(make_raw, suffix, model_cls, nints):
    raw_path, _ = make_raw()
    headers = read_headers(raw_path)
    shape = (16, 20) if nints is None else (nints, 16, 20)
    arrays = {k: np.full(shape, 1.5, np.float32) for k in ("SCI", "ERR", "VAR_POISSON", "VAR_RNOISE")}
    arrays["DQ"] = np.zeros(shape, np.uint32)
    out = write_product(raw_path.parent / ExposureName.from_header(headers).filename(suffix), arrays,
                        primary=headers.primary, sci_header=headers.sci)
    with dm.open(out) as model:
        assert type(model).__name__ == model_cls
        assert model.data.shape == shape
        assert model.dq.dtype == np.uint32
        assert model.meta.exposure.type == "NRC_IMAGE"
        assert model.meta.bunit_data == "DN/s"
        assert model.meta.wcsinfo.ra_ref == 80.5
        np.testing.assert_array_equal(model.var_rnoise, arrays["VAR_RNOISE"])


def test_ramp_product_opens_as_rampmodel(tmp_path):
    shape = (2, 5, 8, 10)
    out = write_product(tmp_path / "jw01234001001_02101_00001_nrca1_ramp.fits",
                        {"SCI": np.ones(shape, np.float32), "PIXELDQ": np.zeros(shape[2:], np.uint32),
                         "GROUPDQ": np.zeros(shape, np.uint8)}, primary=raw_primary(NINTS=2, NGROUPS=5))
    with dm.open(out) as model:
        assert isinstance(model, dm.RampModel)
        assert model.groupdq.dtype == np.uint8 and model.groupdq.shape == shape


def test_a_raw_file_written_by_stdatamodels_is_read_by_us(tmp_path):
    shape = (1, 3, 12, 14)
    data = np.arange(np.prod(shape), dtype=np.uint16).reshape(shape) + 1000
    model = dm.Level1bModel(data=data)
    model.meta.instrument.name = "NIRCAM"
    model.meta.instrument.detector = "NRCA1"
    model.meta.exposure.type = "NRC_IMAGE"
    model.meta.exposure.ngroups = 3
    model.meta.exposure.nints = 1
    model.meta.wcsinfo.ra_ref = 10.0
    path = tmp_path / "jw01234001001_02101_00001_nrca1_uncal.fits"
    model.save(path)
    headers = read_headers(path)
    assert headers["EXP_TYPE"] == "NRC_IMAGE"
    assert headers.sci["RA_REF"] == 10.0
    with open_raw(path) as raw:
        assert raw.shape == shape
        np.testing.assert_array_equal(raw.read_ramp(), data.astype(np.float32))
