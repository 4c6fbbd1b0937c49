"""Tests for chapter 0, part 5: Gram–Schmidt, projections, least squares, rank, low-rank
approximation, power iteration and the DFT matrix.

Expected values come from hand-checked small cases, from identities the answer must
satisfy (orthogonality of residuals, idempotence, the Eckart–Young error, A v = lam v,
F^H F = n I), and from other algorithms (Householder QR, lstsq, eigh, the FFT).
Matrices are tall or wide, never square, except where the maths needs a square one.
"""

import numpy as np
import pytest

from grader.testkit import Call, exercise, expect, expect_close, expect_equal, rng, run


def _orthonormal(n: int, k: int, seed: int) -> np.ndarray:
    """An n x k matrix with orthonormal columns (the Q of a random matrix)."""
    q, _ = np.linalg.qr(rng(seed).normal(size=(n, k)))
    return q


def _with_singular_values(m: int, n: int, s, seed: int) -> np.ndarray:
    """An m x n matrix whose singular values are exactly s (then zeros)."""
    r = len(s)
    return (_orthonormal(m, r, seed) * np.asarray(s, dtype=np.float64)) @ _orthonormal(n, r, seed + 1).T


def _symmetric(eigenvalues, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """A symmetric matrix with the given eigenvalues, and its eigenvectors as columns."""
    n = len(eigenvalues)
    q = _orthonormal(n, n, seed)
    return (q * np.asarray(eigenvalues, dtype=np.float64)) @ q.T, q


def _sign_fixed(v: np.ndarray) -> np.ndarray:
    return v * np.sign(v[np.argmax(np.abs(v))])


# --- gram_schmidt ---------------------------------------------------------------------


@exercise("gram_schmidt")
def test_gram_schmidt_hand_case(impl):
    # q1 = (3, 4, 0)/5; a2 - (a2 . q1) q1 = (11, -2, 0) - 5 q1 = (8, -6, 0), of norm 10
    A = np.array([[3.0, 11.0], [4.0, -2.0], [0.0, 0.0]])
    expect_close(
        run(impl.gram_schmidt, A),
        np.array([[0.6, 0.8], [0.8, -0.6], [0.0, 0.0]]),
        mistakes={
            "orthogonalise without normalising the columns": np.array([[3.0, 8.0], [4.0, -6.0], [0.0, 0.0]]),
            "normalise the columns without orthogonalising them": lambda: A / np.linalg.norm(A, axis=0),
        },
    )


@exercise("gram_schmidt")
@pytest.mark.parametrize("shape", [(7, 4), (9, 2), (10, 3)])
def test_gram_schmidt_columns_are_orthonormal(impl, shape):
    A = rng(60).normal(size=shape)
    got = run(impl.gram_schmidt, A)
    Q = got.value
    expect(
        isinstance(Q, np.ndarray) and Q.shape == shape,
        f"{got}: returned shape {getattr(Q, 'shape', None)}, expected {shape}",
    )
    expect_close(Call(Q.T @ Q, f"Q.T @ Q for Q = {got}"), np.eye(shape[1]), atol=1e-10)


@exercise("gram_schmidt")
def test_gram_schmidt_matches_householder_qr(impl):
    # np.linalg.qr uses Householder reflections; its Q agrees up to the sign of each column
    A = rng(61).normal(size=(8, 3))
    q, r = np.linalg.qr(A)
    want = q * np.sign(np.diag(r))  # make R's diagonal positive, as the docstring asks
    expect_close(run(impl.gram_schmidt, A), want, atol=1e-10)


@exercise("gram_schmidt")
def test_gram_schmidt_of_orthonormal_columns_is_a_new_copy(impl):
    # nothing to do: the answer equals A, but in a new array the caller may change freely
    q, r = np.linalg.qr(rng(63).normal(size=(6, 3)))
    A = q * np.sign(np.diag(r))
    got = run(impl.gram_schmidt, A)
    expect_close(got, A.copy(), atol=1e-12)
    expect(
        not np.shares_memory(got.value, A),
        f"{got}: returned A itself for columns that are already orthonormal; return a new array",
    )


@exercise("gram_schmidt")
def test_gram_schmidt_r_is_upper_triangular_with_positive_diagonal(impl):
    A = rng(62).normal(size=(6, 4)) + 2.0  # columns far from orthogonal
    got = run(impl.gram_schmidt, A)
    R = got.value.T @ A
    expect_close(
        Call(np.tril(R, -1), f"below the diagonal of R = Q.T @ A, Q = {got}"), np.zeros((4, 4)), atol=1e-10
    )
    expect(bool(np.all(np.diag(R) > 0)), f"{got}: diag(Q.T @ A) = {np.diag(R)}, expected all > 0")
    expect_close(
        Call(got.value @ R, f"Q @ (Q.T @ A) for Q = {got}"), A, atol=1e-10, what="A is rebuilt from Q"
    )


# --- project_onto_columns -------------------------------------------------------------


def _projection_by_qr(A: np.ndarray, points: np.ndarray) -> np.ndarray:
    q, _ = np.linalg.qr(A)  # orthonormal basis of the column space
    return points @ q @ q.T


@exercise("project_onto_columns")
def test_project_onto_columns_hand_case(impl):
    # columns (1, 0, 0) and (1, 1, 0) span the plane z = 0: the projection drops z
    A = np.array([[1.0, 1.0], [0.0, 1.0], [0.0, 0.0]])
    points = np.array([[1.0, 2.0, 3.0], [4.0, -5.0, 6.0], [0.5, 0.0, -1.0], [0.0, 0.0, 2.0]])
    want = points * np.array([1.0, 1.0, 0.0])
    expect_close(
        run(impl.project_onto_columns, A, points),
        want,
        mistakes={
            "apply A A^T, as if the columns of A were orthonormal (no (A^T A)^-1)": points @ A @ A.T,
            "solve for the coefficients but return them instead of A times them": lambda: (
                np.linalg.solve(A.T @ A, A.T @ points.T).T
            ),
        },
    )


@exercise("project_onto_columns")
@pytest.mark.parametrize("n, k, batch", [(8, 3, 5), (6, 1, 4), (5, 4, 2)])
def test_project_onto_columns_matches_qr(impl, n, k, batch):
    A = rng(70).normal(size=(n, k))
    points = rng(71).normal(size=(batch, n))
    expect_close(run(impl.project_onto_columns, A, points), _projection_by_qr(A, points), atol=1e-10)


@exercise("project_onto_columns")
def test_project_onto_columns_residual_is_orthogonal(impl):
    A = rng(72).normal(size=(9, 3)) + 1.0
    points = rng(73).normal(size=(6, 9))
    got = run(impl.project_onto_columns, A, points)
    residual = points - got.value
    expect_close(
        Call(residual @ A, f"(points - {got}) @ A"),
        np.zeros((6, 3)),
        atol=1e-10,
        what="the residual must be orthogonal to every column of A",
    )


@exercise("project_onto_columns")
def test_project_onto_columns_depends_only_on_the_span(impl):
    # A @ M has the same columns space as A for an invertible M; points in it stay put
    A = rng(74).normal(size=(7, 3))
    M = rng(75).normal(size=(3, 3)) + 3 * np.eye(3)
    points = rng(76).normal(size=(4, 7))
    first = run(impl.project_onto_columns, A, points)
    expect_close(run(impl.project_onto_columns, A @ M, points), first.value, atol=1e-10)
    inside = rng(77).normal(size=(5, 3)) @ A.T  # five points of the column space
    got = run(impl.project_onto_columns, A, inside)
    expect_close(got, inside, atol=1e-10, what="points already in the span are unchanged")
    square = rng(78).normal(size=(4, 4))  # k = n: the span is everything, P = I
    every = run(impl.project_onto_columns, square, points[:, :4])
    expect_close(every, points[:, :4].copy(), atol=1e-10, what="k = n: every point is in the span")
    expect(
        not np.shares_memory(every.value, points),
        f"{every}: returned the points themselves; return a new array even when nothing changes",
    )


# --- least_squares --------------------------------------------------------------------


@exercise("least_squares")
def test_least_squares_line_fit_by_hand(impl):
    # y = c0 + c1 t through (0, 1), (1, 3), (2, 2), (3, 5):
    # A^T A = [[4, 6], [6, 14]], A^T y = [11, 22]  =>  c = (1.1, 1.1)
    t = np.array([0.0, 1.0, 2.0, 3.0])
    A = np.stack([np.ones(4), t], axis=1)
    b = np.array([1.0, 3.0, 2.0, 5.0])
    expect_close(
        run(impl.least_squares, A, b),
        np.array([1.1, 1.1]),
        mistakes={"solve only the first k equations exactly (A[:k] x = b[:k])": np.array([1.0, 2.0])},
    )


@exercise("least_squares")
def test_least_squares_recovers_exact_solution(impl):
    A = rng(80).normal(size=(9, 4))
    x = np.array([1.5, -2.0, 0.25, 3.0])
    expect_close(run(impl.least_squares, A, A @ x), x, atol=1e-10)


@exercise("least_squares")
@pytest.mark.parametrize("n, k", [(10, 3), (6, 5)])
def test_least_squares_matches_lstsq(impl, n, k):
    A = rng(81).normal(size=(n, k))
    b = rng(82).normal(size=n)
    expect_close(run(impl.least_squares, A, b), np.linalg.lstsq(A, b, rcond=None)[0], atol=1e-10)


@exercise("least_squares")
def test_least_squares_residual_is_orthogonal(impl):
    A = rng(83).normal(size=(12, 3)) + 0.5
    b = rng(84).normal(size=12)
    got = run(impl.least_squares, A, b)
    expect_close(
        Call(A.T @ (A @ got.value - b), f"A.T @ (A @ {got} - b)"),
        np.zeros(3),
        atol=1e-10,
        what="the normal equations A^T (A x - b) = 0",
    )


# --- numerical_rank -------------------------------------------------------------------


@exercise("numerical_rank")
@pytest.mark.parametrize("m, n, r", [(9, 6, 3), (5, 8, 1), (7, 10, 4)])
def test_numerical_rank_of_a_product(impl, m, n, r):
    # (m x r) @ (r x n) has rank r; in floating point its other singular values are ~1e-15
    A = rng(90).normal(size=(m, r)) @ rng(91).normal(size=(r, n))
    expect_equal(run(impl.numerical_rank, A), r)


@exercise("numerical_rank")
@pytest.mark.parametrize("shape", [(5, 8), (8, 5)])
def test_numerical_rank_full_and_zero(impl, shape):
    expect_equal(run(impl.numerical_rank, rng(92).normal(size=shape)), min(shape))
    expect_equal(run(impl.numerical_rank, np.zeros(shape)), 0, what="a zero matrix has rank 0")


@exercise("numerical_rank")
@pytest.mark.parametrize("scale", [1e-20, 1e12])
def test_numerical_rank_is_scale_invariant(impl, scale):
    A = rng(93).normal(size=(8, 2)) @ rng(94).normal(size=(2, 6))  # rank 2
    s = np.linalg.svd(scale * A, compute_uv=False)
    expect_equal(
        run(impl.numerical_rank, scale * A),
        2,
        what="the threshold is relative to the largest singular value",
        mistakes={
            "compare the singular values with rtol itself (an absolute threshold), not rtol * s_1": int(
                np.sum(s > 8 * np.finfo(np.float64).eps)
            ),
        },
    )


@exercise("numerical_rank")
@pytest.mark.parametrize("transpose", [False, True])
def test_numerical_rank_default_rtol_uses_the_larger_dimension(impl, transpose):
    # singular values exactly 1 and 1e-15 (then 0): 1e-15 lies above min(m, n) eps = 6.7e-16
    # and below max(m, n) eps = 8.9e-15, so only the max(m, n) rule gives rank 1
    A = np.zeros((40, 3))
    A[0, 0], A[1, 1] = 1.0, 1e-15
    A = A.T.copy() if transpose else A
    s = np.linalg.svd(A, compute_uv=False)
    eps = np.finfo(np.float64).eps
    expect_equal(
        run(impl.numerical_rank, A),
        1,
        what="default rtol = max(m, n) * eps = 40 eps",
        mistakes={
            f"use the smaller dimension ({'m, the rows' if transpose else 'n, the columns'}) instead of "
            "max(m, n) in the default rtol": int(np.sum(s > min(A.shape) * eps * s[0])),
        },
    )


@exercise("numerical_rank")
def test_numerical_rank_float32_uses_float32_epsilon(impl):
    # a float32 product of rank 2 keeps rounding noise of ~1e-8 of s_1 in its other singular
    # values: below max(m, n) * 1.19e-7 (float32's eps), far above float64's eps
    g = rng(96)
    A = (g.normal(size=(7, 2)) @ g.normal(size=(2, 5))).astype(np.float32)
    s = np.linalg.svd(A.astype(np.float64), compute_uv=False)
    expect_equal(
        run(impl.numerical_rank, A),
        2,
        what="float32 A: rtol = 7 * 1.19e-7",
        mistakes={
            "use float64's epsilon whatever A's dtype": int(np.sum(s > 7 * np.finfo(np.float64).eps * s[0])),
        },
    )


@exercise("numerical_rank")
@pytest.mark.parametrize("rtol, want", [(1e-4, 1), (1e-6, 2), (1e-10, 3), (None, 3)])
def test_numerical_rank_rtol(impl, rtol, want):
    # singular values 50, 2e-3, 1e-6: relative thresholds 5e-3, 5e-5, 5e-9, ~1e-13
    A = _with_singular_values(6, 4, [50.0, 2e-3, 1e-6], seed=95)
    expect_equal(run(impl.numerical_rank, A, rtol), want)


# --- low_rank_approx ------------------------------------------------------------------


@exercise("low_rank_approx")
def test_low_rank_approx_hand_case(impl):
    A = np.array([[3.0, 0.0], [0.0, -1.0], [0.0, 0.0]])
    expect_close(
        run(impl.low_rank_approx, A, 1),
        np.array([[3.0, 0.0], [0.0, 0.0], [0.0, 0.0]]),
        mistakes={
            "keep the k smallest singular values instead of the k largest": np.array(
                [[0.0, 0.0], [0.0, -1.0], [0.0, 0.0]]
            )
        },
    )


@exercise("low_rank_approx")
@pytest.mark.parametrize("m, n, k", [(8, 5, 2), (6, 9, 3), (7, 4, 1)])
def test_low_rank_approx_eckart_young_error(impl, m, n, k):
    A = rng(100).normal(size=(m, n))
    got = run(impl.low_rank_approx, A, k)
    s = np.linalg.svd(A, compute_uv=False)
    err = Call(np.linalg.norm(A - got.value), f"||A - {got}||_F")
    expect_close(
        err,
        np.sqrt(np.sum(s[k:] ** 2)),
        rtol=1e-9,
        what="Frobenius error = sqrt(sum of the dropped squared singular values)",
    )
    s_got = np.linalg.svd(got.value, compute_uv=False)
    rank = int(np.sum(s_got > 1e-10 * s_got[0]))
    expect(rank == k, f"{got}: the result has rank {rank}, expected {k}")


@exercise("low_rank_approx")
def test_low_rank_approx_keeps_a_rank_k_matrix(impl):
    A = _with_singular_values(7, 5, [4.0, 2.5, 0.5], seed=101)  # rank 3
    expect_close(run(impl.low_rank_approx, A, 3), A, atol=1e-10)
    full = rng(102).normal(size=(4, 6))
    got = run(impl.low_rank_approx, full, 4)
    expect_close(got, full, atol=1e-10, what="k = min(m, n)")
    expect(
        not np.shares_memory(got.value, full),
        f"{got}: returned A itself for k = min(m, n); return a new array (the caller may change it)",
    )


@exercise("low_rank_approx")
def test_low_rank_approx_residual_is_orthogonal(impl):
    # A - A_k uses only the dropped singular directions, so <A - A_k, A_k>_F = 0
    A = rng(103).normal(size=(9, 6))
    got = run(impl.low_rank_approx, A, 2)
    inner = Call(np.sum((A - got.value) * got.value), f"<A - {got}, result>_F")
    expect_close(inner, 0.0, atol=1e-9)


# --- power_iteration ------------------------------------------------------------------


def _expect_eigenpair(got: Call, lam: float, v: np.ndarray, lam_mistakes=None, rtol=1e-8, atol=1e-7) -> None:
    value = got.value
    expect(
        isinstance(value, tuple) and len(value) == 2,
        f"{got}: returned {type(value).__name__}, expected a tuple (eigenvalue, eigenvector)",
    )
    mistakes = {"take ||A v|| as the eigenvalue, which loses its sign": abs(lam)} | (lam_mistakes or {})
    expect_close(Call(value[0], got.text), lam, rtol=rtol, what="the eigenvalue", mistakes=mistakes)
    expect_close(Call(value[1], got.text), v, atol=atol, what="the eigenvector")


def _power_steps(A: np.ndarray, n_iter: int) -> tuple[float, np.ndarray]:
    """Exactly n_iter power-iteration steps from the all-ones vector, as the docstring says."""
    v = np.ones(A.shape[0]) / np.sqrt(A.shape[0])
    for _ in range(n_iter):
        v = A @ v
        v = v / np.linalg.norm(v)
    return float(v @ A @ v), _sign_fixed(v)


@exercise("power_iteration")
def test_power_iteration_diagonal_by_hand(impl):
    # eigenvalues 1, 4, 2 along the axes; dominant: 4 with eigenvector e_1
    A = np.diag([1.0, 4.0, 2.0])
    _expect_eigenpair(run(impl.power_iteration, A, 200), 4.0, np.array([0.0, 1.0, 0.0]))


@exercise("power_iteration")
@pytest.mark.parametrize("eigenvalues", [[6.0, -3.0, 2.0, 1.0, 0.5], [1.0, 0.2, -9.0, 4.0, 3.0, 2.0]])
def test_power_iteration_matches_construction(impl, eigenvalues):
    A, q = _symmetric(eigenvalues, seed=110)
    top = int(np.argmax(np.abs(eigenvalues)))
    want_v = _sign_fixed(q[:, top])
    _expect_eigenpair(run(impl.power_iteration, A, 300), eigenvalues[top], want_v)


@exercise("power_iteration")
def test_power_iteration_negative_dominant_eigenvalue(impl):
    # |-5| is the largest: the answer is -5, not 5 (||A v|| loses the sign)
    A, q = _symmetric([3.0, -5.0, 1.0, 2.0], seed=111)
    _expect_eigenpair(
        run(impl.power_iteration, A, 300),
        -5.0,
        _sign_fixed(q[:, 1]),
    )


@exercise("power_iteration")
@pytest.mark.parametrize("n_iter", [1, 2, 5])
def test_power_iteration_runs_exactly_n_iter_steps(impl, n_iter):
    # eigenvalues 1 and 0.9 are close: after a few steps v is still far from converged, so
    # one step more or less changes it visibly
    A, _ = _symmetric([1.0, 0.9, -0.5, 0.3], seed=113)
    lam, v = _power_steps(A, n_iter)
    more, fewer = _power_steps(A, n_iter + 1), _power_steps(A, n_iter - 1)
    _expect_eigenpair(
        run(impl.power_iteration, A, n_iter),
        lam,
        v,
        lam_mistakes={
            "run n_iter + 1 steps instead of n_iter": more[0],
            "run n_iter - 1 steps instead of n_iter": fewer[0],
        },
        rtol=1e-10,
        atol=1e-10,
    )


@exercise("power_iteration")
def test_power_iteration_is_an_eigenpair_of_unit_length(impl):
    # a large dominant eigenvalue: without renormalising, v overflows after ~200 steps
    A, _ = _symmetric([40.0, 20.0, -10.0, 5.0, 1.0, 0.1, 3.0], seed=112)
    got = run(impl.power_iteration, A, 400)
    lam, v = got.value
    expect_close(Call(np.linalg.norm(v), f"||v|| for {got}"), 1.0, rtol=1e-10)
    expect_close(Call(A @ v - lam * v, f"A v - lam v for {got}"), np.zeros(7), atol=1e-8)
    expect(isinstance(lam, float), f"{got}: eigenvalue of type {type(lam).__name__}, expected float")


# --- dft_matrix -----------------------------------------------------------------------


@exercise("dft_matrix")
def test_dft_matrix_hand_cases(impl):
    # n = 4: the entries are powers of w = exp(-2 pi i / 4) = -i
    hand = {
        1: np.array([[1.0 + 0j]]),
        2: np.array([[1, 1], [1, -1]], dtype=complex),
        4: np.array([[1, 1, 1, 1], [1, -1j, -1, 1j], [1, -1, 1, -1], [1, 1j, -1, -1j]]),
    }
    for n, want in hand.items():
        expect_close(
            run(impl.dft_matrix, n),
            want,
            mistakes={
                "use exp(+2 pi i jk / n), the inverse transform's sign": want.conj(),
                "divide by n": want / n,
                "divide by sqrt(n) (the unitary normalisation)": want / np.sqrt(n),
            },
        )


@exercise("dft_matrix")
@pytest.mark.parametrize("n", [5, 8, 12])
def test_dft_matrix_applied_matches_fft(impl, n):
    g = rng(120 + n)
    x = g.normal(size=(3, n)) + 1j * g.normal(size=(3, n))  # three complex signals, as rows
    got = run(impl.dft_matrix, n)
    # F is applied to column vectors: F @ x[b] for each row b, i.e. x @ F.T
    expect_close(Call(x @ got.value.T, f"x @ {got}.T"), np.fft.fft(x, axis=-1))


@exercise("dft_matrix")
def test_dft_matrix_is_unitary_up_to_scale(impl):
    # the columns are orthogonal with squared length n: F^H F = n I
    n = 9
    got = run(impl.dft_matrix, n)
    F = got.value
    expect_close(Call(F.conj().T @ F, f"F^H F for F = {got}"), n * np.eye(n, dtype=complex))


@exercise("dft_matrix")
def test_dft_matrix_large_n_entries(impl):
    # compare with the definition at every entry, for an n where j*k gets large
    n = 64
    j = np.arange(n)
    angle = -2 * np.pi * np.outer(j, j) / n
    expect_close(run(impl.dft_matrix, n), np.cos(angle) + 1j * np.sin(angle), atol=1e-10)
