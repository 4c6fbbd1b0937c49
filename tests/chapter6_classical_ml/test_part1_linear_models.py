"""Tests for chapter 6, part 1: least squares, ridge, logistic and softmax regression, and
Bayesian linear regression.

Expected values come from this file: closed forms written out on small generated data
(the normal equations, ridge with an unpenalised intercept as an augmented system), loss
gradients against central differences, gradient-descent runs replayed step by step,
invariances (shifting y moves only ridge's intercept; the Bayesian posterior updated in two
halves equals the posterior of all the data), and scikit-learn's LinearRegression and Ridge
when it is installed (skipped without). Trained models must reach accuracies that held on
30 split seeds (worst seed in the reading).
"""

import numpy as np

from coursedata import load_breast_cancer, load_iris, standardize_split
from grader.testkit import (
    Call,
    exercise,
    expect,
    expect_close,
    expect_parts,
    numeric_grad,
    rng,
    run,
    run_without_warnings,
)


def _regression(seed, n=30, d=4, noise=0.3, offset=0.0):
    g = rng(seed)
    X = g.normal(size=(n, d)) + offset
    w, b = g.normal(size=d), float(g.normal()) + 3.0
    return X, X @ w + b + noise * g.normal(size=n), w, b


def _classes(seed, n=40, d=3, K=2, scale=1.0):
    g = rng(seed)
    return scale * g.normal(size=(n, d)), g.integers(0, K, size=n)


def _design(X):
    return np.column_stack([np.ones(len(X)), X])


def _normal_equations(X, y):
    A = _design(X)
    theta = np.linalg.solve(A.T @ A, A.T @ y)
    return theta[1:], float(theta[0])


# ---------------------------------------------------------------------------------- ols_fit


@exercise("ols_fit")
def test_ols_fit_solves_the_normal_equations(impl):
    X, y, _, _ = _regression(0)
    call = run(impl.ols_fit, X, y)
    w, b = expect_parts(call, ["w", "b"], [(4,), None])
    want_w, want_b = _normal_equations(X, y)
    no_intercept = np.linalg.lstsq(X, y, rcond=None)[0]
    expect_close(
        Call(w, f"{call}[0], w"),
        want_w,
        mistakes={
            "fit without the column of ones (no intercept)": no_intercept,
            "return the whole parameter vector's first d entries (b, w_1 … w_{d−1})": lambda: np.linalg.lstsq(
                _design(X), y, rcond=None
            )[0][:4],
        },
    )
    expect_close(
        Call(b, f"{call}[1], b"), want_b, mistakes={"fit without the column of ones (no intercept)": 0.0}
    )


@exercise("ols_fit")
def test_ols_fit_recovers_a_noiseless_line_exactly(impl):
    X, y, w, b = _regression(1, n=12, d=3, noise=0.0, offset=10.0)
    call = run(impl.ols_fit, X, y)
    got_w, got_b = expect_parts(call, ["w", "b"], [(3,), None])
    expect_close(Call(got_w, f"{call}[0], w"), w, what="y = Xw + b exactly, so w comes back")
    expect_close(Call(got_b, f"{call}[1], b"), b, what="y = Xw + b exactly, so b comes back")


@exercise("ols_fit")
def test_ols_fit_matches_scikit_learn(impl):
    try:
        from sklearn.linear_model import LinearRegression
    except ImportError:  # without the data extra there is nothing to compare with (a skip would fail)
        return

    X, y, _, _ = _regression(2, n=60, d=6)
    model = LinearRegression().fit(X, y)
    w, b = run(impl.ols_fit, X, y).value
    expect_close(Call(w, "ols_fit(X, y)[0], w"), model.coef_, what="scikit-learn's LinearRegression coef_")
    expect_close(Call(b, "ols_fit(X, y)[1], b"), float(model.intercept_), what="scikit-learn's intercept_")


# ------------------------------------------------------------------------------ mse_gradient


