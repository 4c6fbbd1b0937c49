"""Tests for chapter 4, part 1: the vanilla RNN cell and sequence, backpropagation through
time, truncated BPTT, the gradient norms across time steps, and clipping by global norm.

Expected values come from the definitions evaluated one step at a time in this file, and
every backward pass is checked against central differences of this file's forward passes
for the loss L = sum(dhs * hs) with a random upstream gradient on every step. Sizes are
never square where they need not be (N = 3, T = 5, D = 4, H = 6), h0 is never zero, and
Wh is never symmetric, so a wrong axis, a missing transpose or a forgotten h0 shows.
"""

import numpy as np
import pytest

from grader.testkit import (
    Call,
    exercise,
    expect,
    expect_close,
    expect_parts,
    numeric_grads,
    rng,
    run,
    run_without_warnings,
)

N, T, D, H = 3, 5, 4, 6


def _params(seed: int, n=N, t=T, d=D, h=H, scale=0.6):
    g = rng(seed)
    x = g.normal(size=(n, t, d))
    h0 = g.normal(size=(n, h)) * 0.5
    Wx = g.normal(size=(d, h)) * scale
    Wh = g.normal(size=(h, h)) * scale
    b = g.normal(size=h) * 0.3
    dhs = g.normal(size=(n, t, h))
    return x, h0, Wx, Wh, b, dhs


def _sigmoid(a):
    return 1 / (1 + np.exp(-a))


def _forward(x, h0, Wx, Wh, b, act=np.tanh, carry=True):
    """hs, one step at a time from the definition."""
    hs = []
    h = h0
    for t in range(x.shape[1]):
        h = act(x[:, t] @ Wx + (h if carry else h0) @ Wh + b)
        hs.append(h)
    return np.stack(hs, axis=1)


def _backward(x, h0, Wx, Wh, b, dhs, accumulate=True, through_time=True, first_h_prev=True):
    """BPTT one step at a time; the flags make the two classic wrong versions."""
    hs = _forward(x, h0, Wx, Wh, b)
    dWx, dWh, db = np.zeros_like(Wx), np.zeros_like(Wh), np.zeros_like(b)
    dx = np.zeros_like(x)
    dh = np.zeros_like(h0)
    for t in reversed(range(x.shape[1])):
        dh = dh + dhs[:, t] if through_time else dhs[:, t]
        da = dh * (1 - hs[:, t] ** 2)
        h_prev = (h0 if first_h_prev else np.zeros_like(h0)) if t == 0 else hs[:, t - 1]
        if accumulate:
            dWx, dWh, db = dWx + x[:, t].T @ da, dWh + h_prev.T @ da, db + da.sum(0)
        else:
            dWx, dWh, db = x[:, t].T @ da, h_prev.T @ da, da.sum(0)
        dx[:, t] = da @ Wx.T
        dh = da @ Wh.T
    return dx, dh, dWx, dWh, db


def _expect_all(call, names, wants, rtol=1e-6, atol=1e-8, mistakes=None):
    """Each returned array matches; mistakes maps a phrase to a tuple of wrong answers."""
    got = expect_parts(call, names, [np.shape(w) for w in wants])
    for k, (name, part, want) in enumerate(zip(names, got, wants)):
        named = {phrase: (lambda ans=ans, k=k: ans()[k]) for phrase, ans in (mistakes or {}).items()}
        expect_close(Call(part, str(call)), want, rtol=rtol, atol=atol, what=name, mistakes=named)


def _expect_dtype(call, arrays, dtype, names):
    for name, a in zip(names, arrays):
        expect(
            getattr(a, "dtype", None) == dtype,
            f"{call}: {name} has dtype {getattr(a, 'dtype', None)}; float32 inputs must give {dtype}",
        )


GRADS = ("dx", "dh0", "dWx", "dWh", "db")
CELL_GRADS = ("dx", "dh_prev", "dWx", "dWh", "db")


# --- rnn_cell_forward -------------------------------------------------------------------------


@exercise("rnn_cell_forward")
def test_rnn_cell_forward_matches_definition(impl):
    x, h0, Wx, Wh, b, _ = _params(1)
    call = run(impl.rnn_cell_forward, x[:, 0], h0, Wx, Wh, b)
    got = expect_parts(call, ("h", "cache"), [(N, H), None])
    x0 = x[:, 0]
    expect_close(
        Call(got[0], str(call)),
        np.tanh(x0 @ Wx + h0 @ Wh + b),
        what="h",
        mistakes={
            "use the sigmoid instead of tanh": lambda: _sigmoid(x0 @ Wx + h0 @ Wh + b),
            "leave out the recurrent term h_prev @ Wh": lambda: np.tanh(x0 @ Wx + b),
            "forget the bias": lambda: np.tanh(x0 @ Wx + h0 @ Wh),
            "multiply h_prev by Wh transposed": lambda: np.tanh(x0 @ Wx + h0 @ Wh.T + b),
        },
    )


