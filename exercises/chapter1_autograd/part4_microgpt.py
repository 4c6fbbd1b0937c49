# %% [markdown]
# # Chapter 1, part 4: microGPT on your own tensor engine
#
# Reading: chapters/chapter1_autograd/part4_microgpt.md
#
# Fill in each function, then run the cell below it: `check(fn)` runs that exercise's
# tests here and prints a verdict. `python -m grader chapter1/part4` grades the file.
#
# Everything here runs on YOUR part 2: `Tensor`, its ops and `backward` are imported from
# `exercises/chapter1_autograd/part2_tensor_engine.py`. The model is Karpathy's microGPT
# (one layer, 16 embedding dimensions, 4 heads, a context of 16 characters, RMSNorm, a
# ReLU MLP, no biases), batched: every tensor has a batch axis and a time axis.
#
# Conventions:
# - tokens are integers; id 0 is the boundary token "." that starts and ends every name;
# - vectors are rows: a linear map is `x @ W` with W of shape (d_in, d_out);
# - parameters live in a dict of leaf Tensors (a "state dict"), made by `init_params`.

# %%
import math
import time
from dataclasses import dataclass
from typing import Callable, no_type_check

import numpy as np
from chapter1_autograd.part2_tensor_engine import Tensor, no_grad
from jaxtyping import Bool, Float, Int

from coursedata import load_names
from grader.check import check

MAIN = __name__ == "__main__"

BOUNDARY = 0  # the id of the token "." that starts and ends every name


# %%
@dataclass(frozen=True)
class GPTConfig:
    """The sizes of the model. microGPT's are the defaults."""

    vocab_size: int
    block_size: int = 16  # the longest context the model reads (positions 0..block_size-1)
    n_embd: int = 16  # d_model, the width of the residual stream
    n_head: int = 4  # heads of head_dim = n_embd // n_head each
    n_layer: int = 1


@no_type_check
def init_params(config: GPTConfig, rng: np.random.Generator, std: float = 0.08) -> dict[str, Tensor]:
    """Every weight of the model, drawn from N(0, std²) as in microGPT, as leaf Tensors
    with requires_grad=True, by name:

        wte (vocab_size, n_embd)   token embeddings, one row per token
        wpe (block_size, n_embd)   position embeddings, one row per position
        layer{i}.wq .wk .wv .wo (n_embd, n_embd)    attention of block i
        layer{i}.fc1 (n_embd, 4 n_embd), layer{i}.fc2 (4 n_embd, n_embd)    its MLP
        lm_head (n_embd, vocab_size)   from the last residual stream to the logits
    """
    c = config
    shapes = {"wte": (c.vocab_size, c.n_embd), "wpe": (c.block_size, c.n_embd)}
    for i in range(c.n_layer):
        for name in ("wq", "wk", "wv", "wo"):
            shapes[f"layer{i}.{name}"] = (c.n_embd, c.n_embd)
        shapes[f"layer{i}.fc1"] = (c.n_embd, 4 * c.n_embd)
        shapes[f"layer{i}.fc2"] = (4 * c.n_embd, c.n_embd)
    shapes["lm_head"] = (c.n_embd, c.vocab_size)
    return {
        name: Tensor(rng.normal(0.0, std, size=shape), requires_grad=True) for name, shape in shapes.items()
    }


@no_type_check
def decode(tokens: np.ndarray, vocab: list[str]) -> str:
    """The characters of `tokens` up to (not including) the first boundary token."""
    chars = []
    for t in tokens:
        if t == BOUNDARY:
            break
        chars.append(vocab[t])
    return "".join(chars)


# %% [markdown]
# ## Data: a vocabulary and batches of names


# %%
def build_vocab(names: list[str]) -> list[str]:
    """The model's tokens: the boundary "." first (id 0), then every character that occurs
    in `names`, sorted, each once. Token i is the string vocab[i].

    build_vocab(["bob", "ada"]) == [".", "a", "b", "d", "o"]. On the census names this is
    "." and the 26 letters.
    """
    raise NotImplementedError("build_vocab")


