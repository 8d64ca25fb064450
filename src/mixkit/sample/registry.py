"""Name -> mixer, so configs and the CLI can say ``"cutmix:alpha=1.0,mode=elem"``.

Spec grammar::

    spec    := choice ( "|" choice )*          several choices -> RandomChoice, one per batch
    choice  := name [ ":" key "=" value ( "," key "=" value )* ] [ "@" weight ]

Values are Python literals (``1.0``, ``True``, ``(0.1, 0.8)``) or bare strings (``elem``).
"""

from __future__ import annotations

import ast
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
    from .mixers.model_aware import ModelAwareMixer  # late import: the mixers import this module

    out = []
    for name in sorted(set(_CANONICAL.values())):
        cls = _REGISTRY[name]
        aliases = tuple(sorted(k for k, v in _CANONICAL.items() if v == name and k != name))
        out.append(MethodInfo(name, cls, cls.paper, cls.paper_url, defaults(cls), aliases,
                              release=cls.release, tasks=frozenset(cls.tasks),
                              requires=frozenset(cls.requires),
                              model_aware=issubclass(cls, ModelAwareMixer)))
    return out


def names() -> list[str]:
    return sorted(set(_CANONICAL.values()))


def get(name: str) -> type:
    """The class registered under ``name`` (case-insensitive)."""
    key = name.strip().lower()
    if key not in _REGISTRY:
        raise ValueError(f"unknown mixing method {name!r}; known methods: {', '.join(names())}")
    return _REGISTRY[key]


def build(spec: Any, **overrides: Any):
    """Build a mixer from a spec string (see module doc), a class, or return a mixer instance as is."""
    from .mixers.random_choice import RandomChoice  # late import: the mixers import this module

    if not isinstance(spec, str):
        if isinstance(spec, type):
            return spec(**overrides)
        if callable(spec):
            return spec
        raise TypeError("spec must be a string like 'cutmix:alpha=1.0', a mixer class or a mixer, "
                        f"got {spec!r}")
    text = spec.strip()
    if not text:
        raise ValueError("spec must name a mixing method, got an empty string")
    choices = [c.strip() for c in text.split("|")]
    if len(choices) == 1 and "@" not in choices[0]:
        name, kwargs = parse_choice(choices[0])
        return _instantiate(name, {**kwargs, **overrides})
    mixers, weights = [], []
    for choice in choices:
        body, _, weight = choice.partition("@")
        name, kwargs = parse_choice(body)
        mixers.append(_instantiate(name, {**kwargs, **overrides}))
        weights.append(_literal(weight) if weight else 1.0)
    return RandomChoice(mixers, weights)


def parse_choice(text: str) -> tuple[str, dict[str, Any]]:
    """``"cutmix:alpha=1.0,mode=elem"`` -> ``("cutmix", {"alpha": 1.0, "mode": "elem"})``."""
    name, _, args = text.partition(":")
    kwargs: dict[str, Any] = {}
    for item in _split_args(args):
        key, eq, value = item.partition("=")
        if not eq or not key.strip():
            raise ValueError(f"bad argument {item!r} in spec {text!r}: expected key=value")
        kwargs[key.strip()] = _literal(value.strip())
    return name.strip(), kwargs


def spec_name(spec: str) -> str:
    """Canonical method name(s) of a spec, for labelling results: ``"mixup|cutmix"``."""
    return "|".join(_CANONICAL.get(parse_choice(c.partition("@")[0])[0].lower(), c) for c in spec.split("|"))


def _instantiate(name: str, kwargs: dict[str, Any]):
    cls = get(name)
    try:
        return cls(**kwargs)
    except TypeError as err:
        params = ", ".join(defaults(cls)) or "none"
        raise ValueError(f"bad arguments for mixing method {name!r}: {err}; accepted: {params}") from None


def _split_args(args: str) -> list[str]:
    parts, depth, cur = [], 0, ""
    for ch in args:
        if ch in "([{":
            depth += 1
        elif ch in ")]}":
            depth -= 1
        if ch == "," and depth == 0:
            parts.append(cur)
            cur = ""
        else:
            cur += ch
    if cur.strip():
        parts.append(cur)
    return [p for p in (q.strip() for q in parts) if p]


def _literal(value: str) -> Any:
    try:
        return ast.literal_eval(value)
    except (ValueError, SyntaxError):
        return value


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
