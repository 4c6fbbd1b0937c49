# %% [markdown]
# # Chapter 4, part 3: the GRU
#
# Reading: chapters/chapter4_rnns/part3_gru.md
#
# Fill in each function, then run the cell below it: `check(fn)` runs that exercise's
# tests here and prints a verdict. `python -m grader chapter4/part3` grades the file.
#
# Conventions: PyTorch's GRU. Batch first, x (N, T, D), hidden states hs (N, T, H). The
# three gates are fused in the order (r, z, n): Wx (D, 3H), Wh (H, 3H), and two biases bx
# (3H,) and bh (3H,), since the reset gate multiplies (h @ W_hn + b_hn) as a whole:
#
#     r = sigmoid(x @ W_xr + b_xr + h @ W_hr + b_hr)
#     z = sigmoid(x @ W_xz + b_xz + h @ W_hz + b_hz)
#     n = tanh(x @ W_xn + b_xn + r * (h @ W_hn + b_hn))
#     h' = (1 - z) * n + z * h
#
# Every function accepts float64 or float32 and returns arrays of the dtype it was given.
# No function changes its inputs. The tests compare float64 results to 1e-6 relative
# (gradients against central differences) and float32 results to 1e-4.

# %%
import numpy as np
from jaxtyping import Float

from grader.check import check

MAIN = __name__ == "__main__"


# %%
def sigmoid(x: np.ndarray) -> np.ndarray:
    """The logistic function, as (1 + tanh(x / 2)) / 2: it never overflows and keeps
    float32 as float32. (Given.)"""
    return 0.5 * (1.0 + np.tanh(0.5 * x))


# %% [markdown]
# ## One GRU step


# %%
def gru_cell_forward(
    x: Float[np.ndarray, "batch d_in"],
    h_prev: Float[np.ndarray, "batch hidden"],
    Wx: Float[np.ndarray, "d_in three_hidden"],
    Wh: Float[np.ndarray, "hidden three_hidden"],
    bx: Float[np.ndarray, " three_hidden"],
    bh: Float[np.ndarray, " three_hidden"],
) -> tuple[Float[np.ndarray, "batch hidden"], tuple]:
    """One GRU step in PyTorch's convention (see the top of the file), gates (r, z, n).

    Returns (h, cache).
    """
    # BEGIN SOLUTION
    H = h_prev.shape[1]
    ax = x @ Wx + bx  # (N, 3H): the input's share of r, z and n
    ah = h_prev @ Wh + bh  # (N, 3H): the state's share; its n block is gated by r
    r = sigmoid(ax[:, :H] + ah[:, :H])
    z = sigmoid(ax[:, H : 2 * H] + ah[:, H : 2 * H])
    n = np.tanh(ax[:, 2 * H :] + r * ah[:, 2 * H :])
    h = (1 - z) * n + z * h_prev
    return h, (x, h_prev, Wx, Wh, r, z, n, ah)
    # END SOLUTION


if MAIN:
    check(gru_cell_forward)


# %%
def gru_cell_backward(
    dh: Float[np.ndarray, "batch hidden"],
    cache: tuple,
) -> tuple[
    Float[np.ndarray, "batch d_in"],
    Float[np.ndarray, "batch hidden"],
    Float[np.ndarray, "d_in three_hidden"],
    Float[np.ndarray, "hidden three_hidden"],
    Float[np.ndarray, " three_hidden"],
    Float[np.ndarray, " three_hidden"],
]:
    """The gradients of one step, from (h, cache) = gru_cell_forward(...), given dL/dh.

    Returns (dx, dh_prev, dWx, dWh, dbx, dbh).
    """
    # BEGIN SOLUTION
    x, h_prev, Wx, Wh, r, z, n, ah = cache
    hn = ah[:, 2 * r.shape[1] :]  # h_prev @ W_hn + b_hn, which r multiplied
    dn = dh * (1 - z)
    dz = dh * (h_prev - n)
    dan = dn * (1 - n**2)  # through n's tanh
    dar = dan * hn * r * (1 - r)  # r multiplies hn = h_prev @ W_hn + b_hn
    daz = dz * z * (1 - z)
    dax = np.concatenate([dar, daz, dan], axis=1)
    dah = np.concatenate([dar, daz, dan * r], axis=1)
    dh_prev = dh * z + dah @ Wh.T  # directly through z * h, and through the three gates
    return dax @ Wx.T, dh_prev, x.T @ dax, h_prev.T @ dah, dax.sum(axis=0), dah.sum(axis=0)
    # END SOLUTION


