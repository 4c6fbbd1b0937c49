"""Tests for chapter 7, part 5: the TD(0), SARSA, expected SARSA and Q-learning updates, TD(0)
prediction from recorded episodes (against Sutton & Barto's random walk, whose values are
known exactly), and the SARSA and Q-learning episode loops, with Sutton & Barto's cliff-walking contrast.

Expected values come from this file: each update is worked out with Python floats on
hand-made transitions (five states, three actions, so a wrong axis or a swapped index
shows), and the loops are written out here and run on grid worlds defined here (a small
grid with a wall and a cliff, and the 4 x 12 cliff), drawing from the generator in the
documented order; the results must agree to 1e-12. The cliff contrast is a property of the
methods: over 30 seeds (500 episodes, alpha 0.5, epsilon 0.1) Q-learning learned the 13-step
route along the cliff's edge on every seed and SARSA on none, and SARSA's mean return while
learning was above Q-learning's on every seed (figures at the tests).
"""

import numpy as np

from grader.testkit import Call, exercise, expect, expect_close, expect_equal, rng, run

# ---------------------------------------------------------------------------------------------
# Grid worlds written here: the chapter's interface (reset, step, n_states, n_actions)

MOVES = [(-1, 0), (0, 1), (1, 0), (0, -1)]  # up, right, down, left


class _Grid:
    """S start, G goal (terminal), C cliff (-100 and back to the start), # wall; -1 a step;
    a move off the grid or into a wall stays put. State = row * width + column."""

    def __init__(self, layout):
        self.layout, self.h, self.w = layout, len(layout), len(layout[0])
        self.n_states, self.n_actions = self.h * self.w, 4
        self.start = "".join(layout).index("S")
        self.state = self.start

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
            return self.state, -100.0, False
        self.state = r2 * self.w + c2
        return self.state, -1.0, cell == "G"


SMALL = ["S.#.G", "..C..", "....."]
CLIFF = ["." * 12, "." * 12, "." * 12, "S" + "C" * 10 + "G"]


class _Nowhere:
    """One state, two actions, never done: every episode runs to max_steps."""

    n_states, n_actions = 1, 2

    def reset(self):
        return 0

    def step(self, a):
        return 0, 1.0, False


# ---------------------------------------------------------------------------------------------
# Hand-made transitions

Q0 = np.array(
    [
        [0.5, -1.0, 2.0],
        [1.5, 0.25, -0.5],
        [-2.0, 3.0, 3.0],  # two actions tied for the largest value
        [0.0, 4.0, -1.0],
        [7.0, -3.0, 1.0],
    ]
)
V0 = np.array([0.5, -1.25, 2.0, 4.0, -0.75])


def _eps_probs(q_row, eps, ties="share"):
    n = len(q_row)
    probs = [eps / n] * n
    best = [i for i in range(n) if q_row[i] == max(q_row)]
    if ties == "first":
        best = best[:1]
    for i in best:
        probs[i] += (1 - eps) / len(best)
    return probs


def _updated(Q, s, a, target, alpha):
    Q = Q.copy()
    Q[s, a] = Q[s, a] + alpha * (target - Q[s, a])
    return Q


# ---------------------------------------------------------------------------------------------
# td0_update


@exercise("td0_update")
def test_td0_update_by_hand(impl):
    # V(1) = -1.25 + 0.3 * (0.7 + 0.9 * 2.0 - (-1.25)) = -1.25 + 0.3 * 3.75 = -0.125
    got = run(impl.td0_update, V0, 1, 0.7, 2, False, 0.3, 0.9)
    want = V0.copy()
    want[1] = -0.125
    expect_close(
        got,
        want,
        rtol=0,
        atol=1e-12,
        mistakes={
            "forget the discount gamma": lambda: _v(V0, 1, 0.7 + 2.0, 0.3),
            "bootstrap from V(s) instead of V(s')": lambda: _v(V0, 1, 0.7 + 0.9 * -1.25, 0.3),
            "forget to subtract V(s) inside the step": lambda: _v_add(V0, 1, 0.3 * (0.7 + 0.9 * 2.0)),
            "replace V(s) by the target instead of stepping towards it": lambda: _v(
                V0, 1, 0.7 + 0.9 * 2.0, 1.0
            ),
        },
    )


