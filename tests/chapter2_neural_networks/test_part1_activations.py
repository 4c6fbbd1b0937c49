"""Tests for chapter 2, part 1: activation functions (ReLU, leaky ReLU, ELU, GELU in its tanh
form, sigmoid, tanh, softmax) and their backward passes.

Expected values come from the definitions evaluated one Python float at a time with `math`
(kept in this file), hand calculations, identities (odd/even symmetry, shift invariance of
softmax), and, for every backward pass, central differences of this file's forward
functions with a random upstream gradient on 1-D, 2-D (batch of 1 and a non-square batch)
and 3-D inputs. Inputs of ±1000 run with NumPy's overflow warnings turned into errors.
"""

import math

import numpy as np
import pytest

from grader.testkit import (
    Call,
    describe,
    exercise,
    expect,
    expect_close,
    numeric_grad,
    rng,
    run,
    run_without_warnings,
)

# 1-D, a batch of one, a non-square batch, and 3-D: a wrong axis or a missing keepdims shows
SHAPES = [(7,), (1, 4), (3, 5), (2, 3, 4)]
EXTREMES = np.array([-1000.0, -40.0, -1.0, 0.0, 1.0, 40.0, 1000.0])

GELU_K = math.sqrt(2.0 / math.pi)
GELU_C = 0.044715


# ---------------------------------------------------------------------------------------------
# Reference definitions, one Python float at a time


def _elementwise(scalar_fn, x: np.ndarray) -> np.ndarray:
    """scalar_fn applied to each entry of x with Python floats: the definition, as a loop."""
    return np.array([scalar_fn(v) for v in x.ravel().tolist()], dtype=np.float64).reshape(x.shape)


def _relu(v: float) -> float:
    return v if v > 0 else 0.0


def _leaky(slope: float):
    return lambda v: v if v > 0 else slope * v


def _elu(alpha: float):
    return lambda v: v if v > 0 else alpha * math.expm1(v)


def _gelu(v: float) -> float:
    return 0.5 * v * (1.0 + math.tanh(GELU_K * (v + GELU_C * v**3)))


def _gelu_exact(v: float) -> float:
    return 0.5 * v * (1.0 + math.erf(v / math.sqrt(2.0)))


def _sigmoid(v: float) -> float:
    return 1.0 / (1.0 + math.exp(-v)) if v >= 0 else math.exp(v) / (1.0 + math.exp(v))


def _softmax_loops(x: np.ndarray) -> np.ndarray:
    """Softmax of each slice along the last axis, one slice at a time (shifted by its max)."""
    rows = []
    for row in x.reshape(-1, x.shape[-1]).tolist():
        top = max(row)
        e = [math.exp(v - top) for v in row]
        total = math.fsum(e)
        rows.append([v / total for v in e])
    return np.array(rows).reshape(x.shape)


# ---------------------------------------------------------------------------------------------
# Checks shared by several exercises


def _away_from_kinks(x: np.ndarray) -> np.ndarray:
    """x with entries near 0 moved to 0.5, so a central difference never straddles a kink."""
    return np.where(np.abs(x) < 1e-3, 0.5, x)


def _expect_backward_matches_central_differences(
    backward, forward, shape, seed, *hyper, mistakes=None
) -> None:
    """backward(x, *hyper, grad_out) against the numerical gradient of L(x) = sum(grad_out * y).

    `forward` is this file's definition; grad_out is random, so a backward pass that forgets
    to multiply by it (or multiplies the wrong entries) cannot pass. mistakes(x, grad_out)
    gives the named wrong answers for these inputs.
    """
    g = rng(seed)
    x = _away_from_kinks(g.normal(size=shape) * 2.0)
    grad_out = g.normal(size=shape)
    want = numeric_grad(lambda a: float(np.sum(forward(a) * grad_out)), x)
    got = run(backward, x, *hyper, grad_out)
    expect_close(
        got,
        want,
        rtol=1e-5,
        atol=1e-7,
        what="dL/dx for L = sum(grad_out * y), by central differences",
        mistakes=mistakes(x, grad_out) if mistakes else None,
    )


def _local_mistakes(local, forward, x, grad_out) -> dict:
    """The two mistakes every elementwise backward pass can make, given its local derivative."""
    return {
        "forget to multiply by grad_out": local,
        "multiply grad_out by the forward's output instead of by its derivative": grad_out * forward,
    }


def _relu_backward_mistakes(x, grad_out):
    return _local_mistakes((x > 0).astype(float), np.maximum(x, 0.0), x, grad_out)


def _leaky_backward_mistakes(slope):
    def named(x, grad_out):
        found = _local_mistakes(np.where(x > 0, 1.0, slope), np.where(x > 0, x, slope * x), x, grad_out)
        found["use 0 instead of slope where x <= 0 (relu's derivative)"] = grad_out * (x > 0)
        found["use slope where x > 0 and 1 elsewhere (the branches swapped)"] = grad_out * np.where(
            x > 0, slope, 1.0
        )
        return found

    return named


def _elu_backward_mistakes(alpha):
    def named(x, grad_out):
        negative = np.minimum(x, 0.0)
        y = np.where(x > 0, x, alpha * np.expm1(negative))
        found = _local_mistakes(np.where(x > 0, 1.0, alpha * np.exp(negative)), y, x, grad_out)
        found["use elu(x) = alpha (exp(x) - 1) as the derivative instead of elu(x) + alpha"] = (
            grad_out * np.where(x > 0, 1.0, alpha * np.expm1(negative))
        )
        found["forget the factor alpha on the negative side"] = grad_out * np.where(
            x > 0, 1.0, np.exp(negative)
        )
        return found

    return named


