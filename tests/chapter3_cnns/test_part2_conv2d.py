"""Tests for chapter 3, part 2: conv2d forward (stride, padding, dilation, groups) and
backward, transposed convolution, and the depthwise-separable convolution.

Expected values come from the definition written as loops in this file (one output pixel,
or one scattered input pixel, at a time, in float64), from a hand calculation, from the
adjoint identity <conv2d(x, w), y> = <x, conv_transpose2d(y, w)>, and from central
differences of this file's loop forward pass for every gradient, with random upstream
gradients. Sizes are odd and never square; stride, padding and dilation differ between
the two axes. float64 results must match to rtol 1e-8 (atol 1e-10); float32 inputs must
give float32 results within 1e-4 of the float64 answer (relative to its largest entry).
"""

import numpy as np
import pytest

from grader.testkit import Call, exercise, expect, expect_close, numeric_grad, rng, run

RTOL, ATOL = 1e-8, 1e-10


def _pair(v):
    return (v, v) if isinstance(v, int) else tuple(v)


def _size(size, k, s, p, d):
    return (size + 2 * p - d * (k - 1) - 1) // s + 1


# --- the definitions as loops ----------------------------------------------------------------


def _conv_loops(x, w, b=None, stride=1, padding=0, dilation=1, groups=1, *, flip=False, group_of=None):
    """out[n, o, r, s] from the definition, one output pixel at a time. flip and group_of
    give the wrong answers of two mistakes (a flipped kernel, another channel grouping)."""
    (sh, sw), (ph, pw), (dh, dw) = _pair(stride), _pair(padding), _pair(dilation)
    x, w = np.asarray(x, np.float64), np.asarray(w, np.float64)
    if flip:
        w = w[:, :, ::-1, ::-1]
    n, c_in, h, wd = x.shape
    c_out, cg, kh, kw = w.shape
    xp = np.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)))
    h_out, w_out = _size(h, kh, sh, ph, dh), _size(wd, kw, sw, pw, dw)
    out = np.zeros((n, c_out, h_out, w_out))
    for o in range(c_out):
        g = group_of(o) if group_of else o // (c_out // groups)
        chans = xp[:, g * cg : (g + 1) * cg]
        for r in range(h_out):
            rows = r * sh + dh * np.arange(kh)
            for s in range(w_out):
                cols = s * sw + dw * np.arange(kw)
                patch = chans[:, :, rows][:, :, :, cols]  # (n, cg, kh, kw)
                out[:, o, r, s] = (patch * w[o]).sum(axis=(1, 2, 3))
    if b is not None:
        out += np.asarray(b, np.float64)[:, None, None]
    return out


def _conv_backward_loops(dout, x, w, stride=1, padding=0, dilation=1, groups=1):
    """(dx, dw, db), scattering each dout[n, o, r, s] back along the products it multiplied."""
    (sh, sw), (ph, pw), (dh, dw_) = _pair(stride), _pair(padding), _pair(dilation)
    n, c_in, h, wd = x.shape
    c_out, cg, kh, kw = w.shape
    xp = np.pad(np.asarray(x, np.float64), ((0, 0), (0, 0), (ph, ph), (pw, pw)))
    dxp, dw = np.zeros_like(xp), np.zeros(w.shape)
    for o in range(c_out):
        g = o // (c_out // groups)
        for r in range(dout.shape[2]):
            for s in range(dout.shape[3]):
                rows = slice(r * sh, r * sh + dh * (kh - 1) + 1, dh)
                cols = slice(s * sw, s * sw + dw_ * (kw - 1) + 1, dw_)
                g_ = dout[:, o, r, s][:, None, None, None]  # (n, 1, 1, 1)
                dxp[:, g * cg : (g + 1) * cg, rows, cols] += g_ * w[o]
                dw[o] += (g_ * xp[:, g * cg : (g + 1) * cg, rows, cols]).sum(axis=0)
    dx = dxp[:, :, ph : ph + h, pw : pw + wd]
    return dx, dw, dout.sum(axis=(0, 2, 3))


