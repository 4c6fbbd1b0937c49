"""Tests for chapter 2, part 3: inverted dropout, BatchNorm (train, eval, running statistics,
backward), LayerNorm and RMSNorm with their backward passes.

Expected values come from the definitions evaluated one column (BatchNorm) or one row
(LayerNorm, RMSNorm) at a time with Python floats, from hand calculations (with eps = 0 a
batch of two normalises to exactly -1 and +1, whatever its values), from invariances
(LayerNorm ignores a per-row shift and scale, RMSNorm a per-row scale), and from central
differences of this file's forward passes for every backward pass, with random upstream
gradients. Dropout is tested statistically on 10^5 entries with a margin of 6 standard
errors, which a correct sampler exceeds with probability about 2e-9. Shapes are never square.
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
    expect_parts,
    numeric_grad,
    rng,
    run,
    run_without_warnings,
)

# --- forward passes from their definitions, one column or one row at a time -------------------


def _normalise(values: list[float], eps: float, centre: bool) -> tuple[list[float], float]:
    """(x_hat, inv_std) of one column or row: biased variance, or mean square if not centre."""
    n = len(values)
    mean = math.fsum(values) / n if centre else 0.0
    second = math.fsum((v - mean) ** 2 for v in values) / n
    inv = 1.0 / math.sqrt(second + eps)
    return [(v - mean) * inv for v in values], inv


def _bn_loops(x, gamma, beta, eps):
    x_hat = np.zeros_like(x)
    inv_std = np.zeros(x.shape[1])
    for j in range(x.shape[1]):
        column, inv_std[j] = _normalise(x[:, j].tolist(), eps, centre=True)
        x_hat[:, j] = column
    return gamma * x_hat + beta, x_hat, inv_std


def _rowwise_loops(x, eps, centre):
    rows = x.reshape(-1, x.shape[-1])
    x_hat, inv = np.zeros_like(rows), np.zeros((len(rows), 1))
    for r, row in enumerate(rows.tolist()):
        x_hat[r], inv[r, 0] = _normalise(row, eps, centre)
    return x_hat.reshape(x.shape), inv.reshape(x.shape[:-1] + (1,))


def _ln_loops(x, gamma, beta, eps):
    x_hat, inv_std = _rowwise_loops(x, eps, centre=True)
    return gamma * x_hat + beta, x_hat, inv_std


def _rms_loops(x, gain, eps):
    x_hat, inv_rms = _rowwise_loops(x, eps, centre=False)
    return gain * x_hat, x_hat, inv_rms


def _bn_mistakes(x, gamma, beta, eps) -> dict:
    """BatchNorm's likely wrong answers, for out, x_hat and inv_std."""
    centred = x - x.mean(axis=0)
    rows = x - x.mean(axis=1, keepdims=True)
    x_hat = {
        "use the unbiased variance (divide by batch - 1)": centred / np.sqrt(x.var(axis=0, ddof=1) + eps),
        "normalise each row (over the features) instead of each column (over the batch)": rows
        / np.sqrt(x.var(axis=1, keepdims=True) + eps),
        "add eps outside the square root": centred / (x.std(axis=0) + eps),
        "forget to subtract the mean": x / np.sqrt(x.var(axis=0) + eps),
    }
    out = {phrase: gamma * wrong + beta for phrase, wrong in x_hat.items()}
    out["swap gamma and beta"] = beta * centred / np.sqrt(x.var(axis=0) + eps) + gamma
    inv_std = {
        "use the unbiased variance (divide by batch - 1)": 1 / np.sqrt(x.var(axis=0, ddof=1) + eps),
        "return the standard deviation instead of its inverse": np.sqrt(x.var(axis=0) + eps),
    }
    return {"out": out, "x_hat": x_hat, "inv_std": inv_std}


def _rms_mistakes(x, gain, eps) -> dict:
    """RMSNorm's likely wrong answers, for out and x_hat."""
    ms = (x**2).mean(axis=-1, keepdims=True)
    centred = x - x.mean(axis=-1, keepdims=True)
    x_hat = {
        "subtract the mean first (that is LayerNorm, not RMSNorm)": centred
        / np.sqrt((centred**2).mean(axis=-1, keepdims=True) + eps),
        "add eps to the rms instead of inside the square root": x / (np.sqrt(ms) + eps),
        "divide by the mean square instead of its square root": x / (ms + eps),
        "take the root mean square over the first axis instead of the last": x
        / np.sqrt((x**2).mean(axis=0, keepdims=True) + eps),
    }
    return {"out": {phrase: gain * wrong for phrase, wrong in x_hat.items()}, "x_hat": x_hat}


# --- shared checks ---------------------------------------------------------------------------------


def _expect_parts_close(call, names, wants, rtol=1e-9, atol=1e-10, mistakes=None) -> None:
    """Each part of the returned tuple close to its want; mistakes: {part name: {phrase: answer}}."""
    got = expect_parts(call, names, [np.shape(w) for w in wants])
    for name, part, want in zip(names, got, wants):
        named = (mistakes or {}).get(name)
        expect_close(Call(part, str(call)), want, rtol=rtol, atol=atol, what=name, mistakes=named)


def _expect_gradients(call, names, losses, points, mistakes=None) -> None:
    """Each returned gradient matches the central differences of its loss at its point."""
    wants = [numeric_grad(loss, at) for loss, at in zip(losses, points)]
    _expect_parts_close(call, names, wants, rtol=1e-6, atol=1e-7, mistakes=mistakes)


def _sample(seed: int, shape: tuple[int, ...]):
    """x with a different mean and spread per feature, gamma, beta, and an upstream gradient."""
    g = rng(seed)
    features = shape[-1]
    x = g.normal(loc=g.normal(size=features) * 3, scale=g.uniform(0.5, 3.0, size=features), size=shape)
    gamma, beta = g.uniform(0.5, 2.0, size=features), g.normal(size=features)
    grad_out = g.normal(size=shape)  # random, never all ones
    return x, gamma, beta, grad_out


BN_NAMES = ("out", "x_hat", "inv_std")
GRAD3 = ("grad_x", "grad_gamma", "grad_beta")


def _expect_keeps_float32(fn, *args) -> None:
    """fn on float32 arrays (other arguments as they are) returns float32 arrays only."""
    args32 = [a.astype(np.float32) if isinstance(a, np.ndarray) else a for a in args]
    got = run(fn, *args32)
    results = got.value if isinstance(got.value, tuple) else (got.value,)
    dtypes = [getattr(r, "dtype", type(r).__name__) for r in results]
    expect(
        all(d == np.float32 for d in dtypes),
        f"{got}: dtypes {', '.join(map(str, dtypes))}, expected float32 throughout (float32 in, "
        "float32 out: a NumPy float64 constant, a bool array divided by a float, or an array made "
        "with np.zeros or np.ones turns it into float64)",
    )


