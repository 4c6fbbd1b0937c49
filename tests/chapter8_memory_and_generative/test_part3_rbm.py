"""Tests for chapter 8, part 3: a Bernoulli restricted Boltzmann machine, its free energy,
its exact likelihood and gradient on a tiny model, contrastive divergence, and training on
binarised digits.

Expected values come from this file: everything is computed from the energy
E(v, h) = -v.b_v - h.b_h - v W h by listing every joint state (v, h) of a tiny RBM (the
conditionals, the free energy, log Z, the likelihood), the gradients by central differences
of that brute-force likelihood, and CD-k's draws replayed from the same seeded generator in
the documented order. CD-k with long chains averaged over many copies of the data must come
close to the exact gradient. The training test trains a small RBM for a fraction of a second
and requires a held-out reconstruction error that the reference beat on every one of 30
seeds and that the mean image does not reach. Sizes are never square.
"""

import itertools

import numpy as np
import pytest

from coursedata import load_digits, train_test_split
from grader.testkit import (
    Call,
    exercise,
    expect,
    expect_close,
    expect_parts,
    numeric_param_grads,
    rng,
    run,
    run_without_warnings,
)

KEYS = ["W", "b_v", "b_h"]

# ---------------------------------------------------------------------------------------------
# The RBM by brute force


def _params(n_v, n_h, seed, scale=0.7):
    g = rng(seed)
    return {
        "W": scale * g.normal(size=(n_v, n_h)),
        "b_v": 0.5 * g.normal(size=n_v),
        "b_h": 0.5 * g.normal(size=n_h),
    }


def _states(n):
    return np.array(list(itertools.product([0.0, 1.0], repeat=n)))


def _energy(p, v, h):
    """E for every pair of rows: (len(v), len(h))."""
    return -(v @ p["b_v"])[:, None] - (h @ p["b_h"])[None, :] - v @ p["W"] @ h.T


def _free_energy(p, v):
    """-log sum_h exp(-E(v, h)) by listing every h."""
    neg = -_energy(p, v, _states(p["W"].shape[1]))
    top = neg.max(axis=1, keepdims=True)
    return -(top[:, 0] + np.log(np.exp(neg - top).sum(axis=1)))


def _log_z(p):
    neg = -_energy(p, _states(p["W"].shape[0]), _states(p["W"].shape[1]))
    return float(neg.max() + np.log(np.exp(neg - neg.max()).sum()))


def _mean_log_p(p, v):
    return float((-_free_energy(p, v)).mean() - _log_z(p))


def _sig(x):
    return 1 / (1 + np.exp(-x))


def _of(call, value):
    """One piece of a call's result, as it came back (a list where an array is due fails)."""
    return Call(value, str(call))


def _binary(n, d, seed):
    return (rng(seed).random((n, d)) < 0.5).astype(np.float64)


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


# ---------------------------------------------------------------------------------------------
# hidden_given_visible, visible_given_hidden


@exercise("hidden_given_visible")
def test_hidden_given_visible_from_the_energy(impl):
    # p(h_j = 1 | v) = sum over h with h_j = 1 of exp(-E(v, h)), over the sum over all h.
    p = _params(4, 3, 0)
    v = _binary(5, 4, 1)
    hs = _states(3)
    w = np.exp(-_energy(p, v, hs))
    want = (w @ hs) / w.sum(axis=1, keepdims=True)
    got = run(impl.hidden_given_visible, p, v)
    expect_close(
        got,
        want,
        mistakes={
            "forget the hidden bias b_h": _sig(v @ p["W"]),
            "leave out the sigmoid": v @ p["W"] + p["b_h"],
            "use sigmoid(-x) (the sign of the energy flipped)": _sig(-(v @ p["W"] + p["b_h"])),
        },
    )


@exercise("hidden_given_visible")
def test_hidden_given_visible_of_real_valued_inputs(impl):
    # The same formula holds for any v (the mean-field reconstruction feeds probabilities).
    p = _params(6, 2, 2)
    v = rng(3).random((3, 6))
    expect_close(run(impl.hidden_given_visible, p, v), _sig(v @ p["W"] + p["b_h"]))


