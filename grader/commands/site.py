"""`python -m grader site OUT`: the course as a static website, with your progress."""

from __future__ import annotations

import argparse
import sqlite3
from pathlib import Path

from grader.env import Env, ExitCode
from grader.store import Store, StoreError, default_path

# Folders of the course a site must not be written into (build/ or a folder outside is fine).
COURSE_FOLDERS = ("chapters", "exercises", "notebooks", "solutions", "tests", "grader", "coursedata", "docs")


def run(args: argparse.Namespace, env: Env) -> ExitCode:
    root = env.root
    assert root is not None
    from grader import website

    out, course = Path(args.out).resolve(), root.resolve()
    inside = out.relative_to(course).parts if out.is_relative_to(course) else None
    if inside is not None and (not inside or inside[0] in COURSE_FOLDERS):
        env.err(f"grader: {out} is inside the course's own folders; choose another folder")
        return ExitCode.USAGE
    try:
        site = website.build(root, out, Store(default_path(root, dict(env.environ))))
    except (StoreError, OSError, sqlite3.Error) as exc:
        env.err(f"grader: the site was not written: {exc}")
        return ExitCode.GRADER_ERROR
    for problem in site.problems:
        env.err(f"grader: {problem}")
    env.out(f"wrote {len(site.pages) + 2} pages to {out}; open {out / 'index.html'} in a browser")
    return ExitCode.OK if not site.problems else ExitCode.NOT_ALL_PASSED
