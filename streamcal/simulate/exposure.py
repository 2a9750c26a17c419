"""Simulate one raw exposure and its truth file.

``simulate_exposure(spec, out_dir, rng_seed=…)`` writes ``<root>_uncal.fits`` (through
:func:`streamcal.datamodels.write_raw`) and ``<root>_truth.fits`` beside it:

- ``RATE`` float32 (ny, nx): the rate ramp fitting should measure, DN/s, flat response included, dark
  excluded (mean over this file's integrations for TSO light curves);
- ``CR_COUNT`` uint8 and ``CR_FIRST_GROUP`` int16 (nints, ny, nx) (−1: no hit), and the ``CR`` table
  (int, y, x, frame, group, amplitude_dn; ``int`` is 0-based within this file, like the arrays' first axis);
- ``SOURCES`` (x, y 0-based in the subarray, flux = total DN/s of the source in flat-fielded units, i.e. what
  the flat-fielded rate image sums to, ra, dec) for point-source scenes;
- ``LIGHTCURVE`` (int 1-based over the exposure, MJD its INT_TIMES mid-time, relative_flux at the transit's
  reference wavelength) for TSO exposures, with the transit's parameters in its header (DEPTH, T0_MJD, T14_S,
  LD_U1, LD_U2, IMPACT, DDEPTHDL, WAVEREF: :mod:`streamcal.simulate.transit`); a transit with a depth slope
  scales each spectral pixel by its own wavelength's light curve;
- for the single-trace spectroscopic modes (:data:`~streamcal.simulate.spectra.SINGLE_TRACE_MODES`, issue 11):
  ``WAVELENGTH`` float64 (ny, nx), µm within 4σ of the trace on lit dispersion pixels, NaN elsewhere; ``SPECTRUM``
  (WAVELENGTH µm, FLUX Jy: the input spectrum's table); ``EXTRACTED`` (d, WAVELENGTH, FLUX, RATE_SUM: one row per
  lit dispersion pixel of the subarray, ``d`` its 0-based subarray index along the dispersion axis, FLUX =
  F_ν(λ(d)) in Jy, what a perfect extraction returns, RATE_SUM the source's flat-fielded DN/s summed over the
  subarray's cross-dispersion pixels). The PRIMARY adds DISPAXIS and BKGRATE.
- for the IFU modes (MIR_MRS, NRS_IFU: :mod:`streamcal.simulate.ifu`): ``WAVELENGTH`` float64 (ny, nx), µm at
  each slice pixel's centre, NaN off the slices; ``SLICE`` int16 (ny, nx), the slice number (−1 off the slices);
  ``SPECTRUM`` as above; ``EXTRACTED`` (WAVELENGTH, FLUX, FOV_FRACTION: the source's F_ν per wavelength of the
  middle slice's pixels, and the share of its PSF on the exposure's slices). The PRIMARY adds DISPAXIS, SRCALPHA
  and SRCBETA (the source's position in this exposure's slicer frame, arcsec), DITHALPH and DITHBETA (the dither
  offset that moved it there, arcsec: the undithered position is SRCALPHA + DITHALPH, SRCBETA + DITHBETA) and
  SKYSB (the sky, MJy/sr).
- for NIS_AMI (SceneKind.AMI, :mod:`streamcal.simulate.ami`, issue 12): ``AMI_T3``, ``AMI_VIS2``, ``AMI_ERRORS``
  and ``AMI_PISTONS``; the PRIMARY adds AMIFILT, AMIWAVE, BINARY and (binaries) BINSEP, BINPA, BINCON.
- for the coronagraphic modes (SceneKind.CORON, :mod:`streamcal.simulate.coron`, issue 12): ``COMPANIONS``,
  ``SPECKLE`` and ``STARRATE``; the PRIMARY adds STARFLUX, STARX/Y, MASKX/Y, LAMBDAD and the speckle keywords.
- for NRS_MSASPEC (:mod:`streamcal.simulate.msa`): ``WAVELENGTH`` (per pixel of the slitlets' open strips),
  ``SLITLETS`` (slitlet_id per pixel, 0 off them) and per source slitlet ``SPECTRUM`` and ``EXTRACTED`` (EXTVER
  in configuration order; SLITID, SOURCEID in their headers); the PRIMARY adds DISPAXIS, BKGRATE (the sky per
  slitlet pixel, DN/s) and NSLITLET. The MSA metadata file (``jw<ppppp><ooo><vvv>_01_msa.fits``) is written next
  to the raw file, whose PRIMARY names it (MSAMETFL, MSAMETID).
- for the NIRSpec lamps (NRS_LAMP, NRS_AUTOWAVE, NRS_AUTOFLAT: :mod:`streamcal.simulate.lamps`): ``SCENE``,
  ``WAVELENGTH``, ``SLITS`` and, for a line lamp, ``LINES``; the PRIMARY adds DISPAXIS. An MSASPEC lamp's MSA
  metadata file (its open shutters, no sources) is written next to the raw file as for NRS_MSASPEC.

Spectroscopic scenes (single-trace modes): the source's rate is
:func:`~streamcal.simulate.spectra.render_spectrum` of ``spec.spectrum`` (default: 1 mJy at the band centre)
through the mode's layout on the exposure's detector, plus a uniform sky BKGRATE (DN/s, flat-fielded units: 1 %
of the default spectrum's median peak pixel rate, so it does not depend on the source). RATE is
``(source + BKGRATE) × response`` like any scene; so ``RATE / FLAT − BKGRATE`` summed across the dispersion
direction is RATE_SUM (on pixels with a response). For TSO exposures FLUX and RATE_SUM are out of transit
(relative flux 1; RATE is the mean over the file's integrations, see LIGHTCURVE).

The truth PRIMARY header records the pointing error the raw SCI header carries (``spec.pointing_error``):
PNTERRX, PNTERRY (px), PNTERRR (deg, added to ROLL_REF), and the true pointing TRUE_RA, TRUE_DEC, TRUEROLL
(the header's are RA_REF/DEC_REF/ROLL_REF of the raw file), so tests can rebuild the true WCS.

Randomness: ``rng_seed`` seeds the exposure (noise, cosmic rays); ``spec.scene_seed`` (default ``rng_seed``)
the scene; ``spec.detector_seed`` the detector, shared with the reference set.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import NamedTuple

import numpy as np
import numpy.typing as npt

from streamcal.datamodels import Extension, write_fits, write_raw
from streamcal.models.msa import write_msa_metadata
from streamcal.routing import ExpType
from streamcal.simulate.ami import ami_scene
from streamcal.simulate.coron import coron_scene
from streamcal.simulate.detector import DetectorModel
from streamcal.simulate.headers import primary_header, sci_header
from streamcal.simulate.ifu import IfuScene, ifu_truth, render_ifu
from streamcal.simulate.lamps import lamp_truth_extensions, render_lamp
from streamcal.simulate.modes import SceneKind
from streamcal.simulate.msa import MsaScene, msa_metadata_name, msa_truth_extensions, render_msa
from streamcal.simulate.pathloss import PATHLOSS_MODES, fs_source_position, source_loss
from streamcal.simulate.ramp import RampResult, simulate_ramp
from streamcal.simulate.scene import (
    SOURCE_DTYPE,
    STAR_DTYPE,
    SceneResult,
    moffat_fwhm,
    peak_to_flux,
    render_scene,
    star_field,
)
from streamcal.simulate.spec import ExposurePlan, ExposureSpec, plan_exposure
from streamcal.simulate.spectra import (
    SourceSpectrum,
    SpectralLayout,
    default_spectrum_for,
    extracted_truth,
    render_spectrum,
)
from streamcal.simulate.transit import TransitGeometry, integration_mid_times, resolve_transit
from streamcal.simulate.wfss import WFSS_MODES, grism_conf, render_wfss, wfss_truth_extensions

__all__ = ["LIGHTCURVE_DTYPE", "SimulatedExposure", "light_curve", "simulate_exposure"]

LIGHTCURVE_DTYPE = np.dtype([("int", "i4"), ("MJD", "f8"), ("relative_flux", "f8")])

#: Peak signal per integration, as a fraction of the nominal well (saturation − bias), per scene kind.
_FILL = MappingProxyType({
    SceneKind.NONE: 0.0, SceneKind.UNIFORM: 0.3, SceneKind.STARS: 3.0, SceneKind.STAR: 0.5,
    SceneKind.CORON: 2.0, SceneKind.AMI: 0.5, SceneKind.MULTI_TRACE: 0.5, SceneKind.LINES: 0.5,
})
#: Sky under a spectrum, as a fraction of the default source's median peak pixel rate [U].
_SKY_FRACTION = 0.01
_SPECTRUM_DTYPE = np.dtype([("WAVELENGTH", ">f8"), ("FLUX", ">f8")])


@dataclass(frozen=True, slots=True)
class SimulatedExposure:
    """A written exposure: the raw file, its truth file, the root name and the PRIMARY header."""

    path: Path
    truth_path: Path
    root: str
    header: dict[str, object]


def _transit(plan: ExposurePlan) -> tuple[TransitGeometry, npt.NDArray[np.float64]]:
    """The exposure's transit and the mid-times (MJD) of this file's integrations."""
    timing = plan.timing
    geometry = resolve_transit(plan.spec.transit, expstart=plan.spec.expstart, nints_total=plan.nints_total,
                               ngroups=timing.ngroups, tgroup=timing.tgroup, wavelength=plan.mode.wavelength)
    times = integration_mid_times(plan.spec.expstart, first=plan.intstart, nints=timing.nints,
                                  ngroups=timing.ngroups, tgroup=timing.tgroup)
    return geometry, times


def light_curve(plan: ExposurePlan) -> npt.NDArray[np.float64]:
    """Relative flux of each integration in this file at the transit's reference wavelength
    (:mod:`streamcal.simulate.transit`) for a TSO exposure, flat (1.0) otherwise."""
    if not plan.tsovisit:
        return np.ones(plan.timing.nints)
    geometry, times = _transit(plan)
    return geometry.flux(times)


def _int_scale(plan: ExposurePlan, curve: npt.NDArray[np.float64],
               wavelength: npt.NDArray[np.float64] | None) -> npt.NDArray[np.float64]:
    """The per-integration multiplier of the rate: ``curve``, or with a depth slope and a wavelength map, each
    pixel's own light curve (interpolated between 65 depths across the map's range; off-trace pixels take the
    reference depth)."""
    transit = plan.spec.transit
    if not plan.tsovisit or transit.depth_slope == 0.0 or wavelength is None:
        return curve
    geometry, times = _transit(plan)
    depth_map = np.where(np.isfinite(wavelength), geometry.depth + geometry.depth_slope
                         * (wavelength - geometry.wave_ref), geometry.depth)
    if depth_map.min() < 0 or depth_map.max() >= 1:
        raise ValueError(f"the depth slope {geometry.depth_slope}/µm makes depths {depth_map.min():.4g}–"
                         f"{depth_map.max():.4g} across the band: outside [0, 1)")
    grid = np.linspace(depth_map.min(), depth_map.max(), 65)
    curves = np.stack([geometry.flux(times, depth=d) for d in grid])  # (65, nints)
    return np.stack([np.interp(depth_map, grid, curves[:, i]) for i in range(times.size)])


class _Spectral(NamedTuple):
    """A single-trace spectroscopic scene's truth besides the rate."""

    dispaxis: int
    wavelength: npt.NDArray[np.float64]
    spectrum: np.ndarray
    extracted: np.ndarray
    background: float


