"""Tests for chapter 7, part 2: the grid world, its model, episodes and returns.

Expected values come from this file: moves worked out cell by cell from the layout with
Python's divmod, scripted walks whose rewards are counted by hand, the slipping steps
replayed with a generator seeded like the environment's and drawing what the docstring
says, the model built one (state, action, direction) at a time, episodes replayed on an
environment written here (a subclass of the learner's GridWorld, so that run_episode's test
does not depend on the learner's step), returns as explicit discounted sums.
"""

import numpy as np

from grader.testkit import Call, exercise, expect, expect_close, expect_equal, rng, run

# A 3 × 5 world (not square: rows and columns cannot be confused) with walls, a cliff and a goal.
LAYOUT = ["S..#.", ".#...", "C..#G"]
H, W = 3, 5
S = H * W
STEP = [(-1, 0), (0, 1), (1, 0), (0, -1)]  # up, right, down, left


def _cells(layout=LAYOUT):
    return np.array([list(row) for row in layout]).ravel()


def _move(s, a, layout=LAYOUT, walls=True, wrap=False):
    """Where action a leads from s. wrap=True is a WRONG variant: left/right as state -/+ 1."""
    height, width = len(layout), len(layout[0])
    cells = _cells(layout)
    if wrap:
        t = s + [-width, 1, width, -1][a]
        return s if not 0 <= t < height * width or (walls and cells[t] == "#") else t
    row, col = divmod(s, width)
    row, col = row + STEP[a][0], col + STEP[a][1]
    if not (0 <= row < height and 0 <= col < width):
        return s
    t = row * width + col
    return s if walls and cells[t] == "#" else t


def _outcome(s, a, layout=LAYOUT, rewards=(-1.0, 0.0, -100.0), cliff_to_start=True):
    """(next state, reward) of moving in direction a from s (no slip). rewards = (step, goal, cliff)."""
    cells = _cells(layout)
    t = _move(s, a, layout)
    if cells[t] == "C":
        return (int(np.flatnonzero(cells == "S")[0]) if cliff_to_start else t), rewards[2]
    return t, rewards[1] if cells[t] == "G" else rewards[0]


def _move_table(env):
    return np.array([[env.move(s, a) for a in range(4)] for s in range(env.n_states)])


# ------------------------------------------------------------------------------- GridWorld


@exercise("GridWorld")
def test_moves_stop_at_edges_and_walls(impl):
    env = impl.GridWorld(LAYOUT)
    expect(
        (env.n_states, env.n_actions, env.start) == (S, 4, 0),
        f"GridWorld({LAYOUT}): n_states, n_actions, start = {env.n_states}, {env.n_actions}, {env.start}; "
        f"expected {S}, 4, 0",
    )
    open_cells = [s for s in range(S) if _cells()[s] != "#"]
    got = Call(_move_table(env)[open_cells], f"GridWorld({LAYOUT}).move(s, a) for every open s and every a")
    want = np.array([[_move(s, a) for a in range(4)] for s in open_cells])
    expect_equal(
        got,
        want,
        what="rows are open cells (states "
        + ", ".join(map(str, open_cells))
        + "), columns up, right, down, left",
        mistakes={
            "move left and right as state - 1 and state + 1 (wrapping around the rows' ends)": np.array(
                [[_move(s, a, wrap=True) for a in range(4)] for s in open_cells]
            ),
            "let the agent walk into walls": np.array(
                [[_move(s, a, walls=False) for a in range(4)] for s in open_cells]
            ),
        },
    )


