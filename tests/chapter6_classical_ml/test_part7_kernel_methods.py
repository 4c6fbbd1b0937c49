"""Tests for chapter 6, part 7: the RBF kernel, Gaussian-process regression (posterior mean
and variance of the latent function, the log marginal likelihood, choosing a length scale)
and Nadaraya-Watson kernel regression.

Expected values come from this file: kernels by a double loop over pairs; the GP posterior
from the textbook formulas with np.linalg.solve and the log marginal likelihood from
slogdet (not the Cholesky route the docstrings ask for); scikit-learn's GaussianProcessRegressor
with the same fixed kernel where scikit-learn is installed (those comparisons are left out
without it); Nadaraya-Watson by a loop over queries, and its limits (a huge bandwidth gives
the mean of y, a tiny one the nearest point's y).
"""

import math

import numpy as np

from grader.testkit import Call, exercise, expect, expect_close, expect_equal, rng, run, run_without_warnings


def _kernel_loops(X1, X2, ell, sf2):
    K = np.zeros((len(X1), len(X2)))
    for i in range(len(X1)):
        for j in range(len(X2)):
            K[i, j] = sf2 * math.exp(-float(np.sum((X1[i] - X2[j]) ** 2)) / (2 * ell**2))
    return K


def _kernel_direct(X1, X2, ell, sf2):
    """The same by broadcasting the differences (no expanded square, no loop)."""
    return sf2 * np.exp(-((X1[:, None, :] - X2[None, :, :]) ** 2).sum(axis=2) / (2 * ell**2))


def _data(seed, n=12, d=1, noise=0.1):
    g = rng(seed)
    X = g.uniform(-3, 3, size=(n, d))
    y = np.sin(X).sum(axis=1) + noise * g.standard_normal(n)
    return X, y


def _posterior_here(X, y, Xs, ell, sf2, noise_var, noisy_cross=False, noise_in_var=False, train_noise=True):
    C = _kernel_direct(X, X, ell, sf2) + (noise_var * np.eye(len(X)) if train_noise else 0)
    Ks = _kernel_direct(Xs, X, ell, sf2)
    if noisy_cross:
        Ks = Ks + noise_var * np.eye(len(Xs), len(X))
    mean = Ks @ np.linalg.solve(C, y)
    var = sf2 - np.einsum("ij,ji->i", Ks, np.linalg.solve(C, Ks.T))
    return mean, var + (noise_var if noise_in_var else 0.0)


def _sklearn_gp(ell, sf2, noise_var):
    """scikit-learn's GP with this fixed kernel, or None without scikit-learn."""
    try:
        from sklearn.gaussian_process import GaussianProcessRegressor
        from sklearn.gaussian_process.kernels import RBF, ConstantKernel
    except ImportError:
        return None
    kernel = ConstantKernel(sf2, constant_value_bounds="fixed") * RBF(ell, length_scale_bounds="fixed")
    return GaussianProcessRegressor(kernel, alpha=noise_var, optimizer=None, normalize_y=False)


# ------------------------------------------------------------------------------ rbf_kernel


@exercise("rbf_kernel")
def test_rbf_kernel_matches_the_formula(impl):
    g = rng(0)
    X1, X2 = g.normal(size=(5, 3)), g.normal(size=(4, 3))
    ell, sf2 = 1.3, 2.0
    call = run(impl.rbf_kernel, X1, X2, ell, sf2)
    d2 = ((X1[:, None] - X2[None]) ** 2).sum(axis=2)
    expect_close(
        call,
        _kernel_loops(X1, X2, ell, sf2),
        rtol=1e-9,
        what="sf2 exp(-|x - x'|^2 / (2 ell^2)) for every pair",
        mistakes={
            "leave out the 2 in 2 ell^2": sf2 * np.exp(-d2 / ell**2),
            "divide by 2 ell instead of 2 ell^2": sf2 * np.exp(-d2 / (2 * ell)),
            "use the distance instead of the squared distance": sf2 * np.exp(-np.sqrt(d2) / (2 * ell**2)),
            "forget the signal variance sf2": np.exp(-d2 / (2 * ell**2)),
        },
    )


