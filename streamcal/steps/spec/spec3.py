"""calwebb_spec3's steps for the single-trace modes (one point source on one trace: NIRSpec fixed slit, MIRI LRS
fixed slit, NIRISS SOSS order 1; ``jwst_spec.md`` §1.7, issue 11).

The members arrive rectified onto one wavelength grid × whole-pixel offsets from their traces
(:class:`SpecMemberSet`, made by :func:`rectify_members` as calwebb_spec3 reads them; the rectification is
:mod:`streamcal.kernels.spec.rectify`). Then:

- outlier_detection flags, in each member, pixels that deviate from the members' median
  (:mod:`streamcal.kernels.spec.outlier`; with fewer than three members it flags nothing and says so);
- resample_spec combines the members pixel by pixel (:mod:`streamcal.kernels.spec.combine2d`) into the
  :class:`Spec2D` written as ``_s2d``;
- extract_1d extracts the combined trace by boxcar with background (the spec2 kernel, same aperture
  parameters in units of the trace's σ) into the ``_x1d`` spectrum, and keeps each member's own extraction on
  the same grid for combine_1d;
- combine_1d averages the members' spectra by exposure time (:mod:`streamcal.kernels.spec.combine1d`) into
  the ``_c1d`` columns.

IFU members (MIR_MRS, NRS_IFU: :class:`~streamcal.steps.spec.spec3_ifu.IfuMemberSet`) take the same steps, each
dispatching on the members' kind (:mod:`streamcal.steps.spec.kinds`): outlier_detection against the other
members' median cube, resample_spec SKIPPED, cube_build combining all members into one cube
(:class:`Spec3CubeBuildStep`), extract_1d in an aperture with a background annulus from that cube, and
combine_1d SKIPPED (jwst runs it for non-IFU spectra only); :mod:`streamcal.steps.spec.spec3_ifu` says how.

WFSS members (:mod:`streamcal.steps.spec.spec3_wfss`) skip outlier_detection and resample_spec; extract_1d
extracts each member's sources and combine_1d combines them per source.

Simplified against jwst: one source per single-trace association (MOS regroups by source before this plan:
:mod:`streamcal.steps.spec.spec3_mos`); NIS_SOSS
goes through the same rectify-combine-extract path instead of jwst's per-member extract_1d → photom →
combine_1d (streamcal's spec2 already applied photom to the SOSS ``_cal``).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import ClassVar

import numpy as np
import numpy.typing as npt

from streamcal.dq import Pixel
from streamcal.errors import InvalidInputError
from streamcal.kernels.spec import BoxcarAperture, extract_boxcar
from streamcal.kernels.spec.combine1d import CombinedColumns, combine_spectra
from streamcal.kernels.spec.combine2d import combine_rectified
from streamcal.kernels.spec.outlier import flag_spectral_outliers
from streamcal.kernels.spec.rectify import Rectified, common_grid, grid_edges, rectify_trace
from streamcal.references import RefType
from streamcal.steps.base import Context, StepOutcome, StepStatus
from streamcal.steps.spec.ifu import CubeParameters, extract_cube
from streamcal.steps.spec.kinds import Spec3Combined, Spec3Members, Spec3Product, Spec3Spectra
from streamcal.steps.spec.single_trace import Extract1dStep, Spectrum, TraceImage
from streamcal.steps.spec.spec3_ifu import IfuCombinedCube, IfuMemberSet, build_combined_cube, flag_members
from streamcal.steps.spec.spec3_wfss import WfssMemberSet, WfssMemberSpectra, combine_wfss, extract_wfss_members

__all__ = ["CROSS_HALF_EXTENT_SIGMA", "Combine1dStep", "CombinedSpectrum", "RectifiedMember", "Spec2D",
           "Spec3CubeBuildStep", "Spec3Extract1dStep", "Spec3OutlierDetectionStep", "Spec3Spectrum",
           "SpecMemberSet", "SpecResampleStep", "rectify_members", "source_id"]

_DONE = StepStatus.COMPLETE
_MJY_TO_JY = 1e6
_DNU = np.uint32(Pixel.DO_NOT_USE)
_OUTLIER = np.uint32(Pixel.DO_NOT_USE | Pixel.OUTLIER)
#: The rectified frame covers the trace ± this many σ of its profile (+ 2 px): extract_1d's default background
#: region (6–12 σ) fits inside.
CROSS_HALF_EXTENT_SIGMA = 14.0
F64 = npt.NDArray[np.float64]


@dataclass(frozen=True, slots=True)
class RectifiedMember:
    """One member on the common grid: its root, primary header, rectified planes and trace σ (px); ``own``, when
    the planes were moved onto another member's sub-pixel trace phase (MOS nods:
    :mod:`streamcal.steps.spec.spec3_mos`), the member's planes before the move, which its own extraction (for
    combine_1d) uses."""

    root: str
    primary: dict[str, object]
    rectified: Rectified
    sigma_px: float
    own: Rectified | None = None


@dataclass(frozen=True, slots=True)
class SpecMemberSet(Spec3Members):
    """The members of one spec3 product on one grid: ``wavelength`` (µm, increasing) is the bin centres."""

    members: tuple[RectifiedMember, ...]
    wavelength: F64
    dispaxis: int

    def __len__(self) -> int:
        return len(self.members)


@dataclass(frozen=True, slots=True)
class Spec2D(Spec3Product):
    """The combined trace (the ``_s2d``): the rectified planes, WHT and N_INPUT, and the members it came from."""

    rectified: Rectified
    weight: F64
    n_input: npt.NDArray[np.int32]
    members: SpecMemberSet

    @property
    def wavelength_2d(self) -> npt.NDArray[np.float32]:
        """The WAVELENGTH plane: the grid's wavelength in every row (jwst writes a 2-D array)."""
        shape = self.rectified.sci.shape
        return np.broadcast_to(self.members.wavelength[None, :], shape).astype(np.float32)


