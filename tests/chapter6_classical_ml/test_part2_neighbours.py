"""Tests for chapter 6, part 2: squared distances, the k nearest, k-NN classification and
regression, and leave-one-out accuracy.

Expected values come from this file: distances and neighbours by Python loops over pairs
(sorted by (distance, index), the stated tie rule); votes counted with a dict, ties to the
smallest label; leave-one-out by deleting each row in turn. Where scikit-learn is installed,
its brute-force KNeighborsClassifier and KNeighborsRegressor must agree on data without
ties (the comparison is left out without it).
"""

import numpy as np

from grader.testkit import Call, exercise, expect, expect_close, expect_equal, rng, run


def _sq_loop(A, B):
    return np.array([[float(np.sum((a - b) ** 2)) for b in B] for a in A])


def _nearest_loop(D, k):
    return np.array([sorted(range(D.shape[1]), key=lambda j: (D[i, j], j))[:k] for i in range(len(D))])


def _vote(labels):
    counts = {}
    for c in labels:
        counts[int(c)] = counts.get(int(c), 0) + 1
    top = max(counts.values())
    return min(c for c, v in counts.items() if v == top)


def _classify_loop(Xtr, ytr, Xq, k, vote=_vote):
    idx = _nearest_loop(_sq_loop(Xq, Xtr), k)
    return np.array([vote(ytr[row]) for row in idx], dtype=np.int64)


def _grid_data():
    """Points on an integer grid: many equal distances, so the tie rules decide."""
    g = rng(7)
    Xtr = g.integers(0, 4, size=(30, 2)).astype(float)
    ytr = g.integers(0, 3, size=30)
    Xq = g.integers(0, 4, size=(12, 2)).astype(float)
    return Xtr, ytr, Xq


# ----------------------------------------------------------------------- pairwise_sq_distances


@exercise("pairwise_sq_distances")
def test_pairwise_sq_distances_against_a_loop(impl):
    g = rng(0)
    A, B = g.normal(size=(5, 3)), g.normal(size=(7, 3))
    want = _sq_loop(A, B)
    call = run(impl.pairwise_sq_distances, A, B)
    expect_close(
        call,
        want,
        rtol=0,
        atol=1e-9 * max((A**2).sum(1).max(), (B**2).sum(1).max()),
        mistakes={
            "take the square root (Euclidean distances, not squared)": np.sqrt(want),
            "forget the factor 2 in −2 a·b": want + (A @ B.T),
            "drop the cross term −2 a·b": (A**2).sum(1)[:, None] + (B**2).sum(1)[None, :],
        },
    )


@exercise("pairwise_sq_distances")
def test_pairwise_sq_distances_are_never_negative(impl):
    g = rng(1)
    A = 1e4 + g.normal(size=(40, 6))  # far from the origin: the expansion cancels badly
    D = run(impl.pairwise_sq_distances, A, A.copy()).value
    expect(np.all(np.asarray(D) >= 0), "pairwise_sq_distances(A, A): some entries are negative; clip at 0")
    expect_close(
        Call(np.diag(D), "the diagonal of pairwise_sq_distances(A, A), each row with itself"),
        np.zeros(40),
        rtol=0,
        atol=1e-9 * float((A**2).sum(1).max()),
    )


# -------------------------------------------------------------------------------- k_nearest


@exercise("k_nearest")
def test_k_nearest_nearest_first(impl):
    g = rng(2)
    D = g.random((6, 9))
    want = _nearest_loop(D, 4)
    expect_equal(
        run(impl.k_nearest, D, 4),
        want,
        mistakes={
            "take the k farthest": np.argsort(-D, axis=1, kind="stable")[:, :4],
            "sort along the wrong axis": np.argsort(D, axis=0, kind="stable")[:4].T,
            "take k + 1 neighbours": _nearest_loop(D, 5),
        },
    )


