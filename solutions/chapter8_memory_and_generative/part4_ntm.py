# %% [markdown]
# # Chapter 8, part 4: the Neural Turing Machine's addressing, read, erase and add
#
# Reading: chapters/chapter8_memory_and_generative/part4_ntm.md
#
# Fill in each function, then run the cell below it: `check(fn)` runs that exercise's
# tests here and prints a verdict. `python -m grader chapter8/part4` grades the file.
#
# Conventions: batch first. A memory is (B, N, W): B sequences, N rows (locations) of W
# numbers each; a weighting is (B, N), every row non-negative and summing to one; a key,
# an erase and an add vector are (B, W); the scalars of a head (beta, g, gamma) are (B,);
# a shift weighting is (B, 3) over the offsets (-1, 0, +1) in that order. Every forward
# returns (out, cache) and every backward takes (dout, cache) and returns the gradients of
# the forward's array inputs in the forward's order. Every function accepts float64 or
# float32 and returns arrays of the dtype it was given; none changes its inputs. The tests
# compare float64 results to 1e-6 relative (gradients against central differences) and
# float32 results to 1e-4.

# %%
import math
import time

import numpy as np
from jaxtyping import Float

from grader.check import check

MAIN = __name__ == "__main__"

OFFSETS = (-1, 0, 1)  # the shifts a head can make, in the order of the columns of s
EPS = 1e-8  # added to the product of norms in the cosine similarity

# The parameters: names to float64 arrays. A plain dict in the annotations, because the
# grader type-checks every call of this file's functions and checking every array of a
# dict[str, np.ndarray] costs about 0.7 ms a call.
Params = dict


# %% [markdown]
# ## Content addressing


# %%
def content_weights(
    memory: Float[np.ndarray, "batch rows width"],
    key: Float[np.ndarray, "batch width"],
    beta: Float[np.ndarray, " batch"],
) -> tuple[Float[np.ndarray, "batch rows"], tuple]:
    """The content weighting of every memory row for a key:

        K[b, i] = (M[b, i] . k[b]) / (||M[b, i]|| ||k[b]|| + EPS)     cosine similarity
        w[b] = softmax(beta[b] * K[b])                                 over the rows i

    with EPS = 1e-8 (the module's constant) and beta >= 0 the key strength. The softmax
    must be stable (beta may be large). Returns (w, cache).
    """
    # BEGIN SOLUTION
    dots = np.einsum("bnw,bw->bn", memory, key)
    row_norms = np.sqrt(np.einsum("bnw,bnw->bn", memory, memory))
    key_norm = np.sqrt(np.einsum("bw,bw->b", key, key))
    denom = row_norms * key_norm[:, None] + EPS
    similarity = dots / denom
    z = beta[:, None] * similarity
    z = z - z.max(axis=1, keepdims=True)  # exp never overflows; the softmax is unchanged
    w = np.exp(z)
    w /= w.sum(axis=1, keepdims=True)
    return w, (memory, key, beta, row_norms, key_norm, dots, denom, similarity, w)
    # END SOLUTION


if MAIN:
    check(content_weights)


