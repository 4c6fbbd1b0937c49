"""Tests for chapter 5, part 6: greedy decoding, temperature, top-k and top-p filtering,
sampling with a seeded generator, and beam search with a length-normalised score.

Expected values come from this file: a softmax through logsumexp, filters written as loops
over Python-sorted (probability, id) pairs, samplers that draw with np.searchsorted, and a
beam search that sorts Python tuples. Models are plain functions of the whole sequence so
far: their logits come from a generator seeded with every id of the sequence, so a decoder
that passes the wrong sequence gets other logits. Exact cases use probabilities that are
sums of powers of two (exact in floating point), so "the total reaches p" has one answer.
Sizes are never square: N, V and the lengths all differ.
"""

import math

import numpy as np
import pytest

from grader.testkit import Call, exercise, expect, expect_close, expect_equal, rng, run, run_without_warnings


def _of(call, value):
    return Call(value, str(call))


def _softmax(z):
    lse = np.logaddexp.reduce(z, axis=-1, keepdims=True)
    return np.exp(z - lse)


def _log_softmax(z):
    return z - np.logaddexp.reduce(z, axis=-1, keepdims=True)


class _Model:
    """next_logits of a model that reads the whole sequence: logits drawn from a generator
    seeded with (seed, *ids). Records every sequence it is called with."""

    def __init__(self, V, seed, scale=1.5):
        self.V, self.seed, self.scale, self.calls = V, seed, scale, []

    def __call__(self, ids):
        self.calls.append(np.array(ids))
        return self.scale * np.random.default_rng([self.seed, *[int(i) for i in ids]]).normal(size=self.V)


class _Table:
    """next_logits from a table of probabilities keyed by the tokens after the prefix;
    sequences not in the table get `default`."""

    def __init__(self, prefix_len, table, default):
        self.prefix_len, self.table, self.default = prefix_len, table, np.asarray(default, dtype=float)

    def __call__(self, ids):
        return np.log(np.asarray(self.table.get(tuple(int(i) for i in ids[self.prefix_len :]), self.default)))


def _greedy(model, prefix, n, eos=None, last_only=False, prefix_only=False):
    seq, out = list(prefix), []
    for _ in range(n):
        ids = np.array(seq[-1:] if last_only else list(prefix) if prefix_only else seq)
        token = int(np.argmax(model(ids)))
        out.append(token)
        seq.append(token)
        if token == eos:
            break
    return np.array(out, dtype=np.int64)


# ---------------------------------------------------------------------------------------------
# greedy_decode


@exercise("greedy_decode")
def test_greedy_decode_follows_the_argmax_of_the_whole_sequence(impl):
    model = _Model(6, 1)
    prefix = np.array([4, 0, 5])
    got = run(impl.greedy_decode, model, prefix, 7)
    expect_equal(
        got,
        _greedy(model, prefix, 7),
        mistakes={
            "call the model on the last token only": lambda: _greedy(model, prefix, 7, last_only=True),
            "call the model on the prefix only, never on the tokens generated": lambda: _greedy(
                model, prefix, 7, prefix_only=True
            ),
            "return the prefix too": lambda: np.concatenate([prefix, _greedy(model, prefix, 7)]),
        },
    )


@exercise("greedy_decode")
def test_greedy_decode_passes_the_sequence_so_far(impl):
    model = _Model(5, 2)
    prefix = np.array([3, 1])
    out = run(impl.greedy_decode, model, prefix, 4).value
    calls = model.calls
    expect(
        len(calls) == 4, f"greedy_decode(n=4) called next_logits {len(calls)} times; expected once per token"
    )
    for k, ids in enumerate(calls):
        want = np.concatenate([prefix, out[:k]])
        expect(
            np.array_equal(np.asarray(ids).ravel(), want) and np.asarray(ids).ndim == 1,
            f"greedy_decode: call {k + 1} of next_logits got {ids!r}; expected the sequence so far {want}",
        )


