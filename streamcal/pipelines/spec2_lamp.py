"""calwebb_spec2's NIRSpec lamp products (NRS_LAMP, NRS_AUTOWAVE, NRS_AUTOFLAT; :mod:`streamcal.steps.spec.lamp`).

- ``<root>_cal.fits``: jwst's MultiSlitModel, one slit (EXTVER) per lit fixed slit or MSA slitlet — SCI, ERR, DQ,
  VAR_POISSON, VAR_RNOISE, VAR_FLAT and WAVELENGTH in DN/s (photom does not run on lamps), the SCI header with
  SLTNAME, SRCTYPE = UNKNOWN, SLTSTRT1/2, SLTSIZE1/2 (and SLITID, MSAQUAD, SHUTSTA for MSA slitlets);
- ``<root>_s2d.fits`` for a line lamp through slits (resample_spec ran): MultiSlitModel of the rectified slits
  with WHT. The line lamp's ``_x1d`` (one EXTRACT1D per slit, DN/s) is written with the other modes'
  (:mod:`streamcal.pipelines.spec2`).
"""

from __future__ import annotations

from pathlib import Path

import numpy.typing as npt

from streamcal.pipelines.runner import PlanRun
from streamcal.pipelines.spec2_mos import cal_primary, cutout_planes, write_multislit
from streamcal.steps.spec.lamp import LampSlits

__all__ = ["write_lamp_products"]


def write_lamp_products(run: PlanRun, out_dir: Path, root: str) -> list[Path]:
    """The ``_cal`` (and ``_s2d``) of a lamp run; nothing for other exposures."""
    lamps = run.last(LampSlits)
    if lamps is None:
        return []
    primary = cal_primary(lamps.image, run)
    slits: list[tuple[dict[str, object], dict[str, npt.ArrayLike]]] = []
    for slit in lamps.slits:
        ny, nx = slit.image.shape
        meta = {**slit.meta, "SLTSTRT1": slit.xstart, "SLTSTRT2": slit.ystart, "SLTSIZE1": nx, "SLTSIZE2": ny,
                "DISPAXIS": 1}
        slits.append((meta, cutout_planes(slit.image, slit.wavelength)))
    bunits = ["DN/s"] * len(slits)
    written = [write_multislit(out_dir / f"{root}_cal.fits", slits, primary=primary, bunits=bunits)]
    if lamps.rectified:
        rect = [(meta, dict(planes)) for (meta, _), planes in zip(slits, lamps.rectified, strict=True)]
        written.append(write_multislit(out_dir / f"{root}_s2d.fits", rect, primary=primary, bunits=bunits))
    return written
