"""Chapter 9 benchmark cases.

Parts 3, 4, 8 and 9 (helper ch9b): nothing here has a library to compare with; the cases
time what the parts' last cells do at a size a learner might try: the joint-law fit on a
31 × 31 grid of exponents, GPipe's schedule simulated for K = 8 stages and M = 64
micro-batches, the NCD matrix of 20 texts of 2 kB (zlib), and the Solomonoff predictor
run along 40 bits over the 510 programs of max_len 8.

Parts 5 and 10 (ch9c): DPR's in-batch-negatives loss and its gradient at a batch of 1,024
pairs of 256-dimensional float64 embeddings (part 5's in_batch_loss + in_batch_loss_backward)
against PyTorch's cross_entropy on Q Pᵀ with autograd; and 250 sweeps of the coffee
automaton (part 10's sweep) on a 256 × 256 cup, with nothing to compare against.
"""

from __future__ import annotations

import numpy as np

from bench.run import Case, torch_or_none

SCALING = "chapter9_scaling_and_retrieval/part3_scaling_laws"
GPIPE = "chapter9_scaling_and_retrieval/part4_gpipe"
COMPRESSION = "chapter9_scaling_and_retrieval/part8_compression"
SOLOMONOFF = "chapter9_scaling_and_retrieval/part9_solomonoff"


def _joint_runs():
    g = np.random.default_rng(0)
    N, D = 10 ** g.uniform(7, 10, size=200), 10 ** g.uniform(8, 11, size=200)
    L = 1.69 + 406.4 * N**-0.34 + 410.7 * D**-0.28 + 0.01 * g.normal(size=200)
    grid = np.linspace(0.2, 0.5, 31)
    return N, D, L, grid, grid


def _texts():
    g = np.random.default_rng(0)
    texts = []
    for lang in range(4):
        words = ["".join(g.choice(list("bdgklmnprstvz"[lang : lang + 8]), size=3)) + "a" for _ in range(50)]
        texts += [" ".join(g.choice(words, size=500)).encode()[:2000] for _ in range(5)]
    return (texts,)


def _sequence():
    return (np.array([int("1110010"[t % 7]) for t in range(40)]),)


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
    Case(
        "joint-law fit, 200 runs, 31 x 31 exponents", SCALING, _joint_runs, lambda m, x: m.fit_joint_law(*x)
    ),
    Case("GPipe schedule K=8, M=64", GPIPE, lambda: (8, 64), lambda m, x: m.gpipe_schedule(*x)),
    Case("NCD matrix, 20 texts of 2 kB, zlib", COMPRESSION, _texts, lambda m, x: m.ncd_matrix(*x)),
    Case(
        "Solomonoff predictions, 40 bits, max_len 8", SOLOMONOFF, _sequence, lambda m, x: m.predictions(*x, 8)
    ),
    Case("DPR in-batch loss + gradient, B=1024, d=256, float64", DPR, _dpr_inputs, _dpr, _torch_dpr),
    Case("coffee automaton, 250 sweeps of 256x256", COFFEE, _cup, _coffee),
]
