"""The one training loop of the benchmark: every method gets the same model, optimizer, schedule, epochs,
seeds and augmentation; only the mixer differs.

Batches are drawn as index slices of uint8 tensors that live on the training device (no DataLoader, no
per-batch host work beyond O(B) random draws). Plain mixers are called as ``mixer(x, y)``; model-aware
mixers (:class:`mixkit.sample.ModelAwareMixer`) run their own ``training_step`` and get ``on_step_end``;
learned mixers' trainable parameters join the optimizer (same hyper-parameters, no weight decay).
"""

from __future__ import annotations

import hashlib
import inspect
import math
import time
import traceback
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from ..sample import Mixer, ModelAwareMixer, RandomChoice, StepOutput, build, registry
from ..sample.spec import parse_choice, spec_name
from . import metrics
from .augment import random_crop_flip
from .data import ImageDataset, load_dataset
from .models import build_model, model_capabilities

GALLERY_SIZE = 8
GALLERY_SEED = 1234


class MethodUnsupported(Exception):
    """The method cannot run with this model or task (e.g. it ``requires`` a capability the model lacks)."""


@dataclass(frozen=True)
class RunConfig:
    """Everything that determines one training run (method x seed). ``key()`` hashes it for the result cache.

    ``train_subset``/``test_subset``: sizes of seeded subsets (the same images for every method and seed;
    ``None`` = the whole split). ``lr`` is the peak SGD learning rate of a linear-warmup + cosine schedule.
    ``evals``: test-set evaluations during training, evenly spaced and always including the last epoch
    (``0`` = after every epoch; default 8); long runs on small subsets evaluate less often to save time.
    """

    dataset: str
    method: str
    seed: int = 0
    epochs: int = 4
    model: str = "cnn"
    model_kwargs: tuple[tuple[str, Any], ...] = ()
    batch_size: int = 128
    lr: float = 0.1
    momentum: float = 0.9
    weight_decay: float = 5e-4
    warmup_epochs: float = 0.5
    augment: bool = True
    train_subset: int | None = None
    test_subset: int | None = None
    device: str = "cpu"
    amp: bool = False
    evals: int = 8
    data_dir: str | None = field(default=None, compare=False)

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["model_kwargs"] = dict(self.model_kwargs)
        return d

    def key(self, data_fingerprint: str) -> str:
        """Hash of the configuration, the data and the source code the run depends on."""
        d = self.to_dict()
        d.pop("data_dir")
        d["device"] = torch.device(self.device).type
        payload = repr(sorted(d.items())) + data_fingerprint + code_version(self.method)
        return hashlib.sha1(payload.encode()).hexdigest()[:20]


def eval_epochs(epochs: int, evals: int = 0) -> set[int]:
    """The 1-based epochs after which the test set is evaluated: every epoch when ``evals`` is 0 or at least
    ``epochs``, else ``evals`` evenly spaced epochs ending with the last one."""
    if evals < 0:
        raise ValueError(f"evals must be >= 0, got {evals}")
    if evals == 0 or evals >= epochs:
        return set(range(1, epochs + 1))
    return {max(1, round(epochs * (i + 1) / evals)) for i in range(evals)}


def code_version(method: str) -> str:
    """Hash of the source files a run's numbers depend on: the loop, metrics, models, the mixing core and the
    modules defining the method's mixers. Editing any of them invalidates cached results."""
    here = Path(__file__).parent
    sample = here.parent / "sample"
    files = [here / "train.py", here / "metrics.py", here / "augment.py",
             *sorted((here / "models").glob("*.py")),
             *(sample / f for f in ("batch.py", "lam.py", "pairing.py", "step.py"))]
    for choice in method.split("|"):
        name, _ = parse_choice(choice.partition("@")[0])
        try:
            files.append(Path(inspect.getfile(registry.get(name))))
        except (ValueError, TypeError):
            pass
    h = hashlib.sha1()
    for f in files:
        if f.is_file():
            h.update(f.read_bytes())
    return h.hexdigest()[:12]


def method_label(spec: str) -> str:
    """Label of a method in tables and plots: the spec as written, canonical name for bare names."""
    s = spec.strip()
    return spec_name(s) if ":" not in s and "@" not in s else s


