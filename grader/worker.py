"""The grading worker: a child process that runs course tests on learner code.

Started by grader.runner with a JSON job as its one argument. It caps its own memory,
silences learner output, runs pytest with the course plugin, and reports each test as
an event on the pipe it was handed. Whatever learner code does here, the grader
process only sees events, an exit status, or silence past a time limit.
"""

from __future__ import annotations

import json
import os
import resource
import sys


def _cap_memory(limit_bytes: int) -> None:
    if limit_bytes > 0:
        soft, hard = resource.getrlimit(resource.RLIMIT_AS)
        cap = limit_bytes if hard == resource.RLIM_INFINITY else min(limit_bytes, hard)
        resource.setrlimit(resource.RLIMIT_AS, (cap, hard))


def _silence_output() -> None:
    # A flood of prints goes nowhere, costs nothing, and can fill neither memory nor disk.
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 1)
    os.dup2(devnull, 2)
    os.close(devnull)


def main(job: dict) -> int:
    _cap_memory(int(job["memory_limit"]))
    if not job.get("debug"):
        _silence_output()
    import pytest

    args = [
        *job["files"],
        f"--rootdir={job['root']}",
        f"--impl={job['impl']}",
        f"--grader-events={job['events_fd']}",
        "-p",
        "grader.pytest_plugin",
        "-p",
        "no:cacheprovider",
        "--assert=plain",
        "-q",
        "-s",
        "--tb=no",  # the plugin classifies failures itself; formatting tracebacks is slow
    ]
    args += [f"--grader-exercise={name}" for name in job.get("exercises", [])]
    if job.get("skip_file"):
        args.append(f"--grader-skip={job['skip_file']}")
    if not job.get("typecheck", True):
        args.append("--grader-no-typecheck")
    code = pytest.main(args)
    with os.fdopen(os.dup(job["events_fd"]), "w") as events:
        events.write(json.dumps({"event": "done", "exit_code": int(code)}) + "\n")
    return int(code)


if __name__ == "__main__":
    job = json.loads(sys.argv[1])
    try:
        main(job)
    finally:
        # Threads the learner left running must not keep this process alive.
        os._exit(0)
