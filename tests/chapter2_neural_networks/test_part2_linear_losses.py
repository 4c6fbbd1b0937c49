"""Tests for chapter 2, part 2: the linear layer, its backward pass, and the losses (MSE, binary
cross-entropy on logits, softmax cross-entropy with integer and with soft targets) with theirs.

Expected values come from loops over Python floats kept in this file (the losses evaluated
from their definitions, shifted by the row max where exponentials would overflow), hand
calculations at logits of ±1000, identities (a batch repeated twice has the same mean loss),
and central differences of this file's losses for every backward pass. Shapes are never
square (batch, d_in, d_out and classes all differ) so that a missing transpose or a wrong
axis shows.
"""

import math

import numpy as np
import pytest

from grader.testkit import (
    Call,
    exercise,
    expect,
    expect_close,
    expect_equal,
    numeric_grad,
    rng,
    run,
    run_without_warnings,
)

# (batch, d_in, d_out) and (batch, classes): several batch sizes, including 1, no two alike
LINEAR_SHAPES = [(1, 3, 4), (5, 3, 2), (7, 4, 6)]
LOSS_SHAPES = [(1, 3), (4, 3), (6, 5)]
CLASS_SHAPES = [(1, 4), (3, 5), (8, 3)]


def _expect_float(call: Call) -> None:
    """A loss is one number for the whole batch, not one per example."""
    value = call.value
    shape = getattr(value, "shape", None)
    expect(
        isinstance(value, float) and not shape,
        f"{call}: returned {type(value).__name__}"
        + (f" of shape {shape}" if shape else "")
        + "; a loss is a single Python float (average over the batch, then float(...))",
    )


def _repeated(*arrays: np.ndarray) -> list[np.ndarray]:
    """The batch written twice: a mean over the batch does not change, a sum doubles."""
    return [np.concatenate([a, a]) for a in arrays]


def _expect_mean_not_sum(fn, *args: np.ndarray) -> None:
    once = run(fn, *args)
    _expect_float(once)
    twice = run(fn, *_repeated(*args))
    expect_close(
        twice, once.value, rtol=1e-9, what=f"the same batch twice over should give {once.value:.6g} again"
    )


# --- losses from their definitions, one Python float at a time ---------------------------------


def _softplus(z: float) -> float:
    return max(z, 0.0) + math.log1p(math.exp(-abs(z)))


def _bce_loops(z: np.ndarray, y: np.ndarray) -> float:
    # -y log σ(z) - (1 - y) log(1 - σ(z)), with -log σ(z) = softplus(-z), -log(1 - σ(z)) = softplus(z)
    terms = [t * _softplus(-a) + (1 - t) * _softplus(a) for a, t in zip(z.ravel(), y.ravel())]
    return math.fsum(terms) / z.size


def _log_softmax_row(row: list[float]) -> list[float]:
    top = max(row)
    lse = top + math.log(math.fsum(math.exp(v - top) for v in row))
    return [v - lse for v in row]


def _ce_loops(logits: np.ndarray, labels: np.ndarray) -> float:
    rows = logits.tolist()
    return -math.fsum(_log_softmax_row(r)[k] for r, k in zip(rows, labels.tolist())) / len(rows)


def _soft_ce_loops(logits: np.ndarray, targets: np.ndarray) -> float:
    total = 0.0
    for row, q in zip(logits.tolist(), targets.tolist()):
        total -= math.fsum(qc * lp for qc, lp in zip(q, _log_softmax_row(row)) if qc != 0)
    return total / len(logits)


def _expect_gradient(call: Call, loss, at: np.ndarray, what: str = "", mistakes=None) -> None:
    """call's value is the gradient of `loss` at `at`, by central differences."""
    expect_close(
        call, numeric_grad(loss, at), rtol=1e-5, atol=1e-8, what=what or "the gradient", mistakes=mistakes
    )


def _sigmoid(z: np.ndarray) -> np.ndarray:
    return np.array(
        [1 / (1 + math.exp(-v)) if v >= 0 else math.exp(v) / (1 + math.exp(v)) for v in z.ravel()]
    ).reshape(z.shape)


