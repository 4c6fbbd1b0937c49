"""Tests for chapter 8, part 2: WGAN-GP on eight Gaussians on a ring.

Expected values come from this file: the tanh MLP written with the layers spelled out, the
critic's input gradient taken by central differences of that forward pass (never by a
backward pass), the gradient penalty computed from it, and every parameter gradient checked
against central differences of the written-out loss (with the interpolation's eps drawn
from the same seeded generator, so it is fixed). The energy distance is checked against a
double loop over pairs. The training test trains a small WGAN-GP for about half a second and
requires an energy distance to held-out points that the reference beat on every one of 30
seeds and that the best single Gaussian does not reach. Sizes are never square.
"""

import numpy as np
import pytest

from grader.testkit import (
    Call,
    exercise,
    expect,
    expect_close,
    expect_parts,
    numeric_grad,
    numeric_param_grads,
    rng,
    run,
)

KEYS = ["W1", "b1", "W2", "b2", "W3", "b3"]

# ---------------------------------------------------------------------------------------------
# The MLP and its input gradient, written out


def _mlp(p, x, skip_b2=False, tanh_out=False):
    h1 = np.tanh(x @ p["W1"] + p["b1"])
    h2 = np.tanh(h1 @ p["W2"] + (0 if skip_b2 else p["b2"]))
    out = h2 @ p["W3"] + p["b3"]
    return np.tanh(out) if tanh_out else out


def _params(d_in, hidden, d_out, seed, scale=0.8):
    g = rng(seed)
    p = {}
    for k, (a, b) in enumerate([(d_in, hidden), (hidden, hidden + 1), (hidden + 1, d_out)], start=1):
        p[f"W{k}"] = scale * g.normal(size=(a, b))
        p[f"b{k}"] = 0.3 * g.normal(size=b)
    return p


def _input_grad(p, x):
    """Row n: dD(x_n)/dx_n by central differences (D's rows do not interact)."""
    g = np.zeros_like(x)
    for j in range(x.shape[1]):
        e = np.zeros(x.shape[1])
        e[j] = 1e-6
        g[:, j] = (_mlp(p, x + e)[:, 0] - _mlp(p, x - e)[:, 0]) / 2e-6
    return g


def _input_grad_exact(p, x):
    """The same gradient in closed form (used inside numeric differentiation, where a
    difference of differences would be too noisy)."""
    h1 = np.tanh(x @ p["W1"] + p["b1"])
    h2 = np.tanh(h1 @ p["W2"] + p["b2"])
    return (((1 - h2**2) * p["W3"][:, 0]) @ p["W2"].T * (1 - h1**2)) @ p["W1"].T


def _penalty(p, x_hat, lam):
    norm = np.sqrt((_input_grad_exact(p, x_hat) ** 2).sum(axis=1))
    return lam * float(((norm - 1) ** 2).mean())


def _of(call, value):
    """One piece of a call's result, as it came back (a list where an array is due fails)."""
    return Call(value, str(call))


def _expect_grads(call, got, want, rtol=1e-5, atol=1e-8, mistakes=None):
    expect(
        isinstance(got, dict) and set(got) == set(want),
        f"{call}: expected a dict with the keys {sorted(want)}, got "
        f"{sorted(got) if isinstance(got, dict) else type(got).__name__}",
    )
    for name in want:
        expect_close(
            _of(call, got[name]),
            want[name],
            rtol=rtol,
            atol=atol,
            what=f"d{name}",
            mistakes=(mistakes or {}).get(name),
        )


def _copy(p):
    return {k: v.copy() for k, v in p.items()}


def _expect_unchanged(call, before, after, name):
    for k in before:
        expect(
            np.array_equal(before[k], after[k]),
            f"{call} changed {name}[{k!r}] in place; build new arrays (new = old - step) instead",
        )


# ---------------------------------------------------------------------------------------------
# mlp_forward


