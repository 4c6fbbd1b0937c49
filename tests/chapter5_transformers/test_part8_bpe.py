"""Tests for chapter 5, part 8: a byte-level byte-pair-encoding tokenizer.

Expected values come from this file: a BPE written on Python lists with collections.Counter
(pairs counted position by position, merges made by a left-to-right scan), hand-worked
examples (Wikipedia's "aaabdaaabac"), and the standard library's UTF-8 codec. Round trips
are checked on strings the training text never saw: accents, CJK, emoji, control bytes,
the empty string, and merges that cut a character's bytes in two.
"""

from collections import Counter
from functools import lru_cache

import numpy as np
import pytest

from coursedata import load_pydoc_text
from grader.testkit import Call, exercise, expect, expect_equal, rng, run


def _of(call, value):
    return Call(value, str(call))


def _bytes(text):
    return list(text.encode("utf-8"))


def _counts(ids):
    return Counter(zip(ids[:-1], ids[1:]))


def _merge(ids, pair, new, from_right=False):
    if from_right:
        return _merge(ids[::-1], pair[::-1], new)[::-1]
    out, i = [], 0
    while i < len(ids):
        if i + 1 < len(ids) and (ids[i], ids[i + 1]) == tuple(pair):
            out.append(new)
            i += 2
        else:
            out.append(ids[i])
            i += 1
    return out


def _train(text, n, larger_ties=False, never_stop=False):
    ids, merges = _bytes(text), []
    for j in range(n):
        counts = _counts(ids)
        if not counts:
            break
        sign = 1 if larger_ties else -1
        pair, count = max(counts.items(), key=lambda kv: (kv[1], sign * kv[0][0], sign * kv[0][1]))
        if count < 2 and not never_stop:
            break
        merges.append(pair)
        ids = _merge(ids, pair, 256 + j)
    return np.array(merges, dtype=np.int64).reshape(-1, 2), ids


@lru_cache(maxsize=None)
def _trained(n_chars, n):
    """(merges, ids) of _train on the first n_chars of the documentation, computed once."""
    return _train(_TRAIN[:n_chars], n)


def _encode(text, merges, order=None, by_ord=False):
    ids = [ord(c) for c in text] if by_ord else _bytes(text)
    for j in order if order is not None else range(len(merges)):
        ids = _merge(ids, tuple(merges[j]), 256 + j)
    return np.array(ids, dtype=np.int64)


def _vocab(merges):
    """Each token's bytes, spelled out by expanding merged ids down to single bytes."""

    def spell(token):
        if token < 256:
            return bytes([token])
        a, b = merges[token - 256]
        return spell(int(a)) + spell(int(b))

    return [spell(token) for token in range(256 + len(merges))]


def _matrix(counter, V):
    m = np.zeros((V, V), dtype=np.int64)
    for (a, b), c in counter.items():
        m[a, b] = c
    return m


_TEXT = load_pydoc_text()  # read once: about 0.1 s
_TRAIN = _TEXT[:3000]


# ---------------------------------------------------------------------------------------------
# pair_counts


@exercise("pair_counts")
def test_pair_counts_by_hand(impl):
    ids = np.array([1, 2, 1, 2, 3, 0])
    got = run(impl.pair_counts, ids, 5)
    want = np.zeros((5, 5), dtype=np.int64)
    want[1, 2], want[2, 1], want[2, 3], want[3, 0] = 2, 1, 1, 1
    expect_equal(
        got,
        want,
        mistakes={
            "count a repeated pair once (counts[a, b] += 1 with fancy indexing does that)": (want > 0).astype(
                np.int64
            ),
            "swap the roles of a and b (counts[b, a])": want.T,
        },
    )
    expect(got.value.dtype.kind == "i", f"{got}: dtype {got.value.dtype}, expected an integer dtype")


@exercise("pair_counts")
def test_pair_counts_overlapping_pairs_all_count(impl):
    ids = np.array([7, 7, 7, 7, 2, 7, 7])
    got = run(impl.pair_counts, ids, 9)
    want = np.zeros((9, 9), dtype=np.int64)
    want[7, 7], want[7, 2], want[2, 7] = 4, 1, 1
    wrong = want.copy()
    wrong[7, 7] = 3  # 2 in the run of four, 1 in the run of two
    expect_equal(got, want, mistakes={"count only non-overlapping occurrences": wrong})


