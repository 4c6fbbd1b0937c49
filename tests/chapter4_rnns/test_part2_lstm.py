"""Tests for chapter 4, part 2: the LSTM cell forward and backward, its initialisation with
the forget-gate bias, the whole-sequence layer forward and backward, and the bidirectional
layer.

Expected values come from the definitions evaluated one step at a time in this file (gates
in PyTorch's order i, f, g, o), and every backward pass is checked against central
differences of this file's forward passes, with a random upstream gradient on every step
(and on the final states). Sizes are N = 3, T = 5, D = 4, H = 6, so 4H = 24 and a gate block
taken from the wrong columns, a wrong axis or a missing transpose shows; h0 and c0 are
never zero.
"""

import numpy as np
import pytest

from grader.testkit import (
    Call,
    exercise,
    expect,
    expect_close,
    expect_equal,
    expect_parts,
    numeric_grads,
    rng,
    run,
    run_without_warnings,
)

N, T, D, H = 3, 5, 4, 6


def _sigmoid(a):
    return 1 / (1 + np.exp(-a))


def _params(seed, n=N, t=T, d=D, h=H):
    g = rng(seed)
    x = g.normal(size=(n, t, d))
    h0, c0 = g.normal(size=(n, h)) * 0.5, g.normal(size=(n, h))
    Wx, Wh, b = g.normal(size=(d, 4 * h)) * 0.5, g.normal(size=(h, 4 * h)) * 0.5, g.normal(size=4 * h) * 0.5
    return x, h0, c0, Wx, Wh, b


# The wrong versions the tests name: gate order, the nonlinearities, the cell state.
ORDER = {"ifgo": (0, 1, 2, 3), "ifog": (0, 1, 3, 2), "figo": (1, 0, 2, 3), "gifo": (1, 2, 0, 3)}


def _step(x, h, c, Wx, Wh, b, order="ifgo", swap=False, squash_c=False, tanh_h=True):
    a = x @ Wx + h @ Wh + b
    Hs = h.shape[1]
    blocks = [a[:, k * Hs : (k + 1) * Hs] for k in range(4)]
    ai, af, ag, ao = (blocks[k] for k in ORDER[order])
    sig, tan = (np.tanh, _sigmoid) if swap else (_sigmoid, np.tanh)
    i, f, g, o = sig(ai), sig(af), tan(ag), sig(ao)
    c = f * c + i * g
    if squash_c:
        c = np.tanh(c)
    h = o * (np.tanh(c) if tanh_h else c)
    return h, c


def _forward(x, h0, c0, Wx, Wh, b, **wrong):
    h, c, hs = h0, c0, []
    for t in range(x.shape[1]):
        h, c = _step(x[:, t], h, c, Wx, Wh, b, **wrong)
        hs.append(h)
    return np.stack(hs, axis=1), h, c


def _expect_all(call, names, got, wants, rtol=1e-6, atol=1e-8, mistakes=None):
    for k, (name, part, want) in enumerate(zip(names, got, wants)):
        named = {phrase: (lambda ans=ans, k=k: ans()[k]) for phrase, ans in (mistakes or {}).items()}
        expect_close(Call(part, str(call)), want, rtol=rtol, atol=atol, what=name, mistakes=named)


def _expect_dtype(call, arrays, names, dtype=np.float32):
    for name, a in zip(names, arrays):
        expect(
            getattr(a, "dtype", None) == dtype,
            f"{call}: {name} has dtype {getattr(a, 'dtype', None)}; float32 inputs must give {dtype}",
        )


FORWARD_MISTAKES = {
    "take the gates in the order (i, f, o, g) instead of (i, f, g, o)": {"order": "ifog"},
    "take the gates in the order (f, i, g, o) instead of (i, f, g, o)": {"order": "figo"},
    "swap tanh and sigmoid": {"swap": True},
    "squash the cell state with tanh before storing it (c is squashed twice)": {"squash_c": True},
    "forget the tanh in h = o * tanh(c)": {"tanh_h": False},
}


