"""Tests for chapter 6, part 6: the scaled forward and backward passes, the posteriors,
Viterbi and a Baum-Welch step of a discrete hidden Markov model.

Expected values come from this file: on tiny models (3 states, 5 to 6 steps) by summing or
maximising over every one of the K^T state paths; on long sequences (10,000 steps) from a
forward pass and a Viterbi written here in log space. Baum-Welch must never decrease the
likelihood.
"""

import itertools

import numpy as np

from grader.testkit import (
    Call,
    exercise,
    expect,
    expect_close,
    expect_equal,
    expect_parts,
    rng,
    run,
    run_without_warnings,
)


def _model(seed, K=3, M=4):
    g = rng(seed)
    return g.dirichlet(np.ones(K)), g.dirichlet(np.ones(K), size=K), g.dirichlet(np.ones(M), size=K)


def _sample(pi, A, B, T, seed):
    g = rng(seed)
    K, M = B.shape
    obs = np.zeros(T, dtype=np.int64)
    z = g.choice(K, p=pi)
    for t in range(T):
        if t:
            z = g.choice(K, p=A[z])
        obs[t] = g.choice(M, p=B[z])
    return obs


def _paths(K, T):
    """Every state path (K^T, T) and, for a model and sequence, the joint P(path, x)."""
    return np.array(list(itertools.product(range(K), repeat=T)), dtype=np.int64)


def _joint(pi, A, B, obs, paths):
    p = pi[paths[:, 0]] * B[paths[:, 0], obs[0]]
    for t in range(1, paths.shape[1]):
        p = p * A[paths[:, t - 1], paths[:, t]] * B[paths[:, t], obs[t]]
    return p


def _brute(pi, A, B, obs):
    """By enumeration: filtered alpha, c, smoothed gamma, xi, beta (scaled), P(x)."""
    T, K = len(obs), len(pi)
    alpha, c = np.zeros((T, K)), np.zeros(T)
    for t in range(T):
        paths = _paths(K, t + 1)
        joint = _joint(pi, A, B, obs[: t + 1], paths)
        c[t] = joint.sum() / (c[:t].prod() if t else 1.0)
        alpha[t] = np.bincount(paths[:, t], joint, minlength=K) / joint.sum()
    paths = _paths(K, T)
    joint = _joint(pi, A, B, obs, paths)
    px = joint.sum()
    gamma = np.stack([np.bincount(paths[:, t], joint, minlength=K) for t in range(T)]) / px
    xi = np.zeros((T - 1, K, K))
    for t in range(T - 1):
        np.add.at(xi[t], (paths[:, t], paths[:, t + 1]), joint / px)
    beta = gamma / alpha
    return alpha, c, gamma, xi, beta, px


def _logsumexp(a, axis):
    m = a.max(axis=axis, keepdims=True)
    return np.squeeze(m, axis) + np.log(np.exp(a - m).sum(axis=axis))


def _log_forward(pi, A, B, obs):
    """log P(x_0 … x_t) for every t, and log P(z_t, x_0 … x_t), in log space."""
    la = np.log(pi) + np.log(B[:, obs[0]])
    logs, rows = [_logsumexp(la, 0)], [la]
    for x in obs[1:]:
        la = _logsumexp(la[:, None] + np.log(A), 0) + np.log(B[:, x])
        logs.append(_logsumexp(la, 0))
        rows.append(la)
    return np.array(logs), np.array(rows)


PI, A3, B3 = _model(0)
OBS = np.array([0, 3, 3, 1, 2, 0])
BRUTE = _brute(PI, A3, B3, OBS)


def _forward_here(pi, A, B, obs):
    logs, rows = _log_forward(pi, A, B, obs)
    alpha = np.exp(rows - logs[:, None])
    return alpha, np.exp(np.diff(logs, prepend=0.0))


# --------------------------------------------------------------------------------- forward


