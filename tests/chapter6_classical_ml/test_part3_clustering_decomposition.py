"""Tests for chapter 6, part 3: k-means (assignment, update, k-means++ seeding, Lloyd's
loop), a Gaussian mixture by EM (log responsibilities, M-step, the whole loop), PCA by the
SVD, and non-negative matrix factorisation by multiplicative updates.

Expected values come from this file: distances and cluster means by loops; k-means++,
Lloyd's loop, EM and NMF replayed draw for draw with a generator seeded like the learner's;
Gaussian log densities from the inverse and the determinant of each covariance, one point
at a time; PCA from the eigenvectors of the covariance matrix (np.linalg.eigh) with the
stated sign convention. Properties: D² sampling picks a far point far more often than
uniform seeding would (counted over 400 seeds, within 5 standard errors); k-means recovers
well-separated blobs on each of 30 seeds, as a partition (any relabelling of the clusters
passes); EM's log-likelihood never decreases; NMF's error never increases. Where
scikit-learn is installed, its PCA and its KMeans from the same starting centres agree.
"""

import itertools

import numpy as np

from grader.testkit import Call, exercise, expect, expect_close, expect_equal, expect_parts, rng, run


def _sq(X, C):
    return np.array([[float(np.sum((x - c) ** 2)) for c in C] for x in X])


def _blobs(seed, n_per=15, spread=0.3):
    g = rng(seed)
    centres = np.array([[0.0, 0.0], [6.0, 0.0], [0.0, 6.0]])
    X = np.concatenate([c + spread * g.normal(size=(n_per, 2)) for c in centres])
    return X, np.repeat([0, 1, 2], n_per)


def _same_partition(a, b):
    """True when labels a and b group the rows alike (a relabelling of each other)."""
    a, b = np.asarray(a), np.asarray(b)
    pairs = set(zip(a.tolist(), b.tolist()))
    return len(pairs) == len(set(a.tolist())) == len(set(b.tolist()))


# ---------------------------------------------------------------------------- kmeans_assign


@exercise("kmeans_assign")
def test_kmeans_assign_picks_the_nearest_centre(impl):
    g = rng(0)
    X, C = g.normal(size=(20, 3)), g.normal(size=(4, 3))
    D = _sq(X, C)
    expect_equal(
        run(impl.kmeans_assign, X, C),
        np.array([int(np.argmin(row)) for row in D]),
        mistakes={"take the farthest centre": np.argmax(D, axis=1)},
    )


@exercise("kmeans_assign")
def test_kmeans_assign_ties_go_to_the_lower_centre(impl):
    X = np.array([[0.0, 0.0], [1.0, 1.0], [2.0, 0.0]])
    C = np.array([[1.0, 0.0], [-1.0, 0.0], [1.0, 2.0], [3.0, 0.0]])  # ties at distance 1
    expect_equal(run(impl.kmeans_assign, X, C), np.array([0, 0, 0]), what="equal distances: the lower index")


# ---------------------------------------------------------------------------- kmeans_update


@exercise("kmeans_update")
def test_kmeans_update_takes_each_clusters_mean(impl):
    g = rng(1)
    X, labels = g.normal(size=(12, 2)), np.array([0, 1, 2, 0, 1, 2, 0, 0, 1, 2, 2, 2])
    C = g.normal(size=(3, 2))
    want = np.array([X[labels == j].mean(axis=0) for j in range(3)])
    expect_close(
        run(impl.kmeans_update, X, labels, C),
        want,
        mistakes={
            "divide every cluster's sum by n": np.array([X[labels == j].sum(axis=0) / 12 for j in range(3)]),
            "keep the sums without dividing": np.array([X[labels == j].sum(axis=0) for j in range(3)]),
        },
    )


@exercise("kmeans_update")
def test_kmeans_update_keeps_an_empty_clusters_centre(impl):
    X, labels = np.array([[0.0, 1.0], [2.0, 3.0], [4.0, 4.0]]), np.array([0, 0, 2])
    C = np.array([[9.0, 9.0], [7.0, -7.0], [5.0, 5.0]])
    expect_close(
        run(impl.kmeans_update, X, labels, C),
        np.array([[1.0, 2.0], [7.0, -7.0], [4.0, 4.0]]),
        what="cluster 1 has no rows: its centre stays where it was",
        mistakes={
            "move an empty cluster's centre to the origin": np.array([[1.0, 2.0], [0.0, 0.0], [4.0, 4.0]])
        },
    )


