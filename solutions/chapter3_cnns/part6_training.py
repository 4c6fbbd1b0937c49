# %% [markdown]
# # Chapter 3, part 6: a small CNN trained on the 8x8 digits, and the filters it learns
#
# Reading: chapters/chapter3_cnns/part6_training.md
#
# Fill in each function, then run the cell below it: `check(fn)` runs that exercise's
# tests here and prints a verdict. `python -m grader chapter3/part6` grades the file.
#
# The network is built from YOUR conv2d and conv2d_backward (part 2) and maxpool2d and
# maxpool2d_backward (part 3); when graded with `--impl solutions` they are the
# references. If one of them is still a stub, the exercises that use it show *todo*.
#
# The network, for images x of shape (N, 1, H, W) with H and W multiples of 4:
#     conv1 (3x3, padding 1) -> ReLU -> 2x2 max pool -> conv2 (3x3, padding 1) -> ReLU
#     -> 2x2 max pool -> flatten -> linear -> logits (N, classes)
# Its parameters are a dict: "conv1_w" (C1, 1, 3, 3), "conv1_b" (C1,), "conv2_w"
# (C2, C1, 3, 3), "conv2_b" (C2,), "fc_w" (C2 * H/4 * W/4, classes), "fc_b" (classes,).
# Arrays are float64; a backward function takes the upstream gradient first.
# Precision the tests ask for: logits within a relative 1e-8 of the network written out,
# gradients within a relative 1e-5 (absolute 1e-7) of central differences.

# %%
import math  # noqa: F401 (unused in the blank stubs, like the imports of parts 2 and 3)
import time
from typing import Any

import numpy as np
from chapter3_cnns.part2_conv2d import conv2d, conv2d_backward  # noqa: F401
from chapter3_cnns.part3_pooling import maxpool2d, maxpool2d_backward  # noqa: F401
from jaxtyping import Float, Int

from grader.check import check

MAIN = __name__ == "__main__"

Params = dict[str, np.ndarray]


# %% [markdown]
# ## Given: the loss, Adam, minibatches and accuracy (chapter 2 grades these)


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


def adam_update(
    param: np.ndarray,
    grad: np.ndarray,
    state: tuple[np.ndarray, np.ndarray, int] | None,
    lr: float,
    beta1: float = 0.9,
    beta2: float = 0.999,
    eps: float = 1e-8,
) -> tuple[np.ndarray, tuple[np.ndarray, np.ndarray, int]]:
    """Adam with bias correction; the state is (m, v, t), None before the first step."""
    m, v, t = (np.zeros_like(param), np.zeros_like(param), 0) if state is None else state
    t += 1
    m = beta1 * m + (1 - beta1) * grad
    v = beta2 * v + (1 - beta2) * grad**2
    m_hat, v_hat = m / (1 - beta1**t), v / (1 - beta2**t)
    return param - lr * m_hat / (np.sqrt(v_hat) + eps), (m, v, t)


def iterate_minibatches(n: int, batch_size: int, rng: np.random.Generator) -> list[np.ndarray]:
    """One epoch's batches of indices: rng.permutation(n) cut into pieces of batch_size
    (the last one holds what is left)."""
    order = rng.permutation(n)
    return [order[start : start + batch_size] for start in range(0, n, batch_size)]


def accuracy(logits: Float[np.ndarray, "batch classes"], labels: Int[np.ndarray, " batch"]) -> float:
    """The fraction of rows whose largest logit is at the true label."""
    return float(np.mean(logits.argmax(axis=1) == labels))


def relu(x: np.ndarray) -> np.ndarray:
    """max(x, 0), elementwise, as a new array."""
    return np.maximum(x, 0.0)


# %% [markdown]
# ## The network


