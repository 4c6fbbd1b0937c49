"""What the learner's copy says must hold in it: every relative link, every course path
and every `python -m grader …` command in its README, docs and chapter pages (and the
paths and commands in the comments of its exercise files).

The texts checked are the ones `release` writes (grader/instructor/release.py, `shipped_markdown`),
and a target resolves only if `release` ships it: a link to docs/instructors.md, a
mention of `bench/run.py`, or `python -m grader chapter1 --impl solutions` would each
send a learner to something their copy does not have.
"""

from __future__ import annotations

import re
import shlex
from pathlib import Path

from grader import layout
from grader.instructor import release

# Whole fenced blocks, then inline code spans: what is code in a page.
_FENCE = re.compile(r"^```.*?^```", re.MULTILINE | re.DOTALL)
_SPAN = re.compile(r"`([^`\n]+)`")
_LINK = re.compile(r"\[[^\]]*\]\(([^()\s]+)\)")
_COMMAND = re.compile(r"python -m grader\b([^`\n&|;#]*)")
_TOPS = "|".join(re.escape(t) for t in ["docs", "bench", "solutions", *release.SHIPPED_FOLDERS])
_PATH = re.compile(rf"(?<![\w/.:~-])((?:{_TOPS})/[\w./-]*\w)")
# Placeholders in a documented command: TARGET, NAME, PATH, chapter0/partK, <chapter>.
_PLACEHOLDER = re.compile(r"^[A-Z_]+$|[<>\[\]…]|^chapter\d*/part[A-Z]$|^chapter[A-Z]")
INSTRUCTOR_COMMANDS = {"generate", "notebooks", "verify", "release", "mutants", "batch", "gradescope-bundle"}
_OPTIONAL = re.compile(r"\[[^\]`]*\]")  # usage notation: `watch [TARGET]`, `progress [--json]`


def _slug(heading: str) -> str:
    """GitHub's anchor for a heading."""
    text = re.sub(r"[^\w\- ]", "", heading.strip().lower())
    return text.replace(" ", "-")


def _anchors(text: str) -> set[str]:
    return {_slug(m.group(1)) for m in re.finditer(r"^#+ (.+)$", _FENCE.sub("", text), re.MULTILINE)}


def _code(text: str) -> list[str]:
    """The code in a page: fenced blocks' lines and inline spans."""
    blocks = [line for block in _FENCE.findall(text) for line in block.splitlines()[1:-1]]
    return blocks + _SPAN.findall(_FENCE.sub("", text))


def _link_problems(root: Path, rel: Path, text: str, texts: dict[Path, str]) -> list[str]:
    prose = _SPAN.sub("", _FENCE.sub("", text))
    problems = []
    for target in _LINK.findall(prose):
        if re.match(r"^[a-z]+:", target):  # https:, mailto:
            continue
        path, _, anchor = target.partition("#")
        linked = Path(_normal(rel.parent / path)) if path else rel
        if path and not release.is_shipped(root, linked):
            problems.append(f"{rel}: links to {target}, which the learner's copy does not have")
        elif anchor and linked.suffix == ".md":
            shipped = texts.get(linked)
            if shipped is not None and anchor not in _anchors(shipped):
                problems.append(f"{rel}: links to {target}, a heading the learner's copy does not have")
    return problems


def _normal(path: Path) -> str:
    parts: list[str] = []
    for part in path.parts:
        if part == "..":
            if parts:
                parts.pop()
        elif part != ".":
            parts.append(part)
    return "/".join(parts)


def _path_problems(root: Path, rel: Path, text: str) -> list[str]:
    found = sorted(
        {
            m.group(1).rstrip(".")
            for m in _PATH.finditer(text)
            if text[m.end() : m.end() + 1] not in ("*", "<", "{", "…")  # a pattern, not a path
            and not re.search(r"/(part|chapter)[A-Z]", m.group(1))
        }
    )
    return [
        f"{rel}: mentions {path}, which the learner's copy does not have"
        for path in found
        if not release.is_shipped(root, Path(path.rstrip("/")))
    ]