# %%
def content_weights_backward(
    dw: Float[np.ndarray, "batch rows"], cache: tuple
) -> tuple[
    Float[np.ndarray, "batch rows width"],
    Float[np.ndarray, "batch width"],
    Float[np.ndarray, " batch"],
]:
    """The gradients of (w, cache) = content_weights(memory, key, beta) given dL/dw.

    Returns (dmemory, dkey, dbeta). A memory row of norm 0 never reaches this function in
    the tests, but a key of 0 does: the given NTM's first step on an all-zero input vector
    has h = 0 and so a zero key. EPS keeps K differentiable there (near k = 0, K[b, i] is
    M[b, i] . k[b] / EPS), so dkey[b] = sum_i dK[b, i] M[b, i] / EPS: the path through
    ||k|| is multiplied by M[b, i] . k[b] = 0 and vanishes. Do not divide by ||k|| = 0
    (0 / 0 is nan, and one nan spoils the whole training).
    """
    # BEGIN SOLUTION
    memory, key, beta, row_norms, key_norm, dots, denom, similarity, w = cache
    dz = w * (dw - (dw * w).sum(axis=1, keepdims=True))  # the softmax's backward
    dbeta = (dz * similarity).sum(axis=1)
    dsim = dz * beta[:, None]
    # K = dots / denom with denom = |M_i| |k| + EPS: two paths, through dots and denom.
    ddots = dsim / denom
    ddenom = -dsim * dots / denom**2
    drow_norms = ddenom * key_norm[:, None]
    dkey_norm = (ddenom * row_norms).sum(axis=1)
    # d|v|/dv = v / |v|; at v = 0 (a zero key, say) the norm has no derivative, and the
    # direction 0 (dividing 0 by 1) is as good a choice as any.
    dmemory = ddots[:, :, None] * key[:, None, :]
    dmemory += (drow_norms / np.where(row_norms > 0, row_norms, 1))[:, :, None] * memory
    dkey = np.einsum("bn,bnw->bw", ddots, memory)
    dkey += (dkey_norm / np.where(key_norm > 0, key_norm, 1))[:, None] * key
    return dmemory, dkey, dbeta
    # END SOLUTION


if MAIN:
    check(content_weights_backward)


# %% [markdown]
# ## Location addressing: interpolate, shift, sharpen


# %%
def location_weights(
    w_content: Float[np.ndarray, "batch rows"],
    w_prev: Float[np.ndarray, "batch rows"],
    g: Float[np.ndarray, " batch"],
    s: Float[np.ndarray, "batch 3"],
    gamma: Float[np.ndarray, " batch"],
) -> tuple[Float[np.ndarray, "batch rows"], tuple]:
    """The head's final weighting from its content weighting, in three steps:

        w_g = g * w_content + (1 - g) * w_prev                  interpolation, g in [0, 1]
        w_s[i] = sum_j s[j] * w_g[(i - OFFSETS[j]) mod N]       circular shift
        w[i] = w_s[i] ** gamma / sum_k w_s[k] ** gamma          sharpening, gamma >= 1

    (per batch row b; s[:, j] is the weight of the offset OFFSETS[j] = (-1, 0, +1)[j], so a
    one-hot s on +1 moves every weight one row down, and row N - 1's to row 0). Returns
    (w, cache).
    """
    # BEGIN SOLUTION
    g_ = g[:, None]
    w_g = g_ * w_content + (1 - g_) * w_prev
    shifted = np.stack([np.roll(w_g, offset, axis=1) for offset in OFFSETS], axis=1)  # (B, 3, N)
    w_s = np.einsum("bj,bjn->bn", s, shifted)
    # Dividing by the row's largest weight first changes nothing after the normalisation,
    # but keeps the largest power at 1: a large gamma can no longer underflow every entry.
    powered = (w_s / w_s.max(axis=1, keepdims=True)) ** gamma[:, None]
    w = powered / powered.sum(axis=1, keepdims=True)
    return w, (w_content, w_prev, g, s, gamma, shifted, w_s, w)
    # END SOLUTION


if MAIN:
    check(location_weights)


