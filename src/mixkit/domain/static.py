"""Static mixtures (proportional, uniform, temperature, UniMax-style repetition caps) and schedules of
mixtures over training progress (linear/step interpolation, Cooldown, end-of-training upsampling).

Every strategy maps ``sizes: {domain: number of items (or tokens)}`` to ``weights: {domain: float}``
summing to 1. A schedule is any object with ``weights_at(progress: float in [0, 1]) -> dict``;
:class:`ScheduleDriver` feeds it to :meth:`MixtureSampler.set_weights` at step boundaries.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any, Protocol, runtime_checkable

from .sampler import check_sizes, check_weights, quantize_weights

Weights = dict[str, float]


def _normalise(w: Mapping[str, float], name: str = "weights") -> Weights:
    total = math.fsum(w.values())
    if not total > 0 or not math.isfinite(total):
        raise ValueError(f"{name} must have a positive finite sum, got {dict(w)!r}")
    return {k: v / total for k, v in w.items()}


def _check_progress(progress: float) -> float:
    try:
        p = float(progress)
    except (TypeError, ValueError):
        raise ValueError(f"progress must be a number in [0, 1], got {progress!r}") from None
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"progress must be in [0, 1], got {progress!r}")
    return p


# --------------------------------------------------------------------------- static strategies


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
    return _normalise({k: math.exp(v - top) for k, v in logs.items()})


def cap_repetition(weights: Mapping[str, float], sizes: Mapping[str, int], total: int,
                   max_epochs: float | Mapping[str, float]) -> Weights:
    """Cap each domain at ``max_epochs * size / total`` of the mix and hand the excess to the uncapped
    domains in proportion to their weights (water-filling), so no domain is repeated more than
    ``max_epochs`` times over a budget of ``total`` samples (or tokens, with sizes in tokens).

    Raises ``ValueError`` if the caps cannot cover ``total`` (every domain would have to exceed them).
    """
    s = check_sizes(sizes)
    w = check_weights(weights, tuple(s))
    if isinstance(total, bool) or not isinstance(total, int) or total <= 0:
        raise ValueError(f"total must be a positive integer (samples or tokens to train), got {total!r}")
    if isinstance(max_epochs, Mapping):
        unknown = [k for k in max_epochs if k not in s]
        if unknown:
            raise ValueError(f"max_epochs names unknown domains {unknown}; known: {list(s)}")
        per = {k: float(max_epochs.get(k, math.inf)) for k in s}
    else:
        per = dict.fromkeys(s, float(max_epochs))
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


def unimax(sizes: Mapping[str, int], total: int, max_epochs: float = 1.0) -> Weights:
    """UniMax (Chung et al., ICLR 2023, "UniMax: Fairer and More Effective Language Sampling for
    Large-Scale Multilingual Pretraining", https://arxiv.org/abs/2304.09151): a uniform budget per domain,
    capped at ``max_epochs`` passes; what a small domain cannot use is shared uniformly by the others."""
    return cap_repetition(uniform(sizes), sizes, total, max_epochs)


def epochs(weights: Mapping[str, float], sizes: Mapping[str, int], total: int) -> dict[str, float]:
    """Passes over each domain when training ``total`` samples at ``weights``: ``w_k * total / n_k``."""
    s = check_sizes(sizes)
    w = _normalise(check_weights(weights, tuple(s)))
    return {k: w[k] * total / s[k] for k in s}


STRATEGIES = ("proportional", "uniform", "temperature", "unimax")


def strategy(name: str, sizes: Mapping[str, int], *, temperature_: float | None = None,
             total: int | None = None, max_epochs: float | None = None) -> Weights:
    """Build a static mixture by name: ``proportional``, ``uniform``, ``temperature`` (needs
    ``temperature_``), ``unimax`` (needs ``total``). With ``max_epochs`` (and ``total``) any strategy is
    then passed through :func:`cap_repetition`."""
    if name == "proportional":
        w = proportional(sizes)
    elif name == "uniform":
        w = uniform(sizes)
    elif name == "temperature":
        if temperature_ is None:
            raise ValueError("strategy 'temperature' needs a temperature")
        w = temperature(sizes, temperature_)
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


# --------------------------------------------------------------------------- schedules


@runtime_checkable
class Schedule(Protocol):
    """A mixture that depends on training progress."""

    def weights_at(self, progress: float) -> Weights:
        """Weights (summing to 1) at ``progress`` in [0, 1] (fraction of the training budget done)."""
        ...


class Constant:
    """The same mixture throughout."""

    def __init__(self, weights: Mapping[str, float]) -> None:
        self.weights = _normalise(dict(weights))

    def weights_at(self, progress: float) -> Weights:
        _check_progress(progress)
        return dict(self.weights)


class _Piecewise:
    def __init__(self, points: Sequence[tuple[float, Mapping[str, float]]]) -> None:
        if not points:
            raise ValueError("points must be a non-empty list of (progress, weights)")
        pts = sorted(((_check_progress(p), dict(w)) for p, w in points), key=lambda x: x[0])
        names = sorted({k for _, w in pts for k in w})
        self.points = [(p, _normalise({k: float(w.get(k, 0.0)) for k in names}, f"weights at {p}"))
                       for p, w in pts]
        for _, w in self.points:
            check_weights(w, names)
        ps = [p for p, _ in self.points]
        if len(set(ps)) != len(ps):
            raise ValueError(f"points must have distinct progress values, got {ps}")


class LinearSchedule(_Piecewise):
    """Linear interpolation between mixtures at given progress points, constant before the first and
    after the last: ``LinearSchedule([(0.0, start), (1.0, end)])``."""

    def weights_at(self, progress: float) -> Weights:
        p = _check_progress(progress)
        pts = self.points
        if p <= pts[0][0]:
            return dict(pts[0][1])
        for (p0, w0), (p1, w1) in zip(pts, pts[1:]):
            if p <= p1:
                a = (p - p0) / (p1 - p0)
                return _normalise({k: (1 - a) * w0[k] + a * w1[k] for k in w0})
        return dict(pts[-1][1])


class StepSchedule(_Piecewise):
    """Piecewise-constant: the mixture of the last point whose progress is <= the current progress
    (the first point's mixture before it)."""

    def weights_at(self, progress: float) -> Weights:
        p = _check_progress(progress)
        current = self.points[0][1]
        for q, w in self.points:
            if q <= p:
                current = w
        return dict(current)


class Cooldown:
    """Temperature sampling whose temperature is lowered late in training: ``T = start_temperature``
    until ``start``, then linearly to ``end_temperature`` at ``end`` (and after).

    After the "Cooldown" strategy of Li et al. 2024, "Upsample or Upweight? Balanced Training on
    Heavily Imbalanced Datasets" (https://arxiv.org/abs/2410.04579): a high temperature early (small
    domains upsampled, fast progress on them), lowered towards proportional later so small domains are
    not over-repeated. Simplified: the paper's exact schedule shape is not reproduced; this one is linear
    in ``T`` between ``start`` and ``end``.
    """

    def __init__(self, sizes: Mapping[str, int], start_temperature: float = 3.0,
                 end_temperature: float = 1.0, start: float = 0.5, end: float = 1.0) -> None:
        self.sizes = check_sizes(sizes)
        temperature(self.sizes, start_temperature)  # validates
        temperature(self.sizes, end_temperature)
        self.t0, self.t1 = float(start_temperature), float(end_temperature)
        self.start, self.end = _check_progress(start), _check_progress(end)
        if not self.start < self.end:
            raise ValueError(f"start must be < end, got start={start!r}, end={end!r}")

    def temperature_at(self, progress: float) -> float:
        """The temperature at ``progress``."""
        p = _check_progress(progress)
        a = min(1.0, max(0.0, (p - self.start) / (self.end - self.start)))
        return (1 - a) * self.t0 + a * self.t1

    def weights_at(self, progress: float) -> Weights:
        return temperature(self.sizes, self.temperature_at(progress))


class EndUpsample:
    """End-of-training domain upsampling (Blakeney et al. 2024, "Does your data spark joy? Performance
    gains from domain upsampling at the end of training", https://arxiv.org/abs/2406.03476): the base
    mixture until ``1 - last_fraction``, then the chosen domains' weights multiplied by their factor
    (and renormalised) for the last fraction of training.

    ``base`` is a mixture dict or a :class:`Schedule`; ``factors`` is ``{domain: multiplier > 0}``.
    """

    def __init__(self, base: Mapping[str, float] | Schedule, factors: Mapping[str, float],
                 last_fraction: float = 0.1) -> None:
        self.base: Schedule = base if isinstance(base, Schedule) else Constant(base)
        names = tuple(self.base.weights_at(0.0))
        unknown = [k for k in factors if k not in names]
        if unknown:
            raise ValueError(f"factors name unknown domains {unknown}; known: {list(names)}")
        for k, f in factors.items():
            if not float(f) > 0 or not math.isfinite(float(f)):
                raise ValueError(f"factors[{k!r}] must be a finite number > 0, got {f!r}")
        self.factors = {k: float(f) for k, f in factors.items()}
        lf = _check_progress(last_fraction)
        if lf == 0:
            raise ValueError("last_fraction must be > 0")
        self.last_fraction = lf

    def weights_at(self, progress: float) -> Weights:
        p = _check_progress(progress)
        w = self.base.weights_at(p)
        if p < 1.0 - self.last_fraction:
            return w
        return _normalise({k: v * self.factors.get(k, 1.0) for k, v in w.items()})


def average_weights(schedule: Schedule, steps: int = 1000) -> Weights:
    """The mixture averaged over training (midpoint rule over ``steps`` equal intervals)."""
    acc: dict[str, float] = {}
    for i in range(steps):
        for k, v in schedule.weights_at((i + 0.5) / steps).items():
            acc[k] = acc.get(k, 0.0) + v / steps
    return _normalise(acc)


class ScheduleDriver:
    """Drives ``sampler.set_weights`` from a schedule at step boundaries.

    Call :meth:`step` with the step about to start (``0 <= step < total_steps``) before drawing that
    step's batch on every rank. Weights are updated every ``every`` steps and only when they differ from
    the sampler's current (quantised) weights, so calling it again after a resume is a no-op and the
    stream stays bit-exact. Each update starts a new segment of the sampler (prefix bound from there).
    """

    def __init__(self, sampler: Any, schedule: Schedule, total_steps: int, every: int = 1) -> None:
        if not isinstance(total_steps, int) or total_steps <= 0:
            raise ValueError(f"total_steps must be a positive int, got {total_steps!r}")
        if not isinstance(every, int) or every <= 0:
            raise ValueError(f"every must be a positive int, got {every!r}")
        self.sampler, self.schedule, self.total_steps, self.every = sampler, schedule, total_steps, every
        self.updates = 0

    def step(self, step: int) -> bool:
        """Apply the schedule for ``step``; returns True when the sampler's weights changed."""
        if not isinstance(step, int) or step < 0:
            raise ValueError(f"step must be an int >= 0, got {step!r}")
        boundary = (step // self.every) * self.every
        target = self.schedule.weights_at(min(1.0, boundary / self.total_steps))
        names = list(self.sampler.names)
        current = self.sampler.weights()
        want = quantize_weights([float(target.get(k, 0.0)) for k in names])
        have = quantize_weights([current[k] for k in names])
        if want == have:
            return False
        self.sampler.set_weights(target)
        self.updates += 1
        return True
