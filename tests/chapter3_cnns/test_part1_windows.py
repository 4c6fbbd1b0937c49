"""Tests for chapter 3, part 1: the output-length formula, windows as views, im2col and
col2im, conv2d as one matrix product, conv1d and causal conv1d.

Expected values come from the definitions written as loops in this file (one window or
one output at a time, in float64), from hand-counted output lengths, from the adjoint
identity <im2col(x), Y> = <x, col2im(Y)>, and from a direct causality check (changing the
input at time t0 must leave every output before t0 unchanged). Views are checked with
np.shares_memory and the writeable flag. Sizes are odd and never square; float64 results
must match to rtol 1e-8 (atol 1e-10), float32 results must be float32 and within 1e-4 of
the float64 answer (relative to its largest entry).
"""

import numpy as np
import pytest

from grader.testkit import Call, exercise, expect, expect_close, expect_equal, rng, run

RTOL, ATOL = 1e-8, 1e-10
FLIPPED = "flip the kernel (that is convolution in the maths sense; the course's is cross-correlation)"


def _pair(v):
    return (v, v) if isinstance(v, int) else tuple(v)


def _length(size, k, s=1, p=0, d=1):
    return max((size + 2 * p - d * (k - 1) - 1) // s + 1, 0)


def _expect_shape(call, want_shape, explain):
    got = getattr(call.value, "shape", None)
    expect(got == tuple(want_shape), f"{call}: shape {got}, expected {tuple(want_shape)}; {explain}")


def _expect_float32(call, want):
    got = call.value
    expect(
        isinstance(got, np.ndarray) and got.dtype == np.float32,
        f"{call}: dtype {getattr(got, 'dtype', type(got).__name__)}; float32 inputs must give a "
        "float32 result",
    )
    expect_close(call, want, rtol=1e-4, atol=1e-4 * float(np.abs(want).max()), what="float32 result")


def _expect_read_only_view(call, base):
    out = call.value
    expect(
        isinstance(out, np.ndarray) and np.shares_memory(out, base),
        f"{call}: the result does not share memory with x; build a view (as_strided or "
        "sliding_window_view and slicing), not a copy",
    )
    expect(
        not out.flags.writeable,
        f"{call}: the view is writeable; overlapping windows share entries, so make it read-only "
        "(as_strided(..., writeable=False); sliding_window_view's views already are)",
    )


# --- loops -----------------------------------------------------------------------------------------


def _windows1d_loops(x, k, s, d, *, dilate_input=False):
    n, c, length = x.shape
    l_out = _length(length, k, s, 0, d)
    out = np.zeros((n, c, l_out, k), x.dtype)
    for t in range(l_out):
        for j in range(k):
            at = (t * s + j) * d if dilate_input else t * s + j * d
            out[:, :, t, j] = x[:, :, at]
    return out


def _windows2d_loops(x, k, s, d, *, undilated=False):
    """The windows from the definition; undilated: the mistake of taking each window's first
    kh x kw entries instead of every dilation-th one (the output size still dilated)."""
    (kh, kw), (sh, sw), (dh, dw) = _pair(k), _pair(s), _pair(d)
    n, c, h, w = x.shape
    h_out, w_out = _length(h, kh, sh, 0, dh), _length(w, kw, sw, 0, dw)
    out = np.zeros((n, c, h_out, w_out, kh, kw), x.dtype)
    for r in range(h_out):
        for s_ in range(w_out):
            for i in range(kh):
                for j in range(kw):
                    step_h, step_w = (1, 1) if undilated else (dh, dw)
                    out[:, :, r, s_, i, j] = x[:, :, r * sh + i * step_h, s_ * sw + j * step_w]
    return out


def _im2col_loops(x, k, s, p, d, *, order="cij"):
    (ph, pw) = _pair(p)
    xp = np.pad(np.asarray(x, np.float64), ((0, 0), (0, 0), (ph, ph), (pw, pw)))
    win = _windows2d_loops(xp, k, s, d)  # (n, c, h_out, w_out, kh, kw)
    n, c, h_out, w_out, kh, kw = win.shape
    rows = []
    for b in range(n):
        for r in range(h_out):
            for s_ in range(w_out):
                patch = win[b, :, r, s_]  # (c, kh, kw)
                rows.append((patch if order == "cij" else patch.transpose(1, 2, 0)).ravel())
    return np.array(rows).reshape(n * h_out * w_out, c * kh * kw)


def _col2im_loops(cols, x_shape, k, s, p, d, *, assign=False):
    (kh, kw), (sh, sw), (ph, pw), (dh, dw) = _pair(k), _pair(s), _pair(p), _pair(d)
    n, c, h, w = x_shape
    h_out, w_out = _length(h, kh, sh, ph, dh), _length(w, kw, sw, pw, dw)
    xp = np.zeros((n, c, h + 2 * ph, w + 2 * pw))
    blocks = cols.reshape(n, h_out, w_out, c, kh, kw)
    for b in range(n):
        for r in range(h_out):
            for s_ in range(w_out):
                for i in range(kh):
                    for j in range(kw):
                        u, v = r * sh + i * dh, s_ * sw + j * dw
                        if assign:
                            xp[b, :, u, v] = blocks[b, r, s_, :, i, j]
                        else:
                            xp[b, :, u, v] += blocks[b, r, s_, :, i, j]
    return xp[:, :, ph : ph + h, pw : pw + w]


def _conv2d_loops(x, w, b, s, p, d, *, flip=False):
    (sh, sw), (ph, pw), (dh, dw) = _pair(s), _pair(p), _pair(d)
    x, w = np.asarray(x, np.float64), np.asarray(w, np.float64)
    if flip:
        w = w[:, :, ::-1, ::-1]
    n, c, h, wd = x.shape
    c_out, _, kh, kw = w.shape
    xp = np.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)))
    h_out, w_out = _length(h, kh, sh, ph, dh), _length(wd, kw, sw, pw, dw)
    out = np.zeros((n, c_out, h_out, w_out))
    for r in range(h_out):
        for s_ in range(w_out):
            patch = xp[:, :, r * sh + dh * np.arange(kh)][:, :, :, s_ * sw + dw * np.arange(kw)]
            out[:, :, r, s_] = np.tensordot(patch, w, axes=([1, 2, 3], [1, 2, 3]))
    if b is not None:
        out += np.asarray(b, np.float64)[:, None, None]
    return out


