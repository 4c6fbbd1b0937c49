"""Tests for chapter 3, part 4: BatchNorm2d (train, running statistics, eval, backward),
AlexNet's local response normalisation and its backward pass, and batch augmentation by
random crops and horizontal flips.

Expected values come from the definitions evaluated one channel at a time with Python
floats (BatchNorm2d) and one channel window at a time with explicit index bounds (local
response normalisation), from central differences of this file's forward passes for every
backward pass (random upstream gradients, non-square images, odd sizes), and, for the
random augmentations, from locating each output inside its input (it must be one of the
allowed windows, or the image or its mirror) and from counts over thousands of draws held
to 6 standard errors, which a correct sampler exceeds about twice in a billion runs.
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

# --- BatchNorm2d written out, one channel at a time -------------------------------------------


def _bn2d_loops(x, gamma, beta, eps):
    """(out, x_hat, inv_std) with the biased variance of each channel's N * H * W values."""
    x_hat = np.zeros_like(x, dtype=np.float64)
    inv_std = np.zeros(x.shape[1])
    for c in range(x.shape[1]):
        values = [float(v) for v in x[:, c].ravel()]
        mean = math.fsum(values) / len(values)
        var = math.fsum((v - mean) ** 2 for v in values) / len(values)
        inv_std[c] = 1.0 / math.sqrt(var + eps)
        x_hat[:, c] = (x[:, c] - mean) * inv_std[c]
    out = gamma[None, :, None, None] * x_hat + beta[None, :, None, None]
    return out, x_hat, inv_std


def _bn2d_over(x, gamma, beta, eps, axes, ddof=0):
    """A BatchNorm over other axes (or with another variance): the wrong answers, as out."""
    mean = x.mean(axis=axes, keepdims=True)
    var = x.var(axis=axes, keepdims=True, ddof=ddof)
    return gamma[:, None, None] * (x - mean) / np.sqrt(var + eps) + beta[:, None, None]


def _image_batch(seed, shape):
    """Images whose channels have different means and spreads, with gamma, beta and grad_out."""
    g = rng(seed)
    c = shape[1]
    loc, scale = g.normal(size=c) * 3, g.uniform(0.5, 3.0, size=c)
    x = loc[:, None, None] + scale[:, None, None] * g.normal(size=shape)
    # a different level per image and per row, so that normalising over the wrong axes shows
    x = x + g.normal(size=(shape[0], 1, 1, 1)) + 0.5 * g.normal(size=(1, 1, shape[2], 1))
    return x, g.uniform(0.5, 2.0, size=c), g.normal(size=c), g.normal(size=shape)


BN_SHAPES = [(4, 3, 5, 6), (2, 5, 3, 7), (1, 2, 4, 3), (7, 1, 1, 2)]


@exercise("batchnorm2d_train")
@pytest.mark.parametrize("shape", BN_SHAPES)
def test_batchnorm2d_train_matches_channel_loops(impl, shape):
    x, gamma, beta, _ = _image_batch(0, shape)
    call = run(impl.batchnorm2d_train, x, gamma, beta, 1e-5)
    expect(
        isinstance(call.value, tuple) and len(call.value) == 3,
        f"{call}: returned {type(call.value).__name__}; expected a tuple (out, x_hat, inv_std)",
    )
    out = call.value[0]
    want_out, want_hat, want_inv = _bn2d_loops(x, gamma, beta, 1e-5)
    mistakes = {
        "average over the batch axis only (one statistic per channel and pixel)": lambda: _bn2d_over(
            x, gamma, beta, 1e-5, (0,)
        ),
        "average over H and W of each image separately (that is instance norm)": lambda: _bn2d_over(
            x, gamma, beta, 1e-5, (2, 3)
        ),
        "average over every axis at once, channels included": lambda: _bn2d_over(
            x, gamma, beta, 1e-5, (0, 1, 2, 3)
        ),
        "average over (N, C, H) instead of (N, H, W)": lambda: _bn2d_over(x, gamma, beta, 1e-5, (0, 1, 2)),
        "use the unbiased variance (divide by m - 1)": lambda: _bn2d_over(x, gamma, beta, 1e-5, (0, 2, 3), 1),
    }
    expect_close(Call(out, str(call)), want_out, rtol=1e-8, atol=1e-10, what="out", mistakes=mistakes)
    _, x_hat, inv_std = expect_parts(call, ("out", "x_hat", "inv_std"), [shape, shape, (shape[1],)])
    expect_close(Call(x_hat, str(call)), want_hat, rtol=1e-8, atol=1e-10, what="x_hat")
    expect_close(Call(inv_std, str(call)), want_inv, rtol=1e-8, what="inv_std, one per channel")


