"""Tests for chapter 6, part 8: n-gram counts, additive and Good-Turing smoothing,
perplexity, TF-IDF and Huffman coding.

Expected values come from this file: n-grams counted by a loop over windows (on tiny
sequences and on slices of the pydoc text); smoothed probabilities and perplexities
written out entry by entry; a simple Good-Turing distribution worked by hand; TF-IDF by
loops, and against scikit-learn's TfidfTransformer where it is installed; Huffman codes
judged by what every optimal prefix code has (no code word a prefix of another, the
smallest expected length, found by summing the merged weights), never by one tie rule.
"""

import heapq
import math
from collections import Counter

import numpy as np

from coursedata import load_pydoc_text
from grader.testkit import Call, exercise, expect, expect_close, expect_equal, run

ALPHABET = "\n" + "".join(chr(c) for c in range(32, 127))
V = len(ALPHABET)
_TEXT = load_pydoc_text()


def _ids(text):
    return np.array([ALPHABET.index(ch) for ch in text], dtype=np.int64)


def _loop_counts(ids, n, V):
    counts = np.zeros((V,) * n, dtype=np.int64)
    for t in range(len(ids) - n + 1):
        counts[tuple(ids[t : t + n])] += 1
    return counts


# ------------------------------------------------------------------------------ ngram_counts


@exercise("ngram_counts")
def test_ngram_counts_count_every_overlapping_window(impl):
    ids = np.array([0, 1, 0, 1, 1, 1, 2, 0], dtype=np.int64)
    for n in (1, 2, 3):
        want = _loop_counts(ids, n, 3)
        fancy = np.zeros((3,) * n, dtype=np.int64)
        fancy[tuple(ids[j : len(ids) - n + 1 + j] for j in range(n))] += 1
        expect_equal(
            run(impl.ngram_counts, ids, n, 3),
            want,
            what=f"the {n}-grams of [0 1 0 1 1 1 2 0] (all {len(ids) - n + 1} windows, overlapping)",
            mistakes={
                "add 1 with fancy indexing (counts[idx] += 1 counts a repeated n-gram once; "
                "np.add.at or np.bincount count every one)": fancy,
                "stop one window early": _loop_counts(ids[:-1], n, 3),
            },
        )


@exercise("ngram_counts")
def test_ngram_counts_on_the_pydoc_text(impl):
    ids = _ids(_TEXT[:3000])
    call = run(impl.ngram_counts, ids, 3, V)
    want = _loop_counts(ids, 3, V)
    expect_equal(call, want, what="trigram counts of the first 3,000 characters")
    expect(
        int(call.value.sum()) == 2998,
        f"{call}: the counts sum to {call.value.sum()}; 3,000 ids hold 2,998 trigrams",
    )


@exercise("ngram_counts")
def test_ngram_counts_of_a_sequence_shorter_than_n_are_zero(impl):
    ids = np.array([4, 2], dtype=np.int64)
    expect_equal(
        run(impl.ngram_counts, ids, 3, 5), np.zeros((5, 5, 5), dtype=np.int64), what="two ids hold no trigram"
    )
    expect_equal(run(impl.ngram_counts, ids, 2, 5), _loop_counts(ids, 2, 5), what="two ids hold one bigram")


# ------------------------------------------------------------------------ additive_smoothing


def _additive(counts, alpha):
    V = counts.shape[-1]
    out = np.zeros(counts.shape)
    for ctx in np.ndindex(counts.shape[:-1]):
        total = sum(counts[ctx + (w,)] for w in range(V))
        for w in range(V):
            out[ctx + (w,)] = (counts[ctx + (w,)] + alpha) / (total + alpha * V)
    return out


