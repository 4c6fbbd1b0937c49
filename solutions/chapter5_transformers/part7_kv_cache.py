# %% [markdown]
# # Chapter 5, part 7: a KV cache for the GPT
#
# Reading: chapters/chapter5_transformers/part7_kv_cache.md
#
# Fill in each function, then run the cell below it: `check(fn)` runs that exercise's
# tests here and prints a verdict. `python -m grader chapter5/part7` grades the file.
#
# Generating with part 5's GPT one token at a time recomputes every earlier position at
# every step. Their keys and values never change (the model is causal), so keep them: the
# cache holds, for every block, the keys and values of every position read so far, and each
# step feeds the model only the new tokens. This part runs on YOUR parts 1–5 (attention,
# heads, layer norm, MLP, the GPT's parameters and forward pass).
#
# Conventions: batch first; a KV cache is a list with one (k, v) pair per block, each
# (N, H, S, d_head): the keys and values of the S positions read so far (heads split as in
# part 2). The cache starts as None (nothing read). No function changes its inputs, the
# cache passed in included: return a new list and new arrays (np.concatenate makes them).
# The tests compare float64 results to 1e-6 relative and float32 results to 1e-4.

# %%
import time

import numpy as np
from chapter5_transformers.part1_attention import attention_forward
from chapter5_transformers.part2_multihead import merge_heads, split_heads
from chapter5_transformers.part4_block import layer_norm_forward, mlp_forward
from chapter5_transformers.part5_gpt import Params, gpt_forward, gpt_init
from jaxtyping import Bool, Float, Int

from grader.check import check

MAIN = __name__ == "__main__"

KV = tuple[np.ndarray, np.ndarray]


# %% [markdown]
# ## Given: generation by recomputing everything


# %%
def generate_recompute(
    params: Params, prompt: Int[np.ndarray, "batch prompt"], n_new: int, n_heads: int
) -> Int[np.ndarray, "batch n_new"]:
    """Greedy generation the slow way: at every step, part 5's gpt_forward over the whole
    sequence so far, and the argmax of the last position's logits (the first of equal
    ones). Returns the n_new generated tokens (int64)."""
    tokens = prompt
    for _ in range(n_new):
        logits, _ = gpt_forward(tokens, params, n_heads)
        tokens = np.concatenate([tokens, logits[:, -1].argmax(axis=-1)[:, None]], axis=1)
    return tokens[:, prompt.shape[1] :].astype(np.int64)


# %% [markdown]
# ## Attention over cached keys


# %%
def cached_causal_mask(T_new: int, T_past: int) -> Bool[np.ndarray, "T_new T_total"]:
    """The causal mask of T_new new queries over T_past cached keys followed by the T_new
    new keys: the new query i sits at position T_past + i, so it may attend to key j
    (j = 0 .. T_past + T_new - 1) when j <= T_past + i. A bool array (T_new, T_past + T_new);
    with T_past = 0 it is part 1's causal mask."""
    # BEGIN SOLUTION
    return np.arange(T_past + T_new)[None, :] <= T_past + np.arange(T_new)[:, None]
    # END SOLUTION


if MAIN:
    check(cached_causal_mask)


# %%
def mha_forward_cached(
    x: Float[np.ndarray, "batch T_new d_model"], params: Params, n_heads: int, kv: KV | None = None
) -> tuple[Float[np.ndarray, "batch T_new d_model"], KV]:
    """Part 2's causal multi-head self-attention for T_new new positions, reusing the keys
    and values of the T_past positions before them:

        q, k, v = x @ W_q + b_q, x @ W_k + b_k, x @ W_v + b_v, each split into heads
        k_all = the cached keys followed by k along the time axis (N, H, T_past + T_new, d_head)
        v_all = the same for the values
        out = merge_heads(attention(q, k_all, v_all, cached_causal_mask(T_new, T_past))) @ W_o + b_o

    kv is None (T_past = 0) or the (k, v) pair this function returned for the positions
    before. Returns (out, (k_all, v_all)). The cached arrays are not changed.
    """
    # BEGIN SOLUTION
    q = split_heads(x @ params["W_q"] + params["b_q"], n_heads)  # (N, H, T_new, d_head)
    k = split_heads(x @ params["W_k"] + params["b_k"], n_heads)
    v = split_heads(x @ params["W_v"] + params["b_v"], n_heads)
    if kv is not None:
        k = np.concatenate([kv[0], k], axis=2)  # (N, H, T_past + T_new, d_head)
        v = np.concatenate([kv[1], v], axis=2)
    T_new = x.shape[1]
    mask = cached_causal_mask(T_new, k.shape[2] - T_new)
    out, _ = attention_forward(q, k, v, mask)
    return merge_heads(out) @ params["W_o"] + params["b_o"], (k, v)
    # END SOLUTION