def _conv1d_loops(x, w, b, s=1, p=0, d=1, *, flip=False, dilate_input=False, left=None, right=None):
    """out[n, o, t] from the definition; left/right override the padding at each end."""
    x, w = np.asarray(x, np.float64), np.asarray(w, np.float64)
    if flip:
        w = w[:, :, ::-1]
    left = p if left is None else left
    right = p if right is None else right
    xp = np.pad(x, ((0, 0), (0, 0), (left, right)))
    c_out, _, k = w.shape
    l_out = (xp.shape[2] - d * (k - 1) - 1) // s + 1
    out = np.zeros((x.shape[0], c_out, l_out))
    for t in range(l_out):
        for j in range(k):
            at = (t * s + j) * d if dilate_input else t * s + j * d
            if at >= xp.shape[2]:
                raise IndexError("this mistake reads past the end")
            out[:, :, t] += xp[:, :, at] @ w[:, :, j].T
    if b is not None:
        out += np.asarray(b, np.float64)[:, None]
    return out


# --- conv_output_length ------------------------------------------------------------------------------

LENGTHS = [
    # (length, kernel, stride, padding, dilation, hand-counted outputs)
    (10, 3, 1, 0, 1, 8),
    (10, 3, 1, 1, 1, 10),
    (10, 3, 2, 1, 1, 5),
    (11, 3, 2, 0, 1, 5),
    (11, 3, 1, 0, 2, 7),
    (32, 3, 2, 1, 2, 15),
    (7, 4, 3, 2, 1, 3),
    (5, 5, 1, 0, 1, 1),
    (9, 2, 4, 0, 3, 2),
    (224, 11, 4, 2, 1, 55),  # AlexNet's first layer
]


