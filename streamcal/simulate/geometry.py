"""Detectors, subarrays, readout patterns and frame times of the synthetic observatory.

Values follow ``jwst_spec.md`` §7.2. Nominal detector properties (gain, CDS read noise, bias level,
saturation, dark current, pixel scale, V2/V3 reference point) are plausible, not measured: they only have to be
self-consistent, because the reference files written by :mod:`streamcal.simulate.references` are derived from
the same :class:`Detector` description.

Coordinates are DMS (science) orientation, numpy order ``(y, x)``. SUBSTRT1/2 are 1-based (FITS).
"""

from __future__ import annotations

from dataclasses import dataclass
from types import MappingProxyType
from typing import Literal

__all__ = [
    "DETECTORS",
    "MIRI_TFRAME",
    "READOUT_PATTERNS",
    "SUBARRAYS",
    "Detector",
    "Readout",
    "Subarray",
    "frame_time",
    "subarray_for",
]

Family = Literal["NIR", "MIRI"]


@dataclass(frozen=True, slots=True, kw_only=True)
class Detector:
    """One detector and its nominal properties.

    Attributes
    ----------
    name, instrument : str
        DETECTOR and INSTRUME header values.
    family : {"NIR", "MIRI"}
        NIR detectors have a 4-pixel reference border, a superbias and 512-column amplifiers; MIRI has
        reference columns 0–3 and 1028–1031, no superbias and column-interleaved amplifiers.
    shape : tuple of int
        Full-frame ``(ny, nx)``.
    fastaxis, slowaxis : int
        FASTAXIS/SLOWAXIS header values (DMS → detector readout orientation).
    gain : float
        e-/DN.
    readnoise : float
        CDS read noise, DN.
    bias : float
        Mean raw bias (reset) level, DN.
    saturation : float
        Mean raw saturation threshold (bias included), DN.
    dark : float
        Mean dark current, e-/s.
    pixel_scale : float
        arcsec per pixel.
    v2_ref, v3_ref, v3i_yang : float
        Aperture reference point (arcsec) and the V3 → Y_ideal angle (deg).
    vparity : int
        Sign of the ideal-frame parity.
    """

    name: str
    instrument: str
    family: Family
    shape: tuple[int, int]
    fastaxis: int
    slowaxis: int
    gain: float
    readnoise: float
    bias: float
    saturation: float
    dark: float
    pixel_scale: float
    v2_ref: float
    v3_ref: float
    v3i_yang: float
    vparity: int = -1

    @property
    def is_miri(self) -> bool:
        """True for MIRI detectors."""
        return self.family == "MIRI"


_NIR = (2048, 2048)
_MIRI = (1024, 1032)

#: The detectors the simulator models (FASTAXIS/SLOWAXIS and V2/V3 values are [U], plausible).
DETECTORS: MappingProxyType[str, Detector] = MappingProxyType({
    d.name: d
    for d in (
        Detector(name="NRCA1", instrument="NIRCAM", family="NIR", shape=_NIR, fastaxis=-1, slowaxis=2,
                 gain=2.05, readnoise=6.5, bias=12000.0, saturation=58000.0, dark=0.002, pixel_scale=0.031,
                 v2_ref=120.6, v3_ref=-527.5, v3i_yang=-0.55),
        Detector(name="NRCALONG", instrument="NIRCAM", family="NIR", shape=_NIR, fastaxis=-1, slowaxis=2,
                 gain=1.82, readnoise=5.5, bias=10500.0, saturation=57000.0, dark=0.03, pixel_scale=0.063,
                 v2_ref=86.1, v3_ref=-493.2, v3i_yang=-0.2),
        Detector(name="NRS1", instrument="NIRSPEC", family="NIR", shape=_NIR, fastaxis=2, slowaxis=1,
                 gain=1.0, readnoise=11.0, bias=14000.0, saturation=60000.0, dark=0.005, pixel_scale=0.1,
                 v2_ref=378.8, v3_ref=-428.0, v3i_yang=138.5),
        Detector(name="NIS", instrument="NIRISS", family="NIR", shape=_NIR, fastaxis=-2, slowaxis=-1,
                 gain=1.61, readnoise=11.0, bias=12500.0, saturation=59000.0, dark=0.02, pixel_scale=0.0656,
                 v2_ref=-290.1, v3_ref=-697.5, v3i_yang=-0.57),
        Detector(name="GUIDER1", instrument="FGS", family="NIR", shape=_NIR, fastaxis=-2, slowaxis=1,
                 gain=1.99, readnoise=8.0, bias=11000.0, saturation=58000.0, dark=0.02, pixel_scale=0.069,
                 v2_ref=207.2, v3_ref=-697.5, v3i_yang=-1.24),
        Detector(name="MIRIMAGE", instrument="MIRI", family="MIRI", shape=_MIRI, fastaxis=1, slowaxis=2,
                 gain=5.5, readnoise=6.0, bias=10000.0, saturation=56000.0, dark=0.5, pixel_scale=0.11,
                 v2_ref=-453.6, v3_ref=-373.8, v3i_yang=4.45),
        Detector(name="MIRIFUSHORT", instrument="MIRI", family="MIRI", shape=_MIRI, fastaxis=1, slowaxis=2,
                 gain=5.5, readnoise=6.0, bias=10000.0, saturation=56000.0, dark=0.5, pixel_scale=0.196,
                 v2_ref=-502.7, v3_ref=-318.8, v3i_yang=4.45),
    )
})


