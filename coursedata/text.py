"""English prose for language models: the documentation topics that every Python ships in
the standard library's `pydoc_data.topics`, joined deterministically, with a fixed split."""

from __future__ import annotations

import unicodedata

# Typographic characters of the topics, spelled in ASCII (anything else non-ASCII is dropped).
_ASCII = {
    "\u2018": "'",
    "\u2019": "'",
    "\u201c": '"',
    "\u201d": '"',
    "\u2013": "-",
    "\u2014": "--",
    "\u2026": "...",
}


def load_pydoc_text(ascii_only: bool = True) -> str:
    """Every topic of `pydoc_data.topics`, in sorted order of their keys, joined by a blank line.

    About 0.46 MB of text (the exact size depends on the Python version). With ascii_only
    (the default) curly quotes and dashes become their ASCII spellings, accents are
    stripped and any other non-ASCII character is dropped, so the alphabet is at most the
    95 printable ASCII characters plus newline.
    """
    from pydoc_data.topics import topics

    text = "\n\n".join(topics[key].strip("\n") for key in sorted(topics)) + "\n"
    if not ascii_only:
        return text
    text = "".join(_ASCII.get(ch, ch) for ch in text)
    text = unicodedata.normalize("NFKD", text)
    return "".join(ch for ch in text if ch == "\n" or " " <= ch <= "~")


def split_text(text: str, held_out_fraction: float = 0.1) -> tuple[str, str]:
    """(train, held_out): the text cut in two at a line break near (1 - fraction) of its length.

    The cut is the first newline at or after the target position, so that neither part
    starts in the middle of a line; the held-out part is the end of the text.
    """
    if not 0.0 < held_out_fraction < 1.0:
        raise ValueError(f"held_out_fraction must be in (0, 1), got {held_out_fraction}")
    target = int(round((1.0 - held_out_fraction) * len(text)))
    cut = text.find("\n", target)
    cut = len(text) if cut < 0 else cut + 1
    return text[:cut], text[cut:]
