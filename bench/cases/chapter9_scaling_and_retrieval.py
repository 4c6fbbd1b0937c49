"""Chapter 9 benchmark cases. Part 1: the CTC loss and its gradient with respect to the
logits at Deep Speech–like sizes (the issue's target: within 3× of PyTorch's ctc_loss,
forward and backward, in the same run): a batch of 32 sequences of 100 frames over 28
symbols (27 letters and the blank), labels of 20, float32, every sequence full length.
Before the case is timed, the implementation's losses and gradient must agree with
PyTorch's (when PyTorch is installed) on the same inputs and on a small padded batch: the
course's tests do not import PyTorch, so this is where the reference meets torch's ctc_loss."""

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
    result = module.ctc_loss_and_grad(*inputs)
    if id(inputs) not in _checked:  # the untimed warm-up call: check against torch once
        _checked.add(id(inputs))
        _agrees_with_torch(module, result, inputs)
    return result


_checked: set[int] = set()


def _torch_ctc_loss(torch, x, targets, reduction):
    """torch's CTC loss of the logits tensor x; targets = (labels, input_lengths,
    label_lengths) as tensors. ctc_loss takes (T, N, C) log-probabilities: the transpose is
    a view."""
    log_probs = torch.log_softmax(x, -1).transpose(0, 1)
    return torch.nn.functional.ctc_loss(log_probs, *targets, reduction=reduction)


def _padded_batch():
    """A small float64 batch with what the bench inputs lack: per-example input and label
    lengths (padding in both), an empty label and a repeated label."""
    g = np.random.default_rng(8)
    logits = g.normal(size=(4, 30, 6)) * 2
    labels = g.integers(1, 6, size=(4, 6))
    labels[0, 2] = labels[0, 1]
    return logits, labels, np.array([30, 22, 17, 30]), np.array([6, 4, 5, 0])


def _agrees_with_torch(module, result, inputs):
    """The losses and the gradient of their sum against torch's ctc_loss and autograd: on
    the bench inputs (float32) to relative 1e-5 and absolute 5e-4 (both the reference's and
    torch's float32 gradients are within 1.1e-4 of the float64 reference's), and on a small
    padded float64 batch to relative 1e-9 and absolute 1e-10."""
    torch = torch_or_none()
    if torch is None:
        return
    padded = _padded_batch()
    for name, arrays, (losses, grad), rtol, atol in (
        ("the bench inputs (float32)", inputs, result, 1e-5, 5e-4),
        ("a padded float64 batch", padded, module.ctc_loss_and_grad(*padded), 1e-9, 1e-10),
    ):
        x = torch.from_numpy(arrays[0]).requires_grad_(True)
        want = _torch_ctc_loss(torch, x, [torch.from_numpy(a) for a in arrays[1:]], "none")
        (want_grad,) = torch.autograd.grad(want.sum(), x)
        want, want_grad = want.detach().numpy(), want_grad.numpy()
        loss_error = float(np.max(np.abs(losses - want) / np.abs(want)))
        grad_error = float(np.max(np.abs(grad - want_grad)))
        if not (loss_error <= rtol and grad_error <= atol):
            raise AssertionError(
                f"ctc_loss_and_grad disagrees with torch's ctc_loss on {name}: losses to relative "
                f"{loss_error:.2g} (want {rtol:g}), gradient to {grad_error:.2g} (want {atol:g})"
            )


def _torch_ctc(inputs):
    torch = torch_or_none()
    if torch is None:
        return None
    x = torch.from_numpy(inputs[0]).clone().requires_grad_(True)
    targets = [torch.from_numpy(a) for a in inputs[1:]]

    def forward_backward():
        return torch.autograd.grad(_torch_ctc_loss(torch, x, targets, "sum"), x)

    return forward_backward


CASES = [
    Case(f"CTC loss+grad N={N} T={T} C={C} L={L}, float32", CTC, _ctc_inputs, _ctc_loss_and_grad, _torch_ctc),
]
