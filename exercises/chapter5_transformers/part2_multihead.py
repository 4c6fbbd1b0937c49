# %% [markdown]
# # Chapter 5, part 2: multi-head self-attention, forward and backward
#
# Reading: chapters/chapter5_transformers/part2_multihead.md
#
# Fill in each function, then run the cell below it: `check(fn)` runs that exercise's
# tests here and prints a verdict. `python -m grader chapter5/part2` grades the file.
#
# The layer runs on YOUR part 1 (`attention_forward`, `attention_backward`).
#
# Conventions: batch first, x (N, T, D) with D = d_model; H heads of width
# d_head = D // H; head h owns features h * d_head ... (h + 1) * d_head - 1 of every
# projection. Linear maps are x @ W + b with W (d_in, d_out). The parameters are a dict
# with keys "W_q", "b_q", "W_k", "b_k", "W_v", "b_v", "W_o", "b_o" (every W (D, D), every
# b (D,)); a backward returns its gradients in a dict with the same keys. Masks are
# boolean, True = may attend. Every function accepts float64 or float32 and returns arrays
# of the dtype it was given, and none changes its inputs. The tests compare float64
# results to 1e-6 relative (gradients against central differences) and float32 results
# to 1e-4.

# %%
import math

import einops
import numpy as np
from chapter5_transformers.part1_attention import attention_backward, attention_forward
from jaxtyping import Bool, Float

from grader.check import check

MAIN = __name__ == "__main__"

Params = dict[str, np.ndarray]
KEYS = ("W_q", "b_q", "W_k", "b_k", "W_v", "b_v", "W_o", "b_o")


# %% [markdown]
# ## Splitting and merging heads


# %%
def split_heads(x: Float[np.ndarray, "batch T D"], n_heads: int) -> Float[np.ndarray, "batch H T d_head"]:
    """Cut the feature axis into n_heads heads: out[n, h, t, j] = x[n, t, h * d_head + j]
    with d_head = D // n_heads (D must be a multiple of n_heads). Use einops.rearrange.
    Returns (N, H, T, d_head)."""
    raise NotImplementedError("split_heads")


if MAIN:
    check(split_heads)


# %%
def merge_heads(x: Float[np.ndarray, "batch H T d_head"]) -> Float[np.ndarray, "batch T D"]:
    """The inverse of split_heads: out[n, t, h * d_head + j] = x[n, h, t, j].
    Use einops.rearrange. Returns (N, T, H * d_head)."""
    raise NotImplementedError("merge_heads")


if MAIN:
    check(merge_heads)


# %% [markdown]
# ## Initialisation


# %%
def mha_init(rng: np.random.Generator, d_model: int) -> Params:
    """Parameters for multi-head attention of width d_model, float64: W_q, W_k, W_v, W_o
    drawn in that order, each with rng.normal(0.0, 1 / sqrt(d_model), size=(d_model, d_model)),
    and every bias zero. Returns a dict with the keys "W_q", "b_q", "W_k", "b_k", "W_v",
    "b_v", "W_o", "b_o"."""
    raise NotImplementedError("mha_init")


if MAIN:
    check(mha_init)


# %% [markdown]
# ## Multi-head self-attention


# %%
def mha_forward(
    x: Float[np.ndarray, "batch T D"],
    params: Params,
    n_heads: int,
    mask: Bool[np.ndarray, "..."] | None = None,
) -> tuple[Float[np.ndarray, "batch T D"], tuple]:
    """Multi-head self-attention:
    Q = x W_q + b_q, K = x W_k + b_k, V = x W_v + b_v; split each into n_heads heads
    (split_heads); every head runs scaled dot-product attention (your attention_forward,
    scaled by 1/sqrt(d_head)); merge the heads (merge_heads); out = merged W_o + b_o.

    mask: boolean (True = may attend), broadcastable to (N, T, T), for example a causal
    mask (T, T) or a padding mask (N, 1, T); the same mask applies to every head (insert
    a head axis just before its last two axes, so that it broadcasts against the scores
    (N, H, T, T)). Returns (out, cache), out (N, T, D).
    """
    raise NotImplementedError("mha_forward")


if MAIN:
    check(mha_forward)


# %%
def mha_backward(
    dout: Float[np.ndarray, "batch T D"], cache: tuple
) -> tuple[Float[np.ndarray, "batch T D"], Params]:
    """The gradients of multi-head self-attention, for (out, cache) = mha_forward(x,
    params, n_heads, mask), given dout = dL/dout.

    Returns (dx, grads): grads has the keys of params. x feeds all three projections, so
    dx is the sum of three paths. Use your attention_backward for the heads.
    """
    raise NotImplementedError("mha_backward")


if MAIN:
    check(mha_backward)