@exercise("hidden_given_visible")
def test_hidden_given_visible_large_inputs(impl):
    p = _params(3, 4, 4)
    p["W"] = p["W"] * 2000
    v = _binary(6, 3, 5)
    got = run_without_warnings(impl.hidden_given_visible, p, v)
    expect_close(got, _sig(np.clip(v @ p["W"] + p["b_h"], -700, 700)), atol=1e-12)


@exercise("visible_given_hidden")
def test_visible_given_hidden_from_the_energy(impl):
    p = _params(3, 4, 6)
    h = _binary(5, 4, 7)
    vs = _states(3)
    w = np.exp(-_energy(p, vs, h)).T  # (len(h), 2^n_v)
    want = (w @ vs) / w.sum(axis=1, keepdims=True)
    got = run(impl.visible_given_hidden, p, h)
    expect_close(
        got,
        want,
        mistakes={
            "forget the visible bias b_v": _sig(h @ p["W"].T),
            "leave out the sigmoid": h @ p["W"].T + p["b_v"],
        },
    )


@exercise("visible_given_hidden")
def test_visible_given_hidden_one_row_at_a_time(impl):
    p = _params(5, 2, 8)
    h = rng(9).random((4, 2))
    whole = run(impl.visible_given_hidden, p, h).value
    for n in (0, 3):
        got = run(impl.visible_given_hidden, p, h[n : n + 1])
        expect_close(got, whole[n : n + 1], what=f"row {n} on its own")


@exercise("visible_given_hidden")
def test_visible_given_hidden_large_inputs(impl):
    p = _params(4, 3, 10)
    p["W"] = p["W"] * 2000
    h = _binary(5, 3, 11)
    got = run_without_warnings(impl.visible_given_hidden, p, h)
    expect_close(got, _sig(np.clip(h @ p["W"].T + p["b_v"], -700, 700)), atol=1e-12)


# ---------------------------------------------------------------------------------------------
# free_energy


@exercise("free_energy")
def test_free_energy_sums_out_the_hidden_units(impl):
    p = _params(4, 3, 20)
    v = _binary(6, 4, 21)
    got = run(impl.free_energy, p, v)
    pre = v @ p["W"] + p["b_h"]
    expect_close(
        got,
        _free_energy(p, v),
        mistakes={
            "forget the visible term -v @ b_v": -np.log1p(np.exp(pre)).sum(axis=1),
            "flip the sign (log sum exp(-E) instead of -log sum exp(-E))": -_free_energy(p, v),
            "use the pre-activation x instead of softplus(x) = log(1 + exp(x))": -v @ p["b_v"]
            - pre.sum(axis=1),
        },
    )


@exercise("free_energy")
def test_free_energy_of_huge_pre_activations(impl):
    # Pre-activations of +-1000: softplus(1000) = 1000 and softplus(-1000) = 0 to double precision.
    p = {"W": np.array([[1000.0, -1000.0, 0.0]]), "b_v": np.array([0.5]), "b_h": np.array([0.0, 0.0, 3.0])}
    v = np.array([[1.0], [0.0]])
    got = run_without_warnings(impl.free_energy, p, v)
    want = np.array([-0.5 - 1000.0 - np.log1p(np.exp(3.0)), -2 * np.log(2.0) - np.log1p(np.exp(3.0))])
    expect_close(got, want, what="F with pre-activations of +-1000 (a stable softplus: np.logaddexp(0, x))")


@exercise("free_energy")
def test_free_energy_gives_the_likelihood_ratio(impl):
    # p(v) / p(v') = exp(F(v') - F(v)): checked on all 2^4 visible vectors.
    p = _params(4, 5, 22)
    vs = _states(4)
    got = run(impl.free_energy, p, vs)
    want = _free_energy(p, vs)
    expect_close(_of(got, got.value - got.value[0]), want - want[0], what="F(v) - F(0)")


# ---------------------------------------------------------------------------------------------
# exact_log_likelihood


@exercise("exact_log_likelihood")
@pytest.mark.parametrize("n_v, n_h", [(4, 3), (6, 2)])
def test_exact_log_likelihood_by_listing_every_joint_state(impl, n_v, n_h):
    p = _params(n_v, n_h, 30 + n_v)
    v = _binary(7, n_v, 31)
    got = run(impl.exact_log_likelihood, p, v)
    expect(isinstance(got.value, float), f"{got}: expected a Python float, got {type(got.value).__name__}")
    want = _mean_log_p(p, v)
    expect_close(
        got,
        want,
        mistakes={
            "forget log Z": float((-_free_energy(p, v)).mean()),
            "add log Z instead of subtracting it": float((-_free_energy(p, v)).mean() + _log_z(p)),
        },
    )


