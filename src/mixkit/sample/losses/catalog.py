"""The loss-side methods: losses that implement a published mixing method (for ``mixkit list``).

:data:`LOSS_METHODS` is a small table, one :class:`LossMethod` per loss, with its paper and the authors'
release; :meth:`LossMethod.defaults` reads the keyword defaults from the function's signature (once).
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from .decoupled_mixup import decoupled_mixup_loss
from .metrix import metrix_embedding_loss
from .mixoe_loss import mixoe_loss
from .mochi import mochi_loss
from .ranking import mixup_ranking_loss, mndcg_loss
from .supremix import supremix_loss

__all__ = ["LOSS_METHODS", "LossMethod", "loss_methods"]


@dataclass(frozen=True)
class LossMethod:
    """One loss-side method: its ``name``, the ``function``, the ``paper`` (title and venue), the paper's
    ``url`` and the authors' ``release`` (``"owner/repo: path/file.py"``)."""

    name: str
    function: Callable[..., Any]
    paper: str
    url: str
    release: str

    @property
    def defaults(self) -> dict[str, Any]:
        """Keyword defaults of :attr:`function` (read from its signature once)."""
        return dict(_signature_defaults(self.function))


@functools.cache
def _signature_defaults(function: Callable[..., Any]) -> tuple[tuple[str, Any], ...]:
    params = inspect.signature(function).parameters.values()
    return tuple((p.name, p.default) for p in params
                 if p.default is not inspect.Parameter.empty and p.name != "reduction")


_RANKMIXUP = "RankMixup: Ranking-Based Mixup Training for Network Calibration (Noh et al., ICCV 2023)"
_RANKMIXUP_URL = "https://arxiv.org/abs/2308.11990"

LOSS_METHODS: tuple[LossMethod, ...] = (
    LossMethod("decoupled_mixup_loss", decoupled_mixup_loss,
               "Harnessing Hard Mixed Samples with Decoupled Regularizer (Liu et al., NeurIPS 2023)",
               "https://arxiv.org/abs/2203.10761",
               "Westlake-AI/openmixup: openmixup/models/losses/cross_entropy_loss.py"),
    LossMethod("mixup_ranking_loss", mixup_ranking_loss, f"{_RANKMIXUP}, MRL", _RANKMIXUP_URL,
               "cvlab-yonsei/RankMixup: calibrate/losses/rankmixup.py"),
    LossMethod("mndcg_loss", mndcg_loss, f"{_RANKMIXUP}, M-NDCG", _RANKMIXUP_URL,
               "cvlab-yonsei/RankMixup: calibrate/losses/rankmixup.py"),
    LossMethod("mixoe_loss", mixoe_loss,
               "Mixture Outlier Exposure: Towards Out-of-Distribution Detection in Fine-grained "
               "Environments (Zhang et al., WACV 2023)",
               "https://arxiv.org/abs/2106.03917",
               "zjysteven/MixOE: train/train_mixoe.py"),
    LossMethod("metrix_embedding_loss", metrix_embedding_loss, "It Takes Two to Tango: Mixup for Deep Metric "
               "Learning (Venkataramanan et al., ICLR 2022)", "https://arxiv.org/abs/2106.04990",
               "billpsomas/Metrix_ICLR22: mixup/utils.py"),
    LossMethod("supremix_loss", supremix_loss, "Mixup Your Own Pairs (Wu et al., 2023)",
               "https://arxiv.org/abs/2309.16633", "yilei-wu/SupReMix: supremix_loss.py"),
    LossMethod("mochi_loss", mochi_loss, "Hard Negative Mixing for Contrastive Learning (Kalantidis et al., "
               "NeurIPS 2020)", "https://arxiv.org/abs/2010.01028", ""),
)
"""Every loss-side method, in the order ``mixkit list`` prints them."""


def loss_methods() -> list[LossMethod]:
    """The loss-side methods (:data:`LOSS_METHODS`) as a list."""
    return list(LOSS_METHODS)
