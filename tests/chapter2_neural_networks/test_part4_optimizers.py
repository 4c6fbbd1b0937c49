"""Tests for chapter 2, part 4: optimizer steps (SGD, momentum, Nesterov, AdaGrad, RMSProp,
Adam, AdamW) and gradient clipping (by value, by global norm).

Expected values come from three independent sources: the update rule written again as a
scalar rule and applied element by element with Python floats over several steps with
varying gradients (`_follow`), small cases worked out by hand (noted in the comments),
and closed forms for a constant gradient (geometric sums, 1/sqrt(k) step sizes). Each
optimizer also minimises a small quadratic, but never only that.
"""

import math

import numpy as np
import pytest

from grader.testkit import Call, exercise, expect, expect_close, rng, run

# ---------------------------------------------------------------------------------------------
# helpers


def _elementwise(rule, t, *arrays):
    """rule(t, p, g, *state) -> (p, *state) applied at every position, with Python floats."""
    shape = arrays[0].shape
    results = [rule(t, *(float(a[i]) for a in arrays)) for i in np.ndindex(shape)]
    return tuple(np.array(column).reshape(shape) for column in zip(*results))


def _outputs(call: Call, names: tuple[str, ...]) -> tuple:
    """The step's result as a tuple, failing clearly if it has the wrong structure."""
    if len(names) == 1:
        return (call.value,)
    value = call.value
    expect(
        isinstance(value, tuple) and len(value) == len(names),
        f"{call}: returned {type(value).__name__}, expected a tuple ({', '.join(names)})",
    )
    return value


def _follow(step_fn, rule, names, param, state, grads, first_t=None, mistakes=None, **hyper):
    """Run step_fn once per gradient from (param, *state), feeding back its own results,
    and compare the parameter and every state array after each step with the per-element
    rule. first_t: the step number passed (as t) to the first call, for Adam and AdamW.
    mistakes: {phrase: wrong rule}, each applied to the inputs of the failing step.
    Returns the final parameter."""
    got = want = (param, *state)
    for k, g in enumerate(grads):
        t = None if first_t is None else first_t + k
        counted = () if t is None else (t,)
        inputs = (got[0], g, *got[1:])
        call = run(step_fn, *inputs, *counted, **hyper)
        got = _outputs(call, names)
        want = _elementwise(rule, t, want[0], g, *want[1:])
        for i, (name, got_x, want_x) in enumerate(zip(names, got, want)):
            where = f"{name} after step {k + 1} of {len(grads)}" + (f" (t={t})" if t else "")
            named = {
                phrase: (lambda wrong=wrong, i=i, t=t, inputs=inputs: _elementwise(wrong, t, *inputs)[i])
                for phrase, wrong in (mistakes or {}).items()
            }
            expect_close(Call(got_x, str(call)), want_x, what=where, mistakes=named)
    return got[0]


def _named(mistakes: dict, t, inputs: tuple, index: int) -> dict:
    """{phrase: wrong rule} -> {phrase: that rule's output number `index` for these inputs}."""
    return {
        phrase: (lambda wrong=wrong: _elementwise(wrong, t, *inputs)[index])
        for phrase, wrong in mistakes.items()
    }


def _grads(seed: int, shape: tuple[int, ...], steps: int = 5) -> list[np.ndarray]:
    """Gradients that change sign and scale from step to step."""
    g = rng(seed)
    scales = [1.0, 0.3, 2.0, 0.05, 1.0, 0.5, 3.0][:steps]
    return [g.normal(size=shape) * s for s in scales]


# The quadratic f(p) = 1/2 sum a (p - c)^2 with curvatures a from 0.01 to 1 (condition 100).
_CURV = np.geomspace(0.01, 1.0, 6).reshape(2, 3)
_MIN = np.array([[1.0, -2.0, 0.5], [3.0, -1.0, 2.0]])
_START = np.zeros((2, 3))


def _loss(p: np.ndarray) -> float:
    return float(0.5 * np.sum(_CURV * (p - _MIN) ** 2))


def _minimise(step_fn, n_state: int, steps: int, counted: bool = False, **hyper) -> list[float]:
    """Losses along `steps` steps of step_fn on the quadratic, starting at 0 with zero state."""
    p, state = _START, [np.zeros_like(_START) for _ in range(n_state)]
    losses = [_loss(p)]
    for k in range(1, steps + 1):
        g = _CURV * (p - _MIN)
        out = step_fn(p, g, *state, *((k,) if counted else ()), **hyper)
        p, state = (out, []) if n_state == 0 else (out[0], list(out[1:]))
        losses.append(_loss(p))
    return losses


# What each step function returns, for messages and to check the structure of results.
_RETURNS = {
    "sgd_step": ("param",),
    "momentum_step": ("param", "velocity"),
    "nesterov_step": ("param", "velocity"),
    "adagrad_step": ("param", "sum_sq"),
    "rmsprop_step": ("param", "sq_avg"),
    "adam_step": ("param", "m", "v"),
    "adamw_step": ("param", "m", "v"),
}


def _step_call(fn, *args, **kwargs) -> tuple[Call, tuple]:
    """run(fn, ...) and its result as a tuple of the documented length."""
    call = run(fn, *args, **kwargs)
    return call, _outputs(call, _RETURNS[fn.__name__])


# ---------------------------------------------------------------------------------------------
# sgd_step


def _sgd_rule(lr, weight_decay=0.0):
    def rule(t, p, g):
        return (p - lr * (g + weight_decay * p),)

    return rule


@exercise("sgd_step")
def test_sgd_step_by_hand(impl):
    # 1 - 0.1 * 0.5 = 0.95, -2 - 0.05 = -2.05, 0.5 + 0.1 = 0.6; weight_decay defaults to 0
    p = np.array([[1.0, -2.0, 0.5]])
    g = np.array([[0.5, 0.5, -1.0]])
    expect_close(run(impl.sgd_step, p, g, 0.1), np.array([[0.95, -2.05, 0.6]]))


