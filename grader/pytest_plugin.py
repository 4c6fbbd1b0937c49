"""The course's pytest plugin: the --impl option, the `impl` fixture, and, inside a
grading worker, a stream of events the grader reads to time and classify each test.

Loaded for every pytest run in the course folder (setup.cfg's addopts) and by the
grading worker. Course tests reach learner code only through `impl`.
"""

from __future__ import annotations

import argparse
import hashlib
import hmac
import json
import os
import sys
import time
from pathlib import Path
from typing import Any, Mapping

import pytest

from grader import loader
from grader.layout import Part, impl_root
from grader.outcomes import LearnerInterrupted, Status, classify


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("grader")
    group.addoption(
        "--impl",
        default="exercises",
        help="implementation under test: exercises (default), solutions, "
        "or a folder laid out like exercises/",
    )
    group.addoption("--grader-events", type=int, default=None, help=argparse.SUPPRESS)
    group.addoption("--grader-exercise", action="append", default=[], help=argparse.SUPPRESS)
    group.addoption("--grader-no-typecheck", action="store_true", help=argparse.SUPPRESS)
    group.addoption("--grader-first", action="append", default=[], help=argparse.SUPPRESS)


def exercise_of(item: pytest.Item) -> str | None:
    marks = list(item.iter_markers("exercise"))
    return marks[0].args[0] if len(marks) == 1 and marks[0].args else None


def timeout_of(item: pytest.Item) -> float | None:
    marks = list(item.iter_markers("exercise"))
    return marks[0].kwargs.get("timeout") if marks else None


# Set by grader.worker before pytest starts: the key that signs events, and the tests a
# previous worker of the same run already ran.
EVENTS_KEY: bytes | None = None
SKIP: set[str] = set()


def sign(key: bytes, body: str) -> str:
    return hmac.new(key, body.encode(), hashlib.sha256).hexdigest()[:32]


class _Events:
    """One line per event to the grader, on a pipe that learner output never reaches:
    `<mac> <json>`, the JSON holding a sequence number. The runner checks both, so a
    line written by anything but this object (learner code writing to the pipe) is
    detected, and so is a line of ours that went missing or came twice."""

    def __init__(self, fd: int, key: bytes):
        self._fd = fd
        self._key = key
        self._seq = 0

    def send(self, **event: Any) -> None:
        event["seq"] = self._seq
        self._seq += 1
        body = json.dumps(event, sort_keys=True)
        data = f"{sign(self._key, body)} {body}\n".encode()
        while data:
            data = data[os.write(self._fd, data) :]


_EVENTS: _Events | None = None


def send_done(exit_code: int) -> None:
    if _EVENTS is not None:
        _EVENTS.send(event="done", exit_code=exit_code)


Snapshot = list[tuple[str, Any, Mapping[str, Any], str, Any]]


def _guarded() -> Snapshot:
    """Every name the tests' verdicts rest on, with its value: the grader's own modules,
    this plugin, NumPy's namespace (and linalg, random), the builtins, and what the
    events are written with."""
    import builtins

    import numpy

    from grader import outcomes, testkit, typecheck

    owners: dict[str, Any] = {
        "grader.testkit": testkit,
        "grader.outcomes": outcomes,
        "grader.typecheck": typecheck,
        "grader.pytest_plugin": sys.modules[__name__],
        "GraderPlugin": GraderPlugin,
        "_Events": _Events,
        "numpy": numpy,
        "numpy.linalg": numpy.linalg,
        "numpy.random": numpy.random,
        "builtins": builtins,
        "json": json,
        "hmac": hmac,
        "os": os,
    }
    return [
        (where, owner, vars(owner), name, value)
        for where, owner in owners.items()
        for name, value in list(vars(owner).items())
    ]


_MISSING = object()


class _ProcessState:
    """Process-wide settings a test's code may change that would change how later tests,
    of other exercises, run: put back after every test, silently (changing them is not
    cheating, only leaving them changed is a nuisance). pytest itself puts back the
    warning filters."""

    _TIMERS = ("ITIMER_REAL", "ITIMER_VIRTUAL", "ITIMER_PROF")
    _SIGNALS = ("SIGALRM", "SIGVTALRM", "SIGPROF", "SIGINT", "SIGTERM", "SIGHUP", "SIGUSR1", "SIGUSR2")

    def __init__(self) -> None:
        import signal

        import numpy

        self.cwd = os.getcwd()
        self.numpy_errors = numpy.geterr()
        self.print_options = numpy.get_printoptions()
        self.recursion_limit = sys.getrecursionlimit()
        self.handlers = {
            name: signal.getsignal(getattr(signal, name)) for name in self._SIGNALS if hasattr(signal, name)
        }

    def restore(self) -> None:
        import signal

        import numpy

        for timer in self._TIMERS:
            if hasattr(signal, timer):
                signal.setitimer(getattr(signal, timer), 0)
        for name, handler in self.handlers.items():
            try:
                signal.signal(getattr(signal, name), handler)
            except (OSError, ValueError, TypeError):
                pass
        try:
            os.chdir(self.cwd)
        except OSError:
            pass
        numpy.seterr(**self.numpy_errors)
        numpy.set_printoptions(**self.print_options)
        sys.setrecursionlimit(self.recursion_limit)


