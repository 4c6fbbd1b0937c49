"""Tests for chapter 9, part 5: dense passage retrieval with in-batch negatives.

Expected values come from this file: the loss written out question by question with a
stable log-sum-exp, gradients by central differences of that loss, recall counted by a
loop over questions, and training replayed step by step with a generator seeded like the
learner's. A seeded training run must reach a held-out recall@1 that held on each of 30
seeds (worst seed in the reading), far above raw word overlap.
"""

import numpy as np

from grader.testkit import (
    Call,
    exercise,
    expect,
    expect_close,
    expect_parts,
    numeric_grad,
    rng,
    run,
    run_without_warnings,
)


def _lse(x, axis):
    m = x.max(axis=axis, keepdims=True)
    return np.squeeze(m, axis) + np.log(np.exp(x - m).sum(axis=axis))


def _loss(Q, P):
    S = Q @ P.T
    return float(np.mean([_lse(S[i], 0) - S[i, i] for i in range(len(S))]))


def _softmax_rows(S):
    A = np.exp(S - S.max(axis=1, keepdims=True))
    return A / A.sum(axis=1, keepdims=True)


def _QP(seed, B=5, d=3, scale=1.0):
    g = rng(seed)
    return scale * g.normal(size=(B, d)), scale * g.normal(size=(B, d))


# ---------------------------------------------------------------------------- in_batch_loss


@exercise("in_batch_loss")
def test_in_batch_loss_is_the_mean_cross_entropy_of_each_row(impl):
    Q, P = _QP(0)
    S = Q @ P.T
    off = np.where(np.eye(5, dtype=bool), -np.inf, S)
    expect_close(
        run(impl.in_batch_loss, Q, P),
        _loss(Q, P),
        what="mean over questions i of −log softmax(S[i])[i], S = Q Pᵀ",
        mistakes={
            "take the softmax over each column (axis 0) instead of each row": float(
                np.mean(_lse(S, 0) - np.diag(S))
            ),
            "sum over the questions instead of taking the mean": 5 * _loss(Q, P),
            "leave the positive passage out of the softmax's denominator": float(
                np.mean(_lse(off, 1) - np.diag(S))
            ),
            "score with Q Qᵀ instead of Q Pᵀ": lambda: _loss(Q, Q),
        },
    )


@exercise("in_batch_loss")
def test_in_batch_loss_is_not_symmetric_in_questions_and_passages(impl):
    Q, P = _QP(1, B=4, d=6)
    expect_close(
        run(impl.in_batch_loss, Q, P),
        _loss(Q, P),
        mistakes={"take the softmax over each column (axis 0) instead of each row": _loss(P, Q)},
    )
    one = run(impl.in_batch_loss, Q[:1], P[:1])
    expect_close(one, 0.0, what="with one pair there is no negative: the loss is 0")


@exercise("in_batch_loss")
def test_in_batch_loss_is_stable_for_large_scores(impl):
    Q, P = _QP(2, B=6, d=4, scale=30.0)  # scores in the thousands: exp overflows
    expect_close(
        run_without_warnings(impl.in_batch_loss, Q, P),
        _loss(Q, P),
        what="scores in the thousands; subtract each row's maximum before exp",
    )


# ------------------------------------------------------------------- in_batch_loss_backward


@exercise("in_batch_loss_backward")
def test_in_batch_loss_backward_matches_central_differences(impl):
    for seed, (B, d) in enumerate([(5, 3), (4, 7), (1, 2)]):
        Q, P = _QP(10 + seed, B, d)
        call = run(impl.in_batch_loss_backward, Q, P)
        dQ, dP = expect_parts(call, ["dQ", "dP"], [(B, d), (B, d)])
        G = (_softmax_rows(Q @ P.T) - np.eye(B)) / B
        expect_close(
            Call(dQ, f"{call}[0], dQ"),
            numeric_grad(lambda q, P=P: _loss(q, P), Q),
            what="central differences of the loss",
            mistakes={
                "forget to divide by B (the mean)": B * G @ P,
                "forget to subtract the identity (the positive's −S[i, i])": _softmax_rows(Q @ P.T) @ P / B,
            },
        )
        expect_close(
            Call(dP, f"{call}[1], dP"),
            numeric_grad(lambda p, Q=Q: _loss(Q, p), P),
            what="central differences of the loss",
            mistakes={
                "forget the transpose in dP (G Q instead of Gᵀ Q)": G @ Q,
                "forget to divide by B (the mean)": B * G.T @ Q,
            },
        )


