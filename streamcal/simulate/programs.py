"""Named, seeded observing programs: sets of exposures as an observatory would deliver them.

Every program is PROGRAM 01234 with its own observation number(s), so programs can share an ingest folder
(``demo`` mixes several) without name collisions. ``size="small"`` uses the catalogue's small subarrays and
boosts the cosmic-ray rate (≈0.2 % of pixels hit per integration) so short test ramps still have jumps;
``size="full"`` uses realistic sizes and the realistic cosmic-ray rate.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from types import MappingProxyType

import numpy as np

from streamcal.simulate.ami import AmiBinary
from streamcal.simulate.exposure import SimulatedExposure, simulate_exposure
from streamcal.simulate.modes import MODES, Size
from streamcal.simulate.ramp import Effects
from streamcal.simulate.spec import ExposureSpec, Target
from streamcal.simulate.wfss import default_wfss_scene

__all__ = ["PROGRAMS", "ProgramResult", "program_specs", "simulate_program"]

_SMALL_CR_FRACTION = 0.002
_EXPSTART = 60400.25

#: Program name → description.
PROGRAMS: MappingProxyType[str, str] = MappingProxyType({
    "imaging_dither": "NRC_IMAGE 4-point INTRAMODULEX dither of one star field, header pointing off by up to "
                      "0.6 px (image2 → image3)",
    "tso": "NRC_TSIMAGE transit (TSOVISIT=T) split into 2 segments (tso3)",
    "coron": "NRC_CORON science exposure plus an IS_PSF=T reference star (coron3)",
    "ami": "NIS_AMI binary (AmiBinary defaults: 250 mas, PA 60°, contrast 0.1) plus an IS_PSF=T point-source "
           "calibrator (ami3)",
    "wfsc": "two NRC_IMAGE PATTTYPE=WFSC exposures, same ACT_ID and detector (wfs-image3)",
    "darks": "NRC_DARK and MIR_DARKIMG (calwebb_dark)",
    "guider": "FGS_ID-STACK, FGS_TRACK and FGS_FINEGUIDE (calwebb_guider)",
    "spectroscopy": "NRS_FIXEDSLIT, MIR_MRS, NIS_SOSS and NRS_MSASPEC (spec2 → spec3) and a NIRSpec line lamp "
                    "(NRS_LAMP: spec2)",
    "miri_imaging": "MIR_IMAGE 4-point CYCLING dither (image2 → image3)",
    "all_modes": "one exposure of every EXP_TYPE; TSO-optional modes with TSOVISIT F and T",
    "wfss": "NIRISS WFSS, observation 10: two dithered NIS_IMAGE CLEAR/F150W direct images of a field of five "
            "compact sources (image2 → image3: the catalogue) and its GR150R and GR150C NIS_WFSS exposures "
            "(level-2 ASN → spec2), full frame, few groups",
    "demo": "imaging_dither + tso + coron + ami + wfsc + darks + guider + spectroscopy + wfss",
})


@dataclass(frozen=True, slots=True)
class ProgramResult:
    """The exposures a program wrote, in simulation order."""

    name: str
    exposures: list[SimulatedExposure]


def _dithered(exp_type: str, *, observation: int, patttype: str, offsets: list[tuple[float, float]],
              scale: float, scene_seed: int, errors: list[tuple[float, float, float]] | None = None,
              **extra: object) -> list[ExposureSpec]:
    n = len(offsets)
    errs = errors or [(0.0, 0.0, 0.0)] * n
    return [
        ExposureSpec(exp_type=exp_type, observation=observation, exposure=i + 1, patttype=patttype, numdthpt=n,
                     patt_num=i + 1, dither=(dx * scale, dy * scale), nexposur=n, expcount=i + 1,
                     scene_seed=scene_seed, pointing_error=errs[i], **extra)  # type: ignore[arg-type]
        for i, (dx, dy) in enumerate(offsets)
    ]


_DITHER4 = [(0.0, 0.0), (4.5, 3.5), (-3.5, 5.5), (6.5, -4.5)]
#: Header pointing errors of the imaging dither (dx, dy px, roll deg): what calwebb_image3's tweakreg removes.
_POINTING_ERRORS4 = [(0.0, 0.0, 0.0), (0.42, -0.31, 0.01), (-0.55, 0.23, -0.012), (0.27, 0.48, 0.006)]


def _imaging_dither(seed: int, full: bool) -> list[ExposureSpec]:
    # small: SUB160P rather than the mode's SUB64P, so the field has the ≥ 15 stars tweakreg needs (jwst minobj)
    return _dithered("NRC_IMAGE", observation=1, patttype="INTRAMODULEX", offsets=_DITHER4,
                     scale=10.0 if full else 1.0, scene_seed=seed, errors=_POINTING_ERRORS4,
                     **({} if full else {"subarray": "SUB160P"}))


def _tso(seed: int, full: bool) -> list[ExposureSpec]:
    nints = 50 if full else 6
    return [ExposureSpec(exp_type="NRC_TSIMAGE", observation=2, tsovisit=True, nints=nints, segment=s,
                         nsegments=2, scene_seed=seed) for s in (1, 2)]


def _with_psf(exp_type: str, observation: int, seed: int) -> list[ExposureSpec]:
    return [
        ExposureSpec(exp_type=exp_type, observation=observation, exposure=1, nexposur=2, expcount=1,
                     scene_seed=seed),
        ExposureSpec(exp_type=exp_type, observation=observation, exposure=2, nexposur=2, expcount=2,
                     is_psf=True, scene_seed=seed + 1,
                     target=Target(targetid=2, name="SIM-PSF-REF", ra=80.9, dec=-69.2)),
    ]


def _ami(seed: int) -> list[ExposureSpec]:
    science, psf = _with_psf("NIS_AMI", 4, seed)
    return [replace(science, binary=AmiBinary()), psf]


def _wfsc(seed: int, full: bool) -> list[ExposureSpec]:
    return _dithered("NRC_IMAGE", observation=5, patttype="WFSC", offsets=[(0.0, 0.0), (3.0, 3.0)],
                     scale=10.0 if full else 1.0, scene_seed=seed, visitype="PRIME_WFSC_ROUTINE", activity="03")


def _wfss() -> list[ExposureSpec]:
    """Observation 10: the direct images (exposures 1–2, two dither points) and both grisms (3–4) of one field
    (:func:`~streamcal.simulate.wfss.default_wfss_scene`). WFSS reads the full frame (no WFSS subarray here)."""
    target = Target()
    scene = default_wfss_scene("NIS", "F150W", ra=target.ra, dec=target.dec, roll=target.roll)
    direct = [ExposureSpec(exp_type="NIS_IMAGE", observation=10, exposure=i + 1, subarray="FULL", ngroups=3,
                           patttype="NONE", numdthpt=2, patt_num=i + 1, dither=offset, nexposur=4, expcount=i + 1,
                           wfss_scene=scene, target=target)
              for i, offset in enumerate(((0.0, 0.0), (3.5, 2.5)))]
    grisms = [ExposureSpec(exp_type="NIS_WFSS", observation=10, exposure=3 + i, subarray="FULL", ngroups=6,
                           optics=(("FILTER", grism), ("PUPIL", "F150W")), nexposur=4, expcount=3 + i,
                           wfss_scene=scene, target=target)
              for i, grism in enumerate(("GR150R", "GR150C"))]
    return direct + grisms


def _set(observation: int, exp_types: list[str]) -> list[ExposureSpec]:
    return [ExposureSpec(exp_type=e, observation=observation, visit=i + 1) for i, e in enumerate(exp_types)]


def _all_modes(seed: int, full: bool) -> list[ExposureSpec]:
    specs = []
    for i, mode in enumerate(MODES.values()):
        choices = (False, True) if mode.tso == "optional" else (None,)
        for tso in choices:
            specs.append(ExposureSpec(exp_type=mode.exp_type, observation=100 + i, exposure=2 if tso else 1,
                                      tsovisit=tso))
    return specs


_BUILDERS: MappingProxyType[str, Callable[[int, bool], list[ExposureSpec]]] = MappingProxyType({
    "imaging_dither": _imaging_dither,
    "tso": _tso,
    "coron": lambda seed, full: _with_psf("NRC_CORON", 3, seed),
    "ami": lambda seed, full: _ami(seed),
    "wfsc": _wfsc,
    "darks": lambda seed, full: _set(6, ["NRC_DARK", "MIR_DARKIMG"]),
    "guider": lambda seed, full: _set(7, ["FGS_ID-STACK", "FGS_TRACK", "FGS_FINEGUIDE"]),
    "spectroscopy": lambda seed, full: _set(8, ["NRS_FIXEDSLIT", "MIR_MRS", "NIS_SOSS", "NRS_MSASPEC", "NRS_LAMP"]),
    "miri_imaging": lambda seed, full: _dithered("MIR_IMAGE", observation=9, patttype="CYCLING",
                                                 offsets=_DITHER4, scale=5.0 if full else 1.0, scene_seed=seed),
    "all_modes": _all_modes,
    "wfss": lambda seed, full: _wfss(),
})
_DEMO = ("imaging_dither", "tso", "coron", "ami", "wfsc", "darks", "guider", "spectroscopy", "wfss")


def _seed_for(seed: int, index: int) -> int:
    return int(np.random.SeedSequence([seed, index]).generate_state(1)[0])


def program_specs(name: str, *, seed: int = 1, size: Size = "small") -> list[tuple[ExposureSpec, int]]:
    """The exposures of a program and their rng seeds, without simulating anything.

    Raises
    ------
    KeyError
        Unknown program (see :data:`PROGRAMS`). Not retriable.
    """
    if name not in PROGRAMS:
        raise KeyError(f"unknown program {name!r}; known: {sorted(PROGRAMS)}")
    full = size == "full"
    names = _DEMO if name == "demo" else (name,)
    specs = [spec for part in names for spec in _BUILDERS[part](seed, full)]
    effects = Effects() if full else Effects(cr_fraction=_SMALL_CR_FRACTION)
    out = []
    for index, spec in enumerate(specs):
        start = _EXPSTART + spec.observation * 0.05 + spec.visit * 0.01 + spec.exposure * 0.002
        out.append((replace(spec, size=size, effects=effects, expstart=start), _seed_for(seed, index)))
    return out


def simulate_program(name: str, out_dir: str | os.PathLike[str], *, seed: int = 1,
                     size: Size = "small") -> ProgramResult:
    """Simulate a named program into ``out_dir`` (its ingest folder).

    Parameters
    ----------
    name : str
        A key of :data:`PROGRAMS`.
    out_dir : path-like
    seed : int
        Same seed, same files.
    size : {"small", "full"}

    Returns
    -------
    ProgramResult

    Raises
    ------
    KeyError
        Unknown program. Not retriable.
    """
    out = Path(out_dir)
    exposures = [simulate_exposure(spec, out, rng_seed=rng_seed)
                 for spec, rng_seed in program_specs(name, seed=seed, size=size)]
    return ProgramResult(name=name, exposures=exposures)
