"""A failed jaxtyping check, retold in the course's words.

jaxtyping's TypeCheckError prints the annotations (`Float[Tensor, '*#shape']`), every
argument's values and the axis table, and names neither the wrong tuple element nor the
learner's line. The failing call is still on the traceback (jaxtyping's wrapper frame
holds the function, its arguments, its result), so the check is replayed here one value
at a time with jaxtyping's own rules to find the first value that breaks it, and the
message says which argument or returned value, its shape or dtype, and what the axis
names ask for:

    linear_backward returned grad_w (value 2 of 3) with shape (4, 3); expected
    (d_in, d_out) = (3, 4), d_in and d_out set by x and grad_out (def at part2_linear_losses.py:45)

When the call is to a given function or an earlier part's (Tensor's `div` under a
division in `rmsnorm`), the place named is the innermost line of the file under test.
"""

from __future__ import annotations

import ast
import inspect
import re
import textwrap
import types
import typing
from pathlib import Path
from types import TracebackType
from typing import Any

_DTYPE_WORDS = {
    "Float": "a floating-point dtype",
    "Int": "an integer dtype",
    "UInt": "an unsigned integer dtype",
    "Integer": "an integer dtype",
    "Bool": "bool",
    "Complex": "a complex dtype",
    "Num": "a numeric dtype",
    "Inexact": "a floating-point or complex dtype",
}


def _wrapper_frame(tb: TracebackType | None) -> dict[str, Any] | None:
    """The locals of the innermost jaxtyping wrapper on the traceback (the failing call)."""
    found = None
    while tb is not None:
        code = tb.tb_frame.f_code
        if code.co_name == "wrapped_fn_impl" and "jaxtyping" in code.co_filename:
            found = tb.tb_frame.f_locals
        tb = tb.tb_next
    return found


def _is_array_hint(hint: Any) -> bool:
    return isinstance(getattr(hint, "dim_str", None), str) and hasattr(hint, "dims")


def _shape(value: Any) -> tuple[int, ...] | None:
    shape = getattr(value, "shape", None)
    return tuple(int(n) for n in shape) if isinstance(shape, tuple) else None


def _dims_text(hint: Any, single: dict[str, int], variadic: dict[str, Any]) -> str:
    """'(d_in, d_out) = (3, 4)' from the hint's axis names and their sizes so far."""
    from jaxtyping._array_types import _FixedDim, _NamedDim, _NamedVariadicDim

    names, sizes = [], []
    for dim in hint.dims:
        if isinstance(dim, _FixedDim):
            names.append(str(dim.size))
            sizes.append(str(dim.size))
        elif isinstance(dim, _NamedDim):
            names.append(dim.name)
            sizes.append(str(single[dim.name]) if dim.name in single else dim.name)
        elif isinstance(dim, _NamedVariadicDim):
            names.append(f"*{dim.name}")
            known = variadic.get(dim.name)
            sizes.append(", ".join(map(str, known[1])) if known else f"*{dim.name}")
        elif type(dim).__name__ == "_SymbolicDim":
            names.append(str(dim.elem))
            sizes.append(str(dim.elem))
        else:
            names.append("_" if type(dim).__name__ == "_AnonymousDim" else "...")
            sizes.append(names[-1])
    shown_names = f"({', '.join(names)}{',' if len(names) == 1 else ''})"
    shown_sizes = f"({', '.join(s for s in sizes if s)}{',' if len(sizes) == 1 else ''})"
    return shown_names if shown_names == shown_sizes else f"{shown_names} = {shown_sizes}"


def _dtype_text(hint: Any) -> str:
    name = getattr(getattr(hint, "dtype", None), "__name__", "")
    if name in _DTYPE_WORDS:
        return _DTYPE_WORDS[name]
    dtypes = list(getattr(hint, "dtypes", []) or [])
    return " or ".join(map(str, dtypes)) or name