@exercise("sgd_step")
def test_sgd_step_weight_decay_joins_the_gradient(impl):
    # L2: p - lr (g + wd p): 2 - 0.1 (1 + 0.5 * 2) = 1.8 and -1 - 0.1 (0 - 0.5) = -0.95
    p, g = np.array([2.0, -1.0]), np.array([1.0, 0.0])
    got = run(impl.sgd_step, p, g, 0.1, weight_decay=0.5)
    mistakes = {
        "forget the weight decay": p - 0.1 * g,
        "subtract weight_decay * param without multiplying it by lr": p - 0.1 * g - 0.5 * p,
        "add the decay with a plus sign (grad - weight_decay * param)": p - 0.1 * (g - 0.5 * p),
    }
    expect_close(got, np.array([1.8, -0.95]), what="with weight_decay=0.5", mistakes=mistakes)


@exercise("sgd_step")
@pytest.mark.parametrize("weight_decay", [0.0, 0.1])
def test_sgd_step_matches_loop_over_steps(impl, weight_decay):
    hyper = dict(lr=0.3, weight_decay=weight_decay)
    p0 = rng(10).normal(size=(3, 4))
    lr = hyper["lr"]
    mistakes = {
        "forget the weight decay": _sgd_rule(lr),
        "subtract weight_decay * param without multiplying it by lr": lambda t, p, g: (
            p - lr * g - weight_decay * p,
        ),
        "add the decay with a plus sign (grad - weight_decay * param)": _sgd_rule(lr, -weight_decay),
    }
    _follow(
        impl.sgd_step, _sgd_rule(**hyper), ("param",), p0, (), _grads(11, (3, 4)), mistakes=mistakes, **hyper
    )


@exercise("sgd_step")
def test_sgd_step_descends_a_quadratic(impl):
    # lr = 1 = 1 / (largest curvature): every coordinate moves toward its minimum without
    # overshoot; the slowest (curvature 0.01) keeps (0.99)^2 of its loss per step. The loss
    # falls from 3.0 to below 1e-4 in 300 steps.
    losses = _minimise(impl.sgd_step, 0, 300, lr=1.0)
    expect(
        all(b < a for a, b in zip(losses, losses[1:])),
        "gradient descent with lr=1 on f(p) = 1/2 sum a (p - c)^2, a <= 1, must lower the loss "
        f"at every step; losses {np.round(losses[:5], 4)} …",
    )
    expect(losses[-1] < 1e-4, f"loss {losses[-1]:.3g} after 300 steps from {losses[0]:.3g}, expected < 1e-4")


# ---------------------------------------------------------------------------------------------
# momentum_step and nesterov_step


def _momentum_rule(lr, mu, nesterov=False):
    def rule(t, p, g, velocity):
        velocity = mu * velocity + g
        return p - lr * (g + mu * velocity if nesterov else velocity), velocity

    return rule


def _momentum_mistakes(lr, mu):
    """Wrong forms of the heavy-ball step, named."""

    def lr_inside(t, p, g, v):
        v = mu * v + lr * g
        return p - v, v

    def old_velocity(t, p, g, v):
        return p - lr * v, mu * v + g

    def dampened(t, p, g, v):
        v = mu * v + (1 - mu) * g
        return p - lr * v, v

    return {
        "put lr inside the velocity (v = mu v + lr grad, then param - v)": lr_inside,
        "step with the old velocity, before updating it": old_velocity,
        "damp the gradient (v = mu v + (1 - mu) grad)": dampened,
    }


@exercise("momentum_step")
def test_momentum_step_by_hand(impl):
    # v = 0.9 * 0.5 + 2 = 2.45, p = 1 - 0.1 * 2.45 = 0.755; v = 0.9 * (-1) + 0 = -0.9, p = 0.09
    p, g, v = np.array([1.0, 0.0]), np.array([2.0, 0.0]), np.array([0.5, -1.0])
    call, (p1, v1) = _step_call(impl.momentum_step, p, g, v, lr=0.1, mu=0.9)
    mistakes = _momentum_mistakes(lr=0.1, mu=0.9)
    expect_close(
        Call(v1, str(call)),
        np.array([2.45, -0.9]),
        what="velocity (mu * v + grad, no lr)",
        mistakes=_named(mistakes, None, (p, g, v), 1),
    )
    expect_close(
        Call(p1, str(call)),
        np.array([0.755, 0.09]),
        what="param (param - lr * velocity)",
        mistakes=_named(mistakes, None, (p, g, v), 0),
    )


@exercise("momentum_step")
def test_momentum_step_matches_loop_over_steps(impl):
    hyper = dict(lr=0.05, mu=0.8)
    g = rng(20)
    p0, v0 = g.normal(size=(3, 4)), g.normal(size=(3, 4))
    rule = _momentum_rule(**hyper)
    mistakes = _momentum_mistakes(**hyper)
    _follow(
        impl.momentum_step,
        rule,
        ("param", "velocity"),
        p0,
        (v0,),
        _grads(21, (3, 4)),
        mistakes=mistakes,
        **hyper,
    )


@exercise("momentum_step")
def test_momentum_step_constant_gradient_geometric_sum(impl):
    # With a constant g from rest: v_k = g (1 - mu^k) / (1 - mu) and
    # p_k = p_0 - lr g sum_{j<=k} (1 - mu^j) / (1 - mu)
    #     = p_0 - lr g (k - mu (1 - mu^k) / (1 - mu)) / (1 - mu).
    lr, mu, k = 0.1, 0.75, 6
    g = np.array([[1.0, -2.0], [0.5, 4.0], [-3.0, 0.25]])
    p = p0 = rng(22).normal(size=(3, 2))
    v = np.zeros_like(g)
    for _ in range(k):
        call, (p, v) = _step_call(impl.momentum_step, p, g, v, lr=lr, mu=mu)
    what = f"after {k} steps with the same gradient"
    expect_close(Call(v, str(call)), g * (1 - mu**k) / (1 - mu), what=f"velocity {what}")
    travel = (k - mu * (1 - mu**k) / (1 - mu)) / (1 - mu)
    expect_close(Call(p, str(call)), p0 - lr * g * travel, what=f"param {what}")


