"""Chapter 4 benchmark case: an LSTM layer's forward and backward pass over a whole
sequence (part 2's lstm_forward and lstm_backward) against PyTorch's nn.LSTM, float32."""

from __future__ import annotations

import numpy as np

from bench.run import Case, torch_or_none

LSTM = "chapter4_rnns/part2_lstm"
N, T, D, H = 32, 50, 64, 128


def _lstm_inputs():
    # x, h0, c0, Wx, Wh, b, dhs: float32, PyTorch's initialisation U(-1/sqrt(H), 1/sqrt(H))
    g = np.random.default_rng(0)
    k = 1 / np.sqrt(H)
    arrays = (
        g.normal(size=(N, T, D)),
        np.zeros((N, H)),
        np.zeros((N, H)),
        g.uniform(-k, k, size=(D, 4 * H)),
        g.uniform(-k, k, size=(H, 4 * H)),
        g.uniform(-k, k, size=4 * H),
        g.normal(size=(N, T, H)),
    )
    return tuple(a.astype(np.float32) for a in arrays)


def _forward_backward(module, inputs):
    x, h0, c0, Wx, Wh, b, dhs = inputs
    _, _, cache = module.lstm_forward(x, h0, c0, Wx, Wh, b)
    return module.lstm_backward(dhs, cache)


def _torch_lstm(inputs):
    torch = torch_or_none()
    if torch is None:
        return None
    x, h0, c0, Wx, Wh, b, dhs = (torch.from_numpy(a) for a in inputs)
    lstm = torch.nn.LSTM(D, H, batch_first=True)  # float32
    with torch.no_grad():
        lstm.weight_ih_l0.copy_(Wx.T)
        lstm.weight_hh_l0.copy_(Wh.T)
        lstm.bias_ih_l0.copy_(b)
        lstm.bias_hh_l0.zero_()
    x.requires_grad_(True)
    state = (h0[None], c0[None])

    def run():
        out, _ = lstm(x, state)
        return torch.autograd.grad(out, [x, *lstm.parameters()], dhs)

    return run


CASES = [
    Case(f"LSTM fwd+bwd, N={N} T={T} {D}->{H}, float32", LSTM, _lstm_inputs, _forward_backward, _torch_lstm),
]
