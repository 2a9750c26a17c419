"""SpectralLayout and its SPECWCS table, without the simulator (issue 11): what the pipeline side reads."""

from __future__ import annotations

import numpy as np
import pytest

import streamcal.models.spectral as spectral_module
from streamcal.datamodels import Extension, write_fits
from streamcal.errors import CorruptFileError
from streamcal.models.spectral import SPECWCS_DTYPE, SpectralLayout, layout_from_specwcs, read_specwcs, specwcs_table

_LINEAR = {"dispaxis": 1, "wavelength_coeffs": (1.0, 1e-3, 0.0), "trace_coeffs": (5.0,), "sigma_px": 1.0,
           "d_range": (2, 12)}


def test_public_names() -> None:
    for name in spectral_module.__all__:
        assert getattr(spectral_module, name) is not None, name


def test_a_specwcs_table_round_trips_through_a_file_and_its_zero_padding(tmp_path) -> None:
    layout = SpectralLayout(**_LINEAR)  # type: ignore[arg-type]
    assert layout.wavelength_coeffs == (1.0, 1e-3)  # trailing zeros dropped, so padded columns read back equal
    table = specwcs_table(layout)
    assert table.dtype == SPECWCS_DTYPE
    assert table["WAVELENGTH_COEFFS"][0].tolist() == [1.0, 1e-3, 0.0, 0.0]
    assert (table["D_FIRST"][0], table["D_LAST"][0]) == (2, 11)  # D_LAST inclusive
    assert (table["WAVE_MIN"][0], table["WAVE_MAX"][0]) == pytest.approx((1.002, 1.011))
    path = write_fits(tmp_path / "specwcs.fits", primary={"REFTYPE": "SPECWCS"},
                      extensions=[Extension("SPECWCS", table)])
    assert read_specwcs(path) == layout
    np.testing.assert_array_equal(layout.wavelength([2, 11]), [1.002, 1.011])
    assert layout.trace(7.5) == 5.0


def test_with_photom_row_uses_the_first_nelem_values_and_interpolates() -> None:
    row = np.zeros(1, [("PHOTMJ", "f4"), ("NELEM", "i2"), ("WAVELENGTH", "f4", (5,)), ("RELRESPONSE", "f4", (5,))])
    row["PHOTMJ"], row["NELEM"] = 2.0, 3
    row["WAVELENGTH"][0, :3], row["RELRESPONSE"][0, :3] = (0.9, 1.0, 1.1), (1.0, 2.0, 4.0)
    layout = SpectralLayout(**_LINEAR).with_photom_row(row[0])  # type: ignore[arg-type]
    assert layout.calibrated and layout.response_wavelength == tuple(np.float32([0.9, 1.0, 1.1]).astype(float))
    np.testing.assert_allclose(layout.relresponse([1.0, 1.05]), [2.0, 3.0], rtol=1e-6)
    assert np.isnan(layout.relresponse(1.2))  # outside the table
    np.testing.assert_allclose(layout.conversion(1.0), 2.0 * 1e6 * 2.0, rtol=1e-6)
    assert layout.geometry() == SpectralLayout(**_LINEAR)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="no photometric calibration"):
        SpectralLayout(**_LINEAR).relresponse(1.0)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"no \['nelem', 'relresponse', 'wavelength'\] column"):
        SpectralLayout(**_LINEAR).with_photom_row(np.zeros(1, [("photmj", "f4")])[0])  # type: ignore[arg-type]
    short = row.copy()
    short["WAVELENGTH"][0, :3] = (1.003, 1.004, 1.005)  # does not cover the lit 1.002–1.011 µm
    with pytest.raises(ValueError, match="relresponse covers"):
        SpectralLayout(**_LINEAR).with_photom_row(short[0])  # type: ignore[arg-type]


@pytest.mark.parametrize(("change", "message"), [
    ({"dispaxis": 3}, "dispaxis must be 1 or 2"),
    ({"sigma_px": 0.0}, "sigma_px must be positive"),
    ({"d_range": (5, 5)}, "d_range must be"),
    ({"wavelength_coeffs": (1.0, -1e-2, 1e-3)}, "not monotonic"),
    ({"trace_coeffs": (1.0, 0, 0, 0, 1.0)}, "at most|1 to 4"),
])
def test_inconsistent_layouts_are_refused(change, message) -> None:
    with pytest.raises(ValueError, match=message):
        SpectralLayout(**{**_LINEAR, **change})  # type: ignore[arg-type]


def test_a_bad_specwcs_is_a_corrupt_file(tmp_path) -> None:
    two = np.concatenate([specwcs_table(SpectralLayout(**_LINEAR))] * 2)  # type: ignore[arg-type]
    with pytest.raises(CorruptFileError, match="one row"):
        layout_from_specwcs(two, source="x.fits")
    bad = specwcs_table(SpectralLayout(**_LINEAR))  # type: ignore[arg-type]
    bad["DISPAXIS"] = 0
    with pytest.raises(CorruptFileError, match=r"x\.fits: dispaxis"):
        layout_from_specwcs(bad, source="x.fits")
    path = write_fits(tmp_path / "other.fits", primary={}, extensions=[Extension("SCI", np.zeros((2, 2)))])
    with pytest.raises(CorruptFileError, match=r"other\.fits has no SPECWCS table"):
        read_specwcs(path)
