"""Chapter 8 benchmark cases.

Part 9 (message passing): the sum aggregation of a batch of graphs stored as one graph,
1000 random graphs of 20 nodes with about 4 neighbours each (20,000 nodes, 80,000 directed
edges), messages of width 64 in float32, against PyTorch's index_add_; and one whole
message-passing step (messages, aggregation, update) on the same batch."""

from __future__ import annotations

import numpy as np

from bench.run import Case, in_torch

MPNN = "chapter8_memory_and_generative/part9_mpnn"
GRAPHS, NODES, DEGREE, WIDTH = 1000, 20, 4, 64


def _edges() -> np.ndarray:
    """(E, 2) directed edges: each node sends to DEGREE random nodes of its own graph."""
    g = np.random.default_rng(0)
    source = np.repeat(np.arange(GRAPHS * NODES), DEGREE)
    target = (source // NODES) * NODES + g.integers(0, NODES, size=len(source))
    return np.stack([source, target], axis=1).astype(np.int64)


def _aggregate_inputs():
    edges = _edges()
    messages = np.random.default_rng(1).normal(size=(len(edges), WIDTH)).astype(np.float32)
    return messages, edges[:, 1]


def _aggregate(module, inputs):
    messages, targets = inputs
    return module.aggregate(messages, targets, GRAPHS * NODES)


def _torch_aggregate(torch, messages, targets):
    out = torch.zeros((GRAPHS * NODES, WIDTH), dtype=messages.dtype)
    return out.index_add_(0, targets, messages)


def _step_inputs():
    g = np.random.default_rng(2)
    h = g.normal(size=(GRAPHS * NODES, WIDTH)).astype(np.float32)
    params = {
        "W_msg": g.normal(0, np.sqrt(1 / WIDTH), size=(2 * WIDTH, WIDTH)).astype(np.float32),
        "b_msg": np.zeros(WIDTH, np.float32),
        "W_self": g.normal(0, np.sqrt(1 / WIDTH), size=(WIDTH, WIDTH)).astype(np.float32),
        "W_nbr": g.normal(0, np.sqrt(1 / WIDTH), size=(WIDTH, WIDTH)).astype(np.float32),
        "b_upd": np.zeros(WIDTH, np.float32),
    }
    return h, _edges(), params


def _step(module, inputs):
    h, edges, params = inputs
    return module.mp_step_forward(h, edges, params)[0]


CASES = [
    Case(
        f"MPNN sum aggregation, E={GRAPHS * NODES * DEGREE} D={WIDTH}, float32",
        MPNN,
        _aggregate_inputs,
        _aggregate,
        in_torch(_torch_aggregate),
    ),
    Case(
        f"MPNN step forward, V={GRAPHS * NODES} E={GRAPHS * NODES * DEGREE}, float32",
        MPNN,
        _step_inputs,
        _step,
    ),
]