if MAIN:
    check(build_vocab)


# %%
def make_batch(
    names: list[str], vocab: list[str], block_size: int
) -> tuple[Int[np.ndarray, "batch block"], Int[np.ndarray, "batch block"], Bool[np.ndarray, "batch block"]]:
    """Inputs, targets and a mask of real positions for a batch of names.

    Each name becomes the tokens [boundary, c1, ..., cL, boundary]. Its inputs are all but
    the last of them and its targets all but the first (the target at position t is the
    input at t + 1: the next character), both cut to the first `block_size` positions and
    padded after the end with the boundary token up to `block_size`. mask[b, t] is True
    where position t of name b is real, False where it is padding.

    make_batch(["ab", "c"], [".", "a", "b", "c"], 4) gives
        inputs  [[0, 1, 2, 0], [0, 3, 0, 0]]
        targets [[1, 2, 0, 0], [3, 0, 0, 0]]
        mask    [[T, T, T, F], [T, T, F, F]]
    Integer arrays of ids; a Python loop over the names is fine (they are strings).
    """
    raise NotImplementedError("make_batch")


if MAIN:
    check(make_batch)


# %% [markdown]
# ## The model, one piece at a time


# %%
def embed(
    tokens: Int[np.ndarray, "batch seq"],
    wte: Float[Tensor, "vocab d_model"],
    wpe: Float[Tensor, "block d_model"],
) -> Float[Tensor, "batch seq d_model"]:
    """Token plus position embeddings: out[b, t] = wte[tokens[b, t]] + wpe[t].

    seq <= block; position t of every sequence uses row t of wpe. Gradients flow into the
    rows of wte and wpe that were used (use Tensor indexing, not .data).
    """
    raise NotImplementedError("embed")


if MAIN:
    check(embed)


# %%
def rmsnorm(x: Float[Tensor, "*batch d"], eps: float = 1e-5) -> Float[Tensor, "*batch d"]:
    """Root-mean-square normalisation over the last axis, with no learned gain:

        rmsnorm(x) = x / sqrt(mean(x², last axis) + eps)

    Unlike LayerNorm, the mean is not subtracted. eps sits inside the square root.
    """
    raise NotImplementedError("rmsnorm")


if MAIN:
    check(rmsnorm)


# %%
def causal_self_attention(
    x: Float[Tensor, "batch seq d_model"],
    wq: Float[Tensor, "d_model d_model"],
    wk: Float[Tensor, "d_model d_model"],
    wv: Float[Tensor, "d_model d_model"],
    wo: Float[Tensor, "d_model d_model"],
    n_head: int,
) -> Float[Tensor, "batch seq d_model"]:
    """Multi-head causal self-attention, without biases.

    q = x @ wq, k = x @ wk, v = x @ wv, each split into n_head heads of
    head_dim = d_model // n_head: head h is columns h*head_dim to (h+1)*head_dim. In each
    head, position t attends to positions s <= t only:

        weights[t, s] = softmax over s of (q_t · k_s / sqrt(head_dim)), 0 for s > t
        head_out[t]   = sum_s weights[t, s] v_s

    The heads' outputs are put side by side again (head h in the same columns) and
    multiplied by wo. Mask the future by adding a constant array of -1e9 above the
    diagonal to the scores before the softmax; split heads with reshape and transpose.
    """
    raise NotImplementedError("causal_self_attention")


if MAIN:
    check(causal_self_attention)


# %%
def mlp_block(
    x: Float[Tensor, "*batch d_model"],
    fc1: Float[Tensor, "d_model d_hidden"],
    fc2: Float[Tensor, "d_hidden d_model"],
) -> Float[Tensor, "*batch d_model"]:
    """The position-wise MLP of a transformer block, without biases: relu(x @ fc1) @ fc2.

    (microGPT uses a plain ReLU; d_hidden is 4 d_model.)
    """
    raise NotImplementedError("mlp_block")


if MAIN:
    check(mlp_block)


