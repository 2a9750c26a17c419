"""Raw exposures (``*_uncal.fits``, Level1bModel-compatible) and their header-only reads.

Routing only ever needs headers, so :func:`read_headers` parses the PRIMARY and SCI headers without
touching the pixels. Calibration reads the ramp through :class:`RawExposure`, which keeps SCI memory-mapped
(integer data are *not* scaled by astropy, which would load the whole array) and converts row blocks to
float32 DN on demand, so peak memory follows the block size, not the ramp size.
"""

from __future__ import annotations

import contextlib
import mmap
import os
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType

import numpy as np
from astropy.io import fits

from streamcal.datamodels.fitsio import (
    Extension,
    check_complete,
    hdu_by_name,
    header_dict,
    missing_extension_error,
    open_fits,
    open_hdul,
    scaled,
    to_header,
    write_fits,
)
from streamcal.errors import BadDataShapeError, CorruptFileError

__all__ = ["MAX_DIM", "ExposureHeaders", "RawExposure", "open_raw", "read_headers", "write_raw"]

#: Largest plausible detector axis (NIRSpec IRS2 raw frames are 3200 wide) and ramp axes.
MAX_DIM = {"nx": 4096, "ny": 4096, "ngroups": 10_000, "nints": 1_000_000}


class ExposureHeaders(Mapping[str, object]):
    """PRIMARY and SCI headers of one file as plain dicts; lookups try PRIMARY first, then SCI."""

    def __init__(self, path: Path, primary: dict[str, object], sci: dict[str, object]) -> None:
        self.path = path
        self.primary = primary
        self.sci = sci

    def __getitem__(self, key: str) -> object:
        if key in self.primary:
            return self.primary[key]
        return self.sci[key]

    def __iter__(self) -> Iterator[str]:
        yield from self.primary
        yield from (k for k in self.sci if k not in self.primary)

    def __len__(self) -> int:
        return len(self.primary) + sum(1 for k in self.sci if k not in self.primary)

    def __repr__(self) -> str:
        return f"ExposureHeaders({self.path.name}, EXP_TYPE={self.primary.get('EXP_TYPE')!r})"


def _sci_hdu(hdul: fits.HDUList, path: Path) -> fits.ImageHDU:
    sci = hdu_by_name(hdul, "SCI", path)
    if sci is None:
        raise missing_extension_error(hdul, "SCI", path)
    return sci


def read_headers(path: str | os.PathLike[str], *, check_size: bool = True) -> ExposureHeaders:
    """Read the PRIMARY and SCI headers without loading pixel data.

    With ``check_size`` the file must be long enough to hold the SCI data it declares (a truncated
    file is rejected here, before any work is scheduled for it).

    Raises
    ------
    FileNotFoundError
        The file is gone (possibly retriable).
    NotFitsError, CorruptFileError
        Not retriable.
    """
    p = Path(path)
    with open_fits(p, scale=False) as hdul:
        primary = header_dict(hdul[0].header)
        sci = _sci_hdu(hdul, p)
        if check_size:
            check_complete(sci, p)
        return ExposureHeaders(p, primary, header_dict(sci.header))


def _expected_nints(primary: Mapping[str, object]) -> int | None:
    try:
        start, end = primary.get("INTSTART"), primary.get("INTEND")
        if start not in (None, "") and end not in (None, ""):
            return int(str(end)) - int(str(start)) + 1
        nints = primary.get("NINTS")
        return None if nints in (None, "") else int(str(nints))
    except ValueError:
        return None


def validate_ramp_shape(shape: tuple[int, ...], primary: Mapping[str, object], name: str) -> None:
    """Check a ramp shape: 4-D, positive, plausible sizes, agreeing with NGROUPS and NINTS/INTSTART..INTEND."""
    if len(shape) != 4:
        raise BadDataShapeError(f"{name}: SCI has {len(shape)} dimensions; a raw ramp has 4 (nints, ngroups, ny, nx)")
    for axis, size in zip(("nints", "ngroups", "ny", "nx"), shape, strict=True):
        if not 1 <= size <= MAX_DIM[axis]:
            raise BadDataShapeError(f"{name}: {axis}={size} is outside 1..{MAX_DIM[axis]}")
    ngroups = primary.get("NGROUPS")
    if ngroups not in (None, "") and str(ngroups).strip().isdigit() and int(str(ngroups)) != shape[1]:
        raise BadDataShapeError(f"{name}: NGROUPS={ngroups} but SCI has {shape[1]} groups")
    nints = _expected_nints(primary)
    if nints is not None and nints != shape[0]:
        raise BadDataShapeError(f"{name}: header says {nints} integrations but SCI has {shape[0]}")


