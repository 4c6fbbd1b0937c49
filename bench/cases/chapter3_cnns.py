"""Chapter 3 benchmark cases: the reference conv2d forward and backward pass (part 2) at
a size of a small CNN's middle layer, in float32, against PyTorch's conv2d with autograd
and, when it is installed, numpy-ml's Conv2D layer."""

from __future__ import annotations

import collections
import collections.abc

import numpy as np

from bench.run import Case, in_torch

CONV = "chapter3_cnns/part2_conv2d"


def _conv_batch():
    # x, w, b, dout: 32 images of 16 channels, 32 x 32 pixels; 32 filters 3 x 3, padding 1
    g = np.random.default_rng(0)
    x = g.normal(size=(32, 16, 32, 32)).astype(np.float32)
    w = (g.normal(size=(32, 16, 3, 3)) / 12).astype(np.float32)
    b = g.normal(size=32).astype(np.float32)
    dout = g.normal(size=(32, 32, 32, 32)).astype(np.float32)
    return x, w, b, dout


def _forward_backward(module, inputs):
    x, w, b, dout = inputs
    module.conv2d(x, w, b, padding=1)
    return module.conv2d_backward(dout, x, w, padding=1)


def _torch_forward_backward(t, x, w, b, dout):
    for p in (x, w, b):
        p.requires_grad_(True)
    out = t.nn.functional.conv2d(x, w, b, padding=1)
    return t.autograd.grad(out, (x, w, b), dout)


def _numpy_ml(inputs):
    """numpy-ml 0.1.2's Conv2D (NHWC, im2col), forward and backward, or None if not installed."""
    if not hasattr(collections, "Hashable"):  # numpy-ml 0.1.2 predates Python 3.10
        collections.Hashable = collections.abc.Hashable  # type: ignore[attr-defined]
    try:
        from numpy_ml.neural_nets.layers import Conv2D
    except ImportError:
        return None
    x, w, b, dout = inputs
    x_nhwc, dout_nhwc = x.transpose(0, 2, 3, 1).copy(), dout.transpose(0, 2, 3, 1).copy()
    layer = Conv2D(out_ch=w.shape[0], kernel_shape=w.shape[2:], pad=1, stride=1)
    layer.forward(x_nhwc)  # initialises its parameters, which are then replaced by ours
    layer.parameters["W"] = w.transpose(2, 3, 1, 0).copy()
    layer.parameters["b"] = b.reshape(1, 1, 1, -1).copy()

    def run():
        layer.forward(x_nhwc)
        return layer.backward(dout_nhwc)

    return run


CASES = [
    Case(
        "conv2d fwd+bwd f32 32x16x32x32, 32 3x3, pad 1",
        CONV,
        _conv_batch,
        _forward_backward,
        in_torch(_torch_forward_backward),
    ),
    Case(
        "conv2d fwd+bwd f32 32x16x32x32, 32 3x3, pad 1",
        CONV,
        _conv_batch,
        _forward_backward,
        _numpy_ml,
        other_name="numpy-ml",
    ),
]
