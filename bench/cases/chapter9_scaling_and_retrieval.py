"""Chapter 9 benchmark cases.

Parts 5 and 10 (ch9c): DPR's in-batch-negatives loss and its gradient at a batch of 1,024
pairs of 256-dimensional float64 embeddings (part 5's in_batch_loss + in_batch_loss_backward)
against PyTorch's cross_entropy on Q Pᵀ with autograd; and 250 sweeps of the coffee
automaton (part 10's sweep) on a 256 × 256 cup, with nothing to compare against."""

from __future__ import annotations

import numpy as np

from bench.run import Case, torch_or_none

DPR = "chapter9_scaling_and_retrieval/part5_dpr"
COFFEE = "chapter9_scaling_and_retrieval/part10_coffee_automaton"
B, D = 1024, 256
SWEEPS = 250


def _dpr_inputs():
    g = np.random.default_rng(0)
    return g.normal(size=(B, D)) / 4, g.normal(size=(B, D)) / 4


def _dpr(module, inputs):
    Q, P = inputs
    return module.in_batch_loss(Q, P), module.in_batch_loss_backward(Q, P)


def _torch_dpr(inputs):
    torch = torch_or_none()
    if torch is None:
        return None
    Q, P = (torch.from_numpy(a) for a in inputs)
    target = torch.arange(B)

    def run():
        q, p = Q.clone().requires_grad_(), P.clone().requires_grad_()
        loss = torch.nn.functional.cross_entropy(q @ p.T, target)
        loss.backward()
        return loss, q.grad, p.grad

    return run


def _cup():
    grid = np.zeros((256, 256), dtype=np.uint8)
    grid[:128] = 1
    return (grid,)


def _coffee(module, inputs):
    (grid,) = inputs
    g = np.random.default_rng(0)
    for _ in range(SWEEPS):
        grid = module.sweep(grid, g)
    return grid


CASES = [
    Case("DPR in-batch loss + gradient, B=1024, d=256, float64", DPR, _dpr_inputs, _dpr, _torch_dpr),
    Case("coffee automaton, 250 sweeps of 256x256", COFFEE, _cup, _coffee),
]