@exercise("mlp_forward")
def test_mlp_forward_two_tanh_layers_then_linear(impl):
    p = _params(3, 5, 2, 0)
    x = rng(1).normal(size=(7, 3))
    got = run(impl.mlp_forward, p, x)
    out, _ = expect_parts(got, ["out", "cache"], [(7, 2), None])
    expect_close(
        _of(got, out),
        _mlp(p, x),
        what="out",
        mistakes={
            "forget the bias b2": _mlp(p, x, skip_b2=True),
            "apply tanh to the output layer too": _mlp(p, x, tanh_out=True),
        },
    )


@exercise("mlp_forward")
def test_mlp_forward_rows_are_independent(impl):
    p = _params(2, 4, 1, 2)
    x = rng(3).normal(size=(6, 2))
    whole = run(impl.mlp_forward, p, x).value[0]
    for n in (0, 5):
        got = run(impl.mlp_forward, p, x[n : n + 1])
        expect_close(_of(got, got.value[0]), whole[n : n + 1], what=f"row {n} on its own")


@exercise("mlp_forward")
def test_mlp_forward_by_hand(impl):
    # W1 = 0 and W2 = 0: h1 = tanh(b1), h2 = tanh(b2), out = tanh(b2) @ W3 + b3 on every row.
    p = {
        "W1": np.zeros((2, 3)),
        "b1": np.array([0.5, -1.0, 2.0]),
        "W2": np.zeros((3, 2)),
        "b2": np.array([1.0, -0.5]),
        "W3": np.array([[2.0], [4.0]]),
        "b3": np.array([0.25]),
    }
    got = run(impl.mlp_forward, p, rng(4).normal(size=(3, 2)))
    want = np.full((3, 1), 2 * np.tanh(1.0) + 4 * np.tanh(-0.5) + 0.25)
    expect_close(_of(got, got.value[0]), want, what="out with W1 = W2 = 0")


# ---------------------------------------------------------------------------------------------
# mlp_backward


@exercise("mlp_backward")
@pytest.mark.parametrize("d_in, hidden, d_out, n", [(3, 4, 2, 5), (2, 6, 1, 3)])
def test_mlp_backward_matches_central_differences(impl, d_in, hidden, d_out, n):
    p = _params(d_in, hidden, d_out, 10 + n)
    x = rng(11).normal(size=(n, d_in))
    dout = rng(12).normal(size=(n, d_out))
    _, cache = impl.mlp_forward(p, x)
    got = run(impl.mlp_backward, dout, cache)
    dx, grads = expect_parts(got, ["dx", "grads"], [(n, d_in), None])
    want_dx = numeric_grad(lambda v: float((_mlp(p, v) * dout).sum()), x)
    expect_close(_of(got, dx), want_dx, rtol=1e-5, atol=1e-8, what="dx")
    want = numeric_param_grads(lambda q: float((_mlp(q, x) * dout).sum()), p)
    h1 = np.tanh(x @ p["W1"] + p["b1"])
    h2 = np.tanh(h1 @ p["W2"] + p["b2"])
    no_tanh_grad = (dout @ p["W3"].T) @ p["W2"].T  # da1 without either (1 - h^2)
    _expect_grads(
        got,
        grads,
        want,
        mistakes={
            "W1": {"forget the tanh derivatives (1 - h^2)": x.T @ no_tanh_grad},
            "W2": {"forget the tanh derivative (1 - h2^2)": h1.T @ (dout @ p["W3"].T)},
            "W3": {
                "use the layer's pre-activation instead of h2 = tanh(...)": lambda: np.arctanh(h2).T @ dout
            },
        },
    )


