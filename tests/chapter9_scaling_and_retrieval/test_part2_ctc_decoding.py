"""Tests for chapter 9, part 2: best-path and prefix beam decoding of CTC outputs, and a
per-frame linear model trained with the CTC loss.

Expected values come from this file: the probability of every labelling by enumerating
all C^T paths of a tiny input and collapsing each; beam searches written here over
(prefix, ends-in-blank) pairs; the CTC loss of the model from a forward pass written here,
and its gradient by central differences.
"""

import itertools

import numpy as np

from grader.testkit import Call, diagnosis, exercise, expect, expect_close, rng, run

# ------------------------------------------------------------------------------ helpers


def _log_softmax(x):
    z = x - x.max(axis=-1, keepdims=True)
    return z - np.log(np.exp(z).sum(axis=-1, keepdims=True))


def _collapse(path, blank=0):
    out, previous = [], None
    for s in path:
        if s != previous and s != blank:
            out.append(int(s))
        previous = s
    return out


def _expect_lists(call, want, what, mistakes=None):
    got = call.value
    same = lambda a, b: [list(map(int, x)) for x in a] == [list(map(int, x)) for x in b]  # noqa: E731
    ok = isinstance(got, list) and len(got) == len(want) and same(got, want)
    if not ok:
        line = diagnosis(
            got, want, mistakes, lambda a, b: isinstance(a, list) and len(a) == len(b) and same(a, b)
        )
        raise AssertionError(f"{line + chr(10) if line else ''}{call}: {what}: got {got}, want {want}")


def _all_labellings(lp, blank=0):
    """{labelling tuple: log p} by enumerating every path of lp (T, C)."""
    T, C = lp.shape
    sums: dict[tuple, float] = {}
    for path in itertools.product(range(C), repeat=T):
        key = tuple(_collapse(path, blank))
        score = float(lp[np.arange(T), list(path)].sum())
        sums[key] = float(np.logaddexp(sums.get(key, -np.inf), score))
    return sums


def _beam_here(lp, width, blank=0, variant=""):
    """Prefix beam search with probabilities kept per (prefix, ends in blank); `variant`
    makes a named mistake."""
    scores = {((), True): 0.0}
    T, C = lp.shape
    for t in range(T):
        nxt: dict[tuple, float] = {}

        def put(key, value, nxt=nxt):
            if value > -np.inf:
                nxt[key] = float(np.logaddexp(nxt.get(key, -np.inf), value))

        for (prefix, in_blank), score in scores.items():
            put((prefix, True), score + lp[t, blank])
            for c in range(C):
                if c == blank:
                    continue
                if prefix and prefix[-1] == c:
                    if variant == "one probability per prefix":
                        put((prefix + (c,), False), score + lp[t, c])
                    elif in_blank:
                        put((prefix + (c,), False), score + lp[t, c])
                    else:
                        put((prefix, False), score + lp[t, c])
                else:
                    put((prefix + (c,), False), score + lp[t, c])
        totals: dict[tuple, float] = {}
        for (prefix, _), score in nxt.items():
            totals[prefix] = float(np.logaddexp(totals.get(prefix, -np.inf), score))
        kept = sorted(totals, key=lambda p: (-totals[p], p))[:width]
        scores = {key: s for key, s in nxt.items() if key[0] in kept}
    totals = {}
    for (prefix, _), score in scores.items():
        totals[prefix] = float(np.logaddexp(totals.get(prefix, -np.inf), score))
    return [(p, totals[p]) for p in sorted(totals, key=lambda p: (-totals[p], p))]


