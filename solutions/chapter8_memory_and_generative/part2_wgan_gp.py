# %% [markdown]
# # Chapter 8, part 2: a Wasserstein GAN with a gradient penalty on eight Gaussians
#
# Reading: chapters/chapter8_memory_and_generative/part2_wgan_gp.md
#
# Fill in each function, then run the cell below it: `check(fn)` runs that exercise's
# tests here and prints a verdict. `python -m grader chapter8/part2` grades the file.
#
# Gulrajani et al.'s WGAN-GP ("Improved Training of Wasserstein GANs", 2017) on a 2-D toy
# distribution, eight Gaussians on a ring:
#
#     z ~ N(0, I) --generator G--> fake points x~        real points x (the ring)
#     critic D: R^2 -> R, trained to make mean D(x~) - mean D(x) small, with the penalty
#     lam * mean (||grad_x^ D(x^)|| - 1)^2 at x^ = eps x + (1 - eps) x~  (eps ~ U(0, 1))
#
# Both networks are the same two-hidden-layer tanh MLP (tanh, so that D's input gradient
# is smooth and the penalty can be differentiated again):
#
#     h1 = tanh(x @ W1 + b1)    h2 = tanh(h1 @ W2 + b2)    out = h2 @ W3 + b3
#
# Conventions: batch first, float64. Parameters are dicts of arrays with the keys W1, b1,
# W2, b2, W3, b3 (W (d_in, d_out)); every backward returns its gradients in a dict with
# the same keys. Every forward returns (out, cache). Randomness only from the `rng`
# passed in. No function changes its inputs.
# The tests compare results to 1e-6 relative (1e-9 absolute) and gradients with central
# differences to 1e-5 relative (1e-8 absolute).

# %%
import math
import time

import numpy as np
from jaxtyping import Float

from coursedata import scatter_chart
from grader.check import check

MAIN = __name__ == "__main__"

Params = dict  # of name -> np.ndarray (annotated as a plain dict: checked once, not entry by entry)


# %% [markdown]
# ## Given: the data, initialisation and Adam


# %%
def sample_ring(
    n: int, rng: np.random.Generator, modes: int = 8, radius: float = 2.0, std: float = 0.05
) -> Float[np.ndarray, "n 2"]:
    """n points of the mixture of `modes` Gaussians (standard deviation std) whose centres are
    equally spaced on the circle of the given radius, starting at (radius, 0). The modes
    are drawn with rng.integers, then the noise with rng.normal."""
    k = rng.integers(0, modes, size=n)
    angle = 2 * math.pi * k / modes
    centres = radius * np.stack([np.cos(angle), np.sin(angle)], axis=1)
    return centres + std * rng.normal(size=(n, 2))


def init_mlp(d_in: int, hidden: int, d_out: int, rng: np.random.Generator) -> Params:
    """A two-hidden-layer MLP's parameters: W ~ N(0, 1/d_in) of each layer, biases zero."""
    sizes = [(d_in, hidden), (hidden, hidden), (hidden, d_out)]
    params = {}
    for k, (a, b) in enumerate(sizes, start=1):
        params[f"W{k}"] = rng.normal(0.0, 1.0 / math.sqrt(a), size=(a, b))
        params[f"b{k}"] = np.zeros(b)
    return params


def adam_step(
    params: Params, grads: Params, state: dict | None, lr: float, betas: tuple[float, float] = (0.5, 0.9)
) -> tuple[Params, dict]:
    """One Adam step (eps 1e-8, bias-corrected) on every parameter; state is None before the
    first step. WGAN-GP's betas (0.5, 0.9) by default. Returns new arrays: params is not
    changed."""
    b1, b2 = betas
    if state is None:
        state = {"t": 0, "m": {k: np.zeros_like(v) for k, v in params.items()}}
        state["v"] = {k: np.zeros_like(v) for k, v in params.items()}
    t = state["t"] + 1
    m = {k: b1 * state["m"][k] + (1 - b1) * grads[k] for k in params}
    v = {k: b2 * state["v"][k] + (1 - b2) * grads[k] ** 2 for k in params}
    new = {k: params[k] - lr * (m[k] / (1 - b1**t)) / (np.sqrt(v[k] / (1 - b2**t)) + 1e-8) for k in params}
    return new, {"t": t, "m": m, "v": v}


