# %% [markdown]
# # Chapter 5, part 5: a GPT, its loss, its full backward pass, and AdamW
#
# Reading: chapters/chapter5_transformers/part5_gpt.md
#
# Fill in each function, then run the cell below it: `check(fn)` runs that exercise's
# tests here and prints a verdict. `python -m grader chapter5/part5` grades the file.
#
# The model runs on YOUR earlier parts: the causal mask of part 1, the embedding of part 3
# and the layer norm and pre-norm block of part 4 are imported from `exercises/`:
#
#     tokens (N, T) --embedding--> x (N, T, D) --block x L (causal)--> LN_f --> @ W_out --> logits (N, T, V)
#
# Conventions: batch first; tokens are int arrays (N, T) with T <= context; the parameters
# are a nested dict {"W_tok" (V, D), "W_pos" (context, D), "blocks": [part 4's block
# params, one per layer], "ln_f": {"gamma", "beta"}, "W_out" (D, V)}; a backward pass
# returns gradients with the same nesting. Losses are in nats, averaged over all N*T
# positions. No function changes its inputs. The tests compare float64 results to 1e-6
# relative, gradients with central differences to 1e-5, AdamW's steps to 1e-7 (it is a few
# exact arithmetic operations) and float32 results to 1e-4.

# %%
import math
import time
from typing import Any, Callable, no_type_check

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
from jaxtyping import Float, Int

from coursedata import load_pydoc_text, split_text
from grader.check import check

MAIN = __name__ == "__main__"

Params = dict[str, Any]


# %% [markdown]
# ## Given: parameter trees, text, batches and clipping


# %%
# The grader checks the types of every function call it can see; these helpers run once
# per array, so they are left out of those checks (`no_type_check`) to keep the tests fast.
@no_type_check
def tree_map(fn: Callable[..., Any], tree: Any, *rest: Any) -> Any:
    """fn applied to every array of `tree` (and the arrays at the same places in `rest`),
    keeping the nesting of dicts and lists: tree_map(lambda p, g: p - g, params, grads)."""
    if isinstance(tree, dict):
        return {key: tree_map(fn, tree[key], *(r[key] for r in rest)) for key in tree}
    if isinstance(tree, list):
        return [tree_map(fn, t, *(r[i] for r in rest)) for i, t in enumerate(tree)]
    return fn(tree, *rest)


@no_type_check
def tree_leaves(tree: Any) -> list[np.ndarray]:
    """Every array of a parameter tree, in a fixed order."""
    if isinstance(tree, dict):
        return [leaf for key in tree for leaf in tree_leaves(tree[key])]
    if isinstance(tree, list):
        return [leaf for t in tree for leaf in tree_leaves(t)]
    return [tree]


@no_type_check
def clip_by_global_norm(grads: Any, max_norm: float) -> tuple[Any, float]:
    """Scale every gradient by min(1, max_norm / ||g||), ||g|| the norm of all of them
    together; returns the clipped gradients and the norm before clipping."""
    norm = math.sqrt(sum(float(np.sum(g * g)) for g in tree_leaves(grads)))
    scale = min(1.0, max_norm / (norm + 1e-12))
    return tree_map(lambda g: g * scale, grads), norm


def encode(text: str, vocab: list[str]) -> np.ndarray:
    """The int64 ids of the characters of text; vocab[i] is character i."""
    index = {ch: i for i, ch in enumerate(vocab)}
    return np.array([index[ch] for ch in text], dtype=np.int64)


def get_batch(ids: np.ndarray, batch_size: int, seq_len: int, rng: np.random.Generator):
    """(inputs, targets), both (batch_size, seq_len): random windows of the text (starts
    from one call of rng.integers(0, len(ids) - seq_len, size=batch_size)) and the same
    windows moved one token on."""
    starts = rng.integers(0, len(ids) - seq_len, size=batch_size)
    window = starts[:, None] + np.arange(seq_len)
    return ids[window], ids[window + 1]


