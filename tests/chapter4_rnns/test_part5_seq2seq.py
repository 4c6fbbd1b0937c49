"""Tests for chapter 4, part 5: an LSTM encoder-decoder on the reversal task, with teacher
forcing, its gradients, greedy decoding and accuracy.

Expected values come from this file: the task built from the documented draw with Python
lists, an LSTM written gate by gate with a loop over time, the teacher-forced loss as
log-sum-exp minus the target's logit, greedy decoding that re-reads the whole output so
far from the encoder's state at every step (no state carried by hand), and accuracies
counted by hand. Every gradient is checked against central differences of this file's
forward pass, with source and target of different lengths and N, T, E, H, V all different.
The training test runs the given loop on the learner's forward and backward passes and
requires a token accuracy that the reference beat on every one of 30 seeds (worst seed
in the test).
"""

import numpy as np
import pytest

from grader.testkit import Call, exercise, expect, expect_close, expect_equal, numeric_grad, rng, run

BOS = 0


def _sigmoid(z):
    return 1.0 / (1.0 + np.exp(-z))


def _lstm(x, h, c, Wx, Wh, b):
    H = h.shape[1]
    blocks = [slice(k * H, (k + 1) * H) for k in range(4)]  # i, f, g, o
    hs = []
    for t in range(x.shape[1]):
        pre = [x[:, t] @ Wx[:, s] + h @ Wh[:, s] + b[s] for s in blocks]
        i, f, g, o = _sigmoid(pre[0]), _sigmoid(pre[1]), np.tanh(pre[2]), _sigmoid(pre[3])
        c = f * c + i * g
        h = o * np.tanh(c)
        hs.append(h)
    return np.stack(hs, axis=1), (h, c)


def _encode(p, src):
    N, H = src.shape[0], p["enc_Wh"].shape[0]
    return _lstm(
        p["enc_embed"][src], np.zeros((N, H)), np.zeros((N, H)), p["enc_Wx"], p["enc_Wh"], p["enc_b"]
    )[1]


def _decode_logits(p, tgt_in, h, c):
    hs, _ = _lstm(p["dec_embed"][tgt_in], h, c, p["dec_Wx"], p["dec_Wh"], p["dec_b"])
    return hs @ p["W_out"] + p["b_out"]


def _loss(logits, tgt_out):
    N, T = tgt_out.shape
    top = logits.max(axis=-1)
    log_z = top + np.log(np.exp(logits - top[..., None]).sum(axis=-1))
    return float((log_z - logits[np.arange(N)[:, None], np.arange(T)[None, :], tgt_out]).mean())


def _model_loss(p, src, tgt_in, tgt_out, start="encoder"):
    h, c = _encode(p, src)
    if start == "zeros":  # wrong: the decoder ignores the encoder
        h, c = 0 * h, 0 * c
    elif start == "h only":  # wrong: the cell state is not handed over
        c = 0 * c
    return _loss(_decode_logits(p, tgt_in, h, c), tgt_out)


def _greedy(p, src, length):
    """Re-read BOS and every token chosen so far from the encoder's state, take the last argmax."""
    h, c = _encode(p, src)
    seq = np.full((src.shape[0], 1), BOS)
    for _ in range(length):
        nxt = _decode_logits(p, seq, h, c)[:, -1].argmax(axis=-1)
        seq = np.concatenate([seq, nxt[:, None]], axis=1)
    return seq[:, 1:].astype(np.int64)


def _params(n_symbols, E, H, seed, scale=0.6):
    g = rng(seed)
    V = n_symbols + 1
    p = {}
    for side in ("enc", "dec"):
        p[f"{side}_embed"] = g.normal(size=(V, E))
        p[f"{side}_Wx"] = scale * g.normal(size=(E, 4 * H))
        p[f"{side}_Wh"] = scale * g.normal(size=(H, 4 * H))
        p[f"{side}_b"] = 0.3 * g.normal(size=4 * H)
    p["W_out"] = g.normal(size=(H, V))
    p["b_out"] = 0.3 * g.normal(size=V)
    return p


def _of(call, value):
    return Call(np.asarray(value), str(call))


# ---------------------------------------------------------------------------------------------
# make_reversal_batch


