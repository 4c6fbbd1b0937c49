# %% [markdown]
# # Chapter 5, part 3: where a token is (sinusoidal, learned and rotary positions)
#
# Reading: chapters/chapter5_transformers/part3_positions.md
#
# Fill in each function, then run the cell below it: `check(fn)` runs that exercise's
# tests here and prints a verdict. `python -m grader chapter5/part3` grades the file.
#
# Attention treats its inputs as a set: permute the tokens and the outputs permute with
# them. Everything a transformer knows about order comes from what this part adds.
#
# Conventions: batch first, tokens (N, T) integer ids, activations x (N, T, D) with
# D = d_model; positions are 0, 1, ..., T - 1. Embedding tables are W_tok (V, D) for a
# vocabulary of V tokens and W_pos (context, D) for sequences of at most `context`
# tokens. Functions that take float arrays accept float64 or float32 and return the dtype
# they were given; no function changes its inputs. The tests compare float64 results to
# 1e-6 relative (1e-9 absolute), float32 results to 1e-4.

# %%
import numpy as np
from jaxtyping import Float, Int

from grader.check import check

MAIN = __name__ == "__main__"


# %% [markdown]
# ## Sinusoidal positions (Vaswani et al. 2017)


# %%
def sinusoidal_positions(T: int, D: int) -> Float[np.ndarray, "T D"]:
    """The fixed position encodings of "Attention Is All You Need", float64, shape (T, D),
    D even. Row t encodes position t (t = 0, ..., T - 1); columns come in pairs
    (2i, 2i + 1), i = 0, ..., D/2 - 1, interleaved, each pair one frequency
    w_i = 10000^(-2i/D):

        PE[t, 2i]     = sin(t * w_i)
        PE[t, 2i + 1] = cos(t * w_i)

    Raises ValueError, with a message that says D must be even, if D is odd.
    """
    # BEGIN SOLUTION
    if D % 2:
        raise ValueError(f"D must be even to pair sines with cosines, got D = {D}")
    w = 10000.0 ** (-np.arange(0, D, 2) / D)  # (D/2,) one frequency per pair
    angles = np.arange(T)[:, None] * w  # (T, D/2)
    pe = np.empty((T, D))
    pe[:, 0::2] = np.sin(angles)
    pe[:, 1::2] = np.cos(angles)
    return pe
    # END SOLUTION


if MAIN:
    check(sinusoidal_positions)
    pe = sinusoidal_positions(50, 16)
    print("PE[:3, :4] =\n", pe[:3, :4].round(3))


# %%
def sinusoidal_shift_matrix(k: int, D: int) -> Float[np.ndarray, "D D"]:
    """The (D, D) matrix M with PE[t + k] = PE[t] @ M for every t, where PE is
    sinusoidal_positions(., D) (row vectors, D even): moving k positions is a fixed linear
    map, the same for every t, which is why the paper hoped a model could learn to attend
    by relative position.

    M is block diagonal: the 2 x 2 block of pair i, rows and columns (2i, 2i + 1), is

        [[ cos(k w_i), -sin(k w_i)],
         [ sin(k w_i),  cos(k w_i)]]      with w_i = 10000^(-2i/D),

    and every entry outside the blocks is 0. k may be negative. float64.
    """
    # BEGIN SOLUTION
    w = 10000.0 ** (-np.arange(0, D, 2) / D)
    c, s = np.cos(k * w), np.sin(k * w)
    M = np.zeros((D, D))
    even, odd = np.arange(0, D, 2), np.arange(1, D, 2)
    M[even, even] = c
    M[even, odd] = -s
    M[odd, even] = s
    M[odd, odd] = c
    return M
    # END SOLUTION


if MAIN:
    check(sinusoidal_shift_matrix)


# %% [markdown]
# ## Learned positions (GPT-2)


# %%
def embedding_forward(
    tokens: Int[np.ndarray, "batch time"],
    W_tok: Float[np.ndarray, "vocab d_model"],
    W_pos: Float[np.ndarray, "context d_model"],
) -> tuple[Float[np.ndarray, "batch time d_model"], tuple]:
    """The input of a GPT: each token's embedding plus its position's,

        x[n, t] = W_tok[tokens[n, t]] + W_pos[t]        t = 0, ..., T - 1,

    both tables learned. Returns (x, cache); x has the tables' dtype (float32 tables give
    float32). If the sequence is longer than the table of positions (T > context), raises
    ValueError with a message that says "context" and gives both T and the context.
    """
    # BEGIN SOLUTION
    T = tokens.shape[1]
    if T > W_pos.shape[0]:
        raise ValueError(f"a sequence of {T} tokens is longer than the context of {W_pos.shape[0]} positions")
    x = W_tok[tokens] + W_pos[:T]  # (N, T, D) + (T, D) broadcasts over the batch
    return x, (tokens, W_tok.shape, W_pos.shape)
    # END SOLUTION


if MAIN:
    check(embedding_forward)


