"""Tests for chapter 5, part 9: multi-token prediction heads on a GPT trunk (Gloeckle et al.,
2024), their loss (head j predicts the token j places ahead; positions without one are left
out) and the backward pass through the heads into the shared trunk.

Expected values come from this file: the trunk and the heads written out here head by head,
a loss written with explicit loops over the positions that have a target, and gradients
from central differences of this file's model, each head's share kept apart so that the
tests can name the mistake of keeping only one head's gradient. Sizes are never square.
"""

import copy
import math

import numpy as np
import pytest

from grader.testkit import Call, exercise, expect, expect_close, expect_equal, numeric_grad, rng, run

# ---------------------------------------------------------------------------------------------
# The model written out


def _ln(x, p, eps=1e-5):
    mu = x.mean(axis=-1, keepdims=True)
    var = ((x - mu) ** 2).mean(axis=-1, keepdims=True)
    return (x - mu) / np.sqrt(var + eps) * p["gamma"] + p["beta"]


def _gelu(x):
    return 0.5 * x * (1 + np.tanh(math.sqrt(2 / math.pi) * (x + 0.044715 * x**3)))


def _attention(x, p, H, causal=True):
    N, T, D = x.shape
    d = D // H
    q, k, v = (x @ p[f"W_{c}"] + p[f"b_{c}"] for c in "qkv")
    allowed = np.arange(T)[None, :] <= np.arange(T)[:, None]
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


def _mtp(tokens, params, H, chain=False, final_norm=True, causal_heads=True):
    """The logits (K, N, T, V); the keyword arguments make the WRONG models the tests name."""
    T = tokens.shape[1]
    z = params["W_tok"][tokens] + params["W_pos"][:T]
    for block in params["blocks"]:
        z = _block(z, block, H)
    out, x = [], z
    for head in params["heads"]:
        h = _block(x if chain else z, head, H, causal_heads)
        x = h
        out.append((_ln(h, params["ln_f"]) if final_norm else h) @ params["W_out"])
    return np.stack(out)


def _params(V, context, D, L, K, seed, scale=0.4):
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
        "heads": [block() for _ in range(K)],
    }


def _paths(tree, prefix=""):
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


# V = 11 tokens, context 9, D = 12, H = 3 heads of 4, L = 1 trunk block, K = 2 future heads
V, CONTEXT, D, H, L, K, N, T = 11, 9, 12, 3, 1, 2, 2, 7


# ---------------------------------------------------------------------------------------------
# mtp_forward


@exercise("mtp_forward")
@pytest.mark.parametrize("n_future", [2, 3])
def test_mtp_forward_matches_the_written_out_model(impl, n_future):
    params = _params(V, CONTEXT, D, L, n_future, 10)
    tokens = rng(11).integers(0, V, size=(N, T))
    got = run(impl.mtp_forward, tokens, params, H)
    expect(isinstance(got.value, tuple) and len(got.value) == 2, f"{got}: expected (logits, cache)")
    expect_close(
        _of(got, got.value[0]),
        _mtp(tokens, params, H),
        what=f"the logits (K, N, T, V) of the {n_future} heads",
        mistakes={
            "feed each head the previous head's output (a chain) instead of the trunk's z": lambda: _mtp(
                tokens, params, H, chain=True
            ),
            "forget the shared final layer norm ln_f on the heads": lambda: _mtp(
                tokens, params, H, final_norm=False
            ),
            "forget the causal mask in the heads' blocks": lambda: _mtp(
                tokens, params, H, causal_heads=False
            ),
        },
    )


@exercise("mtp_forward")
def test_mtp_forward_every_head_is_causal(impl):
    params = _params(V, CONTEXT, D, L, 3, 12)
    tokens = rng(13).integers(0, V, size=(N, T))
    first = impl.mtp_forward(tokens, params, H)[0]
    for t in (0, 3, 5):
        changed = tokens.copy()
        changed[:, t + 1 :] = (changed[:, t + 1 :] + 1) % V
        got = run(impl.mtp_forward, changed, params, H)
        expect_close(
            _of(got, got.value[0][:, :, : t + 1]),
            first[:, :, : t + 1],
            what=f"every head's logits at positions 0..{t} after changing tokens[:, {t + 1}:]",
        )