@exercise("momentum_step")
def test_momentum_step_beats_plain_sgd_on_an_ill_conditioned_quadratic(impl):
    # Same lr; mu = 0 is plain gradient descent. In 100 steps heavy-ball momentum with
    # mu = 0.8 takes the loss from 3.0 below 1e-6, over a thousand times lower than plain
    # descent (about 1e-3).
    plain = _minimise(impl.momentum_step, 1, 100, lr=1.0, mu=0.0)[-1]
    heavy = _minimise(impl.momentum_step, 1, 100, lr=1.0, mu=0.8)[-1]
    expect(heavy < 1e-6, f"momentum (lr=1, mu=0.8): loss {heavy:.3g} after 100 steps, expected < 1e-6")
    expect(
        heavy < 1e-3 * plain,
        f"momentum (mu=0.8) reached loss {heavy:.3g} and plain descent (mu=0) {plain:.3g}: "
        "expected momentum over 1000x lower",
    )


@exercise("nesterov_step")
def test_nesterov_step_by_hand(impl):
    # v = 0.9 * 0.5 + 2 = 2.45, p = 1 - 0.1 (2 + 0.9 * 2.45) = 0.5795
    p, g, v = np.array([1.0]), np.array([2.0]), np.array([0.5])
    call, (p1, v1) = _step_call(impl.nesterov_step, p, g, v, lr=0.1, mu=0.9)
    expect_close(Call(v1, str(call)), np.array([2.45]), what="velocity (mu * v + grad)")
    mistakes = {
        "step with the new velocity alone, as plain momentum does": p - 0.1 * 2.45,
        "look ahead with the old velocity (grad + mu * velocity, before updating it)": p
        - 0.1 * (g + 0.9 * v),
    }
    expect_close(
        Call(p1, str(call)),
        np.array([0.5795]),
        what="param (param - lr (grad + mu * v_new))",
        mistakes=mistakes,
    )


@exercise("nesterov_step")
def test_nesterov_step_first_step_is_not_plain_momentum(impl):
    # From rest, v_1 = g and the step is lr (g + mu g) = lr (1 + mu) g; plain momentum
    # would move by only lr g.
    lr, mu = 0.2, 0.5
    p, g = rng(30).normal(size=(2, 5)), rng(31).normal(size=(2, 5))
    call, (p1, _) = _step_call(impl.nesterov_step, p, g, np.zeros_like(p), lr=lr, mu=mu)
    expect_close(Call(p1, str(call)), p - lr * (1 + mu) * g, what="param after one step from rest")


@exercise("nesterov_step")
def test_nesterov_step_matches_loop_over_steps(impl):
    hyper = dict(lr=0.05, mu=0.8)
    g = rng(32)
    p0, v0 = g.normal(size=(4, 3)), g.normal(size=(4, 3))
    rule = _momentum_rule(**hyper, nesterov=True)
    lr, mu = hyper["lr"], hyper["mu"]

    def old_look_ahead(t, p, g, v):
        return p - lr * (g + mu * v), mu * v + g

    mistakes = {
        "step with the new velocity alone, as plain momentum does": _momentum_rule(lr, mu),
        "look ahead with the old velocity (grad + mu * velocity, before updating it)": old_look_ahead,
    }
    _follow(
        impl.nesterov_step,
        rule,
        ("param", "velocity"),
        p0,
        (v0,),
        _grads(33, (4, 3)),
        mistakes=mistakes,
        **hyper,
    )


@exercise("nesterov_step")
def test_nesterov_step_converges_on_an_ill_conditioned_quadratic(impl):
    # With mu = 0.8 the loss falls from 3.0 below 1e-6 in 100 steps (plain descent: 1e-3).
    losses = _minimise(impl.nesterov_step, 1, 100, lr=1.0, mu=0.8)
    expect(
        losses[-1] < 1e-6, f"Nesterov (lr=1, mu=0.8): loss {losses[-1]:.3g} after 100 steps, expected < 1e-6"
    )


# ---------------------------------------------------------------------------------------------
# adagrad_step and rmsprop_step


def _adagrad_rule(lr, eps):
    def rule(t, p, g, sum_sq):
        sum_sq = sum_sq + g * g
        return p - lr * g / (math.sqrt(sum_sq) + eps), sum_sq

    return rule


def _rmsprop_rule(lr, alpha, eps):
    def rule(t, p, g, sq_avg):
        sq_avg = alpha * sq_avg + (1 - alpha) * g * g
        return p - lr * g / (math.sqrt(sq_avg) + eps), sq_avg

    return rule


def _adaptive_mistakes(lr, eps, average=None):
    """Wrong forms of AdaGrad's step (average None) or RMSProp's (average = alpha), named."""
    new = (lambda s, g: s + g * g) if average is None else (lambda s, g: average * s + (1 - average) * g * g)

    def eps_inside(t, p, g, s):
        s = new(s, g)
        return p - lr * g / math.sqrt(s + eps), s

    def old_state(t, p, g, s):
        return p - lr * g / (math.sqrt(s) + eps), new(s, g)

    def no_root(t, p, g, s):
        s = new(s, g)
        return p - lr * g / (s + eps), s

    named = {
        "add eps inside the square root": eps_inside,
        "divide by the old state, before adding this step's grad**2": old_state,
        "forget the square root": no_root,
    }
    if average is not None:

        def swapped(t, p, g, s):
            s = (1 - average) * s + average * g * g
            return p - lr * g / (math.sqrt(s) + eps), s

        named["swap alpha and 1 - alpha"] = swapped
    return named