@dataclass(frozen=True, slots=True)
class Readout:
    """A readout pattern: frames averaged per group and frames dropped between groups."""

    name: str
    nframes: int
    groupgap: int


#: READPATT → (NFRAMES, GROUPGAP). FRMDIVSR = NFRAMES for all of these (powers of two).
READOUT_PATTERNS: MappingProxyType[str, Readout] = MappingProxyType({
    r.name: r
    for r in (
        Readout("RAPID", 1, 0), Readout("BRIGHT1", 1, 1), Readout("BRIGHT2", 2, 0),
        Readout("SHALLOW2", 2, 3), Readout("SHALLOW4", 4, 1), Readout("MEDIUM2", 2, 8),
        Readout("MEDIUM8", 8, 2), Readout("DEEP2", 2, 18), Readout("DEEP8", 8, 12),
        Readout("NRSRAPID", 1, 0), Readout("NRS", 4, 0), Readout("NISRAPID", 1, 0), Readout("NIS", 4, 0),
        Readout("FASTR1", 1, 0), Readout("FAST", 1, 0), Readout("FGSRAPID", 1, 0), Readout("FGS", 4, 0),
        Readout("ID", 1, 0), Readout("ACQ1", 1, 0), Readout("ACQ2", 1, 0), Readout("TRACK", 1, 0),
        Readout("FINEGUIDE", 1, 0),
    )
})


@dataclass(frozen=True, slots=True)
class Subarray:
    """A named region of the full frame: size ``(ny, nx)``, 1-based start, number of outputs."""

    name: str
    ny: int
    nx: int
    substrt1: int = 1
    substrt2: int = 1
    noutputs: int = 1

    @property
    def x0(self) -> int:
        """0-based first full-frame column."""
        return self.substrt1 - 1

    @property
    def y0(self) -> int:
        """0-based first full-frame row."""
        return self.substrt2 - 1


def _table(*subs: Subarray) -> MappingProxyType[str, Subarray]:
    return MappingProxyType({s.name: s for s in subs})


def _nir_subarrays(*subs: Subarray) -> MappingProxyType[str, Subarray]:
    return _table(Subarray("FULL", 2048, 2048, 1, 1, 4), *subs)