def _transpose_loops(y, w, stride=1, padding=0, dilation=1, groups=1, output_padding=0, *, flip=False):
    """conv_transpose2d from its definition: each y pixel adds a weighted kernel to a canvas."""
    (sh, sw), (ph, pw), (dh, dw) = _pair(stride), _pair(padding), _pair(dilation)
    oph, opw = _pair(output_padding)
    if flip:
        w = w[:, :, ::-1, ::-1]
    n, c_out, hy, wy = y.shape
    _, cg, kh, kw = w.shape
    h = (hy - 1) * sh - 2 * ph + dh * (kh - 1) + oph + 1
    wd = (wy - 1) * sw - 2 * pw + dw * (kw - 1) + opw + 1
    canvas = np.zeros((n, cg * groups, h + 2 * ph, wd + 2 * pw))
    for o in range(c_out):
        g = o // (c_out // groups)
        for r in range(hy):
            for s in range(wy):
                rows = slice(r * sh, r * sh + dh * (kh - 1) + 1, dh)
                cols = slice(s * sw, s * sw + dw * (kw - 1) + 1, dw)
                canvas[:, g * cg : (g + 1) * cg, rows, cols] += y[:, o, r, s][:, None, None, None] * w[o]
    return canvas[:, :, ph : ph + h, pw : pw + wd]


# --- inputs ------------------------------------------------------------------------------------

# (n, c_in, c_out, h, w, kh, kw, stride, padding, dilation, groups): odd, non-square sizes,
# pairs that differ between the axes, groups and depthwise, 1 x 1 kernels, a kernel one
# column wide, a kernel as large as the padded input, strides that skip input pixels.
CONFIGS = [
    (2, 3, 4, 7, 9, 3, 2, 1, 0, 1, 1),
    (2, 4, 6, 8, 11, 3, 3, 2, 1, 1, 2),
    (1, 4, 4, 9, 7, 2, 3, (2, 3), (1, 2), (2, 1), 4),
    (3, 2, 5, 5, 6, 1, 1, 1, 0, 1, 1),
    (2, 6, 3, 10, 9, 3, 3, 3, 2, 2, 3),
    (1, 1, 1, 5, 4, 5, 4, 1, 0, 1, 1),
    (2, 3, 4, 6, 7, 3, 2, (1, 2), (0, 1), (1, 2), 1),
    (2, 2, 3, 8, 5, 2, 2, (3, 2), (2, 0), 1, 1),
    (1, 6, 6, 7, 8, 3, 3, 1, (3, 1), (3, 2), 6),
    (2, 3, 2, 7, 5, 3, 1, (1, 2), (1, 0), (2, 1), 1),
]


def _ids(configs):
    return [
        f"x{c[:2] + c[3:5]}-w{(c[2], c[1] // c[10]) + c[5:7]}-s{c[7]}-p{c[8]}-d{c[9]}-g{c[10]}"
        for c in configs
    ]