@exercise("conv_output_length")
@pytest.mark.parametrize("length, k, s, p, d, want", LENGTHS, ids=[str(case[:5]) for case in LENGTHS])
def test_conv_output_length_hand_counted(impl, length, k, s, p, d, want):
    call = run(impl.conv_output_length, length, k, s, p, d)
    expect_equal(
        call,
        want,
        mistakes={
            "take the kernel's span to be dilation * kernel_size (one entry too many)": (
                length + 2 * p - d * k
            )
            // s
            + 1,
            "forget the dilation": (length + 2 * p - k) // s + 1,
            "pad only one end": (length + p - d * (k - 1) - 1) // s + 1,
            "forget the + 1 (the window that starts at 0)": (length + 2 * p - d * (k - 1) - 1) // s,
        },
    )


@exercise("conv_output_length")
def test_conv_output_length_defaults_and_type(impl):
    call = run(impl.conv_output_length, 9, 4)
    expect(
        isinstance(call.value, (int, np.integer)) and not isinstance(call.value, bool),
        f"{call}: returned {type(call.value).__name__}; expected a Python int",
    )
    expect_equal(call, 6, what="stride 1, no padding, no dilation by default")


@exercise("conv_output_length")
@pytest.mark.parametrize("length, k, s, p, d", [(2, 5, 1, 0, 1), (4, 3, 1, 0, 3), (1, 4, 2, 1, 1)])
def test_conv_output_length_is_zero_when_the_kernel_does_not_fit(impl, length, k, s, p, d):
    call = run(impl.conv_output_length, length, k, s, p, d)
    expect_equal(call, 0, what="no window fits; the count is 0, never negative")


# --- windows1d / windows2d -----------------------------------------------------------------------------


@exercise("windows1d")
@pytest.mark.parametrize("k, s, d", [(3, 1, 1), (3, 2, 1), (2, 1, 3), (4, 3, 2), (13, 1, 1)])
def test_windows1d_match_loops(impl, k, s, d):
    x = rng(1).normal(size=(2, 3, 13))
    call = run(impl.windows1d, x, k, s, d)
    want = _windows1d_loops(x, k, s, d)
    _expect_shape(
        call, want.shape, "(N, C, L_out, k) with L_out = conv_output_length(L, k, stride, 0, dilation)"
    )
    mistakes = {}
    if (want.shape[2] - 1) * s * d + (k - 1) * d < x.shape[2]:
        mistakes["spread the windows' starts by the dilation too (read x[(t*stride + j) * dilation])"] = (
            lambda: _windows1d_loops(x, k, s, d, dilate_input=True)
        )
    expect_equal(call, want, mistakes=mistakes)


@exercise("windows1d")
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_windows1d_is_a_read_only_view(impl, dtype):
    x = rng(2).normal(size=(3, 2, 11)).astype(dtype)
    call = run(impl.windows1d, x, 3, 2, 2)
    _expect_read_only_view(call, x)
    expect_equal(call, _windows1d_loops(x, 3, 2, 2), what=f"windows of a {np.dtype(dtype).name} array")


@exercise("windows1d")
def test_windows1d_of_a_non_contiguous_input(impl):
    # every other time step of a bigger array: its strides are not those of a fresh array
    big = rng(3).normal(size=(2, 3, 24))
    x = big[:, :, ::2]
    call = run(impl.windows1d, x, 3, 1, 2)
    expect_equal(call, _windows1d_loops(x, 3, 1, 2), what="windows of x = big[:, :, ::2] (use x.strides)")


