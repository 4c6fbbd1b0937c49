"""`python -m grader progress`: per chapter, the exercises done, when each first passed,
attempts, hints and time spent, the hours left by the briefs' estimates, and a picture of
exercises passed over time (an SVG file beside the progress store)."""

from __future__ import annotations

import argparse
import json
import sqlite3
from datetime import datetime
from pathlib import Path

from grader import catalog, history
from grader.env import Env, ExitCode
from grader.history import ChapterProgress, ExerciseProgress
from grader.store import Store, StoreError, default_path


def _hours(seconds: float) -> str:
    if seconds < 60:
        return "—" if seconds == 0 else "<1 min"
    if seconds < 3600:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


def when(at: datetime | None) -> str:
    return at.astimezone().strftime("%Y-%m-%d %H:%M") if at else "—"


def _rows(chapter: ChapterProgress) -> list[str]:
    active = [e for e in chapter.exercises if e.attempts or e.hints or e.first_passed]
    if not active:
        return []
    width = max(len(e.exercise.name) for e in active)
    lines = [f"    {'exercise':<{width}}  {'first passed':<16}  attempts  hints  time"]
    for e in active:
        lines.append(
            f"    {e.exercise.name:<{width}}  {when(e.first_passed):<16}  {e.attempts:>8}  "
            f"{e.hints:>5}  {_hours(e.seconds)}"
        )
    return lines


def _left(minutes: int) -> str:
    return f"about {_hours(minutes * 60)} left" if minutes else "nothing left"


def text(progress: list[ChapterProgress], picture: Path | None) -> list[str]:
    lines = ["Your progress over time"]
    for chapter in progress:
        spent = sum(e.seconds for e in chapter.exercises)
        label = chapter.chapter.name.split("_")[0]
        state = chapter.state
        if state == history.UNCONFIRMED:
            state += f" — confirm with `python -m grader {label}`"
        lines.append(
            f"  {label:<9} {chapter.chapter.title}: {chapter.passed}/{len(chapter.exercises)} passed, "
            f"{state}; {_hours(spent)} spent, {_left(chapter.minutes_left)}"
        )
        lines += _rows(chapter)
    every = [e for c in progress for e in c.exercises]
    left = sum(c.minutes_left for c in progress)
    lines.append("")
    lines.append(
        f"In all: {sum(c.passed for c in progress)}/{len(every)} exercises passed, "
        f"{_hours(sum(e.seconds for e in every))} spent, {_left(left)} by the briefs' estimates."
    )
    lines.append(f"Picture: {picture}" if picture else "Picture: none yet (no exercise has passed).")
    return lines


def _exercise_json(e: ExerciseProgress) -> dict:
    return {
        "id": e.exercise.id,
        "status": e.status.value,
        "first_passed": e.first_passed.isoformat() if e.first_passed else None,
        "attempts": e.attempts,
        "hints": e.hints,
        "seconds": round(e.seconds, 1),
        "minutes_estimate": e.minutes_estimate,
    }


def as_json(progress: list[ChapterProgress], picture: Path | None) -> dict:
    return {
        "schema": "grader.history/1",
        "picture": str(picture) if picture else None,
        "chapters": [
            {
                "id": c.chapter.name,
                "state": c.state,
                "passed": c.passed,
                "exercises": [_exercise_json(e) for e in c.exercises],
                "minutes_left": c.minutes_left,
            }
            for c in progress
        ],
    }


def draw(progress: list[ChapterProgress], path: Path) -> Path | None:
    from coursedata import line_chart

    series = history.passes_over_time(progress)
    if not series:
        return None
    path.parent.mkdir(parents=True, exist_ok=True)
    line_chart(
        series,
        path,
        title="Exercises passed over time",
        xlabel="days since your first pass",
        ylabel="exercises passed",
    )
    return path


def run(args: argparse.Namespace, env: Env) -> ExitCode:
    root = env.root
    assert root is not None
    chapters = catalog.course(root)
    store = Store(default_path(root, dict(env.environ)))
    try:
        recorded = store.history()
    except (StoreError, OSError, sqlite3.Error) as exc:
        env.err(f"grader: could not read your progress: {exc}")
        return ExitCode.GRADER_ERROR
    progress = history.chapters_progress(root, chapters, recorded)
    picture = draw(progress, Path(args.picture) if args.picture else store.path.with_name("progress.svg"))
    if args.json:
        env.out(json.dumps(as_json(progress, picture), indent=2))
    else:
        for line in text(progress, picture):
            env.out(line)
    return ExitCode.OK