def _expect_new_array(call: Call, got: np.ndarray, given: np.ndarray, name: str, what: str) -> None:
    expect(
        not np.shares_memory(got, given),
        f"{call}: {what} is the caller's {name} itself (or a view of it); return a new array "
        f"({name}.copy()), so that changing one later does not change the other",
    )


def _far_from_zero(seed: int, shape: tuple[int, ...]) -> np.ndarray:
    """Features near 1e5 with a spread of about 1: mean(x**2) - mean(x)**2 loses every digit."""
    return 1e5 + rng(seed).normal(size=shape) * rng(seed + 1).uniform(0.5, 2.0, size=shape[-1])


# --- dropout -------------------------------------------------------------------------------------

BIG = (400, 500)  # 2 * 10^5 entries: one standard error of a kept fraction is about 0.001


def _six_se_message(call, what: str, got: float, want: float, se: float) -> str:
    return (
        f"{call}: {what} is {got:.4f}, expected {want:.4f} within 6 standard errors "
        f"(6 x {se:.2g}); a correct sampler misses this about twice in a billion runs"
    )


@exercise("dropout")
@pytest.mark.parametrize("p", [0.2, 0.75])
def test_dropout_keeps_each_entry_with_probability_1_minus_p(impl, p):
    x = rng(1).normal(size=BIG)
    call = run(impl.dropout, x, p, rng(2))
    _, mask = expect_parts(call, ("out", "mask"), [BIG, BIG])
    kept = float(np.mean(mask != 0))
    se = math.sqrt(p * (1 - p) / x.size)
    expect(
        abs(kept - (1 - p)) < 6 * se,
        _six_se_message(call, "the fraction of entries kept", kept, 1 - p, se)
        + "; p is the probability of DROPPING an entry",
    )


@exercise("dropout")
@pytest.mark.parametrize("p", [0.2, 0.75])
def test_dropout_scales_kept_entries_by_1_over_1_minus_p(impl, p):
    x = rng(3).normal(size=(6, 7))
    call = run(impl.dropout, x, p, rng(4))
    out, mask = expect_parts(call, ("out", "mask"), [x.shape, x.shape])
    kept = mask != 0
    expect(kept.any() and not kept.all(), f"{call}: kept {int(kept.sum())} of 42 entries, expected some")
    expect_close(
        Call(mask, str(call)),
        np.where(kept, 1 / (1 - p), 0.0),
        rtol=1e-12,
        what=f"mask (0 where dropped, 1 / (1 - p) = {1 / (1 - p):.4g} where kept)",
        mistakes={
            "forget to divide the kept entries by 1 - p": np.where(kept, 1.0, 0.0),
            "divide the kept entries by p instead of 1 - p": np.where(kept, 1 / p, 0.0),
            "multiply the kept entries by 1 - p instead of dividing": np.where(kept, 1 - p, 0.0),
        },
    )
    expect_close(
        Call(out, str(call)),
        np.where(kept, x / (1 - p), 0.0),
        rtol=1e-12,
        what="out = x * mask (kept entries divided by 1 - p)",
    )


@exercise("dropout")
@pytest.mark.parametrize("p", [0.2, 0.75])
def test_dropout_preserves_the_expected_value(impl, p):
    # Each entry of out is c / (1 - p) with probability 1 - p, else 0: its mean is c and its
    # standard deviation c sqrt(p / (1 - p)).
    c = 2.5
    call = run(impl.dropout, np.full(BIG, c), p, rng(5))
    out, _ = expect_parts(call, ("out", "mask"), [BIG, BIG])
    se = c * math.sqrt(p / (1 - p) / out.size)
    expect(
        abs(float(out.mean()) - c) < 6 * se,
        _six_se_message(call, "the mean of out for x = 2.5 everywhere", float(out.mean()), c, se)
        + "; inverted dropout divides the kept entries by 1 - p so that E[out] = x",
    )


@exercise("dropout")
def test_dropout_is_the_identity_in_eval_mode_and_for_p_0(impl):
    x = rng(6).normal(size=(3, 4, 5))
    for p, train in [(0.5, False), (0.0, True), (0.0, False)]:
        call = run(impl.dropout, x, p, rng(7), train)
        out, mask = expect_parts(call, ("out", "mask"), [x.shape, x.shape])
        expect_equal(Call(out, str(call)), x, what="out (nothing is dropped or scaled)")
        expect_equal(Call(mask, str(call)), np.ones_like(x), what="mask")
        _expect_new_array(call, out, x, "x", "out")


@exercise("dropout")
def test_dropout_keeps_float32(impl):
    _expect_keeps_float32(impl.dropout, rng(12).normal(size=(4, 5)), 0.3, rng(13))
    _expect_keeps_float32(impl.dropout, rng(12).normal(size=(4, 5)), 0.3, rng(13), False)


@exercise("dropout")
def test_dropout_draws_from_the_given_generator(impl):
    x = rng(8).normal(size=(5, 9))
    shapes = [x.shape, x.shape]
    first = expect_parts(run(impl.dropout, x, 0.5, rng(9)), ("out", "mask"), shapes)
    second = run(impl.dropout, x, 0.5, rng(9))
    expect_equal(
        Call(expect_parts(second, ("out", "mask"), shapes)[1], str(second)),
        first[1],
        what="mask: two generators with the same seed must give the same mask",
    )
    g = rng(10)
    a = expect_parts(run(impl.dropout, x, 0.5, g), ("out", "mask"), shapes)[1]
    b = expect_parts(run(impl.dropout, x, 0.5, g), ("out", "mask"), shapes)[1]
    expect(
        not np.array_equal(a, b),
        "dropout(x, 0.5, g) called twice on the same generator g returned the same mask; "
        "draw from g itself so that every call gets new random numbers",
    )


@exercise("dropout")
def test_dropout_drops_entries_independently(impl):
    # Rows 0-199 against rows 200-399 (and columns 0-249 against 250-499) are independent
    # pairs: they agree with probability p² + (1 - p)², not always (one mask reused).
    p = 0.3
    call = run(impl.dropout, np.ones(BIG), p, rng(11))
    _, mask = expect_parts(call, ("out", "mask"), [BIG, BIG])
    kept = mask != 0
    agree = p**2 + (1 - p) ** 2
    se = math.sqrt(agree * (1 - agree) / (kept.size / 2))
    for axis, pairs in [("rows", (kept[:200], kept[200:])), ("columns", (kept[:, :250], kept[:, 250:]))]:
        rate = float(np.mean(pairs[0] == pairs[1]))
        expect(
            abs(rate - agree) < 6 * se,
            _six_se_message(call, f"the rate at which two {axis} keep the same entries", rate, agree, se)
            + "; draw one random number per entry of x, not one mask per example or feature",
        )


