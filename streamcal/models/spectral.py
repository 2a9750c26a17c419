"""The spectral layout of a single-trace spectroscopic mode, and its SPECWCS reference (issue 11).

A :class:`SpectralLayout` says where one point source's spectrum falls on the detector and what it reads there.
Everything is in the full-frame science (DMS) frame with 0-based pixel coordinates, pixel centres on integers:

- ``d`` is the dispersion coordinate (full-frame x when ``dispaxis`` is 1, full-frame y when it is 2), ``c``
  the cross-dispersion coordinate (the other one). A subarray's pixel ``(y, x)`` is full-frame
  ``(y + SUBSTRT2 − 1, x + SUBSTRT1 − 1)``.
- ``wavelength(d)`` (µm) and ``trace(d)`` (the cross-dispersion centre ``c``) are power series in ``d``
  (``numpy.polynomial.polynomial``, lowest order first, at most cubic). The wavelength is the same in every
  pixel of a dispersion pixel ``d`` (no line tilt).
- The cross-dispersion profile is a Gaussian of ``sigma_px`` about ``trace(d)``, integrated over each pixel, so
  the whole profile sums to one.
- Light falls on ``d_range[0] ≤ d < d_range[1]`` only.
- Photometric calibration (from the PHOTOM reference row of the optical path, or set by the simulator): the
  summed count rate over the cross profile in dispersion pixel ``d`` is
  ``S(d) = F_ν(λ(d)) [Jy] / (photmj · 1e6 · relresponse(λ(d)))`` DN/s, i.e. ``photmj`` is in MJy per DN/s
  and ``relresponse`` is a dimensionless curve tabulated against wavelength (linear interpolation, as jwst's
  photom step does). A point-source extraction that sums the rate over the profile and multiplies by
  ``photmj · relresponse(λ) · 1e6`` returns F_ν in Jy.

The SPECWCS reference (one per DETECTOR, EXP_TYPE, FILTER and GRATING or PUPIL; ``SUBARRAY='FULL'`` since it is
in full-frame coordinates) holds the geometry in a one-row binary table ``SPECWCS``:

=================== ============== ==========================================================================
column              type           meaning
=================== ============== ==========================================================================
DISPAXIS            int16          1: dispersion along x, 2: along y
WAVELENGTH_COEFFS   float64 (4,)   λ(d) in µm, power series in d, lowest order first, zero-padded
TRACE_COEFFS        float64 (4,)   c(d), full-frame 0-based, power series in d, zero-padded
SIGMA_PX            float64        Gaussian σ of the cross profile, px
D_FIRST, D_LAST     int32          first and last (inclusive) lit dispersion pixel, full-frame 0-based
WAVE_MIN, WAVE_MAX  float64        wavelength range over the lit pixels, µm
=================== ============== ==========================================================================

The photometric half comes from the exposure's PHOTOM row (:meth:`SpectralLayout.with_photom_row`: columns
``photmj``, ``nelem``, ``wavelength``, ``relresponse``; the first ``nelem`` values of the arrays are used).
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt
from numpy.polynomial import polynomial

from streamcal.datamodels import read_extensions
from streamcal.errors import CorruptFileError

__all__ = ["MAX_COEFFS", "SPECWCS_DTYPE", "SpectralLayout", "layout_from_specwcs", "read_specwcs", "specwcs_table"]

#: Polynomials are at most cubic.
MAX_COEFFS = 4
SPECWCS_DTYPE = np.dtype([
    ("DISPAXIS", ">i2"), ("WAVELENGTH_COEFFS", ">f8", (MAX_COEFFS,)), ("TRACE_COEFFS", ">f8", (MAX_COEFFS,)),
    ("SIGMA_PX", ">f8"), ("D_FIRST", ">i4"), ("D_LAST", ">i4"), ("WAVE_MIN", ">f8"), ("WAVE_MAX", ">f8"),
])

F64 = npt.NDArray[np.float64]


def _coeffs(values: object, name: str) -> tuple[float, ...]:
    """A coefficient tuple without trailing zeros (so zero-padded table columns read back equal)."""
    out = [float(v) for v in np.atleast_1d(np.asarray(values, dtype=np.float64))]
    while len(out) > 1 and out[-1] == 0.0:
        out.pop()
    if not 1 <= len(out) <= MAX_COEFFS or not all(np.isfinite(out)):
        raise ValueError(f"{name} must be 1 to {MAX_COEFFS} finite coefficients, got {values!r}")
    return tuple(out)


@dataclass(frozen=True, slots=True, kw_only=True)
class SpectralLayout:
    """Where a single-trace spectrum falls on the full frame, and (optionally) its photometric calibration.

    Attributes
    ----------
    dispaxis : int
        1: dispersion along x (``d`` = full-frame x); 2: along y (``d`` = full-frame y).
    wavelength_coeffs : tuple of float
        λ(d) in µm, power series in the full-frame 0-based dispersion coordinate ``d``, lowest order first
        (``numpy.polynomial.polynomial.polyval``), at most cubic; trailing zeros are dropped.
    trace_coeffs : tuple of float
        Cross-dispersion centre c(d), full-frame 0-based, same convention.
    sigma_px : float
        σ of the Gaussian cross-dispersion profile, px.
    d_range : tuple of int
        ``(first, last + 1)``: the lit full-frame dispersion pixels.
    photmj : float or None
        MJy per DN/s (None: no photometric calibration attached, as read from SPECWCS alone).
    response_wavelength : tuple of float
        Wavelengths (µm, strictly increasing) of the ``relresponse`` table; empty without calibration.
    response : tuple of float
        relresponse at those wavelengths (positive, dimensionless).

    Raises
    ------
    ValueError
        On construction, if the layout is inconsistent (bad dispaxis, σ ≤ 0, empty range, a wavelength that is
        not monotonic over the lit pixels, a response table that is not increasing, not positive or does not
        cover the lit wavelengths). Not retriable.
    """

    dispaxis: int
    wavelength_coeffs: tuple[float, ...]
    trace_coeffs: tuple[float, ...]
    sigma_px: float
    d_range: tuple[int, int]
    photmj: float | None = None
    response_wavelength: tuple[float, ...] = ()
    response: tuple[float, ...] = ()

    def __post_init__(self) -> None:
        set_ = object.__setattr__  # frozen: normalise once, here
        set_(self, "wavelength_coeffs", _coeffs(self.wavelength_coeffs, "wavelength_coeffs"))
        set_(self, "trace_coeffs", _coeffs(self.trace_coeffs, "trace_coeffs"))
        set_(self, "d_range", (int(self.d_range[0]), int(self.d_range[1])))
        set_(self, "sigma_px", float(self.sigma_px))
        set_(self, "response_wavelength", tuple(float(w) for w in self.response_wavelength))
        set_(self, "response", tuple(float(r) for r in self.response))
        if self.dispaxis not in (1, 2):
            raise ValueError(f"dispaxis must be 1 or 2, got {self.dispaxis}")
        if not self.sigma_px > 0:
            raise ValueError(f"sigma_px must be positive, got {self.sigma_px}")
        first, stop = self.d_range
        if not 0 <= first < stop:
            raise ValueError(f"d_range must be (first, last + 1) with 0 <= first < last + 1, got {self.d_range}")
        step = np.diff(self.wavelength(self.dispersion_pixels()))
        if step.size and not (np.all(step > 0) or np.all(step < 0)):
            raise ValueError(f"wavelength is not monotonic over d_range {self.d_range}")
        if self.photmj is not None:
            self._check_photometry()

    def _check_photometry(self) -> None:
        wave, resp = np.array(self.response_wavelength), np.array(self.response)
        if not (self.photmj is not None and np.isfinite(self.photmj) and self.photmj > 0):
            raise ValueError(f"photmj must be positive, got {self.photmj}")
        if wave.size < 2 or wave.size != resp.size:
            raise ValueError(f"relresponse needs >= 2 (wavelength, value) pairs, got {wave.size} and {resp.size}")
        if not (np.all(np.diff(wave) > 0) and np.all(resp > 0) and np.all(np.isfinite(resp))):
            raise ValueError("relresponse wavelengths must increase and its values be positive")
        lo, hi = self.wave_range
        if lo < wave[0] or hi > wave[-1]:
            raise ValueError(f"relresponse covers {wave[0]}–{wave[-1]} µm, the layout lights {lo}–{hi} µm")

    @property
    def calibrated(self) -> bool:
        """Whether a photometric calibration (photmj, relresponse) is attached."""
        return self.photmj is not None

    def dispersion_pixels(self) -> npt.NDArray[np.int64]:
        """The lit full-frame dispersion pixels, ``arange(*d_range)``."""
        return np.arange(*self.d_range)

    def wavelength(self, d: npt.ArrayLike) -> F64:
        """λ(d) in µm at full-frame dispersion coordinate(s) ``d`` (any d: the polynomial, lit or not)."""
        return np.asarray(polynomial.polyval(np.asarray(d, dtype=np.float64), self.wavelength_coeffs))

    def trace(self, d: npt.ArrayLike) -> F64:
        """The full-frame cross-dispersion centre c(d), 0-based."""
        return np.asarray(polynomial.polyval(np.asarray(d, dtype=np.float64), self.trace_coeffs))

    @property
    def wave_range(self) -> tuple[float, float]:
        """(min, max) wavelength over the lit pixels, µm."""
        wave = self.wavelength(self.dispersion_pixels())
        return float(wave.min()), float(wave.max())

    def relresponse(self, wavelength_um: npt.ArrayLike) -> F64:
        """The relative response at ``wavelength_um`` (linear interpolation; NaN outside the table).

        Raises
        ------
        ValueError
            No photometric calibration is attached. Not retriable.
        """
        if not self.calibrated:
            raise ValueError("this layout has no photometric calibration (attach one with with_photom_row)")
        wave = np.asarray(wavelength_um, dtype=np.float64)
        return np.asarray(np.interp(wave, self.response_wavelength, self.response, left=np.nan, right=np.nan))

    def conversion(self, wavelength_um: npt.ArrayLike) -> F64:
        """Jy per DN/s of the summed cross profile: ``photmj · 1e6 · relresponse(λ)``."""
        return np.asarray(self.relresponse(wavelength_um) * (float(self.photmj or 0.0) * 1e6))

    def geometry(self) -> SpectralLayout:
        """This layout without its photometric calibration (what a SPECWCS reference holds)."""
        return dataclasses.replace(self, photmj=None, response_wavelength=(), response=())

    def with_photom_row(self, row: np.void | np.ndarray) -> SpectralLayout:
        """This layout with the calibration of a PHOTOM row (``photmj``, ``nelem``, ``wavelength``,
        ``relresponse``; column names in any case).

        Raises
        ------
        ValueError
            The row has no spectral calibration (``nelem`` < 2) or it does not cover the layout. Not retriable.
        """
        names = {n.lower(): n for n in (row.dtype.names or ())}
        missing = {"photmj", "nelem", "wavelength", "relresponse"} - set(names)
        if missing:
            raise ValueError(f"PHOTOM row has no {sorted(missing)} column(s)")
        nelem = int(row[names["nelem"]])
        return dataclasses.replace(
            self, photmj=float(row[names["photmj"]]),
            response_wavelength=tuple(np.asarray(row[names["wavelength"]], np.float64)[:nelem]),
            response=tuple(np.asarray(row[names["relresponse"]], np.float64)[:nelem]))


def specwcs_table(layout: SpectralLayout) -> np.ndarray:
    """The one-row SPECWCS table of a layout (column meanings in the module docstring)."""
    row = np.zeros(1, SPECWCS_DTYPE)
    row["DISPAXIS"] = layout.dispaxis
    row["WAVELENGTH_COEFFS"][0, :len(layout.wavelength_coeffs)] = layout.wavelength_coeffs
    row["TRACE_COEFFS"][0, :len(layout.trace_coeffs)] = layout.trace_coeffs
    row["SIGMA_PX"] = layout.sigma_px
    row["D_FIRST"], row["D_LAST"] = layout.d_range[0], layout.d_range[1] - 1
    row["WAVE_MIN"], row["WAVE_MAX"] = layout.wave_range
    return row


def layout_from_specwcs(table: np.ndarray, *, source: str = "SPECWCS") -> SpectralLayout:
    """The layout (geometry only) of a SPECWCS table's single row.

    Raises
    ------
    CorruptFileError
        Not exactly one row, a column missing, or values that make no layout; names ``source``. Not retriable.
    """
    names = {n.upper(): n for n in (table.dtype.names or ())}
    missing = [n for n in SPECWCS_DTYPE.names or () if n not in names]
    if missing or len(table) != 1:
        raise CorruptFileError(f"{source}: a SPECWCS table needs one row with columns {SPECWCS_DTYPE.names}; "
                               f"it has {len(table)} row(s), missing {missing}")
    row = table[0]
    try:
        return SpectralLayout(
            dispaxis=int(row[names["DISPAXIS"]]), wavelength_coeffs=tuple(row[names["WAVELENGTH_COEFFS"]]),
            trace_coeffs=tuple(row[names["TRACE_COEFFS"]]), sigma_px=float(row[names["SIGMA_PX"]]),
            d_range=(int(row[names["D_FIRST"]]), int(row[names["D_LAST"]]) + 1))
    except ValueError as exc:
        raise CorruptFileError(f"{source}: {exc}") from exc


def read_specwcs(path: str | os.PathLike[str]) -> SpectralLayout:
    """Read a SPECWCS reference file into its layout (geometry only; see :meth:`SpectralLayout.with_photom_row`).

    Raises
    ------
    CorruptFileError
        No SPECWCS extension, or its table makes no layout. Not retriable.
    FileNotFoundError
        No such file.
    """
    p = Path(path)
    table = read_extensions(p, ["SPECWCS"]).get("SPECWCS")
    if table is None:
        raise CorruptFileError(f"{p.name} has no SPECWCS table")
    return layout_from_specwcs(table, source=p.name)