def _per_entry_mistakes(right: np.ndarray, batch: int) -> dict:
    """A gradient of a mean over every entry, divided by the wrong count or not at all."""
    n = right.size
    if batch == 1:  # dividing by the batch size is then the same as not dividing at all
        return {
            "divide by the batch size (here 1) instead of by every entry, or not at all": right * n,
            "flip the sign of the gradient": -right,
        }
    return {
        "forget to divide by the number of entries N": right * n,
        "divide by the batch size instead of by every entry (batch * n)": right * n / batch,
        "flip the sign of the gradient": -right,
    }


def _expect_keeps_float32(fn, *args) -> None:
    """fn on float32 arrays (integer labels stay as they are) returns float32 arrays only."""
    args32 = [a.astype(np.float32) if a.dtype.kind == "f" else a for a in args]
    got = run(fn, *args32)
    results = got.value if isinstance(got.value, tuple) else (got.value,)
    dtypes = [getattr(r, "dtype", type(r).__name__) for r in results]
    expect(
        all(d == np.float32 for d in dtypes),
        f"{got}: dtype {', '.join(map(str, dtypes))}, expected float32 (float32 in, float32 out: "
        "a NumPy float64 constant or an array made with np.zeros or np.ones turns it into float64)",
    )


def _labels(seed: int, batch: int, classes: int) -> np.ndarray:
    return rng(seed).integers(0, classes, size=batch)


# --- linear -------------------------------------------------------------------------------------


@exercise("linear")
@pytest.mark.parametrize("batch, d_in, d_out", LINEAR_SHAPES)
def test_linear_matches_loops(impl, batch, d_in, d_out):
    g = rng(batch)
    x, w, b = g.normal(size=(batch, d_in)), g.normal(size=(d_in, d_out)), g.normal(size=d_out)
    want = np.array(
        [
            [math.fsum(x[i, k] * w[k, j] for k in range(d_in)) + b[j] for j in range(d_out)]
            for i in range(batch)
        ]
    )
    mistakes = {"forget to add the bias b": x @ w, "subtract the bias instead of adding it": x @ w - b}
    expect_close(run(impl.linear, x, w, b), want, mistakes=mistakes)


@exercise("linear")
def test_linear_hand_case(impl):
    x = np.array([[1.0, 2.0], [0.0, -1.0], [3.0, 0.5]])
    w = np.array([[1.0, 0.0, 2.0], [0.5, -1.0, 1.0]])  # column j: the weights of output j
    b = np.array([10.0, 20.0, 30.0])
    want = np.array([[12.0, 18.0, 34.0], [9.5, 21.0, 29.0], [13.25, 19.5, 36.5]])
    got = run(impl.linear, x, w, b)
    expect_close(
        got,
        want,
        mistakes={"forget to add the bias b": x @ w, "subtract the bias instead of adding it": x @ w - b},
    )
    expect(got.value.dtype == np.float64, f"{got}: dtype {got.value.dtype}, expected float64")


@exercise("linear")
def test_linear_adds_the_bias_to_every_row(impl):
    # zero weights: every output row is b itself
    b = np.array([1.5, -2.0, 0.25, 4.0])
    got = run(impl.linear, rng(3).normal(size=(5, 2)), np.zeros((2, 4)), b)
    expect_close(got, np.tile(b, (5, 1)), what="with w = 0 every row should equal b")


@exercise("linear")
def test_linear_is_affine_in_x(impl):
    # linear(x1 + x2) - linear(x2) = x1 @ w: the bias is added once, not per term
    g = rng(4)
    x1, x2 = g.normal(size=(3, 5)), g.normal(size=(3, 5))
    w, b = g.normal(size=(5, 2)), g.normal(size=2)
    diff = run(impl.linear, x1 + x2, w, b).value - run(impl.linear, x2, w, b).value
    expect_close(Call(diff, "linear(x1 + x2, w, b) - linear(x2, w, b)"), x1 @ w, atol=1e-12)


@exercise("linear")
def test_linear_keeps_float32(impl):
    g = rng(900)
    _expect_keeps_float32(impl.linear, g.normal(size=(4, 3)), g.normal(size=(3, 2)), g.normal(size=2))


# --- linear_backward ----------------------------------------------------------------------------


def _linear_problem(seed: int, batch: int, d_in: int, d_out: int):
    g = rng(seed)
    x, w, b = g.normal(size=(batch, d_in)), g.normal(size=(d_in, d_out)), g.normal(size=d_out)
    grad_out = g.normal(size=(batch, d_out))  # random upstream gradient, never all ones
    return x, w, b, grad_out


