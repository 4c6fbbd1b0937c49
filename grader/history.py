"""The learner's progress over time, read back from the store: per exercise when it first
passed, how many attempts and hints it took and roughly how long; per chapter whether it
is complete; and how many hours of work are left by the briefs' estimates.

Time spent is estimated from the records alone: the time between a record (a graded run,
a check() in a notebook, a hint) and the learner's previous record counts as work when it
is under ACTIVE_GAP, shared among the exercises that record was about and that had not yet
passed (a longer gap is a break, and counts for nothing).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from grader import briefs
from grader.catalog import ChapterInfo, Exercise
from grader.outcomes import Status
from grader.store import CHECK_TARGET, History

ACTIVE_GAP = timedelta(minutes=30)
COMPLETE, UNCONFIRMED, STARTED, UNTOUCHED = "complete", "passed one by one", "in progress", "not started"


@dataclass
class ExerciseProgress:
    exercise: Exercise
    status: Status  # the latest result
    first_passed: datetime | None = None
    attempts: int = 0  # graded runs, up to its first pass, in which it was more than a blank stub
    hints: int = 0
    seconds: float = 0.0
    minutes_estimate: int | None = None  # the brief's "about N minutes"


@dataclass
class ChapterProgress:
    chapter: ChapterInfo
    exercises: list[ExerciseProgress]
    state: str  # COMPLETE only after a run of the whole chapter passed, and nothing failed since

    @property
    def passed(self) -> int:
        return sum(e.status is Status.PASSED for e in self.exercises)

    @property
    def minutes_left(self) -> int:
        return sum(e.minutes_estimate or 0 for e in self.exercises if e.status is not Status.PASSED)


@dataclass
class _Event:
    at: datetime
    statuses: dict[str, Status]  # exercise id -> status (graded runs)
    touched: set[str]  # exercises the record was about


def _events(history: History) -> list[_Event]:
    results: dict[int, dict[str, Status]] = defaultdict(dict)
    for run_id, exercise, status in history.results:
        results[run_id][exercise] = Status(status)
    events = []
    for run_id, finished, target in history.runs:
        statuses = results.get(run_id, {})
        touched = {e for e, s in statuses.items() if s is not Status.TODO}
        if target.startswith(CHECK_TARGET):
            touched = {target[len(CHECK_TARGET) :]}
        events.append(_Event(datetime.fromisoformat(finished), statuses, touched))
    for exercise, _, shown in history.hints:
        events.append(_Event(datetime.fromisoformat(shown), {}, {exercise}))
    return sorted(events, key=lambda e: e.at)  # stable: a run before a hint of the same second


def chapters_progress(root: Path, chapters: list[ChapterInfo], history: History) -> list[ChapterProgress]:
    every = {e.id: ExerciseProgress(e, Status.TODO) for c in chapters for e in c.exercises}
    for chapter in chapters:
        for part in chapter.parts:
            found = briefs.read(part.part.reading(root))
            for e in part.exercises:
                every[e.id].minutes_estimate = found[e.name].minutes if e.name in found else None
    for exercise, level, _ in history.hints:
        if exercise in every:
            every[exercise].hints = max(every[exercise].hints, level)
    previous: datetime | None = None
    confirmed = {c.name: False for c in chapters}
    for event in _events(history):
        working = [every[e] for e in event.touched if e in every and every[e].first_passed is None]
        if previous is not None and working and event.at - previous <= ACTIVE_GAP:
            share = (event.at - previous).total_seconds() / len(working)
            for row in working:
                row.seconds += share
        previous = event.at
        for exercise, status in event.statuses.items():
            if exercise not in every:  # an exercise the course no longer has
                continue
            row = every[exercise]
            row.status = status
            if row.first_passed is None and status is not Status.TODO:
                row.attempts += 1
                if status is Status.PASSED:
                    row.first_passed = event.at
        for chapter in chapters:
            ids = [e.id for e in chapter.exercises]
            if all(event.statuses.get(i) is Status.PASSED for i in ids):
                confirmed[chapter.name] = True
            elif any(event.statuses.get(i, Status.PASSED) is not Status.PASSED for i in ids):
                confirmed[chapter.name] = False
    out = []
    for chapter in chapters:
        rows = [every[e.id] for e in chapter.exercises]
        if confirmed[chapter.name]:
            state = COMPLETE
        elif all(r.status is Status.PASSED for r in rows):
            state = UNCONFIRMED
        elif any(r.attempts or r.hints for r in rows):
            state = STARTED
        else:
            state = UNTOUCHED
        out.append(ChapterProgress(chapter, rows, state))
    return out


def passes_over_time(progress: list[ChapterProgress]) -> dict[str, tuple[list[float], list[float]]]:
    """Per chapter with a pass, and for the course: (days since the first pass, exercises
    passed by then), as a step curve ready to draw."""
    times = sorted(e.first_passed for c in progress for e in c.exercises if e.first_passed)
    if not times:
        return {}
    start = times[0]
    series = {}
    groups = [(c.chapter.name.split("_")[0], c.exercises) for c in progress]
    for label, rows in [*groups, ("all chapters", [e for c in progress for e in c.exercises])]:
        passed = sorted(e.first_passed for e in rows if e.first_passed)
        if not passed:
            continue
        xs, ys = [0.0], [0.0]
        for count, at in enumerate(passed, 1):
            day = (at - start).total_seconds() / 86400
            xs += [day, day]
            ys += [ys[-1], float(count)]
        series[label] = (xs, ys)
    return series
