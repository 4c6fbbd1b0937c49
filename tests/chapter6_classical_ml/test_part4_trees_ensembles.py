"""Tests for chapter 6, part 4: CART trees, random forests and gradient boosting.

Expected values come from this file: impurities worked out by hand and from their
formulas written out; the best split against trying every split of tiny data one at a
time in plain Python; trees against their stopping rules, against scikit-learn's
DecisionTreeClassifier where it is installed (same algorithm: midpoint thresholds,
x <= t goes left; compared where no two splits tie) and against the training rows they
separate; forests and boosting replayed from the learner's own fit_tree and the given
fit_regression_tree with a generator seeded like the learner's, boosting also against
scikit-learn's GradientBoostingRegressor.
"""

import importlib
import math

import numpy as np

from grader.testkit import Call, exercise, expect, expect_close, expect_equal, rng, run


def _optional(name):
    """scikit-learn's module `name`, or None without the data extra: the comparison with it
    then has nothing to compare with and passes, since the grader counts a skipped test as
    failed; the tests written from this file check the same behaviour either way."""
    try:
        return importlib.import_module(name)
    except ImportError:
        return None


def _gini(counts):
    counts = np.asarray(counts, dtype=float)
    p = counts / counts.sum(-1, keepdims=True)
    return 1 - (p**2).sum(-1)


def _entropy(counts):
    counts = np.asarray(counts, dtype=float)
    p = counts / counts.sum(-1, keepdims=True)
    with np.errstate(divide="ignore", invalid="ignore"):
        return -np.nansum(np.where(p > 0, p * np.log2(p), 0.0), axis=-1)


def _data(seed, n=120, d=4, K=3):
    g = rng(seed)
    X = g.normal(size=(n, d))
    score = X[:, 0] + 0.8 * X[:, 1] ** 2 + 0.4 * g.normal(size=n)
    y = np.digitize(score, np.quantile(score, np.linspace(0, 1, K + 1)[1:-1]))
    return X, y.astype(np.int64)


def _sklearn_tree():
    return _optional("sklearn.tree")


# ---------------------------------------------------------------------------------- impurity


@exercise("impurity")
def test_impurity_by_hand(impl):
    counts = np.array([[5.0, 5.0], [10.0, 0.0], [2.0, 6.0]])
    expect_close(
        run(impl.impurity, counts, "gini"),
        np.array([0.5, 0.0, 0.375]),
        what="1 − Σ p²",
        mistakes={
            "forget to square the proportions (1 − Σ p is always 0)": np.zeros(3),
            "square the counts instead of the proportions": 1 - (counts**2).sum(-1),
        },
    )
    expect_close(
        run(impl.impurity, counts, "entropy"),
        np.array([1.0, 0.0, -(0.25 * math.log2(0.25) + 0.75 * math.log2(0.75))]),
        what="−Σ p log₂ p with 0 · log 0 = 0",
        mistakes={
            "take the natural log instead of log₂": _entropy(counts) * math.log(2),
            "let 0 · log 0 become nan instead of 0": np.array([1.0, np.nan, _entropy(counts)[2]]),
        },
    )


@exercise("impurity")
def test_impurity_of_a_batch_of_rows(impl):
    counts = rng(1).integers(0, 9, size=(4, 6, 3)).astype(float) + np.array([1.0, 0.0, 0.0])
    for criterion, formula in (("gini", _gini), ("entropy", _entropy)):
        expect_close(
            run(impl.impurity, counts, criterion),
            formula(counts),
            what=f"{criterion} of each row of counts (the last axis holds the classes)",
            mistakes={"normalise over the wrong axis": formula(counts / counts.sum(0))},
        )
    expect_close(run(impl.impurity, np.array([3.0, 1.0, 0.0]), "gini"), np.float64(0.375))
    expect_close(
        run(impl.impurity, np.array([2, 2, 2, 2]), "entropy"), np.float64(2.0), what="integer counts, 2 bits"
    )


# -------------------------------------------------------------------------------- best_split


