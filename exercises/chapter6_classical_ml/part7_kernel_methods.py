# %% [markdown]
# # Chapter 6, part 7: kernel methods — Gaussian processes and kernel regression
#
# Reading: chapters/chapter6_classical_ml/part7_kernel_methods.md
#
# Fill in each function, then run the cell below it: `check(fn)` runs that exercise's
# tests here and prints a verdict. `python -m grader chapter6/part7` grades the file.
#
# Data: X (n, d) with one example per row, targets y (n,); query points X_star (m, d).
# The squared-exponential (RBF) kernel with length scale ell and signal variance sf2 is
#
#     k(x, x') = sf2 · exp(−‖x − x'‖² / (2 ell²)).
#
# Conventions: float64 throughout; no function changes its inputs.

# %%
from __future__ import annotations

import numpy as np
from jaxtyping import Float

from coursedata import line_chart
from grader.check import check

MAIN = __name__ == "__main__"


def make_wave(
    n: int, noise_std: float, rng: np.random.Generator
) -> tuple[Float[np.ndarray, "n 1"], Float[np.ndarray, " n"]]:
    """n points x uniform on [0, 10] (sorted) and y = sin(x) + x / 5 + noise_std · N(0, 1).
    Returns (X (n, 1), y (n,)). (Given.)"""
    x = np.sort(rng.uniform(0.0, 10.0, size=n))
    return x[:, None], np.sin(x) + x / 5 + noise_std * rng.standard_normal(n)


# %% [markdown]
# ## The kernel


# %%
def rbf_kernel(
    X1: Float[np.ndarray, "n d"], X2: Float[np.ndarray, "m d"], ell: float, sf2: float
) -> Float[np.ndarray, "n m"]:
    """The kernel matrix K[i, j] = sf2 · exp(−‖X1[i] − X2[j]‖² / (2 ell²)), vectorised
    (no Python loop). The squared distances, if expanded as ‖a‖² + ‖b‖² − 2 a·b, are
    clipped at 0 (rounding can make them slightly negative): every value lies in [0, sf2].
    Matches a direct computation to a relative 1e-9 near the origin (the tests' points have
    |x| < 5), and to 1e-6 for points 1000 from it."""
    raise NotImplementedError("rbf_kernel")


if MAIN:
    check(rbf_kernel)


# %% [markdown]
# ## Gaussian-process regression


# %%
def gp_posterior(
    X: Float[np.ndarray, "n d"],
    y: Float[np.ndarray, " n"],
    X_star: Float[np.ndarray, "m d"],
    ell: float,
    sf2: float,
    noise_var: float,
) -> tuple[Float[np.ndarray, " m"], Float[np.ndarray, " m"]]:
    """The posterior of the latent function f at X_star, for a zero-mean GP prior with your
    rbf_kernel(·, ·, ell, sf2) and observations y = f(X) + noise of variance noise_var:

        L = cholesky(K(X, X) + noise_var · I),  alpha = (K + noise_var I)⁻¹ y via L,
        mean = K(X_star, X) @ alpha,
        var  = diag K(X_star, X_star) − Σ_rows (L⁻¹ K(X, X_star))²   (≥ 0 with Cholesky).

    The noise enters only K(X, X): var is the variance of f(X_star), not of a new noisy
    y (that would add noise_var). Returns (mean, var), each of shape (m,)."""
    raise NotImplementedError("gp_posterior")


if MAIN:
    check(gp_posterior)


# %%
def gp_prior_samples(
    X: Float[np.ndarray, "n d"],
    ell: float,
    sf2: float,
    n_samples: int,
    rng: np.random.Generator,
    jitter: float = 1e-8,
) -> Float[np.ndarray, "s n"]:
    """n_samples functions drawn from the GP prior, evaluated at the rows of X: with
    L = cholesky(K(X, X) + jitter · I) and z = rng.standard_normal((n, n_samples)) (one
    call, in this shape), the samples are the columns of L @ z. Returns (L @ z).T, one
    function per row, shape (n_samples, n). Each sample has covariance K + jitter · I.
    (The jitter keeps the Cholesky factorisation possible: K of close points is singular
    to rounding.)"""
    raise NotImplementedError("gp_prior_samples")


