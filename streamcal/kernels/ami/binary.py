"""A binary star's interferometric observables, and a fit of them to normalised AMI data.

Convention (OIFITS, van Cittert–Zernike): on a baseline with (UCOORD, VCOORD) = (u, v) metres, u towards East
and v towards North, a primary at the phase centre and a companion of flux ratio ``contrast`` (companion /
primary, ≤ 1) at offset (α East, δ North) = separation·(sin PA, cos PA) (PA east of north) have the complex
visibility ``V = (1 + c·exp(−2πi (u α + v δ)/λ)) / (1 + c)``. Closure phases are ``arg V(u1) V(u2) V(−u1−u2)``
in degrees, as OI_T3 stores its two baselines.

:func:`fit_binary` fits closure phases and squared visibilities together (χ² with their errors): a grid over
separation, PA and contrast, then a least-squares refinement (scipy), and with ``hole_diameter`` a second
refinement that models the envelope's view of the companion (below), started from the first. Simplified:
monochromatic at the filter's centre wavelength (no bandwidth smearing), no primary diameter.

The fringe fit (:mod:`.fringe_fit`) centres its hole envelope P on the primary, so it sees a companion at offset
s through ``η(s) = ∫ P(θ) P(θ − s) dθ / ∫ P(θ)² dθ`` (the unweighted least-squares projection of the shifted
envelope on the fitted one, over the fitted field): the observables are those of a binary of contrast c·η(s).
Given ``hole_diameter``, :func:`fit_binary` models that and returns the companion's own contrast;
:func:`envelope_overlap` computes η (monochromatic, a square field of half-width ``field_mas``).
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
import numpy.typing as npt
from scipy import optimize

from streamcal.kernels.ami.fringe_fit import envelope

__all__ = ["BinaryFit", "binary_observables", "binary_visibility", "envelope_overlap", "fit_binary"]

_MAS = np.pi / (180.0 * 3600.0 * 1000.0)
F64 = npt.NDArray[np.float64]


class BinaryFit(NamedTuple):
    """Best-fitting binary: separation (mas), PA (deg east of north, 0–360), contrast (flux ratio) and the
    reduced χ² of the fit (closure phases and V² together)."""

    separation_mas: float
    pa_deg: float
    contrast: float
    chi2_reduced: float


def binary_visibility(u: npt.ArrayLike, v: npt.ArrayLike, wavelength: float, *, separation_mas: npt.ArrayLike,
                      pa_deg: npt.ArrayLike, contrast: npt.ArrayLike) -> npt.NDArray[np.complex128]:
    """Complex visibility of the binary on baselines (u, v) in metres (broadcasts over the parameters)."""
    sep = np.asarray(separation_mas, dtype=np.float64) * _MAS
    pa = np.radians(np.asarray(pa_deg, dtype=np.float64))
    c = np.asarray(contrast, dtype=np.float64)
    east, north = sep * np.sin(pa), sep * np.cos(pa)
    phase = -2.0 * np.pi * (np.asarray(u)[..., :] * east[..., None] + np.asarray(v) * north[..., None]) / wavelength
    return np.asarray((1.0 + c[..., None] * np.exp(1j * phase)) / (1.0 + c[..., None]))


def binary_observables(ucoord: npt.ArrayLike, vcoord: npt.ArrayLike, u1: npt.ArrayLike, v1: npt.ArrayLike,
                       u2: npt.ArrayLike, v2: npt.ArrayLike, wavelength: float, *, separation_mas: npt.ArrayLike,
                       pa_deg: npt.ArrayLike, contrast: npt.ArrayLike) -> tuple[F64, F64]:
    """``(vis2, t3phi_deg)`` of the binary on the OI_VIS2 baselines and OI_T3 triangles."""
    kw = {"separation_mas": separation_mas, "pa_deg": pa_deg, "contrast": contrast}
    vis2 = np.abs(binary_visibility(ucoord, vcoord, wavelength, **kw)) ** 2
    a1, b1, a2, b2 = (np.asarray(x, dtype=np.float64) for x in (u1, v1, u2, v2))
    t3 = (binary_visibility(a1, b1, wavelength, **kw) * binary_visibility(a2, b2, wavelength, **kw)
          * binary_visibility(-a1 - a2, -b1 - b2, wavelength, **kw))
    return vis2, np.degrees(np.angle(t3))


def envelope_overlap(separation_mas: npt.ArrayLike, *, wavelength: float, hole_diameter: float,
                     field_mas: float = 2620.0, step_mas: float = 20.0) -> F64:
    """η(s): the share of a companion's fringes an envelope centred on the primary sees (module docstring),
    1 at s = 0, on a grid of ``step_mas`` over a square field of half-width ``field_mas``."""
    axis = np.arange(-field_mas, field_mas + step_mas / 2, step_mas) * _MAS
    yy, xx = np.meshgrid(axis, axis, indexing="ij")
    centred = envelope(np.hypot(xx, yy), wavelength, diameter=hole_diameter)
    seps = np.atleast_1d(np.asarray(separation_mas, dtype=np.float64)) * _MAS
    out = np.array([np.sum(centred * envelope(np.hypot(xx - s, yy), wavelength, diameter=hole_diameter))
                    for s in seps]) / np.sum(centred**2)
    return np.asarray(out.reshape(np.shape(separation_mas)))


def _residuals(params: F64, data: dict[str, F64], wavelength: float, overlap: tuple[F64, F64] | None) -> F64:
    sep, pa, c = params
    seen = c * float(np.interp(sep, *overlap)) if overlap is not None else c
    vis2, cp = binary_observables(data["u"], data["v"], data["u1"], data["v1"], data["u2"], data["v2"], wavelength,
                                  separation_mas=np.array([sep]), pa_deg=np.array([pa]), contrast=np.array([seen]))
    dcp = np.degrees(np.angle(np.exp(1j * np.radians(cp[0] - data["cp"]))))
    return np.concatenate([(vis2[0] - data["vis2"]) / data["vis2_err"], dcp / data["cp_err"]])


def fit_binary(vis2: npt.ArrayLike, vis2_err: npt.ArrayLike, ucoord: npt.ArrayLike, vcoord: npt.ArrayLike,
               t3phi: npt.ArrayLike, t3phi_err: npt.ArrayLike, u1: npt.ArrayLike, v1: npt.ArrayLike,
               u2: npt.ArrayLike, v2: npt.ArrayLike, *, wavelength: float,
               separations_mas: npt.ArrayLike | None = None, contrasts: npt.ArrayLike | None = None,
               hole_diameter: float | None = None) -> BinaryFit:
    """Fit a binary to normalised V² and closure phases (deg), columns as OI_VIS2 and OI_T3 hold them.

    The starting grid: ``separations_mas`` (default 20–590 mas by 10), PA every 3° and ``contrasts`` (default 12
    from 0.005 to 1, logarithmic). ``hole_diameter`` (m): model the envelope's view of the companion
    (:func:`envelope_overlap`) and return its own contrast; None: the contrast the observables show.

    Raises
    ------
    ValueError
        Errors that are not positive and finite. Not retriable.
    """
    data = {k: np.asarray(x, dtype=np.float64) for k, x in (
        ("vis2", vis2), ("vis2_err", vis2_err), ("u", ucoord), ("v", vcoord), ("cp", t3phi), ("cp_err", t3phi_err),
        ("u1", u1), ("v1", v1), ("u2", u2), ("v2", v2))}
    if not (np.all(np.isfinite(data["vis2_err"])) and np.all(data["vis2_err"] > 0)
            and np.all(np.isfinite(data["cp_err"])) and np.all(data["cp_err"] > 0)):
        raise ValueError("fit_binary needs positive, finite errors")
    seps = np.arange(20.0, 600.0, 10.0) if separations_mas is None else np.asarray(separations_mas, float)
    cons = np.geomspace(0.005, 1.0, 12) if contrasts is None else np.asarray(contrasts, float)
    pas = np.arange(0.0, 360.0, 3.0)
    overlap = None
    if hole_diameter is not None:
        table = np.arange(0.0, 1010.0, 10.0)
        overlap = (table, envelope_overlap(table, wavelength=wavelength, hole_diameter=hole_diameter))
    s, p, c = np.meshgrid(seps, pas, cons, indexing="ij")
    best = (np.inf, np.zeros(3))
    for i in range(s.shape[0]):  # one separation at a time keeps the grid's memory small
        model_v2, model_cp = binary_observables(data["u"], data["v"], data["u1"], data["v1"], data["u2"],
                                                data["v2"], wavelength, separation_mas=s[i], pa_deg=p[i],
                                                contrast=c[i])
        dcp = np.degrees(np.angle(np.exp(1j * np.radians(model_cp - data["cp"]))))
        chi2 = (((model_v2 - data["vis2"]) / data["vis2_err"]) ** 2).sum(-1) + ((dcp / data["cp_err"]) ** 2).sum(-1)
        j = np.unravel_index(np.argmin(chi2), chi2.shape)
        if chi2[j] < best[0]:
            best = (float(chi2[j]), np.array([s[i][j], p[i][j], c[i][j]]))
    bounds = ([1.0, -720.0, 1e-4], [2000.0, 720.0, 1.0])
    fit = optimize.least_squares(_residuals, best[1], args=(data, wavelength, None), bounds=bounds)
    if overlap is not None:  # refine from the plain fit: the envelope's view is a small, smooth correction
        start = np.array([fit.x[0], fit.x[1], min(1.0, fit.x[2] / float(np.interp(fit.x[0], *overlap)))])
        fit = optimize.least_squares(_residuals, start, args=(data, wavelength, overlap), bounds=bounds)
    dof = max(1, data["vis2"].size + data["cp"].size - 3)
    sep, pa, con = fit.x
    return BinaryFit(float(sep), float(pa % 360.0), float(con), float(2.0 * fit.cost / dof))
