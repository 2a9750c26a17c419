"""Extracted spectra as jwst writes them: ``_x1d`` (and ``_x1dints``, ``_c1d``) files opened by stdatamodels as
``MultiSpecModel`` (jwst_spec §2, the ``spectable`` and ``specmeta`` schemas).

One ``EXTRACT1D`` binary-table extension per spectrum (numbered by EXTVER), with jwst's 18 columns in jwst's
order and units — WAVELENGTH (um), FLUX and its error and variance components (Jy, Jy^2), SURF_BRIGHT and
BACKGROUND with theirs (MJy/sr), DQ and NPIXELS — and the spectrum's own keywords (SLTNAME, SOURCEID, SPORDER,
DISPAXIS, SRCTYPE, EXTR_X/EXTR_Y, ...) in its header. The primary header carries the exposure's keywords,
``DATAMODL = 'MultiSpecModel'`` and the provenance the caller passes.

A time series' ``_x1dints`` (``TSOMultiSpecModel``, the ``tso_spectable`` schema) holds one EXTRACT1D table per
spectral order with one row per integration: INT_NUM, the same columns as vectors over the points, N_ALONGDISP,
SEGMENT and the integration's MJD/TDB start, middle and end (from INT_TIMES, which it carries too).
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

__all__ = ["SPEC_COLUMNS", "TSO_TIME_COLUMNS", "Spectrum1D", "extract1d_tables", "read_x1d", "write_x1d",
           "write_x1dints"]

#: jwst's spectable columns, in order, with dtype and unit.
SPEC_COLUMNS: tuple[tuple[str, str, str], ...] = (
    ("WAVELENGTH", "f8", "um"), ("FLUX", "f8", "Jy"), ("FLUX_ERROR", "f8", "Jy"),
    ("FLUX_VAR_POISSON", "f8", "Jy^2"), ("FLUX_VAR_RNOISE", "f8", "Jy^2"), ("FLUX_VAR_FLAT", "f8", "Jy^2"),
    ("SURF_BRIGHT", "f8", "MJy/sr"), ("SB_ERROR", "f8", "MJy/sr"), ("SB_VAR_POISSON", "f8", "(MJy/sr)^2"),
    ("SB_VAR_RNOISE", "f8", "(MJy/sr)^2"), ("SB_VAR_FLAT", "f8", "(MJy/sr)^2"), ("DQ", "u4", ""),
    ("BACKGROUND", "f8", "MJy/sr"), ("BKGD_ERROR", "f8", "MJy/sr"), ("BKGD_VAR_POISSON", "f8", "(MJy/sr)^2"),
    ("BKGD_VAR_RNOISE", "f8", "(MJy/sr)^2"), ("BKGD_VAR_FLAT", "f8", "(MJy/sr)^2"), ("NPIXELS", "f8", ""),
)
#: The per-integration time columns of a ``_x1dints`` table (jwst's tso_spectable), in days.
TSO_TIME_COLUMNS = ("MJD-BEG", "MJD-AVG", "MJD-END", "TDB-BEG", "TDB-MID", "TDB-END")
#: INT_TIMES column of each time column.
_INT_TIMES = dict(zip(TSO_TIME_COLUMNS, ("int_start_MJD_UTC", "int_mid_MJD_UTC", "int_end_MJD_UTC",
                                          "int_start_BJD_TDB", "int_mid_BJD_TDB", "int_end_BJD_TDB"), strict=True))
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
        """The record array of the EXTRACT1D extension: one row per point; from 2-D columns (integrations ×
        points) one row per integration with vector columns, as jwst's ``_x1dints`` holds them.

        Raises
        ------
        BadDataShapeError
            No WAVELENGTH, an unknown column, or columns of different shapes. Not retriable.
        """
        known = {c for c, _, _ in SPEC_COLUMNS}
        unknown = set(self.columns) - known
        if unknown:
            raise BadDataShapeError(f"{name}: unknown x1d column(s) {sorted(unknown)}")
        if "WAVELENGTH" not in self.columns:
            raise BadDataShapeError(f"{name}: a spectrum needs a WAVELENGTH column")
        values = {k: np.asarray(v) for k, v in self.columns.items()}
        shapes = {k: v.shape for k, v in values.items()}
        shape = values["WAVELENGTH"].shape
        if len(shape) not in (1, 2) or any(s != shape for s in shapes.values()):
            raise BadDataShapeError(f"{name}: x1d columns must share one 1-D (points) or 2-D (integrations × "
                                    f"points) shape, got {shapes}")
        rows_n, vector = (shape[0], ()) if len(shape) == 1 else (shape[0], (shape[1],))
        rows = np.zeros(rows_n, dtype=[(c, t, vector) for c, t, _ in SPEC_COLUMNS])
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
              primary: Mapping[str, object], units: Mapping[str, str] | None = None) -> Path:
    """Write spectra as a ``MultiSpecModel`` file, atomically. ``units`` replace columns' units (a spectrum that
    photom did not calibrate is in DN/s, as jwst writes it).

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
        table = spectrum.table(path.name)
        if table.dtype["WAVELENGTH"].shape != ():
            raise BadDataShapeError(f"{path.name}: per-integration spectra go to an _x1dints file (write_x1dints)")
        extensions.append(Extension("EXTRACT1D", table, header=dict(spectrum.meta), units={**_UNITS, **(units or {})},
                                    ver=i))
    return write_fits(path, primary=head, extensions=extensions)