@exercise("mlp_backward")
def test_mlp_backward_sums_over_the_batch(impl):
    # The gradient of a batch is the sum of the gradients of its rows (not their mean).
    p = _params(3, 4, 2, 13)
    x = rng(14).normal(size=(4, 3))
    dout = rng(15).normal(size=(4, 2))
    _, cache = impl.mlp_forward(p, x)
    got = run(impl.mlp_backward, dout, cache)
    total = {k: np.zeros_like(v) for k, v in p.items()}
    for n in range(4):
        _, row_cache = impl.mlp_forward(p, x[n : n + 1])
        for k, v in impl.mlp_backward(dout[n : n + 1], row_cache)[1].items():
            total[k] = total[k] + v
    for k in ("W1", "b1", "b3"):
        expect_close(
            _of(got, got.value[1][k]),
            total[k],
            what=f"d{k} of the batch (the sum of the rows' gradients)",
            mistakes={"average over the batch instead of summing": total[k] / 4},
        )


@exercise("mlp_backward")
def test_mlp_backward_leaves_the_cache_alone(impl):
    # Running the backward pass twice on the same cache gives the same gradients.
    p = _params(2, 5, 1, 16)
    x = rng(17).normal(size=(6, 2))
    dout = rng(18).normal(size=(6, 1))
    _, cache = impl.mlp_forward(p, x)
    first = impl.mlp_backward(dout, cache)
    got = run(impl.mlp_backward, dout, cache)
    expect_close(
        _of(got, got.value[0]), first[0], what="dx of a second call (is the cache changed in place?)"
    )
    for k in KEYS:
        expect_close(_of(got, got.value[1][k]), first[1][k], what=f"d{k} of a second call")


# ---------------------------------------------------------------------------------------------
# energy_distance


def _energy_loops(x, y):
    def mean_dist(a, b):
        return sum(np.linalg.norm(ai - bj) for ai in a for bj in b) / (len(a) * len(b))

    return 2 * mean_dist(x, y) - mean_dist(x, x) - mean_dist(y, y), mean_dist


@exercise("energy_distance")
def test_energy_distance_against_loops(impl):
    x = rng(20).normal(size=(6, 3))
    y = rng(21).normal(size=(9, 3)) + 0.5
    want, mean_dist = _energy_loops(x, y)
    sq = float(((x[:, None] - y[None]) ** 2).sum(-1).mean() * 2)
    sq -= float(((x[:, None] - x[None]) ** 2).sum(-1).mean() + ((y[:, None] - y[None]) ** 2).sum(-1).mean())

    def without_diagonal():
        def off(a):
            return mean_dist(a, a) * len(a) / (len(a) - 1)

        return 2 * mean_dist(x, y) - off(x) - off(y)

    got = run(impl.energy_distance, x, y)
    expect(isinstance(got.value, float), f"{got}: expected a Python float, got {type(got.value).__name__}")
    expect_close(
        got,
        want,
        mistakes={
            "use squared distances": sq,
            "leave out the pairs i = j (the docstring includes them)": without_diagonal,
            "leave out the within-sample terms": 2 * mean_dist(x, y),
        },
    )


@exercise("energy_distance")
def test_energy_distance_of_point_masses_and_of_a_sample_with_itself(impl):
    # All of x at a and all of y at b: 2 |a - b| - 0 - 0.
    x = np.tile([1.0, 2.0], (4, 1))
    y = np.tile([4.0, -2.0], (7, 1))
    expect_close(run(impl.energy_distance, x, y), 10.0, what="two point masses 5 apart")
    z = rng(22).normal(size=(8, 2))
    expect_close(run(impl.energy_distance, z, z), 0.0, atol=1e-12, what="a sample against itself")


@exercise("energy_distance")
def test_energy_distance_is_symmetric_and_shift_invariant(impl):
    x = rng(23).normal(size=(5, 2))
    y = rng(24).normal(size=(8, 2)) * 2
    d = run(impl.energy_distance, x, y).value
    swapped = run(impl.energy_distance, y, x)
    expect_close(swapped, d, what="energy_distance(y, x) = energy_distance(x, y)")
    shifted = run(impl.energy_distance, x + 3.0, y + 3.0)
    expect_close(shifted, d, what="after moving both samples by (3, 3)")