if MAIN:
    check(gru_cell_backward)


# %% [markdown]
# ## A whole sequence


# %%
def gru_forward(
    x: Float[np.ndarray, "batch time d_in"],
    h0: Float[np.ndarray, "batch hidden"],
    Wx: Float[np.ndarray, "d_in three_hidden"],
    Wh: Float[np.ndarray, "hidden three_hidden"],
    bx: Float[np.ndarray, " three_hidden"],
    bh: Float[np.ndarray, " three_hidden"],
) -> tuple[Float[np.ndarray, "batch time hidden"], tuple]:
    """Run the GRU cell over the time axis from h0. Returns (hs, cache), hs[:, t] the state
    after reading x[:, 0], ..., x[:, t].
    """
    # BEGIN SOLUTION
    N, T, _ = x.shape
    H = h0.shape[1]
    ax_all = x @ Wx + bx  # (N, T, 3H): every step's input projection in one product
    hs = np.empty((N, T, H), dtype=np.result_type(ax_all, h0, Wh, bh))
    steps = []  # (r, z, n, h @ Wh + bh) of every step
    h = h0
    for t in range(T):
        ax = ax_all[:, t]
        ah = h @ Wh + bh
        r = sigmoid(ax[:, :H] + ah[:, :H])
        z = sigmoid(ax[:, H : 2 * H] + ah[:, H : 2 * H])
        n = np.tanh(ax[:, 2 * H :] + r * ah[:, 2 * H :])
        h = (1 - z) * n + z * h
        hs[:, t] = h
        steps.append((r, z, n, ah))
    return hs, (x, h0, Wx, Wh, hs, steps)
    # END SOLUTION


if MAIN:
    check(gru_forward)


# %%
def gru_backward(
    dhs: Float[np.ndarray, "batch time hidden"],
    cache: tuple,
) -> tuple[
    Float[np.ndarray, "batch time d_in"],
    Float[np.ndarray, "batch hidden"],
    Float[np.ndarray, "d_in three_hidden"],
    Float[np.ndarray, "hidden three_hidden"],
    Float[np.ndarray, " three_hidden"],
    Float[np.ndarray, " three_hidden"],
]:
    """Backpropagation through time for (hs, cache) = gru_forward(...), given dL/dhs on every
    step. Returns (dx, dh0, dWx, dWh, dbx, dbh), the weights' gradients summed over steps.
    """
    # BEGIN SOLUTION
    x, h0, Wx, Wh, hs, steps = cache
    N, T, H = hs.shape
    dax_all = np.empty((N, T, 3 * H), dtype=hs.dtype)
    dah_all = np.empty((N, T, 3 * H), dtype=hs.dtype)
    dh = np.zeros((N, H), dtype=hs.dtype)
    for t in reversed(range(T)):
        r, z, n, ah = steps[t]
        hn = ah[:, 2 * H :]
        h_prev = h0 if t == 0 else hs[:, t - 1]
        dh = dh + dhs[:, t]
        dan = dh * (1 - z) * (1 - n**2)
        dar = dan * hn * r * (1 - r)
        daz = dh * (h_prev - n) * z * (1 - z)
        dax_all[:, t] = np.concatenate([dar, daz, dan], axis=1)
        dah_all[:, t] = np.concatenate([dar, daz, dan * r], axis=1)
        dh = dh * z + dah_all[:, t] @ Wh.T
    h_prevs = np.concatenate([h0[:, None].astype(hs.dtype), hs[:, :-1]], axis=1)
    dWx = np.einsum("ntd,ntk->dk", x, dax_all)
    dWh = np.einsum("nth,ntk->hk", h_prevs, dah_all)
    return dax_all @ Wx.T, dh, dWx, dWh, dax_all.sum(axis=(0, 1)), dah_all.sum(axis=(0, 1))
    # END SOLUTION


if MAIN:
    check(gru_backward)
