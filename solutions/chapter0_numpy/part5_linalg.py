# %% [markdown]
# # Chapter 0, part 5: linear algebra — projections, rank, SVD, power iteration, the DFT
#
# Reading: chapters/chapter0_numpy/part5_linalg.md
#
# Fill in each function, then run the cell below it: `check(fn)` runs that exercise's
# tests here and prints a verdict. `python -m grader chapter0/part5` grades the file.

# %%
import numpy as np
from jaxtyping import Complex, Float

from grader.check import check

MAIN = __name__ == "__main__"


# %%
def gram_schmidt(A: Float[np.ndarray, "n k"]) -> Float[np.ndarray, "n k"]:
    """Orthonormalise the columns of A with Gram–Schmidt.

    A: n x k with n >= k and linearly independent columns.
    Returns a new array Q (A is not modified, and Q is never A itself, even when A's
    columns are already orthonormal) with orthonormal columns (Q.T @ Q = I_k) such
    that, for every j, columns 0..j of Q span the same space as columns 0..j of A, with the
    sign fixed by A[:, j] @ Q[:, j] > 0. Equivalently A = Q R with R = Q.T @ A upper
    triangular with a positive diagonal.
    """
    # BEGIN SOLUTION
    Q = A.astype(np.float64)  # a copy: the caller's A stays as it was
    for j in range(Q.shape[1]):
        Q[:, j] /= np.linalg.norm(Q[:, j])
        # Modified Gram–Schmidt: take the new direction out of every later column at once,
        # so each later column is orthogonalised against the already-cleaned q_j.
        Q[:, j + 1 :] -= np.outer(Q[:, j], Q[:, j] @ Q[:, j + 1 :])
    return Q
    # END SOLUTION


if MAIN:
    check(gram_schmidt)


# %%
def project_onto_columns(
    A: Float[np.ndarray, "n k"], points: Float[np.ndarray, "batch n"]
) -> Float[np.ndarray, "batch n"]:
    """Orthogonally project each point (a row of `points`) onto the span of A's columns.

    A: n x k with linearly independent columns, not necessarily orthonormal.
    Row b of the result is the vector of the column space of A closest to points[b]:
    P = A (A^T A)^{-1} A^T applied to each point. Returns a new array, also when the
    projection changes nothing (k = n, or points already in the span).
    """
    # BEGIN SOLUTION
    # Coefficients c of each projection solve the normal equations (A^T A) c = A^T p;
    # solve for all points at once (one column of the right-hand side per point).
    coeffs = np.linalg.solve(A.T @ A, A.T @ points.T)  # (k, batch)
    return (A @ coeffs).T  # (batch, n)
    # END SOLUTION


if MAIN:
    check(project_onto_columns)


# %%
def least_squares(A: Float[np.ndarray, "n k"], b: Float[np.ndarray, " n"]) -> Float[np.ndarray, " k"]:
    """The x minimising ||A x - b||_2, from the normal equations A^T A x = A^T b.

    A: n x k with n >= k and linearly independent columns (so the minimiser is unique).
    """
    # BEGIN SOLUTION
    return np.linalg.solve(A.T @ A, A.T @ b)  # solve, never form the inverse
    # END SOLUTION


if MAIN:
    check(least_squares)


# %%
def numerical_rank(A: Float[np.ndarray, "m n"], rtol: float | None = None) -> int:
    """The number of singular values of A larger than rtol * (the largest singular value).

    rtol defaults to max(m, n) * machine epsilon of A's dtype (NumPy's matrix_rank rule):
    the larger of the two dimensions, and float32's epsilon (1.19e-7) for a float32 A.
    The threshold is relative, so the rank does not change when A is scaled. A zero
    matrix has rank 0. Returns a Python int.
    """
    # BEGIN SOLUTION
    s = np.linalg.svd(A, compute_uv=False)  # descending, all >= 0
    if rtol is None:
        rtol = max(A.shape) * np.finfo(A.dtype).eps
    return int(np.count_nonzero(s > rtol * s[0]))
    # END SOLUTION


if MAIN:
    check(numerical_rank)


# %%
def low_rank_approx(A: Float[np.ndarray, "m n"], k: int) -> Float[np.ndarray, "m n"]:
    """The best rank-k approximation of A in the Frobenius (and spectral) norm.

    Keep the k largest singular values of the SVD A = U diag(s) V^T and drop the rest:
    A_k = sum_{i<k} s_i u_i v_i^T. 1 <= k <= min(m, n). Returns a new array, also for
    k = min(m, n), where A_k equals A (never A itself).
    """
    # BEGIN SOLUTION
    U, s, Vt = np.linalg.svd(A, full_matrices=False)  # s is sorted, largest first
    return (U[:, :k] * s[:k]) @ Vt[:k]  # scale column i of U by s_i, then combine rows of V^T
    # END SOLUTION


if MAIN:
    check(low_rank_approx)


# %%
def power_iteration(A: Float[np.ndarray, "n n"], n_iter: int = 500) -> tuple[float, Float[np.ndarray, " n"]]:
    """The dominant eigenpair (largest |eigenvalue|) of a symmetric matrix, by power iteration.

    Start from the all-ones vector (scaled or not: the first step normalises it) and repeat
    v <- A v / ||A v|| exactly n_iter times, with no early stop: the result is compared
    with those n_iter steps to 1e-10 even when n_iter is 1 or 2. Returns (lam, v): the
    eigenvalue with its sign, as a Python float (the Rayleigh quotient v^T A v of the
    returned v), and v of unit length with its sign fixed so that its entry of largest
    absolute value is positive.
    """
    # BEGIN SOLUTION
    v = np.ones(A.shape[0]) / np.sqrt(A.shape[0])
    for _ in range(n_iter):
        w = A @ v
        v = w / np.linalg.norm(w)  # renormalise every step, or |v| grows like |lam|^t
    lam = float(v @ A @ v)  # ||A v|| would lose the sign of a negative eigenvalue
    v = v * np.sign(v[np.argmax(np.abs(v))])  # the sign convention of the docstring
    return lam, v
    # END SOLUTION


if MAIN:
    check(power_iteration)


# %%
def dft_matrix(n: int) -> Complex[np.ndarray, "n n"]:
    """The n x n discrete Fourier transform matrix F[j, k] = exp(-2 pi i j k / n).

    F @ x equals np.fft.fft(x) for any length-n vector x (no normalisation factor).
    Returns a complex array.
    """
    # BEGIN SOLUTION
    j = np.arange(n)
    # exp is 2*pi-periodic, so j*k mod n gives the same entries with smaller, exact phases
    return np.exp(-2j * np.pi * (np.outer(j, j) % n) / n)
    # END SOLUTION


if MAIN:
    check(dft_matrix)
