"""The learner's copy of the course: everything but the references and the instructor's
tools, checked so that no reference body can be recovered from it.

What ships: the set-up files, chapters/, exercises/ (the generated stubs), notebooks/, tests/, the
grader (with its own tests), coursedata/, docs/grader.md and the VSCode settings. What
does not: solutions/, bench/ (it times the references), the declared equivalent mutants
(they quote reference lines), .ci/, version control, caches and progress.

The copy's README is the learner's (docs/learner_readme.md, when the course has one), and
its docs lose their instructors' sections (a `## … (instructors)` heading and all below it
up to the next `## `). `learner_copy.problems` checks that what they say resolves there.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

from grader import layout
from grader.instructor import generate, mutants
from grader.layout import CHAPTER_RE

SHIPPED_FILES = ["README.md", "setup.cfg", "pyproject.toml", ".gitignore", "LICENSE"]
SHIPPED_FOLDERS = ["chapters", "exercises", "notebooks", "tests", "grader", "coursedata", ".vscode"]
SHIPPED_DOCS = ["docs/grader.md"]
# Declared equivalent mutants quote reference lines: instructors only.
IGNORED = shutil.ignore_patterns(
    "__pycache__", "*.pyc", ".progress", "*.egg-info", ".*_cache", mutants.EQUIVALENTS
)
LEARNER_README = "docs/learner_readme.md"  # the copy's README.md
INSTRUCTORS_MARK = "(instructors)"  # ends the heading of a doc section the copy leaves out
MIN_LEAK_CHARS = 12  # a block shorter than this (`return x.T`) is too generic to call a leak


class ReleaseError(Exception):
    """The release cannot be built as asked; the message says what to do."""


@dataclass
class Leak:
    reference: str  # solutions/<chapter>/<part>.py:line
    found_in: str  # the released file holding the block's lines


def _significant(lines: list[str]) -> list[str]:
    """The lines that carry code: stripped, without blank and comment-only lines."""
    kept = (line.strip() for line in lines)
    return [line for line in kept if line and not line.startswith("#")]


def _reference_blocks(solutions: Path) -> list[tuple[str, list[str]]]:
    found = []
    for path in sorted(solutions.glob("chapter*/part*.py")):
        source = path.read_text()
        lines = source.splitlines()
        for block in generate.blocks(source, str(path)):
            body = _significant(lines[block.begin : block.end - 1])
            if sum(len(line) for line in body) >= MIN_LEAK_CHARS:
                where = f"{path.relative_to(solutions.parent)}:{block.begin + 1}"
                found.append((where, body))
    return found


def _contains(haystack: list[str], needle: list[str]) -> bool:
    width = len(needle)
    return any(haystack[i : i + width] == needle for i, line in enumerate(haystack) if line == needle[0])


def leaks(release: Path, solutions: Path) -> list[Leak]:
    """Reference bodies whose code lines all appear, in order, in some released file."""
    texts = {}
    for path in release.rglob("*"):
        if path.is_file() and path.suffix in (".py", ".md", ".txt", ".cfg", ".toml", ".json", ".ipynb"):
            texts[path] = _significant(path.read_text(errors="replace").splitlines())
    found = []
    for where, body in _reference_blocks(solutions):
        for path, lines in texts.items():
            rel = path.relative_to(release)
            if _contains(lines, body) and not _builds_on(rel, where):
                found.append(Leak(where, str(rel)))
    return found


def _builds_on(rel: Path, where: str) -> bool:
    """`rel` is a file of a later chapter than the reference at `where`: each chapter ships
    what it needs of earlier chapters as given code (a ReLU, a minibatch loop), so that it
    can be read on its own; a learner there has met those answers already."""
    if len(rel.parts) < 2 or rel.parts[0] not in ("exercises", "chapters"):
        return False
    later, earlier = rel.parts[1], Path(where).parts[1]
    chapters = CHAPTER_RE.match(later) and CHAPTER_RE.match(earlier)
    return bool(chapters) and layout.number(later) > layout.number(earlier)


def is_shipped(root: Path, rel: Path) -> bool:
    """The course's file or folder `rel` (relative to the course) is in the learner's copy."""
    if rel == Path("README.md"):
        return (root / LEARNER_README).is_file() or (root / rel).is_file()
    if not (root / rel).exists() or not rel.parts:
        return False
    if str(rel) in SHIPPED_FILES + SHIPPED_DOCS or (rel == Path("docs") and SHIPPED_DOCS):
        return True
    if rel.parts[0] not in SHIPPED_FOLDERS:
        return False
    return not any(
        IGNORED(str(root.joinpath(*rel.parts[:i])), [rel.parts[i]]) for i in range(1, len(rel.parts))
    )


def learner_doc(text: str) -> str:
    """A doc without its instructors' sections."""
    kept: list[str] = []
    dropping = False
    for line in text.splitlines(keepends=True):
        if line.startswith("## "):
            dropping = line.rstrip().endswith(INSTRUCTORS_MARK)
        if not dropping:
            kept.append(line)
    return "".join(kept)


def shipped_markdown(root: Path) -> dict[Path, str]:
    """Every markdown file of the learner's copy (relative path -> its text there)."""
    texts: dict[Path, str] = {}
    readme = root / LEARNER_README if (root / LEARNER_README).is_file() else root / "README.md"
    if readme.is_file():
        texts[Path("README.md")] = readme.read_text()
    for name in SHIPPED_DOCS:
        if (root / name).is_file():
            texts[Path(name)] = learner_doc((root / name).read_text())
    for path in sorted((root / "chapters").rglob("*.md")):
        texts[path.relative_to(root)] = path.read_text()
    return texts


def build(root: Path, solutions: Path, out: Path) -> list[Path]:
    """Write the learner's copy of the course at `root` into `out` (new or empty)."""
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise ReleaseError(f"{out} exists and is not empty; choose a new folder")
    if out.resolve().is_relative_to(root.resolve()):
        raise ReleaseError(f"{out} is inside the course; choose a folder outside it")
    if solutions.is_dir():
        stale = generate.out_of_sync(solutions, root / "exercises")
        if stale:
            names = ", ".join(str(p.relative_to(root)) for p in stale[:3])
            raise ReleaseError(f"exercises/ is out of date ({names}…): run `python -m grader generate`")
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for name in SHIPPED_FILES + SHIPPED_DOCS:
        if (root / name).is_file():
            (out / name).parent.mkdir(parents=True, exist_ok=True)
            written.append(Path(shutil.copy2(root / name, out / name)))
    for name in SHIPPED_FOLDERS:
        if (root / name).is_dir():
            shutil.copytree(root / name, out / name, ignore=IGNORED)
            written.append(out / name)
    for rel, text in shipped_markdown(root).items():  # the learner's README and docs
        (out / rel).write_text(text)
    if solutions.is_dir():
        found = leaks(out, solutions)
        if found:
            shutil.rmtree(out)
            detail = "; ".join(f"{leak.reference} in {leak.found_in}" for leak in found[:5])
            raise ReleaseError(f"reference code would ship, so nothing was written: {detail}")
    return written