@exercise("k_nearest")
def test_k_nearest_breaks_distance_ties_by_the_lower_index(impl):
    g = rng(3)
    D = g.integers(0, 3, size=(20, 60)).astype(float)  # many equal distances
    want = _nearest_loop(D, 7)
    expect_equal(
        run(impl.k_nearest, D, 7),
        want,
        what="equal distances: the lower index first",
        mistakes={
            "sort with an unstable sort (np.argsort without kind='stable')": np.argsort(D, axis=1)[:, :7]
        },
    )
    expect_equal(run(impl.k_nearest, D[:1], 60), want_all := _nearest_loop(D[:1], 60))
    expect(want_all.shape == (1, 60), "k = n returns every column")


# ----------------------------------------------------------------------------- knn_classify


@exercise("knn_classify")
def test_knn_classify_against_a_loop_with_both_tie_rules(impl):
    Xtr, ytr, Xq = _grid_data()
    for k in (1, 4, 6):
        want = _classify_loop(Xtr, ytr, Xq, k)
        expect_equal(
            run(impl.knn_classify, Xtr, ytr, Xq, k),
            want,
            mistakes={
                "break a tied vote towards the largest label": _classify_loop(
                    Xtr,
                    ytr,
                    Xq,
                    k,
                    vote=lambda c: max(
                        v for v in set(c.tolist()) if list(c).count(v) == max(list(c).count(u) for u in c)
                    ),
                ),
                "break a tied vote by the nearest neighbour's label": _classify_loop(
                    Xtr,
                    ytr,
                    Xq,
                    k,
                    vote=lambda c: next(
                        int(v) for v in c if list(c).count(v) == max(list(c).count(u) for u in c)
                    ),
                ),
                "use k + 1 neighbours": _classify_loop(Xtr, ytr, Xq, k + 1),
                "use k − 1 neighbours": _classify_loop(Xtr, ytr, Xq, max(k - 1, 1)),
            },
        )


@exercise("knn_classify")
def test_knn_classify_returns_ints_and_handles_labels_absent_nearby(impl):
    Xtr = np.array([[0.0, 0.0], [0.1, 0.0], [5.0, 5.0], [9.0, 9.0]])
    ytr = np.array([3, 3, 0, 1])
    call = run(impl.knn_classify, Xtr, ytr, np.array([[0.0, 0.2], [8.0, 8.0]]), 1)
    expect_equal(call, np.array([3, 1]))
    expect(np.asarray(call.value).dtype.kind in "iu", f"{call}: expected integer labels")


@exercise("knn_classify")
def test_knn_classify_agrees_with_scikit_learn(impl):
    try:
        from sklearn.neighbors import KNeighborsClassifier
    except ImportError:  # the data extra is not installed: nothing to compare with
        return
    g = rng(4)
    Xtr, ytr = g.normal(size=(80, 4)), g.integers(0, 4, size=80)
    Xq = g.normal(size=(25, 4))
    want = KNeighborsClassifier(n_neighbors=5, algorithm="brute").fit(Xtr, ytr).predict(Xq)
    expect_equal(
        run(impl.knn_classify, Xtr, ytr, Xq, 5), want.astype(np.int64), what="scikit-learn's predictions"
    )


# ------------------------------------------------------------------------------ knn_regress


@exercise("knn_regress")
def test_knn_regress_is_the_mean_of_the_nearest_targets(impl):
    Xtr, _, Xq = _grid_data()
    ytr = rng(5).normal(size=30)
    for k in (1, 5):
        idx = _nearest_loop(_sq_loop(Xq, Xtr), k)
        want = np.array([np.mean(ytr[row]) for row in idx])
        expect_close(
            run(impl.knn_regress, Xtr, ytr, Xq, k),
            want,
            mistakes={
                "take the median instead of the mean": np.array([np.median(ytr[row]) for row in idx]),
                "sum instead of averaging": np.array([np.sum(ytr[row]) for row in idx]),
                "use k + 1 neighbours": np.array(
                    [np.mean(ytr[row]) for row in _nearest_loop(_sq_loop(Xq, Xtr), k + 1)]
                ),
            },
        )


@exercise("knn_regress")
def test_knn_regress_agrees_with_scikit_learn(impl):
    try:
        from sklearn.neighbors import KNeighborsRegressor
    except ImportError:
        return
    g = rng(6)
    Xtr, ytr, Xq = g.normal(size=(60, 3)), g.normal(size=60), g.normal(size=(20, 3))
    want = KNeighborsRegressor(n_neighbors=4, algorithm="brute").fit(Xtr, ytr).predict(Xq)
    expect_close(run(impl.knn_regress, Xtr, ytr, Xq, 4), want, what="scikit-learn's predictions")


