# %% [markdown]
# # Chapter 5, part 1: attention, from Bahdanau to scaled dot-product attention
#
# Reading: chapters/chapter5_transformers/part1_attention.md
#
# Fill in each function, then run the cell below it: `check(fn)` runs that exercise's
# tests here and prints a verdict. `python -m grader chapter5/part1` grades the file.
#
# Conventions: batch first. Queries q (..., T, d_k) attend over S keys k (..., S, d_k) with
# values v (..., S, d_v); "..." is any number of leading (batch, head) axes. Scores and
# attention weights are (..., T, S): row t says how much query t takes from each key.
# Masks are boolean, True = may attend, and broadcast against the scores' shape; they are
# applied BEFORE the softmax. A row with no True entry (a fully masked query) gets
# weights of zero everywhere, so its output is zero and no gradient flows through it.
# A forward function returns (out, cache) and its backward takes (dout, cache). Every
# function accepts float64 or float32 and returns arrays of the dtype it was given, and
# none changes its inputs. The tests compare float64 results to 1e-6 relative (gradients
# against central differences) and float32 results to 1e-4.

# %%
import math

import numpy as np
from jaxtyping import Bool, Float, Int

from grader.check import check

MAIN = __name__ == "__main__"


# %% [markdown]
# ## Masks


# %%
def causal_mask(T: int) -> Bool[np.ndarray, "T T"]:
    """The causal (look-ahead) mask for a sequence of length T: mask[t, s] is True when
    query t may attend to key s, that is when s <= t (itself and the past, never the
    future). A bool array (T, T), True on and below the diagonal."""
    # BEGIN SOLUTION
    return np.tril(np.ones((T, T), dtype=bool))
    # END SOLUTION


if MAIN:
    check(causal_mask)


# %%
def padding_mask(lengths: Int[np.ndarray, " batch"], S: int) -> Bool[np.ndarray, "batch 1 S"]:
    """The padding mask of a batch of sequences padded to length S: sequence n holds
    lengths[n] real tokens followed by padding, and mask[n, 0, s] is True when key s is a
    real token (s < lengths[n]). A bool array (N, 1, S): the middle axis of length 1
    broadcasts over every query, so it can be used directly on scores (N, T, S)."""
    # BEGIN SOLUTION
    return (np.arange(S) < np.asarray(lengths)[:, None])[:, None, :]
    # END SOLUTION


if MAIN:
    check(padding_mask)


# %% [markdown]
# ## A softmax that respects a mask


# %%
def masked_softmax(
    scores: Float[np.ndarray, "*batch T S"],
    mask: Bool[np.ndarray, "..."] | None = None,
) -> Float[np.ndarray, "*batch T S"]:
    """Softmax over the last axis, counting only the entries where mask is True:
    weights[..., t, s] = exp(scores[..., t, s]) / sum over the allowed s' of exp(scores[..., t, s'])
    where mask[..., t, s] is True, and exactly 0 where it is False. mask=None allows
    everything; otherwise it broadcasts against scores.

    Stable: it must not overflow for scores of any size (subtract the row's largest
    allowed score first). A row with no allowed entry gives weights of 0 everywhere (not
    NaN). Returns an array of the shape and dtype of scores.
    """
    # BEGIN SOLUTION
    # One new array, ours to work on in place (the caller's scores stay as they were): a
    # layer's scores are large (N * H * T * S entries), and every fresh array of that size
    # costs its allocation and page faults. exp(-inf) = 0: masked keys get no weight.
    e = scores.copy() if mask is None else np.where(mask, scores, -np.inf)
    top = e.max(axis=-1, keepdims=True)
    top = np.where(np.isfinite(top), top, 0)  # a fully masked row has max -inf: avoid inf - inf
    e -= top
    np.exp(e, out=e)
    total = e.sum(axis=-1, keepdims=True)
    e /= np.where(total > 0, total, 1)  # a fully masked row stays 0 / 1 = 0
    return e
    # END SOLUTION


if MAIN:
    check(masked_softmax)


# %% [markdown]
# ## Bahdanau's additive attention and Luong's multiplicative scores


# %%
def additive_scores(
    q: Float[np.ndarray, "batch T d_q"],
    k: Float[np.ndarray, "batch S d_k"],
    W_q: Float[np.ndarray, "d_q d_att"],
    W_k: Float[np.ndarray, "d_k d_att"],
    v_a: Float[np.ndarray, " d_att"],
) -> Float[np.ndarray, "batch T S"]:
    """Bahdanau's additive (concat) score of every query against every key:
    scores[n, t, s] = v_a . tanh(q[n, t] @ W_q + k[n, s] @ W_k).

    Queries and keys may have different widths; both are projected to d_att. Project each
    query and each key once, then combine every pair by broadcasting. Returns (N, T, S).
    """
    # BEGIN SOLUTION
    pq = q @ W_q  # (N, T, A)
    pk = k @ W_k  # (N, S, A)
    return np.tanh(pq[:, :, None, :] + pk[:, None, :, :]) @ v_a  # (N, T, S, A) @ (A,)
    # END SOLUTION


if MAIN:
    check(additive_scores)


