"""The per-example selection, bandit, balancing and merging methods, one row each (for ``mixkit list``):
name, the object implementing it, paper, paper URL, the authors' release and its defaults (read from the
signature)."""

from __future__ import annotations

import inspect
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from mixkit.domain.balance import BalancedMixture
from mixkit.domain.online.flad import EXP3FLAD, UCB1FLAD
from mixkit.domain.search.merging import MergingEstimator
from mixkit.domain.selection.data_diet import average_scores, prune_indices
from mixkit.domain.selection.rs2 import RS2Sampler


@dataclass(frozen=True)
class SelectionMethod:
    """One row: ``name``, ``obj`` (class or function), ``paper``, ``url``, ``release``."""

    name: str
    obj: Callable[..., Any]
    paper: str
    url: str
    release: str

    @property
    def defaults(self) -> dict[str, Any]:
        """Keyword defaults of ``obj`` (its signature)."""
        sig = inspect.signature(self.obj)
        return {k: p.default for k, p in sig.parameters.items()
                if p.default is not inspect.Parameter.empty and k not in ("seed", "generator")}


_FLAD = "Improving Few-Shot Generalization by Exploring and Exploiting Auxiliary Data (NeurIPS 2023)"
_DIET = "Deep Learning on a Data Diet: Finding Important Examples Early in Training (NeurIPS 2021)"

SELECTION_METHODS: tuple[SelectionMethod, ...] = (
    SelectionMethod("rs2", RS2Sampler,
                    "Repeated Random Sampling for Minimizing the Time-to-Accuracy of Learning (ICLR 2024)",
                    "https://arxiv.org/abs/2305.18424",
                    "PatrikOkanovic/RS2: src/DeepCore/deepcore/methods/uniform_no_replacement.py"),
    SelectionMethod("el2n-grand", average_scores,
                    _DIET,
                    "https://arxiv.org/abs/2107.07075", "mansheej/data_diet: data_diet/scores.py"),
    SelectionMethod("data-diet-prune", prune_indices,
                    "Deep Learning on a Data Diet (keep_max_scores / offset subsets)",
                    "https://arxiv.org/abs/2107.07075", "mansheej/data_diet: data_diet/data.py"),
    SelectionMethod("exp3-flad", EXP3FLAD,
                    _FLAD,
                    "https://arxiv.org/abs/2302.00674",
                    "alon-albalak/FLAD: src/trainer.py (Exp3BatchedFLADTrainer)"),
    SelectionMethod("ucb1-flad", UCB1FLAD,
                    _FLAD,
                    "https://arxiv.org/abs/2302.00674",
                    "alon-albalak/FLAD: src/trainer.py (UCB1BatchedFLADTrainer)"),
    SelectionMethod("upsample-upweight", BalancedMixture,
                    "Upsample or Upweight? Balanced Training on Heavily Imbalanced Datasets (NAACL 2025)",
                    "https://arxiv.org/abs/2410.04579", ""),
    SelectionMethod("merging-estimator", MergingEstimator,
                    "Scalable Data Ablation Approximations for Language Models through Modular Training and "
                    "Merging (EMNLP 2024)", "https://arxiv.org/abs/2410.15661", ""),
)

__all__ = ["SELECTION_METHODS", "SelectionMethod"]
