"""Tests for chapter 9, part 1: the CTC loss, its forward and backward recursions in log
space, and its gradient with respect to the logits.

Expected values come from this file: on tiny inputs (3 symbols, up to 6 frames) by
enumerating every one of the C^T symbol paths and collapsing each (merge repeats, then drop
blanks); on long inputs (500 frames) and padded batches from a recursion written here one
example at a time; the gradient from central differences of those losses. (PyTorch's
ctc_loss is not imported here: bench/cases/chapter9_scaling_and_retrieval.py checks the
reference against it before timing.)
"""

import functools
import itertools

import numpy as np

from grader.testkit import (
    Call,
    exercise,
    expect,
    expect_close,
    expect_equal,
    expect_parts,
    rng,
    run,
    run_without_warnings,
)

# ------------------------------------------------------------------------------ helpers


def _log_softmax(x):
    z = x - x.max(axis=-1, keepdims=True)
    return z - np.log(np.exp(z).sum(axis=-1, keepdims=True))


def _collapse(path, blank=0):
    """Merge runs of a symbol, then drop the blanks: (1, 1, 0, 1) → (1, 1)."""
    out = []
    previous = None
    for symbol in path:
        if symbol != previous and symbol != blank:
            out.append(int(symbol))
        previous = symbol
    return tuple(out)


def _collapse_across_blanks(path, blank=0):
    """The mistake: drop the blanks first, then merge: (1, 0, 1) → (1,)."""
    kept = [int(s) for s in path if s != blank]
    return tuple(s for i, s in enumerate(kept) if i == 0 or s != kept[i - 1])


def _all_paths(C, T):
    paths = list(itertools.product(range(C), repeat=T))
    return np.array(paths, dtype=np.int64).reshape(len(paths), T)


def _brute_log_p(lp, label, collapse=_collapse):
    """log Σ over every path of len(lp) frames that collapses to label (−inf if none)."""
    T, C = lp.shape
    paths = _all_paths(C, T)
    scores = lp[np.arange(T), paths].sum(axis=1)
    keep = np.array([collapse(p) == tuple(label) for p in paths])
    if not keep.any():
        return -np.inf
    kept = scores[keep]
    return float(kept.max() + np.log(np.exp(kept - kept.max()).sum()))


def _extended(label, blank=0):
    out = [blank]
    for symbol in label:
        out += [int(symbol), blank]
    return out


def _brute_alpha(lp, label, S, blank=0):
    """alpha[t, s] by enumeration: the paths of t + 1 frames in position s of the extended
    label. An odd s = 2k + 1: the path collapses to label[:k + 1] and its last symbol is
    label[k]; an even s = 2k: it collapses to label[:k] and ends on a blank."""
    T, C = lp.shape
    alpha = np.full((T, S), -np.inf)
    for t in range(T):
        paths = _all_paths(C, t + 1)
        scores = lp[np.arange(t + 1), paths].sum(axis=1)
        for s in range(2 * len(label) + 1):
            k = (s + 1) // 2
            last = blank if s % 2 == 0 else label[k - 1]
            keep = np.array([p[-1] == last and _collapse(p, blank) == tuple(label[:k]) for p in paths])
            if keep.any():
                alpha[t, s] = np.log(np.exp(scores[keep]).sum())
    return alpha


def _brute_beta(lp, label, S, T_n, blank=0):
    """beta[t, s] by enumeration: every continuation of frames t + 1 … T_n − 1 that, after a
    path in position s (the extended label up to s is one), collapses to the label."""
    T, C = lp.shape
    beta = np.full((T, S), -np.inf)
    ext = _extended(label, blank)
    for t in range(T_n):
        rest = T_n - 1 - t
        paths = _all_paths(C, rest)
        scores = lp[np.arange(t + 1, T_n), paths].sum(axis=1) if rest else np.zeros(1)
        for s in range(len(ext)):
            keep = np.array([_collapse(ext[: s + 1] + list(p), blank) == tuple(label) for p in paths])
            if keep.any():
                beta[t, s] = np.log(np.exp(scores[keep]).sum())
    return beta


