"""Tests for chapter 5, part 4: layer normalisation, GELU (tanh approximation) and the MLP
with their backward passes, and the pre-norm transformer block: its initialisation, its
forward pass (with causal and padding masks) and its backward pass.

Expected values come from the definitions evaluated in this file: layer normalisation one
row at a time with Python floats (math.fsum), GELU one entry at a time with math.tanh, and
the block from this file's own layer norm, GELU, MLP and multi-head attention (heads as
consecutive blocks of d_head features, scores q k^T / sqrt(d_head), masked with -inf
before a max-shifted softmax). Every backward pass is checked against central differences
of this file's forward passes, with random upstream gradients; the block's gradient with
respect to every parameter. Properties: layer norm ignores a shift and scale of each row
(eps = 0), a causal block's output at t does not change when a later token does, and the
initialisation is drawn from the generator in the order the docstring gives (the
attention's parameters with the learner's own mha_init from part 2). Sizes differ on every
axis (N = 2, T = 5, D = 12, H = 3, d_head = 4, 4D = 48; the backward of the block on
N = 3, T = 4, D = 10, H = 2, d_head = 5 to keep central differences cheap).
"""

import math

import numpy as np
import pytest

from grader.testkit import (
    Call,
    exercise,
    expect,
    expect_close,
    expect_parts,
    numeric_grad,
    numeric_grads,
    rng,
    run,
)

N, T, D, H = 2, 5, 12, 3
MHA_KEYS = ("W_q", "b_q", "W_k", "b_k", "W_v", "b_v", "W_o", "b_o")
MLP_KEYS = ("W_1", "b_1", "W_2", "b_2")


def _dtype_is(call, value, dtype, name):
    expect(
        getattr(value, "dtype", None) == dtype,
        f"{call}: {name} has dtype {getattr(value, 'dtype', None)}; float32 inputs must give float32",
    )


# --- layer norm, one row at a time ------------------------------------------------------------


def _ln_loops(x, gamma, beta, eps=1e-5, ddof=0, eps_outside=False, centre=True):
    rows = np.asarray(x, dtype=np.float64).reshape(-1, x.shape[-1])
    out = np.zeros_like(rows)
    for r, row in enumerate(rows.tolist()):
        n = len(row)
        mu = math.fsum(row) / n if centre else 0.0
        var = math.fsum((v - mu) ** 2 for v in row) / (n - ddof)
        scale = 1.0 / (math.sqrt(var) + eps) if eps_outside else 1.0 / math.sqrt(var + eps)
        out[r] = [(v - mu) * scale for v in row]
    return (out * gamma + beta).reshape(x.shape)


def _ln_over_batch(x, gamma, beta, eps=1e-5):
    mu = x.mean(axis=0, keepdims=True)
    return gamma * (x - mu) / np.sqrt(x.var(axis=0, keepdims=True) + eps) + beta


def _ln_params(seed, shape, dtype=np.float64):
    g = rng(seed)
    x = g.normal(size=shape) * 2.0 + g.normal(size=shape[:-1] + (1,))  # rows with their own means
    gamma, beta = 1.0 + 0.5 * g.normal(size=shape[-1]), g.normal(size=shape[-1])
    return x.astype(dtype), gamma.astype(dtype), beta.astype(dtype)


def _ln_mistakes(x, gamma, beta, eps=1e-5):
    return {
        "divide by D - 1 (the unbiased variance) instead of D": lambda: _ln_loops(
            x, gamma, beta, eps, ddof=1
        ),
        "add eps outside the square root": lambda: _ln_loops(x, gamma, beta, eps, eps_outside=True),
        "forget to subtract the mean (that is RMSNorm)": lambda: _ln_loops(x, gamma, beta, eps, centre=False),
        "normalise over the batch axis (BatchNorm) instead of each token's features": lambda: _ln_over_batch(
            x, gamma, beta, eps
        ),
    }


@exercise("layer_norm_forward")
@pytest.mark.parametrize("shape", [(N, T, 7), (6, 9)])
def test_layer_norm_forward_matches_loops(impl, shape):
    x, gamma, beta = _ln_params(1, shape)
    call = run(impl.layer_norm_forward, x, gamma, beta)
    y, _ = expect_parts(call, ("y", "cache"), [shape, None])
    expect_close(
        Call(y, str(call)), _ln_loops(x, gamma, beta), what="y", mistakes=_ln_mistakes(x, gamma, beta)
    )


