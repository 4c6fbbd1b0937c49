# %% [markdown]
# # Chapter 8, part 7: Order Matters, the read-process-write set encoder
#
# Reading: chapters/chapter8_memory_and_generative/part7_order_matters.md
#
# Fill in each function, then run the cell below it: `check(fn)` runs that exercise's
# tests here and prints a verdict. `python -m grader chapter8/part7` grades the file.
#
# Vinyals, Bengio and Kudlur ("Order Matters: Sequence to sequence for sets", 2016): a set
# has no order, so its encoder should not depend on one. READ embeds each element on its
# own, PROCESS attends over the embeddings for a few steps with a recurrent query and
# never looks at their order, WRITE points at elements (part 6's pointer).
#
# The write block runs on YOUR part 6 (`pointer_scores_forward`, `pointer_scores_backward`).
#
# Conventions:
# - batch first; a batch of sets is x (N, n) float64 (n numbers per set), its embeddings
#   m (N, n, H); the process block's state q* is (N, 2H) = [q, r];
# - linear maps are x @ W + b with W (d_in, d_out); parameters are a dict of float64
#   arrays (`init_set_pointer`): W_r (1, H), b_r (H,), W_q (2H, H), b_q (H,), W_d (2H, H),
#   W1 (H, A), W2 (H, A), v (A,); a backward returns gradients with the same keys;
# - every forward returns (out, cache) and its backward takes (dout, cache);
# - float64 throughout; no function changes its inputs.
# - the tests compare results to 1e-6 relative (1e-9 absolute) and gradients to central
#   differences at 1e-5 relative (1e-8 absolute); positions, orderings and masks exactly.

# %%
import math
import time

import numpy as np
from chapter8_memory_and_generative.part6_pointer_networks import (
    pointer_scores_backward,
    pointer_scores_forward,
)
from jaxtyping import Float, Int

from grader.check import check

MAIN = __name__ == "__main__"

Params = dict[str, np.ndarray]


# %% [markdown]
# ## Given: initialisation, Adam, a training loop and an accuracy


# %%
def init_set_pointer(hidden: int, attention: int, rng: np.random.Generator) -> Params:
    """W_r ~ N(0, 1) (1, H), b_r = 0; W_q, W_d ~ N(0, 1/(2H)), b_q = 0; W1, W2 ~ N(0, 1/H);
    v ~ N(0, 1/A). All float64."""
    H, A = hidden, attention
    return {
        "W_r": rng.normal(0.0, 1.0, size=(1, H)),
        "b_r": np.zeros(H),
        "W_q": rng.normal(0.0, 1.0 / math.sqrt(2 * H), size=(2 * H, H)),
        "b_q": np.zeros(H),
        "W_d": rng.normal(0.0, 1.0 / math.sqrt(2 * H), size=(2 * H, H)),
        "W1": rng.normal(0.0, 1.0 / math.sqrt(H), size=(H, A)),
        "W2": rng.normal(0.0, 1.0 / math.sqrt(H), size=(H, A)),
        "v": rng.normal(0.0, 1.0 / math.sqrt(A), size=A),
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


def train_set_pointer(
    params: Params,
    train_steps: int,
    batch_size: int,
    size: int,
    process_steps: int,
    lr: float,
    rng: np.random.Generator,
) -> tuple[Params, list[float]]:
    """Train on fresh batches (make_mean_batch with rng): set_pointer_forward,
    set_pointer_backward, then adam_step. Returns (params, losses)."""
    state, losses = None, []
    for _ in range(train_steps):
        x, target = make_mean_batch(batch_size, size, rng)
        loss, cache = set_pointer_forward(params, x, target, process_steps)
        params, state = adam_step(params, set_pointer_backward(cache), state, lr)
        losses.append(loss)
    return params, losses


def set_pointer_predict(params: Params, x: Float[np.ndarray, "batch n"], process_steps: int) -> np.ndarray:
    """The element each set's pointer chooses: the argmax of its scores (int64, (N,))."""
    m = x[..., None] @ params["W_r"] + params["b_r"]
    q_star, _ = process_forward(m, params["W_q"], params["b_q"], process_steps)
    d = (q_star @ params["W_d"])[:, None, :]
    u, _ = pointer_scores_forward(m, d, params["W1"], params["W2"], params["v"])
    return u[:, 0].argmax(axis=1).astype(np.int64)


def _log_softmax(z: np.ndarray) -> np.ndarray:
    shifted = z - z.max(axis=-1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=-1, keepdims=True))


# %% [markdown]
# ## The task: point at the element closest to the set's mean


# %%
def make_mean_batch(
    n: int, size: int, rng: np.random.Generator
) -> tuple[Float[np.ndarray, "n size"], Int[np.ndarray, " n"]]:
    """A batch of n sets of `size` numbers and, for each, the position of its element
    closest to the set's mean: (x, target).

    Two draws, in this order: centre = rng.uniform(-1.0, 1.0, size=(n, 1)), then
    x = centre + rng.random((n, size)). target (n,) int64: the position j with the
    smallest |x[b, j] - mean of x[b]| (the first on a tie).
    """
    raise NotImplementedError("make_mean_batch")


if MAIN:
    check(make_mean_batch)


