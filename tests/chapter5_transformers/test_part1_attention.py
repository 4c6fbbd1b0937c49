"""Tests for chapter 5, part 1: causal and padding masks, the masked softmax, Bahdanau's
additive scores (forward and backward) and attention, Luong's multiplicative scores, and
scaled dot-product attention forward and backward.

Expected values come from the definitions evaluated one query (or one pair) at a time in
this file, and the backward passes are checked against central differences of this file's
forward passes for L = sum(dout * out) with a random dout. Sizes are never square where they
need not be (queries T, keys S, widths d_k and d_v, leading axes all different), and the
masks used leave some query with no key, so a forgotten mask, a mask on the wrong side of
the softmax or a fully masked row that turns into NaN shows.
"""

import numpy as np

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


def _softmax_rows(s, allowed=None):
    """Softmax of each row over its allowed entries, one row at a time; 0 where not allowed
    and on a row with nothing allowed."""
    s = np.asarray(s, dtype=np.float64)
    allowed = np.ones(s.shape, dtype=bool) if allowed is None else np.broadcast_to(allowed, s.shape)
    out = np.zeros_like(s)
    for idx in np.ndindex(s.shape[:-1]):
        row, ok = s[idx], allowed[idx]
        if ok.any():
            e = np.exp(row[ok] - row[ok].max())
            out[idx][ok] = e / e.sum()
    return out


