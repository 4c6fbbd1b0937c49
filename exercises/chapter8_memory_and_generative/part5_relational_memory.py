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
    raise NotImplementedError("attend_over_memory")


if MAIN:
    check(attend_over_memory)


# %%
def attend_over_memory_backward(
    dout: Float[np.ndarray, "batch slots dim"], cache: tuple
) -> tuple[Float[np.ndarray, "batch slots dim"], Float[np.ndarray, "batch dim"], Params]:
    """The gradients of (out, cache) = attend_over_memory(memory, x, params, n_heads):
    (dmemory, dx, grads) with grads holding W_q, W_k, W_v, W_o. The memory reaches the
    output three ways (queries, keys, values), the input two (keys, values)."""
    raise NotImplementedError("attend_over_memory_backward")


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
    raise NotImplementedError("rmc_step")


if MAIN:
    check(rmc_step)


# %%
def rmc_step_backward(
    dnew: Float[np.ndarray, "batch slots dim"], cache: tuple
) -> tuple[Float[np.ndarray, "batch slots dim"], Float[np.ndarray, "batch dim"], Params]:
    """The gradients of (M_new, cache) = rmc_step(memory, x, params, n_heads): (dmemory, dx,
    grads) with a gradient for every parameter of init_rmc. Use your
    attend_over_memory_backward."""
    raise NotImplementedError("rmc_step_backward")


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