@dataclass(frozen=True, slots=True)
class Spec3Spectrum(Spec3Spectra):
    """extract_1d's output: the combined spectrum and each member's own spectrum on the same grid (none for an
    IFU cube: combine_1d does not run for IFU)."""

    combined: Spectrum
    members: tuple[Spectrum, ...]
    exptimes: tuple[float, ...]


@dataclass(frozen=True, slots=True)
class CombinedSpectrum(Spec3Combined):
    """combine_1d's output: the COMBINE1D columns on the grid and the table's keywords."""

    wavelength: F64
    columns: CombinedColumns
    meta: dict[str, object] = field(default_factory=dict)


def rectify_members(traced: Sequence[TraceImage]) -> SpecMemberSet:
    """Rectify every member onto the first member's native wavelength sampling (jwst's resample_spec keeps the
    input's dispersion sampling too), extended by the others' where they reach beyond it
    (:func:`~streamcal.kernels.spec.rectify.common_grid`), and whole-pixel offsets ±(CROSS_HALF_EXTENT_SIGMA·σ
    + 2) from each trace.

    Raises
    ------
    ValueError
        No member, or members of different dispersion axes. Not retriable (the pipeline checks the
        association first and says which member differs).
    """
    if not traced:
        raise ValueError("no member to rectify")
    dispaxis = traced[0].layout.dispaxis
    if any(t.layout.dispaxis != dispaxis for t in traced):
        raise ValueError("members disperse along different axes")
    grid = common_grid([t.wavelength[t.lit] for t in traced])
    edges = grid_edges(grid)
    sigma = max(t.layout.sigma_px for t in traced)
    half_extent = math.ceil(CROSS_HALF_EXTENT_SIGMA * sigma) + 2
    members = []
    for t in traced:
        image = t.image
        rect = rectify_trace(image.sci, var_poisson=image.var_poisson, var_rnoise=image.var_rnoise,
                             var_flat=image.var_flat, dq=image.dq, dispaxis=dispaxis, centre=t.centre,
                             wavelength=t.wavelength, lit=t.lit, edges=edges, half_extent=half_extent)
        members.append(RectifiedMember(image.root, dict(image.primary), rect, t.layout.sigma_px))
    return SpecMemberSet(tuple(members), grid, dispaxis)


def _pair(value: object) -> tuple[float, float]:
    items = value.replace(",", " ").split() if isinstance(value, str) else value
    first, second = (float(v) for v in items)  # type: ignore[attr-defined]
    return first, second