@exercise("pair_counts")
def test_pair_counts_of_the_documentation(impl):
    ids = np.array(_bytes(_TRAIN[:3000]) + [300, 257, 300], dtype=np.int64)
    got = run(impl.pair_counts, ids, 301)
    expect_equal(got, _matrix(_counts(list(ids)), 301))


@exercise("pair_counts")
@pytest.mark.parametrize("ids", [[], [5]])
def test_pair_counts_of_fewer_than_two_ids(impl, ids):
    got = run(impl.pair_counts, np.array(ids, dtype=np.int64), 6)
    expect_equal(got, np.zeros((6, 6), dtype=np.int64))


# ---------------------------------------------------------------------------------------------
# merge_pair


@exercise("merge_pair")
def test_merge_pair_by_hand(impl):
    ids = np.array([1, 2, 3, 1, 2, 2, 1])
    got = run(impl.merge_pair, ids, (1, 2), 9)
    expect_equal(
        got,
        np.array([9, 3, 9, 2, 1]),
        mistakes={
            "replace the first element of each pair and keep the second": np.array([9, 2, 3, 9, 2, 2, 1])
        },
    )
    expect(got.value.dtype == np.int64, f"{got}: dtype {got.value.dtype}, expected int64")


@exercise("merge_pair")
@pytest.mark.parametrize(
    "ids, want",
    [
        ([7, 7, 7], [9, 7]),
        ([7, 7, 7, 7], [9, 9]),
        ([5, 7, 7, 7, 5, 7, 7, 7, 7, 7], [5, 9, 7, 5, 9, 9, 7]),
        ([7, 5, 7, 7], [7, 5, 9]),
    ],
)
def test_merge_pair_runs_merge_left_to_right_without_overlap(impl, ids, want):
    got = run(impl.merge_pair, np.array(ids), (7, 7), 9)
    expect_equal(
        got,
        np.array(want),
        mistakes={"scan from the right": lambda: np.array(_merge(ids, (7, 7), 9, from_right=True))},
    )


@exercise("merge_pair")
def test_merge_pair_on_long_sequences(impl):
    g = rng(3)
    ids = g.integers(0, 4, size=2000)  # many pairs, runs of equal ids and overlaps
    for pair in [(1, 3), (2, 2), (0, 1), (3, 0)]:
        got = run(impl.merge_pair, ids, pair, 260)
        expect_equal(got, np.array(_merge(list(ids), pair, 260)), what=f"merging {pair}")


@exercise("merge_pair")
@pytest.mark.parametrize(
    "ids, want",
    [
        ([], []),
        ([4], [4]),
        ([4, 1], [300]),
        ([1, 4, 1], [1, 300]),
        ([1, 1, 4], [1, 1, 4]),
        ([2, 4, 1], [2, 300]),
    ],
)
def test_merge_pair_edges(impl, ids, want):
    got = run(impl.merge_pair, np.array(ids, dtype=np.int64), (4, 1), 300)
    expect_equal(got, np.array(want, dtype=np.int64))


@exercise("merge_pair")
def test_merge_pair_returns_a_new_array_when_nothing_merges(impl):
    ids = np.array([3, 1, 4, 1, 5, 9, 2, 6])
    got = run(impl.merge_pair, ids, (7, 7), 300)
    expect_equal(got, ids)
    expect(
        not np.shares_memory(got.value, ids),
        f"{got}: returned ids itself (or a view of it); return a new array, so that changing the "
        "result never changes the input",
    )


# ---------------------------------------------------------------------------------------------
# train_bpe


