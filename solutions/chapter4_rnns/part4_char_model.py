# %% [markdown]
# # Chapter 4, part 4: a character-level language model on Python's documentation
#
# Reading: chapters/chapter4_rnns/part4_char_model.md
#
# Fill in each function, then run the cell below it: `check(fn)` runs that exercise's
# tests here and prints a verdict. `python -m grader chapter4/part4` grades the file.
#
# The model runs on YOUR part 2: `lstm_forward` and `lstm_backward` are imported from
# `exercises/chapter4_rnns/part2_lstm.py`. Karpathy's char-rnn, with Zaremba et al.'s
# dropout:
#
#     characters --embed--> x (N, T, E) --dropout--> LSTM --> hs (N, T, H) --dropout--> @ W_out + b_out
#
# Conventions:
# - a text is a 1-D int64 array of character ids (`encode`); a batch is (N, T) ids;
# - the parameters are a dict of float64 arrays (`init_char_lm`): embed (V, E), the LSTM's
#   Wx (E, 4H), Wh (H, 4H), b (4H,) in part 2's gate order (i, f, g, o), W_out (H, V), b_out (V,);
# - losses are in nats (natural log) unless the name says bits; no function changes its inputs.

# %%
import math
import time

import numpy as np
from chapter4_rnns.part2_lstm import lstm_backward, lstm_forward
from jaxtyping import Float, Int

from coursedata import load_pydoc_text, split_text
from grader.check import check

MAIN = __name__ == "__main__"

Params = dict[str, np.ndarray]


# %% [markdown]
# ## Given: initialisation, the loss, clipping and Adam


# %%
def init_char_lm(vocab_size: int, embed_dim: int, hidden: int, rng: np.random.Generator) -> Params:
    """The model's parameters, float64: embed ~ N(0, 1), the LSTM's weights ~ U(-k, k) with
    k = 1/sqrt(hidden) and a forget-gate bias of 1 (part 2's convention), W_out ~ N(0, 1/hidden),
    b_out = 0."""
    k = 1.0 / math.sqrt(hidden)
    b = np.zeros(4 * hidden)
    b[hidden : 2 * hidden] = 1.0
    return {
        "embed": rng.normal(0.0, 1.0, size=(vocab_size, embed_dim)),
        "Wx": rng.uniform(-k, k, size=(embed_dim, 4 * hidden)),
        "Wh": rng.uniform(-k, k, size=(hidden, 4 * hidden)),
        "b": b,
        "W_out": rng.normal(0.0, k, size=(hidden, vocab_size)),
        "b_out": np.zeros(vocab_size),
    }


def log_softmax(z: np.ndarray) -> np.ndarray:
    """log softmax over the last axis, without overflow."""
    shifted = z - z.max(axis=-1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=-1, keepdims=True))


def clip_by_global_norm(grads: Params, max_norm: float) -> tuple[Params, float]:
    """Scale every gradient by min(1, max_norm / ||g||), ||g|| the norm of all of them
    together; returns the clipped gradients and the norm before clipping."""
    norm = math.sqrt(sum(float(np.sum(g * g)) for g in grads.values()))
    scale = min(1.0, max_norm / (norm + 1e-12))
    return {name: g * scale for name, g in grads.items()}, norm


def adam_step(params: Params, grads: Params, state: dict | None, lr: float) -> tuple[Params, dict]:
    """One Adam step (beta1 0.9, beta2 0.999, eps 1e-8, bias-corrected) on every parameter;
    state is None before the first step. Returns new arrays: params is not changed."""
    if state is None:
        state = {"t": 0, "m": {k: np.zeros_like(v) for k, v in params.items()}}
        state["v"] = {k: np.zeros_like(v) for k, v in params.items()}
    t = state["t"] + 1
    m = {k: 0.9 * state["m"][k] + 0.1 * grads[k] for k in params}
    v = {k: 0.999 * state["v"][k] + 0.001 * grads[k] ** 2 for k in params}
    new = {
        k: params[k] - lr * (m[k] / (1 - 0.9**t)) / (np.sqrt(v[k] / (1 - 0.999**t)) + 1e-8) for k in params
    }
    return new, {"t": t, "m": m, "v": v}


