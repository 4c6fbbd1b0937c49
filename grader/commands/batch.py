"""`python -m grader batch SUBMISSIONS`: grade a cohort into a gradebook (grader/instructor/batch.py)."""

from __future__ import annotations

import argparse
from pathlib import Path

from grader import export
from grader.env import Env, ExitCode
from grader.grade import SelectionError, select
from grader.instructor import batch


def run(args: argparse.Namespace, env: Env) -> ExitCode:
    root = env.root
    assert root is not None
    folder = Path(args.submissions)
    if not folder.is_dir():
        env.err(f"grader: no folder of submissions at {folder}")
        return ExitCode.USAGE
    try:
        chapters = select(root, args.target, impl=root / "exercises")
    except SelectionError as exc:
        env.err(f"grader: {exc}")
        return ExitCode.USAGE
    submissions = batch.discover(folder)
    if not submissions:
        env.err(f"grader: {folder} holds no submission (a folder or a .zip/.tar.gz archive per learner)")
        return ExitCode.USAGE
    out_dir = Path(args.out)
    what = args.target or "every chapter"
    env.out(f"grading {len(submissions)} submissions ({what}), {args.jobs} at a time, into {out_dir}/")

    def progress(graded: batch.Graded, done: int, total: int) -> None:
        if graded.report is None:
            summary = "not graded"
        else:
            got, possible = export.score(graded.report)
            summary = f"{export.plain_number(got)}/{export.plain_number(possible)} points"
        notes = f"  ({'; '.join(graded.notes)})" if graded.notes else ""
        env.out(f"[{done}/{total}] {graded.submission.name}: {summary} in {graded.seconds:.1f} s{notes}")

    graded = batch.run_batch(
        root,
        submissions,
        chapters,
        out_dir,
        jobs=args.jobs,
        timeout=args.timeout,
        memory_mb=args.memory_mb,
        fmt=args.format,
        progress=progress,
    )
    env.out(f"gradebook: {out_dir / 'gradebook.csv'}; one {args.format} result per submission beside it")
    ungraded = [g for g in graded if g.report is None]
    return ExitCode.GRADER_ERROR if ungraded else ExitCode.OK
