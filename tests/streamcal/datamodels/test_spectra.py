"""x1d files as jwst writes them: stdatamodels opens them as MultiSpecModel with jwst's columns and units
(issue 11)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from stdatamodels.jwst import datamodels as dm

from streamcal.datamodels.spectra import SPEC_COLUMNS, Spectrum1D, read_x1d, write_x1d, write_x1dints
from streamcal.errors import BadDataShapeError


def _spectrum(n: int = 50, **extra: np.ndarray) -> Spectrum1D:
    wavelength = np.linspace(2.9, 5.2, n)
    columns = {"WAVELENGTH": wavelength, "FLUX": 1e-3 * wavelength, "FLUX_VAR_POISSON": np.full(n, 4e-8),
               "FLUX_VAR_RNOISE": np.full(n, 5e-8), "NPIXELS": np.full(n, 6.0), "DQ": np.zeros(n, np.uint32),
               **extra}
    return Spectrum1D(columns, {"SLTNAME": "S200A1", "SOURCEID": 1, "SPORDER": 1, "DISPAXIS": 1,
                                "SRCTYPE": "POINT"})


def test_stdatamodels_opens_an_x1d_as_multispecmodel_with_jwsts_columns_and_units(tmp_path: Path) -> None:
    path = write_x1d(tmp_path / "jw01234008001_02101_00001_nrs1_x1d.fits", [_spectrum(), _spectrum(30)],
                     primary={"INSTRUME": "NIRSPEC", "EXP_TYPE": "NRS_FIXEDSLIT", "DETECTOR": "NRS1"})
    with dm.open(path) as model:
        assert isinstance(model, dm.MultiSpecModel)
        assert model.meta.instrument.name == "NIRSPEC" and len(model.spec) == 2
        first = model.spec[0]
        assert (first.name, first.source_id, first.spectral_order, first.dispersion_direction) == ("S200A1", 1, 1, 1)
        table = first.spec_table
        assert list(table.columns.names) == [c for c, _, _ in SPEC_COLUMNS]
        for column, _, unit in SPEC_COLUMNS:
            assert (str(table.columns[column].unit or "")) == unit, column
        np.testing.assert_allclose(table["FLUX"], 1e-3 * np.linspace(2.9, 5.2, 50))
        np.testing.assert_allclose(table["FLUX_ERROR"], 3e-4)  # the root of the variance components
        assert np.all(np.isnan(table["SURF_BRIGHT"]))  # not given: jwst's default
        assert len(model.spec[1].spec_table) == 30


def test_round_trip_and_defaults(tmp_path: Path) -> None:
    path = write_x1d(tmp_path / "a_x1d.fits", [_spectrum(FLUX_ERROR=np.full(50, 0.5))], primary={})
    [(table, header)] = read_x1d(path)
    np.testing.assert_array_equal(table["FLUX_ERROR"], 0.5)  # a given error is kept as given
    np.testing.assert_array_equal(table["DQ"], 0)  # unsigned: read as written, not as stored (TZERO)
    assert np.all(table["BKGD_ERROR"] != table["BKGD_ERROR"])  # NaN: no background components given
    assert header["SLTNAME"] == "S200A1" and header["EXTVER"] == 1


@pytest.mark.parametrize(("spectra", "message"), [
    ([], "no spectrum"),
    ([Spectrum1D({"FLUX": np.ones(3)})], "needs a WAVELENGTH"),
    ([Spectrum1D({"WAVELENGTH": np.ones(3), "FLUXX": np.ones(3)})], "unknown x1d column"),
    ([Spectrum1D({"WAVELENGTH": np.ones(3), "FLUX": np.ones(4)})], "share one"),
    ([Spectrum1D({"WAVELENGTH": np.ones((2, 3)), "FLUX": np.ones((2, 3))})], "_x1dints"),
])
def test_malformed_spectra_are_refused(tmp_path: Path, spectra: list[Spectrum1D], message: str) -> None:
    with pytest.raises(BadDataShapeError, match=message):
        write_x1d(tmp_path / "bad_x1d.fits", spectra, primary={})
    assert not list(tmp_path.iterdir())  # nothing half-written


def _ints(nints: int = 4, points: int = 30) -> Spectrum1D:
    wave = np.tile(np.linspace(1.0, 2.0, points), (nints, 1))
    flux = np.arange(nints)[:, None] + wave
    return Spectrum1D({"WAVELENGTH": wave, "FLUX": flux, "FLUX_VAR_POISSON": np.full_like(wave, 0.04)},
                      {"SLTNAME": "S1600A1", "SPORDER": 1})


def _int_times(first: int, n: int) -> np.ndarray:
    rows = np.zeros(n, dtype=[("integration_number", ">i4"), ("int_start_MJD_UTC", ">f8"), ("int_mid_MJD_UTC", ">f8"),
                              ("int_end_MJD_UTC", ">f8"), ("int_start_BJD_TDB", ">f8"), ("int_mid_BJD_TDB", ">f8"),
                              ("int_end_BJD_TDB", ">f8")])
    rows["integration_number"] = np.arange(first, first + n)
    for i, name in enumerate(rows.dtype.names[1:]):
        rows[name] = 60000.0 + rows["integration_number"] + i / 10
    return rows


def test_x1dints_has_a_row_per_integration_with_its_times(tmp_path: Path) -> None:
    """jwst's TSOMultiSpecModel layout: INT_NUM from INTSTART, vector columns, the times of each integration
    matched by number in INT_TIMES (a segment's table may hold more rows than the segment)."""
    times = _int_times(1, 10)
    path = write_x1dints(tmp_path / "a_x1dints.fits", [_ints()], primary={"INTSTART": 5, "EXSEGNUM": 2},
                         int_times=times)
    [(table, header)] = read_x1d(path)
    assert list(table["INT_NUM"]) == [5, 6, 7, 8] and (table["SEGMENT"] == 2).all()
    assert table["FLUX"].shape == (4, 30) and (table["N_ALONGDISP"] == 30).all()
    np.testing.assert_array_equal(table["FLUX"][2], 2 + table["WAVELENGTH"][2])
    np.testing.assert_allclose(table["FLUX_ERROR"], 0.2)
    np.testing.assert_array_equal(table["MJD-AVG"], times["int_mid_MJD_UTC"][4:8])
    assert header["SLTNAME"] == "S1600A1"
    with dm.open(path) as model:
        assert isinstance(model, dm.TSOMultiSpecModel) and len(model.int_times) == 10
        assert str(model.spec[0].spec_table.columns["TDB-MID"].unit) == "d"


@pytest.mark.parametrize(("spectra", "times", "message"), [
    ([Spectrum1D({"WAVELENGTH": np.ones(3)})], None, "integrations × points"),
    ([_ints()], _int_times(3, 2), "no row for integration"),
])
def test_malformed_x1dints_are_refused(tmp_path: Path, spectra: list[Spectrum1D], times: np.ndarray | None,
                                       message: str) -> None:
    with pytest.raises(BadDataShapeError, match=message):
        write_x1dints(tmp_path / "bad_x1dints.fits", spectra, primary={}, int_times=times)
    assert not list(tmp_path.iterdir())
