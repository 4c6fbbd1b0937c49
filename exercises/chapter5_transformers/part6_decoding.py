# %% [markdown]
# # Chapter 5, part 6: decoding — greedy, temperature, top-k, top-p and beam search
#
# Reading: chapters/chapter5_transformers/part6_decoding.md
#
# Fill in each function, then run the cell below it: `check(fn)` runs that exercise's
# tests here and prints a verdict. `python -m grader chapter5/part6` grades the file.
#
# Nothing here depends on the GPT of part 5: a language model is any function
# `next_logits(ids) -> logits` that takes the token ids so far (a 1-D int64 array) and
# returns the (V,) logits of the next token. The last cell wraps a tiny bigram model that
# way; the reading shows the same wrapper around part 5's GPT.
#
# Conventions:
# - logits and probabilities are on the last axis (V tokens); a batch is (N, V);
# - "sorted by probability" always means: larger probability first, and among equal
#   probabilities the smaller token id first (a stable sort of -probs);
# - no function changes its inputs; float32 in, float32 out where a docstring says so.

# %%
from typing import Callable

import numpy as np
from jaxtyping import Float, Int

from grader.check import check

MAIN = __name__ == "__main__"

NextLogits = Callable[[np.ndarray], np.ndarray]  # ids so far (t,) int64 -> logits (V,)


# %% [markdown]
# ## Given: a stable log-softmax


# %%
def log_softmax(z: np.ndarray) -> np.ndarray:
    """log softmax over the last axis, without overflow."""
    shifted = z - z.max(axis=-1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=-1, keepdims=True))


# %% [markdown]
# ## Greedy decoding


# %%
def greedy_decode(
    next_logits: NextLogits, prefix: Int[np.ndarray, " t0"], n: int, eos: int | None = None
) -> Int[np.ndarray, " generated"]:
    """Generate up to n tokens after `prefix`, each the argmax of the model's logits.

    At every step call next_logits on the whole sequence so far (prefix, then the tokens
    generated so far) as a 1-D int64 array, take the token with the largest logit (the
    smallest id among equal largest logits, as np.argmax does) and append it. Stop after
    n tokens, or right after generating `eos` if eos is not None (the eos is kept).
    Returns the generated tokens only (not the prefix), int64.
    """
    raise NotImplementedError("greedy_decode")


if MAIN:
    check(greedy_decode)


# %% [markdown]
# ## Temperature


# %%
def temperature_softmax(
    logits: Float[np.ndarray, "*batch V"], temperature: float
) -> Float[np.ndarray, "*batch V"]:
    """softmax(logits / temperature) over the last axis, for temperature > 0.

    Stable at any temperature: with temperature 0.01 the scaled logits reach 10^4 and
    must not overflow. Keeps the dtype (float32 in, float32 out); the tests compare with
    a relative tolerance of 1e-10 in float64 and 1e-5 in float32.
    """
    raise NotImplementedError("temperature_softmax")


if MAIN:
    check(temperature_softmax)


# %% [markdown]
# ## Truncation: top-k and top-p (nucleus)


# %%
def top_k_filter(probs: Float[np.ndarray, "*batch V"], k: int) -> Float[np.ndarray, "*batch V"]:
    """Keep the k most probable tokens of each row, zero the others, and renormalise.

    1 <= k <= V. The k kept are the first k in order of probability (larger first, the
    smaller id first among equal probabilities), so exactly k tokens are kept even when
    several share the k-th largest probability. Keeps the dtype; each row sums to 1.
    The tests want the kept set exactly and the values to a relative 1e-12 (float32: 1e-5).
    """
    raise NotImplementedError("top_k_filter")


if MAIN:
    check(top_k_filter)


# %%
def top_p_filter(probs: Float[np.ndarray, "*batch V"], p: float) -> Float[np.ndarray, "*batch V"]:
    """Nucleus filtering: keep the smallest set of most probable tokens whose total
    probability reaches p, zero the others, and renormalise. 0 < p <= 1.

    Sort the tokens by probability (larger first, the smaller id first among equal
    probabilities) and add their probabilities up in that order: the kept tokens are
    the first ones up to and including the first token at which the running total is
    >= p. So the most probable token is always kept, a total that lands exactly on p
    stops there, and if the total never reaches p (p = 1 and rounding) every token is
    kept. Keeps the dtype; each row sums to 1. The tests want the kept set exactly and
    the values to a relative 1e-12 (float32: 1e-5).
    """
    raise NotImplementedError("top_p_filter")