@exercise("layer_norm_forward")
def test_layer_norm_forward_eps_inside_the_square_root(impl):
    # Rows of small spread, where eps = 0.1 matters: sqrt(var + eps) is not sqrt(var) + eps.
    x, gamma, beta = _ln_params(2, (N, T, 7))
    x = x * 0.1
    call = run(impl.layer_norm_forward, x, gamma, beta, 0.1)
    y, _ = expect_parts(call, ("y", "cache"), [x.shape, None])
    expect_close(
        Call(y, str(call)),
        _ln_loops(x, gamma, beta, 0.1),
        what="y (eps = 0.1)",
        mistakes=_ln_mistakes(x, gamma, beta, 0.1) | {"ignore eps": lambda: _ln_loops(x, gamma, beta, 1e-5)},
    )


@exercise("layer_norm_forward")
def test_layer_norm_forward_ignores_a_shift_and_scale_of_each_row(impl):
    x, gamma, beta = _ln_params(3, (N, T, 7))
    g = rng(4)
    moved = x * g.uniform(0.5, 3.0, size=(N, T, 1)) + g.normal(size=(N, T, 1)) * 10
    y, _ = impl.layer_norm_forward(x, gamma, beta, 0.0)
    call = run(impl.layer_norm_forward, moved, gamma, beta, 0.0)
    got, _ = expect_parts(call, ("y", "cache"), [x.shape, None])
    expect_close(
        Call(got, str(call)), y, rtol=1e-6, atol=1e-8, what="y of a row shifted and scaled (eps = 0)"
    )


@exercise("layer_norm_forward")
def test_layer_norm_forward_keeps_float32(impl):
    x, gamma, beta = _ln_params(5, (N, T, 7), np.float32)
    call = run(impl.layer_norm_forward, x, gamma, beta)
    y, _ = expect_parts(call, ("y", "cache"), [x.shape, None])
    _dtype_is(call, y, np.float32, "y")
    expect_close(Call(y, str(call)), _ln_loops(x, gamma, beta), rtol=1e-4, atol=1e-4, what="y")


LN_GRADS = ("dx", "dgamma", "dbeta")


@exercise("layer_norm_backward")
@pytest.mark.parametrize("shape", [(N, T, 7), (6, 9)])
def test_layer_norm_backward_matches_central_differences(impl, shape):
    x, gamma, beta = _ln_params(6, shape)
    dy = rng(7).normal(size=shape)
    _, cache = impl.layer_norm_forward(x, gamma, beta)
    call = run(impl.layer_norm_backward, dy, cache)
    got = expect_parts(call, LN_GRADS, [shape, (shape[-1],), (shape[-1],)])
    wants = numeric_grads(lambda *a: float(np.sum(_ln_loops(*a) * dy)), (x, gamma, beta))
    inv_std = 1.0 / np.sqrt(x.var(axis=-1, keepdims=True) + 1e-5)
    x_hat = (x - x.mean(axis=-1, keepdims=True)) * inv_std
    g = dy * gamma
    dx_mistakes = {
        "treat the mean and the variance as constants (dx = dy * gamma / sigma)": lambda: g * inv_std,
        "forget the variance's path (keep only the mean's)": lambda: (
            (g - g.mean(-1, keepdims=True)) * inv_std
        ),
        "forget gamma in dx": lambda: (
            inv_std * (dy - dy.mean(-1, keepdims=True) - x_hat * (dy * x_hat).mean(-1, keepdims=True))
        ),
    }
    expect_close(Call(got[0], str(call)), wants[0], what="dx", mistakes=dx_mistakes)
    lead = tuple(range(len(shape) - 1))
    expect_close(
        Call(got[1], str(call)),
        wants[1],
        what="dgamma",
        mistakes={"use x instead of x_hat in dgamma": lambda: (dy * x).sum(axis=lead)},
    )
    expect_close(Call(got[2], str(call)), wants[2], what="dbeta")


@exercise("layer_norm_backward")
def test_layer_norm_backward_keeps_float32(impl):
    x, gamma, beta = _ln_params(8, (N, T, 7), np.float32)
    dy = rng(9).normal(size=x.shape).astype(np.float32)
    _, cache = impl.layer_norm_forward(x, gamma, beta)
    call = run(impl.layer_norm_backward, dy, cache)
    got = expect_parts(call, LN_GRADS, [x.shape, (7,), (7,)])
    args64 = tuple(a.astype(np.float64) for a in (x, gamma, beta))
    wants = numeric_grads(lambda *a: float(np.sum(_ln_loops(*a) * dy)), args64)
    for name, part, want in zip(LN_GRADS, got, wants):
        _dtype_is(call, part, np.float32, name)
        expect_close(Call(part, str(call)), want, rtol=1e-4, atol=1e-4, what=name)