def _constant_gradient_steps(step_fn, g, n, **hyper) -> tuple[Call, list[np.ndarray]]:
    """The parameter's change at each of n steps from rest (p = 0, state 0) with gradient g."""
    p, state, moves = np.zeros_like(g), np.zeros_like(g), []
    for _ in range(n):
        call, (new, state) = _step_call(step_fn, p, g, state, **hyper)
        moves.append(new - p)
        p = new
    return call, moves


@exercise("adagrad_step")
def test_adagrad_step_by_hand(impl):
    # sum 16 + 9 = 25, step 0.5 * 3 / 5 = 0.3; sum 3 + 1 = 4, step 0.5 * (-1) / 2 = -0.25
    p, g, s = np.array([1.0, 0.0]), np.array([3.0, -1.0]), np.array([16.0, 3.0])
    call, (p1, s1) = _step_call(impl.adagrad_step, p, g, s, lr=0.5, eps=0.0)
    mistakes = _adaptive_mistakes(0.5, 0.0)
    expect_close(Call(s1, str(call)), np.array([25.0, 4.0]), what="sum_sq (old sum + grad**2)")
    expect_close(
        Call(p1, str(call)),
        np.array([0.7, 0.25]),
        what="param",
        mistakes=_named(mistakes, None, (p, g, s), 0),
    )


@exercise("adagrad_step")
@pytest.mark.parametrize("eps", [1e-10, 0.1])
def test_adagrad_step_matches_loop_over_steps(impl, eps):
    # Starts from a non-zero sum so that the old squares must be kept; with eps = 0.1 it
    # matters that eps is added after the square root.
    hyper = dict(lr=0.4, eps=eps)
    g = rng(40)
    p0, s0 = g.normal(size=(3, 5)), g.uniform(0.5, 2.0, size=(3, 5))
    _follow(
        impl.adagrad_step,
        _adagrad_rule(**hyper),
        ("param", "sum_sq"),
        p0,
        (s0,),
        _grads(41, (3, 5)),
        mistakes=_adaptive_mistakes(**hyper),
        **hyper,
    )


@exercise("adagrad_step")
def test_adagrad_step_size_shrinks_as_one_over_sqrt_k(impl):
    # Constant g from rest: sum_sq = k g^2, so step k moves -lr sign(g) / sqrt(k), whatever |g|.
    lr, g = 0.5, np.array([[2.0, -0.01, 50.0], [-3.0, 1e-3, 0.7]])
    call, moves = _constant_gradient_steps(impl.adagrad_step, g, 6, lr=lr, eps=1e-12)
    for k, move in enumerate(moves, start=1):
        want = -lr * np.sign(g) / math.sqrt(k)
        expect_close(
            Call(move, str(call)), want, rtol=1e-7, what=f"change of param at step {k} (constant grad)"
        )


@exercise("adagrad_step")
def test_adagrad_step_descends_a_quadratic(impl):
    # Per-coordinate step sizes: even the flattest coordinate (curvature 0.01) gets within
    # reach; the loss falls from 3.0 to below 1e-8 in 100 steps.
    losses = _minimise(impl.adagrad_step, 1, 100, lr=1.0, eps=1e-10)
    expect(losses[-1] < 1e-8, f"AdaGrad (lr=1): loss {losses[-1]:.3g} after 100 steps from {losses[0]:.3g}")


@exercise("rmsprop_step")
def test_rmsprop_step_by_hand(impl):
    # alpha 0.75: avg 0.75 * 0 + 0.25 * 4 = 1 -> step 0.2 * 2 / 1 = 0.4;
    #             avg 0.75 * 20 + 0.25 * 4 = 16 -> step 0.2 * 2 / 4 = 0.1
    p, g, s = np.array([1.0, 1.0]), np.array([2.0, 2.0]), np.array([0.0, 20.0])
    call, (p1, s1) = _step_call(impl.rmsprop_step, p, g, s, lr=0.2, alpha=0.75, eps=0.0)
    mistakes = _adaptive_mistakes(0.2, 0.0, average=0.75)
    expect_close(
        Call(s1, str(call)),
        np.array([1.0, 16.0]),
        what="sq_avg (alpha * old + (1 - alpha) * grad**2)",
        mistakes=_named(mistakes, None, (p, g, s), 1),
    )
    expect_close(
        Call(p1, str(call)), np.array([0.6, 0.9]), what="param", mistakes=_named(mistakes, None, (p, g, s), 0)
    )


@exercise("rmsprop_step")
@pytest.mark.parametrize("alpha, eps", [(0.9, 1e-8), (0.6, 0.1)])
def test_rmsprop_step_matches_loop_over_steps(impl, alpha, eps):
    # eps = 0.1 makes it matter that eps is added after the square root.
    hyper = dict(lr=0.01, alpha=alpha, eps=eps)
    g = rng(50)
    p0, s0 = g.normal(size=(2, 3, 4)), g.uniform(0.1, 1.0, size=(2, 3, 4))
    rule = _rmsprop_rule(**hyper)
    mistakes = _adaptive_mistakes(hyper["lr"], eps, average=alpha)
    _follow(
        impl.rmsprop_step,
        rule,
        ("param", "sq_avg"),
        p0,
        (s0,),
        _grads(51, (2, 3, 4)),
        mistakes=mistakes,
        **hyper,
    )


@exercise("rmsprop_step")
def test_rmsprop_step_constant_gradient_from_rest(impl):
    # Constant g from rest: sq_avg_k = (1 - alpha^k) g^2, so step k moves
    # -lr sign(g) / sqrt(1 - alpha^k): large at first (no bias correction in RMSProp).
    lr, alpha, g = 0.01, 0.9, np.array([3.0, -0.02, 0.5])
    call, moves = _constant_gradient_steps(impl.rmsprop_step, g, 5, lr=lr, alpha=alpha, eps=1e-12)
    for k, move in enumerate(moves, start=1):
        want = -lr * np.sign(g) / math.sqrt(1 - alpha**k)
        expect_close(
            Call(move, str(call)), want, rtol=1e-7, what=f"change of param at step {k} (constant grad)"
        )


