# %% [markdown]
# # Chapter 9, part 1: connectionist temporal classification (CTC)
#
# Reading: chapters/chapter9_scaling_and_retrieval/part1_ctc.md
#
# Fill in each function, then run the cell below it: `check(fn)` runs that exercise's
# tests here and prints a verdict. `python -m grader chapter9/part1` grades the file.
#
# A model reads N sequences of T frames and gives, for each frame, logits over C symbols:
# logits (N, T, C). Symbol 0 is the blank. Each sequence n has a label sequence
# labels[n, :label_lengths[n]] (labels (N, L), padded to the longest with any symbol),
# and only its first input_lengths[n] frames are real. This is the layout PyTorch's
# `ctc_loss` takes (with batch first).
#
# Conventions: float64 or float32 (a function given float32 returns float32); no function
# changes its inputs; every recursion stays in log space (log 0 = −inf).

# %%
from __future__ import annotations

import numpy as np
from jaxtyping import Bool, Float, Int

from grader.check import check

MAIN = __name__ == "__main__"
BLANK = 0


def log_softmax(logits: Float[np.ndarray, "N T C"]) -> Float[np.ndarray, "N T C"]:
    """log softmax over the last axis, stable (the largest logit is subtracted first). (Given.)"""
    shifted = logits - logits.max(axis=-1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=-1, keepdims=True))


# %% [markdown]
# ## The extended label sequence


# %%
def extend_labels(
    labels: Int[np.ndarray, "N L"], label_lengths: Int[np.ndarray, " N"], blank: int = BLANK
) -> Int[np.ndarray, "N S"]:
    """The extended label sequences, S = 2L + 1: a blank before each label, between labels
    and after the last, so that label i of sequence n sits at position 2i + 1:

        labels [3, 1, 1] → [blank, 3, blank, 1, blank, 1, blank].

    Sequence n's extended length is 2·label_lengths[n] + 1; every position past it holds
    the blank, whatever padding `labels` holds there. Returns an int64 array (N, 2L + 1)."""
    raise NotImplementedError("extend_labels")


if MAIN:
    check(extend_labels)


# %%
def skip_allowed(ext: Int[np.ndarray, "N S"], blank: int = BLANK) -> Bool[np.ndarray, "N S"]:
    """Where an alignment may jump two positions, from s − 2 straight to s (skipping the
    blank between): only onto a label (ext[s] is not the blank) that differs from the label
    two positions back (ext[s] != ext[s − 2]). Between two equal labels the blank is
    compulsory: without it the repeat would merge into one label. Positions 0 and 1 have
    no s − 2: False. Returns a bool array (N, S)."""
    raise NotImplementedError("skip_allowed")


if MAIN:
    check(skip_allowed)


# %% [markdown]
# ## The forward and backward recursions, in log space


# %%
def logsumexp3(
    a: Float[np.ndarray, "*shape"], b: Float[np.ndarray, "*shape"], c: Float[np.ndarray, "*shape"]
) -> Float[np.ndarray, "*shape"]:
    """log(e^a + e^b + e^c) elementwise, stable: with m the largest of the three,

        m + log(e^(a−m) + e^(b−m) + e^(c−m)),

    so that numbers like ±1000 neither overflow nor underflow (relative error 1e-12 in
    float64). −inf stands for probability 0: where all three are −inf the result is −inf,
    with no warning (no nan). Keeps the dtype (float32 in, float32 out)."""
    raise NotImplementedError("logsumexp3")


if MAIN:
    check(logsumexp3)


# %%
def ctc_alpha(
    log_probs: Float[np.ndarray, "N T C"], ext: Int[np.ndarray, "N S"], skip: Bool[np.ndarray, "N S"]
) -> Float[np.ndarray, "N T S"]:
    """The forward variables in log space, log_alpha[n, t, s] = log of the total probability
    of the frames 0 … t emitting the first s + 1 symbols of ext[n] (a path that is at
    position s at frame t):

        log_alpha[n, 0, 0] = log_probs[n, 0, ext[n, 0]], log_alpha[n, 0, 1] = log_probs[n, 0, ext[n, 1]],
        every other position −inf at t = 0, and for t ≥ 1
        log_alpha[n, t, s] = logsumexp(log_alpha[n, t−1, s], log_alpha[n, t−1, s−1],
                                       log_alpha[n, t−1, s−2] if skip[n, s])
                             + log_probs[n, t, ext[n, s]],

    a term with no s − 1 or s − 2 left out. Every frame is computed, also past an example's
    input length (the recursion only looks back, so those entries are never read).
    Use your logsumexp3. Vectorised over the batch and over s (one Python loop over time);
    log 0 = −inf with no warning; no underflow on 500 frames. Returns an array of log_probs' dtype."""
    raise NotImplementedError("ctc_alpha")