def _gelu_backward_mistakes(x, grad_out):
    t = np.tanh(GELU_K * (x + GELU_C * x**3))
    du_dx = GELU_K * (1 + 3 * GELU_C * x**2)
    local = 0.5 * (1 + t) + 0.5 * x * (1 - t**2) * du_dx
    found = _local_mistakes(local, 0.5 * x * (1 + t), x, grad_out)
    found["leave out the term from differentiating tanh (0.5 x (1 - t²) du/dx)"] = 0.5 * (1 + t) * grad_out
    found["forget the chain-rule factor du/dx = sqrt(2/pi) (1 + 3 * 0.044715 x²)"] = (
        0.5 * (1 + t) + 0.5 * x * (1 - t**2)
    ) * grad_out
    return found


def _sigmoid_backward_mistakes(x, grad_out):
    s = _elementwise(_sigmoid, x)
    found = _local_mistakes(s * (1 - s), s, x, grad_out)
    found["use s (1 + s) instead of s (1 - s)"] = grad_out * s * (1 + s)
    return found


def _tanh_backward_mistakes(x, grad_out):
    t = np.tanh(x)
    found = _local_mistakes(1 - t**2, t, x, grad_out)
    found["use 1 - tanh(x) instead of 1 - tanh(x)²"] = grad_out * (1 - t)
    found["use 1 + tanh(x)² instead of 1 - tanh(x)²"] = grad_out * (1 + t**2)
    return found


def _softmax_backward_mistakes(x, grad_out):
    s = _softmax_loops(x)
    return {
        "forget to subtract sum(grad_out * s) (s * grad_out alone)": s * grad_out,
        "sum grad_out * s over the first axis instead of the last": s
        * (grad_out - (grad_out * s).sum(axis=0, keepdims=True)),
        "sum grad_out over the last axis without weighting it by s": s
        * (grad_out - grad_out.sum(axis=-1, keepdims=True)),
        "use the Jacobian's diagonal only, s (1 - s) grad_out": s * (1 - s) * grad_out,
    }


def _run_quietly(fn, *args) -> Call:
    """run_without_warnings, with overflow reported as a teaching message."""
    try:
        return run_without_warnings(fn, *args)
    except (FloatingPointError, RuntimeWarning) as err:
        shown = ", ".join(describe(a) for a in args)
        raise AssertionError(
            f"{fn.__name__}({shown}) with x = {args[0].tolist()} raised a NumPy warning ({err}). "
            "Keep every exponent <= 0 (exp(-|x|), np.minimum(x, 0), or subtract the max along the "
            "axis); np.where computes both of its branches everywhere"
        ) from None


def _expect_relative(call: Call, x: np.ndarray, want: np.ndarray, rtol: float) -> None:
    """Every entry within a relative rtol of want (for tiny values), the worst shown in full."""
    got = np.asarray(call.value, dtype=np.float64)
    if got.shape != want.shape:
        raise AssertionError(f"{call}: shape {got.shape}, expected {want.shape}")
    scale = np.where(want == 0, 1.0, np.abs(want))
    error = np.abs(got - want) / scale
    worst = int(np.argmax(error))
    at, have, need = (float(a.ravel()[worst]) for a in (x, got, want))
    expect(
        bool(error.max() <= rtol),
        f"{call}: at x = {at!r} got {have!r}, want {need!r} "
        f"(relative error {error.max():.1e}, allowed {rtol:.0e}); a difference of two nearly equal "
        "numbers lost the digits",
    )


def _expect_keeps_float32(fn, *hyper) -> None:
    """fn on float32 inputs returns float32 (the forward gets x, a backward x and grad_out)."""
    g = rng(900)
    x = (g.normal(size=(3, 5)) * 2).astype(np.float32)
    args = (
        (x, *hyper)
        if not fn.__name__.endswith("_backward")
        else (x, *hyper, g.normal(size=(3, 5)).astype(np.float32))
    )
    got = run(fn, *args)
    dtype = getattr(got.value, "dtype", type(got.value).__name__)
    expect(
        dtype == np.float32,
        f"{got}: dtype {dtype}, expected float32 (float32 in, float32 out: a NumPy float64 "
        "constant, or an array of Python floats built with np.where or np.ones, turns the result "
        "into float64)",
    )


# ---------------------------------------------------------------------------------------------
# relu


@exercise("relu")
def test_relu_hand_values(impl):
    x = np.array([-2.0, -0.5, 0.0, 0.5, 3.0])
    mistakes = {
        "return the 0/1 mask x > 0 instead of x where x > 0": (x > 0).astype(float),
        "keep the negative side instead of the positive one (min(x, 0))": np.minimum(x, 0.0),
    }
    expect_close(run(impl.relu, x), np.array([0.0, 0.0, 0.0, 0.5, 3.0]), rtol=0, atol=0, mistakes=mistakes)


@exercise("relu")
@pytest.mark.parametrize("shape", SHAPES)
def test_relu_matches_definition(impl, shape):
    x = rng(1).normal(size=shape)
    expect_close(run(impl.relu, x), _elementwise(_relu, x), rtol=0, atol=0)


@exercise("relu")
def test_relu_identities(impl):
    # relu(x) - relu(-x) = x, and relu(c x) = c relu(x) for c > 0
    x = rng(2).normal(size=(4, 3)) * 3
    diff = run(impl.relu, x).value - run(impl.relu, -x).value
    expect_close(Call(diff, "relu(x) - relu(-x) for x=float64[4, 3]"), x, rtol=1e-12)
    expect_close(
        run(impl.relu, 2.5 * x),
        2.5 * run(impl.relu, x).value,
        rtol=1e-12,
        what="relu(2.5 x) should be 2.5 relu(x)",
    )