@exercise("rbf_kernel")
def test_rbf_kernel_of_one_point_and_of_itself(impl):
    X = np.array([[0.0, 0.0], [3.0, 4.0]])
    expect_close(
        run(impl.rbf_kernel, X, X, 5.0, 1.5),
        np.array([[1.5, 1.5 * math.exp(-0.5)], [1.5 * math.exp(-0.5), 1.5]]),
        what="points 5 apart with ell = 5: sf2 e^(-1/2)",
    )
    expect_close(run(impl.rbf_kernel, X[:1], X, 5.0, 1.5), np.array([[1.5, 1.5 * math.exp(-0.5)]]))


@exercise("rbf_kernel")
def test_rbf_kernel_never_exceeds_sf2_far_from_the_origin(impl):
    X = rng(1).normal(size=(30, 3)) + 1000.0
    call = run(impl.rbf_kernel, X, X, 0.1, 1.0)
    K = np.asarray(call.value)
    expect(
        bool(np.all(K <= 1.0)) and bool(np.all(K >= 0.0)),
        f"{call}: values from {K.min():.17g} to {K.max():.17g}; a kernel value lies in [0, sf2]. "
        "Expanded as |a|^2 + |b|^2 - 2 a.b, rounding makes some squared distances slightly "
        "negative: clip them at 0",
    )
    expect_close(
        Call(np.diag(K), f"diagonal of {call}"),
        np.ones(30),
        rtol=1e-6,
        what="k(x, x) = sf2 (to 1e-6: the expanded form loses digits 1000 from the origin)",
    )


# ---------------------------------------------------------------------------- gp_posterior


@exercise("gp_posterior")
def test_gp_posterior_matches_the_formulas(impl):
    X, y = _data(2)
    Xs = np.linspace(-4, 4, 9)[:, None]
    ell, sf2, nv = 0.8, 1.5, 0.05
    call = run(impl.gp_posterior, X, y, Xs, ell, sf2, nv)
    expect(isinstance(call.value, tuple) and len(call.value) == 2, f"{call}: expected a tuple (mean, var)")
    mean, var = call.value
    want_mean, want_var = _posterior_here(X, y, Xs, ell, sf2, nv)
    expect_close(
        Call(mean, f"{call}[0], mean"),
        want_mean,
        rtol=1e-7,
        atol=1e-10,
        what="K(X*, X) (K(X, X) + noise_var I)^-1 y",
        mistakes={
            "leave the noise out of K(X, X)": lambda: _posterior_here(
                X, y, Xs, ell, sf2, nv, train_noise=False
            )[0]
        },
    )
    expect_close(
        Call(var, f"{call}[1], var"),
        want_var,
        rtol=1e-7,
        atol=1e-10,
        what="the variance of the latent f(X*)",
        mistakes={
            "predict with the noisy kernel (the variance of a new y, not of f)": want_var + nv,
            "forget to subtract the explained part (the prior variance)": np.full(9, sf2),
        },
    )


@exercise("gp_posterior")
def test_gp_posterior_at_the_training_inputs_is_for_f_not_y(impl):
    X, y = _data(3, n=8, noise=0.3)
    ell, sf2, nv = 1.0, 1.0, 0.2
    mean, var = run(impl.gp_posterior, X, y, X, ell, sf2, nv).value
    want_mean, want_var = _posterior_here(X, y, X, ell, sf2, nv)
    expect_close(
        Call(mean, "gp_posterior(X, y, X_star=X, ...)[0]"),
        want_mean,
        rtol=1e-7,
        what="at the training inputs the mean smooths y (noise_var > 0): it does not repeat it",
        mistakes={"add the noise to K(X_star, X) as well, so that the mean reproduces y": y},
    )
    expect_close(
        Call(var, "gp_posterior(X, y, X_star=X, ...)[1]"),
        want_var,
        rtol=1e-7,
        mistakes={"predict with the noisy kernel (the variance of a new y, not of f)": want_var + nv},
    )


