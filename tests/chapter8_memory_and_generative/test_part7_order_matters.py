"""Tests for chapter 8, part 7: the read-process-write set encoder of Order Matters.

Expected values come from this file: the task from the documented draws and Python's min(),
content attention and the process block written set by set with loops, the pointer
written element by element. Every gradient is checked against central differences of this
file's forward passes with random upstream gradients, with N, n, H and A all different.
Permutation invariance is tested by permuting each set's elements (the process block's
result must not change) and equivariance by permuting them in the gradients and the loss.
The training test runs the given loop on the learner's passes and requires an accuracy the
reference reached on every one of 30 seeds (worst seed in the test), far above the 0-step
baseline.
"""

import math

import numpy as np
import pytest

from grader.testkit import (
    Call,
    exercise,
    expect,
    expect_close,
    expect_equal,
    expect_parts,
    numeric_grad,
    numeric_grads,
    numeric_param_grads,
    rng,
    run,
)


def _of(call, value):
    return Call(np.asarray(value), str(call))


def _attend(m, q, scale=1.0, weights=None):
    N, n, H = m.shape
    r = np.zeros((N, H))
    for b in range(N):
        s = [float(m[b, i] @ q[b]) * scale for i in range(n)]
        top = max(s)
        w = [math.exp(v - top) for v in s]
        a = np.array(w) / sum(w) if weights is None else weights(n)
        r[b] = a @ m[b]
    return r


def _process(m, W_q, b_q, steps, order="qr", attend=_attend):
    N, _, H = m.shape
    q_star = np.zeros((N, 2 * H))
    for _ in range(steps):
        q = np.tanh(q_star @ W_q + b_q)
        r = attend(m, q)
        q_star = np.concatenate([q, r] if order == "qr" else [r, q], axis=1)
    return q_star


def _pointer(m, d, W1, W2, v):
    N, n, _ = m.shape
    return np.array([[float(v @ np.tanh(m[b, j] @ W1 + d[b] @ W2)) for j in range(n)] for b in range(N)])


def _loss(p, x, target, steps, frozen=None, mean=True):
    """frozen: parameters whose embeddings feed the process block, held fixed (a wrong
    gradient that forgets that path)."""
    m = x[..., None] * p["W_r"][0] + p["b_r"]
    m_process = m if frozen is None else x[..., None] * frozen["W_r"][0] + frozen["b_r"]
    d = _process(m_process, p["W_q"], p["b_q"], steps) @ p["W_d"]
    u = _pointer(m, d, p["W1"], p["W2"], p["v"])
    total = 0.0
    for b in range(len(x)):
        top = u[b].max()
        total += top + math.log(np.exp(u[b] - top).sum()) - u[b, target[b]]
    return total / len(x) if mean else total


def _params(H, A, seed, scale=1.0):
    g = rng(seed)
    return {
        "W_r": g.normal(size=(1, H)),
        "b_r": 0.5 * g.normal(size=H),
        "W_q": scale * g.normal(size=(2 * H, H)) / math.sqrt(2 * H),
        "b_q": 0.5 * g.normal(size=H),
        "W_d": scale * g.normal(size=(2 * H, H)) / math.sqrt(2 * H),
        "W1": scale * g.normal(size=(H, A)) / math.sqrt(H),
        "W2": scale * g.normal(size=(H, A)) / math.sqrt(H),
        "v": g.normal(size=A),
    }


def _closest(x):
    out = []
    for row in x.tolist():
        mean = sum(row) / len(row)
        out.append(min(range(len(row)), key=lambda j: (abs(row[j] - mean), j)))
    return np.array(out, dtype=np.int64)


# ---------------------------------------------------------------------------------------------
# make_mean_batch


@exercise("make_mean_batch")
@pytest.mark.parametrize("n, size", [(5, 6), (3, 1), (8, 4)])
def test_make_mean_batch_from_the_documented_draws(impl, n, size):
    got = run(impl.make_mean_batch, n, size, rng(1))
    x, target = expect_parts(got, ("x", "target"))
    g = rng(1)
    centre = g.uniform(-1.0, 1.0, size=(n, 1))
    want_x = centre + g.random((n, size))
    expect_close(_of(got, x), want_x, rtol=0, atol=1e-15, what="x (centre first, then rng.random)")
    expect_equal(
        _of(got, target),
        _closest(want_x),
        what="target (the position closest to its set's mean)",
        mistakes={
            "measure the distance to the mean of the whole batch instead of each set's": lambda: np.abs(
                want_x - want_x.mean()
            ).argmin(axis=1),
            "take the element furthest from the mean": lambda: (
                np.abs(want_x - want_x.mean(axis=1, keepdims=True)).argmax(axis=1).astype(np.int64)
            ),
        },
    )


