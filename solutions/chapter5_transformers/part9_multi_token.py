# %% [markdown]
# # Chapter 5, part 9: multi-token prediction
#
# Reading: chapters/chapter5_transformers/part9_multi_token.md
#
# Fill in each function, then run the cell below it: `check(fn)` runs that exercise's
# tests here and prints a verdict. `python -m grader chapter5/part9` grades the file.
#
# Gloeckle et al. (2024), "Better & Faster Large Language Models via Multi-token
# Prediction": a shared trunk (part 5's embedding and blocks) feeds K heads; head j
# (j = 1..K) is one more transformer block of its own, followed by the shared final layer
# norm and output matrix, and predicts the token j places ahead:
#
#     tokens --embedding, blocks (the trunk)--> z --+--> head block 1 --> LN_f, W_out --> logits[0]: t+1
#                                                   +--> head block 2 --> LN_f, W_out --> logits[1]: t+2
#                                                   ...
#
# This part runs on YOUR parts 1–5. Conventions: the parameters are part 5's GPT
# parameters plus "heads": [K block parameter dicts] (mtp_init); logits are stacked as
# (K, N, T, V), logits[j - 1] being head j's. The tests compare float64 results to 1e-6
# relative, gradients with central differences to 1e-5, and float32 results to 1e-4.

# %%
import math

import numpy as np
from chapter5_transformers.part1_attention import causal_mask
from chapter5_transformers.part3_positions import embedding_backward, embedding_forward
from chapter5_transformers.part4_block import (
    block_backward,
    block_forward,
    block_init,
    layer_norm_backward,
    layer_norm_forward,
)
from chapter5_transformers.part5_gpt import Params, cross_entropy, gpt_init
from jaxtyping import Float, Int

from grader.check import check

MAIN = __name__ == "__main__"


# %% [markdown]
# ## Given: the parameters


# %%
def mtp_init(
    rng: np.random.Generator,
    vocab_size: int,
    context: int,
    d_model: int,
    n_heads: int,
    n_layers: int,
    n_future: int,
) -> Params:
    """Part 5's gpt_init(rng, ...) for the trunk, ln_f and W_out, then n_future head blocks
    from block_init(rng, d_model), their W_o and W_2 scaled by 1 / sqrt(2 (n_layers + 1))
    (each head makes the network one block deeper)."""
    params = gpt_init(rng, vocab_size, context, d_model, n_heads, n_layers)
    heads = []
    for _ in range(n_future):
        head = block_init(rng, d_model)
        head["attn"]["W_o"] = head["attn"]["W_o"] / math.sqrt(2 * (n_layers + 1))
        head["mlp"]["W_2"] = head["mlp"]["W_2"] / math.sqrt(2 * (n_layers + 1))
        heads.append(head)
    return {**params, "heads": heads}


# %% [markdown]
# ## The forward pass


# %%
def mtp_forward(
    tokens: Int[np.ndarray, "batch time"], params: Params, n_heads: int
) -> tuple[Float[np.ndarray, "n_future batch time vocab"], tuple]:
    """The logits of every head:

        z = the trunk: embedding_forward, then every block of params["blocks"] with the
            causal mask (part 5's gpt_forward up to, not including, ln_f)
        logits[j - 1] = layer_norm_forward(block_forward(z, heads[j - 1], n_heads, causal mask),
                                           ln_f gamma, ln_f beta) @ W_out     for j = 1..K

    Every head reads the same z; ln_f and W_out are shared by all heads. Returns
    (logits (K, N, T, V), cache for mtp_backward).
    """
    # BEGIN SOLUTION
    T = tokens.shape[1]
    mask = causal_mask(T)
    z, embed_cache = embedding_forward(tokens, params["W_tok"], params["W_pos"])
    trunk_caches = []
    for block in params["blocks"]:
        z, block_cache = block_forward(z, block, n_heads, mask)
        trunk_caches.append(block_cache)
    logits, head_caches = [], []
    for head in params["heads"]:
        h, head_cache = block_forward(z, head, n_heads, mask)
        y, ln_cache = layer_norm_forward(h, params["ln_f"]["gamma"], params["ln_f"]["beta"])
        logits.append(y @ params["W_out"])
        head_caches.append((head_cache, ln_cache, y))
    return np.stack(logits), (embed_cache, trunk_caches, head_caches, params["W_out"])
    # END SOLUTION


if MAIN:
    check(mtp_forward)


# %% [markdown]
# ## The loss: head j has no target in the last j positions


# %%
def mtp_loss(
    logits: Float[np.ndarray, "n_future batch time vocab"], tokens: Int[np.ndarray, "batch time"]
) -> tuple[float, Float[np.ndarray, "n_future batch time vocab"]]:
    """The multi-token loss of a window of tokens and its gradient.

    Head j (logits[j - 1]) at position t predicts tokens[:, t + j]. The last j positions
    have no such token: they are left out of head j's loss and get a zero gradient. Head
    j's loss L_j is part 5's cross_entropy over its N * (T - j) positions with a target
    (their mean), and the loss is the mean over heads:

        loss = (1 / K) * sum over j = 1..K of L_j

    Needs T > K. Returns (loss as a Python float, dlogits (K, N, T, V) in the logits' dtype).
    """
    # BEGIN SOLUTION
    K, N, T, V = logits.shape
    loss = 0.0
    dlogits = np.zeros_like(logits)
    for j in range(1, K + 1):
        # Positions 0 .. T-j-1 of head j predict tokens j .. T-1; the last j have no target.
        L_j, dL_j = cross_entropy(logits[j - 1, :, : T - j], tokens[:, j:])
        loss += L_j / K
        dlogits[j - 1, :, : T - j] = dL_j / K
    return loss, dlogits
    # END SOLUTION


