"""Tests for chapter 0, part 6: sampling, Gaussian log-likelihood, entropy, cross-entropy,
KL divergence and Welford's running moments.

Expected values come from the definitions evaluated one term at a time with Python floats
(math.log, math.fsum), hand-computed small cases, and identities (KL = H(p, q) - H(p),
Gibbs' inequality, scaling laws). The sampler is tested statistically (frequencies within 6
standard errors), for determinism given its generator, and on generators whose first uniform
is exactly 0 or the largest double below 1.
"""

import math

import numpy as np
import pytest

from grader.testkit import Call, exercise, expect, expect_close, expect_shape, rng, run

# ---------------------------------------------------------------------------------------------
# helpers


def _random_probs(seed: int, shape: tuple[int, ...], zeros: bool = False) -> np.ndarray:
    """Distributions along the last axis; with zeros=True about a third of the entries are 0."""
    g = rng(seed)
    w = g.gamma(0.7, size=shape)
    if zeros:
        w = np.where(g.random(size=shape) < 0.35, 0.0, w)
        w[..., 0] += 0.1  # no all-zero row
    return w / w.sum(axis=-1, keepdims=True)


def _rows(a: np.ndarray) -> list[list[float]]:
    return a.reshape(-1, a.shape[-1]).tolist()


def _entropy_loops(p: np.ndarray) -> np.ndarray:
    out = [-math.fsum(pi * math.log(pi) for pi in row if pi > 0) for row in _rows(p)]
    return np.array(out).reshape(p.shape[:-1])


def _cross_entropy_loops(p: np.ndarray, q: np.ndarray) -> np.ndarray:
    out = []
    for prow, qrow in zip(_rows(p), _rows(q)):
        pairs = [(pi, qi) for pi, qi in zip(prow, qrow) if pi > 0]
        if any(qi == 0 for _, qi in pairs):
            out.append(math.inf)
        else:
            out.append(-math.fsum(pi * math.log(qi) for pi, qi in pairs))
    return np.array(out).reshape(p.shape[:-1])


def _kl_loops(p: np.ndarray, q: np.ndarray) -> np.ndarray:
    out = []
    for prow, qrow in zip(_rows(p), _rows(q)):
        if any(pi > 0 and qi == 0 for pi, qi in zip(prow, qrow)):
            out.append(math.inf)
        else:
            out.append(math.fsum(pi * math.log(pi / qi) for pi, qi in zip(prow, qrow) if pi > 0))
    return np.array(out).reshape(p.shape[:-1])


# PCG64 (NumPy's default bit generator) steps its 128-bit state s <- s * MULT + inc and then
# outputs rotr64(hi(s) ^ lo(s), hi(s) >> 58). Choosing the state after the step with
# hi ^ lo = all ones (or all zeros) makes the first 64-bit output all ones (zeros), so the
# generator's first uniform in [0, 1) is 1 - 2**-53 (or exactly 0). Every later draw is ordinary.
_PCG64_MULT = 0x2360ED051FC65DA44385DF649FCCF645
_ONES = (1 << 64) - 1


def _generator_with_first_uniform(extreme: str) -> np.random.Generator:
    """A genuine np.random.Generator whose first gen.random() is 0.0 or the largest double < 1."""
    bits = np.random.PCG64(0)
    state = bits.state
    inc = state["state"]["inc"]
    after = (_ONES << 64) if extreme == "max" else 0  # hi ^ lo: all ones, or zero
    before = ((after - inc) * pow(_PCG64_MULT, -1, 1 << 128)) % (1 << 128)
    state["state"]["state"] = before
    state["has_uint32"], state["uinteger"] = 0, 0
    bits.state = state
    # Check the construction on a twin, so a change in NumPy fails loudly here, not subtly.
    twin = np.random.PCG64(0)
    twin.state = state
    first = np.random.Generator(twin).random()
    wanted = 1 - 2.0**-53 if extreme == "max" else 0.0
    if first != wanted:
        raise RuntimeError(f"test helper: first uniform is {first!r}, not {wanted!r}")
    return np.random.Generator(bits)


def _expect_class_indices(call: Call, n: int, k: int) -> np.ndarray:
    """The sampler returned an integer array of shape (n,) with values in 0..k-1."""
    expect_shape(call, (n,))
    values = call.value
    expect(values.dtype.kind in "iu", f"{call}: dtype {values.dtype}, expected integers (class indices)")
    expect(
        values.min() >= 0 and values.max() <= k - 1,
        f"{call}: values from {values.min()} to {values.max()}, expected class indices 0..{k - 1}",
    )
    return values


