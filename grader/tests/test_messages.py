"""What a failing exercise says: whose verdict it is, and where the learner should look."""

from __future__ import annotations

import json
import shutil


def _impl(course, tmp_path, old: str, new: str):
    impl = tmp_path / "mine"
    shutil.copytree(course / "solutions", impl)
    part = impl / "chapter1_demo" / "part1_basics.py"
    part.write_text(part.read_text().replace(old, new))
    return impl


def _message(cli, impl, name: str) -> str:
    code, out, err = cli("1/1", f"--impl={impl}", "--json")
    assert code == 1, err
    return next(e["message"] for e in json.loads(out)["exercises"] if e["name"] == name)


def test_an_assert_in_the_learners_code_is_their_exception_not_the_verdict(cli, course, tmp_path):
    impl = _impl(
        course, tmp_path, "return x * 3.0", 'assert x.ndim == 1, "x must be a vector"\n    return x * 3.0'
    )
    message = _message(cli, impl, "multiply")
    assert message.startswith("AssertionError: x must be a vector (at part1_basics.py:")
    assert message.endswith(" in multiply)")


def test_an_assert_in_a_library_the_learner_calls_names_the_learners_line(cli, course, tmp_path):
    impl = _impl(
        course,
        tmp_path,
        "return x * 3.0",
        "np.testing.assert_array_equal(x, 0)\n    return x * 3.0",
    )
    message = _message(cli, impl, "multiply")
    assert (
        message.startswith("AssertionError: ") and "part1_basics.py:" in message and "in multiply" in message
    )


def test_the_tests_own_assertion_stays_the_verdict(cli, course, tmp_path):
    impl = _impl(course, tmp_path, "return x * 3.0", "return x * 2.0")
    message = _message(cli, impl, "multiply")
    assert message.startswith("multiply(x=float64[2, 3]): max abs error")


def learner_check(course, source: str, name: str) -> bool:
    """Define `source` as if written in the learner's part2 file, then check(name) from there."""
    from grader.check import check

    path = course / "exercises" / "chapter1_demo" / "part2_more.py"
    scope: dict = {"__file__": str(path), "check": check}
    exec(compile(source + f"\nresult = check({name})\n", str(path), "exec"), scope)
    return bool(scope["result"])


def test_check_reports_an_assert_in_the_learners_code_with_its_line(course, capsys, monkeypatch):
    monkeypatch.setenv("GRADER_COURSE_ROOT", str(course))
    source = "def twice(x):\n    assert x.ndim == 2, 'x must be a matrix'\n    return 2 * x\n"
    assert learner_check(course, source, "twice") is False
    assert "AssertionError: x must be a matrix (at part2_more.py:2 in twice)" in capsys.readouterr().out
