"""Low-level FITS access: the only place that talks to ``astropy.io.fits``.

Two promises:

* **Writes are atomic.** A file is written to a temporary name in the target folder and ``os.replace``d into
  place, so a reader (or a watcher) never sees half a product and a repeated write of the same product is
  harmless.
* **Reads fail with typed errors.** Anything astropy says about a broken file (not FITS, truncated, a header
  that does not parse, a missing extension) is turned into a :mod:`streamcal.errors` exception that names
  the file; nothing escapes as a bare astropy traceback.
"""

from __future__ import annotations

import contextlib
import os
import uuid
import warnings
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from astropy.io import fits
from astropy.utils.exceptions import AstropyUserWarning

from streamcal.datamodels.jwst_asdf import asdf_hdu
from streamcal.errors import CorruptFileError, NotFitsError

__all__ = [
    "FITS_BLOCK",
    "Extension",
    "atomic_path",
    "check_complete",
    "hdu_by_name",
    "header_dict",
    "missing_extension_error",
    "open_fits",
    "open_hdul",
    "read_extensions",
    "read_header",
    "read_section",
    "scaled",
    "to_header",
    "write_fits",
]

FITS_BLOCK = 2880

# Keywords astropy derives from the data; copying them from another header would corrupt the new one.
_STRUCTURAL = frozenset(
    {"SIMPLE", "XTENSION", "BITPIX", "NAXIS", "EXTEND", "PCOUNT", "GCOUNT", "TFIELDS", "BZERO", "BSCALE",
     "CHECKSUM", "DATASUM", "EXTNAME", "EXTVER", "THEAP", "ZIMAGE"}
)


@dataclass(frozen=True, slots=True)
class Extension:
    """One extension to write: an ndarray becomes an image HDU, a structured array a binary table."""

    name: str
    data: np.ndarray | None
    header: Mapping[str, object] | None = None
    units: Mapping[str, str] | None = None
    """A binary table's column units (TUNITn), by column name."""
    ver: int | None = None
    """EXTVER, for several extensions of one name (jwst's EXTRACT1D per spectrum)."""


def _is_structural(key: str) -> bool:
    return key in _STRUCTURAL or key.startswith(("NAXIS", "TTYPE", "TFORM", "TUNIT", "TDIM", "TNULL", "TSCAL", "TZERO"))


def to_header(values: Mapping[str, object] | fits.Header | None) -> fits.Header:
    """A new ``fits.Header`` from a mapping, dropping structural keywords and ``None`` values."""
    header = fits.Header()
    if values is None:
        return header
    if isinstance(values, fits.Header):
        for card in values.cards:
            key = card.keyword
            if _is_structural(key):
                continue
            if key in ("COMMENT", "HISTORY", ""):
                header.append(card.copy() if hasattr(card, "copy") else (key, card.value))
            else:
                header[key] = (card.value, card.comment)
        return header
    for key, value in values.items():
        if value is None or _is_structural(key.upper()):
            continue
        if isinstance(value, np.generic):
            value = value.item()
        header[key.upper()] = value
    return header


