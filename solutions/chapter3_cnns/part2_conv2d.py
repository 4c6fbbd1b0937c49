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
# never changes its inputs. The tests compare float64 results with rtol 1e-8 (atol 1e-10),
# gradients against central differences with rtol 1e-6 (atol 1e-7), and float32 results
# within 1e-4 of the largest entry of the float64 answer.

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
    f_group = c_out // groups
    h_out, w_out = output_size(h, kh, sh, ph, dh), output_size(wd, kw, sw, pw, dw)
    hp, wp = h + 2 * ph, wd + 2 * pw
    # Kernel row i as one matrix (G, C_out/G, kw * C_in/G): its kw taps side by side.
    rows = w.reshape(groups, f_group, c_group, kh, kw).transpose(3, 0, 1, 4, 2)
    rows = rows.reshape(kh, groups, f_group, kw * c_group)
    bias = np.zeros(c_out, dtype=x.dtype) if b is None else b.astype(x.dtype)
    out = np.empty((n, c_out, h_out, w_out), dtype=x.dtype)
    # A block of images at a time, about 1 MB of stacked input each: a block's arrays stay
    # in the CPU's cache, and the next block reuses their memory instead of asking the
    # operating system for fresh pages (on the course's benchmark the same steps over the
    # whole batch at once took thousands of page faults per call and twice the time).
    block = max(1, 2**20 // (kw * c_in * hp * wp * x.itemsize))
    for start in range(0, n, block):
        images = x[start : start + block]
        nb = len(images)
        m = nb * hp * wp
        # Channels first, then every position of the padded block in one row: column q is
        # one pixel of one padded image, and the pixel i rows and j columns further on is
        # column q + i*dh*wp + j*dw. taps[:, 0] is that padded block; taps[:, j] is it
        # shifted j*dw columns, what tap j of a kernel row reads. Stacked, the kw taps of a
        # row are ONE matrix product with kw * C_in/G rows instead of kw small ones.
        taps = np.zeros((groups, kw, c_group, nb, hp, wp), dtype=x.dtype)
        grouped = images.reshape(nb, groups, c_group, h, wd).transpose(1, 2, 0, 3, 4)
        taps[:, 0, :, :, ph : ph + h, pw : pw + wd] = grouped
        taps = taps.reshape(groups, kw, c_group, m)
        for j in range(1, kw):
            taps[:, j, :, : m - j * dw] = taps[:, 0, :, j * dw :]
        taps = taps.reshape(groups, kw * c_group, m)
        # The output at EVERY padded position whose taps stay inside the block: kernel row
        # i of all of them at once is one product with the stack shifted i*dh rows down.
        length = m - (kh - 1) * dh * wp - (kw - 1) * dw
        # Row 0 writes grid[:, :, :length] (no window starts beyond: those positions are
        # never kept), and each further row adds its product.
        grid = np.empty((groups, f_group, m), dtype=x.dtype)
        np.matmul(rows[0], taps[:, :, :length], out=grid[:, :, :length])
        product = np.empty((groups, f_group, length), dtype=x.dtype)  # reused for every row
        for i in range(1, kh):
            shift = i * dh * wp
            np.matmul(rows[i], taps[:, :, shift : shift + length], out=product)
            grid[:, :, :length] += product
        # Keep the positions where a window starts: every stride-th row and column; copy
        # them to the output and add the bias in one pass.
        grid = grid.reshape(c_out, nb, hp, wp)[:, :, : (h_out - 1) * sh + 1 : sh, : (w_out - 1) * sw + 1 : sw]
        np.add(grid.transpose(1, 0, 2, 3), bias[:, None, None], out=out[start : start + nb])
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
    f_group = c_out // groups
    h_out, w_out = dout.shape[2:]
    hp, wp = h + 2 * ph, wd + 2 * pw
    rows = w.reshape(groups, f_group, c_group, kh, kw).transpose(3, 0, 1, 4, 2)
    rows = rows.reshape(kh, groups, f_group, kw * c_group)
    drows = np.zeros((kh, groups, kw * c_group, f_group), dtype=x.dtype)
    dx = np.empty_like(x)
    dx_grouped = dx.reshape(n, groups, c_group, h, wd)  # a view: writing it fills dx
    block = max(1, 2**20 // (kw * c_in * hp * wp * x.itemsize))  # as in conv2d
    for start in range(0, n, block):
        images = x[start : start + block]
        nb = len(images)
        m = nb * hp * wp
        # The forward pass's stack of the kw shifted copies of the padded block.
        taps = np.zeros((groups, kw, c_group, nb, hp, wp), dtype=x.dtype)
        grouped = images.reshape(nb, groups, c_group, h, wd).transpose(1, 2, 0, 3, 4)
        taps[:, 0, :, :, ph : ph + h, pw : pw + wd] = grouped
        taps = taps.reshape(groups, kw, c_group, m)
        for j in range(1, kw):
            taps[:, j, :, : m - j * dw] = taps[:, 0, :, j * dw :]
        taps = taps.reshape(groups, kw * c_group, m)
        length = m - (kh - 1) * dh * wp - (kw - 1) * dw
        # dout placed where the forward pass kept its outputs on the padded grid, zero elsewhere.
        grid = np.zeros((c_out, nb, hp, wp), dtype=x.dtype)
        kept = grid[:, :, : (h_out - 1) * sh + 1 : sh, : (w_out - 1) * sw + 1 : sw]
        kept[...] = dout[start : start + nb].transpose(1, 0, 2, 3)
        grid = grid.reshape(groups, f_group, m)[:, :, :length]
        dcols = np.zeros((groups, c_group, m), dtype=x.dtype)
        dtaps = np.empty((groups, kw, c_group, length), dtype=x.dtype)  # reused for every row
        # The same numbers laid out (G, length, C_out/G): BLAS runs the weight-gradient
        # products about 40 % faster with this factor contiguous along its long axis.
        grid_t = np.ascontiguousarray(grid.swapaxes(1, 2))
        for i in range(kh):
            shift = i * dh * wp
            # forward: grid += rows[i] @ taps[:, :, shift : shift + length], so (chapter 2's
            # linear layer) drows[i] += taps_slice @ grid.T and dtaps_slice += rows[i].T @ grid.
            drows[i] += taps[:, :, shift : shift + length] @ grid_t
            np.matmul(rows[i].swapaxes(1, 2), grid, out=dtaps.reshape(groups, kw * c_group, length))
            for j in range(kw):  # copy j was the padded block shifted j*dw columns on
                dcols[:, :, shift + j * dw : shift + j * dw + length] += dtaps[:, j]
        dpadded = dcols.reshape(groups, c_group, nb, hp, wp)[:, :, :, ph : ph + h, pw : pw + wd]
        dx_grouped[start : start + nb] = dpadded.transpose(2, 0, 1, 3, 4)
    # drows[i, g, j * C_in/G + c, o] is the gradient of w[g * C_out/G + o, c, i, j].
    dkernels = drows.reshape(kh, groups, kw, c_group, f_group).transpose(1, 4, 3, 0, 2)
    return dx, np.ascontiguousarray(dkernels).reshape(w.shape), dout.sum(axis=(0, 2, 3)).astype(x.dtype)
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
