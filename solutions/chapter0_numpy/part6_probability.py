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
    # BEGIN SOLUTION
    cdf = np.cumsum(probs)
    # Divide by the total so that the last entry is exactly 1.0: a uniform in [0, 1) is then
    # always below it, even when the probabilities add up to 0.9999999999999998.
    cdf = cdf / cdf[-1]
    u = gen.random(n_samples)  # uniforms in [0, 1)
    # F^{-1}(u) = the first i with cdf[i] > u ("right"), which skips classes of probability 0.
    return np.searchsorted(cdf, u, side="right")
    # END SOLUTION


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
    # BEGIN SOLUTION
    z = (x - mean) / std  # (batch, d): distance from the mean in standard deviations
    per_feature = -0.5 * np.log(2 * np.pi) - np.log(std) - 0.5 * z**2
    return per_feature.sum(axis=-1)
    # END SOLUTION


if MAIN:
    check(gaussian_log_likelihood)


# %%
def entropy(p: Float[np.ndarray, "*batch k"]) -> Float[np.ndarray, "*batch"]:
    """H(p) = -sum_i p_i log p_i over the last axis, in nats, with 0 log 0 = 0.

    p: a batch of distributions (at least two axes: one or more leading batch axes, then k
    classes); each slice along the last axis holds k
    probabilities summing to 1. Returns an array with the last axis removed; never nan.
    """
    # BEGIN SOLUTION
    # log(1) = 0 stands in for log(0) where p = 0: those terms are 0 by convention, and
    # np.log never sees a 0, so no warning and no 0 * -inf = nan.
    safe_log = np.log(np.where(p > 0, p, 1.0))
    return -(p * safe_log).sum(axis=-1)
    # END SOLUTION


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
    # BEGIN SOLUTION
    # Where p_i = 0 the term is 0 even if q_i = 0: keep log q out of those places.
    with np.errstate(divide="ignore"):  # log(0) = -inf is the right answer where p_i > 0
        log_q = np.log(np.where(p > 0, q, 1.0))
    return -(p * log_q).sum(axis=-1)
    # END SOLUTION


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
    # BEGIN SOLUTION
    support = p > 0
    with np.errstate(divide="ignore"):  # q_i = 0 < p_i gives log(p_i / 0) = +inf, as it should
        log_ratio = np.log(np.where(support, p, 1.0)) - np.log(np.where(support, q, 1.0))
    return (p * log_ratio).sum(axis=-1)
    # END SOLUTION


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
    # BEGIN SOLUTION
    n_b = batch.shape[0]
    mean_b = batch.mean(axis=0)
    m2_b = ((batch - mean_b) ** 2).sum(axis=0)  # two-pass within the batch: no cancellation
    total = count + n_b
    delta = mean_b - mean  # (d,)
    # Chan et al.: merge two groups' (count, mean, m2); with count = 0 this gives (n_b, mean_b, m2_b).
    new_mean = mean + delta * (n_b / total)
    new_m2 = m2 + m2_b + delta**2 * (count * n_b / total)
    return total, new_mean, new_m2
    # END SOLUTION


if MAIN:
    check(welford_update)
