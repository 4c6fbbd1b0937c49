# %% [markdown]
# # Chapter 7, part 6: planning with a learned model, and searching the policy directly
#
# Reading: chapters/chapter7_rl/part6_planning_and_policy_search.md
#
# Fill in each function, then run the cell below it: `check(fn)` runs that exercise's
# tests here and prints a verdict. `python -m grader chapter7/part6` grades the file.
#
# Dyna-Q runs on any environment with part 2's interface (`reset`, `step`, `n_states`,
# `n_actions`) and draws its actions with part 5's given `epsilon_greedy_action`; the demo
# uses YOUR part 2's GridWorld. The policy-search half works on a small MDP given as arrays
# (P (S, A, S), R (S, A), terminal (S,), a start distribution p0 (S,)), where the exact
# value of a policy is one linear solve away, so that a gradient estimated from samples can
# be checked against the true one.
#
# Conventions (the chapter's): states ints 0 … S−1, actions ints 0 … A−1; Q is (S, A) and
# the policy parameters theta are (S, A), float64; an episode is (states s_0 … s_T,
# actions a_0 … a_{T−1}, rewards r_1 … r_T) as part 2's run_episode returns it. No
# function changes its inputs; randomness comes only from the `rng` passed in.

# %%
import numpy as np
from chapter7_rl.part2_gridworld import GridWorld, greedy_path, render
from chapter7_rl.part5_td import epsilon_greedy_action
from jaxtyping import Bool, Float, Int

from coursedata import line_chart
from grader.check import check

MAIN = __name__ == "__main__"

Episode = tuple[np.ndarray, np.ndarray, np.ndarray]  # (states, actions, rewards)


# %% [markdown]
# ## Dyna-Q: every real step also replays remembered ones


# %%
def dyna_q(
    env,
    n_episodes: int,
    n_planning: int,
    alpha: float,
    gamma: float,
    epsilon: float,
    rng: np.random.Generator,
    max_steps: int = 1000,
) -> tuple[Float[np.ndarray, "S A"], Int[np.ndarray, " n_episodes"]]:
    """Tabular Dyna-Q (Sutton & Barto, section 8.2) with a deterministic learned model.

    Q starts at zeros (n_states, n_actions); the model remembers, for every pair (s, a) seen,
    the last (r, s', done) it gave, and `seen` lists the pairs in the order first seen.
    Each episode: s = env.reset(), then at most max_steps times:

        a = epsilon_greedy_action(Q[s], epsilon, rng)       (part 5's, one draw)
        s', r, done = env.step(a)
        Q-learning update of Q(s, a) with (r, s', done)     (target r alone when done)
        model[s, a] = (r, s', done); append (s, a) to seen if it is new
        n_planning times:  (ps, pa) = seen[rng.integers(len(seen))]
                           Q-learning update of Q(ps, pa) with model[ps, pa]
        if done: stop;  else s = s'

    Every update is Q(s, a) += alpha * (target − Q(s, a)). Nothing else is drawn from rng
    (rng.choice(len(seen)) makes the same draw as rng.integers(len(seen))).
    Returns (Q, the number of real steps of each episode, int64 (n_episodes,)).
    """
    raise NotImplementedError("dyna_q")


if MAIN:
    check(dyna_q)


# %%
if MAIN:
    # Sutton & Barto's Dyna maze (figure 8.2): reward 1 at the goal, 0 elsewhere.
    maze = GridWorld(
        [".......#G", "..#....#.", "S.#....#.", "..#......", ".....#...", "........."],
        step_reward=0.0,
        goal_reward=1.0,
    )
    curves = {}
    for n in (0, 5, 50):
        runs = [dyna_q(maze, 30, n, 0.1, 0.95, 0.1, np.random.default_rng(seed))[1] for seed in range(10)]
        curves[f"{n} planning steps"] = np.mean(runs, axis=0)[1:]  # the first episode is the same for all
    print("wrote", line_chart(curves, "dyna_maze.svg", "Dyna-Q on the maze", "episode", "steps per episode"))
    Q, _ = dyna_q(maze, 30, 50, 0.1, 0.95, 0.1, np.random.default_rng(0))
    print(render(maze, greedy_path(maze, Q)))


# %% [markdown]
# ## The cross-entropy method: search without a gradient


