"""The real course passes the instructor's check, chapter by chapter: references pass,
stubs are todo, exercises/ is in sync, every exercise has tests and a brief.

The references are solutions/ or $GRADER_SOLUTIONS (a copy kept elsewhere)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from grader import layout
from grader.instructor import learner_copy
from grader.instructor.verify import verify
from grader.tests.conftest import COURSE, FIXTURE

SOLUTIONS = layout.solutions_root(COURSE)


@pytest.mark.parametrize("chapter", layout.chapters(COURSE))
def test_chapter_is_consistent(chapter):
    if not SOLUTIONS.is_dir():
        pytest.skip(f"no references at {SOLUTIONS}: set GRADER_SOLUTIONS")
    problems = verify(COURSE, SOLUTIONS, chapter)
    if problems:
        raise AssertionError(f"{len(problems)} problem(s):\n" + "\n".join(problems))


def test_the_learners_readme_and_docs_resolve_in_their_copy():
    problems = learner_copy.problems(COURSE, chapters=[], pages=True)
    if problems:
        raise AssertionError("\n".join(problems))


def test_fixture_course_is_consistent():
    problems = verify(FIXTURE, FIXTURE / "solutions", timeout=3, min_average=1)
    if problems:
        raise AssertionError("\n".join(problems))


def _imports(path: Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    return names


@pytest.mark.parametrize("tests", [COURSE / "tests", FIXTURE / "tests"], ids=["course", "fixture"])
def test_tests_never_reach_the_solutions(tests):
    for path in tests.rglob("*.py"):
        text = path.read_text()
        reached = {m for m in _imports(path) if m.split(".")[0] in ("solutions", "exercises")}
        reached |= {m for m in _imports(path) if layout.CHAPTER_RE.match(m.split(".")[0])}
        if reached or "solutions/" in text or "solutions\\" in text:
            raise AssertionError(
                f"{path} reaches an implementation directly ({reached or 'a path'}); use the impl fixture"
            )
