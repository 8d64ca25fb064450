"""Spectrogram gallery of the audio mixers: log-mel spectrograms of a few voice-prompt clips, mixed by each
audio method, drawn one row per method (what ``mixkit gallery --dataset voice-prompts`` writes)."""

from __future__ import annotations

from pathlib import Path

import torch

from .features import frame_lengths, log_mel
from .study import _HOP, _mixer
from .voice_prompts import load_voice_prompts

#: methods the audio gallery draws (``mixup`` is SeqMixUp on log-mel frames)
GALLERY_METHODS = ("mixup", "speccutmix", "speccutmix_time", "speccutmix_freq")


def audio_gallery(out: str | Path, data_dir: str | Path | None = None, *,
                  methods: tuple[str, ...] = GALLERY_METHODS, n: int = 6, seed: int = 1234) -> Path:
    """Write a PNG grid: the first row the original log-mel spectrograms ``[F, T]`` of ``n`` clips (one or
    two per language), then one row per method with ``lam`` above each mixed spectrogram."""
    from mixkit.bench.sample_report import _plt

    train, _ = load_voice_prompts(data_dir, seconds=1.0, max_per_language=20)
    pick = torch.cat([torch.nonzero(train.labels == k).flatten()[:2] for k in range(len(train.classes))])[:n]
    data = train.subset(pick)
    spec = log_mel(data.waves, data.sample_rate, hop=_HOP)
    lengths = frame_lengths(data.lengths, _HOP)
    rows = [("original", spec, None)]
    for method in methods:
        mixer = _mixer(method, 1.0)
        g = torch.Generator().manual_seed(seed)
        out_b = mixer(spec, data.labels, lengths=lengths, generator=g)
        rows.append((method, out_b.x, out_b.lam))
    plt = _plt()
    lo, hi = float(spec.min()), float(spec.max())
    fig, axes = plt.subplots(len(rows), spec.shape[0], figsize=(1.6 * spec.shape[0] + 1.4, 1.25 * len(rows)),
                             squeeze=False, gridspec_kw={"left": 0.12, "right": 0.995, "hspace": 0.45,
                                                         "wspace": 0.05})
    for i, (name, x, lam) in enumerate(rows):
        for j in range(spec.shape[0]):
            ax = axes[i, j]
            ax.imshow(x[j].numpy(), origin="lower", aspect="auto", vmin=lo, vmax=hi, cmap="magma")
            ax.set_xticks([])
            ax.set_yticks([])
            title = data.classes[int(data.labels[j])] if lam is None else f"lam {float(lam[j]):.2f}"
            ax.set_title(title, fontsize=7)
        axes[i, 0].set_ylabel(name, fontsize=8, rotation=0, ha="right", va="center")
    path = Path(out)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=80)
    plt.close(fig)
    return path
