"""Tests for chapter 5, part 3: sinusoidal positions and the shift matrix that moves them,
learned token and position embeddings (forward and backward), and rotary position
embeddings (RoPE) forward and backward.

Expected values come from the definitions evaluated one entry or one pair at a time with
Python floats (math.sin, math.cos) in this file; the embedding backward from loops that add
each token's gradient into its row one at a time; the RoPE backward from central
differences of this file's forward; and from properties: PE[t + k] = PE[t] @ M, a RoPE
score q_m . k_n that depends only on m - n, RoPE's backward undoing its forward. Sizes
differ on every axis (N = 2, H = 3, T = 5, d = 8, V = 7, context = 9), and the mistakes
the reading names (the halves of GPT-NeoX, the concatenated sines and cosines of
tensor2tensor, positions counted from 1, a missing 2 in the exponent, the opposite
rotation, a repeated token whose gradient is overwritten) are computed here and named
when a result matches one.
"""

import math

import numpy as np
import pytest

from grader.testkit import Call, exercise, expect, expect_close, expect_parts, numeric_grad, rng, run

N, H, T, d = 2, 3, 5, 8
V, CONTEXT, D = 7, 9, 6


def _dtype_is(call, value, dtype, name):
    expect(
        getattr(value, "dtype", None) == dtype,
        f"{call}: {name} has dtype {getattr(value, 'dtype', None)}; expected {np.dtype(dtype).name}",
    )


# --- sinusoidal positions, one entry at a time ------------------------------------------------


