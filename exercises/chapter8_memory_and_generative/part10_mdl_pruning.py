# %% [markdown]
# # Chapter 8, part 10: minimum description length and magnitude pruning
#
# Reading: chapters/chapter8_memory_and_generative/part10_mdl_pruning.md
#
# Fill in each function, then run the cell below it: `check(fn)` runs that exercise's
# tests here and prints a verdict. `python -m grader chapter8/part10` grades the file.
#
# Hinton & van Camp, "Keeping neural networks simple by minimizing the description length
# of the weights" (1993): the best network is the one that lets a sender transmit the
# training labels in the fewest bits, counting the bits for the network itself:
#
#     L(D, w) = L(w) + L(D | w),    L(D | w) = Σ_n −log₂ p(y_n | x_n, w).
#
# Here the weights are coded by magnitude pruning and uniform quantisation: which
# weights are kept (a mask), and each kept weight as a signed integer of `bits` bits.
#
# Conventions: an MLP is a list of layers [(W_1, b_1), ..., (W_L, b_L)], W_l (d_in, d_out),
# a layer computes h @ W + b, ReLU between layers and none after the last (logits);
# masks are lists of boolean arrays shaped like the weights, True = kept (biases are never
# pruned); float64 throughout; no function changes its inputs. Results are compared to
# 1e-10 relative unless a docstring says otherwise.

# %%
from __future__ import annotations

import math
import time

import numpy as np
from jaxtyping import Bool, Float, Int

from grader.check import check

MAIN = __name__ == "__main__"

Layer = tuple[Float[np.ndarray, "_d_in _d_out"], Float[np.ndarray, " _d_out"]]
Mask = Bool[np.ndarray, "_d_in _d_out"]


# %% [markdown]
# ## Given: a small MLP and its training


# %%
def mlp_logits(layers: list[Layer], x: Float[np.ndarray, "n d_in"]) -> Float[np.ndarray, "n classes"]:
    """The logits of the MLP (given): ReLU after every layer but the last."""
    h = x
    for i, (W, b) in enumerate(layers):
        h = h @ W + b
        if i < len(layers) - 1:
            h = np.maximum(h, 0.0)
    return h


def train_mlp(
    x: np.ndarray, y: np.ndarray, sizes: list[int], epochs: int, rng: np.random.Generator, lr: float = 3e-3
) -> list[Layer]:
    """An MLP trained by Adam on the mean softmax cross-entropy, batches of 64 (given)."""
    layers = [
        (rng.normal(0.0, np.sqrt(2.0 / m), size=(m, n)), np.zeros(n)) for m, n in zip(sizes[:-1], sizes[1:])
    ]
    flat = [a for layer in layers for a in layer]
    m1 = [np.zeros_like(a) for a in flat]
    m2 = [np.zeros_like(a) for a in flat]
    t = 0
    for _ in range(epochs):
        order = rng.permutation(len(x))
        for start in range(0, len(x), 64):
            idx = order[start : start + 64]
            hs, h = [], x[idx]
            for i, (W, b) in enumerate(layers):
                hs.append(h)
                h = h @ W + b
                if i < len(layers) - 1:
                    h = np.maximum(h, 0.0)
            p = np.exp(h - h.max(axis=1, keepdims=True))
            p /= p.sum(axis=1, keepdims=True)
            p[np.arange(len(idx)), y[idx]] -= 1.0
            d = p / len(idx)
            grads = []
            for i in reversed(range(len(layers))):
                W = layers[i][0]
                grads = [hs[i].T @ d, d.sum(axis=0)] + grads
                if i:
                    d = (d @ W.T) * (hs[i] > 0)
            t += 1
            for j, g in enumerate(grads):
                m1[j] = 0.9 * m1[j] + 0.1 * g
                m2[j] = 0.999 * m2[j] + 0.001 * g**2
                flat[j] = flat[j] - lr * (m1[j] / (1 - 0.9**t)) / (np.sqrt(m2[j] / (1 - 0.999**t)) + 1e-8)
            layers = [(flat[2 * i], flat[2 * i + 1]) for i in range(len(layers))]
    return layers


# %% [markdown]
# ## Pruning by magnitude


# %%
def magnitude_masks(weights: list[np.ndarray], fraction: float, scope: str = "layer") -> list[np.ndarray]:
    """Masks that prune the weights of smallest magnitude |w|.

    scope "layer": in each array, the k = floor(fraction · size) entries of smallest |w|
    are pruned. scope "global": the k = floor(fraction · total size) entries of smallest
    |w| over all arrays together are pruned (layers with small weights lose more).
    Ties are broken by position: among equal |w|, the one earlier in the order (layers in
    order, each flattened row by row) is pruned first (np.argsort(..., kind="stable")).
    Returns one boolean array per weight array, of its shape, True = kept.
    """
    raise NotImplementedError("magnitude_masks")


if MAIN:
    check(magnitude_masks)


# %%
def quantize(w: Float[np.ndarray, "..."], bits: int) -> Float[np.ndarray, "..."]:
    """Uniform symmetric quantisation to signed integers of `bits` bits (bits ≥ 2):
    step = max|w| / (2^(bits−1) − 1), and each entry becomes round(w / step) · step
    (np.round: halves to even), so the levels are step · {−(2^(bits−1) − 1), …, 0, …,
    2^(bits−1) − 1}, zero stays zero and ±max|w| are levels. An array of zeros stays zeros.
    Returns a new array of w's shape."""
    raise NotImplementedError("quantize")