# %%
def location_weights_backward(
    dw: Float[np.ndarray, "batch rows"], cache: tuple
) -> tuple[
    Float[np.ndarray, "batch rows"],
    Float[np.ndarray, "batch rows"],
    Float[np.ndarray, " batch"],
    Float[np.ndarray, "batch 3"],
    Float[np.ndarray, " batch"],
]:
    """The gradients of (w, cache) = location_weights(w_content, w_prev, g, s, gamma)
    given dL/dw. Returns (dw_content, dw_prev, dg, ds, dgamma). The tests give weightings
    whose entries are all positive: d(x^gamma)/dgamma = x^gamma log x needs log x."""
    # BEGIN SOLUTION
    w_content, w_prev, g, s, gamma, shifted, w_s, w = cache
    # Sharpening is a softmax over z = gamma * log(w_s): w = exp(z) / sum(exp(z)).
    dz = w * (dw - (dw * w).sum(axis=1, keepdims=True))
    # Where w_s = 0, w = 0 and dz = 0: divide by (and take the log of) 1 there instead.
    safe = np.where(w_s > 0, w_s, 1)
    dw_s = dz * gamma[:, None] / safe
    dgamma = (dz * np.log(safe)).sum(axis=1)
    # The shift is linear in w_g and in s; rolling back by the offset undoes the roll.
    unshifted = np.stack([np.roll(dw_s, -offset, axis=1) for offset in OFFSETS], axis=1)
    dw_g = np.einsum("bj,bjn->bn", s, unshifted)
    ds = np.einsum("bn,bjn->bj", dw_s, shifted)
    g_ = g[:, None]
    dg = (dw_g * (w_content - w_prev)).sum(axis=1)
    return g_ * dw_g, (1 - g_) * dw_g, dg, ds, dgamma
    # END SOLUTION


if MAIN:
    check(location_weights_backward)


# %% [markdown]
# ## Reading and writing


# %%
def read_memory(
    memory: Float[np.ndarray, "batch rows width"], w: Float[np.ndarray, "batch rows"]
) -> tuple[Float[np.ndarray, "batch width"], tuple]:
    """The read vector r[b] = sum_i w[b, i] M[b, i] (r = w^T M per sequence). Returns (r, cache)."""
    # BEGIN SOLUTION
    return np.einsum("bn,bnw->bw", w, memory), (memory, w)
    # END SOLUTION


if MAIN:
    check(read_memory)


# %%
def read_memory_backward(
    dr: Float[np.ndarray, "batch width"], cache: tuple
) -> tuple[Float[np.ndarray, "batch rows width"], Float[np.ndarray, "batch rows"]]:
    """The gradients of (r, cache) = read_memory(memory, w) given dL/dr: (dmemory, dw)."""
    # BEGIN SOLUTION
    memory, w = cache
    return w[:, :, None] * dr[:, None, :], np.einsum("bnw,bw->bn", memory, dr)
    # END SOLUTION


if MAIN:
    check(read_memory_backward)


# %%
def write_memory(
    memory: Float[np.ndarray, "batch rows width"],
    w: Float[np.ndarray, "batch rows"],
    erase: Float[np.ndarray, "batch width"],
    add: Float[np.ndarray, "batch width"],
) -> tuple[Float[np.ndarray, "batch rows width"], tuple]:
    """One write: first erase, then add (per sequence b, row i, column c),

        M_new[i, c] = M[i, c] * (1 - w[i] * erase[c]) + w[i] * add[c]

    that is M_new = M o (1 - w e^T) + w a^T, with erase in [0, 1]. Returns a NEW memory
    (the given one is not changed) and a cache.
    """
    # BEGIN SOLUTION
    keep = 1 - w[:, :, None] * erase[:, None, :]
    return memory * keep + w[:, :, None] * add[:, None, :], (memory, w, erase, add, keep)
    # END SOLUTION


if MAIN:
    check(write_memory)


# %%
def write_memory_backward(
    dmemory_new: Float[np.ndarray, "batch rows width"], cache: tuple
) -> tuple[
    Float[np.ndarray, "batch rows width"],
    Float[np.ndarray, "batch rows"],
    Float[np.ndarray, "batch width"],
    Float[np.ndarray, "batch width"],
]:
    """The gradients of (M_new, cache) = write_memory(memory, w, erase, add) given dL/dM_new.
    Returns (dmemory, dw, derase, dadd)."""
    # BEGIN SOLUTION
    memory, w, erase, add, keep = cache
    dmemory = dmemory_new * keep
    # M_new[i, c] depends on w[i] through -M[i, c] e[c] + a[c].
    dw = np.einsum("bnw,bnw->bn", dmemory_new, add[:, None, :] - memory * erase[:, None, :])
    derase = -np.einsum("bnw,bnw,bn->bw", dmemory_new, memory, w)
    dadd = np.einsum("bnw,bn->bw", dmemory_new, w)
    return dmemory, dw, derase, dadd
    # END SOLUTION


