"""Tests for chapter 0, part 8: a small ray tracer (rays, ray–segment and ray–triangle
intersection, batched over many rays, and a rendered depth image).

Expected values come from hand-worked geometry (axis-aligned segments and triangles whose
intersections are exact in binary floating point) and from a loop kept here that solves
each 2×2 or 3×3 system one at a time with Cramer's rule in Python floats.
"""

import tracemalloc

import numpy as np
import pytest

from grader.testkit import Call, exercise, expect, expect_close, expect_equal, rng, run

SINGULAR = 1e-8  # |det| below this is a parallel ray: a miss (the docstrings' convention)


# ---------------------------------------------------------------- independent references


def _ray(origin, direction) -> np.ndarray:
    return np.array([origin, direction], dtype=np.float64)


def _segment_hit(ray: np.ndarray, segment: np.ndarray, mistake: str = "") -> bool:
    """One ray against one segment (x, y only), by Cramer's rule on u·D + v·(L1 - L2) = L1 - O.

    `mistake` computes a known wrong version instead: "rows" solves with the transposed
    matrix (D and L1 - L2 as rows), "behind" drops the u >= 0 test, "strict" asks u > 0,
    "unmasked" solves a singular system with the identity in its place and keeps the result.
    """
    (ox, oy), (dx, dy) = ray[0, :2].tolist(), ray[1, :2].tolist()
    (ax, ay), (bx, by) = segment[0, :2].tolist(), segment[1, :2].tolist()
    ex, ey = ax - bx, ay - by
    rx, ry = ax - ox, ay - oy
    if mistake == "rows":  # the matrix [[dx, dy], [ex, ey]] instead of [[dx, ex], [dy, ey]]
        dy, ex = ex, dy
    det = dx * ey - ex * dy
    if abs(det) < SINGULAR:
        if mistake != "unmasked":
            return False
        dx, dy, ex, ey, det = 1.0, 0.0, 0.0, 1.0, 1.0
    u = (rx * ey - ex * ry) / det
    v = (dx * ry - rx * dy) / det
    in_front = u > 0 if mistake == "strict" else (u >= 0 or mistake == "behind")
    return in_front and 0 <= v <= 1


def _det3(c0, c1, c2) -> float:
    return float(np.dot(c0, np.cross(c1, c2)))


def _triangle_s(triangle: np.ndarray, origin: np.ndarray, direction: np.ndarray, mistake: str = "") -> float:
    """Ray parameter s of the hit with one triangle (Cramer's rule), or inf for a miss.

    `mistake` computes a known wrong version instead: "plus_d" uses +D as the first column
    (the s it solves for is -s), "box" tests u <= 1 and v <= 1 instead of u + v <= 1,
    "behind" drops the s >= 0 test, "strict" asks s > 0, "unmasked" solves a singular
    system with the identity in its place and keeps the result.
    """
    A, B, C = triangle
    c0, c1, c2, r = (direction if mistake == "plus_d" else -direction), B - A, C - A, origin - A
    det = _det3(c0, c1, c2)
    if abs(det) < SINGULAR:
        if mistake != "unmasked":
            return np.inf
        c0, c1, c2, det = np.eye(3)[0], np.eye(3)[1], np.eye(3)[2], 1.0
    s, u, v = _det3(r, c1, c2) / det, _det3(c0, r, c2) / det, _det3(c0, c1, r) / det
    inside = (u <= 1 and v <= 1) if mistake == "box" else u + v <= 1
    in_front = s > 0 if mistake == "strict" else (s >= 0 or mistake == "behind")
    return s if (in_front and u >= 0 and v >= 0 and inside) else np.inf


def _nearest(rays: np.ndarray, triangles: np.ndarray, mistake: str = "") -> np.ndarray:
    """Nearest hit per ray; mistake="farthest" takes the farthest hit instead."""
    out = []
    for r in rays:
        hits = [_triangle_s(t, r[0], r[1], "" if mistake == "farthest" else mistake) for t in triangles]
        finite = [h for h in hits if np.isfinite(h)]
        out.append((max(finite) if finite else np.inf) if mistake == "farthest" else min(hits))
    return np.array(out)


def _segments_mistakes(rays: np.ndarray, segments: np.ndarray) -> dict:
    """intersect_rays_1d's known wrong answers for these rays and segments."""

    def wrong(mistake: str, reduce=any) -> np.ndarray:
        return np.array([reduce(_segment_hit(r, s, mistake) for s in segments) for r in rays])

    return _unambiguous(
        {
            "reduce over the segments with all() instead of any()": wrong("", all),
            "leave out the u >= 0 test, so segments behind the origin count": wrong("behind"),
            "put D and L1 - L2 in the rows of the matrices, not the columns (the transpose)": wrong("rows"),
            "forget to mask out the singular (parallel) pairs solved with the identity": wrong("unmasked"),
            "ask u > 0, so a ray that starts on a segment misses it": wrong("strict"),
        }
    )


