# %% [markdown]
# # Chapter 0, part 8: batched vectorisation through a small ray tracer
#
# Reading: chapters/chapter0_numpy/part8_raytracer.md
#
# Fill in each function, then run the cell below it: `check(fn)` runs that exercise's
# tests here and prints a verdict. `python -m grader chapter0/part8` grades the file.
#
# Conventions used throughout:
# - a ray is an array of shape (2, 3): ray[0] is its origin O, ray[1] its direction D;
#   its points are O + s·D for s >= 0. A batch of rays has shape (n_rays, 2, 3).
# - a segment is (2, 3): its two endpoints L1 = segment[0], L2 = segment[1].
# - a triangle is (3, 3): its three corners A, B, C, one per row.
# - the camera sits at the origin and looks along +x; the screen is the plane x = 1.

# %%
import itertools

import numpy as np
from jaxtyping import Bool, Float

from grader.check import check

MAIN = __name__ == "__main__"


# %%
def make_rays_1d(num_pixels: int, y_limit: float) -> Float[np.ndarray, "n_pixels 2 3"]:
    """One ray per pixel of a 1-D camera, fanned out in the xy-plane.

    Ray i starts at the origin (rays[i, 0] = (0, 0, 0)) and has direction
    rays[i, 1] = (1, y_i, 0), where y_0, ..., y_{num_pixels-1} are evenly spaced from
    -y_limit to +y_limit, both ends included, in increasing order.
    Returns a new float64 array of shape (num_pixels, 2, 3).
    """
    # BEGIN SOLUTION
    rays = np.zeros((num_pixels, 2, 3))  # origins (rays[:, 0]) stay at 0
    rays[:, 1, 0] = 1.0
    rays[:, 1, 1] = np.linspace(-y_limit, y_limit, num_pixels)  # endpoints included
    return rays
    # END SOLUTION


if MAIN:
    check(make_rays_1d)


# %%
def intersect_ray_1d(ray: Float[np.ndarray, "2 3"], segment: Float[np.ndarray, "2 3"]) -> bool:
    """Does one ray hit one segment? Only the x and y coordinates are used (z is ignored).

    ray: ray[0] = O (origin), ray[1] = D (direction); its points are O + u·D, u >= 0.
    segment: endpoints L1 = segment[0], L2 = segment[1]; its points are L1 + v·(L2 - L1), 0 <= v <= 1.
    Solve O + u·D = L1 + v·(L2 - L1) for (u, v); it is a hit iff u >= 0 and 0 <= v <= 1
    (touching an endpoint counts, and so does a ray that starts on the segment, u = 0).
    If the 2×2 system is singular (|det| < 1e-8: the ray is
    parallel to the segment, even collinear with it) it is a miss.
    Returns a Python bool.
    """
    # BEGIN SOLUTION
    O, D = ray[0, :2], ray[1, :2]
    L1, L2 = segment[0, :2], segment[1, :2]
    # u·D + v·(L1 - L2) = L1 - O: the unknowns (u, v) multiply the columns D and L1 - L2.
    mat = np.stack([D, L1 - L2], axis=-1)
    if abs(np.linalg.det(mat)) < 1e-8:
        return False
    u, v = np.linalg.solve(mat, L1 - O)
    return bool(u >= 0 and 0 <= v <= 1)
    # END SOLUTION


if MAIN:
    check(intersect_ray_1d)


# %%
def intersect_rays_1d(
    rays: Float[np.ndarray, "n_rays 2 3"], segments: Float[np.ndarray, "n_segments 2 3"]
) -> Bool[np.ndarray, " n_rays"]:
    """For each ray, does it hit at least one of the segments? (x and y only, as in intersect_ray_1d.)

    Same rule as intersect_ray_1d for each (ray, segment) pair: a hit iff u >= 0 and
    0 <= v <= 1 (so a ray starting on a segment hits it), and a singular system
    (|det| < 1e-8, parallel) is a miss.
    Solve all n_rays × n_segments systems at once, with no Python loop over rays or
    segments. Returns a bool array of shape (n_rays,).
    """
    # BEGIN SOLUTION
    n_rays, n_segments = rays.shape[0], segments.shape[0]
    O, D = rays[:, 0, :2], rays[:, 1, :2]  # (n_rays, 2)
    L1, L2 = segments[:, 0, :2], segments[:, 1, :2]  # (n_segments, 2)

    # One 2×2 matrix per (ray, segment) pair, columns D and L1 - L2: (n_rays, n_segments, 2, 2)
    shape = (n_rays, n_segments, 2)
    mat = np.stack([np.broadcast_to(D[:, None], shape), np.broadcast_to((L1 - L2)[None], shape)], axis=-1)
    rhs = L1[None] - O[:, None]  # (n_rays, n_segments, 2)

    # np.linalg.solve raises if any matrix of the stack is singular: swap those for the
    # identity, solve everything, then mask them out as misses.
    singular = np.abs(np.linalg.det(mat)) < 1e-8  # (n_rays, n_segments)
    mat[singular] = np.eye(2)
    sol = np.linalg.solve(mat, rhs[..., None])[..., 0]  # (n_rays, n_segments, 2)
    u, v = sol[..., 0], sol[..., 1]

    hits = (u >= 0) & (v >= 0) & (v <= 1) & ~singular
    return hits.any(axis=1)
    # END SOLUTION


