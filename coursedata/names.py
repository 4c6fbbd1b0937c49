"""First names for character-level language models: the US census lists shipped by the
`names` package when installed (the `data` extra), else names generated from syllables."""

from __future__ import annotations

from importlib import resources
from typing import Literal

import numpy as np

_ONSETS = [
    "b",
    "br",
    "c",
    "ch",
    "d",
    "el",
    "f",
    "g",
    "h",
    "j",
    "k",
    "l",
    "m",
    "n",
    "p",
    "r",
    "s",
    "sh",
    "t",
    "v",
    "w",
    "z",
]
_VOWELS = ["a", "e", "i", "o", "u", "ai", "ia", "ie", "ou", "y"]
_CODAS = ["", "", "", "n", "l", "r", "s", "th", "nd", "tt", "lla", "na", "ra", "son", "lyn"]


def _generated(n: int = 3000, seed: int = 0) -> list[str]:
    rng = np.random.default_rng(seed)
    found: set[str] = set()
    while len(found) < n:
        syllables = rng.integers(1, 4)
        name = "".join(rng.choice(_ONSETS) + rng.choice(_VOWELS) for _ in range(syllables))
        found.add(name + str(rng.choice(_CODAS)))
    return sorted(found)


def _census() -> list[str] | None:
    try:
        files = resources.files("names")
    except ModuleNotFoundError:
        return None
    found: set[str] = set()
    for table in ("dist.female.first", "dist.male.first"):
        for line in (files / table).read_text().splitlines():
            if line.strip():
                found.add(line.split()[0].lower())
    return sorted(found)


def load_names(source: Literal["auto", "census", "generated"] = "auto") -> list[str]:
    """Unique lower-case first names (a-z only), sorted.

    "auto": the census lists (5,163 names) when the `names` package is installed, else
    3,000 generated ones; "census" insists on the real list, "generated" on the fallback.
    """
    if source == "generated":
        return _generated()
    real = _census()
    if real is None:
        if source == "census":
            raise ImportError('the census names need the names package: pip install -e ".[data]"')
        return _generated()
    return real
