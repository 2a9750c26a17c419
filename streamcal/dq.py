"""JWST data-quality bits.

The values are those of stdatamodels ``jwst/datamodels/dqflags.py`` (``../shared/research/jwst_spec.md`` §3).
PIXELDQ and DQ are uint32; GROUPDQ is uint8, so only bits 0–7 apply to it.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable

import numpy as np

__all__ = ["GROUP_BITS", "Pixel", "dq_def_rows", "interpret_bit_flags"]


class Pixel(enum.IntFlag):
    """The JWST DQ bit table (``GOOD`` = 0)."""

    GOOD = 0
    DO_NOT_USE = 1 << 0
    SATURATED = 1 << 1
    JUMP_DET = 1 << 2
    DROPOUT = 1 << 3
    OUTLIER = 1 << 4
    PERSISTENCE = 1 << 5
    AD_FLOOR = 1 << 6
    CHARGELOSS = 1 << 7
    RESERVED = 1 << 8
    NON_SCIENCE = 1 << 9
    DEAD = 1 << 10
    HOT = 1 << 11
    WARM = 1 << 12
    LOW_QE = 1 << 13
    RC = 1 << 14
    TELEGRAPH = 1 << 15
    NONLINEAR = 1 << 16
    BAD_REF_PIXEL = 1 << 17
    NO_FLAT_FIELD = 1 << 18
    NO_GAIN_VALUE = 1 << 19
    NO_LIN_CORR = 1 << 20
    NO_SAT_CHECK = 1 << 21
    UNRELIABLE_BIAS = 1 << 22
    UNRELIABLE_DARK = 1 << 23
    UNRELIABLE_SLOPE = 1 << 24
    UNRELIABLE_FLAT = 1 << 25
    OPEN = 1 << 26
    ADJ_OPEN = 1 << 27
    FLUX_ESTIMATED = 1 << 28
    MSA_FAILED_OPEN = 1 << 29
    OTHER_BAD_PIXEL = 1 << 30
    REFERENCE_PIXEL = 1 << 31


#: The flags that fit in a uint8 GROUPDQ plane.
GROUP_BITS = Pixel(0xFF)

_DESCRIPTIONS = {
    "DO_NOT_USE": "Bad pixel. Do not use.",
    "SATURATED": "Pixel saturated during exposure",
    "JUMP_DET": "Jump detected during exposure",
    "DROPOUT": "Data lost in transmission",
    "OUTLIER": "Flagged by outlier detection",
    "PERSISTENCE": "High persistence",
    "AD_FLOOR": "Below A/D floor",
    "CHARGELOSS": "Charge migration",
    "RESERVED": "Unused",
    "NON_SCIENCE": "Pixel not on science portion of detector",
    "DEAD": "Dead pixel",
    "HOT": "Hot pixel",
    "WARM": "Warm pixel",
    "LOW_QE": "Low quantum efficiency",
    "RC": "RC pixel",
    "TELEGRAPH": "Telegraph pixel",
    "NONLINEAR": "Pixel highly nonlinear",
    "BAD_REF_PIXEL": "Reference pixel cannot be used",
    "NO_FLAT_FIELD": "Flat field cannot be measured",
    "NO_GAIN_VALUE": "Gain cannot be measured",
    "NO_LIN_CORR": "Linearity correction not available",
    "NO_SAT_CHECK": "Saturation check not available",
    "UNRELIABLE_BIAS": "Bias variance large",
    "UNRELIABLE_DARK": "Dark variance large",
    "UNRELIABLE_SLOPE": "Slope variance large (i.e., noisy pixel)",
    "UNRELIABLE_FLAT": "Flat variance large",
    "OPEN": "Open pixel (counts move to adjacent pixels)",
    "ADJ_OPEN": "Adjacent to open pixel",
    "FLUX_ESTIMATED": "Pixel flux estimated due to missing/bad data",
    "MSA_FAILED_OPEN": "Pixel sees light from failed-open shutter",
    "OTHER_BAD_PIXEL": "A catch-all flag",
    "REFERENCE_PIXEL": "Pixel is a reference pixel",
}


def dq_def_rows() -> list[tuple[int, int, str, str]]:
    """Rows (BIT, VALUE, NAME, DESCRIPTION) of a DQ_DEF table documenting every flag."""
    rows = []
    for flag in Pixel:
        if flag.value == 0 or flag.name is None:
            continue
        rows.append((flag.value.bit_length() - 1, int(flag.value), flag.name, _DESCRIPTIONS[flag.name]))
    return rows


def interpret_bit_flags(good_bits: str | int | Iterable[str] | None) -> int | None:
    """Turn a jwst-style ``good_bits`` value into the mask of *bad* bits.

    ``"~DO_NOT_USE+NON_SCIENCE"`` means those flags are bad; ``"DO_NOT_USE,SATURATED"`` means those are
    acceptable (everything else is bad); ``0`` means any set bit is bad; ``None`` disables DQ masking
    (returns ``None``). Raises ``ValueError`` (not retriable) naming an unknown flag.
    """
    if good_bits is None:
        return None
    if isinstance(good_bits, int | np.integer):
        return int(np.uint32(~np.uint32(int(good_bits))))
    if isinstance(good_bits, str):
        text = good_bits.strip()
        invert = text.startswith("~")
        names = [n.strip() for n in text.lstrip("~").replace(",", "+").split("+") if n.strip()]
    else:
        invert = False
        names = [str(n).strip() for n in good_bits]
    value = 0
    for name in names:
        if name.isdigit():
            value |= int(name)
            continue
        try:
            value |= int(Pixel[name.upper()])
        except KeyError:
            raise ValueError(f"unknown DQ flag name {name!r} in good_bits {good_bits!r}") from None
    return value if invert else int(np.uint32(~np.uint32(value)))
