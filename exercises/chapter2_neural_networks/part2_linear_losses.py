# %% [markdown]
# # Chapter 2, part 2: the linear layer and the losses
#
# Reading: chapters/chapter2_neural_networks/part2_linear_losses.md
#
# Fill in each function, then run the cell below it: `check(fn)` runs that exercise's
# tests here and prints a verdict. `python -m grader chapter2/part2` grades the file.
#
# Conventions: float64 arrays, the batch on the leading axis, features last; float32
# inputs give float32 arrays back (linear, linear_backward and the losses' gradients turn
# nothing into float64). Losses return a Python float, averaged as their docstring says;
# a loss's `_backward` returns the gradient of that averaged loss with respect to its
# first argument. No function changes its inputs. Precision: a relative 1e-6 in general
# (1e-5 against central differences), 1e-12 at logits of ±1000 and in some hand cases.

# %%
import numpy as np
from jaxtyping import Float, Int

from grader.check import check

MAIN = __name__ == "__main__"


# %%
def linear(
    x: Float[np.ndarray, "batch d_in"],
    w: Float[np.ndarray, "d_in d_out"],
    b: Float[np.ndarray, " d_out"],
) -> Float[np.ndarray, "batch d_out"]:
    """The affine layer y = x @ w + b, applied to a batch of row vectors.

    x: inputs, one example per row.
    w: weights; column j holds the weights of output unit j.
    b: bias of each output unit, added to every row.
    """
    raise NotImplementedError("linear")


if MAIN:
    check(linear)


# %%
def linear_backward(
    x: Float[np.ndarray, "batch d_in"],
    w: Float[np.ndarray, "d_in d_out"],
    grad_out: Float[np.ndarray, "batch d_out"],
) -> tuple[
    Float[np.ndarray, "batch d_in"],
    Float[np.ndarray, "d_in d_out"],
    Float[np.ndarray, " d_out"],
]:
    """Gradients of a scalar loss L through y = linear(x, w, b).

    grad_out: dL/dy, one row per example (the upstream gradient).
    Returns (grad_x, grad_w, grad_b) = (dL/dx, dL/dw, dL/db), each the shape of the
    array it is the gradient of. The bias is shared by every example, so grad_b adds up
    the contributions of the whole batch; so does grad_w.
    """
    raise NotImplementedError("linear_backward")


if MAIN:
    check(linear_backward)


# %%
def mse_loss(
    pred: Float[np.ndarray, "batch n"],
    target: Float[np.ndarray, "batch n"],
) -> float:
    """Mean squared error, averaged over ALL batch * n elements (as torch's MSELoss):

        L = (1 / (batch * n)) * sum_{i,j} (pred[i, j] - target[i, j])^2

    Returns a Python float.
    """
    raise NotImplementedError("mse_loss")


if MAIN:
    check(mse_loss)


# %%
def mse_loss_backward(
    pred: Float[np.ndarray, "batch n"],
    target: Float[np.ndarray, "batch n"],
) -> Float[np.ndarray, "batch n"]:
    """dL/dpred for L = mse_loss(pred, target), the mean over all batch * n elements."""
    raise NotImplementedError("mse_loss_backward")


if MAIN:
    check(mse_loss_backward)


# %%
def bce_with_logits(
    logits: Float[np.ndarray, "batch n"],
    targets: Float[np.ndarray, "batch n"],
) -> float:
    """Binary cross-entropy on logits, averaged over ALL batch * n elements.

    Each entry is an independent yes/no prediction: p = sigmoid(z) is the predicted
    probability of "yes", and the target y in [0, 1] (usually 0 or 1) the true one:

        L = mean over i, j of  -y log(p) - (1 - y) log(1 - p)

    Must be exact and warning-free for logits of ±1000 (where p rounds to 0 or 1).
    Returns a Python float.
    """
    raise NotImplementedError("bce_with_logits")


if MAIN:
    check(bce_with_logits)


# %%
def bce_with_logits_backward(
    logits: Float[np.ndarray, "batch n"],
    targets: Float[np.ndarray, "batch n"],
) -> Float[np.ndarray, "batch n"]:
    """dL/dlogits for L = bce_with_logits(logits, targets) (the mean over all elements).

    Warning-free for logits of ±1000.
    """
    raise NotImplementedError("bce_with_logits_backward")


if MAIN:
    check(bce_with_logits_backward)


# %%
def cross_entropy_with_logits(
    logits: Float[np.ndarray, "batch classes"],
    labels: Int[np.ndarray, " batch"],
) -> float:
    """Softmax cross-entropy with integer labels, averaged over the batch:

        L = (1 / batch) * sum_i -log softmax(logits[i])[labels[i]]

    logits: one row of unnormalised class scores per example.
    labels: the true class of each example, an integer in 0 .. classes-1.
    Must be exact and warning-free for logits of ±1000. Returns a Python float.
    """
    raise NotImplementedError("cross_entropy_with_logits")


if MAIN:
    check(cross_entropy_with_logits)


# %%
def softmax_cross_entropy_backward(
    logits: Float[np.ndarray, "batch classes"],
    labels: Int[np.ndarray, " batch"],
) -> Float[np.ndarray, "batch classes"]:
    """dL/dlogits for L = cross_entropy_with_logits(logits, labels):

        (softmax(logits) - one_hot(labels)) / batch

    The softmax and the loss differentiated together ("fused"). Warning-free for
    logits of ±1000.
    """
    raise NotImplementedError("softmax_cross_entropy_backward")


if MAIN:
    check(softmax_cross_entropy_backward)


# %%
def cross_entropy_with_soft_targets(
    logits: Float[np.ndarray, "batch classes"],
    targets: Float[np.ndarray, "batch classes"],
) -> float:
    """Cross-entropy against a target distribution per example, averaged over the batch:

        L = (1 / batch) * sum_i sum_c -targets[i, c] * log softmax(logits[i])[c]

    targets: each row is a probability distribution over the classes (entries >= 0,
    summing to 1), for example a smoothed one-hot label. A class with target 0
    contributes nothing, even when its log-probability is -2000.
    Must be exact and warning-free for logits of ±1000. Returns a Python float.
    """
    raise NotImplementedError("cross_entropy_with_soft_targets")


if MAIN:
    check(cross_entropy_with_soft_targets)


# %% [markdown]
# ## Putting it together: softmax regression on the digits
#
# A linear layer and the fused softmax-cross-entropy gradient are a whole classifier.
# With your functions, 200 steps of full-batch gradient descent reach about 95% test
# accuracy on scikit-learn's 8x8 digits (about 80% on the generated stand-in) in about
# a second.

# %%
if MAIN:
    from coursedata import load_digits, train_test_split

    x_train, y_train, x_test, y_test = train_test_split(load_digits(), test_fraction=0.25, seed=0)
    w = np.zeros((x_train.shape[1], 10))
    b = np.zeros(10)
    for step in range(201):
        logits = linear(x_train, w, b)
        grad_logits = softmax_cross_entropy_backward(logits, y_train)
        _, grad_w, grad_b = linear_backward(x_train, w, grad_logits)
        w, b = w - 0.5 * grad_w, b - 0.5 * grad_b
        if step % 50 == 0:
            loss = cross_entropy_with_logits(logits, y_train)
            accuracy = np.mean(linear(x_test, w, b).argmax(axis=1) == y_test)
            print(f"step {step:3d}  train loss {loss:.3f}  test accuracy {accuracy:.3f}")
