"""The learner's copy: built into a temporary folder, it holds no solutions and no
reference body, and the grader run from it grades its chapters (all todo)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

import pytest

from grader import layout
from grader.instructor import release
from grader.tests.conftest import COURSE

SOLUTIONS = layout.solutions_root(COURSE)
pytestmark = pytest.mark.skipif(not SOLUTIONS.is_dir(), reason="a release is built from the references")


def test_release_grades_from_scratch_and_holds_no_reference(tmp_path):
    out = tmp_path / "learner"
    release.build(COURSE, SOLUTIONS, out)
    assert not (out / "solutions").exists() and not (out / "bench").exists() and not (out / ".git").exists()
    assert (out / "exercises" / "chapter0_numpy").is_dir() and (out / "README.md").is_file()
    assert release.leaks(out, SOLUTIONS) == []
    assert not list(out.rglob("equivalent_mutants.txt"))  # they quote reference lines
    readme = (out / "README.md").read_text()
    assert 'pip install -e ".[data]"' in readme and "[data,dev]" not in readme
    assert "instructors.md" not in readme and "bench/" not in readme and "--impl solutions" not in readme
    docs = (out / "docs" / "grader.md").read_text()
    assert "(instructors)" not in docs and "## Reasons" not in docs.split("### Reasons")[0]
    assert not (out / "docs" / "learner_readme.md").exists()
    # The released grader, not this one, grades the released course.
    env = {k: v for k, v in os.environ.items() if not k.startswith("GRADER_")}
    env.update(PYTHONPATH=str(out), GRADER_PROGRESS_DB=str(tmp_path / "progress.sqlite3"))
    done = subprocess.run(
        [sys.executable, "-m", "grader", "chapter0", "--json"],
        cwd=out,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 1, done.stderr
    report = json.loads(done.stdout)
    assert report["exercises"] and {e["status"] for e in report["exercises"]} == {"todo"}
    assert report["exercises"][0]["location"].startswith("exercises/chapter0_numpy/")


def test_a_reference_body_in_a_shipped_file_stops_the_release(course, tmp_path):
    reading = course / "chapters" / "chapter1_demo" / "part2_more.md"
    reading.write_text(reading.read_text() + "\n```python\nself.count += 1\nreturn self.count\n```\n")
    out = tmp_path / "learner"
    with pytest.raises(release.ReleaseError, match="part2_more.py"):
        release.build(course, course / "solutions", out)
    assert not out.exists()


def test_a_later_chapter_may_ship_an_earlier_answer_as_given_code(course, tmp_path):
    # Chapter 2 gives the learner chapter 1's counter, so that it reads on its own.
    later = course / "chapters" / "chapter2_given"
    later.mkdir()
    (later / "notes.md").write_text("```python\nself.count += 1\nreturn self.count\n```\n")
    out = tmp_path / "learner"
    release.build(course, course / "solutions", out)
    assert release.leaks(out, course / "solutions") == []
    # The same lines anywhere else still stop the release.
    (out / "docs").mkdir(exist_ok=True)
    (out / "docs" / "notes.md").write_text((later / "notes.md").read_text())
    assert [leak.found_in for leak in release.leaks(out, course / "solutions")] == ["docs/notes.md"]


def test_release_refuses_a_stale_exercise_file_and_a_used_folder(cli, course, tmp_path):
    used = tmp_path / "used"
    used.mkdir()
    (used / "something").write_text("")
    code, _, err = cli("release", str(used))
    assert code == 1 and "not empty" in err
    stub = course / "exercises" / "chapter1_demo" / "part1_basics.py"
    stub.write_text(stub.read_text() + "\n# edited\n")
    code, _, err = cli("release", str(tmp_path / "new"))
    assert code == 1 and "python -m grader generate" in err


def test_cli_release_of_the_fixture_course(cli, course, tmp_path):
    code, out, err = cli("release", str(tmp_path / "new"))
    assert code == 0, err
    assert not (tmp_path / "new" / "solutions").exists() and "no reference body" in out
    shipped = (tmp_path / "new" / "exercises" / "chapter1_demo" / "part1_basics.py").read_text()
    assert 'raise NotImplementedError("add")' in shipped


def test_fixture_release_copies_no_cache(course, tmp_path):
    (course / "exercises" / "__pycache__").mkdir()
    (course / "exercises" / "__pycache__" / "x.pyc").write_bytes(b"\0")
    release.build(course, course / "solutions", tmp_path / "new")
    assert not list((tmp_path / "new").rglob("__pycache__"))
    shutil.rmtree(tmp_path / "new")


def _learner_course(course):
    """The fixture course with a README for learners and a doc with an instructors' section."""
    (course / "docs").mkdir()
    (course / "docs" / "learner_readme.md").write_text(
        "# Demo\n\n`python -m grader 1 -k add` then `python -m grader`;"
        " see [the grader](docs/grader.md#json).\n\n| chapter |\n|---|\n| chapter1_demo |\n"
    )
    (course / "docs" / "grader.md").write_text(
        "# Grader\n\n## JSON\n\nFor everyone.\n\n## Adding a part (instructors)\n\n"
        "Run `python -m grader generate`, see `bench/run.py`.\n\n## Exit codes\n\n0 or 1.\n"
    )
    return course


