"""Tests for chapter 8, part 1: the reparameterisation trick, the Gaussian KL, the Bernoulli
negative log-likelihood, the negative ELBO and its gradient, training and sampling.

Expected values come from this file: the KL by numerical integration of q log(q/p) on a
fine grid, the Bernoulli likelihood from its definition at moderate logits and by hand at
huge ones, a VAE written out layer by layer (with switches that make the classic wrong
versions), central differences of that loss with the noise held fixed (the generator
re-seeded for every evaluation), and a training loop written out. The trained model must
beat the mean-pixel baseline on held-out binarised digits.
"""

import numpy as np

from coursedata import load_digits, train_test_split
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
    run_without_warnings,
)

KEYS = ("W_enc", "b_enc", "W_mu", "b_mu", "W_lv", "b_lv", "W_dec", "b_dec", "W_out", "b_out")
N, D, H, L = 3, 5, 4, 2  # batch, pixels, hidden width, latent size: all different


def _params(seed, d=D, h=H, latent=L):
    """Weights of a sensible scale and biases that are not zero (so that forgetting one shows)."""
    g = rng(seed)
    shapes = {"enc": (d, h), "mu": (h, latent), "lv": (h, latent), "dec": (latent, h), "out": (h, d)}
    params = {}
    for name, (m, n) in shapes.items():
        params[f"W_{name}"] = g.normal(size=(m, n)) / np.sqrt(m)
        params[f"b_{name}"] = 0.3 * g.normal(size=n)
    return {key: params[key] for key in KEYS}


def _images(seed, n=N, d=D):
    return rng(seed).random((n, d))


def _sigmoid(a):
    return 1.0 / (1.0 + np.exp(-a))


def _kl(mu, logvar):
    return 0.5 * (mu**2 + np.exp(logvar) - 1.0 - logvar).sum(axis=1)


def _nll(logits, x):
    p = _sigmoid(logits)
    return -(x * np.log(p) + (1 - x) * np.log(1 - p)).sum(axis=1)


def _loss(x, p, eps, variant=""):
    """−ELBO averaged over the batch, written out with the noise eps given; `variant` names a
    wrong version: "sigma = exp(logvar)", "minus kl", "batch sum", "no kl"."""
    h = np.tanh(x @ p["W_enc"] + p["b_enc"])
    mu, logvar = h @ p["W_mu"] + p["b_mu"], h @ p["W_lv"] + p["b_lv"]
    sigma = np.exp(logvar) if variant == "sigma = exp(logvar)" else np.exp(logvar / 2)
    z = mu + sigma * eps
    logits = np.tanh(z @ p["W_dec"] + p["b_dec"]) @ p["W_out"] + p["b_out"]
    sign = {"minus kl": -1.0, "no kl": 0.0}.get(variant, 1.0)
    per_example = _nll(logits, x) + sign * _kl(mu, logvar)
    return per_example.sum() if variant == "batch sum" else per_example.mean()


# --- reparameterize -----------------------------------------------------------------------------


@exercise("reparameterize")
def test_reparameterize_is_mu_plus_sigma_times_the_generators_noise(impl):
    g = rng(1)
    mu, logvar = g.normal(size=(N, L + 1)), g.uniform(0.2, 2.0, size=(N, L + 1))  # logvar > 0
    call = run(impl.reparameterize, mu, logvar, rng(7))
    z, _ = expect_parts(call, ("z", "cache"), [mu.shape, None])
    eps = rng(7).standard_normal(mu.shape)
    expect_close(
        Call(z, str(call)),
        mu + np.exp(logvar / 2) * eps,
        rtol=1e-10,
        what="z = μ + exp(logvar / 2) ε, with ε = rng.standard_normal(mu.shape)",
        mistakes={
            "use exp(logvar) as σ (σ² = exp(logvar), so σ = exp(logvar / 2))": mu + np.exp(logvar) * eps,
            "use logvar as the variance (σ = sqrt(logvar))": mu + np.sqrt(logvar) * eps,
            "use logvar as σ": mu + logvar * eps,
        },
    )