@exercise("relu")
def test_relu_keeps_float64(impl):
    x = np.array([[-1.0, 2.0, 0.0], [3.5, -0.25, 1e-300]])
    got = run(impl.relu, x)
    expect(got.value.dtype == np.float64, f"{got}: dtype {got.value.dtype}, expected float64")
    expect_close(got, np.array([[0.0, 2.0, 0.0], [3.5, 0.0, 1e-300]]), rtol=0, atol=0)


@exercise("relu")
def test_relu_keeps_float32(impl):
    _expect_keeps_float32(impl.relu)


# ---------------------------------------------------------------------------------------------
# relu_backward


@exercise("relu_backward")
@pytest.mark.parametrize("shape", SHAPES)
def test_relu_backward_central_differences(impl, shape):
    _expect_backward_matches_central_differences(
        impl.relu_backward,
        lambda a: _elementwise(_relu, a),
        shape,
        10 + len(shape),
        mistakes=_relu_backward_mistakes,
    )


@exercise("relu_backward")
def test_relu_backward_is_zero_at_zero(impl):
    # The convention: relu'(0) = 0 (the derivative from the left, as in PyTorch).
    x = np.array([[0.0, -1.0, 2.0], [0.0, 0.0, 0.5]])
    grad_out = np.array([[1.5, -2.0, 0.3], [-0.7, 4.0, -1.1]])
    want = np.array([[0.0, 0.0, 0.3], [0.0, 0.0, -1.1]])
    mistakes = {
        "take relu'(0) = 1 (x >= 0 instead of x > 0)": grad_out * (x >= 0),
        "forget to multiply by grad_out": (x > 0).astype(float),
        "multiply grad_out by relu(x) instead of by relu'(x)": grad_out * np.maximum(x, 0.0),
    }
    expect_close(
        run(impl.relu_backward, x, grad_out),
        want,
        rtol=0,
        atol=0,
        what="relu'(0) is 0 by convention",
        mistakes=mistakes,
    )


@exercise("relu_backward")
def test_relu_backward_passes_or_blocks_grad_out(impl):
    g = rng(12)
    grad_out = g.normal(size=(3, 4))
    positive = g.uniform(0.1, 2.0, size=(3, 4))
    expect_close(
        run(impl.relu_backward, positive, grad_out),
        grad_out,
        rtol=0,
        atol=0,
        what="where x > 0 the gradient passes through unchanged",
    )
    expect_close(
        run(impl.relu_backward, -positive, grad_out),
        np.zeros((3, 4)),
        rtol=0,
        atol=0,
        what="where x < 0 the gradient is blocked",
    )


@exercise("relu_backward")
def test_relu_backward_uses_the_sign_not_the_size(impl):
    # the tiniest positive number passes the gradient; -1e-300 (truthy!) and 0 block it
    x = np.array([1e-300, -1e-300, 0.0, 1e300, -1e300])
    grad_out = np.array([0.5, 2.0, -3.0, 1.5, -0.25])
    want = np.array([0.5, 0.0, 0.0, 1.5, 0.0])
    expect_close(run(impl.relu_backward, x, grad_out), want, rtol=0, atol=0)


@exercise("relu_backward")
def test_relu_backward_keeps_float32(impl):
    _expect_keeps_float32(impl.relu_backward)


# ---------------------------------------------------------------------------------------------
# leaky_relu


@exercise("leaky_relu")
def test_leaky_relu_hand_values(impl):
    x = np.array([-2.0, -0.5, 0.0, 0.5, 3.0])
    want = np.array([-0.2, -0.05, 0.0, 0.5, 3.0])  # slope on the negative side only
    mistakes = {
        "apply the slope on the positive side instead of the negative one": np.where(x > 0, 0.1 * x, x),
        "return 0 on the negative side (plain relu)": np.maximum(x, 0.0),
        "put slope where slope * x belongs": np.where(x > 0, x, 0.1),
    }
    expect_close(run(impl.leaky_relu, x, 0.1), want, rtol=1e-12, mistakes=mistakes)


@exercise("leaky_relu")
def test_leaky_relu_default_slope_is_0_01(impl):
    x = np.array([[-3.0, 2.0], [-100.0, 0.25]])
    expect_close(
        run(impl.leaky_relu, x),
        np.array([[-0.03, 2.0], [-1.0, 0.25]]),
        rtol=1e-12,
        what="the default slope is 0.01",
    )


@exercise("leaky_relu")
@pytest.mark.parametrize("slope", [0.0, 0.2])
@pytest.mark.parametrize("shape", SHAPES[1:])
def test_leaky_relu_matches_definition(impl, shape, slope):
    x = rng(20).normal(size=shape) * 2
    expect_close(run(impl.leaky_relu, x, slope), _elementwise(_leaky(slope), x), rtol=1e-12)


@exercise("leaky_relu")
def test_leaky_relu_slope_as_keyword(impl):
    x = rng(21).normal(size=(2, 6))
    expect_close(run(impl.leaky_relu, x, slope=0.3), _elementwise(_leaky(0.3), x), rtol=1e-12)


@exercise("leaky_relu")
def test_leaky_relu_keeps_float32(impl):
    _expect_keeps_float32(impl.leaky_relu, 0.1)


# ---------------------------------------------------------------------------------------------
# leaky_relu_backward