@dataclass
class RawExposure:
    """An open raw exposure; use as a context manager (``with open_raw(path) as raw``)."""

    path: Path
    headers: ExposureHeaders
    shape: tuple[int, int, int, int]
    _hdul: fits.HDUList = field(repr=False)
    _sci: np.ndarray = field(repr=False)
    _bzero: float = 0.0
    _bscale: float = 1.0

    @property
    def primary(self) -> dict[str, object]:
        return self.headers.primary

    @property
    def sci_header(self) -> dict[str, object]:
        return self.headers.sci

    @property
    def nints(self) -> int:
        return self.shape[0]

    @property
    def ngroups(self) -> int:
        return self.shape[1]

    @property
    def raw_sci(self) -> np.ndarray:
        """The memory-mapped SCI array as stored (unscaled, file byte order)."""
        return self._sci

    def ramp_block(self, y0: int, y1: int, ints: slice | None = None, cols: slice | None = None) -> np.ndarray:
        """Rows ``y0:y1`` (and columns ``cols``) of the ramp as a new float32 array in DN,
        (nints, ngroups, y1-y0, ncols)."""
        return self._to_dn(self._sci[ints if ints is not None else slice(None), :, y0:y1,
                                     cols if cols is not None else slice(None)])

    def int_times(self) -> np.ndarray | None:
        """The INT_TIMES table (one row per integration, MJD UTC and BJD TDB), or None when the file has none.

        Raises
        ------
        CorruptFileError
            The table is truncated. Not retriable.
        """
        hdu = hdu_by_name(self._hdul, "INT_TIMES", self.path)
        if hdu is None or hdu.data is None:
            return None
        check_complete(hdu, self.path)
        return np.array(hdu.data)

    def ramp_columns(self, cols: np.ndarray) -> np.ndarray:
        """Columns ``cols`` of the ramp as a new float32 array (nints, ngroups, ny, len(cols)) in DN."""
        return self._to_dn(self._sci[..., cols])

    def _to_dn(self, stored: np.ndarray) -> np.ndarray:
        out = stored.astype(np.float32)
        if self._bscale != 1.0:
            out *= np.float32(self._bscale)
        if self._bzero != 0.0:
            out += np.float32(self._bzero)
        self._release_pages()
        return out

    def _release_pages(self) -> None:
        """Drop the mapped file pages just read from this process's resident set.

        They are clean and shared with the page cache, so nothing is lost; without this, reading a ramp
        block by block would leave the whole file resident (and counted in RSS) by the end.
        """
        base: object = self._sci
        while isinstance(base, np.ndarray) and base.base is not None:
            base = base.base
        if isinstance(base, mmap.mmap) and hasattr(mmap, "MADV_DONTNEED"):
            with contextlib.suppress(OSError, ValueError):
                base.madvise(mmap.MADV_DONTNEED)

    def read_ramp(self) -> np.ndarray:
        """The whole ramp as float32 DN. Prefer :meth:`ramp_block` for large exposures."""
        return self.ramp_block(0, self.shape[2])

    def _optional(self, name: str, ndim: int) -> np.ndarray | None:
        hdu = hdu_by_name(self._hdul, name, self.path)
        if hdu is None or hdu.data is None:
            return None
        check_complete(hdu, self.path)
        data = scaled(hdu)
        if data.ndim != ndim:
            raise BadDataShapeError(f"{self.path.name}: {name} has {data.ndim} dimensions, expected {ndim}")
        return data

    @property
    def pixeldq(self) -> np.ndarray | None:
        """PIXELDQ (ny, nx) uint32 if the file has it."""
        data = self._optional("PIXELDQ", 2)
        return None if data is None else data.astype(np.uint32)

    @property
    def groupdq(self) -> np.ndarray | None:
        """GROUPDQ (nints, ngroups, ny, nx) uint8 if the file has it."""
        data = self._optional("GROUPDQ", 4)
        return None if data is None else data.astype(np.uint8)

    @property
    def zeroframe(self) -> np.ndarray | None:
        """ZEROFRAME (nints, ny, nx) as float32 DN if the file has it."""
        data = self._optional("ZEROFRAME", 3)
        return None if data is None else data.astype(np.float32)

    def close(self) -> None:
        self._hdul.close()

    def __enter__(self) -> RawExposure:
        return self

    def __exit__(self, et: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None) -> None:
        self.close()