@exercise("mse_gradient")
def test_mse_gradient_values(impl):
    X, y, _, _ = _regression(3, n=10, d=3)
    w, b = rng(4).normal(size=3), 0.7
    call = run(impl.mse_gradient, X, y, w, b)
    loss, dw, db = expect_parts(call, ["L", "dL/dw", "dL/db"], [None, (3,), None])
    r = X @ w + b - y
    n = len(y)
    expect_close(
        Call(loss, f"{call}[0], L"),
        float(np.mean(r**2)),
        mistakes={
            "sum the squared residuals instead of taking their mean": float(np.sum(r**2)),
            "leave out the intercept b from the residuals": float(np.mean((X @ w - y) ** 2)),
        },
    )
    expect_close(
        Call(dw, f"{call}[1], dL/dw"),
        2 / n * X.T @ r,
        mistakes={
            "forget the factor 2": X.T @ r / n,
            "sum over the examples instead of taking the mean": 2 * X.T @ r,
            "take the residuals as y − (Xw + b), flipping the gradient's sign": -2 / n * X.T @ r,
            "leave out the intercept b from the residuals": 2 / n * X.T @ (X @ w - y),
        },
    )
    expect_close(
        Call(db, f"{call}[2], dL/db"),
        float(2 / n * r.sum()),
        mistakes={"forget the factor 2": float(r.mean()), "return 0 for the intercept's gradient": 0.0},
    )


@exercise("mse_gradient")
def test_mse_gradient_matches_central_differences(impl):
    X, y, _, _ = _regression(5, n=8, d=2)
    w, b = np.array([0.3, -1.2]), -0.4
    _, dw, db = run(impl.mse_gradient, X, y, w, b).value
    loss = lambda v: np.mean((X @ v[1:] + v[0] - y) ** 2)  # noqa: E731
    numeric = numeric_grad(loss, np.concatenate([[b], w]))
    expect_close(
        Call(dw, "mse_gradient(X, y, w, b)[1], dL/dw"),
        numeric[1:],
        rtol=1e-5,
        atol=1e-7,
        what="central differences",
    )
    expect_close(
        Call(db, "mse_gradient(X, y, w, b)[2], dL/db"),
        float(numeric[0]),
        rtol=1e-5,
        atol=1e-7,
        what="central differences",
    )


@exercise("mse_gradient")
def test_mse_gradient_vanishes_at_the_least_squares_solution(impl):
    X, y, _, _ = _regression(24, n=25, d=3)
    w, b = _normal_equations(X, y)
    call = run(impl.mse_gradient, X, y, w, b)
    loss, dw, db = expect_parts(call, ["L", "dL/dw", "dL/db"], [None, (3,), None])
    expect_close(
        Call(dw, f"{call}[1], dL/dw"), np.zeros(3), atol=1e-9, what="zero: (w, b) solves the normal equations"
    )
    expect_close(Call(db, f"{call}[2], dL/db"), 0.0, atol=1e-9, what="zero: the residuals of OLS sum to 0")
    r = X @ w + b - y
    expect_close(Call(loss, f"{call}[0], L"), float(np.mean(r**2)))


# ---------------------------------------------------------------------- ols_gradient_descent


def _gd(X, y, lr, steps, record_after=False, update_b=True):
    w, b, losses = np.zeros(X.shape[1]), 0.0, []
    n = len(y)
    for _ in range(steps):
        r = X @ w + b - y
        if not record_after:
            losses.append(np.mean(r**2))
        w, b = w - lr * 2 / n * X.T @ r, (b - lr * 2 / n * r.sum()) if update_b else b
        if record_after:
            losses.append(np.mean((X @ w + b - y) ** 2))
    return w, b, np.array(losses)


@exercise("ols_gradient_descent")
def test_ols_gradient_descent_replays_step_by_step(impl):
    X, y, _, _ = _regression(6, n=20, d=3)
    call = run(impl.ols_gradient_descent, X, y, 0.05, 4)
    w, b, losses = expect_parts(call, ["w", "b", "losses"], [(3,), None, (4,)])
    want_w, want_b, want_losses = _gd(X, y, 0.05, 4)
    expect_close(
        Call(losses, f"{call}[2], losses"),
        want_losses,
        what="losses[t] is the loss before step t (losses[0] at w = 0, b = 0)",
        mistakes={
            "record the loss after each step instead of before": _gd(X, y, 0.05, 4, record_after=True)[2]
        },
    )
    expect_close(
        Call(w, f"{call}[0], w"), want_w, mistakes={"never update b": _gd(X, y, 0.05, 4, update_b=False)[0]}
    )
    expect_close(Call(b, f"{call}[1], b"), want_b, mistakes={"never update b": 0.0})


