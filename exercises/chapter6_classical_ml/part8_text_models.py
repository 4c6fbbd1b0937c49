# %% [markdown]
# # Chapter 6, part 8: counting text — n-grams, smoothing, perplexity, TF-IDF, Huffman codes
#
# Reading: chapters/chapter6_classical_ml/part8_text_models.md
#
# Fill in each function, then run the cell below it: `check(fn)` runs that exercise's
# tests here and prints a verdict. `python -m grader chapter6/part8` grades the file.
#
# Conventions:
# - text is the standard library's pydoc topics (coursedata.load_pydoc_text()), read one
#   character at a time: ALPHABET holds the V = 96 characters it can contain, and
#   char_ids(text) turns a string into an int64 array of ids 0..V-1;
# - an n-gram table is an array with n axes of length V: axis j is the j-th character of
#   the n-gram, so probs[a, b, c] = P(c | a b) for a trigram model;
# - counts are int64, probabilities float64; no function changes its inputs.

# %%
from __future__ import annotations

import heapq
import itertools

import numpy as np
from jaxtyping import Float, Int

from coursedata import load_pydoc_text, split_text
from grader.check import check

MAIN = __name__ == "__main__"

ALPHABET = "\n" + "".join(chr(c) for c in range(32, 127))  # newline and printable ASCII


def char_ids(text: str) -> Int[np.ndarray, " length"]:
    """The ids of text's characters in ALPHABET, an int64 array. (Given.)"""
    table = np.full(128, -1, dtype=np.int64)
    table[[ord(ch) for ch in ALPHABET]] = np.arange(len(ALPHABET))
    ids = table[np.frombuffer(text.encode("ascii"), dtype=np.uint8)]
    if (ids < 0).any():
        raise ValueError("text holds a character outside ALPHABET")
    return ids


# %% [markdown]
# ## n-gram counts and additive smoothing


# %%
def ngram_counts(ids: Int[np.ndarray, " length"], n: int, V: int) -> Int[np.ndarray, "..."]:
    """counts[i_1, ..., i_n] = how many positions t have ids[t : t + n] == (i_1, ..., i_n).

    Every window of n consecutive ids counts, overlapping ones too: a sequence of T ids
    holds T - n + 1 n-grams (none if T < n). All ids are below V; the result is int64 of
    shape (V,) * n (n = 1 gives the count of each id).
    """
    raise NotImplementedError("ngram_counts")


if MAIN:
    check(ngram_counts)


# %%
def additive_smoothing(counts: Int[np.ndarray, "..."], alpha: float) -> Float[np.ndarray, "..."]:
    """The conditional probabilities of an n-gram model with add-alpha smoothing:

        P(w | context) = (c(context, w) + alpha) / (c(context) + alpha * V),

    where w is the index on the last axis, context the indices before it, V the length of
    the last axis and c(context) = sum over w of c(context, w). Each slice along the last
    axis sums to 1; a context never seen gets the uniform distribution 1/V. alpha > 0.
    Returns float64 of the shape of counts (the tests allow 1e-6 relative error).
    """
    raise NotImplementedError("additive_smoothing")


if MAIN:
    check(additive_smoothing)


# %% [markdown]
# ## Simple Good-Turing


# %%
def good_turing(counts: Int[np.ndarray, " V"], k: int = 5) -> Float[np.ndarray, " V"]:
    """A distribution over V types from their counts c_w by simple Good-Turing.

    With N = sum_w c_w and N_r = the number of types seen exactly r times:
    - the types never seen (c_w = 0) share the mass P0 = N_1 / N equally (P0 = 0 when no
      type is unseen: then nothing is set aside);
    - a type seen r times, 1 <= r < k, gets the adjusted count r* = (r + 1) N_{r+1} / N_r,
      or r* = r when N_{r+1} = 0; a type seen r >= k times keeps r* = r;
    - the seen types share the remaining mass 1 - P0 in proportion to their r*:
      p_w = (1 - P0) r*_w / sum_{v seen} r*_v.
    The result sums to 1 (float64, shape (V,)). counts has at least one nonzero entry.
    The tests allow 1e-6 relative error per entry and 1e-9 in the sum.
    """
    raise NotImplementedError("good_turing")


if MAIN:
    check(good_turing)


