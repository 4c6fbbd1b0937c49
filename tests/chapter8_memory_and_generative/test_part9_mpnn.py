"""Tests for chapter 8, part 9: aggregation, readout, one message-passing step forward and
backward, and the whole network forward and backward.

Expected values come from this file: sums written as loops over edges and nodes, and a
network that sends one message at a time. Backward passes are checked against central
differences of that forward pass for L = sum(dout * out). The graphs are small, with
repeated targets, a node without edges and graphs of different sizes, so that a sum that
keeps only one message per node, or ignores the graph a node belongs to, shows.
"""

import numpy as np

from grader.testkit import (
    Call,
    exercise,
    expect,
    expect_close,
    expect_parts,
    numeric_grad,
    numeric_param_grads,
    rng,
    run,
)

STEP_KEYS = ("W_msg", "b_msg", "W_self", "W_nbr", "b_upd")
KEYS = ("W_in", "b_in", *STEP_KEYS, "W_out", "b_out")

# Two graphs: nodes 0-3 (a triangle 0-1-2 and the edge 2-3) and nodes 4-6 (the edge 4-5;
# node 6 alone). Every undirected edge in both directions.
_UNDIRECTED = [(0, 1), (1, 2), (0, 2), (2, 3), (4, 5)]
EDGES = np.array(_UNDIRECTED + [(b, a) for a, b in _UNDIRECTED])
GRAPH = np.array([0, 0, 0, 0, 1, 1, 1])
V, D = 7, 3


def _aggregate(messages, targets, n):
    out = np.zeros((n, messages.shape[1]))
    for e, v in enumerate(targets):
        out[v] += messages[e]
    return out


def _readout(h, graph, n_graphs, mean=False):
    out = np.zeros((n_graphs, h.shape[1]))
    count = np.zeros(n_graphs)
    for v, g in enumerate(graph):
        out[g] += h[v]
        count[g] += 1
    return out / np.maximum(count, 1)[:, None] if mean else out


def _expect_dtype(call, value, dtype, what):
    expect(
        getattr(value, "dtype", None) == dtype,
        f"{call}: {what} has dtype {getattr(value, 'dtype', None)}; "
        f"float32 inputs must give {np.dtype(dtype)}",
    )


# --- aggregate ----------------------------------------------------------------------------------


@exercise("aggregate")
def test_aggregate_adds_every_message_into_its_target(impl):
    messages = rng(1).normal(size=(len(EDGES), D))
    targets = EDGES[:, 1]
    expect_close(
        run(impl.aggregate, messages, targets, V),
        _aggregate(messages, targets, V),
        what="the sums of the messages into each node",
        mistakes={
            "write out[targets] += messages (a buffered add keeps one message per node)": lambda: _buffered(
                messages, targets, V
            ),
            "aggregate by the sources instead of the targets": lambda: _aggregate(messages, EDGES[:, 0], V),
        },
    )


def _buffered(messages, targets, n):
    out = np.zeros((n, messages.shape[1]))
    out[targets] += messages
    return out


@exercise("aggregate")
def test_aggregate_by_hand(impl):
    messages = np.array([[1.0], [2.0], [4.0]])
    targets = np.array([1, 1, 3])
    expect_close(
        run(impl.aggregate, messages, targets, 5),
        np.array([[0.0], [3.0], [0.0], [4.0], [0.0]]),
        rtol=0,
        atol=0,
        what="node 1 gets 1 + 2, node 3 gets 4, nodes 0, 2 and 4 get nothing",
        mistakes={
            "write out[targets] += messages (a buffered add keeps one message per node)": np.array(
                [[0.0], [2.0], [0.0], [4.0], [0.0]]
            )
        },
    )


@exercise("aggregate")
def test_aggregate_keeps_float32(impl):
    messages = rng(2).normal(size=(len(EDGES), D)).astype(np.float32)
    call = run(impl.aggregate, messages, EDGES[:, 1], V)
    _expect_dtype(call, call.value, np.float32, "the sums")
    expect_close(call, _aggregate(messages, EDGES[:, 1], V), rtol=1e-4, atol=1e-5, what="the sums")


