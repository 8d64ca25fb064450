"""EL2N and GraNd pruning scores (Paul, Ganguli, Dziugaite 2021, "Deep Learning on a Data Diet: Finding
Important Examples Early in Training", https://arxiv.org/abs/2107.07075; release
github.com/mansheej/data_diet, files ``data_diet/scores.py`` (the scores), ``scripts/get_mean_score.py``
(the average over runs) and ``data_diet/data.py`` (``keep_max_scores`` / ``offset`` subsets)).

* EL2N of example ``(x, y)``: ``|| softmax(f(x)) - onehot(y) ||_2`` (:func:`el2n_scores`).
* GraNd: ``|| grad_theta CE(f(x), y) ||_2`` over all trainable parameters (:func:`grand_scores`),
  per example in one ``torch.func.vmap(torch.func.grad(...))`` call per chunk, no loop over examples.
* Both are averaged over several independent runs (the release's default is 10), each scored early in
  training: GraNd already at initialisation, EL2N after a few epochs (the paper's CIFAR-10 setting scores
  at epoch 20 of 200). :func:`average_scores` runs ``make_model(run)`` / ``train(model, run)`` per run.
* Pruning keeps the highest scores (drops the easiest); ``drop_hardest`` also drops the very highest,
  which equals the release's ``offset`` window over the ascending ranking (:func:`prune_indices`).
  :class:`PrunedSampler` draws the kept subset in a fresh random order every epoch.

Deviations: the release scores in JAX on whole batches with ``jacrev``; here the same quantities come from
``torch.func`` with the model in eval mode (BatchNorm uses its running statistics). Randomness of the
sampler comes from ``seed`` or one draw of an explicit ``generator``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

import torch
from torch import Tensor, nn
from torch.utils.data import Sampler

from mixkit.domain.selection._state import check_kind, pass_generator, seed_from, state_int

SCORES = ("el2n", "grand")


def _check_data(inputs: Tensor, targets: Tensor) -> None:
    if not isinstance(inputs, Tensor) or not isinstance(targets, Tensor):
        raise TypeError("inputs and targets must be tensors")
    if targets.dim() != 1 or targets.dtype not in (torch.int64, torch.int32):
        raise ValueError(f"targets must be a 1-D integer tensor of class ids, got {tuple(targets.shape)} "
                         f"{targets.dtype}")
    if inputs.shape[0] != targets.shape[0]:
        raise ValueError(f"inputs has {inputs.shape[0]} rows but targets {targets.shape[0]}")


def _check_batch(batch_size: int) -> int:
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"batch_size must be a positive int, got {batch_size!r}")
    return batch_size


@torch.no_grad()
def el2n_scores(model: nn.Module, inputs: Tensor, targets: Tensor, batch_size: int = 512) -> Tensor:
    """EL2N ``float32 [N]``: L2 norm of softmax output minus one-hot label, model in eval mode.

    ``inputs``: ``[N, ...]`` on the model's device; ``targets``: ``int64 [N]``.
    """
    _check_data(inputs, targets)
    _check_batch(batch_size)
    was = model.training
    model.eval()
    out = []
    for s in range(0, inputs.shape[0], batch_size):
        logits = model(inputs[s: s + batch_size])
        err = torch.softmax(logits.float(), dim=1)
        err[torch.arange(err.shape[0], device=err.device), targets[s: s + batch_size]] -= 1.0
        out.append(err.norm(dim=1))
    model.train(was)
    return torch.cat(out) if out else torch.zeros(0)


def grand_scores(model: nn.Module, inputs: Tensor, targets: Tensor, batch_size: int = 128) -> Tensor:
    """GraNd ``float32 [N]``: per-example norm of the cross-entropy gradient over all trainable parameters.

    Vectorised with ``torch.func.vmap(torch.func.grad(...))`` over chunks of ``batch_size`` examples
    (memory ~ ``batch_size x parameters``); model in eval mode.
    """
    from torch.func import functional_call, grad, vmap

    _check_data(inputs, targets)
    _check_batch(batch_size)
    params = {k: v.detach() for k, v in model.named_parameters() if v.requires_grad}
    buffers = {k: v.detach() for k, v in model.named_buffers()}

    def loss(p: dict[str, Tensor], x: Tensor, y: Tensor) -> Tensor:
        logits = functional_call(model, (p, buffers), (x.unsqueeze(0),))
        return nn.functional.cross_entropy(logits, y.unsqueeze(0))

    per_example = vmap(grad(loss), in_dims=(None, 0, 0))
    was = model.training
    model.eval()
    out = []
    try:
        for s in range(0, inputs.shape[0], batch_size):
            g = per_example(params, inputs[s: s + batch_size], targets[s: s + batch_size])
            sq = sum(t.reshape(t.shape[0], -1).float().pow(2).sum(dim=1) for t in g.values())
            out.append(torch.as_tensor(sq).sqrt())
    finally:
        model.train(was)
    return torch.cat(out) if out else torch.zeros(0)


def average_scores(
    make_model: Callable[[int], nn.Module],
    inputs: Tensor,
    targets: Tensor,
    score: str = "el2n",
    runs: int = 10,
    train: Callable[[nn.Module, int], Any] | None = None,
    batch_size: int = 128,
) -> Tensor:
    """The mean score over ``runs`` independent runs (the release averages 10): for run ``i``,
    ``model = make_model(i)``, then ``train(model, i)`` (a short early-training phase; ``None`` scores at
    initialisation, the paper's GraNd setting), then the score of every example. Returns ``float32 [N]``."""
    if score not in SCORES:
        raise ValueError(f"score must be one of {SCORES}, got {score!r}")
    if isinstance(runs, bool) or not isinstance(runs, int) or runs < 1:
        raise ValueError(f"runs must be a positive int, got {runs!r}")
    fn = el2n_scores if score == "el2n" else grand_scores
    total = None
    for i in range(runs):
        model = make_model(i)
        if train is not None:
            train(model, i)
        s = fn(model, inputs, targets, batch_size=batch_size).float()
        total = s if total is None else total + s
    assert total is not None
    return total / runs


def _count(value: float | int, n: int, name: str) -> int:
    if isinstance(value, bool):
        raise TypeError(f"{name} must be a fraction or a count, got {value!r}")
    if isinstance(value, int):
        if not 0 <= value <= n:
            raise ValueError(f"{name} must be in [0, {n}], got {value}")
        return value
    try:
        f = float(value)
    except (TypeError, ValueError):
        raise TypeError(f"{name} must be a fraction or a count, got {value!r}") from None
    if not 0 <= f <= 1:
        raise ValueError(f"{name} as a fraction must be in [0, 1], got {value!r}")
    return int(round(f * n))


def prune_indices(scores: Tensor | Sequence[float], keep: float | int,
                  drop_hardest: float | int = 0) -> Tensor:
    """Indices (``int64``, ascending) of the examples kept: the ``keep`` highest scores after dropping the
    ``drop_hardest`` very highest. Fractions (float) are of ``N``; ints are counts. Ties break by index.

    ``drop_hardest=0`` is the release's ``keep_max_scores``; otherwise the kept window is the release's
    ``offset`` subset with ``offset = N - keep - drop_hardest``.
    """
    s = torch.as_tensor(scores).detach().reshape(-1).float().cpu()
    n = s.numel()
    if n == 0:
        raise ValueError("scores must not be empty")
    if not bool(torch.isfinite(s).all()):
        raise ValueError("scores must be finite")
    k = _count(keep, n, "keep")
    h = _count(drop_hardest, n, "drop_hardest")
    if k < 1 or k + h > n:
        raise ValueError(f"keep ({k}) must be >= 1 and keep + drop_hardest ({k + h}) <= N ({n})")
    order = torch.argsort(s, stable=True)  # ascending: easiest first
    return order[n - h - k: n - h].sort().values


class PrunedSampler(Sampler[int]):
    """A sampler over the kept subset ``indices`` (dataset indices): every epoch a fresh random order.

    ``state_dict(consumed=None)`` / ``load_state_dict`` restore the stream exactly (epoch and position in
    it); the order of epoch ``e`` depends only on ``(seed, e)``.
    """

    def __init__(self, indices: Tensor | Sequence[int], seed: int | None = None,
                 generator: torch.Generator | None = None, shuffle: bool = True) -> None:
        idx = torch.as_tensor(indices, dtype=torch.int64).reshape(-1)
        if idx.numel() == 0:
            raise ValueError("indices must not be empty")
        if bool((idx < 0).any()):
            raise ValueError("indices must be >= 0")
        self.indices = idx.clone()
        self.seed = seed_from(seed, generator)
        self.shuffle = bool(shuffle)
        self.epoch = 0
        self.position = 0

    def __len__(self) -> int:
        return int(self.indices.numel())

    def __repr__(self) -> str:
        return (f"PrunedSampler(kept={len(self)}, shuffle={self.shuffle}, seed={self.seed}, "
                f"epoch={self.epoch}, position={self.position})")

    def epoch_order(self, epoch: int) -> Tensor:
        """The kept indices in the order of ``epoch``."""
        if not self.shuffle:
            return self.indices
        return self.indices[torch.randperm(len(self), generator=pass_generator(self.seed, epoch))]

    def __iter__(self) -> Iterator[int]:
        e, start = self.epoch, self.position
        order = self.epoch_order(e).tolist()
        for i in range(start, len(order)):
            self.position = i + 1
            yield order[i]
        self.epoch, self.position = e + 1, 0

    def state_dict(self, consumed: int | None = None) -> dict[str, Any]:
        """JSON-safe state (the kept indices included); ``consumed`` overrides the position."""
        pos = self.position if consumed is None else consumed
        if isinstance(pos, bool) or not isinstance(pos, int) or not 0 <= pos <= len(self):
            raise ValueError(f"consumed must be an int in [0, {len(self)}], got {consumed!r}")
        e = self.epoch
        if pos == len(self):
            e, pos = e + 1, 0
        return {"kind": "PrunedSampler", "indices": self.indices.tolist(), "seed": self.seed,
                "shuffle": self.shuffle, "epoch": e, "position": pos}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """Restore a :meth:`state_dict` (``ValueError`` names a bad field)."""
        check_kind(state, "PrunedSampler")
        if "indices" not in state or not isinstance(state["indices"], (list, tuple)):
            raise ValueError("state field 'indices' must be a list of ints")
        idx = torch.as_tensor(list(state["indices"]), dtype=torch.int64)
        if idx.numel() == 0:
            raise ValueError("state field 'indices' must not be empty")
        if not isinstance(state.get("shuffle"), bool):
            raise ValueError(f"state field 'shuffle' must be a bool, got {state.get('shuffle')!r}")
        seed, epoch, pos = state_int(state, "seed"), state_int(state, "epoch"), state_int(state, "position")
        if pos >= idx.numel():
            raise ValueError(f"state field 'position' must be < {idx.numel()}, got {pos}")
        self.indices, self.seed, self.shuffle = idx, seed, state["shuffle"]
        self.epoch, self.position = epoch, pos
