"""Batch grading: a cohort of submissions, hostile ones among them, gives a complete
gradebook in bounded time, and nothing but the learner's exercise files is ever used."""

from __future__ import annotations

import csv
import io
import json
import shutil
import tarfile
import time
import zipfile
from pathlib import Path

import pytest

from grader.instructor import batch

FORCE_PASS = """
import pytest

@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    outcome.get_result().outcome = "passed"
"""


def _solutions(course: Path, dest: Path) -> Path:
    shutil.copytree(course / "solutions", dest, ignore=shutil.ignore_patterns("__pycache__"))
    return dest


def _edit(folder: Path, part: str, old: str, new: str) -> None:
    path = folder / "chapter1_demo" / f"{part}.py"
    text = path.read_text()
    assert old in text
    path.write_text(text.replace(old, new))


def _zip(path: Path, files: dict[str, str]) -> None:
    with zipfile.ZipFile(path, "w") as archive:
        for name, text in files.items():
            archive.writestr(name, text)


def _cohort(course: Path, folder: Path) -> None:
    folder.mkdir()
    _solutions(course, folder / "ada")  # everything right, laid out like exercises/
    (folder / "blank").mkdir()  # nothing handed in
    # A wrapper folder and an exercises/ folder inside a zip, one exercise wrong.
    wrong = _solutions(course, folder.parent / "tmp-wrong")
    _edit(wrong, "part1_basics", "return x - 1.0", "return x + 1.0")
    _zip(
        folder / "bea.zip",
        {
            f"bea/exercises/chapter1_demo/{p.name}": p.read_text()
            for p in (wrong / "chapter1_demo").glob("*.py")
        },
    )
    # A tar.gz of the right answers.
    with tarfile.open(folder / "cy.tar.gz", "w:gz") as tar:
        tar.add(course / "solutions" / "chapter1_demo", arcname="chapter1_demo")
    # Hostile code: a hang, a memory bomb, an exit; the other exercises are right.
    hostile = _solutions(course, folder / "dan")
    _edit(hostile, "part1_basics", "return x - 1.0", "while True:\n        pass")
    _edit(
        hostile, "part1_basics", "return x * 3.0", "import numpy\n    return numpy.ones((50_000, 1_000_000))"
    )
    _edit(hostile, "part1_basics", "return x / 4.0", "import os\n    os._exit(3)")
    # A cheat: blank exercises plus every way of injecting code into pytest.
    cheat = folder / "eve"
    shutil.copytree(course / "exercises", cheat)
    (cheat / "conftest.py").write_text(FORCE_PASS)
    (cheat / "chapter1_demo" / "conftest.py").write_text(FORCE_PASS)
    (cheat / "sitecustomize.py").write_text(
        "import builtins\nbuiltins.NotImplementedError = AssertionError\n"
    )
    (cheat / "pytest.ini").write_text("[pytest]\naddopts = -p conftest\n")
    tests = cheat / "tests" / "chapter1_demo"
    tests.mkdir(parents=True)
    (tests / "test_part1_basics.py").write_text("def test_add(impl):\n    pass\n")
    # A cheat inside the exercise file itself: it rebinds the grader's checks at import.
    patcher = folder / "gus"
    shutil.copytree(course / "exercises", patcher)
    stub = patcher / "chapter1_demo" / "part1_basics.py"
    stub.write_text(
        "import grader.testkit, numpy\n"
        "grader.testkit.expect_close = lambda *a, **k: None\n"
        "numpy.allclose = lambda *a, **k: True\n"
        + stub.read_text().replace('raise NotImplementedError("add")', "return x")
    )
    # An archive that tries to write outside its folder, and a file far too large.
    _zip(
        folder / "fay.zip",
        {
            "../../chapter1_demo/part1_basics.py": "raise SystemExit",
            "/chapter1_demo/part2_more.py": "raise SystemExit",
            "chapter1_demo/part1_basics.py": "# padding\n" * 200_000,
        },
    )
    (folder / "notes.txt").write_text("not a submission")
    # A poisoner: its `add` writes a conftest forcing passes into the course it runs in
    # and into the instructor's; it also hands in a symbolic link.
    poison = _solutions(course, folder / "hal")
    _edit(
        poison,
        "part1_basics",
        "return x + 1.0",
        "import pathlib\n"
        f"    for tests in ('tests/chapter1_demo', {str(course / 'tests' / 'chapter1_demo')!r}):\n"
        "        try:\n"
        f"            pathlib.Path(tests, 'conftest.py').write_text({FORCE_PASS!r})\n"
        "        except OSError:\n"
        "            pass\n"
        "    return x + 1.0",
    )
    (poison / "link.py").symlink_to("/etc/passwd")
    # A reference importer: its part 1 is the instructor's references.
    importer = folder / "ivy"
    shutil.copytree(course / "exercises", importer)
    (importer / "chapter1_demo" / "part1_basics.py").write_text(
        "from solutions.chapter1_demo.part1_basics import *  # noqa\n"
    )
    # A killer (only when submissions run under uids of their own: as root): SIGKILL to
    # every process it may signal, which must be its own alone.
    if batch.unprivileged_uid() is not None:
        killer = _solutions(course, folder / "lou")
        _edit(killer, "part1_basics", "return x + 1.0", "import os, signal\n    os.kill(-1, signal.SIGKILL)")
    # A forger: `add` writes passing results for every test to every open file.
    forger = folder / "jon"
    shutil.copytree(course / "exercises", forger)
    stub = forger / "chapter1_demo" / "part1_basics.py"
    stub.write_text(
        stub.read_text().replace(
            'raise NotImplementedError("add")',
            "import json, os\n"
            "    for fd in map(int, os.listdir('/proc/self/fd')):\n"
            "        for n in ('add', 'subtract', 'multiply'):\n"
            "            nodeid = 'tests/chapter1_demo/test_part1_basics.py::test_' + n\n"
            "            event = {'event': 'result', 'nodeid': nodeid, 'status': 'passed',\n"
            "                     'message': '', 'duration': 0.0}\n"
            "            try:\n"
            "                os.write(fd, (json.dumps(event) + '\\n').encode())\n"
            "            except OSError:\n"
            "                pass\n"
            "    return x + 1.0",
        )
    )


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    from grader.tests.conftest import FIXTURE

    tmp = tmp_path_factory.mktemp("batch")
    course = tmp / "course"
    shutil.copytree(FIXTURE, course, ignore=shutil.ignore_patterns("__pycache__"))
    _cohort(course, tmp / "submissions")
    from grader.grade import select

    started = time.monotonic()
    done = batch.run_batch(
        course,
        batch.discover(tmp / "submissions"),
        select(course, None),
        tmp / "out",
        jobs=2,
        timeout=1,
        memory_mb=1024,
    )
    return done, tmp / "out", time.monotonic() - started


