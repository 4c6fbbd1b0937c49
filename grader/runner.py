"""Run course tests on an implementation in a worker process, and survive anything the
learner's code does: a hang, a crash, an exit, a memory bomb or a flood of output.

The runner reads the worker's events. A test that outlives its time limit gets the
worker killed (with its whole process group) and is marked *timeout*; a worker that
dies mid-test marks that test *crashed*. Either way a new worker carries on with the
tests not yet run, so one broken function never hides its neighbours' results.
"""

from __future__ import annotations

import json
import os
import select
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from grader.outcomes import Status

DEFAULT_TIMEOUT_S = 5.0
DEFAULT_MEMORY_MB = 4096
COLLECT_TIMEOUT_S = 60.0


@dataclass
class TestResult:
    nodeid: str
    exercise: str
    status: Status
    message: str
    duration: float

    @property
    def name(self) -> str:
        return self.nodeid.split("::", 1)[-1]


@dataclass
class Job:
    root: Path
    impl: Path
    files: list[Path]
    exercises: list[str] = field(default_factory=list)  # empty: all
    timeout: float = DEFAULT_TIMEOUT_S
    memory_mb: int = DEFAULT_MEMORY_MB
    typecheck: bool = True
    debug: bool = False


@dataclass
class RunOutcome:
    results: dict[str, TestResult]
    problems: list[str]  # the course's own faults (tests that fail to collect), not the learner's


_SIGNALS = {
    signal.SIGSEGV: "a segmentation fault",
    signal.SIGKILL: "SIGKILL (out of memory?)",
    signal.SIGABRT: "an abort",
    signal.SIGBUS: "a bus error",
    signal.SIGFPE: "a floating-point exception",
}


def _death(returncode: int) -> str:
    if returncode < 0:
        sig = -returncode
        try:
            name = _SIGNALS.get(signal.Signals(sig), signal.Signals(sig).name)
        except ValueError:
            name = f"signal {sig}"
        return f"the test process died from {name}"
    return f"the test process exited with status {returncode} (os._exit or a crash in native code?)"


def _parse(line: bytes) -> dict | None:
    """One event; None for anything else (learner code could write to the pipe too)."""
    try:
        event = json.loads(line)
    except ValueError:
        return None
    return event if isinstance(event, dict) and isinstance(event.get("event"), str) else None


class _Worker:
    def __init__(self, job: Job, skip_file: Path):
        read_fd, write_fd = os.pipe()
        spec = {
            "root": str(job.root),
            "impl": str(job.impl),
            "files": [str(f) for f in job.files],
            "exercises": job.exercises,
            "events_fd": write_fd,
            "skip_file": str(skip_file),
            "memory_limit": job.memory_mb * 2**20,
            "typecheck": job.typecheck,
            "debug": job.debug,
        }
        env = dict(os.environ)
        # One BLAS thread: small test arrays gain nothing from more, and batch grading
        # runs several workers side by side.
        env.update(OPENBLAS_NUM_THREADS="1", OMP_NUM_THREADS="1", MKL_NUM_THREADS="1")
        env["PYTEST_DISABLE_PLUGIN_AUTOLOAD"] = "1"
        env.pop("PYTEST_ADDOPTS", None)
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "grader.worker", json.dumps(spec)],
            cwd=job.root,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=None if job.debug else subprocess.DEVNULL,
            stderr=None if job.debug else subprocess.DEVNULL,
            pass_fds=(write_fd,),
            start_new_session=True,  # its own process group: killed whole, children too
        )
        os.close(write_fd)
        self.fd = read_fd
        self.buffer = b""

    def events(self, wait: float) -> list[dict] | None:
        """Events that arrived within `wait` seconds; None once the worker closed the pipe."""
        ready, _, _ = select.select([self.fd], [], [], max(wait, 0.0))
        if not ready:
            return []
        chunk = os.read(self.fd, 1 << 16)
        if not chunk:
            return None
        self.buffer += chunk
        *lines, self.buffer = self.buffer.split(b"\n")
        return [event for line in lines if (event := _parse(line)) is not None]

    def stop(self) -> int:
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        code = self.proc.wait()
        os.close(self.fd)
        return code


def run(job: Job) -> RunOutcome:
    return _Run(job).run()