if MAIN:
    check(intersect_rays_1d)


# %%
def make_rays_2d(
    num_pixels_y: int, num_pixels_z: int, y_limit: float, z_limit: float
) -> Float[np.ndarray, "n_rays 2 3"]:
    """One ray per pixel of a 2-D camera: num_pixels_y * num_pixels_z rays from the origin.

    The ray of pixel (i, j) has direction (1, y_i, z_j), with y_i evenly spaced from -y_limit
    to +y_limit (num_pixels_y values, ends included) and z_j likewise over [-z_limit, z_limit].
    Order is y-major: pixel (i, j) is ray number i * num_pixels_z + j, so that
    rays.reshape(num_pixels_y, num_pixels_z, 2, 3)[i, j] is the ray of pixel (i, j).
    Origins are all (0, 0, 0). Returns a new float64 array of shape (num_pixels_y * num_pixels_z, 2, 3).
    """
    # BEGIN SOLUTION
    ys = np.linspace(-y_limit, y_limit, num_pixels_y)
    zs = np.linspace(-z_limit, z_limit, num_pixels_z)
    rays = np.zeros((num_pixels_y, num_pixels_z, 2, 3))
    rays[:, :, 1, 0] = 1.0
    rays[:, :, 1, 1] = ys[:, None]  # constant along j
    rays[:, :, 1, 2] = zs[None, :]  # constant along i
    return rays.reshape(-1, 2, 3)  # C order: j varies fastest, i.e. y-major
    # END SOLUTION


if MAIN:
    check(make_rays_2d)


# %%
def triangle_ray_intersects(
    A: Float[np.ndarray, " 3"],
    B: Float[np.ndarray, " 3"],
    C: Float[np.ndarray, " 3"],
    O: Float[np.ndarray, " 3"],
    D: Float[np.ndarray, " 3"],
) -> bool:
    """Does the ray O + s·D (s >= 0) hit the triangle ABC? (Möller–Trumbore, as a 3×3 solve.)

    Solve O + s·D = A + u·(B - A) + v·(C - A) for (s, u, v). It is a hit iff s >= 0,
    u >= 0, v >= 0 and u + v <= 1 (edges and corners count, and so does a ray that starts
    on the triangle, s = 0). If the system is singular
    (|det| < 1e-8: the ray is parallel to the triangle's plane) it is a miss.
    Returns a Python bool.
    """
    # BEGIN SOLUTION
    # -s·D + u·(B - A) + v·(C - A) = O - A: the columns are -D, B - A, C - A.
    mat = np.stack([-D, B - A, C - A], axis=-1)
    if abs(np.linalg.det(mat)) < 1e-8:
        return False
    s, u, v = np.linalg.solve(mat, O - A)
    return bool(s >= 0 and u >= 0 and v >= 0 and u + v <= 1)
    # END SOLUTION


if MAIN:
    check(triangle_ray_intersects)


# %%
def raytrace_triangles(
    rays: Float[np.ndarray, "n_rays 2 3"], triangles: Float[np.ndarray, "n_triangles 3 3"]
) -> Float[np.ndarray, " n_rays"]:
    """For each ray, the ray parameter s of its nearest triangle hit; np.inf if it hits none.

    The hit point is O + s·D, so s is a distance in units of |D| (for the rays of
    make_rays_2d, D has x-component 1 and s is the depth along x). The hit rule is
    triangle_ray_intersects' (s >= 0, u >= 0, v >= 0, u + v <= 1; singular is a miss), so a
    ray that starts on a triangle has depth 0 there.
    All n_rays × n_triangles systems are solved at once, with no Python loop.
    Returns a float64 array of shape (n_rays,).
    """
    # BEGIN SOLUTION
    n_rays, n_triangles = rays.shape[0], triangles.shape[0]
    O, D = rays[:, 0], rays[:, 1]  # (n_rays, 3)
    A, B, C = triangles[:, 0], triangles[:, 1], triangles[:, 2]  # (n_triangles, 3)

    shape = (n_rays, n_triangles, 3)
    mat = np.stack(
        [
            np.broadcast_to(-D[:, None], shape),
            np.broadcast_to((B - A)[None], shape),
            np.broadcast_to((C - A)[None], shape),
        ],
        axis=-1,
    )  # (n_rays, n_triangles, 3, 3)
    rhs = O[:, None] - A[None]  # (n_rays, n_triangles, 3)

    singular = np.abs(np.linalg.det(mat)) < 1e-8
    mat[singular] = np.eye(3)
    sol = np.linalg.solve(mat, rhs[..., None])[..., 0]
    s, u, v = sol[..., 0], sol[..., 1], sol[..., 2]

    hits = (s >= 0) & (u >= 0) & (v >= 0) & (u + v <= 1) & ~singular
    return np.where(hits, s, np.inf).min(axis=1)  # min over triangles; inf where no hit
    # END SOLUTION


