"""calwebb_spec2's pathloss step: divide by the light the slit or shutter lost, against wavelength and the
source's place in the aperture (jwst_spec §5; jwst's ``pathloss/pathloss.py``, ``do_correction_fixedslit``,
``do_correction_mos``).

- The PATHLOSS reference (:mod:`streamcal.models.pathloss`) holds per aperture a point-source table (wavelength
  × y × x in the aperture) and a uniform-source vector. A POINT source gets the point-source loss at its place
  (bilinear, jwst's ``calculate_pathloss_vector``) at each pixel's wavelength (linear, ``interpolate_onto_grid``);
  an EXTENDED one (and an empty MOS slitlet, centred as jwst centres background slits) the uniform loss.
- SCI and ERR are divided by the loss, the variances by its square (the loss is exact: no variance of its own);
  pixels without a loss (outside the table's wavelengths, off a slitlet's open strip) are left as they are.
- NRS_FIXEDSLIT: the source's place from the dither offsets (XOFFSET / slit width, YOFFSET / slit length; jwst
  maps them through the WCS), recorded as SRCXPOS, SRCYPOS in the SCI header; the aperture is FXD_SLIT's.
  NRS_MSASPEC: from the MSA metadata (SRCXPOS; SRCYPOS plus the primary shutter's offset from the slitlet's
  middle, :func:`~streamcal.models.pathloss.slitlet_position`), aperture ``MOS1x3``.
- Counts: how many slits got the point-source or the uniform correction and the median point-source loss.

jwst also stores the point and uniform corrections (PATHLOSS_PS, PATHLOSS_UN) in each slit of the ``_cal``;
streamcal records which one it applied in PTHLOSS (the slit's pathloss_correction_type) and not the arrays.
SKIPPED: lamps (jwst does not run pathloss on them), and any exposure whose PATHLOSS reference the store has
not (NRS_BRIGHTOBJ, NRS_IFU, MIR_LRS-FIXEDSLIT: the simulator has no slit loss for them).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import ClassVar

import numpy as np
import numpy.typing as npt

from streamcal.kernels.spec import apply_conversion
from streamcal.models.image import ImageData
from streamcal.models.pathloss import PathlossAperture, aperture_from_table, point_loss, slitlet_position, uniform_loss
from streamcal.references import RefType
from streamcal.steps.base import Context, StepOutcome, StepStatus
from streamcal.steps.spec.kinds import SpectralImage
from streamcal.steps.spec.lamp import LampSlits
from streamcal.steps.spec.mos import MosSlit, MultiSlit
from streamcal.steps.spec.single_trace import TraceImage

__all__ = ["MOS_APERTURE", "Spec2PathlossStep", "divide_loss"]

#: The PATHLOSS aperture of a 1×3 MSA slitlet.
MOS_APERTURE = "MOS1x3"
_FS_DEFAULT = "S200A1"


def divide_loss(image: ImageData, loss: npt.ArrayLike) -> ImageData:
    """The image divided by a loss broadcast against it (SCI, ERR by it, variances by its square); a NaN or
    non-positive loss leaves its pixel as it is."""
    value = np.asarray(loss, np.float64)
    factor = np.where(np.isfinite(value) & (value > 0), 1.0 / np.where(value > 0, value, 1.0), 1.0)
    return apply_conversion(image, factor, bunit=str(image.sci_header.get("BUNIT", "")))


def _header_float(header: dict[str, object], key: str) -> float:
    try:
        value = float(str(header.get(key, 0.0) or 0.0))
    except ValueError:
        return 0.0
    return value if np.isfinite(value) else 0.0


@dataclass(frozen=True, slots=True, kw_only=True)
class Spec2PathlossStep:
    """Divides a point source by its slit loss at its place in the aperture, an extended one by the uniform
    loss (module docstring); ``source_type`` forces POINT or EXTENDED, as jwst's parameter does."""

    name: ClassVar[str] = "pathloss"
    # PATHLOSS is optional (refs.get): an exposure without one is SKIPPED, as jwst's "N/A", so the runner does
    # not ask for it before the first step
    reference_types: ClassVar[tuple[RefType, ...]] = ()
    source_type: str | None = None

    def __post_init__(self) -> None:
        if self.source_type is not None and self.source_type.upper() not in {"POINT", "EXTENDED"}:
            raise ValueError("pathloss source_type must be POINT, EXTENDED or None")

    def _is_point(self, srctype: str) -> bool:
        return (self.source_type or srctype).upper() == "POINT"

    def apply(self, image: SpectralImage, ctx: Context) -> StepOutcome[SpectralImage]:
        if isinstance(image, LampSlits):
            return StepOutcome(image, StepStatus.SKIPPED, note="jwst does not run pathloss on lamp exposures")
        ref = ctx.refs.get(RefType.PATHLOSS)
        if ref is None:
            exp_type = str(image.image.primary.get("EXP_TYPE", "")).strip() or "this exposure"
            return StepOutcome(image, StepStatus.SKIPPED, note=f"no PATHLOSS reference for {exp_type} (streamcal "
                               "simulates the slit loss of NRS_FIXEDSLIT and NRS_MSASPEC)")
        used = ((RefType.PATHLOSS, ref.name),)
        if isinstance(image, MultiSlit):
            aperture = aperture_from_table(ref["PATHLOSS"], MOS_APERTURE, source=ref.name)
            slits, counts = self._mos(image, aperture)
            return StepOutcome(image.with_slits(slits), StepStatus.COMPLETE, used, counts)
        if isinstance(image, TraceImage):
            name = str(image.image.primary.get("FXD_SLIT", "") or _FS_DEFAULT).strip().upper()
            aperture = aperture_from_table(ref["PATHLOSS"], name, source=ref.name)
            return self._fixed_slit(image, aperture, used)
        return StepOutcome(image, StepStatus.SKIPPED, note=f"pathloss has no rule for a {type(image).__name__}")

    def _fixed_slit(self, traced: TraceImage, aperture: PathlossAperture,
                    used: tuple[tuple[RefType, str], ...]) -> StepOutcome[SpectralImage]:
        primary = traced.image.primary
        x = _header_float(primary, "XOFFSET") / aperture.width_arcsec
        y = _header_float(primary, "YOFFSET") / aperture.height_arcsec
        point = self._is_point("POINT")  # a single trace is a point source (srctype passes it on)
        loss = (point_loss(aperture, traced.wavelength, x=x, y=y) if point
                else uniform_loss(aperture, traced.wavelength))
        if np.isnan(loss[traced.lit]).all():
            return StepOutcome(traced, StepStatus.SKIPPED, used, note=f"the source ({x:.3f}, {y:.3f}) lies outside "
                               f"the {aperture.name} table (jwst: outside the slit)")
        loss = np.where(traced.lit, loss, np.nan)
        across = loss[None, :] if traced.layout.dispaxis == 1 else loss[:, None]
        out = divide_loss(traced.image, across)
        kind = "POINT" if point else "UNIFORM"
        out = out.replace(sci_header={**out.sci_header, "SRCXPOS": x, "SRCYPOS": y, "PTHLOSS": kind})
        return StepOutcome(traced.replace_image(out), StepStatus.COMPLETE, used,
                           {"n_point": int(point), "n_uniform": int(not point),
                            "median_loss_permille": round(1000 * float(np.nanmedian(loss)))})

    def _mos(self, multi: MultiSlit, aperture: PathlossAperture) -> tuple[list[MosSlit], dict[str, int]]:
        slits, n_point, n_uniform, n_outside, medians = [], 0, 0, 0, []
        for slit in multi.slits:
            s = slit.slitlet
            x, y = (slitlet_position(s.source_x, s.source_y, s.primary_column, s.columns) if slit.source is not None
                    else (0.0, 0.0))
            if self._is_point(slit.srctype):
                loss = point_loss(aperture, slit.wavelength, x=x, y=y)
                if np.isnan(loss).all():
                    n_outside += 1
                    slits.append(slit)
                    continue
                n_point += 1
                medians.append(float(np.nanmedian(loss)))
            else:
                loss = uniform_loss(aperture, slit.wavelength)
                n_uniform += 1
            image = divide_loss(slit.image, loss)
            image = image.replace(sci_header={**image.sci_header,
                                              "PTHLOSS": "POINT" if self._is_point(slit.srctype) else "UNIFORM"})
            slits.append(dataclasses.replace(slit, image=image))
        median = round(1000 * float(np.median(medians))) if medians else 0
        return slits, {"n_point": n_point, "n_uniform": n_uniform, "n_outside_aperture": n_outside,
                       "median_loss_permille": median}