# ---------------------------------------------------------------------------------------------
# interpolate


@exercise("interpolate")
def test_interpolate_from_the_documented_draw(impl):
    real = rng(30).normal(size=(7, 2))
    fake = rng(31).normal(size=(7, 2))
    got = run(impl.interpolate, real, fake, rng(32))
    eps = rng(32).random((7, 1))
    expect_close(
        got,
        eps * real + (1 - eps) * fake,
        mistakes={
            "swap real and fake (eps multiplies the fake points)": eps * fake + (1 - eps) * real,
            "draw one eps for the whole batch": lambda: (e := rng(32).random()) * real + (1 - e) * fake,
            "draw one eps per coordinate instead of one per row": lambda: (
                (e := rng(32).random((7, 2))) * real + (1 - e) * fake
            ),
        },
    )


@exercise("interpolate")
def test_interpolate_uses_the_given_rng(impl):
    real, fake = np.zeros((5, 3)), np.ones((5, 3))
    a = run(impl.interpolate, real, fake, rng(33)).value
    b = run(impl.interpolate, real, fake, rng(34)).value
    expect(
        not np.allclose(a, b), "interpolate gave the same points for rng(33) and rng(34): draw eps from rng"
    )
    expect(
        bool(np.all((a >= 0) & (a <= 1))), "x^ must lie on the segment between the real and the fake point"
    )


@exercise("interpolate")
def test_interpolate_moves_each_point_along_its_segment(impl):
    # x^ - fake = eps (real - fake) with the same eps for both coordinates of a row.
    real = rng(35).normal(size=(6, 3))
    fake = rng(36).normal(size=(6, 3))
    got = run(impl.interpolate, real, fake, rng(37))
    expect(got.value.shape == (6, 3), f"{got}: shape {got.value.shape}, expected (6, 3)")
    ratio = (got.value - fake) / (real - fake)
    expect(
        bool(np.allclose(ratio, ratio[:, :1])) and bool(np.all((ratio >= 0) & (ratio <= 1))),
        f"{got}: (x^ - fake) / (real - fake) should be one number in [0, 1] per row, got\n{ratio}",
    )


# ---------------------------------------------------------------------------------------------
# gradient_penalty


@exercise("gradient_penalty")
@pytest.mark.parametrize("lam, d_in, n", [(10.0, 2, 6), (0.3, 3, 4)])
def test_gradient_penalty_from_the_input_gradient(impl, lam, d_in, n):
    p = _params(d_in, 5, 1, 40 + n)
    x_hat = rng(41).normal(size=(n, d_in))
    g = _input_grad(p, x_hat)
    norm = np.sqrt((g**2).sum(axis=1))
    got = run(impl.gradient_penalty, p, x_hat, lam)
    value, _ = expect_parts(got, ["P", "cache"])
    expect(isinstance(value, float), f"{got}: P should be a Python float, got {type(value).__name__}")
    expect_close(
        _of(got, value),
        lam * float(((norm - 1) ** 2).mean()),
        rtol=1e-6,
        what="P",
        mistakes={
            "use the squared norm ||g||^2 instead of ||g||": lam * float(((norm**2 - 1) ** 2).mean()),
            "sum over the batch instead of taking the mean": lam * float(((norm - 1) ** 2).sum()),
            "forget lam": float(((norm - 1) ** 2).mean()),
            "take the norm of the whole batch's gradient instead of one per row": lam
            * (float(np.sqrt((g**2).sum())) - 1) ** 2,
        },
    )


@exercise("gradient_penalty")
def test_gradient_penalty_zero_for_a_unit_slope_critic(impl):
    # W3 scaled so that at the one point the critic's slope has norm exactly 1: P = 0.
    p = _params(2, 4, 1, 42)
    x_hat = rng(43).normal(size=(1, 2))
    p["W3"] = p["W3"] / np.linalg.norm(_input_grad_exact(p, x_hat))
    got = run(impl.gradient_penalty, p, x_hat, 5.0)
    expect_close(_of(got, got.value[0]), 0.0, atol=1e-9, what="P for a slope of norm 1")


