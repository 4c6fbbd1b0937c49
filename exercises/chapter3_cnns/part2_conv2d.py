# %% [markdown]
# # Chapter 3, part 2: conv2d forward and backward, groups, and transposed convolution
#
# Reading: chapters/chapter3_cnns/part2_conv2d.md
#
# Fill in each function, then run the cell below it: `check(fn)` runs that exercise's
# tests here and prints a verdict. `python -m grader chapter3/part2` grades the file.
#
# Conventions: images are NCHW, (batch, channels, height, width); a weight is
# (C_out, C_in // groups, kh, kw), as in PyTorch. "Convolution" is cross-correlation: the
# kernel is NOT flipped. stride, padding and dilation are an int (the same on both axes) or
# a pair (along the height, along the width); padding adds zeros on both sides of the two
# spatial axes only. Every function works in the dtype of x (float32 in, float32 out) and
# never changes its inputs.

# %%
import numpy as np
from jaxtyping import Float

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


def output_size(size: int, kernel: int, stride: int, padding: int, dilation: int) -> int:
    """Given: the output length of a convolution along one axis (part 1's formula).

    A dilated kernel spans dilation * (kernel - 1) + 1 inputs; it fits in the padded
    length size + 2 * padding at every stride-th start that leaves room for that span.
    """
    return (size + 2 * padding - dilation * (kernel - 1) - 1) // stride + 1


# %% [markdown]
# ## The forward pass: a sum of k² shifted matrix products


# %%
def conv2d(
    x: Float[np.ndarray, "n c_in h w"],
    w: Float[np.ndarray, "c_out c_in_per_group kh kw"],
    b: Float[np.ndarray, " c_out"] | None = None,
    *,
    stride: IntOrPair = 1,
    padding: IntOrPair = 0,
    dilation: IntOrPair = 1,
    groups: int = 1,
) -> Float[np.ndarray, "n c_out h_out w_out"]:
    """2-D convolution (cross-correlation) of a batch of images, as torch.nn.functional.conv2d.

    With (sh, sw) = stride, (ph, pw) = padding, (dh, dw) = dilation and xp = x padded with
    ph zeros above and below and pw zeros left and right, and with output channel o in
    group g = o // (C_out // groups), which sees the input channels
    g * C_in/groups ... (g + 1) * C_in/groups - 1:

        out[n, o, r, s] = b[o] + sum over c < C_in/groups, i < kh, j < kw of
                          w[o, c, i, j] * xp[n, g * C_in/groups + c, r*sh + i*dh, s*sw + j*dw]

    Dilation spreads the KERNEL's taps dh (dw) pixels apart; it never skips outputs.
    groups must divide C_in and C_out; groups = C_in = C_out is a depthwise convolution.
    b = None means no bias. Returns (N, C_out, H_out, W_out) in x's dtype, with
    H_out = (H + 2 ph - dh (kh - 1) - 1) // sh + 1 and W_out likewise.
    """
    raise NotImplementedError("conv2d")


if MAIN:
    check(conv2d)


# %% [markdown]
# ## The backward pass


# %%
def conv2d_backward(
    dout: Float[np.ndarray, "n c_out h_out w_out"],
    x: Float[np.ndarray, "n c_in h w"],
    w: Float[np.ndarray, "c_out c_in_per_group kh kw"],
    *,
    stride: IntOrPair = 1,
    padding: IntOrPair = 0,
    dilation: IntOrPair = 1,
    groups: int = 1,
) -> tuple[
    Float[np.ndarray, "n c_in h w"],
    Float[np.ndarray, "c_out c_in_per_group kh kw"],
    Float[np.ndarray, " c_out"],
]:
    """(dx, dw, db): the gradients of L through out = conv2d(x, w, b, ...) with the same
    stride, padding, dilation and groups, given dout = dL/dout.

    Each product w[o, c, i, j] * xp[n, ., r*sh + i*dh, s*sw + j*dw] in the forward sum sends
    dout[n, o, r, s] times the one factor to the other's gradient; db[o] sums dout[:, o].
    A pixel that no window reaches (the stride skipped it) gets a zero gradient; the padding
    has no gradient of its own (dx has x's shape). All three in x's dtype.
    """
    raise NotImplementedError("conv2d_backward")


if MAIN:
    check(conv2d_backward)


# %% [markdown]
# ## Transposed convolution


# %%
def conv_transpose2d(
    y: Float[np.ndarray, "n c_out h_y w_y"],
    w: Float[np.ndarray, "c_out c_in_per_group kh kw"],
    *,
    stride: IntOrPair = 1,
    padding: IntOrPair = 0,
    dilation: IntOrPair = 1,
    groups: int = 1,
    output_padding: IntOrPair = 0,
) -> Float[np.ndarray, "n c_in h w"]:
    """The transposed convolution: the adjoint of x -> conv2d(x, w, stride=..., ...).

    w has conv2d's layout (C_out, C_in // groups, kh, kw), the layout PyTorch's
    conv_transpose2d also uses; y has C_out channels and the result C_in. Each y[n, o, r, s]
    adds y[n, o, r, s] * w[o, c, i, j] at row r*sh + i*dh and column s*sw + j*dw of a
    zero-padded canvas (channel g * C_in/groups + c), and the result is the canvas without
    its ph rows (pw columns) of padding on each side:

        H = (H_y - 1) sh - 2 ph + dh (kh - 1) + oph + 1, with (oph, opw) = output_padding,

    and W likewise. output_padding (each 0 <= oph < sh, 0 <= opw < sw) adds rows at the
    bottom (columns at the right) that the last stride stepped over: conv2d maps sh inputs
    heights to the same H_y, and output_padding picks which one to return.
    For every x of that shape, <conv2d(x, w), y> = <x, conv_transpose2d(y, w)>, with the
    same stride, padding, dilation and groups. No bias. Returns an array in y's dtype.
    """
    raise NotImplementedError("conv_transpose2d")


if MAIN:
    check(conv_transpose2d)


# %% [markdown]
# ## Depthwise-separable convolution


# %%
def depthwise_separable_conv2d(
    x: Float[np.ndarray, "n c_in h w"],
    w_depth: Float[np.ndarray, "c_in 1 kh kw"],
    w_point: Float[np.ndarray, "c_out c_in 1 1"],
    *,
    stride: IntOrPair = 1,
    padding: IntOrPair = 0,
    dilation: IntOrPair = 1,
) -> Float[np.ndarray, "n c_out h_out w_out"]:
    """MobileNet's factorised convolution: a depthwise kh x kw convolution (each channel with
    its own kernel, groups = C_in, with the given stride, padding and dilation), then a
    pointwise 1 x 1 convolution that mixes the channels. No biases:

        z[n, c, r, s] = sum_{i, j} w_depth[c, 0, i, j] * xp[n, c, r*sh + i*dh, s*sw + j*dw]
        out[n, o, r, s] = sum_c w_point[o, c, 0, 0] * z[n, c, r, s]

    Returns (N, C_out, H_out, W_out) in x's dtype, H_out and W_out as for conv2d.
    """
    raise NotImplementedError("depthwise_separable_conv2d")


if MAIN:
    check(depthwise_separable_conv2d)