@exercise("greedy_decode")
def test_greedy_decode_stops_after_eos(impl):
    # After the prefix: 2 is likeliest, then 1, then eos = 0.
    table = {(): [0.1, 0.2, 0.7], (2,): [0.2, 0.5, 0.3], (2, 1): [0.6, 0.3, 0.1]}
    model = _Table(2, table, [0.2, 0.3, 0.5])
    prefix = np.array([1, 1])
    got = run(impl.greedy_decode, model, prefix, 6, 0)
    expect_equal(
        got,
        np.array([2, 1, 0]),
        mistakes={
            "stop before the eos instead of keeping it": np.array([2, 1]),
            "ignore eos": np.array([2, 1, 0, 2, 2, 2]),
        },
    )
    without = run(impl.greedy_decode, model, prefix, 6)
    expect_equal(without, np.array([2, 1, 0, 2, 2, 2]), what="with eos=None (never stop early)")


@exercise("greedy_decode")
def test_greedy_decode_ties_go_to_the_smaller_id(impl):
    model = _Table(1, {}, [0.1, 0.3, 0.1, 0.3, 0.2])
    got = run(impl.greedy_decode, model, np.array([4]), 3)
    expect_equal(got, np.array([1, 1, 1]), mistakes={"break ties toward the larger id": np.array([3, 3, 3])})
    expect(got.value.dtype == np.int64, f"{got}: dtype {got.value.dtype}, expected int64")


# ---------------------------------------------------------------------------------------------
# temperature_softmax


@exercise("temperature_softmax")
@pytest.mark.parametrize("temperature", [0.5, 1.0, 3.0])
def test_temperature_softmax_values(impl, temperature):
    z = 2 * rng(10).normal(size=(4, 7))
    got = run(impl.temperature_softmax, z, temperature)
    expect_close(
        got,
        _softmax(z / temperature),
        rtol=1e-10,
        atol=1e-15,
        mistakes={
            "ignore the temperature": lambda: _softmax(z),
            "multiply the logits by the temperature instead of dividing": lambda: _softmax(z * temperature),
            "take the softmax over the batch axis": lambda: _softmax((z / temperature).T).T,
        },
    )


@exercise("temperature_softmax")
def test_temperature_softmax_low_temperature_does_not_overflow(impl):
    z = np.array([[300.0, 290.0, -50.0, 299.5, 0.0], [-400.0, -398.0, -399.0, -420.0, -401.0]])
    got = run_without_warnings(impl.temperature_softmax, z, 0.01)
    expect_close(got, _softmax(z / 0.01), rtol=1e-10, atol=1e-300)


@exercise("temperature_softmax")
def test_temperature_softmax_keeps_float32_and_any_batch_shape(impl):
    z = rng(11).normal(size=(2, 3, 5)).astype(np.float32)
    got = run(impl.temperature_softmax, z, 0.7)
    expect(got.value.dtype == np.float32, f"{got}: returned {got.value.dtype}; float32 in, float32 out")
    expect_close(got, _softmax(z.astype(np.float64) / 0.7), rtol=1e-5, atol=1e-7)


# ---------------------------------------------------------------------------------------------
# top_k_filter and top_p_filter, written as loops over sorted (probability, id) pairs


def _sorted_ids(row):
    return [i for _, i in sorted((-float(q), i) for i, q in enumerate(row))]


def _top_k(probs, k, reverse_ties=False, keep_ties=False, least=False, renormalise=True):
    out = np.zeros_like(probs)
    for idx in np.ndindex(probs.shape[:-1]):
        row = probs[idx]
        order = _sorted_ids(row)
        if reverse_ties:
            order = [-i for _, i in sorted((-float(q), -i) for i, q in enumerate(row))]
        kept = order[:k]
        if keep_ties:
            kept = [i for i in order if row[i] >= row[order[k - 1]]]
        if least:
            kept = order[::-1][:k]
        out[idx + (kept,)] = row[kept]
    return out / out.sum(axis=-1, keepdims=True) if renormalise else out


def _top_p(probs, p, rule="reaches", reverse_ties=False, renormalise=True):
    """rule "reaches": up to and including the first token where the total is >= p;
    "too_few": only tokens whose total is < p (the one that reaches p is dropped);
    "too_many": one more after the first total >= p."""
    out = np.zeros_like(probs)
    for idx in np.ndindex(probs.shape[:-1]):
        row = probs[idx]
        order = _sorted_ids(row)
        if reverse_ties:
            order = [-i for _, i in sorted((-float(q), -i) for i, q in enumerate(row))]
        kept, total = [], 0.0
        for i in order:
            if rule == "too_few" and total + row[i] >= p and kept:
                break
            kept.append(i)
            total += row[i]
            if total >= p and rule == "reaches":
                break
            if rule == "too_many" and total - row[i] >= p:
                break
        out[idx + (kept,)] = row[kept]
    return out / out.sum(axis=-1, keepdims=True) if renormalise else out


