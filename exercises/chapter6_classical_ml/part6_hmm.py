# %% [markdown]
# # Chapter 6, part 6: hidden Markov models
#
# Reading: chapters/chapter6_classical_ml/part6_hmm.md
#
# Fill in each function, then run the cell below it: `check(fn)` runs that exercise's
# tests here and prints a verdict. `python -m grader chapter6/part6` grades the file.
#
# A hidden Markov model with K hidden states and M symbols: the first state is drawn from
# pi (K,), each next state from row z of the transition matrix A (K, K),
# A[i, j] = P(z_{t+1} = j | z_t = i), and each state z emits a symbol from row z of
# B (K, M), B[z, o] = P(x_t = o | z_t = z). A sequence obs is an int array of length T.
#
# Conventions: float64 throughout; no function changes its inputs; randomness only from
# the `rng: np.random.Generator` passed in.

# %%
from __future__ import annotations

import numpy as np
from jaxtyping import Float, Int

from coursedata import line_chart
from grader.check import check

MAIN = __name__ == "__main__"


def sample_hmm(
    pi: Float[np.ndarray, " K"],
    A: Float[np.ndarray, "K K"],
    B: Float[np.ndarray, "K M"],
    T: int,
    rng: np.random.Generator,
) -> tuple[Int[np.ndarray, " T"], Int[np.ndarray, " T"]]:
    """T steps of the HMM: (states, obs), two int64 arrays of length T. (Given.)"""
    K, M = B.shape
    states, obs = np.zeros(T, dtype=np.int64), np.zeros(T, dtype=np.int64)
    z = rng.choice(K, p=pi)
    for t in range(T):
        if t > 0:
            z = rng.choice(K, p=A[z])
        states[t], obs[t] = z, rng.choice(M, p=B[z])
    return states, obs


# %% [markdown]
# ## The forward and backward passes, scaled


# %%
def forward(
    pi: Float[np.ndarray, " K"],
    A: Float[np.ndarray, "K K"],
    B: Float[np.ndarray, "K M"],
    obs: Int[np.ndarray, " T"],
) -> tuple[Float[np.ndarray, "T K"], Float[np.ndarray, " T"]]:
    """The scaled forward pass. Returns (alpha, c):

    alpha[t, k] = P(z_t = k | x_0 … x_t), each row summing to 1 (the filtered state), and
    c[t] = P(x_t | x_0 … x_{t−1}) (c[0] = P(x_0)), so that log P(x_0 … x_{T−1}) = Σ_t log c[t].

    Recursion: a = pi * B[:, x_0] at t = 0, a = (alpha[t−1] @ A) * B[:, x_t] after it;
    c[t] = a.sum() and alpha[t] = a / c[t]. No underflow on long sequences (10,000 steps);
    one Python loop over time, none over states."""
    raise NotImplementedError("forward")


if MAIN:
    check(forward)


# %%
def forward_log(
    pi: Float[np.ndarray, " K"],
    A: Float[np.ndarray, "K K"],
    B: Float[np.ndarray, "K M"],
    obs: Int[np.ndarray, " T"],
) -> tuple[Float[np.ndarray, "T K"], float]:
    """The forward pass in log space, the other cure for underflow. Returns (log_a, log P(x)):

    log_a[t, k] = log P(x_0 … x_t, z_t = k) (NOT normalised: it falls to about −15,000
    after 10,000 steps), and log P(x) = logsumexp(log_a[T−1]).

    log_a[0] = log pi + log B[:, x_0]; log_a[t, j] = logsumexp_i(log_a[t−1, i] + log A[i, j])
    + log B[j, x_t], every logsumexp stable (shift by the largest term before exp). The
    probabilities in pi, A and B are positive here. One Python loop over time."""
    raise NotImplementedError("forward_log")


if MAIN:
    check(forward_log)


# %%
def backward(
    A: Float[np.ndarray, "K K"],
    B: Float[np.ndarray, "K M"],
    obs: Int[np.ndarray, " T"],
    c: Float[np.ndarray, " T"],
) -> Float[np.ndarray, "T K"]:
    """The scaled backward pass with forward's scale factors c. Returns beta (T, K):

    beta[T−1] = 1, and beta[t] = (A @ (B[:, x_{t+1}] * beta[t+1])) / c[t+1] before it,

    so that alpha[t] * beta[t] = P(z_t = · | x_0 … x_{T−1}), the smoothed state."""
    raise NotImplementedError("backward")


if MAIN:
    check(backward)


# %%
def posteriors(
    alpha: Float[np.ndarray, "T K"],
    beta: Float[np.ndarray, "T K"],
    c: Float[np.ndarray, " T"],
    A: Float[np.ndarray, "K K"],
    B: Float[np.ndarray, "K M"],
    obs: Int[np.ndarray, " T"],
) -> tuple[Float[np.ndarray, "T K"], Float[np.ndarray, "T1 K K"]]:
    """The posteriors of the states given the whole sequence, from the scaled passes:

    gamma[t, k] = P(z_t = k | x) = alpha[t, k] beta[t, k], and
    xi[t, i, j] = P(z_t = i, z_{t+1} = j | x)
                = alpha[t, i] A[i, j] B[j, x_{t+1}] beta[t+1, j] / c[t+1]   (t < T − 1).

    Returns (gamma (T, K), xi (T − 1, K, K)), vectorised (no Python loop)."""
    raise NotImplementedError("posteriors")


