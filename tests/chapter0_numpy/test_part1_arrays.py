"""Tests for chapter 0, part 1: arrays, indexing and broadcasting.

Expected values come from hand-checked small cases, from loops over Python floats kept
in this file (math.fsum), and from invariances (a distance does not change when both
point sets move; a standardised column does not change when the column is rescaled).
Every array has a different size on every axis, so a reduction over the wrong axis or a
missing transpose changes the shape or the values.
"""

import math

import numpy as np
import pytest

from grader.testkit import Call, exercise, expect, expect_close, expect_equal, rng, run, run_without_warnings


def _expect_float32(call: Call, want: np.ndarray, atol: float = 1e-6) -> None:
    """float32 in, float32 out, with values to float32 precision."""
    got = call.value
    expect(
        isinstance(got, np.ndarray) and got.dtype == np.float32,
        f"{call}: dtype {getattr(got, 'dtype', type(got).__name__)}, expected float32 "
        "(float32 in, float32 out: write constants as Python numbers, do not convert to float64)",
    )
    expect_close(call, want, rtol=1e-5, atol=atol, what="float32 input")


# --- normalize_rows -----------------------------------------------------------------------


def _normalize_rows_loops(x: np.ndarray) -> np.ndarray:
    out = []
    for row in x.tolist():
        norm = math.sqrt(math.fsum(v * v for v in row))
        out.append([v / norm if norm > 0 else 0.0 for v in row])
    return np.array(out).reshape(x.shape)


@exercise("normalize_rows")
@pytest.mark.parametrize("shape", [(5, 3), (2, 7)])
def test_normalize_rows_matches_loops(impl, shape):
    x = rng(10).normal(size=shape) * 4
    expect_close(
        run(impl.normalize_rows, x),
        _normalize_rows_loops(x),
        rtol=1e-12,
        atol=1e-15,
        mistakes={
            "divide by the column norms (axis=0) instead of the row norms": lambda: (
                x / np.linalg.norm(x, axis=0, keepdims=True)
            ),
            "divide by the squared norm": lambda: x / (x**2).sum(axis=1, keepdims=True),
            "add 1e-8 to the norm (x / (norm + 1e-8))": lambda: (
                x / (np.linalg.norm(x, axis=1, keepdims=True) + 1e-8)
            ),
        },
    )


@exercise("normalize_rows")
def test_normalize_rows_hand_case_with_zero_row(impl):
    x = np.array([[3.0, 4.0, 0.0], [0.0, 0.0, 0.0], [-2.0, 0.0, 0.0], [1.0, 2.0, 2.0]])
    want = np.array([[0.6, 0.8, 0.0], [0.0, 0.0, 0.0], [-1.0, 0.0, 0.0], [1 / 3, 2 / 3, 2 / 3]])
    expect_close(run_without_warnings(impl.normalize_rows, x), want, rtol=1e-12, atol=1e-15)


@exercise("normalize_rows")
def test_normalize_rows_all_zero_input(impl):
    x = np.zeros((3, 2))
    got = run_without_warnings(impl.normalize_rows, x)
    expect_close(got, np.zeros((3, 2)), atol=0)
    expect(
        not np.shares_memory(got.value, x),
        f"{got}: returned x itself for an all-zero x; return a new array (x / ..., or x.copy())",
    )


@exercise("normalize_rows")
def test_normalize_rows_float32_stays_float32(impl):
    x = (rng(12).normal(size=(4, 3)) * 4).astype(np.float32)
    x[1] = 0.0
    _expect_float32(run_without_warnings(impl.normalize_rows, x), _normalize_rows_loops(x.astype(np.float64)))


