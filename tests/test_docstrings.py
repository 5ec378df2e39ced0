"""The examples in the package's docstrings run and print what they show."""
from __future__ import annotations

import doctest
import importlib
import pkgutil

import numpy as np
import pytest

import vsearch

MODULES = sorted(name for _, name, _ in pkgutil.iter_modules(vsearch.__path__, "vsearch.") if name != "vsearch._core")


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # an example that writes a file writes it here
    module = importlib.import_module(name)
    result = doctest.testmod(module, extraglobs={"np": np, "vsearch": vsearch}, optionflags=doctest.ELLIPSIS)
    assert result.failed == 0, f"{result.failed} of {result.attempted} examples in {name} failed (see the output)"


def test_the_package_has_examples():
    finder = doctest.DocTestFinder()
    examples = sum(len(t.examples) for n in MODULES for t in finder.find(importlib.import_module(n)))
    assert examples >= 30
