"""Tests for chapter 5, part 7: a KV cache for the GPT of part 5, whose incremental logits
must equal those of the full recomputation at every position, and greedy generation with it.

Expected values come from this file: a GPT written out here head by head over the WHOLE
sequence (no cache), whose last rows the cached computation must reproduce, whatever the
chunks the sequence is fed in (a prompt, then one token at a time, then several). The wrong
versions the tests name are written the same way: new tokens placed at positions 0.. instead
of after the cached ones, a cache that drops its first position, a mask that ignores the
cached keys. Sizes are never square: N, T, D, H, V and the context all differ.
"""

import math

import numpy as np
import pytest

from grader.testkit import Call, exercise, expect, expect_close, expect_equal, rng, run

# ---------------------------------------------------------------------------------------------
# The model written out, over the whole sequence


def _ln(x, p, eps=1e-5):
    mu = x.mean(axis=-1, keepdims=True)
    var = ((x - mu) ** 2).mean(axis=-1, keepdims=True)
    return (x - mu) / np.sqrt(var + eps) * p["gamma"] + p["beta"]


def _gelu(x):
    return 0.5 * x * (1 + np.tanh(math.sqrt(2 / math.pi) * (x + 0.044715 * x**3)))


def _heads(a, H):
    """(N, T, D) -> (N, H, T, D/H): head h takes features h*d .. (h+1)*d - 1."""
    N, T, D = a.shape
    return a.reshape(N, T, H, D // H).transpose(0, 2, 1, 3)


def _attention(x, p, H, first_key=0, allowed=None):
    """Causal multi-head self-attention over x (N, T, D), one head at a time. first_key > 0
    hides the keys before it (the WRONG cache that dropped them); `allowed` (T, T) replaces
    the causal mask (for the wrong masks)."""
    N, T, D = x.shape
    d = D // H
    q, k, v = (x @ p[f"W_{c}"] + p[f"b_{c}"] for c in "qkv")
    if allowed is None:
        allowed = np.arange(T)[None, :] <= np.arange(T)[:, None]
    allowed = allowed & (np.arange(T)[None, :] >= first_key)
    heads = []
    for h in range(H):
        s = slice(h * d, (h + 1) * d)
        scores = np.where(allowed, q[..., s] @ k[..., s].transpose(0, 2, 1) / math.sqrt(d), -np.inf)
        top = scores.max(axis=-1, keepdims=True)
        w = np.exp(scores - np.where(np.isfinite(top), top, 0))
        heads.append((w / np.maximum(w.sum(axis=-1, keepdims=True), 1e-300)) @ v[..., s])
    return np.concatenate(heads, axis=-1) @ p["W_o"] + p["b_o"]


def _block(x, p, H, **wrong):
    h = x + _attention(_ln(x, p["ln1"]), p["attn"], H, **wrong)
    m = p["mlp"]
    return h + _gelu(_ln(h, p["ln2"]) @ m["W_1"] + m["b_1"]) @ m["W_2"] + m["b_2"]


def _gpt(tokens, params, H, positions=None):
    """The logits over the whole sequence; `positions` (the rows of W_pos each token takes,
    0..T-1 by default) makes the WRONG model that restarts the positions of new tokens."""
    T = tokens.shape[1]
    x = params["W_tok"][tokens] + params["W_pos"][np.arange(T) if positions is None else positions]
    for block in params["blocks"]:
        x = _block(x, block, H)
    return _ln(x, params["ln_f"]) @ params["W_out"]


def _params(V, context, D, L, seed, scale=0.4):
    g = rng(seed)

    def ln():
        return {"gamma": 1 + 0.2 * g.normal(size=D), "beta": 0.2 * g.normal(size=D)}

    def block():
        attn = {}
        for c in "qkvo":
            attn[f"W_{c}"] = scale * g.normal(size=(D, D))
            attn[f"b_{c}"] = 0.2 * g.normal(size=D)
        mlp = {
            "W_1": scale * g.normal(size=(D, 4 * D)),
            "b_1": 0.2 * g.normal(size=4 * D),
            "W_2": 0.5 * scale * g.normal(size=(4 * D, D)),
            "b_2": 0.2 * g.normal(size=D),
        }
        return {"ln1": ln(), "attn": attn, "ln2": ln(), "mlp": mlp}

    return {
        "W_tok": g.normal(size=(V, D)),
        "W_pos": g.normal(size=(context, D)),
        "blocks": [block() for _ in range(L)],
        "ln_f": ln(),
        "W_out": g.normal(size=(D, V)),
    }


def _greedy(params, prompt, n_new, H, first_from=-1):
    """Greedy decoding by full recomputation; first_from=0 is the WRONG version that takes
    the first token from the prompt's first position instead of its last."""
    tokens = prompt
    for step in range(n_new):
        nxt = _gpt(tokens, params, H)[:, first_from if step == 0 else -1].argmax(axis=-1)
        tokens = np.concatenate([tokens, nxt[:, None]], axis=1)
    return tokens[:, prompt.shape[1] :]


def _of(call, value):
    return Call(np.asarray(value), str(call))


def _pair(call, value, what):
    expect(
        isinstance(value, tuple) and len(value) == 2,
        f"{call}: expected {what}, a tuple of two, got {type(value).__name__}",
    )
    return value


# V = 11 tokens, context 10, D = 12, H = 3 heads of 4, L = 2 blocks, N = 2 sequences
V, CONTEXT, D, H, L, N = 11, 10, 12, 3, 2, 2


# ---------------------------------------------------------------------------------------------
# cached_causal_mask


@exercise("cached_causal_mask")
def test_cached_causal_mask_by_hand(impl):
    got = run(impl.cached_causal_mask, 2, 3)
    want = np.array([[1, 1, 1, 1, 0], [1, 1, 1, 1, 1]], dtype=bool)
    expect_equal(
        got,
        want,
        mistakes={
            "ignore the cached keys (query i sees keys 0..i)": np.arange(5)[None, :] <= np.arange(2)[:, None],
            "hide the diagonal (query i may not see its own key)": np.array(
                [[1, 1, 1, 0, 0], [1, 1, 1, 1, 0]], dtype=bool
            ),
        },
    )
    expect(got.value.dtype == bool, f"{got}: dtype {got.value.dtype}, expected bool")


@exercise("cached_causal_mask")
@pytest.mark.parametrize("T_new, T_past", [(4, 0), (1, 6), (3, 5), (5, 2)])
def test_cached_causal_mask_is_the_last_rows_of_the_causal_mask(impl, T_new, T_past):
    T = T_new + T_past
    full = np.tril(np.ones((T, T), dtype=bool))
    got = run(impl.cached_causal_mask, T_new, T_past)
    expect_equal(
        got,
        full[T_past:],
        what=f"the last {T_new} rows of the causal mask of {T} positions",
        mistakes={
            "let query i see one key too far (the future)": np.tril(np.ones((T, T), dtype=bool), 1)[T_past:],
            "hide the diagonal (query i may not see its own key)": np.tril(np.ones((T, T), dtype=bool), -1)[
                T_past:
            ],
        },
    )


@exercise("cached_causal_mask")
def test_cached_causal_mask_one_new_query_sees_every_key(impl):
    # The usual step of generation: one new token reads all 6 cached keys and its own.
    got = run(impl.cached_causal_mask, 1, 6)
    expect_equal(
        got,
        np.ones((1, 7), dtype=bool),
        mistakes={"hide the diagonal (query i may not see its own key)": np.arange(7)[None, :] < 6},
    )


# ---------------------------------------------------------------------------------------------
# mha_forward_cached


def _mha_case(seed, T):
    g = rng(seed)
    p = {}
    for c in "qkvo":
        p[f"W_{c}"] = 0.5 * g.normal(size=(D, D))
        p[f"b_{c}"] = 0.3 * g.normal(size=D)
    return p, g.normal(size=(N, T, D))


@exercise("mha_forward_cached")
def test_mha_forward_cached_without_a_cache_is_causal_attention(impl):
    p, x = _mha_case(10, 5)
    got = run(impl.mha_forward_cached, x, p, H)
    out, kv = _pair(got, got.value, "(out, (k, v))")
    expect_close(_of(got, out), _attention(x, p, H), what="out")
    k, v = _pair(got, kv, "the cache (k, v)")
    expect_close(_of(got, k), _heads(x @ p["W_k"] + p["b_k"], H), what="the cached keys (N, H, T, d_head)")
    expect_close(_of(got, v), _heads(x @ p["W_v"] + p["b_v"], H), what="the cached values (N, H, T, d_head)")


@exercise("mha_forward_cached")
@pytest.mark.parametrize("T_past, T_new", [(4, 1), (3, 3)])
def test_mha_forward_cached_continues_from_the_cache(impl, T_past, T_new):
    p, x = _mha_case(11, T_past + T_new)
    _, kv = impl.mha_forward_cached(x[:, :T_past], p, H)
    got = run(impl.mha_forward_cached, x[:, T_past:], p, H, kv)
    out, (k, v) = got.value
    T = T_past + T_new
    expect_close(
        _of(got, out),
        _attention(x, p, H)[:, T_past:],
        what=f"out of the {T_new} new positions (the last rows of attention over all {T})",
        mistakes={
            "drop the first cached position": lambda: _attention(x, p, H, first_key=1)[:, T_past:],
            "ignore the cache (attend over the new keys only)": lambda: _attention(x, p, H, first_key=T_past)[
                :, T_past:
            ],
            "let every new query see every new key (no causal mask among them)": lambda: _attention(
                x, p, H, allowed=np.tril(np.ones((T, T), dtype=bool), T_new - 1)
            )[:, T_past:],
        },
    )
    expect_close(
        _of(got, k),
        _heads(x @ p["W_k"] + p["b_k"], H),
        what=f"the keys of all {T} positions (N, H, T, d_head)",
    )
    expect_close(_of(got, v), _heads(x @ p["W_v"] + p["b_v"], H), what=f"the values of all {T} positions")


@exercise("mha_forward_cached")
def test_mha_forward_cached_keeps_float32(impl):
    p, x = _mha_case(12, 4)
    p32 = {name: a.astype(np.float32) for name, a in p.items()}
    x32 = x.astype(np.float32)
    _, kv = impl.mha_forward_cached(x32[:, :3], p32, H)
    got = run(impl.mha_forward_cached, x32[:, 3:], p32, H, kv)
    out, (k, _) = got.value
    expect(
        out.dtype == np.float32 and k.dtype == np.float32,
        f"{got}: returned {out.dtype} and a cache of {k.dtype}; float32 in, float32 out",
    )
    expect_close(_of(got, out), _attention(x32.astype(np.float64), p, H)[:, 3:], rtol=1e-4, atol=1e-4)


# ---------------------------------------------------------------------------------------------
# block_forward_cached


@exercise("block_forward_cached")
@pytest.mark.parametrize("T_past, T_new", [(0, 4), (5, 1), (2, 3)])
def test_block_forward_cached_continues_from_the_cache(impl, T_past, T_new):
    block = _params(V, CONTEXT, D, 1, 20)["blocks"][0]
    x = rng(21).normal(size=(N, T_past + T_new, D))
    kv = impl.block_forward_cached(x[:, :T_past], block, H)[1] if T_past else None
    got = run(impl.block_forward_cached, x[:, T_past:], block, H, kv)
    y, (k, _) = got.value
    full = _block(x, block, H)
    expect_close(
        _of(got, y),
        full[:, T_past:],
        what=f"y of the {T_new} new positions",
        mistakes={"drop the first cached position": lambda: _block(x, block, H, first_key=1)[:, T_past:]},
    )
    a = _ln(x, block["ln1"])
    expect_close(
        _of(got, k),
        _heads(a @ block["attn"]["W_k"] + block["attn"]["b_k"], H),
        what="the cached keys (of LN_1(x), every position so far)",
        mistakes={
            "cache the keys of x instead of LN_1(x)": _heads(
                x @ block["attn"]["W_k"] + block["attn"]["b_k"], H
            )
        },
    )


@exercise("block_forward_cached")
def test_block_forward_cached_values_and_cache_unchanged(impl):
    block = _params(V, CONTEXT, D, 1, 22)["blocks"][0]
    x = rng(23).normal(size=(N, 6, D))
    kv = impl.block_forward_cached(x[:, :4], block, H)[1]
    got = run(impl.block_forward_cached, x[:, 4:], block, H, kv)  # run() fails if kv is changed
    _, (_, v) = got.value
    a = _ln(x, block["ln1"])
    expect_close(
        _of(got, v), _heads(a @ block["attn"]["W_v"] + block["attn"]["b_v"], H), what="the cached values"
    )


@exercise("block_forward_cached")
def test_block_forward_cached_keeps_float32(impl):
    block = _params(V, CONTEXT, D, 1, 24, scale=0.2)["blocks"][0]
    block32 = {g: {k: a.astype(np.float32) for k, a in p.items()} for g, p in block.items()}
    x = rng(25).normal(size=(N, 5, D))
    kv = impl.block_forward_cached(x[:, :3].astype(np.float32), block32, H)[1]
    got = run(impl.block_forward_cached, x[:, 3:].astype(np.float32), block32, H, kv)
    y = got.value[0]
    expect(y.dtype == np.float32, f"{got}: returned {y.dtype}; float32 in, float32 out")
    want = _block(x.astype(np.float32).astype(np.float64), _map64(block32), H)[:, 3:]
    expect_close(_of(got, y), want, rtol=1e-4, atol=1e-4, what="y in float32")


def _map64(tree):
    if isinstance(tree, dict):
        return {k: _map64(v) for k, v in tree.items()}
    if isinstance(tree, list):
        return [_map64(v) for v in tree]
    return tree.astype(np.float64)


# ---------------------------------------------------------------------------------------------
# gpt_forward_cached


@exercise("gpt_forward_cached")
@pytest.mark.parametrize("chunks", [[3, 1, 1, 1, 2], [1, 1, 1, 1, 1, 1, 1, 1], [5, 4]])
def test_gpt_forward_cached_equals_full_recomputation(impl, chunks):
    params = _params(V, CONTEXT, D, L, 30)
    T = sum(chunks)
    tokens = rng(31).integers(0, V, size=(N, T))
    full = _gpt(tokens, params, H)
    cache, start = None, 0
    for size in chunks:
        got = run(impl.gpt_forward_cached, tokens[:, start : start + size], params, H, cache)
        logits, cache = _pair(got, got.value, "(logits, cache)")
        positions = np.r_[np.arange(start), np.arange(size)]  # the new tokens restarted at 0
        expect_close(
            _of(got, logits),
            full[:, start : start + size],
            what=f"the logits of positions {start}..{start + size - 1} (fed in chunks {chunks})",
            mistakes={
                "give the new tokens positions 0.. instead of continuing after the cached ones": _gpt(
                    tokens[:, : start + size], params, H, positions
                )[:, start:],
            },
        )
        expect(
            isinstance(cache, list) and len(cache) == L,
            f"{got}: the cache should be a list of one (k, v) per block ({L}), got {type(cache).__name__}",
        )
        start += size
        shape = cache[0][0].shape
        expect(
            shape == (N, H, start, D // H),
            f"{got}: after {start} tokens the cached keys have shape {shape}, "
            f"expected (N, H, {start}, d_head) = {(N, H, start, D // H)}"
            + (" (the first position was dropped)" if shape[2:3] == (start - 1,) else ""),
        )


@exercise("gpt_forward_cached")
def test_gpt_forward_cached_up_to_the_context_and_no_further(impl):
    params = _params(V, 4, D, 1, 32)
    _, cache = impl.gpt_forward_cached(np.zeros((1, 3), dtype=np.int64), params, H)
    try:
        impl.gpt_forward_cached(np.zeros((1, 2), dtype=np.int64), params, H, cache)
    except ValueError:
        pass
    else:
        raise AssertionError(
            "gpt_forward_cached: 3 cached + 2 new tokens do not fit in a context of 4; expected ValueError"
        )
    tokens = np.array([[0, 0, 0, 5]])
    got = run(impl.gpt_forward_cached, tokens[:, 3:], params, H, cache)  # 3 + 1 fill the context exactly
    expect_close(
        _of(got, got.value[0]), _gpt(tokens, params, H)[:, 3:], what="the logits of the last position"
    )


@exercise("gpt_forward_cached")
def test_gpt_forward_cached_keeps_float32(impl):
    params = _params(V, CONTEXT, D, L, 33, scale=0.2)
    p32 = _map32(params)
    tokens = rng(34).integers(0, V, size=(N, 6))
    _, cache = impl.gpt_forward_cached(tokens[:, :4], p32, H)
    got = run(impl.gpt_forward_cached, tokens[:, 4:], p32, H, cache)  # run() fails if cache is changed
    logits = got.value[0]
    expect(logits.dtype == np.float32, f"{got}: logits are {logits.dtype}; float32 parameters give float32")
    expect_close(
        _of(got, logits), _gpt(tokens, _map64(p32), H)[:, 4:], rtol=1e-4, atol=1e-4, what="the logits"
    )


def _map32(tree):
    if isinstance(tree, dict):
        return {k: _map32(v) for k, v in tree.items()}
    if isinstance(tree, list):
        return [_map32(v) for v in tree]
    return tree.astype(np.float32)


# ---------------------------------------------------------------------------------------------
# generate_cached


@exercise("generate_cached")
@pytest.mark.parametrize("prompt_len, n_new", [(3, 6), (1, 9), (9, 1)])
def test_generate_cached_equals_greedy_recomputation(impl, prompt_len, n_new):
    params = _params(V, CONTEXT, D, L, 40)
    prompt = rng(41 + prompt_len).integers(0, V, size=(N, prompt_len))
    got = run(impl.generate_cached, params, prompt, n_new, H)
    expect_equal(
        got,
        _greedy(params, prompt, n_new, H).astype(np.int64),
        mistakes={
            "take the first token from the prompt's first position's logits, not its last's": lambda: _greedy(
                params, prompt, n_new, H, first_from=0
            ).astype(np.int64)
        },
    )
    expect(got.value.dtype == np.int64, f"{got}: dtype {got.value.dtype}, expected int64")


@exercise("generate_cached")
def test_generate_cached_feeds_one_token_at_a_time(impl):
    # The prompt once, then each new token alone with the cache: a loop that re-reads the
    # whole sequence gives the same tokens, at the cost the cache exists to avoid.
    params = _params(V, CONTEXT, D, 1, 44)
    prompt = rng(45).integers(0, V, size=(N, 4))
    calls = []
    original = impl.gpt_forward_cached

    def spy(tokens, params, n_heads, cache=None):
        calls.append((tokens.shape, cache[0][0].shape[2] if cache else None))
        return original(tokens, params, n_heads, cache)

    impl.gpt_forward_cached = spy
    try:
        got = run(impl.generate_cached, params, prompt, 5, H)
    finally:
        impl.gpt_forward_cached = original
    expect_equal(got, _greedy(params, prompt, 5, H).astype(np.int64))
    want = [((N, 4), None)] + [((N, 1), 4 + k) for k in range(4)]  # the 5th token is not fed
    expect(
        calls == want,
        f"{got}: gpt_forward_cached was called with (tokens shape, cached length) {calls}; expected the "
        f"prompt once from an empty cache, then each new token but the last alone: {want}",
    )


@exercise("generate_cached")
def test_generate_cached_fills_the_context_exactly(impl):
    # A prompt of 4 and 7 new tokens in a context of 10: the model reads 4 + 6 = 10 tokens
    # (the last new token is never read), so nothing may go beyond the context.
    params = _params(V, CONTEXT, D, L, 46)
    prompt = rng(47).integers(0, V, size=(N, 4))
    got = run(impl.generate_cached, params, prompt, 7, H)
    expect_equal(got, _greedy(params, prompt, 7, H).astype(np.int64))
