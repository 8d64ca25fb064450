"""Domain sources named by short strings, so a CLI flag, a config file or a proxy-run spec can say which
corpora to load: ``fortunes:en``, ``fortunes:de`` (es, it, ru), ``stdlib`` (Python source),
``folder:PATH`` (``*.txt``/``*.md``), ``jsonl:PATH`` (``text`` field). Optional ``name=`` prefix renames:
``legal=folder:/data/legal``."""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache

from mixkit.bench.text.text_domains import (
    TextDomain,
    TextDomains,
    load_fortunes,
    load_jsonl,
    load_python_stdlib,
    load_text_folder,
)

DEFAULT_SOURCES = ("fortunes:en", "fortunes:de", "fortunes:es", "fortunes:it", "fortunes:ru", "stdlib")


def load_source(spec: str, max_bytes: int | None = 1_000_000, seed: int = 0) -> TextDomain:
    """Load one domain from its source string (see module docstring)."""
    if not isinstance(spec, str) or not spec:
        raise ValueError(f"domain source must be a non-empty string, got {spec!r}")
    name = None
    body = spec
    if "=" in spec.split(":", 1)[0]:
        name, body = spec.split("=", 1)
    kind, _, arg = body.partition(":")
    if kind == "fortunes":
        d = load_fortunes(arg or "en", max_bytes=max_bytes, seed=seed)
    elif kind == "stdlib":
        d = load_python_stdlib(max_bytes=max_bytes, seed=seed)
    elif kind == "folder" and arg:
        d = load_text_folder(arg, max_bytes=max_bytes, seed=seed)
    elif kind == "jsonl" and arg:
        d = load_jsonl(arg, max_bytes=max_bytes, seed=seed)
    else:
        raise ValueError(
            f"unknown domain source {spec!r}: expected fortunes:LANG, stdlib, folder:PATH or jsonl:PATH "
            "(optionally NAME=...)"
        )
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
    items = text.split(",") if isinstance(text, str) else list(text)
    out = tuple(s.strip() for s in items if s.strip())
    if not out:
        raise ValueError(f"no domain sources in {text!r}")
    return out
