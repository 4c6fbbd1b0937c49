"""Grade a cohort: a folder of submissions, several at a time, into a gradebook.

A submission is a folder laid out like exercises/ (or holding one, at any depth up to
three), or a .zip / .tar / .tar.gz / .tgz archive of one. Only the learner's exercise
files are taken from it: `<chapter>/<part>.py` for the parts the course has, regular
files of at most MAX_FILE_BYTES. Everything else in a submission (a conftest.py, a
pytest plugin, a sitecustomize.py, edited tests, extra modules) is never copied, so it
cannot run. The files are laid over a copy of the course's blank exercises/, so a part
missing from a submission grades as *todo*.

Each submission is graded by the same isolated runner as a learner's own run, so one that
hangs, crashes, floods output or fails to import costs only its own time limits.
"""

from __future__ import annotations

import csv
import json
import os
import re
import shutil
import tarfile
import tempfile
import time
import zipfile
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path, PurePosixPath
from typing import IO, Callable, Iterator

from grader import export, render, runner
from grader.catalog import ChapterInfo
from grader.grade import Report, grade
from grader.layout import CHAPTER_RE, PART_RE

MAX_FILE_BYTES = 1 << 20
MAX_DEPTH = 3  # how deep below a submission's top the chapter folders may sit
ARCHIVE_SUFFIXES = (".zip", ".tar", ".tar.gz", ".tgz")
BATCH_SCHEMA = "grader.batch/1"


@dataclass
class Submission:
    name: str  # safe as a file name; unique in the batch
    source: Path


@dataclass
class Graded:
    submission: Submission
    report: Report | None
    notes: list[str] = field(default_factory=list)
    seconds: float = 0.0


def _safe_name(name: str) -> str:
    for suffix in ARCHIVE_SUFFIXES:
        if name.endswith(suffix):
            name = name[: -len(suffix)]
            break
    return re.sub(r"[^A-Za-z0-9._-]", "_", name).strip("._") or "submission"


def discover(folder: Path) -> list[Submission]:
    """Every folder and archive directly inside `folder`, in name order."""
    found: list[Submission] = []
    used: set[str] = set()
    for entry in sorted(folder.iterdir()):
        if entry.name.startswith(".") or entry.is_symlink():
            continue
        if not (entry.is_dir() or (entry.is_file() and entry.name.endswith(ARCHIVE_SUFFIXES))):
            continue
        name, n = _safe_name(entry.name), 2
        while name in used:
            name, n = f"{_safe_name(entry.name)}-{n}", n + 1
        used.add(name)
        found.append(Submission(name, entry))
    return found


def _part_key(path: PurePosixPath) -> tuple[str, str] | None:
    """('chapter0_numpy', 'part4_stable.py') for .../chapter0_numpy/part4_stable.py within depth."""
    if path.is_absolute() or ".." in path.parts or not 2 <= len(path.parts) <= MAX_DEPTH + 2:
        return None
    chapter, filename = path.parts[-2], path.parts[-1]
    if CHAPTER_RE.match(chapter) and filename.endswith(".py") and PART_RE.match(filename[:-3]):
        return chapter, filename
    return None


def _open_binary(path: Path) -> IO[bytes]:
    return path.open("rb")


Opener = Callable[[], IO[bytes] | None]


def _members(source: Path) -> Iterator[tuple[PurePosixPath, Opener | None]]:
    """(relative path, opener) for each file of a folder or archive; the opener is None for
    what is not a regular file (a symbolic link, a device, a hard link in a tar)."""
    if source.is_dir():
        for top, dirs, files in os.walk(source):  # does not follow symlinked folders
            rel = PurePosixPath(Path(top).relative_to(source).as_posix())
            for d in dirs:
                if d.startswith(".") or len(rel.parts) > MAX_DEPTH or (Path(top) / d).is_symlink():
                    yield rel / d, None
            dirs[:] = [
                d
                for d in dirs
                if not d.startswith(".") and len(rel.parts) <= MAX_DEPTH and not (Path(top) / d).is_symlink()
            ]
            for name in files:
                path = Path(top) / name
                regular = not path.is_symlink() and path.is_file()
                yield rel / name, partial(_open_binary, path) if regular else None
    elif source.name.endswith(".zip"):
        archive = zipfile.ZipFile(source)
        for info in archive.infolist():
            is_link = (info.external_attr >> 16) & 0o170000 == 0o120000
            if not info.is_dir():
                yield PurePosixPath(info.filename), None if is_link else partial(archive.open, info)
    else:
        tar = tarfile.open(source)
        for member in tar:
            if not member.isdir():
                yield (
                    PurePosixPath(member.name),
                    partial(tar.extractfile, member) if member.isfile() else None,
                )


