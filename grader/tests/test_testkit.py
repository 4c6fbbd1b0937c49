"""The testkit's failure messages: what was called, shapes, expected vs got, max error."""

from __future__ import annotations

import numpy as np
import pytest

from grader.testkit import (
    Call,
    expect_close,
    expect_equal,
    numeric_grad,
    numeric_grads,
    numeric_param_grads,
    run,
)


def linear_forward(x, W, b):
    return x @ W + b


def _message(fn, *args, **kwargs) -> str:
    with pytest.raises(AssertionError) as caught:
        fn(*args, **kwargs)
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
    assert message == (
        "f(x=float64[2, 3]): max abs error 0.5 at [0, 2] (got 1, want 0.5); "
        "got[0, :] = [1. 2. 1.] want[0, :] = [1.5 2.  0.5]"
    )


def test_the_preview_is_a_window_around_the_worst_entry_not_the_first_entries():
    want = np.linspace(0.0, 1.0, 50)
    got = want.copy()
    got[37] += 1e-3
    message = _message(expect_close, Call(got, "f()"), want)
    assert "max abs error 0.001 at [37] (got 0.756102, want 0.755102)" in message
    assert "got[34:40] = [" in message and "want[34:40] = [" in message
    # The worst entry is shown to six digits even when the window rounds it away.
    got = np.array([0.0, 4.25e-18, 0.5, 1.0, 1.0])
    message = _message(expect_close, Call(got, "f()"), np.array([0.0, 0.0, 0.5, 1.0, 1.0]), atol=0.0)
    assert "max abs error 4.25e-18 at [1] (got 4.25e-18, want 0)" in message
    equal = _message(
        expect_equal, Call(np.arange(40) % 7, "g()"), np.where(np.arange(40) == 30, -1, np.arange(40) % 7)
    )
    assert "first at [30] (got 2, want -1); got[27:33] = [" in equal


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


def test_numeric_grads_gives_one_gradient_per_argument_the_others_held_fixed():
    x, W, b = (
        np.array([[1.0, -2.0]]),
        np.array([[0.5, 1.0, -1.0], [2.0, 0.0, 3.0]]),
        np.array([0.1, 0.2, 0.3]),
    )
    dout = np.array([[1.0, -1.0, 2.0]])
    dx, dW, db = numeric_grads(lambda *a: float(np.sum(linear_forward(*a) * dout)), [x, W, b])
    np.testing.assert_allclose(dx, dout @ W.T, rtol=1e-7, atol=1e-8)
    np.testing.assert_allclose(dW, x.T @ dout, rtol=1e-7, atol=1e-8)
    np.testing.assert_allclose(db, dout[0], rtol=1e-7, atol=1e-8)


def test_numeric_param_grads_gives_one_gradient_per_key_or_only_the_keys_asked():
    x, dout = np.array([[1.0, -2.0]]), np.array([[1.0, -1.0, 2.0]])
    p = {"W": np.array([[0.5, 1.0, -1.0], [2.0, 0.0, 3.0]]), "b": np.array([0.1, 0.2, 0.3])}
    grads = numeric_param_grads(lambda q: float(np.sum(linear_forward(x, q["W"], q["b"]) * dout)), p)
    assert list(grads) == ["W", "b"]
    np.testing.assert_allclose(grads["W"], x.T @ dout, rtol=1e-7, atol=1e-8)
    np.testing.assert_allclose(grads["b"], dout[0], rtol=1e-7, atol=1e-8)
    only_b = numeric_param_grads(lambda q: float(np.sum(linear_forward(x, q["W"], q["b"]) * dout)), p, ["b"])
    assert list(only_b) == ["b"]


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


def test_a_failure_matching_a_named_mistake_says_which_mistake_first():
    x = np.arange(6.0).reshape(2, 3)
    mistakes = {"forget to divide by N": lambda: x.sum(0), "return the transpose": x.T}
    message = _message(expect_close, Call(x.sum(0), "mean(x=float64[2, 3])"), x.mean(0), mistakes=mistakes)
    first, detail = message.split("\n")
    assert first == "This is what you get if you forget to divide by N."
    assert detail.startswith("mean(x=float64[2, 3]): max abs error 3.5")
    # A shape failure is diagnosed too: the transposed answer has another shape.
    message = _message(expect_close, Call(x.T, "f(x)"), x, mistakes=mistakes)
    assert message.startswith("This is what you get if you return the transpose.\nf(x): shape (3, 2)")


def test_a_diagnosis_is_never_claimed_for_a_result_that_does_not_match_it():
    x = np.arange(6.0).reshape(2, 3)
    mistakes = {"forget to divide by N": x.sum(0), "crash": lambda: 1 / 0}
    message = _message(expect_close, Call(x.sum(0) + 1, "mean(x)"), x.mean(0), mistakes=mistakes)
    assert not message.startswith("This is what")
    # A mistake whose answer equals the right one on these inputs names nothing.
    ones = np.ones(3)
    message = _message(expect_close, Call(ones * 2, "f(x)"), ones, mistakes={"square it": ones**2})
    assert not message.startswith("This is what")


def test_expect_equal_names_an_exact_mistake():
    message = _message(
        expect_equal, Call([0, 1, 2], "arange(3)"), [1, 2, 3], mistakes={"start at 0": [0, 1, 2]}
    )
    assert message == "This is what you get if you start at 0.\narange(3): got [0, 1, 2], expected [1, 2, 3]"


def test_a_result_that_several_mistakes_give_names_them_all():
    x = np.arange(1.0, 4.0)
    mistakes = {"forget the square": x, "take the absolute value": np.abs(x), "negate it": -x}
    message = _message(expect_close, Call(x, "square(x)"), x**2, mistakes=mistakes)
    first = message.split("\n")[0]
    assert first == "This is what you get if you forget the square, or if you take the absolute value."


def test_with_a_relative_tolerance_the_entry_past_its_allowance_is_shown():
    want = np.array([7e-218, 1.0])
    call = Call(np.array([0.0, 1.0 + 5e-7]), "sigmoid(x=float64[2])")
    message = _message(expect_close, call, want, rtol=1e-6, atol=0.0)
    assert message.startswith(
        "sigmoid(x=float64[2]): error 7e-218 at [0] (got 0, want 7e-218), where 7e-224 is allowed"
    )
    assert "max abs error 5e-07" in message


def test_expect_parts_checks_the_tuple_and_each_named_shape():
    from grader.testkit import expect_parts

    a, b = np.zeros((2, 3)), np.zeros(4)
    assert expect_parts(Call((a, b), "f()"), ("dx", "db"), [(2, 3), None]) == (a, b)
    assert _message(expect_parts, Call([a, b], "f()"), ("dx", "db")) == (
        "f(): returned list; expected a tuple (dx, db)"
    )
    assert _message(expect_parts, Call((a, b), "f()"), ("dx", "db"), [(3, 2), (4,)]) == (
        "f(): dx has shape (2, 3), expected (3, 2)"
    )
