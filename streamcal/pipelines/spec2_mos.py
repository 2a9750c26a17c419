"""calwebb_spec2's MOS inputs and products (NRS_MSASPEC, issue 11).

- :func:`read_msa_configuration`: the MSA configuration of an exposure whose header names an MSA metadata file
  (MSAMETFL, a bare file name resolved next to the exposure and nowhere else; MSAMETID and PATT_NUM select its
  rows), read before the steps run (they do no I/O).
- :func:`write_mos_products`: the ``_cal`` as jwst's MultiSlitModel — per slit (EXTVER 1, 2, …) SCI, ERR, DQ,
  VAR_POISSON, VAR_RNOISE, VAR_FLAT and WAVELENGTH, the SCI header carrying SLTNAME, SLITID, SOURCEID, SRCTYPE,
  SHUTSTA, MSAQUAD, SLTSTRT1/2 and SLTSIZE1/2 (xstart/ystart, xsize/ysize) and the source's name, stellarity and
  position — and,
  when resample_spec ran, the ``_s2d`` (MultiSlitModel of the rectified slits, with WHT). The ``_x1d`` is
  written with the other modes' (:mod:`streamcal.pipelines.spec2`), one EXTRACT1D per source.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import numpy.typing as npt

from streamcal.datamodels import Extension, write_fits
from streamcal.datamodels.fitsio import check_complete, header_dict, open_fits, scaled
from streamcal.datamodels.products import _dq_def, plane_unit
from streamcal.errors import BadDataShapeError, BadKeywordValueError, MissingKeywordError
from streamcal.models.image import ImageData
from streamcal.models.msa import MsaConfiguration, msa_metadata_path, read_msa_metadata
from streamcal.pipelines.runner import PlanRun
from streamcal.steps.spec.mos import MultiSlit

__all__ = ["MultiSlitFile", "cal_primary", "cutout_planes", "read_msa_configuration", "read_multislit",
           "write_mos_products", "write_multislit"]

_PLANES = ("SCI", "ERR", "DQ", "VAR_POISSON", "VAR_RNOISE", "VAR_FLAT", "WAVELENGTH")


def _int(header: Mapping[str, object], key: str, source: Path) -> int:
    value = header.get(key)
    if value is None or str(value).strip() == "":
        raise MissingKeywordError(key, source.name, message=f"{source.name}: a MOS exposure needs {key} to select its "
                                  "MSA metadata rows")
    try:
        return int(str(value))
    except ValueError as exc:
        raise BadKeywordValueError(f"{source.name}: {key} = {value!r} is not an integer") from exc


def read_msa_configuration(header: Mapping[str, object], source: str | os.PathLike[str]) -> MsaConfiguration | None:
    """The MSA configuration of an exposure that names an MSA metadata file (None if its header names none).

    Raises
    ------
    BadKeywordValueError
        MSAMETFL is a path, not a bare file name, or MSAMETID/PATT_NUM not an integer. Not retriable.
    MissingKeywordError
        MSAMETID missing. Not retriable.
    InvalidInputError
        The file is not next to the exposure, or holds no open shutter for it. Not retriable.
    CorruptFileError
        The file lacks its tables or columns. Not retriable.
    """
    if not str(header.get("MSAMETFL", "") or "").strip():
        return None
    path = Path(source)
    metadata = msa_metadata_path(header, path)
    return read_msa_metadata(metadata, msa_metadata_id=_int(header, "MSAMETID", path),
                             dither_point=_int({"PATT_NUM": header.get("PATT_NUM", 1)}, "PATT_NUM", path))


def write_multislit(path: Path, slits: Sequence[tuple[Mapping[str, object], Mapping[str, npt.ArrayLike]]], *,
                    primary: Mapping[str, object], bunits: list[str]) -> Path:
    """Write slits (keywords, planes) as jwst's MultiSlitModel, atomically (EXTVER 1, 2, … per slit)."""
    head = {k: v for k, v in primary.items() if k not in ("DATAMODL", "FILENAME", "DATE")}
    head.update(DATAMODL="MultiSlitModel", FILENAME=path.name,
                DATE=datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3])
    extensions = []
    for ver, ((meta, planes), bunit) in enumerate(zip(slits, bunits, strict=True), start=1):
        for name, data in planes.items():
            unit = plane_unit(name, bunit)
            header: dict[str, object] = {} if unit is None else {"BUNIT": unit}
            if name == "SCI":
                header = {**meta, **header}
            dtype = np.uint32 if name == "DQ" else np.float32
            extensions.append(Extension(name, np.asarray(data).astype(dtype), header or None, ver=ver))
    extensions.append(Extension("DQ_DEF", _dq_def()))
    return write_fits(path, primary=head, extensions=extensions)


