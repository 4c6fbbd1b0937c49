# %% [markdown]
# # Chapter 4, part 2: the LSTM
#
# Reading: chapters/chapter4_rnns/part2_lstm.md
#
# Fill in each function, then run the cell below it: `check(fn)` runs that exercise's
# tests here and prints a verdict. `python -m grader chapter4/part2` grades the file.
#
# Conventions: batch first, x (N, T, D), hidden states hs (N, T, H). The four gates are
# fused into one weight matrix in PyTorch's order (i, f, g, o): Wx (D, 4H), Wh (H, 4H),
# b (4H,), columns [0, H) for the input gate i, [H, 2H) the forget gate f, [2H, 3H) the
# candidate g, [3H, 4H) the output gate o. Every function accepts float64 or float32 and
# returns arrays of the dtype it was given. No function changes its inputs. The tests
# compare float64 results to 1e-6 relative (gradients against central differences) and
# float32 results to 1e-4.

# %%
import numpy as np
from jaxtyping import Float

from grader.check import check

MAIN = __name__ == "__main__"


# %%
def sigmoid(x: np.ndarray) -> np.ndarray:
    """The logistic function 1 / (1 + e^-x), written as (1 + tanh(x / 2)) / 2: the same
    function, but it never overflows and it keeps float32 as float32. (Given.)"""
    return 0.5 * (1.0 + np.tanh(0.5 * x))


# %% [markdown]
# ## One LSTM step


# %%
def lstm_cell_forward(
    x: Float[np.ndarray, "batch d_in"],
    h_prev: Float[np.ndarray, "batch hidden"],
    c_prev: Float[np.ndarray, "batch hidden"],
    Wx: Float[np.ndarray, "d_in four_hidden"],
    Wh: Float[np.ndarray, "hidden four_hidden"],
    b: Float[np.ndarray, " four_hidden"],
) -> tuple[Float[np.ndarray, "batch hidden"], Float[np.ndarray, "batch hidden"], tuple]:
    """One LSTM step, gates fused in the order (i, f, g, o):

        a = x @ Wx + h_prev @ Wh + b                       (batch, 4H)
        i = sigmoid(a[:, :H])      f = sigmoid(a[:, H:2H])
        g = tanh(a[:, 2H:3H])      o = sigmoid(a[:, 3H:])
        c = f * c_prev + i * g
        h = o * tanh(c)

    Returns (h, c, cache): the new hidden and cell states, and whatever
    lstm_cell_backward needs (the tests never look inside the cache).
    """
    # BEGIN SOLUTION
    H = h_prev.shape[1]
    a = x @ Wx + h_prev @ Wh + b
    i = sigmoid(a[:, :H])
    f = sigmoid(a[:, H : 2 * H])
    g = np.tanh(a[:, 2 * H : 3 * H])
    o = sigmoid(a[:, 3 * H :])
    c = f * c_prev + i * g
    tanh_c = np.tanh(c)  # squashed once, here, for h; c itself is never squashed
    h = o * tanh_c
    return h, c, (x, h_prev, c_prev, Wx, Wh, i, f, g, o, tanh_c)
    # END SOLUTION


if MAIN:
    check(lstm_cell_forward)


# %%
def lstm_cell_backward(
    dh: Float[np.ndarray, "batch hidden"],
    dc: Float[np.ndarray, "batch hidden"],
    cache: tuple,
) -> tuple[
    Float[np.ndarray, "batch d_in"],
    Float[np.ndarray, "batch hidden"],
    Float[np.ndarray, "batch hidden"],
    Float[np.ndarray, "d_in four_hidden"],
    Float[np.ndarray, "hidden four_hidden"],
    Float[np.ndarray, " four_hidden"],
]:
    """The gradients of one step, from (h, c, cache) = lstm_cell_forward(...).

    dh, dc: dL/dh and dL/dc of the step's two outputs (dc is what flows back along the
        cell state from later steps; it is added to the part of dL/dc that comes from h).

    Returns (dx, dh_prev, dc_prev, dWx, dWh, db), the gradients of the forward's inputs
    in the forward's order.
    """
    # BEGIN SOLUTION
    x, h_prev, c_prev, Wx, Wh, i, f, g, o, tanh_c = cache
    dc = dc + dh * o * (1 - tanh_c**2)  # c reaches L directly and through h = o tanh(c)
    da = np.concatenate(
        [
            dc * g * i * (1 - i),  # through i
            dc * c_prev * f * (1 - f),  # through f
            dc * i * (1 - g**2),  # through g
            dh * tanh_c * o * (1 - o),  # through o
        ],
        axis=1,
    )
    return da @ Wx.T, da @ Wh.T, dc * f, x.T @ da, h_prev.T @ da, da.sum(axis=0)
    # END SOLUTION


if MAIN:
    check(lstm_cell_backward)


