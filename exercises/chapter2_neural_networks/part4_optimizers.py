# %% [markdown]
# # Chapter 2, part 4: optimizers and gradient clipping
#
# Reading: chapters/chapter2_neural_networks/part4_optimizers.md
#
# Fill in each function, then run the cell below it: `check(fn)` runs that exercise's
# tests here and prints a verdict. `python -m grader chapter2/part4` grades the file.
#
# Conventions: an optimizer is a pure step function over one parameter array, its
# gradient and its state (arrays of the parameter's shape, zeros before the first step).
# It returns the new parameter and the new state as new arrays and never changes its
# inputs. The update formulas are PyTorch's (torch.optim), written out in each docstring;
# results are compared to a relative 1e-6. float32 parameters, gradients and states give
# float32 results (the hyper-parameters are Python floats and turn nothing into float64).

# %%
import numpy as np
from jaxtyping import Float

from grader.check import check

MAIN = __name__ == "__main__"


# %%
def sgd_step(
    param: Float[np.ndarray, "*shape"],
    grad: Float[np.ndarray, "*shape"],
    lr: float,
    weight_decay: float = 0.0,
) -> Float[np.ndarray, "*shape"]:
    """One step of plain gradient descent, with optional L2 weight decay.

        g = grad + weight_decay * param      (L2: the decay joins the gradient)
        param_new = param - lr * g

    param, grad: any shape, the same for both. SGD has no state.
    Returns the new parameter (a new array).
    """
    raise NotImplementedError("sgd_step")


if MAIN:
    check(sgd_step)


# %%
def momentum_step(
    param: Float[np.ndarray, "*shape"],
    grad: Float[np.ndarray, "*shape"],
    velocity: Float[np.ndarray, "*shape"],
    lr: float,
    mu: float,
) -> tuple[Float[np.ndarray, "*shape"], Float[np.ndarray, "*shape"]]:
    """One step of SGD with (heavy-ball) momentum, in PyTorch's form (no dampening):

        velocity_new = mu * velocity + grad
        param_new = param - lr * velocity_new

    velocity: the running sum of past gradients, each damped by mu per step; zeros
    before the first step. Note that lr multiplies the velocity, it is not inside it.
    Returns (param_new, velocity_new).
    """
    raise NotImplementedError("momentum_step")


if MAIN:
    check(momentum_step)


# %%
def nesterov_step(
    param: Float[np.ndarray, "*shape"],
    grad: Float[np.ndarray, "*shape"],
    velocity: Float[np.ndarray, "*shape"],
    lr: float,
    mu: float,
) -> tuple[Float[np.ndarray, "*shape"], Float[np.ndarray, "*shape"]]:
    """One step of SGD with Nesterov momentum, in PyTorch's form (nesterov=True):

        velocity_new = mu * velocity + grad
        param_new = param - lr * (grad + mu * velocity_new)

    The velocity is the same as momentum_step's; the parameter moves by the gradient
    plus the velocity looked one step ahead. Returns (param_new, velocity_new).
    """
    raise NotImplementedError("nesterov_step")


if MAIN:
    check(nesterov_step)


# %%
def adagrad_step(
    param: Float[np.ndarray, "*shape"],
    grad: Float[np.ndarray, "*shape"],
    sum_sq: Float[np.ndarray, "*shape"],
    lr: float,
    eps: float = 1e-10,
) -> tuple[Float[np.ndarray, "*shape"], Float[np.ndarray, "*shape"]]:
    """One step of AdaGrad (PyTorch's form, no learning-rate decay):

        sum_sq_new = sum_sq + grad**2
        param_new = param - lr * grad / (sqrt(sum_sq_new) + eps)

    sum_sq: the sum of the squares of every gradient so far, per element; zeros before
    the first step. Returns (param_new, sum_sq_new).
    """
    raise NotImplementedError("adagrad_step")


if MAIN:
    check(adagrad_step)


# %%
def rmsprop_step(
    param: Float[np.ndarray, "*shape"],
    grad: Float[np.ndarray, "*shape"],
    sq_avg: Float[np.ndarray, "*shape"],
    lr: float,
    alpha: float = 0.99,
    eps: float = 1e-8,
) -> tuple[Float[np.ndarray, "*shape"], Float[np.ndarray, "*shape"]]:
    """One step of RMSProp (PyTorch's form: no momentum, not centred):

        sq_avg_new = alpha * sq_avg + (1 - alpha) * grad**2
        param_new = param - lr * grad / (sqrt(sq_avg_new) + eps)

    sq_avg: an exponential moving average of the squared gradient, per element; zeros
    before the first step. alpha is how much of the old average is kept each step.
    Returns (param_new, sq_avg_new).
    """
    raise NotImplementedError("rmsprop_step")