def _counts_message(call, probs: np.ndarray, counts: np.ndarray, n: int) -> str:
    freq = np.array2string(counts / n, precision=4, separator=" ")
    want = np.array2string(probs, precision=4, separator=" ")
    return f"{call}: class frequencies {freq}, expected close to the probabilities {want}"


# ---------------------------------------------------------------------------------------------
# sample_categorical


@exercise("sample_categorical")
def test_sample_categorical_shape_dtype_and_range(impl):
    probs = np.array([0.1, 0.2, 0.3, 0.15, 0.05, 0.2])
    got = run(impl.sample_categorical, probs, 1000, rng(0))
    values = _expect_class_indices(got, 1000, 6)
    expect(
        len(np.unique(values)) == 6,
        f"{got}: only classes {np.unique(values).tolist()} in 1000 draws, expected all of 0..5",
    )


@exercise("sample_categorical")
@pytest.mark.parametrize(
    "probs",
    [
        [0.05, 0.3, 0.0, 0.15, 0.01, 0.49],
        [0.7, 0.2, 0.1],
        [0.0, 0.0, 0.25, 0.125, 0.125, 0.5, 0.0],
    ],
)
def test_sample_categorical_frequencies_match_probabilities(impl, probs):
    probs = np.array(probs)
    n = 20_000
    got = run(impl.sample_categorical, probs, n, rng(1))
    values = _expect_class_indices(got, n, len(probs))
    counts = np.bincount(values, minlength=len(probs))
    zero_hit = (probs == 0) & (counts > 0)
    expect(
        not zero_hit.any(),
        f"{got}: drew class {int(np.argmax(zero_hit))} {int(counts[np.argmax(zero_hit)])} times, "
        "but its probability is 0",
    )
    # A correct sampler misses a 6-standard-error band with probability about 2e-9 per class.
    bound = 6 * np.sqrt(probs * (1 - probs) / n)
    expect(bool(np.all(np.abs(counts / n - probs) <= bound)), _counts_message(got, probs, counts, n))


@exercise("sample_categorical")
def test_sample_categorical_same_seed_same_draws(impl):
    probs = np.array([0.2, 0.5, 0.3, 0.0, 0.0])
    first = run(impl.sample_categorical, probs, 500, rng(42))
    second = run(impl.sample_categorical, probs, 500, rng(42))
    expect(
        np.array_equal(first.value, second.value),
        f"{first} twice with rng(42): the draws differ; all randomness must come from `gen`",
    )


@exercise("sample_categorical")
def test_sample_categorical_uses_the_generator(impl):
    probs = np.full(8, 1 / 8)
    a = run(impl.sample_categorical, probs, 200, rng(3))
    b = run(impl.sample_categorical, probs, 200, rng(4))
    expect(
        not np.array_equal(a.value, b.value),
        f"{a} gave the same 200 draws with rng(3) and rng(4): draw the uniforms from `gen`",
    )


@exercise("sample_categorical")
def test_sample_categorical_consecutive_calls_differ(impl):
    # One generator, two calls: the second continues where the first left off. A sampler
    # that re-seeds, copies `gen`, or makes its own generator from a fixed seed repeats itself.
    probs = np.array([0.3, 0.1, 0.25, 0.35])
    gen = rng(5)
    first = run(impl.sample_categorical, probs, 300, gen)
    second = run(impl.sample_categorical, probs, 300, gen)
    expect(
        not np.array_equal(first.value, second.value),
        f"{first} twice on the same generator gave the same 300 draws; draw from `gen` itself "
        "(do not re-seed it, copy it or build a new generator), so that each call moves it on",
    )
    both = np.concatenate([first.value, second.value])
    again = np.concatenate(
        [
            run(impl.sample_categorical, probs, 300, rng(5)).value,
            run(impl.sample_categorical, probs, 300, rng(6)).value,
        ]
    )
    expect(
        not np.array_equal(both, again),
        f"{first}: the second call's draws do not depend on the generator's state",
    )


