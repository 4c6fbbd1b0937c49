"""Tests for chapter 4, part 4: a character-level LSTM language model with dropout on the
non-recurrent connections, trained on the standard library's documentation, evaluated in
bits per character and sampled with a temperature.

Expected values come from this file: an LSTM written gate by gate with a loop over time
(separate weight blocks i, f, g, o sliced from the fused matrices), the cross-entropy
written with explicit indices, dropout masks drawn from the same seeded generator in the
documented order, and a sampler that draws by inverse CDF. Every gradient is checked
against central differences of this file's forward pass with the same masks. The held-out
loss is checked against one pass over the whole text (which is what carrying the state
between windows must give). The training test trains a small model for a small budget and
requires a held-out loss that the reference beat on every one of 30 seeds (worst seed in
the test). Sizes are never square: N, T, E, H and V all differ.
"""

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


def _sigmoid(z):
    return 1.0 / (1.0 + np.exp(-z))


def _lstm(x, h, c, Wx, Wh, b, drop_h=None):
    """hs and the final (h, c), one step at a time with the four gates sliced apart.
    drop_h (N, T, H), if given, is a WRONG model: dropout on the recurrent path."""
    H = h.shape[1]
    blocks = [slice(k * H, (k + 1) * H) for k in range(4)]  # i, f, g, o
    from_x = [x @ Wx[:, s] + b[s] for s in blocks]  # (N, T, H) each: the part that needs no h
    hs = []
    for t in range(x.shape[1]):
        pre = [z[:, t] + h @ Wh[:, s] for z, s in zip(from_x, blocks)]
        i, f, g, o = _sigmoid(pre[0]), _sigmoid(pre[1]), np.tanh(pre[2]), _sigmoid(pre[3])
        c = f * c + i * g
        h = o * np.tanh(c)
        if drop_h is not None:
            h = h * drop_h[:, t]
        hs.append(h)
    return np.stack(hs, axis=1), (h, c)


def _masks(shape_x, shape_h, p, seed):
    """The two dropout masks drawn as documented: the input's first, then the output's."""
    g = rng(seed)
    return (g.random(shape_x) >= p) / (1 - p), (g.random(shape_h) >= p) / (1 - p)


def _model(params, inputs, targets, h0, c0, masks=None, recurrent=False):
    """(mean loss in nats, (h_T, c_T), per-position losses) of the model, dropout masks given."""
    x = params["embed"][inputs]
    mask_x, mask_h = masks if masks is not None else (None, None)
    if mask_x is not None:
        x = x * mask_x
    if recurrent:  # the wrong model: the output mask also multiplies the state carried on
        hs, final = _lstm(x, h0, c0, params["Wx"], params["Wh"], params["b"], drop_h=mask_h)
    else:
        hs, final = _lstm(x, h0, c0, params["Wx"], params["Wh"], params["b"])
        if mask_h is not None:
            hs = hs * mask_h
    logits = hs @ params["W_out"] + params["b_out"]
    N, T = inputs.shape
    top = logits.max(axis=-1)
    log_z = top + np.log(np.sum(np.exp(logits - top[..., None]), axis=-1))  # (N, T)
    picked = logits[np.arange(N)[:, None], np.arange(T)[None, :], targets]  # logits[n, t, targets[n, t]]
    losses = log_z - picked
    return float(losses.mean()), final, losses


def _params(V, E, H, seed, scale=0.5):
    g = rng(seed)
    return {
        "embed": g.normal(size=(V, E)),
        "Wx": scale * g.normal(size=(E, 4 * H)),
        "Wh": scale * g.normal(size=(H, 4 * H)),
        "b": 0.3 * g.normal(size=4 * H),
        "W_out": g.normal(size=(H, V)),
        "b_out": 0.3 * g.normal(size=V),
    }


def _batch(V, N, T, seed):
    g = rng(seed)
    return g.integers(0, V, size=(N, T)), g.integers(0, V, size=(N, T))


def _state(N, H, seed):
    g = rng(seed)
    return 0.5 * g.normal(size=(N, H)), 0.5 * g.normal(size=(N, H))


def _of(call, value):
    return Call(np.asarray(value), str(call))


