"""Tests for chapter 9, part 7: lost in the middle.

Expected values come from this file: contexts built by list insertion, the bias from its
formula entry by entry, the reader's answer by a loop over passages and labels, and the
measurement run on stand-in readers whose position effect is known exactly (one that
always answers the first passage's label, one that answers the label at a fixed position,
one that ignores position).
"""

import numpy as np

from grader.testkit import Call, exercise, expect, expect_close, expect_equal, rng, run, run_without_warnings


def _task(seed, N=6, m=4, d=3, answers=10):
    g = rng(seed)
    return (
        g.normal(size=(N, d)),
        g.normal(size=(N, d)),
        g.integers(answers, size=N),
        g.normal(size=(N, m, d)),
        g.integers(answers, size=(N, m)),
    )


def _insert(gk, gl, dk, dl, p):
    keys = np.array([np.array(list(dk[i][:p]) + [gk[i]] + list(dk[i][p:])) for i in range(len(gk))])
    labels = np.array([list(dl[i][:p]) + [gl[i]] + list(dl[i][p:]) for i in range(len(gk))], dtype=np.int64)
    return keys, labels


# ------------------------------------------------------------------------------ place_gold


@exercise("place_gold")
def test_place_gold_inserts_at_every_position(impl):
    _, gk, gl, dk, dl = _task(0)
    for p in range(5):
        call = run(impl.place_gold, gk, gl, dk, dl, p)
        expect(isinstance(call.value, tuple) and len(call.value) == 2, f"{call}: expected (keys, labels)")
        keys, labels = _insert(gk, gl, dk, dl, p)
        wrong_labels = {
            "put the gold passage after position p (at p + 1)": lambda p=p: _insert(gk, gl, dk, dl, p + 1)[1],
            "overwrite the distractor at p instead of inserting": lambda p=p: np.concatenate(
                [dl[:, :p], gl[:, None], dl[:, p + 1 :]], axis=1
            ),
            "count positions from the end": lambda p=p: _insert(gk, gl, dk, dl, 4 - p)[1],
        }
        expect_equal(
            Call(call.value[1], f"{call}[1], labels"),
            labels,
            what=f"distractors 0 … {p - 1}, the gold passage, then the rest",
            mistakes=wrong_labels,
        )
        expect_close(Call(call.value[0], f"{call}[0], keys"), keys)


@exercise("place_gold")
def test_place_gold_keeps_the_shapes(impl):
    _, gk, gl, dk, dl = _task(1, N=2, m=19, d=5)
    keys, labels = run(impl.place_gold, gk, gl, dk, dl, 19).value
    expect(
        keys.shape == (2, 20, 5),
        f"place_gold(..., position=19): keys shape {keys.shape}, expected (2, 20, 5)",
    )
    expect_close(Call(keys[:, -1], "place_gold(..., position=19)[0][:, -1], the last passage"), gk)
    expect_equal(Call(labels[:, 0], "place_gold(..., position=19)[1][:, 0]"), dl[:, 0])


@exercise("place_gold")
def test_place_gold_with_no_distractors(impl):
    _, gk, gl, dk, dl = _task(2, N=3, m=0)
    keys, labels = run(impl.place_gold, gk, gl, dk, dl, 0).value
    expect_equal(Call(labels, "place_gold(one passage, position=0)[1]"), gl[:, None])


# --------------------------------------------------------------------------- position_bias


@exercise("position_bias")
def test_position_bias_formula(impl):
    n, s, tau = 7, 1.5, 2.0
    j = np.arange(n)
    expect_close(
        run(impl.position_bias, n, s, tau),
        np.array([s * (np.exp(-k / tau) + np.exp(-(n - 1 - k) / tau)) for k in range(n)]),
        what="strength · (exp(−j/tau) + exp(−(n−1−j)/tau))",
        mistakes={
            "let the recency term decay from n − j instead of n − 1 − j": s
            * (np.exp(-j / tau) + np.exp(-(n - j) / tau)),
            "leave out the recency term": s * np.exp(-j / tau),
            "multiply by tau instead of dividing": s * (np.exp(-j * tau) + np.exp(-(n - 1 - j) * tau)),
        },
    )


