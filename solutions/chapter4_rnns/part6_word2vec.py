# %% [markdown]
# # Chapter 4, part 6: word2vec, skip-gram with negative sampling
#
# Reading: chapters/chapter4_rnns/part6_word2vec.md
#
# Fill in each function, then run the cell below it: `check(fn)` runs that exercise's
# tests here and prints a verdict. `python -m grader chapter4/part6` grades the file.
#
# Mikolov et al.'s skip-gram with negative sampling (SGNS) on the words of Python's
# documentation. Every word w has two vectors: W_in[w] when it is the centre word (its
# embedding, v) and W_out[w] when it is a context word (u).
#
# Conventions: words are ids into a vocabulary sorted by frequency (id 0 the most
# frequent); arrays of ids are int64; vectors are rows; no function changes its inputs.

# %%
import re
import time

import numpy as np
from jaxtyping import Float, Int

from coursedata import load_pydoc_text
from grader.check import check

MAIN = __name__ == "__main__"


# %% [markdown]
# ## From text to training pairs


# %%
def tokenize(text: str) -> list[str]:
    """The words of text: lower-cased, a word being a maximal run of the letters a-z
    (digits, underscores and punctuation separate words). "Don't use __init__!" gives
    ["don", "t", "use", "init"]."""
    # BEGIN SOLUTION
    return re.findall(r"[a-z]+", text.lower())
    # END SOLUTION


if MAIN:
    check(tokenize)


# %%
def build_word_vocab(tokens: list[str], min_count: int) -> tuple[list[str], Int[np.ndarray, " vocab"]]:
    """(vocab, counts): the words occurring at least min_count times, most frequent first,
    words of equal count in alphabetical order; counts[i] (int64) is how often vocab[i] occurs."""
    # BEGIN SOLUTION
    found: dict[str, int] = {}
    for word in tokens:
        found[word] = found.get(word, 0) + 1
    kept = sorted((-n, word) for word, n in found.items() if n >= min_count)
    return [word for _, word in kept], np.array([-n for n, _ in kept], dtype=np.int64)
    # END SOLUTION


if MAIN:
    check(build_word_vocab)


def encode_words(tokens: list[str], vocab: list[str]) -> Int[np.ndarray, " n"]:
    """The ids of the tokens that are in vocab, in order; the others are dropped. (Given.)"""
    index = {word: i for i, word in enumerate(vocab)}
    return np.array([index[w] for w in tokens if w in index], dtype=np.int64)


# %%
def skipgram_pairs(
    ids: Int[np.ndarray, " n"], window: int
) -> tuple[Int[np.ndarray, " pairs"], Int[np.ndarray, " pairs"]]:
    """Every (centre, context) pair of the skip-gram: positions i and j with 1 <= |i - j| <= window
    (inside the text). Returns (centres, contexts) = (ids[i], ids[j]) over those pairs, int64,
    ordered by i, and for each i by j."""
    # BEGIN SOLUTION
    n = len(ids)
    i, j = np.meshgrid(np.arange(n), np.arange(-window, window + 1), indexing="ij")  # (n, 2w+1)
    j = i + j
    keep = (j != i) & (j >= 0) & (j < n)
    return ids[i[keep]], ids[j[keep]]  # row-major order: by i, then by j
    # END SOLUTION


if MAIN:
    check(skipgram_pairs)


# %% [markdown]
# ## Negative sampling


# %%
def negative_distribution(
    counts: Int[np.ndarray, " vocab"], power: float = 0.75
) -> Float[np.ndarray, " vocab"]:
    """The noise distribution of the negatives: P(w) proportional to counts[w] ** power
    (the unigram distribution raised to 3/4), float64, summing to 1."""
    # BEGIN SOLUTION
    weights = counts.astype(np.float64) ** power
    return weights / weights.sum()
    # END SOLUTION


if MAIN:
    check(negative_distribution)


# %%
def sample_negatives(
    probs: Float[np.ndarray, " vocab"], n: int, k: int, rng: np.random.Generator
) -> Int[np.ndarray, "n k"]:
    """k negative word ids for each of n pairs, drawn independently from probs:
    `rng.choice(len(probs), size=(n, k), p=probs)` (one call, nothing else drawn), int64."""
    # BEGIN SOLUTION
    return rng.choice(len(probs), size=(n, k), p=probs).astype(np.int64)
    # END SOLUTION


if MAIN:
    check(sample_negatives)


# %% [markdown]
# ## The loss and its gradient


