"""Tests for chapter 3, part 5: the ResNet basic block (forward and backward), the
pre-activation block, WaveNet's gated residual block and a stack of them, and the
receptive field of a stack of dilated convolutions.

Expected values come from the blocks written out in this file with their own convolution
(a sum over the kernel's taps of shifted, strided slices of the zero-padded input, checked
here against a seven-loop convolution), BatchNorm over (N, H, W) and causal convolution
(left padding only); from central differences of this file's basic block for every
gradient of basic_block_backward (random upstream gradients, non-square images, odd sizes,
with and without the projection); from causality (moving input step t changes no output
before t) and from the receptive field measured by moving one input step; and from hand
calculations of receptive fields.
"""

import math

import numpy as np
import pytest

from grader.testkit import (
    Call,
    exercise,
    expect,
    expect_close,
    expect_equal,
    expect_parts,
    numeric_grad,
    rng,
    run,
)

# --- this file's convolution, BatchNorm and blocks -------------------------------------------------


def _conv2d(x, w, stride=1, padding=0):
    """Cross-correlation (no kernel flip), as a sum over the kernel taps of strided slices."""
    n, c_in, h, wd = x.shape
    c_out, _, kh, kw = w.shape
    xp = np.pad(x, ((0, 0), (0, 0), (padding, padding), (padding, padding)))
    h_out = (h + 2 * padding - kh) // stride + 1
    w_out = (wd + 2 * padding - kw) // stride + 1
    out = np.zeros((n, c_out, h_out, w_out))
    for i in range(kh):
        for j in range(kw):
            patch = xp[:, :, i : i + stride * h_out : stride, j : j + stride * w_out : stride]
            out += np.tensordot(patch, w[:, :, i, j], axes=([1], [1])).transpose(0, 3, 1, 2)
    return out


def _conv2d_loops(x, w, stride, padding):
    """Seven loops, one multiply-add at a time: the definition of _conv2d's result."""
    xp = np.pad(x, ((0, 0), (0, 0), (padding, padding), (padding, padding)))
    c_out, c_in, kh, kw = w.shape
    h_out = (xp.shape[2] - kh) // stride + 1
    w_out = (xp.shape[3] - kw) // stride + 1
    out = np.zeros((x.shape[0], c_out, h_out, w_out))
    for n, o, r, c in np.ndindex(out.shape):
        total = 0.0
        for ci in range(c_in):
            for i in range(kh):
                for j in range(kw):
                    total += xp[n, ci, r * stride + i, c * stride + j] * w[o, ci, i, j]
        out[n, o, r, c] = total
    return out


def _bn(x, gamma, beta, eps=1e-5):
    mean = x.mean(axis=(0, 2, 3), keepdims=True)
    var = ((x - mean) ** 2).mean(axis=(0, 2, 3), keepdims=True)
    return gamma[:, None, None] * (x - mean) / np.sqrt(var + eps) + beta[:, None, None]


def _relu(x):
    return np.where(x > 0, x, 0.0)


def _basic(x, p, stride, eps=1e-5, variant=""):
    """The basic block; `variant` names a wrong version, for the diagnoses."""
    s1 = 1 if variant == "stride on conv2" else stride
    s2 = stride if variant == "stride on conv2" else 1
    h = _relu(_bn(_conv2d(x, p["conv1"], s1, 1), p["bn1_gamma"], p["bn1_beta"], eps))
    f = _bn(_conv2d(h, p["conv2"], s2, 1), p["bn2_gamma"], p["bn2_beta"], eps)
    if "proj" in p:
        shortcut = _conv2d(x, p["proj"], stride, 0)
        if variant != "no bn on proj":
            shortcut = _bn(shortcut, p["proj_gamma"], p["proj_beta"], eps)
    else:
        shortcut = x
    if variant == "no skip":
        return _relu(f)
    if variant == "relu before add":
        return _relu(f) + shortcut
    if variant == "no final relu":
        return f + shortcut
    return _relu(f + shortcut)


def _basic_params(seed, c_in, c_out, proj):
    g = rng(seed)
    p = {
        "conv1": g.normal(size=(c_out, c_in, 3, 3)) / math.sqrt(9 * c_in),
        "bn1_gamma": g.uniform(0.5, 1.5, size=c_out),
        "bn1_beta": g.normal(size=c_out) * 0.5,
        "conv2": g.normal(size=(c_out, c_out, 3, 3)) / math.sqrt(9 * c_out),
        "bn2_gamma": g.uniform(0.5, 1.5, size=c_out),
        "bn2_beta": g.normal(size=c_out) * 0.5,
    }
    if proj:
        p["proj"] = g.normal(size=(c_out, c_in, 1, 1)) / math.sqrt(c_in)
        p["proj_gamma"] = g.uniform(0.5, 1.5, size=c_out)
        p["proj_beta"] = g.normal(size=c_out) * 0.5
    return p


