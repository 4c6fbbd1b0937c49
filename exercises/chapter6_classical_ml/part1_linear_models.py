# %% [markdown]
# # Chapter 6, part 1: linear models
#
# Reading: chapters/chapter6_classical_ml/part1_linear_models.md
#
# Fill in each function, then run the cell below it: `check(fn)` runs that exercise's
# tests here and prints a verdict. `python -m grader chapter6/part1` grades the file.
#
# Conventions: X is a float64 data matrix (n, d), one example per row; y is (n,) — real
# targets for regression, int labels 0 … K−1 for classification. A linear model is a
# weight vector w (d,) (a matrix W (d, K) for K classes) and an intercept b (a float, or
# (K,)): the prediction for the rows of X is X @ w + b. No function changes its inputs.

# %%
from __future__ import annotations

import numpy as np
from jaxtyping import Float, Int

from coursedata import load_breast_cancer, load_diabetes, load_iris, standardize_split
from grader.check import check

MAIN = __name__ == "__main__"


def sigmoid(z: Float[np.ndarray, "..."]) -> Float[np.ndarray, "..."]:
    """1 / (1 + exp(−z)) elementwise, without overflow for large |z|. (Given.)"""
    e = np.exp(-np.abs(z))
    return np.where(z >= 0, 1.0 / (1.0 + e), e / (1.0 + e))


# %% [markdown]
# ## Least squares


# %%
def ols_fit(X: Float[np.ndarray, "n d"], y: Float[np.ndarray, " n"]) -> tuple[Float[np.ndarray, " d"], float]:
    """Ordinary least squares with an intercept: the (w, b) minimising Σ_i (x_i·w + b − y_i)².

    Solve it as a least-squares problem on the design matrix [1, X] with np.linalg.lstsq
    (or the normal equations with np.linalg.solve) — never by inverting a matrix.
    Returns (w, b): w float64 (d,), b a float. Tests compare within rtol 1e-6."""
    raise NotImplementedError("ols_fit")


if MAIN:
    check(ols_fit)


# %%
def mse_gradient(
    X: Float[np.ndarray, "n d"], y: Float[np.ndarray, " n"], w: Float[np.ndarray, " d"], b: float
) -> tuple[float, Float[np.ndarray, " d"], float]:
    """The mean squared error L = (1/n) Σ_i (x_i·w + b − y_i)² and its gradient.

    Returns (L, dL/dw, dL/db): a float, float64 (d,), a float, with
    dL/dw = (2/n) Xᵀ r and dL/db = (2/n) Σ_i r_i for the residuals r = Xw + b − y.
    Tests compare within rtol 1e-6 and against central differences."""
    raise NotImplementedError("mse_gradient")


if MAIN:
    check(mse_gradient)


# %%
def ols_gradient_descent(
    X: Float[np.ndarray, "n d"], y: Float[np.ndarray, " n"], lr: float, steps: int
) -> tuple[Float[np.ndarray, " d"], float, Float[np.ndarray, " steps"]]:
    """Least squares by full-batch gradient descent on the mean squared error.

    Start from w = 0, b = 0; each of `steps` steps computes (L, dw, db) = mse_gradient(X, y,
    w, b) at the current parameters, records L, then sets w ← w − lr·dw and b ← b − lr·db.
    Returns (w, b, losses): the final parameters and the float64 array of the `steps`
    losses recorded (losses[t] is the loss before step t). Tests compare within rtol 1e-6."""
    raise NotImplementedError("ols_gradient_descent")


if MAIN:
    check(ols_gradient_descent)


# %%
def ridge_fit(
    X: Float[np.ndarray, "n d"], y: Float[np.ndarray, " n"], lam: float
) -> tuple[Float[np.ndarray, " d"], float]:
    """Ridge regression: the (w, b) minimising Σ_i (x_i·w + b − y_i)² + lam·‖w‖².

    The intercept b is NOT penalised. Centre X and y (subtract their column means), solve
    (XcᵀXc + lam·I) w = Xcᵀ yc with np.linalg.solve, then b = mean(y) − mean(X)·w.
    lam = 0 gives ordinary least squares (when XᵀX is invertible). Returns (w, b): float64
    (d,) and a float. Tests compare within rtol 1e-6."""
    raise NotImplementedError("ridge_fit")


if MAIN:
    check(ridge_fit)
    table = load_diabetes()
    x_train, y_train, x_test, y_test = standardize_split(table.X, table.y, 0.25, seed=0)
    for lam in [0.0, 1.0, 10.0, 100.0, 1000.0]:
        w, b = ridge_fit(x_train, y_train, lam)
        mse = np.mean((x_test @ w + b - y_test) ** 2)
        print(f"ridge lam={lam:7.1f}: test MSE {mse:8.1f}, |w| {np.linalg.norm(w):6.1f}")


# %% [markdown]
# ## Classification: logistic and softmax regression


# %%
def logistic_loss_gradient(
    X: Float[np.ndarray, "n d"], y: Int[np.ndarray, " n"], w: Float[np.ndarray, " d"], b: float
) -> tuple[float, Float[np.ndarray, " d"], float]:
    """Logistic regression's mean cross-entropy for labels y in {0, 1} and its gradient.

    With logits z = Xw + b and p = sigmoid(z):
    L = (1/n) Σ_i [log(1 + exp(z_i)) − y_i z_i], dL/dw = (1/n) Xᵀ(p − y), dL/db = mean(p − y).
    Compute log(1 + exp(z)) stably (np.logaddexp(0, z)): no overflow or nan for |z| up to
    1000. Returns (L, dL/dw, dL/db): a float, float64 (d,), a float. Tests compare within
    rtol 1e-6 and against central differences."""
    raise NotImplementedError("logistic_loss_gradient")


