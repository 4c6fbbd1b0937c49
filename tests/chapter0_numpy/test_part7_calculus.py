"""Tests for chapter 0, part 7: directional derivatives, numerical gradients and Jacobians,
a gradient checker, and Hessian-vector products by finite differences.

Expected values are analytic derivatives (polynomials, quadratic forms with non-symmetric
matrices, sin and exp), never another numerical derivative. Central differences of a cubic
are known exactly, (f(x+h) - f(x-h)) / 2h = 3x² + h², so with a large step a one-sided
difference (error O(h)) is clearly told apart from a central one (error O(h²)).
"""

import math

import numpy as np

from grader.testkit import exercise, expect, expect_close, expect_shape, rng, run


def _expects_shape(fn, shape: tuple[int, ...], caller: str):
    """fn, failing with a clear message if it is called with an array of another shape."""

    def wrapped(a):
        a = np.asarray(a)
        if a.shape != shape:
            raise AssertionError(
                f"{caller} called f with an array of shape {a.shape}; f takes arrays of x's shape {shape}"
            )
        return fn(a)

    return wrapped


# ---------------------------------------------------------------------------------------------
# directional_derivative


@exercise("directional_derivative")
def test_directional_derivative_cubic_exact(impl):
    # f(x) = sum x³: the central difference along v is exactly sum(3x² v) + eps² sum(v³).
    g = rng(0)
    x, v = g.normal(size=(3, 4)), g.normal(size=(3, 4))
    want = float(np.sum(3 * x**2 * v) + 0.01 * np.sum(v**3))

    def f(a):
        return float(np.sum(a**3))

    got = run(impl.directional_derivative, f, x, v, 0.1)
    expect_close(
        got,
        want,
        rtol=1e-9,
        what="central difference with eps=0.1",
        mistakes={
            "take a one-sided difference (f(x + eps v) - f(x)) / eps": lambda: (f(x + 0.1 * v) - f(x)) / 0.1,
            "divide by eps instead of 2 eps": 2 * want,
        },
    )


@exercise("directional_derivative")
def test_directional_derivative_of_sin(impl):
    g = rng(1)
    w = g.normal(size=(2, 5))
    x, v = g.normal(size=(2, 5)), g.normal(size=(2, 5))
    got = run(impl.directional_derivative, lambda a: float(np.sum(w * np.sin(a))), x, v)
    expect_close(got, float(np.sum(w * np.cos(x) * v)), rtol=1e-7)


@exercise("directional_derivative")
def test_directional_derivative_quadratic_form(impl):
    # f(x) = xᵀ A x with A not symmetric: grad = (A + Aᵀ) x, so D_v f = vᵀ (A + Aᵀ) x.
    g = rng(2)
    A = g.normal(size=(5, 5))
    x, v = g.normal(size=5), g.normal(size=5)
    got = run(impl.directional_derivative, lambda a: float(a @ A @ a), x, v)
    expect(isinstance(got.value, float), f"{got}: returned {type(got.value).__name__}, expected float")
    expect_close(got, float(v @ (A + A.T) @ x), rtol=1e-8)


@exercise("directional_derivative")
def test_directional_derivative_is_odd_in_v(impl):
    # Central differences: D_{-v} f = -D_v f exactly; a one-sided difference breaks this.
    g = rng(3)
    x, v = g.normal(size=(4, 2)), g.normal(size=(4, 2))

    def f(a):
        return float(np.sum(np.exp(a)))

    forward = run(impl.directional_derivative, f, x, v, 1e-3).value
    expect_close(
        run(impl.directional_derivative, f, x, -v, 1e-3),
        -forward,
        rtol=1e-9,
        what="D_(-v) f should equal -D_v f",
    )


@exercise("directional_derivative")
def test_directional_derivative_float32_input(impl):
    # x in float32: the step must be taken in float64, or x + 1e-5 v rounds to float32's grid.
    g = rng(4)
    x, v = g.normal(size=6).astype(np.float32), g.normal(size=6).astype(np.float32)
    x64, v64 = x.astype(np.float64), v.astype(np.float64)
    got = run(impl.directional_derivative, lambda a: float(np.sum(np.sin(np.asarray(a, np.float64)))), x, v)
    expect_close(got, float(np.sum(np.cos(x64) * v64)), rtol=1e-7, what="x and v given as float32")