def _preact(x, p, stride, eps=1e-5, variant=""):
    a = _relu(_bn(x, p["bn1_gamma"], p["bn1_beta"], eps))
    h = _conv2d(a, p["conv1"], stride, 1)
    h = _relu(_bn(h, p["bn2_gamma"], p["bn2_beta"], eps))
    f = _conv2d(h, p["conv2"], 1, 1)
    if "proj" in p:
        shortcut = _conv2d(x if variant == "proj from x" else a, p["proj"], stride, 0)
    else:
        shortcut = x
    if variant == "no skip":
        return f
    if variant == "relu after add":
        return _relu(f + shortcut)
    return f + shortcut


def _preact_params(seed, c_in, c_out, proj):
    g = rng(seed)
    p = {
        "bn1_gamma": g.uniform(0.5, 1.5, size=c_in),
        "bn1_beta": g.normal(size=c_in) * 0.5,
        "conv1": g.normal(size=(c_out, c_in, 3, 3)) / math.sqrt(9 * c_in),
        "bn2_gamma": g.uniform(0.5, 1.5, size=c_out),
        "bn2_beta": g.normal(size=c_out) * 0.5,
        "conv2": g.normal(size=(c_out, c_out, 3, 3)) / math.sqrt(9 * c_out),
    }
    if proj:
        p["proj"] = g.normal(size=(c_out, c_in, 1, 1)) / math.sqrt(c_in)
    return p


def _images(seed, shape):
    g = rng(seed)
    return g.normal(size=shape) + g.normal(size=(1, shape[1], 1, 1))  # channel means that differ


# (x shape, C_out, stride, projection): identity shortcuts keep the shape, projections change it
BLOCK_CASES = [
    ((2, 3, 5, 6), 3, 1, False),
    ((3, 2, 5, 4), 4, 2, True),
    ((2, 3, 6, 7), 3, 2, True),
    ((2, 2, 4, 3), 5, 1, True),
]


def _case(seed, shape, c_out, stride, proj, make=_basic_params):
    return _images(seed, shape), make(seed + 1, shape[1], c_out, proj)


# --- basic_block ----------------------------------------------------------------------------


@exercise("basic_block")
@pytest.mark.parametrize("shape, c_out, stride, proj", BLOCK_CASES)
def test_basic_block_matches_the_definition(impl, shape, c_out, stride, proj):
    x, p = _case(1, shape, c_out, stride, proj)
    call = run(impl.basic_block, x, p, stride)
    out, _ = expect_parts(call, ("out", "cache"))
    mistakes = {
        "leave out the skip connection": lambda: _basic(x, p, stride, variant="no skip"),
        "apply the ReLU before the addition instead of after it": lambda: _basic(
            x, p, stride, variant="relu before add"
        ),
        "leave out the ReLU after the addition": lambda: _basic(x, p, stride, variant="no final relu"),
        "put the stride on the second convolution instead of the first": lambda: _basic(
            x, p, stride, variant="stride on conv2"
        ),
        "leave out the BatchNorm after the projection": lambda: _basic(x, p, stride, variant="no bn on proj"),
    }
    expect_close(
        Call(out, str(call)), _basic(x, p, stride), rtol=1e-8, atol=1e-10, what="out", mistakes=mistakes
    )


@exercise("basic_block")
def test_basic_block_output_shape_with_stride_and_projection(impl):
    # 7 x 9 at stride 2: ceil(7 / 2) = 4 rows, ceil(9 / 2) = 5 columns, 6 channels.
    x, p = _case(3, (2, 3, 7, 9), 6, 2, True)
    call = run(impl.basic_block, x, p, 2)
    out, _ = expect_parts(call, ("out", "cache"))
    expect(
        getattr(out, "shape", None) == (2, 6, 4, 5),
        f"{call}: out has shape {getattr(out, 'shape', None)}, expected (2, 6, 4, 5): both 3x3 convolutions "
        "pad by 1, the first (and the 1x1 projection) has the stride",
    )


@exercise("basic_block")
def test_basic_block_is_nonnegative_and_passes_the_identity(impl):
    # With the residual branch's last BN scaled to 0 and shifted to 0, f = 0 and out = relu(x):
    # the block starts as (almost) the identity, as the zero-init of the last BN's gamma intends.
    x, p = _case(4, (2, 3, 4, 5), 3, 1, False)
    p["bn2_gamma"] = np.zeros(3)
    p["bn2_beta"] = np.zeros(3)
    call = run(impl.basic_block, x, p)
    out, _ = expect_parts(call, ("out", "cache"))
    expect_close(
        Call(out, str(call)),
        _relu(x),
        atol=1e-12,
        what="out with bn2's gamma = beta = 0 (the residual branch adds nothing): relu(x)",
        mistakes={
            "leave out the skip connection": np.zeros_like(x),
            "leave out the ReLU after the addition": x,
        },
    )


