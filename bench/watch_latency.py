"""Time from saving an exercise file to its verdict on screen, in watch mode and cold.

    python bench/watch_latency.py [--saves 21] [--exercise normalize_rows --part chapter0/part1]

Writes the learner's copy of the course to a temporary folder (`grader release`), then:
- cold: `python -m grader PART -k EXERCISE`, wall time of the whole command (median);
- watch: `python -m grader watch PART` running; the exercise's body is rewritten, alternating
  a right and a wrong answer, and the time is taken from the moment the file is written and
  closed to the moment the line `EXERCISE: <status>` arrives on watch's output (median).
Prints the machine's load beside the figures: the two cores are shared.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
ANSWERS = {  # a right and a wrong body for the default exercise
    "normalize_rows": (
        "n = np.linalg.norm(x, axis=1, keepdims=True)\n    return x / np.where(n == 0, 1, n)",
        "n = np.linalg.norm(x, axis=0, keepdims=True)\n    return x / np.where(n == 0, 1, n)",
    )
}


def _with_body(text: str, name: str, body: str) -> str:
    start = text.index(f"def {name}(")
    marker = (
        text.index(f'raise NotImplementedError("{name}")', start) if "NotImplementedError" in text else -1
    )
    if marker >= 0:
        end = marker + len(f'raise NotImplementedError("{name}")')
        return text[:marker] + body + text[end:]
    raise ValueError(f"{name} is not a stub in this file")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--part", default="chapter0/part1")
    parser.add_argument("--file", default="exercises/chapter0_numpy/part1_arrays.py")
    parser.add_argument("--exercise", default="normalize_rows")
    parser.add_argument("--saves", type=int, default=21)
    args = parser.parse_args()
    right, wrong = ANSWERS[args.exercise]
    with tempfile.TemporaryDirectory(prefix="watch-bench-") as tmp:
        course = Path(tmp) / "course"
        subprocess.run(
            [sys.executable, "-m", "grader", "release", str(course)],
            cwd=ROOT,
            check=True,
            stdout=subprocess.DEVNULL,
        )
        env = {**os.environ, "GRADER_PROGRESS_DB": str(Path(tmp) / "p.sqlite3"), "PYTHONUNBUFFERED": "1"}
        part = course / args.file
        stub = part.read_text()
        versions = [_with_body(stub, args.exercise, body) for body in (right, wrong)]

        cold = []
        for i in range(max(5, args.saves // 3)):
            part.write_text(versions[i % 2])
            start = time.perf_counter()
            subprocess.run(
                [sys.executable, "-m", "grader", args.part, "-k", args.exercise],
                cwd=course,
                env=env,
                stdout=subprocess.DEVNULL,
            )
            cold.append(time.perf_counter() - start)

        watch = subprocess.Popen(
            [sys.executable, "-m", "grader", "watch", args.part],
            cwd=course,
            env=env,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert watch.stdout is not None

        def until(prefix: str) -> str:
            for line in watch.stdout:
                if line.startswith(prefix):
                    return line
            raise RuntimeError("watch stopped")

        until("Watching for saves")
        warm = []
        for i in range(args.saves):
            time.sleep(1.0)  # a learner reads the verdict; the next warm worker gets ready
            with open(part, "w") as handle:
                handle.write(versions[(i + 1) % 2])
            start = time.perf_counter()
            verdict = until(f"{args.exercise}: ")
            warm.append(time.perf_counter() - start)
            until("Watching for saves")
        watch.terminate()
        watch.wait(timeout=30)
    load = os.getloadavg()[0]
    print(f"{args.exercise} ({args.part}), load {load:.2f}, last verdict {verdict.strip()!r}")
    print(
        f"cold  `python -m grader {args.part} -k {args.exercise}`: "
        f"median {statistics.median(cold) * 1e3:.0f} ms "
        f"(min {min(cold) * 1e3:.0f}, {len(cold)} runs)"
    )
    print(
        f"watch save -> verdict: median {statistics.median(warm) * 1e3:.0f} ms "
        f"(min {min(warm) * 1e3:.0f}, max {max(warm) * 1e3:.0f}, {len(warm)} saves)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
