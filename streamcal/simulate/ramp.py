"""Up-the-ramp readout: the forward model that stage-1 calibration undoes.

Per integration and frame (``jwst_spec.md`` §4.0–4.10):

1. charge accumulates: each frame adds Poisson((rate·flat·gain + dark)·TFRAME) electrons; GROUPGAP frames
   between groups are accumulated in one draw (a sum of Poissons is Poisson); cosmic rays add their charge
   in their frame;
2. each frame is measured: ``x = (bias − lin_zero) + electrons/gain`` (DN), ``raw = lin_zero + x − alpha·x²``,
   clipped at the pixel's hard well, which sits ``WELL_MARGIN_DN`` above the SATURATION threshold (real
   thresholds sit below hard saturation), so a saturated read plus noise and offsets still reaches the
   threshold and is reported at exactly the threshold by step 3;
3. a group is the mean of its NFRAMES frames, plus read noise with σ = RN_CDS/√2/√NFRAMES and a per-amplifier
   (odd/even) offset, clipped to the saturation threshold and to the ADC range [0, 65535], rounded to uint16.

Amplifier offsets are a constant per integration plus, on NIR regions that include reference pixels, a
group-to-group drift (which the reference-pixel correction removes); MIRI and reference-less NIR subarrays get
the constant only, so slopes are unaffected where jwst has nothing to correct with.

Memory: one integration's 2-D frames in float32/float64 plus the uint16 output; the 4-D ramp is never held in
floating point.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np
import numpy.typing as npt

from streamcal.simulate.detector import DetectorModel, amp_index

__all__ = ["CR_DTYPE", "WELL_MARGIN_DN", "CosmicRayTruth", "Effects", "RampResult", "RampTiming", "simulate_ramp"]

_BLOCK_ROWS = 256
#: The hard well is this far above the SATURATION reference threshold (raw DN).
WELL_MARGIN_DN = 300.0

#: Truth table of injected cosmic rays (one row per hit; ``group`` = first group showing the jump).
CR_DTYPE = np.dtype([("int", "i4"), ("y", "i4"), ("x", "i4"), ("frame", "i4"), ("group", "i4"),
                     ("amplitude_dn", "f4")])


@dataclass(frozen=True, slots=True, kw_only=True)
class Effects:
    """Which physical effects to simulate; the default is everything.

    Attributes
    ----------
    poisson, read_noise, dark, cosmic_rays, nonlinearity, amp_offsets : bool
    cr_rate : float
        Cosmic-ray hits per pixel per second (JWST: ≈ 5 /cm²/s ≈ 1.6e-5 per 18 µm pixel).
    cr_fraction : float, optional
        If set, overrides ``cr_rate``: the expected fraction of light-sensitive pixels hit per integration
        (short test ramps would otherwise see almost no cosmic rays).
    cr_min_e, cr_max_e, cr_index : float
        Hit amplitudes follow a power law ``p(A) ∝ A^-cr_index`` between the two limits (electrons).
    amp_offset_dn, amp_drift_dn : float
        σ of the per-integration amplifier offset and of its group-to-group drift, DN.
    """

    poisson: bool = True
    read_noise: bool = True
    dark: bool = True
    cosmic_rays: bool = True
    nonlinearity: bool = True
    amp_offsets: bool = True
    cr_rate: float = 1.6e-5
    cr_fraction: float | None = None
    cr_min_e: float = 100.0
    cr_max_e: float = 5000.0
    cr_index: float = 2.0
    amp_offset_dn: float = 30.0
    amp_drift_dn: float = 3.0

    @classmethod
    def noiseless(cls) -> Effects:
        """No noise, dark, cosmic rays, non-linearity or amplifier offsets: groups are exact rate·time."""
        return cls(poisson=False, read_noise=False, dark=False, cosmic_rays=False, nonlinearity=False,
                   amp_offsets=False)


@dataclass(frozen=True, slots=True, kw_only=True)
class RampTiming:
    """The readout of one exposure (segment): NINTS in this file, NGROUPS, NFRAMES, GROUPGAP, TFRAME."""

    nints: int
    ngroups: int
    nframes: int
    groupgap: int
    tframe: float

    @property
    def tgroup(self) -> float:
        """TGROUP = (NFRAMES + GROUPGAP)·TFRAME."""
        return (self.nframes + self.groupgap) * self.tframe

    @property
    def frames_per_int(self) -> int:
        """Frames read or dropped per integration: NGROUPS·NFRAMES + (NGROUPS−1)·GROUPGAP."""
        return self.ngroups * self.nframes + (self.ngroups - 1) * self.groupgap

    def group_of_frame(self, frame: npt.NDArray[np.integer]) -> npt.NDArray[np.int64]:
        """The first group whose average includes a frame at or after ``frame`` (0-based)."""
        step = self.nframes + self.groupgap
        first = -(-(np.asarray(frame, dtype=np.int64) - self.nframes + 1) // step)
        return np.maximum(first, 0)


class CosmicRayTruth(NamedTuple):
    """Injected hits: the table, and per integration and pixel the count and first affected group."""

    table: np.ndarray  # CR_DTYPE
    n_hits: npt.NDArray[np.uint8]  # (nints, ny, nx)
    first_group: npt.NDArray[np.int16]  # (nints, ny, nx), -1 = none


class RampResult(NamedTuple):
    """The simulated raw ramp and its cosmic-ray truth."""

    data: npt.NDArray[np.uint16]  # (nints, ngroups, ny, nx)
    zeroframe: npt.NDArray[np.uint16] | None  # (nints, ny, nx)
    cosmic_rays: CosmicRayTruth


def _cosmic_rays(model: DetectorModel, timing: RampTiming, effects: Effects,
                 rng: np.random.Generator) -> CosmicRayTruth:
    ny, nx = model.shape
    sensitive = np.flatnonzero(model.response.ravel() > 0)
    count = np.zeros((timing.nints, ny, nx), dtype=np.uint8)
    first = np.full((timing.nints, ny, nx), -1, dtype=np.int16)
    if not effects.cosmic_rays or sensitive.size == 0:
        return CosmicRayTruth(np.zeros(0, CR_DTYPE), count, first)
    if effects.cr_fraction is not None:
        expected = effects.cr_fraction * sensitive.size
    else:
        expected = effects.cr_rate * sensitive.size * timing.frames_per_int * timing.tframe
    n = rng.poisson(expected, size=timing.nints)
    rows = np.zeros(int(n.sum()), CR_DTYPE)
    rows["int"] = np.repeat(np.arange(timing.nints), n)
    pix = rng.choice(sensitive, size=rows.size)
    rows["y"], rows["x"] = np.divmod(pix, nx)
    rows["frame"] = rng.integers(0, timing.frames_per_int, size=rows.size)
    rows["group"] = timing.group_of_frame(rows["frame"])
    # inverse-CDF sampling of a truncated power law with index k ≠ 1
    k1 = 1.0 - effects.cr_index
    lo, hi = effects.cr_min_e**k1, effects.cr_max_e**k1
    amp_e = (lo + rng.random(rows.size) * (hi - lo)) ** (1.0 / k1)
    rows["amplitude_dn"] = amp_e / model.gain[rows["y"], rows["x"]]
    rows = rows[np.lexsort((rows["frame"], rows["int"]))]
    np.add.at(count, (rows["int"], rows["y"], rows["x"]), 1)
    earliest = np.full(first.shape, np.iinfo(np.int16).max, dtype=np.int16)
    np.minimum.at(earliest, (rows["int"], rows["y"], rows["x"]), rows["group"].astype(np.int16))
    first = np.where(earliest == np.iinfo(np.int16).max, np.int16(-1), earliest)
    return CosmicRayTruth(rows, count, first)


def _amp_offsets(model: DetectorModel, timing: RampTiming, effects: Effects,
                 rng: np.random.Generator) -> npt.NDArray[np.float32]:
    """Offsets per (integration, group, amplifier·parity), DN."""
    table = np.zeros((timing.nints, timing.ngroups, 8), dtype=np.float32)
    if not effects.amp_offsets:
        return table
    table += (effects.amp_offset_dn * rng.standard_normal((timing.nints, 1, 8))).astype(np.float32)
    drifts = not model.detector.is_miri and bool(model.reference.any())
    if drifts:
        table += (effects.amp_drift_dn * rng.standard_normal((timing.nints, timing.ngroups, 8))).astype(np.float32)
    return table


class _Integrator:
    """Accumulates charge and measures frames for one integration (private helper of simulate_ramp)."""

    def __init__(self, model: DetectorModel, e_rate: npt.NDArray[np.float32], effects: Effects,
                 crs: np.ndarray, timing: RampTiming, rng: np.random.Generator) -> None:
        self.model, self.effects, self.timing, self.rng = model, effects, timing, rng
        self.lam = e_rate * np.float32(timing.tframe)
        self.charge = np.zeros(model.shape, dtype=np.float32)
        self.crs = crs
        self.frame = 0
        self.offset = model.bias - model.lin_zero
        self.inv_gain = np.float32(1.0) / model.gain
        self.alpha = model.alpha if effects.nonlinearity else None
        self.well = model.saturation + np.float32(WELL_MARGIN_DN)

    def advance(self, nframes: int) -> None:
        """Accumulate ``nframes`` frames of charge (and the cosmic rays that land in them)."""
        if self.effects.poisson:
            for start in range(0, self.charge.shape[0], _BLOCK_ROWS):  # row blocks bound the int64 temporaries
                rows = slice(start, start + _BLOCK_ROWS)
                self.charge[rows] += self.rng.poisson(self.lam[rows] * nframes)
        else:
            self.charge += self.lam * np.float32(nframes)
        stop = self.frame + nframes
        hits = self.crs[(self.crs["frame"] >= self.frame) & (self.crs["frame"] < stop)]
        if hits.size:
            amp_e = hits["amplitude_dn"] * self.model.gain[hits["y"], hits["x"]]
            np.add.at(self.charge, (hits["y"], hits["x"]), amp_e)
        self.frame = stop

    def measure(self) -> npt.NDArray[np.float32]:
        """The raw DN of the current frame: non-linear, clipped at the hard well."""
        x = self.charge * self.inv_gain
        x += self.offset
        if self.alpha is not None:
            x -= self.alpha * x * x
        x += self.model.lin_zero
        return np.minimum(x, self.well, out=x)


def _digitise(value: npt.NDArray[np.float32], saturation: npt.NDArray[np.float32]) -> npt.NDArray[np.uint16]:
    np.minimum(value, saturation, out=value)
    np.clip(value, 0.0, 65535.0, out=value)
    return np.rint(value).astype(np.uint16)


def simulate_ramp(
    rate_dn: npt.NDArray[np.float32],
    model: DetectorModel,
    timing: RampTiming,
    *,
    effects: Effects,
    rng: np.random.Generator,
    int_scale: npt.NDArray[np.float64] | None = None,
    zeroframe: bool = False,
) -> RampResult:
    """Simulate the raw ramp of one exposure (or segment).

    Parameters
    ----------
    rate_dn : ndarray, shape (ny, nx), float32
        True count rate as ramp fitting should measure it: DN/s, flat response included, dark excluded.
    model : DetectorModel
        The detector region being read (same shape as ``rate_dn``).
    timing : RampTiming
    effects : Effects
    rng : numpy.random.Generator
        Source of all randomness; the same seed gives the same ramp.
    int_scale : ndarray, shape (nints,) or (nints, ny, nx), optional
        Per-integration multiplier of ``rate_dn`` (TSO light curves; per pixel for a wavelength-dependent depth).
    zeroframe : bool
        Also return frame 0 of every integration (NIRCam ZEROFRAME).

    Returns
    -------
    RampResult
    """
    ny, nx = model.shape
    cr_rng, amp_rng, noise_rng = rng.spawn(3)
    crs = _cosmic_rays(model, timing, effects, cr_rng)
    offsets = _amp_offsets(model, timing, effects, amp_rng)
    amp_map = amp_index(model.detector, model.subarray)
    sigma = model.readnoise / np.float32(math.sqrt(2.0)) if effects.read_noise else None
    data = np.empty((timing.nints, timing.ngroups, ny, nx), dtype=np.uint16)
    zero = np.empty((timing.nints, ny, nx), dtype=np.uint16) if zeroframe else None
    scale = np.ones(timing.nints) if int_scale is None else np.asarray(int_scale, dtype=np.float64)
    for i in range(timing.nints):
        e_rate = rate_dn * model.gain
        e_rate *= np.float32(scale[i])
        if effects.dark:
            e_rate += model.dark
        integ = _Integrator(model, e_rate, effects, crs.table[crs.table["int"] == i], timing, noise_rng)
        del e_rate
        for g in range(timing.ngroups):
            if g > 0 and timing.groupgap:
                integ.advance(timing.groupgap)
            acc = np.zeros((ny, nx), dtype=np.float32)
            for k in range(timing.nframes):
                integ.advance(1)
                frame = integ.measure()
                if zero is not None and g == 0 and k == 0:
                    zero[i] = _digitise(_noisy(frame, sigma, 1, offsets[i, 0][amp_map], noise_rng),
                                        model.saturation)
                acc += frame
            acc /= np.float32(timing.nframes)
            data[i, g] = _digitise(_noisy(acc, sigma, timing.nframes, offsets[i, g][amp_map], noise_rng),
                                   model.saturation)
    return RampResult(data, zero, crs)


def _noisy(value: npt.NDArray[np.float32], sigma: npt.NDArray[np.float32] | None, nframes: int,
           offset: npt.NDArray[np.float32], rng: np.random.Generator) -> npt.NDArray[np.float32]:
    """``value`` + read noise of an average of ``nframes`` reads + amplifier offset (a new array)."""
    out = value + offset
    if sigma is not None:
        noise = rng.standard_normal(value.shape, dtype=np.float32)
        noise *= sigma / np.float32(math.sqrt(nframes))
        out += noise
    return out