def _expect_beam(call, want, what, rtol=1e-9, mistakes=None):
    got = call.value

    def same(a, b):
        try:
            return len(a) == len(b) and all(
                tuple(int(v) for v in pa) == tuple(pb) and np.isclose(float(sa), sb, rtol=rtol, atol=1e-12)
                for (pa, sa), (pb, sb) in zip(a, b, strict=True)
            )
        except (TypeError, ValueError):
            return False

    if not same(got, want):
        line = diagnosis(got, want, mistakes, same)
        shown = lambda beam: [(tuple(int(v) for v in p), round(float(s), 6)) for p, s in beam][:8]  # noqa: E731
        try:
            got_shown = shown(got)
        except (TypeError, ValueError):
            got_shown = got
        raise AssertionError(
            f"{line + chr(10) if line else ''}{call}: {what}: got {got_shown}, want {shown(want)} "
            "(prefix, log-probability), best first, the first 8"
        )


# --------------------------------------------------------------------------- greedy_decode


@exercise("greedy_decode")
def test_greedy_decode_merges_then_drops_blanks(impl):
    paths = np.array([[1, 1, 0, 1, 2, 2, 0], [0, 2, 2, 2, 0, 0, 0], [3, 0, 3, 3, 0, 3, 1]])
    log_probs = np.log(np.full((3, 7, 4), 0.1))
    log_probs[np.arange(3)[:, None], np.arange(7), paths] = np.log(0.7)
    lengths = np.array([6, 7, 6])
    want = [[1, 1, 2], [2], [3, 3, 3]]
    call = run(impl.greedy_decode, log_probs, lengths)
    _expect_lists(
        call,
        want,
        "the argmax path of each sequence's real frames, repeats merged, then blanks dropped",
        mistakes={
            "drop the blanks first and then merge repeats (merging across a blank)": [[1, 2], [2], [3]],
            "drop the blanks without merging repeats": [[1, 1, 1, 2, 2], [2, 2, 2], [3, 3, 3, 3]],
            "decode every frame, ignoring input_lengths": [[1, 1, 2], [2], [3, 3, 3, 1]],
        },
    )


@exercise("greedy_decode")
def test_greedy_decode_on_a_random_batch(impl):
    g = rng(1)
    log_probs = _log_softmax(g.normal(size=(8, 15, 5)) * 2)
    lengths = g.integers(1, 16, size=8)
    want = [_collapse(log_probs[n, : lengths[n]].argmax(axis=1)) for n in range(8)]
    _expect_lists(run(impl.greedy_decode, log_probs, lengths), want, "8 random sequences over 5 symbols")


@exercise("greedy_decode")
def test_greedy_decode_with_another_blank(impl):
    log_probs = np.log(np.full((1, 5, 3), 0.2))
    log_probs[0, np.arange(5), [0, 2, 0, 0, 1]] = np.log(0.6)
    call = run(impl.greedy_decode, log_probs, np.array([5]), 2)
    _expect_lists(
        call,
        [[0, 0, 1]],
        "blank=2: the path [0, 2, 0, 0, 1]",
        mistakes={"use 0 as the blank whatever `blank` says": [[2, 1]]},
    )


# ---------------------------------------------------------------------- prefix_beam_search


@exercise("prefix_beam_search")
def test_prefix_beam_search_is_exact_with_a_wide_beam(impl):
    for seed in (2, 3):
        lp = _log_softmax(rng(seed).normal(size=(5, 3)) * 1.5)
        exact = _all_labellings(lp)
        want = [(p, exact[p]) for p in sorted(exact, key=lambda p: (-exact[p], p))]
        call = run(impl.prefix_beam_search, lp, 1000)
        _expect_beam(
            call,
            want,
            "with a beam wider than the number of prefixes, every labelling with its exact log p "
            "(by enumerating all 3^5 paths)",
            mistakes={
                "keep one probability per prefix (dropping the blank-ending part), so that a repeated "
                "label always grows the prefix": lambda lp=lp: _beam_here(
                    lp, 1000, variant="one probability per prefix"
                ),
            },
        )


@exercise("prefix_beam_search")
def test_prefix_beam_search_beats_best_path(impl):
    # Each frame: blank 0.6, label 1 0.4. The best path is all blanks (p = 0.36), but the
    # label [1] has p = 0.64 over three paths.
    lp = np.log(np.array([[0.6, 0.4], [0.6, 0.4]]))
    call = run(impl.prefix_beam_search, lp, 2)
    _expect_beam(call, [((1,), np.log(0.64)), ((), np.log(0.36))], "two frames of [0.6, 0.4], beam 2")