def _brute_split(X, y, K, criterion="gini", min_leaf=1, features=None):
    """Every split tried one at a time: the reference answer written the slow way."""
    imp = _gini if criterion == "gini" else _entropy
    n, d = X.shape
    best = (-1, float("nan"), float("inf"))
    for j in sorted(range(d) if features is None else features):
        values = sorted(set(X[:, j].tolist()))
        for a, b in zip(values, values[1:]):
            t = (a + b) / 2
            left = X[:, j] <= t
            if left.sum() < min_leaf or (~left).sum() < min_leaf:
                continue
            score = (
                left.sum() * imp(np.bincount(y[left], minlength=K))
                + (~left).sum() * imp(np.bincount(y[~left], minlength=K))
            ) / n
            if score < best[2] - 1e-12:
                best = (j, t, float(score))
    return best


def _split_parts(impl, call):
    value = call.value
    expect(
        isinstance(value, tuple) and len(value) == 3,
        f"{call}: returned {type(value).__name__}; expected a tuple (feature, threshold, score)",
    )
    return value


@exercise("best_split")
def test_best_split_against_every_split(impl):
    for seed in range(6):
        g = rng(10 + seed)
        X = np.round(g.normal(size=(14, 3)), 1)  # rounded: some equal values in a column
        y = g.integers(0, 3, size=14)
        for criterion, leaf in (("gini", 1), ("entropy", 1), ("gini", 3)):
            call = run(impl.best_split, X, y, 3, criterion, leaf)
            feature, threshold, score = _split_parts(impl, call)
            want = _brute_split(X, y, 3, criterion, leaf)
            expect_equal(
                Call(int(feature), f"{call}[0], the feature"),
                want[0],
                what="the split with the smallest weighted child impurity (ties: lowest feature)",
            )
            expect_close(
                Call(float(threshold), f"{call}[1], the threshold"),
                want[1],
                what="halfway between two consecutive distinct values",
                mistakes={
                    "take the last value on the left as the threshold": lambda X=X, w=want: float(
                        X[:, w[0]][X[:, w[0]] <= w[1]].max()
                    )
                },
            )
            expect_close(Call(float(score), f"{call}[2], the score"), want[2], what="(n_L I_L + n_R I_R) / n")


@exercise("best_split")
def test_best_split_weights_children_by_size(impl):
    # Feature 0 puts one row of class 1 alone: children [4, 0] and [0, 1], both pure (score 0)
    # but so is feature 1's split of the same rows; an unweighted mean also scores a lopsided
    # feature 2 split well.
    X = np.array([[0.0, 0.0], [1.0, 1.0], [2.0, 1.0], [3.0, 1.0], [4.0, 0.0], [5.0, 1.0]])
    y = np.array([0, 0, 0, 1, 1, 1])
    call = run(impl.best_split, X, y, 2)
    feature, threshold, score = _split_parts(impl, call)
    expect_equal(Call((int(feature), float(threshold)), f"{call}[:2]"), (0, 2.5))
    expect_close(Call(float(score), f"{call}[2], the score"), 0.0)
    X = np.array([[0.0], [1.0], [2.0], [3.0], [4.0], [5.0], [6.0], [7.0]])
    y = np.array([0, 1, 0, 0, 1, 0, 1, 1])
    want = _brute_split(X, y, 2)
    feature, threshold, score = _split_parts(impl, call := run(impl.best_split, X, y, 2))

    def unweighted():
        best = (np.inf, None)
        for t in np.arange(0.5, 7, 1.0):
            left = X[:, 0] <= t
            s = (_gini(np.bincount(y[left], minlength=2)) + _gini(np.bincount(y[~left], minlength=2))) / 2
            best = min(best, (s, t))
        return best[1]

    expect_close(
        Call(float(threshold), f"{call}[1], the threshold on y = 0 1 0 0 1 0 1 1"),
        want[1],
        mistakes={"average the children's impurities without weighting them by size": unweighted},
    )
    expect_close(Call(float(score), f"{call}[2], the score"), want[2])


@exercise("best_split")
def test_best_split_never_cuts_between_equal_values(impl):
    # Sorted, the labels change between the two rows with x = 1: a cut there would put
    # equal values on both sides, which no threshold can do.
    X = np.array([[0.0], [1.0], [1.0], [2.0], [3.0]])
    y = np.array([0, 0, 1, 1, 1])
    call = run(impl.best_split, X, y, 2)
    feature, threshold, score = _split_parts(impl, call)
    want = _brute_split(X, y, 2)
    expect_close(
        Call(float(threshold), f"{call}[1], the threshold"),
        want[1],
        what="x = 1 appears twice: the cut goes at 0.5 or 1.5, never inside the tie",
        mistakes={"cut between equal values (there is no such threshold)": 1.0},
    )
    expect_close(Call(float(score), f"{call}[2], the score"), want[2])


