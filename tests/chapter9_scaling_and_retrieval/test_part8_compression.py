"""Tests for chapter 9, part 8: compressed size as an upper bound on Kolmogorov complexity,
the normalised compression distance, its matrix, and single-linkage clustering by it.

Expected values come from this file: sizes from zlib and lzma called here, NCD written out
from them, single linkage done the slow way (recompute every cluster-to-cluster distance and
merge the closest pair, until k remain), and texts of three made-up languages (each with
its own syllables) whose clusters are known.
"""

import lzma
import zlib

import numpy as np

from grader.testkit import Call, exercise, expect, expect_close, expect_equal, rng, run

ENGLISH = (
    b"The normalised compression distance measures how much the compressor gains by seeing "
    b"two texts together rather than apart. A text and a copy of itself compress to little more "
    b"than one of them; two unrelated texts compress to about the sum of their sizes. "
)


def _language_texts(n_per_language=3, n_words=250, seed=0):
    g = rng(seed)
    syllables = [
        ["ka", "lo", "mi", "tu", "be", "ra"],
        ["zor", "vex", "qui", "gha", "dru"],
        ["sna", "pli", "fyo", "wek", "hul", "tzi"],
    ]
    texts = []
    for sy in syllables:
        words = sorted({"".join(g.choice(sy, size=int(g.integers(1, 4)))) for _ in range(80)})
        for _ in range(n_per_language):
            texts.append(" ".join(g.choice(words, size=n_words)).encode())
    return texts


def _near_repeats(seed=2):
    """24 kB: one 400-byte block over 4 letters, 60 times, 3 letters changed in each copy
    (zlib's levels 6, 8 and 9 give 737, 696 and 694 bytes)."""
    g = rng(seed)
    block = g.integers(97, 101, size=400).astype(np.uint8)
    copies = []
    for _ in range(60):
        copy = block.copy()
        copy[g.integers(0, 400, size=3)] = g.integers(97, 101, size=3)
        copies.append(copy.tobytes())
    return b"".join(copies)


def _ncd(x, y, size=lambda d: len(zlib.compress(d, 9))):
    cx, cy, cxy = size(x), size(y), size(x + y)
    return (cxy - min(cx, cy)) / max(cx, cy)


# ------------------------------------------------------------------------ compressed_size


@exercise("compressed_size")
def test_compressed_size_with_zlib_level_9(impl):
    data = _near_repeats()  # levels 8 and 9 differ on it
    call = run(impl.compressed_size, data, "zlib")
    expect(
        isinstance(call.value, (int, np.integer)),
        f"{call} returned {type(call.value).__name__}; expected an int",
    )
    level6, level1 = len(zlib.compress(data)), len(zlib.compress(data, 1))
    expect_equal(
        call,
        len(zlib.compress(data, 9)),
        what="len(zlib.compress(data, 9))",
        mistakes={
            "use zlib's default level (6) instead of 9": level6,
            "use level 1": level1,
            "use level 8": len(zlib.compress(data, 8)),
            "return the length of the data itself": len(data),
        },
    )


@exercise("compressed_size")
def test_compressed_size_with_lzma(impl):
    data = b" ".join(_language_texts(3, 200))  # presets 5 and 6 differ on it (2548 and 2540 bytes)
    expect_equal(
        run(impl.compressed_size, data, "lzma"),
        len(lzma.compress(data, preset=6)),
        what="len(lzma.compress(data, preset=6))",
        mistakes={
            "compress with zlib whatever the method": len(zlib.compress(data, 9)),
            "use preset 5": len(lzma.compress(data, preset=5)),
            "use lzma's raw format without the .xz header": len(
                lzma.compress(data, format=lzma.FORMAT_RAW, filters=[{"id": lzma.FILTER_LZMA2, "preset": 6}])
            ),
        },
    )