# ---------------------------------------------------------------------------------------------
# numerical_gradient


@exercise("numerical_gradient")
def test_numerical_gradient_quadratic_form(impl):
    g = rng(10)
    A = g.normal(size=(5, 5))  # not symmetric: the gradient of xᵀAx is (A + Aᵀ) x, not 2Ax
    x = g.normal(size=5)
    got = run(impl.numerical_gradient, lambda a: float(a @ A @ a), x)
    expect_close(
        got,
        (A + A.T) @ x,
        rtol=1e-7,
        atol=1e-8,
        mistakes={
            # (f(x + eps e_i) - f(x)) / eps = ((A + A^T) x)_i + eps A_ii for a quadratic form
            "take a one-sided difference (f(x + eps e_i) - f(x)) / eps": (A + A.T) @ x + 1e-5 * np.diag(A),
            "divide by eps instead of 2 eps": 2 * (A + A.T) @ x,
        },
    )


@exercise("numerical_gradient")
def test_numerical_gradient_nd_input(impl):
    g = rng(11)
    w = g.normal(size=(3, 4, 2))
    x = g.normal(size=(3, 4, 2))

    def f(a):  # w * a only broadcasts if a keeps shape (3, 4, 2); the last term couples entries
        return float(np.sum(w * np.sin(a)) + np.sum(np.exp(0.3 * a)) + 0.1 * np.sum(a) ** 2)

    got = run(impl.numerical_gradient, _expects_shape(f, x.shape, "numerical_gradient"), x)
    want = w * np.cos(x) + 0.3 * np.exp(0.3 * x) + 0.2 * np.sum(x)
    expect_close(got, want, rtol=1e-7, atol=1e-9)
    expect(got.value.dtype == np.float64, f"{got}: dtype {got.value.dtype}, expected float64")


@exercise("numerical_gradient")
def test_numerical_gradient_cubic_exact_central_difference(impl):
    # f = sum x³; with eps = 0.1 central differences give exactly 3x² + 0.01. A forward
    # difference gives 3x² + 0.3x + 0.01, and dividing by eps instead of 2 eps doubles it.
    x = rng(12).normal(size=(2, 3))
    got = run(impl.numerical_gradient, lambda a: float(np.sum(a**3)), x, 0.1)
    expect_close(
        got,
        3 * x**2 + 0.01,
        rtol=1e-9,
        atol=1e-9,
        what="central difference, eps=0.1",
        mistakes={
            "take a one-sided difference (f(x + eps e_i) - f(x)) / eps": 3 * x**2 + 0.3 * x + 0.01,
            "divide by eps instead of 2 eps": 2 * (3 * x**2 + 0.01),
        },
    )


@exercise("numerical_gradient")
def test_numerical_gradient_error_is_order_eps_squared(impl):
    # Halving eps divides the error of a central difference by 4 (by 2 for a one-sided one).
    g = rng(13)
    w = g.normal(size=(4, 3))
    x = g.uniform(-1.2, 1.2, size=(4, 3))

    def f(a):
        return float(np.sum(w * np.sin(a)))

    f = _expects_shape(f, x.shape, "numerical_gradient")
    exact = w * np.cos(x)
    errors = [
        float(np.max(np.abs(run(impl.numerical_gradient, f, x, eps).value - exact))) for eps in (2e-2, 1e-2)
    ]
    ratio = errors[0] / max(errors[1], 1e-300)
    expect(
        3.5 < ratio < 4.5,
        f"numerical_gradient(f, x=float64[4, 3], eps): max error {errors[0]:.3g} at eps=0.02 and "
        f"{errors[1]:.3g} at eps=0.01, ratio {ratio:.2f}; a central difference gives a ratio "
        "close to 4 (error ∝ eps²)",
    )