def build_mixer(spec: str) -> nn.Module:
    mixer = build(spec)
    if not isinstance(mixer, nn.Module):
        raise TypeError(f"method {spec!r} did not build an nn.Module mixer")
    return mixer


def check_supported(mixer: nn.Module, model: nn.Module, task: str = "classification") -> None:
    """Raise :class:`MethodUnsupported` if ``mixer`` needs model capabilities ``model`` lacks (its declared
    ``requires``) or declares ``tasks`` that exclude ``task``. Random choices are checked through their
    members; mixers that are not :class:`~mixkit.sample.Mixer` subclasses declare nothing and pass."""
    members = list(mixer.mixers) if isinstance(mixer, RandomChoice) else [mixer]
    caps = model_capabilities(model)
    for m in members:
        if not isinstance(m, Mixer):
            continue
        missing = m.requires - caps
        if missing:
            raise MethodUnsupported(f"{type(m).__name__} requires {sorted(missing)}, which "
                                    f"{type(model).__name__} "
                                    f"does not offer (it has {sorted(caps) or 'none'})")
        if task not in m.tasks:
            raise MethodUnsupported(f"{type(m).__name__} is for {sorted(m.tasks)}, not {task}")
    if len(members) > 1 and any(isinstance(m, ModelAwareMixer) for m in members):
        raise MethodUnsupported("random choice over model-aware mixers is not supported by the loop")


def make_optimizer(model: nn.Module, mixer: nn.Module, cfg: RunConfig, steps: int
                   ) -> tuple[torch.optim.Optimizer, torch.optim.lr_scheduler.LambdaLR]:
    """SGD (Nesterov momentum) with linear warmup then cosine decay to zero over ``steps`` steps."""
    groups: list[dict[str, Any]] = [{"params": [p for p in model.parameters() if p.requires_grad]}]
    mixer_params = [p for p in mixer.parameters() if p.requires_grad]
    if mixer_params and not (isinstance(mixer, ModelAwareMixer) and mixer.owns_optimizer):
        groups.append({"params": mixer_params, "weight_decay": 0.0})
    opt = torch.optim.SGD(groups, lr=cfg.lr, momentum=cfg.momentum, weight_decay=cfg.weight_decay,
                          nesterov=True)
    warm = max(1, int(cfg.warmup_epochs * steps / max(cfg.epochs, 1)))

    def factor(step: int) -> float:
        if step < warm:
            return (step + 1) / warm
        return 0.5 * (1 + math.cos(math.pi * min(1.0, (step - warm) / max(1, steps - warm))))

    return opt, torch.optim.lr_scheduler.LambdaLR(opt, factor)


def prepare_data(cfg: RunConfig) -> ImageDataset:
    data = load_dataset(cfg.dataset, cfg.data_dir)
    return data.subset(cfg.train_subset, cfg.test_subset, seed=0)


@torch.no_grad()
def predict(model: nn.Module, x: Tensor, data: ImageDataset, amp: bool, batch: int = 1000) -> Tensor:
    """Logits ``[N, K]`` (float32, CPU) of ``model`` in eval mode on uint8 or [0, 1] images ``x``."""
    was_training = model.training
    model.eval()
    out = []
    dev = x.device
    for i in range(0, x.shape[0], batch):
        with torch.autocast(dev.type, dtype=_amp_dtype(dev), enabled=amp):
            out.append(model(data.normalize(x[i:i + batch])).float())
    model.train(was_training)
    return torch.cat(out).cpu()


def _amp_dtype(device: torch.device) -> torch.dtype:
    return torch.float16 if device.type == "cuda" else torch.bfloat16


def gallery_batch(data: ImageDataset, n: int = GALLERY_SIZE) -> tuple[Tensor, Tensor]:
    """The first test image of each of the first ``n`` classes (fewer classes: fill in order)."""
    picks: list[int] = []
    for k in range(data.num_classes):
        hits = (data.test_y == k).nonzero()
        if hits.numel():
            picks.append(int(hits[0]))
        if len(picks) == n:
            break
    for i in range(data.test_y.numel()):
        if len(picks) == n:
            break
        if i not in picks:
            picks.append(i)
    idx = torch.tensor(picks)
    return data.test_x[idx], data.test_y[idx]


