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
    raise NotImplementedError("gru_cell_forward")


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
    raise NotImplementedError("gru_cell_backward")


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
    raise NotImplementedError("gru_forward")


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
    raise NotImplementedError("gru_backward")


if MAIN:
    check(gru_backward)