@exercise("layer_norm_backward")
def test_layer_norm_backward_dx_ignores_shifts_and_scalings_of_rows(impl):
    # y does not change when a row of x is shifted or scaled (eps = 0), so dx, the gradient
    # with respect to x, has no component along (1, ..., 1) or along x_hat in any row.
    x, gamma, beta = _ln_params(39, (N, T, 7))
    dy = rng(40).normal(size=x.shape)
    _, cache = impl.layer_norm_forward(x, gamma, beta, 0.0)
    call = run(impl.layer_norm_backward, dy, cache)
    dx = expect_parts(call, LN_GRADS, [x.shape, (7,), (7,)])[0]
    x_hat = (x - x.mean(-1, keepdims=True)) / x.std(-1, keepdims=True)
    expect_close(
        Call(dx.sum(axis=-1), str(call)),
        np.zeros((N, T)),
        atol=1e-9,
        what="dx summed over each row's features (a shift of the row changes nothing)",
    )
    expect_close(
        Call((dx * x_hat).sum(axis=-1), str(call)),
        np.zeros((N, T)),
        atol=1e-9,
        what="dx . x_hat of each row (a scaling of the row changes nothing)",
    )


# --- GELU -------------------------------------------------------------------------------------

C = math.sqrt(2 / math.pi)


def _gelu_loops(x, cube=3, half=0.5):
    flat = [half * v * (1 + math.tanh(C * (v + 0.044715 * v**cube))) for v in np.ravel(x).tolist()]
    return np.array(flat).reshape(np.shape(x))


def _gelu_exact(x):
    return np.array([v * 0.5 * (1 + math.erf(v / math.sqrt(2))) for v in np.ravel(x).tolist()]).reshape(
        x.shape
    )


def _gelu_x():
    x = rng(10).normal(size=(N, T, 7)) * 2
    x[0, 0, :] = [-30.0, -8.0, -1.0, 0.0, 0.5, 8.0, 30.0]  # tails and zero
    return x


@exercise("gelu_forward")
def test_gelu_forward_matches_the_tanh_approximation(impl):
    x = _gelu_x()
    call = run(impl.gelu_forward, x)
    y, _ = expect_parts(call, ("y", "cache"), [x.shape, None])
    expect_close(
        Call(y, str(call)),
        _gelu_loops(x),
        what="y",
        mistakes={
            "use the exact GELU x Phi(x) instead of GPT-2's tanh approximation": lambda: _gelu_exact(x),
            "write 0.044715 x^2 instead of 0.044715 x^3": lambda: _gelu_loops(x, cube=2),
            "forget the factor 0.5": lambda: _gelu_loops(x, half=1.0),
        },
    )


@exercise("gelu_forward")
def test_gelu_forward_keeps_float32(impl):
    x = _gelu_x().astype(np.float32)
    call = run(impl.gelu_forward, x)
    y, _ = expect_parts(call, ("y", "cache"), [x.shape, None])
    _dtype_is(call, y, np.float32, "y")
    expect_close(Call(y, str(call)), _gelu_loops(x), rtol=1e-4, atol=1e-5, what="y")


@exercise("gelu_forward")
def test_gelu_forward_by_hand(impl):
    # tanh is odd, so gelu(x) - gelu(-x) = x exactly; gelu(0) = 0; far out gelu is x or 0.
    x = np.array([[0.0, 0.7, -1.3, 2.0], [12.0, -12.0, 3.5, -0.2]])
    call = run(impl.gelu_forward, np.concatenate([x, -x]))
    y, _ = expect_parts(call, ("y", "cache"), [(4, 4), None])
    expect_close(
        Call(y[:2] - y[2:], str(call)),
        x,
        what="gelu(x) - gelu(-x), which should be x",
    )
    expect_close(Call(y[1, :2], str(call)), np.array([12.0, 0.0]), what="gelu(12) = 12 and gelu(-12) = 0")


@exercise("gelu_backward")
def test_gelu_backward_matches_central_differences(impl):
    x = _gelu_x()
    dy = rng(11).normal(size=x.shape)
    _, cache = impl.gelu_forward(x)
    call = run(impl.gelu_backward, dy, cache)
    want = numeric_grad(lambda v: float(np.sum(_gelu_loops(v) * dy)), x)
    t = np.tanh(C * (x + 0.044715 * x**3))
    phi = np.exp(-0.5 * x**2) / math.sqrt(2 * math.pi)
    expect_close(
        call,
        want,
        rtol=1e-6,
        atol=1e-8,
        what="dx",
        mistakes={
            "differentiate the exact GELU, Phi(x) + x phi(x), instead of the tanh approximation": lambda: (
                dy * (_gelu_exact(x) / np.where(x == 0, 1, x) + x * phi)
            ),
            "forget the product rule (dy * 0.5 (1 + tanh(u)) only)": lambda: dy * 0.5 * (1 + t),
        },
    )