def _problem(what: str, value: Any, hint: Any, reason: str, memo: tuple, set_by: dict[str, str]) -> str:
    """What is wrong with `value` against an array hint, given jaxtyping's reason."""
    single, variadic = memo[0], memo[1]
    shape = _shape(value)
    array_type = getattr(hint, "array_type", Any)
    if "not an instance" in reason or "does not have both" in reason:
        wanted = getattr(array_type, "__name__", "array")
        wanted = "NumPy array" if wanted == "ndarray" else wanted
        shown = _kind(value) if what == "a result" else f"{what} as {_kind(value)}"
        return f"{shown}, expected {_article(wanted)} {wanted}"
    if "dtype" in reason and "dimension" not in reason:
        return f"{what} of dtype {getattr(value, 'dtype', '?')}, expected {_dtype_text(hint)}"
    expected = _dims_text(hint, single, variadic)
    variadic_names = [d.name for d in hint.dims if type(d).__name__ == "_NamedVariadicDim"]
    if "broadcast" in reason and variadic_names:
        name = variadic_names[0]
        other = variadic.get(name, (None, ()))[1]
        by = set_by.get(name)
        against = f"{by}'s shape" if by else "the shape so far"
        return f"{what} with shape {shape}, which does not broadcast with {against} {other}"
    named = [n for n in dict.fromkeys(re.findall(r"\w+", expected.split(" = ")[0])) if n in set_by]
    givers: dict[str, list[str]] = {}
    for n in named:
        givers.setdefault(set_by[n], []).append(n)
    sources = [" and ".join(ns) + f" from {who}" for who, ns in givers.items()]
    origin = f" ({', '.join(sources)})" if sources else ""
    axes = f"{len(shape)} axes" if shape is not None and len(shape) != 1 else "1 axis"
    if "dimensions" in reason and shape is not None:
        return f"{what} with {axes}, shape {shape}; expected {expected}{origin}"
    return f"{what} with shape {shape}; expected {expected}{origin}"


class _Replay:
    """jaxtyping's checks, one value at a time, in a fresh memo of axis sizes."""

    def __init__(self, arguments: dict[str, Any]):
        from jaxtyping._storage import get_shape_memo, pop_shape_memo, push_shape_memo

        self._get, self._pop = get_shape_memo, pop_shape_memo
        push_shape_memo(arguments)
        self.set_by: dict[str, str] = {}

    def check(self, who: str, value: Any, hint: Any) -> str:
        """jaxtyping's reason why value does not fit hint, or "" (and record what it set)."""
        if not _is_array_hint(hint):
            return _plain_reason(value, hint)
        before = self._names()
        reason = type(hint).__instancecheck_str__(hint, value)
        if not reason:
            for name in self._names() - before:
                self.set_by.setdefault(name, who)
        return reason

    def _names(self) -> set[str]:
        single, variadic, _, _ = self._get()
        return set(single) | set(variadic)

    @property
    def memo(self) -> tuple:
        return self._get()

    def close(self) -> None:
        self._pop()


def _plain_reason(value: Any, hint: Any) -> str:
    """typeguard's verdict on a hint that is not an array annotation ("" if it fits)."""
    if hint in (inspect.Parameter.empty, Any) or isinstance(hint, str):
        return ""
    try:
        from typeguard import check_type

        check_type("value", value, hint)
    except TypeError as exc:
        return str(exc) or "wrong type"
    except Exception:
        return ""
    return ""


def _article(word: str) -> str:
    return "an" if word[:1].lower() in "aeiou" else "a"


def _kind(value: Any) -> str:
    """'list [1.0, 2.0]', 'ndarray of shape (4,)': what a value is, briefly."""
    shape = _shape(value)
    if shape is not None:
        return f"{type(value).__name__} of shape {shape}"
    return f"{type(value).__name__} {value!r:.40}"


def _hint_text(hint: Any) -> str:
    """A hint in words: 'float', 'a tuple of 3 values', 'an ndarray with axes (n, d)'."""
    if _is_array_hint(hint):
        kind = getattr(getattr(hint, "array_type", None), "__name__", "array")
        names = [d.strip() for d in hint.dim_str.split()]
        return f"{_article(kind)} {kind} with axes ({', '.join(names)}{',' if len(names) == 1 else ''})"
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin is tuple:
        return f"a tuple of {len(args)} values" if Ellipsis not in args else "a tuple"
    if origin in (list, dict, set):
        return f"a {origin.__name__}"
    if args and origin in (typing.Union, getattr(types, "UnionType", None)):
        return " or ".join(_hint_text(a) for a in args)
    if hint is type(None):
        return "None"
    return getattr(hint, "__name__", None) or str(hint).replace("typing.", "")


def _returned_names(fn: Any, count: int) -> list[str]:
    """The names in `return a, b, c` of fn's source (or its docstring's 'Returns (a, b)')."""
    try:
        tree = ast.parse(textwrap.dedent(inspect.getsource(fn)))
        for node in ast.walk(tree):
            if isinstance(node, ast.Return) and isinstance(node.value, ast.Tuple):
                names = [e.id if isinstance(e, ast.Name) else "" for e in node.value.elts]
                if len(names) == count and all(names):
                    return names
    except (OSError, TypeError, SyntaxError):
        pass
    match = re.search(r"Returns?:?\s*\(([\w\s,]+)\)", inspect.getdoc(fn) or "")
    if match:
        names = [n.strip() for n in match.group(1).split(",")]
        if len(names) == count and all(n.isidentifier() for n in names):
            return names
    return []


