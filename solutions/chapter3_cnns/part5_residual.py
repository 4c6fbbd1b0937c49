# %% [markdown]
# # Chapter 3, part 5: residual blocks — ResNet, pre-activation, and WaveNet
#
# Reading: chapters/chapter3_cnns/part5_residual.md
#
# Fill in each function, then run the cell below it: `check(fn)` runs that exercise's
# tests here and prints a verdict. `python -m grader chapter3/part5` grades the file.
#
# Everything here is built from YOUR earlier parts: conv1d and causal_conv1d (part 1),
# conv2d and conv2d_backward (part 2), batchnorm2d_train and batchnorm2d_backward (part 4).
# When graded with `--impl solutions` they are the references. If one of them is still a
# stub, the exercises that use it show *todo* and name it.
#
# Conventions: images NCHW, sequences NCL. A block's parameters come in a dict of arrays
# whose keys the docstring lists; a convolution inside a block has no bias (the BatchNorm
# after it has its own shift). BatchNorm runs in training mode (batch statistics), eps
# as given. No function changes its inputs.
#
# Precision the tests ask for: outputs within a relative 1e-8 of the blocks written out,
# gradients within a relative 1e-5 (absolute 1e-7) of central differences.

# %%
from typing import Any

import numpy as np

# Your parts 1, 2 and 4 ("noqa": the blank stubs do not use them yet).
from chapter3_cnns.part1_windows import causal_conv1d, conv1d  # noqa: F401
from chapter3_cnns.part2_conv2d import conv2d, conv2d_backward  # noqa: F401
from chapter3_cnns.part4_norm_augment import batchnorm2d_backward, batchnorm2d_train  # noqa: F401
from jaxtyping import Float

from grader.check import check

MAIN = __name__ == "__main__"

Params = dict[str, np.ndarray]


# %% [markdown]
# ## Given: ReLU


# %%
def relu(x: np.ndarray) -> np.ndarray:
    """max(x, 0), elementwise, as a new array."""
    return np.maximum(x, 0.0)


# %% [markdown]
# ## The ResNet basic block


# %%
def basic_block(
    x: Float[np.ndarray, "n c_in h w"],
    params: Params,
    stride: int = 1,
    eps: float = 1e-5,
) -> tuple[Float[np.ndarray, "n c_out h_out w_out"], dict[str, Any]]:
    """The basic block of ResNet (He et al. 2015, figure 2), as torchvision builds it:

        h = relu(bn1(conv1(x)))            conv1: 3x3, padding 1, stride `stride`
        f = bn2(conv2(h))                  conv2: 3x3, padding 1, stride 1
        out = relu(f + shortcut(x))        the ReLU comes AFTER the addition

    shortcut(x) is x itself when params has no "proj"; otherwise the projection
    bn_proj(conv_proj(x)), conv_proj a 1x1 convolution with stride `stride` (no padding),
    which makes the shortcut's shape match f's when the stride or the channels change.

    params: "conv1" (C_out, C_in, 3, 3), "bn1_gamma", "bn1_beta" (C_out,),
            "conv2" (C_out, C_out, 3, 3), "bn2_gamma", "bn2_beta" (C_out,),
            and optionally "proj" (C_out, C_in, 1, 1), "proj_gamma", "proj_beta" (C_out,).
    Every bn is batchnorm2d_train with this eps; no convolution has a bias.
    Returns (out, cache): cache is a dict holding whatever basic_block_backward needs.
    """
    # BEGIN SOLUTION
    cache: dict[str, Any] = {"x": x, "params": params, "stride": stride}
    h1 = conv2d(x, params["conv1"], stride=stride, padding=1)
    a1, cache["x_hat1"], cache["inv_std1"] = batchnorm2d_train(
        h1, params["bn1_gamma"], params["bn1_beta"], eps
    )
    r1 = relu(a1)
    h2 = conv2d(r1, params["conv2"], padding=1)
    f, cache["x_hat2"], cache["inv_std2"] = batchnorm2d_train(
        h2, params["bn2_gamma"], params["bn2_beta"], eps
    )
    if "proj" in params:
        p = conv2d(x, params["proj"], stride=stride)
        shortcut, cache["x_hat_p"], cache["inv_std_p"] = batchnorm2d_train(
            p, params["proj_gamma"], params["proj_beta"], eps
        )
    else:
        shortcut = x
    z = f + shortcut
    cache.update(a1=a1, r1=r1, z=z)
    return relu(z), cache
    # END SOLUTION


