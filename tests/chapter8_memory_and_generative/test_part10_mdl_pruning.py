"""Tests for chapter 8, part 10: magnitude pruning, quantisation, and the two parts of the
description length of a network and its training labels.

Expected values come from this file: masks found by counting, for each weight, how many
weights are smaller (ties by position); quantisation written with integer levels; label
bits from log-probabilities in bits; mask costs from exact binomial coefficients
(math.comb); and a pruning curve written out. On the digits, the description length of a
trained MLP must fall when most of its weights are pruned and rise again when nearly all are.
"""

import math

import numpy as np

from coursedata import load_digits
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


def _masks_by_counting(weights, fraction, scope, order=1.0):
    """Entry i is pruned when fewer than k entries come before it in the order (|w|, position).
    order = −1 ranks from the largest down (a wrong version); signed=True ranks w itself."""
    groups = [[w] for w in weights] if scope == "layer" else [list(weights)]
    masks = []
    for group in groups:
        a = np.concatenate([np.abs(w).ravel() for w in group]) * order
        k = math.floor(fraction * a.size)
        pos = np.arange(a.size)
        before = (a[None, :] < a[:, None]) | ((a[None, :] == a[:, None]) & (pos[None, :] < pos[:, None]))
        keep = before.sum(axis=1) >= k
        start = 0
        for w in group:
            masks.append(keep[start : start + w.size].reshape(w.shape))
            start += w.size
    return masks


def _weights(seed, shapes=((5, 4), (4, 3)), scales=(1.0, 0.2)):
    g = rng(seed)
    return [s * g.normal(size=shape) for shape, s in zip(shapes, scales)]


def _expect_masks(call, want, what, mistakes=None):
    got = call.value
    expect(
        isinstance(got, (list, tuple)) and len(got) == len(want),
        f"{call}: return a list of {len(want)} masks, one per weight array",
    )
    for i, (g, w) in enumerate(zip(got, want)):
        expect(
            isinstance(g, np.ndarray) and g.dtype == bool,
            f"{call}: mask {i} must be a boolean array (True = kept), "
            f"got {getattr(g, 'dtype', type(g).__name__)}",
        )
        expect_equal(
            Call(g, str(call)),
            w,
            what=f"{what}, mask {i}",
            mistakes={phrase: answer[i] for phrase, answer in (mistakes or {}).items()},
        )


# --- magnitude_masks ----------------------------------------------------------------------------


@exercise("magnitude_masks")
def test_magnitude_masks_per_layer(impl):
    weights = _weights(1)
    want = _masks_by_counting(weights, 0.5, "layer")
    _expect_masks(
        run(impl.magnitude_masks, weights, 0.5, "layer"),
        want,
        "half of each layer pruned, the smallest |w|",
        mistakes={
            "prune the largest weights instead of the smallest": _masks_by_counting(
                weights, 0.5, "layer", -1.0
            ),
            "prune the whole network's smallest weights when scope is 'layer'": _masks_by_counting(
                weights, 0.5, "global"
            ),
            "return True for the pruned entries (True means kept)": [~m for m in want],
        },
    )


@exercise("magnitude_masks")
def test_magnitude_masks_global(impl):
    weights = _weights(2)  # the second layer's weights are five times smaller
    want = _masks_by_counting(weights, 0.6, "global")
    signed = [
        m
        for m in _masks_by_counting([np.exp(w) for w in weights], 0.6, "global")  # exp keeps the order of w
    ]
    _expect_masks(
        run(impl.magnitude_masks, weights, 0.6, "global"),
        want,
        "60% of all weights pruned, smallest |w| over all layers together",
        mistakes={
            "prune each layer separately when scope is 'global'": _masks_by_counting(weights, 0.6, "layer"),
            "rank the signed weights instead of their magnitudes |w|": signed,
        },
    )
    got = impl.magnitude_masks(weights, 0.6, "global")
    expect(
        (~got[1]).mean() > (~got[0]).mean(),
        "magnitude_masks(scope='global'): the layer of small weights should lose more of them",
    )