@exercise("rnn_cell_forward")
def test_rnn_cell_forward_keeps_float32(impl):
    x, h0, Wx, Wh, b, _ = (a.astype(np.float32) for a in _params(2))
    call = run(impl.rnn_cell_forward, x[:, 0], h0, Wx, Wh, b)
    _expect_dtype(call, call.value[:1], np.float32, ("h",))


# --- rnn_cell_backward ------------------------------------------------------------------------


def _cell_loss(x, h, Wx, Wh, b, dh):
    return float(np.sum(np.tanh(x @ Wx + h @ Wh + b) * dh))


@exercise("rnn_cell_backward")
def test_rnn_cell_backward_matches_central_differences(impl):
    x, h0, Wx, Wh, b, dhs = _params(3)
    x0, dh = x[:, 0], dhs[:, 0]
    _, cache = impl.rnn_cell_forward(x0, h0, Wx, Wh, b)
    call = run(impl.rnn_cell_backward, dh, cache)
    args = [x0, h0, Wx, Wh, b]
    wants = numeric_grads(lambda *a: _cell_loss(*a, dh), args)
    h = np.tanh(x0 @ Wx + h0 @ Wh + b)

    def wrong(da):
        return (da @ Wx.T, da @ Wh.T, x0.T @ da, h0.T @ da, da.sum(0))

    _expect_all(
        call,
        CELL_GRADS,
        wants,
        mistakes={
            "forget tanh's derivative": lambda: wrong(dh),
            "use 1 - h instead of 1 - h^2 as tanh's derivative": lambda: wrong(dh * (1 - h)),
        },
    )


@exercise("rnn_cell_backward")
def test_rnn_cell_backward_keeps_float32(impl):
    x, h0, Wx, Wh, b, dhs = (a.astype(np.float32) for a in _params(4))
    _, cache = impl.rnn_cell_forward(x[:, 0], h0, Wx, Wh, b)
    call = run(impl.rnn_cell_backward, dhs[:, 0], cache)
    _expect_dtype(
        call, expect_parts(call, CELL_GRADS, [(N, D), (N, H), (D, H), (H, H), (H,)]), np.float32, CELL_GRADS
    )


# --- rnn_forward ------------------------------------------------------------------------------


@exercise("rnn_forward")
def test_rnn_forward_matches_step_by_step(impl):
    x, h0, Wx, Wh, b, _ = _params(5)
    call = run(impl.rnn_forward, x, h0, Wx, Wh, b)
    got = expect_parts(call, ("hs", "cache"), [(N, T, H), None])
    expect_close(
        Call(got[0], str(call)),
        _forward(x, h0, Wx, Wh, b),
        what="hs",
        mistakes={
            "start every step from h0 instead of the previous step's state": lambda: _forward(
                x, h0, Wx, Wh, b, carry=False
            ),
            "use the sigmoid instead of tanh": lambda: _forward(x, h0, Wx, Wh, b, act=_sigmoid),
            "start from zeros instead of h0": lambda: _forward(x, np.zeros_like(h0), Wx, Wh, b),
        },
    )


@exercise("rnn_forward")
def test_rnn_forward_one_step_is_the_cell(impl):
    x, h0, Wx, Wh, b, _ = _params(6, t=1)
    call = run(impl.rnn_forward, x, h0, Wx, Wh, b)
    got = expect_parts(call, ("hs", "cache"), [(N, 1, H), None])
    expect_close(Call(got[0], str(call)), np.tanh(x[:, 0] @ Wx + h0 @ Wh + b)[:, None], what="hs")


@exercise("rnn_forward")
def test_rnn_forward_keeps_float32(impl):
    x, h0, Wx, Wh, b, _ = (a.astype(np.float32) for a in _params(7))
    call = run(impl.rnn_forward, x, h0, Wx, Wh, b)
    _expect_dtype(call, call.value[:1], np.float32, ("hs",))


# --- rnn_backward -----------------------------------------------------------------------------


def _sequence_grads(x, h0, Wx, Wh, b, dhs):
    return numeric_grads(lambda *a: float(np.sum(_forward(*a) * dhs)), [x, h0, Wx, Wh, b])