@exercise("gelu_backward")
def test_gelu_backward_at_zero_is_one_half(impl):
    x = np.array([0.0, 0.0, 0.0])
    _, cache = impl.gelu_forward(x)
    call = run(impl.gelu_backward, np.array([1.0, 2.0, -4.0]), cache)
    expect_close(call, np.array([0.5, 1.0, -2.0]), what="dx at x = 0 (gelu'(0) = 1/2)")


@exercise("gelu_backward")
def test_gelu_backward_keeps_float32(impl):
    x = _gelu_x().astype(np.float32)
    dy = rng(12).normal(size=x.shape).astype(np.float32)
    _, cache = impl.gelu_forward(x)
    call = run(impl.gelu_backward, dy, cache)
    _dtype_is(call, call.value, np.float32, "dx")
    want = numeric_grad(lambda v: float(np.sum(_gelu_loops(v) * dy)), x.astype(np.float64))
    expect_close(call, want, rtol=1e-4, atol=1e-4, what="dx")


# --- the MLP ----------------------------------------------------------------------------------


def _gelu(x):
    return 0.5 * x * (1 + np.tanh(C * (x + 0.044715 * x**3)))


def _mlp(x, p, act=True, act_out=False):
    a = x @ p["W_1"] + p["b_1"]
    a = _gelu(a) if act else a
    y = a @ p["W_2"] + p["b_2"]
    return _gelu(y) if act_out else y


def _mlp_params(seed, d, f, dtype=np.float64):
    g = rng(seed)
    p = {
        "W_1": g.normal(size=(d, f)) / math.sqrt(d),
        "b_1": g.normal(size=f) * 0.5,
        "W_2": g.normal(size=(f, d)) / math.sqrt(f),
        "b_2": g.normal(size=d) * 0.5,
    }
    return {k: v.astype(dtype) for k, v in p.items()}


@exercise("mlp_forward")
@pytest.mark.parametrize("width", [4 * 6, 10])
def test_mlp_forward_matches_definition(impl, width):
    p = _mlp_params(13, 6, width)
    x = rng(14).normal(size=(N, T, 6))
    call = run(impl.mlp_forward, x, p)
    y, _ = expect_parts(call, ("y", "cache"), [(N, T, 6), None])
    expect_close(
        Call(y, str(call)),
        _mlp(x, p),
        what=f"y (hidden width {width})",
        mistakes={
            "forget the GELU between the two layers": lambda: _mlp(x, p, act=False),
            "apply GELU after the second layer too": lambda: _mlp(x, p, act_out=True),
        },
    )


@exercise("mlp_forward")
def test_mlp_forward_keeps_float32(impl):
    p = _mlp_params(15, 6, 24, np.float32)
    x = rng(16).normal(size=(N, T, 6)).astype(np.float32)
    call = run(impl.mlp_forward, x, p)
    y, _ = expect_parts(call, ("y", "cache"), [(N, T, 6), None])
    _dtype_is(call, y, np.float32, "y")
    p64 = {k: v.astype(np.float64) for k, v in p.items()}
    expect_close(Call(y, str(call)), _mlp(x.astype(np.float64), p64), rtol=1e-4, atol=1e-4, what="y")


def _expect_grad_dict(call, got, wants, keys, what, rtol=1e-6, atol=1e-8, mistakes=None):
    expect(isinstance(got, dict), f"{call}: {what} is {type(got).__name__}, expected a dict")
    expect(
        set(got) == set(keys),
        f"{call}: {what} has the keys {sorted(got)}; expected {sorted(keys)}",
    )
    for key in keys:
        named = {p: (lambda a=a, key=key: a()[key]) for p, a in (mistakes or {}).items()}
        expect_close(
            Call(got[key], str(call)),
            wants[key],
            rtol=rtol,
            atol=atol,
            what=f"{what}['{key}']",
            mistakes=named,
        )


def _mlp_grads(x, p, dy, act_grad=True):
    """Central differences of sum(_mlp(x, p) * dy); with act_grad False, of the network whose
    GELU is replaced by the identity in the backward pass only (GELU's derivative taken as 1)."""
    a_fixed = x @ p["W_1"] + p["b_1"]

    def loss(x_, **q):
        pp = p | q
        pre = x_ @ pp["W_1"] + pp["b_1"]
        a = _gelu(a_fixed) + (pre - a_fixed) if not act_grad else _gelu(pre)
        return float(np.sum((a @ pp["W_2"] + pp["b_2"]) * dy))

    dx = numeric_grad(lambda v: loss(v), x)
    grads = {k: numeric_grad(lambda v, k=k: loss(x, **{k: v}), p[k]) for k in MLP_KEYS}
    return dx, grads


