"""notebooks/: in sync with exercises/, and run headlessly in a real kernel, where the
check() cells print their verdicts (todo on the stubs, passed on the references)."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

from grader.layout import Part
from grader.tests.conftest import COURSE

nbformat = pytest.importorskip("nbformat", reason="the dev extra installs nbformat")
nbclient = pytest.importorskip("nbclient", reason="the dev extra installs nbclient")
pytest.importorskip("ipykernel", reason="the dev extra installs ipykernel")
notebooks = pytest.importorskip("grader.instructor.notebooks", reason="the dev extra installs jupytext")


def _run(path: Path, folder: Path) -> list[tuple[str, str]]:
    """Execute a notebook; (kind, text) of every stream and error output, in order."""
    nb = nbformat.read(path, as_version=4)
    client = nbclient.NotebookClient(
        nb,
        timeout=300,
        kernel_name="python3",
        allow_errors=True,
        resources={"metadata": {"path": str(folder)}},
    )
    client.execute()
    out = []
    for cell in nb.cells:
        for output in cell.get("outputs", []):
            if output["output_type"] == "stream":
                out.append((output["name"], output["text"]))
            elif output["output_type"] == "error":
                out.append(("error", f"{output['ename']}: {output['evalue']}"))
    return out


@pytest.fixture
def kernel_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """The kernel imports this course's grader and keeps its notes out of the learner's store."""
    monkeypatch.setenv("PYTHONPATH", str(COURSE))
    monkeypatch.setenv("GRADER_PROGRESS_DB", str(tmp_path / "p.sqlite3"))
    monkeypatch.setenv("GRADER_COURSE_ROOT", str(COURSE))


def test_notebooks_are_in_sync_with_the_exercises():
    stale = notebooks.out_of_sync(COURSE / "exercises", COURSE / "notebooks")
    assert not stale, f"run `python -m grader notebooks`: {stale[:3]}"


def test_a_stub_notebook_runs_and_its_checks_say_todo(kernel_env, tmp_path):
    path = COURSE / "notebooks" / "chapter0_numpy" / "part1_arrays.ipynb"
    out = _run(path, tmp_path)
    text = "".join(t for kind, t in out if kind == "stdout")
    assert [t for kind, t in out if kind == "error"] == []
    assert len(re.findall(r"^… \w+: not implemented yet", text, re.MULTILINE)) == 7


def test_a_chapter_of_reference_notebooks_passes_every_check(kernel_env, tmp_path):
    """Notebooks written from chapter 1's references: later parts import earlier ones."""
    chapter = "chapter1_autograd"
    if not (COURSE / "solutions" / chapter).is_dir():
        pytest.skip("the references are not shipped to learners")
    os.environ["PYTHONPATH"] += os.pathsep + str(
        COURSE / "solutions"
    )  # before exercises/, which the set-up appends
    made = []
    for source in sorted((COURSE / "solutions" / chapter).glob("part*.py")):
        part = Part.of_source_file(source)
        assert part is not None
        target = tmp_path / f"{part.name}.ipynb"
        target.write_text(notebooks.notebook_text(source.read_text(), part))
        made.append(target)
    for path in made:
        out = _run(path, tmp_path)
        stdout = "".join(t for kind, t in out if kind == "stdout")
        errors = [t for kind, t in out if kind == "error"]
        assert errors == [], f"{path.name}: {errors[:2]}"
        verdicts = re.findall(r"^(✓|✗|…) (\S+):", stdout, re.MULTILINE)
        assert verdicts and all(mark == "✓" for mark, _ in verdicts), f"{path.name}: {verdicts}"