@dataclass(frozen=True, slots=True, kw_only=True)
class Spec3OutlierDetectionStep:
    """Flags pixels deviating from the members' median on the common grid (jwst ``spec`` mode, §5.7):
    DO_NOT_USE|OUTLIER and NaN, as jwst marks them. Needs ``min_members`` members (3). IFU members are tested
    against the other members' median cube, blotted back to their pixels, with the first (snr, scale) pair
    (:mod:`streamcal.kernels.spec.ifu_outlier`)."""

    name: ClassVar[str] = "outlier_detection"
    reference_types: ClassVar[tuple[RefType, ...]] = ()
    snr: tuple[float, float] = (5.0, 4.0)
    scale: tuple[float, float] = (1.2, 0.7)
    backg: float = 0.0
    min_members: int = 3

    def __post_init__(self) -> None:
        # jwst parameter files spell these as strings ("5.0 4.0")
        for name in ("snr", "scale"):
            try:
                object.__setattr__(self, name, _pair(getattr(self, name)))
            except (TypeError, ValueError) as exc:
                raise ValueError(f"{name} must be two numbers such as '5.0 4.0', not {getattr(self, name)!r}") from exc

    def apply(self, members: Spec3Members, ctx: Context) -> StepOutcome[Spec3Members]:
        n = len(members)
        if isinstance(members, WfssMemberSet):
            return StepOutcome.skipped(members, "slitless (WFSS) members: jwst's calwebb_spec3 runs no "
                                                "outlier_detection on them")
        if isinstance(members, IfuMemberSet) and n >= self.min_members:
            ifu, counts = flag_members(members, snr=self.snr[0], scale=self.scale[0], min_members=self.min_members)
            return StepOutcome(ifu, _DONE, counts={"n_members": n, "n_flagged": int(sum(counts)),
                                                   "n_tested_members": n})
        if n < self.min_members:
            # recorded as doing nothing: the median of fewer than three members cannot tell which one is wrong
            return StepOutcome(members, _DONE, counts={"n_members": n, "n_flagged": 0, "n_tested_members": 0})
        if not isinstance(members, SpecMemberSet):
            raise TypeError(f"outlier_detection has no rule for a {type(members).__name__}")
        rects = [m.rectified for m in members.members]
        found = flag_spectral_outliers([r.sci for r in rects], [np.sqrt(r.variance) for r in rects],
                                       [r.dq for r in rects], snr=self.snr, scale=self.scale, backg=self.backg,
                                       min_members=self.min_members)
        out = []
        for member, mask in zip(members.members, found.masks, strict=True):
            r = member.rectified
            nan = np.where(mask, np.nan, 1.0)
            flagged = r._replace(sci=r.sci * nan, var_poisson=r.var_poisson * nan, var_rnoise=r.var_rnoise * nan,
                                 var_flat=r.var_flat * nan, dq=np.where(mask, r.dq | _OUTLIER, r.dq).astype(np.uint32))
            out.append(dataclasses.replace(member, rectified=flagged))
        return StepOutcome(dataclasses.replace(members, members=tuple(out)), _DONE,
                           counts={"n_members": n, "n_flagged": int(sum(found.n_flagged)), "n_tested_members": n})


@dataclass(frozen=True, slots=True, kw_only=True)
class SpecResampleStep:
    """Combines the rectified members pixel by pixel (``weight_type`` ``ivm`` or ``exptime``, as jwst's)."""

    name: ClassVar[str] = "resample_spec"
    reference_types: ClassVar[tuple[RefType, ...]] = ()
    weight_type: str = "ivm"

    def __post_init__(self) -> None:
        if self.weight_type not in ("ivm", "exptime"):
            raise ValueError(f"weight_type must be 'ivm' or 'exptime', not {self.weight_type!r}")

    def apply(self, members: Spec3Members, ctx: Context) -> StepOutcome[Spec3Product]:
        if isinstance(members, WfssMemberSet):
            return StepOutcome.skipped(members, "slitless (WFSS) members: extract_1d and combine_1d combine them")
        if not isinstance(members, SpecMemberSet):
            return StepOutcome.skipped(members, "IFU members: cube_build combines them")
        exptimes = [_exptime(m.primary) for m in members.members]
        combined = combine_rectified([m.rectified for m in members.members], weight_type=self.weight_type,
                                     exptimes=exptimes)
        return StepOutcome(Spec2D(combined.rectified, combined.weight, combined.n_input, members), _DONE,
                           counts={"n_members": len(members),
                                   "n_empty_pixels": int(np.count_nonzero(combined.n_input == 0))})


def _exptime(primary: dict[str, object]) -> float:
    """EFFEXPTM (else EXPTIME, else 1 s): combine_1d's and the exptime weighting's weight."""
    for key in ("EFFEXPTM", "EXPTIME"):
        value = primary.get(key)
        try:
            if value is not None and float(str(value)) > 0:
                return float(str(value))
        except ValueError:
            continue
    return 1.0