@exercise("mtp_forward")
def test_mtp_forward_keeps_float32(impl):
    params = _params(V, CONTEXT, D, L, 2, 14, scale=0.2)
    p32 = _cast(params, np.float32)
    tokens = rng(15).integers(0, V, size=(N, T))
    got = run(impl.mtp_forward, tokens, p32, H)
    logits = got.value[0]
    expect(logits.dtype == np.float32, f"{got}: logits are {logits.dtype}; float32 parameters give float32")
    expect_close(_of(got, logits), _mtp(tokens, _cast(p32, np.float64), H), rtol=1e-4, atol=1e-4)


def _cast(tree, dtype):
    if isinstance(tree, dict):
        return {k: _cast(v, dtype) for k, v in tree.items()}
    if isinstance(tree, list):
        return [_cast(v, dtype) for v in tree]
    return tree.astype(dtype)


# ---------------------------------------------------------------------------------------------
# mtp_loss


def _ce(z, target):
    z = z - z.max()
    return float(np.log(np.exp(z).sum()) - z[target])


def _loss(logits, tokens, offset=0, wrap=False, per_head="mean", over="heads"):
    """The loss written out; offset, wrap, per_head and over make the WRONG versions."""
    K, N, T, _ = logits.shape
    heads, total, count = [], 0.0, 0
    for j in range(1, K + 1):
        terms = []
        for n in range(N):
            for t in range(T if wrap else T - j):
                terms.append(_ce(logits[j - 1, n, t], tokens[n, (t + j - offset) % T]))
        heads.append(sum(terms) / (N * T if per_head == "N*T" else len(terms)))
        total, count = total + sum(terms), count + len(terms)
    if over == "positions":
        return total / count
    return sum(heads) if over == "sum" else sum(heads) / K


@exercise("mtp_loss")
@pytest.mark.parametrize("n_future, time", [(2, 6), (3, 5), (1, 4)])
def test_mtp_loss_value(impl, n_future, time):
    logits = 2 * rng(20).normal(size=(n_future, 3, time, 7))
    tokens = rng(21).integers(0, 7, size=(3, time))
    got = run(impl.mtp_loss, logits, tokens)
    expect(isinstance(got.value, tuple) and len(got.value) == 2, f"{got}: expected (loss, dlogits)")
    expect(isinstance(got.value[0], float), f"{got}: the loss should be a Python float")
    expect_close(
        _of(got, got.value[0]),
        _loss(logits, tokens),
        what="the loss (the mean over heads of each head's mean over its positions with a target)",
        mistakes={
            "make head j predict token t + j - 1 (head 1 predicting the token it reads)": lambda: _loss(
                logits, tokens, offset=1
            ),
            "keep the last j positions, their targets wrapped round to the start (np.roll)": lambda: _loss(
                logits, tokens, wrap=True
            ),
            "sum the heads' losses instead of averaging them": lambda: _loss(logits, tokens, over="sum"),
            "average over all the positions of all heads together (a longer head weighs less)": lambda: _loss(
                logits, tokens, over="positions"
            ),
            "divide head j's total by N*T instead of by its N*(T - j) positions": lambda: _loss(
                logits, tokens, per_head="N*T"
            ),
        },
    )