@exercise("rmsprop_step")
def test_rmsprop_step_descends_a_quadratic(impl):
    # Steps of about lr per coordinate whatever the curvature: from 3.0 to below 1e-6
    # in 200 steps with lr = 0.02.
    losses = _minimise(impl.rmsprop_step, 1, 200, lr=0.02, alpha=0.9, eps=1e-8)
    expect(
        losses[-1] < 1e-6, f"RMSProp (lr=0.02): loss {losses[-1]:.3g} after 200 steps from {losses[0]:.3g}"
    )


# ---------------------------------------------------------------------------------------------
# adam_step and adamw_step


def _adam_rule(lr, beta1, beta2, eps, weight_decay=0.0):
    """Adam; with weight_decay, AdamW in PyTorch's order (decay the old p first)."""

    def rule(t, p, g, m, v):
        p = p * (1 - lr * weight_decay)
        m = beta1 * m + (1 - beta1) * g
        v = beta2 * v + (1 - beta2) * g * g
        m_hat, v_hat = m / (1 - beta1**t), v / (1 - beta2**t)
        return p - lr * m_hat / (math.sqrt(v_hat) + eps), m, v

    return rule


_ADAM_OUT = ("param", "m", "v")


def _adam_mistakes(lr, beta1, beta2, eps, weight_decay=0.0):
    """Wrong forms of Adam's step (and, with weight_decay, of AdamW's), named."""

    def variant(correct=True, eps_inside=False, l2=False, decay_after=False):
        def rule(t, p, g, m, v):
            if l2:
                g = g + weight_decay * p
            elif not decay_after:
                p = p * (1 - lr * weight_decay)
            m = beta1 * m + (1 - beta1) * g
            v = beta2 * v + (1 - beta2) * g * g
            m_hat, v_hat = (m / (1 - beta1**t), v / (1 - beta2**t)) if correct else (m, v)
            root = math.sqrt(v_hat + eps) if eps_inside else math.sqrt(v_hat) + eps
            new = p - lr * m_hat / root
            return (new * (1 - lr * weight_decay) if decay_after else new), m, v

        return rule

    named = {
        "forget the bias correction (m / (1 - beta1**t), v / (1 - beta2**t))": variant(correct=False),
        "add eps inside the square root": variant(eps_inside=True),
    }
    if weight_decay:
        named["add the decay to the gradient (Adam with L2, not decoupled)"] = variant(l2=True)
        named["decay after the Adam step instead of before"] = variant(decay_after=True)
    return named


@exercise("adam_step")
@pytest.mark.parametrize("shape", [(3, 4), (2, 1, 5)])
def test_adam_step_matches_loop_from_the_first_step(impl, shape):
    hyper = dict(lr=0.01, beta1=0.9, beta2=0.999, eps=1e-8)
    p0, zeros = rng(60).normal(size=shape), np.zeros(shape)
    _follow(
        impl.adam_step,
        _adam_rule(**hyper),
        _ADAM_OUT,
        p0,
        (zeros, zeros),
        _grads(61, shape),
        first_t=1,
        mistakes=_adam_mistakes(**hyper),
        **hyper,
    )


@exercise("adam_step")
def test_adam_step_matches_loop_resumed_at_step_4(impl):
    # Non-zero moments, t = 4..8, a large eps (so where it goes matters) and unusual betas.
    hyper = dict(lr=0.1, beta1=0.6, beta2=0.8, eps=0.1)
    g = rng(62)
    p0, m0, v0 = g.normal(size=(4, 3)), g.normal(size=(4, 3)) * 0.1, g.uniform(0.01, 0.2, size=(4, 3))
    _follow(
        impl.adam_step,
        _adam_rule(**hyper),
        _ADAM_OUT,
        p0,
        (m0, v0),
        _grads(63, (4, 3)),
        first_t=4,
        mistakes=_adam_mistakes(**hyper),
        **hyper,
    )


@exercise("adam_step")
def test_adam_step_by_hand_at_t_2(impl):
    # beta1 0.5, beta2 0.75, m 1, v 1, g -2:
    # m = 0.5 - 1 = -0.5, v = 0.75 + 0.25 * 4 = 1.75, bias corrections 1 - 0.25 and 1 - 0.5625:
    # m_hat = -2/3, v_hat = 4, param 1 - 0.3 * (-2/3) / 2 = 1.1
    one = np.array([1.0])
    call, (p1, m1, v1) = _step_call(
        impl.adam_step, one, -2 * one, one, one, 2, lr=0.3, beta1=0.5, beta2=0.75, eps=0.0
    )
    expect_close(Call(m1, str(call)), [-0.5], what="m (beta1 * m + (1 - beta1) * grad)")
    expect_close(Call(v1, str(call)), [1.75], what="v (beta2 * v + (1 - beta2) * grad**2)")
    expect_close(Call(p1, str(call)), [1.1], what="param (t = 2 is the second step: divide by 1 - beta**2)")


@exercise("adam_step")
def test_adam_step_first_step_moves_by_lr(impl):
    # At t = 1 the bias correction turns m and v back into g and g^2, so every entry moves by
    # lr * g / (|g| + eps) = lr * sign(g), whatever the gradient's scale.
    g = np.array([[2.0, -1e-3, 300.0], [-0.5, 4e-2, -7.0]])
    call, (p1, _, _) = _step_call(
        impl.adam_step,
        np.zeros_like(g),
        g,
        np.zeros_like(g),
        np.zeros_like(g),
        1,
        lr=0.01,
        beta1=0.9,
        beta2=0.999,
        eps=1e-12,
    )
    expect_close(
        Call(p1, str(call)), -0.01 * np.sign(g), rtol=1e-8, what="param after the first step (t=1) from 0"
    )


