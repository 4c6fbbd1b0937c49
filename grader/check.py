"""`check(fn)`: run one exercise's tests, in this process, on the function just defined.

Called from a `# %%` cell under `if MAIN:` in an exercise file. The tests see the
caller's namespace (so helpers defined in earlier cells are used), with `fn` type
checked by jaxtyping as the grader would. Nothing is recorded as progress: for that,
run `python -m grader`.
"""

from __future__ import annotations

import importlib.util
import inspect
import itertools
import sys
import time
from pathlib import Path
from types import ModuleType, SimpleNamespace
from typing import Any, Callable, Iterator

from grader import catalog, layout
from grader.layout import Part
from grader.outcomes import Status, classify, one_line, reason_lines


def _caller_file(frame_globals: dict[str, Any]) -> Path | None:
    """The exercise file the calling cell belongs to, if it is one."""
    for key in ("__file__", "__vsc_ipynb_file__"):
        value = frame_globals.get(key)
        if isinstance(value, str) and Part.of_source_file(Path(value)):
            return Path(value).resolve()
    return None


NOTEBOOK_PART = "__course_part__"  # set by a generated notebook's set-up cell: "chapter/part"


def _caller_part(frame_globals: dict[str, Any]) -> Part | None:
    path = _caller_file(frame_globals)
    if path:
        return Part.of_source_file(path)
    named = frame_globals.get(NOTEBOOK_PART)
    if isinstance(named, str) and named.count("/") == 1:
        return Part(*named.split("/"))
    return None


def notebook_setup(part: str) -> None:
    """What a generated notebook's first cell calls once the course is importable: later
    parts import the learner's earlier ones from exercises/, and check() grades `part`."""
    exercises = str(layout.course_root() / "exercises")
    if exercises not in sys.path:
        sys.path.append(exercises)
    caller = inspect.currentframe().f_back  # type: ignore[union-attr]
    if caller is not None:
        caller.f_globals[NOTEBOOK_PART] = part


def _find_part(root: Path, name: str, frame_globals: dict[str, Any]) -> Part:
    part = _caller_part(frame_globals)
    if part is not None:
        return part
    owners = [
        p.part
        for chapter in catalog.course(root)
        for p in chapter.parts
        if any(e.name == name for e in p.exercises)
    ]
    if len(owners) == 1:
        return owners[0]
    where = "no part has" if not owners else f"{len(owners)} parts have"
    raise LookupError(
        f"check: {where} an exercise named {name!r}; call check({name}, part='chapterN_x/partK_y')"
    )


def _test_module(root: Path, part: Part) -> ModuleType:
    path = part.test_file(root)
    spec = importlib.util.spec_from_file_location(f"_check_{part.chapter}_{part.name}", path)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _cases(test: Callable[..., Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    """(id, arguments) for each parametrized case of a test, as pytest would expand them."""
    axes = []
    for mark in getattr(test, "pytestmark", []):
        if mark.name != "parametrize":
            continue
        names = mark.args[0]
        names = [n.strip() for n in names.split(",")] if isinstance(names, str) else list(names)
        rows = []
        for i, row in enumerate(mark.args[1]):
            if type(row).__name__ == "ParameterSet":  # pytest.param(...); a dict has .values too
                values = tuple(row.values)
            else:
                values = tuple(row) if len(names) > 1 else (row,)
            rows.append((str(i), dict(zip(names, values))))
        axes.append(rows)
    for combo in itertools.product(*axes):
        ident = "-".join(i for i, _ in combo)
        kwargs: dict[str, Any] = {}
        for _, row_values in combo:
            kwargs.update(row_values)
        yield (f"[{ident}]" if ident else ""), kwargs


def _typechecked(fn: Any) -> Any:
    if not inspect.isfunction(fn):
        return fn
    try:
        import typeguard
        from jaxtyping import jaxtyped

        return jaxtyped(typechecker=typeguard.typechecked)(fn)
    except Exception:  # checking is a help, never a reason for check() to fail
        return fn


def check(fn: Any, part: str | None = None) -> bool:
    """Run the tests of the exercise `fn` names and print a short verdict; True if all pass."""
    caller = inspect.currentframe().f_back  # type: ignore[union-attr]
    frame_globals = dict(caller.f_globals) if caller else {}
    name = fn.__name__
    root = layout.course_root()
    try:
        where = Part(*part.split("/")) if part else _find_part(root, name, frame_globals)
        tests = _test_module(root, where)
    except (LookupError, OSError, TypeError) as exc:
        print(one_line(str(exc), 300))
        return False
    namespace = SimpleNamespace(**{**frame_globals, name: _typechecked(fn)})
    learner_file = _caller_file(frame_globals)
    learner_dirs = (learner_file.parent if learner_file else Path.cwd(),)
    results: list[tuple[str, Status, str]] = []
    started = time.perf_counter()
    for test_name, test in vars(tests).items():
        marks = [m for m in getattr(test, "pytestmark", []) if m.name == "exercise"]
        if not test_name.startswith("test") or not marks or marks[0].args[0] != name:
            continue
        for ident, kwargs in _cases(test):
            try:
                test(impl=namespace, **kwargs)
                results.append((test_name + ident, Status.PASSED, ""))
            except (Exception, SystemExit) as exc:
                status, message = classify(exc, learner_dirs, learner_file.name if learner_file else None)
                results.append((test_name + ident, status, message))
    elapsed = time.perf_counter() - started
    if results:
        _note_check(root, f"{where.id}/{name}")
    return _verdict(name, results, elapsed)


def _note_check(root: Path, exercise: str) -> None:
    """Remember which exercise was checked last, so `python -m grader` suggests what
    follows it (a check is not progress: only graded runs are)."""
    try:
        from grader.store import Store, default_path

        Store(default_path(root)).record_check(exercise)
    except Exception:  # remembering is a help, never a reason for check() to fail
        pass


def _verdict(name: str, results: list[tuple[str, Status, str]], elapsed: float) -> bool:
    if not results:
        print(f"{name}: no tests found for this exercise")
        return False
    passed = sum(1 for _, s, _ in results if s is Status.PASSED)
    total = len(results)
    if passed == total:
        print(f"✓ {name}: all {total} tests passed ({elapsed:.2f}s)")
        return True
    if all(s in (Status.PASSED, Status.TODO) for _, s, _ in results):
        todo = next(m for _, s, m in results if s is Status.TODO)
        print(f"… {name}: {todo}")
        return False
    print(f"✗ {name}: {passed}/{total} tests passed")
    for test_name, status, message in results:
        if status is not Status.PASSED:
            print(f"  {test_name}:")
            for line in reason_lines(message, indent=4):
                print(f"    {line}")
    sys.stdout.flush()
    return False
