"""The docstring examples of the codec modules run and hold."""
import doctest

import pytest

import oor.codec.elements
import oor.codec.io
import oor.codec.tle


@pytest.mark.parametrize("module", [oor.codec.elements, oor.codec.io, oor.codec.tle])
def test_doctests(module):
    result = doctest.testmod(module)
    assert result.attempted > 0 and result.failed == 0