def _unambiguous(answers: dict) -> dict:
    """Only the mistakes whose answer no other mistake shares, and that is not all True or
    all False: a few booleans can agree by chance, and a constant answer is what many
    other bugs give too, so such a result would not say which mistake was made."""
    return {
        phrase: answer
        for phrase, answer in answers.items()
        if answer.any()
        and not answer.all()
        and not any(other != phrase and np.array_equal(answer, a) for other, a in answers.items())
    }


def _triangles_mistakes(rays: np.ndarray, triangles: np.ndarray) -> dict:
    """raytrace_triangles' known wrong answers for these rays and triangles."""
    return {
        "take the farthest hit (max over the triangles) instead of the nearest": lambda: _nearest(
            rays, triangles, "farthest"
        ),
        "use +D instead of -D as the first column, which solves for -s": lambda: _nearest(
            rays, triangles, "plus_d"
        ),
        "test u <= 1 and v <= 1 instead of u + v <= 1": lambda: _nearest(rays, triangles, "box"),
        "leave out the s >= 0 test, so triangles behind the origin count": lambda: _nearest(
            rays, triangles, "behind"
        ),
        "forget to mask out the singular (parallel) pairs solved with the identity": lambda: _nearest(
            rays, triangles, "unmasked"
        ),
        "ask s > 0, so a ray that starts on a triangle misses it": lambda: _nearest(
            rays, triangles, "strict"
        ),
    }


def _pixel_rays(ny: int, nz: int, y_limit: float, z_limit: float) -> np.ndarray:
    """Rays of a ny × nz camera written out one pixel at a time (y-major)."""
    rays = []
    for i in range(ny):
        for j in range(nz):
            y = -y_limit + 2 * y_limit * i / (ny - 1)
            z = -z_limit + 2 * z_limit * j / (nz - 1)
            rays.append([[0.0, 0.0, 0.0], [1.0, y, z]])
    return np.array(rays)


def _random_segments_scene(seed: int, n_rays: int, n_segments: int):
    """Rays from near the origin towards +x (a few towards -x), segments spread over x in [1, 5]."""
    g = rng(seed)
    rays = np.zeros((n_rays, 2, 3))
    rays[:, 0, :2] = g.normal(scale=0.3, size=(n_rays, 2))
    rays[:, 0, 2] = g.normal(size=n_rays)  # z is ignored, whatever it is
    rays[:, 1, 0] = g.choice([1.0, 1.0, 1.0, -1.0], size=n_rays)
    rays[:, 1, 1] = g.uniform(-1, 1, size=n_rays)
    rays[:, 1, 2] = g.normal(size=n_rays)
    segments = np.zeros((n_segments, 2, 3))
    segments[:, :, 0] = g.uniform(1, 5, size=(n_segments, 2))
    segments[:, :, 1] = g.uniform(-3, 3, size=(n_segments, 2))
    segments[:, :, 2] = g.normal(size=(n_segments, 2))
    return rays, segments


def _random_triangle_scene(seed: int, n_rays: int, n_triangles: int):
    """Rays from near the origin towards +x, triangles around x in [2, 6] with corners ~1.5 apart."""
    g = rng(seed)
    rays = np.zeros((n_rays, 2, 3))
    rays[:, 0] = g.normal(scale=0.2, size=(n_rays, 3))
    rays[:, 1, 0] = g.uniform(1.0, 2.0, size=n_rays)
    rays[:, 1, 1:] = g.uniform(-0.3, 0.3, size=(n_rays, 2))
    centers = np.stack(
        [g.uniform(2, 6, n_triangles), g.uniform(-1, 1, n_triangles), g.uniform(-1, 1, n_triangles)], -1
    )
    triangles = centers[:, None, :] + g.normal(scale=1.5, size=(n_triangles, 3, 3))
    return rays, triangles


# ---------------------------------------------------------------- make_rays_1d


@exercise("make_rays_1d")
def test_make_rays_1d_small_case(impl):
    got = run(impl.make_rays_1d, 5, 2.0)
    want = np.zeros((5, 2, 3))
    want[:, 1, 0] = 1.0
    want[:, 1, 1] = [-2.0, -1.0, 0.0, 1.0, 2.0]
    open_end = want.copy()
    open_end[:, 1, 1] = np.linspace(-2.0, 2.0, 5, endpoint=False)
    expect_close(
        got,
        want,
        mistakes={
            "store the direction in rays[:, 0] and the origin in rays[:, 1]": want[:, ::-1].copy(),
            "leave out the end +y_limit (np.linspace(..., endpoint=False), or an arange)": open_end,
        },
    )


