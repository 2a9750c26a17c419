"""The README's commands, run top to bottom in a fresh folder, all work as written (issue 16, "Done when").

The test reads README.md: the ``sh`` block under "## Commands" is run line by line, exactly as written, in a
temporary folder where ``.venv`` is this checkout's virtual environment (so ``S=.venv/bin/streamcal`` resolves as
on a fresh clone after ``make``). Each command must exit 0. Not run here, with the reason:

- ``make demo`` and ``make test`` (the block under the title): they create ``.venv`` and install; CI runs them.
- Kafka mode (``--bus kafka://HOST:PORT``, ``streamcal serve ...``, in the prose after the block): they need a
  broker; ``tests/integration/test_kafka.py`` runs them against the bundled Kafka-protocol broker.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
VENV = Path(sys.executable).parent.parent

pytestmark = pytest.mark.slow  # the demo program through every stage by hand and through `run`: about a minute


def sh_blocks(markdown: str) -> list[tuple[str, str]]:
    """Every ```sh block as (the heading above it, its text)."""
    blocks, heading = [], ""
    for part in re.split(r"(^```sh\n.*?^```$)", markdown, flags=re.M | re.S):
        if part.startswith("```sh"):
            blocks.append((heading, part.removeprefix("```sh\n").removesuffix("```")))
        else:
            headings = re.findall(r"^#+ (.+)$", part, flags=re.M)
            heading = headings[-1] if headings else heading
    return blocks


def commands(block: str) -> list[str]:
    """The commands of a block: comments (a ``#`` after two spaces, and comment-only lines) dropped."""
    out = []
    for line in block.splitlines():
        command = re.split(r"\s{2,}#|^\s*#", line, maxsplit=1)[0].strip()
        if command:
            out.append(command)
    return out


def test_the_readme_names_only_make_targets_before_its_commands_section():
    """The first block is `make demo` / `make test` (run by CI, skipped by the walk below)."""
    (heading, first), *_ = sh_blocks((ROOT / "README.md").read_text())
    assert [c.split()[:2] for c in commands(first)] == [["make", "demo"], ["make", "test"]], heading


def test_the_readme_commands_work_as_written(tmp_path):
    blocks = dict(sh_blocks((ROOT / "README.md").read_text()))
    lines = commands(blocks["Commands"])
    assert lines[0].startswith("S=") and all(line.startswith("$S ") for line in lines[1:]), lines
    (tmp_path / ".venv").symlink_to(VENV)
    env = {k: v for k, v in os.environ.items() if not k.startswith("STREAMCAL_")}
    for line in lines[1:]:
        result = subprocess.run(["bash", "-c", f"{lines[0]}\n{line}"], cwd=tmp_path, capture_output=True, text=True,
                                env=env, timeout=300)
        assert result.returncode == 0, f"{line}\n--- stdout\n{result.stdout[-3000:]}\n--- stderr\n{result.stderr}"
    assert list((tmp_path / "data" / "products").glob("*_image3_asn.json"))
    assert list((tmp_path / "data" / "products").glob("*-o001_*_i2d.fits"))