@exercise("exact_log_likelihood")
def test_exact_log_likelihood_probabilities_sum_to_one(impl):
    p = _params(5, 3, 32)
    vs = _states(5)
    total = sum(np.exp(run(impl.exact_log_likelihood, p, vs[i : i + 1]).value) for i in range(len(vs)))
    expect(
        abs(total - 1) < 1e-9, f"exact_log_likelihood: sum over all 32 visible vectors of p(v) = {total:.12f}"
    )


@exercise("exact_log_likelihood")
def test_exact_log_likelihood_with_large_weights(impl):
    # Free energies in the hundreds: exp(-F) overflows unless log Z takes the largest out.
    p = _params(4, 3, 33, scale=300.0)
    v = _binary(5, 4, 34)
    got = run_without_warnings(impl.exact_log_likelihood, p, v)
    expect_close(got, _mean_log_p(p, v), rtol=1e-9, atol=1e-6)


# ---------------------------------------------------------------------------------------------
# exact_gradient


def _nll_grads(p, v):
    return numeric_param_grads(lambda q: -_mean_log_p(q, v), p)


@exercise("exact_gradient")
@pytest.mark.parametrize("n_v, n_h, n", [(4, 3, 5), (5, 2, 3)])
def test_exact_gradient_matches_central_differences(impl, n_v, n_h, n):
    p = _params(n_v, n_h, 40 + n)
    v = _binary(n, n_v, 41)
    got = run(impl.exact_gradient, p, v)
    want = _nll_grads(p, v)
    data_only = {"W": -(v.T @ _sig(v @ p["W"] + p["b_h"])) / n, "b_v": -v.mean(axis=0)}
    _expect_grads(
        got,
        got.value,
        want,
        mistakes={
            name: {
                "return the gradient of the log-likelihood (flip the sign)": -want[name],
                **({"leave out the model's term": data_only[name]} if name in data_only else {}),
            }
            for name in KEYS
        },
    )


@exercise("exact_gradient")
def test_exact_gradient_is_zero_when_the_model_is_the_data(impl):
    # With W = 0 the model is independent pixels with means sigmoid(b_v); if the data's mean
    # is exactly that (all 2^n_v vectors weighted equally give 1/2 when b_v = 0), db_v = 0.
    p = {"W": np.zeros((3, 2)), "b_v": np.zeros(3), "b_h": np.array([0.3, -0.2])}
    v = _states(3)
    got = run(impl.exact_gradient, p, v)
    for name in KEYS:
        expect_close(_of(got, got.value[name]), np.zeros_like(p[name]), atol=1e-12, what=f"d{name}")


@exercise("exact_gradient")
def test_exact_gradient_leaves_params_alone(impl):
    p = _params(3, 4, 42)
    before = {k: v.copy() for k, v in p.items()}
    run(impl.exact_gradient, p, _binary(4, 3, 43))
    for k in KEYS:
        expect(np.array_equal(before[k], p[k]), f"exact_gradient changed params[{k!r}] in place")


@exercise("exact_gradient")
def test_exact_gradient_with_large_weights(impl):
    # Free energies in the hundreds: p(v') = exp(-F(v') - log Z) must be computed stably.
    p = _params(4, 3, 44, scale=300.0)
    v = _binary(5, 4, 45)
    states = _states(4)
    neg_f = -_free_energy(p, states)
    prob = np.exp(neg_f - neg_f.max())
    prob /= prob.sum()
    ph_data = _sig(np.clip(v @ p["W"] + p["b_h"], -700, 700))
    ph_model = _sig(np.clip(states @ p["W"] + p["b_h"], -700, 700))
    want = {
        "W": -(v.T @ ph_data / len(v) - states.T @ (prob[:, None] * ph_model)),
        "b_v": -(v.mean(axis=0) - prob @ states),
        "b_h": -(ph_data.mean(axis=0) - prob @ ph_model),
    }
    got = run_without_warnings(impl.exact_gradient, p, v)
    _expect_grads(got, got.value, want, rtol=1e-6, atol=1e-9)


# ---------------------------------------------------------------------------------------------
# cd_gradient


