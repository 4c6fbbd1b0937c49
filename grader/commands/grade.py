"""`python -m grader [TARGET] [-k NAME]`: grade, show, and record progress; or, with no
target, show the progress recorded so far and the next exercise."""

from __future__ import annotations

import argparse
import json
import shutil
import sqlite3
from pathlib import Path

from grader import catalog, export, layout, render
from grader.env import Env, ExitCode
from grader.grade import Report, SelectionError, grade, select
from grader.store import Store, StoreError, default_path


def run(args: argparse.Namespace, env: Env) -> ExitCode:
    root = env.root
    assert root is not None
    if args.target is None and args.name is None:
        return _progress(args, env)
    impl_path = layout.impl_root(root, args.impl, dict(env.environ))
    if not impl_path.is_dir():
        env.err(f"grader: no implementation folder at {impl_path} (--impl {args.impl})")
        return ExitCode.USAGE
    try:
        chapters = select(root, args.target, args.name, impl_path)
    except SelectionError as exc:
        env.err(f"grader: {exc}")
        return ExitCode.USAGE
    report = grade(
        root,
        chapters,
        impl_path,
        target=args.target or "",
        impl_label=args.impl,
        timeout=args.timeout,
        memory_mb=args.memory_mb,
        debug=args.debug,
        filtered=bool(args.name),
    )
    # Only the learner's own exercises/ count as progress; other implementations are trials.
    recorded = args.impl == "exercises"
    upcoming = None
    if recorded:
        store = Store(default_path(root, dict(env.environ)))
        try:
            store.record(report)
            upcoming = render.next_exercise(catalog.course(root), store.latest(), store.recent())
        except (StoreError, OSError, sqlite3.Error) as exc:
            env.err(f"grader: progress not saved: {exc}")
            recorded = False
        if store.notice:
            env.err(f"grader: {store.notice}")
    fmt = args.format or ("json" if args.json else "text")
    if fmt == "text" and not args.output:
        width = shutil.get_terminal_size((100, 24)).columns if env.terminal else 100
        for line in render.report_text(
            report, root, bool(env.terminal), env.colour, width=width, verbose=args.verbose, upcoming=upcoming
        ):
            env.out(line)
    else:
        text = _formatted(fmt, report, root, impl_path, recorded)
        if args.output:
            Path(args.output).write_text(text + "\n")
        else:
            env.out(text)
    if report.problems:
        return ExitCode.GRADER_ERROR
    return ExitCode.OK if report.all_passed else ExitCode.NOT_ALL_PASSED


def _formatted(fmt: str, report: Report, root: Path, impl_path: Path, recorded: bool) -> str:
    if fmt == "text":
        return "\n".join(render.report_text(report, root, terminal=False, colour=False, verbose=True))
    if fmt == "json":
        return json.dumps(render.report_json(report, root, impl_path, recorded), indent=2)
    return json.dumps(export.FORMATS[fmt](report, root), indent=2)


def _progress(args: argparse.Namespace, env: Env) -> ExitCode:
    root = env.root
    assert root is not None
    chapters = catalog.course(root)
    if not chapters:
        env.err(f"grader: no course tests under {root / 'tests'}")
        return ExitCode.USAGE
    store = Store(default_path(root, dict(env.environ)))
    try:
        latest, recent = store.latest(), store.recent()
    except (StoreError, OSError, sqlite3.Error) as exc:
        env.err(f"grader: could not read your progress: {exc}")
        latest, recent = {}, []
    if store.notice:
        env.err(f"grader: {store.notice}")
    if args.json:
        env.out(json.dumps(render.progress_json(chapters, latest, root, recent), indent=2))
    else:
        for line in render.progress_text(chapters, latest, root, bool(env.terminal), env.colour, recent):
            env.out(line)
    return ExitCode.OK
