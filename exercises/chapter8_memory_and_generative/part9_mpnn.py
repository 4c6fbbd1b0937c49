# %% [markdown]
# # Chapter 8, part 9: message passing on graphs
#
# Reading: chapters/chapter8_memory_and_generative/part9_mpnn.md
#
# Fill in each function, then run the cell below it: `check(fn)` runs that exercise's
# tests here and prints a verdict. `python -m grader chapter8/part9` grades the file.
#
# A message-passing neural network (Gilmer et al., 2017) updates every node of a graph
# from messages sent along its edges, a few times, then reads the whole graph out:
#
#     m_e   = relu([h_v, h_w] @ W_msg + b_msg)        for each edge e = (w -> v)
#     a_v   = sum of m_e over the edges e into v       (aggregate)
#     h'_v  = relu(h_v @ W_self + a_v @ W_nbr + b_upd) (update)
#     y_G   = sum of h_v over the nodes v of graph G   (readout)
#
# Conventions: a batch of graphs is stored as ONE graph with many components: node
# features h (V, D) for all V nodes of all graphs; edges (E, 2) int, row e = (source w,
# target v), each undirected edge stored in both directions; graph (V,) int, the graph
# each node belongs to, in 0 ... G - 1. Linear maps are x @ W + b with W (d_in, d_out);
# parameters are a dict of arrays and a backward returns gradients with the same keys.
# No Python loop over nodes or edges. No function changes its inputs. Every function
# keeps the float dtype it is given. The tests compare float64 results to 1e-6 relative
# (gradients against central differences) and float32 results to 1e-4.

# %%
import time

import numpy as np
from jaxtyping import Float, Int

from grader.check import check

MAIN = __name__ == "__main__"

Params = dict[str, np.ndarray]
KEYS = ("W_in", "b_in", "W_msg", "b_msg", "W_self", "W_nbr", "b_upd", "W_out", "b_out")


# %% [markdown]
# ## Aggregate and read out


# %%
def aggregate(
    messages: Float[np.ndarray, "E D"], targets: Int[np.ndarray, " E"], n_nodes: int
) -> Float[np.ndarray, "V D"]:
    """out[v] = the sum of messages[e] over the edges e with targets[e] == v: (n_nodes, D),
    zero for a node no edge points to. No Python loop (np.add.at, or a one-hot matrix)."""
    raise NotImplementedError("aggregate")


if MAIN:
    check(aggregate)


# %%
def readout(
    h: Float[np.ndarray, "V D"], graph: Int[np.ndarray, " V"], n_graphs: int, mean: bool = False
) -> Float[np.ndarray, "G D"]:
    """One vector per graph: out[g] = the sum over the nodes v with graph[v] == g of h[v]
    (the mean if mean=True; a graph without nodes gives zeros). The result cannot depend
    on the order in which the nodes are stored. No Python loop."""
    raise NotImplementedError("readout")


if MAIN:
    check(readout)


# %% [markdown]
# ## One step of message passing


# %%
def mp_step_forward(
    h: Float[np.ndarray, "V D"], edges: Int[np.ndarray, "E 2"], params: Params
) -> tuple[Float[np.ndarray, "V D"], tuple]:
    """One message-passing step, returning (h_new (V, D), cache):

        for each edge e = (w, v) = edges[e]:  m_e = relu([h[v], h[w]] @ W_msg + b_msg)
        a = aggregate(m, edges[:, 1], V)
        h_new = relu(h @ W_self + a @ W_nbr + b_upd)

    [h[v], h[w]] is the concatenation (2D,), the target's features first; W_msg (2D, D),
    W_self and W_nbr (D, D). Only the keys W_msg, b_msg, W_self, W_nbr, b_upd are used."""
    raise NotImplementedError("mp_step_forward")


if MAIN:
    check(mp_step_forward)


