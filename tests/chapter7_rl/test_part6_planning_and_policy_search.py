"""Tests for chapter 7, part 6: Dyna-Q, the cross-entropy method, a softmax policy and its
score-function gradient, the exact expected return of a policy, and REINFORCE with a
baseline.

Expected values come from this file: the loops written out here and replayed draw for draw
on grid worlds and an MDP defined here; the softmax and its log-gradient against central
differences of a log-softmax written here; the expected return against iterative policy
evaluation (a fixed point reached by repeating the Bellman backup); and the REINFORCE
estimate against the exact gradient of the expected return (central differences of this
file's linear solve) within 5 standard errors of the per-episode terms computed here (a
false alarm about once in 10^6 per entry). Training thresholds held on every one of 30
seeds (worst seed at each test). Sizes are not square: 3 states, 2 actions.
"""

import numpy as np

from grader.testkit import Call, exercise, expect, expect_close, numeric_grad, rng, run, run_without_warnings

# ---------------------------------------------------------------------------------------------
# Environments written here

MOVES = [(-1, 0), (0, 1), (1, 0), (0, -1)]


class _Grid:
    """S start, G goal (terminal), C cliff (cliff reward, back to the start), # wall."""

    def __init__(self, layout, step=-1.0, goal=-1.0, cliff=-100.0):
        self.layout, self.h, self.w = layout, len(layout), len(layout[0])
        self.n_states, self.n_actions = self.h * self.w, 4
        self.start = "".join(layout).index("S")
        self.state = self.start
        self.rewards = step, goal, cliff

    def reset(self):
        self.state = self.start
        return self.state

    def step(self, a):
        r, c = divmod(self.state, self.w)
        r2, c2 = r + MOVES[a][0], c + MOVES[a][1]
        if not (0 <= r2 < self.h and 0 <= c2 < self.w) or self.layout[r2][c2] == "#":
            r2, c2 = r, c
        cell = self.layout[r2][c2]
        if cell == "C":
            self.state = self.start
            return self.state, self.rewards[2], False
        self.state = r2 * self.w + c2
        return self.state, self.rewards[1] if cell == "G" else self.rewards[0], cell == "G"


SMALL = ["S.#.G", "..C..", "....."]
MAZE = [".......#G", "..#....#.", "S.#....#.", "..#......", ".....#...", "........."]  # Sutton & Barto's


def _mdp():
    P = np.zeros((3, 2, 3))
    P[0, 0] = [0.8, 0.1, 0.1]
    P[0, 1] = [0.1, 0.8, 0.1]
    P[1, 0] = [0.7, 0.1, 0.2]
    P[1, 1] = [0.1, 0.7, 0.2]
    P[2, :, 2] = 1.0
    R = np.array([[1.0, 0.0], [-1.0, 2.0], [0.0, 0.0]])
    return P, R, np.array([False, False, True]), np.array([1.0, 0.0, 0.0])


def _softmax(theta):
    """Row by row, from the log-sum-exp (an oracle written apart from the exercise)."""
    out = np.empty_like(theta, dtype=np.float64)
    for s, row in enumerate(theta):
        top = row.max()
        out[s] = np.exp(row - (top + np.log(np.exp(row - top).sum())))
    return out


def _J(theta, P, R, terminal, gamma, p0, iterations=None, transpose=False):
    """The exact expected return by a linear solve; by repeated Bellman backups if iterations.
    transpose=True is a WRONG version: P_pi transposed."""
    pi = _softmax(theta)
    S = len(p0)
    P_pi = np.array(
        [[sum(pi[s, a] * P[s, a, t] for a in range(P.shape[1])) for t in range(S)] for s in range(S)]
    )
    r_pi = (pi * R).sum(axis=1)
    for s in range(S):
        if terminal[s]:
            P_pi[s], r_pi[s] = 0.0, 0.0
    if transpose:
        P_pi = P_pi.T
    if iterations:
        v = np.zeros(S)
        for _ in range(iterations):
            v = r_pi + gamma * P_pi @ v
        return float(p0 @ v)
    return float(p0 @ np.linalg.solve(np.eye(S) - gamma * P_pi, r_pi))


