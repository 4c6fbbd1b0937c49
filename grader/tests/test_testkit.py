"""The testkit's failure messages: what was called, shapes, expected vs got, max error."""

from __future__ import annotations

import numpy as np
import pytest

from grader.testkit import Call, expect_close, expect_equal, numeric_grad, run


def linear_forward(x, W, b):
    return x @ W + b


def _message(fn, *args) -> str:
    with pytest.raises(AssertionError) as caught:
        fn(*args)
    return str(caught.value)


def test_run_describes_the_call_with_argument_names_and_shapes():
    x, W, b = np.ones((5, 3)), np.ones((3, 4)), np.zeros(4)
    got = run(linear_forward, x, W, b)
    assert got.text == "linear_forward(x=float64[5, 3], W=float64[3, 4], b=float64[4])"


def test_run_catches_an_input_changed_in_place():
    def scale(x):
        x *= 2
        return x

    message = _message(run, scale, np.ones(3))
    assert message == (
        "scale(x=float64[3]) changed its input x in place; work on a copy and return a new array"
    )


def test_expect_close_reports_the_largest_error_and_where():
    call = Call(np.array([[1.0, 2.0, 1.0], [0.0, 0.0, 0.0]]), "f(x=float64[2, 3])")
    want = np.array([[1.5, 2.0, 0.5], [0.0, 0.0, 0.0]])
    message = _message(expect_close, call, want)
    assert message.startswith("f(x=float64[2, 3]): max abs error 0.5 at [0, 0]; got [1. 2. 1. 0. 0. 0.]")


@pytest.mark.parametrize(
    "value, want, words",
    [
        (np.ones((3, 2)), np.ones((2, 3)), "shape (3, 2), expected (2, 3)"),
        (np.ones(3, dtype=int), np.ones(3), "dtype int64, expected floating point"),
        ([1.0, 2.0], np.ones(2), "returned list"),
        (np.array([np.nan, 1.0]), np.ones(2), "got nan at [0] where 1 was expected"),
        (np.array(0.5), np.array(0.25), "max abs error 0.25"),
    ],
)
def test_expect_close_names_the_problem(value, want, words):
    assert words in _message(expect_close, Call(value, "f()"), want)


def test_expect_close_accepts_python_and_numpy_scalars():
    expect_close(Call(0.5, "f()"), 0.5)
    expect_close(Call(np.float64(0.5), "f()"), 0.5)
    with pytest.raises(AssertionError, match="returned bool"):
        expect_close(Call(True, "f()"), 1.0)


def test_expect_equal_counts_the_entries_that_differ():
    message = _message(expect_equal, Call(np.array([1, 2, 3, 4]), "g()"), np.array([1, 0, 3, 0]))
    assert message.startswith("g(): 2 of 4 entries differ, first at [1]")


def test_numeric_grad_of_a_quadratic():
    A = np.array([[2.0, 1.0, 0.0], [0.0, 3.0, 1.0]])
    x = np.array([[0.5, -1.0, 2.0], [1.5, 0.25, -0.5]])
    grad = numeric_grad(lambda z: float(np.sum(A * z**2)), x)
    np.testing.assert_allclose(grad, 2 * A * x, rtol=1e-7, atol=1e-8)


def test_a_numpy_warning_in_a_stability_test_is_explained():
    from grader.outcomes import Status, classify
    from grader.testkit import run_without_warnings

    def naive_sigmoid(x):
        return 1 / (1 + np.exp(-x))

    with pytest.raises(FloatingPointError) as caught:
        run_without_warnings(naive_sigmoid, np.array([-1000.0]))
    status, message = classify(caught.value)
    assert status is Status.FAILED
    assert message.startswith("NumPy warned: overflow encountered in exp") and "never overflows" in message
