"""The route is decided once and products are named by the pipelines (issue 9), checked on the source:

- only the router's library (``streamcal.routing``), the ``streamcal calibrate`` entry point and the ``streamcal
  route`` command route an exposure or load the routing table; pipelines, steps, workers, the tracker and the
  watcher run from the run specification they are given or that products record;
- the services name no product suffix: they ask the pipelines (``Pipeline.outputs``).
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
ROUTING = {"route", "load_routing_table", "decide_spec", "select_pars", "stage_spec"}
#: Where deciding a route is allowed: the routing package itself, `streamcal calibrate` (by hand, as the router
#: does), the service assembly that loads the configuration at startup, and `streamcal route`.
ALLOWED = {"streamcal/routing", "streamcal/calibrate.py", "services/app.py", "services/cli.py", "services/router.py"}


def _sources(*folders: str) -> list[Path]:
    return sorted(p for folder in folders for p in (ROOT / folder).rglob("*.py"))


def _calls(path: Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Call):
            func = node.func
            names.add(func.id if isinstance(func, ast.Name) else func.attr if isinstance(func, ast.Attribute) else "")
    return names


@pytest.mark.parametrize("path", _sources("streamcal", "services"), ids=lambda p: str(p.relative_to(ROOT)))
def test_only_the_router_calibrate_and_route_commands_decide_routes(path):
    relative = str(path.relative_to(ROOT))
    if any(relative == a or relative.startswith(a + "/") for a in ALLOWED):
        return
    assert not _calls(path) & ROUTING, f"{relative} routes an exposure: {_calls(path) & ROUTING}"


@pytest.mark.parametrize("path", _sources("services"), ids=lambda p: str(p.relative_to(ROOT)))
def test_services_name_no_product_suffix(path):
    text = path.read_text()
    # raw files and ASN files are what lands in the ingest folder; every product name comes from a pipeline
    found = re.findall(r"_(?:rate|rateints|cal|calints|dark|ramp|i2d|crf|cat|segm|wfscmb|bsub)\.(?:fits|ecsv)", text)
    assert not found, f"{path.name} names products itself: {found}"
