# %% [markdown]
# # Chapter 9, part 6: RAG-sequence and RAG-token marginalisation
#
# Reading: chapters/chapter9_scaling_and_retrieval/part6_rag.md
#
# Fill in each function, then run the cell below it: `check(fn)` runs that exercise's
# tests here and prints a verdict. `python -m grader chapter9/part6` grades the file.
#
# Retrieval-augmented generation (Lewis et al., 2020) retrieves K passages z for an input
# x and generates the output y = (y_1 … y_T) from x and each passage. The passage is a
# latent variable, summed out in one of two ways:
#
#     RAG-sequence: p(y|x) = Σ_z p(z|x) Π_i p(y_i | x, z, y_<i)
#     RAG-token:    p(y|x) = Π_i Σ_z p(z|x) p(y_i | x, z, y_<i)
#
# Conventions: batch first. doc_scores (B, K) are the retriever's scores of the K passages
# (p(z|x) = softmax over the K passages of each row); token_logprobs (B, K, T) hold
# log p(y_i | x, z, y_<i), the generator's log-probability of target token i given passage
# z. Everything is in log space: probabilities of long outputs underflow (e^-800 is 0 in
# float64), so products become sums and sums of probabilities become log-sum-exps.
# float64 throughout; no function changes its inputs.

# %%
from __future__ import annotations

import numpy as np
from jaxtyping import Float, Int

from grader.check import check

MAIN = __name__ == "__main__"


def logsumexp(x: Float[np.ndarray, "..."], axis: int) -> Float[np.ndarray, "..."]:
    """log Σ exp(x) along `axis` (removed), stable: the maximum is taken out first, and an
    all −inf slice gives −inf. Always an array: a 1-D x gives a 0-d one. (Given.)"""
    m = np.max(x, axis=axis, keepdims=True)
    m = np.where(np.isfinite(m), m, 0.0)
    with np.errstate(divide="ignore"):
        return np.asarray(np.squeeze(m, axis) + np.log(np.sum(np.exp(x - m), axis=axis)))


def log_softmax(x: Float[np.ndarray, "..."], axis: int = -1) -> Float[np.ndarray, "..."]:
    """log softmax(x) along `axis`, stable. (Given.)"""
    return x - np.expand_dims(logsumexp(x, axis), axis)


def make_latent_retrieval(
    N: int, rng: np.random.Generator, K: int = 5, f: int = 8, T: int = 4
) -> tuple[Float[np.ndarray, "N K f"], Float[np.ndarray, "N K T"], Int[np.ndarray, " N"]]:
    """A generated task for training a retriever without passage labels. (Given.)

    Each of N inputs has K candidate passages with features (N, K, f), standard Gaussian,
    except that the useful passage (index useful[n], uniform) has 1.5 · u added, u a
    fixed hidden unit direction. A fixed generator gives each target token probability
    0.6 from the useful passage and 0.05 from any other: token_logprobs (N, K, T). Returns
    (features, token_logprobs, useful); the retriever never sees `useful`."""
    u = np.ones(f) / np.sqrt(f)
    features = rng.normal(size=(N, K, f))
    useful = rng.integers(K, size=N)
    features[np.arange(N), useful] += 1.5 * u
    token_logprobs = np.full((N, K, T), np.log(0.05))
    token_logprobs[np.arange(N), useful] = np.log(0.6)
    return features, token_logprobs, useful


# %% [markdown]
# ## Two ways to marginalise the passage


# %%
def rag_sequence_logprob(
    doc_scores: Float[np.ndarray, "B K"], token_logprobs: Float[np.ndarray, "B K T"]
) -> Float[np.ndarray, " B"]:
    """RAG-sequence: log p(y|x) = log Σ_z p(z|x) Π_i p(y_i | x, z, y_<i) for each of the B
    examples, with p(z|x) = softmax(doc_scores) over the K passages. One passage explains
    the whole output. Stays in log space (use the given logsumexp and log_softmax): correct
    for outputs whose probability underflows, such as token_logprobs summing to −1000.
    Returns (B,)."""
    # BEGIN SOLUTION
    log_pz = log_softmax(doc_scores, axis=1)  # (B, K)
    return logsumexp(log_pz + token_logprobs.sum(axis=2), axis=1)
    # END SOLUTION


if MAIN:
    check(rag_sequence_logprob)


# %%
def rag_token_logprob(
    doc_scores: Float[np.ndarray, "B K"], token_logprobs: Float[np.ndarray, "B K T"]
) -> Float[np.ndarray, " B"]:
    """RAG-token: log p(y|x) = Σ_i log Σ_z p(z|x) p(y_i | x, z, y_<i) for each of the B
    examples: every token may draw on a different passage. In log space, like
    rag_sequence_logprob. Returns (B,)."""
    # BEGIN SOLUTION
    log_pz = log_softmax(doc_scores, axis=1)
    return logsumexp(log_pz[:, :, None] + token_logprobs, axis=1).sum(axis=1)
    # END SOLUTION