@exercise("gp_posterior")
def test_gp_posterior_far_away_and_without_noise(impl):
    X, y = _data(4, n=10)
    mean, var = run(impl.gp_posterior, X, y, np.array([[50.0], [-60.0]]), 0.7, 2.0, 0.01).value
    expect_close(
        Call(mean, "gp_posterior(..., X_star far from the data)[0]"), np.zeros(2), what="the prior mean 0"
    )
    expect_close(
        Call(var, "gp_posterior(..., X_star far from the data)[1]"), np.full(2, 2.0), what="the prior sf2"
    )
    X = np.linspace(-2, 2, 6)[:, None]
    call = run_without_warnings(impl.gp_posterior, X, np.cos(X[:, 0]), X, 1.0, 1.0, 1e-10)
    expect(
        bool(np.all(np.asarray(call.value[1]) >= 0)),
        f"{call}[1]: {call.value[1]}; a variance is never negative",
    )
    expect_close(Call(call.value[0], f"{call}[0]"), np.cos(X[:, 0]), rtol=1e-5, what="almost no noise: f = y")


@exercise("gp_posterior")
def test_gp_posterior_agrees_with_scikit_learn(impl):
    X, y = _data(5, n=15, d=2)
    Xs = rng(6).uniform(-3, 3, size=(7, 2))
    mean, var = run(impl.gp_posterior, X, y, Xs, 1.2, 0.9, 0.1).value
    gp = _sklearn_gp(1.2, 0.9, 0.1)
    if gp is None:
        return  # scikit-learn is not installed: the formula tests above still hold
    want_mean, want_std = gp.fit(X, y).predict(Xs, return_std=True)
    expect_close(
        Call(mean, "gp_posterior(...)[0]"), want_mean, rtol=1e-6, atol=1e-9, what="scikit-learn's mean"
    )
    expect_close(
        Call(var, "gp_posterior(...)[1]"), want_std**2, rtol=1e-6, atol=1e-9, what="scikit-learn's std^2"
    )


# ------------------------------------------------------------------------ gp_prior_samples


@exercise("gp_prior_samples")
def test_gp_prior_samples_replay_the_draws(impl):
    X = np.linspace(-2, 2, 7)[:, None]
    call = run(impl.gp_prior_samples, X, 0.8, 1.5, 4, rng(50))
    C = _kernel_direct(X, X, 0.8, 1.5) + 1e-8 * np.eye(7)
    L = np.linalg.cholesky(C)
    z = rng(50).standard_normal((7, 4))
    expect_close(
        call,
        (L @ z).T,
        rtol=1e-7,
        atol=1e-9,
        what="(L @ z).T with z = rng.standard_normal((n, n_samples))",
        mistakes={
            "multiply z by K instead of its Cholesky factor L": (C @ z).T,
            "forget the transpose (one function per column)": lambda: L @ z,
            "multiply by L's transpose (L.T @ z)": (L.T @ z).T,
            "draw z of shape (n_samples, n) and return z @ L.T": rng(50).standard_normal((4, 7)) @ L.T,
        },
    )


@exercise("gp_prior_samples")
def test_gp_prior_samples_have_the_kernel_as_covariance(impl):
    X = np.array([[0.0], [0.5], [3.0]])
    S = np.asarray(run(impl.gp_prior_samples, X, 1.0, 2.0, 4000, rng(51)).value)
    expect(
        S.shape == (4000, 3), f"gp_prior_samples(..., n_samples=4000): shape {S.shape}, expected (4000, 3)"
    )
    cov = S.T @ S / 4000
    want = _kernel_direct(X, X, 1.0, 2.0)
    # the standard error of a covariance entry is about sf2 sqrt(2 / 4000) = 0.045; over
    # seeds 0-29 the largest error of the reference is 0.126 (seed 6)
    expect_close(
        Call(cov, "the mean of f f^T over 4000 gp_prior_samples"),
        want,
        rtol=0,
        atol=0.2,
        what="K(X, X): nearby points move together, far ones independently",
    )