@exercise("normalize_rows")
def test_normalize_rows_tiny_rows_are_exact(impl):
    # A row of length 5e-7 must still come out with length 1: adding an eps to the norm
    # (x / (norm + 1e-8)) is off by 2% here.
    x = np.array([[3e-7, 4e-7], [0.0, -2e-9], [6.0, 8.0]])
    want = np.array([[0.6, 0.8], [0.0, -1.0], [0.6, 0.8]])
    expect_close(
        run_without_warnings(impl.normalize_rows, x),
        want,
        rtol=1e-12,
        atol=1e-15,
        mistakes={
            "add 1e-8 to the norm (x / (norm + 1e-8))": lambda: (
                x / (np.linalg.norm(x, axis=1, keepdims=True) + 1e-8)
            )
        },
    )


@exercise("normalize_rows")
def test_normalize_rows_unit_length_same_direction(impl):
    x = rng(11).normal(size=(6, 4)) * np.array([[0.01], [1.0], [100.0], [3.0], [0.5], [7.0]])
    got = run(impl.normalize_rows, x)
    out = np.asarray(got.value)
    expect(out.shape == x.shape, f"{got}: shape {out.shape}, expected {x.shape}")
    lengths = Call(np.sqrt((out**2).sum(axis=1)), f"row lengths of {got}")
    expect_close(lengths, np.ones(6), rtol=1e-12)
    rescaled = Call(out * np.linalg.norm(x, axis=1, keepdims=True), f"{got} times the row norms of x")
    expect_close(rescaled, x, rtol=1e-12, what="should give back x")


# --- standardize_columns ------------------------------------------------------------------


def _standardize_loops(x: np.ndarray, eps: float) -> np.ndarray:
    cols = []
    n = x.shape[0]
    for col in x.T.tolist():
        mean = math.fsum(col) / n
        var = math.fsum((v - mean) ** 2 for v in col) / n  # population variance, ddof=0
        cols.append([(v - mean) / math.sqrt(var + eps) for v in col])
    return np.array(cols).T


@exercise("standardize_columns")
@pytest.mark.parametrize("shape", [(6, 3), (4, 5)])
def test_standardize_columns_matches_loops(impl, shape):
    x = rng(20).normal(size=shape) * np.arange(1, shape[1] + 1) + np.arange(shape[1]) * 10
    expect_close(
        run(impl.standardize_columns, x),
        _standardize_loops(x, 1e-8),
        rtol=1e-9,
        mistakes={
            "standardise each row (axis=1) instead of each column": lambda: _standardize_loops(x.T, 1e-8).T,
            "forget to subtract the mean": lambda: x / np.sqrt(x.var(axis=0) + 1e-8),
            "use the sample variance (ddof=1) instead of the population variance": lambda: (
                (x - x.mean(axis=0)) / np.sqrt(x.var(axis=0, ddof=1) + 1e-8)
            ),
            "add eps outside the square root (std + eps)": lambda: (
                (x - x.mean(axis=0)) / (x.std(axis=0) + 1e-8)
            ),
        },
    )


@exercise("standardize_columns")
def test_standardize_columns_float32_stays_float32(impl):
    x = (rng(22).normal(size=(6, 3)) * 3 + 5).astype(np.float32)
    got = run(impl.standardize_columns, x)
    _expect_float32(got, _standardize_loops(x.astype(np.float64), 1e-8), atol=1e-5)
    expect(not np.shares_memory(got.value, x), f"{got}: the result shares memory with x; return a new array")


@exercise("standardize_columns")
def test_standardize_columns_hand_case_ddof0(impl):
    # column 0: mean 2.5, population variance 1.25 (the sample variance would be 5/3)
    # column 1: mean 2, deviations (-2, -2, 4, 0), population variance 24 / 4 = 6
    x = np.array([[1.0, 0.0], [2.0, 0.0], [3.0, 6.0], [4.0, 2.0]])
    want = np.array([[-1.5, -2.0], [-0.5, -2.0], [0.5, 4.0], [1.5, 0.0]]) / np.sqrt([1.25, 6.0])
    expect_close(
        run(impl.standardize_columns, x, 0.0),
        want,
        rtol=1e-12,
        mistakes={
            "use the sample variance (ddof=1) instead of the population variance": lambda: (
                (x - x.mean(axis=0)) / x.std(axis=0, ddof=1)
            )
        },
    )


