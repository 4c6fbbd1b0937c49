"""Tests for chapter 0, part 3: strides, views and sliding windows.

Expected values come from NumPy's own bookkeeping (`ndarray.strides` of a fresh array),
from slicing loops kept in this file, from hand-checked small cases and from
np.correlate. Views are checked with np.shares_memory and the writeable flag.
"""

import numpy as np
import pytest

from grader.testkit import exercise, expect, expect_close, expect_equal, rng, run


def _expect_read_only_view(got, base) -> None:
    """The result is a view of `base` (no copy) that cannot be written through."""
    out = got.value
    expect(
        isinstance(out, np.ndarray) and np.shares_memory(out, base),
        f"{got}: the result does not share memory with the input; build a view "
        "(as_strided / sliding_window_view), not a copy",
    )
    expect(
        not out.flags.writeable,
        f"{got}: the view is writeable; pass writeable=False so that writing through "
        "overlapping windows cannot corrupt the input",
    )


def _expect_fresh_copy(got, base) -> None:
    """The result owns its data: writeable, and no memory in common with `base`."""
    out = got.value
    expect(
        isinstance(out, np.ndarray) and not np.shares_memory(out, base),
        f"{got}: the result shares memory with the input; the docstring promises a new "
        "array (call .copy() on the view)",
    )
    expect(out.flags.writeable, f"{got}: the result is read-only; expected a new, writeable array")


# --- c_strides ------------------------------------------------------------------------


