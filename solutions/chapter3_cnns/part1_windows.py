# %% [markdown]
# # Chapter 3, part 1: windows, im2col, conv1d and causal convolution
#
# Reading: chapters/chapter3_cnns/part1_windows.md
#
# Fill in each function, then run the cell below it: `check(fn)` runs that exercise's
# tests here and prints a verdict. `python -m grader chapter3/part1` grades the file.
#
# Conventions: sequences are NCL, (batch, channels, length); images are NCHW. A conv weight
# is (C_out, C_in, k) or (C_out, C_in, kh, kw). "Convolution" is cross-correlation: the
# kernel is NOT flipped. For 2-D functions, kernel_size, stride, padding and dilation are an
# int or an (along-height, along-width) pair; padding adds zeros on both sides of the
# spatial axes only. Results keep the dtype of the input (float32 in, float32 out), and no
# function changes its inputs. The tests compare float64 results with rtol 1e-8 (atol 1e-10)
# and float32 results within 1e-4 of the largest entry of the float64 answer.

# %%
import numpy as np
from jaxtyping import Float
from numpy.lib.stride_tricks import as_strided, sliding_window_view  # noqa: F401 (unused in the blank stubs)

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


# %% [markdown]
# ## How long is the output?


# %%
def conv_output_length(
    length: int, kernel_size: int, stride: int = 1, padding: int = 0, dilation: int = 1
) -> int:
    """The number of outputs of a convolution (or pooling) along one axis of `length` inputs.

    The input gets `padding` extra entries at each end; a kernel of kernel_size taps spread
    `dilation` apart covers dilation * (kernel_size - 1) + 1 consecutive entries; windows
    start at 0, stride, 2 * stride, ... and only windows that fit entirely count. Returns a
    Python int (0 or more when the kernel is wider than the padded input, never negative).
    """
    # BEGIN SOLUTION
    span = dilation * (kernel_size - 1) + 1  # the entries one window covers
    return max((length + 2 * padding - span) // stride + 1, 0)
    # END SOLUTION


if MAIN:
    check(conv_output_length)


# %% [markdown]
# ## Windows as views


# %%
def windows1d(
    x: Float[np.ndarray, "n c length"], kernel_size: int, stride: int = 1, dilation: int = 1
) -> Float[np.ndarray, "n c l_out k"]:
    """Every window a conv1d kernel sees, as a read-only VIEW of x (no copy):

        out[n, c, t, j] = x[n, c, t * stride + j * dilation]

    for t < L_out = conv_output_length(L, kernel_size, stride, 0, dilation) and
    j < kernel_size. Build it with np.lib.stride_tricks.as_strided (writeable=False) or
    sliding_window_view and slicing: the result must share memory with x.
    """
    # BEGIN SOLUTION
    n, c, length = x.shape
    l_out = conv_output_length(length, kernel_size, stride, 0, dilation)
    s_n, s_c, s_l = x.strides  # bytes between neighbours along each axis
    # The next window starts `stride` entries on; the next tap is `dilation` entries on.
    return as_strided(
        x, (n, c, l_out, kernel_size), (s_n, s_c, stride * s_l, dilation * s_l), writeable=False
    )
    # END SOLUTION


if MAIN:
    check(windows1d)


# %%
def windows2d(
    x: Float[np.ndarray, "n c h w"], kernel_size: IntOrPair, stride: IntOrPair = 1, dilation: IntOrPair = 1
) -> Float[np.ndarray, "n c h_out w_out kh kw"]:
    """Every window a conv2d kernel sees, as a read-only view of x (no copy):

        out[n, c, r, s, i, j] = x[n, c, r * sh + i * dh, s * sw + j * dw]

    with (kh, kw) = kernel_size, (sh, sw) = stride, (dh, dw) = dilation, and H_out, W_out given
    by conv_output_length along each axis (no padding). The result shares memory with x.
    """
    # BEGIN SOLUTION
    (kh, kw), (sh, sw), (dh, dw) = pair(kernel_size), pair(stride), pair(dilation)
    span_h, span_w = dh * (kh - 1) + 1, dw * (kw - 1) + 1
    every = sliding_window_view(x, (span_h, span_w), axis=(2, 3))  # every span_h x span_w block
    # keep every sh-th window start, and every dh-th entry inside a window
    return every[:, :, ::sh, ::sw, ::dh, ::dw]
    # END SOLUTION


if MAIN:
    check(windows2d)


# %% [markdown]
# ## im2col and col2im


# %%
def im2col(
    x: Float[np.ndarray, "n c h w"],
    kernel_size: IntOrPair,
    stride: IntOrPair = 1,
    padding: IntOrPair = 0,
    dilation: IntOrPair = 1,
) -> Float[np.ndarray, "rows cols"]:
    """The im2col matrix: one row per output pixel, one column per (channel, tap).

    x is padded with zeros (ph rows above and below, pw columns left and right). Row
    (n * H_out + r) * W_out + s holds the window of output pixel (r, s) of image n, flattened
    in the order (c, i, j):

        out[(n * H_out + r) * W_out + s, (c * kh + i) * kw + j] = xp[n, c, r*sh + i*dh, s*sw + j*dw]

    so that out @ w.reshape(C_out, -1).T is the convolution with a weight w of shape
    (C_out, C, kh, kw). Returns a new array of shape (N * H_out * W_out, C * kh * kw).
    """
    # BEGIN SOLUTION
    (ph, pw) = pair(padding)
    xp = np.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)))
    win = windows2d(xp, kernel_size, stride, dilation)  # (N, C, H_out, W_out, kh, kw), a view
    n, c, h_out, w_out, kh, kw = win.shape
    # Bring the output pixel's axes first, then the window's (c, i, j): reshape copies.
    return win.transpose(0, 2, 3, 1, 4, 5).reshape(n * h_out * w_out, c * kh * kw)
    # END SOLUTION


