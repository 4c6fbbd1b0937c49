# %% [markdown]
# # Chapter 7, part 1: multi-armed bandits and regret
#
# Reading: chapters/chapter7_rl/part1_bandits.md
#
# Fill in each function, then run the cell below it: `check(fn)` runs that exercise's
# tests here and prints a verdict. `python -m grader chapter7/part1` grades the file.
#
# A Bernoulli bandit has K arms; pulling arm k pays 1 with probability means[k], else 0.
# The agent does not know `means`: it must try arms (explore) and play the best it has
# found (exploit). Regret counts what that costs: after t pulls,
#
#     regret(t) = Σ_{i ≤ t} (max_k means[k] − means[arm_i]).
#
# Conventions: arms are ints 0 … K−1; Q[k] is the mean reward of arm k so far, N[k] how
# often it was pulled (float64 arrays of shape (K,)); every random choice comes from the
# `rng: np.random.Generator` passed in; no function changes its inputs.

# %%
from __future__ import annotations

import numpy as np
from jaxtyping import Float

from coursedata import line_chart
from grader.check import check

MAIN = __name__ == "__main__"

STRATEGIES = ("epsilon_greedy", "ucb1", "thompson")


def pull(means: Float[np.ndarray, " K"], arm: int | np.integer, rng: np.random.Generator) -> float:
    """Pull `arm` of the Bernoulli bandit: 1.0 with probability means[arm], else 0.0, from
    one draw rng.random(). (Given.)"""
    return float(rng.random() < means[arm])


# %% [markdown]
# ## Estimating the arms' values


# %%
def update_mean(
    Q: Float[np.ndarray, " K"], N: Float[np.ndarray, " K"], arm: int | np.integer, reward: float
) -> tuple[Float[np.ndarray, " K"], Float[np.ndarray, " K"]]:
    """Record one reward of `arm`: N[arm] goes up by 1 and Q[arm] becomes the mean of all
    that arm's rewards, by the incremental rule Q ← Q + (reward − Q) / N (with the new N).
    arm may be a Python or a NumPy integer. Returns new arrays (Q, N); the inputs are not
    changed."""
    raise NotImplementedError("update_mean")


if MAIN:
    check(update_mean)


# %% [markdown]
# ## Three ways to choose an arm


# %%
def epsilon_greedy(Q: Float[np.ndarray, " K"], epsilon: float, rng: np.random.Generator) -> int:
    """With probability epsilon a uniformly random arm (any of the K); otherwise a greedy
    arm, argmax_k Q[k], with ties broken uniformly at random among the arms of equal
    largest Q (exactly equal). Returns an int. Draws only from rng."""
    raise NotImplementedError("epsilon_greedy")


if MAIN:
    check(epsilon_greedy)


# %%
def ucb1(Q: Float[np.ndarray, " K"], N: Float[np.ndarray, " K"], c: float = np.sqrt(2.0)) -> int:
    """UCB1 (Auer, Cesa-Bianchi & Fischer, 2002): if some arm was never pulled (N[k] == 0),
    the lowest such arm; otherwise argmax_k Q[k] + c · sqrt(ln t / N[k]) with t = Σ_k N[k],
    the number of pulls so far (lowest arm on ties). c = √2 is UCB1's bonus. Returns an int."""
    raise NotImplementedError("ucb1")


if MAIN:
    check(ucb1)


# %%
def thompson_sample(
    alpha: Float[np.ndarray, " K"], beta: Float[np.ndarray, " K"], rng: np.random.Generator
) -> int:
    """Thompson sampling on Bernoulli arms with Beta(alpha[k], beta[k]) posteriors: draw one
    plausible mean per arm, theta = rng.beta(alpha, beta) (one call, all arms at once), and
    return the arm with the largest draw (an int)."""
    raise NotImplementedError("thompson_sample")


if MAIN:
    check(thompson_sample)


# %% [markdown]
# ## Running a bandit, and regret


# %%
def run_bandit(
    means: Float[np.ndarray, " K"],
    strategy: str,
    steps: int,
    rng: np.random.Generator,
    epsilon: float = 0.1,
    c: float = np.sqrt(2.0),
) -> tuple[Float[np.ndarray, " steps"], Float[np.ndarray, " steps"]]:
    """Play `steps` pulls of the bandit with one strategy: "epsilon_greedy" (your
    epsilon_greedy on Q, with `epsilon`), "ucb1" (your ucb1 on Q and N, with `c`) or
    "thompson" (your thompson_sample on a Beta(1, 1) prior: alpha = 1 + successes,
    beta = 1 + failures of each arm). Q and N start at zero.

    Each step: choose an arm (the strategy's draws, from rng), then reward = pull(means,
    arm, rng), then update Q and N with update_mean (and alpha, beta for Thompson).

    Returns (rewards, regret), float64 arrays of length steps: rewards[t] of pull t, and
    regret[t] = Σ_{i ≤ t} (max(means) − means[arm_i]), the cumulative (expected) regret."""
    raise NotImplementedError("run_bandit")


if MAIN:
    check(run_bandit)


# %%
def regret_curves(
    means: Float[np.ndarray, " K"], steps: int, runs: int, seed: int = 0, epsilon: float = 0.1
) -> dict[str, Float[np.ndarray, " steps"]]:
    """The mean cumulative regret of each strategy over `runs` runs: for each name in
    STRATEGIES, the mean over r = 0 … runs−1 of run_bandit(means, name, steps,
    np.random.default_rng(seed + r), epsilon=epsilon)[1]. Returns {name: curve} in
    STRATEGIES' order, each curve float64 of length steps."""
    raise NotImplementedError("regret_curves")


if MAIN:
    check(regret_curves)
    arms = np.array([0.3, 0.5, 0.55, 0.7])
    curves = regret_curves(arms, steps=2000, runs=30)
    for name, curve in curves.items():
        print(f"{name:>15}: regret after 2000 pulls {curve[-1]:6.1f}")
    print("wrote", line_chart(curves, "bandit_regret.svg", "Cumulative regret, 30 runs", "pull", "regret"))
