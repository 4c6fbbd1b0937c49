# %% [markdown]
# # Chapter 2, part 3: dropout and normalisation layers
#
# Reading: chapters/chapter2_neural_networks/part3_normalization.md
#
# Fill in each function, then run the cell below it: `check(fn)` runs that exercise's
# tests here and prints a verdict. `python -m grader chapter2/part3` grades the file.
#
# Conventions: float64 arrays, the batch on the leading axis, features last. A layer is a
# forward function that also returns what its backward pass needs (a "cache"), and a
# `_backward` function that takes that cache and `grad_out` (dL/d output) last, and
# returns the gradients in the order of the forward's arguments. No function changes its
# inputs: each returns new arrays. float32 inputs give float32 results (every returned
# array keeps the inputs' float dtype). Variances are means of squared deviations from
# the mean, as written: mean(x**2) - mean(x)**2 loses every digit for features far from 0
# (the tests use features near 1e5 with a spread of about 1). Precision: forward passes
# to a relative 1e-9 (1e-8 near 1e5), gradients to 1e-6 against central differences.

# %%
import numpy as np
from jaxtyping import Float

from grader.check import check

MAIN = __name__ == "__main__"


# %% [markdown]
# ## Inverted dropout


# %%
def dropout(
    x: Float[np.ndarray, "*shape"],
    p: float,
    rng: np.random.Generator,
    train: bool = True,
) -> tuple[Float[np.ndarray, "*shape"], Float[np.ndarray, "*shape"]]:
    """Inverted dropout: drop each entry of x with probability p, scale the survivors.

    x: any array; every entry is dropped or kept independently of all the others.
    p: the probability of DROPPING an entry, 0 <= p < 1 (PyTorch's meaning of p).
    rng: the generator to draw the random choices from (never np.random's global state).
    train: in training mode entries are dropped; in evaluation mode (train=False) the
        layer is the identity.

    Returns (out, mask), both of x's shape and dtype, with out = x * mask, where mask is
    the multiplier applied to each entry: 0 where the entry was dropped and 1 / (1 - p)
    where it was kept (each entry kept with probability 1 - p), so E[out] = x. In
    evaluation mode, or when p = 0, mask is all ones and out equals x (a new array, not
    x itself). Each call draws new random numbers from rng, so two calls on the same
    generator drop different entries.
    """
    raise NotImplementedError("dropout")


if MAIN:
    check(dropout)


# %%
def dropout_backward(
    mask: Float[np.ndarray, "*shape"],
    grad_out: Float[np.ndarray, "*shape"],
) -> Float[np.ndarray, "*shape"]:
    """dL/dx through (out, mask) = dropout(x, p, rng, train), given the mask it returned.

    mask: the multiplier the forward pass applied (0 or 1 / (1 - p); ones in eval mode).
    grad_out: dL/dout.
    Returns a new array (with an all-ones mask too, never grad_out itself).
    """
    raise NotImplementedError("dropout_backward")


if MAIN:
    check(dropout_backward)


# %% [markdown]
# ## Batch normalisation


# %%
def batchnorm_train(
    x: Float[np.ndarray, "batch features"],
    gamma: Float[np.ndarray, " features"],
    beta: Float[np.ndarray, " features"],
    eps: float = 1e-5,
) -> tuple[
    Float[np.ndarray, "batch features"],
    Float[np.ndarray, "batch features"],
    Float[np.ndarray, " features"],
]:
    """BatchNorm in training mode: normalise each feature over the batch, then scale and shift.

    For each feature j, with the statistics of column j of x over the batch,
        mean_j = mean_i x[i, j],   var_j = mean_i (x[i, j] - mean_j)^2   (BIASED: divide by batch)
        x_hat[i, j] = (x[i, j] - mean_j) / sqrt(var_j + eps)
        out[i, j] = gamma_j * x_hat[i, j] + beta_j

    Returns (out, x_hat, inv_std) with inv_std = 1 / sqrt(var + eps), shape (features,):
    x_hat and inv_std are what batchnorm_backward needs. (The running statistics are
    updated separately, by update_running_stats.)
    """
    raise NotImplementedError("batchnorm_train")


