# %% [markdown]
# # Chapter 7, part 2: a grid world, its model, and episodes
#
# Reading: chapters/chapter7_rl/part2_gridworld.md
#
# Fill in each function, then run the cell below it: `check(fn)` runs that exercise's
# tests here and prints a verdict. `python -m grader chapter7/part2` grades the file.
#
# The environment every later part runs on. An agent sees it through a small seeded
# interface, the one Gymnasium made standard:
#
#     env = GridWorld(["S..", ".#.", "..G"], seed=0)
#     state = env.reset()                          # an int, the start cell
#     state, reward, done = env.step(action)       # action 0 up, 1 right, 2 down, 3 left
#
# and a planner sees its model as arrays: `P, R, terminal = env.model()`, with
# P[s, a, s'] the probability of moving from s to s' under action a, R[s, a] the expected
# reward of that step, and terminal[s] True on the goals.
#
# Conventions (the whole chapter): states are ints 0 … S−1, actions ints 0 … A−1; a policy
# is an (S, A) array of action probabilities, each row summing to 1; Q tables are (S, A)
# float64 arrays; randomness comes only from a passed `rng: np.random.Generator` (the
# environment has its own, seeded when it is made or reset).

# %%
from __future__ import annotations

import numpy as np
from jaxtyping import Bool, Float, Int

from grader.check import check

MAIN = __name__ == "__main__"

UP, RIGHT, DOWN, LEFT = 0, 1, 2, 3
MOVES = np.array([[-1, 0], [0, 1], [1, 0], [0, -1]])  # (row, column) change of each action
ARROWS = "^>v<"
CELLS = "SG#C."


# %% [markdown]
# ## The environment


