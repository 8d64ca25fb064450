"""Online domain mixing in the Hugging Face ``Trainer`` (``pip install 'mixkit[hf]'``).

::

    sampler = MixtureSampler(sizes, weights, seed=0)
    data = DomainDataset(sources)                                  # items gain a "domain_ids" column
    keys = MixtureKeyStream(sampler, batch_size=args.per_device_train_batch_size,
                            sequential=data.sequential_domains)
    mixing = OnlineMixing(ODM(list(sizes)), keys, dataset=data)
    trainer = MixtureTrainer(model=model, args=args, train_dataset=data, mixing=mixing)
    trainer.train()                                                # or train(resume_from_checkpoint=True)

:class:`MixtureTrainer` draws the training batches from ``mixing.keys``, computes per-example losses from the
model's logits and labels (``per_example_loss``: causal LM or classification cross-entropy, or your
function) and hands them to ``mixing.observe`` before backward; the training loss stays the model's own
(DoReMi in ``mode="reweight"`` replaces it with its reweighted loss). :class:`MixtureTrainerCallback` (added
by the trainer) updates the method after each optimizer step when it asks for a signal, sets the stream's
weights, appends ``mixture/<domain>`` weights to ``trainer.state.log_history``, writes the mixing state as
JSON (``mixkit_mixing.json``, one file per rank) into each checkpoint folder and reads it back when training
resumes from that checkpoint. Resuming needs ``ignore_data_skip=True`` (the trainer sets it): the stream
itself continues where training stopped instead of the ``Trainer`` skipping batches.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from typing import Any

import torch
from transformers import Trainer, TrainerCallback
from transformers.trainer_utils import get_last_checkpoint

from .stream import OnlineMixing, per_example_loss

STATE_FILE = "mixkit_mixing.json"


def state_file(folder: str | os.PathLike, rank: int = 0, world_size: int = 1) -> str:
    """Path of the mixing state in a checkpoint folder (``mixkit_mixing.json``, or ``-rank{r}`` with
    several ranks)."""
    name = STATE_FILE if world_size == 1 else STATE_FILE.replace(".json", f"-rank{rank}.json")
    return os.path.join(os.fspath(folder), name)


class MixtureTrainerCallback(TrainerCallback):
    """``TrainerCallback`` that updates the online method, logs the weights and checkpoints the mixing
    state (see the module docstring). With a plain ``Trainer``, per-example losses must reach
    ``mixing.observe`` from your ``compute_loss``; :class:`MixtureTrainer` does that for you."""

    def __init__(self, mixing: OnlineMixing) -> None:
        if not isinstance(mixing, OnlineMixing):
            raise TypeError(f"mixing must be an OnlineMixing, got {type(mixing).__name__}")
        self.mixing = mixing
        self.restored_from: str | None = None

    def _rank(self, args: Any) -> tuple[int, int]:
        return int(getattr(args, "process_index", 0)), int(getattr(args, "world_size", 1))

    def load_checkpoint(self, folder: str | os.PathLike, args: Any = None) -> None:
        """Restore the mixing state written into checkpoint ``folder``."""
        rank, world = self._rank(args) if args is not None else (0, 1)
        path = state_file(folder, rank, world)
        if not os.path.isfile(path):
            raise FileNotFoundError(
                f"no mixing state in checkpoint {os.fspath(folder)!r} ({path} is missing)"
            )
        with open(path, encoding="utf-8") as fh:
            self.mixing.load_state_dict(json.load(fh))
        self.restored_from = os.fspath(folder)

    def on_train_begin(self, args: Any, state: Any, control: Any, model: Any = None, **kwargs: Any) -> None:
        if state.global_step == 0:
            if self.restored_from is None:
                self.mixing.start(model)
            return
        if self.restored_from is None:  # resumed by a plain Trainer: the checkpoint of this step
            self.load_checkpoint(os.path.join(args.output_dir, f"checkpoint-{state.global_step}"), args)
        if not args.ignore_data_skip:
            raise ValueError(
                "resuming a mixture stream needs TrainingArguments(ignore_data_skip=True): the "
                "stream continues by itself, skipping batches would consume it"
            )

    def on_step_end(self, args: Any, state: Any, control: Any, model: Any = None, **kwargs: Any) -> None:
        step = state.global_step - 1
        weights = self.mixing.end_step(step, model)
        self.mixing.keys.mark_consumed(state.global_step * args.gradient_accumulation_steps)
        if weights is not None:
            state.log_history.append(
                {**{f"mixture/{d}": w for d, w in weights.items()}, "step": state.global_step}
            )

    def on_save(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        folder = os.path.join(args.output_dir, f"checkpoint-{state.global_step}")
        os.makedirs(folder, exist_ok=True)
        rank, world = self._rank(args)
        data = self.mixing.state_dict(state.global_step * args.gradient_accumulation_steps)
        tmp = state_file(folder, rank, world) + ".tmp"
        with open(tmp, "w", encoding="utf-8") as fh:
            json.dump(data, fh)
        os.replace(tmp, state_file(folder, rank, world))


class MixtureTrainer(Trainer):
    """``Trainer`` that samples its training batches from ``mixing.keys`` and passes per-example losses,
    grouped by the dataset's domain column, to ``mixing`` (see the module docstring).

    Args:
        mixing: the :class:`~mixkit.integrations.OnlineMixing` driver (its ``keys`` batch size must be
            ``per_device_train_batch_size``).
        per_example_loss: ``"auto"`` | ``"causal_lm"`` | ``"classification"`` (cross-entropy from
            ``outputs.logits`` and ``inputs["labels"]``, see :func:`~mixkit.integrations.per_example_loss`)
            or ``fn(outputs, inputs) -> Tensor [B]``.
        domain_column: the column holding domain ids (``DomainDataset``'s ``column``).
        Everything else goes to ``transformers.Trainer``.
    """

    def __init__(
        self,
        *args: Any,
        mixing: OnlineMixing,
        per_example_loss: str | Callable[[Any, dict[str, Any]], torch.Tensor] = "auto",
        domain_column: str = "domain_ids",
        **kwargs: Any,
    ) -> None:
        if not isinstance(mixing, OnlineMixing):
            raise TypeError(f"mixing must be an OnlineMixing, got {type(mixing).__name__}")
        if not callable(per_example_loss) and per_example_loss not in ("auto", "causal_lm", "classification"):
            raise ValueError(
                f"per_example_loss must be 'auto', 'causal_lm', 'classification' or a function, "
                f"got {per_example_loss!r}"
            )
        super().__init__(*args, **kwargs)
        if self.args.per_device_train_batch_size != mixing.keys.batch_size:
            raise ValueError(
                f"per_device_train_batch_size={self.args.per_device_train_batch_size} differs from "
                f"the key stream's batch_size={mixing.keys.batch_size}"
            )
        if self.args.dataloader_drop_last:
            raise ValueError("dataloader_drop_last must be False with a mixture key stream")
        self.args.ignore_data_skip = True
        self.mixing, self.per_example_loss_fn, self.domain_column = mixing, per_example_loss, domain_column
        self.mixing_callback = MixtureTrainerCallback(mixing)
        self.add_callback(self.mixing_callback)
        self._rng_from: str | None = None

    def _get_train_sampler(self, train_dataset: Any = None) -> torch.utils.data.Sampler:
        return self.mixing.keys

    def get_train_dataloader(self) -> Any:
        """The training DataLoader over ``mixing.keys``. Each rank's :class:`~mixkit.domain.MixtureSampler`
        already holds only that rank's share of the stream, so the batch sharding accelerate adds for several
        processes is turned into a pass-through."""
        loader = super().get_train_dataloader()
        shard = getattr(loader, "batch_sampler", None)
        inner = getattr(shard, "batch_sampler", None)
        if getattr(inner, "sampler", None) is self.mixing.keys and hasattr(shard, "num_processes"):
            shard.num_processes, shard.process_index = 1, 0
        return loader

    def _set_signature_columns_if_needed(self) -> None:
        super()._set_signature_columns_if_needed()
        if self.domain_column not in self._signature_columns:
            self._signature_columns.append(self.domain_column)

    def train(self, resume_from_checkpoint: str | bool | None = None, *args: Any, **kwargs: Any) -> Any:
        """``Trainer.train``; with ``resume_from_checkpoint`` the mixing state of that checkpoint is restored
        first."""
        folder = resume_from_checkpoint
        if folder is True:
            folder = get_last_checkpoint(self.args.output_dir)
            if folder is None:
                raise ValueError(f"no checkpoint found in output_dir {self.args.output_dir!r}")
        if isinstance(folder, (str, os.PathLike)):
            self.mixing_callback.load_checkpoint(folder, self.args)
            self._rng_from = os.fspath(folder)
        return super().train(folder, *args, **kwargs)

    def _per_example(self, outputs: Any, inputs: dict[str, Any]) -> torch.Tensor:
        fn = self.per_example_loss_fn
        if callable(fn):
            return fn(outputs, inputs)
        logits = outputs["logits"] if isinstance(outputs, dict) else outputs.logits
        if "labels" not in inputs:
            raise ValueError("per-example losses need a 'labels' column (or pass per_example_loss=fn)")
        return per_example_loss(logits, inputs["labels"], fn)

    def compute_loss(
        self, model: Any, inputs: dict[str, Any], return_outputs: bool = False, num_items_in_batch: Any = None
    ) -> Any:
        ids = inputs.pop(self.domain_column, None)
        if ids is None or not model.training:
            return super().compute_loss(
                model, inputs, return_outputs=return_outputs, num_items_in_batch=num_items_in_batch
            )
        if self._rng_from is not None:
            # with ignore_data_skip the Trainer does not restore the random state of a mid-run checkpoint;
            # restored here, at the first step after it, so dropout draws continue as in the unbroken run
            if hasattr(self, "_load_rng_state"):
                self._load_rng_state(self._rng_from)
            self._rng_from = None
        loss, outputs = super().compute_loss(
            model, inputs, return_outputs=True, num_items_in_batch=num_items_in_batch
        )
        losses = self._per_example(outputs, inputs)
        loss = self.mixing.observe(self.state.global_step, losses, ids, model, loss)
        return (loss, outputs) if return_outputs else loss

    def log(self, logs: dict[str, float], *args: Any, **kwargs: Any) -> None:
        """``Trainer.log`` with the current ``mixture/<domain>`` weights added to training log lines."""
        if "loss" in logs:
            logs = {**logs, **{f"mixture/{d}": w for d, w in self.mixing.weights.items()}}
        super().log(logs, *args, **kwargs)