if MAIN:
    check(batchnorm_train)


# %%
def batchnorm_eval(
    x: Float[np.ndarray, "batch features"],
    gamma: Float[np.ndarray, " features"],
    beta: Float[np.ndarray, " features"],
    running_mean: Float[np.ndarray, " features"],
    running_var: Float[np.ndarray, " features"],
    eps: float = 1e-5,
) -> Float[np.ndarray, "batch features"]:
    """BatchNorm in evaluation mode: normalise with the running statistics, not the batch's.

        out[i, j] = gamma_j * (x[i, j] - running_mean_j) / sqrt(running_var_j + eps) + beta_j

    Each example's output depends on that example alone, whatever else is in the batch.
    """
    raise NotImplementedError("batchnorm_eval")


if MAIN:
    check(batchnorm_eval)


# %%
def update_running_stats(
    running_mean: Float[np.ndarray, " features"],
    running_var: Float[np.ndarray, " features"],
    x: Float[np.ndarray, "batch features"],
    momentum: float = 0.1,
) -> tuple[Float[np.ndarray, " features"], Float[np.ndarray, " features"]]:
    """The running statistics after one training batch x, by PyTorch's convention:

        new_mean = (1 - momentum) * running_mean + momentum * batch_mean
        new_var  = (1 - momentum) * running_var  + momentum * batch_var_unbiased

    batch_mean and batch_var_unbiased are the statistics of each feature (column) of x
    over the batch; the variance here is the UNBIASED one (divide by batch - 1), unlike
    the biased one batchnorm_train normalises with. x has at least 2 rows. momentum is
    the weight of the NEW batch (0.1 by default, as in torch.nn.BatchNorm1d).

    Returns (new_mean, new_var) as new arrays; running_mean and running_var are unchanged.
    """
    raise NotImplementedError("update_running_stats")


if MAIN:
    check(update_running_stats)


# %%
def batchnorm_backward(
    x_hat: Float[np.ndarray, "batch features"],
    gamma: Float[np.ndarray, " features"],
    inv_std: Float[np.ndarray, " features"],
    grad_out: Float[np.ndarray, "batch features"],
) -> tuple[
    Float[np.ndarray, "batch features"],
    Float[np.ndarray, " features"],
    Float[np.ndarray, " features"],
]:
    """Gradients through out = batchnorm_train(x, gamma, beta, eps)[0], in training mode.

    x_hat, inv_std: the cache batchnorm_train returned.
    grad_out: dL/dout, shape (batch, features).

    Returns (grad_x, grad_gamma, grad_beta). The batch mean and variance depend on every
    x[i, j] of the column, so grad_x includes the paths through them. With N = batch and
    sums over the batch axis,
        grad_x = gamma * inv_std / N * (N * grad_out - sum(grad_out) - x_hat * sum(grad_out * x_hat))
        grad_gamma = sum(grad_out * x_hat),   grad_beta = sum(grad_out).
    """
    raise NotImplementedError("batchnorm_backward")


if MAIN:
    check(batchnorm_backward)


# %% [markdown]
# ## Layer normalisation and RMS normalisation


# %%
def layernorm(
    x: Float[np.ndarray, "*batch features"],
    gamma: Float[np.ndarray, " features"],
    beta: Float[np.ndarray, " features"],
    eps: float = 1e-5,
) -> tuple[
    Float[np.ndarray, "*batch features"],
    Float[np.ndarray, "*batch features"],
    Float[np.ndarray, "*batch 1"],
]:
    """LayerNorm: normalise each example over its features (the LAST axis), scale and shift.

    For each row x_r = x[..., :] (every leading index is a separate example),
        mean_r = mean of x_r,   var_r = mean of (x_r - mean_r)^2   (biased)
        x_hat_r = (x_r - mean_r) / sqrt(var_r + eps),   out_r = gamma * x_hat_r + beta

    The same in training and evaluation: no running statistics.
    Returns (out, x_hat, inv_std) with inv_std = 1 / sqrt(var + eps) of shape (*batch, 1)
    (the reduced axis kept, so that it broadcasts against x): what layernorm_backward needs.
    """
    raise NotImplementedError("layernorm")


