"""Tests for chapter 2, part 5: learning-rate schedules (step, exponential, cosine with
warm-up, Noam) and weight initialisers (Glorot uniform and normal, He normal, truncated
normal).

Schedules are compared with their definitions written here with Python branches and
floats, one step at a time, at the steps where off-by-one mistakes show (the last step of
an interval, the end of the warm-up, the end of the cosine), and with hand-computed values.
Initialisers are tested statistically on 10^4 to 2 * 10^5 draws: means, second moments,
tail and bin frequencies must lie within 6 standard errors of their exact values (derived
here from the distributions), which a correct sampler misses with probability about 2e-9
per check. They are also tested for their shape (fan_in, fan_out), never square, and for
drawing all their randomness from the generator they are given.
"""

import math

import numpy as np
import pytest

from grader.testkit import (
    Call,
    diagnosis,
    exercise,
    expect,
    expect_close,
    expect_equal,
    expect_shape,
    rng,
    run,
)

# ---------------------------------------------------------------------------------------------
# helpers: schedules


def _expect_number(call: Call) -> None:
    """An int step gives one learning rate: a float (or a 0-d array), not a 1-element array."""
    value = call.value
    ok = isinstance(value, (float, np.floating)) or (isinstance(value, np.ndarray) and value.shape == ())
    expect(
        ok,
        f"{call}: returned {type(value).__name__} {value!r}, expected one number (a float) for an int step",
    )


def _expect_rates_at(fn, steps: list[int], want: list[float], mistakes=None, **kwargs) -> None:
    """fn(step, **kwargs) at each int step matches want (to 1e-12 relative).

    mistakes: {phrase: a wrong schedule, a function of the int step}."""
    for step, lr in zip(steps, want):
        got = run(fn, step, **kwargs)
        _expect_number(got)
        value = float(got.value)
        if math.isclose(value, lr, rel_tol=1e-12, abs_tol=1e-15):
            continue
        named = {
            phrase: (lambda wrong=wrong, step=step: wrong(step)) for phrase, wrong in (mistakes or {}).items()
        }
        found = diagnosis(
            value, lr, mistakes=named, same=lambda a, b: math.isclose(a, b, rel_tol=1e-12, abs_tol=1e-15)
        )
        lead = f"{found}\n" if found else ""
        expect(False, f"{lead}{got}: the learning rate at step {step} is {value:.6g}, expected {lr:.6g}")


def _expect_schedule(fn, reference, steps: np.ndarray, mistakes=None, **kwargs) -> None:
    """fn on an integer array of steps matches reference(int step) at every step, same shape.

    mistakes: {phrase: a wrong reference(int step, **kwargs)}."""

    def table(ref):
        return np.array([ref(int(s), **kwargs) for s in steps.ravel()]).reshape(steps.shape)

    named = {phrase: (lambda wrong=wrong: table(wrong)) for phrase, wrong in (mistakes or {}).items()}
    expect_close(run(fn, steps, **kwargs), table(reference), rtol=1e-10, atol=1e-15, mistakes=named)


def _cosine_reference(step: int, lr_max: float, warmup_steps: int, total_steps: int, lr_min: float = 0.0):
    if step < warmup_steps:
        return lr_max * step / warmup_steps
    if step >= total_steps:
        return lr_min
    progress = (step - warmup_steps) / (total_steps - warmup_steps)
    return lr_min + (lr_max - lr_min) * (1 + math.cos(math.pi * progress)) / 2


def _noam_reference(step: int, d_model: int, warmup_steps: int, factor: float = 1.0):
    if step <= warmup_steps:
        return factor * step / (math.sqrt(d_model) * warmup_steps**1.5)  # the warm-up line
    return factor / math.sqrt(d_model * step)  # the inverse square root


# ---------------------------------------------------------------------------------------------
# step_decay