@exercise("in_batch_loss_backward")
def test_in_batch_loss_backward_is_stable_for_large_scores(impl):
    Q, P = _QP(3, B=6, d=4, scale=30.0)
    G = (_softmax_rows(Q @ P.T) - np.eye(6)) / 6
    dQ, dP = run_without_warnings(impl.in_batch_loss_backward, Q, P).value
    expect_close(Call(dQ, "in_batch_loss_backward(Q, P) with scores in the thousands: dQ"), G @ P)
    expect_close(Call(dP, "in_batch_loss_backward(Q, P) with scores in the thousands: dP"), G.T @ Q)


@exercise("in_batch_loss_backward")
def test_in_batch_loss_backward_gradients_sum_to_zero_over_a_shift(impl):
    # Adding the same vector to every passage adds a constant to each row of S: the loss
    # does not change, so the gradient in P sums to zero over the passages.
    Q, P = _QP(16, B=7, d=3)
    dQ, dP = run(impl.in_batch_loss_backward, Q, P).value
    expect_close(
        Call(dP.sum(axis=0), "in_batch_loss_backward(Q, P)[1].sum(axis=0), dP summed over the passages"),
        np.zeros(3),
        atol=1e-12,
        what="shifting every passage by the same vector leaves the loss unchanged",
        mistakes={
            "forget the transpose in dP (G Q instead of Gᵀ Q)": (
                (_softmax_rows(Q @ P.T) - np.eye(7)) / 7 @ Q
            ).sum(0)
        },
    )


# ------------------------------------------------------------------------------ recall_at_k


def _recall(Q, P, k):
    S = Q @ P.T
    return float(np.mean([np.sum(S[i] > S[i, i]) < k for i in range(len(S))]))


@exercise("recall_at_k")
def test_recall_at_k_counts_passages_ranked_above_the_positive(impl):
    # With P = I the scores S = Q Pᵀ are Q itself.
    S = np.array([[3.0, 1, 2, 0], [5, 4, 0, 0], [2, 2, 2, 0], [1, 6, 0.5, 0.25]])
    Q, P = S, np.eye(4)
    # ranks (passages strictly above the positive): 0, 1, 0 (a three-way tie), 3
    for k, want in [(1, 0.5), (2, 0.75), (3, 0.75), (4, 1.0)]:
        higher_equal = [np.sum(S[i] >= S[i, i]) - 1 for i in range(4)]  # ties against it
        expect_close(
            run(impl.recall_at_k, Q, P, k),
            want,
            what=f"ranks above the positive are 0, 1, 0 (tied), 3; retrieved when fewer than k = {k}",
            mistakes={
                "count ties against the positive passage": float(np.mean(np.array(higher_equal) < k)),
                "retrieve when at most k passages score higher (an off-by-one)": float(
                    np.mean(np.array([0, 1, 0, 3]) <= k)
                ),
                "rank each passage among the questions (a column of S) instead": _recall(P, Q, k),
            },
        )


@exercise("recall_at_k")
def test_recall_at_k_on_random_embeddings(impl):
    g = rng(4)
    Q, P = g.normal(size=(40, 5)), g.normal(size=(40, 5))
    P[:20] += Q[:20]  # half the questions have a similar passage
    for k in (1, 3, 10, 40):
        expect_close(
            run(impl.recall_at_k, Q, P, k),
            _recall(Q, P, k),
            mistakes={"rank each passage among the questions (a column of S) instead": _recall(P, Q, k)},
        )


