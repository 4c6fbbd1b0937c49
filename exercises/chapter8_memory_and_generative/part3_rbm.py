# %% [markdown]
# # Chapter 8, part 3: a restricted Boltzmann machine trained by contrastive divergence
#
# Reading: chapters/chapter8_memory_and_generative/part3_rbm.md
#
# Fill in each function, then run the cell below it: `check(fn)` runs that exercise's
# tests here and prints a verdict. `python -m grader chapter8/part3` grades the file.
#
# A Bernoulli RBM: binary visible units v (n_v,) and hidden units h (n_h,), energy
#
#     E(v, h) = -v @ b_v - h @ b_h - v @ W @ h,      p(v, h) = exp(-E(v, h)) / Z
#
# Conventions: batch first (v is (N, n_v), h is (N, n_h)), float64. The parameters are a
# dict with W (n_v, n_h), b_v (n_v,) and b_h (n_h,); gradients come back in a dict with the
# same keys. Randomness only from the `rng` passed in. No function changes its inputs.
# The tests compare results to 1e-6 relative (1e-9 absolute) and gradients with central
# differences to 1e-5 relative (1e-8 absolute), unless a docstring says otherwise.

# %%
import itertools
import time

import numpy as np
from jaxtyping import Float

from coursedata import image_grid, load_digits, train_test_split
from grader.check import check

MAIN = __name__ == "__main__"

Params = dict  # of name -> np.ndarray (annotated as a plain dict: checked once, not entry by entry)


# %% [markdown]
# ## Given: the sigmoid, initialisation, every binary vector, reconstruction error


# %%
def sigmoid(x: np.ndarray) -> np.ndarray:
    """1 / (1 + exp(-x)) without overflow for large |x|."""
    e = np.exp(-np.abs(x))
    return np.where(x >= 0, 1.0 / (1.0 + e), e / (1.0 + e))


def init_rbm(n_visible: int, n_hidden: int, rng: np.random.Generator, scale: float = 0.01) -> Params:
    """W ~ N(0, scale^2), both biases zero."""
    return {
        "W": scale * rng.normal(size=(n_visible, n_hidden)),
        "b_v": np.zeros(n_visible),
        "b_h": np.zeros(n_hidden),
    }


def all_binary(n: int) -> np.ndarray:
    """Every binary vector of length n, as the rows of a (2^n, n) float array."""
    return np.array(list(itertools.product([0.0, 1.0], repeat=n)))


def reconstruction_error(params: Params, v: np.ndarray) -> float:
    """Mean squared error per pixel of the mean-field reconstruction v -> p(h|v) -> p(v|h)."""
    p_h = sigmoid(v @ params["W"] + params["b_h"])
    p_v = sigmoid(p_h @ params["W"].T + params["b_v"])
    return float(((p_v - v) ** 2).mean())


# %% [markdown]
# ## The two conditionals


# %%
def hidden_given_visible(params: Params, v: Float[np.ndarray, "batch n_v"]) -> Float[np.ndarray, "batch n_h"]:
    """p(h_j = 1 | v) = sigmoid(b_h[j] + (v @ W)[j]) for every row of v: an (N, n_h) array.
    Pre-activations in the thousands must not overflow (the given sigmoid is stable)."""
    raise NotImplementedError("hidden_given_visible")


if MAIN:
    check(hidden_given_visible)


# %%
def visible_given_hidden(params: Params, h: Float[np.ndarray, "batch n_h"]) -> Float[np.ndarray, "batch n_v"]:
    """p(v_i = 1 | h) = sigmoid(b_v[i] + (h @ W^T)[i]) for every row of h: an (N, n_v) array.
    Pre-activations in the thousands must not overflow (the given sigmoid is stable)."""
    raise NotImplementedError("visible_given_hidden")


if MAIN:
    check(visible_given_hidden)


# %% [markdown]
# ## The free energy and the exact likelihood of a tiny RBM


# %%
def free_energy(params: Params, v: Float[np.ndarray, "batch n_v"]) -> Float[np.ndarray, " batch"]:
    """F(v) = -log sum_h exp(-E(v, h)) = -v @ b_v - sum_j softplus(b_h[j] + (v @ W)[j]),
    softplus(x) = log(1 + exp(x)), for every row of v: an (N,) array.

    Stable: pre-activations of +-1000 give finite, exact values (no overflow warning)."""
    raise NotImplementedError("free_energy")


if MAIN:
    check(free_energy)


# %%
def exact_log_likelihood(params: Params, v: Float[np.ndarray, "batch n_v"]) -> float:
    """The mean of log p(v_n) over the rows of v, exactly, for an RBM small enough that all
    2^n_v visible vectors can be listed (all_binary(n_v)):

        log p(v) = -F(v) - log Z,      log Z = log sum_{v'} exp(-F(v'))

    with log Z computed stably (the largest -F(v') taken out before exp). A Python float."""
    raise NotImplementedError("exact_log_likelihood")