@exercise("position_bias")
def test_position_bias_is_symmetric_and_u_shaped(impl):
    b = run(impl.position_bias, 20, 3.0, 2.0).value
    expect_close(
        Call(b[::-1], "position_bias(20, 3, 2)[::-1]"), b, what="as strong at the end as at the start"
    )
    expect(
        b[0] > b[5] > b[9],
        f"position_bias(20, 3, 2) = {np.round(b, 3)}: expected it to fall towards the middle",
    )


@exercise("position_bias")
def test_position_bias_zero_strength(impl):
    expect_close(run(impl.position_bias, 5, 0.0, 1.0), np.zeros(5), what="strength 0: no bias")


# ------------------------------------------------------------------------------ toy_reader


def _read(q, keys, labels, bias, beta=0.25, answers=10):
    out = []
    for i in range(len(q)):
        logits = [beta * float(q[i] @ keys[i, j]) + bias[j] for j in range(keys.shape[1])]
        top = max(logits)
        w = np.exp(np.array(logits) - top)
        w /= w.sum()
        votes = [sum(w[j] for j in range(len(w)) if labels[i, j] == a) for a in range(answers)]
        out.append(int(np.argmax(votes)))
    return np.array(out, dtype=np.int64)


@exercise("toy_reader")
def test_toy_reader_votes_by_attention_weight(impl):
    g = rng(3)
    q, keys, labels = g.normal(size=(40, 4)), g.normal(size=(40, 6, 4)), g.integers(3, size=(40, 6))
    bias = g.normal(size=6)
    logits = 0.7 * np.einsum("nd,njd->nj", q, keys) + bias
    expect_equal(
        run(impl.toy_reader, q, keys, labels, bias, beta=0.7, answers=3),
        _read(q, keys, labels, bias, 0.7, 3),
        what="the label with the most attention weight",
        mistakes={
            "answer the label of the single most-attended passage": labels[np.arange(40), logits.argmax(1)],
            "leave out the position bias": _read(q, keys, labels, np.zeros(6), 0.7, 3),
        },
    )


@exercise("toy_reader")
def test_toy_reader_adds_up_passages_with_the_same_label(impl):
    # Passage 0 has the largest weight alone, but passages 1 and 2 share a label and together outweigh it.
    q = np.array([[1.0, 0.0]])
    keys = np.array([[[2.0, 0.0], [1.5, 0.0], [1.5, 0.0], [-5.0, 0.0]]])
    labels = np.array([[0, 1, 1, 2]])
    expect_equal(
        run(impl.toy_reader, q, keys, labels, np.zeros(4), beta=1.0, answers=3),
        np.array([1]),
        what="weights e², e^1.5, e^1.5, e^-5 (normalised): label 1 has 2e^1.5 > e²",
        mistakes={"answer the label of the single most-attended passage": np.array([0])},
    )


@exercise("toy_reader")
def test_toy_reader_is_stable_for_large_logits(impl):
    g = rng(4)
    q, keys, labels = g.normal(size=(10, 4)), g.normal(size=(10, 5, 4)), g.integers(10, size=(10, 5))
    bias = np.linspace(0, 1, 5)
    expect_equal(
        run_without_warnings(impl.toy_reader, q, keys, labels, bias, beta=500.0),
        _read(q, keys, labels, bias, 500.0),
        what="beta = 500: logits in the thousands; subtract each row's maximum before exp",
    )


# -------------------------------------------------------------------- accuracy_by_position


def _first_reader(q, keys, labels):
    return labels[:, 0].astype(np.int64)


