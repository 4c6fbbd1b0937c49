"""Tests for chapter 6, part 5: Gaussian and multinomial naive Bayes.

Expected values come from this file: per-class means, variances and word counts written
out class by class with Python loops, the posterior from Bayes' rule on small inputs in
linear space, probabilities far out in the tails from the log-space formula with the
log-sum-exp done by hand; and scikit-learn's GaussianNB and MultinomialNB where it is
installed (the same estimates: variances over n_k plus var_smoothing times the largest
column variance; theta with additive smoothing).
"""

import importlib

import numpy as np

from grader.testkit import Call, exercise, expect, expect_close, expect_parts, rng, run, run_without_warnings


def _optional(name):
    """scikit-learn's module `name`, or None without the data extra: the comparison with it
    then has nothing to compare with and passes, since the grader counts a skipped test as
    failed; the tests written from this file check the same behaviour either way."""
    try:
        return importlib.import_module(name)
    except ImportError:
        return None


def _classes(seed, n_per=(12, 7, 9), d=3):
    g = rng(seed)
    y = np.repeat(np.arange(len(n_per)), n_per)
    X = g.normal(size=(len(y), d)) * (1 + y[:, None]) + 2.0 * y[:, None]
    order = g.permutation(len(y))
    return X[order], y[order]


def _gauss_fit(X, y, K, smoothing=1e-9, ddof=0):
    eps = smoothing * max(np.var(X[:, j]) for j in range(X.shape[1]))
    prior = np.array([np.mean(y == k) for k in range(K)])
    means = np.array([[np.mean(X[y == k, j]) for j in range(X.shape[1])] for k in range(K)])
    var = np.array([[np.var(X[y == k, j], ddof=ddof) for j in range(X.shape[1])] for k in range(K)])
    return np.log(prior), means, var + eps


def _joint(log_prior, means, var, X):
    return np.array(
        [
            [
                log_prior[k]
                + sum(
                    -0.5 * np.log(2 * np.pi * var[k, j]) - (x[j] - means[k, j]) ** 2 / (2 * var[k, j])
                    for j in range(len(x))
                )
                for k in range(len(log_prior))
            ]
            for x in X
        ]
    )


def _normalise(joint):
    top = joint.max(1, keepdims=True)
    return joint - top - np.log(np.exp(joint - top).sum(1, keepdims=True))


# --------------------------------------------------------------------------- fit_gaussian_nb


@exercise("fit_gaussian_nb")
def test_fit_gaussian_nb_per_class_estimates(impl):
    X, y = _classes(0)
    call = run(impl.fit_gaussian_nb, X, y, 3)
    log_prior, means, var = expect_parts(call, ("log_prior", "means", "variances"), ((3,), (3, 3), (3, 3)))
    want = _gauss_fit(X, y, 3)
    expect_close(
        Call(log_prior, f"{call}[0], log_prior"),
        want[0],
        what="log(n_k / n)",
        mistakes={
            "return the prior n_k / n without the log": np.exp(want[0]),
            "return log n_k without dividing by n": np.log(np.bincount(y)),
        },
    )
    expect_close(
        Call(means, f"{call}[1], means"),
        want[1],
        what="the mean of each feature over the rows of class k",
        mistakes={"average over all rows, not each class's": np.tile(X.mean(0), (3, 1))},
    )
    expect_close(
        Call(var, f"{call}[2], variances"),
        want[2],
        what="mean squared deviation from the class mean (divide by n_k), plus the smoothing",
        mistakes={
            "divide by n_k − 1 instead of n_k": _gauss_fit(X, y, 3, ddof=1)[2],
            "take the standard deviation instead of the variance": np.sqrt(want[2]),
        },
    )


@exercise("fit_gaussian_nb")
def test_fit_gaussian_nb_smooths_the_variances(impl):
    X, y = _classes(1)
    X[:, 1] = np.where(y == 0, 3.0, X[:, 1])  # constant within class 0
    for smoothing in (1e-9, 0.1):
        call = run(impl.fit_gaussian_nb, X, y, 3, smoothing)
        var = expect_parts(call, ("log_prior", "means", "variances"))[2]
        want = _gauss_fit(X, y, 3, smoothing)[2]
        plain = _gauss_fit(X, y, 3, 0.0)[2]
        expect_close(
            Call(var, f"{call}[2], variances"),
            want,
            rtol=1e-9,
            atol=0,
            what=f"feature 1 is constant in class 0: its variance is {smoothing:g} × the largest "
            "column variance",
            mistakes={
                "forget the smoothing": plain,
                "scale the smoothing by the mean column variance, not the largest": plain
                + smoothing * X.var(0).mean(),
                "scale the smoothing by each class's own largest variance": plain
                + smoothing * plain.max(1, keepdims=True),
            },
        )


