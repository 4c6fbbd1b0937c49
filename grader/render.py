"""How results look: a table per part for a person (colour and bars on a terminal only),
and the documented JSON schemas (docs/grader.md) for editors and scripts."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Iterable

from grader.catalog import ChapterInfo, Exercise
from grader.grade import ExerciseResult, Report
from grader.outcomes import Status, reason_lines

SYMBOL = {
    Status.PASSED: "✓",
    Status.FAILED: "✗",
    Status.TODO: "·",
    Status.ERROR: "!",
    Status.TIMEOUT: "⏱",
    Status.CRASHED: "✗",
}
COLOUR = {
    Status.PASSED: "32",
    Status.FAILED: "31",
    Status.TODO: "2",
    Status.ERROR: "35",
    Status.TIMEOUT: "33",
    Status.CRASHED: "31",
}
REPORT_SCHEMA = "grader.report/1"
PROGRESS_SCHEMA = "grader.progress/1"


def paint(text: str, code: str, colour: bool) -> str:
    return f"\033[{code}m{text}\033[0m" if colour else text


def bar(done: int, total: int, width: int = 30) -> str:
    filled = round(width * done / total) if total else 0
    return "█" * filled + "░" * (width - filled)


def totals_line(passed: int, total: int, terminal: bool, colour: bool) -> str:
    percent = 100 * passed // total if total else 0
    if not terminal:
        return f"{passed}/{total} exercises passed ({percent}%)"
    return f"{passed}/{total} passed  {paint(bar(passed, total), '32', colour)}  {percent}%"


def location(root: Path, exercise: Exercise, impl: Path | None = None) -> str:
    source = exercise.part.source(impl or root / "exercises")
    shown = source.relative_to(root) if source.is_relative_to(root) else source
    return f"{shown}:{exercise.line}" if exercise.line else str(shown)


def reading(root: Path, exercise: Exercise) -> str:
    return str(exercise.part.reading(root).relative_to(root))


def report_text(
    report: Report,
    root: Path,
    terminal: bool,
    colour: bool,
    width: int = 100,
    verbose: bool = False,
    upcoming: Exercise | None = None,
) -> list[str]:
    """The report as a table per part; `upcoming`, when given, is the course-wide next
    exercise (else the first exercise of the report that does not pass)."""
    lines: list[str] = []
    for problem in report.problems:
        lines.append(paint(f"problem with the course's tests: {problem}", "35", colour))
    for flag in report.flags:
        lines.append(paint(f"flagged: {flag}", "35", colour))
    for chapter in report.chapters:
        lines.append(paint(chapter.title, "1", colour))
        for part in chapter.parts:
            lines.append(f"  {part.title}")
            names = max(len(e.name) for e in part.exercises)
            for exercise in part.exercises:
                result = report.results[exercise.id]
                status = result.status
                mark = f"{SYMBOL[status]} " if terminal else ""
                cells = f"{mark}{exercise.name:<{names}}  {status.value:<7}"
                head = "    " + paint(cells, COLOUR[status], colour)
                if status is Status.PASSED or not result.message.strip():
                    lines.append(head.rstrip())
                    continue
                indent = 4 + len(cells) + 2
                reason = reason_lines(result.message, indent, width, verbose)
                lines.append(f"{head}  {reason[0]}")
                lines += [" " * indent + more for more in reason[1:]]
                if verbose:
                    lines += _other_failures(result, indent, width)
        lines.append("")
    passed = report.count(Status.PASSED)
    lines.append(totals_line(passed, len(report.results), terminal, colour))
    first = upcoming or next(
        (e for e in report.exercises if report.results[e.id].status is not Status.PASSED), None
    )
    if first is not None and report.impl == "exercises":
        lines.append(f"Next: {first.name} at {location(root, first)} (reading: {reading(root, first)})")
    return lines


def _other_failures(result: ExerciseResult, indent: int, width: int) -> list[str]:
    """Under --verbose, every failing test of an exercise after the one its reason is from."""
    shown = next((t for t in result.tests if t.status is result.status), None)  # the reason's test
    lines = []
    for test in (t for t in result.tests if t.status is not Status.PASSED and t is not shown):
        lines.append(" " * indent + f"· {test.name} ({test.status.value}):")
        lines += [" " * (indent + 4) + line for line in reason_lines(test.message, indent + 4, width)]
    return lines


def report_json(report: Report, root: Path, impl: Path, recorded: bool) -> dict[str, Any]:
    exercises = []
    for exercise in report.exercises:
        result = report.results[exercise.id]
        exercises.append(
            {
                "id": exercise.id,
                "chapter": exercise.part.chapter,
                "part": exercise.part.name,
                "name": exercise.name,
                "status": result.status.value,
                "message": result.message,
                "duration_s": round(result.duration, 4),
                "location": location(root, exercise, impl),
                "reading": reading(root, exercise),
                "tests": [
                    {
                        "name": t.name,
                        "status": t.status.value,
                        "message": t.message,
                        "duration_s": round(t.duration, 4),
                    }
                    for t in result.tests
                ],
            }
        )
    return {
        "schema": REPORT_SCHEMA,
        "target": report.target,
        "impl": report.impl,
        "recorded": recorded,
        "started_at": report.started_at,
        "duration_s": round(report.duration, 3),
        "totals": {"exercises": len(report.results), **{s.value: report.count(s) for s in Status}},
        "problems": report.problems,
        "flags": report.flags,
        "exercises": exercises,
    }


def status_of(latest: dict, exercise: Exercise) -> Status:
    entry = latest.get(exercise.id)
    return Status(entry.status) if entry else Status.TODO


def next_exercise(chapters: list[ChapterInfo], latest: dict, recent: Iterable[str] = ()) -> Exercise | None:
    """What to do next: from the first exercise of the learner's latest run (graded or
    checked) on, in course order, the first that does not pass; round to the start if
    everything after it passes."""
    order = [e for c in chapters for e in c.exercises]
    recent = set(recent)
    start = next((i for i, e in enumerate(order) if e.id in recent), 0)
    return next((e for e in order[start:] + order[:start] if status_of(latest, e) is not Status.PASSED), None)


def _count_line(label: str, exercises: list[Exercise], latest: dict, terminal: bool, colour: bool) -> str:
    passed = sum(status_of(latest, e) is Status.PASSED for e in exercises)
    shown = f"{paint(bar(passed, len(exercises), 20), '32', colour)} " if terminal else ""
    return f"{label}  {shown}{passed:>3}/{len(exercises):<3}".rstrip()


def progress_text(
    chapters: list[ChapterInfo],
    latest: dict,
    root: Path,
    terminal: bool,
    colour: bool,
    recent: Iterable[str] = (),
) -> list[str]:
    """Progress per chapter, the chapter in progress first with its parts; then what next."""
    lines = ["Your progress" if latest else "No exercise graded yet."]
    upcoming = next_exercise(chapters, latest, recent)
    current = next((c for c in chapters if upcoming and c.name == upcoming.part.chapter), None)
    parts = current.parts if current and latest else []
    width = max([len(c.title) for c in chapters] + [len(p.title) + 2 for p in parts], default=0)
    for chapter in ([current] if current else []) + [c for c in chapters if c is not current]:
        label = f"  {chapter.name.split('_')[0]:<10} {chapter.title:<{width}}"
        line = _count_line(label, chapter.exercises, latest, terminal, colour)
        lines.append(line + ("  ← in progress" if chapter is current and latest else ""))
        if chapter is current and latest:
            for part in chapter.parts:
                label = f"  {'':<10}   {part.title:<{width - 2}}"
                lines.append(_count_line(label, part.exercises, latest, terminal, colour))
    lines.append("")
    every = [e for c in chapters for e in c.exercises]
    passed_all = sum(status_of(latest, e) is Status.PASSED for e in every)
    lines.append(totals_line(passed_all, len(every), terminal, colour))
    if upcoming is None:
        lines.append("Every exercise passes. Well done!")
    else:
        lines.append(f"Next: {upcoming.name} at {location(root, upcoming)}")
        lines.append(
            f"      read {reading(root, upcoming)}, then run: "
            f"python -m grader {upcoming.part.chapter.split('_')[0]} -k {upcoming.name}"
        )
    return lines


def progress_json(
    chapters: list[ChapterInfo], latest: dict, root: Path, recent: Iterable[str] = ()
) -> dict[str, Any]:
    out = []
    for chapter in chapters:
        statuses = [status_of(latest, e).value for e in chapter.exercises]
        out.append(
            {
                "id": chapter.name,
                "title": chapter.title,
                "exercises": len(statuses),
                **{s.value: statuses.count(s.value) for s in Status},
            }
        )
    upcoming = next_exercise(chapters, latest, recent)
    return {
        "schema": PROGRESS_SCHEMA,
        "chapters": out,
        "in_progress": upcoming.part.chapter if upcoming else None,
        "totals": {
            "exercises": sum(c["exercises"] for c in out),
            "passed": sum(c["passed"] for c in out),
        },
        "next": None
        if upcoming is None
        else {
            "id": upcoming.id,
            "location": location(root, upcoming),
            "reading": reading(root, upcoming),
        },
    }
