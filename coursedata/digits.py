"""8x8 digit images: scikit-learn's real ones when installed, a generated fallback otherwise."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

# Our own 8x8 glyphs, one per digit, drawn as text: '#' is ink. The fallback jitters,
# thickens and blurs them so that a classifier has something to learn.
_GLYPHS = {
    0: ["..####..", ".#....#.", "#......#", "#......#", "#......#", "#......#", ".#....#.", "..####.."],
    1: ["...##...", "..###...", ".#.##...", "...##...", "...##...", "...##...", "...##...", ".######."],
    2: [".#####..", "#.....#.", "......#.", ".....#..", "...##...", "..#.....", ".#......", "#######."],
    3: [".#####..", "......#.", "......#.", "..####..", "......#.", "......#.", "#.....#.", ".#####.."],
    4: ["....##..", "...#.#..", "..#..#..", ".#...#..", "#######.", ".....#..", ".....#..", ".....#.."],
    5: ["#######.", "#.......", "#.......", "######..", "......#.", "......#.", "#.....#.", ".#####.."],
    6: ["..####..", ".#......", "#.......", "######..", "#.....#.", "#.....#.", "#.....#.", ".#####.."],
    7: ["#######.", "......#.", ".....#..", "....#...", "...#....", "...#....", "...#....", "...#...."],
    8: [".#####..", "#.....#.", "#.....#.", ".#####..", "#.....#.", "#.....#.", "#.....#.", ".#####.."],
    9: [".#####..", "#.....#.", "#.....#.", ".######.", "......#.", "......#.", ".....#..", ".####..."],
}


@dataclass(frozen=True)
class Digits:
    """images: float64 (n, 64) in [0, 1], row-major 8x8; labels: int64 (n,) in 0..9."""

    images: np.ndarray
    labels: np.ndarray
    source: Literal["scikit-learn", "generated"]


def _generated(n: int = 1797, seed: int = 0) -> Digits:
    rng = np.random.default_rng(seed)
    glyphs = np.array([[[c == "#" for c in row] for row in _GLYPHS[d]] for d in range(10)], dtype=float)
    labels = np.arange(n) % 10
    rng.shuffle(labels)
    images = glyphs[labels]
    # Shift each image by up to one pixel in each direction (zeros come in at the edge).
    padded = np.pad(images, ((0, 0), (1, 1), (1, 1)))
    dy, dx = rng.integers(0, 3, size=(2, n))
    rows = dy[:, None] + np.arange(8)
    cols = dx[:, None] + np.arange(8)
    images = padded[np.arange(n)[:, None, None], rows[:, :, None], cols[:, None, :]]
    # Thicken some strokes, blur everything a little, add noise and drop some ink.
    thick = rng.random(n) < 0.5
    right = np.pad(images, ((0, 0), (0, 0), (1, 0)))[:, :, :8]
    images = np.where(thick[:, None, None], np.maximum(images, 0.6 * right), images)
    images = images * (rng.random(images.shape) > 0.08)
    blurred = 0.6 * images + 0.1 * (
        np.roll(images, 1, 1) + np.roll(images, -1, 1) + np.roll(images, 1, 2) + np.roll(images, -1, 2)
    )
    noisy = blurred + rng.normal(0, 0.15, size=blurred.shape)
    return Digits(np.clip(noisy, 0, 1).reshape(n, 64), labels.astype(np.int64), "generated")


def load_digits(source: Literal["auto", "scikit-learn", "generated"] = "auto") -> Digits:
    """The 1797 digits of scikit-learn (pixel values scaled from 0..16 to 0..1).

    source="auto" falls back to a generated set of the same shape when scikit-learn is
    not installed; "scikit-learn" insists on the real data, "generated" on the fallback.
    """
    if source == "generated":
        return _generated()
    try:
        from sklearn.datasets import load_digits as sklearn_digits
    except ImportError:
        if source == "scikit-learn":
            raise ImportError('the real digits need scikit-learn: pip install -e ".[data]"') from None
        return _generated()
    bunch: Any = sklearn_digits()  # a Bunch (its stubs also allow a tuple, for return_X_y=True)
    return Digits(bunch.data.astype(np.float64) / 16.0, bunch.target.astype(np.int64), "scikit-learn")


def train_test_split(
    digits: Digits, test_fraction: float = 0.25, seed: int = 0
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """A seeded shuffle split: (x_train, y_train, x_test, y_test)."""
    order = np.random.default_rng(seed).permutation(len(digits.labels))
    n_test = int(round(test_fraction * len(order)))
    test, train = order[:n_test], order[n_test:]
    return digits.images[train], digits.labels[train], digits.images[test], digits.labels[test]
