"""calwebb_spec2's steps for NIRSpec internal lamp exposures (NRS_LAMP, NRS_AUTOWAVE, NRS_AUTOFLAT), as jwst 3.0
runs them (``pipeline/calwebb_spec2.py``: NRS_SLIT_TYPES → ``_process_nirspec_slits``; issue 11).

- assign_wcs (jwst ``assign_wcs/nirspec.py:nrs_lamp``, ``get_open_slits``): by OPMODE the open fixed slits
  (FIXEDSLIT, BRIGHTOBJ: the lamp SPECWCS's ``FSSLITS``) or the shutters the MSA metadata file opens (MSASPEC, and
  every NRS_AUTOFLAT: ``MSAQUADS``); the WCS ends at the MSA plane (no sky). IFU, GRATING-ONLY, IMAGE: a clear
  error (:func:`~streamcal.models.lamp.lamp_opmode`) → a :class:`LampImage`.
- extract_2d: a cutout per aperture reaching the subarray (its bounding box; pixels whose centre lies outside
  the slit's strip are NON_SCIENCE and DO_NOT_USE with a NaN wavelength) → :class:`LampSlits`.
- srctype: jwst has no rule for lamps and sets SRCTYPE = UNKNOWN (``srctype/srctype.py``, the last branch).
- flat_field: NRS_LAMP and NRS_AUTOWAVE are flat-fielded per slit (``flat_field_step.py``: NRS_SPEC_MODES);
  NRS_AUTOFLAT is not ("No flat fielding for NRS_AUTOFLAT"): SKIPPED.
- photom: SKIPPED — no PHOTOM row serves FILTER=OPAQUE (jwst's spec2 docs list photom NONE for every lamp),
  so the ``_cal`` stays in DN/s.
- resample_spec: line lamps through slits (``is_nrs_slit_linelamp``: LIN…/REF, OPMODE FIXEDSLIT, BRIGHTOBJ or
  MSASPEC, NRS_LAMP or NRS_AUTOWAVE) are rectified per slit (the ``_s2d``); flat lamps are not.
- extract_1d: line lamps give one spectrum per slit, the whole slit (jwst: an extended, UNKNOWN source, no
  source position) summed in DN/s (``extract_1d/extract.py``: photom not run → FLUX in DN/s, SURF_BRIGHT the
  per-pixel mean); flat lamps none (the spec2 docs' lamp table: extract_1d NONE).

Simplified [U]: msa_flagging, wavecorr (a no-op for non-point sources), pathloss and barshadow are not done;
the flat is the detector FLAT cut per slit (no fore-optics or spectrograph flats); extract_1d reads the
calibrated cutout along the slit's centre line (``half_length − 1`` px either side: the flux the rectified
``_s2d`` holds, away from the slit edges).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
import numpy.typing as npt

from streamcal.dq import Pixel
from streamcal.errors import BadDataShapeError, InvalidInputError
from streamcal.kernels.spec import BoxcarAperture, extract_boxcar
from streamcal.kernels.spec.rectify import grid_edges, rectify_trace
from streamcal.models.image import ImageData
from streamcal.models.lamp import LAMP_EXP_TYPES, FixedSlit, fixed_slits_from_table, lamp_kind, lamp_opmode
from streamcal.models.msa import MsaConfiguration, geometry_from_msaquads
from streamcal.models.spectral import SpectralLayout
from streamcal.references import ReferenceFile, RefType
from streamcal.steps.base import Context, StepOutcome, StepStatus
from streamcal.steps.spec.cutouts import flat_cutouts, masked_cutout
from streamcal.steps.spec.kinds import SpectralImage
from streamcal.steps.spec.single_trace import Spectrum, trace_image

__all__ = ["LAMP_X1D_UNITS", "LampImage", "LampSlit", "LampSlits", "LampSpectrum", "extract_lamp", "is_lamp",
           "lamp_flat", "lamp_slits", "lamp_wcs", "rectify_lamp"]

_DONE = StepStatus.COMPLETE
#: The x1d units of a spectrum extracted without photom (jwst's ``extract_1d`` when photom did not run).
LAMP_X1D_UNITS = {"FLUX": "DN/s", "FLUX_ERROR": "DN/s", "FLUX_VAR_POISSON": "DN^2 / s^2",
                  "FLUX_VAR_RNOISE": "DN^2 / s^2", "FLUX_VAR_FLAT": "DN^2 / s^2", "SURF_BRIGHT": "DN/s",
                  "SB_ERROR": "DN/s", "SB_VAR_POISSON": "DN^2 / s^2", "SB_VAR_RNOISE": "DN^2 / s^2",
                  "SB_VAR_FLAT": "DN^2 / s^2", "BACKGROUND": "DN/s", "BKGD_ERROR": "DN/s"}


def is_lamp(header: dict[str, object] | ImageData) -> bool:
    """Whether an exposure is a NIRSpec lamp (EXP_TYPE NRS_LAMP, NRS_AUTOWAVE or NRS_AUTOFLAT)."""
    head = header.primary if isinstance(header, ImageData) else header
    return str(head.get("EXP_TYPE", "")).strip().upper() in LAMP_EXP_TYPES


@dataclass(frozen=True, slots=True)
class _Aperture:
    """One lit aperture: its name, MultiSlitModel keywords, centre line and half-length (px)."""

    name: str
    meta: dict[str, object]
    layout: SpectralLayout
    half_length: float


@dataclass(frozen=True, slots=True)
class LampImage(SpectralImage):
    """A lamp exposure with its apertures (assign_wcs's output); ``kind`` the lamp (line or flat)."""

    image: ImageData
    apertures: tuple[_Aperture, ...]
    kind: Literal["line", "flat"]

    def replace_image(self, image: ImageData) -> LampImage:
        return LampImage(image, self.apertures, self.kind)


@dataclass(frozen=True, slots=True)
class LampSlit:
    """One aperture's cutout: ``xstart``/``ystart`` (1-based) place it in the exposure; ``wavelength`` per pixel
    (µm, NaN outside the slit); ``layout`` the slit's centre line; ``meta`` its MultiSlitModel keywords."""

    name: str
    meta: dict[str, object]
    layout: SpectralLayout
    half_length: float
    image: ImageData
    xstart: int
    ystart: int
    wavelength: npt.NDArray[np.float64]


@dataclass(frozen=True, slots=True)
class LampSlits(SpectralImage):
    """The apertures' cutouts (extract_2d's output); ``rectified`` resample_spec's planes per slit, if it ran."""

    image: ImageData
    slits: tuple[LampSlit, ...]
    kind: Literal["line", "flat"]
    rectified: tuple[dict[str, npt.NDArray[np.generic]], ...] = ()

    def replace_image(self, image: ImageData) -> LampSlits:
        return LampSlits(image, self.slits, self.kind, self.rectified)

    def with_slits(self, slits: list[LampSlit]) -> LampSlits:
        """New cutouts (a calibration step's): rectified planes no longer apply."""
        return LampSlits(self.image, tuple(slits), self.kind)


@dataclass(frozen=True, slots=True)
class LampSpectrum(Spectrum):
    """A line lamp's spectra, one per slit (``spectra``; the inherited columns and meta are the first one's), in
    DN/s (:data:`LAMP_X1D_UNITS`)."""

    spectra: tuple[tuple[dict[str, npt.NDArray[np.generic]], dict[str, object]], ...] = ()
    units: dict[str, str] = field(default_factory=lambda: dict(LAMP_X1D_UNITS))


def _msa_apertures(config: MsaConfiguration, table: np.ndarray, name: str) -> Iterator[_Aperture]:
    geometry = geometry_from_msaquads(table, source=name)
    for slitlet in config.slitlets:
        quad = geometry.quadrant(slitlet.quadrant)
        middle = (min(slitlet.columns) + max(slitlet.columns)) / 2.0
        try:
            layout = quad.layout(slitlet.row, slitlet.primary_column)
        except ValueError as exc:
            raise InvalidInputError(f"slitlet {slitlet.slitlet_id}: {exc}") from exc
        centre = dataclasses.replace(layout, trace_coeffs=(float(quad.cross(0.0, middle)), *quad.trace_coeffs[1:]))
        meta: dict[str, object] = {"SLTNAME": str(slitlet.slitlet_id), "SLITID": slitlet.slitlet_id, "SOURCEID": 0,
                                   "MSAQUAD": slitlet.quadrant, "SHUTSTA": slitlet.shutter_state}
        yield _Aperture(str(slitlet.slitlet_id), meta, centre, len(slitlet.columns) * quad.cross_pitch / 2.0)


def lamp_wcs(image: ImageData, ctx: Context, ref: ReferenceFile) -> StepOutcome[SpectralImage]:
    """assign_wcs of a lamp exposure (module docstring).

    Raises
    ------
    BadKeywordValueError
        An OPMODE streamcal does not calibrate, or a LAMP that is no line or flat lamp. Not retriable.
    MissingKeywordError
        No LAMP. Not retriable.
    InvalidInputError
        An MSASPEC lamp (or NRS_AUTOFLAT) without its MSA configuration, or whose SPECWCS has no MSA geometry
        or fixed slits. Not retriable.
    """
    kind = lamp_kind(image.primary, image.root)
    opmode = lamp_opmode(image.primary, image.root)
    if opmode == "MSASPEC":
        if ctx.msa is None:
            raise InvalidInputError(f"{image.root}: an MSASPEC lamp exposure needs its MSA metadata file (MSAMETFL), "
                                    "and none was read")
        if "MSAQUADS" not in ref.arrays:
            raise InvalidInputError(f"{image.root}: the lamp SPECWCS {ref.name} has no MSA geometry for this detector")
        apertures = tuple(_msa_apertures(ctx.msa, ref["MSAQUADS"], ref.name))
    else:
        if "FSSLITS" not in ref.arrays:
            raise InvalidInputError(f"{image.root}: the SPECWCS {ref.name} has no fixed slits (FSSLITS)")
        fixed: tuple[FixedSlit, ...] = fixed_slits_from_table(ref["FSSLITS"], source=ref.name)
        apertures = tuple(_Aperture(s.name, {"SLTNAME": s.name}, s.layout, s.half_length) for s in fixed)
    lamp = LampImage(image.replace(primary={**image.primary, "DISPAXIS": 1}), apertures, kind)
    return StepOutcome(lamp, _DONE, ((RefType.SPECWCS, ref.name),), {"n_apertures": len(apertures)})


def lamp_slits(lamp: LampImage) -> tuple[LampSlits, dict[str, int]]:
    """extract_2d: a cutout per aperture reaching the subarray (module docstring).

    Raises
    ------
    BadDataShapeError
        No aperture falls on the subarray (jwst: NoDataOnDetectorError). Not retriable.
    """
    image = lamp.image
    ny, nx = image.shape
    d = int(str(image.primary.get("SUBSTRT1", 1))) - 1 + np.arange(nx)
    ys = int(str(image.primary.get("SUBSTRT2", 1))) - 1 + np.arange(ny)
    slits, off = [], 0
    for ap in lamp.apertures:
        centre = ap.layout.trace(d)
        lit = (d >= ap.layout.d_range[0]) & (d < ap.layout.d_range[1])
        inside = ((ys[:, None] >= centre[None, :] - ap.half_length) & (ys[:, None] < centre[None, :] + ap.half_length)
                  & lit[None, :])
        found = masked_cutout(image, inside, ap.layout.wavelength(d))
        if found is None:
            off += 1
            continue
        cut, xstart, ystart, wave = found
        slits.append(LampSlit(ap.name, {**ap.meta, "SRCTYPE": "UNKNOWN"}, ap.layout, ap.half_length, cut,
                              xstart, ystart, wave))
    if not slits:
        raise BadDataShapeError(f"{image.root}: none of the lamp's {len(lamp.apertures)} apertures falls on this "
                                f"{ny}×{nx} subarray")
    return LampSlits(image, tuple(slits), lamp.kind), {"n_slits": len(slits), "n_apertures_off_detector": off}


def lamp_flat(lamps: LampSlits, flat: ReferenceFile) -> tuple[LampSlits, dict[str, int]]:
    """flat_field: each cutout divided by its part of the FLAT (the exposure's subarray cut by the store)."""
    slits, counts = flat_cutouts(lamps.slits, flat)
    return lamps.with_slits(slits), counts


def rectify_lamp(lamps: LampSlits) -> tuple[LampSlits, dict[str, int]]:
    """resample_spec: each cutout rectified along its slit's centre line onto its own wavelength grid, rows
    ``± ceil(half_length)`` (the rectify kernel: whole-pixel shifts across, flux-conserving along)."""
    planes = []
    for slit in lamps.slits:
        traced = trace_image(slit.image, slit.layout)
        edges = grid_edges(traced.wavelength[traced.lit])
        image = slit.image
        rect = rectify_trace(image.sci, var_poisson=image.var_poisson, var_rnoise=image.var_rnoise,
                             var_flat=image.var_flat, dq=image.dq, dispaxis=1, centre=traced.centre,
                             wavelength=traced.wavelength, lit=traced.lit, edges=edges,
                             half_extent=int(np.ceil(slit.half_length)))
        centres = 0.5 * (edges[1:] + edges[:-1])
        good = (rect.dq & np.uint32(Pixel.DO_NOT_USE)) == 0
        planes.append({"SCI": rect.sci, "ERR": np.sqrt(rect.variance), "DQ": rect.dq, "VAR_POISSON": rect.var_poisson,
                       "VAR_RNOISE": rect.var_rnoise, "VAR_FLAT": rect.var_flat,
                       "WAVELENGTH": np.broadcast_to(centres, rect.sci.shape), "WHT": good.astype(np.float32)})
    return LampSlits(lamps.image, lamps.slits, lamps.kind, tuple(planes)), {"n_rectified": len(planes)}


def extract_lamp(lamps: LampSlits) -> tuple[LampSpectrum, dict[str, int]]:
    """extract_1d of a line lamp: per slit, the sum across the slit in DN/s (module docstring)."""
    spectra = []
    for slit in lamps.slits:
        traced = trace_image(slit.image, slit.layout)
        lit, image = traced.lit, slit.image
        aperture = BoxcarAperture(max(slit.half_length - 1.0, 0.5))
        centre = np.where(lit, traced.centre, traced.centre[lit][0])
        out = extract_boxcar(image.sci, var_poisson=image.var_poisson, var_rnoise=image.var_rnoise,
                             var_flat=image.var_flat, dq=image.dq, dispaxis=1, centre=centre, aperture=aperture)
        npix = np.where(out.npixels > 0, out.npixels, np.nan)
        columns: dict[str, npt.NDArray[np.generic]] = {
            "WAVELENGTH": traced.wavelength[lit], "FLUX": out.flux[lit], "FLUX_ERROR": out.error[lit],
            "FLUX_VAR_POISSON": out.var_poisson[lit], "FLUX_VAR_RNOISE": out.var_rnoise[lit],
            "FLUX_VAR_FLAT": out.var_flat[lit], "SURF_BRIGHT": (out.flux / npix)[lit],
            "SB_VAR_POISSON": (out.var_poisson / npix ** 2)[lit], "SB_VAR_RNOISE": (out.var_rnoise / npix ** 2)[lit],
            "SB_VAR_FLAT": (out.var_flat / npix ** 2)[lit], "NPIXELS": out.npixels[lit], "DQ": out.dq[lit]}
        meta = {**slit.meta, "SPORDER": 1, "DISPAXIS": 1, "EXTR_Y": float(np.median(traced.centre[lit]))}
        spectra.append((columns, meta))
    first_columns, first_meta = spectra[0]
    result = LampSpectrum(lamps.image.root, first_columns, first_meta, dict(lamps.image.primary), tuple(spectra))
    return result, {"n_spectra": len(spectra)}
