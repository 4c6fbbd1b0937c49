# %% [markdown]
# # Chapter 0, part 7: calculus with finite differences
#
# Reading: chapters/chapter0_numpy/part7_calculus.md
#
# Fill in each function, then run the cell below it: `check(fn)` runs that exercise's
# tests here and prints a verdict. `python -m grader chapter0/part7` grades the file.

# %%
from typing import Callable

import numpy as np
from jaxtyping import Float

from grader.check import check

MAIN = __name__ == "__main__"


# %%
def directional_derivative(
    f: Callable[[np.ndarray], float],
    x: Float[np.ndarray, "*shape"],
    v: Float[np.ndarray, "*shape"],
    eps: float = 1e-5,
) -> float:
    """The derivative of f at x in direction v, by a central difference:

        (f(x + eps * v) - f(x - eps * v)) / (2 * eps)

    f: maps an array of x's shape to a number. x, v: arrays of the same (any) shape.
    Computes in float64 whatever x's dtype. Returns a Python float; x and v are unchanged.
    """
    # BEGIN SOLUTION
    x = np.asarray(x, dtype=np.float64)  # a float32 x + 1e-5 would round the step away
    step = eps * np.asarray(v, dtype=np.float64)
    return (float(f(x + step)) - float(f(x - step))) / (2 * eps)
    # END SOLUTION


if MAIN:
    check(directional_derivative)


# %%
def numerical_gradient(
    f: Callable[[np.ndarray], float],
    x: Float[np.ndarray, "*shape"],
    eps: float = 1e-5,
) -> Float[np.ndarray, "*shape"]:
    """The gradient of a scalar function f at x, one central difference per entry:

        grad[i] = (f(x + eps * e_i) - f(x - eps * e_i)) / (2 * eps)

    where e_i is the array of x's shape with a 1 at index i (i is a tuple for an n-d x).
    f: maps an array of x's shape to a number. x: any shape, any float dtype.
    Returns a float64 array of x's shape. The caller's x is unchanged afterwards, and f
    always sees x with only the one entry moved.
    """
    # BEGIN SOLUTION
    x = np.array(x, dtype=np.float64)  # our own float64 copy: the caller's x is never touched
    grad = np.zeros_like(x)
    for i in np.ndindex(x.shape):  # f is a black box: one entry at a time, two calls each
        old = x[i]
        x[i] = old + eps
        up = float(f(x))
        x[i] = old - eps
        down = float(f(x))
        x[i] = old  # restore before moving to the next entry
        grad[i] = (up - down) / (2 * eps)
    return grad
    # END SOLUTION


if MAIN:
    check(numerical_gradient)


# %%
def numerical_jacobian(
    f: Callable[[np.ndarray], np.ndarray],
    x: Float[np.ndarray, " n"],
    eps: float = 1e-5,
) -> Float[np.ndarray, "m n"]:
    """The Jacobian of a vector function f: R^n -> R^m at x, by central differences.

    J[i, j] = d f_i / d x_j, so J has shape (m, n): row i is the gradient of output i,
    column j = (f(x + eps * e_j) - f(x - eps * e_j)) / (2 * eps) is how all outputs move
    with input j. f maps a float64 array of shape (n,) to an array of shape (m,).
    Returns float64; x is unchanged.
    """
    # BEGIN SOLUTION
    x = np.asarray(x, dtype=np.float64)
    steps = eps * np.eye(x.shape[0])  # row j is eps * e_j
    columns = [
        (np.asarray(f(x + step), dtype=np.float64) - np.asarray(f(x - step), dtype=np.float64))
        / (2 * eps)
        for step in steps
    ]
    return np.stack(columns, axis=1)  # column j holds d f / d x_j: shape (m, n)
    # END SOLUTION


if MAIN:
    check(numerical_jacobian)


# %%
def gradient_check(
    f: Callable[[np.ndarray], float],
    grad_f: Callable[[np.ndarray], np.ndarray],
    x: Float[np.ndarray, "*shape"],
    eps: float = 1e-5,
) -> float:
    """Compare an analytic gradient with central differences; return the worst relative error.

    a = grad_f(x) (the gradient to check), n = numerical_gradient(f, x, eps). The relative
    error of entry i is

        |a_i - n_i| / max(|a_i| + |n_i|, 1e-8)

    (0 when both are 0; the floor 1e-8 keeps tiny gradients from dividing by ~0). Returns
    the maximum over all entries as a Python float: below ~1e-7 the gradient is right, and
    around 1e-2 or more it is wrong. Raises ValueError if grad_f(x) does not have x's shape.
    x is unchanged.
    """
    # BEGIN SOLUTION
    analytic = np.asarray(grad_f(x), dtype=np.float64)
    if analytic.shape != x.shape:
        # Broadcasting (5, 1) against (5,) would compare 25 pairs and hide the bug.
        raise ValueError(f"grad_f(x) has shape {analytic.shape}, x has shape {x.shape}")
    numeric = numerical_gradient(f, x, eps)
    scale = np.maximum(np.abs(analytic) + np.abs(numeric), 1e-8)
    return float((np.abs(analytic - numeric) / scale).max())
    # END SOLUTION


if MAIN:
    check(gradient_check)


# %%
def hessian_vector_product(
    grad_f: Callable[[np.ndarray], np.ndarray],
    x: Float[np.ndarray, "*shape"],
    v: Float[np.ndarray, "*shape"],
    eps: float = 1e-5,
) -> Float[np.ndarray, "*shape"]:
    """H(x) @ v, the Hessian of f at x times v, from two gradient evaluations:

        (grad_f(x + eps * v) - grad_f(x - eps * v)) / (2 * eps)

    grad_f: the gradient of f, mapping an array of x's shape to one of the same shape.
    x, v: same (any) shape; H v has that shape too (x and v flattened, H is n×n). Never
    forms H. Returns float64; x and v are unchanged.
    """
    # BEGIN SOLUTION
    # H v is the directional derivative of the gradient along v.
    x = np.asarray(x, dtype=np.float64)
    step = eps * np.asarray(v, dtype=np.float64)
    up = np.asarray(grad_f(x + step), dtype=np.float64)
    down = np.asarray(grad_f(x - step), dtype=np.float64)
    return (up - down) / (2 * eps)
    # END SOLUTION


if MAIN:
    check(hessian_vector_product)