# --- dropout_backward ------------------------------------------------------------------------------


def _mask(seed: int, shape: tuple[int, ...], p: float) -> np.ndarray:
    return (rng(seed).random(shape) >= p) / (1 - p)


@exercise("dropout_backward")
@pytest.mark.parametrize("shape, p", [((4, 6), 0.5), ((2, 3, 5), 0.2), ((1, 7), 0.75)])
def test_dropout_backward_matches_central_differences(impl, shape, p):
    g = rng(20)
    x, grad_out, mask = g.normal(size=shape), g.normal(size=shape), _mask(21, shape, p)
    call = run(impl.dropout_backward, mask, grad_out)
    want = numeric_grad(lambda x_: np.sum(grad_out * x_ * mask), x)
    expect_close(call, want, rtol=1e-6, atol=1e-8, what="grad_x")


@exercise("dropout_backward")
def test_dropout_backward_hand_case(impl):
    # p = 0.5: kept entries were doubled in the forward pass, so their gradient doubles too;
    # dropped entries did not reach the output, so their gradient is 0 however large grad_out.
    mask = np.array([[2.0, 0.0, 2.0], [0.0, 0.0, 2.0]])
    grad_out = np.array([[1.0, 1e6, -3.0], [-1e6, 7.0, 0.25]])
    want = np.array([[2.0, 0.0, -6.0], [0.0, 0.0, 0.5]])
    mistakes = {
        "forget to multiply by the mask (grad_out alone)": grad_out,
        "multiply by the 0/1 keep pattern, forgetting the 1 / (1 - p) in the mask": grad_out * (mask != 0),
        "divide grad_out by the mask where it is not 0": np.where(
            mask != 0, grad_out / np.where(mask != 0, mask, 1.0), 0.0
        ),
    }
    expect_close(run(impl.dropout_backward, mask, grad_out), want, rtol=1e-12, mistakes=mistakes)


@exercise("dropout_backward")
def test_dropout_backward_in_eval_mode_passes_the_gradient_through(impl):
    grad_out = rng(22).normal(size=(3, 2, 4))
    expect_close(
        run(impl.dropout_backward, np.ones((3, 2, 4)), grad_out),
        grad_out,
        rtol=1e-12,
        what="with an all-ones mask (eval mode) the layer is the identity",
    )
    call = run(impl.dropout_backward, np.ones((3, 2, 4)), grad_out)
    _expect_new_array(call, call.value, grad_out, "grad_out", "the result")


@exercise("dropout_backward")
def test_dropout_backward_keeps_float32(impl):
    _expect_keeps_float32(impl.dropout_backward, _mask(25, (3, 4), 0.5), rng(26).normal(size=(3, 4)))


@exercise("dropout_backward")
def test_dropout_backward_scales_by_the_mask_values(impl):
    # p = 0.9: kept entries were multiplied by 10, dropped ones by 0; the gradient follows.
    mask = _mask(23, (2, 5, 3), 0.9)
    grad_out = rng(24).normal(size=(2, 5, 3))
    want = np.array([g * m for g, m in zip(grad_out.ravel(), mask.ravel())]).reshape(2, 5, 3)
    expect_close(
        run(impl.dropout_backward, mask, grad_out),
        want,
        rtol=1e-12,
        what="grad_out times the mask (10 where kept, 0 where dropped)",
    )


# --- batchnorm_train -------------------------------------------------------------------------------


@exercise("batchnorm_train")
@pytest.mark.parametrize("shape, eps", [((2, 3), 1e-5), ((5, 3), 1e-3), ((8, 4), 1e-5)])
def test_batchnorm_train_matches_loops(impl, shape, eps):
    x, gamma, beta, _ = _sample(shape[0], shape)
    call = run(impl.batchnorm_train, x, gamma, beta, eps)
    _expect_parts_close(
        call, BN_NAMES, _bn_loops(x, gamma, beta, eps), mistakes=_bn_mistakes(x, gamma, beta, eps)
    )


@exercise("batchnorm_train")
def test_batchnorm_train_hand_case_batch_of_two(impl):
    # Each column of x is {m - s, m + s}: biased variance s², so x_hat = ∓1 exactly (eps = 0).
    # The unbiased variance 2s² would give ∓1/√2; normalising rows would mix 1 with 10.
    x = np.array([[1.0, 10.0, -4.0], [3.0, 20.0, -6.0]])
    gamma, beta = np.array([2.0, 0.5, 1.0]), np.array([0.1, -1.0, 3.0])
    x_hat = np.array([[-1.0, -1.0, 1.0], [1.0, 1.0, -1.0]])
    wants = (gamma * x_hat + beta, x_hat, np.array([1.0, 0.2, 1.0]))
    rows = (x - x.mean(axis=1, keepdims=True)) / x.std(axis=1, keepdims=True)
    x_hat_mistakes = {
        "use the unbiased variance (divide by batch - 1)": x_hat / math.sqrt(2),
        "normalise each row (over the features) instead of each column (over the batch)": rows,
        "divide by the variance instead of the standard deviation": (x - x.mean(axis=0)) / x.var(axis=0),
        "forget to subtract the mean": x / x.std(axis=0),
    }
    out_mistakes = {phrase: gamma * wrong + beta for phrase, wrong in x_hat_mistakes.items()}
    out_mistakes["swap gamma and beta"] = beta * x_hat + gamma
    call = run(impl.batchnorm_train, x, gamma, beta, 0.0)
    _expect_parts_close(call, BN_NAMES, wants, mistakes={"out": out_mistakes, "x_hat": x_hat_mistakes})


@exercise("batchnorm_train")
def test_batchnorm_train_output_columns_have_mean_beta_and_std_gamma(impl):
    x, gamma, beta, _ = _sample(30, (9, 4))
    call = run(impl.batchnorm_train, x, gamma, beta, 0.0)
    out = expect_parts(call, BN_NAMES, [(9, 4), (9, 4), (4,)])[0]
    expect_close(
        Call(out.mean(axis=0), str(call)),
        beta,
        atol=1e-12,
        what="the mean of each output column over the batch (should be beta)",
    )
    expect_close(
        Call(out.std(axis=0), str(call)),
        gamma,
        rtol=1e-10,
        what="the biased std of each output column over the batch (should be gamma)",
    )