def _forward_wrong(pi, A, B, obs, transpose=False, first_emission=True, scale=True):
    T, K = len(obs), len(pi)
    alpha, c = np.zeros((T, K)), np.ones(T)
    a = pi * B[:, obs[0]] if first_emission else pi.copy()
    for t in range(T):
        if t:
            a = ((A @ alpha[t - 1]) if transpose else (alpha[t - 1] @ A)) * B[:, obs[t]]
        if scale:
            c[t] = a.sum()
        alpha[t] = a / a.sum()
    return alpha, c


@exercise("forward")
def test_forward_matches_summing_over_every_path(impl):
    alpha_want, c_want, *_, px = BRUTE
    call = run(impl.forward, PI, A3, B3, OBS)
    alpha, c = expect_parts(call, ("alpha", "c"), ((6, 3), (6,)))
    expect_close(
        Call(alpha, f"{call}[0], alpha"),
        alpha_want,
        what="alpha[t] = P(z_t | x_0 … x_t), by summing over all 3^(t+1) paths",
        mistakes={
            "multiply by A instead of A's transpose (A @ alpha instead of alpha @ A)": _forward_wrong(
                PI, A3, B3, OBS, transpose=True
            )[0],
            "start from pi without the first emission B[:, x_0]": _forward_wrong(
                PI, A3, B3, OBS, first_emission=False
            )[0],
        },
    )
    expect_close(
        Call(c, f"{call}[1], c"),
        c_want,
        what="c[t] = P(x_t | x_0 … x_{t-1}), the sum of the unscaled row",
        mistakes={
            "normalise alpha but leave c at 1": np.ones(6),
            "start from pi without the first emission B[:, x_0]": _forward_wrong(
                PI, A3, B3, OBS, first_emission=False
            )[1],
        },
    )
    expect_close(Call(np.log(c).sum(), f"sum of log {call}[1]"), np.log(px), what="log P(x)")


@exercise("forward")
def test_forward_does_not_underflow_on_10000_steps(impl):
    pi, A, B = _model(1, K=4, M=5)
    obs = _sample(pi, A, B, 10_000, 2)
    logs, _ = _log_forward(pi, A, B, obs)
    call = run_without_warnings(impl.forward, pi, A, B, obs)
    alpha, c = expect_parts(call, ("alpha", "c"), ((10_000, 4), (10_000,)))
    expect(
        np.all(np.isfinite(alpha)) and np.all(c > 0),
        f"{call}: alpha has {np.sum(~np.isfinite(alpha))} entries that are not finite and c "
        f"{np.sum(~(c > 0))} that are not positive. P(x) of 10,000 symbols is about e^{logs[-1]:.0f}, "
        "far below the smallest float64 (1e-308): rescale alpha at every step, not at the end",
    )
    expect_close(
        Call(np.log(c).sum(), f"sum of log {call}[1]"),
        logs[-1],
        rtol=1e-9,
        what="log P(x) of 10,000 symbols, by a forward pass in log space",
    )


@exercise("forward")
def test_forward_keeps_its_inputs(impl):
    pi, A, B = _model(3, K=2, M=3)
    obs = np.array([2, 0, 1, 1])
    call = run(impl.forward, pi, A, B, obs)  # run() fails if an input changes
    expect_close(Call(call.value[0], f"{call}[0]"), _forward_here(pi, A, B, obs)[0])


# ----------------------------------------------------------------------------- forward_log


@exercise("forward_log")
def test_forward_log_matches_summing_over_every_path(impl):
    *_, px = BRUTE
    want = np.stack(
        [
            np.log(
                np.bincount(
                    _paths(3, t + 1)[:, t], _joint(PI, A3, B3, OBS[: t + 1], _paths(3, t + 1)), minlength=3
                )
            )
            for t in range(6)
        ]
    )
    call = run(impl.forward_log, PI, A3, B3, OBS)
    log_a, log_px = expect_parts(call, ("log_a", "log_likelihood"), ((6, 3), None))
    expect_close(
        Call(log_a, f"{call}[0], log_a"),
        want,
        what="log P(x_0 ... x_t, z_t = k), by summing over every path",
        mistakes={
            "normalise each row (that is the filtered alpha, in logs)": want
            - np.log(np.exp(want).sum(axis=1, keepdims=True)),
            "take log A's transpose (log A[j, i])": lambda: _log_forward(PI, A3.T, B3, OBS)[1],
            "start from log pi without the first emission": lambda: _log_forward(
                PI / B3[:, OBS[0]], A3, B3, OBS
            )[1],
        },
    )
    expect_close(Call(log_px, f"{call}[1]"), np.log(px), what="log P(x)")