# %%
def embedding_backward(
    dx: Float[np.ndarray, "batch time d_model"], cache: tuple
) -> tuple[Float[np.ndarray, "vocab d_model"], Float[np.ndarray, "context d_model"]]:
    """The gradients of (x, cache) = embedding_forward(tokens, W_tok, W_pos) given dL/dx.

    Returns (dW_tok, dW_pos) with the shapes of W_tok and W_pos and dx's dtype. Row v of
    dW_tok sums dx over every (n, t) where token v occurs (a token seen twice gets both
    gradients; a token never seen gets 0); row t of dW_pos sums dx[:, t] over the batch
    (rows t >= T, positions this batch did not reach, are 0).
    """
    # BEGIN SOLUTION
    tokens, tok_shape, pos_shape = cache
    T, D = dx.shape[1], dx.shape[2]
    dW_tok = np.zeros(tok_shape, dtype=dx.dtype)
    np.add.at(dW_tok, tokens.reshape(-1), dx.reshape(-1, D))  # += that accumulates repeats
    dW_pos = np.zeros(pos_shape, dtype=dx.dtype)
    dW_pos[:T] = dx.sum(axis=0)
    return dW_tok, dW_pos
    # END SOLUTION


if MAIN:
    check(embedding_backward)


# %% [markdown]
# ## Rotary positions (RoPE, Su et al. 2021)


# %%
def rope_forward(
    x: Float[np.ndarray, "*batch T d"], base: float = 10000.0
) -> Float[np.ndarray, "*batch T d"]:
    """Rotary position embedding (RoFormer's convention). x has positions on its
    second-to-last axis (t = 0, ..., T - 1) and an even number d of features on its last
    (any leading axes: (T, d), (N, T, d), (N, H, T, d)). The features form INTERLEAVED
    pairs (x[..., 2i], x[..., 2i + 1]), i = 0, ..., d/2 - 1, and the pair of position t is
    rotated by the angle t * theta_i, theta_i = base^(-2i/d):

        y[..., t, 2i]     = x[..., t, 2i] cos(t theta_i) - x[..., t, 2i + 1] sin(t theta_i)
        y[..., t, 2i + 1] = x[..., t, 2i] sin(t theta_i) + x[..., t, 2i + 1] cos(t theta_i)

    Returns y, of x's shape and dtype. (GPT-NeoX's code, and LLaMA's in Hugging Face
    transformers, pair feature j with j + d/2 instead: a different function, which fails
    the tests.)
    """
    # BEGIN SOLUTION
    T, d = x.shape[-2], x.shape[-1]
    theta = base ** (-np.arange(0, d, 2) / d)  # (d/2,)
    angle = np.arange(T)[:, None] * theta  # (T, d/2)
    cos, sin = np.cos(angle).astype(x.dtype), np.sin(angle).astype(x.dtype)
    x_even, x_odd = x[..., 0::2], x[..., 1::2]  # (..., T, d/2) each: the pairs
    y = np.empty_like(x)
    y[..., 0::2] = x_even * cos - x_odd * sin
    y[..., 1::2] = x_even * sin + x_odd * cos
    return y
    # END SOLUTION


if MAIN:
    check(rope_forward)


# %%
def rope_backward(
    dy: Float[np.ndarray, "*batch T d"], base: float = 10000.0
) -> Float[np.ndarray, "*batch T d"]:
    """The gradient dL/dx of y = rope_forward(x, base) given dL/dy (same shape and dtype).

    RoPE is linear and each pair's map is a rotation, whose transpose is the rotation by
    the opposite angle: no cache is needed.
    """
    # BEGIN SOLUTION
    T, d = dy.shape[-2], dy.shape[-1]
    theta = base ** (-np.arange(0, d, 2) / d)
    angle = np.arange(T)[:, None] * theta
    cos, sin = np.cos(angle).astype(dy.dtype), np.sin(angle).astype(dy.dtype)
    dy_even, dy_odd = dy[..., 0::2], dy[..., 1::2]
    dx = np.empty_like(dy)
    dx[..., 0::2] = dy_even * cos + dy_odd * sin  # the rotation by -t theta_i
    dx[..., 1::2] = -dy_even * sin + dy_odd * cos
    return dx
    # END SOLUTION


if MAIN:
    check(rope_backward)
    # The point of RoPE: a rotated query and key meet at a score that depends on the
    # keys' and queries' contents and on their DISTANCE only.
    g = np.random.default_rng(0)
    q, k = g.normal(size=16), g.normal(size=16)
    seq = np.zeros((12, 16))
    seq[3], seq[7] = q, k  # q at position 3, k at position 7
    a = rope_forward(seq)
    seq2 = np.zeros((12, 16))
    seq2[5], seq2[9] = q, k  # both moved by 2
    b = rope_forward(seq2)
    print("score at (3, 7):", a[3] @ a[7], " at (5, 9):", b[5] @ b[9])
