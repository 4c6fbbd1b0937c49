"""Tests for chapter 6, part 9: latent Dirichlet allocation by collapsed Gibbs sampling.

Expected values come from this file: counts by a loop over tokens; the Gibbs conditional
and the estimates written out entry by entry; sweeps replayed token by token with a
generator seeded like the learner's and drawing what the docstring says; the collapsed
likelihood by loops over math.lgamma and, on one and two tokens, by the chain rule of
the Dirichlet-multinomial (1/K * 1/W, then (1 + alpha)/(1 + K alpha) and so on); a planted
corpus of two topics with disjoint words that the sampler must recover on every one of 30
seeds (up to relabelling the topics), and a corpus of pydoc paragraphs.
"""

import math

import numpy as np

from coursedata import load_pydoc_text
from grader.testkit import Call, exercise, expect, expect_close, expect_equal, expect_parts, rng, run


def _counts(doc, word, z, D, K, W):
    n_dk, n_kw = np.zeros((D, K), dtype=np.int64), np.zeros((K, W), dtype=np.int64)
    for d, w, k in zip(doc, word, z):
        n_dk[d, k] += 1
        n_kw[k, w] += 1
    return n_dk, n_kw, n_kw.sum(1)


def _conditional(d, w, n_dk, n_kw, n_k, alpha, beta):
    K, W = n_kw.shape
    p = np.array([(n_dk[d, k] + alpha) * (n_kw[k, w] + beta) / (n_k[k] + W * beta) for k in range(K)])
    return p / p.sum()


def _sweep(doc, word, z, n_dk, n_kw, n_k, alpha, beta, g, remove=True):
    z, n_dk, n_kw, n_k = z.copy(), n_dk.copy(), n_kw.copy(), n_k.copy()
    K = len(n_k)
    for i in range(len(z)):
        d, w = doc[i], word[i]
        if remove:
            n_dk[d, z[i]] -= 1
            n_kw[z[i], w] -= 1
            n_k[z[i]] -= 1
        p = _conditional(d, w, n_dk, n_kw, n_k, alpha, beta)
        u, k, acc = g.random(), K - 1, 0.0
        for j in range(K):
            acc += p[j]
            if u < acc:
                k = j
                break
        if not remove:
            n_dk[d, z[i]] -= 1
            n_kw[z[i], w] -= 1
            n_k[z[i]] -= 1
        z[i] = k
        n_dk[d, k] += 1
        n_kw[k, w] += 1
        n_k[k] += 1
    return z, n_dk, n_kw, n_k


def _corpus(seed, D=6, W=7, K=3, length=8):
    g = rng(seed)
    doc = np.repeat(np.arange(D), length).astype(np.int64)
    word = g.integers(W, size=D * length)
    z = g.integers(K, size=D * length)
    return doc, word, z, D, K, W


def _planted(seed, docs=8, length=15):
    """Two topics: words 0-2 and words 3-5; each document draws all its words from one."""
    g = rng(1000 + seed)
    doc = np.repeat(np.arange(docs), length).astype(np.int64)
    word = np.concatenate([g.integers(3, size=length) + 3 * (d % 2) for d in range(docs)]).astype(np.int64)
    return doc, word


# ------------------------------------------------------------------------------ topic_counts


@exercise("topic_counts")
def test_topic_counts_by_a_loop(impl):
    doc = np.array([0, 0, 0, 1, 1, 2, 2, 2, 2], dtype=np.int64)
    word = np.array([3, 3, 1, 0, 3, 2, 2, 2, 1], dtype=np.int64)
    z = np.array([1, 1, 0, 1, 1, 0, 0, 1, 0], dtype=np.int64)
    call = run(impl.topic_counts, doc, word, z, 3, 2, 4)
    n_dk, n_kw, n_k = expect_parts(call, ["n_dk", "n_kw", "n_k"], [(3, 2), (2, 4), (2,)])
    want_dk, want_kw, want_k = _counts(doc, word, z, 3, 2, 4)
    fancy_dk, fancy_kw = np.zeros((3, 2), dtype=np.int64), np.zeros((2, 4), dtype=np.int64)
    fancy_dk[doc, z] += 1
    fancy_kw[z, word] += 1
    fancy = "add 1 with fancy indexing (a repeated pair counts once; np.add.at counts every one)"
    expect_equal(Call(n_dk, f"{call}[0], n_dk"), want_dk, mistakes={fancy: fancy_dk})
    expect_equal(Call(n_kw, f"{call}[1], n_kw"), want_kw, mistakes={fancy: fancy_kw})
    expect_equal(Call(n_k, f"{call}[2], n_k"), want_k, what="tokens per topic")