if MAIN:
    check(basic_block)


# %%
def basic_block_backward(
    dout: Float[np.ndarray, "n c_out h_out w_out"],
    cache: dict[str, Any],
) -> tuple[Float[np.ndarray, "n c_in h w"], Params]:
    """Gradients through (out, cache) = basic_block(x, params, stride, eps), given dout = dL/dout.

    Returns (grad_x, grads), grads a dict with the same keys as params, each gradient
    shaped like its parameter. grad_x collects two paths: through the residual branch
    (conv1, bn1, relu, conv2, bn2) and through the shortcut (the identity, or the
    projection). The ReLU's derivative is 1 where its input is > 0 and 0 elsewhere, at 0
    included (as in PyTorch).
    """
    # BEGIN SOLUTION
    params, x, stride = cache["params"], cache["x"], cache["stride"]
    grads: Params = {}
    dz = dout * (cache["z"] > 0)  # through the final ReLU; dz reaches both branches
    dh2, grads["bn2_gamma"], grads["bn2_beta"] = batchnorm2d_backward(
        dz, cache["x_hat2"], params["bn2_gamma"], cache["inv_std2"]
    )
    dr1, grads["conv2"], _ = conv2d_backward(dh2, cache["r1"], params["conv2"], padding=1)
    da1 = dr1 * (cache["a1"] > 0)
    dh1, grads["bn1_gamma"], grads["bn1_beta"] = batchnorm2d_backward(
        da1, cache["x_hat1"], params["bn1_gamma"], cache["inv_std1"]
    )
    grad_x, grads["conv1"], _ = conv2d_backward(dh1, x, params["conv1"], stride=stride, padding=1)
    if "proj" in params:
        dp, grads["proj_gamma"], grads["proj_beta"] = batchnorm2d_backward(
            dz, cache["x_hat_p"], params["proj_gamma"], cache["inv_std_p"]
        )
        dx_shortcut, grads["proj"], _ = conv2d_backward(dp, x, params["proj"], stride=stride)
    else:
        dx_shortcut = dz  # the identity passes the gradient on unchanged
    return grad_x + dx_shortcut, grads
    # END SOLUTION


if MAIN:
    check(basic_block_backward)


# %% [markdown]
# ## The pre-activation block of "Identity mappings in deep residual networks"


# %%
def preact_block(
    x: Float[np.ndarray, "n c_in h w"],
    params: Params,
    stride: int = 1,
    eps: float = 1e-5,
) -> tuple[Float[np.ndarray, "n c_out h_out w_out"], dict[str, Any]]:
    """The full pre-activation block (He et al. 2016, figure 1(b)): BN and ReLU come BEFORE
    each convolution, and nothing follows the addition.

        a = relu(bn1(x))
        f = conv2(relu(bn2(conv1(a))))     conv1: 3x3, padding 1, stride `stride`;
                                           conv2: 3x3, padding 1, stride 1
        out = f + shortcut                 no ReLU after the addition

    shortcut is x itself when params has no "proj"; otherwise conv_proj(a), a 1x1
    convolution with stride `stride` applied to the PRE-ACTIVATED a (as in the authors'
    code), with no BatchNorm of its own.

    params: "bn1_gamma", "bn1_beta" (C_in,), "conv1" (C_out, C_in, 3, 3),
            "bn2_gamma", "bn2_beta" (C_out,), "conv2" (C_out, C_out, 3, 3),
            and optionally "proj" (C_out, C_in, 1, 1).
    Every bn is batchnorm2d_train with this eps; no convolution has a bias.
    Returns (out, cache): cache is a dict holding whatever preact_block_backward needs.
    """
    # BEGIN SOLUTION
    cache: dict[str, Any] = {"params": params, "stride": stride}
    b1, cache["x_hat1"], cache["inv_std1"] = batchnorm2d_train(
        x, params["bn1_gamma"], params["bn1_beta"], eps
    )
    a = relu(b1)
    h = conv2d(a, params["conv1"], stride=stride, padding=1)
    b2, cache["x_hat2"], cache["inv_std2"] = batchnorm2d_train(
        h, params["bn2_gamma"], params["bn2_beta"], eps
    )
    r2 = relu(b2)
    f = conv2d(r2, params["conv2"], padding=1)
    shortcut = conv2d(a, params["proj"], stride=stride) if "proj" in params else x
    cache.update(b1=b1, a=a, b2=b2, r2=r2)
    return f + shortcut, cache
    # END SOLUTION


