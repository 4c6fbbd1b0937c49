# %% [markdown]
# # Chapter 0, part 1: arrays, indexing and broadcasting
#
# Reading: chapters/chapter0_numpy/part1_arrays.md
#
# Fill in each function, then run the cell below it: `check(fn)` runs that exercise's
# tests here and prints a verdict. `python -m grader chapter0/part1` grades the file.

# %%
import numpy as np
from jaxtyping import Bool, Float, Int

from grader.check import check

MAIN = __name__ == "__main__"


# %%
def normalize_rows(x: Float[np.ndarray, "n d"]) -> Float[np.ndarray, "n d"]:
    """Scale every row of x to unit Euclidean (L2) length.

    Row i of the result is x[i] / ||x[i]||_2. A row of zeros has no direction: it stays
    a row of zeros (not NaN), and no division-by-zero warning is raised.
    Returns a new array (also when every row is zero); x is not changed. float32 in,
    float32 out.
    """
    raise NotImplementedError("normalize_rows")


if MAIN:
    check(normalize_rows)


# %%
def standardize_columns(x: Float[np.ndarray, "n d"], eps: float = 1e-8) -> Float[np.ndarray, "n d"]:
    """Centre and scale every column (feature) of x: z = (x - mean) / sqrt(var + eps).

    x: a data matrix, one example per row, one feature per column.
    mean and var are taken down each column (over the n examples), and var is the
    population variance (ddof=0: divide by n, not n - 1). eps keeps a constant column
    finite: it becomes a column of zeros. Returns a new array; x is not changed. float32
    in, float32 out.
    """
    raise NotImplementedError("standardize_columns")


if MAIN:
    check(standardize_columns)


# %%
def pairwise_sq_distances(
    a: Float[np.ndarray, "n d"], b: Float[np.ndarray, "m d"]
) -> Float[np.ndarray, "n m"]:
    """Squared Euclidean distance between every row of a and every row of b.

    out[i, j] = ||a[i] - b[j]||^2 = sum_k (a[i, k] - b[j, k])^2, with no Python loops.
    Every entry is >= 0 (if you expand the square, clip the round-off below zero).
    float32 in, float32 out.
    """
    raise NotImplementedError("pairwise_sq_distances")


if MAIN:
    check(pairwise_sq_distances)


# %%
def one_hot(labels: Int[np.ndarray, " n"], k: int) -> Float[np.ndarray, "n k"]:
    """One-hot encode integer class labels in 0..k-1 as float rows.

    out[i, j] = 1.0 if labels[i] == j else 0.0, so out has exactly k columns (even if
    some classes do not occur) and dtype float64.
    Raises ValueError if any label is negative or >= k (a negative index would
    otherwise silently count from the end).
    """
    raise NotImplementedError("one_hot")


if MAIN:
    check(one_hot)


# %%
def gather_rows(x: Float[np.ndarray, "n k"], idx: Int[np.ndarray, " n"]) -> Float[np.ndarray, " n"]:
    """Pick one entry per row: out[i] = x[i, idx[i]].

    This is how a loss reads the log-probability of each example's true class out of an
    (examples, classes) matrix. 0 <= idx[i] < k.
    """
    raise NotImplementedError("gather_rows")


if MAIN:
    check(gather_rows)


# %%
def replace_outside_range(
    x: Float[np.ndarray, "*shape"], low: float, high: float, fill: float
) -> Float[np.ndarray, "*shape"]:
    """A copy of x in which every entry outside [low, high] is replaced by fill.

    The bounds are inclusive: an entry equal to low or high is kept. Entries inside the
    range are unchanged (this is not np.clip). x itself is not changed, and the result
    never shares memory with it, even when nothing is replaced. float32 in, float32 out.
    """
    raise NotImplementedError("replace_outside_range")


if MAIN:
    check(replace_outside_range)


# %%
def masked_row_mean(
    x: Float[np.ndarray, "n k"], mask: Bool[np.ndarray, "n k"], fill: float = 0.0
) -> Float[np.ndarray, " n"]:
    """Mean of each row of x over the entries where mask is True.

    out[i] = mean of {x[i, j] : mask[i, j]}. A row whose mask is all False has no mean:
    its result is `fill`, and no warning is raised. Entries where mask is False are
    ignored completely: they may hold anything, NaN and inf included (padding).
    """
    raise NotImplementedError("masked_row_mean")


if MAIN:
    check(masked_row_mean)