@exercise("make_mean_batch")
def test_make_mean_batch_shapes_and_dtypes(impl):
    got = run(impl.make_mean_batch, 40, 7, rng(2))
    x, target = expect_parts(got, ("x", "target"))
    expect(
        isinstance(target, np.ndarray) and target.dtype == np.int64 and target.shape == (40,),
        f"{got}: target should be an int64 array of shape (40,), got {getattr(target, 'dtype', '?')} "
        f"{getattr(target, 'shape', '?')}",
    )
    expect(
        isinstance(x, np.ndarray) and x.shape == (40, 7) and x.dtype == np.float64,
        f"{got}: x should be float64 (40, 7)",
    )
    spread = x.max(axis=1) - x.min(axis=1)
    expect(
        bool(np.all(spread < 1)), f"{got}: each set lies within one unit of its centre (x = centre + U[0, 1))"
    )


@exercise("make_mean_batch")
def test_make_mean_batch_uses_the_passed_rng(impl):
    g = rng(3)
    run(impl.make_mean_batch, 4, 3, g)
    mine = rng(3)
    mine.uniform(-1.0, 1.0, size=(4, 1))
    mine.random((4, 3))
    expect(
        g.random() == mine.random(),
        "make_mean_batch(4, 3, rng): after the call the rng should be exactly two draws further on "
        "(rng.uniform for the centres, rng.random for the offsets)",
    )


# ---------------------------------------------------------------------------------------------
# content_attention_forward


def _memory(seed, N=3, n=5, H=4, scale=1.0):
    g = rng(seed)
    return scale * g.normal(size=(N, n, H)), g.normal(size=(N, H))


@exercise("content_attention_forward")
@pytest.mark.parametrize("N, n, H", [(3, 5, 4), (2, 1, 3), (1, 6, 2)])
def test_content_attention_forward_matches_loops(impl, N, n, H):
    m, q = _memory(10 + n, N, n, H)
    got = run(impl.content_attention_forward, m, q)
    r, _ = expect_parts(got, ("r", "cache"))
    expect_close(
        _of(got, r),
        _attend(m, q),
        what="r",
        mistakes={
            "average the rows uniformly (forget the attention weights)": lambda: m.mean(axis=1),
            "scale the scores by 1/sqrt(H) (this read does not scale them)": lambda: _attend(
                m, q, 1 / math.sqrt(H)
            ),
        },
    )


@exercise("content_attention_forward")
def test_content_attention_forward_is_stable(impl):
    m, q = _memory(11, 2, 4, 3, scale=2000.0)
    got = run(impl.content_attention_forward, m, q)
    r, _ = expect_parts(got, ("r", "cache"))
    expect_close(_of(got, r), _attend(m, q), what="r for scores in the thousands")


@exercise("content_attention_forward")
def test_content_attention_forward_ignores_the_order_of_the_rows(impl):
    m, q = _memory(12, 3, 6, 4)
    r = impl.content_attention_forward(m, q)[0]
    shuffled = m[:, rng(13).permutation(6)]
    got = run(impl.content_attention_forward, shuffled, q)
    expect_close(_of(got, expect_parts(got, ("r", "cache"))[0]), r, what="r with each set's rows permuted")


# ---------------------------------------------------------------------------------------------
# content_attention_backward