@exercise("fit_gaussian_nb")
def test_fit_gaussian_nb_matches_scikit_learn(impl):
    naive_bayes = _optional("sklearn.naive_bayes")
    if naive_bayes is None:
        return
    X, y = _classes(2, n_per=(30, 20, 25, 5), d=5)
    log_prior, means, var = run(impl.fit_gaussian_nb, X, y, 4).value
    ref = naive_bayes.GaussianNB().fit(X, y)
    expect_close(Call(np.exp(log_prior), "exp(log_prior)"), ref.class_prior_, what="GaussianNB.class_prior_")
    expect_close(Call(means, "means"), ref.theta_, what="GaussianNB.theta_")
    expect_close(Call(var, "variances"), ref.var_, what="GaussianNB.var_")


# --------------------------------------------------------------------- gaussian_nb_log_proba


@exercise("gaussian_nb_log_proba")
def test_gaussian_nb_log_proba_is_bayes_rule(impl):
    X, y = _classes(3)
    params = _gauss_fit(X, y, 3)
    Xt = rng(4).normal(size=(10, 3)) * 2 + 1
    joint = _joint(*params, Xt)
    # in linear space, as Bayes' rule reads: fine for points near the data
    posterior = np.exp(joint) / np.exp(joint).sum(1, keepdims=True)
    expect_close(
        run(impl.gaussian_nb_log_proba, *params, Xt),
        np.log(posterior),
        what="log p(y = k | x), normalised over the classes",
        mistakes={
            "leave the joint log-probability unnormalised": joint,
            "leave out the log prior": lambda: _normalise(joint - params[0]),
            "leave out the −½ log(2π σ²) term (it differs between classes)": lambda: _normalise(
                _joint(params[0], params[1], params[2], Xt) + 0.5 * np.log(2 * np.pi * params[2]).sum(1)
            ),
            "divide (x − μ)² by σ² without the ½": lambda: _normalise(
                joint - (((Xt[:, None, :] - params[1]) ** 2) / (2 * params[2])).sum(2)
            ),
        },
    )


@exercise("gaussian_nb_log_proba")
def test_gaussian_nb_log_proba_far_from_the_data(impl):
    X, y = _classes(5)
    params = _gauss_fit(X, y, 3)
    Xt = np.array([[60.0, -45.0, 80.0], [-200.0, 150.0, 0.0], [1.0, 2.0, 3.0]])
    call = run_without_warnings(impl.gaussian_nb_log_proba, *params, Xt)
    got = np.asarray(call.value)
    expect(
        np.all(np.isfinite(got)),
        f"{call}: got {got}; far from every class the joint densities are below 1e-300, exp underflows "
        "to 0 and log(0/0) is nan: subtract each row's largest joint log-probability before exp "
        "(log_softmax_rows)",
    )
    expect_close(
        call, _normalise(_joint(*params, Xt)), what="the log-space posterior, finite however far out"
    )
    expect_close(
        Call(np.exp(got).sum(1), f"exp({call}).sum(axis=1)"), np.ones(3), what="each row is a distribution"
    )


@exercise("gaussian_nb_log_proba")
def test_gaussian_nb_log_proba_matches_scikit_learn(impl):
    naive_bayes = _optional("sklearn.naive_bayes")
    if naive_bayes is None:
        return
    X, y = _classes(6, n_per=(15, 25, 10), d=4)
    ref = naive_bayes.GaussianNB().fit(X, y)
    Xt = rng(7).normal(size=(40, 4)) * 6
    params = (np.log(ref.class_prior_), ref.theta_, ref.var_)
    expect_close(
        run(impl.gaussian_nb_log_proba, *params, Xt),
        ref.predict_log_proba(Xt),
        rtol=1e-6,
        atol=1e-8,
        what="GaussianNB.predict_log_proba",
    )


# ------------------------------------------------------------------------ fit_multinomial_nb


def _counts(seed, n=30, V=8, K=3):
    g = rng(seed)
    y = np.arange(n) % K
    rates = g.gamma(1.0, size=(K, V)) * 2
    rates[:, -1] = 0.0  # the last word never occurs
    return g.poisson(rates[y]), y


def _multi_fit(X, y, K, alpha=1.0):
    V = X.shape[1]
    prior = np.array([np.mean(y == k) for k in range(K)])
    N = np.array([[X[y == k, v].sum() for v in range(V)] for k in range(K)], dtype=float)
    theta = (N + alpha) / (N.sum(1, keepdims=True) + alpha * V)
    return np.log(prior), np.log(theta)


@exercise("fit_multinomial_nb")
def test_fit_multinomial_nb_smoothed_word_probabilities(impl):
    X, y = _counts(8)
    for alpha in (1.0, 0.25):
        call = run(impl.fit_multinomial_nb, X, y, 3, alpha)
        log_prior, log_theta = expect_parts(call, ("log_prior", "log_theta"), ((3,), (3, 8)))
        want = _multi_fit(X, y, 3, alpha)
        N = np.array([X[y == k].sum(0) for k in range(3)], dtype=float)
        expect_close(
            Call(log_prior, f"{call}[0], log_prior"),
            want[0],
            what="log of each class's share of the documents",
            mistakes={"count words, not documents, for the prior": np.log(N.sum(1) / N.sum())},
        )
        with np.errstate(divide="ignore"):
            unsmoothed = np.log(N / N.sum(1, keepdims=True))
        expect_close(
            Call(log_theta, f"{call}[1], log_theta"),
            want[1],
            what=f"log (N[k, v] + {alpha:g}) / (Σ_v N[k, v] + {alpha:g} V); word 7 never occurs",
            mistakes={
                "forget the smoothing (an unseen word gets log 0)": unsmoothed,
                "add alpha once to the denominator instead of alpha · V": np.log(
                    (N + alpha) / (N.sum(1, keepdims=True) + alpha)
                ),
                "normalise over the classes instead of the words": np.log((N + alpha) / (N + alpha).sum(0)),
            },
        )
        expect_close(
            Call(np.exp(log_theta).sum(1), f"exp({call}[1]).sum(axis=1)"),
            np.ones(3),
            what="each class's word distribution",
        )


