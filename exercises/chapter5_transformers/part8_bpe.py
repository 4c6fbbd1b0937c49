# %% [markdown]
# # Chapter 5, part 8: a byte-level byte-pair-encoding (BPE) tokenizer
#
# Reading: chapters/chapter5_transformers/part8_bpe.md
#
# Fill in each function, then run the cell below it: `check(fn)` runs that exercise's
# tests here and prints a verdict. `python -m grader chapter5/part8` grades the file.
#
# Conventions:
# - a text becomes its UTF-8 bytes: ids 0..255 are the 256 byte values, so every string
#   has an encoding, whatever characters it holds;
# - merges is an int64 array of shape (n_merges, 2): row j is the pair (a, b) that merge j
#   replaces by the new id 256 + j, in the order the merges were learned;
# - a sequence of ids is a 1-D int64 array; no function changes its inputs.

# %%
import time

import numpy as np
from jaxtyping import Int

from coursedata import load_pydoc_text, split_text
from grader.check import check

MAIN = __name__ == "__main__"


# %% [markdown]
# ## Given: text to bytes


# %%
def text_to_bytes(text: str) -> np.ndarray:
    """The UTF-8 bytes of text as an int64 array of values 0..255."""
    return np.frombuffer(text.encode("utf-8"), dtype=np.uint8).astype(np.int64)


# %% [markdown]
# ## Counting and merging pairs


# %%
def pair_counts(ids: Int[np.ndarray, " length"], vocab_size: int) -> Int[np.ndarray, "vocab vocab"]:
    """counts[a, b] = how many times id b directly follows id a in ids.

    Every adjacent position counts, overlapping ones too: [7, 7, 7] holds the pair (7, 7)
    twice. All ids are below vocab_size; the result is (vocab_size, vocab_size) int64, all
    zeros for fewer than two ids.
    """
    raise NotImplementedError("pair_counts")


if MAIN:
    check(pair_counts)


# %%
def merge_pair(
    ids: Int[np.ndarray, " length"], pair: tuple | np.ndarray, new_id: int | np.integer
) -> Int[np.ndarray, " merged"]:
    """Replace every occurrence of the pair (a, b) in ids by the single id new_id.

    pair is two ids: a tuple of ints or NumPy integers, or a row of the merges array.

    Read left to right: an occurrence is merged, and the search goes on after its second
    element, so occurrences never overlap: merging (7, 7) in [7, 7, 7] gives [new, 7],
    and in [7, 7, 7, 7] gives [new, new]. Returns a new int64 array (ids is not changed).
    """
    raise NotImplementedError("merge_pair")


if MAIN:
    check(merge_pair)


# %% [markdown]
# ## Training


# %%
def train_bpe(text: str, n_merges: int) -> Int[np.ndarray, "merges 2"]:
    """Learn up to n_merges merges from text.

    Start from the text's UTF-8 bytes (text_to_bytes). Merge j (j = 0, 1, …): count the
    pairs of the current ids (pair_counts, vocabulary 256 + j), take the most frequent
    pair (a, b) — among equally frequent pairs the smallest a, then the smallest b, which
    is what np.argmax of the flattened counts picks — record it as row j, and replace it
    everywhere by the new id 256 + j (merge_pair). Stop early when no pair occurs at
    least twice. Returns the merges as an (n, 2) int64 array, n <= n_merges.
    """
    raise NotImplementedError("train_bpe")


if MAIN:
    check(train_bpe)


# %% [markdown]
# ## Encoding and decoding


# %%
def bpe_encode(text: str, merges: Int[np.ndarray, "merges 2"]) -> Int[np.ndarray, " length"]:
    """The ids of text: its UTF-8 bytes, then every merge applied in the order learned
    (merge 0 everywhere, then merge 1 on the result, and so on; merge j makes id 256 + j).
    Returns int64; the empty string gives an empty array."""
    raise NotImplementedError("bpe_encode")


if MAIN:
    check(bpe_encode)


# %%
def bpe_vocab(merges: Int[np.ndarray, "merges 2"]) -> list[bytes]:
    """The bytes that every id stands for: vocab[i] = bytes([i]) for i < 256, and
    vocab[256 + j] = vocab[a] + vocab[b] for merge j = (a, b). Length 256 + n_merges."""
    raise NotImplementedError("bpe_vocab")


if MAIN:
    check(bpe_vocab)


# %%
def bpe_decode(ids: Int[np.ndarray, " length"], merges: Int[np.ndarray, "merges 2"]) -> str:
    """The text of a sequence of ids: join the bytes of every id (bpe_vocab), then decode
    the whole byte string as UTF-8 once, with errors="replace" (a sequence cut inside a
    character, as sampling can produce, gives U+FFFD instead of an error).
    decode(encode(s)) == s for every string s."""
    raise NotImplementedError("bpe_decode")


if MAIN:
    check(bpe_decode)


# %% [markdown]
# ## Train on Python's documentation
#
# 512 merges on the whole training text (about a second); then the held-out text in
# tokens, and what the first merges are.

# %%
if MAIN:
    train_text, held_out_text = split_text(load_pydoc_text())
    try:
        start = time.perf_counter()
        merges = train_bpe(train_text, 512)
        seconds = time.perf_counter() - start
        vocab = bpe_vocab(merges)
        held = bpe_encode(held_out_text, merges)
        print(f"{len(merges)} merges in {seconds:.1f} s")
        print(f"held-out: {len(held_out_text.encode())} bytes -> {len(held)} tokens")
        print("first merges:", [vocab[256 + j] for j in range(12)])
        print("longest tokens:", sorted(vocab, key=len)[-8:])
        assert bpe_decode(held, merges) == held_out_text
    except NotImplementedError as missing:
        print(f"Finish {missing} to train the tokenizer.")