@exercise("ols_gradient_descent")
def test_ols_gradient_descent_reaches_the_least_squares_solution(impl):
    X, y, _, _ = _regression(7, n=40, d=3)
    w, b, losses = run(impl.ols_gradient_descent, X, y, 0.1, 400).value
    want_w, want_b = _normal_equations(X, y)
    expect_close(
        Call(w, "ols_gradient_descent(X, y, lr=0.1, steps=400)[0], w"),
        want_w,
        rtol=1e-5,
        atol=1e-6,
        what="the closed-form w",
    )
    expect_close(
        Call(b, "ols_gradient_descent(X, y, lr=0.1, steps=400)[1], b"),
        want_b,
        rtol=1e-5,
        atol=1e-6,
        what="the closed-form b",
    )
    expect(
        bool(np.all(np.diff(losses) <= 1e-12)),
        "ols_gradient_descent: with lr = 0.1 the recorded losses must never increase",
    )


@exercise("ols_gradient_descent")
def test_ols_gradient_descent_with_no_steps_returns_the_start(impl):
    X, y, _, _ = _regression(25, n=6, d=2)
    call = run(impl.ols_gradient_descent, X, y, 0.1, 0)
    w, b, losses = expect_parts(call, ["w", "b", "losses"], [(2,), None, (0,)])
    expect_close(Call(w, f"{call}[0], w"), np.zeros(2), what="no steps: the starting w = 0")
    expect_close(Call(b, f"{call}[1], b"), 0.0, what="no steps: the starting b = 0")
    call = run(impl.ols_gradient_descent, X, y, 0.1, 1)
    expect_close(
        Call(call.value[2], f"{call}[2], losses"), np.array([np.mean(y**2)]), what="the loss at w = 0, b = 0"
    )


# ---------------------------------------------------------------------------------- ridge_fit


def _ridge(X, y, lam, penalise_intercept=False):
    A = _design(X)
    penalty = lam * np.eye(A.shape[1])
    if not penalise_intercept:
        penalty[0, 0] = 0.0
    theta = np.linalg.solve(A.T @ A + penalty, A.T @ y)
    return theta[1:], float(theta[0])


@exercise("ridge_fit")
def test_ridge_fit_does_not_penalise_the_intercept(impl):
    X, y, _, _ = _regression(8, n=25, d=3, offset=4.0)
    call = run(impl.ridge_fit, X, y, 5.0)
    w, b = expect_parts(call, ["w", "b"], [(3,), None])
    want_w, want_b = _ridge(X, y, 5.0)
    uncentred = np.linalg.solve(X.T @ X + 5.0 * np.eye(3), X.T @ (y - y.mean()))
    expect_close(
        Call(w, f"{call}[0], w"),
        want_w,
        mistakes={
            "penalise the intercept too": _ridge(X, y, 5.0, penalise_intercept=True)[0],
            "forget to centre X": uncentred,
            "solve ordinary least squares (leave out lam)": _ridge(X, y, 0.0)[0],
        },
    )
    expect_close(
        Call(b, f"{call}[1], b"),
        want_b,
        mistakes={
            "penalise the intercept too": _ridge(X, y, 5.0, penalise_intercept=True)[1],
            "take b = mean(y) without subtracting mean(X)·w": float(y.mean()),
        },
    )


@exercise("ridge_fit")
def test_ridge_fit_shifting_y_moves_only_the_intercept(impl):
    X, y, _, _ = _regression(9, n=20, d=2, offset=-2.0)
    w, b = run(impl.ridge_fit, X, y, 3.0).value
    w2, b2 = run(impl.ridge_fit, X, y + 100.0, 3.0).value
    expect_close(
        Call(w2, "ridge_fit(X, y + 100, lam=3)[0], w"),
        w,
        what="w of ridge_fit(X, y, lam=3): an unpenalised intercept absorbs the shift",
    )
    expect_close(
        Call(b2, "ridge_fit(X, y + 100, lam=3)[1], b"), b + 100.0, what="b of ridge_fit(X, y, lam=3) plus 100"
    )


@exercise("ridge_fit")
def test_ridge_fit_limits(impl):
    X, y, _, _ = _regression(10, n=20, d=3, offset=1.0)
    w, b = run(impl.ridge_fit, X, y, 0.0).value
    want_w, want_b = _normal_equations(X, y)
    expect_close(Call(w, "ridge_fit(X, y, lam=0)[0], w"), want_w, what="ordinary least squares")
    expect_close(Call(b, "ridge_fit(X, y, lam=0)[1], b"), want_b, what="ordinary least squares")
    w, b = run(impl.ridge_fit, X, y, 1e9).value
    expect_close(
        Call(w, "ridge_fit(X, y, lam=1e9)[0], w"), np.zeros(3), atol=1e-6, what="a huge penalty leaves w ≈ 0"
    )
    expect_close(
        Call(b, "ridge_fit(X, y, lam=1e9)[1], b"),
        float(y.mean()),
        rtol=1e-5,
        what="mean(y): the intercept alone",
    )