def _loop_alpha(lp, ext, skip, variant=""):
    """log alpha (T, S) of one example, one frame and one position at a time; `variant`
    makes a named mistake."""
    T, S = len(lp), len(ext)
    alpha = np.full((T, S), -np.inf)
    alpha[0, 0] = lp[0, ext[0]] if variant != "no first emission" else 0.0
    if S > 1 and variant != "start on the blank only":
        alpha[0, 1] = lp[0, ext[1]] if variant != "no first emission" else 0.0
    for t in range(1, T):
        for s in range(S):
            terms = [alpha[t - 1, s]]
            if s >= 1:
                terms.append(alpha[t - 1, s - 1])
            if s >= 2 and (skip[s] or variant == "always skip") and variant != "never skip":
                terms.append(alpha[t - 1, s - 2])
            frame = t - 1 if variant == "emit the previous frame" else t
            alpha[t, s] = np.logaddexp.reduce(terms) + lp[frame, ext[s]]
    return alpha


def _alpha_by_frames(lp, ext, skip):
    """log alpha (T, S) of one example, vectorised over s: each frame stacks the three
    candidate predecessors (−inf where there is none) and reduces them with logaddexp."""
    T, S = len(lp), len(ext)
    alpha = np.full((T, S), -np.inf)
    alpha[0, : min(S, 2)] = lp[0, ext[: min(S, 2)]]
    none = np.full(2, -np.inf)
    for t in range(1, T):
        before = np.concatenate([none, alpha[t - 1]])
        candidates = np.stack([before[2:], before[1:-1], np.where(skip, before[:-2], -np.inf)])
        alpha[t] = np.logaddexp.reduce(candidates, axis=0) + lp[t, ext]
    return alpha


def _loop_beta(lp, ext, skip, T_n, S_n, variant=""):
    T, S = len(lp), len(ext)
    beta = np.full((T, S), -np.inf)
    last = T - 1 if variant == "end every example at frame T − 1" else T_n - 1
    beta[last, S_n - 1] = 0.0
    if S_n > 1 and variant != "end on the last blank only":
        beta[last, S_n - 2] = 0.0
    for t in range(last - 1, -1, -1):
        for s in range(S):
            terms = []
            for step in (0, 1, 2):
                if s + step < S and (step < 2 or skip[s + step] or variant == "always skip"):
                    terms.append(lp[t + 1, ext[s + step]] + beta[t + 1, s + step])
            beta[t, s] = np.logaddexp.reduce(terms)
    if variant == "include frame t's own symbol":
        beta = beta + lp[np.arange(T)[:, None], np.array(ext)[None, :]]
    return beta


def _alpha_mistakes(lp, ext, skip, S_n):
    """The named mistakes of ctc_alpha on one example, each computed when asked."""
    phrases = {
        "take the s − 2 term whatever skip says": "always skip",
        "never take the s − 2 term": "never skip",
        "start on the blank only (log_alpha[0, 1] = −inf)": "start on the blank only",
        "start without frame 0's symbol": "no first emission",
        "add frame t − 1's symbol instead of frame t's": "emit the previous frame",
    }
    return {
        phrase: functools.partial(lambda v: _loop_alpha(lp, ext, skip, v)[:, :S_n], variant)
        for phrase, variant in phrases.items()
    }


def _beta_mistakes(lp, ext, skip, T_n, S_n):
    phrases = {
        "include frame t's own symbol in beta[t]": "include frame t's own symbol",
        "take the s + 2 term whatever skip[s + 2] says": "always skip",
        "end only on the blank after the last label": "end on the last blank only",
        "end every example at frame T − 1, ignoring input_lengths": "end every example at frame T − 1",
    }
    return {
        phrase: functools.partial(_loop_beta, lp, ext, skip, T_n, S_n, variant)
        for phrase, variant in phrases.items()
    }


def _ext_and_skip(labels, lengths, S, blank=0):
    ext = np.full((len(labels), S), blank, dtype=np.int64)
    skip = np.zeros((len(labels), S), dtype=bool)
    for n, label in enumerate(labels):
        e = _extended(label[: lengths[n]], blank)
        ext[n, : len(e)] = e
    for n in range(len(labels)):
        for s in range(2, S):
            skip[n, s] = ext[n, s] != blank and ext[n, s] != ext[n, s - 2]
    return ext, skip


