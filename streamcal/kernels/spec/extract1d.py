"""Boxcar extraction of a spectral trace (jwst's extract_1d for slit-like data, jwst_spec §5.9).

For each dispersion pixel ``d`` the extraction aperture is the cross-dispersion interval ``[c(d) - h, c(d) + h]``
around the trace centre ``c(d)`` (pixel centres at integers, so pixel ``j`` covers ``[j - 0.5, j + 0.5]``);
each pixel is weighted by the length of its overlap with the interval, as jwst's boxcar weights partial pixels
at the aperture edges. An optional background region on both sides of the trace, ``inner <= |offset| <= outer``
(whole pixels whose centres fall inside), gives a per-pixel background level (the weighted mean) that is
subtracted from every aperture pixel. Pixels flagged DO_NOT_USE or not finite take no part: their weight is
dropped, NPIXELS counts the weight that remains, and a dispersion pixel with none left (or whose background
region has no usable pixel) is NaN and flagged DO_NOT_USE.

Variances propagate per component (Poisson, read noise, flat) exactly: the sum's variance is ``Σ w² σ²``, the
background mean's is ``Σ σ² / n²``, and subtracting ``(Σ w) · mean`` adds ``(Σ w)² · var(mean)``. The kernel is
unit-agnostic (the caller converts the sums to Jy and surface brightness); inputs are never modified.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from streamcal.dq import Pixel

__all__ = ["BoxcarAperture", "Extraction", "extract_boxcar"]

Array = npt.NDArray[np.float64]


@dataclass(frozen=True, slots=True)
class BoxcarAperture:
    """The extraction half-width and an optional background region, in cross-dispersion pixels."""

    half_width: float
    bkg_inner: float | None = None
    bkg_outer: float | None = None

    def __post_init__(self) -> None:
        if not (self.half_width > 0 and np.isfinite(self.half_width)):
            raise ValueError(f"extraction half-width {self.half_width} must be a positive number of pixels")
        if (self.bkg_inner is None) != (self.bkg_outer is None):
            raise ValueError("a background region needs both its inner and outer offset")
        if self.bkg_inner is not None and self.bkg_outer is not None and not (
                self.half_width <= self.bkg_inner < self.bkg_outer):
            raise ValueError(f"background region {self.bkg_inner}-{self.bkg_outer} px must lie outside the "
                             f"extraction half-width {self.half_width} px (inner < outer)")


@dataclass(frozen=True, slots=True)
class Extraction:
    """Per dispersion pixel: the background-subtracted sum and its variance components, the per-pixel
    background and its variance components, the weight used (NPIXELS) and a DQ word."""

    flux: Array
    var_poisson: Array
    var_rnoise: Array
    var_flat: Array
    background: Array
    bkg_var_poisson: Array
    bkg_var_rnoise: Array
    bkg_var_flat: Array
    npixels: Array
    dq: npt.NDArray[np.uint32]

    @property
    def error(self) -> Array:
        """The total 1-σ error of :attr:`flux`."""
        return np.sqrt(self.var_poisson + self.var_rnoise + self.var_flat)


def _overlap(cross: Array, low: Array, high: Array) -> Array:
    """Length of the overlap of pixel ``[j - 0.5, j + 0.5]`` with ``[low, high]`` (per dispersion pixel)."""
    left = np.maximum(cross[None, :] - 0.5, low[:, None])
    right = np.minimum(cross[None, :] + 0.5, high[:, None])
    return np.clip(right - left, 0.0, 1.0)


def extract_boxcar(sci: npt.ArrayLike, *, var_poisson: npt.ArrayLike, var_rnoise: npt.ArrayLike,
                   var_flat: npt.ArrayLike | None = None, dq: npt.ArrayLike | None = None, dispaxis: int,
                   centre: npt.ArrayLike, aperture: BoxcarAperture) -> Extraction:
    """Extract a trace by boxcar.

    Parameters
    ----------
    sci, var_poisson, var_rnoise, var_flat, dq : array-like, 2-D (ny, nx)
        The image and its variance components (``var_flat`` optional: zeros) and DQ (optional).
    dispaxis : int
        1: dispersion along x (one spectrum point per column), 2: along y (per row).
    centre : array-like, 1-D
        Trace centre in cross-dispersion pixels (0-based, the image's own frame), one per dispersion pixel.
    aperture : BoxcarAperture

    Returns
    -------
    Extraction
        Arrays of the dispersion length.

    Raises
    ------
    ValueError
        Shapes disagree, ``dispaxis`` is not 1 or 2, or a centre is not finite. Not retriable.
    """
    if dispaxis not in (1, 2):
        raise ValueError(f"DISPAXIS must be 1 or 2, not {dispaxis!r}")
    image = np.asarray(sci, dtype=np.float64)
    if image.ndim != 2:
        raise ValueError(f"extraction needs a 2-D image, got shape {image.shape}")
    planes = {"var_poisson": var_poisson, "var_rnoise": var_rnoise,
              "var_flat": np.zeros_like(image) if var_flat is None else var_flat}
    arrays = {k: np.asarray(v, dtype=np.float64) for k, v in planes.items()}
    flags = np.zeros(image.shape, np.uint32) if dq is None else np.asarray(dq, dtype=np.uint32)
    checked: list[tuple[str, npt.NDArray[np.generic]]] = [*arrays.items(), ("dq", flags)]
    for name, array in checked:
        if array.shape != image.shape:
            raise ValueError(f"{name} has shape {array.shape}, the image {image.shape}")
    if dispaxis == 2:  # work with dispersion along x
        image, flags = image.T, flags.T
        arrays = {k: v.T for k, v in arrays.items()}
    ncross, ndisp = image.shape
    c = np.asarray(centre, dtype=np.float64)
    if c.shape != (ndisp,):
        raise ValueError(f"{c.size} trace centres for {ndisp} dispersion pixels")
    if not np.all(np.isfinite(c)):
        raise ValueError("the trace centre is not finite everywhere")
    good = (flags & Pixel.DO_NOT_USE) == 0
    good &= np.isfinite(image)
    for array in arrays.values():
        good &= np.isfinite(array)
    good_t = good.T  # (ndisp, ncross)
    cross = np.arange(ncross, dtype=np.float64)
    weights = _overlap(cross, c - aperture.half_width, c + aperture.half_width) * good_t
    sci_t = np.where(good_t, image.T, 0.0)
    var_t = {k: np.where(good_t, v.T, 0.0) for k, v in arrays.items()}
    npix = weights.sum(axis=1)
    total = (weights * sci_t).sum(axis=1)
    var = {k: (weights ** 2 * v).sum(axis=1) for k, v in var_t.items()}

    background = np.zeros(ndisp)
    bkg_var = {k: np.zeros(ndisp) for k in var_t}
    if aperture.bkg_inner is not None and aperture.bkg_outer is not None:
        offset = np.abs(cross[None, :] - c[:, None])
        region = (offset >= aperture.bkg_inner) & (offset <= aperture.bkg_outer) & good_t
        nbkg = region.sum(axis=1)
        with np.errstate(invalid="ignore", divide="ignore"):
            background = np.where(nbkg > 0, (region * sci_t).sum(axis=1) / nbkg, np.nan)
            bkg_var = {k: np.where(nbkg > 0, (region * v).sum(axis=1) / nbkg ** 2, np.nan) for k, v in var_t.items()}
        total = total - npix * background
        var = {k: var[k] + npix ** 2 * bkg_var[k] for k in var}

    dq_out = np.zeros(ndisp, np.uint32)
    empty = npix <= 0
    nan = np.where(empty, np.nan, 1.0)
    dq_out[empty | ~np.isfinite(total)] |= np.uint32(Pixel.DO_NOT_USE)  # no pixel left, or no usable sky
    return Extraction(
        flux=total * nan, var_poisson=var["var_poisson"] * nan, var_rnoise=var["var_rnoise"] * nan,
        var_flat=var["var_flat"] * nan, background=background, bkg_var_poisson=bkg_var["var_poisson"],
        bkg_var_rnoise=bkg_var["var_rnoise"], bkg_var_flat=bkg_var["var_flat"], npixels=npix, dq=dq_out)