@exercise("accuracy_by_position")
def test_accuracy_by_position_on_a_reader_that_reads_only_the_first_passage(impl):
    task = _task(5, N=50, m=6)
    gl, dl = task[2], task[4]
    call = run(impl.accuracy_by_position, _first_reader, *task)
    expect(
        isinstance(call.value, tuple) and len(call.value) == 2, f"{call}: expected (accuracy, standard error)"
    )
    first_is_right = float(
        np.mean(dl[:, 0] == gl)
    )  # with the gold passage elsewhere, passage 0 is distractor 0
    want = np.array([1.0] + [first_is_right] * 6)
    expect_close(
        Call(call.value[0], f"{call}[0], with a reader answering the first passage's label"),
        want,
        what="accuracy 1 with the gold passage first; elsewhere as often as distractor 0's label matches",
        mistakes={
            "place the gold passage at p + 1": lambda: np.array([first_is_right] * 7),
            "count positions from the end": want[::-1],
        },
    )
    expect_close(
        Call(call.value[1], f"{call}[1], the standard error"),
        np.sqrt(want * (1 - want) / 50),
        what="sqrt(acc (1 − acc) / N)",
        mistakes={"divide by the number of positions instead of N": np.sqrt(want * (1 - want) / 7)},
    )


@exercise("accuracy_by_position")
def test_accuracy_by_position_finds_a_known_position(impl):
    task = _task(6, N=30, m=9)
    for k in (0, 4, 9):
        acc, _ = run(impl.accuracy_by_position, lambda q, keys, labels, k=k: labels[:, k], *task).value
        expect(
            acc[k] == 1.0 and np.argmax(acc) == k,
            f"accuracy_by_position with a reader answering the label at position {k}: "
            f"accuracy {np.round(acc, 2)}; expected 1.0 exactly at position {k}",
        )


@exercise("accuracy_by_position")
def test_accuracy_by_position_is_flat_for_a_reader_without_position(impl):
    task = _task(7, N=40, m=5, d=4)

    def best_match(q, keys, labels):
        return labels[np.arange(len(q)), np.einsum("nd,njd->nj", q, keys).argmax(1)]

    keys, labels = _insert(task[1], task[2], task[3], task[4], 0)
    want = np.mean(best_match(task[0], keys, labels) == task[2])
    acc, _ = run(impl.accuracy_by_position, best_match, *task).value
    expect_close(
        Call(acc, "accuracy_by_position(a reader that picks the best-matching key, ...)[0]"),
        np.full(6, want),
        what="a reader that ignores position answers the same wherever the gold passage is",
    )


# ------------------------------------------------------------------- accuracy_without_gold


@exercise("accuracy_without_gold")
def test_accuracy_without_gold_reads_the_distractors_alone(impl):
    q, _, gl, dk, dl = _task(8, N=60, m=5)
    seen = []

    def first(queries, keys, labels):
        seen.append(keys.shape)
        return labels[:, 0].astype(np.int64)

    call = run(impl.accuracy_without_gold, first, q, gl, dk, dl)
    want = float(np.mean(dl[:, 0] == gl))
    expect(
        seen == [(60, 5, 3)],
        f"{call}: the reader was called with keys of shapes {seen}; expected one call on the 5 distractors "
        "(60, 5, 3)",
    )
    expect_close(
        call,
        want,
        what="the fraction of answers equal to gold_labels",
        mistakes={"count the answers that differ from the gold labels": 1 - want},
    )


@exercise("accuracy_without_gold")
def test_accuracy_without_gold_of_a_constant_reader(impl):
    q, _, gl, dk, dl = _task(9, N=200, m=3)
    call = run(
        impl.accuracy_without_gold,
        lambda queries, keys, labels: np.zeros(len(queries), np.int64),
        q,
        gl,
        dk,
        dl,
    )
    expect(
        isinstance(call.value, (float, np.floating)),
        f"{call} returned {type(call.value).__name__}; expected a float",
    )
    expect_close(call, float(np.mean(gl == 0)), what="a reader that always answers 0")


@exercise("accuracy_without_gold")
def test_accuracy_without_gold_of_a_perfect_oracle(impl):
    q, _, gl, dk, dl = _task(10, N=20, m=4)
    oracle = lambda queries, keys, labels: gl.copy()  # noqa: E731 - answers right without reading anything
    expect_close(
        run(impl.accuracy_without_gold, oracle, q, gl, dk, dl), 1.0, what="a reader that knows every answer"
    )