@dataclass(frozen=True, slots=True, kw_only=True)
class Spec3CubeBuildStep(CubeParameters):
    """jwst's cube_build in calwebb_spec3: all IFU members drizzled into one cube in the common frame
    (:func:`~streamcal.steps.spec.spec3_ifu.build_combined_cube`); anything else passes on, SKIPPED. Parameters
    as spec2's :class:`~streamcal.steps.spec.ifu.CubeBuildStep`."""

    name: ClassVar[str] = "cube_build"
    reference_types: ClassVar[tuple[RefType, ...]] = ()

    def apply(self, model: Spec3Product, ctx: Context) -> StepOutcome[Spec3Product]:
        if not isinstance(model, IfuMemberSet):
            return StepOutcome.skipped(model, "not IFU members (cube_build combines MIR_MRS and NRS_IFU)")
        cube = build_combined_cube(model, scalexy=self.scalexy, scalew=self.scalew, wavemin=self.wavemin,
                                   wavemax=self.wavemax)
        return StepOutcome(IfuCombinedCube(cube, model), _DONE, counts={
            "n_members": len(model), "n_voxels": int(cube.sci.size),
            "n_empty_voxels": int(np.count_nonzero(cube.wmap == 0)),
            "n_pixels_used": int(cube.weights.matrix.shape[1])})


@dataclass(frozen=True, slots=True, kw_only=True)
class Spec3Extract1dStep:
    """Boxcar extraction of the combined ``_s2d`` (and of each member on the same grid, for combine_1d): the
    aperture and background region in units of the trace's σ, as spec2's extract_1d. From a combined IFU cube:
    spec2's IFU extraction (aperture radius and background annulus in units of the PSF's FWHM per plane, centred
    on the source found in the cube with ``ifu_autocen``, else on the common frame's origin)."""

    name: ClassVar[str] = "extract_1d"
    reference_types: ClassVar[tuple[RefType, ...]] = ()
    half_width_sigma: float = 4.0
    bkg_inner_sigma: float | None = 6.0
    bkg_outer_sigma: float | None = 12.0
    ifu_radius_fwhm: float = 2.5
    ifu_bkg_inner_fwhm: float = 3.0
    ifu_bkg_outer_fwhm: float = 4.0
    ifu_autocen: bool = True

    def __post_init__(self) -> None:
        if not 0 < self.ifu_radius_fwhm <= self.ifu_bkg_inner_fwhm < self.ifu_bkg_outer_fwhm:
            raise ValueError("IFU extraction needs 0 < ifu_radius_fwhm <= ifu_bkg_inner_fwhm < ifu_bkg_outer_fwhm")

    def _extract(self, rect: Rectified, sigma: float, wavelength: F64, root: str, primary: dict[str, object],
                 meta: dict[str, object]) -> tuple[Spectrum, int]:
        inner = None if self.bkg_inner_sigma is None else self.bkg_inner_sigma * sigma
        outer = None if self.bkg_outer_sigma is None else self.bkg_outer_sigma * sigma
        aperture = BoxcarAperture(self.half_width_sigma * sigma, bkg_inner=inner, bkg_outer=outer)
        centre = rect.centre
        fill = float(np.nanmedian(centre)) if np.isfinite(centre).any() else (rect.sci.shape[0] - 1) / 2.0
        centre = np.where(np.isfinite(centre), centre, fill)
        out = extract_boxcar(rect.sci, var_poisson=rect.var_poisson, var_rnoise=rect.var_rnoise,
                             var_flat=rect.var_flat, dq=rect.dq, dispaxis=1, centre=centre, aperture=aperture)
        jy, jy2 = _MJY_TO_JY, _MJY_TO_JY ** 2
        columns: dict[str, npt.NDArray[np.generic]] = {
            "WAVELENGTH": wavelength, "FLUX": out.flux * jy, "FLUX_ERROR": out.error * jy,
            "FLUX_VAR_POISSON": out.var_poisson * jy2, "FLUX_VAR_RNOISE": out.var_rnoise * jy2,
            "FLUX_VAR_FLAT": out.var_flat * jy2, "NPIXELS": out.npixels, "DQ": out.dq}
        complete = out.npixels >= aperture.half_width * 2 - 1e-9
        return Spectrum(root, columns, meta, primary), int((~complete).sum())

    def _extract_cube(self, combined: IfuCombinedCube) -> StepOutcome[Spec3Spectrum]:
        cube = combined.cube
        out = extract_cube(cube, radius_fwhm=self.ifu_radius_fwhm, inner_fwhm=self.ifu_bkg_inner_fwhm,
                           outer_fwhm=self.ifu_bkg_outer_fwhm, centre=None if self.ifu_autocen else (0.0, 0.0))
        spectrum = Spectrum(cube.root, out.columns, {**out.meta, "SOURCEID": source_id(cube.primary)},
                            dict(cube.primary))
        return StepOutcome(Spec3Spectrum(spectrum, (), ()), _DONE, counts=out.counts)

    def apply(self, s2d: Spec3Product, ctx: Context) -> StepOutcome[Spec3Spectra]:
        if isinstance(s2d, IfuCombinedCube):
            return self._extract_cube(s2d)  # type: ignore[return-value]
        if isinstance(s2d, WfssMemberSet):  # each member's slits, as spec2 extracts them
            wfss, counts = extract_wfss_members(s2d, ctx, Extract1dStep(
                half_width_sigma=self.half_width_sigma, bkg_inner_sigma=self.bkg_inner_sigma,
                bkg_outer_sigma=self.bkg_outer_sigma))
            return StepOutcome(wfss, _DONE, counts=counts)
        if not isinstance(s2d, Spec2D):
            raise InvalidInputError(f"extract_1d takes a combined trace or cube, not a {type(s2d).__name__} (IFU "
                                    "members are extracted from their combined cube: cube_build must run)")
        members = s2d.members
        sigma = max(m.sigma_px for m in members.members)
        first = members.members[0]
        meta: dict[str, object] = {
            "SPORDER": 1, "DISPAXIS": members.dispaxis, "SRCTYPE": "POINT", "SOURCEID": source_id(first.primary),
            "SLTNAME": str(first.primary.get("FXD_SLIT", "") or first.primary.get("SUBARRAY", "")),
            "EXTR_Y": float(np.nanmedian(s2d.rectified.centre))}
        combined, incomplete = self._extract(s2d.rectified, sigma, members.wavelength, first.root,
                                             dict(first.primary), meta)
        singles = tuple(self._extract(m.rectified if m.own is None else m.own, sigma, members.wavelength, m.root,
                                      m.primary, meta)[0]
                        for m in members.members)
        return StepOutcome(Spec3Spectrum(combined, singles, tuple(_exptime(m.primary) for m in members.members)),
                           _DONE, counts={"n_points": int(members.wavelength.size),
                                          "n_incomplete_aperture": incomplete})