@exercise("ridge_fit")
def test_ridge_fit_matches_scikit_learn(impl):
    try:
        from sklearn.linear_model import Ridge
    except ImportError:  # without the data extra there is nothing to compare with (a skip would fail)
        return

    X, y, _, _ = _regression(11, n=50, d=5, offset=3.0)
    model = Ridge(alpha=7.0).fit(X, y)
    w, b = run(impl.ridge_fit, X, y, 7.0).value
    expect_close(
        Call(w, "ridge_fit(X, y, lam=7)[0], w"), model.coef_, what="scikit-learn's Ridge(alpha=7) coef_"
    )
    expect_close(
        Call(b, "ridge_fit(X, y, lam=7)[1], b"), float(model.intercept_), what="scikit-learn's intercept_"
    )


# -------------------------------------------------------------------- logistic_loss_gradient


def _sig(z):
    return 1 / (1 + np.exp(-z))


@exercise("logistic_loss_gradient")
def test_logistic_loss_gradient_values(impl):
    X, y = _classes(12, n=12, d=3)
    w, b = rng(13).normal(size=3), -0.3
    call = run(impl.logistic_loss_gradient, X, y, w, b)
    loss, dw, db = expect_parts(call, ["L", "dL/dw", "dL/db"], [None, (3,), None])
    z = X @ w + b
    p = _sig(z)
    n = len(y)
    want = float(np.mean(-y * np.log(p) - (1 - y) * np.log(1 - p)))
    expect_close(
        Call(loss, f"{call}[0], L"),
        want,
        mistakes={
            "sum over the examples instead of taking the mean": want * n,
            "leave out the intercept b": lambda: float(np.mean(np.log1p(np.exp(X @ w)) - y * (X @ w))),
        },
    )
    expect_close(
        Call(dw, f"{call}[1], dL/dw"),
        X.T @ (p - y) / n,
        mistakes={
            "sum over the examples instead of taking the mean": X.T @ (p - y),
            "use y − p, flipping the gradient's sign": X.T @ (y - p) / n,
            "use the logits z in place of the probabilities p": X.T @ (z - y) / n,
        },
    )
    expect_close(
        Call(db, f"{call}[2], dL/db"),
        float(np.mean(p - y)),
        mistakes={"return 0 for the intercept's gradient": 0.0},
    )


@exercise("logistic_loss_gradient")
def test_logistic_loss_gradient_matches_central_differences(impl):
    X, y = _classes(14, n=9, d=2)
    w, b = np.array([0.8, -0.5]), 0.2
    _, dw, db = run(impl.logistic_loss_gradient, X, y, w, b).value
    numeric = numeric_grad(
        lambda v: np.mean(np.logaddexp(0, X @ v[1:] + v[0]) - y * (X @ v[1:] + v[0])),
        np.concatenate([[b], w]),
    )
    expect_close(
        Call(dw, "logistic_loss_gradient(X, y, w, b)[1], dL/dw"),
        numeric[1:],
        rtol=1e-5,
        atol=1e-7,
        what="central differences",
    )
    expect_close(
        Call(db, "logistic_loss_gradient(X, y, w, b)[2], dL/db"),
        float(numeric[0]),
        rtol=1e-5,
        atol=1e-7,
        what="central differences",
    )


@exercise("logistic_loss_gradient")
def test_logistic_loss_is_stable_for_huge_logits(impl):
    X = np.array([[1000.0], [-1000.0], [1000.0], [-1000.0]])
    y = np.array([1, 0, 0, 1])
    call = run_without_warnings(impl.logistic_loss_gradient, X, y, np.array([1.0]), 0.0)
    loss, dw, db = expect_parts(call, ["L", "dL/dw", "dL/db"], [None, (1,), None])
    # Two examples right with certainty (loss 0), two wrong by a logit of 1000 (loss 1000 each).
    expect_close(Call(loss, f"{call}[0], L"), 500.0, what="(0 + 0 + 1000 + 1000) / 4")
    expect_close(Call(dw, f"{call}[1], dL/dw"), np.array([500.0]), what="Xᵀ(p − y)/n with p exactly 0 or 1")
    expect_close(Call(db, f"{call}[2], dL/db"), 0.0)


