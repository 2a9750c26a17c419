"""The optical paths of each detector: the rows of the simulated PHOTOM and APCORR references (issue 10).

A PHOTOM reference lists every optical path real references carry for the detector's instrument and channel
(:data:`PHOTOM_PATHS`), plus any path of the mode catalogue on a detector of the same family, so a mode simulated
on another detector of its instrument (``ExposureSpec.detector``) finds its row. Each path is one row; the
conversion factor is a stable, plausible function of detector, filter and pupil (a CRC-32), so adding paths never
changes an existing row's value. APCORR rows exist for the catalogue's paths of the detector's family.

Spectroscopic paths (issue 11) carry jwst's spectral columns too: where a detector's table has a path with a
spectral calibration (:func:`~streamcal.simulate.spectral_layouts.spectral_photometry`: NIRSpec F290LP/G395H, MIRI
P750L, NIRCam F322W2/GRISMR, NIRISS CLEAR/GR700XD), every row gains ``photmj`` (MJy per DN/s), ``nelem``,
``wavelength`` (µm), ``relresponse`` and ``reluncertainty`` (fixed-length float32 arrays of
:data:`SPECTRAL_ELEMENTS`, zero-padded after ``nelem``); rows of other paths have ``nelem`` = 0, zero arrays and
``photmj`` = 0. The spectroscopic rows carry exactly the ``photmj`` and ``relresponse`` the simulator renders with.
``photmjsr`` and ``uncertainty`` keep their values on every row.
"""

from __future__ import annotations

import zlib
from types import MappingProxyType

import numpy as np

from streamcal.routing import ExpType
from streamcal.simulate.geometry import DETECTORS, Detector
from streamcal.simulate.modes import MODES, ModeSpec, SceneKind
from streamcal.simulate.spectral_layouts import RESPONSE_SAMPLES, Photometry, spectral_photometry

__all__ = ["PHOTOM_PATHS", "SPECTRAL_ELEMENTS", "apcorr_wavelengths", "photom_family", "photom_rows"]

_NRC_LW_FILTERS = ("F250M", "F277W", "F300M", "F322W2", "F335M", "F356W", "F360M", "F410M", "F430M", "F444W",
                   "F460M", "F480M")
_NIS_PUPIL_FILTERS = ("F090W", "F115W", "F140M", "F150W", "F158M", "F200W")
_NA = ("N/A", "N/A")
#: Length of the PHOTOM array columns (wavelength, relresponse, reluncertainty); ``nelem`` values are used.
SPECTRAL_ELEMENTS = 128
_SPECTRAL_COLUMNS = [("photmj", "f4"), ("nelem", "i2"), ("wavelength", "f4", (SPECTRAL_ELEMENTS,)),
                     ("relresponse", "f4", (SPECTRAL_ELEMENTS,)), ("reluncertainty", "f4", (SPECTRAL_ELEMENTS,))]

#: The optical paths real PHOTOM references carry, per :func:`photom_family`, as (FILTER, PUPIL) — NIRSpec:
#: (FILTER, GRATING). NIRCam short wavelength: the filter-wheel filters with CLEAR, and F150W2 with the pupil-wheel
#: F162M and F164N; long wavelength: the filter-wheel filters with CLEAR, the pupil-wheel narrow bands with their
#: blocking filter (F322W2+F323N, F444W+F405N/F466N/F470N) and every WFSS filter with GRISMR and GRISMC (one row
#: per pair: this table has no ORDER column). NIRISS: the pupil-wheel filters with CLEAR, the filter-wheel ones
#: with CLEARP, both grisms with each blocking filter, and SOSS. MIRI imager: every filter and the LRS prism (real
#: tables add a SUBARRAY column, mostly GENERIC). NIRSpec: the nine grating/filter pairs of FS, MOS and IFU. FGS: a
#: single row (jwst reads the first). MIRI MRS PHOTOM references are images per band, not tables: one N/A row
#: stands in. Sources: the JDox filter pages and jwst's photom documentation; coronagraphic (MASKRND/MASKBAR)
#: and weak-lens rows are left out, not being sure which detectors' real tables have them.
PHOTOM_PATHS: MappingProxyType[str, tuple[tuple[str, str], ...]] = MappingProxyType({
    "NIRCAM_SHORT": (
        *((f, "CLEAR") for f in ("F070W", "F090W", "F115W", "F140M", "F150W", "F150W2", "F182M", "F187N", "F200W",
                                 "F210M", "F212N")),
        ("F150W2", "F162M"), ("F150W2", "F164N"),
    ),
    "NIRCAM_LONG": (
        *((f, "CLEAR") for f in _NRC_LW_FILTERS),
        ("F322W2", "F323N"), ("F444W", "F405N"), ("F444W", "F466N"), ("F444W", "F470N"),
        *((f, grism) for grism in ("GRISMC", "GRISMR") for f in _NRC_LW_FILTERS),
    ),
    "NIRISS": (
        *(("CLEAR", p) for p in _NIS_PUPIL_FILTERS),
        *((f, "CLEARP") for f in ("F277W", "F356W", "F380M", "F430M", "F444W", "F480M")),
        *((grism, p) for grism in ("GR150C", "GR150R") for p in _NIS_PUPIL_FILTERS),
        ("CLEAR", "GR700XD"),
    ),
    "MIRI_IMAGER": tuple((f, "N/A") for f in (
        "F560W", "F770W", "F1000W", "F1130W", "F1280W", "F1500W", "F1800W", "F2100W", "F2550W", "F2550WR", "FND",
        "F1065C", "F1140C", "F1550C", "F2300C", "P750L")),
    "MIRI_MRS": (_NA,),
    "NIRSPEC": (("CLEAR", "PRISM"), ("F070LP", "G140M"), ("F100LP", "G140M"), ("F170LP", "G235M"),
                ("F290LP", "G395M"), ("F070LP", "G140H"), ("F100LP", "G140H"), ("F170LP", "G235H"),
                ("F290LP", "G395H")),
    "FGS": (_NA,),
})