if MAIN:
    check(mha_forward_cached)


# %%
def block_forward_cached(
    x: Float[np.ndarray, "batch T_new d_model"], params: Params, n_heads: int, kv: KV | None = None
) -> tuple[Float[np.ndarray, "batch T_new d_model"], KV]:
    """Part 4's pre-norm block for T_new new positions, its attention reading the cache:

        h = x + mha_forward_cached(LN_1(x), attn, n_heads, kv)
        y = h + MLP(LN_2(h))

    Returns (y, the attention's new (k, v))."""
    # BEGIN SOLUTION
    a, _ = layer_norm_forward(x, params["ln1"]["gamma"], params["ln1"]["beta"])
    attended, kv = mha_forward_cached(a, params["attn"], n_heads, kv)
    h = x + attended
    b, _ = layer_norm_forward(h, params["ln2"]["gamma"], params["ln2"]["beta"])
    m, _ = mlp_forward(b, params["mlp"])
    return h + m, kv
    # END SOLUTION


if MAIN:
    check(block_forward_cached)


# %% [markdown]
# ## The GPT, incrementally


# %%
def gpt_forward_cached(
    tokens: Int[np.ndarray, "batch T_new"], params: Params, n_heads: int, cache: list[KV] | None = None
) -> tuple[Float[np.ndarray, "batch T_new vocab"], list[KV]]:
    """The logits of T_new new tokens that follow the T_past tokens already in the cache:
    exactly the last T_new positions of gpt_forward over all T_past + T_new tokens.

    T_past is the length of the cached keys (0 when cache is None). The new tokens sit at
    positions T_past .. T_past + T_new - 1, so they take those rows of W_pos. Each block
    runs block_forward_cached on its own (k, v) pair; then ln_f and W_out as in part 5.
    Raise ValueError if T_past + T_new is more than the context (W_pos's rows).
    Returns (logits (N, T_new, V), the new cache: a new list of one (k, v) per block; the
    cache passed in is not changed).
    """
    # BEGIN SOLUTION
    T_past = 0 if cache is None else cache[0][0].shape[2]
    T_new = tokens.shape[1]
    context = len(params["W_pos"])  # one learned position per row
    if T_past + T_new > context:
        raise ValueError(f"{T_past} cached + {T_new} new tokens do not fit in the context of {context}")
    x = params["W_tok"][tokens] + params["W_pos"][T_past : T_past + T_new]
    new_cache = []
    for i, block in enumerate(params["blocks"]):
        x, kv = block_forward_cached(x, block, n_heads, None if cache is None else cache[i])
        new_cache.append(kv)
    y, _ = layer_norm_forward(x, params["ln_f"]["gamma"], params["ln_f"]["beta"])
    return y @ params["W_out"], new_cache
    # END SOLUTION


if MAIN:
    check(gpt_forward_cached)


# %%
def generate_cached(
    params: Params, prompt: Int[np.ndarray, "batch prompt"], n_new: int, n_heads: int
) -> Int[np.ndarray, "batch n_new"]:
    """Greedy generation with the KV cache: the same tokens as generate_recompute.

    Read the whole prompt with one call of gpt_forward_cached (from an empty cache), then
    n_new times: the next token is the argmax of the last position's logits (the first of
    equal ones); unless it is the last one wanted, feed it alone, shape (N, 1), with the
    cache. Returns the n_new tokens (int64).
    """
    # BEGIN SOLUTION
    out = np.empty((prompt.shape[0], n_new), dtype=np.int64)
    logits, cache = gpt_forward_cached(prompt, params, n_heads)
    for step in range(n_new):
        out[:, step] = logits[:, -1].argmax(axis=-1)
        if step + 1 < n_new:  # the last token needs no logits after it
            logits, cache = gpt_forward_cached(out[:, step : step + 1], params, n_heads, cache)
    return out
    # END SOLUTION


if MAIN:
    check(generate_cached)


# %% [markdown]
# ## How much faster?

# %%
if MAIN:
    model = gpt_init(np.random.default_rng(0), 96, 256, 128, 4, 4)
    prompt = np.random.default_rng(1).integers(0, 96, size=(1, 32))
    try:
        for generate in (generate_recompute, generate_cached):
            start = time.perf_counter()
            tokens = generate(model, prompt, 128, 4)
            print(f"{generate.__name__}: 128 tokens in {time.perf_counter() - start:.2f} s")
    except NotImplementedError as missing:
        print(f"Finish {missing} to compare.")
