"""Synthetic JWST-like ramps with known rates and injected cosmic rays (used by the kernel tests and benchmark).

It follows ``../shared/research/stcal_baseline.md`` ("Synthetic data"): a sky of about 1 DN/s with a gradient and
3 % flat noise, Gaussian stars (total flux log-uniform 10–2e5 DN/s), gain N(2, 0.05) e/DN, CDS read noise
N(10, 1) DN (each read gets rn/√2), Poisson electrons per group, a N(0, 5) DN pedestal, one jump of 100–5000 DN in
0.1 % of pixels, and SATURATED from the first group at or above 60000 DN (data clipped there).
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
import numpy.typing as npt

from streamcal.dq import Pixel

__all__ = ["SimRamp", "simulate_ramps"]


class SimRamp(NamedTuple):
    data: npt.NDArray[np.float32]  # (nints, ngroups, ny, nx) DN
    groupdq: npt.NDArray[np.uint8]  # saturation flags only
    pixeldq: npt.NDArray[np.uint32]
    gain: npt.NDArray[np.float32]
    readnoise: npt.NDArray[np.float32]  # CDS, DN
    rate: npt.NDArray[np.float64]  # true rate, DN/s
    cr: npt.NDArray[np.bool_]  # (nints, ngroups, ny, nx): the group where a CR was injected
    group_time: float


def _scene(rng: np.random.Generator, ny: int, nx: int, stars_per_mpix: float) -> npt.NDArray[np.float64]:
    yy, xx = np.mgrid[0:ny, 0:nx]
    sky = (0.8 + 0.4 * (yy / ny + xx / nx) / 2) * rng.normal(1.0, 0.03, (ny, nx))
    n_stars = max(1, round(stars_per_mpix * ny * nx / 1e6))
    flux = np.exp(rng.uniform(np.log(10.0), np.log(2e5), n_stars))
    ys, xs = rng.uniform(0, ny, n_stars), rng.uniform(0, nx, n_stars)
    widths = rng.uniform(1.0, 1.5, n_stars)
    half = 7
    for f, y0, x0, w in zip(flux, ys, xs, widths, strict=True):
        ya, yb = max(0, int(y0) - half), min(ny, int(y0) + half + 1)
        xa, xb = max(0, int(x0) - half), min(nx, int(x0) + half + 1)
        gy, gx = np.mgrid[ya:yb, xa:xb]
        psf = np.exp(-((gy - y0) ** 2 + (gx - x0) ** 2) / (2 * w * w))
        sky[ya:yb, xa:xb] += f * psf / (2 * np.pi * w * w)
    return sky


def simulate_ramps(
    shape: tuple[int, int, int, int],
    *,
    seed: int = 20240611,
    group_time: float = 10.737,
    cr_fraction: float = 1e-3,
    stars_per_mpix: float = 2000.0,
    sat_level: float = 60000.0,
) -> SimRamp:
    """Simulate ramps of ``shape`` = (nints, ngroups, ny, nx) with NFRAMES = 1, GROUPGAP = 0."""
    nints, ngroups, ny, nx = shape
    rng = np.random.default_rng(seed)
    rate = _scene(rng, ny, nx, stars_per_mpix)
    gain = rng.normal(2.0, 0.05, (ny, nx)).astype(np.float32)
    readnoise = rng.normal(10.0, 1.0, (ny, nx)).clip(3.0, None).astype(np.float32)
    data = np.empty(shape, np.float32)
    cr = np.zeros(shape, bool)
    mean_e = rate * gain * group_time
    for i in range(nints):
        electrons = np.cumsum(rng.poisson(np.broadcast_to(mean_e, (ngroups, ny, nx))), axis=0)
        ramp = electrons / gain + rng.normal(0.0, 5.0, (ny, nx))
        ramp += rng.normal(0.0, 1.0, (ngroups, ny, nx)) * (readnoise / np.sqrt(2.0))
        hit = rng.random((ny, nx)) < cr_fraction
        hy, hx = np.nonzero(hit)
        hg = rng.integers(1, ngroups, hy.size)
        amp = np.exp(rng.uniform(np.log(100.0), np.log(5000.0), hy.size))
        for y, x, g, a in zip(hy, hx, hg, amp, strict=True):
            ramp[g:, y, x] += a
        cr[i, hg, hy, hx] = True
        data[i] = ramp
    groupdq = np.zeros(shape, np.uint8)
    sat = np.maximum.accumulate(data >= sat_level, axis=1)
    groupdq[sat] = Pixel.SATURATED
    np.minimum(data, np.float32(sat_level), out=data)
    return SimRamp(data, groupdq, np.zeros((ny, nx), np.uint32), gain, readnoise, rate, cr, group_time)