@exercise("content_attention_backward")
@pytest.mark.parametrize("N, n, H", [(3, 5, 4), (2, 3, 6)])
def test_content_attention_backward_matches_central_differences(impl, N, n, H):
    m, q = _memory(20 + n, N, n, H)
    dr = rng(21).normal(size=(N, H))
    _, cache = impl.content_attention_forward(m, q)
    got = run(impl.content_attention_backward, dr, cache)
    dm, dq = expect_parts(got, ("dm", "dq"))
    want_dm = numeric_grad(lambda value: float(np.sum(dr * _attend(value, q))), m)

    def values_only():  # the weights held fixed: only the path through the averaged values
        s = np.einsum("nih,nh->ni", m, q)
        a = np.exp(s - s.max(axis=1, keepdims=True))
        a /= a.sum(axis=1, keepdims=True)
        return a[..., None] * dr[:, None, :]

    def diagonal_softmax():  # ds_i = a_i (1 - a_i) da_i: the softmax's Jacobian without its off-diagonal
        s = np.einsum("nih,nh->ni", m, q)
        a = np.exp(s - s.max(axis=1, keepdims=True))
        a /= a.sum(axis=1, keepdims=True)
        ds = a * (1 - a) * np.einsum("nh,nih->ni", dr, m)
        return a[..., None] * dr[:, None, :] + ds[..., None] * q[:, None, :]

    expect_close(
        _of(got, dm),
        want_dm,
        rtol=1e-5,
        atol=1e-8,
        what="dm",
        mistakes={
            "leave out the path through the scores (m is also in the softmax)": values_only,
            "take the softmax's backward as a * (1 - a) * da (only the diagonal of its Jacobian)": (
                diagonal_softmax
            ),
        },
    )
    want_dq = numeric_grad(lambda value: float(np.sum(dr * _attend(m, value))), q)
    expect_close(_of(got, dq), want_dq, rtol=1e-5, atol=1e-8, what="dq")


@exercise("content_attention_backward")
def test_content_attention_backward_is_equivariant(impl):
    m, q = _memory(22, 2, 5, 3)
    dr = rng(23).normal(size=(2, 3))
    perm = rng(24).permutation(5)
    dm = impl.content_attention_backward(dr, impl.content_attention_forward(m, q)[1])[0]
    _, cache = impl.content_attention_forward(m[:, perm], q)
    got = run(impl.content_attention_backward, dr, cache)
    expect_close(
        _of(got, expect_parts(got, ("dm", "dq"))[0]),
        dm[:, perm],
        what="dm for rows permuted (the same rows' dm, permuted)",
    )


@exercise("content_attention_backward")
def test_content_attention_backward_one_row(impl):
    # One row: its weight is 1 whatever the score, so r = m and the query gets no gradient.
    m, q = _memory(25, 3, 1, 4)
    dr = rng(26).normal(size=(3, 4))
    _, cache = impl.content_attention_forward(m, q)
    got = run(impl.content_attention_backward, dr, cache)
    dm, dq = expect_parts(got, ("dm", "dq"))
    expect_close(_of(got, dm), dr[:, None, :], atol=1e-12, what="dm of a one-row memory (r = m)")
    expect_close(_of(got, dq), np.zeros((3, 4)), atol=1e-12, what="dq of a one-row memory")


# ---------------------------------------------------------------------------------------------
# process_forward


def _process_case(seed, N=3, n=5, H=4):
    g = rng(seed)
    return g.normal(size=(N, n, H)), g.normal(size=(2 * H, H)) / math.sqrt(H), 0.5 * g.normal(size=H)


@exercise("process_forward")
@pytest.mark.parametrize("steps", [1, 2, 4])
def test_process_forward_matches_loops(impl, steps):
    m, W_q, b_q = _process_case(30 + steps)
    got = run(impl.process_forward, m, W_q, b_q, steps)
    q_star, _ = expect_parts(got, ("q_star", "cache"))
    expect_close(
        _of(got, q_star),
        _process(m, W_q, b_q, steps),
        what="q*",
        mistakes={
            "concatenate [r, q] instead of [q, r]": lambda: _process(m, W_q, b_q, steps, order="rq"),
            "average the rows uniformly instead of attending": lambda: _process(
                m, W_q, b_q, steps, attend=lambda m, q: m.mean(axis=1)
            ),
        },
    )


@exercise("process_forward")
def test_process_forward_zero_steps(impl):
    m, W_q, b_q = _process_case(35, 2, 3, 5)
    got = run(impl.process_forward, m, W_q, b_q, 0)
    expect_close(
        _of(got, expect_parts(got, ("q_star", "cache"))[0]), np.zeros((2, 10)), what="q* after 0 steps"
    )


@exercise("process_forward")
def test_process_forward_is_permutation_invariant(impl):
    m, W_q, b_q = _process_case(36, 4, 7, 3)
    q_star = impl.process_forward(m, W_q, b_q, 3)[0]
    perm = rng(37).permutation(7)
    got = run(impl.process_forward, m[:, perm], W_q, b_q, 3)
    expect_close(
        _of(got, expect_parts(got, ("q_star", "cache"))[0]),
        q_star,
        what="q* with each set's elements permuted (a set has no order)",
    )


# ---------------------------------------------------------------------------------------------
# process_backward