if MAIN:
    check(layernorm)


# %%
def layernorm_backward(
    x_hat: Float[np.ndarray, "*batch features"],
    gamma: Float[np.ndarray, " features"],
    inv_std: Float[np.ndarray, "*batch 1"],
    grad_out: Float[np.ndarray, "*batch features"],
) -> tuple[
    Float[np.ndarray, "*batch features"],
    Float[np.ndarray, " features"],
    Float[np.ndarray, " features"],
]:
    """Gradients through out = layernorm(x, gamma, beta, eps)[0].

    x_hat, inv_std: the cache layernorm returned. grad_out: dL/dout, x's shape.
    Returns (grad_x, grad_gamma, grad_beta); gamma and beta are shared by every example,
    so their gradients are summed over all the leading axes. With D = features, sums over
    the last axis and g = grad_out * gamma (the gradient with respect to x_hat),
        grad_x = inv_std / D * (D * g - sum(g) - x_hat * sum(g * x_hat)).
    """
    raise NotImplementedError("layernorm_backward")


if MAIN:
    check(layernorm_backward)


# %%
def rmsnorm(
    x: Float[np.ndarray, "*batch features"],
    gain: Float[np.ndarray, " features"],
    eps: float = 1e-6,
) -> tuple[
    Float[np.ndarray, "*batch features"],
    Float[np.ndarray, "*batch features"],
    Float[np.ndarray, "*batch 1"],
]:
    """RMSNorm (Zhang & Sennrich 2019; LLaMA): rescale each example by its root mean square.

    Over the last axis, with NO mean subtracted and NO bias,
        inv_rms = 1 / sqrt(mean(x^2) + eps)     (eps INSIDE the square root, as in LLaMA)
        x_hat = x * inv_rms,   out = gain * x_hat

    Returns (out, x_hat, inv_rms), inv_rms of shape (*batch, 1): what rmsnorm_backward needs.
    """
    raise NotImplementedError("rmsnorm")


if MAIN:
    check(rmsnorm)


# %%
def rmsnorm_backward(
    x_hat: Float[np.ndarray, "*batch features"],
    gain: Float[np.ndarray, " features"],
    inv_rms: Float[np.ndarray, "*batch 1"],
    grad_out: Float[np.ndarray, "*batch features"],
) -> tuple[Float[np.ndarray, "*batch features"], Float[np.ndarray, " features"]]:
    """Gradients through out = rmsnorm(x, gain, eps)[0].

    x_hat, inv_rms: the cache rmsnorm returned. grad_out: dL/dout, x's shape.
    Returns (grad_x, grad_gain), grad_gain summed over all the leading axes. With
    g = grad_out * gain and means over the last axis,
        grad_x = inv_rms * (g - x_hat * mean(g * x_hat)).
    """
    raise NotImplementedError("rmsnorm_backward")


if MAIN:
    check(rmsnorm_backward)


# %% [markdown]
# ## Train versus eval, seen once
#
# The running statistics are an average over past batches; after enough batches they
# stand in for the batch statistics, so a network normalises a single example at test
# time as it normalised whole batches in training.

# %%
if MAIN:
    demo_rng = np.random.default_rng(0)
    features = 3
    true_mean, true_std = np.array([5.0, -2.0, 0.0]), np.array([2.0, 0.5, 1.0])
    mean_run, var_run = np.zeros(features), np.ones(features)  # PyTorch's initial values
    for _ in range(200):
        batch = true_mean + true_std * demo_rng.normal(size=(32, features))
        mean_run, var_run = update_running_stats(mean_run, var_run, batch)
    print("running mean", mean_run.round(2), "(true", true_mean, ")")
    print("running std ", np.sqrt(var_run).round(2), "(true", true_std, ")")
    one = true_mean + true_std * demo_rng.normal(size=(1, features))
    ones_, zeros_ = np.ones(features), np.zeros(features)
    print("eval, one example: ", batchnorm_eval(one, ones_, zeros_, mean_run, var_run).round(3))
    print("train, one example:", batchnorm_train(one, ones_, zeros_)[0].round(3), "(all zero)")