@exercise("topic_counts")
def test_topic_counts_of_a_random_corpus(impl):
    doc, word, z, D, K, W = _corpus(4, D=9, W=30, K=5, length=40)
    call = run(impl.topic_counts, doc, word, z, D, K, W)
    for name, got, want in zip(["n_dk", "n_kw", "n_k"], call.value, _counts(doc, word, z, D, K, W)):
        expect_equal(Call(got, f"{call}: {name}"), want)


@exercise("topic_counts")
def test_topic_counts_add_up(impl):
    doc, word, z, D, K, W = _corpus(15, D=5, W=6, K=4, length=7)
    n_dk, n_kw, n_k = run(impl.topic_counts, doc, word, z, D, K, W).value
    expect_equal(
        Call(n_dk.sum(1), "n_dk.sum(axis=1)"), np.full(D, 7, dtype=np.int64), what="document lengths"
    )
    expect_equal(
        Call(n_kw.sum(0), "n_kw.sum(axis=0)"), np.bincount(word, minlength=W), what="word frequencies"
    )
    expect_equal(Call(n_k, "n_k"), np.bincount(z, minlength=K), what="tokens per topic")


# ------------------------------------------------------------------------- topic_conditional


@exercise("topic_conditional")
def test_topic_conditional_by_the_formula(impl):
    n_dk = np.array([[3, 0, 1], [2, 2, 0]], dtype=np.int64)
    n_kw = np.array([[1, 4, 0, 0], [2, 0, 0, 0], [0, 0, 1, 0]], dtype=np.int64)
    n_k = n_kw.sum(1)
    a, b = 0.5, 0.1
    call = run(impl.topic_conditional, 0, 1, n_dk, n_kw, n_k, a, b)
    unnorm = (n_dk[0] + a) * (n_kw[:, 1] + b) / (n_k + 4 * b)
    expect_close(
        call,
        _conditional(0, 1, n_dk, n_kw, n_k, a, b),
        what="(n_dk + alpha)(n_kw + beta)/(n_k + W beta), normalised",
        mistakes={
            "forget to normalise": unnorm,
            "leave out the denominator n_k + W beta": (lambda p: p / p.sum())(
                (n_dk[0] + a) * (n_kw[:, 1] + b)
            ),
            "take W from the first axis of n_kw (K beta in the denominator)": (lambda p: p / p.sum())(
                (n_dk[0] + a) * (n_kw[:, 1] + b) / (n_k + 3 * b)
            ),
        },
    )


@exercise("topic_conditional")
def test_topic_conditional_on_random_counts(impl):
    doc, word, z, D, K, W = _corpus(5, D=5, W=12, K=4, length=10)
    n_dk, n_kw, n_k = _counts(doc, word, z, D, K, W)
    for d, w in [(0, 3), (4, 11), (2, 0)]:
        call = run(impl.topic_conditional, d, w, n_dk, n_kw, n_k, 0.2, 0.05)
        expect_close(call, _conditional(d, w, n_dk, n_kw, n_k, 0.2, 0.05))
        expect(abs(float(np.sum(call.value)) - 1) < 1e-9, f"{call} sums to {np.sum(call.value)}; expected 1")