@exercise("process_backward")
@pytest.mark.parametrize("steps, N, n, H", [(1, 3, 4, 3), (3, 2, 5, 4)])
def test_process_backward_matches_central_differences(impl, steps, N, n, H):
    args = _process_case(40 + steps, N, n, H)
    dq_star = rng(41).normal(size=(N, 2 * H))
    _, cache = impl.process_forward(*args, steps)
    got = run(impl.process_backward, dq_star, cache)
    grads = expect_parts(got, ("dm", "dW_q", "db_q"))
    wants = numeric_grads(lambda *a: float(np.sum(dq_star * _process(*a, steps))), args)
    for k, name in enumerate(("dm", "dW_q", "db_q")):
        mistakes = None
        if name == "dW_q" and steps > 1:
            # Walked backwards, the last step is t = 1, whose q*_0 = 0: an overwritten dW_q ends at 0.
            mistakes = {
                "overwrite dW_q at every step instead of adding the steps up (the last one walked, "
                "t = 1, reads q*_0 = 0)": np.zeros_like(args[1])
            }
        expect_close(
            _of(got, grads[k]),
            wants[k],
            rtol=1e-5,
            atol=1e-8,
            what=name,
            mistakes=mistakes,
        )


@exercise("process_backward")
def test_process_backward_query_gradient_matters(impl):
    # With dq* only on r, q_t gets its whole gradient through the attention's query.
    m, W_q, b_q = _process_case(45, 2, 4, 3)
    dq_star = np.concatenate([np.zeros((2, 3)), rng(46).normal(size=(2, 3))], axis=1)
    _, cache = impl.process_forward(m, W_q, b_q, 1)
    got = run(impl.process_backward, dq_star, cache)
    _, _, db_q = expect_parts(got, ("dm", "dW_q", "db_q"))
    want = numeric_grad(lambda value: float(np.sum(dq_star * _process(m, W_q, value, 1))), b_q)
    expect_close(
        _of(got, db_q),
        want,
        rtol=1e-5,
        atol=1e-8,
        what="db_q when the loss reads only r",
        mistakes={"forget the gradient reaching q_t through the attention's query": np.zeros(3)},
    )


@exercise("process_backward")
def test_process_backward_zero_steps(impl):
    m, W_q, b_q = _process_case(47, 2, 3, 4)
    _, cache = impl.process_forward(m, W_q, b_q, 0)
    got = run(impl.process_backward, rng(48).normal(size=(2, 8)), cache)
    dm, dW_q, db_q = expect_parts(got, ("dm", "dW_q", "db_q"))
    expect_close(_of(got, dm), np.zeros_like(m), what="dm after 0 steps (m was never read)")
    expect_close(_of(got, dW_q), np.zeros_like(W_q), what="dW_q after 0 steps")


# ---------------------------------------------------------------------------------------------
# set_pointer_forward


def _net_case(seed, N=3, n=5, H=4, A=3):
    g = rng(seed)
    x = g.uniform(-1, 1, size=(N, 1)) + g.random((N, n))
    return _params(H, A, seed + 1), x, g.integers(0, n, size=N)


@exercise("set_pointer_forward")
@pytest.mark.parametrize("N, n, steps", [(3, 5, 2), (2, 4, 0), (4, 3, 3)])
def test_set_pointer_forward_matches_loops(impl, N, n, steps):
    p, x, target = _net_case(50 + n, N, n)
    got = run(impl.set_pointer_forward, p, x, target, steps)
    loss, _ = expect_parts(got, ("loss", "cache"))
    expect(isinstance(loss, float), f"{got}: the loss should be a Python float, got {type(loss).__name__}")
    expect_close(
        _of(got, loss),
        _loss(p, x, target, steps),
        what="the loss",
        mistakes={
            "sum over the batch instead of averaging": lambda: _loss(p, x, target, steps, mean=False),
            **(
                {
                    "ignore `steps` (always one process step)": lambda: _loss(p, x, target, 1),
                    "skip the process block (d = 0)": lambda: _loss(p, x, target, 0),
                }
                if steps > 1
                else {}
            ),
        },
    )


@exercise("set_pointer_forward")
def test_set_pointer_forward_is_equivariant(impl):
    # Permute each set's elements and move its target with them: the loss is unchanged.
    p, x, target = _net_case(56, 4, 6)
    loss = impl.set_pointer_forward(p, x, target, 3)[0]
    perm = rng(57).permutation(6)
    inverse = np.argsort(perm)
    got = run(impl.set_pointer_forward, p, x[:, perm], inverse[target].astype(np.int64), 3)
    expect_close(
        _of(got, expect_parts(got, ("loss", "cache"))[0]), loss, what="the loss of the permuted sets"
    )


