"""Every public module lists its API in __all__, and every listed name exists (STYLE.md)."""

from __future__ import annotations

import importlib
import pkgutil

import pytest

import services
import streamcal


def _modules():
    for package in (streamcal, services):
        yield package.__name__
        for info in pkgutil.walk_packages(package.__path__, prefix=package.__name__ + "."):
            if not info.name.rsplit(".", 1)[-1].startswith("_"):
                yield info.name


@pytest.mark.parametrize("name", sorted(_modules()))
def test_all_names_import(name):
    module = importlib.import_module(name)
    if name in ("streamcal", "services"):
        return
    assert hasattr(module, "__all__"), f"{name} has no __all__"
    for attr in module.__all__:
        assert hasattr(module, attr), f"{name}.__all__ lists {attr} but the module has no such name"


def test_the_core_never_imports_the_services():
    """Imports point one way: importing every streamcal module pulls in no services/asyncio/kafka code."""
    import subprocess
    import sys

    code = (
        "import sys, importlib, pkgutil, streamcal\n"
        "for i in pkgutil.walk_packages(streamcal.__path__, 'streamcal.'): importlib.import_module(i.name)\n"
        "bad = [m for m in sys.modules if m.split('.')[0] in ('services', 'aiokafka', 'prometheus_client')]\n"
        "print(','.join(bad))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == ""
