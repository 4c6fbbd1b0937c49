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
import time

import numpy as np
from jaxtyping import Float

from grader.check import check

MAIN = __name__ == "__main__"

# The parameters: names to float64 arrays. A plain dict in the annotations, because the
# grader type-checks every call of this file's functions and checking every array of a
# dict[str, np.ndarray] costs about 0.7 ms a call.
Params = dict


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
    # Each head gets an axis of its own: (B, T, D) -> (B, T, heads, d) -> (B, heads, T, d).
    q = (memory @ params["W_q"]).reshape(B, R, n_heads, d).transpose(0, 2, 1, 3)
    k = (Z @ params["W_k"]).reshape(B, R + 1, n_heads, d).transpose(0, 2, 1, 3)
    v = (Z @ params["W_v"]).reshape(B, R + 1, n_heads, d).transpose(0, 2, 1, 3)
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
    memory = Z[:, :R]
    grads = {"W_o": heads.reshape(-1, D).T @ dout.reshape(-1, D)}
    dheads = (dout @ params["W_o"].T).reshape(B, R, n_heads, d).transpose(0, 2, 1, 3)
    dattn = dheads @ v.transpose(0, 1, 3, 2)
    dv = attn.transpose(0, 1, 3, 2) @ dheads
    dscores = attn * (dattn - (dattn * attn).sum(axis=-1, keepdims=True)) / math.sqrt(d)
    dq = dscores @ k
    dk = dscores.transpose(0, 1, 3, 2) @ q
    # The heads side by side again: (B, heads, T, d) -> (B, T, D).
    dq = dq.transpose(0, 2, 1, 3).reshape(B, R, D)
    dk = dk.transpose(0, 2, 1, 3).reshape(B, R + 1, D)
    dv = dv.transpose(0, 2, 1, 3).reshape(B, R + 1, D)
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
    attend_over_memory_backward. relu'(0) is taken as 0 (as in PyTorch): a pre-activation
    of exactly 0 passes no gradient."""
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
# ## Given: associative recall
#
# The core reads `items` random vectors, each with a class label (one-hot), one per step;
# then a query, one of the vectors again without its label; it must output that vector's
# label. The input at each step is [vector (vdim), label one-hot (classes), query flag]
# embedded to the memory's width by x @ W_in + b_in; the answer is read from the final
# memory, its slots averaged, by @ W_out + b_out. The memory starts as the first rows of
# the identity matrix. Every step goes through YOUR rmc_step and rmc_step_backward.


# %%
def make_recall_batch(
    n: int, items: int, vdim: int, classes: int, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """(x (n, items + 1, vdim + classes + 1), labels (n,)): the vectors ~ N(0, 1), their
    labels, and which item is asked for, drawn from rng in that order."""
    vectors = rng.normal(size=(n, items, vdim))
    labels = rng.integers(0, classes, size=(n, items))
    asked = rng.integers(0, items, size=n)
    x = np.zeros((n, items + 1, vdim + classes + 1))
    x[:, :items, :vdim] = vectors
    x[:, :items, vdim : vdim + classes] = np.eye(classes)[labels]
    x[:, items, :vdim] = vectors[np.arange(n), asked]
    x[:, items, -1] = 1.0  # the query flag
    return x, labels[np.arange(n), asked]


def init_recall(n_in: int, dim: int, classes: int, rng: np.random.Generator) -> Params:
    """init_rmc(dim, 2 * dim) and the embedding W_in (n_in, dim), b_in and the read-out
    W_out (dim, classes), b_out (N(0, 1 / fan_in) weights, zero biases)."""
    params = init_rmc(dim, 2 * dim, rng)
    params |= {"W_in": rng.normal(0.0, 1.0 / math.sqrt(n_in), size=(n_in, dim)), "b_in": np.zeros(dim)}
    params |= {
        "W_out": rng.normal(0.0, 1.0 / math.sqrt(dim), size=(dim, classes)),
        "b_out": np.zeros(classes),
    }
    return params


def recall_forward(params: Params, x: np.ndarray, slots: int, n_heads: int) -> tuple[np.ndarray, tuple]:
    """The logits (B, classes) after the core has read x (B, T, n_in), and a cache."""
    B, T, _ = x.shape
    memory = np.tile(np.eye(slots, params["W_q"].shape[0]), (B, 1, 1))
    caches = []
    for t in range(T):
        memory, cache = rmc_step(memory, x[:, t] @ params["W_in"] + params["b_in"], params, n_heads)
        caches.append(cache)
    pooled = memory.mean(axis=1)
    return pooled @ params["W_out"] + params["b_out"], (x, caches, pooled, slots)


def recall_loss_backward(
    params: Params, logits: np.ndarray, labels: np.ndarray, cache: tuple
) -> tuple[float, Params]:
    """The mean cross-entropy of the logits and its gradient for every parameter (BPTT)."""
    x, caches, pooled, slots = cache
    B = len(labels)
    z = logits - logits.max(axis=1, keepdims=True)
    log_p = z - np.log(np.exp(z).sum(axis=1, keepdims=True))
    dlogits = np.exp(log_p)
    dlogits[np.arange(B), labels] -= 1
    dlogits /= B
    grads = {k: np.zeros_like(v) for k, v in params.items()}
    grads["W_out"], grads["b_out"] = pooled.T @ dlogits, dlogits.sum(axis=0)
    dmemory = np.repeat((dlogits @ params["W_out"].T)[:, None, :] / slots, slots, axis=1)
    for t in reversed(range(len(caches))):
        dmemory, dx, step_grads = rmc_step_backward(dmemory, caches[t])
        for k, g in step_grads.items():
            grads[k] += g
        grads["W_in"] += x[:, t].T @ dx
        grads["b_in"] += dx.sum(axis=0)
    return float(-log_p[np.arange(B), labels].mean()), grads


def adam_step(
    params: Params, grads: Params, state: dict | None, lr: float, max_norm: float = 1.0
) -> tuple[Params, dict]:
    """Clip the gradients to a global norm of max_norm, then one bias-corrected Adam step
    (beta1 0.9, beta2 0.999, eps 1e-8). state is None at first. Returns new arrays."""
    norm = math.sqrt(sum(float(np.sum(g * g)) for g in grads.values()))
    scale = min(1.0, max_norm / (norm + 1e-12))
    if state is None:
        state = {"t": 0, "m": {k: np.zeros_like(v) for k, v in params.items()}}
        state["v"] = {k: np.zeros_like(v) for k, v in params.items()}
    t = state["t"] + 1
    m = {k: 0.9 * state["m"][k] + 0.1 * scale * grads[k] for k in params}
    v = {k: 0.999 * state["v"][k] + 0.001 * (scale * grads[k]) ** 2 for k in params}
    new = {
        k: params[k] - lr * (m[k] / (1 - 0.9**t)) / (np.sqrt(v[k] / (1 - 0.999**t)) + 1e-8) for k in params
    }
    return new, {"t": t, "m": m, "v": v}


def train_recall(
    params: Params,
    steps: int,
    batch: int,
    items: int,
    vdim: int,
    classes: int,
    slots: int,
    n_heads: int,
    lr: float,
    rng: np.random.Generator,
) -> tuple[Params, list[float]]:
    """Train on fresh batches (make_recall_batch with rng): recall_forward,
    recall_loss_backward, adam_step. Returns (params, losses)."""
    state, losses = None, []
    for _ in range(steps):
        x, labels = make_recall_batch(batch, items, vdim, classes, rng)
        logits, cache = recall_forward(params, x, slots, n_heads)
        loss, grads = recall_loss_backward(params, logits, labels, cache)
        params, state = adam_step(params, grads, state, lr)
        losses.append(loss)
    return params, losses


# %% [markdown]
# ## Learn to recall
#
# 3 items of 4 numbers with 3 classes; a memory of 2 slots of 16 in 2 heads. A model that
# sees only the query cannot beat chance, 1/3.

# %%
if MAIN:
    start = time.perf_counter()
    params = init_recall(8, 16, 3, np.random.default_rng(0))
    params, losses = train_recall(params, 2000, 32, 3, 4, 3, 2, 2, 1e-2, np.random.default_rng(1))
    x, labels = make_recall_batch(1000, 3, 4, 3, np.random.default_rng(2))
    logits, cache = recall_forward(params, x, 2, 2)
    accuracy = float(np.mean(logits.argmax(axis=1) == labels))
    print(
        f"trained in {time.perf_counter() - start:.1f} s: loss {losses[0]:.3f} -> {np.mean(losses[-50:]):.3f}"
    )
    print(f"accuracy on 1,000 new sequences: {accuracy:.1%} (chance 33%)")
    # The last step's attention: how the two slots attend over themselves and the query.
    print("head 0's attention at the query step, sequence 0 (columns: slots 0-1, the query):")
    print(np.round(cache[1][-1][3][4][0, 0], 3))