def decode(ids: np.ndarray, vocab: list[str]) -> str:
    """The text of a sequence of character ids."""
    return "".join(vocab[i] for i in ids)


# %% [markdown]
# ## From text to batches


# %%
def build_vocab(text: str) -> list[str]:
    """The distinct characters of `text`, sorted (by code point): vocab[i] is character i."""
    # BEGIN SOLUTION
    return sorted(set(text))
    # END SOLUTION


if MAIN:
    check(build_vocab)


# %%
def encode(text: str, vocab: list[str]) -> Int[np.ndarray, " length"]:
    """The ids of the characters of `text`: an int64 array with ids[j] = vocab.index(text[j]).
    Every character of text is in vocab."""
    # BEGIN SOLUTION
    index = {ch: i for i, ch in enumerate(vocab)}
    return np.array([index[ch] for ch in text], dtype=np.int64)
    # END SOLUTION


if MAIN:
    check(encode)


# %%
def get_batch(
    ids: Int[np.ndarray, " length"], batch_size: int, seq_len: int, rng: np.random.Generator
) -> tuple[Int[np.ndarray, "batch seq_len"], Int[np.ndarray, "batch seq_len"]]:
    """A batch of random windows of the text, and the characters that follow each position.

    The starts are `rng.integers(0, len(ids) - seq_len, size=batch_size)` (one call, nothing
    else drawn): row r of inputs is ids[s : s + seq_len] with s = starts[r], and row r of
    targets is the same window moved one character on, ids[s + 1 : s + seq_len + 1].
    Both are int64 arrays of shape (batch_size, seq_len).
    """
    # BEGIN SOLUTION
    starts = rng.integers(0, len(ids) - seq_len, size=batch_size)
    window = starts[:, None] + np.arange(seq_len)  # (batch, seq_len)
    return ids[window], ids[window + 1]
    # END SOLUTION


if MAIN:
    check(get_batch)


# %% [markdown]
# ## Dropout on the non-recurrent connections


# %%
def dropout(
    x: Float[np.ndarray, "*shape"], p: float, rng: np.random.Generator
) -> tuple[Float[np.ndarray, "*shape"], Float[np.ndarray, "*shape"]]:
    """Inverted dropout: (x * mask, mask).

    Draws `u = rng.random(x.shape)` (one call, nothing else), keeps the entries where
    u >= p, and scales the kept ones by 1 / (1 - p), so that E[mask] = 1:
    mask = (u >= p) / (1 - p). The mask and the output have x's dtype (float32 stays
    float32). 0 <= p < 1; p = 0 keeps everything (the draw is still made).
    """
    # BEGIN SOLUTION
    keep = rng.random(x.shape) >= p
    mask = (keep / (1.0 - p)).astype(x.dtype)
    return x * mask, mask
    # END SOLUTION


if MAIN:
    check(dropout)


# %% [markdown]
# ## The model: loss and gradients