def mixed_samples(mixer: nn.Module, model: nn.Module, data: ImageDataset, device: torch.device,
                  seed: int = GALLERY_SEED) -> dict[str, Any]:
    """Mix the fixed gallery batch with ``mixer`` (seeded) and return uint8 images ``[n, C, H, W]``, the
    originals, ``lam`` and partners; model-aware mixers run one ``training_step`` (no model update)."""
    x8, y = gallery_batch(data)
    x = data.normalize(x8.to(device))
    y = y.to(device)
    g = torch.Generator().manual_seed(seed)
    note = ""
    if isinstance(mixer, ModelAwareMixer):
        step = mixer.training_step(model, x, y, generator=g)
        mixed = step.mixed
        model.zero_grad(set_to_none=True)
        if mixed is None or mixed.x.shape != x.shape:
            note = "its training_step returns no mixed input image"
            mixed = None
        elif torch.equal(mixed.x, x) and bool((mixed.lam < 1).any()):
            note = "mixes hidden states: inputs shown unmixed"
    else:
        mixed = mixer(x, y, generator=g)
    to8 = lambda t: (data.denormalize(t.detach()) * 255).round().to(torch.uint8).cpu()
    if mixed is None:
        return {"original": x8, "mixed": None, "lam": None, "index": None, "labels": y.cpu(), "note": note}
    return {"original": x8, "mixed": to8(mixed.x), "lam": mixed.lam.detach().float().cpu(),
            "index": mixed.index.cpu(), "labels": y.cpu(), "note": note}


def train_run(cfg: RunConfig, data: ImageDataset | None = None, progress: Any = None) -> dict[str, Any]:
    """Train and evaluate one (method, seed). Returns a JSON-able result dict; ``result["gallery"]`` holds
    tensors (the runner stores it separately). Never raises for a method's own failure: the result then has
    ``status`` ``"failed"`` (or ``"skipped"`` for :class:`MethodUnsupported`) and a ``reason``."""
    data = prepare_data(cfg) if data is None else data
    device = torch.device(cfg.device)
    base = {"config": cfg.to_dict(), "method": method_label(cfg.method), "seed": cfg.seed}
    try:
        return {**base, **_train(cfg, data, device, progress)}
    except MethodUnsupported as err:
        return {**base, "status": "skipped", "reason": str(err)}
    except Exception as err:  # a broken method must not take the whole suite down
        tb = traceback.format_exc(limit=-3)
        return {**base, "status": "failed", "reason": f"{type(err).__name__}: {err}", "traceback": tb}