def _v(V, s, target, alpha):
    V = V.copy()
    V[s] += alpha * (target - V[s])
    return V


def _v_add(V, s, step):
    V = V.copy()
    V[s] += step
    return V


@exercise("td0_update")
def test_td0_update_does_not_bootstrap_from_a_terminal_state(impl):
    # s' = 3 is terminal (done): its entry V(3) = 4 must be ignored; the target is r = -1.
    got = run(impl.td0_update, V0, 0, -1.0, 3, True, 0.5, 0.9)
    expect_close(
        got,
        _v(V0, 0, -1.0, 0.5),
        rtol=0,
        atol=1e-12,
        mistakes={"bootstrap from the terminal state's V(s')": lambda: _v(V0, 0, -1.0 + 0.9 * 4.0, 0.5)},
    )


@exercise("td0_update")
def test_td0_update_step_by_step_along_an_episode(impl):
    # A hand-made episode 2 -> 4 -> 2 -> 0 -> 1 (terminal), one update per transition,
    # each from the table the previous one returned; the visit of 2 twice shows whether the
    # second update sees the first.
    V = V0.copy()
    want = V0.copy()
    # States and flags come as NumPy scalars here, as they do when read out of arrays.
    states, nexts = np.array([2, 4, 2, 0]), np.array([4, 2, 0, 1])
    rewards, dones = np.array([0.5, -1.0, 2.0, 1.0]), np.array([False, False, False, True])
    for s, r, s_next, done in zip(states, rewards, nexts, dones):
        call = run(impl.td0_update, V, s, r, s_next, done, 0.25, 0.8)
        want = _v(want, s, r + (0.0 if done else 0.8 * want[s_next]), 0.25)
        expect_close(call, want, rtol=0, atol=1e-12)
        V = call.value


# ---------------------------------------------------------------------------------------------
# td0_prediction


def _td0(episodes, V0, terminal, alpha, gamma, boot=False, frozen=False):
    V = V0.copy()
    for states, _, rewards in episodes:
        old = V.copy()
        for t in range(len(rewards)):
            s, s2 = states[t], states[t + 1]
            ahead = old[s2] if frozen else V[s2]
            target = rewards[t] + (0.0 if terminal[s2] and not boot else gamma * ahead)
            V[s] += alpha * (target - V[s])
    return V


def _random_walk(n_episodes, seed):
    """Sutton & Barto's random walk (example 6.2): inner states 1-5, the ends 0 and 6
    terminal, start in 3, left or right with probability 1/2, reward 1 on reaching 6."""
    g = rng(seed)
    episodes = []
    for _ in range(n_episodes):
        states, actions, rewards = [3], [], []
        while 0 < states[-1] < 6:
            a = int(g.integers(2))
            states.append(states[-1] + (1 if a else -1))
            actions.append(a)
            rewards.append(1.0 if states[-1] == 6 else 0.0)
        episodes.append((np.array(states), np.array(actions), np.array(rewards)))
    return episodes


WALK_TERMINAL = np.array([True, False, False, False, False, False, True])
# Two hand-made episodes on 5 states (4 terminal, with a non-zero entry that must be ignored);
# the second is cut before reaching the terminal state.
TD_EPISODES = [
    (np.array([0, 2, 1, 2, 4]), np.array([1, 0, 1, 1]), np.array([0.5, -1.0, 2.0, 3.0])),
    (np.array([1, 3, 3, 0]), np.array([0, 0, 1]), np.array([1.0, 0.0, -2.0])),
]


