"""Tests for chapter 5, part 2: splitting and merging heads, the initialisation, and
multi-head self-attention forward and backward.

Expected values come from this file: heads cut out by index arithmetic, and a layer
written head by head with a loop (each head's slice of the projections, its own softmax,
its output written into its slice of the merged features). The backward pass is checked
against central differences of that forward pass for L = sum(dout * out), for every
parameter and for x. Sizes are never square where they need not be (N = 2, T = 5, D = 12,
H = 3 heads of d_head = 4), so heads cut along the wrong axis or scaled by the wrong width
show.
"""

import numpy as np

from grader.testkit import (
    Call,
    exercise,
    expect,
    expect_close,
    expect_equal,
    expect_parts,
    numeric_grad,
    rng,
    run,
)

N, T, D, H = 2, 5, 12, 3
DH = D // H
KEYS = ("W_q", "b_q", "W_k", "b_k", "W_v", "b_v", "W_o", "b_o")


def _split(x, h):
    """out[n, i, t, j] = x[n, t, i * d_head + j]."""
    n, t, d = x.shape
    dh = d // h
    out = np.zeros((n, h, t, dh), dtype=x.dtype)
    for i in range(h):
        out[:, i] = x[:, :, i * dh : (i + 1) * dh]
    return out


def _merge(x):
    n, h, t, dh = x.shape
    out = np.zeros((n, t, h * dh), dtype=x.dtype)
    for i in range(h):
        out[:, :, i * dh : (i + 1) * dh] = x[:, i]
    return out


def _softmax_rows(s, allowed):
    out = np.zeros_like(s)
    for idx in np.ndindex(s.shape[:-1]):
        ok = allowed[idx]
        if ok.any():
            e = np.exp(s[idx][ok] - s[idx][ok].max())
            out[idx][ok] = e / e.sum()
    return out


def _mha(x, p, h, mask=None, scale=None, heads_of=None, out_proj=True, bias=True):
    """Head by head; the keyword arguments make the classic wrong versions."""
    n, t, d = x.shape
    dh = d // h
    scale = 1 / np.sqrt(dh) if scale is None else scale
    b = (lambda key: p[key]) if bias else (lambda key: 0.0)
    Q, K, V = (x @ p[f"W_{c}"] + b(f"b_{c}") for c in "qkv")
    allowed = np.broadcast_to(np.ones((t, t), bool) if mask is None else mask, (n, t, t))
    merged = np.zeros((n, t, d))
    for i in range(h):
        cols = np.arange(i * dh, (i + 1) * dh) if heads_of is None else heads_of(i, dh, h)
        A = _softmax_rows(Q[..., cols] @ K[..., cols].swapaxes(1, 2) * scale, allowed)
        merged[..., cols] = A @ V[..., cols]
    return merged @ p["W_o"] + b("b_o") if out_proj else merged


def _strided(i, dh, h):
    """Head i taking every h-th feature: the split of "n t (d h)" instead of "n t (h d)"."""
    return np.arange(i, dh * h, h)


def _params(seed, d=D):
    g = rng(seed)
    return {
        key: g.normal(size=(d, d) if key[0] == "W" else d) / (np.sqrt(d) if key[0] == "W" else 2)
        for key in KEYS
    }


def _expect_dtype(call, value, dtype, what):
    expect(
        getattr(value, "dtype", None) == dtype,
        f"{call}: {what} has dtype {getattr(value, 'dtype', None)}; float32 inputs must give {dtype}",
    )


# --- split_heads / merge_heads ----------------------------------------------------------------


@exercise("split_heads")
def test_split_heads_gives_each_head_its_block_of_features(impl):
    x = rng(1).normal(size=(N, T, D))
    expect_close(
        run(impl.split_heads, x, H),
        _split(x, H),
        rtol=0,
        atol=0,
        what="the heads",
        mistakes={
            "split the features as (d_head, H) instead of (H, d_head)": lambda: x.reshape(
                N, T, DH, H
            ).transpose(0, 3, 1, 2),
            "reshape to (N, H, T, d_head) without moving the time axis": lambda: x.reshape(N, H, T, DH),
        },
    )