@exercise("reparameterize")
def test_reparameterize_draws_from_the_generator_it_is_given(impl):
    mu, logvar = np.zeros((4, 3)), np.full((4, 3), -1.0)
    g = rng(3)
    first = impl.reparameterize(mu, logvar, g)[0]
    second = impl.reparameterize(mu, logvar, g)[0]
    expect(
        not np.allclose(first, second),
        "reparameterize: two calls on one generator gave the same z; draw ε from the rng you are "
        "given (not a new default_rng, a fixed seed, or a copy of it)",
    )
    again = impl.reparameterize(mu, logvar, rng(3))[0]
    expect(
        np.allclose(first, again),
        "reparameterize: the same seed gave a different z; draw ε only from the rng you are given",
    )
    left = rng(3)
    left.standard_normal((4, 3))
    after = rng(3)
    impl.reparameterize(mu, logvar, after)
    expect(
        after.random() == left.random(),
        "reparameterize: draw ε with one call rng.standard_normal(mu.shape) and nothing else",
    )


@exercise("reparameterize")
def test_reparameterize_has_the_right_mean_and_variance(impl):
    # 200,000 draws of one Gaussian: the sample mean and variance are within 1% of σ of the truth
    # (five standard errors), so a σ that is off by a factor shows.
    mu, logvar = np.full((200_000, 1), 1.5), np.full((200_000, 1), np.log(0.25))
    z = impl.reparameterize(mu, logvar, rng(5))[0]
    expect(
        abs(z.mean() - 1.5) < 0.005 and abs(z.var() - 0.25) < 0.005,
        f"reparameterize with μ = 1.5, σ² = 0.25: the samples have mean {z.mean():.4f} and variance "
        f"{z.var():.4f}; logvar is log σ², so σ = exp(logvar / 2) = 0.5",
    )


# --- reparameterize_backward --------------------------------------------------------------------


@exercise("reparameterize_backward")
def test_reparameterize_backward_matches_central_differences(impl):
    g = rng(11)
    mu, logvar, dz = g.normal(size=(N, L)), g.normal(size=(N, L)), g.normal(size=(N, L))
    _, cache = impl.reparameterize(mu, logvar, rng(12))
    eps = rng(12).standard_normal(mu.shape)
    call = run(impl.reparameterize_backward, dz, cache)
    dmu, dlogvar = expect_parts(call, ("dmu", "dlogvar"), [mu.shape, mu.shape])
    want_mu = numeric_grad(lambda m: np.sum(dz * (m + np.exp(logvar / 2) * eps)), mu)
    want_lv = numeric_grad(lambda v: np.sum(dz * (mu + np.exp(v / 2) * eps)), logvar)
    sigma = np.exp(logvar / 2)
    expect_close(Call(dmu, str(call)), want_mu, rtol=1e-6, atol=1e-8, what="dμ")
    expect_close(
        Call(dlogvar, str(call)),
        want_lv,
        rtol=1e-6,
        atol=1e-8,
        what="dlogvar (against central differences, ε fixed)",
        mistakes={
            "forget the ½ of σ = exp(logvar / 2)": dz * eps * sigma,
            "return the gradient with respect to σ (dz · ε) instead of logvar": dz * eps,
            "forget the upstream gradient dz": 0.5 * eps * sigma,
        },
    )


@exercise("reparameterize_backward")
def test_reparameterize_backward_by_hand(impl):
    # σ = 2 (logvar = log 4): dlogvar = dz · ε · σ / 2 = dz · ε.
    mu, logvar, dz = np.zeros((1, 2)), np.full((1, 2), np.log(4.0)), np.array([[1.0, -3.0]])
    _, cache = impl.reparameterize(mu, logvar, rng(13))
    eps = rng(13).standard_normal((1, 2))
    call = run(impl.reparameterize_backward, dz, cache)
    dmu, dlogvar = expect_parts(call, ("dmu", "dlogvar"), [(1, 2), (1, 2)])
    expect_close(Call(dmu, str(call)), dz, what="dμ = dz")
    expect_close(
        Call(dlogvar, str(call)),
        dz * eps,
        what="dlogvar = dz ε σ / 2 with σ = 2",
        mistakes={"forget the ½ of σ = exp(logvar / 2)": 2 * dz * eps},
    )


@exercise("reparameterize_backward")
def test_reparameterize_backward_uses_each_calls_own_noise(impl):
    mu, logvar = np.zeros((2, 3)), np.zeros((2, 3))
    g = rng(14)
    _, first = impl.reparameterize(mu, logvar, g)
    _, second = impl.reparameterize(mu, logvar, g)
    h = rng(14)
    eps1, eps2 = h.standard_normal((2, 3)), h.standard_normal((2, 3))
    dz = np.ones((2, 3))
    for cache, eps, which in ((first, eps1, "first"), (second, eps2, "second")):
        call = run(impl.reparameterize_backward, dz, cache)
        expect_close(
            Call(call.value[1], str(call)),
            0.5 * eps,
            what=f"dlogvar from the {which} call's cache (σ = 1): keep ε in the cache",
        )