@exercise("td0_prediction")
def test_td0_prediction_matches_the_updates_in_order(impl):
    V0 = np.array([0.5, -1.0, 2.0, 0.25, 4.0])
    terminal = np.array([False, False, False, False, True])
    got = run(impl.td0_prediction, TD_EPISODES, V0, terminal, 0.3, 0.9)
    expect_close(
        got,
        _td0(TD_EPISODES, V0, terminal, 0.3, 0.9),
        rtol=0,
        atol=1e-12,
        mistakes={
            "bootstrap from the terminal state's V0 entry": lambda: _td0(
                TD_EPISODES, V0, terminal, 0.3, 0.9, boot=True
            ),
            "bootstrap from the values at the episode's start instead of the latest ones": lambda: _td0(
                TD_EPISODES, V0, terminal, 0.3, 0.9, frozen=True
            ),
            "skip the last step of each episode": lambda: _td0(
                [(s[:-1], a[:-1], r[:-1]) for s, a, r in TD_EPISODES], V0, terminal, 0.3, 0.9
            ),
        },
    )


@exercise("td0_prediction")
def test_td0_prediction_of_no_episodes_is_a_copy_of_V0(impl):
    V0 = np.array([0.5, -1.0, 2.0])
    expect_close(
        run(impl.td0_prediction, [], V0, np.array([False, True, False]), 0.3, 0.9), V0, rtol=0, atol=0
    )


# Over 30 seeds (300 episodes, alpha 0.05, V0 = 0.5 everywhere, terminal entries included)
# the reference's root-mean-square error against the exact values 1/6 … 5/6 was at most
# 0.074 (worst seed 22); bootstrapping from the terminal entries gave at least 0.43.
@exercise("td0_prediction")
def test_td0_prediction_learns_the_random_walk(impl):
    got = run(impl.td0_prediction, _random_walk(300, 22), np.full(7, 0.5), WALK_TERMINAL, 0.05, 1.0)
    V = np.asarray(got.value)
    expect(V.shape == (7,), f"{got}: shape {V.shape}, expected (7,)")
    rms = float(np.sqrt(np.mean((V[1:6] - np.arange(1, 6) / 6) ** 2)))
    expect(
        rms < 0.1,
        f"{got}: V[1:6] = {np.round(V[1:6], 3)}, root-mean-square error {rms:.3f} from the exact "
        f"values {np.round(np.arange(1, 6) / 6, 3)}; expected below 0.1",
    )


# ---------------------------------------------------------------------------------------------
# sarsa_update


@exercise("sarsa_update")
def test_sarsa_update_by_hand(impl):
    # Q(1, 2) = -0.5 + 0.5 * (1 + 0.9 * Q(3, 0) - (-0.5)) with a' = 0, Q(3, 0) = 0: 0.25
    got = run(impl.sarsa_update, Q0, 1, 2, 1.0, 3, 0, False, 0.5, 0.9)
    want = Q0.copy()
    want[1, 2] = 0.25
    expect_close(
        got,
        want,
        rtol=0,
        atol=1e-12,
        mistakes={
            "use max_a' Q(s', a') (that is Q-learning)": lambda: _updated(Q0, 1, 2, 1.0 + 0.9 * 4.0, 0.5),
            "use Q(s', a) with the current action a": lambda: _updated(Q0, 1, 2, 1.0 + 0.9 * -1.0, 0.5),
            "update Q(s', a') instead of Q(s, a)": lambda: _updated(Q0, 3, 0, 1.0 + 0.9 * 0.0, 0.5),
            "forget the discount gamma": lambda: _updated(Q0, 1, 2, 1.0, 0.5),
        },
    )


@exercise("sarsa_update")
def test_sarsa_update_does_not_bootstrap_from_a_terminal_state(impl):
    got = run(impl.sarsa_update, Q0, 4, 1, 10.0, 3, 1, True, 0.2, 0.9)
    expect_close(
        got,
        _updated(Q0, 4, 1, 10.0, 0.2),
        rtol=0,
        atol=1e-12,
        mistakes={
            "bootstrap from the terminal state's Q(s', a')": lambda: _updated(Q0, 4, 1, 10.0 + 0.9 * 4.0, 0.2)
        },
    )


