"""Line charts, scatter charts and image grids as self-contained SVG files, with nothing
beyond the standard library and NumPy.

`line_chart({"epsilon-greedy": regret, "UCB1": regret2}, "regret.svg", title="Regret",
xlabel="step", ylabel="cumulative regret")` writes one polyline per named series (x is
0, 1, 2, ... unless a series is given as a pair (xs, ys)), axes with round-number ticks
and a legend, and returns the path it wrote. Open the file in a browser or in VSCode.
Non-finite values (NaN, inf) break a line into pieces instead of bending the axes.

`scatter_chart(X2, y, "classes.svg", names=["setosa", ...], centres=C)` draws 2-D points
as dots coloured by their integer label (a class or a cluster), optional centres as
crosses in the same colours, optional ellipses (mean, covariance) at two standard
deviations, and a legend of the labels present.

`image_grid(X, "samples.svg", shape=(8, 8))` draws grey-scale images (values in [0, 1]) side
by side in a grid, as one embedded PNG (written with zlib, no imaging library).
"""

from __future__ import annotations

import base64
import math
import struct
import zlib
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from xml.sax.saxutils import escape

import numpy as np

WIDTH, HEIGHT = 640, 400
LEFT, RIGHT, TOP, BOTTOM = 70, 170, 40, 50  # margins: the legend sits in the right one
COLOURS = ["#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#17becf"]


def nice_ticks(low: float, high: float, count: int = 5) -> list[float]:
    """About `count` round numbers (steps of 1, 2 or 5 times a power of ten) covering [low, high]."""
    if not (math.isfinite(low) and math.isfinite(high)):
        raise ValueError(f"tick range must be finite, got [{low}, {high}]")
    if high <= low:  # one value: a unit range around it
        low, high = low - 0.5, low + 0.5
    raw = (high - low) / max(count, 1)
    power = 10.0 ** math.floor(math.log10(raw))
    step = next(m * power for m in (1, 2, 5, 10) if m * power >= raw * (1 - 1e-9))
    first, last = math.floor(low / step + 1e-9), math.ceil(high / step - 1e-9)
    return [k * step if k else 0.0 for k in range(first, last + 1)]


def _label(value: float) -> str:
    return f"{value:.6g}"


def _text(x: float, y: float, content: str, extra: str = 'text-anchor="middle"') -> str:
    return f'<text x="{x:.1f}" y="{y:.1f}" {extra}>{escape(content)}</text>'


def _as_xy(series: object) -> tuple[np.ndarray, np.ndarray]:
    if isinstance(series, tuple) and len(series) == 2:
        xs, ys = (np.asarray(a, dtype=np.float64).ravel() for a in series)
        if xs.shape != ys.shape:
            raise ValueError(
                f"a series given as (xs, ys) needs as many xs as ys, got {xs.size} and {ys.size}"
            )
        return xs, ys
    ys = np.asarray(series, dtype=np.float64).ravel()
    return np.arange(ys.size, dtype=np.float64), ys