# --- gaussian_kl --------------------------------------------------------------------------------


def _kl_by_integration(mu, logvar):
    """Σ_j ∫ q_j(z) log(q_j(z) / p(z)) dz per row, q_j = N(μ_j, σ_j²), p = N(0, 1), on a grid
    of 40,001 points over μ ± 14 σ (the trapezoid rule)."""
    out = np.zeros(mu.shape[0])
    for i, j in np.ndindex(mu.shape):
        m, s = mu[i, j], np.exp(logvar[i, j] / 2)
        z = np.linspace(m - 14 * s, m + 14 * s, 40001)
        log_q = -0.5 * ((z - m) / s) ** 2 - np.log(s) - 0.5 * np.log(2 * np.pi)
        log_p = -0.5 * z**2 - 0.5 * np.log(2 * np.pi)
        f = np.exp(log_q) * (log_q - log_p)
        out[i] += np.sum((f[1:] + f[:-1]) / 2) * (z[1] - z[0])
    return out


@exercise("gaussian_kl")
def test_gaussian_kl_matches_numerical_integration(impl):
    g = rng(21)
    mu, logvar = g.normal(size=(4, 3)), g.uniform(0.1, 1.5, size=(4, 3))  # logvar > 0 here
    s2 = np.exp(logvar)
    expect_close(
        run(impl.gaussian_kl, mu, logvar),
        _kl_by_integration(mu, logvar),
        rtol=1e-6,
        atol=1e-9,
        what="KL(N(μ, σ²) ‖ N(0, 1)) summed over the latent dimensions (numerical integration)",
        mistakes={
            "flip the sign (−KL is what the ELBO adds; the KL itself is ≥ 0)": -_kl(mu, logvar),
            "use logvar as the variance (σ² = exp(logvar))": 0.5
            * (mu**2 + logvar - 1 - np.log(logvar)).sum(axis=1),
            "forget the ½": 2 * _kl(mu, logvar),
            "average over the latent dimensions instead of summing": _kl(mu, logvar) / 3,
            "compute KL(N(0, I) ‖ q) the other way round": 0.5 * ((1 + mu**2) / s2 - 1 + logvar).sum(axis=1),
            "forget the −1 in each dimension": _kl(mu, logvar) + 1.5,
        },
    )


@exercise("gaussian_kl")
def test_gaussian_kl_by_hand_and_never_negative(impl):
    expect_close(
        run(impl.gaussian_kl, np.zeros((2, 3)), np.zeros((2, 3))),
        np.zeros(2),
        what="q = N(0, I) is the prior: KL 0",
    )
    mu, logvar = np.array([[1.0, 0.0]]), np.array([[0.0, np.log(4.0)]])
    expect_close(
        run(impl.gaussian_kl, mu, logvar),
        np.array([0.5 + 0.5 * (4.0 - 1.0 - np.log(4.0))]),
        what="μ = (1, 0), σ² = (1, 4): ½·1 + ½(4 − 1 − log 4)",
        mistakes={
            "sum over the batch axis instead of the latent axis": np.array([0.5, 0.5 * (3 - np.log(4))])
        },
    )
    g = rng(22)
    mu, logvar = 3 * g.normal(size=(50, 4)), 4 * g.normal(size=(50, 4))  # log-variances of both signs
    got = run(impl.gaussian_kl, mu, logvar)
    expect_close(got, _kl(mu, logvar), rtol=1e-10, what="the closed form, logvar of either sign")


@exercise("gaussian_kl")
def test_gaussian_kl_agrees_with_a_sampling_estimate(impl):
    # E_q[log q(z) − log p(z)] from 400,000 samples per row: the estimate's standard error is
    # below 0.004 here, and the test allows 0.02.
    g = rng(23)
    mu, logvar = np.array([[0.5, -1.0], [0.0, 0.3]]), np.array([[-0.5, 0.4], [1.0, -1.2]])
    kl_rows = []
    for m, lv in zip(mu, logvar):
        s = np.exp(lv / 2)
        z = m + s * g.standard_normal((400_000, 2))
        log_q = (-0.5 * ((z - m) / s) ** 2 - np.log(s)).sum(axis=1)
        log_p = (-0.5 * z**2).sum(axis=1)
        kl_rows.append(np.mean(log_q - log_p))
    call = run(impl.gaussian_kl, mu, logvar)
    expect_close(call, np.array(kl_rows), rtol=0, atol=0.02, what="against a Monte Carlo estimate (±0.02)")