# ------------------------------------------------------------------------- kmeans_plus_plus


def _kpp_replay(X, k, g, power=2, nearest=True, uniform=False):
    n = len(X)
    chosen = [int(g.integers(n))]
    for _ in range(1, k):
        D = _sq(X, X[chosen])
        d2 = D.min(axis=1) if nearest else D[:, 0]
        w = d2 ** (power / 2)
        chosen.append(int(g.choice(n)) if uniform else int(g.choice(n, p=w / w.sum())))
    return X[chosen]


@exercise("kmeans_plus_plus")
def test_kmeans_plus_plus_replays_d2_sampling(impl):
    X, _ = _blobs(2, n_per=8, spread=1.5)
    for seed in (0, 1, 2):
        want = _kpp_replay(X, 4, rng(seed))
        expect_close(
            run(impl.kmeans_plus_plus, X, 4, rng(seed)),
            want,
            what=f"the centres drawn with np.random.default_rng({seed})",
            mistakes={
                "seed uniformly (rng.choice(n) without D² weights)": lambda seed=seed: _kpp_replay(
                    X, 4, rng(seed), uniform=True
                ),
                "weight by the distance D instead of D²": lambda seed=seed: _kpp_replay(
                    X, 4, rng(seed), power=1
                ),
                "measure D from the first centre only, not the nearest chosen centre": lambda seed=seed: (
                    _kpp_replay(X, 4, rng(seed), nearest=False)
                ),
                "ignore the rng passed in (seeded afresh)": lambda seed=seed: _kpp_replay(
                    X, 4, np.random.default_rng()
                ),
            },
        )


@exercise("kmeans_plus_plus")
def test_kmeans_plus_plus_prefers_far_points(impl):
    # Nine points near the origin and one far away: the second centre is the far point with
    # probability at least 0.95 under D² sampling (about 0.1 under uniform seeding).
    g = rng(3)
    X = np.concatenate([0.1 * g.normal(size=(9, 2)), [[10.0, 10.0]]])
    far = 0
    for seed in range(400):
        C = np.asarray(impl.kmeans_plus_plus(X, 2, rng(seed)))
        far += bool(np.any(np.all(C == X[9], axis=1)))
    expect(
        far / 400 > 0.93,
        f"kmeans_plus_plus(X, 2, rng) chose the far point as a centre in {far} of 400 seeds; D² sampling "
        "chooses it almost always (a uniform choice about one time in five)",
    )


@exercise("kmeans_plus_plus")
def test_kmeans_plus_plus_never_repeats_a_point(impl):
    X = np.arange(12.0).reshape(6, 2)
    C = np.asarray(run(impl.kmeans_plus_plus, X, 6, rng(4)).value)
    expect(
        len({tuple(c) for c in C.tolist()}) == 6,
        "kmeans_plus_plus(X, k=6 = n, rng) chose a row twice; a chosen row has D² = 0 and probability 0",
    )


# ----------------------------------------------------------------------------------- kmeans


def _lloyd(X, k, g, max_iter=100):
    C = _kpp_replay(X, k, g)
    labels = None
    for _ in range(max_iter):
        new = _sq(X, C).argmin(axis=1)
        if labels is not None and np.array_equal(new, labels):
            break
        labels = new
        C = np.array([X[labels == j].mean(axis=0) if np.any(labels == j) else C[j] for j in range(k)])
    labels = _sq(X, C).argmin(axis=1)
    return C, labels, float(sum(np.sum((X[i] - C[labels[i]]) ** 2) for i in range(len(X))))


@exercise("kmeans")
def test_kmeans_replays_lloyds_algorithm(impl):
    X, _ = _blobs(5, n_per=10, spread=2.0)  # overlapping: several passes
    for seed, max_iter in ((0, 100), (1, 100), (2, 2)):
        C_w, labels_w, inertia_w = _lloyd(X, 3, rng(seed), max_iter)
        call = run(impl.kmeans, X, 3, rng(seed), max_iter=max_iter)
        C, labels, inertia = expect_parts(call, ["C", "labels", "inertia"], [(3, 2), (30,), None])
        expect_close(Call(C, f"{call}[0], C"), C_w)
        expect_equal(Call(labels, f"{call}[1], labels"), labels_w)
        expect_close(
            Call(inertia, f"{call}[2], inertia"),
            inertia_w,
            mistakes={"return the mean squared distance instead of the sum": inertia_w / len(X)},
        )


