"""Tests for chapter 5, part 5: a GPT's initialisation, forward pass, cross-entropy, full
backward pass, AdamW on a parameter tree, and training on the standard library's
documentation.

Expected values come from this file: a GPT written out here head by head (each head's
scores computed from its own slice of the projections, a causal mask by comparison of
indices, layer norm and GPT-2's tanh GELU by formula), a cross-entropy with explicit
indices, and AdamW written entry by entry. Every gradient is checked against central
differences of this file's model. The training test trains a small model for a small
budget and requires a held-out loss that the reference beat on every one of 30 seeds
(worst seed in the test). Sizes are never square: N, T, D, H, V and the context all differ.
"""

import copy
import math

import numpy as np
import pytest

from coursedata import load_pydoc_text, split_text
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
# The model written out


def _ln(x, p, eps=1e-5):
    mu = x.mean(axis=-1, keepdims=True)
    var = ((x - mu) ** 2).mean(axis=-1, keepdims=True)
    return (x - mu) / np.sqrt(var + eps) * p["gamma"] + p["beta"]


def _gelu(x):
    return 0.5 * x * (1 + np.tanh(math.sqrt(2 / math.pi) * (x + 0.044715 * x**3)))


def _attention(x, p, H, causal=True):
    """Multi-head self-attention, one head at a time on its slice of the projections."""
    N, T, D = x.shape
    d = D // H
    q, k, v = (x @ p[f"W_{c}"] + p[f"b_{c}"] for c in "qkv")
    allowed = np.arange(T)[None, :] <= np.arange(T)[:, None]  # key s <= query t
    heads = []
    for h in range(H):
        s = slice(h * d, (h + 1) * d)
        scores = q[..., s] @ k[..., s].transpose(0, 2, 1) / math.sqrt(d)
        if causal:
            scores = np.where(allowed, scores, -np.inf)
        w = np.exp(scores - scores.max(axis=-1, keepdims=True))
        heads.append((w / w.sum(axis=-1, keepdims=True)) @ v[..., s])
    return np.concatenate(heads, axis=-1) @ p["W_o"] + p["b_o"]


def _block(x, p, H, causal=True):
    h = x + _attention(_ln(x, p["ln1"]), p["attn"], H, causal)
    m = p["mlp"]
    return h + _gelu(_ln(h, p["ln2"]) @ m["W_1"] + m["b_1"]) @ m["W_2"] + m["b_2"]


def _gpt(tokens, params, H, causal=True, final_norm=True, blocks=None, W_out=None):
    """The logits; the keyword arguments make the WRONG models the tests name."""
    T = tokens.shape[1]
    x = params["W_tok"][tokens] + params["W_pos"][:T]
    for block in params["blocks"] if blocks is None else blocks:
        x = _block(x, block, H, causal)
    if final_norm:
        x = _ln(x, params["ln_f"])
    return x @ (params["W_out"] if W_out is None else W_out)


def _params(V, context, D, L, seed, scale=0.4):
    """Random parameters, larger than an initialisation so that every piece shows."""
    g = rng(seed)

    def ln():
        return {"gamma": 1 + 0.2 * g.normal(size=D), "beta": 0.2 * g.normal(size=D)}

    def block():
        attn = {}
        for c in "qkvo":
            attn[f"W_{c}"] = scale * g.normal(size=(D, D))
            attn[f"b_{c}"] = 0.2 * g.normal(size=D)
        mlp = {
            "W_1": scale * g.normal(size=(D, 4 * D)),
            "b_1": 0.2 * g.normal(size=4 * D),
            "W_2": 0.5 * scale * g.normal(size=(4 * D, D)),
            "b_2": 0.2 * g.normal(size=D),
        }
        return {"ln1": ln(), "attn": attn, "ln2": ln(), "mlp": mlp}

    return {
        "W_tok": g.normal(size=(V, D)),
        "W_pos": g.normal(size=(context, D)),
        "blocks": [block() for _ in range(L)],
        "ln_f": ln(),
        "W_out": g.normal(size=(D, V)),
    }


def _map(fn, tree, *rest):
    if isinstance(tree, dict):
        return {key: _map(fn, tree[key], *(r[key] for r in rest)) for key in tree}
    if isinstance(tree, list):
        return [_map(fn, t, *(r[i] for r in rest)) for i, t in enumerate(tree)]
    return fn(tree, *rest)