def photom_family(detector: Detector) -> str:
    """The key of :data:`PHOTOM_PATHS` for a detector: NIRCAM_SHORT/LONG, MIRI_IMAGER/MRS, else the instrument."""
    if detector.instrument == "NIRCAM":
        return "NIRCAM_LONG" if detector.name.endswith("LONG") else "NIRCAM_SHORT"
    if detector.instrument == "MIRI":
        return "MIRI_IMAGER" if detector.name == "MIRIMAGE" else "MIRI_MRS"
    return detector.instrument


def _second(detector: Detector) -> str:
    return "GRATING" if detector.instrument == "NIRSPEC" else "PUPIL"


def _family_modes(detector: Detector) -> list[ModeSpec]:
    """The catalogue's modes on detectors of the same family, this detector's first."""
    family = photom_family(detector)
    modes = [m for m in MODES.values() if photom_family(DETECTORS[m.detector]) == family]
    return sorted(modes, key=lambda m: m.detector != detector.name)


def _spectral(detector: Detector, combos: list[tuple[str, str]]) -> dict[tuple[str, str], Photometry]:
    """The spectral calibrations of those paths that have one on this detector."""
    found = {}
    for filt, element in combos:
        try:
            found[(filt, element)] = spectral_photometry(detector, filt, element)
        except KeyError:
            continue
    return found


def photom_rows(detector: Detector) -> np.ndarray:
    """The PHOTOM table of a detector: :data:`PHOTOM_PATHS` of its family plus its family's catalogue paths.

    Columns ``filter``, ``pupil`` (NIRSpec: ``grating``), ``photmjsr`` (MJy/sr per DN/s), ``uncertainty``; one row
    per distinct path, sorted; "N/A" where an instrument has no such element. NIRSpec has no pupil wheel, so
    its factor depends on the filter only. Tables with a spectroscopic path add the spectral columns (module
    docstring).

    Parameters
    ----------
    detector : Detector

    Returns
    -------
    structured ndarray
    """
    second = _second(detector)
    combos = set(PHOTOM_PATHS[photom_family(detector)])
    combos |= {(m.optics.get("FILTER", "N/A"), m.optics.get(second, "N/A")) for m in _family_modes(detector)}
    ordered = sorted(combos)
    spectral = _spectral(detector, ordered)
    columns = [("filter", "S12"), (second.lower(), "S12"), ("photmjsr", "f4"), ("uncertainty", "f4")]
    rows = np.zeros(len(ordered), dtype=columns + (_SPECTRAL_COLUMNS if spectral else []))
    for i, (filt, element) in enumerate(ordered):
        rows[i]["filter"], rows[i][second.lower()] = filt.encode(), element.encode()
        pupil = element if second == "PUPIL" else "N/A"
        rows[i]["photmjsr"] = 0.1 + 0.5 * (zlib.crc32(f"{detector.name}/{filt}/{pupil}".encode()) % 1000) / 1000.0
        rows[i]["uncertainty"] = 0.01 * rows[i]["photmjsr"]
        cal = spectral.get((filt, element))
        if cal is not None:
            n = RESPONSE_SAMPLES
            rows[i]["photmj"], rows[i]["nelem"] = cal.photmj, n
            rows[i]["wavelength"][:n] = cal.wavelength
            rows[i]["relresponse"][:n] = cal.relresponse
            rows[i]["reluncertainty"][:n] = 0.01 * cal.relresponse
    return rows


def apcorr_wavelengths(detector: Detector) -> dict[tuple[str, str], float]:
    """(FILTER, PUPIL) → wavelength (µm) of the detector's APCORR rows: the catalogue's paths on the detector's
    family, with their modes' wavelength (this detector's and imaging modes' first).

    Only the catalogue's paths: each APCORR path costs ~0.1 s to compute (:func:`moffat_apcorr
    <streamcal.simulate.references.moffat_apcorr>`), and every compact reference set writes one per layout.
    """
    wavelength: dict[tuple[str, str], float] = {}
    modes = sorted(_family_modes(detector),
                   key=lambda m: (m.detector != detector.name, m.scene is not SceneKind.STARS, str(m.exp_type)))
    for m in modes:
        wavelength.setdefault((m.optics.get("FILTER", "N/A"), m.optics.get("PUPIL", "N/A")), m.wavelength)
    for m in modes:  # a WFSS mode's direct images (NIRCam FILTER/CLEAR, NIRISS CLEAR/PUPIL) are catalogued too
        if m.exp_type in (ExpType.NRC_WFSS, ExpType.NIS_WFSS):
            direct = (("CLEAR", m.optics["PUPIL"]) if m.exp_type == ExpType.NIS_WFSS
                      else (m.optics["FILTER"], "CLEAR"))
            wavelength.setdefault(direct, m.wavelength)
    return wavelength
