"""What the CLI needs from the outside world, gathered in one object so that tests can
hand it a fake one (streams, variables, terminal or not, the course folder)."""

from __future__ import annotations

import enum
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Mapping, TextIO

from grader import layout


class ExitCode(enum.IntEnum):
    OK = 0
    NOT_ALL_PASSED = 1
    USAGE = 2
    GRADER_ERROR = 3
    INTERRUPTED = 130


@dataclass
class Env:
    stdout: TextIO = field(default_factory=lambda: sys.stdout)
    stderr: TextIO = field(default_factory=lambda: sys.stderr)
    environ: Mapping[str, str] = field(default_factory=lambda: dict(os.environ))
    terminal: bool | None = None  # None: ask stdout
    root: Path | None = None  # None: from the environment, else the package's folder

    def __post_init__(self) -> None:
        if self.terminal is None:
            self.terminal = bool(getattr(self.stdout, "isatty", lambda: False)())
        if self.root is None:
            self.root = layout.course_root(dict(self.environ))

    @property
    def colour(self) -> bool:
        return bool(self.terminal) and "NO_COLOR" not in self.environ and self.environ.get("TERM") != "dumb"

    def out(self, text: str = "") -> None:
        print(text, file=self.stdout)

    def err(self, text: str) -> None:
        print(text, file=self.stderr)