# %%
class GridWorld:
    """A grid world drawn as a layout: a list of equal-length strings, top row first.

        "S"  the start (exactly one)           "."  an open cell
        "G"  a goal: entering it ends the episode
        "#"  a wall: never entered
        "C"  a cliff: entering it costs cliff_reward and puts the agent back on the start

    States are the cells numbered row by row, state = row * width + col, so
    n_states = height * width (wall and cliff cells included: the agent is never on them).
    Actions: 0 up, 1 right, 2 down, 3 left (n_actions = 4). A move off the grid or into a
    wall leaves the agent where it is.

    Rewards depend on the cell the move reaches: cliff_reward for a cliff (and the next
    state is the start), goal_reward for a goal (and the episode is done), step_reward for
    any other cell (the agent's own cell included, when it bumps into a wall or an edge).

    Slipping: with probability slip the agent moves in a uniformly random direction (any
    of the four, the chosen one included) instead of the one chosen. The environment's
    own generator `self.rng` decides: when slip > 0, every step draws u = rng.random() and,
    only if u < slip, the direction rng.integers(4); when slip == 0 nothing is drawn.
    `self.rng` is np.random.default_rng(seed), made anew by reset(seed).

    Attributes: layout (tuple of str), height, width, n_states, n_actions (4), start (int),
    goal, wall, cliff ((n_states,) bool masks), step_reward, goal_reward, cliff_reward,
    slip, rng, and state (the current state) and done (True once a goal is reached).
    """

    n_actions = 4

    def __init__(
        self,
        layout: list[str] | tuple[str, ...],
        step_reward: float = -1.0,
        goal_reward: float = 0.0,
        cliff_reward: float = -100.0,
        slip: float = 0.0,
        seed: int | None = 0,
    ) -> None:
        """Check and read the layout. (Given.)"""
        rows = list(layout)
        if not rows or any(len(row) != len(rows[0]) for row in rows) or not rows[0]:
            raise ValueError("a layout is a non-empty list of strings of the same length")
        if set("".join(rows)) - set(CELLS):
            raise ValueError(f"layout cells are {CELLS!r}, got {sorted(set(''.join(rows)) - set(CELLS))}")
        cells = np.array([list(row) for row in rows]).ravel()  # (n_states,) of characters
        if (cells == "S").sum() != 1:
            raise ValueError("a layout has exactly one start 'S'")
        if not 0.0 <= slip <= 1.0:
            raise ValueError(f"slip is a probability, got {slip}")
        self.layout = tuple(rows)
        self.height, self.width = len(rows), len(rows[0])
        self.n_states = self.height * self.width
        self.start = int(np.flatnonzero(cells == "S")[0])
        self.goal, self.wall, self.cliff = cells == "G", cells == "#", cells == "C"
        self.step_reward, self.goal_reward, self.cliff_reward = step_reward, goal_reward, cliff_reward
        self.slip = slip
        self.rng = np.random.default_rng(seed)
        self.state, self.done = self.start, False

    def reset(self, seed: int | None = None) -> int:
        """Put the agent on the start and return the start state; reset(seed) also makes
        self.rng = np.random.default_rng(seed) anew. (Given.)"""
        if seed is not None:
            self.rng = np.random.default_rng(seed)
        self.state, self.done = self.start, False
        return self.state

    def move(self, state: int | np.integer, action: int | np.integer) -> int:
        """The cell reached from `state` by moving one cell in direction `action` (no slip,
        before a cliff sends the agent back): the neighbour, or `state` itself when the
        neighbour is off the grid or a wall. Returns an int (state and action may be
        Python or NumPy integers)."""
        # BEGIN SOLUTION
        row, col = divmod(int(state), self.width)
        row, col = row + MOVES[action, 0], col + MOVES[action, 1]
        if not (0 <= row < self.height and 0 <= col < self.width):
            return int(state)
        target = int(row * self.width + col)
        return int(state) if self.wall[target] else target
        # END SOLUTION

    def step(self, action: int | np.integer) -> tuple[int, float, bool]:
        """Take one step from self.state: slip (see the class docstring), move, collect the
        reward, update self.state and self.done, and return (next state, reward, done)
        as (int, float, bool). action may be a Python or a NumPy integer. Raises
        RuntimeError when the episode is already done."""
        # BEGIN SOLUTION
        if self.done:
            raise RuntimeError("the episode is over: call reset()")
        if self.slip > 0 and self.rng.random() < self.slip:
            action = int(self.rng.integers(4))
        target = self.move(self.state, action)
        if self.cliff[target]:
            self.state, reward = self.start, self.cliff_reward
        else:
            self.state = target
            self.done = bool(self.goal[target])
            reward = self.goal_reward if self.done else self.step_reward
        return self.state, float(reward), self.done
        # END SOLUTION

    def successors(
        self,
    ) -> tuple[Int[np.ndarray, "S A K"], Float[np.ndarray, "S A K"], Float[np.ndarray, "S A"]]:
        """The model in compact form: (next_states, probs, R), where from state s under
        action a the agent reaches next_states[s, a, k] with probability probs[s, a, k], and
        R[s, a] is the expected reward of that step.

        K = 1 when slip == 0 (next_states[s, a, 0] is where the move leads, with probability 1);
        K = 4 when slip > 0: next_states[s, a, b] is where moving in direction b leads (a
        cliff leading to the start), with probability (1 − slip)·[a == b] + slip / 4.
        Goal, wall and cliff states absorb: next_states[s, a, :] = s with reward 0 (the agent
        is never on a wall or a cliff; a goal ends the episode).
        next_states is int64, probs and R float64.
        """
        # BEGIN SOLUTION
        S, A = self.n_states, self.n_actions
        # Where each of the four moves leads, and the reward of reaching that cell.
        target = np.array([[self.move(s, b) for b in range(A)] for s in range(S)])  # (S, 4)
        reward = np.where(self.cliff[target], self.cliff_reward, self.step_reward)
        reward = np.where(self.goal[target], self.goal_reward, reward)
        target = np.where(self.cliff[target], self.start, target)
        absorbing = self.goal | self.wall | self.cliff
        target[absorbing] = np.arange(S)[absorbing, None]
        reward[absorbing] = 0.0
        if self.slip == 0:
            return target[:, :, None].astype(np.int64), np.ones((S, A, 1)), reward.astype(np.float64)
        p = np.full((A, A), self.slip / A) + (1 - self.slip) * np.eye(A)  # p[a, b]: b taken for a
        next_states = np.broadcast_to(target[:, None, :], (S, A, A)).astype(np.int64)
        probs = np.broadcast_to(p, (S, A, A)).copy()
        return next_states, probs, reward @ p.T  # R[s, a] = sum_b p[a, b] * reward[s, b]
        # END SOLUTION

    def model(self) -> tuple[Float[np.ndarray, "S A S"], Float[np.ndarray, "S A"], Bool[np.ndarray, " S"]]:
        """The model as dense arrays: (P, R, terminal) with P[s, a, s'] the probability of
        reaching s' from s under a (float64, each P[s, a] summing to 1), R[s, a] the expected
        reward, terminal = the goal mask. Built from successors(). (Given.) Dense P has
        S·A·S entries: 3.2 GB for a 100 × 100 grid, which is why successors() exists."""
        next_states, probs, R = self.successors()
        S, A, K = next_states.shape
        P = np.zeros((S, A, S))
        s, a = np.meshgrid(np.arange(S), np.arange(A), indexing="ij")
        for k in range(K):  # add, not assign: two directions may lead to the same cell
            np.add.at(P, (s, a, next_states[:, :, k]), probs[:, :, k])
        return P, R, self.goal.copy()


