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
    # BEGIN SOLUTION
    (sh, sw), (ph, pw), (dh, dw) = pair(stride), pair(padding), pair(dilation)
    n, c_in, h, wd = x.shape
    c_out, c_group, kh, kw = w.shape
    h_out, w_out = output_size(h, kh, sh, ph, dh), output_size(wd, kw, sw, pw, dw)
    # Channels first, then every position of the padded batch in one row: column q of
    # cols[g] is one pixel of one padded image, and the pixel i rows and j columns further
    # on is column q + i*dh*wp + j*dw.
    padded = np.zeros((c_in, n, h + 2 * ph, wd + 2 * pw), dtype=x.dtype)
    padded[:, :, ph : ph + h, pw : pw + wd] = x.transpose(1, 0, 2, 3)
    hp, wp = padded.shape[2:]
    cols = padded.reshape(groups, c_group, n * hp * wp)  # (G, C_in/G, M)
    kernels = w.reshape(groups, c_out // groups, c_group, kh, kw)
    # Compute the output at EVERY padded position whose taps stay inside the array: the
    # tap (i, j) of all of them at once is one matrix product with a shifted slice.
    span = (kh - 1) * dh * wp + (kw - 1) * dw
    length = n * hp * wp - span
    grid = np.zeros((groups, c_out // groups, n * hp * wp), dtype=x.dtype)
    for i in range(kh):
        for j in range(kw):
            shift = i * dh * wp + j * dw
            grid[:, :, :length] += kernels[:, :, :, i, j] @ cols[:, :, shift : shift + length]
    # Keep the positions where a window starts: every stride-th row and column.
    grid = grid.reshape(c_out, n, hp, wp)[:, :, : (h_out - 1) * sh + 1 : sh, : (w_out - 1) * sw + 1 : sw]
    out = np.ascontiguousarray(grid.transpose(1, 0, 2, 3))  # (N, C_out, H_out, W_out)
    if b is not None:
        out += b.astype(x.dtype)[:, None, None]
    return out
    # END SOLUTION


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
    # BEGIN SOLUTION
    (sh, sw), (ph, pw), (dh, dw) = pair(stride), pair(padding), pair(dilation)
    n, c_in, h, wd = x.shape
    c_out, c_group, kh, kw = w.shape
    h_out, w_out = dout.shape[2:]
    padded = np.zeros((c_in, n, h + 2 * ph, wd + 2 * pw), dtype=x.dtype)
    padded[:, :, ph : ph + h, pw : pw + wd] = x.transpose(1, 0, 2, 3)
    hp, wp = padded.shape[2:]
    cols = padded.reshape(groups, c_group, n * hp * wp)
    kernels = w.reshape(groups, c_out // groups, c_group, kh, kw)
    # dout placed where the forward pass kept its outputs on the padded grid, zero elsewhere.
    grid = np.zeros((c_out, n, hp, wp), dtype=x.dtype)
    grid[:, :, : (h_out - 1) * sh + 1 : sh, : (w_out - 1) * sw + 1 : sw] = dout.transpose(1, 0, 2, 3)
    span = (kh - 1) * dh * wp + (kw - 1) * dw
    length = n * hp * wp - span
    grid = grid.reshape(groups, c_out // groups, n * hp * wp)[:, :, :length]
    dcols = np.zeros_like(cols)  # (G, C_in/G, M)
    dkernels = np.zeros(kernels.shape, dtype=x.dtype)  # (G, C_out/G, C_in/G, kh, kw)
    for i in range(kh):
        for j in range(kw):
            shift = i * dh * wp + j * dw
            # forward: grid += kernel_ij @ cols[shift : shift + length]
            dkernels[:, :, :, i, j] = grid @ cols[:, :, shift : shift + length].swapaxes(1, 2)
            dcols[:, :, shift : shift + length] += kernels[:, :, :, i, j].swapaxes(1, 2) @ grid
    dpadded = dcols.reshape(c_in, n, hp, wp)
    dx = np.ascontiguousarray(dpadded[:, :, ph : ph + h, pw : pw + wd].transpose(1, 0, 2, 3))
    return dx, dkernels.reshape(w.shape), dout.sum(axis=(0, 2, 3)).astype(x.dtype)
    # END SOLUTION


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
    # BEGIN SOLUTION
    (sh, sw), (ph, pw), (dh, dw) = pair(stride), pair(padding), pair(dilation)
    oph, opw = pair(output_padding)
    n, c_out, h_y, w_y = y.shape
    _, c_group, kh, kw = w.shape
    h = (h_y - 1) * sh - 2 * ph + dh * (kh - 1) + oph + 1
    wd = (w_y - 1) * sw - 2 * pw + dw * (kw - 1) + opw + 1
    canvas = np.zeros((n, groups, c_group, h + 2 * ph, wd + 2 * pw), dtype=y.dtype)
    ys = y.reshape(n, groups, c_out // groups, h_y * w_y)
    kernels = w.reshape(groups, c_out // groups, c_group, kh, kw)
    for i in range(kh):
        for j in range(kw):
            # Tap (i, j) carries every output channel's y back to its input channels.
            spread = kernels[:, :, :, i, j].swapaxes(1, 2) @ ys  # (N, G, C_in/G, H_y * W_y)
            rows = slice(i * dh, i * dh + (h_y - 1) * sh + 1, sh)
            cols = slice(j * dw, j * dw + (w_y - 1) * sw + 1, sw)
            canvas[:, :, :, rows, cols] += spread.reshape(n, groups, c_group, h_y, w_y)
    return canvas[:, :, :, ph : ph + h, pw : pw + wd].reshape(n, groups * c_group, h, wd)
    # END SOLUTION


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
    # BEGIN SOLUTION
    depthwise = conv2d(x, w_depth, stride=stride, padding=padding, dilation=dilation, groups=x.shape[1])
    return conv2d(depthwise, w_point)  # a 1 x 1 convolution: a matrix product per pixel
    # END SOLUTION


if MAIN:
    check(depthwise_separable_conv2d)
