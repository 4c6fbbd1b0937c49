"""Import a part's file from an implementation folder, with jaxtyping's runtime checks on.

One process grades one implementation: its folder goes first on sys.path and each part
is imported as `<chapter>.<part>` through jaxtyping's import hook, so a wrong shape
fails with a message naming the argument and the axis.
"""

from __future__ import annotations

import importlib
import sys
from pathlib import Path
from types import ModuleType

from grader.layout import Part
from grader.outcomes import LearnerImportError, innermost_learner_frame

_loaded: dict[str, ModuleType | LearnerImportError] = {}
_root: Path | None = None


def _describe_import_failure(exc: BaseException, source: Path, root: Path) -> str:
    """file:line of the learner's code at fault, which may be another part this one imports."""

    def shown(path: Path) -> Path:
        return path.relative_to(root.parent) if path.is_relative_to(root.parent) else path

    if isinstance(exc, UnicodeDecodeError) or (
        isinstance(exc, SyntaxError) and "unicode error" in str(exc.msg)
    ):
        where = Path(exc.filename) if isinstance(exc, SyntaxError) and exc.filename else source
        bad_line, column, byte = _first_undecodable(where)
        return (
            f"{shown(where)}:{bad_line}: the file is not UTF-8: byte 0x{byte:02x} at column {column} "
            "(save it as UTF-8, or retype that character) — fix it, then grade again"
        )
    if isinstance(exc, SyntaxError):
        where = Path(exc.filename) if exc.filename else source
        via = "" if where == source else f" (imported by {shown(source)})"
        return f"{shown(where)}:{exc.lineno}: {type(exc).__name__}: {exc.msg}{via} — fix it, then grade again"
    frame = innermost_learner_frame(exc.__traceback__, (root,))
    where, line = (Path(frame.filename), frame.lineno) if frame else (source, "?")
    via = "" if where == source else f", imported by {shown(source)}"
    detail = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    return f"{shown(where)}:{line}: {type(exc).__name__}: {detail} (raised while importing the file{via})"


def _first_undecodable(path: Path) -> tuple[int | str, int, int]:
    """(line, column, byte) of the first byte of `path` that is not UTF-8."""
    try:
        data = path.read_bytes()
    except OSError:
        return "?", 0, 0
    for number, line in enumerate(data.splitlines(keepends=True), start=1):
        try:
            line.decode("utf-8")
        except UnicodeDecodeError as exc:
            return number, exc.start + 1, line[exc.start]
    return "?", 0, 0


def load(part: Part, root: Path, typecheck: bool = True) -> ModuleType:
    """The learner's module for `part` under implementation folder `root`."""
    global _root
    root = root.resolve()
    if _root is None:
        _root = root
        sys.path.insert(0, str(root))
        sys.dont_write_bytecode = True  # keep the learner's folder free of caches
    elif _root != root:
        raise RuntimeError(f"one process grades one implementation: {_root}, not {root}")
    cached = _loaded.get(part.module)
    if isinstance(cached, LearnerImportError):
        # A fresh exception each time: re-raising one object would lengthen its traceback
        # with every test, making a part that does not import cost quadratic time.
        raise LearnerImportError(str(cached)) from None
    if cached is not None:
        return cached
    source = part.source(root)
    if not source.is_file():
        error = LearnerImportError(f"{source} is missing: nothing to grade for {part.id}")
        _loaded[part.module] = error
        raise error
    try:
        if typecheck:
            from jaxtyping import install_import_hook

            with install_import_hook(part.chapter, "typeguard.typechecked"):
                module = importlib.import_module(part.module)
        else:
            module = importlib.import_module(part.module)
    except (Exception, SystemExit, KeyboardInterrupt) as exc:
        error = LearnerImportError(_describe_import_failure(exc, source, root))
        _loaded[part.module] = error
        raise error from None
    _loaded[part.module] = module
    return module