@exercise("sample_categorical")
@pytest.mark.parametrize("trailing_zero", [False, True])
def test_sample_categorical_last_bin_under_rounding(impl, trailing_zero):
    # 7 × (1/7) adds up to 0.9999999999999998 in float64, below the uniform 1 - 2**-53.
    probs = np.full(7, 1 / 7)
    if trailing_zero:
        probs = np.append(probs, 0.0)
    gen = _generator_with_first_uniform("max")
    got = run(impl.sample_categorical, probs, 3, gen)
    expect_shape(got, (3,))
    expect(got.value.dtype.kind in "iu", f"{got}: dtype {got.value.dtype}, expected integers")
    expect(
        got.value.min() >= 0 and got.value.max() <= 6,
        f"{got}: returned {got.value.tolist()} when the first uniform was 1 - 2**-53 and "
        f"np.cumsum(probs)[-1] = {np.cumsum(probs)[-1]!r}; only classes 0..6 have probability > 0 "
        "(normalise the CDF so that its last entry is exactly 1)",
    )


@exercise("sample_categorical")
def test_sample_categorical_uniform_zero_skips_empty_classes(impl):
    probs = np.array([0.0, 0.25, 0.0, 0.75])
    gen = _generator_with_first_uniform("zero")
    got = run(impl.sample_categorical, probs, 3, gen)
    values = _expect_class_indices(got, 3, 4)
    expect(
        not np.any(probs[values] == 0),
        f"{got} with probs {probs.tolist()}: returned {got.value.tolist()} when the first uniform "
        "was exactly 0.0; classes 0 and 2 have probability 0 (the inverse CDF is the first i "
        "with cdf[i] > u)",
    )


# ---------------------------------------------------------------------------------------------
# gaussian_log_likelihood


def _gaussian_loops(x: np.ndarray, mean: np.ndarray, std: np.ndarray) -> np.ndarray:
    out = []
    for row in x.tolist():
        terms = [
            -0.5 * math.log(2 * math.pi) - math.log(s) - (v - m) ** 2 / (2 * s * s)
            for v, m, s in zip(row, mean.tolist(), std.tolist())
        ]
        out.append(math.fsum(terms))
    return np.array(out)


def _gaussian_mistakes(x: np.ndarray, mean: np.ndarray, std: np.ndarray) -> dict:
    """gaussian_log_likelihood's known wrong answers for these inputs."""
    half_log_2pi = 0.5 * math.log(2 * math.pi)
    return {
        "treat std as the variance": lambda: (
            -half_log_2pi - 0.5 * np.log(std) - (x - mean) ** 2 / (2 * std)
        ).sum(axis=-1),
        "leave out the -log(std) term": lambda: (-half_log_2pi - 0.5 * ((x - mean) / std) ** 2).sum(axis=-1),
        "forget the 1/2 in front of the squared distance": lambda: (
            -half_log_2pi - np.log(std) - ((x - mean) / std) ** 2
        ).sum(axis=-1),
    }


@exercise("gaussian_log_likelihood")
@pytest.mark.parametrize("batch, d", [(5, 3), (2, 7)])
def test_gaussian_log_likelihood_matches_loops(impl, batch, d):
    g = rng(10)
    x = g.normal(size=(batch, d)) * 2 + 1
    mean = g.normal(size=d)
    std = g.uniform(0.3, 2.5, size=d)
    expect_close(
        run(impl.gaussian_log_likelihood, x, mean, std),
        _gaussian_loops(x, mean, std),
        mistakes=_gaussian_mistakes(x, mean, std),
    )


@exercise("gaussian_log_likelihood")
def test_gaussian_log_likelihood_hand_values(impl):
    # Row 0 at the mean, row 1 one std away in feature 0 and two in feature 1.
    x = np.array([[1.0, -2.0], [3.0, -1.0]])
    mean = np.array([1.0, -2.0])
    std = np.array([2.0, 0.5])
    base = -math.log(2 * math.pi) - math.log(2.0) - math.log(0.5)  # = -log(2 pi)
    want = np.array([base, base - 0.5 * 1.0 - 0.5 * 4.0])
    expect_close(
        run(impl.gaussian_log_likelihood, x, mean, std),
        want,
        rtol=1e-12,
        mistakes=_gaussian_mistakes(x, mean, std),
    )


