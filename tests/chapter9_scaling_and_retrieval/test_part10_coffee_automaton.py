"""Tests for chapter 9, part 10: the coffee automaton.

Expected values come from this file: sweeps replayed pair by pair with a generator seeded
like the learner's, window means by loops, buckets from the thresholds written out,
compressed sizes from zlib directly, and whole runs replayed. A 32 × 32 run must show what
the reading promises: entropy rising to a plateau, complexity rising and then falling.
"""

import zlib

import numpy as np

from grader.testkit import Call, exercise, expect, expect_close, expect_equal, rng, run


def _sweep(grid, g, *, transpose_axes=False, no_offset=False, offset_first=False):
    vertical, offset = int(g.integers(2)), int(g.integers(2))
    if offset_first:
        vertical, offset = offset, vertical
    if no_offset:
        offset = 0
    if transpose_axes:
        vertical = 1 - vertical
    work = (grid.T if vertical else grid).copy()
    H, W = work.shape
    m = (W - offset) // 2
    swap = g.random((H, m)) < 0.5
    for r in range(H):
        for i in range(m):
            c = offset + 2 * i
            if swap[r, i]:
                work[r, c], work[r, c + 1] = work[r, c + 1], work[r, c]
    return np.ascontiguousarray(work.T) if vertical else work


def _sweeps(grid, seed, count, **kw):
    g = rng(seed)
    for _ in range(count):
        grid = _sweep(grid, g, **kw)
    return grid


