# %% [markdown]
# # Chapter 8, part 1: the variational autoencoder on the digits
#
# Reading: chapters/chapter8_memory_and_generative/part1_vae.md
#
# Fill in each function, then run the cell below it: `check(fn)` runs that exercise's
# tests here and prints a verdict. `python -m grader chapter8/part1` grades the file.
#
# Kingma & Welling's VAE: an encoder maps an image x to a Gaussian q(z|x) = N(μ, diag σ²)
# over a small latent z, a decoder maps z to the logits of independent Bernoulli pixels
# p(x|z), and training maximises the evidence lower bound
#
#     ELBO(x) = E_{z ~ q(z|x)}[log p(x|z)] − KL(q(z|x) ‖ N(0, I))  ≤  log p(x).
#
# Conventions: batch first, float64; linear maps x @ W + b with W (d_in, d_out); the
# encoder outputs the log-variance logvar = log σ² (any real number), never σ or σ²;
# parameters are a dict of arrays (keys in PARAM_KEYS) and a backward returns gradients
# with the same keys; every forward returns (out, cache) and every backward takes
# (dout, cache); all randomness comes from the `rng: np.random.Generator` passed in; no
# function changes its inputs. The tests compare to 1e-8 relative (gradients against
# central differences to 1e-6).

# %%
from __future__ import annotations

import time

import numpy as np
from jaxtyping import Float

from grader.check import check

MAIN = __name__ == "__main__"

Params = dict[str, np.ndarray]
PARAM_KEYS = ("W_enc", "b_enc", "W_mu", "b_mu", "W_lv", "b_lv", "W_dec", "b_dec", "W_out", "b_out")


# %% [markdown]
# ## Given: initialisation and Adam


# %%
def init_vae(d_in: int, d_hidden: int, d_latent: int, rng: np.random.Generator) -> Params:
    """A VAE's parameters (given): encoder x → tanh(x W_enc + b_enc) → (μ, logvar) by two
    linear heads W_mu, W_lv; decoder z → tanh(z W_dec + b_dec) → logits by W_out. Weights
    N(0, 1/fan_in) drawn in the order of PARAM_KEYS, biases zero."""
    shapes = {
        "W_enc": (d_in, d_hidden),
        "W_mu": (d_hidden, d_latent),
        "W_lv": (d_hidden, d_latent),
        "W_dec": (d_latent, d_hidden),
        "W_out": (d_hidden, d_in),
    }
    params = {}
    for key in PARAM_KEYS:
        if key in shapes:
            params[key] = rng.normal(0.0, 1.0 / np.sqrt(shapes[key][0]), size=shapes[key])
        else:
            params[key] = np.zeros(shapes["W" + key[1:]][1])
    return params


def adam_step(
    params: Params, grads: Params, state: dict | None, lr: float, beta1: float = 0.9, beta2: float = 0.999
) -> tuple[Params, dict]:
    """One Adam step on every array of params (given); state is None at the first step.
    Returns (new params, new state); the inputs are not changed."""
    if state is None:
        state = {"t": 0, "m": {k: np.zeros_like(v) for k, v in params.items()}}
        state["v"] = {k: np.zeros_like(v) for k, v in params.items()}
    t = state["t"] + 1
    m = {k: beta1 * state["m"][k] + (1 - beta1) * grads[k] for k in params}
    v = {k: beta2 * state["v"][k] + (1 - beta2) * grads[k] ** 2 for k in params}
    new = {
        k: params[k] - lr * (m[k] / (1 - beta1**t)) / (np.sqrt(v[k] / (1 - beta2**t)) + 1e-8) for k in params
    }
    return new, {"t": t, "m": m, "v": v}


# %% [markdown]
# ## The reparameterisation trick


# %%
def reparameterize(
    mu: Float[np.ndarray, "batch latent"], logvar: Float[np.ndarray, "batch latent"], rng: np.random.Generator
) -> tuple[Float[np.ndarray, "batch latent"], tuple]:
    """A sample z ~ N(μ, diag σ²) written as a deterministic function of (μ, logvar) and
    noise: z = μ + σ ε with σ = exp(logvar / 2) and ε = rng.standard_normal(mu.shape)
    (one call, nothing else drawn). Returns (z, cache); the cache holds what
    reparameterize_backward needs (ε and σ)."""
    # BEGIN SOLUTION
    eps = rng.standard_normal(mu.shape)
    sigma = np.exp(0.5 * logvar)  # logvar = log σ², so σ = exp(logvar / 2)
    return mu + sigma * eps, (eps, sigma)
    # END SOLUTION