# ---------------------------------------------------------------------------------------------
# build_vocab, encode


@exercise("build_vocab")
def test_build_vocab_by_hand(impl):
    expect_equal(run(impl.build_vocab, "hello world"), [" ", "d", "e", "h", "l", "o", "r", "w"])


@exercise("build_vocab")
def test_build_vocab_sorts_by_code_point(impl):
    got = run(impl.build_vocab, "b a\nBA.b")
    expect_equal(
        got,
        ["\n", " ", ".", "A", "B", "a", "b"],
        mistakes={"keep the characters in order of first appearance": ["b", " ", "a", "\n", "B", "A", "."]},
    )


@exercise("build_vocab")
def test_build_vocab_of_the_documentation(impl):
    text = load_pydoc_text()[:5000]
    got = run(impl.build_vocab, text)
    expect_equal(got, sorted(set(text)), mistakes={"keep repeated characters": sorted(text)})


@exercise("encode")
def test_encode_by_hand(impl):
    vocab = [" ", "d", "e", "h", "l", "o", "r", "w"]
    got = run(impl.encode, "hello world", vocab)
    want = np.array([3, 2, 4, 4, 5, 0, 7, 5, 6, 4, 1], dtype=np.int64)
    expect_equal(got, want, mistakes={"count ids from 1": want + 1})
    expect(got.value.dtype == np.int64, f"{got}: dtype {got.value.dtype}, expected int64")


@exercise("encode")
def test_encode_inverts_vocab_lookup(impl):
    text = load_pydoc_text()[:3000]
    vocab = sorted(set(text))
    got = run(impl.encode, text, vocab)
    expect_equal(got, np.array([vocab.index(ch) for ch in text], dtype=np.int64))


@exercise("encode")
def test_encode_then_decode_gives_the_text_back(impl):
    vocab = ["\n", " ", "(", ")", "Z", "a", "b", "z", "~"]
    text = "".join(rng(5).choice(vocab, size=200))
    got = run(impl.encode, text, vocab)
    expect_equal(_of(got, len(got.value)), np.asarray(200), what="the number of ids")
    expect(impl.decode(got.value, vocab) == text, f"{got}: decode(encode(text)) is not the text")


# ---------------------------------------------------------------------------------------------
# get_batch


@exercise("get_batch")
@pytest.mark.parametrize("batch_size, seq_len", [(5, 7), (3, 1), (1, 12)])
def test_get_batch_windows_from_the_documented_draw(impl, batch_size, seq_len):
    ids = rng(1).integers(0, 50, size=40)
    got = run(impl.get_batch, ids, batch_size, seq_len, rng(2))
    starts = rng(2).integers(0, len(ids) - seq_len, size=batch_size)
    want_in = np.array([ids[s : s + seq_len] for s in starts])
    want_out = np.array([ids[s + 1 : s + seq_len + 1] for s in starts])
    expect(isinstance(got.value, tuple) and len(got.value) == 2, f"{got}: expected (inputs, targets)")
    expect_equal(_of(got, got.value[0]), want_in, what="inputs")
    expect_equal(
        _of(got, got.value[1]),
        want_out,
        what="targets (the inputs moved on by one character)",
        mistakes={"forget to move the targets one character on": want_in},
    )


@exercise("get_batch")
def test_get_batch_never_reads_past_the_end(impl):
    # With len(ids) = seq_len + 1 there is exactly one window: inputs ids[:-1], targets ids[1:].
    ids = np.arange(10, 19)
    for seed in range(5):
        got = run(impl.get_batch, ids, 4, 8, rng(seed))
        expect_equal(_of(got, got.value[0]), np.tile(ids[:-1], (4, 1)), what="inputs")
        expect_equal(_of(got, got.value[1]), np.tile(ids[1:], (4, 1)), what="targets")


@exercise("get_batch")
def test_get_batch_uses_the_given_rng(impl):
    ids = np.arange(100)
    a = run(impl.get_batch, ids, 6, 5, rng(3)).value[0]
    b = run(impl.get_batch, ids, 6, 5, rng(4)).value[0]
    expect(not np.array_equal(a, b), "get_batch gave the same windows for rng(3) and rng(4): draw from rng")