def _paths(tree, prefix=""):
    """[(path, array)] of every array of a tree: 'blocks[1].attn.W_q'."""
    if isinstance(tree, dict):
        return [pair for key in tree for pair in _paths(tree[key], f"{prefix}.{key}" if prefix else key)]
    if isinstance(tree, list):
        return [pair for i, t in enumerate(tree) for pair in _paths(t, f"{prefix}[{i}]")]
    return [(prefix, tree)]


def _at(tree, path):
    for part in path.replace("[", ".[").split("."):
        tree = tree[int(part[1:-1])] if part.startswith("[") else tree[part]
    return tree


def _of(call, value):
    return Call(np.asarray(value), str(call))


def _expect_same_structure(call, got, want, what):
    """got is a tree with exactly want's nesting: the same dict keys, list lengths, shapes."""

    def structure(tree):
        if isinstance(tree, dict):
            return {key: structure(value) for key, value in tree.items()}
        if isinstance(tree, list):
            return [structure(t) for t in tree]
        return getattr(tree, "shape", type(tree).__name__)

    expect(
        structure(got) == structure(want),
        f"{call}: {what} should be nested exactly like params (dict keys, list lengths, shapes);\n"
        f"got  {structure(got)}\nwant {structure(want)}",
    )


def _expect_unchanged(call, before, after, what="params"):
    for path, array in _paths(before):
        expect(
            np.array_equal(array, _at(after, path)),
            f"{call} changed {what} {path} in place; work on copies and return new arrays",
        )


# V = 11 tokens, context 9, D = 12, H = 3 heads of 4, L = 2 blocks, N = 2 sequences of T = 7
V, CONTEXT, D, H, L, N, T = 11, 9, 12, 3, 2, 2, 7


# ---------------------------------------------------------------------------------------------
# gpt_init


@exercise("gpt_init")
def test_gpt_init_structure_and_shapes(impl):
    got = run(impl.gpt_init, rng(0), V, CONTEXT, D, H, 3)
    params = got.value
    expect(
        isinstance(params, dict) and set(params) == {"W_tok", "W_pos", "blocks", "ln_f", "W_out"},
        f"{got}: expected a dict with the keys W_tok, W_pos, blocks, ln_f, W_out",
    )
    expect(
        isinstance(params["blocks"], list) and len(params["blocks"]) == 3,
        f"{got}: params['blocks'] should be a list of n_layers = 3 blocks",
    )
    for name, shape in (("W_tok", (V, D)), ("W_pos", (CONTEXT, D)), ("W_out", (D, V))):
        expect(
            params[name].shape == shape and params[name].dtype == np.float64,
            f"{got}: {name} is {params[name].dtype}{list(params[name].shape)}, expected float64{list(shape)}",
        )
    expect_equal(_of(got, params["ln_f"]["gamma"]), np.ones(D), what="ln_f gamma")
    expect_equal(_of(got, params["ln_f"]["beta"]), np.zeros(D), what="ln_f beta")


@exercise("gpt_init")
@pytest.mark.parametrize("n_layers", [1, 3])
def test_gpt_init_draws_in_the_documented_order(impl, n_layers):
    got = run(impl.gpt_init, rng(1), V, CONTEXT, D, H, n_layers)
    params = got.value
    g = rng(1)
    W_tok = g.normal(0.0, 1.0, size=(V, D))
    W_pos = g.normal(0.0, 0.02, size=(CONTEXT, D))
    blocks = [impl.block_init(g, D) for _ in range(n_layers)]  # your part 4's block_init
    W_out = g.normal(0.0, 0.02, size=(D, V))
    expect_close(
        _of(got, params["W_tok"]),
        W_tok,
        what="W_tok (the first draw, N(0, 1))",
        mistakes={"draw W_tok with standard deviation 0.02 instead of 1": 0.02 * W_tok},
    )
    expect_close(_of(got, params["W_pos"]), W_pos, what="W_pos (the second draw)")
    scale = 1 / math.sqrt(2 * n_layers)
    for i, block in enumerate(blocks):
        for group, name in (("attn", "W_o"), ("mlp", "W_2")):
            expect_close(
                _of(got, params["blocks"][i][group][name]),
                block[group][name] * scale,
                what=f"blocks[{i}]['{group}']['{name}'] (block_init's, times 1/sqrt(2 n_layers))",
                mistakes={
                    "forget to scale the residual projections by 1/sqrt(2 n_layers)": block[group][name],
                    "scale by 1/sqrt(n_layers) instead of 1/sqrt(2 n_layers)": block[group][name]
                    / math.sqrt(n_layers),
                    "scale by 1/(2 n_layers) instead of 1/sqrt(2 n_layers)": block[group][name]
                    / (2 * n_layers),
                },
            )
        expect_close(
            _of(got, params["blocks"][i]["attn"]["W_q"]),
            block["attn"]["W_q"],
            what=f"blocks[{i}]['attn']['W_q'] (block_init's, unscaled)",
        )
    expect_close(_of(got, params["W_out"]), W_out, what="W_out (the last draw)")


