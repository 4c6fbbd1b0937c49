"""What course tests are written with: the exercise marker, calls that watch their inputs,
and comparisons whose failure messages teach.

    @exercise("softmax")
    def test_softmax_rows_sum_to_one(impl):
        x = rng(0).normal(size=(5, 3))
        got = run(impl.softmax, x)
        expect_close(got, np.exp(x) / np.exp(x).sum(-1, keepdims=True))

A failure reads, for example (the preview is the last axis around the worst entry):
    softmax(x=float64[5, 3]): max abs error 0.41 at [2, 1] (got 0.5, want 0.09);
    got[2, :] = [0.1 0.5 0.4] want[2, :] = [0.2 0.09 0.71]

Tests raise AssertionError with such a message themselves (never a bare `assert`), take
only the `impl` fixture (plus parametrized arguments), and belong to exactly one exercise.
"""

from __future__ import annotations

import inspect
import warnings
from dataclasses import dataclass
from typing import Any, Callable, Mapping, Sequence

import numpy as np
import pytest

__all__ = [
    "exercise",
    "rng",
    "run",
    "run_without_warnings",
    "Call",
    "describe",
    "expect",
    "expect_close",
    "expect_equal",
    "expect_shape",
    "expect_parts",
    "numeric_grad",
    "numeric_grads",
    "numeric_param_grads",
    "Mistakes",
    "diagnosis",
]

# A test's named mistakes: each key completes "this is what you get if you …" ("forget
# to divide by N"), each value is that mistake's answer for the test's own inputs, or a
# function of no arguments returning it (computed only after a failure).
Mistakes = Mapping[str, Any]


def exercise(name: str, timeout: float | None = None) -> pytest.MarkDecorator:
    """Mark a test as one of exercise `name`'s; `timeout` (seconds) raises the default limit."""
    return pytest.mark.exercise(name, timeout=timeout)


def rng(seed: int) -> np.random.Generator:
    return np.random.default_rng(seed)


def describe(value: Any) -> str:
    """A short description of an argument or a result: float64[5, 3], 2.5, list[4]…"""
    if isinstance(value, np.ndarray):
        return f"{value.dtype}[{', '.join(map(str, value.shape))}]"
    if isinstance(value, (list, tuple)):
        if len(value) <= 4 and all(not isinstance(v, (list, tuple)) for v in value):
            inner = ", ".join(describe(v) for v in value)
            return f"({inner})" if isinstance(value, tuple) else f"[{inner}]"
        return f"{type(value).__name__}[{len(value)}]"
    if isinstance(value, (float, np.floating)):
        return f"{float(value):.6g}"
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def _snapshot(value: Any) -> Any:
    if isinstance(value, np.ndarray):
        return value.copy()
    if isinstance(value, (list, tuple)):
        return type(value)(_snapshot(v) for v in value)
    return None


def _same(before: Any, after: Any) -> bool:
    if isinstance(before, np.ndarray):
        return (
            isinstance(after, np.ndarray)
            and before.shape == after.shape
            and bool(np.array_equal(before, after, equal_nan=True))
        )
    if isinstance(before, (list, tuple)):
        return len(before) == len(after) and all(_same(b, a) for b, a in zip(before, after))
    return True


@dataclass
class Call:
    """A finished call: what came back, and how to say what was called."""

    value: Any
    text: str

    def __str__(self) -> str:
        return self.text