# %%
def init_cnn(
    rng: np.random.Generator,
    channels: tuple[int, int] = (8, 16),
    classes: int = 10,
    image_size: tuple[int, int] = (8, 8),
) -> Params:
    """He-normal initialisation of the network described at the top of the file.

    Every weight is drawn from N(0, 2 / fan_in) with rng, fan_in being the number of
    inputs one output sees: 1 * 3 * 3 for conv1_w, C1 * 3 * 3 for conv2_w, and
    C2 * (H / 4) * (W / 4) for fc_w, with (C1, C2) = channels and (H, W) = image_size.
    Every bias is zeros. Returns the dict of the six float64 arrays, keys and shapes as at
    the top of the file.
    """
    # BEGIN SOLUTION
    c1, c2 = channels
    flat = c2 * (image_size[0] // 4) * (image_size[1] // 4)  # what the flatten step produces

    def he(shape: tuple[int, ...], fan_in: int) -> np.ndarray:
        return rng.normal(0.0, math.sqrt(2.0 / fan_in), size=shape)

    return {
        "conv1_w": he((c1, 1, 3, 3), 9),
        "conv1_b": np.zeros(c1),
        "conv2_w": he((c2, c1, 3, 3), c1 * 9),
        "conv2_b": np.zeros(c2),
        "fc_w": he((flat, classes), flat),
        "fc_b": np.zeros(classes),
    }
    # END SOLUTION


if MAIN:
    check(init_cnn)


# %%
def cnn_forward(
    params: Params, x: Float[np.ndarray, "n 1 h w"]
) -> tuple[Float[np.ndarray, "n classes"], dict[str, Any]]:
    """The logits of the network described at the top of the file, and a cache.

    conv1 and conv2 are conv2d with their bias, stride 1 and padding 1; each max pool is
    maxpool2d with kernel 2 and stride 2; flatten turns (N, C2, H/4, W/4) into
    (N, C2 * H/4 * W/4) in NumPy's row-major order (reshape); the linear layer computes
    flat @ fc_w + fc_b. The cache is a dict holding whatever cnn_backward needs.
    """
    # BEGIN SOLUTION
    z1 = conv2d(x, params["conv1_w"], params["conv1_b"], padding=1)  # (N, C1, H, W)
    a1 = relu(z1)
    p1 = maxpool2d(a1, 2)  # (N, C1, H/2, W/2)
    z2 = conv2d(p1, params["conv2_w"], params["conv2_b"], padding=1)  # (N, C2, H/2, W/2)
    a2 = relu(z2)
    p2 = maxpool2d(a2, 2)  # (N, C2, H/4, W/4)
    flat = p2.reshape(len(x), -1)  # (N, C2 * H/4 * W/4)
    logits = flat @ params["fc_w"] + params["fc_b"]
    cache = {"x": x, "z1": z1, "a1": a1, "p1": p1, "z2": z2, "a2": a2, "p2": p2, "flat": flat}
    return logits, cache
    # END SOLUTION


if MAIN:
    check(cnn_forward)


# %%
def cnn_backward(dlogits: Float[np.ndarray, "n classes"], params: Params, cache: dict[str, Any]) -> Params:
    """The gradients of the loss with respect to every parameter of the network.

    dlogits: dLoss/dlogits, already including any average over the batch.
    cache: what cnn_forward(params, x) returned with the logits.
    Returns a dict with the keys of params, each gradient shaped like its parameter.
    The backward of a ReLU passes the gradient where its input was > 0 and blocks it
    elsewhere, at 0 included (as PyTorch does); maxpool2d_backward sends each window's
    gradient to its maximum.
    """
    # BEGIN SOLUTION
    grads: Params = {}
    grads["fc_w"] = cache["flat"].T @ dlogits
    grads["fc_b"] = dlogits.sum(axis=0)
    dp2 = (dlogits @ params["fc_w"].T).reshape(cache["p2"].shape)  # undo the flatten
    da2 = maxpool2d_backward(dp2, cache["a2"], 2)
    dz2 = da2 * (cache["z2"] > 0)
    dp1, grads["conv2_w"], grads["conv2_b"] = conv2d_backward(dz2, cache["p1"], params["conv2_w"], padding=1)
    da1 = maxpool2d_backward(dp1, cache["a1"], 2)
    dz1 = da1 * (cache["z1"] > 0)
    _, grads["conv1_w"], grads["conv1_b"] = conv2d_backward(dz1, cache["x"], params["conv1_w"], padding=1)
    return grads
    # END SOLUTION


if MAIN:
    check(cnn_backward)


# %%
def train_cnn(
    params: Params,
    x: Float[np.ndarray, "n 1 h w"],
    labels: Int[np.ndarray, " n"],
    epochs: int,
    batch_size: int,
    lr: float,
    rng: np.random.Generator,
) -> tuple[Params, dict[str, list[float]]]:
    """Minibatch training of the CNN with Adam and the mean softmax cross-entropy.

    Each epoch takes its batches from iterate_minibatches(n, batch_size, rng) (the only use
    of rng); for each batch: cnn_forward, softmax_cross_entropy's gradient, cnn_backward,
    then adam_update(param, grad, state, lr) on every parameter, each keeping its own Adam
    state (None before its first step). The given params are not changed.
    Returns (trained params, history): history["loss"][e] and history["accuracy"][e] are the
    mean cross-entropy and the accuracy on the whole of (x, labels) at the end of epoch e.
    """
    # BEGIN SOLUTION
    params = dict(params)  # adam_update returns new arrays: the caller's dict stays as it was
    states: dict[str, Any] = {key: None for key in params}
    history: dict[str, list[float]] = {"loss": [], "accuracy": []}
    for _ in range(epochs):
        for batch in iterate_minibatches(len(labels), batch_size, rng):
            logits, cache = cnn_forward(params, x[batch])
            _, dlogits = softmax_cross_entropy(logits, labels[batch])
            grads = cnn_backward(dlogits, params, cache)
            for key in params:
                params[key], states[key] = adam_update(params[key], grads[key], states[key], lr)
        logits, _ = cnn_forward(params, x)
        history["loss"].append(softmax_cross_entropy(logits, labels)[0])
        history["accuracy"].append(accuracy(logits, labels))
    return params, history
    # END SOLUTION


if MAIN:
    check(train_cnn)


# %% [markdown]
# ## Looking at the filters


# %%
def filter_grid(w: Float[np.ndarray, "f 1 kh kw"], pad: int = 1) -> Float[np.ndarray, "_height _width"]:
    """Lay the first layer's filters out side by side as one grey-scale image.

    Each filter w[i, 0] is rescaled to [0, 1] by its own minimum and maximum,
    (v - min) / (max - min), or is all 0.5 when it is constant. The grid has
    cols = ceil(sqrt(F)) columns and rows = ceil(F / cols) rows; filter i goes in row
    i // cols, column i % cols, with its top-left pixel at
    (pad + row * (kh + pad), pad + col * (kw + pad)). The image has shape
    (pad + rows * (kh + pad), pad + cols * (kw + pad)); every pixel no filter covers
    (the borders between and around the filters, and empty cells) is 1.0.
    """
    # BEGIN SOLUTION
    f, _, kh, kw = w.shape
    cols = math.ceil(math.sqrt(f))
    rows = math.ceil(f / cols)
    grid = np.ones((pad + rows * (kh + pad), pad + cols * (kw + pad)))
    for i in range(f):
        v = w[i, 0]
        span = v.max() - v.min()
        tile = (v - v.min()) / span if span > 0 else np.full_like(v, 0.5)
        top, left = pad + (i // cols) * (kh + pad), pad + (i % cols) * (kw + pad)
        grid[top : top + kh, left : left + kw] = tile
    return grid
    # END SOLUTION


if MAIN:
    check(filter_grid)


# %%
def show_filters(grid: np.ndarray, path: str | None = None) -> None:
    """Given: draw filter_grid's image with matplotlib when it is installed (saved to `path`
    when one is given), else print it as characters, dark to light."""
    try:
        import matplotlib.pyplot as plt  # pyright: ignore[reportMissingImports]: optional
    except ImportError:
        shades = " .:-=+*#%@"
        for row in grid:
            print("".join(shades[min(int(v * len(shades)), len(shades) - 1)] * 2 for v in row))
        return
    plt.imshow(grid, cmap="gray", vmin=0.0, vmax=1.0, interpolation="nearest")
    plt.axis("off")
    plt.title("first-layer filters")
    if path:
        plt.savefig(path, bbox_inches="tight")
    else:
        plt.show()


# %% [markdown]
# ## Train on the digits
#
# scikit-learn's 1,797 real 8x8 digits when it is installed (a generated stand-in
# otherwise), 75% to train and 25% held out; the figures are in the reading.

# %%
if MAIN:
    from coursedata import load_digits, train_test_split

    digits = load_digits()
    x_train, y_train, x_test, y_test = train_test_split(digits, test_fraction=0.25, seed=0)
    x_train, x_test = x_train.reshape(-1, 1, 8, 8), x_test.reshape(-1, 1, 8, 8)
    try:
        start = time.perf_counter()
        params = init_cnn(np.random.default_rng(0))
        params, history = train_cnn(params, x_train, y_train, 15, 32, 3e-3, np.random.default_rng(1))
        seconds = time.perf_counter() - start
        test_logits, _ = cnn_forward(params, x_test)
        print(
            f"{digits.source} digits, CNN 8-16, Adam, 15 epochs in {seconds:.1f} s: "
            f"train loss {history['loss'][-1]:.3f}, held-out accuracy {accuracy(test_logits, y_test):.1%}"
        )
        show_filters(filter_grid(params["conv1_w"]))
    except NotImplementedError as missing:
        print(f"Finish {missing} to train on the digits.")