# %% [markdown]
# ## Process: content attention with a recurrent query


# %%
def content_attention_forward(
    m: Float[np.ndarray, "batch n H"], q: Float[np.ndarray, "batch H"]
) -> tuple[Float[np.ndarray, "batch H"], tuple]:
    """One read of the memory m by the query q, by content:

        a[b] = softmax over i of (m[b, i] . q[b]),     r[b] = sum over i of a[b, i] m[b, i]

    (dot-product scores, no scaling). The softmax is stable for scores of any size.
    Returns (r, cache), r (N, H). The result does not depend on the order of the n rows
    of m.
    """
    raise NotImplementedError("content_attention_forward")


if MAIN:
    check(content_attention_forward)


# %%
def content_attention_backward(
    dr: Float[np.ndarray, "batch H"], cache: tuple
) -> tuple[Float[np.ndarray, "batch n H"], Float[np.ndarray, "batch H"]]:
    """The gradients of content_attention_forward, given dr = dL/dr (N, H).

    Returns (dm, dq). m reaches r twice: as the values averaged, and through the scores
    that weight them; both paths add up in dm.
    """
    raise NotImplementedError("content_attention_backward")


if MAIN:
    check(content_attention_backward)


# %%
def process_forward(
    m: Float[np.ndarray, "batch n H"],
    W_q: Float[np.ndarray, "H2 H"],
    b_q: Float[np.ndarray, " H"],
    steps: int,
) -> tuple[Float[np.ndarray, "batch H2"], tuple]:
    """The process block: `steps` rounds of attention over the set with a recurrent query.

        q*_0 = 0                                   (N, 2H)
        for t = 1..steps:
            q_t = tanh(q*_{t-1} @ W_q + b_q)        (N, H)
            r_t, _ = content_attention_forward(m, q_t)
            q*_t = [q_t, r_t]                       (concatenated: q_t first, (N, 2H))

    Returns (q*_steps, cache); steps = 0 returns zeros (N, 2H). (The paper's q_t comes
    from an LSTM; a tanh cell keeps the backward short.) The result does not depend on
    the order of the rows of m: a permutation of the set's elements leaves it unchanged.
    """
    raise NotImplementedError("process_forward")


if MAIN:
    check(process_forward)


# %%
def process_backward(
    dq_star: Float[np.ndarray, "batch H2"], cache: tuple
) -> tuple[Float[np.ndarray, "batch n H"], Float[np.ndarray, "H2 H"], Float[np.ndarray, " H"]]:
    """The gradients of process_forward, given dq_star = dL/dq*_steps (N, 2H).

    Returns (dm, dW_q, db_q). Backpropagation through time: walk the steps backwards,
    splitting each dq*_t into its q_t and r_t halves; m is read at every step and W_q,
    b_q are used at every step, so their gradients add up over the steps.
    """
    raise NotImplementedError("process_backward")


if MAIN:
    check(process_backward)


# %% [markdown]
# ## Read, process, write: the whole network
#
# READ embeds each number on its own, m_i = x_i W_r + b_r (linear: the mean of the
# embeddings is the embedding of the mean). PROCESS gives q*. WRITE is part 6's pointer,
# with one decoder state d = q* W_d scoring every element: u_j = v . tanh(m_j W1 + d W2).


# %%
def set_pointer_forward(
    params: Params, x: Float[np.ndarray, "batch n"], target: Int[np.ndarray, " batch"], steps: int
) -> tuple[float, tuple]:
    """The loss of read-process-write on (x, target):

        m = x[..., None] @ W_r + b_r                                         (N, n, H)
        q_star, _ = process_forward(m, W_q, b_q, steps)                      (N, 2H)
        d = q_star @ W_d                                                     (N, H)
        u, _ = pointer_scores_forward(m, d[:, None, :], W1, W2, v)           (N, 1, n)
        loss = mean over the batch of -log softmax(u[b, 0])[target[b]]

    Returns (loss as a Python float, cache for set_pointer_backward).
    """
    raise NotImplementedError("set_pointer_forward")


if MAIN:
    check(set_pointer_forward)


# %%
def set_pointer_backward(cache: tuple) -> Params:
    """The gradient of set_pointer_forward's loss with respect to every parameter (a dict
    with the keys and shapes of params). The embeddings m reach the loss twice: through
    the pointer (part 6's de) and through the process block (dm); both add up."""
    raise NotImplementedError("set_pointer_backward")


if MAIN:
    check(set_pointer_backward)


# %% [markdown]
# ## Train it
#
# The reading states what the reference reaches, with process steps and without.

# %%
if MAIN:
    try:
        for process_steps in (0, 3):
            params = init_set_pointer(16, 16, np.random.default_rng(0))
            begin = time.perf_counter()
            params, losses = train_set_pointer(
                params, 1000, 64, 6, process_steps, 1e-2, np.random.default_rng(1)
            )
            x, target = make_mean_batch(2000, 6, np.random.default_rng(2))
            accuracy = float(np.mean(set_pointer_predict(params, x, process_steps) == target))
            seconds = time.perf_counter() - begin
            print(f"{process_steps} process steps, {seconds:.1f} s: right in {accuracy:.1%} of the sets")
    except NotImplementedError as missing:
        print(f"Finish {missing} to train the model.")