@exercise("recall_at_k")
def test_recall_at_k_returns_a_fraction(impl):
    g = rng(17)
    Q, P = g.normal(size=(9, 4)), g.normal(size=(9, 4))
    call = run(impl.recall_at_k, Q, P, 9)
    expect(
        isinstance(call.value, (float, np.floating)),
        f"{call} returned {type(call.value).__name__}; expected a float",
    )
    expect_close(call, 1.0, what="with k = n every passage is retrieved")
    Z = g.integers(-3, 4, size=(9, 4)).astype(float)  # integer scores: exact whichever way they are summed
    expect_close(run(impl.recall_at_k, Z, 2 * Z, 1), _recall(Z, 2 * Z, 1))


# ------------------------------------------------------------------------ dpr_loss_and_grads


@exercise("dpr_loss_and_grads")
def test_dpr_loss_and_grads_match_central_differences(impl):
    g = rng(5)
    V, d, B = 7, 3, 4
    params = {"Wq": g.normal(size=(V, d)), "Wp": g.normal(size=(V, d))}
    Xq, Xp = g.poisson(1.0, size=(B, V)).astype(float), g.poisson(1.0, size=(B, V)).astype(float)
    call = run(impl.dpr_loss_and_grads, params, Xq, Xp)
    loss, grads = expect_parts(call, ["loss", "grads"])
    expect_close(Call(loss, f"{call}[0], the loss"), _loss(Xq @ params["Wq"], Xp @ params["Wp"]))
    expect(
        isinstance(grads, dict) and set(grads) == {"Wq", "Wp"},
        f"{call}[1]: expected a dict with keys Wq and Wp",
    )
    want = {
        "Wq": numeric_grad(lambda W: _loss(Xq @ W, Xp @ params["Wp"]), params["Wq"]),
        "Wp": numeric_grad(lambda W: _loss(Xq @ params["Wq"], Xp @ W), params["Wp"]),
    }
    for name, other in (("Wq", "Wp"), ("Wp", "Wq")):
        expect_close(
            Call(grads[name], f"{call}[1][{name!r}]"),
            want[name],
            what="central differences of the loss",
            mistakes={f"swap the two gradients (d{other} under the key {name})": want[other]},
        )


@exercise("dpr_loss_and_grads")
def test_dpr_loss_and_grads_on_a_larger_batch(impl):
    g = rng(15)
    V, d, B = 12, 5, 16
    params = {"Wq": g.normal(size=(V, d)), "Wp": g.normal(size=(V, d))}
    Xq, Xp = g.poisson(0.5, size=(B, V)).astype(float), g.poisson(0.5, size=(B, V)).astype(float)
    Q, P = Xq @ params["Wq"], Xp @ params["Wp"]
    G = (_softmax_rows(Q @ P.T) - np.eye(B)) / B
    call = run(impl.dpr_loss_and_grads, params, Xq, Xp)
    loss, grads = expect_parts(call, ["loss", "grads"])
    expect_close(
        Call(loss, f"{call}[0], the loss"),
        _loss(Q, P),
        mistakes={"sum over the questions instead of taking the mean": B * _loss(Q, P)},
    )
    expect_close(Call(grads["Wq"], f"{call}[1]['Wq']"), Xq.T @ (G @ P), what="Xqᵀ dQ")
    expect_close(
        Call(grads["Wp"], f"{call}[1]['Wp']"),
        Xp.T @ (G.T @ Q),
        what="Xpᵀ dP",
        mistakes={"forget the transpose in dP (G Q instead of Gᵀ Q)": Xp.T @ (G @ Q)},
    )


@exercise("dpr_loss_and_grads")
def test_dpr_loss_and_grads_leave_absent_words_alone(impl):
    # A word that no question of the batch uses gets no gradient in Wq (its row of Xq is zero).
    g = rng(18)
    V, d, B = 6, 2, 5
    params = {"Wq": g.normal(size=(V, d)), "Wp": g.normal(size=(V, d))}
    Xq, Xp = g.poisson(1.0, size=(B, V)).astype(float), g.poisson(1.0, size=(B, V)).astype(float)
    Xq[:, 2] = 0.0
    Xp[:, 4] = 0.0
    grads = run(impl.dpr_loss_and_grads, params, Xq, Xp).value[1]
    expect_close(
        Call(grads["Wq"][2], "dpr_loss_and_grads(...)[1]['Wq'][2], a word no question uses"), np.zeros(d)
    )
    expect_close(
        Call(grads["Wp"][4], "dpr_loss_and_grads(...)[1]['Wp'][4], a word no passage uses"), np.zeros(d)
    )