@exercise("make_reversal_batch")
@pytest.mark.parametrize("n, length, n_symbols", [(4, 6, 9), (3, 1, 5), (7, 5, 2)])
def test_make_reversal_batch_from_the_documented_draw(impl, n, length, n_symbols):
    got = run(impl.make_reversal_batch, n, length, n_symbols, rng(1))
    src = rng(1).integers(1, n_symbols + 1, size=(n, length))
    rows = src.tolist()
    tgt_out = np.array([row[::-1] for row in rows], dtype=np.int64)
    tgt_in = np.array([[BOS] + row[::-1][:-1] for row in rows], dtype=np.int64)
    expect(isinstance(got.value, tuple) and len(got.value) == 3, f"{got}: expected (src, tgt_in, tgt_out)")
    expect_equal(_of(got, got.value[0]), src, what="src")
    expect_equal(
        _of(got, got.value[2]),
        tgt_out,
        what="tgt_out (each row of src reversed)",
        mistakes={"reverse the order of the rows instead of each row": src[::-1]},
    )
    expect_equal(
        _of(got, got.value[1]),
        tgt_in,
        what="tgt_in (BOS, then tgt_out without its last token)",
        mistakes={
            "give the decoder tgt_out itself (it would read the answer it must predict)": tgt_out,
            "start tgt_in with BOS followed by the source instead of the reversed source": np.concatenate(
                [np.full((n, 1), BOS), src[:, :-1]], axis=1
            ),
        },
    )


@exercise("make_reversal_batch")
def test_make_reversal_batch_symbols_never_bos(impl):
    src, tgt_in, tgt_out = run(impl.make_reversal_batch, 200, 7, 3, rng(2)).value
    expect(
        set(np.unique(src).tolist()) == {1, 2, 3},
        f"make_reversal_batch(n_symbols=3): src holds {sorted(set(np.unique(src).tolist()))}, expected "
        "the symbols 1, 2, 3 (0 is BOS, never a symbol)",
    )
    expect(bool(np.all(tgt_in[:, 0] == BOS)), "make_reversal_batch: every row of tgt_in starts with BOS = 0")


@exercise("make_reversal_batch")
def test_make_reversal_batch_shapes_and_dtypes(impl):
    got = run(impl.make_reversal_batch, 5, 8, 4, rng(3))
    for name, array in zip(("src", "tgt_in", "tgt_out"), got.value):
        expect(
            isinstance(array, np.ndarray) and array.shape == (5, 8) and array.dtype == np.int64,
            f"{got}: {name} should be an int64 array of shape (5, 8), got {getattr(array, 'dtype', '?')} "
            f"{getattr(array, 'shape', '?')}",
        )
    src, tgt_in, tgt_out = got.value
    expect_equal(_of(got, tgt_in[:, 1:]), tgt_out[:, :-1], what="tgt_in[:, 1:] (tgt_out moved right)")


# ---------------------------------------------------------------------------------------------
# seq2seq_forward


def _case(seed, N=3, S=5, T=4, n_symbols=6, E=3, H=4):
    p = _params(n_symbols, E, H, seed)
    g = rng(seed + 1)
    src = g.integers(1, n_symbols + 1, size=(N, S))
    tgt_out = g.integers(1, n_symbols + 1, size=(N, T))
    tgt_in = np.concatenate([np.full((N, 1), BOS), tgt_out[:, :-1]], axis=1)
    return p, src, tgt_in, tgt_out


@exercise("seq2seq_forward")
@pytest.mark.parametrize("N, S, T", [(3, 5, 4), (2, 3, 6), (1, 7, 1)])
def test_seq2seq_forward_teacher_forced_loss(impl, N, S, T):
    p, src, tgt_in, tgt_out = _case(10, N, S, T)
    got = run(impl.seq2seq_forward, p, src, tgt_in, tgt_out)
    expect(isinstance(got.value, tuple) and len(got.value) == 2, f"{got}: expected (loss, cache)")
    expect(isinstance(got.value[0], float), f"{got}: the loss should be a Python float")
    expect_close(
        _of(got, got.value[0]),
        _model_loss(p, src, tgt_in, tgt_out),
        what="the loss",
        mistakes={
            "start the decoder from zero states instead of the encoder's final state": _model_loss(
                p, src, tgt_in, tgt_out, "zeros"
            ),
            "hand over h_T but start the decoder's cell state at zero": _model_loss(
                p, src, tgt_in, tgt_out, "h only"
            ),
            "feed the decoder tgt_out instead of tgt_in": _model_loss(p, src, tgt_out, tgt_out),
        },
    )


@exercise("seq2seq_forward")
def test_seq2seq_forward_source_matters(impl):
    # Changing the first source token changes the loss: it reaches the decoder through the state.
    p, src, tgt_in, tgt_out = _case(11)
    other = src.copy()
    other[:, 0] = other[:, 0] % 6 + 1
    a = run(impl.seq2seq_forward, p, src, tgt_in, tgt_out).value[0]
    got = run(impl.seq2seq_forward, p, other, tgt_in, tgt_out)
    expect_close(_of(got, got.value[0]), _model_loss(p, other, tgt_in, tgt_out), what="the loss")
    expect(a != got.value[0], f"{got}: the loss did not change with the source")