def _rows(out: Path) -> dict[str, dict[str, str]]:
    rows = list(csv.DictReader(io.StringIO((out / "gradebook.csv").read_text())))
    return {row["submission"]: row for row in rows}


def test_gradebook_has_a_row_per_submission_and_a_column_per_exercise(graded):
    done, out, _ = graded
    rows = _rows(out)
    killer = {"lou"} if batch.unprivileged_uid() is not None else set()
    assert set(rows) == {
        *("(points)", "ada", "blank", "bea", "cy", "dan", "eve", "fay", "gus", "hal", "ivy", "jon"),
        *killer,
    }
    if killer:  # it crashed its own `add`, and nobody else's work
        assert rows["lou"]["score"] == "12.5" and rows["lou"]["chapter1_demo/part1_basics/add"] == "0"
    assert rows["(points)"]["chapter1_demo/part2_more/twice"] == "2"
    assert rows["ada"]["score"] == rows["ada"]["max_score"] == "13.5" and rows["ada"]["percent"] == "100.0"
    assert rows["cy"]["score"] == "13.5"
    assert rows["bea"]["score"] == "12.5" and rows["bea"]["chapter1_demo/part1_basics/subtract"] == "0"
    assert rows["blank"]["score"] == "0" and "no exercise files found" in rows["blank"]["notes"]
    for name in rows:
        if name != "(points)":
            assert (out / f"{name}.json").is_file()


def test_hostile_code_costs_only_its_own_exercises(graded):
    done, out, elapsed = graded
    result = json.loads((out / "dan.json").read_text())
    statuses = {e["name"]: e["status"] for e in result["report"]["exercises"]}
    assert statuses["subtract"] == "timeout"
    assert statuses["multiply"] == "crashed" and statuses["divide"] == "crashed"
    assert statuses["add"] == "passed" and statuses["twice"] == "passed"
    assert result["score"] == 13.5 - 3
    # ten submissions, one hang (1 s), with two at a time: far below a minute
    assert elapsed < 60, elapsed


def test_injected_conftest_plugin_sitecustomize_and_tests_have_no_effect(graded):
    _, out, _ = graded
    result = json.loads((out / "eve.json").read_text())
    assert result["score"] == 0
    assert {e["status"] for e in result["report"]["exercises"]} == {"todo"}


def test_exercise_code_that_rebinds_the_grader_gets_no_pass(graded):
    _, out, _ = graded
    result = json.loads((out / "gus.json").read_text())
    statuses = {e["name"]: (e["status"], e["message"]) for e in result["report"]["exercises"]}
    assert result["score"] == 0
    assert statuses["add"][0] == "failed" and "grader.testkit.expect_close" in statuses["add"][1]
    assert all(status != "passed" for status, _ in statuses.values())


def test_archive_paths_outside_the_submission_and_huge_files_are_ignored(graded):
    _, out, _ = graded
    result = json.loads((out / "fay.json").read_text())
    assert any("larger than" in note for note in result["notes"])
    assert {e["status"] for e in result["report"]["exercises"]} == {"todo"}


