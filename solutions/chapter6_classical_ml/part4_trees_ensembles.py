# %% [markdown]
# # Chapter 6, part 4: decision trees, random forests and gradient boosting
#
# Reading: chapters/chapter6_classical_ml/part4_trees_ensembles.md
#
# Fill in each function, then run the cell below it: `check(fn)` runs that exercise's
# tests here and prints a verdict. `python -m grader chapter6/part4` grades the file.
#
# Conventions: X is a float64 matrix (n, d), one example per row; class labels y are ints
# 0 … K−1 (n,); a split sends the rows with X[:, feature] <= threshold to the left child
# and the others to the right. Every random choice comes from the `rng:
# np.random.Generator` passed in; no function changes its inputs.

# %%
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from jaxtyping import Float, Int, Num

from coursedata import load_breast_cancer, load_diabetes, load_iris, scatter_chart, standardize_split
from grader.check import check

MAIN = __name__ == "__main__"


@dataclass
class Tree:
    """A fitted tree as flat arrays, one entry per node (Given). Node 0 is the root.
    feature[i] is −1 at a leaf; otherwise rows with x[feature[i]] <= threshold[i] go to
    node left[i], the others to node right[i] (left and right are −1 at a leaf).
    value[i] is what the node predicts: class proportions (K,) of its training rows in a
    classification tree, the mean target (1,) in a regression tree."""

    feature: Int[np.ndarray, " nodes"]
    threshold: Float[np.ndarray, " nodes"]
    left: Int[np.ndarray, " nodes"]
    right: Int[np.ndarray, " nodes"]
    value: Float[np.ndarray, "nodes K"]


# %% [markdown]
# ## Impurity


# %%
def impurity(
    counts: Num[np.ndarray, "*batch K"], criterion: str = "gini"
) -> Float[np.ndarray, "*batch"] | float:
    """The impurity of each row of class counts (the last axis holds the K counts; every
    row has a positive total): with p = counts / their sum,
    "gini": 1 − Σ_k p_k²; "entropy": −Σ_k p_k log₂ p_k, in bits, with 0 · log 0 = 0.
    Returns float64 of shape counts.shape[:-1] (a number for one row of counts)."""
    # BEGIN SOLUTION
    counts = np.asarray(counts, dtype=np.float64)
    p = counts / counts.sum(axis=-1, keepdims=True)
    if criterion == "gini":
        return 1.0 - (p**2).sum(axis=-1)
    if criterion == "entropy":
        # p log p → 0 as p → 0: compute log only where p > 0 (no log(0) warning)
        logs = np.log2(p, out=np.zeros_like(p), where=p > 0)
        return -(p * logs).sum(axis=-1)
    raise ValueError(f"criterion must be 'gini' or 'entropy', got {criterion!r}")
    # END SOLUTION


if MAIN:
    check(impurity)


# %% [markdown]
# ## The best split, every threshold at once