# --- basic_block_backward ------------------------------------------------------------------------


@exercise("basic_block_backward", timeout=20)
@pytest.mark.parametrize("shape, c_out, stride, proj", BLOCK_CASES[:3])
def test_basic_block_backward_matches_central_differences(impl, shape, c_out, stride, proj):
    x, p = _case(5, shape, c_out, stride, proj)
    out, cache = expect_parts(run(impl.basic_block, x, p, stride), ("out", "cache"))
    grad_out = rng(6).normal(size=np.shape(out))
    call = run(impl.basic_block_backward, grad_out, cache)
    grad_x, grads = expect_parts(call, ("grad_x", "grads"))
    expect(
        isinstance(grads, dict) and set(grads) == set(p),
        f"{call}: grads should be a dict with the keys of params, {sorted(p)}; got "
        f"{sorted(grads) if isinstance(grads, dict) else type(grads).__name__}",
    )

    def loss_in(key):
        def loss(value):
            q = dict(p, **{key: value})
            return float(np.sum(_basic(x, q, stride) * grad_out))

        return loss

    want_x = numeric_grad(lambda v: float(np.sum(_basic(v, p, stride) * grad_out)), x)
    # Through an identity shortcut, x receives dL/dz = grad_out where z = f + x > 0.
    dz = (_basic(x, p, stride, variant="no final relu") > 0) * grad_out
    expect_close(
        Call(grad_x, str(call)),
        want_x,
        rtol=1e-5,
        atol=1e-7,
        what="grad_x",
        mistakes={} if proj else {"forget the gradient that flows through the shortcut": want_x - dz},
    )
    for key in sorted(p):
        expect(
            getattr(grads[key], "shape", None) == p[key].shape,
            f"{call}: grads[{key!r}] has shape {getattr(grads[key], 'shape', None)}, expected {p[key].shape}",
        )
        expect_close(
            Call(grads[key], str(call)),
            numeric_grad(loss_in(key), p[key]),
            rtol=1e-5,
            atol=1e-7,
            what=f"grads[{key!r}]",
        )


@exercise("basic_block_backward")
def test_basic_block_backward_dead_relu_blocks_everything(impl):
    # A large negative bn2 shift and no shortcut input above it: every output is 0 (the final
    # ReLU is closed), so no gradient reaches anything.
    x, p = _case(7, (2, 2, 3, 4), 2, 1, False)
    x = -np.abs(x) - 1.0
    p["bn2_beta"] = np.full(2, -50.0)
    _, cache = expect_parts(run(impl.basic_block, x, p), ("out", "cache"))
    grad_out = rng(8).normal(size=x.shape)
    call = run(impl.basic_block_backward, grad_out, cache)
    grad_x, grads = expect_parts(call, ("grad_x", "grads"))
    expect_close(
        Call(grad_x, str(call)),
        np.zeros_like(x),
        atol=1e-12,
        what="grad_x where the final ReLU is closed everywhere",
        mistakes={"skip the ReLU after the addition in the backward pass": lambda: grad_out},
    )
    expect_close(
        Call(grads["conv1"], str(call)), np.zeros_like(p["conv1"]), atol=1e-12, what="grads['conv1']"
    )


# --- preact_block -------------------------------------------------------------------------------


@exercise("preact_block")
@pytest.mark.parametrize("shape, c_out, stride, proj", BLOCK_CASES)
def test_preact_block_matches_the_definition(impl, shape, c_out, stride, proj):
    x, p = _case(9, shape, c_out, stride, proj, make=_preact_params)
    call = run(impl.preact_block, x, p, stride)
    out, _ = expect_parts(call, ("out", "cache"))
    expect_close(
        Call(out, str(call)),
        _preact(x, p, stride),
        rtol=1e-8,
        atol=1e-10,
        mistakes={
            "leave out the skip connection": lambda: _preact(x, p, stride, variant="no skip"),
            "put a ReLU after the addition (the original block's habit)": lambda: _preact(
                x, p, stride, variant="relu after add"
            ),
            "project x itself instead of the pre-activated relu(bn1(x))": lambda: _preact(
                x, p, stride, variant="proj from x"
            ),
        },
    )