if MAIN:
    check(ctc_alpha)


# %%
def ctc_beta(
    log_probs: Float[np.ndarray, "N T C"],
    ext: Int[np.ndarray, "N S"],
    skip: Bool[np.ndarray, "N S"],
    input_lengths: Int[np.ndarray, " N"],
    ext_lengths: Int[np.ndarray, " N"],
) -> Float[np.ndarray, "N T S"]:
    """The backward variables in log space, log_beta[n, t, s] = log of the total probability
    of the frames t + 1 … T_n − 1 emitting the rest of ext[n] (the positions after s), given
    a path at position s at frame t. T_n = input_lengths[n], S_n = ext_lengths[n]. The frame
    t's own symbol is NOT included (alpha has it), so that for every t < T_n
    logsumexp_s(log_alpha[n, t, s] + log_beta[n, t, s]) = log p(labels | x).

        log_beta[n, T_n − 1, s] = 0 for s = S_n − 1 and s = S_n − 2 (a path ends on the last
        label or the blank after it), −inf elsewhere; for t < T_n − 1
        log_beta[n, t, s] = logsumexp over s' in (s, s + 1, and s + 2 if skip[n, s + 2]) of
                            (log_probs[n, t + 1, ext[n, s']] + log_beta[n, t + 1, s']);

    and −inf at every frame t ≥ T_n. Use your logsumexp3. Vectorised over the batch and
    over s (one Python loop over time); no warning; no underflow on 500 frames. Returns
    an array of log_probs' dtype."""
    raise NotImplementedError("ctc_beta")


if MAIN:
    check(ctc_beta)


# %% [markdown]
# ## The loss and its gradient


# %%
def ctc_loss(
    logits: Float[np.ndarray, "N T C"],
    labels: Int[np.ndarray, "N L"],
    input_lengths: Int[np.ndarray, " N"],
    label_lengths: Int[np.ndarray, " N"],
    blank: int = BLANK,
) -> Float[np.ndarray, " N"]:
    """The CTC loss of each example, −log p(labels[n] | x[n]) (PyTorch's reduction="none";
    "sum" is its sum), with your extend_labels, skip_allowed and ctc_alpha on the given
    log_softmax of the logits:

        −log p = −logsumexp(log_alpha[n, T_n − 1, S_n − 1], log_alpha[n, T_n − 1, S_n − 2])

    with T_n = input_lengths[n] and S_n = 2·label_lengths[n] + 1 (an empty label has only
    the first term). A label no alignment of T_n frames can emit has loss +inf, with no
    warning. Returns an array (N,) of logits' dtype."""
    raise NotImplementedError("ctc_loss")


if MAIN:
    check(ctc_loss)


# %%
def ctc_loss_and_grad(
    logits: Float[np.ndarray, "N T C"],
    labels: Int[np.ndarray, "N L"],
    input_lengths: Int[np.ndarray, " N"],
    label_lengths: Int[np.ndarray, " N"],
    blank: int = BLANK,
) -> tuple[Float[np.ndarray, " N"], Float[np.ndarray, "N T C"]]:
    """The losses (N,) as ctc_loss gives them, and the gradient of their SUM with respect to
    the logits (N, T, C), through the log-softmax. With p_t = softmax(logits[n, t]) and
    gamma[t, s] = exp(log_alpha[t, s] + log_beta[t, s] + loss[n]), the probability that the
    path is at position s at frame t given the labels,

        grad[n, t, k] = p_t[k] − Σ_{s: ext[n, s] = k} gamma[t, s]    for t < T_n,
        grad[n, t, k] = 0                                             for t ≥ T_n.

    Use your ctc_beta with your ctc_alpha. Every label here can be emitted (finite losses).
    Returns (losses, grad) in logits' dtype."""
    raise NotImplementedError("ctc_loss_and_grad")


if MAIN:
    check(ctc_loss_and_grad)


if MAIN:
    # A batch of 4 sequences of 30 frames over 6 symbols, labels of up to 5 symbols.
    g = np.random.default_rng(0)
    x = g.normal(size=(4, 30, 6))
    y = g.integers(1, 6, size=(4, 5))
    T_n, L_n = np.array([30, 25, 20, 30]), np.array([5, 3, 4, 0])
    losses, grad = ctc_loss_and_grad(x, y, T_n, L_n)
    print("losses", np.round(losses, 3))
    print("each real frame's gradient sums to 0 over the symbols:", np.allclose(grad.sum(-1), 0))