if MAIN:
    check(rmsprop_step)


# %%
def adam_step(
    param: Float[np.ndarray, "*shape"],
    grad: Float[np.ndarray, "*shape"],
    m: Float[np.ndarray, "*shape"],
    v: Float[np.ndarray, "*shape"],
    t: int,
    lr: float = 1e-3,
    beta1: float = 0.9,
    beta2: float = 0.999,
    eps: float = 1e-8,
) -> tuple[Float[np.ndarray, "*shape"], Float[np.ndarray, "*shape"], Float[np.ndarray, "*shape"]]:
    """One step of Adam with bias correction (PyTorch's form):

        m_new = beta1 * m + (1 - beta1) * grad
        v_new = beta2 * v + (1 - beta2) * grad**2
        m_hat = m_new / (1 - beta1**t)
        v_hat = v_new / (1 - beta2**t)
        param_new = param - lr * m_hat / (sqrt(v_hat) + eps)

    m, v: moving averages of the gradient and of its square; zeros before the first step.
    t: the number of this step, counting from 1 (the first call has t = 1).
    eps is added outside the square root. Returns (param_new, m_new, v_new).
    """
    raise NotImplementedError("adam_step")


if MAIN:
    check(adam_step)


# %%
def adamw_step(
    param: Float[np.ndarray, "*shape"],
    grad: Float[np.ndarray, "*shape"],
    m: Float[np.ndarray, "*shape"],
    v: Float[np.ndarray, "*shape"],
    t: int,
    lr: float = 1e-3,
    beta1: float = 0.9,
    beta2: float = 0.999,
    eps: float = 1e-8,
    weight_decay: float = 1e-2,
) -> tuple[Float[np.ndarray, "*shape"], Float[np.ndarray, "*shape"], Float[np.ndarray, "*shape"]]:
    """One step of AdamW: Adam with decoupled weight decay, in PyTorch's order.

        decayed = param * (1 - lr * weight_decay)      (first, from the old param)
        then the Adam step of adam_step applied to `decayed`, with the raw grad:
        m_new, v_new as in Adam (the decay never enters m or v)
        param_new = decayed - lr * m_hat / (sqrt(v_hat) + eps)

    Equivalently param_new = param - lr * (m_hat / (sqrt(v_hat) + eps) + weight_decay * param).
    t counts from 1 as in adam_step. Returns (param_new, m_new, v_new).
    """
    raise NotImplementedError("adamw_step")


if MAIN:
    check(adamw_step)


# %%
def clip_by_value(
    grads: list[Float[np.ndarray, "..."]],
    clip_value: float,
) -> list[Float[np.ndarray, "..."]]:
    """Clip every entry of every gradient to the interval [-clip_value, clip_value].

    grads: a list of arrays, one per parameter, of any shapes.
    Returns a new list of new arrays of the same shapes, in the same order (an array
    with nothing to clip is copied too, never returned as it is).
    """
    raise NotImplementedError("clip_by_value")


if MAIN:
    check(clip_by_value)


# %%
def clip_by_global_norm(
    grads: list[Float[np.ndarray, "..."]],
    max_norm: float,
) -> tuple[list[Float[np.ndarray, "..."]], float]:
    """Rescale a list of gradients so that their global L2 norm is at most max_norm.

        total_norm = sqrt(sum over all arrays and all entries of g**2)
        if total_norm > max_norm: every g becomes g * max_norm / total_norm
        otherwise the gradients are returned unchanged (as new arrays, never the caller's)

    All arrays share one scale factor, so the direction of the whole update is kept.
    Returns (new list of arrays, total_norm before clipping as a Python float).
    The clipped arrays are compared to a relative 1e-6, so PyTorch's factor
    max_norm / (total_norm + 1e-6) is accepted too; total_norm to a relative 1e-6.
    """
    raise NotImplementedError("clip_by_global_norm")


if MAIN:
    check(clip_by_global_norm)
