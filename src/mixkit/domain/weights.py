"""Domain sizes and weights: validation, and exact integer weights.

Weights are normalised and held as integers over :data:`WEIGHT_DENOMINATOR` (``2**31``) by
largest-remainder rounding, so the schedule that interleaves domains works on exact integers with no
floating-point drift however long the run.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import numpy as np

#: weights are held as integers summing to this denominator
WEIGHT_DENOMINATOR = 1 << 31

#: a mixture: ``{domain: weight}``
Weights = dict[str, float]


def check_sizes(sizes: Mapping[str, int]) -> dict[str, int]:
    """Validate ``sizes``: a non-empty mapping from domain name (``str``) to a positive ``int``."""
    if not isinstance(sizes, Mapping) or not sizes:
        raise ValueError(f"sizes must be a non-empty dict {{domain: number of items}}, got {sizes!r}")
    out: dict[str, int] = {}
    for name, size in sizes.items():
        if not isinstance(name, str) or not name:
            raise TypeError(f"sizes: domain names must be non-empty strings, got {name!r}")
        if isinstance(size, bool) or not isinstance(size, (int, np.integer)) or int(size) <= 0:
            raise ValueError(f"sizes[{name!r}] must be a positive integer, got {size!r}")
        out[name] = int(size)
    return out


def check_weights(weights: Mapping[str, float], domains: list[str] | tuple[str, ...]) -> dict[str, float]:
    """Validate ``weights`` against the known ``domains``: finite, >= 0, not all zero, no unknown name.

    Domains missing from ``weights`` get weight 0. Returns floats in the order of ``domains``
    (not normalised).
    """
    if not isinstance(weights, Mapping):
        raise TypeError(f"weights must be a dict {{domain: weight}}, got {type(weights).__name__}")
    known = set(domains)
    unknown = [k for k in weights if k not in known]
    if unknown:
        raise ValueError(f"weights name unknown domains {unknown}; known domains: {list(domains)}")
    out: dict[str, float] = {}
    for name in domains:
        value = weights.get(name, 0.0)
        try:
            w = float(value)
        except (TypeError, ValueError):
            raise ValueError(f"weights[{name!r}] must be a number, got {value!r}") from None
        if not math.isfinite(w) or w < 0:
            raise ValueError(f"weights[{name!r}] must be a finite number >= 0, got {value!r}")
        out[name] = w
    if not any(w > 0 for w in out.values()):
        raise ValueError(f"weights must have at least one positive entry, got {dict(weights)!r}")
    return out


def quantize_weights(weights: list[float], denominator: int = WEIGHT_DENOMINATOR) -> list[int]:
    """Normalise non-negative ``weights`` exactly and round them to integers summing to ``denominator``.

    Largest-remainder rounding on exact rationals: each result is within 1 of ``w_k / sum(w) *
    denominator``, except that a positive weight is never rounded to zero: one below ``1 / denominator``
    gets 1 unit, taken from the largest weight (so it is still drawn, at the smallest representable rate).
    Zero stays zero.
    """
    # floats are exact dyadic rationals: bring them to one power-of-two denominator as Python ints
    ratios = [float(w).as_integer_ratio() for w in weights]
    den = max(d for _, d in ratios)
    num = [n * (den // d) for n, d in ratios]
    total = sum(num)
    q = [n * denominator // total for n in num]
    rem = [n * denominator - qk * total for n, qk in zip(num, q)]
    rest = denominator - sum(q)
    for k in sorted(range(len(q)), key=lambda k: (-rem[k], k))[:rest]:
        q[k] += 1
    for k, n in enumerate(num):
        if n > 0 and q[k] == 0:
            q[k] = 1
            q[max(range(len(q)), key=lambda i: (q[i], -i))] -= 1
    return q


def normalise_weights(weights: Mapping[str, float], name: str = "weights") -> Weights:
    """``weights`` divided by their sum (``math.fsum``); raises unless the sum is positive and finite."""
    total = math.fsum(weights.values())
    if not total > 0 or not math.isfinite(total):
        raise ValueError(f"{name} must have a positive finite sum, got {dict(weights)!r}")
    return {k: v / total for k, v in weights.items()}