# %%
def best_split(
    X: Float[np.ndarray, "n d"],
    y: Int[np.ndarray, " n"],
    n_classes: int,
    criterion: str = "gini",
    min_samples_leaf: int = 1,
    features: Int[np.ndarray, " m"] | None = None,
) -> tuple[int, float, float]:
    """The split of these rows with the smallest weighted child impurity
    score = (n_L · I(left) + n_R · I(right)) / n, I = impurity(…, criterion).

    Candidates: for each feature j in `features` (all d features when None), every
    threshold halfway between two consecutive distinct values of X[:, j], sorted, that
    leaves at least min_samples_leaf rows on each side. Ties go to the lowest feature
    index, then the lowest threshold. Returns (feature, threshold, score) as
    (int, float, float), or (−1, nan, inf) when there is no candidate.

    Vectorise over thresholds: sort the column once and get the left child's class
    counts at every cut from a cumulative sum (the right's are the total minus them);
    no Python loop over rows or thresholds."""
    # BEGIN SOLUTION
    n = len(y)
    features = np.arange(X.shape[1]) if features is None else np.sort(np.asarray(features))
    if n < 2 * min_samples_leaf:
        return -1, float("nan"), float("inf")
    # Every feature at once, one row each: (m, n) with each row sorted. A Python loop over
    # features is as correct; doing them together saves its overhead on the many small
    # nodes deep in a tree.
    columns = X[:, features].T
    order = np.argsort(columns, axis=1, kind="stable")
    xs = np.take_along_axis(columns, order, axis=1)
    # left[j, i] = class counts of the i + 1 smallest rows of feature j (the cut after
    # sorted row i); the right child holds the rest of the node's counts
    left = np.cumsum(np.eye(n_classes)[y[order]], axis=1)[:, :-1]  # (m, n − 1, K)
    right = np.bincount(y, minlength=n_classes) - left
    n_left = np.arange(1, n)
    score = (n_left * impurity(left, criterion) + (n - n_left) * impurity(right, criterion)) / n
    valid = (
        (xs[:, 1:] > xs[:, :-1])  # never cut between equal values
        & (n_left >= min_samples_leaf)
        & (n - n_left >= min_samples_leaf)
    )
    score = np.where(valid, score, np.inf)
    # argmin returns the first minimum in row-major order: the lowest feature, then the
    # lowest threshold, which is the tie rule
    j, i = np.unravel_index(np.argmin(score), score.shape)
    if score[j, i] == np.inf:
        return -1, float("nan"), float("inf")
    return int(features[j]), float((xs[j, i] + xs[j, i + 1]) / 2), float(score[j, i])
    # END SOLUTION


if MAIN:
    check(best_split)


# %% [markdown]
# ## Growing a tree


# %%
def fit_tree(
    X: Float[np.ndarray, "n d"],
    y: Int[np.ndarray, " n"],
    n_classes: int,
    max_depth: int | None = None,
    min_samples_leaf: int = 1,
    criterion: str = "gini",
    max_features: int | None = None,
    rng: np.random.Generator | None = None,
) -> Tree:
    """A CART classification tree, grown depth first (a node, then its whole left
    subtree, then its right subtree); nodes are numbered in the order they are created,
    the root 0. Each node's value is the class proportions of its rows (K,).

    A node is a leaf when its depth equals max_depth (the root has depth 0; None: no
    limit), when its rows are all of one class, or when best_split finds no candidate
    (min_samples_leaf is passed on). Otherwise it splits at best_split's answer.

    With max_features (random forests), each node that is not already a leaf by depth or
    purity searches only the features rng.choice(d, size=max_features, replace=False),
    drawn for that node, in the order the nodes are created."""
    # BEGIN SOLUTION
    d = X.shape[1]
    feature, threshold, left, right, value = [], [], [], [], []

    def grow(rows: np.ndarray, depth: int) -> int:
        node = len(feature)
        counts = np.bincount(y[rows], minlength=n_classes)
        feature.append(-1)
        threshold.append(np.nan)
        left.append(-1)
        right.append(-1)
        value.append(counts / len(rows))
        if depth == max_depth or np.count_nonzero(counts) == 1:
            return node
        # (pyright: rng is given whenever max_features is, as the docstring says)
        candidates = None if max_features is None else rng.choice(d, size=max_features, replace=False)  # pyright: ignore[reportOptionalMemberAccess]
        j, t, _ = best_split(X[rows], y[rows], n_classes, criterion, min_samples_leaf, candidates)
        if j < 0:
            return node
        goes_left = X[rows, j] <= t
        feature[node], threshold[node] = j, t
        left[node] = grow(rows[goes_left], depth + 1)
        right[node] = grow(rows[~goes_left], depth + 1)
        return node

    grow(np.arange(len(y)), 0)
    return Tree(
        np.array(feature, dtype=np.int64),
        np.array(threshold, dtype=np.float64),
        np.array(left, dtype=np.int64),
        np.array(right, dtype=np.int64),
        np.array(value, dtype=np.float64),
    )
    # END SOLUTION


if MAIN:
    check(fit_tree)