@exercise("batchnorm_train")
def test_batchnorm_train_each_feature_on_its_own(impl):
    # Changing column 0 must leave every other column of the output as it was.
    x, gamma, beta, _ = _sample(31, (6, 3))
    changed = x.copy()
    changed[:, 0] = 100 * changed[:, 0] + 7
    before = run(impl.batchnorm_train, x, gamma, beta).value[0]
    after = run(impl.batchnorm_train, changed, gamma, beta)
    expect_close(
        Call(after.value[0][:, 1:], str(after)),
        before[:, 1:],
        rtol=1e-10,
        what="out[:, 1:] after changing only column 0 of x (statistics are per feature)",
    )


@exercise("batchnorm_train")
def test_batchnorm_train_features_far_from_zero(impl):
    x = _far_from_zero(33, (6, 3))
    gamma, beta = np.array([1.0, 2.0, 0.5]), np.array([0.0, 1.0, -1.0])
    call = run(impl.batchnorm_train, x, gamma, beta)
    _expect_parts_close(call, BN_NAMES, _bn_loops(x, gamma, beta, 1e-5), rtol=1e-8, atol=1e-9)


@exercise("batchnorm_train")
def test_batchnorm_train_keeps_float32(impl):
    x, gamma, beta, _ = _sample(34, (5, 3))
    _expect_keeps_float32(impl.batchnorm_train, x, gamma, beta)


@exercise("batchnorm_train")
def test_batchnorm_train_constant_feature_uses_eps(impl):
    # A column with variance 0 normalises to 0 (eps keeps the division finite): out = beta there.
    x, gamma, beta, _ = _sample(32, (4, 3))
    x[:, 1] = 2.5
    call = run_without_warnings(impl.batchnorm_train, x, gamma, beta)
    _expect_parts_close(call, BN_NAMES, _bn_loops(x, gamma, beta, 1e-5))


# --- batchnorm_eval --------------------------------------------------------------------------------


def _eval_problem(seed: int, batch: int):
    x, gamma, beta, _ = _sample(seed, (batch, 3))
    g = rng(seed + 1)
    # Running statistics far from this batch's own: a batch-statistics answer is far off.
    return x, gamma, beta, g.normal(size=3) * 5, g.uniform(0.2, 4.0, size=3)


@exercise("batchnorm_eval")
@pytest.mark.parametrize("batch", [1, 4, 7])
def test_batchnorm_eval_uses_the_running_statistics(impl, batch):
    x, gamma, beta, mean, var = _eval_problem(40 + batch, batch)
    want = np.array(
        [
            [gamma[j] * (x[i, j] - mean[j]) / math.sqrt(var[j] + 1e-5) + beta[j] for j in range(3)]
            for i in range(batch)
        ]
    )
    mistakes = {
        "normalise with the batch's own statistics instead of the running ones": lambda: (
            gamma * (x - x.mean(axis=0)) / np.sqrt(x.var(axis=0) + 1e-5) + beta
        ),
        "divide by the running variance instead of its square root": gamma * (x - mean) / (var + 1e-5) + beta,
        "forget gamma and beta": (x - mean) / np.sqrt(var + 1e-5),
    }
    expect_close(run(impl.batchnorm_eval, x, gamma, beta, mean, var), want, rtol=1e-10, mistakes=mistakes)


@exercise("batchnorm_eval")
def test_batchnorm_eval_hand_case(impl):
    x = np.array([[3.0, -2.0, 0.0], [1.0, 0.0, 2.0]])
    gamma, beta = np.array([1.0, 2.0, -1.0]), np.array([0.0, 1.0, 0.5])
    mean, var = np.array([1.0, -2.0, 4.0]), np.array([4.0, 0.25, 16.0])  # std 2, 0.5, 4
    want = np.array([[1.0, 1.0, 1.5], [0.0, 9.0, 1.0]])
    expect_close(run(impl.batchnorm_eval, x, gamma, beta, mean, var, 0.0), want, rtol=1e-12)


@exercise("batchnorm_eval")
def test_batchnorm_eval_treats_each_example_alone(impl):
    x, gamma, beta, mean, var = _eval_problem(50, 5)
    whole = run(impl.batchnorm_eval, x, gamma, beta, mean, var)
    alone = np.concatenate(
        [run(impl.batchnorm_eval, x[i : i + 1], gamma, beta, mean, var).value for i in range(5)]
    )
    expect_close(
        whole,
        alone,
        rtol=1e-12,
        what="out for the batch vs each example alone (eval mode uses no batch statistics)",
    )


@exercise("batchnorm_eval")
def test_batchnorm_eval_keeps_float32(impl):
    _expect_keeps_float32(impl.batchnorm_eval, *_eval_problem(51, 4))


@exercise("batchnorm_eval")
def test_batchnorm_eval_default_eps_inside_the_square_root(impl):
    # running_var = 1e-5 = eps: the divisor is sqrt(2e-5), not sqrt(1e-5) or sqrt(1e-5) + 1e-5.
    x = np.array([[0.01, 1.0], [-0.02, 3.0]])
    gamma, beta = np.ones(2), np.zeros(2)
    mean, var = np.zeros(2), np.array([1e-5, 1.0])
    want = x / np.sqrt(var + 1e-5)
    expect_close(run(impl.batchnorm_eval, x, gamma, beta, mean, var), want, rtol=1e-9)


# --- update_running_stats --------------------------------------------------------------------------


def _running_loops(mean, var, x, momentum):
    n = len(x)
    new_mean, new_var = np.zeros_like(mean), np.zeros_like(var)
    for j in range(x.shape[1]):
        column = x[:, j].tolist()
        m = math.fsum(column) / n
        unbiased = math.fsum((v - m) ** 2 for v in column) / (n - 1)
        new_mean[j] = (1 - momentum) * mean[j] + momentum * m
        new_var[j] = (1 - momentum) * var[j] + momentum * unbiased
    return new_mean, new_var


RUN_NAMES = ("new_mean", "new_var")


@exercise("update_running_stats")
def test_update_running_stats_hand_case(impl):
    # Batch means (2, 4); unbiased variances (2, 8) (the biased ones would be (1, 4)).
    # 0.9 * old + 0.1 * batch: means (0.2, 1.3), variances (1.1, 1.7).
    x = np.array([[1.0, 2.0], [3.0, 6.0]])
    call = run(impl.update_running_stats, np.array([0.0, 1.0]), np.array([1.0, 1.0]), x)
    mistakes = {
        "new_mean": {"swap momentum and 1 - momentum (0.1 old + 0.9 batch)": np.array([1.8, 3.7])},
        "new_var": {
            "use the biased variance of the batch (divide by batch, not batch - 1)": np.array([1.0, 1.3]),
            "swap momentum and 1 - momentum (0.1 old + 0.9 batch)": np.array([1.9, 7.3]),
        },
    }
    wants = (np.array([0.2, 1.3]), np.array([1.1, 1.7]))
    _expect_parts_close(call, RUN_NAMES, wants, rtol=1e-12, mistakes=mistakes)


