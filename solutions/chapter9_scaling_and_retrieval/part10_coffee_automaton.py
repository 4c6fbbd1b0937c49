# %% [markdown]
# # Chapter 9, part 10: the coffee automaton
#
# Reading: chapters/chapter9_scaling_and_retrieval/part10_coffee_automaton.md
#
# Fill in each function, then run the cell below it: `check(fn)` runs that exercise's
# tests here and prints a verdict. `python -m grader chapter9/part10` grades the file.
#
# Pour cream into coffee: the cup starts simple (cream on top, coffee below), ends simple
# (uniformly mixed), and is complex in between (tendrils and swirls). Entropy rises all the
# way; "complexity" rises and then falls. Aaronson, Carroll and Ouellette (2014) made this
# precise on a toy automaton, estimating both with a compressor. This part builds it.
#
# Conventions: a cup is a uint8 grid (H, W): 1 = cream, 0 = coffee; row 0 is the top.
# Randomness only from a passed rng; no function changes its inputs. Compressed sizes use
# zlib at level 9 (the standard library's DEFLATE), in bytes.

# %%
from __future__ import annotations

import zlib

import numpy as np
from jaxtyping import Float, Int, UInt8

from coursedata import line_chart
from grader.check import check

MAIN = __name__ == "__main__"


