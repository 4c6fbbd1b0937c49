"""Chapter 5 benchmark cases: multi-head self-attention's forward pass with its four
projections (part 2's mha_forward) against PyTorch's nn.MultiheadAttention with the same
weights (without and with a causal mask) and against the same layer written with
F.scaled_dot_product_attention, float32; and against numpy-ml's attention layers."""

from __future__ import annotations

import numpy as np

from bench.run import Case, torch_or_none

MHA = "chapter5_transformers/part2_multihead"
N, T, D, H = 16, 128, 256, 8
KEYS = ("W_q", "b_q", "W_k", "b_k", "W_v", "b_v", "W_o", "b_o")


def _mha_inputs():
    # x (N, T, D) and the parameters, float32: weights ~ N(0, 1/D), small random biases
    g = np.random.default_rng(0)
    x = g.normal(size=(N, T, D)).astype(np.float32)
    params = {
        key: (g.normal(size=(D, D)) / np.sqrt(D) if key[0] == "W" else g.normal(size=D) * 0.1).astype(
            np.float32
        )
        for key in KEYS
    }
    return x, params


def _forward(module, inputs):
    x, params = inputs
    return module.mha_forward(x, params, H)[0]


def _forward_causal(module, inputs):
    x, params = inputs
    return module.mha_forward(x, params, H, np.tri(T, dtype=bool))[0]


def _torch_mha(inputs, causal=False):
    """nn.MultiheadAttention in inference (no_grad, eval: PyTorch's fused fast path), with the
    course's weights (PyTorch stores the transposes, Q, K and V stacked in in_proj_weight).
    Its boolean attn_mask marks the positions that may NOT be attended: the causal mask is
    the upper triangle above the diagonal."""
    torch = torch_or_none()
    if torch is None:
        return None
    x, p = inputs
    mha = torch.nn.MultiheadAttention(D, H, batch_first=True).eval()
    with torch.no_grad():
        mha.in_proj_weight.copy_(torch.from_numpy(np.concatenate([p["W_q"].T, p["W_k"].T, p["W_v"].T])))
        mha.in_proj_bias.copy_(torch.from_numpy(np.concatenate([p["b_q"], p["b_k"], p["b_v"]])))
        mha.out_proj.weight.copy_(torch.from_numpy(p["W_o"].T.copy()))
        mha.out_proj.bias.copy_(torch.from_numpy(p["b_o"]))
    xt = torch.from_numpy(x)
    hidden = torch.from_numpy(~np.tri(T, dtype=bool)) if causal else None

    def run():
        with torch.no_grad():
            return mha(xt, xt, xt, need_weights=False, attn_mask=hidden)[0]

    return run


def _torch_sdpa(inputs):
    """The same layer from PyTorch's functions: one F.linear for Q, K and V together,
    F.scaled_dot_product_attention (its fused CPU kernel) and the output F.linear."""
    torch = torch_or_none()
    if torch is None:
        return None
    F = torch.nn.functional
    x, p = inputs
    xt = torch.from_numpy(x)
    W_in = torch.from_numpy(np.concatenate([p["W_q"], p["W_k"], p["W_v"]], axis=1).T.copy())
    b_in = torch.from_numpy(np.concatenate([p["b_q"], p["b_k"], p["b_v"]]))
    W_o, b_o = torch.from_numpy(p["W_o"].T.copy()), torch.from_numpy(p["b_o"])

    def run():
        with torch.no_grad():
            qkv = F.linear(xt, W_in, b_in).view(N, T, 3, H, D // H).permute(2, 0, 3, 1, 4)
            heads = F.scaled_dot_product_attention(qkv[0], qkv[1], qkv[2])
            return F.linear(heads.transpose(1, 2).reshape(N, T, D), W_o, b_o)

    return run


def _numpy_ml_mha(inputs):
    # numpy-ml 0.1.2's MultiHeadedAttentionModule sizes its projections from the input's
    # second axis and merges the heads with reshape(n_ex, kqv_dim), so it only runs on one
    # position per example; its parts run as the module would on a sequence: four
    # FullyConnected projections (glorot-initialised, the module's default) around its
    # DotProductAttention, float64 as numpy-ml is written. numpy-ml still imports
    # collections.Hashable, gone since Python 3.10.
    try:
        import collections
        import collections.abc

        collections.Hashable = collections.abc.Hashable  # type: ignore[attr-defined]
        from numpy_ml.neural_nets.layers import DotProductAttention, FullyConnected
    except ImportError:
        return None
    x = inputs[0].astype(np.float64)
    projections = {}
    for name in "QKVO":
        layer = FullyConnected(n_out=D, act_fn="Affine(slope=1, intercept=0)", init="glorot_uniform")
        layer.forward(x[:, 0])  # sizes the layer: n_in = D
        projections[name] = layer
    attention = DotProductAttention(scale=True)

    def run():
        q, k, v = (
            projections[c].forward(x, retain_derived=False).reshape(N, T, H, D // H).swapaxes(1, 2)
            for c in "QKV"
        )
        heads = attention.forward(q, k, v, retain_derived=False)
        return projections["O"].forward(heads.swapaxes(1, 2).reshape(N, T, D), retain_derived=False)

    return run


CASES = [
    Case(f"MHA fwd, N={N} T={T} D={D} H={H}, float32", MHA, _mha_inputs, _forward, _torch_mha),
    Case(f"MHA fwd, N={N} T={T} D={D} H={H} vs SDPA", MHA, _mha_inputs, _forward, _torch_sdpa, "torch SDPA"),
    Case(
        f"MHA fwd causal, N={N} T={T} D={D} H={H}, float32",
        MHA,
        _mha_inputs,
        _forward_causal,
        lambda inputs: _torch_mha(inputs, causal=True),
    ),
    Case(
        f"MHA fwd, N={N} T={T} D={D} H={H} vs numpy-ml", MHA, _mha_inputs, _forward, _numpy_ml_mha, "numpy-ml"
    ),
]