@exercise("mtp_loss")
def test_mtp_loss_gradient(impl):
    logits = rng(22).normal(size=(3, 2, 5, 4))
    tokens = rng(23).integers(0, 4, size=(2, 5))
    got = run(impl.mtp_loss, logits, tokens)
    want = numeric_grad(lambda z: _loss(z, tokens), logits)
    expect_close(
        _of(got, got.value[1]),
        want,
        rtol=1e-5,
        atol=1e-9,
        what="dlogits against central differences",
        mistakes={
            "forget to divide the gradient by the number of heads K": want * 3,
            "give the positions without a target a gradient": lambda: numeric_grad(
                lambda z: _loss(z, tokens, wrap=True), logits
            ),
        },
    )
    for j in (1, 2, 3):
        expect(
            not np.any(got.value[1][j - 1, :, 5 - j :]),
            f"{got}: dlogits[{j - 1}] (head {j}) should be exactly 0 at its last {j} positions, "
            "which have no target",
        )


@exercise("mtp_loss")
def test_mtp_loss_by_hand(impl):
    # K = 2, N = 1, T = 3, V = 2, every logit 0: each position with a target costs ln 2.
    # Head 1 has 2 such positions, head 2 one: the loss is ln 2, and the gradient at a
    # position with target y is (1/2 - [y == v]) / (count of the head's positions * K).
    logits = np.zeros((2, 1, 3, 2))
    tokens = np.array([[0, 1, 1]])
    got = run(impl.mtp_loss, logits, tokens)
    expect_close(_of(got, got.value[0]), math.log(2), what="the loss")
    want = np.zeros((2, 1, 3, 2))
    want[0, 0, 0] = [0.5, -0.5]  # predicts tokens[1] = 1
    want[0, 0, 1] = [0.5, -0.5]  # predicts tokens[2] = 1
    want[0] /= 2 * 2
    want[1, 0, 0] = np.array([0.5, -0.5]) / 2  # head 2 predicts tokens[2] = 1
    expect_close(_of(got, got.value[1]), want, what="dlogits")


# ---------------------------------------------------------------------------------------------
# mtp_backward


# Every entry of the arrays outside the blocks (where the heads' gradients meet) is checked
# against central differences; each array inside a block (part 4's business) along one
# random direction u: sum(d_array * u) against the derivative of the loss along u.
FULL = ("W_tok", "W_pos", "W_out", "ln_f.gamma", "ln_f.beta")


def _shares(tokens, params, H, R, seed=0):
    """{path: (u or None, share)}: each head's share of the gradient of sum(logits * R),
    share (K, *shape) for the FULL arrays (u None), (K,) along u for the others."""
    work = copy.deepcopy(params)
    g = rng(seed)

    def heads_sums():
        return np.sum(_mtp(tokens, work, H) * R, axis=(1, 2, 3))  # (K,)

    out = {}
    for path, value in _paths(params):
        parent_path, _, leaf = path.rpartition(".")
        parent = _at(work, parent_path) if parent_path else work
        if path in FULL:
            x = value.copy()
            parent[leaf] = x
            share = np.zeros((R.shape[0], *x.shape))
            for i in np.ndindex(x.shape):
                old = x[i]
                x[i] = old + 1e-6
                up = heads_sums()
                x[i] = old - 1e-6
                share[(slice(None), *i)] = (up - heads_sums()) / 2e-6
                x[i] = old
            out[path] = (None, share)
        else:
            u = g.normal(size=value.shape)
            parent[leaf] = value + 1e-6 * u
            up = heads_sums()
            parent[leaf] = value - 1e-6 * u
            out[path] = (u, (up - heads_sums()) / 2e-6)
        parent[leaf] = value
    return out