def _sample(seed, config, dtype=np.float64):
    n, c_in, c_out, h, wd, kh, kw, *_, groups = config
    g = rng(seed)
    x = g.normal(size=(n, c_in, h, wd)).astype(dtype)
    w = g.normal(size=(c_out, c_in // groups, kh, kw)).astype(dtype)
    b = g.normal(size=c_out).astype(dtype)
    return x, w, b


def _options(config):
    stride, padding, dilation, groups = config[7:]
    return dict(stride=stride, padding=padding, dilation=dilation, groups=groups)


def _expect_shape(call, want_shape, explain):
    got = getattr(call.value, "shape", None)
    expect(got == tuple(want_shape), f"{call}: shape {got}, expected {tuple(want_shape)}; {explain}")


SIZE_RULE = "H_out = (H + 2 ph - dh (kh - 1) - 1) // sh + 1, and the same along the width with pw, dw, kw, sw"


def _expect_float32(call, want):
    """A float32 result within 1e-4 of the float64 answer, relative to its largest entry."""
    got = call.value
    expect(
        isinstance(got, np.ndarray) and got.dtype == np.float32,
        f"{call}: dtype {getattr(got, 'dtype', type(got).__name__)}; float32 inputs must give a "
        "float32 result (work in x's dtype)",
    )
    scale = float(np.abs(want).max())
    expect_close(call, want, rtol=1e-4, atol=1e-4 * scale, what="float32 result")


FLIPPED = "flip the kernel (that is convolution in the maths sense; the course's is cross-correlation)"

# --- conv2d -------------------------------------------------------------------------------------


@exercise("conv2d")
def test_conv2d_hand_case(impl):
    # out[r, s] = x[r, s] - x[r + 1, s + 1] = -5 for x = 0 ... 11 laid out in rows of 4.
    x = np.arange(12.0).reshape(1, 1, 3, 4)
    w = np.array([[[[1.0, 0.0], [0.0, -1.0]]]])
    call = run(impl.conv2d, x, w)
    flipped = np.full((1, 1, 2, 3), 5.0)  # x[r + 1, s + 1] - x[r, s]: the kernel turned round
    expect_close(
        call,
        np.full((1, 1, 2, 3), -5.0),
        rtol=RTOL,
        atol=ATOL,
        mistakes={FLIPPED: flipped},
    )


@exercise("conv2d")
@pytest.mark.parametrize("config", CONFIGS, ids=_ids(CONFIGS))
def test_conv2d_matches_loops(impl, config):
    x, w, b = _sample(1, config)
    opts = _options(config)
    groups = opts["groups"]
    call = run(impl.conv2d, x, w, b, **opts)
    want = _conv_loops(x, w, b, **opts)
    _expect_shape(call, want.shape, SIZE_RULE)
    mistakes = {
        "flip the kernel (the course's convolution is cross-correlation)": lambda: _conv_loops(
            x, w, b, **opts, flip=True
        ),
        "forget the bias": lambda: _conv_loops(x, w, None, **opts),
        "ignore the dilation (taps one pixel apart)": lambda: _conv_loops(
            x, w, b, **(opts | {"dilation": 1})
        )[:, :, : want.shape[2], : want.shape[3]],
    }
    if groups > 1 and config[2] > groups:  # more than one output channel per group
        mistakes["give output channel o the input group o % groups instead of o // (C_out // groups)"] = (
            lambda: _conv_loops(x, w, b, **opts, group_of=lambda o: o % groups)
        )
    expect_close(call, want, rtol=RTOL, atol=ATOL, mistakes=mistakes)


@exercise("conv2d")
def test_conv2d_without_bias_and_with_pairs_in_both_orders(impl):
    config = (2, 3, 4, 9, 6, 3, 2, (2, 1), (1, 0), (1, 2), 1)
    x, w, _ = _sample(2, config)
    for stride, padding, dilation in [((2, 1), (1, 0), (1, 2)), ((1, 2), (0, 1), (2, 1))]:
        call = run(impl.conv2d, x, w, None, stride=stride, padding=padding, dilation=dilation)
        want = _conv_loops(x, w, None, stride, padding, dilation)
        _expect_shape(call, want.shape, SIZE_RULE + "; the first of a pair is along the height")
        expect_close(call, want, rtol=RTOL, atol=ATOL)


@exercise("conv2d")
def test_conv2d_depthwise(impl):
    # groups = C_in = C_out: channel c is convolved with w[c, 0] alone.
    g = rng(3)
    x, w = g.normal(size=(2, 5, 8, 7)), g.normal(size=(5, 1, 3, 3))
    call = run(impl.conv2d, x, w, None, padding=1, groups=5)
    want = np.stack([_conv_loops(x[:, c : c + 1], w[c : c + 1], padding=1)[:, 0] for c in range(5)], axis=1)
    expect_close(call, want, rtol=RTOL, atol=ATOL, what="each channel with its own kernel")


# Images larger than the other tests' (8 channels of 93 x 88), in a batch of 3: a fast
# implementation may work through a batch a few images (or one image) at a time.
LARGE = (3, 8, 4, 93, 88, 3, 2, (2, 1), (1, 2), (1, 2), 2)


@exercise("conv2d")
def test_conv2d_on_larger_images(impl):
    x, w, b = _sample(11, LARGE)
    opts = _options(LARGE)
    call = run(impl.conv2d, x, w, b, **opts)
    want = _conv_loops(x, w, b, **opts)
    _expect_shape(call, want.shape, SIZE_RULE)
    expect_close(call, want, rtol=RTOL, atol=ATOL)


@exercise("conv2d")
@pytest.mark.parametrize("config", CONFIGS[1:3], ids=_ids(CONFIGS[1:3]))
def test_conv2d_keeps_float32(impl, config):
    x, w, b = _sample(4, config, np.float32)
    opts = _options(config)
    _expect_float32(run(impl.conv2d, x, w, b, **opts), _conv_loops(x, w, b, **opts))


# --- conv2d_backward -----------------------------------------------------------------------------

GRADS = ("dx", "dw", "db")


def _expect_grads(call, wants, rtol=RTOL, atol=ATOL, mistakes=None):
    """(dx, dw, db) against wants; mistakes maps a gradient's name to its named wrong answers."""
    value = call.value
    expect(
        isinstance(value, tuple) and len(value) == 3,
        f"{call}: returned {type(value).__name__}; expected a tuple (dx, dw, db)",
    )
    for name, got, want in zip(GRADS, value, wants):
        part = Call(got, str(call))
        _expect_shape(part, want.shape, f"{name} has the shape of {'xwb'[GRADS.index(name)]}")
        expect_close(part, want, rtol=rtol, atol=atol, what=name, mistakes=(mistakes or {}).get(name))


@exercise("conv2d_backward")
@pytest.mark.parametrize("config", CONFIGS, ids=_ids(CONFIGS))
def test_conv2d_backward_matches_loops(impl, config):
    x, w, b = _sample(5, config)
    opts = _options(config)
    dout = rng(6).normal(size=_conv_loops(x, w, b, **opts).shape)
    call = run(impl.conv2d_backward, dout, x, w, **opts)
    mistakes = {
        "dx": {FLIPPED: lambda: _conv_backward_loops(dout, x, w[:, :, ::-1, ::-1], **opts)[0]},
        "db": {"average db over the batch instead of summing": dout.sum(axis=(0, 2, 3)) / x.shape[0]},
    }
    _expect_grads(call, _conv_backward_loops(dout, x, w, **opts), mistakes=mistakes)


@exercise("conv2d_backward")
def test_conv2d_backward_on_larger_images(impl):
    x, w, b = _sample(12, LARGE)
    opts = _options(LARGE)
    dout = rng(13).normal(size=_conv_loops(x, w, b, **opts).shape)
    _expect_grads(run(impl.conv2d_backward, dout, x, w, **opts), _conv_backward_loops(dout, x, w, **opts))


SMALL = [
    (2, 2, 3, 5, 4, 2, 3, 1, 1, 1, 1),
    (1, 4, 2, 7, 6, 3, 2, (2, 3), (1, 0), (1, 2), 2),
    (2, 3, 3, 6, 5, 2, 2, 2, 0, 2, 3),
]


@exercise("conv2d_backward")
@pytest.mark.parametrize("config", SMALL, ids=_ids(SMALL))
def test_conv2d_backward_matches_central_differences(impl, config):
    x, w, b = _sample(7, config)
    opts = _options(config)
    dout = rng(8).normal(size=_conv_loops(x, w, b, **opts).shape)
    wants = [
        numeric_grad(lambda v: float((_conv_loops(v, w, b, **opts) * dout).sum()), x),
        numeric_grad(lambda v: float((_conv_loops(x, v, b, **opts) * dout).sum()), w),
        numeric_grad(lambda v: float((_conv_loops(x, w, v, **opts) * dout).sum()), b),
    ]
    _expect_grads(run(impl.conv2d_backward, dout, x, w, **opts), wants, rtol=1e-6, atol=1e-7)


@exercise("conv2d_backward")
def test_conv2d_backward_keeps_float32(impl):
    config = CONFIGS[2]
    x, w, _ = _sample(9, config, np.float32)
    opts = _options(config)
    dout = rng(10).normal(size=_conv_loops(x, w, None, **opts).shape).astype(np.float32)
    call = run(impl.conv2d_backward, dout, x, w, **opts)
    expect(isinstance(call.value, tuple) and len(call.value) == 3, f"{call}: expected a tuple (dx, dw, db)")
    for name, got, want in zip(GRADS, call.value, _conv_backward_loops(dout, x, w, **opts)):
        _expect_float32(Call(got, f"{call}: {name}"), want)


# --- conv_transpose2d ---------------------------------------------------------------------------

TRANSPOSE = [
    # (n, c_in, c_out, h_y, w_y, kh, kw, stride, padding, dilation, groups, output_padding)
    (2, 3, 4, 4, 5, 3, 2, 2, 1, 1, 1, 1),
    (1, 4, 6, 3, 4, 3, 3, (2, 3), (1, 0), (1, 2), 2, (1, 2)),
    (2, 2, 2, 5, 5, 2, 2, 3, 0, 2, 2, (2, 0)),
    (1, 3, 5, 6, 4, 1, 1, 1, 0, 1, 1, 0),
    (2, 4, 3, 3, 6, 3, 2, 1, (2, 1), 1, 1, 0),
]


def _transpose_sample(seed, config, dtype=np.float64):
    n, c_in, c_out, hy, wy, kh, kw, *_, groups, _op = config
    g = rng(seed)
    y = g.normal(size=(n, c_out, hy, wy)).astype(dtype)
    w = g.normal(size=(c_out, c_in // groups, kh, kw)).astype(dtype)
    opts = dict(zip(("stride", "padding", "dilation", "groups", "output_padding"), config[7:]))
    return y, w, opts


def _transpose_ids():
    return [f"y{c[:1] + c[2:5]}-k{c[5:7]}-s{c[7]}-p{c[8]}-d{c[9]}-g{c[10]}-op{c[11]}" for c in TRANSPOSE]


@exercise("conv_transpose2d")
@pytest.mark.parametrize("config", TRANSPOSE, ids=_transpose_ids())
def test_conv_transpose2d_matches_loops(impl, config):
    y, w, opts = _transpose_sample(11, config)
    call = run(impl.conv_transpose2d, y, w, **opts)
    want = _transpose_loops(y, w, **opts)
    _expect_shape(
        call,
        want.shape,
        "H = (H_y - 1) sh - 2 ph + dh (kh - 1) + output_padding + 1 (and the same along the width)",
    )
    expect_close(
        call,
        want,
        rtol=RTOL,
        atol=ATOL,
        mistakes={"flip the kernel": lambda: _transpose_loops(y, w, **opts, flip=True)},
    )


@exercise("conv_transpose2d")
@pytest.mark.parametrize("config", TRANSPOSE, ids=_transpose_ids())
def test_conv_transpose2d_is_the_adjoint_of_conv2d(impl, config):
    # <conv2d(x, w), y> = <x, conv_transpose2d(y, w)> for every x of the result's shape.
    y, w, opts = _transpose_sample(12, config)
    call = run(impl.conv_transpose2d, y, w, **opts)
    want_shape = _transpose_loops(y, w, **opts).shape
    _expect_shape(call, want_shape, "the shape of the inputs x that conv2d maps to y's shape")
    conv_opts = {k: v for k, v in opts.items() if k != "output_padding"}
    for seed in (13, 14):
        x = rng(seed).normal(size=want_shape)
        lhs = float((_conv_loops(x, w, None, **conv_opts) * y).sum())
        rhs = float((x * call.value).sum())
        expect(
            abs(lhs - rhs) <= 1e-8 * max(1.0, abs(lhs)),
            f"{call}: <conv2d(x, w), y> = {lhs:.10g} but <x, conv_transpose2d(y, w)> = {rhs:.10g} for a "
            "random x; the two must be equal (same stride, padding, dilation and groups)",
        )


@exercise("conv_transpose2d")
def test_conv_transpose2d_keeps_float32(impl):
    y, w, opts = _transpose_sample(15, TRANSPOSE[1], np.float32)
    _expect_float32(run(impl.conv_transpose2d, y, w, **opts), _transpose_loops(y, w, **opts))


# --- depthwise_separable_conv2d -----------------------------------------------------------------


def _separable_loops(x, w_depth, w_point, stride, padding, dilation):
    c = x.shape[1]
    depth = np.stack(
        [
            _conv_loops(x[:, k : k + 1], w_depth[k : k + 1], None, stride, padding, dilation)[:, 0]
            for k in range(c)
        ],
        axis=1,
    )
    return np.einsum("oc,ncrs->nors", w_point[:, :, 0, 0], depth)


@exercise("depthwise_separable_conv2d")
@pytest.mark.parametrize(
    "stride, padding, dilation",
    [(1, 1, 1), ((2, 1), (1, 2), 1), (2, 0, (1, 2))],
    ids=["same", "pairs", "dilated"],
)
def test_depthwise_separable_conv2d_matches_loops(impl, stride, padding, dilation):
    g = rng(16)
    x = g.normal(size=(2, 3, 8, 7))
    w_depth, w_point = g.normal(size=(3, 1, 3, 2)), g.normal(size=(5, 3, 1, 1))
    call = run(
        impl.depthwise_separable_conv2d,
        x,
        w_depth,
        w_point,
        stride=stride,
        padding=padding,
        dilation=dilation,
    )
    want = _separable_loops(x, w_depth, w_point, stride, padding, dilation)
    _expect_shape(call, want.shape, SIZE_RULE + " (the pointwise 1 x 1 step keeps H_out and W_out)")
    expect_close(call, want, rtol=RTOL, atol=ATOL)


@exercise("depthwise_separable_conv2d")
def test_depthwise_separable_conv2d_keeps_float32(impl):
    g = rng(17)
    x = g.normal(size=(1, 4, 6, 9)).astype(np.float32)
    w_depth = g.normal(size=(4, 1, 3, 3)).astype(np.float32)
    w_point = g.normal(size=(2, 4, 1, 1)).astype(np.float32)
    call = run(impl.depthwise_separable_conv2d, x, w_depth, w_point, padding=1)
    _expect_float32(call, _separable_loops(x, w_depth, w_point, 1, 1, 1))


@exercise("depthwise_separable_conv2d")
def test_depthwise_separable_conv2d_with_an_identity_pointwise_step(impl):
    # w_point = identity: the result is the depthwise convolution alone, channel by channel
    g = rng(18)
    x = g.normal(size=(2, 3, 7, 8))
    w_depth = g.normal(size=(3, 1, 2, 3))
    call = run(
        impl.depthwise_separable_conv2d, x, w_depth, np.eye(3)[:, :, None, None], stride=(1, 2), padding=1
    )
    want = np.stack(
        [_conv_loops(x[:, c : c + 1], w_depth[c : c + 1], None, (1, 2), 1)[:, 0] for c in range(3)], axis=1
    )
    expect_close(
        call,
        want,
        rtol=RTOL,
        atol=ATOL,
        what="channel c filtered by w_depth[c] alone",
        mistakes={
            "use w_depth[0] for every channel": lambda: _conv_loops(
                x.reshape(6, 1, 7, 8), w_depth[:1], None, (1, 2), 1
            ).reshape(want.shape)
        },
    )
