"""The course as a static website: `python -m grader site OUT`.

Every Markdown page of the course (the README, docs/, each chapter's page and each part's
reading) becomes an HTML page, with the maths converted to MathML at build time (browsers
render it natively: no script, font or style is fetched from anywhere), code highlighted by
Pygments, and each exercise's brief followed by its file and the commands that grade it and
show its hints. Files the pages link to (the exercise files, notebooks) are copied beside
them, so every link resolves. A search box works offline (its index is in search.js, so
even a page opened from disk, with no server, can search), and
progress.html is drawn from the learner's progress store (rebuilt by the same command).
"""

from __future__ import annotations

import html
import json
import re
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from grader import briefs, catalog, history, layout
from grader.store import Store

STYLE = """
:root { --fg: #1d1d1f; --muted: #5f6368; --line: #dadce0; --accent: #1a56db; --soft: #f6f8fa; }
* { box-sizing: border-box; }
body { margin: 0; font: 16px/1.6 system-ui, -apple-system, "Segoe UI", sans-serif; color: var(--fg); }
header { display: flex; gap: 1rem; align-items: center; flex-wrap: wrap; padding: .6rem 1rem;
         border-bottom: 1px solid var(--line); background: #fff; position: sticky; top: 0; z-index: 2; }
header a.home { font-weight: 600; color: var(--fg); text-decoration: none; }
header nav a { margin-right: .8rem; }
#search { position: relative; margin-left: auto; }
#search input { width: 16rem; max-width: 60vw; padding: .3rem .5rem; border: 1px solid var(--line);
                border-radius: 4px; }
#results { position: absolute; right: 0; top: 2.2rem; width: 24rem; max-width: 90vw; background: #fff;
           border: 1px solid var(--line); border-radius: 4px; list-style: none; margin: 0; padding: 0; }
#results:empty { display: none; }
#results li a { display: block; padding: .3rem .6rem; text-decoration: none; }
#results li small { color: var(--muted); margin-left: .4rem; }
main { max-width: 52rem; margin: 0 auto; padding: 1rem 1.2rem 4rem; }
a { color: var(--accent); }
pre { background: var(--soft); padding: .8rem; overflow-x: auto; border-radius: 4px; }
code { font-family: ui-monospace, SFMono-Regular, Menlo, monospace; font-size: .92em; }
table { border-collapse: collapse; margin: 1rem 0; display: block; overflow-x: auto; }
th, td { border: 1px solid var(--line); padding: .3rem .6rem; text-align: left; vertical-align: top; }
details { border: 1px solid var(--line); border-radius: 4px; padding: .3rem .8rem; margin: .5rem 0; }
summary { cursor: pointer; color: var(--accent); }
math[display="block"] { margin: .8rem 0; overflow-x: auto; }
.exercise { background: var(--soft); border-left: 3px solid var(--accent); padding: .4rem .8rem;
            font-size: .95em; }
.passed { color: #137333; } .todo { color: var(--muted); }
.failed, .error, .crashed, .timeout { color: #b3261e; }
img.chart { max-width: 100%; }
"""

SEARCH_JS = """
(function () {
  // INDEX is defined above this function in the same file: a page opened from disk
  // (file://) may not fetch a JSON file, but it runs its own scripts.
  var box = document.getElementById("q"), list = document.getElementById("results");
  var root = document.body.getAttribute("data-root"), index = INDEX;
  function show() {
    var words = box.value.toLowerCase().split(/\\s+/).filter(Boolean);
    list.innerHTML = "";
    if (!words.length) return;
    var found = index.filter(function (entry) {
      var text = (entry.title + " " + entry.where).toLowerCase();
      return words.every(function (w) { return text.indexOf(w) >= 0; });
    }).slice(0, 12);
    found.forEach(function (entry) {
      var item = document.createElement("li"), link = document.createElement("a");
      link.href = root + entry.url;
      link.textContent = entry.title;
      var where = document.createElement("small");
      where.textContent = entry.where;
      link.appendChild(where);
      item.appendChild(link);
      list.appendChild(item);
    });
  }
  box.addEventListener("input", show);
})();
"""


@dataclass
class Site:
    root: Path
    out: Path
    pages: dict[Path, Path] = field(default_factory=dict)  # source .md (relative) -> page (relative)
    search: list[dict[str, str]] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    copied: set[Path] = field(default_factory=set)


def _page_of(rel: Path) -> Path:
    """Where a Markdown file's page goes: a folder's README.md is its index.html."""
    if rel.name == "README.md":
        return rel.with_name("index.html")
    return rel.with_suffix(".html")


