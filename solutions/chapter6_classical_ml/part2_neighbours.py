# %% [markdown]
# # Chapter 6, part 2: nearest neighbours
#
# Reading: chapters/chapter6_classical_ml/part2_neighbours.md
#
# Fill in each function, then run the cell below it: `check(fn)` runs that exercise's
# tests here and prints a verdict. `python -m grader chapter6/part2` grades the file.
#
# k-nearest neighbours keeps the training set and answers a query by looking at the k
# training points closest to it (squared Euclidean distance): the majority label for
# classification, the mean target for regression.
#
# Conventions: a data matrix has one example per row, X (n, d) float64; class labels are
# ints 0 … C−1; nothing changes its inputs. Ties are settled by a stated rule: among equal
# distances the lower training index is nearer; among equal votes the smaller label wins.

# %%
from __future__ import annotations

import numpy as np
from jaxtyping import Float, Int

from coursedata import line_chart, load_digits
from grader.check import check

MAIN = __name__ == "__main__"


# %% [markdown]
# ## Distances and neighbours


# %%
def pairwise_sq_distances(
    A: Float[np.ndarray, "m d"], B: Float[np.ndarray, "n d"]
) -> Float[np.ndarray, "m n"]:
    """D[i, j] = ||A[i] − B[j]||², the squared Euclidean distance between row i of A and
    row j of B, without a Python loop: expand ||a − b||² = ||a||² + ||b||² − 2 a·b and use
    one matrix product A @ B.T. Rounding can make the expansion slightly negative where a
    and b (nearly) coincide: clip D at 0. The tests allow an absolute error of 1e-9 times
    the largest squared norm of a row. Returns float64 (m, n)."""
    # BEGIN SOLUTION
    sq = (A**2).sum(axis=1)[:, None] + (B**2).sum(axis=1)[None, :] - 2.0 * A @ B.T
    return np.maximum(sq, 0.0)
    # END SOLUTION


if MAIN:
    check(pairwise_sq_distances)


# %%
def k_nearest(D: Float[np.ndarray, "m n"], k: int) -> Int[np.ndarray, "m k"]:
    """For each row i of the distance matrix D, the column indices of its k smallest
    entries, nearest first. Equal distances: the lower index comes first (a stable sort,
    np.argsort(..., kind="stable")). Returns int64 (m, k); 1 <= k <= n."""
    # BEGIN SOLUTION
    return np.argsort(D, axis=1, kind="stable")[:, :k]
    # END SOLUTION


if MAIN:
    check(k_nearest)


# %% [markdown]
# ## Classification and regression


# %%
def knn_classify(
    X_train: Float[np.ndarray, "n d"],
    y_train: Int[np.ndarray, " n"],
    X_query: Float[np.ndarray, "m d"],
    k: int,
) -> Int[np.ndarray, " m"]:
    """Predict a class for each query row: the majority label among its k nearest training
    rows (your pairwise_sq_distances and k_nearest, with their tie rule). A tie in the
    vote goes to the smallest label among those tied. Labels are ints 0 … C−1 with
    C = y_train.max() + 1. Returns int64 (m,)."""
    # BEGIN SOLUTION
    nearest = k_nearest(pairwise_sq_distances(X_query, X_train), k)
    votes = np.zeros((len(X_query), int(y_train.max()) + 1))
    np.add.at(votes, (np.arange(len(X_query))[:, None], y_train[nearest]), 1.0)
    return np.argmax(votes, axis=1)  # argmax takes the first, smallest, of tied labels
    # END SOLUTION


if MAIN:
    check(knn_classify)


# %%
def knn_regress(
    X_train: Float[np.ndarray, "n d"],
    y_train: Float[np.ndarray, " n"],
    X_query: Float[np.ndarray, "m d"],
    k: int,
) -> Float[np.ndarray, " m"]:
    """Predict a real target for each query row: the mean of y_train over its k nearest
    training rows (same distances and tie rule as knn_classify). Returns float64 (m,)."""
    # BEGIN SOLUTION
    nearest = k_nearest(pairwise_sq_distances(X_query, X_train), k)
    return y_train[nearest].mean(axis=1)
    # END SOLUTION


if MAIN:
    check(knn_regress)


# %% [markdown]
# ## Choosing k without a test set


# %%
def leave_one_out_accuracy(
    X: Float[np.ndarray, "n d"], y: Int[np.ndarray, " n"], ks: list[int]
) -> Float[np.ndarray, " K"]:
    """The leave-one-out accuracy of k-NN classification for each k in ks: every row i is
    classified by the other n − 1 rows (never by itself), with knn_classify's rules
    (distance ties to the lower index, vote ties to the smaller label), and the accuracy is
    the fraction of rows whose prediction equals y[i]. Compute the distances once for all
    k. Returns float64 (len(ks),)."""
    # BEGIN SOLUTION
    D = pairwise_sq_distances(X, X)
    np.fill_diagonal(D, np.inf)  # a row may not vote for itself
    nearest = k_nearest(D, max(ks))
    C, rows = int(y.max()) + 1, np.arange(len(X))[:, None]
    accuracy = np.zeros(len(ks))
    for j, k in enumerate(ks):
        votes = np.zeros((len(X), C))
        np.add.at(votes, (rows, y[nearest[:, :k]]), 1.0)
        accuracy[j] = np.mean(np.argmax(votes, axis=1) == y)
    return accuracy
    # END SOLUTION


if MAIN:
    check(leave_one_out_accuracy)
    digits = load_digits()
    X, y = digits.images[:600], digits.labels[:600]
    ks = [1, 2, 3, 5, 7, 9, 15, 25, 51]
    acc = leave_one_out_accuracy(X, y, ks)
    for k, a in zip(ks, acc):
        print(f"k = {k:2d}: leave-one-out accuracy {a:.3f}")
    test_acc = np.mean(knn_classify(X, y, digits.images[600:1200], 3) == digits.labels[600:1200])
    print(f"k = 3 on 600 unseen digits: accuracy {test_acc:.3f} ({digits.source} digits)")
    print(
        "wrote",
        line_chart(
            {"leave-one-out": (np.array(ks), acc)}, "knn_accuracy.svg", "k-NN on digits", "k", "accuracy"
        ),
    )