def _expect_three_grads(call: Call, shapes: list[tuple[int, ...]]) -> tuple[np.ndarray, ...]:
    value = call.value
    expect(
        isinstance(value, tuple) and len(value) == 3,
        f"{call}: returned {type(value).__name__}; expected a tuple (grad_x, grad_w, grad_b)",
    )
    for name, got, shape in zip(("grad_x", "grad_w", "grad_b"), value, shapes):
        expect(
            getattr(got, "shape", None) == shape,
            f"{call}: {name} has shape {getattr(got, 'shape', None)}, expected {shape} "
            "(a gradient has the shape of what it is the gradient of)",
        )
    return value


@exercise("linear_backward")
@pytest.mark.parametrize("batch, d_in, d_out", LINEAR_SHAPES)
def test_linear_backward_matches_central_differences(impl, batch, d_in, d_out):
    # L = sum(grad_out * (x @ w + b)) has dL/dy = grad_out, so its gradients are what we want.
    x, w, b, grad_out = _linear_problem(10 + batch, batch, d_in, d_out)
    call = run(impl.linear_backward, x, w, grad_out)
    grads = _expect_three_grads(call, [x.shape, w.shape, b.shape])
    numeric = [
        numeric_grad(lambda x_: np.sum(grad_out * (x_ @ w + b)), x),
        numeric_grad(lambda w_: np.sum(grad_out * (x @ w_ + b)), w),
        numeric_grad(lambda b_: np.sum(grad_out * (x @ w + b_)), b),
    ]
    mistakes = {
        "grad_x": {"forget to transpose w (grad_out @ w instead of grad_out @ w.T)": lambda: grad_out @ w},
        "grad_w": {
            "average over the batch instead of summing (x.T @ grad_out / batch)": x.T @ grad_out / batch,
            "multiply in the other order (grad_out.T @ x, transposed)": lambda: grad_out.T @ x,
        },
        "grad_b": {
            "average grad_out over the batch instead of summing it": grad_out.mean(axis=0),
            "forget to sum over the batch (grad_out[0] alone)": grad_out[0],
        },
    }
    for name, got, want in zip(("grad_x", "grad_w", "grad_b"), grads, numeric):
        expect_close(Call(got, str(call)), want, rtol=1e-6, atol=1e-8, what=name, mistakes=mistakes[name])


@exercise("linear_backward")
def test_linear_backward_grad_b_sums_over_the_batch(impl):
    grad_out = np.array([[1.0, -2.0], [3.0, 0.5], [-1.0, 4.0], [0.5, 0.5]])
    x, w = rng(20).normal(size=(4, 3)), rng(21).normal(size=(3, 2))
    call = run(impl.linear_backward, x, w, grad_out)
    _, _, grad_b = _expect_three_grads(call, [(4, 3), (3, 2), (2,)])
    # b is added to all 4 rows, so each row's upstream gradient reaches it: a sum, not a mean
    expect_close(
        Call(grad_b, str(call)),
        np.array([3.5, 3.0]),
        what="grad_b (column sums of grad_out)",
        mistakes={"average grad_out over the batch instead of summing it": np.array([3.5, 3.0]) / 4},
    )


@exercise("linear_backward")
def test_linear_backward_grad_w_is_a_sum_of_outer_products(impl):
    x, w, _, grad_out = _linear_problem(22, 6, 4, 3)
    call = run(impl.linear_backward, x, w, grad_out)
    _, grad_w, _ = _expect_three_grads(call, [(6, 4), (4, 3), (3,)])
    # each example i contributes outer(x[i], grad_out[i]), entry [k, j] = x[i, k] * grad_out[i, j]
    want = sum(np.outer(x[i], grad_out[i]) for i in range(6))
    expect_close(
        Call(grad_w, str(call)),
        want,
        what="grad_w[k, j] = sum_i x[i, k] grad_out[i, j]",
        mistakes={"average over the batch instead of summing (x.T @ grad_out / batch)": want / 6},
    )


