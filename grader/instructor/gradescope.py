"""The Gradescope autograder bundle: cohort grading on Gradescope's fleet, one container
per submission, each graded exactly as `batch` grades one submission here.

The zip holds, at its top, `setup.sh` (run once when Gradescope builds the image) and
`run_autograder` (run once per submission), beside the learner's copy of the course
(grader/instructor/release.py: no solutions/, checked for leaks). Gradescope unpacks the zip into
/autograder/source and copies run_autograder to /autograder/run_autograder; the
learner's files are in /autograder/submission; results go to
/autograder/results/results.json (docs/instructors.md, "Gradescope").
"""

from __future__ import annotations

import shlex
import shutil
import stat
import tempfile
import zipfile
from pathlib import Path

from grader.instructor import release

SETUP_SH = """#!/usr/bin/env bash
# Gradescope runs this once, as root, when it builds the autograder image.
set -euo pipefail
apt-get update
apt-get install -y --no-install-recommends python3 python3-pip python3-venv
python3 -m venv /autograder/venv
/autograder/venv/bin/pip install --upgrade pip
/autograder/venv/bin/pip install -e "/autograder/source[data]"
"""

RUN_AUTOGRADER = """#!/usr/bin/env bash
# Gradescope runs this once per submission, as root, in a fresh container: grade the
# learner's files in /autograder/submission (their exercises/ folder, or its chapter
# folders) with the course in /autograder/source, into /autograder/results/results.json.
# Each submission is graded as `python -m grader batch` grades one: in a read-only copy
# of the course without solutions, as an unprivileged uid, with CPU-time limits.
set -uo pipefail
AUTOGRADER="${{AUTOGRADER:-/autograder}}"
PYTHON="${{GRADER_PYTHON:-$AUTOGRADER/venv/bin/python}}"
[ -x "$PYTHON" ] || PYTHON="$(command -v python3)"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/submissions" "$AUTOGRADER/results"
cp -r "$AUTOGRADER/submission" "$work/submissions/submission"
cd "$AUTOGRADER/source"
status=0
GRADER_COURSE_ROOT="$AUTOGRADER/source" "$PYTHON" -m grader batch "$work/submissions" {target} \\
    --jobs 1 --format gradescope --out "$work/out" || status=$?
if [ -f "$work/out/submission.json" ]; then
    cp "$work/out/submission.json" "$AUTOGRADER/results/results.json"
else
    message="The autograder could not grade this submission (status $status): please tell your instructor."
    printf '{{"score": 0, "output": "%s"}}\\n' "$message" > "$AUTOGRADER/results/results.json"
fi
"""


def scripts(target: str | None) -> dict[str, str]:
    option = f"--target {shlex.quote(target)}" if target else ""
    return {"setup.sh": SETUP_SH, "run_autograder": RUN_AUTOGRADER.format(target=option)}


def build(root: Path, solutions: Path, out: Path, target: str | None = None) -> int:
    """Write the bundle to `out` (a .zip); the number of files in it."""
    if out.resolve().is_relative_to(root.resolve()):
        raise release.ReleaseError(f"{out} is inside the course; write the bundle outside it")
    with tempfile.TemporaryDirectory(prefix="grader-bundle-") as tmp:
        source = Path(tmp) / "source"
        release.build(root, solutions, source)  # raises ReleaseError if a reference would ship
        if not (source / "grader").is_dir():  # a course that uses an installed grader
            shutil.copytree(Path(__file__).resolve().parent.parent, source / "grader", ignore=release.IGNORED)
        for name, text in scripts(target).items():
            path = source / name
            path.write_text(text)
            path.chmod(0o755)
        files = sorted(p for p in source.rglob("*") if p.is_file())
        out.parent.mkdir(parents=True, exist_ok=True)
        with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
            for path in files:
                info = zipfile.ZipInfo.from_file(path, path.relative_to(source).as_posix())
                info.external_attr = (stat.S_IFREG | (path.stat().st_mode & 0o777)) << 16
                info.compress_type = zipfile.ZIP_DEFLATED
                archive.writestr(info, path.read_bytes())
    return len(files)
