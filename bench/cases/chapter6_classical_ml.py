"""Chapter 6 benchmark cases.

Part 1 (linear models): least squares and ridge on a 20,000 × 50 table, against
scikit-learn's LinearRegression and Ridge (the same closed forms: an SVD-based least-squares
solve, and a Cholesky solve of the normal equations) when it is installed.
"""

from __future__ import annotations

import numpy as np

from bench.run import Case

LINEAR = "chapter6_classical_ml/part1_linear_models"


def _table():
    g = np.random.default_rng(0)
    X = g.normal(size=(20_000, 50)) + 2.0
    y = X @ g.normal(size=50) + 3.0 + g.normal(size=20_000)
    return X, y


def _sklearn(make):
    def build(inputs):
        try:
            from sklearn import linear_model
        except ImportError:
            return None
        X, y = inputs
        return lambda: make(linear_model).fit(X, y)

    return build


CASES = [
    Case(
        "ols_fit 20000x50",
        LINEAR,
        _table,
        lambda module, inputs: module.ols_fit(*inputs),
        _sklearn(lambda lm: lm.LinearRegression()),
        "scikit-learn",
    ),
    Case(
        "ridge_fit 20000x50",
        LINEAR,
        _table,
        lambda module, inputs: module.ridge_fit(*inputs, 10.0),
        _sklearn(lambda lm: lm.Ridge(alpha=10.0)),
        "scikit-learn",
    ),
]