@exercise("forward_log")
def test_forward_log_on_10000_steps(impl):
    pi, A, B = _model(8, K=4, M=5)
    obs = _sample(pi, A, B, 10_000, 9)
    logs, rows = _log_forward(pi, A, B, obs)
    call = run_without_warnings(impl.forward_log, pi, A, B, obs)
    log_a, log_px = expect_parts(call, ("log_a", "log_likelihood"), ((10_000, 4), None))
    expect(
        bool(np.all(np.isfinite(log_a))) and np.isfinite(log_px),
        f"{call}: {np.sum(~np.isfinite(log_a))} entries of log_a are not finite; log(sum(exp(...))) "
        "of numbers near -15,000 is log 0: shift by the largest before exp",
    )
    expect_close(Call(log_px, f"{call}[1]"), logs[-1], rtol=1e-9, what="log P(x) of 10,000 symbols")
    expect_close(Call(log_a, f"{call}[0]"), rows, rtol=1e-9, what="log_a of every step")


@exercise("forward_log")
def test_forward_log_agrees_with_the_scaled_pass(impl):
    # log_a[t] - log P(x_0 ... x_t) is the log of the scaled pass's alpha[t].
    pi, A, B = _model(12, K=3, M=3)
    obs = _sample(pi, A, B, 50, 13)
    alpha, c = _forward_here(pi, A, B, obs)
    log_a, log_px = run(impl.forward_log, pi, A, B, obs).value
    expect_close(
        Call(np.exp(log_a - np.cumsum(np.log(c))[:, None]), "exp(log_a[t] - sum_{s<=t} log c[s])"),
        alpha,
        rtol=1e-8,
        what="the filtered alpha of the scaled pass",
    )


@exercise("forward_log")
def test_forward_log_shifts_by_the_largest_term(impl):
    # Symbols of probability 1e-320 (e^-737): a row of log_a spans more than 709, the widest
    # gap exp() can bridge, and symbol 3 drops the whole row by 737 in one step. Only a shift by
    # the largest term of the row being summed keeps every exp finite and not all zero.
    pi = np.array([0.5, 0.5])
    A = np.array([[0.7, 0.3], [0.4, 0.6]])
    B = np.array([[0.5, 0.5, 1e-320, 1e-320], [1e-320, 0.5, 0.5, 1e-320]])
    obs = np.array([0, 3, 0, 2, 3, 1, 3, 0])
    logs, rows = _log_forward(pi, A, B, obs)
    call = run_without_warnings(impl.forward_log, pi, A, B, obs)
    log_a, log_px = expect_parts(call, ("log_a", "log_likelihood"), ((8, 2), None))
    expect_close(Call(log_a, f"{call}[0]"), rows, rtol=1e-6, what="log_a with probabilities of 1e-320")
    expect_close(Call(log_px, f"{call}[1]"), logs[-1], rtol=1e-6, what="log P(x)")
    # Symbol 2 has probability 5e-324 (e^-744.4, the smallest float64) in every state: each
    # step that sees it drops the whole row by more than 745.
    A3u, B3t = (
        np.full((3, 3), 1 / 3),
        np.array([[0.5, 0.5, 5e-324], [0.25, 0.75, 5e-324], [0.9, 0.1, 5e-324]]),
    )
    obs3 = np.array([0, 2, 1, 2, 2, 0])
    logs3, rows3 = _log_forward(np.full(3, 1 / 3), A3u, B3t, obs3)
    call3 = run_without_warnings(impl.forward_log, np.full(3, 1 / 3), A3u, B3t, obs3)
    expect_close(
        Call(call3.value[0], f"{call3}[0]"), rows3, rtol=1e-6, what="log_a with probabilities of 5e-324"
    )
    one = run_without_warnings(impl.forward_log, pi, A, B, np.array([1]))  # a sequence of one symbol
    expect_close(Call(one.value[1], f"{one}[1]"), np.log(0.5), what="log P(x_0 = 1) = log(pi @ B[:, 1])")