@exercise("best_split")
def test_best_split_ties_and_no_candidate(impl):
    X = np.array([[1.0, 5.0], [2.0, 6.0], [3.0, 7.0], [4.0, 8.0]])
    y = np.array([0, 0, 1, 1])
    call = run(impl.best_split, X, y, 2)
    expect_equal(
        Call(tuple(call.value[:2]), f"{call}[:2]"),
        (0, 2.5),
        what="features 0 and 1 split the rows alike; the lower feature wins",
        mistakes={"break ties towards the last feature": (1, 6.5)},
    )
    # Both features separate the classes perfectly, feature 0 after its third sorted row and
    # feature 1 after its second: the tie goes to feature 0 wherever its cut is.
    X2 = np.array([[4.0, 1.0], [5.0, 2.0], [1.0, 3.0], [2.0, 4.0], [3.0, 5.0]])
    call = run(impl.best_split, X2, np.array([0, 0, 1, 1, 1]), 2)
    expect_equal(
        Call(tuple(call.value[:2]), f"{call}[:2]"),
        (0, 3.5),
        what="two perfect splits tie (score 0); the lower feature wins",
        mistakes={"take the first cut position over all features, then the feature": (1, 2.5)},
    )
    y = np.array([0, 1, 0, 1])
    call = run(impl.best_split, X, y, 2)
    expect_close(
        Call(float(call.value[1]), f"{call}[1] on y = 0 1 0 1"),
        _brute_split(X, y, 2)[1],
        what="1.5 and 3.5 tie (score 1/3); the lowest threshold wins",
        mistakes={"break ties towards the highest threshold": 3.5},
    )
    call = run(impl.best_split, np.ones((5, 2)), np.array([0, 1, 0, 1, 1]), 2)
    value = _split_parts(impl, call)
    expect(
        value[0] == -1 and math.isnan(value[1]) and value[2] == math.inf,
        f"{call} returned {value}; every column is constant, so there is no candidate: "
        "expected (-1, nan, inf)",
    )
    call = run(impl.best_split, X, y, 2, "gini", 3)
    value = _split_parts(impl, call)
    expect(
        value[0] == -1,
        f"{call} returned {value}; 4 rows cannot leave 3 on each side: expected (-1, nan, inf)",
    )
    for leaf in (1, 2):
        call = run(impl.best_split, X[:1], y[:1], 2, "gini", leaf)
        value = _split_parts(impl, call)
        expect(value[0] == -1, f"{call} returned {value}; one row has no split: expected (-1, nan, inf)")


@exercise("best_split")
def test_best_split_min_samples_leaf_is_inclusive(impl):
    X = np.arange(5.0)[:, None]
    for y, leaf, want in (
        (np.array([0, 0, 1, 1]), 2, 1.5),  # 4 rows, 2 on each side: allowed
        (np.array([0, 0, 0, 1, 1]), 2, 2.5),  # the right child keeps exactly 2
        (np.array([0, 0, 1, 1, 1]), 2, 1.5),  # the left child keeps exactly 2
    ):
        call = run(impl.best_split, X[: len(y)], y, 2, "gini", leaf)
        value = _split_parts(impl, call)
        expect_close(
            Call(float(value[1]), f"{call}[1] on y = {' '.join(map(str, y))}"),
            want,
            what=f"a perfect split that leaves min_samples_leaf = {leaf} rows on one side is allowed",
        )


@exercise("best_split")
def test_best_split_searches_only_the_features_given(impl):
    X, y = _data(3, n=40, d=5)
    for features in (np.array([3, 1]), np.array([4]), np.array([2, 0, 4])):
        call = run(impl.best_split, X, y, 3, "gini", 1, features)
        want = _brute_split(X, y, 3, features=list(features))
        expect_equal(
            Call(int(call.value[0]), f"{call}[0] with features={features.tolist()}"),
            want[0],
            mistakes={"search every feature": _brute_split(X, y, 3)[0]},
        )
        expect_close(Call(float(call.value[2]), f"{call}[2]"), want[2])