# --- bernoulli_nll ------------------------------------------------------------------------------


@exercise("bernoulli_nll")
def test_bernoulli_nll_is_the_summed_binary_cross_entropy(impl):
    g = rng(31)
    logits, x = 3 * g.normal(size=(N, D)), g.random((N, D))
    want = _nll(logits, x)
    expect_close(
        run(impl.bernoulli_nll, logits, x),
        want,
        rtol=1e-8,
        what="−Σ_j [x_j log p_j + (1 − x_j) log(1 − p_j)], p = sigmoid(logits)",
        mistakes={
            "average over the pixels instead of summing": want / D,
            "flip the sign (it is the negative log-likelihood, ≥ 0)": -want,
            "swap x and 1 − x": _nll(-logits, x),
        },
    )


@exercise("bernoulli_nll")
def test_bernoulli_nll_is_stable_for_huge_logits(impl):
    logits = np.array([[1000.0, -1000.0, 800.0, -800.0, 0.0]])
    x = np.array([[0.0, 1.0, 1.0, 0.3, 1.0]])
    # softplus(l) − x l: 1000; 1000 (softplus(−1000) is e^−1000 ≈ 0, −x l = 1000); 0; 0.3·800; log 2
    want = np.array([1000.0 + 1000.0 + 0.0 + 240.0 + np.log(2.0)])
    expect_close(
        run_without_warnings(impl.bernoulli_nll, logits, x),
        want,
        rtol=1e-8,
        what="logits ±1000 and ±800: use softplus(l) = max(l, 0) + log1p(exp(−|l|)), never log(sigmoid)",
    )


@exercise("bernoulli_nll")
def test_bernoulli_nll_by_hand(impl):
    # Logit 0 is p = ½: log 2 per pixel whatever x is; logit log 3 is p = ¾.
    logits = np.array([[0.0, 0.0, np.log(3.0)], [np.log(3.0), 0.0, 0.0]])
    x = np.array([[0.0, 1.0, 1.0], [0.0, 0.5, 1.0]])
    want = np.array([2 * np.log(2) - np.log(0.75), -np.log(0.25) + 2 * np.log(2)])
    expect_close(
        run(impl.bernoulli_nll, logits, x),
        want,
        rtol=1e-10,
        what="by hand: p = ½ costs log 2, p = ¾ costs −log ¾ for x = 1 and −log ¼ for x = 0",
        mistakes={
            "sum over the batch axis instead of the pixel axis": lambda: (
                np.logaddexp(0.0, logits) - x * logits
            ).sum(axis=0)
        },
    )


# --- vae_loss -----------------------------------------------------------------------------------


@exercise("vae_loss")
def test_vae_loss_is_the_mean_negative_elbo(impl):
    x, p = _images(41), _params(42)
    call = run(impl.vae_loss, x, p, rng(43))
    loss, _ = expect_parts(call, ("loss", "cache"))
    eps = rng(43).standard_normal((N, L))
    expect(isinstance(loss, float), f"{call}: the loss is {type(loss).__name__}; return a Python float")
    expect_close(
        Call(loss, str(call)),
        _loss(x, p, eps),
        rtol=1e-10,
        what="mean over the batch of bernoulli_nll + gaussian_kl, z from reparameterize",
        mistakes={
            "use exp(logvar) as σ": lambda: _loss(x, p, eps, "sigma = exp(logvar)"),
            "subtract the KL instead of adding it (the loss is −ELBO = NLL + KL)": lambda: _loss(
                x, p, eps, "minus kl"
            ),
            "sum over the batch instead of averaging": lambda: _loss(x, p, eps, "batch sum"),
            "leave out the KL": lambda: _loss(x, p, eps, "no kl"),
        },
    )


@exercise("vae_loss")
def test_vae_loss_takes_its_noise_from_the_generator(impl):
    x, p = _images(44, n=6), _params(45)
    g = rng(46)
    first, second = impl.vae_loss(x, p, g)[0], impl.vae_loss(x, p, g)[0]
    expect(first != second, "vae_loss: two calls on one generator gave the same loss; draw ε from it")
    left = rng(46)
    left.standard_normal((6, L))
    after = rng(46)
    impl.vae_loss(x, p, after)
    expect(
        after.random() == left.random(),
        "vae_loss: draw the noise once, through reparameterize (rng.standard_normal((batch, latent)))",
    )


