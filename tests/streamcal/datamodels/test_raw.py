from __future__ import annotations

import os

import numpy as np
import pytest
from astropy.io import fits

from streamcal.datamodels import open_raw, read_headers
from streamcal.datamodels.raw import MAX_DIM
from streamcal.errors import BadDataShapeError, CorruptFileError, InvalidInputError, NotFitsError


def test_round_trip_preserves_headers_and_ramp(make_raw):
    path, data = make_raw()
    headers = read_headers(path)
    assert headers["EXP_TYPE"] == "NRC_IMAGE"
    assert headers.sci["RA_REF"] == 80.5  # pointing lives in the SCI header
    assert headers["VPARITY"] == -1  # the merged view falls back to SCI
    with open_raw(path) as raw:
        assert raw.shape == data.shape
        ramp = raw.read_ramp()
        assert ramp.dtype == np.float32
        np.testing.assert_array_equal(ramp, data.astype(np.float32))
        np.testing.assert_array_equal(raw.ramp_block(3, 9), data[:, :, 3:9].astype(np.float32))
        np.testing.assert_array_equal(raw.ramp_block(0, 4, ints=slice(1, 2)), data[1:2, :, :4])
        assert raw.pixeldq is None and raw.groupdq is None and raw.zeroframe is None


def test_sci_stays_memory_mapped_and_unscaled(make_raw):
    path, _ = make_raw()
    with open_raw(path) as raw:
        assert raw.raw_sci.dtype.kind == "i"  # stored int16 + BZERO: astropy did not scale (and load) it
        base = raw.raw_sci
        while isinstance(base, np.ndarray) and not isinstance(base, np.memmap) and base.base is not None:
            base = base.base
        assert isinstance(base, np.memmap) or type(base).__name__ == "mmap"


def test_ramp_block_never_mutates_the_file(make_raw):
    path, data = make_raw()
    with open_raw(path) as raw:
        block = raw.ramp_block(0, 4)
        block[:] = -1
        np.testing.assert_array_equal(raw.ramp_block(0, 4), data[:, :, :4])


def test_truncated_file_is_a_corrupt_file_error(make_raw):
    path, _ = make_raw()
    with fits.open(path) as hdul:
        sci_data_at = hdul["SCI"].fileinfo()["datLoc"]
    with open(path, "r+b") as fh:
        fh.truncate(sci_data_at + 1000)  # in the middle of the ramp
    with pytest.raises(CorruptFileError, match="truncated"):
        read_headers(path)
    with pytest.raises(CorruptFileError, match=path.name):
        open_raw(path)


def test_header_only_truncation_is_reported(make_raw):
    path, _ = make_raw()
    with open(path, "r+b") as fh:
        fh.truncate(2880 + 100)  # inside the SCI header
    with pytest.raises(CorruptFileError, match="corrupt"):
        read_headers(path)


def test_not_fits(tmp_path):
    path = tmp_path / "jw01234001001_02101_00001_nrca1_uncal.fits"
    path.write_text("this is a text file, not a FITS file\n" * 100)
    with pytest.raises(NotFitsError, match="not a FITS file"):
        read_headers(path)
    empty = tmp_path / "empty_uncal.fits"
    empty.write_bytes(b"")
    with pytest.raises(CorruptFileError):
        read_headers(empty)


def test_missing_file_is_the_builtin(tmp_path):
    with pytest.raises(FileNotFoundError):
        read_headers(tmp_path / "nope.fits")


def test_no_sci_extension(tmp_path):
    path = tmp_path / "nosci.fits"
    fits.HDUList([fits.PrimaryHDU(), fits.ImageHDU(np.zeros((2, 2)), name="DQ")]).writeto(path)
    with pytest.raises(CorruptFileError, match="no SCI extension"):
        read_headers(path)


@pytest.mark.parametrize("shape", [(4, 16, 20), (16, 20), (1, 2, 3, 4, 5)])
def test_wrong_ndim(tmp_path, shape):
    path = tmp_path / "bad.fits"
    fits.HDUList([fits.PrimaryHDU(), fits.ImageHDU(np.zeros(shape, np.uint16), name="SCI")]).writeto(path)
    with pytest.raises(BadDataShapeError, match="dimensions"):
        open_raw(path)


def test_header_disagreeing_with_data(make_raw, tmp_path):
    path, _ = make_raw()
    with fits.open(path, mode="update") as hdul:
        hdul[0].header["NGROUPS"] = 7
    with pytest.raises(BadDataShapeError, match="NGROUPS=7"):
        open_raw(path)


def test_absurd_dimensions_claimed_by_the_header(tmp_path):
    """A header claiming a gigantic SCI is rejected before any read (the file is far too short)."""
    path = tmp_path / "absurd.fits"
    fits.HDUList([fits.PrimaryHDU(), fits.ImageHDU(np.zeros((1, 1, 2, 2), np.uint16), name="SCI")]).writeto(path)
    raw = bytearray(path.read_bytes())
    text = raw.decode("latin-1").replace("NAXIS4  =                    1", "NAXIS4  =               999999")
    path.write_bytes(text.encode("latin-1"))
    with pytest.raises(InvalidInputError):
        open_raw(path)
    assert MAX_DIM["nints"] >= 1


def test_optional_dq_extensions_are_read(tmp_path, make_raw):
    path, data = make_raw()
    with fits.open(path, mode="append") as hdul:
        hdul.append(fits.ImageHDU(np.full(data.shape[2:], 4, np.uint32), name="PIXELDQ"))
        hdul.append(fits.ImageHDU(np.ones(data.shape, np.uint8), name="GROUPDQ"))
    with open_raw(path) as raw:
        assert raw.pixeldq is not None and raw.pixeldq.dtype == np.uint32 and raw.pixeldq[0, 0] == 4
        assert raw.groupdq is not None and raw.groupdq.shape == data.shape


def test_no_temporary_files_are_left_behind(make_raw):
    path, _ = make_raw()
    assert [p for p in os.listdir(path.parent) if p.endswith(".tmp")] == []
