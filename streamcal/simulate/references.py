"""The reference set of the synthetic observatory, written from the same detector model as the exposures.

For each detector: MASK, SATURATION, SUPERBIAS (NIR), READNOISE, GAIN, LINEARITY, DARK, FLAT, PHOTOM,
AREA and APCORR, full frame (``SUBARRAY='FULL'``, SUBSTRT=1) so the store cuts them to any subarray, plus a matching
subarray DARK for every subarray in the mode catalogue: dark frames are per TFRAME, which depends on the
subarray, so a full-frame dark cut to a subarray would have the wrong time scale (jwst requires a matching
subarray dark for the same reason).

Darks are noiseless and exactly linear in time (``dark[k] = k·TFRAME·dark_e/gain``, frame 0 = 0, NFRAMES=1,
GROUPGAP=0), so the dark_current step's linear extrapolation to longer ramps is exact and the files can stay
short. The FLAT does not depend on the filter (one file per detector, no FILTER selector). The PHOTOM table lists
every optical path real references carry (:mod:`streamcal.simulate.photom`), with jwst's spectral columns on the
spectroscopic paths.

SPECWCS (issue 11): one file per single-trace mode with a layout on the detector, selected on INSTRUME, DETECTOR,
EXP_TYPE, FILTER, GRATING (NIRSpec) or PUPIL (NIRCam, NIRISS) and ``SUBARRAY='FULL'``: the layout is in full-frame
coordinates, so it serves every subarray (a table, it is never cut). Its one-row ``SPECWCS`` table is the layout
the simulator renders with (:mod:`streamcal.models.spectral`, :func:`~streamcal.models.spectral.read_specwcs`).

The IFU modes (MIR_MRS on MIRIFUSHORT, NRS_IFU on NRS1: :mod:`streamcal.simulate.ifu`) have a SPECWCS whose
``IFUSLICES`` table is the slicer geometry (:mod:`streamcal.models.ifu`), and a PHOTOM of their own, one row with
``photmjsr`` (MJy/sr per DN/s) and the relresponse table, selected on EXP_TYPE as well (so it beats the
detector's PHOTOM): jwst's IFU photom references are separate files too.

The WFSS grisms (NIS_WFSS GR150R/GR150C with F150W on NIS, NRC_WFSS F356W with GRISMR/GRISMC on NRCALONG and
NRCBLONG: :mod:`streamcal.simulate.wfss`) have a SPECWCS whose ``GRISMCONF`` table holds the orders' trace models
(:mod:`streamcal.models.grism`), selected on FILTER and PUPIL too; their sensitivity is the detector PHOTOM's row
of the path (photmj, relresponse).

NRS_MSASPEC on NRS1 (:mod:`streamcal.simulate.msa`) has a SPECWCS whose ``MSAQUADS`` table is the MSA geometry
per quadrant (:mod:`streamcal.models.msa`); its photometry is the detector PHOTOM's F290LP/G395H row.

The NIRSpec lamps (NRS_LAMP, NRS_AUTOWAVE, NRS_AUTOFLAT with G395H: :mod:`streamcal.simulate.lamps`) have a SPECWCS
per EXP_TYPE holding the fixed slits (``FSSLITS``, :mod:`streamcal.models.lamp`) and, on NRS1, the MSA geometry
(``MSAQUADS``), selected on GRATING (their FILTER is OPAQUE); they need no PHOTOM (jwst does not run photom on lamps).

PATHLOSS (NIRSpec detectors): one file per mode with a slit loss (NRS_FIXEDSLIT: aperture S200A1; NRS_MSASPEC:
MOS1x3), selected on EXP_TYPE, FILTER and GRATING; its ``PATHLOSS`` table (:mod:`streamcal.models.pathloss`, jwst's
PathlossModel content) holds the tabulated loss the simulator applies (:mod:`streamcal.simulate.pathloss`).

APCORR holds, like the CRDS files, aperture radii and corrections derived from the PSF model: for each
(FILTER, PUPIL) the radius enclosing 10 … 90 % of the simulator's Moffat PSF (:func:`moffat_apcorr`). The
catalogue measures drizzled mosaics, whose PSF is broader than the Moffat: the simulator samples it at pixel
centres, drizzle (square kernel, pixfrac 1) treats each input pixel as a uniform square and averages it over
the output pixel, and aperture photometry again treats output pixels as uniform squares. Averaged over
sub-pixel phases each of these is a convolution with the unit pixel box, so the EE is computed for
Moffat ⊗ box ⊗ box ⊗ box (``n_box=3``). The correction also undoes the PSF wing light that a local
background annulus (SKYIN…SKYOUT) removes: ``apcorr = 1 / (EE(r) − π r² · mean PSF surface brightness in
the annulus)``, so ``total = (aperture sum − annulus background · area) · apcorr``.
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterable
from pathlib import Path

import numpy as np
import numpy.typing as npt

from streamcal.datamodels import Extension
from streamcal.dq import Pixel
from streamcal.models.grism import grismconf_table
from streamcal.models.ifu import ifu_table
from streamcal.models.lamp import fsslits_table
from streamcal.models.msa import msaquads_table
from streamcal.models.pathloss import pathloss_table
from streamcal.models.spectral import specwcs_table
from streamcal.references import ManifestEntry, ReferenceSetWriter, RefType
from streamcal.routing import ExpType
from streamcal.simulate.detector import DEFAULT_DETECTOR_SEED, DetectorModel
from streamcal.simulate.geometry import DETECTORS, READOUT_PATTERNS, Detector, Subarray, frame_time, subarray_for
from streamcal.simulate.ifu import IFU_MODES, ifu_geometry, ifu_photometry
from streamcal.simulate.lamps import LAMP_MODES, lamp_geometry
from streamcal.simulate.linearity import linearity_coeffs
from streamcal.simulate.modes import MODES
from streamcal.simulate.msa import MSA_MODES, msa_geometry
from streamcal.simulate.pathloss import PATHLOSS_MODES, pathloss_aperture
from streamcal.simulate.photom import SPECTRAL_ELEMENTS, apcorr_wavelengths, photom_rows
from streamcal.simulate.scene import moffat_fwhm
from streamcal.simulate.spectral_layouts import spectral_layouts
from streamcal.simulate.wfss import wfss_layouts

__all__ = ["APCORR_DTYPE", "DEFAULT_USEAFTER", "FULL_FRAME_DARK_FRAMES", "dark_cube", "moffat_apcorr",
           "simulated_detectors", "write_reference_set"]

DEFAULT_USEAFTER = "2022-01-01T00:00:00"
#: Frames in full-frame darks (longer science ramps extrapolate exactly); subarray darks hold what the
#: catalogue's modes need, up to ``_MAX_SUB_DARK_FRAMES``.
FULL_FRAME_DARK_FRAMES = 10
_MAX_SUB_DARK_FRAMES = 200
_MIRI_DARK_NINTS = 2
_ARCSEC2_TO_SR = (np.pi / (180.0 * 3600.0)) ** 2
#: Rows of the APCORR table (the CRDS NIRCam/NIRISS layout): radius, skyin, skyout in pixels.
APCORR_DTYPE = np.dtype([("filter", "S12"), ("pupil", "S12"), ("eefraction", "f4"), ("radius", "f4"),
                         ("apcorr", "f4"), ("skyin", "f4"), ("skyout", "f4")])
_EEFRACTIONS = (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9)
_MOFFAT_BETA = 2.5  # scene.py's PSF


def dark_cube(model: DetectorModel, nframes: int, tframe: float) -> npt.NDArray[np.float32]:
    """The dark ramp in DN, ``(nframes, ny, nx)``: frame k holds ``k·tframe·dark/gain`` (frame 0 = 0)."""
    per_frame = (model.dark / model.gain * np.float32(tframe)).astype(np.float32)
    return np.arange(nframes, dtype=np.float32)[:, None, None] * per_frame[None]


def _dark_frames_needed(detector: Detector) -> dict[str, int]:
    """Subarray name → frames the catalogue's modes on this detector need (FULL capped)."""
    needed: dict[str, int] = {}
    for mode in MODES.values():
        if mode.detector != detector.name:
            continue
        readout = READOUT_PATTERNS[mode.readpatt]
        for size in (mode.small, mode.full):
            frames = size.ngroups * readout.nframes + (size.ngroups - 1) * readout.groupgap
            needed[size.subarray] = max(needed.get(size.subarray, 2), frames)
    needed["FULL"] = FULL_FRAME_DARK_FRAMES
    return {k: min(v, _MAX_SUB_DARK_FRAMES) for k, v in needed.items()}