def _not_applicable():
    """For a mistake whose answer cannot be formed on these inputs: it is then never named."""
    raise ValueError("not applicable")


def _distinct_probs(shape, seed):
    return _softmax(1.5 * rng(seed).normal(size=shape))


def _kept(call, want):
    """The kept set must be exactly right before the values are compared."""
    got = np.asarray(call.value)
    expect(got.shape == want.shape, f"{call}: returned shape {got.shape}, expected {want.shape}")
    for idx in np.ndindex(want.shape[:-1]):
        g, w = np.flatnonzero(got[idx] > 0).tolist(), np.flatnonzero(want[idx] > 0).tolist()
        at = f"row {idx[0] if len(idx) == 1 else idx}" if idx else "the row"
        expect(g == w, f"{call}: {at} keeps tokens {g}, expected {w}")


@exercise("top_k_filter")
@pytest.mark.parametrize("k", [1, 3, 6])
def test_top_k_filter_keeps_the_k_most_probable(impl, k):
    probs = _distinct_probs((5, 8), 20 + k)
    got = run(impl.top_k_filter, probs, k)
    expect_close(
        got,
        _top_k(probs, k),
        rtol=1e-12,
        atol=1e-15,
        mistakes={
            "keep k + 1 tokens": lambda: _top_k(probs, k + 1),
            "keep k - 1 tokens": lambda: _top_k(probs, k - 1) if k > 1 else _not_applicable(),
            "keep the k least probable tokens": lambda: _top_k(probs, k, least=True),
            "forget to renormalise": lambda: _top_k(probs, k, renormalise=False),
            "filter and renormalise along the batch axis": lambda: _top_k(probs.T, k).T,
        },
    )


@exercise("top_k_filter")
def test_top_k_filter_ties_at_the_cut(impl):
    probs = np.array([[0.1, 0.25, 0.1, 0.25, 0.3], [0.2, 0.2, 0.2, 0.2, 0.2]])
    got = run(impl.top_k_filter, probs, 2)
    want = np.array([[0, 0.25, 0, 0, 0.3], [0.2, 0.2, 0, 0, 0]]) / np.array([[0.55], [0.4]])
    expect_close(
        got,
        want,
        rtol=1e-12,
        mistakes={
            "break ties toward the larger id (an ascending sort reversed)": lambda: _top_k(
                probs, 2, reverse_ties=True
            ),
            "keep every token tied with the k-th": lambda: _top_k(probs, 2, keep_ties=True),
        },
    )


@exercise("top_k_filter")
def test_top_k_filter_any_batch_shape_float32_and_k_equal_to_v(impl):
    probs = _distinct_probs((2, 3, 6), 24).astype(np.float32)
    got = run(impl.top_k_filter, probs, 4)
    expect(got.value.dtype == np.float32, f"{got}: returned {got.value.dtype}; float32 in, float32 out")
    _kept(got, _top_k(probs.astype(np.float64), 4))
    expect_close(got, _top_k(probs.astype(np.float64), 4), rtol=1e-5, atol=1e-7)
    every = run(impl.top_k_filter, probs, 6)
    expect_close(every, probs.astype(np.float64), rtol=1e-5, atol=1e-7, what="with k = V (everything kept)")


_DYADIC = np.array([0.125, 0.5, 0.0625, 0.25, 0.0625])  # sorted: 1, 3, 0, then 2 and 4 tied