@exercise("gp_prior_samples")
def test_gp_prior_samples_draw_from_the_rng_given(impl):
    X = np.linspace(0, 1, 5)[:, None]
    a, b, c = (np.asarray(impl.gp_prior_samples(X, 0.5, 1.0, 2, g)) for g in (rng(52), rng(52), rng(53)))
    expect(np.array_equal(a, b), "gp_prior_samples: two generators seeded alike must give the same samples")
    expect(
        not np.allclose(a, c),
        "gp_prior_samples: generators seeded differently gave the same samples; draw from the rng passed in",
    )


# -------------------------------------------------------------- gp_log_marginal_likelihood


def _lml_here(X, y, ell, sf2, nv, half_logdet=True, two_pi=True, half_quad=True):
    C = _kernel_direct(X, X, ell, sf2) + nv * np.eye(len(X))
    logdet = np.linalg.slogdet(C)[1]
    quad = y @ np.linalg.solve(C, y)
    return (
        -(0.5 if half_quad else 1.0) * quad
        - (0.5 if half_logdet else 1.0) * logdet
        - (0.5 * len(X) * math.log(2 * math.pi) if two_pi else 0.0)
    )


@exercise("gp_log_marginal_likelihood")
def test_log_marginal_likelihood_matches_the_formula(impl):
    X, y = _data(7, n=10)
    args = (X, y, 0.9, 1.3, 0.05)
    call = run(impl.gp_log_marginal_likelihood, *args)
    expect_close(
        call,
        _lml_here(*args),
        rtol=1e-8,
        what="-1/2 y^T C^-1 y - 1/2 log det C - n/2 log 2 pi",
        mistakes={
            "take the whole log det C (sum of 2 log L_ii) instead of half of it": _lml_here(
                *args, half_logdet=False
            ),
            "leave out -(n/2) log 2 pi": _lml_here(*args, two_pi=False),
            "forget the 1/2 on y^T C^-1 y": _lml_here(*args, half_quad=False),
            "leave the noise out of C": lambda: _lml_here(X, y, 0.9, 1.3, 1e-12),
        },
    )
    expect(
        isinstance(call.value, (float, np.floating)),
        f"{call} returned {type(call.value).__name__}; expected a float",
    )


@exercise("gp_log_marginal_likelihood")
def test_log_marginal_likelihood_of_300_points_without_the_determinant(impl):
    X, y = _data(8, n=300, noise=0.05)
    want = _lml_here(X, y, 1.0, 1.0, 1e-3)
    call = run_without_warnings(impl.gp_log_marginal_likelihood, X, y, 1.0, 1.0, 1e-3)
    expect(
        np.isfinite(call.value),
        f"{call} = {call.value}; det C of 300 points underflows to 0: use sum(log diag L) instead",
    )
    expect_close(call, want, rtol=1e-7, what="by slogdet")


@exercise("gp_log_marginal_likelihood")
def test_log_marginal_likelihood_agrees_with_scikit_learn(impl):
    X, y = _data(9, n=20, d=2)
    got = run(impl.gp_log_marginal_likelihood, X, y, 0.7, 1.1, 0.02)
    gp = _sklearn_gp(0.7, 1.1, 0.02)
    if gp is None:
        return  # scikit-learn is not installed: the formula tests above still hold
    expect_close(got, gp.fit(X, y).log_marginal_likelihood_value_, rtol=1e-7, what="scikit-learn's value")


# ---------------------------------------------------------------------- best_length_scale


@exercise("best_length_scale")
def test_best_length_scale_maximises_the_marginal_likelihood(impl):
    X, y = _data(10, n=25)
    candidates = np.array([0.05, 0.3, 1.0, 3.0, 20.0])
    scores = [_lml_here(X, y, ell, 1.0, 0.01) for ell in candidates]
    call = run(impl.best_length_scale, X, y, candidates, 1.0, 0.01)
    expect_equal(
        call,
        float(candidates[int(np.argmax(scores))]),
        what=f"log marginal likelihoods {np.round(scores, 1).tolist()}",
        mistakes={
            "take the smallest log marginal likelihood": float(candidates[int(np.argmin(scores))]),
            "return the index of the best candidate": int(np.argmax(scores)),
        },
    )