@exercise("adam_step")
def test_adam_step_eps_outside_the_square_root(impl):
    # t = 1: m_hat = 0.5, v_hat = 0.25; lr * 0.5 / (sqrt(0.25) + 0.5) = 0.05 (inside the root
    # it would be 0.5 / sqrt(0.75) = 0.0577)
    p, g, z = np.array([1.0]), np.array([0.5]), np.zeros(1)
    call, (p1, _, _) = _step_call(impl.adam_step, p, g, z, z, 1, lr=0.1, beta1=0.9, beta2=0.999, eps=0.5)
    expect_close(Call(p1, str(call)), [0.95], what="param with eps=0.5: lr * m_hat / (sqrt(v_hat) + eps)")


@exercise("adam_step")
def test_adam_step_descends_a_quadratic(impl):
    # Adam's steps are about lr in every coordinate: from 3.0 to below 1e-6 in 200 steps.
    losses = _minimise(impl.adam_step, 2, 200, counted=True, lr=0.05, beta1=0.9, beta2=0.999, eps=1e-8)
    expect(losses[-1] < 1e-6, f"Adam (lr=0.05): loss {losses[-1]:.3g} after 200 steps from {losses[0]:.3g}")


@exercise("adamw_step")
def test_adamw_step_by_hand(impl):
    # decay first: 2 * (1 - 0.1 * 0.5) = 1.9, then Adam's first step moves by lr sign(g) = 0.1:
    # 1.8. (Decay after the step: 1.9 * 0.95 = 1.805; L2 in the gradient: 2 - 0.1 = 1.9.)
    p, g, z = np.array([2.0]), np.array([0.5]), np.zeros(1)
    call, (p1, m1, v1) = _step_call(
        impl.adamw_step, p, g, z, z, 1, lr=0.1, beta1=0.9, beta2=0.999, eps=1e-12, weight_decay=0.5
    )
    mistakes = _named(
        _adam_mistakes(lr=0.1, beta1=0.9, beta2=0.999, eps=1e-12, weight_decay=0.5), 1, (p, g, z, z), 0
    )
    expect_close(
        Call(p1, str(call)), [1.8], what="param: p * (1 - lr * wd), then the Adam step", mistakes=mistakes
    )
    expect_close(Call(m1, str(call)), [0.05], what="m (the raw gradient's average; the decay is not in m)")
    expect_close(Call(v1, str(call)), [0.00025], what="v (the raw gradient's; the decay is not in v)")


@exercise("adamw_step")
def test_adamw_step_matches_loop_over_steps(impl):
    # lr * weight_decay = 0.05 is large enough that decaying through the gradient (Adam + L2)
    # or after the Adam step are far outside the tolerance.
    hyper = dict(lr=0.1, beta1=0.9, beta2=0.99, eps=1e-8, weight_decay=0.5)
    p0, zeros = rng(70).normal(size=(3, 4)) * 2, np.zeros((3, 4))
    _follow(
        impl.adamw_step,
        _adam_rule(**hyper),
        _ADAM_OUT,
        p0,
        (zeros, zeros),
        _grads(71, (3, 4)),
        first_t=1,
        mistakes=_adam_mistakes(**hyper),
        **hyper,
    )


@exercise("adamw_step")
def test_adamw_step_matches_loop_resumed_with_moments(impl):
    hyper = dict(lr=0.05, beta1=0.7, beta2=0.9, eps=1e-3, weight_decay=0.2)
    g = rng(72)
    p0, m0, v0 = g.normal(size=(5, 2)), g.normal(size=(5, 2)) * 0.2, g.uniform(0.05, 0.5, size=(5, 2))
    _follow(
        impl.adamw_step, _adam_rule(**hyper), _ADAM_OUT, p0, (m0, v0), _grads(73, (5, 2)), first_t=3, **hyper
    )


@exercise("adamw_step")
def test_adamw_step_shrinks_weights_geometrically_on_a_flat_loss(impl):
    # Zero gradient and zero moments: the Adam part is 0 / (0 + eps) = 0, so only the decay
    # acts, p_k = p_0 (1 - lr wd)^k. Adam with L2 would instead move every weight by about
    # lr per step, whatever its size.
    lr, wd = 0.1, 0.3
    p = p0 = rng(74).normal(size=(2, 3))
    m = v = np.zeros_like(p)
    for t in range(1, 6):
        call, (p, m, v) = _step_call(
            impl.adamw_step,
            p,
            np.zeros_like(p),
            m,
            v,
            t,
            lr=lr,
            beta1=0.9,
            beta2=0.999,
            eps=1e-8,
            weight_decay=wd,
        )
    expect_close(Call(p, str(call)), p0 * (1 - lr * wd) ** 5, what="param after 5 steps with zero gradient")


@exercise("adamw_step")
def test_adamw_step_descends_a_quadratic(impl):
    # Small decay: the loss still falls from 3.0 to below 1e-5 in 500 steps (the decay pulls
    # the optimum slightly toward 0, so it levels off at about 4e-7).
    losses = _minimise(
        impl.adamw_step, 2, 500, counted=True, lr=0.05, beta1=0.9, beta2=0.999, eps=1e-8, weight_decay=1e-3
    )
    expect(
        losses[-1] < 1e-5, f"AdamW (lr=0.05, wd=1e-3): loss {losses[-1]:.3g} after 500 steps, expected < 1e-5"
    )


# ---------------------------------------------------------------------------------------------
# clip_by_value and clip_by_global_norm


def _list_result(call: Call, grads: list[np.ndarray], value) -> list:
    expect(
        isinstance(value, list) and len(value) == len(grads),
        f"{call}: returned {type(value).__name__}, expected a list of {len(grads)} arrays",
    )
    return value