@exercise("gaussian_log_likelihood")
def test_gaussian_log_likelihood_scaling_identity(impl):
    # Moving x and the mean together changes nothing; scaling x, mean and std by c adds -d log c.
    g = rng(11)
    x = g.normal(size=(4, 3))
    mean = g.normal(size=3)
    std = g.uniform(0.5, 2.0, size=3)
    ref = _gaussian_loops(x, mean, std)
    expect_close(run(impl.gaussian_log_likelihood, x + 5.0, mean + 5.0, std), ref, what="shifted by 5")
    c = 10.0
    expect_close(
        run(impl.gaussian_log_likelihood, c * x, c * mean, c * std),
        ref - 3 * math.log(c),
        what="everything scaled by 10: log-likelihood drops by d log 10",
    )


@exercise("gaussian_log_likelihood")
def test_gaussian_log_likelihood_far_tail_is_finite(impl):
    # 1000 standard deviations away the density is exp(-500000) = 0.0 in float64; its log is not.
    x = np.array([[1.0, 0.0, 2.0]])
    mean = np.array([0.0, 0.0, 2.0])
    std = np.array([1e-3, 1.0, 3.0])
    want = _gaussian_loops(x, mean, std)
    expect_close(run(impl.gaussian_log_likelihood, x, mean, std), want, rtol=1e-12)


# ---------------------------------------------------------------------------------------------
# entropy


@exercise("entropy")
@pytest.mark.parametrize("shape", [(4, 6), (2, 3, 5)])
def test_entropy_matches_loops(impl, shape):
    p = _random_probs(20, shape)
    expect_close(
        run(impl.entropy, p),
        _entropy_loops(p),
        mistakes={
            "forget the minus sign": lambda: -_entropy_loops(p),
            "use log2 (bits) instead of the natural log (nats)": lambda: _entropy_loops(p) / math.log(2),
        },
    )


@exercise("entropy")
def test_entropy_uniform_and_one_hot(impl):
    p = np.array([[0.25, 0.25, 0.25, 0.25, 0.0], [0.0, 0.0, 1.0, 0.0, 0.0], [0.2] * 5])
    want = np.array([math.log(4), 0.0, math.log(5)])  # nats: natural log, not log2
    expect_close(
        run(impl.entropy, p),
        want,
        rtol=1e-12,
        mistakes={"use log2 (bits) instead of the natural log (nats)": want / math.log(2)},
    )


@exercise("entropy")
def test_entropy_with_zero_probabilities(impl):
    p = _random_probs(21, (6, 7), zeros=True)
    expect(bool((p == 0).any()), "test setup: expected some zeros")
    expect_close(run(impl.entropy, p), _entropy_loops(p), what="0 log 0 counts as 0, not nan")


@exercise("entropy")
def test_entropy_bounds(impl):
    # 0 <= H(p) <= log k, with the maximum only for the uniform distribution.
    p = _random_probs(22, (50, 9), zeros=True)
    got = run(impl.entropy, p)
    h = np.asarray(got.value)
    expect(h.shape == (50,), f"{got}: shape {h.shape}, expected (50,)")
    expect(
        bool(np.all(h >= -1e-12) and np.all(h <= math.log(9) + 1e-12)),
        f"{got}: values from {h.min():.4g} to {h.max():.4g}, expected within [0, log 9 = 2.197]",
    )


# ---------------------------------------------------------------------------------------------
# cross_entropy


@exercise("cross_entropy")
@pytest.mark.parametrize("shape", [(5, 4), (3, 2, 6)])
def test_cross_entropy_matches_loops(impl, shape):
    p = _random_probs(30, shape)
    q = _random_probs(31, shape)
    expect_close(
        run(impl.cross_entropy, p, q),
        _cross_entropy_loops(p, q),
        mistakes={
            "swap p and q (compute H(q, p))": lambda: _cross_entropy_loops(q, p),
            "forget the minus sign": lambda: -_cross_entropy_loops(p, q),
        },
    )


@exercise("cross_entropy")
def test_cross_entropy_hand_values(impl):
    # one-hot p picks -log q of its class; p = q gives the entropy; zeros of p ignore q.
    p = np.array([[0.0, 1.0, 0.0], [0.5, 0.5, 0.0], [0.5, 0.0, 0.5]])
    q = np.array([[0.0, 0.25, 0.75], [0.5, 0.5, 0.0], [0.25, 0.5, 0.25]])
    want = np.array([math.log(4), math.log(2), math.log(4)])
    expect_close(
        run(impl.cross_entropy, p, q),
        want,
        rtol=1e-12,
        mistakes={"swap p and q (compute H(q, p))": lambda: _cross_entropy_loops(q, p)},
    )