@exercise("magnitude_masks")
def test_magnitude_masks_by_hand_ties_and_counts(impl):
    w = [np.array([[0.0, 0.0, 1.0], [-1.0, 2.0, 0.0]])]
    # k = floor(0.5 · 6) = 3: the three zeros go (first the ones earlier in the row order).
    want = [np.array([[False, False, True], [True, True, False]])]
    _expect_masks(run(impl.magnitude_masks, w, 0.5, "layer"), want, "fraction 0.5 of |w| = 0 0 1 / 1 2 0")
    # k = floor(0.7 · 6) = 4: the three zeros, then 1.0 before −1.0 (it comes first).
    want = [np.array([[False, False, False], [True, True, False]])]
    _expect_masks(
        run(impl.magnitude_masks, w, 0.7, "layer"),
        want,
        "fraction 0.7: k = floor(4.2) = 4, ties broken by position",
        mistakes={
            "round up k = ceil(fraction · n) instead of floor": [
                np.array([[False, False, False], [False, True, False]])
            ]
        },
    )
    _expect_masks(
        run(impl.magnitude_masks, w, 0.45, "global"),
        [np.array([[False, False, True], [True, True, True]])],
        "fraction 0.45: k = floor(2.7) = 2",
        mistakes={"round k to the nearest integer instead of flooring it": [want[0]]},
    )
    _expect_masks(
        run(impl.magnitude_masks, w, 0.0, "global"), [np.ones((2, 3), bool)], "fraction 0 keeps all"
    )
    _expect_masks(
        run(impl.magnitude_masks, w, 1.0, "layer"), [np.zeros((2, 3), bool)], "fraction 1 prunes all"
    )


@exercise("magnitude_masks")
def test_magnitude_masks_many_ties_follow_position(impl):
    # Weights on a grid of halves: dozens of equal |w|, so the k-th smallest sits inside a long
    # run of ties. np.argsort's default (quicksort) and np.argpartition choose among ties in no
    # stated order; the docstring asks for the earlier position first.
    g = rng(3)
    weights = [np.round(2 * g.normal(size=(8, 10))) / 2, np.round(2 * g.normal(size=(10, 4))) / 2]
    for scope, fraction in (("layer", 0.5), ("global", 0.4)):
        _expect_masks(
            run(impl.magnitude_masks, weights, fraction, scope),
            _masks_by_counting(weights, fraction, scope),
            f"scope {scope!r}, fraction {fraction}, many equal |w|: among equal |w| the earlier position "
            "(row by row, layers in order) is pruned first; np.argsort(..., kind='stable') does that",
        )


# --- quantize -----------------------------------------------------------------------------------


def _quantize(w, bits, levels=None, rounding=np.round):
    top = np.abs(w).max()
    if top == 0:
        return np.zeros_like(w)
    levels = 2 ** (bits - 1) - 1 if levels is None else levels
    step = top / levels
    return rounding(w / step) * step


@exercise("quantize")
def test_quantize_rounds_to_the_nearest_level(impl):
    w = rng(11).normal(size=(6, 5))
    step = np.abs(w).max() / 7
    expect_close(
        run(impl.quantize, w, 4),
        _quantize(w, 4),
        rtol=1e-10,
        atol=1e-12,
        what="4 bits: levels step · {−7, …, 7}, step = max|w| / 7",
        mistakes={
            "use 2^bits − 1 levels on each side (step = max|w| / 15)": _quantize(w, 4, levels=15),
            "use step = max|w| / 2^(bits−1) (±max|w| is then not a level)": _quantize(w, 4, levels=8),
            "truncate toward zero instead of rounding": _quantize(w, 4, rounding=np.trunc),
            "return the integer levels without multiplying by the step": np.round(w / step),
        },
    )


@exercise("quantize")
def test_quantize_by_hand(impl):
    w = np.array([0.9, -0.2, 0.0, 0.5])  # no entry lies on a half-way point between levels
    # 2 bits: step 0.9, w / step = 1, −0.22, 0, 0.56 → 1, 0, 0, 1.
    expect_close(run(impl.quantize, w, 2), np.array([0.9, 0.0, 0.0, 0.9]), what="2 bits, step 0.9")
    # 3 bits: step 0.3, w / step = 3, −0.67, 0, 1.67 → 3, −1, 0, 2.
    expect_close(
        run(impl.quantize, w, 3),
        np.array([0.9, -0.3, 0.0, 0.6]),
        what="3 bits, step 0.3",
        mistakes={"truncate toward zero instead of rounding": np.array([0.9, 0.0, 0.0, 0.3])},
    )