if MAIN:
    check(write_memory_backward)


# %% [markdown]
# ## Given: a small NTM, and the copy task
#
# A feedforward controller reads the input x_t and the last read vector, h_t = tanh([x_t,
# r_{t-1}] W_h + b_h); one write head and then one read head take their parameters from
# h_t (key; beta = softplus; g = sigmoid; s = softmax over the three offsets; gamma = 1 +
# softplus; and for the write head erase = sigmoid and add = tanh); the output is
# y_t = [h_t, r_t] W_y + b_y, logits of the bits. Everything goes through YOUR functions.


# %%
def init_ntm(n_in: int, n_out: int, hidden: int, width: int, rng: np.random.Generator) -> Params:
    """Weights ~ N(0, 1 / fan_in), biases 0, float64. A head's raw parameters are the columns
    [key (W), beta, g, s (3), gamma] and, for the write head, [erase (W), add (W)] after them."""
    head = width + 6

    def dense(n, m):
        return rng.normal(0.0, 1.0 / math.sqrt(n), size=(n, m))

    return {
        "W_h": dense(n_in + width, hidden),
        "b_h": np.zeros(hidden),
        "W_write": dense(hidden, head + 2 * width),
        "b_write": np.zeros(head + 2 * width),
        "W_read": dense(hidden, head),
        "b_read": np.zeros(head),
        "W_y": dense(hidden + width, n_out),
        "b_y": np.zeros(n_out),
    }


# The grader type-checks every call of a function of this file, at about 0.1 ms a call, so
# the model below calls few of them per step: your six, and one for each head's parameters.
def _head(raw: np.ndarray, width: int) -> tuple:
    """(key, beta, g, s, gamma[, erase, add]) from a head's raw parameters (its columns in
    init_ntm's order): beta = softplus, g = sigmoid, s = softmax, gamma = 1 + softplus,
    erase = sigmoid, add = tanh; sigmoid(x) is written (1 + tanh(x / 2)) / 2."""
    key, beta = raw[:, :width], np.logaddexp(0.0, raw[:, width])
    g = 0.5 * (1.0 + np.tanh(0.5 * raw[:, width + 1]))
    s = np.exp(raw[:, width + 2 : width + 5] - raw[:, width + 2 : width + 5].max(axis=1, keepdims=True))
    s /= s.sum(axis=1, keepdims=True)
    gamma = 1.0 + np.logaddexp(0.0, raw[:, width + 5])
    if raw.shape[1] == width + 6:
        return key, beta, g, s, gamma
    erase = 0.5 * (1.0 + np.tanh(0.5 * raw[:, width + 6 : 2 * width + 6]))
    return key, beta, g, s, gamma, erase, np.tanh(raw[:, 2 * width + 6 :])


def _head_backward(dparts: tuple, parts: tuple, raw: np.ndarray) -> np.ndarray:
    """dL/d(raw) from the gradients of a head's parameters (key, beta, g, s, gamma[, erase,
    add]), given the parameters themselves and the raw columns they came from."""
    width = parts[0].shape[1]
    _, _, g, s, _ = parts[:5]
    dkey, dbeta, dg, ds, dgamma = dparts[:5]
    draw = np.empty_like(raw)
    draw[:, :width] = dkey
    draw[:, width] = dbeta * 0.5 * (1.0 + np.tanh(0.5 * raw[:, width]))  # softplus' = sigmoid
    draw[:, width + 1] = dg * g * (1 - g)
    draw[:, width + 2 : width + 5] = s * (ds - (ds * s).sum(axis=1, keepdims=True))
    draw[:, width + 5] = dgamma * 0.5 * (1.0 + np.tanh(0.5 * raw[:, width + 5]))
    if len(parts) == 7:
        erase, add = parts[5:]
        derase, dadd = dparts[5:]
        draw[:, width + 6 : 2 * width + 6] = derase * erase * (1 - erase)
        draw[:, 2 * width + 6 :] = dadd * (1 - add * add)
    return draw