@exercise("update_running_stats")
@pytest.mark.parametrize("shape, momentum", [((2, 3), 0.3), ((5, 4), 0.1), ((9, 2), 0.01)])
def test_update_running_stats_matches_loops(impl, shape, momentum):
    x, _, _, _ = _sample(60 + shape[0], shape)
    g = rng(61)
    mean, var = g.normal(size=shape[1]), g.uniform(0.5, 2.0, size=shape[1])
    call = run(impl.update_running_stats, mean, var, x, momentum)
    _expect_parts_close(call, RUN_NAMES, _running_loops(mean, var, x, momentum))


@exercise("update_running_stats")
def test_update_running_stats_momentum_is_the_weight_of_the_new_batch(impl):
    x, _, _, _ = _sample(62, (6, 3))
    mean, var = np.array([1.0, -1.0, 0.0]), np.array([0.5, 2.0, 1.0])
    batch_stats = (x.mean(axis=0), x.var(axis=0, ddof=1))
    _expect_parts_close(run(impl.update_running_stats, mean, var, x, 1.0), RUN_NAMES, batch_stats)
    call = run(impl.update_running_stats, mean, var, x, 0.0)
    _expect_parts_close(call, RUN_NAMES, (mean, var))
    _expect_new_array(call, call.value[0], mean, "running_mean", "new_mean (with momentum 0)")
    _expect_new_array(call, call.value[1], var, "running_var", "new_var (with momentum 0)")


@exercise("update_running_stats")
def test_update_running_stats_features_far_from_zero(impl):
    x = _far_from_zero(64, (5, 3))
    mean, var = np.array([1e5, 0.0, 1.0]), np.ones(3)
    call = run(impl.update_running_stats, mean, var, x, 0.5)
    _expect_parts_close(call, RUN_NAMES, _running_loops(mean, var, x, 0.5), rtol=1e-8)


@exercise("update_running_stats")
def test_update_running_stats_keeps_float32(impl):
    x, _, _, _ = _sample(65, (5, 3))
    _expect_keeps_float32(impl.update_running_stats, np.zeros(3), np.ones(3), x)


@exercise("update_running_stats")
def test_update_running_stats_settle_on_the_statistics_of_a_repeated_batch(impl):
    # Fed the same batch 200 times, the running statistics forget their start (0.9^200 ≈ 7e-10)
    # and settle on the batch mean and its unbiased variance.
    x, _, _, _ = _sample(63, (4, 3))
    mean, var = np.zeros(3), np.ones(3)
    for _ in range(200):
        mean, var = run(impl.update_running_stats, mean, var, x).value
    final = Call((mean, var), "update_running_stats applied 200 times to one batch x[4, 3]")
    _expect_parts_close(final, RUN_NAMES, (x.mean(axis=0), x.var(axis=0, ddof=1)), rtol=1e-7, atol=1e-8)


# --- batchnorm_backward ----------------------------------------------------------------------------


@exercise("batchnorm_backward")
@pytest.mark.parametrize("shape", [(2, 3), (3, 5), (7, 4)])
def test_batchnorm_backward_matches_central_differences(impl, shape):
    x, gamma, beta, grad_out = _sample(70 + shape[0], shape)
    eps = 1e-3
    _, x_hat, inv_std = _bn_loops(x, gamma, beta, eps)
    call = run(impl.batchnorm_backward, x_hat, gamma, inv_std, grad_out)
    losses = [
        lambda x_: np.sum(grad_out * _bn_loops(x_, gamma, beta, eps)[0]),
        lambda g_: np.sum(grad_out * _bn_loops(x, g_, beta, eps)[0]),
        lambda b_: np.sum(grad_out * _bn_loops(x, gamma, b_, eps)[0]),
    ]
    n = shape[0]
    full = lambda: gamma * inv_std / n * (n * grad_out - grad_out.sum(0) - x_hat * (grad_out * x_hat).sum(0))  # noqa: E731
    mistakes = {
        "grad_x": {
            "leave out the paths through the batch mean and variance (gamma * inv_std * grad_out)": gamma
            * inv_std
            * grad_out,
            "forget the factor gamma": lambda: full() / gamma,
            "average over the batch where the formula sums": lambda: (
                gamma * inv_std / n * (n * grad_out - grad_out.mean(0) - x_hat * (grad_out * x_hat).mean(0))
            ),
        },
        "grad_gamma": {"sum grad_out without multiplying by x_hat": grad_out.sum(0)},
        "grad_beta": {"average grad_out over the batch instead of summing": grad_out.mean(0)},
    }
    _expect_gradients(call, GRAD3, losses, [x, gamma, beta], mistakes=mistakes)


@exercise("batchnorm_backward")
def test_batchnorm_backward_keeps_float32(impl):
    x, gamma, beta, grad_out = _sample(75, (5, 3))
    _, x_hat, inv_std = _bn_loops(x, gamma, beta, 1e-5)
    _expect_keeps_float32(impl.batchnorm_backward, x_hat, gamma, inv_std, grad_out)


@exercise("batchnorm_backward")
def test_batchnorm_backward_batch_of_two_has_zero_grad_x(impl):
    # With eps = 0 a batch of two normalises to x_hat = ∓1 whatever x is, so out does not
    # depend on x at all and grad_x = 0. Treating the mean and variance as constants gives
    # gamma * inv_std * grad_out instead.
    x_hat = np.array([[-1.0, 1.0, 1.0], [1.0, -1.0, -1.0]])
    gamma, inv_std = np.array([2.0, 0.5, -1.0]), np.array([0.5, 3.0, 1.0])
    grad_out = np.array([[1.0, 2.0, -3.0], [4.0, -0.5, 0.25]])
    call = run(impl.batchnorm_backward, x_hat, gamma, inv_std, grad_out)
    wants = (np.zeros((2, 3)), np.array([3.0, 2.5, -3.25]), np.array([5.0, 1.5, -2.75]))
    _expect_parts_close(call, GRAD3, wants, rtol=1e-12, atol=1e-12)