@exercise("rnn_backward")
@pytest.mark.parametrize("seed", [8, 9])
def test_rnn_backward_matches_central_differences(impl, seed):
    x, h0, Wx, Wh, b, dhs = _params(seed)
    _, cache = impl.rnn_forward(x, h0, Wx, Wh, b)
    call = run(impl.rnn_backward, dhs, cache)
    _expect_all(
        call,
        GRADS,
        _sequence_grads(x, h0, Wx, Wh, b, dhs),
        mistakes={
            "keep only one step's weight gradients instead of summing them over the steps": lambda: _backward(
                x, h0, Wx, Wh, b, dhs, accumulate=False
            ),
            "forget the gradient that comes back from later steps": lambda: _backward(
                x, h0, Wx, Wh, b, dhs, through_time=False
            ),
            "leave out step 0's term h0.T @ g_0 in dWh": lambda: _backward(
                x, h0, Wx, Wh, b, dhs, first_h_prev=False
            ),
        },
    )


@exercise("rnn_backward")
def test_rnn_backward_keeps_float32(impl):
    x, h0, Wx, Wh, b, dhs = (a.astype(np.float32) for a in _params(10))
    _, cache = impl.rnn_forward(x, h0, Wx, Wh, b)
    call = run(impl.rnn_backward, dhs, cache)
    got = expect_parts(call, GRADS, [(N, T, D), (N, H), (D, H), (H, H), (H,)])
    _expect_dtype(call, got, np.float32, GRADS)
    want = _backward(*(a.astype(np.float64) for a in (x, h0, Wx, Wh, b, dhs)))
    for name, part, w in zip(GRADS, got, want):
        expect_close(Call(part, str(call)), w, rtol=1e-4, atol=1e-4, what=name)


# --- truncated_bptt ---------------------------------------------------------------------------


def _tbptt(x, h0, Wx, Wh, b, dhs, window, reset=False, last=True):
    dWx, dWh, db = np.zeros_like(Wx), np.zeros_like(Wh), np.zeros_like(b)
    h = h0
    starts = list(range(0, x.shape[1], window))
    for start in starts:
        stop = min(start + window, x.shape[1])
        if not last and stop - start < window:
            break
        begin = h0 if reset else h
        _, _, gWx, gWh, gb = _backward(x[:, start:stop], begin, Wx, Wh, b, dhs[:, start:stop])
        dWx, dWh, db = dWx + gWx, dWh + gWh, db + gb
        h = _forward(x[:, start:stop], begin, Wx, Wh, b)[:, -1]
    return dWx, dWh, db, h


TB = ("dWx", "dWh", "db", "h_T")


@exercise("truncated_bptt")
@pytest.mark.parametrize("window", [2, 3])
def test_truncated_bptt_matches_window_by_window(impl, window):
    x, h0, Wx, Wh, b, dhs = _params(11, t=7)
    call = run(impl.truncated_bptt, x, h0, Wx, Wh, b, dhs, window)
    full = _backward(x, h0, Wx, Wh, b, dhs)
    h_T = _forward(x, h0, Wx, Wh, b)[:, -1]
    _expect_all(
        call,
        TB,
        _tbptt(x, h0, Wx, Wh, b, dhs, window),
        mistakes={
            "start every window from h0 instead of the state the previous window ended in": lambda: _tbptt(
                x, h0, Wx, Wh, b, dhs, window, reset=True
            ),
            "carry the state with its history (this is full BPTT, not truncated)": lambda: (*full[2:], h_T),
            "drop the last, shorter window": lambda: _tbptt(x, h0, Wx, Wh, b, dhs, window, last=False),
        },
    )


@exercise("truncated_bptt")
def test_truncated_bptt_with_one_window_is_full_bptt(impl):
    x, h0, Wx, Wh, b, dhs = _params(12, t=4)
    call = run(impl.truncated_bptt, x, h0, Wx, Wh, b, dhs, 4)
    full = _backward(x, h0, Wx, Wh, b, dhs)
    _expect_all(call, TB, (*full[2:], _forward(x, h0, Wx, Wh, b)[:, -1]))


@exercise("truncated_bptt")
def test_truncated_bptt_keeps_float32(impl):
    x, h0, Wx, Wh, b, dhs = (a.astype(np.float32) for a in _params(13, t=7))
    call = run(impl.truncated_bptt, x, h0, Wx, Wh, b, dhs, 3)
    _expect_dtype(call, expect_parts(call, TB, [(D, H), (H, H), (H,), (N, H)]), np.float32, TB)


