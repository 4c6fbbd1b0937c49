# %% [markdown]
# # Chapter 2, part 6: a minibatch training loop on real digits, and a race of optimizers
#
# Reading: chapters/chapter2_neural_networks/part6_training.md
#
# Fill in each function, then run the cell below it: `check(fn)` runs that exercise's
# tests here and prints a verdict. `python -m grader chapter2/part6` grades the file.
#
# Conventions used throughout:
# - an MLP is a list of layers [(w_1, b_1), ..., (w_L, b_L)], w_l of shape
#   (fan_in, fan_out) and b_l of shape (fan_out,); a layer computes h @ w + b.
# - hidden layers are followed by ReLU, the output layer is not: it returns logits.
# - mlp_forward and mlp_backward keep the dtype: float32 parameters and inputs give
#   float32 logits, cache and gradients.
# - precision: results are compared to a relative 1e-6 (1e-7 for train_mlp, 1e-5 for
#   gradients against central differences).
# - an optimizer is a step function `step(param, grad, state, lr) -> (param, state)`
#   over one parameter array; `state` is None on the first call for that array.

# %%
import time
from typing import Any, Callable, Iterable

import numpy as np
from jaxtyping import Float, Int

from grader.check import check

MAIN = __name__ == "__main__"

# One layer's weight and bias; the names start with "_" because every layer has its own sizes.
Layer = tuple[Float[np.ndarray, "_fan_in _fan_out"], Float[np.ndarray, " _fan_out"]]
Step = Callable[[np.ndarray, np.ndarray, Any, float], tuple[np.ndarray, Any]]


# %% [markdown]
# ## Given: the loss and three optimizers
#
# Parts 2 and 4 grade these; here they are given, so that this part works on its own.
# The optimizers are wrapped into one signature so that `train_mlp` can take any of them.


# %%
def softmax_cross_entropy(
    logits: Float[np.ndarray, "batch classes"], labels: Int[np.ndarray, " batch"]
) -> tuple[float, Float[np.ndarray, "batch classes"]]:
    """The cross-entropy averaged over the batch, and its gradient with respect to the logits:
    (softmax(logits) - onehot(labels)) / batch."""
    shifted = logits - logits.max(axis=1, keepdims=True)
    log_probs = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
    rows = np.arange(len(labels))
    grad = np.exp(log_probs)
    grad[rows, labels] -= 1.0
    return float(-log_probs[rows, labels].mean()), grad / len(labels)


def sgd_update(param: np.ndarray, grad: np.ndarray, state: None, lr: float) -> tuple[np.ndarray, None]:
    """Plain gradient descent: param - lr * grad. Keeps no state."""
    return param - lr * grad, None


def momentum_update(
    param: np.ndarray, grad: np.ndarray, state: np.ndarray | None, lr: float, mu: float = 0.9
) -> tuple[np.ndarray, np.ndarray]:
    """Heavy ball, PyTorch's convention: v = mu * v + grad (v = grad at first), param - lr * v."""
    velocity = grad if state is None else mu * state + grad
    return param - lr * velocity, velocity


def adam_update(
    param: np.ndarray,
    grad: np.ndarray,
    state: tuple[np.ndarray, np.ndarray, int] | None,
    lr: float,
    beta1: float = 0.9,
    beta2: float = 0.999,
    eps: float = 1e-8,
) -> tuple[np.ndarray, tuple[np.ndarray, np.ndarray, int]]:
    """Adam with bias correction; the state is (m, v, t), t the number of steps taken."""
    m, v, t = (np.zeros_like(param), np.zeros_like(param), 0) if state is None else state
    t += 1
    m = beta1 * m + (1 - beta1) * grad
    v = beta2 * v + (1 - beta2) * grad**2
    m_hat, v_hat = m / (1 - beta1**t), v / (1 - beta2**t)
    return param - lr * m_hat / (np.sqrt(v_hat) + eps), (m, v, t)