@exercise("numerical_gradient")
def test_numerical_gradient_float32_input(impl):
    # The perturbation must be made in float64: in float32, x + 1e-5 is off by up to 6e-8.
    x = rng(14).normal(size=(3, 5)).astype(np.float32)
    got = run(impl.numerical_gradient, lambda a: float(np.sum(np.sin(np.asarray(a, np.float64)))), x)
    expect(got.value.dtype == np.float64, f"{got}: dtype {got.value.dtype}, expected float64")
    expect_close(got, np.cos(x.astype(np.float64)), rtol=1e-7, what="x given as float32")


@exercise("numerical_gradient")
def test_numerical_gradient_f_sees_one_entry_moved(impl):
    # Perturb-and-restore with x[i] += eps, x[i] -= 2 eps, x[i] += eps does not give back
    # x[i] exactly (rounding): later calls of f would see earlier entries slightly moved.
    x = rng(16).normal(size=(3, 4)) * 3 + 0.1
    eps = 1e-5
    original = x.copy()
    seen = []

    def f(a):
        a = np.asarray(a, dtype=np.float64)
        seen.append(a.copy())
        return float(np.sum(np.sin(a)))

    got = run(impl.numerical_gradient, f, x, eps)
    for a in seen:
        moved = np.argwhere(a != original)
        if len(moved) > 1:
            where = [tuple(int(k) for k in m) for m in moved[:3]]
            raise AssertionError(
                f"{got}: f was called with {len(moved)} entries of x moved (at {where} …); each call "
                "must see x with only the one entry moved: restore it with x[i] = old, not by "
                "adding and subtracting eps (x + eps - eps is not always x in floating point)"
            )
    expect_close(got, np.cos(original), rtol=1e-7, atol=1e-9)


@exercise("numerical_gradient")
def test_numerical_gradient_of_a_strided_view(impl):
    # x is a non-contiguous view; x.reshape(-1) is then a copy, and perturbing it moves nothing.
    big = rng(15).normal(size=(4, 6))
    x = big[1:, 1:5]  # shape (3, 4), rows 6 apart in memory: not flattenable without a copy
    weights = np.arange(1.0, 5.0)
    f = _expects_shape(lambda a: float(np.sum(a**2 * weights)), x.shape, "numerical_gradient")
    got = run(impl.numerical_gradient, f, x)
    expect_close(got, 2 * x * weights, rtol=1e-7, atol=1e-9)


# ---------------------------------------------------------------------------------------------
# numerical_jacobian


@exercise("numerical_jacobian")
def test_numerical_jacobian_linear_map(impl):
    g = rng(20)
    A, b = g.normal(size=(3, 5)), g.normal(size=3)
    x = g.normal(size=5)
    got = run(impl.numerical_jacobian, lambda a: A @ a + b, x)
    expect_close(got, A, rtol=1e-7, atol=1e-8, what="J of x -> A x + b is A (shape (m, n) = (3, 5))")


@exercise("numerical_jacobian")
def test_numerical_jacobian_cubic_exact_central_difference(impl):
    # Outputs sum(x³) and sum(2x³): rows exactly 3x² + eps² and 6x² + 2 eps² for eps = 0.1.
    x = rng(22).normal(size=5)
    got = run(impl.numerical_jacobian, lambda a: np.array([np.sum(a**3), np.sum(2 * a**3)]), x, 0.1)
    want = np.stack([3 * x**2 + 0.01, 6 * x**2 + 0.02])
    forward = 3 * x**2 + 0.3 * x + 0.01
    expect_close(
        got,
        want,
        rtol=1e-9,
        atol=1e-9,
        what="central difference, eps=0.1",
        mistakes={
            "take a one-sided difference (f(x + eps e_j) - f(x)) / eps": np.stack([forward, 2 * forward]),
            "divide by eps instead of 2 eps": 2 * want,
        },
    )