# ------------------------------------------------------------------- logistic_regression_fit


def _logistic_gd(X, y, lr, steps, l2, decay_b=False, decay=True):
    w, b, n = np.zeros(X.shape[1]), 0.0, len(y)
    for _ in range(steps):
        err = _sig(X @ w + b) - y
        dw = X.T @ err / n + (l2 * w if decay else 0)
        db = err.mean() + (l2 * b if decay_b else 0)
        w, b = w - lr * dw, b - lr * db
    return w, b


@exercise("logistic_regression_fit")
def test_logistic_regression_fit_replays_step_by_step(impl):
    X, y = _classes(15, n=30, d=3)
    y = (X[:, 0] + 0.5 > 0).astype(np.int64)  # separable: without decay the weights keep growing
    call = run(impl.logistic_regression_fit, X, y, 0.5, 6, l2=0.2)
    w, b = expect_parts(call, ["w", "b"], [(3,), None])
    want_w, want_b = _logistic_gd(X, y, 0.5, 6, 0.2)
    expect_close(
        Call(w, f"{call}[0], w"),
        want_w,
        mistakes={
            "forget the l2 term l2·w": lambda: _logistic_gd(X, y, 0.5, 6, 0.2, decay=False)[0],
            "penalise the intercept too": lambda: _logistic_gd(X, y, 0.5, 6, 0.2, decay_b=True)[0],
        },
    )
    expect_close(
        Call(b, f"{call}[1], b"),
        want_b,
        mistakes={"penalise the intercept too": lambda: _logistic_gd(X, y, 0.5, 6, 0.2, decay_b=True)[1]},
    )


@exercise("logistic_regression_fit")
def test_logistic_regression_classifies_breast_cancer(impl):
    table = load_breast_cancer()
    x_train, y_train, x_test, y_test = standardize_split(table.X, table.y, 0.25, seed=0)
    w, b = run(impl.logistic_regression_fit, x_train, y_train, 0.5, 300, l2=1e-3).value
    accuracy = float(np.mean((x_test @ w + b > 0) == y_test))
    expect(
        accuracy >= 0.93,
        "logistic_regression_fit on breast cancer (lr=0.5, 300 steps, l2=1e-3): "
        f"test accuracy {accuracy:.3f}, "
        "expected at least 0.93",
    )


@exercise("logistic_regression_fit")
def test_logistic_regression_fit_reaches_the_penalised_optimum(impl):
    """With a penalty the optimum is unique; at it the penalised gradient is zero."""
    X, y = _classes(26, n=30, d=2)
    y = (X[:, 0] - X[:, 1] + 0.3 * rng(27).normal(size=30) > 0).astype(np.int64)
    w, b = run(impl.logistic_regression_fit, X, y, 1.0, 2000, l2=0.1).value
    err = _sig(X @ w + b) - y
    grad = X.T @ err / 30 + 0.1 * w
    expect(
        bool(np.abs(grad).max() < 1e-6 and abs(err.mean()) < 1e-6),
        "logistic_regression_fit(X, y, lr=1, steps=2000, l2=0.1): the gradient of L + (l2/2)‖w‖² at the "
        f"result is ({', '.join(f'{v:.2g}' for v in grad)}; {err.mean():.2g} for b), expected zero: is each "
        "step w ← w − lr·(dw + l2·w) and b ← b − lr·db?",
    )


# --------------------------------------------------------------------- softmax_loss_gradient


def _softmax_parts(X, y, W, b, axis=1):
    Z = X @ W + b
    P = np.exp(Z - Z.max(axis=axis, keepdims=True))
    P /= P.sum(axis=axis, keepdims=True)
    Y = np.eye(W.shape[1])[y]
    return P, Y


def _row_max_column_sum(Z):
    Z = Z - Z.max(axis=1, keepdims=True)
    return Z - np.log(np.exp(Z).sum(axis=0, keepdims=True))


