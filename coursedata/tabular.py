"""Small tables for classical machine learning: scikit-learn's bundled sets when installed.

`load_iris()`, `load_wine()`, `load_breast_cancer()` and `load_diabetes()` give the real
data when scikit-learn is installed (the `data` extra) and otherwise a generated stand-in
with the same shape, the same feature names, the same class counts (or, for diabetes, a
real-valued target on the same scale), and features on very different scales, so that
standardising matters either way. `standardize_split` cuts a table into a training and a
test part and standardises both with the training part's statistics only.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

Source = Literal["auto", "scikit-learn", "generated"]


@dataclass(frozen=True)
class Table:
    """X: float64 (n, d), one example per row. y: int64 class labels 0..K-1 (n,) for a
    classification set, float64 targets (n,) for a regression set (task says which).
    target_names names the classes (empty for regression)."""

    X: np.ndarray
    y: np.ndarray
    feature_names: tuple[str, ...]
    target_names: tuple[str, ...]
    task: Literal["classification", "regression"]
    source: Literal["scikit-learn", "generated"]


_IRIS = ("sepal length (cm)", "sepal width (cm)", "petal length (cm)", "petal width (cm)")
_WINE = (
    "alcohol",
    "malic_acid",
    "ash",
    "alcalinity_of_ash",
    "magnesium",
    "total_phenols",
    "flavanoids",
    "nonflavanoid_phenols",
    "proanthocyanins",
    "color_intensity",
    "hue",
    "od280/od315_of_diluted_wines",
    "proline",
)
_CELL = (
    "radius",
    "texture",
    "perimeter",
    "area",
    "smoothness",
    "compactness",
    "concavity",
    "concave points",
    "symmetry",
    "fractal dimension",
)
_CANCER = (
    tuple(f"mean {c}" for c in _CELL)
    + tuple(f"{c} error" for c in _CELL)
    + tuple(f"worst {c}" for c in _CELL)
)
_DIABETES = ("age", "sex", "bmi", "bp", "s1", "s2", "s3", "s4", "s5", "s6")

# name: (feature names, class names, examples per class, seed of the stand-in)
_CLASSIFICATION = {
    "iris": (_IRIS, ("setosa", "versicolor", "virginica"), (50, 50, 50), 1),
    "wine": (_WINE, ("class_0", "class_1", "class_2"), (59, 71, 48), 2),
    "breast_cancer": (_CANCER, ("malignant", "benign"), (212, 357), 3),
}


def _generated_classification(name: str) -> Table:
    """Gaussian classes around different means; each feature has its own scale (0.1 to 1000)."""
    features, classes, counts, seed = _CLASSIFICATION[name]
    rng = np.random.default_rng(seed)
    d, k = len(features), len(classes)
    scale = 10.0 ** rng.uniform(-1, 3, size=d)
    centre = scale * rng.uniform(2, 5, size=d)
    means = centre + scale * rng.normal(0, 1.0, size=(k, d))
    y = np.repeat(np.arange(k), counts)
    X = means[y] + scale * rng.normal(0, 0.6, size=(len(y), d))
    return Table(X, y.astype(np.int64), features, classes, "classification", "generated")


def _generated_diabetes() -> Table:
    """442 x 10, columns centred with unit Euclidean norm (as scikit-learn scales them),
    a target of mean about 152 and spread about 77 that a linear model explains half of."""
    rng = np.random.default_rng(4)
    n, d = 442, len(_DIABETES)
    X = rng.normal(size=(n, d)) @ (np.eye(d) + 0.3 * rng.normal(size=(d, d)))
    X[:, 1] = np.where(rng.random(n) < 0.47, 1.0, -1.0)  # a two-valued column, like sex
    X -= X.mean(axis=0)
    X /= np.linalg.norm(X, axis=0)
    w = rng.normal(0, 400, size=d)
    signal = X @ w
    signal *= 54 / signal.std()
    y = 152 + signal + rng.normal(0, 54, size=n)
    return Table(X, y, _DIABETES, (), "regression", "generated")


def _from_sklearn(name: str, source: Source) -> Any | None:
    if source == "generated":
        return None
    try:
        from sklearn import datasets
    except ImportError:
        if source == "scikit-learn":
            raise ImportError(f'the real {name} data need scikit-learn: pip install -e ".[data]"') from None
        return None
    return getattr(datasets, f"load_{name}")()


def _classification(name: str, source: Source) -> Table:
    bunch = _from_sklearn(name, source)
    if bunch is None:
        return _generated_classification(name)
    features, classes, _, _ = _CLASSIFICATION[name]
    X = np.asarray(bunch.data, dtype=np.float64)
    return Table(
        X, np.asarray(bunch.target, dtype=np.int64), features, classes, "classification", "scikit-learn"
    )


def load_iris(source: Source = "auto") -> Table:
    """150 irises x 4 measurements in cm, 3 species (50 each)."""
    return _classification("iris", source)


def load_wine(source: Source = "auto") -> Table:
    """178 wines x 13 chemical measurements, 3 cultivars (59, 71, 48)."""
    return _classification("wine", source)


def load_breast_cancer(source: Source = "auto") -> Table:
    """569 tumours x 30 cell-nucleus features, 2 classes: 0 malignant (212), 1 benign (357)."""
    return _classification("breast_cancer", source)


def load_diabetes(source: Source = "auto") -> Table:
    """442 patients x 10 standardised features; y is disease progression a year later (float64).

    source="auto" falls back to a generated set of the same shape when scikit-learn is
    not installed; "scikit-learn" insists on the real data, "generated" on the stand-in
    (the same holds for the three other loaders).
    """
    bunch = _from_sklearn("diabetes", source)
    if bunch is None:
        return _generated_diabetes()
    X = np.asarray(bunch.data, dtype=np.float64)
    y = np.asarray(bunch.target, dtype=np.float64)
    return Table(X, y, _DIABETES, (), "regression", "scikit-learn")


def standardize_split(
    X: np.ndarray, y: np.ndarray, test_fraction: float = 0.25, seed: int = 0
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """A seeded shuffle split, standardised: (X_train, y_train, X_test, y_test).

    Each feature is shifted by the training rows' mean and divided by their standard
    deviation (1 where that is 0); the test rows use the same numbers and never
    influence them, so nothing about the test rows leaks into training.
    """
    order = np.random.default_rng(seed).permutation(len(y))
    n_test = int(round(test_fraction * len(order)))
    test, train = order[:n_test], order[n_test:]
    mean = X[train].mean(axis=0)
    std = X[train].std(axis=0)
    std = np.where(std > 0, std, 1.0)
    return (X[train] - mean) / std, y[train], (X[test] - mean) / std, y[test]