if MAIN:
    check(quantize)


# %% [markdown]
# ## The two parts of the description length


# %%
def label_bits(logits: Float[np.ndarray, "n classes"], labels: Int[np.ndarray, " n"]) -> float:
    """L(D | w): the bits to send the labels with an arithmetic coder that uses the model's
    softmax probabilities, Σ_n −log₂ softmax(logits_n)[labels_n] (a sum, in bits, not a
    mean in nats). Stable for logits of any size (finite and correct to 1e-10 relative at
    ±1000, and for rows that lie thousands apart). Returns a Python float."""
    raise NotImplementedError("label_bits")


if MAIN:
    check(label_bits)


# %%
def weight_bits(masks: list[np.ndarray], bias_sizes: list[int], bits: int) -> float:
    """L(w): the bits to send a pruned, quantised network whose shapes are known. For each
    weight array with n entries of which k are kept: log₂ C(n, k) bits to say which (the
    index of the mask among all masks with k ones), plus bits · k for the kept values,
    plus 32 for the array's quantisation step. Each bias vector costs bits · size + 32
    (biases are never pruned). Use math.lgamma for log C(n, k) = log n! − log k! −
    log (n − k)!. Returns a Python float (1e-10 relative)."""
    raise NotImplementedError("weight_bits")


if MAIN:
    check(weight_bits)


# %%
def description_length(
    layers: list[Layer],
    masks: list[np.ndarray],
    bits: int,
    x: Float[np.ndarray, "n d_in"],
    labels: Int[np.ndarray, " n"],
) -> tuple[float, float]:
    """The two parts (L(w), L(D | w)) of the description length of (x, labels) with the
    pruned, quantised network: each weight array W_l becomes quantize(W_l · mask_l, bits),
    each bias quantize(b_l, bits); L(w) = weight_bits(masks, bias sizes, bits), L(D | w) =
    label_bits of that network's logits (mlp_logits). Mask first, then quantise: the step
    comes from the kept weights (masks may be any boolean arrays, not only magnitude
    masks). Returns two Python floats."""
    raise NotImplementedError("description_length")


if MAIN:
    check(description_length)


# %%
def pruning_curve(
    layers: list[Layer],
    fractions: list[float],
    bits: int,
    x: Float[np.ndarray, "n d_in"],
    labels: Int[np.ndarray, " n"],
    scope: str = "global",
) -> dict[str, list[float]]:
    """The description-length trade-off: for each fraction in order, the masks
    magnitude_masks([W for W, _ in layers], fraction, scope) and description_length
    with them. Returns {"weight_bits": [...], "data_bits": [...], "total_bits": [...]}
    (total = weight + data), one entry per fraction."""
    raise NotImplementedError("pruning_curve")


if MAIN:
    check(pruning_curve)


# %% [markdown]
# ## Hinton and van Camp's code: noisy weights


# %%
def gaussian_weight_bits(
    mu: Float[np.ndarray, "..."], logvar: Float[np.ndarray, "..."], prior_var: float
) -> float:
    """The bits to send weights as Hinton and van Camp do: each weight is a Gaussian
    N(μ, s²) (logvar = log s²) coded against the prior N(0, prior_var), which by the
    bits-back argument costs KL(N(μ, s²) ‖ N(0, prior_var)) nats per weight:

        ½ [ (s² + μ²) / prior_var − 1 − log(s² / prior_var) ]

    summed over all entries and converted to bits (divide by ln 2). Returns a Python float
    (1e-10 relative)."""
    raise NotImplementedError("gaussian_weight_bits")


if MAIN:
    check(gaussian_weight_bits)


# %% [markdown]
# ## The trade-off on the digits
#
# A 64-16-10 MLP trained on all 1,797 digits; their labels are what the sender transmits.
# Uncoded, they cost n · log₂ 10 bits; the network saves most of that, but it costs 4 bits
# per weight itself, more than it saves. Pruning the smallest weights cuts L(w) nearly in
# proportion and barely moves L(D | w), until the network starts to forget: the total has
# its minimum in between, well below the labels sent raw.

# %%
if MAIN:
    from coursedata import line_chart, load_digits

    digits = load_digits()
    x_train, y_train = digits.images, digits.labels
    start = time.perf_counter()
    net = train_mlp(x_train, y_train, [64, 16, 10], 20, np.random.default_rng(0))
    print(f"trained in {time.perf_counter() - start:.1f} s")
    try:
        fractions = [0.0, 0.3, 0.5, 0.6, 0.7, 0.75, 0.8, 0.85, 0.9, 0.95, 0.99]
        curve = pruning_curve(net, fractions, 4, x_train, y_train)
        raw = len(y_train) * math.log2(10)
        for f, w_b, d_b, t_b in zip(fractions, *curve.values()):
            print(f"pruned {f:4.0%}: weights {w_b:8.0f} bits, labels {d_b:7.0f} bits, total {t_b:8.0f}")
        print(f"the labels sent without a model: {raw:.0f} bits")
        line_chart(
            {name: (np.array(fractions), np.array(values)) for name, values in curve.items()},
            "mdl_pruning.svg",
            title="Description length of the training labels",
            xlabel="fraction of weights pruned",
            ylabel="bits",
        )
        print("wrote mdl_pruning.svg")
    except NotImplementedError as missing:
        print(f"Finish {missing} to draw the trade-off.")