# ---------------------------------------------------------------------------------------------
# dropout


@exercise("dropout")
@pytest.mark.parametrize("p", [0.25, 0.6])
def test_dropout_mask_from_the_documented_draw(impl, p):
    x = rng(10).normal(size=(3, 4, 5))
    got = run(impl.dropout, x, p, rng(11))
    u = rng(11).random(x.shape)
    mask = (u >= p) / (1 - p)
    expect(isinstance(got.value, tuple) and len(got.value) == 2, f"{got}: expected (x * mask, mask)")
    expect_close(
        _of(got, got.value[1]),
        mask,
        what="mask",
        mistakes={
            "forget to scale the kept entries by 1 / (1 - p)": (u >= p) * 1.0,
            "keep the entries where u < p": (u < p) / (1 - p),
            "scale by 1 / p instead of 1 / (1 - p)": (u >= p) / p,
        },
    )
    expect_close(_of(got, got.value[0]), x * mask, what="x * mask")


@exercise("dropout")
def test_dropout_is_unbiased_and_drops_a_fraction_p(impl):
    # 10^5 entries: the kept fraction is within 6 standard errors (0.0095) of 1 - p.
    x = np.ones((200, 500))
    y, mask = run(impl.dropout, x, 0.3, rng(12)).value
    kept = float(np.mean(mask > 0))
    expect(abs(kept - 0.7) < 0.0095, f"dropout(p=0.3): {kept:.3f} of the entries kept, expected 0.7")
    expect(abs(float(y.mean()) - 1.0) < 0.014, f"dropout(p=0.3): E[x * mask] = {y.mean():.3f}, expected 1")


@exercise("dropout")
def test_dropout_keeps_float32(impl):
    x = rng(13).normal(size=(4, 6)).astype(np.float32)
    got = run(impl.dropout, x, 0.5, rng(14))
    y, mask = got.value
    expect(
        y.dtype == np.float32 and mask.dtype == np.float32,
        f"{got}: returned {y.dtype} and {mask.dtype}; float32 in, float32 out",
    )


@exercise("dropout")
def test_dropout_p_zero_keeps_everything(impl):
    x = rng(15).normal(size=(5, 3))
    got = run(impl.dropout, x, 0.0, rng(16))
    expect_close(_of(got, got.value[0]), x, rtol=0, atol=0, what="x * mask with p = 0")


# ---------------------------------------------------------------------------------------------
# char_lm_forward

# V = 7 characters, E = 3, H = 4, N = 2 sequences of T = 5
SIZES = dict(V=7, E=3, H=4, N=2, T=5)


def _case(seed, V=7, E=3, H=4, N=2, T=5):
    params = _params(V, E, H, seed)
    inputs, targets = _batch(V, N, T, seed + 1)
    return params, inputs, targets, _state(N, H, seed + 2)


@exercise("char_lm_forward")
def test_char_lm_forward_loss_and_state_without_dropout(impl):
    params, inputs, targets, (h0, c0) = _case(20)
    got = run(impl.char_lm_forward, params, inputs, targets, (h0, c0))
    loss, (h_T, c_T), per = _model(params, inputs, targets, h0, c0)
    expect(isinstance(got.value[0], float), f"{got}: the loss should be a Python float")
    expect_close(
        _of(got, got.value[0]),
        loss,
        what="the loss (mean over N*T positions, in nats)",
        mistakes={
            "sum over the time steps and average over the batch only": float(per.sum(axis=1).mean()),
            "start from zero states instead of the given ones": _model(
                params, inputs, targets, 0 * h0, 0 * c0
            )[0],
            "use log base 2 (bits) instead of nats": loss / math.log(2),
        },
    )
    expect_close(_of(got, got.value[1][0]), h_T, what="h_T")
    expect_close(_of(got, got.value[1][1]), c_T, what="c_T")