# %% [markdown]
# ## The model


# %%
def gpt_init(
    rng: np.random.Generator, vocab_size: int, context: int, d_model: int, n_heads: int, n_layers: int
) -> Params:
    """The parameters, float64, drawn from rng in this order:

        W_tok   (vocab_size, d_model)  ~ N(0, 1), as PyTorch's nn.Embedding
        W_pos   (context, d_model)     ~ N(0, 0.02²), as GPT-2
        blocks  n_layers times block_init(rng, d_model) (part 4), and in each block the two
                projections that write into the residual stream, attn "W_o" and mlp "W_2",
                multiplied by 1 / sqrt(2 * n_layers), as GPT-2
        ln_f    {"gamma": ones (d_model,), "beta": zeros (d_model,)}
        W_out   (d_model, vocab_size)  ~ N(0, 0.02²)

    d_model must be a multiple of n_heads (raise ValueError otherwise). Returns the
    nested dict {"W_tok", "W_pos", "blocks": [...], "ln_f", "W_out"}.
    """
    # BEGIN SOLUTION
    if d_model % n_heads:
        raise ValueError(f"d_model = {d_model} is not a multiple of n_heads = {n_heads}")
    # Unit-scale token embeddings: the blocks start with outputs at their inputs' scale,
    # and tokens embedded at 0.02 would be drowned in the residual stream at first.
    W_tok = rng.normal(0.0, 1.0, size=(vocab_size, d_model))
    W_pos = rng.normal(0.0, 0.02, size=(context, d_model))
    blocks = []
    for _ in range(n_layers):
        block = block_init(rng, d_model)
        # Each block adds its two outputs to the residual stream: scaling them keeps the
        # stream's variance from growing with depth (GPT-2, section 2.3).
        block["attn"]["W_o"] = block["attn"]["W_o"] / math.sqrt(2 * n_layers)
        block["mlp"]["W_2"] = block["mlp"]["W_2"] / math.sqrt(2 * n_layers)
        blocks.append(block)
    return {
        "W_tok": W_tok,
        "W_pos": W_pos,
        "blocks": blocks,
        "ln_f": {"gamma": np.ones(d_model), "beta": np.zeros(d_model)},
        "W_out": rng.normal(0.0, 0.02, size=(d_model, vocab_size)),
    }
    # END SOLUTION


if MAIN:
    check(gpt_init)


# %%
def gpt_forward(
    tokens: Int[np.ndarray, "batch time"], params: Params, n_heads: int
) -> tuple[Float[np.ndarray, "batch time vocab"], tuple]:
    """The logits of the next token at every position:

        x = embedding_forward(tokens, W_tok, W_pos)          (part 3: tokens plus positions 0..T-1)
        x = block_forward(x, block, n_heads, causal_mask(T)) for each block in order
        logits = layer_norm_forward(x, ln_f gamma, ln_f beta) @ W_out

    Causal: logits[:, t] depends on tokens[:, :t+1] only. T may be anything from 1 to the
    context. Returns (logits (N, T, V) in the parameters' dtype, cache for gpt_backward).
    """
    # BEGIN SOLUTION
    T = tokens.shape[1]
    mask = causal_mask(T)
    x, embed_cache = embedding_forward(tokens, params["W_tok"], params["W_pos"])
    block_caches = []
    for block in params["blocks"]:
        x, block_cache = block_forward(x, block, n_heads, mask)
        block_caches.append(block_cache)
    y, ln_cache = layer_norm_forward(x, params["ln_f"]["gamma"], params["ln_f"]["beta"])
    logits = y @ params["W_out"]
    return logits, (embed_cache, block_caches, ln_cache, y, params["W_out"])
    # END SOLUTION


if MAIN:
    check(gpt_forward)