@exercise("leaky_relu_backward")
@pytest.mark.parametrize("slope", [0.05, 0.3])
@pytest.mark.parametrize("shape", SHAPES)
def test_leaky_relu_backward_central_differences(impl, shape, slope):
    _expect_backward_matches_central_differences(
        impl.leaky_relu_backward,
        lambda a: _elementwise(_leaky(slope), a),
        shape,
        30 + len(shape),
        slope,
        mistakes=_leaky_backward_mistakes(slope),
    )


@exercise("leaky_relu_backward")
def test_leaky_relu_backward_hand_values(impl):
    # slope where x <= 0 (slope at exactly 0, the derivative from the left), 1 where x > 0
    x = np.array([-3.0, 0.0, 2.0, -0.1])
    grad_out = np.array([2.0, -4.0, 5.0, 1.5])
    want = np.array([0.2, -0.4, 5.0, 0.15])
    mistakes = {
        "take the derivative 1 at x == 0 (x >= 0 instead of x > 0)": grad_out * np.where(x >= 0, 1.0, 0.1),
        "forget to multiply by grad_out": np.where(x > 0, 1.0, 0.1),
        "use 0 instead of slope where x <= 0 (relu's derivative)": grad_out * (x > 0),
    }
    expect_close(run(impl.leaky_relu_backward, x, 0.1, grad_out), want, rtol=1e-12, mistakes=mistakes)


@exercise("leaky_relu_backward")
def test_leaky_relu_backward_scales_grad_out(impl):
    g = rng(32)
    grad_out = g.normal(size=(4, 3))
    positive = g.uniform(0.1, 2.0, size=(4, 3))
    expect_close(
        run(impl.leaky_relu_backward, positive, 0.2, grad_out),
        grad_out,
        rtol=1e-12,
        what="where x > 0 the gradient passes through unchanged",
    )
    expect_close(
        run(impl.leaky_relu_backward, -positive, 0.2, grad_out),
        0.2 * grad_out,
        rtol=1e-12,
        what="where x < 0 the gradient is multiplied by the slope",
    )


@exercise("leaky_relu_backward")
def test_leaky_relu_backward_slope_zero_is_relu(impl):
    # slope 0 blocks every x <= 0, including x == 0 exactly
    g = rng(33)
    x = np.where(g.uniform(size=(2, 3, 4)) < 0.3, 0.0, g.normal(size=(2, 3, 4)))
    grad_out = g.normal(size=(2, 3, 4))
    expect_close(
        run(impl.leaky_relu_backward, x, 0.0, grad_out), np.where(x > 0, grad_out, 0.0), rtol=0, atol=0
    )


@exercise("leaky_relu_backward")
def test_leaky_relu_backward_keeps_float32(impl):
    _expect_keeps_float32(impl.leaky_relu_backward, 0.1)


# ---------------------------------------------------------------------------------------------
# elu


@exercise("elu")
def test_elu_hand_values(impl):
    x = np.array([-1.0, 0.0, 2.0, -math.log(2.0)])
    e = math.exp(-1.0)
    expect_close(run(impl.elu, x), np.array([e - 1.0, 0.0, 2.0, -0.5]), rtol=1e-12, what="default alpha = 1")
    expect_close(
        run(impl.elu, x, 2.0),
        np.array([2.0 * (e - 1.0), 0.0, 2.0, -1.0]),
        rtol=1e-12,
        what="alpha = 2 scales the negative side only",
        mistakes={
            "forget to multiply the negative side by alpha": np.array([e - 1.0, 0.0, 2.0, -0.5]),
            "multiply both sides by alpha": np.array([2.0 * (e - 1.0), 0.0, 4.0, -1.0]),
            "use alpha * exp(x), without the - 1": np.array([2.0 * e, 2.0, 2.0, 1.0]),
        },
    )


@exercise("elu")
@pytest.mark.parametrize("alpha", [0.5, 1.0])
@pytest.mark.parametrize("shape", SHAPES[1:])
def test_elu_matches_definition(impl, shape, alpha):
    x = rng(40).normal(size=shape) * 2
    expect_close(run(impl.elu, x, alpha), _elementwise(_elu(alpha), x))


@exercise("elu")
def test_elu_extremes_without_warnings(impl):
    got = _run_quietly(impl.elu, EXTREMES, 1.5)
    expect_close(
        got,
        _elementwise(_elu(1.5), EXTREMES),
        rtol=1e-12,
        what="elu(x) = x for large x, -alpha for very negative x",
    )


@exercise("elu")
def test_elu_is_continuous_at_zero(impl):
    # both branches meet at 0 with slope 1 when alpha = 1: elu(h) ≈ h on either side
    h = np.array([-1e-7, -1e-9, 1e-9, 1e-7])
    expect_close(run(impl.elu, h, 1.0), h, rtol=1e-6, atol=0, what="elu(h) ≈ h for tiny h")


@exercise("elu")
def test_elu_keeps_float32(impl):
    _expect_keeps_float32(impl.elu, 1.5)


# ---------------------------------------------------------------------------------------------
# elu_backward


@exercise("elu_backward")
@pytest.mark.parametrize("alpha", [1.0, 1.7])
@pytest.mark.parametrize("shape", SHAPES)
def test_elu_backward_central_differences(impl, shape, alpha):
    _expect_backward_matches_central_differences(
        impl.elu_backward,
        lambda a: _elementwise(_elu(alpha), a),
        shape,
        50 + len(shape),
        alpha,
        mistakes=_elu_backward_mistakes(alpha),
    )


