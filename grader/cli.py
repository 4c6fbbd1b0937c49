"""`python -m grader`: argument declarations and dispatch. The work is in grader/commands/."""

from __future__ import annotations

import argparse
import importlib
import os
import traceback
from typing import Callable

from grader import runner
from grader.env import Env, ExitCode
from grader.export import FORMATS

COMMANDS = {
    "watch": "re-grade each exercise file when you save it, the exercise you are on first",
    "progress": "your progress over time: first passes, attempts, hints, time spent, hours left, a picture",
    "site": "the course as a static website with your progress (open OUT/index.html)",
    "hint": "show the next hint for an exercise (default: the one to do next) and note it was used",
    "generate": "write exercises/ from solutions/ (instructors)",
    "notebooks": "write notebooks/ (Jupyter, Colab) from exercises/ (instructors)",
    "verify": "check the course: references pass, stubs are todo, files in sync, briefs written",
    "release": "write the learner's copy of the course, without solutions (instructors)",
    "mutants": "mutation score: break each reference in small ways, count what the tests catch (instructors)",
    "batch": "grade a folder of learner submissions in parallel into a gradebook (instructors)",
    "gradescope-bundle": "write the Gradescope autograder zip: setup.sh, run_autograder, the course "
    "without solutions (instructors)",
}

USAGE = """python -m grader [TARGET] [-k NAME] [--impl IMPL] [--json] [--verbose] [--debug]
       python -m grader watch [TARGET] [--poll]
       python -m grader hint [NAME]
       python -m grader site OUT
       python -m grader progress [--picture FILE] [--json]
       python -m grader {generate,notebooks,verify,batch,release,mutants,gradescope-bundle} ...

TARGET is a chapter or a part: chapter0, 0, chapter0_numpy, chapter0/part2, 0/2.
-k NAME grades exactly that exercise; -k 'soft*' every exercise the pattern matches.
With no TARGET and no -k, shows your progress over all chapters and what to do next."""


class _Parser(argparse.ArgumentParser):
    """argparse that reports a usage error as an exception instead of exiting."""

    def error(self, message: str):  # type: ignore[override]
        raise UsageError(message)


class UsageError(Exception):
    pass


def _grade_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="python -m grader",
        usage=USAGE,
        description="Grade your exercises.",
        epilog="commands: " + "; ".join(f"{k}: {v}" for k, v in COMMANDS.items()),
    )
    parser.add_argument("target", nargs="?", help="chapter or chapter/part to grade")
    parser.add_argument(
        "-k", dest="name", help="only the exercise NAME (Class, Class.method), or a pattern: -k 'soft*'"
    )
    _impl_option(parser)
    parser.add_argument("--json", action="store_true", help="print the result as JSON (docs/grader.md)")
    parser.add_argument(
        "--format",
        choices=["text", "json", *FORMATS],
        help="output format: text (default), json (same as --json), or another tool's results.json",
    )
    parser.add_argument("--output", metavar="FILE", help="write the result to FILE instead of the screen")
    parser.add_argument(
        "--verbose",
        action="store_true",
        help="show every reason whole (long ones are folded otherwise) and every failing test",
    )
    _common_options(parser)
    return parser


def _impl_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--impl",
        default="exercises",
        help="what to grade: exercises (yours, the default), solutions, or a folder laid out like "
        "exercises/; only 'exercises' counts as your progress",
    )


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = float("nan")
    if not (0 < value <= 86400):  # also refuses nan and inf
        raise argparse.ArgumentTypeError(f"must be a number of seconds above 0, not {text!r}")
    return value


def _memory_mb(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 64:
        raise argparse.ArgumentTypeError(f"must be a whole number of MiB, 64 or more, not {text!r}")
    return value


def _count(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a whole number, 1 or more, not {text!r}")
    return value


def _common_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--timeout",
        type=_seconds,
        default=runner.DEFAULT_TIMEOUT_S,
        help="default time limit per test, in seconds (default %(default)s)",
    )
    parser.add_argument(
        "--memory-mb",
        type=_memory_mb,
        default=runner.DEFAULT_MEMORY_MB,
        help="memory cap of the test process, in MiB (default %(default)s)",
    )
    parser.add_argument(
        "--debug", action="store_true", help="show the grader's own tracebacks and the test process's output"
    )


def _hint_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="python -m grader hint", description=COMMANDS["hint"])
    parser.add_argument(
        "name", nargs="?", help="an exercise: rnn_backward, or chapter4/part1/rnn_backward where names repeat"
    )
    parser.add_argument("--debug", action="store_true")
    return parser


def _watch_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="python -m grader watch", description=COMMANDS["watch"])
    parser.add_argument("target", nargs="?", help="chapter or chapter/part to watch (default: all)")
    parser.add_argument(
        "--poll",
        action="store_true",
        help="look at the files' times instead of waiting for events "
        "(network folders, WSL, containers where saves go unnoticed)",
    )
    _common_options(parser)
    return parser


def _site_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="python -m grader site", description=COMMANDS["site"])
    parser.add_argument("out", help="the folder to write the site into (created if missing)")
    parser.add_argument("--debug", action="store_true")
    return parser


