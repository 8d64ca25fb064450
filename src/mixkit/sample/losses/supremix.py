"""SupReMix: supervised contrastive regression with mixed hard negatives and hard positives.

Paper: Wu, Dong, Chen, Zhou & Zhou, *Mixup Your Own Pairs* (arXiv 2309.16633, 2023). Release:
``yilei-wu/SupReMix`` (one folder per dataset; read: IMDB-WIKI): ``train.py`` (``mixing_func``: which
mixtures, their weights and labels), ``supremix_loss.py`` (``SupConLoss_v2``: the loss) and ``utils.py``
(``calculate_alpha_vectorized``).

In embedding space, for every anchor ``i`` (each view of each sample is an anchor):

* hard negatives, *anchor-inclusive* mixtures: ``a f_i + (1 - a) f_k`` for every ``k`` with another label,
  ``a ~ Beta(2, 8)`` drawn per (anchor, negative) pair; label ``a y_i + (1 - a) y_k``;
* hard positives, *anchor-exclusive* mixtures: ``a f_j + (1 - a) f_k`` for every pair of samples with
  ``y_j < y_i < y_k``, both within ``window`` of ``y_i``, and ``a = (y_k - y_i) / (y_k - y_j)`` so that the
  mixed label is ``y_i``;
* the supervised contrastive loss over the clean samples and these mixtures, with cosine similarities
  (dot products of the given, L2-normalised, features; the mixtures are not re-normalised), temperature
  ``tau``, each term of the denominator weighted by ``|y_i - y_c| + 1`` (``weighting="l1_inv"``; ``y_c`` the
  label of the clean sample or mixture ``c``, so positives weigh 1), the positives being the clean samples
  with the anchor's label (other than itself) and the hard positives::

      loss_i = -1 / (|P_i| + 1) * sum_{p in P_i} [s_ip / tau - log sum_{c != i} w_ic exp(s_ic / tau)]

  averaged over the anchors (the release divides by ``|P_i| + 1``, not ``|P_i|``).

Defaults from the release (``train.py`` arguments): ``temperature=0.3``, ``window=5`` (label units),
``Beta(2, 8)`` for the hard negatives (``--beta 0``), ``weighting="l1_inv"``, both kinds of mixtures
(``--contrastive_method supremix``).

Deviations:
    * one log-sum-exp over clean and mixed logits; the release shifts the clean block and the mixture block
      by two different maxima "for numerical stability", which rescales one block against the other.
    * the triples are scored without building the mixed features: the dot product of an anchor with a
      mixture is the same mixture of its dot products (an ``[N, N, N]`` tensor of scores, not
      ``[N, N, N, D]`` features); the release's ``pool`` sub-batching is the caller's.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from ..lam import sample_beta

__all__ = ["supremix_loss", "supremix_weights"]

_WEIGHTINGS = ("l1_inv", "l2_inv", "l1", "l2", "none")


def supremix_weights(distance: Tensor, weighting: str = "l1_inv") -> Tensor:
    """The release's weight of a denominator term from the label distance ``d = |y_i - y_c|``
    (``calculate_weight``): ``l1_inv``: ``d + 1``; ``l2_inv``: ``d**2 + 1``; ``l1``: ``1 / (d + 1)``;
    ``l2``: ``1 / (d**2 + 1)``; ``none``: 1."""
    if weighting == "l1_inv":
        return distance + 1
    if weighting == "l2_inv":
        return distance ** 2 + 1
    if weighting == "l1":
        return 1 / (distance + 1)
    if weighting == "l2":
        return 1 / (distance ** 2 + 1)
    if weighting == "none":
        return torch.ones_like(distance)
    raise ValueError(f"weighting must be one of {_WEIGHTINGS}, got {weighting!r}")


def supremix_loss(features: Tensor, labels: Tensor, *, temperature: float = 0.3, window: float = 5.0,
                  neg_beta: tuple[float, float] = (2.0, 8.0), mix_negatives: bool = True,
                  mix_positives: bool = True, weighting: str = "l1_inv",
                  generator: torch.Generator | None = None) -> Tensor:
    """SupReMix's loss (scalar, float32) on ``features`` ``[B, V, D]`` (``V`` views) or ``[B, D]``.

    Args:
        features: L2-normalised embeddings; gradients flow through the clean and the mixed terms.
        labels: ``[B]`` real-valued regression targets (shared by the views of a sample).
        temperature: ``tau`` (> 0).
        window: hard positives mix ``j, k`` with ``y_i - window < y_j < y_i < y_k < y_i + window``.
        neg_beta: ``(a, b)`` of the ``Beta(a, b)`` anchor share of a hard negative.
        mix_negatives, mix_positives: which mixtures to add (both: SupReMix; neither: the release's weighted
            SupCon baseline).
        weighting: denominator weights from label distance, see :func:`supremix_weights`.
        generator: CPU generator for the ``[N, N]`` Beta draws (``N = B * V``), drawn even when
            ``mix_negatives`` is off, so seeded runs line up.
    """
    if not isinstance(features, Tensor) or features.dim() not in (2, 3) or not features.is_floating_point():
        raise ValueError(f"features must be a floating tensor [B, V, D] or [B, D], got "
                         f"{getattr(features, 'shape', type(features))}")
    if features.dim() == 2:
        features = features[:, None]
    b, v, _ = features.shape
    if not isinstance(labels, Tensor) or labels.shape != (b,):
        raise ValueError(f"labels must be a tensor [B] = [{b}], got {getattr(labels, 'shape', type(labels))}")
    if not isinstance(temperature, (int, float)) or not temperature > 0:
        raise ValueError(f"temperature must be > 0, got {temperature!r}")
    if not isinstance(window, (int, float)) or not window > 0:
        raise ValueError(f"window must be > 0, got {window!r}")
    if weighting not in _WEIGHTINGS:
        raise ValueError(f"weighting must be one of {_WEIGHTINGS}, got {weighting!r}")
    n = b * v
    f = features.transpose(0, 1).reshape(n, -1).float()           # view-major, as the release's cat
    y = labels.to(f).repeat(v)
    dev = f.device
    a_neg = sample_beta(neg_beta[0], n * n, generator, beta=neg_beta[1]).view(n, n).to(dev, non_blocking=True)

    sim = f @ f.T                                                  # [N, N]
    dy = (y[:, None] - y[None, :]).abs()
    eye = torch.eye(n, dtype=torch.bool, device=dev)
    neg_inf = torch.tensor(-math.inf, device=dev)
    # clean block: every other row, weighted; positives share the anchor's label
    logits = [torch.where(eye, neg_inf, sim / temperature + supremix_weights(dy, weighting).log())]
    pos_logits = [torch.where(~eye & (dy == 0), sim / temperature, neg_inf)]
    if mix_negatives:   # a f_i + (1 - a) f_k, k with another label
        s_neg = a_neg * sim.diagonal()[:, None] + (1 - a_neg) * sim
        w_neg = supremix_weights((1 - a_neg) * dy, weighting)
        logits.append(torch.where(dy > 0, s_neg / temperature + w_neg.log(), neg_inf))
    if mix_positives:   # a f_j + (1 - a) f_k with y_j < y_i < y_k inside the window, label y_i
        yi, yj, yk = y[:, None, None], y[None, :, None], y[None, None, :]
        ok = (yj < yi) & (yi < yk) & (yi - yj < window) & (yk - yi < window)
        a = ((yk - yi) / (yk - yj).clamp(min=1e-9)).clamp(0, 1)
        s_pos = a * sim[:, :, None] + (1 - a) * sim[:, None, :]   # anchor i with the mixture of j and k
        s_pos = torch.where(ok, s_pos / temperature, neg_inf).view(n, n * n)
        logits.append(s_pos)                                        # weight 1: the label is y_i
        pos_logits.append(s_pos)
    log_z = torch.logsumexp(torch.cat(logits, 1), 1)                # [N]
    pos = torch.cat(pos_logits, 1)
    is_pos = torch.isfinite(pos)
    per_anchor = torch.where(is_pos, pos - log_z[:, None], 0.0).sum(1) / (is_pos.sum(1) + 1)
    return -per_anchor.mean()
