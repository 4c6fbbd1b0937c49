"""`python -m grader release OUT`: write the learner's copy of the course (grader/instructor/release.py)."""

from __future__ import annotations

import argparse
from pathlib import Path

from grader.commands import references
from grader.env import Env, ExitCode
from grader.instructor import release


def run(args: argparse.Namespace, env: Env) -> ExitCode:
    root = env.root
    assert root is not None
    solutions = references(env, "a release is built from the instructor's copy")
    if solutions is None:
        return ExitCode.USAGE
    out = Path(args.out)
    try:
        written = release.build(root, solutions, out)
    except release.ReleaseError as exc:
        env.err(f"grader: {exc}")
        return ExitCode.NOT_ALL_PASSED
    env.out(f"release: wrote {', '.join(p.name for p in written)} to {out}/")
    env.out("checked: no solutions/, no reference body in any shipped file")
    env.out(f'a learner runs: cd {out} && pip install -e ".[data]" && python -m grader chapter0')
    return ExitCode.OK