@exercise("softmax_loss_gradient")
def test_softmax_loss_gradient_values(impl):
    X, y = _classes(16, n=10, d=3, K=4)
    g = rng(17)
    W, b = g.normal(size=(3, 4)), g.normal(size=4)
    call = run(impl.softmax_loss_gradient, X, y, W, b)
    loss, dW, db = expect_parts(call, ["L", "dL/dW", "dL/db"], [None, (3, 4), (4,)])
    P, Y = _softmax_parts(X, y, W, b)
    n = len(y)
    want = float(-np.mean(np.log(P[np.arange(n), y])))
    expect_close(
        Call(loss, f"{call}[0], L"),
        want,
        mistakes={
            "sum over the examples instead of taking the mean": want * n,
            "take the softmax over the examples (axis 0) instead of the classes": lambda: float(
                -np.mean(np.log(_softmax_parts(X, y, W, b, axis=0)[0][np.arange(n), y]))
            ),
            "subtract each row's max but sum the exponentials over the examples (axis 0)": lambda: float(
                -np.mean(_row_max_column_sum(X @ W + b)[np.arange(n), y])
            ),
        },
    )
    expect_close(
        Call(dW, f"{call}[1], dL/dW"),
        X.T @ (P - Y) / n,
        mistakes={
            "forget to subtract the one-hot labels Y": X.T @ P / n,
            "sum over the examples instead of taking the mean": X.T @ (P - Y),
            "use Y − P, flipping the gradient's sign": X.T @ (Y - P) / n,
            "take the softmax over the examples (axis 0) instead of the classes": lambda: (
                X.T @ (_softmax_parts(X, y, W, b, axis=0)[0] - Y) / n
            ),
        },
    )
    expect_close(
        Call(db, f"{call}[2], dL/db"),
        (P - Y).mean(axis=0),
        mistakes={"sum over the classes instead of over the examples": (P - Y).mean(axis=1)[:4]},
    )


@exercise("softmax_loss_gradient")
def test_softmax_loss_gradient_matches_central_differences(impl):
    X, y = _classes(18, n=7, d=2, K=3)
    g = rng(19)
    W, b = g.normal(size=(2, 3)), g.normal(size=3)

    def loss(v):
        Z = X @ v[:6].reshape(2, 3) + v[6:]
        return np.mean(np.log(np.exp(Z).sum(axis=1)) - Z[np.arange(len(y)), y])

    _, dW, db = run(impl.softmax_loss_gradient, X, y, W, b).value
    numeric = numeric_grad(loss, np.concatenate([W.ravel(), b]))
    expect_close(
        Call(dW, "softmax_loss_gradient(X, y, W, b)[1], dL/dW"),
        numeric[:6].reshape(2, 3),
        rtol=1e-5,
        atol=1e-7,
        what="central differences",
    )
    expect_close(
        Call(db, "softmax_loss_gradient(X, y, W, b)[2], dL/db"),
        numeric[6:],
        rtol=1e-5,
        atol=1e-7,
        what="central differences",
    )


@exercise("softmax_loss_gradient")
def test_softmax_loss_is_stable_for_huge_logits(impl):
    X = np.array([[1.0], [1.0]])
    y = np.array([0, 1])
    W, b = np.array([[1000.0, 0.0, -1000.0]]), np.zeros(3)
    call = run_without_warnings(impl.softmax_loss_gradient, X, y, W, b)
    loss, dW, db = expect_parts(call, ["L", "dL/dW", "dL/db"], [None, (1, 3), (3,)])
    expect_close(
        Call(loss, f"{call}[0], L"),
        500.0,
        what="example 0 is certain and right (0), example 1 wrong by 1000: (0 + 1000) / 2",
    )
    expect_close(Call(db, f"{call}[2], dL/db"), np.array([0.5, -0.5, 0.0]))


# -------------------------------------------------------------------- softmax_regression_fit


@exercise("softmax_regression_fit")
def test_softmax_regression_fit_replays_step_by_step(impl):
    X, y = _classes(20, n=24, d=3, K=3)
    call = run(impl.softmax_regression_fit, X, y, 3, 0.7, 5)
    W, b = expect_parts(call, ["W", "b"], [(3, 3), (3,)])
    want_W, want_b = np.zeros((3, 3)), np.zeros(3)
    frozen_b_W = np.zeros((3, 3))
    for _ in range(5):
        P, Y = _softmax_parts(X, y, want_W, want_b)
        want_W, want_b = want_W - 0.7 * X.T @ (P - Y) / 24, want_b - 0.7 * (P - Y).mean(axis=0)
        P, Y = _softmax_parts(X, y, frozen_b_W, np.zeros(3))
        frozen_b_W = frozen_b_W - 0.7 * X.T @ (P - Y) / 24
    expect_close(Call(W, f"{call}[0], W"), want_W, mistakes={"never update b": frozen_b_W})
    expect_close(Call(b, f"{call}[1], b"), want_b, mistakes={"never update b": np.zeros(3)})