@exercise("top_p_filter")
@pytest.mark.parametrize(
    "p, kept",
    [
        (0.75, [1, 3]),
        (0.7, [1, 3]),
        (0.5, [1]),
        (0.875, [0, 1, 3]),
        (0.9, [0, 1, 2, 3]),
        (1.0, [0, 1, 2, 3, 4]),
    ],
)
def test_top_p_filter_exact_totals(impl, p, kept):
    # Powers of two add up exactly: the total after tokens 1 and 3 is exactly 0.75.
    got = run(impl.top_p_filter, _DYADIC, p)
    want = np.zeros(5)
    want[kept] = _DYADIC[kept] / _DYADIC[kept].sum()
    expect_close(
        got,
        want,
        rtol=1e-12,
        mistakes={
            "keep one token too few (drop the token at which the total reaches p)": lambda: _top_p(
                _DYADIC, p, "too_few"
            ),
            "keep one token too many (also the token after the total reaches p)": lambda: _top_p(
                _DYADIC, p, "too_many"
            ),
            "forget to renormalise": lambda: _top_p(_DYADIC, p, renormalise=False),
            "break ties toward the larger id (an ascending sort reversed)": lambda: _top_p(
                _DYADIC, p, reverse_ties=True
            ),
        },
    )


@exercise("top_p_filter")
@pytest.mark.parametrize("p", [0.7, 0.8])
def test_top_p_filter_ties_go_to_the_smaller_id(impl, p):
    # row 0 sorted: 1, then 0 and 2 tied; row 1 sorted: 2, 3, then 0 and 1 tied.
    probs = np.array([[0.25, 0.5, 0.25, 0.0], [0.125, 0.125, 0.5, 0.25]])
    got = run(impl.top_p_filter, probs, p)
    if p == 0.7:  # row 0 keeps 1, 0 (not 2); row 1 keeps 2, 3
        want = np.array([[1 / 3, 2 / 3, 0, 0], [0, 0, 2 / 3, 1 / 3]])
    else:  # row 0 keeps 1, 0, 2; row 1 keeps 2, 3, 0 (not 1)
        want = np.array([[0.25, 0.5, 0.25, 0], [1 / 7, 0, 4 / 7, 2 / 7]])
    expect_close(
        got,
        want,
        rtol=1e-12,
        mistakes={
            "break ties toward the larger id (an ascending sort reversed)": lambda: _top_p(
                probs, p, reverse_ties=True
            )
        },
    )


@exercise("top_p_filter")
def test_top_p_filter_random_rows_and_batch_shapes(impl):
    probs = _distinct_probs((3, 2, 9), 30)
    totals = np.cumsum(-np.sort(-probs, axis=-1), axis=-1)
    expect(np.abs(totals - 0.6).min() > 1e-6, "test set-up: no running total is near p")
    got = run(impl.top_p_filter, probs, 0.6)
    want = _top_p(probs, 0.6)
    _kept(got, want)
    expect_close(
        got,
        want,
        rtol=1e-12,
        atol=1e-15,
        mistakes={
            "keep one token too few (drop the token at which the total reaches p)": lambda: _top_p(
                probs, 0.6, "too_few"
            ),
            "filter and renormalise along the first axis instead of the last": lambda: np.swapaxes(
                _top_p(np.swapaxes(probs, -1, 0), 0.6), -1, 0
            ),
        },
    )


@exercise("top_p_filter")
def test_top_p_filter_keeps_the_most_probable_and_float32(impl):
    probs = _distinct_probs((4, 6), 31).astype(np.float32)
    got = run(impl.top_p_filter, probs, 1e-3)
    expect(got.value.dtype == np.float32, f"{got}: returned {got.value.dtype}; float32 in, float32 out")
    want = np.zeros((4, 6))
    want[np.arange(4), probs.argmax(axis=-1)] = 1.0
    expect_close(got, want, rtol=0, atol=1e-7, what="with p = 0.001 (only the most probable token)")


# ---------------------------------------------------------------------------------------------
# sample_next


def _draw(q, u):
    c = np.cumsum(q) / q.sum()
    return min(int(np.searchsorted(c, u, side="right")), len(q) - 1)


def _sample(logits, seed_or_rng, temperature=1.0, top_k=None, top_p=None, order="kp", one_u=False):
    g = rng(seed_or_rng) if isinstance(seed_or_rng, int) else seed_or_rng
    q = _softmax(logits / temperature)
    steps = {"k": lambda q: _top_k(q, top_k) if top_k else q, "p": lambda q: _top_p(q, top_p) if top_p else q}
    for s in order:
        q = steps[s](q)
    u = np.full(len(q), g.random()) if one_u else g.random(len(q))
    return np.array([_draw(q[n], u[n]) for n in range(len(q))], dtype=np.int64)


