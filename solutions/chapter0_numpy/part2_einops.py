# %% [markdown]
# # Chapter 0, part 2: einops rearrange/reduce/repeat and einsum
#
# Reading: chapters/chapter0_numpy/part2_einops.md
#
# Fill in each function, then run the cell below it: `check(fn)` runs that exercise's
# tests here and prints a verdict. `python -m grader chapter0/part2` grades the file.
# The first five exercises are one einops call each; the last three are one np.einsum.

# %%
import einops
import numpy as np
from jaxtyping import Float

from grader.check import check

MAIN = __name__ == "__main__"


# %%
def image_grid(images: Float[np.ndarray, "b h w c"], n_rows: int) -> Float[np.ndarray, "grid_h grid_w c"]:
    """Lay a batch of b images out as one big image: a grid of n_rows rows of tiles.

    b must be a multiple of n_rows; the grid has n_cols = b // n_rows columns, so the
    result has shape (n_rows * h, n_cols * w, c). The images fill the grid row by row:
    image i is the tile in grid row i // n_cols, grid column i % n_cols.
    Use einops.rearrange.
    """
    # BEGIN SOLUTION
    # Split the batch axis into (grid row, grid column), then merge each grid axis with
    # the pixel axis it sits outside of: output row = grid_row * h + pixel_row.
    return einops.rearrange(images, "(b1 b2) h w c -> (b1 h) (b2 w) c", b1=n_rows)
    # END SOLUTION


if MAIN:
    check(image_grid)


# %%
def patchify(
    images: Float[np.ndarray, "b h w c"], patch_h: int, patch_w: int
) -> Float[np.ndarray, "b n_patches patch_dim"]:
    """Cut each image into non-overlapping patch_h x patch_w patches and flatten each one.

    As in a Vision Transformer: h and w are multiples of patch_h and patch_w; the result
    has n_patches = (h // patch_h) * (w // patch_w) and patch_dim = patch_h * patch_w * c.
    Patches are numbered row by row (patch (i, j) of the patch grid is number
    i * (w // patch_w) + j), and each patch is flattened in (row, column, channel)
    order, i.e. like images[b, rows, cols, :].reshape(-1).
    Use einops.rearrange.
    """
    # BEGIN SOLUTION
    # Pixel row = patch_row * patch_h + row_in_patch: the patch index is the outer factor.
    return einops.rearrange(images, "b (nh ph) (nw pw) c -> b (nh nw) (ph pw c)", ph=patch_h, pw=patch_w)
    # END SOLUTION


if MAIN:
    check(patchify)


# %%
def split_heads(x: Float[np.ndarray, "b t d_model"], n_heads: int) -> Float[np.ndarray, "b n_heads t d_head"]:
    """Split the feature axis into attention heads and move the head axis before time.

    d_model = n_heads * d_head, and head j owns features j * d_head ... (j + 1) * d_head - 1:
    out[b, j, t, :] == x[b, t, j * d_head:(j + 1) * d_head].
    Use einops.rearrange.
    """
    # BEGIN SOLUTION
    # (heads d_head): the head is the outer (slower-changing) factor of the feature axis.
    return einops.rearrange(x, "b t (heads d_head) -> b heads t d_head", heads=n_heads)
    # END SOLUTION


if MAIN:
    check(split_heads)


# %%
def max_pool_blocks(
    images: Float[np.ndarray, "b h w c"], pool_h: int, pool_w: int
) -> Float[np.ndarray, "b h_out w_out c"]:
    """Max-pool each channel over non-overlapping pool_h x pool_w blocks.

    h and w are multiples of pool_h and pool_w; the result has shape
    (b, h // pool_h, w // pool_w, c) and out[b, i, j, ch] is the max of
    images[b, i*pool_h:(i+1)*pool_h, j*pool_w:(j+1)*pool_w, ch].
    Use einops.reduce.
    """
    # BEGIN SOLUTION
    # An axis named on the left but not on the right is reduced away.
    return einops.reduce(images, "b (ho ph) (wo pw) c -> b ho wo c", "max", ph=pool_h, pw=pool_w)
    # END SOLUTION


if MAIN:
    check(max_pool_blocks)


# %%
def upsample_nearest(
    images: Float[np.ndarray, "b h w c"], factor_h: int, factor_w: int
) -> Float[np.ndarray, "b h_up w_up c"]:
    """Nearest-neighbour upsampling: every pixel becomes a factor_h x factor_w block.

    The result has shape (b, h * factor_h, w * factor_w, c) and
    out[b, i, j, ch] == images[b, i // factor_h, j // factor_w, ch].
    Use einops.repeat.
    """
    # BEGIN SOLUTION
    # A new axis on the right (fh, fw) repeats; placed inside (h fh) it repeats each pixel,
    # whereas (fh h) would tile the whole image.
    return einops.repeat(images, "b h w c -> b (h fh) (w fw) c", fh=factor_h, fw=factor_w)
    # END SOLUTION


if MAIN:
    check(upsample_nearest)


# %%
def batched_matmul(
    a: Float[np.ndarray, "batch n k"], b: Float[np.ndarray, "batch k m"]
) -> Float[np.ndarray, "batch n m"]:
    """One matrix product per batch entry: out[i] = a[i] @ b[i].

    out[i, r, s] = sum_j a[i, r, j] * b[i, j, s]. Use np.einsum.
    """
    # BEGIN SOLUTION
    # batch appears in every operand and the output: it is carried along, not summed.
    return np.einsum("bnk,bkm->bnm", a, b)
    # END SOLUTION


if MAIN:
    check(batched_matmul)


# %%
def bilinear_form(
    x: Float[np.ndarray, "batch n"], A: Float[np.ndarray, "n m"], y: Float[np.ndarray, "batch m"]
) -> Float[np.ndarray, " batch"]:
    """x_i^T A y_i for every pair of rows: out[i] = sum_{r, s} x[i, r] * A[r, s] * y[i, s].

    A is shared by the whole batch. Use one np.einsum call (three operands).
    """
    # BEGIN SOLUTION
    # r and s appear only on the input side, so both are summed; the (batch, batch)
    # matrix x @ A @ y.T is never formed.
    return np.einsum("br,rs,bs->b", x, A, y)
    # END SOLUTION


if MAIN:
    check(bilinear_form)


# %%
def attention_scores(
    q: Float[np.ndarray, "b n_q d"], k: Float[np.ndarray, "b n_k d"]
) -> Float[np.ndarray, "b n_q n_k"]:
    """Scaled dot-product attention scores: out[b, i, j] = q[b, i] . k[b, j] / sqrt(d).

    Every query is compared with every key of the same batch entry; d is the size of
    the last axis. Use np.einsum.
    """
    # BEGIN SOLUTION
    # Dividing by sqrt(d) keeps the scores' variance near 1 for unit-variance q and k.
    return np.einsum("bqd,bkd->bqk", q, k) / np.sqrt(q.shape[-1])
    # END SOLUTION


if MAIN:
    check(attention_scores)