if MAIN:
    check(gp_prior_samples)
    xs = np.linspace(0, 10, 150)[:, None]
    draws = gp_prior_samples(xs, 1.0, 1.0, 3, np.random.default_rng(0))
    print(
        "wrote",
        line_chart(
            {f"sample {i}": (xs[:, 0], f) for i, f in enumerate(draws)},
            "gp_prior.svg",
            "GP prior, ell = 1",
            "x",
            "f(x)",
        ),
    )


# %%
def gp_log_marginal_likelihood(
    X: Float[np.ndarray, "n d"], y: Float[np.ndarray, " n"], ell: float, sf2: float, noise_var: float
) -> float:
    """log p(y | X) under the GP: with C = K(X, X) + noise_var · I = L Lᵀ (Cholesky),

        log p(y | X) = −½ yᵀ C⁻¹ y − Σ_i log L[i, i] − (n / 2) log 2π.

    (Σ_i log L[i, i] is ½ log det C, computed without forming the determinant, which
    overflows or underflows for a few hundred points.) Returns a float."""
    raise NotImplementedError("gp_log_marginal_likelihood")


if MAIN:
    check(gp_log_marginal_likelihood)


# %%
def best_length_scale(
    X: Float[np.ndarray, "n d"],
    y: Float[np.ndarray, " n"],
    candidates: Float[np.ndarray, " c"],
    sf2: float,
    noise_var: float,
) -> float:
    """The candidate length scale with the largest log marginal likelihood (your
    gp_log_marginal_likelihood; the first on ties), as a float."""
    raise NotImplementedError("best_length_scale")


if MAIN:
    check(best_length_scale)


# %% [markdown]
# ## Nadaraya-Watson kernel regression


# %%
def nadaraya_watson(
    X: Float[np.ndarray, "n d"],
    y: Float[np.ndarray, " n"],
    X_query: Float[np.ndarray, "m d"],
    bandwidth: float,
) -> Float[np.ndarray, " m"]:
    """The Gaussian-kernel weighted average of y at each query point:

        w[q, i] = exp(−‖X_query[q] − X[i]‖² / (2 bandwidth²)),  ŷ[q] = Σ_i w[q, i] y[i] / Σ_i w[q, i].

    Stable far from the data: shift each query's exponents by its largest one before
    exp (the ratio does not change), so that a query 100 bandwidths from every point still
    gets the y of its nearest points, not 0/0. Vectorised; returns shape (m,)."""
    raise NotImplementedError("nadaraya_watson")


if MAIN:
    check(nadaraya_watson)


# %%
def loo_bandwidth(
    X: Float[np.ndarray, "n d"], y: Float[np.ndarray, " n"], candidates: Float[np.ndarray, " c"]
) -> tuple[float, Float[np.ndarray, " c"]]:
    """Choose Nadaraya-Watson's bandwidth by leave-one-out cross-validation: for each
    candidate h, predict every y[i] from the OTHER n − 1 points (weight 0 on point i itself),
    and score h by the mean squared error of those n predictions. Returns (the candidate
    with the smallest score as a float, the first on ties; the scores, shape (c,)).
    Stable like nadaraya_watson (shift each row's exponents by its largest)."""
    raise NotImplementedError("loo_bandwidth")


if MAIN:
    check(loo_bandwidth)
    X, y = make_wave(40, 0.2, np.random.default_rng(0))
    grid = np.linspace(0, 10, 200)[:, None]
    ell = best_length_scale(X, y, np.array([0.3, 0.5, 1.0, 2.0, 4.0]), 1.0, 0.04)
    mean, var = gp_posterior(X, y, grid, ell, 1.0, 0.04)
    h, _ = loo_bandwidth(X, y, np.array([0.1, 0.2, 0.3, 0.5, 0.8, 1.2]))
    print(f"length scale chosen by the marginal likelihood: {ell}; bandwidth by leave-one-out: {h}")
    x = grid[:, 0]
    curves = {
        "true f": (x, np.sin(x) + x / 5),
        "GP mean": (x, mean),
        "GP mean + 2 sd": (x, mean + 2 * np.sqrt(var)),
        "GP mean - 2 sd": (x, mean - 2 * np.sqrt(var)),
        "Nadaraya-Watson": (x, nadaraya_watson(X, y, grid, h)),
    }
    print("wrote", line_chart(curves, "gp_regression.svg", "GP regression on 40 noisy points", "x", "y"))