def _draw(q_row, eps, g):
    n = len(q_row)
    best = [i for i in range(n) if q_row[i] == max(q_row)]
    probs = [eps / n + ((1 - eps) / len(best) if i in best else 0.0) for i in range(n)]
    u, total = g.random(), 0.0
    for a, p in enumerate(probs):
        total += p
        if u < total:
            return a
    return n - 1


# ---------------------------------------------------------------------------------------------
# dyna_q


def _dyna(
    env, n_episodes, n_planning, alpha, gamma, eps, seed, max_steps=1000, plan_first=False, every=False
):
    g = rng(seed)
    Q = np.zeros((env.n_states, env.n_actions))
    model, seen = {}, []
    steps = np.zeros(n_episodes, dtype=np.int64)

    def update(s, a, r, s2, done):
        Q[s, a] += alpha * (r + (0.0 if done else gamma * Q[s2].max()) - Q[s, a])

    for k in range(n_episodes):
        s = env.reset()
        for _ in range(max_steps):
            a = _draw(Q[s], eps, g)
            s2, r, done = env.step(a)
            steps[k] += 1
            if not plan_first:
                update(s, a, r, s2, done)
            model[(s, a)] = (r, s2, done)
            if every or (s, a) not in seen:
                seen.append((s, a))
            for _ in range(n_planning):
                ps, pa = seen[g.integers(len(seen))]
                update(ps, pa, *model[(ps, pa)])
            if plan_first:
                update(s, a, r, s2, done)
            if done:
                break
            s = s2
    return Q, steps


def _parts(call, shape, n):
    value = call.value
    expect(
        isinstance(value, tuple) and len(value) == 2,
        f"{call}: returned {type(value).__name__}; expected a pair",
    )
    first, second = value
    expect(
        getattr(first, "shape", None) == shape,
        f"{call}: Q has shape {getattr(first, 'shape', None)}, expected {shape}",
    )
    expect(
        getattr(second, "shape", None) == (n,),
        f"{call}: the second result has shape {getattr(second, 'shape', None)}, expected {(n,)}",
    )
    return Call(first, str(call)), Call(second, str(call))


@exercise("dyna_q")
def test_dyna_q_matches_the_loop_written_out(impl):
    args = (12, 3, 0.4, 0.95, 0.3)
    Q, steps = _parts(run(impl.dyna_q, _Grid(SMALL), *args, rng(3), 200), (15, 4), 12)
    want_Q, want_steps = _dyna(_Grid(SMALL), *args, 3, 200)
    expect_close(
        Q,
        want_Q,
        rtol=0,
        atol=1e-12,
        what="Q",
        mistakes={
            "plan before the real step's own update": lambda: _dyna(
                _Grid(SMALL), *args, 3, 200, plan_first=True
            )[0],
            "add a pair to the seen pairs at every visit (so frequent pairs are planned more)": lambda: _dyna(
                _Grid(SMALL), *args, 3, 200, every=True
            )[0],
        },
    )
    expect_close(steps, want_steps, rtol=0, atol=0, what="the number of real steps of each episode")


@exercise("dyna_q")
def test_dyna_q_without_planning_is_q_learning(impl):
    Q, steps = _parts(run(impl.dyna_q, _Grid(SMALL), 8, 0, 0.5, 0.9, 0.2, rng(1), 200), (15, 4), 8)
    expect_close(
        Q,
        _dyna(_Grid(SMALL), 8, 0, 0.5, 0.9, 0.2, 1, 200)[0],
        rtol=0,
        atol=1e-12,
        what="Q with n_planning = 0",
    )
    cut = run(impl.dyna_q, _Grid(["S..#G"]), 2, 2, 0.5, 0.9, 0.2, rng(1), 9)  # the goal is behind a wall
    expect_close(
        _parts(cut, (5, 4), 2)[1],
        np.array([9, 9]),
        rtol=0,
        atol=0,
        what="steps of episodes cut at max_steps = 9",
    )