@exercise("batchnorm2d_train")
def test_batchnorm2d_train_channel_statistics_by_hand(impl):
    # eps = 0: every channel of x_hat has mean 0 and (biased) variance 1 over (N, H, W), so out
    # has mean beta_c and standard deviation gamma_c; one image of a 2-image batch is not.
    x, gamma, beta, _ = _image_batch(1, (2, 4, 3, 5))
    call = run(impl.batchnorm2d_train, x, gamma, beta, 0.0)
    out = expect_parts(call, ("out", "x_hat", "inv_std"), [x.shape, x.shape, (4,)])[0]
    expect_close(
        Call(out.mean(axis=(0, 2, 3)), str(call)), beta, atol=1e-10, what="the mean of out over (N, H, W)"
    )
    expect_close(
        Call(out.std(axis=(0, 2, 3)), str(call)), gamma, rtol=1e-10, what="the std of out over (N, H, W)"
    )


@exercise("batchnorm2d_train")
def test_batchnorm2d_train_eps_inside_the_root_and_constant_channels(impl):
    # A constant channel has variance 0: x_hat is 0 and out is beta, with no division by zero.
    x = np.zeros((3, 2, 2, 5))
    x[:, 1] = rng(2).normal(size=(3, 2, 5))
    x[:, 0] = 4.0
    gamma, beta = np.array([2.0, 0.5]), np.array([-1.0, 3.0])
    call = run(impl.batchnorm2d_train, x, gamma, beta, 0.25)
    out, x_hat, inv_std = expect_parts(call, ("out", "x_hat", "inv_std"), [x.shape, x.shape, (2,)])
    want_out, want_hat, want_inv = _bn2d_loops(x, gamma, beta, 0.25)
    expect_close(
        Call(inv_std, str(call)),
        want_inv,
        rtol=1e-10,
        what="inv_std = 1 / sqrt(var + eps) (channel 0 is constant: 1 / sqrt(0.25) = 2)",
        mistakes={"add eps after the square root": 1 / (np.sqrt(x.var(axis=(0, 2, 3))) + 0.25)},
    )
    expect_close(Call(out, str(call)), want_out, rtol=1e-10, atol=1e-12, what="out")


@exercise("batchnorm2d_train")
def test_batchnorm2d_train_keeps_float32(impl):
    x, gamma, beta, _ = _image_batch(3, (3, 2, 4, 5))
    x32, g32, b32 = x.astype(np.float32), gamma.astype(np.float32), beta.astype(np.float32)
    call = run(impl.batchnorm2d_train, x32, g32, b32, 1e-5)
    parts = expect_parts(call, ("out", "x_hat", "inv_std"), [x.shape, x.shape, (2,)])
    for name, part in zip(("out", "x_hat", "inv_std"), parts):
        expect(
            part.dtype == np.float32, f"{call}: {name} is {part.dtype}; float32 inputs give float32 results"
        )
    want = _bn2d_loops(x32.astype(np.float64), gamma, beta, 1e-5)[0]
    expect_close(Call(parts[0], str(call)), want, rtol=1e-4, atol=1e-4, what="out (float32 precision)")


# --- running statistics -----------------------------------------------------------------------


