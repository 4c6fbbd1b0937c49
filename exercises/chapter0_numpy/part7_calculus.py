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
    raise NotImplementedError("directional_derivative")


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
    raise NotImplementedError("numerical_gradient")


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
    raise NotImplementedError("numerical_jacobian")


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
    raise NotImplementedError("gradient_check")


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
    raise NotImplementedError("hessian_vector_product")


if MAIN:
    check(hessian_vector_product)
