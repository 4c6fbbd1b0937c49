"""The learner's progress: every graded run and every exercise's result, in SQLite.

A run is written in one transaction when it ends, so a run killed halfway leaves no
trace, and concurrent runs queue on SQLite's lock (WAL mode, busy timeout) instead of
failing. The schema is versioned with PRAGMA user_version.
"""

from __future__ import annotations

import os
import sqlite3
import time
from contextlib import closing
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from grader.grade import Report

DB_VARIABLE = "GRADER_PROGRESS_DB"
CHECK_TARGET = "check "  # a run's target "check chapter/part/name": check() ran that exercise

# Each step takes the schema from its index to the next version; user_version counts the
# steps applied, so an older file is brought forward step by step and nothing is lost.
_MIGRATIONS = [
    """
CREATE TABLE runs (
    id INTEGER PRIMARY KEY,
    started_at TEXT NOT NULL,
    finished_at TEXT NOT NULL,
    target TEXT NOT NULL,
    duration_s REAL NOT NULL
);
CREATE TABLE results (
    run_id INTEGER NOT NULL REFERENCES runs(id),
    exercise TEXT NOT NULL,          -- chapter/part/name
    status TEXT NOT NULL,
    message TEXT NOT NULL,
    duration_s REAL NOT NULL
);
CREATE INDEX results_by_exercise ON results (exercise, run_id);
""",
    """
CREATE TABLE hints (
    exercise TEXT NOT NULL,          -- chapter/part/name
    level INTEGER NOT NULL,          -- 1 for the first hint of its ladder
    shown_at TEXT NOT NULL,
    PRIMARY KEY (exercise, level)
);
""",
]
SCHEMA_VERSION = len(_MIGRATIONS)


class StoreError(RuntimeError):
    pass


@dataclass
class Latest:
    status: str
    message: str
    recorded_at: str


def now() -> str:
    """The time a record is stamped with (UTC, seconds); tests move this clock."""
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


@dataclass
class History:
    """Everything recorded, oldest first: runs (id, finished_at, target), results
    (run_id, exercise, status) and hints (exercise, level, shown_at)."""

    runs: list[tuple[int, str, str]]
    results: list[tuple[int, str, str]]
    hints: list[tuple[str, int, str]]


def default_path(root: Path, environ: dict[str, str] | None = None) -> Path:
    env = os.environ if environ is None else environ
    if env.get(DB_VARIABLE):
        return Path(env[DB_VARIABLE]).expanduser()
    return root / ".progress" / "progress.sqlite3"


