"""Chapter 7 benchmark cases: value iteration (part 3) to tol 1e-8 on a 100 × 100 slippery
grid world in compact form (the issue's target: under a second), and the dense version on
a 30 × 30 grid for comparison. The grids are built here as part 2's GridWorld defines them
(open cells, start top-left, goal bottom-right, −1 a step, slip 0.1), so that any --impl
can be timed."""

from __future__ import annotations

import numpy as np

from bench.run import Case

DP = "chapter7_rl/part3_dynamic_programming"
SLIP, GAMMA = 0.1, 0.99


def _compact_grid(n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(next_states (S, 4, 4), probs (S, 4, 4), R (S, 4)) of an open n × n grid with slip."""
    S = n * n
    s = np.arange(S)
    row, col = np.divmod(s, n)
    target = np.stack(
        [
            np.where(row > 0, s - n, s),  # up
            np.where(col < n - 1, s + 1, s),  # right
            np.where(row < n - 1, s + n, s),  # down
            np.where(col > 0, s - 1, s),  # left
        ],
        axis=1,
    )
    goal = S - 1
    reward = np.full((S, 4), -1.0)
    target[goal], reward[goal] = goal, 0.0  # the goal absorbs with reward 0
    p = (1 - SLIP) * np.eye(4) + SLIP / 4  # p[a, b]: direction b taken when a is chosen
    next_states = np.ascontiguousarray(np.broadcast_to(target[:, None, :], (S, 4, 4)))
    probs = np.ascontiguousarray(np.broadcast_to(p, (S, 4, 4)))
    return next_states, probs, reward @ p.T


def _compact_100():
    return _compact_grid(100)


def _dense_30():
    next_states, probs, R = _compact_grid(30)
    S = len(R)
    P = np.zeros((S, 4, S))
    s, a = np.meshgrid(np.arange(S), np.arange(4), indexing="ij")
    for k in range(4):
        np.add.at(P, (s, a, next_states[:, :, k]), probs[:, :, k])
    return P, R


def _value_iteration_compact(module, inputs):
    V, actions, sweeps = module.value_iteration_compact(*inputs, GAMMA, tol=1e-8)
    return V


def _value_iteration_dense(module, inputs):
    V, policy, sweeps = module.value_iteration(*inputs, GAMMA, tol=1e-8)
    return V


CASES = [
    Case("value iteration 100x100 compact, 1e-8", DP, _compact_100, _value_iteration_compact),
    Case("value iteration 30x30 dense, 1e-8", DP, _dense_30, _value_iteration_dense),
]
