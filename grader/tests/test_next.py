"""What comes next follows the learner: from their latest graded or checked exercise on."""

from __future__ import annotations

import json
import shutil

from grader.store import Store


def _finish(course, name: str) -> None:
    """The learner writes `name` of part 1 correctly (copied from the reference)."""
    exercises = course / "exercises" / "chapter1_demo" / "part1_basics.py"
    solutions = course / "solutions" / "chapter1_demo" / "part1_basics.py"
    source = exercises.read_text()
    stub = f'    raise NotImplementedError("{name}")'
    body = solutions.read_text().split(f"def {name}(")[1].split("# BEGIN SOLUTION\n")[1].split("    # END")[0]
    exercises.write_text(source.replace(stub, body.rstrip()))


def _next(cli) -> str:
    code, out, _ = cli("--json")
    assert code == 0
    return json.loads(out)["next"]["id"]


def test_next_follows_the_part_the_learner_graded_not_the_first_open_exercise(cli):
    cli("1/2")
    assert _next(cli) == "chapter1_demo/part2_more/twice"


def test_next_skips_what_passes_after_the_exercise_just_graded(cli, course):
    _finish(course, "multiply")
    _finish(course, "divide")
    code, out, _ = cli("1", "-k", "multiply")
    assert code == 0 and "Next: divide at exercises/chapter1_demo/part1_basics.py:" in out
    cli("1", "-k", "divide")
    cli("1", "-k", "multiply")  # the store knows that divide, after it, passes
    assert _next(cli) == "chapter1_demo/part1_basics/negate"


def test_next_rounds_to_the_start_when_all_after_passes(cli, course):
    exercises = course / "exercises" / "chapter1_demo" / "part2_more.py"
    exercises.write_text((course / "solutions" / "chapter1_demo" / "part2_more.py").read_text())
    cli("1/2")
    assert _next(cli) == "chapter1_demo/part1_basics/add"


def test_a_check_in_a_cell_moves_next_to_that_exercise_without_counting_as_progress(cli, course, monkeypatch):
    from grader.check import check

    cli("1/1")  # everything still to do; next would be add
    monkeypatch.setenv("GRADER_COURSE_ROOT", str(course))
    monkeypatch.setenv("GRADER_PROGRESS_DB", str(cli.db))

    def twice(x):
        return 3 * x

    scope = {"__file__": str(course / "exercises" / "chapter1_demo" / "part2_more.py"), "check": check}
    scope["twice"] = twice
    exec("check(twice)", scope)
    assert Store(cli.db).recent() == ["chapter1_demo/part2_more/twice"]
    assert _next(cli) == "chapter1_demo/part2_more/twice"
    code, out, _ = cli("--json")
    assert json.loads(out)["totals"]["passed"] == 0


def test_progress_shows_the_chapter_in_progress_first_with_its_parts(cli, course):
    for tree in ("tests", "exercises", "solutions", "chapters"):
        shutil.copytree(course / tree / "chapter1_demo", course / tree / "chapter2_demo")
    (course / "chapters" / "chapter2_demo" / "README.md").write_text("# Chapter 2: Another demo\n")
    cli("2/2")
    code, out, _ = cli()
    lines = out.splitlines()
    assert lines[1].startswith("  chapter2 ") and lines[1].endswith("← in progress")
    assert "Part 1" in lines[2] and "Part 2" in lines[3]
    assert lines[4].startswith("  chapter1 ")
    assert "Next: twice at exercises/chapter2_demo/part2_more.py:" in out
    code, out, _ = cli("--json")
    assert json.loads(out)["in_progress"] == "chapter2_demo"
