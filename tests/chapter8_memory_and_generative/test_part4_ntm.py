"""Tests for chapter 8, part 4: the Neural Turing Machine's content and location addressing,
its read, erase and add, their backward passes, and the copy task.

Expected values come from the definitions written out in this file (loops over rows and
offsets where that is clearer), and every backward pass is checked against central
differences of this file's forward passes with a random upstream gradient. Sizes are B = 3
sequences, N = 5 rows, W = 4 columns, so a wrong axis or a missing transpose shows; the
weightings are random and positive, never uniform.
"""

import numpy as np
import pytest

from grader.testkit import (
    Call,
    exercise,
    expect,
    expect_close,
    expect_parts,
    numeric_grads,
    rng,
    run,
    run_without_warnings,
)

B, N, W = 3, 5, 4
EPS = 1e-8
OFFSETS = (-1, 0, 1)


def _softmax(z, axis=1):
    e = np.exp(z - z.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


def _weighting(g, b=B, n=N):
    return _softmax(g.normal(size=(b, n)))


# --- the definitions, and the wrong versions the tests name ---------------------------------


def _content(M, k, beta, cosine=True, strength=True, axis=1, norms_constant=None):
    dots = np.einsum("bnw,bw->bn", M, k)
    norms = np.linalg.norm(M, axis=2) * np.linalg.norm(k, axis=1)[:, None] + EPS
    if norms_constant is not None:
        norms = norms_constant
    K = dots / norms if cosine else dots
    return _softmax(beta[:, None] * K if strength else K, axis=axis)


def _location(w_c, w_prev, g, s, gamma, circular=True, renormalise=True, direction=1, swap_g=False):
    gg = (1 - g if swap_g else g)[:, None]
    w_g = gg * w_c + (1 - gg) * w_prev
    n = w_g.shape[1]
    w_s = np.zeros_like(w_g)
    for j, offset in enumerate(OFFSETS):
        for i in range(n):
            src = i - direction * offset
            if circular:
                w_s[:, i] += s[:, j] * w_g[:, src % n]
            elif 0 <= src < n:
                w_s[:, i] += s[:, j] * w_g[:, src]
    u = w_s ** gamma[:, None]
    return u / u.sum(axis=1, keepdims=True) if renormalise else u


def _read(M, w):
    return sum(w[:, i, None] * M[:, i] for i in range(M.shape[1]))


def _write(M, w, e, a, order="erase first", weight_add=True, whole_row=False):
    erase = w[:, :, None] if whole_row else w[:, :, None] * e[:, None, :]
    add = w[:, :, None] * a[:, None, :] if weight_add else np.broadcast_to(a[:, None, :], M.shape)
    if order == "erase first":
        return M * (1 - erase) + add
    return (M + add) * (1 - erase)


def _content_case(seed, b=B, n=N, w=W):
    g = rng(seed)
    return g.normal(size=(b, n, w)), g.normal(size=(b, w)), g.uniform(0.5, 4.0, size=b)


def _location_case(seed, b=B, n=N):
    g = rng(seed)
    return (
        _weighting(g, b, n),
        _weighting(g, b, n),
        g.uniform(0.1, 0.9, size=b),
        _softmax(g.normal(size=(b, 3))),
        g.uniform(1.0, 3.0, size=b),
    )


def _write_case(seed, b=B, n=N, w=W):
    g = rng(seed)
    M, w_ = g.normal(size=(b, n, w)), _weighting(g, b, n)
    return M, w_, g.uniform(0.1, 0.9, size=(b, w)), g.normal(size=(b, w))


def _expect_float32(call, arrays, names):
    for name, a in zip(names, arrays):
        expect(
            getattr(a, "dtype", None) == np.float32,
            f"{call}: {name} has dtype {getattr(a, 'dtype', None)}; float32 inputs must give float32",
        )


def _expect_grads(call, names, got, wants, mistakes=None, rtol=1e-6, atol=1e-8):
    for k, (name, part, want) in enumerate(zip(names, got, wants)):
        named = {p: (lambda ans=ans, k=k: ans()[k]) for p, ans in (mistakes or {}).items()}
        expect_close(Call(part, str(call)), want, rtol=rtol, atol=atol, what=name, mistakes=named)


# --- content_weights --------------------------------------------------------------------------


@exercise("content_weights")
@pytest.mark.parametrize("seed", [1, 2])
def test_content_weights_matches_definition(impl, seed):
    M, k, beta = _content_case(seed)
    call = run(impl.content_weights, M, k, beta)
    w, _ = expect_parts(call, ("w", "cache"), [(B, N), None])
    expect_close(
        Call(w, str(call)),
        _content(M, k, beta),
        what="w",
        mistakes={
            "forget the key strength beta": lambda: _content(M, k, beta, strength=False),
            "use the dot product M_i . k instead of the cosine similarity": lambda: _content(
                M, k, beta, cosine=False
            ),
            "take the softmax over the batch axis instead of the rows": lambda: _content(M, k, beta, axis=0),
        },
    )


@exercise("content_weights")
def test_content_weights_finds_the_row_pointing_like_the_key(impl):
    # Cosine similarity ignores length: a long row pointing elsewhere loses to a short row
    # pointing exactly along the key, and a large beta makes the weighting one-hot there.
    g = rng(3)
    M, k = g.normal(size=(B, N, W)) * 10, g.normal(size=(B, W))
    rows = np.array([4, 0, 2])
    M[np.arange(B), rows] = 0.01 * k
    call = run_without_warnings(impl.content_weights, M, k, np.full(B, 1000.0))
    w, _ = expect_parts(call, ("w", "cache"), [(B, N), None])
    expect_close(Call(w, str(call)), np.eye(N)[rows], atol=1e-6, what="w with beta = 1000 (a stable softmax)")


@exercise("content_weights")
def test_content_weights_eps_keeps_zero_and_faint_rows_finite(impl):
    # A zero row scores 0 (0 / EPS), not nan; a row of norm 1e-8 along the key has
    # ||M_i|| ||k|| = 1e-8 ||k||, comparable with EPS, so K_i = ||k|| / (||k|| + 1): EPS is
    # part of the definition, added to the product of the norms.
    g = rng(6)
    M, k, beta = g.normal(size=(B, N, W)), g.normal(size=(B, W)), np.array([2.0, 3.0, 1.0])
    M[:, 0] = 0.0
    M[:, 1] = 1e-8 * k / np.linalg.norm(k, axis=1, keepdims=True)
    call = run_without_warnings(impl.content_weights, M, k, beta)
    w, _ = expect_parts(call, ("w", "cache"), [(B, N), None])

    def no_eps():
        with np.errstate(invalid="ignore"):
            norms = np.linalg.norm(M, axis=2) * np.linalg.norm(k, axis=1)[:, None]
            return _content(M, k, beta, norms_constant=norms)

    expect_close(
        Call(w, str(call)),
        _content(M, k, beta),
        what="w with a zero row 0 and a row 1 of norm 1e-8",
        mistakes={"leave EPS out of the denominator": no_eps},
    )


@exercise("content_weights")
def test_content_weights_rows_sum_to_one_and_beta_zero_is_uniform(impl):
    M, k, beta = _content_case(4)
    beta[1] = 0.0
    call = run(impl.content_weights, M, k, beta)
    w, _ = expect_parts(call, ("w", "cache"), [(B, N), None])
    expect_close(Call(w.sum(axis=1), str(call)), np.ones(B), what="the sum of each row of w")
    expect_close(Call(w[1], str(call)), np.full(N, 1 / N), what="w[1], whose beta is 0")


@exercise("content_weights")
def test_content_weights_keeps_float32(impl):
    M, k, beta = (a.astype(np.float32) for a in _content_case(5))
    call = run(impl.content_weights, M, k, beta)
    w, _ = expect_parts(call, ("w", "cache"), [(B, N), None])
    _expect_float32(call, [w], ["w"])
    want = _content(*(a.astype(np.float64) for a in (M, k, beta)))
    expect_close(Call(w, str(call)), want, rtol=1e-4, atol=1e-6, what="w (float32)")


# --- content_weights_backward -----------------------------------------------------------------


@exercise("content_weights_backward")
@pytest.mark.parametrize("seed", [11, 12])
def test_content_weights_backward_matches_central_differences(impl, seed):
    M, k, beta = _content_case(seed)
    dw = rng(seed + 50).normal(size=(B, N))
    _, cache = impl.content_weights(M, k, beta)
    call = run(impl.content_weights_backward, dw, cache)
    got = expect_parts(call, ("dmemory", "dkey", "dbeta"), [(B, N, W), (B, W), (B,)])
    wants = numeric_grads(lambda M, k, beta: np.sum(dw * _content(M, k, beta)), (M, k, beta))

    def norms_held_fixed():
        fixed = np.linalg.norm(M, axis=2) * np.linalg.norm(k, axis=1)[:, None] + EPS
        held = lambda M, k, beta: np.sum(dw * _content(M, k, beta, norms_constant=fixed))  # noqa: E731
        return numeric_grads(held, (M, k, beta))

    _expect_grads(
        call,
        ("dmemory", "dkey", "dbeta"),
        got,
        wants,
        mistakes={
            "treat the norms ||M_i|| ||k|| as constants (leave out their derivative)": norms_held_fixed
        },  # noqa: E501
    )


@exercise("content_weights_backward")
def test_content_weights_backward_scaling_a_row_changes_nothing(impl):
    # K is the same for M_i and 2 M_i, so the gradient along M_i itself must be 0.
    M, k, beta = _content_case(13)
    dw = rng(14).normal(size=(B, N))
    _, cache = impl.content_weights(M, k, beta)
    call = run(impl.content_weights_backward, dw, cache)
    dM, dk, _ = expect_parts(call, ("dmemory", "dkey", "dbeta"), [(B, N, W), (B, W), (B,)])
    along_rows = Call(np.sum(dM * M, axis=2), str(call))
    expect_close(along_rows, np.zeros((B, N)), atol=1e-7, what="sum_c dM[b, i, c] M[b, i, c]")
    along_key = Call(np.sum(dk * k, axis=1), str(call))
    expect_close(along_key, np.zeros(B), atol=1e-7, what="sum_c dkey[b, c] key[b, c]")


@exercise("content_weights_backward")
def test_content_weights_backward_zero_key_stays_finite(impl):
    # The given NTM's first step on an all-zero input has a zero key. K is still
    # differentiable there (EPS > 0): near k = 0 it is M_i . k / EPS, so dkey = sum_i dK_i
    # M_i / EPS, dmemory = 0 and dbeta = 0 (K = 0) for that sequence; the path through
    # ||k|| is multiplied by M_i . k = 0 and vanishes.
    M, k, beta = _content_case(17)
    k[1] = 0.0
    dw = rng(18).normal(size=(B, N))
    _, cache = impl.content_weights(M, k, beta)
    call = run_without_warnings(impl.content_weights_backward, dw, cache)
    dM, dk, dbeta = expect_parts(call, ("dmemory", "dkey", "dbeta"), [(B, N, W), (B, W), (B,)])
    w = _content(M, k, beta)
    dz = w[1] * (dw[1] - dw[1] @ w[1])
    what = "for sequence 1, whose key is 0"
    expect_close(
        Call(dk[1], str(call)),
        beta[1] * (dz @ M[1]) / EPS,
        what=f"dkey {what}",
        mistakes={"set dkey to 0 where the key is 0 (K is differentiable there, thanks to EPS)": np.zeros(W)},
    )
    expect_close(Call(dM[1], str(call)), np.zeros((N, W)), atol=1e-12, what=f"dmemory {what}")
    expect_close(Call(dbeta[1], str(call)), 0.0, atol=1e-12, what=f"dbeta {what}")


@exercise("content_weights_backward")
def test_content_weights_backward_keeps_float32(impl):
    M, k, beta = (a.astype(np.float32) for a in _content_case(15))
    dw = rng(16).normal(size=(B, N)).astype(np.float32)
    _, cache = impl.content_weights(M, k, beta)
    call = run(impl.content_weights_backward, dw, cache)
    got = expect_parts(call, ("dmemory", "dkey", "dbeta"), [(B, N, W), (B, W), (B,)])
    _expect_float32(call, got, ("dmemory", "dkey", "dbeta"))
    wide = [a.astype(np.float64) for a in (M, k, beta)]
    wants = numeric_grads(lambda M, k, beta: np.sum(dw.astype(np.float64) * _content(M, k, beta)), wide)
    _expect_grads(call, ("dmemory", "dkey", "dbeta"), got, wants, rtol=1e-3, atol=1e-5)


NOT_CIRCULAR = "shift without wrapping around (weight shifted past the last row is lost, not moved to row 0)"


# --- location_weights -------------------------------------------------------------------------


@exercise("location_weights")
@pytest.mark.parametrize("seed", [21, 22])
def test_location_weights_matches_definition(impl, seed):
    args = _location_case(seed)
    call = run(impl.location_weights, *args)
    w, _ = expect_parts(call, ("w", "cache"), [(B, N), None])
    expect_close(
        Call(w, str(call)),
        _location(*args),
        what="w",
        mistakes={
            NOT_CIRCULAR: lambda: _location(*args, circular=False),
            "sharpen without renormalising (w_s ** gamma, not divided by its sum)": lambda: _location(
                *args, renormalise=False
            ),
            "shift the other way (s[:, 2], the offset +1, moving weight up a row)": lambda: _location(
                *args, direction=-1
            ),
            "swap g and 1 - g in the interpolation": lambda: _location(*args, swap_g=True),
        },
    )


@exercise("location_weights")
@pytest.mark.parametrize("offset", [-1, 0, 1])
def test_location_weights_shifts_one_hot_weightings_exactly(impl, offset):
    # g = 1, gamma = 1 and a one-hot shift: the content weighting moves by the offset,
    # and the last row's weight wraps around to row 0 (the first row's to row N - 1).
    rows = np.array([N - 1, 0, 2])
    w_c = np.eye(N)[rows]
    w_prev = _weighting(rng(23))
    s = np.zeros((B, 3))
    s[:, OFFSETS.index(offset)] = 1.0
    call = run(impl.location_weights, w_c, w_prev, np.ones(B), s, np.ones(B))
    w, _ = expect_parts(call, ("w", "cache"), [(B, N), None])
    want = np.eye(N)[(rows + offset) % N]
    expect_close(
        Call(w, str(call)),
        want,
        atol=1e-12,
        what=f"w for a one-hot shift by {offset:+d}",
        mistakes={NOT_CIRCULAR: lambda: _location(w_c, w_prev, np.ones(B), s, np.ones(B), circular=False)},
    )


@exercise("location_weights")
def test_location_weights_g_zero_keeps_the_previous_weighting(impl):
    # g = 0 ignores the content weighting; no shift and gamma = 1 then return w_prev.
    w_c, w_prev, _, _, _ = _location_case(24)
    s = np.tile([0.0, 1.0, 0.0], (B, 1))
    call = run(impl.location_weights, w_c, w_prev, np.zeros(B), s, np.ones(B))
    w, _ = expect_parts(call, ("w", "cache"), [(B, N), None])
    expect_close(Call(w, str(call)), w_prev, what="w with g = 0, no shift, gamma = 1")


@exercise("location_weights")
def test_location_weights_sharpening_sums_to_one(impl):
    args = list(_location_case(25))
    args[4] = np.array([1.0, 5.0, 20.0])
    call = run(impl.location_weights, *args)
    w, _ = expect_parts(call, ("w", "cache"), [(B, N), None])
    expect_close(Call(w.sum(axis=1), str(call)), np.ones(B), what="the sum of each row of w")
    expect_close(Call(w, str(call)), _location(*args), what="w with gamma = 1, 5, 20")


@exercise("location_weights")
def test_location_weights_keeps_float32(impl):
    args = [a.astype(np.float32) for a in _location_case(26)]
    call = run(impl.location_weights, *args)
    w, _ = expect_parts(call, ("w", "cache"), [(B, N), None])
    _expect_float32(call, [w], ["w"])
    want = _location(*(a.astype(np.float64) for a in args))
    expect_close(Call(w, str(call)), want, rtol=1e-4, atol=1e-6, what="w (float32)")


# --- location_weights_backward ----------------------------------------------------------------

LOCATION_GRADS = ("dw_content", "dw_prev", "dg", "ds", "dgamma")
LOCATION_SHAPES = [(B, N), (B, N), (B,), (B, 3), (B,)]


@exercise("location_weights_backward")
@pytest.mark.parametrize("seed", [31, 32])
def test_location_weights_backward_matches_central_differences(impl, seed):
    args = _location_case(seed)
    dw = rng(seed + 50).normal(size=(B, N))
    _, cache = impl.location_weights(*args)
    call = run(impl.location_weights_backward, dw, cache)
    got = expect_parts(call, LOCATION_GRADS, LOCATION_SHAPES)
    wants = numeric_grads(lambda *a: np.sum(dw * _location(*a)), args)
    _expect_grads(
        call,
        LOCATION_GRADS,
        got,
        wants,
        mistakes={
            "differentiate a shift that does not wrap around": lambda: numeric_grads(
                lambda *a: np.sum(dw * _location(*a, circular=False)), args
            ),
            "differentiate the sharpening without its renormalisation": lambda: numeric_grads(
                lambda *a: np.sum(dw * _location(*a, renormalise=False)), args
            ),
        },
    )


@exercise("location_weights_backward")
def test_location_weights_backward_keeps_float32(impl):
    args = [a.astype(np.float32) for a in _location_case(33)]
    dw = rng(34).normal(size=(B, N)).astype(np.float32)
    _, cache = impl.location_weights(*args)
    call = run(impl.location_weights_backward, dw, cache)
    got = expect_parts(call, LOCATION_GRADS, LOCATION_SHAPES)
    _expect_float32(call, got, LOCATION_GRADS)
    wide = [a.astype(np.float64) for a in args]
    wants = numeric_grads(lambda *a: np.sum(dw.astype(np.float64) * _location(*a)), wide)
    _expect_grads(call, LOCATION_GRADS, got, wants, rtol=1e-3, atol=1e-5)


# --- read_memory and read_memory_backward -----------------------------------------------------


@exercise("read_memory")
def test_read_memory_matches_definition(impl):
    M, w, _, _ = _write_case(41)
    call = run(impl.read_memory, M, w)
    r, _ = expect_parts(call, ("r", "cache"), [(B, W), None])
    expect_close(
        Call(r, str(call)),
        _read(M, w),
        what="r",
        mistakes={"sum the rows without weighting them by w": M.sum(axis=1)},
    )


@exercise("read_memory")
def test_read_memory_one_hot_reads_one_row(impl):
    M, _, _, _ = _write_case(42)
    rows = np.array([3, 0, 4])
    call = run(impl.read_memory, M, np.eye(N)[rows])
    r, _ = expect_parts(call, ("r", "cache"), [(B, W), None])
    expect_close(Call(r, str(call)), M[np.arange(B), rows], what="r for one-hot weightings (rows 3, 0, 4)")


@exercise("read_memory")
def test_read_memory_keeps_float32(impl):
    M, w, _, _ = (a.astype(np.float32) for a in _write_case(43))
    call = run(impl.read_memory, M, w)
    r, _ = expect_parts(call, ("r", "cache"), [(B, W), None])
    _expect_float32(call, [r], ["r"])
    expect_close(Call(r, str(call)), _read(M.astype(np.float64), w.astype(np.float64)), rtol=1e-4, atol=1e-6)


@exercise("read_memory_backward")
def test_read_memory_backward_matches_central_differences(impl):
    M, w, _, _ = _write_case(44)
    dr = rng(45).normal(size=(B, W))
    _, cache = impl.read_memory(M, w)
    call = run(impl.read_memory_backward, dr, cache)
    got = expect_parts(call, ("dmemory", "dw"), [(B, N, W), (B, N)])
    wants = numeric_grads(lambda M, w: np.sum(dr * _read(M, w)), (M, w))
    _expect_grads(call, ("dmemory", "dw"), got, wants)


@exercise("read_memory_backward")
def test_read_memory_backward_keeps_float32(impl):
    M, w, _, _ = (a.astype(np.float32) for a in _write_case(46))
    dr = rng(47).normal(size=(B, W)).astype(np.float32)
    _, cache = impl.read_memory(M, w)
    call = run(impl.read_memory_backward, dr, cache)
    got = expect_parts(call, ("dmemory", "dw"), [(B, N, W), (B, N)])
    _expect_float32(call, got, ("dmemory", "dw"))
    wide = [a.astype(np.float64) for a in (M, w)]
    wants = numeric_grads(lambda M, w: np.sum(dr.astype(np.float64) * _read(M, w)), wide)
    _expect_grads(call, ("dmemory", "dw"), got, wants, rtol=1e-4, atol=1e-6)


# --- write_memory -----------------------------------------------------------------------------

WRITE_MISTAKES = {
    "add before erasing (the erase then also removes part of what was just added)": {"order": "add first"},
    "erase whole rows, M * (1 - w), forgetting the erase vector": {"whole_row": True},
    "add a^T to every row without weighting it by w": {"weight_add": False},
}


@exercise("write_memory")
@pytest.mark.parametrize("seed", [51, 52])
def test_write_memory_matches_definition(impl, seed):
    M, w, e, a = _write_case(seed)
    call = run(impl.write_memory, M, w, e, a)
    M_new, _ = expect_parts(call, ("M_new", "cache"), [(B, N, W), None])
    mistakes = {p: (lambda kw=kw: _write(M, w, e, a, **kw)) for p, kw in WRITE_MISTAKES.items()}
    expect_close(Call(M_new, str(call)), _write(M, w, e, a), what="M_new", mistakes=mistakes)


@exercise("write_memory")
def test_write_memory_full_erase_replaces_one_row(impl):
    # A one-hot weighting with erase = 1 replaces that row by the add vector exactly and
    # leaves every other row as it was.
    M, _, _, a = _write_case(53)
    rows = np.array([1, 4, 0])
    w, e = np.eye(N)[rows], np.ones((B, W))
    call = run(impl.write_memory, M, w, e, a)
    M_new, _ = expect_parts(call, ("M_new", "cache"), [(B, N, W), None])
    want = M.copy()
    want[np.arange(B), rows] = a
    mistakes = {p: (lambda kw=kw: _write(M, w, e, a, **kw)) for p, kw in WRITE_MISTAKES.items()}
    expect_close(Call(M_new, str(call)), want, what="M_new (one-hot w, erase = 1)", mistakes=mistakes)


@exercise("write_memory")
def test_write_memory_keeps_float32(impl):
    args = [x.astype(np.float32) for x in _write_case(54)]
    call = run(impl.write_memory, *args)
    M_new, _ = expect_parts(call, ("M_new", "cache"), [(B, N, W), None])
    _expect_float32(call, [M_new], ["M_new"])
    expect_close(Call(M_new, str(call)), _write(*(x.astype(np.float64) for x in args)), rtol=1e-4, atol=1e-6)


# --- write_memory_backward --------------------------------------------------------------------

WRITE_GRADS = ("dmemory", "dw", "derase", "dadd")


@exercise("write_memory_backward")
@pytest.mark.parametrize("seed", [61, 62])
def test_write_memory_backward_matches_central_differences(impl, seed):
    args = _write_case(seed)
    dM = rng(seed + 50).normal(size=(B, N, W))
    _, cache = impl.write_memory(*args)
    call = run(impl.write_memory_backward, dM, cache)
    got = expect_parts(call, WRITE_GRADS, [(B, N, W), (B, N), (B, W), (B, W)])
    wants = numeric_grads(lambda *a: np.sum(dM * _write(*a)), args)
    _expect_grads(
        call,
        WRITE_GRADS,
        got,
        wants,
        mistakes={
            "differentiate a write that adds before erasing": lambda: numeric_grads(
                lambda *a: np.sum(dM * _write(*a, order="add first")), args
            )
        },
    )


@exercise("write_memory_backward")
def test_write_memory_backward_keeps_float32(impl):
    args = [x.astype(np.float32) for x in _write_case(63)]
    dM = rng(64).normal(size=(B, N, W)).astype(np.float32)
    _, cache = impl.write_memory(*args)
    call = run(impl.write_memory_backward, dM, cache)
    got = expect_parts(call, WRITE_GRADS, [(B, N, W), (B, N), (B, W), (B, W)])
    _expect_float32(call, got, WRITE_GRADS)
    wide = [x.astype(np.float64) for x in args]
    wants = numeric_grads(lambda *a: np.sum(dM.astype(np.float64) * _write(*a)), wide)
    _expect_grads(call, WRITE_GRADS, got, wants, rtol=1e-3, atol=1e-5)


# Training budget: 3 bits, sequences of 2, a memory of 8 rows of 6, a controller of 16 tanh
# units; 100 Adam steps at 1e-2 on batches of 32 (the given train_copy; about a second under
# the grader, which type-checks each of the 12 calls of your functions per time step). Over
# 30 seeds (init rng(s), training rng(s + 1)) the reference got 2-18 % of the bits of 500 new
# sequences wrong (median 8 %, worst seed 20). A model without memory sees only blank inputs
# while it must answer, and cannot beat chance (50 %).
BIT_ERROR = 0.30


@exercise("write_memory_backward", timeout=60)
def test_the_ntm_learns_to_copy(impl):
    params = impl.init_ntm(4, 3, 16, 6, rng(0))
    got = run(impl.train_copy, params, 100, 32, 2, 3, 8, 1e-2, rng(1))
    trained, losses = got.value
    x, targets, mask = impl.make_copy_batch(500, 2, 3, rng(2))
    logits, _ = impl.ntm_forward(trained, x, 8)
    error = float(np.mean((logits[:, mask] > 0) != (targets[:, mask] > 0.5)))
    expect(
        error <= BIT_ERROR,
        f"{got} (all your addressing, read and write functions and their backward passes inside "
        f"the given NTM): {error:.1%} of the copied bits of 500 new sequences were wrong, expected at "
        f"most {BIT_ERROR:.0%} (chance is 50%; loss from {losses[0]:.3f} to {np.mean(losses[-10:]):.3f})"
        + (
            "; a nan loss comes from a nan gradient: a division by a zero norm or weight (see "
            "content_weights_backward's docstring on a zero key)"
            if not np.all(np.isfinite(losses))
            else ""
        ),
    )