# %% [markdown]
# ## The MLP: forward and backward


# %%
def mlp_forward(
    params: Params, x: Float[np.ndarray, "batch d_in"]
) -> tuple[Float[np.ndarray, "batch d_out"], tuple]:
    """h1 = tanh(x @ W1 + b1), h2 = tanh(h1 @ W2 + b2), out = h2 @ W3 + b3.

    Returns (out, cache); the cache holds what mlp_backward and gradient_penalty need
    (at least params, x, h1 and h2)."""
    # BEGIN SOLUTION
    h1 = np.tanh(x @ params["W1"] + params["b1"])
    h2 = np.tanh(h1 @ params["W2"] + params["b2"])
    return h2 @ params["W3"] + params["b3"], (params, x, h1, h2)
    # END SOLUTION


if MAIN:
    check(mlp_forward)


# %%
def mlp_backward(
    dout: Float[np.ndarray, "batch d_out"], cache: tuple
) -> tuple[Float[np.ndarray, "batch d_in"], Params]:
    """The backward pass of mlp_forward: given dL/dout, returns (dL/dx, grads) with grads a
    dict of dL/dW1 ... dL/db3 (the keys and shapes of params). tanh' = 1 - tanh^2."""
    # BEGIN SOLUTION
    params, x, h1, h2 = cache
    da2 = (dout @ params["W3"].T) * (1 - h2**2)
    da1 = (da2 @ params["W2"].T) * (1 - h1**2)
    grads = {
        "W3": h2.T @ dout,
        "b3": dout.sum(axis=0),
        "W2": h1.T @ da2,
        "b2": da2.sum(axis=0),
        "W1": x.T @ da1,
        "b1": da1.sum(axis=0),
    }
    return da1 @ params["W1"].T, grads
    # END SOLUTION


if MAIN:
    check(mlp_backward)


# %% [markdown]
# ## Measuring how far apart two samples are


# %%
def energy_distance(x: Float[np.ndarray, "n d"], y: Float[np.ndarray, "m d"]) -> float:
    """The energy distance between the samples x and y (V-statistic: every pair, i = j included):

        2 mean_{i,j} ||x_i - y_j|| - mean_{i,j} ||x_i - x_j|| - mean_{i,j} ||y_i - y_j||

    ||.|| the Euclidean norm. Returns a Python float (>= 0)."""

    # BEGIN SOLUTION
    def mean_dist(a: np.ndarray, b: np.ndarray) -> float:
        return float(np.sqrt(((a[:, None, :] - b[None, :, :]) ** 2).sum(axis=-1)).mean())

    return 2 * mean_dist(x, y) - mean_dist(x, x) - mean_dist(y, y)
    # END SOLUTION


if MAIN:
    check(energy_distance)


# %% [markdown]
# ## The gradient penalty


# %%
def interpolate(
    real: Float[np.ndarray, "batch d"], fake: Float[np.ndarray, "batch d"], rng: np.random.Generator
) -> Float[np.ndarray, "batch d"]:
    """x^ = eps * real + (1 - eps) * fake, one eps per row: eps = rng.random((batch, 1))
    (one call, nothing else drawn)."""
    # BEGIN SOLUTION
    eps = rng.random((real.shape[0], 1))
    return eps * real + (1 - eps) * fake
    # END SOLUTION


if MAIN:
    check(interpolate)


# %%
def gradient_penalty(critic: Params, x_hat: Float[np.ndarray, "batch d"], lam: float) -> tuple[float, tuple]:
    """P = lam * mean_n (||g_n|| - 1)^2, where g_n = dD(x^_n)/dx^_n is the gradient of the
    critic's (scalar) output at row n with respect to that row, and ||.|| is the Euclidean
    norm (no epsilon: the tests never have g_n = 0).

    The critic is mlp_forward with d_out = 1. Returns (P as a Python float, cache for
    gradient_penalty_backward)."""
    # BEGIN SOLUTION
    out, mlp_cache = mlp_forward(critic, x_hat)
    g, _ = mlp_backward(np.ones_like(out), mlp_cache)  # row n: dD(x^_n)/dx^_n
    norm = np.sqrt((g**2).sum(axis=1))
    return lam * float(((norm - 1) ** 2).mean()), (mlp_cache, g, norm, lam)
    # END SOLUTION


