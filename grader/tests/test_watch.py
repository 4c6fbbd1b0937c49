"""`grader watch`: a save is graded in a warm worker, the exercise being edited first; a
syntax error shows as `error` with its line and the next save recovers; Ctrl-C leaves
nothing running."""

from __future__ import annotations

import os
import select
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from grader import runner
from grader.tests.conftest import COURSE

TWICE = 'raise NotImplementedError("twice")'


def _workers_in(folder: Path) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes()
            cwd = os.readlink(entry / "cwd")
        except OSError:
            continue
        if b"grader.worker" in cmdline and cwd == str(folder.resolve()):
            found.append(int(entry.name))
    return found


class Watcher:
    def __init__(self, course: Path, tmp: Path, *options: str):
        env = {**os.environ, "GRADER_PROGRESS_DB": str(tmp / "p.sqlite3"), "PYTHONUNBUFFERED": "1"}
        env["PYTHONPATH"] = os.pathsep.join([str(COURSE), env.get("PYTHONPATH", "")])
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "grader", "watch", "1/2", *options],
            cwd=course,
            env={**env, "GRADER_COURSE_ROOT": str(course)},
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
        )
        self.lines: list[str] = []
        self.pending = b""

    def until(self, start: str, timeout: float = 30.0) -> str:
        """Read output until a line starts with `start` (never waiting past `timeout`)."""
        end = time.monotonic() + timeout
        assert self.proc.stdout is not None
        fd = self.proc.stdout.fileno()
        while True:
            while b"\n" in self.pending:
                raw, self.pending = self.pending.split(b"\n", 1)
                line = raw.decode()
                self.lines.append(line)
                if line.startswith(start):
                    return line
            ready, _, _ = select.select([fd], [], [], max(0.0, end - time.monotonic()))
            chunk = os.read(fd, 65536) if ready else b""
            if not chunk:
                raise AssertionError(f"no line starting {start!r} in:\n" + "\n".join(self.lines))
            self.pending += chunk

    def stop(self) -> int:
        self.proc.send_signal(signal.SIGINT)
        try:
            return self.proc.wait(timeout=30)
        finally:
            if self.proc.poll() is None:
                self.proc.kill()


def _save(course: Path, body: str) -> None:
    part = course / "exercises" / "chapter1_demo" / "part2_more.py"
    text = part.read_text()
    start = text.index("def twice")
    end = text.index("\n\n\nclass Counter")
    signature = text[start : text.index(":\n", start) + 2]
    part.write_text(text[:start] + signature + "    " + body + text[end:])


@pytest.mark.parametrize("options", [(), ("--poll",)], ids=["events", "polling"])
def test_saves_are_graded_the_edited_exercise_first(course, tmp_path, options):
    watch = Watcher(course, tmp_path, *options)
    try:
        watch.until("Watching for saves")  # the part as it is now
        assert any(line.startswith("twice: todo") for line in watch.lines)
        time.sleep(0.3)
        _save(course, "return 2 * x")
        assert watch.until("twice: ").startswith("twice: passed")
        watch.until("Watching for saves")
        assert "  twice    passed  ← working on" in watch.lines
        _save(course, "return 2 * x +")  # mid-edit
        assert watch.until("twice: ").startswith("twice: error")
        assert "part2_more.py:" in watch.until("exercises/chapter1_demo/part2_more.py:")
        _save(course, "return 3 * x")
        assert watch.until("twice: ").startswith("twice: failed")
        watch.until("Watching for saves")
    finally:
        code = watch.stop()
    assert code == 0 and watch.until("Stopped watching")
    time.sleep(0.5)
    assert _workers_in(course) == []  # Ctrl-C left no worker, warm or busy


def test_a_warm_worker_serves_one_run_and_is_gone(course):
    job = runner.Job(
        course, course / "solutions", [course / "tests" / "chapter1_demo" / "test_part2_more.py"]
    )
    runner.keep_warm(job)
    warm = runner._warm
    assert warm is not None
    for _ in range(100):  # until the spawned process has exec'd the worker
        if warm.proc.pid in _workers_in(course):
            break
        time.sleep(0.05)
    assert warm.proc.pid in _workers_in(course)
    outcome = runner.run(job)
    assert runner._warm is None  # taken by the run
    assert {r.status.value for r in outcome.results.values()} == {"passed"}
    runner.keep_warm(job)
    runner.discard_warm()
    time.sleep(0.3)
    assert _workers_in(course) == []
