"""Tests for chapter 3, part 3: max and average pooling, forward and backward, and global
average pooling.

Expected values come from the definitions written as loops in this file (one window at a
time, in float64, with Python's max over the window's entries in row-major order), from
hand calculations (tied maxima, all-negative inputs next to the padding, the share of a
padded window), and from central differences of this file's loop forward passes (on
inputs without ties, where the max is differentiable). Sizes are odd and never square;
float64 results must match to rtol 1e-8 (atol 1e-10), float32 results must be float32 and
within 1e-5 of the float64 answer (relative to its largest entry).
"""

import numpy as np
import pytest

from grader.testkit import exercise, expect, expect_close, numeric_grad, rng, run

RTOL, ATOL = 1e-8, 1e-10


def _pair(v):
    return (v, v) if isinstance(v, int) else tuple(v)


def _settings(k, s, p):
    (kh, kw), (ph, pw) = _pair(k), _pair(p)
    sh, sw = _pair(k if s is None else s)
    return kh, kw, sh, sw, ph, pw


def _windows(x, k, s, p, fill):
    """{(r, s): the window's padded block} for every output pixel, and the output size."""
    kh, kw, sh, sw, ph, pw = _settings(k, s, p)
    xp = np.pad(np.asarray(x, np.float64), ((0, 0), (0, 0), (ph, ph), (pw, pw)), constant_values=fill)
    h_out, w_out = (xp.shape[2] - kh) // sh + 1, (xp.shape[3] - kw) // sw + 1
    return xp, h_out, w_out


def _maxpool_loops(x, k, s, p, fill=-np.inf):
    kh, kw, sh, sw, *_ = _settings(k, s, p)
    xp, h_out, w_out = _windows(x, k, s, p, fill)
    out = np.zeros(x.shape[:2] + (h_out, w_out))
    for r in range(h_out):
        for c in range(w_out):
            out[:, :, r, c] = xp[:, :, r * sh : r * sh + kh, c * sw : c * sw + kw].max(axis=(2, 3))
    return out


def _maxpool_backward_loops(dout, x, k, s, p, *, every_tie=False, assign=False):
    """Each window's gradient to its first maximum in row-major order (or, for the
    mistakes, to every tied maximum, or assigned instead of added)."""
    kh, kw, sh, sw, ph, pw = _settings(k, s, p)
    xp, h_out, w_out = _windows(x, k, s, p, -np.inf)
    dxp = np.zeros_like(xp)
    for b in range(x.shape[0]):
        for ch in range(x.shape[1]):
            for r in range(h_out):
                for c in range(w_out):
                    block = xp[b, ch, r * sh : r * sh + kh, c * sw : c * sw + kw]
                    best = max(block.ravel().tolist())
                    for i in range(kh):
                        for j in range(kw):
                            if block[i, j] == best:
                                u, v = r * sh + i, c * sw + j
                                if assign:
                                    dxp[b, ch, u, v] = dout[b, ch, r, c]
                                else:
                                    dxp[b, ch, u, v] += dout[b, ch, r, c]
                                if not every_tie:
                                    break
                        else:
                            continue
                        if not every_tie:
                            break
    return dxp[:, :, ph : ph + x.shape[2], pw : pw + x.shape[3]]


def _avgpool_loops(x, k, s, p, *, real_only=False):
    kh, kw, sh, sw, *_ = _settings(k, s, p)
    xp, h_out, w_out = _windows(x, k, s, p, 0.0)
    counts = _windows(np.ones(x.shape), k, s, p, 0.0)[0]
    out = np.zeros(x.shape[:2] + (h_out, w_out))
    for r in range(h_out):
        for c in range(w_out):
            rows, cols = slice(r * sh, r * sh + kh), slice(c * sw, c * sw + kw)
            total = xp[:, :, rows, cols].sum(axis=(2, 3))
            out[:, :, r, c] = total / (counts[:, :, rows, cols].sum(axis=(2, 3)) if real_only else kh * kw)
    return out


CONFIGS = [
    # (x shape, kernel, stride, padding): stride None means the kernel size
    ((2, 3, 7, 9), 2, None, 0),
    ((2, 3, 8, 7), 3, 2, 1),
    ((1, 2, 9, 10), (3, 2), (2, 1), (1, 0)),
    ((2, 2, 5, 6), (2, 3), 1, (1, 1)),
    ((1, 3, 11, 5), (4, 1), (3, 1), (2, 0)),
    ((3, 1, 6, 6), 3, None, 1),
]