if MAIN:
    check(preact_block)


# %%
def preact_block_backward(
    dout: Float[np.ndarray, "n c_out h_out w_out"],
    cache: dict[str, Any],
) -> tuple[Float[np.ndarray, "n c_in h w"], Params]:
    """Gradients through (out, cache) = preact_block(x, params, stride, eps), given dout = dL/dout.

    Returns (grad_x, grads), grads a dict with the same keys as params. The addition sends
    dout to both paths unchanged (no ReLU after it). With a projection, the shortcut starts
    from a = relu(bn1(x)), so its gradient joins the residual branch's at a, before bn1;
    without one, it reaches x directly. The ReLU's derivative is 0 at 0, as in basic_block.
    """
    # BEGIN SOLUTION
    params, stride = cache["params"], cache["stride"]
    grads: Params = {}
    dr2, grads["conv2"], _ = conv2d_backward(dout, cache["r2"], params["conv2"], padding=1)
    dh, grads["bn2_gamma"], grads["bn2_beta"] = batchnorm2d_backward(
        dr2 * (cache["b2"] > 0), cache["x_hat2"], params["bn2_gamma"], cache["inv_std2"]
    )
    da, grads["conv1"], _ = conv2d_backward(dh, cache["a"], params["conv1"], stride=stride, padding=1)
    if "proj" in params:
        da_shortcut, grads["proj"], _ = conv2d_backward(dout, cache["a"], params["proj"], stride=stride)
        da = da + da_shortcut  # both paths meet at a
    grad_x, grads["bn1_gamma"], grads["bn1_beta"] = batchnorm2d_backward(
        da * (cache["b1"] > 0), cache["x_hat1"], params["bn1_gamma"], cache["inv_std1"]
    )
    if "proj" not in params:
        grad_x = grad_x + dout  # the identity shortcut
    return grad_x, grads
    # END SOLUTION


if MAIN:
    check(preact_block_backward)


# %% [markdown]
# ## WaveNet: gated residual blocks of dilated causal convolutions


# %%
def wavenet_block(
    x: Float[np.ndarray, "n c l"],
    params: Params,
    dilation: int,
) -> tuple[Float[np.ndarray, "n c l"], Float[np.ndarray, "n s l"]]:
    """One residual block of WaveNet (van den Oord et al. 2016, figure 4).

        z = tanh(causal_conv1d(x, filter_w, filter_b, dilation))
            * sigmoid(causal_conv1d(x, gate_w, gate_b, dilation))      the gated activation
        residual = x + res_w * z + res_b       (a 1x1 convolution, then the skip connection)
        skip = skip_w * z + skip_b             (a 1x1 convolution)

    params: "filter_w", "gate_w" (H, C, k) and "filter_b", "gate_b" (H,): the dilated
    causal convolutions, H hidden channels, kernel size k; "res_w" (C, H, 1), "res_b" (C,);
    "skip_w" (S, H, 1), "skip_b" (S,). Output step t depends on the inputs at steps <= t only.
    Returns (residual, skip): residual feeds the next block, skip goes to the output stack.
    """
    # BEGIN SOLUTION
    filt = np.tanh(causal_conv1d(x, params["filter_w"], params["filter_b"], dilation=dilation))
    gate = 1.0 / (1.0 + np.exp(-causal_conv1d(x, params["gate_w"], params["gate_b"], dilation=dilation)))
    z = filt * gate  # (N, H, L)
    residual = x + conv1d(z, params["res_w"], params["res_b"])
    skip = conv1d(z, params["skip_w"], params["skip_b"])
    return residual, skip
    # END SOLUTION