@exercise("elu_backward")
def test_elu_backward_hand_values(impl):
    # alpha e^x = elu(x) + alpha where x <= 0 (alpha at exactly 0), 1 where x > 0
    x = np.array([-1.0, 0.0, 2.0, -math.log(4.0)])
    grad_out = np.array([3.0, -1.0, 0.5, 2.0])
    want = np.array([3.0 * 2.0 * math.exp(-1.0), -2.0, 0.5, 2.0 * 2.0 * 0.25])
    local_wrong = np.where(x > 0, 1.0, 2.0 * np.expm1(np.minimum(x, 0.0)))
    mistakes = {
        "use elu(x) = alpha (exp(x) - 1) as the derivative instead of elu(x) + alpha": grad_out * local_wrong,
        "take the derivative 1 at x == 0 (x >= 0 instead of x > 0)": grad_out
        * np.where(x >= 0, 1.0, 2.0 * np.exp(np.minimum(x, 0.0))),
        "forget the factor alpha on the negative side": grad_out
        * np.where(x > 0, 1.0, np.exp(np.minimum(x, 0.0))),
        "forget to multiply by grad_out": np.where(x > 0, 1.0, 2.0 * np.exp(np.minimum(x, 0.0))),
    }
    expect_close(run(impl.elu_backward, x, 2.0, grad_out), want, rtol=1e-12, mistakes=mistakes)


@exercise("elu_backward")
def test_elu_backward_scales_with_alpha_on_the_negative_side(impl):
    g = rng(52)
    grad_out = g.normal(size=(3, 5))
    x = _away_from_kinks(g.normal(size=(3, 5)))
    one = run(impl.elu_backward, x, 1.0, grad_out).value
    want = np.where(x > 0, one, 3.0 * one)
    expect_close(
        run(impl.elu_backward, x, 3.0, grad_out),
        want,
        rtol=1e-12,
        what="tripling alpha triples the gradient where x < 0 only",
    )


@exercise("elu_backward")
def test_elu_backward_extremes_without_warnings(impl):
    grad_out = rng(53).normal(size=EXTREMES.shape)
    want = grad_out * _elementwise(lambda v: 1.0 if v > 0 else 0.5 * math.exp(v), EXTREMES)
    # atol: elu(x) + alpha, a correct form, keeps only absolute precision at x = -40
    expect_close(_run_quietly(impl.elu_backward, EXTREMES, 0.5, grad_out), want, rtol=1e-12, atol=1e-15)


@exercise("elu_backward")
def test_elu_backward_keeps_float32(impl):
    _expect_keeps_float32(impl.elu_backward, 1.5)


# ---------------------------------------------------------------------------------------------
# gelu


@exercise("gelu")
def test_gelu_hand_values(impl):
    # 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x³))) in Python floats
    x = np.array([-2.0, -1.0, 0.0, 1.0, 2.0])
    want = np.array([-0.04540230591222494, -0.15880800939172324, 0.0, 0.8411919906082768, 1.954597694087775])
    mistakes = {
        "compute the exact x Φ(x) with erf instead of the tanh form": _elementwise(_gelu_exact, x),
        "forget the factor 0.5": 2 * want,
        "leave out the cubic term 0.044715 x³": 0.5 * x * (1 + np.tanh(GELU_K * x)),
    }
    expect_close(
        run(impl.gelu, x), want, rtol=1e-12, what="GELU's tanh form (see the docstring)", mistakes=mistakes
    )


@exercise("gelu")
@pytest.mark.parametrize("shape", SHAPES[1:])
def test_gelu_matches_definition(impl, shape):
    x = rng(60).normal(size=shape) * 3
    expect_close(run(impl.gelu, x), _elementwise(_gelu, x), rtol=1e-10, atol=1e-12)


@exercise("gelu")
def test_gelu_close_to_exact_erf_form(impl):
    # the tanh form stays within 4.8e-4 of x Φ(x) everywhere
    x = np.linspace(-6.0, 6.0, 61)
    expect_close(
        run(impl.gelu, x),
        _elementwise(_gelu_exact, x),
        rtol=0,
        atol=5e-4,
        what="GELU should approximate x Φ(x) = 0.5 x (1 + erf(x / √2))",
    )


@exercise("gelu")
def test_gelu_odd_part_and_extremes(impl):
    # tanh is odd, so gelu(x) - gelu(-x) = x exactly; gelu(x) → x and gelu(-x) → 0 for large x
    x = rng(62).normal(size=(3, 4)) * 3
    diff = run(impl.gelu, x).value - run(impl.gelu, -x).value
    expect_close(Call(diff, "gelu(x) - gelu(-x) for x=float64[3, 4]"), x, rtol=1e-10, atol=1e-12)
    expect_close(_run_quietly(impl.gelu, EXTREMES), _elementwise(_gelu, EXTREMES), rtol=1e-12, atol=1e-300)


@exercise("gelu")
def test_gelu_keeps_float32(impl):
    _expect_keeps_float32(impl.gelu)


# ---------------------------------------------------------------------------------------------
# gelu_backward


@exercise("gelu_backward")
@pytest.mark.parametrize("shape", SHAPES)
def test_gelu_backward_central_differences(impl, shape):
    _expect_backward_matches_central_differences(
        impl.gelu_backward,
        lambda a: _elementwise(_gelu, a),
        shape,
        70 + len(shape),
        mistakes=_gelu_backward_mistakes,
    )


