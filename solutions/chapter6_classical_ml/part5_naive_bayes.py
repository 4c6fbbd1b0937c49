# %% [markdown]
# # Chapter 6, part 5: naive Bayes
#
# Reading: chapters/chapter6_classical_ml/part5_naive_bayes.md
#
# Fill in each function, then run the cell below it: `check(fn)` runs that exercise's
# tests here and prints a verdict. `python -m grader chapter6/part5` grades the file.
#
# Naive Bayes classifies by Bayes' rule, p(y = k | x) ∝ p(y = k) · p(x | y = k), with the
# "naive" assumption that the features are independent given the class:
# p(x | y = k) = Π_j p(x_j | y = k). Everything is done in log space, where the product
# becomes a sum and nothing underflows.
#
# Conventions: X is (n, d), one example per row; labels y are ints 0 … K−1 (n,); every
# class has at least one training row; no function changes its inputs.

# %%
from __future__ import annotations

import numpy as np
from jaxtyping import Float, Int, Num

from coursedata import load_digits, load_wine, standardize_split, train_test_split
from grader.check import check

MAIN = __name__ == "__main__"


def log_softmax_rows(scores: Float[np.ndarray, "n K"]) -> Float[np.ndarray, "n K"]:
    """Each row of scores minus its log-sum-exp, computed stably (Given): the log of
    exp(scores) / exp(scores).sum(axis=1) without overflow or underflow."""
    top = scores.max(axis=1, keepdims=True)
    return scores - top - np.log(np.exp(scores - top).sum(axis=1, keepdims=True))


# %% [markdown]
# ## Gaussian naive Bayes


# %%
def fit_gaussian_nb(
    X: Float[np.ndarray, "n d"], y: Int[np.ndarray, " n"], n_classes: int, var_smoothing: float = 1e-9
) -> tuple[Float[np.ndarray, " K"], Float[np.ndarray, "K d"], Float[np.ndarray, "K d"]]:
    """Fit one Gaussian per class and feature by maximum likelihood. Returns
    (log_prior (K,), means (K, d), variances (K, d)):
    log_prior[k] = log(n_k / n), n_k the number of rows of class k;
    means[k, j] = the mean of X[y == k, j];
    variances[k, j] = the mean of (X[y == k, j] − means[k, j])² (divide by n_k, not
    n_k − 1) plus var_smoothing × the largest variance of a column of the whole X (the
    same small amount for every entry: it keeps a constant feature from dividing by 0)."""
    # BEGIN SOLUTION
    onehot = np.eye(n_classes)[y]  # (n, K): onehot.T @ X sums each class's rows
    n_k = onehot.sum(axis=0)
    means = (onehot.T @ X) / n_k[:, None]
    # squared deviations from each row's own class mean (not E[x²] − E[x]², which can
    # come out a hair below 0 for a constant feature)
    variances = (onehot.T @ (X - means[y]) ** 2) / n_k[:, None]
    variances = variances + var_smoothing * X.var(axis=0).max()
    return np.log(n_k / len(y)), means, variances
    # END SOLUTION


if MAIN:
    check(fit_gaussian_nb)


# %%
def gaussian_nb_log_proba(
    log_prior: Float[np.ndarray, " K"],
    means: Float[np.ndarray, "K d"],
    variances: Float[np.ndarray, "K d"],
    X: Float[np.ndarray, "n d"],
) -> Float[np.ndarray, "n K"]:
    """The log posterior log p(y = k | x) of each row of X (n, K): the joint
    log p(y = k) + Σ_j log N(x_j; means[k, j], variances[k, j]), with
    log N(x; μ, σ²) = −½ log(2π σ²) − (x − μ)² / (2σ²), normalised over k in log space
    (log_softmax_rows is given). Far from every class mean the joint densities underflow
    to 0 in linear space: the result must stay finite there, with exp of each row summing
    to 1. No Python loop over rows."""
    # BEGIN SOLUTION
    diff = X[:, None, :] - means[None, :, :]  # (n, K, d)
    log_like = -0.5 * (np.log(2 * np.pi * variances) + diff**2 / variances).sum(axis=2)
    return log_softmax_rows(log_prior + log_like)
    # END SOLUTION


if MAIN:
    check(gaussian_nb_log_proba)
    wine = load_wine()
    X_train, y_train, X_test, y_test = standardize_split(wine.X, wine.y, 0.3, seed=0)
    log_proba = gaussian_nb_log_proba(*fit_gaussian_nb(X_train, y_train, 3), X_test)
    accuracy = (log_proba.argmax(1) == y_test).mean()
    print(f"wine ({wine.source}), Gaussian naive Bayes: test accuracy {accuracy:.3f}")


# %% [markdown]
# ## Multinomial naive Bayes for counts


# %%
def fit_multinomial_nb(
    X: Num[np.ndarray, "n V"], y: Int[np.ndarray, " n"], n_classes: int, alpha: float = 1.0
) -> tuple[Float[np.ndarray, " K"], Float[np.ndarray, "K V"]]:
    """Fit multinomial naive Bayes to count vectors (row i counts how often each of V
    words occurs in document i). Returns (log_prior (K,), log_theta (K, V)):
    log_prior[k] = log(n_k / n) over documents; with N[k, v] the total count of word v in
    the documents of class k, the additively (Laplace, alpha = 1) smoothed
    theta[k, v] = (N[k, v] + alpha) / (Σ_v' N[k, v'] + alpha · V), so that every row
    of theta sums to 1 and no word has probability 0."""
    # BEGIN SOLUTION
    onehot = np.eye(n_classes)[y]
    N = onehot.T @ X  # (K, V) word counts per class
    smoothed = N + alpha
    log_theta = np.log(smoothed) - np.log(smoothed.sum(axis=1, keepdims=True))
    return np.log(onehot.sum(axis=0) / len(y)), log_theta
    # END SOLUTION


if MAIN:
    check(fit_multinomial_nb)


# %%
def multinomial_nb_log_proba(
    log_prior: Float[np.ndarray, " K"], log_theta: Float[np.ndarray, "K V"], X: Num[np.ndarray, "n V"]
) -> Float[np.ndarray, "n K"]:
    """The log posterior of each count vector (n, K): the joint
    log p(y = k) + Σ_v X[i, v] · log_theta[k, v] (the multinomial coefficient is the
    same for every class and cancels), normalised over k with log_softmax_rows. Long
    documents have joint log-probabilities in the thousands: stay in log space."""
    # BEGIN SOLUTION
    return log_softmax_rows(log_prior + X @ log_theta.T)
    # END SOLUTION


if MAIN:
    check(multinomial_nb_log_proba)
    # The digits' pixels as counts: ink intensities 0 … 16 per pixel, read as word counts.
    digits = load_digits()
    x_train, y_train, x_test, y_test = train_test_split(digits)
    counts_train, counts_test = (np.rint(16 * x.reshape(len(x), -1)) for x in (x_train, x_test))
    log_proba = multinomial_nb_log_proba(*fit_multinomial_nb(counts_train, y_train, 10), counts_test)
    accuracy = (log_proba.argmax(1) == y_test).mean()
    print(f"digits ({digits.source}), multinomial naive Bayes: test accuracy {accuracy:.3f}")