@exercise("best_length_scale")
def test_best_length_scale_follows_the_data(impl):
    g = rng(11)
    x = np.sort(g.uniform(0, 10, 40))[:, None]
    candidates = np.array([0.1, 0.3, 1.0, 3.0])
    slow = run(impl.best_length_scale, x, np.sin(x[:, 0] / 3), candidates, 1.0, 1e-4)
    fast = run(impl.best_length_scale, x, np.sin(4 * x[:, 0]), candidates, 1.0, 1e-4)
    expect(
        float(slow.value) > float(fast.value), f"{slow} = {slow.value} should exceed {fast} = {fast.value}"
    )


@exercise("best_length_scale")
def test_best_length_scale_takes_the_first_of_equal_candidates(impl):
    X, y = _data(12, n=10)
    call = run(impl.best_length_scale, X, y, np.array([50.0, 1.0, 1.0, 50.0]), 1.0, 0.01)
    expect_equal(call, 1.0, what="1.0 fits sin far better than 50")
    expect(isinstance(call.value, float), f"{call} returned {type(call.value).__name__}; expected a float")


# ------------------------------------------------------------------------ nadaraya_watson


def _nw_loops(X, y, Xq, h):
    out = np.zeros(len(Xq))
    for q in range(len(Xq)):
        d2 = [float(np.sum((Xq[q] - x) ** 2)) for x in X]
        w = np.array([math.exp(-(d - min(d2)) / (2 * h**2)) for d in d2])  # shifted: no 0 / 0
        out[q] = w @ y / w.sum()
    return out


@exercise("nadaraya_watson")
def test_nadaraya_watson_matches_the_weighted_average(impl):
    X, y = _data(13, n=15, d=2)
    Xq = rng(14).uniform(-3, 3, size=(6, 2))
    h = 0.9
    d2 = ((Xq[:, None] - X[None]) ** 2).sum(axis=2)
    w = np.exp(-d2 / (2 * h**2))
    expect_close(
        run(impl.nadaraya_watson, X, y, Xq, h),
        _nw_loops(X, y, Xq, h),
        rtol=1e-9,
        what="sum_i w_i y_i / sum_i w_i",
        mistakes={
            "forget to divide by the sum of the weights": w @ y,
            "leave out the 2 in 2 h^2": (np.exp(-d2 / h**2) @ y) / np.exp(-d2 / h**2).sum(axis=1),
            "divide by 2 h instead of 2 h^2": (np.exp(-d2 / (2 * h)) @ y) / np.exp(-d2 / (2 * h)).sum(axis=1),
        },
    )


@exercise("nadaraya_watson")
def test_nadaraya_watson_limits_of_the_bandwidth(impl):
    X = np.array([[0.0], [1.0], [2.0], [4.0]])
    y = np.array([1.0, 3.0, -2.0, 5.0])
    Xq = np.array([[0.2], [1.9], [3.5]])
    expect_close(
        run(impl.nadaraya_watson, X, y, Xq, 1e4),
        np.full(3, y.mean()),
        rtol=1e-6,
        what="a huge bandwidth weighs every point alike: the mean of y",
    )
    expect_close(
        run_without_warnings(impl.nadaraya_watson, X, y, Xq, 0.01),
        np.array([1.0, -2.0, 5.0]),
        what="a tiny bandwidth: the nearest point's y",
    )


@exercise("nadaraya_watson")
def test_nadaraya_watson_far_from_the_data(impl):
    X = np.array([[0.0], [1.0], [2.0]])
    y = np.array([2.0, 4.0, 7.0])
    call = run_without_warnings(impl.nadaraya_watson, X, y, np.array([[-100.0], [102.0], [1.0]]), 1.0)
    e = math.exp(-0.5)  # a query at -100: the weights relative to the nearest point are 1, e^(-100.5), ...
    expect_close(
        call,
        np.array([2.0, 7.0, (2 * e + 4 + 7 * e) / (2 * e + 1)]),
        what="100 bandwidths away every weight underflows unless the exponents are shifted first",
    )