@exercise("gpt_init")
def test_gpt_init_rejects_heads_that_do_not_divide_d_model(impl):
    try:
        impl.gpt_init(rng(2), V, CONTEXT, 10, 4, 1)
    except ValueError:
        return
    raise AssertionError("gpt_init(d_model=10, n_heads=4) should raise ValueError: 4 heads do not divide 10")


# ---------------------------------------------------------------------------------------------
# gpt_forward


@exercise("gpt_forward")
def test_gpt_forward_matches_the_written_out_model(impl):
    params = _params(V, CONTEXT, D, L, 10)
    tokens = rng(11).integers(0, V, size=(N, T))
    got = run(impl.gpt_forward, tokens, params, H)
    expect(isinstance(got.value, tuple) and len(got.value) == 2, f"{got}: expected (logits, cache)")
    logits = _of(got, got.value[0])
    expect_close(
        logits,
        _gpt(tokens, params, H),
        what="the logits",
        mistakes={
            "forget the causal mask (every position sees the future)": lambda: _gpt(
                tokens, params, H, causal=False
            ),
            "forget the final layer norm ln_f": lambda: _gpt(tokens, params, H, final_norm=False),
            "use W_tok.T as the output layer (weight tying) instead of W_out": lambda: _gpt(
                tokens, params, H, W_out=params["W_tok"].T
            ),
            "run the blocks in reverse order": lambda: _gpt(tokens, params, H, blocks=params["blocks"][::-1]),
            "run only the last block": lambda: _gpt(tokens, params, H, blocks=params["blocks"][-1:]),
        },
    )


@exercise("gpt_forward")
@pytest.mark.parametrize("length", [1, CONTEXT])
def test_gpt_forward_any_length_up_to_the_context(impl, length):
    params = _params(V, CONTEXT, D, 1, 12)
    tokens = rng(13).integers(0, V, size=(3, length))
    got = run(impl.gpt_forward, tokens, params, H)
    expect_close(_of(got, got.value[0]), _gpt(tokens, params, H), what=f"the logits of {length} tokens")


@exercise("gpt_forward")
def test_gpt_forward_is_causal(impl):
    # Changing the tokens after position t leaves the logits at positions 0..t unchanged.
    params = _params(V, CONTEXT, D, L, 14)
    tokens = rng(15).integers(0, V, size=(N, T))
    first = impl.gpt_forward(tokens, params, H)[0]
    for t in (0, 2, 5):
        changed = tokens.copy()
        changed[:, t + 1 :] = (changed[:, t + 1 :] + 1 + t) % V
        got = run(impl.gpt_forward, changed, params, H)
        expect_close(
            _of(got, got.value[0][:, : t + 1]),
            first[:, : t + 1],
            what=f"logits[:, :{t + 1}] after changing tokens[:, {t + 1}:] (position t may not see t + 1)",
        )


@exercise("gpt_forward")
def test_gpt_forward_keeps_float32(impl):
    params = _map(lambda a: a.astype(np.float32), _params(V, CONTEXT, D, L, 16, scale=0.2))
    tokens = rng(17).integers(0, V, size=(N, T))
    got = run(impl.gpt_forward, tokens, params, H)
    logits = got.value[0]
    expect(logits.dtype == np.float32, f"{got}: logits are {logits.dtype}; float32 parameters give float32")
    want = _gpt(tokens, _map(lambda a: a.astype(np.float64), params), H)
    expect_close(_of(got, logits), want, rtol=1e-4, atol=1e-4, what="the float32 logits")


# ---------------------------------------------------------------------------------------------
# cross_entropy


