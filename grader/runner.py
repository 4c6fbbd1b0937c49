"""Run course tests on an implementation in a worker process, and survive anything the
learner's code does: a hang, a crash, an exit, a memory bomb, a flood of output, a
forged result.

The runner reads the worker's events (grader/worker.py starts a guardian process with
the worker below it). A test that uses more than its limit of CPU time, or a wall-clock
backstop WALL_FACTOR times larger, gets every process below the guardian killed and is
marked *timeout*; a worker that dies mid-test marks that test *crashed*; an event that
does not carry the run's signature in sequence (learner code writing to the pipe) fails
that test and flags the run. Each time a new worker carries on with the tests not yet
run, so one broken function never hides its neighbours' results. However the grader
ends, the guardian kills what is left (grader/worker.py).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import select
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from grader.outcomes import Status

DEFAULT_TIMEOUT_S = 5.0
DEFAULT_MEMORY_MB = 4096
COLLECT_TIMEOUT_S = 60.0
WALL_FACTOR = 4  # the wall-clock backstop is this many times a test's CPU-time limit
POLL_S = 0.1  # how often the worker's CPU time is read while a test runs
MAX_EVENT_BYTES = 1 << 22  # a line longer than this on the event pipe is not the plugin's
_TICKS = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100

# Set to stop every run in this process at once (batch on Ctrl-C): workers are killed
# and run() raises Cancelled.
CANCEL = threading.Event()


class Cancelled(BaseException):
    """The grading was interrupted (CANCEL was set)."""


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
    user: int | None = None  # run the worker as this uid (and its group), when the grader is root
    cleanup: list[Path] = field(default_factory=list)  # removed by the guardian if the grader dies
    hide: list[Path] = field(default_factory=list)  # covered by an empty folder for the worker (root only)
    grader_home: Path | None = None  # the folder holding the `grader` the worker runs; default: this one
    first: list[str] = field(default_factory=list)  # exercises whose tests run before the others
    # Called with an exercise's name and its tests' results as soon as the last of them is in.
    on_exercise: Callable[[str, list[TestResult]], None] | None = None


@dataclass
class RunOutcome:
    results: dict[str, TestResult]
    problems: list[str]  # the course's own faults (tests that fail to collect), not the learner's
    flags: list[str] = field(default_factory=list)  # signs of tampering with the grading itself


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


def _verify(line: bytes, key: bytes, seq: int) -> dict | None:
    """The event of a line the plugin signed with `key` as number `seq`, else None."""
    mac, _, body = line.partition(b" ")
    try:
        text = body.decode()
        event = json.loads(text)
    except ValueError:
        return None
    if not (isinstance(event, dict) and isinstance(event.get("event"), str) and event.get("seq") == seq):
        return None
    expected = hmac.new(key, text.encode(), hashlib.sha256).hexdigest()[:32].encode()
    return event if hmac.compare_digest(mac, expected) else None


FORGED = {"event": "forged"}


def _run_delay(pid: int) -> float | None:
    """Seconds the process's main thread has spent ready to run but waiting for a CPU
    (the second field of /proc/<pid>/schedstat): time taken by other processes. None
    where the kernel does not say (then only the wall-clock backstop applies)."""
    try:
        with open(f"/proc/{pid}/schedstat", "rb") as handle:
            return int(handle.read().split()[1]) / 1e9
    except (OSError, IndexError, ValueError):
        return None


def _cpu_seconds(pid: int) -> float:
    """CPU time of a process, its threads and the children it has reaped."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as handle:
            stat = handle.read()
    except OSError:
        return 0.0
    fields = stat[stat.rfind(b")") + 2 :].split()
    return sum(int(f) for f in fields[11:15]) / _TICKS