def _tampered(snapshot: Snapshot) -> str | None:
    """The names rebound or deleted since the snapshot (new names are harmless), each put
    back as it was, so that only the test that did it fails."""
    changed = []
    for where, owner, space, name, value in snapshot:
        if space.get(name, _MISSING) is not value:
            changed.append(f"{where}.{name}")
            try:
                if isinstance(space, dict):
                    space[name] = value
                else:  # a class's mappingproxy
                    setattr(owner, name, value)
            except (AttributeError, TypeError):
                pass
    return ", ".join(changed[:3]) if changed else None


class GraderPlugin:
    def __init__(self, config: pytest.Config):
        self.config = config
        global _EVENTS, EVENTS_KEY
        fd = config.getoption("grader_events")
        self.events = _EVENTS = _Events(fd, EVENTS_KEY) if fd is not None and EVENTS_KEY else None
        EVENTS_KEY = None
        # Learner code runs in this process: a snapshot lets each test check that it did
        # not rebind what the verdicts rest on (a cheat, or an accident such as np.sum = …).
        self.guarded = _guarded()
        self.state = _ProcessState() if self.events else None
        self.root = impl_root(config.rootpath, config.getoption("impl"))
        self.phases: dict[str, list[tuple[Status, str]]] = {}
        self.started: dict[str, float] = {}

    # -- collection ---------------------------------------------------------------
    @pytest.hookimpl(trylast=True)
    def pytest_collection_modifyitems(self, config: pytest.Config, items: list[pytest.Item]) -> None:
        problems = []
        for item in items:
            if Part.of_test_file(Path(item.path)) is None:
                continue
            if len(list(item.iter_markers("exercise"))) != 1 or exercise_of(item) is None:
                problems.append(f'{item.nodeid}: needs exactly one @exercise("name") marker')
        if problems:
            raise pytest.UsageError("\n".join(problems))
        wanted = set(config.getoption("grader_exercise"))
        done = SKIP
        keep: list[pytest.Item] = []
        drop: list[pytest.Item] = []
        for item in items:
            chosen = not wanted or exercise_of(item) in wanted
            (keep if chosen and item.nodeid not in done else drop).append(item)
        first = set(config.getoption("grader_first"))
        if first:  # watch mode: the exercise being edited, so its verdict comes first
            keep.sort(key=lambda item: exercise_of(item) not in first)
        if drop or first:
            if drop:
                config.hook.pytest_deselected(items=drop)
            items[:] = keep
        if self.events:
            self.events.send(
                event="collected",
                tests=[
                    {"nodeid": i.nodeid, "exercise": exercise_of(i), "timeout": timeout_of(i)} for i in items
                ],
            )

    def pytest_collectreport(self, report: pytest.CollectReport) -> None:
        if report.failed and self.events:
            self.events.send(
                event="collect_error", nodeid=report.nodeid, message=str(report.longrepr)[-3000:]
            )

    # -- running --------------------------------------------------------------------
    def pytest_runtest_logstart(self, nodeid: str) -> None:
        self.started[nodeid] = time.perf_counter()
        if self.events:
            self.events.send(event="start", nodeid=nodeid)

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_call(self, item: pytest.Item):
        # pytest stops the whole session on KeyboardInterrupt; from learner code it is
        # just this test's failure.
        try:
            return (yield)
        except KeyboardInterrupt:
            raise LearnerInterrupted(
                "raised KeyboardInterrupt; exercises must not interrupt the program"
            ) from None

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_makereport(self, item: pytest.Item, call: pytest.CallInfo):
        report = yield
        changed = _tampered(self.guarded) if call.when != "teardown" else None
        if changed:
            outcome = (
                Status.FAILED,
                f"the exercise code replaced {changed}, which the tests rely on; "
                "exercises must not rebind NumPy, builtins or the grader (put back for the next tests)",
            )
        elif call.excinfo is not None:
            part = Part.of_test_file(Path(item.path))
            outcome = classify(call.excinfo.value, (self.root,), f"{part.name}.py" if part else None)
        else:
            outcome = (Status.PASSED, "")
        self.phases.setdefault(item.nodeid, []).append(outcome)
        return report

    def pytest_runtest_logfinish(self, nodeid: str) -> None:
        if self.state is not None:
            self.state.restore()
        phases = self.phases.pop(nodeid, [])
        failing = [p for p in phases if p[0] is not Status.PASSED]
        status, message = failing[0] if failing else (Status.PASSED, "")
        if self.events:
            duration = time.perf_counter() - self.started.pop(nodeid, time.perf_counter())
            self.events.send(
                event="result", nodeid=nodeid, status=status.value, message=message, duration=duration
            )


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "exercise(name, timeout=None): the exercise a course test belongs to")
    config.pluginmanager.register(GraderPlugin(config), "grader-course")


@pytest.fixture
def impl(request: pytest.FixtureRequest):
    """The implementation under test of this test file's part (see --impl)."""
    part = Part.of_test_file(Path(request.path))
    if part is None:
        raise pytest.UsageError(f"{request.path} is not a course test file (tests/<chapter>/test_<part>.py)")
    plugin = request.config.pluginmanager.get_plugin("grader-course")
    assert isinstance(plugin, GraderPlugin)
    if plugin.events:
        plugin.events.send(event="import_start", part=part.id)
    module = loader.load(part, plugin.root, typecheck=not request.config.getoption("grader_no_typecheck"))
    if plugin.events:
        plugin.events.send(event="import_end", part=part.id)
    return module