# -------------------------------------------------------------------------------- backward


def _backward_wrong(A, B, obs, c, transpose=False, same_step=False, shift_c=False):
    T, K = len(obs), A.shape[0]
    beta = np.ones((T, K))
    for t in range(T - 2, -1, -1):
        x = obs[t] if same_step else obs[t + 1]
        v = B[:, x] * beta[t + 1]
        beta[t] = (A.T @ v if transpose else A @ v) / (c[t] if shift_c else c[t + 1])
    return beta


@exercise("backward")
def test_backward_matches_summing_over_every_path(impl):
    alpha, c, gamma, _, beta_want, _ = BRUTE
    call = run(impl.backward, A3, B3, OBS, c)
    expect_close(
        call,
        beta_want,
        what="beta[t, k] = P(x_{t+1} … x_{T-1} | z_t = k) / (c[t+1] ⋯ c[T-1]), by enumeration",
        mistakes={
            "multiply by A's transpose instead of A": _backward_wrong(A3, B3, OBS, c, transpose=True),
            "emit x_t instead of x_{t+1}": _backward_wrong(A3, B3, OBS, c, same_step=True),
            "divide by c[t] instead of c[t+1]": _backward_wrong(A3, B3, OBS, c, shift_c=True),
            "forget to divide by c": _backward_wrong(A3, B3, OBS, np.ones(6)),
        },
    )
    expect_close(
        Call(alpha * call.value, f"alpha * {call}"),
        gamma,
        what="alpha * beta must be the smoothed P(z_t | x), by enumeration",
    )


@exercise("backward")
def test_backward_does_not_underflow_on_10000_steps(impl):
    pi, A, B = _model(4, K=4, M=5)
    obs = _sample(pi, A, B, 10_000, 5)
    alpha, c = _forward_here(pi, A, B, obs)
    call = run_without_warnings(impl.backward, A, B, obs, c)
    beta = call.value
    expect(
        np.all(np.isfinite(beta)),
        f"{call}: {np.sum(~np.isfinite(beta))} entries are not finite; divide by c[t+1] at every step",
    )
    expect_close(
        Call((alpha * beta).sum(axis=1), f"(alpha * {call}).sum(axis=1)"),
        np.ones(10_000),
        rtol=1e-8,
        what="the smoothed P(z_t | x) sums to 1 at every step",
    )
    expect_close(Call(beta[-1], f"{call}[-1]"), np.ones(4), what="beta[T-1] = 1")


@exercise("backward")
def test_backward_of_two_steps_by_hand(impl):
    A = np.array([[0.9, 0.1], [0.3, 0.7]])
    B = np.array([[0.5, 0.5], [0.2, 0.8]])
    c = np.array([0.5, 0.4])
    # beta[0, i] = sum_j A[i, j] B[j, 1] / c[1] = (0.9 * 0.5 + 0.1 * 0.8) / 0.4, (0.3 * 0.5 + 0.7 * 0.8) / 0.4
    call = run(impl.backward, A, B, np.array([0, 1]), c)
    expect_close(
        call,
        np.array([[0.53 / 0.4, 0.71 / 0.4], [1.0, 1.0]]),
        mistakes={"multiply by A's transpose instead of A": np.array([[0.61 / 0.4, 0.61 / 0.4], [1.0, 1.0]])},
    )


# ------------------------------------------------------------------------------ posteriors