@exercise("gelu_backward")
def test_gelu_backward_hand_values(impl):
    # gelu'(x) in Python floats; gelu'(0) = 1/2, and gelu' exceeds 1 for x > 0.75
    x = np.array([-2.0, -1.0, 0.0, 1.0, 2.0])
    slopes = np.array(
        [-0.08609925662361825, -0.08296408384578255, 0.5, 1.0829640838457826, 1.0860992566236183]
    )
    grad_out = np.array([1.0, -2.0, 3.0, 0.5, -1.5])
    t = np.tanh(GELU_K * (x + GELU_C * x**3))
    mistakes = {
        "leave out the term from differentiating tanh (0.5 x (1 - t²) du/dx)": 0.5 * (1 + t) * grad_out,
        "forget the chain-rule factor du/dx = sqrt(2/pi) (1 + 3 * 0.044715 x²)": (
            0.5 * (1 + t) + 0.5 * x * (1 - t**2)
        )
        * grad_out,
        "forget to multiply by grad_out": slopes,
    }
    expect_close(run(impl.gelu_backward, x, grad_out), slopes * grad_out, rtol=1e-10, mistakes=mistakes)


@exercise("gelu_backward")
def test_gelu_backward_extremes_without_warnings(impl):
    grad_out = rng(72).normal(size=EXTREMES.shape)
    got = _run_quietly(impl.gelu_backward, EXTREMES, grad_out)
    ends = Call(got.value[[0, -1]], f"{got}[[0, -1]]")
    expect_close(
        ends,
        np.array([0.0, grad_out[-1]]),
        rtol=1e-12,
        atol=1e-300,
        what="gelu'(-1000) = 0 and gelu'(1000) = 1",
    )


@exercise("gelu_backward")
def test_gelu_backward_symmetry(impl):
    # gelu(x) - gelu(-x) = x, so gelu'(x) + gelu'(-x) = 1 for every x
    g = rng(73)
    x, grad_out = g.normal(size=(4, 2)) * 2, g.normal(size=(4, 2))
    total = run(impl.gelu_backward, x, grad_out).value + run(impl.gelu_backward, -x, grad_out).value
    expect_close(
        Call(total, "gelu_backward(x, g) + gelu_backward(-x, g)"),
        grad_out,
        rtol=1e-10,
        atol=1e-12,
        what="gelu'(x) + gelu'(-x) = 1",
    )


@exercise("gelu_backward")
def test_gelu_backward_keeps_float32(impl):
    _expect_keeps_float32(impl.gelu_backward)


# ---------------------------------------------------------------------------------------------
# sigmoid


@exercise("sigmoid")
def test_sigmoid_hand_values(impl):
    x = np.array([0.0, math.log(3.0), -math.log(3.0)])
    mistakes = {
        "flip the sign of the exponent (1 / (1 + exp(x)) is sigmoid(-x))": np.array([0.5, 0.25, 0.75]),
    }
    expect_close(run(impl.sigmoid, x), np.array([0.5, 0.75, 0.25]), rtol=1e-12, mistakes=mistakes)


@exercise("sigmoid")
@pytest.mark.parametrize("shape", SHAPES[1:])
def test_sigmoid_matches_definition(impl, shape):
    x = rng(80).normal(size=shape) * 4
    mistakes = {
        "flip the sign of the exponent (1 / (1 + exp(x)) is sigmoid(-x))": _elementwise(_sigmoid, -x),
        "return exp(-x) / (1 + exp(-x)) on the positive side (that is 1 - sigmoid(x))": _elementwise(
            lambda v: _sigmoid(-v) if v >= 0 else _sigmoid(v), x
        ),
    }
    expect_close(run(impl.sigmoid, x), _elementwise(_sigmoid, x), rtol=1e-12, mistakes=mistakes)


@exercise("sigmoid")
def test_sigmoid_extremes_without_warnings(impl):
    # 1 / (1 + exp(1000)) overflows; sigmoid(-40) = 4.2e-18 must keep its digits
    got = _run_quietly(impl.sigmoid, EXTREMES)
    _expect_relative(got, EXTREMES, _elementwise(_sigmoid, EXTREMES), rtol=1e-12)


@exercise("sigmoid")
def test_sigmoid_symmetry(impl):
    x = rng(82).normal(size=(2, 3, 4)) * 10
    total = run(impl.sigmoid, x).value + run(impl.sigmoid, -x).value
    expect_close(Call(total, "sigmoid(x) + sigmoid(-x)"), np.ones(x.shape), rtol=1e-12)


@exercise("sigmoid")
def test_sigmoid_keeps_float32(impl):
    _expect_keeps_float32(impl.sigmoid)


# ---------------------------------------------------------------------------------------------
# sigmoid_backward


@exercise("sigmoid_backward")
@pytest.mark.parametrize("shape", SHAPES)
def test_sigmoid_backward_central_differences(impl, shape):
    _expect_backward_matches_central_differences(
        impl.sigmoid_backward,
        lambda a: _elementwise(_sigmoid, a),
        shape,
        90 + len(shape),
        mistakes=_sigmoid_backward_mistakes,
    )


@exercise("sigmoid_backward")
def test_sigmoid_backward_hand_values(impl):
    # s (1 - s): 1/4 at 0 (its maximum), 3/16 at ±log 3
    x = np.array([0.0, math.log(3.0), -math.log(3.0)])
    grad_out = np.array([2.0, -1.0, 4.0])
    s = np.array([0.5, 0.75, 0.25])
    mistakes = {
        "forget to multiply by grad_out": s * (1 - s),
        "multiply grad_out by sigmoid(x) instead of by its derivative": grad_out * s,
        "use s (1 + s) instead of s (1 - s)": grad_out * s * (1 + s),
    }
    expect_close(
        run(impl.sigmoid_backward, x, grad_out), np.array([0.5, -0.1875, 0.75]), rtol=1e-12, mistakes=mistakes
    )