@exercise("linear_backward")
def test_linear_backward_hand_case(impl):
    x = np.array([[1.0, 2.0]])
    w = np.array([[1.0, 0.0, -1.0], [2.0, 3.0, 0.5]])
    grad_out = np.array([[1.0, -1.0, 2.0]])
    call = run(impl.linear_backward, x, w, grad_out)
    grad_x, grad_w, grad_b = _expect_three_grads(call, [(1, 2), (2, 3), (3,)])
    expect_close(Call(grad_x, str(call)), np.array([[-1.0, 0.0]]), what="grad_x = grad_out @ w.T")
    expect_close(Call(grad_w, str(call)), np.array([[1.0, -1.0, 2.0], [2.0, -2.0, 4.0]]), what="grad_w")
    expect_close(Call(grad_b, str(call)), np.array([1.0, -1.0, 2.0]), what="grad_b")


@exercise("linear_backward")
def test_linear_backward_keeps_float32(impl):
    g = rng(901)
    _expect_keeps_float32(
        impl.linear_backward, g.normal(size=(4, 3)), g.normal(size=(3, 2)), g.normal(size=(4, 2))
    )


# --- mse_loss -----------------------------------------------------------------------------------


@exercise("mse_loss")
def test_mse_loss_hand_case(impl):
    pred = np.array([[1.0, 2.0, 3.0], [0.0, -1.0, 5.0]])
    target = np.array([[1.0, 0.0, 0.0], [1.0, 1.0, 5.0]])
    # squared errors 0, 4, 9, 1, 4, 0: sum 18 over 6 elements (not over the batch of 2)
    got = run(impl.mse_loss, pred, target)
    _expect_float(got)
    mistakes = {
        "divide by the batch size instead of by every element (batch * n)": 9.0,
        "sum the squared errors instead of averaging them": 18.0,
        "take the root of the mean (RMSE)": math.sqrt(3.0),
        "average pred - target without squaring it": float(np.mean(pred - target)),
    }
    expect_close(got, 3.0, what="mean over all 6 elements", mistakes=mistakes)


@exercise("mse_loss")
@pytest.mark.parametrize("batch, n", LOSS_SHAPES)
def test_mse_loss_matches_loops(impl, batch, n):
    g = rng(30 + batch)
    pred, target = g.normal(size=(batch, n)), g.normal(size=(batch, n))
    want = math.fsum((p - t) ** 2 for p, t in zip(pred.ravel(), target.ravel())) / pred.size
    got = run(impl.mse_loss, pred, target)
    _expect_float(got)
    expect_close(got, want)


@exercise("mse_loss")
def test_mse_loss_is_a_mean_over_the_batch(impl):
    g = rng(34)
    _expect_mean_not_sum(impl.mse_loss, g.normal(size=(3, 4)), g.normal(size=(3, 4)))


@exercise("mse_loss")
def test_mse_loss_zero_and_symmetric(impl):
    g = rng(35)
    pred, target = g.normal(size=(5, 2)), g.normal(size=(5, 2))
    expect_close(run(impl.mse_loss, pred, pred.copy()), 0.0, what="pred == target")
    expect_close(
        run(impl.mse_loss, target, pred),
        run(impl.mse_loss, pred, target).value,
        what="swapping pred and target",
    )


# --- mse_loss_backward --------------------------------------------------------------------------


def _mse(pred: np.ndarray, target: np.ndarray) -> float:
    return math.fsum(((pred - target) ** 2).ravel()) / pred.size


@exercise("mse_loss_backward")
@pytest.mark.parametrize("batch, n", LOSS_SHAPES)
def test_mse_loss_backward_matches_central_differences(impl, batch, n):
    g = rng(40 + batch)
    pred, target = g.normal(size=(batch, n)), g.normal(size=(batch, n))
    right = 2 * (pred - target) / pred.size
    mistakes = {"forget the factor 2 from the square": right / 2, **_per_entry_mistakes(right, batch)}
    got = run(impl.mse_loss_backward, pred, target)
    _expect_gradient(got, lambda p: _mse(p, target), pred, mistakes=mistakes)


@exercise("mse_loss_backward")
def test_mse_loss_backward_hand_case(impl):
    pred = np.array([[1.0, 2.0, 3.0], [0.0, -1.0, 5.0]])
    target = np.array([[1.0, 0.0, 0.0], [1.0, 1.0, 5.0]])
    # 2 (pred - target) / 6: the 6 is every element, the 2 comes from the square
    want = np.array([[0.0, 4.0, 6.0], [-2.0, -4.0, 0.0]]) / 6
    mistakes = {
        "forget the factor 2 from the square": want / 2,
        "divide by the batch size instead of by every element (batch * n)": want * 3,
        "forget to divide by the number of elements": want * 6,
        "use target - pred (the sign flipped)": -want,
    }
    expect_close(run(impl.mse_loss_backward, pred, target), want, mistakes=mistakes)


