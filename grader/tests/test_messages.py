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


def _part2_impl(course, tmp_path, body: str):
    impl = tmp_path / "mine"
    shutil.copytree(course / "solutions", impl)
    part = impl / "chapter1_demo" / "part2_more.py"
    part.write_text(part.read_text().replace("    return 2 * x\n", body))
    return impl, part


def _line_of(path, text: str) -> int:
    return next(i for i, line in enumerate(path.read_text().splitlines(), 1) if text in line)


def _twice_message(cli, impl) -> str:
    code, out, err = cli("1/2", f"--impl={impl}", "--json")
    assert code == 1, err
    return next(e["message"] for e in json.loads(out)["exercises"] if e["name"] == "twice")


def test_a_wrong_result_shape_is_told_with_the_axis_names_and_the_return_line(cli, course, tmp_path):
    impl, part = _part2_impl(course, tmp_path, "    return (2 * x)[:, None]\n")
    message = _twice_message(cli, impl)
    line = _line_of(part, "return (2 * x)[:, None]")
    assert message.startswith(
        f"twice returned a result with 2 axes, shape (2, 1); expected (n,) = (2,) (n from x) "
        f"(at part2_more.py:{line} in twice)"
    ), message
    assert "Float[" not in message and "jaxtyping" not in message


def test_a_shape_error_inside_an_earlier_parts_function_points_at_the_learners_line(cli, course, tmp_path):
    impl, part = _part2_impl(course, tmp_path, "    return add(x) + x - 1\n")
    part.write_text("from chapter1_demo.part1_basics import add\n" + part.read_text())
    message = _twice_message(cli, impl)
    line = _line_of(part, "return add(x)")
    assert message.startswith(
        f"add(x) got x with 1 axis, shape (2,); expected (n, m) (add called at part2_more.py:{line} in twice)"
    ), message


def _typechecked(tmp_path, source: str, name: str):
    """A function written in a learner's file, wrapped as the grader wraps exercises."""
    import importlib.util

    import typeguard
    from jaxtyping import jaxtyped

    path = tmp_path / "chapter9_demo" / "part1_demo.py"
    path.parent.mkdir(parents=True)
    path.write_text("import numpy as np\nfrom jaxtyping import Float, Int\n\n" + source)
    spec = importlib.util.spec_from_file_location("part1_demo", path)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return jaxtyped(typechecker=typeguard.typechecked)(getattr(module, name)), path


def _told(fn, path, *args) -> str:
    from grader.outcomes import classify

    try:
        fn(*args)
    except Exception as exc:
        return classify(exc, (path.parent,), path.name)[1]
    raise AssertionError("no type error")


def test_a_wrong_element_of_a_returned_tuple_is_named(tmp_path):
    import numpy as np

    source = (
        'def backward(x: Float[np.ndarray, "batch d_in"], w: Float[np.ndarray, "d_in d_out"]) -> tuple[\n'
        '    Float[np.ndarray, "batch d_in"], Float[np.ndarray, "d_in d_out"]\n'
        "]:\n"
        "    grad_x = x\n"
        "    grad_w = w.T\n"
        "    return grad_x, grad_w\n"
    )
    fn, path = _typechecked(tmp_path, source, "backward")
    told = _told(fn, path, np.ones((1, 3)), np.ones((3, 4)))
    assert told == (
        "backward returned grad_w (value 2 of 2) with shape (4, 3); expected (d_in, d_out) = (3, 4) "
        "(d_in from x, d_out from w) (at part1_demo.py:9 in backward)"
    ), told