@exercise("topic_conditional")
def test_topic_conditional_of_empty_counts_is_uniform(impl):
    n_dk, n_kw, n_k = (
        np.zeros((2, 5), dtype=np.int64),
        np.zeros((5, 3), dtype=np.int64),
        np.zeros(5, dtype=np.int64),
    )
    call = run(impl.topic_conditional, np.int64(1), np.int64(2), n_dk, n_kw, n_k, 0.1, 0.01)
    expect_close(
        call, np.full(5, 0.2), what="nothing counted yet: every topic equally likely (d, w NumPy integers)"
    )


# ------------------------------------------------------------------------------- gibbs_sweep


@exercise("gibbs_sweep")
def test_gibbs_sweep_replays_token_by_token(impl):
    doc, word, z, D, K, W = _corpus(6)
    n_dk, n_kw, n_k = _counts(doc, word, z, D, K, W)
    call = run(impl.gibbs_sweep, doc, word, z, n_dk, n_kw, n_k, 0.3, 0.1, rng(7))
    got = expect_parts(call, ["z", "n_dk", "n_kw", "n_k"], [z.shape, n_dk.shape, n_kw.shape, n_k.shape])
    want = _sweep(doc, word, z, n_dk, n_kw, n_k, 0.3, 0.1, rng(7))
    kept = _sweep(doc, word, z, n_dk, n_kw, n_k, 0.3, 0.1, rng(7), remove=False)
    expect_equal(
        Call(got[0], f"{call}[0], z"),
        want[0],
        what="token by token: out of the counts, p = topic_conditional, u = rng.random(), back in",
        mistakes={"compute p without first taking the token out of the counts": kept[0]},
    )
    for j, name in enumerate(["n_dk", "n_kw", "n_k"], start=1):
        expect_equal(Call(got[j], f"{call}[{j}], {name}"), want[j], what="the counts of the new z")


@exercise("gibbs_sweep")
def test_gibbs_sweep_counts_match_its_assignment(impl):
    doc, word, z, D, K, W = _corpus(8, D=4, W=9, K=3, length=12)
    n_dk, n_kw, n_k = _counts(doc, word, z, D, K, W)
    g = rng(9)
    for s in range(3):
        z, n_dk, n_kw, n_k = run(impl.gibbs_sweep, doc, word, z, n_dk, n_kw, n_k, 0.5, 0.5, g).value
        for name, got, want in zip(
            ["n_dk", "n_kw", "n_k"], (n_dk, n_kw, n_k), _counts(doc, word, z, D, K, W)
        ):
            expect_equal(
                Call(got, f"gibbs_sweep(...) sweep {s + 1}: {name}"),
                want,
                what="the counts returned must be those of the z returned",
            )


@exercise("gibbs_sweep")
def test_gibbs_sweep_draws_from_the_rng_it_is_given(impl):
    doc, word, z, D, K, W = _corpus(10)
    n_dk, n_kw, n_k = _counts(doc, word, z, D, K, W)
    runs = [impl.gibbs_sweep(doc, word, z, n_dk, n_kw, n_k, 1.0, 1.0, g)[0] for g in (rng(1), rng(1), rng(2))]
    expect(np.array_equal(runs[0], runs[1]), "gibbs_sweep: two generators seeded alike must give the same z")
    expect(
        not np.array_equal(runs[0], runs[2]),
        "gibbs_sweep: generators seeded differently gave the same z; draw u from the rng passed in",
    )


# ----------------------------------------------------------------------------- lda_estimates


