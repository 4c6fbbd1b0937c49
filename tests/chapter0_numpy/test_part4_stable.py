"""Tests for chapter 0, part 4: stable softmax, log-softmax, logsumexp, sigmoid, softplus.

Expected values come from the definitions evaluated in high precision on safe inputs
(math.fsum and Python floats), and from identities that hold for large inputs.
"""

import math

import numpy as np
import pytest

from grader.testkit import Call, exercise, expect, expect_close, rng, run, run_without_warnings

# One large logit among very negative ones, not in first place: a shift by the row mean
# (-500), the first entry or the min (-1000) instead of the max asks for exp(1500) or
# exp(2000) and overflows; the max shift never does.
_MEAN_SHIFT_OVERFLOWS = [-1000.0, 1000.0, -1000.0, -1000.0]


def _expect_float32(call: Call, want: np.ndarray) -> None:
    """float32 in, float32 out, with values to float32 precision."""
    got = call.value
    expect(
        isinstance(got, np.ndarray) and got.dtype == np.float32,
        f"{call}: dtype {getattr(got, 'dtype', type(got).__name__)}, expected float32 "
        "(float32 in, float32 out: write constants as Python numbers, do not convert to float64)",
    )
    expect_close(call, want, rtol=1e-5, atol=1e-6, what="float32 input")


def _logsumexp_loops(x: np.ndarray) -> np.ndarray:
    """log-sum-exp of each row, one row at a time with Python floats (shifted by the max)."""
    rows = x.reshape(-1, x.shape[-1])
    out = [max(r) + math.log(math.fsum(math.exp(v - max(r)) for v in r)) for r in rows.tolist()]
    return np.array(out).reshape(x.shape[:-1])


@exercise("logsumexp")
@pytest.mark.parametrize("shape", [(4, 7), (2, 3, 5)])
def test_logsumexp_matches_loops(impl, shape):
    x = rng(1).normal(size=shape) * 3
    top = x.max(axis=-1)
    expect_close(
        run(impl.logsumexp, x),
        _logsumexp_loops(x),
        mistakes={
            "forget to add the max back after the shift": lambda: _logsumexp_loops(x) - top,
            "sum over every axis but the first (or reduce the wrong axis)": lambda: np.log(
                np.exp(x).sum(axis=0)
            ),
        },
    )


@exercise("logsumexp")
def test_logsumexp_reduces_last_axis_only(impl):
    x = rng(2).normal(size=(3, 1, 6))
    expect_close(run(impl.logsumexp, x), _logsumexp_loops(x))


@exercise("logsumexp")
def test_logsumexp_large_logits(impl):
    x = np.array(
        [[1000.0, 1000.0, -1000.0, -1000.0], [-1000.0, -1001.0, -1002.0, -1003.0], _MEAN_SHIFT_OVERFLOWS]
    )
    want = np.array(
        [
            1000 + math.log(2),
            -1000 + math.log(1 + math.exp(-1) + math.exp(-2) + math.exp(-3)),
            1000.0,  # + log(1 + 3 e^-2000), which is 0 in float64
        ]
    )
    expect_close(run_without_warnings(impl.logsumexp, x), want)


@exercise("logsumexp")
def test_logsumexp_float32_stays_float32(impl):
    x = (rng(10).normal(size=(3, 5)) * 4).astype(np.float32)
    _expect_float32(run(impl.logsumexp, x), _logsumexp_loops(x.astype(np.float64)))


@exercise("softmax")
@pytest.mark.parametrize("shape", [(5, 3), (2, 4, 6)])
def test_softmax_matches_definition(impl, shape):
    x = rng(3).normal(size=shape)
    want = np.exp(x) / np.exp(x).sum(axis=-1, keepdims=True)
    expect_close(
        run(impl.softmax, x),
        want,
        mistakes={
            "normalise over the first axis instead of the last": lambda: (
                np.exp(x) / np.exp(x).sum(axis=0, keepdims=True)
            ),
            "forget to divide by the sum (return exp(x - max))": lambda: np.exp(
                x - x.max(axis=-1, keepdims=True)
            ),
        },
    )


@exercise("softmax")
def test_softmax_large_logits(impl):
    x = np.array(
        [[1000.0, 999.0, -1000.0, 1000.0], [-1000.0, -1000.0, -1000.0, -1000.0], _MEAN_SHIFT_OVERFLOWS]
    )
    e = math.exp(-1)
    want = np.array(
        [[1 / (2 + e), e / (2 + e), 0.0, 1 / (2 + e)], [0.25, 0.25, 0.25, 0.25], [0.0, 1.0, 0.0, 0.0]]
    )
    expect_close(run_without_warnings(impl.softmax, x), want)


@exercise("softmax")
def test_softmax_float32_stays_float32(impl):
    x = (rng(11).normal(size=(4, 6)) * 3).astype(np.float32)
    x64 = x.astype(np.float64)
    _expect_float32(run(impl.softmax, x), np.exp(x64) / np.exp(x64).sum(axis=-1, keepdims=True))


@exercise("softmax")
def test_softmax_is_shift_invariant(impl):
    x = rng(4).normal(size=(3, 5))
    shifted = x + np.array([[10.0], [-50.0], [300.0]])
    expect_close(run(impl.softmax, shifted), run(impl.softmax, x).value)