@exercise("kmeans")
def test_kmeans_finds_separated_blobs_on_30_seeds(impl):
    for seed in range(30):
        X, truth = _blobs(100 + seed)
        labels = np.asarray(impl.kmeans(X, 3, rng(seed))[1])
        expect(
            _same_partition(labels, truth),
            f"kmeans(X, 3, np.random.default_rng({seed})) on three well-separated blobs did not find them "
            "(the reference finds them on each of 30 seeds)",
        )


@exercise("kmeans")
def test_kmeans_agrees_with_scikit_learn_from_the_same_start(impl):
    try:
        from sklearn.cluster import KMeans
    except ImportError:
        return
    X, _ = _blobs(6, n_per=20, spread=2.5)
    C0 = _kpp_replay(X, 4, rng(0))
    sk = KMeans(4, init=C0, n_init=1, algorithm="lloyd", tol=0.0, max_iter=300).fit(X)
    C, labels, inertia = impl.kmeans(X, 4, rng(0), max_iter=300)
    expect(
        _same_partition(labels, sk.labels_),
        "kmeans: a different partition than scikit-learn's KMeans from the same start",
    )
    expect_close(
        Call(inertia, "kmeans(X, 4, rng)[2], inertia"),
        float(sk.inertia_),
        rtol=1e-8,
        what="scikit-learn's inertia",
    )


# ------------------------------------------------------------------ gmm_log_responsibilities


def _mixture(seed, K=3, d=2):
    g = rng(seed)
    A = g.normal(size=(K, d, d))
    covs = A @ A.transpose(0, 2, 1) + 0.5 * np.eye(d)
    w = g.random(K) + 0.2
    return w / w.sum(), 2 * g.normal(size=(K, d)), covs


def _log_joint(X, weights, means, covs, log_weights=True, half_logdet=True, inverse=True):
    n, d = X.shape
    a = np.zeros((n, len(weights)))
    for k in range(len(weights)):
        P = np.linalg.inv(covs[k]) if inverse else covs[k]
        logdet = np.log(np.linalg.det(covs[k])) * (0.5 if half_logdet else 1.0)
        for i in range(n):
            r = X[i] - means[k]
            a[i, k] = (
                (np.log(weights[k]) if log_weights else 0.0)
                - 0.5 * d * np.log(2 * np.pi)
                - logdet
                - 0.5 * r @ P @ r
            )
    return a


def _lse(a, axis):
    m = a.max(axis=axis, keepdims=True)
    return np.squeeze(m, axis) + np.log(np.exp(a - m).sum(axis=axis))


@exercise("gmm_log_responsibilities")
def test_gmm_log_responsibilities_against_densities_one_point_at_a_time(impl):
    weights, means, covs = _mixture(0)
    X = 2 * rng(1).normal(size=(15, 2))
    a = _log_joint(X, weights, means, covs)
    call = run(impl.gmm_log_responsibilities, X, weights, means, covs)
    log_resp, loglik = expect_parts(call, ["log_resp", "loglik"], [(15, 3), None])
    wrongs = {
        "forget the log weights": _log_joint(X, weights, means, covs, log_weights=False),
        "take the whole log det Σ instead of half": _log_joint(X, weights, means, covs, half_logdet=False),
        "use Σ in the quadratic form instead of Σ⁻¹": _log_joint(X, weights, means, covs, inverse=False),
    }
    expect_close(
        Call(log_resp, f"{call}[0], log_resp"),
        a - _lse(a, 1)[:, None],
        mistakes={phrase: b - _lse(b, 1)[:, None] for phrase, b in wrongs.items()}
        | {"normalise over the rows (axis 0) instead of the components": a - _lse(a, 0)[None, :]},
    )
    expect_close(
        Call(loglik, f"{call}[1], loglik"),
        float(_lse(a, 1).sum()),
        mistakes={phrase: float(_lse(b, 1).sum()) for phrase, b in wrongs.items()}
        | {"average the log-likelihood over the rows instead of summing": float(_lse(a, 1).mean())},
    )


