"""Where each single-trace mode puts its spectrum, and how bright it reads: the simulator's spectral truth (issue 11).

Per (EXP_TYPE, DETECTOR, FILTER, GRATING or PUPIL) a :class:`~streamcal.models.spectral.SpectralLayout` on the full
frame (0-based, DMS), and per optical path a photometric calibration (``photmj``, ``relresponse``) that the PHOTOM
reference rows carry (:mod:`streamcal.simulate.photom`) and the SPECWCS references hold the geometry of
(:mod:`streamcal.simulate.references`). Modes sharing an optical path on a detector (NIRSpec FS and BOTS, LRS slit
and slitless, NIRCam grism and TSO grism) share its calibration, because PHOTOM selects rows by the path only.

All values are [U] plausible, not from real reference files; the bands follow ``jwst_spec.md`` and JDox::

    EXP_TYPE                 detector     band (µm)                  µm/px         dispaxis  trace (full frame, 0-based)
    NRS_FIXEDSLIT (S200A1)   NRS1         2.87 → 4.09  F290LP+G395H  5.5e-4–6.5e-4  1        y ≈ 1059.5 ± 1.5
                             NRS2         4.17 → 5.26                5.0e-4–5.7e-4
    NRS_BRIGHTOBJ (S1600A1)  NRS1, NRS2   as FS + 0.004              as FS          1        y ≈ 961.5 ± 1
    MIR_LRS-FIXEDSLIT        MIRIMAGE     12 → 5 (prism, cubic)      0.029–0.011    2        x ≈ 326, rows 6–395
    MIR_LRS-SLITLESS         MIRIMAGE     12 → 5 (prism, cubic)      0.029–0.011    2        x ≈ 37, rows 540–929
    NRC_TSGRISM, NRC_GRISM   NRCA/BLONG   2.42 → 4.03  F322W2+GRISMR 9.8e-4–1.0e-3  1        y ≈ 34 ± 0.5
    NIS_SOSS (order 1)       NIS          2.83 → 0.90  CLEAR+GR700XD 9.2e-4–9.8e-4  1        y 1978 → 2018 (curved)

NIRSpec G395H spans 2.87–5.27 µm over *both* detectors (R ≈ 2700 gives ~6e-4 µm/px; one detector holds about
half the band), so NRS1 sees the blue half and NRS2 the red one. The LRS prism disperses along y with the long
wavelengths at small y [U]; SOSS order 1 runs from red at small x to blue at large x, its defocused trace
(σ = 4 px) bending by ~40 px across the detector.

Photometric calibration: ``photmj`` (MJy per DN/s) inverts the count rate that 1 Jy gives in one dispersion
pixel at the band centre, for a 25.4 m² telescope with the path's peak throughput T, its nominal dispersion Δλ
and the detector gain: ``photmj = 1e-6 · gain · h · (λc/Δλ) / (A · T · 1e-26)``, so a 1 mJy source gives a few
tens of DN/s per dispersion pixel. ``relresponse(λ) = (λ/λc) / T_rel(λ)`` with a smooth bell ``T_rel`` (1 at λc, 0.4
far away), tabulated at 100 wavelengths across the path's band; both are rounded to float32 (the PHOTOM
columns' type), and the simulator uses the rounded values, so the references reproduce the exposures exactly.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import NamedTuple

import numpy as np
import numpy.typing as npt
from numpy.polynomial import Polynomial

from streamcal.models.spectral import SpectralLayout
from streamcal.routing import ExpType
from streamcal.simulate.geometry import DETECTORS, Detector
from streamcal.simulate.modes import MODES

__all__ = ["RESPONSE_SAMPLES", "SINGLE_TRACE_MODES", "Photometry", "layout_for", "spectral_layouts",
           "spectral_photometry"]

#: The modes whose scene is one point source's spectrum through a :class:`SpectralLayout` (MOS, IFU, WFSS: later).
SINGLE_TRACE_MODES = frozenset({ExpType.NRS_FIXEDSLIT, ExpType.NRS_BRIGHTOBJ, ExpType.MIR_LRS_FIXEDSLIT,
                                ExpType.MIR_LRS_SLITLESS, ExpType.NRC_TSGRISM, ExpType.NRC_GRISM, ExpType.NIS_SOSS})
#: Wavelengths in each relresponse table.
RESPONSE_SAMPLES = 100
_H = 6.62607015e-34  # J s
_AREA_M2 = 25.4
_JY = 1e-26  # W m⁻² Hz⁻¹


class _Path(NamedTuple):
    """An optical path's photometry [U]: relresponse band (µm), centre (µm), nominal µm/px, peak throughput."""

    band: tuple[float, float]
    centre: float
    dispersion: float
    throughput: float


class _Geometry(NamedTuple):
    """A layout written about an origin ``d0``: coefficients are power series in ``u = d − d0``."""

    dispaxis: int
    d0: float
    wavelength: tuple[float, ...]
    trace: tuple[float, ...]
    sigma: float
    d_range: tuple[int, int]