def sources(root: Path) -> list[Path]:
    """The Markdown pages of the course, relative to its root: README, docs/, chapters/."""
    found = [Path("README.md")] if (root / "README.md").is_file() else []
    # docs/learner_readme.md is the README of the learner's copy, written for its root.
    found += sorted(
        p.relative_to(root) for p in (root / "docs").glob("*.md") if p.name != "learner_readme.md"
    )
    for chapter in layout.chapters(root):
        folder = root / "chapters" / chapter
        found += [p.relative_to(root) for p in [folder / "README.md"] if p.is_file()]
        found += sorted(p.relative_to(root) for p in folder.glob("part*.md"))
    return found


def _markdown(site: Site) -> Any:
    from latex2mathml.converter import convert
    from markdown_it import MarkdownIt
    from mdit_py_plugins.anchors import anchors_plugin
    from mdit_py_plugins.dollarmath import dollarmath_plugin
    from pygments import highlight
    from pygments.formatters import HtmlFormatter
    from pygments.lexers import get_lexer_by_name
    from pygments.util import ClassNotFound

    def maths(content: str, options: dict[str, Any]) -> str:
        display = "block" if options.get("display_mode") else "inline"
        try:
            return convert(content, display=display)
        except Exception as exc:  # a formula latex2mathml cannot read: shown as code, reported
            site.problems.append(f"maths not converted ({type(exc).__name__}): {content[:80]}")
            return f'<code class="math-error">{html.escape(content)}</code>'

    def code(text: str, language: str, _attrs: str) -> str:
        try:
            lexer = get_lexer_by_name(language or "text")
        except ClassNotFound:
            lexer = get_lexer_by_name("text")
        return highlight(text, lexer, HtmlFormatter(nowrap=False))

    md = MarkdownIt("commonmark", {"html": True, "highlight": code}).enable("table")
    md.use(dollarmath_plugin, allow_digits=False, double_inline=True, renderer=maths)
    md.use(anchors_plugin, min_level=1, max_level=4)
    return md


def _with_exercise_lines(root: Path, rel: Path, text: str) -> str:
    """Under each exercise's brief heading, its file and the commands that grade it."""
    if len(rel.parts) != 3 or rel.parts[0] != "chapters" or not rel.stem.startswith("part"):
        return text
    chapter, part = rel.parts[1], rel.stem
    short = f"{chapter.split('_')[0]}/{part.split('_')[0]}"
    found = briefs.parse(text)
    lines = text.split("\n")
    for brief in sorted(found.values(), key=lambda b: -b.line):
        exercise = f"exercises/{chapter}/{part}.py"
        link = f"../../{exercise}" if (root / exercise).is_file() else None
        where = f'<a href="{link}"><code>{exercise}</code></a>' if link else f"<code>{exercise}</code>"
        note = (
            f'<p class="exercise">Write it in {where} · grade it: '
            f"<code>python -m grader {short} -k {html.escape(brief.name)}</code> · "
            f"a hint: <code>python -m grader hint {html.escape(brief.name)}</code></p>"
        )
        lines.insert(brief.line, "\n" + note + "\n")
    return "\n".join(lines)


_HREF = re.compile(r'(href|src)="([^"#:]+)(#[^"]*)?"')


def _rewrite_links(site: Site, rel: Path, body: str) -> str:
    """Links to Markdown files point at their pages; other course files are copied."""

    def fix(match: re.Match[str]) -> str:
        attr, target, anchor = match.group(1), match.group(2), match.group(3) or ""
        if target.startswith("/"):
            return match.group(0)
        resolved = (site.root / rel.parent / target).resolve()
        try:
            inside = resolved.relative_to(site.root.resolve())
        except ValueError:
            return match.group(0)
        if inside in site.pages:
            page = site.pages[inside]
            return f'{attr}="{_relative(page, _page_of(rel))}{anchor}"'
        if resolved.is_file():
            site.copied.add(inside)
        return match.group(0)

    return _HREF.sub(fix, body)


def _relative(target: Path, page: Path) -> str:
    ups = len(page.parent.parts)
    return "/".join([".."] * ups + list(target.parts))