def _ids(cases):
    return [f"{shape}-k{k}-s{s}-p{p}" for shape, k, s, p in cases]


def _expect_shape(call, want_shape):
    got = getattr(call.value, "shape", None)
    expect(
        got == tuple(want_shape),
        f"{call}: shape {got}, expected {tuple(want_shape)}; H_out = (H + 2 ph - kh) // sh + 1 "
        "(and likewise along the width), and stride None means stride = kernel_size",
    )


def _expect_float32(call, want):
    got = call.value
    expect(
        isinstance(got, np.ndarray) and got.dtype == np.float32,
        f"{call}: dtype {getattr(got, 'dtype', type(got).__name__)}; float32 inputs must give a "
        "float32 result",
    )
    expect_close(call, want, rtol=1e-5, atol=1e-5 * float(np.abs(want).max()), what="float32 result")


# --- maxpool2d -----------------------------------------------------------------------------------------


@exercise("maxpool2d")
@pytest.mark.parametrize("shape, k, s, p", CONFIGS, ids=_ids(CONFIGS))
def test_maxpool2d_matches_loops(impl, shape, k, s, p):
    x = rng(1).normal(size=shape)
    call = run(impl.maxpool2d, x, k, s, p)
    want = _maxpool_loops(x, k, s, p)
    _expect_shape(call, want.shape)
    zeros = {"pad with zeros instead of -inf": lambda: _maxpool_loops(x, k, s, p, fill=0.0)}
    expect_close(call, want, rtol=RTOL, atol=ATOL, mistakes=zeros)


@exercise("maxpool2d")
def test_maxpool2d_pads_with_minus_infinity(impl):
    # every entry is negative: a window that overlaps the border must return its largest
    # real entry, never a padding 0
    x = -1.0 - rng(2).random(size=(2, 2, 5, 7))
    call = run(impl.maxpool2d, x, 3, 2, 1)
    want = _maxpool_loops(x, 3, 2, 1)
    expect_close(
        call,
        want,
        rtol=RTOL,
        atol=ATOL,
        mistakes={"pad with zeros instead of -inf": _maxpool_loops(x, 3, 2, 1, fill=0.0)},
    )


@exercise("maxpool2d")
def test_maxpool2d_hand_case_and_default_stride(impl):
    x = np.array([[[[1.0, 5.0, 2.0, 0.0, 9.0], [3.0, 4.0, 8.0, 7.0, 9.0], [6.0, 0.0, 1.0, 2.0, 9.0]]]])
    call = run(impl.maxpool2d, x, 2)  # stride None = 2: windows at columns 0-1 and 2-3, row 0-1
    _expect_shape(call, (1, 1, 1, 2))
    expect_close(call, np.array([[[[5.0, 8.0]]]]), rtol=0, atol=0)


@exercise("maxpool2d")
def test_maxpool2d_keeps_float32(impl):
    x = rng(3).normal(size=(2, 3, 7, 8)).astype(np.float32)
    _expect_float32(run(impl.maxpool2d, x, 3, 2, 1), _maxpool_loops(x, 3, 2, 1))


# --- maxpool2d_backward -----------------------------------------------------------------------------------


@exercise("maxpool2d_backward")
@pytest.mark.parametrize("shape, k, s, p", CONFIGS, ids=_ids(CONFIGS))
def test_maxpool2d_backward_matches_loops(impl, shape, k, s, p):
    x = rng(4).normal(size=shape)
    dout = rng(5).normal(size=_maxpool_loops(x, k, s, p).shape)
    call = run(impl.maxpool2d_backward, dout, x, k, s, p)
    _expect_shape(call, shape)
    expect_close(
        call,
        _maxpool_backward_loops(dout, x, k, s, p),
        rtol=RTOL,
        atol=ATOL,
        mistakes={
            "assign each window's gradient instead of adding it (overlapping windows share a maximum)": (
                lambda: _maxpool_backward_loops(dout, x, k, s, p, assign=True)
            )
        },
    )


@exercise("maxpool2d_backward")
@pytest.mark.parametrize("shape, k, s, p", CONFIGS[1:4], ids=_ids(CONFIGS[1:4]))
def test_maxpool2d_backward_matches_central_differences(impl, shape, k, s, p):
    x = rng(6).normal(size=shape)  # no ties: the max is differentiable at x
    dout = rng(7).normal(size=_maxpool_loops(x, k, s, p).shape)
    want = numeric_grad(lambda v: float((_maxpool_loops(v, k, s, p) * dout).sum()), x)
    expect_close(run(impl.maxpool2d_backward, dout, x, k, s, p), want, rtol=1e-6, atol=1e-7)