@exercise("posteriors")
def test_posteriors_match_summing_over_every_path(impl):
    alpha, c, gamma_want, xi_want, beta, _ = BRUTE
    call = run(impl.posteriors, alpha, beta, c, A3, B3, OBS)
    gamma, xi = expect_parts(call, ("gamma", "xi"), ((6, 3), (5, 3, 3)))
    expect_close(Call(gamma, f"{call}[0], gamma"), gamma_want, what="P(z_t = k | x), by enumeration")

    def xi_wrong(emit_shift=1, c_shift=1, divide=True):
        e = B3[:, OBS[emit_shift : emit_shift + 5]].T * beta[1:]
        d = c[c_shift : c_shift + 5, None] if divide else np.ones((5, 1))
        return alpha[:-1, :, None] * A3[None] * (e / d)[:, None, :]

    expect_close(
        Call(xi, f"{call}[1], xi"),
        xi_want,
        what="xi[t, i, j] = P(z_t = i, z_{t+1} = j | x), by enumeration",
        mistakes={
            "emit x_t instead of x_{t+1}": xi_wrong(emit_shift=0),
            "divide by c[t] instead of c[t+1]": xi_wrong(c_shift=0),
            "forget to divide by c[t+1]": xi_wrong(divide=False),
            "use A's transpose (A[j, i])": lambda: (
                alpha[:-1, :, None] * A3.T[None] * (B3[:, OBS[1:]].T * beta[1:] / c[1:, None])[:, None, :]
            ),
        },
    )
    expect_close(
        Call(xi.sum(axis=(1, 2)), f"{call}[1].sum(axis=(1, 2))"), np.ones(5), what="each xi[t] sums to 1"
    )


@exercise("posteriors")
def test_posteriors_agree_with_each_other_on_a_long_sequence(impl):
    pi, A, B = _model(6, K=4, M=3)
    obs = _sample(pi, A, B, 2000, 7)
    alpha, c = _forward_here(pi, A, B, obs)
    beta = np.ones((2000, 4))
    for t in range(1998, -1, -1):
        beta[t] = A @ (B[:, obs[t + 1]] * beta[t + 1]) / c[t + 1]
    call = run_without_warnings(impl.posteriors, alpha, beta, c, A, B, obs)
    gamma, xi = expect_parts(call, ("gamma", "xi"), ((2000, 4), (1999, 4, 4)))
    expect_close(
        Call(xi.sum(axis=2), f"{call}[1].sum(axis=2)"),
        gamma[:-1],
        rtol=1e-8,
        what="summing xi[t, i, j] over the next state j leaves gamma[t, i]",
    )
    expect_close(
        Call(xi.sum(axis=1), f"{call}[1].sum(axis=1)"),
        gamma[1:],
        rtol=1e-8,
        what="summing xi[t, i, j] over the state i leaves gamma[t + 1, j]",
    )


@exercise("posteriors")
def test_posteriors_of_a_model_that_forgets(impl):
    # Every row of A the same: the states are independent, so xi[t] = outer(gamma[t], gamma[t+1]).
    A = np.tile([0.2, 0.5, 0.3], (3, 1))
    B = np.array([[0.7, 0.3], [0.4, 0.6], [0.1, 0.9]])
    obs = np.array([0, 1, 1, 0])
    pi = A[0]
    alpha, c, gamma_want, _, beta, _ = _brute(pi, A, B, obs)
    post = pi * B[:, obs].T
    post /= post.sum(axis=1, keepdims=True)
    gamma, xi = run(impl.posteriors, alpha, beta, c, A, B, obs).value
    expect_close(Call(gamma, "posteriors(...)[0] with identical rows of A"), post)
    expect_close(
        Call(xi, "posteriors(...)[1] with identical rows of A"),
        post[:-1, :, None] * post[1:, None, :],
        what="independent states: xi[t, i, j] = gamma[t, i] gamma[t+1, j]",
    )


# ---------------------------------------------------------------------- predict_next_symbol


