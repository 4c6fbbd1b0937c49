"""Chapter 2 benchmark cases: a two-layer MLP's forward and backward pass with softmax
cross-entropy (the references of part 6 against PyTorch's autograd), and one epoch of
minibatch training on the digits."""

from __future__ import annotations

import numpy as np

from bench.run import Case, in_torch

TRAINING = "chapter2_neural_networks/part6_training"


def _mlp_batch():
    # x, labels, w1, b1, w2, b2: a batch of 256 MNIST-sized inputs through 784-256-10
    g = np.random.default_rng(0)
    return (
        g.random(size=(256, 784)),
        g.integers(0, 10, size=256),
        g.normal(0, np.sqrt(2 / 784), size=(784, 256)),
        np.zeros(256),
        g.normal(0, np.sqrt(2 / 256), size=(256, 10)),
        np.zeros(10),
    )


def _forward_backward(module, inputs):
    x, labels, w1, b1, w2, b2 = inputs
    params = [(w1, b1), (w2, b2)]
    logits, cache = module.mlp_forward(params, x)
    _, grad_logits = module.softmax_cross_entropy(logits, labels)
    return module.mlp_backward(params, cache, grad_logits)


def _torch_forward_backward(t, x, labels, w1, b1, w2, b2):
    weights = (w1, b1, w2, b2)
    for p in weights:
        p.requires_grad_(True)
    logits = t.relu(x @ w1 + b1) @ w2 + b2
    loss = t.nn.functional.cross_entropy(logits, labels)
    return t.autograd.grad(loss, weights)  # the same four gradients, none for x


def _digits():
    from coursedata import load_digits, train_test_split

    x_train, y_train, _, _ = train_test_split(load_digits(), test_fraction=0.25, seed=0)
    return x_train, y_train


def _one_epoch(module, inputs):
    x, labels = inputs
    params = module.init_mlp([64, 64, 10], np.random.default_rng(0))
    return module.train_mlp(params, x, labels, module.adam_update, 3e-3, 1, 32, np.random.default_rng(1))


CASES = [
    Case(
        "MLP 784-256-10 + CE fwd+bwd, batch 256",
        TRAINING,
        _mlp_batch,
        _forward_backward,
        in_torch(_torch_forward_backward),
    ),
    Case("train_mlp 1 epoch, digits, 64-64-10", TRAINING, _digits, _one_epoch),
]
