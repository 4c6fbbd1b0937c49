# %% [markdown]
# # Chapter 5, part 4: the pre-norm transformer block
#
# Reading: chapters/chapter5_transformers/part4_block.md
#
# Fill in each function, then run the cell below it: `check(fn)` runs that exercise's
# tests here and prints a verdict. `python -m grader chapter5/part4` grades the file.
#
# The block runs on YOUR part 2: `mha_forward`, `mha_backward` and `mha_init` are imported
# from `exercises/chapter5_transformers/part2_multihead.py`. GPT-2's block, pre-norm:
#
#     h = x + MHA(LN_1(x))          attention: tokens exchange information
#     y = h + MLP(LN_2(h))          the MLP: each token on its own, D -> 4D -> GELU -> D
#
# Conventions: batch first, x (N, T, D) with D = d_model. Linear maps are x @ W + b with
# W (d_in, d_out). Parameters are dicts of arrays (nested dicts for the block) and every
# backward returns its gradients in a dict of the same structure. Every forward returns
# (out, cache), every backward takes (dout, cache). Functions accept float64 or float32
# and return the dtype they were given; no function changes its inputs. The tests compare
# float64 results to 1e-6 relative (1e-9 absolute; gradients against central
# differences), float32 results to 1e-4.

# %%
import math

import numpy as np
from chapter5_transformers.part2_multihead import mha_backward, mha_forward, mha_init
from jaxtyping import Bool, Float

from grader.check import check

MAIN = __name__ == "__main__"

Params = dict[str, np.ndarray]


# %% [markdown]
# ## Layer normalisation


# %%
def layer_norm_forward(
    x: Float[np.ndarray, "*batch D"],
    gamma: Float[np.ndarray, " D"],
    beta: Float[np.ndarray, " D"],
    eps: float = 1e-5,
) -> tuple[Float[np.ndarray, "*batch D"], tuple]:
    """Layer normalisation over the last axis (each token's D features on their own):

        mu = mean_j x[..., j]        var = mean_j (x[..., j] - mu)^2     (biased: / D)
        x_hat = (x - mu) / sqrt(var + eps)
        y = gamma * x_hat + beta

    Returns (y, cache).
    """
    # BEGIN SOLUTION
    mu = x.mean(axis=-1, keepdims=True)
    xc = x - mu
    inv_std = 1.0 / np.sqrt((xc * xc).mean(axis=-1, keepdims=True) + eps)
    x_hat = xc * inv_std
    return gamma * x_hat + beta, (x_hat, inv_std, gamma)
    # END SOLUTION


if MAIN:
    check(layer_norm_forward)


# %%
def layer_norm_backward(
    dy: Float[np.ndarray, "*batch D"], cache: tuple
) -> tuple[Float[np.ndarray, "*batch D"], Float[np.ndarray, " D"], Float[np.ndarray, " D"]]:
    """The gradients of (y, cache) = layer_norm_forward(x, gamma, beta, eps) given dL/dy.

    Returns (dx, dgamma, dbeta); dgamma and dbeta sum over every leading axis.
    """
    # BEGIN SOLUTION
    x_hat, inv_std, gamma = cache
    D = x_hat.shape[-1]
    lead = tuple(range(dy.ndim - 1))
    dgamma = (dy * x_hat).sum(axis=lead)
    dbeta = dy.sum(axis=lead)
    g = dy * gamma  # dL/dx_hat
    # x_hat depends on every feature of its row through mu and var: take away the parts
    # of g along the two directions that normalisation removes (the constant and x_hat).
    dx = inv_std * (g - g.mean(axis=-1, keepdims=True) - x_hat * (g * x_hat).sum(axis=-1, keepdims=True) / D)
    return dx, dgamma, dbeta
    # END SOLUTION


if MAIN:
    check(layer_norm_backward)


# %% [markdown]
# ## GELU and the MLP


# %%
def gelu_forward(x: Float[np.ndarray, "*shape"]) -> tuple[Float[np.ndarray, "*shape"], tuple]:
    """GELU in GPT-2's tanh approximation (Hendrycks and Gimpel 2016):

        gelu(x) = 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3)))

    (the exact GELU is x Phi(x), Phi the standard normal CDF; the two differ by less than
    5e-4, which the tests see). Returns (y, cache).
    """
    # BEGIN SOLUTION
    c = math.sqrt(2.0 / math.pi)  # a Python float: keeps float32 as float32
    # x * x * x, not x**3: NumPy computes a cube with the general pow, ~80x slower here
    t = np.tanh(c * x * (1.0 + 0.044715 * (x * x)))
    return 0.5 * x * (1.0 + t), (x, t)
    # END SOLUTION


if MAIN:
    check(gelu_forward)


# %%
def gelu_backward(dy: Float[np.ndarray, "*shape"], cache: tuple) -> Float[np.ndarray, "*shape"]:
    """dL/dx of (y, cache) = gelu_forward(x) given dL/dy."""
    # BEGIN SOLUTION
    x, t = cache
    c = math.sqrt(2.0 / math.pi)
    dudx = c * (1.0 + 3 * 0.044715 * (x * x))  # u = c (x + 0.044715 x^3), t = tanh(u)
    return dy * (0.5 * (1.0 + t) + 0.5 * x * (1.0 - t * t) * dudx)
    # END SOLUTION


if MAIN:
    check(gelu_backward)