def _plain_softmax(s, axis=-1):
    e = np.exp(s - s.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


def _attention(q, k, v, mask=None, scale=None):
    """out[..., t] = sum_s A[..., t, s] v[..., s], A the masked softmax of q_t . k_s * scale."""
    scale = 1 / np.sqrt(q.shape[-1]) if scale is None else scale
    scores = np.einsum("...td,...sd->...ts", q, k) * scale
    allowed = None if mask is None else np.broadcast_to(mask, scores.shape)
    return np.einsum("...ts,...sd->...td", _softmax_rows(scores, allowed), v)


def _expect_dtype(call, value, dtype, what):
    expect(
        getattr(value, "dtype", None) == dtype,
        f"{call}: {what} has dtype {getattr(value, 'dtype', None)}; float32 inputs must give {dtype}",
    )


# --- causal_mask ------------------------------------------------------------------------------


@exercise("causal_mask")
def test_causal_mask_is_lower_triangular(impl):
    for T in (5, 2, 1):
        want = np.array([[s <= t for s in range(T)] for t in range(T)], dtype=bool)
        expect_equal(
            run(impl.causal_mask, T),
            want,
            what="the mask",
            mistakes={
                "let position t see position t + 1 (the diagonal above too)": np.tri(T, k=1, dtype=bool),
                "hide the diagonal (position t cannot see itself)": np.tri(T, k=-1, dtype=bool),
                "keep the upper triangle (the future) instead of the lower one (the past)": np.tri(
                    T, dtype=bool
                ).T,
                "mark the positions to hide (True = masked) instead of the ones to keep": ~want,
            },
        )


@exercise("causal_mask")
def test_causal_mask_is_boolean(impl):
    call = run(impl.causal_mask, 4)
    _expect_dtype(call, call.value, np.bool_, "the mask")


@exercise("causal_mask")
def test_causal_mask_row_t_sees_t_plus_one_keys(impl):
    call = run(impl.causal_mask, 7)
    got = np.asarray(call.value)
    expect(got.shape == (7, 7), f"{call}: shape {got.shape}, expected (7, 7)")
    expect_equal(
        Call(got.sum(axis=1), f"{call}.sum(axis=1)"),
        np.arange(1, 8),
        what="the number of keys each query may see (query t sees keys 0..t)",
        mistakes={"hide the diagonal (position t cannot see itself)": np.arange(7)},
    )


# --- padding_mask -----------------------------------------------------------------------------


@exercise("padding_mask")
def test_padding_mask_marks_the_real_tokens(impl):
    lengths, S = np.array([3, 6, 1, 0]), 6
    want = np.array([[[s < n for s in range(S)]] for n in lengths], dtype=bool)
    expect_equal(
        run(impl.padding_mask, lengths, S),
        want,
        what="the mask",
        mistakes={
            "keep one position too many (s <= length)": np.arange(S) <= lengths[:, None, None],
            "keep one position too few (s < length - 1)": np.arange(S) < lengths[:, None, None] - 1,
            "mark the padding (True = masked) instead of the real tokens": ~want,
            "leave out the middle axis of length 1 (shape (N, S))": want[:, 0],
        },
    )


@exercise("padding_mask")
def test_padding_mask_is_boolean_and_broadcasts(impl):
    call = run(impl.padding_mask, np.array([2, 5, 4]), 5)
    got = call.value
    _expect_dtype(call, got, np.bool_, "the mask")
    expect(
        getattr(got, "shape", None) == (3, 1, 5),
        f"{call}: shape {getattr(got, 'shape', None)}, expected (N, 1, S) = (3, 1, 5)",
    )


@exercise("padding_mask")
def test_padding_mask_full_and_empty_sequences(impl):
    lengths, S = np.array([4, 0, 2]), 4
    want = np.array([[[True] * 4], [[False] * 4], [[True, True, False, False]]])
    expect_equal(run(impl.padding_mask, lengths, S), want, what="the mask (lengths 4, 0 and 2)")


# --- masked_softmax ---------------------------------------------------------------------------


def _mask_with_an_empty_row(shape, seed):
    allowed = rng(seed).random(shape) < 0.6
    allowed[..., 0, :] = False  # the first query of every batch may attend to nothing
    allowed[..., 1, :] = True
    return allowed


@exercise("masked_softmax")
def test_masked_softmax_without_mask_is_the_softmax_of_each_row(impl):
    scores = rng(10).normal(size=(2, 3, 5)) * 2
    expect_close(
        run(impl.masked_softmax, scores),
        _softmax_rows(scores),
        what="the weights",
        mistakes={
            "take the softmax over the queries (axis -2) instead of the keys": _plain_softmax(scores, -2)
        },
    )


@exercise("masked_softmax")
def test_masked_softmax_gives_masked_keys_no_weight(impl):
    scores = rng(11).normal(size=(2, 4, 5)) * 2
    allowed = rng(12).random((2, 4, 5)) < 0.6
    allowed[..., 0] = True  # every row keeps at least one key here
    p = _plain_softmax(scores)
    expect_close(
        run(impl.masked_softmax, scores, allowed),
        _softmax_rows(scores, allowed),
        what="the weights",
        mistakes={
            "apply the mask after the softmax (zeroing masked weights without renormalising)": p * allowed,
            "fill the masked scores with 0 instead of -inf": _softmax_rows(np.where(allowed, scores, 0.0)),
            "treat True as masked instead of as allowed": _softmax_rows(scores, ~allowed),
            "ignore the mask": p,
        },
    )


@exercise("masked_softmax")
def test_masked_softmax_broadcasts_causal_and_padding_masks(impl):
    scores = rng(13).normal(size=(3, 4, 4))
    causal = np.tri(4, dtype=bool)
    expect_close(
        run(impl.masked_softmax, scores, causal), _softmax_rows(scores, causal), what="weights, causal mask"
    )
    pad = (np.arange(4) < np.array([4, 2, 1])[:, None])[:, None, :]  # (N, 1, S)
    expect_close(
        run(impl.masked_softmax, scores, pad), _softmax_rows(scores, pad), what="weights, padding mask"
    )


@exercise("masked_softmax")
def test_masked_softmax_fully_masked_row_gives_zeros(impl):
    scores = rng(14).normal(size=(2, 3, 4))
    allowed = _mask_with_an_empty_row(scores.shape, 15)
    call = run_without_warnings(impl.masked_softmax, scores, allowed)
    n_keys = allowed.sum(axis=-1, keepdims=True)
    uniform_on_empty = np.where(n_keys == 0, 1 / scores.shape[-1], _softmax_rows(scores, allowed))
    expect_close(
        call,
        _softmax_rows(scores, allowed),
        what="the weights (a query with no allowed key must get 0 everywhere)",
        mistakes={
            "fill masked scores with a large negative number (a fully masked row turns uniform)": (
                uniform_on_empty
            )
        },
    )


@exercise("masked_softmax")
def test_masked_softmax_is_stable_for_large_scores(impl):
    scores = rng(16).normal(size=(2, 3, 5)) * 1000
    allowed = rng(17).random((2, 3, 5)) < 0.7
    allowed[..., 2] = True
    expect_close(run_without_warnings(impl.masked_softmax, scores, allowed), _softmax_rows(scores, allowed))
    # a masked score far above the allowed ones must not decide the shift either (computing
    # exp of a masked score and discarding it is allowed here, so warnings are not errors)
    scores = np.array([[[1e4, 0.0, 1.0], [-1e4, -1e4 - 1.0, 3.0]]])
    allowed = np.array([[[False, True, True], [True, True, False]]])
    with np.errstate(over="ignore", under="ignore"):
        call = run(impl.masked_softmax, scores, allowed)
    expect_close(
        call,
        _softmax_rows(scores, allowed),
        what="weights when masked scores are huge",
    )


@exercise("masked_softmax")
def test_masked_softmax_keeps_float32(impl):
    scores = rng(18).normal(size=(2, 3, 4)).astype(np.float32)
    allowed = _mask_with_an_empty_row(scores.shape, 19)
    call = run(impl.masked_softmax, scores, allowed)
    _expect_dtype(call, call.value, np.float32, "the weights")
    expect_close(call, _softmax_rows(scores, allowed), rtol=1e-4, atol=1e-6)


# --- additive_scores --------------------------------------------------------------------------


def _additive_args(seed, N=2, T=3, S=4, d_q=5, d_k=6, A=7):
    g = rng(seed)
    return (
        g.normal(size=(N, T, d_q)),
        g.normal(size=(N, S, d_k)),
        g.normal(size=(d_q, A)) * 0.5,
        g.normal(size=(d_k, A)) * 0.5,
        g.normal(size=A),
    )


def _additive(q, k, W_q, W_k, v_a, act=np.tanh):
    N, T, S = q.shape[0], q.shape[1], k.shape[1]
    out = np.zeros((N, T, S))
    for n in range(N):
        for t in range(T):
            for s in range(S):
                out[n, t, s] = v_a @ act(q[n, t] @ W_q + k[n, s] @ W_k)
    return out


@exercise("additive_scores")
def test_additive_scores_match_the_definition(impl):
    q, k, W_q, W_k, v_a = _additive_args(20)
    pq, pk = q @ W_q, k @ W_k
    expect_close(
        run(impl.additive_scores, q, k, W_q, W_k, v_a),
        _additive(q, k, W_q, W_k, v_a),
        what="the scores",
        mistakes={
            "leave out the tanh": lambda: _additive(q, k, W_q, W_k, v_a, act=lambda a: a),
            "use the sigmoid instead of tanh": lambda: _additive(
                q, k, W_q, W_k, v_a, act=lambda a: 1 / (1 + np.exp(-a))
            ),
            "apply v_a before the tanh": lambda: (
                np.tanh(pq @ v_a)[:, :, None] + np.tanh(pk @ v_a)[:, None, :]
            ),
        },
    )


@exercise("additive_scores")
def test_additive_scores_by_hand(impl):
    # one query, two keys, d_att = 2: scores = v_a . tanh([1, 0] + k_s @ W_k)
    q = np.array([[[1.0, 2.0]]])
    k = np.array([[[0.0], [1.0]]])
    W_q = np.array([[1.0, 0.0], [0.0, 0.0]])
    W_k = np.array([[0.0, 1.0]])
    v_a = np.array([2.0, -1.0])
    want = np.array([[[2 * np.tanh(1.0), 2 * np.tanh(1.0) - np.tanh(1.0)]]])
    expect_close(run(impl.additive_scores, q, k, W_q, W_k, v_a), want, what="the scores")


@exercise("additive_scores")
def test_additive_scores_keep_float32(impl):
    args = [a.astype(np.float32) for a in _additive_args(21)]
    call = run(impl.additive_scores, *args)
    _expect_dtype(call, call.value, np.float32, "the scores")
    expect_close(call, _additive(*args), rtol=1e-4, atol=1e-5)


# --- additive_scores_backward -----------------------------------------------------------------


def _additive_grads(dscores, q, k, W_q, W_k, v_a, dtanh=lambda h: 1 - h**2, dv_from_pre=False):
    """The gradients in closed form, pair by pair; the keywords make the classic wrong versions."""
    dq, dk = np.zeros_like(q), np.zeros_like(k)
    dW_q, dW_k, dv_a = np.zeros_like(W_q), np.zeros_like(W_k), np.zeros_like(v_a)
    for n in range(q.shape[0]):
        for t in range(q.shape[1]):
            for s in range(k.shape[1]):
                a = q[n, t] @ W_q + k[n, s] @ W_k
                h = np.tanh(a)
                dv_a += dscores[n, t, s] * (a if dv_from_pre else h)
                da = dscores[n, t, s] * v_a * dtanh(h)
                dq[n, t] += W_q @ da
                dk[n, s] += W_k @ da
                dW_q += np.outer(q[n, t], da)
                dW_k += np.outer(k[n, s], da)
    return dq, dk, dW_q, dW_k, dv_a


def _check_additive_grads(impl, args, dscores):
    q, k, W_q, W_k, v_a = args
    call = run(impl.additive_scores_backward, dscores, *args)
    names = ("dq", "dk", "dW_q", "dW_k", "dv_a")
    got = expect_parts(call, names, [a.shape for a in args])
    wants = numeric_grads(lambda *a: float(np.sum(_additive(*a) * dscores)), args)
    for i, name in enumerate(names):
        expect_close(
            Call(got[i], str(call)),
            wants[i],
            rtol=1e-6,
            atol=1e-8,
            what=name,
            mistakes={
                "forget tanh's derivative": lambda i=i: _additive_grads(dscores, *args, dtanh=lambda h: 1.0)[
                    i
                ],
                "use 1 - h instead of 1 - h^2 as tanh's derivative": lambda i=i: _additive_grads(
                    dscores, *args, dtanh=lambda h: 1 - h
                )[i],
                "take dv_a from the pre-activations instead of their tanh": lambda i=i: _additive_grads(
                    dscores, *args, dv_from_pre=True
                )[i],
            },
        )


@exercise("additive_scores_backward")
def test_additive_scores_backward_matches_central_differences(impl):
    args = _additive_args(50, N=2, T=3, S=4, d_q=2, d_k=3, A=5)
    _check_additive_grads(impl, args, rng(51).normal(size=(2, 3, 4)))


@exercise("additive_scores_backward")
def test_additive_scores_backward_one_query_many_keys(impl):
    args = _additive_args(52, N=3, T=1, S=5, d_q=4, d_k=2, A=3)
    _check_additive_grads(impl, args, rng(53).normal(size=(3, 1, 5)))


@exercise("additive_scores_backward")
def test_additive_scores_backward_keeps_float32(impl):
    args = _additive_args(54)
    dscores = rng(55).normal(size=(2, 3, 4))
    call = run(
        impl.additive_scores_backward, dscores.astype(np.float32), *(a.astype(np.float32) for a in args)
    )
    names = ("dq", "dk", "dW_q", "dW_k", "dv_a")
    got = expect_parts(call, names, [a.shape for a in args])
    for name, g, w in zip(names, got, _additive_grads(dscores, *args)):
        _expect_dtype(call, g, np.float32, name)
        expect_close(Call(g, str(call)), w, rtol=1e-4, atol=1e-5, what=name)


# --- additive_attention -----------------------------------------------------------------------


def _check_additive_attention(impl, args, v, mask, what):
    q, k, W_q, W_k, v_a = args
    scores = _additive(q, k, W_q, W_k, v_a)
    allowed = None if mask is None else np.broadcast_to(mask, scores.shape)
    A = _softmax_rows(scores, allowed)
    call = run(impl.additive_attention, q, k, v, W_q, W_k, v_a, *([] if mask is None else [mask]))
    got = expect_parts(call, ("context", "weights"), [(q.shape[0], q.shape[1], v.shape[-1]), scores.shape])
    expect_close(
        Call(got[1], str(call)),
        A,
        what=f"weights, {what}",
        mistakes={
            "take the softmax over the queries (axis -2) instead of the keys": lambda: _plain_softmax(
                scores, -2
            ),
            "scale the scores by 1/sqrt(d_att) (additive scores are not scaled)": lambda: _softmax_rows(
                scores / np.sqrt(v_a.shape[0]), allowed
            ),
            "ignore the mask": lambda: _softmax_rows(scores),
        },
    )
    expect_close(
        Call(got[0], str(call)),
        A @ v,
        what=f"context, {what}",
        mistakes={"weight the keys instead of the values": lambda: A @ k if k.shape == v.shape else None},
    )


@exercise("additive_attention")
def test_additive_attention_weights_and_context(impl):
    args = _additive_args(25, S=4, d_k=6)
    v = rng(26).normal(size=(2, 4, 3))
    _check_additive_attention(impl, args, v, None, "no mask")


@exercise("additive_attention")
def test_additive_attention_with_a_padding_mask(impl):
    args = _additive_args(27, S=5, d_k=4)
    v = rng(28).normal(size=(2, 5, 4))  # values as wide as the keys: weighting the keys would fit
    pad = (np.arange(5) < np.array([5, 2])[:, None])[:, None, :]
    _check_additive_attention(impl, args, v, pad, "padding mask (N, 1, S)")


@exercise("additive_attention")
def test_additive_attention_keeps_float32(impl):
    args = [a.astype(np.float32) for a in _additive_args(29)]
    v = rng(30).normal(size=(2, 4, 3)).astype(np.float32)
    call = run(impl.additive_attention, args[0], args[1], v, *args[2:])
    got = expect_parts(call, ("context", "weights"), [(2, 3, 3), (2, 3, 4)])
    _expect_dtype(call, got[0], np.float32, "context")
    _expect_dtype(call, got[1], np.float32, "weights")
    A = _softmax_rows(_additive(*args))
    expect_close(Call(got[0], str(call)), A @ v, rtol=1e-4, atol=1e-5, what="context")


# --- luong_scores -----------------------------------------------------------------------------


@exercise("luong_scores")
def test_luong_dot_scores(impl):
    g = rng(22)
    q, k = g.normal(size=(2, 3, 5)), g.normal(size=(2, 4, 5))
    want = np.array([[[q[n, t] @ k[n, s] for s in range(4)] for t in range(3)] for n in range(2)])
    expect_close(
        run(impl.luong_scores, q, k),
        want,
        what="the dot scores",
        mistakes={"scale by 1/sqrt(d) (Luong's scores are not scaled)": want / np.sqrt(5)},
    )


@exercise("luong_scores")
def test_luong_general_scores(impl):
    g = rng(23)
    q, k, W_a = g.normal(size=(2, 3, 5)), g.normal(size=(2, 4, 6)), g.normal(size=(5, 6))
    want = np.array([[[q[n, t] @ W_a @ k[n, s] for s in range(4)] for t in range(3)] for n in range(2)])
    expect_close(run(impl.luong_scores, q, k, W_a), want, what="the general scores")
    # a square W_a: W_a and its transpose fit the same shapes, so only the values tell
    k2, W2 = g.normal(size=(2, 4, 5)), g.normal(size=(5, 5))
    want2 = np.einsum("ntd,de,nse->nts", q, W2, k2)
    expect_close(
        run(impl.luong_scores, q, k2, W2),
        want2,
        what="the general scores (square W_a)",
        mistakes={"multiply by W_a transposed": np.einsum("ntd,ed,nse->nts", q, W2, k2)},
    )


@exercise("luong_scores")
def test_luong_scores_keep_float32(impl):
    g = rng(24)
    q, k, W_a = (g.normal(size=s).astype(np.float32) for s in ((2, 3, 5), (2, 4, 6), (5, 6)))
    call = run(impl.luong_scores, q, k, W_a)
    _expect_dtype(call, call.value, np.float32, "the scores")
    expect_close(call, np.einsum("ntd,de,nse->nts", q, W_a, k), rtol=1e-4, atol=1e-5)


# --- attention_forward ------------------------------------------------------------------------

LEAD, T, S, DK, DV = (2, 3), 4, 5, 6, 7


def _qkv(seed, lead=LEAD, t=T, s=S, dk=DK, dv=DV, dtype=np.float64):
    g = rng(seed)
    return tuple(g.normal(size=(*lead, n, d)).astype(dtype) for n, d in ((t, dk), (s, dk), (s, dv)))


def _check_out(impl, q, k, v, mask, what, extra=None):
    args = (q, k, v) if mask is None else (q, k, v, mask)
    call = run(impl.attention_forward, *args)
    got = expect_parts(call, ("out", "cache"), [q.shape[:-1] + v.shape[-1:], None])
    d = q.shape[-1]
    mistakes = {
        "scale by d_k instead of sqrt(d_k)": lambda: _attention(q, k, v, mask, scale=1 / d),
        "forget to scale the scores": lambda: _attention(q, k, v, mask, scale=1.0),
        "scale by sqrt(d_v) instead of sqrt(d_k)": lambda: _attention(
            q, k, v, mask, 1 / np.sqrt(v.shape[-1])
        ),
    }
    expect_close(
        Call(got[0], str(call)), _attention(q, k, v, mask), what=what, mistakes=mistakes | (extra or {})
    )


@exercise("attention_forward")
def test_attention_forward_matches_the_definition(impl):
    q, k, v = _qkv(30)
    scores = q @ k.swapaxes(-1, -2) / np.sqrt(DK)
    _check_out(
        impl,
        q,
        k,
        v,
        None,
        "out",
        {"take the softmax over the queries (axis -2)": lambda: _plain_softmax(scores, -2) @ v},
    )


@exercise("attention_forward")
def test_attention_forward_with_a_mask(impl):
    q, k, v = _qkv(31)
    allowed = _mask_with_an_empty_row((*LEAD, T, S), 32)
    scores = q @ k.swapaxes(-1, -2) / np.sqrt(DK)
    _check_out(
        impl,
        q,
        k,
        v,
        allowed,
        "out (a query with no allowed key gives 0)",
        {
            "apply the mask after the softmax (zeroing masked weights without renormalising)": lambda: (
                (_plain_softmax(scores) * allowed) @ v
            ),
            "ignore the mask": lambda: _attention(q, k, v),
            "treat True as masked instead of as allowed": lambda: _attention(q, k, v, ~allowed),
        },
    )


@exercise("attention_forward")
def test_attention_forward_causal_and_padding_masks(impl):
    q, k, v = _qkv(33, lead=(3,), t=5, s=5)
    causal = np.tri(5, dtype=bool)
    _check_out(impl, q, k, v, causal, "out with a causal mask (5, 5)")
    pad = (np.arange(5) < np.array([5, 2, 3])[:, None])[:, None, :]
    _check_out(impl, q, k, v, pad, "out with a padding mask (N, 1, S)")


@exercise("attention_forward")
def test_attention_forward_causal_output_ignores_the_future(impl):
    q, k, v = _qkv(34, lead=(2,), t=5, s=5)
    causal = np.tri(5, dtype=bool)
    out1 = impl.attention_forward(q, k, v, causal)[0]
    k2, v2 = k.copy(), v.copy()
    k2[:, 3:], v2[:, 3:] = k2[:, 3:] + 5.0, v2[:, 3:] - 3.0  # change positions 3 and 4 only
    out2 = impl.attention_forward(q, k2, v2, causal)[0]
    expect_close(
        Call(out2[:, :3], "attention_forward(q, k, v, causal) with keys and values 3, 4 changed: out[:, :3]"),
        out1[:, :3],
        what="the outputs of positions 0-2 must not depend on later positions",
    )


@exercise("attention_forward")
def test_attention_forward_keeps_float32(impl):
    q, k, v = _qkv(35, dtype=np.float32)
    allowed = _mask_with_an_empty_row((*LEAD, T, S), 36)
    call = run(impl.attention_forward, q, k, v, allowed)
    got = expect_parts(call, ("out", "cache"), [(*LEAD, T, DV), None])
    _expect_dtype(call, got[0], np.float32, "out")
    expect_close(Call(got[0], str(call)), _attention(q, k, v, allowed), rtol=1e-4, atol=1e-5, what="out")


# --- attention_backward -----------------------------------------------------------------------


def _attention_grads(q, k, v, mask, dout, scale=None, full_softmax=True):
    """The gradients in closed form; the flags make the classic wrong versions."""
    scale = 1 / np.sqrt(q.shape[-1]) if scale is None else scale
    scores = q @ k.swapaxes(-1, -2) / np.sqrt(q.shape[-1])
    A = _softmax_rows(scores, None if mask is None else np.broadcast_to(mask, scores.shape))
    dA = dout @ v.swapaxes(-1, -2)
    dS = A * (dA - (dA * A).sum(-1, keepdims=True)) if full_softmax else A * dA
    return dS @ k * scale, dS.swapaxes(-1, -2) @ q * scale, A.swapaxes(-1, -2) @ dout


def _check_grads(impl, q, k, v, mask, seed):
    dout = rng(seed).normal(size=q.shape[:-1] + v.shape[-1:])
    _, cache = impl.attention_forward(q, k, v, mask)
    call = run(impl.attention_backward, dout, cache)
    got = expect_parts(call, ("dq", "dk", "dv"), [q.shape, k.shape, v.shape])
    args = [q, k, v]
    names = ("dq", "dk", "dv")
    wants = numeric_grads(lambda *a: float(np.sum(_attention(*a, mask) * dout)), args)
    for i, name in enumerate(names):
        expect_close(
            Call(got[i], str(call)),
            wants[i],
            rtol=1e-6,
            atol=1e-8,
            what=name,
            mistakes={
                "forget the 1/sqrt(d_k) scale in the backward pass": lambda i=i: _attention_grads(
                    q, k, v, mask, dout, scale=1.0
                )[i],
                "keep only the softmax Jacobian's diagonal (dS = A * dA)": lambda i=i: _attention_grads(
                    q, k, v, mask, dout, full_softmax=False
                )[i],
            },
        )


@exercise("attention_backward")
def test_attention_backward_matches_central_differences(impl):
    q, k, v = _qkv(40, lead=(2,), t=3, s=4, dk=5, dv=6)
    _check_grads(impl, q, k, v, None, 41)


@exercise("attention_backward")
def test_attention_backward_with_a_mask(impl):
    q, k, v = _qkv(42, lead=(2, 2), t=3, s=4, dk=2, dv=3)
    allowed = _mask_with_an_empty_row((2, 2, 3, 4), 43)
    _check_grads(impl, q, k, v, allowed, 44)


@exercise("attention_backward")
def test_attention_backward_causal(impl):
    q, k, v = _qkv(45, lead=(3,), t=4, s=4, dk=3, dv=2)
    _check_grads(impl, q, k, v, np.tri(4, dtype=bool), 46)


@exercise("attention_backward")
def test_attention_backward_keeps_float32(impl):
    q, k, v = _qkv(47, lead=(2,), t=3, s=4, dk=5, dv=6)
    mask = _mask_with_an_empty_row((2, 3, 4), 48)
    dout = rng(49).normal(size=(2, 3, 6))
    _, cache = impl.attention_forward(*(a.astype(np.float32) for a in (q, k, v)), mask)
    call = run(impl.attention_backward, dout.astype(np.float32), cache)
    got = expect_parts(call, ("dq", "dk", "dv"), [q.shape, k.shape, v.shape])
    wants = _attention_grads(q, k, v, mask, dout)
    for name, g, w in zip(("dq", "dk", "dv"), got, wants):
        _expect_dtype(call, g, np.float32, name)
        expect_close(Call(g, str(call)), w, rtol=1e-4, atol=1e-5, what=name)