@exercise("maxpool2d_backward")
@pytest.mark.parametrize("k, s, p", [(2, None, 0), (3, 1, 1), ((2, 3), (1, 2), (1, 0))])
def test_maxpool2d_backward_sends_a_tie_to_the_first_maximum_once(impl, k, s, p):
    # integers from {0, 1, 2}: most windows hold tied maxima
    x = rng(8).integers(0, 3, size=(2, 2, 6, 7)).astype(np.float64)
    dout = rng(9).normal(size=_maxpool_loops(x, k, s, p).shape)
    call = run(impl.maxpool2d_backward, dout, x, k, s, p)
    expect_close(
        call,
        _maxpool_backward_loops(dout, x, k, s, p),
        rtol=RTOL,
        atol=ATOL,
        what="each window's gradient goes to its first maximum in row-major order, and to no other",
        mistakes={
            "send the gradient to every tied maximum": lambda: _maxpool_backward_loops(
                dout, x, k, s, p, every_tie=True
            )
        },
    )


@exercise("maxpool2d_backward")
def test_maxpool2d_backward_of_a_constant_image(impl):
    # every entry ties: each 2 x 2 window (stride 1) sends its gradient to its top-left entry
    x = np.zeros((1, 1, 3, 4))
    dout = np.arange(1.0, 7.0).reshape(1, 1, 2, 3)
    call = run(impl.maxpool2d_backward, dout, x, 2, 1)
    want = np.zeros((1, 1, 3, 4))
    want[0, 0, :2, :3] = dout[0, 0]
    expect_close(
        call,
        want,
        rtol=0,
        atol=1e-12,
        mistakes={
            "send the gradient to every tied maximum": _maxpool_backward_loops(
                dout, x, 2, 1, 0, every_tie=True
            )
        },
    )


@exercise("maxpool2d_backward")
def test_maxpool2d_backward_keeps_float32(impl):
    x = rng(10).normal(size=(2, 3, 7, 6)).astype(np.float32)
    dout = rng(11).normal(size=(2, 3, 4, 3)).astype(np.float32)
    _expect_float32(run(impl.maxpool2d_backward, dout, x, 3, 2, 1), _maxpool_backward_loops(dout, x, 3, 2, 1))


# --- avgpool2d ---------------------------------------------------------------------------------------------


@exercise("avgpool2d")
@pytest.mark.parametrize("shape, k, s, p", CONFIGS, ids=_ids(CONFIGS))
def test_avgpool2d_matches_loops(impl, shape, k, s, p):
    x = rng(12).normal(size=shape) + 2.0
    call = run(impl.avgpool2d, x, k, s, p)
    want = _avgpool_loops(x, k, s, p)
    _expect_shape(call, want.shape)
    mistakes = {}
    if _pair(p) != (0, 0):
        mistakes["divide by the number of real (unpadded) entries"] = lambda: _avgpool_loops(
            x, k, s, p, real_only=True
        )
    expect_close(call, want, rtol=RTOL, atol=ATOL, mistakes=mistakes)


@exercise("avgpool2d")
def test_avgpool2d_counts_the_padding_in_the_divisor(impl):
    # a 2 x 2 image of ones, 3 x 3 windows, padding 1, stride 1: every window holds the 4
    # ones and 5 padding zeros, and divides by 9
    call = run(impl.avgpool2d, np.ones((1, 1, 2, 2)), 3, 1, 1)
    expect_close(
        call,
        np.full((1, 1, 2, 2), 4 / 9),
        rtol=1e-12,
        mistakes={"divide by the number of real (unpadded) entries": np.ones((1, 1, 2, 2))},
    )


@exercise("avgpool2d")
def test_avgpool2d_keeps_float32(impl):
    x = rng(13).normal(size=(2, 3, 9, 8)).astype(np.float32)
    _expect_float32(run(impl.avgpool2d, x, (3, 2), None, (1, 0)), _avgpool_loops(x, (3, 2), None, (1, 0)))


# --- avgpool2d_backward ----------------------------------------------------------------------------------