def _cross_entropy(logits, targets):
    """(per-position losses (N, T), softmax (N, T, V)) with explicit indices."""
    z = logits - logits.max(axis=-1, keepdims=True)
    p = np.exp(z) / np.exp(z).sum(axis=-1, keepdims=True)
    n, t = np.indices(targets.shape)
    return -np.log(p[n, t, targets]), p


def _onehot(targets, V):
    return np.eye(V)[targets]


@exercise("cross_entropy")
def test_cross_entropy_loss_and_gradient(impl):
    logits = 2 * rng(20).normal(size=(3, 5, 7))
    targets = rng(21).integers(0, 7, size=(3, 5))
    got = run(impl.cross_entropy, logits, targets)
    expect(isinstance(got.value, tuple) and len(got.value) == 2, f"{got}: expected (loss, dlogits)")
    loss, dlogits = got.value
    per, p = _cross_entropy(logits, targets)
    expect(isinstance(loss, float), f"{got}: the loss should be a Python float, got {type(loss).__name__}")
    expect_close(
        _of(got, loss),
        per.mean(),
        what="the loss (mean over N*T positions, in nats)",
        mistakes={
            "sum over the positions instead of averaging": per.sum(),
            "average over the batch only (sum over time)": per.sum(axis=1).mean(),
            "use log base 2 (bits) instead of nats": per.mean() / math.log(2),
        },
    )
    onehot = _onehot(targets, 7)
    expect_close(
        _of(got, dlogits),
        (p - onehot) / 15,
        what="dlogits",
        mistakes={
            "forget to divide the gradient by N*T": p - onehot,
            "divide the gradient by N instead of N*T": (p - onehot) / 3,
            "flip the sign (onehot - softmax)": (onehot - p) / 15,
            "forget the softmax term (-onehot / (N*T))": -onehot / 15,
        },
    )


@exercise("cross_entropy")
def test_cross_entropy_by_hand(impl):
    # Two positions, 3 tokens: uniform logits cost ln 3; logits (ln 4, 0, 0) give the
    # target 0 probability 4/6, costing ln 1.5.
    logits = np.array([[[0.0, 0.0, 0.0], [math.log(4), 0.0, 0.0]]])
    targets = np.array([[2, 0]])
    got = run(impl.cross_entropy, logits, targets)
    expect_close(_of(got, got.value[0]), (math.log(3) + math.log(1.5)) / 2, what="the loss")
    want = np.array([[[1 / 3, 1 / 3, -2 / 3], [4 / 6 - 1, 1 / 6, 1 / 6]]]) / 2
    expect_close(_of(got, got.value[1]), want, what="dlogits")


@exercise("cross_entropy")
def test_cross_entropy_matches_central_differences(impl):
    logits = rng(22).normal(size=(2, 4, 6))
    targets = rng(23).integers(0, 6, size=(2, 4))
    got = run(impl.cross_entropy, logits, targets)
    want = numeric_grad(lambda z: _cross_entropy(z, targets)[0].mean(), logits)
    expect_close(
        _of(got, got.value[1]), want, rtol=1e-5, atol=1e-9, what="dlogits against central differences"
    )


@exercise("cross_entropy")
def test_cross_entropy_is_stable_for_huge_logits(impl):
    logits = np.array([[[1000.0, 0.0, -1000.0], [-800.0, 800.0, 0.0], [0.0, 0.0, 900.0]]])
    targets = np.array([[0, 0, 1]])
    got = run_without_warnings(impl.cross_entropy, logits, targets)
    expect_close(_of(got, got.value[0]), (0.0 + 1600.0 + 900.0) / 3, what="the loss")
    want = np.array([[[0.0, 0.0, 0.0], [-1.0, 1.0, 0.0], [0.0, -1.0, 1.0]]]) / 3
    expect_close(_of(got, got.value[1]), want, what="dlogits")


@exercise("cross_entropy")
def test_cross_entropy_keeps_float32(impl):
    logits = rng(24).normal(size=(2, 3, 5)).astype(np.float32)
    targets = rng(25).integers(0, 5, size=(2, 3))
    got = run(impl.cross_entropy, logits, targets)
    expect(
        got.value[1].dtype == np.float32,
        f"{got}: dlogits is {got.value[1].dtype}; float32 logits give float32",
    )
    per, p = _cross_entropy(logits.astype(np.float64), targets)
    expect_close(_of(got, got.value[1]), (p - _onehot(targets, 5)) / 6, rtol=1e-4, atol=1e-6, what="dlogits")
    expect_close(_of(got, got.value[0]), per.mean(), rtol=1e-4, what="the loss")