@exercise("compressed_size")
def test_compressed_size_refuses_an_unknown_method(impl):
    try:
        impl.compressed_size(b"abc", "gzip")
    except ValueError:
        return
    except NotImplementedError:
        raise
    except Exception as exc:  # noqa: BLE001 - the message names what was raised
        raise AssertionError(
            f"compressed_size(b'abc', 'gzip') raised {type(exc).__name__}; expected ValueError"
        ) from None
    raise AssertionError(
        "compressed_size(b'abc', 'gzip') returned; expected a ValueError (only zlib and lzma)"
    )


# ----------------------------------------------------------------------------------- ncd


@exercise("ncd")
def test_ncd_formula(impl):
    texts = _language_texts(1, 200)
    pairs = [(texts[0], texts[1]), (texts[1], texts[0][:300]), (ENGLISH, texts[2])]
    for x, y in pairs:
        cx, cy, cxy = (len(zlib.compress(d, 9)) for d in (x, y, x + y))
        expect_close(
            run(impl.ncd, x, y),
            (cxy - min(cx, cy)) / max(cx, cy),
            rtol=1e-12,
            what=f"(C(xy) − min(C(x), C(y))) / max(C(x), C(y)) with C(x) = {cx}, C(y) = {cy}, C(xy) = {cxy}",
            mistakes={
                "divide by min(C(x), C(y)) instead of the max": (cxy - min(cx, cy)) / min(cx, cy),
                "forget to subtract min(C(x), C(y))": cxy / max(cx, cy),
                "subtract the max and divide by the min": (cxy - max(cx, cy)) / min(cx, cy),
                "compress y + x instead of x + y": (len(zlib.compress(y + x, 9)) - min(cx, cy)) / max(cx, cy),
            },
        )


@exercise("ncd")
def test_ncd_is_small_for_a_copy_and_near_one_for_noise(impl):
    x = ENGLISH * 4
    noise = bytes(rng(1).integers(0, 256, size=len(x)).astype(np.uint8))
    same, apart = float(impl.ncd(x, x)), float(impl.ncd(x, noise))
    expect(
        same < 0.1,
        f"ncd(x, x) = {same:.3f} for an English text x; a copy adds almost nothing: expected < 0.1",
    )
    expect(apart > 0.95, f"ncd(x, random bytes) = {apart:.3f}; they share nothing: expected > 0.95")


@exercise("ncd")
def test_ncd_uses_the_method(impl):
    x, y = ENGLISH, ENGLISH[::-1] + ENGLISH[:50]
    expect_close(
        run(impl.ncd, x, y, "lzma"),
        _ncd(x, y, size=lambda d: len(lzma.compress(d))),
        rtol=1e-12,
        what="NCD with C = lzma",
        mistakes={"use zlib whatever the method": _ncd(x, y)},
    )


# ---------------------------------------------------------------------------- ncd_matrix


@exercise("ncd_matrix")
def test_ncd_matrix_entries(impl):
    texts = _language_texts(2, 120)
    want = np.array([[_ncd(a, b) for b in texts] for a in texts])
    expect_close(
        run(impl.ncd_matrix, texts),
        want,
        rtol=1e-12,
        what="entry [i, j] is NCD(texts[i], texts[j]), with texts[i] + texts[j] compressed",
        mistakes={
            "compress texts[j] + texts[i] at [i, j] (the transpose)": want.T,
            "symmetrise the matrix": (want + want.T) / 2,
            "set the diagonal to 0": want - np.diag(np.diag(want)),
        },
    )


@exercise("ncd_matrix")
def test_ncd_matrix_with_lzma(impl):
    texts = [ENGLISH, ENGLISH[::-1], b"0123456789" * 30]
    size = lambda d: len(lzma.compress(d))  # noqa: E731
    want = np.array([[_ncd(a, b, size) for b in texts] for a in texts])
    expect_close(
        run(impl.ncd_matrix, texts, "lzma"),
        want,
        rtol=1e-12,
        mistakes={"use zlib whatever the method": np.array([[_ncd(a, b) for b in texts] for a in texts])},
    )