@exercise("mse_loss_backward")
def test_mse_loss_backward_newton_step_lands_on_target(impl):
    # the loss is quadratic with Hessian (2/N) I, so one Newton step,
    # pred - (N/2) grad, lands exactly on the target
    g = rng(43)
    pred, target = g.normal(size=(4, 3)), g.normal(size=(4, 3))
    got = run(impl.mse_loss_backward, pred, target)
    landed = Call(pred - (pred.size / 2) * got.value, f"pred - (N/2) * {got}")
    expect_close(landed, target, atol=1e-12, what="one Newton step should land on the target")


@exercise("mse_loss_backward")
def test_mse_loss_backward_keeps_float32(impl):
    g = rng(902)
    _expect_keeps_float32(impl.mse_loss_backward, g.normal(size=(4, 3)), g.normal(size=(4, 3)))


# --- bce_with_logits ----------------------------------------------------------------------------


@exercise("bce_with_logits")
@pytest.mark.parametrize("batch, n", LOSS_SHAPES)
def test_bce_with_logits_matches_loops(impl, batch, n):
    g = rng(50 + batch)
    z = g.normal(size=(batch, n)) * 3
    y = g.integers(0, 2, size=(batch, n)).astype(np.float64)
    got = run(impl.bce_with_logits, z, y)
    _expect_float(got)
    mistakes = {
        "sum over the entries instead of averaging": _bce_loops(z, y) * z.size,
        "average over the batch only (sum over each row, then mean)": _bce_loops(z, y) * n,
        "swap y and 1 - y": _bce_loops(z, 1 - y),
    }
    expect_close(got, _bce_loops(z, y), what="mean over all batch * n entries", mistakes=mistakes)


@exercise("bce_with_logits")
def test_bce_with_logits_extreme_logits(impl):
    # σ(±1000) is 0 or 1 in float64, so log(σ) or log(1 - σ) is -inf for a naive formula.
    # Right and confident costs 0; wrong and confident costs |z| = 1000; z = 0 costs log 2.
    z = np.array([[1000.0, -1000.0, 1000.0], [-1000.0, 0.0, 40.0]])
    y = np.array([[1.0, 0.0, 0.0], [1.0, 1.0, 0.0]])
    per_entry = [0.0, 0.0, 1000.0, 1000.0, math.log(2), 40.0 + math.log1p(math.exp(-40.0))]
    expect_close(run_without_warnings(impl.bce_with_logits, z, y), math.fsum(per_entry) / 6, rtol=1e-12)


@exercise("bce_with_logits")
def test_bce_with_logits_soft_targets(impl):
    # y may be any probability, not only 0 or 1 (label smoothing, distillation)
    g = rng(55)
    z = g.normal(size=(3, 4)) * 2
    y = g.uniform(0, 1, size=(3, 4))
    expect_close(run(impl.bce_with_logits, z, y), _bce_loops(z, y), what="targets in (0, 1)")


@exercise("bce_with_logits")
def test_bce_with_logits_is_a_mean_over_the_batch(impl):
    g = rng(56)
    z, y = g.normal(size=(4, 2)), g.integers(0, 2, size=(4, 2)).astype(np.float64)
    _expect_mean_not_sum(impl.bce_with_logits, z, y)


# --- bce_with_logits_backward -------------------------------------------------------------------


@exercise("bce_with_logits_backward")
@pytest.mark.parametrize("batch, n", LOSS_SHAPES)
def test_bce_with_logits_backward_matches_central_differences(impl, batch, n):
    g = rng(60 + batch)
    z = g.normal(size=(batch, n)) * 2
    y = g.uniform(0, 1, size=(batch, n))
    got = run(impl.bce_with_logits_backward, z, y)
    mistakes = _per_entry_mistakes((_sigmoid(z) - y) / z.size, batch)
    _expect_gradient(got, lambda z_: _bce_loops(z_, y), z, mistakes=mistakes)