@exercise("set_pointer_forward")
def test_set_pointer_forward_process_steps_matter(impl):
    p, x, target = _net_case(58, 3, 5)
    got = run(impl.set_pointer_forward, p, x, target, 2)
    want = _loss(p, x, target, 2)
    expect_close(
        _of(got, expect_parts(got, ("loss", "cache"))[0]),
        want,
        what="the loss with 2 process steps",
        mistakes={
            "ignore `steps` (always one process step)": lambda: _loss(p, x, target, 1),
            "skip the process block (d = 0)": lambda: _loss(p, x, target, 0),
        },
    )


# ---------------------------------------------------------------------------------------------
# set_pointer_backward


def _numeric_net(p, x, target, steps, frozen=False):
    return numeric_param_grads(lambda q: _loss(q, x, target, steps, frozen=p if frozen else None), p)


@exercise("set_pointer_backward")
@pytest.mark.parametrize("N, n, steps", [(3, 5, 2), (2, 4, 1)])
def test_set_pointer_backward_matches_central_differences(impl, N, n, steps):
    p, x, target = _net_case(60 + n, N, n)
    _, cache = impl.set_pointer_forward(p, x, target, steps)
    got = run(impl.set_pointer_backward, cache)
    grads = got.value
    want = _numeric_net(p, x, target, steps)
    expect(
        isinstance(grads, dict) and set(grads) == set(want),
        f"{got}: expected a dict with the keys {sorted(want)}, got "
        f"{sorted(grads) if isinstance(grads, dict) else type(grads).__name__}",
    )
    for name in want:
        mistakes = {
            "forget to divide du by N (the loss is a mean over the batch)": lambda name=name: N * want[name]
        }
        if name in ("W_r", "b_r"):
            mistakes["leave out the gradient that reaches m through the process block"] = lambda name=name: (
                _numeric_net(p, x, target, steps, frozen=True)[name]
            )
        expect_close(
            _of(got, grads[name]), want[name], rtol=1e-5, atol=1e-8, what=f"d{name}", mistakes=mistakes
        )


@exercise("set_pointer_backward")
def test_set_pointer_backward_twice_gives_the_same(impl):
    p, x, target = _net_case(66, 3, 6)
    _, cache = impl.set_pointer_forward(p, x, target, 3)
    first = {k: np.array(g, copy=True) for k, g in impl.set_pointer_backward(cache).items()}
    got = run(impl.set_pointer_backward, cache)
    for name in first:
        expect_close(
            _of(got, got.value[name]),
            first[name],
            rtol=1e-12,
            atol=0,
            what=f"d{name} on a second call with the same cache (did the first call change the cache?)",
        )


# Training budget: H = A = 8, batches of 64 sets of 5 numbers, 2 process steps, 50 Adam steps
# at 5e-2 (the given train_set_pointer). Over 30 seeds (init rng(s), training rng(s + 1),
# test sets drawn as here from rng(s + 2)) the reference pointed at the element closest to
# the mean in 59.0-96 % of 300 new sets (mean 83.2 %, worst seed 25); with 0 process steps
# (the pointer sees each element but not the set) the same budget reaches 10.7 % on average
# and 21.3 % at best, about the 20 % of a guess.
ACCURACY = 0.5


@exercise("set_pointer_backward", timeout=30)
def test_set_pointer_backward_learns_the_mean(impl):
    params = impl.init_set_pointer(8, 8, rng(0))
    got = run(impl.train_set_pointer, params, 50, 64, 5, 2, 5e-2, rng(1))
    trained, losses = got.value
    g = rng(2)
    x = g.uniform(-1.0, 1.0, size=(300, 1)) + g.random((300, 5))
    m = x[..., None] * trained["W_r"][0] + trained["b_r"]
    d = _process(m, trained["W_q"], trained["b_q"], 2) @ trained["W_d"]
    chosen = _pointer(m, d, trained["W1"], trained["W2"], trained["v"]).argmax(axis=1)
    accuracy = float(np.mean(chosen == _closest(x)))
    expect(
        accuracy >= ACCURACY,
        f"{got} (your passes inside the given loop): the network pointed at the element closest to "
        f"the mean in {accuracy:.1%} of 300 new sets, expected at least {ACCURACY:.0%} "
        f"(loss from {losses[0]:.2f} to {np.mean(losses[-10:]):.3f})",
    )
