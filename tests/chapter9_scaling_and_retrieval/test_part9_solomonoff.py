"""Tests for chapter 9, part 9: a toy Solomonoff predictor over repeat-a-pattern programs
with the 2^(−code length) prior.

Expected values come from this file: the program space written out by hand for short
patterns and with itertools.product for longer ones, outputs by Python loops, posteriors
and predictions worked out by hand on the six programs of max_len 2 (fractions such as
5/6), the same with Python's exact fractions on larger spaces, and Solomonoff's bound: the
predictor's total log loss on a sequence that a program of ℓ bits prints is at most ℓ bits.
"""

import itertools
from fractions import Fraction

import numpy as np

from grader.testkit import Call, exercise, expect, expect_close, expect_equal, rng, run


def _space(max_len):
    patterns = ["".join(bits) for n in range(1, max_len + 1) for bits in itertools.product("01", repeat=n)]
    return patterns, np.array([2 * len(p) for p in patterns], dtype=np.int64)


def _outputs(patterns, n):
    return np.array([[int(p[t % len(p)]) for t in range(n)] for p in patterns], dtype=np.int64)


def _exact_posterior(lengths, outputs, observed):
    w = [
        Fraction(1, 2 ** int(ell)) if list(row[: len(observed)]) == list(observed) else Fraction(0)
        for ell, row in zip(lengths, outputs)
    ]
    total = sum(w)
    return [x / total for x in w]


SMALL, SMALL_LENGTHS = ["0", "1", "00", "01", "10", "11"], np.array([2, 2, 4, 4, 4, 4])
SMALL_OUT = np.array([[0, 0, 0], [1, 1, 1], [0, 0, 0], [0, 1, 0], [1, 0, 1], [1, 1, 1]])


# -------------------------------------------------------------------- enumerate_programs


