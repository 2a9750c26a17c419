"""A wide-field slitless (WFSS) grism's trace model and its GRISMCONF reference table (issue 11).

Like jwst's GRISMCONF references, each spectral order is a parametric curve about a source's *direct* position
``(x0, y0)`` on the grism exposure (full-frame science frame, 0-based, pixel centres on integers; the position
the source would have without the grism, from the direct-image catalogue through the exposure's WCS). The
parameter is the dispersion offset ``t`` (jwst's DISPX/DISPY/DISPL with ``t`` = the offset itself):

- ``d = d0 + t`` along the dispersion (full-frame x when ``dispaxis`` is 1, y when it is 2), ``d0`` the source's
  direct coordinate on that axis;
- ``c = c0 + trace(t)`` across it (``c0`` the other direct coordinate);
- ``λ = wavelength(t)`` in µm.

``wavelength`` and ``trace`` are power series in ``t`` (lowest order first, at most cubic); the wavelength is
the same in every pixel of one dispersion column (no line tilt). The cross profile is a Gaussian of ``sigma_px``.
The order lights ``wave_min ≤ λ ≤ wave_max`` (the blocking filter's band). Simplified [U]: no field dependence
of the trace (real GRISMCONF coefficients vary with ``(x0, y0)``) and no filter-wheel rotation (FWCPOS).

:meth:`GrismOrder.layout_at` turns an order and a direct position into the
:class:`~streamcal.models.spectral.SpectralLayout` of that source's trace on the full frame, so the single-trace
machinery (rendering, the boxcar, the photometric conversion) applies to each source and order.

The reference is a SPECWCS file (selected on INSTRUME, DETECTOR, EXP_TYPE, FILTER, PUPIL, ``SUBARRAY='FULL'``)
whose ``GRISMCONF`` binary table has one row per order:

=================== ============== ===========================================================
column              type           meaning
=================== ============== ===========================================================
ORDER               int16          spectral order (1 for +1)
DISPAXIS            int16          1: dispersion along x, 2: along y
WAVELENGTH_COEFFS   float64 (4,)   λ(t) in µm, power series in t, zero-padded
TRACE_COEFFS        float64 (4,)   cross offset c − c0 (px) as a power series in t, zero-padded
SIGMA_PX            float64        Gaussian σ of the cross profile, px
WAVE_MIN, WAVE_MAX  float64        the order's lit wavelength range, µm
=================== ============== ===========================================================
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np
import numpy.typing as npt
from numpy.polynomial import Polynomial, polynomial

from streamcal.errors import CorruptFileError
from streamcal.models.spectral import MAX_COEFFS, SpectralLayout

__all__ = ["DETECTOR_PIXELS", "GRISMCONF_DTYPE", "CatalogSource", "GrismConf", "GrismOrder", "grism_from_table",
           "grismconf_table"]

#: Near-infrared detectors are 2048² (full frame, reference pixels included).
DETECTOR_PIXELS = 2048
GRISMCONF_DTYPE = np.dtype([
    ("ORDER", ">i2"), ("DISPAXIS", ">i2"), ("WAVELENGTH_COEFFS", ">f8", (MAX_COEFFS,)),
    ("TRACE_COEFFS", ">f8", (MAX_COEFFS,)), ("SIGMA_PX", ">f8"), ("WAVE_MIN", ">f8"), ("WAVE_MAX", ">f8"),
])


class CatalogSource(NamedTuple):
    """A source of the direct image's catalogue: its id (the catalogue's ``label``), sky position (deg) and
    centroid in the direct image (0-based px)."""

    source_id: int
    ra: float
    dec: float
    xcentroid: float
    ycentroid: float


def _shifted(coeffs: tuple[float, ...], shift: float) -> tuple[float, ...]:
    """Power-series coefficients in ``d`` of a polynomial written in ``t = d − shift``."""
    return tuple(float(c) for c in Polynomial(coeffs)(Polynomial([-shift, 1.0])).coef)


@dataclass(frozen=True, slots=True, kw_only=True)
class GrismOrder:
    """One spectral order of a grism (module docstring).

    Raises
    ------
    ValueError
        On construction: bad dispaxis, σ ≤ 0, an empty wavelength range, or a wavelength that is not monotonic
        in ``t`` over it. Not retriable.
    """

    order: int
    dispaxis: int
    wavelength_coeffs: tuple[float, ...]
    trace_coeffs: tuple[float, ...]
    sigma_px: float
    wave_range: tuple[float, float]

    def __post_init__(self) -> None:
        if self.dispaxis not in (1, 2):
            raise ValueError(f"dispaxis must be 1 or 2, got {self.dispaxis}")
        if not self.sigma_px > 0 or not 0 < self.wave_range[0] < self.wave_range[1]:
            raise ValueError(f"order {self.order}: σ {self.sigma_px} and range {self.wave_range} make no order")
        slope = polynomial.polyval(self.t_range(), polynomial.polyder(self.wavelength_coeffs))
        if not (np.all(slope > 0) or np.all(slope < 0)):
            raise ValueError(f"order {self.order}: λ(t) is not monotonic over {self.wave_range} µm")

    def wavelength(self, t: npt.ArrayLike) -> npt.NDArray[np.float64]:
        """λ (µm) at dispersion offset(s) ``t``."""
        return np.asarray(polynomial.polyval(np.asarray(t, np.float64), self.wavelength_coeffs))

    def t_range(self) -> npt.NDArray[np.float64]:
        """The offsets ``t`` at ``wave_min`` and ``wave_max`` (in that order), by bisection of λ(t)."""
        coeffs = np.array(self.wavelength_coeffs)
        out = []
        for target in self.wave_range:
            shifted = coeffs.copy()
            shifted[0] -= target
            roots = polynomial.polyroots(shifted)
            real = roots[np.abs(roots.imag) < 1e-9].real
            if real.size == 0:
                raise ValueError(f"order {self.order}: λ(t) never reaches {target} µm")
            out.append(real[np.argmin(np.abs(real))])
        return np.array(out)

    def layout_at(self, x0: float, y0: float, *, size: int = DETECTOR_PIXELS) -> SpectralLayout | None:
        """The full-frame trace of a source at direct position ``(x0, y0)`` (0-based), its lit dispersion pixels
        clipped to the detector (``0 … size − 1``); None when fewer than two lit pixels remain on it."""
        d0, c0 = (x0, y0) if self.dispaxis == 1 else (y0, x0)
        t_lo, t_hi = np.sort(self.t_range())
        first = max(0, math.ceil(d0 + t_lo))
        stop = min(size, math.floor(d0 + t_hi) + 1)
        if stop - first < 2:
            return None
        trace = list(_shifted(self.trace_coeffs, d0))
        trace[0] += c0
        return SpectralLayout(dispaxis=self.dispaxis, wavelength_coeffs=_shifted(self.wavelength_coeffs, d0),
                              trace_coeffs=tuple(trace), sigma_px=self.sigma_px, d_range=(first, stop))


@dataclass(frozen=True, slots=True)
class GrismConf:
    """A grism's orders by order number."""

    orders: dict[int, GrismOrder]

    def order(self, number: int) -> GrismOrder:
        """Order ``number``.

        Raises
        ------
        KeyError
            The reference has no such order. Not retriable.
        """
        if number not in self.orders:
            raise KeyError(f"no order {number} in the grism configuration (orders {sorted(self.orders)})")
        return self.orders[number]