def test_release_writes_the_learners_readme_and_docs(course, tmp_path):
    from grader.instructor import learner_copy

    _learner_course(course)
    out = tmp_path / "new"
    release.build(course, course / "solutions", out)
    assert (out / "README.md").read_text().startswith("# Demo")
    docs = (out / "docs" / "grader.md").read_text()
    assert "## JSON" in docs and "## Exit codes" in docs and "instructors" not in docs and "bench" not in docs
    assert learner_copy.problems(course) == []
    # A chapter the README's table leaves out is named.
    readme = course / "docs" / "learner_readme.md"
    readme.write_text(readme.read_text().replace("| chapter1_demo |", ""))
    assert learner_copy.problems(course) == [
        "docs/learner_readme.md: the chapter table does not list chapter1_demo"
    ]


def test_verify_names_what_does_not_resolve_in_the_learners_copy(cli, course):
    from grader.instructor import learner_copy

    _learner_course(course)
    page = course / "chapters" / "chapter1_demo" / "part2_more.md"
    page.write_text(
        page.read_text()
        + "\nSee [part 1](part1_basics.md), [its title](part1_basics.md#part-1-basics), [gone](part9.md),"
        " [the guide](../../docs/instructors.md) and [the top](../../README.md#nowhere).\n"
        "Time it with `python bench/run.py`; grade `python -m grader 1 -k twice`,"
        " `python -m grader chapter1/partK`, `python -m grader 1 --impl solutions`,"
        " `python -m grader 1 -k twise` and `python -m grader verify`.\n"
    )
    found = "\n".join(learner_copy.problems(course))
    rel = "chapters/chapter1_demo/part2_more.md"
    assert f"{rel}: links to part9.md, which the learner's copy does not have" in found
    assert f"{rel}: links to ../../docs/instructors.md," in found
    assert f"{rel}: links to ../../README.md#nowhere, a heading the learner's copy does not have" in found
    assert f"{rel}: mentions bench/run.py" in found
    assert "--impl solutions: the learner's copy has no solutions/" in found
    assert "no exercise named 'twise' in 1; closest: twice" in found
    assert "`verify` is an instructor's command" in found
    assert "part1_basics.md#part-1-basics" not in found and "-k twice`" not in found and "partK" not in found
    assert len(found.splitlines()) == 7
    code, out, _ = cli("verify", "--timeout", "3")
    assert code == 1 and f"{rel}: links to part9.md" in out


def test_an_exercise_files_header_command_must_work_in_the_copy(course):
    from grader.instructor import learner_copy

    stub = course / "exercises" / "chapter1_demo" / "part2_more.py"
    stub.write_text("# `python -m grader 1/9` grades this file; see docs/guide.md.\n" + stub.read_text())
    found = learner_copy.problems(course, ["chapter1_demo"], pages=False)
    rel = "exercises/chapter1_demo/part2_more.py"
    assert found == [
        f"{rel}: mentions docs/guide.md, which the learner's copy does not have",
        f"{rel}: `python -m grader 1/9`: no part '9' here (known: part1_basics, part2_more)",
    ], found