def _frame(
    all_x: np.ndarray, all_y: np.ndarray, title: str, xlabel: str, ylabel: str
) -> tuple[
    list[str], Callable[[np.ndarray | float], np.ndarray], Callable[[np.ndarray | float], np.ndarray], int
]:
    """The SVG's opening, title, grid, ticks, frame and axis labels for data covering
    all_x × all_y; returns (lines so far, px, py, plot width) with px, py mapping data to pixels."""
    xticks = nice_ticks(float(all_x.min()), float(all_x.max()))
    yticks = nice_ticks(float(all_y.min()), float(all_y.max()))
    x0, x1, y0, y1 = xticks[0], xticks[-1], yticks[0], yticks[-1]
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM

    def px(x: np.ndarray | float) -> np.ndarray:
        return LEFT + (np.asarray(x, dtype=np.float64) - x0) / (x1 - x0) * plot_w

    def py(y: np.ndarray | float) -> np.ndarray:
        return TOP + plot_h - (np.asarray(y, dtype=np.float64) - y0) / (y1 - y0) * plot_h

    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{HEIGHT}" '
        f'viewBox="0 0 {WIDTH} {HEIGHT}" font-family="sans-serif" font-size="12">',
        f'<rect width="{WIDTH}" height="{HEIGHT}" fill="white"/>',
    ]
    if title:
        out.append(_text(LEFT + plot_w / 2, 22, title, 'text-anchor="middle" font-size="15"'))
    # Grid lines and tick labels, then the axes' frame.
    for t in xticks:
        x = float(px(t))
        out.append(f'<line x1="{x:.1f}" y1="{TOP}" x2="{x:.1f}" y2="{TOP + plot_h}" stroke="#e0e0e0"/>')
        out.append(f'<text x="{x:.1f}" y="{TOP + plot_h + 16}" text-anchor="middle">{_label(t)}</text>')
    for t in yticks:
        y = float(py(t))
        out.append(f'<line x1="{LEFT}" y1="{y:.1f}" x2="{LEFT + plot_w}" y2="{y:.1f}" stroke="#e0e0e0"/>')
        out.append(f'<text x="{LEFT - 6}" y="{y + 4:.1f}" text-anchor="end">{_label(t)}</text>')
    out.append(f'<rect x="{LEFT}" y="{TOP}" width="{plot_w}" height="{plot_h}" fill="none" stroke="black"/>')
    if xlabel:
        out.append(_text(LEFT + plot_w / 2, HEIGHT - 10, xlabel))
    if ylabel:
        cy = TOP + plot_h / 2
        out.append(_text(16, cy, ylabel, f'text-anchor="middle" transform="rotate(-90 16 {cy:.1f})"'))
    return out, px, py, plot_w


def line_chart(
    series: Mapping[str, Sequence[float] | np.ndarray | tuple],
    path: str | Path,
    title: str = "",
    xlabel: str = "",
    ylabel: str = "",
) -> str:
    """Write a line chart of the named series to `path` as an SVG file; return the path (str).

    Each value of `series` is a sequence of y values (plotted at x = 0, 1, 2, ...) or a pair
    (xs, ys) of equal length. One <path> element per series, in the order given, with its
    colour in the legend. The axes cover every finite point, with round-number ticks.
    """
    if not series:
        raise ValueError("line_chart needs at least one series")
    data = {str(name): _as_xy(values) for name, values in series.items()}
    finite = [(xs[ok], ys[ok]) for xs, ys in data.values() for ok in [np.isfinite(xs) & np.isfinite(ys)]]
    all_x = np.concatenate([xs for xs, _ in finite])
    all_y = np.concatenate([ys for _, ys in finite])
    if all_x.size == 0:
        all_x, all_y = np.array([0.0, 1.0]), np.array([0.0, 1.0])
    out, px, py, plot_w = _frame(all_x, all_y, title, xlabel, ylabel)
    # One path per series: "M" starts a piece (at the first point and after a gap), "L" continues it.
    for i, (name, (xs, ys)) in enumerate(data.items()):
        colour = COLOURS[i % len(COLOURS)]
        commands, pen_down = [], False
        for x, y in zip(px(xs).tolist(), py(ys).tolist()):
            if math.isfinite(x) and math.isfinite(y):
                commands.append(f"{'L' if pen_down else 'M'}{x:.2f},{y:.2f}")
                pen_down = True
            else:
                pen_down = False
        style = f'fill="none" stroke="{colour}" stroke-width="1.5"'
        out.append(f'<path d="{" ".join(commands)}" {style}><title>{escape(name)}</title></path>')
        ly = TOP + 10 + 18 * i
        lx = LEFT + plot_w + 12
        out.append(f'<line x1="{lx}" y1="{ly}" x2="{lx + 20}" y2="{ly}" stroke="{colour}" stroke-width="3"/>')
        out.append(f'<text x="{lx + 26}" y="{ly + 4}">{escape(name)}</text>')
    out.append("</svg>")
    Path(path).write_text("\n".join(out) + "\n", encoding="utf-8")
    return str(path)


