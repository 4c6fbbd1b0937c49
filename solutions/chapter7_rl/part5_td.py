# %% [markdown]
# # Chapter 7, part 5: temporal-difference learning, SARSA and Q-learning on the cliff
#
# Reading: chapters/chapter7_rl/part5_td.md
#
# Fill in each function, then run the cell below it: `check(fn)` runs that exercise's
# tests here and prints a verdict. `python -m grader chapter7/part5` grades the file.
#
# The cliff is YOUR part 2: `cliff_walking`, `greedy_path` and `render` are imported from
# `exercises/chapter7_rl/part2_gridworld.py` for the demo at the end. The loops take any
# environment with part 2's interface (the tests bring their own grid worlds).
#
# Conventions (the chapter's): states are integers 0..S-1, actions 0..A-1 (on a grid 0 up,
# 1 right, 2 down, 3 left); V is a float64 array (S,), Q a float64 array (S, A). An
# environment has `reset() -> state`, `step(action) -> (state, reward, done)`, `n_states`
# and `n_actions`. A terminal state is worth 0: nothing is ever bootstrapped from it. An
# update returns a NEW table and never changes the one it is given. Agents take every
# random draw from the `rng` they are passed, in the order their docstring gives.

# %%
import numpy as np
from chapter7_rl.part2_gridworld import cliff_walking, greedy_path, render
from jaxtyping import Bool, Float

from coursedata import line_chart
from grader.check import check

MAIN = __name__ == "__main__"

# A state or action read out of an array is a NumPy integer, a flag a NumPy bool: both kinds
# are accepted wherever an int or a bool is.
Index = int | np.integer
Flag = bool | np.bool_


# %% [markdown]
# ## Given: the epsilon-greedy behaviour policy


# %%
def epsilon_greedy_action(q_row, epsilon, rng):
    """An action drawn from the epsilon-greedy policy of one state's action values q_row (A,):
    probability epsilon / A for every action, plus (1 - epsilon) shared equally by the
    actions tied for the largest value. One draw, u = rng.random(), and the first action
    whose cumulative probability exceeds u (inverse CDF)."""
    n_actions = len(q_row)
    probs = np.full(n_actions, epsilon / n_actions)
    best = np.flatnonzero(q_row == q_row.max())
    probs[best] += (1.0 - epsilon) / len(best)
    return min(int((np.cumsum(probs) <= rng.random()).sum()), n_actions - 1)


# %% [markdown]
# ## One step of each method


# %%
def td0_update(
    V: Float[np.ndarray, " S"], s: Index, r: float, s_next: Index, done: Flag, alpha: float, gamma: float
) -> Float[np.ndarray, " S"]:
    """TD(0): V(s) <- V(s) + alpha * (r + gamma * V(s') - V(s)), with V(s') taken as 0 when
    done (s' is terminal: nothing is bootstrapped from it). Returns a new array; V is not
    changed."""
    # BEGIN SOLUTION
    target = r + (0.0 if done else gamma * V[s_next])
    V = V.copy()
    V[s] += alpha * (target - V[s])
    return V
    # END SOLUTION


if MAIN:
    check(td0_update)


# %%
def td0_prediction(
    episodes: list[tuple[np.ndarray, np.ndarray, np.ndarray]],
    V0: Float[np.ndarray, " S"],
    terminal: Bool[np.ndarray, " S"],
    alpha: float,
    gamma: float,
) -> Float[np.ndarray, " S"]:
    """TD(0) prediction from recorded episodes (states s_0 … s_T, actions, rewards r_1 … r_T,
    as part 2's run_episode returns them): starting from a copy of V0, one TD(0) update per
    step, in order, episode after episode, for the step s_t -> s_{t+1} with reward
    rewards[t]; the step is `done` when s_{t+1} is terminal (terminal[s_{t+1}]). An episode
    cut before reaching a terminal state just stops. Returns the new V; V0 is not changed."""
    # BEGIN SOLUTION
    V = V0.copy()
    for states, _, rewards in episodes:
        for t in range(len(rewards)):
            s, s_next = states[t], states[t + 1]
            target = rewards[t] + (0.0 if terminal[s_next] else gamma * V[s_next])
            V[s] += alpha * (target - V[s])
    return V
    # END SOLUTION


if MAIN:
    check(td0_prediction)


# %%
def sarsa_update(
    Q: Float[np.ndarray, "S A"],
    s: Index,
    a: Index,
    r: float,
    s_next: Index,
    a_next: Index,
    done: Flag,
    alpha: float,
    gamma: float,
) -> Float[np.ndarray, "S A"]:
    """SARSA: Q(s, a) <- Q(s, a) + alpha * (r + gamma * Q(s', a') - Q(s, a)), a' being the
    action the agent takes next; the target is r alone when done (a_next is then ignored).
    Returns a new array; Q is not changed."""
    # BEGIN SOLUTION
    target = r + (0.0 if done else gamma * Q[s_next, a_next])
    Q = Q.copy()
    Q[s, a] += alpha * (target - Q[s, a])
    return Q
    # END SOLUTION


if MAIN:
    check(sarsa_update)