@exercise("quantize")
def test_quantize_keeps_zeros_shape_and_is_idempotent(impl):
    expect_close(run(impl.quantize, np.zeros((2, 3)), 4), np.zeros((2, 3)), what="zeros stay zeros")
    w = rng(12).normal(size=(3, 4)) * (rng(13).random((3, 4)) > 0.5)  # about half exactly zero
    call = run(impl.quantize, w, 5)
    q = call.value
    expect_close(
        Call(q[w == 0], str(call)), np.zeros(int((w == 0).sum())), what="pruned (zero) weights stay 0"
    )
    expect_close(run(impl.quantize, q, 5), q, rtol=1e-12, atol=1e-15, what="quantising twice changes nothing")
    expect(
        len(np.unique(np.round(q / (np.abs(w).max() / 15)))) <= 31,
        f"{call}: 5 bits allow at most 31 levels",
    )


# --- label_bits ---------------------------------------------------------------------------------


def _label_bits(logits, labels):
    log_p = logits - logits.max(axis=1, keepdims=True)
    log_p = log_p - np.log(np.exp(log_p).sum(axis=1, keepdims=True))
    return -log_p[np.arange(len(labels)), labels].sum() / np.log(2)


@exercise("label_bits")
def test_label_bits_sums_minus_log2_probabilities(impl):
    g = rng(21)
    logits, labels = 2 * g.normal(size=(7, 4)), g.integers(0, 4, size=7)
    want = _label_bits(logits, labels)
    call = run(impl.label_bits, logits, labels)
    expect(isinstance(call.value, float), f"{call}: return a Python float, got {type(call.value).__name__}")
    expect_close(
        call,
        want,
        rtol=1e-10,
        what="Σ_n −log₂ softmax(logits_n)[y_n]",
        mistakes={
            "use the natural log (nats) instead of log₂ (bits)": want * np.log(2),
            "average over the examples instead of summing": want / 7,
            "forget the minus sign": -want,
        },
    )


@exercise("label_bits")
def test_label_bits_by_hand(impl):
    expect_close(
        run(impl.label_bits, np.zeros((5, 10)), np.arange(5)),
        5 * math.log2(10),
        rtol=1e-10,
        what="uniform over 10 classes: log₂ 10 bits per label",
    )
    expect_close(
        run(impl.label_bits, np.array([[0.0, np.log(3.0)], [0.0, np.log(3.0)]]), np.array([1, 0])),
        -math.log2(0.75) + 2.0,
        rtol=1e-10,
        what="p = (¼, ¾): −log₂ ¾ for label 1, 2 bits for label 0",
    )


@exercise("label_bits")
def test_label_bits_is_stable_for_huge_logits(impl):
    # The third row lies 2000 below the others: shift each row by its own largest logit.
    logits = np.array([[1000.0, 0.0, -1000.0], [1000.0, -1000.0, 0.0], [-1000.0, -1000.0, -2000.0]])
    expect_close(
        run_without_warnings(impl.label_bits, logits, np.array([0, 2, 1])),
        1000.0 / math.log(2) + 1.0,
        rtol=1e-10,
        what="logits ±1000: 0 bits for a certain right label, 1000 / ln 2 for a label 1000 nats less "
        "likely, 1 bit for one of two equal logits in a row far below the others",
    )


# --- weight_bits --------------------------------------------------------------------------------


def _weight_bits(masks, bias_sizes, bits, mask_cost=True, pruned_cost=False, step_cost=32):
    total = 0.0
    for m in masks:
        n, k = m.size, int(m.sum())
        total += (math.log2(math.comb(n, k)) if mask_cost else 0.0) + bits * (n if pruned_cost else k)
        total += step_cost
    return total + sum(bits * s + step_cost for s in bias_sizes)


def _random_masks(seed, shapes=((6, 5), (5, 3)), keep=0.4):
    g = rng(seed)
    return [g.random(shape) < keep for shape in shapes]


