"""NIRSpec internal lamp exposures (NRS_LAMP, NRS_AUTOWAVE, NRS_AUTOFLAT): which lamp, which aperture plane, and
the fixed slits a fixed-slit lamp lights (issue 11).

jwst 3.0 decides a lamp exposure's processing from two keywords (``jwst/lib/exposure_types.py``):

- ``LAMP`` (``meta.instrument.lamp_state``): ``LIN…``/``REF`` is a line lamp, ``FLAT…`` a continuum lamp
  (:func:`lamp_kind`);
- ``OPMODE`` (``meta.instrument.lamp_mode``): the aperture the lamp lights — ``FIXEDSLIT``/``BRIGHTOBJ`` (the fixed
  slits), ``MSASPEC`` (the MSA shutters that the MSA metadata file opens), ``IFU``, or ``GRATING-ONLY``/``IMAGE``
  for which assign_wcs has no spectral WCS (``assign_wcs/nirspec.py:nrs_lamp`` → ``not_implemented_mode``).
  NRS_AUTOFLAT always uses the MSA (``get_open_slits``).

**The lamp SPECWCS reference** (selected on INSTRUME, DETECTOR, EXP_TYPE, GRATING; ``SUBARRAY='FULL'``) holds, for
a grating on a detector, the fixed slits in an ``FSSLITS`` table (one row per slit) and the MSA geometry in an
``MSAQUADS`` table (:mod:`streamcal.models.msa`), since the lamp light stops at the MSA plane (jwst's lamp WCS
ends in the ``msa_frame``: no sky coordinates). A fixed slit's centre line is a
:class:`~streamcal.models.spectral.SpectralLayout` (full-frame, 0-based); the slit spans ``HALF_LENGTH`` px either
side of it across the dispersion and the lamp fills it uniformly (no line tilt, so every pixel of a dispersion
column has its wavelength):

=================== ============== ==========================================================================
column              type           meaning
=================== ============== ==========================================================================
SLTNAME             str            the fixed slit (S200A1, S1600A1, …)
DISPAXIS            int16          1: dispersion along x
WAVELENGTH_COEFFS   float64 (4,)   λ(d) in µm, power series in d, zero-padded
TRACE_COEFFS        float64 (4,)   the slit centre c(d), full-frame 0-based, zero-padded
HALF_LENGTH         float64        half the slit's length across the dispersion, px
D_FIRST, D_LAST     int32          first and last (inclusive) lit dispersion pixel
=================== ============== ==========================================================================
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np

from streamcal.errors import BadKeywordValueError, CorruptFileError, MissingKeywordError
from streamcal.models.spectral import MAX_COEFFS, SpectralLayout

__all__ = ["FSSLITS_DTYPE", "LAMP_EXP_TYPES", "SLIT_OPMODES", "FixedSlit", "fixed_slits_from_table", "fsslits_table",
           "lamp_kind", "lamp_opmode"]

#: The EXP_TYPEs of NIRSpec's internal lamps.
LAMP_EXP_TYPES = frozenset({"NRS_LAMP", "NRS_AUTOWAVE", "NRS_AUTOFLAT"})
#: The OPMODEs whose lamp light falls through slits streamcal calibrates (jwst: also IFU, through the slicer).
SLIT_OPMODES = frozenset({"FIXEDSLIT", "BRIGHTOBJ", "MSASPEC"})

FSSLITS_DTYPE = np.dtype([
    ("SLTNAME", "S12"), ("DISPAXIS", ">i2"), ("WAVELENGTH_COEFFS", ">f8", (MAX_COEFFS,)),
    ("TRACE_COEFFS", ">f8", (MAX_COEFFS,)), ("HALF_LENGTH", ">f8"), ("D_FIRST", ">i4"), ("D_LAST", ">i4"),
])


@dataclass(frozen=True, slots=True)
class FixedSlit:
    """A fixed slit on the detector: its name, centre line (``layout``; σ unused: the lamp fills the slit) and
    half-length across the dispersion (px)."""

    name: str
    layout: SpectralLayout
    half_length: float


def _text(value: object) -> str:
    return (value.decode() if isinstance(value, bytes) else str(value)).strip()


def lamp_kind(header: Mapping[str, object], source: str = "exposure") -> Literal["line", "flat"]:
    """``"line"`` for a LIN…/REF lamp, ``"flat"`` for a FLAT… lamp (jwst's ``is_nrs_linelamp``/``is_nrs_flatlamp``).

    Raises
    ------
    MissingKeywordError
        No LAMP. Not retriable.
    BadKeywordValueError
        A LAMP that is neither (OFF, NONE, TEST, …): nothing to calibrate. Not retriable.
    """
    lamp = _text(header.get("LAMP", "") or "").upper()
    if not lamp:
        raise MissingKeywordError("LAMP", source, message=f"{source}: a NIRSpec lamp exposure needs LAMP")
    if lamp[:3] in ("LIN", "REF"):
        return "line"
    if lamp.startswith("FLAT"):
        return "flat"
    raise BadKeywordValueError(f"{source}: LAMP = {lamp!r} is neither a line lamp (LINE1-4, REF) nor a flat lamp "
                               "(FLAT1-5); jwst calibrates neither")


def lamp_opmode(header: Mapping[str, object], source: str = "exposure") -> str:
    """The aperture plane a lamp exposure lights: OPMODE, or MSASPEC for NRS_AUTOFLAT (jwst's assign_wcs opens
    the MSA metadata file's shutters for every NRS_AUTOFLAT).

    Raises
    ------
    BadKeywordValueError
        An OPMODE streamcal does not calibrate: IFU (jwst builds the slicer WCS and a cube; not implemented
        here), GRATING-ONLY, IMAGE, NONE (jwst has no spectral WCS for them: ``not_implemented_mode``). The
        message names it. Not retriable.
    """
    exp_type = _text(header.get("EXP_TYPE", "")).upper()
    if exp_type == "NRS_AUTOFLAT":
        return "MSASPEC"
    opmode = _text(header.get("OPMODE", "") or "NONE").upper()
    if opmode not in SLIT_OPMODES:
        why = ("streamcal does not calibrate IFU lamp exposures (jwst: the slicer WCS and cube_build)"
               if opmode == "IFU" else "jwst has no spectral WCS for it either (assign_wcs: not_implemented_mode)")
        raise BadKeywordValueError(f"{source}: {exp_type} with OPMODE = {opmode!r} is not supported: {why}; "
                                   f"supported: {sorted(SLIT_OPMODES)}")
    return opmode


def fsslits_table(slits: Sequence[FixedSlit]) -> np.ndarray:
    """The FSSLITS table of fixed slits (columns in the module docstring)."""
    rows = np.zeros(len(slits), FSSLITS_DTYPE)
    for row, slit in zip(rows, slits, strict=True):
        lay = slit.layout
        row["SLTNAME"], row["DISPAXIS"], row["HALF_LENGTH"] = slit.name.encode(), lay.dispaxis, slit.half_length
        row["WAVELENGTH_COEFFS"][:len(lay.wavelength_coeffs)] = lay.wavelength_coeffs
        row["TRACE_COEFFS"][:len(lay.trace_coeffs)] = lay.trace_coeffs
        row["D_FIRST"], row["D_LAST"] = lay.d_range[0], lay.d_range[1] - 1
    return rows


def fixed_slits_from_table(table: np.ndarray, *, source: str = "FSSLITS") -> tuple[FixedSlit, ...]:
    """The fixed slits of an FSSLITS table.

    Raises
    ------
    CorruptFileError
        No rows, a column missing, or values that make no slit; names ``source``. Not retriable.
    """
    names = {n.upper(): n for n in (table.dtype.names or ())}
    missing = [n for n in FSSLITS_DTYPE.names or () if n not in names]
    if missing or len(table) == 0:
        raise CorruptFileError(f"{source}: an FSSLITS table needs rows with columns {FSSLITS_DTYPE.names}; it has "
                               f"{len(table)} row(s), missing {missing}")
    slits = []
    try:
        for row in table:
            half = float(row[names["HALF_LENGTH"]])
            if not half > 0:
                raise ValueError(f"HALF_LENGTH {half} must be positive")
            layout = SpectralLayout(dispaxis=int(row[names["DISPAXIS"]]),
                                    wavelength_coeffs=tuple(row[names["WAVELENGTH_COEFFS"]]),
                                    trace_coeffs=tuple(row[names["TRACE_COEFFS"]]), sigma_px=1.0,
                                    d_range=(int(row[names["D_FIRST"]]), int(row[names["D_LAST"]]) + 1))
            slits.append(FixedSlit(_text(row[names["SLTNAME"]]), layout, half))
    except ValueError as exc:
        raise CorruptFileError(f"{source}: {exc}") from exc
    return tuple(slits)