def _describe(frame: dict[str, Any]) -> str | None:
    fn = frame["fn"]
    name = getattr(fn, "__name__", "the function")
    arguments = dict(frame["bound"].arguments)
    params = frame["param_signature"].parameters
    replay = _Replay(arguments)
    try:
        for arg, value in arguments.items():
            hint = params[arg].annotation
            reason = replay.check(arg, value, hint)
            if reason:
                call = f"{name}({', '.join(a for a in arguments if a != 'self')})"
                if not _is_array_hint(hint):
                    return f"{call} got {arg} as {_kind(value)}, expected {_hint_text(hint)}"
                problem = _problem(arg, value, hint, reason, replay.memo, replay.set_by)
                return f"{call} got {problem}"
        if "out" not in frame:
            return None
        out = frame["out"]
        hint = frame["full_signature"].return_annotation
        if typing.get_origin(hint) is tuple and isinstance(out, tuple):
            hints = [h for h in typing.get_args(hint) if h is not Ellipsis]
            if len(typing.get_args(hint)) == 2 and typing.get_args(hint)[1] is Ellipsis:
                hints = hints * len(out)
            if len(hints) != len(out):
                return f"{name} returned {len(out)} value{'s' * (len(out) != 1)}, expected {len(hints)}"
            names = _returned_names(fn, len(out))
            for i, (value, element) in enumerate(zip(out, hints)):
                what = (
                    f"{names[i]} (value {i + 1} of {len(out)})" if names else f"value {i + 1} of {len(out)}"
                )
                reason = replay.check(what, value, element)
                if reason:
                    return _returned(name, what, value, element, reason, replay)
            return None
        reason = replay.check("the result", out, hint)
        return _returned(name, "", out, hint, reason, replay) if reason else None
    finally:
        replay.close()


def _returned(name: str, what: str, value: Any, hint: Any, reason: str, replay: _Replay) -> str:
    if not _is_array_hint(hint):
        shown = f" {what}" if what else ""
        return f"{name} returned{shown} {_kind(value)}, expected {_hint_text(hint)}"
    problem = _problem(what or "a result", value, hint, reason, replay.memo, replay.set_by)
    return f"{name} returned {problem}"


def _place(frame: dict[str, Any], tb: TracebackType | None, learner_dirs, own_file: str | None) -> str:
    """Where to look: the innermost line of the file under test if the failing function
    lives elsewhere (a given or earlier-part function); else the failing function itself."""
    from grader.outcomes import learner_frames

    fn = frame["fn"]
    code = getattr(fn, "__code__", None)
    fn_file = Path(code.co_filename).name if code else ""
    ours = [f for f in learner_frames(tb, learner_dirs) if not own_file or Path(f.filename).name == own_file]
    if ours and (not own_file or fn_file != own_file or "out" not in frame):
        last = ours[-1]
        called = f"{fn.__name__} called " if fn_file != Path(last.filename).name else ""
        return f"{called}at {Path(last.filename).name}:{last.lineno} in {last.name}"
    if code:
        line = (_return_line(fn) if "out" in frame else None) or code.co_firstlineno
        return f"at {fn_file}:{line} in {fn.__name__}"
    return ""


def _return_line(fn: Any) -> int | None:
    """The line of fn's only return statement (nested functions aside), if it has one."""
    try:
        lines, first = inspect.getsourcelines(fn)
        tree = ast.parse(textwrap.dedent("".join(lines)))
    except (OSError, TypeError, SyntaxError):
        return None
    returns: list[ast.Return] = []
    pending = list(ast.iter_child_nodes(tree.body[0])) if tree.body else []
    while pending:
        node = pending.pop()
        if isinstance(node, ast.Return):
            returns.append(node)
        if not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda, ast.ClassDef)):
            pending.extend(ast.iter_child_nodes(node))
    return first + returns[0].lineno - 1 if len(returns) == 1 else None


def explain(
    exc: BaseException, learner_dirs: tuple[Path, ...] = (), own_file: str | None = None
) -> str | None:
    """The course's words for a jaxtyping TypeCheckError, or None if it cannot be retold."""
    frame = _wrapper_frame(exc.__traceback__)
    if frame is None or not {"fn", "bound", "param_signature", "full_signature"} <= set(frame):
        return None
    try:
        text = _describe(frame)
    except Exception:  # a retelling is a help; jaxtyping's own words remain
        return None
    if not text:
        return None
    where = _place(frame, exc.__traceback__, learner_dirs, own_file)
    return f"{text} ({where})" if where else text
