"""A calibrated image (or cube) in memory: arrays by JWST extension name, the two headers and the WCS.

Stage-2 and stage-3 steps take an :class:`ImageData` (stage 3: an :class:`ImageSet` of them) and return a new
one (``dataclasses.replace``); they never modify the arrays of their input. SCI/ERR/VAR_* are float32, DQ
uint32; 2-D ``(ny, nx)`` for rate/cal/crf and 3-D ``(nints, ny, nx)`` for rateints/calints. AREA is always 2-D.
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import numpy.typing as npt
from astropy.wcs import WCS

from streamcal.datamodels import read_product, split_suffix, write_product
from streamcal.dq import interpret_bit_flags
from streamcal.errors import BadDataShapeError

__all__ = ["ImageData", "ImageSet", "good_mask", "read_image", "write_image"]

F32 = npt.NDArray[np.float32]
U32 = npt.NDArray[np.uint32]


@dataclass(frozen=True, slots=True, kw_only=True)
class ImageData:
    """One exposure's calibrated image.

    Attributes
    ----------
    root : str
        Exposure root (``jw..._nrca1``), without suffix.
    sci, err : ndarray, float32
    dq : ndarray, uint32
    var_poisson, var_rnoise : ndarray, float32
    var_flat : ndarray, float32 or None
        None until flat_field ran.
    area : ndarray, float32 (ny, nx) or None
        Relative pixel area (photom).
    primary, sci_header : dict
        Headers carried through (keywords steps add go into these copies).
    wcs : astropy.wcs.WCS or None
        The celestial WCS (assign_wcs; stage 3 builds it when reading its members).
    """

    root: str
    sci: F32
    err: F32
    dq: U32
    var_poisson: F32
    var_rnoise: F32
    var_flat: F32 | None = None
    area: F32 | None = None
    primary: dict[str, object] = field(default_factory=dict)
    sci_header: dict[str, object] = field(default_factory=dict)
    wcs: WCS | None = None

    @property
    def shape(self) -> tuple[int, int]:
        """``(ny, nx)`` of one plane."""
        ny, nx = self.sci.shape[-2:]
        return int(ny), int(nx)

    @property
    def is_cube(self) -> bool:
        return self.sci.ndim == 3

    def replace(self, **changes: object) -> ImageData:
        """A copy with some fields replaced (headers are copied, never shared)."""
        changes.setdefault("primary", dict(self.primary))
        changes.setdefault("sci_header", dict(self.sci_header))
        return dataclasses.replace(self, **changes)  # type: ignore[arg-type]

    def arrays(self) -> dict[str, np.ndarray]:
        """The extensions to write, by JWST name (VAR_FLAT/AREA only when present)."""
        out: dict[str, np.ndarray] = {"SCI": self.sci, "ERR": self.err, "DQ": self.dq,
                                      "VAR_POISSON": self.var_poisson, "VAR_RNOISE": self.var_rnoise}
        if self.var_flat is not None:
            out["VAR_FLAT"] = self.var_flat
        if self.area is not None:
            out["AREA"] = self.area
        return out


@dataclass(frozen=True, slots=True)
class ImageSet:
    """The exposures a stage-3 step combines (each with its WCS), in association order."""

    images: tuple[ImageData, ...]

    def __len__(self) -> int:
        return len(self.images)

    def pairs(self) -> list[tuple[ImageData, WCS]]:
        """``(image, wcs)`` of each exposure, as the image kernels take them.

        Raises
        ------
        ValueError
            An image has no WCS (a programming error: stage 3 attaches them when it reads its members).
        """
        out = []
        for image in self.images:
            if image.wcs is None:
                raise ValueError(f"{image.root} has no WCS")
            out.append((image, image.wcs))
        return out

    def replace_images(self, images: list[ImageData] | tuple[ImageData, ...]) -> ImageSet:
        return ImageSet(tuple(images))


def good_mask(image: ImageData, good_bits: str | None) -> npt.NDArray[np.bool_]:
    """Usable pixels: finite SCI and none of the bad DQ bits of ``good_bits`` (jwst syntax, e.g.
    ``"~DO_NOT_USE+NON_SCIENCE"``; None: DQ ignored)."""
    good = np.isfinite(image.sci)
    bad_bits = interpret_bit_flags(good_bits)
    if bad_bits:
        good &= (image.dq & np.uint32(bad_bits)) == 0
    return good


def read_image(path: str | os.PathLike[str]) -> ImageData:
    """Read a rate/rateints/cal/calints/crf/bsub product.

    Raises
    ------
    NotFitsError, CorruptFileError
        A broken file. Not retriable.
    BadDataShapeError
        A required extension is missing or SCI is not 2-D or 3-D. Not retriable.
    """
    p = Path(path)
    product = read_product(p)
    arrays = product.arrays
    for name in ("SCI", "ERR", "DQ", "VAR_POISSON", "VAR_RNOISE"):
        if name not in arrays:
            raise BadDataShapeError(f"{p.name}: no {name} extension; not a calibrated image")
    sci = arrays["SCI"]
    if sci.ndim not in (2, 3):
        raise BadDataShapeError(f"{p.name}: SCI has {sci.ndim} dimensions; an image needs 2 or 3")
    root, _ = split_suffix(p)
    var_flat = arrays.get("VAR_FLAT")
    area = arrays.get("AREA")
    return ImageData(
        root=root, sci=sci.astype(np.float32, copy=False), err=arrays["ERR"].astype(np.float32, copy=False),
        dq=arrays["DQ"].astype(np.uint32, copy=False),
        var_poisson=arrays["VAR_POISSON"].astype(np.float32, copy=False),
        var_rnoise=arrays["VAR_RNOISE"].astype(np.float32, copy=False),
        var_flat=None if var_flat is None else var_flat.astype(np.float32, copy=False),
        area=None if area is None else area.astype(np.float32, copy=False),
        primary=product.primary, sci_header=product.sci_header,
    )


def write_image(path: str | os.PathLike[str], image: ImageData, *, tables: dict[str, np.ndarray] | None = None,
                bunit: str | None = None) -> Path:
    """Write ``image`` with the layout of the file name's suffix (``_cal``, ``_calints``, ``_crf``, ...);
    ``bunit`` replaces the suffix's unit."""
    return write_product(path, image.arrays(), primary=image.primary, sci_header=image.sci_header, tables=tables,
                         bunit=bunit)