@exercise("additive_smoothing")
def test_additive_smoothing_of_a_bigram_table(impl):
    counts = np.array([[3, 0, 1], [0, 0, 0], [2, 5, 1]], dtype=np.int64)
    expect_close(
        run(impl.additive_smoothing, counts, 0.5),
        _additive(counts, 0.5),
        what="(c(a, b) + alpha) / (c(a) + alpha V), rows conditioned on the first character",
        mistakes={
            "normalise the whole table instead of each context (a joint, not a conditional)": (counts + 0.5)
            / (counts.sum() + 0.5 * counts.size),
            "leave alpha * V out of the denominator": (counts + 0.5) / (counts.sum(1, keepdims=True) + 0.5),
            "normalise over the first axis (columns) instead of the last": (counts + 0.5)
            / (counts.sum(0, keepdims=True) + 1.5),
            "forget to add alpha to the counts": counts / (counts.sum(1, keepdims=True) + 1.5),
        },
    )


@exercise("additive_smoothing")
def test_additive_smoothing_of_trigrams_sums_to_one_per_context(impl):
    g = np.random.default_rng(3)
    counts = g.integers(0, 4, size=(3, 4, 5)) * (g.random((3, 4, 5)) < 0.5)
    call = run(impl.additive_smoothing, counts, 0.1)
    expect_close(
        call, _additive(counts, 0.1), what="P(c | a b) for every context (a, b); V is the last axis' 5"
    )
    expect_close(Call(call.value.sum(-1), f"{call}.sum(axis=-1)"), np.ones((3, 4)))
    zero = np.zeros((2, 4), dtype=np.int64)
    expect_close(
        run(impl.additive_smoothing, zero, 2.0), np.full((2, 4), 0.25), what="unseen contexts are uniform"
    )


# ------------------------------------------------------------------------------ good_turing


def _good_turing(counts, k=5):
    counts = [int(c) for c in counts]
    N = sum(counts)
    Nr = Counter(counts)
    unseen = [w for w, c in enumerate(counts) if c == 0]
    P0 = Nr[1] / N if unseen else 0.0
    star = {}
    for w, c in enumerate(counts):
        if c == 0:
            continue
        star[w] = (c + 1) * Nr[c + 1] / Nr[c] if c < k and Nr[c + 1] > 0 else float(c)
    total = sum(star.values())
    p = [P0 / len(unseen) if c == 0 else (1 - P0) * star[w] / total for w, c in enumerate(counts)]
    return np.array(p)


@exercise("good_turing")
def test_good_turing_by_hand(impl):
    counts = np.array([0, 0, 1, 1, 1, 2, 2, 3, 7, 0], dtype=np.int64)
    # N = 17, N_1 = 3, N_2 = 2, N_3 = 1, N_4 = 0: P0 = 3/17 over three unseen types;
    # r* = 4/3 (r = 1), 3/2 (r = 2), 3 (r = 3, N_4 = 0), 7 (r = 7 >= k); sum of r* = 17.
    star = np.array([0, 0, 4 / 3, 4 / 3, 4 / 3, 1.5, 1.5, 3, 7, 0])
    wrong_star = np.array([0, 0, 2 / 3, 2 / 3, 2 / 3, 1, 1, 3, 7, 0])  # r N_{r+1} / N_r
    want = np.where(counts == 0, 1 / 17, (14 / 17) * star / 17)
    expect_close(
        run(impl.good_turing, counts),
        want,
        what="P0 = N_1 / N shared by the unseen types, the rest in proportion to r*",
        mistakes={
            "divide r* by N without scaling the seen types' mass to 1 - P0 (the result does not "
            "sum to 1)": np.where(counts == 0, 1 / 17, star / 17),
            "give every unseen type the whole P0 instead of sharing it": np.where(
                counts == 0, 3 / 17, (14 / 17) * star / 17
            ),
            "leave out the unseen types (P0 = 0)": np.where(counts == 0, 0.0, star / 17),
            "adjust with r N_{r+1} / N_r instead of (r + 1) N_{r+1} / N_r": np.where(
                counts == 0, 1 / 17, (14 / 17) * wrong_star / wrong_star.sum()
            ),
        },
    )


