"""An association pool for simulated exposures, as the observatory writes one for a program.

In operations the pool (one row per exposure, its header keywords and the association candidates APT
defined) feeds jwst's association generator upstream. :func:`write_pool` writes one for raw files, so the
upstream path (a ``*_pool.csv`` dropped in the ingest folder) can be exercised without the observatory:
each exposure is in its observation's candidate ``o<OBSERVTN>``, plus whatever cross-observation candidates
(``c####``: coronagraphy, mosaic, ...) the caller assigns to its observation.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path

from streamcal.datamodels import read_header

__all__ = ["POOL_COLUMNS", "pool_text", "write_pool"]

POOL_COLUMNS = ("filename", "program", "obs_num", "obs_id", "visit", "visitgrp", "visitype", "seq_id", "act_id",
                "exposure", "exp_type", "instrume", "detector", "channel", "targetid", "targprop", "pntgtype",
                "filter", "pupil", "grating", "fxd_slit", "subarray", "patttype", "numdthpt", "patt_num",
                "is_psf", "is_imprt", "bkgdtarg", "tsovisit", "nints", "msametfl", "exposerr", "dms_note",
                "asn_candidate")


def _cell(value: object) -> str:
    if value is None or value == "":
        return "NULL"
    if isinstance(value, bool):
        return "T" if value else "F"
    text = str(value).strip()
    if "|" in text or "\n" in text:
        raise ValueError(f"{text!r} cannot be written into a '|'-separated pool")
    return text


def pool_text(raw_files: Sequence[str | os.PathLike[str]], *,
              candidates: Mapping[int, Sequence[tuple[str, str]]] | None = None) -> str:
    """The pool of a set of raw files (their primary headers), in the given order.

    Parameters
    ----------
    raw_files : sequence of path-like
        ``*_uncal.fits`` files.
    candidates : mapping of int to sequence of (id, type), optional
        Cross-observation candidates per observation number, e.g. ``{3: [("c1000", "coronagraphy")],
        10: [("c1000", "coronagraphy")]}``; every exposure also gets ``(o<obs>, observation)``.
    """
    lines = ["|".join(c.upper() for c in POOL_COLUMNS)]
    for raw in raw_files:
        path = Path(raw)
        header = read_header(path)
        observation = int(str(header.get("OBSERVTN", "0")))
        listed = [(f"o{observation:03d}", "observation"), *(candidates or {}).get(observation, ())]
        values = {k.lower(): v for k, v in header.items()}
        values.update(filename=path.name, obs_num=observation,
                      asn_candidate="[" + ", ".join(f"({cid!r}, {ctype!r})" for cid, ctype in listed) + "]")
        lines.append("|".join(_cell(values.get(c)) for c in POOL_COLUMNS))
    return "\n".join(lines) + "\n"


def write_pool(path: str | os.PathLike[str], raw_files: Sequence[str | os.PathLike[str]], *,
               candidates: Mapping[int, Sequence[tuple[str, str]]] | None = None) -> Path:
    """Write :func:`pool_text` to ``path`` (name it ``jw<ppppp>_<yyyymmddthhmmss>_pool.csv`` as the
    observatory does). Returns the path."""
    out = Path(path)
    out.write_text(pool_text(raw_files, candidates=candidates), encoding="utf-8")
    return out