# --- hidden_grad_norms ------------------------------------------------------------------------


def _norms(hs, Wh, dh, derivative=True, transpose=True):
    out = []
    for t in reversed(range(hs.shape[1])):
        out.append(np.linalg.norm(dh))
        da = dh * (1 - hs[:, t] ** 2) if derivative else dh
        dh = da @ (Wh.T if transpose else Wh)
    return np.array(out[::-1])


@exercise("hidden_grad_norms")
def test_hidden_grad_norms_match_step_by_step(impl):
    x, h0, Wx, Wh, b, dhs = _params(14, t=8)
    hs = _forward(x, h0, Wx, Wh, b)
    dh = dhs[:, -1]
    call = run(impl.hidden_grad_norms, hs, Wh, dh)
    want = _norms(hs, Wh, dh)
    expect_close(
        call,
        want,
        rtol=1e-9,
        what="norms",
        mistakes={
            "forget tanh's derivative": lambda: _norms(hs, Wh, dh, derivative=False),
            "multiply by Wh instead of Wh.T": lambda: _norms(hs, Wh, dh, transpose=False),
            "return the norms in reverse order (norms[t] is for h_t)": lambda: want[::-1],
        },
    )


@exercise("hidden_grad_norms")
@pytest.mark.parametrize("gain", [0.5, 3.0])
def test_hidden_grad_norms_vanish_or_explode_geometrically(impl, gain):
    # With hs = 0 (tanh'(0) = 1) and Wh = gain * an orthogonal matrix, every step back
    # multiplies the norm by exactly gain: vanishing below 1, exploding above.
    q, _ = np.linalg.qr(rng(15).normal(size=(H, H)))
    hs = np.zeros((N, 10, H))
    dh = rng(16).normal(size=(N, H))
    call = run(impl.hidden_grad_norms, hs, gain * q, dh)
    want = np.linalg.norm(dh) * gain ** np.arange(9, -1, -1.0)
    expect_close(call, want, rtol=1e-9, what="norms (expected ||dh|| * gain^(T-1-t))")


@exercise("hidden_grad_norms")
def test_hidden_grad_norms_are_float64_for_float32_states(impl):
    x, h0, Wx, Wh, b, dhs = _params(17, t=6)
    hs = _forward(x, h0, Wx, Wh, b)
    call = run(
        impl.hidden_grad_norms, hs.astype(np.float32), Wh.astype(np.float32), dhs[:, -1].astype(np.float32)
    )
    expect_close(call, _norms(hs, Wh, dhs[:, -1]), rtol=1e-4, what="norms")
    expect(
        call.value.dtype == np.float64,
        f"{call}: norms has dtype {call.value.dtype}; the docstring promises float64",
    )


# --- clip_by_global_norm ----------------------------------------------------------------------


def _clip_inputs(seed):
    g = rng(seed)
    return [g.normal(size=(D, H)), g.normal(size=(H, H)), g.normal(size=H)]


def _check_clip(call, grads, max_norm):
    value = call.value
    expect(
        isinstance(value, tuple)
        and len(value) == 2
        and isinstance(value[0], list)
        and len(value[0]) == len(grads),
        f"{call}: expected (clipped, global_norm) with clipped a list of {len(grads)} arrays",
    )
    total = float(np.sqrt(sum(np.sum(g**2) for g in grads)))
    scale = min(1.0, max_norm / total) if total > 0 else 1.0
    expect_close(
        Call(value[1], str(call)),
        total,
        rtol=1e-12,
        what="global_norm (before clipping)",
        mistakes={
            "return the norm after clipping": lambda: min(total, max_norm),
            "sum the arrays' norms instead of taking the norm of all entries": lambda: sum(
                float(np.linalg.norm(g)) for g in grads
            ),
        },
    )
    for k, (got, g) in enumerate(zip(value[0], grads)):
        expect(got is not g, f"{call}: clipped[{k}] is the input array itself; return new arrays")
        expect_close(
            Call(got, str(call)),
            g * scale,
            rtol=1e-12,
            what=f"clipped[{k}]",
            mistakes={
                "clip each array by its own norm": lambda g=g: g * min(1.0, max_norm / np.linalg.norm(g)),
            },
        )


@exercise("clip_by_global_norm")
def test_clip_by_global_norm_scales_all_arrays_by_one_factor(impl):
    grads = _clip_inputs(18)
    call = run(impl.clip_by_global_norm, grads, 2.5)
    _check_clip(call, grads, 2.5)