@exercise("make_rays_1d")
@pytest.mark.parametrize("num_pixels, y_limit", [(7, 0.3), (4, 10.0), (2, 1.5)])
def test_make_rays_1d_matches_loop(impl, num_pixels, y_limit):
    want = np.array(
        [
            [[0.0, 0.0, 0.0], [1.0, -y_limit + 2 * y_limit * i / (num_pixels - 1), 0.0]]
            for i in range(num_pixels)
        ]
    )
    expect_close(run(impl.make_rays_1d, num_pixels, y_limit), want)


@exercise("make_rays_1d")
def test_make_rays_1d_origins_first_then_directions(impl):
    got = run(impl.make_rays_1d, 9, 0.8)
    rays = got.value
    expect(
        isinstance(rays, np.ndarray) and rays.shape == (9, 2, 3),
        f"{got}: expected an array of shape (9, 2, 3), got {type(rays).__name__} "
        f"{getattr(rays, 'shape', '')}",
    )
    expect(rays.dtype == np.float64, f"{got}: dtype {rays.dtype}, expected float64")
    expect(
        np.all(rays[:, 0] == 0),
        f"{got}: rays[:, 0] must be the origins, all (0, 0, 0); got {rays[:3, 0].tolist()} …",
    )
    expect(
        np.all(rays[:, 1, 0] == 1) and np.all(rays[:, 1, 2] == 0),
        f"{got}: directions rays[:, 1] must be (1, y, 0); got {rays[:3, 1].tolist()} …",
    )


# ---------------------------------------------------------------- intersect_ray_1d

_O = [0.0, 0.0, 0.0]
_SEGMENT_CASES = [
    # (ray, segment, expected, what it checks)
    (_ray(_O, [1, 0, 0]), [[2, -1, 0], [2, 1, 0]], True, "straight through the middle (u=2, v=0.5)"),
    (_ray(_O, [-1, 0, 0]), [[2, -1, 0], [2, 1, 0]], False, "ray pointing away (u=-2)"),
    (_ray(_O, [1, 0, 0]), [[2, 1, 0], [2, 3, 0]], False, "line misses before L1 (v=-0.5)"),
    (_ray(_O, [1, 0, 0]), [[2, -3, 0], [2, -1, 0]], False, "line misses past L2 (v=1.5)"),
    (_ray(_O, [1, 0, 0]), [[2, 0, 0], [2, 2, 0]], True, "touches endpoint L1 (v=0)"),
    (_ray(_O, [1, 0, 0]), [[2, -2, 0], [2, 0, 0]], True, "touches endpoint L2 (v=1)"),
    (_ray([1, 1, 0], [1, -1, 0]), [[2, -1, 0], [2, 1, 0]], True, "origin off zero (u=1, v=0.5)"),
    (_ray([3, 1, 0], [1, -1, 0]), [[2, -1, 0], [2, 1, 0]], False, "origin off zero, segment behind (u=-1)"),
    (_ray([0, 0, 1], [1, 0, 5]), [[2, -1, -3], [2, 1, 9]], True, "z is ignored"),
    (_ray(_O, [1, 0, 0]), [[0.5, -1, 0], [0.5, 1, 0]], True, "closer than one direction length (u=0.5)"),
    (_ray(_O, [1, 0, 0]), [[-0.5, -1, 0], [-0.5, 1, 0]], False, "just behind the origin (u=-0.5)"),
    (_ray([2, 0.5, 0], [1, 0, 0]), [[2, -1, 0], [2, 1, 0]], True, "starts on the segment (u=0, v=0.75)"),
    (_ray([2, 0.5, 0], [1, 1, 0]), [[2, -1, 0], [2, 1, 0]], True, "starts on the segment, slanted (u=0)"),
]


@exercise("intersect_ray_1d")
@pytest.mark.parametrize("ray, segment, want, what", _SEGMENT_CASES, ids=[c[3] for c in _SEGMENT_CASES])
def test_intersect_ray_1d_hand_cases(impl, ray, segment, want, what):
    got = run(impl.intersect_ray_1d, ray, np.array(segment, dtype=np.float64))
    expect_equal(got, want, what=what)


