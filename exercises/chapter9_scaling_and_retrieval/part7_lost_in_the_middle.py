# %% [markdown]
# # Chapter 9, part 7: lost in the middle
#
# Reading: chapters/chapter9_scaling_and_retrieval/part7_lost_in_the_middle.md
#
# Fill in each function, then run the cell below it: `check(fn)` runs that exercise's
# tests here and prints a verdict. `python -m grader chapter9/part7` grades the file.
#
# Liu et al. (2023) gave language models a question and 20 retrieved documents, one of
# which holds the answer, and moved that document from first to last: accuracy was high
# at the two ends and lowest in the middle (a U-shaped curve). This part builds the
# measurement on a toy reader whose attention has a stated position bias, and draws the
# curve.
#
# Conventions: a batch of N questions, each with a context of n passages. A passage is a
# key vector (d,) and an answer label (an int in 0 … A−1). queries (N, d); keys
# (N, n, d); labels (N, n) int64. The relevant ("gold") passage of question i has key
# gold_keys[i] (close to queries[i]) and label gold_labels[i], the answer; the other n − 1
# passages are distractors. Positions are 0 … n−1, first to last. float64; randomness
# only from a passed rng; no function changes its inputs.

# %%
from __future__ import annotations

from typing import Callable

import numpy as np
from jaxtyping import Float, Int

from coursedata import line_chart
from grader.check import check

MAIN = __name__ == "__main__"

Reader = Callable[
    [Float[np.ndarray, "N d"], Float[np.ndarray, "N n d"], Int[np.ndarray, "N n"]], Int[np.ndarray, " N"]
]


def make_questions(
    N: int, n: int, rng: np.random.Generator, d: int = 16, answers: int = 10, noise: float = 0.6
):
    """N questions, each with its gold passage and n − 1 distractors. (Given.)

    Returns (queries (N, d), gold_keys (N, d), gold_labels (N,), distractor_keys
    (N, n−1, d), distractor_labels (N, n−1)): unit-variance Gaussian queries and distractor
    keys, gold key = query + noise · Gaussian, labels uniform over `answers`."""
    queries = rng.normal(size=(N, d))
    gold_keys = queries + noise * rng.normal(size=(N, d))
    gold_labels = rng.integers(answers, size=N)
    distractor_keys = rng.normal(size=(N, n - 1, d))
    distractor_labels = rng.integers(answers, size=(N, n - 1))
    return queries, gold_keys, gold_labels, distractor_keys, distractor_labels


# %% [markdown]
# ## Building the contexts


# %%
def place_gold(
    gold_keys: Float[np.ndarray, "N d"],
    gold_labels: Int[np.ndarray, " N"],
    distractor_keys: Float[np.ndarray, "N m d"],
    distractor_labels: Int[np.ndarray, "N m"],
    position: int,
) -> tuple[Float[np.ndarray, "N n d"], Int[np.ndarray, "N n"]]:
    """The contexts with the gold passage at `position` (0 … m, where m = n − 1 is the
    number of distractors): distractors 0 … position−1, then the gold passage, then the
    remaining distractors, in their order. Returns (keys (N, m+1, d), labels (N, m+1))."""
    raise NotImplementedError("place_gold")


if MAIN:
    check(place_gold)


# %% [markdown]
# ## A reader with a position bias


# %%
def position_bias(n: int, strength: float, tau: float) -> Float[np.ndarray, " n"]:
    """The toy reader's position bias: b_j = strength · (exp(−j / tau) + exp(−(n−1−j) / tau))
    for j = 0 … n−1, a primacy term that decays from the first passage and a recency term
    that decays towards the last. (n,)"""
    raise NotImplementedError("position_bias")


if MAIN:
    check(position_bias)


# %%
def toy_reader(
    queries: Float[np.ndarray, "N d"],
    keys: Float[np.ndarray, "N n d"],
    labels: Int[np.ndarray, "N n"],
    bias: Float[np.ndarray, " n"],
    beta: float = 0.25,
    answers: int = 10,
) -> Int[np.ndarray, " N"]:
    """The toy reader: attention over the n passages with logits beta · q·k_j + bias[j]
    (softmax over the passages), then the answer with the most attention: for each label
    a, the total weight of the passages labelled a; the argmax (lowest label on ties).
    Returns int64 (N,)."""
    raise NotImplementedError("toy_reader")


if MAIN:
    check(toy_reader)


# %% [markdown]
# ## The measurement


# %%
def accuracy_by_position(
    reader: Reader,
    queries: Float[np.ndarray, "N d"],
    gold_keys: Float[np.ndarray, "N d"],
    gold_labels: Int[np.ndarray, " N"],
    distractor_keys: Float[np.ndarray, "N m d"],
    distractor_labels: Int[np.ndarray, "N m"],
) -> tuple[Float[np.ndarray, " n"], Float[np.ndarray, " n"]]:
    """Accuracy against the gold passage's position: for each position p = 0 … m (n = m + 1
    positions), place the gold passage at p with place_gold (the same distractors, in the
    same order, for every p), call reader(queries, keys, labels) once, and count the
    answers equal to gold_labels. Returns (accuracy (n,), standard error (n,)), the
    standard error of a proportion sqrt(acc (1 − acc) / N)."""
    raise NotImplementedError("accuracy_by_position")


if MAIN:
    check(accuracy_by_position)


# %%
def accuracy_without_gold(
    reader: Reader,
    queries: Float[np.ndarray, "N d"],
    gold_labels: Int[np.ndarray, " N"],
    distractor_keys: Float[np.ndarray, "N m d"],
    distractor_labels: Int[np.ndarray, "N m"],
) -> float:
    """The baseline the curve is read against: the reader's accuracy when the context holds
    only the m distractors (no gold passage), one call reader(queries, distractor_keys,
    distractor_labels); the fraction of answers equal to gold_labels, a float. For the
    toy reader it is about the chance of guessing, 1 / answers; for a language model it is
    its closed-book accuracy."""
    raise NotImplementedError("accuracy_without_gold")


if MAIN:
    check(accuracy_without_gold)
    g = np.random.default_rng(0)
    curves = {}
    for n in (10, 20, 30):
        task = make_questions(2000, n, g)
        for strength in (0.0, 3.0):

            def reader(q, k, lab, s=strength):  # the bias fits however many passages it is given
                return toy_reader(q, k, lab, position_bias(k.shape[1], s, tau=2.0))

            acc, se = accuracy_by_position(reader, *task)
            curves[f"{n} passages, bias {strength:g}"] = (np.arange(1, n + 1), acc)
            print(
                f"n = {n:2d}, bias {strength:g}: accuracy first {acc[0]:.3f}, "
                f"middle {acc[n // 2]:.3f}, last {acc[-1]:.3f}"
            )
    queries, _, gold_labels, distractor_keys, distractor_labels = task
    no_gold = accuracy_without_gold(reader, queries, gold_labels, distractor_keys, distractor_labels)
    print(f"n = 30, bias 3, the 29 distractors alone: accuracy {no_gold:.3f}")
    curves["30 passages, no gold passage"] = (np.arange(1, 31), np.full(30, no_gold))
    print(
        "wrote",
        line_chart(
            curves,
            "lost_in_the_middle.svg",
            "Accuracy against the gold passage's position",
            "position of the gold passage (1 = first)",
            "accuracy",
        ),
    )