# A tiny batch: 3 symbols (0 is the blank), up to 5 frames, labels padded with symbol 2.
TINY_LABELS = np.array([[1, 2, 2], [1, 1, 2], [2, 2, 2], [2, 1, 2]])
TINY_LABEL_LENGTHS = np.array([2, 2, 0, 1])
TINY_INPUT_LENGTHS = np.array([5, 5, 4, 3])
TINY_LOGITS = rng(0).normal(size=(4, 5, 3)) * 1.5
TINY_LP = _log_softmax(TINY_LOGITS)
TINY_EXT, TINY_SKIP = _ext_and_skip(TINY_LABELS, TINY_LABEL_LENGTHS, 7)


def _tiny_label(n):
    return [int(v) for v in TINY_LABELS[n, : TINY_LABEL_LENGTHS[n]]]


def _long_batch(seed, T=500, L=6, C=5):
    g = rng(seed)
    logits = g.normal(size=(2, T, C)) * 2
    labels = g.integers(1, C, size=(2, L))
    labels[0, 1] = labels[0, 0]  # a repeat
    return logits, labels, np.array([T, T - 150]), np.array([L, L - 2])


# --------------------------------------------------------------------------- extend_labels


@exercise("extend_labels")
def test_extend_labels_puts_a_blank_around_and_between_labels(impl):
    labels = np.array([[3, 1, 1], [2, 5, 5], [4, 4, 4]])  # padded with 5 and 4
    lengths = np.array([3, 1, 0])
    want = np.array([[0, 3, 0, 1, 0, 1, 0], [0, 2, 0, 0, 0, 0, 0], [0, 0, 0, 0, 0, 0, 0]])
    padding_kept = want.copy()
    padding_kept[:, 1::2] = labels
    call = run(impl.extend_labels, labels, lengths)
    expect_equal(
        call,
        want,
        what="blank, label 0, blank, label 1, …, blank, then blanks past 2·label_lengths[n] + 1",
        mistakes={"leave the padding labels in place instead of blanks": padding_kept},
    )


@exercise("extend_labels")
def test_extend_labels_uses_the_blank_it_is_given(impl):
    labels = np.array([[0, 2], [1, 1]])
    call = run(impl.extend_labels, labels, np.array([2, 1]), 3)
    want = np.array([[3, 0, 3, 2, 3], [3, 1, 3, 3, 3]])
    expect_equal(
        call,
        want,
        what="with blank=3 (symbol 0 is then a label like any other)",
        mistakes={"use 0 as the blank whatever `blank` says": np.array([[0, 0, 0, 2, 0], [0, 1, 0, 0, 0]])},
    )


@exercise("extend_labels")
def test_extend_labels_of_empty_labels_is_one_blank(impl):
    call = run(impl.extend_labels, np.zeros((3, 0), dtype=np.int64), np.zeros(3, dtype=np.int64))
    expect_equal(call, np.zeros((3, 1), dtype=np.int64), what="labels (3, 0): each extended label is [blank]")


# ---------------------------------------------------------------------------- skip_allowed


@exercise("skip_allowed")
def test_skip_allowed_only_between_different_labels(impl):
    ext = np.array([[0, 3, 0, 1, 0, 1, 0, 2, 0], [0, 2, 0, 2, 0, 2, 0, 0, 0], [0, 1, 0, 2, 0, 1, 0, 0, 0]])
    want = np.zeros(ext.shape, dtype=bool)
    for n in range(3):
        for s in range(2, 9):
            want[n, s] = ext[n, s] != 0 and ext[n, s] != ext[n, s - 2]
    equal_too = np.zeros(ext.shape, dtype=bool)
    equal_too[:, 2:] = ext[:, 2:] != 0
    previous = np.zeros(ext.shape, dtype=bool)
    previous[:, 2:] = (ext[:, 2:] != 0) & (ext[:, 2:] != ext[:, 1:-1])
    call = run(impl.skip_allowed, ext)
    expect_equal(
        call,
        want,
        what="True where ext[s] is a label different from ext[s − 2]",
        mistakes={
            "allow the skip between two equal labels (which would merge them)": equal_too,
            "compare ext[s] with ext[s − 1] instead of ext[s − 2]": previous,
        },
    )


@exercise("skip_allowed")
def test_skip_allowed_uses_the_blank_it_is_given(impl):
    ext = np.array([[2, 0, 2, 1, 2, 1, 2]])
    call = run(impl.skip_allowed, ext, 2)
    expect_equal(call, np.array([[False, False, False, True, False, False, False]]), what="with blank=2")


