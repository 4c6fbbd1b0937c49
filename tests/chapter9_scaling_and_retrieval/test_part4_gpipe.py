"""Tests for chapter 9, part 4: GPipe's micro-batch schedule simulated tick by tick, its
bubble measured and in closed form, and the activation memory of each stage with and
without re-materialisation.

Expected values come from this file: GPipe's table written out from the tick of each task
(forward of m on stage k at tick m + k; backward at M + K − 1 + (M − 1 − m) + (K − 1 − k)),
a checker of the schedule's rules (every task once, each after what it needs), the bubble
counted from tables for K = 1 … 6 and M = 1 … 10 against (K − 1)/(M + K − 1), and memory
counted with Python loops over ticks and micro-batches, on GPipe's table and on a hand-made
one-forward-one-backward table.
"""

import numpy as np

from grader.testkit import Call, exercise, expect, expect_close, expect_equal, run


def _table(K, M, backward_order="last first", same_tick=False):
    T = 2 * (M + K - 1)
    ops = np.zeros((T, K), dtype=np.int64)
    for m in range(M):
        for k in range(K):
            ops[m if same_tick else m + k, k] = m + 1
            rank = M - 1 - m if backward_order == "last first" else m
            t = M + rank if same_tick else M + K - 1 + rank + (K - 1 - k)
            ops[t, k] = -(m + 1)
    return ops


def _rule_breaks(ops, K, M):
    """The first rule of the schedule that ops breaks, or ''."""
    if ops.shape != (2 * (M + K - 1), K):
        return f"shape {ops.shape}, expected (2(M + K − 1), K) = {(2 * (M + K - 1), K)}"
    when = {}
    for t, k in zip(*np.nonzero(ops)):
        op = int(ops[t, k])
        key = ("F" if op > 0 else "B", abs(op) - 1, int(k))
        if key in when or not 0 <= key[1] < M:
            return f"task {key[0]}{key[1]} on stage {k} appears twice or is not a micro-batch of 0 … M−1"
        when[key] = int(t)
    for m in range(M):
        for k in range(K):
            for kind in "FB":
                if (kind, m, k) not in when:
                    return f"{kind}{m} never runs on stage {k}"
            t_f, t_b = when[("F", m, k)], when[("B", m, k)]
            if k > 0 and t_f <= when[("F", m, k - 1)]:
                return f"F{m} runs on stage {k} at tick {t_f}, not after it finished on stage {k - 1}"
            need = when[("F", m, k)] if k == K - 1 else when[("B", m, k + 1)]
            if t_b <= need:
                return f"B{m} runs on stage {k} at tick {t_b} before what it needs is done (tick {need})"
    return ""


# ------------------------------------------------------------------------ gpipe_schedule


@exercise("gpipe_schedule")
def test_gpipe_schedule_is_gpipes_table(impl):
    for K, M in [(3, 4), (4, 2), (1, 3), (2, 1)]:
        expect_equal(
            run(impl.gpipe_schedule, K, M),
            _table(K, M),
            what=f"K = {K}, M = {M} (ops[t, k]: m + 1 forward, −(m + 1) backward, 0 idle)",
            mistakes={
                "run the backwards in the order 0, 1, …, M−1 instead of the last micro-batch first": _table(
                    K, M, backward_order="first first"
                ),
                "let a stage use a result in the same tick it was made": _table(K, M, same_tick=True),
            },
        )


@exercise("gpipe_schedule")
def test_gpipe_schedule_keeps_the_rules(impl):
    for K in range(1, 6):
        for M in range(1, 7):
            ops = run(impl.gpipe_schedule, K, M).value
            expect(
                isinstance(ops, np.ndarray) and ops.dtype.kind == "i",
                f"gpipe_schedule({K}, {M}) returned {type(ops).__name__}; expected an int64 array",
            )
            broken = _rule_breaks(ops, K, M)
            expect(not broken, f"gpipe_schedule(K={K}, M={M}): {broken}")


@exercise("gpipe_schedule")
def test_gpipe_schedule_bubble_is_the_closed_form(impl):
    for K in range(1, 7):
        for M in range(1, 11):
            ops = run(impl.gpipe_schedule, K, M).value
            expect(
                isinstance(ops, np.ndarray) and ops.ndim == 2 and ops.shape[1] == K,
                f"gpipe_schedule({K}, {M}): expected an array of shape (T, K = {K})",
            )
            idle = np.count_nonzero(ops == 0) / ops.size
            expect(
                abs(idle - (K - 1) / (M + K - 1)) < 1e-12,
                f"gpipe_schedule(K={K}, M={M}) is idle {idle:.4f} of the time; GPipe's bubble is "
                f"(K − 1)/(M + K − 1) = {(K - 1) / (M + K - 1):.4f}",
            )


# ----------------------------------------------------------------------- bubble_fraction