if MAIN:
    check(mtp_loss)


# %% [markdown]
# ## The backward pass: the trunk collects every head's gradient


# %%
def mtp_backward(dlogits: Float[np.ndarray, "n_future batch time vocab"], cache: tuple) -> Params:
    """The gradient of a loss with respect to every parameter, given dlogits (K, N, T, V)
    and mtp_forward's cache, shaped like params (with "heads"). The shared ln_f and W_out
    collect the gradient of every head, and so does the trunk: dz is the sum over heads of
    the gradient each head's block sends back."""
    # BEGIN SOLUTION
    embed_cache, trunk_caches, head_caches, W_out = cache
    D, V = W_out.shape
    dW_out, dgamma, dbeta, dz, head_grads = 0.0, 0.0, 0.0, 0.0, []
    for dlog, (head_cache, ln_cache, y) in zip(dlogits, head_caches):
        # The shared ln_f and W_out: each head adds its share.
        dW_out = dW_out + y.reshape(-1, D).T @ dlog.reshape(-1, V)
        dh, dg, db = layer_norm_backward(dlog @ W_out.T, ln_cache)
        dgamma, dbeta = dgamma + dg, dbeta + db
        dz_head, g = block_backward(dh, head_cache)
        head_grads.append(g)
        dz = dz + dz_head  # every head reads z: their gradients add up
    grads: Params = {"W_out": dW_out, "ln_f": {"gamma": dgamma, "beta": dbeta}, "heads": head_grads}
    block_grads = []
    for block_cache in reversed(trunk_caches):
        # (pyright: dz started as 0.0; the heads' loop made it an array)
        dz, g = block_backward(dz, block_cache)  # pyright: ignore[reportArgumentType]
        block_grads.append(g)
    grads["blocks"] = block_grads[::-1]
    grads["W_tok"], grads["W_pos"] = embedding_backward(dz, embed_cache)  # pyright: ignore[reportArgumentType]
    return grads
    # END SOLUTION


if MAIN:
    check(mtp_backward)


# %% [markdown]
# ## Drafting with the heads: self-speculative greedy decoding


# %%
def speculative_greedy(
    params: Params, prompt: Int[np.ndarray, " prompt"], n_new: int, n_heads: int
) -> tuple[Int[np.ndarray, " n_new"], int]:
    """Greedy decoding with head 1 (the next-token head), sped up by letting the other heads
    draft (Stern et al.'s blockwise parallel decoding, as Gloeckle et al. use it):

        run mtp_forward on the sequence (the prompt at first); at its last position,
        head j's argmax is the draft d_j (j = 1..K); d_1 is head 1's own next token
        repeat until n_new tokens are out:
            run mtp_forward once on the sequence followed by d_1 .. d_K
            g_i = head 1's argmax at the position of d_i (i = 1..K): the greedy token after d_i
            accept d_1, then d_2 if d_2 == g_1, then d_3 if also d_3 == g_2, ... (stop at the
            first mismatch); m = the number accepted
            append d_1 .. d_m to the sequence and to the output
            the new drafts: d_1 = g_m, and d_j = head j's argmax at the position of d_m (j = 2..K)

    Every accepted token is the one head 1 would have chosen greedily, one token at a time,
    so the output is exactly head 1's greedy decoding; each loop costs one forward pass and
    adds between 1 and K tokens. Argmaxes take the first of equal logits. The prompt is
    1-D (one sequence) and the context must hold len(prompt) + n_new + K tokens. Returns
    (the first n_new tokens produced, int64; the number of calls of mtp_forward).
    """
    # BEGIN SOLUTION
    seq = np.asarray(prompt, dtype=np.int64)
    logits, _ = mtp_forward(seq[None], params, n_heads)
    calls = 1
    draft = logits[:, 0, -1].argmax(axis=-1)  # (K,): head j's guess of the token j ahead
    K = len(draft)
    out: list[int] = []
    while len(out) < n_new:
        logits, _ = mtp_forward(np.concatenate([seq, draft])[None], params, n_heads)
        calls += 1
        L = len(seq)
        greedy = logits[0, 0, L : L + K].argmax(axis=-1)  # g_i: head 1's token after d_i
        m = 1
        while m < K and draft[m] == greedy[m - 1]:  # d_{m+1} == g_m: the draft was right
            m += 1
        seq = np.concatenate([seq, draft[:m]])
        out.extend(int(token) for token in draft[:m])
        # At d_m's position, head 1 gives the next token exactly and the others draft.
        draft = np.concatenate([[greedy[m - 1]], logits[1:, 0, L + m - 1].argmax(axis=-1)])
    return np.array(out[:n_new], dtype=np.int64), calls
    # END SOLUTION


if MAIN:
    check(speculative_greedy)


# %% [markdown]
# ## A look: one step of each
#
# The loss of an untrained model with K = 3 heads is close to ln V for every head.

# %%
if MAIN:
    params = mtp_init(np.random.default_rng(0), 50, 16, 32, 4, 2, 3)
    tokens = np.random.default_rng(1).integers(0, 50, size=(4, 16))
    try:
        logits, cache = mtp_forward(tokens, params, 4)
        loss, dlogits = mtp_loss(logits, tokens)
        grads = mtp_backward(dlogits, cache)
        print(
            f"loss {loss:.3f} (ln 50 = {math.log(50):.3f}); dW_out norm {np.linalg.norm(grads['W_out']):.4f}"
        )
    except NotImplementedError as missing:
        print(f"Finish {missing} to run this cell.")