# %% [markdown]
# ## Initialisation and the forget-gate bias


# %%
def init_lstm(
    d_in: int, hidden: int, rng: np.random.Generator, forget_bias: float = 1.0
) -> tuple[
    Float[np.ndarray, "d_in four_hidden"],
    Float[np.ndarray, "hidden four_hidden"],
    Float[np.ndarray, " four_hidden"],
]:
    """(Wx, Wh, b) for an LSTM layer, float64, gates in the order (i, f, g, o).

    Every entry of Wx and Wh is drawn from U(-k, k) with k = 1 / sqrt(hidden) (PyTorch's
    initialisation), Wx first, then Wh, with rng.uniform(-k, k, size=...). The bias is
    zero except its forget-gate block b[hidden:2 * hidden], which is forget_bias, so that
    a new network starts by remembering its cell state (f = sigmoid(1) = 0.73).
    """
    # BEGIN SOLUTION
    k = 1.0 / np.sqrt(hidden)
    Wx = rng.uniform(-k, k, size=(d_in, 4 * hidden))
    Wh = rng.uniform(-k, k, size=(hidden, 4 * hidden))
    b = np.zeros(4 * hidden)
    b[hidden : 2 * hidden] = forget_bias
    return Wx, Wh, b
    # END SOLUTION


if MAIN:
    check(init_lstm)


# %% [markdown]
# ## A whole sequence


# %%
def lstm_forward(
    x: Float[np.ndarray, "batch time d_in"],
    h0: Float[np.ndarray, "batch hidden"],
    c0: Float[np.ndarray, "batch hidden"],
    Wx: Float[np.ndarray, "d_in four_hidden"],
    Wh: Float[np.ndarray, "hidden four_hidden"],
    b: Float[np.ndarray, " four_hidden"],
) -> tuple[
    Float[np.ndarray, "batch time hidden"],
    tuple[Float[np.ndarray, "batch hidden"], Float[np.ndarray, "batch hidden"]],
    tuple,
]:
    """Run the LSTM cell over the time axis, from the states (h0, c0).

    Returns (hs, (h_T, c_T), cache): hs[:, t] is the hidden state after reading
    x[:, 0], ..., x[:, t]; h_T and c_T are the states after the last step (h_T equals
    hs[:, -1]); cache is whatever lstm_backward needs.

    Speed (not tested): the input projection x @ Wx + b of all time steps is one matrix
    product before the loop; only h @ Wh has to wait for the previous step.
    """
    # BEGIN SOLUTION
    N, T, D = x.shape
    H = h0.shape[1]
    dtype = np.result_type(x, h0, c0, Wx, Wh, b)
    # sigmoid(a) = (1 + tanh(a / 2)) / 2, so ONE tanh over all 4H columns computes every
    # gate if the sigmoid gates' pre-activations are halved first (exact: a power of 2)
    # and their outputs mapped by t -> t / 2 + 1 / 2 afterwards.
    half = np.full(4 * H, 0.5, dtype=dtype)
    half[2 * H : 3 * H] = 1.0
    shift = np.full(4 * H, 0.5, dtype=dtype)
    shift[2 * H : 3 * H] = 0.0
    # What the backward pass needs, time-major so that each step is one contiguous block:
    # row t holds step t's gates, c_t, tanh(c_t) and h_t; row 0 holds (h0, c0), so that
    # step t always finds its previous states in row t - 1 (row 0's gates go unused).
    # The four arrays are cut from ONE allocation: glibc keeps freed memory for the next
    # call only up to about twice the largest block freed so far and hands the rest back
    # to the OS, so four separate arrays made every call pay ~1,700 page faults (3-4 ms).
    record = np.empty((T + 1) * N * 7 * H, dtype=dtype)
    gates = record[: (T + 1) * N * 4 * H].reshape(T + 1, N, 4 * H)
    cs, tanh_cs, hs = record[(T + 1) * N * 4 * H :].reshape(3, T + 1, N, H)
    hs[0], cs[0] = h0, c0
    # The part of every pre-activation that does not depend on h is one product for all
    # steps; step t then overwrites its block with its gates.
    x_tm = x.transpose(1, 0, 2).reshape(T * N, D)
    x_part = gates[1:].reshape(T * N, 4 * H)  # a view: rows 1 .. T of gates
    np.matmul(x_tm, Wx * half, out=x_part)
    x_part += b * half
    # h @ Wh as four (N, H) @ (H, H) products, one per gate, each written into its gate's
    # columns of a: the same arithmetic as one (N, H) @ (H, 4H) product, which this BLAS
    # (OpenBLAS, AVX-512 kernels) runs a third slower at these sizes (29 against 19 us).
    Wh_gates = np.ascontiguousarray((Wh * half).reshape(H, 4, H).transpose(1, 0, 2))
    a = np.empty((N, 4 * H), dtype=dtype)  # scratch, reused by every step
    a_gates = a.reshape(N, 4, H).transpose(1, 0, 2)  # a seen as (4, N, H): no copy
    ig = np.empty((N, H), dtype=dtype)
    # half and shift repeated for every row: NumPy's loops run twice as fast on two arrays
    # of one shape as when they broadcast a row over a block this small.
    half_rows, shift_rows = np.tile(half, (N, 1)), np.tile(shift, (N, 1))
    for t in range(1, T + 1):
        gate = gates[t]
        np.matmul(hs[t - 1], Wh_gates, out=a_gates)
        a += gate
        np.tanh(a, out=gate)
        gate *= half_rows  # now i, f, g, o
        gate += shift_rows
        i, f, g, o = gate[:, :H], gate[:, H : 2 * H], gate[:, 2 * H : 3 * H], gate[:, 3 * H :]
        c = cs[t]
        np.multiply(f, cs[t - 1], out=c)
        np.multiply(i, g, out=ig)
        c += ig  # c = f * c_prev + i * g, never squashed
        np.tanh(c, out=tanh_cs[t])
        np.multiply(o, tanh_cs[t], out=hs[t])
    cache = (x_tm, Wx, Wh, gates, cs, tanh_cs, hs)
    # hs in the batch-first layout is a view of the cache's time-major array: no copy.
    return hs[1:].transpose(1, 0, 2), (hs[T].copy(), cs[T].copy()), cache
    # END SOLUTION