@exercise("sarsa_update")
def test_sarsa_update_step_by_step_along_an_episode(impl):
    Q, want = Q0.copy(), Q0.copy()
    steps = [
        (0, 1, -1.0, 2, 2, False),
        (2, 2, 0.5, 2, 0, False),
        (2, 0, -2.0, 4, 1, False),
        (4, 1, 3.0, 1, 0, True),
    ]
    for s, a, r, s_next, a_next, done in steps:
        call = run(impl.sarsa_update, Q, s, a, r, s_next, a_next, done, 0.3, 0.7)
        want = _updated(want, s, a, r + (0.0 if done else 0.7 * want[s_next, a_next]), 0.3)
        expect_close(call, want, rtol=0, atol=1e-12)
        Q = call.value


# ---------------------------------------------------------------------------------------------
# expected_sarsa_update


def _expected_target(Q, r, s_next, gamma, eps, ties="share"):
    return r + gamma * sum(p * q for p, q in zip(_eps_probs(list(Q[s_next]), eps, ties), Q[s_next]))


@exercise("expected_sarsa_update")
def test_expected_sarsa_update_by_hand(impl):
    # s' = 3: Q(3, .) = (0, 4, -1), epsilon 0.3: pi = (0.1, 0.8, 0.1), E[Q] = 3.2 - 0.1 = 3.1.
    got = run(impl.expected_sarsa_update, Q0, 0, 2, 0.5, 3, False, 0.4, 0.9, 0.3)
    want = _updated(Q0, 0, 2, 0.5 + 0.9 * 3.1, 0.4)
    expect_close(
        got,
        want,
        rtol=0,
        atol=1e-12,
        mistakes={
            "use the greedy value max_a' Q(s', a') instead of the expectation": lambda: _updated(
                Q0, 0, 2, 0.5 + 0.9 * 4.0, 0.4
            ),
            "average Q(s', .) with equal weights": lambda: _updated(Q0, 0, 2, 0.5 + 0.9 * 1.0, 0.4),
            "give the greedy action 1 - epsilon without its share epsilon / A": lambda: _updated(
                Q0, 0, 2, 0.5 + 0.9 * (0.7 * 4.0 + 0.1 * 0.0 - 0.1 * 1.0), 0.4
            ),
        },
    )


@exercise("expected_sarsa_update")
def test_expected_sarsa_update_with_tied_greedy_actions(impl):
    # s' = 2: Q(2, .) = (-2, 3, 3), two actions tied: pi = (0.1, 0.45, 0.45) at epsilon 0.3.
    # (Tied actions have the same value, so how 1 - epsilon is split among them does not
    # change the expectation; but it must be split: the probabilities sum to 1.)
    got = run(impl.expected_sarsa_update, Q0, 1, 0, -1.0, 2, False, 0.5, 0.9, 0.3)
    want = _updated(Q0, 1, 0, _expected_target(Q0, -1.0, 2, 0.9, 0.3), 0.5)
    expect_close(
        got,
        want,
        rtol=0,
        atol=1e-12,
        mistakes={
            "give 1 - epsilon to every tied action (the probabilities then sum to more than 1)": lambda: (
                _updated(Q0, 1, 0, -1.0 + 0.9 * (0.1 * -2.0 + 0.8 * 3.0 + 0.8 * 3.0), 0.5)
            ),
            "use the greedy value max_a' Q(s', a') instead of the expectation": lambda: _updated(
                Q0, 1, 0, -1.0 + 0.9 * 3.0, 0.5
            ),
        },
    )


@exercise("expected_sarsa_update")
def test_expected_sarsa_update_does_not_bootstrap_from_a_terminal_state(impl):
    got = run(impl.expected_sarsa_update, Q0, 3, 1, 2.0, 4, True, 0.5, 0.9, 0.2)
    expect_close(
        got,
        _updated(Q0, 3, 1, 2.0, 0.5),
        rtol=0,
        atol=1e-12,
        mistakes={
            "bootstrap from the terminal state's values": lambda: _updated(
                Q0, 3, 1, _expected_target(Q0, 2.0, 4, 0.9, 0.2), 0.5
            )
        },
    )