@exercise("seq2seq_forward")
def test_seq2seq_forward_is_a_mean_over_positions(impl):
    # Repeating the batch twice leaves a mean unchanged (a sum would double).
    p, src, tgt_in, tgt_out = _case(12, 2, 4, 5)
    twice = [np.concatenate([a, a]) for a in (src, tgt_in, tgt_out)]
    got = run(impl.seq2seq_forward, p, *twice)
    want = _model_loss(p, src, tgt_in, tgt_out)
    expect_close(
        _of(got, got.value[0]),
        want,
        what="the loss of the batch repeated twice",
        mistakes={"sum over the positions instead of averaging": want * 20},
    )


# ---------------------------------------------------------------------------------------------
# seq2seq_backward


def _numeric(p, src, tgt_in, tgt_out):
    return {
        name: numeric_grad(lambda v, name=name: _model_loss({**p, name: v}, src, tgt_in, tgt_out), value)
        for name, value in p.items()
    }


def _expect_grads(call, got, want):
    expect(
        isinstance(got, dict) and set(got) == set(want),
        f"{call}: expected a dict with the keys {sorted(want)}, got "
        f"{sorted(got) if isinstance(got, dict) else type(got).__name__}",
    )
    for name in want:
        mistakes = None
        if name.startswith("enc"):
            mistakes = {
                "never pass the decoder's dh0 and dc0 back into the encoder": np.zeros_like(want[name])
            }
        expect_close(
            _of(call, got[name]), want[name], rtol=1e-5, atol=1e-8, what=f"d{name}", mistakes=mistakes
        )


@exercise("seq2seq_backward")
@pytest.mark.parametrize("N, S, T", [(3, 5, 4), (2, 3, 6)])
def test_seq2seq_backward_matches_central_differences(impl, N, S, T):
    p, src, tgt_in, tgt_out = _case(20, N, S, T)
    _, cache = impl.seq2seq_forward(p, src, tgt_in, tgt_out)
    got = run(impl.seq2seq_backward, cache)
    _expect_grads(got, got.value, _numeric(p, src, tgt_in, tgt_out))


@exercise("seq2seq_backward")
def test_seq2seq_backward_repeated_tokens_add_up(impl):
    p, src, tgt_in, tgt_out = _case(21, 2, 4, 3, n_symbols=2)  # few symbols: every one repeats
    _, cache = impl.seq2seq_forward(p, src, tgt_in, tgt_out)
    got = run(impl.seq2seq_backward, cache)
    want = _numeric(p, src, tgt_in, tgt_out)
    for name in ("enc_embed", "dec_embed"):
        expect_close(_of(got, got.value[name]), want[name], rtol=1e-5, atol=1e-8, what=f"d{name}")


# Training budget: E 16, H 48, batches of 64, sequences of 5 symbols out of 6, 150 Adam steps
# at 2e-2 with clipping at 1 (the given train_seq2seq). Over 30 seeds (init rng(s), training
# rng(s + 1)) the reference's greedy decoding reversed 97.1-99.9 % of the tokens of 1,000
# fresh sequences (worst seed 11).
TOKEN_ACCURACY = 0.93


@exercise("seq2seq_backward", timeout=60)
def test_seq2seq_backward_trains_the_reversal(impl):
    params = impl.init_seq2seq(6, 16, 48, rng(0))
    got = run(impl.train_seq2seq, params, 150, 64, 5, 6, 2e-2, rng(1))
    trained, losses = got.value
    src = rng(2).integers(1, 7, size=(500, 5))
    accuracy = float(np.mean(_greedy(trained, src, 5) == src[:, ::-1]))
    expect(
        accuracy >= TOKEN_ACCURACY,
        f"{got} (your forward and backward passes inside the given loop): greedy decoding reversed "
        f"{accuracy:.1%} of the tokens of 500 new sequences, expected at least {TOKEN_ACCURACY:.0%} "
        f"(loss from {losses[0]:.2f} to {np.mean(losses[-10:]):.3f})",
    )


# ---------------------------------------------------------------------------------------------
# greedy_decode