if MAIN:
    check(logistic_loss_gradient)


# %%
def logistic_regression_fit(
    X: Float[np.ndarray, "n d"], y: Int[np.ndarray, " n"], lr: float, steps: int, l2: float = 0.0
) -> tuple[Float[np.ndarray, " d"], float]:
    """Logistic regression by full-batch gradient descent on L + (l2/2)·‖w‖² (b not penalised).

    Start from w = 0, b = 0; each step takes (L, dw, db) = logistic_loss_gradient(X, y, w, b)
    and sets w ← w − lr·(dw + l2·w), b ← b − lr·db. Returns (w, b) after `steps` steps.
    Tests compare within rtol 1e-6."""
    raise NotImplementedError("logistic_regression_fit")


if MAIN:
    check(logistic_regression_fit)
    table = load_breast_cancer()
    x_train, y_train, x_test, y_test = standardize_split(table.X, table.y, 0.25, seed=0)
    w, b = logistic_regression_fit(x_train, y_train, lr=0.5, steps=500, l2=1e-3)
    print(f"breast cancer: test accuracy {np.mean((x_test @ w + b > 0) == y_test):.3f}")


# %%
def softmax_loss_gradient(
    X: Float[np.ndarray, "n d"],
    y: Int[np.ndarray, " n"],
    W: Float[np.ndarray, "d K"],
    b: Float[np.ndarray, " K"],
) -> tuple[float, Float[np.ndarray, "d K"], Float[np.ndarray, " K"]]:
    """Softmax regression's mean cross-entropy for labels y in 0 … K−1 and its gradient.

    With logits Z = XW + b (n, K) and P = softmax(Z) along each row:
    L = −(1/n) Σ_i log P[i, y_i], dL/dW = (1/n) Xᵀ(P − Y), dL/db = mean over rows of (P − Y),
    where Y is the one-hot (n, K) matrix of y. Compute log-softmax stably (subtract each
    row's max before exp): no overflow or nan for logits up to 1000. Returns (L, dL/dW,
    dL/db): a float, float64 (d, K), float64 (K,). Tests compare within rtol 1e-6 and
    against central differences."""
    raise NotImplementedError("softmax_loss_gradient")


if MAIN:
    check(softmax_loss_gradient)


# %%
def softmax_regression_fit(
    X: Float[np.ndarray, "n d"], y: Int[np.ndarray, " n"], K: int, lr: float, steps: int
) -> tuple[Float[np.ndarray, "d K"], Float[np.ndarray, " K"]]:
    """Softmax regression by full-batch gradient descent, for K classes.

    Start from W = 0 (d, K), b = 0 (K,); each step takes (L, dW, db) =
    softmax_loss_gradient(X, y, W, b) and sets W ← W − lr·dW, b ← b − lr·db. Returns (W, b)
    after `steps` steps. Tests compare within rtol 1e-6."""
    raise NotImplementedError("softmax_regression_fit")


if MAIN:
    check(softmax_regression_fit)
    table = load_iris()
    x_train, y_train, x_test, y_test = standardize_split(table.X, table.y, 0.3, seed=0)
    W, b = softmax_regression_fit(x_train, y_train, 3, lr=0.5, steps=500)
    print(f"iris: test accuracy {np.mean((x_test @ W + b).argmax(axis=1) == y_test):.3f}")


# %% [markdown]
# ## Bayesian linear regression


# %%
def bayesian_linear_posterior(
    Phi: Float[np.ndarray, "n m"], y: Float[np.ndarray, " n"], alpha: float, beta: float
) -> tuple[Float[np.ndarray, " m"], Float[np.ndarray, "m m"]]:
    """The posterior over the weights of y = Φw + noise, with prior w ~ N(0, alpha⁻¹ I)
    and Gaussian noise of precision beta (variance 1/beta).

    The posterior is N(m, S) with S = (alpha·I + beta·ΦᵀΦ)⁻¹ and m = beta·S Φᵀ y. (A column
    of ones in Φ plays the intercept; here it is a weight like the others, with the same
    prior.) Returns (m, S): float64 (m,) and (m, m), S symmetric. Tests compare within
    rtol 1e-6."""
    raise NotImplementedError("bayesian_linear_posterior")


if MAIN:
    check(bayesian_linear_posterior)


# %%
def bayesian_linear_predictive(
    Phi_new: Float[np.ndarray, "q m"], m: Float[np.ndarray, " m"], S: Float[np.ndarray, "m m"], beta: float
) -> tuple[Float[np.ndarray, " q"], Float[np.ndarray, " q"]]:
    """The posterior predictive distribution of y at the new rows φ of Phi_new.

    Each new target is Gaussian with mean φ·m and variance 1/beta + φᵀ S φ (the noise plus
    the uncertainty about w). Compute only these q variances, not the (q, q) matrix
    Φ S Φᵀ. Returns (mean, var): float64 (q,) each. Tests compare within rtol 1e-6."""
    raise NotImplementedError("bayesian_linear_predictive")


if MAIN:
    check(bayesian_linear_predictive)
    rng = np.random.default_rng(0)
    x = rng.uniform(-1, 1, size=20)
    y = np.sin(3 * x) + rng.normal(0, 0.2, size=20)
    features = lambda x: np.column_stack([x**k for k in range(6)])  # noqa: E731
    m, S = bayesian_linear_posterior(features(x), y, alpha=1.0, beta=25.0)
    grid = np.linspace(-1.5, 1.5, 7)
    mean, var = bayesian_linear_predictive(features(grid), m, S, beta=25.0)
    for g, mu, v in zip(grid, mean, var):
        print(f"x={g:+.2f}: {mu:+.2f} ± {2 * np.sqrt(v):.2f}")
