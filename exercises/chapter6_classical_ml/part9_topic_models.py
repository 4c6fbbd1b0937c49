# %% [markdown]
# # Chapter 6, part 9: topic models — latent Dirichlet allocation by collapsed Gibbs sampling
#
# Reading: chapters/chapter6_classical_ml/part9_topic_models.md
#
# Fill in each function, then run the cell below it: `check(fn)` runs that exercise's
# tests here and prints a verdict. `python -m grader chapter6/part9` grades the file.
#
# Conventions:
# - a corpus of D documents over a vocabulary of W words is stored token by token: doc[i]
#   and word[i] are the document and the word of token i (int64 arrays of length N);
# - z[i] in 0..K-1 is the topic assigned to token i;
# - the counts are n_dk[d, k] (tokens of document d in topic k, shape (D, K)), n_kw[k, w]
#   (tokens of word w in topic k, shape (K, W)) and n_k[k] (tokens in topic k, shape (K,)),
#   all int64;
# - alpha and beta are the symmetric Dirichlet priors of the documents' topic mixtures and
#   of the topics' word distributions; every random draw comes from the `rng` passed in;
#   no function changes its inputs.

# %%
from __future__ import annotations

import re
from collections import Counter

import numpy as np
from jaxtyping import Float, Int

from coursedata import load_pydoc_text
from grader.check import check

MAIN = __name__ == "__main__"

STOP = set(
    """the and for that this are not with can but from which when its has have will been
    also any may used use one all more than two other such into only then there these they
    their them what each see was were most some would should could does must like new same
    first following example note name given""".split()
)


def corpus_from_text(
    text: str, n_words: int = 600, min_tokens: int = 20
) -> tuple[Int[np.ndarray, " N"], Int[np.ndarray, " N"], list[str]]:
    """(doc, word, vocab) from text: its paragraphs (separated by a blank line) are the
    documents; a word is a run of 3 or more letters, lowercased, not in STOP; the vocabulary
    is the n_words most frequent words (ties alphabetical); paragraphs with fewer than
    min_tokens vocabulary words are left out. (Given.)"""
    paragraphs = [re.findall(r"[a-z]{3,}", p.lower()) for p in text.split("\n\n")]
    paragraphs = [[w for w in p if w not in STOP] for p in paragraphs]
    freq = Counter(w for p in paragraphs for w in p)
    vocab = sorted(freq, key=lambda w: (-freq[w], w))[:n_words]
    index = {w: i for i, w in enumerate(vocab)}
    docs = [[index[w] for w in p if w in index] for p in paragraphs]
    docs = [d for d in docs if len(d) >= min_tokens]
    doc = np.concatenate([np.full(len(d), j, dtype=np.int64) for j, d in enumerate(docs)])
    word = np.concatenate([np.array(d, dtype=np.int64) for d in docs])
    return doc, word, vocab


# %% [markdown]
# ## The counts


# %%
def topic_counts(
    doc: Int[np.ndarray, " N"], word: Int[np.ndarray, " N"], z: Int[np.ndarray, " N"], D: int, K: int, W: int
) -> tuple[Int[np.ndarray, "D K"], Int[np.ndarray, "K W"], Int[np.ndarray, " K"]]:
    """(n_dk, n_kw, n_k) of the assignment z: n_dk[d, k] = #{i : doc[i] = d, z[i] = k},
    n_kw[k, w] = #{i : z[i] = k, word[i] = w}, n_k[k] = #{i : z[i] = k}; int64 arrays of
    shapes (D, K), (K, W) and (K,)."""
    raise NotImplementedError("topic_counts")


if MAIN:
    check(topic_counts)


# %% [markdown]
# ## One token's topic, given all the others


# %%
def topic_conditional(
    d: int | np.integer,
    w: int | np.integer,
    n_dk: Int[np.ndarray, "D K"],
    n_kw: Int[np.ndarray, "K W"],
    n_k: Int[np.ndarray, " K"],
    alpha: float,
    beta: float,
) -> Float[np.ndarray, " K"]:
    """The collapsed Gibbs conditional of the topic of one token of word w in document d,
    from counts that leave that token out (d and w may be Python or NumPy integers):

        p(k) ∝ (n_dk[d, k] + alpha) * (n_kw[k, w] + beta) / (n_k[k] + W * beta),

    W = n_kw.shape[1]. Returns the normalised float64 vector of length K (it sums to 1;
    the tests allow 1e-6 relative error)."""
    raise NotImplementedError("topic_conditional")


if MAIN:
    check(topic_conditional)


# %% [markdown]
# ## A Gibbs sweep


