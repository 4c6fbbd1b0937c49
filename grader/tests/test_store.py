"""The progress store: versioned, consistent under concurrent runs and a kill mid-run."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from grader.catalog import Exercise
from grader.grade import ExerciseResult, Report
from grader.layout import Part
from grader.outcomes import Status
from grader.store import SCHEMA_VERSION, Store, StoreError


def _report(status: Status, n: int = 20) -> Report:
    part = Part("chapter1_demo", "part1_basics")
    results = {}
    for i in range(n):
        exercise = Exercise(part, f"ex{i}")
        results[exercise.id] = ExerciseResult(exercise, status, f"message {i}", 0.01)
    return Report("1", "exercises", [], results, [], "2026-01-01T00:00:00+00:00", 0.5)


def test_latest_result_wins(tmp_path):
    store = Store(tmp_path / "p.sqlite3")
    store.record(_report(Status.FAILED))
    store.record(_report(Status.PASSED, n=5))
    latest = store.latest()
    assert latest["chapter1_demo/part1_basics/ex0"].status == "passed"
    assert latest["chapter1_demo/part1_basics/ex10"].status == "failed"
    assert store.run_count() == 2


def test_schema_is_versioned(tmp_path):
    path = tmp_path / "p.sqlite3"
    Store(path).record(_report(Status.TODO))
    with sqlite3.connect(path) as db:
        assert db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
        db.execute(f"PRAGMA user_version={SCHEMA_VERSION + 1}")
    with pytest.raises(StoreError, match="newer grader"):
        Store(path).latest()


def test_concurrent_runs_all_land(tmp_path):
    path = tmp_path / "p.sqlite3"
    with ThreadPoolExecutor(8) as pool:
        list(pool.map(lambda _: Store(path).record(_report(Status.PASSED)), range(16)))
    assert Store(path).run_count() == 16
    with sqlite3.connect(path) as db:
        assert db.execute("SELECT COUNT(*) FROM results").fetchone()[0] == 16 * 20


_WRITER = """
import sys, time
from grader.store import Store
sys.path.insert(0, {tests!r})
from test_store import _report
from grader.outcomes import Status
store = Store(__import__('pathlib').Path({path!r}))
while True:
    store.record(_report(Status.FAILED, n=200))
"""


def test_a_kill_mid_write_leaves_whole_runs_only(tmp_path):
    path = tmp_path / "p.sqlite3"
    Store(path).record(_report(Status.PASSED))
    code = _WRITER.format(tests=str(Path(__file__).parent), path=str(path))
    for _ in range(3):
        writer = subprocess.Popen([sys.executable, "-c", code])
        time.sleep(0.6)
        os.kill(writer.pid, signal.SIGKILL)
        writer.wait()
    with sqlite3.connect(path) as db:
        assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        sizes = db.execute("SELECT run_id, COUNT(*) FROM results GROUP BY run_id").fetchall()
    assert sizes[0] == (1, 20)
    assert len(sizes) > 1 and all(count == 200 for _, count in sizes[1:])


def test_a_damaged_store_is_kept_aside_and_a_fresh_one_started(tmp_path):
    path = tmp_path / "p.sqlite3"
    path.write_bytes(b"this is not a database" * 100)
    store = Store(path)
    store.record(_report(Status.PASSED, n=3))
    assert store.notice and "damaged" in store.notice and "kept as" in store.notice
    kept = list(tmp_path.glob("p.sqlite3.damaged-*"))
    assert len(kept) == 1 and kept[0].read_bytes() == b"this is not a database" * 100
    assert Store(path).run_count() == 1


def test_a_folder_is_refused_and_nothing_is_moved(tmp_path):
    with pytest.raises(StoreError, match="is a folder"):
        Store(tmp_path).record(_report(Status.PASSED))
    assert list(tmp_path.iterdir()) == []


def test_grading_with_a_damaged_store_still_prints_the_report(cli, tmp_path):
    cli.db.write_bytes(b"garbage" * 1000)
    code, out, err = cli("1", "--impl", "solutions")  # not recorded: the store is not touched
    assert code == 0
    code, out, err = cli("1")
    assert code == 1 and "0/13 exercises passed" in out
    assert len(err.strip().splitlines()) == 1 and "kept as" in err, err
    code, out, err = cli()
    assert "0/13" in out or "todo" in out, out
    code, out, err = cli("1", environ={"GRADER_PROGRESS_DB": str(tmp_path)})
    assert code == 1 and "0/13 exercises passed" in out
    assert "progress not saved" in err and "is a folder" in err