@exercise("avgpool2d_backward")
@pytest.mark.parametrize("shape, k, s, p", CONFIGS, ids=_ids(CONFIGS))
def test_avgpool2d_backward_matches_central_differences(impl, shape, k, s, p):
    x = rng(14).normal(size=shape)
    dout = rng(15).normal(size=_avgpool_loops(x, k, s, p).shape)
    want = numeric_grad(lambda v: float((_avgpool_loops(v, k, s, p) * dout).sum()), x)
    call = run(impl.avgpool2d_backward, dout, x, k, s, p)
    _expect_shape(call, shape)
    kh, kw = _pair(k)
    expect_close(
        call,
        want,
        rtol=1e-6,
        atol=1e-7,
        mistakes={"forget to divide by kh * kw": lambda: want * (kh * kw)},
    )


@exercise("avgpool2d_backward")
def test_avgpool2d_backward_hand_case(impl):
    # 2 x 2 windows with stride 1 on a 2 x 3 image: the middle column is in both windows
    dout = np.array([[[[4.0, 8.0]]]])
    call = run(impl.avgpool2d_backward, dout, np.zeros((1, 1, 2, 3)), 2, 1)
    expect_close(call, np.array([[[[1.0, 3.0, 2.0], [1.0, 3.0, 2.0]]]]), rtol=1e-12)


@exercise("avgpool2d_backward")
def test_avgpool2d_backward_keeps_float32(impl):
    x = rng(16).normal(size=(1, 2, 7, 5)).astype(np.float32)
    dout = rng(17).normal(size=(1, 2, 4, 3)).astype(np.float32)
    want = numeric_grad(lambda v: float((_avgpool_loops(v, 2, 2, 1) * dout).sum()), x.astype(np.float64))
    _expect_float32(run(impl.avgpool2d_backward, dout, x, 2, 2, 1), want)


# --- global average pooling ------------------------------------------------------------------------------


@exercise("global_avgpool2d")
def test_global_avgpool2d_matches_loops(impl):
    x = rng(18).normal(size=(3, 4, 5, 7))
    want = np.array([[np.mean(x[n, c].ravel().tolist()) for c in range(4)] for n in range(3)])
    call = run(impl.global_avgpool2d, x)
    expect_close(
        call,
        want,
        rtol=RTOL,
        atol=ATOL,
        mistakes={"sum instead of averaging": want * 35},
    )


@exercise("global_avgpool2d")
def test_global_avgpool2d_shape(impl):
    call = run(impl.global_avgpool2d, np.ones((2, 5, 3, 4)))
    expect(
        getattr(call.value, "shape", None) == (2, 5),
        f"{call}: shape {getattr(call.value, 'shape', None)}, expected (N, C) = (2, 5): average over "
        "H and W only",
    )


@exercise("global_avgpool2d")
def test_global_avgpool2d_keeps_float32(impl):
    x = rng(19).normal(size=(2, 3, 6, 5)).astype(np.float32)
    _expect_float32(run(impl.global_avgpool2d, x), x.astype(np.float64).mean(axis=(2, 3)))


@exercise("global_avgpool2d_backward")
def test_global_avgpool2d_backward_matches_central_differences(impl):
    x = rng(20).normal(size=(2, 3, 4, 5))
    dout = rng(21).normal(size=(2, 3))
    want = numeric_grad(lambda v: float((v.mean(axis=(2, 3)) * dout).sum()), x)
    call = run(impl.global_avgpool2d_backward, dout, x)
    expect_close(call, want, rtol=1e-6, atol=1e-7, mistakes={"forget to divide by H * W": lambda: want * 20})


@exercise("global_avgpool2d_backward")
def test_global_avgpool2d_backward_returns_a_writeable_array_of_x_shape(impl):
    x = np.zeros((1, 2, 3, 5))
    call = run(impl.global_avgpool2d_backward, np.array([[15.0, 30.0]]), x)
    want = np.stack([np.ones((3, 5)), 2 * np.ones((3, 5))])[None]
    expect_close(call, want, rtol=1e-12)
    expect(
        call.value.flags.writeable,
        f"{call}: the result is read-only; return a new array (broadcast, then copy)",
    )


@exercise("global_avgpool2d_backward")
def test_global_avgpool2d_backward_keeps_float32(impl):
    x = np.zeros((2, 2, 3, 3), np.float32)
    dout = rng(22).normal(size=(2, 2)).astype(np.float32)
    _expect_float32(run(impl.global_avgpool2d_backward, dout, x), np.repeat(dout, 9).reshape(x.shape) / 9)