@exercise("gradient_penalty")
def test_gradient_penalty_is_the_mean_of_the_rows_penalties(impl):
    p = _params(2, 4, 1, 44)
    x_hat = rng(45).normal(size=(5, 2)) * 1.5
    rows = [run(impl.gradient_penalty, p, x_hat[n : n + 1], 2.0).value[0] for n in range(5)]
    got = run(impl.gradient_penalty, p, x_hat, 2.0)
    expect_close(
        _of(got, got.value[0]),
        float(np.mean(rows)),
        what="P of the batch (the mean of each row's penalty)",
        mistakes={"sum over the batch instead of taking the mean": float(np.sum(rows))},
    )


# ---------------------------------------------------------------------------------------------
# gradient_penalty_backward


def _frozen_tanh(p, x_hat, lam, name):
    """The WRONG d<name> of a double backward that treats s1 = 1 - h1^2 and s2 = 1 - h2^2 as
    constants: only the paths through the weights that multiply them are left."""
    h1 = np.tanh(x_hat @ p["W1"] + p["b1"])
    h2 = np.tanh(h1 @ p["W2"] + p["b2"])
    s1, s2 = 1 - h1**2, 1 - h2**2

    def pen(value):
        q = {**p, name: value}
        g = ((s2 * q["W3"][:, 0]) @ q["W2"].T * s1) @ q["W1"].T
        return lam * float(((np.sqrt((g**2).sum(axis=1)) - 1) ** 2).mean())

    return numeric_grad(pen, p[name])


@exercise("gradient_penalty_backward")
@pytest.mark.parametrize("lam, d_in, hidden, n", [(1.0, 2, 4, 5), (7.0, 3, 3, 2)])
def test_gradient_penalty_backward_matches_central_differences(impl, lam, d_in, hidden, n):
    p = _params(d_in, hidden, 1, 50 + n)
    x_hat = rng(51).normal(size=(n, d_in))
    _, cache = impl.gradient_penalty(p, x_hat, lam)
    got = run(impl.gradient_penalty_backward, cache)
    want = numeric_param_grads(lambda q: _penalty(q, x_hat, lam), p)
    mistakes = {
        name: {
            "sum over the batch instead of taking the mean (no 1/N in dP/dg)": want[name] * n,
            **({"forget lam": want[name] / lam} if lam != 1 else {}),
        }
        for name in KEYS
    }
    mistakes["W1"]["treat the tanh derivatives 1 - h^2 as constants"] = lambda: _frozen_tanh(
        p, x_hat, lam, "W1"
    )
    mistakes["W2"]["leave out the path through s2 = 1 - h2^2 (h2 depends on W2 too)"] = lambda: _frozen_tanh(
        p, x_hat, lam, "W2"
    )
    for name, size in [("b1", hidden), ("b2", hidden + 1)]:
        mistakes[name][f"treat the tanh derivatives 1 - h^2 as constants ({name} then gets nothing)"] = (
            np.zeros(size)
        )
    _expect_grads(got, got.value, want, mistakes=mistakes)


@exercise("gradient_penalty_backward")
def test_gradient_penalty_backward_pushes_the_slope_towards_one(impl):
    # A small step against the gradient lowers P (slopes far from 1 on both sides).
    p = _params(2, 6, 1, 52, scale=1.2)
    x_hat = rng(53).normal(size=(8, 2)) * 2
    before, cache = impl.gradient_penalty(p, x_hat, 1.0)
    got = run(impl.gradient_penalty_backward, cache)
    stepped = {k: p[k] - 1e-3 * got.value[k] for k in p}
    after = _penalty(stepped, x_hat, 1.0)
    expect(
        after < before,
        f"{got}: a step of 1e-3 against the gradient raised P from {before:.6f} to {after:.6f}",
    )
    expect_close(_of(got, got.value["b3"]), np.zeros(1), atol=0, what="db3 (b3 does not change D's slope)")


