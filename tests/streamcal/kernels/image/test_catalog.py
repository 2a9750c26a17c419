"""source_catalog on a drizzled 4-point-dither mosaic of the simulator's Moffat stars (sampled at pixel centres):
windowed centroids within 0.05 px and aperture-corrected total fluxes within 1 % of truth (medians, S/N > 50)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from astropy.table import QTable
from astropy.wcs import WCS
from drizzle.resample import Drizzle

import streamcal.kernels.image.catalog as catalog_module
from streamcal.kernels.image.catalog import CatalogParams, select_apcorr, source_catalog, write_catalog
from streamcal.simulate.references import moffat_apcorr
from streamcal.simulate.scene import moffat_fwhm, star_field
from streamcal.simulate.wcs import TanWcs

SIZE = 320
FWHM = moffat_fwhm(2.0, 0.031)
PIXAR_SR = 0.031**2 * 2.350443e-11
PHOTMJSR = 0.3
DITHERS = ((0.0, 0.0), (13.37, 5.21), (-7.73, 12.58), (4.12, -9.66))
_BETA = 2.5


def _moffat(shape: tuple[int, int], x: float, y: float, flux: float) -> np.ndarray:
    """The simulator's PSF (scene.py): a β = 2.5 Moffat sampled at pixel centres, total ``flux``."""
    a2 = (FWHM / (2.0 * math.sqrt(2.0 ** (1.0 / _BETA) - 1.0))) ** 2
    yy, xx = np.mgrid[0:shape[0], 0:shape[1]]
    return flux * (_BETA - 1.0) / (math.pi * a2) * (1.0 + ((xx - x) ** 2 + (yy - y) ** 2) / a2) ** -_BETA


def _wcs() -> WCS:
    w = WCS(naxis=2)
    w.wcs.crpix, w.wcs.crval, w.wcs.cdelt = [160.5, 160.5], [80.4875, -69.4985], [-0.031 / 3600, 0.031 / 3600]
    w.wcs.ctype = ["RA---TAN", "DEC--TAN"]
    w.wcs.set()
    w.pixel_shape = (SIZE, SIZE)
    return w


@pytest.fixture(scope="module")
def mosaic() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(sci, err) in MJy/sr and the truth (x, y in the mosaic, flux in Jy) of a drizzled dither."""
    base = TanWcs(crpix1=160.5, crpix2=160.5, ra_ref=80.4875, dec_ref=-69.4985, roll_ref=0.0, v3i_yang=0.0,
                  vparity=1, scale=0.031)
    stars = star_field(np.random.default_rng(7), base, (SIZE, SIZE), peak=300.0, fwhm=FWHM, crowded=True)
    x, y = base.world_to_pixel(stars["ra"], stars["dec"])
    rng = np.random.default_rng(11)
    driz = Drizzle(kernel="square", out_shape=(SIZE, SIZE), disable_ctx=True, fillval="NaN")
    var_sum = np.zeros((SIZE, SIZE))
    for dx, dy in DITHERS:
        rate = np.full((SIZE, SIZE), 1.2)  # DN/s sky
        for xi, yi, f in zip(x - dx, y - dy, stars["flux"], strict=True):
            if -30 < xi < SIZE + 30 and -30 < yi < SIZE + 30:
                rate += _moffat((SIZE, SIZE), xi, yi, f)
        var = rate / (2.0 * 300.0) + 0.02**2
        sci = (rate + rng.normal(0.0, np.sqrt(var))) * PHOTMJSR
        yy, xx = np.mgrid[0:SIZE, 0:SIZE].astype(np.float64)
        driz.add_image(sci.astype(np.float32), exptime=1.0, pixmap=np.dstack([xx + dx, yy + dy]), pixfrac=1.0)
        var_sum += var * PHOTMJSR**2  # the grid is shifted, not rotated: variances add at ~the same pixels
    err = np.sqrt(var_sum) / len(DITHERS)
    truth = np.rec.fromarrays([x, y, stars["flux"] * PHOTMJSR * PIXAR_SR * 1e6], names="x,y,flux")
    return np.asarray(driz.out_img, np.float32), err.astype(np.float32), truth


def _apcorr() -> np.ndarray:
    rows = moffat_apcorr(FWHM)
    rows["filter"], rows["pupil"] = b"F200W", b"CLEAR"
    return rows


def _match(table: QTable, truth: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Index of the nearest truth star of each row, and its distance (px)."""
    dx = np.asarray(table["xcentroid"].value)[:, None] - truth["x"][None]
    dy = np.asarray(table["ycentroid"].value)[:, None] - truth["y"][None]
    d = np.hypot(dx, dy)
    return np.argmin(d, axis=1), np.min(d, axis=1)