@exercise("predict_next_symbol")
def test_predict_next_symbol_by_summing_over_every_path(impl):
    # P(x_6 = o | x_0 ... x_5) = sum over paths of 7 states of P(z, x_0 ... x_5, o) / P(x_0 ... x_5)
    alpha, *_, px = BRUTE
    paths = _paths(3, 7)
    want = np.array([_joint(PI, A3, B3, np.append(OBS, o), paths).sum() for o in range(4)]) / px
    call = run(impl.predict_next_symbol, alpha[-1], A3, B3)
    expect_close(
        call,
        want,
        what="P(next symbol | the 6 seen), by enumeration",
        mistakes={
            "emit from the current state without moving (alpha_last @ B)": alpha[-1] @ B3,
            "move with A's transpose (A @ alpha_last)": (A3 @ alpha[-1]) @ B3,
        },
    )


@exercise("predict_next_symbol")
def test_predict_next_symbol_gives_forwards_scale_factors(impl):
    # c[t] = P(x_t | x_0 ... x_{t-1}): the prediction from alpha[t - 1], read at the symbol that came.
    pi, A, B = _model(40, K=4, M=5)
    obs = _sample(pi, A, B, 30, 41)
    alpha, c = _forward_here(pi, A, B, obs)
    got = np.array([run(impl.predict_next_symbol, alpha[t - 1], A, B).value[obs[t]] for t in range(1, 30)])
    expect_close(
        Call(got, "predict_next_symbol(alpha[t - 1], A, B)[x_t] for t = 1 ... 29"),
        c[1:],
        what="forward's c[t]",
    )


@exercise("predict_next_symbol")
def test_predict_next_symbol_sums_to_one(impl):
    pi, A, B = _model(42, K=5, M=7)
    alpha = rng(43).dirichlet(np.ones(5))
    call = run(impl.predict_next_symbol, alpha, A, B)
    expect_close(Call(np.sum(call.value), f"sum of {call}"), 1.0)
    expect_close(call, alpha @ A @ B)


# -------------------------------------------------------------------------------- viterbi


def _viterbi_here(pi, A, B, obs):
    with np.errstate(divide="ignore"):
        lp, lA, lB = np.log(pi), np.log(A), np.log(B)
    T, K = len(obs), len(pi)
    d = lp + lB[:, obs[0]]
    back = np.zeros((T, K), dtype=np.int64)
    for t in range(1, T):
        s = d[:, None] + lA
        back[t] = np.argmax(s, axis=0)
        d = np.max(s, axis=0) + lB[:, obs[t]]
    path = [int(np.argmax(d))]
    for t in range(T - 1, 0, -1):
        path.append(int(back[t, path[-1]]))
    return np.array(path[::-1], dtype=np.int64), float(np.max(d))


def _log_joint(pi, A, B, obs, path):
    with np.errstate(divide="ignore"):
        return float(np.log(pi[path[0]]) + np.log(A[path[:-1], path[1:]]).sum() + np.log(B[path, obs]).sum())


@exercise("viterbi")
def test_viterbi_finds_the_best_of_every_path(impl):
    paths = _paths(3, 6)
    for seed in range(4):
        pi, A, B = _model(10 + seed)
        obs = _sample(pi, A, B, 6, seed)
        joint = _joint(pi, A, B, obs, paths)
        best = paths[np.argmax(joint)]
        call = run(impl.viterbi, pi, A, B, obs)
        path, logp = expect_parts(call, ("path", "log_prob"))
        expect_equal(
            Call(np.asarray(path), f"{call}[0], path"),
            best,
            what="the most likely of all 3^6 paths",
            mistakes={
                "take the max over the wrong axis (move from j to i)": _viterbi_here(pi, A.T, B, obs)[0],
                "start from log pi without the first emission": _viterbi_here(pi / B[:, obs[0]], A, B, obs)[
                    0
                ],
            },
        )
        expect_close(
            Call(logp, f"{call}[1], log P(path, x)"),
            np.log(joint.max()),
            mistakes={"return P(path, x) instead of its log": joint.max()},
        )


