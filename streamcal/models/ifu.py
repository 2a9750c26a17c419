"""The geometry of an image-slicer IFU (MIRI MRS, NIRSpec IFU) and its reference table (issue 11).

Sky coordinates are the slicer's own (jwst's "ifualign" frame), in arcsec: ``beta`` across the slices, ``alpha``
along them, (0, 0) the field centre. Slice ``s`` (0-based) covers ``beta_s ± slice_width/2``; the slices tile the
field in beta. Its light falls on the full-frame detector (0-based DMS pixels, centres on integers) in a band:

- ``d`` is the dispersion coordinate (full-frame x when ``dispaxis`` is 1, y when it is 2) and ``c`` the
  cross-dispersion one (the other);
- the slice occupies ``cross_first ≤ c < cross_first + n_alpha`` and ``d_first ≤ d ≤ d_last``;
- along the slice, alpha is linear in ``c``: ``alpha(c) = (c − cross_first − (n_alpha − 1)/2) · alpha_scale``, so
  the pixels' alpha edges tile ``±n_alpha·alpha_scale/2`` exactly;
- the wavelength (µm) is a power series in ``d`` per slice (lowest order first, at most cubic), the same in every
  pixel of a dispersion pixel (no tilt); a pixel spans ``λ(d ± 0.5)``.

Simplified against the real instruments [U]: no distortion, no curved slices, no line tilt, slices all the same
length and orientation; the PSF is a Gaussian of σ ∝ λ (``psf_sigma`` at ``psf_wave``), which the extraction
aperture scales with.

The reference is a SPECWCS file whose ``IFUSLICES`` binary table has one row per slice:

=================== ============== ==========================================================================
column              type           meaning
=================== ============== ==========================================================================
SLICE               int16          slice number, 0-based
BETA                float64        the slice centre's beta, arcsec
CROSS_FIRST         int32          first cross-dispersion pixel of the slice, full-frame 0-based
N_ALPHA             int32          pixels along the slice
D_FIRST, D_LAST     int32          first and last (inclusive) lit dispersion pixel, full-frame 0-based
WAVELENGTH_COEFFS   float64 (4,)   λ(d) in µm, power series in d, zero-padded
DISPAXIS            int16          1: dispersion along x, 2: along y (the same in every row)
SLICE_WIDTH         float64        slice width (beta), arcsec (same in every row)
ALPHA_SCALE         float64        arcsec per pixel along the slice (same in every row)
PSF_SIGMA, PSF_WAVE float64        PSF Gaussian σ (arcsec) at PSF_WAVE (µm) (same in every row)
=================== ============== ==========================================================================
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from itertools import pairwise
from pathlib import Path
from typing import NamedTuple

import numpy as np
import numpy.typing as npt
from numpy.polynomial import polynomial

from streamcal.datamodels import read_extensions
from streamcal.errors import CorruptFileError

__all__ = ["IFUSLICES_DTYPE", "IfuGeometry", "IfuPixels", "IfuSlice", "geometry_from_table", "ifu_table",
           "read_ifu_geometry"]

_MAX_COEFFS = 4
IFUSLICES_DTYPE = np.dtype([
    ("SLICE", ">i2"), ("BETA", ">f8"), ("CROSS_FIRST", ">i4"), ("N_ALPHA", ">i4"), ("D_FIRST", ">i4"),
    ("D_LAST", ">i4"), ("WAVELENGTH_COEFFS", ">f8", (_MAX_COEFFS,)), ("DISPAXIS", ">i2"), ("SLICE_WIDTH", ">f8"),
    ("ALPHA_SCALE", ">f8"), ("PSF_SIGMA", ">f8"), ("PSF_WAVE", ">f8"),
])
F64 = npt.NDArray[np.float64]


@dataclass(frozen=True, slots=True, kw_only=True)
class IfuSlice:
    """One slice: its beta centre (arcsec), cross-dispersion pixels, lit dispersion range and λ(d)."""

    beta: float
    cross_first: int
    n_alpha: int
    d_range: tuple[int, int]  # (first, last + 1)
    wavelength_coeffs: tuple[float, ...]

    def wavelength(self, d: npt.ArrayLike) -> F64:
        """λ(d) in µm at full-frame dispersion coordinate(s) ``d``."""
        return np.asarray(polynomial.polyval(np.asarray(d, dtype=np.float64), self.wavelength_coeffs))


class IfuPixels(NamedTuple):
    """Per-pixel coordinates of an image (its own frame), all ``(ny, nx)``; NaN (slice −1) off the slices.

    ``alpha`` is the pixel centre's, ``alpha_lo``/``alpha_hi`` its edges; ``beta`` the slice centre (the pixel
    spans ``beta ± slice_width/2``); ``wavelength`` the centre's and ``wave_lo``/``wave_hi`` its edges (µm)."""

    slice: npt.NDArray[np.int16]
    alpha: F64
    beta: F64
    wavelength: F64
    alpha_lo: F64
    alpha_hi: F64
    wave_lo: F64
    wave_hi: F64