# %%
def cross_entropy(
    logits: Float[np.ndarray, "batch time vocab"], targets: Int[np.ndarray, "batch time"]
) -> tuple[float, Float[np.ndarray, "batch time vocab"]]:
    """The mean cross-entropy in nats, and its gradient:

        loss = -(1 / (N*T)) * sum over n, t of log softmax(logits[n, t])[targets[n, t]]
        dlogits[n, t] = (softmax(logits[n, t]) - onehot(targets[n, t])) / (N*T)

    Stable for logits of any size (no overflow, no log of 0: work with log-softmax).
    Returns (loss as a Python float, dlogits in the logits' dtype).
    """
    # BEGIN SOLUTION
    N, T, V = logits.shape
    shifted = logits - logits.max(axis=-1, keepdims=True)
    log_z = np.log(np.exp(shifted).sum(axis=-1, keepdims=True))
    logp = shifted - log_z  # log softmax, (N, T, V)
    picked = np.take_along_axis(logp, targets[..., None], axis=-1)
    loss = -float(picked.mean())
    dlogits = np.exp(logp)  # softmax
    dlogits[np.arange(N)[:, None], np.arange(T), targets] -= 1.0  # minus the one-hot
    return loss, dlogits / (N * T)
    # END SOLUTION


if MAIN:
    check(cross_entropy)


# %%
def gpt_backward(dlogits: Float[np.ndarray, "batch time vocab"], cache: tuple) -> Params:
    """The gradient of a loss with respect to every parameter, given dlogits = dloss/dlogits
    and gpt_forward's cache: a nested dict shaped exactly like params (every block's
    gradients from part 4's block_backward, in the blocks' order). The tokens get no
    gradient; a token or position that occurs several times collects every occurrence.
    """
    # BEGIN SOLUTION
    embed_cache, block_caches, ln_cache, y, W_out = cache
    D, V = W_out.shape
    grads: Params = {"W_out": y.reshape(-1, D).T @ dlogits.reshape(-1, V)}
    dx, dgamma, dbeta = layer_norm_backward(dlogits @ W_out.T, ln_cache)
    grads["ln_f"] = {"gamma": dgamma, "beta": dbeta}
    block_grads = []
    for block_cache in reversed(block_caches):  # last block first
        dx, g = block_backward(dx, block_cache)
        block_grads.append(g)
    grads["blocks"] = block_grads[::-1]
    grads["W_tok"], grads["W_pos"] = embedding_backward(dx, embed_cache)
    return grads
    # END SOLUTION


if MAIN:
    check(gpt_backward)


# %% [markdown]
# ## AdamW


# %%
def adamw_step(
    params: Params,
    grads: Params,
    state: dict | None,
    lr: float,
    betas: tuple[float, float] = (0.9, 0.95),
    eps: float = 1e-8,
    weight_decay: float = 0.1,
) -> tuple[Params, dict]:
    """One AdamW step on every array of the tree, with decoupled weight decay:

        m = beta1 * m + (1 - beta1) * g          v = beta2 * v + (1 - beta2) * g²
        m_hat = m / (1 - beta1^t)                v_hat = v / (1 - beta2^t)
        p_new = p - lr * (m_hat / (sqrt(v_hat) + eps) + wd * p)

    with wd = weight_decay for the arrays with two or more axes (the embedding tables and
    every weight matrix) and wd = 0 for the vectors (biases, layer-norm gammas and betas).
    The decay uses the old p and never enters m or v. state is None before the first step
    (m = v = 0, t = 0); otherwise the dict {"t", "m", "v"} this function returned last
    time, t counting the steps taken (1 at the first). Returns (new params, new state),
    both fresh trees: params, grads and state are not changed.
    """
    # BEGIN SOLUTION
    beta1, beta2 = betas
    if state is None:
        state = {"t": 0, "m": tree_map(np.zeros_like, params), "v": tree_map(np.zeros_like, params)}
    t = state["t"] + 1
    m = tree_map(lambda m, g: beta1 * m + (1 - beta1) * g, state["m"], grads)
    v = tree_map(lambda v, g: beta2 * v + (1 - beta2) * g * g, state["v"], grads)
    c1, c2 = 1 - beta1**t, 1 - beta2**t  # the bias corrections
    step = tree_map(lambda m, v: (m / c1) / (np.sqrt(v / c2) + eps), m, v)
    # Decoupled weight decay, from the old p: matrices (ndim >= 2) shrink, vectors do not.
    new = tree_map(lambda p, s: p - lr * (s + (weight_decay if p.ndim >= 2 else 0.0) * p), params, step)
    return new, {"t": t, "m": m, "v": v}
    # END SOLUTION


