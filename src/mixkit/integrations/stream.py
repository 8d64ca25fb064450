"""The framework-independent half of the trainer integrations: a key stream whose weights can change while a
DataLoader reads ahead and still resumes exactly, a dataset that tags every item with its domain id, and
:class:`OnlineMixing`, which turns per-example losses (or per-domain gradients) into online weight updates.

Why a dedicated key stream: a training framework's DataLoader reads batches ahead of the step being trained
(accelerate and Lightning read one batch ahead, DataLoader workers ``prefetch_factor`` batches each). A
weight change decided after step ``t`` therefore takes effect at the first batch *not yet drawn*, which is
later than batch ``t + 1``. That is deterministic for fixed loader settings, but the checkpoint must hold the
stream at the first batch *not yet trained on* together with the weight changes that followed it.
:class:`MixtureKeyStream` keeps, for every batch drawn but not yet trained on, the sampler's state before it
was drawn and the weight changes made since, so :meth:`MixtureKeyStream.state_dict` restores exactly what the
uninterrupted run drew (with the same loader settings: batch size, workers, prefetch).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

import numpy as np
import torch
from torch import Tensor
from torch.utils.data import Dataset, Sampler

from mixkit.domain.online.online_method import OnlineMixer
from mixkit.domain.sampler import MixtureSampler

STATE_FORMAT = "mixkit.online_mixing"
STATE_VERSION = 1


class MixtureKeyStream(Sampler):
    """``torch.utils.data.Sampler`` of ``(domain, index)`` keys drawn from a :class:`MixtureSampler` one
    batch at a time, for a DataLoader whose ``batch_size`` equals ``batch_size``.

    Each batch of keys is drawn (``sampler.take(batch_size)``) only when the DataLoader asks for its first
    key, so :meth:`set_weights` applies from the first batch not yet drawn. Endless (``len()`` raises
    ``TypeError``: give the trainer a step count) unless the sampler's stream ends.

    ``sequential`` names domains read in order (streamed sources such as
    :class:`~mixkit.integrations.StreamingSource`): their key carries the domain's running draw count on
    this rank (0, 1, 2, ...) instead of a permuted index.
    """

    def __init__(self, sampler: MixtureSampler, batch_size: int, sequential: Sequence[str] = ()) -> None:
        if not isinstance(sampler, MixtureSampler):
            raise TypeError(f"sampler must be a MixtureSampler, got {type(sampler).__name__}")
        if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
            raise ValueError(f"batch_size must be a positive int, got {batch_size!r}")
        unknown = [d for d in sequential if d not in sampler.names]
        if isinstance(sequential, str) or unknown:
            raise ValueError(
                f"sequential must list domains of the sampler {list(sampler.names)}, got {sequential!r}"
            )
        self.sampler, self.batch_size = sampler, batch_size
        self.sequential = tuple(sequential)
        self._seq_mask = np.asarray([n in self.sequential for n in sampler.names], dtype=bool)
        self._drawn = 0  # batches drawn so far (over the whole run)
        self._consumed = 0  # batches the training loop reported as trained on
        self._counts = np.zeros(len(sampler.names), dtype=np.int64)  # this rank's draws per domain
        # batch -> (sampler state, per-domain counts) just before it was drawn
        self._snapshots: dict[int, tuple[dict[str, Any], list[int]]] = {}
        self._changes: list[tuple[int, dict[str, float]]] = []  # (first batch it applies to, weights)
        self._queued: list[tuple[int, dict[str, float]]] = []  # restored changes not yet applied

    @property
    def names(self) -> tuple[str, ...]:
        """Domain names in id order (the ids :class:`DomainDataset` writes)."""
        return self.sampler.names

    @property
    def batches_drawn(self) -> int:
        """Batches drawn so far over the whole run (ahead of training by the loader's read-ahead)."""
        return self._drawn

    @property
    def weights(self) -> dict[str, float]:
        """The sampler's current weights (those of the next batch drawn)."""
        return self.sampler.weights

    def __len__(self) -> int:
        raise TypeError("MixtureKeyStream is endless: give the trainer a number of steps (max_steps)")

    def __iter__(self) -> Iterator[tuple[str, int]]:
        while True:
            b = self._drawn
            while self._queued and self._queued[0][0] <= b:
                at, w = self._queued.pop(0)
                self.sampler.set_weights(w)
                self._changes.append((at, w))
            base = self._counts.tolist()
            self._snapshots[b] = (self.sampler.state_dict(), base)
            draw = self.sampler.take(self.batch_size)
            if len(draw) == 0:
                del self._snapshots[b]
                return
            self._drawn = b + 1
            self._counts += np.bincount(draw.domain_ids, minlength=len(base))
            index = draw.indices
            if self._seq_mask.any():  # sequential domains: the running count of the domain's draws
                index = index.copy()
                ids = draw.domain_ids
                for k in np.flatnonzero(self._seq_mask).tolist():
                    at = ids == k
                    index[at] = base[k] + np.arange(int(at.sum()), dtype=np.int64)
            names = self.sampler.names
            yield from zip([names[k] for k in draw.domain_ids.tolist()], index.tolist())
            if len(draw) < self.batch_size:
                return

    def set_weights(self, weights: Mapping[str, float]) -> None:
        """Change the mixture from the first batch not yet drawn (recorded for :meth:`state_dict`)."""
        w = {str(k): float(v) for k, v in weights.items()}
        self.sampler.set_weights(w)
        self._changes.append((self._drawn, w))

    def mark_consumed(self, batches: int) -> None:
        """Tell the stream that the first ``batches`` batches were trained on (frees their records)."""
        if isinstance(batches, bool) or not isinstance(batches, int) or batches < 0:
            raise ValueError(f"batches must be an int >= 0, got {batches!r}")
        self._consumed = max(self._consumed, batches)
        for b in [b for b in self._snapshots if b < self._consumed]:
            del self._snapshots[b]
        self._changes = [(b, w) for b, w in self._changes if b > self._consumed]

    def _state_at(self, batches: int) -> tuple[dict[str, Any], list[int], list[tuple[int, dict[str, float]]]]:
        if isinstance(batches, bool) or not isinstance(batches, int) or batches < 0:
            raise ValueError(f"batches must be an int >= 0, got {batches!r}")
        if batches > self._drawn:
            raise ValueError(f"batches={batches} trained on, but only {self._drawn} batches were drawn")
        if batches == self._drawn:
            state, counts = self.sampler.state_dict(), self._counts.tolist()
        elif batches in self._snapshots:
            state, counts = self._snapshots[batches]
        else:
            raise ValueError(
                f"no record of batch {batches}: call state_dict before mark_consumed moves past it"
            )
        later = [(b, w) for b, w in self._changes if batches < b <= self._drawn] + list(self._queued)
        return state, counts, later

    def counts_at(self, batches: int) -> dict[str, int]:
        """Per-domain draws of this rank in the first ``batches`` batches (the items trained on)."""
        _, counts, _ = self._state_at(batches)
        return dict(zip(self.sampler.names, (int(c) for c in counts)))

    def state_dict(self, batches: int) -> dict[str, Any]:
        """Plain-JSON state after ``batches`` batches were trained on: the sampler before batch ``batches``
        and the weight changes the loop made since (they apply at the same batches after a resume)."""
        state, counts, later = self._state_at(batches)
        return {
            "batches": batches,
            "sampler": state,
            "counts": list(counts),
            "batch_size": self.batch_size,
            "sequential": list(self.sequential),
            "changes": [[b, dict(w)] for b, w in later],
        }

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """Resume: the next batch drawn is batch ``state["batches"]`` of the saved run."""
        if not isinstance(state, Mapping):
            raise TypeError(f"state must be a mapping, got {type(state).__name__}")
        for key in ("batches", "sampler", "counts", "batch_size", "changes"):
            if key not in state:
                raise ValueError(f"state lacks field {key!r}")
        if int(state["batch_size"]) != self.batch_size:
            raise ValueError(
                f"state field 'batch_size' is {state['batch_size']}, this stream has "
                f"{self.batch_size}: resume with the same batch size"
            )
        batches = int(state["batches"])
        changes = []
        for item in state["changes"]:
            if not isinstance(item, (list, tuple)) or len(item) != 2 or not isinstance(item[1], Mapping):
                raise ValueError(
                    f"state field 'changes' holds {item!r}, expected [batch, {{domain: weight}}]"
                )
            if int(item[0]) <= batches:
                raise ValueError(f"state field 'changes' holds batch {item[0]} <= 'batches' {batches}")
            changes.append((int(item[0]), {str(k): float(v) for k, v in item[1].items()}))
        counts = state["counts"]
        if (
            not isinstance(counts, (list, tuple))
            or len(counts) != len(self.sampler.names)
            or any(isinstance(c, bool) or not isinstance(c, int) or c < 0 for c in counts)
        ):
            raise ValueError(
                f"state field 'counts' must hold {len(self.sampler.names)} ints >= 0, got {counts!r}"
            )
        self.sampler.load_state_dict(state["sampler"])
        self._counts = np.asarray(counts, dtype=np.int64)
        self._drawn = self._consumed = batches
        self._snapshots, self._changes = {}, []
        self._queued = sorted(changes, key=lambda c: c[0])

    def __repr__(self) -> str:
        return (
            f"MixtureKeyStream({self.sampler!r}, batch_size={self.batch_size}, "
            f"sequential={list(self.sequential)}, batches_drawn={self._drawn})"
        )


class DomainDataset(Dataset):
    """Map-style dataset over ``{domain: source}`` read with ``(domain, index)`` keys; every item (a
    mapping) gains ``column`` = the domain's id (its position in ``names``), which
    :class:`OnlineMixing` uses to group per-example losses by domain.

    A source is a map-style dataset (``len`` + integer indexing) or a :class:`StreamingSource` (read in
    order; list it in :attr:`sequential_domains`, which :class:`MixtureKeyStream` takes as ``sequential``).
    ``names`` defaults to the order of ``sources`` and must match the sampler's (checked by
    :class:`OnlineMixing`).
    """

    def __init__(
        self, sources: Mapping[str, Any], names: Sequence[str] | None = None, column: str = "domain_ids"
    ) -> None:
        if not isinstance(sources, Mapping) or not sources:
            raise ValueError("sources must be a non-empty dict {domain: dataset}")
        self.names = tuple(sources) if names is None else tuple(names)
        if sorted(self.names) != sorted(sources):
            raise ValueError(f"names {list(self.names)} must list exactly the sources {list(sources)}")
        if not isinstance(column, str) or not column:
            raise ValueError(f"column must be a non-empty str, got {column!r}")
        self.sources, self.column = dict(sources), column
        self._ids = {n: i for i, n in enumerate(self.names)}
        self.sizes = {n: len(self.sources[n]) for n in self.names}

    @property
    def sequential_domains(self) -> tuple[str, ...]:
        """Domains whose source is read in order (streamed)."""
        return tuple(n for n in self.names if getattr(self.sources[n], "sequential", False))

    def __len__(self) -> int:
        return sum(self.sizes.values())

    def __getitem__(self, key: tuple[str, int]) -> dict[str, Any]:
        try:
            domain, index = key
        except (TypeError, ValueError):
            raise TypeError(f"DomainDataset keys are (domain, index) tuples, got {key!r}") from None
        if domain not in self._ids:
            raise KeyError(f"unknown domain {domain!r}; known: {list(self.names)}")
        item = self.sources[domain][int(index)]
        if not isinstance(item, Mapping):
            raise TypeError(
                f"items of domain {domain!r} must be mappings (dict rows), got {type(item).__name__}"
            )
        return {**item, self.column: self._ids[domain]}

    def stream_state(self, counts: Mapping[str, int]) -> dict[str, Any]:
        """The state of every streamed source after ``counts[domain]`` of its items were trained on."""
        return {n: self.sources[n].state_at(int(counts[n])) for n in self.sequential_domains}

    def load_stream_state(self, state: Mapping[str, Any]) -> None:
        """Restore :meth:`stream_state` (resume each streamed source where training stopped)."""
        for n in self.sequential_domains:
            if n not in state:
                raise ValueError(f"stream state lacks domain {n!r}")
            self.sources[n].load_state(state[n])

    def __repr__(self) -> str:
        seq = list(self.sequential_domains)
        return f"DomainDataset(sizes={self.sizes}, column={self.column!r}, sequential={seq})"


def per_example_loss(logits: Tensor, labels: Tensor, kind: str = "auto", ignore_index: int = -100) -> Tensor:
    """Per-example cross-entropy ``[B]`` (float32, differentiable in ``logits``).

    ``kind="causal_lm"``: ``logits [B, T, V]``, ``labels [B, T]``, next-token loss (labels shifted by one, as
    Hugging Face causal LMs compute it), mean over each example's tokens other than ``ignore_index`` (0 for
    an example without any). ``kind="classification"``: ``logits [B, C]``, ``labels [B]``. ``"auto"``:
    by ``logits.dim()`` (3: causal LM, 2: classification).
    """
    if kind == "auto":
        kind = {3: "causal_lm", 2: "classification"}.get(logits.dim(), "")
        if not kind:
            raise ValueError(f"logits must be [B, T, V] or [B, C] for kind='auto', got {tuple(logits.shape)}")
    if kind == "classification":
        return torch.nn.functional.cross_entropy(logits.float(), labels.long(), reduction="none")
    if kind != "causal_lm":
        raise ValueError(f"kind must be 'auto', 'causal_lm' or 'classification', got {kind!r}")
    if logits.dim() != 3 or labels.shape != logits.shape[:2]:
        raise ValueError(
            f"causal_lm needs logits [B, T, V] and labels [B, T], got {tuple(logits.shape)} "
            f"and {tuple(labels.shape)}"
        )
    lg, lb = logits[:, :-1].float(), labels[:, 1:].long()
    tok = torch.nn.functional.cross_entropy(
        lg.reshape(-1, lg.shape[-1]), lb.reshape(-1), ignore_index=ignore_index, reduction="none"
    ).view(lb.shape)
    valid = (lb != ignore_index).to(tok.dtype)
    return (tok * valid).sum(1) / valid.sum(1).clamp_min(1)


def _flat_grad(loss: Tensor, params: Sequence[Tensor]) -> Tensor:
    grads = torch.autograd.grad(loss, params, retain_graph=True, allow_unused=True)
    return torch.cat([(torch.zeros_like(p) if g is None else g).reshape(-1) for p, g in zip(params, grads)])


def _all_reduce(t: Tensor) -> Tensor:
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1:
        dist.all_reduce(t)
    return t


class OnlineMixing:
    """Drives an online method (:class:`~mixkit.domain.online.OnlineMixer`) from a training loop that
    cannot be rewritten: the framework callbacks call :meth:`start`, :meth:`observe` (each micro-batch,
    before backward), :meth:`end_step` (after each optimizer step) and save :meth:`state_dict`.

    Args:
        method: the online method (its ``domains`` must be the stream's names, in order), or ``None`` for a
            fixed mixture (only the stream is checkpointed).
        keys: the :class:`MixtureKeyStream` the training DataLoader samples from.
        dataset: the :class:`DomainDataset` (needed when it has streamed sources, so they resume too).
        every: update at most every ``every`` optimizer steps (losses are averaged over the steps since the
            last update); the method's own ``wants_signal`` still decides (1: as the method asks).
        eval_losses: ``fn(model) -> {domain: held-out loss}`` for methods with ``needs == "eval_losses"``
            (Aioli's probe estimator).
        target_loss: ``fn(model) -> scalar loss tensor`` of DGA's target set when ``method.target`` is not a
            training domain.
        final_layer: ``fn(model) -> parameter`` whose gradient R&B reads (default: the model's
            ``get_output_embeddings().weight``, else its last parameter with two dimensions).

    What each method gets: ``"losses"``: the per-domain mean of the per-example losses since the last update
    (domains absent from those batches are left out); ``"eval_losses"``: ``eval_losses(model)``;
    ``"grads"``: per-domain gradients of the step's micro-batches from the same graph as the training loss
    (DGA: the mean per-example loss of each domain w.r.t. all trainable parameters, plus the target's; a
    domain absent from the step reuses its last gradient, which is not checkpointed; R&B: summed losses
    w.r.t. the final layer, with counts); ``"token_losses"`` (DoReMi): its per-domain ``update`` (clip
    after the mean, its documented approximation) with the per-example losses, and in ``mode="reweight"``
    :meth:`training_loss` returns its reweighted loss.
    """

    def __init__(
        self,
        method: OnlineMixer | None,
        keys: MixtureKeyStream,
        dataset: DomainDataset | None = None,
        every: int = 1,
        eval_losses: Callable[[Any], Mapping[str, Any]] | None = None,
        target_loss: Callable[[Any], Tensor] | None = None,
        final_layer: Callable[[Any], Tensor] | None = None,
    ) -> None:
        if not isinstance(keys, MixtureKeyStream):
            raise TypeError(f"keys must be a MixtureKeyStream, got {type(keys).__name__}")
        if method is not None and not isinstance(method, OnlineMixer):
            raise TypeError(f"method must be an OnlineMixer or None, got {type(method).__name__}")
        if method is not None and list(method.domains) != list(keys.names):
            raise ValueError(
                f"method domains {method.domains} differ from the stream's {list(keys.names)} "
                "(same names, same order)"
            )
        if dataset is not None and tuple(dataset.names) != tuple(keys.names):
            raise ValueError(
                f"dataset names {list(dataset.names)} differ from the stream's {list(keys.names)}"
            )
        if dataset is not None and tuple(dataset.sequential_domains) != tuple(keys.sequential):
            raise ValueError(
                f"the stream's sequential domains {list(keys.sequential)} differ from the "
                f"dataset's streamed sources {list(dataset.sequential_domains)}"
            )
        if isinstance(every, bool) or not isinstance(every, int) or every < 1:
            raise ValueError(f"every must be a positive int, got {every!r}")
        if method is not None and method.needs == "eval_losses" and eval_losses is None:
            raise ValueError(f"{type(method).__name__} needs held-out losses: pass eval_losses=fn(model)")
        if (
            method is not None
            and method.needs == "grads"
            and getattr(method, "target", None) is not None
            and method.target not in method.domains
            and target_loss is None
        ):
            raise ValueError(
                f"the target {method.target!r} is not a training domain: pass target_loss=fn(model)"
            )
        self.method, self.keys, self.dataset, self.every = method, keys, dataset, every
        self.eval_losses, self.target_loss, self.final_layer = eval_losses, target_loss, final_layer
        self.history: list[tuple[int, dict[str, float]]] = []  # (step, weights) after each update
        self._k = len(keys.names)
        self._reset_accumulators()
        self._grad_cache: dict[str, Tensor] = {}
        self._last_update = -1  # last step that updated

    # ---------------------------------------------------------------------------------------- loop hooks
    def _reset_accumulators(self) -> None:
        self._loss_sum: Tensor | None = None  # [K] on the loss device
        self._loss_cnt: Tensor | None = None
        self._grad_sum: dict[str, Tensor] = {}
        self._grad_cnt: dict[str, float] = {}
        self._target_grad: Tensor | None = None

    @property
    def weights(self) -> dict[str, float]:
        """The mixture the stream draws from now."""
        return self.keys.weights

    def start(self, model: Any = None) -> dict[str, float] | None:
        """Before the first step of a fresh run: the method's initial mixture (and Aioli's first held-out
        evaluation when ``wants_signal(-1)``). Returns the weights set, if any."""
        m = self.method
        if m is None:
            return None
        if m.wants_signal(-1):
            if m.needs != "eval_losses":
                raise ValueError(
                    f"{type(m).__name__} asks for a signal before training, which needs eval_losses"
                )
            m.update(-1, losses_by_domain=self.eval_losses(model))
        w = m.sampling_weights
        self.keys.set_weights(w)
        self.history.append((-1, dict(w)))
        return w

    def _wants(self, step: int) -> bool:
        return self.method is not None and (step + 1) % self.every == 0 and self.method.wants_signal(step)

    def observe(
        self, step: int, losses: Tensor, domain_ids: Tensor, model: Any = None, loss: Tensor | None = None
    ) -> Tensor | None:
        """Record one micro-batch of training step ``step`` (0-based): ``losses`` float ``[B]`` per-example
        losses (with their graph when the method needs gradients), ``domain_ids`` int ``[B]``. Call it before
        backward. Returns the loss to train on: ``loss`` (or ``losses.mean()``), or DoReMi's reweighted loss.
        No host synchronisation except on the gradient methods' signal steps."""
        if losses.dim() != 1 or domain_ids.shape != losses.shape:
            raise ValueError(
                f"losses must be [B] and domain_ids [B], got {tuple(losses.shape)} and "
                f"{tuple(domain_ids.shape)}"
            )
        ids = domain_ids.to(device=losses.device, dtype=torch.long)
        k = self._k
        sums = torch.zeros(k, dtype=torch.float64, device=losses.device).index_add_(
            0, ids, losses.detach().double()
        )
        cnt = torch.bincount(ids, minlength=k).to(torch.float64)
        if self._loss_sum is None:
            self._loss_sum, self._loss_cnt = sums, cnt
        else:  # (a restored accumulator lives on the host until the first batch)
            self._loss_sum = self._loss_sum.to(sums.device) + sums
            self._loss_cnt = self._loss_cnt.to(cnt.device) + cnt
        m = self.method
        if m is not None and m.needs == "grads" and self._wants(step):
            self._observe_grads(losses, ids, cnt, model)
        out = losses.mean() if loss is None else loss
        if m is not None and m.needs == "token_losses" and getattr(m, "mode", "") == "reweight":
            out = m.reweighted_loss(losses, ids)
        return out

    def _params(self, model: Any) -> list[Tensor]:
        if model is None:
            raise ValueError(f"{type(self.method).__name__} needs gradients: observe(..., model=...)")
        if getattr(self.method, "gradient_scope", "all") == "final_layer":
            if self.final_layer is not None:
                return [self.final_layer(model)]
            get = getattr(model, "get_output_embeddings", None)
            head = get() if callable(get) else None
            if head is not None and getattr(head, "weight", None) is not None:
                return [head.weight]
            mats = [p for p in model.parameters() if p.requires_grad and p.dim() == 2]
            if not mats:
                raise ValueError("no final layer found: pass final_layer=fn(model)")
            return [mats[-1]]
        return [p for p in model.parameters() if p.requires_grad]

    def _observe_grads(self, losses: Tensor, ids: Tensor, cnt: Tensor, model: Any) -> None:
        params = self._params(model)
        present = cnt.cpu().tolist()  # host sync: only on signal steps of the gradient methods
        onehot = torch.nn.functional.one_hot(ids, self._k).to(losses.dtype)  # [B, K]
        dom_sum = onehot.T @ losses  # [K] summed per-example loss of each domain, with graph
        for i, name in enumerate(self.keys.names):
            if present[i] > 0:
                g = _flat_grad(dom_sum[i], params).detach()
                self._grad_sum[name] = g if name not in self._grad_sum else self._grad_sum[name] + g
                self._grad_cnt[name] = self._grad_cnt.get(name, 0.0) + present[i]
        target = getattr(self.method, "target", None)
        if target is not None and target not in self.keys.names and self._target_grad is None:
            self._target_grad = _flat_grad(self.target_loss(model), params).detach()

    def end_step(self, step: int, model: Any = None) -> dict[str, float] | None:
        """After optimizer step ``step`` (0-based): update the method when due, set the stream's weights and
        return them (``None`` when nothing changed)."""
        m = self.method
        if m is None or not self._wants(step):
            if m is not None and m.needs == "grads":
                self._grad_sum, self._grad_cnt, self._target_grad = {}, {}, None
            return None
        names = self.keys.names
        if m.needs == "eval_losses":
            m.update(step, losses_by_domain=self.eval_losses(model))
        elif m.needs == "grads":
            if not self._update_grads(step):
                self._reset_accumulators()
                return None
        else:
            if self._loss_sum is None:
                return None
            both = _all_reduce(torch.stack([self._loss_sum, self._loss_cnt])).cpu()  # K numbers to the host
            means = {n: s / c for n, s, c in zip(names, both[0].tolist(), both[1].tolist()) if c > 0}
            m.update(step, losses_by_domain=means)
        self._reset_accumulators()
        w = m.sampling_weights
        self.keys.set_weights(w)
        self.history.append((step, dict(w)))
        self._last_update = step
        return w

    def _update_grads(self, step: int) -> bool:
        m = self.method
        names = self.keys.names
        if getattr(m, "gradient_scope", "all") == "final_layer":  # R&B: summed gradients with counts
            if not self._grad_sum:
                return False
            present = [n for n in names if n in self._grad_sum]
            mat = _all_reduce(torch.stack([self._grad_sum[n] for n in present]))
            counts = _all_reduce(torch.tensor([self._grad_cnt[n] for n in present], dtype=torch.float64))
            m.update(
                step,
                grads_by_domain=dict(zip(present, mat)),
                counts_by_domain=dict(zip(present, counts.tolist())),
            )
            return True
        for n in names:  # DGA: mean gradient per domain; absent domains reuse their last one
            if n in self._grad_sum:
                g = _all_reduce(self._grad_sum[n].clone())
                c = _all_reduce(torch.tensor(self._grad_cnt[n], dtype=torch.float64)).item()
                self._grad_cache[n] = g / max(c, 1.0)
        if any(n not in self._grad_cache for n in names):
            return False  # a domain never seen yet: no gradient to compare
        grads = {n: self._grad_cache[n] for n in names}
        target = m.target
        if target not in names:
            if self._target_grad is None:
                return False
            grads[target] = _all_reduce(self._target_grad)
        m.update(step, grads_by_domain=grads)
        return True

    # ---------------------------------------------------------------------------------------- state
    def state_dict(self, batches: int) -> dict[str, Any]:
        """Plain-JSON state after ``batches`` DataLoader batches were trained on (at an optimizer-step
        boundary): the stream, the method, the losses accumulated towards the next update and the streamed
        sources' positions."""
        state: dict[str, Any] = {
            "format": STATE_FORMAT,
            "version": STATE_VERSION,
            "keys": self.keys.state_dict(batches),
            "method": None if self.method is None else self.method.state_dict(),
            "loss_sum": None if self._loss_sum is None else self._loss_sum.cpu().tolist(),
            "loss_count": None if self._loss_cnt is None else self._loss_cnt.cpu().tolist(),
            "history": [[s, w] for s, w in self.history],
            "streams": None,
        }
        if self.dataset is not None and self.dataset.sequential_domains:
            state["streams"] = self.dataset.stream_state(self.keys.counts_at(batches))
        return state

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """Restore :meth:`state_dict` (``ValueError`` names a missing or malformed field)."""
        if not isinstance(state, Mapping) or state.get("format") != STATE_FORMAT:
            raise ValueError(
                f"not a {STATE_FORMAT} state (field 'format' is "
                f"{state.get('format') if isinstance(state, Mapping) else None!r})"
            )
        if state.get("version") != STATE_VERSION:
            raise ValueError(f"state field 'version' is {state.get('version')!r}, expected {STATE_VERSION}")
        for key in ("keys", "method", "loss_sum", "loss_count", "history", "streams"):
            if key not in state:
                raise ValueError(f"state lacks field {key!r}")
        if (state["method"] is None) != (self.method is None):
            raise ValueError(
                "state field 'method' does not match: saved with"
                f"{'out' if state['method'] is None else ''} an online method"
            )
        self.keys.load_state_dict(state["keys"])
        if self.method is not None:
            self.method.load_state_dict(state["method"])
        self._reset_accumulators()
        for key, attr in (("loss_sum", "_loss_sum"), ("loss_count", "_loss_cnt")):
            if state[key] is not None:
                if len(state[key]) != self._k:
                    raise ValueError(f"state field {key!r} must have {self._k} entries")
                setattr(self, attr, torch.tensor([float(v) for v in state[key]], dtype=torch.float64))
        self.history = [(int(s), {str(k): float(v) for k, v in w.items()}) for s, w in state["history"]]
        if state["streams"] is not None:
            if self.dataset is None:
                raise ValueError("state holds streamed sources: pass dataset= to restore them")
            self.dataset.load_stream_state(state["streams"])

    def __repr__(self) -> str:
        return f"OnlineMixing(method={self.method!r}, keys={self.keys!r}, every={self.every})"