@exercise("cross_entropy")
def test_cross_entropy_at_least_entropy(impl):
    # Gibbs' inequality: H(p, q) >= H(p), with equality at q = p.
    p = _random_probs(32, (40, 5), zeros=True)
    q = _random_probs(33, (40, 5))
    got = run(impl.cross_entropy, p, q)
    gap = np.asarray(got.value) - _entropy_loops(p)
    expect(
        bool(np.all(gap >= -1e-12)),
        f"{got}: H(p, q) - H(p) = {gap.min():.3g} at row {int(np.argmin(gap))}; it is never negative",
    )
    expect_close(run(impl.cross_entropy, p, p.copy()), _entropy_loops(p), what="H(p, p) = H(p)")


@exercise("cross_entropy")
def test_cross_entropy_infinite_when_q_misses_support(impl):
    p = np.array([[0.5, 0.5, 0.0], [0.0, 0.5, 0.5]])
    q = np.array([[1.0, 0.0, 0.0], [1.0, 0.0, 0.0]])
    expect_close(run(impl.cross_entropy, p, q), np.array([math.inf, math.inf]))


# ---------------------------------------------------------------------------------------------
# kl_divergence


@exercise("kl_divergence")
@pytest.mark.parametrize("shape", [(6, 5), (2, 4, 3)])
def test_kl_divergence_matches_loops(impl, shape):
    p = _random_probs(40, shape, zeros=True)
    q = _random_probs(41, shape)
    expect_close(
        run(impl.kl_divergence, p, q),
        _kl_loops(p, q),
        mistakes={
            "swap p and q (compute KL(q || p))": lambda: _kl_loops(q, p),
            "flip the ratio (sum p log(q / p), the negative of KL)": lambda: -_kl_loops(p, q),
        },
    )


@exercise("kl_divergence")
def test_kl_divergence_hand_values_and_asymmetry(impl):
    p = np.array([[0.5, 0.5]])
    q = np.array([[0.25, 0.75]])
    expect_close(
        run(impl.kl_divergence, p, q),
        np.array([0.5 * math.log(2) + 0.5 * math.log(2 / 3)]),
        rtol=1e-12,
        what="KL(p || q)",
    )
    expect_close(
        run(impl.kl_divergence, q, p),
        np.array([0.25 * math.log(0.5) + 0.75 * math.log(1.5)]),
        rtol=1e-12,
        what="KL(q || p), a different number: KL is not symmetric",
    )


@exercise("kl_divergence")
def test_kl_divergence_is_cross_entropy_minus_entropy(impl):
    p = _random_probs(42, (30, 6), zeros=True)
    q = _random_probs(43, (30, 6))
    got = run(impl.kl_divergence, p, q)
    expect_close(got, _cross_entropy_loops(p, q) - _entropy_loops(p), what="KL = H(p, q) - H(p)")
    expect(
        bool(np.all(np.asarray(got.value) >= -1e-12)),
        f"{got}: a negative value {np.min(got.value):.3g}; KL(p || q) >= 0 always",
    )


@exercise("kl_divergence")
def test_kl_divergence_of_a_distribution_with_itself(impl):
    p = _random_probs(44, (5, 8), zeros=True)
    got = run(impl.kl_divergence, p, p.copy())
    expect_close(got, np.zeros(5), atol=1e-12, what="KL(p || p) = 0 (0 log 0/0 counts as 0)")


@exercise("kl_divergence")
def test_kl_divergence_zeros(impl):
    # p_i = 0: term is 0 whatever q_i is; q_i = 0 < p_i: infinite.
    p = np.array([[0.0, 0.5, 0.5], [0.5, 0.5, 0.0], [0.5, 0.5, 0.0]])
    q = np.array([[0.5, 0.5, 0.0], [0.5, 0.25, 0.25], [0.0, 1.0, 0.0]])
    want = np.array([math.inf, 0.5 * math.log(2), math.inf])
    expect_close(run(impl.kl_divergence, p, q), want, rtol=1e-12)


# ---------------------------------------------------------------------------------------------
# welford_update


def _item(call: Call, value) -> Call:
    """One element of a returned tuple, labelled with the call that returned it."""
    return Call(value, call.text)


