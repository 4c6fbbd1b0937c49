# %% [markdown]
# # Chapter 7, part 4: Monte Carlo prediction and control
#
# Reading: chapters/chapter7_rl/part4_monte_carlo.md
#
# Fill in each function, then run the cell below it: `check(fn)` runs that exercise's
# tests here and prints a verdict. `python -m grader chapter7/part4` grades the file.
#
# The episodes come from YOUR part 2: `GridWorld`, `run_episode` and `discounted_returns`
# are imported from `exercises/chapter7_rl/part2_gridworld.py`. An episode is what
# run_episode returns: (states s_0 … s_T, actions a_0 … a_{T−1}, rewards r_1 … r_T), with
# rewards[t] the reward of the step that took actions[t] from states[t].
#
# Conventions (the chapter's): states are ints 0 … S−1, actions ints 0 … A−1; a policy is
# an (S, A) array of action probabilities; V is (S,) and Q is (S, A), float64. No function
# changes its inputs; randomness comes only from the `rng` passed in.

# %%
import numpy as np
from chapter7_rl.part2_gridworld import GridWorld, discounted_returns, greedy_path, render, run_episode
from jaxtyping import Bool, Float, Int

from coursedata import line_chart
from grader.check import check

MAIN = __name__ == "__main__"

Episode = tuple[np.ndarray, np.ndarray, np.ndarray]  # (states, actions, rewards) from run_episode


# %% [markdown]
# ## First visits


# %%
def first_visit_mask(keys: Int[np.ndarray, " T"]) -> Bool[np.ndarray, " T"]:
    """True at every step t whose key has not occurred before it (keys[t] not in keys[:t]):
    the first visit of each state (or of each state-action pair, with keys = s * A + a).
    A bool array of the same length."""
    raise NotImplementedError("first_visit_mask")


if MAIN:
    check(first_visit_mask)


# %% [markdown]
# ## Prediction: the value of a fixed policy


# %%
def first_visit_mc_prediction(
    episodes: list[Episode], n_states: int, gamma: float
) -> Float[np.ndarray, " S"]:
    """First-visit Monte Carlo estimate of v_pi from episodes of pi: V[s] is the mean, over
    the episodes that visit s, of the return G_t = discounted_returns(rewards, gamma)[t] from
    the FIRST step t at which states[t] == s (t < T: the final state, after the last
    action, starts no return). States no episode visits get 0. float64 (n_states,)."""
    raise NotImplementedError("first_visit_mc_prediction")


if MAIN:
    check(first_visit_mc_prediction)


# %% [markdown]
# ## Control: epsilon-soft policies


# %%
def epsilon_greedy_policy(Q: Float[np.ndarray, "S A"], epsilon: float) -> Float[np.ndarray, "S A"]:
    """The epsilon-greedy policy of Q as an (S, A) array of probabilities: every action gets
    epsilon / A, and the k actions tied for the largest Q[s, .] share the remaining
    1 − epsilon, (1 − epsilon) / k each. Rows sum to 1. float64."""
    raise NotImplementedError("epsilon_greedy_policy")


if MAIN:
    check(epsilon_greedy_policy)


# %%
def mc_control(
    env: GridWorld,
    n_episodes: int,
    gamma: float,
    epsilon: float,
    rng: np.random.Generator,
    max_steps: int = 200,
) -> tuple[Float[np.ndarray, "S A"], Float[np.ndarray, " n_episodes"]]:
    """On-policy first-visit Monte Carlo control with an epsilon-soft policy.

    Q and the visit counts N start at zeros (n_states, n_actions). For each episode:

        policy = epsilon_greedy_policy(Q, epsilon)
        states, actions, rewards = run_episode(env, policy, rng, max_steps)
        G = discounted_returns(rewards, gamma)
        for each step t that is the first visit of the pair (states[t], actions[t]):
            N[s, a] += 1;  Q[s, a] += (G[t] − Q[s, a]) / N[s, a]     (the running mean)

    Nothing else is drawn from rng. Returns (Q, the sum of the rewards of each episode,
    float64 (n_episodes,)).
    """
    raise NotImplementedError("mc_control")


if MAIN:
    check(mc_control)


# %% [markdown]
# ## Learning to walk around a wall
#
# A 4 x 6 world with a wall in the middle. Monte Carlo control learns only from whole
# episodes: the first ones wander for a long time before they stumble on the goal.

# %%
if MAIN:
    world = GridWorld(["......", "..##..", "S.#..G", "......"])
    curves = {}
    for eps in (0.05, 0.2):
        runs = [mc_control(world, 300, 0.95, eps, np.random.default_rng(seed))[1] for seed in range(10)]
        curves[f"epsilon = {eps}"] = np.convolve(np.mean(runs, axis=0), np.ones(10) / 10, mode="valid")
        Q, _ = mc_control(world, 300, 0.95, eps, np.random.default_rng(0))
        print(f"epsilon = {eps}, greedy path after 300 episodes:\n{render(world, greedy_path(world, Q))}")
    print("wrote", line_chart(curves, "mc_control_returns.svg", "Monte Carlo control", "episode", "return"))