if MAIN:
    check(raytrace_triangles)


# %% [markdown]
# A mesh to render: a regular icosahedron, built in code. Its 12 corners are the cyclic
# permutations of (0, ±1, ±φ); its 20 faces are the triples of corners that are pairwise
# at distance 2 (the edge length). This is given code, not an exercise.


# %%
def icosahedron(center: Float[np.ndarray, " 3"], radius: float) -> Float[np.ndarray, "20 3 3"]:
    """The 20 triangles of a regular icosahedron with the given center and circumradius."""
    phi = (1 + 5**0.5) / 2
    corners = []
    for a, b in itertools.product((-1.0, 1.0), repeat=2):
        corners += [(0.0, a, b * phi), (a, b * phi, 0.0), (b * phi, 0.0, a)]
    corners = np.array(corners)  # (12, 3), edge length 2
    dist = np.linalg.norm(corners[:, None] - corners[None], axis=-1)
    edge = np.isclose(dist, 2.0)
    faces = [
        f
        for f in itertools.combinations(range(12), 3)
        if all(edge[i, j] for i, j in itertools.combinations(f, 2))
    ]
    scale = radius / np.linalg.norm(corners[0])
    # turn it a little about the z and y axes so that more than one face looks at the camera
    cz, sz, cy, sy = np.cos(0.4), np.sin(0.4), np.cos(0.3), np.sin(0.3)
    turn = np.array([[cz, -sz, 0], [sz, cz, 0], [0, 0, 1]]) @ np.array([[cy, 0, sy], [0, 1, 0], [-sy, 0, cy]])
    return corners[np.array(faces)] * scale @ turn.T + center


def depth_to_ascii(depth: Float[np.ndarray, "n_y n_z"]) -> str:
    """Draw a depth image as text: nearer is denser, no hit is a blank. Rows are y, columns z."""
    ramp = "@%#*+=-:."
    finite = np.isfinite(depth)
    if not finite.any():
        return "\n".join(" " * depth.shape[1] for _ in range(depth.shape[0]))
    near, far = depth[finite].min(), depth[finite].max()
    level = np.zeros(depth.shape, dtype=int)
    level[finite] = np.round((depth[finite] - near) / max(far - near, 1e-12) * (len(ramp) - 1))
    chars = np.where(finite, np.array(list(ramp))[level], " ")
    return "\n".join("".join(row) for row in chars)


# %%
def render_mesh(
    triangles: Float[np.ndarray, "n_triangles 3 3"],
    num_pixels_y: int,
    num_pixels_z: int,
    y_limit: float,
    z_limit: float,
    rays_per_chunk: int = 256,
) -> Float[np.ndarray, "n_y n_z"]:
    """Depth image of a mesh seen from the origin: image[i, j] = raytrace depth of pixel (i, j).

    Uses the rays of make_rays_2d(num_pixels_y, num_pixels_z, y_limit, z_limit) and the depths of
    raytrace_triangles (np.inf where a pixel sees no triangle). To bound memory, trace at most
    rays_per_chunk rays at a time (the last chunk may be smaller): the batched solve builds
    an array of rays × triangles × 3 × 3 floats, which for a whole image can be huge.
    Returns a float64 array of shape (num_pixels_y, num_pixels_z).
    """
    # BEGIN SOLUTION
    rays = make_rays_2d(num_pixels_y, num_pixels_z, y_limit, z_limit)
    depths = [
        raytrace_triangles(rays[start : start + rays_per_chunk], triangles)
        for start in range(0, len(rays), rays_per_chunk)
    ]
    return np.concatenate(depths).reshape(num_pixels_y, num_pixels_z)  # y-major, as the rays
    # END SOLUTION


if MAIN:
    check(render_mesh)


# %%
if MAIN:
    mesh = icosahedron(np.array([3.0, 0.0, 0.0]), radius=1.2)
    # A character is about twice as tall as it is wide: twice as many columns as rows.
    try:
        image = render_mesh(mesh, 24, 48, y_limit=0.5, z_limit=0.5)
        print(depth_to_ascii(image))
    except NotImplementedError as missing:
        print(f"Finish {missing} to see the icosahedron.")