def _skip_reason(raw: PurePosixPath, parts: set[tuple[str, str]], regular: bool) -> str | None:
    """Why a submitted file is not graded, or None for an exercise file to take."""
    if raw.is_absolute() or ".." in raw.parts:
        return "a path outside the submission"
    if not regular:
        return "not a regular file (a symbolic link?)"
    rel = PurePosixPath(*[p for p in raw.parts if p not in ("", ".")])
    if any(p.startswith(".") for p in rel.parts):
        return "hidden"
    key = _part_key(rel)
    if key is None:
        if len(rel.parts) > MAX_DEPTH + 2:
            return f"deeper than {MAX_DEPTH} folders"
        return "not an exercise file graded here"
    if key not in parts:
        return "not an exercise file graded here"
    return None


def _summarise(skipped: dict[str, list[str]]) -> list[str]:
    notes = []
    for why, names in skipped.items():
        shown = ", ".join(names[:5]) + (f" and {len(names) - 5} more" if len(names) > 5 else "")
        notes.append(f"skipped ({why}): {shown}")
    return notes


def _read_capped(opener: Callable[[], IO[bytes] | None]) -> bytes | None:
    """The file's bytes, or None if it is larger than MAX_FILE_BYTES (or cannot be opened)."""
    stream = opener()
    if stream is None:
        return None
    with stream:
        data = stream.read(MAX_FILE_BYTES + 1)
    return None if len(data) > MAX_FILE_BYTES else data


def stage(
    submission: Submission, course_exercises: Path, parts: set[tuple[str, str]], dest: Path
) -> list[str]:
    """Lay the submission's exercise files over a copy of the blank exercises in `dest`.

    Returns notes for the gradebook (nothing found, a file too large, an unreadable archive).
    """
    shutil.copytree(course_exercises, dest, ignore=shutil.ignore_patterns("__pycache__"))
    chosen: dict[tuple[str, str], tuple[int, bytes, str]] = {}
    notes: list[str] = []
    skipped: dict[str, list[str]] = {}
    try:
        for raw, opener in _members(submission.source):
            why = _skip_reason(raw, parts, opener is not None)
            if why is not None:
                skipped.setdefault(why, []).append(str(raw))
                continue
            assert opener is not None
            key = _part_key(PurePosixPath(*[p for p in raw.parts if p not in ("", ".")]))
            assert key is not None
            depth = len(raw.parts)
            if key in chosen and chosen[key][0] <= depth:
                skipped.setdefault("a shallower copy was graded", []).append(str(raw))
                continue  # the shallowest copy of a part file wins
            data = _read_capped(opener)
            if data is None:
                notes.append(f"{'/'.join(key)} is larger than {MAX_FILE_BYTES} bytes: not graded")
                continue
            if key in chosen:
                skipped.setdefault("a shallower copy was graded", []).append(chosen[key][2])
            chosen[key] = (depth, data, str(raw))
    except (OSError, zipfile.BadZipFile, tarfile.TarError, EOFError) as exc:
        notes.append(f"could not read the submission: {type(exc).__name__}: {exc}")
    notes += _summarise(skipped)
    for (chapter, filename), (_, data, _) in chosen.items():
        (dest / chapter / filename).write_bytes(data)
    if not chosen:
        notes.append(
            "no exercise files found (expected <chapter>/<part>.py, e.g. chapter0_numpy/part1_arrays.py)"
        )
    return notes


COURSE_FOLDERS = ("tests", "coursedata")  # what grading needs of the course, beside the grader
COURSE_FILES = ("setup.cfg", "pyproject.toml")


def sandbox(root: Path, dest: Path) -> None:
    """The course a submission is graded in: its tests, the grader (without its own tests,
    whose fixture holds references) and the course's data helpers; never solutions/."""
    dest.mkdir()
    skip = shutil.ignore_patterns("__pycache__", "equivalent_mutants.txt", ".*")
    for name in COURSE_FOLDERS:
        if (root / name).is_dir():
            shutil.copytree(root / name, dest / name, ignore=skip)
    here = Path(__file__).resolve().parent.parent  # the grader package
    shutil.copytree(here, dest / "grader", ignore=shutil.ignore_patterns("__pycache__", "tests"))
    for name in COURSE_FILES:
        if (root / name).is_file():
            shutil.copy2(root / name, dest / name)


def _read_only(folder: Path) -> None:
    """Everything in `folder` readable by all and writable by none but root."""
    for top, _dirs, files in os.walk(folder):
        for name in files:
            os.chmod(Path(top) / name, 0o444)
        os.chmod(top, 0o555)


FIRST_UID = 61000  # submission k of a batch runs as uid FIRST_UID + k % UIDS when root
UIDS = 1000


def unprivileged_uid(index: int = 0) -> int | None:
    """The uid a submission runs as when the grader is root, else None. Each submission
    of a batch has its own (no account: unprivileged, group nogroup), so one cannot
    signal (`kill -1`) or outcount another graded beside it."""
    if not hasattr(os, "geteuid") or os.geteuid() != 0:
        return None
    return FIRST_UID + index % UIDS


