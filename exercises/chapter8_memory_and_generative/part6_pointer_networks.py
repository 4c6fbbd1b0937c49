# %% [markdown]
# # Chapter 8, part 6: pointer networks learning to sort
#
# Reading: chapters/chapter8_memory_and_generative/part6_pointer_networks.md
#
# Fill in each function, then run the cell below it: `check(fn)` runs that exercise's
# tests here and prints a verdict. `python -m grader chapter8/part6` grades the file.
#
# Vinyals, Fortunato and Jaitly's pointer network (2015): the output is not a word from a
# vocabulary but a position of the input, chosen by attention. Here it sorts: given n
# numbers, it points at the smallest, then at the next, and so on.
#
# Conventions:
# - batch first; x is (N, n) float64 numbers in [0, 1); an ordering is an int64 array
#   (N, n) of positions of x, each row a permutation of 0..n-1;
# - decoder step i (0..n-1) points at one of the n input positions; scores u and masks are
#   (N, n_steps, n): u[b, i, j] is how much step i of sequence b wants to point at x[b, j];
# - masks are boolean, True = may point there;
# - linear maps are x @ W + b with W (d_in, d_out); parameters are a dict of float64
#   arrays (`init_pointer_net`): W_in (1, H), b_in (H,), start (H,), W1 (H, A), W2 (H, A),
#   v (A,); a backward returns gradients with the same keys;
# - every forward returns (out, cache) and its backward takes (dout, cache);
# - float64 throughout; no function changes its inputs.
# - the tests compare results to 1e-6 relative (1e-9 absolute) and gradients to central
#   differences at 1e-5 relative (1e-8 absolute); positions, orderings and masks exactly.

# %%
import math
import time

import numpy as np
from jaxtyping import Bool, Float, Int

from grader.check import check

MAIN = __name__ == "__main__"

Params = dict[str, np.ndarray]


# %% [markdown]
# ## Given: initialisation, Adam, a training loop and accuracies


# %%
def init_pointer_net(hidden: int, attention: int, rng: np.random.Generator) -> Params:
    """W_in ~ N(0, 1) (1, H), b_in ~ N(0, 1) (H,) so that the encodings tanh(x W_in + b_in)
    spread over [0, 1); start ~ N(0, 1) (H,); W1, W2 ~ N(0, 1/H); v ~ N(0, 1/A). All float64."""
    return {
        "W_in": rng.normal(0.0, 1.0, size=(1, hidden)),
        "b_in": rng.normal(0.0, 1.0, size=hidden),
        "start": rng.normal(0.0, 1.0, size=hidden),
        "W1": rng.normal(0.0, 1.0 / math.sqrt(hidden), size=(hidden, attention)),
        "W2": rng.normal(0.0, 1.0 / math.sqrt(hidden), size=(hidden, attention)),
        "v": rng.normal(0.0, 1.0 / math.sqrt(attention), size=attention),
    }


def adam_step(params: Params, grads: Params, state: dict | None, lr: float) -> tuple[Params, dict]:
    """One bias-corrected Adam step (beta1 0.9, beta2 0.999, eps 1e-8); state is None at
    first. Returns new arrays."""
    if state is None:
        state = {"t": 0, "m": {k: np.zeros_like(p) for k, p in params.items()}}
        state["v"] = {k: np.zeros_like(p) for k, p in params.items()}
    t = state["t"] + 1
    m = {k: 0.9 * state["m"][k] + 0.1 * grads[k] for k in params}
    v = {k: 0.999 * state["v"][k] + 0.001 * grads[k] ** 2 for k in params}
    new = {
        k: params[k] - lr * (m[k] / (1 - 0.9**t)) / (np.sqrt(v[k] / (1 - 0.999**t)) + 1e-8) for k in params
    }
    return new, {"t": t, "m": m, "v": v}


def train_pointer_net(
    params: Params, steps: int, batch_size: int, length: int, lr: float, rng: np.random.Generator
) -> tuple[Params, list[float]]:
    """Train on fresh batches (make_sort_batch with rng) with teacher forcing:
    pointer_net_forward, pointer_net_backward, then adam_step. Returns (params, losses)."""
    state, losses = None, []
    for _ in range(steps):
        x, order = make_sort_batch(batch_size, length, rng)
        loss, cache = pointer_net_forward(params, x, order)
        params, state = adam_step(params, pointer_net_backward(cache), state, lr)
        losses.append(loss)
    return params, losses