def _expect_grads(call, got, shares, params):
    expect(
        isinstance(got, dict) and set(got) == set(params),
        f"{call}: expected a dict with the keys {sorted(params)}, got "
        f"{sorted(got) if isinstance(got, dict) else type(got).__name__}",
    )
    for path, (u, share) in shares.items():
        try:
            got_leaf = np.asarray(_at(got, path))
        except (KeyError, IndexError, TypeError):
            raise AssertionError(
                f"{call}: the gradients have no {path}; they should be shaped like params"
            ) from None
        want_shape = _at(params, path).shape
        expect(
            got_leaf.shape == want_shape, f"{call}: d{path} has shape {got_leaf.shape}, expected {want_shape}"
        )
        mistakes = {}
        if path in ("W_out", "ln_f.gamma", "ln_f.beta"):
            mistakes["keep only the last head's gradient for the shared ln_f and W_out"] = share[-1]
        if path.startswith(("W_tok", "W_pos", "blocks")):
            mistakes["keep only the last head's gradient for the trunk (dz = instead of dz +=)"] = share[-1]
            mistakes["keep only the first head's gradient for the trunk"] = share[0]
        if u is None:
            expect_close(
                _of(call, got_leaf),
                share.sum(axis=0),
                rtol=1e-5,
                atol=1e-8,
                what=f"d{path}",
                mistakes=mistakes,
            )
        else:
            expect_close(
                _of(call, np.sum(got_leaf * u)),
                share.sum(),
                rtol=1e-5,
                atol=1e-8,
                what=f"d{path} along a random direction u: sum(d{path} * u) against central differences",
                mistakes={phrase: lambda a=a: np.float64(a.sum()) for phrase, a in mistakes.items()},
            )


@exercise("mtp_backward")
def test_mtp_backward_matches_central_differences(impl):
    # V = 5, context 4, D = 4, H = 2 heads of 2, one trunk block, K = 2 future heads, N = 2, T = 3
    params = _params(5, 4, 4, 1, 2, 30)
    tokens = np.array([[1, 3, 1], [4, 1, 0]])
    R = rng(31).normal(size=(2, 2, 3, 5))  # the loss sum(logits * R) has dlogits = R
    _, cache = impl.mtp_forward(tokens, params, 2)
    got = run(impl.mtp_backward, R, cache)
    _expect_grads(got, got.value, _shares(tokens, params, 2, R), params)


@exercise("mtp_backward")
def test_mtp_backward_with_the_loss(impl):
    # Through mtp_loss: the positions without a target send no gradient. Three heads on a
    # trunk of two blocks.
    params = _params(6, 5, 4, 2, 3, 32, scale=0.3)
    tokens = rng(33).integers(0, 6, size=(1, 5))
    logits, cache = impl.mtp_forward(tokens, params, 2)
    _, dlogits = impl.mtp_loss(logits, tokens)
    got = run(impl.mtp_backward, dlogits, cache)
    _expect_grads(got, got.value, _shares(tokens, params, 2, dlogits), params)


@exercise("mtp_backward")
def test_mtp_backward_each_head_reaches_only_its_own_block(impl):
    # With a gradient on head 2's logits only, head 1's block gets exactly zero gradient,
    # and head 2's block, the shared layers and the trunk do not.
    params = _params(7, 6, 4, 1, 2, 34)
    tokens = rng(35).integers(0, 7, size=(2, 5))
    R = np.zeros((2, 2, 5, 7))
    R[1] = rng(36).normal(size=(2, 5, 7))
    _, cache = impl.mtp_forward(tokens, params, 2)
    got = run(impl.mtp_backward, R, cache)
    grads = got.value
    for path, array in _paths(grads["heads"][0]):
        expect(
            not np.any(array), f"{got}: heads[0].{path} should get exactly 0 when only head 2 has a gradient"
        )
    for path in ("heads[1].attn.W_q", "W_out", "ln_f.gamma", "blocks[0].mlp.W_1", "W_tok"):
        expect(np.any(_at(grads, path)), f"{got}: d{path} is all zero; head 2's gradient should reach it")


# ---------------------------------------------------------------------------------------------
# speculative_greedy


def _greedy_head1(params, prompt, n_new, H):
    seq = list(prompt)
    for _ in range(n_new):
        seq.append(int(_mtp(np.array([seq]), params, H)[0, 0, -1].argmax()))
    return np.array(seq[len(prompt) :], dtype=np.int64)


