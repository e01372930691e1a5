"""The docstring examples of the integration modules run and give what they show."""

from __future__ import annotations

import doctest
import importlib

import pytest


@pytest.mark.parametrize("module", ["midas.integration.bins", "midas.integration.mapper", "midas.integration.peakfit",
                                    "midas.io.poni"])
def test_doctests(module):
    result = doctest.testmod(importlib.import_module(module), optionflags=doctest.NORMALIZE_WHITESPACE)
    assert result.attempted > 0 and result.failed == 0
