"""Tests for chapter 4, part 3: the GRU cell and sequence, forward and backward, in
PyTorch's convention (gates r, z, n; h' = (1 - z) * n + z * h; r applied to h @ W_hn + b_hn).

Expected values come from the definitions evaluated one step at a time in this file, and
every backward pass is checked against central differences of this file's forward passes
for L = sum(dhs * hs) with a random upstream gradient on every step. Sizes are N = 3,
T = 5, D = 4, H = 6 (3H = 18); h0 and both biases are never zero, so a forgotten b_hn or a
reset gate applied in the wrong place shows.
"""

import numpy as np
import pytest

from grader.testkit import (
    Call,
    exercise,
    expect,
    expect_close,
    expect_parts,
    numeric_grad,
    numeric_grads,
    rng,
    run,
)

N, T, D, H = 3, 5, 4, 6


def _sigmoid(a):
    return 1 / (1 + np.exp(-a))


def _params(seed, t=T):
    g = rng(seed)
    x = g.normal(size=(N, t, D))
    h0 = g.normal(size=(N, H)) * 0.5
    Wx, Wh = g.normal(size=(D, 3 * H)) * 0.5, g.normal(size=(H, 3 * H)) * 0.5
    bx, bh = g.normal(size=3 * H) * 0.5, g.normal(size=3 * H) * 0.5
    return x, h0, Wx, Wh, bx, bh


def _step(x, h, Wx, Wh, bx, bh, other_mix=False, reset_before=False, order="rzn"):
    ax, ah = x @ Wx + bx, h @ Wh + bh
    blocks = {name: k for k, name in enumerate(order)}

    def part(a, name):
        k = blocks[name]
        return a[:, k * H : (k + 1) * H]

    r = _sigmoid(part(ax, "r") + part(ah, "r"))
    z = _sigmoid(part(ax, "z") + part(ah, "z"))
    if reset_before:  # Cho et al.'s original: r multiplies h before W_hn
        k = blocks["n"]
        hn = (r * h) @ Wh[:, k * H : (k + 1) * H] + bh[k * H : (k + 1) * H]
    else:
        hn = r * part(ah, "n")
    n = np.tanh(part(ax, "n") + hn)
    return z * n + (1 - z) * h if other_mix else (1 - z) * n + z * h


def _forward(x, h0, Wx, Wh, bx, bh, **wrong):
    h, hs = h0, []
    for t in range(x.shape[1]):
        h = _step(x[:, t], h, Wx, Wh, bx, bh, **wrong)
        hs.append(h)
    return np.stack(hs, axis=1)


MISTAKES = {
    "mix with h' = z * n + (1 - z) * h (the other convention; PyTorch's is (1 - z) * n + z * h)": {
        "other_mix": True
    },
    "apply r to h before multiplying by W_hn (PyTorch applies it to h @ W_hn + b_hn)": {"reset_before": True},
    "take the gates in the order (z, r, n) instead of (r, z, n)": {"order": "zrn"},
}


def _expect_all(call, names, got, wants, rtol=1e-6, atol=1e-8, mistakes=None):
    for k, (name, part, want) in enumerate(zip(names, got, wants)):
        named = {phrase: (lambda ans=ans, k=k: ans()[k]) for phrase, ans in (mistakes or {}).items()}
        expect_close(Call(part, str(call)), want, rtol=rtol, atol=atol, what=name, mistakes=named)


def _expect_dtype(call, arrays, names):
    for name, a in zip(names, arrays):
        expect(
            getattr(a, "dtype", None) == np.float32,
            f"{call}: {name} has dtype {getattr(a, 'dtype', None)}; float32 inputs must give float32",
        )


CELL_GRADS = ("dx", "dh_prev", "dWx", "dWh", "dbx", "dbh")
GRADS = ("dx", "dh0", "dWx", "dWh", "dbx", "dbh")
SHAPES = [(D, 3 * H), (H, 3 * H), (3 * H,), (3 * H,)]


@exercise("gru_cell_forward")
def test_gru_cell_forward_matches_definition(impl):
    x, h0, Wx, Wh, bx, bh = _params(1)
    x0 = x[:, 0]
    call = run(impl.gru_cell_forward, x0, h0, Wx, Wh, bx, bh)
    got = expect_parts(call, ("h", "cache"), [(N, H), None])
    expect_close(
        Call(got[0], str(call)),
        _step(x0, h0, Wx, Wh, bx, bh),
        what="h",
        mistakes={p: (lambda w=w: _step(x0, h0, Wx, Wh, bx, bh, **w)) for p, w in MISTAKES.items()}
        | {
            "forget the bias b_hn inside r * (...)": lambda: _step(
                x0, h0, Wx, Wh, bx, np.r_[bh[: 2 * H], 0 * bh[2 * H :]]
            )
        },
    )