def _base_header(detector: Detector, subarray: Subarray, description: str) -> dict[str, object]:
    return {
        "TELESCOP": "JWST", "INSTRUME": detector.instrument, "DETECTOR": detector.name,
        "SUBARRAY": subarray.name, "SUBSTRT1": subarray.substrt1, "SUBSTRT2": subarray.substrt2,
        "SUBSIZE1": subarray.nx, "SUBSIZE2": subarray.ny, "FASTAXIS": detector.fastaxis,
        "SLOWAXIS": detector.slowaxis, "AUTHOR": "streamcal.simulate", "PEDIGREE": "SIMULATION",
        "DESCRIP": description, "ORIGIN": "STREAMCAL",
    }


def simulated_detectors() -> list[str]:
    """Every DETECTOR of every instrument the mode catalogue simulates, sorted (a mode's instrument brings all of
    its detectors: the catalogue puts NIRCam on NRCA3 and NRCALONG, but references exist for NRCA1 … NRCBLONG)."""
    instruments = {DETECTORS[m.detector].instrument for m in MODES.values()}
    return sorted(name for name, det in DETECTORS.items() if det.instrument in instruments)


def _box_smooth(image: npt.NDArray[np.float64], width: int) -> npt.NDArray[np.float64]:
    """Convolve with a ``width``-sample box along both axes (zero outside)."""
    for axis in (0, 1):
        pad = [(0, 0), (0, 0)]
        pad[axis] = (width // 2 + 1, width - width // 2 - 1)
        cs = np.cumsum(np.pad(image, pad), axis=axis)
        image = (np.take(cs, range(width, cs.shape[axis]), axis=axis)
                 - np.take(cs, range(cs.shape[axis] - width), axis=axis)) / width
    return image


def moffat_apcorr(fwhm: float, *, eefractions: Iterable[float] = _EEFRACTIONS, n_box: int = 3,
                  skyin: float | None = None, skyout: float | None = None) -> np.ndarray:
    """APCORR rows (filter and pupil left empty) for the simulator's Moffat PSF (β = 2.5).

    Parameters
    ----------
    fwhm : float
        Moffat FWHM, px.
    eefractions : iterable of float
        Encircled-energy fractions (0…1) to tabulate.
    n_box : int
        Unit-pixel boxes the PSF is convolved with before the EE is taken: 3 for a drizzled mosaic measured
        with exact-overlap apertures, 1 for a pixel-sampled (cal) image (see the module docstring).
    skyin, skyout : float, optional
        Local background annulus, px; default 3 and 5 FWHM.

    Returns
    -------
    ndarray of APCORR_DTYPE
        ``radius`` encloses ``eefraction`` of the total flux; ``apcorr`` converts an annulus-subtracted
        aperture sum at that radius to the total.
    """
    skyin = 3.0 * fwhm if skyin is None else skyin
    skyout = 5.0 * fwhm if skyout is None else skyout
    half = math.ceil(skyout + 2 * n_box + 4)
    oversample = max(4, min(16, 1600 // (2 * half)))
    c = (np.arange(2 * half * oversample) + 0.5) / oversample - half
    alpha2 = (fwhm / (2.0 * math.sqrt(2.0 ** (1.0 / _MOFFAT_BETA) - 1.0))) ** 2
    r2 = c[None, :] ** 2 + c[:, None] ** 2
    psf = (_MOFFAT_BETA - 1.0) / (math.pi * alpha2) * (1.0 + r2 / alpha2) ** -_MOFFAT_BETA / oversample**2
    for _ in range(n_box):
        psf = _box_smooth(psf, oversample)
    order = np.argsort(r2, axis=None)
    radius = np.sqrt(r2.ravel()[order])
    ee = np.cumsum(psf.ravel()[order])  # normalised to the analytic total of 1 (the grid loses only far wings)

    def ee_at(r: float) -> float:
        return float(np.interp(r, radius, ee))

    sky = (ee_at(skyout) - ee_at(skyin)) / (math.pi * (skyout**2 - skyin**2))
    fractions = list(eefractions)
    rows = np.zeros(len(fractions), APCORR_DTYPE)
    for row, frac in zip(rows, fractions, strict=True):
        r = float(np.interp(frac, ee, radius))
        row["eefraction"], row["radius"] = frac, r
        row["apcorr"] = 1.0 / (frac - math.pi * r * r * sky)
        row["skyin"], row["skyout"] = skyin, skyout
    return rows


def _apcorr_rows(detector: Detector) -> np.ndarray:
    """APCORR rows for every (FILTER, PUPIL) of :func:`~streamcal.simulate.photom.apcorr_wavelengths`."""
    parts = [np.zeros(0, APCORR_DTYPE)]
    for (filt, pupil), wave in sorted(apcorr_wavelengths(detector).items()):
        rows = moffat_apcorr(moffat_fwhm(wave, detector.pixel_scale))
        rows["filter"], rows["pupil"] = filt.encode(), pupil.encode()
        parts.append(rows)
    return np.concatenate(parts)


def _area(detector: Detector, sub: Subarray) -> tuple[npt.NDArray[np.float32], dict[str, object]]:
    """The pixel-area map of the subarray (a cut of the full-frame map)."""
    ny, nx = detector.shape
    y0, x0 = sub.substrt2 - 1, sub.substrt1 - 1
    yy, xx = np.mgrid[y0:y0 + sub.ny, x0:x0 + sub.nx].astype(np.float32)
    r2 = ((xx / nx - 0.5) ** 2 + (yy / ny - 0.5) ** 2) * 4.0
    pixar_a2 = detector.pixel_scale**2
    return (1.0 + 0.01 * r2).astype(np.float32), {"PIXAR_A2": pixar_a2, "PIXAR_SR": pixar_a2 * _ARCSEC2_TO_SR}


def _flat_extensions(model: DetectorModel) -> list[Extension]:
    """The FLAT: the detector's relative response, NaN with NO_FLAT_FIELD|REFERENCE_PIXEL on the reference
    pixels (as in CRDS flats, so calibrated images have NaN borders and resample/outlier detection ignore them)."""
    reference = (model.dq & np.uint32(Pixel.REFERENCE_PIXEL)) != 0
    flat = np.where(reference, np.float32(np.nan), model.flat).astype(np.float32)
    dq = np.where(reference, np.uint32(Pixel.REFERENCE_PIXEL | Pixel.NO_FLAT_FIELD), np.uint32(0)).astype(np.uint32)
    return [Extension("SCI", flat), Extension("ERR", np.full(model.shape, 0.005, np.float32)), Extension("DQ", dq)]


def _dark_entry(writer: ReferenceSetWriter, model: DetectorModel, nframes: int, useafter: str) -> ManifestEntry:
    det, sub = model.detector, model.subarray
    tframe = frame_time(det, sub)
    cube = dark_cube(model, nframes, tframe)
    head = {**_base_header(det, sub, "noiseless linear dark, frame 0 = 0"), "NFRAMES": 1, "GROUPGAP": 0,
            "NGROUPS": nframes, "TFRAME": tframe, "TGROUP": tframe,
            "READPATT": "FASTR1" if det.is_miri else "ANY"}
    if det.is_miri:
        head["NINTS"] = _MIRI_DARK_NINTS
        sci = np.broadcast_to(cube, (_MIRI_DARK_NINTS, *cube.shape))
        dq = np.zeros((_MIRI_DARK_NINTS, 1, *model.shape), dtype=np.uint32)
    else:
        head["NINTS"] = 1
        sci, dq = cube, np.zeros(model.shape, dtype=np.uint32)
    name = f"jwst_{det.instrument.lower()}_dark_{det.name.lower()}" + (
        "" if sub.name == "FULL" else f"_{sub.name.lower()}") + ".fits"
    selectors = {"INSTRUME": det.instrument, "DETECTOR": det.name, "SUBARRAY": sub.name}
    return writer.add(RefType.DARK, name, selectors=selectors, useafter=useafter, primary=head,
                      extensions=[Extension("SCI", np.ascontiguousarray(sci)), Extension("DQ", dq)])


def _detector_refs(writer: ReferenceSetWriter, model: DetectorModel, useafter: str) -> list[ManifestEntry]:
    det, sub = model.detector, model.subarray
    zeros = np.zeros(model.shape, dtype=np.uint32)
    selectors = {"INSTRUME": det.instrument, "DETECTOR": det.name, "SUBARRAY": sub.name}
    area, area_head = _area(det, sub)
    files: list[tuple[RefType, dict[str, object], list[Extension]]] = [
        (RefType.MASK, {}, [Extension("DQ", model.dq)]),
        (RefType.SATURATION, {}, [Extension("SCI", model.saturation), Extension("DQ", zeros)]),
        (RefType.READNOISE, {"BUNIT": "DN"}, [Extension("SCI", model.readnoise)]),
        (RefType.GAIN, {"BUNIT": "electron/DN"}, [Extension("SCI", model.gain)]),
        (RefType.LINEARITY, {}, [Extension("COEFFS", linearity_coeffs(model.alpha)), Extension("DQ", zeros)]),
        (RefType.FLAT, {}, _flat_extensions(model)),
        (RefType.PHOTOM, {}, [Extension("PHOTOM", photom_rows(det))]),
        (RefType.AREA, area_head, [Extension("SCI", area)]),
        (RefType.APCORR, {}, [Extension("APCORR", _apcorr_rows(det))]),
    ]
    if not det.is_miri:
        files.append((RefType.SUPERBIAS, {"BUNIT": "DN"}, [
            Extension("SCI", model.bias), Extension("ERR", np.full(model.shape, 1.0, np.float32)),
            Extension("DQ", zeros)]))
    entries = []
    for reftype, extra, extensions in files:
        tag = "" if sub.name == "FULL" else f"_{sub.name.lower()}"
        name = f"jwst_{det.instrument.lower()}_{reftype.value}_{det.name.lower()}{tag}.fits"
        head = {**_base_header(det, sub, f"simulated {reftype.value} reference"), **extra}
        entries.append(writer.add(reftype, name, selectors=selectors, useafter=useafter, primary=head,
                                  extensions=extensions))
    return entries


def _specwcs_entries(writer: ReferenceSetWriter, detector: Detector, useafter: str) -> list[ManifestEntry]:
    """The SPECWCS references of a detector: one per single-trace mode with a layout on it."""
    entries = []
    full = subarray_for(detector, "FULL")
    second = "GRATING" if detector.instrument == "NIRSPEC" else "PUPIL"
    for exp_type, optics, layout in spectral_layouts(detector):
        selectors = {"INSTRUME": detector.instrument, "DETECTOR": detector.name, "EXP_TYPE": str(exp_type),
                     "FILTER": optics["FILTER"], "SUBARRAY": "FULL"}
        if second in optics:
            selectors[second] = optics[second]
        parts = [detector.name, str(exp_type), optics["FILTER"], *([optics[second]] if second in optics else [])]
        name = f"jwst_{detector.instrument}_specwcs_{'_'.join(parts)}.fits".lower()
        head = {**_base_header(detector, full, f"simulated spectral layout of {exp_type}"), **selectors}
        entries.append(writer.add(RefType.SPECWCS, name, selectors=selectors, useafter=useafter, primary=head,
                                  extensions=[Extension("SPECWCS", specwcs_table(layout.geometry()),
                                                        {"DISPAXIS": layout.dispaxis})]))
    return entries


def _ifu_entries(writer: ReferenceSetWriter, detector: Detector, useafter: str) -> list[ManifestEntry]:
    """The IFU SPECWCS (IFUSLICES) and PHOTOM references of a detector: one each per IFU mode with a geometry."""
    entries = []
    full = subarray_for(detector, "FULL")
    for exp_type in sorted(IFU_MODES):
        optics = dict(MODES[exp_type].optics)
        try:
            geometry = ifu_geometry(exp_type, detector, optics)
        except KeyError:
            continue
        selectors: dict[str, str] = {"INSTRUME": detector.instrument, "DETECTOR": detector.name,
                                     "EXP_TYPE": str(exp_type), "SUBARRAY": "FULL"}
        selectors.update({k: optics[k] for k in ("FILTER", "GRATING", "BAND") if k in optics})
        tag = f"{detector.name}_{exp_type}".lower()
        head = {**_base_header(detector, full, f"simulated IFU slicer of {exp_type}"), **selectors}
        entries.append(writer.add(RefType.SPECWCS, f"jwst_{detector.instrument.lower()}_specwcs_{tag}.fits",
                                  selectors=selectors, useafter=useafter, primary=head,
                                  extensions=[Extension("IFUSLICES", ifu_table(geometry))]))
        cal = ifu_photometry(exp_type, detector, geometry)
        second = "grating" if detector.instrument == "NIRSPEC" else "pupil"
        row = np.zeros(1, [("filter", "S12"), (second, "S12"), ("photmjsr", "f4"), ("uncertainty", "f4"),
                           ("nelem", "i2"), ("wavelength", "f4", (SPECTRAL_ELEMENTS,)),
                           ("relresponse", "f4", (SPECTRAL_ELEMENTS,)), ("reluncertainty", "f4", (SPECTRAL_ELEMENTS,))])
        n = cal.wavelength.size
        row["filter"], row[second] = optics.get("FILTER", "N/A"), optics.get("GRATING", "N/A")
        row["photmjsr"], row["uncertainty"], row["nelem"] = cal.photmj, 0.01 * cal.photmj, n
        row["wavelength"][0, :n], row["relresponse"][0, :n] = cal.wavelength, cal.relresponse
        row["reluncertainty"][0, :n] = 0.01 * cal.relresponse
        head = {**_base_header(detector, full, f"simulated IFU photometry of {exp_type}"), **selectors}
        entries.append(writer.add(RefType.PHOTOM, f"jwst_{detector.instrument.lower()}_photom_{tag}.fits",
                                  selectors=selectors, useafter=useafter, primary=head,
                                  extensions=[Extension("PHOTOM", row)]))
    return entries


def _msa_entries(writer: ReferenceSetWriter, detector: Detector, useafter: str) -> list[ManifestEntry]:
    """The MOS SPECWCS (MSAQUADS) of a detector: one per MSA mode with a geometry on it (the PHOTOM is the
    detector's, whose F290LP/G395H row the fixed slit uses too)."""
    entries = []
    full = subarray_for(detector, "FULL")
    for exp_type in sorted(MSA_MODES):
        optics = dict(MODES[exp_type].optics)
        try:
            geometry = msa_geometry(detector, optics)
        except KeyError:
            continue
        selectors: dict[str, str] = {"INSTRUME": detector.instrument, "DETECTOR": detector.name,
                                     "EXP_TYPE": str(exp_type), "SUBARRAY": "FULL"}
        selectors.update({k: optics[k] for k in ("FILTER", "GRATING") if k in optics})
        head = {**_base_header(detector, full, f"simulated MSA geometry of {exp_type}"), **selectors}
        entries.append(writer.add(RefType.SPECWCS, f"jwst_{detector.instrument.lower()}_specwcs_"
                                  f"{detector.name}_{exp_type}.fits".lower(), selectors=selectors, useafter=useafter,
                                  primary=head, extensions=[Extension("MSAQUADS", msaquads_table(geometry))]))
    return entries


def _pathloss_entries(writer: ReferenceSetWriter, detector: Detector, useafter: str) -> list[ManifestEntry]:
    """The PATHLOSS references of a detector: one per mode with a slit loss (:mod:`streamcal.simulate.pathloss`)
    whose optical path reaches the detector, holding the tabulated loss the simulator applies."""
    if detector.instrument != "NIRSPEC":
        return []
    entries = []
    full = subarray_for(detector, "FULL")
    for exp_type, aperture in sorted(PATHLOSS_MODES.items()):
        optics = dict(MODES[ExpType(exp_type)].optics)
        selectors: dict[str, str] = {"INSTRUME": detector.instrument, "DETECTOR": detector.name,
                                     "EXP_TYPE": exp_type, "SUBARRAY": "FULL"}
        selectors.update({k: optics[k] for k in ("FILTER", "GRATING") if k in optics})
        head = {**_base_header(detector, full, f"simulated slit loss of {exp_type} ({aperture})"), **selectors}
        entries.append(writer.add(RefType.PATHLOSS, f"jwst_{detector.instrument.lower()}_pathloss_"
                                  f"{detector.name}_{exp_type}.fits".lower(), selectors=selectors, useafter=useafter,
                                  primary=head,
                                  extensions=[Extension("PATHLOSS", pathloss_table([pathloss_aperture(aperture)]))]))
    return entries


def _lamp_entries(writer: ReferenceSetWriter, detector: Detector, useafter: str) -> list[ManifestEntry]:
    """The lamp SPECWCS of a detector: per lamp EXP_TYPE with a geometry, the fixed slits (FSSLITS) and, where the
    MSA lights the detector, its geometry (MSAQUADS), selected on the grating (streamcal.models.lamp)."""
    entries = []
    full = subarray_for(detector, "FULL")
    for exp_type in sorted(LAMP_MODES):
        grating = MODES[exp_type].optics.get("GRATING", "N/A")
        try:
            slits, msa = lamp_geometry(detector, grating)
        except KeyError:
            continue
        selectors = {"INSTRUME": detector.instrument, "DETECTOR": detector.name, "EXP_TYPE": str(exp_type),
                     "GRATING": grating, "SUBARRAY": "FULL"}
        tables = [Extension("FSSLITS", fsslits_table(slits))]
        if msa is not None:
            tables.append(Extension("MSAQUADS", msaquads_table(msa)))
        head = {**_base_header(detector, full, f"simulated lamp apertures of {exp_type}"), **selectors}
        entries.append(writer.add(RefType.SPECWCS, f"jwst_{detector.instrument}_specwcs_{detector.name}_{exp_type}_"
                                  f"{grating}.fits".lower(), selectors=selectors, useafter=useafter, primary=head,
                                  extensions=tables))
    return entries


def _grism_entries(writer: ReferenceSetWriter, detector: Detector, useafter: str) -> list[ManifestEntry]:
    """The WFSS SPECWCS (GRISMCONF) references of a detector: one per simulated grism path of its instrument
    (long-wave NIRCam detectors only for NIRCam)."""
    if detector.instrument not in ("NIRISS", "NIRCAM") or (detector.instrument == "NIRCAM"
                                                          and not detector.name.endswith("LONG")):
        return []
    entries = []
    full = subarray_for(detector, "FULL")
    for exp_type, (instrument, filt, pupil), conf in wfss_layouts():
        if instrument != detector.instrument:
            continue
        selectors = {"INSTRUME": instrument, "DETECTOR": detector.name, "EXP_TYPE": exp_type, "FILTER": filt,
                     "PUPIL": pupil, "SUBARRAY": "FULL"}
        head = {**_base_header(detector, full, f"simulated grism orders of {exp_type} {filt}/{pupil}"), **selectors}
        name = f"jwst_{instrument}_specwcs_{detector.name}_{exp_type}_{filt}_{pupil}.fits".lower()
        entries.append(writer.add(RefType.SPECWCS, name, selectors=selectors, useafter=useafter, primary=head,
                                  extensions=[Extension("GRISMCONF", grismconf_table(conf))]))
    return entries


def write_reference_set(
    refs_dir: str | os.PathLike[str],
    *,
    detectors: Iterable[str] | None = None,
    seed: int = DEFAULT_DETECTOR_SEED,
    subarray_darks: bool = True,
    useafter: str = DEFAULT_USEAFTER,
    only: Iterable[tuple[str, str]] | None = None,
) -> list[ManifestEntry]:
    """Write the reference files and manifest of the synthetic observatory.

    Parameters
    ----------
    refs_dir : path-like
        The store folder (created; an existing manifest is merged, re-added files replace their entries).
    detectors : iterable of str, optional
        DETECTOR names; default :func:`simulated_detectors`, every detector of every instrument the mode
        catalogue simulates (18 detectors; ~450 MB each for the 15 near-infrared ones, ~7 GB in all).
    seed : int
        Observatory seed; must equal the exposures' ``detector_seed``.
    subarray_darks : bool
        Also write a matching dark for every catalogue subarray.
    useafter : str
        ISO date-time for every file.
    only : iterable of (DETECTOR, SUBARRAY), optional
        Write every reference at exactly these layouts instead (selected on SUBARRAY): a compact set for
        small programs (a full NIR set is ~450 MB per detector), plus the SPECWCS files of each detector named
        (full-frame, ``SUBARRAY='FULL'``). ``detectors`` and ``subarray_darks`` are then ignored.

    Returns
    -------
    list of ManifestEntry
        One per file written.

    Raises
    ------
    KeyError
        Unknown detector. Not retriable.
    """
    if only is not None:
        return _write_layouts(Path(refs_dir), sorted(set(only)), seed=seed, useafter=useafter)
    names = simulated_detectors() if detectors is None else list(detectors)
    entries: list[ManifestEntry] = []
    with ReferenceSetWriter(Path(refs_dir)) as writer:
        for name in names:
            det = DETECTORS[name]
            full = subarray_for(det, "FULL")
            model = DetectorModel.build(det, full, seed=seed)
            entries += _detector_refs(writer, model, useafter)
            entries += _specwcs_entries(writer, det, useafter)
            entries += _ifu_entries(writer, det, useafter)
            entries += _msa_entries(writer, det, useafter)
            entries += _pathloss_entries(writer, det, useafter)
            entries += _lamp_entries(writer, det, useafter)
            entries += _grism_entries(writer, det, useafter)
            frames = _dark_frames_needed(det)
            entries.append(_dark_entry(writer, model, frames["FULL"], useafter))
            del model
            if subarray_darks:
                for sub_name, nframes in sorted(frames.items()):
                    if sub_name != "FULL":
                        sub_model = DetectorModel.build(det, subarray_for(det, sub_name), seed=seed)
                        entries.append(_dark_entry(writer, sub_model, nframes, useafter))
    return entries


def _write_layouts(root: Path, layouts: list[tuple[str, str]], *, seed: int, useafter: str) -> list[ManifestEntry]:
    """Every reference (and a dark) at exactly the given (detector, subarray) layouts, and each detector's
    SPECWCS references (full-frame: once per detector)."""
    entries: list[ManifestEntry] = []
    with ReferenceSetWriter(root) as writer:
        for det_name in sorted({name for name, _ in layouts}):
            entries += _specwcs_entries(writer, DETECTORS[det_name], useafter)
            entries += _ifu_entries(writer, DETECTORS[det_name], useafter)
            entries += _msa_entries(writer, DETECTORS[det_name], useafter)
            entries += _pathloss_entries(writer, DETECTORS[det_name], useafter)
            entries += _lamp_entries(writer, DETECTORS[det_name], useafter)
            entries += _grism_entries(writer, DETECTORS[det_name], useafter)
        for det_name, sub_name in layouts:
            det = DETECTORS[det_name]
            model = DetectorModel.build(det, subarray_for(det, sub_name), seed=seed)
            entries += _detector_refs(writer, model, useafter)
            frames = _dark_frames_needed(det).get(sub_name, FULL_FRAME_DARK_FRAMES)
            entries.append(_dark_entry(writer, model, frames, useafter))
    return entries