@exercise("gradient_penalty_backward")
def test_gradient_penalty_backward_leaves_the_cache_alone(impl):
    p = _params(3, 4, 1, 54)
    x_hat = rng(55).normal(size=(4, 3))
    _, cache = impl.gradient_penalty(p, x_hat, 1.5)
    first = impl.gradient_penalty_backward(cache)
    got = run(impl.gradient_penalty_backward, cache)
    for k in KEYS:
        expect_close(_of(got, got.value[k]), first[k], what=f"d{k} of a second call (is the cache changed?)")


# ---------------------------------------------------------------------------------------------
# critic_loss


def _critic_loss(c, gen, real, z, lam, seed, swap=False, penalty_at=None):
    fake = _mlp(gen, z)
    eps = rng(seed).random((len(real), 1))
    x_hat = eps * real + (1 - eps) * fake if penalty_at is None else penalty_at
    sign = -1.0 if swap else 1.0
    return sign * float(_mlp(c, fake).mean() - _mlp(c, real).mean()) + _penalty(c, x_hat, lam)


def _gan_case(seed, n=5, k=3, hidden=4):
    critic = _params(2, hidden, 1, seed)
    generator = _params(k, hidden + 1, 2, seed + 1, scale=0.6)
    real = rng(seed + 2).normal(size=(n, 2)) * 2
    z = rng(seed + 3).normal(size=(n, k))
    return critic, generator, real, z


@exercise("critic_loss")
def test_critic_loss_value(impl):
    critic, generator, real, z = _gan_case(60)
    got = run(impl.critic_loss, critic, generator, real, z, 2.0, rng(61))
    loss, _ = expect_parts(got, ["loss", "grads"])
    expect(isinstance(loss, float), f"{got}: the loss should be a Python float, got {type(loss).__name__}")
    fake = _mlp(generator, z)
    expect_close(
        _of(got, loss),
        _critic_loss(critic, generator, real, z, 2.0, 61),
        what="L = mean D(fake) - mean D(real) + P",
        mistakes={
            "swap the signs of the real and the fake terms": _critic_loss(
                critic, generator, real, z, 2.0, 61, swap=True
            ),
            "forget the gradient penalty": float(_mlp(critic, fake).mean() - _mlp(critic, real).mean()),
            "compute the penalty at the real points instead of the interpolates": _critic_loss(
                critic, generator, real, z, 2.0, 61, penalty_at=real
            ),
            "compute the penalty at the fake points instead of the interpolates": _critic_loss(
                critic, generator, real, z, 2.0, 61, penalty_at=fake
            ),
            "swap real and fake in the interpolation (eps multiplies the fake points)": lambda: _critic_loss(
                critic,
                generator,
                real,
                z,
                2.0,
                61,
                penalty_at=(e := rng(61).random((len(real), 1))) * fake + (1 - e) * real,
            ),
        },
    )


@exercise("critic_loss")
@pytest.mark.parametrize("lam", [0.1, 3.0])
def test_critic_loss_gradients_match_central_differences(impl, lam):
    critic, generator, real, z = _gan_case(62)
    got = run(impl.critic_loss, critic, generator, real, z, lam, rng(63))
    want = numeric_param_grads(lambda c: _critic_loss(c, generator, real, z, lam, 63), critic)
    no_penalty = numeric_param_grads(
        lambda c: float(_mlp(c, _mlp(generator, z)).mean() - _mlp(c, real).mean()), critic
    )
    _expect_grads(
        got,
        got.value[1],
        want,
        mistakes={name: {"leave out the gradient of the penalty": no_penalty[name]} for name in KEYS},
    )


