"""`python -m grader watch [TARGET]`: re-grade a part each time its exercise file is saved,
and show the exercise being worked on (its status and message) first, then the part.

A worker is kept warm between saves (runner.keep_warm: NumPy, pytest and the plugin
imported, no learner code loaded), so a cheap exercise's verdict appears a fraction of a
second after the save; every run still gets a fresh process, with the usual limits.
File events come from watchfiles (which itself polls on WSL, or with
WATCHFILES_FORCE_POLLING set); with --poll, or without watchfiles, the files' times and
sizes are polled four times a second (network mounts, containers where events do not arrive).
"""

from __future__ import annotations

import argparse
import sqlite3
import time
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

from grader import catalog, layout, render, runner
from grader.catalog import ChapterInfo, Exercise, PartInfo
from grader.env import Env, ExitCode
from grader.grade import ExerciseResult, Report, SelectionError, grade, select
from grader.outcomes import Status
from grader.store import Store, StoreError, default_path

POLL_S = 0.25  # between looks at the files' times, without watchfiles
QUIET_MS = 15  # a save is taken once the file has been quiet this long (editors write in steps)


def changes(folders: list[Path], poll: bool) -> Iterator[set[Path]]:
    """The files changed under `folders`, one set per burst of writes, forever."""
    try:
        import watchfiles
    except ImportError:
        poll = True
    if poll:
        yield from _polled(folders)
        return
    for batch in watchfiles.watch(*folders, step=QUIET_MS, debounce=400):
        yield {Path(path) for _, path in batch}


def _polled(folders: list[Path]) -> Iterator[set[Path]]:
    """Changes seen by comparing each file's modification time (to the nanosecond, where
    watchfiles' own polling compares whole seconds and misses two saves in one) and size."""

    def times() -> dict[Path, tuple[int, int]]:
        found = {}
        for folder in folders:
            for path in folder.glob("*.py"):
                try:
                    info = path.stat()
                except OSError:
                    continue
                found[path] = (info.st_mtime_ns, info.st_size)
        return found

    seen = times()
    while True:
        time.sleep(POLL_S)
        now = times()
        changed = {p for p in now.keys() | seen.keys() if now.get(p) != seen.get(p)}
        seen = now
        if changed:
            yield changed


