# %% [markdown]
# # Chapter 3, part 4: BatchNorm2d, local response normalisation, and data augmentation
#
# Reading: chapters/chapter3_cnns/part4_norm_augment.md
#
# Fill in each function, then run the cell below it: `check(fn)` runs that exercise's
# tests here and prints a verdict. `python -m grader chapter3/part4` grades the file.
#
# Conventions: images are batches in NCHW layout, x of shape (N, C, H, W); one statistic,
# scale or shift per channel has shape (C,). A forward function returns what its backward
# needs (a cache) and the backward takes the upstream gradient `dout` first. No
# function changes its inputs; random choices are drawn from the `rng` passed in, never
# from np.random's global state.
#
# Precision the tests ask for: float64 results within a relative 1e-8 of loops over the
# definitions, float32 results within 1e-4, and gradients within a relative 1e-5 (1e-6 for
# local response normalisation) of central differences.

# %%
import numpy as np
from jaxtyping import Float

from grader.check import check

MAIN = __name__ == "__main__"


# %% [markdown]
# ## BatchNorm2d: one mean and one variance per channel


# %%
def batchnorm2d_train(
    x: Float[np.ndarray, "n c h w"],
    gamma: Float[np.ndarray, " c"],
    beta: Float[np.ndarray, " c"],
    eps: float = 1e-5,
) -> tuple[Float[np.ndarray, "n c h w"], Float[np.ndarray, "n c h w"], Float[np.ndarray, " c"]]:
    """BatchNorm2d in training mode: normalise each channel over the batch AND the image.

    For channel c the statistics run over the m = N * H * W values x[:, c, :, :]:
        mean_c = mean of x[:, c],   var_c = mean of (x[:, c] - mean_c)^2   (BIASED: divide by m)
        x_hat[:, c] = (x[:, c] - mean_c) / sqrt(var_c + eps)
        out[:, c] = gamma_c * x_hat[:, c] + beta_c

    x, gamma and beta share one dtype, float64 or float32; every result has that dtype.
    Returns (out, x_hat, inv_std), inv_std = 1 / sqrt(var + eps) of shape (C,): what
    batchnorm2d_backward needs.
    """
    raise NotImplementedError("batchnorm2d_train")


if MAIN:
    check(batchnorm2d_train)


# %%
def batchnorm2d_running_stats(
    running_mean: Float[np.ndarray, " c"],
    running_var: Float[np.ndarray, " c"],
    x: Float[np.ndarray, "n c h w"],
    momentum: float = 0.1,
) -> tuple[Float[np.ndarray, " c"], Float[np.ndarray, " c"]]:
    """The running statistics after one training batch x, as torch.nn.BatchNorm2d keeps them:

        new_mean = (1 - momentum) * running_mean + momentum * batch_mean
        new_var  = (1 - momentum) * running_var  + momentum * batch_var_unbiased

    The batch statistics of channel c are over its m = N * H * W values, and the variance
    here is the UNBIASED one (divide by m - 1), unlike the biased one batchnorm2d_train
    normalises with. m is at least 2. momentum is the weight of the NEW batch.
    Returns (new_mean, new_var) as new arrays; running_mean and running_var are unchanged.
    """
    raise NotImplementedError("batchnorm2d_running_stats")


if MAIN:
    check(batchnorm2d_running_stats)


# %%
def batchnorm2d_eval(
    x: Float[np.ndarray, "n c h w"],
    gamma: Float[np.ndarray, " c"],
    beta: Float[np.ndarray, " c"],
    running_mean: Float[np.ndarray, " c"],
    running_var: Float[np.ndarray, " c"],
    eps: float = 1e-5,
) -> Float[np.ndarray, "n c h w"]:
    """BatchNorm2d in evaluation mode: normalise with the running statistics.

        out[:, c] = gamma_c * (x[:, c] - running_mean_c) / sqrt(running_var_c + eps) + beta_c

    Each example's output depends on that example alone. Keeps x's dtype, as
    batchnorm2d_train does, when every argument has it.
    """
    raise NotImplementedError("batchnorm2d_eval")


if MAIN:
    check(batchnorm2d_eval)


# %%
def batchnorm2d_backward(
    dout: Float[np.ndarray, "n c h w"],
    x_hat: Float[np.ndarray, "n c h w"],
    gamma: Float[np.ndarray, " c"],
    inv_std: Float[np.ndarray, " c"],
) -> tuple[Float[np.ndarray, "n c h w"], Float[np.ndarray, " c"], Float[np.ndarray, " c"]]:
    """Gradients through out = batchnorm2d_train(x, gamma, beta, eps)[0].

    dout: dL/dout, the upstream gradient. x_hat, inv_std: the cache batchnorm2d_train returned.
    Returns (grad_x, grad_gamma, grad_beta). With m = N * H * W and every sum over the
    axes (0, 2, 3) of one channel, chapter 2's formula with m in place of the batch size:
        grad_x = gamma * inv_std / m * (m * dout - sum(dout) - x_hat * sum(dout * x_hat))
        grad_gamma = sum(dout * x_hat),   grad_beta = sum(dout).
    """
    raise NotImplementedError("batchnorm2d_backward")


