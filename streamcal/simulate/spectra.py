"""Source spectra and the spectral forward model of the single-trace modes (issue 11).

- :class:`SourceSpectrum`: F_ν (Jy) tabulated against wavelength (µm), linearly interpolated; :func:`default_spectrum`
  (a 5000 K blackbody of 1 mJy at the band centre with three emission and two absorption lines) and
  :func:`read_spectrum_table` (a two-column text table or an astropy ECSV table).
- :func:`layout_for` (:mod:`streamcal.simulate.spectral_layouts`): each mode's
  :class:`~streamcal.models.spectral.SpectralLayout` on the full frame, with the photometric calibration the PHOTOM
  reference carries.
- :func:`render_spectrum`: the count rate (DN/s, flat-fielded units, no background) and the wavelength map of a
  spectrum through a layout, on any subarray. In dispersion pixel ``d`` the source puts
  ``S(d) = F_ν(λ(d)) / (photmj · 1e6 · relresponse(λ(d)))`` DN/s, spread over the cross-dispersion pixels by a
  Gaussian of ``sigma_px`` integrated over each pixel (differences of the normal CDF), so the profile sums to
  exactly ``S(d)``. Pixels farther than ``10σ + 1`` from the trace get 0 (the profile there is < 1e-23), decided
  per pixel, so a subarray render is the cut of the full-frame render bit for bit.
- :func:`extracted_truth`: what a perfect extraction of that render returns, per dispersion pixel of a subarray.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, NamedTuple

import numpy as np
import numpy.typing as npt
from scipy.special import ndtr

from streamcal.models.spectral import SpectralLayout
from streamcal.simulate.geometry import Subarray
from streamcal.simulate.spectral_layouts import SINGLE_TRACE_MODES, layout_for

__all__ = ["EXTRACTED_DTYPE", "SINGLE_TRACE_MODES", "SourceSpectrum", "SpectralLayout", "SpectralLine",
           "SpectralRender", "default_spectrum", "default_spectrum_for", "extracted_truth", "layout_for",
           "read_spectrum_table", "render_spectrum"]

F64 = npt.NDArray[np.float64]
#: Truth rows per lit dispersion pixel of a subarray: ``d`` (0-based subarray index along the dispersion axis),
#: WAVELENGTH (µm), FLUX (Jy, F_ν(λ(d)): what a perfect extraction returns) and RATE_SUM (DN/s, the source's
#: flat-fielded rate summed over the subarray's cross-dispersion pixels).
EXTRACTED_DTYPE = np.dtype([("d", ">i4"), ("WAVELENGTH", ">f8"), ("FLUX", ">f8"), ("RATE_SUM", ">f8")])
_HC_OVER_K = 14387.7688  # µm K
_SAMPLES_PER_PIXEL = 20
_CUTOFF_SIGMA = 10.0
_MAP_SIGMA = 4.0
#: The default spectrum's lines: position in the band, kind, peak (emission) or depth (absorption, < 0) relative
#: to the continuum.
_LINES: tuple[tuple[float, Literal["emission", "absorption"], float], ...] = (
    (0.15, "emission", 0.8), (0.28, "absorption", -0.5), (0.40, "emission", 0.5), (0.62, "absorption", -0.35),
    (0.75, "emission", 1.2))


class SpectralLine(NamedTuple):
    """A line of a synthetic spectrum: centre (µm), ``"emission"`` or ``"absorption"``, Gaussian FWHM (µm)."""

    centre_um: float
    kind: Literal["emission", "absorption"]
    fwhm_um: float


@dataclass(frozen=True, slots=True, eq=False)
class SourceSpectrum:
    """A point source's spectrum: F_ν in Jy at strictly increasing wavelengths in µm.

    Equality is identity (the arrays are not compared); both arrays are read-only float64 copies.

    Attributes
    ----------
    wavelength_um, flux_jy : ndarray, shape (n,), float64
        n ≥ 2, wavelengths positive and strictly increasing, fluxes finite and ≥ 0.
    lines : tuple of SpectralLine
        The lines a synthetic spectrum was built with (empty for tables).

    Raises
    ------
    ValueError
        On construction, for arrays that break those rules. Not retriable.
    """

    wavelength_um: F64
    flux_jy: F64
    lines: tuple[SpectralLine, ...] = ()

    def __post_init__(self) -> None:
        wave = np.array(self.wavelength_um, dtype=np.float64)
        flux = np.array(self.flux_jy, dtype=np.float64)
        if wave.ndim != 1 or wave.shape != flux.shape or wave.size < 2:
            raise ValueError(f"a spectrum needs two 1-D arrays of the same length >= 2, got {wave.shape} "
                             f"and {flux.shape}")
        if not (np.all(np.isfinite(wave)) and wave[0] > 0 and np.all(np.diff(wave) > 0)):
            raise ValueError("spectrum wavelengths must be positive, finite and strictly increasing")
        if not (np.all(np.isfinite(flux)) and np.all(flux >= 0)):
            raise ValueError("spectrum fluxes must be finite and >= 0")
        wave.setflags(write=False)
        flux.setflags(write=False)
        object.__setattr__(self, "wavelength_um", wave)
        object.__setattr__(self, "flux_jy", flux)

    @property
    def wave_range(self) -> tuple[float, float]:
        """(first, last) tabulated wavelength, µm."""
        return float(self.wavelength_um[0]), float(self.wavelength_um[-1])

    def flux_at(self, wavelength_um: npt.ArrayLike) -> F64:
        """F_ν (Jy) at ``wavelength_um`` by linear interpolation.

        Raises
        ------
        ValueError
            A wavelength outside the table (or NaN); the message gives the table's range. Not retriable.
        """
        wave = np.asarray(wavelength_um, dtype=np.float64)
        lo, hi = self.wave_range
        outside = ~((wave >= lo) & (wave <= hi))
        if np.any(outside):
            bad = np.atleast_1d(wave)[np.atleast_1d(outside)]
            raise ValueError(f"{bad.size} wavelength(s) outside the spectrum's table {lo:.6g}–{hi:.6g} µm, e.g. "
                             f"{bad[0]:.6g} µm")
        return np.asarray(np.interp(wave, self.wavelength_um, self.flux_jy))


def _planck_nu(wave_um: F64, temperature_k: float) -> F64:
    """B_ν up to a constant: λ⁻³ / (exp(hc/λkT) − 1)."""
    return np.asarray(wave_um**-3 / np.expm1(_HC_OVER_K / (wave_um * temperature_k)))


def default_spectrum(lo_um: float, hi_um: float, *, dispersion_um: float | None = None,
                     temperature_k: float = 5000.0, flux_jy: float = 1e-3) -> SourceSpectrum:
    """A blackbody of ``flux_jy`` at the band centre with three emission and two absorption lines.

    Parameters
    ----------
    lo_um, hi_um : float
        The band, µm (``0 < lo < hi``).
    dispersion_um : float, optional
        µm per pixel the spectrum will be seen at (default: the band over 2048 pixels). The table samples it
        20 times per pixel, and each line's FWHM is 3 resolution elements of 2 pixels.
    temperature_k : float
    flux_jy : float
        F_ν of the continuum at the band centre, which no line touches.

    Returns
    -------
    SourceSpectrum
        ``lines`` lists the line centres: emission at 15, 40 and 75 %, absorption at 28 and 62 % of the band.

    Raises
    ------
    ValueError
        An empty or negative band, or a non-positive dispersion. Not retriable.
    """
    if not 0 < lo_um < hi_um:
        raise ValueError(f"the band must satisfy 0 < lo < hi, got {lo_um}–{hi_um} µm")
    step = (hi_um - lo_um) / 2048 if dispersion_um is None else abs(dispersion_um)
    if not step > 0:
        raise ValueError(f"dispersion must be positive, got {dispersion_um}")
    n = max(2, math.ceil((hi_um - lo_um) / step * _SAMPLES_PER_PIXEL) + 1)
    wave = np.linspace(lo_um, hi_um, n)
    centre = 0.5 * (lo_um + hi_um)
    continuum = flux_jy * _planck_nu(wave, temperature_k) / _planck_nu(np.array([centre]), temperature_k)[0]
    fwhm = 3 * 2 * step
    sigma = fwhm / (2 * math.sqrt(2 * math.log(2)))
    lines, shape = [], np.ones_like(wave)
    for fraction, kind, amplitude in _LINES:
        line = SpectralLine(lo_um + fraction * (hi_um - lo_um), kind, fwhm)
        shape += amplitude * np.exp(-0.5 * ((wave - line.centre_um) / sigma) ** 2)
        lines.append(line)
    return SourceSpectrum(wave, continuum * shape, tuple(lines))


def default_spectrum_for(layout: SpectralLayout) -> SourceSpectrum:
    """:func:`default_spectrum` over the wavelengths a layout lights (padded by two pixels each side), sampled
    for its finest dispersion."""
    wave = layout.wavelength(layout.dispersion_pixels())
    step = float(np.abs(np.diff(wave)).min()) if wave.size > 1 else 1e-3
    lo, hi = layout.wave_range
    return default_spectrum(lo - 2 * step, hi + 2 * step, dispersion_um=step)


def _table_error(path: Path, line: int | None, message: str) -> ValueError:
    where = f"{path.name} line {line}" if line is not None else path.name
    return ValueError(f"spectrum table {where}: {message}")


def _ecsv_rows(path: Path) -> tuple[F64, F64, list[int]]:
    """Wavelength (µm) and flux (Jy) of an ECSV table, and the file line of each row."""
    from astropy import units as u  # imported here: only ECSV input pays for astropy.table
    from astropy.table import Table

    try:
        table = Table.read(path, format="ascii.ecsv")
    except (ValueError, TypeError, KeyError, IndexError) as exc:  # astropy's InconsistentTableError is a ValueError
        raise _table_error(path, None, f"not a readable ECSV table ({exc})") from exc
    text = path.read_text().splitlines()
    body = [i + 1 for i, line in enumerate(text) if line.strip() and not line.lstrip().startswith("#")]
    lines = body[1:]  # the first non-comment line names the columns
    if len(table.colnames) < 2:
        raise _table_error(path, None, f"needs two columns (wavelength, flux), has {table.colnames}")
    names = {n.lower(): n for n in table.colnames}
    wave_col = table[names.get("wavelength", table.colnames[0])]
    flux_col = table[names.get("flux", table.colnames[1])]
    try:
        wave = wave_col.to(u.um).value if wave_col.unit else np.asarray(wave_col, dtype=np.float64)
        flux = (flux_col.to(u.Jy, equivalencies=u.spectral_density(wave * u.um)).value if flux_col.unit
                else np.asarray(flux_col, dtype=np.float64))
    except (u.UnitsError, TypeError, ValueError) as exc:
        raise _table_error(path, None, f"cannot read wavelength (µm) and flux (Jy): {exc}") from exc
    return np.asarray(wave, np.float64), np.asarray(flux, np.float64), lines


def _text_rows(path: Path) -> tuple[F64, F64, list[int]]:
    """Wavelength and flux of a two-column text table (``#`` comments), and the file line of each row."""
    waves, fluxes, lines = [], [], []
    for number, raw in enumerate(path.read_text().splitlines(), start=1):
        text = raw.split("#", 1)[0].strip()
        if not text:
            continue
        fields = text.replace(",", " ").split()
        try:
            if len(fields) != 2:
                raise ValueError
            wave, flux = float(fields[0]), float(fields[1])
        except ValueError:
            raise _table_error(path, number, f"expected two numbers (wavelength µm, flux Jy), got {raw.strip()!r}"
                               ) from None
        waves.append(wave)
        fluxes.append(flux)
        lines.append(number)
    return np.array(waves, np.float64), np.array(fluxes, np.float64), lines


def read_spectrum_table(path: str | os.PathLike[str]) -> SourceSpectrum:
    """Read a user spectrum: a two-column text table (wavelength µm, F_ν Jy; ``#`` starts a comment; blanks or a
    comma separate the columns) or an astropy ECSV table (columns ``wavelength`` and ``flux``, else the first
    two; units converted to µm and Jy when the columns carry them).

    Raises
    ------
    ValueError
        The message names the file and, where one is to blame, the line: a row that is not two numbers, fewer
        than two rows, a wavelength that is not positive or not greater than the previous row's, a flux that is
        negative or not finite. Not retriable.
    FileNotFoundError
        No such file.
    """
    p = Path(path)
    is_ecsv = p.read_text()[:16].lstrip().startswith("# %ECSV")
    wave, flux, lines = _ecsv_rows(p) if is_ecsv else _text_rows(p)
    if wave.size < 2:
        raise _table_error(p, lines[-1] if lines else None, f"needs at least 2 rows, has {wave.size}")
    for i in range(wave.size):
        if not (np.isfinite(wave[i]) and wave[i] > 0):
            raise _table_error(p, lines[i], f"wavelength {wave[i]} µm must be positive")
        if i and not wave[i] > wave[i - 1]:
            raise _table_error(p, lines[i], f"wavelength {wave[i]} µm is not greater than {wave[i - 1]} µm on "
                                            f"line {lines[i - 1]} (wavelengths must increase)")
        if not (np.isfinite(flux[i]) and flux[i] >= 0):
            raise _table_error(p, lines[i], f"flux {flux[i]} Jy must be finite and >= 0")
    return SourceSpectrum(wave, flux)


class SpectralRender(NamedTuple):
    """A rendered spectrum on a subarray, both ``(ny, nx)`` float64.

    ``rate``: DN/s in flat-fielded units, source only. ``wavelength``: µm within ``4σ`` of the trace on lit
    dispersion pixels (λ(d), the same across the profile), NaN elsewhere.
    """

    rate: F64
    wavelength: F64


def _axes(layout: SpectralLayout, subarray: Subarray) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]:
    """Full-frame dispersion and cross-dispersion coordinates of the subarray's columns/rows."""
    xs, ys = subarray.x0 + np.arange(subarray.nx), subarray.y0 + np.arange(subarray.ny)
    return (xs, ys) if layout.dispaxis == 1 else (ys, xs)


