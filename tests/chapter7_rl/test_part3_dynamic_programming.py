"""Tests for chapter 7, part 3: policy evaluation, policy iteration and value iteration.

Expected values come from this file: random MDPs (Dirichlet transitions, normal rewards)
whose policy values are solved exactly with np.linalg.solve from P_π and R_π built by
loops over states and actions; optimal values by brute force, evaluating every
deterministic policy exactly and taking the best value of each state (an optimal policy
is best in every state at once); sweep counts by replaying the documented iteration; and
grid worlds (the cliff, a world with slip) whose models are built here cell by cell.
"""

import itertools

import numpy as np

from grader.testkit import Call, exercise, expect, expect_close, expect_equal, rng, run


def _mdp(seed, S=6, A=3):
    g = rng(seed)
    return g.dirichlet(np.ones(S), size=(S, A)), g.normal(size=(S, A))


def _random_policy(seed, S, A):
    return rng(seed).dirichlet(np.ones(A), size=S)


def _pi_model(P, R, policy, weights="policy"):
    S, A = R.shape
    P_pi, R_pi = np.zeros((S, S)), np.zeros(S)
    for s in range(S):
        for a in range(A):
            w = policy[s, a] if weights == "policy" else 1.0 / A
            P_pi[s] += w * P[s, a]
            R_pi[s] += w * R[s, a]
    return P_pi, R_pi


def _v_exact(P, R, policy, gamma, weights="policy", transpose=False):
    P_pi, R_pi = _pi_model(P, R, policy, weights)
    return np.linalg.solve(np.eye(len(R_pi)) - gamma * (P_pi.T if transpose else P_pi), R_pi)


def _q(P, R, V, gamma):
    S, A = R.shape
    return np.array(
        [[R[s, a] + gamma * sum(P[s, a, t] * V[t] for t in range(S)) for a in range(A)] for s in range(S)]
    )


def _v_star(P, R, gamma):
    """max over all deterministic policies of their exact values, state by state."""
    S, A = R.shape
    best = np.full(S, -np.inf)
    for actions in itertools.product(range(A), repeat=S):
        best = np.maximum(best, _v_exact(P, R, np.eye(A)[list(actions)], gamma))
    return best


def _sweeps(P, R, gamma, tol, backup):
    """Replays the documented loop: V from 0, stop when max |V_new - V| < tol."""
    V, n = np.zeros(len(R)), 0
    while True:
        n += 1
        V_new = backup(R + gamma * np.einsum("sat,t->sa", P, V))
        delta = np.abs(V_new - V).max()
        V = V_new
        if delta < tol:
            return V, n


def _grid_model(layout, slip=0.0, rewards=(-1.0, -1.0, -100.0)):
    """Dense (P, R) of a layout (S start, G goal, C cliff, # wall), as part 2 defines it."""
    height, width = len(layout), len(layout[0])
    cells = np.array([list(r) for r in layout]).ravel()
    start, S = int(np.flatnonzero(cells == "S")[0]), height * width
    P, R = np.zeros((S, 4, S)), np.zeros((S, 4))
    for s in range(S):
        for a in range(4):
            if cells[s] in "G#C":
                P[s, a, s] = 1.0
                continue
            for b in range(4):
                p = (1 - slip) * (a == b) + slip / 4
                row, col = divmod(s, width)
                row, col = row + [-1, 0, 1, 0][b], col + [0, 1, 0, -1][b]
                t = row * width + col if 0 <= row < height and 0 <= col < width else s
                t = s if cells[t] == "#" else t
                r = rewards[2] if cells[t] == "C" else rewards[1] if cells[t] == "G" else rewards[0]
                P[s, a, start if cells[t] == "C" else t] += p
                R[s, a] += p * r
    return P, R


CLIFF = ["." * 12] * 3 + ["S" + "C" * 10 + "G"]


# ---------------------------------------------------------------------------------- q_from_v


@exercise("q_from_v")
def test_q_from_v_is_the_one_step_lookahead(impl):
    P, R = _mdp(0, S=5, A=3)
    V = rng(1).normal(size=5)
    gamma = 0.9
    expect_close(
        run(impl.q_from_v, P, R, V, gamma),
        _q(P, R, V, gamma),
        mistakes={
            "forget the discount γ": _q(P, R, V, 1.0),
            "leave out the immediate reward R": _q(P, R, V, gamma) - R,
            "sum over the wrong axis of P (P[s', a, s] instead of P[s, a, s'])": R
            + gamma * np.einsum("tas,t->sa", P, V),
        },
    )