@exercise("softmax_regression_fit")
def test_softmax_regression_classifies_iris(impl):
    table = load_iris()
    x_train, y_train, x_test, y_test = standardize_split(table.X, table.y, 0.3, seed=0)
    W, b = run(impl.softmax_regression_fit, x_train, y_train, 3, 0.5, 300).value
    accuracy = float(np.mean((x_test @ W + b).argmax(axis=1) == y_test))
    threshold = 0.88 if table.source == "scikit-learn" else 0.6  # the generated stand-in overlaps more
    expect(
        accuracy >= threshold,
        f"softmax_regression_fit on iris ({table.source}; lr=0.5, 300 steps): test accuracy {accuracy:.3f}, "
        f"expected at least {threshold}",
    )


@exercise("softmax_regression_fit")
def test_softmax_regression_keeps_the_columns_summing_to_zero(impl):
    """Each row of P − Y sums to zero over the classes, so from W = 0 each row of W, and b,
    keep summing to 0 across the K classes (a check that all K columns are updated)."""
    X, y = _classes(28, n=20, d=2, K=4)
    W, b = run(impl.softmax_regression_fit, X, y, 4, 0.5, 20).value
    text = "softmax_regression_fit(X, y, K=4, lr=0.5, steps=20)"
    expect_close(Call(W.sum(axis=1), f"{text}[0].sum(axis=1)"), np.zeros(2), atol=1e-12)
    expect_close(Call(b.sum(), f"{text}[1].sum()"), 0.0, atol=1e-12)
    expect(bool(np.abs(W).max() > 1e-3), "softmax_regression_fit: after 20 steps W should have moved from 0")


# ----------------------------------------------------------------- bayesian_linear_posterior


def _posterior(Phi, y, alpha, beta):
    S = np.linalg.inv(alpha * np.eye(Phi.shape[1]) + beta * Phi.T @ Phi)
    return beta * S @ Phi.T @ y, S


@exercise("bayesian_linear_posterior")
def test_bayesian_linear_posterior_formula(impl):
    Phi, y, _, _ = _regression(21, n=15, d=3)
    call = run(impl.bayesian_linear_posterior, Phi, y, 2.0, 4.0)
    m, S = expect_parts(call, ["m", "S"], [(3,), (3, 3)])
    want_m, want_S = _posterior(Phi, y, 2.0, 4.0)
    no_prior = np.linalg.inv(4.0 * Phi.T @ Phi)
    variance_prior = np.linalg.inv(np.eye(3) / 2.0 + 4.0 * Phi.T @ Phi)
    expect_close(
        Call(S, f"{call}[1], S"),
        want_S,
        mistakes={
            "leave out the prior's alpha·I": no_prior,
            "use alpha as the prior's variance instead of its precision": variance_prior,
            "forget beta in front of ΦᵀΦ": lambda: np.linalg.inv(2.0 * np.eye(3) + Phi.T @ Phi),
        },
    )
    expect_close(
        Call(m, f"{call}[0], m"),
        want_m,
        mistakes={
            "forget the factor beta in m = beta·S Φᵀ y": want_S @ Phi.T @ y,
            "leave out the prior's alpha·I": no_prior @ (4.0 * Phi.T @ y),
        },
    )
    expect(np.array_equal(S, S.T), f"{call}: S must be exactly symmetric (average it with its transpose)")


@exercise("bayesian_linear_posterior")
def test_bayesian_posterior_in_two_halves_equals_all_at_once(impl):
    """Conjugacy: the posterior after the first half is the prior for the second."""
    Phi, y, _, _ = _regression(22, n=20, d=2)
    m1, S1 = run(impl.bayesian_linear_posterior, Phi[:10], y[:10], 1.5, 3.0).value
    m, S = run(impl.bayesian_linear_posterior, Phi, y, 1.5, 3.0).value
    P1 = np.linalg.inv(S1)
    S2 = np.linalg.inv(P1 + 3.0 * Phi[10:].T @ Phi[10:])
    m2 = S2 @ (P1 @ m1 + 3.0 * Phi[10:].T @ y[10:])
    expect_close(
        Call(S, "bayesian_linear_posterior(Phi, y, 1.5, 3)[1], S"),
        S2,
        what="the second half's posterior with the first half's as prior",
    )
    expect_close(
        Call(m, "bayesian_linear_posterior(Phi, y, 1.5, 3)[0], m"),
        m2,
        what="the second half's posterior with the first half's as prior",
    )