@exercise("greedy_decode")
@pytest.mark.parametrize("length", [1, 4, 7])
def test_greedy_decode_feeds_back_its_own_choices(impl, length):
    p = _params(5, 3, 4, 30, scale=1.2)
    src = rng(31).integers(1, 6, size=(6, 5))
    got = run(impl.greedy_decode, p, src, length)
    want = _greedy(p, src, length)

    def restart_each_step():  # every step from the encoder's state, reading only the last token
        h, c = _encode(p, src)
        token, out = np.full(len(src), BOS), []
        for _ in range(length):
            token = _decode_logits(p, token[:, None], h, c)[:, 0].argmax(axis=-1)
            out.append(token)
        return np.stack(out, axis=1).astype(np.int64)

    def from_zero_state():
        N, H = src.shape[0], 4
        seq = np.full((N, 1), BOS)
        for _ in range(length):
            nxt = _decode_logits(p, seq, np.zeros((N, H)), np.zeros((N, H)))[:, -1].argmax(axis=-1)
            seq = np.concatenate([seq, nxt[:, None]], axis=1)
        return seq[:, 1:].astype(np.int64)

    expect_equal(
        got,
        want,
        mistakes={
            "restart the decoder from the encoder's state at every step instead of carrying its state": (
                restart_each_step
            ),
            "start the decoder from zero states": from_zero_state,
        },
    )


@exercise("greedy_decode")
def test_greedy_decode_rows_are_independent(impl):
    p = _params(4, 5, 3, 32, scale=1.2)
    src = rng(33).integers(1, 5, size=(5, 6))
    got = run(impl.greedy_decode, p, src, 6)
    single = np.concatenate([impl.greedy_decode(p, src[i : i + 1], 6) for i in range(5)])
    expect_equal(got, single.astype(np.int64), what="the batch decoded at once against one row at a time")


@exercise("greedy_decode")
def test_greedy_decode_first_token_is_the_argmax_after_bos(impl):
    p = _params(7, 4, 5, 34, scale=1.0)
    src = rng(35).integers(1, 8, size=(9, 3))
    got = run(impl.greedy_decode, p, src, 2)
    h, c = _encode(p, src)
    first = _decode_logits(p, np.full((9, 1), BOS), h, c)[:, 0].argmax(axis=-1)
    expect(
        isinstance(got.value, np.ndarray) and got.value.shape == (9, 2) and got.value.dtype == np.int64,
        f"{got}: expected an int64 array of shape (9, 2)",
    )
    expect_equal(
        _of(got, got.value[:, 0]), first.astype(np.int64), what="the first token (after reading BOS)"
    )


# ---------------------------------------------------------------------------------------------
# reversal_accuracy


@exercise("reversal_accuracy")
def test_reversal_accuracy_by_hand(impl):
    target = np.array([[1, 2, 3, 4], [4, 3, 2, 1], [2, 2, 2, 2]])
    predicted = np.array([[1, 2, 3, 4], [4, 3, 2, 2], [1, 2, 1, 2]])
    # tokens right: 4 + 3 + 2 = 9 of 12; rows entirely right: 1 of 3
    got = run(impl.reversal_accuracy, predicted, target)
    expect(
        isinstance(got.value, tuple) and len(got.value) == 2 and all(isinstance(v, float) for v in got.value),
        f"{got}: expected a pair of Python floats (token accuracy, sequence accuracy)",
    )
    expect_close(
        _of(got, got.value[0]),
        0.75,
        what="the token accuracy",
        mistakes={"swap the two accuracies": 1 / 3},
    )
    expect_close(
        _of(got, got.value[1]),
        1 / 3,
        what="the sequence accuracy",
        mistakes={"swap the two accuracies": 0.75, "count the columns that are entirely right": 0.0},
    )


@exercise("reversal_accuracy")
def test_reversal_accuracy_extremes(impl):
    target = rng(40).integers(1, 5, size=(6, 3))
    got = run(impl.reversal_accuracy, target.copy(), target)
    expect_close(_of(got, np.array(got.value)), np.array([1.0, 1.0]), what="(token, sequence) accuracy")
    wrong = target.copy()
    wrong[:, 1] = 0
    got = run(impl.reversal_accuracy, wrong, target)
    expect_close(_of(got, np.array(got.value)), np.array([2 / 3, 0.0]), what="(token, sequence) accuracy")


@exercise("reversal_accuracy")
def test_reversal_accuracy_matches_loops(impl):
    g = rng(41)
    target = g.integers(1, 3, size=(40, 3))
    predicted = g.integers(1, 3, size=(40, 3))
    tokens = sum(int(a == b) for r, q in zip(predicted, target) for a, b in zip(r, q)) / 120
    rows = sum(all(a == b for a, b in zip(r, q)) for r, q in zip(predicted, target)) / 40
    got = run(impl.reversal_accuracy, predicted, target)
    expect_close(_of(got, np.array(got.value)), np.array([tokens, rows]), what="(token, sequence) accuracy")