def _profile(cross: npt.NDArray[np.int64], centre: F64, sigma: float) -> F64:
    """The fraction of a unit Gaussian (σ, centred at ``centre[j]``) falling in pixel ``cross[i]``, ``(i, j)``.

    Differences of the normal CDF on the side of the pixel away from the centre keep the far wings exact."""
    lo = (cross[:, None] - 0.5 - centre[None, :]) / sigma
    hi = lo + 1.0 / sigma
    frac = np.where(lo + hi < 0, ndtr(hi) - ndtr(lo), ndtr(-lo) - ndtr(-hi))
    far = np.abs(cross[:, None] - centre[None, :]) > _CUTOFF_SIGMA * sigma + 1.0
    return np.asarray(np.where(far, 0.0, frac))


def _source_rate(layout: SpectralLayout, spectrum: SourceSpectrum, d: npt.NDArray[np.int64]) -> tuple[F64, F64]:
    """λ(d) and the summed rate S(d) of the lit dispersion pixels ``d``."""
    if not layout.calibrated:
        raise ValueError("render_spectrum needs a layout with its photometric calibration (photmj, relresponse)")
    wave = layout.wavelength(d)
    return wave, spectrum.flux_at(wave) / layout.conversion(wave)


def render_spectrum(layout: SpectralLayout, spectrum: SourceSpectrum, subarray: Subarray, *,
                    throughput: Callable[[F64], F64] | None = None) -> SpectralRender:
    """Render a point source's spectrum through a layout onto a subarray (module docstring).

    Parameters
    ----------
    layout : SpectralLayout
        Calibrated (``photmj`` and ``relresponse`` attached, as :func:`layout_for` returns it).
    spectrum : SourceSpectrum
        Must cover the wavelengths the layout lights inside the subarray.
    subarray : Subarray
        The region; 1-based SUBSTRT1/2 place it on the full frame the layout is written in.
    throughput : callable, optional
        λ (µm, shape (n,)) → the fraction of the source's light that reaches the detector (shape (n,)), e.g. the
        slit loss (:mod:`streamcal.simulate.pathloss`); applied to ``S(d)``. Default: all of it.

    Returns
    -------
    SpectralRender
        ``(rate, wavelength)``, each ``(subarray.ny, subarray.nx)`` float64.

    Raises
    ------
    ValueError
        The layout has no calibration, or the spectrum does not cover a lit wavelength. Not retriable.
    """
    disp, cross = _axes(layout, subarray)
    first, stop = layout.d_range
    lit = (disp >= first) & (disp < stop)
    rate = np.zeros((cross.size, disp.size))
    wave_map = np.full((cross.size, disp.size), np.nan)
    if lit.any():
        wave, s = _source_rate(layout, spectrum, disp[lit])
        if throughput is not None:
            s = s * throughput(wave)
        centre = layout.trace(disp[lit])
        # only the rows (columns) the cutoff lets light reach are computed; the cutoff itself is per pixel
        reach = _CUTOFF_SIGMA * layout.sigma_px + 1.0
        rows = np.flatnonzero((cross >= centre.min() - reach) & (cross <= centre.max() + reach))
        if rows.size:
            band = np.s_[rows[0]:rows[-1] + 1]
            rate[band, lit] = _profile(cross[band], centre, layout.sigma_px) * s[None, :]
            near = np.abs(cross[band, None] - centre[None, :]) <= _MAP_SIGMA * layout.sigma_px
            wave_map[band, lit] = np.where(near, wave[None, :], np.nan)
    if layout.dispaxis == 2:
        rate, wave_map = rate.T, wave_map.T
    return SpectralRender(np.ascontiguousarray(rate), np.ascontiguousarray(wave_map))


