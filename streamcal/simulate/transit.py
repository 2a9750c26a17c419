"""The transit a TSO exposure sees: parameters (:class:`Transit`, an :class:`~streamcal.simulate.ExposureSpec`
field) and the relative flux of each integration, from the integrations' mid-times as the raw file's INT_TIMES
table gives them (``int_mid_MJD_UTC = EXPSTART + (n − ½)·NGROUPS·TGROUP``, ``n`` the 1-based integration
number over the whole exposure, so every segment of one exposure sees one transit).

The flux model is :func:`streamcal.kernels.tso.transit_flux` (a limb-darkened star occulted by a dark disc on a
straight chord). For spectra the depth may vary with wavelength: ``depth(λ) = depth + depth_slope·(λ − wave_ref)``
(a linear transmission spectrum [ours: enough to test that white light and per-wavelength depths differ]),
applied per pixel from the simulated wavelength map; pixels without a wavelength (sky off the trace) take
``depth``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from streamcal.kernels.tso.transit import transit_flux

__all__ = ["Transit", "TransitGeometry", "integration_mid_times", "resolve_transit"]

_SECONDS_PER_DAY = 86400.0


@dataclass(frozen=True, slots=True, kw_only=True)
class Transit:
    """A transit to inject into a TSO exposure (ignored when TSOVISIT is false).

    Attributes
    ----------
    depth : float
        ``(Rp/R*)²`` at ``wave_ref`` (default 1 %).
    t0 : float, optional
        Mid-transit, MJD (UTC). Default: the middle of the whole exposure (all segments).
    t14 : float, optional
        Duration, first to fourth contact, seconds. Default: a third of the exposure's integrations (the
        former box transit's middle third) [ours: short simulated exposures need baseline on both sides].
    u1, u2 : float
        Quadratic limb darkening (default 0.1, 0.25 [U]: roughly a Sun-like star near 2–4 µm).
    b : float
        Impact parameter, stellar radii (default 0).
    depth_slope : float
        d depth / dλ, per µm (spectra; default 0: a grey transit).
    wave_ref : float, optional
        The wavelength ``depth`` holds at, µm (default: the mode's nominal wavelength).
    """

    depth: float = 0.01
    t0: float | None = None
    t14: float | None = None
    u1: float = 0.1
    u2: float = 0.25
    b: float = 0.0
    depth_slope: float = 0.0
    wave_ref: float | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class TransitGeometry:
    """A :class:`Transit` with its defaults resolved for one exposure (t0 MJD, t14 s, wave_ref µm)."""

    depth: float
    t0: float
    t14: float
    u1: float
    u2: float
    b: float
    depth_slope: float
    wave_ref: float

    def flux(self, times_mjd: npt.ArrayLike, *, depth: float | None = None) -> npt.NDArray[np.float64]:
        """Relative flux at these times (at ``depth`` instead of the reference depth if given)."""
        return transit_flux(times_mjd, depth=self.depth if depth is None else depth, t0=self.t0, t14=self.t14,
                            u1=self.u1, u2=self.u2, b=self.b)

    def header(self) -> dict[str, object]:
        """The truth keywords (LIGHTCURVE extension)."""
        return {"DEPTH": self.depth, "T0_MJD": self.t0, "T14_S": self.t14, "LD_U1": self.u1, "LD_U2": self.u2,
                "IMPACT": self.b, "DDEPTHDL": self.depth_slope, "WAVEREF": self.wave_ref}


def integration_mid_times(expstart: float, *, first: int, nints: int, ngroups: int,
                          tgroup: float) -> npt.NDArray[np.float64]:
    """``int_mid_MJD_UTC`` of integrations ``first … first + nints − 1`` (as the raw writer's INT_TIMES)."""
    dt = ngroups * tgroup / _SECONDS_PER_DAY
    numbers = np.arange(first, first + nints, dtype=np.float64)
    return expstart + (numbers - 0.5) * dt


def resolve_transit(transit: Transit, *, expstart: float, nints_total: int, ngroups: int, tgroup: float,
                    wavelength: float) -> TransitGeometry:
    """Fill a transit's defaults for an exposure of ``nints_total`` integrations starting at ``expstart``.

    Raises
    ------
    ValueError
        A depth outside [0, 1), a non-positive duration or an impact parameter with no transit. Not retriable.
    """
    span = nints_total * ngroups * tgroup  # seconds, first start to last end
    t0 = transit.t0 if transit.t0 is not None else expstart + span / 2.0 / _SECONDS_PER_DAY
    t14 = transit.t14 if transit.t14 is not None else span / 3.0
    geometry = TransitGeometry(depth=transit.depth, t0=t0, t14=t14, u1=transit.u1, u2=transit.u2, b=transit.b,
                               depth_slope=transit.depth_slope,
                               wave_ref=transit.wave_ref if transit.wave_ref is not None else wavelength)
    geometry.flux(np.array([t0]))  # checks the parameters now, not at the first integration
    return geometry