@exercise("train_bpe")
def test_train_bpe_by_hand(impl):
    # aaabdaaabac: (a, a) 4 times; then (a, b) and (256, a) twice each: the smaller pair
    # (97, 98) first; then (256, 257) twice; then every pair once: stop.
    got = run(impl.train_bpe, "aaabdaaabac", 10)
    want = np.array([[97, 97], [97, 98], [256, 257]])
    expect_equal(
        got,
        want,
        mistakes={
            "break ties toward the larger pair": lambda: _train("aaabdaaabac", 10, larger_ties=True)[0],
            "go on merging pairs that occur once": lambda: _train("aaabdaaabac", 10, never_stop=True)[0],
        },
    )
    expect(got.value.dtype == np.int64, f"{got}: dtype {got.value.dtype}, expected int64")
    two = run(impl.train_bpe, "aaabdaaabac", 2)
    expect_equal(two, want[:2], what="with n_merges = 2")


@exercise("train_bpe")
def test_train_bpe_on_the_documentation(impl):
    got = run(impl.train_bpe, _TRAIN[:3000], 50)
    want, _ = _trained(3000, 50)
    expect_equal(
        got,
        want,
        mistakes={
            "break ties toward the larger pair": lambda: _train(_TRAIN[:3000], 50, larger_ties=True)[0]
        },
    )


@exercise("train_bpe")
@pytest.mark.parametrize("text", ["", "x", "abcdef"])
def test_train_bpe_with_nothing_to_merge(impl, text):
    got = run(impl.train_bpe, text, 5)
    expect(
        isinstance(got.value, np.ndarray) and got.value.shape == (0, 2),
        f"{got}: returned {got.value!r}; expected an empty (0, 2) int64 array (no pair occurs twice)",
    )


@exercise("train_bpe")
def test_train_bpe_on_characters_of_several_bytes(impl):
    text = "né né né — 😀😀 😀😀 😀"
    got = run(impl.train_bpe, text, 8)
    expect_equal(got, _train(text, 8)[0])


# ---------------------------------------------------------------------------------------------
# bpe_encode


@exercise("bpe_encode")
def test_bpe_encode_applies_merges_in_the_order_learned(impl):
    merges = np.array([[97, 98], [98, 99], [256, 99]])  # ab, bc, then (ab)c
    for text, want in [("abc", [258]), ("bcab", [257, 256]), ("abcbc", [258, 257]), ("xbc", [120, 257])]:
        got = run(impl.bpe_encode, text, merges)
        expect_equal(
            got,
            np.array(want),
            what=f"encoding {text!r}",
            mistakes={
                "apply the merges in reverse order": lambda text=text: _encode(text, merges, order=[2, 1, 0]),
            },
        )


@exercise("bpe_encode")
def test_bpe_encode_the_documentation(impl):
    merges, ids = _trained(3000, 50)
    rev = list(range(len(merges)))[::-1]
    by_pair = sorted(range(len(merges)), key=lambda j: tuple(merges[j]))
    for text, what in [
        (_TRAIN, "the training text (the ids training ended with)"),
        (_TEXT[-1500:], "held-out text"),
    ]:
        got = run(impl.bpe_encode, text, merges)
        expect_equal(
            got,
            _encode(text, merges),
            what=what,
            mistakes={
                "apply the merges in reverse order": lambda text=text: _encode(text, merges, rev),
                "apply the merges sorted by their pair instead of in the order learned": lambda text=text: (
                    _encode(text, merges, by_pair)
                ),
            },
        )
    expect(
        list(_encode(_TRAIN, merges)) == list(ids), "test set-up: encoding the training text gives its ids"
    )


@exercise("bpe_encode")
@pytest.mark.parametrize("text", ["", "😀", "naïve — 中文\x00"])
def test_bpe_encode_unseen_characters_are_their_bytes(impl, text):
    merges, _ = _trained(2000, 30)
    got = run(impl.bpe_encode, text, merges)
    want = _encode(text, merges)
    expect(
        isinstance(got.value, np.ndarray) and got.value.dtype == np.int64,
        f"{got}: returned {type(got.value).__name__} {getattr(got.value, 'dtype', '')}; expected int64",
    )
    expect_equal(
        got,
        want,
        what="the UTF-8 bytes (merges learned on ASCII text never apply)",
        mistakes={
            "take ord() of each character instead of its UTF-8 bytes": lambda: _encode(
                text, merges, by_ord=True
            ),
            "drop the characters that are not ASCII": lambda: _encode(
                text.encode("ascii", errors="ignore").decode(), merges
            ),
        },
    )