# Over 30 seeds (15 episodes on Sutton & Barto's maze, reward 1 at the goal and 0 elsewhere,
# alpha 0.1, gamma 0.95, epsilon 0.1) the mean length of episodes 11-15 was 14.6 to 20.2 steps
# with 20 planning steps (worst seed 4; the shortest path is 14), and 35.8 to 211.6 without.
@exercise("dyna_q", timeout=60)
def test_dyna_q_plans_its_way_through_the_maze_in_a_few_episodes(impl):
    env = _Grid(MAZE, step=0.0, goal=1.0)
    _, steps = _parts(run(impl.dyna_q, env, 15, 20, 0.1, 0.95, 0.1, rng(4)), (54, 4), 15)
    late = float(steps.value[10:].mean())
    expect(
        late < 28.0,
        f"{steps}: episodes 11-15 took {late:.1f} steps on average, expected fewer than 28 (the "
        "shortest path is 14; without planning they take 36 to 212)",
    )


# ---------------------------------------------------------------------------------------------
# cross_entropy_method

CENTRE = np.array([1.5, -2.0, 0.5])


def _quadratic(x):
    return -float(np.sum((x - CENTRE) ** 2 * np.array([1.0, 3.0, 0.5])))


def _cem(
    score, mean, std, n_iters, n_samples, n_elite, seed, lowest=False, ddof=0, keep_std=False, everyone=False
):
    g = rng(seed)
    history = np.zeros(n_iters)
    for it in range(n_iters):
        samples = mean + std * g.standard_normal((n_samples, len(mean)))
        scores = np.array([score(x) for x in samples])
        order = np.argsort(scores)
        top = order[:n_elite] if lowest else order[-n_elite:]
        if everyone:
            top = order
        elite = samples[top]
        mean = elite.mean(axis=0)
        if not keep_std:
            std = elite.std(axis=0, ddof=ddof)
        history[it] = scores[top].mean()
    return mean, std, history


@exercise("cross_entropy_method")
def test_cross_entropy_method_matches_the_loop_written_out(impl):
    mean0, std0 = np.zeros(3), np.array([2.0, 1.0, 3.0])
    got = run(impl.cross_entropy_method, _quadratic, mean0, std0, 4, 30, 6, rng(2))
    value = got.value
    expect(isinstance(value, tuple) and len(value) == 3, f"{got}: expected (mean, std, history)")
    want = _cem(_quadratic, mean0, std0, 4, 30, 6, 2)
    wrong = {
        "keep the samples with the LOWEST scores": dict(lowest=True),
        "take the standard deviation with ddof = 1": dict(ddof=1),
        "never update the standard deviation": dict(keep_std=True),
        "average all the samples instead of the elite": dict(everyone=True),
    }
    for i, name in enumerate(["the final mean", "the final std", "the elite's mean score at each iteration"]):
        expect_close(
            Call(value[i], str(got)),
            want[i],
            rtol=1e-10,
            atol=1e-12,
            what=name,
            mistakes={
                k: (lambda kw=kw, i=i: _cem(_quadratic, mean0, std0, 4, 30, 6, 2, **kw)[i])
                for k, kw in wrong.items()
            },
        )


@exercise("cross_entropy_method")
def test_cross_entropy_method_finds_the_top_of_a_quadratic(impl):
    mean, std, history = run(
        impl.cross_entropy_method, _quadratic, np.zeros(3), np.full(3, 3.0), 30, 50, 10, rng(5)
    ).value
    expect(
        float(np.max(np.abs(mean - CENTRE))) < 1e-3,
        f"cross_entropy_method on -sum(w (x - c)^2), c = {CENTRE}: the final mean is {mean}, "
        "expected within 1e-3 of c",
    )
    expect(bool(np.all(std < 1e-3)), f"cross_entropy_method: the final std {std} has not shrunk below 1e-3")
    expect(
        history[-1] > history[0],
        f"cross_entropy_method: the elite's score went from {history[0]} to {history[-1]}",
    )


# Over 30 seeds (20 iterations of 40 samples, 8 elite, from mean 0 and std 1) the reference
# reached J = 5.661 to 5.758 on the two-state MDP (worst seed 0; the best policy: 5.759).
@exercise("cross_entropy_method", timeout=30)
def test_cross_entropy_method_finds_a_good_policy_for_the_two_state_mdp(impl):
    P, R, terminal, p0 = _mdp()

    def score(x):
        return _J(x.reshape(3, 2), P, R, terminal, 0.9, p0)

    mean, _, _ = run(impl.cross_entropy_method, score, np.zeros(6), np.ones(6), 20, 40, 8, rng(0)).value
    J = score(mean)
    expect(
        J > 5.6,
        f"cross_entropy_method on the two-state MDP: J(final mean) = {J:.3f}, expected above 5.6 "
        "(uniform: 2.223)",
    )