@exercise("bce_with_logits_backward")
def test_bce_with_logits_backward_hand_case(impl):
    # at z = 0, σ = 1/2: the gradient is (1/2 - y) / N with N = 4 entries
    z = np.zeros((2, 2))
    y = np.array([[1.0, 0.0], [0.25, 0.5]])
    want = np.array([[-0.5, 0.5], [0.25, 0.0]]) / 4
    mistakes = {
        "forget to divide by the number of entries N": want * 4,
        "divide by the batch size instead of by every entry (batch * n)": want * 2,
        "use y - sigmoid(z) (the sign flipped)": -want,
    }
    expect_close(run(impl.bce_with_logits_backward, z, y), want, mistakes=mistakes)


@exercise("bce_with_logits_backward")
def test_bce_with_logits_backward_extreme_logits(impl):
    # σ(1000) = 1 and σ(-1000) = 0 exactly in float64: gradients (1 - y)/N and (0 - y)/N
    z = np.array([[1000.0, -1000.0], [-1000.0, 1000.0], [0.0, 800.0]])
    y = np.array([[1.0, 1.0], [0.0, 0.0], [1.0, 0.0]])
    want = np.array([[0.0, -1.0], [0.0, 1.0], [-0.5, 1.0]]) / 6
    expect_close(run_without_warnings(impl.bce_with_logits_backward, z, y), want, rtol=1e-12, atol=1e-15)


@exercise("bce_with_logits_backward")
def test_bce_with_logits_backward_recovers_sigmoid(impl):
    # N * grad = σ(z) - y: adding y back gives the predicted probabilities
    g = rng(64)
    z = g.normal(size=(5, 3)) * 4
    y = g.integers(0, 2, size=(5, 3)).astype(np.float64)
    got = run(impl.bce_with_logits_backward, z, y)
    expect_close(
        Call(z.size * got.value + y, f"{z.size} * {got} + targets"),
        1 / (1 + np.exp(-z)),
        what="N * grad + y should be sigmoid(z)",
    )


@exercise("bce_with_logits_backward")
def test_bce_with_logits_backward_keeps_float32(impl):
    g = rng(903)
    _expect_keeps_float32(impl.bce_with_logits_backward, g.normal(size=(4, 3)), g.uniform(size=(4, 3)))


# --- cross_entropy_with_logits ------------------------------------------------------------------


@exercise("cross_entropy_with_logits")
@pytest.mark.parametrize("batch, classes", CLASS_SHAPES)
def test_cross_entropy_with_logits_matches_loops(impl, batch, classes):
    logits = rng(70 + batch).normal(size=(batch, classes)) * 3
    labels = _labels(71 + batch, batch, classes)
    got = run(impl.cross_entropy_with_logits, logits, labels)
    _expect_float(got)
    want = _ce_loops(logits, labels)
    mistakes = {
        "sum over the batch instead of averaging": want * batch,
        "average over every entry (batch * classes) instead of over the batch": want / classes,
        "forget the minus sign of -log softmax": -want,
        "forget to subtract the log of the sum (the mean of -logits[i, labels[i]])": lambda: (
            -float(np.mean(logits[np.arange(batch), labels]))
        ),
    }
    expect_close(got, want, what="mean over the batch of -log softmax[label]", mistakes=mistakes)


@exercise("cross_entropy_with_logits")
def test_cross_entropy_with_logits_hand_case(impl):
    # constant logits: every class has probability 1/4, so the loss is log 4 whatever the label;
    # the second row puts e^1 against three e^0 on the true class 2
    logits = np.array([[0.5, 0.5, 0.5, 0.5], [0.0, 0.0, 1.0, 0.0]])
    labels = np.array([3, 2])
    want = (math.log(4) + math.log(3 + math.e) - 1.0) / 2
    mistakes = {
        "sum over the batch instead of averaging": want * 2,
        "average over every entry (batch * classes) instead of over the batch": want / 4,
        "forget the minus sign of -log softmax": -want,
    }
    expect_close(run(impl.cross_entropy_with_logits, logits, labels), want, rtol=1e-12, mistakes=mistakes)


@exercise("cross_entropy_with_logits")
def test_cross_entropy_with_logits_extreme_logits(impl):
    logits = np.array([[1000.0, -1000.0, 0.0], [1000.0, -1000.0, 0.0], [-1000.0, -1000.0, -1000.0]])
    labels = np.array([0, 1, 2], dtype=np.int32)
    # right and sure: 0; wrong and sure: 1000 - (-1000) = 2000; all equal: log 3
    want = (0.0 + 2000.0 + math.log(3)) / 3
    expect_close(run_without_warnings(impl.cross_entropy_with_logits, logits, labels), want, rtol=1e-12)