def _mean_m2_loops(data: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Two-pass mean and sum of squared deviations per column, with math.fsum."""
    cols = data.T.tolist()
    means = [math.fsum(c) / len(c) for c in cols]
    m2 = [math.fsum((v - m) ** 2 for v in c) for c, m in zip(cols, means)]
    return np.array(means), np.array(m2)


def _stream(impl, data: np.ndarray, sizes: list[int]):
    count, mean, m2 = 0, np.zeros(data.shape[1]), np.zeros(data.shape[1])
    start = 0
    call = None
    for size in sizes:
        call = run(impl.welford_update, count, mean, m2, data[start : start + size])
        expect(
            isinstance(call.value, tuple) and len(call.value) == 3,
            f"{call}: returned {type(call.value).__name__}, expected a tuple (count, mean, m2)",
        )
        count, mean, m2 = call.value
        start += size
    return call, count, mean, m2


@exercise("welford_update")
def test_welford_update_hand_values(impl):
    # Rows seen so far: [0, 10, -1] and [2, 10, 3]. New row: [4, 13, 1].
    got = run(
        impl.welford_update,
        2,
        np.array([1.0, 10.0, 1.0]),
        np.array([2.0, 0.0, 8.0]),
        np.array([[4.0, 13.0, 1.0]]),
    )
    count, mean, m2 = got.value
    expect(count == 3, f"{got}: count {count!r}, expected 3")
    expect_close(
        _item(got, mean),
        np.array([2.0, 11.0, 1.0]),
        rtol=1e-12,
        what="mean",
        mistakes={
            "average the old mean and the batch mean, without weighting them by their counts": np.array(
                [2.5, 11.5, 1.0]
            )
        },
    )
    expect_close(
        _item(got, m2),
        np.array([8.0, 6.0, 8.0]),
        rtol=1e-12,
        what="m2",
        mistakes={
            "add the two groups' m2 and forget the delta**2 * n_a * n_b / n term": np.array([2.0, 0.0, 8.0])
        },
    )


@exercise("welford_update")
def test_welford_update_streamed_batches(impl):
    sizes = [1, 7, 3, 12, 2]
    data = rng(50).normal(size=(sum(sizes), 4)) * 2 + 3
    call, count, mean, m2 = _stream(impl, data, sizes)
    want_mean, want_m2 = _mean_m2_loops(data)
    expect(
        isinstance(count, int) and not isinstance(count, bool) and count == 25,
        f"{call}: final count {count!r} ({type(count).__name__}), expected the Python int 25",
    )
    expect_close(_item(call, mean), want_mean, what="final mean")
    expect_close(
        _item(call, m2),
        want_m2,
        what="final m2",
    )


@exercise("welford_update")
def test_welford_update_far_from_zero(impl):
    # Values 1e8 + noise: the shortcut sum(x**2) - n mean**2 loses every digit of the variance.
    sizes = [5, 8, 6, 11]
    data = 1e8 + rng(51).normal(size=(sum(sizes), 3))
    call, count, mean, m2 = _stream(impl, data, sizes)
    want_mean, want_m2 = _mean_m2_loops(data)
    expect_close(_item(call, mean), want_mean, rtol=1e-12, what="final mean")
    expect_close(_item(call, m2), want_m2, rtol=1e-6, what="final m2 (data near 1e8)")


@exercise("welford_update")
def test_welford_update_order_of_batches_does_not_matter(impl):
    g = rng(52)
    a = g.normal(size=(9, 2)) + np.array([5.0, -1.0])
    b = g.normal(size=(4, 2)) * 3
    zeros = np.zeros(2)
    _, mean_a, m2_a = run(impl.welford_update, 0, zeros, zeros.copy(), a).value
    after_b = run(impl.welford_update, 9, mean_a, m2_a, b)
    want_mean, want_m2 = _mean_m2_loops(np.concatenate([a, b]))
    expect_close(_item(after_b, after_b.value[1]), want_mean, what="mean of a then b")
    expect_close(_item(after_b, after_b.value[2]), want_m2, what="m2 of a then b")
    _, mean_b, m2_b = run(impl.welford_update, 0, zeros, zeros.copy(), b).value
    after_a = run(impl.welford_update, 4, mean_b, m2_b, a)
    expect_close(_item(after_a, after_a.value[2]), want_m2, what="m2 of b then a")
