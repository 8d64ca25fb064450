"""Domain mixing inside the trainers people already use.

* :class:`MixtureKeyStream`, :class:`DomainDataset`, :class:`OnlineMixing` (torch only): the key stream the
  training DataLoader samples from, items tagged with their domain id, and the driver that feeds per-domain
  losses or gradients to an online method and checkpoints everything as plain JSON.
* :class:`StreamingSource`: a domain streamed from a Hugging Face ``datasets.IterableDataset`` (or any
  re-iterable iterable), read in order, resumed exactly.
* :mod:`mixkit.integrations.hf_trainer` (``pip install 'mixkit[hf]'``): ``MixtureTrainer`` and
  ``MixtureTrainerCallback`` for the Hugging Face ``Trainer``.
* :mod:`mixkit.integrations.lightning` (``pip install 'mixkit[lightning]'``): ``MixtureCallback`` for
  Lightning.

The framework modules are imported only when used.
"""

from .hf_streaming import StreamingSource
from .stream import DomainDataset, MixtureKeyStream, OnlineMixing, per_example_loss

__all__ = ["DomainDataset", "MixtureKeyStream", "OnlineMixing", "StreamingSource", "per_example_loss"]