@exercise("mlp_backward")
def test_mlp_backward_matches_central_differences(impl):
    p = _mlp_params(17, 5, 7)
    x = rng(18).normal(size=(N, 3, 5))
    dy = rng(19).normal(size=(N, 3, 5))
    _, cache = impl.mlp_forward(x, p)
    call = run(impl.mlp_backward, dy, cache)
    got = expect_parts(call, ("dx", "grads"), [x.shape, None])
    want_dx, want_grads = _mlp_grads(x, p, dy)
    skip = "forget GELU's derivative (pass the gradient through the activation unchanged)"
    expect_close(
        Call(got[0], str(call)),
        want_dx,
        what="dx",
        mistakes={skip: lambda: _mlp_grads(x, p, dy, act_grad=False)[0]},
    )
    _expect_grad_dict(
        call,
        got[1],
        want_grads,
        MLP_KEYS,
        "grads",
        mistakes={skip: lambda: _mlp_grads(x, p, dy, act_grad=False)[1]},
    )


@exercise("mlp_backward")
def test_mlp_backward_on_a_two_dimensional_input(impl):
    # Leading axes are any: (T, D) rows are tokens as well.
    p = _mlp_params(41, 5, 7)
    x, dy = rng(42).normal(size=(4, 5)), rng(43).normal(size=(4, 5))
    _, cache = impl.mlp_forward(x, p)
    call = run(impl.mlp_backward, dy, cache)
    got = expect_parts(call, ("dx", "grads"), [x.shape, None])
    want_dx, want_grads = _mlp_grads(x, p, dy)
    expect_close(Call(got[0], str(call)), want_dx, what="dx")
    _expect_grad_dict(call, got[1], want_grads, MLP_KEYS, "grads")


@exercise("mlp_backward")
def test_mlp_backward_keeps_float32(impl):
    p = _mlp_params(20, 5, 7, np.float32)
    x = rng(21).normal(size=(N, 3, 5)).astype(np.float32)
    dy = rng(22).normal(size=(N, 3, 5)).astype(np.float32)
    _, cache = impl.mlp_forward(x, p)
    call = run(impl.mlp_backward, dy, cache)
    got = expect_parts(call, ("dx", "grads"), [x.shape, None])
    _dtype_is(call, got[0], np.float32, "dx")
    p64 = {k: v.astype(np.float64) for k, v in p.items()}
    want_dx, want_grads = _mlp_grads(x.astype(np.float64), p64, dy.astype(np.float64))
    expect_close(Call(got[0], str(call)), want_dx, rtol=1e-4, atol=1e-4, what="dx")
    for key in MLP_KEYS:
        _dtype_is(call, got[1].get(key) if isinstance(got[1], dict) else None, np.float32, f"grads['{key}']")
    _expect_grad_dict(call, got[1], want_grads, MLP_KEYS, "grads", rtol=1e-4, atol=1e-4)


# --- the block --------------------------------------------------------------------------------


def _mha(x, p, heads, mask=None):
    n, t, d = x.shape
    dh = d // heads

    def split(a):  # head h takes features h * d_head ... (h + 1) * d_head - 1
        return a.reshape(n, t, heads, dh).transpose(0, 2, 1, 3)

    q, k, v = (split(x @ p[f"W_{c}"] + p[f"b_{c}"]) for c in "qkv")
    s = q @ k.transpose(0, 1, 3, 2) / math.sqrt(dh)
    if mask is not None:
        s = np.where(np.expand_dims(mask, -3), s, -np.inf)
    s = s - s.max(axis=-1, keepdims=True)
    a = np.exp(s)
    a = a / a.sum(axis=-1, keepdims=True)
    merged = (a @ v).transpose(0, 2, 1, 3).reshape(n, t, d)
    return merged @ p["W_o"] + p["b_o"]


def _ln(x, gamma, beta, eps=1e-5):
    mu = x.mean(axis=-1, keepdims=True)
    return gamma * (x - mu) / np.sqrt(x.var(axis=-1, keepdims=True) + eps) + beta


def _block(
    x,
    P,
    heads,
    mask=None,
    post_norm=False,
    res1=True,
    res2=True,
    same_ln=False,
    ln2_of_attn=False,
    const_x=None,
    const_h=None,
):
    """The pre-norm block; flags for the wrong versions. const_x / const_h replace the
    residual branch's x or h by a constant, so central differences of the result leave out
    that residual path's gradient."""
    ln2 = P["ln1"] if same_ln else P["ln2"]
    if post_norm:  # the original transformer: LN after each residual sum
        h = _ln(x + _mha(x, P["attn"], heads, mask), **P["ln1"])
        return _ln(h + _mlp(h, P["mlp"]), **ln2)
    att = _mha(_ln(x, **P["ln1"]), P["attn"], heads, mask)
    h = (x if const_x is None else const_x) + att if res1 else att
    m = _mlp(_ln(att if ln2_of_attn else h, **ln2), P["mlp"])
    return (h if const_h is None else const_h) + m if res2 else m


