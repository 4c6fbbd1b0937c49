"""The Gradescope bundle: unpacked into a scratch /autograder layout, its run_autograder
grades a learner's submission into results/results.json (setup.sh is not run: no network)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path


def _autograder(cli, tmp_path: Path) -> Path:
    bundle = tmp_path / "autograder.zip"
    code, out, err = cli("gradescope-bundle", str(bundle))
    assert code == 0, err
    home = tmp_path / "autograder"
    with zipfile.ZipFile(bundle) as archive:
        names = archive.namelist()
        archive.extractall(home / "source")
    assert "setup.sh" in names and "run_autograder" in names
    assert not any(n.startswith("solutions/") for n in names)
    assert "grader/instructor/gradescope.py" in names  # the bundle grades with its own grader
    shutil.copy2(home / "source" / "run_autograder", home / "run_autograder")
    (home / "run_autograder").chmod(0o755)  # Gradescope does this copy itself
    return home


def _run(home: Path) -> dict:
    env = dict(os.environ, AUTOGRADER=str(home), GRADER_PYTHON=sys.executable)
    env.pop("GRADER_COURSE_ROOT", None)
    done = subprocess.run(["bash", str(home / "run_autograder")], env=env, capture_output=True, timeout=300)
    assert done.returncode == 0, done.stderr.decode()[-2000:]
    return json.loads((home / "results" / "results.json").read_text())


def test_run_autograder_grades_a_submission_into_results_json(cli, course, tmp_path):
    home = _autograder(cli, tmp_path)
    submission = home / "submission"
    shutil.copytree(course / "solutions", submission)
    part = submission / "chapter1_demo" / "part1_basics.py"
    part.write_text(part.read_text().replace("return x * 3.0", "return x * 2.0"))
    results = _run(home)
    assert results["score"] == 12.5
    by_name = {t["name"]: t for t in results["tests"]}
    assert by_name["part1_basics: multiply"]["score"] == 0
    assert by_name["part1_basics: add"]["score"] == by_name["part1_basics: add"]["max_score"] == 1
    assert by_name["part2_more: twice"]["max_score"] == 2


def test_reference_imports_score_nothing_on_gradescope_too(cli, course, tmp_path):
    home = _autograder(cli, tmp_path)
    submission = home / "submission" / "exercises"
    shutil.copytree(course / "exercises", submission)
    (submission / "chapter1_demo" / "part2_more.py").write_text(
        "from solutions.chapter1_demo.part2_more import *  # noqa\n"
    )
    results = _run(home)
    assert results["score"] == 0