def _sky_rate(layout: SpectralLayout) -> float:
    """BKGRATE: a fraction of the default spectrum's median peak pixel rate (independent of the source)."""
    wave = layout.wavelength(layout.dispersion_pixels())
    summed = default_spectrum_for(layout).flux_at(wave) / layout.conversion(wave)
    peak = min(1.0, 1.0 / (np.sqrt(2.0 * np.pi) * layout.sigma_px))
    return float(_SKY_FRACTION * np.median(summed) * peak)


def _slit_loss(plan: ExposurePlan) -> Callable[[npt.NDArray[np.float64]], npt.NDArray[np.float64]] | None:
    """The fixed slit's loss for the source at the dither offsets' place in it (:mod:`streamcal.simulate.pathloss`);
    None for a mode without one."""
    aperture = PATHLOSS_MODES.get(str(plan.mode.exp_type))
    if aperture is None or plan.mode.exp_type == ExpType.NRS_MSASPEC:
        return None
    scale = plan.detector.pixel_scale
    x, y = fs_source_position(plan.spec.dither[0] * scale, plan.spec.dither[1] * scale, aperture)
    return functools.partial(source_loss, aperture, x=x, y=y)


def _spectral_scene(plan: ExposurePlan, layout: SpectralLayout,
                    spectrum: SourceSpectrum) -> tuple[SceneResult, _Spectral]:
    loss = _slit_loss(plan)
    render = render_spectrum(layout, spectrum, plan.subarray, throughput=loss)
    sky = _sky_rate(layout)
    rate = (render.rate + sky).astype(np.float32)
    table = np.zeros(spectrum.wavelength_um.size, _SPECTRUM_DTYPE)
    table["WAVELENGTH"], table["FLUX"] = spectrum.wavelength_um, spectrum.flux_jy
    extracted = extracted_truth(layout, spectrum, plan.subarray, throughput=loss)
    truth = _Spectral(layout.dispaxis, render.wavelength, table, extracted, sky)
    return SceneResult(rate, np.zeros(0, SOURCE_DTYPE)), truth