if MAIN:
    check(wavenet_block)


# %%
def wavenet_stack(
    x: Float[np.ndarray, "n c l"],
    blocks: list[Params],
    dilations: list[int],
) -> tuple[Float[np.ndarray, "n c l"], Float[np.ndarray, "n s l"]]:
    """A stack of wavenet_blocks: block i takes the residual output of block i - 1 (block 0
    takes x) with dilation dilations[i]. Returns (the last block's residual output, the SUM
    of every block's skip output). WaveNet doubles the dilation at every layer, 1, 2, 4,
    ..., 512, and repeats that cycle.
    """
    # BEGIN SOLUTION
    skips = 0.0
    for params, dilation in zip(blocks, dilations):
        x, skip = wavenet_block(x, params, dilation)
        skips = skips + skip
    return x, skips  # pyright: ignore[reportReturnType]: an array once a block has run
    # END SOLUTION


if MAIN:
    check(wavenet_stack)


# %% [markdown]
# ## Receptive fields


# %%
def receptive_field(
    kernel_sizes: list[int],
    dilations: list[int],
    strides: list[int] | None = None,
) -> int:
    """The number of input steps that one output of a stack of 1-D convolutions can see.

    Layer l has kernel size kernel_sizes[l], dilation dilations[l] and stride strides[l]
    (all strides 1 when strides is None). Layer l widens the field by (k_l - 1) * d_l of
    its own input steps, and each of those steps is the product of the strides of the
    layers before it in input steps:
        r = 1 + sum over l of (k_l - 1) * d_l * (s_0 * s_1 * ... * s_{l-1})
    An empty stack sees one step. Returns a Python int.
    """
    # BEGIN SOLUTION
    strides = [1] * len(kernel_sizes) if strides is None else strides
    field, jump = 1, 1  # jump: input steps between neighbouring positions of this layer's input
    for k, d, s in zip(kernel_sizes, dilations, strides):
        field += (k - 1) * d * jump
        jump *= s
    return int(field)
    # END SOLUTION


if MAIN:
    check(receptive_field)


# %% [markdown]
# ## Seen once: a WaveNet stack sees exactly its receptive field
#
# Change the input at one step and look which outputs move: only those at that step and
# later, and no further than the receptive field reaches.

# %%
if MAIN:
    g = np.random.default_rng(0)
    channels, hidden, skip_channels, length = 2, 4, 3, 40
    dilations = [1, 2, 4, 8]

    def random_block() -> Params:
        return {
            "filter_w": g.normal(size=(hidden, channels, 2)),
            "filter_b": g.normal(size=hidden),
            "gate_w": g.normal(size=(hidden, channels, 2)),
            "gate_b": g.normal(size=hidden),
            "res_w": g.normal(size=(channels, hidden, 1)),
            "res_b": g.normal(size=channels),
            "skip_w": g.normal(size=(skip_channels, hidden, 1)),
            "skip_b": g.normal(size=skip_channels),
        }

    stack = [random_block() for _ in dilations]
    x = g.normal(size=(1, channels, length))
    _, base = wavenet_stack(x, stack, dilations)
    x_moved = x.copy()
    x_moved[0, :, 10] += 1.0
    _, moved = wavenet_stack(x_moved, stack, dilations)
    changed = np.flatnonzero(np.abs(moved - base).max(axis=(0, 1)) > 1e-12)
    print(f"moving step 10 changes the outputs at steps {changed.min()}..{changed.max()}")
    field = receptive_field([2] * 4, dilations)
    print(f"receptive field {field}: steps 10..{10 + field - 1}")