@exercise("weight_bits")
def test_weight_bits_counts_mask_values_and_steps(impl):
    masks = _random_masks(31)
    want = _weight_bits(masks, [5, 3], 4)
    call = run(impl.weight_bits, masks, [5, 3], 4)
    expect(isinstance(call.value, float), f"{call}: return a Python float, got {type(call.value).__name__}")
    expect_close(
        call,
        want,
        rtol=1e-10,
        what="Σ (log₂ C(n, k) + bits · k + 32) + Σ_biases (bits · size + 32)",
        mistakes={
            "forget the cost of saying which weights are kept (log₂ C(n, k))": _weight_bits(
                masks, [5, 3], 4, mask_cost=False
            ),
            "charge bits for every weight, pruned or not": _weight_bits(masks, [5, 3], 4, pruned_cost=True),
            "forget the 32 bits of each array's quantisation step": _weight_bits(
                masks, [5, 3], 4, step_cost=0
            ),
            "use the natural log for log C(n, k)": lambda: (
                want
                + sum(
                    math.log(math.comb(m.size, int(m.sum()))) - math.log2(math.comb(m.size, int(m.sum())))
                    for m in masks
                )
            ),
        },
    )


@exercise("weight_bits")
def test_weight_bits_by_hand(impl):
    full = [np.ones((2, 3), bool)]
    expect_close(
        run(impl.weight_bits, full, [3], 8),
        8 * 6 + 32 + 8 * 3 + 32.0,
        rtol=1e-10,
        what="nothing pruned: C(6, 6) = 1 costs 0 bits; 6 weights and 3 biases of 8 bits, two steps",
    )
    half = [np.array([True, False, True, False])]
    expect_close(
        run(impl.weight_bits, half, [], 2),
        math.log2(6) + 2 * 2 + 32,
        rtol=1e-10,
        what="2 of 4 kept: log₂ C(4, 2) = log₂ 6 bits for the mask, 2 weights of 2 bits, one step",
    )


@exercise("weight_bits")
def test_weight_bits_for_a_large_layer(impl):
    g = rng(32)
    masks = [g.random((300, 400)) < 0.3]  # factorials far beyond a float: use log-gamma
    expect_close(
        run(impl.weight_bits, masks, [400], 6),
        _weight_bits(masks, [400], 6),
        rtol=1e-10,
        what="120,000 weights, about 36,000 kept",
    )


# --- description_length -------------------------------------------------------------------------


def _net(seed, sizes=(6, 5, 3)):
    g = rng(seed)
    return [
        (g.normal(size=(m, n)) / np.sqrt(m), 0.3 * g.normal(size=n)) for m, n in zip(sizes[:-1], sizes[1:])
    ]


def _logits(layers, x):
    h = x
    for i, (W, b) in enumerate(layers):
        h = h @ W + b
        h = np.maximum(h, 0) if i < len(layers) - 1 else h
    return h


def _description_length(layers, masks, bits, x, y, variant=""):
    if variant == "no quantisation":
        coded = [(W * m, b) for (W, b), m in zip(layers, masks)]
    elif variant == "mask after":
        coded = [(_quantize(W, bits) * m, _quantize(b, bits)) for (W, b), m in zip(layers, masks)]
    elif variant == "no mask":
        coded = [(_quantize(W, bits), _quantize(b, bits)) for W, b in layers]
    else:
        coded = [(_quantize(W * m, bits), _quantize(b, bits)) for (W, b), m in zip(layers, masks)]
    return _weight_bits(masks, [b.size for _, b in layers], bits), _label_bits(_logits(coded, x), y)


def _case(seed, n=8):
    g = rng(seed)
    return g.normal(size=(n, 6)), g.integers(0, 3, size=n)


@exercise("description_length")
def test_description_length_codes_the_pruned_quantised_network(impl):
    layers, (x, y) = _net(41), _case(42)
    masks = _random_masks(43, shapes=((6, 5), (5, 3)), keep=0.6)
    for (W, _), m in zip(layers, masks):
        m.flat[np.argmax(np.abs(W))] = False  # the largest |w| pruned: the step is max|W · mask| / 3
    call = run(impl.description_length, layers, masks, 3, x, y)
    got = expect_parts(call, ("weight_bits", "data_bits"))
    want = _description_length(layers, masks, 3, x, y)
    expect_close(Call(got[0], str(call)), want[0], rtol=1e-10, what="L(w)")
    expect_close(
        Call(got[1], str(call)),
        want[1],
        rtol=1e-10,
        what="L(D | w), the labels' bits under the pruned, quantised network",
        mistakes={
            "use the unquantised (pruned) weights for the labels": _description_length(
                layers, masks, 3, x, y, "no quantisation"
            )[1],
            "forget to apply the masks before quantising": _description_length(
                layers, masks, 3, x, y, "no mask"
            )[1],
            "quantise W and then mask it (the step must come from the kept weights, max|W · mask|)": (
                _description_length(layers, masks, 3, x, y, "mask after")[1]
            ),
            "use the natural log (nats)": want[1] * np.log(2),
        },
    )