@exercise("GridWorld")
def test_a_scripted_walk_collects_the_rewards_of_the_cells_it_reaches(impl):
    rewards = (-1.0, 10.0, -50.0)
    env = impl.GridWorld(LAYOUT, step_reward=rewards[0], goal_reward=rewards[1], cliff_reward=rewards[2])
    # up (edge), right, right, right (wall), down, right, right, down (goal)
    # then from a new episode: down, down (cliff: back to start), right
    script = [[0, 1, 1, 1, 2, 1, 1, 2], [2, 2, 1]]
    got, want, wrong = [], [], []
    for actions in script:
        s = env.reset()
        expect(s == 0, f"GridWorld({LAYOUT}).reset() returned {s!r}, expected the start 0")
        me = 0
        for a in actions:
            nxt, r, done = env.step(a)
            expect(
                isinstance(nxt, (int, np.integer))
                and isinstance(r, float)
                and isinstance(done, (bool, np.bool_)),
                f"step({a}) returned ({nxt!r}, {r!r}, {done!r}); expected (int, float, bool)",
            )
            t, rw = _outcome(me, a, rewards=rewards)
            got.append((int(nxt), float(r), bool(done)))
            want.append((t, rw, _cells()[t] == "G"))
            wrong.append((_outcome(me, a, rewards=rewards, cliff_to_start=False)[0], rw, _cells()[t] == "G"))
            me = t
    call = Call(np.array(got), f"GridWorld({LAYOUT}, step_reward=-1, goal_reward=10, cliff_reward=-50).step")
    expect_equal(
        call,
        np.array(want),
        what="rows are the (state, reward, done) of steps " + str(script) + " from two resets",
        mistakes={
            "leave the agent on the cliff cell instead of sending it back to the start": np.array(wrong)
        },
    )
    env.reset()
    for a in script[0]:
        env.step(a)
    try:
        env.step(1)
    except RuntimeError:
        pass
    else:
        raise AssertionError(
            "step() after the goal was reached should raise RuntimeError (the episode is over)"
        )


def _replay_slips(layout, slip, seed, actions):
    """The documented draws: u = rng.random() each step, and only when u < slip rng.integers(4)."""
    g = np.random.default_rng(seed)
    s, out = 0, []
    for a in actions:
        if g.random() < slip:
            a = int(g.integers(4))
        s, r = _outcome(s, a, layout)
        out.append((s, r))
        if _cells(layout)[s] == "G":
            s = 0  # the test resets after the goal
    return np.array(out)


@exercise("GridWorld")
def test_slipping_draws_from_the_environments_own_generator_as_documented(impl):
    actions = rng(1).integers(4, size=300)
    env = impl.GridWorld(LAYOUT, slip=0.3, seed=5)
    got = []
    for a in actions:
        s, r, done = env.step(int(a))
        got.append((s, r))
        if done:
            env.reset()
    expect_close(
        Call(np.array(got, dtype=float), "GridWorld(LAYOUT, slip=0.3, seed=5).step(a) for 300 actions"),
        _replay_slips(LAYOUT, 0.3, 5, actions),
        what="rows are (next state, reward); each step u = rng.random(), and rng.integers(4) if u < slip",
        mistakes={
            "ignore slip": lambda: _replay_slips(LAYOUT, 0.0, 5, actions),
            "slip with probability 1 - slip (a new direction when u >= slip)": lambda: _replay_slips(
                LAYOUT, 0.7, 5, actions
            ),
        },
    )
    again = impl.GridWorld(LAYOUT, slip=0.3, seed=99)
    again.reset(seed=5)
    replay = [again.step(int(a))[:2] for a in actions[:5]]
    expect(
        np.allclose(np.array(replay, dtype=float), _replay_slips(LAYOUT, 0.3, 5, actions[:5])),
        "reset(seed=5) should make the environment's generator np.random.default_rng(5) anew",
    )
    still = impl.GridWorld(LAYOUT, slip=0.0, seed=7)
    for a in (1, 1, 2):
        still.step(a)
    expect(
        still.rng.random() == np.random.default_rng(7).random(),
        "with slip == 0, step() must draw nothing from self.rng (its stream is left as it was)",
    )


