"""The benchmark runner still runs every case of every chapter on the references (one timed call)."""

from __future__ import annotations

import importlib
import subprocess
import sys

import pytest

from grader import layout
from grader.tests.conftest import COURSE

pytest.importorskip("threadpoolctl")
CASE_FILES = sorted((COURSE / "bench" / "cases").glob("chapter*.py"))


def test_bench_runs_every_case():
    if not layout.solutions_root(COURSE).is_dir():
        pytest.skip("the benchmarks time the references, which this copy does not have")
    done = subprocess.run(
        [sys.executable, str(COURSE / "bench" / "run.py"), "--repeat", "1"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    rows = done.stdout.splitlines()[1:]
    cases = sum(len(importlib.import_module(f"bench.cases.{p.stem}").CASES) for p in CASE_FILES)
    assert len(rows) == cases and all("ms" in row for row in rows), done.stdout