def _hdu_for(ext: Extension) -> fits.ImageHDU | fits.BinTableHDU:
    header = to_header(ext.header)
    data = ext.data
    if data is not None and data.dtype.names is not None:
        hdu: fits.ImageHDU | fits.BinTableHDU = fits.BinTableHDU(data=data, header=header, name=ext.name)
        for i, column in enumerate(data.dtype.names, start=1):
            unit = (ext.units or {}).get(column)
            if unit:
                hdu.header[f"TUNIT{i}"] = unit
    else:
        hdu = fits.ImageHDU(data=data, header=header, name=ext.name)
    if ext.ver is not None:
        hdu.ver = ext.ver
    return hdu


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; on success it replaces ``path`` atomically."""
    final = Path(path)
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = final.with_name(f".{final.name}.{os.getpid()}.{uuid.uuid4().hex[:8]}.tmp")
    try:
        yield tmp
        os.replace(tmp, final)
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()


def write_fits(
    path: str | os.PathLike[str],
    *,
    primary: Mapping[str, object] | fits.Header | None,
    extensions: Sequence[Extension],
) -> Path:
    """Write a FITS file (empty primary + extensions) atomically and return its path.

    A file whose primary names a ``DATAMODL`` also gets the ``ASDF`` extension stdatamodels and jwst read
    (:mod:`streamcal.datamodels.jwst_asdf`, issue 14).
    """
    hdus: list[fits.hdu.base._BaseHDU] = [fits.PrimaryHDU(header=to_header(primary))]
    hdus.extend(_hdu_for(ext) for ext in extensions)
    if "DATAMODL" in hdus[0].header:
        hdus.append(asdf_hdu(hdus))
    final = Path(path)
    with atomic_path(final) as tmp:
        fits.HDUList(hdus).writeto(tmp, checksum=False)
    return final


def _translate(exc: BaseException, path: Path) -> CorruptFileError:
    text = str(exc)
    if isinstance(exc, OSError) and ("Empty or corrupt FITS file" in text or "No SIMPLE card" in text):
        return NotFitsError(f"{path.name} is not a FITS file ({text})")
    return CorruptFileError(f"{path.name} cannot be read as FITS: {type(exc).__name__}: {text}")


def open_hdul(path: str | os.PathLike[str], *, scale: bool = True) -> fits.HDUList:
    """Open a FITS file lazily with memory mapping; astropy errors become typed errors. The caller closes it.

    ``scale=False`` leaves BZERO/BSCALE unapplied, so integer images stay memory-mapped (the caller then
    scales row blocks itself).

    Raises
    ------
    FileNotFoundError
        The file does not exist (the builtin, so retry logic may treat it as transient).
    NotFitsError, CorruptFileError
        Not retriable.
    """
    p = Path(path)
    if not p.exists():
        raise FileNotFoundError(f"no such file: {p}")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", AstropyUserWarning)
            return fits.open(p, memmap=True, lazy_load_hdus=True, do_not_scale_image_data=not scale, mode="readonly")
    except (OSError, ValueError, TypeError, IndexError, KeyError, AstropyUserWarning, fits.VerifyError) as exc:
        raise _translate(exc, p) from exc


@contextlib.contextmanager
def open_fits(path: str | os.PathLike[str], *, scale: bool = True) -> Iterator[fits.HDUList]:
    """:func:`open_hdul` as a context manager that closes the file."""
    hdul = open_hdul(path, scale=scale)
    try:
        yield hdul
    finally:
        hdul.close()


def _trailing_garbage(hdul: fits.HDUList, path: Path) -> str:
    """Why an extension may be missing: bytes after the last HDU astropy could parse (a truncated file)."""
    last = hdul[len(hdul) - 1].fileinfo()
    end = int(last["datLoc"]) + int(last["datSpan"]) if last else 0
    size = path.stat().st_size
    if size > end:
        return f"; the file is truncated or corrupt: {size - end} bytes after HDU {len(hdul) - 1} do not parse"
    return ""


def hdu_by_name(hdul: fits.HDUList, name: str, path: Path) -> fits.hdu.base.ExtensionHDU | None:
    """The named extension, or ``None`` when absent; a header that fails to parse is a CorruptFileError."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", AstropyUserWarning)
            return hdul[name]
    except KeyError:
        return None
    except (OSError, ValueError, IndexError, TypeError, AstropyUserWarning, fits.VerifyError) as exc:
        raise _translate(exc, path) from exc


def check_complete(hdu: fits.hdu.base._BaseHDU, path: Path) -> None:
    """Raise ``CorruptFileError`` if the file ends before this HDU's data does (a truncated file)."""
    info = hdu.fileinfo()
    if info is None:
        return
    end = int(info["datLoc"]) + int(info["datSpan"])
    size = path.stat().st_size
    if size < end:
        raise CorruptFileError(
            f"{path.name} is truncated: the {hdu.name or 'PRIMARY'} data need {end} bytes, the file has {size}"
        )