@exercise("expected_sarsa_update")
def test_expected_sarsa_update_at_the_two_ends_of_epsilon(impl):
    # epsilon 0: the greedy policy, so the target is Q-learning's; epsilon 1: the uniform one.
    for eps, value in [(0.0, 4.0), (1.0, 1.0)]:
        got = run(impl.expected_sarsa_update, Q0, 0, 0, 0.0, 3, False, 1.0, 0.5, eps)
        expect_close(got, _updated(Q0, 0, 0, 0.5 * value, 1.0), rtol=0, atol=1e-12, what=f"epsilon = {eps}")


# ---------------------------------------------------------------------------------------------
# q_learning_update


@exercise("q_learning_update")
def test_q_learning_update_by_hand(impl):
    # Q(2, 1) = 3 + 0.5 * (-1 + 0.9 * max Q(4, .) - 3) = 3 + 0.5 * (-1 + 6.3 - 3) = 4.15
    got = run(impl.q_learning_update, Q0, 2, 1, -1.0, 4, False, 0.5, 0.9)
    want = Q0.copy()
    want[2, 1] = 4.15
    expect_close(
        got,
        want,
        rtol=0,
        atol=1e-12,
        mistakes={
            "take the max over states instead of actions": lambda: _updated(Q0, 2, 1, -1.0 + 0.9 * 4.0, 0.5),
            "take the max of Q(s, .) instead of Q(s', .)": lambda: _updated(Q0, 2, 1, -1.0 + 0.9 * 3.0, 0.5),
            "use Q(s', a) with the current action a": lambda: _updated(Q0, 2, 1, -1.0 + 0.9 * -3.0, 0.5),
            "forget the discount gamma": lambda: _updated(Q0, 2, 1, -1.0 + 7.0, 0.5),
        },
    )


@exercise("q_learning_update")
def test_q_learning_update_does_not_bootstrap_from_a_terminal_state(impl):
    got = run(impl.q_learning_update, Q0, 1, 1, 5.0, 4, True, 0.25, 0.9)
    expect_close(
        got,
        _updated(Q0, 1, 1, 5.0, 0.25),
        rtol=0,
        atol=1e-12,
        mistakes={
            "bootstrap from the terminal state's max Q(s', .)": lambda: _updated(Q0, 1, 1, 5.0 + 6.3, 0.25)
        },
    )


@exercise("q_learning_update")
def test_q_learning_update_step_by_step_along_an_episode(impl):
    Q, want = Q0.copy(), Q0.copy()
    steps = [(3, 0, 1.0, 3, False), (3, 1, -0.5, 0, False), (0, 2, 0.0, 3, False), (3, 2, 2.0, 1, True)]
    for s, a, r, s_next, done in steps:
        s, a, s_next, done = np.int64(s), np.int64(a), np.int64(s_next), np.bool_(done)  # as read from arrays
        call = run(impl.q_learning_update, Q, s, a, r, s_next, done, 0.6, 0.95)
        want = _updated(want, s, a, r + (0.0 if done else 0.95 * max(want[s_next])), 0.6)
        expect_close(call, want, rtol=0, atol=1e-12)
        Q = call.value


# ---------------------------------------------------------------------------------------------
# The loops, written out


def _draw(q_row, eps, g, ties="share"):
    probs = _eps_probs(list(q_row), eps, ties)
    u, total = g.random(), 0.0
    for a, p in enumerate(probs):
        total += p
        if u < total:
            return a
    return len(probs) - 1