@exercise("lda_estimates")
def test_lda_estimates_are_smoothed_row_proportions(impl):
    n_dk = np.array([[3, 0, 1], [0, 0, 0]], dtype=np.int64)
    n_kw = np.array([[1, 2, 0, 0, 0], [0, 0, 0, 0, 0], [0, 0, 1, 0, 3]], dtype=np.int64)
    a, b = 0.5, 0.2
    call = run(impl.lda_estimates, n_dk, n_kw, a, b)
    theta, phi = expect_parts(call, ["theta", "phi"], [(2, 3), (3, 5)])
    want_theta = np.array([[3.5, 0.5, 1.5], [0.5, 0.5, 0.5]]) / np.array([[5.5], [1.5]])
    want_phi = (n_kw + b) / np.array([[4.0], [1.0], [5.0]])
    expect_close(
        Call(theta, f"{call}[0], theta"),
        want_theta,
        mistakes={
            "leave out K alpha in theta's denominator": np.array([[3.5, 0.5, 1.5], [0.5, 0.5, 0.5]])
            / np.array([[4.0], [1.0]]),
            "normalise theta with W alpha instead of K alpha": np.array([[3.5, 0.5, 1.5], [0.5, 0.5, 0.5]])
            / np.array([[6.5], [2.5]]),
        },
    )
    expect_close(
        Call(phi, f"{call}[1], phi"),
        want_phi,
        mistakes={
            "normalise phi with K beta instead of W beta": (n_kw + b) / (n_kw.sum(1, keepdims=True) + 3 * b),
            "normalise phi over topics (columns) instead of words": (n_kw + b)
            / (n_kw.sum(0, keepdims=True) + 3 * b),
        },
    )


@exercise("lda_estimates")
def test_lda_estimates_rows_sum_to_one(impl):
    doc, word, z, D, K, W = _corpus(11, D=7, W=15, K=4, length=9)
    n_dk, n_kw, _ = _counts(doc, word, z, D, K, W)
    theta, phi = run(impl.lda_estimates, n_dk, n_kw, 0.1, 0.01).value
    expect_close(Call(theta.sum(1), "theta.sum(axis=1)"), np.ones(D))
    expect_close(Call(phi.sum(1), "phi.sum(axis=1)"), np.ones(K))
    expect_close(Call(phi, "phi"), (n_kw + 0.01) / (n_kw.sum(1, keepdims=True) + W * 0.01))


@exercise("lda_estimates")
def test_lda_estimates_of_an_empty_document_are_uniform(impl):
    n_dk = np.array([[0, 0, 0, 0], [2, 0, 0, 1]], dtype=np.int64)
    n_kw = np.array([[1, 1], [0, 0], [0, 0], [1, 0]], dtype=np.int64)
    theta, phi = run(impl.lda_estimates, n_dk, n_kw, 0.3, 0.5).value
    expect_close(Call(theta[0], "theta[0] of a document with no tokens"), np.full(4, 0.25))
    expect_close(Call(phi[1], "phi[1] of a topic with no tokens"), np.full(2, 0.5))


# ------------------------------------------------------------------------ lda_log_likelihood


def _loop_loglik(n_dk, n_kw, a, b):
    D, K = n_dk.shape
    W = n_kw.shape[1]
    total = 0.0
    for k in range(K):
        total += math.lgamma(W * b) - W * math.lgamma(b)
        total += sum(math.lgamma(n_kw[k, w] + b) for w in range(W)) - math.lgamma(n_kw[k].sum() + W * b)
    for d in range(D):
        total += math.lgamma(K * a) - K * math.lgamma(a)
        total += sum(math.lgamma(n_dk[d, k] + a) for k in range(K)) - math.lgamma(n_dk[d].sum() + K * a)
    return total


@exercise("lda_log_likelihood")
def test_lda_log_likelihood_of_one_and_two_tokens(impl):
    K, W, a, b = 3, 5, 0.4, 0.2
    one_dk, one_kw = np.zeros((1, K), dtype=np.int64), np.zeros((K, W), dtype=np.int64)
    one_dk[0, 1], one_kw[1, 2] = 1, 1
    expect_close(
        run(impl.lda_log_likelihood, one_dk, one_kw, a, b),
        -math.log(K) - math.log(W),
        what="one token: p(z) p(w | z) = (1/K)(1/W)",
        mistakes={
            "leave out the constant terms lnΓ(W beta) - W lnΓ(beta) and lnΓ(K alpha) - K lnΓ(alpha)": (
                -math.log(K)
                - math.log(W)
                - K * (math.lgamma(W * b) - W * math.lgamma(b))
                - (math.lgamma(K * a) - K * math.lgamma(a))
            ),
            "leave out the documents' part (the sum over d)": -math.log(W),
            "leave out the topics' word part (the sum over k)": -math.log(K),
        },
    )
    two_dk, two_kw = 2 * one_dk, 2 * one_kw
    want = -math.log(K) + math.log((1 + a) / (1 + K * a)) - math.log(W) + math.log((1 + b) / (1 + W * b))
    expect_close(
        run(impl.lda_log_likelihood, two_dk, two_kw, a, b),
        want,
        what="two tokens, same word and topic: (1/K) (1 + alpha)/(1 + K alpha) (1/W) (1 + beta)/(1 + W beta)",
    )


