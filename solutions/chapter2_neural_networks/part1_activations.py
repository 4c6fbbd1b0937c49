# %% [markdown]
# # Chapter 2, part 1: activation functions, forward and backward
#
# Reading: chapters/chapter2_neural_networks/part1_activations.md
#
# Fill in each function, then run the cell below it: `check(fn)` runs that exercise's
# tests here and prints a verdict. `python -m grader chapter2/part1` grades the file.
#
# Conventions: float arrays of any shape (float64 in the tests, unless said otherwise);
# softmax works over the last axis. float32 inputs give float32 results: nothing is
# turned into float64 on the way (Python floats like 0.5 keep float32, a NumPy float64
# constant such as np.sqrt(2.0) or an array of Python floats from np.where does not). Each
# activation is a pair of pure functions:
#   name(x, [hyper-parameters])                      -> y
#   name_backward(x, [hyper-parameters], grad_out)   -> grad_x = dL/dx
# The backward pass takes the forward's *input* x, the same hyper-parameters in the same
# order (with no default: grad_out always comes last), and grad_out = dL/dy, the upstream
# gradient, of y's shape. At a kink (x == 0 exactly) the derivative is the one from the
# left: 0 for relu, slope for leaky_relu, alpha for elu. No function changes its inputs.
# Precision: relu and relu_backward are compared exactly; the others to a relative 1e-12
# on hand values and against their definitions (1e-10 for gelu, softmax and their
# backward passes), and to 1e-5 against central differences.

# %%
import numpy as np
from jaxtyping import Float

from grader.check import check

MAIN = __name__ == "__main__"

# GELU's tanh approximation (Hendrycks & Gimpel 2016, as in GPT-2's code)
SQRT_2_OVER_PI = float(np.sqrt(2.0 / np.pi))
GELU_CUBIC = 0.044715


# %%
def relu(x: Float[np.ndarray, "*shape"]) -> Float[np.ndarray, "*shape"]:
    """The rectified linear unit max(x, 0), elementwise."""
    # BEGIN SOLUTION
    return np.maximum(x, 0.0)
    # END SOLUTION


if MAIN:
    check(relu)


# %%
def relu_backward(
    x: Float[np.ndarray, "*shape"],
    grad_out: Float[np.ndarray, "*shape"],
) -> Float[np.ndarray, "*shape"]:
    """dL/dx through y = relu(x), given grad_out = dL/dy.

    relu'(x) is 1 where x > 0 and 0 where x < 0. At x == 0 it is undefined; by convention
    (PyTorch's too) it is 0 there.
    """
    # BEGIN SOLUTION
    return grad_out * (x > 0)  # the mask is 0 at x == 0
    # END SOLUTION


if MAIN:
    check(relu_backward)


# %%
def leaky_relu(x: Float[np.ndarray, "*shape"], slope: float = 0.01) -> Float[np.ndarray, "*shape"]:
    """Leaky ReLU, elementwise: x where x > 0, slope * x elsewhere.

    slope: the gradient on the negative side, with 0 <= slope < 1 (0 gives relu).
    """
    # BEGIN SOLUTION
    return np.where(x > 0, x, slope * x)
    # END SOLUTION


if MAIN:
    check(leaky_relu)


# %%
def leaky_relu_backward(
    x: Float[np.ndarray, "*shape"],
    slope: float,
    grad_out: Float[np.ndarray, "*shape"],
) -> Float[np.ndarray, "*shape"]:
    """dL/dx through y = leaky_relu(x, slope), given grad_out = dL/dy.

    The local derivative is 1 where x > 0 and slope where x <= 0 (slope at x == 0).
    """
    # BEGIN SOLUTION
    return np.where(x > 0, grad_out, slope * grad_out)  # keeps grad_out's dtype
    # END SOLUTION


if MAIN:
    check(leaky_relu_backward)


# %%
def elu(x: Float[np.ndarray, "*shape"], alpha: float = 1.0) -> Float[np.ndarray, "*shape"]:
    """The exponential linear unit, elementwise: x where x > 0, alpha * (exp(x) - 1) elsewhere.

    alpha > 0 is the value elu tends to, negated, as x -> -inf. No overflow warning for
    x = ±1000.
    """
    # BEGIN SOLUTION
    # np.where evaluates both branches everywhere: clip x first so exp never sees +1000.
    negative = alpha * np.expm1(np.minimum(x, 0.0))  # expm1(x) = exp(x) - 1, accurate near 0
    return np.where(x > 0, x, negative)
    # END SOLUTION


if MAIN:
    check(elu)


# %%
def elu_backward(
    x: Float[np.ndarray, "*shape"],
    alpha: float,
    grad_out: Float[np.ndarray, "*shape"],
) -> Float[np.ndarray, "*shape"]:
    """dL/dx through y = elu(x, alpha), given grad_out = dL/dy.

    The local derivative is 1 where x > 0 and alpha * exp(x) = elu(x) + alpha where
    x <= 0 (alpha at x == 0). No overflow warning for x = ±1000.
    """
    # BEGIN SOLUTION
    local = np.where(x > 0, 1.0, alpha * np.exp(np.minimum(x, 0.0)))
    return grad_out * local
    # END SOLUTION


if MAIN:
    check(elu_backward)


# %%
def gelu(x: Float[np.ndarray, "*shape"]) -> Float[np.ndarray, "*shape"]:
    """GELU in its tanh approximation (the form GPT-2 uses; torch's approximate="tanh"):

        gelu(x) = 0.5 * x * (1 + tanh(sqrt(2 / pi) * (x + 0.044715 * x**3)))

    It is within 5e-4 of the exact x * Phi(x), which needs erf (not in NumPy).
    Use the module's constants SQRT_2_OVER_PI and GELU_CUBIC.
    """
    # BEGIN SOLUTION
    inner = SQRT_2_OVER_PI * (x + GELU_CUBIC * x**3)
    return 0.5 * x * (1.0 + np.tanh(inner))
    # END SOLUTION