if MAIN:
    check(exact_log_likelihood)


# %%
def exact_gradient(params: Params, v: Float[np.ndarray, "batch n_v"]) -> Params:
    """The exact gradient of the mean negative log-likelihood -mean_n log p(v_n), by listing
    every visible vector: for W,

        dW = -( mean_n v_n^T p(h|v_n)  -  sum_{v'} p(v') v'^T p(h|v') )

    (the data's statistics minus the model's), and the same with v for b_v and p(h|v) for
    b_h. p(v') = exp(-F(v') - log Z), computed stably (free energies in the hundreds must
    not overflow). Returns a dict with the keys of params."""
    raise NotImplementedError("exact_gradient")


if MAIN:
    check(exact_gradient)


# %% [markdown]
# ## Contrastive divergence


# %%
def cd_gradient(
    params: Params, v0: Float[np.ndarray, "batch n_v"], k: int, rng: np.random.Generator
) -> tuple[Params, Float[np.ndarray, "batch n_v"]]:
    """CD-k's estimate of the gradient of the mean negative log-likelihood, and the chain's
    last visible sample v_k.

    The chain starts at the data: v = v0. Then k times:
        h = (rng.random((N, n_h)) < p(h|v))      sample the hidden units  (as 0./1. floats)
        v = (rng.random((N, n_v)) < p(v|h))      sample the visible units
    (nothing else is drawn). The gradient uses probabilities for the hidden units:

        dW   = -( v0^T p(h|v0) - v_k^T p(h|v_k) ) / N
        db_v = -mean_n (v0 - v_k)
        db_h = -mean_n (p(h|v0) - p(h|v_k))

    Returns (grads with the keys of params, v_k). The tests replay these draws and compare
    to 1e-9 relative; with k = 25 and 12,000 chains the estimate must come within 0.03 of
    the exact gradient."""
    raise NotImplementedError("cd_gradient")


if MAIN:
    check(cd_gradient)


# %% [markdown]
# ## Training on the digits


# %%
def train_rbm(
    params: Params,
    data: Float[np.ndarray, "n n_v"],
    epochs: int,
    batch_size: int,
    k: int,
    lr: float,
    rng: np.random.Generator,
) -> tuple[Params, list[float]]:
    """Plain SGD on CD-k's gradient. Each epoch: order = rng.permutation(len(data)), then for
    each batch of `batch_size` consecutive indices of that order (the last may be shorter):

        grads, _ = cd_gradient(params, data[batch], k, rng)
        params = {key: params[key] - lr * grads[key]}

    Returns (new params, the reconstruction_error of the whole data after each epoch).
    params is not changed."""
    raise NotImplementedError("train_rbm")


if MAIN:
    check(train_rbm)


# %% [markdown]
# ## Binarised digits
#
# The reading states what the reference reaches and how long it takes. The baseline is the
# RBM with W = 0 and b_v the logits of the pixels' means: it reconstructs every image as the
# mean image.

# %%
if MAIN:
    x_train, _, x_test, _ = train_test_split(load_digits())
    train, test = (x_train > 0.5).astype(np.float64), (x_test > 0.5).astype(np.float64)
    try:
        mean = train.mean(axis=0).clip(1e-3, 1 - 1e-3)
        baseline = {"W": np.zeros((64, 64)), "b_v": np.log(mean / (1 - mean)), "b_h": np.zeros(64)}
        params = init_rbm(64, 64, np.random.default_rng(0))
        start = time.perf_counter()
        params, errors = train_rbm(params, train, 50, 20, 1, 0.05, np.random.default_rng(1))
        seconds = time.perf_counter() - start
        print(
            f"{len(errors)} epochs in {seconds:.1f} s: held-out reconstruction error "
            f"{reconstruction_error(params, test):.4f} "
            f"(the mean image: {reconstruction_error(baseline, test):.4f})"
        )
        filters = params["W"].T  # one 8 x 8 filter per hidden unit
        lo, hi = filters.min(axis=1, keepdims=True), filters.max(axis=1, keepdims=True)
        print(
            "wrote",
            image_grid((filters - lo) / (hi - lo), "rbm_filters.svg", title="RBM filters", shape=(8, 8)),
        )
        chain = test[:16]
        g = np.random.default_rng(2)
        for _ in range(1000):
            h = (g.random((16, 64)) < hidden_given_visible(params, chain)).astype(np.float64)
            chain = (g.random((16, 64)) < visible_given_hidden(params, h)).astype(np.float64)
        print(
            "wrote",
            image_grid(
                visible_given_hidden(params, h),
                "rbm_samples.svg",
                title="after 1,000 Gibbs steps",
                shape=(8, 8),
            ),
        )
    except NotImplementedError as missing:
        print(f"Finish {missing} to train the RBM.")