def _sarsa(env, n_episodes, alpha, gamma, eps, seed, max_steps=1000, draw_at_end=False, greedy_next=False):
    g = rng(seed)
    Q = np.zeros((env.n_states, env.n_actions))
    returns = np.zeros(n_episodes)
    for k in range(n_episodes):
        s = env.reset()
        a = _draw(Q[s], eps, g)
        for _ in range(max_steps):
            s2, r, done = env.step(a)
            returns[k] += r
            a2 = _draw(Q[s2], eps, g) if draw_at_end or not done else None
            if done:
                target = r
            elif greedy_next:
                target = r + gamma * Q[s2].max()
            else:
                target = r + gamma * Q[s2, a2]
            Q[s, a] += alpha * (target - Q[s, a])
            if done:
                break
            s, a = s2, a2
    return Q, returns


def _q_learning(env, n_episodes, alpha, gamma, eps, seed, max_steps=1000, ties="share"):
    g = rng(seed)
    Q = np.zeros((env.n_states, env.n_actions))
    returns = np.zeros(n_episodes)
    for k in range(n_episodes):
        s = env.reset()
        for _ in range(max_steps):
            a = _draw(Q[s], eps, g, ties)
            s2, r, done = env.step(a)
            returns[k] += r
            target = r if done else r + gamma * Q[s2].max()
            Q[s, a] += alpha * (target - Q[s, a])
            if done:
                break
            s = s2
    return Q, returns


def _parts(call, n_states, n_actions, n_episodes):
    value = call.value
    expect(
        isinstance(value, tuple) and len(value) == 2,
        f"{call}: returned {type(value).__name__}; expected a tuple (Q, returns)",
    )
    Q, returns = value
    expect(
        getattr(Q, "shape", None) == (n_states, n_actions),
        f"{call}: Q has shape {getattr(Q, 'shape', None)}, expected {(n_states, n_actions)}",
    )
    expect(
        getattr(returns, "shape", None) == (n_episodes,),
        f"{call}: returns has shape {getattr(returns, 'shape', None)}, expected {(n_episodes,)}",
    )
    return Call(Q, str(call)), Call(returns, str(call))


# ---------------------------------------------------------------------------------------------
# sarsa


@exercise("sarsa")
def test_sarsa_matches_the_loop_written_out(impl):
    # 30 episodes on a 3 x 5 grid with a wall and a cliff: bumps into the wall make s' = s,
    # where drawing a' before or after the update differs; the generator is shared by all
    # episodes, so one draw too many at an episode's end shifts every later one.
    args = (30, 0.4, 0.95, 0.3)
    got = run(impl.sarsa, _Grid(SMALL), *args, rng(7), 200)
    Q, returns = _parts(got, 15, 4, 30)
    want_Q, want_returns = _sarsa(_Grid(SMALL), *args, 7, 200)
    expect_close(
        Q,
        want_Q,
        rtol=0,
        atol=1e-12,
        what="Q",
        mistakes={
            "draw a' also when the episode has ended": lambda: _sarsa(
                _Grid(SMALL), *args, 7, 200, draw_at_end=True
            )[0],
            "bootstrap from max_a' Q(s', a') (that is Q-learning's target)": lambda: _sarsa(
                _Grid(SMALL), *args, 7, 200, greedy_next=True
            )[0],
        },
    )
    expect_close(returns, want_returns, rtol=0, atol=1e-12, what="the returns of the episodes")


@exercise("sarsa")
def test_sarsa_uses_the_given_rng_and_stops_at_max_steps(impl):
    Q, returns = _parts(run(impl.sarsa, _Nowhere(), 3, 0.5, 0.9, 0.5, rng(1), 25), 1, 2, 3)
    expect_close(
        returns, np.full(3, 25.0), rtol=0, atol=1e-12, what="the returns of episodes cut at 25 steps"
    )
    expect_close(Q, _sarsa(_Nowhere(), 3, 0.5, 0.9, 0.5, 1, 25)[0], rtol=0, atol=1e-12, what="Q")
    other = run(impl.sarsa, _Grid(SMALL), 5, 0.4, 0.95, 0.3, rng(2), 200)
    expect_close(
        _parts(other, 15, 4, 5)[0], _sarsa(_Grid(SMALL), 5, 0.4, 0.95, 0.3, 2, 200)[0], rtol=0, atol=1e-12
    )