def _block_params(seed, d, dtype=np.float64):
    g = rng(seed)
    P = {
        "ln1": {"gamma": 1 + 0.3 * g.normal(size=d), "beta": 0.3 * g.normal(size=d)},
        "attn": {},
        "ln2": {"gamma": 1 + 0.3 * g.normal(size=d), "beta": 0.3 * g.normal(size=d)},
        "mlp": _mlp_params(seed + 1000, d, 4 * d),
    }
    for c in "qkvo":
        P["attn"][f"W_{c}"] = g.normal(size=(d, d)) / math.sqrt(d)
        P["attn"][f"b_{c}"] = 0.3 * g.normal(size=d)
    return {name: {k: v.astype(dtype) for k, v in sub.items()} for name, sub in P.items()}


BLOCK_MISTAKES = {
    "normalise after each residual sum (post-norm, as in the original transformer) instead of before each "
    "sub-layer": {"post_norm": True},
    "leave out both residual connections": {"res1": False, "res2": False},
    "leave out the first residual connection (h = MHA(LN_1(x)) without x +)": {"res1": False},
    "leave out the second residual connection (y = MLP(LN_2(h)) without h +)": {"res2": False},
    "use ln1's parameters for both layer norms": {"same_ln": True},
    "feed LN_2 the attention's output instead of h = x + attention": {"ln2_of_attn": True},
}


def _causal(t):
    return np.tril(np.ones((t, t), dtype=bool))


@exercise("block_forward")
def test_block_forward_causal_matches_definition(impl):
    P = _block_params(23, D)
    x = rng(24).normal(size=(N, T, D))
    mask = _causal(T)
    call = run(impl.block_forward, x, P, H, mask)
    y, _ = expect_parts(call, ("y", "cache"), [(N, T, D), None])
    mistakes = {p: (lambda w=w: _block(x, P, H, mask, **w)) for p, w in BLOCK_MISTAKES.items()}
    mistakes["ignore the mask"] = lambda: _block(x, P, H)
    expect_close(Call(y, str(call)), _block(x, P, H, mask), what="y (causal mask)", mistakes=mistakes)


@exercise("block_forward")
@pytest.mark.parametrize("masked", ["padding", "none"])
def test_block_forward_padding_mask_and_no_mask(impl, masked):
    P = _block_params(25, D)
    x = rng(26).normal(size=(N, T, D))
    mask = (np.arange(T) < np.array([3, 5])[:, None])[:, None, :] if masked == "padding" else None
    call = run(impl.block_forward, x, P, H, mask)
    y, _ = expect_parts(call, ("y", "cache"), [(N, T, D), None])
    what = "y (padding mask (N, 1, T), lengths 3 and 5)" if mask is not None else "y (mask=None)"
    mistakes = {p: (lambda w=w: _block(x, P, H, mask, **w)) for p, w in BLOCK_MISTAKES.items()}
    expect_close(Call(y, str(call)), _block(x, P, H, mask), what=what, mistakes=mistakes)


@exercise("block_forward")
def test_block_forward_causal_output_ignores_later_tokens(impl):
    P = _block_params(27, D)
    x = rng(28).normal(size=(N, T, D))
    later = x.copy()
    later[:, 3:] = rng(29).normal(size=(N, T - 3, D))  # tokens 3 and 4 replaced
    y, _ = impl.block_forward(x, P, H, _causal(T))
    call = run(impl.block_forward, later, P, H, _causal(T))
    got, _ = expect_parts(call, ("y", "cache"), [(N, T, D), None])
    expect_close(
        Call(got[:, :3], str(call)),
        y[:, :3],
        rtol=1e-9,
        atol=1e-12,
        what="y[:, :3] after changing x[:, 3:] (a causal block's output at t sees only tokens 0 .. t)",
    )


@exercise("block_forward")
def test_block_forward_keeps_float32(impl):
    P = _block_params(30, D, np.float32)
    x = rng(31).normal(size=(N, T, D)).astype(np.float32)
    call = run(impl.block_forward, x, P, H, _causal(T))
    y, _ = expect_parts(call, ("y", "cache"), [(N, T, D), None])
    _dtype_is(call, y, np.float32, "y")
    P64 = {n: {k: v.astype(np.float64) for k, v in s.items()} for n, s in P.items()}
    expect_close(
        Call(y, str(call)), _block(x.astype(np.float64), P64, H, _causal(T)), rtol=1e-4, atol=1e-4, what="y"
    )