def grismconf_table(conf: GrismConf) -> np.ndarray:
    """The GRISMCONF table of a configuration, one row per order (module docstring)."""
    rows = np.zeros(len(conf.orders), GRISMCONF_DTYPE)
    for i, order in enumerate(sorted(conf.orders.values(), key=lambda o: o.order)):
        rows[i]["ORDER"], rows[i]["DISPAXIS"] = order.order, order.dispaxis
        rows[i]["WAVELENGTH_COEFFS"][:len(order.wavelength_coeffs)] = order.wavelength_coeffs
        rows[i]["TRACE_COEFFS"][:len(order.trace_coeffs)] = order.trace_coeffs
        rows[i]["SIGMA_PX"] = order.sigma_px
        rows[i]["WAVE_MIN"], rows[i]["WAVE_MAX"] = order.wave_range
    return rows


def grism_from_table(table: np.ndarray, *, source: str = "GRISMCONF") -> GrismConf:
    """The configuration of a GRISMCONF table.

    Raises
    ------
    CorruptFileError
        No rows, a column missing, or rows that make no order; names ``source``. Not retriable.
    """
    names = {n.upper(): n for n in (table.dtype.names or ())}
    missing = [n for n in GRISMCONF_DTYPE.names or () if n not in names]
    if missing or len(table) == 0:
        raise CorruptFileError(f"{source}: a GRISMCONF table needs rows with columns {GRISMCONF_DTYPE.names}; it "
                               f"has {len(table)} row(s), missing {missing}")

    def coeffs(values: object) -> tuple[float, ...]:
        out = [float(v) for v in np.atleast_1d(np.asarray(values, np.float64))]
        while len(out) > 1 and out[-1] == 0.0:
            out.pop()
        return tuple(out)

    orders = {}
    try:
        for row in table:
            order = GrismOrder(order=int(row[names["ORDER"]]), dispaxis=int(row[names["DISPAXIS"]]),
                               wavelength_coeffs=coeffs(row[names["WAVELENGTH_COEFFS"]]),
                               trace_coeffs=coeffs(row[names["TRACE_COEFFS"]]), sigma_px=float(row[names["SIGMA_PX"]]),
                               wave_range=(float(row[names["WAVE_MIN"]]), float(row[names["WAVE_MAX"]])))
            orders[order.order] = order
    except ValueError as exc:
        raise CorruptFileError(f"{source}: {exc}") from exc
    return GrismConf(orders)