# %%
def iterate_minibatches(
    n: int, batch_size: int, rng: np.random.Generator
) -> Iterable[Int[np.ndarray, " _batch"]]:
    """One epoch's minibatches: the indices 0..n-1 in a random order, cut into batches.

    The order is `rng.permutation(n)` (one call, nothing else drawn from rng); it is cut
    into consecutive batches of `batch_size` indices, and the last batch holds what is left
    (fewer than batch_size, never dropped, never empty). So every index appears exactly
    once, and the number of batches is ceil(n / batch_size).
    Returns the int arrays in order, the first one being order[:batch_size]: a list, or
    any iterable of them (a generator that yields them is fine; the tests go through it
    once, right after the call).
    """
    raise NotImplementedError("iterate_minibatches")


if MAIN:
    check(iterate_minibatches)


# %%
def accuracy(logits: Float[np.ndarray, "batch classes"], labels: Int[np.ndarray, " batch"]) -> float:
    """The fraction of rows whose largest logit is at the true label, as a Python float."""
    raise NotImplementedError("accuracy")


if MAIN:
    check(accuracy)


# %%
def init_mlp(sizes: list[int], rng: np.random.Generator) -> list[Layer]:
    """He-normal initialisation of an MLP with layer widths `sizes` = [d_in, ..., d_out].

    Layer l maps sizes[l] to sizes[l + 1]: its weight, of shape (sizes[l], sizes[l + 1]),
    is drawn from N(0, 2 / fan_in) with fan_in = sizes[l] (a plain normal with standard
    deviation sqrt(2 / fan_in), not truncated: the tests check its kurtosis, 3), using
    rng; its bias is zeros of shape (sizes[l + 1],).
    Returns [(w_1, b_1), ..., (w_L, b_L)], L = len(sizes) - 1, all float64. Two calls on
    one generator give two different networks (draw from rng itself: it moves on).
    """
    raise NotImplementedError("init_mlp")


if MAIN:
    check(init_mlp)


# %%
def mlp_forward(
    params: list[Layer], x: Float[np.ndarray, "batch d_in"]
) -> tuple[Float[np.ndarray, "batch classes"], list[Float[np.ndarray, "batch _width"]]]:
    """The logits of an MLP, and the cache its backward pass needs.

    Every layer but the last computes h = relu(h @ w + b); the last one computes
    logits = h @ w + b, with no ReLU.
    The cache is the list of the inputs of the layers, [x, h_1, ..., h_{L-1}] (L arrays,
    h_l the output of hidden layer l after its ReLU).
    """
    raise NotImplementedError("mlp_forward")


if MAIN:
    check(mlp_forward)


# %%
def mlp_backward(
    params: list[Layer],
    cache: list[Float[np.ndarray, "batch _width"]],
    grad_logits: Float[np.ndarray, "batch classes"],
) -> list[Layer]:
    """The gradients of the loss with respect to every weight and bias of the MLP.

    cache: what mlp_forward returned, the layers' inputs [x, h_1, ..., h_{L-1}].
    grad_logits: dLoss/dlogits, already including any average over the batch (so no
    further division by the batch size here).
    Returns [(dw_1, db_1), ..., (dw_L, db_L)], each gradient shaped like its parameter.
    """
    raise NotImplementedError("mlp_backward")


if MAIN:
    check(mlp_backward)