if MAIN:
    check(posteriors)


# %%
def predict_next_symbol(
    alpha_last: Float[np.ndarray, " K"], A: Float[np.ndarray, "K K"], B: Float[np.ndarray, "K M"]
) -> Float[np.ndarray, " M"]:
    """The distribution of the next symbol given the sequence so far, from the filtered
    state alpha_last = P(z_{T−1} | x_0 … x_{T−1}) (forward's last row): first move one
    step, then emit,

        P(x_T = o | x_0 … x_{T−1}) = Σ_j (alpha_last @ A)[j] B[j, o].

    Returns an array of shape (M,) summing to 1."""
    raise NotImplementedError("predict_next_symbol")


if MAIN:
    check(predict_next_symbol)


# %% [markdown]
# ## The most likely path: Viterbi


# %%
def viterbi(
    pi: Float[np.ndarray, " K"],
    A: Float[np.ndarray, "K K"],
    B: Float[np.ndarray, "K M"],
    obs: Int[np.ndarray, " T"],
) -> tuple[Int[np.ndarray, " T"], float]:
    """The most likely state path and its log-probability, in log space:

    delta[0] = log pi + log B[:, x_0];
    delta[t, j] = max_i (delta[t−1, i] + log A[i, j]) + log B[j, x_t], remembering the best i;
    the path ends at argmax delta[T−1] and is traced back through the remembered states.

    Returns (path, log P(path, x)): path int64 of length T. Probabilities may be 0 (log 0 =
    −inf, without a warning). Ties go to the lowest state (np.argmax). One Python loop over
    time, none over states: 10,000 steps of 50 states take well under 0.1 s."""
    raise NotImplementedError("viterbi")


if MAIN:
    check(viterbi)


# %% [markdown]
# ## Learning the parameters: Baum-Welch


# %%
def baum_welch_step(
    pi: Float[np.ndarray, " K"],
    A: Float[np.ndarray, "K K"],
    B: Float[np.ndarray, "K M"],
    obs: Int[np.ndarray, " T"],
) -> tuple[Float[np.ndarray, " K"], Float[np.ndarray, "K K"], Float[np.ndarray, "K M"], float]:
    """One EM step on one sequence, with your forward, backward and posteriors:

    pi' = gamma[0];  A'[i, j] = Σ_{t<T−1} xi[t, i, j] / Σ_{t<T−1} gamma[t, i];
    B'[k, o] = Σ_{t: x_t = o} gamma[t, k] / Σ_t gamma[t, k].

    Returns (pi', A', B', log P(x) under the OLD parameters). Each row of A' and B' sums
    to 1; a symbol never observed gets probability 0."""
    raise NotImplementedError("baum_welch_step")


if MAIN:
    check(baum_welch_step)


def baum_welch(
    pi: Float[np.ndarray, " K"],
    A: Float[np.ndarray, "K K"],
    B: Float[np.ndarray, "K M"],
    obs: Int[np.ndarray, " T"],
    iterations: int,
) -> tuple[Float[np.ndarray, " K"], Float[np.ndarray, "K K"], Float[np.ndarray, "K M"], list[float]]:
    """`iterations` steps of your baum_welch_step; returns the last parameters and the
    log-likelihood before each step. (Given.)"""
    history = []
    for _ in range(iterations):
        pi, A, B, log_likelihood = baum_welch_step(pi, A, B, obs)
        history.append(log_likelihood)
    return pi, A, B, history


if MAIN:
    # A casino switches between a fair die and a loaded one (six shows half the time).
    pi_true = np.array([0.5, 0.5])
    A_true = np.array([[0.95, 0.05], [0.10, 0.90]])
    B_true = np.vstack([np.full(6, 1 / 6), [0.1, 0.1, 0.1, 0.1, 0.1, 0.5]])
    states, obs = sample_hmm(pi_true, A_true, B_true, 3000, np.random.default_rng(0))
    path, _ = viterbi(pi_true, A_true, B_true, obs)
    print(f"Viterbi recovers the die used on {np.mean(path == states):.1%} of 3000 rolls")
    g = np.random.default_rng(1)
    A0, B0 = g.dirichlet(np.ones(2), size=2), g.dirichlet(np.ones(6), size=2)
    *_, history = baum_welch(np.full(2, 0.5), A0, B0, obs, 60)
    print(f"Baum-Welch: log-likelihood {history[0]:.1f} -> {history[-1]:.1f}")
    print(
        "wrote",
        line_chart({"log P(x)": np.array(history)}, "baum_welch.svg", "Baum-Welch", "step", "log P(x)"),
    )