# %% [markdown]
# ## Perplexity


# %%
def perplexity(probs: Float[np.ndarray, "..."], ids: Int[np.ndarray, " length"]) -> float:
    """The perplexity of an n-gram model on a sequence of ids, n = probs.ndim:

        exp( -(1 / M) * sum_t log probs[ids[t - n + 1], ..., ids[t]] ),

    the sum over the M = len(ids) - n + 1 positions t = n - 1, ..., len(ids) - 1 that have
    a full context (the first n - 1 ids are only context). Natural logarithms; a float
    (the tests allow 1e-6 relative error).
    """
    raise NotImplementedError("perplexity")


if MAIN:
    check(perplexity)
    train_text, held_out_text = split_text(load_pydoc_text())
    train, held_out = char_ids(train_text), char_ids(held_out_text)
    V = len(ALPHABET)
    for n in (1, 2, 3, 4):
        smoothed = additive_smoothing(ngram_counts(train, n, V), 0.1)
        print(f"{n}-gram, add-0.1: held-out perplexity {perplexity(smoothed, held_out):6.2f}")
    unigram = ngram_counts(train[:500], 1, V)  # 500 characters: 56 of the 96 never seen
    for name, p in [
        ("add-1", additive_smoothing(unigram, 1.0)),
        ("add-0.01", additive_smoothing(unigram, 0.01)),
        ("Good-Turing", good_turing(unigram)),
    ]:
        print(f"unigram from 500 characters, {name:>11}: held-out perplexity {perplexity(p, held_out):6.2f}")


# %% [markdown]
# ## TF-IDF


# %%
def tfidf(counts: Int[np.ndarray, "D W"]) -> Float[np.ndarray, "D W"]:
    """TF-IDF vectors of D documents from their term counts counts[d, w] (a word-count matrix).

    tf[d, w] = counts[d, w]; idf[w] = ln((1 + D) / (1 + df[w])) + 1, where df[w] is the
    number of documents that contain word w at least once; each row tf[d] * idf is then
    divided by its Euclidean length (a document with no words stays a row of zeros).
    Returns float64 of shape (D, W). These are scikit-learn's TfidfTransformer defaults
    (the tests allow 1e-6 relative error).
    """
    raise NotImplementedError("tfidf")


if MAIN:
    check(tfidf)


# %% [markdown]
# ## Huffman coding


# %%
def huffman_code(freqs: dict[str, int]) -> dict[str, str]:
    """An optimal prefix code for the symbols of freqs with positive frequency, by Huffman's
    algorithm: start with one tree per symbol and merge the two least frequent trees until
    one is left; the path to a leaf spells its code word ("0" left, "1" right).

    Returns {symbol: code word}, code words strings of "0" and "1", for every symbol with
    freqs[symbol] > 0 (and only those). No code word is a prefix of another. A single
    symbol gets the code word "0". Ties may be broken in any way: the tests accept every
    code whose expected length sum_s freqs[s] * len(code[s]) is the smallest possible.
    """
    raise NotImplementedError("huffman_code")


if MAIN:
    check(huffman_code)


# %%
def huffman_encode(text: str, code: dict[str, str]) -> str:
    """The code words of text's characters, in order, joined into one string of bits."""
    raise NotImplementedError("huffman_encode")


if MAIN:
    check(huffman_encode)


# %%
def huffman_decode(bits: str, code: dict[str, str]) -> str:
    """The text whose encoding with the prefix code `code` is bits: read bits left to right
    and emit a symbol as soon as the bits read since the last symbol form its code word.
    Raises ValueError if bits end part-way through a code word (or hold a sequence that
    starts no code word)."""
    raise NotImplementedError("huffman_decode")


if MAIN:
    check(huffman_decode)
    text = load_pydoc_text()
    freqs = {ch: text.count(ch) for ch in ALPHABET}
    code = huffman_code(freqs)
    bits = huffman_encode(text, code)
    assert huffman_decode(bits, code) == text
    p = np.array([f for f in freqs.values() if f > 0]) / len(text)
    print(
        f"Huffman: {len(bits) / len(text):.3f} bits per character "
        f"(entropy {-(p * np.log2(p)).sum():.3f}, ASCII 8, a fixed 7-bit code 7)"
    )