@exercise("good_turing")
def test_good_turing_keeps_counts_of_k_and_more(impl):
    counts = np.array([0, 1, 1, 2, 4, 5, 6, 6, 0], dtype=np.int64)
    call = run(impl.good_turing, counts)
    expect_close(
        call,
        _good_turing(counts),
        what="r >= k = 5 keeps r* = r, even where N_{r+1} > 0",
        mistakes={"adjust every count, also those of k and more": _good_turing(counts, k=100)},
    )
    expect_close(run(impl.good_turing, counts, k=3), _good_turing(counts, k=3), what="with k = 3")


@exercise("good_turing")
def test_good_turing_when_every_count_is_below_k(impl):
    counts = np.array([0, 1, 1, 2, 3, 0, 1], dtype=np.int64)
    # N = 8, N_1 = 3, N_2 = 1, N_3 = 1, N_4 = 0: r* = 2/3, 3, 3 (N_4 = 0 keeps r = 3); sum 2 + 3 + 3 = 8
    star = np.array([0, 2 / 3, 2 / 3, 3, 3, 0, 2 / 3])
    want = np.where(counts == 0, 3 / 16, (5 / 8) * star / 8)
    expect_close(
        run(impl.good_turing, counts),
        want,
        what="the largest count, 3, has N_4 = 0 and keeps r* = 3",
        mistakes={
            "adjust the largest count as if N_{r+1} were 1": np.where(
                counts == 0, 3 / 16, (5 / 8) * np.where(counts == 3, 4.0, star) / 9
            )
        },
    )


@exercise("good_turing")
def test_good_turing_without_unseen_types_sets_nothing_aside(impl):
    counts = np.array([1, 1, 2, 3, 3, 9], dtype=np.int64)
    want = _good_turing(counts)
    expect_close(
        run(impl.good_turing, counts),
        want,
        what="no type is unseen: P0 = 0 and the seen types share all the mass",
        mistakes={"set P0 = N_1 / N aside even with no unseen type": want * (1 - 2 / 19)},
    )


@exercise("good_turing")
def test_good_turing_on_pydoc_characters_is_a_distribution(impl):
    counts = _loop_counts(_ids(_TEXT[5000:5800]), 1, V)
    call = run(impl.good_turing, counts)
    expect_close(call, _good_turing(counts), what="characters of an 800-character slice")
    expect(
        abs(float(call.value.sum()) - 1.0) < 1e-9,
        f"{call} sums to {call.value.sum():.6f}; a distribution sums to 1",
    )


# ------------------------------------------------------------------------------- perplexity


def _loop_perplexity(probs, ids):
    n = probs.ndim
    logs = [math.log(probs[tuple(ids[t - n + 1 : t + 1])]) for t in range(n - 1, len(ids))]
    return math.exp(-sum(logs) / len(logs)), logs


@exercise("perplexity")
def test_perplexity_of_a_uniform_model_is_V(impl):
    ids = np.array([0, 3, 2, 2, 1, 0], dtype=np.int64)
    expect_close(
        run(impl.perplexity, np.full((4, 4), 0.25), ids),
        4.0,
        what="a uniform model over 4 symbols",
        mistakes={"return the cross-entropy -mean log p without exp": math.log(4)},
    )
    expect_close(run(impl.perplexity, np.full(4, 0.25), ids), 4.0, what="a uniform unigram model")


@exercise("perplexity")
def test_perplexity_of_a_bigram_model(impl):
    probs = np.array([[0.5, 0.25, 0.25], [0.1, 0.1, 0.8], [0.6, 0.3, 0.1]])
    ids = np.array([0, 1, 2, 0, 0, 2, 2], dtype=np.int64)
    want, logs = _loop_perplexity(probs, ids)
    expect_close(
        run(impl.perplexity, probs, ids),
        want,
        what="exp of minus the mean log P(w_t | w_{t-1}) over the 6 positions with a context",
        mistakes={
            "return the cross-entropy -mean log p without exp": -np.mean(logs),
            "sum the logs instead of averaging them": math.exp(-sum(logs)),
            "use log base 2 and exp (mixing bases)": math.exp(-np.mean(logs) / math.log(2)),
            "index probs[next, previous] (a transposed table)": _loop_perplexity(probs.T, ids)[0],
            "skip one position too many": math.exp(-np.mean(logs[1:])),
        },
    )


