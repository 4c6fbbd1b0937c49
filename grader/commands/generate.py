"""`python -m grader generate [--check]`: write exercises/ from the marked solutions/, and
notebooks/ from exercises/ (with the dev extra's jupytext)."""

from __future__ import annotations

import argparse

from grader import layout
from grader.env import Env, ExitCode
from grader.instructor import generate


def run(args: argparse.Namespace, env: Env) -> ExitCode:
    root = env.root
    assert root is not None
    solutions = layout.solutions_root(root, dict(env.environ))
    exercises = root / "exercises"
    if not solutions.is_dir():
        env.err(f"grader: no solutions at {solutions}; set GRADER_SOLUTIONS to where they are")
        return ExitCode.USAGE
    try:
        if args.check:
            stale = generate.out_of_sync(solutions, exercises)
            try:
                from grader.instructor import notebooks

                stale += notebooks.out_of_sync(exercises, root / "notebooks")
            except ImportError:
                pass
            for path in stale:
                env.out(f"out of date: {path.relative_to(root)}")
            if stale:
                env.out("run `python -m grader generate` to rewrite them")
            return ExitCode.NOT_ALL_PASSED if stale else ExitCode.OK
        written = generate.write(solutions, exercises)
    except generate.MarkerError as exc:
        env.err(f"grader: {exc}")
        return ExitCode.USAGE
    try:
        from grader.instructor import notebooks
    except ImportError:
        env.err("grader: notebooks/ not written: jupytext is missing (pip install -e '.[dev]')")
    else:
        written += notebooks.write(exercises, root / "notebooks")
    for path in written:
        env.out(f"wrote {path.relative_to(root)}")
    env.out(f"{len(written)} file(s) written; the others were already up to date")
    return ExitCode.OK
