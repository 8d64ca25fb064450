"""The interface every online domain-mixing method shares (:class:`OnlineMixer`), and its helpers.

Every method holds a probability vector over named domains and changes it from signals observed during
training::

    method = mixkit.domain.online.DoReMi(domains, reference_losses=...)
    sampler.set_weights(method.weights)
    for step, batch in ...:
        losses = per_domain_losses(...)                 # {domain: float}
        sampler.set_weights(method.update(step, losses_by_domain=losses))

``losses_by_domain`` maps domain -> scalar loss (float or 0-d tensor; may omit domains absent from the
batch). ``grads_by_domain`` maps domain -> 1-D gradient tensor (all the same length). The vectors are O(K)
host-side numbers: the sampler needs its weights on the host, so the update runs on the CPU once per step.
Weights are returned as ``dict[str, float]`` summing to 1, every entry > 0 (each method mixes in a floor),
so ``MixtureSampler.set_weights`` accepts them as is.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import torch
from torch import Tensor


def check_domains(domains: Sequence[str]) -> list[str]:
    """Validate a list of unique domain names (at least two)."""
    if isinstance(domains, str) or not isinstance(domains, Sequence):
        raise TypeError(f"domains must be a sequence of names, got {type(domains).__name__}")
    names = [str(d) for d in domains]
    if len(names) < 2:
        raise ValueError(f"domains must name at least 2 domains, got {names}")
    if len(set(names)) != len(names):
        raise ValueError(f"domains must be unique, got {names}")
    return names


def check_positive(value: float, name: str, allow_zero: bool = False) -> float:
    """A finite float > 0 (or >= 0); ``TypeError`` for a bool, a string or a non-number."""
    if isinstance(value, (bool, str, bytes)):
        raise TypeError(f"{name} must be a number, got {value!r}")
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise TypeError(f"{name} must be a number, got {value!r}") from None
    if not math.isfinite(v) or v < 0 or (v == 0 and not allow_zero):
        raise ValueError(f"{name} must be a finite number {'>=' if allow_zero else '>'} 0, got {value!r}")
    return v


def check_fraction(value: float, name: str) -> float:
    """A finite float in ``[0, 1)``."""
    v = check_positive(value, name, allow_zero=True)
    if v >= 1:
        raise ValueError(f"{name} must be in [0, 1), got {value!r}")
    return v


def weights_vector(domains: Sequence[str], weights: Mapping[str, float] | None) -> Tensor:
    """``float64 [K]`` probability vector from a mapping (uniform when ``None``); validates names/values."""
    k = len(domains)
    if weights is None:
        return torch.full((k,), 1.0 / k, dtype=torch.float64)
    if not isinstance(weights, Mapping):
        raise TypeError(f"weights must be a mapping domain -> weight, got {type(weights).__name__}")
    unknown = set(weights) - set(domains)
    if unknown:
        raise ValueError(f"weights name unknown domains {sorted(unknown)}; domains are {list(domains)}")
    values = []
    for d in domains:
        v = weights.get(d, 0.0)
        if isinstance(v, (bool, str, bytes)):
            raise TypeError(f"weights[{d!r}] must be a number, got {v!r}")
        try:
            values.append(float(v))
        except (TypeError, ValueError):
            raise TypeError(f"weights[{d!r}] must be a number, got {v!r}") from None
    vec = torch.tensor(values, dtype=torch.float64)
    if not torch.isfinite(vec).all() or (vec < 0).any() or vec.sum() <= 0:
        raise ValueError(f"weights must be finite, >= 0 and not all zero, got {dict(weights)}")
    return vec / vec.sum()


def check_step(step: int, minimum: int = -1) -> int:
    """A training step index: an int ``>= minimum`` (``-1``: before training)."""
    if isinstance(step, bool) or not isinstance(step, int) or step < minimum:
        raise ValueError(f"step must be an int >= {minimum}, got {step!r}")
    return step


def as_float(value: Any, name: str) -> float:
    """A finite host float from a number or 0-d tensor."""
    if isinstance(value, Tensor):
        if value.numel() != 1:
            raise ValueError(f"{name} must be a scalar, got a tensor of shape {tuple(value.shape)}")
        value = value.detach().float().cpu().item()
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise TypeError(f"{name} must be a number or a 0-d tensor, got {type(value).__name__}") from None
    if not math.isfinite(v):
        raise ValueError(f"{name} must be finite, got {v}")
    return v


class OnlineMixer:
    """Base class: ``weights`` (dict, sums to 1), ``update(step, losses_by_domain, grads_by_domain)``,
    ``state_dict``/``load_state_dict``.

    Class attributes tell a training loop what to compute:
      ``needs``: ``"losses"`` (per-domain training losses), ``"grads"`` (per-domain gradients) or
      ``"eval_losses"`` (per-domain held-out losses).
      ``wants_signal(step)``: whether the next ``update`` needs that signal (gradient methods only ask every
      few steps, which is where their overhead is saved).
    """

    needs: str = "losses"
    #: hyperparameters shown by ``repr``
    _repr_fields: tuple[str, ...] = ()

    def __init__(self, domains: Sequence[str], initial_weights: Mapping[str, float] | None = None) -> None:
        self.domains = check_domains(domains)
        self._p = weights_vector(self.domains, initial_weights)
        self.steps_seen = 0

    @property
    def weights(self) -> dict[str, float]:
        """Current sampling weights, ``{domain: float}`` summing to 1."""
        return self._to_dict(self._p)

    @property
    def sampling_weights(self) -> dict[str, float]:
        """The mixture the sampler should draw the next batch from (``weights`` unless a method keeps
        sampling fixed, like DoReMi's loss-reweighting proxy)."""
        return self.weights

    def __repr__(self) -> str:
        params = "".join(f", {name}={getattr(self, name)!r}" for name in self._repr_fields)
        weights = ", ".join(f"{d}: {v:.4g}" for d, v in self.weights.items())
        return f"{type(self).__name__}(weights={{{weights}}}{params}, steps_seen={self.steps_seen})"

    def _to_dict(self, vec: Tensor) -> dict[str, float]:
        vec = vec / vec.sum()
        return {d: float(v) for d, v in zip(self.domains, vec.tolist())}

    def wants_signal(self, step: int) -> bool:
        """Whether ``update`` wants the signal after training step ``step`` (``-1``: before training)."""
        return step >= 0

    def update(
        self,
        step: int,
        losses_by_domain: Mapping[str, Any] | None = None,
        grads_by_domain: Mapping[str, Tensor] | None = None,
    ) -> dict[str, float]:
        """Observe one step's signal and return the new weights (subclasses implement the rule)."""
        raise NotImplementedError

    # --- helpers -----------------------------------------------------------------------------------------
    def _loss_vector(self, losses_by_domain: Mapping[str, Any] | None) -> tuple[Tensor, Tensor]:
        """(values float64 [K], observed bool [K]) from a possibly partial mapping."""
        if losses_by_domain is None:
            raise ValueError(
                f"{type(self).__name__}.update needs losses_by_domain (a mapping domain -> loss)"
            )
        unknown = set(losses_by_domain) - set(self.domains)
        if unknown:
            raise ValueError(f"losses_by_domain names unknown domains {sorted(unknown)}")
        vals = torch.zeros(len(self.domains), dtype=torch.float64)
        seen = torch.zeros(len(self.domains), dtype=torch.bool)
        for i, d in enumerate(self.domains):
            if d in losses_by_domain and losses_by_domain[d] is not None:
                vals[i] = as_float(losses_by_domain[d], f"losses_by_domain[{d!r}]")
                seen[i] = True
        return vals, seen

    def _grad_matrix(self, grads_by_domain: Mapping[str, Tensor] | None, keys: Sequence[str]) -> Tensor:
        """The gradients of ``keys`` stacked as ``[len(keys), D]`` on their device and dtype (>= float32).

        Callers reduce it to O(K^2) numbers on the device and bring only those to the host
        (:func:`small_to_host`), so a GPU run copies K x K values per update, not K x D.
        """
        if grads_by_domain is None:
            raise ValueError(f"{type(self).__name__}.update needs grads_by_domain (domain -> 1-D gradient)")
        missing = [k for k in keys if k not in grads_by_domain]
        if missing:
            raise ValueError(f"grads_by_domain lacks {missing}; expected keys {list(keys)}")
        rows = []
        for k in keys:
            g = grads_by_domain[k]
            if not isinstance(g, Tensor):
                raise TypeError(f"grads_by_domain[{k!r}] must be a torch.Tensor, got {type(g).__name__}")
            rows.append(g.detach().reshape(-1))
        if len({r.numel() for r in rows}) != 1:
            raise ValueError("grads_by_domain tensors must all have the same number of elements")
        if rows[0].numel() == 0:
            raise ValueError("grads_by_domain tensors must not be empty")
        mat = torch.stack(rows)
        if not mat.is_floating_point() or mat.dtype in (torch.float16, torch.bfloat16):
            mat = mat.float()
        return mat

    def _base_state(self) -> dict[str, Any]:
        return {
            "method": type(self).__name__,
            "domains": list(self.domains),
            "p": self._p.tolist(),
            "steps_seen": self.steps_seen,
        }

    def state_dict(self) -> dict[str, Any]:
        """Everything needed to continue bit for bit, as plain JSON types (lists, numbers, strings)."""
        return self._base_state()

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """Restore a :meth:`state_dict`; raises ``ValueError`` naming the field that is missing or malformed,
        or when the state belongs to another method or domain list."""
        if not isinstance(state, Mapping):
            raise TypeError(f"state must be a mapping, got {type(state).__name__}")
        if state.get("method") != type(self).__name__:
            raise ValueError(f"state is for {state.get('method')!r}, not {type(self).__name__}")
        domains = state.get("domains")
        if not isinstance(domains, (list, tuple)) or list(domains) != self.domains:
            raise ValueError(f"state field 'domains' {state.get('domains')} differs from {self.domains}")
        self._p = state_vector(state, "p", len(self.domains), positive=True)
        self.steps_seen = state_int(state, "steps_seen")


def state_vector(
    state: Mapping[str, Any], name: str, size: int | None, positive: bool = False, allow_none: bool = False
) -> Tensor:
    """A float64 vector from the JSON list ``state[name]`` (``None`` entries -> ``-inf`` when ``allow_none``);
    raises ``ValueError`` naming the field when it is missing, the wrong length or not finite."""
    if name not in state:
        raise ValueError(f"state lacks field {name!r}")
    value = state[name]
    if isinstance(value, Tensor):
        value = value.tolist()
    if not isinstance(value, (list, tuple)):
        raise ValueError(f"state field {name!r} must be a list of numbers, got {type(value).__name__}")
    if size is not None and len(value) != size:
        raise ValueError(f"state field {name!r} must have {size} entries, got {len(value)}")
    try:
        vals = [float("-inf") if (v is None and allow_none) else float(v) for v in value]
    except (TypeError, ValueError):
        raise ValueError(f"state field {name!r} must hold numbers, got {value!r}") from None
    vec = torch.tensor(vals, dtype=torch.float64)
    finite = torch.isfinite(vec) | (
        torch.isneginf(vec) if allow_none else torch.zeros_like(vec, dtype=torch.bool)
    )
    if not bool(finite.all()):
        raise ValueError(f"state field {name!r} holds non-finite values: {value!r}")
    if positive and (bool((vec < 0).any()) or not float(vec.sum()) > 0):
        raise ValueError(f"state field {name!r} must be >= 0 with a positive sum, got {value!r}")
    return vec


def state_matrix(state: Mapping[str, Any], name: str, rows: int | None, cols: int | None) -> Tensor:
    """A finite float64 matrix from the JSON list of lists ``state[name]`` (validated like
    :func:`state_vector`)."""
    if name not in state:
        raise ValueError(f"state lacks field {name!r}")
    value = state[name]
    if isinstance(value, Tensor):
        value = value.tolist()
    if not isinstance(value, (list, tuple)) or (rows is not None and len(value) != rows):
        raise ValueError(f"state field {name!r} must be a list of {rows} rows")
    try:
        mat = torch.tensor([[float(v) for v in row] for row in value], dtype=torch.float64)
    except (TypeError, ValueError):
        raise ValueError(f"state field {name!r} must be a list of lists of numbers") from None
    if len(value) == 0:
        mat = torch.zeros(0, cols or 0, dtype=torch.float64)
    if mat.dim() != 2 or (cols is not None and mat.shape[1] != cols) or not bool(torch.isfinite(mat).all()):
        raise ValueError(f"state field {name!r} must be a finite {rows} x {cols} matrix")
    return mat


def state_has(state: Mapping[str, Any], name: str) -> bool:
    """Whether the present field ``state[name]`` is not ``None``; raises ``ValueError`` if it is missing."""
    if name not in state:
        raise ValueError(f"state lacks field {name!r}")
    return state[name] is not None


def state_int(state: Mapping[str, Any], name: str, minimum: int = 0) -> int:
    """An int ``>= minimum`` from ``state[name]``; raises ``ValueError`` naming the field (``TypeError`` when
    ``state`` is not a mapping)."""
    if not isinstance(state, Mapping):
        raise TypeError(f"state must be a mapping, got {type(state).__name__}")
    if name not in state:
        raise ValueError(f"state lacks field {name!r}")
    value = state[name]
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ValueError(f"state field {name!r} must be an int >= {minimum}, got {value!r}")
    return value


def state_float(state: Mapping[str, Any], name: str) -> float:
    """A finite float from ``state[name]``; raises ``ValueError`` naming the field."""
    if name not in state:
        raise ValueError(f"state lacks field {name!r}")
    try:
        v = float(state[name])
    except (TypeError, ValueError):
        raise ValueError(f"state field {name!r} must be a number, got {state[name]!r}") from None
    if not math.isfinite(v):
        raise ValueError(f"state field {name!r} must be finite, got {v}")
    return v


def log_list(vec: Tensor) -> list[float | None]:
    """A float64 vector with ``-inf`` entries as a JSON list (``-inf`` -> ``None``)."""
    return [None if math.isinf(v) and v < 0 else v for v in vec.tolist()]


def small_to_host(t: Tensor, what: str) -> Tensor:
    """An O(K^2) reduction moved to the host as float64; raises on non-finite values (e.g. NaN gradients)."""
    out = t.detach().to(device="cpu", dtype=torch.float64)
    if not torch.isfinite(out).all():
        raise ValueError(f"{what} holds non-finite values (are the gradients finite?)")
    return out


def mix_floor(p: Tensor, floor: float) -> Tensor:
    """``(1 - floor) * p + floor / K``: keeps every weight > 0 (DoReMi's smoothing)."""
    p = p / p.sum()
    return (1.0 - floor) * p + floor / p.numel()


def log_exp_step(log_p: Tensor, score: Tensor, step_size: float, what: str = "score") -> Tensor:
    """``log softmax(log_p + step_size * score)``: one exponentiated-gradient step, entirely in log space.

    ``log_p``: float64 ``[K]`` log-weights (``-inf`` = weight 0, which stays 0); ``score``: ``[K]`` finite
    (``ValueError`` naming ``what`` otherwise). The score is shifted by its largest value on the support
    before it is multiplied (softmax is shift-invariant), so ``step_size * score`` never overflows to
    ``+inf``: any finite loss or step size gives finite weights, and a huge step approaches the limit (all
    mass on the best-scoring supported domains) instead of NaN.
    """
    score = score.to(torch.float64)
    if not bool(torch.isfinite(score).all()):
        raise ValueError(f"{what} must be finite, got {score.tolist()}")
    if bool(torch.isnan(log_p).any()) or bool(torch.isposinf(log_p).any()):
        raise ValueError(f"log-weights must be finite or -inf, got {log_p.tolist()}")
    support = torch.isfinite(log_p)
    if not bool(support.any()):
        raise ValueError("weights must have a positive entry")
    shifted = score - score[support].max()  # <= 0 on the support
    logits = torch.where(support, log_p + step_size * shifted, torch.full_like(log_p, -math.inf))
    return torch.log_softmax(logits, dim=0)


def exp_update(p: Tensor, score: Tensor, step_size: float, what: str = "score") -> Tensor:
    """Exponentiated-gradient step ``p * exp(step_size * score)`` renormalised, computed in log space
    (:func:`log_exp_step`): finite for any finite ``score`` and ``step_size``."""
    return torch.exp(log_exp_step(torch.log(p), score, step_size, what))


def stable_softmax(logits: Tensor, what: str = "logits") -> Tensor:
    """``softmax(logits)`` (float64 ``[K]``) that refuses NaN and takes the limit for ``+inf`` entries
    (mass shared by the ``+inf`` entries) instead of returning NaN."""
    if bool(torch.isnan(logits).any()):
        raise ValueError(f"{what} must not be NaN, got {logits.tolist()}")
    top = torch.isposinf(logits)
    if bool(top.any()):
        return top.to(torch.float64) / top.sum()
    if not bool(torch.isfinite(logits).any()):
        raise ValueError(f"{what} must have a finite entry, got {logits.tolist()}")
    return torch.softmax(logits.to(torch.float64), dim=0)