@exercise("perplexity")
def test_perplexity_of_a_trigram_model_on_pydoc_text(impl):
    ids = _ids(_TEXT[20000:20400])
    counts = _loop_counts(ids, 3, V)
    probs = (counts + 0.2) / (counts.sum(-1, keepdims=True) + 0.2 * V)
    held = _ids(_TEXT[20400:20600])
    expect_close(
        run(impl.perplexity, probs, held),
        _loop_perplexity(probs, held)[0],
        what="a trigram table, 200 held-out characters",
    )


# ------------------------------------------------------------------------------------ tfidf


def _loop_tfidf(counts):
    D, W = counts.shape
    idf = [math.log((1 + D) / (1 + sum(counts[d, w] > 0 for d in range(D)))) + 1 for w in range(W)]
    out = np.zeros((D, W))
    for d in range(D):
        row = [counts[d, w] * idf[w] for w in range(W)]
        norm = math.sqrt(sum(v * v for v in row))
        out[d] = [v / norm if norm else 0.0 for v in row]
    return out


@exercise("tfidf")
def test_tfidf_small(impl):
    counts = np.array([[2, 0, 1, 0], [1, 1, 0, 0], [3, 0, 0, 1], [0, 0, 0, 0]], dtype=np.int64)
    D = 4
    df = (counts > 0).sum(0)

    def rows(x):
        n = np.linalg.norm(x, axis=1, keepdims=True)
        return x / np.where(n > 0, n, 1)

    expect_close(
        run(impl.tfidf, counts),
        _loop_tfidf(counts),
        what="idf = ln((1 + D) / (1 + df)) + 1, rows of unit length (the empty document stays zero)",
        mistakes={
            "count the word's occurrences (a column sum) as its document frequency": rows(
                counts * (np.log((1 + D) / (1 + counts.sum(0))) + 1)
            ),
            "leave the + 1 out of the idf (words in every document get weight 0)": rows(
                counts * np.log((1 + D) / (1 + df))
            ),
            "forget to normalise the rows": counts * (np.log((1 + D) / (1 + df)) + 1),
            "normalise the columns instead of the rows": (
                lambda x: x / np.linalg.norm(x, axis=0, keepdims=True)
            )(counts * (np.log((1 + D) / (1 + df)) + 1)),
            "leave out the smoothing (idf = ln(D / df) + 1)": rows(
                counts * (np.log(D / np.maximum(df, 1)) + 1)
            ),
            "use log base 10": rows(counts * (np.log10((1 + D) / (1 + df)) + 1)),
        },
    )


@exercise("tfidf")
def test_tfidf_of_pydoc_paragraphs_matches_scikit_learn(impl):
    paragraphs = [p for p in _TEXT[:30000].split("\n\n") if p.strip()][:40]
    vocab = sorted({w for p in paragraphs for w in p.lower().split()})[:300]
    index = {w: i for i, w in enumerate(vocab)}
    counts = np.zeros((len(paragraphs), len(vocab)), dtype=np.int64)
    for d, p in enumerate(paragraphs):
        for w in p.lower().split():
            if w in index:
                counts[d, index[w]] += 1
    call = run(impl.tfidf, counts)
    expect_close(call, _loop_tfidf(counts), what="40 paragraphs of the pydoc text, 300 words")
    try:
        from sklearn.feature_extraction.text import TfidfTransformer
    except ImportError:  # scikit-learn is optional: the loop above is the reference then
        return
    expect_close(
        call, TfidfTransformer().fit_transform(counts).toarray(), what="scikit-learn's TfidfTransformer()"
    )