# ---------------------------------------------------------------------------------------------
# gpt_backward

# The smallest model that has every piece: V = 5, context 4, D = 4, H = 2 heads of 2, L = 2, N = 2, T = 3
SMALL = dict(V=5, context=4, D=4, L=2)


def _numeric_grads(tokens, params, H, R):
    """Central differences of sum(logits * R) with respect to every parameter."""
    work = copy.deepcopy(params)  # one copy, each array swapped for the perturbed one in turn
    grads = copy.deepcopy(params)
    for path, value in _paths(params):
        parent_path, _, leaf = path.rpartition(".")
        parent = _at(work, parent_path) if parent_path else work

        def loss_at(v, parent=parent, leaf=leaf):
            parent[leaf] = v
            return float(np.sum(_gpt(tokens, work, H) * R))

        (_at(grads, parent_path) if parent_path else grads)[leaf] = numeric_grad(loss_at, value)
        parent[leaf] = value
    return grads


def _expect_grads(call, got, want, mistakes=None):
    _expect_same_structure(call, got, want, "the gradients")
    for path, array in _paths(want):
        expect_close(
            _of(call, _at(got, path)),
            array,
            rtol=1e-5,
            atol=1e-8,
            what=f"d{path}",
            mistakes=(mistakes or {}).get(path),
        )


@exercise("gpt_backward")
def test_gpt_backward_matches_central_differences(impl):
    params = _params(**SMALL, seed=30)
    tokens = np.array([[1, 3, 1], [4, 1, 0]])  # token 1 three times: its row collects all three
    R = rng(31).normal(size=(2, 3, 5))  # the loss sum(logits * R) has dlogits = R
    _, cache = impl.gpt_forward(tokens, params, 2)
    got = run(impl.gpt_backward, R, cache)
    want = _numeric_grads(tokens, params, 2, R)
    reversed_blocks = {
        f"blocks[{i}].{path}": {
            "keep the blocks' gradients in the order they were computed (last block first)": a
        }
        for i, block in enumerate(want["blocks"][::-1])
        for path, a in _paths(block)
    }
    _expect_grads(got, got.value, want, reversed_blocks)


@exercise("gpt_backward")
def test_gpt_backward_one_block_longer_sequence(impl):
    params = _params(V=6, context=7, D=6, L=1, seed=32)
    tokens = rng(33).integers(0, 6, size=(1, 5))
    R = rng(34).normal(size=(1, 5, 6))
    _, cache = impl.gpt_forward(tokens, params, 3)
    got = run(impl.gpt_backward, R, cache)
    _expect_grads(got, got.value, _numeric_grads(tokens, params, 3, R))


@exercise("gpt_backward")
def test_gpt_backward_with_the_cross_entropy(impl):
    # Through the whole loss: gpt_forward, cross_entropy, gpt_backward; unused positions of
    # W_pos (T < context) get a zero gradient.
    params = _params(**SMALL, seed=35)
    tokens = rng(36).integers(0, 5, size=(3, 2))
    targets = rng(37).integers(0, 5, size=(3, 2))
    logits, cache = impl.gpt_forward(tokens, params, 2)
    _, dlogits = impl.cross_entropy(logits, targets)
    got = run(impl.gpt_backward, dlogits, cache)
    want = _numeric_grads(tokens, params, 2, dlogits)  # sum(logits * dlogits): the same gradient
    _expect_grads(got, got.value, want)
    expect_equal(
        _of(got, got.value["W_pos"][2:]), np.zeros((2, 4)), what="dW_pos of the unused positions 2, 3"
    )


# ---------------------------------------------------------------------------------------------
# adamw_step


def _tree(seed):
    g = rng(seed)
    return {
        "W": g.normal(size=(3, 4)),
        "b": g.normal(size=4),
        "layers": [{"E": g.normal(size=(2, 5)), "g": g.normal(size=5)}],
    }