@exercise("prefix_beam_search")
def test_prefix_beam_search_prunes_and_breaks_ties_by_prefix(impl):
    lp = np.log(np.array([[0.2, 0.4, 0.4]]))
    call = run(impl.prefix_beam_search, lp, 1)
    _expect_beam(call, [((1,), np.log(0.4))], "one frame, (1,) and (2,) tie at 0.4: beam 1 keeps (1,)")
    # One path per prefix and sums exact in floating point: after two frames (2,) and (1,)
    # tie at −2.5, behind (2, 1) at −2; (2,) was found first, but (1,) is the smaller prefix.
    lp = np.array([[-np.inf, -1.0, -0.5], [-np.inf, -1.5, -2.0]])
    call = run(impl.prefix_beam_search, lp, 2)
    _expect_beam(
        call,
        [((2, 1), -2.0), ((1,), -2.5)],
        "blank impossible, beam 2: (2,) and (1,) tie at −2.5 and the smaller prefix (1,) is kept",
        mistakes={
            "rank by the total alone, so that a tie keeps the prefix found first": [
                ((2, 1), -2.0),
                ((2,), -2.5),
            ]
        },
    )
    for seed, width in ((4, 2), (5, 3)):
        lp = _log_softmax(rng(seed).normal(size=(6, 4)) * 2)
        call = run(impl.prefix_beam_search, lp, width)
        _expect_beam(
            call,
            _beam_here(lp, width),
            f"beam {width} over 6 frames of 4 symbols: the {width} best after every frame",
        )


@exercise("prefix_beam_search")
def test_prefix_beam_search_with_another_blank(impl):
    lp = _log_softmax(rng(6).normal(size=(4, 3)))
    exact = _all_labellings(lp, blank=1)
    want = [(p, exact[p]) for p in sorted(exact, key=lambda p: (-exact[p], p))]
    _expect_beam(run(impl.prefix_beam_search, lp, 100, 1), want, "blank=1, every labelling")


# ------------------------------------------------------------------------- train_ctc_model


def _ctc_losses(logits, labels, input_lengths, label_lengths):
    """−log p per example, by a forward pass over the extended label, one example at a time."""
    lp = _log_softmax(logits)
    out = []
    for n in range(len(lp)):
        ext = [0]
        for c in labels[n, : label_lengths[n]]:
            ext += [int(c), 0]
        S = len(ext)
        alpha = np.full(S, -np.inf)
        alpha[:2] = lp[n, 0, ext[:2]]
        for t in range(1, input_lengths[n]):
            before = np.concatenate([[-np.inf, -np.inf], alpha])
            two_back = [
                before[s] if s >= 2 and ext[s] != 0 and ext[s] != ext[s - 2] else -np.inf for s in range(S)
            ]
            alpha = (
                np.logaddexp.reduce([before[2:], before[1:-1], np.array(two_back)], axis=0) + lp[n, t, ext]
            )
        out.append(-np.logaddexp(alpha[-1], alpha[-2]))
    return np.array(out)


def _utterances(seed, n, symbols=3, dim=4):
    """Utterances as part 2's given make_sequences describes them, made here."""
    protos = rng(0).normal(size=(symbols + 1, dim)) * 2  # the same symbols in every set
    protos[0] = 0
    g = rng(seed)
    labels = np.zeros((n, 3), dtype=np.int64)
    label_lengths = g.integers(1, 4, size=n)
    seqs = []
    for i in range(n):
        frames = []
        for j in range(label_lengths[i]):
            labels[i, j] = g.integers(1, symbols + 1)
            frames += [0] * (1 + (j > 0)) + [int(labels[i, j])] * 2
        seqs.append(frames + [0])
    lengths = np.array([len(s) for s in seqs])
    X = np.zeros((n, lengths.max(), dim))
    for i, s in enumerate(seqs):
        X[i, : len(s)] = protos[s] + 0.5 * g.normal(size=(len(s), dim))
    return X, lengths, labels, label_lengths


