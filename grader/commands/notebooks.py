"""`python -m grader notebooks [--check] [--git URL]`: write notebooks/ from exercises/."""

from __future__ import annotations

import argparse

from grader.env import Env, ExitCode


def run(args: argparse.Namespace, env: Env) -> ExitCode:
    root = env.root
    assert root is not None
    try:
        from grader.instructor import notebooks
    except ImportError:
        env.err("grader: notebooks need jupytext: pip install -e '.[dev]'")
        return ExitCode.USAGE
    exercises, out = root / "exercises", root / "notebooks"
    if args.check:
        stale = notebooks.out_of_sync(exercises, out)
        for path in stale:
            env.out(f"out of date: {path.relative_to(root)}")
        if stale:
            env.out("run `python -m grader notebooks` to rewrite them")
        return ExitCode.NOT_ALL_PASSED if stale else ExitCode.OK
    written = notebooks.write(exercises, out, args.git)
    for path in written:
        env.out(f"wrote {path.relative_to(root)}")
    env.out(f"{len(written)} notebook(s) written; the others were already up to date")
    return ExitCode.OK
