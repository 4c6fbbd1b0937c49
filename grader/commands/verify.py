"""`python -m grader verify [TARGET]`: the instructor's check (see grader/instructor/verify.py)."""

from __future__ import annotations

import argparse
from pathlib import Path

from grader import layout
from grader.env import Env, ExitCode
from grader.grade import SelectionError, select
from grader.instructor import verify


def run(args: argparse.Namespace, env: Env) -> ExitCode:
    root = env.root
    assert root is not None
    solutions = (
        Path(args.solutions).resolve() if args.solutions else layout.solutions_root(root, dict(env.environ))
    )
    if not solutions.is_dir():
        env.err(f"grader: no solutions at {solutions}; pass --solutions PATH or set GRADER_SOLUTIONS")
        return ExitCode.USAGE
    try:
        problems = verify.verify(root, solutions, args.target, args.timeout, args.memory_mb)
    except SelectionError as exc:
        env.err(f"grader: {exc}")
        return ExitCode.USAGE
    for problem in problems:
        env.out(problem)
    for chapter, (named, total) in verify.diagnosis_counts(
        root, select(root, args.target, impl=solutions)
    ).items():
        env.out(f"{chapter}: {named}/{total} exercises name a known mistake when they fail")
    env.out(f"verify: {len(problems)} problem(s)" if problems else "verify: the course is consistent")
    return ExitCode.NOT_ALL_PASSED if problems else ExitCode.OK