def test_public_names():
    assert set(catalog_module.__all__) == {"CatalogParams", "CatalogResult", "select_apcorr", "source_catalog",
                                           "write_catalog"}


def test_positions_and_total_fluxes_match_truth(mosaic, tmp_path):
    sci, err, truth = mosaic
    result = source_catalog(sci, err, _wcs(), apcorr=select_apcorr(_apcorr(), filter="F200W", pupil="CLEAR"),
                            pixar_sr=PIXAR_SR, params=CatalogParams(npixels=5))
    table = result.table
    assert result.segm.dtype == np.int32 and result.segm.max() == len(table)
    idx, dist = _match(table, truth)
    good = (np.asarray(table["snr"]) > 50) & (dist < 1.0)
    tx, ty = truth["x"][idx], truth["y"][idx]
    good &= (tx > 12) & (tx < SIZE - 13) & (ty > 12) & (ty < SIZE - 13)  # annulus inside the mosaic
    assert good.sum() > 60
    ratio = np.asarray(table["aper_total_flux"].to_value("Jy"))[good] / truth["flux"][idx[good]]
    assert np.median(dist[good]) < 0.05
    assert abs(np.median(ratio) - 1.0) < 0.01
    assert not np.any(np.asarray(table["is_extended"])[good][np.abs(ratio - 1) < 0.05])
    mag = np.asarray(table["aper_total_abmag"])
    np.testing.assert_allclose(10 ** (-0.4 * mag[good]) * 3631.0, table["aper_total_flux"].to_value("Jy")[good],
                               rtol=1e-9)
    path = write_catalog(tmp_path / "x_cat.ecsv", table)
    back = QTable.read(path)
    assert back["aper_total_flux"].unit == "Jy" and len(back) == len(table)
    assert back["sky_centroid"][0].separation(table["sky_centroid"][0]).arcsec < 1e-6


def test_ab_magnitude_of_3631_jy_is_zero():
    shape = (64, 64)
    pixar = 1e-13
    image = _moffat(shape, 31.3, 30.6, 3631.0 / (pixar * 1e6)).astype(np.float32)  # 3631 Jy in MJy/sr
    err = np.full(shape, 1e-3 * image.max(), np.float32)
    table = source_catalog(image, err, _wcs(), apcorr=moffat_apcorr(FWHM, n_box=1), pixar_sr=pixar,
                           params=CatalogParams(npixels=5, bkg_boxsize=32)).table
    assert len(table) == 1
    assert float(table["aper_total_abmag"][0]) == pytest.approx(0.0, abs=0.01)


def test_deblends_a_close_pair():
    shape = (80, 80)
    image = _moffat(shape, 38.2, 40.1, 2e4) + _moffat(shape, 38.2 + 2.5 * FWHM, 41.0, 1e4)
    rng = np.random.default_rng(1)
    sci = (image + rng.normal(0.0, 0.5, shape)).astype(np.float32)
    table = source_catalog(sci, np.full(shape, 0.5, np.float32), _wcs(), apcorr=None, pixar_sr=1e-13,
                           params=CatalogParams(npixels=5, bkg_boxsize=40)).table
    assert len(table) == 2
    xs = sorted(np.asarray(table["xcentroid"].value))
    assert xs == pytest.approx([38.2, 38.2 + 2.5 * FWHM], abs=0.15)


def test_empty_field_and_bad_apcorr():
    shape = (64, 64)
    sci = np.random.default_rng(2).normal(0.0, 1.0, shape).astype(np.float32)
    result = source_catalog(sci, np.ones(shape, np.float32), _wcs(), apcorr=None, pixar_sr=1e-13,
                            params=CatalogParams(npixels=25, snr_threshold=10.0, bkg_boxsize=32))
    assert len(result.table) == 0 and not result.segm.any()
    with pytest.raises(KeyError, match="EE 30"):
        source_catalog(sci, np.ones(shape, np.float32), _wcs(), apcorr=moffat_apcorr(FWHM, eefractions=(0.5, 0.7)),
                       pixar_sr=1e-13)
    with pytest.raises(KeyError):
        select_apcorr(_apcorr(), filter="F444W")
