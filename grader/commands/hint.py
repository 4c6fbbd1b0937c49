"""`python -m grader hint [NAME]`: reveal the next hint of an exercise's ladder (the folded
hints of its brief, in order) and record that it was used; with no name, the hint is for
the exercise to do next."""

from __future__ import annotations

import argparse
import sqlite3
from pathlib import Path

from grader import briefs, catalog, render
from grader.catalog import ChapterInfo, Exercise
from grader.env import Env, ExitCode
from grader.grade import SelectionError, closest, matches, select
from grader.store import Store, StoreError, default_path


def resolve(root: Path, token: str) -> Exercise:
    """An exercise from its name (`rnn_backward`) or, where names repeat, its place
    (`chapter4/part1/rnn_backward`, `4/1/rnn_backward`)."""
    target, _, name = token.rpartition("/")
    exercises = [e for c in select(root, target or None) for e in c.exercises]
    chosen = matches([e.name for e in exercises], name)
    found = [e for e in exercises if e.name in chosen]
    if not found:
        close = closest([e.name for e in exercises], name)
        also = f"; closest: {', '.join(close)}" if close else ""
        raise SelectionError(f"no exercise named {name!r}{' in ' + target if target else ''}{also}")
    if len(found) > 1:
        places = ", ".join(short_id(e) for e in found[:6])
        raise SelectionError(f"{token!r} names {len(found)} exercises ({places}); give one of these")
    return found[0]


def short_id(exercise: Exercise) -> str:
    chapter = exercise.part.chapter.split("_")[0]
    part = exercise.part.name.split("_")[0]
    return f"{chapter}/{part}/{exercise.name}"


def _unique_name(chapters: list[ChapterInfo], exercise: Exercise) -> str:
    """How to name the exercise on the command line: its name, unless another has it too."""
    same = sum(e.name == exercise.name for c in chapters for e in c.exercises)
    return exercise.name if same == 1 else short_id(exercise)


def run(args: argparse.Namespace, env: Env) -> ExitCode:
    root = env.root
    assert root is not None
    store = Store(default_path(root, dict(env.environ)))
    chapters = catalog.course(root)
    try:
        if args.name:
            exercise = resolve(root, args.name)
        else:
            found = render.next_exercise(chapters, store.latest(), store.recent())
            if found is None:
                env.out("Every exercise passes: no hint needed.")
                return ExitCode.OK
            exercise = found
        shown = store.hints_shown(exercise.id)
    except SelectionError as exc:
        env.err(f"grader: {exc}")
        return ExitCode.USAGE
    except (StoreError, OSError, sqlite3.Error) as exc:
        env.err(f"grader: could not read your progress: {exc}")
        return ExitCode.GRADER_ERROR
    reading = exercise.part.reading(root)
    brief = briefs.read(reading).get(exercise.name)
    where = f"{reading.relative_to(root)}:{brief.line}" if brief else str(reading.relative_to(root))
    if brief is None or not brief.hints:
        env.out(f"{exercise.name} has no hints; its brief is at {where}.")
        return ExitCode.OK
    hints, command = brief.hints, f"python -m grader hint {_unique_name(chapters, exercise)}"
    if shown >= len(hints):
        env.out(f"{exercise.name}: you have seen all {len(hints)} hints ({where}).")
        for level, text in enumerate(hints, 1):
            env.out(f"\nHint {level} of {len(hints)}:\n{text}")
        return ExitCode.OK
    level = shown + 1
    try:
        store.record_hint(exercise.id, level)
    except (StoreError, OSError, sqlite3.Error) as exc:
        env.err(f"grader: hint not recorded: {exc}")
    env.out(f"{exercise.name} — hint {level} of {len(hints)} ({where})\n")
    env.out(hints[level - 1])
    if level < len(hints):
        env.out(f"\nStill stuck? `{command}` shows hint {level + 1} of {len(hints)}.")
    else:
        env.out(f"\nThat was the last hint; the brief at {where} has the maths.")
    return ExitCode.OK
