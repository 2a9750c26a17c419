"""The per-pixel detector model: gain, read noise, bias, saturation, non-linearity, dark, flat and defects.

Every per-pixel property is a deterministic function of ``(seed, detector, field, y, x)`` in *full-frame*
coordinates, computed with a counter-based hash (splitmix64) instead of a sequential random generator. A
subarray model therefore holds exactly the values of the same pixels in the full-frame model, so the
full-frame reference files cut to a subarray match the physics of a subarray exposure, and a subarray
exposure never has to build the full frame.

Units: gain e-/DN; read noise CDS DN; bias, saturation DN (raw, bias included); dark e-/s; flat dimensionless.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from streamcal.dq import Pixel
from streamcal.simulate.geometry import Detector, Subarray

__all__ = ["DEFAULT_DETECTOR_SEED", "DetectorModel", "amp_index", "pixel_normal", "pixel_uniform"]

#: The seed of the default synthetic observatory; references and exposures must use the same one.
DEFAULT_DETECTOR_SEED = 2022

_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)
_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_DEAD_FRACTION = 3e-4
_HOT_FRACTION = 5e-4
_BLOCK_ROWS = 256
F32 = npt.NDArray[np.float32]


def _mix_inplace(z: npt.NDArray[np.uint64]) -> None:
    """splitmix64 finaliser, in place on ``z`` (array arithmetic wraps modulo 2**64 without warnings)."""
    for shift, mult in ((30, _M1), (27, _M2)):
        z ^= z >> np.uint64(shift)
        z *= mult
    z ^= z >> np.uint64(31)


def _key(seed: int, detector: str, field: str) -> np.uint64:
    word = zlib.crc32(f"{detector}/{field}".encode()) | (int(seed) & 0xFFFFFFFF) << 32
    z = np.array([word], dtype=np.uint64)
    _mix_inplace(z)
    return np.uint64(int(z[0]))


def pixel_uniform(seed: int, detector: str, field: str, rows: npt.ArrayLike, cols: npt.ArrayLike,
                  ncols: int) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    """Two independent uniform (0, 1) values per full-frame pixel ``(rows, cols)`` (broadcast).

    One 64-bit hash per pixel gives both values (32 bits each).

    Parameters
    ----------
    seed : int
        Observatory seed.
    detector, field : str
        Name the independent random field (e.g. ``"NRCA1"``, ``"gain"``).
    rows, cols : array_like of int
        0-based full-frame coordinates; broadcast against each other.
    ncols : int
        Full-frame width (for the linear pixel index).

    Returns
    -------
    tuple of two ndarrays, float64
    """
    z = np.asarray(rows, dtype=np.uint64) * np.uint64(ncols) + np.asarray(cols, dtype=np.uint64)
    z += np.uint64(1)
    z *= _GOLDEN
    z += _key(seed, detector, field)
    _mix_inplace(z)
    low = (z & np.uint64(0xFFFFFFFF)).astype(np.float64)
    z >>= np.uint64(32)
    high = z.astype(np.float64)
    return (low + 0.5) * 2.0**-32, (high + 0.5) * 2.0**-32


def pixel_normal(seed: int, detector: str, field: str, rows: npt.ArrayLike, cols: npt.ArrayLike,
                 ncols: int) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    """Two independent standard-normal values per full-frame pixel (Box–Muller on one hashed pair)."""
    u1, u2 = pixel_uniform(seed, detector, field, rows, cols, ncols)
    radius = np.sqrt(-2.0 * np.log(u1))
    angle = 2.0 * np.pi * u2
    return radius * np.cos(angle), radius * np.sin(angle)


def amp_index(detector: Detector, subarray: Subarray) -> npt.NDArray[np.int8]:
    """Amplifier × parity index ``2·amp + parity`` per pixel of the subarray (0..7).

    NIR: four 512-pixel amplifier stripes along the fast axis (DMS x when ``|FASTAXIS| = 1``, else DMS y) for
    four-output readouts, one amplifier otherwise; parity is that of the fast-axis index, as the reference-
    pixel correction's odd/even split. MIRI: amplifier = column mod 4, parity = row parity.
    """
    rows = np.arange(subarray.y0, subarray.y0 + subarray.ny)[:, None]
    cols = np.arange(subarray.x0, subarray.x0 + subarray.nx)[None, :]
    if detector.is_miri:
        idx = 2 * (cols % 4) + rows % 2
    else:
        fast = cols if abs(detector.fastaxis) == 1 else rows
        amp = fast // 512 if subarray.noutputs == 4 else np.zeros_like(fast)
        idx = 2 * amp + fast % 2
    return np.broadcast_to(idx, (subarray.ny, subarray.nx)).astype(np.int8)


def _reference_mask(detector: Detector, rows: npt.NDArray[np.int64],
                    cols: npt.NDArray[np.int64]) -> npt.NDArray[np.bool_]:
    ny, nx = detector.shape
    if detector.is_miri:
        mask = (cols < 4) | (cols >= nx - 4)
        return np.broadcast_to(mask, (rows.shape[0], cols.shape[1])).copy()
    return (rows < 4) | (rows >= ny - 4) | (cols < 4) | (cols >= nx - 4)


def _evaluate(detector: Detector, seed: int, rows: npt.NDArray[np.int64],
              cols: npt.NDArray[np.int64]) -> dict[str, np.ndarray]:
    """All per-pixel fields of the pixels ``rows × cols`` (full-frame, 0-based), as DetectorModel arrays."""
    ncols = detector.shape[1]
    shape = (rows.shape[0], cols.shape[1])

    def pair(field: str, *, gaussian: bool) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
        make = pixel_normal if gaussian else pixel_uniform
        return make(seed, detector.name, field, rows, cols, ncols)

    def f32(a: npt.ArrayLike) -> F32:
        return np.ascontiguousarray(np.broadcast_to(a, shape), dtype=np.float32)

    reference = _reference_mask(detector, rows, cols)
    u_defect, u_hot = pair("defect", gaussian=False)
    dead = (u_defect < _DEAD_FRACTION) & ~reference
    hot = (u_defect > 1.0 - _HOT_FRACTION) & ~reference
    dq = np.where(reference, np.uint32(Pixel.REFERENCE_PIXEL), np.uint32(0))
    dq |= np.where(dead, np.uint32(Pixel.DO_NOT_USE | Pixel.DEAD), np.uint32(0))
    dq |= np.where(hot, np.uint32(Pixel.HOT), np.uint32(0))
    out: dict[str, np.ndarray] = {"dq": dq.astype(np.uint32), "reference": reference}
    n_bias, n_sat = pair("bias/saturation", gaussian=True)
    column, _ = pixel_normal(seed, detector.name, "bias/column", np.zeros_like(cols), cols, ncols)
    bias = detector.bias * (1.0 + 0.03 * n_bias + 0.01 * column)
    lin_zero = np.zeros_like(bias) if detector.is_miri else bias
    saturation = np.minimum(np.rint(detector.saturation * (1.0 + 0.02 * n_sat)), 65000.0)
    u_nonlin, u_dark = pair("nonlinearity/dark", gaussian=False)
    frac = 0.08 + 0.04 * u_nonlin  # non-linearity at saturation: 8–12 %
    out.update(bias=f32(bias), lin_zero=f32(lin_zero), saturation=f32(saturation),
               alpha=f32(frac * (1.0 - frac) / (saturation - lin_zero)))
    dark = np.where(hot, detector.dark * 1000.0 * (1.0 + 9.0 * u_hot), detector.dark * (0.8 + 0.4 * u_dark))
    out["dark"] = f32(np.where(reference | dead, 0.0, dark))
    n_flat, n_gain = pair("flat/gain", gaussian=True)
    flat = 1.0 + 0.02 * n_flat + 0.01 * ((cols / ncols - 0.5) + (rows / detector.shape[0] - 0.5))
    n_rn, _ = pair("readnoise", gaussian=True)
    out.update(flat=f32(flat), response=f32(np.where(dead | reference, 0.0, flat)),
               gain=f32(detector.gain * (1.0 + 0.03 * n_gain)),
               readnoise=f32(detector.readnoise * np.clip(1.0 + 0.08 * n_rn, 0.5, 1.5)))
    return out


@dataclass(frozen=True, slots=True, kw_only=True)
class DetectorModel:
    """Per-pixel properties of one region (a subarray or the full frame) of one detector.

    All arrays have shape ``(ny, nx)`` of the region and are float32 unless noted.

    Attributes
    ----------
    gain : e-/DN.     readnoise : CDS read noise, DN.     bias : raw bias (superbias), DN.
    lin_zero : the zero point of the non-linearity, DN (= bias for NIR, 0 for MIRI).
    alpha : quadratic non-linearity, 1/DN (see :mod:`streamcal.simulate.linearity`).
    saturation : raw saturation threshold incl. bias, integer-valued DN.
    dark : dark current, e-/s (hot pixels included).
    flat : relative response (the FLAT reference); ``response`` is ``flat`` with dead and reference pixels 0.
    dq : the MASK reference DQ (uint32).   reference : bool, reference pixels.
    """

    detector: Detector
    subarray: Subarray
    gain: F32
    readnoise: F32
    bias: F32
    lin_zero: F32
    alpha: F32
    saturation: F32
    dark: F32
    flat: F32
    response: F32
    dq: npt.NDArray[np.uint32]
    reference: npt.NDArray[np.bool_]

    @classmethod
    def build(cls, detector: Detector, subarray: Subarray, *, seed: int = DEFAULT_DETECTOR_SEED) -> DetectorModel:
        """Evaluate the model on a region of the full frame, in blocks of rows (bounded temporaries).

        Parameters
        ----------
        detector : Detector
        subarray : Subarray
            The region (``FULL`` for reference files).
        seed : int
            Observatory seed; the same seed gives the same detector.
        """
        shape = (subarray.ny, subarray.nx)
        out: dict[str, np.ndarray] = {}
        cols = np.arange(subarray.x0, subarray.x0 + subarray.nx, dtype=np.int64)[None, :]
        for start in range(0, subarray.ny, _BLOCK_ROWS):
            stop = min(start + _BLOCK_ROWS, subarray.ny)
            rows = np.arange(subarray.y0 + start, subarray.y0 + stop, dtype=np.int64)[:, None]
            for name, block in _evaluate(detector, seed, rows, cols).items():
                if name not in out:
                    out[name] = np.empty(shape, dtype=block.dtype)
                out[name][start:stop] = block
        return cls(detector=detector, subarray=subarray, **out)

    @property
    def shape(self) -> tuple[int, int]:
        """``(ny, nx)`` of the region."""
        return (self.subarray.ny, self.subarray.nx)