@exercise("best_split")
def test_best_split_matches_a_scikit_learn_stump(impl):
    tree = _sklearn_tree()
    if tree is None:
        return
    for seed in range(3):
        X, y = _data(20 + seed, n=200, d=6)
        for criterion in ("gini", "entropy"):
            stump = tree.DecisionTreeClassifier(max_depth=1, criterion=criterion, random_state=0).fit(X, y)
            call = run(impl.best_split, X, y, 3, criterion)
            expect_equal(
                Call(int(call.value[0]), f"{call}[0]"),
                int(stump.tree_.feature[0]),
                what="scikit-learn's root feature",
            )
            expect_close(
                Call(float(call.value[1]), f"{call}[1]"),
                float(stump.tree_.threshold[0]),
                what="scikit-learn's root threshold",
            )


# ---------------------------------------------------------------------------------- fit_tree


def _check_tree(call, n_classes):
    tree = call.value
    for name in ("feature", "threshold", "left", "right", "value"):
        expect(hasattr(tree, name), f"{call}: expected a Tree with .{name}, got {type(tree).__name__}")
    expect(
        tree.value.shape == (len(tree.feature), n_classes),
        f"{call}: value has shape {tree.value.shape}; expected (number of nodes, {n_classes})",
    )
    return tree


def _depths(tree):
    depth = np.zeros(len(tree.feature), dtype=int)
    for i in range(len(tree.feature)):
        if tree.feature[i] >= 0:
            depth[tree.left[i]] = depth[tree.right[i]] = depth[i] + 1
    return depth


def _leaf_rows(tree, X):
    node = np.zeros(len(X), dtype=int)
    for _ in range(len(tree.feature)):
        inner = tree.feature[node] >= 0
        if not inner.any():
            break
        i = node[inner]
        node[inner] = np.where(X[inner, tree.feature[i]] <= tree.threshold[i], tree.left[i], tree.right[i])
    return node


@exercise("fit_tree")
def test_fit_tree_grows_until_pure(impl):
    X, y = _data(4, n=80)
    call = run(impl.fit_tree, X, y, 3)
    tree = _check_tree(call, 3)
    leaves = _leaf_rows(tree, X)
    pure = all(len(set(y[leaves == leaf])) == 1 for leaf in set(leaves.tolist()))
    expect(pure, f"{call}: with no limits every leaf must hold rows of one class (distinct rows)")
    expect(
        np.all(tree.feature[np.unique(leaves)] == -1), f"{call}: rows ended at nodes whose feature is not −1"
    )
    inner = tree.feature >= 0
    expect(
        np.array_equal(np.sort(np.r_[0, tree.left[inner], tree.right[inner]]), np.arange(len(tree.feature))),
        f"{call}: every node but the root must be the child of exactly one inner node",
    )
    expect(
        np.all(tree.left[~inner] == -1) and np.all(tree.right[~inner] == -1),
        f"{call}: left and right must be −1 at every leaf (feature −1)",
    )
    counts = np.array([np.bincount(y[leaves == i], minlength=3) for i in range(len(tree.feature))])
    used = counts.sum(1) > 0
    expect_close(
        Call(tree.value[used & ~inner], f"{call}.value at the leaves"),
        counts[used & ~inner] / counts[used & ~inner].sum(1, keepdims=True),
        what="the class proportions of the leaf's training rows",
        mistakes={"store class counts instead of proportions": counts[used & ~inner].astype(float)},
    )


@exercise("fit_tree")
def test_fit_tree_numbers_nodes_depth_first(impl):
    X, y = _data(5, n=60)
    tree = _check_tree(call := run(impl.fit_tree, X, y, 3, 3), 3)
    want = []

    def visit(i):
        want.append(i)
        if tree.feature[i] >= 0:
            visit(tree.left[i])
            visit(tree.right[i])

    visit(0)
    expect_equal(
        Call(np.array(want), f"{call}: the nodes in depth-first order (node, left subtree, right subtree)"),
        np.arange(len(tree.feature)),
        what="nodes are numbered in the order they are created, depth first",
    )


