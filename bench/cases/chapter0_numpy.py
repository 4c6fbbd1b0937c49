"""Chapter 0 benchmark cases: pairwise distances, the softmax family, windowed correlation,
the DFT matrix, and rendering a mesh with the batched ray tracer."""

from __future__ import annotations

import numpy as np

from bench.run import Case, in_torch

STABLE = "chapter0_numpy/part4_stable"
STRIDES = "chapter0_numpy/part3_strides"
LINALG = "chapter0_numpy/part5_linalg"
ARRAYS = "chapter0_numpy/part1_arrays"
RAYS = "chapter0_numpy/part8_raytracer"


def _logits():
    return (np.random.default_rng(0).normal(size=(4096, 1000)) * 10,)


def _signals():
    g = np.random.default_rng(1)
    return g.normal(size=(64, 16_384)), g.normal(size=31)


def _signal_512():
    return (np.random.default_rng(2).normal(size=(256, 512)),)


def _numpy_fft(inputs):
    return lambda: np.fft.fft(inputs[0], axis=-1)


def _points():
    g = np.random.default_rng(3)
    return g.normal(size=(2000, 64)), g.normal(size=(3000, 64))


def _mesh():
    return ()


def _render(module, _inputs):
    # the given icosahedron, 64 x 96 pixels: 6,144 rays x 20 triangles
    triangles = module.icosahedron(np.array([3.0, 0.0, 0.0]), 1.0)
    return module.render_mesh(triangles, 64, 96, 0.5, 0.75)


CASES = [
    Case(
        "pairwise_sq_distances 2000x64, 3000x64",
        ARRAYS,
        _points,
        lambda m, i: m.pairwise_sq_distances(*i),
        in_torch(lambda t, a, b: t.cdist(a, b) ** 2),
    ),
    Case(
        "softmax 4096x1000",
        STABLE,
        _logits,
        lambda m, i: m.softmax(*i),
        in_torch(lambda t, x: t.softmax(x, dim=-1)),
    ),
    Case(
        "log_softmax 4096x1000",
        STABLE,
        _logits,
        lambda m, i: m.log_softmax(*i),
        in_torch(lambda t, x: t.log_softmax(x, dim=-1)),
    ),
    Case(
        "logsumexp 4096x1000",
        STABLE,
        _logits,
        lambda m, i: m.logsumexp(*i),
        in_torch(lambda t, x: t.logsumexp(x, dim=-1)),
    ),
    Case(
        "sigmoid 4096x1000", STABLE, _logits, lambda m, i: m.sigmoid(*i), in_torch(lambda t, x: t.sigmoid(x))
    ),
    Case(
        "correlate_valid 64x16384, k=31, stride 2",
        STRIDES,
        _signals,
        lambda m, i: m.correlate_valid(*i, stride=2),
        in_torch(lambda t, x, k: t.nn.functional.conv1d(x[:, None], k[None, None], stride=2)),
    ),
    # The DFT as a dense matrix is O(n^2) against the FFT's O(n log n): the ratio is the lesson.
    Case(
        "dft_matrix(512) applied to 256 signals",
        LINALG,
        _signal_512,
        lambda m, i: i[0] @ m.dft_matrix(512).T,
        _numpy_fft,
        other_name="np.fft",
    ),
    Case("render_mesh icosahedron 64x96", RAYS, _mesh, _render),
]