def initial_cup(n: int) -> UInt8[np.ndarray, "n n"]:
    """An n × n cup with cream in the top n // 2 rows and coffee below. (Given.)"""
    grid = np.zeros((n, n), dtype=np.uint8)
    grid[: n // 2] = 1
    return grid


def compressed_size(data: np.ndarray) -> int:
    """Bytes of zlib.compress(data's bytes, level 9), for an array of any dtype (its
    C-order bytes). (Given.)"""
    return len(zlib.compress(np.ascontiguousarray(data).tobytes(), 9))


# %% [markdown]
# ## The automaton


# %%
def sweep(grid: UInt8[np.ndarray, "H W"], rng: np.random.Generator) -> UInt8[np.ndarray, "H W"]:
    """One step of the automaton: random swaps of adjacent particles, in disjoint pairs.

    Draw, in this order: vertical = rng.integers(2) (1: pair cells along the columns, 0:
    along the rows) and offset = rng.integers(2). For vertical = 0 the pairs are cells
    (r, offset + 2i) and (r, offset + 2i + 1) for every row r and i = 0 … m−1, with
    m = (W − offset) // 2; then swap = rng.random((H, m)) < 0.5 says which pairs swap. For
    vertical = 1 do the same on the transposed grid (rows and columns exchanged: pairs
    (offset + 2i, c) and (offset + 2i + 1, c), swap drawn with shape (W, m), m = (H −
    offset) // 2, and swap[c, i] for pair i of column c). Swapping two equal particles
    changes nothing, so this moves only cream next to coffee. Returns a new uint8 grid;
    the number of cream particles is kept."""
    # BEGIN SOLUTION
    vertical, offset = rng.integers(2), rng.integers(2)
    g = (grid.T if vertical else grid).copy()
    H, W = g.shape
    m = (W - offset) // 2
    swap = rng.random((H, m)) < 0.5
    left = slice(offset, offset + 2 * m, 2)  # columns offset, offset + 2, …: the pairs' left cells
    right = slice(offset + 1, offset + 2 * m, 2)
    a, b = g[:, left], g[:, right]  # views; both np.where results exist before either assignment
    g[:, left], g[:, right] = np.where(swap, b, a), np.where(swap, a, b)
    return np.ascontiguousarray(g.T) if vertical else g
    # END SOLUTION


if MAIN:
    check(sweep)


# %% [markdown]
# ## Coarse-graining


# %%
def coarse_grain(grid: UInt8[np.ndarray, "H W"], k: int) -> Float[np.ndarray, "h w"]:
    """The mean of every k × k window of the grid (every position where the window fits):
    out[r, c] = mean of grid[r : r + k, c : c + k], shape (H − k + 1, W − k + 1), float64.
    Divide each window's count of cream by k² once: quantise's thresholds fall on such
    values (27 of 81 cells is exactly the float 1/3), and a mean of row means, which
    rounds twice, moves some of those windows to the bucket below (tested). Loops are
    allowed; the sums of a 2-D cumulative sum (an integral image) do it in a few lines."""
    # BEGIN SOLUTION
    s = np.pad(grid.astype(np.float64).cumsum(axis=0).cumsum(axis=1), ((1, 0), (1, 0)))
    window = s[k:, k:] - s[:-k, k:] - s[k:, :-k] + s[:-k, :-k]
    return window / k**2
    # END SOLUTION


if MAIN:
    check(coarse_grain)


# %%
def quantise(coarse: Float[np.ndarray, "h w"], levels: int = 3) -> UInt8[np.ndarray, "h w"]:
    """Threshold coarse-grained values in [0, 1] into `levels` buckets: bucket b holds the
    values with b / levels ≤ value < (b + 1) / levels, and 1.0 goes to the top bucket,
    levels − 1. With 3 levels: mostly coffee, mixed, mostly cream. Returns uint8."""
    # BEGIN SOLUTION
    return np.minimum(np.floor(coarse * levels), levels - 1).astype(np.uint8)
    # END SOLUTION


if MAIN:
    check(quantise)


# %% [markdown]
# ## Entropy and apparent complexity


# %%
def entropy_and_complexity(grid: UInt8[np.ndarray, "H W"], k: int = 9, levels: int = 3) -> tuple[int, int]:
    """The two estimates, in bytes: entropy = compressed_size of the fine-grained state
    packed 8 cells a byte (np.packbits of the grid, in C order); apparent complexity =
    compressed_size of quantise(coarse_grain(grid, k), levels) (uint8, one byte a cell).
    Returns (entropy, complexity) as ints."""
    # BEGIN SOLUTION
    entropy = compressed_size(np.packbits(grid))
    complexity = compressed_size(quantise(coarse_grain(grid, k), levels))
    return entropy, complexity
    # END SOLUTION


if MAIN:
    check(entropy_and_complexity)


# %%
def run_coffee(
    n: int, times: Int[np.ndarray, " T"], rng: np.random.Generator, k: int = 9, levels: int = 3
) -> tuple[Int[np.ndarray, " T"], Int[np.ndarray, " T"]]:
    """Start from initial_cup(n) and apply sweep (with rng) again and again; after times[t]
    sweeps in all (times increasing, 0 allowed: the initial cup) record
    entropy_and_complexity(grid, k, levels). Returns (entropy, complexity), int64 arrays
    of len(times)."""
    # BEGIN SOLUTION
    grid = initial_cup(n)
    entropy, complexity = np.zeros(len(times), np.int64), np.zeros(len(times), np.int64)
    done = 0
    for t, target in enumerate(times):
        for _ in range(int(target) - done):
            grid = sweep(grid, rng)
        done = int(target)
        entropy[t], complexity[t] = entropy_and_complexity(grid, k, levels)
    return entropy, complexity
    # END SOLUTION


if MAIN:
    check(run_coffee)
    times = np.unique(np.geomspace(1, 40_000, 40).astype(np.int64))
    entropy, complexity = run_coffee(80, times, np.random.default_rng(0))
    for t, e, c in list(zip(times, entropy, complexity))[::4]:
        print(f"after {t:6d} sweeps: entropy {e:4d} bytes, complexity {c:4d} bytes")
    print(
        "wrote",
        line_chart(
            {
                "entropy (fine grid)": (np.log10(times), entropy),
                "complexity (coarse grid)": (np.log10(times), complexity),
            },
            "coffee_automaton.svg",
            "The coffee automaton, 80 x 80",
            "log10 of the number of sweeps",
            "compressed size (bytes)",
        ),
    )