def _successors(layout, slip, rewards=(-1.0, 0.0, -100.0), intended_reward=False):
    cells = _cells(layout)
    n = len(cells)
    K = 1 if slip == 0 else 4
    nxt, probs, R = np.zeros((n, 4, K), dtype=np.int64), np.zeros((n, 4, K)), np.zeros((n, 4))
    for s in range(n):
        for a in range(4):
            if cells[s] in "G#C":
                nxt[s, a], probs[s, a] = (
                    s,
                    1.0 / K if K == 1 else [(1 - slip) * (a == b) + slip / 4 for b in range(4)],
                )
                continue
            if K == 1:
                nxt[s, a, 0], R[s, a] = _outcome(s, a, layout, rewards)
                probs[s, a, 0] = 1.0
                continue
            for b in range(4):
                t, r = _outcome(s, b, layout, rewards)
                p = (1 - slip) * (a == b) + slip / 4
                nxt[s, a, b], probs[s, a, b] = t, p
                R[s, a] += (a == b) * r if intended_reward else p * r
    return nxt, probs, R


@exercise("GridWorld")
def test_successors_without_slip(impl):
    rewards = (-1.0, 5.0, -20.0)
    env = impl.GridWorld(LAYOUT, *rewards)
    call = run(env.successors)
    call.text = "GridWorld(LAYOUT, step_reward=-1, goal_reward=5, cliff_reward=-20).successors()"
    got = call.value
    expect(isinstance(got, tuple) and len(got) == 3, f"{call}: expected a tuple (next_states, probs, R)")
    nxt, probs, R = _successors(LAYOUT, 0.0, rewards)
    expect_equal(Call(got[0], f"{call}[0], next_states"), nxt)
    expect_close(Call(got[1], f"{call}[1], probs"), probs)
    expect_close(Call(got[2], f"{call}[2], R"), R)


@exercise("GridWorld")
def test_successors_with_slip_average_over_the_four_directions(impl):
    env = impl.GridWorld(LAYOUT, slip=0.2)
    call = run(env.successors)
    call.text = "GridWorld(LAYOUT, slip=0.2).successors()"
    got = call.value
    expect(isinstance(got, tuple) and len(got) == 3, f"{call}: expected a tuple (next_states, probs, R)")
    nxt, probs, R = _successors(LAYOUT, 0.2)
    expect_equal(
        Call(got[0], f"{call}[0], next_states"),
        nxt,
        what="next_states[s, a, b] is where direction b leads; goals, walls and cliffs lead to themselves",
    )
    expect_close(
        Call(got[1], f"{call}[1], probs"),
        probs,
        what="probs[s, a, b] = (1 - slip)[a == b] + slip / 4",
        mistakes={
            "spread the slip over the three other directions only": np.where(
                np.eye(4, dtype=bool)[None], 0.8, 0.2 / 3
            )
            .repeat(S, axis=0)
            .reshape(S, 4, 4)
        },
    )
    expect_close(
        Call(got[2], f"{call}[2], R"),
        R,
        what="R[s, a] is the expected reward over where the agent may end up",
        mistakes={
            "take the reward of the chosen direction only": lambda: _successors(
                LAYOUT, 0.2, intended_reward=True
            )[2]
        },
    )


@exercise("GridWorld")
def test_the_dense_model_is_a_distribution_matching_the_successors(impl):
    env = impl.GridWorld(LAYOUT, slip=0.2)
    call = run(env.model)
    call.text = "GridWorld(LAYOUT, slip=0.2).model()"
    P, R, terminal = call.value
    nxt, probs, R_want = _successors(LAYOUT, 0.2)
    P_want = np.zeros((S, 4, S))
    for s in range(S):
        for a in range(4):
            for k in range(4):
                P_want[s, a, nxt[s, a, k]] += probs[s, a, k]
    expect_close(Call(P, f"{call}: P"), P_want)
    expect_close(Call(R, f"{call}: R"), R_want)
    expect_equal(Call(terminal, f"{call}: terminal"), _cells() == "G")


# --------------------------------------------------------------------------- cliff_walking