if MAIN:
    check(im2col)


# %%
def col2im(
    cols: Float[np.ndarray, "rows cols"],
    x_shape: tuple[int, int, int, int],
    kernel_size: IntOrPair,
    stride: IntOrPair = 1,
    padding: IntOrPair = 0,
    dilation: IntOrPair = 1,
) -> Float[np.ndarray, "n c h w"]:
    """The adjoint of im2col: put every entry of cols back where im2col took it from, ADDING
    the entries of overlapping windows, and drop the padding.

    For x of shape x_shape, <im2col(x, ...), cols> = <x, col2im(cols, x_shape, ...)>. A pixel
    that k windows read receives the sum of its k entries; a pixel no window reads gets 0.
    Returns an array of shape x_shape in cols' dtype.
    """
    # BEGIN SOLUTION
    (kh, kw), (sh, sw), (ph, pw), (dh, dw) = pair(kernel_size), pair(stride), pair(padding), pair(dilation)
    n, c, h, w = x_shape
    h_out = conv_output_length(h, kh, sh, ph, dh)
    w_out = conv_output_length(w, kw, sw, pw, dw)
    blocks = cols.reshape(n, h_out, w_out, c, kh, kw)
    xp = np.zeros((n, c, h + 2 * ph, w + 2 * pw), dtype=cols.dtype)
    for i in range(kh):
        for j in range(kw):
            # tap (i, j) of every window: one strided slice of the padded image
            rows = slice(i * dh, i * dh + (h_out - 1) * sh + 1, sh)
            columns = slice(j * dw, j * dw + (w_out - 1) * sw + 1, sw)
            xp[:, :, rows, columns] += blocks[:, :, :, :, i, j].transpose(0, 3, 1, 2)
    return xp[:, :, ph : ph + h, pw : pw + w]
    # END SOLUTION


if MAIN:
    check(col2im)


