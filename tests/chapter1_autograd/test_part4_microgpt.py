"""Tests for chapter 1, part 4: a character-level GPT (microGPT) on the learner's tensor engine.

Expected values come from NumPy written here, independently of the learner's code: an
attention that loops over heads and query positions and takes its softmax over the keys
0..t only (no mask trick), a whole GPT built on it, and loops over the real positions
for the loss. Every backward pass is checked against central differences of those NumPy
references, with a random upstream gradient. Causality is checked by changing the future
and watching the past. The sampler is driven by models written here (a bigram table, a
model that counts positions) and checked exactly at temperature 0 and statistically
otherwise, with tolerances of 4.5 standard errors.
"""

import math
import warnings

import numpy as np
import pytest

from coursedata import load_names
from grader.testkit import (
    Call,
    exercise,
    expect,
    expect_close,
    expect_equal,
    numeric_grad,
    rng,
    run,
    run_without_warnings,
)

# ---------------------------------------------------------------------------------------------
# NumPy references


def _softmax(z: np.ndarray) -> np.ndarray:
    e = np.exp(z - z.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def _rmsnorm(x: np.ndarray, eps: float = 1e-5) -> np.ndarray:
    return x / np.sqrt((x**2).mean(axis=-1, keepdims=True) + eps)


def _attention_loops(x, wq, wk, wv, wo, n_head: int, scale=None, causal=True) -> np.ndarray:
    """Head by head and query by query: query t of head h (columns h*D:(h+1)*D) weighs the
    values of positions 0..t by the softmax of its scaled dot products with their keys.
    (Mistakes: another `scale` than sqrt(D), or causal=False to let every query see all keys.)"""
    batch, seq, d_model = x.shape
    d = d_model // n_head
    scale = math.sqrt(d) if scale is None else scale
    q, k, v = x @ wq, x @ wk, x @ wv
    heads = np.zeros((batch, seq, d_model))
    for h in range(n_head):
        cols = slice(h * d, (h + 1) * d)
        for t in range(seq):
            end = t + 1 if causal else seq
            scores = np.einsum("bd,bsd->bs", q[:, t, cols], k[:, :end, cols]) / scale
            heads[:, t, cols] = np.einsum("bs,bsd->bd", _softmax(scores), v[:, :end, cols])
    return heads @ wo


def _mlp(x, fc1, fc2) -> np.ndarray:
    return np.maximum(x @ fc1, 0.0) @ fc2


def _gpt(p: dict, tokens: np.ndarray, n_layer: int, n_head: int, mistake: str = "") -> np.ndarray:
    """The GPT in NumPy; `mistake` names a wrong version: "no final norm", "no residual"
    (x = f(rmsnorm(x))), "post-norm" (x = rmsnorm(x + f(x)))."""
    x = p["wte"][tokens] + p["wpe"][: tokens.shape[1]]
    for i in range(n_layer):
        w = [p[f"layer{i}.{n}"] for n in ("wq", "wk", "wv", "wo")]
        blocks = [
            lambda h, w=w: _attention_loops(h, *w, n_head),
            lambda h, i=i: _mlp(h, p[f"layer{i}.fc1"], p[f"layer{i}.fc2"]),
        ]
        for f in blocks:
            if mistake == "no residual":
                x = f(_rmsnorm(x))
            elif mistake == "post-norm":
                x = _rmsnorm(x + f(x))
            else:
                x = x + f(_rmsnorm(x))
    return (x if mistake == "no final norm" else _rmsnorm(x)) @ p["lm_head"]


def _loss_loops(logits: np.ndarray, targets: np.ndarray, mask: np.ndarray) -> float:
    terms = [
        -math.log(_softmax(logits[b, t])[targets[b, t]])
        for b in range(mask.shape[0])
        for t in range(mask.shape[1])
        if mask[b, t]
    ]
    return math.fsum(terms) / len(terms)


# ---------------------------------------------------------------------------------------------
# Helpers


def _shape_text(value) -> str:
    if hasattr(value, "data") and hasattr(value, "backward"):
        return f"Tensor[{', '.join(map(str, value.shape))}]"
    if isinstance(value, np.ndarray):
        return f"{value.dtype}[{', '.join(map(str, value.shape))}]"
    if isinstance(value, dict):
        return "params"
    return repr(value)


def _call(fn, *args, **kwargs):
    """(result, text): fn(*args) with its arguments described as the learner wrote them,
    failing if it changed the data of an argument (a Tensor or an array) in place."""
    shown = [_shape_text(a) for a in args] + [f"{k}={v!r}" for k, v in kwargs.items()]
    text = f"{fn.__name__}({', '.join(shown)})"
    arrays = [
        a.data if hasattr(a, "backward") else a
        for a in args
        if hasattr(a, "backward") or isinstance(a, np.ndarray)
    ]
    before = [a.copy() for a in arrays]
    out = fn(*args, **kwargs)
    for a, b in zip(arrays, before):
        expect(
            np.array_equal(a, b), f"{text} changed the data of an input in place; build new tensors instead"
        )
    return out, text


def _tensor_result(impl, out, text: str, shape: tuple) -> np.ndarray:
    """out must be a Tensor of `shape` that recorded its graph; returns its data."""
    expect(
        isinstance(out, impl.Tensor),
        f"{text}: returned {type(out).__name__}, expected a Tensor (compute with Tensor operations)",
    )
    expect(out.shape == shape, f"{text}: returned a Tensor of shape {out.shape}, expected {shape}")
    expect(
        out.requires_grad and len(out.parents) > 0,
        f"{text}: the result records no graph (requires_grad={out.requires_grad}, {len(out.parents)} "
        "parents); compute it with Tensor operations, not on .data, so that gradients can flow back",
    )
    return out.data


def _tensors(impl, arrays: dict) -> dict:
    return {name: impl.Tensor(a, requires_grad=True) for name, a in arrays.items()}


def _expect_gradients(text, out, leaves: dict, arrays: dict, reference, names, seed: int) -> None:
    """Backpropagate a random G from out; leaf `name` must hold d/d(name) sum(G * reference(arrays))."""
    upstream = rng(seed).normal(size=out.shape)
    out.backward(upstream)
    for name in names:

        def f(a, name=name):
            return float(np.sum(upstream * reference({**arrays, name: a})))

        expect(
            leaves[name].grad is not None,
            f"backward of {text} left {name}.grad None: no gradient reached it (was it used through .data?)",
        )
        expect_close(
            Call(leaves[name].grad, f"backward of {text}"),
            numeric_grad(f, arrays[name]),
            rtol=1e-5,
            atol=1e-7,
            what=f"d/d{name} of sum(G * output) (want: central differences of a NumPy reference)",
        )


def _config(impl, n_layer: int = 1, n_head: int = 2):
    return impl.GPTConfig(vocab_size=7, block_size=6, n_embd=8, n_head=n_head, n_layer=n_layer)


def _param_arrays(config, seed: int, std: float = 0.4) -> dict:
    """Random weights with the documented names and shapes (larger than init_params's, so
    that attention weights are far from uniform)."""
    c, g = config, rng(seed)
    shapes = {
        "wte": (c.vocab_size, c.n_embd),
        "wpe": (c.block_size, c.n_embd),
        "lm_head": (c.n_embd, c.vocab_size),
    }
    for i in range(c.n_layer):
        shapes |= {f"layer{i}.{n}": (c.n_embd, c.n_embd) for n in ("wq", "wk", "wv", "wo")}
        shapes |= {f"layer{i}.fc1": (c.n_embd, 4 * c.n_embd), f"layer{i}.fc2": (4 * c.n_embd, c.n_embd)}
    return {name: g.normal(0.0, std, size=shape) for name, shape in shapes.items()}


# ---------------------------------------------------------------------------------------------
# build_vocab


def _expect_list(call: Call, want: list, what: str = "", mistakes=None) -> None:
    """A list result equal to `want`, showing both when it is not (and naming a mistake
    whose answer it is, from `mistakes`)."""
    got = call.value
    expect(isinstance(got, list), f"{call}: returned {type(got).__name__}, expected a list")
    expect_equal(Call(got, f"{call}{': ' + what if what else ''}"), want, mistakes=mistakes)


@exercise("build_vocab")
def test_build_vocab_example(impl):
    _expect_list(run(impl.build_vocab, ["bob", "ada"]), [".", "a", "b", "d", "o"])


@exercise("build_vocab")
def test_build_vocab_on_the_names(impl):
    names = load_names()
    want = ["."] + sorted(set("".join(names)))  # 27 tokens on the census names
    got = run(impl.build_vocab, [names[0], *names[1:]])  # a list, not the cached one
    _expect_list(Call(got.value, f"build_vocab(load_names()) on {len(names)} names"), want)


@exercise("build_vocab")
def test_build_vocab_ignores_order_and_repeats(impl):
    got = run(impl.build_vocab, ["zoe", "eve", "zoe", "al"])
    _expect_list(got, [".", "a", "e", "l", "o", "v", "z"], what="each character once, sorted, after '.'")
    expect(
        all(isinstance(t, str) and len(t) == 1 for t in got.value),
        f"{got}: every token must be a one-character string",
    )


# ---------------------------------------------------------------------------------------------
# make_batch


def _expect_batch(got, inputs, targets, mask, mistakes=None) -> None:
    """The three arrays; mistakes: {phrase: (inputs, targets, mask) of that wrong version}."""
    expect(
        isinstance(got.value, tuple) and len(got.value) == 3,
        f"{got}: expected a tuple (inputs, targets, mask)",
    )
    # A mistake is named only when all three arrays are that mistake's.
    whole = {
        phrase: wrong
        for phrase, wrong in (mistakes or {}).items()
        if all(_same_array(got.value[j], wrong[j]) for j in range(3))
    }
    for i, (label, want) in enumerate([("inputs", inputs), ("targets", targets), ("mask", mask)]):
        named = {phrase: np.array(wrong[i]) for phrase, wrong in whole.items()}
        expect_equal(Call(got.value[i], got.text), np.array(want), what=label, mistakes=named)


def _same_array(got, want) -> bool:
    try:
        return bool(np.array_equal(np.asarray(got), np.array(want)))
    except (TypeError, ValueError):
        return False


@exercise("make_batch")
def test_make_batch_example(impl):
    got = run(impl.make_batch, ["ab", "c"], [".", "a", "b", "c"], 4)
    t, f = True, False
    _expect_batch(
        got,
        [[0, 1, 2, 0], [0, 3, 0, 0]],
        [[1, 2, 0, 0], [3, 0, 0, 0]],
        [[t, t, t, f], [t, t, f, f]],
        mistakes={
            "leave out the boundary token at the start of each name": (
                [[1, 2, 0, 0], [3, 0, 0, 0]],
                [[2, 0, 0, 0], [0, 0, 0, 0]],
                [[t, t, f, f], [t, f, f, f]],
            ),
            "mark the position whose target is the closing boundary as padding": (
                [[0, 1, 2, 0], [0, 3, 0, 0]],
                [[1, 2, 0, 0], [3, 0, 0, 0]],
                [[t, t, f, f], [t, f, f, f]],
            ),
        },
    )


@exercise("make_batch")
def test_make_batch_cuts_long_names_to_the_block(impl):
    # "cabbac" needs 7 predictions; a block of 4 keeps the first four, with no end token
    got = run(impl.make_batch, ["cabbac", "b"], [".", "a", "b", "c"], 4)
    t, f = True, False
    _expect_batch(
        got, [[0, 3, 1, 2], [0, 2, 0, 0]], [[3, 1, 2, 2], [2, 0, 0, 0]], [[t, t, t, t], [t, t, f, f]]
    )


@exercise("make_batch")
def test_make_batch_on_the_names(impl):
    names = load_names()[::97]
    vocab = ["."] + sorted(set("".join(names)))
    got = run(impl.make_batch, names, vocab, 8)
    inputs, targets, mask = got.value
    for i, name in enumerate(names):
        tokens = [0] + [vocab.index(ch) for ch in name] + [0]
        n = min(len(name) + 1, 8)
        want_in = np.array((tokens[:-1] + [0] * 8)[:8])
        want_out = np.array((tokens[1:] + [0] * 8)[:8])
        expect_equal(Call(inputs[i], f"{got}[0][{i}] for {name!r}"), want_in, what="inputs")
        expect_equal(Call(targets[i], f"{got}[1][{i}] for {name!r}"), want_out, what="targets")
        expect_equal(Call(mask[i], f"{got}[2][{i}] for {name!r}"), np.arange(8) < n, what="mask")


@exercise("make_batch")
def test_make_batch_targets_are_inputs_shifted(impl):
    names = ["anna", "bo", "christabel", "e"]
    got = run(impl.make_batch, names, [".", *"abcehilnorst"], 6)
    inputs, targets, mask = got.value
    expect(
        inputs.shape == targets.shape == mask.shape == (4, 6),
        f"{got}: shapes {inputs.shape}, {targets.shape}, {mask.shape}; expected (4, 6) each",
    )
    expect(inputs.dtype.kind in "iu" and targets.dtype.kind in "iu", f"{got}: token ids must be integers")
    expect(mask.dtype == bool, f"{got}: the mask must be a boolean array, got {mask.dtype}")
    follows = mask[:, 1:]  # where position t+1 is real, its input is position t's target
    expect(
        np.array_equal(inputs[:, 1:][follows], targets[:, :-1][follows]),
        f"{got}: the input at position t + 1 must be the target at position t",
    )
    expect(np.all(inputs[:, 0] == 0), f"{got}: every name's first input is the boundary token 0")


# ---------------------------------------------------------------------------------------------
# embed


@exercise("embed")
def test_embed_values(impl):
    g = rng(1)
    wte, wpe = g.normal(size=(7, 5)), g.normal(size=(6, 5))
    tokens = np.array([[0, 3, 3, 6], [2, 2, 1, 0]])
    out, text = _call(impl.embed, tokens, impl.Tensor(wte), impl.Tensor(wpe))
    expect(isinstance(out, impl.Tensor), f"{text}: returned {type(out).__name__}, expected a Tensor")
    # position t uses row t of wpe, whatever the token: wpe[:4], not wpe[tokens]
    expect_close(
        Call(out.data, text),
        wte[tokens] + wpe[:4],
        mistakes={
            "leave out the position embeddings": wte[tokens],
            "index wpe by the token ids instead of the positions": lambda: wte[tokens] + wpe[tokens],
        },
    )


@exercise("embed")
@pytest.mark.parametrize("batch, seq", [(2, 4), (3, 6), (1, 1)])
def test_embed_gradients(impl, batch, seq):
    g = rng(2 + seq)
    arrays = {"wte": g.normal(size=(7, 5)), "wpe": g.normal(size=(6, 5))}
    tokens = g.integers(0, 7, size=(batch, seq))
    tokens[0, 0] = tokens[-1, -1] = 4  # a repeated token must collect the gradients of all its uses
    leaves = _tensors(impl, arrays)
    out, text = _call(impl.embed, tokens, leaves["wte"], leaves["wpe"])
    _tensor_result(impl, out, text, (batch, seq, 5))
    _expect_gradients(
        text, out, leaves, arrays, lambda p: p["wte"][tokens] + p["wpe"][:seq], ["wte", "wpe"], seed=seq
    )


@exercise("embed")
def test_embed_one_token_everywhere(impl):
    # the same token at every position: the rows differ exactly by the position embeddings
    g = rng(3)
    wte, wpe = g.normal(size=(4, 3)), g.normal(size=(5, 3))
    out, text = _call(impl.embed, np.full((2, 5), 2), impl.Tensor(wte), impl.Tensor(wpe))
    expect_close(
        Call(out.data - wte[2], f"{text} - wte[2]"), np.broadcast_to(wpe, (2, 5, 3)), what="the position part"
    )


# ---------------------------------------------------------------------------------------------
# rmsnorm


@exercise("rmsnorm")
@pytest.mark.parametrize("shape", [(2, 3, 5), (4, 6), (7,)])
def test_rmsnorm_values(impl, shape):
    x = rng(4).normal(size=shape) * 3 + 1.5  # a nonzero mean: RMSNorm does not subtract it
    out, text = _call(impl.rmsnorm, impl.Tensor(x))
    expect(isinstance(out, impl.Tensor), f"{text}: returned {type(out).__name__}, expected a Tensor")
    expect_close(
        Call(out.data, text),
        _rmsnorm(x),
        rtol=1e-9,
        mistakes={
            "subtract the mean first (that is LayerNorm)": lambda: _rmsnorm(x - x.mean(-1, keepdims=True)),
            "normalise over the first axis instead of the last": lambda: _rmsnorm(x.T).T,
        },
    )


@exercise("rmsnorm")
def test_rmsnorm_eps_inside_the_root(impl):
    # at a scale of 1e-3, mean(x²) ~ 1e-6 is comparable to eps = 1e-5: where eps goes matters
    x = rng(5).normal(size=(3, 4)) * 1e-3
    out, text = _call(impl.rmsnorm, impl.Tensor(x))
    ms = (x**2).mean(-1, keepdims=True)
    expect_close(
        Call(out.data, text),
        x / np.sqrt(ms + 1e-5),
        rtol=1e-9,
        what="with the default eps = 1e-5",
        mistakes={
            "add eps outside the square root, sqrt(mean(x²)) + eps": x / (np.sqrt(ms) + 1e-5),
            "leave eps out": x / np.sqrt(ms),
            "take the sum of squares instead of their mean": x
            / np.sqrt((x**2).sum(-1, keepdims=True) + 1e-5),
        },
    )
    out, text = _call(impl.rmsnorm, impl.Tensor(x), eps=0.1)
    expect_close(Call(out.data, text), x / np.sqrt((x**2).mean(-1, keepdims=True) + 0.1), rtol=1e-9)


@exercise("rmsnorm")
def test_rmsnorm_rows_have_unit_rms(impl):
    x = rng(6).normal(size=(5, 8)) * np.array([[0.5], [2], [10], [100], [1]])
    out, text = _call(impl.rmsnorm, impl.Tensor(x))
    rms = np.sqrt((out.data**2).mean(axis=-1))
    expect_close(Call(rms, f"root mean square of each row of {text}"), np.ones(5), rtol=1e-3)


@exercise("rmsnorm")
@pytest.mark.parametrize("shape", [(3, 4), (2, 3, 5)])
def test_rmsnorm_gradient(impl, shape):
    arrays = {"x": rng(7).normal(size=shape) + 0.5}
    leaves = _tensors(impl, arrays)
    out, text = _call(impl.rmsnorm, leaves["x"])
    _tensor_result(impl, out, text, shape)
    _expect_gradients(text, out, leaves, arrays, lambda p: _rmsnorm(p["x"]), ["x"], seed=8)


# ---------------------------------------------------------------------------------------------
# causal_self_attention

_W = ("wq", "wk", "wv", "wo")


def _attention_arrays(seed: int, batch: int, seq: int, d_model: int) -> dict:
    g = rng(seed)
    arrays = {"x": g.normal(size=(batch, seq, d_model))}
    return arrays | {w: g.normal(0, 0.6, size=(d_model, d_model)) for w in _W}


def _attention_reference(n_head: int):
    return lambda p: _attention_loops(p["x"], *(p[w] for w in _W), n_head)


@exercise("causal_self_attention")
@pytest.mark.parametrize(
    "batch, seq, d_model, n_head", [(2, 5, 8, 2), (3, 4, 8, 4), (1, 6, 6, 3), (2, 3, 4, 1)]
)
def test_attention_matches_loops(impl, batch, seq, d_model, n_head):
    arrays = _attention_arrays(10 + n_head, batch, seq, d_model)
    t = {k: impl.Tensor(a) for k, a in arrays.items()}
    out, text = _call(impl.causal_self_attention, t["x"], *(t[w] for w in _W), n_head)
    expect(isinstance(out, impl.Tensor), f"{text}: returned {type(out).__name__}, expected a Tensor")
    w = [arrays[k] for k in _W]
    expect_close(
        Call(out.data, text),
        _attention_reference(n_head)(arrays),
        rtol=1e-7,
        atol=1e-9,
        what="versus heads and queries looped in NumPy (head h = columns h*head_dim:(h+1)*head_dim, "
        "scores / sqrt(head_dim), softmax over keys 0..t)",
        mistakes={
            "leave out the causal mask (every query sees every key)": lambda: _attention_loops(
                arrays["x"], *w, n_head, causal=False
            ),
            "divide the scores by sqrt(d_model) instead of sqrt(head_dim)": lambda: _attention_loops(
                arrays["x"], *w, n_head, scale=math.sqrt(d_model)
            ),
            "forget to divide the scores by sqrt(head_dim)": lambda: _attention_loops(
                arrays["x"], *w, n_head, scale=1.0
            ),
            "divide the scores by head_dim instead of its square root": lambda: _attention_loops(
                arrays["x"], *w, n_head, scale=d_model // n_head
            ),
        },
    )


@exercise("causal_self_attention")
def test_attention_does_not_see_the_future(impl):
    arrays = _attention_arrays(20, 2, 6, 8)
    t = {k: impl.Tensor(a) for k, a in arrays.items()}
    out, text = _call(impl.causal_self_attention, t["x"], *(t[w] for w in _W), 2)
    changed = arrays["x"].copy()
    changed[:, 3:] = rng(21).normal(size=(2, 3, 8))  # new positions 3, 4, 5
    out2, _ = _call(impl.causal_self_attention, impl.Tensor(changed), *(t[w] for w in _W), 2)
    expect_close(
        Call(out2.data[:, :3], f"{text} after changing x[:, 3:]"),
        out.data[:, :3],
        rtol=0,
        atol=1e-12,
        what="the outputs at positions 0-2 must not depend on later positions (the causal mask)",
    )
    expect(
        not np.allclose(out2.data[:, 3:], out.data[:, 3:]),
        f"{text}: changing x[:, 3:] did not change the outputs at positions 3-5",
    )


@exercise("causal_self_attention")
def test_attention_first_position_copies_its_value(impl):
    # position 0 attends to itself only, with weight 1: its output is x0 @ wv @ wo, in every head
    arrays = _attention_arrays(22, 3, 4, 6)
    t = {k: impl.Tensor(a) for k, a in arrays.items()}
    out, text = _call(impl.causal_self_attention, t["x"], *(t[w] for w in _W), 3)
    want = arrays["x"][:, 0] @ arrays["wv"] @ arrays["wo"]
    expect_close(Call(out.data[:, 0], text), want, what="position 0 (softmax over one key is 1)")


@exercise("causal_self_attention")
@pytest.mark.parametrize("batch, seq, d_model, n_head", [(2, 4, 6, 2), (1, 3, 8, 4)])
def test_attention_gradients(impl, batch, seq, d_model, n_head):
    arrays = _attention_arrays(30 + batch, batch, seq, d_model)
    leaves = _tensors(impl, arrays)
    out, text = _call(impl.causal_self_attention, leaves["x"], *(leaves[w] for w in _W), n_head)
    _tensor_result(impl, out, text, (batch, seq, d_model))
    _expect_gradients(text, out, leaves, arrays, _attention_reference(n_head), ["x", *_W], seed=31)


# ---------------------------------------------------------------------------------------------
# mlp_block


@exercise("mlp_block")
@pytest.mark.parametrize("shape", [(2, 3, 4), (5, 4)])
def test_mlp_block_values(impl, shape):
    g = rng(40)
    x, fc1, fc2 = g.normal(size=shape), g.normal(size=(4, 10)), g.normal(size=(10, 4))
    out, text = _call(impl.mlp_block, impl.Tensor(x), impl.Tensor(fc1), impl.Tensor(fc2))
    expect(isinstance(out, impl.Tensor), f"{text}: returned {type(out).__name__}, expected a Tensor")
    expect_close(
        Call(out.data, text),
        _mlp(x, fc1, fc2),
        what="relu(x @ fc1) @ fc2",
        mistakes={
            "leave out the ReLU": x @ fc1 @ fc2,
            "apply the ReLU after fc2 instead of between the two": np.maximum(x @ fc1 @ fc2, 0.0),
        },
    )


@exercise("mlp_block")
def test_mlp_block_relu_by_hand(impl):
    # hidden pre-activations [2, -3, 0.5]: relu gives [2, 0, 0.5] (not squared, not skipped)
    x = np.array([[1.0, 0.0]])
    fc1 = np.array([[2.0, -3.0, 0.5], [7.0, 7.0, 7.0]])
    fc2 = np.array([[1.0, 0.0], [1.0, 1.0], [0.0, 10.0]])
    out, text = _call(impl.mlp_block, impl.Tensor(x), impl.Tensor(fc1), impl.Tensor(fc2))
    expect_close(Call(out.data, text), np.array([[2.0, 5.0]]), what="hidden [2, -3, 0.5] -> relu -> @ fc2")


@exercise("mlp_block")
@pytest.mark.parametrize("shape", [(2, 3, 4), (6, 4)])
def test_mlp_block_gradients(impl, shape):
    g = rng(41)
    arrays = {"x": g.normal(size=shape), "fc1": g.normal(size=(4, 9)), "fc2": g.normal(size=(9, 4))}
    leaves = _tensors(impl, arrays)
    out, text = _call(impl.mlp_block, leaves["x"], leaves["fc1"], leaves["fc2"])
    _tensor_result(impl, out, text, shape)
    _expect_gradients(
        text, out, leaves, arrays, lambda p: _mlp(p["x"], p["fc1"], p["fc2"]), ["x", "fc1", "fc2"], 42
    )


# ---------------------------------------------------------------------------------------------
# gpt_forward


@exercise("gpt_forward")
@pytest.mark.parametrize("n_layer, n_head, batch, seq", [(1, 2, 3, 6), (2, 4, 8, 4), (1, 1, 2, 1)])
def test_gpt_forward_matches_numpy(impl, n_layer, n_head, batch, seq):
    config = _config(impl, n_layer, n_head)  # block_size 6: a batch of 8 is fine, a sequence of 8 is not
    arrays = _param_arrays(config, 50 + n_layer)
    tokens = rng(51).integers(0, 7, size=(batch, seq))
    out, text = _call(impl.gpt_forward, {k: impl.Tensor(a) for k, a in arrays.items()}, tokens, config)
    expect(isinstance(out, impl.Tensor), f"{text}: returned {type(out).__name__}, expected a Tensor")
    expect_close(
        Call(out.data, f"{text} with n_layer={n_layer}, n_head={n_head}"),
        _gpt(arrays, tokens, n_layer, n_head),
        rtol=1e-7,
        atol=1e-9,
        what="the logits (pre-norm residual blocks, a final rmsnorm, lm_head)",
        mistakes={
            "leave out the final rmsnorm before lm_head": lambda: _gpt(
                arrays, tokens, n_layer, n_head, "no final norm"
            ),
            "replace x by each block's output, x = f(rmsnorm(x)), instead of adding it": lambda: _gpt(
                arrays, tokens, n_layer, n_head, "no residual"
            ),
            "normalise after adding, x = rmsnorm(x + f(x)), instead of before": lambda: _gpt(
                arrays, tokens, n_layer, n_head, "post-norm"
            ),
        },
    )


@exercise("gpt_forward")
def test_gpt_forward_residual_stream(impl):
    # with every block's output weights at zero, the blocks add nothing: the residual stream
    # carries the embeddings straight to the final norm and lm_head
    config = _config(impl, n_layer=2)
    arrays = _param_arrays(config, 52)
    for i in range(2):
        arrays[f"layer{i}.wo"][:] = 0
        arrays[f"layer{i}.fc2"][:] = 0
    tokens = np.array([[0, 4, 2, 2, 6]])
    out, text = _call(impl.gpt_forward, {k: impl.Tensor(a) for k, a in arrays.items()}, tokens, config)
    want = _rmsnorm(arrays["wte"][tokens] + arrays["wpe"][:5]) @ arrays["lm_head"]
    expect_close(
        Call(out.data, f"{text} with zero wo and fc2"),
        want,
        what="rmsnorm(embeddings) @ lm_head (x = x + block(x))",
    )


@exercise("gpt_forward")
def test_gpt_forward_rejects_a_sequence_longer_than_the_block(impl):
    config = impl.GPTConfig(vocab_size=5, block_size=6, n_embd=8, n_head=2, n_layer=1)
    params = impl.init_params(config, rng(70))
    tokens = rng(71).integers(0, 5, size=(2, 7))
    text = "gpt_forward(params, tokens of shape (2, 7), config with block_size=6)"
    try:
        impl.gpt_forward(params, tokens, config)
    except ValueError as exc:
        message = str(exc)
        expect(
            "7" in message and "6" in message and "block" in message.lower(),
            f"{text} raised ValueError({message!r}); say what is wrong: the sequence length 7 and "
            "the block_size 6",
        )
        return
    except NotImplementedError:
        raise
    except Exception as exc:  # any other exception is the wrong one
        raise AssertionError(
            f"{text} raised {type(exc).__name__} ({exc}); check the length first and raise ValueError "
            "naming both the sequence length and block_size"
        ) from None
    raise AssertionError(f"{text} returned; raise ValueError naming the sequence length 7 and block_size 6")


@exercise("gpt_forward")
def test_gpt_forward_is_causal(impl):
    config = _config(impl, n_layer=2)
    params = {k: impl.Tensor(a) for k, a in _param_arrays(config, 53).items()}
    tokens = np.array([[0, 1, 2, 3, 4, 5], [0, 6, 6, 1, 2, 0]])
    changed = tokens.copy()
    changed[:, 2:] = [[6, 5, 4, 3], [1, 1, 1, 1]]
    out, text = _call(impl.gpt_forward, params, tokens, config)
    out2, _ = _call(impl.gpt_forward, params, changed, config)
    expect_close(
        Call(out2.data[:, :2], f"{text} after changing tokens[:, 2:]"),
        out.data[:, :2],
        rtol=0,
        atol=1e-12,
        what="the logits at positions 0-1 must not depend on later tokens",
    )


@exercise("gpt_forward")
def test_gpt_forward_gradients(impl):
    config = _config(impl, n_layer=1, n_head=2)
    arrays = _param_arrays(config, 54)
    tokens = np.array([[0, 3, 3, 1, 5], [0, 2, 6, 6, 4]])
    leaves = _tensors(impl, arrays)
    out, text = _call(impl.gpt_forward, leaves, tokens, config)
    _tensor_result(impl, out, text, (2, 5, 7))
    checked = ["wte", "wpe", "layer0.wq", "layer0.wv", "layer0.fc1", "lm_head"]
    _expect_gradients(text, out, leaves, arrays, lambda p: _gpt(p, tokens, 1, 2), checked, seed=55)


# ---------------------------------------------------------------------------------------------
# gpt_loss


def _padded_batch(seed: int):
    """Logits, targets and a mask of three sequences of lengths 5, 2 and 3, whose padded
    positions have large logits and arbitrary targets (a loss that counts them is far off)."""
    g = rng(seed)
    logits = g.normal(size=(3, 5, 6)) * 2
    targets = g.integers(0, 6, size=(3, 5))
    mask = np.arange(5) < np.array([[5], [2], [3]])
    logits[~mask] = g.normal(size=(int((~mask).sum()), 6)) * 30
    return logits, targets, mask


def _loss_result(impl, out, text) -> float:
    expect(isinstance(out, impl.Tensor), f"{text}: returned {type(out).__name__}, expected a 0-d Tensor")
    expect(
        out.shape == (), f"{text}: returned a Tensor of shape {out.shape}, expected a 0-d Tensor (a scalar)"
    )
    return float(out.data)


@exercise("gpt_loss")
def test_gpt_loss_uniform_logits(impl):
    # equal logits: every real position costs log(vocab), whatever the targets and the mask
    logits = np.zeros((2, 4, 6))
    targets = np.array([[1, 2, 3, 4], [5, 0, 0, 0]])
    mask = np.array([[True, True, True, True], [True, False, False, False]])
    out, text = _call(impl.gpt_loss, impl.Tensor(logits), targets, mask)
    expect_close(
        Call(_loss_result(impl, out, text), text),
        math.log(6),
        rtol=1e-12,
        mistakes={
            "divide the sum over the real positions by the number of all positions": math.log(6) * 5 / 8,
            "sum over the real positions instead of taking their mean": 5 * math.log(6),
        },
    )


@exercise("gpt_loss")
@pytest.mark.parametrize("seed", [60, 61])
def test_gpt_loss_mean_over_real_positions(impl, seed):
    logits, targets, mask = _padded_batch(seed)
    out, text = _call(impl.gpt_loss, impl.Tensor(logits), targets, mask)

    # a mean over the 10 real positions: not over all 15, and not a mean of per-sequence means
    def per_position(b, t):
        row = logits[b, t]
        top = row.max()
        return top + np.log(np.exp(row - top).sum()) - row[targets[b, t]]

    every = np.array([[per_position(b, t) for t in range(mask.shape[1])] for b in range(mask.shape[0])])
    expect_close(
        Call(_loss_result(impl, out, text), text),
        _loss_loops(logits, targets, mask),
        rtol=1e-9,
        what="the mean cross-entropy over the real positions",
        mistakes={
            "take the mean over every position, padding included": every.mean(),
            "divide the sum over the real positions by the number of all positions": every[mask].sum()
            / mask.size,
            "take the mean of each sequence's mean (short names weigh as much as long ones)": np.mean(
                [every[b][mask[b]].mean() for b in range(mask.shape[0])]
            ),
        },
    )


@exercise("gpt_loss")
def test_gpt_loss_gradient(impl):
    logits, targets, mask = _padded_batch(62)
    leaves = _tensors(impl, {"logits": logits})
    out, text = _call(impl.gpt_loss, leaves["logits"], targets, mask)
    _loss_result(impl, out, text)
    _expect_gradients(
        text,
        out,
        leaves,
        {"logits": logits},
        lambda p: _loss_loops(p["logits"], targets, mask),
        ["logits"],
        63,
    )
    expect(
        np.all(leaves["logits"].grad[~mask] == 0),
        f"backward of {text}: padded positions received a gradient; they must not count",
    )


@exercise("gpt_loss")
def test_gpt_loss_large_logits(impl):
    logits = np.array([[[1000.0, -1000.0, 0.0], [-1000.0, 1000.0, 999.0]]])
    targets = np.array([[0, 2]])
    mask = np.array([[True, True]])
    leaf = impl.Tensor(logits, requires_grad=True)
    with warnings.catch_warnings(), np.errstate(over="raise", invalid="raise", divide="raise"):
        warnings.simplefilter("error", RuntimeWarning)  # an overflow is an error here
        out, text = _call(impl.gpt_loss, leaf, targets, mask)
        out.backward()
    # position 0: log-prob 0; position 1: 999 - logsumexp(1000, 999) = -log(1 + e)
    want = (0.0 + math.log(1 + math.e)) / 2
    loss = _loss_result(impl, out, text)
    expect_close(Call(loss, text), want, rtol=1e-9, what="logits of ±1000 (log_softmax, not log(softmax))")
    s = 1 / (1 + math.e)  # softmax(1000, 999) at 999
    want_grad = np.array([[[0.0, 0.0, 0.0], [0.0, 1 - s, s - 1]]]) / 2
    expect_close(
        Call(leaf.grad, f"backward of {text}"),
        want_grad,
        atol=1e-12,
        what="the gradient (softmax - one_hot) / 2",
    )


# ---------------------------------------------------------------------------------------------
# adam_step


def _adam_setup(seed: int):
    g = rng(seed)
    arrays = {"w": g.normal(size=(3, 4)), "b": g.normal(size=4), "unused": g.normal(size=(2, 2))}
    return (
        arrays,
        {k: np.zeros_like(a) for k, a in arrays.items()},
        {k: np.zeros_like(a) for k, a in arrays.items()},
    )


@exercise("adam_step")
def test_adam_first_step(impl):
    # after one step m̂ = g and v̂ = g² exactly (bias correction), so each entry moves by
    # lr * g / (|g| + eps): about lr, against its gradient; tiny gradients show where eps goes
    arrays, m, v = _adam_setup(70)
    params = _tensors(impl, arrays)
    grads = {"w": rng(71).normal(size=(3, 4)), "b": np.array([1e-9, -1e-9, 2.0, -0.5])}
    for k, gr in grads.items():
        params[k].grad = gr.copy()
    _, text = _call(impl.adam_step, params, m, v, 1, 0.1, 0.8, 0.95, 1e-8)
    for k, gr in grads.items():
        want = arrays[k] - 0.1 * gr / (np.abs(gr) + 1e-8)
        expect_close(
            Call(params[k].data, f"{text} with lr=0.1"),
            want,
            rtol=1e-9,
            what=f"{k} after the first step",
            mistakes={
                "leave out the bias correction (m̂ = m, v̂ = v)": arrays[k]
                - 0.1 * (0.2 * gr) / (np.sqrt(0.05 * gr**2) + 1e-8),
                "put eps inside the square root, sqrt(v̂ + eps)": arrays[k] - 0.1 * gr / np.sqrt(gr**2 + 1e-8),
            },
        )
        expect_close(Call(m[k], text), 0.2 * gr, rtol=1e-12, what=f"m[{k!r}] = (1 - beta1) g")
        expect_close(Call(v[k], text), 0.05 * gr**2, rtol=1e-12, what=f"v[{k!r}] = (1 - beta2) g²")
    expect_close(
        Call(params["unused"].data, text),
        arrays["unused"],
        rtol=0,
        atol=0,
        what="a parameter whose grad is None (unchanged)",
    )


@exercise("adam_step")
@pytest.mark.parametrize("defaults", [False, True])
def test_adam_several_steps(impl, defaults):
    arrays, m, v = _adam_setup(72)
    params = _tensors(impl, arrays)
    beta1, beta2, eps, lr = (0.85, 0.99, 1e-8, 0.01) if defaults else (0.7, 0.9, 1e-3, 0.05)
    want, mw, vw = (
        {k: a.copy() for k, a in arrays.items()},
        {k: 0.0 for k in arrays},
        {k: 0.0 for k in arrays},
    )
    g = rng(73)
    for step in range(1, 5):
        for k in ("w", "b"):
            gr = g.normal(size=arrays[k].shape)
            params[k].grad = gr.copy()
            mw[k] = beta1 * mw[k] + (1 - beta1) * gr
            vw[k] = beta2 * vw[k] + (1 - beta2) * gr**2
            want[k] = want[k] - lr * (mw[k] / (1 - beta1**step)) / (np.sqrt(vw[k] / (1 - beta2**step)) + eps)
        if defaults:
            _, text = _call(impl.adam_step, params, m, v, step, lr)
        else:
            _, text = _call(impl.adam_step, params, m, v, step, lr, beta1, beta2, eps)
        for k in ("w", "b"):
            expect_close(Call(params[k].data, text), want[k], rtol=1e-9, what=f"{k} after step {step}")
            expect_close(Call(m[k], text), mw[k], rtol=1e-9, what=f"m[{k!r}] after step {step}")
            expect_close(Call(v[k], text), vw[k], rtol=1e-9, what=f"v[{k!r}] after step {step}")


@exercise("adam_step")
def test_adam_step_size_does_not_scale_with_the_gradient(impl):
    # Adam's first steps move each weight by about lr whatever the size of its gradient
    arrays, m, v = _adam_setup(74)
    params = _tensors(impl, arrays)
    for step in range(1, 4):
        params["w"].grad = np.full((3, 4), 1e4)
        params["b"].grad = np.full(4, 1e-4)
        _call(impl.adam_step, params, m, v, step, 0.01)
    for k in ("w", "b"):
        moved = arrays[k] - params[k].data
        expect_close(
            Call(moved, f"three adam_step(lr=0.01) with a constant gradient of {params[k].grad.flat[0]:g}"),
            np.full(arrays[k].shape, 0.03),
            rtol=1e-4,
            what=f"how far {k} moved",
        )


@exercise("adam_step", timeout=60)
def test_training_lowers_the_loss(impl):
    # the given train() with your make_batch, gpt_forward, gpt_loss and adam_step: microGPT's
    # sizes, 40 steps of 32 names; the reference goes from 3.3 to about 2.3 nats per char
    names = load_names()
    vocab = ["."] + sorted(set("".join(names)))
    config = impl.GPTConfig(vocab_size=len(vocab))
    params = impl.init_params(config, rng(80))
    losses = impl.train(params, config, names, vocab, 40, rng(81), batch_size=32, lr=0.02)
    first, last = losses[0], float(np.mean(losses[-10:]))
    expect(
        abs(first - math.log(len(vocab))) < 0.3,
        f"the first training loss is {first:.3f}; an untrained model should be near log({len(vocab)}) = "
        f"{math.log(len(vocab)):.3f}",
    )
    expect(
        last < first - 0.6,
        f"train() over 40 steps: loss {first:.3f} at the start, {last:.3f} over the last 10 steps; "
        "expected a drop of more than 0.6 (the reference reaches about 2.3)",
    )


# ---------------------------------------------------------------------------------------------
# sample

_VOCAB = [".", "a", "b", "c"]


def _bigram(first_logits) -> callable:
    """A model whose logits depend on the last token only: from the boundary, `first_logits`;
    from any letter, the boundary almost surely (so every name has one letter)."""
    table = np.full((4, 4), -40.0)
    table[:, 0] = 40.0
    table[0] = first_logits
    return lambda tokens: table[tokens]


def _counter(block_size: int, stop_after: int | None):
    """A model that reads the whole context: after t tokens it prefers letter (t % 3) + 1,
    'a' 'b' 'c' 'a' ..., and the boundary once t > stop_after. Earlier positions prefer 'b'
    (so using logits[:, 0] instead of logits[:, -1] shows). It checks what it is fed."""

    def logits_fn(tokens):
        n, t = tokens.shape
        expect(1 <= t <= block_size, f"sample fed the model {t} tokens; block_size is {block_size}")
        expect(np.all(tokens[:, 0] == 0), "sample fed sequences that do not start with the boundary token 0")
        logits = np.zeros((n, t, 4))
        logits[:, :, 2] = 2.0
        last = np.zeros(4)
        last[0 if stop_after is not None and t > stop_after else (t - 1) % 3 + 1] = 5.0
        logits[:, -1] = last
        return logits

    return logits_fn


def _first_letters(names: list[str]) -> np.ndarray:
    counts = np.zeros(4)
    for name in names:
        counts[_VOCAB.index(name[0]) if name else 0] += 1
    return counts / len(names)


def _sample(
    impl, model, label: str, n: int, block_size: int, seed: int, temperature: float, strict=False
) -> Call:
    """impl.sample on a model written here, described readably; strict: NumPy warnings are errors."""
    text = (
        f"sample({label}, vocab '.abc', n_samples={n}, block_size={block_size}, rng({seed}), "
        f"temperature={temperature})"
    )
    call = run_without_warnings if strict else run
    return Call(call(impl.sample, model, _VOCAB, n, block_size, rng(seed), temperature).value, text)


@exercise("sample")
def test_sample_greedy(impl):
    got = _sample(impl, _counter(8, stop_after=4), "counting model", 3, 8, 90, 0.0)
    _expect_list(got, ["abca"] * 3, what="temperature 0: the argmax at each step, stopping at the boundary")


@exercise("sample")
def test_sample_without_boundary_fills_the_block(impl):
    got = _sample(impl, _counter(5, stop_after=None), "counting model that never ends a name", 2, 5, 91, 0.0)
    _expect_list(got, ["abcab"] * 2, what="block_size characters, the model fed at most block_size tokens")


def _staggered(block_size: int):
    """A model for greedy sampling in which sequence r of the batch writes r + 1 letters
    ('a', 'b', 'c', 'a', ...) and then the boundary: the sequences end at different steps."""

    def logits_fn(tokens):
        n, t = tokens.shape
        expect(1 <= t <= block_size, f"sample fed the model {t} tokens; block_size is {block_size}")
        logits = np.zeros((n, t, 4))
        for r in range(n):
            logits[r, -1, 0 if t > r + 1 else (t - 1) % 3 + 1] = 5.0
        return logits

    return logits_fn


@exercise("sample")
def test_sample_goes_on_until_every_sequence_has_ended(impl):
    # Sequence r ends after r + 1 letters: stopping at the first boundary of any sequence
    # cuts the others short.
    got = _sample(impl, _staggered(8), "a model whose sequence r ends after r + 1 letters", 4, 8, 96, 0.0)
    _expect_list(
        got,
        ["a", "ab", "abc", "abca"],
        what="go on until every sequence has produced the boundary (or block_size steps)",
        mistakes={
            # the step on which sequence 0 ends still gives the others their second letter
            "stop as soon as any sequence produces the boundary (instead of all)": ["a", "ab", "ab", "ab"],
        },
    )


@exercise("sample")
def test_sample_rows_on_very_different_scales(impl):
    # Each row's logits carry an offset of its own (softmax ignores it): 0, -3000 and +3000.
    # The stable softmax subtracts each row's own max; one shift for the whole batch (its
    # overall max, or a mean) overflows or leaves a row of zeros. Every row writes "ab".
    offsets = np.array([0.0, -3000.0, 3000.0])

    def logits_fn(tokens):
        n, t = tokens.shape
        logits = np.zeros((n, t, 4))
        logits[:, -1, (t - 1) % 3 + 1 if t <= 2 else 0] = 30.0
        return logits + offsets[:, None, None]

    got = _sample(impl, logits_fn, "a model with row offsets 0, -3000, 3000", 3, 6, 98, 1.0, strict=True)
    _expect_list(got, ["ab"] * 3, what="the softmax of each row shifted by that row's own max")


@exercise("sample")
def test_sample_low_temperature_is_greedy(impl):
    got = _sample(impl, _counter(8, stop_after=2), "counting model", 50, 8, 92, 0.005, strict=True)
    _expect_list(
        got, ["ab"] * 50, what="temperature 0.005, as greedy (logits / T reach 1000: a stable softmax)"
    )


@exercise("sample")
@pytest.mark.parametrize("temperature", [1.0, 0.5, 2.0])
def test_sample_distribution(impl, temperature):
    first_logits = np.array([-1.0, 1.0, 0.0, 0.5])
    n = 4000
    got = _sample(impl, _bigram(first_logits), "bigram model", n, 6, 93, temperature)
    expect(isinstance(got.value, list) and len(got.value) == n, f"{got}: expected a list of {n} names")
    freq = _first_letters(got.value)
    want = _softmax(first_logits / temperature)
    tolerance = 4.5 * np.sqrt(want * (1 - want) / n)  # a correct sampler stays inside
    worst = int(np.argmax(np.abs(freq - want) / tolerance))
    expect(
        np.all(np.abs(freq - want) <= tolerance),
        f"{got}: the first token of {n} names (boundary, a, b, c) came out with frequencies "
        f"{np.round(freq, 3)}, expected softmax(logits / {temperature}) = {np.round(want, 3)}; "
        f"{_VOCAB[worst]!r} is off by {abs(freq[worst] - want[worst]):.3f} "
        f"(tolerance {tolerance[worst]:.3f})",
    )
    long = [name for name in got.value if len(name) > 1]
    expect(
        not long,
        f"{got}: names such as {long[:3]} go on past the boundary token the model put after the first letter",
    )


@exercise("sample")
def test_sample_uses_the_given_rng(impl):
    model = _bigram(np.array([0.0, 0.3, 0.2, 0.1]))
    np.random.seed(1)
    first = _sample(impl, model, "bigram model", 60, 6, 94, 1.0)
    np.random.seed(2)  # the global generator must not matter
    again = _sample(impl, model, "bigram model", 60, 6, 94, 1.0)
    _expect_list(
        again,
        first.value,
        what="the same seed twice, after reseeding np.random (draw with the given rng only)",
    )
    other = _sample(impl, model, "bigram model", 60, 6, 95, 1.0)
    expect(
        other.value != first.value,
        f"{other}: another seed gave the same 60 names as rng(94); draw with the given rng",
    )
    # The generator itself, not a copy or a new one seeded from it: two calls with one
    # generator go on where the first left off, so they give other names.
    g = rng(97)
    one = impl.sample(model, _VOCAB, 60, 6, g, 1.0)
    two = impl.sample(model, _VOCAB, 60, 6, g, 1.0)
    expect(
        one != two,
        "sample(bigram model, ..., rng=g) twice with the same generator g gave the same 60 names: draw "
        "from g itself (it moves on with every draw); do not copy or re-seed it",
    )