class _Run:
    """The results so far, and the workers started one after another to get the rest."""

    def __init__(self, job: Job):
        self.job = job
        self.results: dict[str, TestResult] = {}
        self.problems: list[str] = []
        self.planned: dict[str, dict] | None = None  # the first worker's collection

    def run(self) -> RunOutcome:
        stalled = 0
        with tempfile.TemporaryDirectory(prefix="grader-") as tmp:
            skip_file = Path(tmp) / "done.txt"
            while True:
                skip_file.write_text("\n".join(self.results))
                before = len(self.results)
                if self._drive(_Worker(self.job, skip_file)) or self.planned is None:
                    break
                stalled = stalled + 1 if len(self.results) == before else 0
                if stalled >= 2 or not self._remaining():
                    break
        for nodeid in self._remaining():
            self._record(nodeid, Status.CRASHED, "the test process kept dying before this test could run")
        return RunOutcome(self.results, self.problems)

    def _remaining(self) -> list[str]:
        return [n for n in self.planned or {} if n not in self.results]

    def _record(self, nodeid: str, status: Status, message: str, duration: float = 0.0) -> None:
        exercise = (self.planned or {}).get(nodeid, {}).get("exercise", "?")
        self.results[nodeid] = TestResult(nodeid, exercise, status, message, duration)

    def _fail_rest_of_file(self, current: str, status: Status, message: str) -> None:
        # A file that hangs or dies on import would do so for each of its tests: say it once.
        prefix = current.split("::", 1)[0]
        for nodeid in self._remaining():
            if nodeid.split("::", 1)[0] == prefix:
                self._record(nodeid, status, message)

    def _skip_rest_of_exercise(self, current: str) -> None:
        # The exercise is *timeout* whatever its other tests do (only error and crashed rank
        # higher), so waiting out their limits too would only make a hang cost more.
        planned = self.planned or {}
        prefix = current.split("::", 1)[0]
        exercise = planned.get(current, {}).get("exercise")
        for nodeid in self._remaining():
            if nodeid.split("::", 1)[0] == prefix and planned[nodeid].get("exercise") == exercise:
                self._record(nodeid, Status.TIMEOUT, "not run: an earlier test of this exercise timed out")

    def _drive(self, worker: _Worker) -> bool:
        """Run one worker until it finishes (True) or has to be replaced (False)."""
        current: str | None = None
        importing = False
        limit = self.job.timeout
        deadline = time.monotonic() + COLLECT_TIMEOUT_S
        while True:
            events = worker.events(deadline - time.monotonic())
            if events is None:  # the pipe closed: the worker is gone
                code = worker.stop()
                if current is not None and importing:
                    self._fail_rest_of_file(
                        current, Status.CRASHED, f"{_death(code)} while importing the exercise file"
                    )
                elif current is not None:
                    self._record(current, Status.CRASHED, _death(code))
                elif self.planned is None:
                    self.problems.append(f"the tests could not be started: {_death(code)}")
                return False
            if not events and time.monotonic() >= deadline:
                worker.stop()
                if current is None:
                    self.problems.append("collecting the tests took too long")
                    return True
                if importing:
                    self._fail_rest_of_file(
                        current,
                        Status.TIMEOUT,
                        f"importing the exercise file took longer than {limit:g} s: "
                        "is there a loop at top level, outside `if MAIN:`?",
                    )
                else:
                    self._record(
                        current,
                        Status.TIMEOUT,
                        f"took longer than {limit:g} s: an infinite loop, or far too slow",
                        limit,
                    )
                    self._skip_rest_of_exercise(current)
                return False
            for event in events:
                kind = event["event"]
                if kind == "collected":
                    if self.planned is None:
                        self.planned = {t["nodeid"]: t for t in event["tests"]}
                    deadline = time.monotonic() + COLLECT_TIMEOUT_S
                elif kind == "collect_error":
                    self.problems.append(
                        f"{event['nodeid']}: the tests could not be collected:\n{event['message']}"
                    )
                elif kind == "start":
                    current = event["nodeid"]
                    limit = (self.planned or {}).get(current, {}).get("timeout") or self.job.timeout
                    deadline = time.monotonic() + limit
                elif kind in ("import_start", "import_end"):
                    importing = kind == "import_start"
                elif kind == "result":
                    self._record(
                        event["nodeid"], Status(event["status"]), event["message"], event["duration"]
                    )
                    current = None
                    deadline = time.monotonic() + COLLECT_TIMEOUT_S
                elif kind == "done":
                    worker.stop()
                    if self.planned is None and not self.problems:
                        self.problems.append("no tests were collected")
                    return True