@exercise("batchnorm_backward")
def test_batchnorm_backward_grad_x_is_orthogonal_to_shifts_and_scalings(impl):
    # With eps = 0, out is unchanged when a column of x is shifted (x + c) or scaled (a x, a > 0),
    # so grad_x sums to 0 down each column and is orthogonal to each column of x_hat.
    x, gamma, beta, grad_out = _sample(80, (6, 4))
    _, x_hat, inv_std = _bn_loops(x, gamma, beta, 0.0)
    call = run(impl.batchnorm_backward, x_hat, gamma, inv_std, grad_out)
    grad_x = expect_parts(call, GRAD3, [(6, 4), (4,), (4,)])[0]
    expect_close(
        Call(grad_x.sum(axis=0), str(call)),
        np.zeros(4),
        atol=1e-10,
        what="grad_x summed over the batch (the path through the batch mean is missing?)",
    )
    expect_close(
        Call((grad_x * x_hat).sum(axis=0), str(call)),
        np.zeros(4),
        atol=1e-10,
        what="sum of grad_x * x_hat over the batch (the path through the variance is missing?)",
    )


@exercise("batchnorm_backward")
def test_batchnorm_backward_parameter_gradients_sum_over_the_batch(impl):
    x, gamma, beta, grad_out = _sample(81, (5, 3))
    _, x_hat, inv_std = _bn_loops(x, gamma, beta, 1e-5)
    call = run(impl.batchnorm_backward, x_hat, gamma, inv_std, grad_out)
    got = expect_parts(call, GRAD3, [(5, 3), (3,), (3,)])
    for name, part, want in [
        (
            "grad_gamma (sum over the batch of grad_out * x_hat)",
            got[1],
            [math.fsum(grad_out[:, j] * x_hat[:, j]) for j in range(3)],
        ),
        ("grad_beta (sum over the batch of grad_out)", got[2], [math.fsum(grad_out[:, j]) for j in range(3)]),
    ]:
        expect_close(Call(part, str(call)), np.array(want), rtol=1e-10, atol=1e-12, what=name)


# --- layernorm -------------------------------------------------------------------------------------

ROW_SHAPES = [((4, 6), None), ((2, 3, 5), 1e-3), ((1, 7), 1e-5)]  # eps None: the default


@exercise("layernorm")
@pytest.mark.parametrize("shape, eps", ROW_SHAPES)
def test_layernorm_matches_loops(impl, shape, eps):
    x, gamma, beta, _ = _sample(90 + len(shape), shape)
    args = (x, gamma, beta) if eps is None else (x, gamma, beta, eps)
    e = eps or 1e-5
    centred = x - x.mean(axis=-1, keepdims=True)
    x_hat_mistakes = {
        "use the unbiased variance (divide by features - 1)": centred
        / np.sqrt(centred.var(axis=-1, ddof=1, keepdims=True) + e),
        "normalise over the first axis (the batch) instead of the last": (x - x.mean(axis=0))
        / np.sqrt(x.var(axis=0) + e),
        "add eps outside the square root": centred / (centred.std(axis=-1, keepdims=True) + e),
    }
    out_mistakes = {phrase: gamma * wrong + beta for phrase, wrong in x_hat_mistakes.items()}
    wants = _ln_loops(x, gamma, beta, e)
    mistakes = {"out": out_mistakes, "x_hat": x_hat_mistakes}
    _expect_parts_close(run(impl.layernorm, *args), BN_NAMES, wants, mistakes=mistakes)


@exercise("layernorm")
def test_layernorm_rows_have_mean_0_and_variance_1(impl):
    x, gamma, beta, _ = _sample(91, (5, 8))
    call = run(impl.layernorm, x, gamma, beta, 0.0)
    x_hat = expect_parts(call, BN_NAMES, [(5, 8), (5, 8), (5, 1)])[1]
    expect_close(
        Call(x_hat.mean(axis=-1), str(call)),
        np.zeros(5),
        atol=1e-12,
        what="the mean of each row of x_hat (LayerNorm normalises over the LAST axis)",
    )
    expect_close(
        Call(x_hat.var(axis=-1), str(call)),
        np.ones(5),
        rtol=1e-10,
        what="the biased variance of each row of x_hat",
    )


@exercise("layernorm")
def test_layernorm_ignores_a_shift_and_scale_of_each_row(impl):
    x, gamma, beta, _ = _sample(92, (4, 6))
    a, c = np.array([[0.5], [3.0], [10.0], [0.1]]), np.array([[1.0], [-20.0], [5.0], [100.0]])
    before = run(impl.layernorm, x, gamma, beta, 0.0).value[0]
    after = run(impl.layernorm, a * x + c, gamma, beta, 0.0)
    expect_close(
        Call(after.value[0], str(after)),
        before,
        rtol=1e-9,
        atol=1e-10,
        what="out for a * x + c (a > 0, c: one value per row) should equal out for x",
    )


@exercise("layernorm")
def test_layernorm_treats_each_example_alone(impl):
    # Unlike BatchNorm, an example's output does not depend on the rest of the batch.
    x, gamma, beta, _ = _sample(93, (5, 4))
    whole = run(impl.layernorm, x, gamma, beta)
    alone = np.concatenate([run(impl.layernorm, x[i : i + 1], gamma, beta).value[0] for i in range(5)])
    expect_close(
        Call(whole.value[0], str(whole)), alone, rtol=1e-12, what="out for the batch vs each example alone"
    )


@exercise("layernorm")
def test_layernorm_rows_far_from_zero(impl):
    x = _far_from_zero(83, (4, 5))
    gamma, beta = np.linspace(0.5, 2.0, 5), np.linspace(-1.0, 1.0, 5)
    call = run(impl.layernorm, x, gamma, beta)
    _expect_parts_close(call, BN_NAMES, _ln_loops(x, gamma, beta, 1e-5), rtol=1e-8, atol=1e-9)


@exercise("layernorm")
def test_layernorm_keeps_float32(impl):
    x, gamma, beta, _ = _sample(84, (2, 3, 4))
    _expect_keeps_float32(impl.layernorm, x, gamma, beta)


@exercise("layernorm")
def test_layernorm_constant_row_uses_eps(impl):
    x, gamma, beta, _ = _sample(94, (3, 5))
    x[1] = -4.0
    call = run_without_warnings(impl.layernorm, x, gamma, beta)
    _expect_parts_close(call, BN_NAMES, _ln_loops(x, gamma, beta, 1e-5))


# --- layernorm_backward ----------------------------------------------------------------------------

GRAD_SHAPES = [(3, 5), (2, 4, 6), (1, 7)]


