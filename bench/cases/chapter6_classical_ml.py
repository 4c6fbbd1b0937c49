"""Chapter 6 benchmark cases.

Part 4 (trees and ensembles): a CART classification tree (Gini, grown until pure) and a
random forest of 10 such trees (bootstrap rows, 4 = √20 features searched per node) fitted
on 10,000 × 20 rows against scikit-learn's DecisionTreeClassifier and
RandomForestClassifier (one thread) in the same run; the issue's target is the tree within
10× of scikit-learn's Cython. The data: 20 standard-normal features, two classes from a
noisy linear rule on the first five, so that a full tree has about 2,000 nodes.
"""

from __future__ import annotations

import numpy as np

from bench.run import Case

TREES = "chapter6_classical_ml/part4_trees_ensembles"
FOREST_TREES = 10


def _tabular_10k():
    g = np.random.default_rng(0)
    X = g.normal(size=(10_000, 20))
    y = (X[:, :5].sum(axis=1) + g.normal(size=10_000) > 0).astype(np.int64)
    return X, y


def _fit_tree(module, inputs):
    X, y = inputs
    return module.fit_tree(X, y, 2)


def _fit_forest(module, inputs):
    X, y = inputs
    return module.fit_forest(X, y, 2, FOREST_TREES, np.random.default_rng(0), max_features=4)


def _sklearn_tree(inputs):
    try:
        from sklearn.tree import DecisionTreeClassifier
    except ImportError:
        return None
    X, y = inputs
    return lambda: DecisionTreeClassifier(random_state=0).fit(X, y)


def _sklearn_forest(inputs):
    try:
        from sklearn.ensemble import RandomForestClassifier
    except ImportError:
        return None
    X, y = inputs
    return lambda: RandomForestClassifier(
        n_estimators=FOREST_TREES, max_features=4, n_jobs=1, random_state=0
    ).fit(X, y)


CASES = [
    Case(
        "decision tree fit 10000x20, full depth",
        TREES,
        _tabular_10k,
        _fit_tree,
        _sklearn_tree,
        "scikit-learn",
    ),
    Case(
        f"random forest fit 10000x20, {FOREST_TREES} trees",
        TREES,
        _tabular_10k,
        _fit_forest,
        _sklearn_forest,
        "scikit-learn",
    ),
]
