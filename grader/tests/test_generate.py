"""The stub generator: bodies between markers become NotImplementedError, the rest stays."""

from __future__ import annotations

import pytest

from grader.instructor.generate import MarkerError, exercise_names, stub_source

SOURCE = '''import numpy as np


def f(x):
    """Docstring kept."""
    y = x + 1  # given code before the marker stays
    # BEGIN SOLUTION
    return y * 2
    # END SOLUTION


class Model:
    def __init__(self):
        # BEGIN SOLUTION
        self.w = 0
        # END SOLUTION

    def helper(self):
        return 1
'''


def test_bodies_are_replaced_and_the_rest_kept():
    stub = stub_source(SOURCE)
    assert 'raise NotImplementedError("f")' in stub
    assert '        raise NotImplementedError("Model.__init__")' in stub
    assert "return y * 2" not in stub and "self.w = 0" not in stub
    assert '"""Docstring kept."""' in stub and "y = x + 1" in stub and "return 1" in stub
    assert "BEGIN SOLUTION" not in stub and "END SOLUTION" not in stub
    compile(stub, "stub", "exec")


def test_exercise_names_are_top_level():
    assert exercise_names(SOURCE) == {"f", "Model"}


@pytest.mark.parametrize(
    "source, words",
    [
        ("def f():\n    # BEGIN SOLUTION\n    return 1\n", "never closed"),
        ("def f():\n    return 1\n    # END SOLUTION\n", "without"),
        ("# BEGIN SOLUTION\nx = 1\n# END SOLUTION\n", "outside any function"),
    ],
)
def test_bad_markers_are_reported_with_a_line(source, words):
    with pytest.raises(MarkerError, match=words):
        stub_source(source, "s.py")