# %%
def conv2d_im2col(
    x: Float[np.ndarray, "n c_in h w"],
    w: Float[np.ndarray, "c_out c_in kh kw"],
    b: Float[np.ndarray, " c_out"] | None = None,
    *,
    stride: IntOrPair = 1,
    padding: IntOrPair = 0,
    dilation: IntOrPair = 1,
) -> Float[np.ndarray, "n c_out h_out w_out"]:
    """conv2d as one matrix product: im2col(x) @ w.reshape(C_out, -1).T, reshaped to NCHW.

        out[n, o, r, s] = b[o] + sum_{c, i, j} w[o, c, i, j] * xp[n, c, r*sh + i*dh, s*sw + j*dw]

    b = None means no bias. x and w (and b) share one dtype, which the result keeps.
    """
    # BEGIN SOLUTION
    (sh, sw), (ph, pw), (dh, dw) = pair(stride), pair(padding), pair(dilation)
    c_out, _, kh, kw = w.shape
    h_out = conv_output_length(x.shape[2], kh, sh, ph, dh)
    w_out = conv_output_length(x.shape[3], kw, sw, pw, dw)
    cols = im2col(x, (kh, kw), stride, padding, dilation)  # (N * H_out * W_out, C_in * kh * kw)
    flat = cols @ w.reshape(c_out, -1).T  # (N * H_out * W_out, C_out): one row per output pixel
    out = flat.reshape(x.shape[0], h_out, w_out, c_out).transpose(0, 3, 1, 2)
    return out if b is None else out + b[:, None, None]
    # END SOLUTION


if MAIN:
    check(conv2d_im2col)


# %% [markdown]
# ## conv1d


# %%
def conv1d(
    x: Float[np.ndarray, "n c_in length"],
    w: Float[np.ndarray, "c_out c_in k"],
    b: Float[np.ndarray, " c_out"] | None = None,
    *,
    stride: int = 1,
    padding: int = 0,
    dilation: int = 1,
) -> Float[np.ndarray, "n c_out l_out"]:
    """1-D convolution (cross-correlation) of a batch of sequences, as torch's conv1d:

        out[n, o, t] = b[o] + sum_{c, j} w[o, c, j] * xp[n, c, t * stride + j * dilation]

    where xp is x with `padding` zeros at both ends of the length axis (only that axis).
    L_out = conv_output_length(L, k, stride, padding, dilation). b = None means no bias.
    x and w (and b) share one dtype, which the result keeps.
    """
    # BEGIN SOLUTION
    xp = np.pad(x, ((0, 0), (0, 0), (padding, padding)))
    win = windows1d(xp, w.shape[2], stride, dilation)  # (N, C_in, L_out, k)
    out = np.einsum("nctj,ocj->not", win, w, optimize=True)  # sum over channels and taps
    return out if b is None else out + b[:, None]
    # END SOLUTION


if MAIN:
    check(conv1d)


# %%
def causal_conv1d(
    x: Float[np.ndarray, "n c_in length"],
    w: Float[np.ndarray, "c_out c_in k"],
    b: Float[np.ndarray, " c_out"] | None = None,
    *,
    dilation: int = 1,
) -> Float[np.ndarray, "n c_out length"]:
    """A causal (dilated) convolution: output t depends on the inputs at t and before only.

    Pad (k - 1) * dilation zeros on the LEFT of the length axis and none on the right, then
    convolve with stride 1:

        out[n, o, t] = b[o] + sum_{c, j} w[o, c, j] * x[n, c, t - (k - 1 - j) * dilation]

    (an x at a negative time is 0). The output has as many steps as the input: the last tap
    w[:, :, k - 1] multiplies the present, x[..., t]. b = None means no bias.
    """
    # BEGIN SOLUTION
    left = (w.shape[2] - 1) * dilation  # how far back the first tap reaches
    xp = np.pad(x, ((0, 0), (0, 0), (left, 0)))
    return conv1d(xp, w, b, dilation=dilation)
    # END SOLUTION


if MAIN:
    check(causal_conv1d)