def sort_accuracy(
    predicted: Int[np.ndarray, "batch n"], x: Float[np.ndarray, "batch n"]
) -> tuple[float, float]:
    """(step accuracy, sequence accuracy): the fraction of decoder steps that point at the
    element the sorted order puts there (x[predicted] equal to sorted x), and the fraction
    of rows sorted entirely right."""
    right = np.take_along_axis(x, predicted, axis=1) == np.sort(x, axis=1)
    return float(right.mean()), float(right.all(axis=1).mean())


# %% [markdown]
# ## The task and the mask


# %%
def make_sort_batch(
    n: int, length: int, rng: np.random.Generator
) -> tuple[Float[np.ndarray, "n length"], Int[np.ndarray, "n length"]]:
    """A batch of the sorting task: (x, order).

    x = rng.random((n, length)) (one call, nothing else drawn), float64 in [0, 1);
    order (n, length) int64: the positions of each row of x from its smallest to its
    largest element, so that x[b, order[b]] is sorted ascending (ties, which have
    probability 0, in order of position).
    """
    raise NotImplementedError("make_sort_batch")


if MAIN:
    check(make_sort_batch)


# %%
def pointer_mask(order: Int[np.ndarray, "batch steps"], n: int) -> Bool[np.ndarray, "batch steps n"]:
    """Where each decoder step may point when the steps before it pointed at order:
    mask[b, i, j] is True when position j is not among order[b, :i] (the positions chosen
    at steps 0..i-1), False when it was already chosen. Step 0 may point anywhere, and
    step i is not forbidden its own choice order[b, i].

    order (N, steps) int64 with distinct positions in each row (steps <= n). Returns a
    bool array (N, steps, n). No Python loop over the batch is needed.
    """
    raise NotImplementedError("pointer_mask")


if MAIN:
    check(pointer_mask)


# %% [markdown]
# ## The pointer: additive attention over the input positions


# %%
def pointer_scores_forward(
    e: Float[np.ndarray, "batch n H"],
    d: Float[np.ndarray, "batch steps H"],
    W1: Float[np.ndarray, "H A"],
    W2: Float[np.ndarray, "H A"],
    v: Float[np.ndarray, " A"],
) -> tuple[Float[np.ndarray, "batch steps n"], tuple]:
    """The pointer's scores of every decoder state against every encoded input:

        u[b, i, j] = v . tanh(e[b, j] @ W1 + d[b, i] @ W2)

    e (N, n, H) are the encoder's outputs, d (N, steps, H) the decoder's states. Project
    each e_j and each d_i once, then combine every pair by broadcasting. Returns
    (u, cache), u (N, steps, n).
    """
    raise NotImplementedError("pointer_scores_forward")


if MAIN:
    check(pointer_scores_forward)


# %%
def pointer_scores_backward(
    du: Float[np.ndarray, "batch steps n"], cache: tuple
) -> tuple[
    Float[np.ndarray, "batch n H"],
    Float[np.ndarray, "batch steps H"],
    Float[np.ndarray, "H A"],
    Float[np.ndarray, "H A"],
    Float[np.ndarray, " A"],
]:
    """The gradients of pointer_scores_forward, given du = dL/du (N, steps, n).

    Returns (de, dd, dW1, dW2, dv). Every decoder state meets every input, so e_j's
    gradient sums over the steps and d_i's over the inputs.
    """
    raise NotImplementedError("pointer_scores_backward")


if MAIN:
    check(pointer_scores_backward)


# %% [markdown]
# ## The loss: a masked softmax over the positions