@exercise("bayesian_linear_posterior")
def test_bayesian_posterior_with_a_vague_prior_and_little_noise_is_least_squares(impl):
    Phi, y, _, _ = _regression(29, n=15, d=3)
    m, S = run(impl.bayesian_linear_posterior, Phi, y, 1e-8, 1e4).value
    expect_close(
        Call(m, "bayesian_linear_posterior(Phi, y, alpha=1e-8, beta=1e4)[0], m"),
        np.linalg.lstsq(Phi, y, rcond=None)[0],
        what="least squares on Φ (no intercept column here): a vague prior adds nothing",
    )
    expect_close(
        Call(S, "bayesian_linear_posterior(Phi, y, alpha=1e-8, beta=1e4)[1], S"),
        np.linalg.inv(Phi.T @ Phi) / 1e4,
        what="(ΦᵀΦ)⁻¹/beta",
    )


# ---------------------------------------------------------------- bayesian_linear_predictive


@exercise("bayesian_linear_predictive")
def test_bayesian_linear_predictive_formula(impl):
    g = rng(23)
    Phi_new, m = g.normal(size=(5, 3)), g.normal(size=3)
    A = g.normal(size=(3, 3))
    S = A @ A.T + 0.1 * np.eye(3)
    call = run(impl.bayesian_linear_predictive, Phi_new, m, S, 4.0)
    mean, var = expect_parts(call, ["mean", "var"], [(5,), (5,)])
    expect_close(Call(mean, f"{call}[0], mean"), Phi_new @ m)
    spread = np.einsum("qi,ij,qj->q", Phi_new, S, Phi_new)
    expect_close(
        Call(var, f"{call}[1], var"),
        0.25 + spread,
        mistakes={
            "forget the noise variance 1/beta": spread,
            "add beta instead of the noise variance 1/beta": 4.0 + spread,
            "leave out the uncertainty about w (φᵀSφ)": np.full(5, 0.25),
            "sum φ S over the wrong axis (φᵀ S φ with S's rows and columns mixed up, no transpose)": lambda: (
                0.25 + ((Phi_new @ S).sum(axis=1) * Phi_new.sum(axis=1))
            ),
        },
    )


@exercise("bayesian_linear_predictive")
def test_bayesian_predictive_of_the_prior(impl):
    """Before any data m = 0, S = I/alpha: the variance is 1/beta + ‖φ‖²/alpha."""
    Phi_new = np.array([[1.0, 0.0], [1.0, 2.0], [0.0, 0.0]])
    mean, var = run(impl.bayesian_linear_predictive, Phi_new, np.zeros(2), np.eye(2) / 2.0, 10.0).value
    expect_close(Call(mean, "bayesian_linear_predictive(Phi_new, m=0, S=I/2, beta=10)[0], mean"), np.zeros(3))
    expect_close(
        Call(var, "bayesian_linear_predictive(Phi_new, m=0, S=I/2, beta=10)[1], var"),
        np.array([0.6, 2.6, 0.1]),
    )


@exercise("bayesian_linear_predictive")
def test_bayesian_predictive_is_a_prediction_per_row(impl):
    """Row i's answer depends on row i alone: predicting rows one at a time gives the same."""
    g = rng(30)
    Phi_new, m = g.normal(size=(6, 2)), g.normal(size=2)
    S = np.array([[0.5, 0.2], [0.2, 0.3]])
    mean, var = run(impl.bayesian_linear_predictive, Phi_new, m, S, 2.0).value
    single = [impl.bayesian_linear_predictive(Phi_new[i : i + 1], m, S, 2.0) for i in range(6)]
    text = "bayesian_linear_predictive(Phi_new, m, S, beta=2)"
    expect_close(
        Call(var, f"{text}[1], var"), np.concatenate([v for _, v in single]), what="each row predicted alone"
    )
    expect_close(
        Call(mean, f"{text}[0], mean"),
        np.concatenate([u for u, _ in single]),
        what="each row predicted alone",
    )
    expect(bool(np.all(var >= 0.5)), f"{text}: every variance is at least the noise variance 1/beta = 0.5")