# %%
def expected_sarsa_update(
    Q: Float[np.ndarray, "S A"],
    s: Index,
    a: Index,
    r: float,
    s_next: Index,
    done: Flag,
    alpha: float,
    gamma: float,
    epsilon: float,
) -> Float[np.ndarray, "S A"]:
    """Expected SARSA: the target is r + gamma * sum_a' pi(a'|s') Q(s', a'), the expectation
    of Q(s', .) under the epsilon-greedy policy of Q itself: pi(a'|s') = epsilon / A for every
    a', plus (1 - epsilon) / k for each of the k actions tied for the largest Q(s', .).
    The target is r alone when done. Returns a new array; Q is not changed."""
    # BEGIN SOLUTION
    if done:
        target = r
    else:
        q_next = Q[s_next]
        probs = np.full(len(q_next), epsilon / len(q_next))
        best = q_next == q_next.max()
        probs[best] += (1.0 - epsilon) / best.sum()
        target = r + gamma * probs @ q_next
    Q = Q.copy()
    Q[s, a] += alpha * (target - Q[s, a])
    return Q
    # END SOLUTION


if MAIN:
    check(expected_sarsa_update)


# %%
def q_learning_update(
    Q: Float[np.ndarray, "S A"],
    s: Index,
    a: Index,
    r: float,
    s_next: Index,
    done: Flag,
    alpha: float,
    gamma: float,
) -> Float[np.ndarray, "S A"]:
    """Q-learning: Q(s, a) <- Q(s, a) + alpha * (r + gamma * max_a' Q(s', a') - Q(s, a)); the
    target is r alone when done. Returns a new array; Q is not changed."""
    # BEGIN SOLUTION
    target = r + (0.0 if done else gamma * Q[s_next].max())
    Q = Q.copy()
    Q[s, a] += alpha * (target - Q[s, a])
    return Q
    # END SOLUTION


if MAIN:
    check(q_learning_update)


# %% [markdown]
# ## Whole episodes


# %%
def sarsa(
    env,
    n_episodes: int,
    alpha: float,
    gamma: float,
    epsilon: float,
    rng: np.random.Generator,
    max_steps: int = 1000,
) -> tuple[Float[np.ndarray, "S A"], Float[np.ndarray, " n_episodes"]]:
    """On-policy TD control. Q starts at zeros (n_states, n_actions). Each episode:

        s = env.reset(); a = epsilon_greedy_action(Q[s], epsilon, rng)
        repeat at most max_steps times:
            s', r, done = env.step(a)
            if not done: a' = epsilon_greedy_action(Q[s'], epsilon, rng)   (before the update)
            the SARSA update of Q(s, a) with (r, s', a', done)
            if done: stop;  else s, a = s', a'

    An episode cut at max_steps just stops (its last update bootstraps as usual).
    Returns (Q, the sum of the rewards of each episode, float64 (n_episodes,)).
    """
    # BEGIN SOLUTION
    Q = np.zeros((env.n_states, env.n_actions))
    returns = np.zeros(n_episodes)
    for episode in range(n_episodes):
        s = env.reset()
        a = epsilon_greedy_action(Q[s], epsilon, rng)
        for _ in range(max_steps):
            s_next, r, done = env.step(a)
            returns[episode] += r
            if done:
                Q[s, a] += alpha * (r - Q[s, a])
                break
            a_next = epsilon_greedy_action(Q[s_next], epsilon, rng)
            Q[s, a] += alpha * (r + gamma * Q[s_next, a_next] - Q[s, a])
            s, a = s_next, a_next
    return Q, returns
    # END SOLUTION


if MAIN:
    check(sarsa)


# %%
def q_learning(
    env,
    n_episodes: int,
    alpha: float,
    gamma: float,
    epsilon: float,
    rng: np.random.Generator,
    max_steps: int = 1000,
) -> tuple[Float[np.ndarray, "S A"], Float[np.ndarray, " n_episodes"]]:
    """Off-policy TD control. Q starts at zeros (n_states, n_actions). Each episode:

        s = env.reset()
        repeat at most max_steps times:
            a = epsilon_greedy_action(Q[s], epsilon, rng)       (after the previous update)
            s', r, done = env.step(a)
            the Q-learning update of Q(s, a) with (r, s', done)
            if done: stop;  else s = s'

    Returns (Q, the sum of the rewards of each episode, float64 (n_episodes,)).
    """
    # BEGIN SOLUTION
    Q = np.zeros((env.n_states, env.n_actions))
    returns = np.zeros(n_episodes)
    for episode in range(n_episodes):
        s = env.reset()
        for _ in range(max_steps):
            a = epsilon_greedy_action(Q[s], epsilon, rng)
            s_next, r, done = env.step(a)
            returns[episode] += r
            target = r if done else r + gamma * Q[s_next].max()
            Q[s, a] += alpha * (target - Q[s, a])
            if done:
                break
            s = s_next
    return Q, returns
    # END SOLUTION


if MAIN:
    check(q_learning)


# %% [markdown]
# ## The cliff: a safe path and an optimal one
#
# Sutton & Barto's example 6.6: on the 4 x 12 cliff, with epsilon = 0.1 and alpha = 0.5,
# SARSA learns the safe path along the top, Q-learning the optimal path along the edge, and
# yet SARSA collects more reward while learning: Q-learning's exploring steps fall off.

# %%
if MAIN:
    env = cliff_walking()
    runs = {"SARSA": [], "Q-learning": []}
    for seed in range(10):
        for name, learn in [("SARSA", sarsa), ("Q-learning", q_learning)]:
            Q, returns = learn(env, 500, 0.5, 1.0, 0.1, np.random.default_rng(seed))
            runs[name].append(returns)
            if seed == 0:
                print(f"{name}'s greedy path:\n{render(env, greedy_path(env, Q))}")
    # each curve: the mean over 10 runs, smoothed over 10 episodes
    smooth = {k: np.convolve(np.mean(v, axis=0), np.ones(10) / 10, mode="valid") for k, v in runs.items()}
    print(
        "wrote",
        line_chart(smooth, "cliff_returns.svg", "Returns while learning on the cliff", "episode", "return"),
    )