@exercise("q_from_v")
def test_q_from_v_with_more_actions_than_states(impl):
    P, R = _mdp(2, S=2, A=5)
    V = np.array([3.0, -1.0])
    expect_close(run(impl.q_from_v, P, R, V, 0.5), _q(P, R, V, 0.5))


@exercise("q_from_v")
def test_averaging_q_over_the_policy_gives_back_its_values(impl):
    P, R = _mdp(3, S=8, A=4)
    policy = _random_policy(4, 8, 4)
    V = _v_exact(P, R, policy, 0.8)
    Q = run(impl.q_from_v, P, R, V, 0.8)
    expect_close(
        Call((policy * Q.value).sum(axis=1), f"Σ_a π(a|s) {Q}[s, a]"),
        V,
        what="the Bellman expectation equation: V_π(s) = Σ_a π(a|s) Q_π(s, a)",
    )


# ----------------------------------------------------------------------- policy_evaluation_exact


@exercise("policy_evaluation_exact")
def test_exact_evaluation_of_a_stochastic_policy(impl):
    P, R = _mdp(5, S=7, A=3)
    policy = _random_policy(6, 7, 3)
    expect_close(
        run(impl.policy_evaluation_exact, P, R, policy, 0.9),
        _v_exact(P, R, policy, 0.9),
        mistakes={
            "average over the actions uniformly instead of weighting them by π": _v_exact(
                P, R, policy, 0.9, weights="uniform"
            ),
            "solve with P_π transposed": _v_exact(P, R, policy, 0.9, transpose=True),
        },
    )


@exercise("policy_evaluation_exact")
def test_exact_evaluation_by_hand(impl):
    # state 0: action 0 stays (reward 1), action 1 moves to the absorbing state 1 (reward 5).
    P = np.zeros((2, 2, 2))
    P[0, 0, 0] = P[0, 1, 1] = P[1, :, 1] = 1.0
    R = np.array([[1.0, 5.0], [0.0, 0.0]])
    stay = np.array([[1.0, 0.0], [1.0, 0.0]])
    half = np.array([[0.5, 0.5], [0.5, 0.5]])
    # staying: V(0) = 1 / (1 − γ) = 4; half and half: V(0) = 3 + 0.75 · 0.5 · V(0), so V(0) = 3 / 0.625
    expect_close(run(impl.policy_evaluation_exact, P, R, stay, 0.75), np.array([4.0, 0.0]))
    expect_close(run(impl.policy_evaluation_exact, P, R, half, 0.75), np.array([3.0 / 0.625, 0.0]))


@exercise("policy_evaluation_exact")
def test_exact_evaluation_satisfies_the_bellman_equation(impl):
    P, R = _mdp(7, S=40, A=4)
    policy = _random_policy(8, 40, 4)
    V = run(impl.policy_evaluation_exact, P, R, policy, 0.95)
    P_pi, R_pi = _pi_model(P, R, policy)
    expect_close(Call(R_pi + 0.95 * P_pi @ V.value, f"R_π + γ P_π {V}"), V.value, rtol=1e-9, atol=1e-9)


# ---------------------------------------------------------------------------- policy_evaluation


@exercise("policy_evaluation")
def test_iterative_evaluation_converges_to_the_exact_values(impl):
    P, R = _mdp(9, S=6, A=3)
    policy = _random_policy(10, 6, 3)
    call = run(impl.policy_evaluation, P, R, policy, 0.9, tol=1e-10)
    expect(isinstance(call.value, tuple) and len(call.value) == 2, f"{call}: expected a tuple (V, sweeps)")
    _, R_pi = _pi_model(P, R, policy)
    expect_close(
        Call(call.value[0], f"{call}[0]"),
        _v_exact(P, R, policy, 0.9),
        atol=1e-8,
        what="within tol · γ / (1 − γ) = 9e-10 of the exact solution (the test allows 1e-8)",
        mistakes={"stop after the first sweep": R_pi},
    )