def _ifu_scene(plan: ExposurePlan,
               scene: IfuScene) -> tuple[SceneResult, _Spectral, dict[str, object], npt.NDArray[np.int16]]:
    """An IFU exposure's rate and truth (module docstring), its truth keywords and the slice map."""
    render = render_ifu(scene, plan.subarray)
    table = np.zeros(scene.spectrum.wavelength_um.size, _SPECTRUM_DTYPE)
    table["WAVELENGTH"], table["FLUX"] = scene.spectrum.wavelength_um, scene.spectrum.flux_jy
    truth = _Spectral(scene.geometry.dispaxis, render.pixels.wavelength, table, ifu_truth(scene, render.pixels),
                      0.0)
    head: dict[str, object] = {"SRCALPHA": scene.source[0], "SRCBETA": scene.source[1], "SKYSB": scene.sky,
                               "DITHALPH": scene.offset[0], "DITHBETA": scene.offset[1]}
    return SceneResult(render.rate.astype(np.float32), np.zeros(0, SOURCE_DTYPE)), truth, head, render.pixels.slice


def _msa_scene(plan: ExposurePlan, scene: MsaScene) -> tuple[SceneResult, dict[str, object], list[Extension]]:
    """A MOS exposure's rate, its truth keywords and truth extensions (:mod:`streamcal.simulate.msa`)."""
    render = render_msa(scene, plan.subarray)
    head: dict[str, object] = {"DISPAXIS": 1, "BKGRATE": scene.sky, "NSLITLET": len(scene.config.slitlets)}
    return (SceneResult(render.rate.astype(np.float32), np.zeros(0, SOURCE_DTYPE)), head,
            msa_truth_extensions(scene, render, plan.subarray))


