# %% [markdown]
# # Chapter 4, part 1: the recurrent network and backpropagation through time
#
# Reading: chapters/chapter4_rnns/part1_rnn.md
#
# Fill in each function, then run the cell below it: `check(fn)` runs that exercise's
# tests here and prints a verdict. `python -m grader chapter4/part1` grades the file.
#
# Conventions: batch first, x (N, T, D), hidden states hs (N, T, H), with
# h_t = tanh(x_t @ Wx + h_{t-1} @ Wh + b), Wx (D, H), Wh (H, H), b (H,). A forward function
# returns its output and a cache (whatever its backward needs; the tests never look
# inside); a backward function takes the upstream gradient first and the cache last, and
# returns the gradients in the order of the forward's arguments. Every function accepts
# float64 or float32 and returns arrays of the dtype it was given (unless its docstring
# says otherwise). No function changes
# its inputs. The tests compare float64 results to 1e-6 relative (gradients against
# central differences) and float32 results to 1e-4.

# %%
import numpy as np
from jaxtyping import Float

from grader.check import check

MAIN = __name__ == "__main__"


# %% [markdown]
# ## One step


# %%
def rnn_cell_forward(
    x: Float[np.ndarray, "batch d_in"],
    h_prev: Float[np.ndarray, "batch hidden"],
    Wx: Float[np.ndarray, "d_in hidden"],
    Wh: Float[np.ndarray, "hidden hidden"],
    b: Float[np.ndarray, " hidden"],
) -> tuple[Float[np.ndarray, "batch hidden"], tuple]:
    """One step of a vanilla (Elman) RNN: h = tanh(x @ Wx + h_prev @ Wh + b).

    Returns (h, cache).
    """
    # BEGIN SOLUTION
    h = np.tanh(x @ Wx + h_prev @ Wh + b)
    return h, (x, h_prev, Wx, Wh, h)
    # END SOLUTION


if MAIN:
    check(rnn_cell_forward)


# %%
def rnn_cell_backward(
    dh: Float[np.ndarray, "batch hidden"],
    cache: tuple,
) -> tuple[
    Float[np.ndarray, "batch d_in"],
    Float[np.ndarray, "batch hidden"],
    Float[np.ndarray, "d_in hidden"],
    Float[np.ndarray, "hidden hidden"],
    Float[np.ndarray, " hidden"],
]:
    """The gradients of one step, from (h, cache) = rnn_cell_forward(...), given dL/dh.

    Returns (dx, dh_prev, dWx, dWh, db).
    """
    # BEGIN SOLUTION
    x, h_prev, Wx, Wh, h = cache
    da = dh * (1 - h**2)  # tanh'(a) = 1 - tanh(a)^2, from the output we kept
    return da @ Wx.T, da @ Wh.T, x.T @ da, h_prev.T @ da, da.sum(axis=0)
    # END SOLUTION


if MAIN:
    check(rnn_cell_backward)


# %% [markdown]
# ## A whole sequence


# %%
def rnn_forward(
    x: Float[np.ndarray, "batch time d_in"],
    h0: Float[np.ndarray, "batch hidden"],
    Wx: Float[np.ndarray, "d_in hidden"],
    Wh: Float[np.ndarray, "hidden hidden"],
    b: Float[np.ndarray, " hidden"],
) -> tuple[Float[np.ndarray, "batch time hidden"], tuple]:
    """Run the RNN over the time axis from h0: hs[:, t] = tanh(x[:, t] @ Wx + h_{t-1} @ Wh + b)
    with h_{-1} = h0.

    Returns (hs, cache).
    """
    # BEGIN SOLUTION
    N, T, _ = x.shape
    xa = x @ Wx + b  # (N, T, H): the input's share of every step, in one product
    hs = np.empty(xa.shape, dtype=np.result_type(xa, h0, Wh))
    h = h0
    for t in range(T):
        h = np.tanh(xa[:, t] + h @ Wh)
        hs[:, t] = h
    return hs, (x, h0, Wx, Wh, hs)
    # END SOLUTION


if MAIN:
    check(rnn_forward)


# %%
def rnn_backward(
    dhs: Float[np.ndarray, "batch time hidden"],
    cache: tuple,
) -> tuple[
    Float[np.ndarray, "batch time d_in"],
    Float[np.ndarray, "batch hidden"],
    Float[np.ndarray, "d_in hidden"],
    Float[np.ndarray, "hidden hidden"],
    Float[np.ndarray, " hidden"],
]:
    """Backpropagation through time over the whole sequence, for (hs, cache) = rnn_forward(...).

    dhs: dL/dhs, an upstream gradient on every step's hidden state.

    Returns (dx, dh0, dWx, dWh, db). Each h_t reaches the loss directly (dhs[:, t]) and
    through h_{t+1}; Wx, Wh and b are used by every step, so their gradients are sums
    over the steps.
    """
    # BEGIN SOLUTION
    x, h0, Wx, Wh, hs = cache
    N, T, H = hs.shape
    das = np.empty_like(hs)  # dL/da_t for every step, a_t the pre-activation
    dh = np.zeros_like(h0, dtype=hs.dtype)
    for t in reversed(range(T)):
        dh = dh + dhs[:, t]  # the step's own loss plus what came back from step t + 1
        das[:, t] = dh * (1 - hs[:, t] ** 2)
        dh = das[:, t] @ Wh.T
    h_prev = np.concatenate([h0[:, None], hs[:, :-1]], axis=1)  # h_{t-1} of every step
    dWx = np.einsum("ntd,nth->dh", x, das)
    dWh = np.einsum("ntk,nth->kh", h_prev, das)
    return das @ Wx.T, dh, dWx, dWh, das.sum(axis=(0, 1))
    # END SOLUTION


