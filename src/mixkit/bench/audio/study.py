"""The spoken-language-ID study: a small CNN on log-mel spectrograms trained with each audio mixing method."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from ...sample.mixers.audio_mix import SpecCutMix
from ...sample.mixers.seqmix import SeqMixUp
from .features import frame_lengths, log_mel
from .model import SpectrogramCNN
from .voice_prompts import AudioDataset, load_voice_prompts

__all__ = ["AUDIO_METHODS", "language_id_study", "train_language_id"]

AUDIO_METHODS = ("none", "mixup", "wave_mixup", "speccutmix", "speccutmix_time", "speccutmix_freq")
"""``none``; ``mixup``: SeqMixUp on log-mel frames; ``wave_mixup``: SeqMixUp on waveforms (features after);
``speccutmix*``: SpecCutMix with ``axis`` both / time / freq. Every mixer is padding-aware."""

_HOP = 80  # 10 ms at 8 kHz


def _mixer(method: str, alpha: float) -> Any:
    if method == "none":
        return None
    if method in ("mixup", "wave_mixup"):
        return SeqMixUp(alpha, seq_dim=-1, mode="elem")
    axis = {"speccutmix": "both", "speccutmix_time": "time", "speccutmix_freq": "freq"}.get(method)
    if axis is None:
        raise ValueError(f"method must be one of {AUDIO_METHODS}, got {method!r}")
    return SpecCutMix(alpha, axis=axis, mode="elem")


def _features(waves: Tensor, data: AudioDataset, mean: float, std: float) -> Tensor:
    return (log_mel(waves, data.sample_rate, hop=_HOP) - mean) / std


def train_language_id(train: AudioDataset, test: AudioDataset, method: str = "none", *, epochs: int = 6,
                      batch_size: int = 64, lr: float = 3e-3, width: int = 12, alpha: float = 1.0,
                      seed: int = 0) -> dict[str, Any]:
    """Train :class:`SpectrogramCNN` with ``method`` (see :data:`AUDIO_METHODS`) and return its test
    ``accuracy`` and the CPU seconds it took (``time.process_time``)."""
    torch.manual_seed(seed)
    g = torch.Generator().manual_seed(seed)
    mixer = _mixer(method, alpha)
    cpu0 = time.process_time()
    frames_train = frame_lengths(train.lengths, _HOP)
    raw = log_mel(train.waves, train.sample_rate, hop=_HOP)
    real = torch.arange(raw.shape[-1]) < frames_train.view(-1, 1)
    vals = raw.permute(0, 2, 1)[real]
    mean, std = float(vals.mean()), float(vals.std()) + 1e-6
    feats = (raw - mean) / std
    model = SpectrogramCNN(len(train.classes), width)
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    n = len(train)
    steps = max(1, n // batch_size)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=lr, total_steps=epochs * steps)
    model.train()
    for _ in range(epochs):
        perm = torch.randperm(n, generator=g)
        for b in range(steps):
            idx = perm[b * batch_size:(b + 1) * batch_size]
            y, fr = train.labels[idx], frames_train[idx]
            if method == "wave_mixup":
                out = mixer(train.waves[idx][:, None], y, generator=g, lengths=train.lengths[idx])
                x = _features(out.x[:, 0], train, mean, std)
            elif mixer is not None:
                out = mixer(feats[idx][:, None], y, generator=g, lengths=fr)
                x = out.x[:, 0]
            else:
                out, x = None, feats[idx]
            logits = model(x, fr)
            loss = out.loss(logits) if out is not None else torch.nn.functional.cross_entropy(logits, y)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
    model.eval()
    with torch.no_grad():
        test_feats = _features(test.waves, test, mean, std)
        logits = model(test_feats, frame_lengths(test.lengths, _HOP))
    accuracy = float((logits.argmax(1) == test.labels).float().mean())
    return {"method": method, "accuracy": accuracy, "cpu_seconds": time.process_time() - cpu0,
            "epochs": epochs, "train": n, "test": len(test), "classes": list(train.classes)}


def language_id_study(data_dir: str | Path | None = None, methods: tuple[str, ...] = AUDIO_METHODS, *,
                      seconds: float = 1.0, max_per_language: int | None = 200, epochs: int = 6,
                      seeds: tuple[int, ...] = (0,), **train_kwargs: Any) -> list[dict[str, Any]]:
    """Accuracy of each method on the voice-prompt language-ID task (one row per method and seed).

    Small by default (200 files per language, 1 s clips, 6 epochs of a width-12 CNN: about a CPU minute per
    run) so it runs anywhere; raise ``max_per_language`` (``None``: every file) and ``epochs`` for a firmer
    reading."""
    train, test = load_voice_prompts(data_dir, seconds=seconds, max_per_language=max_per_language)
    rows = []
    for seed in seeds:
        for method in methods:
            rows.append({**train_language_id(train, test, method, epochs=epochs, seed=seed, **train_kwargs),
                         "seed": seed})
    return rows
