# %% [markdown]
# # Chapter 9, part 8: Kolmogorov complexity by compression, and the normalised compression distance
#
# Reading: chapters/chapter9_scaling_and_retrieval/part8_compression.md
#
# Fill in each function, then run the cell below it: `check(fn)` runs that exercise's
# tests here and prints a verdict. `python -m grader chapter9/part8` grades the file.
#
# The Kolmogorov complexity K(x) of a string is the length of the shortest program that
# prints it. It cannot be computed, but any compressor gives an upper bound: the
# compressed file plus the decompressor is such a program. Here you approximate it with
# the standard library's zlib and lzma, measure how alike two texts are by the normalised
# compression distance (Cilibrasi & Vitányi, 2005)
#
#     NCD(x, y) = (C(xy) − min(C(x), C(y))) / max(C(x), C(y)),
#
# and cluster texts by it, knowing nothing about language or words.
#
# Conventions: texts are `bytes` (encode a str with .encode()); C(x) is a compressed size
# in bytes (an int); randomness comes only from the `rng` passed in.

# %%
from __future__ import annotations

import lzma
import zlib

import numpy as np
from jaxtyping import Float, Int

from coursedata import load_pydoc_text
from grader.check import check

MAIN = __name__ == "__main__"

METHODS = ("zlib", "lzma")


def made_up_language(seed: int, n_words: int = 60) -> list[str]:
    """A made-up language: a vocabulary of n_words words of 1-3 syllables, each syllable a
    consonant and a vowel drawn from letters of the language's own (chosen by `seed`).
    (Given.)"""
    g = np.random.default_rng(seed)
    consonants = g.choice(list("bcdfghjklmnpqrstvwxz"), size=6, replace=False)
    vowels = g.choice(list("aeiouy"), size=3, replace=False)
    words = set()
    while len(words) < n_words:
        k = int(g.integers(1, 4))
        words.add("".join(str(g.choice(consonants)) + str(g.choice(vowels)) for _ in range(k)))
    return sorted(words)


def sentence_text(vocabulary: list[str], n_words: int, rng: np.random.Generator) -> bytes:
    """n_words words drawn uniformly from the vocabulary (rng.integers), separated by
    spaces, as ASCII bytes. (Given.)"""
    return " ".join(vocabulary[i] for i in rng.integers(len(vocabulary), size=n_words)).encode()


# %% [markdown]
# ## Compressed length: an upper bound on K(x)


# %%
def compressed_size(data: bytes, method: str = "zlib") -> int:
    """C(data): the length in bytes of `data` compressed by the standard library:
        "zlib": len(zlib.compress(data, 9))          (level 9, zlib's strongest)
        "lzma": len(lzma.compress(data, preset=6))   (the default preset, in the .xz
                                                      format with its header)
    Any other method raises ValueError. Returns an int."""
    raise NotImplementedError("compressed_size")


if MAIN:
    check(compressed_size)
    g = np.random.default_rng(0)
    english = load_pydoc_text()[:20000].encode()
    samples = {
        "20,000 zeros": bytes(20000),
        "'abc' repeated": b"abc" * 6667,
        "English (pydoc)": english,
        "random letters": bytes(g.integers(97, 123, size=20000).astype(np.uint8)),
        "random bytes": g.bytes(20000),
    }
    for name, data in samples.items():
        sizes = [compressed_size(data, m) for m in METHODS]
        print(f"{name:>16}: {len(data)} bytes -> zlib {sizes[0]:6d}, lzma {sizes[1]:6d}")


# %% [markdown]
# ## The normalised compression distance


# %%
def ncd(x: bytes, y: bytes, method: str = "zlib") -> float:
    """NCD(x, y) = (C(xy) − min(C(x), C(y))) / max(C(x), C(y)), with C = compressed_size
    (`method`) and xy the concatenation x + y (in that order). A float: near 0 when x and y
    are the same text, near 1 (it can pass 1 a little) when they share nothing."""
    raise NotImplementedError("ncd")


if MAIN:
    check(ncd)
    print("NCD(English, itself)      ", round(ncd(english, english), 3))
    print("NCD(English, more English)", round(ncd(english, load_pydoc_text()[20000:40000].encode()), 3))
    print("NCD(English, random)      ", round(ncd(english, samples["random letters"]), 3))


# %%
def ncd_matrix(texts: list[bytes], method: str = "zlib") -> Float[np.ndarray, "n n"]:
    """The (n, n) matrix of NCD(texts[i], texts[j]) for every i and j, the diagonal
    included (it is not exactly 0) and not symmetrised (C(xy) and C(yx) differ a little).
    Compress each text alone once, not once per pair. float64."""
    raise NotImplementedError("ncd_matrix")


if MAIN:
    check(ncd_matrix)


# %% [markdown]
# ## Clustering by compression


# %%
def single_linkage(D: Float[np.ndarray, "n n"], k: int) -> Int[np.ndarray, " n"]:
    """Agglomerative single-linkage clustering of n items into k clusters.

    Symmetrise first, S = (D + Dᵀ) / 2, and ignore the diagonal. Start with every item in
    a cluster of its own; while there are more than k clusters, merge the two clusters
    whose closest members are closest (the smallest S[i, j] with i and j in different
    clusters; on an exact tie, the pair (i, j), i < j, that comes first in row-major
    order).

    Returns labels (n,) int64: the clusters numbered 0, 1, … in the order of their
    lowest-numbered item (item 0 is always in cluster 0)."""
    raise NotImplementedError("single_linkage")


if MAIN:
    check(single_linkage)
    g = np.random.default_rng(1)
    pydoc = load_pydoc_text()
    texts, names = [], []
    for i in range(3):
        start = int(g.integers(0, len(pydoc) - 3000))
        texts.append(pydoc[start : start + 3000].encode())
        names.append(f"English {i}")
    for lang in (1, 2, 3):
        vocab = made_up_language(lang)
        for i in range(3):
            texts.append(sentence_text(vocab, 500, g))
            names.append(f"language {lang}, text {i}")
    for method in METHODS:
        D_demo = ncd_matrix(texts, method)
        labels_demo = single_linkage(D_demo, 4)
        print(f"{method}: clusters", dict(zip(names, labels_demo.tolist())))
    print(np.round(D_demo, 2))


# %% [markdown]
# ## Classifying by compression


# %%
def classify_by_compression(
    queries: list[bytes], train: list[bytes], train_labels: Int[np.ndarray, " n"], method: str = "zlib"
) -> Int[np.ndarray, " q"]:
    """The nearest-neighbour classifier of NCD: query i gets the label of the training text
    j with the smallest NCD(queries[i], train[j]) (query first in the concatenation; the
    first such j on an exact tie). Compress each text alone once. Returns (q,) int64."""
    raise NotImplementedError("classify_by_compression")


if MAIN:
    check(classify_by_compression)
    g = np.random.default_rng(2)
    vocabularies = [made_up_language(lang) for lang in (1, 2, 3)]
    train_texts = [sentence_text(vocabularies[lang], 300, g) for lang in range(3) for _ in range(2)]
    train_y = np.repeat(np.arange(3), 2)
    query_y = g.integers(0, 3, size=30)
    query_texts = [sentence_text(vocabularies[lang], 40, g) for lang in query_y]  # short: 40 words
    guessed = classify_by_compression(query_texts, train_texts, train_y)
    print(f"language of 30 texts of 40 words, by compression: {np.mean(guessed == query_y):.0%} right")