@dataclass(frozen=True, slots=True, kw_only=True)
class IfuGeometry:
    """An image slicer on the full frame (module docstring).

    Raises
    ------
    ValueError
        On construction: no slice, a bad dispaxis, non-positive sizes, slices that overlap on the detector or do
        not tile beta, a wavelength that is not increasing over a slice's lit pixels. Not retriable.
    """

    dispaxis: int
    slice_width: float
    alpha_scale: float
    psf_sigma: float
    psf_wave: float
    slices: tuple[IfuSlice, ...]

    def __post_init__(self) -> None:
        if not self.slices or self.dispaxis not in (1, 2):
            raise ValueError(f"an IFU needs slices and dispaxis 1 or 2, got {len(self.slices)}, {self.dispaxis}")
        if min(self.slice_width, self.alpha_scale, self.psf_sigma, self.psf_wave) <= 0:
            raise ValueError("slice width, alpha scale and PSF must be positive")
        betas = np.array([s.beta for s in self.slices])
        if not np.allclose(np.diff(betas), self.slice_width, rtol=1e-9, atol=1e-12):
            raise ValueError(f"slices must tile beta in steps of {self.slice_width} arcsec, got {betas}")
        spans = sorted((s.cross_first, s.cross_first + s.n_alpha) for s in self.slices)
        if any(s.n_alpha < 1 or s.d_range[0] >= s.d_range[1] for s in self.slices) or any(
                a[1] > b[0] for a, b in pairwise(spans)):
            raise ValueError("slices must be non-empty and must not overlap on the detector")
        for s in self.slices:
            if np.any(np.diff(s.wavelength(np.arange(s.d_range[0] - 1, s.d_range[1] + 1) + 0.5)) <= 0):
                raise ValueError(f"the wavelength must increase along the dispersion in slice at beta {s.beta}")

    @property
    def wave_range(self) -> tuple[float, float]:
        """(min, max) wavelength over the lit pixel centres of every slice, µm."""
        waves = [s.wavelength(np.array(s.d_range) - np.array([0, 1])) for s in self.slices]
        return float(min(w[0] for w in waves)), float(max(w[1] for w in waves))

    @property
    def alpha_half_length(self) -> float:
        """Half the longest slice's length, arcsec."""
        return max(s.n_alpha for s in self.slices) * self.alpha_scale / 2.0

    def psf_sigma_at(self, wavelength_um: npt.ArrayLike) -> F64:
        """The PSF's Gaussian σ (arcsec) at ``wavelength_um``: diffraction, σ ∝ λ."""
        return np.asarray(self.psf_sigma * np.asarray(wavelength_um, dtype=np.float64) / self.psf_wave)

    def pixels(self, shape: tuple[int, int], origin: tuple[int, int] = (0, 0)) -> IfuPixels:
        """Per-pixel slice, alpha, beta and wavelength of an image of ``shape`` (ny, nx) whose pixel (0, 0) is
        full-frame ``origin`` (y0, x0), 0-based."""
        ny, nx = shape
        sl = np.full(shape, -1, np.int16)
        maps = {k: np.full(shape, np.nan) for k in ("alpha", "beta", "wavelength", "alpha_lo", "alpha_hi",
                                                     "wave_lo", "wave_hi")}
        ys, xs = origin[0] + np.arange(ny), origin[1] + np.arange(nx)
        disp, cross = (xs, ys) if self.dispaxis == 1 else (ys, xs)
        for number, s in enumerate(self.slices):
            ci = np.flatnonzero((cross >= s.cross_first) & (cross < s.cross_first + s.n_alpha))
            di = np.flatnonzero((disp >= s.d_range[0]) & (disp < s.d_range[1]))
            if not ci.size or not di.size:
                continue
            alpha = (cross[ci] - s.cross_first - (s.n_alpha - 1) / 2.0) * self.alpha_scale
            d = disp[di].astype(np.float64)
            half = self.alpha_scale / 2
            along_c = {"alpha": alpha, "alpha_lo": alpha - half, "alpha_hi": alpha + half}
            along_d = {"wavelength": s.wavelength(d), "wave_lo": s.wavelength(d - 0.5),
                       "wave_hi": s.wavelength(d + 0.5)}
            block = np.ix_(ci, di) if self.dispaxis == 1 else np.ix_(di, ci)
            for key, values in along_c.items():
                maps[key][block] = values[:, None] if self.dispaxis == 1 else values[None, :]
            for key, values in along_d.items():
                maps[key][block] = values[None, :] if self.dispaxis == 1 else values[:, None]
            maps["beta"][block] = s.beta
            sl[block] = number
        return IfuPixels(slice=sl, **maps)


