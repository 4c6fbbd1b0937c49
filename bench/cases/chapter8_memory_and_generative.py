"""Chapter 8 benchmark cases.

Part 4 (the NTM): one head's whole addressing, forward and backward, batched over 64
sequences with a memory of 128 rows of 20 (content_weights, location_weights and their
backward passes), against the same computation in PyTorch with autograd.

Part 9 (message passing): the sum aggregation of a batch of graphs stored as one graph,
1000 random graphs of 20 nodes with about 4 neighbours each (20,000 nodes, 80,000 directed
edges), messages of width 64 in float32, against PyTorch's index_add_; and one whole
message-passing step (messages, aggregation, update) on the same batch.
"""

from __future__ import annotations

import numpy as np

from bench.run import Case, in_torch, torch_or_none

NTM = "chapter8_memory_and_generative/part4_ntm"


def _addressing_inputs(B: int = 64, N: int = 128, W: int = 20) -> tuple:
    g = np.random.default_rng(0)

    def softmax(z):
        e = np.exp(z - z.max(axis=1, keepdims=True))
        return e / e.sum(axis=1, keepdims=True)

    memory, key = g.normal(size=(B, N, W)), g.normal(size=(B, W))
    beta, gate, gamma = g.uniform(0.5, 5.0, size=B), g.uniform(0.1, 0.9, size=B), g.uniform(1.0, 3.0, size=B)
    w_prev, shift = softmax(g.normal(size=(B, N))), softmax(g.normal(size=(B, 3)))
    return memory, key, beta, w_prev, gate, shift, gamma, g.normal(size=(B, N))


def _addressing(module, inputs):
    memory, key, beta, w_prev, gate, shift, gamma, dw = inputs
    w_c, content_cache = module.content_weights(memory, key, beta)
    w, location_cache = module.location_weights(w_c, w_prev, gate, shift, gamma)
    dw_c, dw_prev, dg, ds, dgamma = module.location_weights_backward(dw, location_cache)
    return module.content_weights_backward(dw_c, content_cache), dw_prev, dg, ds, dgamma


def _torch_addressing(inputs):
    torch = torch_or_none()
    if torch is None:
        return None
    *leaves, dw = (torch.from_numpy(x) for x in inputs)
    leaves = [x.requires_grad_() for x in leaves]
    memory, key, beta, w_prev, gate, shift, gamma = leaves

    def run():
        sim = (memory @ key[:, :, None]).squeeze(-1)
        sim = sim / (memory.norm(dim=2) * key.norm(dim=1, keepdim=True) + 1e-8)
        w_c = torch.softmax(beta[:, None] * sim, dim=1)
        w_g = gate[:, None] * w_c + (1 - gate[:, None]) * w_prev
        w_s = sum(shift[:, j : j + 1] * torch.roll(w_g, o, dims=1) for j, o in enumerate((-1, 0, 1)))
        powered = w_s ** gamma[:, None]
        w = powered / powered.sum(dim=1, keepdim=True)
        return torch.autograd.grad(w, leaves, dw)

    return run


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
    Case("NTM addressing fwd+bwd B64 N128 W20", NTM, _addressing_inputs, _addressing, _torch_addressing),
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