def read_extensions(path: str | os.PathLike[str], names: Sequence[str]) -> dict[str, np.ndarray]:
    """Read whole extensions into memory (small files such as references); missing names are omitted."""
    p = Path(path)
    out: dict[str, np.ndarray] = {}
    with open_fits(p, scale=False) as hdul:
        for name in names:
            hdu = hdu_by_name(hdul, name, p)
            if hdu is None or hdu.data is None:
                continue
            check_complete(hdu, p)
            out[name] = np.array(scaled(hdu)) if hdu.is_image else np.array(hdu.data)
    return out


def read_section(path: str | os.PathLike[str], name: str, index: tuple[object, ...]) -> np.ndarray:
    """Part of an image extension, read from the file without loading (or mapping) the rest.

    ``index`` holds slices (and at most one leading ``Ellipsis``) over the array's numpy axes; an integer
    array selects e.g. edge columns. The result is a new native-order array with BZERO/BSCALE applied.
    Raises ``CorruptFileError`` if the extension is absent (not retriable).
    """
    p = Path(path)
    with open_fits(p, scale=False) as hdul:
        hdu = hdu_by_name(hdul, name, p)
        if hdu is None:
            raise missing_extension_error(hdul, name, p)
        check_complete(hdu, p)
        ndim = int(hdu.header.get("NAXIS", 0))
        rest = [ix for ix in index if ix is not Ellipsis]
        full = [slice(None)] * (ndim - len(rest)) + rest if Ellipsis in index else rest + [slice(None)] * (
            ndim - len(rest))
        basic = tuple(slice(None) if isinstance(ix, np.ndarray) else ix for ix in full)
        data = np.asarray(hdu.section[basic])
        for axis, ix in enumerate(full):  # fancy indices (e.g. edge columns) after the basic read
            if isinstance(ix, np.ndarray):
                data = np.take(data, ix, axis=axis)
        return scaled(_SectionHDU(data, hdu.header))


class _SectionHDU:
    """The bits of an HDU :func:`scaled` reads, for a section."""

    def __init__(self, data: np.ndarray, header: fits.Header) -> None:
        self.data = data
        self.header = header


def read_header(path: str | os.PathLike[str], name: str | int = 0) -> dict[str, object]:
    """One header as a plain dict (COMMENT/HISTORY dropped)."""
    p = Path(path)
    with open_fits(p) as hdul:
        hdu = hdul[0] if name == 0 else hdu_by_name(hdul, str(name), p)
        if hdu is None:
            raise CorruptFileError(f"{p.name} has no {name} extension")
        return header_dict(hdu.header)


def header_dict(header: fits.Header) -> dict[str, object]:
    """A plain dict of a header's keyword values, without COMMENT/HISTORY/blank cards."""
    return {k: v for k, v in header.items() if k not in ("COMMENT", "HISTORY", "")}


def missing_extension_error(hdul: fits.HDUList, name: str, path: Path) -> CorruptFileError:
    """The error for an absent extension, saying whether the file looks truncated."""
    return CorruptFileError(f"{path.name} has no {name} extension{_trailing_garbage(hdul, path)}")


def scaled(hdu: fits.hdu.base.ExtensionHDU) -> np.ndarray:
    """An image HDU's data in native byte order, BZERO/BSCALE applied even when the file was opened unscaled."""
    data = np.asarray(hdu.data)
    bzero, bscale = hdu.header.get("BZERO", 0), hdu.header.get("BSCALE", 1)
    if bscale == 1 and bzero in (2**15, 2**31, 2**63) and data.dtype.kind == "i":
        unsigned = np.dtype(data.dtype.str.replace("i", "u"))
        return (data.view(unsigned) ^ np.array(bzero, dtype=unsigned)).astype(unsigned.newbyteorder("="))
    if bzero == 0 and bscale == 1:
        return data.astype(data.dtype.newbyteorder("="))
    return data * bscale + bzero
