"""Chapter 6 benchmark cases.

Part 3 (clustering): k-means (k-means++ seeding, then Lloyd's loop to convergence) on
10,000 × 10 points in 8 overlapping blobs, and a Gaussian mixture (full covariances) by 50
passes of EM on 5,000 × 4 points with K = 5, each against scikit-learn doing the same
algorithm in the same run (KMeans with algorithm="lloyd" and one k-means++ start;
GaussianMixture with init_params="random_from_data" and tol=0, so that it runs the 50
passes too)."""

from __future__ import annotations

import warnings

import numpy as np

from bench.run import Case

CLUSTER = "chapter6_classical_ml/part3_clustering_decomposition"


def _blobs(n: int, d: int, k: int, seed: int) -> np.ndarray:
    g = np.random.default_rng(seed)
    centres = 4.0 * g.normal(size=(k, d))
    return centres[g.integers(k, size=n)] + g.normal(size=(n, d))


def _kmeans_inputs():
    return (_blobs(10_000, 10, 8, 0),)


def _gmm_inputs():
    return (_blobs(5_000, 4, 5, 1),)


def _kmeans(module, inputs):
    (X,) = inputs
    return module.kmeans(X, 8, np.random.default_rng(0))


def _gmm(module, inputs):
    (X,) = inputs
    return module.gmm_em(X, 5, np.random.default_rng(0), max_iter=50, tol=-np.inf)


def _sklearn_kmeans(inputs):
    try:
        from sklearn.cluster import KMeans
    except ImportError:
        return None
    (X,) = inputs
    return lambda: KMeans(8, init="k-means++", n_init=1, algorithm="lloyd", random_state=0).fit(X)


def _sklearn_gmm(inputs):
    try:
        from sklearn.mixture import GaussianMixture
    except ImportError:
        return None
    (X,) = inputs

    def fit():
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # "did not converge": the 50 passes are the point
            return GaussianMixture(
                5,
                covariance_type="full",
                max_iter=50,
                tol=0.0,
                init_params="random_from_data",
                random_state=0,
            ).fit(X)

    return fit


CASES = [
    Case(
        "k-means++ and Lloyd, 10000x10, k=8",
        CLUSTER,
        _kmeans_inputs,
        _kmeans,
        _sklearn_kmeans,
        "scikit-learn",
    ),
    Case("GMM EM 50 passes, 5000x4, K=5", CLUSTER, _gmm_inputs, _gmm, _sklearn_gmm, "scikit-learn"),
]