@exercise("layernorm_backward")
@pytest.mark.parametrize("shape", GRAD_SHAPES)
def test_layernorm_backward_matches_central_differences(impl, shape):
    x, gamma, beta, grad_out = _sample(100 + len(shape), shape)
    eps = 1e-3
    _, x_hat, inv_std = _ln_loops(x, gamma, beta, eps)
    call = run(impl.layernorm_backward, x_hat, gamma, inv_std, grad_out)
    losses = [
        lambda x_: np.sum(grad_out * _ln_loops(x_, gamma, beta, eps)[0]),
        lambda g_: np.sum(grad_out * _ln_loops(x, g_, beta, eps)[0]),
        lambda b_: np.sum(grad_out * _ln_loops(x, gamma, b_, eps)[0]),
    ]
    d, lead = shape[-1], tuple(range(len(shape) - 1))

    def with_g(g):  # the formula of the docstring, with g in place of grad_out * gamma
        return inv_std / d * (d * g - g.sum(-1, keepdims=True) - x_hat * (g * x_hat).sum(-1, keepdims=True))

    mistakes = {
        "grad_x": {
            "forget to multiply grad_out by gamma first": with_g(grad_out),
            "take gamma out of the sums, as in batchnorm": gamma * with_g(grad_out),
            "leave out the paths through the mean and variance (gamma * inv_std * grad_out)": gamma
            * inv_std
            * grad_out,
        },
        "grad_gamma": {"sum grad_out without multiplying by x_hat": grad_out.sum(lead)},
        "grad_beta": {"average grad_out over the leading axes instead of summing": grad_out.mean(lead)},
    }
    _expect_gradients(call, GRAD3, losses, [x, gamma, beta], mistakes=mistakes)


@exercise("layernorm_backward")
def test_layernorm_backward_grad_x_is_orthogonal_to_shifts_and_scalings(impl):
    # With eps = 0, out ignores a shift or scaling of a row, so each row of grad_x sums to 0
    # and is orthogonal to that row of x_hat.
    x, gamma, beta, grad_out = _sample(101, (2, 3, 6))
    _, x_hat, inv_std = _ln_loops(x, gamma, beta, 0.0)
    call = run(impl.layernorm_backward, x_hat, gamma, inv_std, grad_out)
    grad_x = expect_parts(call, GRAD3, [x.shape, (6,), (6,)])[0]
    expect_close(
        Call(grad_x.sum(axis=-1), str(call)),
        np.zeros((2, 3)),
        atol=1e-10,
        what="each row of grad_x summed over the features (the path through the mean?)",
    )
    expect_close(
        Call((grad_x * x_hat).sum(axis=-1), str(call)),
        np.zeros((2, 3)),
        atol=1e-10,
        what="each row of grad_x * x_hat summed (the path through the variance?)",
    )


@exercise("layernorm_backward")
def test_layernorm_backward_keeps_float32(impl):
    x, gamma, beta, grad_out = _sample(95, (2, 3, 4))
    _, x_hat, inv_std = _ln_loops(x, gamma, beta, 1e-5)
    _expect_keeps_float32(impl.layernorm_backward, x_hat, gamma, inv_std, grad_out)


@exercise("layernorm_backward")
def test_layernorm_backward_two_features_hand_case(impl):
    # With eps = 0 a row of two normalises to (∓1, ±1) whatever x is: grad_x = 0, whatever gamma.
    x_hat = np.array([[-1.0, 1.0], [1.0, -1.0], [-1.0, 1.0]])
    gamma, inv_std = np.array([3.0, -0.5]), np.array([[2.0], [0.1], [1.0]])
    grad_out = np.array([[1.0, 2.0], [-3.0, 0.5], [4.0, 1.0]])
    call = run(impl.layernorm_backward, x_hat, gamma, inv_std, grad_out)
    wants = (np.zeros((3, 2)), np.array([-8.0, 2.5]), np.array([2.0, 3.5]))
    _expect_parts_close(call, GRAD3, wants, rtol=1e-12, atol=1e-12)


@exercise("layernorm_backward")
def test_layernorm_backward_parameter_gradients_sum_over_all_leading_axes(impl):
    x, gamma, beta, grad_out = _sample(102, (3, 2, 4))
    _, x_hat, inv_std = _ln_loops(x, gamma, beta, 1e-5)
    call = run(impl.layernorm_backward, x_hat, gamma, inv_std, grad_out)
    got = expect_parts(call, GRAD3, [x.shape, (4,), (4,)])
    rows_g, rows_x = grad_out.reshape(-1, 4), x_hat.reshape(-1, 4)
    for name, part, want in [
        (
            "grad_gamma (sum over both leading axes)",
            got[1],
            [math.fsum(gj * xj) for gj, xj in zip(rows_g.T, rows_x.T)],
        ),
        ("grad_beta (sum over both leading axes)", got[2], [math.fsum(rows_g[:, j]) for j in range(4)]),
    ]:
        expect_close(Call(part, str(call)), np.array(want), rtol=1e-10, atol=1e-12, what=name)


# --- rmsnorm ---------------------------------------------------------------------------------------

RMS_NAMES = ("out", "x_hat", "inv_rms")


@exercise("rmsnorm")
@pytest.mark.parametrize("shape, eps", ROW_SHAPES)
def test_rmsnorm_matches_loops(impl, shape, eps):
    x, gain, _, _ = _sample(110 + len(shape), shape)
    args = (x, gain) if eps is None else (x, gain, eps)
    e = eps or 1e-6
    _expect_parts_close(
        run(impl.rmsnorm, *args), RMS_NAMES, _rms_loops(x, gain, e), mistakes=_rms_mistakes(x, gain, e)
    )


@exercise("rmsnorm")
def test_rmsnorm_hand_case_keeps_the_mean(impl):
    # Row 1: mean square (1 + 4 + 4) / 3 = 3. Row 2: (9 + 16 + 0) / 3 = 25/3. No mean is
    # subtracted: x_hat = x / rms, which has the sign and the proportions of x.
    x = np.array([[1.0, 2.0, 2.0], [3.0, -4.0, 0.0]])
    gain = np.array([1.0, 2.0, 0.5])
    rms = np.array([[math.sqrt(3.0)], [math.sqrt(25 / 3)]])
    wants = (gain * x / rms, x / rms, 1 / rms)
    centred = (x - x.mean(axis=-1, keepdims=True)) / x.std(axis=-1, keepdims=True)
    mistakes = {
        "x_hat": {
            "subtract the mean first (that is LayerNorm, not RMSNorm)": centred,
            "divide by the mean square instead of its square root": x / rms**2,
        },
    }
    mistakes["out"] = {phrase: gain * wrong for phrase, wrong in mistakes["x_hat"].items()}
    _expect_parts_close(run(impl.rmsnorm, x, gain, 0.0), RMS_NAMES, wants, rtol=1e-12, mistakes=mistakes)