@exercise("standardize_columns")
def test_standardize_columns_constant_column_is_zero(impl):
    x = np.array([[1.0, 5.0, 2.0], [3.0, 5.0, -2.0], [2.0, 5.0, 0.0], [6.0, 5.0, 1.0], [0.0, 5.0, 4.0]])
    got = run_without_warnings(impl.standardize_columns, x)
    expect_close(got, _standardize_loops(x, 1e-8), rtol=1e-9)
    expect(np.all(np.asarray(got.value)[:, 1] == 0), f"{got}: the constant column 1 should be all zeros")


@exercise("standardize_columns")
def test_standardize_columns_uses_eps_inside_the_sqrt(impl):
    # column variances are 1 and 4; with eps = 3 the divisors are sqrt(4) = 2 and sqrt(7)
    x = np.array([[1.0, 10.0], [-1.0, 14.0], [1.0, 10.0], [-1.0, 14.0]])
    want = np.array([[1.0, -2.0], [-1.0, 2.0], [1.0, -2.0], [-1.0, 2.0]]) / np.array([2.0, math.sqrt(7)])
    expect_close(
        run(impl.standardize_columns, x, 3.0),
        want,
        rtol=1e-12,
        mistakes={
            "add eps outside the square root (std + eps)": np.array(
                [[1.0, -2.0], [-1.0, 2.0], [1.0, -2.0], [-1.0, 2.0]]
            )
            / np.array([4.0, 5.0]),
        },
    )


@exercise("standardize_columns")
def test_standardize_columns_ignores_column_shift_and_scale(impl):
    x = rng(21).normal(size=(7, 4))
    moved = x * np.array([2.0, 0.5, 30.0, 1.0]) + np.array([-3.0, 100.0, 0.25, 7.0])
    got = run(impl.standardize_columns, moved, 0.0)
    expect_close(got, _standardize_loops(x, 0.0), rtol=1e-9, atol=1e-12)
    out = np.asarray(got.value)
    expect_close(Call(out.mean(axis=0), f"column means of {got}"), np.zeros(4), atol=1e-12)
    expect_close(Call(out.var(axis=0), f"column variances (ddof=0) of {got}"), np.ones(4), rtol=1e-9)


# --- pairwise_sq_distances ----------------------------------------------------------------