# %%
def train_mlp(
    params: list[Layer],
    x: Float[np.ndarray, "n d_in"],
    labels: Int[np.ndarray, " n"],
    step: Step,
    lr: float,
    epochs: int,
    batch_size: int,
    rng: np.random.Generator,
) -> tuple[list[Layer], dict[str, list[float]]]:
    """Minibatch training of an MLP with softmax cross-entropy.

    Each epoch takes its batches from `iterate_minibatches(n, batch_size, rng)` (the only
    use of rng), and for each batch: forward, the mean cross-entropy's gradient
    (`softmax_cross_entropy`), backward, then `step(param, grad, state, lr)` on every
    weight and every bias, each parameter array keeping its own optimizer state (None
    before its first step).
    The given params are not changed. Returns (trained params, history), where
    history["loss"][e] and history["accuracy"][e] are the mean cross-entropy and the
    accuracy on the whole of (x, labels) with the parameters at the end of epoch e: one
    more forward pass over all n examples after the epoch's last step (not the mean of
    the batch losses seen during the epoch, which mixes earlier parameters). The trained
    parameters and the history are compared to a relative 1e-7.
    """
    raise NotImplementedError("train_mlp")


if MAIN:
    check(train_mlp)


# %%
def compare_optimizers(
    optimizers: dict[str, tuple[Step, float]],
    x: Float[np.ndarray, "n d_in"],
    labels: Int[np.ndarray, " n"],
    sizes: list[int],
    epochs: int,
    batch_size: int,
    seed: int,
) -> dict[str, list[float]]:
    """Train the same MLP once per optimizer, and return each run's loss curve.

    optimizers maps a name to (step, lr). A fair race: every run starts from
    init_mlp(sizes, np.random.default_rng(seed)) and shuffles with its own fresh
    np.random.default_rng(seed + 1), so all runs see the same start and the same batches.
    Returns {name: history["loss"] of train_mlp} (one value per epoch), in the same order.
    """
    raise NotImplementedError("compare_optimizers")


if MAIN:
    check(compare_optimizers)


# %% [markdown]
# ## Train on the digits
#
# The 8x8 digits (scikit-learn's 1,797 real ones when it is installed), 75% to train and
# 25% held out. The reference reaches 97.1% held-out accuracy on the real digits in
# well under a second. Then SGD, momentum and Adam race from the same start on the same
# batches; `plot_loss_curves` draws their training loss (or prints it as a table).


# %%
def plot_loss_curves(curves: dict[str, list[float]]) -> None:
    """Draw the loss curves with matplotlib if it is installed, else print them as a table."""
    try:
        import matplotlib.pyplot as plt  # pyright: ignore[reportMissingImports]: optional
    except ImportError:
        print("epoch " + " ".join(f"{name:>10}" for name in curves))
        for epoch, losses in enumerate(zip(*curves.values()), start=1):
            print(f"{epoch:>5} " + " ".join(f"{loss:>10.4f}" for loss in losses))
        return
    for name, losses in curves.items():
        plt.plot(range(1, len(losses) + 1), losses, label=name)
    plt.xlabel("epoch")
    plt.ylabel("training loss (mean cross-entropy)")
    plt.yscale("log")
    plt.legend()
    plt.show()


if MAIN:
    from coursedata import load_digits, train_test_split

    digits = load_digits()
    x_train, y_train, x_test, y_test = train_test_split(digits, test_fraction=0.25, seed=0)
    try:
        start = time.perf_counter()
        params = init_mlp([64, 64, 10], np.random.default_rng(0))
        params, history = train_mlp(
            params, x_train, y_train, adam_update, 1e-2, 20, 128, np.random.default_rng(1)
        )
        seconds = time.perf_counter() - start
        test_logits, _ = mlp_forward(params, x_test)
        print(
            f"{digits.source} digits, 64-64-10 MLP, Adam, 20 epochs in {seconds:.2f} s: "
            f"train loss {history['loss'][-1]:.3f}, held-out accuracy {accuracy(test_logits, y_test):.1%}"
        )
        curves = compare_optimizers(
            {"SGD": (sgd_update, 0.01), "momentum": (momentum_update, 0.01), "Adam": (adam_update, 3e-3)},
            x_train,
            y_train,
            sizes=[64, 64, 10],
            epochs=15,
            batch_size=32,
            seed=0,
        )
        plot_loss_curves(curves)
    except NotImplementedError as missing:
        print(f"Finish {missing} to train on the digits.")