@exercise("skip_allowed")
def test_skip_allowed_on_a_padded_batch(impl):
    g = rng(9)
    ext = np.zeros((6, 21), dtype=np.int64)
    ext[:, 1::2] = g.integers(1, 3, size=(6, 10))  # few symbols: many repeats
    ext[4, 13:] = 0  # a shorter label, blanks after it
    want = np.zeros(ext.shape, dtype=bool)
    for n in range(6):
        for s in range(2, 21):
            want[n, s] = bool(ext[n, s]) and ext[n, s] != ext[n, s - 2]
    expect_equal(run(impl.skip_allowed, ext), want, what="6 extended labels over 2 symbols")


# ------------------------------------------------------------------------------ logsumexp3


def _chain(a, b, c):
    return np.logaddexp(np.logaddexp(a, b), c)


@exercise("logsumexp3")
def test_logsumexp3_matches_log_of_the_sum(impl):
    g = rng(1)
    a, b, c = g.normal(size=(3, 4, 5)) * 3
    call = run_without_warnings(impl.logsumexp3, a, b, c)
    m = np.maximum(np.maximum(a, b), c)
    shifted = np.log(np.exp(a - m) + np.exp(b - m) + np.exp(c - m))
    expect_close(
        call,
        np.log(np.exp(a) + np.exp(b) + np.exp(c)),
        rtol=1e-12,
        mistakes={
            "forget to add m back after the shift": shifted,
            "subtract m instead of adding it": shifted - m,
        },
    )


@exercise("logsumexp3")
def test_logsumexp3_is_stable_and_handles_minus_infinity(impl):
    a = np.array([1000.0, -1000.0, -np.inf, -np.inf, 0.0, -np.inf])
    b = np.array([999.0, -1001.0, -np.inf, 2.0, -np.inf, -np.inf])
    c = np.array([-np.inf, -1000.0, -np.inf, -np.inf, -np.inf, 3.0])
    call = run_without_warnings(impl.logsumexp3, a, b, c)
    want = _chain(a, b, c)
    got = np.asarray(call.value)
    expect(
        got.shape == want.shape and not np.isnan(got).any(),
        f"{call} = {got}: nan where all three are −inf? With m = max(a, b, c) = −inf, a − m is "
        "−inf − (−inf) = nan: shift by a finite number there",
    )
    expect_close(call, want, rtol=1e-12, what="±1000 and −inf (probability 0), the last-but-one all −inf")


@exercise("logsumexp3")
def test_logsumexp3_keeps_float32(impl):
    a, b, c = (rng(2).normal(size=(3, 7)) * 50).astype(np.float32)
    c[:3] = -np.inf
    call = run_without_warnings(impl.logsumexp3, a, b, c)
    expect(
        np.asarray(call.value).dtype == np.float32,
        f"{call} returned {np.asarray(call.value).dtype}: keep float32",
    )
    expect_close(call, _chain(a.astype(float), b.astype(float), c.astype(float)), rtol=1e-6)


# ------------------------------------------------------------------------------- ctc_alpha


@exercise("ctc_alpha")
def test_ctc_alpha_matches_enumerating_every_path(impl):
    call = run_without_warnings(impl.ctc_alpha, TINY_LP, TINY_EXT, TINY_SKIP)
    (alpha,) = expect_parts(Call((call.value,), str(call)), ("log_alpha",), ((4, 5, 7),))
    for n in range(4):
        label = _tiny_label(n)
        S_n = 2 * len(label) + 1
        want = _brute_alpha(TINY_LP[n], label, S_n)
        lp, ext, skip = TINY_LP[n], TINY_EXT[n], TINY_SKIP[n]
        expect_close(
            Call(np.asarray(alpha)[n, :, :S_n], f"{call}[{n}, :, :{S_n}]"),
            want[:, :S_n],
            rtol=1e-9,
            what=f"log alpha of label {label}, by enumerating all 3^(t+1) paths (−inf: no path)",
            mistakes=_alpha_mistakes(lp, ext, skip, S_n),
        )