if MAIN:
    check(reparameterize)


# %%
def reparameterize_backward(
    dz: Float[np.ndarray, "batch latent"], cache: tuple
) -> tuple[Float[np.ndarray, "batch latent"], Float[np.ndarray, "batch latent"]]:
    """The gradients (dμ, dlogvar) of a loss L given dz = dL/dz, for (z, cache) =
    reparameterize(mu, logvar, rng), with the noise ε held fixed."""
    # BEGIN SOLUTION
    eps, sigma = cache
    return dz.copy(), dz * eps * sigma * 0.5  # dz/dlogvar = ε · dσ/dlogvar = ε σ / 2
    # END SOLUTION


if MAIN:
    check(reparameterize_backward)


# %% [markdown]
# ## The two terms of the ELBO


# %%
def gaussian_kl(
    mu: Float[np.ndarray, "batch latent"], logvar: Float[np.ndarray, "batch latent"]
) -> Float[np.ndarray, " batch"]:
    """KL(N(μ, diag σ²) ‖ N(0, I)) for each row, in closed form and summed over the latent
    dimensions: ½ Σ_j (μ_j² + σ_j² − 1 − log σ_j²), with σ_j² = exp(logvar_j).
    Returns (batch,), every entry ≥ 0."""
    # BEGIN SOLUTION
    return 0.5 * np.sum(mu**2 + np.exp(logvar) - 1.0 - logvar, axis=1)
    # END SOLUTION


if MAIN:
    check(gaussian_kl)


# %%
def bernoulli_nll(
    logits: Float[np.ndarray, "batch pixels"], x: Float[np.ndarray, "batch pixels"]
) -> Float[np.ndarray, " batch"]:
    """−log p(x | z) for independent Bernoulli pixels with p = sigmoid(logits), summed over
    the pixels: Σ_j [softplus(l_j) − x_j l_j] (the binary cross-entropy from logits; x may
    be any value in [0, 1]). Stable: finite and correct to 1e-8 relative for logits as large
    as ±1000 (never take the log of a sigmoid that has rounded to 0 or 1). Returns (batch,)."""
    # BEGIN SOLUTION
    softplus = np.maximum(logits, 0.0) + np.log1p(np.exp(-np.abs(logits)))  # log(1 + e^l), stable
    return np.sum(softplus - x * logits, axis=1)
    # END SOLUTION


if MAIN:
    check(bernoulli_nll)


# %% [markdown]
# ## The negative ELBO and its gradient


# %%
def vae_loss(
    x: Float[np.ndarray, "batch pixels"], params: Params, rng: np.random.Generator
) -> tuple[float, tuple]:
    """The negative ELBO averaged over the batch, with one sample of z per example:

        h = tanh(x W_enc + b_enc);  μ = h W_mu + b_mu;  logvar = h W_lv + b_lv
        z = reparameterize(μ, logvar, rng)           (the only use of rng)
        g = tanh(z W_dec + b_dec);  logits = g W_out + b_out
        loss = mean over the batch of [bernoulli_nll(logits, x) + gaussian_kl(μ, logvar)]

    Returns (loss as a Python float, cache)."""
    # BEGIN SOLUTION
    p = params
    h = np.tanh(x @ p["W_enc"] + p["b_enc"])
    mu = h @ p["W_mu"] + p["b_mu"]
    logvar = h @ p["W_lv"] + p["b_lv"]
    z, z_cache = reparameterize(mu, logvar, rng)
    g = np.tanh(z @ p["W_dec"] + p["b_dec"])
    logits = g @ p["W_out"] + p["b_out"]
    loss = np.mean(bernoulli_nll(logits, x) + gaussian_kl(mu, logvar))
    return float(loss), (x, p, h, mu, logvar, z, z_cache, g, logits)
    # END SOLUTION


if MAIN:
    check(vae_loss)