@exercise("vae_loss")
def test_vae_loss_by_hand_when_the_decoder_ignores_z(impl):
    # Zero weights: μ = b_mu, logvar = b_lv and the logits are b_out whatever z is, so the loss
    # is Σ_j softplus(b_out_j) − x_j b_out_j plus the KL of (b_mu, b_lv), averaged over the rows.
    p = {k: (0 * v if k[0] == "W" else v) for k, v in _params(47).items()}
    x = _images(48)
    nll = np.log1p(np.exp(p["b_out"])) - x * p["b_out"]
    want = nll.sum(axis=1).mean() + _kl(p["b_mu"][None], p["b_lv"][None])[0]
    call = run(impl.vae_loss, x, p, rng(49))
    expect_close(
        Call(call.value[0], str(call)),
        want,
        rtol=1e-10,
        what="zero weights: the loss of the bias-only model",
        mistakes={
            "subtract the KL instead of adding it": lambda: (
                want - 2 * _kl(p["b_mu"][None], p["b_lv"][None])[0]
            )
        },
    )


# --- vae_backward -------------------------------------------------------------------------------


def _backward_by_hand(x, p, eps, dloss, variant=""):
    """The reparameterisation gradient, layer by layer, for the classic wrong versions only:
    "no kl" leaves out the KL's own gradient, "no half" drops the ½ of dσ/dlogvar."""
    h = np.tanh(x @ p["W_enc"] + p["b_enc"])
    mu, logvar = h @ p["W_mu"] + p["b_mu"], h @ p["W_lv"] + p["b_lv"]
    sigma = np.exp(logvar / 2)
    z = mu + sigma * eps
    gd = np.tanh(z @ p["W_dec"] + p["b_dec"])
    logits = gd @ p["W_out"] + p["b_out"]
    d_logits = dloss * (_sigmoid(logits) - x) / len(x)
    d_pre_dec = d_logits @ p["W_out"].T * (1 - gd**2)
    dz = d_pre_dec @ p["W_dec"].T
    kl = 0.0 if variant == "no kl" else 1.0
    d_mu = dz + kl * dloss * mu / len(x)
    d_lv = dz * eps * sigma * (1.0 if variant == "no half" else 0.5)
    d_lv = d_lv + kl * dloss * (np.exp(logvar) - 1) / (2 * len(x))
    d_pre_enc = (d_mu @ p["W_mu"].T + d_lv @ p["W_lv"].T) * (1 - h**2)
    return {
        "W_enc": x.T @ d_pre_enc,
        "b_enc": d_pre_enc.sum(0),
        "W_mu": h.T @ d_mu,
        "b_mu": d_mu.sum(0),
        "W_lv": h.T @ d_lv,
        "b_lv": d_lv.sum(0),
        "W_dec": z.T @ d_pre_dec,
        "b_dec": d_pre_dec.sum(0),
        "W_out": gd.T @ d_logits,
        "b_out": d_logits.sum(0),
    }


@exercise("vae_backward")
def test_vae_backward_matches_central_differences_with_the_noise_fixed(impl):
    x, p, dloss = _images(51), _params(52), 0.7
    _, cache = impl.vae_loss(x, p, rng(53))
    eps = rng(53).standard_normal((N, L))
    call = run(impl.vae_backward, dloss, cache)
    got = call.value
    expect(
        isinstance(got, dict) and set(got) == set(KEYS),
        f"{call}: return a dict with the keys {', '.join(KEYS)}",
    )
    wrong_versions = {
        "leave out the KL's own gradient (dμ += μ / N, dlogvar += (σ² − 1) / 2N)": _backward_by_hand(
            x, p, eps, dloss, "no kl"
        ),
        "forget the ½ of dσ/dlogvar = σ / 2": _backward_by_hand(x, p, eps, dloss, "no half"),
        "forget to scale by dloss": _backward_by_hand(x, p, eps, 1.0),
    }
    for key in KEYS:

        def f(value, key=key):
            return dloss * _loss(x, {**p, key: value}, eps)

        expect_close(
            Call(got[key], str(call)),
            numeric_grad(f, p[key]),
            rtol=1e-6,
            atol=1e-8,
            what=f"d{key} (against central differences of vae_loss, ε fixed)",
            mistakes={phrase: wrong[key] for phrase, wrong in wrong_versions.items()},
        )