class Store:
    def __init__(self, path: Path):
        self.path = path
        self.notice: str | None = None  # one line for the learner when the store was damaged

    def _connect(self) -> sqlite3.Connection:
        if self.path.is_dir():
            raise StoreError(
                f"{self.path} is a folder, not a progress file: point {DB_VARIABLE} at a file (or unset it)"
            )
        try:
            return self._open()
        except sqlite3.OperationalError as exc:  # locked, unreadable, no such folder: not damage
            raise StoreError(f"cannot use {self.path}: {exc}") from None
        except sqlite3.DatabaseError as exc:  # not a database, or a malformed one
            aside = self._set_aside()
            self.notice = (
                f"your progress file {self.path} was damaged ({exc}); it was kept as {aside.name} "
                "and a fresh one started (to recover, repair that copy with `sqlite3 … .recover` "
                "or grade your chapters again)"
            )
            return self._open()

    def _open(self) -> sqlite3.Connection:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        db = sqlite3.connect(self.path, timeout=30, isolation_level=None)
        try:
            db.execute("PRAGMA busy_timeout=30000")
            self._use_wal(db)
            self._migrate(db)
            db.execute("SELECT COUNT(*) FROM runs").fetchone()
            db.execute("SELECT COUNT(*) FROM results").fetchone()
        except BaseException:
            db.close()
            raise
        return db

    def _set_aside(self) -> Path:
        """Rename the damaged file (and its WAL files) to a name no later run uses."""
        stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%S")
        aside = self.path.with_name(f"{self.path.name}.damaged-{stamp}")
        n = 2
        while aside.exists():
            aside, n = self.path.with_name(f"{self.path.name}.damaged-{stamp}-{n}"), n + 1
        self.path.rename(aside)
        for suffix in ("-wal", "-shm"):
            extra = self.path.with_name(self.path.name + suffix)
            if extra.exists():
                extra.rename(aside.with_name(aside.name + suffix))
        return aside

    @staticmethod
    def _use_wal(db: sqlite3.Connection) -> None:
        # WAL lets readers and one writer work at once; it is stored in the file, so only
        # the first connection switches it. That switch answers "locked" at once (without
        # the busy timeout) while another first run is switching too: retry briefly.
        for _ in range(200):
            try:
                if db.execute("PRAGMA journal_mode").fetchone()[0] != "wal":
                    db.execute("PRAGMA journal_mode=WAL")
                return
            except sqlite3.OperationalError:
                time.sleep(0.05)
        raise StoreError("the progress database stayed locked for 10 s; is another grader stuck?")

    def _migrate(self, db: sqlite3.Connection) -> None:
        version = db.execute("PRAGMA user_version").fetchone()[0]
        if version == SCHEMA_VERSION:
            return
        if version > SCHEMA_VERSION:
            raise StoreError(
                f"{self.path} was written by a newer grader (schema {version}); update the course"
            )
        db.execute("BEGIN IMMEDIATE")
        try:
            # Re-read under the write lock: a concurrent first run may have just migrated it.
            version = db.execute("PRAGMA user_version").fetchone()[0]
            for step in _MIGRATIONS[version:]:
                # One statement at a time: executescript would commit our lock away.
                for statement in filter(str.strip, step.split(";")):
                    db.execute(statement)
            db.execute(f"PRAGMA user_version={SCHEMA_VERSION}")
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise

    def record(self, report: Report) -> int:
        finished = now()
        with closing(self._connect()) as db:
            db.execute("BEGIN IMMEDIATE")
            try:
                run_id = db.execute(
                    "INSERT INTO runs (started_at, finished_at, target, duration_s) VALUES (?, ?, ?, ?)",
                    (report.started_at, finished, report.target or "all", report.duration),
                ).lastrowid
                db.executemany(
                    "INSERT INTO results VALUES (?, ?, ?, ?, ?)",
                    [
                        (run_id, key, r.status.value, r.message, r.duration)
                        for key, r in report.results.items()
                    ],
                )
                db.execute("COMMIT")
            except BaseException:
                db.execute("ROLLBACK")
                raise
        return int(run_id or 0)

    def latest(self) -> dict[str, Latest]:
        """Each exercise's most recent result."""
        if not self.path.exists():
            return {}
        with closing(self._connect()) as db:
            rows = db.execute(
                """SELECT r.exercise, r.status, r.message, runs.finished_at
                   FROM results r JOIN runs ON runs.id = r.run_id
                   WHERE r.run_id = (SELECT MAX(run_id) FROM results WHERE exercise = r.exercise)"""
            ).fetchall()
        return {exercise: Latest(status, message, at) for exercise, status, message, at in rows}

    def record_check(self, exercise: str) -> None:
        """Note that check() ran `exercise`'s tests in a cell: a run without results (so
        not progress), whose target names the exercise, for what comes next."""
        stamp = now()
        with closing(self._connect()) as db:
            db.execute(
                "INSERT INTO runs (started_at, finished_at, target, duration_s) VALUES (?, ?, ?, 0)",
                (stamp, stamp, CHECK_TARGET + exercise),
            )

    def recent(self) -> list[str]:
        """The exercises of the latest run: those it graded, or the one check() ran."""
        if not self.path.exists():
            return []
        with closing(self._connect()) as db:
            row = db.execute("SELECT id, target FROM runs ORDER BY id DESC LIMIT 1").fetchone()
            if row is None:
                return []
            run_id, target = row
            if target.startswith(CHECK_TARGET):
                return [target[len(CHECK_TARGET) :]]
            rows = db.execute("SELECT exercise FROM results WHERE run_id = ?", (run_id,)).fetchall()
        return [exercise for (exercise,) in rows]

    def hints_shown(self, exercise: str) -> int:
        """How many of `exercise`'s hints the learner has revealed (they are revealed in order)."""
        if not self.path.exists():
            return 0
        with closing(self._connect()) as db:
            row = db.execute("SELECT MAX(level) FROM hints WHERE exercise = ?", (exercise,)).fetchone()
        return int(row[0] or 0)

    def record_hint(self, exercise: str, level: int) -> None:
        """Note that hint `level` of `exercise` was revealed (the first time counts)."""
        with closing(self._connect()) as db:
            db.execute("INSERT OR IGNORE INTO hints VALUES (?, ?, ?)", (exercise, level, now()))

    def history(self) -> History:
        if not self.path.exists():
            return History([], [], [])
        with closing(self._connect()) as db:
            return History(
                db.execute("SELECT id, finished_at, target FROM runs ORDER BY id").fetchall(),
                db.execute("SELECT run_id, exercise, status FROM results ORDER BY run_id").fetchall(),
                db.execute("SELECT exercise, level, shown_at FROM hints ORDER BY shown_at, level").fetchall(),
            )

    def run_count(self) -> int:
        if not self.path.exists():
            return 0
        with closing(self._connect()) as db:
            return int(db.execute("SELECT COUNT(*) FROM runs").fetchone()[0])