# %%
def predict_tree(tree: Tree, X: Float[np.ndarray, "n d"]) -> Float[np.ndarray, "n K"]:
    """The value of the leaf each row of X reaches, from the root down: (n, K) class
    proportions for a classification tree ((n, 1) means for a regression tree).
    Vectorise over the rows: move every row still at an inner node one level down per
    step (a loop over depth, not over rows)."""
    # BEGIN SOLUTION
    node = np.zeros(len(X), dtype=np.int64)
    rows = np.arange(len(X))
    while True:
        inner = tree.feature[node] >= 0
        if not inner.any():
            return tree.value[node]
        at, here = rows[inner], node[inner]
        goes_left = X[at, tree.feature[here]] <= tree.threshold[here]
        node[at] = np.where(goes_left, tree.left[here], tree.right[here])
    # END SOLUTION


if MAIN:
    check(predict_tree)


# %% [markdown]
# ## A random forest


# %%
def fit_forest(
    X: Float[np.ndarray, "n d"],
    y: Int[np.ndarray, " n"],
    n_classes: int,
    n_trees: int,
    rng: np.random.Generator,
    max_features: int | None = None,
    max_depth: int | None = None,
    min_samples_leaf: int = 1,
) -> list[Tree]:
    """n_trees trees, each grown by your fit_tree (Gini) on a bootstrap sample of the rows:
    for each tree in turn, rows = rng.integers(0, n, size=n) (n draws with replacement),
    then fit_tree(X[rows], y[rows], n_classes, max_depth, min_samples_leaf, "gini",
    max_features, rng), which draws its nodes' features from the same rng. max_features
    None means round(√d). Returns the list of trees."""
    # BEGIN SOLUTION
    n, d = X.shape
    max_features = round(np.sqrt(d)) if max_features is None else max_features  # ≥ 1 for d ≥ 1
    forest = []
    for _ in range(n_trees):
        rows = rng.integers(0, n, size=n)  # bootstrap: n rows drawn with replacement
        forest.append(
            fit_tree(X[rows], y[rows], n_classes, max_depth, min_samples_leaf, "gini", max_features, rng)
        )
    return forest
    # END SOLUTION


if MAIN:
    check(fit_forest)


# %%
def predict_forest(forest: list[Tree], X: Float[np.ndarray, "n d"]) -> Float[np.ndarray, "n K"]:
    """The forest's class probabilities: the mean over its trees of predict_tree(tree, X),
    (n, K). (The predicted class is their argmax.)"""
    # BEGIN SOLUTION
    return np.mean([predict_tree(tree, X) for tree in forest], axis=0)
    # END SOLUTION


if MAIN:
    check(predict_forest)
    cancer = load_breast_cancer()
    X_train, y_train, X_test, y_test = standardize_split(cancer.X, cancer.y, 0.3, seed=0)
    tree = fit_tree(X_train, y_train, 2)
    forest = fit_forest(X_train, y_train, 2, 50, np.random.default_rng(0))
    for name, proba in [
        ("one tree", predict_tree(tree, X_test)),
        ("forest of 50", predict_forest(forest, X_test)),
    ]:
        print(
            f"breast cancer ({cancer.source}), {name}: test accuracy {(proba.argmax(1) == y_test).mean():.3f}"
        )
    # Decision regions on two iris features: a grid of points coloured by the predicted class.
    iris = load_iris()
    petals = iris.X[:, 2:]
    grid = np.stack(np.meshgrid(np.linspace(0.5, 7.5, 60), np.linspace(0, 2.8, 40)), -1).reshape(-1, 2)
    models = {
        "tree": lambda points: predict_tree(fit_tree(petals, iris.y, 3, max_depth=3), points),
        "forest": lambda points: predict_forest(
            fit_forest(petals, iris.y, 3, 30, np.random.default_rng(0)), points
        ),
    }
    for name, predict in models.items():
        path = scatter_chart(
            np.concatenate([grid, petals]),
            np.concatenate([predict(grid).argmax(1), iris.y]),
            f"iris_{name}_regions.svg",
            f"{'Depth-3 tree' if name == 'tree' else 'Forest of 30 trees'} on iris petals: predicted regions",
            "petal length (cm)",
            "petal width (cm)",
            names=list(iris.target_names),
        )
        print("wrote", path)


# %% [markdown]
# ## Gradient boosting for regression