# --- lstm_cell_forward ------------------------------------------------------------------------


@exercise("lstm_cell_forward")
def test_lstm_cell_forward_matches_definition(impl):
    x, h0, c0, Wx, Wh, b = _params(1)
    x0 = x[:, 0]
    call = run(impl.lstm_cell_forward, x0, h0, c0, Wx, Wh, b)
    got = expect_parts(call, ("h", "c", "cache"), [(N, H), (N, H), None])
    mistakes = {p: (lambda w=w: _step(x0, h0, c0, Wx, Wh, b, **w)) for p, w in FORWARD_MISTAKES.items()}
    _expect_all(call, ("h", "c"), got[:2], _step(x0, h0, c0, Wx, Wh, b), mistakes=mistakes)


@exercise("lstm_cell_forward")
def test_lstm_cell_forward_keeps_float32(impl):
    x, h0, c0, Wx, Wh, b = (a.astype(np.float32) for a in _params(2))
    call = run(impl.lstm_cell_forward, x[:, 0], h0, c0, Wx, Wh, b)
    got = expect_parts(call, ("h", "c", "cache"), [(N, H), (N, H), None])
    _expect_dtype(call, got[:2], ("h", "c"))
    want = _step(*(a.astype(np.float64) for a in (x[:, 0], h0, c0, Wx, Wh, b)))
    _expect_all(call, ("h", "c"), got[:2], want, rtol=1e-4, atol=1e-5)


# --- lstm_cell_backward -----------------------------------------------------------------------


def _cell_backward(x, h, c, Wx, Wh, b, dh, dc, through_h=True, use_dc=True):
    """The analytic backward, with flags for the wrong versions the tests name."""
    a = x @ Wx + h @ Wh + b
    i, f, g, o = (
        _sigmoid(a[:, :H]),
        _sigmoid(a[:, H : 2 * H]),
        np.tanh(a[:, 2 * H : 3 * H]),
        _sigmoid(a[:, 3 * H :]),
    )
    c_new = f * c + i * g
    tc = np.tanh(c_new)
    dc_all = (dc if use_dc else 0) + (dh * o * (1 - tc**2) if through_h else 0)
    da = np.concatenate(
        [dc_all * g * i * (1 - i), dc_all * c * f * (1 - f), dc_all * i * (1 - g**2), dh * tc * o * (1 - o)],
        1,
    )
    return da @ Wx.T, da @ Wh.T, dc_all * f, x.T @ da, h.T @ da, da.sum(0)


CELL_GRADS = ("dx", "dh_prev", "dc_prev", "dWx", "dWh", "db")


@exercise("lstm_cell_backward")
@pytest.mark.parametrize("seed", [3, 4])
def test_lstm_cell_backward_matches_central_differences(impl, seed):
    x, h0, c0, Wx, Wh, b = _params(seed)
    x0 = x[:, 0]
    g = rng(seed + 100)
    dh, dc = g.normal(size=(N, H)), g.normal(size=(N, H))
    _, _, cache = impl.lstm_cell_forward(x0, h0, c0, Wx, Wh, b)
    call = run(impl.lstm_cell_backward, dh, dc, cache)
    got = expect_parts(call, CELL_GRADS, [(N, D), (N, H), (N, H), (D, 4 * H), (H, 4 * H), (4 * H,)])

    def loss(*args):
        h, c = _step(*args)
        return float(np.sum(h * dh) + np.sum(c * dc))

    args = (x0, h0, c0, Wx, Wh, b)
    _expect_all(
        call,
        CELL_GRADS,
        got,
        numeric_grads(loss, args),
        mistakes={
            "forget the upstream gradient dc on the cell state": lambda: _cell_backward(
                *args, dh, dc, use_dc=False
            ),
            "forget that c also reaches the loss through h = o * tanh(c)": lambda: _cell_backward(
                *args, dh, dc, through_h=False
            ),
        },
    )