@exercise("intersect_ray_1d")
@pytest.mark.parametrize(
    "segment, what",
    [
        ([[1, 1, 0], [3, 1, 0]], "parallel, beside the ray"),
        ([[1, 0, 0], [3, 0, 0]], "collinear with the ray"),
    ],
)
def test_intersect_ray_1d_parallel_is_a_miss(impl, segment, what):
    got = run(impl.intersect_ray_1d, _ray(_O, [1, 0, 0]), np.array(segment, dtype=np.float64))
    expect_equal(got, False, what=f"{what}: the system is singular, which counts as a miss")


@exercise("intersect_ray_1d")
def test_intersect_ray_1d_returns_python_bool(impl):
    got = run(impl.intersect_ray_1d, _ray(_O, [1, 0, 0]), np.array([[2.0, -1, 0], [2, 1, 0]]))
    expect(isinstance(got.value, bool), f"{got}: returned {type(got.value).__name__}, expected a Python bool")


@exercise("intersect_ray_1d")
def test_intersect_ray_1d_matches_cramer_loop(impl):
    rays, segments = _random_segments_scene(11, 30, 1)
    segments = np.repeat(segments, 30, axis=0) + rng(12).normal(size=(30, 2, 3))
    got = [run(impl.intersect_ray_1d, ray, segment) for ray, segment in zip(rays, segments)]
    want = np.array([_segment_hit(ray, segment) for ray, segment in zip(rays, segments)])
    expect(0 < want.sum() < len(want), "test data should mix hits and misses")
    results = np.array([call.value for call in got])
    wrong = [i for i in range(len(want)) if results[i] != want[i]]
    first = (
        f"first wrong pair: ray {rays[wrong[0]].tolist()}, segment {segments[wrong[0]].tolist()}"
        if wrong
        else ""
    )
    expect_equal(
        Call(results, "intersect_ray_1d on 30 random (ray, segment) pairs"),
        want,
        what=first,
        mistakes=_unambiguous(
            {
                "put D and L1 - L2 in the rows of the matrix, not its columns (the transpose)": np.array(
                    [_segment_hit(ray, segment, "rows") for ray, segment in zip(rays, segments)]
                ),
                "leave out the u >= 0 test, so segments behind the origin count": np.array(
                    [_segment_hit(ray, segment, "behind") for ray, segment in zip(rays, segments)]
                ),
            }
        ),
    )


# ---------------------------------------------------------------- intersect_rays_1d


@exercise("intersect_rays_1d")
def test_intersect_rays_1d_hand_cases(impl):
    rays = np.array(
        [
            _ray(_O, [1, 0, 0]),  # hits segment 0 only
            _ray(_O, [1, 1, 0]),  # hits segment 1 at (3, 3) only
            _ray(_O, [-1, 0, 0]),  # points away from everything
            _ray(_O, [1, -1, 0]),  # passes below both
            _ray([5, 0, 0], [-1, 1.5, 0]),  # from behind: hits segment 1 at (3, 3)
        ]
    )
    segments = np.array([[[2.0, -1, 0], [2, 1, 0]], [[3.0, 2, 0], [3, 4, 0]], [[6.0, 2, 0], [8, 2, 0]]])
    want = np.array([True, True, False, False, True])
    expect_equal(
        run(impl.intersect_rays_1d, rays, segments), want, mistakes=_segments_mistakes(rays, segments)
    )


@exercise("intersect_rays_1d")
@pytest.mark.parametrize("n_rays, n_segments, seed", [(7, 5, 20), (12, 3, 20), (1, 4, 20), (6, 1, 20)])
def test_intersect_rays_1d_matches_loop(impl, n_rays, n_segments, seed):
    rays, segments = _random_segments_scene(seed, n_rays, n_segments)
    want = np.array([any(_segment_hit(r, s) for s in segments) for r in rays])
    expect_equal(
        run(impl.intersect_rays_1d, rays, segments),
        want,
        mistakes=_segments_mistakes(rays, segments),
    )


@exercise("intersect_rays_1d")
def test_intersect_rays_1d_singular_pairs_in_the_batch(impl):
    # Segment 0 is parallel to ray 0 and collinear with ray 2, segment 1 parallel to ray 1:
    # those systems are singular, but the rest of the batch must still be solved.
    rays = np.array([_ray(_O, [1, 0, 0]), _ray(_O, [0, 1, 0]), _ray([-1, 1, 0], [1, 0, 0])])
    segments = np.array([[[0.0, 1, 0], [3, 1, 0]], [[2.0, -1, 0], [2, 0.5, 0]]])
    # ray 0 hits segment 1 at (2, 0); ray 1 hits segment 0 at (0, 1) (v = 0);
    # ray 2 lies on segment 0's line (a miss by convention) and passes above segment 1
    want = np.array([True, True, False])
    expect_equal(
        run(impl.intersect_rays_1d, rays, segments), want, mistakes=_segments_mistakes(rays, segments)
    )