if MAIN:
    check(lstm_forward)


# %%
def lstm_backward(
    dhs: Float[np.ndarray, "batch time hidden"],
    cache: tuple,
    dh_T: Float[np.ndarray, "batch hidden"] | None = None,
    dc_T: Float[np.ndarray, "batch hidden"] | None = None,
) -> tuple[
    Float[np.ndarray, "batch time d_in"],
    Float[np.ndarray, "batch hidden"],
    Float[np.ndarray, "batch hidden"],
    Float[np.ndarray, "d_in four_hidden"],
    Float[np.ndarray, "hidden four_hidden"],
    Float[np.ndarray, " four_hidden"],
]:
    """Backpropagation through time for (hs, (h_T, c_T), cache) = lstm_forward(...).

    dhs: dL/dhs, an upstream gradient on every step's hidden state.
    dh_T, dc_T: dL/dh_T and dL/dc_T for a loss that also uses the final states (None
        means zero); dh_T is added to dhs[:, -1], since h_T is hs[:, -1].

    Returns (dx, dh0, dc0, dWx, dWh, db). The weights are shared by every step, so
    their gradients are sums over the steps.
    """
    # BEGIN SOLUTION
    x_tm, Wx, Wh, gates, cs, tanh_cs, hs = cache  # time-major, row t = step t (see lstm_forward)
    gates, tanh_cs = gates[1:], tanh_cs[1:]  # now index t - 1 is step t, as in dhs
    T, N, H = tanh_cs.shape
    dtype = gates.dtype
    # What does not depend on the carried gradients is computed for all steps at once:
    # each gate's local derivative (sigmoid' = s(1 - s), tanh' = 1 - g^2) ...
    da_all = 1 - gates
    da_all *= gates
    g_all, d_g = gates[..., 2 * H : 3 * H], da_all[..., 2 * H : 3 * H]
    np.multiply(g_all, g_all, out=d_g)
    np.subtract(1, d_g, out=d_g)
    # ... and dc_t / dh_t through h_t = o * tanh(c_t), which is o * (1 - tanh(c_t)^2).
    dc_dh = tanh_cs * tanh_cs
    np.subtract(1, dc_dh, out=dc_dh)
    dc_dh *= gates[..., 3 * H :]
    dhs = dhs.astype(dtype, copy=False)
    # dh_{t-1} = da @ Wh.T as in lstm_forward: one (N, H) @ (H, H) product per gate, then
    # their sum (block k of Wh.T's rows is gate k's); contiguous, which this BLAS prefers.
    Wh_T_gates = np.ascontiguousarray(Wh.T).reshape(4, H, H)
    per_gate = np.empty((4, N, H), dtype=dtype)
    dh = np.zeros((N, H), dtype=dtype) if dh_T is None else dh_T.astype(dtype)
    dc = np.zeros((N, H), dtype=dtype) if dc_T is None else dc_T.astype(dtype)
    dgate = np.empty((N, 4 * H), dtype=dtype)  # scratch: dL/d(gate output) of one step
    tmp = np.empty((N, H), dtype=dtype)
    for t in reversed(range(T)):
        dh += dhs[:, t]  # from the loss at step t (dh already holds what step t + 1 sent)
        gate = gates[t]
        np.multiply(dh, dc_dh[t], out=tmp)
        dc += tmp  # c_t reaches L along the cell state and through h_t
        np.multiply(dc, gate[:, 2 * H : 3 * H], out=dgate[:, :H])  # dL/di = dc * g
        np.multiply(dc, cs[t], out=dgate[:, H : 2 * H])  # dL/df = dc * c_prev (row t of cs)
        np.multiply(dc, gate[:, :H], out=dgate[:, 2 * H : 3 * H])  # dL/dg = dc * i
        np.multiply(dh, tanh_cs[t], out=dgate[:, 3 * H :])  # dL/do = dh * tanh(c)
        da = da_all[t]
        da *= dgate  # dL/da: the step's derivatives are replaced by its gradient
        np.matmul(da.reshape(N, 4, H).transpose(1, 0, 2), Wh_T_gates, out=per_gate)
        per_gate.sum(axis=0, out=dh)
        dc *= gate[:, H : 2 * H]  # dL/dc_{t-1} = dL/dc_t * f
    # The weights' gradients, summed over all steps: one product each, after the loop.
    # Rows 0 .. T - 1 of hs are h_0 .. h_{T-1}, the h that multiplied Wh at each step.
    flat_da = da_all.reshape(T * N, 4 * H)
    dWx = x_tm.T @ flat_da
    dWh = hs[:-1].reshape(T * N, H).T @ flat_da
    dx = (flat_da @ np.ascontiguousarray(Wx.T)).reshape(T, N, x_tm.shape[1]).transpose(1, 0, 2)
    return dx, dh, dc, dWx, dWh, flat_da.sum(axis=0)
    # END SOLUTION