@exercise("gru_cell_forward")
def test_gru_cell_forward_keeps_float32(impl):
    x, h0, Wx, Wh, bx, bh = (a.astype(np.float32) for a in _params(2))
    call = run(impl.gru_cell_forward, x[:, 0], h0, Wx, Wh, bx, bh)
    got = expect_parts(call, ("h", "cache"), [(N, H), None])
    _expect_dtype(call, got[:1], ("h",))
    want = _step(*(a.astype(np.float64) for a in (x[:, 0], h0, Wx, Wh, bx, bh)))
    expect_close(Call(got[0], str(call)), want, rtol=1e-4, atol=1e-5, what="h")


@exercise("gru_cell_backward")
@pytest.mark.parametrize("seed", [3, 4])
def test_gru_cell_backward_matches_central_differences(impl, seed):
    x, h0, Wx, Wh, bx, bh = _params(seed)
    x0 = x[:, 0]
    dh = rng(seed + 100).normal(size=(N, H))
    _, cache = impl.gru_cell_forward(x0, h0, Wx, Wh, bx, bh)
    call = run(impl.gru_cell_backward, dh, cache)
    got = expect_parts(call, CELL_GRADS, [(N, D), (N, H)] + SHAPES)
    args = (x0, h0, Wx, Wh, bx, bh)

    def loss_with(**wrong):
        return lambda *a: float(np.sum(_step(*a, **wrong) * dh))

    _expect_all(
        call,
        CELL_GRADS,
        got,
        numeric_grads(loss_with(), args),
        mistakes={p: (lambda w=w: numeric_grads(loss_with(**w), args)) for p, w in MISTAKES.items()},
    )


@exercise("gru_cell_backward")
def test_gru_cell_backward_keeps_float32(impl):
    x, h0, Wx, Wh, bx, bh = (a.astype(np.float32) for a in _params(5))
    _, cache = impl.gru_cell_forward(x[:, 0], h0, Wx, Wh, bx, bh)
    call = run(impl.gru_cell_backward, h0, cache)
    _expect_dtype(call, expect_parts(call, CELL_GRADS, [(N, D), (N, H)] + SHAPES), CELL_GRADS)


@exercise("gru_forward")
def test_gru_forward_matches_step_by_step(impl):
    x, h0, Wx, Wh, bx, bh = _params(6)
    call = run(impl.gru_forward, x, h0, Wx, Wh, bx, bh)
    got = expect_parts(call, ("hs", "cache"), [(N, T, H), None])
    mistakes = {p: (lambda w=w: _forward(x, h0, Wx, Wh, bx, bh, **w)) for p, w in MISTAKES.items()}
    mistakes["start from zeros instead of h0"] = lambda: _forward(x, 0 * h0, Wx, Wh, bx, bh)
    no_bhn = np.r_[bh[: 2 * H], 0 * bh[2 * H :]]
    mistakes["forget the bias b_hn inside r * (...)"] = lambda: _forward(x, h0, Wx, Wh, bx, no_bhn)
    expect_close(Call(got[0], str(call)), _forward(x, h0, Wx, Wh, bx, bh), what="hs", mistakes=mistakes)


@exercise("gru_forward")
def test_gru_forward_keeps_float32(impl):
    x, h0, Wx, Wh, bx, bh = (a.astype(np.float32) for a in _params(7))
    call = run(impl.gru_forward, x, h0, Wx, Wh, bx, bh)
    got = expect_parts(call, ("hs", "cache"), [(N, T, H), None])
    _expect_dtype(call, got[:1], ("hs",))
    want = _forward(*(a.astype(np.float64) for a in (x, h0, Wx, Wh, bx, bh)))
    expect_close(Call(got[0], str(call)), want, rtol=1e-4, atol=1e-5, what="hs")


def _seq_backward_no_accumulate(x, h0, Wx, Wh, bx, bh, dhs):
    """The weight gradients of the first step alone (what overwriting instead of adding
    leaves after a backward loop), with the correct dx and dh0."""
    args = (x, h0, Wx, Wh, bx, bh)
    full = numeric_grads(lambda *a: float(np.sum(_forward(*a) * dhs)), args)
    hs = _forward(*args)
    # dL/dh_0 (the state after step 0): from its own loss and through the later steps
    dh_after0 = numeric_grad(
        lambda h: float(np.sum(_forward(x[:, 1:], h, Wx, Wh, bx, bh) * dhs[:, 1:])), hs[:, 0]
    )
    dh_after0 = dh_after0 + dhs[:, 0]
    step0 = numeric_grads(lambda *a: float(np.sum(_step(x[:, 0], h0, *a) * dh_after0)), (Wx, Wh, bx, bh))
    return (full[0], full[1], *step0)


@exercise("gru_backward")
@pytest.mark.parametrize("seed", [8, 9])
def test_gru_backward_matches_central_differences(impl, seed):
    x, h0, Wx, Wh, bx, bh = _params(seed)
    dhs = rng(seed + 100).normal(size=(N, T, H))
    _, cache = impl.gru_forward(x, h0, Wx, Wh, bx, bh)
    call = run(impl.gru_backward, dhs, cache)
    got = expect_parts(call, GRADS, [(N, T, D), (N, H)] + SHAPES)
    args = (x, h0, Wx, Wh, bx, bh)

    def loss_with(**wrong):
        return lambda *a: float(np.sum(_forward(*a, **wrong) * dhs))

    mistakes = {p: (lambda w=w: numeric_grads(loss_with(**w), args)) for p, w in MISTAKES.items()}
    mistakes["keep only one step's weight gradients instead of summing them over the steps"] = lambda: (
        _seq_backward_no_accumulate(*args, dhs)
    )
    _expect_all(call, GRADS, got, numeric_grads(loss_with(), args), mistakes=mistakes)