# --- readout ------------------------------------------------------------------------------------


@exercise("readout")
def test_readout_sums_and_averages_each_graphs_nodes(impl):
    h = rng(3).normal(size=(V, D))
    sums = _readout(h, GRAPH, 2)
    expect_close(
        run(impl.readout, h, GRAPH, 2),
        sums,
        what="the sum readout",
        mistakes={"add up every node of the batch for every graph": lambda: np.tile(h.sum(0), (2, 1))},
    )
    expect_close(
        run(impl.readout, h, GRAPH, 2, mean=True),
        _readout(h, GRAPH, 2, mean=True),
        what="the mean readout",
        mistakes={
            "return the sums for mean=True": sums,
            "divide by the number of graphs": lambda: sums / 2,
            "divide every graph by the total number of nodes": lambda: sums / V,
        },
    )


@exercise("readout")
def test_readout_does_not_depend_on_the_order_of_the_nodes(impl):
    h = rng(4).normal(size=(9, D))
    graph = np.array([2, 0, 0, 1, 2, 2, 0, 4, 2])  # graphs 1 and 4 have one node each, graph 3 none
    want = _readout(h, graph, 5)
    expect_close(run(impl.readout, h, graph, 5), want, what="the sum readout (graph 3 has no nodes)")
    expect_close(
        run(impl.readout, h, graph, 7, mean=True),
        _readout(h, graph, 7, mean=True),
        what="the mean readout with n_graphs = 7 (graphs 3, 5 and 6 have no nodes: one row per graph, "
        "zeros for an empty one, even after the last graph that has nodes)",
    )
    for seed in (5, 6):
        order = rng(seed).permutation(9)
        call = run(impl.readout, h[order], graph[order], 5, mean=True)
        expect_close(
            Call(call.value, f"{call} with the nodes in the order {order.tolist()}"),
            _readout(h, graph, 5, mean=True),
            what="the mean readout of the same graphs with their nodes stored in another order "
            "(graphs 1 and 4 have one node, graph 3 none)",
            mistakes={
                "take the last node of each graph": lambda order=order: _last(h[order], graph[order], 5)
            },
        )


def _last(h, graph, n_graphs):
    out = np.zeros((n_graphs, h.shape[1]))
    for v, g in enumerate(graph):
        out[g] = h[v]
    return out


@exercise("readout")
def test_readout_keeps_float32(impl):
    h = rng(7).normal(size=(V, D)).astype(np.float32)
    for mean in (False, True):
        call = run(impl.readout, h, GRAPH, 2, mean=mean)
        _expect_dtype(call, call.value, np.float32, "the readout")
        expect_close(
            call, _readout(h, GRAPH, 2, mean), rtol=1e-4, atol=1e-5, what=f"the readout (mean={mean})"
        )


# --- mp_step_forward / mp_step_backward ---------------------------------------------------------


def _params(seed, d_in=2, hidden=D, classes=2):
    g = rng(seed)
    shapes = {
        "W_in": (d_in, hidden),
        "b_in": (hidden,),
        "W_msg": (2 * hidden, hidden),
        "b_msg": (hidden,),
        "W_self": (hidden, hidden),
        "W_nbr": (hidden, hidden),
        "b_upd": (hidden,),
        "W_out": (hidden, classes),
        "b_out": (classes,),
    }
    return {k: g.normal(size=s) / (np.sqrt(s[0]) if len(s) == 2 else 3) for k, s in shapes.items()}


def _step(h, edges, p, variant=""):
    """One step, one message at a time; variant makes the classic wrong versions."""
    n, d = h.shape
    a = np.zeros((n, p["W_nbr"].shape[0]))
    for w, v in edges:
        first, second = (h[w], h[v]) if variant == "source first" else (h[v], h[w])
        m = np.maximum(np.concatenate([first, second]) @ p["W_msg"] + p["b_msg"], 0)
        a[w if variant == "to sources" else v] += m
    self_term = 0.0 if variant == "no self" else h @ p["W_self"]
    return np.maximum(self_term + a @ p["W_nbr"] + p["b_upd"], 0)