@exercise("split_heads")
def test_split_heads_one_head_and_float32(impl):
    x = rng(2).normal(size=(3, 4, 6)).astype(np.float32)
    call = run(impl.split_heads, x, 1)
    expect_close(call, x[:, None], rtol=0, atol=0, what="one head")
    _expect_dtype(call, call.value, np.float32, "the heads")
    expect_close(run(impl.split_heads, x, 6), _split(x, 6), rtol=0, atol=0, what="heads of width 1")


@exercise("split_heads")
def test_split_heads_by_hand(impl):
    x = np.arange(8.0).reshape(1, 1, 8)  # one token, features 0..7, two heads of width 4
    expect_equal(
        run(impl.split_heads, x, 2),
        np.array([[[[0.0, 1, 2, 3]], [[4.0, 5, 6, 7]]]]),
        what="head 0 takes features 0-3, head 1 features 4-7",
        mistakes={
            "split the features as (d_head, H) instead of (H, d_head)": np.array(
                [[[[0.0, 2, 4, 6]], [[1.0, 3, 5, 7]]]]
            )
        },
    )


@exercise("merge_heads")
def test_merge_heads_by_hand(impl):
    x = np.array([[[[0.0, 1], [2, 3]], [[4.0, 5], [6, 7]]]])  # N = 1, H = 2, T = 2, d_head = 2
    expect_equal(
        run(impl.merge_heads, x),
        np.array([[[0.0, 1, 4, 5], [2.0, 3, 6, 7]]]),
        what="token t gets head 0's features, then head 1's",
        mistakes={
            "reshape to (N, T, D) without moving the head axis": np.arange(8.0).reshape(1, 2, 4),
            "merge the features as (d_head, H) instead of (H, d_head)": np.array(
                [[[0.0, 4, 1, 5], [2.0, 6, 3, 7]]]
            ),
        },
    )


@exercise("merge_heads")
def test_merge_heads_puts_each_head_back_in_its_block(impl):
    x = rng(3).normal(size=(N, H, T, DH))
    expect_close(
        run(impl.merge_heads, x),
        _merge(x),
        rtol=0,
        atol=0,
        what="the merged features",
        mistakes={
            "merge the features as (d_head, H) instead of (H, d_head)": lambda: x.transpose(
                0, 2, 3, 1
            ).reshape(N, T, D),
            "reshape to (N, T, D) without moving the head axis": lambda: x.reshape(N, T, D),
        },
    )


@exercise("merge_heads")
def test_merge_heads_undoes_the_split(impl):
    x = rng(4).normal(size=(3, 7, 10)).astype(np.float32)
    call = run(impl.merge_heads, _split(x, 5))
    expect_close(call, x, rtol=0, atol=0, what="merge of the split")
    _expect_dtype(call, call.value, np.float32, "the merged features")


# --- mha_init ---------------------------------------------------------------------------------


@exercise("mha_init")
def test_mha_init_draws_in_the_stated_order(impl):
    d = 10
    call = run(impl.mha_init, rng(5), d)
    got = call.value
    expect(isinstance(got, dict), f"{call}: returned {type(got).__name__}, expected a dict")
    expect(
        sorted(got) == sorted(KEYS),
        f"{call}: keys {sorted(got)}, expected {sorted(KEYS)}",
    )
    g = rng(5)
    want = {f"W_{c}": g.normal(0.0, 1 / np.sqrt(d), size=(d, d)) for c in "qkvo"}
    g = rng(5)
    unit = {f"W_{c}": g.normal(size=(d, d)) for c in "qkvo"}
    for key in KEYS:
        if key[0] == "W":
            expect_close(
                Call(got[key], str(call)),
                want[key],
                rtol=1e-12,
                what=key,
                mistakes={
                    "draw with standard deviation 1": unit[key],
                    "draw with standard deviation 1/d_model instead of 1/sqrt(d_model)": unit[key] / d,
                },
            )
        else:
            expect_equal(Call(got[key], str(call)), np.zeros(d), what=key)
        _expect_dtype(call, got[key], np.float64, key)


