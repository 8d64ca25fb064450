"""Online domain mixing in Lightning (``pip install 'mixkit[lightning]'``).

::

    keys = MixtureKeyStream(MixtureSampler(sizes, weights, seed=0), batch_size=32)
    data = DomainDataset(sources)                                # items gain a "domain_ids" column
    mixing = OnlineMixing(ODM(list(sizes)), keys, dataset=data)
    loader = DataLoader(data, batch_size=32, sampler=keys)      # the stream decides the batches

    class Model(LightningModule):
        def training_step(self, batch, batch_idx):
            losses = per_example_loss(self(batch["input_ids"]), batch["labels"])  # [B], with its graph
            return {"loss": losses.mean(), "per_example_loss": losses, "domain_ids": batch["domain_ids"]}

    trainer = Trainer(max_steps=..., callbacks=[MixtureCallback(mixing), ModelCheckpoint(...)])
    trainer.fit(model, loader)                                   # resume: fit(..., ckpt_path=...)

:class:`MixtureCallback` reads ``per_example_loss`` and ``domain_ids`` from the step's output (methods that
need gradients, DGA and R&B, must see the graph before backward: call ``callback.observe(self, losses,
domain_ids)`` inside ``training_step`` instead and return its loss), updates the method after each optimizer
step when it asks for a signal, sets the stream's weights, logs ``mixture/<domain>`` with
``pl_module.log``, and stores the mixing state (plain JSON types) in the Lightning checkpoint through
``state_dict``/``load_state_dict``.
"""

from __future__ import annotations

from typing import Any

import torch

try:
    from lightning.pytorch import Callback
except ImportError:  # pragma: no cover - the standalone package
    from pytorch_lightning import Callback

from .stream import OnlineMixing


class MixtureCallback(Callback):
    """Lightning ``Callback`` driving :class:`~mixkit.integrations.OnlineMixing` (see the module docstring).

    Args:
        mixing: the driver; the training DataLoader must sample from ``mixing.keys`` with the same batch size.
        log: log the weights with ``pl_module.log`` after each update.
    """

    def __init__(self, mixing: OnlineMixing, log: bool = True) -> None:
        if not isinstance(mixing, OnlineMixing):
            raise TypeError(f"mixing must be an OnlineMixing, got {type(mixing).__name__}")
        self.mixing, self.log = mixing, bool(log)
        self.batches = 0  # training batches finished over the whole run
        self.restored = False
        self._observed = False
        self._trainer: Any = None

    @property
    def state_key(self) -> str:
        return "MixtureCallback"

    def _accumulate(self, trainer: Any) -> int:
        return max(1, int(getattr(trainer, "accumulate_grad_batches", 1)))

    def observe(
        self, pl_module: Any, losses: torch.Tensor, domain_ids: torch.Tensor, loss: torch.Tensor | None = None
    ) -> torch.Tensor:
        """Record the per-example ``losses [B]`` of this training batch (call it in ``training_step``, before
        backward); returns the loss to train on (``loss`` or ``losses.mean()``, DoReMi's reweighted loss)."""
        trainer = self._trainer if self._trainer is not None else getattr(pl_module, "trainer", None)
        step = self.batches // self._accumulate(trainer) if trainer is not None else self.batches
        self._observed = True
        return self.mixing.observe(step, losses, domain_ids, pl_module, loss)

    def on_train_start(self, trainer: Any, pl_module: Any) -> None:
        self._trainer = trainer
        if not self.restored and self.batches == 0:
            self.mixing.start(pl_module)

    def on_train_batch_end(
        self, trainer: Any, pl_module: Any, outputs: Any, batch: Any, batch_idx: int
    ) -> None:
        if not self._observed:
            if not (isinstance(outputs, dict) and "per_example_loss" in outputs and "domain_ids" in outputs):
                raise ValueError(
                    "training_step must return {'loss', 'per_example_loss', 'domain_ids'} or call "
                    "MixtureCallback.observe(self, losses, domain_ids)"
                )
            m = self.mixing.method
            if m is not None and m.needs == "grads":
                raise ValueError(
                    f"{type(m).__name__} needs gradients: call MixtureCallback.observe(self, "
                    "losses, domain_ids) inside training_step, before backward"
                )
            acc = self._accumulate(trainer)
            self.mixing.observe(
                self.batches // acc, outputs["per_example_loss"].detach(), outputs["domain_ids"], pl_module
            )
        self._observed = False
        self.batches += 1
        acc = self._accumulate(trainer)
        if self.batches % acc:
            return
        weights = self.mixing.end_step(self.batches // acc - 1, pl_module)
        self.mixing.keys.mark_consumed(self.batches)
        if weights is not None and self.log:
            for d, w in weights.items():
                pl_module.log(f"mixture/{d}", float(w), on_step=True, on_epoch=False)

    def state_dict(self) -> dict[str, Any]:
        """The mixing state after the batches trained so far (plain JSON types)."""
        return {"batches": self.batches, "mixing": self.mixing.state_dict(self.batches)}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        if not isinstance(state_dict, dict) or "mixing" not in state_dict or "batches" not in state_dict:
            raise ValueError("not a MixtureCallback state (fields 'batches' and 'mixing' expected)")
        self.mixing.load_state_dict(state_dict["mixing"])
        self.batches = int(state_dict["batches"])
        self.restored = True