if MAIN:
    check(adamw_step)


# %% [markdown]
# ## Training and evaluation


# %%
def train_gpt(
    params: Params,
    ids: Int[np.ndarray, " length"],
    n_heads: int,
    steps: int,
    batch_size: int,
    seq_len: int,
    lr: float,
    rng: np.random.Generator,
    max_norm: float = 1.0,
    weight_decay: float = 0.1,
) -> tuple[Params, list[float]]:
    """Train with AdamW; returns (new params, the loss of every step).

    Each step: inputs, targets = get_batch(ids, batch_size, seq_len, rng); logits from
    gpt_forward; loss and dlogits from cross_entropy; gpt_backward;
    clip_by_global_norm(grads, max_norm); then adamw_step(params, clipped, state, lr,
    weight_decay=weight_decay) with the other arguments at their defaults, the state
    carried from step to step (None at first). losses[k] is step k's loss before its
    update, a Python float. params is not changed.
    """
    # BEGIN SOLUTION
    state, losses = None, []
    for _ in range(steps):
        inputs, targets = get_batch(ids, batch_size, seq_len, rng)
        logits, cache = gpt_forward(inputs, params, n_heads)
        loss, dlogits = cross_entropy(logits, targets)
        grads, _ = clip_by_global_norm(gpt_backward(dlogits, cache), max_norm)
        params, state = adamw_step(params, grads, state, lr, weight_decay=weight_decay)
        losses.append(loss)
    return params, losses
    # END SOLUTION


if MAIN:
    check(train_gpt)


# %%
def evaluate_loss(params: Params, ids: np.ndarray, n_heads: int, context: int) -> float:
    """The held-out loss in nats per token (given): the text cut into consecutive windows of
    context + 1 tokens (the last, shorter one dropped), each window predicting its last
    `context` tokens from the ones before; the mean over every prediction."""
    n = (len(ids) - 1) // context
    inputs = ids[: n * context].reshape(n, context)
    targets = ids[1 : n * context + 1].reshape(n, context)
    total = 0.0
    for start in range(0, n, 64):  # 64 windows at a time keeps the memory small
        logits, _ = gpt_forward(inputs[start : start + 64], params, n_heads)
        total += cross_entropy(logits, targets[start : start + 64])[0] * len(inputs[start : start + 64])
    return total / n


# %% [markdown]
# ## Train on Python's documentation
#
# 90 % of the text to train on, the last 10 % held out. The reading states what the
# reference reaches and how long it takes.

# %%
if MAIN:
    train_text, held_out_text = split_text(load_pydoc_text())
    vocab = sorted(set(train_text + held_out_text))
    train_ids, held_ids = encode(train_text, vocab), encode(held_out_text, vocab)
    try:
        # float32 halves the time of a step; every function above keeps the dtype it is given.
        params = tree_map(
            lambda a: a.astype(np.float32), gpt_init(np.random.default_rng(0), len(vocab), 64, 64, 4, 2)
        )
        start = time.perf_counter()
        params, losses = train_gpt(params, train_ids, 4, 1000, 32, 64, 3e-3, np.random.default_rng(1))
        seconds = time.perf_counter() - start
        held = evaluate_loss(params, held_ids, 4, 64)
        print(f"{len(losses)} steps in {seconds:.0f} s: held-out loss {held:.3f} nats per character")
    except NotImplementedError as missing:
        print(f"Finish {missing} to train the model.")