@exercise("c_strides")
@pytest.mark.parametrize(
    "shape, dtype",
    [((3, 4), np.float64), ((2, 3, 5), np.float32), ((4, 1, 6, 2), np.int8), ((7,), np.complex128)],
)
def test_c_strides_match_numpy(impl, shape, dtype):
    want = np.empty(shape, dtype=dtype).strides
    itemsize = np.dtype(dtype).itemsize
    expect_equal(
        run(impl.c_strides, shape, itemsize),
        want,
        mistakes={
            "list the strides the wrong way round (last axis first, as built)": tuple(reversed(want)),
            "count elements instead of bytes (leave out the itemsize)": tuple(s // itemsize for s in want),
            "compute Fortran-order (column-major) strides": np.empty(shape, dtype=dtype, order="F").strides,
        },
    )


@exercise("c_strides")
def test_c_strides_hand_case(impl):
    # a 3x4 float64 array: the next column is 8 bytes on, the next row 4 * 8 = 32 bytes on
    expect_equal(run(impl.c_strides, (3, 4), 8), (32, 8))
    expect_equal(run(impl.c_strides, (2, 3, 4), 2), (24, 8, 2))


@exercise("c_strides")
def test_c_strides_unit_axes_and_0d(impl):
    expect_equal(run(impl.c_strides, (1, 5, 1), 2), (10, 2, 2))
    expect_equal(run(impl.c_strides, (), 8), (), what="a 0-d array has no axes, so no strides")


@exercise("c_strides")
def test_c_strides_are_python_ints(impl):
    got = run(impl.c_strides, (5, 3, 2), 4)
    expect(
        isinstance(got.value, tuple) and all(type(s) is int for s in got.value),
        f"{got}: returned {got.value!r}; expected a tuple of Python ints like ndarray.strides "
        "(convert NumPy integers with int(...))",
    )
    expect_equal(got, (24, 8, 4))


# --- diagonal_view --------------------------------------------------------------------


def _diagonal_loop(a: np.ndarray) -> np.ndarray:
    return np.array([a[i, i] for i in range(min(a.shape))], dtype=a.dtype)


def _diagonal_mistakes(a: np.ndarray, base: np.ndarray) -> dict:
    """diagonal_view's known wrong answers for a, a view into base (or base itself)."""
    n = min(a.shape)
    # where a stride made up from the shape (as if a were a fresh C-contiguous array) lands
    start = (a.__array_interface__["data"][0] - base.__array_interface__["data"][0]) // base.itemsize
    return {
        "use the strides of a fresh C-contiguous array of a's shape, not a.strides": lambda: base.ravel()[
            start + (a.shape[1] + 1) * np.arange(n)
        ],
        "step by a.strides[0] only (down the first column, not along the diagonal)": a[:n, 0].copy(),
        "step by a.strides[1] only (along the first row, not along the diagonal)": a[0, :n].copy(),
    }


@exercise("diagonal_view")
@pytest.mark.parametrize("shape", [(4, 6), (7, 3)])
def test_diagonal_view_values(impl, shape):
    a = rng(10).normal(size=shape)
    got = run(impl.diagonal_view, a)
    expect_equal(got, _diagonal_loop(a), mistakes=_diagonal_mistakes(a, a))


@exercise("diagonal_view")
def test_diagonal_view_is_a_read_only_view(impl):
    a = rng(11).normal(size=(5, 8))
    got = run(impl.diagonal_view, a)
    _expect_read_only_view(got, a)
    expect_equal(got, _diagonal_loop(a))


@exercise("diagonal_view")
@pytest.mark.parametrize("kind", ["transpose", "slice"])
def test_diagonal_view_of_a_strided_input(impl, kind):
    # Strides that are not those of a fresh C-contiguous array: read them from a.strides.
    base = rng(12).normal(size=(9, 14))
    a = base.T if kind == "transpose" else base[1::2, ::3]  # (14, 9) or (4, 5)
    got = run(impl.diagonal_view, a)
    expect_equal(got, _diagonal_loop(a), mistakes=_diagonal_mistakes(a, base))
    _expect_read_only_view(got, base)


@exercise("diagonal_view")
def test_diagonal_view_float32(impl):
    a = rng(13).normal(size=(3, 5)).astype(np.float32)  # 4-byte items
    expect_equal(run(impl.diagonal_view, a), _diagonal_loop(a))


# --- sliding_windows ------------------------------------------------------------------


def _windows_loop(x: np.ndarray, window: int, step: int) -> np.ndarray:
    starts = range(0, len(x) - window + 1, step)
    return np.array([x[s : s + window] for s in starts], dtype=x.dtype).reshape(-1, window)


@exercise("sliding_windows")
@pytest.mark.parametrize(
    "n, window, step, n_windows",
    [
        (10, 3, 1, 8),
        (10, 3, 3, 3),  # starts 0, 3, 6: the window at 9 would run past the end
        (10, 4, 3, 3),  # the last window ends exactly at n
        (9, 4, 3, 2),  # n not reachable by whole steps
        (11, 2, 5, 2),
        (6, 6, 2, 1),  # one window: the whole signal
    ],
)
def test_sliding_windows_count_and_values(impl, n, window, step, n_windows):
    x = np.arange(n, dtype=np.float64) * 1.5 + 0.25
    got = run(impl.sliding_windows, x, window, step)
    want = _windows_loop(x, window, step)
    expect(want.shape == (n_windows, window), "test bug: loop disagrees with the stated count")
    expect_equal(
        got,
        want,
        mistakes={
            "count (n - window) // step windows, one too few": want[:-1],
            "ignore step (windows start one element apart)": _windows_loop(x, window, 1),
        },
    )


@exercise("sliding_windows")
def test_sliding_windows_is_a_read_only_view(impl):
    x = rng(20).normal(size=13)
    got = run(impl.sliding_windows, x, 4, 2)
    _expect_read_only_view(got, x)


@exercise("sliding_windows")
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_sliding_windows_of_a_strided_input(impl, dtype):
    # x = y[::3] steps 3 items at a time: the window strides must come from x.strides
    y = rng(21).normal(size=40).astype(dtype)
    x = y[::3]  # 14 elements
    got = run(impl.sliding_windows, x, 5, 2)
    expect_equal(got, _windows_loop(x, 5, 2))
    _expect_read_only_view(got, y)


# --- moving_average -------------------------------------------------------------------


def _moving_average_loop(x: np.ndarray, window: int) -> np.ndarray:
    n_out = x.shape[-1] - window + 1
    out = np.empty(x.shape[:-1] + (n_out,))
    for i in range(n_out):
        out[..., i] = x[..., i : i + window].sum(axis=-1) / window
    return out


@exercise("moving_average")
@pytest.mark.parametrize("shape, window", [((11,), 3), ((3, 10), 4), ((2, 3, 7), 2)])
def test_moving_average_matches_loop(impl, shape, window):
    x = rng(30).normal(size=shape)
    want = _moving_average_loop(x, window)
    expect_close(
        run(impl.moving_average, x, window),
        want,
        mistakes={
            "sum each window without dividing by window": want * window,
            "drop the last window (n - window outputs instead of n - window + 1)": want[..., :-1],
        },
    )


@exercise("moving_average")
def test_moving_average_of_a_line_is_the_centre(impl):
    # the mean of an arithmetic run is its middle value: 2t + 1 at t = i + (window - 1) / 2
    t = np.arange(9, dtype=np.float64)
    got = run(impl.moving_average, 2 * t + 1, 4)
    expect_close(got, 2 * (np.arange(6) + 1.5) + 1)


@exercise("moving_average")
def test_moving_average_whole_signal(impl):
    x = rng(31).normal(size=(4, 6))
    expect_close(run(impl.moving_average, x, 6), x.mean(axis=-1, keepdims=True))


@exercise("moving_average")
def test_moving_average_float32_stays_float32(impl):
    x = rng(33).normal(size=(3, 8)).astype(np.float32)
    got = run(impl.moving_average, x, 3)
    expect(
        isinstance(got.value, np.ndarray) and got.value.dtype == np.float32,
        f"{got}: dtype {getattr(got.value, 'dtype', None)}, expected float32 (float32 in, float32 out)",
    )
    expect_close(
        got, _moving_average_loop(x.astype(np.float64), 3), rtol=1e-5, atol=1e-6, what="float32 input"
    )


@exercise("moving_average")
def test_moving_average_window_one_is_a_copy(impl):
    x = rng(32).normal(size=(2, 5))
    got = run(impl.moving_average, x, 1)
    expect_close(got, x)
    _expect_fresh_copy(got, x)


# --- extract_patches ------------------------------------------------------------------


def _patches_loop(image, patch, stride):
    (ph, pw), (sh, sw) = patch, stride
    h, w = image.shape
    rows = range(0, h - ph + 1, sh)
    cols = range(0, w - pw + 1, sw)
    out = np.empty((len(rows), len(cols), ph, pw), dtype=image.dtype)
    for i, r in enumerate(rows):
        for j, c in enumerate(cols):
            out[i, j] = image[r : r + ph, c : c + pw]
    return out


@exercise("extract_patches")
@pytest.mark.parametrize(
    "shape, patch, stride",
    [
        ((7, 9), (3, 2), (2, 3)),  # 3 x 3 patches; 7 - 3 is divisible by 2, 9 - 2 is not by 3
        ((8, 9), (3, 2), (2, 3)),  # one row more: still 3 patch rows (the 4th would overhang)
        ((6, 10), (2, 4), (1, 1)),
        ((5, 11), (5, 3), (2, 4)),  # patch as tall as the image: a single patch row
    ],
)
def test_extract_patches_matches_loop(impl, shape, patch, stride):
    image = rng(40).normal(size=shape)
    want = _patches_loop(image, patch, stride)
    expect_equal(
        run(impl.extract_patches, image, patch, stride),
        want,
        mistakes={
            "ignore the stride (a patch at every pixel)": lambda: _patches_loop(image, patch, (1, 1)),
            "swap the row and column strides": lambda: _patches_loop(image, patch, stride[::-1]),
        },
    )


@exercise("extract_patches")
def test_extract_patches_hand_case(impl):
    image = np.arange(12, dtype=np.float64).reshape(3, 4)
    # [[0 1 2 3], [4 5 6 7], [8 9 10 11]]; 2x2 patches every 1 row and 2 columns
    want = np.array(
        [[[[0, 1], [4, 5]], [[2, 3], [6, 7]]], [[[4, 5], [8, 9]], [[6, 7], [10, 11]]]],
        dtype=np.float64,
    )
    expect_equal(run(impl.extract_patches, image, (2, 2), (1, 2)), want)


@exercise("extract_patches")
def test_extract_patches_returns_a_copy(impl):
    image = rng(41).normal(size=(6, 7))
    before = image.copy()
    got = run(impl.extract_patches, image, (3, 3), (1, 2))
    _expect_fresh_copy(got, image)
    got.value[...] = 0.0  # the caller owns the patches: zeroing them must leave the image alone
    expect(np.array_equal(image, before), f"{got}: writing to the patches changed the image")


@exercise("extract_patches")
def test_extract_patches_of_a_transposed_image(impl):
    image = rng(42).normal(size=(9, 6)).T  # (6, 9), not C-contiguous
    expect_equal(run(impl.extract_patches, image, (2, 3), (2, 2)), _patches_loop(image, (2, 3), (2, 2)))


# --- correlate_valid ------------------------------------------------------------------


def _correlate_loop(x, kernel, stride):
    k = len(kernel)
    n_out = (x.shape[1] - k) // stride + 1
    out = np.zeros((x.shape[0], n_out))
    for b in range(x.shape[0]):
        for i in range(n_out):
            for j in range(k):
                out[b, i] += x[b, i * stride + j] * kernel[j]
    return out


@exercise("correlate_valid")
def test_correlate_valid_hand_case(impl):
    # the kernel [1, 0, -1] is not symmetric: flipping it (convolution) negates the answer
    x = np.array([[1.0, 2.0, 4.0, 7.0, 11.0]])
    kernel = np.array([1.0, 0.0, -1.0])
    expect_close(
        run(impl.correlate_valid, x, kernel),
        np.array([[-3.0, -5.0, -7.0]]),
        mistakes={"flip the kernel (a true convolution, np.convolve)": np.array([[3.0, 5.0, 7.0]])},
    )
    expect_close(
        run(impl.correlate_valid, x, kernel, 2),
        np.array([[-3.0, -7.0]]),
        mistakes={
            "flip the kernel (a true convolution, np.convolve)": np.array([[3.0, 7.0]]),
            "keep every window, ignoring the stride": np.array([[-3.0, -5.0, -7.0]]),
        },
    )


@exercise("correlate_valid")
def test_correlate_valid_matches_np_correlate(impl):
    x = rng(50).normal(size=(3, 12))
    kernel = rng(51).normal(size=4)
    want = np.stack([np.correlate(row, kernel, mode="valid") for row in x])
    expect_close(run(impl.correlate_valid, x, kernel), want)


@exercise("correlate_valid")
@pytest.mark.parametrize("n, k, stride", [(13, 3, 3), (12, 3, 3), (10, 4, 2), (9, 9, 4)])
def test_correlate_valid_with_stride_matches_loop(impl, n, k, stride):
    x = rng(52).normal(size=(2, n))
    kernel = rng(53).normal(size=k)
    expect_close(
        run(impl.correlate_valid, x, kernel, stride),
        _correlate_loop(x, kernel, stride),
        mistakes={
            "flip the kernel (a true convolution, np.convolve)": lambda: _correlate_loop(
                x, kernel[::-1], stride
            ),
            "keep every window, ignoring the stride": lambda: _correlate_loop(x, kernel, 1),
        },
    )


@exercise("correlate_valid")
def test_correlate_valid_single_tap_kernel(impl):
    x = rng(54).normal(size=(4, 7))
    expect_close(run(impl.correlate_valid, x, np.array([-2.5])), -2.5 * x)