@exercise("gru_backward")
def test_gru_backward_keeps_float32(impl):
    x, h0, Wx, Wh, bx, bh = (a.astype(np.float32) for a in _params(10))
    dhs = rng(11).normal(size=(N, T, H)).astype(np.float32)
    _, cache = impl.gru_forward(x, h0, Wx, Wh, bx, bh)
    call = run(impl.gru_backward, dhs, cache)
    got = expect_parts(call, GRADS, [(N, T, D), (N, H)] + SHAPES)
    _expect_dtype(call, got, GRADS)
    args64 = [a.astype(np.float64) for a in (x, h0, Wx, Wh, bx, bh)]
    want = numeric_grads(lambda *a: float(np.sum(_forward(*a) * dhs)), args64)
    _expect_all(call, GRADS, got, want, rtol=1e-4, atol=1e-4)


# --- more properties --------------------------------------------------------------------------


def _zero_weights_bias(r, z, n):
    return np.zeros((D, 3 * H)), np.zeros((H, 3 * H)), np.repeat(np.array([r, z, n], dtype=float), H)


@exercise("gru_cell_forward")
@pytest.mark.parametrize("z_pre", [30.0, -30.0])
def test_gru_cell_forward_update_gate_keeps_or_replaces_the_state(impl, z_pre):
    # Zero weights, z's pre-activation +-30: z = 1 keeps h_prev (PyTorch's convention),
    # z = 0 replaces it with n = tanh(b_xn + r * b_hn).
    x, h0, _, _, _, _ = _params(12)
    Wx, Wh, bx = _zero_weights_bias(0.4, z_pre, 0.7)
    bh = np.repeat(np.array([0.1, 0.0, -0.5]), H)
    call = run(impl.gru_cell_forward, x[:, 0], h0, Wx, Wh, bx, bh)
    got = expect_parts(call, ("h", "cache"), [(N, H), None])
    n = np.tanh(0.7 + _sigmoid(0.5) * -0.5)
    want = h0 if z_pre > 0 else np.full((N, H), n)
    expect_close(
        Call(got[0], str(call)),
        want,
        rtol=1e-9,
        atol=1e-9,
        what="h (z = 1 keeps h_prev, z = 0 gives n)",
        mistakes={
            "mix with h' = z * n + (1 - z) * h (PyTorch's is (1 - z) * n + z * h)": lambda: _step(
                x[:, 0], h0, Wx, Wh, bx, bh, other_mix=True
            )
        },
    )


@exercise("gru_cell_backward")
def test_gru_cell_backward_with_the_update_gate_shut_passes_dh_through(impl):
    # z = 1 (pre-activation 30): h' = h_prev, so dh_prev = dh to 1e-12 and nothing else moves.
    x, h0, _, _, _, _ = _params(13)
    Wx, Wh, bx = _zero_weights_bias(0.4, 30.0, 0.7)
    dh = rng(14).normal(size=(N, H))
    _, cache = impl.gru_cell_forward(x[:, 0], h0, Wx, Wh, bx, bx)
    call = run(impl.gru_cell_backward, dh, cache)
    got = expect_parts(call, CELL_GRADS, [(N, D), (N, H)] + SHAPES)
    expect_close(Call(got[1], str(call)), dh, rtol=1e-9, atol=1e-9, what="dh_prev (z = 1: h' = h_prev)")


@exercise("gru_forward")
def test_gru_forward_in_two_halves(impl):
    x, h0, Wx, Wh, bx, bh = _params(15, t=6)
    whole = run(impl.gru_forward, x, h0, Wx, Wh, bx, bh)
    hs = expect_parts(whole, ("hs", "cache"), [(N, 6, H), None])[0]
    first, _ = impl.gru_forward(x[:, :3], h0, Wx, Wh, bx, bh)
    second = run(impl.gru_forward, x[:, 3:], first[:, -1], Wx, Wh, bx, bh)
    got = expect_parts(second, ("hs", "cache"), [(N, 3, H), None])[0]
    expect_close(Call(got, str(second)), hs[:, 3:], rtol=1e-9, atol=1e-12, what="hs of the second half")


@exercise("gru_backward")
def test_gru_backward_one_step_is_the_cell(impl):
    x, h0, Wx, Wh, bx, bh = _params(16, t=1)
    dhs = rng(17).normal(size=(N, 1, H))
    _, cache = impl.gru_forward(x, h0, Wx, Wh, bx, bh)
    call = run(impl.gru_backward, dhs, cache)
    got = expect_parts(call, GRADS, [(N, 1, D), (N, H)] + SHAPES)
    args = (x, h0, Wx, Wh, bx, bh)
    _expect_all(call, GRADS, got, numeric_grads(lambda *a: float(np.sum(_forward(*a) * dhs)), args))