if MAIN:
    check(gelu)


# %%
def gelu_backward(
    x: Float[np.ndarray, "*shape"],
    grad_out: Float[np.ndarray, "*shape"],
) -> Float[np.ndarray, "*shape"]:
    """dL/dx through y = gelu(x) (the tanh approximation above), given grad_out = dL/dy.

    With u = sqrt(2/pi) * (x + 0.044715 x^3) and t = tanh(u):
        gelu'(x) = 0.5 * (1 + t) + 0.5 * x * (1 - t^2) * sqrt(2/pi) * (1 + 3 * 0.044715 x^2)
    """
    # BEGIN SOLUTION
    t = np.tanh(SQRT_2_OVER_PI * (x + GELU_CUBIC * x**3))
    du_dx = SQRT_2_OVER_PI * (1.0 + 3.0 * GELU_CUBIC * x**2)  # the chain rule through u
    local = 0.5 * (1.0 + t) + 0.5 * x * (1.0 - t**2) * du_dx
    return grad_out * local
    # END SOLUTION


if MAIN:
    check(gelu_backward)


# %%
def sigmoid(x: Float[np.ndarray, "*shape"]) -> Float[np.ndarray, "*shape"]:
    """The logistic function 1 / (1 + exp(-x)), elementwise.

    No overflow warning for x = ±1000, and accurate to a relative 1e-12 in both tails:
    sigmoid(-40) is 4.2e-18, not 0.
    """
    # BEGIN SOLUTION
    # exp of a non-positive number never overflows: use exp(-|x|) on both branches.
    e = np.exp(-np.abs(x))
    r = 1.0 / (1.0 + e)
    return np.where(x >= 0, r, e * r)  # e / (1 + e) = exp(x) / (1 + exp(x)) for x < 0
    # END SOLUTION


if MAIN:
    check(sigmoid)


# %%
def sigmoid_backward(
    x: Float[np.ndarray, "*shape"],
    grad_out: Float[np.ndarray, "*shape"],
) -> Float[np.ndarray, "*shape"]:
    """dL/dx through y = sigmoid(x), given grad_out = dL/dy.

    sigmoid'(x) = s * (1 - s) with s = sigmoid(x). No overflow warning for x = ±1000.
    """
    # BEGIN SOLUTION
    s = sigmoid(x)
    return grad_out * s * (1.0 - s)
    # END SOLUTION


if MAIN:
    check(sigmoid_backward)


# %%
def tanh(x: Float[np.ndarray, "*shape"]) -> Float[np.ndarray, "*shape"]:
    """The hyperbolic tangent (e^x - e^-x) / (e^x + e^-x), elementwise, built from exponentials.

    No overflow warning for x = ±1000, accurate to a relative 1e-12 for tiny x
    (tanh(1e-10) is 1e-10 to twelve digits), and odd to the last digit: tanh(-x) is
    -tanh(x) within a relative 1e-15 (work with |x| and restore the sign). np.tanh does
    all this in one call; write it yourself with np.exp and np.expm1 to see how.
    """
    # BEGIN SOLUTION
    # tanh(|x|) = (1 - e^{-2|x|}) / (1 + e^{-2|x|}); expm1 keeps the numerator exact near 0.
    e = np.exp(-2.0 * np.abs(x))
    magnitude = -np.expm1(-2.0 * np.abs(x)) / (1.0 + e)
    return np.copysign(magnitude, x)  # tanh is odd
    # END SOLUTION


if MAIN:
    check(tanh)


# %%
def tanh_backward(
    x: Float[np.ndarray, "*shape"],
    grad_out: Float[np.ndarray, "*shape"],
) -> Float[np.ndarray, "*shape"]:
    """dL/dx through y = tanh(x), given grad_out = dL/dy.

    tanh'(x) = 1 - tanh(x)^2. No overflow warning for x = ±1000.
    """
    # BEGIN SOLUTION
    t = tanh(x)
    return grad_out * (1.0 - t**2)
    # END SOLUTION


if MAIN:
    check(tanh_backward)


# %%
def softmax(x: Float[np.ndarray, "*batch n"]) -> Float[np.ndarray, "*batch n"]:
    """exp(x) / sum(exp(x)) over the last axis; each slice along it sums to 1.

    No overflow warning for logits of ±1000.
    """
    # BEGIN SOLUTION
    shifted = np.exp(x - x.max(axis=-1, keepdims=True))  # every exponent <= 0
    return shifted / shifted.sum(axis=-1, keepdims=True)
    # END SOLUTION


if MAIN:
    check(softmax)


# %%
def softmax_backward(
    x: Float[np.ndarray, "*batch n"],
    grad_out: Float[np.ndarray, "*batch n"],
) -> Float[np.ndarray, "*batch n"]:
    """dL/dx through s = softmax(x) over the last axis, given grad_out = dL/ds.

    Each output s_i depends on every x_j of its slice: ds_i/dx_j = s_i * (delta_ij - s_j).
    The product with grad_out, computed without building that n x n Jacobian, is

        grad_x = s * (grad_out - sum(grad_out * s, over the last axis))

    No overflow warning for logits of ±1000.
    """
    # BEGIN SOLUTION
    s = softmax(x)
    weighted = (grad_out * s).sum(axis=-1, keepdims=True)  # (*batch, 1): g . s per slice
    return s * (grad_out - weighted)
    # END SOLUTION


if MAIN:
    check(softmax_backward)