@exercise("rmsnorm")
def test_rmsnorm_default_eps_inside_the_square_root(impl):
    # Mean square 1e-6 = eps: x / sqrt(1e-6 + 1e-6) = ±1/√2; eps added to the rms instead
    # would give ±0.999, and no eps ±1.
    x = np.array([[1e-3, -1e-3], [2.0, 0.0]])
    want_hat = np.array([[1 / math.sqrt(2), -1 / math.sqrt(2)], [2 / math.sqrt(2 + 1e-6), 0.0]])
    call = run(impl.rmsnorm, x, np.array([1.0, 3.0]))
    x_hat = expect_parts(call, RMS_NAMES, [(2, 2), (2, 2), (2, 1)])[1]
    rms = np.sqrt((x**2).mean(axis=-1, keepdims=True))
    mistakes = {
        "add eps to the rms instead of inside the square root": x / (rms + 1e-6),
        "leave out eps": x / np.where(rms > 0, rms, 1.0),
    }
    expect_close(
        Call(x_hat, str(call)),
        want_hat,
        rtol=1e-9,
        what="x_hat = x / sqrt(mean(x²) + 1e-6)",
        mistakes=mistakes,
    )


@exercise("rmsnorm")
def test_rmsnorm_ignores_scale_but_not_shift(impl):
    x, gain, _, _ = _sample(111, (4, 6))
    a = np.array([[0.5], [3.0], [10.0], [0.1]])
    before = run(impl.rmsnorm, x, gain, 0.0).value[0]
    after = run(impl.rmsnorm, a * x, gain, 0.0)
    expect_close(
        Call(after.value[0], str(after)),
        before,
        rtol=1e-10,
        what="out for a * x (a > 0, one value per row) should equal out for x",
    )
    shifted = run(impl.rmsnorm, x + 5.0, gain, 0.0)
    expect(
        not np.allclose(shifted.value[0], before),
        f"{shifted}: out did not change when x was shifted by 5; RMSNorm does not subtract the mean",
    )


@exercise("rmsnorm")
def test_rmsnorm_keeps_float32(impl):
    x, gain, _, _ = _sample(105, (2, 3, 4))
    _expect_keeps_float32(impl.rmsnorm, x, gain)


@exercise("rmsnorm")
def test_rmsnorm_zero_row_without_warnings(impl):
    x, gain, _, _ = _sample(112, (3, 4))
    x[2] = 0.0
    call = run_without_warnings(impl.rmsnorm, x, gain)
    _expect_parts_close(call, RMS_NAMES, _rms_loops(x, gain, 1e-6))


# --- rmsnorm_backward ------------------------------------------------------------------------------


@exercise("rmsnorm_backward")
@pytest.mark.parametrize("shape", GRAD_SHAPES)
def test_rmsnorm_backward_matches_central_differences(impl, shape):
    x, gain, _, grad_out = _sample(120 + len(shape), shape)
    eps = 1e-3
    _, x_hat, inv_rms = _rms_loops(x, gain, eps)
    call = run(impl.rmsnorm_backward, x_hat, gain, inv_rms, grad_out)
    losses = [
        lambda x_: np.sum(grad_out * _rms_loops(x_, gain, eps)[0]),
        lambda g_: np.sum(grad_out * _rms_loops(x, g_, eps)[0]),
    ]
    g = grad_out * gain
    lead = tuple(range(len(shape) - 1))
    mistakes = {
        "grad_x": {
            "leave out the path through the rms (inv_rms * gain * grad_out)": inv_rms * g,
            "forget to multiply grad_out by gain": inv_rms
            * (grad_out - x_hat * (grad_out * x_hat).mean(-1, keepdims=True)),
            "use LayerNorm's formula, with the mean's term that RMSNorm does not have": inv_rms
            * (g - g.mean(-1, keepdims=True) - x_hat * (g * x_hat).mean(-1, keepdims=True)),
        },
        "grad_gain": {"sum grad_out without multiplying by x_hat": grad_out.sum(lead)},
    }
    _expect_gradients(call, ("grad_x", "grad_gain"), losses, [x, gain], mistakes=mistakes)


@exercise("rmsnorm_backward")
def test_rmsnorm_backward_grad_x_is_orthogonal_to_scalings(impl):
    # With eps = 0, out ignores a scaling of a row, so each row of grad_x is orthogonal to x.
    # It does not ignore a shift: the rows of grad_x need not sum to 0 (unlike LayerNorm's).
    x, gain, _, grad_out = _sample(121, (4, 5))
    _, x_hat, inv_rms = _rms_loops(x, gain, 0.0)
    call = run(impl.rmsnorm_backward, x_hat, gain, inv_rms, grad_out)
    grad_x = expect_parts(call, ("grad_x", "grad_gain"), [(4, 5), (5,)])[0]
    expect_close(
        Call((grad_x * x).sum(axis=-1), str(call)),
        np.zeros(4),
        atol=1e-10,
        what="each row of grad_x * x summed (the path through the mean square?)",
    )


@exercise("rmsnorm_backward")
def test_rmsnorm_backward_keeps_float32(impl):
    x, gain, _, grad_out = _sample(115, (2, 3, 4))
    _, x_hat, inv_rms = _rms_loops(x, gain, 1e-6)
    _expect_keeps_float32(impl.rmsnorm_backward, x_hat, gain, inv_rms, grad_out)


@exercise("rmsnorm_backward")
def test_rmsnorm_backward_one_feature_hand_case(impl):
    # One feature, eps = 0: out = gain * sign(x), flat in x, so grad_x = 0;
    # grad_gain = sum of grad_out * sign(x) = 2 - 3 - 0.5 = -1.5.
    x = np.array([[2.0], [-0.5], [4.0]])
    x_hat, inv_rms = np.sign(x), 1 / np.abs(x)
    grad_out = np.array([[2.0], [3.0], [-0.5]])
    call = run(impl.rmsnorm_backward, x_hat, np.array([1.5]), inv_rms, grad_out)
    _expect_parts_close(call, ("grad_x", "grad_gain"), (np.zeros((3, 1)), np.array([-1.5])), atol=1e-12)


@exercise("rmsnorm_backward")
def test_rmsnorm_backward_grad_gain_sums_over_all_leading_axes(impl):
    x, gain, _, grad_out = _sample(122, (2, 3, 4))
    _, x_hat, inv_rms = _rms_loops(x, gain, 1e-6)
    call = run(impl.rmsnorm_backward, x_hat, gain, inv_rms, grad_out)
    grad_gain = expect_parts(call, ("grad_x", "grad_gain"), [x.shape, (4,)])[1]
    rows_g, rows_x = grad_out.reshape(-1, 4), x_hat.reshape(-1, 4)
    want = np.array([math.fsum(rows_g[:, j] * rows_x[:, j]) for j in range(4)])
    expect_close(
        Call(grad_gain, str(call)),
        want,
        rtol=1e-10,
        atol=1e-12,
        what="grad_gain (sum over both leading axes of grad_out * x_hat)",
    )
