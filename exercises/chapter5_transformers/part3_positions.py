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
    raise NotImplementedError("sinusoidal_positions")


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
    raise NotImplementedError("sinusoidal_shift_matrix")


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
    raise NotImplementedError("embedding_forward")


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
    raise NotImplementedError("embedding_backward")


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
    raise NotImplementedError("rope_forward")


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
    raise NotImplementedError("rope_backward")


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
