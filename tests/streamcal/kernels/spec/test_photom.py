"""Spectroscopic photom: MJy per DN/s = photmj × the interpolated relative response, NaN off the table (issue 11)."""

from __future__ import annotations

import numpy as np
import pytest

from streamcal.errors import MissingReferenceError
from streamcal.kernels.spec import spectral_conversion


def _row(nelem: int = 5, size: int = 8, photmj: float = 2e-3) -> np.void:
    dtype = [("filter", "S12"), ("grating", "S12"), ("photmj", "f4"), ("nelem", "i4"),
             ("wavelength", "f4", (size,)), ("relresponse", "f4", (size,))]
    row = np.zeros(1, dtype=dtype)[0]
    row["photmj"], row["nelem"] = photmj, nelem
    row["wavelength"][:nelem] = np.linspace(3.0, 5.0, nelem)
    row["relresponse"][:nelem] = np.linspace(1.0, 2.0, nelem)
    return row


def test_the_conversion_interpolates_the_response_and_ignores_the_padding() -> None:
    out = spectral_conversion(_row(), [3.0, 3.25, 4.0, 5.0, 5.01, 2.9, np.nan])
    np.testing.assert_allclose(out[:4], 2e-3 * np.array([1.0, 1.125, 1.5, 2.0]), rtol=1e-6)
    assert np.all(np.isnan(out[4:]))  # beyond the table (not into the zero padding), before it, off the trace


def test_the_shape_follows_the_wavelength_map() -> None:
    wave = np.full((3, 4), 4.0)
    wave[0, 0] = np.nan
    out = spectral_conversion(_row(), wave)
    assert out.shape == (3, 4) and np.isnan(out[0, 0]) and np.allclose(out[1:], 3e-3)


@pytest.mark.parametrize(("row", "message"), [
    (np.zeros(1, dtype=[("filter", "S12"), ("photmjsr", "f4")])[0], "not a spectroscopic PHOTOM row"),
    (_row(nelem=1), "at least 2"),
    (_row(photmj=-1.0), "positive"),
])
def test_a_row_that_is_not_spectroscopic_is_a_clear_error(row: np.void, message: str) -> None:
    with pytest.raises(MissingReferenceError, match=message):
        spectral_conversion(row, [4.0])
