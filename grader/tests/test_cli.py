"""The CLI in-process, over the fixture course, with an injected environment."""

from __future__ import annotations

import json
import shutil

import pytest

from grader.render import PROGRESS_SCHEMA, REPORT_SCHEMA


def test_fresh_stubs_are_all_todo_and_exit_nonzero(cli):
    code, out, err = cli("chapter1")
    assert code == 1, err
    assert "0/13 exercises passed" in out
    assert out.count("todo") == 13
    assert "Next: add at exercises/chapter1_demo/part1_basics.py:" in out


def test_solutions_pass_and_are_not_recorded(cli):
    code, out, _ = cli("1", "--impl", "solutions")
    assert code == 0 and "13/13 exercises passed" in out
    assert "Next:" not in out
    code, out, _ = cli()
    assert "No exercise graded yet" in out


def test_impl_path_grades_that_folder_and_names_the_broken_exercise(cli, course, tmp_path):
    impl = tmp_path / "mine"
    shutil.copytree(course / "solutions", impl)
    part = impl / "chapter1_demo" / "part1_basics.py"
    part.write_text(part.read_text().replace("return x * 3.0", "return x * 2.0"))
    code, out, _ = cli("1", f"--impl={impl}", "--json")
    report = json.loads(out)
    failed = [e for e in report["exercises"] if e["status"] != "passed"]
    assert code == 1
    assert [e["name"] for e in failed] == ["multiply"]
    assert "multiply(x=float64[2, 3]): max abs error" in failed[0]["message"]
    assert report["recorded"] is False


@pytest.mark.parametrize(
    "target", ["1", "chapter1", "chapter1_demo", "1/2", "chapter1/part2", "chapter1_demo/part2_more"]
)
def test_target_spellings(cli, target):
    code, out, _ = cli(target, "--impl", "solutions", "--json")
    assert code == 0
    assert json.loads(out)["totals"]["passed"] >= 2


def test_k_selects_one_exercise(cli):
    code, out, _ = cli("1", "-k", "twice", "--json", "--impl", "solutions")
    report = json.loads(out)
    assert [e["name"] for e in report["exercises"]] == ["twice"]
    assert [t["name"] for t in report["exercises"][0]["tests"]] == [
        "test_twice[2]",
        "test_twice[5]",
        "test_twice_slow",
    ]


def test_unknown_target_is_a_one_line_usage_error(cli):
    code, out, err = cli("chapter7")
    assert code == 2 and out == ""
    assert err.startswith("grader: no chapter 'chapter7'") and "Traceback" not in err
    code, _, err = cli("1", "-k", "nothing_like_this")
    assert code == 2 and "no exercise named 'nothing_like_this' in 1" in err


def test_bad_option_is_a_usage_error(cli):
    code, _, err = cli("--no-such-option")
    assert code == 2 and "unrecognized arguments" in err


def test_internal_error_is_one_line_unless_debug(cli, monkeypatch):
    import grader.commands.grade as grade_command

    def explode(*args, **kwargs):
        raise RuntimeError("kaboom")

    monkeypatch.setattr(grade_command, "grade", explode)
    code, _, err = cli("1")
    assert code == 3 and err.strip().count("\n") == 0 and "kaboom" in err and "--debug" in err
    code, _, err = cli("1", "--debug")
    assert "Traceback" in err


def test_progress_is_kept_and_shows_the_next_exercise(cli, course):
    exercises = course / "exercises" / "chapter1_demo" / "part1_basics.py"
    solutions = course / "solutions" / "chapter1_demo" / "part1_basics.py"
    exercises.write_text(solutions.read_text())  # the learner finished part 1
    cli("1")
    code, out, _ = cli()
    assert code == 0
    assert "11/13" in out
    assert "Next: twice at exercises/chapter1_demo/part2_more.py:" in out
    code, out, _ = cli("--json")
    progress = json.loads(out)
    assert progress["schema"] == PROGRESS_SCHEMA
    assert progress["chapters"][0]["passed"] == 11 and progress["chapters"][0]["todo"] == 2
    assert progress["next"]["id"] == "chapter1_demo/part2_more/twice"


