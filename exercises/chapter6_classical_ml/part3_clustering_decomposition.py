# %% [markdown]
# # Chapter 6, part 3: clustering and decomposition
#
# Reading: chapters/chapter6_classical_ml/part3_clustering_decomposition.md
#
# Fill in each function, then run the cell below it: `check(fn)` runs that exercise's
# tests here and prints a verdict. `python -m grader chapter6/part3` grades the file.
#
# Unsupervised learning: no labels, only X (n, d), one example per row. k-means and a
# Gaussian mixture find groups; PCA and non-negative matrix factorisation find a few
# directions or parts that explain the data.
#
# Conventions: float64 throughout; every random choice comes from the
# `rng: np.random.Generator` passed in, drawn exactly as the docstring says; nothing
# changes its inputs.

# %%
from __future__ import annotations

import numpy as np
from jaxtyping import Float, Int

from coursedata import load_digits, scatter_chart
from grader.check import check

MAIN = __name__ == "__main__"


def sq_distances(X: Float[np.ndarray, "n d"], C: Float[np.ndarray, "k d"]) -> Float[np.ndarray, "n k"]:
    """||X[i] − C[j]||² for every row i and centre j, clipped at 0 (part 2's
    pairwise_sq_distances). (Given.)"""
    sq = (X**2).sum(axis=1)[:, None] + (C**2).sum(axis=1)[None, :] - 2.0 * X @ C.T
    return np.maximum(sq, 0.0)


# %% [markdown]
# ## k-means


# %%
def kmeans_assign(X: Float[np.ndarray, "n d"], C: Float[np.ndarray, "k d"]) -> Int[np.ndarray, " n"]:
    """The index of the nearest centre (row of C) for each row of X, by squared Euclidean
    distance; on a tie the lower index. Returns int64 (n,)."""
    raise NotImplementedError("kmeans_assign")


if MAIN:
    check(kmeans_assign)


# %%
def kmeans_update(
    X: Float[np.ndarray, "n d"], labels: Int[np.ndarray, " n"], C: Float[np.ndarray, "k d"]
) -> Float[np.ndarray, "k d"]:
    """New centres: row j is the mean of the rows of X with labels == j. A centre with no
    rows assigned (an empty cluster) keeps its old value C[j]. Returns a new float64
    (k, d) array; C is not changed."""
    raise NotImplementedError("kmeans_update")


if MAIN:
    check(kmeans_update)


# %%
def kmeans_plus_plus(
    X: Float[np.ndarray, "n d"], k: int, rng: np.random.Generator
) -> Float[np.ndarray, "k d"]:
    """k-means++ seeding (Arthur & Vassilvitskii, 2007): the first centre is row
    rng.integers(n) of X; each next one is row rng.choice(n, p=p) with
    p[i] = D(i)² / Σ_j D(j)², where D(i)² is the squared distance from row i to its
    nearest centre chosen so far (D² sampling: far rows are likely, chosen rows have
    probability 0). Exactly these k draws from rng, in this order. Returns a float64
    (k, d) copy of the chosen rows."""
    raise NotImplementedError("kmeans_plus_plus")


if MAIN:
    check(kmeans_plus_plus)


# %%
def kmeans(
    X: Float[np.ndarray, "n d"], k: int, rng: np.random.Generator, max_iter: int = 100
) -> tuple[Float[np.ndarray, "k d"], Int[np.ndarray, " n"], float]:
    """Lloyd's algorithm: seed with your kmeans_plus_plus(X, k, rng) (the only draws), then
    repeat: labels = kmeans_assign(X, C); stop if the labels are the same as in the
    previous pass; else C = kmeans_update(X, labels, C). At most max_iter assignments.
    Returns (C, labels, inertia) where inertia = Σ_i ||X[i] − C[labels[i]]||² (a float)
    for the returned C and labels."""
    raise NotImplementedError("kmeans")


if MAIN:
    check(kmeans)


# %% [markdown]
# ## A Gaussian mixture by EM


# %%
def gmm_log_responsibilities(
    X: Float[np.ndarray, "n d"],
    weights: Float[np.ndarray, " K"],
    means: Float[np.ndarray, "K d"],
    covs: Float[np.ndarray, "K d d"],
) -> tuple[Float[np.ndarray, "n K"], float]:
    """The E-step in log space. With log N(x | μ, Σ) = −½ (d log 2π + log det Σ +
    (x − μ)ᵀ Σ⁻¹ (x − μ)) (use a Cholesky factor Σ = L Lᵀ: log det Σ = 2 Σ log diag L,
    and the quadratic form is ||L⁻¹(x − μ)||²), let a[i, k] = log weights[k] +
    log N(X[i] | means[k], covs[k]). Returns (log_resp, loglik): log_resp[i, k] =
    a[i, k] − logsumexp_k a[i, :] (each row's exp sums to 1) and loglik = Σ_i logsumexp_k
    a[i, :], the data's log-likelihood. Stable when every a[i, k] is below −1000 (a
    subtracted maximum; no exp of a before it). No Python loop over the n rows."""
    raise NotImplementedError("gmm_log_responsibilities")


if MAIN:
    check(gmm_log_responsibilities)