def _progress_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="python -m grader progress", description=COMMANDS["progress"])
    parser.add_argument(
        "--picture", metavar="FILE", help="where to write the SVG (default: beside your progress file)"
    )
    parser.add_argument("--json", action="store_true", help="print it as JSON (docs/grader.md)")
    parser.add_argument("--debug", action="store_true")
    return parser


def _generate_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="python -m grader generate", description=COMMANDS["generate"])
    parser.add_argument(
        "--check",
        action="store_true",
        help="write nothing; exit 1 if exercises/ differs from what would be written",
    )
    parser.add_argument("--debug", action="store_true")
    return parser


def _notebooks_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="python -m grader notebooks", description=COMMANDS["notebooks"])
    parser.add_argument(
        "--check",
        action="store_true",
        help="write nothing; exit 1 if notebooks/ differs from what would be written",
    )
    parser.add_argument(
        "--git",
        metavar="URL",
        help="the git URL of the course the notebooks' set-up cells clone (Colab); kept",
    )
    parser.add_argument("--debug", action="store_true")
    return parser


def _verify_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="python -m grader verify", description=COMMANDS["verify"])
    parser.add_argument("target", nargs="?", help="chapter or chapter/part (default: all)")
    parser.add_argument(
        "--solutions", help="the references to check (default: solutions/, or $GRADER_SOLUTIONS)"
    )
    _common_options(parser)
    return parser


def _batch_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="python -m grader batch", description=COMMANDS["batch"])
    parser.add_argument("submissions", help="a folder holding one folder or archive per learner")
    parser.add_argument("--target", help="chapter or chapter/part to grade (default: every chapter)")
    parser.add_argument("--jobs", type=_count, default=os.cpu_count() or 1, help="submissions graded at once")
    parser.add_argument("--out", default="gradebook", help="results folder (default %(default)s/)")
    parser.add_argument(
        "--format",
        choices=["json", *FORMATS],
        default="json",
        help="format of each submission's result file (default %(default)s)",
    )
    _common_options(parser)
    return parser


def _release_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="python -m grader release", description=COMMANDS["release"])
    parser.add_argument("out", help="a new or empty folder outside the course")
    parser.add_argument("--debug", action="store_true")
    return parser


def _bundle_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="python -m grader gradescope-bundle", description=COMMANDS["gradescope-bundle"])
    parser.add_argument("out", help="the zip file to write, outside the course")
    parser.add_argument(
        "--target", help="chapter or chapter/part each submission is graded on (default: all)"
    )
    parser.add_argument("--debug", action="store_true")
    return parser


def _mutants_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="python -m grader mutants", description=COMMANDS["mutants"])
    parser.add_argument("target", nargs="?", help="chapter or chapter/part (default: all)")
    parser.add_argument(
        "-k", dest="name", help="only the exercise NAME (Class, Class.method), or a pattern: -k 'soft*'"
    )
    parser.add_argument("--jobs", type=_count, default=os.cpu_count() or 1, help="mutants graded at once")
    parser.add_argument("--no-survivors", dest="show_survivors", action="store_false", help="hide the diffs")
    _common_options(parser)
    return parser


PARSERS: dict[str, Callable[[], argparse.ArgumentParser]] = {
    "grade": _grade_parser,
    "watch": _watch_parser,
    "site": _site_parser,
    "progress": _progress_parser,
    "hint": _hint_parser,
    "generate": _generate_parser,
    "notebooks": _notebooks_parser,
    "verify": _verify_parser,
    "release": _release_parser,
    "mutants": _mutants_parser,
    "gradescope-bundle": _bundle_parser,
    "batch": _batch_parser,
}


def _terminate_like_ctrl_c() -> None:
    """SIGTERM and SIGHUP end the grader the way Ctrl-C does: workers stopped, temporary
    folders removed, nothing recorded (a kill -9 is handled by the workers' guardians)."""
    import signal

    def interrupt(signum, frame):
        raise KeyboardInterrupt

    for sig in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, interrupt)


def main(argv: list[str] | None = None, env: Env | None = None) -> int:
    import sys

    if argv is None:
        _terminate_like_ctrl_c()
    argv = sys.argv[1:] if argv is None else argv
    env = env or Env()
    command = argv[0] if argv and argv[0] in COMMANDS else "grade"
    rest = argv[1:] if command != "grade" else argv
    debug = "--debug" in rest
    try:
        # One module per command in grader/commands/ (gradescope-bundle: gradescope_bundle).
        module = importlib.import_module(f"grader.commands.{command.replace('-', '_')}")
        return int(module.run(PARSERS[command]().parse_args(rest), env))
    except UsageError as exc:
        env.err(f"grader: {exc} (python -m grader --help for usage)")
        return int(ExitCode.USAGE)
    except SystemExit as exc:  # --help
        return int(exc.code or 0) if isinstance(exc.code, int) else 0
    except BrokenPipeError:  # the reader went away (`| head`): nothing left to say
        return int(ExitCode.OK)
    except KeyboardInterrupt:
        env.err("grader: interrupted; this run was not recorded")
        return int(ExitCode.INTERRUPTED)
    except Exception as exc:  # the grader's own fault: one line, detail on request
        if debug:
            env.err(traceback.format_exc().rstrip())
        env.err(f"grader: internal error: {type(exc).__name__}: {exc} (run again with --debug for details)")
        return int(ExitCode.GRADER_ERROR)
