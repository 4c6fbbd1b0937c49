"""An exercise's brief, read from its part's reading page: the heading that names it, the
difficulty, importance and time that heading states, and the hints folded under it.

A brief starts at a heading whose first code span is the exercise's name:

    ### `rnn_backward` — difficulty ★★★, importance ●●●, about 25 minutes

difficulty and importance are one to three filled marks out of three; the time is whole
minutes. The brief runs to the next heading of the same or a higher level, and its hints
are the `<details><summary>Hint …</summary> … </details>` blocks inside it, in order.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

HEADING_RE = re.compile(r"^(?P<hashes>#{1,6}) +(?P<text>.*\S)\s*$", re.MULTILINE)
NAME_RE = re.compile(r"`(?P<name>[A-Za-z_]\w*)")
DIFFICULTY_RE = re.compile(r"difficulty (?P<marks>★{1,3}☆*)")
IMPORTANCE_RE = re.compile(r"importance (?P<marks>●{1,3}○*)")
MINUTES_RE = re.compile(r"about (?P<minutes>\d+) minutes?\b")
HINT_RE = re.compile(
    r"<details>\s*<summary>\s*Hint[^<]*</summary>(?P<body>.*?)</details>", re.DOTALL | re.IGNORECASE
)
MAX_HINTS = 3
FORMAT = "### `name` — difficulty ★★☆, importance ●●○, about 15 minutes"


@dataclass
class Brief:
    name: str
    heading: str
    line: int  # of the heading, 1-based
    difficulty: int | None  # 1-3
    importance: int | None  # 1-3
    minutes: int | None
    hints: list[str] = field(default_factory=list)  # Markdown, in the order they are revealed

    def problems(self) -> list[str]:
        """What the heading or the hints lack, in words an author can act on."""
        found = []
        if self.difficulty is None:
            found.append("no difficulty")
        if self.importance is None:
            found.append("no importance")
        if self.minutes is None:
            found.append("no time")
        if not 1 <= len(self.hints) <= MAX_HINTS:
            found.append(f"{len(self.hints)} hints (one to {MAX_HINTS})")
        return found


def _marks(pattern: re.Pattern[str], text: str, filled: str) -> int | None:
    match = pattern.search(text)
    return match["marks"].count(filled) if match else None


def parse(text: str) -> dict[str, Brief]:
    """Every brief on a reading page, by exercise name (the first heading naming it wins)."""
    headings = list(HEADING_RE.finditer(text))
    briefs: dict[str, Brief] = {}
    for i, heading in enumerate(headings):
        name = NAME_RE.search(heading["text"])
        if not name or name["name"] in briefs:
            continue
        level = len(heading["hashes"])
        end = next((h.start() for h in headings[i + 1 :] if len(h["hashes"]) <= level), len(text))
        body = text[heading.end() : end]
        minutes = MINUTES_RE.search(heading["text"])
        briefs[name["name"]] = Brief(
            name=name["name"],
            heading=heading["text"],
            line=text.count("\n", 0, heading.start()) + 1,
            difficulty=_marks(DIFFICULTY_RE, heading["text"], "★"),
            importance=_marks(IMPORTANCE_RE, heading["text"], "●"),
            minutes=int(minutes["minutes"]) if minutes else None,
            hints=[_dedent(h["body"]) for h in HINT_RE.finditer(body)],
        )
    return briefs


def read(reading: Path) -> dict[str, Brief]:
    try:
        return parse(reading.read_text())
    except OSError:
        return {}


def _dedent(markdown: str) -> str:
    return "\n".join(line.rstrip() for line in markdown.strip("\n").splitlines()).strip()