@exercise("lstm_cell_backward")
def test_lstm_cell_backward_keeps_float32(impl):
    x, h0, c0, Wx, Wh, b = (a.astype(np.float32) for a in _params(5))
    dh = rng(6).normal(size=(N, H)).astype(np.float32)
    _, _, cache = impl.lstm_cell_forward(x[:, 0], h0, c0, Wx, Wh, b)
    call = run(impl.lstm_cell_backward, dh, dh, cache)
    got = expect_parts(call, CELL_GRADS, [(N, D), (N, H), (N, H), (D, 4 * H), (H, 4 * H), (4 * H,)])
    _expect_dtype(call, got, CELL_GRADS)


# --- init_lstm --------------------------------------------------------------------------------


@exercise("init_lstm")
@pytest.mark.parametrize("forget_bias", [1.0, 2.5])
def test_init_lstm_draws_weights_and_sets_the_forget_bias(impl, forget_bias):
    call = run(impl.init_lstm, D, H, rng(7), forget_bias)
    Wx, Wh, b = expect_parts(call, ("Wx", "Wh", "b"), [(D, 4 * H), (H, 4 * H), (4 * H,)])
    k = 1 / np.sqrt(H)
    g = rng(7)
    want_Wx = g.uniform(-k, k, size=(D, 4 * H))
    want_Wh = g.uniform(-k, k, size=(H, 4 * H))
    expect_close(
        Call(Wx, str(call)),
        want_Wx,
        rtol=1e-12,
        what="Wx (drawn first, rng.uniform(-k, k), k = 1/sqrt(hidden))",
        mistakes={
            "use k = 1/sqrt(d_in) instead of 1/sqrt(hidden)": lambda: (
                rng(7).uniform(-1, 1, (D, 4 * H)) / np.sqrt(D)
            )
        },
    )
    expect_close(Call(Wh, str(call)), want_Wh, rtol=1e-12, what="Wh (drawn second)")
    want_b = np.zeros(4 * H)
    want_b[H : 2 * H] = forget_bias
    in_block = {
        f"set the {name} gate's block instead of the forget gate's": lambda k=k: np.where(
            (np.arange(4 * H) // H) == k, forget_bias, 0.0
        )
        for k, name in ((0, "input"), (2, "candidate"), (3, "output"))
    }
    expect_close(
        Call(b, str(call)),
        want_b,
        rtol=0,
        atol=0,
        what="b (zero except b[hidden:2 * hidden] = forget_bias)",
        mistakes=in_block | {"set every bias to forget_bias": lambda: np.full(4 * H, forget_bias)},
    )
    for name, arr in (("Wx", Wx), ("Wh", Wh), ("b", b)):
        expect(arr.dtype == np.float64, f"{call}: {name} has dtype {arr.dtype}; expected float64")


# --- lstm_forward -----------------------------------------------------------------------------


SEQ = ("hs", "h_T", "c_T")


def _unpack_forward(call, n=N, t=T):
    got = expect_parts(call, ("hs", "(h_T, c_T)", "cache"), [(n, t, H), None, None])
    states = got[1]
    expect(
        isinstance(states, tuple) and len(states) == 2,
        f"{call}: the second value returned should be the tuple (h_T, c_T)",
    )
    for name, s in zip(("h_T", "c_T"), states):
        expect(
            getattr(s, "shape", None) == (n, H),
            f"{call}: {name} has shape {getattr(s, 'shape', None)}, expected {(n, H)}",
        )
    return got[0], states[0], states[1]


@exercise("lstm_forward")
def test_lstm_forward_matches_step_by_step(impl):
    x, h0, c0, Wx, Wh, b = _params(8)
    call = run(impl.lstm_forward, x, h0, c0, Wx, Wh, b)
    got = _unpack_forward(call)
    mistakes = {p: (lambda w=w: _forward(x, h0, c0, Wx, Wh, b, **w)) for p, w in FORWARD_MISTAKES.items()}
    mistakes["start from zero states instead of (h0, c0)"] = lambda: _forward(x, 0 * h0, 0 * c0, Wx, Wh, b)
    _expect_all(call, SEQ, got, _forward(x, h0, c0, Wx, Wh, b), mistakes=mistakes)


@exercise("lstm_forward")
def test_lstm_forward_one_step_is_the_cell(impl):
    x, h0, c0, Wx, Wh, b = _params(9, t=1)
    call = run(impl.lstm_forward, x, h0, c0, Wx, Wh, b)
    got = _unpack_forward(call, t=1)
    h, c = _step(x[:, 0], h0, c0, Wx, Wh, b)
    _expect_all(call, SEQ, got, (h[:, None], h, c))


@exercise("lstm_forward")
def test_lstm_forward_keeps_float32(impl):
    x, h0, c0, Wx, Wh, b = (a.astype(np.float32) for a in _params(10))
    call = run(impl.lstm_forward, x, h0, c0, Wx, Wh, b)
    got = _unpack_forward(call)
    _expect_dtype(call, got, SEQ)
    want = _forward(*(a.astype(np.float64) for a in (x, h0, c0, Wx, Wh, b)))
    _expect_all(call, SEQ, got, want, rtol=1e-4, atol=1e-5)


# --- lstm_backward ----------------------------------------------------------------------------


def _seq_backward(x, h0, c0, Wx, Wh, b, dhs, dh_T, dc_T, accumulate=True, carry_c=True):
    """BPTT one step at a time with the cell backward above; flags for the wrong versions."""
    hs, cs = [h0], [c0]
    for t in range(x.shape[1]):
        h, c = _step(x[:, t], hs[-1], cs[-1], Wx, Wh, b)
        hs.append(h)
        cs.append(c)
    dx = np.zeros_like(x)
    dWx, dWh, db = np.zeros_like(Wx), np.zeros_like(Wh), np.zeros_like(b)
    dh, dc = dh_T.copy(), dc_T.copy()
    for t in reversed(range(x.shape[1])):
        dh = dh + dhs[:, t]
        gx, dh, dc_prev, gWx, gWh, gb = _cell_backward(x[:, t], hs[t], cs[t], Wx, Wh, b, dh, dc)
        dc = dc_prev if carry_c else np.zeros_like(dc)
        dx[:, t] = gx
        if accumulate:
            dWx, dWh, db = dWx + gWx, dWh + gWh, db + gb
        else:
            dWx, dWh, db = gWx, gWh, gb
    return dx, dh, dc, dWx, dWh, db


GRADS = ("dx", "dh0", "dc0", "dWx", "dWh", "db")
GRAD_SHAPES = [(N, T, D), (N, H), (N, H), (D, 4 * H), (H, 4 * H), (4 * H,)]


@exercise("lstm_backward")
@pytest.mark.parametrize("final", [True, False])
def test_lstm_backward_matches_central_differences(impl, final):
    x, h0, c0, Wx, Wh, b = _params(11 + final)
    g = rng(13 + final)
    dhs = g.normal(size=(N, T, H))
    dh_T, dc_T = (g.normal(size=(N, H)), g.normal(size=(N, H))) if final else (None, None)
    zero = np.zeros((N, H))
    dh_w, dc_w = (dh_T, dc_T) if final else (zero, zero)
    _, _, cache = impl.lstm_forward(x, h0, c0, Wx, Wh, b)
    call = run(impl.lstm_backward, dhs, cache, dh_T, dc_T)
    got = expect_parts(call, GRADS, GRAD_SHAPES)

    def loss(*args):
        hs, h, c = _forward(*args)
        return float(np.sum(hs * dhs) + np.sum(h * dh_w) + np.sum(c * dc_w))

    args = (x, h0, c0, Wx, Wh, b)
    mistakes = {
        "keep only one step's weight gradients instead of summing them over the steps": lambda: _seq_backward(
            *args, dhs, dh_w, dc_w, accumulate=False
        ),
        "forget the gradient that flows back along the cell state from later steps": lambda: _seq_backward(
            *args, dhs, dh_w, dc_w, carry_c=False
        ),
    }
    if final:
        mistakes["ignore dc_T"] = lambda: _seq_backward(*args, dhs, dh_w, zero)
        mistakes["ignore dh_T"] = lambda: _seq_backward(*args, dhs, zero, dc_w)
    _expect_all(call, GRADS, got, numeric_grads(loss, args), mistakes=mistakes)


@exercise("lstm_backward")
def test_lstm_backward_keeps_float32(impl):
    x, h0, c0, Wx, Wh, b = (a.astype(np.float32) for a in _params(15))
    dhs = rng(16).normal(size=(N, T, H)).astype(np.float32)
    _, _, cache = impl.lstm_forward(x, h0, c0, Wx, Wh, b)
    call = run(impl.lstm_backward, dhs, cache)
    got = expect_parts(call, GRADS, GRAD_SHAPES)
    _expect_dtype(call, got, GRADS)
    zero = np.zeros((N, H))
    want = _seq_backward(*(a.astype(np.float64) for a in (x, h0, c0, Wx, Wh, b, dhs)), zero, zero)
    _expect_all(call, GRADS, got, want, rtol=1e-4, atol=1e-4)


# --- bilstm_forward / bilstm_backward ---------------------------------------------------------


def _bi_params(seed):
    g = rng(seed)
    x = g.normal(size=(N, T, D))
    shapes = [(D, 4 * H), (H, 4 * H), (4 * H,)] * 2
    return x, [g.normal(size=s) * 0.5 for s in shapes]


def _bi_forward(
    x, Wx_f, Wh_f, b_f, Wx_b, Wh_b, b_b, reverse_input=True, reverse_output=True, backward_first=False
):
    zero = np.zeros((x.shape[0], H))
    fwd, _, _ = _forward(x, zero, zero, Wx_f, Wh_f, b_f)
    bwd, _, _ = _forward(x[:, ::-1] if reverse_input else x, zero, zero, Wx_b, Wh_b, b_b)
    bwd = bwd[:, ::-1] if reverse_output else bwd
    return np.concatenate([bwd, fwd] if backward_first else [fwd, bwd], axis=-1)


BI_MISTAKES = {
    "reverse the output but not the input": {"reverse_input": False},
    "reverse the input but not the output": {"reverse_output": False},
    "put the backward direction first in the concatenation": {"backward_first": True},
}


@exercise("bilstm_forward")
def test_bilstm_forward_matches_two_directions(impl):
    x, params = _bi_params(17)
    call = run(impl.bilstm_forward, x, *params)
    got = expect_parts(call, ("hs", "cache"), [(N, T, 2 * H), None])
    expect_close(
        Call(got[0], str(call)),
        _bi_forward(x, *params),
        what="hs",
        mistakes={p: (lambda w=w: _bi_forward(x, *params, **w)) for p, w in BI_MISTAKES.items()},
    )


@exercise("bilstm_forward")
def test_bilstm_forward_backward_half_at_the_last_step_has_read_one_input(impl):
    # The backward direction's output at t = T-1 has read x[:, T-1] only: one cell step.
    x, params = _bi_params(18)
    call = run(impl.bilstm_forward, x, *params)
    got = expect_parts(call, ("hs", "cache"), [(N, T, 2 * H), None])
    zero = np.zeros((N, H))
    h, _ = _step(x[:, -1], zero, zero, *params[3:])
    expect_close(Call(got[0][:, -1, H:], str(call)), h, what="hs[:, T-1, H:]")


BI_GRADS = ("dx", "dWx_f", "dWh_f", "db_f", "dWx_b", "dWh_b", "db_b")


@exercise("bilstm_backward")
def test_bilstm_backward_matches_central_differences(impl):
    x, params = _bi_params(19)
    dhs = rng(20).normal(size=(N, T, 2 * H))
    _, cache = impl.bilstm_forward(x, *params)
    call = run(impl.bilstm_backward, dhs, cache)
    got = expect_parts(call, BI_GRADS, [(N, T, D)] + [np.shape(p) for p in params])

    def loss_with(**wrong):
        return lambda *args: float(np.sum(_bi_forward(*args, **wrong) * dhs))

    args = (x, *params)
    mistakes = {p: (lambda w=w: numeric_grads(loss_with(**w), args)) for p, w in BI_MISTAKES.items()}
    _expect_all(call, BI_GRADS, got, numeric_grads(loss_with(), args), mistakes=mistakes)


@exercise("bilstm_backward")
def test_bilstm_backward_keeps_float32(impl):
    x, params = _bi_params(21)
    x, params = x.astype(np.float32), [p.astype(np.float32) for p in params]
    dhs = rng(22).normal(size=(N, T, 2 * H)).astype(np.float32)
    _, cache = impl.bilstm_forward(x, *params)
    call = run(impl.bilstm_backward, dhs, cache)
    got = expect_parts(call, BI_GRADS, [(N, T, D)] + [np.shape(p) for p in params])
    _expect_dtype(call, got, BI_GRADS)


@exercise("bilstm_forward")
def test_bilstm_forward_keeps_float32(impl):
    x, params = _bi_params(23)
    call = run(impl.bilstm_forward, x.astype(np.float32), *(p.astype(np.float32) for p in params))
    got = expect_parts(call, ("hs", "cache"), [(N, T, 2 * H), None])
    _expect_dtype(call, got[:1], ("hs",))
    expect_equal(Call(got[0].shape, str(call)), (N, T, 2 * H), what="hs.shape")


# --- more properties --------------------------------------------------------------------------


def _gate_bias(i, f, g, o):
    """A bias giving each gate block a constant pre-activation (weights zero)."""
    return np.repeat(np.array([i, f, g, o], dtype=float), H)


@exercise("lstm_cell_forward")
def test_lstm_cell_forward_open_forget_gate_and_shut_input_gate_keep_the_cell(impl):
    # Pre-activations +-30: sigmoid is 1 or 0 to 1e-13. f = 1, i = 0 gives c = c_prev;
    # with o = 1, h = tanh(c_prev).
    x, h0, c0, _, _, _ = _params(24)
    zx, zh = np.zeros((D, 4 * H)), np.zeros((H, 4 * H))
    call = run_without_warnings(impl.lstm_cell_forward, x[:, 0], h0, c0, zx, zh, _gate_bias(-30, 30, 0.5, 30))
    got = expect_parts(call, ("h", "c", "cache"), [(N, H), (N, H), None])
    _expect_all(
        call,
        ("h", "c"),
        got[:2],
        (np.tanh(c0), c0),
        rtol=1e-9,
        atol=1e-9,
        mistakes={
            "take the gates in the order (f, i, g, o) instead of (i, f, g, o)": lambda: _step(
                x[:, 0], h0, c0, zx, zh, _gate_bias(-30, 30, 0.5, 30), order="figo"
            )
        },
    )


@exercise("lstm_cell_backward")
def test_lstm_cell_backward_constant_gates_by_hand(impl):
    # Zero weights: the gates are constants sigmoid(b) / tanh(b). With dh = 0 the gradient on
    # the old cell is dc * f, and nothing reaches x, h_prev or the weights but through c.
    x, h0, c0, _, _, _ = _params(25)
    zx, zh = np.zeros((D, 4 * H)), np.zeros((H, 4 * H))
    b = _gate_bias(0.3, 1.0, -0.4, 0.2)
    dc = rng(26).normal(size=(N, H))
    _, _, cache = impl.lstm_cell_forward(x[:, 0], h0, c0, zx, zh, b)
    call = run(impl.lstm_cell_backward, np.zeros((N, H)), dc, cache)
    got = expect_parts(call, CELL_GRADS, [(N, D), (N, H), (N, H), (D, 4 * H), (H, 4 * H), (4 * H,)])
    f = _sigmoid(1.0)
    expect_close(Call(got[2], str(call)), dc * f, rtol=1e-9, what="dc_prev (= dc * f)")


@exercise("init_lstm")
def test_init_lstm_other_sizes(impl):
    call = run(impl.init_lstm, 7, 3, rng(27))
    Wx, Wh, b = expect_parts(call, ("Wx", "Wh", "b"), [(7, 12), (3, 12), (12,)])
    k = 1 / np.sqrt(3)
    expect(
        bool(np.all(np.abs(Wx) <= k) and np.all(np.abs(Wh) <= k)),
        f"{call}: weights outside [-k, k], k = 1/sqrt(3)",
    )
    expect_close(Call(b, str(call)), np.r_[np.zeros(3), np.ones(3), np.zeros(6)], rtol=0, atol=0, what="b")


@exercise("lstm_forward")
def test_lstm_forward_in_two_halves_carrying_both_states(impl):
    x, h0, c0, Wx, Wh, b = _params(28, t=6)
    whole = run(impl.lstm_forward, x, h0, c0, Wx, Wh, b)
    hs, h_T, c_T = _unpack_forward(whole, t=6)
    _, (h3, c3), _ = impl.lstm_forward(x[:, :3], h0, c0, Wx, Wh, b)
    second = run(impl.lstm_forward, x[:, 3:], h3, c3, Wx, Wh, b)
    got = _unpack_forward(second, t=3)
    _expect_all(second, SEQ, got, (hs[:, 3:], h_T, c_T), rtol=1e-9, atol=1e-12)


@exercise("lstm_backward")
def test_lstm_backward_in_two_halves(impl):
    # Backpropagating the second half, then the first with dh_T, dc_T = the second half's
    # dh0, dc0, must give the whole sequence's gradients.
    x, h0, c0, Wx, Wh, b = _params(29, t=6)
    dhs = rng(30).normal(size=(N, 6, H))
    _, _, cache = impl.lstm_forward(x, h0, c0, Wx, Wh, b)
    whole = impl.lstm_backward(dhs, cache)
    _, (h3, c3), cache1 = impl.lstm_forward(x[:, :3], h0, c0, Wx, Wh, b)
    _, _, cache2 = impl.lstm_forward(x[:, 3:], h3, c3, Wx, Wh, b)
    second = impl.lstm_backward(dhs[:, 3:], cache2)
    call = run(impl.lstm_backward, dhs[:, :3], cache1, second[1], second[2])
    got = expect_parts(call, GRADS, [(N, 3, D), (N, H), (N, H), (D, 4 * H), (H, 4 * H), (4 * H,)])
    wants = (
        whole[0][:, :3],
        whole[1],
        whole[2],
        whole[3] - second[3],
        whole[4] - second[4],
        whole[5] - second[5],
    )
    _expect_all(call, GRADS, got, wants, rtol=1e-7, atol=1e-9)


@exercise("bilstm_backward")
def test_bilstm_backward_directions_are_independent(impl):
    # A loss on the forward half only gives the backward direction's weights no gradient.
    x, params = _bi_params(31)
    dhs = rng(32).normal(size=(N, T, 2 * H))
    dhs[..., H:] = 0
    _, cache = impl.bilstm_forward(x, *params)
    call = run(impl.bilstm_backward, dhs, cache)
    got = expect_parts(call, BI_GRADS, [(N, T, D)] + [np.shape(p) for p in params])
    for name, part, p in zip(BI_GRADS[4:], got[4:], params[3:]):
        expect_close(
            Call(part, str(call)), np.zeros_like(p), atol=1e-12, what=f"{name} (no loss on the backward half)"
        )