if MAIN:
    check(rag_token_logprob)
    # Two passages, each knowing half of the answer "Paris, France" (two tokens).
    scores = np.log(np.array([[0.5, 0.5]]))
    tok = np.log(np.array([[[0.9, 0.1], [0.1, 0.9]]]))
    print("RAG-sequence p(y|x):", np.exp(rag_sequence_logprob(scores, tok)))  # 0.09
    print("RAG-token    p(y|x):", np.exp(rag_token_logprob(scores, tok)))  # 0.25


# %% [markdown]
# ## Gradients reaching the retriever


# %%
def rag_sequence_score_grad(
    doc_scores: Float[np.ndarray, "B K"], token_logprobs: Float[np.ndarray, "B K T"]
) -> Float[np.ndarray, "B K"]:
    """The gradient of Σ_b rag_sequence_logprob(...)[b] with respect to doc_scores: for each
    example, p(z | x, y) − p(z | x), the passage's posterior given the whole output minus
    its prior. (B, K); stays finite when the output's probability underflows."""
    # BEGIN SOLUTION
    log_pz = log_softmax(doc_scores, axis=1)
    posterior = np.exp(log_softmax(log_pz + token_logprobs.sum(axis=2), axis=1))
    return posterior - np.exp(log_pz)
    # END SOLUTION


if MAIN:
    check(rag_sequence_score_grad)


# %%
def rag_token_score_grad(
    doc_scores: Float[np.ndarray, "B K"], token_logprobs: Float[np.ndarray, "B K T"]
) -> Float[np.ndarray, "B K"]:
    """The gradient of Σ_b rag_token_logprob(...)[b] with respect to doc_scores: for each
    example, Σ_i (p(z | x, y_i, y_<i) − p(z | x)), where p(z | x, y_i, y_<i) ∝ p(z|x)
    p(y_i | x, z, y_<i) is token i's posterior over the passages. (B, K)."""
    # BEGIN SOLUTION
    log_pz = log_softmax(doc_scores, axis=1)
    posterior = np.exp(log_softmax(log_pz[:, :, None] + token_logprobs, axis=1))  # (B, K, T)
    return (posterior - np.exp(log_pz)[:, :, None]).sum(axis=2)
    # END SOLUTION


if MAIN:
    check(rag_token_score_grad)


# %%
def train_retriever(
    features: Float[np.ndarray, "N K f"],
    token_logprobs: Float[np.ndarray, "N K T"],
    steps: int = 100,
    lr: float = 1.0,
    marginal: str = "sequence",
) -> Float[np.ndarray, " f"]:
    """Train a linear retriever, doc_scores = features @ w (N, K), by gradient ascent on
    the mean over the N inputs of log p(y|x), with no passage labels: the generator's
    token_logprobs are all it learns from. marginal is "sequence" (your
    rag_sequence_score_grad) or "token" (your rag_token_score_grad).

    Start from w = 0 (every passage equally likely). Each step: dS = the marginal's score
    gradient (N, K), then w ← w + lr · Σ_{n,k} dS[n, k] features[n, k] / N. Returns w (f,).
    With the defaults on 500 inputs of make_latent_retrieval, the retriever ranks the
    useful passage first on 63% to 68% of 1,000 new inputs over 30 seeds (the tests ask
    55%; chance is 20%, and ranking by the hidden direction itself gets 65%)."""
    # BEGIN SOLUTION
    if marginal not in ("sequence", "token"):
        raise ValueError(f"marginal must be 'sequence' or 'token', got {marginal!r}")
    score_grad = rag_sequence_score_grad if marginal == "sequence" else rag_token_score_grad
    w = np.zeros(features.shape[2])
    for _ in range(steps):
        dS = score_grad(features @ w, token_logprobs)
        w = w + lr * np.einsum("nk,nkf->f", dS, features) / len(features)
    return w
    # END SOLUTION


if MAIN:
    check(train_retriever)
    g = np.random.default_rng(0)
    F, tok, _ = make_latent_retrieval(500, g)
    F_new, _, useful_new = make_latent_retrieval(1000, g)
    for marginal in ("sequence", "token"):
        w = train_retriever(F, tok, marginal=marginal)
        hit = np.mean(np.argmax(F_new @ w, axis=1) == useful_new)
        print(f"RAG-{marginal}: the useful passage ranked first on {hit:.1%} of new inputs (chance 20%)")


# %% [markdown]
# ## Generating with RAG-token


# %%
def rag_token_next_logprobs(
    doc_scores: Float[np.ndarray, "B K"], vocab_logprobs: Float[np.ndarray, "B K V"]
) -> Float[np.ndarray, "B V"]:
    """RAG-token's distribution of the next token: vocab_logprobs[b, z] is the generator's
    log-distribution over the V words given passage z (and the prefix so far); the
    result is log Σ_z p(z|x) p(w | x, z, y_<i) for every word w, (B, V), a log-distribution
    (each row's exp sums to 1). A beam search or a greedy decoder runs on it as on any
    language model's output."""
    # BEGIN SOLUTION
    return logsumexp(log_softmax(doc_scores, axis=1)[:, :, None] + vocab_logprobs, axis=1)
    # END SOLUTION


if MAIN:
    check(rag_token_next_logprobs)