def test_a_submission_changes_only_its_own_row(graded):
    done, out, _ = graded
    rows = _rows(out)
    course = out.parent / "course"
    # the poisoner's own answers are right: it earns them, and nothing else changed
    assert rows["hal"]["score"] == "13.5"
    assert not (course / "tests" / "chapter1_demo" / "conftest.py").exists()
    assert rows["blank"]["score"] == "0" and rows["eve"]["score"] == "0"
    assert "skipped (not a regular file (a symbolic link?)): link.py" in rows["hal"]["notes"]
    assert "skipped (not an exercise file graded here): notes.txt" not in rows["hal"]["notes"]


def test_importing_the_references_scores_nothing(graded):
    _, out, _ = graded
    result = json.loads((out / "ivy.json").read_text())
    part1 = [e for e in result["report"]["exercises"] if e["part"] == "part1_basics"]
    assert {e["status"] for e in part1} == {"error"}
    assert "solutions" in part1[0]["message"]
    assert result["score"] == 0


def test_a_forger_is_flagged_and_earns_nothing_for_it(graded):
    _, out, _ = graded
    result = json.loads((out / "jon.json").read_text())
    statuses = {e["name"]: e["status"] for e in result["report"]["exercises"]}
    assert statuses["add"] == "failed" and statuses["subtract"] == "todo"
    assert result["score"] == 0
    assert result["flags"] and "FLAGGED" in _rows(out)["jon"]["notes"]


def test_archive_skips_are_noted(graded):
    _, out, _ = graded
    notes = " ".join(json.loads((out / "fay.json").read_text())["notes"])
    assert "skipped (a path outside the submission): ../../chapter1_demo/part1_basics.py" in notes
    assert "/chapter1_demo/part2_more.py" in notes


def test_cli_batch(cli, course, tmp_path):
    folder = tmp_path / "subs"
    folder.mkdir()
    _solutions(course, folder / "ada")
    code, out, err = cli(
        "batch", str(folder), "--out", str(tmp_path / "gb"), "--jobs", "1", "--format", "gradescope"
    )
    assert code == 0, err
    assert "[1/1] ada: 13.5/13.5 points" in out
    assert json.loads((tmp_path / "gb" / "ada.json").read_text())["score"] == 13.5
    code, _, err = cli("batch", str(tmp_path / "missing"))
    assert code == 2 and "no folder of submissions" in err


@pytest.mark.skipif(batch.unprivileged_uid() is None, reason="the grader is not root here")
def test_a_submission_runs_as_an_unprivileged_user_and_cannot_see_the_references(course, tmp_path):
    from grader.grade import select

    folder = tmp_path / "subs"
    folder.mkdir()
    probe = _solutions(course, folder / "kim")
    _edit(
        probe,
        "part1_basics",
        "return x + 1.0",
        "import os\n"
        f"    assert os.getuid() != 0 and not os.listdir({str(course / 'solutions')!r}), 'not isolated'\n"
        "    return x + 1.0",
    )
    (graded,) = batch.run_batch(
        course, batch.discover(folder), select(course, "1/1"), tmp_path / "out", jobs=1, timeout=5
    )
    assert graded.report is not None
    add = graded.report.results["chapter1_demo/part1_basics/add"]
    assert add.status.value == "passed", add.message


@pytest.mark.parametrize("how", ["SIGINT", "SIGKILL"])
def test_ending_a_batch_leaves_no_process_and_no_staged_copy(course, tmp_path, how):
    import os
    import signal
    import subprocess
    import sys

    folder = tmp_path / "subs"
    folder.mkdir()
    for name in ("a", "b"):
        hang = _solutions(course, folder / name)
        _edit(
            hang,
            "part1_basics",
            "return x + 1.0",
            "import os\n"
            f"    open({str(tmp_path / 'pids')!r}, 'a').write(str(os.getpid()) + '\\n')\n"
            "    while True:\n        pass",
        )
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    (tmp_path / "pids").touch()
    (tmp_path / "pids").chmod(0o666)  # the workers may run as nobody
    env = dict(os.environ, GRADER_COURSE_ROOT=str(course), TMPDIR=str(tmp))
    env["PYTHONPATH"] = str(Path(__file__).resolve().parents[2])
    grader = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "grader",
            "batch",
            str(folder),
            "--out",
            str(tmp_path / "gb"),
            "--jobs",
            "2",
            "--timeout",
            "60",
        ],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    deadline = time.monotonic() + 60
    while len((tmp_path / "pids").read_text().split()) < 2 and time.monotonic() < deadline:
        assert grader.poll() is None, grader.communicate()
        time.sleep(0.05)
    workers = [int(p) for p in (tmp_path / "pids").read_text().split()]
    grader.send_signal(getattr(signal, how))
    grader.communicate(timeout=30)
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and (
        any(Path(f"/proc/{p}").exists() for p in workers) or list(tmp.iterdir())
    ):
        time.sleep(0.05)
    assert not [p for p in workers if Path(f"/proc/{p}").exists()], f"workers alive after {how}"
    assert list(tmp.iterdir()) == [], f"staged copies left after {how}"
