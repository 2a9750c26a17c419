"""calwebb_spec2's IFU products (issue 11): the ``_cal`` of an IFU exposure (jwst's IFUImageModel: MJy/sr, with
its per-pixel WAVELENGTH and the REGIONS slice map, slice number + 1, 0 between the slices) and the ``_s3d`` cube
(jwst's IFUCubeModel: SCI and ERR in MJy/sr, DQ, WMAP, a 3-D WCS with a linear wavelength axis) with a quick look
of the cube collapsed over wavelength. The ``_x1d`` is written like any
spectrum's (:mod:`streamcal.pipelines.spec2`).
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

from streamcal.datamodels import write_product
from streamcal.datamodels.quicklook import render_sci
from streamcal.errors import BadDataShapeError
from streamcal.pipelines.runner import PlanRun
from streamcal.steps.spec import IfuCube, IfuImage

__all__ = ["write_ifu_products"]

log = logging.getLogger(__name__)


def write_ifu_products(run: PlanRun, out_dir: Path, root: str) -> list[Path]:
    """The ``_cal``, ``_s3d`` and ``_s3d.png`` of an IFU run (nothing for other exposures). Each carries the
    provenance of the steps before the one that used it (cube_build, extract_1d)."""
    written: list[Path] = []
    ifu = run.last(IfuImage)
    if ifu is not None:
        cal = ifu.image
        primary = {**cal.primary, **run.recorder.keywords(before="cube_build")}
        unit = str(cal.sci_header.get("BUNIT", "")) or None
        maps = {"WAVELENGTH": ifu.pixels.wavelength.astype(np.float32),
                "REGIONS": (ifu.pixels.slice.astype(np.int32) + 1)}
        written.append(write_product(out_dir / f"{root}_cal.fits", cal.arrays(), primary=primary,
                                     sci_header=cal.sci_header, tables=maps, bunit=unit, datamodel="IFUImageModel"))
    cube = run.last(IfuCube)
    if cube is not None:
        primary = {**cube.primary, **run.recorder.keywords(before="extract_1d")}
        s3d = write_product(out_dir / f"{root}_s3d.fits", cube.arrays(), primary=primary, sci_header=cube.header,
                            bunit=str(cube.header["BUNIT"]))
        written.append(s3d)
        with np.errstate(all="ignore"):
            collapsed = np.nanmedian(np.where(cube.wmap > 0, cube.sci, np.nan), axis=0) if cube.sci.size else None
        try:  # a courtesy, like the x1d's: a cube it cannot draw does not fail the products
            if collapsed is None or not np.isfinite(collapsed).any():
                raise BadDataShapeError(f"{s3d.name}: no finite spaxel to draw")
            written.append(render_sci(collapsed, {"BUNIT": cube.header["BUNIT"]}, primary, s3d.with_suffix(".png"),
                                      title=f"{s3d.name} (median over wavelength; alpha across, beta up)"))
        except BadDataShapeError as exc:
            log.warning("%s: no quick look: %s", s3d.name, exc)
    return written