# ---------------------------------------------------------------------------------------------
# softmax_policy

THETA = np.array([[0.5, -1.0], [2.0, 0.25], [-0.3, 0.7]])


@exercise("softmax_policy")
def test_softmax_policy_by_hand(impl):
    want = np.exp(THETA) / np.exp(THETA).sum(axis=1, keepdims=True)
    expect_close(
        run(impl.softmax_policy, THETA),
        want,
        mistakes={
            "normalise over the states (axis 0) instead of the actions": np.exp(THETA)
            / np.exp(THETA).sum(axis=0)
        },
    )


@exercise("softmax_policy")
def test_softmax_policy_does_not_overflow(impl):
    # Rows spread over 2000: subtracting the row's minimum instead of its maximum overflows.
    theta = np.array([[1000.0, 999.0, -1000.0], [-1000.0, -1001.0, 1000.0]])
    want = np.array([[1, np.exp(-1), 0.0], [0.0, 0.0, 1.0]])
    want /= want.sum(axis=1, keepdims=True)
    expect_close(run_without_warnings(impl.softmax_policy, theta), want)


@exercise("softmax_policy")
def test_softmax_policy_rows_sum_to_one(impl):
    theta = rng(1).normal(size=(6, 4)) * 3
    got = run(impl.softmax_policy, theta)
    expect_close(Call(got.value.sum(axis=1), f"{got}: row sums"), np.ones(6))
    expect_close(got, _softmax(theta))


# ---------------------------------------------------------------------------------------------
# log_policy_gradient


def _log_pi(theta, s, a):
    row = theta[s]
    return float(row[a] - row.max() - np.log(np.sum(np.exp(row - row.max()))))


@exercise("log_policy_gradient")
def test_log_policy_gradient_against_central_differences(impl):
    theta = rng(3).normal(size=(4, 3))
    for s, a in [(0, 2), (2, 0), (3, 1)]:
        want = numeric_grad(lambda th, s=s, a=a: _log_pi(th, s, a), theta.copy())
        onehot = np.zeros_like(theta)
        onehot[s, a] = 1.0
        pi_row = np.zeros_like(theta)
        pi_row[s] = _softmax(theta)[s]
        expect_close(
            run(impl.log_policy_gradient, theta, s, a),
            want,
            rtol=1e-6,
            atol=1e-8,
            what=f"the gradient of log pi({a} | {s})",
            mistakes={
                "return pi(. | s) - onehot(a) (the sign flipped)": pi_row - onehot,
                "return onehot(a) alone, forgetting the normaliser": onehot,
                "subtract pi(. | s') of every state in its own row": onehot - _softmax(theta),
            },
        )


@exercise("log_policy_gradient")
def test_log_policy_gradient_rows_sum_to_zero_and_large_theta(impl):
    theta = np.array([[800.0, 801.0, -800.0], [0.0, 0.0, 0.0]])
    got = run_without_warnings(impl.log_policy_gradient, theta, np.int64(0), np.int64(0))  # as from arrays
    pi = np.array([np.exp(-1.0), 1.0, 0.0])
    pi /= pi.sum()
    want = np.zeros((2, 3))
    want[0] = np.array([1.0, 0.0, 0.0]) - pi
    expect_close(got, want)


@exercise("log_policy_gradient")
def test_log_policy_gradient_has_mean_zero_under_the_policy(impl):
    # sum_a pi(a|s) grad log pi(a|s) = grad sum_a pi(a|s) = grad 1 = 0: why a baseline is free.
    theta = rng(4).normal(size=(3, 5))
    pi = _softmax(theta)
    for s in range(3):
        grads = [np.asarray(run(impl.log_policy_gradient, theta, s, a).value) for a in range(5)]
        mean = sum(p * g for p, g in zip(pi[s], grads))
        call = Call(mean, f"sum over a of pi(a|{s}) log_policy_gradient(theta[3, 5], {s}, a)")
        expect_close(call, np.zeros((3, 5)), atol=1e-12, what="the expected score")
        other = [r for r in range(3) if r != s]
        for a, g in enumerate(grads):
            expect(
                bool(np.all(g[other] == 0)),
                f"log_policy_gradient(theta[3, 5], {s}, {a}): rows {other} are not zero; only row {s} "
                "of theta touches pi(. | s)",
            )