@exercise("batchnorm2d_running_stats")
@pytest.mark.parametrize("shape", [(3, 4, 2, 5), (1, 2, 3, 2), (6, 3, 1, 1)])
def test_batchnorm2d_running_stats_matches_the_formula(impl, shape):
    x = _image_batch(4, shape)[0]
    c = shape[1]
    old_mean, old_var = rng(5).normal(size=c), rng(6).uniform(0.5, 2.0, size=c)
    call = run(impl.batchnorm2d_running_stats, old_mean, old_var, x, 0.3)
    new_mean, new_var = expect_parts(call, ("new_mean", "new_var"), [(c,), (c,)])
    m = shape[0] * shape[2] * shape[3]
    means = np.array([math.fsum(x[:, j].ravel()) / m for j in range(c)])
    unbiased = np.array([math.fsum((x[:, j].ravel() - means[j]) ** 2) / (m - 1) for j in range(c)])
    expect_close(
        Call(new_mean, str(call)),
        0.7 * old_mean + 0.3 * means,
        rtol=1e-10,
        what="new_mean (momentum 0.3 is the weight of the new batch)",
        mistakes={"swap the weights of the old and new means": 0.3 * old_mean + 0.7 * means},
    )
    expect_close(
        Call(new_var, str(call)),
        0.7 * old_var + 0.3 * unbiased,
        rtol=1e-10,
        what="new_var",
        mistakes={
            "use the biased variance (divide by m, not m - 1)": 0.7 * old_var + 0.3 * unbiased * (m - 1) / m,
            "take the variance over the batch axis only, then average it": lambda: (
                0.7 * old_var + 0.3 * x.var(axis=0, ddof=1).mean(axis=(1, 2))
            ),
        },
    )


@exercise("batchnorm2d_running_stats")
def test_batchnorm2d_running_stats_by_hand(impl):
    # One channel, values 1, 2, 3, 6 in a 1 x 1 x 2 x 2 batch: mean 3, unbiased variance 14 / 3.
    x = np.array([[[[1.0, 2.0], [3.0, 6.0]]]])
    call = run(impl.batchnorm2d_running_stats, np.array([0.0]), np.array([1.0]), x, 0.1)
    new_mean, new_var = expect_parts(call, ("new_mean", "new_var"), [(1,), (1,)])
    expect_close(Call(new_mean, str(call)), [0.3], rtol=1e-12, what="new_mean = 0.9 * 0 + 0.1 * 3")
    expect_close(
        Call(new_var, str(call)),
        [0.9 + 0.1 * 14 / 3],
        rtol=1e-12,
        what="new_var = 0.9 * 1 + 0.1 * 14/3 (the unbiased variance of 1, 2, 3, 6 over all N * H * W values)",
        mistakes={"use the biased variance (divide by m, not m - 1)": [0.9 + 0.1 * 3.5]},
    )


@exercise("batchnorm2d_running_stats")
def test_batchnorm2d_running_stats_converge_to_one_batch(impl):
    x = _image_batch(7, (2, 3, 3, 4))[0]
    mean, var = np.zeros(3), np.ones(3)
    for _ in range(300):
        call = run(impl.batchnorm2d_running_stats, mean, var, x)
        mean, var = expect_parts(call, ("new_mean", "new_var"), [(3,), (3,)])
    expect_close(Call(mean, str(call)), x.mean(axis=(0, 2, 3)), rtol=1e-9, what="mean after 300 updates")
    expect_close(Call(var, str(call)), x.var(axis=(0, 2, 3), ddof=1), rtol=1e-9, what="var after 300 updates")


# --- eval mode -------------------------------------------------------------------------------


@exercise("batchnorm2d_eval")
@pytest.mark.parametrize("shape", [(1, 3, 4, 5), (5, 2, 3, 1)])
def test_batchnorm2d_eval_uses_the_running_statistics(impl, shape):
    x, gamma, beta, _ = _image_batch(8, shape)
    c = shape[1]
    r_mean, r_var = rng(9).normal(size=c) * 2, rng(10).uniform(0.2, 3.0, size=c)
    call = run(impl.batchnorm2d_eval, x, gamma, beta, r_mean, r_var, 0.1)
    want = np.zeros_like(x)
    for n, ch, i, j in np.ndindex(shape):
        want[n, ch, i, j] = gamma[ch] * (x[n, ch, i, j] - r_mean[ch]) / math.sqrt(r_var[ch] + 0.1) + beta[ch]
    expect_close(
        call,
        want,
        rtol=1e-10,
        atol=1e-12,
        mistakes={
            "normalise with the batch's own statistics": lambda: _bn2d_over(x, gamma, beta, 0.1, (0, 2, 3)),
            "add eps after the square root": lambda: (
                gamma[:, None, None] * (x - r_mean[:, None, None]) / (np.sqrt(r_var[:, None, None]) + 0.1)
                + beta[:, None, None]
            ),
        },
    )


