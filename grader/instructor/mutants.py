"""How strong are the tests? Break each reference function in small, typical ways and see
whether its tests notice.

A mutant changes one thing inside one solution block: an arithmetic operator
(+ ↔ -, * ↔ /, ** → *, @ → *), a comparison (< ↔ <=, > ↔ >=, == ↔ !=), a sign, an
integer constant or slice bound by ±1, an `axis=`, a dropped `keepdims=True`, a dropped
transpose (`.T`, `transpose`, `swapaxes`), or a reduction swapped (mean ↔ sum, max ↔ min,
argmax ↔ argmin, maximum ↔ minimum). Each mutant's exercise is graded with its own tests
under the grader's usual isolation: *killed* if a test fails, *timeout* if one hangs,
*survived* if all pass. A survivor is either a missing test or an equivalent mutant (one
that computes the same thing); the report shows each as a diff so a person can tell, and
a survivor judged equivalent can be declared in tests/<chapter>/equivalent_mutants.txt,
after which it counts as *equivalent* and leaves the score's denominator.
"""

from __future__ import annotations

import ast
import copy
import difflib
import shutil
import tempfile
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Callable, Iterator

from grader import runner
from grader.catalog import ChapterInfo, Exercise
from grader.instructor import generate
from grader.outcomes import Status

_BINOPS: dict[type, list[type]] = {
    ast.Add: [ast.Sub],
    ast.Sub: [ast.Add],
    ast.Mult: [ast.Div],
    ast.Div: [ast.Mult],
    ast.FloorDiv: [ast.Div],
    ast.Pow: [ast.Mult],
    ast.MatMult: [ast.Mult],
}
_COMPARES: dict[type, type] = {
    ast.Lt: ast.LtE,
    ast.LtE: ast.Lt,
    ast.Gt: ast.GtE,
    ast.GtE: ast.Gt,
    ast.Eq: ast.NotEq,
    ast.NotEq: ast.Eq,
}
_SWAPS = {
    "mean": "sum",
    "sum": "mean",
    "max": "min",
    "min": "max",
    "amax": "amin",
    "amin": "amax",
    "argmax": "argmin",
    "argmin": "argmax",
    "maximum": "minimum",
    "minimum": "maximum",
}
_AXIS = {0: 1, 1: 0, 2: 1, -1: -2, -2: -1}
_TRANSPOSES = {"transpose", "swapaxes", "permute_dims"}


@dataclass
class Mutant:
    exercise: Exercise
    description: str  # "line 70: GtE -> Gt"
    source: str  # the whole mutated file
    diff: str  # the mutated function, before and after

    @property
    def key(self) -> str:
        """What names this mutant in an equivalents file, stable when other lines move:
        'part4_stable/sigmoid | GtE -> Gt | np.where(x >= 0, r, e * r) => np.where(x > 0, r, e * r)'
        (the changed line before and after, so two mutations of one line differ)."""
        kind = self.description.split(": ", 1)[-1]
        lines = self.diff.splitlines()
        before = next((line[1:].strip() for line in lines if line.startswith("-")), "")
        after = next((line[1:].strip() for line in lines if line.startswith("+")), "")
        return f"{self.exercise.part.name}/{self.exercise.name} | {kind} | {before} => {after}"


@dataclass
class Outcome:
    mutant: Mutant
    status: str  # killed | timeout | survived | equivalent (a survivor declared so)


EQUIVALENTS = "equivalent_mutants.txt"  # in tests/<chapter>/: survivors an instructor judged equivalent


def _declarations(root: Path, chapter: str) -> Iterator[tuple[int, list[str]]]:
    """(line number, fields) of each declaration in a chapter's equivalents file:
    'part/exercise | mutation | line => mutant | why'; blank and '#' lines skipped."""
    path = root / "tests" / chapter / EQUIVALENTS
    if path.is_file():
        for number, line in enumerate(path.read_text().splitlines(), start=1):
            if line.strip() and not line.lstrip().startswith("#"):
                yield number, [field.strip() for field in line.split(" | ")]


def declared_equivalents(root: Path, chapter: str) -> dict[str, str]:
    """key -> reason, from the chapter's equivalents file."""
    return {" | ".join(key): reason for _, (*key, reason) in _declarations(root, chapter)}