@exercise("preact_block")
def test_preact_block_keeps_negative_values_on_the_identity_path(impl):
    # conv2 = 0 makes the residual branch 0: out = x exactly, negative entries included.
    x, p = _case(10, (2, 3, 5, 4), 3, 1, False, make=_preact_params)
    p["conv2"] = np.zeros_like(p["conv2"])
    call = run(impl.preact_block, x, p)
    out, _ = expect_parts(call, ("out", "cache"))
    expect_close(
        Call(out, str(call)),
        x,
        atol=1e-12,
        what="with conv2 = 0 the block is the identity (x has negative entries)",
        mistakes={"put a ReLU after the addition (the original block's habit)": _relu(x)},
    )


@exercise("preact_block")
def test_preact_block_eps(impl):
    x, p = _case(11, (2, 2, 3, 5), 4, 2, True, make=_preact_params)
    call = run(impl.preact_block, x, p, 2, 0.5)
    out, _ = expect_parts(call, ("out", "cache"))
    expect_close(
        Call(out, str(call)),
        _preact(x, p, 2, eps=0.5),
        rtol=1e-8,
        atol=1e-10,
        what="with eps = 0.5 in both BatchNorms",
    )


# --- preact_block_backward ----------------------------------------------------------------------


@exercise("preact_block_backward", timeout=20)
@pytest.mark.parametrize("shape, c_out, stride, proj", BLOCK_CASES[:3])
def test_preact_block_backward_matches_central_differences(impl, shape, c_out, stride, proj):
    x, p = _case(60, shape, c_out, stride, proj, make=_preact_params)
    out, cache = expect_parts(run(impl.preact_block, x, p, stride), ("out", "cache"))
    dout = rng(61).normal(size=np.shape(out))
    call = run(impl.preact_block_backward, dout, cache)
    grad_x, grads = expect_parts(call, ("grad_x", "grads"))
    expect(
        isinstance(grads, dict) and set(grads) == set(p),
        f"{call}: grads should be a dict with the keys of params, {sorted(p)}; got "
        f"{sorted(grads) if isinstance(grads, dict) else type(grads).__name__}",
    )
    want_x = numeric_grad(lambda v: float(np.sum(_preact(v, p, stride) * dout)), x)
    expect_close(
        Call(grad_x, str(call)),
        want_x,
        rtol=1e-5,
        atol=1e-7,
        what="grad_x",
        mistakes={} if proj else {"forget the gradient that flows through the shortcut": want_x - dout},
    )
    for key in sorted(p):
        expect(
            getattr(grads[key], "shape", None) == p[key].shape,
            f"{call}: grads[{key!r}] has shape {getattr(grads[key], 'shape', None)}, expected {p[key].shape}",
        )
        expect_close(
            Call(grads[key], str(call)),
            numeric_grad(
                lambda v, k=key: float(np.sum(_preact(x, dict(p, **{k: v}), stride) * dout)), p[key]
            ),
            rtol=1e-5,
            atol=1e-7,
            what=f"grads[{key!r}]",
        )


@exercise("preact_block_backward")
def test_preact_block_backward_identity_when_the_branch_is_off(impl):
    # conv2 = 0 and no projection: out = x, so grad_x = dout exactly (negative entries included),
    # and nothing before conv2 gets a gradient.
    x, p = _case(62, (2, 3, 4, 5), 3, 1, False, make=_preact_params)
    p["conv2"] = np.zeros_like(p["conv2"])
    _, cache = expect_parts(run(impl.preact_block, x, p), ("out", "cache"))
    dout = rng(63).normal(size=x.shape)
    call = run(impl.preact_block_backward, dout, cache)
    grad_x, grads = expect_parts(call, ("grad_x", "grads"))
    expect_close(
        Call(grad_x, str(call)),
        dout,
        rtol=1e-10,
        atol=1e-12,
        what="grad_x when the block is the identity",
        mistakes={
            "forget the gradient that flows through the shortcut": np.zeros_like(x),
            "put a ReLU after the addition in the backward pass": np.where(x > 0, dout, 0.0),
        },
    )
    for key in ("conv1", "bn1_gamma", "bn1_beta", "bn2_gamma", "bn2_beta"):
        expect_close(
            Call(grads[key], str(call)), np.zeros_like(p[key]), atol=1e-12, what=f"grads[{key!r}] (conv2 = 0)"
        )


