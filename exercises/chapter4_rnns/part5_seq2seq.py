# %% [markdown]
# # Chapter 4, part 5: a sequence-to-sequence encoder-decoder that reverses sequences
#
# Reading: chapters/chapter4_rnns/part5_seq2seq.md
#
# Fill in each function, then run the cell below it: `check(fn)` runs that exercise's
# tests here and prints a verdict. `python -m grader chapter4/part5` grades the file.
#
# The model runs on YOUR part 2 (`lstm_forward`, `lstm_backward`). Sutskever et al.'s
# encoder-decoder, without attention: one LSTM reads the source, and its final state
# (h_T, c_T) is the whole message handed to a second LSTM that writes the output.
#
# Conventions:
# - tokens are ints: BOS = 0 starts every output, the symbols are 1..n_symbols, so the
#   vocabulary has V = n_symbols + 1 tokens; batches are (N, T) int64 arrays;
# - parameters are a dict of float64 arrays (`init_seq2seq`): enc_embed, dec_embed (V, E);
#   enc_Wx, dec_Wx (E, 4H); enc_Wh, dec_Wh (H, 4H); enc_b, dec_b (4H,) in part 2's gate
#   order (i, f, g, o); W_out (H, V), b_out (V,);
# - no function changes its inputs.

# %%
import math
import time

import numpy as np
from chapter4_rnns.part2_lstm import lstm_backward, lstm_forward
from jaxtyping import Int

from grader.check import check

MAIN = __name__ == "__main__"

BOS = 0  # the token that starts every output sequence
Params = dict[str, np.ndarray]


# %% [markdown]
# ## Given: initialisation, Adam with clipping, and a training loop


# %%
def init_seq2seq(n_symbols: int, embed_dim: int, hidden: int, rng: np.random.Generator) -> Params:
    """Embeddings ~ N(0, 1); each LSTM's weights ~ U(-k, k), k = 1/sqrt(hidden), forget-gate
    bias 1; W_out ~ N(0, 1/hidden), b_out = 0. All float64."""
    V, k = n_symbols + 1, 1.0 / math.sqrt(hidden)
    params = {}
    for side in ("enc", "dec"):
        b = np.zeros(4 * hidden)
        b[hidden : 2 * hidden] = 1.0
        params[f"{side}_embed"] = rng.normal(0.0, 1.0, size=(V, embed_dim))
        params[f"{side}_Wx"] = rng.uniform(-k, k, size=(embed_dim, 4 * hidden))
        params[f"{side}_Wh"] = rng.uniform(-k, k, size=(hidden, 4 * hidden))
        params[f"{side}_b"] = b
    params["W_out"] = rng.normal(0.0, k, size=(hidden, V))
    params["b_out"] = np.zeros(V)
    return params


def adam_step(
    params: Params, grads: Params, state: dict | None, lr: float, max_norm: float = 1.0
) -> tuple[Params, dict]:
    """Clip the gradients to a global norm of max_norm, then one bias-corrected Adam step
    (beta1 0.9, beta2 0.999, eps 1e-8). state is None at first. Returns new arrays."""
    norm = math.sqrt(sum(float(np.sum(g * g)) for g in grads.values()))
    scale = min(1.0, max_norm / (norm + 1e-12))
    if state is None:
        state = {"t": 0, "m": {k: np.zeros_like(v) for k, v in params.items()}}
        state["v"] = {k: np.zeros_like(v) for k, v in params.items()}
    t = state["t"] + 1
    m = {k: 0.9 * state["m"][k] + 0.1 * scale * grads[k] for k in params}
    v = {k: 0.999 * state["v"][k] + 0.001 * (scale * grads[k]) ** 2 for k in params}
    new = {
        k: params[k] - lr * (m[k] / (1 - 0.9**t)) / (np.sqrt(v[k] / (1 - 0.999**t)) + 1e-8) for k in params
    }
    return new, {"t": t, "m": m, "v": v}


def train_seq2seq(
    params: Params,
    steps: int,
    batch_size: int,
    length: int,
    n_symbols: int,
    lr: float,
    rng: np.random.Generator,
) -> tuple[Params, list[float]]:
    """Train on fresh random batches (make_reversal_batch with rng) with teacher forcing:
    seq2seq_forward, seq2seq_backward, then adam_step. Returns (params, losses)."""
    state, losses = None, []
    for _ in range(steps):
        src, tgt_in, tgt_out = make_reversal_batch(batch_size, length, n_symbols, rng)
        loss, cache = seq2seq_forward(params, src, tgt_in, tgt_out)
        params, state = adam_step(params, seq2seq_backward(cache), state, lr)
        losses.append(loss)
    return params, losses


