"""Chapter 5 benchmark cases: greedy generation with part 7's KV cache against generation by
recomputing the whole sequence at every step (part 7's given generate_recompute), float32."""

from __future__ import annotations

import numpy as np

from bench.run import Case

KV_CACHE = "chapter5_transformers/part7_kv_cache"
KV_V, KV_CONTEXT, KV_D, KV_H, KV_L = 96, 256, 128, 4, 4
KV_PROMPT, KV_NEW = 32, 128


def _gpt_params():
    """A GPT of 4 blocks of width 128 (4 heads), context 256, 96 tokens, float32, with
    part 5's initialisation scales (the values do not matter for the timing)."""
    g = np.random.default_rng(0)
    D = KV_D

    def normal(std, *shape):
        return g.normal(0.0, std, size=shape).astype(np.float32)

    def ln():
        return {"gamma": np.ones(D, np.float32), "beta": np.zeros(D, np.float32)}

    residual = 1 / np.sqrt(2 * KV_L)
    blocks = []
    for _ in range(KV_L):
        attn = {}
        for name in "qkvo":
            attn[f"W_{name}"] = normal(1 / np.sqrt(D), D, D)
            attn[f"b_{name}"] = np.zeros(D, np.float32)
        attn["W_o"] *= residual
        mlp = {
            "W_1": normal(1 / np.sqrt(D), D, 4 * D),
            "b_1": np.zeros(4 * D, np.float32),
            "W_2": normal(residual / np.sqrt(4 * D), 4 * D, D),
            "b_2": np.zeros(D, np.float32),
        }
        blocks.append({"ln1": ln(), "attn": attn, "ln2": ln(), "mlp": mlp})
    return {
        "W_tok": normal(1.0, KV_V, D),
        "W_pos": normal(0.02, KV_CONTEXT, D),
        "blocks": blocks,
        "ln_f": ln(),
        "W_out": normal(0.02, D, KV_V),
    }


def _kv_inputs():
    prompt = np.random.default_rng(1).integers(0, KV_V, size=(1, KV_PROMPT))
    return _gpt_params(), prompt


# Case.other gets only the inputs; the recomputing generator is part 7's given
# generate_recompute, so it is taken from the module the case itself ran (the same --impl).
_loaded: dict = {}


def _generate_cached(module, inputs):
    _loaded["module"] = module
    params, prompt = inputs
    return module.generate_cached(params, prompt, KV_NEW, KV_H)


def _generate_recompute(inputs):
    module = _loaded.get("module")
    if module is None:
        return None
    params, prompt = inputs
    return lambda: module.generate_recompute(params, prompt, KV_NEW, KV_H)


CASES = [
    Case(
        f"KV cache: {KV_NEW} tokens, {KV_L}x{KV_D} GPT",
        KV_CACHE,
        _kv_inputs,
        _generate_cached,
        _generate_recompute,
        "recompute",
    ),
]