@exercise("sigmoid_backward")
def test_sigmoid_backward_extremes_without_warnings(impl):
    grad_out = rng(92).normal(size=EXTREMES.shape)
    want = grad_out * _elementwise(lambda v: _sigmoid(v) * _sigmoid(-v), EXTREMES)
    # atol: s (1 - s) rounds sigmoid'(40) = 4e-18 to 0, which is fine
    expect_close(_run_quietly(impl.sigmoid_backward, EXTREMES, grad_out), want, rtol=1e-10, atol=1e-15)


@exercise("sigmoid_backward")
def test_sigmoid_backward_is_even(impl):
    g = rng(93)
    x, grad_out = g.normal(size=(3, 5)) * 3, g.normal(size=(3, 5))
    expect_close(
        run(impl.sigmoid_backward, -x, grad_out),
        run(impl.sigmoid_backward, x, grad_out).value,
        rtol=1e-10,
        what="sigmoid'(-x) = sigmoid'(x)",
    )


@exercise("sigmoid_backward")
def test_sigmoid_backward_keeps_float32(impl):
    _expect_keeps_float32(impl.sigmoid_backward)


# ---------------------------------------------------------------------------------------------
# tanh


@exercise("tanh")
@pytest.mark.parametrize("shape", SHAPES[1:])
def test_tanh_matches_definition(impl, shape):
    x = rng(100).normal(size=shape) * 2
    mistakes = {
        "compute 2 sigmoid(x) - 1, which is tanh(x / 2) (the identity needs sigmoid(2x))": _elementwise(
            math.tanh, x / 2
        ),
        "return sigmoid(2x) itself instead of 2 sigmoid(2x) - 1": _elementwise(lambda v: _sigmoid(2 * v), x),
    }
    expect_close(run(impl.tanh, x), _elementwise(math.tanh, x), rtol=1e-12, mistakes=mistakes)


@exercise("tanh")
def test_tanh_extremes_without_warnings(impl):
    # (e^x - e^-x) / (e^x + e^-x) is inf / inf = nan at ±1000
    expect_close(_run_quietly(impl.tanh, EXTREMES), _elementwise(math.tanh, EXTREMES), rtol=1e-12)


@exercise("tanh")
def test_tanh_accurate_near_zero(impl):
    # tanh(x) ≈ x: a difference of two exponentials near 1 loses the digits (relative 1e-7)
    x = np.array([1e-10, -3e-9, 2e-6, -1e-5, 0.0])
    _expect_relative(run(impl.tanh, x), x, _elementwise(math.tanh, x), rtol=1e-12)


@exercise("tanh")
def test_tanh_is_a_rescaled_sigmoid(impl):
    # tanh(x) = 2 sigmoid(2x) - 1, and tanh is odd
    x = rng(103).normal(size=(4, 3)) * 3
    got = run(impl.tanh, x)
    expect_close(got, _elementwise(lambda v: 2.0 * _sigmoid(2.0 * v) - 1.0, x), rtol=1e-9, atol=1e-15)
    expect_close(run(impl.tanh, -x), -got.value, rtol=1e-15, atol=0, what="tanh(-x) = -tanh(x)")


@exercise("tanh")
def test_tanh_keeps_float32(impl):
    _expect_keeps_float32(impl.tanh)


# ---------------------------------------------------------------------------------------------
# tanh_backward


@exercise("tanh_backward")
@pytest.mark.parametrize("shape", SHAPES)
def test_tanh_backward_central_differences(impl, shape):
    _expect_backward_matches_central_differences(
        impl.tanh_backward,
        lambda a: _elementwise(math.tanh, a),
        shape,
        110 + len(shape),
        mistakes=_tanh_backward_mistakes,
    )


@exercise("tanh_backward")
def test_tanh_backward_hand_values(impl):
    # 1 - tanh²: 1 at 0, 3/4 where tanh = ±1/2
    x = np.array([0.0, math.atanh(0.5), -math.atanh(0.5)])
    grad_out = np.array([-3.0, 2.0, 0.4])
    t = np.array([0.0, 0.5, -0.5])
    mistakes = {
        "forget to multiply by grad_out": 1 - t**2,
        "use 1 - tanh(x) instead of 1 - tanh(x)²": grad_out * (1 - t),
        "multiply grad_out by tanh(x) instead of by its derivative": grad_out * t,
    }
    expect_close(
        run(impl.tanh_backward, x, grad_out), np.array([-3.0, 1.5, 0.3]), rtol=1e-12, mistakes=mistakes
    )


@exercise("tanh_backward")
def test_tanh_backward_extremes_without_warnings(impl):
    grad_out = rng(112).normal(size=EXTREMES.shape)
    want = grad_out * _elementwise(lambda v: 1.0 - math.tanh(v) ** 2, EXTREMES)
    expect_close(_run_quietly(impl.tanh_backward, EXTREMES, grad_out), want, rtol=1e-9, atol=1e-15)


@exercise("tanh_backward")
def test_tanh_backward_is_even(impl):
    g = rng(113)
    x, grad_out = g.normal(size=(2, 3, 2)), g.normal(size=(2, 3, 2))
    expect_close(
        run(impl.tanh_backward, -x, grad_out),
        run(impl.tanh_backward, x, grad_out).value,
        rtol=1e-12,
        what="tanh'(-x) = tanh'(x)",
    )


@exercise("tanh_backward")
def test_tanh_backward_keeps_float32(impl):
    _expect_keeps_float32(impl.tanh_backward)


# ---------------------------------------------------------------------------------------------
# softmax


