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
    # BEGIN SOLUTION
    norms = np.linalg.norm(x, axis=1, keepdims=True)  # (n, 1): broadcasts across each row
    # Divide zero rows by 1 instead of 0: 0 / 1 = 0, and no warning.
    return x / np.where(norms > 0, norms, 1.0)
    # END SOLUTION


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
    # BEGIN SOLUTION
    mean = x.mean(axis=0)  # (d,): broadcasts against (n, d) from the right
    var = x.var(axis=0)  # ddof=0 by default
    return (x - mean) / np.sqrt(var + eps)
    # END SOLUTION


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
    # BEGIN SOLUTION
    # ||a_i - b_j||^2 = ||a_i||^2 + ||b_j||^2 - 2 a_i . b_j: an (n, 1) column plus a
    # (1, m) row minus an (n, m) matrix product. Memory O(n m), not O(n m d).
    sq_a = (a**2).sum(axis=1)[:, None]  # (n, 1)
    sq_b = (b**2).sum(axis=1)[None, :]  # (1, m)
    d2 = sq_a + sq_b - 2 * a @ b.T  # (n, m)
    # Cancellation can leave tiny negatives (-1e-12) where the true distance is 0.
    return np.maximum(d2, 0.0)
    # END SOLUTION


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
    # BEGIN SOLUTION
    if labels.size and (labels.min() < 0 or labels.max() >= k):
        raise ValueError(f"labels must lie in [0, {k}); got min {labels.min()}, max {labels.max()}")
    # (n, 1) == (k,) broadcasts to (n, k): True exactly where the column is the label.
    return (labels[:, None] == np.arange(k)).astype(np.float64)
    # END SOLUTION


if MAIN:
    check(one_hot)


# %%
def gather_rows(x: Float[np.ndarray, "n k"], idx: Int[np.ndarray, " n"]) -> Float[np.ndarray, " n"]:
    """Pick one entry per row: out[i] = x[i, idx[i]].

    This is how a loss reads the log-probability of each example's true class out of an
    (examples, classes) matrix. 0 <= idx[i] < k.
    """
    # BEGIN SOLUTION
    # Two index arrays of shape (n,) pair up elementwise: (0, idx[0]), (1, idx[1]), ...
    # (x[:, idx] would instead take every chosen column for every row: shape (n, n).)
    return x[np.arange(x.shape[0]), idx]
    # END SOLUTION


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
    # BEGIN SOLUTION
    outside = (x < low) | (x > high)  # a boolean mask with x's shape
    return np.where(outside, fill, x)  # a new array; x is left alone
    # END SOLUTION


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
    # BEGIN SOLUTION
    counts = mask.sum(axis=1)  # (n,) number of kept entries per row
    # np.where, not x * mask: NaN * 0 is NaN, and the masked-out entries may be NaN.
    totals = np.where(mask, x, 0.0).sum(axis=1)
    # Divide by max(count, 1) so that empty rows compute 0 / 1 and never 0 / 0.
    return np.where(counts > 0, totals / np.maximum(counts, 1), fill)
    # END SOLUTION


if MAIN:
    check(masked_row_mean)