def scatter_chart(
    points: np.ndarray | Sequence[Sequence[float]],
    labels: np.ndarray | Sequence[int] | None,
    path: str | Path,
    title: str = "",
    xlabel: str = "",
    ylabel: str = "",
    names: Sequence[str] | None = None,
    centres: np.ndarray | Sequence[Sequence[float]] | None = None,
    ellipses: Sequence[tuple[np.ndarray, np.ndarray]] | None = None,
) -> str:
    """Write a scatter chart of 2-D points coloured by label to `path` as an SVG; return the path.

    points: (n, 2), one point per row (x, y). labels: (n,) ints 0 … K−1 (the class or cluster
    of each point), or None for one colour. names: the legend's name of each label (default
    "0", "1", …). centres: optional (K, 2) points drawn as crosses in their label's colour
    (k-means centroids, mixture means). ellipses: optional (mean (2,), covariance (2, 2))
    pairs, the k-th drawn in label k's colour as the contour two standard deviations out,
    {x : (x − mean)ᵀ cov⁻¹ (x − mean) = 4} (a Gaussian mixture's components). One <circle>
    per finite point, in the order given; the axes cover every finite point, centre and
    ellipse, with round-number ticks.
    """
    pts = np.asarray(points, dtype=np.float64)
    if pts.ndim != 2 or pts.shape[1] != 2:
        raise ValueError(f"points must have shape (n, 2), got {pts.shape}")
    labs = np.zeros(len(pts), dtype=np.int64) if labels is None else np.asarray(labels).ravel()
    if labs.shape != (len(pts),):
        raise ValueError(f"need one label per point: {len(pts)} points, {labs.size} labels")
    if labs.size and (not np.issubdtype(labs.dtype, np.integer) or labs.min() < 0):
        raise ValueError("labels must be non-negative integers (0 … K-1)")
    cen = None if centres is None else np.asarray(centres, dtype=np.float64).reshape(-1, 2)
    ok = np.asarray(np.isfinite(pts).all(axis=1), dtype=bool)
    every = pts[ok] if cen is None else np.concatenate([pts[ok], cen[np.isfinite(cen).all(axis=1)]])
    angles = np.linspace(0.0, 2.0 * np.pi, 65)
    unit = np.stack([np.cos(angles), np.sin(angles)], axis=1)  # (65, 2), closed: last = first
    rings = []
    for mean, cov in ellipses or []:
        # x = mean + 2 L u with L Lᵀ = cov and |u| = 1 has (x − mean)ᵀ cov⁻¹ (x − mean) = 4.
        L = np.linalg.cholesky(np.asarray(cov, dtype=np.float64).reshape(2, 2))
        rings.append(np.asarray(mean, dtype=np.float64).reshape(2) + 2.0 * unit @ L.T)
    if rings:
        every = np.concatenate([every, *rings])
    if every.size == 0:
        every = np.array([[0.0, 0.0], [1.0, 1.0]])
    out, px, py, plot_w = _frame(every[:, 0], every[:, 1], title, xlabel, ylabel)
    xs, ys = px(pts[:, 0]), py(pts[:, 1])
    for x, y, k, good in zip(xs.tolist(), ys.tolist(), labs.tolist(), ok.tolist()):
        if good:
            colour = COLOURS[int(k) % len(COLOURS)]
            out.append(f'<circle cx="{x:.2f}" cy="{y:.2f}" r="3" fill="{colour}" fill-opacity="0.7"/>')
    if cen is not None:
        for k, (x, y) in enumerate(zip(px(cen[:, 0]).tolist(), py(cen[:, 1]).tolist())):
            if math.isfinite(x) and math.isfinite(y):
                colour = COLOURS[k % len(COLOURS)]
                a, b, c, e = x - 7, x + 7, y - 7, y + 7
                d = f"M{a:.2f},{c:.2f} L{b:.2f},{e:.2f} M{a:.2f},{e:.2f} L{b:.2f},{c:.2f}"
                out.append(f'<path d="{d}" stroke="black" stroke-width="4"/>')
                out.append(
                    f'<path d="{d}" stroke="{colour}" stroke-width="2"><title>centre {k}</title></path>'
                )
    for k, ring in enumerate(rings):
        d = " ".join(
            f"{'L' if j else 'M'}{x:.2f},{y:.2f}"
            for j, (x, y) in enumerate(zip(px(ring[:, 0]).tolist(), py(ring[:, 1]).tolist()))
        )
        colour = COLOURS[k % len(COLOURS)]
        out.append(
            f'<path d="{d} Z" fill="none" stroke="{colour}" stroke-width="2">'
            f"<title>ellipse {k}</title></path>"
        )
    shown = sorted(set(labs.tolist())) if labels is not None else []
    for i, k in enumerate(shown):
        name = names[k] if names is not None and k < len(names) else str(k)
        ly, lx = TOP + 10 + 18 * i, LEFT + plot_w + 12
        out.append(f'<circle cx="{lx + 10}" cy="{ly}" r="5" fill="{COLOURS[k % len(COLOURS)]}"/>')
        out.append(f'<text x="{lx + 26}" y="{ly + 4}">{escape(str(name))}</text>')
    out.append("</svg>")
    Path(path).write_text("\n".join(out) + "\n", encoding="utf-8")
    return str(path)


