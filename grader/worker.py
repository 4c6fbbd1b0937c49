"""The grading worker: a guardian process and, under it, the process that runs course
tests on learner code.

Started by grader.runner as `python -m grader.worker`, with its job as JSON on standard
input. Before anything heavy is imported the process splits in two:

- the **guardian** (the process the runner started) runs no learner code. It is a child
  subreaper, so every process the learner's code starts, even one that calls
  `os.setsid()` and whose parent exits, stays below it. It reports the worker's pid and
  exit status on a pipe of its own, and when the runner says stop, or the runner dies
  (its end of the lifeline pipe closes: Ctrl-C, SIGTERM, SIGHUP, kill -9), it kills every
  process below it, removes the folders the job told it to, and exits.
- the **worker** (its child) caps its own memory, silences learner output, runs pytest
  with the course plugin and reports each test as an authenticated event (see
  grader/pytest_plugin.py) on the events pipe. It dies with the guardian (PDEATHSIG).
"""

from __future__ import annotations

import ctypes
import json
import os
import resource
import select
import shutil
import signal
import sys
import time

MAX_PROCESSES = 256
NOGROUP = 65534
PR_SET_PDEATHSIG = 1
PR_SET_DUMPABLE = 4
PR_SET_CHILD_SUBREAPER = 36


def _prctl(option: int, value: int) -> None:
    try:
        zero = ctypes.c_ulong(0)
        ctypes.CDLL(None, use_errno=True).prctl(option, ctypes.c_ulong(value), zero, zero, zero)
    except (OSError, AttributeError):  # not Linux: the runner's process-group kill remains
        pass


def _cap_memory(limit_bytes: int) -> None:
    if limit_bytes > 0:
        soft, hard = resource.getrlimit(resource.RLIMIT_AS)
        cap = limit_bytes if hard == resource.RLIM_INFINITY else min(limit_bytes, hard)
        resource.setrlimit(resource.RLIMIT_AS, (cap, hard))


def _silence_output() -> None:
    # A flood of prints goes nowhere, costs nothing, and can fill neither memory nor disk.
    devnull = os.open(os.devnull, os.O_RDWR)
    os.dup2(devnull, 0)
    os.dup2(devnull, 1)
    os.dup2(devnull, 2)
    os.close(devnull)


# -- the guardian ---------------------------------------------------------------------


def descendants(root: int) -> list[int]:
    """Every process below `root`, read from /proc (parents before children). Zombies
    are included: one may be a thread-group leader whose other threads still run and
    still parent processes."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", "rb") as handle:
                stat = handle.read()
        except OSError:
            continue
        fields = stat[stat.rfind(b")") + 2 :].split()
        children.setdefault(int(fields[1]), []).append(int(entry))
    found, queue = [], [root]
    while queue:
        for child in children.get(queue.pop(), []):
            found.append(child)
            queue.append(child)
    return found


def _reap() -> list[tuple[int, int]]:
    reaped: list[tuple[int, int]] = []
    while True:
        try:
            pid, status = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return reaped
        if pid == 0:
            return reaped
        reaped.append((pid, status))


def kill_tree(root: int) -> None:
    """SIGKILL everything below `root` until nothing is left, zombies reaped (a fork
    bomb included: every process killed is orphaned onto `root`, a subreaper)."""
    for _ in range(5000):
        pids = descendants(root)
        if not pids:
            return
        for pid in pids:
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass
        _reap()
        time.sleep(0.002)


def _returncode(status: int) -> int:
    return -os.WTERMSIG(status) if os.WIFSIGNALED(status) else os.WEXITSTATUS(status)


MS_RDONLY, MS_NOSUID, MS_NODEV, MS_REC, MS_PRIVATE = 1, 2, 4, 1 << 14, 1 << 18
CLONE_NEWNS = 0x00020000


def _hide(paths: list[str]) -> bool:
    """Cover each folder with an empty read-only tmpfs, in a mount namespace of this
    process's own (needs root; False if that could not be done)."""
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.unshare(CLONE_NEWNS) != 0:
        return False
    if libc.mount(b"none", b"/", None, ctypes.c_ulong(MS_REC | MS_PRIVATE), None) != 0:
        return False
    flags = ctypes.c_ulong(MS_RDONLY | MS_NOSUID | MS_NODEV)
    ok = True
    for path in paths:
        if os.path.isdir(path):
            ok = libc.mount(b"tmpfs", path.encode(), b"tmpfs", flags, b"size=4k") == 0 and ok
    return ok


def remove(folder: str) -> None:
    """rmtree that also empties read-only folders (a batch's staged course)."""
    for top, dirs, _ in os.walk(folder):
        for d in dirs:
            try:
                os.chmod(os.path.join(top, d), 0o700)
            except OSError:
                pass
    shutil.rmtree(folder, ignore_errors=True)


class _CapHeader(ctypes.Structure):
    _fields_ = [("version", ctypes.c_uint32), ("pid", ctypes.c_int)]


class _CapData(ctypes.Structure):
    _fields_ = [
        ("effective", ctypes.c_uint32),
        ("permitted", ctypes.c_uint32),
        ("inheritable", ctypes.c_uint32),
    ]


PR_SET_KEEPCAPS = 8
PR_SET_NO_NEW_PRIVS = 38
CAP_DAC_READ_SEARCH = 2


