"""The benchmark runner still runs every chapter-0 case on the references (one timed call)."""

from __future__ import annotations

import subprocess
import sys

import pytest

from grader import layout
from grader.tests.conftest import COURSE

pytest.importorskip("threadpoolctl")


def test_bench_runs_every_chapter0_case():
    if not layout.solutions_root(COURSE).is_dir():
        pytest.skip("the benchmarks time the references, which this copy does not have")
    done = subprocess.run(
        [sys.executable, str(COURSE / "bench" / "run.py"), "0", "--repeat", "1"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    rows = done.stdout.splitlines()[1:]
    assert len(rows) >= 8 and all("ms" in row for row in rows), done.stdout
