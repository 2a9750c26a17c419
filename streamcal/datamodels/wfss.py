"""WFSS spectra as jwst 3.0 writes them (issue 11): every source of an exposure in one table.

- ``_x1d`` (``WFSSMultiSpecModel``, the ``wfss_spectable`` schema): one EXTRACT1D table per exposure (EXTVER 1, 2,
  …; keywords FILENAME, EXPGRPID, DISPAXIS, SPORDER, EFFEXPTM, EFFINTTM), one row per source, sorted by SOURCE_ID:
  jwst's spectral columns as vectors padded with NaN to the exposure's longest spectrum (DQ padded with 1),
  N_ALONGDISP (the source's own length), SOURCE_TYPE, SOURCE_XPOS/YPOS, SOURCE_RA/DEC and EXTRACT2D_X/YSTART,
  X/YSTOP. calwebb_spec2 writes one exposure's; calwebb_spec3 every member's.
- ``_c1d`` (``WFSSMultiCombinedSpecModel``): one COMBINE1D table per spectral order (keywords SPORDER, DISPAXIS),
  a row per source: SOURCE_ID, WAVELENGTH, FLUX, ERROR, SURF_BRIGHT, SB_ERROR, DQ, WEIGHT, N_INPUT as vectors,
  N_ALONGDISP, SOURCE_TYPE, SOURCE_RA/DEC.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import numpy.typing as npt

from streamcal.datamodels.fitsio import Extension, write_fits
from streamcal.datamodels.spectra import SPEC_COLUMNS, Spectrum1D
from streamcal.errors import BadDataShapeError

__all__ = ["C1D_WFSS_COLUMNS", "write_wfss_c1d", "write_wfss_x1d"]

_UNITS = {column: unit for column, _, unit in SPEC_COLUMNS if unit}
_META = (("SOURCE_TYPE", "S20"), ("SOURCE_XPOS", "f8"), ("SOURCE_YPOS", "f8"), ("SOURCE_RA", "f8"),
         ("SOURCE_DEC", "f8"), ("EXTRACT2D_XSTART", "u4"), ("EXTRACT2D_YSTART", "u4"), ("EXTRACT2D_XSTOP", "u4"),
         ("EXTRACT2D_YSTOP", "u4"))
_META_UNITS = {"SOURCE_XPOS": "pix", "SOURCE_YPOS": "pix", "SOURCE_RA": "deg", "SOURCE_DEC": "deg",
               "EXTRACT2D_XSTART": "pix", "EXTRACT2D_YSTART": "pix", "EXTRACT2D_XSTOP": "pix",
               "EXTRACT2D_YSTOP": "pix"}
#: The COMBINE1D vector columns of a WFSS c1d, with dtype and unit.
C1D_WFSS_COLUMNS = (("WAVELENGTH", "f8", "um"), ("FLUX", "f8", "Jy"), ("ERROR", "f8", "Jy"),
                    ("SURF_BRIGHT", "f8", "MJy/sr"), ("SB_ERROR", "f8", "MJy/sr"), ("DQ", "u4", ""),
                    ("WEIGHT", "f8", ""), ("N_INPUT", "f8", ""))


def _primary(primary: Mapping[str, object], datamodel: str, path: Path) -> dict[str, object]:
    head = {k: v for k, v in primary.items() if k not in ("DATAMODL", "FILENAME", "DATE")}
    head.update(DATAMODL=datamodel, FILENAME=path.name, DATE=datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3])
    return head


def _padded(values: npt.ArrayLike, n: int, fill: float | int) -> npt.NDArray[np.generic]:
    arr = np.asarray(values)
    out = np.full(n, fill, dtype=arr.dtype)
    out[:arr.size] = arr
    return out


def _exposure_table(spectra: Sequence[Spectrum1D], name: str) -> np.ndarray:
    tables = [s.table(name) for s in spectra]
    n = max(len(t) for t in tables)
    dtype = [("SOURCE_ID", "i4"), *[(c, t, (n,)) for c, t, _ in SPEC_COLUMNS], ("N_ALONGDISP", "u4"), *_META]
    order = sorted(range(len(spectra)), key=lambda i: int(str(spectra[i].meta.get("SOURCEID", 0))))
    rows = np.zeros(len(spectra), dtype=dtype)
    for row, i in enumerate(order):
        table, meta = tables[i], spectra[i].meta
        rows[row]["SOURCE_ID"] = int(str(meta.get("SOURCEID", 0)))
        for column, _, _ in SPEC_COLUMNS:
            fill = 1 if column == "DQ" else (0 if column == "NPIXELS" else np.nan)
            rows[row][column] = _padded(table[column], n, fill)
        nx, ny = int(str(meta.get("SLTSIZE1", 0))), int(str(meta.get("SLTSIZE2", 0)))
        x0, y0 = int(str(meta.get("SLTSTRT1", 1))), int(str(meta.get("SLTSTRT2", 1)))
        rows[row]["N_ALONGDISP"] = len(table)
        rows[row]["SOURCE_TYPE"] = str(meta.get("SRCTYPE", "POINT")).encode()
        rows[row]["SOURCE_XPOS"], rows[row]["SOURCE_YPOS"] = meta.get("SRCXPOS", np.nan), meta.get("SRCYPOS", np.nan)
        rows[row]["SOURCE_RA"], rows[row]["SOURCE_DEC"] = meta.get("SRCRA", np.nan), meta.get("SRCDEC", np.nan)
        rows[row]["EXTRACT2D_XSTART"], rows[row]["EXTRACT2D_YSTART"] = x0, y0
        rows[row]["EXTRACT2D_XSTOP"], rows[row]["EXTRACT2D_YSTOP"] = x0 + nx - 1, y0 + ny - 1
    return rows


def write_wfss_x1d(path: str | os.PathLike[str], exposures: Sequence[tuple[Mapping[str, object],
                                                                          Sequence[Spectrum1D]]], *,
                   primary: Mapping[str, object]) -> Path:
    """Write WFSS spectra as jwst's ``WFSSMultiSpecModel``, atomically: ``exposures`` are (EXTRACT1D keywords —
    FILENAME, EXPGRPID, DISPAXIS, SPORDER, EFFEXPTM, EFFINTTM —, that exposure's spectra, one per source).

    Raises
    ------
    BadDataShapeError
        No exposure, an exposure without spectra, or a malformed spectrum. Not retriable.
    """
    p = Path(path)
    if not exposures or not all(spectra for _, spectra in exposures):
        raise BadDataShapeError(f"{p.name}: a WFSS x1d needs at least one spectrum per exposure")
    extensions = [Extension("EXTRACT1D", _exposure_table(list(spectra), p.name), header=dict(meta),
                            units={**_UNITS, **_META_UNITS}, ver=i)
                  for i, (meta, spectra) in enumerate(exposures, start=1)]
    return write_fits(p, primary=_primary(primary, "WFSSMultiSpecModel", p), extensions=extensions)


def write_wfss_c1d(path: str | os.PathLike[str], orders: Mapping[int, Sequence[tuple[Mapping[str, object],
                                                                                    Mapping[str, npt.ArrayLike]]]],
                   *, primary: Mapping[str, object], dispaxis: int) -> Path:
    """Write combined WFSS spectra as jwst's ``WFSSMultiCombinedSpecModel``, atomically: per spectral order, a
    list of (source keywords — SOURCEID, SRCTYPE, SRCRA, SRCDEC —, COMBINE1D columns of
    :data:`C1D_WFSS_COLUMNS`).

    Raises
    ------
    BadDataShapeError
        No source, or columns missing or of different lengths. Not retriable.
    """
    p = Path(path)
    if not orders or not all(orders.values()):
        raise BadDataShapeError(f"{p.name}: a WFSS c1d needs at least one combined spectrum")
    extensions: list[Extension] = []
    for order, sources in sorted(orders.items()):
        n = max(np.asarray(cols["WAVELENGTH"]).size for _, cols in sources)
        dtype = [("SOURCE_ID", "i4"), *[(c, t, (n,)) for c, t, _ in C1D_WFSS_COLUMNS], ("N_ALONGDISP", "u4"),
                 ("SOURCE_TYPE", "S20"), ("SOURCE_RA", "f8"), ("SOURCE_DEC", "f8")]
        rows = np.zeros(len(sources), dtype=dtype)
        for row, (meta, cols) in enumerate(sorted(sources, key=lambda s: int(str(s[0].get("SOURCEID", 0))))):
            missing = [c for c, _, _ in C1D_WFSS_COLUMNS if c not in cols]
            if missing:
                raise BadDataShapeError(f"{p.name}: combined columns missing: {missing}")
            rows[row]["SOURCE_ID"] = int(str(meta.get("SOURCEID", 0)))
            for column, _, _ in C1D_WFSS_COLUMNS:
                rows[row][column] = _padded(cols[column], n, 1 if column == "DQ" else np.nan)
            rows[row]["N_ALONGDISP"] = np.asarray(cols["WAVELENGTH"]).size
            rows[row]["SOURCE_TYPE"] = str(meta.get("SRCTYPE", "POINT")).encode()
            rows[row]["SOURCE_RA"], rows[row]["SOURCE_DEC"] = meta.get("SRCRA", np.nan), meta.get("SRCDEC", np.nan)
        units = {c: u for c, _, u in C1D_WFSS_COLUMNS if u} | {"SOURCE_RA": "deg", "SOURCE_DEC": "deg"}
        extensions.append(Extension("COMBINE1D", rows, header={"SPORDER": order, "DISPAXIS": dispaxis}, units=units,
                                    ver=len(extensions) + 1))
    return write_fits(p, primary=_primary(primary, "WFSSMultiCombinedSpecModel", p), extensions=extensions)