def _cup(n):
    grid = np.zeros((n, n), dtype=np.uint8)
    grid[: n // 2] = 1
    return grid


def _windows(grid, k):
    H, W = grid.shape
    return np.array([[grid[r : r + k, c : c + k].mean() for c in range(W - k + 1)] for r in range(H - k + 1)])


def _quantise(x, levels):
    return np.array(
        [[min(int(v * levels), levels - 1) for v in row] for row in np.atleast_2d(x)], dtype=np.uint8
    )


def _size(a):
    return len(zlib.compress(np.ascontiguousarray(a).tobytes(), 9))


def _estimates(grid, k=9, levels=3):
    return _size(np.packbits(grid)), _size(_quantise(_windows(grid, k), levels))


# ----------------------------------------------------------------------------------- sweep


@exercise("sweep")
def test_sweep_replays_pair_by_pair(impl):
    grid = (rng(0).random((7, 6)) < 0.5).astype(np.uint8)  # odd height: pairs differ by direction
    got, g = grid, rng(1)
    for step in range(12):
        got = run(impl.sweep, got, g).value
        want = _sweeps(grid, 1, step + 1)
        expect_equal(
            Call(got, f"sweep applied {step + 1} times to a 7 × 6 grid with one rng"),
            want,
            what="vertical, offset, then swap = rng.random((H, m)) < 0.5 on the (possibly transposed) grid",
            mistakes={
                "pair cells along the rows when vertical = 1 (the axes exchanged)": lambda s=step: _sweeps(
                    grid, 1, s + 1, transpose_axes=True
                ),
                "ignore the offset (always pair columns 0-1, 2-3, …)": lambda s=step: _sweeps(
                    grid, 1, s + 1, no_offset=True
                ),
                "draw offset before vertical": lambda s=step: _sweeps(grid, 1, s + 1, offset_first=True),
            },
        )


@exercise("sweep")
def test_sweep_keeps_the_cream_and_the_dtype(impl):
    grid = _cup(10)
    g = rng(2)
    for _ in range(50):
        call = run(impl.sweep, grid, g)
        expect(
            isinstance(call.value, np.ndarray)
            and call.value.dtype == np.uint8
            and call.value.shape == (10, 10),
            f"{call}: expected a uint8 array of shape (10, 10)",
        )
        expect(
            int(call.value.sum()) == 50,
            f"{call}: {int(call.value.sum())} cream particles; a sweep only swaps, so 50 stay",
        )
        grid = call.value
    expect(not np.array_equal(grid, _cup(10)), "sweep: 50 sweeps of a fresh cup changed nothing")


@exercise("sweep")
def test_sweep_draws_from_the_rng_it_is_given(impl):
    a, b, c = (impl.sweep(_cup(8), rng(s)) for s in (3, 3, 4))
    expect(np.array_equal(a, b), "sweep: two generators seeded alike must give the same grid")
    d = impl.sweep(impl.sweep(_cup(8), rng(4)), rng(4))
    expect(
        not np.array_equal(c, d) or not np.array_equal(a, c),
        "sweep: the orientation, offset and swaps must come from the rng passed in",
    )


@exercise("sweep")
def test_sweep_mixes_the_cup(impl):
    grid, g = _cup(12), rng(5)
    for _ in range(2000):
        grid = impl.sweep(grid, g)
    top = grid[:6].mean()
    expect(
        0.35 < top < 0.65,
        f"sweep: after 2000 sweeps of a 12 × 12 cup the top half is {top:.2f} cream; a random walk "
        "of every particle mixes it to about 0.5",
    )


# ---------------------------------------------------------------------------- coarse_grain


@exercise("coarse_grain")
def test_coarse_grain_averages_every_window(impl):
    grid = (rng(6).random((9, 7)) < 0.4).astype(np.uint8)
    for k in (1, 2, 3, 7):
        expect_close(
            run(impl.coarse_grain, grid, k),
            _windows(grid, k),
            what=f"the mean of grid[r : r + {k}, c : c + {k}] at every (r, c) where it fits",
            mistakes={
                "divide the window's sum by k instead of k²": lambda k=k: _windows(grid, k) * k,
                "sum the window instead of averaging": lambda k=k: _windows(grid, k) * k * k,
            },
        )


@exercise("coarse_grain")
def test_coarse_grain_is_exact_on_the_thresholds(impl):
    # With k = 9 a window of 27 (or 54) cream cells is exactly 1/3 (2/3): quantise's thresholds.
    grid = (rng(19).random((20, 20)) < 1 / 3).astype(np.uint8)
    H = 20 - 9 + 1
    counts = np.array([[int(grid[r : r + 9, c : c + 9].sum()) for c in range(H)] for r in range(H)])
    row_means = np.array([[grid[r : r + 9, c].mean() for c in range(20)] for r in range(H)])
    twice = np.array([[row_means[r, c : c + 9].mean() for c in range(H)] for r in range(H)])
    call = run(impl.coarse_grain, grid, 9)
    expect_close(call, counts / 81)
    expect_equal(
        Call(
            _quantise(np.asarray(call.value), 3),
            "quantise(coarse_grain(grid, 9), 3), written out in the test",
        ),
        _quantise(counts / 81, 3),
        what="a window with 27 (54) of its 81 cells cream must give exactly the float 1/3 (2/3): "
        "divide each window's count by k² once",
        mistakes={
            "average the row means (dividing by k twice) instead of dividing each count by k²": _quantise(
                twice, 3
            )
        },
    )


@exercise("coarse_grain")
def test_coarse_grain_of_a_fresh_cup(impl):
    grid = _cup(8)
    got = run(impl.coarse_grain, grid, 4)
    want = np.clip((4 - np.arange(5))[:, None] / 4 * np.ones((1, 5)), 0, 1)  # rows 0 … 4: 1, ¾, ½, ¼, 0
    expect_close(got, want, what="a window straddling the boundary by j rows is (4 − j)/4 cream")


@exercise("coarse_grain")
def test_coarse_grain_whole_grid(impl):
    grid = (rng(7).random((5, 5)) < 0.5).astype(np.uint8)
    expect_close(run(impl.coarse_grain, grid, 5), np.array([[grid.mean()]]), what="k = H = W: one window")


# -------------------------------------------------------------------------------- quantise


@exercise("quantise")
def test_quantise_thresholds(impl):
    x = np.array([[0.0, 0.1, 1 / 3, 0.5, 0.6666, 2 / 3, 0.99, 1.0]])
    expect_equal(
        run(impl.quantise, x, 3),
        np.array([[0, 0, 1, 1, 1, 2, 2, 2]], dtype=np.uint8),
        what="bucket b for b/3 ≤ value < (b + 1)/3, and 1.0 in bucket 2",
        mistakes={
            "round to the nearest bucket instead of flooring": np.array(
                [[0, 0, 1, 2, 2, 2, 2, 2]], dtype=np.uint8
            ),
            "leave 1.0 in a bucket of its own (levels)": np.array([[0, 0, 1, 1, 1, 2, 2, 3]], dtype=np.uint8),
        },
    )


@exercise("quantise")
def test_quantise_other_levels(impl):
    x = rng(8).random((4, 5))
    x[0, 0] = 1.0
    expect_equal(run(impl.quantise, x, 4), _quantise(x, 4))
    expect_equal(run(impl.quantise, x, 2), _quantise(x, 2))


@exercise("quantise")
def test_quantise_default_is_three_levels(impl):
    x = np.linspace(0, 1, 13)[None, :]
    expect_equal(run(impl.quantise, x), _quantise(x, 3), what="levels = 3 by default")


# ------------------------------------------------------------------- entropy_and_complexity


@exercise("entropy_and_complexity")
def test_entropy_and_complexity_compress_the_two_grids(impl):
    grid = _sweeps(_cup(24), 9, 300)
    call = run(impl.entropy_and_complexity, grid, 5, 3)
    expect(isinstance(call.value, tuple) and len(call.value) == 2, f"{call}: expected (entropy, complexity)")
    e, c = _estimates(grid, 5, 3)
    expect_equal(
        Call(call.value[0], f"{call}[0], the entropy"),
        e,
        what="compressed size of np.packbits(grid)",
        mistakes={
            "compress the grid one byte a cell instead of packed bits": _size(grid),
            "return (complexity, entropy)": c,
        },
    )
    expect_equal(
        Call(call.value[1], f"{call}[1], the complexity"),
        c,
        what="compressed size of quantise(coarse_grain(grid, k), levels)",
        mistakes={
            "compress the coarse-grained values without quantising them": _size(_windows(grid, 5)),
            "return (complexity, entropy)": e,
        },
    )


@exercise("entropy_and_complexity")
def test_entropy_and_complexity_default_window_and_ints(impl):
    grid = _sweeps(_cup(20), 10, 100)
    call = run(impl.entropy_and_complexity, grid)
    expect_equal(Call(call.value, f"{call}, k = 9 and 3 levels by default"), _estimates(grid, 9, 3))
    expect(all(isinstance(v, (int, np.integer)) for v in call.value), f"{call}: expected two ints")


@exercise("entropy_and_complexity")
def test_random_grid_has_high_entropy_and_low_complexity(impl):
    grid = (rng(11).random((40, 40)) < 0.5).astype(np.uint8)
    e, c = run(impl.entropy_and_complexity, grid, 9, 3).value
    expect(
        e > 190 and c < 40,
        f"entropy_and_complexity(a random 40 × 40 grid) = ({e}, {c}): its 200 bytes of packed bits do not "
        "compress (entropy above 190), while its coarse-grained image is almost uniformly 'mixed' "
        "(complexity below 40)",
    )


# ------------------------------------------------------------------------------- run_coffee


def _run(n, times, seed, k, levels=3, restart=False, relative=False):
    g = rng(seed)
    grid, done, out = _cup(n), 0, []
    for t in times:
        if restart:
            grid, done = _cup(n), 0
        count = t if relative else t - done
        for _ in range(count):
            grid = _sweep(grid, g)
        done = t
        out.append(_estimates(grid, k, levels))
    return np.array([e for e, _ in out], dtype=np.int64), np.array([c for _, c in out], dtype=np.int64)


@exercise("run_coffee")
def test_run_coffee_replays_the_sweeps(impl):
    times = np.array([0, 1, 5, 20, 60])
    call = run(impl.run_coffee, 12, times, rng(12), k=3)
    expect(isinstance(call.value, tuple) and len(call.value) == 2, f"{call}: expected (entropy, complexity)")
    e, c = _run(12, times, 12, 3)
    expect_equal(
        Call(np.asarray(call.value[0]), f"{call}[0], the entropy"),
        e,
        what="recorded after times[t] sweeps in all",
        mistakes={
            "apply times[t] more sweeps at each record (not times[t] in all)": lambda: _run(
                12, times, 12, 3, relative=True
            )[0],
            "restart from a fresh cup at each record": lambda: _run(12, times, 12, 3, restart=True)[0],
        },
    )
    expect_equal(Call(np.asarray(call.value[1]), f"{call}[1], the complexity"), c)


@exercise("run_coffee")
def test_run_coffee_starts_from_the_initial_cup(impl):
    e, c = run(impl.run_coffee, 16, np.array([0]), rng(13), k=4).value
    want = _estimates(_cup(16), 4, 3)
    expect_equal(
        Call(np.asarray(e), "run_coffee(16, times=[0], ...)[0]"), np.array([want[0]], dtype=np.int64)
    )
    expect_equal(
        Call(np.asarray(c), "run_coffee(16, times=[0], ...)[1]"), np.array([want[1]], dtype=np.int64)
    )
    e, c = run(impl.run_coffee, 16, np.array([1, 2]), rng(15), k=4).value
    want_e, want_c = _run(16, [1, 2], 15, 4)
    expect_equal(
        Call(np.asarray(e), "run_coffee(16, times=[1, 2], ...)[0]"),
        want_e,
        what="one sweep, then one more",
        mistakes={"start the count of sweeps done at 1": lambda: _run(16, [0, 1], 15, 4)[0]},
    )
    expect_equal(Call(np.asarray(c), "run_coffee(16, times=[1, 2], ...)[1]"), want_c)


@exercise("run_coffee")
def test_complexity_rises_then_falls_while_entropy_rises(impl):
    times = np.array([0, 30, 100, 300, 1000, 2000, 4000])
    e, c = run(impl.run_coffee, 32, times, rng(14), k=7).value
    e, c = np.asarray(e), np.asarray(c)
    expect(
        e[-1] >= 0.95 * e.max() and e[-1] > 3 * e[0],
        f"run_coffee(32, {times.tolist()}, k=7): entropy {e.tolist()}; expected it to rise to a plateau",
    )
    peak = int(np.argmax(c))
    expect(
        0 < peak < len(c) - 1 and c[-1] < 0.7 * c[peak],
        f"run_coffee(32, {times.tolist()}, k=7): complexity {c.tolist()}; expected it to rise and then fall "
        "below 0.7 of its peak (on 30 seeds it ends at 0.63 of its peak at most)",
    )
