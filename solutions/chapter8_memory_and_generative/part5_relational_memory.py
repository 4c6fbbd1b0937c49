# %% [markdown]
# # Chapter 8, part 5: the relational memory core
#
# Reading: chapters/chapter8_memory_and_generative/part5_relational_memory.md
#
# Fill in each function, then run the cell below it: `check(fn)` runs that exercise's
# tests here and prints a verdict. `python -m grader chapter8/part5` grades the file.
#
# Conventions: batch first. A memory is (B, R, D): R slots of D numbers for each of B
# sequences; an input is (B, D), one vector per sequence and step (already embedded). Linear
# maps are x @ W + b with W (d_in, d_out). Parameters are a dict of float64 arrays, and a
# backward returns a dict of gradients with the same keys (only those its forward used).
# Every forward returns (out, cache), every backward takes (dout, cache). float64
# throughout; no function changes its inputs. The tests compare with the definitions and
# with central differences to 1e-6 relative.

# %%
import math

import numpy as np
from jaxtyping import Float

from grader.check import check

MAIN = __name__ == "__main__"

Params = dict[str, np.ndarray]


# %% [markdown]
# ## Given: initialisation


# %%
def init_rmc(dim: int, hidden: int, rng: np.random.Generator) -> Params:
    """Weights ~ N(0, 1 / fan_in), biases 0 (the forget gate's bias 1), float64: the
    attention's W_q, W_k, W_v, W_o (D, D); the MLP's W_1 (D, hidden), b_1, W_2 (hidden, D),
    b_2; the gates' W_i, W_f (D, D) on the input, U_i, U_f (D, D) on tanh(memory), b_i, b_f."""

    def dense(n, m):
        return rng.normal(0.0, 1.0 / math.sqrt(n), size=(n, m))

    params = {name: dense(dim, dim) for name in ("W_q", "W_k", "W_v", "W_o")}
    params |= {
        "W_1": dense(dim, hidden),
        "b_1": np.zeros(hidden),
        "W_2": dense(hidden, dim),
        "b_2": np.zeros(dim),
    }
    params |= {name: dense(dim, dim) for name in ("W_i", "U_i", "W_f", "U_f")}
    params |= {"b_i": np.zeros(dim), "b_f": np.ones(dim)}
    return params


# %% [markdown]
# ## Multi-head attention over [memory; input]


# %%
def attend_over_memory(
    memory: Float[np.ndarray, "batch slots dim"],
    x: Float[np.ndarray, "batch dim"],
    params: Params,
    n_heads: int,
) -> tuple[Float[np.ndarray, "batch slots dim"], tuple]:
    """Every memory slot attends over the memory AND the input: with
    Z = [memory; x] (B, R + 1, D), the input as the last row,

        Q = memory @ W_q (B, R, D),   K = Z @ W_k,   V = Z @ W_v (B, R + 1, D)

    split into n_heads heads of d = D / n_heads columns (head h takes columns
    [h d, (h + 1) d)); per head, A = softmax(Q_h K_h^T / sqrt(d)) over the R + 1 keys
    (a stable softmax), O_h = A V_h; the heads' outputs side by side (B, R, D) times W_o.
    Uses W_q, W_k, W_v, W_o (no biases). Returns (out (B, R, D), cache).
    """
    # BEGIN SOLUTION
    B, R, D = memory.shape
    d = D // n_heads
    Z = np.concatenate([memory, x[:, None, :]], axis=1)

    def split(a):  # (B, T, D) -> (B, heads, T, d)
        return a.reshape(B, a.shape[1], n_heads, d).transpose(0, 2, 1, 3)

    q, k, v = split(memory @ params["W_q"]), split(Z @ params["W_k"]), split(Z @ params["W_v"])
    scores = q @ k.transpose(0, 1, 3, 2) / math.sqrt(d)  # (B, heads, R, R + 1)
    scores -= scores.max(axis=-1, keepdims=True)
    attn = np.exp(scores)
    attn /= attn.sum(axis=-1, keepdims=True)
    heads = (attn @ v).transpose(0, 2, 1, 3).reshape(B, R, D)
    return heads @ params["W_o"], (Z, q, k, v, attn, heads, params, n_heads)
    # END SOLUTION


if MAIN:
    check(attend_over_memory)


# %%
def attend_over_memory_backward(
    dout: Float[np.ndarray, "batch slots dim"], cache: tuple
) -> tuple[Float[np.ndarray, "batch slots dim"], Float[np.ndarray, "batch dim"], Params]:
    """The gradients of (out, cache) = attend_over_memory(memory, x, params, n_heads):
    (dmemory, dx, grads) with grads holding W_q, W_k, W_v, W_o. The memory reaches the
    output three ways (queries, keys, values), the input two (keys, values)."""
    # BEGIN SOLUTION
    Z, q, k, v, attn, heads, params, n_heads = cache
    B, R, D = heads.shape
    d = D // n_heads

    def split(a):
        return a.reshape(B, a.shape[1], n_heads, d).transpose(0, 2, 1, 3)

    def merge(a):  # (B, heads, T, d) -> (B, T, D)
        return a.transpose(0, 2, 1, 3).reshape(B, a.shape[2], D)

    memory = Z[:, :R]
    grads = {"W_o": heads.reshape(-1, D).T @ dout.reshape(-1, D)}
    dheads = split(dout @ params["W_o"].T)
    dattn = dheads @ v.transpose(0, 1, 3, 2)
    dv = attn.transpose(0, 1, 3, 2) @ dheads
    dscores = attn * (dattn - (dattn * attn).sum(axis=-1, keepdims=True)) / math.sqrt(d)
    dq = dscores @ k
    dk = dscores.transpose(0, 1, 3, 2) @ q
    dq, dk, dv = merge(dq), merge(dk), merge(dv)
    grads["W_q"] = memory.reshape(-1, D).T @ dq.reshape(-1, D)
    grads["W_k"] = Z.reshape(-1, D).T @ dk.reshape(-1, D)
    grads["W_v"] = Z.reshape(-1, D).T @ dv.reshape(-1, D)
    dZ = dk @ params["W_k"].T + dv @ params["W_v"].T
    dmemory = dZ[:, :R] + dq @ params["W_q"].T
    return dmemory, dZ[:, R], grads
    # END SOLUTION


