"""Detectors, subarrays, readout patterns and frame times of the synthetic observatory.

Values follow ``jwst_spec.md`` §7.2. The geometry is the observatory's: FASTAXIS/SLOWAXIS as real files carry them,
V2/V3 reference point, V3 → Y_ideal angle and pixel scale from the SIAF, and the SIAF's subarray positions where
the SIAF has them (issue 10). Nominal detector properties (gain, CDS read noise, bias level, saturation, dark
current) are plausible, not measured: they only have to be self-consistent, because the reference files written
by :mod:`streamcal.simulate.references` are derived from the same :class:`Detector` description.

Coordinates are DMS (science) orientation, numpy order ``(y, x)``. SUBSTRT1/2 are 1-based (FITS).
"""

from __future__ import annotations

from dataclasses import dataclass
from types import MappingProxyType
from typing import Literal

__all__ = [
    "DETECTORS",
    "DETECTOR_SUBARRAYS",
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
    siaf_aperture : str
        The SIAF aperture the reference point and pixel scale come from (pysiaf name).
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
    siaf_aperture: str
    vparity: int = -1

    @property
    def is_miri(self) -> bool:
        """True for MIRI detectors."""
        return self.family == "MIRI"


_NIR = (2048, 2048)
_MIRI = (1024, 1032)


def _det(name: str, instrument: str, siaf: str, axes: tuple[int, int], ref: tuple[float, float, float], scale: float,
         *, gain: float, readnoise: float, bias: float, saturation: float, dark: float) -> Detector:
    family: Family = "MIRI" if instrument == "MIRI" else "NIR"
    v2, v3, yang = ref
    return Detector(name=name, instrument=instrument, family=family, shape=_MIRI if family == "MIRI" else _NIR,
                    fastaxis=axes[0], slowaxis=axes[1], gain=gain, readnoise=readnoise, bias=bias,
                    saturation=saturation, dark=dark, pixel_scale=scale, v2_ref=v2, v3_ref=v3, v3i_yang=yang,
                    siaf_aperture=siaf)


# FASTAXIS/SLOWAXIS (DMS → readout), per family: NIRCam A1, A3, A5 (ALONG), B2, B4 read out like (-1, 2) and A2, A4,
# B1, B3, B5 (BLONG) like (1, -2) (the SIAF's DetSciYAngle 0 / 180 with parity -1); MIRI (1, 2); NRS1 (2, 1),
# NRS2 (-2, -1); NIS and GUIDER1 (-2, -1), GUIDER2 (2, -1). The values are the real files' (the jwst wheel's
# test data for NRCA2-4, NRS1, NIS, GUIDER1/2 and MIRIMAGE), checked in test_siaf_geometry.py.
_SW, _SW_FLIP = (-1, 2), (1, -2)
_NRC_SW = {"saturation": 58000.0, "dark": 0.002}
_NRC_LW = {"saturation": 57000.0, "dark": 0.03}
_MIR = {"gain": 5.5, "readnoise": 6.0, "bias": 10000.0, "saturation": 56000.0, "dark": 0.5}

#: The detectors the simulator models: every detector of the five instruments. V2_REF, V3_REF, V3I_YANG and the
#: pixel scale (the geometric mean of the SIAF's XSciScale and YSciScale) are the SIAF's for ``siaf_aperture``
#: (pysiaf, PRD PRDOPSSOC-075; checked in test_siaf_geometry.py). The MRS apertures (MIRIFU_CHANNEL1A/3A) have no
#: pixel scale: MIRIFUSHORT's and MIRIFULONG's are the channel-1 and channel-3 along-slice pixel sizes. Gain, read
#: noise, bias, saturation and dark current are plausible [U], per family, not measured.
DETECTORS: MappingProxyType[str, Detector] = MappingProxyType({
    d.name: d
    for d in (
        _det("NRCA1", "NIRCAM", "NRCA1_FULL", _SW, (120.5768, -527.5014, -0.55188), 0.03123,
             gain=2.05, readnoise=6.5, bias=12000.0, **_NRC_SW),
        _det("NRCA2", "NIRCAM", "NRCA2_FULL", _SW_FLIP, (119.7401, -459.7843, -0.20725), 0.03078,
             gain=2.01, readnoise=6.3, bias=11800.0, **_NRC_SW),
        _det("NRCA3", "NIRCAM", "NRCA3_FULL", _SW, (51.9462, -527.9275, 0.2821), 0.03136,
             gain=2.16, readnoise=6.8, bias=12300.0, **_NRC_SW),
        _det("NRCA4", "NIRCAM", "NRCA4_FULL", _SW_FLIP, (52.3590, -459.9012, 0.10018), 0.03091,
             gain=2.01, readnoise=6.4, bias=12100.0, **_NRC_SW),
        _det("NRCALONG", "NIRCAM", "NRCA5_FULL", _SW, (85.9266, -493.5025, -0.06338), 0.06291,
             gain=1.82, readnoise=5.5, bias=10500.0, **_NRC_LW),
        _det("NRCB1", "NIRCAM", "NRCB1_FULL", _SW_FLIP, (-122.4280, -457.7068, 0.34482), 0.03075,
             gain=2.08, readnoise=6.6, bias=11900.0, **_NRC_SW),
        _det("NRCB2", "NIRCAM", "NRCB2_FULL", _SW, (-122.6799, -525.4209, 0.84656), 0.0312,
             gain=2.02, readnoise=6.2, bias=12200.0, **_NRC_SW),
        _det("NRCB3", "NIRCAM", "NRCB3_FULL", _SW_FLIP, (-54.6108, -457.7029, -0.45165), 0.03087,
             gain=2.17, readnoise=6.9, bias=11700.0, **_NRC_SW),
        _det("NRCB4", "NIRCAM", "NRCB4_FULL", _SW, (-54.3867, -525.6303, -0.33827), 0.03133,
             gain=2.00, readnoise=6.5, bias=12400.0, **_NRC_SW),
        _det("NRCBLONG", "NIRCAM", "NRCB5_FULL", _SW_FLIP, (-89.4028, -491.3601, 0.0232), 0.063,
             gain=1.85, readnoise=5.7, bias=10700.0, **_NRC_LW),
        _det("NRS1", "NIRSPEC", "NRS1_FULL", (2, 1), (293.3111, -503.3190, 139.22822), 0.10432,
             gain=1.0, readnoise=11.0, bias=14000.0, saturation=60000.0, dark=0.005),
        _det("NRS2", "NIRSPEC", "NRS2_FULL", (-2, -1), (462.6774, -353.8963, 137.79594), 0.10437,
             gain=1.0, readnoise=11.5, bias=13600.0, saturation=60000.0, dark=0.006),
        _det("NIS", "NIRISS", "NIS_CEN", (-2, -1), (-291.1410, -698.0150, 0.56127), 0.06557,
             gain=1.61, readnoise=11.0, bias=12500.0, saturation=59000.0, dark=0.02),
        _det("GUIDER1", "FGS", "FGS1_FULL", (-2, -1), (206.4070, -697.7650, -1.2412), 0.06916,
             gain=1.99, readnoise=8.0, bias=11000.0, saturation=58000.0, dark=0.02),
        _det("GUIDER2", "FGS", "FGS2_FULL", (2, -1), (22.8650, -699.2800, 0.29148), 0.06881,
             gain=2.04, readnoise=8.5, bias=11400.0, saturation=58000.0, dark=0.02),
        _det("MIRIMAGE", "MIRI", "MIRIM_FULL", (1, 2), (-453.3483, -373.6679, 4.83545), 0.11092, **_MIR),
        _det("MIRIFUSHORT", "MIRI", "MIRIFU_CHANNEL1A", (1, 2), (-503.3406, -318.8640, 0.0), 0.196, **_MIR),
        _det("MIRIFULONG", "MIRI", "MIRIFU_CHANNEL3A", (1, 2), (-503.9910, -318.8476, 0.0), 0.245, **_MIR),
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


#: Subarrays per instrument (sizes per jwst_spec §7.2), shared by the instrument's detectors unless
#: :data:`DETECTOR_SUBARRAYS` places one elsewhere on a detector. MIRI's, and NIRISS's SUB64, SUB80 (AMI) and
#: SUBTAAMI, sizes and starts are the SIAF's (pysiaf, checked in tests/streamcal/simulate/test_siaf_geometry.py);
#: the other near-infrared starts are plausible, [U] (NIRCam's SUB64P/SUB160P/SUB400P are not here: the SIAF has
#: them only on NRCA3-5, NRCB1 and NRCB5, placed by :data:`DETECTOR_SUBARRAYS`, and the catalogue's short-wave
#: modes run on NRCA3; SUB32TATS and SUB320A210R have no SIAF aperture of that name; the SIAF's WFSS64R is 64
#: columns wide). FGS1 and FGS2 have the same subarrays in the SIAF; NIRSpec's NRS1 and NRS2 only FULL.
SUBARRAYS: MappingProxyType[str, MappingProxyType[str, Subarray]] = MappingProxyType({
    "NIRCAM": _nir_subarrays(
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
        Subarray("MASK1140", 224, 288, 1, 243, 4), Subarray("MASK1550", 224, 288, 1, 463, 4),
        Subarray("MASKLYOT", 304, 320, 1, 719, 4), Subarray("SLITLESSPRISM", 416, 72, 1, 529, 4),
    ),
})


def _nrc_imaging(sub160: tuple[int, int], sub320: tuple[int, int], sub640: tuple[int, int],
                 *points: Subarray) -> MappingProxyType[str, Subarray]:
    return _table(Subarray("SUB160", 160, 160, *sub160), Subarray("SUB320", 320, 320, *sub320),
                  Subarray("SUB640", 640, 640, *sub640), *points)


def _nrc_points(sub64p: tuple[int, int], sub160p: tuple[int, int], sub400p: tuple[int, int]) -> tuple[Subarray, ...]:
    return (Subarray("SUB64P", 64, 64, *sub64p), Subarray("SUB160P", 160, 160, *sub160p),
            Subarray("SUB400P", 400, 400, *sub400p))


# SUB160/SUB320/SUB640 starts: the top-left or the top-right corner of the science frame, per detector
_TOP_LEFT = ((1, 1889), (1, 1729), (1, 1409))
_TOP_RIGHT = ((1889, 1889), (1729, 1729), (1409, 1409))

#: Subarrays whose place depends on the detector, as the SIAF puts them (``<aperture>_<name>``, e.g.
#: ``NRCA2_SUB160``; sizes and starts checked in test_siaf_geometry.py): NIRCam's SUB160/SUB320/SUB640 on every
#: detector, and SUB64P/SUB160P/SUB400P on the detectors that have them (asking another detector for one is a
#: KeyError, as the SIAF has none there).
#: A name here takes precedence over the instrument table.
DETECTOR_SUBARRAYS: MappingProxyType[str, MappingProxyType[str, Subarray]] = MappingProxyType({
    "NRCA1": _nrc_imaging(*_TOP_LEFT),
    "NRCA2": _nrc_imaging(*_TOP_RIGHT),
    "NRCA3": _nrc_imaging(*_TOP_RIGHT, *_nrc_points((1985, 101), (1, 1), (1, 1))),
    "NRCA4": _nrc_imaging(*_TOP_LEFT, *_nrc_points((1812, 208), (1764, 160), (1644, 40))),
    "NRCALONG": _nrc_imaging((945, 945), (865, 865), (705, 705), *_nrc_points((51, 1911), (3, 1863), (3, 1651))),
    "NRCB1": _nrc_imaging(*_TOP_LEFT, *_nrc_points((1851, 169), (1803, 121), (1649, 1))),
    "NRCB2": _nrc_imaging(*_TOP_RIGHT),
    "NRCB3": _nrc_imaging(*_TOP_RIGHT),
    "NRCB4": _nrc_imaging(*_TOP_LEFT),
    "NRCBLONG": _nrc_imaging((933, 949), (853, 869), (693, 709), *_nrc_points((1944, 55), (1889, 1), (1649, 1))),
})

#: MIRI FAST-mode frame times by subarray, seconds.
MIRI_TFRAME: MappingProxyType[str, float] = MappingProxyType({
    "FULL": 2.77504, "BRIGHTSKY": 0.86528, "SUB256": 0.29952, "SUB128": 0.11904, "SUB64": 0.08524,
    "MASK1065": 0.23988, "MASK1140": 0.23988, "MASK1550": 0.23988, "MASKLYOT": 0.30004, "SLITLESSPRISM": 0.15904,
})


def subarray_for(detector: Detector, name: str) -> Subarray:
    """The named subarray of a detector: its own placement (:data:`DETECTOR_SUBARRAYS`), else its instrument's.

    Raises
    ------
    KeyError
        Unknown subarray for that detector. Not retriable.
    """
    own = DETECTOR_SUBARRAYS.get(detector.name, MappingProxyType({}))
    if name in own:
        return own[name]
    table = SUBARRAYS[detector.instrument]
    if name not in table:
        raise KeyError(f"no subarray {name!r} for {detector.name} ({detector.instrument}); "
                       f"known: {sorted({*table, *own})}")
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
