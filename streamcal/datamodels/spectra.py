"""Extracted spectra as jwst writes them: ``_x1d`` (and ``_x1dints``, ``_c1d``) files opened by stdatamodels as
``MultiSpecModel`` (jwst_spec §2, the ``spectable`` and ``specmeta`` schemas).

One ``EXTRACT1D`` binary-table extension per spectrum (numbered by EXTVER), with jwst's 18 columns in jwst's
order and units — WAVELENGTH (um), FLUX and its error and variance components (Jy, Jy^2), SURF_BRIGHT and
BACKGROUND with theirs (MJy/sr), DQ and NPIXELS — and the spectrum's own keywords (SLTNAME, SOURCEID, SPORDER,
DISPAXIS, SRCTYPE, EXTR_X/EXTR_Y, ...) in its header. The primary header carries the exposure's keywords,
``DATAMODL = 'MultiSpecModel'`` and the provenance the caller passes.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import numpy.typing as npt
from astropy.io import fits

from streamcal.datamodels.fitsio import Extension, check_complete, hdu_by_name, header_dict, open_fits, write_fits
from streamcal.errors import BadDataShapeError, CorruptFileError

__all__ = ["SPEC_COLUMNS", "Spectrum1D", "extract1d_tables", "read_x1d", "write_x1d"]

#: jwst's spectable columns, in order, with dtype and unit.
SPEC_COLUMNS: tuple[tuple[str, str, str], ...] = (
    ("WAVELENGTH", "f8", "um"), ("FLUX", "f8", "Jy"), ("FLUX_ERROR", "f8", "Jy"),
    ("FLUX_VAR_POISSON", "f8", "Jy^2"), ("FLUX_VAR_RNOISE", "f8", "Jy^2"), ("FLUX_VAR_FLAT", "f8", "Jy^2"),
    ("SURF_BRIGHT", "f8", "MJy/sr"), ("SB_ERROR", "f8", "MJy/sr"), ("SB_VAR_POISSON", "f8", "(MJy/sr)^2"),
    ("SB_VAR_RNOISE", "f8", "(MJy/sr)^2"), ("SB_VAR_FLAT", "f8", "(MJy/sr)^2"), ("DQ", "u4", ""),
    ("BACKGROUND", "f8", "MJy/sr"), ("BKGD_ERROR", "f8", "MJy/sr"), ("BKGD_VAR_POISSON", "f8", "(MJy/sr)^2"),
    ("BKGD_VAR_RNOISE", "f8", "(MJy/sr)^2"), ("BKGD_VAR_FLAT", "f8", "(MJy/sr)^2"), ("NPIXELS", "f8", ""),
)
_UNITS = {column: unit for column, _, unit in SPEC_COLUMNS if unit}
_ERRORS = {"FLUX_ERROR": "FLUX_VAR_", "SB_ERROR": "SB_VAR_", "BKGD_ERROR": "BKGD_VAR_"}


@dataclass(frozen=True, slots=True)
class Spectrum1D:
    """One extracted spectrum: its columns (any of :data:`SPEC_COLUMNS`; the others are written as jwst's
    defaults, NaN / DQ 1 / NPIXELS 0, and each ``*_ERROR`` left out is the root of its variance components)
    and its header keywords (``SLTNAME``, ``SOURCEID``, ``SPORDER``, ``DISPAXIS``, ...)."""

    columns: Mapping[str, npt.ArrayLike]
    meta: Mapping[str, object] = field(default_factory=dict)

    def table(self, name: str) -> np.ndarray:
        """The record array of the EXTRACT1D extension.

        Raises
        ------
        BadDataShapeError
            No WAVELENGTH, an unknown column, or columns of different lengths. Not retriable.
        """
        known = {c for c, _, _ in SPEC_COLUMNS}
        unknown = set(self.columns) - known
        if unknown:
            raise BadDataShapeError(f"{name}: unknown x1d column(s) {sorted(unknown)}")
        if "WAVELENGTH" not in self.columns:
            raise BadDataShapeError(f"{name}: a spectrum needs a WAVELENGTH column")
        values = {k: np.asarray(v) for k, v in self.columns.items()}
        lengths = {k: v.shape for k, v in values.items()}
        n = len(values["WAVELENGTH"])
        if any(shape != (n,) for shape in lengths.values()):
            raise BadDataShapeError(f"{name}: x1d columns must be 1-D of one length, got {lengths}")
        rows = np.zeros(n, dtype=[(c, t) for c, t, _ in SPEC_COLUMNS])
        for column, _, _ in SPEC_COLUMNS:
            if column in values:
                rows[column] = values[column]
            elif column in _ERRORS:
                prefix = _ERRORS[column]
                parts = [values[f"{prefix}{p}"] for p in ("POISSON", "RNOISE", "FLAT") if f"{prefix}{p}" in values]
                rows[column] = np.sqrt(np.sum(parts, axis=0)) if parts else np.nan
            elif column == "DQ":
                rows[column] = 1
            elif column == "NPIXELS":
                rows[column] = 0
            else:
                rows[column] = np.nan
        return rows


def write_x1d(path: str | os.PathLike[str], spectra: Sequence[Spectrum1D], *,
              primary: Mapping[str, object]) -> Path:
    """Write spectra as a ``MultiSpecModel`` file, atomically.

    Raises
    ------
    BadDataShapeError
        No spectrum, or a malformed one (see :meth:`Spectrum1D.table`). Not retriable.
    OSError
        The folder is not writable. Retriable if the storage comes back.
    """
    path = Path(path)
    if not spectra:
        raise BadDataShapeError(f"{path.name}: no spectrum to write")
    head = {k: v for k, v in primary.items() if k not in ("DATAMODL", "FILENAME", "DATE")}
    head.update(DATAMODL="MultiSpecModel", FILENAME=path.name,
                DATE=datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3])
    extensions = []
    for i, spectrum in enumerate(spectra, start=1):
        extensions.append(Extension("EXTRACT1D", spectrum.table(path.name), header=dict(spectrum.meta), units=_UNITS,
                                    ver=i))
    return write_fits(path, primary=head, extensions=extensions)


def _scaled_table(data: np.ndarray) -> np.ndarray:
    """A table's columns as their values (astropy applies TZERO per column, not to the raw record array: an
    unsigned DQ column reads back as stored otherwise)."""
    names = data.dtype.names or ()
    columns = [np.asarray(data[n]) for n in names]
    out = np.zeros(len(data), dtype=[(n, c.dtype.newbyteorder("=")) for n, c in zip(names, columns, strict=True)])
    for name, column in zip(names, columns, strict=True):
        out[name] = column
    return out


def extract1d_tables(hdul: fits.HDUList, path: Path) -> list[tuple[np.ndarray, dict[str, object]]]:
    """The EXTRACT1D tables of an open file with their headers, in file order (none for another file).

    Raises
    ------
    CorruptFileError
        The file's headers do not parse, or an EXTRACT1D extension is truncated. Not retriable.
    """
    if hdu_by_name(hdul, "EXTRACT1D", path) is None:  # reads every header: a broken file is a CorruptFileError
        return []
    out = []
    for hdu in hdul[1:]:
        if hdu.name == "EXTRACT1D":
            check_complete(hdu, path)
            out.append((_scaled_table(hdu.data), header_dict(hdu.header)))
    return out


def read_x1d(path: str | os.PathLike[str]) -> list[tuple[np.ndarray, dict[str, object]]]:
    """The EXTRACT1D tables of an x1d file with their headers, in file order.

    Raises
    ------
    CorruptFileError
        Not a FITS file with at least one EXTRACT1D extension. Not retriable.
    """
    path = Path(path)
    with open_fits(path) as hdul:
        out = extract1d_tables(hdul, path)
    if not out:
        raise CorruptFileError(f"{path.name}: no EXTRACT1D extension (not an x1d file)")
    return out