# %%
def mp_step_backward(
    dh_new: Float[np.ndarray, "V D"], cache: tuple
) -> tuple[Float[np.ndarray, "V D"], Params]:
    """The gradients of one step, for (h_new, cache) = mp_step_forward(h, edges, params),
    given dh_new = dL/dh_new. Returns (dh, grads), grads with the keys W_msg, b_msg,
    W_self, W_nbr, b_upd. h reaches h_new three ways: directly (W_self), as the target of
    its incoming edges' messages and as the source of its outgoing edges' messages."""
    raise NotImplementedError("mp_step_backward")


if MAIN:
    check(mp_step_backward)


# %% [markdown]
# ## The network


# %%
def mpnn_init(rng: np.random.Generator, d_in: int, hidden: int, n_classes: int) -> Params:
    """Given: weights drawn in the order of KEYS with rng.normal(0, sqrt(2 / d_in_of_W)),
    zero biases, float64."""
    shapes = {
        "W_in": (d_in, hidden),
        "b_in": (hidden,),
        "W_msg": (2 * hidden, hidden),
        "b_msg": (hidden,),
        "W_self": (hidden, hidden),
        "W_nbr": (hidden, hidden),
        "b_upd": (hidden,),
        "W_out": (hidden, n_classes),
        "b_out": (n_classes,),
    }
    return {
        key: rng.normal(0.0, np.sqrt(2.0 / shape[0]), size=shape) if len(shape) == 2 else np.zeros(shape)
        for key, shape in shapes.items()
    }


# %%
def mpnn_forward(
    x: Float[np.ndarray, "V F"],
    edges: Int[np.ndarray, "E 2"],
    graph: Int[np.ndarray, " V"],
    n_graphs: int,
    params: Params,
    steps: int,
) -> tuple[Float[np.ndarray, "G C"], tuple]:
    """The graph-level logits (G, C) and a cache:

    h = relu(x @ W_in + b_in)
    repeat steps times:  h = mp_step_forward(h, edges, params)[0]   (the same weights)
    logits = readout(h, graph, n_graphs) @ W_out + b_out            (the sum readout)
    """
    raise NotImplementedError("mpnn_forward")


if MAIN:
    check(mpnn_forward)


# %%
def mpnn_backward(dlogits: Float[np.ndarray, "G C"], cache: tuple) -> Params:
    """The gradients of every parameter (the keys of KEYS), for (logits, cache) =
    mpnn_forward(...), given dlogits. The steps share their weights, so each weight's
    gradient is the sum over the steps."""
    raise NotImplementedError("mpnn_backward")


if MAIN:
    check(mpnn_backward)


# %% [markdown]
# ## Given: random graphs, the loss, Adam and training