@exercise("critic_loss")
def test_critic_loss_draws_only_eps_from_rng(impl):
    # The only draw is interpolate's rng.random((N, 1)): afterwards rng is where that leaves it.
    critic, generator, real, z = _gan_case(64)
    g = rng(65)
    run(impl.critic_loss, critic, generator, real, z, 1.0, g)
    after = rng(65)
    after.random((len(real), 1))
    expect(
        g.random() == after.random(),
        "critic_loss should draw from rng exactly once, rng.random((N, 1)) for the interpolation "
        "(through interpolate), and nothing else",
    )


# ---------------------------------------------------------------------------------------------
# generator_loss


@exercise("generator_loss")
@pytest.mark.parametrize("n, k", [(6, 2), (3, 4)])
def test_generator_loss_and_gradients(impl, n, k):
    critic, generator, _, z = _gan_case(70 + n, n=n, k=k)
    got = run(impl.generator_loss, critic, generator, z)
    loss, grads = expect_parts(got, ["loss", "grads"])
    want = -float(_mlp(critic, _mlp(generator, z)).mean())
    expect_close(
        _of(got, loss),
        want,
        what="L = -mean D(G(z))",
        mistakes={"forget the minus sign": -want, "sum over the batch instead of the mean": want * n},
    )
    expect(isinstance(loss, float), f"{got}: the loss should be a Python float, got {type(loss).__name__}")
    num = numeric_param_grads(lambda gen: -float(_mlp(critic, _mlp(gen, z)).mean()), generator)
    _expect_grads(got, grads, num, mistakes={name: {"forget the minus sign": -num[name]} for name in KEYS})


@exercise("generator_loss")
def test_generator_loss_against_a_constant_critic(impl):
    # W3 = 0: D(x) = b3 everywhere, so L = -b3 and every gradient is zero.
    critic, generator, _, z = _gan_case(76, n=4, k=3)
    critic["W3"] = np.zeros_like(critic["W3"])
    got = run(impl.generator_loss, critic, generator, z)
    loss, grads = got.value
    expect_close(_of(got, loss), -critic["b3"][0], what="L for a constant critic D = b3")
    for k in KEYS:
        expect_close(_of(got, grads[k]), np.zeros_like(generator[k]), atol=1e-12, what=f"d{k}")


@exercise("generator_loss")
def test_generator_loss_leaves_both_networks_alone(impl):
    critic, generator, _, z = _gan_case(77, n=5, k=2)
    before_c, before_g = _copy(critic), _copy(generator)
    got = run(impl.generator_loss, critic, generator, z)
    _expect_unchanged(got, before_c, critic, "critic")
    _expect_unchanged(got, before_g, generator, "generator")


# ---------------------------------------------------------------------------------------------
# train_wgan_gp


def _ring(n, rng):
    # The parameters are named like sample_ring's, so sample_real(batch_size, rng=rng) works too.
    k = rng.integers(0, 8, size=n)
    angle = 2 * np.pi * k / 8
    return 2 * np.stack([np.cos(angle), np.sin(angle)], axis=1) + 0.05 * rng.normal(size=(n, 2))


def _loop(impl, critic, generator, steps, batch, n_critic, lam, lr, seed, generator_step=True):
    """train_wgan_gp written out with the learner's own pieces."""
    g = rng(seed)
    k = generator["W1"].shape[0]
    cs = gs = None
    losses = []
    for _ in range(steps):
        for _ in range(n_critic):
            real = _ring(batch, g)
            z = g.normal(size=(batch, k))
            loss, grads = impl.critic_loss(critic, generator, real, z, lam, g)
            critic, cs = impl.adam_step(critic, grads, cs, lr)
            losses.append(loss)
        z = g.normal(size=(batch, k))
        if generator_step:
            _, grads = impl.generator_loss(critic, generator, z)
            generator, gs = impl.adam_step(generator, grads, gs, lr)
    return critic, generator, losses