# %%
def vae_backward(dloss: float, cache: tuple) -> Params:
    """The gradient of dloss · loss with respect to every parameter, for (loss, cache) =
    vae_loss(x, params, rng), the noise ε held fixed (the reparameterisation gradient).
    Returns a dict with the keys of params. Use reparameterize_backward for z."""
    # BEGIN SOLUTION
    x, p, h, mu, logvar, z, z_cache, g, logits = cache
    n = x.shape[0]
    dlogits = dloss * (1.0 / (1.0 + np.exp(-logits)) - x) / n  # d softplus(l)/dl = sigmoid(l)
    grads = {"W_out": g.T @ dlogits, "b_out": dlogits.sum(axis=0)}
    da = (dlogits @ p["W_out"].T) * (1.0 - g**2)  # through tanh
    grads["W_dec"], grads["b_dec"] = z.T @ da, da.sum(axis=0)
    dmu, dlogvar = reparameterize_backward(da @ p["W_dec"].T, z_cache)
    dmu = dmu + dloss * mu / n  # the KL's own gradient: ½ (2 μ) and ½ (σ² − 1)
    dlogvar = dlogvar + dloss * 0.5 * (np.exp(logvar) - 1.0) / n
    grads["W_mu"], grads["b_mu"] = h.T @ dmu, dmu.sum(axis=0)
    grads["W_lv"], grads["b_lv"] = h.T @ dlogvar, dlogvar.sum(axis=0)
    de = (dmu @ p["W_mu"].T + dlogvar @ p["W_lv"].T) * (1.0 - h**2)
    grads["W_enc"], grads["b_enc"] = x.T @ de, de.sum(axis=0)
    return {key: grads[key] for key in PARAM_KEYS}
    # END SOLUTION


if MAIN:
    check(vae_backward)


# %% [markdown]
# ## Training, sampling and the latent space


# %%
def train_vae(
    x: Float[np.ndarray, "n pixels"],
    params: Params,
    epochs: int,
    batch_size: int,
    lr: float,
    rng: np.random.Generator,
) -> tuple[Params, list[float]]:
    """Minibatch training of the VAE with the given adam_step (state None at the start).

    Each epoch draws order = rng.permutation(n) and cuts it into consecutive batches of
    batch_size (the last one holds what is left); for each batch: vae_loss(x[batch],
    params, rng), vae_backward(1.0, cache), one adam_step. So rng serves the shuffles
    and the noise, in that order. The given params are not changed. Returns (trained
    params, losses) with losses[i] the loss of step i (one per batch). Compared to 1e-7."""
    # BEGIN SOLUTION
    state = None
    losses = []
    n = x.shape[0]
    for _ in range(epochs):
        order = rng.permutation(n)
        for start in range(0, n, batch_size):
            loss, cache = vae_loss(x[order[start : start + batch_size]], params, rng)
            params, state = adam_step(params, vae_backward(1.0, cache), state, lr)
            losses.append(loss)
    return params, losses
    # END SOLUTION


if MAIN:
    check(train_vae)


# %%
def sample_images(params: Params, n: int, rng: np.random.Generator) -> Float[np.ndarray, "n pixels"]:
    """n new images from the prior: z = rng.standard_normal((n, d_latent)) (one call), then
    the decoder's pixel probabilities sigmoid(tanh(z W_dec + b_dec) W_out + b_out), the mean
    of p(x|z) rather than a Bernoulli draw (which would look like noise). Returns (n, pixels)."""
    # BEGIN SOLUTION
    z = rng.standard_normal((n, params["W_dec"].shape[0]))
    logits = np.tanh(z @ params["W_dec"] + params["b_dec"]) @ params["W_out"] + params["b_out"]
    return 1.0 / (1.0 + np.exp(-logits))
    # END SOLUTION


if MAIN:
    check(sample_images)


# %% [markdown]
# ## How loose is the bound?


