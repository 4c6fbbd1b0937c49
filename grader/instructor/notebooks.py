"""Write notebooks/ from exercises/: each exercise file becomes a Jupyter notebook (its
`# %%` cells, by jupytext), with a first cell that makes the course importable (cloning
and installing it first where it is not installed, as on Colab) and tells check() which
part the notebook is. The output is deterministic, so a test can tell when it is stale.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from grader.layout import Part, source_files

SETUP = """# Set-up: run this cell first. It makes the course importable here: where the course is
# not installed (Colab, or a Jupyter outside the course's environment), it clones your copy
# of the course from COURSE_GIT and installs it.
COURSE_GIT = {source!r}  # the git URL of your copy of the course (for Colab)

try:
    import grader
except ImportError:
    import subprocess
    import sys
    from pathlib import Path

    if not COURSE_GIT:
        raise SystemExit(
            "The course is not installed in this kernel. Run `pip install -e .` in the course "
            "folder and start Jupyter there, or set COURSE_GIT to your copy's git URL (Colab)."
        )
    subprocess.run(["git", "clone", "--quiet", COURSE_GIT, "course"], check=True)
    subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "-e", "course"], check=True)
    sys.path.insert(0, str(Path("course").resolve()))  # this kernel started before the install

from grader.check import notebook_setup

notebook_setup({part!r})"""


@dataclass
class Notebook:
    source: Path
    target: Path
    text: str


def notebook_text(source: str, part: Part, course_git: str = "") -> str:
    import jupytext
    import nbformat

    nb = jupytext.reads(source, fmt="py:percent")
    setup = nbformat.v4.new_code_cell(SETUP.format(source=course_git, part=part.id))
    nb.cells.insert(1 if nb.cells and nb.cells[0].cell_type == "markdown" else 0, setup)
    for i, cell in enumerate(nb.cells):
        cell["id"] = f"cell-{i}"  # stable ids: jupytext draws random ones
        cell["metadata"] = {}
    nb.metadata = {
        "kernelspec": {"display_name": "Python 3", "language": "python", "name": "python3"},
        "language_info": {"name": "python"},
    }
    nb.nbformat, nb.nbformat_minor = 4, 5
    return nbformat.writes(nb) + "\n"


GIT_FILE = ".course_git"  # in notebooks/: the URL the set-up cells clone, once an instructor gave one


def course_git(notebooks: Path) -> str:
    try:
        return (notebooks / GIT_FILE).read_text().strip()
    except OSError:
        return ""


def plan(exercises: Path, notebooks: Path, course_git: str = "") -> list[Notebook]:
    out = []
    for path in source_files(exercises):
        part = Part.of_source_file(path)
        assert part is not None
        target = notebooks / part.chapter / f"{part.name}.ipynb"
        out.append(Notebook(path, target, notebook_text(path.read_text(), part, course_git)))
    return out


def out_of_sync(exercises: Path, notebooks: Path) -> list[Path]:
    """Notebooks that differ from, or are missing against, what `write` would write now."""
    wanted = plan(exercises, notebooks, course_git(notebooks))
    return [n.target for n in wanted if not n.target.is_file() or n.target.read_text() != n.text]


def write(exercises: Path, notebooks: Path, git: str | None = None) -> list[Path]:
    """Write what is out of date; `git` (when given) becomes the URL the set-up cells clone."""
    if git is not None:
        notebooks.mkdir(parents=True, exist_ok=True)
        (notebooks / GIT_FILE).write_text(git + "\n")
    written = []
    for n in plan(exercises, notebooks, course_git(notebooks)):
        if not n.target.is_file() or n.target.read_text() != n.text:
            n.target.parent.mkdir(parents=True, exist_ok=True)
            n.target.write_text(n.text)
            written.append(n.target)
    return written