@exercise("fit_multinomial_nb")
def test_fit_multinomial_nb_matches_scikit_learn(impl):
    naive_bayes = _optional("sklearn.naive_bayes")
    if naive_bayes is None:
        return
    X, y = _counts(9, n=50, V=12, K=4)
    log_prior, log_theta = run(impl.fit_multinomial_nb, X, y, 4, 0.5).value
    ref = naive_bayes.MultinomialNB(alpha=0.5).fit(X, y)
    expect_close(Call(log_prior, "log_prior"), ref.class_log_prior_, what="MultinomialNB.class_log_prior_")
    expect_close(Call(log_theta, "log_theta"), ref.feature_log_prob_, what="MultinomialNB.feature_log_prob_")


# ------------------------------------------------------------------ multinomial_nb_log_proba


@exercise("multinomial_nb_log_proba")
def test_multinomial_nb_log_proba_is_bayes_rule(impl):
    X, y = _counts(10)
    log_prior, log_theta = _multi_fit(X, y, 3)
    Xt = rng(11).poisson(1.0, size=(6, 8))
    joint = np.array(
        [[log_prior[k] + sum(x[v] * log_theta[k, v] for v in range(8)) for k in range(3)] for x in Xt]
    )
    expect_close(
        run(impl.multinomial_nb_log_proba, log_prior, log_theta, Xt),
        np.log(np.exp(joint) / np.exp(joint).sum(1, keepdims=True)),
        what="log p(y = k | counts), normalised over the classes",
        mistakes={
            "leave the joint log-probability unnormalised": joint,
            "leave out the log prior": lambda: _normalise(joint - log_prior),
            "count each word once, whatever its count": lambda: _normalise(
                log_prior + (Xt > 0) @ log_theta.T
            ),
        },
    )


@exercise("multinomial_nb_log_proba")
def test_multinomial_nb_log_proba_on_long_documents(impl):
    X, y = _counts(12)
    log_prior, log_theta = _multi_fit(X, y, 3)
    Xt = X[:4] * 400  # documents thousands of words long: joints around −10⁴
    call = run_without_warnings(impl.multinomial_nb_log_proba, log_prior, log_theta, Xt)
    got = np.asarray(call.value)
    expect(
        np.all(np.isfinite(got)),
        f"{call}: got {got}; the joint log-probabilities are near −10⁴ and exp of them is 0: "
        "normalise in log space",
    )
    expect_close(call, _normalise(log_prior + Xt @ log_theta.T), what="the log-space posterior")


@exercise("multinomial_nb_log_proba")
def test_multinomial_nb_log_proba_matches_scikit_learn(impl):
    naive_bayes = _optional("sklearn.naive_bayes")
    if naive_bayes is None:
        return
    X, y = _counts(13, n=60, V=10, K=3)
    ref = naive_bayes.MultinomialNB(alpha=1.0).fit(X, y)
    Xt = rng(14).poisson(3.0, size=(20, 10))
    expect_close(
        run(impl.multinomial_nb_log_proba, ref.class_log_prior_, ref.feature_log_prob_, Xt),
        ref.predict_log_proba(Xt),
        what="MultinomialNB.predict_log_proba",
    )


@exercise("fit_multinomial_nb")
def test_fit_multinomial_nb_priors_count_documents(impl):
    X = np.array([[3, 0, 1], [0, 0, 9], [2, 2, 0], [1, 0, 0], [0, 5, 5]])
    y = np.array([0, 1, 1, 1, 0])
    call = run(impl.fit_multinomial_nb, X, y, 2)
    log_prior, log_theta = expect_parts(call, ("log_prior", "log_theta"), ((2,), (2, 3)))
    expect_close(
        Call(log_prior, f"{call}[0], log_prior"),
        np.log([2 / 5, 3 / 5]),
        what="2 of 5 documents are of class 0",
        mistakes={"count words, not documents, for the prior": np.log([14 / 27, 13 / 27])},
    )
    expect_close(
        Call(log_theta, f"{call}[1], log_theta"),
        np.log([[4 / 17, 6 / 17, 7 / 17], [4 / 17, 3 / 17, 10 / 17]]),
        what="class 0 counts [3, 5, 6] and class 1 counts [3, 2, 9], each + 1, over their sum + 3",
    )