@exercise("char_lm_forward")
@pytest.mark.parametrize("p", [0.3, 0.7])
def test_char_lm_forward_dropout_on_input_and_output_only(impl, p):
    V, E, H, N, T = 9, 5, 6, 3, 8
    params, inputs, targets, (h0, c0) = _case(21, V, E, H, N, T)
    masks = _masks((N, T, E), (N, T, H), p, seed=22)
    got = run(impl.char_lm_forward, params, inputs, targets, (h0, c0), p, rng(22))
    want = _model(params, inputs, targets, h0, c0, masks)[0]
    expect_close(
        _of(got, got.value[0]),
        want,
        what=f"the loss with dropout p={p} (mask on the embedded inputs drawn first, then on hs)",
        mistakes={
            "apply dropout to the hidden state carried from step to step (the recurrent path)": _model(
                params, inputs, targets, h0, c0, masks, recurrent=True
            )[0],
            "forget the dropout on the LSTM's output": lambda: _model(
                params, inputs, targets, h0, c0, (masks[0], None)
            )[0],
            "forget the dropout on the LSTM's input": lambda: _model(
                params, inputs, targets, h0, c0, (None, (rng(22).random((N, T, H)) >= p) / (1 - p))
            )[0],
        },
    )


@exercise("char_lm_forward")
def test_char_lm_forward_dropout_leaves_the_recurrence_alone(impl):
    # The final state is computed from the dropped-out inputs, but no mask touches h itself:
    # h_T is the undropped LSTM output of the last step.
    V, E, H, N, T = 8, 3, 5, 2, 6
    params, inputs, targets, (h0, c0) = _case(23, V, E, H, N, T)
    masks = _masks((N, T, E), (N, T, H), 0.5, seed=24)
    got = run(impl.char_lm_forward, params, inputs, targets, (h0, c0), 0.5, rng(24))
    _, (h_T, c_T), _ = _model(params, inputs, targets, h0, c0, masks)
    wrong = _model(params, inputs, targets, h0, c0, masks, recurrent=True)[1]
    expect_close(
        _of(got, got.value[1][0]),
        h_T,
        what="h_T with dropout (the state the next window continues from is not dropped out)",
        mistakes={"apply dropout to the hidden state carried from step to step": wrong[0]},
    )
    expect_close(_of(got, got.value[1][1]), c_T, what="c_T with dropout")


# ---------------------------------------------------------------------------------------------
# char_lm_backward


def _numeric_grads(params, inputs, targets, h0, c0, masks):
    grads = {}
    for name, value in params.items():

        def loss_at(v, name=name):
            return _model({**params, name: v}, inputs, targets, h0, c0, masks)[0]

        grads[name] = numeric_grad(loss_at, value)
    return grads


def _expect_grads(call, got, want, mistakes=None):
    expect(
        isinstance(got, dict) and set(got) == set(want),
        f"{call}: expected a dict with the keys {sorted(want)}, got "
        f"{sorted(got) if isinstance(got, dict) else type(got).__name__}",
    )
    for name in want:
        expect_close(
            _of(call, got[name]),
            want[name],
            rtol=1e-5,
            atol=1e-8,
            what=f"d{name}",
            mistakes=(mistakes or {}).get(name),
        )


@exercise("char_lm_backward")
def test_char_lm_backward_matches_central_differences(impl):
    params, inputs, targets, (h0, c0) = _case(30)
    inputs[0, :3] = inputs[1, 2] = 4  # a character that occurs four times
    _, _, cache = impl.char_lm_forward(params, inputs, targets, (h0, c0))
    got = run(impl.char_lm_backward, cache)
    want = _numeric_grads(params, inputs, targets, h0, c0, None)
    _expect_grads(got, got.value, want)


@exercise("char_lm_backward")
def test_char_lm_backward_repeated_characters_add_up(impl):
    # Every input is character 2: its row of d embed is the sum over all N*T positions.
    V, E, H, N, T = 6, 3, 4, 2, 4
    params = _params(V, E, H, 31)
    inputs = np.full((N, T), 2)
    targets = rng(32).integers(0, V, size=(N, T))
    h0, c0 = _state(N, H, 33)
    _, _, cache = impl.char_lm_forward(params, inputs, targets, (h0, c0))
    got = run(impl.char_lm_backward, cache)
    want = _numeric_grads(params, inputs, targets, h0, c0, None)["embed"]
    expect(isinstance(got.value, dict) and "embed" in got.value, f"{got}: expected a dict with 'embed'")
    expect_close(
        _of(got, got.value["embed"]),
        want,
        rtol=1e-5,
        atol=1e-8,
        what="d embed (row 2 collects the gradient of every position: np.add.at, not dembed[inputs] = dx)",
    )


