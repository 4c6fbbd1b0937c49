"""Tests for chapter 0, part 2: einops rearrange/reduce/repeat and einsum.

Expected values come from formulations written independently here: Python loops over
tiles, patches, blocks and index triples (math.fsum for sums), plain reshape/transpose
recipes, hand-checked small cases, and identities (a rank-one bilinear form factorises;
doubling the feature size of q and k multiplies the scaled scores by sqrt(2)). Every axis
has its own size, so an axis in the wrong place, or a factor split in the wrong order,
changes the values even when the shape happens to come out right.
"""

import math

import numpy as np
import pytest

from grader.testkit import exercise, expect_close, rng, run


def _grid_mistakes(images: np.ndarray, n_rows: int) -> dict:
    b, h, w, c = images.shape
    n_cols = b // n_rows
    tiles = images.reshape(n_rows, n_cols, h, w, c)
    return {
        "fill the grid column by column instead of row by row": lambda: (
            images.reshape(n_cols, n_rows, h, w, c)
            .transpose(1, 2, 0, 3, 4)
            .reshape(n_rows * h, n_cols * w, c)
        ),
        "put the grid axis inside the pixel axis ((h b1) instead of (b1 h)), interleaving the images' rows": (
            lambda: tiles.transpose(2, 0, 3, 1, 4).reshape(h * n_rows, w * n_cols, c)
        ),
    }