def _adamw(
    params, grads_list, lr, betas=(0.9, 0.95), eps=1e-8, wd=0.1, decay_all=None, coupled=False, correct=True
):
    """AdamW written out entry by entry over several steps; the keyword arguments make the WRONG versions."""
    b1, b2 = betas
    out = []
    for path, p in _paths(params):
        p = p.copy()
        m = np.zeros_like(p)
        v = np.zeros_like(p)
        decays = p.ndim >= 2 if decay_all is None else decay_all
        for t, grads in enumerate(grads_list, start=1):
            g = _at(grads, path) + (wd * p if coupled and decays else 0)
            m = b1 * m + (1 - b1) * g
            v = b2 * v + (1 - b2) * g * g
            m_hat, v_hat = (m / (1 - b1**t), v / (1 - b2**t)) if correct else (m, v)
            p = p - lr * (m_hat / (np.sqrt(v_hat) + eps) + (wd * p if decays and not coupled else 0))
        out.append((path, p))
    return out


def _expect_adamw(call, got, want, mistakes):
    for path, array in want:
        expect_close(
            _of(call, _at(got, path)),
            array,
            rtol=1e-7,
            atol=1e-10,
            what=f"the new {path}",
            mistakes={phrase: dict(answer)[path] for phrase, answer in mistakes.items()},
        )


@exercise("adamw_step")
def test_adamw_step_first_step(impl):
    params, grads = _tree(40), _tree(41)
    before = copy.deepcopy(params)
    got = run(impl.adamw_step, params, grads, None, 0.05)
    expect(isinstance(got.value, tuple) and len(got.value) == 2, f"{got}: expected (new params, state)")
    new, _ = got.value
    _expect_same_structure(got, new, params, "the new params")
    _expect_adamw(
        got,
        new,
        _adamw(params, [grads], 0.05),
        {
            "decay the vectors too (biases and gammas must not decay)": _adamw(
                params, [grads], 0.05, decay_all=True
            ),
            "decay no parameter": _adamw(params, [grads], 0.05, decay_all=False),
            "add the decay to the gradient (Adam with L2, not decoupled AdamW)": _adamw(
                params, [grads], 0.05, coupled=True
            ),
            "forget the bias correction (divide m and v by 1 - beta^t)": _adamw(
                params, [grads], 0.05, correct=False
            ),
        },
    )
    _expect_unchanged(got, before, params)


@exercise("adamw_step")
def test_adamw_step_carries_the_state(impl):
    params = _tree(42)
    grads_list = [_tree(43 + k) for k in range(3)]
    before = copy.deepcopy(params)
    state, current = None, params
    for grads in grads_list:
        state_before = copy.deepcopy(state)
        got = run(impl.adamw_step, current, grads, state, 0.01, (0.8, 0.9), 1e-6, 0.3)
        if state is not None:
            _expect_unchanged(got, state_before["m"], state["m"], "the state's m")
            _expect_unchanged(got, state_before["v"], state["v"], "the state's v")
        current, state = got.value
    _expect_adamw(
        got,
        current,
        _adamw(params, grads_list, 0.01, (0.8, 0.9), 1e-6, 0.3),
        {
            "forget the bias correction (divide m and v by 1 - beta^t)": _adamw(
                params, grads_list, 0.01, (0.8, 0.9), 1e-6, 0.3, correct=False
            ),
            "add the decay to the gradient (Adam with L2, not decoupled AdamW)": _adamw(
                params, grads_list, 0.01, (0.8, 0.9), 1e-6, 0.3, coupled=True
            ),
        },
    )
    expect(
        isinstance(state, dict) and state.get("t") == 3,
        f"{got}: after three steps the state's 't' should be 3, got "
        f"{state.get('t') if isinstance(state, dict) else state!r}",
    )
    _expect_unchanged(got, before, params)


@exercise("adamw_step")
def test_adamw_step_default_betas_and_decay(impl):
    # betas (0.9, 0.95), eps 1e-8, weight decay 0.1, over two steps.
    params = _tree(46)
    grads_list = [_tree(47), _tree(48)]
    state, current = None, params
    for grads in grads_list:
        got = run(impl.adamw_step, current, grads, state, 0.02)
        current, state = got.value
    _expect_adamw(
        got,
        current,
        _adamw(params, grads_list, 0.02),
        {"use beta2 = 0.999 instead of the default 0.95": _adamw(params, grads_list, 0.02, (0.9, 0.999))},
    )