class _Worker:
    """One guardian and its worker; events in, a kill of everything on stop().

    Started in two steps: the process is spawned first (a warm one imports NumPy, pytest
    and the plugin while it waits), and its job is handed over by begin()."""

    def __init__(self, job: Job, warm: bool = False):
        self.key = os.urandom(16)
        self.seq = 0
        self.spawned_for = _spawn_key(job)
        events_r, self.events_w = os.pipe()
        status_r, self.status_w = os.pipe()
        self.life_r, life_w = os.pipe()
        env = dict(os.environ)
        # One BLAS thread: small test arrays gain nothing from more, and batch grading
        # runs several workers side by side.
        env.update(OPENBLAS_NUM_THREADS="1", OMP_NUM_THREADS="1", MKL_NUM_THREADS="1")
        env["PYTEST_DISABLE_PLUGIN_AUTOLOAD"] = "1"
        env.pop("PYTEST_ADDOPTS", None)
        # The worker runs this very grader, whatever the current folder holds.
        inherited = [] if job.grader_home else list(filter(None, [env.get("PYTHONPATH")]))
        env["PYTHONPATH"] = os.pathsep.join([str(_grader_home(job)), *inherited])
        if job.user is not None:
            env["HOME"] = "/tmp"
        try:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "grader.worker", *(["--warm"] if warm else [])],
                cwd=job.root,
                env=env,
                stdin=subprocess.PIPE,
                stdout=None if job.debug else subprocess.DEVNULL,
                stderr=None if job.debug else subprocess.DEVNULL,
                pass_fds=(self.events_w, self.status_w, self.life_r),
                start_new_session=True,  # Ctrl-C at the terminal reaches the grader, not learner code
            )
        except BaseException:
            for fd in (events_r, self.events_w, status_r, self.status_w, self.life_r, life_w):
                os.close(fd)
            raise
        self.fd, self.status_fd, self.lifeline = events_r, status_r, life_w
        self.buffer = b""
        self.status_buffer = b""
        self.pid: int | None = None  # the worker's, once the guardian says
        self.exit_code: int | None = None
        self.exited = False
        self.events_closed = False
        self.forged = False
        self.stopped = False

    def begin(self, job: Job, skip: list[str]) -> None:
        spec = {
            "root": str(job.root),
            "impl": str(job.impl),
            "files": [str(f) for f in job.files],
            "exercises": job.exercises,
            "events_fd": self.events_w,
            "status_fd": self.status_w,
            "lifeline_fd": self.life_r,
            "key": self.key.hex(),
            "skip": skip,
            "memory_limit": job.memory_mb * 2**20,
            "typecheck": job.typecheck,
            "debug": job.debug,
            "user": job.user,
            "cleanup": [str(p) for p in job.cleanup],
            "hide": [str(p) for p in job.hide],
            "first": job.first,
        }
        for fd in (self.events_w, self.status_w, self.life_r):
            os.close(fd)
        try:
            assert self.proc.stdin is not None
            self.proc.stdin.write(json.dumps(spec).encode())
            self.proc.stdin.close()
        except OSError:
            pass

    def compatible(self, job: Job) -> bool:
        """Whether this spawned process can take `job`: what was fixed at its start agrees."""
        return self.spawned_for == _spawn_key(job) and self.proc.poll() is None

    def cpu(self) -> float:
        return _cpu_seconds(self.pid) if self.pid else 0.0

    def run_delay(self) -> float | None:
        return _run_delay(self.pid) if self.pid else None

    def _read_status(self) -> None:
        chunk = os.read(self.status_fd, 1 << 12)
        if not chunk:  # the guardian itself is gone
            self.exited = True
            if self.exit_code is None:
                self.exit_code = -signal.SIGKILL
            return
        self.status_buffer += chunk
        *lines, self.status_buffer = self.status_buffer.split(b"\n")
        for line in lines:
            message = json.loads(line)
            if "worker" in message:
                self.pid = int(message["worker"])
            if "exit" in message:
                self.exited, self.exit_code = True, int(message["exit"])

    def _take(self, chunk: bytes) -> list[dict]:
        self.buffer += chunk
        *lines, self.buffer = self.buffer.split(b"\n")
        if len(self.buffer) > MAX_EVENT_BYTES:  # no event of ours is this long: a flood
            lines.append(b"")
            self.buffer = b""
        events = []
        for line in lines:
            if self.forged:
                break
            event = _verify(line, self.key, self.seq)
            if event is None:
                self.forged = True
                events.append(FORGED)
                break
            self.seq += 1
            events.append(event)
        return events

    def events(self, wait: float) -> list[dict] | None:
        """Events that arrived within `wait` seconds; None once the worker is gone and
        everything it wrote has been read."""
        watch = [self.status_fd] if self.events_closed else [self.fd, self.status_fd]
        ready, _, _ = select.select(watch, [], [], max(wait, 0.0))
        if self.status_fd in ready:
            self._read_status()
        events: list[dict] = []
        if not self.events_closed and (self.fd in ready or self.exited):
            # After the worker exited, read what it wrote before (a child of learner
            # code may still hold the pipe open: never wait for the end of it).
            while True:
                more, _, _ = select.select([self.fd], [], [], 0)
                if not more:
                    break
                chunk = os.read(self.fd, 1 << 16)
                if not chunk:
                    self.events_closed = True
                    break
                events += self._take(chunk)
                if not self.exited:
                    break
        if self.exited and not events:
            return None
        return events

    def stop(self) -> int:
        """Kill the worker and everything below the guardian; the worker's exit status."""
        if self.stopped:
            return -signal.SIGKILL if self.exit_code is None else self.exit_code
        self.stopped = True
        if self.proc.stdin is not None and not self.proc.stdin.closed:  # never begun: nothing ran
            for fd in (self.events_w, self.status_w, self.life_r):
                os.close(fd)
            self.proc.stdin.close()  # the waiting process reads an empty job and exits
        try:
            os.write(self.lifeline, b"stop")
        except OSError:
            pass
        os.close(self.lifeline)
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        while not self.exited:
            ready, _, _ = select.select([self.status_fd], [], [], 1)
            if not ready:
                break
            self._read_status()
        os.close(self.fd)
        os.close(self.status_fd)
        return -signal.SIGKILL if self.exit_code is None else self.exit_code