def source_id(primary: Mapping[str, object]) -> int:
    """The source id of a single-source association: SOURCEID when the member has one, else 1."""
    try:
        return int(str(primary.get("SOURCEID", 1)))
    except ValueError:
        return 1


@dataclass(frozen=True, slots=True, kw_only=True)
class Combine1dStep:
    """Averages the members' spectra (extracted on the common grid) by exposure time (jwst's default)."""

    name: ClassVar[str] = "combine_1d"
    reference_types: ClassVar[tuple[RefType, ...]] = ()

    def apply(self, spectra: Spec3Spectra, ctx: Context) -> StepOutcome[Spec3Combined]:
        if isinstance(spectra, WfssMemberSpectra):  # per source, the members on a common grid
            wfss, counts = combine_wfss(spectra)
            return StepOutcome(wfss, _DONE, counts=counts)
        if not isinstance(spectra, Spec3Spectrum):
            raise TypeError(f"combine_1d has no rule for a {type(spectra).__name__}")
        if not spectra.members:
            # the spectrum passes on unchanged (the runner keeps each kind's last model)
            note = "an IFU cube's spectrum: jwst's combine_1d runs for non-IFU spectra"
            return StepOutcome.skipped(spectra, note)  # type: ignore[arg-type]
        cols = [s.columns for s in spectra.members]
        combined = combine_spectra([c["FLUX"] for c in cols], [c["FLUX_ERROR"] for c in cols],
                                   [c["DQ"] for c in cols], weights=spectra.exptimes)
        meta = {k: spectra.combined.meta[k] for k in ("SPORDER", "DISPAXIS", "SOURCEID", "SRCTYPE")}
        wavelength = np.asarray(spectra.combined.columns["WAVELENGTH"], dtype=np.float64)
        return StepOutcome(CombinedSpectrum(wavelength, combined, meta), _DONE,
                           counts={"n_inputs": len(cols),
                                   "n_empty_points": int(np.count_nonzero(combined.n_input == 0))})
