# %% [markdown]
# # Chapter 3, part 3: max pooling and average pooling, forward and backward
#
# Reading: chapters/chapter3_cnns/part3_pooling.md
#
# Fill in each function, then run the cell below it: `check(fn)` runs that exercise's
# tests here and prints a verdict. `python -m grader chapter3/part3` grades the file.
#
# Conventions: images are NCHW; pooling acts on each channel of each image separately.
# kernel_size, stride and padding are an int or an (along-height, along-width) pair;
# stride=None means stride = kernel_size (PyTorch's default); padding is added on both
# sides of the two spatial axes only, and is at most half the kernel along each axis.
# Output sizes follow (H + 2 ph - kh) // sh + 1. A backward function takes dout first,
# then the forward's arguments, and returns dx of x's shape. Everything keeps x's dtype
# (float32 in, float32 out), and no function changes its inputs. The tests compare float64
# results with rtol 1e-8 (atol 1e-10), gradients against central differences with rtol 1e-6
# (atol 1e-7), and float32 results within 1e-5 of the largest entry of the float64 answer.

# %%
import numpy as np
from jaxtyping import Float
from numpy.lib.stride_tricks import sliding_window_view

from grader.check import check

MAIN = __name__ == "__main__"

IntOrPair = int | tuple[int, int]


# %%
def pair(value: IntOrPair) -> tuple[int, int]:
    """Given: an int or an (along-height, along-width) pair, as a pair of ints."""
    if isinstance(value, (int, np.integer)):
        return int(value), int(value)
    first, second = value
    return int(first), int(second)


def pool_windows(
    xp: Float[np.ndarray, "n c hp wp"], kernel: tuple[int, int], stride: tuple[int, int]
) -> Float[np.ndarray, "n c h_out w_out kh kw"]:
    """Given: the (kh, kw) windows of an already padded batch, every (sh, sw) pixels, as a view:
    out[n, c, r, s, i, j] = xp[n, c, r * sh + i, s * sw + j]."""
    return sliding_window_view(xp, kernel, axis=(2, 3))[:, :, :: stride[0], :: stride[1]]


# %% [markdown]
# ## Max pooling


# %%
def maxpool2d(
    x: Float[np.ndarray, "n c h w"],
    kernel_size: IntOrPair,
    stride: IntOrPair | None = None,
    padding: IntOrPair = 0,
) -> Float[np.ndarray, "n c h_out w_out"]:
    """Max pooling: the largest entry of each (kh, kw) window, taken every (sh, sw) pixels.

        out[n, c, r, s] = max_{i < kh, j < kw} xp[n, c, r*sh + i, s*sw + j]

    where xp is x padded with -inf (never 0: a window of negative numbers that overlaps the
    border must still return its largest real entry). stride None means kernel_size.
    H_out = (H + 2 ph - kh) // sh + 1, W_out likewise.
    """
    # BEGIN SOLUTION
    (kh, kw), (ph, pw) = pair(kernel_size), pair(padding)
    (sh, sw) = pair(kernel_size if stride is None else stride)
    xp = np.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)), constant_values=-np.inf)
    return pool_windows(xp, (kh, kw), (sh, sw)).max(axis=(4, 5))
    # END SOLUTION


if MAIN:
    check(maxpool2d)


# %%
def maxpool2d_backward(
    dout: Float[np.ndarray, "n c h_out w_out"],
    x: Float[np.ndarray, "n c h w"],
    kernel_size: IntOrPair,
    stride: IntOrPair | None = None,
    padding: IntOrPair = 0,
) -> Float[np.ndarray, "n c h w"]:
    """dL/dx through out = maxpool2d(x, kernel_size, stride, padding), given dout = dL/dout.

    Each window sends its whole dout[n, c, r, s] to ONE entry: its maximum. When several
    entries of a window tie for the maximum, the gradient goes to the FIRST of them in
    row-major order within the window (smallest i, then smallest j), as np.argmax picks it,
    and to no other. A pixel that is the chosen maximum of several overlapping windows
    receives the sum of their gradients; a pixel that is no window's choice receives 0.
    """
    # BEGIN SOLUTION
    (kh, kw), (ph, pw) = pair(kernel_size), pair(padding)
    (sh, sw) = pair(kernel_size if stride is None else stride)
    n, c, h, w = x.shape
    h_out, w_out = dout.shape[2:]
    xp = np.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)), constant_values=-np.inf)
    windows = pool_windows(xp, (kh, kw), (sh, sw))  # (N, C, H_out, W_out, kh, kw)
    first = windows.reshape(n, c, h_out, w_out, kh * kw).argmax(axis=-1)  # first maximum, row-major
    dxp = np.zeros(xp.shape, dtype=x.dtype)
    for i in range(kh):
        for j in range(kw):
            # Windows whose choice is tap (i, j) send dout there; within one tap no two
            # windows share a pixel, so one strided slice takes all of them at once.
            chosen = first == i * kw + j
            dxp[:, :, i : i + (h_out - 1) * sh + 1 : sh, j : j + (w_out - 1) * sw + 1 : sw] += dout * chosen
    return dxp[:, :, ph : ph + h, pw : pw + w]
    # END SOLUTION