@exercise("lda_log_likelihood")
def test_lda_log_likelihood_by_loops(impl):
    doc, word, z, D, K, W = _corpus(12, D=5, W=11, K=4, length=12)
    n_dk, n_kw, _ = _counts(doc, word, z, D, K, W)
    a, b = 0.3, 0.05
    want = _loop_loglik(n_dk, n_kw, a, b)
    words_only = _loop_loglik(np.zeros((D, K), dtype=np.int64), n_kw, a, b)
    expect_close(
        run(impl.lda_log_likelihood, n_dk, n_kw, a, b),
        want,
        mistakes={
            "leave out the documents' part (the sum over d)": words_only,
            "leave out the topics' word part (the sum over k)": want
            - _loop_loglik(np.zeros((0, K), dtype=np.int64), n_kw, a, b),
        },
    )


@exercise("lda_log_likelihood")
def test_lda_log_likelihood_ignores_the_topics_names(impl):
    doc, word, z, D, K, W = _corpus(16, D=4, W=9, K=3, length=10)
    n_dk, n_kw, _ = _counts(doc, word, z, D, K, W)
    perm = np.array([2, 0, 1])
    a = run(impl.lda_log_likelihood, n_dk, n_kw, 0.2, 0.1).value
    b = run(impl.lda_log_likelihood, n_dk[:, perm], n_kw[perm], 0.2, 0.1).value
    expect(
        abs(a - b) <= 1e-9 * abs(a),
        f"lda_log_likelihood: {a:.6f} before and {b:.6f} after renaming the topics; relabelling "
        "cannot change the likelihood",
    )


# --------------------------------------------------------------------------------- top_words


@exercise("top_words")
def test_top_words_most_probable_first(impl):
    vocab = ["alpha", "beta", "gamma", "delta", "eps"]
    phi = np.array([[0.1, 0.4, 0.2, 0.2, 0.1], [0.5, 0.05, 0.05, 0.1, 0.3]])
    call = run(impl.top_words, phi, vocab, 3)
    expect_equal(
        call,
        [["beta", "gamma", "delta"], ["alpha", "eps", "delta"]],
        what="by decreasing phi, the lower index first on ties",
        mistakes={
            "sort in increasing order": [["alpha", "eps", "gamma"], ["beta", "gamma", "delta"]],
            "break ties by the higher index": [["beta", "delta", "gamma"], ["alpha", "eps", "delta"]],
        },
    )
    expect_equal(run(impl.top_words, phi, vocab, 1), [["beta"], ["alpha"]])


@exercise("top_words")
def test_top_words_of_random_topics(impl):
    g = rng(17)
    phi = g.dirichlet(np.ones(30), size=4)
    vocab = [f"w{i}" for i in range(30)]
    want = [[vocab[j] for j in sorted(range(30), key=lambda j: -phi[k, j])[:6]] for k in range(4)]
    expect_equal(run(impl.top_words, phi, vocab, 6), want, what="4 topics over 30 words, 6 words each")


# ----------------------------------------------------------------------------------- run_lda