def test_json_report_schema(cli):
    code, out, _ = cli("1/2", "--json")
    report = json.loads(out)
    assert report["schema"] == REPORT_SCHEMA
    assert set(report) == {
        "schema",
        "target",
        "impl",
        "recorded",
        "started_at",
        "duration_s",
        "totals",
        "problems",
        "flags",
        "exercises",
    }
    assert report["totals"] == {
        "exercises": 2,
        "passed": 0,
        "failed": 0,
        "todo": 2,
        "error": 0,
        "timeout": 0,
        "crashed": 0,
    }
    entry = report["exercises"][0]
    assert set(entry) == {
        "id",
        "chapter",
        "part",
        "name",
        "status",
        "message",
        "duration_s",
        "location",
        "reading",
        "tests",
    }
    assert entry["location"].startswith("exercises/chapter1_demo/part2_more.py:")
    assert report["recorded"] is True


def test_colour_and_bars_only_on_a_terminal(cli):
    _, piped, _ = cli("1")
    assert "\033[" not in piped and "█" not in piped and "░" not in piped
    _, shown, _ = cli("1", terminal=True)
    assert "\033[" in shown and "░" in shown
    _, no_colour, _ = cli("1", terminal=True, environ={"NO_COLOR": "1"})
    assert "\033[" not in no_colour and "░" in no_colour


def test_generate_check_detects_a_stale_exercise_file(cli, course):
    code, out, _ = cli("generate", "--check")
    assert code == 0
    target = course / "exercises" / "chapter1_demo" / "part2_more.py"
    target.write_text(target.read_text() + "\n# edited\n")
    code, out, _ = cli("generate", "--check")
    assert code == 1 and "part2_more.py" in out
    code, out, _ = cli("generate")
    assert code == 0 and "wrote exercises/chapter1_demo/part2_more.py" in out
    assert cli("generate", "--check")[0] == 0


def test_verify_finds_a_test_that_cannot_fail_and_a_missing_brief(cli, course):
    tests = course / "tests" / "chapter1_demo" / "test_part2_more.py"
    tests.write_text(tests.read_text() + '\n\n@exercise("twice")\ndef test_nothing(impl):\n    pass\n')
    reading = course / "chapters" / "chapter1_demo" / "part2_more.md"
    reading.write_text(reading.read_text().replace("### `Counter`", ""))
    code, out, _ = cli("verify", "--timeout", "3")
    assert code == 1
    assert "test_nothing passes on the blank stub" in out
    assert "no brief for Counter" in out


@pytest.mark.parametrize(
    "option, value",
    [
        ("--timeout", "0"),
        ("--timeout", "-3"),
        ("--timeout", "nan"),
        ("--timeout", "inf"),
        ("--timeout", "x"),
        ("--memory-mb", "-5"),
        ("--memory-mb", "0"),
        ("--memory-mb", "1.5"),
    ],
)
def test_a_bad_option_value_is_a_one_line_error_and_records_nothing(cli, option, value):
    code, out, err = cli("1", option, value)
    assert code == 2 and out == ""
    assert len(err.strip().splitlines()) == 1 and option in err and value in err, err
    assert not cli.db.exists()


def test_batch_jobs_must_be_positive(cli, tmp_path):
    code, _, err = cli("batch", str(tmp_path), "--jobs", "0")
    assert code == 2 and "--jobs" in err


def test_every_command_has_its_parser_and_module():
    import importlib

    from grader.cli import COMMANDS, PARSERS

    assert set(PARSERS) == set(COMMANDS) | {"grade"}
    for command in PARSERS:
        assert hasattr(importlib.import_module(f"grader.commands.{command.replace('-', '_')}"), "run")
