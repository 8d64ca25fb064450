"""Static mixtures: proportional, uniform, temperature sampling and UniMax-style repetition caps.

Every strategy maps ``sizes: {domain: number of items (or tokens)}`` to ``weights: {domain: float}``
summing to 1, ready for :class:`~mixkit.domain.MixtureSampler`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

from .weights import Weights, check_sizes, check_weights, normalise_weights


def proportional(sizes: Mapping[str, int]) -> Weights:
    """``w_k ∝ n_k``: every item equally likely (natural distribution)."""
    return temperature(sizes, 1.0)


def uniform(sizes: Mapping[str, int]) -> Weights:
    """``w_k = 1 / K``: every domain equally likely."""
    s = check_sizes(sizes)
    return {k: 1.0 / len(s) for k in s}


def temperature(sizes: Mapping[str, int], temperature: float) -> Weights:
    """Temperature sampling ``w_k ∝ n_k^(1/T)`` (as in multilingual pretraining, e.g. XLM / mT5):
    ``T = 1`` proportional, ``T -> inf`` uniform, ``T < 1`` sharpens towards the largest domain."""
    s = check_sizes(sizes)
    try:
        t = float(temperature)
    except (TypeError, ValueError):
        raise ValueError(f"temperature must be a number > 0, got {temperature!r}") from None
    if not t > 0 or not math.isfinite(t):
        raise ValueError(f"temperature must be a finite number > 0, got {temperature!r}")
    # log-space so huge sizes or small temperatures do not overflow
    logs = {k: math.log(n) / t for k, n in s.items()}
    top = max(logs.values())
    return normalise_weights({k: math.exp(v - top) for k, v in logs.items()})


def cap_repetition(weights: Mapping[str, float], sizes: Mapping[str, int], total: int,
                   max_epochs: float | Mapping[str, float]) -> Weights:
    """Cap each domain at ``max_epochs * size / total`` of the mix and hand the excess to the uncapped
    domains in proportion to their weights (water-filling), so no domain is repeated more than
    ``max_epochs`` times over a budget of ``total`` samples (or tokens, with sizes in tokens).

    Raises ``ValueError`` if the caps cannot cover ``total`` (every domain would have to exceed them).
    """
    s = check_sizes(sizes)
    w = check_weights(weights, tuple(s))
    _check_total(total)
    if isinstance(max_epochs, Mapping):
        unknown = [k for k in max_epochs if k not in s]
        if unknown:
            raise ValueError(f"max_epochs names unknown domains {unknown}; known: {list(s)}")
        per = {k: _epochs_value(max_epochs.get(k, math.inf), k) for k in s}
    else:
        per = dict.fromkeys(s, _epochs_value(max_epochs, None))
    for k, e in per.items():
        if not e > 0:
            raise ValueError(f"max_epochs for {k!r} must be > 0, got {e!r}")
    cap = {k: per[k] * s[k] / total for k in s}
    if math.fsum(min(c, 1.0) for c in cap.values()) < 1.0 - 1e-12:
        raise ValueError(
            f"max_epochs caps allow only {math.fsum(per[k] * s[k] for k in s):.6g} of total={total} "
            "samples: raise max_epochs or lower total"
        )
    out: Weights = {}
    free = {k for k in s if w[k] > 0}
    budget = 1.0
    while free:
        mass = math.fsum(w[k] for k in free)
        over = {k for k in free if w[k] / mass * budget > cap[k]}
        if not over:
            for k in free:
                out[k] = w[k] / mass * budget
            break
        for k in over:
            out[k] = cap[k]
            budget -= cap[k]
        free -= over
    if budget > 1e-12 and not free:  # every weighted domain hit its cap: spill into zero-weight ones
        rest = [k for k in s if k not in out]
        room = math.fsum(cap[k] for k in rest)
        if room < budget - 1e-12:
            raise ValueError("max_epochs caps of the weighted domains cannot cover total; add weight to "
                             "more domains or raise max_epochs")
        for k in rest:
            out[k] = cap[k] / room * budget
    return {k: out.get(k, 0.0) for k in s}


def _check_total(total: int) -> int:
    if isinstance(total, bool) or not isinstance(total, int) or total <= 0:
        raise ValueError(f"total must be a positive integer (samples or tokens to train), got {total!r}")
    return total


def _epochs_value(value: object, domain: str | None) -> float:
    where = "max_epochs" if domain is None else f"max_epochs[{domain!r}]"
    if isinstance(value, (bool, str, bytes)):
        raise ValueError(f"{where} must be a number > 0 (passes over the domain), got {value!r}")
    try:
        return float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise ValueError(f"{where} must be a number > 0 (passes over the domain), got {value!r}") from None


def unimax(sizes: Mapping[str, int], total: int, max_epochs: float = 1.0) -> Weights:
    """UniMax (Chung et al., ICLR 2023, "UniMax: Fairer and More Effective Language Sampling for
    Large-Scale Multilingual Pretraining", https://arxiv.org/abs/2304.09151): a uniform budget per domain,
    capped at ``max_epochs`` passes; what a small domain cannot use is shared uniformly by the others."""
    return cap_repetition(uniform(sizes), sizes, total, max_epochs)


def epochs(weights: Mapping[str, float], sizes: Mapping[str, int], total: int) -> dict[str, float]:
    """Passes over each domain when training ``total`` samples at ``weights``: ``w_k * total / n_k``."""
    s = check_sizes(sizes)
    w = normalise_weights(check_weights(weights, tuple(s)))
    _check_total(total)
    return {k: w[k] * total / s[k] for k in s}


STRATEGIES = ("proportional", "uniform", "temperature", "unimax")

_temperature = temperature  # :func:`strategy` takes a keyword of the same name


def strategy(name: str, sizes: Mapping[str, int], *, temperature: float | None = None,
             total: int | None = None, max_epochs: float | None = None) -> Weights:
    """Build a static mixture by name: ``proportional``, ``uniform``, ``temperature`` (needs
    ``temperature``), ``unimax`` (needs ``total``). With ``max_epochs`` (and ``total``) any strategy is
    then passed through :func:`cap_repetition`."""
    if not isinstance(name, str):
        raise ValueError(f"strategy must be one of {STRATEGIES}, got {name!r}")
    if name == "proportional":
        w = proportional(sizes)
    elif name == "uniform":
        w = uniform(sizes)
    elif name == "temperature":
        if temperature is None:
            raise ValueError("strategy 'temperature' needs a temperature")
        w = _temperature(sizes, temperature)
    elif name == "unimax":
        if total is None:
            raise ValueError("strategy 'unimax' needs total (samples or tokens to train)")
        return unimax(sizes, total, 1.0 if max_epochs is None else max_epochs)
    else:
        raise ValueError(f"strategy must be one of {STRATEGIES}, got {name!r}")
    if max_epochs is not None:
        if total is None:
            raise ValueError("max_epochs needs total (samples or tokens to train)")
        w = cap_repetition(w, sizes, total, max_epochs)
    return w