@exercise("gmm_log_responsibilities")
def test_gmm_log_responsibilities_far_from_every_component(impl):
    weights, means, covs = _mixture(2)
    X = np.array([[300.0, -200.0], [-250.0, 400.0], [0.5, 0.5]])  # log densities far below −1000
    a = _log_joint(X, weights, means, covs)
    call = run(impl.gmm_log_responsibilities, X, weights, means, covs)
    log_resp, loglik = expect_parts(call, ["log_resp", "loglik"], [(3, 3), None])
    expect_close(Call(log_resp, f"{call}[0], log_resp"), a - _lse(a, 1)[:, None], rtol=1e-8, atol=1e-8)
    expect_close(Call(loglik, f"{call}[1], loglik"), float(_lse(a, 1).sum()), rtol=1e-10)


# ------------------------------------------------------------------------------- gmm_m_step


def _m_step_loop(X, resp, reg, ddof=0.0):
    n, d = X.shape
    K = resp.shape[1]
    Nk = resp.sum(axis=0)
    means = np.array([sum(resp[i, k] * X[i] for i in range(n)) / Nk[k] for k in range(K)])
    covs = np.array(
        [
            sum(resp[i, k] * np.outer(X[i] - means[k], X[i] - means[k]) for i in range(n)) / (Nk[k] - ddof)
            + reg * np.eye(d)
            for k in range(K)
        ]
    )
    return Nk / n, means, covs


@exercise("gmm_m_step")
def test_gmm_m_step_against_weighted_sums(impl):
    g = rng(3)
    X = g.normal(size=(25, 3))
    resp = g.random((25, 4)) ** 3
    resp /= resp.sum(axis=1, keepdims=True)
    w, m, c = _m_step_loop(X, resp, 0.01)
    call = run(impl.gmm_m_step, X, resp, 0.01)
    weights, means, covs = expect_parts(call, ["weights", "means", "covs"], [(4,), (4, 3), (4, 3, 3)])
    expect_close(
        Call(weights, f"{call}[0], weights"),
        w,
        mistakes={"divide N_k by the number of components K instead of n": resp.sum(axis=0) / 4},
    )
    expect_close(Call(means, f"{call}[1], means"), m)
    Nk = resp.sum(axis=0)
    expect_close(
        Call(covs, f"{call}[2], covs"),
        c,
        mistakes={
            "divide by N_k − 1": _m_step_loop(X, resp, 0.01, ddof=1.0)[2],
            "forget to add reg·I": c - 0.01 * np.eye(3),
            "centre on the overall mean instead of each component's mean": np.array(
                [
                    sum(resp[i, k] * np.outer(X[i] - X.mean(0), X[i] - X.mean(0)) for i in range(25)) / Nk[k]
                    + 0.01 * np.eye(3)
                    for k in range(4)
                ]
            ),
        },
    )


@exercise("gmm_m_step")
def test_gmm_m_step_default_reg(impl):
    X = np.array([[0.0, 0.0], [2.0, 0.0], [0.0, 2.0], [2.0, 2.0]])
    resp = np.array([[1.0, 0.0], [1.0, 0.0], [0.0, 1.0], [0.0, 1.0]])
    covs = impl.gmm_m_step(X, resp)[2]
    expect_close(
        Call(covs, "gmm_m_step(X, resp)[2], covs with the default reg = 1e-6"),
        np.array([[[1.0 + 1e-6, 0.0], [0.0, 1e-6]], [[1.0 + 1e-6, 0.0], [0.0, 1e-6]]]),
        rtol=1e-9,
        atol=1e-12,
    )


# ----------------------------------------------------------------------------------- gmm_em


def _em_replay(X, K, g, max_iter, tol, reg):
    n, d = X.shape
    weights = np.full(K, 1.0 / K)
    means = X[g.choice(n, size=K, replace=False)]
    covs = np.array([np.cov(X, rowvar=False, bias=True) + reg * np.eye(d)] * K)
    lls = []
    for _ in range(max_iter):
        a = _log_joint(X, weights, means, covs)
        ll = float(_lse(a, 1).sum())
        lls.append(ll)
        if len(lls) > 1 and ll - lls[-2] < tol:
            break
        weights, means, covs = _m_step_loop(X, np.exp(a - _lse(a, 1)[:, None]), reg)
    return weights, means, covs, np.array(lls)


