"""Briefs read from the reading (difficulty, importance, time, hints) and `grader hint`."""

from __future__ import annotations

import sqlite3

from grader import briefs
from grader.store import SCHEMA_VERSION, Store

PAGE = """# Part 9

### `alpha` — difficulty ★★☆, importance ●○○, about 15 minutes

Some maths.

<details><summary>Hint 1</summary>

First.
</details>

#### Inside alpha's brief

<details>
<summary>Hint 2</summary>
Second, with `code`.
</details>

### `beta`, the second — about 3 minutes

<details><summary>Hint</summary>Only.</details>

## Next section

<details><summary>Hint 1</summary>Not beta's.</details>
"""


def test_a_brief_has_its_marks_time_and_hints_in_order():
    found = briefs.parse(PAGE)
    alpha, beta = found["alpha"], found["beta"]
    assert (alpha.difficulty, alpha.importance, alpha.minutes, alpha.line) == (2, 1, 15, 3)
    assert alpha.hints == ["First.", "Second, with `code`."]
    assert alpha.problems() == []
    assert beta.hints == ["Only."]  # the brief ends at the next heading of its level or higher
    assert beta.problems() == ["no difficulty", "no importance"]


def test_hints_are_revealed_one_at_a_time_and_recorded(cli, tmp_path):
    code, out, _ = cli("hint", "twice")
    assert code == 0
    assert "twice — hint 1 of 2 (chapters/chapter1_demo/part2_more.md:3)" in out
    assert "Multiply by two." in out and "return 2 * x" not in out
    assert "`python -m grader hint twice` shows hint 2 of 2" in out
    _, out, _ = cli("hint", "twice")
    assert "hint 2 of 2" in out and "return 2 * x" in out and "last hint" in out
    _, out, _ = cli("hint", "1/2/twice")
    assert "seen all 2 hints" in out and "Multiply by two." in out and "return 2 * x" in out
    assert Store(cli.db).hints_shown("chapter1_demo/part2_more/twice") == 2


def test_hint_names_the_exercise_to_do_next_when_given_none(cli):
    cli("1/2", "--impl", "solutions")  # not the learner's work: not recorded
    cli("1/2")  # twice and Counter are todo
    code, out, _ = cli("hint")
    assert code == 0 and out.startswith("twice — hint 1 of 2")


def test_hint_says_what_it_cannot_find(cli):
    code, _, err = cli("hint", "twise")
    assert code == 2 and "no exercise named 'twise'; closest: twice" in err
    page = cli.root / "chapters" / "chapter1_demo" / "part1_basics.md"
    text = page.read_text()  # add's brief without its hint
    hint = "<details><summary>Hint 1</summary>\n\nNumPy has an operator or a function for `add`.\n</details>"
    page.write_text(text.replace(hint, "", 1))
    code, out, _ = cli("hint", "add")
    assert code == 0 and "add has no hints; its brief is at chapters/chapter1_demo/part1_basics.md:3" in out
    code, _, err = cli("hint", "*e")
    assert code == 2 and "names" in err and "give one of these" in err


def test_a_store_of_the_first_schema_gains_hints_and_keeps_its_runs(tmp_path):
    path = tmp_path / "p.sqlite3"
    with sqlite3.connect(path) as db:  # what a grader of schema 1 wrote
        db.executescript(
            """CREATE TABLE runs (id INTEGER PRIMARY KEY, started_at TEXT NOT NULL,
               finished_at TEXT NOT NULL, target TEXT NOT NULL, duration_s REAL NOT NULL);
               CREATE TABLE results (run_id INTEGER NOT NULL, exercise TEXT NOT NULL,
               status TEXT NOT NULL, message TEXT NOT NULL, duration_s REAL NOT NULL);
               INSERT INTO runs VALUES (1, 'a', 'b', '1', 0.5);
               INSERT INTO results VALUES (1, 'c/p/x', 'passed', '', 0.1);
               PRAGMA user_version=1;"""
        )
    store = Store(path)
    assert store.latest()["c/p/x"].status == "passed"
    store.record_hint("c/p/x", 1)
    store.record_hint("c/p/x", 1)  # shown again: still one hint used
    assert store.hints_shown("c/p/x") == 1
    with sqlite3.connect(path) as db:
        assert db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
