"""mixkit: mix training data at every level for PyTorch.

* ``mixkit.sample``: the mixup family (MixUp, CutMix, ...) returning a :class:`MixedBatch`.
* ``mixkit.domain``: data-source mixtures streamed by :class:`MixtureSampler`.
* ``mixkit.bench``: the benchmark behind ``mixkit bench``.
"""

from . import domain, sample
from .domain import *  # noqa: F403
from .domain import __all__ as _domain_all
from .sample import *  # noqa: F403
from .sample import __all__ as _sample_all

__version__ = "0.1.0"
__all__ = [*_sample_all, *_domain_all, "__version__"]