@exercise("mp_step_forward")
def test_mp_step_forward_sends_a_message_along_every_edge(impl):
    h = rng(10).normal(size=(V, D))
    p = _params(11)
    call = run(impl.mp_step_forward, h, EDGES, p)
    h_new, _ = expect_parts(call, ("h_new", "cache"), [(V, D), None])
    expect_close(
        Call(h_new, str(call)),
        _step(h, EDGES, p),
        what="h_new",
        mistakes={
            "put the source's features first in [h_v, h_w]": lambda: _step(h, EDGES, p, "source first"),
            "add each message into its source instead of its target": lambda: _step(
                h, EDGES, p, "to sources"
            ),
            "leave out the node's own term h @ W_self": lambda: _step(h, EDGES, p, "no self"),
        },
    )


@exercise("mp_step_forward")
def test_mp_step_forward_on_one_way_edges(impl):
    # Edges in one direction only, a target reached twice: the direction matters.
    edges = np.array([[0, 1], [2, 1], [1, 3]])
    h = rng(12).normal(size=(4, D))
    p = _params(13)
    call = run(impl.mp_step_forward, h, edges, p)
    h_new, _ = expect_parts(call, ("h_new", "cache"), [(4, D), None])
    expect_close(
        Call(h_new, str(call)),
        _step(h, edges, p),
        what="h_new with edges 0 -> 1, 2 -> 1, 1 -> 3",
        mistakes={
            "add each message into its source instead of its target": lambda: _step(
                h, edges, p, "to sources"
            ),
            "put the source's features first in [h_v, h_w]": lambda: _step(h, edges, p, "source first"),
        },
    )


@exercise("mp_step_forward")
def test_mp_step_forward_keeps_float32(impl):
    h = rng(14).normal(size=(V, D))
    p = _params(15)
    call = run(
        impl.mp_step_forward, h.astype(np.float32), EDGES, {k: a.astype(np.float32) for k, a in p.items()}
    )
    h_new, _ = expect_parts(call, ("h_new", "cache"), [(V, D), None])
    _expect_dtype(call, h_new, np.float32, "h_new")
    expect_close(Call(h_new, str(call)), _step(h, EDGES, p), rtol=1e-4, atol=1e-5, what="h_new")


def _check_step_backward(impl, h, edges, seed, dtype=np.float64, rtol=1e-6, atol=1e-8):
    p = _params(seed)
    dout = rng(seed + 1).normal(size=h.shape)
    cast = {k: a.astype(dtype) for k, a in p.items()}
    _, cache = impl.mp_step_forward(h.astype(dtype), edges, cast)
    call = run(impl.mp_step_backward, dout.astype(dtype), cache)
    dh, grads = expect_parts(call, ("dh", "grads"), [h.shape, None])
    expect(isinstance(grads, dict), f"{call}: grads is {type(grads).__name__}, expected a dict")
    expect(
        set(STEP_KEYS) <= set(grads),
        f"{call}: grads has keys {sorted(grads)}, expected at least {sorted(STEP_KEYS)}",
    )
    want = {"dh": numeric_grad(lambda a: np.sum(_step(a, edges, p) * dout), h)}
    want |= numeric_param_grads(lambda q: np.sum(_step(h, edges, q) * dout), p, STEP_KEYS)
    wrong = {
        "leave out the path through the messages' sources (h[w] in [h_v, h_w])": lambda: numeric_grad(
            lambda a: np.sum(_step_split(a, h, edges, p) * dout), h
        )
    }
    got = {"dh": dh, **{key: grads[key] for key in STEP_KEYS}}
    for name in ("dh", *STEP_KEYS):
        if dtype != np.float64:
            _expect_dtype(call, got[name], dtype, name)
        expect_close(
            Call(got[name], str(call)),
            want[name],
            rtol=rtol,
            atol=atol,
            what=f"{name} against central differences",
            mistakes=wrong if name == "dh" else None,
        )


def _step_split(a, h, edges, p):
    """The step with a in every place of h except the messages' sources, where h stays."""
    n = len(h)
    agg = np.zeros((n, p["W_nbr"].shape[0]))
    for w, v in edges:
        agg[v] += np.maximum(np.concatenate([a[v], h[w]]) @ p["W_msg"] + p["b_msg"], 0)
    return np.maximum(a @ p["W_self"] + agg @ p["W_nbr"] + p["b_upd"], 0)