# ---------------------------------------------------------------------------------------------
# bpe_vocab


@exercise("bpe_vocab")
def test_bpe_vocab_by_hand(impl):
    merges = np.array([[97, 98], [256, 99], [32, 257], [257, 257]])
    got = run(impl.bpe_vocab, merges)
    expect(
        isinstance(got.value, list) and len(got.value) == 260, f"{got}: expected a list of 260 bytes objects"
    )
    expect_equal(
        _of(got, got.value[256:]),
        [b"ab", b"abc", b" abc", b"abcabc"],
        what="vocab[256:]",
        mistakes={"join the pair as b + a instead of a + b": [b"ba", b"cba", b"cba ", b"cbacba"]},
    )
    expect_equal(
        _of(got, got.value[:256]), [bytes([i]) for i in range(256)], what="vocab[:256], the single bytes"
    )


@exercise("bpe_vocab")
def test_bpe_vocab_without_merges(impl):
    got = run(impl.bpe_vocab, np.zeros((0, 2), dtype=np.int64))
    expect_equal(got, [bytes([i]) for i in range(256)])


@exercise("bpe_vocab")
def test_bpe_vocab_of_trained_merges(impl):
    merges, _ = _train("né né né — 😀😀 😀😀 😀 " + _TRAIN[:1500], 40)
    got = run(impl.bpe_vocab, merges)
    expect_equal(got, _vocab(merges))


# ---------------------------------------------------------------------------------------------
# bpe_decode


_UNSEEN = [
    "",
    "hello",
    "naïve café",
    "😀🎉 emoji",
    "\x00\x01\x7f\x1b",
    "中文字符",
    "tab\tand\nnewline\r\n",
    "Ωmega ≠ ∞",
    "e\u0301 (a combining accent)",
]


@exercise("bpe_decode")
@pytest.mark.parametrize("text", _UNSEEN)
def test_bpe_decode_round_trips_unseen_text(impl, text):
    merges, _ = _trained(2000, 30)
    ids = _encode(text, merges)
    got = run(impl.bpe_decode, ids, merges)
    expect_equal(
        got,
        text,
        mistakes={
            "decode the bytes as Latin-1 (chr of each byte) instead of UTF-8": lambda: bytes(
                b for t in ids for b in _vocab(merges)[t]
            ).decode("latin-1"),
            "decode each token on its own and join the strings": lambda: "".join(
                _vocab(merges)[t].decode("utf-8", errors="replace") for t in ids
            ),
        },
    )


@exercise("bpe_decode")
def test_bpe_decode_tokens_that_cut_a_character(impl):
    # Merges learned on emoji make tokens holding part of a character's 4 bytes:
    # only the whole byte string decodes.
    text = "😀😀 😀😀 😀!😀"
    merges, ids = _train(text, 6)
    vocab = _vocab(merges)
    expect(any(len(vocab[t]) % 4 for t in ids), "test set-up: some token cuts a character")
    got = run(impl.bpe_decode, np.array(ids), merges)
    expect_equal(
        got,
        text,
        mistakes={
            "decode each token on its own and join the strings": lambda: "".join(
                vocab[t].decode("utf-8", errors="replace") for t in ids
            )
        },
    )


@exercise("bpe_decode")
def test_bpe_decode_replaces_a_cut_character(impl):
    # é is the bytes c3 a9: ids ending after c3 hold half a character.
    got = run(impl.bpe_decode, np.array([104, 0xC3]), np.zeros((0, 2), dtype=np.int64))
    expect_equal(got, "h\ufffd", mistakes={"decode with errors='ignore'": "h"})


@exercise("bpe_decode")
def test_bpe_decode_the_documentation(impl):
    merges, ids = _trained(3000, 50)
    got = run(impl.bpe_decode, np.array(ids), merges)
    expect(got.value == _TRAIN[:3000], f"{got}: decode(encode(text)) is not the text")
