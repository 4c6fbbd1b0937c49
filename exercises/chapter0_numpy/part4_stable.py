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

    x: an array with at least two axes (one or more leading batch axes, then the axis
    that is summed); logits may be ±1000 in any mix, e.g. [-1000, 1000, -1000, -1000].
    Returns an array with the last axis removed, of x's dtype (float32 in, float32 out).
    """
    raise NotImplementedError("logsumexp")


if MAIN:
    check(logsumexp)


# %%
def softmax(x: Float[np.ndarray, "*batch n"]) -> Float[np.ndarray, "*batch n"]:
    """exp(x) / sum(exp(x)) over the last axis; every row of the result sums to 1.

    x: at least two axes, as in logsumexp. Must not overflow or warn for logits of ±1000
    in any mix. Returns an array of x's shape and dtype (float32 in, float32 out).
    """
    raise NotImplementedError("softmax")


if MAIN:
    check(softmax)


# %%
def log_softmax(x: Float[np.ndarray, "*batch n"]) -> Float[np.ndarray, "*batch n"]:
    """log(softmax(x)) over the last axis, accurate where softmax underflows to 0.

    x: at least two axes, as in logsumexp; logits of ±1000 in any mix. Returns an array
    of x's shape and dtype (float32 in, float32 out).
    """
    raise NotImplementedError("log_softmax")


if MAIN:
    check(log_softmax)


# %%
def sigmoid(x: Float[np.ndarray, "*shape"]) -> Float[np.ndarray, "*shape"]:
    """1 / (1 + exp(-x)) elementwise, with no overflow warning for x = ±1000.

    In float64, accurate to a relative error of 1e-12 everywhere, also where sigmoid(x)
    is tiny: sigmoid(-40) = 4.25e-18 must not come out as 0 (so neither 1 - sigmoid(-x)
    nor (1 + tanh(x / 2)) / 2 will do for negative x). float32 in, float32 out.
    """
    raise NotImplementedError("sigmoid")


if MAIN:
    check(sigmoid)


# %%
def softplus(x: Float[np.ndarray, "*shape"]) -> Float[np.ndarray, "*shape"]:
    """log(1 + exp(x)) elementwise, exact to float64 precision for x = ±1000.

    In float64, accurate to a relative error of 1e-12 everywhere, also where softplus(x)
    is tiny (softplus(-50) = 1.9e-22). float64 in, float64 out; float32 in, float32 out.
    """
    raise NotImplementedError("softplus")


if MAIN:
    check(softplus)