@exercise("tfidf")
def test_tfidf_weighs_rare_words_up(impl):
    counts = np.array([[1, 1, 0], [1, 0, 0], [1, 0, 1]], dtype=np.int64)
    x = run(impl.tfidf, counts).value
    idf1 = math.log(4 / 2) + 1  # words 1 and 2: in one document of three
    want = np.array([[1, idf1, 0], [1, 0, 0], [1, 0, idf1]]) / np.array(
        [[math.hypot(1, idf1)], [1], [math.hypot(1, idf1)]]
    )
    expect_close(
        Call(x, "tfidf([[1, 1, 0], [1, 0, 0], [1, 0, 1]])"),
        want,
        what="word 0 is in every document (idf 1); words 1 and 2 in one (idf ln 2 + 1)",
        mistakes={"forget to normalise the rows": np.array([[1, idf1, 0], [1, 0, 0], [1, 0, idf1]])},
    )


# ----------------------------------------------------------------------------- huffman_code


def _optimal_cost(weights):
    heap = list(weights)
    heapq.heapify(heap)
    cost = 0
    while len(heap) > 1:
        a, b = heapq.heappop(heap), heapq.heappop(heap)
        cost += a + b
        heapq.heappush(heap, a + b)
    return cost


def _check_code(call, freqs):
    code = call.value
    expect(
        isinstance(code, dict), f"{call}: returned {type(code).__name__}; expected a dict symbol -> code word"
    )
    used = {s for s, f in freqs.items() if f > 0}
    expect(
        set(code) == used,
        f"{call}: code words for {sorted(code)!r}; expected one for each of {sorted(used)!r}",
    )
    for s, c in code.items():
        expect(
            isinstance(c, str) and len(c) > 0 and set(c) <= {"0", "1"},
            f"{call}: the code word of {s!r} is {c!r}; expected a non-empty string of 0s and 1s",
        )
    words = sorted(code.values())
    for a, b in zip(words, words[1:]):  # sorted: a prefix sits right before a word it starts
        expect(
            not b.startswith(a),
            f"{call}: {a!r} is a prefix of {b!r}, so the bits cannot be cut into code words; a Huffman "
            "code is read from a binary tree whose leaves are the symbols",
        )


@exercise("huffman_code")
def test_huffman_code_is_prefix_free_and_optimal(impl):
    freqs = {"a": 45, "b": 13, "c": 12, "d": 16, "e": 9, "f": 5, "z": 0}
    call = run(impl.huffman_code, freqs)
    _check_code(call, freqs)
    cost = sum(freqs[s] * len(c) for s, c in call.value.items())
    ranked = sorted((s for s in freqs if freqs[s]), key=lambda s: -freqs[s])
    expect_equal(
        Call(cost, f"the expected length sum freqs[s] * len(code[s]) of {call}"),
        _optimal_cost([f for f in freqs.values() if f]),
        what="the smallest possible (224 bits for these frequencies)",
        mistakes={
            "use a fixed-length code": 3 * 100,
            "give the i-th most frequent symbol i + 1 bits (a comma code 0, 10, 110, ...)": sum(
                freqs[s] * min(i + 1, len(ranked) - 1) for i, s in enumerate(ranked)
            ),
        },
    )


@exercise("huffman_code")
def test_huffman_code_with_ties_and_many_symbols(impl):
    for freqs in [
        {"x": 1, "y": 1, "z": 1, "w": 1},
        {ch: 3 for ch in "abcdefg"},
        {ch: _TEXT[:4000].count(ch) for ch in ALPHABET},
    ]:
        call = run(impl.huffman_code, freqs)
        _check_code(call, freqs)
        cost = sum(freqs[s] * len(c) for s, c in call.value.items())
        expect_equal(
            Call(cost, f"the expected length of {call}"),
            _optimal_cost([f for f in freqs.values() if f]),
            what="the smallest possible",
        )


