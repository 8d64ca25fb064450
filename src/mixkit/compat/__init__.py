"""Adapters to the tools people already train with.

* :mod:`mixkit.compat.timm`: :class:`~mixkit.compat.timm.Mixup` and
  :class:`~mixkit.compat.timm.FastCollateMixup`, drop-in for ``timm.data``'s classes (timm need not be
  installed).
* :mod:`mixkit.compat.collate`: :class:`~mixkit.compat.collate.MixCollate`, a DataLoader ``collate_fn`` that
  mixes inside the workers, seeded from each worker's seed.
"""

from .collate import MixCollate
from .timm import FastCollateMixup, Mixup

__all__ = ["FastCollateMixup", "MixCollate", "Mixup"]