@exercise("ctc_alpha")
def test_ctc_alpha_stays_in_log_space_on_500_frames(impl):
    logits, labels, _, lengths = _long_batch(3)
    lp = _log_softmax(logits)
    ext, skip = _ext_and_skip(labels, lengths, 2 * labels.shape[1] + 1)
    call = run_without_warnings(impl.ctc_alpha, lp, ext, skip)
    want = _alpha_by_frames(lp[0], ext[0], skip[0])
    got = np.asarray(call.value)
    expect(got.shape == (2, 500, 13), f"{call} has shape {got.shape}, expected (N, T, S) = (2, 500, 13)")
    expect_close(
        Call(got[0, -1], f"{call}[0, -1]"),
        want[-1],
        rtol=1e-9,
        what="log alpha at frame 499: about −1100, far below float64's e^−745; stay in log space",
    )


@exercise("ctc_alpha")
def test_ctc_alpha_keeps_float32(impl):
    lp = TINY_LP.astype(np.float32)
    call = run_without_warnings(impl.ctc_alpha, lp, TINY_EXT, TINY_SKIP)
    got = np.asarray(call.value)
    expect(got.dtype == np.float32, f"{call} returned {got.dtype}: keep float32")
    want = np.stack([_loop_alpha(TINY_LP[n], TINY_EXT[n], TINY_SKIP[n]) for n in range(4)])
    expect_close(call, want, rtol=1e-5, atol=1e-5)


# -------------------------------------------------------------------------------- ctc_beta


@exercise("ctc_beta")
def test_ctc_beta_matches_enumerating_every_path(impl):
    S_lengths = 2 * TINY_LABEL_LENGTHS + 1
    call = run_without_warnings(impl.ctc_beta, TINY_LP, TINY_EXT, TINY_SKIP, TINY_INPUT_LENGTHS, S_lengths)
    (beta,) = expect_parts(Call((call.value,), str(call)), ("log_beta",), ((4, 5, 7),))
    for n in range(4):
        label, T_n, S_n = _tiny_label(n), int(TINY_INPUT_LENGTHS[n]), int(S_lengths[n])
        lp, ext, skip = TINY_LP[n], TINY_EXT[n], TINY_SKIP[n]
        want = _brute_beta(lp, label, 7, T_n)
        expect_close(
            Call(np.asarray(beta)[n], f"{call}[{n}]"),
            want,
            rtol=1e-9,
            what=f"log beta of label {label} over {T_n} real frames, by enumerating every continuation "
            "(−inf: none, and at every frame t ≥ T_n)",
            mistakes=_beta_mistakes(lp, ext, skip, T_n, S_n),
        )


@exercise("ctc_beta")
def test_ctc_beta_times_alpha_gives_the_likelihood_at_every_frame_of_500(impl):
    logits, labels, input_lengths, lengths = _long_batch(4)
    lp = _log_softmax(logits)
    S = 2 * labels.shape[1] + 1
    ext, skip = _ext_and_skip(labels, lengths, S)
    call = run_without_warnings(impl.ctc_beta, lp, ext, skip, input_lengths, 2 * lengths + 1)
    got = np.asarray(call.value)
    expect(got.shape == (2, 500, S), f"{call} has shape {got.shape}, expected (N, T, S) = (2, 500, {S})")
    for n in range(2):
        alpha = _alpha_by_frames(lp[n], ext[n], skip[n])
        T_n, S_n = int(input_lengths[n]), int(2 * lengths[n] + 1)
        log_p = np.logaddexp(alpha[T_n - 1, S_n - 1], alpha[T_n - 1, S_n - 2])
        total = np.logaddexp.reduce(alpha[:T_n] + got[n, :T_n], axis=1)
        expect_close(
            Call(total, f"logsumexp over s of (log alpha + {call}[{n}]), frames 0 … {T_n - 1}"),
            np.full(T_n, log_p),
            rtol=1e-9,
            what=f"log p(label) = {log_p:.1f} at every real frame: stay in log space",
        )
        expect(
            np.all(got[n, T_n:] == -np.inf),
            f"{call}[{n}, {T_n}:] should be −inf: frames at or past input_lengths[{n}] = {T_n} are padding",
        )