def malformed_declarations(root: Path, chapter: str) -> list[int]:
    """Line numbers of declarations without their four fields."""
    return [number for number, fields in _declarations(root, chapter) if len(fields) < 4]


# A mutation changes one node (of a copy of the tree) in place and says what it did;
# _mutations yields only those that apply to the node.
Mutation = Callable[[ast.AST], str]


def _mutations(node: ast.AST) -> Iterator[Mutation]:
    if isinstance(node, ast.BinOp):
        for new in _BINOPS.get(type(node.op), []):
            yield partial(_set_op, new)
    if isinstance(node, ast.AugAssign):
        for new in _BINOPS.get(type(node.op), []):
            yield partial(_set_op, new)
    if isinstance(node, ast.Compare) and len(node.ops) == 1 and type(node.ops[0]) in _COMPARES:
        yield lambda n: _set_compare(n)
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
        yield partial(_say, "dropped a minus sign")  # applied by the parent
    if isinstance(node, ast.Constant) and type(node.value) is int:
        yield lambda n: _shift(n, +1)
        yield lambda n: _shift(n, -1)
    if isinstance(node, ast.keyword) and node.arg == "axis" and isinstance(node.value, ast.Constant):
        if node.value.value in _AXIS:
            yield lambda n: _set_axis(n)
    if isinstance(node, ast.Call):
        for i, kw in enumerate(node.keywords):
            if kw.arg == "keepdims" and isinstance(kw.value, ast.Constant) and kw.value.value is True:
                yield partial(_drop_keyword, i)
    if isinstance(node, ast.Attribute) and node.attr in _SWAPS:
        yield lambda n: _swap_name(n)
    if isinstance(node, ast.Attribute) and node.attr == "T":
        yield partial(_say, "dropped a transpose (.T)")  # applied by the parent
    name = _called_name(node)
    if name in _TRANSPOSES:
        yield partial(_say, f"dropped a transpose ({name})")  # applied by the parent


def _say(text: str, node: ast.AST) -> str:
    return text


def _set_op(op: type, node) -> str:
    before = type(node.op).__name__
    node.op = op()
    return f"{before} -> {op.__name__}"


def _set_compare(node) -> str:
    before = type(node.ops[0])
    node.ops = [_COMPARES[before]()]
    return f"{before.__name__} -> {_COMPARES[before].__name__}"


def _shift(node, delta: int) -> str:
    before = node.value
    node.value = before + delta
    return f"constant {before} -> {node.value}"


def _set_axis(node) -> str:
    before = node.value.value
    node.value.value = _AXIS[before]
    return f"axis={before} -> axis={_AXIS[before]}"


def _drop_keyword(index: int, node) -> str:
    del node.keywords[index]
    return "dropped keepdims=True"


def _swap_name(node) -> str:
    before = node.attr
    node.attr = _SWAPS[before]
    return f"{before} -> {node.attr}"


def _called_name(node: ast.AST) -> str | None:
    if not isinstance(node, ast.Call):
        return None
    func = node.func
    return func.attr if isinstance(func, ast.Attribute) else func.id if isinstance(func, ast.Name) else None


def _unwrap(node: ast.AST) -> ast.AST | None:
    """What a node is replaced by when the mutation removes it (sign, transpose)."""
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
        return node.operand
    if isinstance(node, ast.Attribute) and node.attr == "T":
        return node.value
    if isinstance(node, ast.Call) and _called_name(node) in _TRANSPOSES:
        func = node.func
        if isinstance(func, ast.Attribute) and not (
            isinstance(func.value, ast.Name) and func.value.id == "np"
        ):
            return func.value  # x.transpose(...) -> x
        return node.args[0] if node.args else None  # np.transpose(x, ...) -> x
    return None


class _Replace(ast.NodeTransformer):
    def __init__(self, target: ast.AST, replacement: ast.AST):
        self.target, self.replacement = target, replacement

    def visit(self, node):
        if node is self.target:
            return self.replacement
        return self.generic_visit(node)


def _function_nodes(tree: ast.Module, name: str) -> ast.AST | None:
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.ClassDef)) and node.name == name:
            return node
    return None


