"""Mixture estimation by merging (Na, Magnusson, Jha, Sherborne, Strubell, Dodge, Dasigi 2024, "Scalable
Data Ablation Approximations for Language Models through Modular Training and Merging", EMNLP 2024,
https://arxiv.org/abs/2410.15661; no public release found).

Train one proxy model per data partition (all from the same starting point, e.g. a shared seed model,
as in the paper's continued-pretraining setting), then score a candidate mixture by the loss of the
parameter average of the partitions' proxies, weighted by the mixture. For the paper's candidates --
unions of equally sized base partitions -- the weights are equal over the partitions in the union and
the average is the paper's uniform merge. Scoring a candidate costs one evaluation instead of one proxy
training, so ``P`` partition proxies replace ``M`` mixture proxies.

:class:`MergingEstimator` is a ``mixture -> float`` callable (lower is better), so it can stand in for the
proxy of a RegMix search (``mixkit.bench.mixture_search.run_search(proxy=...)``) or pre-rank proposals
(:meth:`MergingEstimator.rank`) so only the most promising get real proxy runs.

Deviations: weights other than uniform-over-a-union are mixkit's generalisation (a weighted merge);
partitions with weight below ``min_weight`` are left out of the average.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import torch
from torch import Tensor


def merge_parameters(states: Sequence[Mapping[str, Tensor]], weights: Sequence[float]) -> dict[str, Tensor]:
    """Weighted average ``sum_i (w_i / sum w) * state_i[key]`` of every floating-point entry (one stacked
    ``tensordot`` per key); other entries (integer buffers such as step counters) come from the state with
    the largest weight. All states must have the same keys and shapes."""
    if not states:
        raise ValueError("states must hold at least one state dict")
    w = torch.as_tensor([float(x) for x in weights], dtype=torch.float64)
    if w.numel() != len(states):
        raise ValueError(f"weights has {w.numel()} entries for {len(states)} states")
    if not bool(torch.isfinite(w).all()) or bool((w < 0).any()) or not float(w.sum()) > 0:
        raise ValueError(f"weights must be finite, >= 0 and not all zero, got {list(weights)}")
    w = w / w.sum()
    keys = list(states[0].keys())
    for i, s in enumerate(states[1:], 1):
        if list(s.keys()) != keys:
            raise ValueError(f"state {i} has different keys than state 0")
    top = int(torch.argmax(w))
    out: dict[str, Tensor] = {}
    for k in keys:
        first = states[0][k]
        if not torch.is_floating_point(first):
            out[k] = states[top][k].clone()
            continue
        stack = torch.stack([s[k].detach() for s in states])
        if stack.shape[1:] != first.shape:
            raise ValueError(f"entry {k!r} has different shapes across states")
        ww = w.to(device=stack.device, dtype=torch.float64 if stack.dtype == torch.float64 else torch.float32)
        out[k] = torch.tensordot(ww, stack.to(ww.dtype), dims=1).to(first.dtype)
    return out


class MergingEstimator:
    """Score mixtures by evaluating the mixture-weighted merge of per-partition proxies.

    Args:
        partition_states: ``{partition: state_dict}`` of the proxies, one per partition.
        evaluate: ``state_dict -> float`` (e.g. target validation loss of a model loaded with it).
        min_weight: partitions with a smaller mixture weight are left out of the merge.

    ``estimator(mixture)`` -> float; ``score(mixtures)`` -> list; ``rank(mixtures)`` -> indices, best
    first; ``evaluations`` counts merges evaluated.
    """

    def __init__(self, partition_states: Mapping[str, Mapping[str, Tensor]],
                 evaluate: Callable[[dict[str, Tensor]], float], min_weight: float = 0.0) -> None:
        if not isinstance(partition_states, Mapping) or len(partition_states) < 2:
            raise ValueError("partition_states must map at least 2 partitions to state dicts")
        if not callable(evaluate):
            raise TypeError("evaluate must be callable: state_dict -> float")
        if not (0.0 <= float(min_weight) < 1.0):
            raise ValueError(f"min_weight must be in [0, 1), got {min_weight!r}")
        self.partitions = list(partition_states)
        self._states = [partition_states[p] for p in self.partitions]
        self.evaluate = evaluate
        self.min_weight = float(min_weight)
        self.evaluations = 0

    def __repr__(self) -> str:
        return (f"MergingEstimator(partitions={self.partitions}, min_weight={self.min_weight:.4g}, "
                f"evaluations={self.evaluations})")

    def _weights(self, mixture: Mapping[str, float]) -> list[float]:
        if not isinstance(mixture, Mapping):
            raise TypeError(f"mixture must be a mapping partition -> weight, got {type(mixture).__name__}")
        unknown = set(mixture) - set(self.partitions)
        if unknown:
            raise ValueError(f"mixture names unknown partitions {sorted(unknown)}; known: {self.partitions}")
        w = [float(mixture.get(p, 0.0)) for p in self.partitions]
        total = sum(w)
        if not total > 0 or any(x < 0 for x in w):
            raise ValueError(f"mixture weights must be >= 0 with a positive sum, got {dict(mixture)}")
        return [x if x / total >= self.min_weight else 0.0 for x in w]

    def merged_state(self, mixture: Mapping[str, float]) -> dict[str, Tensor]:
        """The mixture-weighted parameter average of the partition proxies."""
        w = self._weights(mixture)
        if not any(x > 0 for x in w):
            raise ValueError(f"no partition of {dict(mixture)} reaches min_weight={self.min_weight}")
        keep = [i for i, x in enumerate(w) if x > 0]
        return merge_parameters([self._states[i] for i in keep], [w[i] for i in keep])

    def __call__(self, mixture: Mapping[str, float]) -> float:
        self.evaluations += 1
        return float(self.evaluate(self.merged_state(mixture)))

    def score(self, mixtures: Sequence[Mapping[str, float]]) -> list[float]:
        """The merged score of every mixture (lower is better)."""
        return [self(m) for m in mixtures]

    def rank(self, mixtures: Sequence[Mapping[str, float]], top: int | None = None) -> list[int]:
        """Indices of ``mixtures`` by merged score, best first (the ``top`` best when given)."""
        scores = self.score(mixtures)
        order = sorted(range(len(scores)), key=lambda i: (scores[i], i))
        return order if top is None else order[:top]


def spearman(a: Sequence[float], b: Sequence[float]) -> float:
    """Spearman rank correlation of two equal-length sequences (average ranks for ties)."""
    x, y = torch.as_tensor(list(a), dtype=torch.float64), torch.as_tensor(list(b), dtype=torch.float64)
    if x.numel() != y.numel() or x.numel() < 2:
        raise ValueError("spearman needs two sequences of the same length >= 2")

    def ranks(v: Tensor) -> Tensor:
        order = torch.argsort(v, stable=True)
        r = torch.empty_like(v)
        r[order] = torch.arange(v.numel(), dtype=torch.float64)
        for val in torch.unique(v):  # average ranks over ties
            mask = v == val
            if int(mask.sum()) > 1:
                r[mask] = r[mask].mean()
        return r

    rx, ry = ranks(x), ranks(y)
    rx, ry = rx - rx.mean(), ry - ry.mean()
    den = float(rx.norm() * ry.norm())
    return float((rx @ ry) / den) if den > 0 else 0.0


__all__: list[Any] = ["MergingEstimator", "merge_parameters", "spearman"]