@exercise("cliff_walking")
def test_cliff_walking_layout(impl):
    env = impl.cliff_walking()
    expect(
        (env.height, env.width, env.start) == (4, 12, 36),
        f"cliff_walking(): height, width, start = {env.height}, {env.width}, {env.start}; expected 4, 12, 36 "
        "(the bottom-left corner)",
    )
    expect_equal(Call(np.flatnonzero(env.goal), "cliff_walking(): the goal states"), np.array([47]))
    expect_equal(Call(np.flatnonzero(env.cliff), "cliff_walking(): the cliff states"), np.arange(37, 47))
    expect_equal(
        Call(np.flatnonzero(env.wall), "cliff_walking(): the wall states"), np.array([], dtype=np.int64)
    )


@exercise("cliff_walking")
def test_cliff_walking_rewards(impl):
    env = impl.cliff_walking()
    safe = [0] + [1] * 11 + [2]
    rewards = [env.step(a)[1] for a in safe]
    expect(env.done, f"cliff_walking(): up, 11 × right, down should reach the goal; got rewards {rewards}")
    expect_equal(
        Call(np.array(rewards), "cliff_walking(): the rewards of up, 11 × right, down"),
        np.full(13, -1.0),
        what="every step costs -1, the step into the goal too",
        mistakes={"leave the goal's reward at GridWorld's default 0": np.array([-1.0] * 12 + [0.0])},
    )
    env.reset()
    got = env.step(1)
    expect(
        tuple(got) == (36, -100.0, False),
        f"cliff_walking(): stepping right from the start into the cliff should give (36, -100.0, False) "
        f"(back to the start, not the end of the episode); got {got}",
    )
    slippery = impl.cliff_walking(slip=0.1, seed=3)
    expect(
        slippery.slip == 0.1 and slippery.rng.random() == np.random.default_rng(3).random(),
        "cliff_walking(slip=0.1, seed=3) should pass slip and seed on to GridWorld",
    )


@exercise("cliff_walking")
def test_cliff_walking_model(impl):
    env = impl.cliff_walking()
    P, R, terminal = env.model()
    expect(
        P.shape == (48, 4, 48) and P[36, 1, 36] == 1.0 and R[36, 1] == -100.0,
        "cliff_walking().model(): from the start, right leads back to the start (P[36, 1, 36] = 1) "
        f"with reward -100; got P[36, 1, 36] = {P[36, 1, 36]}, R[36, 1] = {R[36, 1]}",
    )
    expect(
        P[35, 2, 47] == 1.0 and R[35, 2] == -1.0 and terminal[47] and terminal.sum() == 1,
        "cliff_walking().model(): down from 35 enters the goal 47 with reward -1; only 47 is terminal",
    )


# ---------------------------------------------------------------------------- run_episode


def _chain_env(impl, n=5, seed=0):
    """A 1 × n corridor written here: right moves on, left moves back, the last cell ends it."""

    class Corridor(impl.GridWorld):
        def reset(self, seed=None):
            self.state, self.done = 0, False
            return 0

        def step(self, action):
            self.state = max(self.state - 1, 0) if action == 3 else min(self.state + 1, n - 1)
            self.done = self.state == n - 1
            return self.state, float(self.state if action == 1 else -1.0), self.done

    return Corridor(["S" + "." * (n - 2) + "G"])


def _replay_episode(policy, seed, n=5, max_steps=1000, final_state=True):
    g = np.random.default_rng(seed)
    s, states, actions, rewards = 0, [0], [], []
    for _ in range(max_steps):
        a = int(g.choice(4, p=policy[s]))
        s = max(s - 1, 0) if a == 3 else min(s + 1, n - 1)
        states.append(s)
        actions.append(a)
        rewards.append(float(s if a == 1 else -1.0))
        if s == n - 1:
            break
    return np.array(states if final_state else states[:-1]), np.array(actions), np.array(rewards)