@exercise("train_wgan_gp")
@pytest.mark.parametrize("steps, n_critic, k", [(3, 2, 2), (2, 3, 3)])
def test_train_wgan_gp_matches_the_written_out_loop(impl, steps, n_critic, k):
    critic, generator, _, _ = _gan_case(80, k=k)
    before_c, before_g = _copy(critic), _copy(generator)
    got = run(impl.train_wgan_gp, critic, generator, _ring, steps, 6, n_critic, 0.5, 1e-2, rng(81))
    c, gen, losses = expect_parts(got, ["critic", "generator", "losses"])
    _expect_unchanged(got, before_c, critic, "critic")
    _expect_unchanged(got, before_g, generator, "generator")
    want_c, want_g, want_losses = _loop(impl, critic, generator, steps, 6, n_critic, 0.5, 1e-2, 81)
    expect(
        isinstance(losses, list) and len(losses) == steps * n_critic,
        f"{got}: expected a list of {steps * n_critic} losses (one per critic step), got {losses!r:.80}",
    )
    expect_close(_of(got, np.asarray(losses)), want_losses, what="the critic's losses")
    for name in KEYS:
        expect_close(_of(got, c[name]), want_c[name], what=f"the trained critic's {name}")
    frozen = _loop(impl, critic, generator, steps, 6, n_critic, 0.5, 1e-2, 81, generator_step=False)[1]
    for name in KEYS:
        expect_close(
            _of(got, gen[name]),
            want_g[name],
            what=f"the trained generator's {name}",
            mistakes={"forget the generator's step": frozen[name]},
        )


@exercise("train_wgan_gp")
def test_train_wgan_gp_uses_the_given_rng(impl):
    critic, generator, _, _ = _gan_case(82, k=2)
    a = run(impl.train_wgan_gp, critic, generator, _ring, 2, 5, 1, 0.5, 1e-2, rng(83)).value
    b = run(impl.train_wgan_gp, critic, generator, _ring, 2, 5, 1, 0.5, 1e-2, rng(84)).value
    expect(
        not np.allclose(a[1]["W1"], b[1]["W1"]),
        "train_wgan_gp gave the same generator for rng(83) and rng(84): draw every batch from rng",
    )
    expect(len(a[2]) == 2, f"with steps=2 and n_critic=1 expected 2 critic losses, got {len(a[2])}")


# The budget: hidden 32 for both networks, batches of 128, 100 generator steps with 5 critic
# steps each, lam 0.1, Adam 5e-3 with betas (0.5, 0.9): about a second. Over 30 seeds s
# (critic init rng(s), generator init rng(s + 100), training rng(s + 200)) the reference's
# energy distance to 1,000 held-out points was 0.025-0.069 (worst seed 6). The untrained
# generator is at 0.61-1.26, the best single Gaussian (the data's mean and covariance) at 0.12,
# and two independent samples of the ring at about 0.005-0.013.
ENERGY = 0.10


@exercise("train_wgan_gp", timeout=30)
def test_train_wgan_gp_learns_the_ring(impl):
    critic = impl.init_mlp(2, 32, 1, rng(0))
    generator = impl.init_mlp(2, 32, 2, rng(100))
    got = run(impl.train_wgan_gp, critic, generator, impl.sample_ring, 100, 128, 5, 0.1, 5e-3, rng(200))
    _, trained, losses = got.value
    fake = _mlp(trained, rng(7).normal(size=(1000, 2)))
    held = _ring(1000, rng(10_000))
    dist = [
        np.sqrt(((a[:, None] - b[None]) ** 2).sum(-1)).mean()
        for a, b in [(fake, held), (fake, fake), (held, held)]
    ]
    energy = float(2 * dist[0] - dist[1] - dist[2])
    expect(
        energy < ENERGY,
        f"{got}: energy distance {energy:.3f} between 1,000 generated and 1,000 held-out points, expected "
        f"below {ENERGY} (the best single Gaussian gets 0.12); the critic's loss went from "
        f"{np.mean(losses[:5]):.3f} to {np.mean(losses[-5:]):.3f}",
    )