@exercise("batchnorm2d_eval")
def test_batchnorm2d_eval_each_image_alone(impl):
    x, gamma, beta, _ = _image_batch(11, (4, 3, 2, 5))
    r_mean, r_var = np.array([1.0, -2.0, 0.5]), np.array([0.5, 2.0, 1.5])
    whole = run(impl.batchnorm2d_eval, x, gamma, beta, r_mean, r_var)
    for i in range(4):
        alone = run(impl.batchnorm2d_eval, x[i : i + 1], gamma, beta, r_mean, r_var).value
        expect_close(Call(alone, str(whole)), whole.value[i : i + 1], rtol=1e-12, what=f"image {i} alone")


@exercise("batchnorm2d_eval")
def test_batchnorm2d_eval_keeps_float32(impl):
    x, gamma, beta, _ = _image_batch(12, (2, 3, 4, 3))
    args = [a.astype(np.float32) for a in (x, gamma, beta, np.zeros(3), np.full(3, 2.0))]
    call = run(impl.batchnorm2d_eval, *args)
    expect(
        isinstance(call.value, np.ndarray) and call.value.dtype == np.float32,
        f"{call}: returned {getattr(call.value, 'dtype', type(call.value))}; float32 inputs give float32",
    )
    want = gamma[:, None, None] * x / math.sqrt(2.0 + 1e-5) + beta[:, None, None]
    expect_close(call, want, rtol=1e-5, atol=1e-5)


# --- backward --------------------------------------------------------------------------------


def _bn2d_loss(x, gamma, beta, grad_out, eps=1e-5):
    return float(np.sum(_bn2d_over(x, gamma, beta, eps, (0, 2, 3)) * grad_out))


@exercise("batchnorm2d_backward")
@pytest.mark.parametrize("shape", [(2, 3, 3, 4), (3, 2, 1, 5), (1, 4, 3, 2)])
def test_batchnorm2d_backward_matches_central_differences(impl, shape):
    x, gamma, beta, grad_out = _image_batch(13, shape)
    _, x_hat, inv_std = _bn2d_loops(x, gamma, beta, 1e-5)
    call = run(impl.batchnorm2d_backward, grad_out, x_hat, gamma, inv_std)
    c = shape[1]
    grad_x, grad_gamma, grad_beta = expect_parts(
        call, ("grad_x", "grad_gamma", "grad_beta"), [shape, (c,), (c,)]
    )

    def constants_mean_and_var():
        return gamma[:, None, None] * inv_std[:, None, None] * grad_out

    m = shape[0] * shape[2] * shape[3]
    n = shape[0]

    def with_batch_size_for_m():
        s1 = grad_out.sum(axis=(0, 2, 3))[:, None, None]
        s2 = (grad_out * x_hat).sum(axis=(0, 2, 3))[:, None, None]
        return (gamma * inv_std)[:, None, None] / n * (m * grad_out - s1 - x_hat * s2)

    expect_close(
        Call(grad_x, str(call)),
        numeric_grad(lambda v: _bn2d_loss(v, gamma, beta, grad_out), x),
        rtol=1e-5,
        atol=1e-7,
        what="grad_x",
        mistakes={
            "treat the mean and the variance as constants": constants_mean_and_var,
            "divide by the batch size N instead of m = N * H * W": with_batch_size_for_m,
        },
    )
    expect_close(
        Call(grad_gamma, str(call)),
        numeric_grad(lambda v: _bn2d_loss(x, v, beta, grad_out), gamma),
        rtol=1e-6,
        atol=1e-7,
        what="grad_gamma",
    )
    expect_close(
        Call(grad_beta, str(call)),
        numeric_grad(lambda v: _bn2d_loss(x, gamma, v, grad_out), beta),
        rtol=1e-6,
        atol=1e-7,
        what="grad_beta (a sum over N, H and W)",
        mistakes={"sum over the batch axis only": lambda: grad_out.sum(axis=0).sum(axis=(1, 2)) / m},
    )