@exercise("run_episode")
def test_run_episode_replays_the_documented_draws(impl):
    policy = np.tile([0.1, 0.4, 0.1, 0.4], (5, 1))
    policy[1:3] = [0.0, 0.9, 0.0, 0.1]  # the policy depends on the state
    for seed in range(3):
        env = _chain_env(impl)
        call = run(impl.run_episode, env, policy, rng(seed))
        got = call.value
        expect(isinstance(got, tuple) and len(got) == 3, f"{call}: expected (states, actions, rewards)")
        states, actions, rewards = _replay_episode(policy, seed)
        expect_equal(
            Call(got[0], f"{call}: states"),
            states,
            what="s_0 … s_T, the start first and the state the episode ended in last",
            mistakes={"leave out the final state": _replay_episode(policy, seed, final_state=False)[0]},
        )
        expect_equal(
            Call(got[1], f"{call}: actions"), actions, what="one rng.choice(4, p=policy[s]) per step"
        )
        expect_close(Call(got[2], f"{call}: rewards"), rewards)


@exercise("run_episode")
def test_run_episode_stops_after_max_steps(impl):
    policy = np.tile([0.0, 0.0, 0.0, 1.0], (5, 1))  # always left: never reaches the end
    call = run(impl.run_episode, _chain_env(impl), policy, rng(0), max_steps=7)
    states, actions, rewards = call.value
    expect(
        (len(states), len(actions), len(rewards)) == (8, 7, 7),
        f"{call}: an episode cut after 7 steps has 8 states, 7 actions and 7 rewards; got "
        f"{len(states)}, {len(actions)}, {len(rewards)}",
    )


@exercise("run_episode")
def test_run_episode_on_a_grid_world(impl):
    env = impl.GridWorld(["S.G"], goal_reward=3.0)
    policy = np.tile([0.0, 1.0, 0.0, 0.0], (3, 1))  # always right
    call = run(impl.run_episode, env, policy, rng(0))
    states, actions, rewards = call.value
    expect_equal(Call(states, f"{call}: states"), np.array([0, 1, 2]))
    expect_equal(Call(actions, f"{call}: actions"), np.array([1, 1]))
    expect_close(
        Call(rewards, f"{call}: rewards"),
        np.array([-1.0, 3.0]),
        mistakes={"record each reward one step late": np.array([0.0, -1.0])},
    )


# ---------------------------------------------------------------------- discounted_returns


@exercise("discounted_returns")
def test_discounted_returns(impl):
    rewards = rng(3).normal(size=9)
    gamma = 0.8
    want = np.array([sum(gamma**k * rewards[t + k] for k in range(9 - t)) for t in range(9)])
    expect_close(
        run(impl.discounted_returns, rewards, gamma),
        want,
        mistakes={
            "discount from the start of the episode (γ^t r_t summed from t on)": np.array(
                [sum(gamma ** (t + k) * rewards[t + k] for k in range(9 - t)) for t in range(9)]
            ),
            "discount the first reward too (G_t = γ r_{t+1} + γ² r_{t+2} + …)": gamma * want,
            "accumulate forwards, from the first step": np.array(
                [sum(gamma ** (t - k) * rewards[k] for k in range(t + 1)) for t in range(9)]
            ),
        },
    )
    expect_close(run(impl.discounted_returns, np.array([1.0, 2.0]), 1.0), np.array([3.0, 2.0]))


@exercise("discounted_returns")
def test_discounted_returns_edge_cases(impl):
    rewards = np.array([1.0, -2.0, 4.0])
    expect_close(run(impl.discounted_returns, rewards, 0.0), rewards, what="with gamma = 0, G_t = r_{t+1}")
    got = run(impl.discounted_returns, np.zeros(0), 0.9)
    expect_close(got, np.zeros(0), what="an episode of no steps has no returns")
    single = run(impl.discounted_returns, rewards.astype(np.float32), 0.5)
    expect_close(single, np.array([1.0 - 1.0 + 1.0, -2.0 + 2.0, 4.0]), rtol=1e-6)


