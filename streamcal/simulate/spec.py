"""What to simulate (:class:`ExposureSpec`) and the derived exposure layout (:class:`ExposurePlan`).

A spec names the EXP_TYPE, the exposure's identity (program … exposure number, the JWST file-name fields),
visit and dither context, and optional overrides of the mode catalogue's readout. :func:`plan_exposure`
resolves it against the catalogue into the detector, subarray, readout timing, integration range
(TSO segments), WCS and, for the single-trace spectroscopic modes, the spectral layout and source spectrum that
the physics and the headers both use.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from types import MappingProxyType

from streamcal.datamodels import ExposureName
from streamcal.routing import ExpType
from streamcal.simulate.ami import AmiBinary
from streamcal.simulate.coron import CoronScene
from streamcal.simulate.detector import DEFAULT_DETECTOR_SEED
from streamcal.simulate.geometry import DETECTORS, READOUT_PATTERNS, Detector, Subarray, frame_time, subarray_for
from streamcal.simulate.ifu import IFU_MODES, IfuScene, ifu_scene
from streamcal.simulate.lamps import LAMP_MODES, LampScene, lamp_scene
from streamcal.simulate.modes import ModeSpec, Size, SizeSpec, mode_spec
from streamcal.simulate.msa import MSA_MODES, MsaScene, msa_scene
from streamcal.simulate.ramp import Effects, RampTiming
from streamcal.simulate.spectra import (
    SINGLE_TRACE_MODES,
    SourceSpectrum,
    SpectralLayout,
    default_spectrum_for,
    layout_for,
)
from streamcal.simulate.transit import Transit
from streamcal.simulate.wcs import TanWcs
from streamcal.simulate.wfss import WFSS_MODES, WfssScene, default_wfss_scene

__all__ = ["ExposurePlan", "ExposureSpec", "Target", "plan_exposure"]

_SECONDS_PER_DAY = 86400.0


@dataclass(frozen=True, slots=True, kw_only=True)
class Target:
    """The observed target and the telescope roll (TARGETID, TARGNAME, TARG_RA/DEC, ROLL_REF)."""

    targetid: int = 1
    name: str = "SIM-STAR-1"
    ra: float = 80.4875
    dec: float = -69.4985
    roll: float = 45.0


@dataclass(frozen=True, slots=True, kw_only=True)
class ExposureSpec:
    """One exposure (or one segment of a TSO exposure) to simulate.

    Attributes
    ----------
    exp_type : ExpType or str
    size : {"small", "full"}
        Which catalogue size to use for subarray, NGROUPS and NINTS unless overridden.
    program, observation, visit, visit_group, parallel_seq, activity, exposure : int or str
        PROGRAM, OBSERVTN, VISIT, VISITGRP, SEQ_ID, ACT_ID, EXPOSURE (and the file name).
    detector : str, optional
        Another DETECTOR of the mode's instrument to simulate the mode on (default: the catalogue's), e.g. a
        NIRCam flat on NRCB3. The optics, scene and readout stay the mode's.
    subarray, readpatt, ngroups, nints : optional overrides
        ``nints`` is the exposure's total over all segments.
    tsovisit : bool, optional
        Default: True for always-TSO modes, else False.
    segment, nsegments : int
        1-based segment of a TSO exposure split into ``nsegments`` files (``segment=None``: not split).
    visitype, patttype, numdthpt, patt_num : visit and dither keywords.
    dither : tuple of float
        Telescope offset (dx, dy) in pixels for this dither position; the scene moves by (−dx, −dy).
    pointing_error : tuple of float
        ``(dx, dy, rotation)``: how far the pointing the SCI header reports is off the true one (px, px, deg).
        The scene and the truth SOURCES use the true (dithered) WCS; the header WCS is the true WCS shifted so
        that its reference pixel sees the sky of true pixel ``crpix + (dx, dy)``, with ROLL_REF increased by
        ``rotation`` (a rotation about the reference pixel). A header pixel ``p`` therefore maps to the sky of
        true pixel ``T(p) = crpix + (dx, dy) + R·(p − crpix)``, ``R`` a rotation by ``rotation`` (its sense in
        (x, y) set by VPARITY); after tweakreg, the correction to apply to the header WCS is the inverse of
        ``T``. The truth file records the error (PNTERRX/Y/R). Default: no error.
    is_psf, bkgdtarg : bool
    target : Target
    expstart : float
        EXPSTART, MJD (UTC).
    nexposur, expcount : int
    scene_seed : int, optional
        Seed of the star field and spectra; exposures of one field share it (default: the exposure seed).
    detector_seed : int
        Observatory seed; must match the reference set's.
    effects : Effects
    spectrum : SourceSpectrum, optional
        The point source of a single-trace spectroscopic mode (:data:`~streamcal.simulate.spectra.SINGLE_TRACE_MODES`);
        it must cover the wavelengths the mode's layout lights. Default:
        :func:`~streamcal.simulate.spectra.default_spectrum_for` the layout (1 mJy at the band centre). For the
        IFU modes (MIR_MRS, NRS_IFU: :mod:`streamcal.simulate.ifu`) it must cover the slicer's band.
        NRS_MSASPEC (:mod:`streamcal.simulate.msa`): every source's spectrum, scaled by its brightness.
    ifu_source : tuple of float, optional
        IFU modes: the point source's (alpha, beta) in the slicer frame, arcsec (default: the mode's, a little
        off the field centre), before the dither: ``dither`` (XOFFSET, YOFFSET in arcsec) moves it by
        ``−dither × pixel scale`` along (alpha, beta) (:func:`~streamcal.simulate.ifu.ifu_scene`).
    coron : CoronScene, optional
        Coronagraphic modes (SceneKind.CORON): companions, speckle field, the star's brightness and offset from
        the mask centre (:mod:`streamcal.simulate.coron`; default: the science or PSF-reference defaults by
        ``is_psf``).
    transit : Transit
        TSO exposures (TSOVISIT=T): the transit applied per integration (:mod:`streamcal.simulate.transit`;
        default a 1 % limb-darkened transit centred in the exposure).
    binary : AmiBinary, optional
        NIS_AMI: a companion to the target (separation mas, PA deg east of north, contrast; defaults 250 mas,
        60°, 0.1: :mod:`streamcal.simulate.ami`); None (default) for a point source.
    optics : tuple of (str, str)
        Overrides of the mode's optical elements, e.g. ``(("FILTER", "GR150C"),)`` for NIRISS's other grism or
        ``(("FILTER", "F356W"),)`` for a NIRCam WFSS direct image (default: the catalogue's).
    wfss_scene : WfssScene, optional
        WFSS modes (:mod:`streamcal.simulate.wfss`): the field whose +1 orders are dispersed (default: the
        detector family's :func:`~streamcal.simulate.wfss.default_wfss_scene` for the target). Imaging modes
        (SceneKind.STARS): the field to render instead of a random star field (a WFSS direct image).
    """

    exp_type: ExpType | str
    size: Size = "small"
    program: int = 1234
    observation: int = 1
    visit: int = 1
    visit_group: int = 2
    parallel_seq: int = 1
    activity: str = "01"
    exposure: int = 1
    detector: str | None = None
    subarray: str | None = None
    readpatt: str | None = None
    ngroups: int | None = None
    nints: int | None = None
    tsovisit: bool | None = None
    segment: int | None = None
    nsegments: int = 1
    visitype: str | None = None
    patttype: str = "NONE"
    numdthpt: int = 1
    patt_num: int = 1
    dither: tuple[float, float] = (0.0, 0.0)
    pointing_error: tuple[float, float, float] = (0.0, 0.0, 0.0)
    is_psf: bool = False
    bkgdtarg: bool = False
    target: Target = field(default_factory=Target)
    expstart: float = 60400.25
    nexposur: int = 1
    expcount: int = 1
    scene_seed: int | None = None
    detector_seed: int = DEFAULT_DETECTOR_SEED
    effects: Effects = field(default_factory=Effects)
    spectrum: SourceSpectrum | None = None
    ifu_source: tuple[float, float] | None = None
    coron: CoronScene | None = None
    transit: Transit = field(default_factory=Transit)
    binary: AmiBinary | None = None
    optics: tuple[tuple[str, str], ...] = ()
    wfss_scene: WfssScene | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class ExposurePlan:
    """The resolved layout of one exposure file."""

    spec: ExposureSpec
    mode: ModeSpec
    detector: Detector
    subarray: Subarray
    readpatt: str
    timing: RampTiming  # nints = integrations in this file
    nints_total: int
    intstart: int  # 1-based, inclusive
    intend: int
    tsovisit: bool
    name: ExposureName
    base_wcs: TanWcs  # undithered pointing: the target at the reference pixel
    wcs: TanWcs  # this exposure's true pointing (renders the scene and the truth positions)
    header_wcs: TanWcs  # the pointing the SCI header reports: ``wcs`` off by ``spec.pointing_error``
    duration: float  # seconds, whole exposure
    layout: SpectralLayout | None = None  # single-trace spectroscopic modes: where the spectrum falls (calibrated)
    spectrum: SourceSpectrum | None = None  # and what it is (spec.spectrum or the default)
    ifu: IfuScene | None = None  # IFU modes: the slicer, its calibration, the source and the sky
    msa: MsaScene | None = None  # NRS_MSASPEC: the MSA geometry, configuration, sources and sky (simulate/msa.py)
    wfss: WfssScene | None = None  # WFSS modes and their direct images: the field (simulate/wfss.py)
    lamp: LampScene | None = None  # NIRSpec lamps on a detector with a lamp geometry (simulate/lamps.py)

    @property
    def expend(self) -> float:
        """EXPEND, MJD."""
        return self.spec.expstart + self.duration / _SECONDS_PER_DAY


def _detector(mode: ModeSpec, name: str | None) -> Detector:
    """The mode's detector, or ``name`` if it is a detector of the same instrument."""
    own = DETECTORS[mode.detector]
    if name is None:
        return own
    if name not in DETECTORS:
        raise KeyError(f"unknown DETECTOR {name!r}; known: {sorted(DETECTORS)}")
    detector = DETECTORS[name]
    if detector.instrument != own.instrument:
        raise ValueError(f"{mode.exp_type} is a {own.instrument} mode; {name} is a {detector.instrument} detector")
    return detector


def _spectral(spec: ExposureSpec, mode: ModeSpec,
              detector: Detector) -> tuple[SpectralLayout | None, SourceSpectrum | None]:
    """The layout and spectrum of a single-trace spectroscopic exposure; (None, None) for other modes."""
    if mode.exp_type not in SINGLE_TRACE_MODES:
        if spec.spectrum is not None and mode.exp_type not in IFU_MODES | MSA_MODES:
            raise ValueError(f"{mode.exp_type} is not a single-trace spectroscopic mode: it takes no spectrum")
        return None, None
    layout = layout_for(mode.exp_type, detector, mode.optics)
    spectrum = spec.spectrum if spec.spectrum is not None else default_spectrum_for(layout)
    (lo, hi), (have_lo, have_hi) = layout.wave_range, spectrum.wave_range
    if lo < have_lo or hi > have_hi:
        raise ValueError(f"the spectrum covers {have_lo:.6g}–{have_hi:.6g} µm; {mode.exp_type} on {detector.name} "
                         f"lights {lo:.6g}–{hi:.6g} µm")
    return layout, spectrum


def _lamp(mode: ModeSpec, detector: Detector, size: SizeSpec, spec: ExposureSpec) -> LampScene | None:
    """A lamp exposure's scene, its peak at the mode's fill of the well in one integration; None where the
    simulator has no lamp geometry (another grating, or the MSA off NRS1)."""
    readout = READOUT_PATTERNS[spec.readpatt or mode.readpatt]
    subarray = subarray_for(detector, spec.subarray or size.subarray)
    t_int = (spec.ngroups or size.ngroups) * readout.nframes * frame_time(detector, subarray)
    peak = 0.5 * (detector.saturation - detector.bias) / t_int
    try:
        return lamp_scene(str(mode.exp_type), detector, dict(mode.optics), peak=peak, program=int(spec.program),
                          dither_point=spec.patt_num)
    except KeyError:
        return None


def plan_exposure(spec: ExposureSpec) -> ExposurePlan:
    """Resolve a spec against the mode catalogue.

    Raises
    ------
    KeyError
        Unknown EXP_TYPE, detector, subarray or readout pattern, or a single-trace spectroscopic (IFU) mode on a
        detector it has no spectral layout (slicer geometry) on. Not retriable.
    ValueError
        Inconsistent segment numbers, a detector of another instrument than the mode's, a spectrum for a mode
        that is not single-trace or IFU spectroscopy, or one that does not cover the layout's (slicer's)
        wavelengths. Not retriable.
    """
    mode = mode_spec(spec.exp_type)
    if spec.optics:
        mode = dataclasses.replace(mode, optics=MappingProxyType({**mode.optics, **dict(spec.optics)}))
    size = mode.size(spec.size)
    detector = _detector(mode, spec.detector)
    layout, spectrum = _spectral(spec, mode, detector)
    ifu = None
    if mode.exp_type in IFU_MODES:
        offset = (spec.dither[0] * detector.pixel_scale, spec.dither[1] * detector.pixel_scale)  # XOFFSET, YOFFSET
        ifu = ifu_scene(mode.exp_type, detector, dict(mode.optics), spectrum=spec.spectrum, source=spec.ifu_source,
                        offset=offset)
        spectrum = ifu.spectrum
    msa = None
    if mode.exp_type in MSA_MODES:
        msa = msa_scene(detector, dict(mode.optics), program=int(spec.program), dither_point=spec.patt_num,
                        spectrum=spec.spectrum, n_points=spec.numdthpt)
    lamp = None
    if mode.exp_type in LAMP_MODES:  # elsewhere (no lamp geometry) a lamp renders as a uniform scene
        lamp = _lamp(mode, detector, size, spec)
    wfss = spec.wfss_scene
    if mode.exp_type in WFSS_MODES and wfss is None:
        blocking = mode.optics.get("PUPIL" if detector.instrument == "NIRISS" else "FILTER", "N/A")
        wfss = default_wfss_scene(detector, blocking, ra=spec.target.ra, dec=spec.target.dec, roll=spec.target.roll)
    subarray = subarray_for(detector, spec.subarray or size.subarray)
    readpatt = spec.readpatt or mode.readpatt
    readout = READOUT_PATTERNS[readpatt]
    nints_total = spec.nints or size.nints
    if spec.segment is None:
        intstart, intend = 1, nints_total
    else:
        if not 1 <= spec.segment <= spec.nsegments <= nints_total:
            raise ValueError(f"segment {spec.segment} of {spec.nsegments} with {nints_total} integrations")
        per = math.ceil(nints_total / spec.nsegments)
        intstart, intend = (spec.segment - 1) * per + 1, min(spec.segment * per, nints_total)
    tframe = frame_time(detector, subarray)
    timing = RampTiming(nints=intend - intstart + 1, ngroups=spec.ngroups or size.ngroups,
                        nframes=readout.nframes, groupgap=readout.groupgap, tframe=tframe)
    base = TanWcs(crpix1=(subarray.nx + 1) / 2.0, crpix2=(subarray.ny + 1) / 2.0, ra_ref=spec.target.ra,
                  dec_ref=spec.target.dec, roll_ref=spec.target.roll, v3i_yang=detector.v3i_yang,
                  vparity=detector.vparity, scale=detector.pixel_scale)
    name = ExposureName(program=spec.program, observation=spec.observation, visit=spec.visit,
                        visit_group=spec.visit_group, parallel_seq=spec.parallel_seq, activity=spec.activity,
                        exposure=spec.exposure, detector=detector.name,
                        segment=spec.segment if spec.nsegments > 1 else None)
    tsovisit = spec.tsovisit if spec.tsovisit is not None else mode.tso == "always"
    wcs = base.shifted(*spec.dither)
    err_x, err_y, err_rot = spec.pointing_error
    header_wcs = dataclasses.replace(wcs.shifted(err_x, err_y), roll_ref=wcs.roll_ref + err_rot)
    return ExposurePlan(
        spec=spec, mode=mode, detector=detector, subarray=subarray, readpatt=readpatt, timing=timing,
        nints_total=nints_total, intstart=intstart, intend=intend, tsovisit=tsovisit, name=name,
        base_wcs=base, wcs=wcs, header_wcs=header_wcs,
        duration=nints_total * (timing.frames_per_int + 1) * tframe, layout=layout, spectrum=spectrum, ifu=ifu,
        msa=msa, wfss=wfss, lamp=lamp,
    )