if MAIN:
    check(top_p_filter)


# %% [markdown]
# ## Sampling


# %%
def sample_next(
    logits: Float[np.ndarray, "N V"],
    rng: np.random.Generator,
    temperature: float = 1.0,
    top_k: int | None = None,
    top_p: float | None = None,
) -> Int[np.ndarray, " N"]:
    """Draw one token for each row of logits.

    q = temperature_softmax(logits, temperature); then top_k_filter(q, top_k) if top_k is
    not None; then top_p_filter(…, top_p) if top_p is not None (top-k first, then top-p,
    on the renormalised result). Then one call u = rng.random(N), and for row n the first
    token whose cumulative probability, divided by the row's total, exceeds u[n]:
    c = cumsum(q[n]) / sum(q[n]), token = number of entries of c that are <= u[n].
    (That is what rng.choice(V, p=q[n]) does, row after row.) A token of probability 0
    is never drawn. Returns (N,) int64.
    """
    raise NotImplementedError("sample_next")


if MAIN:
    check(sample_next)


# %%
def generate(
    next_logits: NextLogits,
    prefix: Int[np.ndarray, " t0"],
    n: int,
    rng: np.random.Generator,
    temperature: float = 1.0,
    top_k: int | None = None,
    top_p: float | None = None,
    eos: int | None = None,
) -> Int[np.ndarray, " generated"]:
    """Sample up to n tokens after `prefix`, one at a time.

    Each step calls next_logits on the whole sequence so far (a 1-D int64 array) and
    draws the next token with sample_next (its logits as a batch of one row, the same rng,
    temperature, top_k and top_p), so one number is drawn from rng per token. Stops after
    n tokens, or right after generating eos if eos is not None. Returns the generated
    tokens only, int64.
    """
    raise NotImplementedError("generate")


if MAIN:
    check(generate)


# %% [markdown]
# ## Beam search


# %%
def beam_search(
    next_logits: NextLogits,
    prefix: Int[np.ndarray, " t0"],
    beam_width: int,
    n: int,
    eos: int | None = None,
    alpha: float = 1.0,
) -> tuple[Int[np.ndarray, " generated"], float]:
    """Beam search for the continuation of `prefix` with the best length-normalised score.

    A hypothesis is a list of generated tokens with its log-probability
    logp = sum of log softmax(next_logits(ids so far))[token] over its tokens (natural log).
    Start from one live hypothesis, the empty one (logp 0). At each of at most n steps:
      1. extend every live hypothesis by every token of the vocabulary;
      2. of all these candidates, keep the beam_width with the largest logp (ties: the
         earlier live hypothesis, then the smaller token id);
      3. a kept candidate whose last token is eos (when eos is not None) is finished and
         is never extended again; the others are the new live hypotheses, most probable
         first. Stop early when no hypothesis is live.
    After the last step the hypotheses still live are finished too (they have n tokens).
    The answer is the finished hypothesis with the largest score
        logp / L ** alpha,  L = its number of generated tokens (eos included, prefix not),
    alpha = 1 the mean log-probability per token, alpha = 0 the raw logp (ties: the one
    that finished first). Returns (its tokens as int64, its score as a Python float; the
    tests want the tokens exactly and the score to a relative 1e-10).
    """
    raise NotImplementedError("beam_search")


if MAIN:
    check(beam_search)


# %% [markdown]
# ## Try them on a tiny bigram model
#
# A model whose next-token logits depend only on the last token: a (V, V) table.

# %%
if MAIN:
    table = np.log(
        np.array(
            [
                [0.05, 0.60, 0.30, 0.05],
                [0.50, 0.05, 0.40, 0.05],
                [0.30, 0.30, 0.10, 0.30],
                [0.25, 0.25, 0.25, 0.25],
            ]
        )
    )

    def bigram(ids: np.ndarray) -> np.ndarray:
        return table[ids[-1]]

    try:
        start = np.array([3])
        print("greedy   ", greedy_decode(bigram, start, 8))
        print("T = 0.7  ", generate(bigram, start, 8, np.random.default_rng(0), temperature=0.7))
        print("top-p 0.8", generate(bigram, start, 8, np.random.default_rng(0), top_p=0.8))
        print("beam 3   ", beam_search(bigram, start, 3, 6, eos=0))
    except NotImplementedError as missing:
        print(f"Finish {missing} to decode.")
