"""Generated sections of a Markdown results page (``docs/results.md``).

A section is the text between ``<!-- mixkit:begin KEY -->`` and ``<!-- mixkit:end KEY -->``. Benchmark
suites and speed scripts given ``--results-page PATH`` replace their own section with the table they
measured and leave the rest of the page (hand-written text, other sections) as it is.
"""

from __future__ import annotations

import re
from pathlib import Path

__all__ = ["begin_marker", "end_marker", "read_section", "update_section", "write_section"]

_KEY = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")


def _check_key(key: str) -> str:
    if not isinstance(key, str) or not _KEY.match(key):
        raise ValueError(f"section key must be letters, digits, '.', '_' or '-', got {key!r}")
    return key


def begin_marker(key: str) -> str:
    """``<!-- mixkit:begin KEY -->``."""
    return f"<!-- mixkit:begin {_check_key(key)} -->"


def end_marker(key: str) -> str:
    """``<!-- mixkit:end KEY -->``."""
    return f"<!-- mixkit:end {_check_key(key)} -->"


def update_section(page: str, key: str, content: str) -> str:
    """``page`` with the section ``key`` holding ``content``; a missing section is appended at the end.

    The markers stay on their own lines; ``content`` is stripped of surrounding blank lines. A page with a
    begin marker but no end marker after it (or the reverse) is refused rather than guessed at.
    """
    begin, end = begin_marker(key), end_marker(key)
    body = content.strip("\n")
    block = f"{begin}\n{body}\n{end}" if body else f"{begin}\n{end}"
    b, e = page.find(begin), page.find(end)
    if b < 0 and e < 0:
        if not page:
            return block + "\n"
        return page + ("\n" if page.endswith("\n") else "\n\n") + block + "\n"
    if b < 0 or e < b or page.find(begin, b + 1) >= 0 or page.find(end, e + 1) >= 0:
        raise ValueError(f"results page has unbalanced or repeated markers for section {key!r}")
    return page[:b] + block + page[e + len(end):]


def read_section(page: str, key: str) -> str | None:
    """The content of section ``key`` (without markers), or ``None`` when the page has none."""
    begin, end = begin_marker(key), end_marker(key)
    b, e = page.find(begin), page.find(end)
    if b < 0 or e < b:
        return None
    return page[b + len(begin):e].strip("\n")


def write_section(path: str | Path, key: str, content: str) -> Path:
    """Update section ``key`` of the Markdown file at ``path`` (created with its folder if missing)."""
    path = Path(path)
    page = path.read_text(encoding="utf-8") if path.exists() else ""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(update_section(page, key, content), encoding="utf-8")
    return path
