"""Where things live in a course folder, and how a path in one tree names its twins.

A course folder holds chapters/, exercises/, solutions/ and tests/; the same
`chapterN_slug/partK_slug` names appear in all four (docs/grader.md, "Layout").
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

CHAPTER_RE = re.compile(r"^chapter(\d+)_[a-z0-9_]+$")
PART_RE = re.compile(r"^part(\d+)_[a-z0-9_]+$")

ROOT_VARIABLE = "GRADER_COURSE_ROOT"
SOLUTIONS_VARIABLE = "GRADER_SOLUTIONS"


@dataclass(frozen=True)
class Part:
    chapter: str
    name: str

    @property
    def id(self) -> str:
        return f"{self.chapter}/{self.name}"

    @property
    def module(self) -> str:
        """The dotted name a part's file is imported under, with its impl root on sys.path."""
        return f"{self.chapter}.{self.name}"

    def source(self, impl_root: Path) -> Path:
        return impl_root / self.chapter / f"{self.name}.py"

    def test_file(self, root: Path) -> Path:
        return root / "tests" / self.chapter / f"test_{self.name}.py"

    def reading(self, root: Path) -> Path:
        return root / "chapters" / self.chapter / f"{self.name}.md"

    @classmethod
    def of_test_file(cls, path: Path) -> "Part | None":
        """The part a test file belongs to: tests/<chapter>/test_<part>.py."""
        chapter = path.parent.name
        if not (CHAPTER_RE.match(chapter) and path.name.startswith("test_")):
            return None
        name = path.stem[len("test_") :]
        return cls(chapter, name) if PART_RE.match(name) else None

    @classmethod
    def of_source_file(cls, path: Path) -> "Part | None":
        """The part an exercise or solution file belongs to: <root>/<chapter>/<part>.py."""
        if CHAPTER_RE.match(path.parent.name) and PART_RE.match(path.stem):
            return cls(path.parent.name, path.stem)
        return None


def number(name: str) -> int:
    """chapter3_cnns -> 3, part2_conv -> 2 (for sorting: chapter10 after chapter9)."""
    match = CHAPTER_RE.match(name) or PART_RE.match(name)
    return int(match.group(1)) if match else 10**6


def course_root(environ: dict[str, str] | None = None) -> Path:
    """The course folder: $GRADER_COURSE_ROOT, else the folder this package sits in."""
    env = os.environ if environ is None else environ
    if env.get(ROOT_VARIABLE):
        return Path(env[ROOT_VARIABLE]).resolve()
    return Path(__file__).resolve().parent.parent


def solutions_root(root: Path, environ: dict[str, str] | None = None) -> Path:
    """The reference implementations: $GRADER_SOLUTIONS, else <root>/solutions."""
    env = os.environ if environ is None else environ
    if env.get(SOLUTIONS_VARIABLE):
        return Path(env[SOLUTIONS_VARIABLE]).resolve()
    return root / "solutions"


def impl_root(root: Path, impl: str, environ: dict[str, str] | None = None) -> Path:
    """Resolve an --impl value: 'exercises', 'solutions', or a folder laid out like exercises/."""
    if impl == "exercises":
        return root / "exercises"
    if impl == "solutions":
        return solutions_root(root, environ)
    return Path(impl).expanduser().resolve()


def source_files(folder: Path) -> list[Path]:
    """The part files under `folder` (solutions/ or exercises/ laid out), in course order."""
    files = [p for p in folder.glob("chapter*/part*.py") if Part.of_source_file(p)]
    return sorted(files, key=lambda p: (number(p.parent.name), number(p.stem)))


def chapters(root: Path) -> list[str]:
    tests = root / "tests"
    if not tests.is_dir():
        return []
    found = [p.name for p in tests.iterdir() if p.is_dir() and CHAPTER_RE.match(p.name)]
    return sorted(found, key=number)


def parts(root: Path, chapter: str) -> list[Part]:
    folder = root / "tests" / chapter
    found = [Part.of_test_file(p) for p in folder.glob("test_part*.py")]
    return sorted((p for p in found if p), key=lambda p: number(p.name))