@exercise("discounted_returns")
def test_discounted_returns_of_a_long_episode(impl):
    rewards = rng(4).normal(size=2000)
    want = np.zeros(2000)
    for t in range(2000):  # only 200 terms matter at this gamma; the rest are below 1e-18
        k = np.arange(t, min(t + 400, 2000))
        want[t] = (0.9 ** (k - t) * rewards[k]).sum()
    expect_close(run(impl.discounted_returns, rewards, 0.9), want, rtol=1e-9, atol=1e-12)


# ---------------------------------------------------------------------------- greedy_path


def _greedy_path(Q, highest=False, max_steps=100):
    path = [0]
    for _ in range(max_steps):
        if _cells()[path[-1]] in "GC":
            break
        q = Q[path[-1]]
        a = int(np.flatnonzero(q == q.max())[-1]) if highest else int(np.argmax(q))
        path.append(_move(path[-1], a))
    return np.array(path)


@exercise("greedy_path")
def test_greedy_path_follows_the_argmax_to_the_goal(impl):
    env = impl.GridWorld(LAYOUT)
    Q = np.zeros((S, 4))
    # right, right, down, then at state 7 a tie between right and down (right, the lower
    # action, wins), right, down into the goal; everything else ties.
    for s, a in [(0, 1), (1, 1), (2, 2), (8, 1), (9, 2)]:
        Q[s, a] = 1.0
    Q[7] = [0.0, 3.0, 3.0, 0.0]
    expect_equal(
        run(impl.greedy_path, env, Q),
        np.array([0, 1, 2, 7, 8, 9, 14]),
        mistakes={
            "break ties towards the highest action": _greedy_path(Q, highest=True),
            "leave out the start": np.array([1, 2, 7, 8, 9, 14]),
        },
    )


@exercise("greedy_path")
def test_greedy_path_ends_in_the_cliff_or_after_max_steps(impl):
    env = impl.GridWorld(LAYOUT)
    Q = np.zeros((S, 4))
    Q[:, 2] = 1.0  # always down: start -> 5 -> the cliff at 10
    expect_equal(run(impl.greedy_path, env, Q), np.array([0, 5, 10]))
    Q = np.zeros((S, 4))  # always up: stuck on the start
    expect_equal(run(impl.greedy_path, env, Q, max_steps=4), np.array([0, 0, 0, 0, 0]))


@exercise("GridWorld")
def test_numpy_integers_are_accepted_and_python_ints_returned(impl):
    env = impl.GridWorld(LAYOUT)
    moved = env.move(np.int64(0), np.int64(1))
    expect(
        type(moved) is int and moved == 1,
        f"GridWorld.move(np.int64(0), np.int64(1)) returned {moved!r}; expected the int 1",
    )
    got = env.step(np.int64(2))
    expect(
        type(got[0]) is int and got[:2] == (5, -1.0),
        f"GridWorld.step(np.int64(2)) returned {got!r}; expected (5, -1.0, False) with an int state",
    )


@exercise("greedy_path")
def test_greedy_path_leaves_the_environment_alone(impl):
    env = impl.GridWorld(LAYOUT, slip=0.5, seed=4)
    env.step(1)
    Q = np.zeros((S, 4))
    Q[:, 1] = 1.0
    Q[[2, 9], 2] = 2.0  # right, except down at 2 and 9
    call = run(impl.greedy_path, env, Q)
    expect_equal(call, np.array([0, 1, 2, 7, 8, 9, 14]), what="moves without slipping, from env.start")
    expect(
        env.rng.random() == _rng_after_one_slippery_step(4),
        "greedy_path must not draw from env.rng (it moves with env.move, without slipping)",
    )


def _rng_after_one_slippery_step(seed):
    g = np.random.default_rng(seed)
    if g.random() < 0.5:
        g.integers(4)
    return g.random()