# %%
def mlp_forward(
    x: Float[np.ndarray, "*batch D"], params: Params
) -> tuple[Float[np.ndarray, "*batch D"], tuple]:
    """The block's feed-forward network, applied to each token on its own:

        y = gelu(x @ W_1 + b_1) @ W_2 + b_2

    params: "W_1" (D, 4D), "b_1" (4D,), "W_2" (4D, D), "b_2" (D,) (the widths are read
    from the weights). Use your gelu_forward. Returns (y, cache).
    """
    # BEGIN SOLUTION
    pre = x @ params["W_1"] + params["b_1"]
    a, gelu_cache = gelu_forward(pre)
    return a @ params["W_2"] + params["b_2"], (x, a, gelu_cache, params)
    # END SOLUTION


if MAIN:
    check(mlp_forward)


# %%
def mlp_backward(
    dy: Float[np.ndarray, "*batch D"], cache: tuple
) -> tuple[Float[np.ndarray, "*batch D"], Params]:
    """The gradients of (y, cache) = mlp_forward(x, params) given dL/dy.

    Returns (dx, grads), grads a dict with the keys of params ("W_1", "b_1", "W_2",
    "b_2"), each summed over every token of the batch. Use your gelu_backward.
    """
    # BEGIN SOLUTION
    x, a, gelu_cache, params = cache
    D, F = params["W_1"].shape
    dy2 = dy.reshape(-1, D)  # every token is one row
    da = dy @ params["W_2"].T
    dpre = gelu_backward(da, gelu_cache).reshape(-1, F)
    grads = {
        "W_1": x.reshape(-1, D).T @ dpre,
        "b_1": dpre.sum(axis=0),
        "W_2": a.reshape(-1, F).T @ dy2,
        "b_2": dy2.sum(axis=0),
    }
    return (dpre @ params["W_1"].T).reshape(x.shape), grads
    # END SOLUTION


if MAIN:
    check(mlp_backward)


# %% [markdown]
# ## The block


# %%
def block_init(rng: np.random.Generator, d_model: int) -> dict:
    """A block's parameters, float64:

        {"ln1": {"gamma": ones (D,), "beta": zeros (D,)},
         "attn": mha_init(rng, d_model),                  (your part 2's, called first)
         "ln2": {"gamma": ones, "beta": zeros},
         "mlp": {"W_1": (D, 4D), "b_1": zeros (4D,), "W_2": (4D, D), "b_2": zeros (D,)}}

    with the MLP's weights drawn after the attention's, W_1 then W_2, as part 2 draws the
    attention's: rng.normal(0.0, 1 / sqrt(fan_in)), fan_in = D for W_1 and 4D for W_2, so
    that each layer's outputs start at its inputs' scale.
    """
    # BEGIN SOLUTION
    D = d_model
    attn = mha_init(rng, D)
    mlp = {
        "W_1": rng.normal(0.0, 1.0 / math.sqrt(D), size=(D, 4 * D)),
        "b_1": np.zeros(4 * D),
        "W_2": rng.normal(0.0, 1.0 / math.sqrt(4 * D), size=(4 * D, D)),
        "b_2": np.zeros(D),
    }
    return {
        "ln1": {"gamma": np.ones(D), "beta": np.zeros(D)},
        "attn": attn,
        "ln2": {"gamma": np.ones(D), "beta": np.zeros(D)},
        "mlp": mlp,
    }
    # END SOLUTION


if MAIN:
    check(block_init)


# %%
def block_forward(
    x: Float[np.ndarray, "N T D"],
    params: dict,
    n_heads: int,
    mask: Bool[np.ndarray, "..."] | None = None,
) -> tuple[Float[np.ndarray, "N T D"], tuple]:
    """The pre-norm transformer block (GPT-2):

        h = x + MHA(LN_1(x))        y = h + MLP(LN_2(h))

    params as block_init returns them; LN with eps = 1e-5; MHA is your part 2's
    mha_forward with n_heads heads and the boolean mask (True = may attend), passed on
    as it is. Returns (y, cache).
    """
    # BEGIN SOLUTION
    a, ln1_cache = layer_norm_forward(x, params["ln1"]["gamma"], params["ln1"]["beta"])
    att, attn_cache = mha_forward(a, params["attn"], n_heads, mask)
    h = x + att  # the residual stream carries x past the attention
    b, ln2_cache = layer_norm_forward(h, params["ln2"]["gamma"], params["ln2"]["beta"])
    m, mlp_cache = mlp_forward(b, params["mlp"])
    return h + m, (ln1_cache, attn_cache, ln2_cache, mlp_cache)
    # END SOLUTION


if MAIN:
    check(block_forward)


# %%
def block_backward(dy: Float[np.ndarray, "N T D"], cache: tuple) -> tuple[Float[np.ndarray, "N T D"], dict]:
    """The gradients of (y, cache) = block_forward(x, params, n_heads, mask) given dL/dy.

    Returns (dx, grads), grads with params' structure: {"ln1": {"gamma", "beta"},
    "attn": {...}, "ln2": {...}, "mlp": {...}}. Use your backward passes (mha_backward
    from part 2).
    """
    # BEGIN SOLUTION
    ln1_cache, attn_cache, ln2_cache, mlp_cache = cache
    db, g_mlp = mlp_backward(dy, mlp_cache)
    dh_ln, dgamma2, dbeta2 = layer_norm_backward(db, ln2_cache)
    dh = dy + dh_ln  # the residual: h reaches y directly and through the MLP
    da, g_attn = mha_backward(dh, attn_cache)
    dx_ln, dgamma1, dbeta1 = layer_norm_backward(da, ln1_cache)
    grads = {
        "ln1": {"gamma": dgamma1, "beta": dbeta1},
        "attn": g_attn,
        "ln2": {"gamma": dgamma2, "beta": dbeta2},
        "mlp": g_mlp,
    }
    return dh + dx_ln, grads
    # END SOLUTION


if MAIN:
    check(block_backward)