if MAIN:
    check(gradient_penalty)


# %%
def gradient_penalty_backward(cache: tuple) -> Params:
    """dP/dtheta for every critic parameter theta (a dict with the critic's keys and shapes),
    x^ held fixed: the derivative of a quantity that is itself a derivative, written out.

    With s1 = 1 - h1^2, s2 = 1 - h2^2 the input gradient of gradient_penalty is
        u2 = s2 * W3^T,   u1 = s1 * (u2 @ W2^T),   g = u1 @ W1^T
    and dP/dg_n = (2 lam / N) (||g_n|| - 1) g_n / ||g_n||. Back through those three lines,
    then through h2 and h1 (which depend on W1, b1, W2, b2) to the parameters. dP/db3 = 0."""
    # BEGIN SOLUTION
    (params, x, h1, h2), g, norm, lam = cache
    N = x.shape[0]
    s1, s2 = 1 - h1**2, 1 - h2**2
    u2 = s2 * params["W3"].T  # (N, H2)
    v1 = u2 @ params["W2"].T  # (N, H1)
    u1 = s1 * v1
    dg = (2 * lam / N) * ((norm - 1) / norm)[:, None] * g  # (N, d)
    # g = u1 @ W1^T
    dW1 = dg.T @ u1
    du1 = dg @ params["W1"]
    # u1 = s1 * v1
    ds1 = du1 * v1
    dv1 = du1 * s1
    # v1 = u2 @ W2^T
    dW2 = dv1.T @ u2
    du2 = dv1 @ params["W2"]
    # u2 = s2 * W3^T
    ds2 = du2 * params["W3"].T
    dW3 = (du2 * s2).sum(axis=0)[:, None]
    # s = 1 - h^2, h = tanh(a): da = ds * (-2 h) * (1 - h^2)
    da2 = ds2 * (-2 * h2) * s2
    dW2 += h1.T @ da2
    db2 = da2.sum(axis=0)
    da1 = (ds1 * (-2 * h1) + da2 @ params["W2"].T) * s1
    dW1 += x.T @ da1
    db1 = da1.sum(axis=0)
    return {"W1": dW1, "b1": db1, "W2": dW2, "b2": db2, "W3": dW3, "b3": np.zeros_like(params["b3"])}
    # END SOLUTION


if MAIN:
    check(gradient_penalty_backward)


# %% [markdown]
# ## The two losses


# %%
def critic_loss(
    critic: Params,
    generator: Params,
    real: Float[np.ndarray, "batch d"],
    z: Float[np.ndarray, "batch k"],
    lam: float,
    rng: np.random.Generator,
) -> tuple[float, Params]:
    """The critic's loss and its gradient with respect to the critic's parameters:

        fake = G(z)                              (mlp_forward of the generator)
        x^ = interpolate(real, fake, rng)
        L = mean_n D(fake_n) - mean_n D(real_n) + gradient_penalty(critic, x^, lam)

    The generator is held fixed (no gradient for it). Returns (L as a Python float, grads)."""
    # BEGIN SOLUTION
    fake, _ = mlp_forward(generator, z)
    x_hat = interpolate(real, fake, rng)
    N = real.shape[0]
    d_fake, fake_cache = mlp_forward(critic, fake)
    d_real, real_cache = mlp_forward(critic, real)
    penalty, gp_cache = gradient_penalty(critic, x_hat, lam)
    loss = float(d_fake.mean() - d_real.mean()) + penalty
    _, g_fake = mlp_backward(np.full_like(d_fake, 1.0 / N), fake_cache)
    _, g_real = mlp_backward(np.full_like(d_real, -1.0 / N), real_cache)
    g_pen = gradient_penalty_backward(gp_cache)
    return loss, {k: g_fake[k] + g_real[k] + g_pen[k] for k in critic}
    # END SOLUTION


if MAIN:
    check(critic_loss)