# %%
def sgns_loss(
    v: Float[np.ndarray, "batch dim"],
    u_pos: Float[np.ndarray, "batch dim"],
    u_neg: Float[np.ndarray, "batch k dim"],
) -> tuple[
    float, Float[np.ndarray, "batch dim"], Float[np.ndarray, "batch dim"], Float[np.ndarray, "batch k dim"]
]:
    """The negative-sampling loss, averaged over the batch, and its gradients:

        L = mean over b of [ -log sigmoid(u_pos[b] . v[b]) - sum_k log sigmoid(-u_neg[b, k] . v[b]) ]

    Returns (L as a Python float, dL/dv, dL/du_pos, dL/du_neg). Stable for scores of any
    size: log sigmoid(s) = -log(1 + e^(-s)) must not overflow at s = -1000.
    """
    # BEGIN SOLUTION
    B = v.shape[0]
    s_pos = np.sum(u_pos * v, axis=-1)  # (B,)
    s_neg = np.einsum("bkd,bd->bk", u_neg, v)  # (B, K)
    loss = np.logaddexp(0.0, -s_pos).sum() + np.logaddexp(0.0, s_neg).sum()  # -log sigmoid(s) = log(1 + e^-s)
    # d(-log sigmoid(s))/ds = sigmoid(s) - 1;  d(-log sigmoid(-s))/ds = sigmoid(s)
    g_pos = (0.5 * (1.0 + np.tanh(0.5 * s_pos)) - 1.0) / B  # (B,)
    g_neg = 0.5 * (1.0 + np.tanh(0.5 * s_neg)) / B  # (B, K)
    dv = g_pos[:, None] * u_pos + np.einsum("bk,bkd->bd", g_neg, u_neg)
    return float(loss / B), dv, g_pos[:, None] * v, g_neg[:, :, None] * v[:, None, :]
    # END SOLUTION


if MAIN:
    check(sgns_loss)


# %%
def sgns_step(
    W_in: Float[np.ndarray, "vocab dim"],
    W_out: Float[np.ndarray, "vocab dim"],
    centres: Int[np.ndarray, " batch"],
    contexts: Int[np.ndarray, " batch"],
    negatives: Int[np.ndarray, "batch k"],
    lr: float,
) -> tuple[Float[np.ndarray, "vocab dim"], Float[np.ndarray, "vocab dim"], float]:
    """One SGD step of SGNS on a batch of pairs: v = W_in[centres], u_pos = W_out[contexts],
    u_neg = W_out[negatives]; sgns_loss; then every row used moves by -lr times its gradient.
    A word that appears several times in the batch (as centre, context or negative) moves
    by the sum of all its gradients. Returns (new W_in, new W_out, the loss before the step);
    W_in and W_out are not changed."""
    # BEGIN SOLUTION
    loss, dv, du_pos, du_neg = sgns_loss(W_in[centres], W_out[contexts], W_out[negatives])
    W_in, W_out = W_in.copy(), W_out.copy()
    np.add.at(W_in, centres, -lr * dv)
    np.add.at(W_out, contexts, -lr * du_pos)
    np.add.at(W_out, negatives, -lr * du_neg)
    return W_in, W_out, loss
    # END SOLUTION


if MAIN:
    check(sgns_step)


# %% [markdown]
# ## Nearest neighbours


# %%
def nearest_neighbours(E: Float[np.ndarray, "vocab dim"], query: int, k: int) -> Int[np.ndarray, " k"]:
    """The ids of the k words whose rows of E have the largest cosine similarity
    E[w] . E[query] / (|E[w]| |E[query]|) with the query's, most similar first, the query
    itself left out. int64."""
    # BEGIN SOLUTION
    unit = E / np.linalg.norm(E, axis=1, keepdims=True)
    similarity = unit @ unit[query]
    similarity[query] = -np.inf
    return np.argsort(-similarity, kind="stable")[:k].astype(np.int64)
    # END SOLUTION


if MAIN:
    check(nearest_neighbours)


# %% [markdown]
# ## Given: training on Python's documentation


# %%
def train_word2vec(
    ids: Int[np.ndarray, " n"],
    counts: Int[np.ndarray, " vocab"],
    dim: int,
    window: int,
    k: int,
    epochs: int,
    batch_size: int,
    lr: float,
    rng: np.random.Generator,
) -> tuple[Float[np.ndarray, "vocab dim"], Float[np.ndarray, "vocab dim"], list[float]]:
    """SGD on every skip-gram pair, shuffled each epoch, k negatives per pair. W_in starts
    uniform in (-0.5/dim, 0.5/dim) and W_out at zero (word2vec's initialisation).
    Returns (W_in, W_out, the mean loss of each epoch)."""
    V = len(counts)
    W_in = rng.uniform(-0.5 / dim, 0.5 / dim, size=(V, dim))
    W_out = np.zeros((V, dim))
    centres, contexts = skipgram_pairs(ids, window)
    probs = negative_distribution(counts)
    history = []
    for _ in range(epochs):
        order = rng.permutation(len(centres))
        losses = []
        for start in range(0, len(order), batch_size):
            batch = order[start : start + batch_size]
            negatives = sample_negatives(probs, len(batch), k, rng)
            W_in, W_out, loss = sgns_step(W_in, W_out, centres[batch], contexts[batch], negatives, lr)
            losses.append(loss)
        history.append(float(np.mean(losses)))
    return W_in, W_out, history


# %%
if MAIN:
    try:
        tokens = tokenize(load_pydoc_text())
        vocab, counts = build_word_vocab(tokens, min_count=5)
        ids = encode_words(tokens, vocab)
        start = time.perf_counter()
        W_in, W_out, history = train_word2vec(ids, counts, 50, 3, 5, 5, 256, 5.0, np.random.default_rng(0))
        print(
            f"{len(vocab)} words, {len(ids)} tokens, 5 epochs in {time.perf_counter() - start:.0f} s: "
            f"loss by epoch {np.round(history, 3)}"
        )
        for word in ("true", "raise", "float", "class", "key", "list"):
            near = nearest_neighbours(W_in, vocab.index(word), 6)
            print(f"{word:>8}: {', '.join(vocab[i] for i in near)}")
    except NotImplementedError as missing:
        print(f"Finish {missing} to train the embeddings.")