class Photometry(NamedTuple):
    """A path's calibration as PHOTOM carries it: photmj (MJy per DN/s), wavelength (µm) and relresponse
    (float32-rounded values, float64 arrays)."""

    photmj: float
    wavelength: npt.NDArray[np.float64]
    relresponse: npt.NDArray[np.float64]


#: (INSTRUME, FILTER, GRATING or PUPIL; "N/A" if none) → photometry of the path.
_PATHS: MappingProxyType[tuple[str, str, str], _Path] = MappingProxyType({
    ("NIRSPEC", "F290LP", "G395H"): _Path((2.80, 5.35), 4.0, 5.5e-4, 0.45),
    ("MIRI", "P750L", "N/A"): _Path((4.5, 13.0), 7.5, 0.015, 0.30),
    ("NIRCAM", "F322W2", "GRISMR"): _Path((2.35, 4.10), 3.2, 1.0e-3, 0.40),
    ("NIRISS", "CLEAR", "GR700XD"): _Path((0.80, 2.90), 1.85, 0.95e-3, 0.35),
    # WFSS (streamcal.simulate.wfss): both grisms of a blocking filter share one sensitivity [U]
    ("NIRISS", "GR150R", "F150W"): _Path((1.30, 1.70), 1.50, 4.78e-3, 0.30),
    ("NIRISS", "GR150C", "F150W"): _Path((1.30, 1.70), 1.50, 4.78e-3, 0.30),
    ("NIRCAM", "F356W", "GRISMR"): _Path((3.10, 4.02), 3.56, 1.0e-3, 0.40),
    ("NIRCAM", "F356W", "GRISMC"): _Path((3.10, 4.02), 3.56, 1.0e-3, 0.40),
})


#: The LRS prism over 390 rows from the first lit one: λ = 12 − 7·g(v), g = 1.6v − 0.8v² + 0.2v³, v = u/390 [U].
_LRS = (12.0, -7.0 * 1.6 / 390.0, 7.0 * 0.8 / 390.0**2, -7.0 * 0.2 / 390.0**3)


_G395H_NRS1 = (2.870, 5.5e-4, 2.45e-8)  # 2.87 → 4.09 µm over d = 4 … 2043
_G395H_NRS2 = (4.170, 5.0e-4, 1.7e-8)  # 4.17 → 5.26 µm
_BOTS_SHIFT = 0.004  # S1600A1 sits elsewhere in the slit plane than S200A1 [U]
_FS_TRACE = (1059.5, 1.5e-3)  # about d0 = 1024: the middle of SUBS200A1, tilted by ±1.5 px
_BOTS_TRACE = (961.5, 1.0e-3)  # the middle of SUB2048
_GRISM = _Geometry(1, 410.0, (2.420, 9.8e-4, 1.2e-8), (34.0 - 614 * 8e-4, 8e-4), 0.9, (410, 2020))


def _nrs(wave: tuple[float, ...], trace: tuple[float, float], shift: float = 0.0) -> _Geometry:
    # trace about d0 = 1024 → about d0 = 4
    return _Geometry(1, 4.0, (wave[0] + shift, *wave[1:]), (trace[0] - 1020 * trace[1], trace[1]), 1.0, (4, 2044))


#: SOSS order 1: c = 1988 + 20t + 10t², t = (d − 1024)/1020, written about d0 = 4 (t = −1 there): 1978 → 2018,
#: over 6σ from SUBSTRIP96's lower edge and from the reference rows 2044–2047.
_SOSS_TRACE = (1988.0 - 20.0 + 10.0, (20.0 - 20.0) / 1020.0, 10.0 / 1020.0**2)

#: (EXP_TYPE, DETECTOR, FILTER, GRATING or PUPIL) → geometry.
_GEOMETRIES: MappingProxyType[tuple[str, str, str, str], _Geometry] = MappingProxyType({
    ("NRS_FIXEDSLIT", "NRS1", "F290LP", "G395H"): _nrs(_G395H_NRS1, _FS_TRACE),
    ("NRS_FIXEDSLIT", "NRS2", "F290LP", "G395H"): _nrs(_G395H_NRS2, _FS_TRACE),
    ("NRS_BRIGHTOBJ", "NRS1", "F290LP", "G395H"): _nrs(_G395H_NRS1, _BOTS_TRACE, _BOTS_SHIFT),
    ("NRS_BRIGHTOBJ", "NRS2", "F290LP", "G395H"): _nrs(_G395H_NRS2, _BOTS_TRACE, _BOTS_SHIFT),
    ("MIR_LRS-FIXEDSLIT", "MIRIMAGE", "P750L", "N/A"): _Geometry(2, 6.0, _LRS, (326.0 + 194 * 2e-3, -2e-3),
                                                                 1.0, (6, 396)),
    ("MIR_LRS-SLITLESS", "MIRIMAGE", "P750L", "N/A"): _Geometry(2, 540.0, _LRS, (37.0 - 195 * 1.5e-3, 1.5e-3),
                                                                1.0, (540, 930)),
    ("NRC_TSGRISM", "NRCALONG", "F322W2", "GRISMR"): _GRISM,
    ("NRC_TSGRISM", "NRCBLONG", "F322W2", "GRISMR"): _GRISM,
    ("NRC_GRISM", "NRCALONG", "F322W2", "GRISMR"): _GRISM,
    ("NRC_GRISM", "NRCBLONG", "F322W2", "GRISMR"): _GRISM,
    ("NIS_SOSS", "NIS", "CLEAR", "GR700XD"): _Geometry(1, 4.0, (2.830, -9.2e-4, -1.4e-8), _SOSS_TRACE, 4.0,
                                                       (4, 2044)),
})


