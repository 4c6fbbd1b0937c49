# %% [markdown]
# # Chapter 0, part 3: strides and sliding_window_view
#
# Reading: chapters/chapter0_numpy/part3_strides.md
#
# Fill in each function, then run the cell below it: `check(fn)` runs that exercise's
# tests here and prints a verdict. `python -m grader chapter0/part3` grades the file.

# %%
import numpy as np
from jaxtyping import Float
from numpy.lib.stride_tricks import as_strided, sliding_window_view

from grader.check import check

MAIN = __name__ == "__main__"


# %%
def c_strides(shape: tuple[int, ...], itemsize: int) -> tuple[int, ...]:
    """The byte strides of a C-contiguous (row-major) array of this shape and item size.

    shape: the length of each axis, every length >= 1; `()` is a 0-d array.
    itemsize: bytes per element (8 for float64, 4 for float32, 1 for int8).
    Returns a tuple of Python ints, one per axis, equal to `np.empty(shape, dtype).strides`
    for a dtype of that item size: stepping one place along axis i moves that many bytes.
    """
    raise NotImplementedError("c_strides")


if MAIN:
    check(c_strides)


# %%
def diagonal_view(a: Float[np.ndarray, "rows cols"]) -> Float[np.ndarray, " n_diag"]:
    """A read-only view of the main diagonal of `a`: [a[0, 0], a[1, 1], ...].

    n_diag = min(rows, cols). No data is copied: the result shares memory with `a`, and
    is not writeable. `a` may itself be a view with any strides (a transpose, a slice).
    Build it from `a.strides` with `as_strided`.
    """
    raise NotImplementedError("diagonal_view")


if MAIN:
    check(diagonal_view)


# %%
def sliding_windows(x: Float[np.ndarray, " n"], window: int, step: int) -> Float[np.ndarray, "n_windows w"]:
    """Windows of length `window` of x, starting every `step` elements, as a read-only view.

    Row i of the result is x[i * step : i * step + window]. Only whole windows are kept:
    n_windows = (n - window) // step + 1, for 1 <= window <= n and step >= 1.
    No data is copied: the result shares memory with x and is not writeable.
    x may have any stride (for example x = y[::3]).
    """
    raise NotImplementedError("sliding_windows")


if MAIN:
    check(sliding_windows)


# %%
def moving_average(x: Float[np.ndarray, "*batch n"], window: int) -> Float[np.ndarray, "*batch n_out"]:
    """The mean of every run of `window` consecutive values along the last axis.

    out[..., i] = mean(x[..., i : i + window]), for i = 0 .. n - window, so
    n_out = n - window + 1 (only whole windows, no padding). 1 <= window <= n.
    Returns a new array (never x itself, even for window = 1) of x's dtype: float32 in,
    float32 out.
    """
    raise NotImplementedError("moving_average")


if MAIN:
    check(moving_average)


# %%
def extract_patches(
    image: Float[np.ndarray, "h w"],
    patch: tuple[int, int],
    stride: tuple[int, int],
) -> Float[np.ndarray, "out_h out_w ph pw"]:
    """All (ph, pw) patches of a 2-D image, taken every (sh, sw) pixels ("im2col-lite").

    patch = (ph, pw), stride = (sh, sw). out[i, j] = image[i*sh : i*sh + ph, j*sw : j*sw + pw].
    Only whole patches are kept: out_h = (h - ph) // sh + 1 and out_w = (w - pw) // sw + 1.
    Returns a new, writeable array that does not share memory with `image`, so a caller
    may modify the patches without changing the image.
    """
    raise NotImplementedError("extract_patches")


if MAIN:
    check(extract_patches)


# %%
def correlate_valid(
    x: Float[np.ndarray, "batch n"], kernel: Float[np.ndarray, " k"], stride: int = 1
) -> Float[np.ndarray, "batch n_out"]:
    """The "valid" cross-correlation of each row of x with kernel, with a stride.

    out[b, i] = sum_j x[b, i * stride + j] * kernel[j]   (the kernel is not flipped:
    this is what deep-learning libraries call convolution). Only positions where the
    whole kernel fits: n_out = (n - k) // stride + 1, for 1 <= k <= n.
    With stride = 1 each row equals np.correlate(x[b], kernel, mode="valid").
    """
    raise NotImplementedError("correlate_valid")


if MAIN:
    check(correlate_valid)