# %%
def char_lm_forward(
    params: Params,
    inputs: Int[np.ndarray, "batch time"],
    targets: Int[np.ndarray, "batch time"],
    state: tuple[Float[np.ndarray, "batch hidden"], Float[np.ndarray, "batch hidden"]],
    p: float = 0.0,
    rng: np.random.Generator | None = None,
) -> tuple[float, tuple[Float[np.ndarray, "batch hidden"], Float[np.ndarray, "batch hidden"]], tuple]:
    """The mean cross-entropy (nats per character) of predicting targets from inputs.

        x = embed[inputs]                                (N, T, E)
        x = x * mask_x        (dropout, only if p > 0)
        hs, (h_T, c_T) = lstm_forward(x, h0, c0, Wx, Wh, b), with (h0, c0) = state
        hs = hs * mask_h      (dropout, only if p > 0)
        logits = hs @ W_out + b_out                      (N, T, V)
        loss = mean over all N*T positions of -log softmax(logits)[target]

    With p > 0 the masks come from `dropout(x, p, rng)` then `dropout(hs, p, rng)`, in that
    order; with p == 0 there is no dropout and rng is not used. Dropout touches only what
    goes into and comes out of the LSTM, never the hidden state carried from step to step.
    Returns (loss as a Python float, (h_T, c_T), cache for char_lm_backward).
    """
    # BEGIN SOLUTION
    x = params["embed"][inputs]
    mask_x = mask_h = None
    if p > 0:
        x, mask_x = dropout(x, p, rng)  # pyright: ignore[reportArgumentType]: given when p > 0
    hs, final, lstm_cache = lstm_forward(x, state[0], state[1], params["Wx"], params["Wh"], params["b"])
    if p > 0:
        hs, mask_h = dropout(hs, p, rng)  # pyright: ignore[reportArgumentType]
    logp = log_softmax(hs @ params["W_out"] + params["b_out"])  # (N, T, V)
    picked = np.take_along_axis(logp, targets[..., None], axis=-1)
    loss = -float(picked.mean())
    cache = (params, inputs, targets, mask_x, mask_h, lstm_cache, hs, logp)
    return loss, final, cache
    # END SOLUTION


if MAIN:
    check(char_lm_forward)


# %%
def char_lm_backward(cache: tuple) -> Params:
    """The gradient of char_lm_forward's loss with respect to every parameter, as a dict with
    the same keys and shapes as params. The state (h0, c0) is treated as a constant.

    The loss is a mean over N*T positions: dL/dlogits = (softmax(logits) - onehot) / (N*T).
    A character that occurs several times in the batch collects the gradient of every
    occurrence in its row of d embed.
    """
    # BEGIN SOLUTION
    params, inputs, targets, mask_x, mask_h, lstm_cache, hs, logp = cache
    N, T, V = logp.shape
    dlogits = np.exp(logp)
    dlogits[np.arange(N)[:, None], np.arange(T), targets] -= 1.0  # softmax - onehot
    dlogits /= N * T
    H = hs.shape[-1]
    grads = {
        "W_out": hs.reshape(N * T, H).T @ dlogits.reshape(N * T, V),
        "b_out": dlogits.sum(axis=(0, 1)),
    }
    dhs = dlogits @ params["W_out"].T  # (N, T, H)
    if mask_h is not None:
        dhs = dhs * mask_h
    dx, _, _, grads["Wx"], grads["Wh"], grads["b"] = lstm_backward(dhs, lstm_cache)
    if mask_x is not None:
        dx = dx * mask_x
    dembed = np.zeros_like(params["embed"])
    np.add.at(dembed, inputs, dx)  # repeated characters add up
    grads["embed"] = dembed
    return grads
    # END SOLUTION


if MAIN:
    check(char_lm_backward)


# %% [markdown]
# ## Training and evaluation


# %%
def train_char_lm(
    params: Params,
    ids: Int[np.ndarray, " length"],
    steps: int,
    batch_size: int,
    seq_len: int,
    lr: float,
    max_norm: float,
    p: float,
    rng: np.random.Generator,
) -> tuple[Params, list[float]]:
    """Train with Adam and gradient clipping; returns (new params, the loss of every step).

    Each step: inputs, targets = get_batch(ids, batch_size, seq_len, rng); the forward pass
    from zero states with dropout p (rng again), its backward pass, clip_by_global_norm(grads,
    max_norm), then adam_step(params, clipped, state, lr), the Adam state carried from step to
    step (None at first). losses[k] is step k's forward loss. params is not changed.
    """
    # BEGIN SOLUTION
    H = params["Wh"].shape[0]
    zeros = (np.zeros((batch_size, H)), np.zeros((batch_size, H)))
    state, losses = None, []
    for _ in range(steps):
        inputs, targets = get_batch(ids, batch_size, seq_len, rng)
        loss, _, cache = char_lm_forward(params, inputs, targets, zeros, p, rng)
        grads, _ = clip_by_global_norm(char_lm_backward(cache), max_norm)
        params, state = adam_step(params, grads, state, lr)
        losses.append(loss)
    return params, losses
    # END SOLUTION


if MAIN:
    check(train_char_lm)