@exercise("bubble_fraction")
def test_bubble_fraction_of_gpipe_tables(impl):
    for K, M in [(4, 4), (2, 8), (6, 3)]:
        ops = _table(K, M)
        expect_close(
            run(impl.bubble_fraction, ops),
            (K - 1) / (M + K - 1),
            rtol=1e-12,
            what=f"idle stage-ticks over all T · K, K = {K}, M = {M}",
            mistakes={
                "count the busy stage-ticks instead of the idle ones": M / (M + K - 1),
                "divide the idle count by T instead of T · K": np.count_nonzero(ops == 0) / len(ops),
            },
        )


@exercise("bubble_fraction")
def test_bubble_fraction_measures_any_schedule(impl):
    ops = np.array([[1, 0, 0], [2, 1, 0], [0, 2, 1], [-1, 0, 2], [0, -1, -1], [-2, -2, -2]])
    expect_close(
        run(impl.bubble_fraction, ops),
        6 / 18,
        rtol=1e-12,
        what="6 of the 18 entries are idle",
        mistakes={"use GPipe's formula instead of measuring": 2 / 4},
    )


@exercise("bubble_fraction")
def test_bubble_fraction_returns_a_float(impl):
    value = run(impl.bubble_fraction, np.zeros((4, 2), dtype=np.int64)).value
    expect(
        isinstance(value, (float, np.floating)) and value == 1.0,
        f"bubble_fraction(zeros((4, 2))) returned {value!r}; expected the float 1.0 (all idle)",
    )


# ------------------------------------------------------------------------ bubble_formula


def _off_by_one(K, M):
    return {
        "count K stages of bubble instead of K − 1: K/(M + K)": K / (M + K),
        "count K stages in the numerator: K/(M + K − 1)": K / (M + K - 1),
        "leave the − 1 out of the denominator: (K − 1)/(M + K)": (K - 1) / (M + K),
    }


@exercise("bubble_formula")
def test_bubble_formula(impl):
    for K, M in [(4, 4), (2, 1), (8, 32), (3, 7)]:
        expect_close(
            run(impl.bubble_formula, K, M),
            (K - 1) / (M + K - 1),
            rtol=1e-12,
            mistakes=_off_by_one(K, M),
        )


@exercise("bubble_formula")
def test_bubble_formula_one_stage_has_no_bubble(impl):
    expect_close(
        run(impl.bubble_formula, 1, 5),
        0.0,
        atol=1e-15,
        what="one stage never waits for another",
        mistakes=_off_by_one(1, 5),
    )


@exercise("bubble_formula")
def test_bubble_formula_shrinks_with_more_micro_batches(impl):
    values = [float(impl.bubble_formula(4, M)) for M in (1, 3, 12, 96)]
    expect_close(
        Call(np.array(values), "bubble_formula(4, M) for M = 1, 3, 12, 96"),
        np.array([3 / 4, 3 / 6, 3 / 15, 3 / 99]),
        rtol=1e-12,
        mistakes={"count K stages of bubble instead of K − 1": np.array([4 / 5, 4 / 7, 4 / 16, 4 / 100])},
    )


# --------------------------------------------------------------------- activation_memory


def _memory(ops, L, remat, hold_during_backward=True, recompute=True):
    T, K = ops.shape
    mem = np.zeros((T, K), dtype=np.int64)
    for k in range(K):
        f_at = {int(ops[t, k]) - 1: t for t in range(T) if ops[t, k] > 0}
        b_at = {-int(ops[t, k]) - 1: t for t in range(T) if ops[t, k] < 0}
        for t in range(T):
            n = 0
            for m, tf in f_at.items():
                tb = b_at.get(m, T)
                if tf <= t and (t <= tb if hold_during_backward else t < tb):
                    n += 1
            mem[t, k] = n * (1 if remat else L) + (L if remat and recompute and ops[t, k] < 0 else 0)
    return mem


ONE_F_ONE_B = np.array(  # two stages, three micro-batches, one forward then one backward
    [[1, 0], [2, 1], [0, -1], [-1, 2], [3, -2], [-2, 3], [0, -3], [-3, 0]]
)


def _memory_mistakes(ops, L, remat):
    return {
        "free a micro-batch's activations before its backward's tick (the backward reads them)": _memory(
            ops, L, remat, hold_during_backward=False
        ),
        "forget the layers recomputed during a backward": _memory(ops, L, remat, recompute=False),
        "swap the two cases (re-materialise when told not to)": _memory(ops, L, not remat),
    }


@exercise("activation_memory")
def test_activation_memory_of_gpipe_without_rematerialisation(impl):
    ops = _table(3, 4)
    expect_equal(
        run(impl.activation_memory, ops, 5, False),
        _memory(ops, 5, False),
        what="5 units for each micro-batch in flight (from its forward to its backward, both included)",
        mistakes=_memory_mistakes(ops, 5, False),
    )


@exercise("activation_memory")
def test_activation_memory_of_gpipe_with_rematerialisation(impl):
    ops = _table(3, 4)
    expect_equal(
        run(impl.activation_memory, ops, 5, True),
        _memory(ops, 5, True),
        what="1 unit for each micro-batch in flight, plus 5 during a backward's tick",
        mistakes=_memory_mistakes(ops, 5, True),
    )