@exercise("mp_step_backward")
def test_mp_step_backward_matches_central_differences(impl):
    _check_step_backward(impl, rng(20).normal(size=(V, D)), EDGES, 21)


@exercise("mp_step_backward")
def test_mp_step_backward_on_one_way_edges(impl):
    edges = np.array([[0, 1], [2, 1], [1, 3], [3, 3]])  # with a self-loop 3 -> 3
    _check_step_backward(impl, rng(22).normal(size=(4, D)), edges, 23)


@exercise("mp_step_backward")
def test_mp_step_backward_keeps_float32(impl):
    _check_step_backward(impl, rng(24).normal(size=(V, D)), EDGES, 25, np.float32, 1e-4, 1e-4)


# --- mpnn_forward / mpnn_backward ---------------------------------------------------------------


def _mpnn(x, edges, graph, n_graphs, p, steps, readout="sum", first=None):
    """first: parameters for the first step only (the others use p)."""
    h = np.maximum(x @ p["W_in"] + p["b_in"], 0)
    for t in range(steps):
        h = _step(h, edges, first if t == 0 and first is not None else p)
    pooled = _readout(h, graph, n_graphs, mean=readout == "mean")
    return pooled @ p["W_out"] + p["b_out"]


def _inputs(seed):
    return rng(seed).normal(size=(V, 2)), _params(seed + 1)


@exercise("mpnn_forward")
def test_mpnn_forward_runs_the_steps_and_reads_out_each_graph(impl):
    x, p = _inputs(30)
    call = run(impl.mpnn_forward, x, EDGES, GRAPH, 2, p, 2)
    logits, _ = expect_parts(call, ("logits", "cache"), [(2, 2), None])
    expect_close(
        Call(logits, str(call)),
        _mpnn(x, EDGES, GRAPH, 2, p, 2),
        what="the logits after 2 steps",
        mistakes={
            "run one step fewer": lambda: _mpnn(x, EDGES, GRAPH, 2, p, 1),
            "run one step more": lambda: _mpnn(x, EDGES, GRAPH, 2, p, 3),
            "read out with the mean": lambda: _mpnn(x, EDGES, GRAPH, 2, p, 2, "mean"),
        },
    )
    call = run(impl.mpnn_forward, x, EDGES, GRAPH, 2, p, 0)
    logits, _ = expect_parts(call, ("logits", "cache"), [(2, 2), None])
    expect_close(Call(logits, str(call)), _mpnn(x, EDGES, GRAPH, 2, p, 0), what="the logits with 0 steps")


@exercise("mpnn_forward")
def test_mpnn_forward_does_not_depend_on_the_numbering_of_the_nodes(impl):
    x, p = _inputs(31)
    want = _mpnn(x, EDGES, GRAPH, 2, p, 3)
    for seed in (32, 33):
        perm = rng(seed).permutation(V)  # node v is stored at position new[v]
        new = np.argsort(perm)
        edges = new[EDGES][rng(seed).permutation(len(EDGES))]  # edges renumbered and reordered
        call = run(impl.mpnn_forward, x[perm], edges, GRAPH[perm], 2, p, 3)
        logits, _ = expect_parts(call, ("logits", "cache"), [(2, 2), None])
        expect_close(
            Call(logits, f"{call} with the nodes renumbered by {perm.tolist()}"),
            want,
            rtol=1e-10,
            atol=1e-12,
            what="the logits of the same graphs with their nodes and edges stored in another order",
        )


@exercise("mpnn_forward")
def test_mpnn_forward_keeps_float32(impl):
    x, p = _inputs(34)
    call = run(
        impl.mpnn_forward,
        x.astype(np.float32),
        EDGES,
        GRAPH,
        2,
        {k: a.astype(np.float32) for k, a in p.items()},
        2,
    )
    logits, _ = expect_parts(call, ("logits", "cache"), [(2, 2), None])
    _expect_dtype(call, logits, np.float32, "the logits")
    expect_close(
        Call(logits, str(call)), _mpnn(x, EDGES, GRAPH, 2, p, 2), rtol=1e-4, atol=1e-5, what="the logits"
    )


