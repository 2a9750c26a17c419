"""Parse the seed ``pipeline_stages.rst`` (a flattened RST grid table) into plain tuples.

This is the test oracle: the routing tests compare ``route()`` with what this module reads from the seed,
never with our own YAML. The seed's grid tables have lost their layout; what remains is:

- row lines ``| FGS_SKYFLAT | N/A | :ref:`calwebb_detector1 ` | N/A | N/A |`` (five cells);
- continuation lines ``| | FGS_INTFLAT |`` adding an EXP_TYPE to the row above;
- a mode's second TSOVISIT row ``| True | :ref:... | ... | ... |`` (four cells, after a partial
  ``+----------+`` separator);
- stage cells as ``:ref:`alias ``` or, once (NIS_AMI's stage 3), a bare alias; ``N/A`` for none;
- stray ``+`` cells at the end of a row that continues, a border glued to the last row, and empty
  ``|`` lines.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import NamedTuple

SEED = Path(__file__).resolve().parents[2] / "data" / "seed" / "pipeline_stages.rst"

_STAGE = re.compile(r"^(?::ref:`)?\s*([A-Za-z0-9_-]+)\s*`?$")
_EXP_TYPE = re.compile(r"^(FGS|MIR|NRC|NIS|NRS)_[A-Z0-9-]+$")
_CLASS = re.compile(r"^`~?([\w.]+)`$")
_FILLER = re.compile(r"[+=-]*")  # empty cells, "+" and a border glued to the last row


class SeedRow(NamedTuple):
    """One (EXP_TYPE, TSOVISIT) line of the seed's routing table; None where the seed says N/A."""

    exp_type: str
    tsovisit: bool | None
    stage1: str
    stage2: str | None
    stage3: str | None


def _section(text: str, start: str, end: str | None) -> str:
    begin = text.index(start)
    return text[begin : text.index(end, begin) if end else len(text)]


def _cells(line: str) -> list[str]:
    """The stripped cells of a ``|`` line, without trailing empty or ``+`` cells."""
    cells = [cell.strip() for cell in line.split("|")[1:]]
    while cells and _FILLER.fullmatch(cells[-1]):
        cells.pop()
    return cells


def _stage(cell: str) -> str | None:
    if cell == "N/A":
        return None
    match = _STAGE.match(cell)
    if match is None:
        raise ValueError(f"cannot read a pipeline alias from {cell!r}")
    return match.group(1)


def _tsovisit(cell: str) -> bool | None:
    return {"N/A": None, "True": True, "False": False}[cell]


def parse_routing(text: str) -> list[SeedRow]:
    """Return every (EXP_TYPE, TSOVISIT) row of the "Pipelines vs. Exposure Type" table, in seed order."""
    section = _section(text, "Pipelines vs. Exposure Type", "Wavefront Sensing and Control Images")
    groups: list[tuple[list[str], list[tuple[bool | None, list[str]]]]] = []
    for line in section.splitlines():
        cells = _cells(line) if line.startswith("|") else []
        if len(cells) == 5 and _EXP_TYPE.match(cells[0]):
            groups.append(([cells[0]], [(_tsovisit(cells[1]), cells[2:])]))
        elif len(cells) == 4 and cells[0] in ("True", "False"):
            groups[-1][1].append((_tsovisit(cells[0]), cells[1:]))
        elif len(cells) == 2 and cells[0] == "" and _EXP_TYPE.match(cells[1]):
            groups[-1][0].append(cells[1])
        elif any(cells) and cells[0] != "EXP_TYPE":
            raise ValueError(f"unexpected line in the seed routing table: {line!r}")
    rows = []
    for exp_types, entries in groups:
        for exp_type in exp_types:
            for tsovisit, stages in entries:
                stage1 = _stage(stages[0])
                if stage1 is None:
                    raise ValueError(f"{exp_type} has no stage 1")
                rows.append(SeedRow(exp_type, tsovisit, stage1, _stage(stages[1]), _stage(stages[2])))
    return rows


def parse_pipeline_classes(text: str) -> list[tuple[str, str, str]]:
    """Return (class, alias, used_for) rows of the first table ("Pipeline Class | Alias | Used For")."""
    section = _section(text, "| Pipeline Class | Alias |", "Pipelines vs. Exposure Type")
    rows = []
    for line in section.splitlines():
        cells = _cells(line) if line.startswith("|") else []
        if len(cells) == 3 and (klass := _CLASS.match(cells[0])):
            rows.append((klass.group(1), cells[1], cells[2]))
    return rows


def parse_deprecated_cfgs(text: str) -> list[tuple[str, str, str]]:
    """Return (cfg, class, alias) rows of the "Deprecated CFG" table."""
    section = _section(text, "| Deprecated CFG |", "The deprecated configuration to mode mapping")
    rows = []
    for line in section.splitlines():
        cells = _cells(line) if line.startswith("|") else []
        if len(cells) == 3 and cells[0].endswith(".cfg"):
            klass = _CLASS.match(cells[1])
            alias = _stage(cells[2])
            if klass is None or alias is None:
                raise ValueError(f"unexpected deprecated-cfg row {line!r}")
            rows.append((cells[0], klass.group(1), alias))
    return rows


def parse_cfg_modes(text: str) -> list[tuple[str, str, str]]:
    """Return (class, cfg, used_for) rows of the historical "Configuration File" table.

    Continuation rows (``| calwebb_tso1.cfg | Stage 1: all TSO modes |``) belong to the class above.
    """
    section = _section(text, "| Pipeline Class | Configuration File |", None)
    rows: list[tuple[str, str, str]] = []
    for line in section.splitlines():
        cells = _cells(line) if line.startswith("|") else []
        if len(cells) == 3 and (klass := _CLASS.match(cells[0])):
            rows.append((klass.group(1), cells[1], cells[2]))
        elif len(cells) == 2 and cells[0].endswith(".cfg"):
            rows.append((rows[-1][0], cells[0], cells[1]))
    return rows


def load_seed() -> str:
    """The seed text."""
    return SEED.read_text(encoding="utf-8")
