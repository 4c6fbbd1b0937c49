"""Time reference implementations, and the same operation in another library when it is
installed (PyTorch CPU), printing the ratio.

    python bench/run.py                 # every case
    python bench/run.py chapter0 -k softmax
    python bench/run.py --impl exercises  # time your own implementation instead

BLAS and PyTorch are pinned to one thread (threadpoolctl, torch.set_num_threads) so
figures compare algorithms, not core counts. Each case: one warm-up call, then the
median of --repeat timed calls. Cases live in bench/cases/<chapter>.py as a CASES list.
"""

from __future__ import annotations

import argparse
import importlib
import os
import statistics
import sys
import time
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any, Callable

# BLAS libraries read these when they load; threadpoolctl below only reaches libraries
# already loaded, so both are needed.
for _variable in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_variable, "1")

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from grader import layout, loader  # noqa: E402


@dataclass
class Case:
    """One benchmark: `run(module, inputs)` times the course's function; `other(inputs)`
    times the same operation elsewhere (None when unavailable)."""

    name: str
    part: str  # chapter/part of the function under test
    inputs: Callable[[], tuple]
    run: Callable[[Any, tuple], Any]
    other: Callable[[tuple], Callable[[], Any] | None] | None = None
    other_name: str = "torch"


def median_seconds(fn: Callable[[], Any], repeat: int) -> float:
    fn()  # warm-up: caches, lazy imports, allocator
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def torch_or_none():
    try:
        import torch
    except ImportError:
        return None
    if not getattr(torch_or_none, "warmed", False):
        # PyTorch's first float64 kernels pay a one-off set-up cost (seen: 94 ms for a
        # 5 ms softmax) that one warm-up call of the case does not absorb.
        torch.set_num_threads(1)
        x = torch.ones(256, 256, dtype=torch.float64)
        for _ in range(3):
            torch.softmax(x, -1), x @ x, torch.cdist(x, x)
        torch_or_none.warmed = True  # type: ignore[attr-defined]
    return torch


def in_torch(op: Callable[..., Any]) -> Callable[[tuple], Callable[[], Any] | None]:
    """A Case.other for `op(torch, *tensors)`, the case's inputs shared with PyTorch (no copy)."""

    def build(inputs: tuple) -> Callable[[], Any] | None:
        torch = torch_or_none()
        if torch is None:
            return None
        tensors = [torch.from_numpy(x) for x in inputs]
        return lambda: op(torch, *tensors)

    return build


def blas_kernels() -> str:
    """Which BLAS NumPy loaded and which CPU's kernels it runs, as threadpoolctl reports
    them (OpenBLAS picks its kernels at load time, and OPENBLAS_CORETYPE overrides it),
    so that every figure says what it measured."""
    from threadpoolctl import threadpool_info

    found = [i for i in threadpool_info() if i["user_api"] == "blas"]
    return ", ".join(f"{i['internal_api']} {i['version']} {i.get('architecture', '')}".strip() for i in found)


def cases(chapters: list[str]) -> list[Case]:
    found = []
    for chapter in chapters:
        try:
            module = importlib.import_module(f"bench.cases.{chapter}")
        except ModuleNotFoundError:
            continue
        found += module.CASES
    return found


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python bench/run.py", description=__doc__.splitlines()[0])
    parser.add_argument("chapter", nargs="?", help="chapter0, 0, chapter0_numpy (default: all)")
    parser.add_argument("-k", dest="name", help="only cases whose name contains NAME")
    parser.add_argument("--impl", default="solutions", help="solutions (default), exercises, or PATH")
    parser.add_argument("--repeat", type=int, default=7)
    args = parser.parse_args(argv)

    from threadpoolctl import threadpool_limits

    chapters = layout.chapters(ROOT)
    if args.chapter:
        token = args.chapter.removeprefix("chapter").split("_")[0]
        chapters = [c for c in chapters if c == args.chapter or str(layout.number(c)) == token]
    impl = layout.impl_root(ROOT, args.impl)
    selected = cases(chapters)  # imports NumPy, so that threadpool_limits reaches its BLAS
    print(f"{'case':<40} {'course':>12} {'other':>12} {'ratio':>8}  BLAS: {blas_kernels() or 'none found'}")
    with threadpool_limits(limits=1):
        for case in selected:
            if args.name and args.name.lower() not in case.name.lower():
                continue
            module = loader.load(layout.Part(*case.part.split("/")), impl, typecheck=False)
            inputs = case.inputs()
            ours = median_seconds(partial(case.run, module, inputs), args.repeat)
            other_fn = case.other(inputs) if case.other else None
            if other_fn is None:
                print(f"{case.name:<40} {ours * 1e3:>10.3f}ms {'—':>12} {'—':>8}")
                continue
            theirs = median_seconds(other_fn, args.repeat)
            print(
                f"{case.name:<40} {ours * 1e3:>10.3f}ms {theirs * 1e3:>10.3f}ms "
                f"{ours / theirs:>7.3g}x  ({case.other_name} = 1)"
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
