"""Write exercises/ from solutions/: each `# BEGIN SOLUTION` … `# END SOLUTION` block
becomes `raise NotImplementedError("<function>")`; everything else is kept as written.

    def softmax(x: Float[np.ndarray, "... n"]) -> Float[np.ndarray, "... n"]:
        \"\"\"docstring kept\"\"\"
        # BEGIN SOLUTION
        ...reference body...
        # END SOLUTION
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from pathlib import Path

from grader.layout import source_files

BEGIN = "# BEGIN SOLUTION"
END = "# END SOLUTION"


class MarkerError(ValueError):
    pass


def _enclosing_functions(tree: ast.AST) -> list[tuple[int, int, str]]:
    """(first line, last line, qualified name) of every function, classes included in the name."""
    found: list[tuple[int, int, str]] = []

    def visit(node: ast.AST, prefix: str) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef)):
                name = prefix + child.name
                found.append((child.lineno, child.end_lineno or child.lineno, name))
                visit(child, name + ".")
            elif isinstance(child, ast.ClassDef):
                visit(child, prefix + child.name + ".")
            else:
                visit(child, prefix)

    visit(tree, "")
    return found


def _function_at(functions: list[tuple[int, int, str]], line: int) -> str | None:
    inside = [(first, name) for first, last, name in functions if first <= line <= last]
    return max(inside)[1] if inside else None


@dataclass(frozen=True)
class Block:
    """One marked block: the function it is in, and the lines of its two markers (1-based)."""

    name: str  # qualified: "softmax", "Counter.step"
    begin: int
    end: int


def blocks(source: str, filename: str = "<solution>") -> list[Block]:
    """Every marked block of a solution file, checked: nested, unclosed or stray markers raise."""
    functions = _enclosing_functions(ast.parse(source, filename))
    found: list[Block] = []
    inside: tuple[int, str] | None = None
    for number_, line in enumerate(source.splitlines(), start=1):
        marker = line.strip()
        if marker == BEGIN:
            if inside is not None:
                raise MarkerError(f"{filename}:{number_}: {BEGIN} inside another solution block")
            name = _function_at(functions, number_)
            if name is None:
                raise MarkerError(f"{filename}:{number_}: {BEGIN} outside any function")
            inside = (number_, name)
        elif marker == END:
            if inside is None:
                raise MarkerError(f"{filename}:{number_}: {END} without {BEGIN}")
            found.append(Block(inside[1], inside[0], number_))
            inside = None
    if inside is not None:
        raise MarkerError(f"{filename}:{inside[0]}: {BEGIN} in {inside[1]} is never closed")
    return found


def stub_source(source: str, filename: str = "<solution>") -> str:
    """The learner's version of one solution file."""
    lines = source.splitlines(keepends=True)
    out: list[str] = []
    done = 0  # lines copied so far
    for block in blocks(source, filename):
        out += lines[done : block.begin - 1]
        marker = lines[block.begin - 1]
        indent = marker[: len(marker) - len(marker.lstrip())]
        out.append(f'{indent}raise NotImplementedError("{block.name}")\n')
        done = block.end
    out += lines[done:]
    return "".join(out)


def exercise_names(source: str) -> set[str]:
    """Top-level names (function or class) that hold at least one solution block."""
    return {block.name.split(".")[0] for block in blocks(source)}


@dataclass
class Generated:
    target: Path
    text: str


def plan(solutions: Path, exercises: Path) -> list[Generated]:
    """Every exercise file the generator would write, in course order."""
    return [
        Generated(exercises / p.relative_to(solutions), stub_source(p.read_text(), str(p)))
        for p in source_files(solutions)
    ]


def out_of_sync(solutions: Path, exercises: Path) -> list[Path]:
    """Exercise files that differ from, or are missing against, what the generator writes."""
    return [
        g.target
        for g in plan(solutions, exercises)
        if not g.target.is_file() or g.target.read_text() != g.text
    ]


def write(solutions: Path, exercises: Path) -> list[Path]:
    written = []
    for g in plan(solutions, exercises):
        if not g.target.is_file() or g.target.read_text() != g.text:
            g.target.parent.mkdir(parents=True, exist_ok=True)
            g.target.write_text(g.text)
            written.append(g.target)
    return written