def _wfss_scene(plan: ExposurePlan) -> tuple[SceneResult, dict[str, object], list[Extension]]:
    """A WFSS exposure's rate, its truth keywords and truth extensions (:mod:`streamcal.simulate.wfss`)."""
    assert plan.wfss is not None
    optics = dict(plan.mode.optics)
    conf = grism_conf(plan.detector, optics)
    render = render_wfss(plan.wfss, conf, plan.wcs, plan.subarray, plan.detector, optics)
    head: dict[str, object] = {"DISPAXIS": conf.order(1).dispaxis, "BKGRATE": plan.wfss.sky,
                               "NSOURCES": len(render.traced)}
    return (SceneResult(render.rate.astype(np.float32), np.zeros(0, SOURCE_DTYPE)), head,
            wfss_truth_extensions(render, plan.subarray))


#: A WFSS direct image's brightest source peaks at this fraction of the well (no saturation).
_DIRECT_FILL = 0.3


def _scene(plan: ExposurePlan, scene_seed: int) -> SceneResult:
    mode, det = plan.mode, plan.detector
    t_int = max(plan.timing.ngroups * plan.timing.tgroup, plan.timing.tframe)
    level = _FILL[mode.scene] * (det.saturation - det.bias) / t_int
    fwhm = moffat_fwhm(mode.wavelength, det.pixel_scale)
    shape = (plan.subarray.ny, plan.subarray.nx)
    field_rng, spectrum_rng = np.random.default_rng(scene_seed).spawn(2)
    stars = np.zeros(0, dtype=[("ra", "f8"), ("dec", "f8"), ("flux", "f8")])
    if mode.scene is SceneKind.STARS and plan.wfss is not None:  # a WFSS direct image: the field's sources
        peak = _DIRECT_FILL * (det.saturation - det.bias) / t_int / max(s.brightness for s in plan.wfss.sources)
        stars = np.array([(s.ra, s.dec, peak_to_flux(peak * s.brightness, fwhm)) for s in plan.wfss.sources],
                         STAR_DTYPE)
    elif mode.scene in (SceneKind.STARS, SceneKind.STAR):  # coronagraphy and AMI have their own scenes
        stars = star_field(field_rng, plan.base_wcs, shape, peak=level, fwhm=fwhm,
                           crowded=mode.scene is SceneKind.STARS)
    return render_scene(mode.scene, shape=shape, wcs=plan.wcs, stars=stars, level=level, fwhm=fwhm,
                        dispaxis=mode.dispaxis, rng=spectrum_rng)