# %%
def cross_entropy_method(
    score,
    mean: Float[np.ndarray, " d"],
    std: Float[np.ndarray, " d"],
    n_iters: int,
    n_samples: int,
    n_elite: int,
    rng: np.random.Generator,
) -> tuple[Float[np.ndarray, " d"], Float[np.ndarray, " d"], Float[np.ndarray, " n_iters"]]:
    """Maximise score (a function from a (d,) vector to a float) with the cross-entropy method.

    Each iteration:

        samples = mean + std * rng.standard_normal((n_samples, d))    (one call; the same
                  draws as rng.normal(mean, std, size=(n_samples, d)))
        scores = score(samples[i]) for every i
        elite = the n_elite samples with the HIGHEST scores
        mean, std = elite.mean(axis=0), elite.std(axis=0)            (std with ddof = 0)

    Returns (the final mean, the final std, the mean score of the elite at each iteration).
    """
    raise NotImplementedError("cross_entropy_method")


if MAIN:
    check(cross_entropy_method)


# %% [markdown]
# ## A two-state MDP and the exact value of a softmax policy


# %%
def two_state_mdp() -> tuple[
    Float[np.ndarray, "S A S"], Float[np.ndarray, "S A"], Bool[np.ndarray, " S"], Float[np.ndarray, " S"]
]:
    """(P, R, terminal, p0) of a small MDP: states 0 and 1, and state 2 terminal; two actions.
    In state 0, action 0 earns 1 and mostly stays, action 1 earns nothing and mostly moves
    to state 1; in state 1, action 0 costs 1 and goes back, action 1 earns 2 and mostly
    stays. Every step ends the episode with probability 0.1 to 0.2. Episodes start in
    state 0. (Given.)"""
    P = np.zeros((3, 2, 3))
    P[0, 0] = [0.8, 0.1, 0.1]
    P[0, 1] = [0.1, 0.8, 0.1]
    P[1, 0] = [0.7, 0.1, 0.2]
    P[1, 1] = [0.1, 0.7, 0.2]
    P[2, :, 2] = 1.0  # the terminal state absorbs
    R = np.array([[1.0, 0.0], [-1.0, 2.0], [0.0, 0.0]])
    return P, R, np.array([False, False, True]), np.array([1.0, 0.0, 0.0])


def sample_episode(
    P: np.ndarray,
    R: np.ndarray,
    terminal: np.ndarray,
    p0: np.ndarray,
    policy: np.ndarray,
    rng: np.random.Generator,
    max_steps: int = 200,
) -> Episode:
    """One episode of `policy` ((S, A) probabilities) in the MDP: s_0 = rng.choice(S, p=p0),
    then at each step a = rng.choice(A, p=policy[s]), s' = rng.choice(S, p=P[s, a]),
    reward R[s, a], until s' is terminal or max_steps steps. Returns (states, actions,
    rewards) like part 2's run_episode. (Given.)"""
    S, A = R.shape
    states, actions, rewards = [int(rng.choice(S, p=p0))], [], []
    for _ in range(max_steps):
        s = states[-1]
        a = int(rng.choice(A, p=policy[s]))
        states.append(int(rng.choice(S, p=P[s, a])))
        actions.append(a)
        rewards.append(float(R[s, a]))
        if terminal[states[-1]]:
            break
    return np.array(states), np.array(actions), np.array(rewards)


# %%
def softmax_policy(theta: Float[np.ndarray, "S A"]) -> Float[np.ndarray, "S A"]:
    """pi(a | s) = exp(theta[s, a]) / sum_b exp(theta[s, b]): a softmax over each row,
    computed without overflow for any finite theta (entries of 1000 included)."""
    raise NotImplementedError("softmax_policy")


if MAIN:
    check(softmax_policy)


# %%
def log_policy_gradient(
    theta: Float[np.ndarray, "S A"], s: int | np.integer, a: int | np.integer
) -> Float[np.ndarray, "S A"]:
    """The score function: the gradient of log pi(a | s) with respect to theta, an (S, A)
    array. Only row s is non-zero: onehot(a) − pi(. | s)."""
    raise NotImplementedError("log_policy_gradient")


if MAIN:
    check(log_policy_gradient)


