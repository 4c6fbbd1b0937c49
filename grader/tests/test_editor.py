"""What VSCode does with the course: its test explorer finds the course's tests and runs
them on the learner's exercises, and basic type checking (basedpyright, the checker behind
Pylance) finds nothing in the untouched exercises and the references, shape strings
included."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys

import pytest

from grader.tests.conftest import COURSE


def _settings() -> dict:
    return json.loads((COURSE / ".vscode" / "settings.json").read_text())


def test_the_test_explorer_finds_and_runs_the_course_tests_on_the_exercises():
    args = _settings()["python.testing.pytestArgs"]
    assert _settings()["python.testing.pytestEnabled"] is True
    listed = subprocess.run(
        [sys.executable, "-m", "pytest", "--collect-only", "-q", *args],
        cwd=COURSE,
        capture_output=True,
        text=True,
    )
    assert listed.returncode == 0, listed.stdout[-2000:]
    nodeids = [line for line in listed.stdout.splitlines() if "::" in line]
    assert any(n.startswith("tests/chapter0_numpy/test_part1_arrays.py::") for n in nodeids)
    assert not any(n.startswith("grader/") for n in nodeids)  # the grader's own tests stay out of it
    one = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", *args, "-k", "normalize_rows", "tests/chapter0_numpy"],
        cwd=COURSE,
        capture_output=True,
        text=True,
    )
    # Run as the explorer runs them: on exercises/, whose stubs are still to do here.
    assert one.returncode == 1 and "NotImplementedError: normalize_rows" in one.stdout, one.stdout[-2000:]


@pytest.mark.skipif(shutil.which("basedpyright") is None, reason="basedpyright comes with the dev extra")
def test_basic_type_checking_finds_nothing_in_exercises_and_references():
    folders = [f for f in ("exercises", "solutions", "coursedata") if (COURSE / f).is_dir()]
    found = subprocess.run(
        ["basedpyright", "--outputjson", *folders], cwd=COURSE, capture_output=True, text=True
    )
    report = json.loads(found.stdout)
    errors = [
        f"{d['file']}:{d['range']['start']['line'] + 1}: {d['message']}"
        for d in report["generalDiagnostics"]
        if d["severity"] == "error"
    ]
    assert errors == [], "\n".join(errors[:10])
    assert report["summary"]["filesAnalyzed"] >= 60  # exercises/ and solutions/ were read
