"""calwebb_ami3's models in memory: the exposures of an ami3 product, and what ami_analyze / ami_normalize make.

:class:`AmiMembers` holds the science and psf (calibrator) ``_calints`` cubes of one ASN product, each with its
celestial WCS; ami_analyze turns them into an :class:`AmiAnalysis` (one :class:`AmiExposure` per member:
averaged observables and the geometry to write them as OIFITS); ami_normalize adds the calibrated pairs.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from streamcal.kernels.ami import Observables
from streamcal.models.image import ImageData

__all__ = ["AmiAnalysis", "AmiExposure", "AmiMembers", "NormalizedPair", "OiGeometry"]


@dataclass(frozen=True, slots=True)
class AmiMembers:
    """The ``_calints`` exposures of one ami3 product (with their WCS), in association order."""

    science: tuple[ImageData, ...]
    psf: tuple[ImageData, ...]


@dataclass(frozen=True, slots=True, kw_only=True)
class OiGeometry:
    """What OIFITS needs besides the observables: the hole centres in the instrument frame and on the sky
    (East, North; m), the wavelength and bandwidth (m), the field of view (arcsec) and the pixel scale."""

    ctrs_inst: npt.NDArray[np.float64]
    ctrs_eqt: npt.NDArray[np.float64]
    wavelength: float
    bandwidth: float
    fov_arcsec: float
    pixel_scale: float


@dataclass(frozen=True, slots=True, kw_only=True)
class AmiExposure:
    """One member's averaged observables (ami_analyze) and where they came from."""

    root: str
    role: str  # "science" or "psf"
    observables: Observables
    geometry: OiGeometry
    centre: tuple[float, float]
    primary: dict[str, object] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class NormalizedPair:
    """A science member calibrated by a psf member (ami_normalize)."""

    science: AmiExposure
    psf: AmiExposure
    observables: Observables


@dataclass(frozen=True, slots=True)
class AmiAnalysis:
    """ami_analyze's members (science first, then psf) and ami_normalize's pairs (empty until it ran)."""

    exposures: tuple[AmiExposure, ...]
    normalized: tuple[NormalizedPair, ...] = ()

    def by_role(self, role: str) -> tuple[AmiExposure, ...]:
        return tuple(e for e in self.exposures if e.role == role)