@exercise("ctc_beta")
def test_ctc_beta_keeps_float32(impl):
    lp = TINY_LP.astype(np.float32)
    S_lengths = 2 * TINY_LABEL_LENGTHS + 1
    call = run_without_warnings(impl.ctc_beta, lp, TINY_EXT, TINY_SKIP, TINY_INPUT_LENGTHS, S_lengths)
    got = np.asarray(call.value)
    expect(got.dtype == np.float32, f"{call} returned {got.dtype}: keep float32")
    want = np.stack(
        [
            _loop_beta(TINY_LP[n], TINY_EXT[n], TINY_SKIP[n], int(TINY_INPUT_LENGTHS[n]), int(S_lengths[n]))
            for n in range(4)
        ]
    )
    expect_close(call, want, rtol=1e-5, atol=1e-5)


# -------------------------------------------------------------------------------- ctc_loss


def _loss_from_alpha(lp, labels, input_lengths, label_lengths, end="both", frame=None):
    out = []
    for n in range(len(lp)):
        ext, skip = _ext_and_skip(labels[n : n + 1], label_lengths[n : n + 1], 2 * labels.shape[1] + 1)
        alpha = _alpha_by_frames(lp[n], ext[0], skip[0])
        t = (input_lengths[n] if frame is None else frame) - 1
        S_n = 2 * label_lengths[n] + 1
        terms = [alpha[t, S_n - 1]] + ([alpha[t, S_n - 2]] if S_n > 1 and end != "blank" else [])
        if S_n == 1 and end == "wrap":  # index S_n − 2 = −1: NumPy reads the last column
            terms.append(alpha[t, -1])
        out.append(-np.logaddexp.reduce(terms))
    return np.array(out)


def _loss_from_alpha_of_logits(logits, labels, input_lengths, label_lengths):
    return _loss_from_alpha(_log_softmax(logits), labels, input_lengths, label_lengths)


@exercise("ctc_loss")
def test_ctc_loss_matches_enumerating_every_path(impl):
    call = run_without_warnings(
        impl.ctc_loss, TINY_LOGITS, TINY_LABELS, TINY_INPUT_LENGTHS, TINY_LABEL_LENGTHS
    )
    want = np.array([-_brute_log_p(TINY_LP[n, : TINY_INPUT_LENGTHS[n]], _tiny_label(n)) for n in range(4)])
    across = np.array(
        [
            -_brute_log_p(TINY_LP[n, : TINY_INPUT_LENGTHS[n]], _tiny_label(n), _collapse_across_blanks)
            for n in range(4)
        ]
    )
    args = (TINY_LP, TINY_LABELS, TINY_INPUT_LENGTHS, TINY_LABEL_LENGTHS)
    expect_close(
        call,
        want,
        rtol=1e-9,
        what="−log p(label | x) per example, summing over every path that collapses to the label "
        "(labels [1, 2], [1, 1], [] and [2]; 5, 5, 4 and 3 frames)",
        mistakes={
            "merge repeats across a blank (drop the blanks first, then merge)": across,
            "end only on the blank after the last label": lambda: _loss_from_alpha(*args, end="blank"),
            "read every example at frame T − 1, ignoring input_lengths": lambda: _loss_from_alpha(
                *args, frame=5
            ),
            "return log p instead of −log p": -want,
            "average over the batch": np.full(4, want.mean()),
        },
    )


@exercise("ctc_loss")
def test_ctc_loss_with_another_blank(impl):
    # The same batch with symbols renamed: the blank is 2, and old symbol 2 is now 0.
    rename = np.array([2, 1, 0])
    logits = TINY_LOGITS[:, :, rename]
    call = run_without_warnings(
        impl.ctc_loss, logits, rename[TINY_LABELS], TINY_INPUT_LENGTHS, TINY_LABEL_LENGTHS, 2
    )
    want = np.array([-_brute_log_p(TINY_LP[n, : TINY_INPUT_LENGTHS[n]], _tiny_label(n)) for n in range(4)])
    expect_close(call, want, rtol=1e-9, what="with blank=2: the blank's logits are column 2")


@exercise("ctc_loss")
def test_ctc_loss_is_infinite_for_a_label_too_long_for_its_frames(impl):
    # [1, 1] needs 3 frames (a blank between the repeats); [1, 2, 1] needs 3.
    logits = rng(5).normal(size=(3, 4, 3))
    labels = np.array([[1, 1, 0], [1, 2, 1], [1, 2, 1]])
    call = run_without_warnings(impl.ctc_loss, logits, labels, np.array([2, 2, 3]), np.array([2, 3, 3]))
    got = np.asarray(call.value)
    want_last = -_brute_log_p(_log_softmax(logits[2, :3]), [1, 2, 1])
    expect(
        got.shape == (3,) and got[0] == np.inf and got[1] == np.inf,
        f"{call} = {got}: [1, 1] in 2 frames and [1, 2, 1] in 2 frames have no alignment, so p = 0 "
        "and the loss is +inf (without a warning)",
    )
    expect_close(Call(got[2], f"{call}[2]"), want_last, rtol=1e-9, what="[1, 2, 1] in 3 frames: one path")