def ntm_forward(params: Params, x: np.ndarray, rows: int) -> tuple[np.ndarray, tuple]:
    """Run the NTM over x (B, T, n_in) with a memory of `rows` rows, every entry 1e-6 at
    the start, both heads' weightings on row 0 and a zero read vector. At each step: the
    controller, the write head's addressing (on the memory before the write) and write,
    then the read head's addressing and read (on the memory after it), and the output.
    Returns the logits (B, T, n_out) and a cache for ntm_backward."""
    B, T, _ = x.shape
    width = params["W_y"].shape[0] - params["W_h"].shape[1]
    memory = np.full((B, rows, width), 1e-6)
    w_write = np.zeros((B, rows))
    w_write[:, 0] = 1.0
    w_read, r = w_write.copy(), np.zeros((B, width))
    logits, steps = np.empty((B, T, params["b_y"].shape[0])), []
    for t in range(T):
        inp = np.concatenate([x[:, t], r], axis=1)
        h = np.tanh(inp @ params["W_h"] + params["b_h"])
        raw_write = h @ params["W_write"] + params["b_write"]
        write = _head(raw_write, width)  # key, beta, g, s, gamma, erase, add
        w_c, write_content = content_weights(memory, write[0], write[1])
        w_write, write_location = location_weights(w_c, w_write, write[2], write[3], write[4])
        memory, write_cache = write_memory(memory, w_write, write[5], write[6])
        raw_read = h @ params["W_read"] + params["b_read"]
        read = _head(raw_read, width)  # key, beta, g, s, gamma
        w_c, read_content = content_weights(memory, read[0], read[1])
        w_read, read_location = location_weights(w_c, w_read, read[2], read[3], read[4])
        r, read_cache = read_memory(memory, w_read)
        out = np.concatenate([h, r], axis=1)
        logits[:, t] = out @ params["W_y"] + params["b_y"]
        steps.append(
            (inp, h, out, raw_write, write, write_content, write_location, write_cache)
            + (raw_read, read, read_content, read_location, read_cache)
        )
    return logits, (params, steps, memory.shape)


def ntm_backward(dlogits: np.ndarray, cache: tuple) -> Params:
    """Backpropagation through time for (logits, cache) = ntm_forward(...). What a step
    sends to the step before: the gradients of the memory, of both heads' weightings (the
    next step's w_prev) and of the read vector (the next step's controller input)."""
    params, steps, (B, rows, width) = cache
    grads = {k: np.zeros_like(v) for k, v in params.items()}
    dmemory, dw_write, dw_read = np.zeros((B, rows, width)), np.zeros((B, rows)), np.zeros((B, rows))
    dr_next = np.zeros((B, width))
    for t in reversed(range(len(steps))):
        inp, h, out, raw_write, write, write_content, write_location, write_cache = steps[t][:8]
        raw_read, read, read_content, read_location, read_cache = steps[t][8:]
        grads["W_y"] += out.T @ dlogits[:, t]
        grads["b_y"] += dlogits[:, t].sum(axis=0)
        dout = dlogits[:, t] @ params["W_y"].T
        dh, dr = dout[:, : h.shape[1]], dout[:, h.shape[1] :] + dr_next
        # The read head, on the memory after this step's write.
        dm, dw = read_memory_backward(dr, read_cache)
        dmemory = dmemory + dm
        dw_c, dw_read, dg, ds, dgamma = location_weights_backward(dw_read + dw, read_location)
        dm, dkey, dbeta = content_weights_backward(dw_c, read_content)
        dmemory = dmemory + dm
        draw = _head_backward((dkey, dbeta, dg, ds, dgamma), read, raw_read)
        grads["W_read"] += h.T @ draw
        grads["b_read"] += draw.sum(axis=0)
        dh = dh + draw @ params["W_read"].T
        # The write, then the write head, on the memory before it.
        dmemory, dw, derase, dadd = write_memory_backward(dmemory, write_cache)
        dw_c, dw_write, dg, ds, dgamma = location_weights_backward(dw_write + dw, write_location)
        dm, dkey, dbeta = content_weights_backward(dw_c, write_content)
        dmemory = dmemory + dm
        draw = _head_backward((dkey, dbeta, dg, ds, dgamma, derase, dadd), write, raw_write)
        grads["W_write"] += h.T @ draw
        grads["b_write"] += draw.sum(axis=0)
        dh = dh + draw @ params["W_write"].T
        # The controller.
        da = dh * (1 - h * h)
        grads["W_h"] += inp.T @ da
        grads["b_h"] += da.sum(axis=0)
        dr_next = (da @ params["W_h"].T)[:, -width:]
    return grads