# %%
def evaluate_bpc(params: Params, ids: Int[np.ndarray, " length"], seq_len: int) -> float:
    """The held-out loss in bits per character: the mean of -log2 p(ids[j+1] | ids[:j+1])
    over every j = 0 .. len(ids) - 2, without dropout.

    The text is read as one sequence (batch of 1) in consecutive windows of seq_len
    characters (the last window may be shorter), the state (h, c) starting at zeros and
    carried from each window to the next, so that every prediction sees the whole text
    before it. Every predicted character weighs the same.
    """
    # BEGIN SOLUTION
    H = params["Wh"].shape[0]
    state = (np.zeros((1, H)), np.zeros((1, H)))
    inputs, targets = ids[:-1], ids[1:]
    total = 0.0
    for start in range(0, len(inputs), seq_len):
        window = slice(start, start + seq_len)
        loss, state, _ = char_lm_forward(params, inputs[None, window], targets[None, window], state)
        total += loss * len(inputs[window])
    return total / len(inputs) / math.log(2)
    # END SOLUTION


if MAIN:
    check(evaluate_bpc)


# %%
def sample(
    params: Params,
    prefix: Int[np.ndarray, " prefix_len"],
    n: int,
    temperature: float,
    rng: np.random.Generator,
) -> Int[np.ndarray, " n"]:
    """Generate n characters after `prefix` (at least one id), one at a time, without dropout.

    Read the prefix from zero states; then, n times: take the logits that predict the next
    character, draw it, and feed it back (its state carried on). A draw at temperature
    T > 0 takes the probabilities q = softmax(logits / T) (stably: T = 0.01 must not
    overflow) and one `u = rng.random()`, and picks the first id whose cumulative
    probability q[0] + ... + q[id] exceeds u (inverse CDF; id V-1 if rounding leaves none).
    T == 0 is greedy: the argmax, and rng is not used. Returns the n new ids (int64).
    """
    # BEGIN SOLUTION
    H = params["Wh"].shape[0]
    h, c = np.zeros((1, H)), np.zeros((1, H))
    x = params["embed"][prefix][None]  # (1, len(prefix), E)
    out = np.empty(n, dtype=np.int64)
    for k in range(n):
        hs, (h, c), _ = lstm_forward(x, h, c, params["Wx"], params["Wh"], params["b"])
        logits = hs[0, -1] @ params["W_out"] + params["b_out"]  # (V,)
        if temperature == 0:
            nxt = int(np.argmax(logits))
        else:
            z = logits / temperature
            q = np.exp(z - z.max())
            q /= q.sum()
            nxt = min(int((np.cumsum(q) <= rng.random()).sum()), len(q) - 1)
        out[k] = nxt
        x = params["embed"][[nxt]][None]
    return out
    # END SOLUTION


if MAIN:
    check(sample)


# %% [markdown]
# ## Train on Python's documentation
#
# 90 % of the text to train on, the last 10 % held out. The reading states what the
# reference reaches and how long it takes; sample at several temperatures afterwards.

# %%
if MAIN:
    train_text, held_out_text = split_text(load_pydoc_text())
    try:
        vocab = build_vocab(train_text + held_out_text)
        train_ids, held_ids = encode(train_text, vocab), encode(held_out_text, vocab)
        params = init_char_lm(len(vocab), 32, 128, np.random.default_rng(0))
        start = time.perf_counter()
        params, losses = train_char_lm(
            params, train_ids, 1000, 32, 64, 4e-3, 1.0, 0.1, np.random.default_rng(1)
        )
        seconds = time.perf_counter() - start
        bpc = evaluate_bpc(params, held_ids, 200)
        print(f"{len(losses)} steps in {seconds:.0f} s: held-out {bpc:.3f} bits per character")
        for temperature in (0.0, 0.5, 1.0):
            text = decode(
                sample(params, encode("The ", vocab), 300, temperature, np.random.default_rng(2)), vocab
            )
            print(f"--- temperature {temperature}\nThe {text}")
    except NotImplementedError as missing:
        print(f"Finish {missing} to train the model.")