def _cd(p, v0, k, seed, sampled_stats=False, mean_field_v=False):
    """CD-k replayed with the documented draws. The flags make WRONG versions."""
    g = rng(seed)
    n = len(v0)
    ph0 = _sig(v0 @ p["W"] + p["b_h"])
    v, ph = v0, ph0
    h0 = h = None
    for step in range(k):
        h = (g.random(ph.shape) < ph).astype(float)
        if step == 0:
            h0 = h
        pv = _sig(h @ p["W"].T + p["b_v"])
        v = pv if mean_field_v and step == k - 1 else (g.random(pv.shape) < pv).astype(float)
        ph = _sig(v @ p["W"] + p["b_h"])
    if sampled_stats:  # statistics from sampled hidden states (the last one drawn afresh)
        hk = (g.random(ph.shape) < ph).astype(float)
        return {"W": -(v0.T @ h0 - v.T @ hk) / n, "b_v": -(v0 - v).mean(0), "b_h": -(h0 - hk).mean(0)}, v
    return {"W": -(v0.T @ ph0 - v.T @ ph) / n, "b_v": -(v0 - v).mean(0), "b_h": -(ph0 - ph).mean(0)}, v


@exercise("cd_gradient")
@pytest.mark.parametrize("k", [1, 3])
def test_cd_gradient_from_the_documented_draws(impl, k):
    p = _params(5, 3, 50)
    v0 = _binary(6, 5, 51)
    got = run(impl.cd_gradient, p, v0, k, rng(52))
    grads, v_k = expect_parts(got, ["grads", "v_k"], [None, (6, 5)])
    want, want_v = _cd(p, v0, k, 52)

    def binomial_chain():
        g, v = rng(52), v0
        for _ in range(k):
            h = g.binomial(1, _sig(v @ p["W"] + p["b_h"])).astype(float)
            v = g.binomial(1, _sig(h @ p["W"].T + p["b_v"])).astype(float)
        return v

    expect_close(
        _of(got, v_k),
        want_v,
        what="v_k (the chain's last visible sample)",
        mistakes={
            "run k - 1 Gibbs steps instead of k": lambda: _cd(p, v0, k - 1, 52)[1],
            "run k + 1 Gibbs steps instead of k": lambda: _cd(p, v0, k + 1, 52)[1],
            "return the probabilities p(v|h) of the last step instead of a sample": lambda: _cd(
                p, v0, k, 52, mean_field_v=True
            )[1],
            "sample with rng.binomial instead of the documented rng.random(shape) < p": binomial_chain,
        },
    )
    _expect_grads(
        got,
        grads,
        want,
        rtol=1e-9,
        atol=1e-12,
        mistakes={
            name: {
                "flip the sign (the gradient of the log-likelihood, not of its negative)": -want[name],
                "use sampled hidden states instead of p(h|v) in the statistics": lambda name=name: _cd(
                    p, v0, k, 52, sampled_stats=True
                )[0][name],
            }
            for name in KEYS
        },
    )


@exercise("cd_gradient")
def test_cd_gradient_long_chains_approach_the_exact_gradient(impl):
    # CD-k with k = 25 on 4,000 copies of each of 3 data vectors: the chains forget the data,
    # so the model's term is a Monte Carlo estimate of the exact one (standard error ~0.005).
    p = _params(4, 3, 53, scale=0.5)
    data = _binary(3, 4, 54)
    v0 = np.repeat(data, 4000, axis=0)
    got = run(impl.cd_gradient, p, v0, 25, rng(55))
    exact = _nll_grads(p, data)
    for name in KEYS:
        expect_close(
            _of(got, got.value[0][name]),
            exact[name],
            rtol=0,
            atol=0.03,
            what=f"d{name} of CD-25 against the exact gradient (within 0.03)",
        )


@exercise("cd_gradient")
def test_cd_gradient_uses_the_given_rng_and_leaves_v0_alone(impl):
    p = _params(6, 4, 56)
    v0 = _binary(5, 6, 57)
    a = run(impl.cd_gradient, p, v0, 1, rng(58)).value[1]
    b = run(impl.cd_gradient, p, v0, 1, rng(59)).value[1]
    expect(not np.array_equal(a, b), "cd_gradient gave the same v_k for rng(58) and rng(59): sample from rng")
    expect(
        set(np.unique(a)) <= {0.0, 1.0},
        "v_k should be a sample (0. and 1. only), not the probabilities p(v|h)",
    )