def render(
    env: GridWorld, path: list[int] | np.ndarray | None = None, policy: np.ndarray | None = None
) -> str:
    """The layout as text, one line per row; with `path`, the cells it visits (other than
    S and G) marked "*"; with an (S, A) `policy`, each open cell shows the arrow of its
    most likely action (^ > v <). (Given.)"""
    cells = np.array([list(row) for row in env.layout]).ravel()
    if policy is not None:
        arrows = np.array(list(ARROWS))[np.asarray(policy).argmax(axis=1)]
        cells = np.where(cells == ".", arrows, cells)
    if path is not None:
        for s in path:
            if cells[s] not in "SG":
                cells[s] = "*"
    return "\n".join("".join(row) for row in cells.reshape(env.height, env.width))


if MAIN:
    check(GridWorld)
    demo = GridWorld(["S..#", ".#..", "...G"])
    print(render(demo))


# %%
def cliff_walking(slip: float = 0.0, seed: int | None = 0) -> GridWorld:
    """Sutton & Barto's cliff walk (Example 6.6): a 4 × 12 grid, the start in the bottom-left
    corner, the goal in the bottom-right corner, the ten cells between them a cliff; every
    other cell open. Every step costs −1 (the step into the goal too); stepping into the
    cliff costs −100 and sends the agent back to the start. slip and seed as GridWorld's."""
    # BEGIN SOLUTION
    layout = ["." * 12] * 3 + ["S" + "C" * 10 + "G"]
    return GridWorld(layout, step_reward=-1.0, goal_reward=-1.0, cliff_reward=-100.0, slip=slip, seed=seed)
    # END SOLUTION


if MAIN:
    check(cliff_walking)
    print(render(cliff_walking()))


# %% [markdown]
# ## Episodes and returns


# %%
def run_episode(
    env: GridWorld, policy: Float[np.ndarray, "S A"], rng: np.random.Generator, max_steps: int = 1000
) -> tuple[Int[np.ndarray, " T1"], Int[np.ndarray, " T"], Float[np.ndarray, " T"]]:
    """One episode of `policy` in env, from env.reset(): at each step draw the action with
    rng.choice(env.n_actions, p=policy[state]) (one call per step, nothing else drawn from
    rng) and env.step it, until done or max_steps steps.

    Returns (states, actions, rewards): states s_0 … s_T (int64, T + 1 of them, the last the
    state the episode ended in), actions a_0 … a_{T−1} (int64), rewards r_1 … r_T (float64),
    rewards[t] being the reward of the step that took actions[t].
    """
    # BEGIN SOLUTION
    states, actions, rewards = [env.reset()], [], []
    for _ in range(max_steps):
        action = int(rng.choice(env.n_actions, p=policy[states[-1]]))
        state, reward, done = env.step(action)
        states.append(state)
        actions.append(action)
        rewards.append(reward)
        if done:
            break
    return (
        np.array(states, dtype=np.int64),
        np.array(actions, dtype=np.int64),
        np.array(rewards, dtype=np.float64),
    )
    # END SOLUTION


if MAIN:
    check(run_episode)


# %%
def discounted_returns(rewards: Float[np.ndarray, " T"], gamma: float) -> Float[np.ndarray, " T"]:
    """The return from every step of an episode: G_t = r_{t+1} + γ r_{t+2} + γ² r_{t+3} + …
    up to the episode's end, i.e. out[t] = rewards[t] + gamma * out[t + 1] (out after the
    last step is 0). float64, same length as rewards."""
    # BEGIN SOLUTION
    out = np.zeros(len(rewards))
    following = 0.0
    for t in reversed(range(len(rewards))):  # one pass backwards: G_t = r + γ G_{t+1}
        following = rewards[t] + gamma * following
        out[t] = following
    return out
    # END SOLUTION


if MAIN:
    check(discounted_returns)


# %%
def greedy_path(env: GridWorld, Q: Float[np.ndarray, "S A"], max_steps: int = 100) -> Int[np.ndarray, " n"]:
    """The cells visited from env.start when always taking argmax_a Q[s, a] (the lowest
    action on ties) and moving with env.move, without slipping: the start first, then one
    cell per move; it stops after a goal or a cliff cell (included), or after max_steps
    moves. int64. Does not touch env's state or generator."""
    # BEGIN SOLUTION
    path = [env.start]
    for _ in range(max_steps):
        state = path[-1]
        if env.goal[state] or env.cliff[state]:
            break
        path.append(env.move(state, int(np.argmax(Q[state]))))
    return np.array(path, dtype=np.int64)
    # END SOLUTION


if MAIN:
    check(greedy_path)
    cliff = cliff_walking()
    Q_demo = np.zeros((cliff.n_states, 4))
    Q_demo[:, RIGHT] = 1.0  # always right: straight into the cliff
    print(render(cliff, greedy_path(cliff, Q_demo)))