# ------------------------------------------------------------------- leave_one_out_accuracy


def _loo_loop(X, y, k, keep_self=False):
    right = 0
    for i in range(len(X)):
        keep = np.ones(len(X), dtype=bool) if keep_self else np.arange(len(X)) != i
        right += _classify_loop(X[keep], y[keep], X[i : i + 1], k)[0] == y[i]
    return right / len(X)


@exercise("leave_one_out_accuracy")
def test_leave_one_out_accuracy_against_deleting_each_row(impl):
    g = rng(8)
    X = np.concatenate([g.normal(size=(12, 2)), g.normal(size=(12, 2)) + 1.2])
    y = np.repeat([0, 1], 12)
    ks = [1, 2, 5]
    want = np.array([_loo_loop(X, y, k) for k in ks])
    expect_close(
        run(impl.leave_one_out_accuracy, X, y, ks),
        want,
        mistakes={
            "let each row vote for itself (the test row leaks into training)": np.array(
                [_loo_loop(X, y, k, True) for k in ks]
            )
        },
    )


@exercise("leave_one_out_accuracy")
def test_leave_one_out_accuracy_with_tied_distances_and_votes(impl):
    X, y, _ = _grid_data()
    ks = [3, 4, 1]
    want = np.array([_loo_loop(X, y, k) for k in ks])
    expect_close(
        run(impl.leave_one_out_accuracy, X, y, ks),
        want,
        mistakes={
            "let each row vote for itself (the test row leaks into training)": np.array(
                [_loo_loop(X, y, k, True) for k in ks]
            )
        },
    )


@exercise("pairwise_sq_distances")
def test_pairwise_sq_distances_is_queries_by_training(impl):
    A = np.array([[0.0, 0.0], [3.0, 4.0]])
    B = np.array([[0.0, 0.0], [1.0, 0.0], [0.0, 2.0]])
    expect_close(
        run(impl.pairwise_sq_distances, A, B),
        np.array([[0.0, 1.0, 4.0], [25.0, 20.0, 13.0]]),
        what="D[i, j] for row i of A and row j of B, shape (m, n)",
    )


@exercise("k_nearest")
def test_k_nearest_of_one_is_the_argmin(impl):
    D = np.array([[3.0, 1.0, 2.0], [0.5, 0.5, 0.1], [2.0, 2.0, 2.0]])
    call = run(impl.k_nearest, D, 1)
    expect_equal(call, np.array([[1], [2], [0]]), what="shape (m, 1): the nearest column of each row")


@exercise("knn_regress")
def test_knn_regress_with_k_equal_n_predicts_the_mean(impl):
    g = rng(9)
    Xtr, ytr, Xq = g.normal(size=(9, 2)), g.normal(size=9), g.normal(size=(4, 2))
    expect_close(
        run(impl.knn_regress, Xtr, ytr, Xq, 9),
        np.full(4, ytr.mean()),
        what="every training row is a neighbour: the overall mean",
    )


@exercise("leave_one_out_accuracy")
def test_leave_one_out_accuracy_with_duplicated_rows(impl):
    # Rows 0 and 1 are the same point with different labels, as are rows 2 and 3: each is
    # the other's nearest neighbour at distance 0. Dropping the first column of the sorted
    # neighbours removes row 0 from row 1's list instead of row 1 itself.
    X = np.array([[0.0, 0.0], [0.0, 0.0], [5.0, 5.0], [5.0, 5.0], [0.2, 0.0], [5.0, 5.3]])
    y = np.array([0, 1, 1, 0, 0, 1])
    ks = [1, 3]
    want = np.array([_loo_loop(X, y, k) for k in ks])
    expect_close(
        run(impl.leave_one_out_accuracy, X, y, ks),
        want,
        mistakes={
            "let each row vote for itself (the test row leaks into training)": np.array(
                [_loo_loop(X, y, k, True) for k in ks]
            )
        },
    )
