# %% [markdown]
# # Chapter 0, part 4: numerically stable softmax, log-softmax, logsumexp and sigmoid
#
# Reading: chapters/chapter0_numpy/part4_stable.md
#
# Fill in each function, then run the cell below it: `check(fn)` runs that exercise's
# tests here and prints a verdict. `python -m grader chapter0/part4` grades the file.

# %%
import numpy as np
from jaxtyping import Float

from grader.check import check

MAIN = __name__ == "__main__"


# %%
def logsumexp(x: Float[np.ndarray, "*batch n"]) -> Float[np.ndarray, "*batch"]:
    """log(sum(exp(x))) over the last axis, without overflow for large |x|.

    x: any array with at least two axes; the sum runs over the last one.
    Returns an array with the last axis removed.
    """
    # BEGIN SOLUTION
    top = x.max(axis=-1, keepdims=True)  # shifting by the max keeps every exp(.) <= 1
    return np.log(np.exp(x - top).sum(axis=-1)) + top[..., 0]
    # END SOLUTION


if MAIN:
    check(logsumexp)


# %%
def softmax(x: Float[np.ndarray, "*batch n"]) -> Float[np.ndarray, "*batch n"]:
    """exp(x) / sum(exp(x)) over the last axis; every row of the result sums to 1.

    Must not overflow for logits of ±1000.
    """
    # BEGIN SOLUTION
    shifted = np.exp(x - x.max(axis=-1, keepdims=True))
    return shifted / shifted.sum(axis=-1, keepdims=True)
    # END SOLUTION


if MAIN:
    check(softmax)


# %%
def log_softmax(x: Float[np.ndarray, "*batch n"]) -> Float[np.ndarray, "*batch n"]:
    """log(softmax(x)) over the last axis, accurate where softmax underflows to 0."""
    # BEGIN SOLUTION
    return x - logsumexp(x)[..., None]
    # END SOLUTION


if MAIN:
    check(log_softmax)


# %%
def sigmoid(x: Float[np.ndarray, "*shape"]) -> Float[np.ndarray, "*shape"]:
    """1 / (1 + exp(-x)) elementwise, with no overflow warning for x = ±1000."""
    # BEGIN SOLUTION
    # exp of a non-positive number never overflows: use exp(-|x|) on both branches.
    e = np.exp(-np.abs(x))
    r = 1 / (1 + e)
    return np.where(x >= 0, r, e * r)
    # END SOLUTION


if MAIN:
    check(sigmoid)


# %%
def softplus(x: Float[np.ndarray, "*shape"]) -> Float[np.ndarray, "*shape"]:
    """log(1 + exp(x)) elementwise, exact to float64 precision for x = ±1000."""
    # BEGIN SOLUTION
    # log(1 + e^x) = max(x, 0) + log(1 + e^-|x|); log1p keeps accuracy when e^-|x| is tiny.
    return np.maximum(x, 0) + np.log1p(np.exp(-np.abs(x)))
    # END SOLUTION


if MAIN:
    check(softplus)