@exercise("softmax")
@pytest.mark.parametrize("shape", [(6,), (4, 7), (2, 3, 5)])
def test_softmax_matches_loops(impl, shape):
    x = rng(120).normal(size=shape) * 2
    e = np.exp(x)
    mistakes = {
        "normalise over the first axis instead of the last": e / e.sum(axis=0, keepdims=True),
        "normalise over the whole array instead of over each slice": e / e.sum(),
        "forget to normalise (exp(x) alone)": e,
    }
    expect_close(
        run(impl.softmax, x),
        _softmax_loops(x),
        rtol=1e-10,
        what="softmax over the LAST axis",
        mistakes=mistakes,
    )


@exercise("softmax")
def test_softmax_large_logits(impl):
    # the last row: subtracting the mean (-500) instead of the max still overflows
    x = np.array(
        [[1000.0, 999.0, -1000.0, 1000.0], [-1000.0, -1000.0, -1000.0, -1000.0], [1000.0] + [-1000.0] * 3]
    )
    e = math.exp(-1.0)
    want = np.array(
        [[1 / (2 + e), e / (2 + e), 0.0, 1 / (2 + e)], [0.25, 0.25, 0.25, 0.25], [1.0, 0.0, 0.0, 0.0]]
    )
    expect_close(_run_quietly(impl.softmax, x), want, rtol=1e-12)


@exercise("softmax")
def test_softmax_slices_sum_to_one(impl):
    x = rng(122).normal(size=(3, 2, 6)) * 4
    got = run(impl.softmax, x)
    totals = Call(got.value.sum(axis=-1), f"{got}.sum(axis=-1)")
    expect_close(totals, np.ones((3, 2)), rtol=1e-12)
    expect(bool(np.all(got.value > 0)), f"{got}: every probability should be positive")


@exercise("softmax")
def test_softmax_is_shift_invariant_per_slice(impl):
    x = rng(123).normal(size=(3, 5))
    shifted = x + np.array([[10.0], [-50.0], [300.0]])  # one constant per row
    expect_close(
        run(impl.softmax, shifted),
        _softmax_loops(x),
        rtol=1e-10,
        what="adding a constant to a row of logits changes nothing",
    )


@exercise("softmax")
def test_softmax_keeps_float32(impl):
    _expect_keeps_float32(impl.softmax)


# ---------------------------------------------------------------------------------------------
# softmax_backward


@exercise("softmax_backward")
@pytest.mark.parametrize("shape", SHAPES)
def test_softmax_backward_central_differences(impl, shape):
    _expect_backward_matches_central_differences(
        impl.softmax_backward, _softmax_loops, shape, 130 + len(shape), mistakes=_softmax_backward_mistakes
    )


@exercise("softmax_backward")
@pytest.mark.parametrize("shape", [(5, 3), (2, 4, 6)])
def test_softmax_backward_matches_explicit_jacobian(impl, shape):
    # J = diag(s) - s sᵀ for each slice, built here and multiplied by grad_out in a loop
    g = rng(131)
    x, grad_out = g.normal(size=shape), g.normal(size=shape)
    n = shape[-1]
    s_rows = _softmax_loops(x).reshape(-1, n)
    g_rows = grad_out.reshape(-1, n)
    want = np.stack([(np.diag(s) - np.outer(s, s)).T @ gr for s, gr in zip(s_rows, g_rows)])
    s = _softmax_loops(x)
    mistakes = {
        "forget to subtract sum(grad_out * s) (s * grad_out alone)": s * grad_out,
        "sum grad_out * s over the first axis instead of the last": s
        * (grad_out - (grad_out * s).sum(axis=0, keepdims=True)),
        "sum grad_out over the last axis without weighting it by s": s
        * (grad_out - grad_out.sum(axis=-1, keepdims=True)),
        "use the Jacobian's diagonal only, s (1 - s) grad_out": s * (1 - s) * grad_out,
    }
    expect_close(
        run(impl.softmax_backward, x, grad_out),
        want.reshape(shape),
        rtol=1e-10,
        atol=1e-12,
        mistakes=mistakes,
    )


@exercise("softmax_backward")
def test_softmax_backward_ignores_constant_upstream(impl):
    # softmax ignores a constant added to a row, so its gradient sums to 0 along each row,
    # and an upstream gradient that is constant along a row gives exactly 0
    g = rng(132)
    x = g.normal(size=(4, 6))
    got = run(impl.softmax_backward, x, g.normal(size=(4, 6)))
    sums = Call(got.value.sum(axis=-1), f"{got}.sum(axis=-1)")
    expect_close(sums, np.zeros(4), atol=1e-12, what="each row of dL/dx should sum to 0")
    constant = np.repeat(g.normal(size=(4, 1)), 6, axis=1)
    expect_close(
        run(impl.softmax_backward, x, constant),
        np.zeros((4, 6)),
        atol=1e-12,
        what="grad_out constant along each row",
    )


@exercise("softmax_backward")
def test_softmax_backward_large_logits(impl):
    # s = [1/2, 1/2, 0], g . s = 2, so dL/dx = s (g - 2) = [-1/2, 1/2, 0]
    x = np.array([[1000.0, 1000.0, -1000.0], [-1000.0, 0.0, 1000.0]])
    grad_out = np.array([[1.0, 3.0, 5.0], [2.0, -1.0, 7.0]])
    want = np.array([[-0.5, 0.5, 0.0], [0.0, 0.0, 0.0]])
    expect_close(_run_quietly(impl.softmax_backward, x, grad_out), want, rtol=1e-12, atol=1e-300)


@exercise("softmax_backward")
def test_softmax_backward_keeps_float32(impl):
    _expect_keeps_float32(impl.softmax_backward)
