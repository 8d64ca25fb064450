"""Nearest-neighbour mixup for regression (after RegMix, Hwang & Whang 2021) and its choice of ``k``."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
from torch import Tensor

from ..functional.partners import check_chunk_size, check_neighbours, knn_partners
from .cmixup import PartnerMixer

__all__ = ["RegMixKNN", "select_knn_k"]


class RegMixKNN(PartnerMixer):
    """Nearest-neighbour mixup for regression, after RegMix (Hwang & Whang, 2021).

    Each row mixes with a partner drawn uniformly among its ``k`` nearest rows of the batch, with ``k``
    chosen per example. Distances are measured on the inputs (``space="x"``, default) or the targets
    (``space="y"``). Not the domain-level RegMix (data-mixture regression, Liu et al. 2024) in
    ``mixkit.domain``.

    Simplified relative to the paper: RegMix learns the per-example ``k`` on validation data with a learned
    policy (Monte Carlo policy gradient in its later version, MixRL);
    here ``k`` is either one int or a per-example ``[B]`` tensor passed at call time
    (``mixer(x, y, k=k_batch)``, typically ``k_table[dataset_indices]``), and :func:`select_knn_k` picks
    the table on validation data (coordinate search over candidate values, per group of examples).

    No authors' release was found (``release`` is empty); ``alpha=1`` and ``k=4`` are mixkit's defaults.

    Args:
        alpha: ``lam ~ Beta(alpha, alpha)``.
        k: default number of neighbours (>= 1; clipped to ``B - 1``).
        space: ``"x"`` or ``"y"``.
        mode: ``"batch"`` or ``"elem"`` (``"pair"`` is treated as ``"elem"``).
        chunk_size: rows of the distance matrix held in memory at once.
    """

    name = "regmix_knn"
    aliases = ("regmix-knn", "knn_mixup")
    paper = "RegMix: Data Mixing Augmentation for Regression (Hwang & Whang, 2021)"
    paper_url = "https://arxiv.org/abs/2106.03374"
    tasks = frozenset({"regression"})

    def __init__(self, alpha: float = 1.0, k: int = 4, space: str = "x", *, mode: str = "batch",
                 prob: float = 1.0, chunk_size: int = 2048, validate: bool = True) -> None:
        super().__init__(alpha, mode=mode, prob=prob, pairing="flip" if mode == "pair" else "roll",
                         validate=validate)
        check_neighbours(k, 1)
        if space not in ("x", "y"):
            raise ValueError(f"space must be 'x' (inputs) or 'y' (targets), got {space!r}")
        self.k, self.space = k, space
        self.chunk_size = check_chunk_size(chunk_size)

    def partners(self, x: Tensor, y: Tensor, uniforms: Tensor, k: int | Tensor | None) -> Tensor:
        keys = x if self.space == "x" else y
        return knn_partners(keys.detach(), self.k if k is None else k, uniforms, chunk_size=self.chunk_size)

    def extra_repr(self) -> str:
        return f"{super().extra_repr()}, k={self.k}, space={self.space!r}"


def select_knn_k(evaluate: Callable[[Tensor], float], num_examples: int,
                 candidates: Sequence[int] = (1, 2, 4, 8, 16), groups: Tensor | None = None,
                 rounds: int = 1) -> Tensor:
    """Choose the per-example number of neighbours ``k`` for :class:`RegMixKNN` on validation data.

    ``evaluate(k_table)`` trains (or fine-tunes) with ``RegMixKNN`` using ``k_table[dataset_indices]`` as the
    per-example ``k`` and returns a validation loss (lower is better). The search first picks the best single
    ``k`` for every example, then, if ``groups`` (``[num_examples]`` int group id per training example, e.g.
    target quantile bins or clusters) is given, revisits each group ``rounds`` times and keeps the candidate
    that lowers the validation loss with the other groups fixed. Cost: ``len(candidates) * (1 + rounds *
    num_groups)`` calls of ``evaluate``.

    This is a simplification of RegMix's learned per-example policy: examples of one group share ``k``.
    Returns ``[num_examples]`` int64 on the CPU.
    """
    if not callable(evaluate):
        raise TypeError("evaluate must be callable: k_table [N] int64 -> validation loss (float)")
    if not isinstance(num_examples, int) or num_examples < 1:
        raise ValueError(f"num_examples must be an int >= 1, got {num_examples!r}")
    cands = [int(c) for c in candidates]
    if not cands or any(c < 1 for c in cands):
        raise ValueError(f"candidates must be a non-empty sequence of ints >= 1, got {list(candidates)}")
    if not isinstance(rounds, int) or rounds < 0:
        raise ValueError(f"rounds must be an int >= 0, got {rounds!r}")

    def score(table: Tensor) -> float:
        value = float(evaluate(table.clone()))
        if value != value:
            raise ValueError("evaluate returned NaN; it must return a finite validation loss")
        return value

    tables = [torch.full((num_examples,), c, dtype=torch.long) for c in cands]
    scores = [score(t) for t in tables]
    best_i = min(range(len(cands)), key=scores.__getitem__)
    best, best_score = tables[best_i], scores[best_i]
    if groups is None:
        return best
    if groups.shape != (num_examples,) or groups.dtype.is_floating_point:
        raise ValueError(f"groups must be an integer tensor of shape [{num_examples}], got "
                         f"{groups.dtype} {tuple(groups.shape)}")
    groups = groups.cpu()
    for _ in range(rounds):
        for gid in torch.unique(groups).tolist():
            member = groups == gid
            for c in cands:
                trial = best.masked_fill(member, c)
                if torch.equal(trial, best):
                    continue
                s = score(trial)
                if s < best_score:
                    best, best_score = trial, s
    return best