@exercise("intersect_rays_1d")
def test_intersect_rays_1d_away_and_all_parallel(impl):
    rays = np.array([_ray(_O, [-1, y, 0]) for y in (-0.5, 0.0, 0.25, 1.0)] + [_ray(_O, [1, 0, 0])])
    segments = np.array([[[2.0, -1, 0], [2, 1, 0]], [[3.0, -2, 0], [3, 2, 0]], [[1.0, 0.5, 0], [4, 0.5, 0]]])
    # four rays point away (u < 0 for every segment); the last hits two segments, is parallel to one
    want = np.array([False, False, False, False, True])
    expect_equal(
        run(impl.intersect_rays_1d, rays, segments), want, mistakes=_segments_mistakes(rays, segments)
    )


@exercise("intersect_rays_1d")
def test_intersect_rays_1d_limits_of_u_and_v(impl):
    # Each ray meets exactly one segment's line at a limit of u or v; all numbers are exact.
    segments = np.array(
        [
            [[0.5, -1, 0], [0.5, 1, 0]],  # x = 0.5, y in [-1, 1]
            [[-0.5, 2, 0], [-0.5, 4, 0]],  # x = -0.5, y in [2, 4]
            [[2.0, -2, 0], [2, 0, 0]],  # x = 2, y in [-2, 0]: L2 = (2, 0)
        ]
    )
    rays = np.array(
        [
            _ray([0, 3, 0], [1, 0, 0]),  # segment 1 lies just behind (u = -0.5): no hit
            _ray([0, 0.5, 0], [1, 0, 0]),  # segment 0 at u = 0.5, less than one step: a hit
            _ray([1, 0, 0], [1, 0, 0]),  # segment 2 through its endpoint L2 (u = 1, v = 1): a hit
            _ray([1, -2, 0], [1, 0, 0]),  # segment 2 through its endpoint L1 (u = 1, v = 0): a hit
            _ray([0.5, 0.25, 0], [1, 0, 0]),  # starts on segment 0 (u = 0): a hit, and it misses 2
        ]
    )
    want = np.array([False, True, True, True, True])
    expect_equal(
        run(impl.intersect_rays_1d, rays, segments), want, mistakes=_segments_mistakes(rays, segments)
    )


# ---------------------------------------------------------------- make_rays_2d


@exercise("make_rays_2d")
def test_make_rays_2d_small_case_y_major(impl):
    got = run(impl.make_rays_2d, 2, 3, 1.0, 2.0)
    want = np.zeros((6, 2, 3))
    want[:, 1] = [[1, -1, -2], [1, -1, 0], [1, -1, 2], [1, 1, -2], [1, 1, 0], [1, 1, 2]]
    z_major = want.reshape(2, 3, 2, 3).transpose(1, 0, 2, 3).reshape(6, 2, 3)
    expect_close(
        got,
        want,
        mistakes={"order the rays z-major (np.meshgrid's default indexing='xy')": z_major},
    )


@exercise("make_rays_2d")
@pytest.mark.parametrize("ny, nz, y_limit, z_limit", [(4, 5, 0.5, 1.5), (5, 3, 2.0, 0.25), (2, 6, 0.3, 0.7)])
def test_make_rays_2d_matches_loop(impl, ny, nz, y_limit, z_limit):
    expect_close(run(impl.make_rays_2d, ny, nz, y_limit, z_limit), _pixel_rays(ny, nz, y_limit, z_limit))


@exercise("make_rays_2d")
def test_make_rays_2d_reshapes_to_pixel_grid(impl):
    got = run(impl.make_rays_2d, 3, 4, 1.0, 3.0)
    rays = np.asarray(got.value)
    expect(rays.shape == (12, 2, 3), f"{got}: shape {rays.shape}, expected (12, 2, 3)")
    expect(rays.dtype == np.float64, f"{got}: dtype {rays.dtype}, expected float64")
    grid = rays.reshape(3, 4, 2, 3)
    expect(
        np.allclose(grid[:, :, 1, 1], [[-1] * 4, [0] * 4, [1] * 4]),
        f"{got}: reshaped to (3, 4, 2, 3), y (direction[1]) should depend only on the row i; "
        f"got {grid[:, :, 1, 1].tolist()}",
    )
    expect(
        np.allclose(grid[:, :, 1, 2], [[-3, -1, 1, 3]] * 3),
        f"{got}: reshaped to (3, 4, 2, 3), z (direction[2]) should depend only on the column j; "
        f"got {grid[:, :, 1, 2].tolist()}",
    )
    expect(np.all(rays[:, 0] == 0), f"{got}: rays[:, 0] (the origins) must all be 0")


