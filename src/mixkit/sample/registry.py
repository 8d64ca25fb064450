"""The table of mixer names: every ``Mixer`` subclass that declares ``name`` is added here when it is
defined, and :func:`available` reads each class's declared attributes (paper, release, tasks, ...).
Building a mixer from a spec string is :mod:`mixkit.sample.spec`.
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass
from typing import Any

_REGISTRY: dict[str, type] = {}
_CANONICAL: dict[str, str] = {}
_DEFAULTS: dict[type, dict[str, Any]] = {}


def add(cls: type) -> type:
    """Make a mixer class buildable by its ``name`` and ``aliases`` class attributes (called by
    ``Mixer.__init_subclass__``, so defining ``name`` on a subclass is all it takes)."""
    name = cls.name.lower()
    for key in (name, *(a.lower() for a in cls.aliases)):
        if key in _REGISTRY and _REGISTRY[key] is not cls:
            raise ValueError(f"mixer name {key!r} is already registered to {_REGISTRY[key].__name__}")
        _REGISTRY[key] = cls
        _CANONICAL[key] = name
    return cls


def remove(name: str) -> type:
    """Forget the mixer registered as ``name`` (and its aliases); returns its class."""
    cls = get(name)
    for key in [k for k, v in _REGISTRY.items() if v is cls]:
        del _REGISTRY[key], _CANONICAL[key]
    return cls


@dataclass(frozen=True)
class MethodInfo:
    """What ``mixkit list`` prints for one registered method, read from the class attributes."""

    name: str
    cls: type
    paper: str
    paper_url: str
    defaults: dict[str, Any]
    aliases: tuple[str, ...]
    release: str = ""
    tasks: frozenset[str] = frozenset()
    requires: frozenset[str] = frozenset()
    model_aware: bool = False


def available() -> list[MethodInfo]:
    """Every registered method (canonical names, sorted), with its paper and default parameters."""
    out = []
    for name in sorted(set(_CANONICAL.values())):
        cls = _REGISTRY[name]
        aliases = tuple(sorted(k for k, v in _CANONICAL.items() if v == name and k != name))
        out.append(MethodInfo(name, cls, cls.paper, cls.paper_url, defaults(cls), aliases,
                              release=cls.release, tasks=frozenset(cls.tasks),
                              requires=frozenset(cls.requires),
                              model_aware=cls.model_aware))
    return out


def names() -> list[str]:
    """Canonical names of every registered method, sorted."""
    return sorted(set(_CANONICAL.values()))


def canonical(name: str, default: str | None = None) -> str | None:
    """The canonical name of ``name`` (an alias or a canonical name; case-insensitive), or ``default``
    when no method is registered under it."""
    return _CANONICAL.get(name.strip().lower(), default)


def get(name: str) -> type:
    """The class registered under ``name`` (case-insensitive)."""
    key = name.strip().lower()
    if key not in _REGISTRY:
        raise ValueError(f"unknown mixing method {name!r}; known methods: {', '.join(names())}")
    return _REGISTRY[key]


def defaults(cls: type) -> dict[str, Any]:
    """Keyword defaults a mixer class accepts, read once per class from its ``__init__`` (and its
    parents' only while each ``__init__`` passes ``**kwargs`` on)."""
    if cls not in _DEFAULTS:
        _DEFAULTS[cls] = _init_defaults(cls)
    return dict(_DEFAULTS[cls])


def _init_defaults(cls: type) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for klass in cls.__mro__:
        init = klass.__dict__.get("__init__")
        if init is None or klass is object:
            continue
        params = inspect.signature(init).parameters.values()
        for p in params:
            if p.name == "self" or p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD):
                continue
            if p.default is not inspect.Parameter.empty:
                out.setdefault(p.name, p.default)
        if not any(p.kind == p.VAR_KEYWORD for p in params):
            break
    return out