def make_copy_batch(
    batch: int, length: int, bits: int, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The copy task: `length` random bit vectors (bits channels, rng.integers(0, 2)), then a
    delimiter (an extra channel), then `length` blank steps during which the model must
    output the vectors in order. Returns (x (B, 2L+1, bits+1), targets (B, 2L+1, bits),
    mask (2L+1,) True on the output steps)."""
    seq = rng.integers(0, 2, size=(batch, length, bits)).astype(np.float64)
    T = 2 * length + 1
    x = np.zeros((batch, T, bits + 1))
    x[:, :length, :bits] = seq
    x[:, length, bits] = 1.0
    targets = np.zeros((batch, T, bits))
    targets[:, length + 1 :] = seq
    mask = np.zeros(T, dtype=bool)
    mask[length + 1 :] = True
    return x, targets, mask


def copy_loss(logits: np.ndarray, targets: np.ndarray, mask: np.ndarray) -> tuple[float, np.ndarray]:
    """Mean binary cross-entropy (from logits, stable) over the output steps' bits, and its
    gradient with respect to the logits."""
    z, y = logits[:, mask], targets[:, mask]
    loss = float(np.mean(np.logaddexp(0.0, z) - y * z))
    dlogits = np.zeros_like(logits)
    dlogits[:, mask] = 0.5 * (1.0 + np.tanh(0.5 * z)) / z.size - y / z.size
    return loss, dlogits


def bit_error(logits: np.ndarray, targets: np.ndarray, mask: np.ndarray) -> float:
    """The fraction of output bits predicted wrong (a bit is 1 where its logit is > 0)."""
    return float(np.mean((logits[:, mask] > 0) != (targets[:, mask] > 0.5)))


def adam_step(
    params: Params, grads: Params, state: dict | None, lr: float, max_norm: float = 10.0
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


def train_copy(
    params: Params,
    steps: int,
    batch: int,
    length: int,
    bits: int,
    rows: int,
    lr: float,
    rng: np.random.Generator,
) -> tuple[Params, list[float]]:
    """Train on fresh copy batches (make_copy_batch with rng): ntm_forward, copy_loss,
    ntm_backward, adam_step. Returns (params, losses)."""
    state, losses = None, []
    for _ in range(steps):
        x, targets, mask = make_copy_batch(batch, length, bits, rng)
        logits, cache = ntm_forward(params, x, rows)
        loss, dlogits = copy_loss(logits, targets, mask)
        params, state = adam_step(params, ntm_backward(dlogits, cache), state, lr)
        losses.append(loss)
    return params, losses


# %% [markdown]
# ## Learn to copy


# %%
if MAIN:
    # Sequences of 5 vectors of 4 bits, a memory of 12 rows of 8, a controller of 32 units.
    start = time.perf_counter()
    params = init_ntm(5, 4, 32, 8, np.random.default_rng(0))
    params, losses = train_copy(params, 1000, 32, 5, 4, 12, 1e-2, np.random.default_rng(1))
    x, targets, mask = make_copy_batch(1000, 5, 4, np.random.default_rng(2))
    logits, _ = ntm_forward(params, x, 12)
    seconds, error = time.perf_counter() - start, bit_error(logits, targets, mask)
    print(f"trained in {seconds:.1f} s: loss {losses[0]:.3f} -> {np.mean(losses[-20:]):.4f}")
    print(f"bit error on 1,000 new sequences of length 5: {error:.2%} (chance 50%)")