def _second(instrument: str) -> str:
    return "GRATING" if instrument == "NIRSPEC" else "PUPIL"


def _element(detector: Detector, optics: Mapping[str, str]) -> tuple[str, str]:
    return str(optics.get("FILTER", "N/A")), str(optics.get(_second(detector.instrument), "N/A"))


def _about_zero(coeffs: tuple[float, ...], d0: float) -> tuple[float, ...]:
    """Power-series coefficients in d of a polynomial written in u = d − d0."""
    return tuple(float(c) for c in Polynomial(coeffs)(Polynomial([-d0, 1.0])).coef)


def _detector(detector: Detector | str) -> Detector:
    return detector if isinstance(detector, Detector) else DETECTORS[detector]


def spectral_photometry(detector: Detector | str, filter_name: str, element: str) -> Photometry:
    """The photometric calibration of an optical path on a detector (module docstring).

    Parameters
    ----------
    detector : Detector or str
    filter_name, element : str
        FILTER and GRATING (NIRSpec) or PUPIL (others); ``"N/A"`` where the instrument has none.

    Raises
    ------
    KeyError
        No spectral calibration for this path. Not retriable.
    """
    det = _detector(detector)
    path = _PATHS[(det.instrument, filter_name, element)]
    photmj = 1e-6 * det.gain * _H * (path.centre / path.dispersion) / (_AREA_M2 * path.throughput * _JY)
    wave = np.linspace(*path.band, RESPONSE_SAMPLES).astype(np.float32)
    width = 0.35 * (path.band[1] - path.band[0])
    t_rel = 0.4 + 0.6 * np.exp(-0.5 * ((wave - path.centre) / width) ** 2)
    relresponse = ((wave / path.centre) / t_rel).astype(np.float32)
    return Photometry(float(np.float32(photmj)), wave.astype(np.float64), relresponse.astype(np.float64))


def layout_for(mode_exp_type: ExpType | str, detector: Detector | str, optics: Mapping[str, str]) -> SpectralLayout:
    """The spectral layout (with its photometric calibration) of a single-trace mode on a detector.

    Parameters
    ----------
    mode_exp_type : ExpType or str
    detector : Detector or str
    optics : mapping of str to str
        The mode's FILTER and GRATING (NIRSpec) or PUPIL.

    Returns
    -------
    SpectralLayout
        Calibrated: ``photmj`` and ``relresponse`` equal those of the detector's PHOTOM row for the path.

    Raises
    ------
    KeyError
        The mode has no layout on this detector with these optics (MOS, IFU, WFSS and imaging modes have none;
        nor has, say, NIRCam's grism on a short-wave detector). Not retriable.
    """
    det = _detector(detector)
    filter_name, element = _element(det, optics)
    key = (str(mode_exp_type), det.name, filter_name, element)
    if key not in _GEOMETRIES:
        raise KeyError(f"no spectral layout for {key[0]} on {det.name} with FILTER={filter_name} "
                       f"{_second(det.instrument)}={element}")
    geom = _GEOMETRIES[key]
    cal = spectral_photometry(det, filter_name, element)
    return SpectralLayout(dispaxis=geom.dispaxis, wavelength_coeffs=_about_zero(geom.wavelength, geom.d0),
                          trace_coeffs=_about_zero(geom.trace, geom.d0), sigma_px=geom.sigma,
                          d_range=geom.d_range, photmj=cal.photmj, response_wavelength=tuple(cal.wavelength),
                          response=tuple(cal.relresponse))


def spectral_layouts(detector: Detector | str) -> list[tuple[ExpType, dict[str, str], SpectralLayout]]:
    """Every single-trace catalogue mode with a layout on this detector: (EXP_TYPE, its optics, layout),
    sorted by EXP_TYPE (what the SPECWCS references of the detector hold)."""
    det = _detector(detector)
    out = []
    for exp_type in sorted(SINGLE_TRACE_MODES):
        optics = dict(MODES[exp_type].optics)
        filter_name, element = _element(det, optics)
        if (str(exp_type), det.name, filter_name, element) in _GEOMETRIES:
            out.append((exp_type, optics, layout_for(exp_type, det, optics)))
    return out