def _pe_loops(T, D, two=True, column_exponent=False, swap=False, halves=False, start=0):
    """PE[t, 2i] = sin(t w_i), PE[t, 2i + 1] = cos(t w_i), w_i = 10000^(-2i/D); flags for the
    wrong versions the tests name."""
    pe = np.zeros((T, D))
    for t in range(T):
        pos = t + start
        for j in range(D):
            i = j // 2
            if halves:  # sines in columns 0 .. D/2 - 1, cosines in D/2 .. D - 1
                i = j % (D // 2)
                w = 10000.0 ** (-2 * i / D)
                pe[t, j] = math.sin(pos * w) if j < D // 2 else math.cos(pos * w)
                continue
            expo = j / D if column_exponent else (2 * i / D if two else i / D)
            w = 10000.0 ** (-expo)
            first, second = (math.cos, math.sin) if swap else (math.sin, math.cos)
            pe[t, j] = first(pos * w) if j % 2 == 0 else second(pos * w)
    return pe


PE_MISTAKES = {
    "use the exponent i/D instead of 2i/D (i the pair's index)": {"two": False},
    "use the column's own index j in the exponent, 10000^(-j/D), so the cosine of a pair has another "
    "frequency than its sine": {"column_exponent": True},
    "swap sin and cos (cos in the even columns)": {"swap": True},
    "put all the sines first and all the cosines after them (tensor2tensor's layout) instead of "
    "interleaving them": {"halves": True},
    "count positions from 1 instead of 0": {"start": 1},
}


@exercise("sinusoidal_positions")
@pytest.mark.parametrize("shape", [(7, 10), (12, 4)])
def test_sinusoidal_positions_matches_definition(impl, shape):
    Tn, Dn = shape
    call = run(impl.sinusoidal_positions, Tn, Dn)
    expect_close(
        call,
        _pe_loops(Tn, Dn),
        what="PE",
        mistakes={p: (lambda w=w: _pe_loops(Tn, Dn, **w)) for p, w in PE_MISTAKES.items()},
    )
    _dtype_is(call, call.value, np.float64, "PE")


@exercise("sinusoidal_positions")
def test_sinusoidal_positions_row_zero_alternates_zero_and_one(impl):
    call = run(impl.sinusoidal_positions, 1, 6)
    expect_close(call, np.array([[0.0, 1.0, 0.0, 1.0, 0.0, 1.0]]), what="PE[0] (sin 0, cos 0, ...)")


@exercise("sinusoidal_positions")
def test_sinusoidal_positions_odd_D_raises(impl):
    try:
        got = run(impl.sinusoidal_positions, 4, 5)
    except ValueError as exc:
        expect(
            "even" in str(exc),
            f"sinusoidal_positions(T=4, D=5) raised ValueError({str(exc)!r}); say what is wrong: D must be "
            "even (check D before computing anything: NumPy's own errors do not say it)",
        )
        return
    raise AssertionError(
        f"{got}: returned shape {getattr(got.value, 'shape', None)}; expected a ValueError, since an odd "
        "D cannot be split into (sin, cos) pairs"
    )


# --- the shift matrix -------------------------------------------------------------------------


def _shift_loops(k, D, two=True, sign=1.0, transpose=False):
    M = np.zeros((D, D))
    for i in range(D // 2):
        w = 10000.0 ** (-(2 * i if two else i) / D)
        c, s = math.cos(k * w), sign * math.sin(k * w)
        block = [[c, -s], [s, c]]
        for r in range(2):
            for q in range(2):
                M[2 * i + r, 2 * i + q] = block[q][r] if transpose else block[r][q]
    return M


SHIFT_MISTAKES = {
    "transpose the blocks (the matrix for column vectors, M PE[t], not row vectors PE[t] @ M)": {
        "transpose": True
    },
    "flip the sign of the sines, which shifts by -k": {"sign": -1.0},
    "use the exponent i/D instead of 2i/D": {"two": False},
}


@exercise("sinusoidal_shift_matrix")
@pytest.mark.parametrize("k", [3, -2])
def test_sinusoidal_shift_matrix_matches_definition(impl, k):
    call = run(impl.sinusoidal_shift_matrix, k, 10)
    expect_close(
        call,
        _shift_loops(k, 10),
        what="M",
        mistakes={p: (lambda w=w: _shift_loops(k, 10, **w)) for p, w in SHIFT_MISTAKES.items()},
    )
    _dtype_is(call, call.value, np.float64, "M")


@exercise("sinusoidal_shift_matrix")
@pytest.mark.parametrize("k", [4, -3])
def test_sinusoidal_shift_matrix_moves_every_row_by_k(impl, k):
    Tn, Dn = 11, 12
    pe = _pe_loops(Tn + 4, Dn, start=-4)  # positions -4 .. Tn - 1: sin and cos extend to t < 0
    call = run(impl.sinusoidal_shift_matrix, k, Dn)
    M = call.value
    expect(getattr(M, "shape", None) == (Dn, Dn), f"{call}: returned shape {getattr(M, 'shape', None)}")
    rows = np.arange(4, 4 + Tn - 4)  # positions 0 .. Tn - 5, with t + k inside the table
    expect_close(
        Call(pe[rows] @ M, f"PE[t] @ {call}"),
        pe[rows + k],
        atol=1e-9,
        what=f"PE[t] @ M, which should be PE[t + {k}]",
        mistakes={"transpose the blocks (M PE[t] instead of PE[t] @ M)": lambda: pe[rows - k]},
    )


# --- learned embeddings -----------------------------------------------------------------------


def _tables(seed, dtype=np.float64, t=T):
    g = rng(seed)
    tokens = g.integers(0, V, size=(N, t))
    tokens[0, 1] = tokens[1, 3] = tokens[0, 4]  # a token repeated, across sequences too
    W_tok = g.normal(size=(V, D)).astype(dtype)
    W_pos = g.normal(size=(CONTEXT, D)).astype(dtype)
    return tokens, W_tok, W_pos


def _embed_loops(tokens, W_tok, W_pos, start=0, pos_by_token=False, no_pos=False):
    x = np.zeros(tokens.shape + (W_tok.shape[1],))
    for n in range(tokens.shape[0]):
        for t in range(tokens.shape[1]):
            p = 0.0 if no_pos else W_pos[tokens[n, t] if pos_by_token else t + start]
            x[n, t] = W_tok[tokens[n, t]] + p
    return x


EMBED_MISTAKES = {
    "count positions from 1 (W_pos[1:T + 1]) instead of 0": {"start": 1},
    "index W_pos by the tokens instead of by the positions": {"pos_by_token": True},
    "forget the position embeddings": {"no_pos": True},
}


@exercise("embedding_forward")
def test_embedding_forward_matches_loops(impl):
    tokens, W_tok, W_pos = _tables(1)
    call = run(impl.embedding_forward, tokens, W_tok, W_pos)
    x, _ = expect_parts(call, ("x", "cache"), [(N, T, D), None])
    expect_close(
        Call(x, str(call)),
        _embed_loops(tokens, W_tok, W_pos),
        what="x",
        mistakes={
            p: (lambda w=w: _embed_loops(tokens, W_tok, W_pos, **w)) for p, w in EMBED_MISTAKES.items()
        },
    )


@exercise("embedding_forward")
def test_embedding_forward_fills_the_whole_context(impl):
    tokens, W_tok, W_pos = _tables(2, t=CONTEXT)
    call = run(impl.embedding_forward, tokens, W_tok, W_pos)
    x, _ = expect_parts(call, ("x", "cache"), [(N, CONTEXT, D), None])
    expect_close(Call(x, str(call)), _embed_loops(tokens, W_tok, W_pos), what=f"x (T = context = {CONTEXT})")


@exercise("embedding_forward")
def test_embedding_forward_longer_than_the_context_raises(impl):
    tokens, W_tok, W_pos = _tables(3, t=CONTEXT + 1)
    text = f"embedding_forward(tokens of shape ({N}, {CONTEXT + 1}), W_tok, W_pos of shape ({CONTEXT}, {D}))"
    try:
        impl.embedding_forward(tokens, W_tok, W_pos)
    except ValueError as exc:
        message = str(exc)
        expect(
            "context" in message.lower() and str(CONTEXT) in message and str(CONTEXT + 1) in message,
            f"{text} raised ValueError({message!r}); say what is wrong, with the word 'context': the "
            f"sequence length {CONTEXT + 1} and the context {CONTEXT} (raise it yourself before indexing)",
        )
        return
    raise AssertionError(
        f"{text} returned without an error; expected a ValueError, since a sequence of {CONTEXT + 1} "
        f"tokens has no learned position for t = {CONTEXT} (W_pos has {CONTEXT} rows)"
    )


@exercise("embedding_forward")
def test_embedding_forward_keeps_float32(impl):
    tokens, W_tok, W_pos = _tables(4, np.float32)
    call = run(impl.embedding_forward, tokens, W_tok, W_pos)
    x, _ = expect_parts(call, ("x", "cache"), [(N, T, D), None])
    _dtype_is(call, x, np.float32, "x")
    expect_close(Call(x, str(call)), _embed_loops(tokens, W_tok, W_pos), rtol=1e-4, atol=1e-5, what="x")


def _embed_backward_loops(dx, tokens, overwrite=False, one_sequence=False):
    dW_tok, dW_pos = np.zeros((V, D)), np.zeros((CONTEXT, D))
    for n in range(dx.shape[0]):
        for t in range(dx.shape[1]):
            if overwrite:
                dW_tok[tokens[n, t]] = dx[n, t]
            else:
                dW_tok[tokens[n, t]] += dx[n, t]
            if not one_sequence or n == 0:
                dW_pos[t] += dx[n, t]
    return dW_tok, dW_pos


@exercise("embedding_backward")
def test_embedding_backward_accumulates_repeated_tokens(impl):
    tokens, W_tok, W_pos = _tables(5)
    dx = rng(6).normal(size=(N, T, D))
    _, cache = impl.embedding_forward(tokens, W_tok, W_pos)
    call = run(impl.embedding_backward, dx, cache)
    got = expect_parts(call, ("dW_tok", "dW_pos"), [(V, D), (CONTEXT, D)])
    want = _embed_backward_loops(dx, tokens)
    wrong_tok = {
        "assign dW_tok[tokens] = dx instead of adding (a repeated token keeps only one of its gradients)": (
            lambda: _embed_backward_loops(dx, tokens, overwrite=True)[0]
        ),
    }
    wrong_pos = {
        "keep only the first sequence's gradient instead of summing over the batch": lambda: (
            _embed_backward_loops(dx, tokens, one_sequence=True)[1]
        )
    }
    expect_close(Call(got[0], str(call)), want[0], what="dW_tok", mistakes=wrong_tok)
    expect_close(
        Call(got[1], str(call)), want[1], what="dW_pos (rows T .. context - 1 are 0)", mistakes=wrong_pos
    )


@exercise("embedding_backward")
def test_embedding_backward_matches_central_differences(impl):
    tokens, W_tok, W_pos = _tables(7)
    dx = rng(8).normal(size=(N, T, D))
    _, cache = impl.embedding_forward(tokens, W_tok, W_pos)
    call = run(impl.embedding_backward, dx, cache)
    got = expect_parts(call, ("dW_tok", "dW_pos"), [(V, D), (CONTEXT, D)])
    want_tok = numeric_grad(lambda w: float(np.sum(_embed_loops(tokens, w, W_pos) * dx)), W_tok)
    want_pos = numeric_grad(lambda w: float(np.sum(_embed_loops(tokens, W_tok, w) * dx)), W_pos)
    expect_close(Call(got[0], str(call)), want_tok, rtol=1e-6, atol=1e-8, what="dW_tok")
    expect_close(Call(got[1], str(call)), want_pos, rtol=1e-6, atol=1e-8, what="dW_pos")


@exercise("embedding_backward")
def test_embedding_backward_keeps_float32(impl):
    tokens, W_tok, W_pos = _tables(9, np.float32)
    dx = rng(10).normal(size=(N, T, D)).astype(np.float32)
    _, cache = impl.embedding_forward(tokens, W_tok, W_pos)
    call = run(impl.embedding_backward, dx, cache)
    got = expect_parts(call, ("dW_tok", "dW_pos"), [(V, D), (CONTEXT, D)])
    want = _embed_backward_loops(dx.astype(np.float64), tokens)
    for name, part, w in zip(("dW_tok", "dW_pos"), got, want):
        _dtype_is(call, part, np.float32, name)
        expect_close(Call(part, str(call)), w, rtol=1e-4, atol=1e-5, what=name)


# --- RoPE ------------------------------------------------------------------------------------


def _rope_loops(x, base=10000.0, halves=False, sign=1.0, start=0, two=True):
    """Rotate pair i of position t by sign * (t + start) * base^(-2i/d), one pair at a time;
    the pairs are (2i, 2i + 1), or (i, i + d/2) with halves."""
    x = np.asarray(x, dtype=np.float64)
    Tn, dn = x.shape[-2], x.shape[-1]
    y = np.zeros_like(x)
    for idx in np.ndindex(x.shape[:-2]):
        for t in range(Tn):
            for i in range(dn // 2):
                a, b = (i, i + dn // 2) if halves else (2 * i, 2 * i + 1)
                angle = sign * (t + start) * base ** (-(2 * i if two else i) / dn)
                c, s = math.cos(angle), math.sin(angle)
                u, v = x[idx + (t, a)], x[idx + (t, b)]
                y[idx + (t, a)] = u * c - v * s
                y[idx + (t, b)] = u * s + v * c
    return y


ROPE_MISTAKES = {
    "rotate the halves (x[i], x[i + d/2]) as GPT-NeoX and LLaMA code does, instead of the interleaved "
    "pairs (x[2i], x[2i + 1])": {"halves": True},
    "rotate by -t theta_i instead of t theta_i": {"sign": -1.0},
    "count positions from 1 instead of 0": {"start": 1},
    "use theta_i = base^(-i/d) instead of base^(-2i/d)": {"two": False},
}


@exercise("rope_forward")
def test_rope_forward_matches_definition_on_heads(impl):
    x = rng(11).normal(size=(N, H, T, d))
    call = run(impl.rope_forward, x)
    expect_close(
        call,
        _rope_loops(x),
        what="y",
        mistakes={p: (lambda w=w: _rope_loops(x, **w)) for p, w in ROPE_MISTAKES.items()},
    )


@exercise("rope_forward")
def test_rope_forward_two_dimensional_and_another_base(impl):
    x = rng(12).normal(size=(6, 10))
    call = run(impl.rope_forward, x, 100.0)
    expect_close(
        call,
        _rope_loops(x, base=100.0),
        what="y (T = 6, d = 10, base = 100)",
        mistakes={"ignore base (use 10000)": lambda: _rope_loops(x)}
        | {p: (lambda w=w: _rope_loops(x, base=100.0, **w)) for p, w in ROPE_MISTAKES.items()},
    )


@exercise("rope_forward")
def test_rope_forward_scores_depend_on_distance_only(impl):
    # q at position m and k at position n, inside sequences of zeros: after RoPE, q . k is
    # the same for (m, n) = (1, 4), (3, 6) and (5, 8). Each pair is rotated by t theta_i.
    g = rng(13)
    q, k = g.normal(size=d), g.normal(size=d)
    scores = []
    for m in (1, 3, 5):
        seq = np.zeros((N, 10, d))
        seq[:, m], seq[:, m + 3] = q, k
        y = run(impl.rope_forward, seq)
        shape = getattr(y.value, "shape", None)
        expect(shape == seq.shape, f"{y}: returned shape {shape}, expected {seq.shape}")
        scores.append(float(y.value[1, m] @ y.value[1, m + 3]))
    expect_close(
        Call(np.array(scores), "rope_forward(q at m, k at m + 3) for m = 1, 3, 5"),
        np.full(3, scores[0]),
        rtol=1e-9,
        atol=1e-12,
        what="q_m . k_(m+3), which should not depend on m",
    )


@exercise("rope_forward")
def test_rope_forward_keeps_float32(impl):
    x = rng(14).normal(size=(N, T, d)).astype(np.float32)
    call = run(impl.rope_forward, x)
    _dtype_is(call, call.value, np.float32, "y")
    expect_close(call, _rope_loops(x), rtol=1e-4, atol=1e-5, what="y")


def _rope_loss_grad(x, dy, base=10000.0, **wrong):
    return numeric_grad(lambda v: float(np.sum(_rope_loops(v, base, **wrong) * dy)), x)


@exercise("rope_backward")
def test_rope_backward_matches_central_differences(impl):
    g = rng(15)
    x, dy = g.normal(size=(N, 4, 6)), g.normal(size=(N, 4, 6))
    call = run(impl.rope_backward, dy)
    expect_close(
        call,
        _rope_loss_grad(x, dy),
        rtol=1e-6,
        atol=1e-8,
        what="dx",
        mistakes={
            "rotate dy by +t theta_i (the forward's rotation) instead of by -t theta_i (its transpose)": (
                lambda: _rope_loops(dy)
            ),
            "rotate the halves (x[i], x[i + d/2]) instead of the interleaved pairs": lambda: _rope_loops(
                dy, halves=True, sign=-1.0
            ),
        },
    )


@exercise("rope_backward")
def test_rope_backward_undoes_the_forward_with_another_base(impl):
    x = rng(16).normal(size=(H, 7, 10))
    y = _rope_loops(x, base=500.0)
    call = run(impl.rope_backward, y, 500.0)
    expect_close(
        call,
        x,
        rtol=1e-9,
        atol=1e-12,
        what="rope_backward(rope_forward(x)), which should be x (a rotation's transpose is its inverse)",
        mistakes={"ignore base (use 10000)": lambda: _rope_loops(y, sign=-1.0)},
    )


@exercise("rope_backward")
def test_rope_backward_keeps_float32(impl):
    dy = rng(17).normal(size=(N, H, T, d)).astype(np.float32)
    call = run(impl.rope_backward, dy)
    _dtype_is(call, call.value, np.float32, "dx")
    expect_close(call, _rope_loops(dy, sign=-1.0), rtol=1e-4, atol=1e-5, what="dx")
