# %% [markdown]
# # Chapter 9, part 2: decoding CTC, and a small model trained with it
#
# Reading: chapters/chapter9_scaling_and_retrieval/part2_ctc_decoding.md
#
# Fill in each function, then run the cell below it: `check(fn)` runs that exercise's
# tests here and prints a verdict. `python -m grader chapter9/part2` grades the file.
#
# A model gives, for each frame of a sequence, log-probabilities over C symbols, symbol 0
# being the blank: log_probs (T, C) for one sequence, (N, T, C) for a batch. Decoding turns
# them into a label sequence (a list of ints, no blanks). Training uses part 1's
# ctc_loss_and_grad.
#
# Conventions: float64; no function changes its inputs; randomness only from the
# `rng: np.random.Generator` passed in.

# %%
from __future__ import annotations

import time

import numpy as np
from chapter9_scaling_and_retrieval.part1_ctc import ctc_loss_and_grad, log_softmax
from jaxtyping import Float, Int

from grader.check import check

MAIN = __name__ == "__main__"
BLANK = 0


# %% [markdown]
# ## Best-path (greedy) decoding


# %%
def greedy_decode(
    log_probs: Float[np.ndarray, "N T C"], input_lengths: Int[np.ndarray, " N"], blank: int = BLANK
) -> list[list[int]]:
    """Best-path decoding: for each sequence n, the most probable symbol of each of its
    first input_lengths[n] frames (ties to the lowest symbol, as np.argmax), then the
    collapse: merge runs of the same symbol, THEN drop the blanks, so that a blank between
    two equal symbols keeps both ([1, 1, 0, 1, 2, 2] → [1, 1, 2]). Returns one list of
    Python ints per sequence."""
    raise NotImplementedError("greedy_decode")


if MAIN:
    check(greedy_decode)


# %% [markdown]
# ## Prefix beam search


# %%
def prefix_beam_search(
    log_probs: Float[np.ndarray, "T C"], beam_width: int, blank: int = BLANK
) -> list[tuple[tuple[int, ...], float]]:
    """Prefix beam search over one sequence's log_probs (T, C). Each prefix (a tuple of
    labels) carries two log-probabilities: log_b, of the paths so far that collapse to it
    and END IN A BLANK, and log_nb, of those that end in its last label. Start from the
    empty prefix with log_b = 0, log_nb = −inf. At each frame t, from every prefix of the
    beam (total = logaddexp(log_b, log_nb)), with y = log_probs[t]:

        the blank:             prefix keeps,           log_b  += total + y[blank]
        c, the prefix's last:  prefix keeps,           log_nb += log_nb + y[c]   (a repeat merges)
                               prefix + (c,) grows,    log_nb += log_b + y[c]    (after a blank)
        any other label c:     prefix + (c,) grows,    log_nb += total + y[c]

    ("+=" adds probabilities: logaddexp into the new frame's entry, which starts at −inf).
    Then keep the beam_width prefixes with the largest total; ties go to the smaller prefix
    (Python's tuple order, () first). A prefix of probability 0 (a total of −inf) is never
    kept. Returns the final beam as a list of (prefix, total),
    best first (same order). With a beam at least as wide as the number of prefixes, every
    total is exactly log p(prefix | x) (relative 1e-9)."""
    raise NotImplementedError("prefix_beam_search")


if MAIN:
    check(prefix_beam_search)


# %% [markdown]
# ## A small model trained with CTC