def _patchify_mistakes(images: np.ndarray, ph: int, pw: int) -> dict:
    b, h, w, c = images.shape
    parts = images.reshape(b, h // ph, ph, w // pw, pw, c)
    n = (h // ph) * (w // pw)
    return {
        "flatten each patch in (channel, row, column) order instead of (row, column, channel)": lambda: (
            parts.transpose(0, 1, 3, 5, 2, 4).reshape(b, n, -1)
        ),
        "number the patches column by column instead of row by row": lambda: parts.transpose(
            0, 3, 1, 2, 4, 5
        ).reshape(b, n, -1),
        "split each image axis as (pixel-in-patch, patch) instead of (patch, pixel-in-patch)": lambda: (
            images.reshape(b, ph, h // ph, pw, w // pw, c).transpose(0, 2, 4, 1, 3, 5).reshape(b, n, -1)
        ),
        "flatten each patch column by column ((pw ph c) instead of (ph pw c))": lambda: parts.transpose(
            0, 1, 3, 4, 2, 5
        ).reshape(b, n, -1),
    }


def _arange(shape) -> np.ndarray:
    """Distinct float values 0, 1, 2, ... in the given shape: every entry is traceable."""
    return np.arange(math.prod(shape), dtype=np.float64).reshape(shape)


# --- image_grid ---------------------------------------------------------------------------


def _grid_loops(images: np.ndarray, n_rows: int) -> np.ndarray:
    b, h, w, c = images.shape
    n_cols = b // n_rows
    grid = np.zeros((n_rows * h, n_cols * w, c))
    for i in range(b):
        r, col = divmod(i, n_cols)
        grid[r * h : (r + 1) * h, col * w : (col + 1) * w, :] = images[i]
    return grid


@exercise("image_grid")
@pytest.mark.parametrize("b, n_rows", [(6, 2), (6, 3), (4, 1), (5, 5)])
def test_image_grid_matches_loops(impl, b, n_rows):
    images = rng(100 + b + n_rows).normal(size=(b, 4, 5, 2))
    expect_close(
        run(impl.image_grid, images, n_rows),
        _grid_loops(images, n_rows),
        rtol=0,
        atol=0,
        mistakes=_grid_mistakes(images, n_rows),
    )


@exercise("image_grid")
def test_image_grid_hand_case(impl):
    # four images of 2 rows x 1 column: image i holds 2i (top) and 2i + 1 (bottom)
    images = _arange((4, 2, 1, 1))
    want = np.array([[0.0, 2.0], [1.0, 3.0], [4.0, 6.0], [5.0, 7.0]])[:, :, None]
    expect_close(run(impl.image_grid, images, 2), want, rtol=0, atol=0)


@exercise("image_grid")
def test_image_grid_cut_back_into_tiles(impl):
    # undo the grid with a plain reshape/transpose: the tiles are the images, in order
    images = rng(101).normal(size=(6, 3, 4, 3))
    got = run(impl.image_grid, images, 3)
    grid = np.asarray(got.value)
    if grid.shape != (9, 8, 3):
        raise AssertionError(f"{got}: shape {grid.shape}, expected (9, 8, 3) = (3 * 3, 2 * 4, 3)")
    tiles = grid.reshape(3, 3, 2, 4, 3).transpose(0, 2, 1, 3, 4).reshape(6, 3, 4, 3)
    for i in range(6):
        if not np.array_equal(tiles[i], images[i]):
            raise AssertionError(
                f"{got}: the tile in grid row {i // 2}, column {i % 2} is not image {i} "
                "(images fill the grid row by row, each tile is one whole image)"
            )


# --- patchify -----------------------------------------------------------------------------


def _patches_loops(images: np.ndarray, ph: int, pw: int) -> np.ndarray:
    b, h, w, c = images.shape
    out = []
    for n in range(b):
        patches = []
        for i in range(h // ph):
            for j in range(w // pw):
                patches.append(images[n, i * ph : (i + 1) * ph, j * pw : (j + 1) * pw, :].reshape(-1))
        out.append(patches)
    return np.array(out)


@exercise("patchify")
@pytest.mark.parametrize("b, h, w, c, ph, pw", [(2, 6, 8, 3, 3, 2), (1, 4, 6, 2, 2, 3), (3, 5, 4, 1, 5, 2)])
def test_patchify_matches_loops(impl, b, h, w, c, ph, pw):
    images = rng(110 + h).normal(size=(b, h, w, c))
    expect_close(
        run(impl.patchify, images, ph, pw),
        _patches_loops(images, ph, pw),
        rtol=0,
        atol=0,
        mistakes=_patchify_mistakes(images, ph, pw),
    )


@exercise("patchify")
def test_patchify_hand_case(impl):
    # one 2 x 4 single-channel image [[0 1 2 3], [4 5 6 7]], 2 x 2 patches
    images = _arange((1, 2, 4, 1))
    want = np.array([[[0.0, 1.0, 4.0, 5.0], [2.0, 3.0, 6.0, 7.0]]])
    expect_close(run(impl.patchify, images, 2, 2), want, rtol=0, atol=0)


@exercise("patchify")
def test_patchify_matches_reshape_transpose(impl):
    b, nh, ph, nw, pw, c = 2, 3, 2, 2, 4, 3
    images = _arange((b, nh * ph, nw * pw, c))
    want = images.reshape(b, nh, ph, nw, pw, c).transpose(0, 1, 3, 2, 4, 5).reshape(b, nh * nw, ph * pw * c)
    expect_close(run(impl.patchify, images, ph, pw), want, rtol=0, atol=0)


@exercise("patchify")
def test_patchify_one_patch_is_the_whole_image(impl):
    images = rng(111).normal(size=(3, 4, 5, 2))
    expect_close(run(impl.patchify, images, 4, 5), images.reshape(3, 1, 40), rtol=0, atol=0)


# --- split_heads --------------------------------------------------------------------------


@exercise("split_heads")
@pytest.mark.parametrize("b, t, d_model, n_heads", [(2, 5, 12, 3), (3, 4, 6, 2), (1, 7, 8, 1), (2, 3, 6, 6)])
def test_split_heads_matches_reshape_transpose(impl, b, t, d_model, n_heads):
    x = rng(120 + d_model).normal(size=(b, t, d_model))
    want = x.reshape(b, t, n_heads, d_model // n_heads).transpose(0, 2, 1, 3)
    inner = x.reshape(b, t, d_model // n_heads, n_heads).transpose(0, 3, 1, 2)
    expect_close(
        run(impl.split_heads, x, n_heads),
        want,
        rtol=0,
        atol=0,
        mistakes={
            "make the head the inner factor of the feature axis ((d_head heads), not (heads d_head))": inner
        },
    )


@exercise("split_heads")
def test_split_heads_hand_case(impl):
    # features 0..5 at time 0 and 10..15 at time 1; head j owns features 2j and 2j + 1
    x = np.array([[[0.0, 1, 2, 3, 4, 5], [10.0, 11, 12, 13, 14, 15]]])
    want = np.array([[[[0.0, 1], [10, 11]], [[2, 3], [12, 13]], [[4, 5], [14, 15]]]])
    expect_close(run(impl.split_heads, x, 3), want, rtol=0, atol=0)


@exercise("split_heads")
def test_split_heads_matches_slicing_loops(impl):
    b, t, n_heads, d_head = 2, 3, 4, 5
    x = rng(121).normal(size=(b, t, n_heads * d_head))
    want = np.zeros((b, n_heads, t, d_head))
    for i in range(b):
        for j in range(n_heads):
            for s in range(t):
                want[i, j, s] = x[i, s, j * d_head : (j + 1) * d_head]
    expect_close(run(impl.split_heads, x, n_heads), want, rtol=0, atol=0)


# --- max_pool_blocks ----------------------------------------------------------------------


def _max_pool_loops(images: np.ndarray, ph: int, pw: int) -> np.ndarray:
    b, h, w, c = images.shape
    out = np.zeros((b, h // ph, w // pw, c))
    for n in range(b):
        for i in range(h // ph):
            for j in range(w // pw):
                for ch in range(c):
                    out[n, i, j, ch] = max(
                        images[n, i * ph : (i + 1) * ph, j * pw : (j + 1) * pw, ch].ravel()
                    )
    return out


@exercise("max_pool_blocks")
@pytest.mark.parametrize("b, h, w, c, ph, pw", [(2, 6, 4, 3, 3, 2), (1, 4, 9, 2, 2, 3), (3, 2, 5, 1, 1, 5)])
def test_max_pool_blocks_matches_loops(impl, b, h, w, c, ph, pw):
    images = rng(130 + w).normal(size=(b, h, w, c))
    blocks = images.reshape(b, h // ph, ph, w // pw, pw, c)
    expect_close(
        run(impl.max_pool_blocks, images, ph, pw),
        _max_pool_loops(images, ph, pw),
        rtol=0,
        atol=0,
        mistakes={
            "take the mean of each block instead of the max": lambda: blocks.mean(axis=(2, 4)),
            "split each axis as (pool out), not (out pool): blocks of pixels out apart": lambda: (
                images.reshape(b, ph, h // ph, pw, w // pw, c).max(axis=(1, 3))
            ),
        },
    )


@exercise("max_pool_blocks")
def test_max_pool_blocks_hand_case_all_negative(impl):
    # every value is negative: a max that starts from 0 would return 0
    image = -np.array(
        [
            [9.0, 8.0, 7.0, 6.0, 5.0, 4.0],
            [3.0, 2.0, 1.0, 9.0, 9.0, 9.0],
            [5.0, 5.0, 5.0, 7.0, 7.0, 7.0],
            [5.0, 6.0, 5.0, 7.0, 3.0, 7.0],
        ]
    )
    want = -np.array([[1.0, 4.0], [5.0, 3.0]])
    expect_close(
        run(impl.max_pool_blocks, image[None, :, :, None], 2, 3), want[None, :, :, None], rtol=0, atol=0
    )


@exercise("max_pool_blocks")
def test_max_pool_blocks_matches_reshape_max(impl):
    b, ho, ph, wo, pw, c = 2, 3, 2, 2, 4, 3
    images = rng(131).normal(size=(b, ho * ph, wo * pw, c))
    want = images.reshape(b, ho, ph, wo, pw, c).max(axis=(2, 4))
    expect_close(run(impl.max_pool_blocks, images, ph, pw), want, rtol=0, atol=0)


@exercise("max_pool_blocks")
def test_max_pool_blocks_one_by_one_is_identity(impl):
    images = rng(132).normal(size=(2, 3, 4, 5))
    expect_close(run(impl.max_pool_blocks, images, 1, 1), images.copy(), rtol=0, atol=0)


# --- upsample_nearest ---------------------------------------------------------------------


@exercise("upsample_nearest")
@pytest.mark.parametrize("b, h, w, c, fh, fw", [(2, 3, 4, 2, 2, 3), (1, 2, 5, 3, 3, 1), (3, 4, 1, 1, 1, 2)])
def test_upsample_nearest_matches_np_repeat(impl, b, h, w, c, fh, fw):
    images = rng(140 + h).normal(size=(b, h, w, c))
    want = np.repeat(np.repeat(images, fh, axis=1), fw, axis=2)
    expect_close(
        run(impl.upsample_nearest, images, fh, fw),
        want,
        rtol=0,
        atol=0,
        mistakes={
            "tile the whole image ((fh h) instead of (h fh)) instead of repeating each pixel": np.tile(
                images, (1, fh, fw, 1)
            )
        },
    )


@exercise("upsample_nearest")
def test_upsample_nearest_hand_case(impl):
    image = np.array([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]])[None, :, :, None]
    tall = np.array([[1.0, 2.0, 3.0], [1.0, 2.0, 3.0], [4.0, 5.0, 6.0], [4.0, 5.0, 6.0]])
    wide = np.array([[1.0, 1.0, 2.0, 2.0, 3.0, 3.0], [4.0, 4.0, 5.0, 5.0, 6.0, 6.0]])
    expect_close(run(impl.upsample_nearest, image, 2, 1), tall[None, :, :, None], rtol=0, atol=0)
    expect_close(run(impl.upsample_nearest, image, 1, 2), wide[None, :, :, None], rtol=0, atol=0)


@exercise("upsample_nearest")
def test_upsample_nearest_index_formula(impl):
    b, h, w, c, fh, fw = 2, 3, 2, 4, 2, 3
    images = rng(141).normal(size=(b, h, w, c))
    rows = np.arange(h * fh) // fh
    cols = np.arange(w * fw) // fw
    want = images[:, rows[:, None], cols[None, :], :]  # out[b, i, j] = x[b, i // fh, j // fw]
    expect_close(run(impl.upsample_nearest, images, fh, fw), want, rtol=0, atol=0)


# --- batched_matmul -----------------------------------------------------------------------


def _matmul_loops(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    batch, n, k = a.shape
    m = b.shape[2]
    out = np.zeros((batch, n, m))
    for i in range(batch):
        for r in range(n):
            for s in range(m):
                out[i, r, s] = math.fsum(a[i, r, j] * b[i, j, s] for j in range(k))
    return out


@exercise("batched_matmul")
@pytest.mark.parametrize("batch, n, k, m", [(3, 2, 4, 5), (1, 5, 3, 2), (4, 1, 6, 1)])
def test_batched_matmul_matches_loops(impl, batch, n, k, m):
    g = rng(150 + n)
    a, b = g.normal(size=(batch, n, k)), g.normal(size=(batch, k, m))
    expect_close(
        run(impl.batched_matmul, a, b),
        _matmul_loops(a, b),
        rtol=1e-12,
        atol=1e-12,
        mistakes={
            "give b's batch axis its own letter in einsum ('bnk,ckm->bnm'), which sums over it": lambda: (
                np.einsum("bnk,ckm->bnm", a, b)
            )
        },
    )


@exercise("batched_matmul")
def test_batched_matmul_hand_case(impl):
    a = np.array([[[1.0, 2.0, 0.0], [0.0, 1.0, -1.0]], [[2.0, 0.0, 0.0], [1.0, 1.0, 1.0]]])  # (2, 2, 3)
    b = np.array([[[1.0], [1.0], [1.0]], [[3.0], [-1.0], [2.0]]])  # (2, 3, 1)
    want = np.array([[[3.0], [0.0]], [[6.0], [4.0]]])
    expect_close(run(impl.batched_matmul, a, b), want, rtol=1e-12)


@exercise("batched_matmul")
def test_batched_matmul_keeps_batch_entries_apart(impl):
    # permuting the batch permutes the result the same way; nothing is summed over batch
    g = rng(151)
    a, b = g.normal(size=(4, 3, 2)), g.normal(size=(4, 2, 5))
    perm = np.array([2, 0, 3, 1])
    base = run(impl.batched_matmul, a, b)
    expect_close(
        run(impl.batched_matmul, a[perm], b[perm]), np.asarray(base.value)[perm], rtol=1e-12, atol=1e-12
    )
    expect_close(base, _matmul_loops(a, b), rtol=1e-12, atol=1e-12)


# --- bilinear_form ------------------------------------------------------------------------


def _bilinear_loops(x: np.ndarray, A: np.ndarray, y: np.ndarray) -> np.ndarray:
    n, m = A.shape
    return np.array(
        [
            math.fsum(x[i, r] * A[r, s] * y[i, s] for r in range(n) for s in range(m))
            for i in range(x.shape[0])
        ]
    )


@exercise("bilinear_form")
@pytest.mark.parametrize("batch, n, m", [(4, 3, 5), (1, 2, 6), (6, 5, 2)])
def test_bilinear_form_matches_loops(impl, batch, n, m):
    g = rng(160 + n)
    x, A, y = g.normal(size=(batch, n)), g.normal(size=(n, m)), g.normal(size=(batch, m))
    expect_close(
        run(impl.bilinear_form, x, A, y),
        _bilinear_loops(x, A, y),
        rtol=1e-12,
        atol=1e-12,
        mistakes={
            "give y's batch axis its own letter in einsum ('br,rs,cs->b'), which sums over it": lambda: (
                np.einsum("br,rs,cs->b", x, A, y)
            )
        },
    )


@exercise("bilinear_form")
def test_bilinear_form_hand_case(impl):
    x = np.array([[1.0, 0.0], [0.0, 2.0], [1.0, 1.0]])
    A = np.array([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]])
    y = np.array([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [1.0, 1.0, 1.0]])
    # A[0, 0] = 1; 2 * A[1, 1] = 10; the sum of all of A = 21
    expect_close(run(impl.bilinear_form, x, A, y), np.array([1.0, 10.0, 21.0]), rtol=1e-12)


@exercise("bilinear_form")
def test_bilinear_form_rank_one_factorises(impl):
    # with A = u v^T, x^T A y = (x . u)(v . y)
    g = rng(161)
    u, v = g.normal(size=4), g.normal(size=3)
    x, y = g.normal(size=(5, 4)), g.normal(size=(5, 3))
    expect_close(run(impl.bilinear_form, x, np.outer(u, v), y), (x @ u) * (y @ v), rtol=1e-10, atol=1e-12)


# --- attention_scores ---------------------------------------------------------------------


def _scores_loops(q: np.ndarray, k: np.ndarray) -> np.ndarray:
    b, n_q, d = q.shape
    n_k = k.shape[1]
    out = np.zeros((b, n_q, n_k))
    for i in range(b):
        for s in range(n_q):
            for t in range(n_k):
                out[i, s, t] = math.fsum(q[i, s, j] * k[i, t, j] for j in range(d)) / math.sqrt(d)
    return out


@exercise("attention_scores")
@pytest.mark.parametrize("b, n_q, n_k, d", [(2, 3, 5, 4), (1, 6, 2, 9), (3, 1, 4, 2)])
def test_attention_scores_matches_loops(impl, b, n_q, n_k, d):
    g = rng(170 + d)
    q, k = g.normal(size=(b, n_q, d)), g.normal(size=(b, n_k, d))
    want = _scores_loops(q, k)
    expect_close(
        run(impl.attention_scores, q, k),
        want,
        rtol=1e-12,
        atol=1e-12,
        mistakes={
            "forget to divide by sqrt(d)": want * math.sqrt(d),
            "divide by d instead of sqrt(d)": want / math.sqrt(d),
        },
    )


@exercise("attention_scores")
def test_attention_scores_hand_case(impl):
    # d = 4, so the dot products are divided by 2
    q = np.array([[[1.0, 0.0, 0.0, 0.0], [0.0, 2.0, 0.0, 0.0]]])
    k = np.array([[[1.0, 1.0, 1.0, 1.0], [0.0, 0.0, 0.0, 4.0], [2.0, 0.0, 0.0, 0.0]]])
    want = np.array([[[0.5, 0.0, 1.0], [1.0, 0.0, 0.0]]])
    expect_close(run(impl.attention_scores, q, k), want, rtol=1e-12)


@exercise("attention_scores")
def test_attention_scores_scale_with_feature_size(impl):
    # repeating the features doubles d and every dot product: the scores grow by 2 / sqrt(2)
    g = rng(171)
    q, k = g.normal(size=(2, 4, 3)), g.normal(size=(2, 5, 3))
    base = run(impl.attention_scores, q, k)
    doubled = run(impl.attention_scores, np.concatenate([q, q], -1), np.concatenate([k, k], -1))
    expect_close(
        doubled,
        math.sqrt(2) * np.asarray(base.value),
        rtol=1e-12,
        atol=1e-12,
        what="sqrt(2) x scores at d = 3",
    )
    expect_close(base, _scores_loops(q, k), rtol=1e-12, atol=1e-12)
