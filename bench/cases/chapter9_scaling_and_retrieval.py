"""Chapter 9 benchmark cases. Part 1: the CTC loss and its gradient with respect to the
logits at Deep Speech–like sizes (the issue's target: within 3× of PyTorch's ctc_loss,
forward and backward, in the same run): a batch of 32 sequences of 100 frames over 28
symbols (27 letters and the blank), labels of 20, float32, every sequence full length."""

from __future__ import annotations

import numpy as np

from bench.run import Case, torch_or_none

CTC = "chapter9_scaling_and_retrieval/part1_ctc"
N, T, C, L = 32, 100, 28, 20


def _ctc_inputs():
    g = np.random.default_rng(0)
    logits = g.normal(size=(N, T, C)).astype(np.float32)
    labels = g.integers(1, C, size=(N, L))
    return logits, labels, np.full(N, T), np.full(N, L)


def _ctc_loss_and_grad(module, inputs):
    return module.ctc_loss_and_grad(*inputs)


def _torch_ctc(inputs):
    torch = torch_or_none()
    if torch is None:
        return None
    logits, labels, input_lengths, label_lengths = (torch.from_numpy(a) for a in inputs)
    x = logits.clone().requires_grad_(True)

    def forward_backward():
        # ctc_loss takes (T, N, C) log-probabilities: the transpose is a view.
        log_probs = torch.log_softmax(x, -1).transpose(0, 1)
        loss = torch.nn.functional.ctc_loss(log_probs, labels, input_lengths, label_lengths, reduction="sum")
        return torch.autograd.grad(loss, x)

    return forward_backward


CASES = [
    Case(f"CTC loss+grad N={N} T={T} C={C} L={L}, float32", CTC, _ctc_inputs, _ctc_loss_and_grad, _torch_ctc),
]