if MAIN:
    check(rnn_backward)


# %% [markdown]
# ## Truncated backpropagation through time


# %%
def truncated_bptt(
    x: Float[np.ndarray, "batch time d_in"],
    h0: Float[np.ndarray, "batch hidden"],
    Wx: Float[np.ndarray, "d_in hidden"],
    Wh: Float[np.ndarray, "hidden hidden"],
    b: Float[np.ndarray, " hidden"],
    dhs: Float[np.ndarray, "batch time hidden"],
    window: int,
) -> tuple[
    Float[np.ndarray, "d_in hidden"],
    Float[np.ndarray, "hidden hidden"],
    Float[np.ndarray, " hidden"],
    Float[np.ndarray, "batch hidden"],
]:
    """Truncated BPTT with the same weights throughout: cut the sequence into windows
    x[:, 0:window], x[:, window:2 * window], ... (the last one may be shorter); run each
    window with rnn_forward from the hidden state the previous window ended in (h0 for
    the first), and backpropagate within the window only, with rnn_backward and the
    window's slice of dhs (the gradient reaching the window's initial state is dropped:
    the carried state is a value, not a path back into earlier windows).

    Returns (dWx, dWh, db, h_T): the weights' gradients summed over the windows, and the
    hidden state after the last step. window >= T gives full BPTT.
    """
    # BEGIN SOLUTION
    T = x.shape[1]
    dWx, dWh, db = np.zeros_like(Wx), np.zeros_like(Wh), np.zeros_like(b)
    h = h0
    for start in range(0, T, window):
        stop = min(start + window, T)
        hs, cache = rnn_forward(x[:, start:stop], h, Wx, Wh, b)
        _, _, gWx, gWh, gb = rnn_backward(dhs[:, start:stop], cache)  # dh0 dropped
        dWx, dWh, db = dWx + gWx, dWh + gWh, db + gb
        h = hs[:, -1]  # carried to the next window by value
    return dWx, dWh, db, h.copy()
    # END SOLUTION


if MAIN:
    check(truncated_bptt)


# %% [markdown]
# ## Exploding and vanishing gradients


# %%
def hidden_grad_norms(
    hs: Float[np.ndarray, "batch time hidden"],
    Wh: Float[np.ndarray, "hidden hidden"],
    dh_last: Float[np.ndarray, "batch hidden"],
) -> Float[np.ndarray, " time"]:
    """How the gradient of a loss on the LAST hidden state reaches the earlier ones.

    hs: the hidden states of rnn_forward (h_t = tanh(a_t)); Wh its recurrent weights.
    dh_last: dL/dh_{T-1} for a loss L that depends on the last state only.

    Returns norms (float64, shape (T,)) with norms[t] = ||dL/dh_t||, the Frobenius norm
    over the whole (batch, hidden) array, so norms[T-1] = ||dh_last||; going back one
    step multiplies by the step's Jacobian: dL/dh_{t-1} = (dL/dh_t * (1 - h_t^2)) @ Wh.T.
    """
    # BEGIN SOLUTION
    T = hs.shape[1]
    norms = np.empty(T)
    dh = dh_last
    for t in reversed(range(T)):
        norms[t] = np.sqrt(np.sum(dh.astype(np.float64) ** 2))
        dh = (dh * (1 - hs[:, t] ** 2)) @ Wh.T
    return norms
    # END SOLUTION


if MAIN:
    check(hidden_grad_norms)


# %%
def clip_by_global_norm(grads: list[np.ndarray], max_norm: float) -> tuple[list[np.ndarray], float]:
    """Scale every gradient by the same factor so that their global norm is at most max_norm.

    The global norm is sqrt(sum of the squares of every entry of every array). If it is
    larger than max_norm, every array is multiplied by max_norm / global_norm; otherwise
    they are returned unchanged (as new arrays), all-zero gradients included (without a
    division by zero). Returns (clipped, global_norm), clipped a list of new arrays in the
    same order, global_norm a float (the norm before clipping).
    """
    # BEGIN SOLUTION
    total = float(np.sqrt(sum(np.sum(np.square(g, dtype=np.float64)) for g in grads)))
    scale = max_norm / total if total > max_norm else 1.0
    return [g * scale for g in grads], total  # a Python float keeps float32 as float32
    # END SOLUTION


if MAIN:
    check(clip_by_global_norm)