GRID_GAP = 1  # grey pixels between neighbouring images in image_grid


def _png_grey(pixels: np.ndarray) -> bytes:
    """An 8-bit grey-scale PNG of a (height, width) array of uint8, from the standard library only."""
    height, width = pixels.shape

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body) & 0xFFFFFFFF)

    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)  # 8 bits, grey, no interlace
    rows = b"".join(b"\x00" + row.tobytes() for row in pixels)  # filter type 0 (none) on each row
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(rows, 9))
        + chunk(b"IEND", b"")
    )


def image_grid(
    images: np.ndarray | Sequence[np.ndarray],
    path: str | Path,
    columns: int | None = None,
    title: str = "",
    shape: tuple[int, int] | None = None,
) -> str:
    """Write grey-scale images side by side in a grid to `path` as an SVG file; return the path.

    images: (n, h, w), or (n, h·w) with `shape=(h, w)` (the digits' rows of 64 with
    shape=(8, 8)); values in [0, 1], 0 black and 1 white (values outside are clipped, NaN
    drawn as 0). columns: images per row (default: about √n). The grid is one embedded PNG
    (8-bit grey, the images separated by a one-pixel grey line) drawn as one <image>,
    enlarged with square pixels; the file needs nothing else to open in a browser.
    """
    arr = np.asarray(images, dtype=np.float64)
    if shape is not None:
        h, w = (int(s) for s in shape)
        if arr.ndim != 2 or arr.shape[1] != h * w:
            raise ValueError(f"with shape=({h}, {w}) images must have shape (n, {h * w}), got {arr.shape}")
        arr = arr.reshape(-1, h, w)
    if arr.ndim != 3 or arr.shape[0] == 0:
        raise ValueError(
            f"images must have shape (n, h, w) with n ≥ 1 (or (n, h·w) with shape=), got {arr.shape}"
        )
    n, h, w = arr.shape
    cols = max(1, math.ceil(math.sqrt(n))) if columns is None else int(columns)
    if cols < 1:
        raise ValueError(f"columns must be at least 1, got {columns}")
    cols = min(cols, n)
    rows = math.ceil(n / cols)
    grey = np.rint(np.clip(np.nan_to_num(arr, nan=0.0), 0.0, 1.0) * 255).astype(np.uint8)
    canvas = np.full((rows * (h + GRID_GAP) + GRID_GAP, cols * (w + GRID_GAP) + GRID_GAP), 128, np.uint8)
    for k in range(n):
        r, c = divmod(k, cols)
        top, left = GRID_GAP + r * (h + GRID_GAP), GRID_GAP + c * (w + GRID_GAP)
        canvas[top : top + h, left : left + w] = grey[k]
    # Enlarge so that the grid is about 480 pixels wide (at least 2 screen pixels per image pixel).
    scale = max(2, 480 // canvas.shape[1])
    width, height = canvas.shape[1] * scale, canvas.shape[0] * scale
    top = 30 if title else 0
    data = base64.b64encode(_png_grey(canvas)).decode("ascii")
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height + top}" '
        f'viewBox="0 0 {width} {height + top}" font-family="sans-serif" font-size="12">',
        f'<rect width="{width}" height="{height + top}" fill="white"/>',
    ]
    if title:
        out.append(_text(width / 2, 20, title, 'text-anchor="middle" font-size="15"'))
    out.append(
        f'<image x="0" y="{top}" width="{width}" height="{height}" image-rendering="pixelated" '
        f'style="image-rendering: pixelated" preserveAspectRatio="none" '
        f'href="data:image/png;base64,{data}"><title>{n} images of {h}×{w}</title></image>'
    )
    out.append("</svg>")
    Path(path).write_text("\n".join(out) + "\n", encoding="utf-8")
    return str(path)
