"""Tests for chapter 7, part 4: first visits, first-visit Monte Carlo prediction, the
epsilon-greedy (epsilon-soft) policy of a Q table, and on-policy first-visit Monte Carlo
control.

Expected values come from this file: first visits and the averages of returns written with
Python loops and sets on hand-made episodes that revisit states; the value of a random walk
solved exactly from its Bellman equation with a linear solve, which Monte Carlo must reach
within 5 standard errors of its own returns (a false alarm about once in 10^6 per state);
the control loop written out here and replayed draw for draw (one rng.choice per step, as
part 2's run_episode draws) on a grid world whose steps are written here (a subclass of
your GridWorld, so that these tests do not depend on your step); and a threshold that the
reference met on every one of 30 seeds (worst seed at the test).
"""

import numpy as np

from grader.testkit import Call, exercise, expect, expect_close, expect_equal, rng, run

MOVES = [(-1, 0), (0, 1), (1, 0), (0, -1)]  # up, right, down, left


def _world(impl, layout):
    """A GridWorld whose moves and steps are written here (deterministic; -1 a step, the
    goal terminal, a cliff -100 and back to the start)."""

    class World(impl.GridWorld):
        def move(self, state, action):
            r, c = divmod(state, self.width)
            r, c = r + MOVES[action][0], c + MOVES[action][1]
            if not (0 <= r < self.height and 0 <= c < self.width) or self.layout[r][c] == "#":
                return state
            return r * self.width + c

        def step(self, action):
            t = self.move(self.state, action)
            cell = self.layout[t // self.width][t % self.width]
            if cell == "C":
                self.state = self.start
                return self.state, -100.0, False
            self.state, self.done = t, cell == "G"
            return t, -1.0, cell == "G"

    return World(layout, step_reward=-1.0, goal_reward=-1.0)


# ---------------------------------------------------------------------------------------------
# first_visit_mask


def _first(keys, which="first"):
    if which == "every":
        return np.ones(len(keys), dtype=bool)
    order = range(len(keys)) if which == "first" else reversed(range(len(keys)))
    seen, mask = set(), np.zeros(len(keys), dtype=bool)
    for t in order:
        if keys[t] not in seen:
            seen.add(keys[t])
            mask[t] = True
    return mask


@exercise("first_visit_mask")
def test_first_visit_mask_by_hand(impl):
    keys = np.array([3, 1, 3, 0, 1, 1, 4])
    expect_equal(
        run(impl.first_visit_mask, keys),
        np.array([True, True, False, True, False, False, True]),
        mistakes={
            "mark the last visit of each key": _first(keys, "last"),
            "mark every visit": _first(keys, "every"),
        },
    )


@exercise("first_visit_mask")
def test_first_visit_mask_of_state_action_pairs(impl):
    # Pairs (s, a) as keys s * A + a with A = 4: (2, 1) twice, (1, 2) once, (0, 0) twice.
    states, actions = np.array([2, 1, 2, 0, 2, 0]), np.array([1, 2, 1, 0, 3, 0])
    keys = states * 4 + actions
    expect_equal(run(impl.first_visit_mask, keys), _first(keys))


@exercise("first_visit_mask")
def test_first_visit_mask_on_long_and_empty_sequences(impl):
    keys = rng(0).integers(0, 30, size=200)
    expect_equal(run(impl.first_visit_mask, keys), _first(keys))
    expect_equal(run(impl.first_visit_mask, np.zeros(0, dtype=np.int64)), np.zeros(0, dtype=bool))
    expect_equal(run(impl.first_visit_mask, np.full(5, 7)), np.array([True, False, False, False, False]))


# ---------------------------------------------------------------------------------------------
# first_visit_mc_prediction


def _mc(episodes, n_states, gamma, which="first", final_state=False, per_episode=False):
    total, count = [0.0] * n_states, [0] * n_states
    for states, _, rewards in episodes:
        T = len(rewards)
        G = [0.0] * T
        following = 0.0
        for t in reversed(range(T)):
            following = rewards[t] + gamma * following
            G[t] = following
        visited = list(states[:T])
        mask = _first(visited, which)
        for t in range(T):
            if mask[t]:
                total[visited[t]] += G[t]
                count[visited[t]] += 1
        if final_state and states[T] not in visited:
            count[states[T]] += 1  # the WRONG version: the final state counted with return 0
    n = len(episodes)
    return np.array(
        [total[s] / (n if per_episode else count[s]) if count[s] else 0.0 for s in range(n_states)]
    )


# Three hand-made episodes on states 0-5 (state 5 never visited), revisiting 1, 2 and 3.
EPISODES = [
    (np.array([0, 1, 2, 1, 3]), np.array([1, 1, 3, 1]), np.array([1.0, -2.0, 0.5, 4.0])),
    (np.array([2, 3, 2, 2, 4]), np.array([1, 3, 0, 1]), np.array([0.0, 3.0, -1.0, 2.0])),
    (np.array([1, 4]), np.array([2]), np.array([5.0])),
]


@exercise("first_visit_mc_prediction")
def test_first_visit_mc_prediction_by_hand(impl):
    got = run(impl.first_visit_mc_prediction, EPISODES, 6, 0.9)
    expect_close(
        got,
        _mc(EPISODES, 6, 0.9),
        mistakes={
            "average the returns of every visit (that is every-visit Monte Carlo)": _mc(
                EPISODES, 6, 0.9, "every"
            ),
            "take the return of the last visit": _mc(EPISODES, 6, 0.9, "last"),
            "count the final state as a visit with return 0": _mc(EPISODES, 6, 0.9, final_state=True),
            "divide by the number of episodes instead of the number of first visits": _mc(
                EPISODES, 6, 0.9, per_episode=True
            ),
            "forget the discount": _mc(EPISODES, 6, 1.0),
        },
    )


@exercise("first_visit_mc_prediction")
def test_first_visit_mc_prediction_of_one_episode(impl):
    # One episode 0 -> 1 -> 0 -> 2 (end), rewards 1, 2, 3, gamma 0.5: G = (2.75, 3.5, 3);
    # first visits: state 0 at t = 0, state 1 at t = 1; the end state 2 starts no return.
    episode = (np.array([0, 1, 0, 2]), np.array([0, 0, 0]), np.array([1.0, 2.0, 3.0]))
    expect_close(
        run(impl.first_visit_mc_prediction, [episode], 3, 0.5),
        np.array([2.75, 3.5, 0.0]),
        mistakes={"average the returns of every visit": np.array([(2.75 + 3.0) / 2, 3.5, 0.0])},
    )


def _random_walk(n_episodes, seed, gamma):
    """Episodes of a 5-state random walk (Sutton & Barto's example 6.2, states 1-5 here, the
    two ends 0 and 6 terminal): start in the middle, left or right with probability 1/2,
    reward 1 on reaching the right end, 0 otherwise."""
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


@exercise("first_visit_mc_prediction")
def test_first_visit_mc_prediction_reaches_the_bellman_solution(impl):
    # v = r_pi + gamma P_pi v over the five inner states, solved exactly.
    gamma = 0.9
    P = np.zeros((5, 5))
    r = np.zeros(5)
    for i in range(5):
        if i > 0:
            P[i, i - 1] = 0.5
        if i < 4:
            P[i, i + 1] = 0.5
    r[4] = 0.5
    v = np.linalg.solve(np.eye(5) - gamma * P, r)
    episodes = _random_walk(1000, 1, gamma)
    got = run(impl.first_visit_mc_prediction, episodes, 7, gamma)
    expect(
        getattr(got.value, "shape", None) == (7,),
        f"{got}: shape {getattr(got.value, 'shape', None)}, expected (7,)",
    )
    # 5 standard errors of this file's own first-visit returns, state by state.
    returns = [[] for _ in range(7)]
    for states, _, rewards in episodes:
        G = _mc([(states, None, rewards)], 7, gamma)  # one episode: its first-visit returns
        for s in set(states[:-1].tolist()):
            returns[s].append(G[s])
    se = np.array([np.std(returns[s]) / np.sqrt(len(returns[s])) for s in range(1, 6)])
    err = np.abs(got.value[1:6] - v)
    expect(
        bool(np.all(err < 5 * se)),
        f"{got}: V[1:6] = {np.round(got.value[1:6], 4)}, the exact values are {np.round(v, 4)}; "
        f"off by {np.round(err, 4)}, more than 5 standard errors {np.round(5 * se, 4)}",
    )
    expect_close(
        Call(got.value[[0, 6]], f"{got}: V at the two ends"), np.zeros(2), what="never-visited states get 0"
    )


# ---------------------------------------------------------------------------------------------
# epsilon_greedy_policy


def _policy(Q, eps, ties="share"):
    S, A = Q.shape
    out = np.full((S, A), eps / A)
    for s in range(S):
        best = [a for a in range(A) if Q[s, a] == Q[s].max()]
        if ties == "first":
            best = best[:1]
        for a in best:
            out[s, a] += (1 - eps) / len(best) if ties != "all" else 1 - eps
    return out


Q_TIES = np.array([[1.0, 3.0, 2.0, 0.0], [2.0, 2.0, 0.0, -1.0], [0.0, 0.0, 0.0, 0.0]])


@exercise("epsilon_greedy_policy")
def test_epsilon_greedy_policy_by_hand(impl):
    got = run(impl.epsilon_greedy_policy, Q_TIES, 0.2)
    want = np.array([[0.05, 0.85, 0.05, 0.05], [0.45, 0.45, 0.05, 0.05], [0.25, 0.25, 0.25, 0.25]])
    expect_close(
        got,
        want,
        mistakes={
            "give all of 1 - epsilon to the first of the tied actions (np.argmax)": _policy(
                Q_TIES, 0.2, "first"
            ),
            "give 1 - epsilon to every tied action": _policy(Q_TIES, 0.2, "all"),
            "give the greedy action 1 - epsilon without its share epsilon / A": lambda: (
                want - np.where(_policy(Q_TIES, 0.0) > 0, 0.05, 0.0)
            ),
        },
    )


@exercise("epsilon_greedy_policy")
def test_epsilon_greedy_policy_rows_are_distributions(impl):
    Q = rng(2).normal(size=(7, 3)).round(1)  # rounding makes some ties
    for eps in (0.0, 0.1, 1.0):
        got = run(impl.epsilon_greedy_policy, Q, eps)
        expect_close(got, _policy(Q, eps), what=f"epsilon = {eps}")
        expect_close(Call(got.value.sum(axis=1), f"{got}: row sums"), np.ones(7))


@exercise("epsilon_greedy_policy")
def test_epsilon_greedy_policy_explores_from_an_all_zero_table(impl):
    # At the start every Q[s, .] is 0: every action is greedy, the policy uniform, whatever epsilon.
    got = run(impl.epsilon_greedy_policy, np.zeros((5, 4)), 0.0)
    expect_close(
        got,
        np.full((5, 4), 0.25),
        mistakes={
            "break ties by index, so the agent never explores at epsilon = 0": _policy(
                np.zeros((5, 4)), 0.0, "first"
            )
        },
    )


# ---------------------------------------------------------------------------------------------
# mc_control


def _mc_control(env, n_episodes, gamma, eps, seed, max_steps=200, which="first", whole=False, fixed=False):
    g = rng(seed)
    S, A = env.n_states, env.n_actions
    Q, N = np.zeros((S, A)), np.zeros((S, A))
    returns = np.zeros(n_episodes)
    for k in range(n_episodes):
        pi = _policy(np.zeros((S, A)) if fixed else Q, eps)
        s = env.reset()
        states, actions, rewards = [], [], []
        for _ in range(max_steps):
            a = int(g.choice(A, p=pi[s]))
            s2, r, done = env.step(a)
            states.append(s)
            actions.append(a)
            rewards.append(r)
            s = s2
            if done:
                break
        T = len(rewards)
        G = [0.0] * T
        following = 0.0
        for t in reversed(range(T)):
            following = rewards[t] + gamma * following
            G[t] = following
        mask = _first([states[t] * A + actions[t] for t in range(T)], which)
        for t in range(T):
            if mask[t]:
                s, a = states[t], actions[t]
                N[s, a] += 1
                Q[s, a] += ((G[0] if whole else G[t]) - Q[s, a]) / N[s, a]
        returns[k] = sum(rewards)
    return Q, returns


SMALL = ["S.#.", "..C.", "...G"]


def _parts(call, shape, n_episodes):
    value = call.value
    expect(
        isinstance(value, tuple) and len(value) == 2,
        f"{call}: returned {type(value).__name__}; expected (Q, returns)",
    )
    Q, returns = value
    expect(
        getattr(Q, "shape", None) == shape,
        f"{call}: Q has shape {getattr(Q, 'shape', None)}, expected {shape}",
    )
    expect(
        getattr(returns, "shape", None) == (n_episodes,),
        f"{call}: returns has shape {getattr(returns, 'shape', None)}, expected {(n_episodes,)}",
    )
    return Call(Q, str(call)), Call(returns, str(call))


@exercise("mc_control")
def test_mc_control_matches_the_loop_written_out(impl):
    args = (25, 0.9, 0.3)
    Q, returns = _parts(run(impl.mc_control, _world(impl, SMALL), *args, rng(4), 60), (12, 4), 25)
    want_Q, want_returns = _mc_control(_world(impl, SMALL), *args, 4, 60)
    expect_close(
        Q,
        want_Q,
        what="Q",
        mistakes={
            "update every visit of a pair (every-visit Monte Carlo)": lambda: _mc_control(
                _world(impl, SMALL), *args, 4, 60, which="every"
            )[0],
            "use the return of the whole episode G_0 for every pair": lambda: _mc_control(
                _world(impl, SMALL), *args, 4, 60, whole=True
            )[0],
            "keep the first policy instead of making it epsilon-greedy in Q at every episode": lambda: (
                _mc_control(_world(impl, SMALL), *args, 4, 60, fixed=True)[0]
            ),
        },
    )
    expect_close(returns, want_returns, what="the returns of the episodes")


@exercise("mc_control")
def test_mc_control_uses_the_given_rng_and_max_steps(impl):
    # Cut at 5 steps, an episode that never reaches the goal returns at most -5.
    Q, returns = _parts(run(impl.mc_control, _world(impl, SMALL), 6, 0.9, 0.5, rng(9), 5), (12, 4), 6)
    want_Q, want_returns = _mc_control(_world(impl, SMALL), 6, 0.9, 0.5, 9, 5)
    expect_close(returns, want_returns, what="the returns of episodes cut at 5 steps")
    expect_close(Q, want_Q, what="Q")


# Over 30 seeds (300 episodes, gamma 0.95, epsilon 0.1) the reference's greedy path reached
# the goal on every seed (7 to 11 moves; 7 is the shortest) and its mean return over the
# last 50 episodes was -12.0 or better (worst seed 16, the one run here).
WALL = ["......", "..##..", "S.#..G", "......"]


@exercise("mc_control", timeout=60)
def test_mc_control_learns_to_walk_around_the_wall(impl):
    Q, returns = _parts(run(impl.mc_control, _world(impl, WALL), 300, 0.95, 0.1, rng(16)), (24, 4), 300)
    env = _world(impl, WALL)
    s, path = env.reset(), [env.reset()]
    for _ in range(30):
        s, _, done = env.step(int(np.argmax(Q.value[s])))
        path.append(s)
        if done:
            break
    expect(path[-1] == 17, f"{Q}: the greedy policy of Q does not reach the goal in 30 moves: {path}")
    last = float(returns.value[-50:].mean())
    expect(
        last > -13.0, f"{returns}: the mean return of the last 50 episodes is {last:.2f}, expected above -13"
    )