class Watch:
    def __init__(self, root: Path, impl: Path, env: Env, args: argparse.Namespace):
        self.root, self.impl, self.env, self.args = root, impl, env, args
        self.store = Store(default_path(root, dict(env.environ)))
        self.sources: dict[Path, dict[str, str]] = {}  # each part file's functions, as last graded
        self.current: dict[Path, str] = {}  # the exercise last worked on, per part file
        self.course = catalog.course(root)  # for "Next:"; a graded part's entry is refreshed

    def job(self) -> runner.Job:
        return runner.Job(self.root, self.impl, [], timeout=self.args.timeout, memory_mb=self.args.memory_mb)

    def latest(self) -> dict:
        try:
            return self.store.latest()
        except (StoreError, OSError, sqlite3.Error):
            return {}

    def working_on(self, path: Path, part: PartInfo) -> Exercise | None:
        """The exercise whose code this save changed (the first, in file order), else the one
        last worked on in this file, else its first that does not pass yet."""
        try:
            now = catalog.bodies(path.read_text())
        except OSError:
            now = None
        before = self.sources.get(path)
        if now is not None:
            self.sources[path] = now
        by_top = {e.name.split(".")[0]: e for e in reversed(part.exercises)}
        if now is not None and before is not None:
            edited = [by_top[name] for name in now if name in by_top and now[name] != before.get(name)]
            if edited:
                self.current[path] = edited[0].name
                return edited[0]
        named = next((e for e in part.exercises if e.name == self.current.get(path)), None)
        if named is not None:
            return named
        latest = self.latest()
        return next((e for e in part.exercises if render.status_of(latest, e) is not Status.PASSED), None)

    def grade_part(self, chapter: ChapterInfo, part: PartInfo, why: str = "saved") -> None:
        path = part.part.source(self.impl)
        current = self.working_on(path, part)
        if self.env.terminal:
            self.env.out("\033[2J\033[H")  # a fresh screen per save, as rustlings does
        stamp = datetime.now().strftime("%H:%M:%S")
        self.env.out(f"[{stamp}] {path.relative_to(self.root)} {why}: grading {part.title}")

        def show(result: ExerciseResult) -> None:
            if current is not None and result.exercise.name == current.name:
                self.env.out(_verdict(result, self.env))

        selection = [ChapterInfo(chapter.name, chapter.title, [part])]
        report = grade(
            self.root,
            selection,
            self.impl,
            target=part.part.id,
            timeout=self.args.timeout,
            memory_mb=self.args.memory_mb,
            first=[current.name] if current else [],
            on_result=show,
        )
        runner.keep_warm(self.job())  # for the next save, while the learner reads this one
        upcoming = None
        try:
            self.store.record(report)
            latest, recent = self.store.latest(), self.store.recent()
            fresh = catalog.part_info(self.root, part.part, self.impl)  # its lines may have moved
            for info in self.course:
                info.parts = [fresh if p.part == part.part else p for p in info.parts]
            upcoming = render.next_exercise(self.course, latest, recent)
        except (StoreError, OSError, sqlite3.Error) as exc:
            self.env.err(f"grader: progress not saved: {exc}")
        self.env.out("")
        for problem in report.problems:
            self.env.out(f"problem with the course's tests: {problem}")
        for flag in report.flags:
            self.env.out(f"flagged: {flag}")
        for line in _part_lines(report, part, current, self.env):
            self.env.out(line)
        if upcoming is not None:
            self.env.out(
                f"Next: {upcoming.name} at {render.location(self.root, upcoming)} "
                f"(reading: {render.reading(self.root, upcoming)})"
            )
        else:
            self.env.out("Every exercise passes. Well done!")
        self.env.out("Watching for saves (Ctrl-C to stop).")

    def run(self, chapters: list[ChapterInfo]) -> None:
        parts = {p.part.source(self.impl).resolve(): (c, p) for c in chapters for p in c.parts}
        for path in parts:
            self.working_on(path, parts[path][1])  # remember each file as it is now
        runner.keep_warm(self.job())
        latest = self.latest()
        start = render.next_exercise(chapters, latest, self.store.recent()) or chapters[0].exercises[0]
        self.grade_part(*next(v for v in parts.values() if v[1].part == start.part), why="as it is now")
        folders = sorted({p.parent for p in parts})
        for changed in changes(folders, self.args.poll):
            for path in sorted(p.resolve() for p in changed):
                if path in parts and path.is_file():
                    self.grade_part(*parts[path])


def _part_lines(report: Report, part: PartInfo, current: Exercise | None, env: Env) -> list[str]:
    """The part at a glance: one line per exercise, the one being worked on marked."""
    lines = [part.title]
    width = max(len(e.name) for e in part.exercises)
    for exercise in part.exercises:
        status = report.results[exercise.id].status
        mark = f"{render.SYMBOL[status]} " if env.terminal else ""
        cells = render.paint(
            f"{mark}{exercise.name:<{width}}  {status.value}", render.COLOUR[status], env.colour
        )
        here = "  ← working on" if current is not None and exercise.name == current.name else ""
        lines.append(f"  {cells}{here}")
    passed = report.count(Status.PASSED)
    lines.append(render.totals_line(passed, len(report.results), bool(env.terminal), env.colour))
    return lines


def _verdict(result: ExerciseResult, env: Env) -> str:
    status = result.status
    head = render.paint(f"{result.exercise.name}: {status.value}", render.COLOUR[status], env.colour)
    if status is Status.PASSED or not result.message.strip():
        return head
    return f"{head}\n{result.message.rstrip()}"


def run(args: argparse.Namespace, env: Env) -> ExitCode:
    root = env.root
    assert root is not None
    impl = layout.impl_root(root, "exercises", dict(env.environ))
    try:
        chapters = select(root, args.target, impl=impl)
    except SelectionError as exc:
        env.err(f"grader: {exc}")
        return ExitCode.USAGE
    env.out(f"Watching {sum(len(c.parts) for c in chapters)} exercise files (Ctrl-C to stop).")
    try:
        Watch(root, impl, env, args).run(chapters)
    except KeyboardInterrupt:
        env.out("Stopped watching; your progress is saved.")
    finally:
        runner.discard_warm()  # Ctrl-C leaves nothing running: the workers' guardians see to the rest
    return ExitCode.OK