# --- block_init -------------------------------------------------------------------------------


@exercise("block_init")
def test_block_init_draws_in_the_stated_order(impl):
    d = 10
    call = run(impl.block_init, rng(32), d)
    P = call.value
    expect(isinstance(P, dict), f"{call}: returned {type(P).__name__}, expected a dict")
    expect(
        set(P) == {"ln1", "attn", "ln2", "mlp"},
        f"{call}: returned the keys {sorted(P)}; expected ['attn', 'ln1', 'ln2', 'mlp']",
    )
    g = rng(32)
    want_attn = impl.mha_init(g, d)  # your part 2's, drawn first
    want_mlp = {
        "W_1": g.normal(0.0, 1 / math.sqrt(d), size=(d, 4 * d)),
        "b_1": np.zeros(4 * d),
        "W_2": g.normal(0.0, 1 / math.sqrt(4 * d), size=(4 * d, d)),
        "b_2": np.zeros(d),
    }

    def mlp_first():
        g2 = rng(32)
        return {
            "W_1": g2.normal(0.0, 1 / math.sqrt(d), size=(d, 4 * d)),
            "W_2": g2.normal(0.0, 1 / math.sqrt(4 * d), size=(4 * d, d)),
        }

    wrong = {
        "draw the MLP's weights before the attention's": mlp_first,
        "draw W_1 and W_2 with GPT-2's standard deviation 0.02 instead of 1/sqrt(fan_in)": lambda: {
            "W_1": want_mlp["W_1"] * 0.02 * math.sqrt(d),
            "W_2": want_mlp["W_2"] * 0.02 * math.sqrt(4 * d),
        },
        "use the standard deviation 1/sqrt(D) for W_2 too (its fan-in is 4D)": lambda: {
            "W_2": want_mlp["W_2"] * math.sqrt(4 * d) / math.sqrt(d)
        },
    }
    for key in MLP_KEYS:
        named = {p: (lambda a=a, key=key: a()[key]) for p, a in wrong.items()}
        expect_close(
            Call(P["mlp"].get(key) if isinstance(P["mlp"], dict) else None, str(call)),
            want_mlp[key],
            rtol=1e-12,
            atol=0,
            what=f"['mlp']['{key}']",
            mistakes=named,
        )
    for key in MHA_KEYS:
        expect_close(
            Call(P["attn"].get(key) if isinstance(P["attn"], dict) else None, str(call)),
            want_attn[key],
            rtol=1e-12,
            atol=0,
            what=f"['attn']['{key}'] (mha_init(rng, d_model), called first)",
        )
    for name in ("ln1", "ln2"):
        sub = P[name]
        expect(isinstance(sub, dict), f"{call}: ['{name}'] is {type(sub).__name__}, expected a dict")
        expect_close(
            Call(sub.get("gamma"), str(call)), np.ones(d), rtol=0, atol=0, what=f"['{name}']['gamma']"
        )
        expect_close(
            Call(sub.get("beta"), str(call)), np.zeros(d), rtol=0, atol=0, what=f"['{name}']['beta']"
        )


@exercise("block_init")
def test_block_init_other_size_shapes_and_dtypes(impl):
    d = 6
    call = run(impl.block_init, rng(44), d)
    P = call.value
    expect(isinstance(P, dict), f"{call}: returned {type(P).__name__}, expected a dict")
    shapes = {
        "ln1": {"gamma": (d,), "beta": (d,)},
        "attn": {k: (d, d) if k.startswith("W") else (d,) for k in MHA_KEYS},
        "ln2": {"gamma": (d,), "beta": (d,)},
        "mlp": {"W_1": (d, 4 * d), "b_1": (4 * d,), "W_2": (4 * d, d), "b_2": (d,)},
    }
    for name, sub in shapes.items():
        got = P.get(name)
        expect(isinstance(got, dict), f"{call}: ['{name}'] is {type(got).__name__}, expected a dict")
        expect(set(got) == set(sub), f"{call}: ['{name}'] has the keys {sorted(got)}; expected {sorted(sub)}")
        for key, shape in sub.items():
            kind, size = getattr(got[key], "dtype", None), getattr(got[key], "shape", None)
            expect(
                size == shape and kind == np.float64,
                f"{call}: ['{name}']['{key}'] is {kind} {size}; expected float64 {shape}",
            )
    other = impl.block_init(rng(45), d)
    expect(
        not np.allclose(P["mlp"]["W_1"], other["mlp"]["W_1"]),
        f"{call}: W_1 is the same for two generators: draw from the rng passed in",
    )