@exercise("char_lm_backward")
@pytest.mark.parametrize("p", [0.25, 0.6])
def test_char_lm_backward_through_the_dropout_masks(impl, p):
    V, E, H, N, T = 9, 5, 3, 3, 4
    params, inputs, targets, (h0, c0) = _case(34, V, E, H, N, T)
    masks = _masks((N, T, E), (N, T, H), p, seed=35)
    _, _, cache = impl.char_lm_forward(params, inputs, targets, (h0, c0), p, rng(35))
    got = run(impl.char_lm_backward, cache)
    want = _numeric_grads(params, inputs, targets, h0, c0, masks)
    _expect_grads(got, got.value, want)


@exercise("char_lm_backward")
def test_char_lm_backward_long_sequence_random_state(impl):
    # 12 steps: the gradients of the LSTM's weights are sums over every step.
    V, E, H, N, T = 5, 2, 3, 1, 12
    params, inputs, targets, (h0, c0) = _case(36, V, E, H, N, T)
    _, _, cache = impl.char_lm_forward(params, inputs, targets, (h0, c0))
    got = run(impl.char_lm_backward, cache)
    _expect_grads(got, got.value, _numeric_grads(params, inputs, targets, h0, c0, None))


# ---------------------------------------------------------------------------------------------
# train_char_lm


def _train_loop(impl, params, ids, steps, batch_size, seq_len, lr, max_norm, p, seed):
    """train_char_lm written out with the learner's pieces: batch, forward, backward, clip, Adam."""
    g = rng(seed)
    H = params["Wh"].shape[0]
    zeros = (np.zeros((batch_size, H)), np.zeros((batch_size, H)))
    state, losses = None, []
    for _ in range(steps):
        inputs, targets = impl.get_batch(ids, batch_size, seq_len, g)
        loss, _, cache = impl.char_lm_forward(params, inputs, targets, zeros, p, g)
        grads, _ = impl.clip_by_global_norm(impl.char_lm_backward(cache), max_norm)
        params, state = impl.adam_step(params, grads, state, lr)
        losses.append(loss)
    return params, losses


@exercise("train_char_lm")
@pytest.mark.parametrize("p, max_norm", [(0.0, 100.0), (0.2, 0.5)])
def test_train_char_lm_matches_the_written_out_loop(impl, p, max_norm):
    V, E, H = 8, 3, 5
    params = _params(V, E, H, 40, scale=0.3)
    ids = rng(41).integers(0, V, size=60)
    got = run(impl.train_char_lm, params, ids, 4, 3, 6, 0.01, max_norm, p, rng(42))
    want_params, want_losses = _train_loop(impl, params, ids, 4, 3, 6, 0.01, max_norm, p, 42)
    expect(isinstance(got.value, tuple) and len(got.value) == 2, f"{got}: expected (params, losses)")
    trained, losses = got.value
    unclipped = {}
    if max_norm < 1:  # these steps' gradients are larger than 0.5: clipping changes them
        unclipped = {
            "forget to clip the gradients": lambda: _train_loop(
                impl, params, ids, 4, 3, 6, 0.01, np.inf, p, 42
            )[1]
        }
    expect_close(_of(got, losses), want_losses, what="the losses of the 4 steps", mistakes=unclipped)
    for name in want_params:
        expect_close(_of(got, trained[name]), want_params[name], what=f"the trained {name}")


@exercise("train_char_lm")
def test_train_char_lm_one_loss_per_step_and_fresh_batches(impl):
    V, E, H = 6, 4, 3
    params = _params(V, E, H, 43, scale=0.3)
    ids = rng(44).integers(0, V, size=80)
    got = run(impl.train_char_lm, params, ids, 5, 2, 7, 0.02, 1.0, 0.0, rng(45))
    trained, losses = got.value
    expect(
        isinstance(losses, list) and len(losses) == 5 and all(isinstance(v, float) for v in losses),
        f"{got}: expected a list of 5 Python floats (one loss per step), got {losses!r:.80}",
    )
    expect(len(set(losses)) == 5, f"{got}: equal losses {losses}: every step should draw a new batch")
    expect(set(trained) == set(params), f"{got}: the trained params should have the keys {sorted(params)}")


