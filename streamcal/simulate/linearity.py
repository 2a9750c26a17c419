"""The detector non-linearity and the polynomial that undoes it (the LINEARITY reference).

Forward model, per pixel with a coefficient ``alpha`` (1/DN)::

    measured = x − alpha·x²          x = linear signal in DN above the pixel's linearity zero point

The zero point is the superbias for NIR detectors (jwst applies linearity after superbias subtraction) and
0 DN for MIRI (jwst applies linearity to raw DN). The inverse is ``x = g(alpha·m)/alpha`` with
``g(u) = (1 − sqrt(1 − 4u))/2``. Because ``g`` depends on ``u = alpha·m`` only, one dimensionless fit serves
every pixel: ``g(u) ≈ Σ_{k=1..5} a_k u^k`` (least squares on Chebyshev nodes over ``0 ≤ u ≤ U_MAX``, relative
error weighting, ``a_0 = 0``), and the per-pixel reference coefficients are ``c_0 = 0, c_k = a_k·alpha^(k−1)``
so that ``corrected = Σ c_k F^k`` (the stcal convention).

Accuracy: the pixels' non-linearity at saturation is at most 12 % (``alpha·m ≤ 0.106`` below saturation), and
the fit's relative error is below 1e-5 (6e-6) over ``[0, U_MAX]`` (checked in the tests), far inside the 0.1 % budget.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

__all__ = ["NCOEFFS", "U_MAX", "apply_nonlinearity", "inverse_series", "linearity_coeffs", "linearize"]

#: Number of polynomial coefficients in the LINEARITY reference (degree 5).
NCOEFFS = 6
#: Upper end of the fitted range of ``u = alpha·measured``; the simulated pixels stay below 0.106.
U_MAX = 0.115


def inverse_series() -> npt.NDArray[np.float64]:
    """The dimensionless inverse coefficients ``a_0 … a_5`` (``a_0 = 0``), fitted numerically.

    Returns
    -------
    ndarray, shape (NCOEFFS,), float64
    """
    n = 64
    u = 0.5 * U_MAX * (1.0 - np.cos(np.pi * (np.arange(n) + 0.5) / n))
    g = (1.0 - np.sqrt(1.0 - 4.0 * u)) / 2.0
    # Fit g(u)/u with powers u^0..u^4: minimises the relative error of the linearised signal.
    design = np.vander(u, NCOEFFS - 1, increasing=True)
    sol, *_ = np.linalg.lstsq(design, g / u, rcond=None)
    return np.concatenate([[0.0], sol])


def linearity_coeffs(alpha: npt.NDArray[np.floating]) -> npt.NDArray[np.float32]:
    """Per-pixel LINEARITY COEFFS for a non-linearity map.

    Parameters
    ----------
    alpha : ndarray, shape (ny, nx)
        Quadratic non-linearity coefficient, 1/DN.

    Returns
    -------
    ndarray, shape (NCOEFFS, ny, nx), float32
        ``c_k`` such that ``Σ c_k F^k`` returns the linear signal.
    """
    a = inverse_series()
    alpha64 = np.asarray(alpha, dtype=np.float64)
    out = np.empty((NCOEFFS, *alpha64.shape), dtype=np.float32)
    out[0] = 0.0
    for k in range(1, NCOEFFS):
        out[k] = a[k] * alpha64 ** (k - 1)
    return out


def apply_nonlinearity(x: npt.NDArray[np.floating], alpha: npt.NDArray[np.floating]) -> npt.NDArray[np.float32]:
    """The forward model ``x − alpha·x²`` (float32, a new array)."""
    x32 = np.asarray(x, dtype=np.float32)
    return x32 - np.asarray(alpha, dtype=np.float32) * x32 * x32


def linearize(measured: npt.NDArray[np.floating], coeffs: npt.NDArray[np.floating]) -> npt.NDArray[np.float64]:
    """Evaluate ``Σ c_k F^k`` (Horner, float64) — the correction the pipeline's linearity step applies.

    Parameters
    ----------
    measured : ndarray, shape (..., ny, nx)
        F, DN above the linearity zero point.
    coeffs : ndarray, shape (ncoeffs, ny, nx)

    Returns
    -------
    ndarray, float64, the shape of ``measured``
    """
    f = np.asarray(measured, dtype=np.float64)
    out = np.zeros(np.broadcast_shapes(f.shape, coeffs.shape[1:]), dtype=np.float64)
    for c in coeffs[::-1]:
        out = out * f + c
    return out