@dataclass(frozen=True, slots=True)
class MultiSlitFile:
    """A MultiSlitModel file read back: the primary header and, per slit (EXTVER order), its SCI header and its
    planes (SCI, ERR, DQ, VAR_POISSON, VAR_RNOISE, VAR_FLAT, WAVELENGTH and WHT where present; 2-D, one shape)."""

    primary: dict[str, object]
    slits: tuple[tuple[dict[str, object], dict[str, npt.NDArray[np.generic]]], ...]


def read_multislit(path: str | os.PathLike[str]) -> MultiSlitFile:
    """Read a MultiSlitModel ``_cal``/``_s2d`` (as :func:`write_multislit` writes it).

    Raises
    ------
    BadDataShapeError
        Not a MultiSlitModel (no SCI extension with an EXTVER, or DATAMODL another model), or a slit without
        SCI/ERR/DQ/VAR_POISSON/VAR_RNOISE/WAVELENGTH or with planes of different shapes. Not retriable.
    NotFitsError, CorruptFileError
        A broken file. Not retriable.
    """
    p = Path(path)
    by_ver: dict[int, dict[str, npt.NDArray[np.generic]]] = {}
    heads: dict[int, dict[str, object]] = {}
    with open_fits(p, scale=False) as hdul:
        primary = header_dict(hdul[0].header)
        for hdu in hdul[1:]:
            if hdu.name not in (*_PLANES, "WHT") or not hdu.is_image or hdu.data is None:
                continue
            check_complete(hdu, p)
            ver = int(hdu.ver or 1)
            by_ver.setdefault(ver, {})[hdu.name] = np.array(scaled(hdu))
            if hdu.name == "SCI":
                heads[ver] = header_dict(hdu.header)
    model = str(primary.get("DATAMODL", "MultiSlitModel") or "MultiSlitModel")
    if not heads or model != "MultiSlitModel":
        raise BadDataShapeError(f"{p.name}: not a MultiSlitModel (DATAMODL {model!r}, {len(heads)} SCI slit(s))")
    slits = []
    for ver in sorted(heads):
        planes = by_ver[ver]
        missing = [n for n in _PLANES if n not in planes and n != "VAR_FLAT"]
        if missing or len({a.shape for a in planes.values()}) != 1 or planes["SCI"].ndim != 2:
            raise BadDataShapeError(f"{p.name}: slit {ver} lacks {missing} or has planes of different shapes")
        slits.append((heads[ver], planes))
    return MultiSlitFile(primary, tuple(slits))


def cal_primary(image: ImageData, run: PlanRun) -> dict[str, object]:
    """The primary header of a cutout product (``_cal``/``_s2d`` of MOS, WFSS, lamps): the exposure's, with the
    provenance of the steps before extract_1d and the exposure's own subarray keywords (not a cutout's)."""
    primary = {**image.primary, **run.recorder.keywords(before="extract_1d")}
    for key in ("SUBSTRT1", "SUBSTRT2", "SUBSIZE1", "SUBSIZE2"):
        primary[key] = image.primary.get(key)
    return primary


def cutout_planes(image: ImageData, wavelength: npt.ArrayLike) -> dict[str, npt.ArrayLike]:
    """A cutout's planes as a MultiSlitModel slit holds them (VAR_FLAT zeros when the flat gave none)."""
    var_flat = image.var_flat if image.var_flat is not None else np.zeros_like(image.sci)
    return {"SCI": image.sci, "ERR": image.err, "DQ": image.dq, "VAR_POISSON": image.var_poisson,
            "VAR_RNOISE": image.var_rnoise, "VAR_FLAT": var_flat, "WAVELENGTH": wavelength}


def write_mos_products(run: PlanRun, out_dir: Path, root: str) -> list[Path]:
    """The ``_cal`` (and ``_s2d``) of a MOS run; nothing for other exposures."""
    multi = run.last(MultiSlit)
    if multi is None:
        return []
    primary = cal_primary(multi.image, run)
    slits = [(slit.meta(), cutout_planes(slit.image, slit.wavelength)) for slit in multi.slits]
    bunits = [str(s.image.sci_header.get("BUNIT", "DN/s")) for s in multi.slits]
    written = [write_multislit(out_dir / f"{root}_cal.fits", slits, primary=primary, bunits=bunits)]
    if multi.rectified:
        rect_slits = [(slit.meta(), planes) for slit, planes in zip(multi.slits, multi.rectified, strict=True)
                      if planes]
        rect_units = [str(s.image.sci_header.get("BUNIT", "DN/s")) for s, p in
                      zip(multi.slits, multi.rectified, strict=True) if p]
        s2d_primary = {**primary, **run.recorder.keywords(before="extract_1d")}
        written.append(write_multislit(out_dir / f"{root}_s2d.fits", rect_slits, primary=s2d_primary,
                                       bunits=rect_units))
    return written