WINDOWS2D = [(3, 1, 1), ((3, 2), (2, 1), 1), (2, (1, 3), (2, 1)), ((1, 4), 2, (1, 2)), ((7, 1), 1, 1)]


@exercise("windows2d")
@pytest.mark.parametrize("k, s, d", WINDOWS2D, ids=[str(case) for case in WINDOWS2D])
def test_windows2d_match_loops(impl, k, s, d):
    x = rng(4).normal(size=(2, 3, 7, 9))
    call = run(impl.windows2d, x, k, s, d)
    want = _windows2d_loops(x, k, s, d)
    _expect_shape(
        call, want.shape, "(N, C, H_out, W_out, kh, kw); the first of each pair is along the height"
    )
    mistakes = {}
    if _pair(d) != (1, 1):
        mistakes["take each window's first kh x kw entries instead of every dilation-th one"] = lambda: (
            _windows2d_loops(x, k, s, d, undilated=True)
        )
    expect_equal(call, want, mistakes=mistakes)


@exercise("windows2d")
def test_windows2d_is_a_read_only_view(impl):
    x = rng(5).normal(size=(1, 2, 8, 5)).astype(np.float32)
    call = run(impl.windows2d, x, (3, 2), (2, 1), (1, 2))
    _expect_read_only_view(call, x)
    expect_equal(call, _windows2d_loops(x, (3, 2), (2, 1), (1, 2)))


@exercise("windows2d")
def test_windows2d_of_a_non_contiguous_input(impl):
    big = rng(17).normal(size=(2, 6, 9, 12))
    x = big[:, ::2, :, ::2]  # every other channel and column: strides unlike a fresh array's
    call = run(impl.windows2d, x, (2, 3), (1, 2), (3, 1))
    expect_equal(call, _windows2d_loops(x, (2, 3), (1, 2), (3, 1)), what="windows of big[:, ::2, :, ::2]")


# --- im2col / col2im -------------------------------------------------------------------------------------

IM2COL = [
    # (x shape, kernel, stride, padding, dilation)
    ((2, 3, 5, 6), 3, 1, 0, 1),
    ((2, 3, 7, 9), (3, 2), (2, 1), (1, 2), (1, 2)),
    ((1, 2, 8, 5), 2, 3, 1, 1),
    ((3, 1, 6, 7), (1, 3), 1, (0, 1), (1, 2)),
    ((1, 4, 4, 4), 4, 1, 0, 1),
]


def _ids(cases):
    return [f"{shape}-k{k}-s{s}-p{p}-d{d}" for shape, k, s, p, d in cases]


@exercise("im2col")
@pytest.mark.parametrize("shape, k, s, p, d", IM2COL, ids=_ids(IM2COL))
def test_im2col_matches_loops(impl, shape, k, s, p, d):
    x = rng(6).normal(size=shape)
    call = run(impl.im2col, x, k, s, p, d)
    want = _im2col_loops(x, k, s, p, d)
    _expect_shape(call, want.shape, "(N * H_out * W_out, C * kh * kw)")
    expect_close(
        call,
        want,
        rtol=0,
        atol=0,
        mistakes={
            "order each row's entries (i, j, c) (channels last) instead of (c, i, j)": lambda: _im2col_loops(
                x, k, s, p, d, order="ijc"
            )
        },
    )


@exercise("im2col")
def test_im2col_keeps_float32_and_makes_a_matrix_for_the_weights(impl):
    g = rng(7)
    x = g.normal(size=(2, 3, 6, 5)).astype(np.float32)
    w = g.normal(size=(4, 3, 3, 2)).astype(np.float32)
    call = run(impl.im2col, x, (3, 2), 1, 1, 1)
    expect_equal(call, _im2col_loops(x, (3, 2), 1, 1, 1).astype(np.float32))
    product = Call(call.value @ w.reshape(4, -1).T, f"{call} @ w.reshape(C_out, -1).T")
    want = _conv2d_loops(x, w, None, 1, 1, 1).transpose(0, 2, 3, 1).reshape(-1, 4)
    expect_close(product, want, rtol=1e-4, atol=1e-4 * float(np.abs(want).max()), what="the convolution")