@exercise("preact_block_backward")
def test_preact_block_backward_projection_meets_the_branch_before_bn1(impl):
    # With a projection and conv2 = 0, only the shortcut carries dout: grad_x is dout sent back
    # through the projection, the first ReLU and bn1 (central differences of the block).
    x, p = _case(64, (3, 2, 5, 4), 3, 2, True, make=_preact_params)
    p["conv2"] = np.zeros_like(p["conv2"])
    out, cache = expect_parts(run(impl.preact_block, x, p, 2), ("out", "cache"))
    dout = rng(65).normal(size=np.shape(out))
    call = run(impl.preact_block_backward, dout, cache)
    grad_x, _ = expect_parts(call, ("grad_x", "grads"))
    want = numeric_grad(lambda v: float(np.sum(_preact(v, p, 2) * dout)), x)
    expect_close(
        Call(grad_x, str(call)),
        want,
        rtol=1e-5,
        atol=1e-7,
        what="grad_x through the projection shortcut alone",
        mistakes={"stop the shortcut's gradient at a instead of sending it on through bn1": np.zeros_like(x)},
    )


@exercise("preact_block_backward")
def test_preact_block_backward_relu_derivative_at_zero_is_zero(impl):
    # bn1's gamma = beta = 0 makes a = relu(0) = 0 exactly: the first ReLU passes no gradient,
    # so bn1's gamma and beta get none. Then bn2's gamma = beta = 0 does the same to the second
    # ReLU: conv1 and bn2's parameters get none. (The ReLU's derivative at 0 is 0.)
    x, p = _case(66, (2, 2, 3, 5), 3, 1, True, make=_preact_params)
    for zeroed, keys in [("bn1", ("bn1_gamma", "bn1_beta")), ("bn2", ("conv1", "bn2_gamma", "bn2_beta"))]:
        q = dict(
            p, **{f"{zeroed}_gamma": 0 * p[f"{zeroed}_gamma"], f"{zeroed}_beta": 0 * p[f"{zeroed}_beta"]}
        )
        out, cache = expect_parts(run(impl.preact_block, x, q), ("out", "cache"))
        call = run(impl.preact_block_backward, rng(67).normal(size=np.shape(out)), cache)
        _, grads = expect_parts(call, ("grad_x", "grads"))
        for key in keys:
            expect_close(
                Call(grads[key], str(call)),
                np.zeros_like(q[key]),
                atol=1e-12,
                what=f"grads[{key!r}] when {zeroed}'s output is exactly 0 (the ReLU's derivative at 0 is 0)",
            )


# --- WaveNet block ------------------------------------------------------------------------------


