"""ami_analyze and ami_normalize as streamcal steps.

ami_analyze fits every integration of each member's ``_calints`` cube (:func:`~streamcal.kernels.ami.fit_fringes`)
and averages the observables (:func:`~streamcal.kernels.ami.average_observables`). The filter (FILTER) gives the
band; the member's WCS gives the pixel scale and the turn of the mask onto the sky (its CD matrix,
:func:`~streamcal.kernels.ami.hole_centres_on_sky`), which OIFITS needs for its (u, v). Pixels flagged DO_NOT_USE
(or JUMP_DET, as jwst's ``usebp``) are left out of the fit. jwst reads the ``nrm`` and ``throughput`` reference
files; streamcal uses the mask geometry and top-hat bands of :mod:`streamcal.kernels.ami.mask` (simplified: no
reference files). ami_normalize pairs science[i] with psf[i] as jwst does (zip: extra members of the longer list
are not normalised) and calibrates (:func:`~streamcal.kernels.ami.normalize_observables`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from streamcal.dq import Pixel
from streamcal.errors import BadDataShapeError, BadKeywordValueError, ConfigError
from streamcal.kernels.ami import (
    HOLE_CENTRES,
    average_observables,
    band_for,
    fit_fringes,
    hole_centres_on_sky,
    normalize_observables,
)
from streamcal.models.ami import AmiAnalysis, AmiExposure, AmiMembers, NormalizedPair, OiGeometry
from streamcal.models.image import ImageData
from streamcal.references import RefType
from streamcal.steps.base import Context, StepOutcome, StepStatus

__all__ = ["AmiAnalyzeStep", "AmiNormalizeStep", "analyze_exposure"]

_RAD_PER_DEG = np.pi / 180.0


def _jacobian(image: ImageData) -> np.ndarray:
    """Radians (East, North) per pixel (x, y) from the member's celestial WCS."""
    if image.wcs is None:
        raise ValueError(f"{image.root} has no WCS")  # a programming error: ami3 attaches it when reading
    return np.asarray(image.wcs.pixel_scale_matrix, dtype=np.float64) * _RAD_PER_DEG


def analyze_exposure(image: ImageData, role: str, *, oversample: int = 3, n_wavelengths: int = 3,
                     usebp: bool = True, weighted: bool = False, firstfew: int | None = None) -> AmiExposure:
    """ami_analyze on one ``_calints`` member (see the module docstring).

    Raises
    ------
    BadKeywordValueError
        FILTER is not an AMI filter. Not retriable.
    BadDataShapeError
        Too few usable pixels, or no flux. Not retriable.
    """
    try:
        band = band_for(str(image.primary.get("FILTER", "")))
    except KeyError as exc:
        raise BadKeywordValueError(f"{image.root}: {exc.args[0]}") from exc
    sci = image.sci if image.is_cube else image.sci[None]
    err = image.err if image.is_cube else image.err[None]
    dq = image.dq if image.dq.ndim == 3 else np.broadcast_to(image.dq, sci.shape)
    if firstfew is not None:
        sci, err, dq = sci[:firstfew], err[:firstfew], dq[:firstfew]
    bad = np.uint32(Pixel.DO_NOT_USE | Pixel.JUMP_DET) if usebp else np.uint32(0)
    good = (dq & bad) == 0
    jacobian = _jacobian(image)
    pixel_scale = float(np.sqrt(abs(np.linalg.det(jacobian)))) / _RAD_PER_DEG * 3600.0
    try:
        fit = fit_fringes(sci, err, good, band=band, pixel_scale=pixel_scale, oversample=oversample,
                          n_wavelengths=n_wavelengths, weighted=weighted)
    except ValueError as exc:
        raise BadDataShapeError(f"{image.root}: ami_analyze: {exc}") from exc
    geometry = OiGeometry(ctrs_inst=np.array(HOLE_CENTRES), ctrs_eqt=hole_centres_on_sky(jacobian),
                          wavelength=band.centre, bandwidth=band.width, fov_arcsec=pixel_scale * sci.shape[-1] / 2,
                          pixel_scale=pixel_scale)
    return AmiExposure(root=image.root, role=role, observables=average_observables(fit.amplitudes, fit.phases),
                       geometry=geometry, centre=fit.centre, primary=dict(image.primary))


@dataclass(frozen=True, slots=True, kw_only=True)
class AmiAnalyzeStep:
    """Fringe fit and observables of every member, science first (jwst's order). ``oversample`` is jwst's
    parameter; ``n_wavelengths`` (band samples of the model), ``weighted`` (1/ERR² weights, jwst's LG
    ``weighted``), ``usebp`` and ``firstfew`` are jwst's too; jwst's affine/rotation search and Fourier bad-pixel
    fix are not implemented."""

    name: ClassVar[str] = "ami_analyze"
    reference_types: ClassVar[tuple[RefType, ...]] = ()
    oversample: int = 3
    n_wavelengths: int = 3
    usebp: bool = True
    weighted: bool = False
    firstfew: int | None = None

    def __post_init__(self) -> None:
        for key in ("oversample", "n_wavelengths"):
            value = getattr(self, key)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ConfigError(f"{key} must be a positive integer, not {value!r}")
        if self.firstfew is not None and (isinstance(self.firstfew, bool) or not isinstance(self.firstfew, int)
                                          or self.firstfew < 1):
            raise ConfigError(f"firstfew must be a positive integer or null, not {self.firstfew!r}")

    def apply(self, members: AmiMembers, ctx: Context) -> StepOutcome[AmiAnalysis]:
        done = [analyze_exposure(image, role, oversample=self.oversample, n_wavelengths=self.n_wavelengths,
                                 usebp=self.usebp, weighted=self.weighted, firstfew=self.firstfew)
                for role, images in (("science", members.science), ("psf", members.psf)) for image in images]
        return StepOutcome(AmiAnalysis(tuple(done)), StepStatus.COMPLETE,
                           counts={"science": len(members.science), "psf": len(members.psf),
                                   "integrations": sum(e.observables.n_ints for e in done)})


@dataclass(frozen=True, slots=True, kw_only=True)
class AmiNormalizeStep:
    """Calibrates science[i] by psf[i] (jwst's pairing)."""

    name: ClassVar[str] = "ami_normalize"
    reference_types: ClassVar[tuple[RefType, ...]] = ()

    def apply(self, analysis: AmiAnalysis, ctx: Context) -> StepOutcome[AmiAnalysis]:
        science, psf = analysis.by_role("science"), analysis.by_role("psf")
        if not science or not psf:
            return StepOutcome.skipped(analysis, "needs a science and a psf member")
        pairs = tuple(NormalizedPair(s, p, normalize_observables(s.observables, p.observables))
                      for s, p in zip(science, psf, strict=False))  # jwst pairs them in order
        # a member without a partner is not normalised: the counts say so rather than dropping it silently
        return StepOutcome(AmiAnalysis(analysis.exposures, pairs), StepStatus.COMPLETE,
                           counts={"pairs": len(pairs), "unpaired_science": len(science) - len(pairs),
                                   "unpaired_psf": len(psf) - len(pairs)})
