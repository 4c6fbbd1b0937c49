"""One module per `python -m grader` command, each with run(args, env) -> ExitCode; shared helpers here."""

from __future__ import annotations

from pathlib import Path

from grader import layout
from grader.env import Env


def references(env: Env, why: str) -> Path | None:
    """The instructor's solutions folder, or None after telling the user why it is needed."""
    assert env.root is not None
    solutions = layout.solutions_root(env.root, dict(env.environ))
    if solutions.is_dir():
        return solutions
    env.err(f"grader: no solutions at {solutions}: {why}")
    return None