# ---------------------------------------------------------------------------------------------
# train_rbm


def _train(impl, p, data, epochs, batch, k, lr, seed):
    g = rng(seed)
    errors = []
    for _ in range(epochs):
        order = g.permutation(len(data))
        for start in range(0, len(data), batch):
            grads, _ = impl.cd_gradient(p, data[order[start : start + batch]], k, g)
            p = {key: p[key] - lr * grads[key] for key in p}
        errors.append(impl.reconstruction_error(p, data))
    return p, errors


@exercise("train_rbm")
@pytest.mark.parametrize("batch", [4, 5])
def test_train_rbm_matches_the_written_out_loop(impl, batch):
    p = _params(5, 3, 60, scale=0.2)
    data = _binary(13, 5, 61)
    before = {k: v.copy() for k, v in p.items()}
    got = run(impl.train_rbm, p, data, 2, batch, 1, 0.1, rng(62))
    trained, errors = expect_parts(got, ["params", "errors"])
    for k in KEYS:
        expect(np.array_equal(before[k], p[k]), f"{got} changed params[{k!r}] in place")
    want, want_errors = _train(impl, p, data, 2, batch, 1, 0.1, 62)
    expect(
        isinstance(errors, list) and len(errors) == 2,
        f"{got}: expected a list of 2 reconstruction errors (one per epoch), got {errors!r:.80}",
    )
    expect_close(_of(got, np.asarray(errors)), want_errors, what="the reconstruction error after each epoch")
    for k in KEYS:
        expect_close(
            _of(got, trained[k]),
            want[k],
            what=f"the trained {k}",
            mistakes={
                "add the gradient instead of subtracting it": _train(impl, p, data, 2, batch, 1, -0.1, 62)[0][
                    k
                ]
            },
        )


@exercise("train_rbm")
def test_train_rbm_reshuffles_every_epoch(impl):
    p = _params(4, 2, 63, scale=0.2)
    data = _binary(10, 4, 64)
    got = run(impl.train_rbm, p, data, 3, 3, 2, 0.05, rng(65))
    trained, errors = got.value
    expect(
        isinstance(errors, list) and len(errors) == 3,
        f"{got}: expected a list of 3 reconstruction errors (one per epoch), got {errors!r:.80}",
    )
    want = _train(impl, p, data, 3, 3, 2, 0.05, 65)[0]
    expect_close(_of(got, trained["W"]), want["W"], what="the trained W (a new permutation each epoch)")


# The budget: 32 hidden units, 4 epochs of batches of 20, CD-1, learning rate 0.3, on the
# 1,348 training digits binarised at 0.5. The baseline is the mean image (W = 0, b_v the
# logits of the training pixels' means), and the test asks for at most 75% of its held-out
# error. Over 30 seeds s (init_rbm with rng(s), training rng(s + 100)) the reference's mean
# squared reconstruction error on the 449 held-out digits was 0.077-0.083 (worst seed 29)
# against the mean image's 0.129 (threshold 0.097) on scikit-learn's digits, and
# 0.114-0.119 (worst seed 4) against 0.190 (threshold 0.143) on the generated stand-in.
FRACTION = 0.75


def _reconstruction(p, v):
    p_v = _sig(_sig(v @ p["W"] + p["b_h"]) @ p["W"].T + p["b_v"])
    return float(((p_v - v) ** 2).mean())


@exercise("train_rbm", timeout=30)
def test_train_rbm_learns_the_digits(impl):
    x_train, _, x_test, _ = train_test_split(load_digits())
    train, test = (x_train > 0.5).astype(np.float64), (x_test > 0.5).astype(np.float64)
    mean = train.mean(axis=0).clip(1e-3, 1 - 1e-3)
    baseline = _reconstruction(
        {"W": np.zeros((64, 1)), "b_v": np.log(mean / (1 - mean)), "b_h": np.zeros(1)}, test
    )
    p = impl.init_rbm(64, 32, rng(0))
    got = run(impl.train_rbm, p, train, 4, 20, 1, 0.3, rng(100))
    error = _reconstruction(got.value[0], test)
    expect(
        error < FRACTION * baseline,
        f"{got}: held-out reconstruction error {error:.4f}, expected below {FRACTION * baseline:.4f} "
        f"(75% of the mean image's {baseline:.4f})",
    )
