"""calwebb_tso3's steps (jwst_spec §1.10, §5.7, §5.9, §5.12; issue 12), each on a whole :class:`TsoSeries`.

- outlier_detection: the temporal test of :func:`streamcal.kernels.tso.flag_temporal_outliers` on all
  integrations of all segments at once (jwst runs it per segment; one series gives the rolling window its full
  width at segment boundaries). The ``_crfints`` cube has the outliers NaN and flagged DO_NOT_USE | OUTLIER, as
  jwst's; the cube the measuring steps see has each outlier replaced by its temporal median instead [ours, in
  the spirit of jwst's pixel_replace, which the tso3 parameter file skips: a NaN in the aperture of one
  integration would otherwise dip that integration's flux by the pixel's share].
- tso_photometry (imaging): aperture + annulus photometry per integration at the target
  (:func:`streamcal.kernels.tso.tso_aperture_photometry`), started at TARG_RA/TARG_DEC through the SCI header's
  WCS (XREF_SCI/YREF_SCI when there is no target position) and centroided; MJy/sr → Jy with PIXAR_SR. The
  errors are statistical, VAR_POISSON + VAR_RNOISE [ours: jwst uses ERR, whose flat-field part is the same in
  every integration and does not scatter a light curve].
- extract_1d (spectroscopy): calwebb_spec2's boxcar extraction (:class:`~streamcal.steps.spec.Extract1dStep`)
  on every integration, along the trace of the series' SPECWCS.
- white_light (spectroscopy): FLUX summed over wavelength per integration, within
  [min_wavelength, max_wavelength] (inclusive), over the points finite in every integration [ours: jwst's
  per-integration ``nansum`` dips when a point is lost in one integration only]; the error is the root of the
  summed FLUX_VAR_POISSON + FLUX_VAR_RNOISE (statistical, as for tso_photometry).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from streamcal.dq import Pixel
from streamcal.errors import BadDataShapeError
from streamcal.kernels.image.wcs import imaging_wcs
from streamcal.kernels.tso import flag_temporal_outliers, tso_aperture_photometry
from streamcal.models.image import ImageData
from streamcal.references import RefType
from streamcal.steps.base import Context, StepOutcome, StepStatus
from streamcal.steps.spec.single_trace import Extract1dStep, trace_image
from streamcal.steps.tso.series import TsoSeries, WhiteLight

__all__ = ["TsoExtract1dStep", "TsoOutlierDetectionStep", "TsoPhotometryStep", "WhiteLightStep", "target_position"]

_DONE = StepStatus.COMPLETE
_FLAGS = np.uint32(Pixel.DO_NOT_USE | Pixel.OUTLIER)


def _with_outliers(image: ImageData, mask: np.ndarray, fill: np.ndarray | None) -> ImageData:
    """The cube with ``mask`` pixels set to ``fill`` (NaN and flagged when ``fill`` is None)."""
    if fill is None:
        nan = np.float32(np.nan)
        var_flat = None if image.var_flat is None else np.where(mask, nan, image.var_flat)
        return image.replace(sci=np.where(mask, nan, image.sci), err=np.where(mask, nan, image.err),
                             var_poisson=np.where(mask, nan, image.var_poisson),
                             var_rnoise=np.where(mask, nan, image.var_rnoise), var_flat=var_flat,
                             dq=np.where(mask, image.dq | _FLAGS, image.dq).astype(np.uint32))
    return image.replace(sci=np.where(mask, fill, image.sci).astype(np.float32),
                         dq=np.where(mask, image.dq | np.uint32(Pixel.OUTLIER), image.dq).astype(np.uint32))


@dataclass(frozen=True, slots=True, kw_only=True)
class TsoOutlierDetectionStep:
    """Flags pixels that depart from their rolling temporal median by more than ``snr`` × ERR (jwst's TSO
    mode: ``rolling_window_width`` 25, the first of ``snr`` "5.0 4.0")."""

    name: ClassVar[str] = "outlier_detection"
    reference_types: ClassVar[tuple[RefType, ...]] = ()
    snr: float = 5.0
    rolling_window_width: int = 25

    def __post_init__(self) -> None:
        if not self.snr > 0 or self.rolling_window_width < 3:
            raise ValueError("outlier_detection needs snr > 0 and rolling_window_width >= 3")

    def apply(self, series: TsoSeries, ctx: Context) -> StepOutcome[TsoSeries]:
        cube = series.cube
        if series.nints < 3:
            return StepOutcome.skipped(series, f"{series.nints} integration(s): a temporal median needs 3")
        found = flag_temporal_outliers(cube.sci, cube.err, cube.dq, snr=self.snr, window=self.rolling_window_width)
        crf = _with_outliers(cube, found.outliers, None)
        measured = _with_outliers(cube, found.outliers, found.median)
        return StepOutcome(series.replace(cube=measured, crf=crf), _DONE, counts={"n_outliers": found.n_outliers})


def target_position(image: ImageData) -> tuple[float, float]:
    """The target's 0-based pixel position: TARG_RA/TARG_DEC through the SCI header's TAN WCS, else
    (XREF_SCI − 1, YREF_SCI − 1) — jwst's start position."""
    head, primary = image.sci_header, image.primary
    ra, dec = primary.get("TARG_RA"), primary.get("TARG_DEC")
    if ra is not None and dec is not None:
        wcs = imaging_wcs(head, image.shape, primary=primary, source=image.root)
        x, y = wcs.world_to_pixel_values(float(str(ra)), float(str(dec)))
        return float(x), float(y)
    return float(str(head.get("XREF_SCI", 1))) - 1.0, float(str(head.get("YREF_SCI", 1))) - 1.0


