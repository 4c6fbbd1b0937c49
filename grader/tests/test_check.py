"""check(fn) in a notebook cell: runs one exercise's tests in-process and prints a verdict.

No `from __future__ import annotations` here: the type-check test needs real annotations."""

import numpy as np
from jaxtyping import Float

from grader.check import check


def _namespace(course, extra):
    return {"__file__": str(course / "exercises" / "chapter1_demo" / "part2_more.py"), **extra}


def test_check_passes_a_right_function(course, capsys, monkeypatch):
    monkeypatch.setenv("GRADER_COURSE_ROOT", str(course))

    def twice(x):
        return x + x

    assert exec_check(course, twice) is True
    out = capsys.readouterr().out
    assert "✓ twice: all 3 tests passed" in out


def test_check_explains_a_wrong_function(course, capsys, monkeypatch):
    monkeypatch.setenv("GRADER_COURSE_ROOT", str(course))

    def twice(x):
        return x * 3

    assert exec_check(course, twice) is False
    out = capsys.readouterr().out
    assert "✗ twice: 0/3 tests passed" in out and "max abs error" in out


def test_check_type_checks_the_annotations(course, capsys, monkeypatch):
    monkeypatch.setenv("GRADER_COURSE_ROOT", str(course))

    def twice(x: Float[np.ndarray, " n"]) -> Float[np.ndarray, "n 1"]:
        return 2 * x

    assert exec_check(course, twice) is False
    out = capsys.readouterr().out
    assert "twice returned a result with 1 axis, shape (2,); expected (n, 1) = (2, 1) (n from x)" in out


def test_check_says_todo_for_a_stub(course, capsys, monkeypatch):
    monkeypatch.setenv("GRADER_COURSE_ROOT", str(course))

    def twice(x):
        raise NotImplementedError("twice")

    assert exec_check(course, twice) is False
    assert "not implemented yet" in capsys.readouterr().out


def exec_check(course, fn):
    """Call check() from a frame whose globals look like the learner's exercise file."""
    scope = _namespace(course, {"check": check, fn.__name__: fn})
    exec(f"result = check({fn.__name__})", scope)
    return scope["result"]


def test_parametrize_rows_may_be_dicts_or_pytest_params():
    import pytest

    from grader.check import _cases

    @pytest.mark.parametrize("config", [{"lr": 0.1}, pytest.param({"lr": 0.2}, id="slow")])
    @pytest.mark.parametrize("n, m", [(1, 2)])
    def test_something(impl, config, n, m):
        pass

    cases = [kwargs for _, kwargs in _cases(test_something)]
    assert {"config": {"lr": 0.1}, "n": 1, "m": 2} in cases
    assert {"config": {"lr": 0.2}, "n": 1, "m": 2} in cases and len(cases) == 2
