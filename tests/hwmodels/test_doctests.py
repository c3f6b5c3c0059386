"""The examples in hwmodels' docstrings run."""
from __future__ import annotations

import doctest
import importlib

import pytest

MODULES = ["hwmodels", "hwmodels.model", "hwmodels.loader", "hwmodels.registry", "hwmodels.occupancy",
           "hwmodels.detection", "hwmodels.cli"]


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name):
    module = importlib.import_module(name)
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS)
    assert result.failed == 0
