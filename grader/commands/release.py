"""`python -m grader release OUT`: write the learner's copy of the course (grader/release.py)."""

from __future__ import annotations

import argparse
from pathlib import Path

from grader import layout, release
from grader.env import Env, ExitCode


def run(args: argparse.Namespace, env: Env) -> ExitCode:
    root = env.root
    assert root is not None
    solutions = layout.solutions_root(root, dict(env.environ))
    if not solutions.is_dir():
        env.err(f"grader: no solutions at {solutions}: a release is built from the instructor's copy")
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