# %%
def gpt_forward(
    params: dict[str, Tensor], tokens: Int[np.ndarray, "batch seq"], config: GPTConfig
) -> Float[Tensor, "batch seq vocab"]:
    """The logits of the next token at every position: out[b, t] scores what follows
    tokens[b, :t+1] (and nothing after t).

        x = embed(tokens, wte, wpe)
        for each layer i:                       pre-norm residual blocks
            x = x + causal_self_attention(rmsnorm(x), layer{i}.wq, .wk, .wv, .wo, n_head)
            x = x + mlp_block(rmsnorm(x), layer{i}.fc1, layer{i}.fc2)
        logits = rmsnorm(x) @ lm_head           a final norm, then the unembedding

    params: as made by init_params(config, ...). seq <= config.block_size: a longer
    sequence has positions without an embedding, and raises ValueError with a message that
    names both numbers, e.g. "a sequence of length 17 is longer than block_size 16" (as
    nanoGPT does; an assert would vanish under python -O).
    """
    raise NotImplementedError("gpt_forward")


if MAIN:
    check(gpt_forward)


# %%
def gpt_loss(
    logits: Float[Tensor, "batch seq vocab"],
    targets: Int[np.ndarray, "batch seq"],
    mask: Bool[np.ndarray, "batch seq"],
) -> Float[Tensor, ""]:
    """The mean cross-entropy of the targets over the real positions (mask True):

        loss = -(1 / #real) * sum over real (b, t) of log softmax(logits[b, t])[targets[b, t]]

    A mean over all real tokens of the batch (a long name weighs more than a short one);
    padded positions count for nothing, whatever their logits and targets. Returns a 0-d
    Tensor (call .backward() on it); stable for logits of ±1000.
    """
    raise NotImplementedError("gpt_loss")


if MAIN:
    check(gpt_loss)


# %% [markdown]
# ## Training


# %%
# Given: the training loop and an evaluation. `train` calls your `adam_step` (next cell).
# Batches are drawn with replacement; each batch is cut to its longest name (a causal
# model's earlier positions do not depend on later ones, and padding is masked), and the
# learning rate decays linearly to 0.
def train(
    params: dict[str, Tensor],
    config: GPTConfig,
    names: list[str],
    vocab: list[str],
    steps: int,
    rng: np.random.Generator,
    batch_size: int = 32,
    lr: float = 0.01,
    log_every: int = 0,
) -> list[float]:
    """Train `params` in place with Adam on random batches of `names`; returns each step's loss."""
    m = {name: np.zeros_like(p.data) for name, p in params.items()}
    v = {name: np.zeros_like(p.data) for name, p in params.items()}
    losses = []
    for step in range(1, steps + 1):
        batch = [names[i] for i in rng.integers(len(names), size=batch_size)]
        inputs, targets, mask = make_batch(batch, vocab, config.block_size)
        width = int(mask.sum(axis=1).max())
        loss = gpt_loss(gpt_forward(params, inputs[:, :width], config), targets[:, :width], mask[:, :width])
        for p in params.values():
            p.grad = None  # leaves accumulate gradients: start each step from none
        loss.backward()
        adam_step(params, m, v, step, lr * (1 - (step - 1) / steps))
        losses.append(loss.item())
        if log_every and (step % log_every == 0 or step == 1):
            print(f"step {step:5d}  loss {np.mean(losses[-log_every:]):.4f}")
    return losses


def evaluate(params: dict[str, Tensor], config: GPTConfig, names: list[str], vocab: list[str]) -> float:
    """The mean cross-entropy per token (nats) of the model on `names`, without a graph."""
    total, count = 0.0, 0
    with no_grad():
        for start in range(0, len(names), 512):
            inputs, targets, mask = make_batch(names[start : start + 512], vocab, config.block_size)
            loss = gpt_loss(gpt_forward(params, inputs, config), targets, mask)
            total, count = total + loss.item() * mask.sum(), count + mask.sum()
    return float(total / count)