def open_raw(path: str | os.PathLike[str]) -> RawExposure:
    """Open a raw exposure with SCI memory-mapped; validates presence, size and shape of SCI.

    Raises
    ------
    FileNotFoundError
        Possibly retriable.
    NotFitsError, CorruptFileError, BadDataShapeError
        Not retriable.
    """
    p = Path(path)
    hdul = open_hdul(p, scale=False)
    try:
        primary = header_dict(hdul[0].header)
        sci = _sci_hdu(hdul, p)
        check_complete(sci, p)
        header = header_dict(sci.header)
        axes = int(header.get("NAXIS", 0))  # type: ignore[call-overload]
        shape = tuple(int(header[f"NAXIS{axes - i}"]) for i in range(axes))  # type: ignore[call-overload]
        validate_ramp_shape(shape, primary, p.name)
        data = sci.data
        if data is None or not np.issubdtype(data.dtype, np.number):
            raise CorruptFileError(f"{p.name}: SCI has no numeric data")
        bzero = float(header.get("BZERO", 0.0))  # type: ignore[arg-type]
        bscale = float(header.get("BSCALE", 1.0))  # type: ignore[arg-type]
    except BaseException:
        hdul.close()
        raise
    return RawExposure(p, ExposureHeaders(p, primary, header), shape, hdul, data, bzero, bscale)


def _int_times(primary: Mapping[str, object], nints: int) -> np.ndarray | None:
    """INT_TIMES rows from EXPSTART, TGROUP and NGROUPS (MJD UTC); ``None`` if the keywords are absent."""
    try:
        start = float(primary["EXPSTART"])  # type: ignore[arg-type]
        tgroup = float(primary["TGROUP"])  # type: ignore[arg-type]
        ngroups = int(primary["NGROUPS"])  # type: ignore[call-overload]
        first = int(primary.get("INTSTART", 1) or 1)  # type: ignore[call-overload]
    except (KeyError, TypeError, ValueError):
        return None
    dt = ngroups * tgroup / 86400.0
    numbers = np.arange(first, first + nints, dtype=np.int32)
    t0 = start + (numbers - 1) * dt
    rows = np.zeros(nints, dtype=[("integration_number", ">i4"),
                                  ("int_start_MJD_UTC", ">f8"), ("int_mid_MJD_UTC", ">f8"),
                                  ("int_end_MJD_UTC", ">f8"), ("int_start_BJD_TDB", ">f8"),
                                  ("int_mid_BJD_TDB", ">f8"), ("int_end_BJD_TDB", ">f8")])
    rows["integration_number"] = numbers
    for prefix, offset in (("start", 0.0), ("mid", 0.5), ("end", 1.0)):
        rows[f"int_{prefix}_MJD_UTC"] = t0 + offset * dt
        rows[f"int_{prefix}_BJD_TDB"] = t0 + offset * dt  # barycentric correction omitted (simulated data)
    return rows


def write_raw(
    path: str | os.PathLike[str],
    *,
    primary: Mapping[str, object],
    sci_header: Mapping[str, object],
    data: np.ndarray,
    zeroframe: np.ndarray | None = None,
) -> Path:
    """Write a raw exposure the way JWST does: SCI uint16 (nints, ngroups, ny, nx), INT_TIMES, ZEROFRAME.

    Written atomically. Raises ``BadDataShapeError`` for a ramp that is not 4-D or disagrees with the header.
    """
    p = Path(path)
    if data.dtype != np.uint16:
        raise BadDataShapeError(f"{p.name}: raw SCI must be uint16, got {data.dtype}")
    validate_ramp_shape(data.shape, primary, p.name)
    head = dict(to_header(primary))
    head.setdefault("DATAMODL", "Level1bModel")
    head["FILENAME"] = p.name
    extensions = [Extension("SCI", data, {"BUNIT": "DN", **dict(to_header(sci_header))})]
    if zeroframe is not None:
        if zeroframe.shape != (data.shape[0], *data.shape[2:]):
            raise BadDataShapeError(f"{p.name}: ZEROFRAME shape {zeroframe.shape} does not match SCI")
        extensions.append(Extension("ZEROFRAME", zeroframe.astype(np.uint16)))
    times = _int_times(primary, data.shape[0])
    if times is not None:
        extensions.append(Extension("INT_TIMES", times))
    return write_fits(p, primary=head, extensions=extensions)
