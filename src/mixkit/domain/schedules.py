"""Mixtures that change over training progress, and the driver that applies them to a sampler.

A :class:`WeightSchedule` is any object with ``weights_at(progress: float in [0, 1]) -> dict`` (weights
summing to 1): :class:`Constant`, :class:`LinearSchedule` and :class:`StepSchedule` (interpolation
between given mixtures), :class:`Cooldown` (temperature lowered late in training) and
:class:`EndUpsample` (chosen domains upweighted at the end). :class:`ScheduleDriver` feeds a schedule to
:meth:`MixtureSampler.set_weights <mixkit.domain.MixtureSampler.set_weights>` at step boundaries.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any, Protocol, runtime_checkable

from .sampler import MixtureSampler
from .strategies import temperature
from .weights import Weights, check_sizes, check_weights, normalise_weights, quantize_weights


def _check_progress(progress: float) -> float:
    try:
        p = float(progress)
    except (TypeError, ValueError):
        raise ValueError(f"progress must be a number in [0, 1], got {progress!r}") from None
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"progress must be in [0, 1], got {progress!r}")
    return p


def _fmt(weights: Mapping[str, float]) -> str:
    return "{" + ", ".join(f"{k}: {v:.4g}" for k, v in weights.items()) + "}"


@runtime_checkable
class WeightSchedule(Protocol):
    """A mixture that depends on training progress."""

    def weights_at(self, progress: float) -> Weights:
        """Weights (summing to 1) at ``progress`` in [0, 1] (fraction of the training budget done)."""
        ...


class Constant:
    """The same mixture throughout."""

    def __init__(self, weights: Mapping[str, float]) -> None:
        if not isinstance(weights, Mapping):
            raise TypeError(f"weights must be a mapping {{domain: weight}}, got {type(weights).__name__}")
        self.weights = normalise_weights(dict(weights))

    def weights_at(self, progress: float) -> Weights:
        _check_progress(progress)
        return dict(self.weights)

    def __repr__(self) -> str:
        return f"Constant({_fmt(self.weights)})"


class _Piecewise:
    def __init__(self, points: Sequence[tuple[float, Mapping[str, float]]]) -> None:
        if isinstance(points, (str, bytes, Mapping)) or not isinstance(points, Sequence) or not points:
            raise ValueError("points must be a non-empty list of (progress, weights)")
        for point in points:
            if (isinstance(point, (str, bytes)) or not isinstance(point, Sequence) or len(point) != 2
                    or not isinstance(point[1], Mapping)):
                raise ValueError(f"points must be (progress, {{domain: weight}}) pairs, got {point!r}")
        pts = sorted(((_check_progress(p), dict(w)) for p, w in points), key=lambda x: x[0])
        names = sorted({k for _, w in pts for k in w})
        self.points = [(p, normalise_weights({k: float(w.get(k, 0.0)) for k in names}, f"weights at {p}"))
                       for p, w in pts]
        for _, w in self.points:
            check_weights(w, names)
        ps = [p for p, _ in self.points]
        if len(set(ps)) != len(ps):
            raise ValueError(f"points must have distinct progress values, got {ps}")

    def __repr__(self) -> str:
        pts = ", ".join(f"({p:.4g}, {_fmt(w)})" for p, w in self.points)
        return f"{type(self).__name__}([{pts}])"


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
                return normalise_weights({k: (1 - a) * w0[k] + a * w1[k] for k in w0})
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

    def __repr__(self) -> str:
        return (f"Cooldown(domains={list(self.sizes)}, start_temperature={self.t0:.4g}, "
                f"end_temperature={self.t1:.4g}, start={self.start:.4g}, end={self.end:.4g})")


class EndUpsample:
    """End-of-training domain upsampling (Blakeney et al. 2024, "Does your data spark joy? Performance
    gains from domain upsampling at the end of training", https://arxiv.org/abs/2406.03476): the base
    mixture until ``1 - last_fraction``, then the chosen domains' weights multiplied by their factor
    (and renormalised) for the last fraction of training.

    ``base`` is a mixture dict or a :class:`WeightSchedule`; ``factors`` is ``{domain: multiplier > 0}``.
    """

    def __init__(self, base: Mapping[str, float] | WeightSchedule, factors: Mapping[str, float],
                 last_fraction: float = 0.1) -> None:
        self.base: WeightSchedule = base if isinstance(base, WeightSchedule) else Constant(base)
        names = tuple(self.base.weights_at(0.0))
        if not isinstance(factors, Mapping):
            raise TypeError(f"factors must be a mapping {{domain: multiplier}}, got {type(factors).__name__}")
        unknown = [k for k in factors if k not in names]
        if unknown:
            raise ValueError(f"factors name unknown domains {unknown}; known: {list(names)}")
        for k, f in factors.items():
            if isinstance(f, (bool, str, bytes)) or not isinstance(f, (int, float)) \
                    or not f > 0 or not math.isfinite(float(f)):
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
        # factors divided by the largest first, so huge factors cannot overflow the sum
        top = max([1.0, *self.factors.values()])
        return normalise_weights({k: v * (self.factors.get(k, 1.0) / top) for k, v in w.items()})

    def __repr__(self) -> str:
        return (f"EndUpsample({self.base!r}, factors={_fmt(self.factors)}, "
                f"last_fraction={self.last_fraction:.4g})")


def average_weights(schedule: WeightSchedule, steps: int = 1000) -> Weights:
    """The mixture averaged over training (midpoint rule over ``steps`` equal intervals)."""
    if not callable(getattr(schedule, "weights_at", None)):
        raise TypeError(f"schedule must have weights_at(progress) (a WeightSchedule), got "
                        f"{type(schedule).__name__}")
    if isinstance(steps, bool) or not isinstance(steps, int) or steps < 1:
        raise ValueError(f"steps must be an int >= 1, got {steps!r}")
    acc: dict[str, float] = {}
    for i in range(steps):
        for k, v in schedule.weights_at((i + 0.5) / steps).items():
            acc[k] = acc.get(k, 0.0) + v / steps
    return normalise_weights(acc)


class ScheduleDriver:
    """Drives ``sampler.set_weights`` from a schedule at step boundaries.

    Call :meth:`step` with the step about to start (``0 <= step < total_steps``) before drawing that
    step's batch on every rank. Weights are updated every ``every`` steps and only when they differ from
    the sampler's current (quantised) weights, so calling it again after a resume is a no-op and the
    stream stays bit-exact. An update keeps the sampler's per-domain deficits (the integral of all weights
    so far minus the counts), so the counts track the integral of the schedule across updates rather than
    restarting at each one.

    The driver's own state is the number of updates it applied (:meth:`state_dict`); the weights live in
    the sampler's state.
    """

    def __init__(self, sampler: MixtureSampler, schedule: WeightSchedule, total_steps: int,
                 every: int = 1) -> None:
        if isinstance(total_steps, bool) or not isinstance(total_steps, int) or total_steps <= 0:
            raise ValueError(f"total_steps must be a positive int, got {total_steps!r}")
        if isinstance(every, bool) or not isinstance(every, int) or every <= 0:
            raise ValueError(f"every must be a positive int, got {every!r}")
        if not isinstance(sampler, MixtureSampler):
            raise TypeError(f"sampler must be a MixtureSampler, got {type(sampler).__name__}")
        if not callable(getattr(schedule, "weights_at", None)):
            raise TypeError(f"schedule must have weights_at(progress) (a WeightSchedule), got "
                            f"{type(schedule).__name__}")
        self.sampler, self.schedule, self.total_steps, self.every = sampler, schedule, total_steps, every
        self.updates = 0

    def step(self, step: int) -> bool:
        """Apply the schedule for ``step``; returns True when the sampler's weights changed."""
        if isinstance(step, bool) or not isinstance(step, int) or step < 0:
            raise ValueError(f"step must be an int >= 0, got {step!r}")
        boundary = (step // self.every) * self.every
        target = self.schedule.weights_at(min(1.0, boundary / self.total_steps))
        names = list(self.sampler.names)
        current = self.sampler.weights
        want = quantize_weights([float(target.get(k, 0.0)) for k in names])
        have = quantize_weights([current[k] for k in names])
        if want == have:
            return False
        self.sampler.set_weights(target)
        self.updates += 1
        return True

    def state_dict(self) -> dict[str, Any]:
        """``{"updates": number of weight changes applied so far}``."""
        return {"updates": self.updates}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """Restore a :meth:`state_dict` (``ValueError`` for a missing or malformed ``updates``)."""
        if not isinstance(state, Mapping):
            raise TypeError(f"state must be a mapping, got {type(state).__name__}")
        updates = state.get("updates")
        if isinstance(updates, bool) or not isinstance(updates, int) or updates < 0:
            raise ValueError(f"state field 'updates' must be an int >= 0, got {updates!r}")
        self.updates = updates

    def __repr__(self) -> str:
        return (f"ScheduleDriver({self.schedule!r}, total_steps={self.total_steps}, every={self.every}, "
                f"updates={self.updates})")
