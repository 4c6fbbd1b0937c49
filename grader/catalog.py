"""What exercises a course has, read from the files' syntax alone: learner code is never
imported to list it, and a file with a syntax error still has a catalogue.

An exercise is named by the `@exercise("name")` markers of its part's tests; its place
(file and line) is the `def`/`class` of that name in the part's exercise file.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass, field
from pathlib import Path

from grader import layout
from grader.layout import Part


@dataclass
class Exercise:
    part: Part
    name: str
    tests: list[str] = field(default_factory=list)
    line: int | None = None  # where it is defined in the part's exercise file
    points: float = 1.0  # its weight in a grade (POINTS in its test file; default 1)

    @property
    def id(self) -> str:
        return f"{self.part.id}/{self.name}"


@dataclass
class PartInfo:
    part: Part
    title: str
    exercises: list[Exercise]


@dataclass
class ChapterInfo:
    name: str
    title: str
    parts: list[PartInfo]

    @property
    def exercises(self) -> list[Exercise]:
        return [e for p in self.parts for e in p.exercises]


def test_files(root: Path, chapters: list[ChapterInfo]) -> list[Path]:
    """The test files of a selection, in course order: what a grading run collects."""
    return [p.part.test_file(root) for c in chapters for p in c.parts]


def _exercise_marker(decorator: ast.expr) -> str | None:
    """'softmax' for @exercise("softmax", ...) or @pytest.mark.exercise("softmax")."""
    if not isinstance(decorator, ast.Call) or not decorator.args:
        return None
    func = decorator.func
    named = (isinstance(func, ast.Name) and func.id == "exercise") or (
        isinstance(func, ast.Attribute) and func.attr == "exercise"
    )
    first = decorator.args[0]
    if named and isinstance(first, ast.Constant) and isinstance(first.value, str):
        return first.value
    return None


_LAST_TREE: list[tuple[Path, tuple[int, int], ast.Module]] = []


def _tree(test_file: Path) -> ast.Module:
    """A test file's syntax tree. part_info reads each test file twice in a row (its tests,
    its points), so the last tree is kept; only the last, because many live syntax trees
    make every later garbage collection of the process slow."""
    info = test_file.stat()
    stamp = (info.st_mtime_ns, info.st_size)
    if _LAST_TREE and _LAST_TREE[0][:2] == (test_file, stamp):
        return _LAST_TREE[0][2]
    tree = ast.parse(test_file.read_text(), str(test_file))
    _LAST_TREE[:] = [(test_file, stamp, tree)]
    return tree


def tests_by_exercise(test_file: Path) -> dict[str, list[str]]:
    """exercise name -> test function names, in file order."""
    tree = _tree(test_file)
    found: dict[str, list[str]] = {}
    for node in tree.body:
        if isinstance(node, ast.FunctionDef) and node.name.startswith("test"):
            for decorator in node.decorator_list:
                name = _exercise_marker(decorator)
                if name:
                    found.setdefault(name, []).append(node.name)
    return found


def _names_mistakes(node: ast.AST, helpers: set[str]) -> bool:
    """node passes `mistakes=` to a check, or calls a helper of its file that does."""
    for inner in ast.walk(node):
        if isinstance(inner, ast.Call):
            if any(k.arg == "mistakes" for k in inner.keywords):
                return True
            if isinstance(inner.func, ast.Name) and inner.func.id in helpers:
                return True
    return False


def diagnosed(test_file: Path) -> set[str]:
    """The exercises of a test file whose tests name at least one known mistake."""
    tree = _tree(test_file)
    functions = [n for n in tree.body if isinstance(n, ast.FunctionDef)]
    helpers: set[str] = set()
    for _ in range(3):  # helpers calling helpers, a few levels deep
        helpers |= {
            f.name for f in functions if not f.name.startswith("test") and _names_mistakes(f, helpers)
        }
    found: set[str] = set()
    for node in functions:
        if node.name.startswith("test") and _names_mistakes(node, helpers):
            found |= {n for n in map(_exercise_marker, node.decorator_list) if n}
    return found


def points(test_file: Path) -> dict[str, float]:
    """The optional `POINTS = {"softmax": 2, ...}` of a test file: exercise -> weight.

    Read as a literal, never executed; a malformed table raises ValueError (verify says so).
    """
    tree = _tree(test_file)
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(
            isinstance(t, ast.Name) and t.id == "POINTS" for t in node.targets
        ):
            table = ast.literal_eval(node.value)
            if not isinstance(table, dict) or not all(
                isinstance(k, str) and isinstance(v, (int, float)) and v >= 0 for k, v in table.items()
            ):
                raise ValueError(f"{test_file.name}: POINTS must map exercise names to numbers >= 0")
            return {k: float(v) for k, v in table.items()}
    return {}


Definition = ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef


def _top_level(text: str, filename: str) -> list[Definition] | None:
    """The top-level functions and classes of a source text; None if it does not parse."""
    try:
        tree = ast.parse(text, filename)
    except (SyntaxError, ValueError):
        return None
    return [n for n in tree.body if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))]


def definitions(source: Path) -> dict[str, int]:
    """Top-level function and class names -> line, from a file that may not even parse."""
    try:
        nodes = _top_level(source.read_text(), str(source))
    except (OSError, ValueError):  # unreadable, or not UTF-8
        return {}
    return {node.name: node.lineno for node in nodes or []}


def bodies(text: str) -> dict[str, str] | None:
    """Top-level function and class names -> their source, to see which a save changed;
    None while the text does not parse (a learner mid-edit)."""
    nodes = _top_level(text, "<exercise>")
    if nodes is None:
        return None
    return {node.name: ast.get_source_segment(text, node) or "" for node in nodes}


def _title(markdown: Path, fallback: str) -> str:
    try:
        for line in markdown.read_text().splitlines():
            if line.startswith("# "):
                return line[2:].strip()
    except OSError:
        pass
    return fallback


def part_info(root: Path, part: Part, impl: Path) -> PartInfo:
    tests = tests_by_exercise(part.test_file(root))
    weights = points(part.test_file(root))
    defs = definitions(part.source(impl)) or definitions(part.source(root / "exercises"))
    exercises = [
        Exercise(part, name, names, defs.get(name.split(".")[0]), weights.get(name, 1.0))
        for name, names in tests.items()
    ]
    # Learning order is the order of the exercise file; unknown names go last.
    exercises.sort(key=lambda e: e.line if e.line is not None else 10**9)
    return PartInfo(part, _title(part.reading(root), part.name), exercises)


def chapter_info(root: Path, chapter: str, impl: Path | None = None) -> ChapterInfo:
    impl = impl or root / "exercises"
    parts = [part_info(root, p, impl) for p in layout.parts(root, chapter)]
    return ChapterInfo(chapter, _title(root / "chapters" / chapter / "README.md", chapter), parts)


def course(root: Path, impl: Path | None = None) -> list[ChapterInfo]:
    return [chapter_info(root, c, impl) for c in layout.chapters(root)]
