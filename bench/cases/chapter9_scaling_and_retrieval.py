"""Chapter 9 benchmark cases.

Parts 3, 4, 8 and 9 (helper ch9b): nothing here has a library to compare with; the cases
time what the parts' last cells do at a size a learner might try: the joint-law fit on a
31 × 31 grid of exponents, GPipe's schedule simulated for K = 8 stages and M = 64
micro-batches, the NCD matrix of 20 texts of 2 kB (zlib), and the Solomonoff predictor
run along 40 bits over the 510 programs of max_len 8.
"""

from __future__ import annotations

import numpy as np

from bench.run import Case

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


CASES = [
    Case(
        "joint-law fit, 200 runs, 31 x 31 exponents", SCALING, _joint_runs, lambda m, x: m.fit_joint_law(*x)
    ),
    Case("GPipe schedule K=8, M=64", GPIPE, lambda: (8, 64), lambda m, x: m.gpipe_schedule(*x)),
    Case("NCD matrix, 20 texts of 2 kB, zlib", COMPRESSION, _texts, lambda m, x: m.ncd_matrix(*x)),
    Case(
        "Solomonoff predictions, 40 bits, max_len 8", SOLOMONOFF, _sequence, lambda m, x: m.predictions(*x, 8)
    ),
]