@exercise("ctc_loss")
def test_ctc_loss_on_500_frames_and_float32(impl):
    logits, labels, input_lengths, lengths = _long_batch(6)
    call = run_without_warnings(impl.ctc_loss, logits, labels, input_lengths, lengths)
    want = _loss_from_alpha(_log_softmax(logits), labels, input_lengths, lengths)
    expect_close(
        call, want, rtol=1e-9, what="losses of about 1100 and 800 (p below e^−745): stay in log space"
    )
    call32 = run_without_warnings(impl.ctc_loss, logits.astype(np.float32), labels, input_lengths, lengths)
    got = np.asarray(call32.value)
    expect(got.dtype == np.float32, f"{call32} returned {got.dtype}: keep float32")
    expect_close(call32, want, rtol=1e-4, what="in float32")


@exercise("ctc_loss")
def test_ctc_loss_on_a_padded_batch(impl):
    # 5 examples of up to 12 frames over 6 symbols: a repeat, an empty label, padding in
    # both the frames and the labels (padded with symbol 5, a real symbol).
    g = rng(7)
    logits = g.normal(size=(5, 12, 6))
    labels = g.integers(1, 6, size=(5, 4))
    labels[0, 1] = labels[0, 0]
    labels[1, 3] = labels[2, 2:] = 5
    input_lengths, label_lengths = np.array([12, 10, 7, 12, 9]), np.array([4, 3, 2, 0, 4])
    call = run_without_warnings(impl.ctc_loss, logits, labels, input_lengths, label_lengths)
    lp = _log_softmax(logits)
    want = _loss_from_alpha(lp, labels, input_lengths, label_lengths)
    expect_close(
        call,
        want,
        rtol=1e-9,
        what="each example's −log p by a recursion written one example at a time "
        "(input_lengths [12, 10, 7, 12, 9], label_lengths [4, 3, 2, 0, 4])",
        mistakes={
            "read every example at frame T − 1, ignoring input_lengths": lambda: _loss_from_alpha(
                lp, labels, np.full(5, 12), label_lengths
            ),
            "use the padded labels as if every label had length L": lambda: _loss_from_alpha(
                lp, labels, input_lengths, np.full(5, 4)
            ),
            "read position S_n − 2 = −1 for the empty label (NumPy's last column)": lambda: _loss_from_alpha(
                lp, labels, input_lengths, label_lengths, end="wrap"
            ),
        },
    )


# ----------------------------------------------------------------------- ctc_loss_and_grad


def _numeric_grad(impl_loss, logits, *rest):
    grad = np.zeros_like(logits)
    eps = 1e-6
    for index in np.ndindex(logits.shape):
        up, down = logits.copy(), logits.copy()
        up[index] += eps
        down[index] -= eps
        grad[index] = (impl_loss(up, *rest).sum() - impl_loss(down, *rest).sum()) / (2 * eps)
    return grad


def _brute_losses(logits, labels, input_lengths, label_lengths):
    lp = _log_softmax(logits)
    return np.array(
        [
            -_brute_log_p(lp[n, : input_lengths[n]], list(labels[n, : label_lengths[n]]))
            for n in range(len(lp))
        ]
    )