def _causal(x, w, b, dilation, future=False):
    """Causal convolution written out: out[t] = b + sum_j w[:, :, j] x[t - (k - 1 - j) * dilation]."""
    n, c, length = x.shape
    k = w.shape[2]
    out = np.zeros((n, w.shape[0], length)) + b[:, None]
    for t in range(length):
        for j in range(k):
            # the last tap sits at t; with future=True the window is centred on t instead
            src = t - (k - 1 - j) * dilation + (((k - 1) * dilation) // 2 if future else 0)
            if 0 <= src < length:
                out[:, :, t] += x[:, :, src] @ w[:, :, j].T
    return out


def _sigmoid(v):
    return 1 / (1 + np.exp(-v))


def _wavenet(x, p, dilation, variant=""):
    future = variant == "future"
    d = 1 if variant == "no dilation" else dilation
    f = _causal(x, p["filter_w"], p["filter_b"], d, future)
    g = _causal(x, p["gate_w"], p["gate_b"], d, future)
    z = _sigmoid(f) * np.tanh(g) if variant == "swap" else np.tanh(f) * _sigmoid(g)
    res = np.einsum("ch,nhl->ncl", p["res_w"][:, :, 0], z) + p["res_b"][:, None]
    skip = np.einsum("sh,nhl->nsl", p["skip_w"][:, :, 0], z) + p["skip_b"][:, None]
    return (res if variant == "no residual" else x + res), skip


def _wavenet_params(seed, c, hidden, skip, k):
    g = rng(seed)
    return {
        "filter_w": g.normal(size=(hidden, c, k)) / math.sqrt(c * k),
        "filter_b": g.normal(size=hidden) * 0.3,
        "gate_w": g.normal(size=(hidden, c, k)) / math.sqrt(c * k),
        "gate_b": g.normal(size=hidden) * 0.3,
        "res_w": g.normal(size=(c, hidden, 1)) / math.sqrt(hidden),
        "res_b": g.normal(size=c) * 0.3,
        "skip_w": g.normal(size=(skip, hidden, 1)) / math.sqrt(hidden),
        "skip_b": g.normal(size=skip) * 0.3,
    }


WAVENET_CASES = [(2, 3, 5, 4, 2, 1, 11), (1, 2, 3, 5, 2, 4, 13), (3, 4, 2, 3, 3, 2, 9), (2, 1, 4, 2, 3, 3, 7)]


@exercise("wavenet_block")
@pytest.mark.parametrize("n, c, hidden, skip, k, dilation, length", WAVENET_CASES)
def test_wavenet_block_matches_the_definition(impl, n, c, hidden, skip, k, dilation, length):
    x = rng(12).normal(size=(n, c, length))
    p = _wavenet_params(13, c, hidden, skip, k)
    call = run(impl.wavenet_block, x, p, dilation)
    residual, skip_out = expect_parts(call, ("residual", "skip"))
    want_res, want_skip = _wavenet(x, p, dilation)

    def mistakes(index):
        return {
            phrase: (lambda v=variant: _wavenet(x, p, dilation, v)[index])
            for phrase, variant in [
                ("let step t see inputs after t (pad both sides instead of the left only)", "future"),
                ("swap tanh and sigmoid (tanh goes on the filter, sigmoid on the gate)", "swap"),
                ("forget to add x to the residual output", "no residual"),
                ("ignore the dilation", "no dilation"),
            ]
        }

    expect_close(
        Call(skip_out, str(call)), want_skip, rtol=1e-8, atol=1e-10, what="skip", mistakes=mistakes(1)
    )
    expect_close(
        Call(residual, str(call)), want_res, rtol=1e-8, atol=1e-10, what="residual", mistakes=mistakes(0)
    )


@exercise("wavenet_block")
def test_wavenet_block_is_causal(impl):
    # Moving the input at step 6 moves no output before step 6, and moves the outputs at
    # steps 6 and 6 + dilation (the two taps of a kernel of size 2).
    x = rng(14).normal(size=(1, 2, 14))
    p = _wavenet_params(15, 2, 3, 2, 2)
    base_res, base_skip = expect_parts(run(impl.wavenet_block, x, p, 3), ("residual", "skip"))
    moved = x.copy()
    moved[0, :, 6] += 1.0
    call = run(impl.wavenet_block, moved, p, 3)
    res, skip = expect_parts(call, ("residual", "skip"))
    changed = np.flatnonzero(np.abs(np.asarray(skip) - base_skip).max(axis=(0, 1)) > 1e-12).tolist()
    expect_equal(
        Call(changed, str(call)),
        [6, 9],
        what="the steps whose skip output moves with input step 6 (dilation 3, kernel 2: steps 6 and 9)",
    )
    changed_res = np.flatnonzero(np.abs(np.asarray(res) - base_res).max(axis=(0, 1)) > 1e-12).tolist()
    expect_equal(Call(changed_res, str(call)), [6, 9], what="the steps whose residual output changes")


# --- WaveNet stack -------------------------------------------------------------------------------


def _stack(x, blocks, dilations):
    skips = 0
    for p, d in zip(blocks, dilations):
        x, s = _wavenet(x, p, d)
        skips = skips + s
    return x, skips


@exercise("wavenet_stack")
@pytest.mark.parametrize("dilations, k", [([1, 2, 4], 2), ([1, 3], 3), ([2, 1, 2, 4], 2)])
def test_wavenet_stack_matches_the_definition(impl, dilations, k):
    x = rng(16).normal(size=(2, 3, 17))
    blocks = [_wavenet_params(20 + i, 3, 4, 2, k) for i in range(len(dilations))]
    call = run(impl.wavenet_stack, x, blocks, dilations)
    out, skips = expect_parts(call, ("residual", "skip sum"))
    want_out, want_skips = _stack(x, blocks, dilations)

    def last_skip_only():
        h = x
        for p, d in zip(blocks, dilations):
            h, s = _wavenet(h, p, d)
        return s

    def every_block_on_x():
        return sum(_wavenet(x, p, d)[1] for p, d in zip(blocks, dilations))

    expect_close(
        Call(skips, str(call)),
        want_skips,
        rtol=1e-8,
        atol=1e-10,
        what="the sum of the skip outputs",
        mistakes={
            "return the last block's skip output instead of the sum": last_skip_only,
            "feed x to every block instead of the previous block's residual output": every_block_on_x,
        },
    )
    expect_close(Call(out, str(call)), want_out, rtol=1e-8, atol=1e-10, what="the last residual output")


@exercise("wavenet_stack")
def test_wavenet_stack_sees_exactly_its_receptive_field(impl):
    # Dilations 1, 2, 4, 8 with kernel 2: 1 + 1 + 2 + 4 + 8 = 16 steps. Moving input step 10
    # moves the summed skip output at steps 10..25 and nowhere else.
    dilations = [1, 2, 4, 8]
    blocks = [_wavenet_params(30 + i, 2, 3, 2, 2) for i in range(4)]
    x = rng(17).normal(size=(1, 2, 40))
    _, base = expect_parts(run(impl.wavenet_stack, x, blocks, dilations), ("residual", "skip sum"))
    moved = x.copy()
    moved[0, :, 10] += 1.0
    call = run(impl.wavenet_stack, moved, blocks, dilations)
    _, skips = expect_parts(call, ("residual", "skip sum"))
    changed = np.flatnonzero(np.abs(np.asarray(skips) - base).max(axis=(0, 1)) > 1e-12)
    expect_equal(
        Call((int(changed.min()), int(changed.max())) if changed.size else None, str(call)),
        (10, 25),
        what="the first and last steps of the skip sum that move when input step 10 moves",
    )


# --- receptive_field -----------------------------------------------------------------------------


@exercise("receptive_field")
@pytest.mark.parametrize(
    "kernels, dilations, want",
    [
        ([2] * 10, [2**i for i in range(10)], 1024),  # one WaveNet cycle 1..512
        ([2] * 30, [2**i for i in range(10)] * 3, 3070),  # three cycles
        ([3, 3, 3], [1, 2, 4], 15),  # Yu & Koltun's stack: 3, 7, 15
        ([3, 3], [1, 1], 5),
        ([5], [3], 13),
        ([], [], 1),
    ],
)
def test_receptive_field_of_dilated_stacks(impl, kernels, dilations, want):
    call = run(impl.receptive_field, kernels, dilations)
    expect_equal(
        call,
        want,
        mistakes={
            "forget the 1 for the output's own step": want - 1,
            "add the dilations instead of (k - 1) times the dilations": 1 + sum(dilations),
            "add k times the dilation per layer": 1 + sum(k * d for k, d in zip(kernels, dilations)),
        },
    )
    expect(
        isinstance(call.value, int), f"{call}: returned {type(call.value).__name__}; expected a Python int"
    )


@exercise("receptive_field")
@pytest.mark.parametrize(
    "kernels, dilations, strides, want",
    [
        ([3, 3, 3], [1, 1, 1], [2, 2, 1], 15),  # 1 + 2 + 2*2 + 2*4
        ([7, 3, 3], [1, 1, 1], [2, 2, 2], 19),  # 1 + 6 + 2*2 + 2*4
        ([4, 3], [1, 2], [3, 1], 16),  # 1 + 3 + 2*2*3
        ([3, 2], [2, 1], [1, 5], 6),  # the last stride does not matter
    ],
)
def test_receptive_field_with_strides(impl, kernels, dilations, strides, want):
    call = run(impl.receptive_field, kernels, dilations, strides)

    def strides_including_own():
        field, jump = 1, 1
        for k, d, s in zip(kernels, dilations, strides):
            jump *= s
            field += (k - 1) * d * jump
        return field

    expect_equal(
        call,
        want,
        mistakes={
            "ignore the strides": 1 + sum((k - 1) * d for k, d in zip(kernels, dilations)),
            "multiply each layer by its own stride too (only the earlier layers' strides count)": (
                strides_including_own
            ),
        },
    )


@exercise("basic_block_backward")
def test_basic_block_backward_identity_path_carries_the_gradient(impl):
    # With the residual branch switched off (bn2's gamma = beta = 0, so f = 0) and x > 0, the
    # block is out = x: dx = dout exactly, and conv2 gets no gradient (bn2's gamma is 0).
    x, p = _case(40, (2, 3, 4, 5), 3, 1, False)
    x = np.abs(x) + 0.5
    p["bn2_gamma"], p["bn2_beta"] = np.zeros(3), np.zeros(3)
    _, cache = expect_parts(run(impl.basic_block, x, p), ("out", "cache"))
    dout = rng(41).normal(size=x.shape)
    call = run(impl.basic_block_backward, dout, cache)
    grad_x, grads = expect_parts(call, ("grad_x", "grads"))
    expect_close(
        Call(grad_x, str(call)),
        dout,
        rtol=1e-10,
        atol=1e-12,
        what="grad_x when the block is the identity on positive inputs",
        mistakes={"forget the gradient that flows through the shortcut": np.zeros_like(x)},
    )
    expect_close(
        Call(grads["conv2"], str(call)),
        np.zeros_like(p["conv2"]),
        atol=1e-12,
        what="grads['conv2'] (gamma2 = 0)",
    )


@exercise("wavenet_block")
def test_wavenet_block_by_hand(impl):
    # One channel, one hidden unit, kernel 2, dilation 2, x = 1, 2, 3, 4: the filter and gate
    # taps are (1, 1) and (0, 0) with biases 0 and 0, so the filter sees x[t - 2] + x[t] and the gate
    # is sigmoid(0) = 1/2 everywhere. res and skip are 1x1 weights 2 and 3 with biases 0.5 and -1.
    x = np.array([[[1.0, 2.0, 3.0, 4.0]]])
    p = {
        "filter_w": np.array([[[1.0, 1.0]]]),
        "filter_b": np.zeros(1),
        "gate_w": np.zeros((1, 1, 2)),
        "gate_b": np.zeros(1),
        "res_w": np.array([[[2.0]]]),
        "res_b": np.array([0.5]),
        "skip_w": np.array([[[3.0]]]),
        "skip_b": np.array([-1.0]),
    }
    z = np.tanh(np.array([1.0, 2.0, 1.0 + 3.0, 2.0 + 4.0])) * 0.5
    call = run(impl.wavenet_block, x, p, 2)
    residual, skip = expect_parts(call, ("residual", "skip"))
    expect_close(Call(skip, str(call)), (3 * z - 1).reshape(1, 1, 4), rtol=1e-12, what="skip")
    expect_close(
        Call(residual, str(call)), (x[0, 0] + 2 * z + 0.5).reshape(1, 1, 4), rtol=1e-12, what="residual"
    )


@exercise("wavenet_stack")
def test_wavenet_stack_of_one_block_is_the_block(impl):
    x = rng(42).normal(size=(2, 2, 9))
    p = _wavenet_params(43, 2, 3, 4, 2)
    call = run(impl.wavenet_stack, x, [p], [2])
    out, skips = expect_parts(call, ("residual", "skip sum"))
    want_out, want_skip = _wavenet(x, p, 2)
    expect_close(Call(out, str(call)), want_out, rtol=1e-10, what="residual of a one-block stack")
    expect_close(Call(skips, str(call)), want_skip, rtol=1e-10, what="skip sum of a one-block stack")


@exercise("receptive_field")
def test_receptive_field_ignores_pointwise_layers(impl):
    # A 1x1 layer (k = 1) sees no neighbours, whatever its dilation; a layer after a stride-3 layer
    # counts three times.
    base = run(impl.receptive_field, [3, 3], [2, 1])
    expect_equal(base, 7)
    with_pointwise = run(impl.receptive_field, [3, 1, 3], [2, 8, 1])
    expect_equal(with_pointwise, 7, what="a kernel-1 layer with dilation 8 adds nothing")
    strided = run(impl.receptive_field, [1, 3], [1, 1], [3, 1])
    expect_equal(strided, 7, what="a 3-tap layer after a stride-3 1x1 layer: 1 + 2 * 3")


@exercise("basic_block_backward")
def test_basic_block_backward_relu_derivative_at_zero_is_zero(impl):
    # bn1's gamma = beta = 0 makes its output exactly 0 everywhere, and bn2's makes f = 0, so
    # z = x, which has exact zeros. The ReLU's derivative at 0 is 0 (as in PyTorch): nothing
    # reaches conv1 or bn1, and grad_x is 0 where x is 0 (dout where x > 0, 0 where x < 0).
    x, p = _case(44, (2, 2, 3, 5), 2, 1, False)
    x[:, :, 1, :] = 0.0
    p["bn1_gamma"], p["bn1_beta"] = np.zeros(2), np.zeros(2)
    p["bn2_gamma"], p["bn2_beta"] = np.zeros(2), np.zeros(2)
    _, cache = expect_parts(run(impl.basic_block, x, p), ("out", "cache"))
    dout = rng(45).normal(size=x.shape)
    call = run(impl.basic_block_backward, dout, cache)
    grad_x, grads = expect_parts(call, ("grad_x", "grads"))
    expect_close(
        Call(grad_x, str(call)),
        np.where(x > 0, dout, 0.0),
        atol=1e-12,
        what="grad_x with z = x (the ReLU's derivative is 0 at 0)",
        mistakes={"take the ReLU's derivative at 0 as 1": np.where(x >= 0, dout, 0.0)},
    )
    # Now with bn2 as drawn, so that a gradient reaches the first ReLU, whose input is all 0:
    # it passes nothing, so bn1's gamma and beta get no gradient.
    _, p_live = _case(44, (2, 2, 3, 5), 2, 1, False)
    p_live["bn1_gamma"], p_live["bn1_beta"] = np.zeros(2), np.zeros(2)
    _, cache = expect_parts(run(impl.basic_block, x, p_live), ("out", "cache"))
    call = run(impl.basic_block_backward, dout, cache)
    _, grads = expect_parts(call, ("grad_x", "grads"))
    for key in ("bn1_gamma", "bn1_beta"):
        expect_close(
            Call(grads[key], str(call)),
            np.zeros(2),
            atol=1e-12,
            what=f"grads[{key!r}] when bn1's output is exactly 0 (the ReLU's derivative is 0 at 0)",
        )
