"""MoCHi: hard negatives synthesised by mixing the hardest negatives of a MoCo queue (and the query).

Paper: Kalantidis, Sariyildiz, Pion, Weinzaepfel & Larlus, *Hard Negative Mixing for Contrastive Learning*,
NeurIPS 2020 (https://arxiv.org/abs/2010.01028), section 4. The authors released no code; the rule below is
the paper's equations:

* ``Q~^N``: the ``N`` negatives of the queue with the highest similarity ``q . n`` to the query ``q``;
* ``s`` mixed negatives ``h_k = h~_k / ||h~_k||`` with ``h~_k = a_k n_i + (1 - a_k) n_j``, ``n_i, n_j`` drawn
  from ``Q~^N`` and ``a_k ~ U(0, 1)``;
* ``s'`` query-mixed negatives ``h'_k = h~'_k / ||h~'_k||`` with ``h~'_k = b_k q + (1 - b_k) n_j``,
  ``n_j`` drawn from ``Q~^N`` and ``b_k ~ U(0, 0.5)``, so the query's share stays below one half;
* the synthetic points are appended to the query's negatives in the InfoNCE logits, they do not enter the
  queue, and no gradient flows through them.

Defaults: ``N = 1024, s = 1024, s' = 128`` and ``temperature = 0.2`` (MoCo-v2), the setting the paper reports
on ImageNet-100 as ``MoCHi (1024, 1024, 128)``. The paper starts mixing after a warm-up of a few epochs;
that schedule is the caller's (call plain InfoNCE with ``s = s' = 0`` until then).

Deviations (mixkit's choices where the paper says "randomly chosen"):
    * the two negatives ``n_i, n_j`` of a mixed pair are distinct members of ``Q~^N`` (uniform over the
      ordered pairs of distinct indices); with ``N = 1`` the pair is the hardest negative twice.
    * the queue is passed as ``[K, D]`` rows (MoCo keeps ``[D, K]``: pass ``queue.T``).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

__all__ = ["mochi_loss", "mochi_negatives"]


def _check(q: Tensor, queue: Tensor, n_hard: int, s: int, s_prime: int) -> None:
    if not isinstance(q, Tensor) or q.dim() != 2 or not q.is_floating_point():
        raise ValueError(f"q must be a floating tensor [B, D], got {getattr(q, 'shape', type(q))}")
    if not isinstance(queue, Tensor) or queue.dim() != 2 or queue.shape[1] != q.shape[1]:
        raise ValueError(f"queue must be a tensor [K, D] with D = {q.shape[1]} (the query's), got "
                         f"{getattr(queue, 'shape', type(queue))}")
    for name, v in (("n_hard", n_hard), ("s", s), ("s_prime", s_prime)):
        if isinstance(v, bool) or not isinstance(v, int) or v < 0:
            raise ValueError(f"{name} must be an int >= 0, got {v!r}")
    if (s or s_prime) and not 1 <= n_hard <= queue.shape[0]:
        raise ValueError(f"n_hard must be in [1, K] = [1, {queue.shape[0]}] (the queue size), got {n_hard}")


def mochi_negatives(q: Tensor, queue: Tensor, *, n_hard: int = 1024, s: int = 1024, s_prime: int = 128,
                    generator: torch.Generator | None = None) -> Tensor:
    """The ``s + s'`` synthetic hard negatives of each query, L2-normalised and detached.

    Args:
        q: ``[B, D]`` floating, the L2-normalised queries.
        queue: ``[K, D]``, the L2-normalised negatives (MoCo's queue, transposed).
        n_hard: ``N``, how many of the hardest negatives (highest ``q . n``) are mixed, ``1 <= N <= K``.
        s: mixed negatives per query (pairs of hard negatives).
        s_prime: query-mixed negatives per query (``b q + (1 - b) n_j``, ``b ~ U(0, 0.5)``).
        generator: CPU generator for the pair indices and the mixing weights.

    Returns:
        ``[B, s + s', D]`` in ``q``'s dtype and device: the ``s`` mixed pairs first, then the ``s'``
        query mixtures, each row of unit norm. No gradient flows through it.
    """
    _check(q, queue, n_hard, s, s_prime)
    b, d = q.shape
    if s + s_prime == 0 or b == 0:
        return q.new_zeros(b, s + s_prime, d)
    with torch.no_grad():
        q = q.detach()
        queue = queue.detach().to(q.dtype)
        hard = (q @ queue.T).topk(n_hard, dim=1).indices            # [B, N] queue rows, hardest first
        # every random number, from the CPU generator in a fixed order, then one move to the device
        first = torch.randint(n_hard, (b, s), generator=generator)
        offset = torch.randint(max(n_hard - 1, 1), (b, s), generator=generator) + 1
        second = (first + offset) % n_hard if n_hard > 1 else first
        alpha = torch.rand(b, s, 1, generator=generator)
        third = torch.randint(n_hard, (b, s_prime), generator=generator)
        beta = 0.5 * torch.rand(b, s_prime, 1, generator=generator)
        dev = q.device
        pick = torch.cat([first, second, third], 1).to(dev, non_blocking=True)
        rows = queue[hard.gather(1, pick)]                            # [B, 2s + s', D]
        n_i, n_j, n_q = rows[:, :s], rows[:, s:2 * s], rows[:, 2 * s:]
        alpha = alpha.to(dev, q.dtype, non_blocking=True)
        beta = beta.to(dev, q.dtype, non_blocking=True)
        mixed = torch.lerp(n_j, n_i, alpha)                            # a n_i + (1 - a) n_j
        query_mixed = torch.lerp(n_q, q[:, None, :].expand_as(n_q), beta)  # b q + (1 - b) n_j
        return F.normalize(torch.cat([mixed, query_mixed], 1), dim=-1)


def mochi_loss(q: Tensor, k: Tensor, queue: Tensor, *, temperature: float = 0.2, n_hard: int = 1024,
               s: int = 1024, s_prime: int = 128, generator: torch.Generator | None = None,
               reduction: str = "mean") -> Tensor:
    """MoCo's InfoNCE with MoCHi's synthetic negatives appended to each query's negatives.

    ``loss_i = -log softmax([q_i . k_i, q_i . n for n in queue, q_i . h for h in H_i] / temperature)[0]``
    with ``H_i`` from :func:`mochi_negatives` (no gradient through ``H_i``, ``k`` or ``queue``; gradients
    reach ``q``). ``s = s_prime = 0`` gives plain MoCo.

    Args:
        q: ``[B, D]`` L2-normalised queries (gradients flow).
        k: ``[B, D]`` L2-normalised positive keys (detached, as MoCo's momentum keys).
        queue: ``[K, D]`` L2-normalised negatives.
        temperature: softmax temperature ``tau`` (> 0); MoCo-v2's 0.2 by default.
        reduction: ``"mean"``, ``"sum"`` or ``"none"`` (``[B]``).
    """
    if not isinstance(temperature, (int, float)) or not temperature > 0:
        raise ValueError(f"temperature must be > 0, got {temperature!r}")
    if reduction not in ("mean", "sum", "none"):
        raise ValueError(f"reduction must be 'mean', 'sum' or 'none', got {reduction!r}")
    _check(q, queue, n_hard, s, s_prime)
    if k.shape != q.shape:
        raise ValueError(f"k must have the shape of q {tuple(q.shape)}, got {tuple(k.shape)}")
    k, queue = k.detach().to(q.dtype), queue.detach().to(q.dtype)
    synthetic = mochi_negatives(q, queue, n_hard=n_hard, s=s, s_prime=s_prime, generator=generator)
    logits = torch.cat([(q * k).sum(1, keepdim=True), q @ queue.T,
                        torch.einsum("bd,bsd->bs", q, synthetic)], 1).float() / temperature
    loss = torch.logsumexp(logits, 1) - logits[:, 0]
    return loss.mean() if reduction == "mean" else loss.sum() if reduction == "sum" else loss