@exercise("im2col")
def test_im2col_pads_the_spatial_axes_with_zeros(impl):
    # one pixel of value 7 in each of two channels, a 3 x 3 kernel, padding 1: one window,
    # centred on the pixel; every other entry of the row is padding
    x = np.full((1, 2, 1, 1), 7.0)
    call = run(impl.im2col, x, 3, 1, 1)
    row = np.zeros((1, 18))
    row[0, [4, 13]] = 7.0  # (c, i, j) = (0, 1, 1) and (1, 1, 1)
    expect_equal(call, row, what="the single window of a 1 x 1 image padded by 1")


@exercise("col2im")
@pytest.mark.parametrize("shape, k, s, p, d", IM2COL, ids=_ids(IM2COL))
def test_col2im_matches_loops(impl, shape, k, s, p, d):
    cols = rng(8).normal(size=_im2col_loops(np.zeros(shape), k, s, p, d).shape)
    call = run(impl.col2im, cols, shape, k, s, p, d)
    _expect_shape(call, shape, "x_shape")
    expect_close(
        call,
        _col2im_loops(cols, shape, k, s, p, d),
        rtol=RTOL,
        atol=ATOL,
        mistakes={
            "assign where windows overlap instead of adding": lambda: _col2im_loops(
                cols, shape, k, s, p, d, assign=True
            )
        },
    )


@exercise("col2im")
@pytest.mark.parametrize("shape, k, s, p, d", IM2COL, ids=_ids(IM2COL))
def test_col2im_is_the_adjoint_of_im2col(impl, shape, k, s, p, d):
    g = rng(9)
    x = g.normal(size=shape)
    cols_x = _im2col_loops(x, k, s, p, d)
    y = g.normal(size=cols_x.shape)
    call = run(impl.col2im, y, shape, k, s, p, d)
    _expect_shape(call, shape, "x_shape")
    lhs, rhs = float((cols_x * y).sum()), float((x * call.value).sum())
    expect(
        abs(lhs - rhs) <= 1e-9 * max(1.0, abs(lhs)),
        f"{call}: <im2col(x), Y> = {lhs:.10g} but <x, col2im(Y)> = {rhs:.10g} for a random x",
    )


@exercise("col2im")
def test_col2im_counts_overlaps(impl):
    # all-ones columns: each pixel receives the number of windows that read it
    shape, k, s = (1, 1, 4, 5), 3, 1
    cols = np.ones((2 * 3, 9))
    call = run(impl.col2im, cols, shape, k, s)
    counts = np.array([[1, 2, 3, 2, 1], [2, 4, 6, 4, 2], [2, 4, 6, 4, 2], [1, 2, 3, 2, 1]], float)
    expect_close(
        call,
        counts.reshape(shape),
        rtol=0,
        atol=1e-12,
        mistakes={"assign where windows overlap instead of adding": np.ones(shape)},
        what="how many 3 x 3 windows read each pixel of a 4 x 5 image",
    )


# --- conv2d_im2col ---------------------------------------------------------------------------------------