def _truth_extensions(rate: npt.NDArray[np.float32], ramp: RampResult, scene: SceneResult, plan: ExposurePlan,
                      curve: npt.NDArray[np.float64], spectral: _Spectral | None) -> list[Extension]:
    cr = ramp.cosmic_rays
    extensions = [
        Extension("RATE", rate, {"BUNIT": "DN/s"}),
        Extension("CR_COUNT", cr.n_hits),
        Extension("CR_FIRST_GROUP", cr.first_group),
        Extension("CR", cr.table),
    ]
    if plan.mode.scene in (SceneKind.STARS, SceneKind.STAR, SceneKind.CORON, SceneKind.AMI):
        extensions.append(Extension("SOURCES", scene.sources, {"BUNIT": "DN/s"}))
    if plan.tsovisit:
        geometry, times = _transit(plan)
        rows = np.zeros(curve.size, LIGHTCURVE_DTYPE)
        rows["int"] = np.arange(plan.intstart, plan.intend + 1)
        rows["MJD"], rows["relative_flux"] = times, curve
        extensions.append(Extension("LIGHTCURVE", rows, geometry.header()))
    if spectral is not None:
        extensions += [Extension("WAVELENGTH", spectral.wavelength, {"BUNIT": "um"}),
                       Extension("SPECTRUM", spectral.spectrum), Extension("EXTRACTED", spectral.extracted)]
    return extensions