@exercise("ncd_matrix")
def test_ncd_matrix_groups_texts_of_one_language(impl):
    texts = _language_texts(3, 200)
    D = np.asarray(run(impl.ncd_matrix, texts).value)
    expect(D.shape == (9, 9), f"ncd_matrix of 9 texts returned shape {D.shape}; expected (9, 9)")
    same = np.kron(np.eye(3), np.ones((3, 3))).astype(bool) & ~np.eye(9, dtype=bool)
    expect(
        D[same].max() < D[~np.kron(np.eye(3), np.ones((3, 3))).astype(bool)].min(),
        "ncd_matrix: texts of one made-up language should be closer to each other than to any text of "
        f"another (largest within {D[same].max():.3f}, smallest across "
        f"{D[~np.kron(np.eye(3), np.ones((3, 3))).astype(bool)].min():.3f})",
    )


# ------------------------------------------------------------------------ single_linkage


def _slow_single_linkage(D, k, symmetrise=True, linkage=min):
    S = D if not symmetrise else np.minimum(D, D.T) if symmetrise == "min" else (D + D.T) / 2
    groups = [[i] for i in range(len(D))]
    while len(groups) > k:
        best = None
        for a in range(len(groups)):
            for b in range(a + 1, len(groups)):
                d = linkage([S[min(i, j), max(i, j)] for i in groups[a] for j in groups[b]])
                if best is None or d < best[0]:
                    best = (d, a, b)
        _, a, b = best
        groups[a] = sorted(groups[a] + groups[b])
        del groups[b]
    labels = np.zeros(len(D), dtype=np.int64)
    for c, g in enumerate(sorted(groups)):
        labels[g] = c
    return labels


@exercise("single_linkage")
def test_single_linkage_finds_the_languages(impl):
    texts = _language_texts(3, 200, seed=1)
    order = [4, 0, 8, 1, 5, 2, 6, 3, 7]  # languages 1, 0, 2, 0, 1, 0, 2, 1, 2
    D = np.array([[_ncd(texts[a], texts[b]) for b in order] for a in order])
    expect_equal(
        run(impl.single_linkage, D, 3),
        np.array([0, 1, 2, 1, 0, 1, 2, 0, 2]),
        what="three made-up languages, three texts each, clusters numbered by their first item",
    )


@exercise("single_linkage")
def test_single_linkage_is_the_slow_algorithm(impl):
    g = rng(2)
    cases = []
    for k in (1, 2, 3, 5):
        points = g.normal(size=(10, 2))
        D = np.sqrt(((points[:, None] - points[None]) ** 2).sum(-1)) + np.triu(1.5 * g.random((10, 10)), 1)
        cases.append((k, D))
    for k, D in reversed(cases):  # k = 5 first: there each mistake below gives its own labels
        expect_equal(
            run(impl.single_linkage, D, k),
            _slow_single_linkage(D, k),
            what=f"k = {k}, an asymmetric D (symmetrise it first)",
            mistakes={
                "use D as it is, reading only its upper triangle": _slow_single_linkage(D, k, False),
                "symmetrise with min(D, Dᵀ) instead of (D + Dᵀ) / 2": _slow_single_linkage(D, k, "min"),
                "merge by the mean distance between members (average linkage), not the smallest": (
                    _slow_single_linkage(D, k, linkage=np.mean)
                ),
            },
        )


@exercise("single_linkage")
def test_single_linkage_breaks_ties_in_row_major_order(impl):
    D = np.ones((5, 5))  # every pair ties: merge (0, 1), then (0, 2), then (0, 3)
    expect_equal(
        run(impl.single_linkage, D, 2),
        np.array([0, 0, 0, 0, 1]),
        what="on exact ties merge the pair (i, j), i < j, that comes first in row-major order",
        mistakes={"take the last tied pair first": np.array([0, 1, 1, 1, 1])},
    )
    call = run(impl.single_linkage, np.ones((4, 4)), 4)
    expect_equal(call, np.arange(4, dtype=np.int64), what="k = n: every item alone")
    expect_equal(
        Call(np.asarray(call.value).dtype.kind, f"{call}.dtype.kind"), "i", what="the labels are integers"
    )