# %%
def random_graphs(
    n_graphs: int,
    rng: np.random.Generator,
    sizes: tuple[int, int] = (8, 14),
    p_edge: float = 0.25,
    n_edges: int | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Given: n_graphs Erdős–Rényi graphs with a uniform number of nodes in [sizes[0],
    sizes[1]] and each pair joined with probability p_edge (or, if n_edges is given,
    exactly n_edges distinct pairs drawn uniformly), as one batch: (x (V, 1) of ones,
    edges (E, 2) in both directions, graph (V,), connected (n_graphs,) int: 1 if the
    graph is connected)."""
    counts = rng.integers(sizes[0], sizes[1] + 1, size=n_graphs)
    offsets = np.concatenate([[0], np.cumsum(counts)[:-1]])
    edge_list, connected = [], np.zeros(n_graphs, dtype=np.int64)
    for g, (n, start) in enumerate(zip(counts, offsets)):
        i, j = np.triu_indices(n, k=1)
        if n_edges is None:
            keep = rng.random(len(i)) < p_edge
        else:
            keep = np.isin(np.arange(len(i)), rng.choice(len(i), n_edges, replace=False))
        i, j = i[keep], j[keep]
        edge_list.append(np.stack([np.concatenate([i, j]), np.concatenate([j, i])], axis=1) + start)
        reach = np.zeros(n, dtype=bool)  # a breadth-first search from node 0
        reach[0] = True
        for _ in range(n):
            reach[j[reach[i]]] = True
            reach[i[reach[j]]] = True
        connected[g] = int(reach.all())
    graph = np.repeat(np.arange(n_graphs), counts)
    return np.ones((counts.sum(), 1)), np.concatenate(edge_list).astype(np.int64), graph, connected


def cross_entropy(logits: np.ndarray, labels: np.ndarray) -> tuple[float, np.ndarray]:
    """Given: the mean softmax cross-entropy (stable) and its gradient."""
    shifted = logits - logits.max(axis=1, keepdims=True)
    log_p = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
    n = len(labels)
    dlogits = np.exp(log_p)
    dlogits[np.arange(n), labels] -= 1
    return float(-log_p[np.arange(n), labels].mean()), dlogits / n


def adam_step(
    params: Params, grads: Params, state: dict | None, lr: float, betas=(0.9, 0.999), eps=1e-8
) -> tuple[Params, dict]:
    """Given: one Adam step on every array of params (state None before the first step)."""
    beta1, beta2 = betas
    if state is None:
        state = {"t": 0, "m": {k: np.zeros_like(v) for k, v in params.items()}}
        state["v"] = {k: np.zeros_like(v) for k, v in params.items()}
    t = state["t"] + 1
    m = {k: beta1 * state["m"][k] + (1 - beta1) * grads[k] for k in params}
    v = {k: beta2 * state["v"][k] + (1 - beta2) * grads[k] ** 2 for k in params}
    new = {
        k: params[k] - lr * (m[k] / (1 - beta1**t)) / (np.sqrt(v[k] / (1 - beta2**t)) + eps) for k in params
    }
    return new, {"t": t, "m": m, "v": v}


def select_graphs(data: tuple, which: np.ndarray) -> tuple:
    """Given: the graphs `which` of a batch (x, edges, graph, labels), renumbered."""
    x, edges, graph, labels = data
    keep = np.isin(graph, which)
    new_index = np.cumsum(keep) - 1
    new_graph = np.searchsorted(which, graph[keep]) if np.all(np.diff(which) > 0) else None
    if new_graph is None:
        raise ValueError("which must be increasing")
    kept_edges = keep[edges[:, 0]]
    return x[keep], new_index[edges[kept_edges]], new_graph, labels[which]


def train_mpnn(
    params: Params,
    data: tuple,
    steps: int,
    batch_size: int,
    lr: float,
    rng: np.random.Generator,
    mp_steps: int = 3,
) -> tuple[Params, list[float]]:
    """Given: Adam on batches of graphs (np.sort(rng.choice(G, batch_size, replace=False))
    each step); returns (params, losses)."""
    state, losses = None, []
    for _ in range(steps):
        which = np.sort(rng.choice(len(data[3]), batch_size, replace=False))
        x, edges, graph, labels = select_graphs(data, which)
        logits, cache = mpnn_forward(x, edges, graph, batch_size, params, mp_steps)
        loss, dlogits = cross_entropy(logits, labels)
        params, state = adam_step(params, mpnn_backward(dlogits, cache), state, lr)
        losses.append(loss)
    return params, losses


# %% [markdown]
# ## Is the graph connected? Message passing against counting edges
#
# The reading states what the reference reaches and how long it takes.

# %%
if MAIN:
    train = random_graphs(4000, np.random.default_rng(0))
    test = random_graphs(1000, np.random.default_rng(1))
    try:
        start = time.perf_counter()
        params, losses = train_mpnn(
            mpnn_init(np.random.default_rng(2), 1, 32, 2), train, 1500, 64, 3e-3, np.random.default_rng(3)
        )
        seconds = time.perf_counter() - start
        logits, _ = mpnn_forward(test[0], test[1], test[2], len(test[3]), params, 3)
        print(f"MPNN, {seconds:.0f} s: {np.mean(logits.argmax(axis=1) == test[3]):.1%} of test graphs right")
    except NotImplementedError as missing:
        print(f"Finish {missing} to train the model.")