# ---------------------------------------------------------------------------------------------
# expected_return


@exercise("expected_return")
def test_expected_return_is_the_bellman_fixed_point(impl):
    P, R, terminal, p0 = _mdp()
    for theta in [np.zeros((3, 2)), THETA]:
        for gamma in (0.9, 0.5):
            got = run(impl.expected_return, theta, P, R, terminal, gamma, p0)
            expect_close(
                got,
                _J(theta, P, R, terminal, gamma, p0, iterations=3000),
                rtol=1e-9,
                atol=1e-10,
                what=f"gamma = {gamma}",
                mistakes={
                    "transpose P_pi (v = r_pi + gamma P_pi^T v)": _J(
                        theta, P, R, terminal, gamma, p0, transpose=True
                    ),
                    "return v(s) summed over the states instead of weighted by p0": float(
                        np.linalg.solve(
                            np.eye(3) - gamma * np.einsum("sa,sat->st", _softmax(theta), P) * [[1], [1], [0]],
                            (_softmax(theta) * R).sum(axis=1),
                        ).sum()
                    ),
                },
            )


@exercise("expected_return")
def test_expected_return_by_hand(impl):
    # gamma = 0: only the first reward counts, J = sum_s p0(s) sum_a pi(a|s) R(s, a).
    P, R, terminal, _ = _mdp()
    p0 = np.array([0.25, 0.75, 0.0])
    pi = _softmax(THETA)
    want = 0.25 * (pi[0] @ R[0]) + 0.75 * (pi[1] @ R[1])
    expect_close(run(impl.expected_return, THETA, P, R, terminal, 0.0, p0), np.asarray(want))


@exercise("expected_return")
def test_expected_return_undiscounted_with_a_terminal_state(impl):
    # gamma = 1: I - P_pi is singular unless the terminal state's row is replaced by v = 0.
    P, R, terminal, p0 = _mdp()
    got = run(impl.expected_return, THETA, P, R, terminal, 1.0, p0)
    expect_close(got, _J(THETA, P, R, terminal, 1.0, p0), rtol=1e-9, atol=1e-10)
    expect_close(got, _J(THETA, P, R, terminal, 1.0, p0, iterations=3000), rtol=1e-8, atol=1e-10)


# ---------------------------------------------------------------------------------------------
# reinforce_gradient


def _sample(P, R, terminal, p0, policy, g, max_steps=200):
    S, A = R.shape
    states, actions, rewards = [int(g.choice(S, p=p0))], [], []
    for _ in range(max_steps):
        s = states[-1]
        a = int(g.choice(A, p=policy[s]))
        states.append(int(g.choice(S, p=P[s, a])))
        actions.append(a)
        rewards.append(float(R[s, a]))
        if terminal[states[-1]]:
            break
    return np.array(states), np.array(actions), np.array(rewards)


def _terms(theta, episodes, gamma, baseline, discount_t=True, by_action=False, whole=False):
    """Each episode's term sum_t gamma^t (G_t - b) grad log pi(a_t|s_t), as an (N, S, A) array."""
    pi = _softmax(theta)
    out = np.zeros((len(episodes),) + theta.shape)
    for i, (states, actions, rewards) in enumerate(episodes):
        T = len(rewards)
        G = [sum(gamma**k * rewards[t + k] for k in range(T - t)) for t in range(T)]
        for t in range(T):
            s, a = states[t], actions[t]
            score = -pi[s].copy()
            score[a] += 1.0
            b = baseline[a] if by_action else baseline[s]
            out[i, s] += (gamma**t if discount_t else 1.0) * ((G[0] if whole else G[t]) - b) * score
    return out


