"""`python -m grader gradescope-bundle OUT.zip`: the autograder bundle for Gradescope
(grader/instructor/gradescope.py)."""

from __future__ import annotations

import argparse
from pathlib import Path

from grader.commands import references
from grader.env import Env, ExitCode
from grader.grade import SelectionError, select
from grader.instructor import gradescope, release


def run(args: argparse.Namespace, env: Env) -> ExitCode:
    root = env.root
    assert root is not None
    solutions = references(env, "the bundle is built from the instructor's copy")
    if solutions is None:
        return ExitCode.USAGE
    if args.target:
        try:
            select(root, args.target, impl=root / "exercises")
        except SelectionError as exc:
            env.err(f"grader: {exc}")
            return ExitCode.USAGE
    out = Path(args.out)
    if out.suffix != ".zip":
        env.err(f"grader: {out} should end in .zip (Gradescope takes a zip file)")
        return ExitCode.USAGE
    try:
        count = gradescope.build(root, solutions, out, args.target)
    except release.ReleaseError as exc:
        env.err(f"grader: {exc}")
        return ExitCode.NOT_ALL_PASSED
    env.out(
        f"gradescope bundle: {out} ({count} files: setup.sh, run_autograder, the course without solutions/)"
    )
    env.out("upload it as the autograder of a programming assignment (docs/instructors.md, Gradescope)")
    return ExitCode.OK