@exercise("sample_next")
@pytest.mark.parametrize("temperature", [1.0, 0.6, 2.5])
def test_sample_next_inverse_cdf_with_a_seeded_generator(impl, temperature):
    logits = 2 * rng(40).normal(size=(9, 7))
    got = run(impl.sample_next, logits, rng(41), temperature)
    expect_equal(
        got,
        _sample(logits, 41, temperature),
        mistakes={
            "ignore the temperature": lambda: _sample(logits, 41),
            "multiply the logits by the temperature instead of dividing": lambda: _sample(
                logits, 41, 1 / temperature
            ),
            "draw one number for all rows": lambda: _sample(logits, 41, temperature, one_u=True),
        },
    )
    expect(got.value.dtype == np.int64, f"{got}: dtype {got.value.dtype}, expected int64")


@exercise("sample_next")
def test_sample_next_top_k_then_top_p(impl):
    logits = rng(42).normal(size=(12, 8))
    got = run(impl.sample_next, logits, rng(43), 0.8, 5, 0.6)
    expect_equal(
        got,
        _sample(logits, 43, 0.8, 5, 0.6),
        mistakes={
            "apply top-p before top-k": lambda: _sample(logits, 43, 0.8, 5, 0.6, order="pk"),
            "ignore top_k": lambda: _sample(logits, 43, 0.8, None, 0.6),
            "ignore top_p": lambda: _sample(logits, 43, 0.8, 5, None),
        },
    )


class _Fixed(np.random.Generator):
    """A generator whose random() returns given numbers in turn (random(n): the next n)."""

    def __init__(self, values):
        super().__init__(np.random.PCG64(0))
        self.values, self.next = np.asarray(values, dtype=float), 0

    def random(self, size=None, *args, **kwargs):
        n = 1 if size is None else int(np.prod(size))
        out = self.values[self.next : self.next + n]
        self.next += n
        return float(out[0]) if size is None else out.reshape(size)


@exercise("sample_next")
def test_sample_next_exact_distribution_on_a_tiny_vocabulary(impl):
    # With u on an even grid of 4000 points, token v is drawn for a fraction q_v of the rows
    # (to within 1/4000): the exact distribution, with the filters' zeros never drawn.
    logits = np.tile(np.log([0.1, 0.4, 0.05, 0.3, 0.15]), (4000, 1))
    for top_k, top_p, want in [
        (None, None, [0.1, 0.4, 0.05, 0.3, 0.15]),
        (3, None, [0, 0.4 / 0.85, 0, 0.3 / 0.85, 0.15 / 0.85]),
        (None, 0.65, [0, 0.4 / 0.7, 0, 0.3 / 0.7, 0]),
    ]:
        grid = (np.arange(4000) + 0.5) / 4000
        got = run(impl.sample_next, logits, _Fixed(grid), 1.0, top_k, top_p)
        freq = np.bincount(got.value, minlength=5) / 4000
        expect_close(
            _of(got, freq),
            np.array(want),
            atol=1 / 4000 + 1e-12,
            what=f"token frequencies (top_k={top_k}, top_p={top_p})",
        )


@exercise("sample_next")
def test_sample_next_a_uniform_equal_to_a_running_total(impl):
    # Equal logits: q = 1/4 each, running totals 0.25, 0.5, 0.75, 1 exactly. The token is the
    # first whose total EXCEEDS u, so u = 0.25 gives token 1, and u = 0 gives token 0.
    logits = np.zeros((5, 4))
    got = run(impl.sample_next, logits, _Fixed([0.25, 0.5, 0.75, 0.0, 0.9]), 1.0)
    expect_equal(
        got,
        np.array([1, 2, 3, 0, 3]),
        mistakes={"take the first token whose total is >= u instead of > u": np.array([0, 1, 2, 0, 3])},
    )


@exercise("sample_next")
def test_sample_next_never_draws_a_filtered_token(impl):
    # u = 1 - 2^-53: rounding can leave every running total below u; the answer is the last
    # token with a non-zero probability, never a token the filter removed.
    logits = np.array([[0.3, 2.0, 1.0, -1.0, 0.5, -2.0], [1.5, -0.5, 0.2, 0.9, -1.2, 0.1]])
    got = run(impl.sample_next, logits, _Fixed([1.0 - 2.0**-53] * 2), 1.0, 2)
    expect_equal(
        got,
        np.array([2, 3]),
        mistakes={
            "forget to divide the running totals by the row's total, and take the last token of the "
            "vocabulary when none exceeds u": lambda: np.minimum(
                (np.cumsum(_top_k(_softmax(logits), 2), axis=-1) <= 1.0 - 2.0**-53).sum(axis=-1), 5
            )
        },
    )