@exercise("clip_by_global_norm")
def test_clip_by_global_norm_leaves_small_gradients_alone(impl):
    grads = [g * 0.01 for g in _clip_inputs(19)]
    call = run(impl.clip_by_global_norm, grads, 2.5)
    _check_clip(call, grads, 2.5)


@exercise("clip_by_global_norm")
def test_clip_by_global_norm_keeps_float32(impl):
    grads = [g.astype(np.float32) for g in _clip_inputs(20)]
    call = run(impl.clip_by_global_norm, grads, 1.0)
    _expect_dtype(call, call.value[0], np.float32, [f"clipped[{k}]" for k in range(3)])


# --- more properties --------------------------------------------------------------------------


@exercise("rnn_cell_forward")
def test_rnn_cell_forward_saturates_without_overflow(impl):
    x, h0, Wx, Wh, b, _ = _params(21)
    call = run_without_warnings(impl.rnn_cell_forward, x[:, 0] * 1e3, h0, Wx, Wh, b)
    got = expect_parts(call, ("h", "cache"), [(N, H), None])
    expect_close(Call(got[0], str(call)), np.tanh(x[:, 0] * 1e3 @ Wx + h0 @ Wh + b), what="h")


@exercise("rnn_cell_backward")
def test_rnn_cell_backward_at_zero_state_by_hand(impl):
    # x = h_prev = 0 and b = 0 give h = 0, tanh'(0) = 1: db = dh summed over the batch,
    # dx = dh @ Wx.T, dh_prev = dh @ Wh.T, and no weight gradient.
    _, _, Wx, Wh, _, dhs = _params(22)
    _, cache = impl.rnn_cell_forward(np.zeros((N, D)), np.zeros((N, H)), Wx, Wh, np.zeros(H))
    dh = dhs[:, 0]
    call = run(impl.rnn_cell_backward, dh, cache)
    want = (dh @ Wx.T, dh @ Wh.T, np.zeros((D, H)), np.zeros((H, H)), dh.sum(0))
    _expect_all(
        call,
        CELL_GRADS,
        want,
        mistakes={"average db over the batch instead of summing": lambda: (*want[:4], dh.mean(0))},
    )


@exercise("rnn_forward")
def test_rnn_forward_keeps_the_examples_apart(impl):
    x, h0, Wx, Wh, b, _ = _params(23)
    changed = x.copy()
    changed[0] += 1.0  # only example 0 changes
    before = run(impl.rnn_forward, x, h0, Wx, Wh, b)
    after = run(impl.rnn_forward, changed, h0, Wx, Wh, b)
    hs_before = expect_parts(before, ("hs", "cache"), [(N, T, H), None])[0]
    hs_after = expect_parts(after, ("hs", "cache"), [(N, T, H), None])[0]
    expect_close(
        Call(hs_after[1:], str(after)), hs_before[1:], rtol=1e-12, what="hs[1:] (examples 1.. did not change)"
    )


@exercise("rnn_backward")
def test_rnn_backward_one_step_is_the_cell(impl):
    x, h0, Wx, Wh, b, dhs = _params(24, t=1)
    _, cache = impl.rnn_forward(x, h0, Wx, Wh, b)
    call = run(impl.rnn_backward, dhs, cache)
    _expect_all(call, GRADS, _backward(x, h0, Wx, Wh, b, dhs))


@exercise("truncated_bptt")
def test_truncated_bptt_window_one_sends_nothing_back(impl):
    x, h0, Wx, Wh, b, dhs = _params(25, t=4)
    call = run(impl.truncated_bptt, x, h0, Wx, Wh, b, dhs, 1)
    _expect_all(call, TB, _tbptt(x, h0, Wx, Wh, b, dhs, 1))


@exercise("hidden_grad_norms")
def test_hidden_grad_norms_one_step(impl):
    x, h0, Wx, Wh, b, dhs = _params(26, t=1)
    hs = _forward(x, h0, Wx, Wh, b)
    call = run(impl.hidden_grad_norms, hs, Wh, dhs[:, 0])
    expect_close(call, np.array([np.linalg.norm(dhs[:, 0])]), rtol=1e-12, what="norms")


@exercise("clip_by_global_norm")
def test_clip_by_global_norm_of_zero_gradients(impl):
    grads = [np.zeros((D, H)), np.zeros(H)]
    call = run_without_warnings(impl.clip_by_global_norm, grads, 1.0)
    _check_clip(call, grads, 1.0)