# %%
def additive_scores_backward(
    dscores: Float[np.ndarray, "batch T S"],
    q: Float[np.ndarray, "batch T d_q"],
    k: Float[np.ndarray, "batch S d_k"],
    W_q: Float[np.ndarray, "d_q d_att"],
    W_k: Float[np.ndarray, "d_k d_att"],
    v_a: Float[np.ndarray, " d_att"],
) -> tuple[
    Float[np.ndarray, "batch T d_q"],
    Float[np.ndarray, "batch S d_k"],
    Float[np.ndarray, "d_q d_att"],
    Float[np.ndarray, "d_k d_att"],
    Float[np.ndarray, " d_att"],
]:
    """The gradients of additive_scores(q, k, W_q, W_k, v_a), given dscores = dL/dscores
    (N, T, S). additive_scores keeps no cache, so its backward takes the forward's inputs
    and recomputes what it needs.

    Returns (dq, dk, dW_q, dW_k, dv_a). Every query meets every key, so a query's
    gradient sums over the keys and a key's over the queries.
    """
    # BEGIN SOLUTION
    h = np.tanh((q @ W_q)[:, :, None, :] + (k @ W_k)[:, None, :, :])  # (N, T, S, A)
    dv_a = np.einsum("nts,ntsa->a", dscores, h)
    da = dscores[..., None] * v_a * (1 - h**2)  # through the dot with v_a, then tanh
    dpq = da.sum(axis=2)  # (N, T, A): query t's projection is in every pair (t, s)
    dpk = da.sum(axis=1)  # (N, S, A): key s's projection is in every pair (t, s)
    dW_q = np.einsum("ntd,nta->da", q, dpq)
    dW_k = np.einsum("nsd,nsa->da", k, dpk)
    return dpq @ W_q.T, dpk @ W_k.T, dW_q, dW_k, dv_a
    # END SOLUTION


if MAIN:
    check(additive_scores_backward)


# %%
def additive_attention(
    q: Float[np.ndarray, "batch T d_q"],
    k: Float[np.ndarray, "batch S d_k"],
    v: Float[np.ndarray, "batch S d_v"],
    W_q: Float[np.ndarray, "d_q d_att"],
    W_k: Float[np.ndarray, "d_k d_att"],
    v_a: Float[np.ndarray, " d_att"],
    mask: Bool[np.ndarray, "..."] | None = None,
) -> tuple[Float[np.ndarray, "batch T d_v"], Float[np.ndarray, "batch T S"]]:
    """Bahdanau attention: the additive scores of every query against every key (your
    additive_scores), turned into weights by your masked_softmax (mask as there: True =
    may attend, broadcastable to (N, T, S)), and each query's context, the weighted
    average of the values: context[n, t] = sum_s weights[n, t, s] * v[n, s].

    Returns (context, weights), (N, T, d_v) and (N, T, S).
    """
    # BEGIN SOLUTION
    weights = masked_softmax(additive_scores(q, k, W_q, W_k, v_a), mask)
    return weights @ v, weights
    # END SOLUTION


if MAIN:
    check(additive_attention)


# %%
def luong_scores(
    q: Float[np.ndarray, "batch T d_q"],
    k: Float[np.ndarray, "batch S d_k"],
    W_a: Float[np.ndarray, "d_q d_k"] | None = None,
) -> Float[np.ndarray, "batch T S"]:
    """Luong's multiplicative scores of every query against every key.

    W_a=None: the "dot" score, scores[n, t, s] = q[n, t] . k[n, s] (needs d_q == d_k).
    Otherwise the "general" score, scores[n, t, s] = q[n, t] @ W_a @ k[n, s].
    No scaling (that comes with the next exercise). Returns (N, T, S).
    """
    # BEGIN SOLUTION
    if W_a is not None:
        q = q @ W_a  # (N, T, d_k): the general score is a dot score against a projected query
    return q @ k.swapaxes(-1, -2)
    # END SOLUTION


if MAIN:
    check(luong_scores)


# %% [markdown]
# ## Scaled dot-product attention, forward and backward


# %%
def attention_forward(
    q: Float[np.ndarray, "*batch T d_k"],
    k: Float[np.ndarray, "*batch S d_k"],
    v: Float[np.ndarray, "*batch S d_v"],
    mask: Bool[np.ndarray, "..."] | None = None,
) -> tuple[Float[np.ndarray, "*batch T d_v"], tuple]:
    """Scaled dot-product attention (Vaswani et al.):
    A = masked_softmax(q kᵀ / sqrt(d_k), mask), out = A v.

    q (..., T, d_k), k (..., S, d_k), v (..., S, d_v) with the same leading axes; mask is
    boolean (True = may attend), broadcastable to (..., T, S), or None. A fully masked
    query gets out = 0. Returns (out, cache), out (..., T, d_v).
    """
    # BEGIN SOLUTION
    scale = 1.0 / math.sqrt(q.shape[-1])  # a Python float keeps float32 float32
    # (q * scale) k^T = (q k^T) * scale, and scaling q touches T * d_k numbers instead of T * S
    weights = masked_softmax((q * scale) @ k.swapaxes(-1, -2), mask)
    return weights @ v, (q, k, v, weights, scale)
    # END SOLUTION


if MAIN:
    check(attention_forward)


# %%
def attention_backward(
    dout: Float[np.ndarray, "*batch T d_v"],
    cache: tuple,
) -> tuple[
    Float[np.ndarray, "*batch T d_k"],
    Float[np.ndarray, "*batch S d_k"],
    Float[np.ndarray, "*batch S d_v"],
]:
    """The gradients of scaled dot-product attention, for (out, cache) =
    attention_forward(q, k, v, mask), given dout = dL/dout.

    Returns (dq, dk, dv). The mask is a constant: masked scores get no gradient, and a
    fully masked query passes none back.
    """
    # BEGIN SOLUTION
    q, k, v, A, scale = cache
    dv = A.swapaxes(-1, -2) @ dout
    dA = dout @ v.swapaxes(-1, -2)
    # softmax backward, row by row: dS = A * (dA - sum_s dA * A); masked entries have A = 0
    dS = A * (dA - (dA * A).sum(axis=-1, keepdims=True))
    dS *= scale
    return dS @ k, dS.swapaxes(-1, -2) @ q, dv
    # END SOLUTION


if MAIN:
    check(attention_backward)
