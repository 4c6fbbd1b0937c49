"""Chapter 0 benchmark cases: the stable softmax family at a realistic logits size."""

from __future__ import annotations

import numpy as np

from bench.run import Case, torch_or_none

STABLE = "chapter0_numpy/part4_stable"


def _logits():
    return (np.random.default_rng(0).normal(size=(4096, 1000)) * 10,)


def _torch(op):
    def build(inputs):
        torch = torch_or_none()
        if torch is None:
            return None
        x = torch.from_numpy(inputs[0])
        return lambda: op(torch, x)

    return build


CASES = [
    Case(
        "softmax 4096x1000",
        STABLE,
        _logits,
        lambda m, i: m.softmax(*i),
        _torch(lambda t, x: t.softmax(x, dim=-1)),
    ),
    Case(
        "log_softmax 4096x1000",
        STABLE,
        _logits,
        lambda m, i: m.log_softmax(*i),
        _torch(lambda t, x: t.log_softmax(x, dim=-1)),
    ),
    Case(
        "logsumexp 4096x1000",
        STABLE,
        _logits,
        lambda m, i: m.logsumexp(*i),
        _torch(lambda t, x: t.logsumexp(x, dim=-1)),
    ),
    Case("sigmoid 4096x1000", STABLE, _logits, lambda m, i: m.sigmoid(*i), _torch(lambda t, x: t.sigmoid(x))),
]