def extracted_truth(layout: SpectralLayout, spectrum: SourceSpectrum, subarray: Subarray, *,
                    throughput: Callable[[F64], F64] | None = None) -> np.ndarray:
    """What a perfect extraction returns, per lit dispersion pixel of the subarray (:data:`EXTRACTED_DTYPE`).

    ``RATE_SUM`` is computed from the profile's CDF at the subarray's cross-dispersion edges, not by summing a
    render, so it checks :func:`render_spectrum` independently, and includes ``throughput`` (the slit loss: what
    reaches the detector). ``FLUX`` is F_ν(λ(d)), the source's own, whatever the subarray cuts off the profile
    or the slit loses.

    Raises
    ------
    ValueError
        As :func:`render_spectrum`. Not retriable.
    """
    disp, cross = _axes(layout, subarray)
    first, stop = layout.d_range
    lit = np.flatnonzero((disp >= first) & (disp < stop))
    rows = np.zeros(lit.size, EXTRACTED_DTYPE)
    if lit.size:
        wave, s = _source_rate(layout, spectrum, disp[lit])
        centre = layout.trace(disp[lit])
        inside = ndtr((cross[-1] + 0.5 - centre) / layout.sigma_px) - ndtr((cross[0] - 0.5 - centre) / layout.sigma_px)
        rows["d"], rows["WAVELENGTH"], rows["FLUX"] = lit, wave, spectrum.flux_at(wave)
        rows["RATE_SUM"] = s * inside * (1.0 if throughput is None else throughput(wave))
    return rows
