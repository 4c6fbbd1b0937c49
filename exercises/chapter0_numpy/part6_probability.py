# %% [markdown]
# # Chapter 0, part 6: probability and information
#
# Reading: chapters/chapter0_numpy/part6_probability.md
#
# Fill in each function, then run the cell below it: `check(fn)` runs that exercise's
# tests here and prints a verdict. `python -m grader chapter0/part6` grades the file.

# %%
import numpy as np
from jaxtyping import Float, Int

from grader.check import check

MAIN = __name__ == "__main__"


# %%
def sample_categorical(
    probs: Float[np.ndarray, " k"], n_samples: int, gen: np.random.Generator
) -> Int[np.ndarray, " n"]:
    """Draw n_samples independent class indices from the categorical distribution `probs`.

    probs: k non-negative probabilities that sum to 1 up to rounding (e.g. 0.9999999999999998).
    gen: the only source of randomness, used as it comes: the same seeded generator gives
    the same draws, and each call advances it, so two calls in a row give different draws
    (do not re-seed it or copy it).
    Returns an integer array of shape (n_samples,) with values in 0..k-1, each class i drawn
    with probability probs[i]. A class whose probability is 0 is never returned, whatever
    the uniforms (also a uniform of exactly 0.0 or 1 - 2**-53), and neither is k.
    Any correct sampler passes; the reading's is the inverse CDF.
    """
    raise NotImplementedError("sample_categorical")


if MAIN:
    check(sample_categorical)


# %%
def gaussian_log_likelihood(
    x: Float[np.ndarray, "batch d"],
    mean: Float[np.ndarray, " d"],
    std: Float[np.ndarray, " d"],
) -> Float[np.ndarray, " batch"]:
    """log N(x_b; mean, diag(std**2)) for every example x_b (every row of x), in nats.

    The d features are independent Gaussians, so the log-density of a row is the sum over
    features of  -1/2 log(2 pi) - log(std_j) - (x_j - mean_j)**2 / (2 std_j**2).
    std holds standard deviations (not variances), all > 0. Finite even where the density
    itself underflows to 0 (a point 1000 standard deviations away).
    """
    raise NotImplementedError("gaussian_log_likelihood")


if MAIN:
    check(gaussian_log_likelihood)


# %%
def entropy(p: Float[np.ndarray, "*batch k"]) -> Float[np.ndarray, "*batch"]:
    """H(p) = -sum_i p_i log p_i over the last axis, in nats, with 0 log 0 = 0.

    p: a batch of distributions (at least two axes: one or more leading batch axes, then k
    classes); each slice along the last axis holds k
    probabilities summing to 1. Returns an array with the last axis removed; never nan.
    """
    raise NotImplementedError("entropy")


if MAIN:
    check(entropy)


# %%
def cross_entropy(
    p: Float[np.ndarray, "*batch k"], q: Float[np.ndarray, "*batch k"]
) -> Float[np.ndarray, "*batch"]:
    """H(p, q) = -sum_i p_i log q_i over the last axis, in nats.

    p, q: batches of distributions of the same shape (at least two axes). Terms with p_i = 0
    count as 0 whatever q_i is; if q_i = 0 where p_i > 0 the result is +inf.
    """
    raise NotImplementedError("cross_entropy")


if MAIN:
    check(cross_entropy)


# %%
def kl_divergence(
    p: Float[np.ndarray, "*batch k"], q: Float[np.ndarray, "*batch k"]
) -> Float[np.ndarray, "*batch"]:
    """KL(p || q) = sum_i p_i log(p_i / q_i) over the last axis, in nats.

    p, q: batches of distributions of the same shape (at least two axes). Terms with p_i = 0
    count as 0 (0 log(0/q) = 0); if q_i = 0 where p_i > 0 the result is +inf. Always >= 0,
    and 0 exactly when p = q.
    """
    raise NotImplementedError("kl_divergence")


if MAIN:
    check(kl_divergence)


# %%
def welford_update(
    count: int,
    mean: Float[np.ndarray, " d"],
    m2: Float[np.ndarray, " d"],
    batch: Float[np.ndarray, "n d"],
) -> tuple[int, Float[np.ndarray, " d"], Float[np.ndarray, " d"]]:
    """Fold a batch of rows into running per-feature statistics, in one pass and stably.

    State before: `count` rows seen so far, their per-feature `mean`, and `m2` = the sum over
    those rows of (x - mean)**2 per feature. At the start: count = 0, mean = m2 = zeros.
    batch: n >= 1 new rows. Returns the new (count, mean, m2) as a Python int and two new
    arrays (the inputs are not changed). The population variance is m2 / count.
    Must stay accurate when the data sit far from 0: for values of 1e8 + noise of size 1,
    m2 within a relative 1e-6 (and the mean within 1e-12) of a two-pass computation.
    """
    raise NotImplementedError("welford_update")


if MAIN:
    check(welford_update)