def command_problem(root: Path, line: str) -> str | None:
    """Why `python -m grader <args>` would not work in the learner's copy, or None."""
    from grader.cli import UsageError, _grade_parser
    from grader.grade import SelectionError, select

    try:
        args = shlex.split(_OPTIONAL.sub("", line))
    except ValueError:
        return None
    if args and args[0] in INSTRUCTOR_COMMANDS:
        return f"`{args[0]}` is an instructor's command (the learner's copy has no solutions/)"
    if args and args[0] in LEARNER_COMMANDS:
        return _learner_command_problem(root, args)
    try:
        parsed = _grade_parser().parse_args(args)
    except (UsageError, SystemExit) as exc:
        return f"does not parse: {exc}"
    if parsed.impl == "solutions":
        return "--impl solutions: the learner's copy has no solutions/"
    target = parsed.target if parsed.target and not _PLACEHOLDER.search(parsed.target) else None
    name = parsed.name if parsed.name and not _PLACEHOLDER.search(parsed.name) else None
    if target or name:
        try:
            select(root, target, name)
        except SelectionError as exc:
            if not (name and _PLACEHOLDER.search(parsed.name or "")):
                return str(exc)
    return None


LEARNER_COMMANDS = {"hint", "watch", "progress", "site"}


def _learner_command_problem(root: Path, args: list[str]) -> str | None:
    from grader.cli import UsageError, _hint_parser, _progress_parser, _site_parser, _watch_parser
    from grader.commands.hint import resolve
    from grader.grade import SelectionError, select

    parsers = {
        "hint": _hint_parser,
        "watch": _watch_parser,
        "progress": _progress_parser,
        "site": _site_parser,
    }
    parser = parsers[args[0]]
    try:
        parsed = parser().parse_args(args[1:])
    except (UsageError, SystemExit) as exc:
        return f"does not parse: {exc}"
    try:
        if getattr(parsed, "name", None) and not _PLACEHOLDER.search(parsed.name):
            resolve(root, parsed.name)
        if getattr(parsed, "target", None) and not _PLACEHOLDER.search(parsed.target):
            select(root, parsed.target)
    except SelectionError as exc:
        return str(exc)
    return None


def _command_problems(root: Path, rel: Path, text: str) -> list[str]:
    problems = []
    for code in _code(text):
        for match in _COMMAND.finditer(code):
            why = command_problem(root, match.group(1).strip())
            if why:
                problems.append(f"{rel}: `python -m grader{match.group(1).rstrip()}`: {why}")
    return problems


def _unlisted_chapters(root: Path, texts: dict[Path, str]) -> list[str]:
    """Both READMEs' chapter tables name every chapter the course has."""
    readmes = {Path(release.LEARNER_README): texts.get(Path("README.md"), "")}
    if (root / "README.md").is_file():
        readmes[Path("README.md")] = (root / "README.md").read_text()
    return [
        f"{rel}: the chapter table does not list {chapter}"
        for rel, text in readmes.items()
        if text  # a course without READMEs (a test fixture) has no table to keep
        for chapter in layout.chapters(root)
        if not re.search(rf"\b{chapter}\b", text)
    ]


def problems(root: Path, chapters: list[str] | None = None, pages: bool = True) -> list[str]:
    """What does not resolve in the learner's copy: in the chapter pages of `chapters`
    (all when None), and in the README and docs when `pages`."""
    texts = release.shipped_markdown(root)
    found: list[str] = []
    for rel, text in texts.items():
        in_chapters = rel.parts[0] == "chapters"
        if in_chapters and chapters is not None and rel.parts[1] not in chapters:
            continue
        if not in_chapters and not pages:
            continue
        found += _link_problems(root, rel, text, texts)
        found += _path_problems(root, rel, text)
        found += _command_problems(root, rel, text)
    if pages:
        found += _unlisted_chapters(root, texts)
    # The exercise files' header cells name their reading page and their grading command.
    for path in sorted((root / "exercises").glob("chapter*/part*.py")):
        if chapters is None or path.parent.name in chapters:
            rel, text = path.relative_to(root), path.read_text()
            found += _path_problems(root, rel, text) + _command_problems(root, rel, text)
    return list(dict.fromkeys(found))
