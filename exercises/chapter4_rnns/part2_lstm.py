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
    raise NotImplementedError("lstm_cell_forward")


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
    raise NotImplementedError("lstm_cell_backward")


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
    raise NotImplementedError("init_lstm")


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
    raise NotImplementedError("lstm_forward")


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
    raise NotImplementedError("lstm_backward")


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
    raise NotImplementedError("bilstm_forward")


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
    raise NotImplementedError("bilstm_backward")


if MAIN:
    check(bilstm_backward)