# ---------------------------------------------------------------------------------------------
# generate


def _generate(model, prefix, n, seed, temperature=1.0, top_k=None, top_p=None, eos=None, prefix_only=False):
    g = rng(seed)
    seq, out = list(prefix), []
    for _ in range(n):
        logits = model(np.array(list(prefix) if prefix_only else seq))
        token = int(_sample(logits[None], g, temperature, top_k, top_p)[0])
        out.append(token)
        seq.append(token)
        if token == eos:
            break
    return np.array(out, dtype=np.int64)


@exercise("generate")
def test_generate_with_a_seeded_generator(impl):
    model = _Model(7, 50)
    prefix = np.array([6, 2])
    got = run(impl.generate, model, prefix, 12, rng(51), 0.9, 4)
    expect_equal(
        got,
        _generate(model, prefix, 12, 51, 0.9, 4),
        mistakes={
            "call the model on the prefix only, never on the tokens generated": lambda: _generate(
                model, prefix, 12, 51, 0.9, 4, prefix_only=True
            ),
            "ignore top_k": lambda: _generate(model, prefix, 12, 51, 0.9),
            "ignore the temperature": lambda: _generate(model, prefix, 12, 51, 1.0, 4),
        },
    )


@exercise("generate")
def test_generate_with_top_p_stops_after_eos(impl):
    model = _Model(5, 52, scale=1.0)
    prefix = np.array([3])
    want = _generate(model, prefix, 30, 53, 1.2, None, 0.8, eos=0)
    expect(0 in want and len(want) < 30, "test set-up: eos is drawn")
    got = run(impl.generate, model, prefix, 30, rng(53), 1.2, None, 0.8, 0)
    expect_equal(
        got, want, mistakes={"ignore top_p": lambda: _generate(model, prefix, 30, 53, 1.2, None, None, eos=0)}
    )


@exercise("generate")
def test_generate_uses_the_given_rng(impl):
    model = _Model(6, 54)
    a = run(impl.generate, model, np.array([1]), 10, rng(55)).value
    b = run(impl.generate, model, np.array([1]), 10, rng(56)).value
    expect(not np.array_equal(a, b), "generate gave the same tokens for rng(55) and rng(56): draw from rng")
    expect_equal(_of("generate(..., rng(55))", a), _generate(model, np.array([1]), 10, 55))


# ---------------------------------------------------------------------------------------------
# beam_search


def _beam(
    model, prefix, width, n, eos=None, alpha=1.0, extend_finished=False, length_offset=0, per_live=False
):
    live, finished = [([], 0.0)], []
    for _ in range(n):
        cands = []
        for b, (toks, lp) in enumerate(live):
            logp = _log_softmax(model(np.array(list(prefix) + toks)))
            mine = sorted((-(lp + float(logp[v])), b, v, toks + [v]) for v in range(len(logp)))
            cands += mine[:width] if per_live else mine  # per_live: a wrong version
        cands.sort(key=lambda c: c[:3])
        live = []
        for neg, _, v, toks in cands if per_live else cands[:width]:
            if v == eos and not extend_finished:
                finished.append((toks, -neg))
            else:
                live.append((toks, -neg))
        if not live:
            break
    finished += live

    scores = [lp / (len(toks) + length_offset) ** alpha for toks, lp in finished]
    best = max(range(len(scores)), key=lambda i: (scores[i], -i))
    return np.array(finished[best][0], dtype=np.int64), scores[best]


def _expect_beam(call, want, mistakes):
    value = call.value
    expect(isinstance(value, tuple) and len(value) == 2, f"{call}: expected (tokens, score)")
    wrong = {phrase: (lambda f=f: f()[0]) for phrase, f in mistakes.items()}
    expect_equal(_of(call, np.asarray(value[0])), want[0], what="tokens", mistakes=wrong)
    expect(
        isinstance(value[1], float),
        f"{call}: the score is {type(value[1]).__name__}; expected a Python float",
    )
    wrong = {phrase: (lambda f=f: f()[1]) for phrase, f in mistakes.items()}
    expect_close(_of(call, value[1]), want[1], rtol=1e-10, what="score", mistakes=wrong)