@exercise("ctc_loss_and_grad")
def test_ctc_grad_matches_central_differences(impl):
    logits = TINY_LOGITS[:, :4]
    input_lengths = np.array([4, 4, 3, 2])
    call = run_without_warnings(
        impl.ctc_loss_and_grad, logits, TINY_LABELS, input_lengths, TINY_LABEL_LENGTHS
    )
    losses, grad = expect_parts(call, ("losses", "grad"), ((4,), (4, 4, 3)))
    want_losses = _brute_losses(logits, TINY_LABELS, input_lengths, TINY_LABEL_LENGTHS)
    expect_close(Call(losses, f"{call}[0], losses"), want_losses, rtol=1e-9, what="−log p per example")
    want = _numeric_grad(_brute_losses, logits, TINY_LABELS, input_lengths, TINY_LABEL_LENGTHS)
    softmax = np.exp(_log_softmax(logits))
    padded = np.arange(4)[None, :, None] >= input_lengths[:, None, None]
    expect_close(
        Call(grad, f"{call}[1], grad"),
        want,
        rtol=1e-5,
        atol=1e-7,
        what="d(sum of losses)/d logits, by central differences of the enumerated loss",
        mistakes={
            "leave out the softmax term p_t[k]": lambda: want - np.where(padded, 0.0, softmax),
            "leave the padded frames' gradient at p_t instead of 0": lambda: np.where(padded, softmax, want),
            "return the gradient of the mean loss instead of the sum": want / 4,
            "forget to divide alpha·beta by p(labels | x) in gamma": lambda: np.where(
                padded, 0.0, softmax - np.exp(-want_losses)[:, None, None] * (softmax - want)
            ),
            "flip the sign": -want,
        },
    )


def _directional(loss, logits, directions, eps=1e-6):
    """(loss(logits + eps·v) − loss(logits − eps·v)) / 2eps for each direction v: the
    central difference of the summed loss along v, which equals Σ grad·v."""
    return np.array(
        [(loss(logits + eps * v).sum() - loss(logits - eps * v).sum()) / (2 * eps) for v in directions]
    )


@exercise("ctc_loss_and_grad")
def test_ctc_grad_on_a_padded_batch_and_keeps_float32(impl):
    g = rng(8)
    logits = g.normal(size=(4, 30, 6)) * 2
    labels = g.integers(1, 6, size=(4, 6))
    labels[0, 2] = labels[0, 1]
    input_lengths, label_lengths = np.array([30, 22, 17, 30]), np.array([6, 4, 5, 0])
    call = run_without_warnings(impl.ctc_loss_and_grad, logits, labels, input_lengths, label_lengths)
    losses, grad = expect_parts(call, ("losses", "grad"), ((4,), (4, 30, 6)))
    grad = np.asarray(grad)
    real = np.arange(30)[None, :] < input_lengths[:, None]
    expect_close(
        Call(grad.sum(axis=-1)[real], f"{call}[1].sum(axis=-1) on the real frames"),
        np.zeros(int(real.sum())),
        atol=1e-9,
        what="each real frame's gradient sums to 0 over the symbols (softmax minus a distribution)",
    )
    expect(
        np.all(grad[~real] == 0),
        f"{call}[1] is not 0 on the padded frames (t ≥ input_lengths[n]): they are not part of the loss",
    )
    # Along 6 random directions v (the first one only on example 0, the second only on
    # example 2, whose frames 17 … 29 are padding), the central difference of the loss
    # written in this file against Σ grad·v.
    directions = g.normal(size=(6, 4, 30, 6))
    directions[0, 1:] = 0
    directions[1, [0, 1, 3]] = 0
    loss = functools.partial(
        _loss_from_alpha_of_logits, labels=labels, input_lengths=input_lengths, label_lengths=label_lengths
    )
    want = _directional(loss, logits, directions)
    expect_close(
        Call((grad * directions).sum(axis=(1, 2, 3)), f"Σ {call}[1]·v for 6 random directions v"),
        want,
        rtol=1e-6,
        atol=1e-6,
        what="central differences of the sum of losses along each v (a batch with per-example "
        "input lengths [30, 22, 17, 30] and label lengths [6, 4, 5, 0])",
    )
    call32 = run_without_warnings(
        impl.ctc_loss_and_grad, logits.astype(np.float32), labels, input_lengths, label_lengths
    )
    losses32, grad32 = expect_parts(call32, ("losses", "grad"), ((4,), (4, 30, 6)))
    expect(
        np.asarray(losses32).dtype == np.float32 and np.asarray(grad32).dtype == np.float32,
        f"{call32} returned {np.asarray(losses32).dtype} and {np.asarray(grad32).dtype}: keep float32",
    )
    expect_close(Call(losses32, f"{call32}[0]"), np.asarray(losses), rtol=1e-4, what="in float32")
    expect_close(Call(grad32, f"{call32}[1]"), grad, atol=1e-4, what="in float32")