def _log_softmax(z: np.ndarray) -> np.ndarray:
    shifted = z - z.max(axis=-1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=-1, keepdims=True))


# %% [markdown]
# ## The task


# %%
def make_reversal_batch(
    n: int, length: int, n_symbols: int, rng: np.random.Generator
) -> tuple[Int[np.ndarray, "n length"], Int[np.ndarray, "n length"], Int[np.ndarray, "n length"]]:
    """A batch of the reversal task: (src, tgt_in, tgt_out), int64 arrays of shape (n, length).

    src = rng.integers(1, n_symbols + 1, size=(n, length)) (one call, nothing else drawn);
    tgt_out is each row of src reversed; tgt_in is what the decoder reads under teacher
    forcing: BOS followed by tgt_out without its last token, so that at step t it has read
    the correct outputs before t and must predict tgt_out[:, t].
    """
    raise NotImplementedError("make_reversal_batch")


if MAIN:
    check(make_reversal_batch)


# %% [markdown]
# ## Encoder, decoder, loss and gradients


# %%
def seq2seq_forward(
    params: Params,
    src: Int[np.ndarray, "batch src_len"],
    tgt_in: Int[np.ndarray, "batch tgt_len"],
    tgt_out: Int[np.ndarray, "batch tgt_len"],
) -> tuple[float, tuple]:
    """The teacher-forced loss of the encoder-decoder: the mean over all N * tgt_len positions
    of -log softmax(logits)[tgt_out], in nats.

        _, (h, c), _ = lstm_forward(enc_embed[src], 0, 0, enc_Wx, enc_Wh, enc_b)   (from zero states)
        hs, _, _ = lstm_forward(dec_embed[tgt_in], h, c, dec_Wx, dec_Wh, dec_b)   (from the encoder's state)
        logits = hs @ W_out + b_out                                              (N, tgt_len, V)

    Returns (loss as a Python float, cache for seq2seq_backward).
    """
    raise NotImplementedError("seq2seq_forward")


if MAIN:
    check(seq2seq_forward)


# %%
def seq2seq_backward(cache: tuple) -> Params:
    """The gradient of seq2seq_forward's loss with respect to every parameter (a dict with
    the keys and shapes of params).

    The decoder's backward pass also returns dL/dh0 and dL/dc0 of its initial state: that
    state is the encoder's final (h_T, c_T), so they are the encoder's dh_T and dc_T, the
    only way the loss reaches the encoder. Repeated tokens add up in the embeddings' rows.
    """
    raise NotImplementedError("seq2seq_backward")


if MAIN:
    check(seq2seq_backward)


# %% [markdown]
# ## Decoding and accuracy


# %%
def greedy_decode(
    params: Params, src: Int[np.ndarray, "batch src_len"], length: int
) -> Int[np.ndarray, "batch length"]:
    """The model's own output, one token at a time: encode src from zero states, then feed
    the decoder BOS and, at every later step, the token it chose at the step before (its
    state carried on); each step's choice is the argmax of its logits. Returns the `length`
    tokens chosen, int64 of shape (N, length)."""
    raise NotImplementedError("greedy_decode")


if MAIN:
    check(greedy_decode)


# %%
def reversal_accuracy(
    predicted: Int[np.ndarray, "batch length"], target: Int[np.ndarray, "batch length"]
) -> tuple[float, float]:
    """(token accuracy, sequence accuracy) as Python floats: the fraction of all positions
    where predicted equals target, and the fraction of rows that are right at every position."""
    raise NotImplementedError("reversal_accuracy")


if MAIN:
    check(reversal_accuracy)


# %% [markdown]
# ## Train it
#
# The reading states what the reference reaches: sequences of 6 symbols out of 8.

# %%
if MAIN:
    try:
        params = init_seq2seq(8, 16, 64, np.random.default_rng(0))
        start = time.perf_counter()
        params, losses = train_seq2seq(params, 600, 64, 6, 8, 1e-2, np.random.default_rng(1))
        src, _, tgt_out = make_reversal_batch(1000, 6, 8, np.random.default_rng(2))
        tokens, sequences = reversal_accuracy(greedy_decode(params, src, 6), tgt_out)
        print(
            f"{len(losses)} steps in {time.perf_counter() - start:.1f} s: {tokens:.1%} of the tokens and "
            f"{sequences:.1%} of the sequences reversed correctly"
        )
        print("source ", src[:3], "\ndecoded", greedy_decode(params, src[:3], 6))
    except NotImplementedError as missing:
        print(f"Finish {missing} to train the model.")
