"""One training function for the reference workload: a byte-level GPT trained on a stream drawn by
:class:`mixkit.domain.MixtureSampler`, with static weights or an online method steering the sampler,
and per-domain validation loss at the end. RegMix proxy runs and the online-method comparison both call
:func:`train_mixture`, so "equal compute" means the same number of steps x batch x sequence length.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import torch
from torch import Tensor

from mixkit.bench.text.byte_gpt import ByteGPT, ByteGPTConfig
from mixkit.bench.text.text_domains import TextDomains
from mixkit.domain import MixtureSampler
from mixkit.domain.online import OnlineMixer


@dataclass(frozen=True)
class RunConfig:
    """Training budget and model size of one run (defaults: ~0.14M parameters, 300 x 16 x 64 bytes)."""

    steps: int = 300
    batch_size: int = 16
    seq_len: int = 64
    d_model: int = 64
    n_layer: int = 2
    n_head: int = 4
    lr: float = 3e-3
    warmup: int = 20
    seed: int = 0
    eval_chunks: int = 48
    signal_chunks: int = 16
    log_every: int = 10

    def __post_init__(self) -> None:
        for name in (
            "steps",
            "batch_size",
            "seq_len",
            "d_model",
            "n_layer",
            "n_head",
            "eval_chunks",
            "signal_chunks",
            "log_every",
        ):
            v = getattr(self, name)
            if not isinstance(v, int) or v < 1:
                raise ValueError(f"RunConfig.{name} must be a positive int, got {v!r}")
        if not (self.lr > 0 and math.isfinite(self.lr)):
            raise ValueError(f"RunConfig.lr must be a finite number > 0, got {self.lr!r}")

    @property
    def tokens(self) -> int:
        """Bytes (tokens) one run trains on: steps x batch x sequence length."""
        return self.steps * self.batch_size * self.seq_len


@dataclass
class RunResult:
    """Outcome of one run. Losses are mean next-byte cross-entropy in nats/byte."""

    val_loss: dict[str, float]
    target_loss: float
    final_weights: dict[str, float]
    weights_history: list[tuple[int, dict[str, float]]] = field(default_factory=list)
    train_loss_history: list[tuple[int, dict[str, float]]] = field(default_factory=list)
    wall_s: float = 0.0
    method_s: float = 0.0
    val_history: list[tuple[int, dict[str, float]]] = field(default_factory=list)
    extra: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        """The result as plain JSON-ready types."""
        return asdict(self)


def resolve_target(target: str | Sequence[str], names: Sequence[str]) -> list[str]:
    """``"average"`` -> all domains; ``"a,b"`` or a list -> those domains (validated)."""
    if isinstance(target, str):
        chosen = list(names) if target in ("average", "all", "") else [t.strip() for t in target.split(",")]
    else:
        chosen = list(target)
    unknown = [t for t in chosen if t not in names]
    if unknown or not chosen:
        raise ValueError(f"target must be 'average' or domain names from {list(names)}, got {target!r}")
    return chosen


def _lr_at(step: int, cfg: RunConfig) -> float:
    if step < cfg.warmup:
        return cfg.lr * (step + 1) / cfg.warmup
    progress = (step - cfg.warmup) / max(1, cfg.steps - cfg.warmup)
    return cfg.lr * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * progress)))


@torch.no_grad()
def evaluate(model: ByteGPT, data: TextDomains, chunks: int, offset: int = 0) -> dict[str, float]:
    """Validation loss per domain on the fixed val chunks ``[offset, offset + chunks)``."""
    model.eval()
    out = {}
    for name in data.names:
        batch = data.val_batch(name, chunks, offset)
        out[name] = float(model.token_losses(batch).mean())
    model.train()
    return out


def _batch(sampler, data: TextDomains, names: list[str], batch_size: int) -> tuple[Tensor, Tensor]:
    """Draw ``batch_size`` draws; return chunks ``int64 [B, T+1]`` and domain ids ``int64 [B]``
    (ids index ``names``, the sampler's domain order). One gather per domain, not per sample."""
    draw = sampler.take(batch_size)
    ids = torch.from_numpy(draw.domain_ids)
    index = torch.from_numpy(draw.indices)
    chunks = torch.empty(len(draw), data.seq_len + 1, dtype=torch.int64)
    for k, name in enumerate(names):
        rows = (ids == k).nonzero().squeeze(1)
        if rows.numel():
            chunks[rows] = data.gather(name, index[rows])
    return chunks, ids


def per_domain_mean(values: Tensor, ids: Tensor, k: int) -> tuple[Tensor, Tensor]:
    """Mean of ``values [B]`` per domain id (``ids [B]`` int64 in ``[0, k)``): (means [k], counts [k])."""
    sums = torch.zeros(k, dtype=values.dtype).index_add_(0, ids, values)
    counts = torch.zeros(k, dtype=values.dtype).index_add_(0, ids, torch.ones_like(values))
    return sums / counts.clamp_min(1), counts


def token_cross_entropy(model: ByteGPT, chunks: Tensor) -> Tensor:
    """Per-token next-byte cross-entropy ``[B, T]`` of ``chunks [B, T + 1]`` (its row mean is
    ``model.token_losses``)."""
    logits = model(chunks[:, :-1])
    ce = torch.nn.functional.cross_entropy(
        logits.reshape(-1, logits.shape[-1]), chunks[:, 1:].reshape(-1), reduction="none"
    )
    return ce.view(chunks.shape[0], -1)


def _flat_grad(loss: Tensor, params: list[Tensor], retain: bool) -> Tensor:
    grads = torch.autograd.grad(loss, params, retain_graph=retain, allow_unused=True)
    return torch.cat(
        [(g if g is not None else torch.zeros_like(p)).reshape(-1) for g, p in zip(grads, params)]
    )


def clean_weights(weights: Mapping[str, float], tiny: float = 1e-12) -> dict[str, float]:
    """Normalise and set weights below ``tiny`` (relative) to exactly 0: the sampler represents weights on a
    2**-53 grid and refuses a positive weight that rounds to 0 (search proposals can hold such values)."""
    total = sum(float(v) for v in weights.values())
    if not total > 0:
        raise ValueError(f"weights must have a positive sum, got {dict(weights)}")
    return {k: (float(v) / total if float(v) / total >= tiny else 0.0) for k, v in weights.items()}


def make_sampler(sizes: Mapping[str, int], weights: Mapping[str, float], seed: int, batch_size: int = 16):
    """A :class:`MixtureSampler` over ``sizes``. Its block is kept small (``max(256, 4 * batch_size)`` slots)
    because online methods call ``set_weights`` every step and a weight change regenerates the block."""
    return MixtureSampler(
        sizes=dict(sizes),
        weights=clean_weights(weights),
        seed=seed,
        rank=0,
        world_size=1,
        block_size=max(256, 4 * batch_size),
    )


def train_mixture(
    data: TextDomains,
    weights: Mapping[str, float] | None = None,
    method: OnlineMixer | None = None,
    config: RunConfig | None = None,
    target: str | Sequence[str] = "average",
    reference_model: ByteGPT | None = None,
    progress: Callable[[int, dict[str, float]], None] | None = None,
    return_model: bool = False,
    schedule: Any = None,
    val_every: int = 0,
) -> RunResult | tuple[RunResult, ByteGPT]:
    """Train a fresh :class:`ByteGPT` for ``config.steps`` steps on the mixture.

    Args:
        data: the domains (``data.seq_len`` must equal ``config.seq_len``).
        weights: static mixture (uniform when ``None`` and no method).
        method: an online method; its ``weights`` feed ``sampler.set_weights`` after each ``update``.
        target: domains whose mean validation loss is ``target_loss`` (and DGA's target gradient).
        reference_model: for DoReMi, a trained model whose per-token loss on the same batch is the reference
            (required for DoReMi: the proxy run of the paper's protocol).
        progress: called as ``progress(step, weights)`` after each step (e.g. a tqdm update).
        schedule: a :class:`mixkit.domain.schedules.WeightSchedule` (``weights_at(progress)``, progress =
            step / steps in ``[0, 1)``) that sets the sampler's weights before each step; excludes ``method``.
        val_every: also evaluate the per-domain validation loss every ``val_every`` steps (into
            ``val_history``; ``0`` = only at the end). Evaluation draws no random numbers, so it does not
            change the run.
    """
    cfg = config or RunConfig()
    if data.seq_len != cfg.seq_len:
        raise ValueError(f"data.seq_len={data.seq_len} differs from config.seq_len={cfg.seq_len}")
    names = data.names
    k = len(names)
    targets = resolve_target(target, names)
    if method is not None and list(method.domains) != names:
        raise ValueError(f"method domains {method.domains} differ from data domains {names}")
    start_w = (
        method.sampling_weights
        if method is not None
        else (dict(weights) if weights else {n: 1 / k for n in names})
    )
    if schedule is not None and (method is not None or weights):
        raise ValueError("schedule excludes weights and method")
    if val_every < 0:
        raise ValueError(f"val_every must be >= 0, got {val_every}")
    if schedule is not None:
        start_w = clean_weights(schedule.weights_at(0.0))
    if method is not None and method.needs == "token_losses" and reference_model is None:
        raise ValueError(f"{type(method).__name__} needs reference_model (a trained reference model)")
    torch.manual_seed(cfg.seed)
    model = ByteGPT(
        ByteGPTConfig(seq_len=cfg.seq_len, d_model=cfg.d_model, n_layer=cfg.n_layer, n_head=cfg.n_head)
    )
    params = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=cfg.lr, weight_decay=0.01)
    sampler = make_sampler(data.sizes(), start_w, cfg.seed, cfg.batch_size)
    if list(sampler.names) != names:
        raise RuntimeError(f"sampler domain order {sampler.names} differs from data order {names}")
    t0 = time.perf_counter()
    method_s = 0.0
    history_w: list[tuple[int, dict[str, float]]] = [(0, dict(start_w))]
    history_l: list[tuple[int, dict[str, float]]] = []
    signal_offset = cfg.eval_chunks  # held-out chunks for signals, disjoint from the evaluation chunks
    target_batch = None
    if method is not None and method.needs == "grads" and getattr(method, "target", None) is not None:
        target_batch = torch.cat([data.val_batch(n, cfg.signal_chunks, signal_offset) for n in targets])

    head = model.head.weight
    grad_cache: dict[str, Tensor] = {}  # last gradient of each domain, for domains absent from a batch

    def give_signal(step: int, seq_losses: Tensor | None, ids: Tensor | None, chunks: Tensor | None) -> None:
        nonlocal method_s
        t = time.perf_counter()
        assert method is not None
        if method.needs == "eval_losses":
            method.update(step, losses_by_domain=evaluate(model, data, cfg.signal_chunks, signal_offset))
        elif method.needs == "losses":
            means, counts = per_domain_mean(seq_losses.detach(), ids, k)
            present = counts > 0
            losses = {n: v for n, v, c in zip(names, means.tolist(), present.tolist()) if c}
            method.update(step, losses_by_domain=losses)
        elif getattr(method, "gradient_scope", "all") == "final_layer":
            # R&B: each present domain's summed-loss gradient of the output layer, from this step's graph
            means, counts = per_domain_mean(seq_losses, ids, k)
            grads, n_by = {}, {}
            for i, n in enumerate(names):
                if counts[i] > 0:
                    grads[n] = torch.autograd.grad(means[i] * counts[i], head, retain_graph=True)[0].reshape(
                        -1
                    )
                    n_by[n] = float(counts[i])
            method.update(step, grads_by_domain=grads, counts_by_domain=n_by)
        else:  # grads of all parameters: one gradient per domain present in the batch, cached for absent ones
            means, counts = per_domain_mean(seq_losses, ids, k)
            cache = grad_cache
            for i, n in enumerate(names):
                if counts[i] > 0:
                    cache[n] = _flat_grad(means[i], params, retain=True)
                elif n not in cache:
                    cache[n] = _flat_grad(
                        model.token_losses(data.gather(n, torch.arange(2))).mean(), params, False
                    )
            grads = {n: cache[n] for n in names}
            if target_batch is not None:
                grads[method.target] = _flat_grad(model.token_losses(target_batch).mean(), params, False)
            method.update(step, grads_by_domain=grads)
        sampler.set_weights(method.sampling_weights)
        method_s += time.perf_counter() - t

    if method is not None and method.wants_signal(-1):
        give_signal(-1, None, None, None)
        sampler.set_weights(method.sampling_weights)

    history_v: list[tuple[int, dict[str, float]]] = []
    current_w = dict(start_w)
    for step in range(cfg.steps):
        for group in opt.param_groups:
            group["lr"] = _lr_at(step, cfg)
        if schedule is not None:
            w = clean_weights(schedule.weights_at(step / cfg.steps))
            if w != current_w:
                sampler.set_weights(w)
                current_w = w
        chunks, ids = _batch(sampler, data, names, cfg.batch_size)
        wants = method is not None and method.wants_signal(step)
        if method is not None and method.needs == "token_losses":
            # DoReMi's proxy step (release order): update the weights from the per-token clipped excess
            # loss, then train on the loss reweighted with the new weights
            t_sig = time.perf_counter()
            token_ce = token_cross_entropy(model, chunks)
            seq_losses = token_ce.mean(dim=1)
            with torch.no_grad():
                ref_ce = token_cross_entropy(reference_model, chunks)
            method.update_tokens(step, token_ce.detach(), ref_ce, ids)
            loss = method.reweighted_loss(token_ce, ids)
            sampler.set_weights(method.sampling_weights)
            method_s += time.perf_counter() - t_sig
            wants = False
        else:
            seq_losses = model.token_losses(chunks)
            loss = seq_losses.mean()
        if wants and method.needs == "grads":
            give_signal(step, seq_losses, ids, chunks)  # before backward: reuses this step's graph
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        if wants and method.needs != "grads":
            give_signal(step, seq_losses, ids, chunks)
        if (step + 1) % cfg.log_every == 0 or step == cfg.steps - 1:
            means, counts = per_domain_mean(seq_losses.detach(), ids, k)
            history_l.append(
                (step + 1, {n: v for n, v, c in zip(names, means.tolist(), counts.tolist()) if c})
            )
            history_w.append((step + 1, method.weights if method is not None else dict(current_w)))
        if val_every and (step + 1) % val_every == 0 and step + 1 < cfg.steps:
            history_v.append((step + 1, evaluate(model, data, cfg.eval_chunks)))
        if progress is not None:
            progress(step, method.weights if method is not None else current_w)
    wall = time.perf_counter() - t0
    val = evaluate(model, data, cfg.eval_chunks)
    if val_every:
        history_v.append((cfg.steps, val))
    result = RunResult(
        val_loss=val,
        target_loss=sum(val[t] for t in targets) / len(targets),
        final_weights=method.weights if method is not None else dict(current_w),
        weights_history=history_w,
        train_loss_history=history_l,
        wall_s=wall,
        method_s=method_s,
        val_history=history_v,
    )
    if method is not None:
        for attr in ("probe_steps_used", "eval_calls", "average_weights", "law_weights", "basis_weights"):
            if hasattr(method, attr):
                result.extra[attr] = getattr(method, attr)
    return (result, model) if return_model else result