# ---------------------------------------------------------------- triangle_ray_intersects

# Triangle in the plane x = 2: A at (2, 0, 0), u runs along +y (B - A), v along +z (C - A),
# each of length 1. A ray from the origin with direction (1, dy, dz) meets the plane at s = 2,
# at u = 2·dy, v = 2·dz. All numbers are exact in binary.
_TRI = np.array([[2.0, 0, 0], [2, 1, 0], [2, 0, 1]])
_TRIANGLE_CASES = [
    (_O, [1, 0.125, 0.125], True, "inside (u=v=0.25)"),
    (_O, [1, 0.375, 0.375], False, "outside, u+v=1.5"),
    (_O, [1, 0.5, 0.125], False, "outside: u=1, v=0.25, so u+v>1 although u<=1 and v<=1"),
    (_O, [1, -0.125, 0.125], False, "outside, u<0"),
    (_O, [1, 0.125, -0.125], False, "outside, v<0"),
    (_O, [1, 0.25, 0.25], True, "on edge BC (u+v=1)"),
    (_O, [1, 0.25, 0.0], True, "on edge AB (v=0)"),
    (_O, [1, 0.0, 0.0], True, "on corner A"),
    (_O, [1, 0.5, 0.0], True, "on corner B"),
    (_O, [-1, -0.125, -0.125], False, "triangle behind the ray (s=-2)"),
    ([4, 0.25, 0.25], [1, 0, 0], False, "ray starts past the triangle, points away (s=-2)"),
    ([4, 0.25, 0.25], [-1, 0, 0], True, "ray starts past the triangle, points back at it (s=2)"),
    (_O, [4, 0.5, 0.5], True, "closer than one direction length (s=0.5)"),
    ([2.5, 0.25, 0.25], [1, 0, 0], False, "triangle just behind the origin (s=-0.5)"),
    ([2, 0.25, 0.25], [1, 0, 0], True, "ray starts on the triangle (s=0)"),
    ([2, 0.25, 0.25], [1, 0.5, -0.25], True, "ray starts on the triangle, slanted (s=0)"),
]


@exercise("triangle_ray_intersects")
@pytest.mark.parametrize(
    "origin, direction, want, what", _TRIANGLE_CASES, ids=[c[3] for c in _TRIANGLE_CASES]
)
def test_triangle_ray_intersects_hand_cases(impl, origin, direction, want, what):
    A, B, C = _TRI
    O, D = np.array(origin, dtype=np.float64), np.array(direction, dtype=np.float64)
    got = run(impl.triangle_ray_intersects, A, B, C, O, D)
    expect_equal(got, want, what=what)


@exercise("triangle_ray_intersects")
@pytest.mark.parametrize(
    "origin, what", [([0, 0, 0], "parallel to the plane"), ([2, -1, 0.25], "lying in the triangle's plane")]
)
def test_triangle_ray_intersects_parallel_is_a_miss(impl, origin, what):
    A, B, C = _TRI
    got = run(
        impl.triangle_ray_intersects, A, B, C, np.array(origin, dtype=np.float64), np.array([0.0, 1, 0])
    )
    expect_equal(got, False, what=f"{what}: the system is singular, which counts as a miss")


@exercise("triangle_ray_intersects")
def test_triangle_ray_intersects_returns_python_bool(impl):
    A, B, C = _TRI
    got = run(impl.triangle_ray_intersects, A, B, C, np.zeros(3), np.array([1.0, 0.125, 0.125]))
    expect(isinstance(got.value, bool), f"{got}: returned {type(got.value).__name__}, expected a Python bool")


@exercise("triangle_ray_intersects")
def test_triangle_ray_intersects_matches_cramer_loop(impl):
    rays, triangles = _random_triangle_scene(32, 40, 40)
    got = [
        run(impl.triangle_ray_intersects, A, B, C, ray[0], ray[1]) for ray, (A, B, C) in zip(rays, triangles)
    ]

    def hits(mistake: str = "") -> np.ndarray:
        return np.array(
            [np.isfinite(_triangle_s(t, ray[0], ray[1], mistake)) for ray, t in zip(rays, triangles)]
        )

    want = hits()
    expect(0 < want.sum() < len(want), "test data should mix hits and misses")
    results = np.array([call.value for call in got])
    wrong = [i for i in range(len(want)) if results[i] != want[i]]
    first = ""
    if wrong:
        i = wrong[0]
        first = f"first wrong: ray {rays[i].round(3).tolist()}, triangle {triangles[i].round(3).tolist()}"
    expect_equal(
        Call(results, "triangle_ray_intersects on 40 random (triangle, ray) pairs"),
        want,
        what=first,
        mistakes=_unambiguous(
            {
                "use +D instead of -D as the first column, which solves for -s": hits("plus_d"),
                "test u <= 1 and v <= 1 instead of u + v <= 1": hits("box"),
                "leave out the s >= 0 test, so triangles behind the origin count": hits("behind"),
            }
        ),
    )