@exercise("gmm_em")
def test_gmm_em_replays_em(impl):
    X, _ = _blobs(7, n_per=8, spread=1.0)
    w, m, c, lls = _em_replay(X, 3, rng(0), 15, 1e-8, 1e-6)
    call = run(impl.gmm_em, X, 3, rng(0), max_iter=15)
    weights, means, covs, logliks = expect_parts(
        call, ["weights", "means", "covs", "logliks"], [(3,), (3, 2), (3, 2, 2), None]
    )
    expect_close(Call(logliks, f"{call}[3], logliks"), lls, rtol=1e-7)
    expect_close(Call(weights, f"{call}[0], weights"), w, rtol=1e-6, atol=1e-9)
    expect_close(Call(means, f"{call}[1], means"), m, rtol=1e-6, atol=1e-9)
    expect_close(Call(covs, f"{call}[2], covs"), c, rtol=1e-6, atol=1e-9)


@exercise("gmm_em")
def test_gmm_em_stops_when_the_gain_is_below_tol(impl):
    X, _ = _blobs(8, n_per=8, spread=0.8)
    lls = _em_replay(X, 2, rng(1), 200, 1e-3, 1e-6)[3]
    expect(len(lls) < 200, "the replay should converge")
    logliks = np.asarray(impl.gmm_em(X, 2, rng(1), max_iter=200, tol=1e-3)[3])
    expect_equal(Call(logliks.shape, "gmm_em(X, 2, rng, tol=1e-3)[3].shape, the passes made"), lls.shape)


@exercise("gmm_em")
def test_gmm_em_log_likelihood_never_decreases(impl):
    g = rng(9)
    X = np.concatenate([g.normal(size=(30, 2)), g.normal(size=(20, 2)) * [3.0, 0.5] + [2.0, 1.0]])
    for seed in range(3):
        logliks = np.asarray(impl.gmm_em(X, 3, rng(seed), max_iter=40, tol=-np.inf)[3])
        expect(
            len(logliks) == 40,
            f"gmm_em(..., max_iter=40, tol=-inf) recorded {len(logliks)} log-likelihoods, expected 40",
        )
        drops = np.diff(logliks)
        expect(
            drops.min() >= -1e-9 * abs(logliks[-1]),
            f"gmm_em(X, 3, np.random.default_rng({seed})): the log-likelihood fell by {-drops.min():.3g} "
            f"at pass {int(np.argmin(drops)) + 1}; EM never decreases it",
        )


# -------------------------------------------------------------------------------------- pca


def _pca_eigh(X, q, center=True, ddof=1):
    Xc = X - X.mean(axis=0) if center else X
    vals, vecs = np.linalg.eigh(Xc.T @ Xc / (len(X) - ddof))
    order = np.argsort(vals)[::-1][:q]
    comps = vecs[:, order].T
    comps *= np.sign(comps[np.arange(q), np.abs(comps).argmax(axis=1)])[:, None]
    return comps, vals[order], Xc @ comps.T


@exercise("pca")
def test_pca_against_the_covariance_eigenvectors(impl):
    for seed in range(3):
        g = rng(10 + seed)
        X = (
            g.normal(size=(40, 5))
            @ np.diag([4.0, 2.5, 1.5, 0.7, 0.2])
            @ np.linalg.qr(g.normal(size=(5, 5)))[0]
            + 3.0
        )
        comps, var, scores = _pca_eigh(X, 3)
        call = run(impl.pca, X, 3)
        got_c, got_v, got_s = expect_parts(
            call, ["components", "variances", "scores"], [(3, 5), (3,), (40, 3)]
        )
        expect_close(
            Call(got_c, f"{call}[0], components"),
            comps,
            rtol=1e-6,
            atol=1e-8,
            mistakes={
                "skip the sign convention": lambda X=X: np.linalg.svd(X - X.mean(0), full_matrices=False)[2][
                    :3
                ],
                "forget to centre X": lambda X=X: _pca_eigh(X, 3, center=False)[0],
                "take columns of U or of Vᵀ instead of rows of Vᵀ": lambda X=X: (
                    np.linalg.svd(X - X.mean(0), full_matrices=False)[2][:, :3].T
                ),
            },
        )
        expect_close(
            Call(got_v, f"{call}[1], variances"),
            var,
            mistakes={
                "divide by n instead of n − 1": var * (len(X) - 1) / len(X),
                "return the singular values instead of S² / (n − 1)": np.sqrt(var * (len(X) - 1)),
            },
        )
        expect_close(
            Call(got_s, f"{call}[2], scores"),
            scores,
            rtol=1e-6,
            atol=1e-8,
            mistakes={"project the uncentred X": X @ comps.T},
        )