@exercise("batchnorm2d_backward")
def test_batchnorm2d_backward_is_orthogonal_to_the_channel_statistics(impl):
    # The output ignores a shift of a channel (the mean removes it) and a scale (the variance
    # removes it, up to eps): grad_x sums to 0 over each channel and is orthogonal to x_hat there.
    x, gamma, beta, grad_out = _image_batch(14, (3, 4, 5, 2))
    _, x_hat, inv_std = _bn2d_loops(x, gamma, beta, 0.0)
    call = run(impl.batchnorm2d_backward, grad_out, x_hat, gamma, inv_std)
    grad_x = expect_parts(call, ("grad_x", "grad_gamma", "grad_beta"), [x.shape, (4,), (4,)])[0]
    expect_close(
        Call(grad_x.sum(axis=(0, 2, 3)), str(call)), np.zeros(4), atol=1e-9, what="grad_x summed per channel"
    )
    expect_close(
        Call((grad_x * x_hat).sum(axis=(0, 2, 3)), str(call)),
        np.zeros(4),
        atol=1e-9,
        what="sum of grad_x * x_hat per channel",
    )


# --- local response normalisation --------------------------------------------------------------


def _lrn_loops(x, size, alpha, beta, k, divide=True):
    """The definition, one channel window at a time with its explicit bounds."""
    n_, c_, h_, w_ = x.shape
    out = np.zeros_like(x)
    for c in range(c_):
        lo, hi = max(0, c - size // 2), min(c_ - 1, c + (size - 1) // 2)
        energy = sum(x[:, j] ** 2 for j in range(lo, hi + 1))
        s = k + (alpha / size if divide else alpha) * energy
        out[:, c] = x[:, c] / s**beta
    return out


def _lrn_mirrored_window(x, size, alpha, beta, k):
    """Window c - (size - 1) // 2 .. c + size // 2: the other way round (differs for even sizes)."""
    return np.flip(_lrn_loops(np.flip(x, axis=1), size, alpha, beta, k), axis=1)


def _lrn_mean_of_present(x, size, alpha, beta, k):
    """alpha times the mean over the channels that exist (not divided by size at the edges)."""
    out = np.zeros_like(x)
    for c in range(x.shape[1]):
        lo, hi = max(0, c - size // 2), min(x.shape[1] - 1, c + (size - 1) // 2)
        s = k + alpha * np.mean(x[:, lo : hi + 1] ** 2, axis=1)
        out[:, c] = x[:, c] / s**beta
    return out


def _lrn_spatial(x, size, alpha, beta, k):
    """The window slid along W instead of across the channels."""
    return np.swapaxes(_lrn_loops(np.swapaxes(x, 1, 3), size, alpha, beta, k), 1, 3)


def _lrn_mistakes(x, size, alpha, beta, k):
    return {
        "forget to divide alpha by size": lambda: _lrn_loops(x, size, alpha, beta, k, divide=False),
        "centre the window the other way (c - (size - 1) // 2 to c + size // 2)": lambda: (
            _lrn_mirrored_window(x, size, alpha, beta, k)
        ),
        "divide by the number of channels inside the window instead of by size": lambda: _lrn_mean_of_present(
            x, size, alpha, beta, k
        ),
        "slide the window along W instead of across channels": lambda: _lrn_spatial(x, size, alpha, beta, k),
    }


LRN_CASES = [
    ((2, 7, 3, 4), 5, 0.5, 0.75, 2.0),
    ((1, 6, 2, 3), 4, 0.9, 0.6, 1.0),
    ((3, 3, 4, 2), 3, 2.0, 1.5, 0.5),
    ((2, 8, 1, 5), 2, 1.0, 0.75, 1.0),
    ((1, 4, 3, 3), 9, 0.3, 0.75, 2.0),
]


@exercise("local_response_norm")
@pytest.mark.parametrize("shape, size, alpha, beta, k", LRN_CASES)
def test_local_response_norm_matches_window_loops(impl, shape, size, alpha, beta, k):
    # alpha is far larger than AlexNet's 1e-4 so that every term of s is visible.
    x = rng(20).normal(size=shape) * 1.5
    call = run(impl.local_response_norm, x, size, alpha, beta, k)
    expect_close(
        call,
        _lrn_loops(x, size, alpha, beta, k),
        rtol=1e-9,
        atol=1e-12,
        mistakes=_lrn_mistakes(x, size, alpha, beta, k),
    )


@exercise("local_response_norm")
def test_local_response_norm_alexnet_defaults(impl):
    # With AlexNet's constants (n=5, alpha=1e-4, beta=0.75, k=2) and inputs of size ~30 the
    # energy term matters; the defaults must be those, k = 2 included.
    x = rng(21).normal(size=(2, 6, 3, 5)) * 30
    call = run(impl.local_response_norm, x)
    expect_close(
        call,
        _lrn_loops(x, 5, 1e-4, 0.75, 2.0),
        rtol=1e-9,
        what="the defaults are size=5, alpha=1e-4, beta=0.75, k=2",
        mistakes={
            "use PyTorch's default k = 1 instead of AlexNet's k = 2": lambda: _lrn_loops(
                x, 5, 1e-4, 0.75, 1.0
            ),
            "forget to divide alpha by size": lambda: _lrn_loops(x, 5, 1e-4, 0.75, 2.0, divide=False),
        },
    )


@exercise("local_response_norm")
def test_local_response_norm_by_hand(impl):
    # One pixel, channels (1, 2, 3), size 3, alpha 3, beta 1, k 1: s = 1 + (1 + 4)... per window:
    # s_0 = 1 + (0 + 1 + 4) = 6, s_1 = 1 + (1 + 4 + 9) = 15, s_2 = 1 + (4 + 9 + 0) = 14.
    x = np.array([1.0, 2.0, 3.0]).reshape(1, 3, 1, 1)
    call = run(impl.local_response_norm, x, 3, 3.0, 1.0, 1.0)
    expect_close(call, np.array([1 / 6, 2 / 15, 3 / 14]).reshape(1, 3, 1, 1), rtol=1e-12)


# --- local response normalisation, backward ------------------------------------------------------


@exercise("local_response_norm_backward")
@pytest.mark.parametrize("shape, size, alpha, beta, k", LRN_CASES)
def test_local_response_norm_backward_matches_central_differences(impl, shape, size, alpha, beta, k):
    g = rng(22)
    x, grad_out = g.normal(size=shape) * 1.5, g.normal(size=shape)
    call = run(impl.local_response_norm_backward, grad_out, x, size, alpha, beta, k)
    s_beta = x / _lrn_loops(x, size, alpha, beta, k)  # s ** beta, where x is not 0
    expect_close(
        call,
        numeric_grad(lambda v: float(np.sum(_lrn_loops(v, size, alpha, beta, k) * grad_out)), x),
        rtol=1e-6,
        atol=1e-8,
        what="grad_x",
        mistakes={
            "keep only the direct path (treat s as a constant)": lambda: grad_out / s_beta,
        },
    )


@exercise("local_response_norm_backward")
def test_local_response_norm_backward_even_window_by_differences(impl):
    # size 4: channel j sits in the windows of c = j - 1 .. j + 2, not of c = j - 2 .. j + 1.
    g = rng(23)
    x, grad_out = g.normal(size=(2, 7, 2, 3)), g.normal(size=(2, 7, 2, 3))
    call = run(impl.local_response_norm_backward, grad_out, x, 4, 2.0, 0.75, 1.0)
    expect_close(
        call,
        numeric_grad(lambda v: float(np.sum(_lrn_loops(v, 4, 2.0, 0.75, 1.0) * grad_out)), x),
        rtol=1e-6,
        atol=1e-8,
        what="grad_x with an even window (size 4)",
        mistakes={
            "collect the window of j instead of the windows that contain j": lambda: numeric_grad(
                lambda v: float(np.sum(_lrn_mirrored_window(v, 4, 2.0, 0.75, 1.0) * grad_out)), x
            )
        },
    )


@exercise("local_response_norm_backward")
def test_local_response_norm_backward_alexnet_defaults(impl):
    g = rng(24)
    x, grad_out = g.normal(size=(1, 6, 3, 2)) * 30, g.normal(size=(1, 6, 3, 2))
    call = run(impl.local_response_norm_backward, grad_out, x)
    expect_close(
        call,
        numeric_grad(lambda v: float(np.sum(_lrn_loops(v, 5, 1e-4, 0.75, 2.0) * grad_out)), x, eps=1e-4),
        rtol=1e-6,
        atol=1e-9,
        what="grad_x with the defaults size=5, alpha=1e-4, beta=0.75, k=2",
    )


# --- random crops ------------------------------------------------------------------------------


def _locate_crops(call, x, size_h, size_w, padding):
    """For each output image, the (top, left) of the padded window it equals; fails if none."""
    out = call.value
    n, c = x.shape[:2]
    expect(
        isinstance(out, np.ndarray) and out.shape == (n, c, size_h, size_w),
        f"{call}: returned shape {getattr(out, 'shape', None)}, expected {(n, c, size_h, size_w)} "
        "(pad H and W only, then cut one size_h x size_w window per image)",
    )
    expect(out.dtype == x.dtype, f"{call}: returned {out.dtype}; keep x's dtype ({x.dtype})")
    padded = np.pad(x, ((0, 0), (0, 0), (padding, padding), (padding, padding)))
    windows = np.lib.stride_tricks.sliding_window_view(padded, (size_h, size_w), axis=(2, 3))
    found = []
    for i in range(n):
        hits = np.argwhere(np.all(windows[i] == out[i][:, None, None], axis=(0, 3, 4)))
        expect(
            len(hits) > 0,
            f"{call}: output image {i} is not a {size_h} x {size_w} window of image {i} padded by {padding} "
            "zeros on each side of H and W, cut at the same place in every channel",
        )
        found.append(tuple(int(v) for v in hits[0]))
    return found


@exercise("random_crop")
@pytest.mark.parametrize(
    "shape, size, padding", [((6, 3, 5, 7), (4, 6), 2), ((5, 2, 6, 4), 3, 1), ((4, 1, 3, 5), (3, 5), 0)]
)
def test_random_crop_cuts_windows_of_the_padded_images(impl, shape, size, padding):
    x = rng(30).normal(size=shape) + 5.0  # no pixel is 0: the padding shows
    size_h, size_w = (size, size) if isinstance(size, int) else size
    call = run(impl.random_crop, x, size, padding, rng(31))
    _locate_crops(call, x, size_h, size_w, padding)


@exercise("random_crop")
def test_random_crop_reaches_every_window_uniformly(impl):
    # 3000 images of 4 x 5, padded by 1 to 6 x 7, cut 4 x 5: 3 x 3 = 9 windows, each expected 333 times.
    n = 3000
    x = rng(32).normal(size=(n, 1, 4, 5)) + 5.0
    call = run(impl.random_crop, x, (4, 5), 1, rng(33))
    found = _locate_crops(call, x, 4, 5, 1)
    counts = np.zeros((3, 3))
    for top, left in found:
        counts[top, left] += 1
    p = 1 / 9
    se = math.sqrt(n * p * (1 - p))
    expect(
        bool(np.all(np.abs(counts - n * p) < 6 * se)),
        f"{call}: the windows (top, left) were chosen {counts.astype(int).tolist()} times out of {n}; "
        f"each of the 9 should come up {n * p:.0f} times within 6 standard errors ({6 * se:.0f}): "
        "the last top row is H + 2 * padding - size_h, included",
    )


@exercise("random_crop")
def test_random_crop_each_image_its_own_window(impl):
    n = 400
    x = rng(34).normal(size=(n, 2, 5, 5)) + 5.0
    call = run(impl.random_crop, x, 3, 2, rng(35))
    found = _locate_crops(call, x, 3, 3, 2)
    expect(
        len(set(found)) > 20,
        f"{call}: {n} images were cut at only {len(set(found))} different places; draw a window per image",
    )


@exercise("random_crop")
def test_random_crop_draws_from_the_given_generator(impl):
    x = rng(36).normal(size=(20, 2, 6, 5)) + 5.0
    first = run(impl.random_crop, x, 4, 2, rng(37))
    again = run(impl.random_crop, x, 4, 2, rng(37))
    expect_equal(again, first.value, what="the same seed must give the same crops")
    g = rng(38)
    a, b = run(impl.random_crop, x, 4, 2, g).value, run(impl.random_crop, x, 4, 2, g).value
    expect(
        not np.array_equal(a, b),
        "random_crop(x, 4, 2, g) twice on one generator gave the same crops: draw from g itself",
    )


@exercise("random_crop")
def test_random_crop_keeps_float32(impl):
    x = (rng(39).normal(size=(5, 3, 4, 6)) + 5.0).astype(np.float32)
    _locate_crops(run(impl.random_crop, x, (3, 4), 1, rng(40)), x, 3, 4, 1)


# --- random flips ------------------------------------------------------------------------------


def _flip_decisions(call, x):
    """For each output image, whether it is x[i] (False) or x[i] mirrored along W (True)."""
    out = call.value
    expect(
        isinstance(out, np.ndarray) and out.shape == x.shape,
        f"{call}: returned shape {getattr(out, 'shape', None)}, expected {x.shape}",
    )
    decisions = []
    for i in range(x.shape[0]):
        same, mirrored = np.array_equal(out[i], x[i]), np.array_equal(out[i], x[i, :, :, ::-1])
        if not (same or mirrored):
            hint = ""
            if np.array_equal(out[i], x[i, :, ::-1, :]):
                hint = " (it is upside down: flipped along H; a horizontal flip reverses W, the last axis)"
            elif any(np.array_equal(out[i, c], x[i, c, :, ::-1]) for c in range(x.shape[1])):
                hint = " (some channels are mirrored and others not: flip the whole image)"
            expect(False, f"{call}: output image {i} is neither image {i} nor its left-right mirror{hint}")
        decisions.append(mirrored)
    return np.array(decisions)


@exercise("random_flip")
@pytest.mark.parametrize("p", [0.5, 0.2])
def test_random_flip_mirrors_a_fraction_p(impl, p):
    n = 4000
    x = rng(41).normal(size=(n, 2, 3, 4))
    call = run(impl.random_flip, x, rng(42), p)
    flipped = _flip_decisions(call, x)
    se = math.sqrt(p * (1 - p) / n)
    rate = float(flipped.mean())
    expect(
        abs(rate - p) < 6 * se,
        f"{call}: {rate:.3f} of the images were mirrored, expected {p} within 6 standard errors "
        f"({6 * se:.3f}); p is the probability of flipping an image",
    )


@exercise("random_flip")
def test_random_flip_every_image_or_none(impl):
    x = rng(43).normal(size=(6, 3, 4, 5))
    none = run(impl.random_flip, x, rng(44), 0.0)
    expect_equal(none, x, what="p = 0 flips nothing")
    every = run(impl.random_flip, x, rng(45), 1.0)
    expect_equal(
        every,
        x[:, :, :, ::-1],
        what="p = 1 mirrors every image along W",
        mistakes={
            "flip along H (upside down) instead of W": x[:, :, ::-1, :],
            "flip the batch order": x[::-1],
        },
    )


@exercise("random_flip")
def test_random_flip_decides_per_image_from_the_given_generator(impl):
    x = rng(46).normal(size=(60, 2, 3, 5))
    first = run(impl.random_flip, x, rng(47))
    flipped = _flip_decisions(first, x)
    expect(
        0 < flipped.sum() < 60,
        f"{first}: {int(flipped.sum())} of 60 images were mirrored; decide for each image separately",
    )
    again = run(impl.random_flip, x, rng(47))
    expect_equal(again, first.value, what="the same seed must give the same flips")
    g = rng(48)
    a, b = run(impl.random_flip, x, g).value, run(impl.random_flip, x, g).value
    expect(
        not np.array_equal(a, b), "random_flip(x, g) twice on one generator gave the same flips: draw from g"
    )


@exercise("random_crop")
def test_random_crop_of_the_whole_padded_image(impl):
    # A crop as large as the padded image has one place to go: the result is the padded image,
    # with zeros (not copies of the edge) in the border.
    x = rng(49).normal(size=(3, 2, 4, 5)) + 5.0
    call = run(impl.random_crop, x, (8, 9), 2, rng(50))
    expect_equal(
        call,
        np.pad(x, ((0, 0), (0, 0), (2, 2), (2, 2))),
        what="a crop of the full padded size: x with 2 zero rows and columns on each side",
        mistakes={
            "pad with copies of the edge pixels instead of zeros": np.pad(
                x, ((0, 0), (0, 0), (2, 2), (2, 2)), mode="edge"
            ),
            "pad by reflecting the image instead of with zeros": np.pad(
                x, ((0, 0), (0, 0), (2, 2), (2, 2)), mode="reflect"
            ),
        },
    )