@dataclass(frozen=True, slots=True, kw_only=True)
class TsoPhotometryStep:
    """Aperture photometry per integration (jwst's defaults: radius 3, annulus 4–5 px, centroided; the centroid
    box is ``fit_box_width``)."""

    name: ClassVar[str] = "tso_photometry"
    reference_types: ClassVar[tuple[RefType, ...]] = ()
    radius: float = 3.0
    radius_inner: float = 4.0
    radius_outer: float = 5.0
    centroid_source: bool = True
    fit_box_width: int = 11

    def __post_init__(self) -> None:
        if not 0 < self.radius <= self.radius_inner < self.radius_outer:
            raise ValueError("tso_photometry needs 0 < radius <= radius_inner < radius_outer")

    def apply(self, series: TsoSeries, ctx: Context) -> StepOutcome[TsoSeries]:
        if series.is_spectral:
            return StepOutcome.skipped(series, "a spectroscopic time series (extract_1d and white_light measure it)")
        cube = series.cube
        x, y = target_position(cube)
        var = cube.var_poisson + cube.var_rnoise  # VAR_FLAT is the same in every integration: no scatter
        try:
            phot = tso_aperture_photometry(cube.sci, var, x=x, y=y, radius=self.radius,
                                           radius_inner=self.radius_inner, radius_outer=self.radius_outer,
                                           centroid=self.centroid_source, fit_box=self.fit_box_width)
        except ValueError as exc:
            raise BadDataShapeError(f"{cube.root}: tso_photometry: {exc}") from exc
        unit = str(cube.sci_header.get("BUNIT", "")).strip()
        pixar = cube.sci_header.get("PIXAR_SR")
        if unit == "MJy/sr" and pixar is not None:  # jwst: MJy/sr × PIXAR_SR × 1e6 = Jy
            factor = float(str(pixar)) * 1e6
            phot = phot._replace(**{f: getattr(phot, f) * factor for f in phot._fields
                                    if f.startswith(("aperture", "annulus", "net"))})
            unit = "Jy"
        return StepOutcome(series.replace(phot=phot, phot_unit=unit), _DONE,
                           counts={"n_integrations": series.nints})


@dataclass(frozen=True, slots=True, kw_only=True)
class TsoExtract1dStep(Extract1dStep):
    """calwebb_spec2's boxcar extraction (same parameters) of every integration of a spectroscopic series."""

    name: ClassVar[str] = "extract_1d"

    def apply(self, series: TsoSeries, ctx: Context) -> StepOutcome[TsoSeries]:  # type: ignore[override]
        if series.layout is None:
            return StepOutcome.skipped(series, "an imaging time series (tso_photometry measures it)")
        traced = trace_image(series.cube, series.layout)
        out = Extract1dStep.apply(self, traced, ctx)
        return StepOutcome(series.replace(spectrum=out.model), out.status, out.references_used, out.counts,
                           out.note)


@dataclass(frozen=True, slots=True, kw_only=True)
class WhiteLightStep:
    """FLUX summed over wavelength per integration (jwst's ``min_wavelength``/``max_wavelength``, µm)."""

    name: ClassVar[str] = "white_light"
    reference_types: ClassVar[tuple[RefType, ...]] = ()
    min_wavelength: float | None = None
    max_wavelength: float | None = None

    def apply(self, series: TsoSeries, ctx: Context) -> StepOutcome[TsoSeries]:
        spectrum = series.spectrum
        if spectrum is None:
            return StepOutcome.skipped(series, "no per-integration spectra (extract_1d did not run)")
        wave = np.asarray(spectrum.columns["WAVELENGTH"], dtype=np.float64)
        flux = np.asarray(spectrum.columns["FLUX"], dtype=np.float64)
        error = np.sqrt(np.asarray(spectrum.columns["FLUX_VAR_POISSON"], dtype=np.float64)
                        + np.asarray(spectrum.columns["FLUX_VAR_RNOISE"], dtype=np.float64))
        lo = -math.inf if self.min_wavelength is None else self.min_wavelength
        hi = math.inf if self.max_wavelength is None else self.max_wavelength
        use = np.all((wave >= lo) & (wave <= hi) & np.isfinite(flux) & np.isfinite(error), axis=0)
        if not use.any():
            raise BadDataShapeError(f"{series.cube.root}: white_light: no wavelength point in [{lo}, {hi}] µm is "
                                    "finite in every integration")
        order = int(str(spectrum.meta.get("SPORDER", 1)))
        white = WhiteLight(order, flux[:, use].sum(axis=1), np.sqrt((error[:, use] ** 2).sum(axis=1)),
                           int(use.sum()))
        return StepOutcome(series.replace(white=(white,)), _DONE,
                           counts={"n_points": white.n_points, "n_integrations": series.nints})