# ---------------------------------------------------------------------------------------------
# train_gpt


def _train_loop(impl, params, ids, heads, steps, batch_size, seq_len, lr, seed, max_norm=1.0, wd=0.1):
    """train_gpt written out with the learner's pieces."""
    g = rng(seed)
    state, losses = None, []
    for _ in range(steps):
        inputs, targets = impl.get_batch(ids, batch_size, seq_len, g)
        logits, cache = impl.gpt_forward(inputs, params, heads)
        loss, dlogits = impl.cross_entropy(logits, targets)
        grads, _ = impl.clip_by_global_norm(impl.gpt_backward(dlogits, cache), max_norm)
        params, state = impl.adamw_step(params, grads, state, lr, weight_decay=wd)
        losses.append(loss)
    return params, losses


@exercise("train_gpt")
@pytest.mark.parametrize("max_norm, wd", [(100.0, 0.1), (0.5, 0.3)])
def test_train_gpt_matches_the_written_out_loop(impl, max_norm, wd):
    params = _params(V=8, context=6, D=6, L=1, seed=50, scale=0.2)
    ids = rng(51).integers(0, 8, size=60)
    before = copy.deepcopy(params)
    got = run(impl.train_gpt, params, ids, 2, 3, 4, 5, 0.01, rng(52), max_norm, wd)
    want_params, want_losses = _train_loop(impl, params, ids, 2, 3, 4, 5, 0.01, 52, max_norm, wd)
    expect(isinstance(got.value, tuple) and len(got.value) == 2, f"{got}: expected (params, losses)")
    trained, losses = got.value
    mistakes = {}
    if max_norm < 1:
        mistakes["forget to clip the gradients"] = lambda: _train_loop(
            impl, params, ids, 2, 3, 4, 5, 0.01, 52, np.inf, wd
        )[1]
    expect_close(_of(got, losses), want_losses, what="the losses of the 3 steps", mistakes=mistakes)
    _expect_same_structure(got, trained, params, "the trained params")
    for path, array in _paths(want_params):
        expect_close(_of(got, _at(trained, path)), array, what=f"the trained {path}")
    _expect_unchanged(got, before, params)


@exercise("train_gpt")
def test_train_gpt_one_loss_per_step(impl):
    params = _params(V=6, context=5, D=4, L=1, seed=53, scale=0.2)
    ids = rng(54).integers(0, 6, size=50)
    got = run(impl.train_gpt, params, ids, 2, 4, 2, 5, 0.02, rng(55))
    _, losses = got.value
    expect(
        isinstance(losses, list) and len(losses) == 4 and all(isinstance(v, float) for v in losses),
        f"{got}: expected a list of 4 Python floats (one loss per step), got {losses!r:.80}",
    )
    expect(len(set(losses)) == 4, f"{got}: equal losses {losses}: every step should draw a new batch")


# The budget: context 16, D 16, 2 heads, 1 block, batches of 32 x 16, 30 steps of AdamW at
# 3e-2, from gpt_init. Over 30 seeds (init rng(s), training rng(s + 1)) the reference's
# held-out loss on the first 4,096 held-out characters was 2.78-2.95 nats (worst seed 11);
# the characters' frequencies alone give 3.24 nats.
HELD_OUT_LOSS = 3.05


@exercise("train_gpt", timeout=60)
def test_train_gpt_learns_the_documentation(impl):
    train_text, held_out = split_text(load_pydoc_text())
    vocab = sorted(set(train_text + held_out))
    index = {ch: i for i, ch in enumerate(vocab)}
    train_ids = np.array([index[ch] for ch in train_text])
    held = np.array([index[ch] for ch in held_out[: 4096 + 1]])
    params = impl.gpt_init(rng(0), len(vocab), 16, 16, 2, 1)
    got = run(impl.train_gpt, params, train_ids, 2, 30, 32, 16, 3e-2, rng(1))
    trained, losses = got.value
    logits = _gpt(held[:-1].reshape(-1, 16), trained, 2)
    loss = float(_cross_entropy(logits, held[1:].reshape(-1, 16))[0].mean())
    expect(
        loss < HELD_OUT_LOSS,
        f"{got}: held-out loss {loss:.2f} nats per character, expected below {HELD_OUT_LOSS} "
        f"(training loss from {losses[0]:.2f} to {np.mean(losses[-10:]):.2f})",
    )