if MAIN:
    check(attend_over_memory_backward)


# %% [markdown]
# ## One step of the core: attend, MLP, gate


# %%
def rmc_step(
    memory: Float[np.ndarray, "batch slots dim"],
    x: Float[np.ndarray, "batch dim"],
    params: Params,
    n_heads: int,
) -> tuple[Float[np.ndarray, "batch slots dim"], tuple]:
    """One step of the relational memory core (no layer norm):

        M1 = M + attend_over_memory(M, x)                      residual around attention
        M2 = M1 + relu(M1 @ W_1 + b_1) @ W_2 + b_2             residual around the row-wise MLP
        i = sigmoid(x @ W_i + tanh(M) @ U_i + b_i)             input gate (B, R, D)
        f = sigmoid(x @ W_f + tanh(M) @ U_f + b_f)             forget gate (B, R, D)
        M_new = i * tanh(M2) + f * M

    (x @ W_i is (B, D), added to every slot's row.) Use your attend_over_memory. Returns
    (M_new, cache).
    """
    # BEGIN SOLUTION
    att, att_cache = attend_over_memory(memory, x, params, n_heads)
    m1 = memory + att
    pre = m1 @ params["W_1"] + params["b_1"]
    hidden = np.maximum(pre, 0.0)
    m2 = m1 + hidden @ params["W_2"] + params["b_2"]
    tanh_m = np.tanh(memory)
    i = 0.5 * (1 + np.tanh(0.5 * ((x @ params["W_i"])[:, None, :] + tanh_m @ params["U_i"] + params["b_i"])))
    f = 0.5 * (1 + np.tanh(0.5 * ((x @ params["W_f"])[:, None, :] + tanh_m @ params["U_f"] + params["b_f"])))
    candidate = np.tanh(m2)
    new = i * candidate + f * memory
    return new, (memory, x, params, att_cache, m1, pre, hidden, tanh_m, i, f, candidate)
    # END SOLUTION


if MAIN:
    check(rmc_step)


# %%
def rmc_step_backward(
    dnew: Float[np.ndarray, "batch slots dim"], cache: tuple
) -> tuple[Float[np.ndarray, "batch slots dim"], Float[np.ndarray, "batch dim"], Params]:
    """The gradients of (M_new, cache) = rmc_step(memory, x, params, n_heads): (dmemory, dx,
    grads) with a gradient for every parameter of init_rmc. Use your
    attend_over_memory_backward."""
    # BEGIN SOLUTION
    memory, x, params, att_cache, m1, pre, hidden, tanh_m, i, f, candidate = cache
    B, R, D = memory.shape
    # The gates: sigmoid' = s (1 - s); x's row is broadcast over the slots, so its
    # gradient sums over them.
    dzi = dnew * candidate * i * (1 - i)
    dzf = dnew * memory * f * (1 - f)
    grads = {
        "W_i": x.T @ dzi.sum(axis=1),
        "W_f": x.T @ dzf.sum(axis=1),
        "U_i": tanh_m.reshape(-1, D).T @ dzi.reshape(-1, D),
        "U_f": tanh_m.reshape(-1, D).T @ dzf.reshape(-1, D),
        "b_i": dzi.sum(axis=(0, 1)),
        "b_f": dzf.sum(axis=(0, 1)),
    }
    dx = dzi.sum(axis=1) @ params["W_i"].T + dzf.sum(axis=1) @ params["W_f"].T
    dtanh_m = dzi @ params["U_i"].T + dzf @ params["U_f"].T
    dmemory = dnew * f + dtanh_m * (1 - tanh_m**2)
    # The candidate tanh(M2), then the MLP and its residual.
    dm2 = dnew * i * (1 - candidate**2)
    grads["W_2"] = hidden.reshape(-1, hidden.shape[-1]).T @ dm2.reshape(-1, D)
    grads["b_2"] = dm2.sum(axis=(0, 1))
    dpre = (dm2 @ params["W_2"].T) * (pre > 0)
    grads["W_1"] = m1.reshape(-1, D).T @ dpre.reshape(-1, pre.shape[-1])
    grads["b_1"] = dpre.sum(axis=(0, 1))
    dm1 = dm2 + dpre @ params["W_1"].T
    # The attention and its residual.
    datt_memory, datt_x, att_grads = attend_over_memory_backward(dm1, att_cache)
    grads |= att_grads
    return dmemory + dm1 + datt_memory, dx + datt_x, grads
    # END SOLUTION


if MAIN:
    check(rmc_step_backward)


# %% [markdown]
# ## Try it: attention weights of a fresh core
#
# A memory of 4 slots of 8 numbers, two heads; each slot's attention over the four slots
# and the input (the last column). Trained cores learn to route information between the
# slots through these weights.

# %%
if MAIN:
    g = np.random.default_rng(0)
    params = init_rmc(8, 16, g)
    memory, x = g.normal(size=(1, 4, 8)), g.normal(size=(1, 8))
    _, cache = attend_over_memory(memory, x, params, 2)
    print("head 0's attention (rows: slots; columns: slots 0-3, then the input):")
    print(np.round(cache[4][0, 0], 3))
    new, _ = rmc_step(memory, x, params, 2)
    print("the memory after one step:", new.shape)
