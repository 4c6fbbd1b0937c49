"""Grade a selection of exercises: pick them from the catalogue, run their tests in a
worker, and fold the test results into one status and one reason per exercise."""

from __future__ import annotations

import difflib
import fnmatch
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable

from grader import catalog, layout, runner
from grader.catalog import ChapterInfo, Exercise, PartInfo
from grader.outcomes import Status, worst


class SelectionError(ValueError):
    """The learner asked for a chapter, part or exercise that does not exist."""


@dataclass
class ExerciseResult:
    exercise: Exercise
    status: Status
    message: str
    duration: float
    tests: list[runner.TestResult] = field(default_factory=list)


@dataclass
class Report:
    target: str
    impl: str
    chapters: list[ChapterInfo]
    results: dict[str, ExerciseResult]
    problems: list[str]
    started_at: str
    duration: float
    flags: list[str] = field(default_factory=list)  # signs of tampering with the grading (runner.py)

    @property
    def exercises(self) -> list[Exercise]:
        return [e for c in self.chapters for e in c.exercises]

    def count(self, status: Status) -> int:
        return sum(1 for r in self.results.values() if r.status is status)

    @property
    def all_passed(self) -> bool:
        return not self.problems and all(r.status is Status.PASSED for r in self.results.values())


def _match(token: str, names: list[str], kind: str) -> str:
    """'2', 'chapter2' or 'chapter2_neural_networks' -> the full name."""
    number = token[len(kind) :] if token.startswith(kind) else token
    for name in names:
        if token == name or (number.isdigit() and layout.number(name) == int(number)):
            return name
    known = ", ".join(names) or "none"
    raise SelectionError(f"no {kind} {token!r} here (known: {known})")


def select(
    root: Path, target: str | None, name: str | None = None, impl: Path | None = None
) -> list[ChapterInfo]:
    """The chapters, parts and exercises that `target` ('chapter0', '0/2', …) and -k name."""
    chapters = layout.chapters(root)
    if not chapters:
        raise SelectionError(f"no course tests under {root / 'tests'}")
    chapter_token, _, part_token = (target or "").partition("/")
    chosen = [_match(chapter_token, chapters, "chapter")] if chapter_token else chapters
    selected = []
    for chapter in chosen:
        info = catalog.chapter_info(root, chapter, impl)
        if part_token:
            part = _match(part_token, [p.part.name for p in info.parts], "part")
            info.parts = [p for p in info.parts if p.part.name == part]
        if info.parts:
            selected.append(info)
    if name:
        selected = _by_name(selected, name, target, root)
    if not selected:
        raise SelectionError(f"nothing to grade in {target!r}")
    return selected


GLOB_CHARACTERS = "*?["


def matches(names: list[str], wanted: str) -> set[str]:
    """The exercise names -k `wanted` selects: exactly that name (any case if no name has
    its exact case); `Class` also selects exercises `Class.method`, and `Class.method` the
    exercise `Class` when the method is no exercise of its own; a glob pattern
    (`soft*`, `*backward`) selects every name it matches, in any case."""
    if any(c in wanted for c in GLOB_CHARACTERS):
        return {n for n in names if fnmatch.fnmatch(n.lower(), wanted.lower())}
    for same in (lambda a, b: a == b, lambda a, b: a.lower() == b.lower()):
        found = {n for n in names if same(n, wanted) or same(n.split(".")[0], wanted)}
        if not found and "." in wanted:
            found = {n for n in names if same(n, wanted.split(".")[0])}
        if found:
            return found
    return set()


def closest(names: list[str], wanted: str) -> list[str]:
    """Up to five names that look like a mistyped `wanted`, any case."""
    lower = {n.lower(): n for n in names}
    return [lower[n] for n in difflib.get_close_matches(wanted.lower(), list(lower), n=5, cutoff=0.5)]


