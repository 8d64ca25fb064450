"""The one grammar for domains of ``mixkit mixture plan``, ``search`` and ``train``: ``--domain SPEC``, once
per domain, where ``SPEC`` is ``[NAME=]KIND[:ARG]``:

* ``fortunes:LANG`` (en, de, es, it, ru: the fortune-mod packages), ``stdlib`` (Python's standard library
  source), ``folder:PATH`` (``*.txt``/``*.md`` files, one document each), ``jsonl:PATH`` (one record each,
  its ``text`` field);
* ``NAME=`` names the domain (letters, digits, ``_ . -``); without it the source names it.

``plan`` counts documents (JSONL records, files, fortunes, modules); ``search`` and ``train`` read the text.
The older spellings still work for now and print a one-line deprecation note: ``--domains A,B`` (search,
train) and ``--jsonl NAME=PATH ...`` (plan).
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

from .checks import UsageError

__all__ = ["KINDS", "add_domain_arguments", "domain_specs", "parse_domain_spec"]

KINDS = ("fortunes", "stdlib", "folder", "jsonl")
LANGUAGES = ("en", "de", "es", "it", "ru")
_NAME = re.compile(r"[A-Za-z0-9_.\-]+")
SPEC_HELP = ("a domain, once per domain: [NAME=]KIND[:ARG] with KIND fortunes:LANG (en de es it ru), stdlib, "
             "folder:PATH or jsonl:PATH; e.g. --domain fortunes:en --domain code=jsonl:data/code.jsonl")


def add_domain_arguments(p: argparse.ArgumentParser, legacy: str, default_help: str) -> None:
    """Add ``--domain SPEC`` (repeatable) and the deprecated spelling ``legacy`` (``"domains"``: one comma
    list; ``"jsonl"``: ``NAME=PATH ...``) to ``p``."""
    p.add_argument("--domain", action="append", metavar="SPEC", dest="domain",
                   help=f"{SPEC_HELP} ({default_help})")
    if legacy == "domains":
        p.add_argument("--domains", default=None, metavar="SPEC,SPEC",
                       help="deprecated: the same specs as one comma list; use --domain once per domain")
    elif legacy == "jsonl":
        p.add_argument("--jsonl", nargs="+", metavar="NAME=PATH",
                       help="deprecated: JSONL files to count; use --domain NAME=jsonl:PATH")
    else:  # pragma: no cover - programming error
        raise ValueError(f"legacy must be 'domains' or 'jsonl', got {legacy!r}")


def _note(message: str) -> None:
    print(f"mixkit: note: {message}", file=sys.stderr)


def parse_domain_spec(spec: str, option: str = "--domain") -> tuple[str | None, str, str]:
    """``[NAME=]KIND[:ARG]`` -> ``(name or None, kind, arg)``; checks the kind, the name, the language and
    that a path exists (a folder for ``folder:``, a file for ``jsonl:``)."""
    text = spec.strip()
    if not text:
        raise UsageError(f"{option}: empty domain spec; expected [NAME=]KIND[:ARG]")
    name = None
    head = text.split(":", 1)[0]
    if "=" in head:
        name, text = (s.strip() for s in text.split("=", 1))
        if not _NAME.fullmatch(name):
            raise UsageError(f"{option} {spec!r}: domain name {name!r} must be letters, digits, '_', '.' "
                             "or '-'")
    kind, _, arg = text.partition(":")
    kind = kind.strip()
    if kind not in KINDS:
        raise UsageError(f"{option} {spec!r}: unknown kind {kind!r}; expected [NAME=]KIND[:ARG] with KIND "
                         f"one of {', '.join(KINDS)}")
    if kind == "fortunes":
        arg = arg or "en"
        if arg not in LANGUAGES:
            raise UsageError(f"{option} {spec!r}: fortunes language must be one of {', '.join(LANGUAGES)}")
    elif kind == "stdlib":
        if arg:
            raise UsageError(f"{option} {spec!r}: stdlib takes no argument")
    else:
        if not arg:
            raise UsageError(f"{option} {spec!r}: {kind} needs a path: {kind}:PATH")
        path = Path(arg)
        if not path.exists():
            raise UsageError(f"{option} {spec!r}: {arg}: no such {'folder' if kind == 'folder' else 'file'}")
        if kind == "folder" and not path.is_dir():
            raise UsageError(f"{option} {spec!r}: {arg} is not a folder")
        if kind == "jsonl" and not path.is_file():
            raise UsageError(f"{option} {spec!r}: {arg} is not a file")
    return name, kind, arg


def _join(name: str | None, kind: str, arg: str) -> str:
    body = kind if kind == "stdlib" else f"{kind}:{arg}"
    return f"{name}={body}" if name else body


def domain_specs(args: argparse.Namespace, fallback: tuple[str, ...] | None = None) -> tuple[str, ...] | None:
    """The checked, normalised specs of ``--domain`` (and the deprecated spellings, with a note); ``fallback``
    (e.g. the sources a ``recommended.json`` names) when none was given. Names must be distinct."""
    raw: list[tuple[str, str]] = [("--domain", s) for s in (getattr(args, "domain", None) or [])]
    notes = []
    legacy = getattr(args, "domains", None)
    if legacy is not None:
        notes.append("--domains is deprecated; give --domain SPEC once per domain")
        items = [s.strip() for s in legacy.split(",")]
        if not any(items):
            raise UsageError(f"--domains: no domain specs in {legacy!r}")
        raw += [("--domains", s) for s in items if s]
    for item in getattr(args, "jsonl", None) or []:
        name, sep, path = item.partition("=")
        if not sep or not name.strip() or not path:
            raise UsageError(f"--jsonl: expected NAME=PATH, got {item!r}")
        raw.append(("--jsonl", f"{name.strip()}=jsonl:{path}"))
    if getattr(args, "jsonl", None):
        notes.append("--jsonl NAME=PATH is deprecated; use --domain NAME=jsonl:PATH")
    if not raw:
        return fallback
    specs, seen = [], {}
    for option, spec in raw:
        name, kind, arg = parse_domain_spec(spec, option)
        key = name or (f"fortunes:{arg}" if kind == "fortunes" else _join(None, kind, arg))
        if key in seen:
            raise UsageError(f"{option} {spec!r}: domain {key!r} given twice")
        seen[key] = spec
        specs.append(_join(name, kind, arg))
    for note in notes:  # only for specs that are otherwise fine: an error stays one line
        _note(note)
    return tuple(specs)