def grade_one(
    submission: Submission,
    root: Path,
    chapters: list[ChapterInfo],
    *,
    timeout: float,
    memory_mb: int,
    hide: list[Path] | None = None,
    index: int = 0,
) -> Graded:
    """Grade one submission in a throwaway copy of the course: read-only, without
    solutions/, run as an unprivileged user when the grader is root, with the instructor's
    references (and `hide`) covered by an empty folder for the worker."""
    started = time.perf_counter()
    parts = {(p.part.chapter, f"{p.part.name}.py") for c in chapters for p in c.parts}
    try:
        with tempfile.TemporaryDirectory(prefix="grader-batch-") as tmp:
            course = Path(tmp) / "course"
            sandbox(root, course)
            impl = course / "exercises"
            notes = stage(submission, root / "exercises", parts, impl)
            _read_only(course)
            os.chmod(tmp, 0o755)
            from grader import layout

            covered = [layout.solutions_root(root), root / ".git", *(hide or [])]
            report = grade(
                course,
                chapters,
                impl,
                target="batch",
                impl_label=submission.name,
                timeout=timeout,
                memory_mb=memory_mb,
                isolation={
                    "user": unprivileged_uid(index),
                    "cleanup": [Path(tmp)],
                    "hide": [p.resolve() for p in covered],
                    "grader_home": course,
                },
            )
    except Exception as exc:  # the grader's own fault: this row says so, the batch goes on
        return Graded(submission, None, [f"not graded: internal error {type(exc).__name__}: {exc}"])
    if report.flags:
        notes.append("FLAGGED: " + "; ".join(report.flags))
    return Graded(submission, report, notes, time.perf_counter() - started)


def result_json(graded: Graded, root: Path, fmt: str) -> dict:
    """One submission's result file: the grader's own report (default) or another format."""
    if graded.report is None:
        return {"schema": BATCH_SCHEMA, "submission": graded.submission.name, "notes": graded.notes}
    if fmt != "json":
        result = export.FORMATS[fmt](graded.report, root)
        if graded.report.flags and fmt == "gradescope":
            result["output"] = (
                f"{result.get('output', '')}\nFLAGGED: {'; '.join(graded.report.flags)}".strip()
            )
        return result
    got, possible = export.score(graded.report)
    report = render.report_json(graded.report, root, root / "exercises", recorded=False)
    return {
        "schema": BATCH_SCHEMA,
        "submission": graded.submission.name,
        "source": graded.submission.source.name,
        "score": got,
        "max_score": possible,
        "notes": graded.notes,
        "flags": graded.report.flags,
        "report": report,
    }


def write_gradebook(path: Path, chapters: list[ChapterInfo], graded: list[Graded]) -> None:
    """One row per submission, one column per exercise (points earned), then the totals."""
    exercises = [e for c in chapters for e in c.exercises]
    with path.open("w", newline="") as handle:
        out = csv.writer(handle)
        out.writerow(["submission", *[e.id for e in exercises], "score", "max_score", "percent", "notes"])
        out.writerow(["(points)", *[export.plain_number(e.points) for e in exercises], "", "", "", ""])
        possible = sum(e.points for e in exercises)
        for g in sorted(graded, key=lambda g: g.submission.name):
            earned = [export.earned(g.report, e) if g.report else 0.0 for e in exercises]
            got = sum(earned)
            percent = round(100 * got / possible, 1) if possible else 0.0
            notes = g.notes + (g.report.problems if g.report else [])
            totals = [export.plain_number(got), export.plain_number(possible), percent, "; ".join(notes)]
            out.writerow([g.submission.name, *map(export.plain_number, earned), *totals])


def run_batch(
    root: Path,
    submissions: list[Submission],
    chapters: list[ChapterInfo],
    out_dir: Path,
    *,
    jobs: int,
    timeout: float = runner.DEFAULT_TIMEOUT_S,
    memory_mb: int = runner.DEFAULT_MEMORY_MB,
    fmt: str = "json",
    progress: Callable[[Graded, int, int], None] | None = None,
) -> list[Graded]:
    """Grade every submission, `jobs` at a time; write <name>.json each and gradebook.csv."""
    out_dir.mkdir(parents=True, exist_ok=True)
    done: list[Graded] = []
    folders = {s.source.parent.resolve() for s in submissions}
    hide = [*folders, out_dir.resolve()]  # other learners' work and the gradebook
    with ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
        futures = [
            pool.submit(
                grade_one, s, root, chapters, timeout=timeout, memory_mb=memory_mb, hide=hide, index=i
            )
            for i, s in enumerate(submissions)
        ]
        try:
            for future in as_completed(futures):
                graded = future.result()
                (out_dir / f"{graded.submission.name}.json").write_text(
                    json.dumps(result_json(graded, root, fmt), indent=2) + "\n"
                )
                done.append(graded)
                if progress:
                    progress(graded, len(done), len(submissions))
        except BaseException:  # Ctrl-C, SIGTERM: stop every worker now, not after the batch
            runner.CANCEL.set()
            pool.shutdown(wait=True, cancel_futures=True)
            runner.CANCEL.clear()
            raise
    write_gradebook(out_dir / "gradebook.csv", chapters, done)
    return done