# ---------------------------------------------------------------- classify_by_compression


def _nearest(queries, train, labels, size=lambda d: len(zlib.compress(d, 9)), pick=np.argmin, swap=False):
    D = np.array([[_ncd(y, x, size) if swap else _ncd(x, y, size) for y in train] for x in queries])
    return labels[pick(D, axis=1)].astype(np.int64)


@exercise("classify_by_compression")
def test_classify_by_compression_is_the_nearest_training_text(impl):
    texts = _language_texts(4, 60, seed=3)  # languages 0, 1, 2: texts 0-3, 4-7, 8-11
    train = [t for i, t in enumerate(texts) if i % 4 < 2]
    labels = np.repeat(np.arange(3), 2)
    queries = [t[: 40 + 13 * i] for i, t in enumerate(texts) if i % 4 >= 2] + [ENGLISH, texts[5][::-1]]
    want = _nearest(queries, train, labels)
    expect_equal(
        run(impl.classify_by_compression, queries, train, labels),
        want,
        what="the label of the training text of smallest NCD(query, text)",
        mistakes={
            "take the farthest training text (argmax)": _nearest(queries, train, labels, pick=np.argmax),
            "concatenate the training text first (NCD(text, query))": _nearest(
                queries, train, labels, swap=True
            ),
        },
    )


@exercise("classify_by_compression")
def test_classify_by_compression_puts_the_query_first(impl):
    texts = _language_texts(2, 60, seed=0)
    g = rng(0)
    train, labels = texts[:6:2], np.arange(3)
    queries = []
    for _ in range(8):  # two languages mixed: C(query + text) and C(text + query) disagree on some
        a, b = g.choice(6, 2, replace=False)
        queries.append(texts[a][: int(g.integers(20, 120))] + texts[b][: int(g.integers(20, 120))])
    expect_equal(
        run(impl.classify_by_compression, queries, train, labels),
        _nearest(queries, train, labels),
        what="queries that mix two languages; NCD(query, text) compresses query + text",
        mistakes={
            "concatenate the training text first (NCD(text, query))": _nearest(
                queries, train, labels, swap=True
            )
        },
    )


@exercise("classify_by_compression")
def test_classify_by_compression_names_the_language(impl):
    texts = _language_texts(5, 80, seed=4)
    train = [texts[i] for i in (0, 5, 10)]
    labels = np.array([7, 3, 5])  # labels need not be 0 … k − 1
    queries = [texts[i][:120] for i in (1, 2, 6, 7, 11, 12, 3, 8, 13)]
    expect_equal(
        run(impl.classify_by_compression, queries, train, labels),
        np.array([7, 7, 3, 3, 5, 5, 7, 3, 5]),
        what="short texts of three made-up languages, one training text each",
        mistakes={
            "return the index of the nearest training text instead of its label": np.array(
                [0, 0, 1, 1, 2, 2, 0, 1, 2]
            )
        },
    )


@exercise("classify_by_compression")
def test_classify_by_compression_ties_and_method(impl):
    texts = _language_texts(1, 100, seed=5)
    train = [texts[0], texts[0], texts[1]]  # the first two tie exactly
    labels = np.array([4, 9, 2])
    call = run(impl.classify_by_compression, [texts[0][:200]], train, labels)
    expect_equal(
        call,
        np.array([4]),
        what="two training texts tie: the first one's label",
        mistakes={"take the last of tied texts": np.array([9])},
    )
    size = lambda d: len(lzma.compress(d))  # noqa: E731
    queries = [texts[1][:150], texts[2][:150], ENGLISH]
    expect_equal(
        run(impl.classify_by_compression, queries, texts, np.array([0, 1, 2]), "lzma"),
        _nearest(queries, texts, np.array([0, 1, 2]), size=size),
        what="with C = lzma",
    )