@exercise("mha_init")
def test_mha_init_uses_the_generator_it_is_given(impl):
    a = impl.mha_init(rng(6), 8)
    b = impl.mha_init(rng(7), 8)
    expect(
        not np.array_equal(a["W_q"], b["W_q"]),
        "mha_init(rng, 8) gave the same W_q for generators seeded 6 and 7: draw from the rng passed in",
    )
    g = rng(8)
    first = impl.mha_init(g, 8)
    second = impl.mha_init(g, 8)
    expect(
        not np.array_equal(first["W_q"], second["W_q"]),
        "two calls of mha_init on one generator gave the same W_q: "
        "draw from the rng passed in, never a new one",
    )


# --- mha_forward ------------------------------------------------------------------------------


def _check_forward(impl, x, p, mask, what):
    args = (x, p, H) if mask is None else (x, p, H, mask)
    call = run(impl.mha_forward, *args)
    got = expect_parts(call, ("out", "cache"), [x.shape, None])
    expect_close(
        Call(got[0], str(call)),
        _mha(x, p, H, mask),
        what=what,
        mistakes={
            "split the heads along the wrong axis ((d_head, H) instead of (H, d_head))": lambda: _mha(
                x, p, H, mask, heads_of=_strided
            ),
            "scale by sqrt(d_model) instead of sqrt(d_head)": lambda: _mha(
                x, p, H, mask, scale=1 / np.sqrt(D)
            ),
            "scale by d_head instead of sqrt(d_head)": lambda: _mha(x, p, H, mask, scale=1 / DH),
            "forget the output projection W_o, b_o": lambda: _mha(x, p, H, mask, out_proj=False),
            "forget the biases": lambda: _mha(x, p, H, mask, bias=False),
            "use one head of width d_model": lambda: _mha(x, p, 1, mask, scale=1 / np.sqrt(DH)),
            "ignore the mask": lambda: _mha(x, p, H),
        },
    )


@exercise("mha_forward")
def test_mha_forward_matches_head_by_head(impl):
    _check_forward(impl, rng(10).normal(size=(N, T, D)), _params(11), None, "out")


@exercise("mha_forward")
def test_mha_forward_causal_mask(impl):
    _check_forward(
        impl, rng(12).normal(size=(N, T, D)), _params(13), np.tri(T, dtype=bool), "out, causal mask (T, T)"
    )


@exercise("mha_forward")
def test_mha_forward_padding_mask(impl):
    pad = (np.arange(T) < np.array([5, 2])[:, None])[:, None, :]  # (N, 1, T)
    _check_forward(impl, rng(14).normal(size=(N, T, D)), _params(15), pad, "out, padding mask (N, 1, T)")
    both = pad & np.tri(T, dtype=bool)  # (N, T, T)
    _check_forward(impl, rng(16).normal(size=(N, T, D)), _params(17), both, "out, a mask (N, T, T)")


@exercise("mha_forward")
def test_mha_forward_causal_output_ignores_the_future(impl):
    x, p, causal = rng(18).normal(size=(N, T, D)), _params(19), np.tri(T, dtype=bool)
    out1 = impl.mha_forward(x, p, H, causal)[0]
    x2 = x.copy()
    x2[:, 3:] += 2.0
    out2 = impl.mha_forward(x2, p, H, causal)[0]
    expect_close(
        Call(out2[:, :3], "mha_forward(x, params, 3, causal) with x[:, 3:] changed: out[:, :3]"),
        out1[:, :3],
        what="the outputs of positions 0-2 must not depend on later positions",
    )


@exercise("mha_forward")
def test_mha_forward_keeps_float32(impl):
    x, p = rng(20).normal(size=(N, T, D)), _params(21)
    call = run(
        impl.mha_forward,
        x.astype(np.float32),
        {k: a.astype(np.float32) for k, a in p.items()},
        H,
        np.tri(T, dtype=bool),
    )
    got = expect_parts(call, ("out", "cache"), [x.shape, None])
    _expect_dtype(call, got[0], np.float32, "out")
    expect_close(
        Call(got[0], str(call)), _mha(x, p, H, np.tri(T, dtype=bool)), rtol=1e-4, atol=1e-5, what="out"
    )


# --- mha_backward -----------------------------------------------------------------------------