@exercise("description_length")
def test_description_length_with_nothing_pruned_and_many_bits(impl):
    layers, (x, y) = _net(44), _case(45, n=12)
    masks = [np.ones(W.shape, bool) for W, _ in layers]
    call = run(impl.description_length, layers, masks, 40, x, y)
    w_bits, d_bits = expect_parts(call, ("weight_bits", "data_bits"))
    expect_close(
        Call(d_bits, str(call)),
        _label_bits(_logits(layers, x), y),
        rtol=1e-8,
        what="at 40 bits the quantised network is the network: the labels' bits are the model's",
    )
    expect_close(
        Call(w_bits, str(call)),
        40.0 * (30 + 15 + 5 + 3) + 4 * 32,
        rtol=1e-10,
        what="L(w) with nothing pruned: 40 bits per parameter, 32 per array",
    )


@exercise("description_length")
def test_description_length_pruning_everything_leaves_the_biases(impl):
    layers, (x, y) = _net(46), _case(47)
    masks = [np.zeros(W.shape, bool) for W, _ in layers]
    call = run(impl.description_length, layers, masks, 6, x, y)
    _, d_bits = expect_parts(call, ("weight_bits", "data_bits"))
    coded = [(0 * W, _quantize(b, 6)) for W, b in layers]
    expect_close(
        Call(d_bits, str(call)),
        _label_bits(_logits(coded, x), y),
        rtol=1e-10,
        what="every weight pruned: the logits are the (quantised) biases' alone",
    )


# --- pruning_curve ------------------------------------------------------------------------------


@exercise("pruning_curve")
def test_pruning_curve_matches_a_loop_written_out(impl):
    layers, (x, y) = _net(51), _case(52, n=10)
    fractions = [0.0, 0.3, 0.6, 0.9]
    for scope in ("global", "layer"):
        call = run(impl.pruning_curve, layers, fractions, 4, x, y, scope)
        got = call.value
        expect(
            isinstance(got, dict) and {"weight_bits", "data_bits", "total_bits"} <= set(got),
            f"{call}: return a dict with the keys weight_bits, data_bits, total_bits",
        )
        want = [
            _description_length(layers, _masks_by_counting([W for W, _ in layers], f, scope), 4, x, y)
            for f in fractions
        ]
        other = "layer" if scope == "global" else "global"
        ignored = [
            _description_length(layers, _masks_by_counting([W for W, _ in layers], f, other), 4, x, y)
            for f in fractions
        ]
        for i, key in enumerate(("weight_bits", "data_bits")):
            expect_close(
                Call(np.asarray(got[key], dtype=float), str(call)),
                np.array([w[i] for w in want]),
                rtol=1e-10,
                what=f"{key}, scope {scope!r}",
                mistakes={f"ignore scope and prune with scope {other!r}": np.array([w[i] for w in ignored])},
            )
        expect_close(
            Call(np.asarray(got["total_bits"], dtype=float), str(call)),
            np.array([a + b for a, b in want]),
            rtol=1e-10,
            what="total_bits = weight_bits + data_bits",
        )


@exercise("pruning_curve")
def test_pruning_curve_of_nothing_pruned_is_the_full_cost(impl):
    layers, (x, y) = _net(53), _case(54)
    call = run(impl.pruning_curve, layers, [0.0], 5, x, y)
    expect_close(
        Call(np.asarray(call.value["weight_bits"], dtype=float), str(call)),
        np.array([5.0 * (30 + 15 + 5 + 3) + 4 * 32]),
        rtol=1e-10,
        what="fraction 0: every parameter at 5 bits, 32 bits per array, no mask cost",
    )