def _speculative(params, prompt, n_new, H, verify=True):
    """The documented loop: (tokens, calls, how many loops accepted more than one draft).
    verify=False is the WRONG version that accepts every draft unchecked."""
    seq = list(prompt)
    logits = _mtp(np.array([seq]), params, H)
    calls, multi = 1, 0
    draft = list(logits[:, 0, -1].argmax(axis=-1))
    K = len(draft)
    out = []
    while len(out) < n_new:
        logits = _mtp(np.array([seq + draft]), params, H)
        calls += 1
        L = len(seq)
        greedy = logits[0, 0, L : L + K].argmax(axis=-1)
        m = 1
        while m < K and (not verify or draft[m] == greedy[m - 1]):
            m += 1
        multi += m > 1
        seq += draft[:m]
        out += draft[:m]
        draft = [int(greedy[m - 1])] + list(logits[1:, 0, L + m - 1].argmax(axis=-1))
    return np.array(out[:n_new], dtype=np.int64), calls, multi


def _spec_case(K, seed, V=3):
    """A model whose heads are copies of head 1: head j's draft is head 1's token, right
    whenever the greedy sequence repeats a token, which a vocabulary of 3 makes frequent."""
    params = _params(V, 24, 4, 1, 1, seed)
    params["heads"] = [copy.deepcopy(params["heads"][0]) for _ in range(K)]
    return params


@exercise("speculative_greedy")
@pytest.mark.parametrize("K, seed", [(2, 42), (3, 41)])
def test_speculative_greedy_equals_greedy_decoding(impl, K, seed):
    params = _spec_case(K, seed)
    prompt = rng(seed + 10).integers(0, 3, size=4)
    want, calls, multi = _speculative(params, prompt, 12, 2)
    assert multi > 0, "test set-up: some loop of this case accepts several drafts (2 or 3 of its 9)"
    got = run(impl.speculative_greedy, params, prompt, 12, 2)
    expect(isinstance(got.value, tuple) and len(got.value) == 2, f"{got}: expected (tokens, number of calls)")
    tokens, n_calls = got.value
    expect_equal(
        _of(got, tokens),
        _greedy_head1(params, prompt, 12, 2),
        what="the tokens (head 1's greedy decoding)",
        mistakes={
            "accept every draft without checking it": lambda: _speculative(params, prompt, 12, 2, False)[0]
        },
    )
    expect(
        np.asarray(tokens).dtype == np.int64, f"{got}: tokens are {np.asarray(tokens).dtype}, expected int64"
    )
    expect(
        n_calls == calls,
        f"{got}: {n_calls} calls of mtp_forward, expected {calls} for this model (one to draft from the "
        "prompt, then one per loop, each loop accepting d_1 and every following draft that matches)",
    )


@exercise("speculative_greedy")
def test_speculative_greedy_with_one_head_is_plain_greedy(impl):
    # K = 1: nothing to draft beyond head 1's own token: one call per token, plus the first.
    params = _params(7, 16, 4, 1, 1, 42)
    prompt = rng(43).integers(0, 7, size=3)
    got = run(impl.speculative_greedy, params, prompt, 6, 2)
    tokens, n_calls = got.value
    expect_equal(_of(got, tokens), _greedy_head1(params, prompt, 6, 2), what="the tokens")
    expect(
        n_calls == 7, f"{got}: {n_calls} calls of mtp_forward, expected 7 (the prompt, then one per token)"
    )


@exercise("speculative_greedy")
def test_speculative_greedy_random_heads(impl):
    # Heads that disagree with head 1: drafts are mostly rejected, the tokens are still greedy.
    params = _params(5, 24, 4, 1, 3, 44)
    prompt = rng(45).integers(0, 5, size=2)
    want, calls, _ = _speculative(params, prompt, 9, 2)
    got = run(impl.speculative_greedy, params, prompt, 9, 2)
    tokens, n_calls = got.value
    expect_equal(_of(got, tokens), _greedy_head1(params, prompt, 9, 2), what="the tokens")
    expect(n_calls == calls, f"{got}: {n_calls} calls of mtp_forward, expected {calls}")