# %%
def expected_return(
    theta: Float[np.ndarray, "S A"],
    P: Float[np.ndarray, "S A S"],
    R: Float[np.ndarray, "S A"],
    terminal: Bool[np.ndarray, " S"],
    gamma: float,
    p0: Float[np.ndarray, " S"],
) -> float:
    """J(theta) = sum_s p0[s] v(s), the exact expected discounted return of the softmax
    policy pi = softmax_policy(theta), from the Bellman equation solved as a linear system:

        P_pi[s, s'] = sum_a pi(a|s) P[s, a, s'],   r_pi[s] = sum_a pi(a|s) R[s, a]
        (I − gamma P_pi) v = r_pi,  with the rows of terminal states replaced by v(s) = 0.

    Works for gamma = 1 as long as every policy ends its episodes. A Python float."""
    raise NotImplementedError("expected_return")


if MAIN:
    check(expected_return)


# %% [markdown]
# ## REINFORCE with a baseline


# %%
def reinforce_gradient(
    theta: Float[np.ndarray, "S A"], episodes: list[Episode], gamma: float, baseline: Float[np.ndarray, " S"]
) -> Float[np.ndarray, "S A"]:
    """The REINFORCE estimate of the gradient of J(theta) from episodes of softmax_policy(theta):

        (1 / N) sum over the N episodes of  sum_t gamma^t (G_t − baseline[s_t]) grad log pi(a_t | s_t)

    with G_t = r_{t+1} + gamma r_{t+2} + … the return from step t of that episode and
    baseline a function of the state only. An (S, A) array."""
    raise NotImplementedError("reinforce_gradient")


if MAIN:
    check(reinforce_gradient)


# %%
def reinforce(
    theta: Float[np.ndarray, "S A"],
    P: Float[np.ndarray, "S A S"],
    R: Float[np.ndarray, "S A"],
    terminal: Bool[np.ndarray, " S"],
    gamma: float,
    p0: Float[np.ndarray, " S"],
    n_iters: int,
    batch_size: int,
    lr: float,
    rng: np.random.Generator,
) -> tuple[Float[np.ndarray, "S A"], Float[np.ndarray, " n_iters"]]:
    """REINFORCE with a learned state-value baseline, by gradient ascent on J.

    The baseline b starts at zeros (S,). Each iteration:

        episodes = batch_size calls of sample_episode(P, R, terminal, p0, softmax_policy(theta), rng)
        theta = theta + lr * reinforce_gradient(theta, episodes, gamma, b)
        for every state s visited in the batch: b[s] = the mean of the returns G_t of all
            the steps t (of all the episodes) taken from s              (states not visited keep b)

    so the baseline of an iteration comes from the episodes before it. Returns (theta, the
    mean over the batch of the return G_0 at each iteration, (n_iters,)).
    """
    raise NotImplementedError("reinforce")


if MAIN:
    check(reinforce)


# %%
if MAIN:
    P, R, terminal, p0 = two_state_mdp()
    theta0 = np.zeros((3, 2))
    best = max(
        expected_return(np.array(t, float).reshape(3, 2) * 20, P, R, terminal, 0.9, p0)
        for t in [[1, 0, 1, 0, 0, 0], [1, 0, 0, 1, 0, 0], [0, 1, 1, 0, 0, 0], [0, 1, 0, 1, 0, 0]]
    )
    print(
        f"J of the uniform policy {expected_return(theta0, P, R, terminal, 0.9, p0):.3f},",
        f"of the best deterministic one {best:.3f}",
    )
    theta, history = reinforce(theta0, P, R, terminal, 0.9, p0, 100, 20, 0.1, np.random.default_rng(0))
    print(f"after REINFORCE: J = {expected_return(theta, P, R, terminal, 0.9, p0):.3f}")
    mean, std, elite = cross_entropy_method(
        lambda x: expected_return(x.reshape(3, 2), P, R, terminal, 0.9, p0),
        np.zeros(6),
        np.ones(6),
        20,
        40,
        8,
        np.random.default_rng(0),
    )
    print(
        "after the cross-entropy method: J =",
        round(expected_return(mean.reshape(3, 2), P, R, terminal, 0.9, p0), 3),
    )
    print(
        "wrote",
        line_chart(
            {"REINFORCE (mean G_0 of each batch)": history},
            "reinforce.svg",
            "REINFORCE on the two-state MDP",
            "iteration",
            "return",
        ),
    )