@exercise("pca")
def test_pca_is_unchanged_by_flipping_or_shifting_the_data(impl):
    g = rng(13)
    X = g.normal(size=(30, 4)) @ np.diag([3.0, 2.0, 1.0, 0.5])
    c1 = np.asarray(impl.pca(X, 2)[0])
    c2 = np.asarray(impl.pca(-X + 7.0, 2)[0])
    expect_close(
        Call(c2, "pca(−X + 7, 2)[0], components"),
        c1,
        rtol=1e-6,
        atol=1e-8,
        what="the same as pca(X, 2)'s: the sign convention makes them unique",
    )


@exercise("pca")
def test_pca_agrees_with_scikit_learn(impl):
    try:
        from sklearn.decomposition import PCA
    except ImportError:
        return
    g = rng(14)
    X = g.normal(size=(50, 6)) @ g.normal(size=(6, 6))
    sk = PCA(3, svd_solver="full").fit(X)
    comps, var, _ = impl.pca(X, 3)
    expect_close(
        Call(var, "pca(X, 3)[1], variances"),
        sk.explained_variance_,
        what="scikit-learn's explained_variance_",
    )
    signs = np.sign(np.sum(np.asarray(comps) * sk.components_, axis=1))
    expect_close(
        Call(comps, "pca(X, 3)[0], components"),
        sk.components_ * signs[:, None],
        rtol=1e-6,
        atol=1e-8,
        what="scikit-learn's components up to sign",
    )


# -------------------------------------------------------------------------------------- nmf


def _nmf_replay(V, r, g, n_iter, eps=1e-10, w_old_h=False, h_first=False):
    m, n = V.shape
    if h_first:
        H = g.random((r, n))
        W = g.random((m, r))
    else:
        W = g.random((m, r))
        H = g.random((r, n))
    for _ in range(n_iter):
        H_new = H * (W.T @ V) / (W.T @ W @ H + eps)
        W = (
            W
            * (V @ (H if w_old_h else H_new).T)
            / (W @ (H if w_old_h else H_new) @ (H if w_old_h else H_new).T + eps)
        )
        H = H_new
    return W, H


@exercise("nmf")
def test_nmf_replays_the_multiplicative_updates(impl):
    g = rng(15)
    V = g.random((8, 3)) @ g.random((3, 10))
    W, H = _nmf_replay(V, 3, rng(0), 25)
    call = run(impl.nmf, V, 3, rng(0), n_iter=25)
    got_W, got_H = expect_parts(call, ["W", "H"], [(8, 3), (3, 10)])
    expect_close(
        Call(got_H, f"{call}[1], H"),
        H,
        rtol=1e-7,
        mistakes={
            "update W with the old H": lambda: _nmf_replay(V, 3, rng(0), 25, w_old_h=True)[1],
            "draw H before W": lambda: _nmf_replay(V, 3, rng(0), 25, h_first=True)[1],
        },
    )
    expect_close(Call(got_W, f"{call}[0], W"), W, rtol=1e-7)


@exercise("nmf")
def test_nmf_error_never_increases_and_factors_stay_non_negative(impl):
    g = rng(16)
    V = g.random((10, 12))
    V[:, 3] = 0.0  # an all-zero column: without eps, 0 / 0
    errors = []
    for n_iter in range(0, 13, 3):
        W, H = impl.nmf(V, 4, rng(1), n_iter=n_iter)
        W, H = np.asarray(W), np.asarray(H)
        expect(
            np.all(np.isfinite(W)) and np.all(np.isfinite(H)),
            f"nmf(V, 4, rng, n_iter={n_iter}) returned nan or inf "
            "(V has a zero column; add eps to the denominators)",
        )
        expect(
            np.all(W >= 0) and np.all(H >= 0), f"nmf(V, 4, rng, n_iter={n_iter}): negative entries in W or H"
        )
        errors.append(float(np.linalg.norm(V - W @ H)))
    expect(
        all(b <= a * (1 + 1e-12) for a, b in itertools.pairwise(errors)),
        f"nmf: ||V − W H|| after 0, 3, 6, 9, 12 iterations was "
        f"{np.round(errors, 5).tolist()}; it never increases",
    )


