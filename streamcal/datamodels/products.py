"""Calibrated products: extension layouts per suffix (``jwst_spec.md`` §2), atomic writes, reads.

A product is written with JWST extension names and dtypes, the raw exposure's headers carried over, the
``DATAMODL`` keyword stdatamodels uses to pick a model class, and a DQ_DEF table documenting the flags.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
from astropy.io import fits

from streamcal.datamodels.fitsio import (
    Extension,
    check_complete,
    hdu_by_name,
    header_dict,
    missing_extension_error,
    open_fits,
    scaled,
    to_header,
    write_fits,
)
from streamcal.datamodels.jwst_asdf import ASDF_EXTENSION
from streamcal.datamodels.naming import split_suffix
from streamcal.dq import dq_def_rows
from streamcal.errors import BadDataShapeError

__all__ = ["PRODUCTS", "ExtSpec", "Product", "ProductSpec", "plane_unit", "read_product", "variance_unit",
           "write_product"]


@dataclass(frozen=True, slots=True)
class ExtSpec:
    """One extension of a product: name, dtype, number of dimensions, required or optional."""

    name: str
    dtype: type[np.generic]
    ndim: int
    required: bool = True


@dataclass(frozen=True, slots=True)
class ProductSpec:
    """The layout of a product suffix and the stdatamodels class that opens it."""

    suffix: str
    datamodel: str
    extensions: tuple[ExtSpec, ...]
    bunit: str | None = None


def _image(suffix: str, bunit: str, *, flat: bool) -> ProductSpec:
    exts = [ExtSpec("SCI", np.float32, 2), ExtSpec("ERR", np.float32, 2), ExtSpec("DQ", np.uint32, 2),
            ExtSpec("VAR_POISSON", np.float32, 2), ExtSpec("VAR_RNOISE", np.float32, 2)]
    if flat:
        exts += [ExtSpec("VAR_FLAT", np.float32, 2), ExtSpec("AREA", np.float32, 2, required=False)]
    return ProductSpec(suffix, "ImageModel", tuple(exts), bunit)


def _cube(suffix: str, bunit: str, *, flat: bool) -> ProductSpec:
    exts = [ExtSpec("SCI", np.float32, 3), ExtSpec("ERR", np.float32, 3), ExtSpec("DQ", np.uint32, 3),
            ExtSpec("VAR_POISSON", np.float32, 3), ExtSpec("VAR_RNOISE", np.float32, 3)]
    if flat:
        exts += [ExtSpec("VAR_FLAT", np.float32, 3), ExtSpec("AREA", np.float32, 2, required=False)]
    return ProductSpec(suffix, "CubeModel", tuple(exts), bunit)


_RAMP = (ExtSpec("SCI", np.float32, 4), ExtSpec("PIXELDQ", np.uint32, 2), ExtSpec("GROUPDQ", np.uint8, 4),
         ExtSpec("ZEROFRAME", np.float32, 3, required=False))

#: Every product layout we write, by suffix.
PRODUCTS: dict[str, ProductSpec] = {
    spec.suffix: spec
    for spec in (
        _image("rate", "DN/s", flat=False),
        _cube("rateints", "DN/s", flat=False),
        ProductSpec("ramp", "RampModel", _RAMP, "DN"),
        ProductSpec("dark", "RampModel", _RAMP, "DN"),
        _image("cal", "MJy/sr", flat=True),
        _cube("calints", "MJy/sr", flat=True),
        _image("crf", "MJy/sr", flat=True),
        _cube("crfints", "MJy/sr", flat=True),  # calwebb_tso3's (and coron3's) outlier-flagged integrations
        _image("bsub", "DN/s", flat=False),
        ProductSpec("i2d", "ImageModel", (
            ExtSpec("SCI", np.float32, 2), ExtSpec("ERR", np.float32, 2), ExtSpec("CON", np.int32, 3),
            ExtSpec("WHT", np.float32, 2), ExtSpec("VAR_POISSON", np.float32, 2, required=False),
            ExtSpec("VAR_RNOISE", np.float32, 2, required=False),
            ExtSpec("VAR_FLAT", np.float32, 2, required=False)), "MJy/sr"),
        ProductSpec("wfscmb", "ImageModel", (
            ExtSpec("SCI", np.float32, 2), ExtSpec("ERR", np.float32, 2), ExtSpec("DQ", np.uint32, 2)), "MJy/sr"),
        ProductSpec("s3d", "IFUCubeModel", (  # an IFU cube (issue 11): (wavelength, beta, alpha)
            ExtSpec("SCI", np.float32, 3), ExtSpec("ERR", np.float32, 3), ExtSpec("DQ", np.uint32, 3),
            ExtSpec("WMAP", np.float32, 3)), "MJy/sr"),
        # coronagraphy (calwebb_coron3, issue 12): the reference stack, the references aligned to each science
        # integration (nints, nrefs, ny, nx) and the PSF-subtracted science
        ProductSpec("psfstack", "CubeModel", (
            ExtSpec("SCI", np.float32, 3), ExtSpec("ERR", np.float32, 3), ExtSpec("DQ", np.uint32, 3)), "MJy/sr"),
        ProductSpec("psfalign", "QuadModel", (
            ExtSpec("SCI", np.float32, 4), ExtSpec("ERR", np.float32, 4), ExtSpec("DQ", np.uint32, 4)), "MJy/sr"),
        ProductSpec("psfsub", "CubeModel", (
            ExtSpec("SCI", np.float32, 3), ExtSpec("ERR", np.float32, 3), ExtSpec("DQ", np.uint32, 3),
            ExtSpec("VAR_POISSON", np.float32, 3, required=False),
            ExtSpec("VAR_RNOISE", np.float32, 3, required=False)), "MJy/sr"),
        ProductSpec("guider_cal", "GuiderCalModel", (
            ExtSpec("SCI", np.float32, 3), ExtSpec("ERR", np.float32, 3), ExtSpec("DQ", np.uint32, 2)), "DN/s"),
    )
}


#: The variance planes: their BUNIT is the square of the SCI unit.
_VARIANCES = ("VAR_POISSON", "VAR_RNOISE", "VAR_FLAT")


def variance_unit(unit: str) -> str:
    """The unit of a variance of values in ``unit``: ``MJy^2 / sr^2``, ``MJy^2``, ``DN^2 / s^2`` (jwst's spelling
    of squared units, as extract_1d writes its variance columns; astropy parses it)."""
    return " / ".join(f"{part.strip()}^2" for part in unit.split("/"))


def plane_unit(name: str, unit: str | None) -> str | None:
    """BUNIT of the extension ``name`` of a product whose SCI is in ``unit``: the unit for SCI and ERR, its square
    for VAR_POISSON/VAR_RNOISE/VAR_FLAT, µm for WAVELENGTH, none for the others (DQ, CON, WHT, AREA…)."""
    if name == "WAVELENGTH":
        return "um"
    if not unit:
        return None
    if name in ("SCI", "ERR"):
        return unit
    return variance_unit(unit) if name in _VARIANCES else None


def _check_arrays(spec: ProductSpec, arrays: Mapping[str, np.ndarray], name: str, bunit: str | None = None
                  ) -> list[Extension]:
    unknown = set(arrays) - {e.name for e in spec.extensions}
    if unknown:
        raise BadDataShapeError(f"{name}: {sorted(unknown)} are not extensions of a {spec.suffix} product")
    out = []
    shape2d: tuple[int, ...] | None = None
    for ext in spec.extensions:
        data = arrays.get(ext.name)
        if data is None:
            if ext.required:
                raise BadDataShapeError(f"{name}: a {spec.suffix} product needs {ext.name}")
            continue
        if data.ndim != ext.ndim:
            raise BadDataShapeError(f"{name}: {ext.name} has {data.ndim} dimensions, a {spec.suffix} needs {ext.ndim}")
        if shape2d is None:
            shape2d = data.shape[-2:]
        elif data.shape[-2:] != shape2d:
            raise BadDataShapeError(f"{name}: {ext.name} is {data.shape[-2:]} but SCI is {shape2d}")
        unit = plane_unit(ext.name, bunit or spec.bunit)
        header = {"BUNIT": unit} if unit else None
        out.append(Extension(ext.name, np.ascontiguousarray(data, dtype=ext.dtype), header))
    return out


def _dq_def() -> np.ndarray:
    rows = dq_def_rows()
    table = np.zeros(len(rows), dtype=[("BIT", ">i4"), ("VALUE", ">u4"), ("NAME", "S40"), ("DESCRIPTION", "S80")])
    for i, (bit, value, name, desc) in enumerate(rows):
        table[i] = (bit, value, name.encode(), desc.encode())
    return table


def write_product(
    path: str | os.PathLike[str],
    arrays: Mapping[str, np.ndarray],
    *,
    primary: Mapping[str, object] | fits.Header | None,
    sci_header: Mapping[str, object] | fits.Header | None = None,
    tables: Mapping[str, np.ndarray] | None = None,
    suffix: str | None = None,
    bunit: str | None = None,
    datamodel: str | None = None,
) -> Path:
    """Write a product atomically with the layout of its suffix (taken from the file name by default).

    ``primary`` and ``sci_header`` are carried over (structural keywords dropped); DATAMODL, FILENAME and
    DATE are set. ``tables`` are extra binary tables (e.g. INT_TIMES). ``bunit`` replaces the suffix's unit of
    SCI and ERR (a point-source spectroscopic ``_cal`` is in MJy, not MJy/sr); ``datamodel`` the suffix's DATAMODL
    (an IFU ``_cal`` is jwst's IFUImageModel).

    Raises
    ------
    BadDataShapeError
        A required extension is missing or has the wrong number of dimensions. Not retriable.
    """
    p = Path(path)
    kind = suffix or split_suffix(p)[1]
    if kind not in PRODUCTS:
        raise BadDataShapeError(f"{p.name}: no product layout for suffix {kind!r}")
    spec = PRODUCTS[kind]
    extensions = _check_arrays(spec, arrays, p.name, bunit)
    head = dict(to_header(primary))
    head.update(DATAMODL=datamodel or spec.datamodel, FILENAME=p.name,
                DATE=datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3])
    sci = extensions[0]
    extensions[0] = Extension("SCI", sci.data, {**dict(to_header(sci_header)), **(sci.header or {})})
    extensions.extend(Extension(name, table) for name, table in (tables or {}).items())
    extensions.append(Extension("DQ_DEF", _dq_def()))
    return write_fits(p, primary=head, extensions=extensions)


@dataclass(frozen=True, slots=True)
class Product:
    """A product read back into memory: headers and arrays by extension name."""

    path: Path
    primary: dict[str, object]
    sci_header: dict[str, object]
    arrays: dict[str, np.ndarray]

    def __getitem__(self, name: str) -> np.ndarray:
        return self.arrays[name]


def read_product(path: str | os.PathLike[str], *, extensions: tuple[str, ...] | None = None) -> Product:
    """Read a product (all image and table extensions, or only ``extensions``) into memory.

    Raises ``NotFitsError`` / ``CorruptFileError`` (not retriable) for a broken file.
    """
    p = Path(path)
    arrays: dict[str, np.ndarray] = {}
    with open_fits(p, scale=False) as hdul:
        primary = header_dict(hdul[0].header)
        sci = hdu_by_name(hdul, "SCI", p)
        if sci is None:
            raise missing_extension_error(hdul, "SCI", p)
        sci_header = header_dict(sci.header)
        for hdu in hdul[1:]:
            if hdu.name == ASDF_EXTENSION or (extensions is not None and hdu.name not in extensions):
                continue
            check_complete(hdu, p)
            if hdu.data is not None:
                arrays[hdu.name] = np.array(scaled(hdu)) if hdu.is_image else np.array(hdu.data)
    return Product(p, primary, sci_header, arrays)