def _by_name(chapters: list[ChapterInfo], wanted: str, target: str | None, root: Path) -> list[ChapterInfo]:
    names = sorted({e.name for c in chapters for e in c.exercises})
    chosen = matches(names, wanted)
    if not chosen and target:
        elsewhere = {
            e.part.id: 0 for c in catalog.course(root) for e in c.exercises if matches([e.name], wanted)
        }
        if elsewhere:
            what = "matching ones are" if any(c in wanted for c in GLOB_CHARACTERS) else "it is"
            raise SelectionError(
                f"no exercise named {wanted!r} in {target}; {what} in {', '.join(elsewhere)}"
            )
    if not chosen:
        where = f" in {target}" if target else ""
        close = closest(names, wanted)
        hint = f"; closest: {', '.join(close)}" if close else ""
        pattern = f"-k '{wanted[:4]}*'"
        raise SelectionError(f"no exercise named {wanted!r}{where}{hint} ({pattern} selects several)")
    kept = []
    for chapter in chapters:
        parts = [
            PartInfo(p.part, p.title, [e for e in p.exercises if e.name in chosen]) for p in chapter.parts
        ]
        parts = [p for p in parts if p.exercises]
        if parts:
            kept.append(ChapterInfo(chapter.name, chapter.title, parts))
    return kept


def grade(
    root: Path,
    chapters: list[ChapterInfo],
    impl_path: Path,
    *,
    target: str = "",
    impl_label: str = "exercises",
    timeout: float = runner.DEFAULT_TIMEOUT_S,
    memory_mb: int = runner.DEFAULT_MEMORY_MB,
    debug: bool = False,
    filtered: bool = False,
    isolation: dict | None = None,
    first: list[str] | None = None,
    on_result: Callable[[ExerciseResult], None] | None = None,
) -> Report:
    """Grade `chapters`' exercises. `first` names exercises whose tests run before the
    others, and `on_result` is told each exercise's result as soon as it is known (watch)."""
    started_at = datetime.now(timezone.utc).isoformat(timespec="seconds")
    clock = time.perf_counter()
    exercises = [e for c in chapters for e in c.exercises]
    job = runner.Job(
        root=root,
        impl=impl_path,
        files=catalog.test_files(root, chapters),
        exercises=sorted({e.name for e in exercises}) if filtered else [],
        timeout=timeout,
        memory_mb=memory_mb,
        debug=debug,
        **(isolation or {}),  # batch: runner.Job's user, hide, cleanup, grader_home
        first=list(first or []),
        on_exercise=_told(exercises, on_result) if on_result else None,
    )
    outcome = runner.run(job)
    by_exercise: dict[str, list[runner.TestResult]] = {}
    for result in outcome.results.values():
        part = layout.Part.of_test_file(root / result.nodeid.split("::", 1)[0])
        if part:
            by_exercise.setdefault(f"{part.id}/{result.exercise}", []).append(result)
    results = {e.id: _fold(e, by_exercise.get(e.id, [])) for e in exercises}
    return Report(
        target,
        impl_label,
        chapters,
        results,
        outcome.problems,
        started_at,
        time.perf_counter() - clock,
        outcome.flags,
    )


def _told(
    exercises: list[Exercise], on_result: Callable[[ExerciseResult], None]
) -> Callable[[str, list[runner.TestResult]], None]:
    def tell(name: str, tests: list[runner.TestResult]) -> None:
        part = layout.Part.of_test_file(Path(tests[0].nodeid.split("::", 1)[0])) if tests else None
        for exercise in exercises:
            if exercise.name == name and part is not None and exercise.part == part:
                on_result(_fold(exercise, tests))

    return tell


def _fold(exercise: Exercise, tests: list[runner.TestResult]) -> ExerciseResult:
    if not tests:
        return ExerciseResult(
            exercise, Status.ERROR, "its tests could not be run (see the problems above)", 0.0
        )
    status = worst([t.status for t in tests])
    first = next(t for t in tests if t.status is status)
    message = first.message
    failing = sum(1 for t in tests if t.status is not Status.PASSED)
    if status is Status.FAILED and failing > 1:
        message = f"{message} (+{failing - 1} more failing test{'s' if failing > 2 else ''})"
    return ExerciseResult(exercise, status, message, sum(t.duration for t in tests), tests)