@exercise("policy_evaluation")
def test_iterative_evaluation_sweeps_all_states_at_once(impl):
    P, R = _mdp(11, S=5, A=2)
    policy = _random_policy(12, 5, 2)
    backup = lambda Q: (policy * Q).sum(axis=1)  # noqa: E731
    V, n = _sweeps(P, R, 0.7, 1e-6, backup)
    call = run(impl.policy_evaluation, P, R, policy, 0.7, tol=1e-6)
    expect_equal(
        Call(call.value[1], f"{call}[1], the number of sweeps"),
        n,
        what="each sweep computes V_new from the previous V for every state; stop once max |V_new − V| < tol",
    )
    expect_close(Call(call.value[0], f"{call}[0]"), V, rtol=1e-12, atol=1e-12, what="the last V_new")


@exercise("policy_evaluation")
def test_iterative_evaluation_undiscounted_on_the_cliff(impl):
    P, R = _grid_model(CLIFF)
    policy = np.zeros((48, 4))
    policy[:, 1] = 1.0  # right along the top row ...
    policy[36] = [1.0, 0.0, 0.0, 0.0]  # ... after going up from the start
    policy[[11, 23, 35], :] = [0.0, 0.0, 1.0, 0.0]  # and down the last column
    call = run(impl.policy_evaluation, P, R, policy, 1.0, tol=1e-10)
    V = call.value[0]
    expect_close(
        Call(V[[36, 24, 0, 11, 35, 47]], f"{call}[0] at the start, 24, 0, 11, 35 and the goal"),
        np.array([-13.0, -12.0, -14.0, -3.0, -1.0, 0.0]),
        what="with γ = 1 the value is minus the number of steps to the goal",
    )


@exercise("policy_evaluation")
def test_iterative_evaluation_stops_only_below_tol(impl):
    P, R = np.ones((1, 1, 1)), np.ones((1, 1))  # V_k = 2 - 2^(1-k) with gamma 1/2: changes 1, 1/2, 1/4, ...
    call = run(impl.policy_evaluation, P, R, np.ones((1, 1)), 0.5, tol=0.25)
    expect_equal(
        Call(call.value[1], f"{call}[1], sweeps"),
        4,
        what="changes 1, 0.5, 0.25, 0.125 (exact in binary): the first below tol = 0.25 is the fourth",
    )


@exercise("policy_evaluation")
def test_iterative_evaluation_stops_after_max_sweeps(impl):
    P, R = _mdp(21, S=4, A=2)
    policy = _random_policy(22, 4, 2)
    V = np.zeros(4)
    for _ in range(3):
        V = (policy * (R + 0.9 * np.einsum("sat,t->sa", P, V))).sum(axis=1)
    call = run(impl.policy_evaluation, P, R, policy, 0.9, tol=1e-12, max_sweeps=3)
    expect_equal(Call(call.value[1], f"{call}[1], sweeps"), 3, what="max_sweeps=3 stops after 3 sweeps")
    expect_close(Call(call.value[0], f"{call}[0], V"), V, what="three backups from V = 0")


# -------------------------------------------------------------------------------- greedy_policy


@exercise("greedy_policy")
def test_greedy_policy_is_one_hot_on_the_argmax(impl):
    Q = rng(13).normal(size=(6, 4))
    want = np.eye(4)[Q.argmax(axis=1)]
    call = run(impl.greedy_policy, Q)
    expect(
        isinstance(call.value, np.ndarray) and call.value.shape == (6, 4),
        f"{call}: expected an (S, A) = (6, 4) one-hot array, got {getattr(call.value, 'shape', call.value)}",
    )
    expect_close(call, want, mistakes={"take the argmin": np.eye(4)[Q.argmin(axis=1)]})


@exercise("greedy_policy")
def test_greedy_policy_breaks_ties_towards_the_lowest_action(impl):
    Q = np.array([[1.0, 2.0, 2.0], [0.0, 0.0, 0.0], [-1.0, -3.0, -1.0]])
    expect_close(
        run(impl.greedy_policy, Q),
        np.array([[0.0, 1.0, 0.0], [1.0, 0.0, 0.0], [1.0, 0.0, 0.0]]),
        mistakes={
            "break ties towards the highest action": np.array(
                [[0.0, 0.0, 1.0], [0.0, 0.0, 1.0], [0.0, 0.0, 1.0]]
            ),
            "share the probability among tied actions": np.array(
                [[0.0, 0.5, 0.5], [1 / 3, 1 / 3, 1 / 3], [0.5, 0.0, 0.5]]
            ),
        },
    )


