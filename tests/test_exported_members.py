"""Each package's public surface is its curated ``__all__``: everything listed exists, nothing else leaks."""

from __future__ import annotations

import importlib

import pytest


@pytest.mark.parametrize("package", ["audits", "harness", "personas", "sandbox"])
def test_all_is_exactly_the_public_names(package: str) -> None:
    module = importlib.import_module(package)
    # Assertion rewriting may add names like "@py_builtins", which no import can reach.
    public = {name for name in vars(module) if name.isidentifier() and not name.startswith("_")}
    submodules = {name for name in public if isinstance(getattr(module, name), type(importlib))}
    assert set(module.__all__) == public - submodules
    assert module.__all__ == sorted(module.__all__)