def _check_backward(impl, seed, steps, dtype=np.float64, rtol=1e-6, atol=1e-8):
    x, p = _inputs(seed)
    dout = rng(seed + 5).normal(size=(2, 2))
    cast = {k: a.astype(dtype) for k, a in p.items()}
    _, cache = impl.mpnn_forward(x.astype(dtype), EDGES, GRAPH, 2, cast, steps)
    call = run(impl.mpnn_backward, dout.astype(dtype), cache)
    grads = call.value
    expect(isinstance(grads, dict), f"{call}: returned {type(grads).__name__}, expected a dict")
    expect(sorted(grads) == sorted(KEYS), f"{call}: keys {sorted(grads)}, expected {sorted(KEYS)}")
    for key in KEYS:
        if dtype != np.float64:
            _expect_dtype(call, grads[key], dtype, key)
        want = numeric_grad(
            lambda a, key=key: np.sum(_mpnn(x, EDGES, GRAPH, 2, {**p, key: a}, steps) * dout), p[key]
        )
        expect_close(
            Call(grads[key], str(call)),
            want,
            rtol=rtol,
            atol=atol,
            what=f"grads[{key!r}] against central differences ({steps} steps)",
            mistakes=_one_step(x, p, steps, dout, key) if key in STEP_KEYS else None,
        )


def _one_step(x, p, steps, dout, key):
    """The gradient through the first step's use of a shared weight alone: what a backward
    that assigns each step's gradient instead of adding them returns."""

    def loss(a):
        return np.sum(_mpnn(x, EDGES, GRAPH, 2, p, steps, first={**p, key: a}) * dout)

    phrase = "keep one step's gradient for the shared weights (= where the steps' gradients must add up)"
    return {phrase: lambda: numeric_grad(loss, p[key])}


@exercise("mpnn_backward")
def test_mpnn_backward_matches_central_differences(impl):
    _check_backward(impl, 40, 2)


@exercise("mpnn_backward")
def test_mpnn_backward_adds_the_shared_weights_gradients_over_three_steps(impl):
    _check_backward(impl, 41, 3)


@exercise("mpnn_backward")
def test_mpnn_backward_keeps_float32(impl):
    _check_backward(impl, 42, 2, np.float32, 1e-4, 1e-4)


@exercise("mpnn_backward", timeout=60)
def test_the_mpnn_learns_whether_a_graph_is_connected(impl):
    # 1000 random graphs that all have 10 nodes and 12 edges (about 57% of them connected),
    # so that counting nodes and edges can do no better than always giving the more common
    # answer. Hidden 16, 3 steps, 300 batches of 32 at lr 1e-2: about 0.5 s of CPU time.
    # Over 30 seeds (graphs, initialisation and batches) the reference classified between
    # 96% and 100% (median 99.4%) of 500 held-out graphs right; the more common answer
    # scores 52-62%.
    train = impl.random_graphs(1000, rng(50), (10, 10), n_edges=12)
    test = impl.random_graphs(500, rng(51), (10, 10), n_edges=12)
    params, losses = impl.train_mpnn(impl.mpnn_init(rng(52), 1, 16, 2), train, 300, 32, 1e-2, rng(53))
    call = run(impl.mpnn_forward, test[0], test[1], test[2], 500, params, 3)
    logits, _ = expect_parts(call, ("logits", "cache"), [(500, 2), None])
    accuracy = float(np.mean(logits.argmax(axis=1) == test[3]))
    majority = max(np.mean(test[3]), 1 - np.mean(test[3]))
    expect(
        accuracy >= 0.85,
        f"after training, {call}: {accuracy:.1%} of 500 held-out graphs classified right (connected or "
        f"not), expected at least 85%; every graph has 10 nodes and 12 edges, so counting them can only "
        f"give the more common answer ({majority:.1%}); loss at steps 0, 100, 200, 299: "
        f"{np.round(np.array(losses)[[0, 100, 200, 299]], 3)}",
    )