# Over 30 seeds (500 episodes, alpha 0.5, gamma 1, epsilon 0.1; Sutton & Barto's example 6.6)
# the reference's SARSA never learned the 13-step route along the cliff's edge that
# Q-learning learned on every seed, and its mean return over the 500 episodes was -46.5 to
# -32.8 (worst seed 23), where Q-learning's was -63.4 to -50.4 (best seed 8).
EDGE_ROUTE = [36, 24] + list(range(25, 36)) + [47]  # up, along the edge (row 2), down to G


def _route(env, Q, max_steps=100):
    s = env.reset()
    route = [s]
    for _ in range(max_steps):
        s, _, done = env.step(int(np.argmax(Q[s])))
        route.append(s)
        if done:
            break
    return route


@exercise("sarsa", timeout=60)
def test_sarsa_keeps_away_from_the_edge_and_loses_less_while_learning(impl):
    Q, returns = _parts(run(impl.sarsa, _Grid(CLIFF), 500, 0.5, 1.0, 0.1, rng(23)), 48, 4, 500)
    route = _route(_Grid(CLIFF), Q.value)
    expect(route != EDGE_ROUTE, f"{Q}: the greedy route is Q-learning's, along the cliff's edge: {route}")
    mean = float(returns.value.mean())
    expect(
        mean > -48.0,
        f"{returns}: the mean return over the 500 episodes is {mean:.1f}, expected above -48 (SARSA "
        "learns a path its own exploring steps do not fall from)",
    )


# ---------------------------------------------------------------------------------------------
# q_learning


@exercise("q_learning")
def test_q_learning_matches_the_loop_written_out(impl):
    args = (30, 0.4, 0.95, 0.3)
    got = run(impl.q_learning, _Grid(SMALL), *args, rng(5), 200)
    Q, returns = _parts(got, 15, 4, 30)
    want_Q, want_returns = _q_learning(_Grid(SMALL), *args, 5, 200)
    expect_close(
        Q,
        want_Q,
        rtol=0,
        atol=1e-12,
        what="Q",
        mistakes={
            "use the SARSA target (the action taken next) instead of the max": lambda: _sarsa(
                _Grid(SMALL), *args, 5, 200
            )[0],
            "break the behaviour policy's ties by taking the first best action": lambda: _q_learning(
                _Grid(SMALL), *args, 5, 200, ties="first"
            )[0],
        },
    )
    expect_close(returns, want_returns, rtol=0, atol=1e-12, what="the returns of the episodes")


@exercise("q_learning")
def test_q_learning_uses_the_given_rng_and_stops_at_max_steps(impl):
    Q, returns = _parts(run(impl.q_learning, _Nowhere(), 3, 0.5, 0.9, 0.5, rng(1), 25), 1, 2, 3)
    expect_close(
        returns, np.full(3, 25.0), rtol=0, atol=1e-12, what="the returns of episodes cut at 25 steps"
    )
    expect_close(Q, _q_learning(_Nowhere(), 3, 0.5, 0.9, 0.5, 1, 25)[0], rtol=0, atol=1e-12, what="Q")


@exercise("q_learning", timeout=60)
def test_q_learning_learns_the_edge_and_falls_while_learning(impl):
    Q, returns = _parts(run(impl.q_learning, _Grid(CLIFF), 500, 0.5, 1.0, 0.1, rng(8)), 48, 4, 500)
    expect_equal(
        Call(np.array(_route(_Grid(CLIFF), Q.value)), str(Q)),
        np.array(EDGE_ROUTE),
        what="the greedy route (the optimal one: up, along the edge, down)",
    )
    mean = float(returns.value.mean())
    expect(
        mean < -49.0,
        f"{returns}: the mean return over the 500 episodes is {mean:.1f}; with epsilon = 0.1 the "
        "exploring steps off the edge should cost Q-learning more (expected below -49)",
    )