def make_sequences(
    n: int, rng: np.random.Generator, symbols: int = 4, dim: int = 8, noise: float = 0.8
) -> tuple[Float[np.ndarray, "N T D"], Int[np.ndarray, " N"], Int[np.ndarray, "N L"], Int[np.ndarray, " N"]]:
    """n generated "utterances": (X (n, T, dim), input_lengths, labels (n, 4), label_lengths).
    (Given.) Each has 2 to 4 labels from 1 … symbols; each label is said for 2 to 4 frames
    of its own prototype vector (drawn once, from a fixed generator) plus Gaussian noise;
    0 to 2 frames of silence (noise only) go before, between and after the labels, at least
    one between two equal labels. Frames past an utterance's length are 0."""
    prototypes = np.random.default_rng(1234).normal(size=(symbols + 1, dim)) * 1.5
    prototypes[0] = 0.0  # silence
    utterances, labels = [], np.zeros((n, 4), dtype=np.int64)
    label_lengths = rng.integers(2, 5, size=n)
    for i in range(n):
        frames: list[int] = []
        for j in range(label_lengths[i]):
            labels[i, j] = rng.integers(1, symbols + 1)
            gap = rng.integers(0, 3)
            if j > 0 and labels[i, j] == labels[i, j - 1]:
                gap = max(gap, 1)
            frames += [0] * gap + [int(labels[i, j])] * int(rng.integers(2, 5))
        frames += [0] * int(rng.integers(0, 3))
        utterances.append(np.array(frames))
    input_lengths = np.array([len(u) for u in utterances])
    X = np.zeros((n, input_lengths.max(), dim))
    for i, u in enumerate(utterances):
        X[i, : len(u)] = prototypes[u] + noise * rng.normal(size=(len(u), dim))
    return X, input_lengths, labels, label_lengths


def edit_distance(a: list[int], b: list[int]) -> int:
    """The Levenshtein distance: the fewest insertions, deletions and substitutions that
    turn a into b. (Given.)"""
    row = list(range(len(b) + 1))
    for i, x in enumerate(a, 1):
        previous, row[0] = row[0], i
        for j, y in enumerate(b, 1):
            previous, row[j] = row[j], min(row[j] + 1, row[j - 1] + 1, previous + (x != y))
    return row[-1]


def label_error_rate(decoded: list[list[int]], labels: Int[np.ndarray, "N L"], label_lengths) -> float:
    """Σ edit distances / Σ label lengths. (Given.)"""
    errors = sum(edit_distance(d, list(labels[n, : label_lengths[n]])) for n, d in enumerate(decoded))
    return errors / int(np.sum(label_lengths))


# %%
def train_ctc_model(
    X: Float[np.ndarray, "N T D"],
    input_lengths: Int[np.ndarray, " N"],
    labels: Int[np.ndarray, "N L"],
    label_lengths: Int[np.ndarray, " N"],
    symbols: int,
    steps: int,
    rng: np.random.Generator,
    lr: float = 0.05,
) -> tuple[dict[str, np.ndarray], list[float]]:
    """Train a per-frame linear model, logits[n, t] = X[n, t] @ W + b (W (D, C), b (C,),
    C = symbols + 1 with the blank 0), on the CTC loss with part 1's ctc_loss_and_grad.

    Start from W = 0.01 · rng.normal(size=(D, C)) and b = 0. Each of `steps` steps takes
    the whole batch, the mean loss over the N sequences and its gradient (dW = Σ over the
    real frames of x_t^T dlogits_t, db = Σ dlogits_t, both divided by N), and one Adam
    update of each parameter θ with its gradient g, at step k = 1, 2, …:

        m = 0.9·m + 0.1·g,  v = 0.999·v + 0.001·g²  (both starting at 0),
        θ = θ − lr · m̂ / (√v̂ + 1e-8),  m̂ = m / (1 − 0.9^k),  v̂ = v / (1 − 0.999^k)

    (eps added to √v̂, the bias-corrected root: the tests' first step is θ − lr·g/(|g| + 1e-8)).
    Returns ({"W", "b"}, the mean loss before each step)."""
    raise NotImplementedError("train_ctc_model")


if MAIN:
    check(train_ctc_model)


if MAIN:
    g = np.random.default_rng(0)
    X, T_n, y, L_n = make_sequences(200, g)
    X_test, T_test, y_test, L_test = make_sequences(200, g)
    start = time.perf_counter()
    params, history = train_ctc_model(X, T_n, y, L_n, 4, 150, g)
    seconds = time.perf_counter() - start
    log_probs = log_softmax(X_test @ params["W"] + params["b"])
    ler = label_error_rate(greedy_decode(log_probs, T_test), y_test, L_test)
    print(f"mean CTC loss {history[0]:.2f} -> {history[-1]:.2f} in {seconds:.1f} s")
    print(f"greedy label error rate on 200 new utterances: {ler:.1%} (an empty output: 100%)")
