"""calwebb_spec3's combined spectroscopic products as jwst writes them (``jwst_spec.md`` §2, issue 11):

- ``_s2d`` of one source (``SlitModel``, the ``slitdata`` schema): SCI, ERR, DQ, WAVELENGTH (2-D, µm), VAR_POISSON,
  VAR_RNOISE, VAR_FLAT and WHT images, BUNIT on SCI/ERR (MJy for a point source), the slit keywords (SLTNAME,
  SOURCEID, SRCTYPE, DISPAXIS) in the SCI header, and jwst's DQ_DEF table. The dispersion runs along the
  second axis (x) whatever the detector's DISPAXIS was, so DISPAXIS = 1.
- ``_c1d`` (``CombinedSpecModel``, the ``combinedspectable`` schema): one COMBINE1D table with WAVELENGTH,
  FLUX, ERROR, SURF_BRIGHT, SB_ERROR, DQ, WEIGHT, N_INPUT and SPORDER/DISPAXIS/SOURCEID/SRCTYPE in its header.

Written atomically (a temp file, then ``os.replace``).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import numpy.typing as npt

from streamcal.datamodels.fitsio import Extension, write_fits
from streamcal.datamodels.products import _dq_def, plane_unit
from streamcal.errors import BadDataShapeError

__all__ = ["C1D_COLUMNS", "write_c1d", "write_s2d"]

#: jwst's combinedspectable columns, in order, with dtype and unit.
C1D_COLUMNS: tuple[tuple[str, str, str], ...] = (
    ("WAVELENGTH", "f8", "um"), ("FLUX", "f8", "Jy"), ("ERROR", "f8", "Jy"), ("SURF_BRIGHT", "f8", "MJy/sr"),
    ("SB_ERROR", "f8", "MJy/sr"), ("DQ", "u4", ""), ("WEIGHT", "f8", ""), ("N_INPUT", "f8", ""),
)
_S2D_PLANES = ("SCI", "ERR", "DQ", "WAVELENGTH", "VAR_POISSON", "VAR_RNOISE", "VAR_FLAT", "WHT")


def _primary(primary: Mapping[str, object], datamodel: str, path: Path) -> dict[str, object]:
    head = {k: v for k, v in primary.items() if k not in ("DATAMODL", "FILENAME", "DATE")}
    head.update(DATAMODL=datamodel, FILENAME=path.name, DATE=datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3])
    return head


def write_s2d(path: str | os.PathLike[str], planes: Mapping[str, npt.ArrayLike], *, primary: Mapping[str, object],
              slit: Mapping[str, object], bunit: str = "MJy") -> Path:
    """Write a rectified 2-D spectrum as jwst's ``SlitModel``.

    Parameters
    ----------
    planes : mapping
        Every one of SCI, ERR, DQ, WAVELENGTH, VAR_POISSON, VAR_RNOISE, VAR_FLAT, WHT; 2-D, one shape.
    slit : mapping
        Keywords of the slit (SLTNAME, SOURCEID, SRCTYPE, ...), written to the SCI header.

    Raises
    ------
    BadDataShapeError
        A plane missing, not 2-D, or of another shape. Not retriable.
    """
    p = Path(path)
    missing = [n for n in _S2D_PLANES if n not in planes]
    arrays = {n: np.asarray(planes[n]) for n in _S2D_PLANES if n in planes}
    shapes = {a.shape for a in arrays.values()}
    if missing or len(shapes) != 1 or arrays["SCI"].ndim != 2:
        raise BadDataShapeError(f"{p.name}: an s2d needs 2-D {', '.join(_S2D_PLANES)} of one shape "
                                f"(missing {missing}, shapes {sorted(shapes)})")
    extensions = []
    for name in _S2D_PLANES:
        dtype = np.uint32 if name == "DQ" else np.float32
        unit = plane_unit(name, bunit)
        header: dict[str, object] = {} if unit is None else {"BUNIT": unit}
        if name == "SCI":
            header = {**slit, **header, "DISPAXIS": 1}
        extensions.append(Extension(name, arrays[name].astype(dtype), header or None))
    extensions.append(Extension("DQ_DEF", _dq_def()))
    return write_fits(p, primary=_primary(primary, "SlitModel", p), extensions=extensions)


def write_c1d(path: str | os.PathLike[str], columns: Mapping[str, npt.ArrayLike], *, primary: Mapping[str, object],
              meta: Mapping[str, object]) -> Path:
    """Write a combined spectrum as jwst's ``CombinedSpecModel`` (one COMBINE1D table).

    Raises
    ------
    BadDataShapeError
        A column missing or unknown, or columns of different lengths. Not retriable.
    """
    p = Path(path)
    names = [c for c, _, _ in C1D_COLUMNS]
    if set(columns) != set(names):
        raise BadDataShapeError(f"{p.name}: a c1d needs exactly the columns {names}, got {sorted(columns)}")
    values = {k: np.asarray(v) for k, v in columns.items()}
    shapes = {v.shape for v in values.values()}
    if len(shapes) != 1 or values["WAVELENGTH"].ndim != 1:
        raise BadDataShapeError(f"{p.name}: c1d columns must be 1-D of one length, got {sorted(shapes)}")
    table = np.zeros(values["WAVELENGTH"].size, dtype=[(c, t) for c, t, _ in C1D_COLUMNS])
    for name in names:
        table[name] = values[name]
    units = {c: u for c, _, u in C1D_COLUMNS if u}
    return write_fits(p, primary=_primary(primary, "CombinedSpecModel", p),
                      extensions=[Extension("COMBINE1D", table, header=dict(meta), units=units)])