if MAIN:
    check(maxpool2d_backward)


# %% [markdown]
# ## Average pooling


# %%
def avgpool2d(
    x: Float[np.ndarray, "n c h w"],
    kernel_size: IntOrPair,
    stride: IntOrPair | None = None,
    padding: IntOrPair = 0,
) -> Float[np.ndarray, "n c h_out w_out"]:
    """Average pooling: the mean of each (kh, kw) window of x padded with zeros.

        out[n, c, r, s] = (1 / (kh * kw)) * sum_{i < kh, j < kw} xp[n, c, r*sh + i, s*sw + j]

    The padding zeros COUNT in the divisor: every window divides by kh * kw, also at the
    border (PyTorch's default, count_include_pad=True). stride None means kernel_size.
    """
    # BEGIN SOLUTION
    (kh, kw), (ph, pw) = pair(kernel_size), pair(padding)
    (sh, sw) = pair(kernel_size if stride is None else stride)
    xp = np.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)))
    return pool_windows(xp, (kh, kw), (sh, sw)).mean(axis=(4, 5))
    # END SOLUTION


if MAIN:
    check(avgpool2d)


# %%
def avgpool2d_backward(
    dout: Float[np.ndarray, "n c h_out w_out"],
    x: Float[np.ndarray, "n c h w"],
    kernel_size: IntOrPair,
    stride: IntOrPair | None = None,
    padding: IntOrPair = 0,
) -> Float[np.ndarray, "n c h w"]:
    """dL/dx through out = avgpool2d(x, kernel_size, stride, padding), given dout.

    Each window shares its dout[n, c, r, s] equally among its kh * kw entries (the padding's
    shares are dropped); a pixel in several windows receives the sum of its shares.
    """
    # BEGIN SOLUTION
    (kh, kw), (ph, pw) = pair(kernel_size), pair(padding)
    (sh, sw) = pair(kernel_size if stride is None else stride)
    n, c, h, w = x.shape
    h_out, w_out = dout.shape[2:]
    share = dout / (kh * kw)
    dxp = np.zeros((n, c, h + 2 * ph, w + 2 * pw), dtype=x.dtype)
    for i in range(kh):
        for j in range(kw):
            dxp[:, :, i : i + (h_out - 1) * sh + 1 : sh, j : j + (w_out - 1) * sw + 1 : sw] += share
    return dxp[:, :, ph : ph + h, pw : pw + w]
    # END SOLUTION


if MAIN:
    check(avgpool2d_backward)


# %% [markdown]
# ## Global average pooling


# %%
def global_avgpool2d(x: Float[np.ndarray, "n c h w"]) -> Float[np.ndarray, "n c"]:
    """The mean of each channel of each image over all its pixels: out[n, c] = mean_{r, s} x[n, c, r, s]."""
    # BEGIN SOLUTION
    return x.mean(axis=(2, 3))
    # END SOLUTION


if MAIN:
    check(global_avgpool2d)


# %%
def global_avgpool2d_backward(
    dout: Float[np.ndarray, "n c"], x: Float[np.ndarray, "n c h w"]
) -> Float[np.ndarray, "n c h w"]:
    """dL/dx through out = global_avgpool2d(x): every pixel of channel c of image n gets
    dout[n, c] / (H * W). Returns a new array of x's shape and dtype."""
    # BEGIN SOLUTION
    h, w = x.shape[2:]
    return np.broadcast_to(dout[:, :, None, None] / (h * w), x.shape).astype(x.dtype)
    # END SOLUTION


if MAIN:
    check(global_avgpool2d_backward)