@exercise("vae_backward")
def test_vae_backward_one_example_wider_latent(impl):
    x, p, dloss = _images(54, n=1, d=4), _params(55, d=4, h=3, latent=3), -1.3
    _, cache = impl.vae_loss(x, p, rng(56))
    eps = rng(56).standard_normal((1, 3))
    call = run(impl.vae_backward, dloss, cache)
    wants = numeric_param_grads(lambda q: dloss * _loss(x, q, eps), p, ("W_enc", "W_lv", "b_mu", "W_out"))
    for key, want in wants.items():
        expect_close(
            Call(call.value[key], str(call)),
            want,
            rtol=1e-6,
            atol=1e-8,
            what=f"d{key}, one example, three latent dimensions, dloss = −1.3",
        )


@exercise("vae_backward")
def test_vae_backward_kl_only_when_the_decoder_ignores_z(impl):
    # Zero decoder weights: z reaches nothing, so dμ and dlogvar come from the KL alone and
    # db_mu = dloss · b_mu, db_lv = dloss · (exp(b_lv) − 1) / 2 (zero encoder weights: μ = b_mu).
    p = {k: (0 * v if k[0] == "W" else v) for k, v in _params(57).items()}
    x, dloss = _images(58), 2.0
    _, cache = impl.vae_loss(x, p, rng(59))
    call = run(impl.vae_backward, dloss, cache)
    expect_close(
        Call(call.value["b_mu"], str(call)),
        dloss * p["b_mu"],
        what="db_mu with zero weights: the KL's μ",
        mistakes={"leave out the KL's own gradient": np.zeros(L)},
    )
    expect_close(
        Call(call.value["b_lv"], str(call)),
        dloss * (np.exp(p["b_lv"]) - 1) / 2,
        what="db_lv with zero weights: the KL's (σ² − 1) / 2",
        mistakes={"leave out the KL's own gradient": np.zeros(L)},
    )


# --- importance_log_likelihood ----------------------------------------------------------------


def _log_weights(x, p, eps, variant=""):
    """log w[i, n] = log p(x_n | z_i) + log N(z_i; 0, I) − log N(z_i; μ_n, σ_n²), one sample i at a
    time, with the Gaussian densities written out (2π terms included)."""
    h = np.tanh(x @ p["W_enc"] + p["b_enc"])
    mu, logvar = h @ p["W_mu"] + p["b_mu"], h @ p["W_lv"] + p["b_lv"]
    sigma = np.exp(logvar / 2)
    rows = []
    for e in eps:
        z = mu + sigma * e
        logits = np.tanh(z @ p["W_dec"] + p["b_dec"]) @ p["W_out"] + p["b_out"]
        log_px_z = -(np.logaddexp(0.0, logits) - x * logits).sum(axis=1)
        log_prior = (-0.5 * z**2 - 0.5 * np.log(2 * np.pi)).sum(axis=1)
        log_q = (-0.5 * ((z - mu) / sigma) ** 2 - np.log(sigma) - 0.5 * np.log(2 * np.pi)).sum(axis=1)
        rows.append(log_px_z if variant == "likelihood only" else log_px_z + log_prior - log_q)
    return np.array(rows)  # (k, batch)


def _log_mean_exp(a):
    return np.logaddexp.reduce(a, axis=0) - np.log(len(a))


@exercise("importance_log_likelihood")
def test_importance_log_likelihood_is_the_log_mean_of_the_weights(impl):
    x, p, k = _images(91), _params(92), 6
    eps = rng(93).standard_normal((k, N, L))
    log_w = _log_weights(x, p, eps)
    expect_close(
        run(impl.importance_log_likelihood, x, p, k, rng(93)),
        _log_mean_exp(log_w),
        rtol=1e-8,
        what="log (1/k) Σ_i w_i, ε = rng.standard_normal((k, batch, latent))",
        mistakes={
            "average the log-weights instead of the weights (that is the ELBO's estimate)": log_w.mean(
                axis=0
            ),
            "sum the weights instead of averaging them (log k too high)": _log_mean_exp(log_w) + np.log(k),
            "leave out log p(z) − log q(z | x) (only the likelihood is weighted)": lambda: _log_mean_exp(
                _log_weights(x, p, eps, "likelihood only")
            ),
        },
    )