@exercise("greedy_policy")
def test_greedy_policy_of_an_optimal_q_is_optimal(impl):
    P, R = _mdp(14, S=5, A=3)
    V_star = _v_star(P, R, 0.9)
    policy = run(impl.greedy_policy, _q(P, R, V_star, 0.9))
    expect_close(
        Call(_v_exact(P, R, policy.value, 0.9), f"the value of {policy}"),
        V_star,
        rtol=1e-9,
        what="acting greedily on Q* is optimal",
    )


# ----------------------------------------------------------------------------- policy_iteration


@exercise("policy_iteration")
def test_policy_iteration_finds_the_optimal_values(impl):
    for seed, gamma in [(15, 0.9), (16, 0.5)]:
        P, R = _mdp(seed, S=6, A=3)
        call = run(impl.policy_iteration, P, R, gamma)
        expect(
            isinstance(call.value, tuple) and len(call.value) == 3,
            f"{call}: expected (policy, V, iterations)",
        )
        policy, V, _ = call.value
        V_star = _v_star(P, R, gamma)
        expect_close(
            Call(V, f"{call}[1], V"),
            V_star,
            rtol=1e-9,
            what="V* (best of all 729 policies)",
            mistakes={
                "stop after the first evaluation (the values of always taking action 0)": _v_exact(
                    P, R, np.eye(3)[np.zeros(6, dtype=int)], gamma
                )
            },
        )
        expect_close(
            Call(_v_exact(P, R, policy, gamma), f"the value of {call}[0], the policy"),
            V_star,
            rtol=1e-9,
        )


@exercise("policy_iteration")
def test_policy_iteration_counts_the_policies_it_evaluates(impl):
    P, R = _mdp(17, S=6, A=4)
    policy, n = np.eye(4)[np.zeros(6, dtype=int)], 0
    while True:
        n += 1
        new = np.eye(4)[_q(P, R, _v_exact(P, R, policy, 0.9), 0.9).argmax(axis=1)]
        if np.array_equal(new, policy):
            break
        policy = new
    call = run(impl.policy_iteration, P, R, 0.9)
    expect_equal(
        Call(call.value[2], f"{call}[2], iterations"),
        n,
        what="from the policy that always takes action 0, one evaluation per iteration, the last "
        "one the evaluation after which the greedy policy does not change",
    )


@exercise("policy_iteration")
def test_policy_iteration_stops_after_max_iterations(impl):
    P, R = _mdp(24, S=5, A=3)
    always_0 = np.eye(3)[np.zeros(5, dtype=int)]
    call = run(impl.policy_iteration, P, R, 0.9, max_iterations=1)
    expect_equal(Call(call.value[2], f"{call}[2], iterations"), 1)
    expect_close(
        Call(call.value[1], f"{call}[1], V"),
        _v_exact(P, R, always_0, 0.9),
        what="after one evaluation: the values of always taking action 0",
    )


@exercise("policy_iteration")
def test_policy_iteration_on_a_grid_world(impl):
    P, R = _grid_model(["S..#", ".#..", "...G"], slip=0.2, rewards=(-1.0, 10.0, -100.0))
    _, V, _ = run(impl.policy_iteration, P, R, 0.9).value
    want, _ = _sweeps(P, R, 0.9, 1e-13, lambda Q: Q.max(axis=1))
    expect_close(Call(V, "policy_iteration(a 3 × 4 slippery grid world)[1], V"), want, rtol=1e-9, atol=1e-9)


# ------------------------------------------------------------------------------ value_iteration


@exercise("value_iteration")
def test_value_iteration_reaches_the_optimal_values(impl):
    P, R = _mdp(18, S=6, A=3)
    call = run(impl.value_iteration, P, R, 0.9, tol=1e-10)
    expect(isinstance(call.value, tuple) and len(call.value) == 3, f"{call}: expected (V, policy, sweeps)")
    V, policy, _ = call.value
    V_star = _v_star(P, R, 0.9)
    expect_close(
        Call(V, f"{call}[0], V"),
        V_star,
        atol=1e-8,
        what="within tol · γ / (1 − γ) of V* (the test allows 1e-8)",
        mistakes={"stop after the first sweep": R.max(axis=1)},
    )
    expect_close(Call(_v_exact(P, R, policy, 0.9), f"the value of {call}[1], the policy"), V_star, rtol=1e-9)