# %%
def pointer_loss(
    u: Float[np.ndarray, "batch steps n"],
    mask: Bool[np.ndarray, "batch steps n"],
    order: Int[np.ndarray, "batch steps"],
) -> tuple[float, Float[np.ndarray, "batch steps n"]]:
    """The sequence loss of a pointer network and its gradient with respect to the scores.

    p[b, i] = softmax of u[b, i] over the allowed positions (mask True; a forbidden
    position gets probability exactly 0), and

        loss = -(1 / (N * steps)) * sum over b, i of log p[b, i, order[b, i]]

    the mean over every step of every sequence, in nats (order[b, i] is always allowed).
    Stable for scores of any size: the tests use scores in the hundreds, where a target's
    probability underflows to 0, so compute log p as a log-softmax (u minus the row's
    largest allowed score minus the log of the sum of exps), never as the log of p.
    Returns (loss as a Python float, du = dL/du), du (N, steps, n) with du = 0 at every
    forbidden position.
    """
    raise NotImplementedError("pointer_loss")


if MAIN:
    check(pointer_loss)


# %% [markdown]
# ## The whole network, its gradients and its decoding
#
# The encoder reads each number on its own, e_j = tanh(x_j W_in + b_in) (H,). The decoder
# at step 0 is the learned vector `start`; at step i > 0 it is the encoding of the element
# pointed at the step before, d_i = e[order[i - 1]] (teacher forcing: the right one in
# training). The pointer scores every e_j against d_i; the mask forbids what was chosen.


# %%
def pointer_net_forward(
    params: Params, x: Float[np.ndarray, "batch n"], order: Int[np.ndarray, "batch n"]
) -> tuple[float, tuple]:
    """The teacher-forced loss of the pointer network on (x, order):

        e = tanh(x[..., None] @ W_in + b_in)                              (N, n, H)
        d[:, 0] = start,  d[:, i] = e[b, order[b, i - 1]] for i >= 1      (N, n, H)
        u, _ = pointer_scores_forward(e, d, W1, W2, v)                    (N, n, n)
        loss, du = pointer_loss(u, pointer_mask(order, n), order)

    Returns (loss as a Python float, cache for pointer_net_backward).
    """
    raise NotImplementedError("pointer_net_forward")


if MAIN:
    check(pointer_net_forward)


# %%
def pointer_net_backward(cache: tuple) -> Params:
    """The gradient of pointer_net_forward's loss with respect to every parameter (a dict
    with the keys and shapes of params).

    An encoding e_j reaches the loss twice: as an input the pointer scores, and as the
    decoder's state at the step after the one that pointed at j. Both gradients add up in
    de before going back through the tanh.
    """
    raise NotImplementedError("pointer_net_backward")


if MAIN:
    check(pointer_net_backward)


# %%
def pointer_decode(params: Params, x: Float[np.ndarray, "batch n"]) -> Int[np.ndarray, "batch n"]:
    """The network's own ordering of x, greedily: the decoder starts from `start`; at each
    of the n steps it scores every position (pointer_scores_forward with one decoder
    state), points at the highest-scoring position NOT chosen at an earlier step (the
    first one on a tie), and its next state is that position's encoding.

    Returns an int64 array (N, n): each row a permutation of 0..n-1, never pointing at a
    position twice.
    """
    raise NotImplementedError("pointer_decode")


if MAIN:
    check(pointer_decode)


# %% [markdown]
# ## Train it
#
# The reading states what the reference reaches: trained on sequences of 10 numbers, it
# sorts sequences of 10 and of 30.

# %%
if MAIN:
    try:
        params = init_pointer_net(32, 32, np.random.default_rng(0))
        begin = time.perf_counter()
        params, losses = train_pointer_net(params, 200, 64, 10, 1e-2, np.random.default_rng(1))
        seconds = time.perf_counter() - begin
        print(f"{len(losses)} steps in {seconds:.1f} s, loss {losses[0]:.3f} to {losses[-1]:.4f}")
        for length in (10, 30):
            x, _ = make_sort_batch(1000, length, np.random.default_rng(2))
            steps, sequences = sort_accuracy(pointer_decode(params, x), x)
            print(f"sequences of {length}: {steps:.1%} of the steps, {sequences:.1%} of the sequences sorted")
        x, _ = make_sort_batch(1, 8, np.random.default_rng(3))
        print("x      ", np.round(x[0], 2), "\nsorted ", np.round(x[0, pointer_decode(params, x)[0]], 2))
    except NotImplementedError as missing:
        print(f"Finish {missing} to train the model.")
