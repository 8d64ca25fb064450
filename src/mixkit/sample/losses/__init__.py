"""Losses and label rules beyond the mixed cross-entropy of :meth:`MixedBatch.loss`.

* :func:`decoupled_mixup_loss`, :func:`decoupled_regularizer`: Decoupled Mixup (Liu et al., NeurIPS 2023).
* :func:`mixup_ranking_loss` (MRL), :func:`mndcg_loss` (M-NDCG), :func:`softmax_confidence`: RankMixup
  (Noh et al., ICCV 2023).
* :func:`mixoe_targets`, :func:`mixoe_loss`: MixOE (Zhang et al., WACV 2023).

Every loss works from class ids (no one-hot for many classes), computes in float32 for half-precision
logits, and takes ``reduction`` in ``{"mean", "sum", "none"}``.
"""

from .catalog import LOSS_METHODS, LossMethod, loss_methods
from .decoupled_mixup import decoupled_mixup_loss, decoupled_regularizer
from .metrix import (
    metrix_embedding_loss,
    metrix_mix,
    metrix_pairs,
    mixed_contrastive_loss,
    mixed_multi_similarity_loss,
    mixed_proxy_anchor_loss,
)
from .mixoe_loss import mixoe_loss, mixoe_targets
from .mochi import mochi_loss, mochi_negatives
from .ranking import mixup_ranking_loss, mixup_relevance, mndcg_loss, softmax_confidence
from .supremix import supremix_loss, supremix_weights

__all__ = ["metrix_embedding_loss", "metrix_mix", "metrix_pairs", "mixed_contrastive_loss",
           "mixed_multi_similarity_loss", "mixed_proxy_anchor_loss", "mochi_loss", "mochi_negatives",
           "supremix_loss", "supremix_weights", "LOSS_METHODS", "LossMethod", "decoupled_mixup_loss",
           "decoupled_regularizer", "loss_methods",
           "mixoe_loss", "mixoe_targets", "mixup_ranking_loss", "mixup_relevance", "mndcg_loss",
           "softmax_confidence"]
