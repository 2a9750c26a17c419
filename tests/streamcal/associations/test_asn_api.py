"""Every name an associations module lists in ``__all__`` exists and is re-exported by the package."""

from __future__ import annotations

import importlib

import pytest

MODULES = ["streamcal.associations", "streamcal.associations.model", "streamcal.associations.rules",
           "streamcal.associations.pool", "streamcal.associations.generator", "streamcal.associations.ledger",
           "streamcal.associations.jwst_rules"]


@pytest.mark.parametrize("name", MODULES)
def test_all_names_import(name: str) -> None:
    module = importlib.import_module(name)
    assert module.__all__, name
    assert len(set(module.__all__)) == len(module.__all__)
    for attr in module.__all__:
        assert getattr(module, attr) is not None, f"{name}.{attr}"


def test_package_reexports_every_public_module_name() -> None:
    package = importlib.import_module("streamcal.associations")
    for name in MODULES[1:]:
        missing = set(importlib.import_module(name).__all__) - set(package.__all__)
        assert not missing, f"{name}: {missing}"