@exercise("fit_tree")
def test_fit_tree_respects_depth_and_leaf_size(impl):
    X, y = _data(6, n=150)
    for depth in (0, 1, 2, 4):
        tree = _check_tree(call := run(impl.fit_tree, X, y, 3, depth), 3)
        got = int(_depths(tree).max())
        expect_equal(
            Call(got, f"{call}: the depth of the deepest node"),
            depth,
            mistakes={
                "stop one level too late (depth > max_depth)": depth + 1,
                "stop one level early": depth - 1,
            },
        )
    for leaf in (5, 20):
        tree = _check_tree(call := run(impl.fit_tree, X, y, 3, None, leaf), 3)
        sizes = np.bincount(_leaf_rows(tree, X), minlength=len(tree.feature))[tree.feature < 0]
        expect(
            sizes.min() >= leaf,
            f"{call}: a leaf holds {sizes.min()} training rows; min_samples_leaf={leaf} allows no fewer",
        )


@exercise("fit_tree")
def test_fit_tree_stops_at_pure_nodes(impl):
    X = np.array([[0.0], [1.0], [2.0], [3.0], [4.0], [5.0]])
    y = np.array([0, 0, 0, 1, 1, 1])
    tree = _check_tree(call := run(impl.fit_tree, X, y, 2), 2)
    expect_equal(
        Call(len(tree.feature), f"{call}: the number of nodes"),
        3,
        what="one split makes both children pure; pure nodes are leaves",
        mistakes={"keep splitting pure nodes": 11},
    )
    expect_close(Call(tree.threshold[0], f"{call}.threshold[0]"), 2.5)


@exercise("fit_tree")
def test_fit_tree_matches_scikit_learn(impl):
    sk = _sklearn_tree()
    if sk is None:
        return
    for seed in range(3):
        X, y = _data(30 + seed, n=200, d=5)
        Xt = rng(40 + seed).normal(size=(300, 5))
        for criterion, depth, leaf in (("gini", 2, 5), ("entropy", 2, 1)):
            tree = _check_tree(call := run(impl.fit_tree, X, y, 3, depth, leaf, criterion), 3)
            ref = sk.DecisionTreeClassifier(
                criterion=criterion, max_depth=depth, min_samples_leaf=leaf, random_state=0
            ).fit(X, y)
            expect_equal(
                Call(tree.feature.copy(), f"{call}.feature"),
                np.where(ref.tree_.feature < 0, -1, ref.tree_.feature).astype(tree.feature.dtype),
                what="scikit-learn's tree, node for node (−1 at leaves)",
            )
            expect_close(
                Call(tree.value[_leaf_rows(tree, Xt)], f"the leaf values {call} gives 300 new rows"),
                ref.predict_proba(Xt),
                what="scikit-learn's predict_proba",
            )


@exercise("fit_tree")
def test_fit_tree_draws_features_from_the_rng(impl):
    X, y = _data(7, n=100, d=6)
    trees = [run(impl.fit_tree, X, y, 3, 3, 1, "gini", 2, g).value for g in (rng(1), rng(1), rng(2))]

    def same(a, b):
        return np.array_equal(a.feature, b.feature) and np.allclose(a.threshold, b.threshold, equal_nan=True)

    expect(
        same(trees[0], trees[1]),
        "fit_tree(..., max_features=2, rng): two generators seeded alike gave different trees",
    )
    expect(
        not same(trees[0], trees[2]),
        "fit_tree(..., max_features=2, rng): the features must be drawn from rng",
    )
    # Replay the draws at the root: the root splits on the best of its two drawn features.
    g = rng(1)
    drawn = g.choice(6, size=2, replace=False)
    expect_equal(
        Call(int(trees[0].feature[0]), "fit_tree(..., max_features=2, rng=rng(1)).feature[0]"),
        _brute_split(X, y, 3, features=list(drawn))[0],
        what=f"the root searches rng.choice(6, size=2, replace=False) = {sorted(drawn.tolist())}",
        mistakes={"search every feature": _brute_split(X, y, 3)[0]},
    )


# ------------------------------------------------------------------------------ predict_tree


