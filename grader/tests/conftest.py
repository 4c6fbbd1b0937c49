"""Shared set-up for the grader's own tests: the fixture course and an injected CLI Env."""

from __future__ import annotations

import io
import os
import shutil
from pathlib import Path

import pytest

from grader.cli import main
from grader.env import Env

FIXTURE = Path(__file__).parent / "fixture_course"
COURSE = Path(__file__).resolve().parents[2]


@pytest.fixture(autouse=True)
def _workers_import_this_grader(monkeypatch: pytest.MonkeyPatch) -> None:
    """Grading workers start in the course folder they grade; a copy of the fixture course
    holds no grader/, so without this they would import whichever grader is installed."""
    paths = [str(COURSE), *filter(None, os.environ.get("PYTHONPATH", "").split(os.pathsep))]
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(paths))


@pytest.fixture
def course(tmp_path: Path) -> Path:
    """A private copy of the fixture course, so a test may break files in it."""
    root = tmp_path / "course"
    shutil.copytree(FIXTURE, root, ignore=shutil.ignore_patterns("__pycache__"))
    return root


class Cli:
    """Runs `python -m grader` in-process against a course, with captured output."""

    def __init__(self, root: Path, db: Path):
        self.root = root
        self.db = db

    def __call__(self, *argv: str, terminal: bool = False, environ: dict | None = None):
        out, err = io.StringIO(), io.StringIO()
        env = Env(
            stdout=out,
            stderr=err,
            terminal=terminal,
            root=self.root,
            environ={"GRADER_PROGRESS_DB": str(self.db), **(environ or {})},
        )
        code = main(list(argv), env)
        return code, out.getvalue(), err.getvalue()


@pytest.fixture
def cli(course: Path, tmp_path: Path) -> Cli:
    return Cli(course, tmp_path / "progress.sqlite3")