@exercise("reinforce_gradient")
def test_reinforce_gradient_matches_the_sum_written_out(impl):
    P, R, terminal, p0 = _mdp()
    g = rng(6)
    episodes = [_sample(P, R, terminal, p0, _softmax(THETA), g) for _ in range(5)]
    baseline = np.array([1.5, -0.5, 0.0])
    want = _terms(THETA, episodes, 0.9, baseline).mean(axis=0)
    expect_close(
        run(impl.reinforce_gradient, THETA, episodes, 0.9, baseline),
        want,
        rtol=1e-9,
        atol=1e-12,
        mistakes={
            "forget the factor gamma^t": lambda: _terms(
                THETA, episodes, 0.9, baseline, discount_t=False
            ).mean(axis=0),
            "index the baseline by the action a_t instead of the state s_t": lambda: _terms(
                THETA, episodes, 0.9, baseline, by_action=True
            ).mean(axis=0),
            "use the whole episode's return G_0 at every step": lambda: _terms(
                THETA, episodes, 0.9, baseline, whole=True
            ).mean(axis=0),
            "forget to subtract the baseline": lambda: _terms(THETA, episodes, 0.9, np.zeros(3)).mean(axis=0),
            "sum over the episodes instead of averaging": lambda: _terms(THETA, episodes, 0.9, baseline).sum(
                axis=0
            ),
        },
    )


@exercise("reinforce_gradient")
def test_reinforce_gradient_of_one_step_by_hand(impl):
    # One episode: s_0 = 1, a_0 = 0, r_1 = 3, then terminal. G_0 = 3, b(1) = 1, so the
    # gradient is (3 - 1) (onehot(0) - pi(.|1)) in row 1 and zero elsewhere.
    episode = (np.array([1, 2]), np.array([0]), np.array([3.0]))
    baseline = np.array([5.0, 1.0, 0.0])
    pi = _softmax(THETA)
    want = np.zeros((3, 2))
    want[1] = 2.0 * (np.array([1.0, 0.0]) - pi[1])
    expect_close(
        run(impl.reinforce_gradient, THETA, [episode], 0.9, baseline),
        want,
        mistakes={
            "index the baseline by the action a_t (baseline[0] = 5) instead of the state s_t": want
            * (3.0 - 5.0)
            / 2.0,
            "forget to subtract the baseline": want * 3.0 / 2.0,
        },
    )


def _exact_gradient(theta, gamma):
    P, R, terminal, p0 = _mdp()
    return numeric_grad(lambda th: _J(th, P, R, terminal, gamma, p0), theta.copy())


@exercise("reinforce_gradient", timeout=30)
def test_reinforce_gradient_is_unbiased_whatever_the_state_baseline(impl):
    # 2,000 episodes; the estimate must be within 5 standard errors of the exact gradient,
    # with no baseline and with a (bad) baseline that is far from the values: a baseline that
    # depends only on the state changes the variance, never the expectation.
    P, R, terminal, p0 = _mdp()
    theta = np.array([[0.3, -0.2], [-0.4, 0.5], [0.0, 0.0]])
    exact = _exact_gradient(theta, 0.9)
    g = rng(11)
    episodes = [_sample(P, R, terminal, p0, _softmax(theta), g) for _ in range(2000)]
    for baseline in (np.zeros(3), np.array([4.0, -3.0, 0.0])):
        terms = _terms(theta, episodes, 0.9, baseline)
        se = terms.std(axis=0) / np.sqrt(len(episodes))
        got = run(impl.reinforce_gradient, theta, episodes, 0.9, baseline)
        value = np.asarray(got.value)
        expect(value.shape == (3, 2), f"{got}: shape {value.shape}, expected (3, 2)")
        off = np.abs(value - exact)
        expect(
            bool(np.all(off[:2] <= 5 * se[:2] + 1e-9)),
            f"{got} with baseline {baseline}: the estimate {np.round(value[:2], 4).tolist()} is off "
            f"the exact gradient {np.round(exact[:2], 4).tolist()} by {np.round(off[:2], 4).tolist()}, "
            f"more than 5 standard errors {np.round(5 * se[:2], 4).tolist()}",
        )


# ---------------------------------------------------------------------------------------------
# reinforce