# --- block_backward ---------------------------------------------------------------------------

BN, BT, BD, BH = 3, 4, 10, 2


@exercise("block_backward")
def test_block_backward_matches_central_differences(impl):
    P = _block_params(33, BD)
    x = rng(34).normal(size=(BN, BT, BD))
    dy = rng(35).normal(size=(BN, BT, BD))
    mask = _causal(BT)
    _, cache = impl.block_forward(x, P, BH, mask)
    call = run(impl.block_backward, dy, cache)
    got = expect_parts(call, ("dx", "grads"), [x.shape, None])

    def loss(x_, P_=P, **wrong):
        return float(np.sum(_block(x_, P_, BH, mask, **wrong) * dy))

    h = x + _mha(_ln(x, **P["ln1"]), P["attn"], BH, mask)
    expect_close(
        Call(got[0], str(call)),
        numeric_grad(loss, x),
        rtol=1e-6,
        atol=1e-8,
        what="dx",
        mistakes={
            "leave dy out of dL/dh (the second residual path: h reaches y directly)": lambda: numeric_grad(
                lambda v: loss(v, const_h=h), x
            ),
            "leave dL/dh out of dx (the first residual path: x reaches h directly)": lambda: numeric_grad(
                lambda v: loss(v, const_x=x), x
            ),
        },
    )
    grads = got[1]
    expect(isinstance(grads, dict), f"{call}: grads is {type(grads).__name__}, expected a dict like params")
    expect(set(grads) == set(P), f"{call}: grads has the keys {sorted(grads)}; expected {sorted(P)}")
    for name, sub in P.items():

        def sub_loss(v, name=name, key=None):
            P_ = {n: dict(s) for n, s in P.items()}
            P_[name][key] = v
            return loss(x, P_)

        wants = {key: numeric_grad(lambda v, key=key: sub_loss(v, key=key), arr) for key, arr in sub.items()}
        _expect_grad_dict(call, grads[name], wants, tuple(sub), f"grads['{name}']")


@exercise("block_backward")
def test_block_backward_keeps_float32(impl):
    P = _block_params(36, BD, np.float32)
    x = rng(37).normal(size=(BN, BT, BD)).astype(np.float32)
    dy = rng(38).normal(size=(BN, BT, BD)).astype(np.float32)
    _, cache = impl.block_forward(x, P, BH, _causal(BT))
    call = run(impl.block_backward, dy, cache)
    got = expect_parts(call, ("dx", "grads"), [x.shape, None])
    _dtype_is(call, got[0], np.float32, "dx")
    P64 = {n: {k: v.astype(np.float64) for k, v in s.items()} for n, s in P.items()}
    want = numeric_grad(lambda v: float(np.sum(_block(v, P64, BH, _causal(BT)) * dy)), x.astype(np.float64))
    expect_close(Call(got[0], str(call)), want, rtol=1e-4, atol=1e-4, what="dx")
    grads = got[1]
    expect(isinstance(grads, dict), f"{call}: grads is {type(grads).__name__}, expected a dict like params")
    for name, sub in P.items():
        for key in sub:
            part = grads.get(name, {}).get(key) if isinstance(grads.get(name), dict) else None
            _dtype_is(call, part, np.float32, f"grads['{name}']['{key}']")


@exercise("block_backward")
def test_block_backward_causal_gradient_reaches_only_earlier_tokens(impl):
    # With a causal mask, y[:, 1] depends on x[:, 0] and x[:, 1] only: a loss on y[:, 1]
    # alone gives x[:, 2:] no gradient, and a loss on the last position reaches every token.
    P = _block_params(46, BD)
    x = rng(47).normal(size=(BN, BT, BD))
    dy = np.zeros((BN, BT, BD))
    dy[:, 1] = rng(48).normal(size=(BN, BD))
    _, cache = impl.block_forward(x, P, BH, _causal(BT))
    call = run(impl.block_backward, dy, cache)
    dx = expect_parts(call, ("dx", "grads"), [x.shape, None])[0]
    expect_close(
        Call(dx[:, 2:], str(call)),
        np.zeros((BN, BT - 2, BD)),
        atol=1e-9,
        what="dx[:, 2:] for a loss on y[:, 1] only (tokens after position 1 cannot affect it)",
    )
    expect(
        bool(np.all(np.abs(dx[:, :2]).sum(axis=-1) > 1e-6)),
        f"{call}: dx[:, 0] or dx[:, 1] is zero for a loss on y[:, 1]; both tokens reach y[:, 1]",
    )