@exercise("importance_log_likelihood")
def test_importance_log_likelihood_is_stable_for_a_poor_model(impl):
    x, p = _images(94, n=4), _params(95)
    p = {**p, "W_out": 5000.0 * p["W_out"]}  # confident, often wrong pixels: log-weights below −1000
    eps = rng(96).standard_normal((3, 4, L))
    want = _log_mean_exp(_log_weights(x, p, eps))
    expect(want.max() < -800, "the test's model should have log-weights far below −745, where exp underflows")
    expect_close(
        run_without_warnings(impl.importance_log_likelihood, x, p, 3, rng(96)),
        want,
        rtol=1e-8,
        what="log-weights below −1000: subtract the largest before exp (log-mean-exp)",
    )


@exercise("importance_log_likelihood")
def test_importance_log_likelihood_with_one_sample_and_the_generator(impl):
    # k = 1: the estimate is log w itself, the single-sample ELBO with the KL sampled too.
    x, p = _images(97), _params(98)
    eps = rng(99).standard_normal((1, N, L))
    expect_close(
        run(impl.importance_log_likelihood, x, p, 1, rng(99)),
        _log_weights(x, p, eps)[0],
        rtol=1e-8,
        what="k = 1: log w = log p(x | z) + log p(z) − log q(z | x)",
    )
    left = rng(99)
    left.standard_normal((4, N, L))
    after = rng(99)
    impl.importance_log_likelihood(x, p, 4, after)
    expect(
        after.random() == left.random(),
        "importance_log_likelihood: draw ε with one call rng.standard_normal((k, batch, latent))",
    )


# --- train_vae ----------------------------------------------------------------------------------


def _adam(p, grads, state, lr):
    t = state["t"] + 1
    m = {k: 0.9 * state["m"][k] + 0.1 * grads[k] for k in p}
    v = {k: 0.999 * state["v"][k] + 0.001 * grads[k] ** 2 for k in p}
    new = {k: p[k] - lr * (m[k] / (1 - 0.9**t)) / (np.sqrt(v[k] / (1 - 0.999**t)) + 1e-8) for k in p}
    return new, {"t": t, "m": m, "v": v}


def _train(x, p, epochs, batch_size, lr, seed, variant=""):
    """train_vae written out, with numerical gradients replaced by the hand-written ones.
    `variant`: "drop last" skips the short last batch; "shuffle once" reuses one order;
    "shuffle in place" shuffles one index array again every epoch (the shuffles compound)."""
    g = rng(seed)
    state = {"t": 0, "m": {k: 0 * v for k, v in p.items()}, "v": {k: 0 * v for k, v in p.items()}}
    losses = []
    order = None
    for _ in range(epochs):
        if variant == "shuffle in place":
            order = np.arange(len(x)) if order is None else order
            g.shuffle(order)
        elif order is None or variant != "shuffle once":
            order = g.permutation(len(x))
        for start in range(0, len(x), batch_size):
            batch = x[order[start : start + batch_size]]
            if variant == "drop last" and len(batch) < batch_size:
                continue
            eps = g.standard_normal((len(batch), p["W_mu"].shape[1]))
            losses.append(_loss(batch, p, eps))
            p, state = _adam(p, _backward_by_hand(batch, p, eps, 1.0), state, lr)
    return p, losses


@exercise("train_vae")
def test_train_vae_matches_a_loop_written_out(impl):
    x, p = _images(61, n=10), _params(62)
    call = run(impl.train_vae, x, p, 2, 4, 0.01, rng(63))
    got_p, got_losses = expect_parts(call, ("params", "losses"))
    want_p, want_losses = _train(x, p, 2, 4, 0.01, 63)
    expect_close(
        Call(np.asarray(got_losses, dtype=float), str(call)),
        np.array(want_losses),
        rtol=1e-7,
        what="the loss of every step (3 batches of 4, 4 and 2 per epoch)",
        mistakes={
            "drop the last, shorter batch": lambda: np.array(_train(x, p, 2, 4, 0.01, 63, "drop last")[1]),
            "shuffle once and reuse the order every epoch": lambda: np.array(
                _train(x, p, 2, 4, 0.01, 63, "shuffle once")[1]
            ),
            "shuffle one index array in place every epoch (the shuffles compound; draw a fresh "
            "rng.permutation(n) each epoch)": lambda: np.array(
                _train(x, p, 2, 4, 0.01, 63, "shuffle in place")[1]
            ),
        },
    )
    for key in KEYS:
        expect_close(Call(got_p[key], str(call)), want_p[key], rtol=1e-7, atol=1e-10, what=f"trained {key}")


