"""Per-example selection: RS2 repeated random subsets (:class:`RS2Sampler`) and EL2N / GraNd data-diet
pruning (:func:`el2n_scores`, :func:`grand_scores`, :func:`average_scores`, :func:`prune_indices`,
:class:`PrunedSampler`). Each sampler is a ``torch.utils.data.Sampler`` of dataset indices with an exact,
JSON-safe ``state_dict``."""

from mixkit.domain.selection.data_diet import (
    SCORES,
    PrunedSampler,
    average_scores,
    el2n_scores,
    grand_scores,
    prune_indices,
)
from mixkit.domain.selection.rs2 import RS2Sampler, rs2_schedule_steps, subset_size

__all__ = [
    "SCORES",
    "PrunedSampler",
    "RS2Sampler",
    "average_scores",
    "el2n_scores",
    "grand_scores",
    "prune_indices",
    "rs2_schedule_steps",
    "subset_size",
]