# %%
def generator_loss(
    critic: Params, generator: Params, z: Float[np.ndarray, "batch k"]
) -> tuple[float, Params]:
    """The generator's loss L = -mean_n D(G(z_n)) and its gradient with respect to the
    generator's parameters (the critic held fixed): back through the critic to its input,
    then through the generator. Returns (L as a Python float, grads)."""
    # BEGIN SOLUTION
    fake, gen_cache = mlp_forward(generator, z)
    scores, critic_cache = mlp_forward(critic, fake)
    dfake, _ = mlp_backward(np.full_like(scores, -1.0 / len(z)), critic_cache)
    _, grads = mlp_backward(dfake, gen_cache)
    return -float(scores.mean()), grads
    # END SOLUTION


if MAIN:
    check(generator_loss)


# %% [markdown]
# ## Training


# %%
def train_wgan_gp(
    critic: Params,
    generator: Params,
    sample_real,
    steps: int,
    batch_size: int,
    n_critic: int,
    lam: float,
    lr: float,
    rng: np.random.Generator,
) -> tuple[Params, Params, list[float]]:
    """WGAN-GP's loop (Gulrajani et al., algorithm 1). Each of `steps` generator steps:

        n_critic times:  real = sample_real(batch_size, rng)
                         z = rng.normal(size=(batch_size, k))     (k = generator's input size)
                         loss, grads = critic_loss(critic, generator, real, z, lam, rng)
                         critic, c_state = adam_step(critic, grads, c_state, lr)
        then:            z = rng.normal(size=(batch_size, k))
                         _, grads = generator_loss(critic, generator, z)
                         generator, g_state = adam_step(generator, grads, g_state, lr)

    with the given adam_step's default betas (0.5, 0.9) and one Adam state per network (None
    at first). Returns (critic, generator, the critic's loss of every critic step); the
    dicts passed in are not changed."""
    # BEGIN SOLUTION
    k = generator["W1"].shape[0]
    c_state = g_state = None
    losses = []
    for _ in range(steps):
        for _ in range(n_critic):
            real = sample_real(batch_size, rng)
            z = rng.normal(size=(batch_size, k))
            loss, grads = critic_loss(critic, generator, real, z, lam, rng)
            critic, c_state = adam_step(critic, grads, c_state, lr)
            losses.append(loss)
        z = rng.normal(size=(batch_size, k))
        _, grads = generator_loss(critic, generator, z)
        generator, g_state = adam_step(generator, grads, g_state, lr)
    return critic, generator, losses
    # END SOLUTION


if MAIN:
    check(train_wgan_gp)


# %% [markdown]
# ## Eight Gaussians
#
# The reading states what the reference reaches and how long it takes. The baseline is the
# best single Gaussian: the real data's mean and covariance.

# %%
if MAIN:
    try:
        data_rng = np.random.default_rng(0)
        held_out = sample_ring(1000, data_rng)
        critic = init_mlp(2, 64, 1, np.random.default_rng(1))
        generator = init_mlp(2, 64, 2, np.random.default_rng(2))
        start = time.perf_counter()
        critic, generator, losses = train_wgan_gp(
            critic, generator, sample_ring, 2000, 128, 5, 0.1, 1e-3, np.random.default_rng(3)
        )
        seconds = time.perf_counter() - start
        fake, _ = mlp_forward(generator, np.random.default_rng(4).normal(size=(1000, 2)))
        real = sample_ring(1000, data_rng)
        blob = np.random.default_rng(5).multivariate_normal(real.mean(0), np.cov(real.T), size=1000)
        distance = energy_distance(fake, held_out)
        print(f"trained in {seconds:.0f} s: energy distance to held-out points {distance:.4f}")
        print(f"  (a single Gaussian fitted to the data: {energy_distance(blob, held_out):.4f})")
        points = np.concatenate([real, fake])
        labels = np.repeat([0, 1], 1000)
        print(
            "wrote",
            scatter_chart(
                points, labels, "wgan_gp_ring.svg", "WGAN-GP on 8 Gaussians", names=["real", "generated"]
            ),
        )
    except NotImplementedError as missing:
        print(f"Finish {missing} to train the WGAN-GP.")
