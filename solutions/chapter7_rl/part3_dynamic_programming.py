# %% [markdown]
# # Chapter 7, part 3: dynamic programming, planning with a known model
#
# Reading: chapters/chapter7_rl/part3_dynamic_programming.md
#
# Fill in each function, then run the cell below it: `check(fn)` runs that exercise's
# tests here and prints a verdict. `python -m grader chapter7/part3` grades the file.
#
# Given the model of an MDP, compute the value of a policy and an optimal policy, using
# the Bellman equations:
#
#     V_π(s) = Σ_a π(a|s) [ R(s, a) + γ Σ_s' P(s'|s, a) V_π(s') ]        (expectation)
#     V*(s)  = max_a      [ R(s, a) + γ Σ_s' P(s'|s, a) V*(s') ]          (optimality)
#
# Conventions: P (S, A, S) with P[s, a, s'] = P(s'|s, a), R (S, A) the expected reward,
# terminal states absorb with reward 0; a policy is an (S, A) array of probabilities; V is
# (S,) and Q (S, A), float64. Every function works on all states at once: no Python loop
# over states (a loop over sweeps or iterations is the algorithm).

# %%
from __future__ import annotations

import time

import numpy as np
from chapter7_rl.part2_gridworld import GridWorld, render
from jaxtyping import Float, Int

from grader.check import check

MAIN = __name__ == "__main__"