def _train(cfg: RunConfig, data: ImageDataset, device: torch.device, progress: Any) -> dict[str, Any]:
    torch.manual_seed(cfg.seed)
    model = build_model(cfg.model, data.in_channels, data.num_classes, data.image_size,
                        **dict(cfg.model_kwargs))
    mixer = build_mixer(cfg.method)
    check_supported(mixer, model)
    model.to(device).train()
    mixer.to(device).train()
    model_aware = isinstance(mixer, ModelAwareMixer)
    g_data = torch.Generator().manual_seed(1000 * cfg.seed + 1)
    g_mix = torch.Generator().manual_seed(1000 * cfg.seed + 2)
    g_aug = torch.Generator().manual_seed(1000 * cfg.seed + 3)

    train_x, train_y = data.train_x.to(device), data.train_y.to(device)
    test_x, test_y = data.test_x.to(device), data.test_y
    n, bs = train_x.shape[0], min(cfg.batch_size, train_x.shape[0])
    steps_per_epoch = n // bs
    if steps_per_epoch < 1:
        raise ValueError(f"training set of {n} images is smaller than one batch ({bs})")
    opt, sched = make_optimizer(model, mixer, cfg, steps_per_epoch * cfg.epochs)
    if isinstance(mixer, ModelAwareMixer):
        mixer.on_train_start(steps_per_epoch * cfg.epochs)
    use_scaler = cfg.amp and device.type == "cuda"
    scaler = torch.amp.GradScaler("cuda", enabled=use_scaler)
    pad = max(1, data.image_size // 8)

    curves: dict[str, list[float]] = {"train_loss": [], "test_top1": [], "test_nll": [], "epoch_time": [],
                                      "mixer_time": [], "eval_epoch": []}
    eval_at = eval_epochs(cfg.epochs, cfg.evals)
    step_index = 0
    for epoch in range(cfg.epochs):
        if callable(getattr(mixer, "set_epoch", None)):  # curriculum mixers (Colorful Cutout)
            mixer.set_epoch(epoch)
        timer = metrics.SectionTimer(device)
        loss_sum = torch.zeros((), device=device)
        t0 = time.perf_counter()
        perm = torch.randperm(n, generator=g_data).to(device, non_blocking=True)
        for b in range(steps_per_epoch):
            idx = perm[b * bs:(b + 1) * bs]
            x = data.normalize(train_x[idx])
            y = train_y[idx]
            if cfg.augment:
                x = random_crop_flip(x, pad, g_aug, flip=data.in_channels > 1 or data.name != "digits")
            with torch.autocast(device.type, dtype=_amp_dtype(device), enabled=cfg.amp):
                timer.start()
                if model_aware:
                    step = mixer.training_step(model, x, y, generator=g_mix)
                    timer.stop()
                else:
                    out = mixer(x, y, generator=g_mix)
                    timer.stop()
                    logits = model(out.x)
                    step = StepOutput(loss=out.loss(logits), logits=logits, mixed=out)
            opt.zero_grad(set_to_none=True)
            scaler.scale(step.loss).backward()
            scaler.step(opt)
            scaler.update()
            sched.step()
            if hasattr(mixer, "on_step_end"):
                mixer.on_step_end(model, step_index)
            step_index += 1
            loss_sum += step.loss.detach().float()
        train_loss = float(loss_sum) / steps_per_epoch  # one host sync per epoch
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        epoch_time = time.perf_counter() - t0
        if not math.isfinite(train_loss):
            raise FloatingPointError(f"training loss became {train_loss} in epoch {epoch + 1}")
        curves["train_loss"].append(train_loss)
        curves["epoch_time"].append(epoch_time)
        curves["mixer_time"].append(timer.total())
        if (epoch + 1) in eval_at:
            logits = predict(model, test_x, data, cfg.amp)
            curves["eval_epoch"].append(epoch + 1)
            curves["test_top1"].append(metrics.top1(logits, test_y))
            curves["test_nll"].append(metrics.nll(logits, test_y))
            if progress is not None:
                progress(epoch + 1, cfg.epochs, curves["test_top1"][-1])

    calib = metrics.expected_calibration_error(logits, test_y)
    # training accuracy on the clean (unmixed, unaugmented) training images: says whether the run reached the
    # over-fitting regime the mixing methods are meant for
    train_top1 = metrics.top1(predict(model, train_x, data, cfg.amp), data.train_y)
    clean01 = test_x.float().div(255)
    corruption = {}
    for i, name in enumerate(metrics.CORRUPTIONS):
        corrupted = metrics.corrupt(clean01, name, seed=10_000 + i)
        corruption[name] = metrics.top1(predict(model, corrupted, data, cfg.amp), test_y)
    epoch_time = sum(curves["epoch_time"]) / cfg.epochs
    result = {
        "status": "ok",
        "model_aware": model_aware,
        "metrics": {
            "top1": curves["test_top1"][-1],
            "train_top1": train_top1,
            "nll": curves["test_nll"][-1],
            "ece": calib.ece,
            "corruption": corruption,
            "corruption_top1": sum(corruption.values()) / len(corruption),
            "epoch_time": epoch_time,
            "mixer_share": sum(curves["mixer_time"]) / max(1e-9, sum(curves["epoch_time"])),
        },
        "curves": curves,
        "reliability": asdict(calib),
        "train_size": n,
        "test_size": int(test_y.numel()),
    }
    result["gallery"] = mixed_samples(mixer, model, data, device)
    return result