def _frame(title: str, body: str, page: Path) -> str:
    root = "../" * len(page.parent.parts)
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{html.escape(title)}</title>
<link rel="icon" href="data:,">
<link rel="stylesheet" href="{root}style.css">
</head>
<body data-root="{root}">
<header><a class="home" href="{root}index.html">Deep learning in NumPy</a>
<nav><a href="{root}chapters.html">Chapters</a><a href="{root}progress.html">Your progress</a></nav>
<div id="search"><input id="q" type="search" placeholder="Search exercises and pages" aria-label="Search">
<ul id="results"></ul></div></header>
<main>
{body}
</main>
<script src="{root}search.js"></script>
</body></html>
"""


def _title(text: str, fallback: str) -> str:
    match = re.search(r"^# +(.+)$", text, re.MULTILINE)
    return re.sub(r"[`*]", "", match.group(1)).strip() if match else fallback


def _index_entries(site: Site, rel: Path, text: str, title: str) -> None:
    from mdit_py_plugins.anchors.index import slugify

    page = site.pages[rel].as_posix()
    site.search.append({"title": title, "where": "page", "url": page})
    if not (rel.parts[0] == "chapters" and rel.stem.startswith("part")):
        return  # briefs live in the parts' readings (docs/ shows the heading form as an example)
    for brief in briefs.parse(text).values():
        anchor = slugify(brief.heading.replace("`", ""))  # as the anchors plugin names the heading
        site.search.append({"title": brief.name, "where": f"exercise · {title}", "url": f"{page}#{anchor}"})


def _chapters_page(course: list[catalog.ChapterInfo]) -> str:
    rows = []
    for chapter in course:
        link = f"chapters/{chapter.name}/index.html"
        rows.append(
            f'<li><a href="{link}">{html.escape(chapter.title)}</a> — {len(chapter.exercises)} exercises<ul>'
        )
        for part in chapter.parts:
            page = f"chapters/{part.part.chapter}/{part.part.name}.html"
            rows.append(f'<li><a href="{page}">{html.escape(part.title)}</a> ({len(part.exercises)})</li>')
        rows.append("</ul></li>")
    return "<h1>Chapters</h1>\n<ul>\n" + "\n".join(rows) + "\n</ul>"


def _progress_page(root: Path, course: list[catalog.ChapterInfo], store: Store, out: Path) -> str:
    from grader.commands import progress as progress_command

    recorded = store.history()
    progress = history.chapters_progress(root, course, recorded)
    picture = progress_command.draw(progress, out / "progress.svg")
    parts = ["<h1>Your progress</h1>"]
    if picture is None:
        (out / "progress.svg").unlink(missing_ok=True)
        parts.append(
            "<p>No exercise has passed yet: grade one with <code>python -m grader chapter0</code>, "
            "then build the site again.</p>"
        )
    else:
        parts.append('<p><img class="chart" src="progress.svg" alt="Exercises passed over time"></p>')
    for chapter in progress:
        done = f"{chapter.passed}/{len(chapter.exercises)} passed, {chapter.state}"
        parts.append(f"<h2>{html.escape(chapter.chapter.title)}</h2><p>{html.escape(done)}</p>")
        rows = [
            "<tr><th>exercise</th><th>status</th><th>first passed</th><th>attempts</th><th>hints</th></tr>"
        ]
        for e in chapter.exercises:
            first = progress_command.when(e.first_passed)
            rows.append(
                f"<tr><td>{html.escape(e.exercise.name)}</td>"
                f'<td class="{e.status.value}">{e.status.value}</td>'
                f"<td>{first}</td><td>{e.attempts}</td><td>{e.hints}</td></tr>"
            )
        parts.append("<table>" + "".join(rows) + "</table>")
    return "\n".join(parts)


def build(root: Path, out: Path, store: Store) -> Site:
    """Write the site into `out` (created, or emptied of a previous build's pages)."""
    from pygments.formatters import HtmlFormatter

    site = Site(root, out)
    out.mkdir(parents=True, exist_ok=True)
    site.pages = {rel: _page_of(rel) for rel in sources(root)}
    md = _markdown(site)
    for rel, page in site.pages.items():
        text = (root / rel).read_text()
        title = _title(text, rel.stem)
        _index_entries(site, rel, text, title)
        body = md.render(_with_exercise_lines(root, rel, text))
        body = _rewrite_links(site, rel, body)
        target = out / page
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(_frame(title, body, page))
    for rel in sorted(site.copied):
        target = out / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(root / rel, target)
    course = catalog.course(root)  # read once: it parses every test file
    (out / "chapters.html").write_text(_frame("Chapters", _chapters_page(course), Path("chapters.html")))
    (out / "progress.html").write_text(
        _frame("Your progress", _progress_page(root, course, store, out), Path("progress.html"))
    )
    (out / "style.css").write_text(STYLE + HtmlFormatter().get_style_defs(".highlight"))
    index = json.dumps(site.search, ensure_ascii=False)
    (out / "search.js").write_text(f"var INDEX = {index};\n{SEARCH_JS}")
    return site