# -------------------------------------------------------------------------------- train_dpr


def _replay(Xq, Xp, seed, dim, steps, batch, lr, replace=False, permute=False):
    g = rng(seed)
    V = Xq.shape[1]
    Wq, Wp = g.normal(0, 0.1, (V, dim)), g.normal(0, 0.1, (V, dim))
    for _ in range(steps):
        idx = g.permutation(len(Xq))[:batch] if permute else g.choice(len(Xq), batch, replace=replace)
        Q, P = Xq[idx] @ Wq, Xp[idx] @ Wp
        G = (_softmax_rows(Q @ P.T) - np.eye(batch)) / batch
        Wq, Wp = Wq - lr * Xq[idx].T @ (G @ P), Wp - lr * Xp[idx].T @ (G.T @ Q)
    return Wq, Wp


@exercise("train_dpr")
def test_train_dpr_replays_seeded_gradient_descent(impl):
    Xq, Xp = impl.make_pairs(100, rng(6))
    call = run(impl.train_dpr, Xq, Xp, rng(7), dim=4, steps=5, batch=8, lr=0.5)
    expect(
        isinstance(call.value, dict) and set(call.value) == {"Wq", "Wp"},
        f"{call}: expected a dict with keys Wq and Wp",
    )
    Wq, Wp = _replay(Xq, Xp, 7, 4, 5, 8, 0.5)
    ascent = _replay(Xq, Xp, 7, 4, 5, 8, -0.5)
    replaced = _replay(Xq, Xp, 7, 4, 5, 8, 0.5, replace=True)
    permuted = _replay(Xq, Xp, 7, 4, 5, 8, 0.5, permute=True)
    for i, (name, want) in enumerate((("Wq", Wq), ("Wp", Wp))):
        expect_close(
            Call(call.value[name], f"{call}[{name!r}]"),
            want,
            mistakes={
                "add the gradient instead of subtracting it": ascent[i],
                "draw the batch with replacement": replaced[i],
                "draw the batch as rng.permutation(n)[:batch] instead of rng.choice(n, batch, "
                "replace=False) (another stream of random numbers)": permuted[i],
            },
            what="Wq then Wp from rng.normal(0, 0.1, (V, dim)); each step "
            "rng.choice(n, batch, replace=False), then W ← W − lr · dW",
        )


@exercise("train_dpr")
def test_train_dpr_learns_to_retrieve_new_questions(impl):
    g = rng(8)
    Xq, Xp = impl.make_pairs(2000, g)
    Tq, Tp = impl.make_pairs(500, g)
    params = run(impl.train_dpr, Xq, Xp, rng(9)).value
    got = _recall(Tq @ params["Wq"], Tp @ params["Wp"], 1)
    raw = _recall(Tq, Tp, 1)
    # 30 seeds (training and data): recall@1 0.764 – 0.852; raw word overlap 0.086 – 0.136
    expect(
        got >= 0.7,
        f"train_dpr(2000 pairs, rng) with the defaults: recall@1 on 500 new pairs is {got:.3f}; "
        "the reference reaches 0.76 on each of 30 seeds (the test asks 0.7; raw word overlap gets "
        f"{raw:.3f})",
    )


@exercise("train_dpr")
def test_train_dpr_draws_from_the_rng_it_is_given(impl):
    Xq, Xp = impl.make_pairs(50, rng(10))
    a, b, c = (impl.train_dpr(Xq, Xp, rng(s), dim=3, steps=2, batch=5) for s in (11, 11, 12))
    expect(
        np.array_equal(a["Wq"], b["Wq"]), "train_dpr: two generators seeded alike must give the same weights"
    )
    expect(
        not np.array_equal(a["Wp"], c["Wp"]),
        "train_dpr: the initial weights and the batches must come from the rng passed in",
    )