@exercise("log_softmax")
@pytest.mark.parametrize("shape", [(6, 4), (3, 2, 5)])
def test_log_softmax_matches_definition(impl, shape):
    x = rng(5).normal(size=shape) * 2
    expect_close(
        run(impl.log_softmax, x),
        x - _logsumexp_loops(x)[..., None],
        mistakes={
            "subtract only the max, not the log-sum-exp": lambda: x - x.max(axis=-1, keepdims=True),
            "return softmax itself, without the log": lambda: np.exp(x - _logsumexp_loops(x)[..., None]),
        },
    )


@exercise("log_softmax")
def test_log_softmax_where_softmax_underflows(impl):
    # softmax of the last entry is e^-2000, which is 0 in float64; its log is still -2000.
    x = np.array([[1000.0, -1000.0, -1000.0, -1000.0], [0.0, 0.0, 0.0, 0.0], _MEAN_SHIFT_OVERFLOWS])
    got = run_without_warnings(impl.log_softmax, x)
    want = np.array([[0.0, -2000.0, -2000.0, -2000.0], [-math.log(4)] * 4, [-2000.0, 0.0, -2000.0, -2000.0]])
    expect_close(got, want)


@exercise("log_softmax")
def test_log_softmax_float32_stays_float32(impl):
    x = (rng(12).normal(size=(3, 4)) * 3).astype(np.float32)
    x64 = x.astype(np.float64)
    _expect_float32(run(impl.log_softmax, x), x64 - _logsumexp_loops(x64)[..., None])


@exercise("sigmoid")
def test_sigmoid_matches_definition(impl):
    x = rng(6).normal(size=(4, 3)) * 4
    expect_close(run(impl.sigmoid, x), 1 / (1 + np.exp(-x)))


@exercise("sigmoid")
def test_sigmoid_extremes_without_warnings(impl):
    # sigmoid(-40) = 4.25e-18 is asked to a relative 1e-12 (the docstring's precision)
    x = np.array([-1000.0, -40.0, 0.0, 40.0, 1000.0])
    want = np.array([0.0, math.exp(-40) / (1 + math.exp(-40)), 0.5, 1 / (1 + math.exp(-40)), 1.0])
    expect_close(
        run_without_warnings(impl.sigmoid, x),
        want,
        rtol=1e-12,
        atol=0,
        mistakes={
            "compute sigmoid of negative x as 1 - sigmoid(-x) or (1 + tanh(x/2)) / 2, where the "
            "subtraction from 1 cancels sigmoid(-40) = 4.25e-18 to 0": np.array([0.0, 0.0, 0.5, 1.0, 1.0]),
        },
    )


@exercise("sigmoid")
def test_sigmoid_float32_stays_float32(impl):
    x = np.array([[-30.0, -4.0, -0.5], [0.0, 2.5, 30.0]], dtype=np.float32)
    x64 = x.astype(np.float64)
    _expect_float32(run_without_warnings(impl.sigmoid, x), 1 / (1 + np.exp(-x64)))


@exercise("sigmoid")
def test_sigmoid_symmetry(impl):
    x = rng(7).normal(size=(2, 3, 4)) * 10
    got = run(impl.sigmoid, x)
    expect_close(got, 1 - run(impl.sigmoid, -x).value, atol=1e-12, what="sigmoid(x) = 1 - sigmoid(-x)")


@exercise("softplus")
def test_softplus_matches_definition(impl):
    x = rng(8).normal(size=(3, 4)) * 3
    expect_close(run(impl.softplus, x), np.log(1 + np.exp(x)))


@exercise("softplus")
def test_softplus_extremes(impl):
    x = np.array([-1000.0, -50.0, 0.0, 50.0, 1000.0])
    want = np.array([0.0, math.exp(-50), math.log(2), 50 + math.exp(-50), 1000.0])
    got = run_without_warnings(impl.softplus, x)
    # relative tolerance: softplus(-50) = 1.9e-22 must not be rounded to 0
    expect_close(
        got,
        want,
        rtol=1e-12,
        atol=0,
        mistakes={
            "write np.log(1 + np.exp(-|x|)) instead of np.log1p, which rounds e^-50 away": np.array(
                [0.0, 0.0, math.log(2), 50.0, 1000.0]
            ),
        },
    )
    expect(got.value.dtype == np.float64, f"{got}: dtype {got.value.dtype}, expected float64")


@exercise("softplus")
def test_softplus_float32_stays_float32(impl):
    x = np.array([[-30.0, -2.0, 0.0], [0.5, 3.0, 30.0]], dtype=np.float32)
    x64 = x.astype(np.float64)
    _expect_float32(run_without_warnings(impl.softplus, x), np.log1p(np.exp(x64)))


@exercise("log_softmax")
def test_log_softmax_exponentiates_to_a_distribution(impl):
    x = rng(9).normal(size=(4, 7)) * 5
    got = run(impl.log_softmax, x)
    totals = Call(np.exp(got.value).sum(axis=-1), f"exp({got}).sum(-1)")
    expect_close(totals, np.ones(4), rtol=1e-12)


@exercise("softplus")
def test_softplus_derivative_is_sigmoid(impl):
    # d/dx log(1 + e^x) = sigmoid(x): a central difference of the learner's softplus
    x = np.linspace(-6.0, 6.0, 13)
    h = 1e-5
    slope = (run(impl.softplus, x + h).value - run(impl.softplus, x - h).value) / (2 * h)
    want = 1 / (1 + np.exp(-x))
    expect_close(Call(slope, "softplus'(x) by central differences"), want, rtol=1e-6, atol=1e-9)