# %%
def gmm_m_step(
    X: Float[np.ndarray, "n d"], resp: Float[np.ndarray, "n K"], reg: float = 1e-6
) -> tuple[Float[np.ndarray, " K"], Float[np.ndarray, "K d"], Float[np.ndarray, "K d d"]]:
    """The M-step from responsibilities resp (n, K), rows summing to 1: with
    N_k = Σ_i resp[i, k], weights[k] = N_k / n, means[k] = Σ_i resp[i, k] X[i] / N_k and
    covs[k] = Σ_i resp[i, k] (X[i] − means[k])(X[i] − means[k])ᵀ / N_k + reg·I (divide by
    N_k, not N_k − 1; reg keeps a collapsing component invertible). Returns
    (weights (K,), means (K, d), covs (K, d, d))."""
    raise NotImplementedError("gmm_m_step")


if MAIN:
    check(gmm_m_step)


# %%
def gmm_em(
    X: Float[np.ndarray, "n d"],
    K: int,
    rng: np.random.Generator,
    max_iter: int = 200,
    tol: float = 1e-8,
    reg: float = 1e-6,
) -> tuple[
    Float[np.ndarray, " K"], Float[np.ndarray, "K d"], Float[np.ndarray, "K d d"], Float[np.ndarray, " T"]
]:
    """Fit a K-component Gaussian mixture by EM. Start: weights 1/K, means = the rows
    rng.choice(n, size=K, replace=False) of X (the only draw), every cov = the data's
    covariance np.cov(X, rowvar=False, bias=True) + reg·I. Then repeat at most max_iter
    times: log_resp, ll = gmm_log_responsibilities(...); record ll; stop if this is not
    the first pass and ll − previous ll < tol; else weights, means, covs =
    gmm_m_step(X, exp(log_resp), reg). Returns (weights, means, covs, logliks) with
    logliks the float64 array of the recorded ll, which never decreases (beyond rounding)."""
    raise NotImplementedError("gmm_em")


if MAIN:
    check(gmm_em)


# %% [markdown]
# ## PCA and non-negative matrix factorisation


# %%
def pca(
    X: Float[np.ndarray, "n d"], q: int
) -> tuple[Float[np.ndarray, "q d"], Float[np.ndarray, " q"], Float[np.ndarray, "n q"]]:
    """Principal component analysis by the SVD of the centred data Xc = X − mean(X, axis=0)
    = U S Vᵀ (np.linalg.svd(Xc, full_matrices=False)). Returns (components, variances,
    scores): components (q, d) the first q rows of Vᵀ, each with its sign flipped if
    needed so that its entry of largest absolute value is positive (the sign convention
    makes the answer unique); variances (q,) = S[:q]² / (n − 1), the variance of the data
    along each component; scores (n, q) = Xc @ components.T."""
    raise NotImplementedError("pca")


if MAIN:
    check(pca)


# %%
def nmf(
    V: Float[np.ndarray, "m n"], r: int, rng: np.random.Generator, n_iter: int = 200, eps: float = 1e-10
) -> tuple[Float[np.ndarray, "m r"], Float[np.ndarray, "r n"]]:
    """Non-negative matrix factorisation V ≈ W H (V ≥ 0) by Lee & Seung's multiplicative
    updates for the squared Frobenius error ||V − W H||². Start: W = rng.random((m, r)),
    then H = rng.random((r, n)) (the only draws, in that order). Each of the n_iter
    iterations updates H first, then W with the new H:
        H ← H ⊙ (Wᵀ V) / (Wᵀ W H + eps),    W ← W ⊙ (V Hᵀ) / (W H Hᵀ + eps)
    (⊙ and / elementwise). W and H stay non-negative and the error never increases.
    Returns (W (m, r), H (r, n))."""
    raise NotImplementedError("nmf")


if MAIN:
    check(nmf)
    digits = load_digits()
    X, y = digits.images, digits.labels
    components, variances, scores = pca(X, 2)
    C, labels, inertia = kmeans(scores, 10, np.random.default_rng(0))
    print(f"first two components keep {variances.sum() / X.var(axis=0, ddof=1).sum():.1%} of the variance")
    print(
        "wrote",
        scatter_chart(scores, y, "digits_pca.svg", "Digits on two principal components", "PC 1", "PC 2"),
    )
    print(
        "wrote", scatter_chart(scores, labels, "digits_kmeans.svg", "k-means, k = 10, on PC 1-2", centres=C)
    )
    weights, means, covs, logliks = gmm_em(scores, 10, np.random.default_rng(0))
    print(f"EM: {len(logliks)} passes, log-likelihood {logliks[0]:.1f} -> {logliks[-1]:.1f}")
    resp_labels = np.argmax(gmm_log_responsibilities(scores, weights, means, covs)[0], axis=1)
    print(
        "wrote",
        scatter_chart(scores, resp_labels, "digits_gmm.svg", "Gaussian mixture, K = 10", centres=means),
    )
    W, H = nmf(X, 10, np.random.default_rng(0))
    print(f"NMF, r = 10: relative error {np.linalg.norm(X - W @ H) / np.linalg.norm(X):.3f}")