@exercise("viterbi")
def test_viterbi_on_10000_steps_in_log_space(impl):
    pi, A, B = _model(20, K=5, M=6)
    obs = _sample(pi, A, B, 10_000, 21)
    want_path, want_logp = _viterbi_here(pi, A, B, obs)
    call = run_without_warnings(impl.viterbi, pi, A, B, obs)
    path, logp = expect_parts(call, ("path", "log_prob"))
    expect(
        np.isfinite(logp),
        f"{call}: log P(path, x) = {logp}; a product of 10,000 probabilities underflows: add logs",
    )
    expect_close(Call(logp, f"{call}[1]"), want_logp, rtol=1e-9, what="log P(best path, x)")
    path = np.asarray(path)
    expect(
        path.dtype.kind == "i" and path.shape == (10_000,),
        f"{call}[0]: expected int states of shape (10000,), got {path.dtype} {path.shape}",
    )
    expect_close(
        Call(_log_joint(pi, A, B, obs, path), f"log P(path, x) of the path {call} returned"),
        want_logp,
        rtol=1e-9,
        what="the returned path must reach the best score (traced back from the last step)",
    )


@exercise("viterbi")
def test_viterbi_with_forbidden_transitions(impl):
    # A left-to-right model: 0 -> 1 -> 2, never back; zeros in pi, A and B (log 0 = -inf).
    pi = np.array([1.0, 0.0, 0.0])
    A = np.array([[0.6, 0.4, 0.0], [0.0, 0.7, 0.3], [0.0, 0.0, 1.0]])
    B = np.array([[0.8, 0.2, 0.0], [0.1, 0.6, 0.3], [0.0, 0.1, 0.9]])
    obs = np.array([0, 0, 1, 1, 2, 1, 2, 2])
    joint = _joint(pi, A, B, obs, _paths(3, 8))
    call = run_without_warnings(impl.viterbi, pi, A, B, obs)
    path, logp = expect_parts(call, ("path", "log_prob"))
    expect_equal(
        Call(np.asarray(path), f"{call}[0]"),
        _paths(3, 8)[np.argmax(joint)],
        what="the best path, by enumeration",
    )
    expect_close(Call(logp, f"{call}[1]"), np.log(joint.max()))


@exercise("viterbi")
def test_viterbi_breaks_ties_towards_the_lowest_state(impl):
    # Every path of this model is equally likely: the docstring's rule picks state 0 throughout.
    pi, A, B = np.full(3, 1 / 3), np.full((3, 3), 1 / 3), np.full((3, 2), 0.5)
    call = run(impl.viterbi, pi, A, B, np.array([0, 1, 1, 0]))
    path, logp = expect_parts(call, ("path", "log_prob"))
    expect_equal(
        Call(np.asarray(path), f"{call}[0]"), np.zeros(4, dtype=np.int64), what="ties go to the lowest state"
    )
    expect_close(Call(logp, f"{call}[1]"), 4 * np.log(1 / 3) + 4 * np.log(0.5))


# ------------------------------------------------------------------------- baum_welch_step


def _expected_counts(pi, A, B, obs):
    K, M = B.shape
    T = len(obs)
    paths = _paths(K, T)
    w = _joint(pi, A, B, obs, paths)
    w = w / w.sum()
    first = np.bincount(paths[:, 0], w, minlength=K)
    trans = np.zeros((K, K))
    emit = np.zeros((K, M))
    for t in range(T):
        np.add.at(emit, (paths[:, t], np.full(len(paths), obs[t])), w)
        if t < T - 1:
            np.add.at(trans, (paths[:, t], paths[:, t + 1]), w)
    return first, trans, emit