def write_x1dints(path: str | os.PathLike[str], spectra: Sequence[Spectrum1D], *, primary: Mapping[str, object],
                  int_times: np.ndarray | None = None, segments: npt.ArrayLike | None = None) -> Path:
    """Write per-integration spectra as jwst's ``_x1dints`` (``TSOMultiSpecModel``), atomically.

    Each spectrum (one per spectral order) has 2-D columns, integrations × points, and becomes one EXTRACT1D
    table with a row per integration: INT_NUM, the spectral columns as vectors, N_ALONGDISP, SEGMENT (EXSEGNUM)
    and the integration's times from ``int_times`` (the exposure's INT_TIMES rows, matched by integration
    number; NaN without them). The INT_TIMES table is written too. ``segments`` gives each row's SEGMENT
    (calwebb_tso3's segments combined; default EXSEGNUM for every row).

    Raises
    ------
    BadDataShapeError
        No spectrum, a spectrum without integrations, or INT_TIMES without a row for an integration. Not
        retriable.
    OSError
        The folder is not writable. Retriable if the storage comes back.
    """
    path = Path(path)
    if not spectra:
        raise BadDataShapeError(f"{path.name}: no spectrum to write")
    first = int(str(primary.get("INTSTART", 1) or 1))
    segment = int(str(primary.get("EXSEGNUM", 1) or 1))
    head = {k: v for k, v in primary.items() if k not in ("DATAMODL", "FILENAME", "DATE")}
    head.update(DATAMODL="TSOMultiSpecModel", FILENAME=path.name,
                DATE=datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3])
    extensions = []
    for i, spectrum in enumerate(spectra, start=1):
        table = spectrum.table(path.name)
        if table.dtype["WAVELENGTH"].shape == ():
            raise BadDataShapeError(f"{path.name}: an x1dints spectrum needs integrations × points columns")
        nints, npoints = len(table), table.dtype["WAVELENGTH"].shape[0]
        numbers = np.arange(first, first + nints, dtype=np.int32)
        dtype = [("INT_NUM", "i4"), *[(c, table.dtype[c].base, (npoints,)) for c, _, _ in SPEC_COLUMNS],
                 ("N_ALONGDISP", "u4"), ("SEGMENT", "i4"), *[(c, "f8") for c in TSO_TIME_COLUMNS]]
        rows = np.zeros(nints, dtype=dtype)
        rows["INT_NUM"], rows["N_ALONGDISP"] = numbers, npoints
        rows["SEGMENT"] = segment if segments is None else np.asarray(segments, dtype=np.int32)
        for column, _, _ in SPEC_COLUMNS:
            rows[column] = table[column]
        for column in TSO_TIME_COLUMNS:
            rows[column] = _times(int_times, numbers, _INT_TIMES[column], path)
        units = {**_UNITS, **dict.fromkeys(TSO_TIME_COLUMNS, "d")}
        extensions.append(Extension("EXTRACT1D", rows, header=dict(spectrum.meta), units=units, ver=i))
    if int_times is not None:
        extensions.append(Extension("INT_TIMES", int_times))
    return write_fits(path, primary=head, extensions=extensions)


def _times(int_times: np.ndarray | None, numbers: npt.NDArray[np.int32], column: str, path: Path) -> np.ndarray:
    """The INT_TIMES column for these integration numbers (NaN without a table)."""
    if int_times is None:
        return np.full(numbers.size, np.nan)
    by_number = dict(zip(np.asarray(int_times["integration_number"]).tolist(),
                         np.asarray(int_times[column], dtype=np.float64).tolist(), strict=True))
    missing = [int(n) for n in numbers if int(n) not in by_number]
    if missing:
        raise BadDataShapeError(f"{path.name}: INT_TIMES has no row for integration(s) {missing[:5]}")
    return np.array([by_number[int(n)] for n in numbers])


def _scaled_table(data: np.ndarray) -> np.ndarray:
    """A table's columns as their values (astropy applies TZERO per column, not to the raw record array: an
    unsigned DQ column reads back as stored otherwise)."""
    names = data.dtype.names or ()
    columns = [np.asarray(data[n]) for n in names]
    out = np.zeros(len(data), dtype=[(n, c.dtype.newbyteorder("="), c.shape[1:])
                                     for n, c in zip(names, columns, strict=True)])
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
