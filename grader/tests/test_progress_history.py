"""`grader progress`: first passes, attempts, hints, time spent and chapter completion,
read back from the store on a simulated clock; and its picture."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from datetime import datetime, timedelta, timezone

import pytest

from grader import catalog, store
from grader.grade import ExerciseResult, Report
from grader.outcomes import Status

START = datetime(2026, 1, 1, 10, 0, tzinfo=timezone.utc)


class Clock:
    def __init__(self) -> None:
        self.at = START

    def __call__(self) -> str:
        return self.at.isoformat(timespec="seconds")

    def advance(self, **delta: float) -> None:
        self.at += timedelta(**delta)


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    fake = Clock()
    monkeypatch.setattr(store, "now", fake)
    return fake


def _record(cli, statuses: dict[str, Status], default: Status | None = None) -> None:
    """A graded run with these results (every other exercise of the chapter at `default`)."""
    results = {}
    for exercise in catalog.course(cli.root)[0].exercises:
        status = statuses.get(exercise.name, default)
        if status is not None:
            results[exercise.id] = ExerciseResult(exercise, status, "", 0.1)
    store.Store(cli.db).record(Report("1", "exercises", [], results, [], "", 0.5))


def _twice(progress: dict) -> dict:
    rows = progress["chapters"][0]["exercises"]
    return next(e for e in rows if e["id"].endswith("/twice"))


def test_a_learners_days_are_summed_up(cli, clock, tmp_path):
    _record(cli, {"twice": Status.FAILED}, default=Status.TODO)
    clock.advance(minutes=10)
    assert cli("hint", "twice")[0] == 0
    clock.advance(minutes=5)
    _record(cli, {"twice": Status.PASSED})
    code, out, _ = cli("progress", "--json", "--picture", str(tmp_path / "p.svg"))
    twice = _twice(json.loads(out))
    assert code == 0
    assert twice["first_passed"] == (START + timedelta(minutes=15)).isoformat()
    assert (twice["attempts"], twice["hints"], twice["seconds"]) == (2, 1, 900.0)
    assert json.loads(out)["chapters"][0]["state"] == "in progress"

    clock.advance(days=1)  # the next day: a break is not time spent
    _record(cli, {}, default=Status.PASSED)
    code, out, _ = cli("progress", "--picture", str(tmp_path / "p.svg"))
    assert "13/13 passed, complete; 15 min spent, nothing left" in out
    assert "twice " in out and "2026-01-01" in out
    assert f"Picture: {tmp_path / 'p.svg'}" in out
    svg = ET.parse(tmp_path / "p.svg").getroot()
    assert svg.tag.endswith("svg") and "Exercises passed over time" in ET.tostring(svg, encoding="unicode")


def test_a_chapter_is_complete_only_after_a_whole_chapter_run(cli, clock):
    _record(cli, {}, default=Status.PASSED)
    clock.advance(minutes=5)
    _record(cli, {"twice": Status.FAILED})  # an edit broke an exercise that had passed
    progress = json.loads(cli("progress", "--json")[1])
    assert progress["chapters"][0]["state"] == "in progress"
    assert _twice(progress)["attempts"] == 1  # attempts count up to the first pass
    clock.advance(minutes=5)
    _record(cli, {"twice": Status.PASSED})  # fixed, but graded alone
    out = cli("progress")[1]
    assert "passed one by one — confirm with `python -m grader chapter1`" in out
    clock.advance(minutes=5)
    _record(cli, {}, default=Status.PASSED)
    assert json.loads(cli("progress", "--json")[1])["chapters"][0]["state"] == "complete"


def test_progress_before_any_run_says_so_and_counts_the_hours_left(cli):
    code, out, _ = cli("progress")
    assert code == 0 and "0/13 passed, not started" in out
    assert "Picture: none yet" in out
    assert "about 32 min left by the briefs" in out  # 11 × 2 + 5 + 5 minutes in the fixture