def _toy_tree(impl):
    # root: x0 <= 0.5 ? node 1 : node 2; node 1: x1 <= 2 ? leaf 3 : leaf 4; node 2 a leaf
    return impl.Tree(
        np.array([0, 1, -1, -1, -1]),
        np.array([0.5, 2.0, np.nan, np.nan, np.nan]),
        np.array([1, 3, -1, -1, -1]),
        np.array([2, 4, -1, -1, -1]),
        np.array([[0.5, 0.5], [0.2, 0.8], [1.0, 0.0], [0.0, 1.0], [0.25, 0.75]]),
    )


@exercise("predict_tree")
def test_predict_tree_follows_the_thresholds(impl):
    tree = _toy_tree(impl)
    X = np.array([[0.0, 0.0], [0.5, 2.0], [0.5, 2.5], [0.7, 9.0], [-3.0, 3.0]])
    want = tree.value[[3, 3, 4, 2, 4]]
    expect_close(
        run(impl.predict_tree, tree, X),
        want,
        what="x <= threshold goes left (rows 1 and 2 sit exactly on thresholds)",
        mistakes={
            "send x == threshold to the right": tree.value[[3, 4, 4, 2, 4]],
            "swap left and right": tree.value[[2, 2, 2, 4, 2]],
        },
    )


@exercise("predict_tree")
def test_predict_tree_on_a_fitted_tree(impl):
    X, y = _data(8, n=90)
    tree = impl.fit_tree(X, y, 3)
    expect_close(
        run(impl.predict_tree, tree, X),
        np.eye(3)[y],
        what="a tree grown until pure predicts its training rows' classes with probability 1",
    )
    Xt = rng(9).normal(size=(50, 4))
    expect_close(run(impl.predict_tree, tree, Xt), tree.value[_leaf_rows(tree, Xt)])


# -------------------------------------------------------------------------------- fit_forest


def _same_forest(a, b):
    return len(a) == len(b) and all(
        np.array_equal(s.feature, t.feature) and np.allclose(s.threshold, t.threshold, equal_nan=True)
        for s, t in zip(a, b)
    )


@exercise("fit_forest")
def test_fit_forest_replays_bootstrap_then_tree(impl):
    X, y = _data(11, n=60, d=5)
    call = run(impl.fit_forest, X, y, 3, 4, rng(3), 2, 3)
    forest = call.value
    expect(isinstance(forest, list) and len(forest) == 4, f"{call}: expected a list of 4 trees")
    g = rng(3)
    want = []
    for _ in range(4):
        rows = g.integers(0, 60, size=60)
        want.append(impl.fit_tree(X[rows], y[rows], 3, 3, 1, "gini", 2, g))

    def no_bootstrap():
        h = rng(3)
        return [impl.fit_tree(X, y, 3, 3, 1, "gini", 2, h) for _ in range(4)]

    def splits(trees):
        return np.concatenate(
            [np.c_[t.feature, np.nan_to_num(t.threshold, nan=-99.0)].ravel() for t in trees]
        )

    expect(
        all(hasattr(t, "feature") and hasattr(t, "threshold") for t in forest),
        f"{call}: expected a list of Trees",
    )
    expect_close(
        Call(splits(forest), f"{call}: every tree's (feature, threshold) pairs, tree after tree"),
        splits(want),
        what="for each tree, rows = rng.integers(0, n, size=n), then fit_tree(X[rows], y[rows], ..., "
        "max_features, rng) on the same rng",
        mistakes={"fit every tree on all the rows (no bootstrap sample)": lambda: splits(no_bootstrap())},
    )


@exercise("fit_forest")
def test_fit_forest_default_features_and_rng(impl):
    X, y = _data(12, n=50, d=9)
    call = run(impl.fit_forest, X, y, 3, 2, rng(4), None, 2)
    g = rng(4)
    want = []
    for _ in range(2):
        rows = g.integers(0, 50, size=50)
        want.append(impl.fit_tree(X[rows], y[rows], 3, 2, 1, "gini", 3, g))
    expect(_same_forest(call.value, want), f"{call}: max_features=None means round(√9) = 3 features a node")
    a = impl.fit_forest(X, y, 3, 3, rng(5), 2, 2)
    b = impl.fit_forest(X, y, 3, 3, rng(6), 2, 2)
    expect(not _same_forest(a, b), "fit_forest: two different generators gave the same forest: draw from rng")