def run(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Call:
    """Call fn, failing with a clear message if it changes an array argument in place."""
    name = getattr(fn, "__name__", "function")
    try:
        named = dict(inspect.signature(fn).bind_partial(*args, **kwargs).arguments)
        shown = [f"{k}={describe(v)}" for k, v in named.items()]
    except (TypeError, ValueError):
        named = {f"argument {i + 1}": a for i, a in enumerate(args)} | kwargs
        shown = [describe(a) for a in args] + [f"{k}={describe(v)}" for k, v in kwargs.items()]
    text = f"{name}({', '.join(shown)})"
    snapshots = [(label, arg, _snapshot(arg)) for label, arg in named.items()]
    value = fn(*args, **kwargs)
    for label, arg, before in snapshots:
        if before is not None and not _same(before, arg):
            raise AssertionError(
                f"{text} changed its input {label} in place; work on a copy and return a new array"
            )
    return Call(value, text)


def run_without_warnings(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Call:
    """run(), with NumPy's overflow, invalid-value and divide-by-zero warnings as errors.

    For tests of numerical stability: a naive exp overflows with a warning long before
    its answer is visibly wrong. Underflow to 0 stays allowed: it is often the right answer.
    """
    with warnings.catch_warnings(), np.errstate(over="raise", invalid="raise", divide="raise"):
        warnings.simplefilter("error", RuntimeWarning)
        return run(fn, *args, **kwargs)


def expect(condition: bool, message: str) -> None:
    if not condition:
        raise AssertionError(message)


def _values(a: np.ndarray, limit: int = 6) -> str:
    flat = np.asarray(a).ravel()
    shown = np.array2string(flat[:limit], precision=4, separator=" ", suppress_small=True)
    return shown[:-1] + " …]" if flat.size > limit else shown


def _entry(value: Any) -> str:
    if isinstance(value, (float, np.floating, complex, np.complexfloating)):
        return f"{value:.6g}"
    return repr(str(value)) if isinstance(value, str) else str(value)


def _around(got: np.ndarray, want: np.ndarray, at: tuple[int, ...], width: int = 6) -> str:
    """'got[1, 2:8] = […] want[1, 2:8] = […]': both arrays along their last axis, in a
    window of `width` entries around index `at` (the worst entry)."""
    try:
        return _window(got, want, at, width)
    except (IndexError, ValueError, TypeError):  # a preview must never hide the verdict
        return f"got {_values(got)} want {_values(want)}"


def _window(got: np.ndarray, want: np.ndarray, at: tuple[int, ...], width: int) -> str:
    if got.ndim == 0:
        return f"got {_entry(got[()])} want {_entry(want[()])}"
    n, k = got.shape[-1], at[-1]
    lo = max(0, min(k - width // 2, n - width))
    hi = min(n, lo + width)
    last = ":" if (lo, hi) == (0, n) else f"{lo}:{hi}"
    label = "[" + ", ".join([*map(str, at[:-1]), last]) + "]" if got.ndim > 1 or last != ":" else " "
    window = tuple(at[:-1]) + (slice(lo, hi),)
    eq = " = " if label != " " else ""
    return f"got{label}{eq}{_values(got[window], width)} want{label}{eq}{_values(want[window], width)}"


def _as_result_array(call: Call, want: np.ndarray) -> np.ndarray:
    got = call.value
    if isinstance(got, np.ndarray):
        return got
    if want.ndim == 0 and isinstance(got, (int, float, np.number)) and not isinstance(got, bool):
        return np.asarray(got)
    raise AssertionError(
        f"{call}: returned {type(got).__name__} {describe(got)}, expected "
        + ("a number" if want.ndim == 0 else f"an ndarray of shape {want.shape}")
    )


def expect_shape(call: Call, shape: tuple[int, ...]) -> None:
    got = call.value
    got_shape = getattr(got, "shape", None)
    if got_shape != tuple(shape):
        raise AssertionError(f"{call}: returned shape {got_shape}, expected {tuple(shape)}")


def _close(a: Any, b: Any, rtol: float, atol: float) -> bool:
    """a and b are numeric arrays of one shape whose values agree within the tolerances."""
    try:
        a, b = np.asarray(a), np.asarray(b)
        if a.shape != b.shape or a.dtype.kind not in "biufc" or b.dtype.kind not in "biufc":
            return False
        return bool(np.allclose(a, b, rtol=rtol, atol=atol, equal_nan=True))
    except (TypeError, ValueError):
        return False


def _equal(a: Any, b: Any) -> bool:
    if isinstance(b, np.ndarray) or isinstance(a, np.ndarray):
        try:
            a, b = np.asarray(a), np.asarray(b)
            return a.shape == b.shape and a.dtype.kind == b.dtype.kind and bool(np.array_equal(a, b))
        except (TypeError, ValueError):
            return False
    try:
        return bool(a == b)
    except Exception:  # a learner's object whose == raises
        return False


def diagnosis(got: Any, want: Any, mistakes: Mistakes | None, same: Callable[[Any, Any], bool]) -> str:
    """'This is what you get if you <mistake>.' naming every named mistake whose answer
    `got` matches (by `same`), or "" when none does.

    A mistake whose answer also matches `want` says nothing about the learner's result on
    these inputs, so it is never named; when several mistakes give the learner's answer,
    all of them are named ("… if you A, or if you B."), since any one could be the cause.
    """
    found = []
    for phrase, answer in (mistakes or {}).items():
        try:
            wrong = answer() if callable(answer) else answer
        except Exception:  # a wrong answer that cannot be formed here names nothing
            continue
        if same(got, wrong) and not same(want, wrong):
            found.append(phrase)
    return f"This is what you get if you {', or if you '.join(found)}." if found else ""


def _diagnosed(
    failure: AssertionError, got: Any, want: Any, mistakes: Mistakes | None, same
) -> AssertionError:
    found = diagnosis(got, want, mistakes, same) if mistakes else ""
    return AssertionError(f"{found}\n{failure}") if found else failure


def expect_parts(call: Call, names: Sequence[str], shapes: Sequence[Any] | None = None) -> tuple:
    """The tuple a function returned, after checking its length (one element per name) and,
    where `shapes` gives one (not None), each element's shape."""
    value = call.value
    expect(
        isinstance(value, tuple) and len(value) == len(names),
        f"{call}: returned {type(value).__name__}; expected a tuple ({', '.join(names)})",
    )
    for name, got, shape in zip(names, value, shapes or [None] * len(names)):
        if shape is not None:
            expect(
                getattr(got, "shape", None) == shape,
                f"{call}: {name} has shape {getattr(got, 'shape', None)}, expected {shape}",
            )
    return value


def expect_close(
    call: Call,
    want: Any,
    *,
    rtol: float = 1e-6,
    atol: float = 1e-9,
    what: str = "",
    mistakes: Mistakes | None = None,
) -> None:
    """The result matches `want` in type, shape, dtype kind and value (within tolerances).

    `what` names the part of the result being compared ("the gradient", "dW").
    `mistakes` names known wrong answers: when the result fails and matches one of them
    within the same tolerances, the message says first which mistake gives it.
    """
    try:
        _expect_close(call, want, rtol=rtol, atol=atol, what=what)
    except AssertionError as failure:
        same = lambda a, b: _close(a, b, rtol, atol)  # noqa: E731
        raise _diagnosed(failure, call.value, want, mistakes, same) from None


def _expect_close(call: Call, want: Any, *, rtol: float, atol: float, what: str) -> None:
    want = np.asarray(want)
    got = _as_result_array(call, want)
    label = f"{call}{': ' + what if what else ''}"
    if got.shape != want.shape:
        raise AssertionError(f"{label}: shape {got.shape}, expected {want.shape}")
    if want.dtype.kind == "f" and got.dtype.kind not in "f":
        raise AssertionError(f"{label}: dtype {got.dtype}, expected floating point ({want.dtype})")
    if want.dtype.kind == "c" and got.dtype.kind != "c":
        raise AssertionError(f"{label}: dtype {got.dtype}, expected complex ({want.dtype})")
    if want.dtype.kind in "iub" and got.dtype.kind != want.dtype.kind:
        raise AssertionError(f"{label}: dtype {got.dtype}, expected {want.dtype}")
    # Complex results compare as complex (|got - want| is the modulus of the difference).
    wide = np.complex128 if "c" in (want.dtype.kind, got.dtype.kind) else np.float64
    got_f = got.astype(wide)
    want_f = want.astype(wide)
    bad_finite = ~np.isfinite(got_f) & np.isfinite(want_f)
    if bad_finite.any():
        where = tuple(int(i) for i in np.argwhere(bad_finite)[0])
        raise AssertionError(
            f"{label}: got {got_f[where]} at {list(where)} where {want_f[where]:.6g} was expected "
            "(overflow or division by zero?)"
        )
    if not np.allclose(got_f, want_f, rtol=rtol, atol=atol, equal_nan=True):
        with np.errstate(invalid="ignore"):  # inf - inf where both are infinite
            err = np.where(np.isnan(want_f), 0.0, np.abs(got_f - want_f))
        err = np.nan_to_num(err, nan=0.0, posinf=np.inf)
        # The entry that fails worst is the one furthest past its own allowance, which with
        # a relative tolerance need not be the one with the largest absolute error.
        allowed = atol + rtol * np.abs(np.nan_to_num(want_f, nan=0.0, posinf=0.0, neginf=0.0))
        with np.errstate(divide="ignore", invalid="ignore"):
            excess = np.where(
                allowed > 0, err / np.where(allowed > 0, allowed, 1.0), np.where(err > 0, np.inf, 0.0)
            )
        worst_at = tuple(int(i) for i in np.unravel_index(int(np.argmax(excess)), err.shape))
        at = f" at {list(worst_at)} (got {_entry(got_f[worst_at])}, want {_entry(want_f[worst_at])})"
        largest = float(err.max())
        if err[worst_at] < largest:
            head = (
                f"error {float(err[worst_at]):.3g}{at}, where {float(allowed[worst_at]):.3g} is allowed "
                f"(rtol {rtol:g}, atol {atol:g}); max abs error {largest:.3g}"
            )
        else:
            head = f"max abs error {largest:.3g}{at if err.ndim else ''}"
        raise AssertionError(f"{label}: {head}; {_around(got_f, want_f, worst_at)}")


def expect_equal(call: Call, want: Any, *, what: str = "", mistakes: Mistakes | None = None) -> None:
    """The result equals `want` exactly (integers, booleans, indices, Python values).

    `mistakes` as in expect_close, matched exactly.
    """
    try:
        _expect_equal(call, want, what=what)
    except AssertionError as failure:
        raise _diagnosed(failure, call.value, want, mistakes, _equal) from None


def _expect_equal(call: Call, want: Any, *, what: str) -> None:
    label = f"{call}{': ' + what if what else ''}"
    if isinstance(want, np.ndarray):
        got = _as_result_array(call, want)
        if got.shape != want.shape:
            raise AssertionError(f"{label}: shape {got.shape}, expected {want.shape}")
        if got.dtype.kind != want.dtype.kind:
            raise AssertionError(f"{label}: dtype {got.dtype}, expected {want.dtype}")
        if not np.array_equal(got, want):
            if got.ndim == 0:
                raise AssertionError(f"{label}: got {_entry(got[()])}, expected {_entry(want[()])}")
            wrong = np.argwhere(got != want)
            first = tuple(int(i) for i in wrong[0]) if wrong.size else (0,) * got.ndim
            at = f" (got {_entry(got[first])}, want {_entry(want[first])})"
            raise AssertionError(
                f"{label}: {len(wrong)} of {want.size} entries differ, first at {list(first)}{at}; "
                f"{_around(got, want, first)}"
            )
    elif call.value != want:
        raise AssertionError(f"{label}: got {describe(call.value)}, expected {describe(want)}")


def numeric_grad(f: Callable[[np.ndarray], float], x: np.ndarray, eps: float = 1e-6) -> np.ndarray:
    """Central differences of a scalar function at x (float64), for checking gradients."""
    x = np.array(x, dtype=np.float64)
    grad = np.zeros_like(x)
    for i in np.ndindex(x.shape):
        old = x[i]
        x[i] = old + eps
        up = float(f(x))
        x[i] = old - eps
        down = float(f(x))
        x[i] = old
        grad[i] = (up - down) / (2 * eps)
    return grad


def numeric_grads(
    loss: Callable[..., float], args: Sequence[np.ndarray], eps: float = 1e-6
) -> list[np.ndarray]:
    """Central differences of loss(*args) with respect to each argument in turn, the others
    held fixed: one gradient per argument, in order (each as numeric_grad gives it)."""

    def wrt(k: int) -> Callable[[np.ndarray], float]:
        def f(value: np.ndarray) -> float:
            changed = list(args)
            changed[k] = value
            return loss(*changed)

        return f

    return [numeric_grad(wrt(k), arg, eps) for k, arg in enumerate(args)]


def numeric_param_grads(
    loss: Callable[[dict[str, np.ndarray]], float],
    params: Mapping[str, np.ndarray],
    keys: Sequence[str] | None = None,
    eps: float = 1e-6,
) -> dict[str, np.ndarray]:
    """Central differences of loss(params) with respect to each entry of the dict params (or
    only the given keys), the others held fixed: one gradient per key, as numeric_grad gives it."""

    def wrt(key: str) -> Callable[[np.ndarray], float]:
        return lambda value: loss({**params, key: value})

    return {key: numeric_grad(wrt(key), params[key], eps) for key in (params if keys is None else keys)}
