"""A graded report in other tools' result formats, and its score.

- Gradescope's autograder `results.json`: one test entry per exercise, weighted by its
  points (`POINTS` in its test file, default 1).
- exercism's test-runner interface, version 3: one test entry per test, in test-file
  order, each linked to its exercise by `task_id`.

Both are documented in docs/grader.md ("Result formats") and pinned by golden files in
grader/tests/golden/.
"""

from __future__ import annotations

import ast
from functools import cache
from pathlib import Path
from typing import Any

from grader.catalog import Exercise
from grader.grade import ExerciseResult, Report
from grader.outcomes import Status
from grader.render import location, reading

MESSAGE_LIMIT = 65_535  # exercism's limit for a message; Gradescope's output has none


def earned(report: Report, exercise: Exercise) -> float:
    return exercise.points if report.results[exercise.id].status is Status.PASSED else 0.0


def score(report: Report) -> tuple[float, float]:
    """(points earned, points possible) over the exercises of a report."""
    return (
        sum(earned(report, e) for e in report.exercises),
        sum(e.points for e in report.exercises),
    )


def plain_number(value: float) -> float | int:
    return int(value) if float(value).is_integer() else round(value, 4)


def _advice(root: Path, exercise: Exercise, result: ExerciseResult) -> str:
    if result.status is Status.PASSED:
        return "passed"
    return (
        f"{result.status.value}: {result.message}\n"
        f"Exercise at {location(root, exercise)}; reading: {reading(root, exercise)}"
    )


def gradescope(report: Report, root: Path) -> dict[str, Any]:
    """Gradescope's results.json: score, execution_time, output, visibility, tests."""
    tests = []
    for chapter in report.chapters:
        for p, part in enumerate(chapter.parts, 1):
            for e, exercise in enumerate(part.exercises, 1):
                result = report.results[exercise.id]
                tests.append(
                    {
                        "name": f"{part.part.name}: {exercise.name}",
                        "number": f"{p}.{e}",
                        "score": plain_number(earned(report, exercise)),
                        "max_score": plain_number(exercise.points),
                        "status": "passed" if result.status is Status.PASSED else "failed",
                        "output": _advice(root, exercise, result),
                        "tags": [chapter.name, result.status.value],
                        "visibility": "visible",
                    }
                )
    got, possible = score(report)
    passed = report.count(Status.PASSED)
    points = f"{plain_number(got)}/{plain_number(possible)} points"
    summary = f"{passed}/{len(report.results)} exercises passed; {points}."
    if report.problems:
        summary += "\nThe course's tests had a problem; tell your instructor:\n" + "\n".join(report.problems)
    return {
        "score": plain_number(got),
        "execution_time": round(report.duration, 1),
        "output": summary,
        "visibility": "visible",
        "stdout_visibility": "hidden",
        "tests": tests,
    }


@cache
def _test_sources(test_file: Path) -> dict[str, tuple[int, str]]:
    """test function name -> (line, source code) of a course test file."""
    text = test_file.read_text()
    return {
        node.name: (node.lineno, ast.get_source_segment(text, node) or "")
        for node in ast.parse(text).body
        if isinstance(node, ast.FunctionDef)
    }


_EXERCISM_STATUS = {Status.PASSED: "pass", Status.ERROR: "error"}


def exercism(report: Report, root: Path) -> dict[str, Any]:
    """exercism's test-runner results.json, version 3."""
    tests = []
    for task_id, exercise in enumerate(report.exercises, 1):
        result = report.results[exercise.id]
        sources = _test_sources(exercise.part.test_file(root))
        # Tests that never ran (their file could not be collected) still get an entry each.
        ran = [(t.name, t.status, t.message) for t in result.tests] or [
            (name, result.status, result.message) for name in exercise.tests
        ]
        for name, status, message in ran:
            line, code = sources.get(name.split("[")[0], (0, ""))
            entry: dict[str, Any] = {
                "name": f"{exercise.name}: {name}",
                "status": _EXERCISM_STATUS.get(status, "fail"),
                "message": None if status is Status.PASSED else f"{status.value}: {message}"[:MESSAGE_LIMIT],
                "output": None,
                "test_code": code,
                "task_id": task_id,
            }
            tests.append((exercise.part, line, entry))
    # exercism wants the tests in the order of the test files.
    part_order = {p.part: i for i, p in enumerate(p for c in report.chapters for p in c.parts)}
    ordered = [entry for _, _, entry in sorted(tests, key=lambda t: (part_order[t[0]], t[1]))]
    statuses = {t["status"] for t in ordered}
    out: dict[str, Any] = {"version": 3}
    if report.problems or (ordered and statuses == {"error"}):
        errors = report.problems or [str(ordered[0]["message"])]
        out.update(status="error", message="\n".join(errors)[:MESSAGE_LIMIT])
    else:
        out.update(status="pass" if statuses <= {"pass"} else "fail", message=None)
    out["tests"] = ordered
    return out


FORMATS = {"gradescope": gradescope, "exercism": exercism}