@exercise("value_iteration")
def test_value_iteration_stops_as_documented(impl):
    P, R = _mdp(19, S=5, A=3)
    V, n = _sweeps(P, R, 0.8, 1e-6, lambda Q: Q.max(axis=1))
    call = run(impl.value_iteration, P, R, 0.8, tol=1e-6)
    expect_equal(Call(call.value[2], f"{call}[2], sweeps"), n, what="sweeps until max |V_new − V| < tol")
    expect_close(Call(call.value[0], f"{call}[0], V"), V, rtol=1e-12, atol=1e-12, what="the last V_new")
    expect_close(Call(call.value[1], f"{call}[1], policy"), np.eye(3)[_q(P, R, V, 0.8).argmax(axis=1)])


@exercise("value_iteration")
def test_value_iteration_on_the_cliff(impl):
    P, R = _grid_model(CLIFF)
    V, policy, _ = run(impl.value_iteration, P, R, 1.0).value
    expect_close(
        Call(V[[36, 24, 0, 35]], "value_iteration(the cliff, gamma=1)[0] at the start, 24, 0 and 35"),
        np.array([-13.0, -12.0, -14.0, -1.0]),
        what="minus the number of steps of the shortest path (along the cliff's edge)",
    )
    path, s = [36], 36
    while s != 47 and len(path) < 20:
        s = int(np.flatnonzero(P[s, int(np.argmax(policy[s]))])[0])
        path.append(s)
    expect_equal(
        Call(np.array(path), "the greedy path from the start"), np.array([36] + list(range(24, 36)) + [47])
    )


@exercise("value_iteration")
def test_value_iteration_stops_only_below_tol(impl):
    P, R = np.ones((1, 1, 1)), np.ones((1, 1))  # V_k = 2 - 2^(1-k) with gamma 1/2: changes 1, 1/2, 1/4, ...
    call = run(impl.value_iteration, P, R, 0.5, tol=0.25)
    expect_equal(
        Call(call.value[2], f"{call}[2], sweeps"),
        4,
        what="changes 1, 0.5, 0.25, 0.125 (exact in binary): the first below tol = 0.25 is the fourth",
    )


@exercise("value_iteration")
def test_value_iteration_stops_after_max_sweeps(impl):
    P, R = _mdp(23, S=4, A=3)
    V = np.zeros(4)
    for _ in range(2):
        V = (R + 0.9 * np.einsum("sat,t->sa", P, V)).max(axis=1)
    call = run(impl.value_iteration, P, R, 0.9, tol=1e-12, max_sweeps=2)
    expect_equal(Call(call.value[2], f"{call}[2], sweeps"), 2, what="max_sweeps=2 stops after 2 sweeps")
    expect_close(Call(call.value[0], f"{call}[0], V"), V, what="two backups from V = 0")


# ---------------------------------------------------------------------- value_iteration_compact


def _compact(P):
    """next_states, probs of a dense P, K = the largest number of successors."""
    S, A, _ = P.shape
    K = int((P > 0).sum(axis=2).max())
    nxt, probs = np.zeros((S, A, K), dtype=np.int64), np.zeros((S, A, K))
    for s in range(S):
        for a in range(A):
            t = np.flatnonzero(P[s, a])
            nxt[s, a, : len(t)], probs[s, a, : len(t)] = t, P[s, a, t]
    return nxt, probs


@exercise("value_iteration_compact")
def test_compact_value_iteration_matches_the_dense_one(impl):
    P, R = _grid_model(["S..#.", ".#...", "C..#G"], slip=0.3, rewards=(-1.0, 5.0, -20.0))
    nxt, probs = _compact(P)
    V, n = _sweeps(P, R, 0.9, 1e-8, lambda Q: Q.max(axis=1))
    call = run(impl.value_iteration_compact, nxt, probs, R, 0.9)
    expect(isinstance(call.value, tuple) and len(call.value) == 3, f"{call}: expected (V, actions, sweeps)")

    def summed_over_actions():  # WRONG: the sum over axis 1 (actions) instead of 2 (successors)
        V_wrong = np.zeros(len(R))
        for _ in range(10_000):
            V_new = (R + 0.9 * (probs * V_wrong[nxt]).sum(axis=1)).max(axis=1)
            done, V_wrong = np.abs(V_new - V_wrong).max() < 1e-8, V_new
            if done:
                break
        return V_wrong

    expect_close(
        Call(call.value[0], f"{call}[0], V"),
        V,
        rtol=1e-12,
        atol=1e-12,
        mistakes={
            "sum over the actions instead of the successors (axis 1 instead of 2)": summed_over_actions
        },
    )
    expect_equal(Call(call.value[1], f"{call}[1], actions"), _q(P, R, V, 0.9).argmax(axis=1))
    expect_equal(Call(call.value[2], f"{call}[2], sweeps"), n)


