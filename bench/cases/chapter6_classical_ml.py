"""Chapter 6 benchmark cases.

Part 6 (ch6d): Viterbi on 10,000 steps of a 50-state, 20-symbol HMM (the issue's target:
under 0.1 s; one Python loop over time, none over states), and the scaled forward pass on
the same sequence for comparison. No other library here has the same algorithm (hmmlearn
is not a dependency), so there is nothing to compare against in the same run."""

from __future__ import annotations

import numpy as np

from bench.run import Case

HMM = "chapter6_classical_ml/part6_hmm"


def _hmm_10000x50():
    g = np.random.default_rng(0)
    K, M, T = 50, 20, 10_000
    pi = g.dirichlet(np.ones(K))
    A = g.dirichlet(np.ones(K), size=K)
    B = g.dirichlet(np.ones(M), size=K)
    return pi, A, B, g.integers(0, M, size=T)


def _viterbi(module, inputs):
    return module.viterbi(*inputs)


def _forward(module, inputs):
    return module.forward(*inputs)


CASES = [
    Case("viterbi 10,000 steps x 50 states", HMM, _hmm_10000x50, _viterbi),
    Case("forward (scaled) 10,000 steps x 50 states", HMM, _hmm_10000x50, _forward),
]
