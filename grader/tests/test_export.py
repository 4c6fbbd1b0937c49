"""Gradescope and exercism result files: pinned by golden files, and checked against the
fields each format documents. GRADER_UPDATE_GOLDEN=1 rewrites the golden files."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest

from grader import export
from grader.grade import grade, select

GOLDEN = Path(__file__).parent / "golden"

# A learner half-way: one wrong answer, one exercise not started, one class wrong.
EDITS = {
    "part1_basics.py": [
        ("return x - 1.0", "return x + 1.0"),
        ("return x * 3.0", 'raise NotImplementedError("multiply")'),
    ],
    "part2_more.py": [("self.count += 1", "self.count += 2")],
}


@pytest.fixture
def report(course: Path, tmp_path: Path):
    impl = tmp_path / "learner"
    shutil.copytree(course / "solutions", impl)
    for name, edits in EDITS.items():
        path = impl / "chapter1_demo" / name
        text = path.read_text()
        for old, new in edits:
            assert old in text, old
            text = text.replace(old, new)
        path.write_text(text)
    return grade(course, select(course, "chapter1", impl=impl), impl, timeout=3)


def _matches_golden(name: str, produced: dict) -> None:
    path = GOLDEN / name
    text = json.dumps(produced, indent=2, sort_keys=True) + "\n"
    if os.environ.get("GRADER_UPDATE_GOLDEN"):
        path.write_text(text)
    assert text == path.read_text(), f"{name} changed; if on purpose, rerun with GRADER_UPDATE_GOLDEN=1"


def test_gradescope_matches_golden_and_documented_fields(report, course):
    out = export.gradescope(report, course)
    assert set(out) == {"score", "execution_time", "output", "visibility", "stdout_visibility", "tests"}
    for test in out["tests"]:
        assert set(test) == {"name", "number", "score", "max_score", "status", "output", "tags", "visibility"}
        assert test["status"] in ("passed", "failed") and test["visibility"] == "visible"
        assert 0 <= test["score"] <= test["max_score"]
    # Weights: POINTS in test_part2_more.py gives twice 2 and Counter 0.5; the rest weigh 1.
    by_name = {t["name"]: t for t in out["tests"]}
    assert by_name["part2_more: twice"] == {**by_name["part2_more: twice"], "score": 2, "max_score": 2}
    assert by_name["part2_more: Counter"]["max_score"] == 0.5 and by_name["part2_more: Counter"]["score"] == 0
    # Part 1: 11 exercises, 2 not passed; twice 2; Counter 0.
    assert out["score"] == sum(t["score"] for t in out["tests"]) == 9 + 2
    out["execution_time"] = 0
    _matches_golden("gradescope.json", out)


def test_exercism_matches_golden_and_documented_fields(report, course):
    out = export.exercism(report, course)
    assert out["version"] == 3 and out["status"] == "fail" and out["message"] is None
    for test in out["tests"]:
        assert set(test) == {"name", "status", "message", "output", "test_code", "task_id"}
        assert test["status"] in ("pass", "fail", "error")
        assert test["test_code"].startswith("def test_")
        assert (test["message"] is None) == (test["status"] == "pass")
    # In test-file order: part 1's tests, then part 2's, parametrized cases kept together.
    names = [t["name"] for t in out["tests"]]
    order = [names.index(n) for n in ("add: test_add", "twice: test_twice[2]", "twice: test_twice[5]")]
    assert order == sorted(order)
    _matches_golden("exercism.json", out)


def test_exercism_error_when_nothing_could_run(course, tmp_path):
    impl = tmp_path / "broken"
    shutil.copytree(course / "solutions", impl)
    for path in (impl / "chapter1_demo").glob("*.py"):
        path.write_text("def oops(:\n")
    out = export.exercism(grade(course, select(course, "chapter1", impl=impl), impl, timeout=3), course)
    assert out["status"] == "error" and "syntax" in out["message"].lower()
    assert {t["status"] for t in out["tests"]} == {"error"}


def test_cli_writes_a_format_to_a_file(cli, tmp_path):
    target = tmp_path / "results.json"
    code, out, err = cli("chapter1", "--impl", "solutions", "--format", "gradescope", "--output", str(target))
    assert code == 0 and out == "" and err == ""
    result = json.loads(target.read_text())
    assert result["score"] == 13.5 and all(t["status"] == "passed" for t in result["tests"])