@exercise("conv2d_im2col")
@pytest.mark.parametrize("shape, k, s, p, d", IM2COL, ids=_ids(IM2COL))
def test_conv2d_im2col_matches_loops(impl, shape, k, s, p, d):
    g = rng(10)
    x = g.normal(size=shape)
    w = g.normal(size=(5, shape[1]) + _pair(k))
    b = g.normal(size=5)
    call = run(impl.conv2d_im2col, x, w, b, stride=s, padding=p, dilation=d)
    want = _conv2d_loops(x, w, b, s, p, d)
    _expect_shape(call, want.shape, "(N, C_out, H_out, W_out)")
    expect_close(
        call,
        want,
        rtol=RTOL,
        atol=ATOL,
        mistakes={
            FLIPPED: lambda: _conv2d_loops(x, w, b, s, p, d, flip=True),
            "forget the bias": lambda: _conv2d_loops(x, w, None, s, p, d),
            "reshape the product to (N, C_out, H_out, W_out) without a transpose": lambda: (
                _conv2d_loops(x, w, None, s, p, d).transpose(0, 2, 3, 1).reshape(want.shape)
                + b[:, None, None]
            ),
        },
    )


@exercise("conv2d_im2col")
def test_conv2d_im2col_hand_case(impl):
    # out[r, s] = x[r, s] - x[r + 1, s + 1] = -5 for x = 0 ... 11 in rows of 4
    x = np.arange(12.0).reshape(1, 1, 3, 4)
    w = np.array([[[[1.0, 0.0], [0.0, -1.0]]]])
    call = run(impl.conv2d_im2col, x, w)
    expect_close(call, np.full((1, 1, 2, 3), -5.0), mistakes={FLIPPED: np.full((1, 1, 2, 3), 5.0)})


@exercise("conv2d_im2col")
def test_conv2d_im2col_without_bias_and_in_float32(impl):
    g = rng(11)
    x = g.normal(size=(2, 3, 7, 6)).astype(np.float32)
    w = g.normal(size=(4, 3, 2, 3)).astype(np.float32)
    call = run(impl.conv2d_im2col, x, w, None, stride=(2, 1), padding=1)
    _expect_float32(call, _conv2d_loops(x, w, None, (2, 1), 1, 1))


# --- conv1d ------------------------------------------------------------------------------------------------

CONV1D = [
    # (n, c_in, c_out, length, k, stride, padding, dilation)
    (2, 3, 4, 11, 3, 1, 0, 1),
    (2, 3, 4, 12, 3, 2, 1, 2),
    (1, 2, 5, 9, 4, 3, 2, 1),
    (2, 1, 1, 5, 5, 1, 0, 1),
    (3, 4, 2, 16, 2, 1, 3, 4),
    (1, 3, 3, 10, 1, 2, 0, 1),
]


@exercise("conv1d")
@pytest.mark.parametrize("config", CONV1D, ids=[str(c) for c in CONV1D])
def test_conv1d_matches_loops(impl, config):
    n, c_in, c_out, length, k, s, p, d = config
    g = rng(12)
    x, w, b = g.normal(size=(n, c_in, length)), g.normal(size=(c_out, c_in, k)), g.normal(size=c_out)
    call = run(impl.conv1d, x, w, b, stride=s, padding=p, dilation=d)
    want = _conv1d_loops(x, w, b, s, p, d)
    _expect_shape(call, want.shape, "L_out = (L + 2 padding - dilation (k - 1) - 1) // stride + 1")
    expect_close(
        call,
        want,
        rtol=RTOL,
        atol=ATOL,
        mistakes={
            FLIPPED: lambda: _conv1d_loops(x, w, b, s, p, d, flip=True),
            "forget the bias": lambda: _conv1d_loops(x, w, None, s, p, d),
            "spread the windows' starts by the dilation too": lambda: _conv1d_loops(
                x, w, b, s, p, d, dilate_input=True
            ),
        },
    )


@exercise("conv1d")
def test_conv1d_hand_case(impl):
    # a difference kernel [-1, 1] on 0, 1, 4, 9, 16: out[t] = x[t + 1] - x[t]
    x = np.array([[[0.0, 1.0, 4.0, 9.0, 16.0]]])
    w = np.array([[[-1.0, 1.0]]])
    call = run(impl.conv1d, x, w)
    expect_close(
        call, np.array([[[1.0, 3.0, 5.0, 7.0]]]), mistakes={FLIPPED: np.array([[[-1.0, -3.0, -5.0, -7.0]]])}
    )