@exercise("pruning_curve", timeout=30)
def test_pruning_trades_weight_bits_for_label_bits_on_the_digits(impl):
    digits = load_digits()
    x, y = digits.images, digits.labels
    net = impl.train_mlp(x, y, [64, 16, 10], 20, rng(60))
    total = impl.pruning_curve(net, [0.0, 0.7, 0.95], 4, x, y)["total_bits"]
    raw = len(y) * math.log2(10)
    expect(
        total[1] < 0.9 * min(total[0], total[2], raw),
        "pruning_curve on a 64-16-10 MLP trained on all the digits, 4 bits: total description length "
        f"{total[0]:.0f} bits with nothing pruned, {total[1]:.0f} with 70% pruned, {total[2]:.0f} "
        f"with 95% pruned, {raw:.0f} for the labels sent raw; 70% pruned must be at least 10% below "
        "all three (the reference: about 5,360, 3,950, 6,270 and 5,970)",
    )


# --- gaussian_weight_bits -----------------------------------------------------------------------


def _kl_bits_by_integration(mu, logvar, prior_var):
    """Σ ∫ q log₂(q / p) over a grid of 40,001 points spanning μ ± 14 s (the trapezoid rule)."""
    total = 0.0
    for m, lv in zip(np.ravel(mu), np.ravel(logvar)):
        s = np.exp(lv / 2)
        z = np.linspace(m - 14 * s, m + 14 * s, 40001)
        log_q = -0.5 * ((z - m) / s) ** 2 - np.log(s) - 0.5 * np.log(2 * np.pi)
        log_p = -0.5 * z**2 / prior_var - 0.5 * np.log(2 * np.pi * prior_var)
        f = np.exp(log_q) * (log_q - log_p)
        total += np.sum((f[1:] + f[:-1]) / 2) * (z[1] - z[0])
    return total / np.log(2)


def _kl_bits(mu, logvar, prior_var):
    return 0.5 * np.sum((np.exp(logvar) + mu**2) / prior_var - 1 - logvar + np.log(prior_var)) / np.log(2)


@exercise("gaussian_weight_bits")
def test_gaussian_weight_bits_matches_numerical_integration(impl):
    g = rng(71)
    mu, logvar = 0.5 * g.normal(size=(2, 3)), g.uniform(-3.0, -0.5, size=(2, 3))
    want = _kl_bits_by_integration(mu, logvar, 0.3)
    call = run(impl.gaussian_weight_bits, mu, logvar, 0.3)
    expect(isinstance(call.value, float), f"{call}: return a Python float, got {type(call.value).__name__}")
    expect_close(
        call,
        want,
        rtol=1e-6,
        what="Σ KL(N(μ, s²) ‖ N(0, 0.3)) in bits (numerical integration)",
        mistakes={
            "give the answer in nats instead of bits": want * np.log(2),
            "use the standard normal N(0, 1) as the prior, ignoring prior_var": _kl_bits(mu, logvar, 1.0),
            "flip the sign": -want,
        },
    )


@exercise("gaussian_weight_bits")
def test_gaussian_weight_bits_by_hand(impl):
    expect_close(
        run(impl.gaussian_weight_bits, np.zeros(4), np.full(4, np.log(0.5)), 0.5),
        0.0,
        atol=1e-12,
        what="weights distributed exactly as the prior cost nothing",
    )
    # One weight, μ = 1, s² = prior_var = 1: ½ μ² = ½ nat = 1 / (2 ln 2) bits.
    expect_close(
        run(impl.gaussian_weight_bits, np.array([1.0]), np.array([0.0]), 1.0),
        0.5 / np.log(2),
        rtol=1e-10,
        what="μ = 1, s² = 1 against N(0, 1): ½ nat",
        mistakes={"give the answer in nats instead of bits": 0.5},
    )


@exercise("gaussian_weight_bits")
def test_gaussian_weight_bits_sharp_weights_cost_more(impl):
    # A weight known to precision s costs about log₂(σ_prior / s) bits: halving s adds one bit.
    mu = np.array([0.0])
    wide = impl.gaussian_weight_bits(mu, np.array([np.log(0.01**2)]), 1.0)
    sharp = impl.gaussian_weight_bits(mu, np.array([np.log(0.005**2)]), 1.0)
    expect(
        abs((sharp - wide) - 1.0) < 1e-4,
        f"gaussian_weight_bits: halving s (0.01 → 0.005) should add one bit (log₂ 2); got {sharp - wide:.5f} "
        "(is logvar log s², and the answer in bits?)",
    )
