"""The IFU slicer geometry and its IFUSLICES reference table (issue 11)."""

from __future__ import annotations

import numpy as np
import pytest

from streamcal.errors import CorruptFileError
from streamcal.models import ifu as ifu_module
from streamcal.models.ifu import IfuGeometry, IfuSlice, geometry_from_table, ifu_table


def test_every_listed_name_imports() -> None:
    for name in ifu_module.__all__:
        assert getattr(ifu_module, name) is not None


def _geometry(dispaxis: int = 1) -> IfuGeometry:
    slices = tuple(IfuSlice(beta=(s - 1) * 0.2, cross_first=10 + 6 * s, n_alpha=5, d_range=(3, 40),
                            wavelength_coeffs=(2.0 + 0.001 * s, 0.01)) for s in range(3))
    return IfuGeometry(dispaxis=dispaxis, slice_width=0.2, alpha_scale=0.1, psf_sigma=0.05, psf_wave=2.2,
                       slices=slices)


@pytest.mark.parametrize("dispaxis", [1, 2])
def test_pixels_carry_slice_alpha_beta_and_wavelength(dispaxis: int) -> None:
    """A hand-built slicer: slice 1 starts at cross pixel 16 with 5 pixels along alpha, so its middle pixel (18)
    is alpha 0 and its edges tile ±0.25"; λ(d) = 2.001 + 0.01 d."""
    geometry = _geometry(dispaxis)
    shape = (40, 45) if dispaxis == 1 else (45, 40)
    px = geometry.pixels(shape)
    c, d = 18, 7
    at = (c, d) if dispaxis == 1 else (d, c)
    assert px.slice[at] == 1 and px.alpha[at] == 0.0 and px.beta[at] == pytest.approx(0.0)
    assert px.wavelength[at] == pytest.approx(2.001 + 0.07)
    assert px.wave_hi[at] - px.wave_lo[at] == pytest.approx(0.01)
    on = px.slice == 1
    assert on.sum() == 5 * 37 and np.all(np.isnan(px.wavelength[px.slice < 0]))
    assert np.nanmin(px.alpha_lo[on]) == pytest.approx(-0.25) and np.nanmax(px.alpha_hi[on]) == pytest.approx(0.25)
    cut = geometry.pixels((10, 10), (15, 5) if dispaxis == 1 else (5, 15))  # a subarray is the same cut
    full = geometry.pixels(shape)
    window = np.s_[15:25, 5:15] if dispaxis == 1 else np.s_[5:15, 15:25]
    np.testing.assert_array_equal(cut.slice, full.slice[window])


def test_the_table_round_trips_and_a_bad_one_is_a_clear_error() -> None:
    geometry = _geometry()
    assert geometry_from_table(ifu_table(geometry)) == geometry
    with pytest.raises(CorruptFileError, match="IFUSLICES table needs rows"):
        geometry_from_table(ifu_table(geometry)[["SLICE", "BETA"]])
    overlapping = ifu_table(geometry)
    overlapping["CROSS_FIRST"][1] = 12
    with pytest.raises(CorruptFileError, match="must not overlap"):
        geometry_from_table(overlapping, source="ref.fits")


def test_slices_must_tile_beta() -> None:
    geometry = _geometry()
    with pytest.raises(ValueError, match="tile beta"):
        IfuGeometry(dispaxis=1, slice_width=0.3, alpha_scale=0.1, psf_sigma=0.05, psf_wave=2.0,
                    slices=geometry.slices)