@exercise("baum_welch_step")
def test_baum_welch_step_is_expected_counts(impl):
    pi, A, B = _model(30, K=3, M=4)
    obs = np.array([1, 3, 0, 0, 2, 3])
    first, trans, emit = _expected_counts(pi, A, B, obs)
    call = run(impl.baum_welch_step, pi, A, B, obs)
    new_pi, new_A, new_B, ll = expect_parts(
        call, ("pi", "A", "B", "log_likelihood"), ((3,), (3, 3), (3, 4), None)
    )
    in_state = emit.sum(axis=1)
    expect_close(Call(new_pi, f"{call}[0], pi'"), first, what="P(z_0 = k | x)")
    expect_close(
        Call(new_A, f"{call}[1], A'"),
        trans / trans.sum(axis=1, keepdims=True),
        what="expected transitions i -> j over expected visits to i before the last step",
        mistakes={
            "divide by the visits of all T steps (the last one included)": trans / in_state[:, None],
            "normalise the columns instead of the rows": trans / trans.sum(axis=0, keepdims=True),
        },
    )
    expect_close(
        Call(new_B, f"{call}[2], B'"),
        emit / in_state[:, None],
        what="expected emissions of o in state k over expected visits to k",
        mistakes={"normalise the columns instead of the rows": emit / emit.sum(axis=0, keepdims=True)},
    )
    px = _joint(pi, A, B, obs, _paths(3, 6)).sum()
    new_px = _joint(new_pi, new_A, new_B, obs, _paths(3, 6)).sum()
    expect_close(
        Call(ll, f"{call}[3]"),
        np.log(px),
        what="log P(x) under the parameters passed in",
        mistakes={"return the log-likelihood of the new parameters": np.log(new_px)},
    )


@exercise("baum_welch_step")
def test_baum_welch_never_decreases_the_likelihood(impl):
    pi_true = np.array([0.5, 0.5])
    A_true = np.array([[0.9, 0.1], [0.2, 0.8]])
    B_true = np.array([[0.5, 0.3, 0.2], [0.1, 0.2, 0.7]])
    obs = _sample(pi_true, A_true, B_true, 400, 31)
    # Starting from rng(0) ... rng(29) instead, 25 steps rise by 8.8 (seed 15) to 373; never less than 5.
    g = rng(32)
    pi, A, B = np.full(2, 0.5), g.dirichlet(np.ones(2), size=2), g.dirichlet(np.ones(3), size=2)
    history = []
    for _ in range(25):
        pi, A, B, ll = impl.baum_welch_step(pi, A, B, obs)
        history.append(ll)
    steps = np.diff(history)
    expect(
        np.all(steps >= -1e-8 * abs(history[0])),
        f"baum_welch_step: the log-likelihood fell from {history[int(np.argmin(steps))]:.6f} to "
        f"{history[int(np.argmin(steps)) + 1]:.6f} at step {int(np.argmin(steps)) + 1}; "
        "EM never decreases it",
    )
    expect(
        history[-1] > history[0] + 5,
        f"baum_welch_step: 25 steps moved the log-likelihood only from {history[0]:.2f} to {history[-1]:.2f}",
    )
    expect_close(Call(A.sum(axis=1), "rows of A after 25 steps"), np.ones(2))
    expect_close(Call(B.sum(axis=1), "rows of B after 25 steps"), np.ones(2))


@exercise("baum_welch_step")
def test_baum_welch_step_gives_unseen_symbols_no_probability(impl):
    pi, A, B = _model(33, K=2, M=4)
    obs = np.array([0, 2, 2, 0, 0, 2, 0])  # symbols 1 and 3 never appear
    call = run(impl.baum_welch_step, pi, A, B, obs)
    new_pi, new_A, new_B, _ = expect_parts(call, ("pi", "A", "B", "log_likelihood"))
    expect_close(Call(new_B[:, [1, 3]], f"{call}[2][:, [1, 3]]"), np.zeros((2, 2)), what="unseen symbols")
    expect_close(Call(new_B.sum(axis=1), f"{call}[2].sum(axis=1)"), np.ones(2))
    expect_close(Call(new_pi.sum(), f"{call}[0].sum()"), 1.0)