@exercise("fit_forest")
def test_forest_beats_one_tree(impl):
    # Forests of 20 depth-3 trees grown from rng(0) … rng(29) on these rows: test accuracy
    # 0.78 (seed 3) to 0.89; one depth-3 tree 0.74, one full tree 0.67. (Depth 3 keeps the
    # test cheap: about 290 nodes.)
    g = rng(13)
    X = g.normal(size=(400, 8))
    y = (X[:, :4].sum(1) + 0.5 * g.normal(size=400) > 0).astype(np.int64)
    forest = run(impl.fit_forest, X[:300], y[:300], 2, 20, rng(14), max_depth=3).value
    proba = np.mean([tree.value[_leaf_rows(tree, X[300:])] for tree in forest], axis=0)
    acc = float((proba.argmax(1) == y[300:]).mean())
    expect(
        acc >= 0.76,
        f"fit_forest(X, y, 2, 20 trees, rng(14), max_depth=3): test accuracy {acc:.2f}; such a forest "
        "reaches 0.78 or more on each of 30 seeds (one depth-3 tree: 0.74)",
    )


# ---------------------------------------------------------------------------- predict_forest


@exercise("predict_forest")
def test_predict_forest_averages_probabilities(impl):
    t = _toy_tree(impl)
    u = impl.Tree(
        np.array([1, -1, -1]),
        np.array([1.0, np.nan, np.nan]),
        np.array([1, -1, -1]),
        np.array([2, -1, -1]),
        np.array([[0.5, 0.5], [0.9, 0.1], [0.4, 0.6]]),
    )
    X = np.array([[0.0, 0.0], [0.7, 9.0], [-3.0, 3.0], [0.1, 1.5]])
    a, b = t.value[[3, 2, 4, 3]], u.value[[1, 2, 2, 2]]
    expect_close(
        run(impl.predict_forest, [t, u, u], X),
        (a + 2 * b) / 3,
        what="the mean of the trees' class probabilities",
        mistakes={
            "take a majority vote of the trees' classes": np.eye(2)[
                (np.eye(2)[a.argmax(1)] + 2 * np.eye(2)[b.argmax(1)]).argmax(1)
            ],
            "average over the wrong axis": lambda: np.stack([a, b, b]).mean(1),
        },
    )


# ---------------------------------------------------------------------- fit_gradient_boosting


def _boost(impl, X, y, stages, lr, depth, residual=True):
    F = np.full(len(y), y.mean())
    trees = []
    for _ in range(stages):
        tree = impl.fit_regression_tree(X, y - F if residual else y, depth)
        F = F + lr * impl.predict_tree(tree, X)[:, 0]
        trees.append(tree)
    return trees, F


@exercise("fit_gradient_boosting")
def test_boosting_fits_trees_to_residuals(impl):
    g = rng(15)
    X = g.normal(size=(80, 3))
    y = np.sin(2 * X[:, 0]) + X[:, 1] ** 2 + 0.1 * g.normal(size=80)
    call = run(impl.fit_gradient_boosting, X, y, 6, 0.3, 2)
    expect(isinstance(call.value, tuple) and len(call.value) == 2, f"{call}: expected (f0, trees)")
    f0, trees = call.value
    expect_close(Call(float(f0), f"{call}[0], F₀"), float(y.mean()), mistakes={"start from F₀ = 0": 0.0})
    want, _ = _boost(impl, X, y, 6, 0.3, 2)
    expect(len(trees) == 6, f"{call}[1]: {len(trees)} trees, expected 6")
    for s, (got, tree) in enumerate(zip(trees, want)):
        expect_close(
            Call(got.value, f"{call}[1][{s}].value, the leaves of stage {s}"),
            tree.value,
            what="each tree is fit to the residuals y − F of the model so far",
            mistakes={
                "fit every tree to y instead of the residuals": lambda s=s: (
                    _boost(impl, X, y, 6, 0.3, 2, False)[0][s].value
                ),
                "leave the learning rate out of the update of F": lambda s=s: (
                    _boost(impl, X, y, 6, 1.0, 2)[0][s].value
                ),
            },
        )