if MAIN:
    check(batchnorm2d_backward)


# %% [markdown]
# ## AlexNet's local response normalisation


# %%
def local_response_norm(
    x: Float[np.ndarray, "n c h w"],
    size: int = 5,
    alpha: float = 1e-4,
    beta: float = 0.75,
    k: float = 2.0,
) -> Float[np.ndarray, "n c h w"]:
    """Local response normalisation across channels (AlexNet, section 3.3), as PyTorch defines it.

    Each value is divided by a power of the energy of `size` neighbouring CHANNELS at the
    same pixel:
        s[:, c] = k + (alpha / size) * sum over c' from c - size // 2 to c + (size - 1) // 2 of x[:, c']^2
        out[:, c] = x[:, c] / s[:, c] ** beta
    Channels outside 0..C-1 count as zeros, and alpha is divided by `size` even where
    the window sticks out (torch.nn.LocalResponseNorm does this; the AlexNet paper writes
    alpha without the division). The defaults are AlexNet's n = 5, alpha = 1e-4,
    beta = 0.75, k = 2 (PyTorch's default k is 1).
    """
    raise NotImplementedError("local_response_norm")


if MAIN:
    check(local_response_norm)


# %%
def local_response_norm_backward(
    dout: Float[np.ndarray, "n c h w"],
    x: Float[np.ndarray, "n c h w"],
    size: int = 5,
    alpha: float = 1e-4,
    beta: float = 0.75,
    k: float = 2.0,
) -> Float[np.ndarray, "n c h w"]:
    """dL/dx through out = local_response_norm(x, size, alpha, beta, k), given dout = dL/dout.

    x[:, j] reaches out[:, j] directly, and every out[:, c] whose window contains channel j
    through s[:, c]. With s as in local_response_norm,
        grad_x[:, j] = dout[:, j] * s[:, j]^(-beta)
                       - 2 * beta * (alpha / size) * x[:, j] * sum over the c whose window holds j
                         of dout[:, c] * x[:, c] * s[:, c]^(-beta - 1)
    The window of c runs from c - size // 2 to c + (size - 1) // 2, so j is in the window of
    the c from j - (size - 1) // 2 to j + size // 2: the same set only when size is odd.
    """
    raise NotImplementedError("local_response_norm_backward")


if MAIN:
    check(local_response_norm_backward)


# %% [markdown]
# ## Data augmentation: random crops and horizontal flips


# %%
def random_crop(
    x: Float[np.ndarray, "n c h w"],
    size: int | tuple[int, int],
    padding: int,
    rng: np.random.Generator,
) -> Float[np.ndarray, "n c _size_h _size_w"]:
    """Cut a random window of `size` out of each image, after padding it with zeros.

    size: (height, width) of the crops, or one int for both.
    padding: zero rows and columns added on EACH side of H and W first (only those axes),
        so the padded images are (H + 2 * padding) x (W + 2 * padding).
    Each example gets its own window, chosen uniformly among all the windows that fit in
    its padded image (every top row from 0 to H + 2 * padding - size_h inclusive, likewise
    the left column), independently of the other examples; all the channels of one image
    are cut at the same place. Draws from `rng` only. Returns a new array of x's dtype.
    """
    raise NotImplementedError("random_crop")


if MAIN:
    check(random_crop)


# %%
def random_flip(
    x: Float[np.ndarray, "n c h w"],
    rng: np.random.Generator,
    p: float = 0.5,
) -> Float[np.ndarray, "n c h w"]:
    """Mirror each image left to right with probability p, independently of the others.

    A flipped image has its columns (the W axis) in reverse order, in every channel; an
    unflipped one is unchanged. Draws from `rng` only. Returns a new array.
    """
    raise NotImplementedError("random_flip")


if MAIN:
    check(random_flip)


# %% [markdown]
# ## Seen once: a batch augmented, and BatchNorm2d's two modes

# %%
if MAIN:
    demo = np.arange(2 * 1 * 4 * 5, dtype=float).reshape(2, 1, 4, 5)
    g = np.random.default_rng(0)
    print("a 4x5 image, then a random 4x5 crop of it padded by 1, then flipped at random:")
    print(demo[0, 0])
    crops = random_crop(demo, (4, 5), 1, g)
    print(crops[0, 0])
    print(random_flip(crops, g)[0, 0])
    batch = g.normal(loc=3.0, scale=2.0, size=(16, 3, 5, 6))
    out, _, _ = batchnorm2d_train(batch, np.ones(3), np.zeros(3))
    print(
        "train-mode output per channel: mean",
        out.mean(axis=(0, 2, 3)).round(6),
        "std",
        out.std(axis=(0, 2, 3)).round(4),
    )
