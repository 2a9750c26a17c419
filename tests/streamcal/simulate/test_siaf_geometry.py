"""The simulator's geometry is the observatory's: the SIAF (pysiaf, the observatory's aperture file) and real files.

- Subarrays: sizes and starts (SUBSTRT1/2, 1-based, science frame: pysiaf's ``dms_corner``) of every MIRI
  subarray the simulator knows, against the ``MIRIM_<name>`` aperture, of the NIRISS subarrays with a SIAF
  aperture of their own, and of every detector-specific subarray (NIRCam ``<SCA>_SUB160`` …). A subarray at the
  wrong place selects the wrong pixels of every full-frame reference file, which is how jwst-made files met "no
  reference covers this exposure".
- Detectors: V2_REF, V3_REF, V3I_YANG, VPARITY and the pixel scale against each detector's SIAF aperture, and
  FASTAXIS/SLOWAXIS against the SIAF's detector → science transform and against the real files shipped in the
  jwst wheel (issue 10).
"""

from __future__ import annotations

import importlib.util
import math
import warnings
from pathlib import Path

import pytest
from astropy.io import fits

from streamcal.simulate import DETECTORS, MODES, SUBARRAYS
from streamcal.simulate.geometry import DETECTOR_SUBARRAYS, Subarray, subarray_for

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    import pysiaf

    SIAF = {name: pysiaf.Siaf(siaf_name) for name, siaf_name in (
        ("NIRCAM", "NIRCam"), ("NIRSPEC", "NIRSpec"), ("NIRISS", "NIRISS"), ("FGS", "FGS"), ("MIRI", "MIRI"))}

NIRISS_APERTURES = {"SUB64": "NIS_SUB64", "SUB80": "NIS_AMI1", "SUBTAAMI": "NIS_AMITA"}
#: The SIAF's name of each detector's full-frame aperture (NIRCam's long-wavelength SCAs are A5 and B5; the MRS
#: detectors have no full-frame aperture: channel 1A and 3A, one per detector, give their reference point).
FULL_FRAME_APERTURES = {
    **{f"NRC{m}{i}": f"NRC{m}{i}_FULL" for m in "AB" for i in range(1, 5)},
    "NRCALONG": "NRCA5_FULL", "NRCBLONG": "NRCB5_FULL", "NRS1": "NRS1_FULL", "NRS2": "NRS2_FULL", "NIS": "NIS_CEN",
    "GUIDER1": "FGS1_FULL", "GUIDER2": "FGS2_FULL", "MIRIMAGE": "MIRIM_FULL",
    "MIRIFUSHORT": "MIRIFU_CHANNEL1A", "MIRIFULONG": "MIRIFU_CHANNEL3A",
}
#: Instruments whose SIAF detector frame is the readout frame transposed (the fast axis is the SIAF's Y_det).
TRANSPOSED = {"NIRSPEC", "NIRISS", "FGS"}
#: Detectors the jwst wheel's test data must cover, so the real-file check cannot pass vacuously.
IN_THE_WHEEL = {"NRCA2", "NRCA3", "NRCA4", "NRS1", "NIS", "GUIDER1", "GUIDER2", "MIRIMAGE"}


def _aperture(instrument: str, name: str) -> pysiaf.aperture.JwstAperture:
    return SIAF[instrument][name]


def _check_subarray(instrument: str, name: str, aperture_name: str, ours: Subarray) -> None:
    aperture = _aperture(instrument, aperture_name)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        start = tuple(int(v) for v in aperture.dms_corner())
    assert (ours.nx, ours.ny) == (aperture.XSciSize, aperture.YSciSize), name
    assert (ours.substrt1, ours.substrt2) == start, name


@pytest.mark.parametrize(("instrument", "name", "aperture_name"), [
    *[("MIRI", n, f"MIRIM_{n}") for n in sorted(SUBARRAYS["MIRI"]) if n != "FULL"],
    *[("NIRISS", n, a) for n, a in sorted(NIRISS_APERTURES.items())],
])
def test_subarrays_match_the_siaf(instrument: str, name: str, aperture_name: str) -> None:
    _check_subarray(instrument, name, aperture_name, SUBARRAYS[instrument][name])


@pytest.mark.parametrize(("detector", "name"), [(d, n) for d, table in sorted(DETECTOR_SUBARRAYS.items())
                                                for n in sorted(table)])
def test_detector_subarrays_match_the_siaf(detector: str, name: str) -> None:
    det = DETECTORS[detector]
    sca = FULL_FRAME_APERTURES[detector].removesuffix("_FULL")
    _check_subarray(det.instrument, name, f"{sca}_{name}", DETECTOR_SUBARRAYS[detector][name])


