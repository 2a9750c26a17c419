"""Quick-look PNGs: a readable image of plausible size, NaNs drawn grey, clear errors for non-images."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from astropy.io import fits
from matplotlib.image import imread

import streamcal.datamodels.quicklook as quicklook_module
from streamcal.datamodels import write_product
from streamcal.datamodels.quicklook import STRETCHES, _celestial_wcs, render_quicklook
from streamcal.errors import BadDataShapeError, CorruptFileError, NotFitsError
from streamcal.simulate.wcs import TanWcs

PRIMARY = {"TELESCOP": "JWST", "INSTRUME": "NIRCAM", "DETECTOR": "NRCA3", "EXP_TYPE": "NRC_IMAGE",
           "FILTER": "F212N", "PUPIL": "WLM8"}
TAN = TanWcs(crpix1=32.0, crpix2=24.0, ra_ref=80.5, dec_ref=-69.5, roll_ref=37.0, v3i_yang=-0.56, vparity=-1,
             scale=0.031)


def _scene(shape=(48, 64)):
    yy, xx = np.mgrid[: shape[0], : shape[1]]
    sci = 1.0 + 500.0 * np.exp(-((xx - 30) ** 2 + (yy - 20) ** 2) / 8.0) + 0.01 * xx
    return sci.astype(np.float32)


def _wfscmb(folder: Path, sci: np.ndarray, *, wcs: bool = True) -> Path:
    arrays = {"SCI": sci, "ERR": np.ones_like(sci), "DQ": np.zeros(sci.shape, np.uint32)}
    sci_header = {**TAN.header(), "BUNIT": "MJy/sr"} if wcs else {"BUNIT": "MJy/sr"}
    return write_product(folder / "jw02586-o173_t035_nircam_f212n-wlm8-nrca3_wfscmb.fits", arrays,
                         primary=PRIMARY, sci_header=sci_header, suffix="wfscmb")


def _png(path: Path) -> np.ndarray:
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    return imread(path)


def test_public_names_import():
    for name in quicklook_module.__all__:
        assert hasattr(quicklook_module, name)


@pytest.mark.parametrize("stretch", STRETCHES)
def test_png_beside_the_fits_with_a_plausible_picture(tmp_path, stretch):
    fits_path = _wfscmb(tmp_path, _scene())
    png = render_quicklook(fits_path, stretch=stretch)
    assert png == fits_path.with_suffix(".png")
    image = _png(png)
    assert image.shape[:2] == (600, 700) and image.shape[2] in (3, 4)
    assert float(np.ptp(image[..., :3])) > 0.5                       # not all one colour
    assert len(np.unique(image[..., :3].reshape(-1, 3), axis=0)) > 50
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([fits_path.name, png.name])  # no temp files


def test_explicit_png_path_and_pixel_axes_without_wcs(tmp_path):
    fits_path = _wfscmb(tmp_path, _scene(), wcs=False)
    png = render_quicklook(fits_path, tmp_path / "sub" / "look.png", percentiles=(1.0, 99.0))
    assert png == tmp_path / "sub" / "look.png" and _png(png).shape[:2] == (600, 700)


def test_nan_pixels_are_drawn_neutral_grey(tmp_path):
    sci = _scene((64, 64))
    sci[10:54, 10:54] = np.nan                                       # most of the image
    image = _png(render_quicklook(_wfscmb(tmp_path, sci)))[..., :3]
    grey = np.all(np.abs(image - 140 / 255) < 2 / 255, axis=-1)
    assert grey.sum() > 10_000


def test_all_nan_and_constant_images_render(tmp_path):
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    assert render_quicklook(_wfscmb(tmp_path / "a", np.full((20, 20), np.nan, np.float32))).exists()
    assert render_quicklook(_wfscmb(tmp_path / "b", np.full((20, 20), 3.0, np.float32))).exists()


def test_cube_is_shown_as_its_median(tmp_path):
    cube = np.stack([_scene(), _scene() * 2, np.full((48, 64), np.nan, np.float32)])
    cube[:, 0, 0] = np.nan                                           # an all-NaN pixel: no warning
    arrays = {k: cube for k in ("SCI", "ERR", "VAR_POISSON", "VAR_RNOISE")}
    arrays["DQ"] = np.zeros(cube.shape, np.uint32)
    path = write_product(tmp_path / "jw02586173001_03104_00001_nrca3_rateints.fits", arrays, primary=PRIMARY,
                         sci_header=TAN.header())
    assert _png(render_quicklook(path)).shape[:2] == (600, 700)


def test_celestial_wcs_only_when_the_header_has_one():
    header = fits.Header({"NAXIS": 2, "NAXIS1": 64, "NAXIS2": 48, **TAN.header()})
    wcs = _celestial_wcs(header)
    assert wcs is not None and wcs.has_celestial
    assert _celestial_wcs(fits.Header({"NAXIS": 2, "BUNIT": "DN/s"})) is None


def test_a_file_without_sci_is_a_bad_shape_error(tmp_path):
    path = tmp_path / "jw02586173001_03104_00001_nrca3_cat.fits"
    table = fits.BinTableHDU.from_columns([fits.Column(name="FLUX", format="E", array=np.ones(3))], name="CAT")
    fits.HDUList([fits.PrimaryHDU(), table]).writeto(path)
    with pytest.raises(BadDataShapeError, match="no SCI image"):
        render_quicklook(path)
    assert not path.with_suffix(".png").exists()


def test_a_spectrum_table_without_wavelengths_is_a_bad_shape_error(tmp_path):
    """An x1d is drawn as a spectrum (tests/streamcal/pipelines/test_spectral_chain.py); one whose EXTRACT1D
    lacks the columns is refused by name."""
    path = tmp_path / "jw02586173001_03104_00001_nrca3_x1d.fits"
    table = fits.BinTableHDU.from_columns([fits.Column(name="FLUX", format="E", array=np.ones(3))],
                                          name="EXTRACT1D")
    fits.HDUList([fits.PrimaryHDU(), table]).writeto(path)
    with pytest.raises(BadDataShapeError, match="no WAVELENGTH column"):
        render_quicklook(path)
    assert not path.with_suffix(".png").exists()


def test_broken_and_missing_files_raise_typed_errors(tmp_path):
    text = tmp_path / "notes_i2d.fits"
    text.write_text("not fits\n" * 400)
    with pytest.raises(NotFitsError):
        render_quicklook(text)
    full = _wfscmb(tmp_path, _scene())
    truncated = tmp_path / "cut_wfscmb.fits"
    truncated.write_bytes(full.read_bytes()[: 2880 * 3 + 100])
    with pytest.raises(CorruptFileError):
        render_quicklook(truncated)
    with pytest.raises(FileNotFoundError):
        render_quicklook(tmp_path / "absent_i2d.fits")


def test_unknown_stretch_is_a_value_error(tmp_path):
    with pytest.raises(ValueError, match="unknown stretch"):
        render_quicklook(_wfscmb(tmp_path, _scene()), stretch="histeq")
