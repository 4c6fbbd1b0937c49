"""Chapter 1 benchmark case: one training step (forward, backward, Adam update) of
microGPT (1 layer, 16 dimensions, 4 heads, block size 16, vocabulary 27) on one name,
with the tensor engine of part 2 (the model of part 4) against the scalar `Value` engine
of part 1 (the same model written the way Karpathy's microgpt.py writes it: one `Value`
per number, one position at a time with a cache of keys and values)."""

from __future__ import annotations

import gc
import importlib
import string

import numpy as np

from bench.run import Case

MICROGPT = "chapter1_autograd/part4_microgpt"
NAME = "isabel"  # six letters, the mean length of the census names
VOCAB = ["."] + list(string.ascii_lowercase)
BETA1, BETA2, EPS, LR = 0.85, 0.99, 1e-8, 0.01


def _weights():
    """microGPT's weights as float arrays, shared by both engines (x @ W convention)."""
    g = np.random.default_rng(0)
    shapes = {
        "wte": (27, 16),
        "wpe": (16, 16),
        "layer0.wq": (16, 16),
        "layer0.wk": (16, 16),
        "layer0.wv": (16, 16),
        "layer0.wo": (16, 16),
        "layer0.fc1": (16, 64),
        "layer0.fc2": (64, 16),
        "lm_head": (16, 27),
    }
    return ({name: g.normal(0, 0.08, size=shape) for name, shape in shapes.items()},)


def _tensor_step(module, inputs):
    """One step on the tensor engine with part 4's functions (making the nine parameter
    tensors and their Adam moments is included: a few microseconds)."""
    (weights,) = inputs
    params = {k: module.Tensor(w, requires_grad=True) for k, w in weights.items()}
    m = {k: np.zeros_like(w) for k, w in weights.items()}
    v = {k: np.zeros_like(w) for k, w in weights.items()}
    config = module.GPTConfig(vocab_size=len(VOCAB))
    tokens, targets, mask = module.make_batch([NAME], VOCAB, config.block_size)
    width = int(mask.sum())  # the name's positions only, as the scalar step
    loss = module.gpt_loss(
        module.gpt_forward(params, tokens[:, :width], config), targets[:, :width], mask[:, :width]
    )
    loss.backward()
    module.adam_step(params, m, v, 1, LR, BETA1, BETA2, EPS)
    return loss.item()


def _scalar_step(inputs):
    """microgpt.py's training step on part 1's Value, on the same weights and name."""
    # Part 1 of the same implementation folder: bench/run.py has put that folder on
    # sys.path when it loaded part 4.
    engine = importlib.import_module("chapter1_autograd.part1_scalar_engine")
    Value = engine.Value
    (weights,) = inputs

    def rows(w):
        return [[Value(x) for x in row] for row in w.tolist()]

    wte, wpe = rows(weights["wte"]), rows(weights["wpe"])  # one row per token, per position
    # microgpt.py's linear(x, w) takes one row per output: the transposed matrices
    params = {k: rows(w.T) for k, w in weights.items() if k not in ("wte", "wpe")}
    flat = [p for mat in [wte, wpe, *params.values()] for row in mat for p in row]
    m, v = [0.0] * len(flat), [0.0] * len(flat)
    n_head, head_dim = 4, 4
    step = [0]

    def linear(x, w):
        return [sum(wi * xi for wi, xi in zip(row, x)) for row in w]

    def softmax(logits):
        top = max(val.data for val in logits)
        exps = [(val - top).exp() for val in logits]
        total = sum(exps)
        return [e / total for e in exps]

    def rmsnorm(x):
        scale = (sum(xi * xi for xi in x) / len(x) + 1e-5) ** -0.5
        return [xi * scale for xi in x]

    def gpt(token, pos, keys, values):
        x = [t + p for t, p in zip(wte[token], wpe[pos])]
        h = rmsnorm(x)
        q, k, val = (
            linear(h, params["layer0.wq"]),
            linear(h, params["layer0.wk"]),
            linear(h, params["layer0.wv"]),
        )
        keys.append(k)
        values.append(val)
        heads = []
        for hd in range(n_head):
            s = hd * head_dim
            q_h = q[s : s + head_dim]
            scores = [sum(a * b for a, b in zip(q_h, k_t[s : s + head_dim])) / head_dim**0.5 for k_t in keys]
            w = softmax(scores)
            heads += [sum(w[t] * values[t][s + j] for t in range(len(w))) for j in range(head_dim)]
        x = [a + b for a, b in zip(x, linear(heads, params["layer0.wo"]))]
        hidden = [u.relu() for u in linear(rmsnorm(x), params["layer0.fc1"])]
        x = [a + b for a, b in zip(x, linear(hidden, params["layer0.fc2"]))]
        return linear(rmsnorm(x), params["lm_head"])

    def train_step():
        tokens = [0] + [VOCAB.index(c) for c in NAME] + [0]
        keys, values, losses = [], [], []
        for pos in range(len(tokens) - 1):
            probs = softmax(gpt(tokens[pos], pos, keys, values))
            losses.append(-probs[tokens[pos + 1]].log())
        loss = sum(losses) / len(losses)
        engine.zero_grad(flat)
        loss.backward()
        step[0] += 1
        for i, p in enumerate(flat):
            m[i] = BETA1 * m[i] + (1 - BETA1) * p.grad
            v[i] = BETA2 * v[i] + (1 - BETA2) * p.grad**2
            m_hat, v_hat = m[i] / (1 - BETA1 ** step[0]), v[i] / (1 - BETA2 ** step[0])
            p.data -= LR * m_hat / (v_hat**0.5 + EPS)
        return loss.data

    return train_step


def _scalar_step_gc_paused(inputs):
    """The same scalar step with Python's cyclic garbage collector paused while it runs.

    Part 1's closures refer to their own node (out -> backward_fn -> out), so a finished
    graph is only freed by the cyclic collector, which also walks the ~50,000 live Values
    of the current graph again and again while it is built. This case shows how much of
    the scalar step is that collector, and how much the engine itself."""
    step = _scalar_step(inputs)

    def paused():
        gc.disable()  # re-enabled on return: the collector frees the graph between timed calls
        try:
            return step()
        finally:
            gc.enable()

    return paused


CASES = [
    Case(
        "microGPT train step, 1 name (Tensor vs Value)",
        MICROGPT,
        _weights,
        _tensor_step,
        _scalar_step,
        other_name="Value",
    ),
    Case(
        "microGPT train step, Value with gc paused",
        MICROGPT,
        _weights,
        _tensor_step,
        _scalar_step_gc_paused,
        other_name="Value, gc paused",
    ),
]