@exercise("huffman_code")
def test_huffman_code_of_one_or_two_symbols(impl):
    expect_equal(
        run(impl.huffman_code, {"q": 7, "r": 0}), {"q": "0"}, what="a single symbol gets the code word '0'"
    )
    call = run(impl.huffman_code, {"q": 7, "r": 2})
    _check_code(call, {"q": 7, "r": 2})
    expect(sorted(call.value.values()) == ["0", "1"], f"{call}: two symbols get one bit each, '0' and '1'")


# --------------------------------------------------------------------------- huffman_encode

CODE = {"a": "0", "b": "10", "c": "110", "d": "1110", " ": "1111"}


@exercise("huffman_encode")
def test_huffman_encode(impl):
    text = "abc dab a"
    want = "".join(CODE[ch] for ch in text)
    expect_equal(
        run(impl.huffman_encode, text, CODE),
        want,
        mistakes={
            "write the code words in reverse order": "".join(CODE[ch] for ch in reversed(text)),
            "reverse each code word": "".join(CODE[ch][::-1] for ch in text),
            "put a separator between code words": " ".join(CODE[ch] for ch in text),
        },
    )
    expect_equal(run(impl.huffman_encode, "", CODE), "", what="the empty text")


@exercise("huffman_encode")
def test_huffman_encode_of_pydoc_text(impl):
    text = _TEXT[3000:4000]
    letters = sorted(set(text))
    code = {ch: "1" * i + "0" for i, ch in enumerate(letters)}  # a prefix code of many lengths
    call = run(impl.huffman_encode, text, code)
    expect_equal(call, "".join(code[ch] for ch in text), what="1,000 characters of the pydoc text")


# --------------------------------------------------------------------------- huffman_decode


@exercise("huffman_decode")
def test_huffman_decode_inverts_encode(impl):
    text = "abc dab a dd"
    bits = "".join(CODE[ch] for ch in text)
    expect_equal(
        run(impl.huffman_decode, bits, CODE),
        text,
        mistakes={
            "emit the symbols in reverse order": text[::-1],
            "lose the last symbol": text[:-1],
        },
    )
    expect_equal(run(impl.huffman_decode, "", CODE), "", what="no bits, no text")


@exercise("huffman_decode")
def test_huffman_decode_of_pydoc_text(impl):
    text = _TEXT[8000:9500]
    letters = sorted(set(text))
    code = {ch: format(i, "b").zfill(7) for i, ch in enumerate(letters)}  # a fixed-length code
    code[letters[0]], code[letters[1]] = "1", "01"  # and two short words: still prefix-free
    code = {ch: ("00" + c) if ch not in letters[:2] else c for ch, c in code.items()}
    bits = "".join(code[ch] for ch in text)
    expect_equal(run(impl.huffman_decode, bits, code), text, what="1,500 characters of the pydoc text")


@exercise("huffman_decode")
def test_huffman_decode_rejects_bits_that_start_no_code_word(impl):
    code = {"a": "0", "b": "10"}  # prefix-free but incomplete: no word starts with 11
    try:
        got = run(impl.huffman_decode, "0110", code)
    except ValueError:
        return
    raise AssertionError(
        f"{got}: returned {got.value!r}; expected a ValueError, since after 'a' the bits '11' start no "
        "code word of {'a': '0', 'b': '10'}"
    )


@exercise("huffman_decode")
def test_huffman_decode_rejects_bits_that_end_inside_a_code_word(impl):
    bits = "".join(CODE[ch] for ch in "bad") + "11"
    try:
        got = run(impl.huffman_decode, bits, CODE)
    except ValueError:
        return
    raise AssertionError(
        f"{got}: returned {got.value!r}; expected a ValueError, since the last bits '11' are only the "
        "start of a code word (dropping them silently would lose text)"
    )