def _reinforce(theta, n_iters, batch, lr, gamma, seed, by_action=False, fixed_b=False, reset=False):
    P, R, terminal, p0 = _mdp()
    g = rng(seed)
    b = np.zeros((3, 2)) if by_action else np.zeros(3)
    history = np.zeros(n_iters)
    for it in range(n_iters):
        episodes = [_sample(P, R, terminal, p0, _softmax(theta), g) for _ in range(batch)]
        pi = _softmax(theta)
        grad = np.zeros_like(theta)
        total, count = np.zeros(b.shape), np.zeros(b.shape)
        for states, actions, rewards in episodes:
            T = len(rewards)
            G = [sum(gamma**k * rewards[t + k] for k in range(T - t)) for t in range(T)]
            for t in range(T):
                s, a = states[t], actions[t]
                score = -pi[s].copy()
                score[a] += 1.0
                key = (s, a) if by_action else s
                grad[s] += gamma**t * (G[t] - b[key]) * score
                total[key] += G[t]
                count[key] += 1
            history[it] += G[0] / batch
        theta = theta + lr * grad / batch
        if not fixed_b:
            b = np.where(count > 0, total / np.maximum(count, 1), 0.0 if reset else b)
    return theta, history


@exercise("reinforce")
def test_reinforce_matches_the_loop_written_out(impl):
    P, R, terminal, p0 = _mdp()
    got = run(impl.reinforce, np.zeros((3, 2)), P, R, terminal, 0.9, p0, 4, 6, 0.5, rng(2))
    theta, history = _parts(got, (3, 2), 4)
    want_theta, want_history = _reinforce(np.zeros((3, 2)), 4, 6, 0.5, 0.9, 2)
    expect_close(
        theta,
        want_theta,
        rtol=1e-9,
        atol=1e-12,
        what="theta after 4 iterations",
        mistakes={
            "keep a baseline per state AND action (it depends on the action)": lambda: _reinforce(
                np.zeros((3, 2)), 4, 6, 0.5, 0.9, 2, by_action=True
            )[0],
            "never update the baseline from 0": lambda: _reinforce(
                np.zeros((3, 2)), 4, 6, 0.5, 0.9, 2, fixed_b=True
            )[0],
        },
    )
    expect_close(history, want_history, rtol=1e-9, atol=1e-12, what="the mean G_0 of each batch")


@exercise("reinforce")
def test_reinforce_keeps_the_baseline_of_states_a_batch_does_not_visit(impl):
    # Batches of one episode: some never reach state 1, whose baseline must then stay as it was.
    P, R, terminal, p0 = _mdp()
    got = run(impl.reinforce, np.zeros((3, 2)), P, R, terminal, 0.9, p0, 8, 1, 0.5, rng(7))
    theta, _ = _parts(got, (3, 2), 8)
    expect_close(
        theta,
        _reinforce(np.zeros((3, 2)), 8, 1, 0.5, 0.9, 7)[0],
        rtol=1e-9,
        atol=1e-12,
        mistakes={
            "reset the baseline of a state the batch did not visit to 0": lambda: _reinforce(
                np.zeros((3, 2)), 8, 1, 0.5, 0.9, 7, reset=True
            )[0]
        },
    )


@exercise("reinforce")
def test_reinforce_starts_from_the_theta_given(impl):
    P, R, terminal, p0 = _mdp()
    got = run(impl.reinforce, THETA, P, R, terminal, 0.9, p0, 2, 3, 0.2, rng(8))
    theta, _ = _parts(got, (3, 2), 2)
    expect_close(theta, _reinforce(THETA.copy(), 2, 3, 0.2, 0.9, 8)[0], rtol=1e-9, atol=1e-12)


# Over 30 seeds (20 iterations of 10 episodes, lr 0.5, gamma 0.9, from theta = 0) the
# reference's policy reached J = 5.224 to 5.743 (worst seed 6); the uniform policy has 2.223
# and the best one 5.759. (A baseline per state and action, fitted on the previous batch, still
# passes this on seed 6: it is biased, not useless; the replay tests name it.)
@exercise("reinforce", timeout=60)
def test_reinforce_improves_the_policy(impl):
    P, R, terminal, p0 = _mdp()
    got = run(impl.reinforce, np.zeros((3, 2)), P, R, terminal, 0.9, p0, 20, 10, 0.5, rng(6))
    theta, _ = _parts(got, (3, 2), 20)
    J = _J(theta.value, P, R, terminal, 0.9, p0)
    expect(
        J > 5.0,
        f"{got}: the expected return of the final policy is {J:.3f}, expected above 5.0 (uniform: 2.223)",
    )