@pytest.mark.parametrize("name", sorted(DETECTORS))
def test_reference_point_and_pixel_scale_are_the_siafs(name: str) -> None:
    det = DETECTORS[name]
    assert det.siaf_aperture == FULL_FRAME_APERTURES[name]
    aperture = _aperture(det.instrument, det.siaf_aperture)
    assert det.v2_ref == pytest.approx(aperture.V2Ref, abs=1e-3)  # arcsec
    assert det.v3_ref == pytest.approx(aperture.V3Ref, abs=1e-3)
    assert det.v3i_yang == pytest.approx(aperture.V3IdlYAngle, abs=1e-4)  # deg
    assert det.vparity == aperture.VIdlParity
    if aperture.XSciScale is not None:  # the MRS channel apertures have none
        assert det.pixel_scale == pytest.approx(math.sqrt(aperture.XSciScale * aperture.YSciScale), abs=1e-5)
    else:
        assert det.instrument == "MIRI" and name.startswith("MIRIFU")


def _sci_axis(dx: float, dy: float, angle: float, parity: int) -> int:
    """The signed science axis (±1: x, ±2: y) a detector-frame direction maps to (pysiaf's det → sci)."""
    c, s = math.cos(math.radians(angle)), math.sin(math.radians(angle))
    xs, ys = parity * (dx * c + dy * s), -dx * s + dy * c
    return int(math.copysign(1, xs)) if abs(xs) > abs(ys) else int(math.copysign(2, ys))


@pytest.mark.parametrize("name", sorted(n for n in DETECTORS if not n.startswith("MIRIFU")))
def test_fast_and_slow_axes_follow_the_siaf_detector_frame(name: str) -> None:
    det = DETECTORS[name]
    aperture = _aperture(det.instrument, det.siaf_aperture)
    fast, slow = ((0, 1), (1, 0)) if det.instrument in TRANSPOSED else ((1, 0), (0, 1))
    angle, parity = aperture.DetSciYAngle, aperture.DetSciParity
    assert (det.fastaxis, det.slowaxis) == (_sci_axis(*fast, angle, parity), _sci_axis(*slow, angle, parity))


def _wheel_axes() -> dict[str, set[tuple[int, int]]]:
    """DETECTOR → the (FASTAXIS, SLOWAXIS) pairs of the FITS files shipped in the installed jwst wheel."""
    spec = importlib.util.find_spec("jwst")
    assert spec is not None and spec.submodule_search_locations
    axes: dict[str, set[tuple[int, int]]] = {}
    for path in sorted(Path(next(iter(spec.submodule_search_locations))).rglob("*.fits")):
        header = fits.getheader(path)
        if "DETECTOR" in header and "FASTAXIS" in header and "SLOWAXIS" in header:
            axes.setdefault(str(header["DETECTOR"]), set()).add((int(header["FASTAXIS"]), int(header["SLOWAXIS"])))
    return axes


def test_fast_and_slow_axes_are_those_of_real_files() -> None:
    axes = _wheel_axes()
    assert set(axes) >= IN_THE_WHEEL
    for name, pairs in sorted(axes.items()):
        det = DETECTORS[name]
        assert pairs == {(det.fastaxis, det.slowaxis)}, name


def _nircam_siaf_subarrays() -> dict[str, set[str]]:
    """Subarray name → the NIRCam SCAs the SIAF has an aperture ``<SCA>_<name>`` for."""
    out: dict[str, set[str]] = {}
    for aperture in SIAF["NIRCAM"].apernames:
        sca, _, name = aperture.partition("_")
        out.setdefault(name, set()).add(sca)
    return out


@pytest.mark.parametrize("exp_type", sorted(m for m, spec in MODES.items() if spec.detector.startswith("NRC")))
def test_every_nircam_mode_uses_a_subarray_where_the_siaf_has_it(exp_type: str) -> None:
    """A mode whose subarray is a SIAF aperture name on some NIRCam detector runs on a detector that has it,
    at the SIAF's place (the catalogue's short-wave modes were on NRCA1, which has no SUB64P/SUB160P)."""
    known = _nircam_siaf_subarrays()
    mode = MODES[exp_type]
    det = DETECTORS[mode.detector]
    sca = FULL_FRAME_APERTURES[mode.detector].removesuffix("_FULL")
    for size in ("small", "full"):
        name = mode.size(size).subarray
        if name == "FULL" or name not in known:
            continue  # not a SIAF aperture name (SUB32TATS, SUB320A210R, SUBGRISM64, ...)
        assert sca in known[name], f"{exp_type} {size}: {name} is not on {mode.detector} in the SIAF"
        _check_subarray("NIRCAM", name, f"{sca}_{name}", subarray_for(det, name))