@exercise("enumerate_programs")
def test_enumerate_programs_small(impl):
    call = run(impl.enumerate_programs, 2)
    expect(
        isinstance(call.value, tuple) and len(call.value) == 2, f"{call}: expected (patterns, code_lengths)"
    )
    patterns, lengths = call.value
    expect(
        list(patterns) == SMALL,
        f"{call}[0] = {list(patterns)}; expected {SMALL} (by length, then in binary counting order)",
    )
    expect_equal(
        Call(np.asarray(lengths), f"{call}[1], code_lengths"),
        SMALL_LENGTHS,
        what="2n bits: n in unary, then the n bits",
        mistakes={"use the pattern's length n, not the code length 2n": SMALL_LENGTHS // 2},
    )


@exercise("enumerate_programs")
def test_enumerate_programs_counts_and_kraft(impl):
    for max_len in (1, 4, 7):
        patterns, lengths = impl.enumerate_programs(max_len)
        want_patterns, want_lengths = _space(max_len)
        expect(
            list(patterns) == want_patterns,
            f"enumerate_programs({max_len}) gave {len(patterns)} patterns; expected the "
            f"{len(want_patterns)} = 2^{max_len + 1} − 2 patterns of 1 … {max_len} bits in order",
        )
        expect_equal(Call(np.asarray(lengths), f"enumerate_programs({max_len})[1]"), want_lengths)
        kraft = float((2.0 ** -np.asarray(lengths, dtype=float)).sum())
        expect(
            abs(kraft - (1 - 2.0**-max_len)) < 1e-12,
            f"enumerate_programs({max_len}): Σ 2^(−code length) = {kraft}; a prefix-free code gives "
            f"1 − 2^−{max_len}",
        )


@exercise("enumerate_programs")
def test_enumerate_programs_keeps_leading_zeros(impl):
    patterns, _ = impl.enumerate_programs(3)
    expect(
        "001" in patterns and "000" in patterns and patterns.index("001") == 2 + 4 + 1,
        f"enumerate_programs(3) = {list(patterns)}: '001' must be there, at index 7 "
        "(patterns keep their leading zeros: format(value, '03b'))",
    )


# ----------------------------------------------------------------------- program_outputs


@exercise("program_outputs")
def test_program_outputs_small(impl):
    expect_equal(
        run(impl.program_outputs, SMALL, 3),
        SMALL_OUT,
        what="each pattern repeated and cut to 3 bits",
        mistakes={
            "pad a pattern with zeros instead of repeating it": np.array(
                [[0, 0, 0], [1, 0, 0]] + [[int(p[0]), int(p[1]), 0] for p in SMALL[2:]]
            )
        },
    )


@exercise("program_outputs")
def test_program_outputs_longer_and_shorter_than_patterns(impl):
    patterns, _ = _space(4)
    for n in (2, 11):
        expect_equal(run(impl.program_outputs, patterns, n), _outputs(patterns, n), what=f"n = {n} bits")


@exercise("program_outputs")
def test_program_outputs_period(impl):
    out = np.asarray(run(impl.program_outputs, ["110"], 8).value)
    expect_equal(
        Call(out, "program_outputs(['110'], 8)"),
        np.array([[1, 1, 0, 1, 1, 0, 1, 1]]),
        mistakes={"repeat the pattern reversed": np.array([[0, 1, 1, 0, 1, 1, 0, 1]])},
    )


# ----------------------------------------------------------------------------- posterior


@exercise("posterior")
def test_posterior_small(impl):
    want = np.array([0, 4, 0, 0, 1, 1]) / 6  # '1' (2 bits), '10' and '11' (4 bits) print a 1 first
    uniform = np.array([0, 1, 0, 0, 1, 1]) / 3
    expect_close(
        run(impl.posterior, SMALL_LENGTHS, SMALL_OUT, np.array([1])),
        want,
        rtol=1e-9,
        what="weights 1/4, 1/16, 1/16 of the consistent programs, normalised",
        mistakes={
            "forget to normalise": np.array([0, 4, 0, 0, 1, 1]) / 16,
            "forget to divide by the sum of the weights": np.array([0, 4, 0, 0, 1, 1]) / 4,
            "weight by the code length instead of 2^(−code length)": np.array([0, 2, 0, 0, 4, 4]) / 10,
            "keep the programs that disagree with the data": np.array([1, 1, 1 / 4, 1 / 4, 1 / 4, 1 / 4]) / 3,
            "weigh every consistent program alike (forget the prior 2^(−code length))": uniform,
        },
    )
    expect_close(
        run(impl.posterior, SMALL_LENGTHS, SMALL_OUT, np.array([], dtype=np.int64)),
        np.array([4, 4, 1, 1, 1, 1]) / 12,
        rtol=1e-9,
        what="nothing seen: the prior, normalised",
    )


@exercise("posterior")
def test_posterior_exact_on_a_larger_space(impl):
    patterns, lengths = _space(5)
    outputs = _outputs(patterns, 12)
    for observed in ([0, 1], [1, 1, 0, 1, 1], [0, 0, 1, 0, 0, 1, 0]):
        want = np.array([float(x) for x in _exact_posterior(lengths, outputs, observed)])
        expect_close(
            run(impl.posterior, lengths, outputs, np.array(observed)),
            want,
            rtol=1e-9,
            atol=0,
            what=f"observed {''.join(map(str, observed))}",
        )


@exercise("posterior")
def test_posterior_with_long_codes_does_not_underflow(impl):
    lengths = SMALL_LENGTHS + 2000  # 2.0**-2002 is 0 in float64
    expect_close(
        run(impl.posterior, lengths, SMALL_OUT, np.array([1, 0])),
        np.array([0.0, 0, 0, 0, 1, 0]),
        rtol=1e-9,
        what="code lengths 2002 and 2004 bits: only '10' prints 1, 0",
    )
    expect_close(
        run(impl.posterior, lengths, SMALL_OUT, np.array([1])),
        np.array([0, 4, 0, 0, 1, 1]) / 6,
        rtol=1e-9,
        what="2^(−2002) : 2^(−2004) is still 4 : 1 (normalise in the exponent)",
    )
    spread = np.array([2, 2, 4, 4, 4, 2000])  # '11' made 1,996 bits longer than '1': 2^1996 overflows
    expect_close(
        run(impl.posterior, spread, SMALL_OUT, np.array([1])),
        np.array([0, 4, 0, 0, 1, 0]) / 5,
        rtol=1e-9,
        atol=1e-300,
        what="code lengths 2, 4 and 2000 among the consistent programs: subtract the smallest one",
    )
    long_consistent = np.array([2, 2000, 4, 4, 2000, 2002])  # '0' (2 bits) disagrees with a first 1
    expect_close(
        run(impl.posterior, long_consistent, SMALL_OUT, np.array([1])),
        np.array([0, 4, 0, 0, 4, 1]) / 9,
        rtol=1e-9,
        what="the consistent programs have 2000, 2000 and 2002 bits, the inconsistent '0' only 2: "
        "subtract the smallest code length among the consistent programs, not among all "
        "(2^(2 − 2000) underflows to 0 and leaves 0 / 0)",
    )
    try:
        impl.posterior(SMALL_LENGTHS, SMALL_OUT, np.array([1, 1, 0]))
    except ValueError:
        return
    raise AssertionError(
        "posterior(..., observed=[1, 1, 0]): no program of max_len 2 prints 110; expected ValueError"
    )


# -------------------------------------------------------------------------- predict_next


@exercise("predict_next")
def test_predict_next_small(impl):
    cases = [([1], 5 / 6), ([], 0.5), ([0], 1 / 6), ([0, 1], 0.0), ([1, 1], 1.0)]
    for observed, want in cases:
        obs = np.array(observed, dtype=np.int64)
        expect_close(
            run(impl.predict_next, SMALL_LENGTHS, SMALL_OUT, obs),
            want,
            rtol=1e-9,
            atol=1e-12,
            what=f"after {''.join(map(str, observed)) or '()'}: weight of the programs whose next bit is 1",
            mistakes={
                "vote with the prior instead of the posterior": float(
                    np.array([4, 4, 1, 1, 1, 1]) @ SMALL_OUT[:, len(observed)] / 12
                ),
                "read the last bit seen instead of the next one": lambda obs=obs: float(
                    np.array([float(x) for x in _exact_posterior(SMALL_LENGTHS, SMALL_OUT, obs)])
                    @ SMALL_OUT[:, len(obs) - 1]
                ),
            },
        )


@exercise("predict_next")
def test_predict_next_exact_on_a_larger_space(impl):
    patterns, lengths = _space(6)
    outputs = _outputs(patterns, 20)
    g = rng(0)
    for _ in range(5):
        seq = _outputs([patterns[int(g.integers(len(patterns)))]], 12)[0]
        t = int(g.integers(0, 12))
        post = _exact_posterior(lengths, outputs, list(seq[:t]))
        want = float(sum(w for w, row in zip(post, outputs) if row[t] == 1))
        expect_close(run(impl.predict_next, lengths, outputs, seq[:t]), want, rtol=1e-9, atol=1e-12)


@exercise("predict_next")
def test_predict_next_returns_a_float(impl):
    value = impl.predict_next(SMALL_LENGTHS, SMALL_OUT, np.array([1]))
    expect(
        isinstance(value, (float, np.floating)) and not isinstance(value, np.ndarray),
        f"predict_next(...) returned {type(value).__name__}; expected a float",
    )


# --------------------------------------------------------------------------- predictions


def _slow_predictions(seq, max_len):
    patterns, lengths = _space(max_len)
    outputs = _outputs(patterns, len(seq))
    out = []
    for t in range(len(seq)):
        post = _exact_posterior(lengths, outputs, list(seq[:t]))
        out.append(float(sum(w for w, row in zip(post, outputs) if row[t] == 1)))
    return np.array(out)


@exercise("predictions")
def test_predictions_along_a_sequence(impl):
    seq = np.array([1, 0, 1, 1, 0, 1, 1, 0, 1])
    want = _slow_predictions(seq, 3)
    expect_close(
        run(impl.predictions, seq, 3),
        want,
        rtol=1e-9,
        atol=1e-12,
        what="entry t: P(sequence[t] = 1 | sequence[:t])",
        mistakes={
            "let entry t see sequence[t] itself (one step ahead of the data)": np.append(want[1:], 0.0),
            "give the probability of the bit that came, not of a 1": np.where(seq == 1, want, 1 - want),
        },
    )


@exercise("predictions")
def test_predictions_obey_solomonoffs_bound(impl):
    # Total log loss = −log2 M(x) ≤ ℓ(p) − log2 of nothing (Σ 2^−ℓ ≤ 1): at most 2n bits for
    # a sequence that an n-bit pattern prints.
    for pattern in ("0110", "11100", "1011001"):
        seq = np.array([int(pattern[t % len(pattern)]) for t in range(30)])
        p1 = np.asarray(run(impl.predictions, seq, 7).value)
        loss = float(-np.log2(np.where(seq == 1, p1, 1 - p1)).sum())
        expect(
            loss <= 2 * len(pattern) + 1e-9,
            f"predictions on {pattern} repeated (30 bits): total log loss {loss:.3f} bits; Solomonoff's "
            f"bound is the code length of the pattern, {2 * len(pattern)} bits",
        )


@exercise("predictions")
def test_predictions_converge(impl):
    seq = np.array([int("1110010"[t % 7]) for t in range(28)])
    p1 = np.asarray(run(impl.predictions, seq, 8).value)
    right = np.where(seq == 1, p1, 1 - p1)
    expect(
        right[14:].min() > 0.99,
        f"predictions on 1110010 repeated: after two periods the right bit should get more than 0.99; "
        f"got {np.round(right[14:], 4)}",
    )