def random_mdp(n_states: int, n_actions: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """A random MDP (P, R) for experiments: each P[s, a] a Dirichlet(1, …, 1) draw, R standard
    normal. (Given.)"""
    g = np.random.default_rng(seed)
    return g.dirichlet(np.ones(n_states), size=(n_states, n_actions)), g.normal(size=(n_states, n_actions))


# %% [markdown]
# ## Evaluating a policy


# %%
def q_from_v(
    P: Float[np.ndarray, "S A S"], R: Float[np.ndarray, "S A"], V: Float[np.ndarray, " S"], gamma: float
) -> Float[np.ndarray, "S A"]:
    """The one-step lookahead: Q[s, a] = R[s, a] + gamma * Σ_s' P[s, a, s'] V[s']."""
    # BEGIN SOLUTION
    return R + gamma * (P @ V)  # (S, A, S) @ (S,) sums over the last axis, s'
    # END SOLUTION


if MAIN:
    check(q_from_v)


# %%
def policy_evaluation_exact(
    P: Float[np.ndarray, "S A S"], R: Float[np.ndarray, "S A"], policy: Float[np.ndarray, "S A"], gamma: float
) -> Float[np.ndarray, " S"]:
    """V_π by solving the Bellman expectation equation as a linear system:

        (I − γ P_π) V = R_π,   P_π[s, s'] = Σ_a π(a|s) P[s, a, s'],   R_π[s] = Σ_a π(a|s) R[s, a].

    Needs gamma < 1 (with gamma = 1 the absorbing states make I − P_π singular)."""
    # BEGIN SOLUTION
    P_pi = np.einsum("sa,sat->st", policy, P)
    R_pi = (policy * R).sum(axis=1)
    return np.linalg.solve(np.eye(len(R)) - gamma * P_pi, R_pi)
    # END SOLUTION


if MAIN:
    check(policy_evaluation_exact)


# %%
def policy_evaluation(
    P: Float[np.ndarray, "S A S"],
    R: Float[np.ndarray, "S A"],
    policy: Float[np.ndarray, "S A"],
    gamma: float,
    tol: float = 1e-10,
    max_sweeps: int = 10_000,
) -> tuple[Float[np.ndarray, " S"], int]:
    """V_π by iterating the Bellman expectation backup from V = 0:

        V_new[s] = Σ_a π(a|s) (R[s, a] + γ Σ_s' P[s, a, s'] V[s'])     (all states at once)

    until a sweep changes no value by tol or more (max |V_new − V| < tol), or max_sweeps.
    Returns (V, sweeps): the last V_new and the number of sweeps done. Its error is then
    at most tol · γ / (1 − γ); with gamma = 1 it converges when every state reaches a
    terminal state."""
    # BEGIN SOLUTION
    V = np.zeros(len(R))
    sweeps = 0
    while sweeps < max_sweeps:
        V_new = (policy * q_from_v(P, R, V, gamma)).sum(axis=1)
        delta = np.abs(V_new - V).max()
        V, sweeps = V_new, sweeps + 1
        if delta < tol:
            break
    return V, sweeps
    # END SOLUTION


if MAIN:
    check(policy_evaluation)


# %% [markdown]
# ## Improving it


# %%
def greedy_policy(Q: Float[np.ndarray, "S A"]) -> Float[np.ndarray, "S A"]:
    """The deterministic policy that takes argmax_a Q[s, a] in every state, as a one-hot
    (S, A) float64 array; ties go to the lowest action (as np.argmax does)."""
    # BEGIN SOLUTION
    return np.eye(Q.shape[1])[Q.argmax(axis=1)]
    # END SOLUTION


if MAIN:
    check(greedy_policy)


# %%
def policy_iteration(
    P: Float[np.ndarray, "S A S"], R: Float[np.ndarray, "S A"], gamma: float, max_iterations: int = 1000
) -> tuple[Float[np.ndarray, "S A"], Float[np.ndarray, " S"], int]:
    """Howard's policy iteration, from the policy that always takes action 0: evaluate the
    policy exactly (policy_evaluation_exact), make it greedy with respect to its values
    (greedy_policy of q_from_v), and repeat until the greedy policy is the policy itself
    (then it is optimal), or max_iterations evaluations. gamma < 1.

    Returns (policy, V, iterations): the final policy, its values, and how many policies
    were evaluated."""
    # BEGIN SOLUTION
    policy = np.eye(P.shape[1])[np.zeros(len(R), dtype=int)]
    iterations = 0
    while True:
        V = policy_evaluation_exact(P, R, policy, gamma)
        iterations += 1
        improved = greedy_policy(q_from_v(P, R, V, gamma))
        if np.array_equal(improved, policy) or iterations == max_iterations:
            return policy, V, iterations
        policy = improved
    # END SOLUTION


if MAIN:
    check(policy_iteration)


# %% [markdown]
# ## Value iteration


# %%
def value_iteration(
    P: Float[np.ndarray, "S A S"],
    R: Float[np.ndarray, "S A"],
    gamma: float,
    tol: float = 1e-8,
    max_sweeps: int = 10_000,
) -> tuple[Float[np.ndarray, " S"], Float[np.ndarray, "S A"], int]:
    """Value iteration from V = 0: V_new[s] = max_a (R[s, a] + γ Σ_s' P[s, a, s'] V[s'])
    (all states at once), until max |V_new − V| < tol or max_sweeps.

    Returns (V, policy, sweeps): the last V_new, greedy_policy(q_from_v(P, R, V, gamma)) of
    that V, and the number of sweeps done."""
    # BEGIN SOLUTION
    V = np.zeros(len(R))
    sweeps = 0
    while sweeps < max_sweeps:
        V_new = q_from_v(P, R, V, gamma).max(axis=1)
        delta = np.abs(V_new - V).max()
        V, sweeps = V_new, sweeps + 1
        if delta < tol:
            break
    return V, greedy_policy(q_from_v(P, R, V, gamma)), sweeps
    # END SOLUTION


if MAIN:
    check(value_iteration)


# %%
def value_iteration_compact(
    next_states: Int[np.ndarray, "S A K"],
    probs: Float[np.ndarray, "S A K"],
    R: Float[np.ndarray, "S A"],
    gamma: float,
    tol: float = 1e-8,
    max_sweeps: int = 10_000,
) -> tuple[Float[np.ndarray, " S"], Int[np.ndarray, " S"], int]:
    """value_iteration on the compact model of GridWorld.successors(): from state s under
    action a the next state is next_states[s, a, k] with probability probs[s, a, k], so

        V_new[s] = max_a (R[s, a] + γ Σ_k probs[s, a, k] V[next_states[s, a, k]]).

    Same stopping rule as value_iteration. Returns (V, actions, sweeps) with actions[s] the
    greedy action of the final V (lowest on ties), int64. Memory is O(S·A·K), so a
    100 × 100 grid (10^4 states) takes well under a second."""
    # BEGIN SOLUTION
    # Axes (K, A, S): NumPy sums or maximises over a LEADING axis row by row, at full speed,
    # but over a short trailing axis (length 4 here) element by element, about 5x slower.
    next_kas = np.ascontiguousarray(next_states.transpose(2, 1, 0))
    probs_kas = np.ascontiguousarray(probs.transpose(2, 1, 0))
    R_as = np.ascontiguousarray(R.T)
    V = np.zeros(len(R))
    sweeps = 0
    while sweeps < max_sweeps:
        # V[next_kas] gathers the values of the possible next states; the sum over k is
        # the expectation E[V(s')] for every (a, s); Q is (A, S).
        Q = R_as + gamma * (probs_kas * V[next_kas]).sum(axis=0)
        V_new = Q.max(axis=0)
        delta = np.abs(V_new - V).max()
        V, sweeps = V_new, sweeps + 1
        if delta < tol:
            break
    Q = R_as + gamma * (probs_kas * V[next_kas]).sum(axis=0)
    return V, Q.argmax(axis=0).astype(np.int64), sweeps
    # END SOLUTION


if MAIN:
    check(value_iteration_compact)


# %% [markdown]
# ## Planning in a grid world

# %%
if MAIN:
    world = GridWorld(["S...#....", ".##.#.##.", "....#..#.", ".#......G"], slip=0.1)
    P_w, R_w, _ = world.model()
    V_w, pi_w, sweeps_w = value_iteration(P_w, R_w, gamma=0.95)
    print(f"value iteration: {sweeps_w} sweeps; V(start) = {V_w[world.start]:.3f}")
    print(render(world, policy=pi_w))
    big = GridWorld(["S" + "." * 99] + ["." * 100] * 98 + ["." * 99 + "G"], slip=0.1)
    t0 = time.perf_counter()
    V_big, _, sweeps_big = value_iteration_compact(*big.successors(), gamma=0.99)
    print(f"100 x 100 grid: {sweeps_big} sweeps in {time.perf_counter() - t0:.2f} s")