def ifu_table(geometry: IfuGeometry) -> np.ndarray:
    """The IFUSLICES table of a geometry (columns in the module docstring)."""
    rows = np.zeros(len(geometry.slices), IFUSLICES_DTYPE)
    for i, s in enumerate(geometry.slices):
        rows[i]["SLICE"], rows[i]["BETA"] = i, s.beta
        rows[i]["CROSS_FIRST"], rows[i]["N_ALPHA"] = s.cross_first, s.n_alpha
        rows[i]["D_FIRST"], rows[i]["D_LAST"] = s.d_range[0], s.d_range[1] - 1
        rows[i]["WAVELENGTH_COEFFS"][:len(s.wavelength_coeffs)] = s.wavelength_coeffs
    rows["DISPAXIS"], rows["SLICE_WIDTH"] = geometry.dispaxis, geometry.slice_width
    rows["ALPHA_SCALE"] = geometry.alpha_scale
    rows["PSF_SIGMA"], rows["PSF_WAVE"] = geometry.psf_sigma, geometry.psf_wave
    return rows


def geometry_from_table(table: np.ndarray, *, source: str = "IFUSLICES") -> IfuGeometry:
    """The geometry of an IFUSLICES table.

    Raises
    ------
    CorruptFileError
        No rows, a column missing, or values that make no geometry; names ``source``. Not retriable.
    """
    names = {n.upper(): n for n in (table.dtype.names or ())}
    missing = [n for n in IFUSLICES_DTYPE.names or () if n not in names]
    if missing or len(table) == 0:
        raise CorruptFileError(f"{source}: an IFUSLICES table needs rows with columns {IFUSLICES_DTYPE.names}; it "
                               f"has {len(table)} row(s), missing {missing}")

    def col(name: str) -> np.ndarray:
        return np.asarray(table[names[name]])

    order = np.argsort(col("SLICE"))
    try:
        slices = tuple(IfuSlice(beta=float(col("BETA")[i]), cross_first=int(col("CROSS_FIRST")[i]),
                                n_alpha=int(col("N_ALPHA")[i]),
                                d_range=(int(col("D_FIRST")[i]), int(col("D_LAST")[i]) + 1),
                                wavelength_coeffs=_trimmed(col("WAVELENGTH_COEFFS")[i])) for i in order)
        return IfuGeometry(dispaxis=int(col("DISPAXIS")[0]), slice_width=float(col("SLICE_WIDTH")[0]),
                           alpha_scale=float(col("ALPHA_SCALE")[0]), psf_sigma=float(col("PSF_SIGMA")[0]),
                           psf_wave=float(col("PSF_WAVE")[0]), slices=slices)
    except ValueError as exc:
        raise CorruptFileError(f"{source}: {exc}") from exc


def _trimmed(values: npt.ArrayLike) -> tuple[float, ...]:
    out = [float(v) for v in np.atleast_1d(np.asarray(values, np.float64))]
    while len(out) > 1 and out[-1] == 0.0:
        out.pop()
    return tuple(out)


def read_ifu_geometry(path: str | os.PathLike[str]) -> IfuGeometry:
    """Read the IFUSLICES table of an IFU SPECWCS reference.

    Raises
    ------
    CorruptFileError
        No IFUSLICES extension, or a table that makes no geometry. Not retriable.
    FileNotFoundError
        No such file.
    """
    p = Path(path)
    table = read_extensions(p, ["IFUSLICES"]).get("IFUSLICES")
    if table is None:
        raise CorruptFileError(f"{p.name} has no IFUSLICES table")
    return geometry_from_table(table, source=p.name)
