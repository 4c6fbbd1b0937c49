# %% [markdown]
# # Chapter 2, part 5: learning-rate schedules and weight initialisers
#
# Reading: chapters/chapter2_neural_networks/part5_schedules_init.md
#
# Fill in each function, then run the cell below it: `check(fn)` runs that exercise's
# tests here and prints a verdict. `python -m grader chapter2/part5` grades the file.
#
# Schedules are pure functions of the step number. `step` is either a Python int (the
# result is then one number: a Python float, a NumPy float or a 0-d array, whatever
# float() accepts) or an integer array of steps (the result is then a float64 array of
# the same shape, one learning rate per step), so a whole schedule can be computed,
# plotted and tested in one call. Rates are compared to a relative 1e-12 for an int step
# and 1e-10 for an array of steps. Initialisers draw every random number from
# the generator they are given, so the same seed always gives the same weights, and two
# calls on one generator give two different arrays (the generator moves on).

# %%
import numpy as np
from jaxtyping import Float, Int

from grader.check import check

MAIN = __name__ == "__main__"

# A step: one int, or an integer array of steps of any shape.
Step = int | Int[np.ndarray, "*steps"]
# The learning rate(s): one number for an int step, else a float64 array shaped like `step`.
Rate = float | Float[np.ndarray, "*steps"]


# %%
def step_decay(step: Step, lr0: float, step_size: int, gamma: float) -> Rate:
    """Step decay: start at lr0 and multiply by gamma every step_size steps.

        lr(step) = lr0 * gamma ** floor(step / step_size)

    Steps count from 0 (the first update uses step 0): steps 0 .. step_size - 1 use lr0,
    steps step_size .. 2 * step_size - 1 use lr0 * gamma, and so on. This is PyTorch's
    StepLR, whose scheduler.step() is called once per epoch.
    """
    raise NotImplementedError("step_decay")


if MAIN:
    check(step_decay)


# %%
def exponential_decay(step: Step, lr0: float, gamma: float) -> Rate:
    """Exponential decay: multiply the learning rate by gamma at every step.

        lr(step) = lr0 * gamma ** step

    Steps count from 0, so lr(0) = lr0 and lr(t + 1) / lr(t) = gamma (PyTorch's
    ExponentialLR).
    """
    raise NotImplementedError("exponential_decay")


if MAIN:
    check(exponential_decay)


# %%
def cosine_with_warmup(
    step: Step, lr_max: float, warmup_steps: int, total_steps: int, lr_min: float = 0.0
) -> Rate:
    """Linear warm-up from 0 to lr_max, then a half cosine from lr_max down to lr_min.

    Steps count from 0. With w = warmup_steps and T = total_steps (0 <= w < T):

        step <= w:      lr = lr_max * step / w         (0 at step 0, exactly lr_max at step w)
        w <= step <= T: lr = lr_min + (lr_max - lr_min) * (1 + cos(pi * (step - w) / (T - w))) / 2
        step >= T:      lr = lr_min                    (flat after the end)

    The two formulas agree at step w, and the cosine reaches exactly lr_min at step T.
    warmup_steps = 0 means no warm-up: the schedule starts at lr_max at step 0.
    """
    raise NotImplementedError("cosine_with_warmup")


if MAIN:
    check(cosine_with_warmup)


# %%
def noam(step: Step, d_model: int, warmup_steps: int, factor: float = 1.0) -> Rate:
    """The learning rate of "Attention Is All You Need" (section 5.3), the "Noam" schedule:

        lr(step) = factor * d_model ** -0.5 * min(step ** -0.5, step * warmup_steps ** -1.5)

    Steps count from 1 (step 0 would divide by zero); step >= 1. The second term wins
    while step < warmup_steps (a linear increase), the first after it (a decay as
    1 / sqrt(step)); the two meet at step = warmup_steps, the peak.
    """
    raise NotImplementedError("noam")


if MAIN:
    check(noam)


# %%
def glorot_uniform(
    fan_in: int, fan_out: int, rng: np.random.Generator
) -> Float[np.ndarray, "fan_in fan_out"]:
    """Glorot (Xavier) uniform initialisation of a (fan_in, fan_out) weight matrix.

    Entries are independent and uniform on [-a, a] with a = sqrt(6 / (fan_in + fan_out)),
    so their variance is a**2 / 3 = 2 / (fan_in + fan_out). The matrix maps fan_in inputs
    to fan_out outputs, as in linear(x, w, b) = x @ w + b. All randomness comes from rng.
    """
    raise NotImplementedError("glorot_uniform")


if MAIN:
    check(glorot_uniform)


# %%
def glorot_normal(fan_in: int, fan_out: int, rng: np.random.Generator) -> Float[np.ndarray, "fan_in fan_out"]:
    """Glorot (Xavier) normal initialisation of a (fan_in, fan_out) weight matrix.

    Entries are independent draws from N(0, 2 / (fan_in + fan_out)): a plain normal with
    standard deviation sqrt(2 / (fan_in + fan_out)), not truncated (as PyTorch's
    xavier_normal_). All randomness comes from rng.
    """
    raise NotImplementedError("glorot_normal")


if MAIN:
    check(glorot_normal)


# %%
def he_normal(fan_in: int, fan_out: int, rng: np.random.Generator) -> Float[np.ndarray, "fan_in fan_out"]:
    """He (Kaiming) normal initialisation of a (fan_in, fan_out) weight matrix, for ReLU layers.

    Entries are independent draws from N(0, 2 / fan_in): a plain normal with standard
    deviation sqrt(2 / fan_in), not truncated (the tests check its tails), where fan_in
    is the number of inputs of each output unit (PyTorch's kaiming_normal_ with its
    default mode="fan_in"). All randomness comes from rng.
    """
    raise NotImplementedError("he_normal")


if MAIN:
    check(he_normal)


# %%
def truncated_normal(
    shape: tuple[int, ...], std: float, rng: np.random.Generator
) -> Float[np.ndarray, "*shape"]:
    """Samples of N(0, std**2) conditioned on |x| <= 2 * std, in an array of the given shape.

    Every draw that lands beyond two standard deviations is thrown away and drawn again
    (rejection), until none is left; it is never clipped to the boundary. `std` is the
    standard deviation of the normal before truncation, so the samples' own standard
    deviation is about 0.88 * std. The bounds are ±2 * std, not ±2 (unlike the defaults of
    PyTorch's trunc_normal_). All randomness comes from rng.
    """
    raise NotImplementedError("truncated_normal")


if MAIN:
    check(truncated_normal)