if MAIN:
    check(lstm_backward)


# %% [markdown]
# ## A bidirectional LSTM


# %%
def bilstm_forward(
    x: Float[np.ndarray, "batch time d_in"],
    Wx_f: Float[np.ndarray, "d_in four_hidden"],
    Wh_f: Float[np.ndarray, "hidden four_hidden"],
    b_f: Float[np.ndarray, " four_hidden"],
    Wx_b: Float[np.ndarray, "d_in four_hidden"],
    Wh_b: Float[np.ndarray, "hidden four_hidden"],
    b_b: Float[np.ndarray, " four_hidden"],
) -> tuple[Float[np.ndarray, "batch time two_hidden"], tuple]:
    """A bidirectional LSTM layer, both directions starting from zero states.

    The forward direction (Wx_f, Wh_f, b_f) reads x[:, 0], x[:, 1], ...; the backward
    direction (Wx_b, Wh_b, b_b) is an LSTM run on the time-reversed input, whose outputs
    are reversed back so that position t holds the state after reading x[:, T-1], ...,
    x[:, t]. Returns (hs, cache) with hs = concatenate([forward hs, backward hs], axis=-1)
    of shape (N, T, 2H) (PyTorch's layout). Use your lstm_forward.
    """
    # BEGIN SOLUTION
    N, H = x.shape[0], Wh_f.shape[0]
    zeros = np.zeros((N, H), dtype=x.dtype)
    hs_f, _, cache_f = lstm_forward(x, zeros, zeros, Wx_f, Wh_f, b_f)
    hs_r, _, cache_b = lstm_forward(x[:, ::-1], zeros, zeros, Wx_b, Wh_b, b_b)
    hs = np.concatenate([hs_f, hs_r[:, ::-1]], axis=-1)
    return hs, (cache_f, cache_b, H)
    # END SOLUTION


if MAIN:
    check(bilstm_forward)


# %%
def bilstm_backward(
    dhs: Float[np.ndarray, "batch time two_hidden"],
    cache: tuple,
) -> tuple[
    Float[np.ndarray, "batch time d_in"],
    Float[np.ndarray, "d_in four_hidden"],
    Float[np.ndarray, "hidden four_hidden"],
    Float[np.ndarray, " four_hidden"],
    Float[np.ndarray, "d_in four_hidden"],
    Float[np.ndarray, "hidden four_hidden"],
    Float[np.ndarray, " four_hidden"],
]:
    """The gradients of (hs, cache) = bilstm_forward(x, ...) given dL/dhs.

    Returns (dx, dWx_f, dWh_f, db_f, dWx_b, dWh_b, db_b). Use your lstm_backward.
    """
    # BEGIN SOLUTION
    cache_f, cache_b, H = cache
    dx_f, _, _, dWx_f, dWh_f, db_f = lstm_backward(dhs[..., :H], cache_f)
    # The backward direction saw x reversed and produced its outputs reversed: undo both.
    dx_r, _, _, dWx_b, dWh_b, db_b = lstm_backward(dhs[:, ::-1, H:], cache_b)
    return dx_f + dx_r[:, ::-1], dWx_f, dWh_f, db_f, dWx_b, dWh_b, db_b
    # END SOLUTION


if MAIN:
    check(bilstm_backward)