# After the prefix: eos (0) first is the most probable single step, but 1, 1, eos has the
# better mean log-probability per token.
_NORMALISE = {
    (): [0.4, 0.35, 0.25],
    (1,): [0.06, 0.9, 0.04],
    (2,): [0.3, 0.3, 0.4],
    (1, 1): [0.9, 0.06, 0.04],
}


@exercise("beam_search")
def test_beam_search_compares_normalised_scores(impl):
    model = _Table(2, _NORMALISE, [0.5, 0.25, 0.25])
    prefix = np.array([2, 1])
    got = run(impl.beam_search, model, prefix, 2, 3, 0, 1.0)
    want = _beam(model, prefix, 2, 3, 0, 1.0)
    expect(list(want[0]) == [1, 1, 0], "test set-up")
    _expect_beam(
        got,
        want,
        {
            "compare unnormalised scores (the sums of log-probabilities)": lambda: _beam(
                model, prefix, 2, 3, 0, 0.0
            ),
            "count the prefix in the length": lambda: _beam(model, prefix, 2, 3, 0, 1.0, length_offset=2),
        },
    )
    raw = run(impl.beam_search, model, prefix, 2, 3, 0, 0.0)
    _expect_beam(raw, (np.array([0]), math.log(0.4)), {})


@exercise("beam_search")
def test_beam_search_width_one_is_greedy(impl):
    model = _Model(6, 60)
    prefix = np.array([5, 3, 1])
    got = run(impl.beam_search, model, prefix, 1, 6, 2)
    greedy = _greedy(model, prefix, 6, eos=2)
    want = _beam(model, prefix, 1, 6, 2)
    expect(np.array_equal(want[0], greedy), "test set-up")
    _expect_beam(got, want, {})


@exercise("beam_search")
@pytest.mark.parametrize("width, alpha, seed", [(3, 1.0, 151), (2, 0.7, 169)])
def test_beam_search_on_a_model_of_the_whole_sequence(impl, width, alpha, seed):
    model = _Model(5, seed, scale=1.2)
    prefix = np.array([4, 2])
    got = run(impl.beam_search, model, prefix, width, 5, 0, alpha)
    _expect_beam(
        got,
        _beam(model, prefix, width, 5, 0, alpha),
        {
            "compare unnormalised scores (the sums of log-probabilities)": lambda: _beam(
                model, prefix, width, 5, 0, 0.0
            ),
            "keep extending hypotheses that ended with eos": lambda: _beam(
                model, prefix, width, 5, 0, alpha, extend_finished=True
            ),
            "keep the beam_width best extensions of every live hypothesis (not beam_width in all)": lambda: (
                _beam(model, prefix, width, 5, 0, alpha, per_live=True)
            ),
            "count the prefix in the length": lambda: _beam(
                model, prefix, width, 5, 0, alpha, length_offset=2
            ),
        },
    )


@exercise("beam_search")
def test_beam_search_wide_enough_is_exhaustive(impl):
    # 4 tokens, 3 steps, width 64 = 4^3: nothing is ever pruned, so the answer is the best
    # score over every sequence that ends with eos or has 3 tokens.
    model = _Model(4, 70, scale=1.0)
    prefix = np.array([3])
    best, best_score = None, -np.inf
    for L in (1, 2, 3):
        for toks in np.ndindex(*(4,) * L):
            if 1 in toks[:-1] or (L < 3 and toks[-1] != 1):
                continue
            lp = sum(_log_softmax(model(np.array([3, *toks[:j]])))[toks[j]] for j in range(L))
            if lp / L > best_score:
                best, best_score = toks, lp / L
    got = run(impl.beam_search, model, prefix, 64, 3, 1, 1.0)
    _expect_beam(got, (np.array(best), best_score), {})


@exercise("beam_search")
def test_beam_search_without_eos_keeps_n_tokens(impl):
    model = _Model(3, 80)
    got = run(impl.beam_search, model, np.array([0, 2]), 2, 4, None, 1.0)
    _expect_beam(got, _beam(model, np.array([0, 2]), 2, 4, None, 1.0), {})