def _expect_arrays(call: Call, got: list, want: list, what: str, rtol: float = 1e-9, mistakes=None) -> None:
    """Each array close to its want; mistakes: {phrase: the wrong list of arrays}."""
    for i, (got_i, want_i) in enumerate(zip(got, want)):
        named = {phrase: wrong[i] for phrase, wrong in (mistakes or {}).items()}
        expect_close(
            Call(got_i, str(call)), want_i, rtol=rtol, atol=1e-12, what=f"{what} [{i}]", mistakes=named
        )


def _expect_new_arrays(call: Call, got: list, given: list) -> None:
    for i, (a, g) in enumerate(zip(got, given)):
        expect(
            not np.shares_memory(a, g),
            f"{call}: array [{i}] of the result is the caller's array [{i}] itself; return a new "
            "array (a copy) even when nothing needs to change",
        )


def _clip_loop(grads: list[np.ndarray], c: float) -> list[np.ndarray]:
    return [np.array([min(max(float(x), -c), c) for x in g.ravel()]).reshape(g.shape) for g in grads]


@exercise("clip_by_value")
def test_clip_by_value_by_hand(impl):
    grads = [np.array([[-3.0, 0.5], [2.0, -0.1]]), np.array([1.5, -1.0, 0.0])]
    call = run(impl.clip_by_value, grads, 1.0)
    got = _list_result(call, grads, call.value)
    mistakes = {
        "clip from above only (np.minimum(g, c))": [np.minimum(g, 1.0) for g in grads],
        "clip from below only (np.maximum(g, -c))": [np.maximum(g, -1.0) for g in grads],
        "set every entry beyond the range to 0 instead of to ±c": [
            np.where(np.abs(g) > 1.0, 0.0, g) for g in grads
        ],
    }
    want = [np.array([[-1.0, 0.5], [1.0, -0.1]]), np.array([1.0, -1.0, 0.0])]
    _expect_arrays(call, got, want, "clipped", mistakes=mistakes)


@exercise("clip_by_value")
def test_clip_by_value_matches_loop(impl):
    g = rng(80)
    grads = [g.normal(size=(3, 4)) * 2, g.normal(size=(5,)), g.normal(size=(2, 1, 3)) * 0.1]
    call = run(impl.clip_by_value, grads, 0.7)
    _expect_arrays(
        call, _list_result(call, grads, call.value), _clip_loop(grads, 0.7), "clipped to [-0.7, 0.7]"
    )


@exercise("clip_by_value")
def test_clip_by_value_leaves_small_entries_alone(impl):
    # Every entry already inside [-1, 1]: nothing changes, and the list keeps its order.
    g = rng(81)
    grads = [g.uniform(-0.9, 0.9, size=(2, 3)), g.uniform(-0.9, 0.9, size=(4,))]
    call = run(impl.clip_by_value, grads, 1.0)
    _expect_arrays(
        call, _list_result(call, grads, call.value), grads, "unchanged (all inside the range)", rtol=0
    )
    _expect_new_arrays(call, call.value, grads)


def _global_norm_call(impl, grads, max_norm) -> tuple[Call, list, Call]:
    call = run(impl.clip_by_global_norm, grads, max_norm)
    value = call.value
    expect(
        isinstance(value, tuple) and len(value) == 2,
        f"{call}: returned {type(value).__name__}, expected a tuple (clipped list, total_norm)",
    )
    return call, _list_result(call, grads, value[0]), Call(value[1], str(call))


@exercise("clip_by_global_norm")
def test_clip_by_global_norm_by_hand(impl):
    # global norm sqrt(3^2 + 4^2) = 5 > 1: both arrays scale by 1/5
    grads = [np.array([3.0, 0.0]), np.array([[0.0], [4.0]])]
    call, clipped, norm = _global_norm_call(impl, grads, 1.0)
    # rtol 1e-6 also accepts PyTorch's max_norm / (total_norm + 1e-6)
    mistakes = {
        "clip each array by its own norm instead of by the global norm": [
            g / max(1.0, float(np.sqrt(np.sum(g**2)))) for g in grads
        ]
    }
    _expect_arrays(
        call,
        clipped,
        [np.array([0.6, 0.0]), np.array([[0.0], [0.8]])],
        "clipped",
        rtol=1e-6,
        mistakes=mistakes,
    )
    norm_mistakes = {
        "return the norm after clipping instead of before": 1.0,
        "return the sum of squares, without the square root": 25.0,
        "return the sum of the arrays' own norms instead of the global norm": 7.0,
    }
    expect_close(norm, 5.0, what="total_norm (before clipping)", mistakes=norm_mistakes)


@exercise("clip_by_global_norm")
def test_clip_by_global_norm_under_the_limit_changes_nothing(impl):
    # global norm sqrt(0.36 + 0.64) = 1 < 2: returned as they are
    grads = [np.array([[0.6, 0.0, 0.0]]), np.array([0.0, -0.8])]
    call, clipped, norm = _global_norm_call(impl, grads, 2.0)
    _expect_arrays(call, clipped, grads, "unchanged (total norm 1 is under max_norm 2)", rtol=1e-12)
    expect_close(norm, 1.0, what="total_norm")
    _expect_new_arrays(call, clipped, grads)


@exercise("clip_by_global_norm")
def test_clip_by_global_norm_scales_every_array_by_the_same_factor(impl):
    # The first array's own norm (0.6) is under max_norm = 1, but the global norm is
    # sqrt(0.36 + 9) = 3.0594: it is scaled too, by 1 / 3.0594, like the second.
    grads = [np.array([0.6, 0.0]), np.array([[0.0, 3.0, 0.0]])]
    call, clipped, norm = _global_norm_call(impl, grads, 1.0)
    total = math.sqrt(0.36 + 9.0)
    mistakes = {
        "clip each array by its own norm instead of by the global norm": [
            g / max(1.0, float(np.sqrt(np.sum(g**2)))) for g in grads
        ],
    }
    _expect_arrays(
        call,
        clipped,
        [g / total for g in grads],
        "scaled by max_norm / global norm",
        rtol=1e-6,
        mistakes=mistakes,
    )
    norm_mistakes = {
        "return the norm after clipping instead of before": 1.0,
        "return the sum of the arrays' own norms instead of the global norm": 0.6 + 3.0,
        "return the sum of squares, without the square root": 9.36,
    }
    expect_close(norm, total, what="total_norm (of all arrays together)", mistakes=norm_mistakes)