# The budget: E 16, H 48, batches of 64 x 16, 80 steps, Adam 3e-2, clip 1, dropout 0. Over
# 30 seeds (init rng(s), training rng(s + 1)) the reference's held-out loss on the first 4,000
# held-out characters was 3.13-3.33 bits per character (worst seed 27); the characters'
# frequencies alone give 4.68.
HELD_OUT_BPC = 3.45


@exercise("train_char_lm", timeout=60)
def test_train_char_lm_learns_the_documentation(impl):
    train_text, held_out = split_text(load_pydoc_text())
    vocab = sorted(set(train_text + held_out))
    index = {ch: i for i, ch in enumerate(vocab)}
    train_ids = np.array([index[ch] for ch in train_text])
    held_ids = np.array([index[ch] for ch in held_out[:4000]])
    params = impl.init_char_lm(len(vocab), 16, 48, rng(0))
    got = run(impl.train_char_lm, params, train_ids, 80, 64, 16, 3e-2, 1.0, 0.0, rng(1))
    trained, losses = got.value
    bpc = _model(trained, held_ids[None, :-1], held_ids[None, 1:], np.zeros((1, 48)), np.zeros((1, 48)))[
        0
    ] / math.log(2)
    expect(
        bpc < HELD_OUT_BPC,
        f"{got}: held-out loss {bpc:.2f} bits per character, expected below {HELD_OUT_BPC} "
        f"(training loss from {losses[0]:.2f} to {np.mean(losses[-10:]):.2f} nats)",
    )


# ---------------------------------------------------------------------------------------------
# evaluate_bpc


@exercise("evaluate_bpc")
@pytest.mark.parametrize("length, seq_len", [(41, 8), (30, 7), (12, 20)])
def test_evaluate_bpc_equals_one_pass_over_the_text(impl, length, seq_len):
    V, E, H = 7, 3, 4
    params = _params(V, E, H, 50)
    ids = rng(51).integers(0, V, size=length)
    zeros = np.zeros((1, H))
    _, _, per = _model(params, ids[None, :-1], ids[None, 1:], zeros, zeros)
    want = float(per.mean()) / math.log(2)

    def reset_every_window():
        chunks = [
            _model(params, ids[None, s : s + seq_len], ids[None, s + 1 : s + seq_len + 1], zeros, zeros)[2]
            for s in range(0, length - 1, seq_len)
        ]
        return float(np.concatenate(chunks, axis=1).mean()) / math.log(2)

    def mean_of_window_means():
        means = [per[0, s : s + seq_len].mean() for s in range(0, length - 1, seq_len)]
        return float(np.mean(means)) / math.log(2)

    got = run(impl.evaluate_bpc, params, ids, seq_len)
    expect(isinstance(got.value, float), f"{got}: expected a Python float")
    expect_close(
        got,
        want,
        rtol=1e-9,
        mistakes={
            "restart every window from zero states instead of carrying (h, c) on": reset_every_window,
            "forget to convert nats to bits (divide by ln 2)": want * math.log(2),
            "average the windows' mean losses (the short last window weighs as much as a full one)": (
                mean_of_window_means
            ),
        },
    )


@exercise("evaluate_bpc")
def test_evaluate_bpc_uniform_model_costs_log2_v(impl):
    # A zero output layer predicts every character with probability 1/V: log2(V) bits each.
    V, E, H = 11, 3, 5
    params = _params(V, E, H, 52)
    params["W_out"], params["b_out"] = np.zeros((H, V)), np.zeros(V)
    got = run(impl.evaluate_bpc, params, rng(53).integers(0, V, size=25), 6)
    expect_close(got, math.log2(V), mistakes={"forget to convert nats to bits (divide by ln 2)": math.log(V)})


