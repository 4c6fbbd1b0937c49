"""The instructor's check of a course: what `python -m grader verify` and the test suite
run. Each finding is one line that says what to fix.

- exercises/ is what the generator writes from solutions/;
- every exercise has tests, a definition, and a brief in its reading: a heading naming it with
  its difficulty, importance and time, and one to three folded hints (grader/briefs.py);
- tests take only the `impl` fixture (so `check()` can run them in a notebook);
- every test passes on the references;
- every test is *todo* on freshly generated stubs: a test that passes on a stub cannot
  fail, and one that fails for another reason does not reach the learner's code;
- every link, course path and `python -m grader …` command of the learner's copy
  resolves there (grader/instructor/learner_copy.py).
"""

from __future__ import annotations

import ast
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from grader import briefs, catalog, layout, runner
from grader.catalog import ChapterInfo
from grader.instructor import generate, learner_copy, mutants
from grader.outcomes import Status, one_line

MIN_AVERAGE_TESTS = 3


def _notebook_problems(root: Path, chapters: set[str]) -> list[str]:
    try:
        from grader.instructor import notebooks
    except ImportError:
        return ["notebooks/ not checked: jupytext is missing (pip install -e '.[dev]')"]
    stale = [
        p for p in notebooks.out_of_sync(root / "exercises", root / "notebooks") if p.parent.name in chapters
    ]
    return [f"{p.relative_to(root)} is out of date: run `python -m grader generate`" for p in stale]


def _brief_problems(found: dict[str, briefs.Brief], page: str, name: str) -> list[str]:
    brief = found.get(name)
    if brief is None:
        return [f"{page} has no brief for {name} (a heading naming `{name}`: {briefs.FORMAT})"]
    lacks = brief.problems()
    if lacks:
        return [f"{page}:{brief.line}: the brief of {name} has {', '.join(lacks)} ({briefs.FORMAT})"]
    return []


def _parametrized(node: ast.FunctionDef) -> set[str]:
    names: set[str] = set()
    for decorator in node.decorator_list:
        if (
            isinstance(decorator, ast.Call)
            and isinstance(decorator.func, ast.Attribute)
            and decorator.func.attr == "parametrize"
            and decorator.args
            and isinstance(decorator.args[0], ast.Constant)
        ):
            names |= {n.strip() for n in str(decorator.args[0].value).split(",")}
    return names


def _fixture_problems(test_file: Path, rel: Path) -> list[str]:
    problems = []
    for node in ast.parse(test_file.read_text()).body:
        if isinstance(node, ast.FunctionDef) and node.name.startswith("test"):
            extra = {a.arg for a in node.args.args} - {"impl"} - _parametrized(node)
            if extra:
                problems.append(f"{rel}::{node.name} takes {sorted(extra)}: course tests take only `impl`")
    return problems


def static_problems(
    root: Path, solutions: Path, chapters: list[ChapterInfo], min_average: float = MIN_AVERAGE_TESTS
) -> list[str]:
    problems: list[str] = []
    chosen = {p.part for c in chapters for p in c.parts}
    stale = [
        p
        for p in generate.out_of_sync(solutions, root / "exercises")
        if layout.Part.of_source_file(p) in chosen
    ]
    problems += [f"{p.relative_to(root)} is out of date: run `python -m grader generate`" for p in stale]
    problems += _notebook_problems(root, {p.chapter for p in chosen})
    for chapter in chapters:
        if not (root / "chapters" / chapter.name / "README.md").is_file():
            problems.append(f"chapters/{chapter.name}/README.md is missing")
        counts = []
        for info in chapter.parts:
            part = info.part
            test_rel = part.test_file(root).relative_to(root)
            problems += _fixture_problems(part.test_file(root), test_rel)
            solution = part.source(solutions)
            if not solution.is_file():
                problems.append(f"{test_rel} has no reference solution {part.id}.py")
                continue
            marked = generate.exercise_names(solution.read_text())
            for name in sorted(marked - {e.name for e in info.exercises}):
                problems.append(f"{part.id}: exercise {name} has no tests")
            defined = catalog.definitions(solution)
            found = briefs.read(part.reading(root))
            for name in sorted(set(catalog.points(part.test_file(root))) - {e.name for e in info.exercises}):
                problems.append(f"{test_rel}: POINTS names {name}, which has no tests")
            for exercise in info.exercises:
                counts.append(len(exercise.tests))
                if exercise.name not in defined:
                    problems.append(
                        f"{test_rel}: tests name exercise {exercise.name}, which {part.id}.py does not define"
                    )
                elif exercise.name not in marked:
                    problems.append(f"{part.id}: {exercise.name} has tests but no solution markers")
                problems += _brief_problems(found, f"chapters/{part.id}.md", exercise.name)
        problems += _equivalents_problems(root, chapter.name)
        if len(chapter.parts) < len(layout.parts(root, chapter.name)):
            continue  # one part was asked for: chapter-wide checks do not apply
        missing = {p.stem for p in (solutions / chapter.name).glob("part*.py")} - {
            p.part.name for p in chapter.parts
        }
        problems += [f"solutions/{chapter.name}/{m}.py has no test file" for m in sorted(missing)]
        if counts and sum(counts) / len(counts) < min_average:
            problems.append(
                f"{chapter.name}: {sum(counts) / len(counts):.1f} test functions per "
                f"exercise on average; aim for at least {min_average}"
            )
    return problems