def _grader_home(job: Job) -> Path:
    return job.grader_home or Path(__file__).resolve().parents[1]


def _spawn_key(job: Job) -> tuple:
    return (str(job.root), str(_grader_home(job)), job.debug, job.user)


_warm: _Worker | None = None  # a spawned worker waiting for its job (see keep_warm)


def keep_warm(job: Job) -> None:
    """Spawn a worker for a later run like `job` to take, if none is waiting: it imports
    NumPy, pytest and the plugin now, so that run starts in milliseconds (watch mode).
    Each run still gets a fresh process: a warm worker serves one run and is gone."""
    global _warm
    if _warm is not None and _warm.compatible(job):
        return
    discard_warm()
    _warm = _Worker(job, warm=True)


def discard_warm() -> None:
    """Stop the waiting worker, if any (on exit, Ctrl-C, or a change of settings)."""
    global _warm
    if _warm is not None:
        _warm.stop()
        _warm = None


def _new_worker(job: Job, skip: list[str]) -> _Worker:
    global _warm
    worker, _warm = _warm, None
    if worker is None or not worker.compatible(job):
        if worker is not None:
            worker.stop()
        worker = _Worker(job)
    worker.begin(job, skip)
    return worker


def run(job: Job) -> RunOutcome:
    return _Run(job).run()


def fingerprint(folders: list[Path]) -> dict[str, str]:
    """A hash of every file under `folders` (caches aside), to see what changed."""
    found: dict[str, str] = {}
    for folder in folders:
        for path in sorted(folder.rglob("*")):
            if "__pycache__" in path.parts or not path.is_file():
                continue
            try:
                found[str(path)] = hashlib.sha256(path.read_bytes()).hexdigest()
            except OSError:
                found[str(path)] = "unreadable"
    return found


def _changes(before: dict[str, str], after: dict[str, str]) -> list[str]:
    added = [p for p in after if p not in before]
    removed = [p for p in before if p not in after]
    changed = [p for p in before if p in after and before[p] != after[p]]
    return [f"{p} (added)" for p in added] + [f"{p} (removed)" for p in removed] + changed


