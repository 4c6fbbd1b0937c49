"""Chapter 6 benchmark cases.

Part 1 (linear models): least squares and ridge on a 20,000 × 50 table, against
scikit-learn's LinearRegression and Ridge (the same closed forms: an SVD-based least-squares
solve, and a Cholesky solve of the normal equations) when it is installed.

Part 8 (ch6e): TF-IDF of a 2,000 × 5,000 count matrix (about 5 % of its entries nonzero)
against scikit-learn's TfidfTransformer on the same dense counts (it converts them to a
sparse matrix, which is part of its time), and the trigram counts of the whole pydoc
text (about 0.46 M characters, a 96³ table). Part 9: one collapsed-Gibbs sweep over the
pydoc paragraphs (12,842 tokens, 8 topics), a Python loop over tokens by design.

Part 3 (clustering): k-means (k-means++ seeding, then Lloyd's loop to convergence) on
10,000 × 10 points in 8 overlapping blobs, and a Gaussian mixture (full covariances) by 50
passes of EM on 5,000 × 4 points with K = 5, each against scikit-learn doing the same
algorithm in the same run (KMeans with algorithm="lloyd" and one k-means++ start;
GaussianMixture with init_params="random_from_data" and tol=0, so that it runs the 50
passes too).

Part 6 (ch6d): Viterbi on 10,000 steps of a 50-state, 20-symbol HMM (the issue's target:
under 0.1 s; one Python loop over time, none over states), and the scaled forward pass on
the same sequence for comparison. No other library here has the same algorithm (hmmlearn
is not a dependency), so there is nothing to compare against in the same run.

Part 4 (trees and ensembles): a CART classification tree (Gini, grown until pure) and a
random forest of 10 such trees (bootstrap rows, 4 = √20 features searched per node) fitted
on 10,000 × 20 rows against scikit-learn's DecisionTreeClassifier and
RandomForestClassifier (one thread) in the same run; the issue's target is the tree within
10× of scikit-learn's Cython. The data: 20 standard-normal features, two classes from a
noisy linear rule on the first five, so that a full tree has about 2,000 nodes.
"""

from __future__ import annotations

import warnings

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


TEXT_MODELS = "chapter6_classical_ml/part8_text_models"
TOPIC_MODELS = "chapter6_classical_ml/part9_topic_models"


def _counts():
    g = np.random.default_rng(0)
    return ((g.random((2000, 5000)) < 0.05) * g.integers(1, 6, size=(2000, 5000))).astype(np.int64)


def _sklearn_tfidf(inputs):
    try:
        from sklearn.feature_extraction.text import TfidfTransformer
    except ImportError:
        return None
    (counts,) = inputs
    return lambda: TfidfTransformer().fit_transform(counts)


def _pydoc_ids():
    from coursedata import load_pydoc_text

    alphabet = "\n" + "".join(chr(c) for c in range(32, 127))
    table = np.zeros(128, dtype=np.int64)
    table[[ord(ch) for ch in alphabet]] = np.arange(len(alphabet))
    return (table[np.frombuffer(load_pydoc_text().encode("ascii"), dtype=np.uint8)],)


def _lda_state():
    # the corpus as part 9's given corpus_from_text builds it, written out here so that any
    # --impl can be timed
    import re
    from collections import Counter

    from coursedata import load_pydoc_text

    stop = set(
        """the and for that this are not with can but from which when its has have will been
        also any may used use one all more than two other such into only then there these they
        their them what each see was were most some would should could does must like new same
        first following example note name given""".split()
    )
    paragraphs = [
        [w for w in re.findall(r"[a-z]{3,}", p.lower()) if w not in stop]
        for p in load_pydoc_text().split("\n\n")
    ]
    freq = Counter(w for p in paragraphs for w in p)
    index = {w: i for i, w in enumerate(sorted(freq, key=lambda w: (-freq[w], w))[:600])}
    docs = [d for d in ([index[w] for w in p if w in index] for p in paragraphs) if len(d) >= 20]
    doc = np.concatenate([np.full(len(d), j, dtype=np.int64) for j, d in enumerate(docs)])
    word = np.concatenate([np.array(d, dtype=np.int64) for d in docs])
    K, D, W = 8, len(docs), 600
    z = np.random.default_rng(0).integers(K, size=len(doc))
    n_dk, n_kw = np.zeros((D, K), dtype=np.int64), np.zeros((K, W), dtype=np.int64)
    np.add.at(n_dk, (doc, z), 1)
    np.add.at(n_kw, (z, word), 1)
    return doc, word, z, n_dk, n_kw, n_kw.sum(1)


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


HMM = "chapter6_classical_ml/part6_hmm"


def _hmm_10000x50():
    g = np.random.default_rng(0)
    K, M, T = 50, 20, 10_000
    pi = g.dirichlet(np.ones(K))
    A = g.dirichlet(np.ones(K), size=K)
    B = g.dirichlet(np.ones(M), size=K)
    return pi, A, B, g.integers(0, M, size=T)


def _viterbi(module, inputs):
    return module.viterbi(*inputs)


def _forward(module, inputs):
    return module.forward(*inputs)


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
    Case(
        "tfidf 2000x5000 counts",
        TEXT_MODELS,
        lambda: (_counts(),),
        lambda module, inputs: module.tfidf(*inputs),
        _sklearn_tfidf,
        "scikit-learn",
    ),
    Case(
        "trigram counts of the pydoc text",
        TEXT_MODELS,
        _pydoc_ids,
        lambda module, inputs: module.ngram_counts(inputs[0], 3, 96),
    ),
    Case(
        "one Gibbs sweep, 12,842 pydoc tokens, K=8",
        TOPIC_MODELS,
        _lda_state,
        lambda module, inputs: module.gibbs_sweep(*inputs, 0.1, 0.01, np.random.default_rng(1)),
    ),
    Case(
        "k-means++ and Lloyd, 10000x10, k=8",
        CLUSTER,
        _kmeans_inputs,
        _kmeans,
        _sklearn_kmeans,
        "scikit-learn",
    ),
    Case("GMM EM 50 passes, 5000x4, K=5", CLUSTER, _gmm_inputs, _gmm, _sklearn_gmm, "scikit-learn"),
    Case("viterbi 10,000 steps x 50 states", HMM, _hmm_10000x50, _viterbi),
    Case("forward (scaled) 10,000 steps x 50 states", HMM, _hmm_10000x50, _forward),
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