# %%
def adam_step(
    params: dict[str, Tensor],
    m: dict[str, np.ndarray],
    v: dict[str, np.ndarray],
    step: int,
    lr: float,
    beta1: float = 0.85,
    beta2: float = 0.99,
    eps: float = 1e-8,
) -> None:
    """One Adam update of every parameter that has a gradient (p.grad not None), in place.

    For each name with g = params[name].grad:
        m[name] = beta1 m[name] + (1 - beta1) g          (moving average of g)
        v[name] = beta2 v[name] + (1 - beta2) g²         (moving average of g²)
        m̂ = m[name] / (1 - beta1**step), v̂ = v[name] / (1 - beta2**step)   (bias correction)
        params[name].data -= lr m̂ / (sqrt(v̂) + eps)

    m and v hold one array per parameter name, of its shape (zeros before the first step);
    store the new moments in them. step counts updates from 1. Returns nothing. The
    defaults are microGPT's.
    """
    raise NotImplementedError("adam_step")


if MAIN:
    check(adam_step)


# %% [markdown]
# ## Sampling


# %%
def sample(
    logits_fn: Callable[[np.ndarray], np.ndarray],
    vocab: list[str],
    n_samples: int,
    block_size: int,
    rng: np.random.Generator,
    temperature: float = 1.0,
) -> list[str]:
    """Generate n_samples names at once, one character per step.

    logits_fn(tokens) takes an int array of shape (n, t) with 1 <= t <= block_size and
    returns logits of shape (n, t, vocab_size), as gpt_forward does; only the last
    position's logits, logits[:, -1], matter here.

    Every sequence starts as [boundary]. At each step, feed all sequences so far, divide
    the last logits by the temperature, and draw each sequence's next token from the
    softmax of that (stably: temperature 0.01 must not overflow, and each row's softmax is
    exact whatever the scale of the other rows' logits), using `rng` only, the
    generator itself (not a copy, not re-seeded: two calls with one generator differ).
    temperature == 0 means greedy: take the argmax. Append the tokens and repeat,
    block_size times at most (so the model never sees more than block_size tokens), or
    until every sequence has produced the boundary token. A name is the characters
    generated before its first boundary token (all block_size of them if none).
    """
    raise NotImplementedError("sample")


if MAIN:
    check(sample)


# %%
@no_type_check
def gpt_logits_fn(params: dict[str, Tensor], config: GPTConfig) -> Callable[[np.ndarray], np.ndarray]:
    """The model as `sample` wants it: tokens -> logits as an ndarray, with no graph."""

    def logits_fn(tokens: np.ndarray) -> np.ndarray:
        with no_grad():
            return gpt_forward(params, tokens, config).data

    return logits_fn


# %% [markdown]
# ## Train microGPT on the names, then sample
#
# 90% of the names for training, 10% held out. With the reference engine, 3,000 steps of
# 32 names take about 6 seconds on the course's 2-core machine and bring the loss from
# 3.36 (log 27 = 3.30 is uniform guessing) to 1.89 nats per token on the training names
# and 2.00 on the held-out ones, well below the 2.81 of the letter frequencies alone.

# %%
if MAIN:
    names = load_names()
    order = np.random.default_rng(0).permutation(len(names))
    held_out = [names[i] for i in order[: len(names) // 10]]
    training = [names[i] for i in order[len(names) // 10 :]]
    vocab = build_vocab(names)
    config = GPTConfig(vocab_size=len(vocab))
    params = init_params(config, np.random.default_rng(1))
    n_params = sum(p.size for p in params.values())
    print(f"{len(names)} names, vocabulary {''.join(vocab)!r}, {n_params} parameters")
    start = time.perf_counter()
    losses = train(params, config, training, vocab, steps=3000, rng=np.random.default_rng(2), log_every=500)
    seconds = time.perf_counter() - start
    print(f"trained in {seconds:.1f} s")
    train_loss, held_out_loss = (
        evaluate(params, config, training, vocab),
        evaluate(params, config, held_out, vocab),
    )
    print(f"loss per character: training {train_loss:.4f}, held out {held_out_loss:.4f} (nats)")
    generated = sample(
        gpt_logits_fn(params, config), vocab, 20, config.block_size, np.random.default_rng(3), 0.5
    )
    print("samples at temperature 0.5:", " ".join(generated))