@exercise("conv1d")
def test_conv1d_keeps_float32(impl):
    g = rng(13)
    x = g.normal(size=(2, 3, 14)).astype(np.float32)
    w = g.normal(size=(4, 3, 3)).astype(np.float32)
    b = g.normal(size=4).astype(np.float32)
    _expect_float32(
        run(impl.conv1d, x, w, b, stride=2, padding=1, dilation=2), _conv1d_loops(x, w, b, 2, 1, 2)
    )


# --- causal_conv1d ---------------------------------------------------------------------------------


@exercise("causal_conv1d")
@pytest.mark.parametrize("k, d", [(2, 1), (3, 1), (2, 4), (3, 2), (1, 1)])
def test_causal_conv1d_matches_loops(impl, k, d):
    g = rng(14)
    x, w, b = g.normal(size=(2, 3, 13)), g.normal(size=(4, 3, k)), g.normal(size=4)
    call = run(impl.causal_conv1d, x, w, b, dilation=d)
    _expect_shape(call, (2, 4, 13), "a causal convolution has one output per input step")
    span = (k - 1) * d
    mistakes = {
        "pad (k - 1) * dilation - 1 on the left and 1 on the right (output t then sees x[t + 1])": (
            lambda: _conv1d_loops(x, w, b, d=d, left=span - 1, right=1)
        ),
        "flip the kernel (its last tap must multiply the present x[t])": lambda: _conv1d_loops(
            x, w, b, d=d, left=span, right=0, flip=True
        ),
    }
    if span % 2 == 0:
        mistakes["pad half of (k - 1) * dilation on each side (a centred, non-causal kernel)"] = lambda: (
            _conv1d_loops(x, w, b, d=d, left=span // 2, right=span // 2)
        )
    if span > 0:
        mistakes["pad only (k - 1) on the left and the rest on the right"] = lambda: _conv1d_loops(
            x, w, b, d=d, left=k - 1, right=span - (k - 1)
        )
    expect_close(
        call, _conv1d_loops(x, w, b, d=d, left=span, right=0), rtol=RTOL, atol=ATOL, mistakes=mistakes
    )


@exercise("causal_conv1d")
@pytest.mark.parametrize("k, d, t0", [(3, 1, 6), (2, 4, 9), (4, 2, 5)])
def test_causal_conv1d_never_sees_the_future(impl, k, d, t0):
    g = rng(15)
    x, w = g.normal(size=(1, 2, 12)), g.normal(size=(3, 2, k))
    before = run(impl.causal_conv1d, x, w, dilation=d)
    changed = x.copy()
    changed[:, :, t0] += 10.0
    after = run(impl.causal_conv1d, changed, w, dilation=d)
    _expect_shape(before, (1, 3, 12), "one output per input step")
    _expect_shape(after, (1, 3, 12), "one output per input step")
    moved = np.abs(after.value - before.value).max(axis=(0, 1)) > 1e-9
    expect(
        not moved[:t0].any(),
        f"{after}: changing the input at t = {t0} changed the outputs at t = "
        f"{np.flatnonzero(moved[:t0]).tolist()}; output t may depend on x[..., :t + 1] only",
    )
    expect(
        bool(moved[t0]),
        f"{after}: changing the input at t = {t0} left the output at t = {t0} unchanged; the last tap "
        "w[:, :, k - 1] multiplies the present input",
    )


@exercise("causal_conv1d")
def test_causal_conv1d_keeps_float32(impl):
    g = rng(16)
    x = g.normal(size=(2, 3, 10)).astype(np.float32)
    w = g.normal(size=(2, 3, 3)).astype(np.float32)
    want = _conv1d_loops(x, w, None, d=2, left=4, right=0)
    _expect_float32(run(impl.causal_conv1d, x, w, None, dilation=2), want)