@exercise("cross_entropy_with_logits")
def test_cross_entropy_with_logits_is_a_mean_over_the_batch(impl):
    # also not a mean over batch * classes entries
    logits, labels = rng(74).normal(size=(5, 3)), _labels(75, 5, 3)
    _expect_mean_not_sum(impl.cross_entropy_with_logits, logits, labels)
    expect_close(
        run(impl.cross_entropy_with_logits, logits, labels),
        _ce_loops(logits, labels),
        what="averaged over the 5 examples",
    )


@exercise("cross_entropy_with_logits")
def test_cross_entropy_with_logits_ignores_row_shifts(impl):
    # softmax(z + c) = softmax(z) for a constant c per row
    logits, labels = rng(76).normal(size=(4, 6)), _labels(77, 4, 6)
    shifted = logits + np.array([[500.0], [-700.0], [0.0], [900.0]])
    got = run_without_warnings(impl.cross_entropy_with_logits, shifted, labels)
    expect_close(got, _ce_loops(logits, labels), rtol=1e-9, what="each row shifted by a constant")


# --- softmax_cross_entropy_backward -------------------------------------------------------------


@exercise("softmax_cross_entropy_backward")
@pytest.mark.parametrize("batch, classes", CLASS_SHAPES)
def test_softmax_cross_entropy_backward_matches_central_differences(impl, batch, classes):
    logits = rng(80 + batch).normal(size=(batch, classes)) * 2
    labels = _labels(81 + batch, batch, classes)
    got = run(impl.softmax_cross_entropy_backward, logits, labels)
    e = np.exp(logits - logits.max(axis=1, keepdims=True))
    p = e / e.sum(axis=1, keepdims=True)
    one_hot = (np.arange(classes) == labels[:, None]).astype(float)
    mistakes = {
        "forget to divide by the batch size": p - one_hot,
        "forget to subtract the one-hot of the labels": p / batch,
        "use one_hot - softmax (the sign flipped)": (one_hot - p) / batch,
        "divide by every entry (batch * classes) instead of by the batch size": (p - one_hot)
        / (batch * classes),
    }
    _expect_gradient(got, lambda z: _ce_loops(z, labels), logits, mistakes=mistakes)


@exercise("softmax_cross_entropy_backward")
def test_softmax_cross_entropy_backward_hand_case(impl):
    # constant logits: softmax is 1/3 everywhere; minus 1 at the label; over a batch of 2
    logits = np.array([[2.0, 2.0, 2.0], [-1.0, -1.0, -1.0]])
    labels = np.array([2, 0])
    want = np.array([[1 / 3, 1 / 3, -2 / 3], [-2 / 3, 1 / 3, 1 / 3]]) / 2
    mistakes = {
        "forget to divide by the batch size": want * 2,
        "forget to subtract the one-hot of the labels": np.full((2, 3), 1 / 3) / 2,
        "use one_hot - softmax (the sign flipped)": -want,
        "divide by every entry (batch * classes) instead of by the batch size": want / 3,
    }
    expect_close(
        run(impl.softmax_cross_entropy_backward, logits, labels), want, rtol=1e-12, mistakes=mistakes
    )


@exercise("softmax_cross_entropy_backward")
def test_softmax_cross_entropy_backward_extreme_logits(impl):
    logits = np.array([[1000.0, -1000.0, 0.0, 0.0], [1000.0, -1000.0, 0.0, 0.0], [-1000.0] * 4])
    labels = np.array([0, 1, 3], dtype=np.int32)
    want = np.array([[0.0, 0.0, 0.0, 0.0], [1.0, -1.0, 0.0, 0.0], [0.25, 0.25, 0.25, -0.75]]) / 3
    got = run_without_warnings(impl.softmax_cross_entropy_backward, logits, labels)
    expect_close(got, want, rtol=1e-12, atol=1e-15)


@exercise("softmax_cross_entropy_backward")
def test_softmax_cross_entropy_backward_rows_sum_to_zero(impl):
    # each row is (p - onehot) / batch: p sums to 1, the one-hot to 1, so the row to 0;
    # and the entry at the label is the only negative one, -(1 - p) / batch
    logits, labels = rng(84).normal(size=(7, 4)) * 3, _labels(85, 7, 4)
    got = run(impl.softmax_cross_entropy_backward, logits, labels)
    expect_close(Call(got.value.sum(axis=1), f"{got}.sum(axis=1)"), np.zeros(7), atol=1e-12)
    negative = got.value < 0
    expect_equal(
        Call(negative, f"{got} < 0"),
        np.arange(4) == labels[:, None],
        what="negative exactly at [i, labels[i]]",
    )