@exercise("train_ctc_model", timeout=30)
def test_train_ctc_model_takes_one_adam_step_on_the_mean_loss(impl):
    X, lengths, labels, label_lengths = _utterances(7, 4)
    call = run(impl.train_ctc_model, X, lengths, labels, label_lengths, 3, 1, rng(8), 0.05)
    params, history = call.value
    W0 = 0.01 * rng(8).normal(size=(4, 4))
    b0 = np.zeros(4)

    def mean_loss(W, b):
        return _ctc_losses(X @ W + b, labels, lengths, label_lengths).mean()

    expect_close(
        Call(np.asarray(history, dtype=float), f"{call}[1], the losses"),
        np.array([mean_loss(W0, b0)]),
        rtol=1e-9,
        what="the mean CTC loss before the step, at W = 0.01 · rng.normal(size=(D, C)), b = 0",
        mistakes={"sum the losses instead of averaging": lambda: np.array([mean_loss(W0, b0) * 4])},
    )
    eps = 1e-6
    dW = np.zeros_like(W0)
    for i, j in np.ndindex(W0.shape):
        up, down = W0.copy(), W0.copy()
        up[i, j] += eps
        down[i, j] -= eps
        dW[i, j] = (mean_loss(up, b0) - mean_loss(down, b0)) / (2 * eps)
    # Adam's first step moves each weight by lr · g / (|g| + eps): by lr, against its gradient.
    want_W = W0 - 0.05 * dW / (np.abs(dW) + 1e-8)
    expect_close(
        Call(params["W"], f"{call}[0]['W']"),
        want_W,
        rtol=1e-6,
        atol=1e-7,
        what="W after one Adam step (lr 0.05) on the mean loss's gradient (central differences)",
        mistakes={"step along the gradient instead of against it": W0 + 0.05 * dW / (np.abs(dW) + 1e-8)},
    )
    db = np.zeros(4)
    for j in range(4):
        up, down = b0.copy(), b0.copy()
        up[j] += eps
        down[j] -= eps
        db[j] = (mean_loss(W0, up) - mean_loss(W0, down)) / (2 * eps)
    expect_close(
        Call(params["b"], f"{call}[0]['b']"),
        b0 - 0.05 * db / (np.abs(db) + 1e-8),
        rtol=1e-6,
        atol=1e-7,
        what="b after one Adam step (lr 0.05)",
    )


@exercise("train_ctc_model", timeout=30)
def test_train_ctc_model_learns_to_transcribe(impl):
    X, lengths, labels, label_lengths = _utterances(9, 40)
    X_test, lengths_test, labels_test, label_lengths_test = _utterances(11, 80)
    call = run(impl.train_ctc_model, X, lengths, labels, label_lengths, 3, 40, rng(10), 0.1)
    params, history = call.value
    lp = _log_softmax(X_test @ params["W"] + params["b"])
    errors = total = 0
    for n in range(80):
        decoded = _collapse(lp[n, : lengths_test[n]].argmax(axis=1))
        target = list(labels_test[n, : label_lengths_test[n]])
        # edit distance by dynamic programming
        row = list(range(len(target) + 1))
        for i, a in enumerate(decoded, 1):
            prev, row[0] = row[0], i
            for j, b in enumerate(target, 1):
                prev, row[j] = row[j], min(row[j] + 1, row[j - 1] + 1, prev + (a != b))
        errors += row[-1]
        total += len(target)
    ler = errors / total
    expect(
        history[-1] < 0.2 * history[0],
        f"{call}: the mean loss went from {history[0]:.3f} to {history[-1]:.3f} in 40 steps; "
        "it should fall below a fifth of where it started",
    )
    expect(
        ler < 0.1,
        f"{call}: greedy label error rate {ler:.1%} on 80 new utterances after 40 steps; "
        "it should be below 10% (an empty transcription scores 100%)",
    )