def _diff(before: ast.AST, after: ast.AST) -> str:
    lines = difflib.unified_diff(
        ast.unparse(before).splitlines(), ast.unparse(after).splitlines(), lineterm="", n=1
    )
    return "\n".join(line for line in list(lines)[2:] if not line.startswith("@@"))


def mutants(source: str, exercises: dict[str, Exercise], filename: str = "<solution>") -> list[Mutant]:
    """Every mutant of the solution blocks of one file, for the exercises named."""
    tree = ast.parse(source, filename)
    spans = [(b.begin, b.end, b.name.split(".")[0]) for b in generate.blocks(source, filename)]
    found: list[Mutant] = []
    for index, node in enumerate(list(ast.walk(tree))):
        line = getattr(node, "lineno", None)
        owner = next((name for b, e, name in spans if line and b < line < e), None)
        if owner not in exercises:
            continue
        for mutation in _mutations(node):
            mutated = copy.deepcopy(tree)
            target = list(ast.walk(mutated))[index]
            description = mutation(target)
            if description.startswith("dropped a "):  # the node itself goes: a sign, a transpose
                replacement = _unwrap(target)
                if replacement is None:
                    continue
                mutated = _Replace(target, replacement).visit(mutated)
            ast.fix_missing_locations(mutated)
            try:
                text = ast.unparse(mutated)
                compile(text, filename, "exec")
            except (SyntaxError, ValueError):
                continue
            before, after = _function_nodes(tree, owner), _function_nodes(mutated, owner)
            diff = _diff(before, after) if before and after else description
            if not diff.strip():
                continue
            found.append(Mutant(exercises[owner], f"line {line}: {description}", text, diff))
    return found


def stale_equivalents(root: Path, chapter: str, outcomes: list[Outcome]) -> list[str]:
    """Declared keys that match no mutant of a run over the whole chapter: the reference
    changed, or the line is out of date."""
    made = {o.mutant.key for o in outcomes}
    return [key for key in declared_equivalents(root, chapter) if key not in made]


def _grade_mutant(root: Path, solutions: Path, mutant: Mutant, timeout: float, memory_mb: int) -> Outcome:
    part = mutant.exercise.part
    with tempfile.TemporaryDirectory(prefix="grader-mutant-") as tmp:
        impl = Path(tmp)
        # The whole chapter, since a part may import an earlier one; the mutated file on top.
        shutil.copytree(
            solutions / part.chapter, impl / part.chapter, ignore=shutil.ignore_patterns("__pycache__")
        )
        part.source(impl).write_text(mutant.source)
        job = runner.Job(
            root,
            impl,
            [part.test_file(root)],
            exercises=[mutant.exercise.name],
            timeout=timeout,
            memory_mb=memory_mb,
        )
        outcome = runner.run(job)
    statuses = {r.status for r in outcome.results.values()}
    if outcome.problems or not statuses:
        return Outcome(mutant, "killed")  # the tests could not even run on it
    if statuses <= {Status.PASSED}:
        return Outcome(mutant, "survived")
    if statuses - {Status.PASSED, Status.TIMEOUT}:
        return Outcome(mutant, "killed")
    return Outcome(mutant, "timeout")


def run(
    root: Path,
    solutions: Path,
    chapters: list[ChapterInfo],
    *,
    jobs: int = 2,
    timeout: float = runner.DEFAULT_TIMEOUT_S,
    memory_mb: int = runner.DEFAULT_MEMORY_MB,
    progress: Callable[[Outcome], None] | None = None,
) -> list[Outcome]:
    found: list[Mutant] = []
    for chapter in chapters:
        for info in chapter.parts:
            source = info.part.source(solutions)
            by_name = {e.name: e for e in info.exercises}
            found += mutants(source.read_text(), by_name, str(source))
    equivalent = {key for c in chapters for key in declared_equivalents(root, c.name)}
    outcomes: list[Outcome] = []
    with ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
        for outcome in pool.map(lambda m: _grade_mutant(root, solutions, m, timeout, memory_mb), found):
            if outcome.status == "survived" and outcome.mutant.key in equivalent:
                outcome.status = "equivalent"
            outcomes.append(outcome)
            if progress:
                progress(outcome)
    return outcomes