# %%
def importance_log_likelihood(
    x: Float[np.ndarray, "batch pixels"], params: Params, k: int, rng: np.random.Generator
) -> Float[np.ndarray, " batch"]:
    """An estimate of log p(x) for each image, with k importance samples from the encoder
    (Burda et al.'s importance-weighted bound, in nats):

        log p(x) ≈ log (1/k) Σ_i w_i,   log w_i = log p(x | z_i) + log N(z_i; 0, I) − log N(z_i; μ, σ²)

    with μ, logvar from the encoder of vae_loss, z_i = μ + σ ε_i and ε =
    rng.standard_normal((k, batch, latent)) (one call, nothing else drawn), log p(x | z_i) =
    −bernoulli_nll of z_i's decoded logits. The log-weights are far below −700 for a poor
    model, so average them with a stable log-mean-exp (never exp them directly). Returns
    (batch,); compared to 1e-8 relative. With k = 1 its mean is the ELBO; it rises towards
    log p(x) as k grows."""
    # BEGIN SOLUTION
    p = params
    h = np.tanh(x @ p["W_enc"] + p["b_enc"])
    mu, logvar = h @ p["W_mu"] + p["b_mu"], h @ p["W_lv"] + p["b_lv"]
    eps = rng.standard_normal((k, *mu.shape))
    z = mu + np.exp(0.5 * logvar) * eps  # (k, batch, latent)
    logits = np.tanh(z @ p["W_dec"] + p["b_dec"]) @ p["W_out"] + p["b_out"]  # (k, batch, pixels)
    log_px_z = -np.stack([bernoulli_nll(sample, x) for sample in logits])  # (k, batch)
    # log N(z; 0, I) − log N(z; μ, σ²): the 2π terms cancel; (z − μ) / σ = ε.
    log_prior_over_q = np.sum(-0.5 * z**2 + 0.5 * eps**2 + 0.5 * logvar, axis=2)
    log_w = log_px_z + log_prior_over_q  # (k, batch)
    top = log_w.max(axis=0)
    return top + np.log(np.mean(np.exp(log_w - top), axis=0))
    # END SOLUTION


if MAIN:
    check(importance_log_likelihood)


# %% [markdown]
# ## Train on the digits
#
# The digits binarised (a pixel is 1 where its ink is above 0.5), so that the Bernoulli
# decoder is a true likelihood and −ELBO an upper bound on −log p(x) in nats.
# A baseline first: the best decoder that ignores z gives every pixel its training mean
# m_j, at a cost of Σ_j BCE(x_j, m_j) per image, with no KL to pay. A VAE whose held-out
# negative ELBO is below it has learnt something about the digits from the latent. The
# held-out ELBO is estimated with 10 samples of z per image.


# %%
def held_out_elbo(params: Params, x: np.ndarray, rng: np.random.Generator, samples: int = 10) -> float:
    """The mean negative ELBO on x, averaged over `samples` draws of z (given)."""
    return float(np.mean([vae_loss(x, params, rng)[0] for _ in range(samples)]))


def mean_pixel_baseline(x_train: np.ndarray, x_test: np.ndarray) -> float:
    """Σ_j BCE(x_j, m_j) per held-out image with m_j the training mean of pixel j (given)."""
    m = np.clip(x_train.mean(axis=0), 1e-6, 1 - 1e-6)
    return float(np.mean(-(x_test * np.log(m) + (1 - x_test) * np.log(1 - m)).sum(axis=1)))


if MAIN:
    from coursedata import image_grid, load_digits, scatter_chart, train_test_split

    digits = load_digits()
    x_train, y_train, x_test, y_test = train_test_split(digits, test_fraction=0.25, seed=0)
    x_train, x_test = (x_train > 0.5).astype(np.float64), (x_test > 0.5).astype(np.float64)
    try:
        start = time.perf_counter()
        params = init_vae(64, 64, 2, np.random.default_rng(0))
        params, losses = train_vae(x_train, params, 100, 32, 3e-3, np.random.default_rng(1))
        seconds = time.perf_counter() - start
        elbo = held_out_elbo(params, x_test, np.random.default_rng(2))
        print(
            f"{digits.source} digits, VAE 64-64-2, 100 epochs in {seconds:.1f} s: held-out −ELBO "
            f"{elbo:.2f} nats per image; the mean-pixel baseline {mean_pixel_baseline(x_train, x_test):.2f}"
        )
        image_grid(sample_images(params, 64, np.random.default_rng(3)), "vae_samples.svg", shape=(8, 8))
        h = np.tanh(x_test @ params["W_enc"] + params["b_enc"])
        scatter_chart(
            h @ params["W_mu"] + params["b_mu"],
            y_test,
            "vae_latent.svg",
            title="μ(x) of the held-out digits",
            xlabel="z₁",
            ylabel="z₂",
            names=[str(k) for k in range(10)],
        )
        log_px = importance_log_likelihood(x_test, params, 100, np.random.default_rng(4)).mean()
        print(f"held-out log p(x) ≈ {log_px:.2f} nats per image (100 importance samples); ELBO {-elbo:.2f}")
        print("wrote vae_samples.svg and vae_latent.svg")
    except NotImplementedError as missing:
        print(f"Finish {missing} to train on the digits.")