@exercise("clip_by_global_norm")
def test_clip_by_global_norm_matches_loop(impl):
    g = rng(90)
    grads = [g.normal(size=(3, 4)), g.normal(size=(6,)) * 2, g.normal(size=(2, 3, 1))]
    total = math.sqrt(math.fsum(float(x) ** 2 for a in grads for x in a.ravel()))
    call, clipped, norm = _global_norm_call(impl, grads, 1.5)
    expect_close(norm, total, what="total_norm")
    _expect_arrays(call, clipped, [a * (1.5 / total) for a in grads], "clipped", rtol=1e-6)
    after = math.sqrt(sum(float(np.sum(c**2)) for c in clipped))
    expect_close(Call(after, f"global norm of {call}'s result"), 1.5, rtol=1e-6)


@exercise("clip_by_global_norm")
def test_clip_by_global_norm_tames_a_steep_loss(impl):
    # Gradient descent on f(p) = sum p^4 / 4 (gradient p^3) from p = (6, -5, 4) with lr = 0.1
    # jumps to p ~ -16 at once and then diverges. Clipping the gradient's norm to 1 bounds
    # each step by 0.1, and the loss falls at every step, from 544 to below 1e-3 in 300 steps.
    p = np.array([6.0, -5.0, 4.0])
    losses = [float(np.sum(p**4) / 4)]
    for _ in range(300):
        (grad,), _ = impl.clip_by_global_norm([p**3], 1.0)
        p = p - 0.1 * grad
        losses.append(float(np.sum(p**4) / 4))
    expect(
        all(b < a for a, b in zip(losses, losses[1:])),
        f"the loss must fall at every step; got {losses[:6]} …",
    )
    expect(losses[-1] < 1e-3, f"loss {losses[-1]:.3g} after 300 clipped steps, from {losses[0]:.3g}")


# ---------------------------------------------------------------------------------------------
# float32 in, float32 out


def _expect_keeps_float32(fn, n_arrays: int, *hyper, **kwargs) -> None:
    """fn(param, grad, *state, *hyper) on float32 arrays returns float32 arrays only."""
    g = rng(900)
    arrays = [g.normal(size=(3, 4)).astype(np.float32) for _ in range(n_arrays)]
    arrays[2:] = [np.abs(a) for a in arrays[2:]]  # states: AdaGrad's and RMSProp's sums are >= 0
    got = run(fn, *arrays, *hyper, **kwargs)
    results = got.value if isinstance(got.value, tuple) else (got.value,)
    dtypes = [getattr(r, "dtype", type(r).__name__) for r in results]
    expect(
        all(d == np.float32 for d in dtypes),
        f"{got}: dtypes {', '.join(map(str, dtypes))}, expected float32 throughout (float32 in, "
        "float32 out: a NumPy float64 constant or an array made with np.zeros turns it into float64)",
    )


@exercise("sgd_step")
def test_sgd_step_keeps_float32(impl):
    _expect_keeps_float32(impl.sgd_step, 2, 0.1, 0.01)


@exercise("momentum_step")
def test_momentum_step_keeps_float32(impl):
    _expect_keeps_float32(impl.momentum_step, 3, 0.1, 0.9)


@exercise("nesterov_step")
def test_nesterov_step_keeps_float32(impl):
    _expect_keeps_float32(impl.nesterov_step, 3, 0.1, 0.9)


@exercise("adagrad_step")
def test_adagrad_step_keeps_float32(impl):
    _expect_keeps_float32(impl.adagrad_step, 3, 0.1)


@exercise("rmsprop_step")
def test_rmsprop_step_keeps_float32(impl):
    _expect_keeps_float32(impl.rmsprop_step, 3, 0.01)


@exercise("adam_step")
def test_adam_step_keeps_float32(impl):
    _expect_keeps_float32(impl.adam_step, 4, 3, lr=0.01)


@exercise("adamw_step")
def test_adamw_step_keeps_float32(impl):
    _expect_keeps_float32(impl.adamw_step, 4, 3, lr=0.01)


@exercise("clip_by_value")
def test_clip_by_value_keeps_float32(impl):
    grads = [rng(901).normal(size=(3, 4)).astype(np.float32), np.array([0.5, -2.0], dtype=np.float32)]
    got = run(impl.clip_by_value, grads, 1.0)
    dtypes = [getattr(a, "dtype", type(a).__name__) for a in _list_result(got, grads, got.value)]
    expect(all(d == np.float32 for d in dtypes), f"{got}: dtypes {dtypes}, expected float32 (as given)")


@exercise("clip_by_global_norm")
def test_clip_by_global_norm_keeps_float32(impl):
    grads = [rng(902).normal(size=(3, 4)).astype(np.float32), np.array([0.5, -2.0], dtype=np.float32)]
    for max_norm in (1.0, 100.0):  # clipped, and returned as they are
        got, clipped, norm = _global_norm_call(impl, grads, max_norm)
        dtypes = [getattr(a, "dtype", type(a).__name__) for a in clipped]
        expect(all(d == np.float32 for d in dtypes), f"{got}: dtypes {dtypes}, expected float32 (as given)")
        expect(
            isinstance(norm.value, float),
            f"{got}: total_norm is {type(norm.value).__name__}, expected a Python float (float(...))",
        )
