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

logits at Deep Speech–like sizes (the issue's target: within 3× of PyTorch's ctc_loss,
forward and backward, in the same run): a batch of 32 sequences of 100 frames over 28
symbols (27 letters and the blank), labels of 20, float32, every sequence full length.
Before the case is timed, the implementation's losses and gradient must agree with
PyTorch's (when PyTorch is installed) on the same inputs and on a small padded batch: the
course's tests do not import PyTorch, so this is where the reference meets torch's ctc_loss.
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
    Case(f"CTC loss+grad N={N} T={T} C={C} L={L}, float32", CTC, _ctc_inputs, _ctc_loss_and_grad, _torch_ctc),
]