# %%
def gibbs_sweep(
    doc: Int[np.ndarray, " N"],
    word: Int[np.ndarray, " N"],
    z: Int[np.ndarray, " N"],
    n_dk: Int[np.ndarray, "D K"],
    n_kw: Int[np.ndarray, "K W"],
    n_k: Int[np.ndarray, " K"],
    alpha: float,
    beta: float,
    rng: np.random.Generator,
) -> tuple[Int[np.ndarray, " N"], Int[np.ndarray, "D K"], Int[np.ndarray, "K W"], Int[np.ndarray, " K"]]:
    """One sweep of collapsed Gibbs sampling: for each token i = 0, 1, ..., N - 1 in order,

    1. take token i out of the counts (subtract 1 from n_dk[d, z[i]], n_kw[z[i], w] and
       n_k[z[i]], with d = doc[i], w = word[i]);
    2. p = topic_conditional(d, w, ...) with those counts;
    3. draw the new topic with one uniform draw u = rng.random(): the first k with
       u < cumsum(p)[k] (K - 1 if rounding leaves none);
    4. put the token back in the counts under its new topic z[i] = k.

    Returns new arrays (z, n_dk, n_kw, n_k); the inputs are not changed."""
    raise NotImplementedError("gibbs_sweep")


if MAIN:
    check(gibbs_sweep)


# %% [markdown]
# ## What the sampler has learned


# %%
def lda_estimates(
    n_dk: Int[np.ndarray, "D K"], n_kw: Int[np.ndarray, "K W"], alpha: float, beta: float
) -> tuple[Float[np.ndarray, "D K"], Float[np.ndarray, "K W"]]:
    """(theta, phi): the posterior-mean topic mixture of each document and word distribution
    of each topic given the counts,

        theta[d, k] = (n_dk[d, k] + alpha) / (n_d + K * alpha),   n_d = sum_k n_dk[d, k],
        phi[k, w] = (n_kw[k, w] + beta) / (n_k + W * beta),       n_k = sum_w n_kw[k, w].

    float64; every row of each sums to 1 (the tests allow 1e-6 relative error)."""
    raise NotImplementedError("lda_estimates")


if MAIN:
    check(lda_estimates)


# %%
def lda_log_likelihood(
    n_dk: Int[np.ndarray, "D K"], n_kw: Int[np.ndarray, "K W"], alpha: float, beta: float
) -> float:
    """log p(words, z | alpha, beta) with theta and phi integrated out, a float:

        sum_k [ lnΓ(W beta) - W lnΓ(beta) + sum_w lnΓ(n_kw[k, w] + beta) - lnΓ(n_k + W beta) ]
      + sum_d [ lnΓ(K alpha) - K lnΓ(alpha) + sum_k lnΓ(n_dk[d, k] + alpha) - lnΓ(n_d + K alpha) ]

    (lnΓ is math.lgamma or scipy.special.gammaln; the tests allow 1e-6 relative error)."""
    raise NotImplementedError("lda_log_likelihood")


if MAIN:
    check(lda_log_likelihood)


# %%
def top_words(phi: Float[np.ndarray, "K W"], vocab: list[str], m: int) -> list[list[str]]:
    """For each topic k, the m words of largest phi[k], most probable first (the lower word
    index first on ties): a list of K lists of m strings."""
    raise NotImplementedError("top_words")


if MAIN:
    check(top_words)


# %% [markdown]
# ## The whole sampler


# %%
def run_lda(
    doc: Int[np.ndarray, " N"],
    word: Int[np.ndarray, " N"],
    D: int,
    W: int,
    K: int,
    alpha: float,
    beta: float,
    sweeps: int,
    rng: np.random.Generator,
) -> tuple[Float[np.ndarray, "D K"], Float[np.ndarray, "K W"], Float[np.ndarray, " sweeps_plus_1"]]:
    """LDA by collapsed Gibbs sampling: z = rng.integers(K, size=N) (one call), its counts by
    topic_counts, then `sweeps` calls of gibbs_sweep (with this rng). Returns (theta, phi)
    from lda_estimates of the final counts, and the float64 array of sweeps + 1 values of
    lda_log_likelihood: of the initial assignment, then after each sweep."""
    raise NotImplementedError("run_lda")


if MAIN:
    check(run_lda)
    import time

    from coursedata import line_chart

    doc, word, vocab = corpus_from_text(load_pydoc_text())
    D, W, K = int(doc.max()) + 1, len(vocab), 8
    print(f"{D} paragraphs, {len(doc)} tokens, {W} words, {K} topics")
    start = time.perf_counter()
    theta, phi, curve = run_lda(doc, word, D, W, K, 0.1, 0.01, 40, np.random.default_rng(0))
    print(
        f"40 sweeps in {time.perf_counter() - start:.1f} s; log-likelihood {curve[0]:.0f} -> {curve[-1]:.0f}"
    )
    for k, words in enumerate(top_words(phi, vocab, 8)):
        print(f"topic {k}: {' '.join(words)}")
    print("wrote", line_chart({"log p(w, z)": curve}, "lda_likelihood.svg", "LDA on pydoc", "sweep", "log p"))
