"""Build mixers from spec strings, so configs and the CLI can say ``"cutmix:alpha=1.0,mode=elem"``.

Grammar::

    spec    := choice ( "|" choice )*          several choices -> RandomChoice, one per batch
    choice  := name [ ":" key "=" value ( "," key "=" value )* ] [ "@" weight ]

Values are Python literals (``1.0``, ``True``, ``(0.1, 0.8)``) or bare strings (``elem``).
"""

from __future__ import annotations

import ast
from typing import Any

from .mixers.random_choice import RandomChoice
from .registry import canonical, defaults, get

__all__ = ["build", "parse_choice", "spec_name"]


def build(spec: Any, **overrides: Any):
    """Build a mixer from a spec string (see module doc), a class, or return a mixer instance as is."""
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
        body, at, weight = choice.partition("@")
        name, kwargs = parse_choice(body)
        mixers.append(_instantiate(name, {**kwargs, **overrides}))
        weights.append(_choice_weight(weight, choice) if at else 1.0)
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
    return "|".join(canonical(parse_choice(c.partition("@")[0])[0], c) for c in spec.split("|"))


def _instantiate(name: str, kwargs: dict[str, Any]):
    cls = get(name)
    try:
        return cls(**kwargs)
    except TypeError as err:
        params = ", ".join(defaults(cls)) or "none"
        raise ValueError(f"bad arguments for mixing method {name!r}: {err}; accepted: {params}") from None


def _choice_weight(text: str, choice: str) -> float:
    """The ``@weight`` of one choice: a finite number >= 0, else ``ValueError`` naming the choice."""
    value = _literal(text.strip())
    ok = isinstance(value, (int, float)) and not isinstance(value, bool) and 0 <= value < float("inf")
    if not ok:
        raise ValueError(f"bad weight {text.strip()!r} in spec choice {choice!r}: expected a finite "
                         "number >= 0 after '@', e.g. 'mixup@0.5|cutmix@0.5'")
    return float(value)


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