@exercise("softmax_cross_entropy_backward")
def test_softmax_cross_entropy_backward_keeps_float32(impl):
    _expect_keeps_float32(
        impl.softmax_cross_entropy_backward, rng(904).normal(size=(4, 3)), _labels(905, 4, 3)
    )


# --- cross_entropy_with_soft_targets ------------------------------------------------------------


def _distributions(seed: int, batch: int, classes: int) -> np.ndarray:
    q = rng(seed).uniform(0.0, 1.0, size=(batch, classes))
    return q / q.sum(axis=1, keepdims=True)


@exercise("cross_entropy_with_soft_targets")
@pytest.mark.parametrize("batch, classes", CLASS_SHAPES)
def test_cross_entropy_with_soft_targets_matches_loops(impl, batch, classes):
    logits = rng(90 + batch).normal(size=(batch, classes)) * 3
    targets = _distributions(91 + batch, batch, classes)
    got = run(impl.cross_entropy_with_soft_targets, logits, targets)
    _expect_float(got)
    want = _soft_ce_loops(logits, targets)
    mistakes = {
        "sum over the batch instead of averaging": want * batch,
        "average over every entry (batch * classes) instead of over the batch": want / classes,
        "forget the minus sign": -want,
    }
    expect_close(got, want, what="mean over the batch", mistakes=mistakes)


@exercise("cross_entropy_with_soft_targets")
def test_cross_entropy_with_soft_targets_one_hot_is_plain_cross_entropy(impl):
    logits, labels = rng(94).normal(size=(6, 4)), _labels(95, 6, 4)
    one_hot = (np.arange(4) == labels[:, None]).astype(np.float64)
    expect_close(
        run(impl.cross_entropy_with_soft_targets, logits, one_hot),
        _ce_loops(logits, labels),
        what="one-hot targets give the integer-label cross-entropy",
    )


@exercise("cross_entropy_with_soft_targets")
def test_cross_entropy_with_soft_targets_minimum_is_the_entropy(impl):
    # with logits = log q, softmax(logits) = q and the loss is the entropy of q (Gibbs);
    # shifting each row (here by 300) changes nothing
    q = _distributions(96, 3, 5)
    entropy = -math.fsum(float(v) * math.log(v) for v in q.ravel()) / 3
    got = run_without_warnings(impl.cross_entropy_with_soft_targets, np.log(q) + 300.0, q)
    expect_close(got, entropy, rtol=1e-9, what="mean entropy of the targets")


@exercise("cross_entropy_with_soft_targets")
def test_cross_entropy_with_soft_targets_extreme_logits(impl):
    # the -1000 class has log-probability -2000, finite; with target 0 it adds exactly 0.
    # the last row: subtracting the row mean (-500) instead of the max still overflows
    logits = np.array([[1000.0, -1000.0, 1000.0], [-1000.0, -1000.0, -1000.0], [1000.0, -1000.0, -1000.0]])
    targets = np.array([[0.5, 0.0, 0.5], [0.1, 0.2, 0.7], [1.0, 0.0, 0.0]])
    want = (math.log(2) + math.log(3)) / 3
    expect_close(
        run_without_warnings(impl.cross_entropy_with_soft_targets, logits, targets), want, rtol=1e-12
    )
    # smoothing puts mass on the -1000 class: it then costs 0.1 * 2000 on top of 0.9 * log 2
    smoothed = np.array([[0.45, 0.1, 0.45]])
    expect_close(
        run_without_warnings(impl.cross_entropy_with_soft_targets, logits[:1], smoothed),
        0.9 * math.log(2) + 0.1 * (2000.0 + math.log(2)),
        rtol=1e-12,
        what="0.1 of the target on a class with log-probability -2000 - log 2",
    )


@exercise("cross_entropy_with_soft_targets")
def test_cross_entropy_with_soft_targets_is_a_mean_over_the_batch(impl):
    logits, targets = rng(97).normal(size=(4, 3)), _distributions(98, 4, 3)
    _expect_mean_not_sum(impl.cross_entropy_with_soft_targets, logits, targets)