@exercise("kmeans_assign")
def test_kmeans_assign_with_one_centre_and_more_centres_than_rows(impl):
    X = np.array([[1.0, 2.0], [-3.0, 0.5]])
    call = run(impl.kmeans_assign, X, np.array([[0.0, 0.0]]))
    expect_equal(call, np.array([0, 0]))
    expect(np.asarray(call.value).dtype.kind in "iu", f"{call}: expected integer labels")
    C = np.array([[9.0, 9.0], [-3.0, 0.0], [1.0, 2.5], [0.0, 0.0], [5.0, 5.0]])
    expect_equal(run(impl.kmeans_assign, X, C), np.array([2, 1]))


@exercise("kmeans_update")
def test_kmeans_update_with_several_empty_clusters_in_one_dimension(impl):
    X, labels = np.array([[1.0], [3.0], [10.0]]), np.array([4, 4, 1])
    C = np.array([[-1.0], [0.0], [2.0], [7.0], [8.0]])
    expect_close(run(impl.kmeans_update, X, labels, C), np.array([[-1.0], [10.0], [2.0], [7.0], [2.0]]))


@exercise("gmm_log_responsibilities")
def test_gmm_log_responsibilities_of_one_component_in_one_dimension(impl):
    X = np.array([[0.0], [1.5], [-4.0]])
    mu, var = 0.5, 2.0
    logpdf = -0.5 * np.log(2 * np.pi * var) - (X[:, 0] - mu) ** 2 / (2 * var)
    call = run(impl.gmm_log_responsibilities, X, np.array([1.0]), np.array([[mu]]), np.array([[[var]]]))
    log_resp, loglik = expect_parts(call, ["log_resp", "loglik"], [(3, 1), None])
    expect_close(
        Call(log_resp, f"{call}[0], log_resp"),
        np.zeros((3, 1)),
        what="one component owns every row: log 1 = 0",
    )
    expect_close(
        Call(loglik, f"{call}[1], loglik"),
        float(logpdf.sum()),
        what="the sum of the normal log densities −½ log 2πσ² − (x − μ)² / 2σ²",
        mistakes={
            "use the standard deviation in place of the variance": float(
                (-0.5 * np.log(2 * np.pi * np.sqrt(var)) - (X[:, 0] - mu) ** 2 / (2 * np.sqrt(var))).sum()
            )
        },
    )


@exercise("gmm_m_step")
def test_gmm_m_step_with_hard_responsibilities_is_per_group_statistics(impl):
    g = rng(17)
    X = g.normal(size=(12, 2))
    groups = np.array([0, 1, 1, 0, 1, 0, 0, 1, 1, 1, 0, 1])
    resp = np.eye(2)[groups]
    weights, means, covs = impl.gmm_m_step(X, resp, 0.0)
    expect_close(Call(weights, "gmm_m_step(X, one-hot resp, reg=0)[0], weights"), np.array([5 / 12, 7 / 12]))
    expect_close(
        Call(means, "gmm_m_step(X, one-hot resp, reg=0)[1], means"),
        np.array([X[groups == k].mean(0) for k in range(2)]),
    )
    expect_close(
        Call(covs, "gmm_m_step(X, one-hot resp, reg=0)[2], covs"),
        np.array([np.cov(X[groups == k], rowvar=False, bias=True) for k in range(2)]),
        what="each group's covariance with divisor N_k",
    )


@exercise("nmf")
def test_nmf_with_no_iterations_returns_the_starting_draws(impl):
    V = rng(18).random((4, 6))
    g = rng(2)
    W0 = g.random((4, 2))
    H0 = g.random((2, 6))
    call = run(impl.nmf, V, 2, rng(2), n_iter=0)
    W, H = expect_parts(call, ["W", "H"], [(4, 2), (2, 6)])
    expect_close(Call(W, f"{call}[0], W"), W0, what="rng.random((m, r)), drawn first")
    expect_close(Call(H, f"{call}[1], H"), H0, what="rng.random((r, n)), drawn second")