# ---------------------------------------------------------------- raytrace_triangles

_NEAR = [[2.0, -1, -1], [2, 3, -1], [2, -1, 3]]  # x = 2, covers y, z >= -1 with y + z <= 2
_FAR = [[5.0, -10, -10], [5, 30, -10], [5, -10, 30]]  # x = 5, covers a large area
_BEHIND = [[-1.0, -10, -10], [-1, 30, -10], [-1, -10, 30]]  # x = -1, behind the origin


@exercise("raytrace_triangles")
def test_raytrace_triangles_hand_cases(impl):
    rays = np.array(
        [
            _ray(_O, [1, 0, 0]),  # through both: the nearest is at x = 2
            _ray(_O, [1, 0.75, 0.75]),  # misses the near one ((2, 1.5, 1.5): y + z > 2), hits the far one
            _ray(_O, [-1, 0, 0]),  # backwards: only the triangle behind, at s = 1
            _ray(_O, [0, 1, 0]),  # parallel to all three planes: no hit
            _ray(_O, [2, 0, 0]),  # s is in units of |D|: x = 2 at s = 1
            _ray([1, 0, 0], [1, 0, 0]),  # starts at x = 1: the near plane at s = 1
        ]
    )
    triangles = np.array([_FAR, _BEHIND, _NEAR])
    want = np.array([2.0, 5.0, 1.0, np.inf, 1.0, 1.0])
    expect_close(
        run(impl.raytrace_triangles, rays, triangles), want, mistakes=_triangles_mistakes(rays, triangles)
    )


@exercise("raytrace_triangles")
@pytest.mark.parametrize("n_rays, n_triangles, seed", [(7, 5, 40), (20, 9, 43), (6, 1, 43), (1, 8, 44)])
def test_raytrace_triangles_matches_loop(impl, n_rays, n_triangles, seed):
    rays, triangles = _random_triangle_scene(seed, n_rays, n_triangles)
    got = run(impl.raytrace_triangles, rays, triangles)
    expect_close(
        got,
        _nearest(rays, triangles),
        rtol=1e-9,
        atol=1e-9,
        mistakes=_triangles_mistakes(rays, triangles),
    )
    expect(got.value.dtype == np.float64, f"{got}: dtype {got.value.dtype}, expected float64")


@exercise("raytrace_triangles")
def test_raytrace_triangles_ignores_triangles_behind(impl):
    rays = np.array([_ray(_O, [1, 0, 0]), _ray(_O, [1, 0.25, -0.25]), _ray([6, 0, 0], [1, 0, 0])])
    triangles = np.array([_BEHIND, _NEAR, _FAR])
    # the last ray starts past every triangle: nothing in front of it
    expect_close(
        run(impl.raytrace_triangles, rays, triangles),
        np.array([2.0, 2.0, np.inf]),
        mistakes=_triangles_mistakes(rays, triangles),
    )


@exercise("raytrace_triangles")
def test_raytrace_triangles_singular_pairs_in_the_batch(impl):
    # The first triangle lies in the plane z = 0, which contains the first two rays: singular.
    # The second lies in the plane z = -0.25, parallel to the first two rays (singular too);
    # solved with the identity in place of the matrix, it would look like a hit at s = 1.
    flat = [[1.0, -1, 0], [4, -1, 0], [1, 3, 0]]
    below = [[-1.0, -0.5, -0.25], [3, -0.5, -0.25], [-1, 3, -0.25]]
    rays = np.array([_ray(_O, [1, 0, 0]), _ray(_O, [1, 0.5, 0]), _ray(_O, [1, 0, 0.125])])
    triangles = np.array([flat, below, _NEAR])
    expect_close(
        run(impl.raytrace_triangles, rays, triangles),
        np.array([2.0, 2.0, 2.0]),
        mistakes=_triangles_mistakes(rays, triangles),
    )