@exercise("value_iteration_compact")
def test_compact_value_iteration_on_a_random_sparse_model(impl):
    g = rng(20)
    S, A, K = 30, 3, 4
    nxt = g.integers(S, size=(S, A, K))
    probs = g.dirichlet(np.ones(K), size=(S, A))
    R = g.normal(size=(S, A))
    P = np.zeros((S, A, S))
    for s, a, k in itertools.product(range(S), range(A), range(K)):
        P[s, a, nxt[s, a, k]] += probs[s, a, k]  # repeated successors add up
    V, _ = _sweeps(P, R, 0.95, 1e-9, lambda Q: Q.max(axis=1))
    call = run(impl.value_iteration_compact, nxt, probs, R, 0.95, tol=1e-9)
    expect_close(Call(call.value[0], f"{call}[0], V"), V, rtol=1e-10, atol=1e-10)
    expect_equal(
        Call(call.value[1], f"{call}[1], actions"),
        _q(P, R, V, 0.95).argmax(axis=1),
        what="the greedy actions of the final V",
    )


@exercise("value_iteration_compact")
def test_compact_value_iteration_stops_after_max_sweeps_and_below_tol(impl):
    # One state that stays, reward 1, gamma 1/2: V_k = 2 - 2^(1-k), changes 1, 1/2, 1/4, ...
    # (exact in binary). With tol = 1/4 the third change equals tol: not below it, so a
    # fourth sweep follows.
    one = (np.zeros((1, 1, 1), dtype=np.int64), np.ones((1, 1, 1)), np.ones((1, 1)))
    call = run(impl.value_iteration_compact, *one, 0.5, tol=0.25)
    expect_equal(
        Call(call.value[2], f"{call}[2], sweeps"),
        4,
        what="changes 1, 0.5, 0.25, 0.125: the first below tol = 0.25 is the fourth",
    )
    call = run(impl.value_iteration_compact, *one, 0.5, tol=1e-12, max_sweeps=2)
    expect_equal(Call(call.value[2], f"{call}[2], sweeps"), 2, what="max_sweeps=2 stops after 2 sweeps")
    expect_close(Call(call.value[0], f"{call}[0], V"), np.array([1.5]), what="two backups from V = 0")


@exercise("value_iteration_compact")
def test_compact_value_iteration_on_a_100_by_100_grid(impl):
    # A 100 × 100 slippery world, built here in compact form (K = 4 directions).
    n = 100
    S = n * n
    row, col = np.divmod(np.arange(S), n)
    target = np.stack(
        [
            np.where(row > 0, np.arange(S) - n, np.arange(S)),
            np.where(col < n - 1, np.arange(S) + 1, np.arange(S)),
            np.where(row < n - 1, np.arange(S) + n, np.arange(S)),
            np.where(col > 0, np.arange(S) - 1, np.arange(S)),
        ],
        axis=1,
    )
    goal = S - 1
    target[goal] = goal
    reward = np.where(target == goal, 0.0, -1.0)
    reward[goal] = 0.0
    p = 0.9 * np.eye(4) + 0.025
    nxt = np.broadcast_to(target[:, None, :], (S, 4, 4)).copy()
    probs = np.broadcast_to(p, (S, 4, 4)).copy()
    R = reward @ p.T
    call = run(impl.value_iteration_compact, nxt, probs, R, 0.99)
    V, actions, _ = call.value
    # Bellman optimality holds at the returned V to within what the stopping rule allows.
    backup = (R + 0.99 * (probs * V[nxt]).sum(axis=2)).max(axis=1)
    expect_close(
        Call(backup, f"the Bellman backup of {call}[0]"),
        V,
        atol=1e-6,
        what="a fixed point of V(s) = max_a [R(s, a) + γ E V(s')] (every state at once: a Python loop "
        "over the 10,000 states is too slow for this test's time limit)",
    )
    expect(V[goal] == 0.0 and -100 < V[0] < -80, f"{call}: V(start) = {V[0]:.4g}, V(goal) = {V[goal]:.4g}")
