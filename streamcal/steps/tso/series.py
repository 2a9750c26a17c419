"""The model calwebb_tso3's steps pass along: one time series (the segments of one exposure, in time order).

Every tso3 step takes and returns a :class:`TsoSeries` (the plan's chain is static); each adds its result to a
field and leaves the others alone. Which steps act depends on the series' kind: an imaging series
(``layout`` None) gets tso_photometry, a spectroscopic one (the trace of its SPECWCS reference) extract_1d and
white_light; the others record SKIPPED saying why.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np
import numpy.typing as npt

from streamcal.kernels.tso.photometry import TsoPhotometry
from streamcal.models.image import ImageData
from streamcal.models.spectral import SpectralLayout
from streamcal.steps.spec.single_trace import Spectrum

__all__ = ["TsoSeries", "WhiteLight"]


class WhiteLight(NamedTuple):
    """The white-light curve of one spectral order: flux summed over wavelength per integration (Jy)."""

    order: int
    flux: npt.NDArray[np.float64]
    error: npt.NDArray[np.float64]
    n_points: int  # wavelength points summed (those every integration holds)


@dataclass(frozen=True, slots=True)
class TsoSeries:
    """All integrations of one TSO exposure, segments concatenated in time order.

    Attributes
    ----------
    cube : ImageData
        The integrations (``(nints, ny, nx)``) as measured: the calints, after outlier_detection with each
        outlier replaced by its temporal median (see :mod:`streamcal.steps.tso.steps`).
    int_times : ndarray
        The INT_TIMES rows of the cube's integrations, in order.
    segments : ndarray, int32
        Each integration's segment (EXSEGNUM).
    member_index : ndarray, int32
        Each integration's member, an index into ``member_roots``.
    member_roots : tuple of str
        The member exposures' roots, in time order.
    member_primaries : tuple of dict
        Their primary headers (each ``_crfints`` keeps its own).
    layout : SpectralLayout or None
        The trace (spectroscopy); None for imaging.
    crf : ImageData or None
        After outlier_detection: the cube with outliers NaN and flagged (what ``_crfints`` holds).
    phot : TsoPhotometry or None
        After tso_photometry (imaging); ``phot_unit`` its flux unit.
    spectrum : Spectrum or None
        After extract_1d (spectroscopy): one row per integration.
    white : tuple of WhiteLight
        After white_light.
    """

    cube: ImageData
    int_times: np.ndarray
    segments: npt.NDArray[np.int32]
    member_index: npt.NDArray[np.int32]
    member_roots: tuple[str, ...]
    member_primaries: tuple[dict[str, object], ...]
    layout: SpectralLayout | None = None
    crf: ImageData | None = None
    phot: TsoPhotometry | None = None
    phot_unit: str = ""
    spectrum: Spectrum | None = None
    white: tuple[WhiteLight, ...] = ()

    @property
    def nints(self) -> int:
        return int(self.cube.sci.shape[0])

    @property
    def mid_times(self) -> npt.NDArray[np.float64]:
        """int_mid_MJD_UTC of each integration."""
        return np.asarray(self.int_times["int_mid_MJD_UTC"], dtype=np.float64)

    @property
    def is_spectral(self) -> bool:
        return self.layout is not None

    def replace(self, **changes: object) -> TsoSeries:
        return dataclasses.replace(self, **changes)  # type: ignore[arg-type]
