"""Domain sources named by short strings, so a CLI flag, a config file or a proxy-run spec can say which
corpora to load: ``fortunes:en``, ``fortunes:de`` (es, it, ru), ``stdlib`` (Python source),
``folder:PATH`` (``*.txt``/``*.md``), ``jsonl:PATH`` (``text`` field). Optional ``name=`` prefix renames:
``legal=folder:/data/legal``."""

from __future__ import annotations

import json
from collections.abc import Sequence
from functools import lru_cache
from pathlib import Path

from mixkit.bench.data.base import DataFileError
from mixkit.bench.text.text_domains import (
    DataMissingError,
    TextDomain,
    TextDomains,
    load_fortunes,
    load_jsonl,
    load_python_stdlib,
    load_text_folder,
)

DEFAULT_SOURCES = ("fortunes:en", "fortunes:de", "fortunes:es", "fortunes:it", "fortunes:ru", "stdlib")


def _check_jsonl(path: Path, max_bytes: int | None, text_key: str = "text") -> None:
    """Every record that :func:`load_jsonl` would read (up to ``max_bytes`` of text) is a UTF-8 JSON object
    whose ``text_key`` is a string; else :class:`DataFileError` naming ``path:line``."""
    if not path.is_file():
        return  # load_jsonl says the file is missing
    total = 0
    with path.open("rb") as fh:
        for lineno, raw in enumerate(fh, 1):
            if not raw.strip():
                continue
            try:
                rec = json.loads(raw.decode("utf-8"))
            except UnicodeDecodeError as err:
                raise DataFileError(f"{path}:{lineno}: not UTF-8 text ({err.reason} at byte {err.start})"
                                    ) from None
            except ValueError as err:
                raise DataFileError(f"{path}:{lineno}: not a JSON record ({err})") from None
            if not isinstance(rec, dict):
                raise DataFileError(f"{path}:{lineno}: a record must be a JSON object, got "
                                    f"{type(rec).__name__}")
            if not isinstance(rec.get(text_key), str):
                got = type(rec[text_key]).__name__ if text_key in rec else "nothing"
                raise DataFileError(f"{path}:{lineno}: record's {text_key!r} must be a string, got {got}")
            total += len(rec[text_key].encode("utf-8")) + 1
            if max_bytes is not None and total >= max_bytes:
                return


def _check_utf8(d: TextDomain, folder: Path) -> None:
    """A text folder's documents must be UTF-8; on failure name the first file that is not."""
    try:
        for t in (d.train, d.val):
            bytes(t.numpy()).decode("utf-8")
    except UnicodeDecodeError:
        for p in sorted(p for pat in ("*.txt", "*.md") for p in folder.rglob(pat) if p.is_file()):
            try:
                p.read_bytes().decode("utf-8")
            except UnicodeDecodeError as err:
                raise DataFileError(f"{p}: not UTF-8 text ({err.reason} at byte {err.start}); convert it "
                                    "(e.g. iconv -t UTF-8) or leave it out") from None
        raise DataFileError(f"{folder}: holds text that is not UTF-8") from None


def load_source(spec: str, max_bytes: int | None = 1_000_000, seed: int = 0) -> TextDomain:
    """Load one domain from its source string (see module docstring).

    Refuses (naming the source, and the file where one is at fault): an unknown or empty spec, an empty
    ``NAME=``, a folder or JSONL file with fewer than two non-empty documents (``DataMissingError``), a
    folder file or JSONL line that is not UTF-8, a JSONL line that is not an object with a string ``text``
    (:class:`~mixkit.bench.data.DataFileError`, a ``ValueError``)."""
    if not isinstance(spec, str) or not spec.strip():
        raise ValueError(f"domain source must be a non-empty string, got {spec!r}")
    if max_bytes is not None and (isinstance(max_bytes, bool) or not isinstance(max_bytes, int)
                                  or max_bytes < 1):
        raise ValueError(f"max_bytes must be None or a positive int, got {max_bytes!r}")
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise TypeError(f"seed must be an int, got {seed!r}")
    name = None
    body = spec
    if "=" in spec.split(":", 1)[0]:
        name, body = spec.split("=", 1)
        if not name.strip():
            raise ValueError(f"domain source {spec!r}: the name before '=' is empty")
    kind, _, arg = body.partition(":")
    try:
        if kind == "fortunes":
            d = load_fortunes(arg or "en", max_bytes=max_bytes, seed=seed)
        elif kind == "stdlib" and not arg:
            d = load_python_stdlib(max_bytes=max_bytes, seed=seed)
        elif kind == "folder" and arg:
            d = load_text_folder(arg, max_bytes=max_bytes, seed=seed)
            _check_utf8(d, Path(arg))
        elif kind == "jsonl" and arg:
            _check_jsonl(Path(arg), max_bytes)
            d = load_jsonl(arg, max_bytes=max_bytes, seed=seed)
        else:
            raise ValueError(
                f"unknown domain source {spec!r}: expected fortunes:LANG, stdlib, folder:PATH or jsonl:PATH "
                "(optionally NAME=...)"
            )
    except DataMissingError as err:
        msg = str(err)
        named = spec in msg or bool(arg and arg in msg)
        raise DataMissingError(msg if named else f"domain source {spec!r}: {msg}") from None
    if name:
        d = TextDomain(name=name, train=d.train, val=d.val, n_documents=d.n_documents)
    return d


@lru_cache(maxsize=4)
def load_sources(
    sources: tuple[str, ...], seq_len: int, max_bytes: int | None = 1_000_000, seed: int = 0
) -> TextDomains:
    """All domains of ``sources`` as :class:`TextDomains` (cached per process: proxy runs reuse it)."""
    return TextDomains([load_source(s, max_bytes, seed) for s in sources], seq_len=seq_len)


def parse_sources(text: str | Sequence[str] | None) -> tuple[str, ...]:
    """Comma-separated string or list -> tuple; ``None``/empty -> :data:`DEFAULT_SOURCES`."""
    if not text:
        return DEFAULT_SOURCES
    if not isinstance(text, (str, Sequence)) or isinstance(text, bytes):
        raise TypeError(f"domain sources must be a comma-separated str or a list of str, got "
                        f"{type(text).__name__}")
    items = text.split(",") if isinstance(text, str) else list(text)
    if not all(isinstance(s, str) for s in items):
        raise TypeError(f"domain sources must be strings, got {items!r}")
    out = tuple(s.strip() for s in items if s.strip())
    if not out:
        raise ValueError(f"no domain sources in {text!r}")
    return out
