"""Statuses, and how an exception raised by a test becomes a status and a learner's message.

Used by the pytest plugin in the grading worker and by the in-cell `check`, so that a
learner reads the same verdict in both places.
"""

from __future__ import annotations

import enum
import textwrap
import traceback
from pathlib import Path

from grader import typecheck
from grader.layout import CHAPTER_RE

MESSAGE_LIMIT = 2000


class Status(str, enum.Enum):
    PASSED = "passed"
    FAILED = "failed"
    TODO = "todo"
    ERROR = "error"
    TIMEOUT = "timeout"
    CRASHED = "crashed"


# When an exercise's tests disagree, the exercise shows the most telling status:
# a file that does not import hides everything; a dead or hung worker comes next; a
# wrong answer beats "still to do" (the learner has started and needs the reason).
SEVERITY = [Status.ERROR, Status.CRASHED, Status.TIMEOUT, Status.FAILED, Status.TODO, Status.PASSED]


def worst(statuses: list[Status]) -> Status:
    return min(statuses, key=SEVERITY.index) if statuses else Status.TODO


class LearnerImportError(Exception):
    """The learner's file could not be imported; the message names file and line."""


class LearnerInterrupted(Exception):
    """Learner code raised KeyboardInterrupt, which would otherwise stop the whole run."""


def truncate(text: str, limit: int = MESSAGE_LIMIT) -> str:
    text = text.strip()
    return text if len(text) <= limit else text[: limit - 1] + "…"


def learner_frames(tb, learner_dirs: tuple[Path, ...]) -> list[traceback.FrameSummary]:
    """The frames of a traceback that run in the learner's files, outermost first."""
    return [
        frame
        for frame in traceback.extract_tb(tb)
        if any(Path(frame.filename).is_relative_to(d) for d in learner_dirs)
    ]


def innermost_learner_frame(tb, learner_dirs: tuple[Path, ...]) -> traceback.FrameSummary | None:
    """The innermost frame of a traceback that runs in the learner's files."""
    frames = learner_frames(tb, learner_dirs)
    return frames[-1] if frames else None


def _learner_frame(tb, learner_dirs: tuple[Path, ...], own_file: str | None = None) -> str:
    """'part1_arrays.py:23 in normalize' for the innermost frame in the learner's files;
    if that is in another file than the one under test (an earlier part's function),
    also the innermost line of the file under test that led there."""
    frames = learner_frames(tb, learner_dirs)
    if not frames:
        return ""
    shown = [f"{Path(f.filename).name}:{f.lineno} in {f.name}" for f in frames]
    ours = [i for i, f in enumerate(frames) if Path(f.filename).name == own_file]
    if own_file and ours and Path(frames[-1].filename).name != own_file:
        return f"{shown[-1]}, called from {shown[ours[-1]]}"
    return shown[-1]


GRADER_DIR = Path(__file__).resolve().parent


def _is_course_file(path: Path) -> bool:
    """A file of the course's own checking: the grader package or a course test file."""
    path = path.resolve()
    in_tests = bool(CHAPTER_RE.match(path.parent.name)) and path.parent.parent.name == "tests"
    return in_tests or path.is_relative_to(GRADER_DIR)


def raised_by_course(exc: BaseException) -> bool:
    """exc was raised by a test or the test kit (its innermost frame is theirs), not by the
    learner's code or a library it called."""
    frames = traceback.extract_tb(exc.__traceback__)
    return not frames or _is_course_file(Path(frames[-1].filename))


def _not_implemented(exc: BaseException | None) -> BaseException | None:
    """The NotImplementedError behind exc, if any (a test may wrap it in another error)."""
    seen = 0
    while exc is not None and seen < 10:
        if isinstance(exc, NotImplementedError):
            return exc
        exc = exc.__cause__ or exc.__context__
        seen += 1
    return None


def classify(
    exc: BaseException, learner_dirs: tuple[Path, ...] = (), own_file: str | None = None
) -> tuple[Status, str]:
    """The status and one teaching message for an exception raised while running a test.

    own_file: the name of the exercise file under test; a stub raised from another file
    (an earlier part this one builds on) is named, so the learner knows where to go.
    """
    if isinstance(exc, LearnerImportError):
        return Status.ERROR, truncate(str(exc))
    todo = _not_implemented(exc)
    if todo is not None:
        name = str(todo) or "this function"
        frame = innermost_learner_frame(todo.__traceback__, learner_dirs)
        where = Path(frame.filename).name if frame else ""
        elsewhere = (
            f" in {where}, which this part builds on" if where and own_file and where != own_file else ""
        )
        return Status.TODO, f"not implemented yet: {name} still raises NotImplementedError{elsewhere}"
    if isinstance(exc, MemoryError):
        return Status.CRASHED, "ran out of memory: it allocated more than the grader's memory cap"
    if isinstance(exc, RecursionError):
        return Status.FAILED, "RecursionError: maximum recursion depth exceeded (infinite recursion?)"
    if isinstance(exc, LearnerInterrupted):
        return Status.FAILED, str(exc)
    if isinstance(exc, SystemExit):
        return Status.FAILED, f"called sys.exit({exc.code!r}); exercises must return, not exit"
    if isinstance(exc, AssertionError) and raised_by_course(exc):
        return Status.FAILED, truncate(str(exc) or "a check failed")
    where = _learner_frame(exc.__traceback__, learner_dirs, own_file)
    kind = type(exc).__name__
    if isinstance(exc, (FloatingPointError, RuntimeWarning)):
        # Raised only where a test turns NumPy's warnings into errors: a stability test.
        at = f" at {where}" if where else ""
        return Status.FAILED, truncate(
            f"NumPy warned: {str(exc).strip()}{at}; this test needs a formula that never "
            "overflows or divides 0 by 0 (see the reading on numerical stability)"
        )
    if kind == "TypeCheckError":
        told = typecheck.explain(exc, learner_dirs, own_file)
        if told:
            return Status.FAILED, truncate(told)
        # jaxtyping's own words: its first lines name the function and the argument.
        head = str(exc).strip().split("----------------------")[0].strip()
        return Status.FAILED, truncate(f"type check failed: {head}")
    detail = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    message = f"{kind}: {detail}" if detail else kind
    return Status.FAILED, truncate(f"{message} (at {where})" if where else message)


FOLD_LINES = 4  # a reason longer than this shows its first lines; --verbose shows all


def reason_lines(message: str, indent: int, width: int = 100, verbose: bool = True) -> list[str]:
    """A whole reason, each of its lines wrapped to fit `width` columns when continued at
    `indent`; beyond FOLD_LINES lines, folded unless verbose."""
    room = max(width - indent, 60)
    lines: list[str] = []
    for paragraph in message.strip().splitlines() or [""]:
        lines += textwrap.wrap(paragraph, room, break_on_hyphens=False) or [""]
    if not verbose and len(lines) > FOLD_LINES + 1:
        hidden = len(lines) - FOLD_LINES
        lines = lines[:FOLD_LINES] + [f"… {hidden} more lines: run again with --verbose"]
    return lines


def one_line(message: str, width: int = 160) -> str:
    line = " ".join(message.split())
    return line if len(line) <= width else line[: width - 1] + "…"