def diagnosis_counts(root: Path, chapters: list[ChapterInfo]) -> dict[str, tuple[int, int]]:
    """chapter -> (exercises whose tests name a known mistake, exercises)."""
    counts = {}
    for chapter in chapters:
        named = set()
        for info in chapter.parts:
            named |= {f"{info.part.id}/{n}" for n in catalog.diagnosed(info.part.test_file(root))}
        ids = [e.id for e in chapter.exercises]
        counts[chapter.name] = (sum(i in named for i in ids), len(ids))
    return counts


def _equivalents_problems(root: Path, chapter: str) -> list[str]:
    """Each declared equivalent mutant needs its four fields (see docs/instructors.md)."""
    return [
        f"tests/{chapter}/{mutants.EQUIVALENTS}:{number}: expected 'part/exercise | mutation | change | why'"
        for number in mutants.malformed_declarations(root, chapter)
    ]


def _job(root: Path, impl: Path, chapters: list[ChapterInfo], timeout: float, memory_mb: int) -> runner.Job:
    return runner.Job(root, impl, catalog.test_files(root, chapters), timeout=timeout, memory_mb=memory_mb)


def dynamic_problems(
    root: Path,
    solutions: Path,
    chapters: list[ChapterInfo],
    timeout: float = runner.DEFAULT_TIMEOUT_S,
    memory_mb: int = runner.DEFAULT_MEMORY_MB,
) -> list[str]:
    with tempfile.TemporaryDirectory(prefix="grader-stubs-") as tmp:
        stubs = Path(tmp)
        for g in generate.plan(solutions, stubs):
            g.target.parent.mkdir(parents=True, exist_ok=True)
            g.target.write_text(g.text)
        with ThreadPoolExecutor(max_workers=2) as pool:
            on_refs = pool.submit(runner.run, _job(root, solutions, chapters, timeout, memory_mb))
            on_stubs = pool.submit(runner.run, _job(root, stubs, chapters, timeout, memory_mb))
            refs, blanks = on_refs.result(), on_stubs.result()
    problems = [f"tests: {p}" for p in refs.problems + blanks.problems]
    problems += _catalogue_disagreements(root, chapters, refs)
    for result in refs.results.values():
        if result.status is not Status.PASSED:
            problems.append(
                f"{result.nodeid} {result.status.value} on the reference: {one_line(result.message, 300)}"
            )
    for result in blanks.results.values():
        if result.status is Status.PASSED:
            problems.append(f"{result.nodeid} passes on the blank stub: it cannot fail")
        elif result.status is not Status.TODO:
            problems.append(
                f"{result.nodeid} is {result.status.value} on the blank stub, not todo: "
                f"{one_line(result.message, 200)}"
            )
    return problems


def _catalogue_disagreements(root: Path, chapters: list[ChapterInfo], run: runner.RunOutcome) -> list[str]:
    """The catalogue reads markers from syntax; pytest from the decorated functions. They must agree."""
    read: dict[tuple[str, str], str] = {}
    for info in (p for c in chapters for p in c.parts):
        rel = str(info.part.test_file(root).relative_to(root))
        for exercise in info.exercises:
            read.update({(rel, name): exercise.name for name in exercise.tests})
    problems = []
    for nodeid, result in run.results.items():
        path, _, function = nodeid.partition("::")
        seen = read.get((path, function.split("[")[0]))
        if seen != result.exercise:
            problems.append(
                f"{nodeid}: pytest says exercise {result.exercise!r}, the catalogue {seen!r}; "
                'write @exercise("name") directly above the test'
            )
    return problems


def verify(
    root: Path,
    solutions: Path,
    target: str | None = None,
    timeout: float = runner.DEFAULT_TIMEOUT_S,
    memory_mb: int = runner.DEFAULT_MEMORY_MB,
    min_average: float = MIN_AVERAGE_TESTS,
) -> list[str]:
    from grader.grade import select

    chapters = select(root, target, impl=solutions)
    # The pages of the chosen chapters; the README and docs when the whole course is checked.
    copy = learner_copy.problems(root, [c.name for c in chapters], pages=target is None)
    return (
        static_problems(root, solutions, chapters, min_average)
        + copy
        + dynamic_problems(root, solutions, chapters, timeout, memory_mb)
    )