@exercise("numerical_jacobian")
def test_numerical_jacobian_nonlinear(impl):
    x = np.array([0.5, -1.2, 0.8, 2.0])

    def f(a):
        return np.array([a[0] * a[1] * a[2], np.sin(a[3]) + a[0] ** 2, np.exp(a[1] - a[2])])

    e = math.exp(x[1] - x[2])
    want = np.array(
        [
            [x[1] * x[2], x[0] * x[2], x[0] * x[1], 0.0],
            [2 * x[0], 0.0, 0.0, math.cos(x[3])],
            [0.0, e, -e, 0.0],
        ]
    )
    expect_close(run(impl.numerical_jacobian, f, x), want, rtol=1e-7, atol=1e-9)


@exercise("numerical_jacobian")
def test_numerical_jacobian_single_output_is_gradient_row(impl):
    x = rng(21).normal(size=6)
    got = run(impl.numerical_jacobian, lambda a: np.array([np.sum(a**2)]), x)
    expect_close(got, 2 * x[None, :], rtol=1e-7, atol=1e-9, what="shape (1, 6): one row")


# ---------------------------------------------------------------------------------------------
# gradient_check


def _sin_problem(seed: int):
    g = rng(seed)
    w = g.normal(size=(3, 4))
    x = g.uniform(-1.0, 1.0, size=(3, 4))  # cos(x) > 0.5: no gradient entry near 0

    def f(a):
        return float(np.sum(w * np.sin(a)))

    def grad(a):
        return w * np.cos(a)

    return f, grad, x


@exercise("gradient_check")
def test_gradient_check_correct_gradient_is_tiny(impl):
    f, grad, x = _sin_problem(30)
    got = run(impl.gradient_check, f, grad, x)
    expect(isinstance(got.value, float), f"{got}: returned {type(got.value).__name__}, expected float")
    expect(
        0 <= got.value < 1e-7,
        f"{got}: relative error {got.value:.3g} for a correct gradient, expected below 1e-7",
    )


@exercise("gradient_check")
def test_gradient_check_reports_worst_entry(impl):
    # One entry doubled (relative error |2g - g| / (|2g| + |g|) = 1/3), one 10% too large
    # (0.1 / 2.1 ≈ 0.048), the rest right: the answer is the maximum, 1/3.
    f, grad, x = _sin_problem(31)

    def wrong(a):
        out = grad(a)
        out[1, 2] *= 2.0
        out[2, 0] *= 1.1
        return out

    g, a = grad(x), wrong(x)
    expect_close(
        run(impl.gradient_check, f, wrong, x),
        1 / 3,
        rtol=1e-5,
        what="max over entries of |a - n| / (|a| + |n|)",
        mistakes={
            "divide by max(|a|, |n|) instead of |a| + |n|": 0.5,
            "return the mean of the relative errors instead of the max": float(
                np.mean(np.abs(a - g) / (np.abs(a) + np.abs(g)))
            ),
            "return the largest absolute error |a - n|, not the relative one": float(np.max(np.abs(a - g))),
        },
    )
    # Every entry too small by half its size: a - n < 0 everywhere, worst entries again 1/3.
    expect_close(
        run(impl.gradient_check, f, lambda a: grad(a) - 0.5 * np.abs(grad(a)), x),
        1 / 3,
        rtol=1e-5,
        what="analytic gradient g - |g|/2: the error is |a - n|",
    )


@exercise("gradient_check")
def test_gradient_check_sign_error_and_zero_gradient(impl):
    f, grad, x = _sin_problem(32)
    expect_close(
        run(impl.gradient_check, f, lambda a: -grad(a), x),
        1.0,
        rtol=1e-9,
        what="gradient with the wrong sign",
    )
    expect_close(
        run(impl.gradient_check, f, lambda a: np.zeros_like(a), x),
        1.0,
        rtol=1e-9,
        what="an all-zero analytic gradient",
    )


