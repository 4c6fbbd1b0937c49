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


def _numpy_ml_lstm(inputs):
    # numpy-ml 0.1.2's LSTMCell, run step by step forwards and backwards as its LSTM layer
    # would (the layer itself no longer constructs: a property without a setter), float64
    # as numpy-ml is written. It still imports collections.Hashable, gone since Python 3.10.
    try:
        import collections
        import collections.abc

        collections.Hashable = collections.abc.Hashable  # type: ignore[attr-defined]
        from numpy_ml.neural_nets.layers import LSTMCell
    except ImportError:
        return None
    x, dhs = (np.ascontiguousarray(a, dtype=np.float64) for a in (inputs[0], inputs[-1]))

    def run():
        # A fresh cell per call (its flush_gradients() leaves the accumulators unusable);
        # its Glorot initialisation on the first step costs well under a millisecond.
        cell = LSTMCell(n_out=H)
        for t in range(T):
            cell.forward(x[:, t])
        return [cell.backward(dhs[:, t]) for t in reversed(range(T))]

    return run


CASES = [
    Case(f"LSTM fwd+bwd, N={N} T={T} {D}->{H}, float32", LSTM, _lstm_inputs, _forward_backward, _torch_lstm),
    Case(
        f"LSTM fwd+bwd, N={N} T={T} {D}->{H} vs numpy-ml",
        LSTM,
        _lstm_inputs,
        _forward_backward,
        _numpy_ml_lstm,
        "numpy-ml",
    ),
]