# --------------------------------------------------------------------------- loo_bandwidth


def _loo_scores(X, y, candidates, leave_out=True):
    scores = []
    for h in candidates:
        errors = []
        for i in range(len(X)):
            keep = np.arange(len(X)) != i if leave_out else np.ones(len(X), dtype=bool)
            errors.append((_nw_loops(X[keep], y[keep], X[i : i + 1], h)[0] - y[i]) ** 2)
        scores.append(np.mean(errors))
    return np.array(scores)


@exercise("loo_bandwidth")
def test_loo_bandwidth_scores_by_leaving_each_point_out(impl):
    g = rng(60)
    X = g.uniform(0, 6, size=(14, 2))  # two features: squared distances sum over both
    y = np.sin(X).sum(axis=1) + 0.3 * g.standard_normal(14)
    candidates = np.array([0.1, 0.3, 0.6, 1.0, 2.0])
    call = run(impl.loo_bandwidth, X, y, candidates)
    expect(isinstance(call.value, tuple) and len(call.value) == 2, f"{call}: expected a tuple (h, scores)")
    h, scores = call.value
    want = _loo_scores(X, y, candidates)
    expect_close(
        Call(scores, f"{call}[1], scores"),
        want,
        rtol=1e-8,
        what="the mean squared error of predicting each y[i] from the other points",
        mistakes={
            "let each point predict itself (no point left out)": lambda: _loo_scores(X, y, candidates, False),
            "sum the squared errors instead of averaging": want * 14,
        },
    )
    expect_equal(
        Call(h, f"{call}[0]"),
        float(candidates[int(np.argmin(want))]),
        what="the candidate with the smallest score",
        mistakes={"take the largest score": float(candidates[int(np.argmax(want))])},
    )
    expect(isinstance(h, float), f"{call}[0] is {type(h).__name__}; expected a float")


@exercise("loo_bandwidth")
def test_loo_bandwidth_does_not_reward_copying_each_point(impl):
    # Kept in, each point predicts itself perfectly with a tiny h; left out, a tiny h copies
    # the neighbour and loses to a smoother choice.
    g = rng(61)
    X = np.sort(g.uniform(0, 10, 40))[:, None]
    y = np.sin(X[:, 0]) + 0.5 * g.standard_normal(40)
    candidates = np.array([0.01, 0.05, 0.5, 1.0])
    h, scores = run_without_warnings(impl.loo_bandwidth, X, y, candidates).value
    want = _loo_scores(X, y, candidates)
    expect(
        h == float(candidates[int(np.argmin(want))]) and h >= 0.5,
        f"loo_bandwidth(X, y, candidates={candidates.tolist()}) chose h = {h}; leave-one-out picks "
        f"{candidates[int(np.argmin(want))]} (scores {np.round(want, 3).tolist()}): is point i left out of "
        "its own prediction, and is the exponent shifted (h = 0.01 underflows otherwise)?",
    )


@exercise("loo_bandwidth")
def test_loo_bandwidth_takes_the_first_of_equal_scores(impl):
    X = np.array([[0.0], [1.0], [2.0], [3.0]])
    y = np.array([1.0, 2.0, 3.0, 4.0])
    h, scores = run(impl.loo_bandwidth, X, y, np.array([0.7, 0.3, 0.7])).value
    expect_equal(
        Call(h, "loo_bandwidth(X, y, candidates=[0.7, 0.3, 0.7])[0]"),
        float(np.array([0.7, 0.3, 0.7])[int(np.argmin(_loo_scores(X, y, np.array([0.7, 0.3, 0.7]))))]),
    )
    expect_close(
        Call(scores[0], "scores[0]"), scores[2], rtol=0, atol=0, what="equal candidates, equal scores"
    )
