"""Every name a routing module lists in ``__all__`` exists, and the package re-exports the public API."""

from __future__ import annotations

import importlib

import pytest

MODULES = [
    "streamcal.routing",
    "streamcal.routing.exptypes",
    "streamcal.routing.pars",
    "streamcal.routing.registry",
    "streamcal.routing.route",
    "streamcal.routing.table",
    "streamcal.routing.spec",
]


@pytest.mark.parametrize("name", MODULES)
def test_all_names_import(name: str) -> None:
    module = importlib.import_module(name)
    assert module.__all__, name
    assert len(set(module.__all__)) == len(module.__all__)
    for attr in module.__all__:
        assert getattr(module, attr) is not None, f"{name}.{attr}"


def test_package_reexports_every_public_module_name() -> None:
    package = importlib.import_module("streamcal.routing")
    for name in MODULES[1:]:
        module = importlib.import_module(name)
        missing = set(module.__all__) - set(package.__all__)
        assert not missing, f"{name}: {missing}"
