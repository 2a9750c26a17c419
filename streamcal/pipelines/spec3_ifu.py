"""calwebb_spec3's reading and writing for the IFU modes (MIR_MRS, NRS_IFU; issue 11).

:func:`read_ifu_members` reads a product's ``_cal`` members (jwst's IFUImageModel, MJy/sr) and gives each its
slicer WCS again from its SPECWCS reference's IFUSLICES table, as spec2's assign_wcs did (the ``_cal``'s
WAVELENGTH and REGIONS are what that WCS wrote; the reference is the geometry), and its dither offset
(XOFFSET, YOFFSET); :func:`write_ifu_products` writes the combined cube ``<product>_s3d.fits`` (IFUCubeModel,
MJy/sr) with a quick look of it collapsed over wavelength. The x1d is written like any spec3 spectrum's
(:mod:`streamcal.pipelines.spec3`).
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from streamcal.datamodels import read_header, split_suffix, write_product
from streamcal.datamodels.quicklook import render_sci
from streamcal.errors import AssociationError, BadDataShapeError
from streamcal.models.ifu import geometry_from_table
from streamcal.models.image import read_image
from streamcal.references import ReferenceStore, RefType
from streamcal.steps.spec.ifu import ifu_image
from streamcal.steps.spec.spec3_ifu import IfuCombinedCube, IfuMember, IfuMemberSet, dither_offset

__all__ = ["IFU_EXP_TYPES", "IFU_KEYS", "read_ifu_members", "write_ifu_products"]

log = logging.getLogger(__name__)

#: The IFU EXP_TYPEs calwebb_spec3 combines into one cube per product.
IFU_EXP_TYPES = frozenset({"MIR_MRS", "NRS_IFU"})
#: What members of one IFU product share: the mode, the detector and the band (MRS: CHANNEL/BAND; NIRSpec:
#: FILTER/GRATING) — one cube is one band [U: jwst's spec3 builds a cube per band of a multi-band association].
IFU_KEYS = ("EXP_TYPE", "DETECTOR", "CHANNEL", "BAND", "FILTER", "GRATING")


def read_ifu_members(paths: Sequence[Path], store: ReferenceStore, *, where: str) -> IfuMemberSet:
    """The members as IFU images in their slicer frames, with their dither offsets.

    ``where`` starts every error message (the association and product).

    Raises
    ------
    AssociationError
        Members of different modes, detectors or bands, or of different slicer geometries. Not retriable.
    BadDataShapeError
        A member that is not a calibrated 2-D IFU image (BUNIT MJy/sr). Not retriable.
    MissingReferenceError, CorruptFileError
        No SPECWCS for a member, or one without an IFUSLICES table. Not retriable.
    """
    first_key: tuple[str, ...] | None = None
    for p in paths:
        head = read_header(p)
        key = tuple(str(head.get(k, "") or "").strip().upper() for k in IFU_KEYS)
        if first_key is not None and key != first_key:
            raise AssociationError(f"{where}: member {p.name} is {'/'.join(k for k in key if k)}, the first member "
                                   f"{'/'.join(k for k in first_key if k)}: one IFU product combines one mode, "
                                   "detector and band")
        first_key = key
    members = []
    for p in paths:
        image = read_image(p)
        if image.is_cube or str(image.sci_header.get("BUNIT", "")).strip() != "MJy/sr":
            raise BadDataShapeError(f"{where}: member {p.name} is not a calibrated 2-D IFU image "
                                    f"(BUNIT {image.sci_header.get('BUNIT')!r}, shape {image.sci.shape})")
        ref = store.for_exposure(image.primary).require(RefType.SPECWCS)
        if "IFUSLICES" not in ref.arrays:
            raise AssociationError(f"{where}: member {p.name}'s SPECWCS {ref.name} has no IFUSLICES table")
        root = split_suffix(p)[0]
        ifu = ifu_image(image.replace(root=root), geometry_from_table(ref["IFUSLICES"], source=ref.name))
        members.append(IfuMember(root, ifu, dither_offset(image.primary)))
    if any(m.ifu.geometry != members[0].ifu.geometry for m in members):
        raise AssociationError(f"{where}: the members' SPECWCS references give different slicer geometries")
    return IfuMemberSet(tuple(members))


def write_ifu_products(combined: IfuCombinedCube, out: Path, primary: dict[str, object]) -> list[Path]:
    """The combined cube as ``out`` (``<product>_s3d.fits``) and its quick look (``.png``, a courtesy: a cube it
    cannot draw does not fail the products)."""
    cube, n = combined.cube, len(combined.members)
    written = [write_product(out, cube.arrays(), primary=primary, sci_header=cube.header,
                             bunit=str(cube.header["BUNIT"]))]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # planes without data: an all-NaN median
        collapsed = np.nanmedian(np.where(cube.wmap > 0, cube.sci, np.nan), axis=0) if cube.sci.size else None
    try:
        if collapsed is None or not np.isfinite(collapsed).any():
            raise BadDataShapeError(f"{out.name}: no finite spaxel to draw")
        written.append(render_sci(collapsed, {"BUNIT": cube.header["BUNIT"]}, primary, out.with_suffix(".png"),
                                  title=f"{out.name} ({n} member{'s' if n != 1 else ''}, median over wavelength)"))
    except BadDataShapeError as exc:
        log.warning("%s: no quick look: %s", out.name, exc)
    return written