@exercise("train_vae")
def test_train_vae_leaves_its_inputs_alone_and_logs_every_step(impl):
    x, p = _images(64, n=7), _params(65)
    call = run(impl.train_vae, x, p, 3, 3, 0.01, rng(66))  # run() fails if p or x is changed
    _, losses = expect_parts(call, ("params", "losses"))
    expect(
        len(losses) == 9,
        f"{call}: {len(losses)} losses; 3 epochs of ceil(7 / 3) = 3 batches make 9 steps",
    )
    g = rng(66)
    batch = x[g.permutation(7)[:3]]
    first = _loss(batch, p, g.standard_normal((3, L)))
    expect_close(
        Call(float(losses[0]), str(call)), first, rtol=1e-10, what="the first step's loss, before any update"
    )


def _binary_digits():
    x_train, _, x_test, _ = train_test_split(load_digits(), test_fraction=0.25, seed=0)
    return (x_train > 0.5).astype(np.float64), (x_test > 0.5).astype(np.float64)


@exercise("train_vae", timeout=30)
def test_train_vae_beats_the_mean_pixel_baseline_on_held_out_digits(impl):
    x_train, x_test = _binary_digits()
    m = np.clip(x_train.mean(axis=0), 1e-6, 1 - 1e-6)
    baseline = float(np.mean(-(x_test * np.log(m) + (1 - x_test) * np.log(1 - m)).sum(axis=1)))
    p = _params(70, d=64, h=32, latent=2)
    p = {k: (v if k[0] == "W" else 0 * v) for k, v in p.items()}
    trained, losses = impl.train_vae(x_train, p, 10, 64, 2e-2, rng(71))
    g = rng(72)
    elbo = np.mean([_loss(x_test, trained, g.standard_normal((len(x_test), 2))) for _ in range(10)])
    expect(
        elbo < baseline - 1.5,
        f"train_vae(binarised digits, 10 epochs, batch 64, lr 0.02): held-out −ELBO {elbo:.2f} nats per "
        f"image; it must be at least 1.5 nats below the mean-pixel baseline {baseline:.2f} (the reference "
        "reaches about 22.1)",
    )


# --- sample_images ------------------------------------------------------------------------------


@exercise("sample_images")
def test_sample_images_decodes_prior_draws_into_probabilities(impl):
    p = _params(81)
    call = run(impl.sample_images, p, 6, rng(82))
    z = rng(82).standard_normal((6, L))
    logits = np.tanh(z @ p["W_dec"] + p["b_dec"]) @ p["W_out"] + p["b_out"]
    expect_close(
        call,
        _sigmoid(logits),
        rtol=1e-10,
        what="sigmoid(tanh(z W_dec + b_dec) W_out + b_out), z = rng.standard_normal((n, latent))",
        mistakes={
            "return the logits instead of the probabilities": logits,
            "forget the tanh of the decoder's hidden layer": _sigmoid(
                (z @ p["W_dec"] + p["b_dec"]) @ p["W_out"] + p["b_out"]
            ),
        },
    )


@exercise("sample_images")
def test_sample_images_draws_from_the_generator_it_is_given(impl):
    p = _params(83)
    g = rng(84)
    first, second = impl.sample_images(p, 5, g), impl.sample_images(p, 5, g)
    expect(not np.allclose(first, second), "sample_images: two calls on one generator gave the same images")
    left = rng(84)
    left.standard_normal((5, L))
    after = rng(84)
    impl.sample_images(p, 5, after)
    expect(
        after.random() == left.random(),
        "sample_images: draw z with one call rng.standard_normal((n, latent)) and nothing else",
    )


@exercise("sample_images")
def test_sample_images_are_probabilities_of_the_right_shape(impl):
    p = _params(85, d=64, h=8, latent=3)
    call = run(impl.sample_images, p, 10, rng(86))
    got = call.value
    expect(
        isinstance(got, np.ndarray) and got.shape == (10, 64),
        f"{call}: expected an array of shape (10, 64), got {getattr(got, 'shape', type(got).__name__)}",
    )
    expect(
        bool(np.all((got > 0) & (got < 1))),
        f"{call}: pixel probabilities must lie in (0, 1); got values from {got.min():.3g} to {got.max():.3g}",
    )