@exercise("evaluate_bpc")
def test_evaluate_bpc_does_not_depend_on_the_window(impl):
    V, E, H = 6, 4, 3
    params = _params(V, E, H, 54)
    ids = rng(55).integers(0, V, size=30)
    first = run(impl.evaluate_bpc, params, ids, 29).value
    for seq_len in (1, 4, 100):
        got = run(impl.evaluate_bpc, params, ids, seq_len)
        expect_close(got, first, rtol=1e-9, what=f"with windows of {seq_len} (the state carried on)")


# ---------------------------------------------------------------------------------------------
# sample


def _sample(params, prefix, n, temperature, seed):
    """The documented sampler: run over prefix + the ids drawn so far, from zero states."""
    g = rng(seed)
    H = params["Wh"].shape[0]
    seq = list(prefix)
    for _ in range(n):
        x = params["embed"][np.array(seq)][None]
        hs, _ = _lstm(x, np.zeros((1, H)), np.zeros((1, H)), params["Wx"], params["Wh"], params["b"])
        logits = hs[0, -1] @ params["W_out"] + params["b_out"]
        if temperature == 0:
            seq.append(int(np.argmax(logits)))
            continue
        z = logits / temperature
        q = np.exp(z - z.max())
        q /= q.sum()
        u = g.random()
        seq.append(min(int(np.searchsorted(np.cumsum(q), u, side="right")), len(q) - 1))
    return np.array(seq[len(prefix) :], dtype=np.int64)


@exercise("sample")
def test_sample_greedy_at_temperature_zero(impl):
    params = _params(9, 4, 6, 60, scale=1.0)
    prefix = np.array([3, 1, 4])
    got = run(impl.sample, params, prefix, 12, 0.0, rng(61))
    want = _sample(params, prefix, 12, 0.0, 61)
    expect_equal(
        got,
        want,
        mistakes={
            "read only the last character of the prefix": lambda: _sample(params, prefix[-1:], 12, 0.0, 61),
        },
    )
    again = run(impl.sample, params, prefix, 12, 0.0, rng(62))
    expect_equal(again, want, what="greedy decoding does not depend on the rng")


@exercise("sample")
@pytest.mark.parametrize("temperature", [1.0, 0.6, 2.5])
def test_sample_inverse_cdf_with_temperature(impl, temperature):
    params = _params(8, 3, 5, 63)
    prefix = np.array([2, 7])
    got = run(impl.sample, params, prefix, 20, temperature, rng(64))
    expect_equal(
        got,
        _sample(params, prefix, 20, temperature, 64),
        mistakes={
            "ignore the temperature": lambda: _sample(params, prefix, 20, 1.0, 64),
            "multiply the logits by the temperature instead of dividing": lambda: _sample(
                params, prefix, 20, 1 / temperature, 64
            ),
        },
    )


@exercise("sample")
def test_sample_low_temperature_does_not_overflow(impl):
    params = _params(6, 3, 4, 65, scale=1.0)
    params["W_out"] = params["W_out"] * 50  # logits of several hundred: / 0.01 gives ~10^4
    prefix = np.array([1])
    got = run_without_warnings(impl.sample, params, prefix, 8, 0.01, rng(66))
    expect_equal(got, _sample(params, prefix, 8, 0.01, 66))


class _TopOfRange(np.random.Generator):
    """A generator whose random() always returns the largest double below 1."""

    def random(self, *args, **kwargs):
        return 1.0 - 2.0**-53


@exercise("sample")
def test_sample_when_rounding_leaves_no_id(impl):
    # Logits whose probabilities, rounded, sum to just below u = 1 - 2^-53: no cumulative
    # probability exceeds u, and the docstring says to take the last id, V - 1.
    g = rng(0)
    while True:
        z = 2 * g.normal(size=7)
        q = np.exp(z - z.max())
        q /= q.sum()
        if np.cumsum(q)[-1] < 1.0 - 2.0**-53:
            break
    params = _params(7, 3, 4, 67)
    params["W_out"], params["b_out"] = np.zeros((4, 7)), z  # the logits are z at every step
    got = run(impl.sample, params, np.array([0]), 3, 1.0, _TopOfRange(np.random.PCG64(0)))
    expect_equal(got, np.full(3, 6, dtype=np.int64), what="with u = 1 - 2^-53 at every draw")