@exercise("activation_memory")
def test_activation_memory_of_any_schedule(impl):
    for remat in (False, True):
        expect_equal(
            run(impl.activation_memory, ONE_F_ONE_B, 3, remat),
            _memory(ONE_F_ONE_B, 3, remat),
            what=f"a one-forward-one-backward schedule, rematerialise={remat}",
            mistakes=_memory_mistakes(ONE_F_ONE_B, 3, remat),
        )


@exercise("activation_memory")
def test_activation_memory_peaks(impl):
    for K, M, L in [(4, 8, 6), (2, 3, 10)]:
        ops = _table(K, M)
        for remat, peak in ((False, M * L), (True, M + L)):
            got = run(impl.activation_memory, ops, L, remat).value
            expect_equal(
                Call(
                    np.asarray(got).max(axis=0),
                    f"activation_memory(GPipe K={K} M={M}, {L}, {remat}).max(axis=0)",
                ),
                np.full(K, peak, dtype=np.int64),
                what="each stage's peak: M · layers without, M + layers with re-materialisation",
            )


# ------------------------------------------------------------------ one_f_one_b_schedule


def _earliest_ticks(K, M, warm_up_of=lambda K, M, k: min(M, K - k)):
    """1F1B by earliest start times: each task at the first tick after both the previous task
    of its stage and the task it needs; repeated until nothing moves."""
    lists = []
    for k in range(K):
        w = warm_up_of(K, M, k)
        forwards, backwards = [("F", m) for m in range(M)], [("B", m) for m in range(M)]
        order = forwards[:w]
        for m in range(M):
            order += [backwards[m]] + ([forwards[w + m]] if w + m < M else [])
        lists.append(order)
    tick = {(kind, m, k): 0 for k in range(K) for kind, m in lists[k]}
    moved = True
    while moved:
        moved = False
        for k in range(K):
            for i, (kind, m) in enumerate(lists[k]):
                after = [tick[(*lists[k][i - 1], k)]] if i else []
                if kind == "F" and k > 0:
                    after.append(tick[("F", m, k - 1)])
                if kind == "B":
                    after.append(tick[("F", m, k)] if k == K - 1 else tick[("B", m, k + 1)])
                start = max(after, default=-1) + 1
                if start != tick[(kind, m, k)]:
                    tick[(kind, m, k)], moved = start, True
    ops = np.zeros((max(tick.values()) + 1, K), dtype=np.int64)
    for (kind, m, k), t in tick.items():
        ops[t, k] = m + 1 if kind == "F" else -(m + 1)
    return ops


@exercise("one_f_one_b_schedule")
def test_one_f_one_b_schedule_table(impl):
    for K, M in [(4, 6), (3, 2), (1, 3), (2, 5)]:
        want = _earliest_ticks(K, M)
        mistakes = {"run GPipe's order (all forwards, then all backwards)": _table(K, M)}
        wrong_warm_up = _earliest_ticks(K, M, lambda K, M, k: min(M, K))
        if wrong_warm_up.shape == want.shape:
            mistakes["warm up with min(M, K) forwards on every stage"] = wrong_warm_up
        expect_equal(
            run(impl.one_f_one_b_schedule, K, M),
            want,
            what=f"K = {K}, M = {M}: warm-up of min(M, K − k) forwards, then B, F, B, F, …",
            mistakes=mistakes,
        )


@exercise("one_f_one_b_schedule")
def test_one_f_one_b_schedule_keeps_the_rules_and_gpipes_bubble(impl):
    for K in range(1, 6):
        for M in range(1, 8):
            ops = run(impl.one_f_one_b_schedule, K, M).value
            expect(
                isinstance(ops, np.ndarray) and ops.dtype.kind == "i",
                f"one_f_one_b_schedule({K}, {M}) returned {type(ops).__name__}; expected an int64 array",
            )
            broken = _rule_breaks(ops, K, M)
            expect(not broken, f"one_f_one_b_schedule(K={K}, M={M}): {broken}")
            idle = np.count_nonzero(ops == 0) / ops.size
            expect(
                abs(idle - (K - 1) / (M + K - 1)) < 1e-12,
                f"one_f_one_b_schedule(K={K}, M={M}) is idle {idle:.4f} of the time; expected GPipe's "
                f"bubble (K − 1)/(M + K − 1) = {(K - 1) / (M + K - 1):.4f}",
            )


@exercise("one_f_one_b_schedule")
def test_one_f_one_b_schedule_holds_fewer_activations(impl):
    for K, M in [(4, 8), (3, 2)]:
        ops = np.asarray(run(impl.one_f_one_b_schedule, K, M).value)
        expect(
            ops.ndim == 2 and ops.shape[1] == K, f"one_f_one_b_schedule({K}, {M}): expected shape (T, {K})"
        )
        peak = _memory(ops, 1, False).max(axis=0)
        expect_equal(
            Call(
                peak, f"micro-batches in flight at the peak of each stage of one_f_one_b_schedule({K}, {M})"
            ),
            np.minimum(M, K - np.arange(K)).astype(np.int64),
            what="stage k holds at most min(M, K − k) micro-batches (GPipe holds M)",
            mistakes={"run GPipe's order (all forwards, then all backwards)": np.full(K, M, dtype=np.int64)},
        )