def _sq_distances_loops(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.array([[math.fsum((p - q) ** 2 for p, q in zip(u, v)) for v in b.tolist()] for u in a.tolist()])


@exercise("pairwise_sq_distances")
@pytest.mark.parametrize("n, m, d", [(5, 3, 4), (2, 7, 1), (1, 4, 3), (6, 2, 9)])
def test_pairwise_sq_distances_matches_loops(impl, n, m, d):
    g = rng(30 + n)
    a, b = g.normal(size=(n, d)), g.normal(size=(m, d)) + 0.5
    want = _sq_distances_loops(a, b)
    expect_close(
        run(impl.pairwise_sq_distances, a, b),
        want,
        rtol=1e-9,
        atol=1e-12,
        mistakes={
            "return the distances instead of their squares": np.sqrt(want),
            "subtract a_i . b_j once instead of twice (||a||^2 + ||b||^2 - a.b)": want + a @ b.T,
        },
    )


@exercise("pairwise_sq_distances")
def test_pairwise_sq_distances_hand_case(impl):
    a = np.array([[0.0, 0.0], [1.0, 1.0], [3.0, 4.0]])
    b = np.array([[0.0, 0.0], [3.0, 0.0]])
    want = np.array([[0.0, 9.0], [2.0, 5.0], [25.0, 16.0]])
    expect_close(
        run(impl.pairwise_sq_distances, a, b),
        want,
        rtol=1e-12,
        mistakes={
            "return the distances instead of their squares": np.sqrt(want),
            "subtract a_i . b_j once instead of twice (||a||^2 + ||b||^2 - a.b)": want + a @ b.T,
        },
    )


@exercise("pairwise_sq_distances")
def test_pairwise_sq_distances_float32_stays_float32(impl):
    g = rng(33)
    a, b = g.normal(size=(5, 3)).astype(np.float32), g.normal(size=(4, 3)).astype(np.float32)
    want = _sq_distances_loops(a.astype(np.float64), b.astype(np.float64))
    _expect_float32(run(impl.pairwise_sq_distances, a, b), want, atol=1e-5)


@exercise("pairwise_sq_distances")
def test_pairwise_sq_distances_never_negative(impl):
    # Points far from the origin, and b reuses 20 rows of a: the true distances there are 0,
    # and ||a||^2 + ||b||^2 - 2 a.b is left with round-off of either sign (about 1e-11).
    g = rng(31)
    a = 100.0 + g.normal(size=(30, 8))
    b = a[g.permutation(30)[:20]]
    got = run(impl.pairwise_sq_distances, a, b)
    out = np.asarray(got.value)
    expect_close(got, _sq_distances_loops(a, b), rtol=1e-9, atol=1e-8)
    expect(
        bool(np.all(out >= 0)),
        f"{got}: {int((out < 0).sum())} negative entries (smallest {out.min():.3g}); squared "
        "distances are never negative: clip round-off with np.maximum(d2, 0)",
    )


@exercise("pairwise_sq_distances")
def test_pairwise_sq_distances_swap_and_shift(impl):
    g = rng(32)
    a, b = g.normal(size=(4, 3)), g.normal(size=(6, 3))
    forward = run(impl.pairwise_sq_distances, a, b)
    backward = run(impl.pairwise_sq_distances, b, a)
    expect_close(
        backward, np.asarray(forward.value).T, rtol=1e-9, atol=1e-12, what=f"the transpose of {forward}"
    )
    shift = np.array([5.0, -2.0, 0.5])
    moved = run(impl.pairwise_sq_distances, a + shift, b + shift)
    expect_close(moved, np.asarray(forward.value), rtol=1e-9, atol=1e-9, what="unchanged when both sets move")


# --- one_hot ------------------------------------------------------------------------------


@exercise("one_hot")
def test_one_hot_hand_case(impl):
    # class 4 never occurs, but the result still has k = 5 columns
    labels = np.array([2, 0, 3, 3, 1])
    want = np.array(
        [
            [0.0, 0.0, 1.0, 0.0, 0.0],
            [1.0, 0.0, 0.0, 0.0, 0.0],
            [0.0, 0.0, 0.0, 1.0, 0.0],
            [0.0, 0.0, 0.0, 1.0, 0.0],
            [0.0, 1.0, 0.0, 0.0, 0.0],
        ]
    )
    got = run(impl.one_hot, labels, 5)
    expect_equal(
        got, want, mistakes={"transpose the result (one column per example, one row per class)": want.T}
    )
    expect(got.value.dtype == np.float64, f"{got}: dtype {got.value.dtype}, expected float64")


@exercise("one_hot")
@pytest.mark.parametrize("dtype", [np.int64, np.int32])
def test_one_hot_matches_loops(impl, dtype):
    labels = rng(40).integers(0, 4, size=9).astype(dtype)
    want = np.zeros((9, 7))
    for i, label in enumerate(labels.tolist()):
        want[i, label] = 1.0
    got = run(impl.one_hot, labels, 7)
    expect_equal(got, want)
    expect(got.value.dtype == np.float64, f"{got}: dtype {got.value.dtype}, expected float64")


@exercise("one_hot")
@pytest.mark.parametrize("bad", [-1, 4, 9])
def test_one_hot_rejects_out_of_range_labels(impl, bad):
    labels = np.array([0, 3, bad, 1])
    try:
        got = run(impl.one_hot, labels, 4)
    except ValueError:
        return
    raise AssertionError(
        f"{got}: returned {got.value.shape} for labels {labels.tolist()} with k=4; expected a "
        f"ValueError, since label {bad} is not in 0..3"
    )


@exercise("one_hot")
def test_one_hot_empty_batch(impl):
    got = run(impl.one_hot, np.zeros(0, dtype=np.int64), 3)
    expect_equal(got, np.zeros((0, 3)))


# --- gather_rows --------------------------------------------------------------------------


@exercise("gather_rows")
@pytest.mark.parametrize("n, k", [(5, 3), (3, 6), (8, 2)])
def test_gather_rows_matches_loops(impl, n, k):
    g = rng(50 + n)
    x = g.normal(size=(n, k))
    idx = g.integers(0, k, size=n)
    want = np.array([x[i, j] for i, j in enumerate(idx.tolist())])
    expect_close(
        run(impl.gather_rows, x, idx),
        want,
        rtol=0,
        atol=0,
        mistakes={
            "use np.take(x, idx) without an axis, which picks every entry from the first row": x[0, idx]
        },
    )


@exercise("gather_rows")
def test_gather_rows_hand_case(impl):
    x = np.array([[0.0, 1.0, 2.0, 3.0], [10.0, 11.0, 12.0, 13.0], [20.0, 21.0, 22.0, 23.0]])
    idx = np.array([3, 0, 2])
    expect_close(
        run(impl.gather_rows, x, idx),
        np.array([3.0, 10.0, 22.0]),
        rtol=0,
        atol=0,
        mistakes={
            "use np.take(x, idx) without an axis, which picks every entry from the first row": x[0, idx],
        },
    )


@exercise("gather_rows")
def test_gather_rows_same_column_everywhere(impl):
    # every row picks column 1: the result is that column, not the whole matrix
    x = rng(51).normal(size=(4, 3))
    expect_close(run(impl.gather_rows, x, np.ones(4, dtype=np.int64)), x[:, 1].copy(), rtol=0, atol=0)


@exercise("gather_rows")
def test_gather_rows_picks_true_class_log_probs(impl):
    # the use in a loss: log p(true class) per example, via a one-hot mask built here
    g = rng(52)
    logits = g.normal(size=(6, 4))
    log_probs = logits - np.log(np.exp(logits).sum(axis=1, keepdims=True))
    targets = np.array([3, 1, 0, 0, 2, 3])
    want = (log_probs * (targets[:, None] == np.arange(4))).sum(axis=1)
    expect_close(run(impl.gather_rows, log_probs, targets), want, rtol=1e-12)


# --- replace_outside_range ----------------------------------------------------------------


@exercise("replace_outside_range")
def test_replace_outside_range_hand_case_bounds_inclusive(impl):
    x = np.array([-2.0, -1.0, 0.0, 0.5, 1.0, 1.5])
    want = np.array([9.0, -1.0, 0.0, 0.5, 1.0, 9.0])
    expect_close(
        run(impl.replace_outside_range, x, -1.0, 1.0, 9.0),
        want,
        rtol=0,
        atol=0,
        mistakes={
            "treat the bounds as outside (x <= low or x >= high)": np.array([9.0, 9.0, 0.0, 0.5, 9.0, 9.0]),
            "clip to [low, high] instead of replacing": np.clip(x, -1.0, 1.0),
            "replace the entries inside the range instead of outside": np.array(
                [-2.0, 9.0, 9.0, 9.0, 9.0, 1.5]
            ),
        },
    )


@exercise("replace_outside_range")
def test_replace_outside_range_float32_stays_float32(impl):
    x = np.array([[-2.5, 0.25, 3.0], [1.0, -1.0, 0.5]], dtype=np.float32)
    want = np.array([[7.5, 0.25, 7.5], [1.0, -1.0, 0.5]])
    _expect_float32(run(impl.replace_outside_range, x, -1.0, 1.0, 7.5), want)


@exercise("replace_outside_range")
def test_replace_outside_range_matches_loops(impl):
    x = rng(60).normal(size=(2, 3, 4)) * 2
    want = np.array([v if -0.5 <= v <= 1.5 else -7.0 for v in x.ravel().tolist()]).reshape(x.shape)
    expect_close(run(impl.replace_outside_range, x, -0.5, 1.5, -7.0), want, rtol=0, atol=0)


@exercise("replace_outside_range")
def test_replace_outside_range_returns_a_new_array(impl):
    # nothing is outside the range: the values come back unchanged, but in a new array
    x = np.array([[0.25, 0.5, 0.75], [0.0, 1.0, 0.5]])
    got = run(impl.replace_outside_range, x, 0.0, 1.0, 5.0)
    expect_close(got, x.copy(), rtol=0, atol=0)
    expect(
        not np.shares_memory(got.value, x),
        f"{got}: the result shares memory with x; return a new array (np.where, or x.copy())",
    )


@exercise("replace_outside_range")
def test_replace_outside_range_fill_inside_range(impl):
    # fill need not lie outside the range, and replaced entries are not clipped to the bounds
    x = np.array([[3.0, -4.0], [2.0, 0.0], [-1.0, 10.0]])
    want = np.array([[0.5, 0.5], [2.0, 0.0], [-1.0, 0.5]])
    expect_close(run(impl.replace_outside_range, x, -1.0, 2.0, 0.5), want, rtol=0, atol=0)


# --- masked_row_mean ----------------------------------------------------------------------


def _masked_mean_loops(x: np.ndarray, mask: np.ndarray, fill: float) -> np.ndarray:
    out = []
    for row, keep in zip(x.tolist(), mask.tolist()):
        kept = [v for v, k in zip(row, keep) if k]
        out.append(math.fsum(kept) / len(kept) if kept else fill)
    return np.array(out)


@exercise("masked_row_mean")
@pytest.mark.parametrize("n, k", [(5, 4), (3, 8)])
def test_masked_row_mean_matches_loops(impl, n, k):
    g = rng(70 + n)
    x = g.normal(size=(n, k))
    mask = g.random(size=(n, k)) < 0.6
    mask[0] = True  # one full row
    mask[-1, :] = False
    mask[-1, 1] = True  # one row with a single kept entry
    expect_close(
        run(impl.masked_row_mean, x, mask),
        _masked_mean_loops(x, mask, 0.0),
        rtol=1e-12,
        mistakes={
            "divide by the row length k instead of the number of kept entries": lambda: (
                np.where(mask, x, 0.0).sum(axis=1) / k
            ),
            "average over the whole row, ignoring the mask": lambda: x.mean(axis=1),
        },
    )


@exercise("masked_row_mean")
def test_masked_row_mean_ignores_nan_and_inf_padding(impl):
    x = np.array([[1.0, 2.0, np.nan, 6.0], [np.inf, 4.0, -np.inf, 0.0], [5.0, np.nan, np.nan, np.nan]])
    mask = np.array([[True, True, False, True], [False, True, False, True], [True, False, False, False]])
    got = run_without_warnings(impl.masked_row_mean, x, mask)
    expect_close(got, np.array([3.0, 2.0, 5.0]), rtol=1e-12)


@exercise("masked_row_mean")
def test_masked_row_mean_empty_rows_get_fill(impl):
    x = np.array([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0], [7.0, 8.0, 9.0], [1.0, 1.0, 4.0]])
    mask = np.array([[False, False, False], [True, False, True], [False, False, False], [True, True, True]])
    expect_close(
        run_without_warnings(impl.masked_row_mean, x, mask), np.array([0.0, 5.0, 0.0, 2.0]), rtol=1e-12
    )
    expect_close(
        run_without_warnings(impl.masked_row_mean, x, mask, -1.0),
        np.array([-1.0, 5.0, -1.0, 2.0]),
        rtol=1e-12,
    )


@exercise("masked_row_mean")
def test_masked_row_mean_all_masked(impl):
    x = rng(72).normal(size=(2, 5))
    got = run_without_warnings(impl.masked_row_mean, x, np.zeros((2, 5), dtype=bool), 7.5)
    expect_close(got, np.array([7.5, 7.5]), rtol=0, atol=0)