@exercise("raytrace_triangles")
def test_raytrace_triangles_edges_and_limits_of_s(impl):
    # _NEAR at x = 2: u = (y + 1) / 4, v = (z + 1) / 4, so its edges are u = 0 (y = -1),
    # v = 0 (z = -1) and u + v = 1 (y + z = 2). A miss there would fall through to _FAR (s = 5).
    rays = np.array(
        [
            _ray(_O, [1, 0.5, 0.5]),  # (2, 1, 1): on the edge u + v = 1
            _ray(_O, [1, 0, -0.5]),  # (2, 0, -1): on the edge v = 0
            _ray(_O, [1, -0.5, 0]),  # (2, -1, 0): on the edge u = 0
            _ray(_O, [4, 0, 0]),  # x = 2 at s = 0.5: nearer than one direction length
            _ray([2.5, 0, 0], [1, 0, 0]),  # _NEAR just behind (s = -0.5); _FAR at s = 2.5
            _ray([2, 0, 0], [1, 0, 0]),  # starts on _NEAR: depth s = 0 (not _FAR at s = 3)
        ]
    )
    triangles = np.array([_FAR, _NEAR])
    want = np.array([2.0, 2.0, 2.0, 0.5, 2.5, 0.0])
    expect_close(
        run(impl.raytrace_triangles, rays, triangles), want, mistakes=_triangles_mistakes(rays, triangles)
    )
    expect_close(Call(_nearest(rays, triangles), "the test's own loop"), want)


# ---------------------------------------------------------------- render_mesh


def _random_mesh(seed: int, n: int) -> np.ndarray:
    g = rng(seed)
    centers = np.stack([g.uniform(2, 4, n), g.uniform(-0.6, 0.6, n), g.uniform(-0.6, 0.6, n)], axis=-1)
    return centers[:, None, :] + g.normal(scale=0.7, size=(n, 3, 3))


@exercise("render_mesh")
def test_render_mesh_pixel_layout(impl):
    # rows y = -1, 0, 1; columns z = -1.5, -0.5, 0.5, 1.5. The triangle at x = 1 covers
    # only pixels (2, 0) and (2, 1): y = 1 and z in {-1.5, -0.5}.
    triangle = np.array([[[1.0, 0.5, -2], [1, 2.5, -2], [1, 0.5, 0.25]]])
    want = np.full((3, 4), np.inf)
    want[2, :2] = 1.0
    expect_close(
        run(impl.render_mesh, triangle, 3, 4, 1.0, 1.5),
        want,
        mistakes={
            "reshape the y-major depths as (n_z, n_y) and transpose": want.reshape(4, 3).T.copy(),
        },
    )


@exercise("render_mesh")
@pytest.mark.parametrize("ny, nz, y_limit, z_limit", [(4, 6, 0.4, 0.3), (7, 3, 0.25, 0.5)])
def test_render_mesh_matches_loop(impl, ny, nz, y_limit, z_limit):
    mesh = _random_mesh(54, 6)
    want = _nearest(_pixel_rays(ny, nz, y_limit, z_limit), mesh).reshape(ny, nz)
    got = run(impl.render_mesh, mesh, ny, nz, y_limit, z_limit)
    expect_close(got, want, rtol=1e-9, atol=1e-9)
    expect(got.value.dtype == np.float64, f"{got}: dtype {got.value.dtype}, expected float64")


@exercise("render_mesh")
@pytest.mark.parametrize("rays_per_chunk", [1, 5, 24, 1000])
def test_render_mesh_chunk_size_does_not_matter(impl, rays_per_chunk):
    mesh = _random_mesh(54, 6)
    want = _nearest(_pixel_rays(4, 6, 0.4, 0.3), mesh).reshape(4, 6)
    got = run(impl.render_mesh, mesh, 4, 6, 0.4, 0.3, rays_per_chunk)
    expect_close(got, want, rtol=1e-9, atol=1e-9, what=f"with rays_per_chunk={rays_per_chunk}")


@exercise("render_mesh")
def test_render_mesh_traces_in_chunks(impl):
    # 30 × 40 = 1200 rays against 200 triangles: one batch of all of them needs at least
    # 1200·200·9 float64 = 17 MB for the matrices alone; chunks of 16 rays need 0.23 MB each.
    mesh = _random_mesh(53, 200)
    started = not tracemalloc.is_tracing()
    if started:
        tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        tracemalloc.reset_peak()
        got = run(impl.render_mesh, mesh, 30, 40, 0.3, 0.4, 16)
        peak = tracemalloc.get_traced_memory()[1] - before
    finally:
        if started:
            tracemalloc.stop()
    expect(
        getattr(got.value, "shape", None) == (30, 40),
        f"{got}: shape {getattr(got.value, 'shape', None)}, expected (30, 40)",
    )
    expect(
        peak < 6e6,
        f"{got}: peak memory {peak / 1e6:.1f} MB, expected under 6 MB with rays_per_chunk=16 "
        "(trace at most rays_per_chunk rays per call of raytrace_triangles)",
    )