def _drop_privileges(uid: int) -> None:
    """Become `uid` (and its group), keeping one capability: reading any file, so that a
    Python installed under a private folder (/root/.pyenv) still imports. Writing is
    what the user cannot do; what it must not read is covered by _hide. Nothing it
    executes keeps even that (capabilities are recomputed on exec), and set-uid programs
    cannot raise it again (no_new_privs)."""
    import pwd

    try:
        gid = pwd.getpwuid(uid).pw_gid
    except KeyError:  # a uid of batch's own, without an account: the group nogroup
        gid = NOGROUP
    _prctl(PR_SET_KEEPCAPS, 1)
    os.setgroups([])
    os.setgid(gid)
    os.setuid(uid)
    data = (_CapData * 2)()
    data[0].effective = data[0].permitted = 1 << CAP_DAC_READ_SEARCH
    ctypes.CDLL(None, use_errno=True).capset(ctypes.byref(_CapHeader(0x20080522, 0)), data)
    _prctl(PR_SET_NO_NEW_PRIVS, 1)


def guard(job: dict) -> int:
    lifeline, status_fd = int(job["lifeline_fd"]), int(job["status_fd"])
    _prctl(PR_SET_CHILD_SUBREAPER, 1)
    # Not dumpable: a process of the same user cannot open this one's pipes through /proc.
    _prctl(PR_SET_DUMPABLE, 0)
    wake_r, wake_w = os.pipe()
    os.set_blocking(wake_w, False)
    signal.set_wakeup_fd(wake_w)
    signal.signal(signal.SIGCHLD, lambda *_: None)
    me = os.getpid()
    worker = os.fork()
    if worker == 0:
        code = 1
        try:
            os.close(lifeline)
            os.close(status_fd)
            os.close(wake_r)
            signal.set_wakeup_fd(-1)
            os.close(wake_w)
            signal.signal(signal.SIGCHLD, signal.SIG_DFL)
            _prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
            if os.getppid() != me:  # the guardian died before the line above
                os._exit(1)
            if job.get("hide") and os.geteuid() == 0:
                _hide(job["hide"])
            if job.get("user") is not None:
                _drop_privileges(int(job["user"]))
                # A fork bomb stops at this many processes of the user (root is exempt,
                # so this only holds for the unprivileged user batch grades as).
                resource.setrlimit(resource.RLIMIT_NPROC, (MAX_PROCESSES, MAX_PROCESSES))
                _prctl(PR_SET_PDEATHSIG, signal.SIGKILL)  # setuid clears it
            code = work(job)
        except BaseException:
            import traceback

            traceback.print_exc()  # seen with --debug; otherwise output goes nowhere
        finally:
            os._exit(code)  # threads the learner left running must not keep it alive
    os.close(int(job["events_fd"]))
    status = os.fdopen(status_fd, "w", buffering=1)
    try:
        status.write(json.dumps({"worker": worker}) + "\n")
    except OSError:  # the runner is already gone: the lifeline says so below
        pass
    told = False
    normal_stop = False
    while True:
        ready, _, _ = select.select([lifeline, wake_r], [], [], 1.0)
        if wake_r in ready:
            os.read(wake_r, 512)
        for pid, code in _reap():
            if pid == worker and not told:
                told = True
                try:
                    status.write(json.dumps({"exit": _returncode(code)}) + "\n")
                except OSError:
                    pass
        if lifeline in ready:
            normal_stop = os.read(lifeline, 16).startswith(b"stop")
            break
    kill_tree(me)
    if not normal_stop:  # the runner died: nobody else will remove its folders
        for folder in job.get("cleanup", []):
            remove(folder)
    return 0


# -- the worker -----------------------------------------------------------------------


def work(job: dict) -> int:
    _cap_memory(int(job["memory_limit"]))
    if not job.get("debug"):
        _silence_output()
    import pytest

    from grader import pytest_plugin

    # Handed over in memory, never on a command line or in the environment.
    pytest_plugin.EVENTS_KEY = bytes.fromhex(job.pop("key"))
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
        # Chapters reuse part names (test_part6_training.py in chapters 2 and 3): importing
        # each test file by its path, not by its basename, lets one run hold them all.
        "--import-mode=importlib",
        # Its clean-up runs the garbage collector five times after the last test (0.1-0.4 s
        # each run) to report exceptions raised in __del__, which nobody reads here.
        "-p",
        "no:unraisableexception",
    ]
    args += [f"--grader-exercise={name}" for name in job.get("exercises", [])]
    args += [f"--grader-first={name}" for name in job.get("first", [])]
    pytest_plugin.SKIP = set(job.get("skip", []))
    if not job.get("typecheck", True):
        args.append("--grader-no-typecheck")
    code = pytest.main(args)
    pytest_plugin.send_done(int(code))
    return 0


def preload() -> None:
    """What every run imports, imported while a warm worker waits for its job (watch mode):
    the worker forked from this process starts with them loaded. Course code only, never
    learner code, which the worker alone imports."""
    import importlib

    import numpy.random  # noqa: F401
    import pytest  # noqa: F401
    from _pytest.config import default_plugins  # what pytest.main loads first

    from grader import check, pytest_plugin, testkit, typecheck  # noqa: F401

    for name in default_plugins:
        try:
            importlib.import_module(f"_pytest.{name}")
        except ImportError:
            pass

    try:
        import einops  # noqa: F401
        import jaxtyping  # noqa: F401
    except ImportError:  # the worker reports what is missing when a test needs it
        pass


if __name__ == "__main__":
    if "--warm" in sys.argv[1:]:
        preload()
    text = sys.stdin.buffer.read()
    if not text:  # a warm worker that was never given a job
        sys.exit(0)
    sys.exit(guard(json.loads(text)))
