"""Evaluation metrics of the benchmark: top-1, NLL, expected calibration error, accuracy under corruptions,
and timers for wall time per epoch and the share of it spent inside the mixer.

Corruptions follow the spirit of ImageNet-C (Hendrycks & Dietterich, ICLR 2019, https://arxiv.org/abs/1903.12261)
at one fixed severity each, applied to ``[0, 1]`` images with fixed seeds so every method sees the same
corrupted test set. Simplified relative to ImageNet-C: four corruptions, one severity, no JPEG/weather.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor

ECE_BINS = 15


def _check_logits(logits: Tensor, y: Tensor) -> None:
    if logits.dim() != 2 or y.dim() != 1 or logits.shape[0] != y.shape[0]:
        raise ValueError(f"logits must be [N, K] and y [N] with the same N; got {tuple(logits.shape)} and "
                         f"{tuple(y.shape)}")
    if logits.shape[0] == 0:
        raise ValueError("logits must hold at least one row")


def top1(logits: Tensor, y: Tensor) -> float:
    """Fraction of rows whose arg-max class equals ``y`` (``logits`` ``[N, K]``, ``y`` ``[N]`` int64)."""
    _check_logits(logits, y)
    return float((logits.argmax(-1) == y).float().mean())


def nll(logits: Tensor, y: Tensor) -> float:
    """Mean negative log-likelihood ``-log softmax(logits)[y]`` in nats (float64 accumulation)."""
    _check_logits(logits, y)
    return float(F.cross_entropy(logits.double(), y))


@dataclass
class Calibration:
    """Expected calibration error and the reliability diagram it comes from.

    ``counts[b]``: predictions whose confidence falls in bin ``b``; ``confidence[b]`` / ``accuracy[b]``:
    their mean confidence and accuracy (``nan`` for empty bins). Bins are ``(b/n, (b+1)/n]``.
    """

    ece: float
    counts: list[int]
    confidence: list[float]
    accuracy: list[float]


def expected_calibration_error(logits: Tensor, y: Tensor, n_bins: int = ECE_BINS) -> Calibration:
    """ECE of Guo et al. (ICML 2017, https://arxiv.org/abs/1706.04599) with ``n_bins`` equal-width bins.

    ``ECE = sum_b |B_b| / N * |acc(B_b) - conf(B_b)|`` where ``conf`` is the top softmax probability.
    """
    _check_logits(logits, y)
    if n_bins < 1:
        raise ValueError(f"n_bins must be >= 1, got {n_bins}")
    prob = torch.softmax(logits.double(), -1)
    conf, pred = prob.max(-1)
    correct = (pred == y).double()
    # bin b holds confidences in (b/n, (b+1)/n]; confidence 0 cannot occur for a softmax maximum
    b = (torch.ceil(conf * n_bins).long() - 1).clamp_(0, n_bins - 1)
    counts = torch.bincount(b, minlength=n_bins).double()
    conf_sum = torch.zeros(n_bins, dtype=torch.float64).index_add_(0, b, conf)
    acc_sum = torch.zeros(n_bins, dtype=torch.float64).index_add_(0, b, correct)
    ece = float((acc_sum - conf_sum).abs().sum() / conf.numel())
    safe = counts.clamp_min(1)
    mean_conf = torch.where(counts > 0, conf_sum / safe, torch.full_like(counts, math.nan))
    mean_acc = torch.where(counts > 0, acc_sum / safe, torch.full_like(counts, math.nan))
    return Calibration(ece, [int(c) for c in counts], mean_conf.tolist(), mean_acc.tolist())


# ----------------------------------------------------------------------------------------------- corruptions
def _check_images(x: Tensor) -> None:
    if x.dim() != 4 or not x.dtype.is_floating_point:
        raise ValueError(f"x must be a float image batch [B, C, H, W] in [0, 1], got {x.dtype} "
                         f"{tuple(x.shape)}")


def gaussian_noise(x: Tensor, sigma: float, generator: torch.Generator) -> Tensor:
    """``clamp(x + sigma * N(0, 1), 0, 1)``; the noise is drawn on the CPU from ``generator``."""
    _check_images(x)
    noise = torch.randn(x.shape, generator=generator, dtype=torch.float32).to(x.device, x.dtype)
    return (x + sigma * noise).clamp_(0, 1)


def gaussian_kernel1d(sigma: float, radius: int | None = None) -> Tensor:
    """Normalised 1-D Gaussian ``exp(-t^2 / (2 sigma^2))`` on ``t = -radius..radius``.

    ``radius`` defaults to ``max(1, ceil(2 sigma))``."""
    if not sigma > 0:
        raise ValueError(f"sigma must be > 0, got {sigma}")
    r = max(1, math.ceil(2 * sigma)) if radius is None else int(radius)
    t = torch.arange(-r, r + 1, dtype=torch.float64)
    k = torch.exp(-(t * t) / (2 * sigma * sigma))
    return (k / k.sum()).float()


def gaussian_blur(x: Tensor, sigma: float, generator: torch.Generator | None = None) -> Tensor:
    """Separable Gaussian blur per channel with reflect padding (``generator`` unused: deterministic)."""
    _check_images(x)
    k = gaussian_kernel1d(sigma).to(x.device, x.dtype)
    r = (k.numel() - 1) // 2
    c = x.shape[1]
    if r >= min(x.shape[-2:]):
        raise ValueError(f"sigma={sigma} is too large for images of size {tuple(x.shape[-2:])}")
    out = F.pad(x, (r, r, 0, 0), mode="reflect")
    out = F.conv2d(out, k.view(1, 1, 1, -1).expand(c, 1, 1, -1), groups=c)
    out = F.pad(out, (0, 0, r, r), mode="reflect")
    return F.conv2d(out, k.view(1, 1, -1, 1).expand(c, 1, -1, 1), groups=c)


def contrast(x: Tensor, factor: float, generator: torch.Generator | None = None) -> Tensor:
    """Scale each image's deviation from its own mean: ``(x - m) * factor + m`` (``m`` per image)."""
    _check_images(x)
    m = x.mean(dim=(1, 2, 3), keepdim=True)
    return ((x - m) * factor + m).clamp_(0, 1)


def occlusion(x: Tensor, size: float, generator: torch.Generator) -> Tensor:
    """Grey out one random square of side ``round(size * H)`` per image (position from ``generator``)."""
    _check_images(x)
    b, _, h, w = x.shape
    s = max(1, min(h, w, round(size * h)))
    top = torch.randint(0, h - s + 1, (b,), generator=generator).to(x.device)
    left = torch.randint(0, w - s + 1, (b,), generator=generator).to(x.device)
    rows = torch.arange(h, device=x.device).view(1, h, 1)
    cols = torch.arange(w, device=x.device).view(1, 1, w)
    inside = ((rows >= top.view(-1, 1, 1)) & (rows < (top + s).view(-1, 1, 1))
              & (cols >= left.view(-1, 1, 1)) & (cols < (left + s).view(-1, 1, 1)))
    return torch.where(inside.unsqueeze(1), torch.full_like(x, 0.5), x)


# name -> (function, severity parameter); fixed so that results are comparable across runs
CORRUPTIONS: dict[str, tuple[Callable[..., Tensor], float]] = {
    "gaussian_noise": (gaussian_noise, 0.2),
    "gaussian_blur": (gaussian_blur, 1.0),
    "contrast": (contrast, 0.5),
    "occlusion": (occlusion, 0.4),
}


def corrupt(x: Tensor, name: str, seed: int = 0) -> Tensor:
    """Apply the fixed-severity corruption ``name`` (see ``CORRUPTIONS``) to ``[0, 1]`` images ``x``."""
    if name not in CORRUPTIONS:
        raise ValueError(f"corruption must be one of {sorted(CORRUPTIONS)}, got {name!r}")
    fn, severity = CORRUPTIONS[name]
    return fn(x, severity, torch.Generator().manual_seed(seed))


# ----------------------------------------------------------------------------------------------- timers
class SectionTimer:
    """Accumulates wall time of a code section without per-step host synchronisation.

    On CPU it sums ``time.perf_counter`` differences. On CUDA it records event pairs and reads them once in
    :meth:`total` (call it after a synchronisation, e.g. at the end of an epoch).
    """

    def __init__(self, device: torch.device) -> None:
        self.cuda = device.type == "cuda"
        self._seconds = 0.0
        self._events: list[tuple[torch.cuda.Event, torch.cuda.Event]] = []
        self._start: float | torch.cuda.Event | None = None

    def start(self) -> None:
        if self.cuda:
            ev = torch.cuda.Event(enable_timing=True)
            ev.record()
            self._start = ev
        else:
            self._start = time.perf_counter()

    def stop(self) -> None:
        if self._start is None:
            raise RuntimeError("SectionTimer.stop() without start()")
        if self.cuda:
            ev = torch.cuda.Event(enable_timing=True)
            ev.record()
            self._events.append((self._start, ev))  # type: ignore[arg-type]
        else:
            self._seconds += time.perf_counter() - self._start  # type: ignore[operator]
        self._start = None

    def total(self) -> float:
        """Seconds accumulated so far (on CUDA, waits for the recorded events)."""
        if self._events:
            self._events[-1][1].synchronize()
            self._seconds += sum(a.elapsed_time(b) for a, b in self._events) / 1000.0
            self._events.clear()
        return self._seconds