@exercise("step_decay")
def test_step_decay_hand_values_at_interval_edges(impl):
    # step_size 3: steps 0, 1, 2 use lr0; 3, 4, 5 use lr0 * gamma; 6 .. 8 use lr0 * gamma^2...
    steps = [0, 1, 2, 3, 5, 6, 8, 9]
    want = [0.8, 0.8, 0.8, 0.4, 0.4, 0.2, 0.2, 0.1]
    mistakes = {
        "count steps from 1 (the decay comes one step early)": lambda s: 0.8 * 0.5 ** ((s + 1) // 3),
        "leave out the floor (step / step_size, a smooth decay)": lambda s: 0.8 * 0.5 ** (s / 3),
        "decay every step_size - 1 steps": lambda s: 0.8 * 0.5 ** (s // 2),
        "multiply by gamma every step (exponential decay)": lambda s: 0.8 * 0.5**s,
    }
    _expect_rates_at(impl.step_decay, steps, want, mistakes=mistakes, lr0=0.8, step_size=3, gamma=0.5)


@exercise("step_decay")
@pytest.mark.parametrize("step_size, gamma", [(4, 0.1), (7, 0.5), (1, 0.9)])
def test_step_decay_over_an_array_of_steps(impl, step_size, gamma):
    steps = np.arange(30).reshape(5, 6)
    want = np.array([[0.3 * gamma ** math.floor(s / step_size) for s in row] for row in steps.tolist()])
    mistakes = {
        "count steps from 1 (the decay comes one step early)": 0.3 * gamma ** ((steps + 1) // step_size),
        "leave out the floor (step / step_size, a smooth decay)": 0.3 * gamma ** (steps / step_size),
        "decay every step_size - 1 steps": 0.3 * gamma ** (steps // max(step_size - 1, 1)),
    }
    expect_close(run(impl.step_decay, steps, 0.3, step_size, gamma), want, rtol=1e-12, mistakes=mistakes)


@exercise("step_decay")
def test_step_decay_changes_only_at_multiples_of_step_size(impl):
    steps = np.arange(60)
    lr = run(impl.step_decay, steps, 1.0, 5, 0.8).value
    ratio = Call(lr[1:] / lr[:-1], "step_decay(steps 0..59, lr0=1, step_size=5, gamma=0.8): lr[t+1] / lr[t]")
    # the rate drops by gamma on entering steps 5, 10, 15, ... and stays put otherwise
    expect_close(ratio, np.where(steps[1:] % 5 == 0, 0.8, 1.0), rtol=1e-12)


@exercise("step_decay")
def test_step_decay_with_step_size_one_is_exponential(impl):
    steps = np.array([0, 1, 2, 10, 25])
    expect_close(run(impl.step_decay, steps, 0.05, 1, 0.7), 0.05 * 0.7 ** steps.astype(float), rtol=1e-12)


# ---------------------------------------------------------------------------------------------
# exponential_decay


@exercise("exponential_decay")
def test_exponential_decay_hand_values(impl):
    steps = [0, 1, 2, 10]
    want = [0.1, 0.09, 0.081, 0.1 * 0.9**10]
    mistakes = {
        "use lr0 * exp(-gamma * step) instead of lr0 * gamma**step": lambda s: 0.1 * math.exp(-0.9 * s),
        "count steps from 1 (lr0 * gamma**(step + 1))": lambda s: 0.1 * 0.9 ** (s + 1),
        "decrease the rate along a line (lr0 * (1 - (1 - gamma) * step))": lambda s: 0.1 * (1 - 0.1 * s),
    }
    _expect_rates_at(impl.exponential_decay, steps, want, mistakes=mistakes, lr0=0.1, gamma=0.9)


@exercise("exponential_decay")
def test_exponential_decay_ratio_is_gamma_every_step(impl):
    steps = np.arange(48).reshape(6, 8)
    lr = run(impl.exponential_decay, steps, 2.0, 0.95)
    expect_shape(lr, (6, 8))
    ratio = Call(lr.value.ravel()[1:] / lr.value.ravel()[:-1], f"{lr}: lr[t+1] / lr[t]")
    expect_close(ratio, np.full(47, 0.95), rtol=1e-12)


@exercise("exponential_decay")
def test_exponential_decay_half_life(impl):
    # gamma = 2^(-1/100) halves the rate every 100 steps
    gamma = 0.5 ** (1 / 100)
    steps = np.array([0, 100, 200, 300, 50])
    want = np.array([1.0, 0.5, 0.25, 0.125, math.sqrt(0.5)]) * 3e-4
    expect_close(run(impl.exponential_decay, steps, 3e-4, gamma), want, rtol=1e-10)


@exercise("exponential_decay")
def test_exponential_decay_long_horizon(impl):
    # 0.999^5000 = 6.7e-3 and 0.999^20000 = 2e-9: a power, not lr0 * exp(-gamma * step) or a line
    steps = np.array([1000, 5000, 20000])
    want = np.array([0.999**1000, 0.999**5000, 0.999**20000])
    mistakes = {
        "use lr0 * exp(-gamma * step) instead of lr0 * gamma**step": np.exp(-0.999 * steps),
        "decrease the rate along a line (lr0 * (1 - (1 - gamma) * step))": 1.0 - 0.001 * steps,
    }
    expect_close(run(impl.exponential_decay, steps, 1.0, 0.999), want, rtol=1e-9, atol=0, mistakes=mistakes)


# ---------------------------------------------------------------------------------------------
# cosine_with_warmup

COSINE = dict(lr_max=0.3, warmup_steps=10, total_steps=110, lr_min=0.01)


@exercise("cosine_with_warmup")
def test_cosine_with_warmup_anchor_values(impl):
    # 0 at step 0, half way up at step 5, lr_max at step 10 (end of warm-up), half way
    # down at step 60, lr_min at step 110 (the end) and after it
    steps = [0, 1, 5, 9, 10, 60, 110, 111, 500]
    want = [0.0, 0.03, 0.15, 0.27, 0.3, 0.155, 0.01, 0.01, 0.01]

    def cosine(s, lr_min=0.01, start=10, flat=True):
        if s < 10:
            return 0.3 * s / 10
        progress = (s - start) / (110 - start)
        progress = min(progress, 1.0) if flat else progress
        return lr_min + (0.3 - lr_min) * (1 + math.cos(math.pi * progress)) / 2

    mistakes = {
        "leave out lr_min (a cosine from lr_max down to 0)": lambda s: cosine(s, lr_min=0.0),
        "let the cosine go on after total_steps instead of staying at lr_min": lambda s: cosine(
            s, flat=False
        ),
        "measure the cosine's progress from step 0 instead of from the end of the warm-up": lambda s: cosine(
            s, start=0
        ),
    }
    _expect_rates_at(impl.cosine_with_warmup, steps, want, mistakes=mistakes, **COSINE)


@exercise("cosine_with_warmup")
@pytest.mark.parametrize(
    "lr_max, warmup_steps, total_steps, lr_min", [(0.3, 10, 110, 0.01), (1.0, 3, 20, 0.0), (0.5, 1, 8, 0.0)]
)
def test_cosine_with_warmup_matches_definition(impl, lr_max, warmup_steps, total_steps, lr_min):
    kwargs = dict(lr_max=lr_max, warmup_steps=warmup_steps, total_steps=total_steps, lr_min=lr_min)
    steps = np.arange(total_steps + 12)

    def without_lr_min(step, lr_max, warmup_steps, total_steps, lr_min):
        return _cosine_reference(step, lr_max, warmup_steps, total_steps)

    def not_flat(step, lr_max, warmup_steps, total_steps, lr_min):
        if step < warmup_steps:
            return lr_max * step / warmup_steps
        progress = (step - warmup_steps) / (total_steps - warmup_steps)
        return lr_min + (lr_max - lr_min) * (1 + math.cos(math.pi * progress)) / 2

    def cosine_over_all(step, lr_max, warmup_steps, total_steps, lr_min):
        if step < warmup_steps:
            return lr_max * step / warmup_steps
        progress = min(step / total_steps, 1.0)
        return lr_min + (lr_max - lr_min) * (1 + math.cos(math.pi * progress)) / 2

    mistakes = {
        "leave out lr_min (a cosine from lr_max down to 0)": without_lr_min,
        "let the cosine go on after total_steps instead of staying at lr_min": not_flat,
        "measure the cosine's progress from step 0 instead of from the end of the warm-up": cosine_over_all,
    }
    _expect_schedule(impl.cosine_with_warmup, _cosine_reference, steps, mistakes=mistakes, **kwargs)
    _expect_schedule(impl.cosine_with_warmup, _cosine_reference, steps[:12].reshape(3, 4), **kwargs)


@exercise("cosine_with_warmup")
def test_cosine_with_warmup_peaks_exactly_at_the_end_of_warmup(impl):
    steps = np.arange(120)
    lr = run(impl.cosine_with_warmup, steps, **COSINE)
    peak = int(np.argmax(lr.value))
    expect(
        peak == 10 and lr.value[10] == lr.value.max(),
        f"{lr}: the largest rate is at step {peak}, expected step 10 = warmup_steps (value lr_max)",
    )
    rises = Call(np.diff(lr.value[:11]), f"{lr}: lr[t+1] - lr[t] during the warm-up (steps 0..10)")
    expect_close(rises, np.full(10, 0.03), rtol=1e-9, what="a straight line from 0 to lr_max")
    expect(
        bool(np.all(np.diff(lr.value[10:]) <= 1e-15)),
        f"{lr}: the rate goes up somewhere after the warm-up; it should only decrease to lr_min",
    )


@exercise("cosine_with_warmup")
@pytest.mark.parametrize("lr_min", [0.0, 0.02])
def test_cosine_with_warmup_flat_at_lr_min_after_the_end(impl, lr_min):
    steps = np.arange(200, 400, 7)  # total_steps = 200
    got = run(impl.cosine_with_warmup, steps, 0.4, 20, 200, lr_min)
    expect_close(got, np.full(steps.shape, lr_min), atol=1e-12, what="lr_min at and after total_steps")


@exercise("cosine_with_warmup")
def test_cosine_with_warmup_without_warmup(impl):
    # warmup_steps = 0: a plain half cosine from lr_max at step 0 to lr_min at step T
    steps = np.array([0, 25, 50, 75, 100, 150])
    want = 0.1 + 0.9 * (1 + np.cos(np.pi * np.minimum(steps, 100) / 100)) / 2
    expect_close(run(impl.cosine_with_warmup, steps, 1.0, 0, 100, 0.1), want, rtol=1e-12)


# ---------------------------------------------------------------------------------------------
# noam


@exercise("noam")
def test_noam_hand_values_of_the_paper(impl):
    # d_model = 512, warmup = 4000 (the paper's base model): the rate rises linearly from
    # 512^-0.5 * 4000^-1.5 at step 1 to 512^-0.5 * 4000^-0.5 = 6.99e-4 at step 4000
    steps = [1, 2, 2000, 4000, 16000]
    want = [
        1 / (math.sqrt(512) * 4000**1.5),
        2 / (math.sqrt(512) * 4000**1.5),
        2000 / (math.sqrt(512) * 4000**1.5),
        1 / math.sqrt(512 * 4000),
        1 / math.sqrt(512 * 16000),
    ]
    mistakes = {
        "leave out d_model ** -0.5": lambda s: min(s**-0.5, s * 4000**-1.5),
        "take the max of the two terms instead of the min": lambda s: (
            512**-0.5 * max(s**-0.5, s * 4000**-1.5)
        ),
        "use step ** 0.5 for step ** -0.5": lambda s: 512**-0.5 * min(s**0.5, s * 4000**-1.5),
    }
    _expect_rates_at(impl.noam, steps, want, mistakes=mistakes, d_model=512, warmup_steps=4000)


@exercise("noam")
@pytest.mark.parametrize("d_model, warmup_steps, factor", [(64, 7, 1.0), (512, 40, 2.0), (100, 1, 0.5)])
def test_noam_matches_definition(impl, d_model, warmup_steps, factor):
    steps = np.arange(1, 4 * warmup_steps + 10)

    def without_d_model(step, d_model, warmup_steps, factor):
        return _noam_reference(step, 1, warmup_steps, factor)

    def max_not_min(step, d_model, warmup_steps, factor):
        return factor * d_model**-0.5 * max(step**-0.5, step * warmup_steps**-1.5)

    def without_factor(step, d_model, warmup_steps, factor):
        return _noam_reference(step, d_model, warmup_steps)

    mistakes = {
        "leave out d_model ** -0.5": without_d_model,
        "take the max of the two terms instead of the min": max_not_min,
        "leave out factor": without_factor,
    }
    _expect_schedule(
        impl.noam,
        _noam_reference,
        steps,
        mistakes=mistakes,
        d_model=d_model,
        warmup_steps=warmup_steps,
        factor=factor,
    )


@exercise("noam")
def test_noam_linear_then_inverse_square_root(impl):
    steps = np.arange(1, 301)
    lr = run(impl.noam, steps, 256, 50)
    peak = int(steps[np.argmax(lr.value)])
    expect(peak == 50, f"{lr}: the largest rate is at step {peak}, expected step 50 = warmup_steps")
    slope = Call(lr.value[:50] / steps[:50], f"{lr}: lr / step over steps 1..50")
    expect_close(slope, np.full(50, 256**-0.5 * 50**-1.5), rtol=1e-10, what="constant during the warm-up")
    decay = Call(lr.value[49:] * np.sqrt(steps[49:]), f"{lr}: lr * sqrt(step) over steps 50..300")
    expect_close(decay, np.full(251, 256**-0.5), rtol=1e-10, what="constant after the warm-up")


@exercise("noam")
def test_noam_scales_with_factor_and_model_width(impl):
    steps = np.array([1, 10, 99, 100, 101, 1000])
    base = run(impl.noam, steps, 128, 100).value
    expect_close(
        run(impl.noam, steps, 128, 100, 3.0), 3 * base, rtol=1e-12, what="factor multiplies the rate"
    )
    expect_close(run(impl.noam, steps, 512, 100), base / 2, rtol=1e-12, what="4x d_model halves the rate")


# ---------------------------------------------------------------------------------------------
# helpers: initialisers


def _normal_tail(k: float) -> float:
    """P(|Z| > k) for a standard normal Z."""
    return math.erfc(k / math.sqrt(2))


def _expect_weight_matrix(fn, fan_in: int, fan_out: int) -> None:
    """fn(fan_in, fan_out, rng) returns a float64 array of shape (fan_in, fan_out), as x @ w needs."""
    got = run(fn, fan_in, fan_out, rng(0))
    expect_shape(got, (fan_in, fan_out))
    expect(got.value.dtype == np.float64, f"{got}: dtype {got.value.dtype}, expected float64")


def _expect_moments(call: Call, var: float, fourth: float, mistakes=None) -> None:
    """The sample mean is near 0 and the mean square near var, within 6 standard errors.

    fourth is E[x^4], so that the mean of x^2 has standard error sqrt((fourth - var^2) / n).
    mistakes: {phrase: the variance that mistake gives}, named when the sample matches it.
    """
    x = call.value.ravel()
    n = x.size
    mean, mean_sq = float(x.mean()), float(np.mean(x**2))
    expect(
        abs(mean) <= 6 * math.sqrt(var / n),
        f"{call}: mean {mean:.4g} over {n} draws, expected 0 (within {6 * math.sqrt(var / n):.2g})",
    )
    bound = 6 * math.sqrt((fourth - var**2) / n)
    found = (
        diagnosis(mean_sq, var, mistakes=mistakes, same=lambda a, b: abs(a - b) <= bound) if mistakes else ""
    )
    expect(
        abs(mean_sq - var) <= bound,
        (f"{found}\n" if found else "")
        + f"{call}: variance {mean_sq:.5g} over {n} draws, expected {var:.5g} (within {bound:.2g}); "
        f"std {math.sqrt(mean_sq):.4g}, expected {math.sqrt(var):.4g}",
    )


def _expect_frequency(call: Call, hits: np.ndarray, p: float, what: str) -> None:
    """The fraction of True in hits is p, within 6 binomial standard errors."""
    n = hits.size
    freq = float(hits.mean())
    bound = 6 * math.sqrt(p * (1 - p) / n)
    expect(
        abs(freq - p) <= bound,
        f"{call}: {what}: {freq:.4f} of {n} draws, expected {p:.4f} (within {bound:.4f})",
    )


def _expect_normal_shape(call: Call, std: float) -> None:
    """Bell-shaped like N(0, std^2): the right mass within 1 std, beyond 2 and beyond 3 std."""
    x = np.abs(call.value.ravel())
    _expect_frequency(call, x < std, 1 - _normal_tail(1), f"fraction within 1 std ({std:.4g}) of 0")
    _expect_frequency(call, x > 2 * std, _normal_tail(2), "fraction beyond 2 std (a plain normal has tails)")
    _expect_frequency(call, x > 3 * std, _normal_tail(3), "fraction beyond 3 std")


def _expect_uses_rng(fn, *args) -> None:
    """Same seed -> the same array; another seed -> another array (all randomness from rng);
    two calls on one generator -> two different arrays (the generator itself moves on)."""
    g = rng(6)
    first, second = run(fn, *args, g), run(fn, *args, g)
    expect(
        not np.array_equal(first.value, second.value),
        f"{first} twice on the same generator gave the same array; draw from that generator itself "
        "(not a new default_rng or a copy of it), so that it moves on",
    )
    a = run(fn, *args, rng(7))
    b = run(fn, *args, rng(7))
    expect(
        np.array_equal(a.value, b.value), f"{a} twice with rng(7) gave different arrays; draw from `rng` only"
    )
    c = run(fn, *args, rng(8))
    expect(
        not np.array_equal(a.value, c.value),
        f"{a} gave the same array with rng(7) and rng(8): draw the numbers from the `rng` argument",
    )


# ---------------------------------------------------------------------------------------------
# glorot_uniform


@exercise("glorot_uniform")
@pytest.mark.parametrize("fan_in, fan_out", [(3, 7), (120, 45), (1, 2)])
def test_glorot_uniform_shape_and_dtype(impl, fan_in, fan_out):
    _expect_weight_matrix(impl.glorot_uniform, fan_in, fan_out)


@exercise("glorot_uniform")
@pytest.mark.parametrize("fan_in, fan_out", [(300, 100), (60, 500)])
def test_glorot_uniform_variance(impl, fan_in, fan_out):
    a = math.sqrt(6 / (fan_in + fan_out))
    # uniform on [-a, a]: E[x^2] = a^2 / 3 = 2 / (fan_in + fan_out), E[x^4] = a^4 / 5
    mistakes = {
        "use sqrt(2 / (fan_in + fan_out)) as the bound a (that is the normal's std)": 2
        / (3 * (fan_in + fan_out)),
        "use fan_in alone, a = sqrt(6 / fan_in)": 2 / fan_in,
        "use a**2 = 6 / (fan_in + fan_out) as the bound": a**4 / 3,
    }
    _expect_moments(run(impl.glorot_uniform, fan_in, fan_out, rng(1)), a**2 / 3, a**4 / 5, mistakes=mistakes)


@exercise("glorot_uniform")
def test_glorot_uniform_fills_exactly_its_interval(impl):
    fan_in, fan_out = 150, 90
    a = math.sqrt(6 / (fan_in + fan_out))
    got = run(impl.glorot_uniform, fan_in, fan_out, rng(2))
    lo, hi = float(got.value.min()), float(got.value.max())
    expect(
        -a <= lo and hi <= a,
        f"{got}: values from {lo:.4f} to {hi:.4f}, outside [-a, a] with "
        f"a = sqrt(6 / (fan_in + fan_out)) = {a:.4f}",
    )
    # 13500 uniform draws all miss the outer 1% of the interval with probability 0.995^13500 ~ 1e-29
    expect(
        lo < -0.99 * a and hi > 0.99 * a,
        f"{got}: values from {lo:.4f} to {hi:.4f}, expected them to fill [-{a:.4f}, {a:.4f}] "
        "(a = sqrt(6 / (fan_in + fan_out)))",
    )


@exercise("glorot_uniform")
def test_glorot_uniform_is_flat(impl):
    fan_in, fan_out = 200, 250
    a = math.sqrt(6 / (fan_in + fan_out))
    got = run(impl.glorot_uniform, fan_in, fan_out, rng(3))
    # ten equal bins over [-a, a], each holding a tenth of the draws
    bins = np.minimum(((got.value.ravel() + a) / (2 * a) * 10).astype(int), 9)
    for k in range(10):
        _expect_frequency(got, bins == k, 0.1, f"fraction in bin {k} of 10 equal bins over [-a, a]")


@exercise("glorot_uniform")
def test_glorot_uniform_uses_the_generator(impl):
    _expect_uses_rng(impl.glorot_uniform, 30, 20)


# ---------------------------------------------------------------------------------------------
# glorot_normal


@exercise("glorot_normal")
@pytest.mark.parametrize("fan_in, fan_out", [(3, 7), (120, 45)])
def test_glorot_normal_shape_and_dtype(impl, fan_in, fan_out):
    _expect_weight_matrix(impl.glorot_normal, fan_in, fan_out)


@exercise("glorot_normal")
@pytest.mark.parametrize("fan_in, fan_out", [(300, 100), (60, 500)])
def test_glorot_normal_variance(impl, fan_in, fan_out):
    var = 2 / (fan_in + fan_out)
    mistakes = {
        "pass the variance 2 / (fan_in + fan_out) to rng.normal as the standard deviation": var**2,
        "use the uniform's bound sqrt(6 / (fan_in + fan_out)) as the standard deviation": 3 * var,
        "use He's variance 2 / fan_in": 2 / fan_in,
    }
    _expect_moments(run(impl.glorot_normal, fan_in, fan_out, rng(4)), var, 3 * var**2, mistakes=mistakes)


@exercise("glorot_normal")
def test_glorot_normal_is_bell_shaped(impl):
    # a uniform or a truncated normal of the same variance has the wrong tails
    got = run(impl.glorot_normal, 400, 250, rng(5))
    _expect_normal_shape(got, math.sqrt(2 / 650))


@exercise("glorot_normal")
def test_glorot_normal_uses_the_generator(impl):
    _expect_uses_rng(impl.glorot_normal, 30, 20)


# ---------------------------------------------------------------------------------------------
# he_normal


@exercise("he_normal")
@pytest.mark.parametrize("fan_in, fan_out", [(3, 7), (120, 45)])
def test_he_normal_shape_and_dtype(impl, fan_in, fan_out):
    _expect_weight_matrix(impl.he_normal, fan_in, fan_out)


@exercise("he_normal")
@pytest.mark.parametrize("fan_in, fan_out", [(400, 100), (50, 600)])
def test_he_normal_variance_uses_fan_in(impl, fan_in, fan_out):
    var = 2 / fan_in
    mistakes = {
        "use fan_out instead of fan_in": 2 / fan_out,
        "pass the variance 2 / fan_in to rng.normal as the standard deviation": var**2,
        "use Glorot's variance 2 / (fan_in + fan_out)": 2 / (fan_in + fan_out),
        "use 1 / fan_in, without the 2 that makes up for ReLU": 1 / fan_in,
    }
    _expect_moments(run(impl.he_normal, fan_in, fan_out, rng(6)), var, 3 * var**2, mistakes=mistakes)


@exercise("he_normal")
def test_he_normal_is_bell_shaped(impl):
    got = run(impl.he_normal, 300, 400, rng(9))
    _expect_normal_shape(got, math.sqrt(2 / 300))


@exercise("he_normal")
def test_he_normal_keeps_the_signal_through_relu_layers(impl):
    # What He initialisation is for: through ReLU layers (no bias) the mean square of the
    # pre-activations stays where it started. Over 3 wide layers a correct initialiser
    # keeps it within about 8% (the spread over seeds), so 0.5 and 2 are 8 spreads away.
    widths = [1000, 800, 600, 300]
    h = rng(10).normal(size=(400, widths[0]))  # pre-activations of a first layer
    start = float(np.mean(h**2))
    for l, (fan_in, fan_out) in enumerate(zip(widths[:-1], widths[1:])):
        w = run(impl.he_normal, fan_in, fan_out, rng(100 + l)).value
        h = np.maximum(h, 0) @ w  # ReLU halves the mean square, variance 2 / fan_in doubles it back
    ratio = float(np.mean(h**2)) / start
    # fan_out in place of fan_in multiplies it by 1000 / 300; a std of 2 / fan_in (instead of
    # its square root) shrinks it to ~1e-8
    expect(
        0.5 < ratio < 2.0,
        f"he_normal through ReLU layers of widths {widths}: the mean square of the signal changed "
        f"by a factor {ratio:.3g}, expected about 1 (weights of variance 2 / fan_in keep it)",
    )


@exercise("he_normal")
def test_he_normal_uses_the_generator(impl):
    _expect_uses_rng(impl.he_normal, 30, 20)


# ---------------------------------------------------------------------------------------------
# truncated_normal


def _truncated_moments() -> tuple[float, float, float]:
    """For Z ~ N(0, 1) conditioned on |Z| <= 2: (P(|Z| <= 2), E[Z^2], E[Z^4]).

    Integrating by parts, int_{-a}^{a} z^k phi(z) dz = -2 a^(k-1) phi(a) + (k - 1) int z^(k-2) phi,
    so E[Z^2] = 1 - 2 a phi(a) / P and E[Z^4] = 3 - 2 (a^3 + 3 a) phi(a) / P, with a = 2.
    """
    a = 2.0
    phi = math.exp(-a * a / 2) / math.sqrt(2 * math.pi)
    mass = math.erf(a / math.sqrt(2))
    return mass, 1 - 2 * a * phi / mass, 3 - 2 * (a**3 + 3 * a) * phi / mass


def _truncated_bin_probability(lo: float, hi: float) -> float:
    """P(lo <= Z < hi | |Z| <= 2) for a standard normal Z, with -2 <= lo < hi <= 2."""
    mass, _, _ = _truncated_moments()
    return (math.erf(hi / math.sqrt(2)) - math.erf(lo / math.sqrt(2))) / 2 / mass


STDS = [0.02, 1.0, 3.0]


@exercise("truncated_normal")
@pytest.mark.parametrize("shape", [(40, 25), (7,), (2, 3, 5)])
def test_truncated_normal_shape_and_dtype(impl, shape):
    got = run(impl.truncated_normal, shape, 0.5, rng(0))
    expect_shape(got, shape)
    expect(got.value.dtype == np.float64, f"{got}: dtype {got.value.dtype}, expected float64")


@exercise("truncated_normal")
@pytest.mark.parametrize("std", STDS)
def test_truncated_normal_stays_within_two_std(impl, std):
    got = run(impl.truncated_normal, (200, 500), std, rng(11))
    top = float(np.abs(got.value).max())
    expect(
        top <= 2 * std,
        f"{got}: max |x| = {top:.4g}, beyond 2 * std = {2 * std:.4g}; redraw every sample with "
        "|x| > 2 * std, until none is left (the bounds scale with std)",
    )
    # the density is still 0.054 / std at the bounds: 10^5 draws come within 1% of them
    expect(
        top > 0.99 * 2 * std,
        f"{got}: max |x| = {top:.4g}, expected draws up to 2 * std = {2 * std:.4g}; "
        "truncate at ±2 * std, not at ±2 nor at ±std",
    )


@exercise("truncated_normal")
def test_truncated_normal_does_not_pile_up_at_the_bounds(impl):
    std = 0.7
    got = run(impl.truncated_normal, (200_000,), std, rng(13))
    z = np.abs(got.value) / std
    # Clipping puts the 4.6% of draws beyond 2 std exactly on ±2 std: 5 times what belongs there.
    p = 2 * _truncated_bin_probability(1.9, 2.0)
    _expect_frequency(
        got,
        z >= 1.9,
        p,
        "fraction with |x| in [1.9 std, 2 std] (rejected draws must be redrawn, not clipped to the bound)",
    )
    at_bound = int(np.sum(z >= 2.0 - 1e-12))
    expect(at_bound <= 2, f"{got}: {at_bound} draws sit exactly on ±2 std; redraw them instead of clipping")


@exercise("truncated_normal")
def test_truncated_normal_exact_shape_after_rejection(impl):
    # every one of 10^5 entries must be a (redrawn) sample: none dropped, none left as 0 or nan
    got = run(impl.truncated_normal, (100, 1000), 1.0, rng(15))
    values = got.value
    expect_shape(got, (100, 1000))
    expect(bool(np.all(np.isfinite(values))), f"{got}: contains nan or inf")
    zeros = int(np.sum(values == 0.0))
    expect(zeros == 0, f"{got}: {zeros} entries are exactly 0; fill every entry with a redrawn sample")
    expect_equal(Call(len(np.unique(values)), f"number of distinct values in {got}"), values.size)


@exercise("truncated_normal")
def test_truncated_normal_histogram(impl):
    std = 1.5
    got = run(impl.truncated_normal, (300, 400), std, rng(14))
    z = got.value.ravel() / std
    edges = np.linspace(-2.0, 2.0, 9)
    for lo, hi in zip(edges[:-1], edges[1:]):
        inside = (z >= lo) & (z < hi) if hi < 2 else (z >= lo) & (z <= hi)
        p = _truncated_bin_probability(lo, hi)
        _expect_frequency(got, inside, p, f"fraction in [{lo:g} std, {hi:g} std)")


@exercise("truncated_normal")
def test_truncated_normal_uses_the_generator(impl):
    _expect_uses_rng(impl.truncated_normal, (30, 20), 0.1)


@exercise("truncated_normal")
@pytest.mark.parametrize("std", STDS)
def test_truncated_normal_variance(impl, std):
    # Var = std^2 * (1 - 4 phi(2) / P(|Z| <= 2)) = 0.7737 std^2
    mass, second, fourth = _truncated_moments()
    got = run(impl.truncated_normal, (400, 500), std, rng(12))
    a = 2 / std  # the bound ±2 in units of std
    phi = math.exp(-a * a / 2) / math.sqrt(2 * math.pi)
    mistakes = {
        "clip the draws to ±2 std instead of redrawing them": std**2 * (second * mass + 4 * (1 - mass)),
        "forget to multiply the draws by std": second,
        "truncate at ±2 instead of at ±2 std": std**2 * (1 - 2 * a * phi / math.erf(a / math.sqrt(2))),
        "draw from a plain normal, without truncating": std**2,
    }
    _expect_moments(got, second * std**2, fourth * std**4, mistakes=mistakes)