class _Run:
    """The results so far, and the workers started one after another to get the rest."""

    def __init__(self, job: Job):
        self.job = job
        self.results: dict[str, TestResult] = {}
        self.problems: list[str] = []
        self.flags: list[str] = []
        self.planned: dict[str, dict] | None = None  # the first worker's collection

    def run(self) -> RunOutcome:
        watched = [self.job.root / "tests", _grader_home(self.job) / "grader"]
        before = fingerprint(watched)
        stalled = 0
        while True:
            before_count = len(self.results)
            worker = _new_worker(self.job, list(self.results))
            try:
                finished = self._drive(worker)
            finally:
                worker.stop()
            if finished or self.planned is None:
                break
            stalled = stalled + 1 if len(self.results) == before_count else 0
            if stalled >= 2 or not self._remaining():
                break
        for nodeid in self._remaining():
            self._record(nodeid, Status.CRASHED, "the test process kept dying before this test could run")
        changed = _changes(before, fingerprint(watched))
        if changed:
            # Shown as a problem too: every later run would be judged by the changed files.
            what = "the course's tests or grader changed while grading: " + ", ".join(changed[:5])
            self.flags.append(what)
            self.problems.append(f"{what} (restore them, e.g. `git checkout -- tests grader`)")
        return RunOutcome(self.results, self.problems, self.flags)

    def _remaining(self) -> list[str]:
        return [n for n in self.planned or {} if n not in self.results]

    def _record(self, nodeid: str, status: Status, message: str, duration: float = 0.0) -> None:
        exercise = (self.planned or {}).get(nodeid, {}).get("exercise", "?")
        self.results[nodeid] = TestResult(nodeid, exercise, status, message, duration)
        if self.job.on_exercise is not None:
            prefix = nodeid.split("::", 1)[0]
            same = [
                n
                for n, t in (self.planned or {}).items()
                if t.get("exercise") == exercise and n.split("::", 1)[0] == prefix
            ]
            if all(n in self.results for n in same):
                self.job.on_exercise(exercise, [self.results[n] for n in same])

    def _fail_rest_of_file(self, current: str, status: Status, message: str) -> None:
        # A file that hangs or dies on import would do so for each of its tests: say it once.
        prefix = current.split("::", 1)[0]
        for nodeid in self._remaining():
            if nodeid.split("::", 1)[0] == prefix:
                self._record(nodeid, status, message)

    def _skip_rest_of_exercise(self, current: str, status: Status, message: str) -> None:
        # The exercise's status could not change whatever its other tests do, so running
        # them (waiting out their limits, restarting a worker each) would only cost time.
        planned = self.planned or {}
        prefix = current.split("::", 1)[0]
        exercise = planned.get(current, {}).get("exercise")
        for nodeid in self._remaining():
            if nodeid.split("::", 1)[0] == prefix and planned[nodeid].get("exercise") == exercise:
                self._record(nodeid, status, message)

    def _forged(self, current: str | None, importing: bool) -> None:
        message = (
            "the exercise code wrote to the grader's result channel (a forged result?): "
            "this test fails and the submission is flagged"
        )
        if current is None:
            self.flags.append("learner code wrote to the grader's result channel between tests")
            return
        exercise = (self.planned or {}).get(current, {}).get("exercise", "?")
        self.flags.append(f"{current.split('::', 1)[0]}: {exercise}: wrote to the grader's result channel")
        if importing:
            self._fail_rest_of_file(current, Status.FAILED, message)
        else:
            self._record(current, Status.FAILED, message)
            self._skip_rest_of_exercise(
                current, Status.FAILED, "not run: an earlier test of this exercise forged a result"
            )

    def _timeout(self, current: str, importing: bool, limit: float, wall: bool, idle: bool = False) -> None:
        if idle:
            what = (
                f"longer than {limit:g} s waiting without using the CPU (the limit is {limit:g} s of CPU "
                "time and as long again waiting): is it sleeping, reading input or blocked?"
            )
        elif wall:
            what = (
                f"longer than {limit * WALL_FACTOR:g} s of wall-clock time (the backstop; the limit "
                f"is {limit:g} s of CPU time): is it waiting for input, sleeping or blocked?"
            )
        else:
            what = f"longer than {limit:g} s of CPU time"
        if importing:
            self._fail_rest_of_file(
                current,
                Status.TIMEOUT,
                f"importing the exercise file took {what}: is there a loop at top level, outside `if MAIN:`?",
            )
        else:
            self._record(
                current,
                Status.TIMEOUT,
                f"took {what}" + ("" if wall else ": an infinite loop, or far too slow"),
                limit,
            )
            self._skip_rest_of_exercise(
                current, Status.TIMEOUT, "not run: an earlier test of this exercise timed out"
            )

    def _drive(self, worker: _Worker) -> bool:
        """Run one worker until it finishes (True) or has to be replaced (False)."""
        current: str | None = None
        importing = False
        limit = self.job.timeout
        cpu_start = wall_start = 0.0
        delay_start: float | None = None
        deadline = time.monotonic() + COLLECT_TIMEOUT_S
        while True:
            if CANCEL.is_set():
                raise Cancelled()
            now = time.monotonic()
            wait = deadline - now if current is None else min(POLL_S, deadline - now)
            events = worker.events(min(wait, 0.5))
            if events is None:  # the worker is gone
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
            if current is not None and not events:
                used = worker.cpu() - cpu_start
                if used > limit:
                    self._timeout(current, importing, limit, wall=False)
                    return False
                # Wall-clock time, less the time other processes kept it from a CPU and
                # the time it computed: what it spent asleep or blocked.
                delay = worker.run_delay()
                waiting = (
                    time.monotonic() - wall_start - (delay - delay_start) - used
                    if delay is not None and delay_start is not None
                    else 0.0
                )
                if waiting > limit:
                    self._timeout(current, importing, limit, wall=True, idle=True)
                    return False
            if not events and time.monotonic() >= deadline:
                if current is None:
                    self.problems.append("collecting the tests took too long")
                    return True
                self._timeout(current, importing, limit, wall=True)
                return False
            for event in events:
                kind = event["event"]
                if kind == "forged":
                    self._forged(current, importing)
                    return False
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
                    cpu_start, delay_start = worker.cpu(), worker.run_delay()
                    wall_start = time.monotonic()
                    deadline = time.monotonic() + limit * WALL_FACTOR
                elif kind in ("import_start", "import_end"):
                    importing = kind == "import_start"
                elif kind == "result":
                    self._record(
                        event["nodeid"], Status(event["status"]), event["message"], event["duration"]
                    )
                    current = None
                    importing = False
                    deadline = time.monotonic() + COLLECT_TIMEOUT_S
                elif kind == "done":
                    if self.planned is None and not self.problems:
                        self.problems.append("no tests were collected")
                    return True