#: Subarrays per instrument (sizes per jwst_spec §7.2). MIRI's, and NIRISS's SUB64, SUB80 (AMI) and SUBTAAMI,
#: sizes and starts are the SIAF's (pysiaf, checked in tests/streamcal/simulate/test_siaf_geometry.py); the
#: other near-infrared starts are plausible, [U] (NIRCam's SUB64P/SUB160P/SUB400P exist in the SIAF only on
#: NRCA3-5, NRCB1 and NRCB5, not on the NRCA1 simulated here; the SIAF's WFSS64R is 64 columns wide).
SUBARRAYS: MappingProxyType[str, MappingProxyType[str, Subarray]] = MappingProxyType({
    "NIRCAM": _nir_subarrays(
        Subarray("SUB64P", 64, 64), Subarray("SUB160P", 160, 160), Subarray("SUB400P", 400, 400),
        Subarray("SUB32TATS", 32, 32, 1009, 1009),
        Subarray("SUB320A210R", 320, 320), Subarray("SUBGRISM64", 64, 2048, 1, 1, 4),
        Subarray("SUBGRISM256", 256, 2048, 1, 1, 4),
    ),
    "NIRISS": _nir_subarrays(
        Subarray("SUB64", 64, 64), Subarray("SUB80", 80, 80, 925, 1969), Subarray("SUBTAAMI", 64, 64, 932, 1905),
        Subarray("SUBSTRIP96", 96, 2048, 1, 1953), Subarray("SUBSTRIP256", 256, 2048, 1, 1793),
        Subarray("WFSS64R", 64, 2048, 1, 1, 4),
    ),
    "NIRSPEC": _nir_subarrays(
        Subarray("SUB32", 32, 32, 1, 1), Subarray("SUB2048", 32, 2048, 1, 947),
        Subarray("SUBS200A1", 64, 2048, 1, 1029), Subarray("ALLSLITS", 256, 2048, 1, 897),
    ),
    "FGS": _nir_subarrays(
        Subarray("SUB128LL", 128, 128), Subarray("SUB128CNTR", 128, 128, 961, 961),
        Subarray("SUB32CNTR", 32, 32, 1009, 1009), Subarray("SUB8CNTR", 8, 8, 1021, 1021),
    ),
    "MIRI": _table(
        Subarray("FULL", 1024, 1032, 1, 1, 4), Subarray("BRIGHTSKY", 512, 512, 457, 51, 4),
        Subarray("SUB256", 256, 256, 413, 51, 4), Subarray("SUB128", 128, 136, 1, 891, 4),
        Subarray("SUB64", 64, 72, 1, 779, 4), Subarray("MASK1065", 224, 288, 1, 21, 4),
        Subarray("MASKLYOT", 304, 320, 1, 719, 4), Subarray("SLITLESSPRISM", 416, 72, 1, 529, 4),
    ),
})

#: MIRI FAST-mode frame times by subarray, seconds.
MIRI_TFRAME: MappingProxyType[str, float] = MappingProxyType({
    "FULL": 2.77504, "BRIGHTSKY": 0.86528, "SUB256": 0.29952, "SUB128": 0.11904, "SUB64": 0.08524,
    "MASK1065": 0.23988, "MASKLYOT": 0.30004, "SLITLESSPRISM": 0.15904,
})


def subarray_for(detector: Detector, name: str) -> Subarray:
    """The named subarray of a detector's instrument.

    Raises
    ------
    KeyError
        Unknown subarray for that instrument. Not retriable.
    """
    table = SUBARRAYS[detector.instrument]
    if name not in table:
        raise KeyError(f"no subarray {name!r} for {detector.instrument}; known: {sorted(table)}")
    return table[name]


def frame_time(detector: Detector, subarray: Subarray) -> float:
    """TFRAME in seconds.

    NIR (JDox): one output ``(nfast + 12)·(nslow + 2)·10 µs``; four outputs
    ``((nfast/4 + 12)·(nslow + 1) + 1)·10 µs``, with the sizes in the detector's readout orientation (the fast
    axis is DMS x when ``|FASTAXIS| = 1``, DMS y otherwise). MIRI: tabulated FAST-mode values.
    """
    if detector.is_miri:
        return MIRI_TFRAME[subarray.name]
    if abs(detector.fastaxis) == 1:
        nfast, nslow = subarray.nx, subarray.ny
    else:
        nfast, nslow = subarray.ny, subarray.nx
    if subarray.noutputs == 4:
        return round(((nfast / 4 + 12) * (nslow + 1) + 1) * 1e-5, 5)
    return round((nfast + 12) * (nslow + 2) * 1e-5, 5)