@exercise("gradient_check")
def test_gradient_check_entries_where_both_are_zero(impl):
    # f ignores the second row of x: analytic and numerical gradients are exactly 0 there.
    x = rng(33).normal(size=(2, 5))

    def f(a):
        return float(np.sum(a[0] ** 2))

    def grad(a):
        out = np.zeros_like(a)
        out[0] = 2 * a[0]
        return out

    got = run(impl.gradient_check, f, grad, x)
    expect(
        not math.isnan(got.value) and 0 <= got.value < 1e-7,
        f"{got}: returned {got.value!r}; entries where both gradients are 0 have relative error 0",
    )


@exercise("gradient_check")
def test_gradient_check_rejects_wrongly_shaped_gradient(impl):
    x = rng(34).normal(size=5)
    try:
        got = run(impl.gradient_check, lambda a: float(np.sum(a**2)), lambda a: 2 * a[:, None], x)
    except ValueError:
        return
    raise AssertionError(
        f"{got}: returned {got.value!r} although grad_f(x) has shape (5, 1) and x has shape (5,); "
        "expected a ValueError (broadcasting would compare the wrong entries)"
    )


# ---------------------------------------------------------------------------------------------
# hessian_vector_product


@exercise("hessian_vector_product")
def test_hessian_vector_product_quadratic_form(impl):
    # f = xᵀ A x: gradient (A + Aᵀ) x is linear, so the central difference is exact: H v = (A + Aᵀ) v.
    g = rng(40)
    A = g.normal(size=(5, 5))
    x, v = g.normal(size=5), g.normal(size=5)
    got = run(impl.hessian_vector_product, lambda a: (A + A.T) @ a, x, v)
    expect_close(got, (A + A.T) @ v, rtol=1e-7, atol=1e-8)


@exercise("hessian_vector_product")
def test_hessian_vector_product_nd_elementwise(impl):
    # f = sum(w exp(x/2)) + sum(sin x): the Hessian is diagonal, H v = (w exp(x/2)/4 - sin x) v.
    # eps = 1e-3: central error ~1e-7 relative; a one-sided difference is off by ~1e-3.
    g = rng(41)
    w = g.uniform(0.5, 2.0, size=(2, 3, 4))
    x, v = g.normal(size=(2, 3, 4)), g.normal(size=(2, 3, 4))

    def grad(a):
        return 0.5 * w * np.exp(0.5 * a) + np.cos(a)

    got = run(impl.hessian_vector_product, grad, x, v, 1e-3)
    expect_shape(got, (2, 3, 4))
    want = (0.25 * w * np.exp(0.5 * x) - np.sin(x)) * v
    expect_close(
        got,
        want,
        rtol=1e-5,
        atol=1e-6,
        mistakes={
            "take a one-sided difference (grad_f(x + eps v) - grad_f(x)) / eps": lambda: (
                (grad(x + 1e-3 * v) - grad(x)) / 1e-3
            ),
            "divide by eps instead of 2 eps": 2 * want,
        },
    )


@exercise("hessian_vector_product")
def test_hessian_vector_product_coupled(impl):
    # f = (|x|²)²: grad = 4 |x|² x, H = 8 x xᵀ + 4 |x|² I, so H v = 8 x (x·v) + 4 |x|² v.
    g = rng(42)
    x, v = g.normal(size=6), g.normal(size=6)
    got = run(impl.hessian_vector_product, lambda a: 4 * np.dot(a, a) * a, x, v)
    expect_close(got, 8 * x * np.dot(x, v) + 4 * np.dot(x, x) * v, rtol=1e-7, atol=1e-8)


@exercise("hessian_vector_product")
def test_hessian_vector_product_float32_and_dtype(impl):
    g = rng(43)
    x, v = g.normal(size=(3, 2)).astype(np.float32), g.normal(size=(3, 2)).astype(np.float32)
    got = run(impl.hessian_vector_product, lambda a: np.sin(np.asarray(a, np.float64)), x, v)
    expect(got.value.dtype == np.float64, f"{got}: dtype {got.value.dtype}, expected float64")
    want = np.cos(x.astype(np.float64)) * v.astype(np.float64)  # grad = sin x, so H = diag(cos x)
    expect_close(got, want, rtol=1e-6, atol=1e-8, what="x and v given as float32")