def simulate_exposure(spec: ExposureSpec, out_dir: str | os.PathLike[str], *, rng_seed: int) -> SimulatedExposure:
    """Simulate one exposure (or TSO segment) and write its raw and truth files.

    Parameters
    ----------
    spec : ExposureSpec
    out_dir : path-like
        Created if missing. Files are written atomically under their JWST names.
    rng_seed : int
        Seed of this exposure's noise and cosmic rays (and of the scene unless ``spec.scene_seed``).

    Returns
    -------
    SimulatedExposure

    Raises
    ------
    KeyError, ValueError
        The spec does not resolve (unknown mode, subarray, readout; bad segment). Not retriable.
    """
    plan = plan_exposure(spec)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    model = DetectorModel.build(plan.detector, plan.subarray, seed=spec.detector_seed)
    spectral = None
    ifu_head: dict[str, object] = {}
    slices = None
    coron = None
    msa_extensions: list[Extension] = []
    ami_head: dict[str, object] = {}
    ami_extensions: list[Extension] = []
    if plan.ifu is not None:
        scene, spectral, ifu_head, slices = _ifu_scene(plan, plan.ifu)
    elif plan.msa is not None:
        scene, ifu_head, msa_extensions = _msa_scene(plan, plan.msa)
    elif plan.wfss is not None and plan.mode.exp_type in WFSS_MODES:
        scene, ifu_head, msa_extensions = _wfss_scene(plan)
    elif plan.layout is not None and plan.spectrum is not None:
        scene, spectral = _spectral_scene(plan, plan.layout, plan.spectrum)
    elif plan.lamp is not None:  # NIRSpec lamps filling their slits (streamcal.simulate.lamps)
        lamp_render = render_lamp(plan.lamp, plan.subarray)
        scene = SceneResult(lamp_render.rate.astype(np.float32), np.zeros(0, SOURCE_DTYPE))
        ifu_head, msa_extensions = {"DISPAXIS": 1}, lamp_truth_extensions(plan.lamp, lamp_render)
    elif plan.mode.scene is SceneKind.CORON:  # issue 12: mask, speckles, companions (streamcal.simulate.coron)
        seed = spec.scene_seed if spec.scene_seed is not None else rng_seed
        coron = coron_scene(plan, scene=spec.coron, rng=np.random.default_rng(seed))
        scene = coron.scene
    elif plan.mode.scene is SceneKind.AMI:  # issue 12: the non-redundant mask's fringes (streamcal.simulate.ami)
        scene, ami_head, ami_extensions = ami_scene(plan, fill=_FILL[SceneKind.AMI], binary=spec.binary)
    else:
        scene = _scene(plan, spec.scene_seed if spec.scene_seed is not None else rng_seed)
    rate = scene.rate * model.response
    curve = light_curve(plan)
    scale = _int_scale(plan, curve, None if spectral is None else spectral.wavelength)
    ramp = simulate_ramp(rate, model, plan.timing, effects=spec.effects,
                         rng=np.random.default_rng([rng_seed, spec.detector_seed]),
                         int_scale=scale, zeroframe=plan.detector.instrument == "NIRCAM")
    primary = primary_header(plan)
    if plan.wfss is not None and plan.mode.exp_type in WFSS_MODES:  # GR150R, GRISMC disperse along y
        primary["DISPAXIS"] = ifu_head["DISPAXIS"]
    if plan.msa is not None:  # jwst's MSA metadata file, next to the raw file that names it
        msa_name = msa_metadata_name(int(spec.program), int(spec.observation), int(spec.visit))
        write_msa_metadata(out / msa_name, plan.msa.pattern or plan.msa.config)  # every dither point's rows
        primary.update(MSAMETFL=msa_name, MSAMETID=plan.msa.config.msa_metadata_id)
    if plan.lamp is not None and plan.lamp.config is not None:  # an MSA lamp: the shutters its file opens
        msa_name = msa_metadata_name(int(spec.program), int(spec.observation), int(spec.visit))
        write_msa_metadata(out / msa_name, plan.lamp.config)
        primary.update(MSAMETFL=msa_name, MSAMETID=plan.lamp.config.msa_metadata_id)
    path = write_raw(out / plan.name.filename("uncal"), primary=primary, sci_header=sci_header(plan),
                     data=ramp.data, zeroframe=ramp.zeroframe)
    truth_rate = (rate * scale.mean(axis=0).astype(np.float32)).astype(np.float32)
    truth_primary = {
        "TELESCOP": "JWST", "ORIGIN": "STREAMCAL", "ROOTNAME": plan.name.root, "EXP_TYPE": primary["EXP_TYPE"],
        "DETECTOR": plan.detector.name, "SUBARRAY": plan.subarray.name, "RNGSEED": rng_seed,
        "DETSEED": spec.detector_seed, "INTSTART": plan.intstart, "INTEND": plan.intend,
        "PNTERRX": float(spec.pointing_error[0]), "PNTERRY": float(spec.pointing_error[1]),
        "PNTERRR": float(spec.pointing_error[2]), "TRUE_RA": plan.wcs.ra_ref, "TRUE_DEC": plan.wcs.dec_ref,
        "TRUEROLL": plan.wcs.roll_ref,
    }
    if spectral is not None:
        truth_primary.update(DISPAXIS=spectral.dispaxis, BKGRATE=spectral.background, **ifu_head)
    extensions = _truth_extensions(truth_rate, ramp, scene, plan, curve, spectral)
    if slices is not None:
        extensions.append(Extension("SLICE", slices))
    if msa_extensions:
        truth_primary.update(ifu_head)
        extensions += msa_extensions
    if coron is not None:
        truth_primary.update(coron.header)
        extensions += coron.extensions()
    truth_primary.update(ami_head)
    extensions += ami_extensions
    truth_path = write_fits(out / plan.name.filename("truth"), primary=truth_primary, extensions=extensions)
    return SimulatedExposure(path=path, truth_path=truth_path, root=plan.name.root, header=primary)
