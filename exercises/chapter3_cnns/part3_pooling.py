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
    raise NotImplementedError("maxpool2d")


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
    raise NotImplementedError("maxpool2d_backward")


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
    raise NotImplementedError("avgpool2d")


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
    raise NotImplementedError("avgpool2d_backward")


if MAIN:
    check(avgpool2d_backward)


# %% [markdown]
# ## Global average pooling


# %%
def global_avgpool2d(x: Float[np.ndarray, "n c h w"]) -> Float[np.ndarray, "n c"]:
    """The mean of each channel of each image over all its pixels: out[n, c] = mean_{r, s} x[n, c, r, s]."""
    raise NotImplementedError("global_avgpool2d")


if MAIN:
    check(global_avgpool2d)


# %%
def global_avgpool2d_backward(
    dout: Float[np.ndarray, "n c"], x: Float[np.ndarray, "n c h w"]
) -> Float[np.ndarray, "n c h w"]:
    """dL/dx through out = global_avgpool2d(x): every pixel of channel c of image n gets
    dout[n, c] / (H * W). Returns a new array of x's shape and dtype."""
    raise NotImplementedError("global_avgpool2d_backward")


if MAIN:
    check(global_avgpool2d_backward)