@exercise("run_lda")
def test_run_lda_replays_the_sampler(impl):
    doc, word, _, D, K, W = _corpus(13, D=4, W=8, K=3, length=10)
    call = run(impl.run_lda, doc, word, D, W, K, 0.5, 0.1, 3, rng(14))
    theta, phi, curve = expect_parts(call, ["theta", "phi", "curve"], [(D, K), (K, W), (4,)])
    g = rng(14)
    z = g.integers(K, size=len(doc))
    counts = _counts(doc, word, z, D, K, W)
    lls = [_loop_loglik(counts[0], counts[1], 0.5, 0.1)]
    for _ in range(3):
        z, *counts = _sweep(doc, word, z, *counts, 0.5, 0.1, g)
        lls.append(_loop_loglik(counts[0], counts[1], 0.5, 0.1))
    n_dk, n_kw = counts[0], counts[1]
    expect_close(
        Call(curve, f"{call}[2], the log-likelihoods"),
        np.array(lls),
        what="of z = rng.integers(K, size=N), then after each of 3 sweeps",
        mistakes={"leave out the initial assignment's likelihood": np.array(lls[1:])},
    )
    expect_close(Call(theta, f"{call}[0], theta"), (n_dk + 0.5) / (n_dk.sum(1, keepdims=True) + K * 0.5))
    expect_close(Call(phi, f"{call}[1], phi"), (n_kw + 0.1) / (n_kw.sum(1, keepdims=True) + W * 0.1))


@exercise("run_lda", timeout=20)  # 1,200 Gibbs steps: about 1 s with the type checks
def test_run_lda_recovers_two_planted_topics(impl):
    # Seeds 0-29 (data _planted(seed), rng(seed)), 10 sweeps: each topic puts 0.995 of its
    # mass on a different half on every seed (seeds 0-99 too), and the log-likelihood rises
    # by at least 179 nats (worst seed 0). Uniform topics would put 0.5 on each half.
    doc, word = _planted(3)
    theta, phi, curve = run(impl.run_lda, doc, word, 8, 6, 2, 0.1, 0.1, 10, rng(3)).value
    halves = np.stack([phi[:, :3].sum(1), phi[:, 3:].sum(1)], axis=1)  # (topic, half)
    purity = min(halves[0].max(), halves[1].max())
    expect(
        purity > 0.9 and halves[0].argmax() != halves[1].argmax(),
        f"run_lda on 8 documents, each written with words 0-2 or with words 3-5 only, 2 topics, 10 "
        f"sweeps: the topics put {np.round(halves, 3).tolist()} of their mass on the two halves; each should "
        "put more than 0.9 on a different half (the reference puts 0.995 on each of 30 seeds)",
    )
    expect(
        curve[-1] > curve[0] + 100,
        f"run_lda: the log-likelihood went from {curve[0]:.1f} to {curve[-1]:.1f} in 10 sweeps; "
        "it should rise (by at least 179 nats on each of 30 seeds with the reference; the test asks 100)",
    )


@exercise("run_lda")
def test_run_lda_on_pydoc_paragraphs(impl):
    text = load_pydoc_text()[:40000]
    paragraphs = [p.lower().split() for p in text.split("\n\n")]
    words = ["class", "method", "exception", "except", "string", "characters", "function", "module"]
    index = {w: i for i, w in enumerate(words)}
    docs = [[index[w] for w in p if w in index] for p in paragraphs]
    docs = [d for d in docs if len(d) >= 3]
    doc = np.concatenate([np.full(len(d), j) for j, d in enumerate(docs)]).astype(np.int64)
    word = np.concatenate([np.array(d) for d in docs]).astype(np.int64)
    theta, phi, curve = run(impl.run_lda, doc, word, len(docs), len(words), 3, 0.1, 0.1, 5, rng(0)).value
    expect_close(Call(phi.sum(1), "run_lda on pydoc paragraphs: phi.sum(axis=1)"), np.ones(3))
    expect_close(Call(theta.sum(1), "run_lda on pydoc paragraphs: theta.sum(axis=1)"), np.ones(len(docs)))
    expect(len(curve) == 6, f"run_lda(..., sweeps=5): {len(curve)} log-likelihoods; expected 6")
