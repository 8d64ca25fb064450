"""Metrix: mixup for deep metric learning, with the metric-learning losses generalised to mixed labels.

Paper: Venkataramanan, Psomas, Kijak, Amsaleg, Karantzalos & Avrithis, *It Takes Two to Tango: Mixup for
Deep Metric Learning*, ICLR 2022 (https://arxiv.org/abs/2106.04990). Release:
``billpsomas/Metrix_ICLR22: mixup/utils.py`` (the pairs and the mixing), ``mixup/losses.py`` (the mixed
contrastive loss) and ``train.py`` (how the clean and mixed losses add up).

Mixing (rows may be inputs, intermediate features or embeddings, the paper's three variants): for an anchor
``a``, a mixed example ``u = lam * x_first + (1 - lam) * x_second`` mixes a member of the anchor's class
(``first``) with a negative of the anchor (``second``), so ``u`` is positive to ``a`` with weight ``v = lam``
and negative with weight ``1 - lam``. :func:`metrix_pairs` lists the pairs in one of the release's two
forms:

* ``"positive_negative"``: ``first`` is a positive of ``a`` (the first other row of its class, as the
  release), ``second`` runs over every negative of ``a``;
* ``"anchor_negative"``: ``first`` is ``a`` itself, ``second`` runs over every negative of ``a``;
* ``"random"``: one of the two, chosen with probability 1/2 per call (the release's coin flip).

The generalised losses take, for every (anchor, example) pair, the positive weight ``v`` in ``[0, 1]``
(1 for a clean positive, 0 for a clean negative, ``lam`` for a mixture), so clean and mixed pairs share one
formula:

* contrastive (the release, PML ``ContrastiveLoss(neg_margin=0.5)`` on ``LpDistance`` with
  ``AvgNonZeroReducer``): ``v [d - m+]_+`` averaged over its non-zero terms plus ``(1 - v) [m- - d]_+``
  averaged over its non-zero terms; ``m+ = 0``, ``m- = 0.5``;
* multi-similarity (paper eq. 8): ``1/b+ log(1 + sum v e^{-b+ (s - m)}) + 1/b- log(1 + sum (1 - v)
  e^{b- (s - m)})`` per anchor, averaged over anchors; ``b+ = 2``, ``b- = 50``, ``m = 0.5`` (PML's
  ``MultiSimilarityLoss`` defaults);
* proxy anchor (paper eq. 9): ``1/|P+| sum_p log(1 + sum_u v_up e^{-a (s(u,p) - d)}) + 1/|C| sum_p
  log(1 + sum_u (1 - v_up) e^{a (s(u,p) + d)})`` with soft class weights ``v_up``; ``a = 32``, ``d = 0.1``.

Distances and similarities are taken between L2-normalised rows (PML's default ``normalize_embeddings``).
Defaults from the release: ``lam ~ Beta(2, 2)`` one per batch, mixed-loss weight 0.4 added to the clean loss.

Deviations:
    * each (anchor, negative) pair is mixed once; the release's positive-negative branch repeats the list
      for every positive pair of the anchor (duplicates that only re-weight anchors with many positives).
    * the release's anchor-negative branch drops every anchor that has a positive in the batch (with its
      balanced sampler that leaves no pair); mixkit keeps every anchor.
    * the release implements only the contrastive loss; the multi-similarity and proxy-anchor forms follow
      the paper's equations, without the multi-similarity pair mining.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from ..lam import sample_beta

__all__ = ["metrix_embedding_loss", "metrix_mix", "metrix_pairs", "mixed_contrastive_loss",
           "mixed_multi_similarity_loss", "mixed_proxy_anchor_loss"]

_KINDS = ("random", "positive_negative", "anchor_negative")


def _labels(labels: Tensor) -> Tensor:
    if not isinstance(labels, Tensor) or labels.dim() != 1 or labels.dtype.is_floating_point:
        got = getattr(labels, "shape", type(labels))
        raise ValueError(f"labels must be an integer tensor [B], got {got}")
    return labels


def metrix_pairs(labels: Tensor, kind: str = "positive_negative",
                 generator: torch.Generator | None = None) -> tuple[Tensor, Tensor, Tensor]:
    """The (anchor, first, second) triples of Metrix's mixed pairs, each ``[P]`` int64 on ``labels``' device.

    The mixed example of triple ``p`` is ``lam * x[first[p]] + (1 - lam) * x[second[p]]``, positive to
    ``x[anchor[p]]`` with weight ``lam``. ``kind``: see the module docstring; ``"random"`` draws one bit
    from ``generator``. Anchors without a positive are skipped by ``"positive_negative"``.
    """
    labels = _labels(labels)
    if kind not in _KINDS:
        raise ValueError(f"kind must be one of {_KINDS}, got {kind!r}")
    if kind == "random":
        coin = int(torch.randint(2, (1,), generator=generator))
        kind = "positive_negative" if coin == 0 else "anchor_negative"
    n = labels.shape[0]
    same = labels[:, None] == labels[None, :]
    eye = torch.eye(n, dtype=torch.bool, device=labels.device)
    if kind == "anchor_negative":
        anchor, second = torch.nonzero(~same, as_tuple=True)
        return anchor, anchor, second
    positives = same & ~eye
    has_pos = positives.any(1)
    first_pos = torch.where(positives, torch.arange(n, device=labels.device), n).min(1).values  # lowest
    valid = (~same) & has_pos[:, None]
    anchor, second = torch.nonzero(valid, as_tuple=True)
    return anchor, first_pos[anchor], second


def metrix_mix(rows: Tensor, first: Tensor, second: Tensor, lam: float | Tensor) -> Tensor:
    """``lam * rows[first] + (1 - lam) * rows[second]``: ``[P, ...]`` for rows ``[B, ...]`` (inputs,
    features or embeddings); ``lam`` a float or a ``[P]`` tensor. Differentiable."""
    a, b = rows[first], rows[second]
    if isinstance(lam, Tensor):
        lam = lam.to(rows.device, rows.dtype).view(-1, *([1] * (rows.dim() - 1)))
        return torch.lerp(b, a, lam)
    return torch.lerp(b, a, float(lam))


def _avg_nonzero(x: Tensor) -> Tensor:
    nz = (x > 0).sum()
    return x.sum() / nz.clamp(min=1)


def mixed_contrastive_loss(anchor: Tensor, other: Tensor, v: Tensor, *, pos_margin: float = 0.0,
                           neg_margin: float = 0.5) -> Tensor:
    """The contrastive loss for pairs with positive weight ``v`` (the release's ``loss_posneg_mixup``).

    ``anchor``, ``other``: ``[P, D]`` rows of the pairs (L2-normalised here); ``v``: ``[P]`` in [0, 1].
    ``v [d - pos_margin]_+`` and ``(1 - v) [neg_margin - d]_+``, each averaged over its non-zero terms,
    then summed; ``d`` is the Euclidean distance. Scalar float32.
    """
    d = (F.normalize(anchor.float(), dim=-1) - F.normalize(other.float(), dim=-1)).norm(dim=-1)
    v = v.to(d)
    return (_avg_nonzero(v * F.relu(d - pos_margin))
            + _avg_nonzero((1 - v) * F.relu(neg_margin - d)))


def mixed_multi_similarity_loss(anchor: Tensor, other: Tensor, v: Tensor, anchor_id: Tensor, *,
                                pos_scale: float = 2.0, neg_scale: float = 50.0, base: float = 0.5) -> Tensor:
    """The multi-similarity loss generalised to mixed labels (paper eq. 8), from a list of pairs.

    ``anchor``, ``other``: ``[P, D]`` rows of the pairs; ``v``: ``[P]`` positive weight; ``anchor_id``:
    ``[P]`` int64, which anchor a pair belongs to (the per-anchor sums run over its pairs). Cosine
    similarities; averaged over the anchors present. Scalar float32.
    """
    s = (F.normalize(anchor.float(), dim=-1) * F.normalize(other.float(), dim=-1)).sum(-1)
    v = v.to(s)
    ids, inverse = torch.unique(anchor_id, return_inverse=True)
    zeros = torch.zeros(ids.numel(), device=s.device)
    pos = zeros.index_add(0, inverse, v * torch.exp(-pos_scale * (s - base)))
    neg = zeros.index_add(0, inverse, (1 - v) * torch.exp(neg_scale * (s - base)))
    per_anchor = torch.log1p(pos) / pos_scale + torch.log1p(neg) / neg_scale
    return per_anchor.mean() if ids.numel() else s.sum() * 0


def mixed_proxy_anchor_loss(embeddings: Tensor, targets: Tensor, proxies: Tensor, *, alpha: float = 32.0,
                            delta: float = 0.1) -> Tensor:
    """The proxy-anchor loss generalised to soft class weights (paper eq. 9).

    ``embeddings``: ``[U, D]``; ``targets``: ``[U, C]`` soft class weights (a one-hot row for a clean
    example, ``lam`` and ``1 - lam`` on the two classes of a mixture); ``proxies``: ``[C, D]``. ``P+`` is the
    set of proxies with a positive weight in the batch. Scalar float32.
    """
    if targets.shape != (embeddings.shape[0], proxies.shape[0]):
        raise ValueError(f"targets must be [U, C] = [{embeddings.shape[0]}, {proxies.shape[0]}], got "
                         f"{tuple(targets.shape)}")
    s = F.normalize(embeddings.float(), dim=-1) @ F.normalize(proxies.float(), dim=-1).T   # [U, C]
    v = targets.to(s)
    pos = (v * torch.exp(-alpha * (s - delta))).sum(0)
    neg = ((1 - v) * torch.exp(alpha * (s + delta))).sum(0)
    with_pos = (v > 0).any(0)
    pos_term = torch.log1p(pos[with_pos]).sum() / with_pos.sum().clamp(min=1)
    return pos_term + torch.log1p(neg).sum() / proxies.shape[0]


def metrix_embedding_loss(embeddings: Tensor, labels: Tensor, *, loss: str = "contrastive",
                          alpha: float = 2.0, weight: float = 0.4, kind: str = "random",
                          proxies: Tensor | None = None,
                          generator: torch.Generator | None = None) -> Tensor:
    """Clean loss plus ``weight`` times the loss on Metrix's embedding mixtures (the release's
    ``embed_metrix_contrastive``; ``loss`` in ``{"contrastive", "multi_similarity", "proxy_anchor"}``).

    ``embeddings``: ``[B, D]`` (gradients flow through clean and mixed rows); ``labels``: ``[B]`` int64.
    One ``lam ~ Beta(alpha, alpha)`` per call from ``generator``; ``proxies`` ``[C, D]`` for proxy anchor.
    """
    labels = _labels(labels)
    if loss not in ("contrastive", "multi_similarity", "proxy_anchor"):
        raise ValueError(f"loss must be 'contrastive', 'multi_similarity' or 'proxy_anchor', got {loss!r}")
    if not alpha > 0:
        raise ValueError(f"alpha must be > 0, got {alpha!r}")
    if loss == "proxy_anchor" and proxies is None:
        raise ValueError("proxies [C, D] are needed for loss='proxy_anchor'")
    lam = float(sample_beta(alpha, 1, generator)[0])
    anchor, first, second = metrix_pairs(labels, kind, generator)
    mixed = metrix_mix(embeddings, first, second, lam)
    n = labels.shape[0]
    if loss == "proxy_anchor":
        k = proxies.shape[0]
        onehot = F.one_hot(labels, k).float()
        soft = lam * onehot[first] + (1 - lam) * onehot[second]
        return (mixed_proxy_anchor_loss(embeddings, onehot, proxies)
                + weight * mixed_proxy_anchor_loss(mixed, soft, proxies))
    a_idx, b_idx = torch.nonzero(~torch.eye(n, dtype=torch.bool, device=labels.device), as_tuple=True)
    v_clean = (labels[a_idx] == labels[b_idx]).float()
    v_mix = torch.full((anchor.numel(),), lam, device=embeddings.device)
    if loss == "contrastive":
        return (mixed_contrastive_loss(embeddings[a_idx], embeddings[b_idx], v_clean)
                + weight * mixed_contrastive_loss(embeddings[anchor], mixed, v_mix))
    return (mixed_multi_similarity_loss(embeddings[a_idx], embeddings[b_idx], v_clean, a_idx)
            + weight * mixed_multi_similarity_loss(embeddings[anchor], mixed, v_mix, anchor))