# %%
def fit_regression_tree(X: Float[np.ndarray, "n d"], r: Float[np.ndarray, " n"], max_depth: int) -> Tree:
    """A least-squares regression tree (Given): each split minimises the children's summed
    squared error Σ (r − mean)², found from cumulative sums of r and r² as best_split
    finds Gini; leaves predict the mean of their targets (value of shape (1,)). Nodes are
    numbered depth first like fit_tree's; a node is a leaf at max_depth, when its
    targets are all equal, or when it has one distinct row."""
    feature, threshold, left, right, value = [], [], [], [], []
    n_all = np.arange(1, len(r) + 1)

    def grow(rows: np.ndarray, depth: int) -> int:
        node = len(feature)
        feature.append(-1)
        threshold.append(np.nan)
        left.append(-1)
        right.append(-1)
        value.append([r[rows].mean()])
        if depth == max_depth or np.ptp(r[rows]) == 0:
            return node
        n, best = len(rows), (np.inf, -1, np.nan)
        for j in range(X.shape[1]):
            order = rows[np.argsort(X[rows, j], kind="stable")]
            xs, rs = X[order, j], r[order]
            s, s2 = np.cumsum(rs)[:-1], np.cumsum(rs**2)[:-1]
            m = n_all[: n - 1]
            sse = s2 - s**2 / m + (s2[-1] + rs[-1] ** 2 - s2) - (s[-1] + rs[-1] - s) ** 2 / (n - m)
            sse = np.where(xs[1:] > xs[:-1], sse, np.inf)
            i = int(np.argmin(sse))
            if sse[i] < best[0]:
                best = (sse[i], j, (xs[i] + xs[i + 1]) / 2)
        if best[1] < 0:
            return node
        goes_left = X[rows, best[1]] <= best[2]
        feature[node], threshold[node] = best[1], best[2]
        left[node] = grow(rows[goes_left], depth + 1)
        right[node] = grow(rows[~goes_left], depth + 1)
        return node

    grow(np.arange(len(r)), 0)
    return Tree(
        np.array(feature, dtype=np.int64),
        np.array(threshold, dtype=np.float64),
        np.array(left, dtype=np.int64),
        np.array(right, dtype=np.int64),
        np.array(value, dtype=np.float64),
    )


# %%
def fit_gradient_boosting(
    X: Float[np.ndarray, "n d"],
    y: Float[np.ndarray, " n"],
    n_stages: int,
    learning_rate: float,
    max_depth: int,
) -> tuple[float, list[Tree]]:
    """Gradient boosting for regression with the squared loss L = ½ Σ (y − F)²: start
    from the constant F₀ = mean(y); at each stage fit a regression tree,
    fit_regression_tree(X, y − F, max_depth), to the residuals (the negative gradient
    of L at F), and add learning_rate × its prediction to F.
    Returns (F₀ as a float, the list of n_stages trees)."""
    # BEGIN SOLUTION
    f0 = float(np.mean(y))
    F = np.full(len(y), f0)
    trees = []
    for _ in range(n_stages):
        tree = fit_regression_tree(X, y - F, max_depth)  # residuals = −∂L/∂F
        F = F + learning_rate * predict_tree(tree, X)[:, 0]
        trees.append(tree)
    return f0, trees
    # END SOLUTION


if MAIN:
    check(fit_gradient_boosting)


# %%
def predict_gradient_boosting(
    f0: float, trees: list[Tree], learning_rate: float, X: Float[np.ndarray, "n d"]
) -> Float[np.ndarray, " n"]:
    """F(x) = F₀ + learning_rate · Σ_stages tree(x), one value per row of X (n,)."""
    # BEGIN SOLUTION
    F = np.full(len(X), f0)
    for tree in trees:
        F = F + learning_rate * predict_tree(tree, X)[:, 0]
    return F
    # END SOLUTION


if MAIN:
    check(predict_gradient_boosting)
    diabetes = load_diabetes()
    X_train, y_train, X_test, y_test = standardize_split(diabetes.X, diabetes.y, 0.3, seed=0)
    f0, trees = fit_gradient_boosting(X_train, y_train, 100, 0.05, 2)
    for stages in (0, 10, 50, 100):
        rmse = np.sqrt(np.mean((predict_gradient_boosting(f0, trees[:stages], 0.05, X_test) - y_test) ** 2))
        print(f"diabetes ({diabetes.source}), {stages:3d} stages: test RMSE {rmse:.1f}")