def test_a_wrong_dtype_and_a_wrong_kind_of_value_are_told_plainly(tmp_path):
    import numpy as np

    source = (
        'def f(x: Float[np.ndarray, " n"]) -> Float[np.ndarray, " n"]:\n'
        "    return x.astype(int) if x[0] > 0 else list(x)\n"
    )
    fn, path = _typechecked(tmp_path, source, "f")
    assert _told(fn, path, np.ones(2)).startswith(
        "f returned a result of dtype int64, expected a floating-point dtype (at part1_demo.py:5 in f)"
    )
    assert _told(fn, path, -np.ones(2)).startswith("f returned list [")
    assert "expected a NumPy array" in _told(fn, path, -np.ones(2))
    assert _told(fn, path, np.ones(2, dtype=int)).startswith(
        "f(x) got x of dtype int64, expected a floating-point dtype"
    )


def test_the_text_report_wraps_a_whole_reason_and_folds_a_long_one(cli, course, tmp_path):
    words = " ".join(f"word{i}" for i in range(80))
    impl = _impl(course, tmp_path, "return x * 3.0", f'assert x.ndim == 1, "{words} end"\n    return x * 3.0')
    code, out, _ = cli("1/1", f"--impl={impl}")
    assert code == 1
    row = out.splitlines().index(next(line for line in out.splitlines() if "multiply" in line))
    shown = out.splitlines()[row : row + 3]
    column = shown[0].index("AssertionError")
    assert all(line[:column].strip() == "" for line in shown[1:]), "continued under the reason"
    assert all(len(line) <= 100 for line in shown)
    assert "word30" in out and "end (at" not in out  # four lines, the rest folded
    assert "more lines: run again with --verbose" in out
    code, out, _ = cli("1/1", f"--impl={impl}", "--verbose")
    flat = " ".join(line.strip() for line in out.splitlines())
    assert f"AssertionError: {words} end (at part1_basics.py:" in flat
    assert "--verbose" not in out


def test_check_prints_every_line_of_a_reason_whole(course, capsys, monkeypatch):
    monkeypatch.setenv("GRADER_COURSE_ROOT", str(course))
    words = " ".join(f"word{i}" for i in range(60))
    source = f"def twice(x):\n    assert False, '{words}'\n"
    assert learner_check(course, source, "twice") is False
    out = capsys.readouterr().out
    assert "word59" in " ".join(out.split()) and "…" not in out


def test_an_exception_in_an_earlier_parts_code_also_names_the_line_that_called_it(cli, course, tmp_path):
    impl, part = _part2_impl(course, tmp_path, "    return 2 * pairs(x).ravel()\n")
    part.write_text("from chapter1_demo.part1_basics import pairs\n" + part.read_text())
    basics = impl / "chapter1_demo" / "part1_basics.py"
    basics.write_text(basics.read_text() + "\n\ndef pairs(x):\n    return x.reshape(-1, 2)\n")
    message = _twice_message(cli, impl)
    line = _line_of(part, "return 2 * pairs(x)")
    helper = _line_of(basics, "return x.reshape(-1, 2)")
    assert message.startswith("ValueError: cannot reshape array of size 5")
    assert f"(at part1_basics.py:{helper} in pairs, called from part2_more.py:{line} in twice)" in message


def test_verbose_lists_every_failing_test_of_an_exercise(cli, course, tmp_path):
    impl, _ = _part2_impl(course, tmp_path, "    return 3 * x\n")
    code, out, _ = cli("1/2", f"--impl={impl}")
    assert "(+2 more failing tests)" in out and "· test_twice" not in out
    code, out, _ = cli("1/2", f"--impl={impl}", "--verbose")
    assert out.count("· test_twice") == 2 and "twice(x=float64[5]): max abs error" in out


def test_a_value_of_the_wrong_kind_is_told_without_annotation_syntax(tmp_path):
    import numpy as np

    source = (
        'def f(x: Float[np.ndarray, "n d"]) -> tuple[Float[np.ndarray, " n"], float]:\n'
        "    return [x.sum(1), 1.0]\n"
    )
    fn, path = _typechecked(tmp_path, source, "f")
    told = _told(fn, path, np.ones((2, 3)))
    assert told.startswith("f returned list [") and "expected a tuple of 2 values" in told
    assert "Float[" not in told