def _mha_fast(x, p, mask=None):
    """_mha with every head at once (the same formula; _numeric checks that the two agree),
    cheap enough for central differences. Masks here leave every query some key."""
    n, t, d = x.shape
    Q, K, V = ((x @ p[f"W_{c}"] + p[f"b_{c}"]).reshape(n, t, H, DH).transpose(0, 2, 1, 3) for c in "qkv")
    s = Q @ K.transpose(0, 1, 3, 2) / np.sqrt(DH)
    if mask is not None:
        s = np.where(np.expand_dims(mask, -3), s, -np.inf)
    e = np.exp(s - s.max(axis=-1, keepdims=True))
    A = e / e.sum(axis=-1, keepdims=True)
    return (A @ V).transpose(0, 2, 1, 3).reshape(n, t, d) @ p["W_o"] + p["b_o"]


def _numeric(x, p, mask, dout):
    """Central differences of L = sum(dout * out) for x and every parameter."""
    expect(
        np.allclose(_mha_fast(x, p, mask), _mha(x, p, H, mask), rtol=1e-12, atol=1e-12),
        "the test's own two forward passes disagree (a bug in the test)",
    )
    want = {"dx": numeric_grad(lambda a: np.sum(_mha_fast(a, p, mask) * dout), x)}
    for key in KEYS:

        def loss(a, key=key):
            return np.sum(_mha_fast(x, {**p, key: a}, mask) * dout)

        want[key] = numeric_grad(loss, p[key])
    return want


def _check_backward(impl, x, p, mask, seed, rtol=1e-6, atol=1e-8, dtype=np.float64):
    dout = rng(seed).normal(size=x.shape)
    cast = {k: a.astype(dtype) for k, a in p.items()}
    _, cache = impl.mha_forward(x.astype(dtype), cast, H, mask)
    call = run(impl.mha_backward, dout.astype(dtype), cache)
    dx, grads = expect_parts(call, ("dx", "grads"), [x.shape, None])
    expect(isinstance(grads, dict), f"{call}: grads is {type(grads).__name__}, expected a dict")
    expect(sorted(grads) == sorted(KEYS), f"{call}: grads has keys {sorted(grads)}, expected {sorted(KEYS)}")
    want = _numeric(x, p, mask, dout)
    q_only = {"dx": lambda: numeric_grad(lambda a: np.sum(_mha_q_only(a, x, p, mask) * dout), x)}
    for name, got in [("dx", dx)] + [(key, grads[key]) for key in KEYS]:
        if dtype != np.float64:
            _expect_dtype(call, got, dtype, name)
        expect_close(
            Call(got, str(call)),
            want[name],
            rtol=rtol,
            atol=atol,
            what=name,
            mistakes={"keep only the gradient through the queries (x feeds Q, K and V)": q_only[name]}
            if name == "dx"
            else None,
        )


def _mha_q_only(a, x, p, mask):
    """The layer with a in the queries' place and x (a constant) in the keys' and values'."""
    n, t, d = x.shape
    Q = a @ p["W_q"] + p["b_q"]
    K, V = x @ p["W_k"] + p["b_k"], x @ p["W_v"] + p["b_v"]
    allowed = np.broadcast_to(np.ones((t, t), bool) if mask is None else mask, (n, t, t))
    merged = np.zeros((n, t, d))
    for i in range(H):
        cols = slice(i * DH, (i + 1) * DH)
        merged[..., cols] = (
            _softmax_rows(Q[..., cols] @ K[..., cols].swapaxes(1, 2) / np.sqrt(DH), allowed) @ V[..., cols]
        )
    return merged @ p["W_o"] + p["b_o"]


@exercise("mha_backward")
def test_mha_backward_matches_central_differences(impl):
    _check_backward(impl, rng(30).normal(size=(N, T, D)), _params(31), np.tri(T, dtype=bool), 32)


@exercise("mha_backward")
def test_mha_backward_with_a_padding_mask(impl):
    pad = (np.arange(T) < np.array([4, 2])[:, None])[:, None, :]
    _check_backward(impl, rng(33).normal(size=(N, T, D)), _params(34), pad, 35)


@exercise("mha_backward")
def test_mha_backward_without_a_mask(impl):
    _check_backward(impl, rng(39).normal(size=(3, 4, D)), _params(40), None, 41)


@exercise("mha_backward")
def test_mha_backward_keeps_float32(impl):
    _check_backward(
        impl, rng(36).normal(size=(N, T, D)), _params(37), None, 38, rtol=1e-4, atol=1e-5, dtype=np.float32
    )