@exercise("fit_gradient_boosting")
def test_boosting_matches_scikit_learn(impl):
    ensemble = _optional("sklearn.ensemble")
    if ensemble is None:
        return
    g = rng(16)
    X = g.normal(size=(150, 4))
    y = X[:, 0] - 2 * np.abs(X[:, 1]) + 0.2 * g.normal(size=150)
    f0, trees = run(impl.fit_gradient_boosting, X, y, 15, 0.1, 3).value
    ref = ensemble.GradientBoostingRegressor(
        n_estimators=15, learning_rate=0.1, max_depth=3, random_state=0
    ).fit(X, y)
    F = f0 + 0.1 * sum(impl.predict_tree(t, X)[:, 0] for t in trees)
    expect_close(
        Call(F, "F₀ + 0.1 Σ tree(X) of fit_gradient_boosting(X, y, 15, 0.1, 3)"),
        ref.predict(X),
        what="scikit-learn's GradientBoostingRegressor",
    )


# ------------------------------------------------------------------ predict_gradient_boosting


@exercise("predict_gradient_boosting")
def test_predict_gradient_boosting_adds_the_stages(impl):
    g = rng(17)
    X = g.normal(size=(60, 2))
    y = X[:, 0] * X[:, 1] + g.normal(size=60)
    trees = [impl.fit_regression_tree(X, y - k, 2) for k in range(3)]
    Xt = g.normal(size=(20, 2))
    parts = np.array([impl.predict_tree(t, Xt)[:, 0] for t in trees])
    expect_close(
        run(impl.predict_gradient_boosting, 0.7, trees, 0.2, Xt),
        0.7 + 0.2 * parts.sum(0),
        what="F₀ + learning_rate · Σ tree(x)",
        mistakes={
            "forget F₀": 0.2 * parts.sum(0),
            "forget the learning rate": 0.7 + parts.sum(0),
            "average the trees instead of adding them": 0.7 + 0.2 * parts.mean(0),
        },
    )
    expect_close(
        run(impl.predict_gradient_boosting, 1.5, [], 0.2, Xt), np.full(20, 1.5), what="no stages: F₀"
    )


@exercise("predict_forest")
def test_predict_forest_of_fitted_trees(impl):
    X, y = _data(18, n=80)
    forest = [impl.fit_tree(X[rows], y[rows], 3, 3) for rows in (np.arange(0, 60), np.arange(20, 80))]
    Xt = rng(19).normal(size=(25, 4))
    got = run(impl.predict_forest, forest, Xt)
    expect_close(
        got,
        (forest[0].value[_leaf_rows(forest[0], Xt)] + forest[1].value[_leaf_rows(forest[1], Xt)]) / 2,
        what="the mean of the two trees' leaf values",
    )
    expect_close(
        run(impl.predict_forest, forest[:1], Xt),
        forest[0].value[_leaf_rows(forest[0], Xt)],
        what="a forest of one tree predicts what the tree does",
    )


@exercise("predict_tree")
def test_predict_tree_regression_values(impl):
    # root: x2 <= 0 ? node 1 : leaf 4; node 1: x0 <= -1 ? leaf 2 : leaf 3
    tree = impl.Tree(
        np.array([2, 0, -1, -1, -1]),
        np.array([0.0, -1.0, np.nan, np.nan, np.nan]),
        np.array([1, 2, -1, -1, -1]),
        np.array([4, 3, -1, -1, -1]),
        np.array([[0.1], [-0.4], [-2.5], [0.75], [3.0]]),
    )
    Xt = rng(20).normal(size=(30, 3))
    want = np.where(Xt[:, 2] <= 0, np.where(Xt[:, 0] <= -1, -2.5, 0.75), 3.0)[:, None]
    expect_close(
        run(impl.predict_tree, tree, Xt),
        want,
        what="a regression tree: (n, 1), the value of each row's leaf",
        mistakes={"return the value of the root for every row": np.full((30, 1), 0.1)},
    )


@exercise("predict_gradient_boosting")
def test_predict_gradient_boosting_reproduces_the_fit(impl):
    g = rng(21)
    X = g.normal(size=(90, 3))
    y = np.sin(X[:, 0]) + X[:, 1] * X[:, 2]
    trees, F = _boost(impl, X, y, 5, 0.2, 2)
    expect_close(
        run(impl.predict_gradient_boosting, float(y.mean()), trees, 0.2, X),
        F,
        what="on the training rows, the F that boosting built stage by stage",
    )
