"""Spoken-language identification from recorded voice prompts (Debian's ``asterisk-core-sounds-*``).

``apt-get install asterisk-core-sounds-{en,es,fr,it,ru}-wav`` puts one speaker's prompts per language under
``/usr/share/asterisk/sounds/<lang>/`` (8 kHz mono 16-bit PCM WAV, about 560 files each, nested folders such
as ``digits/``). The language of a folder is the class. :func:`load_voice_prompts` reads any such tree:
``<data_dir>/<language>/**/*.wav``; folders that resolve to the same place (the packages' ``en`` ->
``en_US_f_Allison`` links) count once, under the shortest name.

Caveat of this data: each language is one voice (English and Spanish share one), so a model can lean on the
speaker as much as on the language; use it as a small real audio task, not as a language-ID benchmark.
"""

from __future__ import annotations

import os
import wave
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

__all__ = ["DEFAULT_DIR", "AudioDataset", "load_voice_prompts", "read_wav"]

DEFAULT_DIR = Path("/usr/share/asterisk/sounds")


@dataclass
class AudioDataset:
    """Fixed-length clips: ``waves`` ``[N, T]`` float32 in [-1, 1] (zero-padded), ``lengths`` ``[N]`` int64
    real samples, ``labels`` ``[N]`` int64 into ``classes``, at ``sample_rate`` Hz; ``files`` the sources."""

    waves: Tensor
    lengths: Tensor
    labels: Tensor
    classes: list[str]
    sample_rate: int
    files: list[str]

    def __len__(self) -> int:
        return int(self.labels.shape[0])

    def subset(self, index: Tensor) -> AudioDataset:
        idx = index.tolist()
        return AudioDataset(self.waves[index], self.lengths[index], self.labels[index], list(self.classes),
                            self.sample_rate, [self.files[i] for i in idx])


def read_wav(path: str | Path, sample_rate: int | None = None) -> tuple[Tensor, int]:
    """A PCM WAV file as a mono float32 ``[T]`` tensor in [-1, 1] (channels averaged) and its rate; with
    ``sample_rate`` the signal is resampled to it by linear interpolation (enough for speech at 8-16 kHz)."""
    with wave.open(str(path), "rb") as w:
        channels, width, rate, frames = w.getnchannels(), w.getsampwidth(), w.getframerate(), w.getnframes()
        raw = w.readframes(frames)
    if width == 2:
        data = np.frombuffer(raw, dtype="<i2").astype(np.float32) / 32768.0
    elif width == 1:
        data = (np.frombuffer(raw, dtype=np.uint8).astype(np.float32) - 128.0) / 128.0
    elif width == 4:
        data = np.frombuffer(raw, dtype="<i4").astype(np.float32) / 2147483648.0
    else:
        raise ValueError(f"{path}: {8 * width}-bit PCM is not supported (8, 16 or 32-bit)")
    signal = torch.from_numpy(data.copy()).view(-1, channels).mean(1)
    if sample_rate is not None and sample_rate != rate and signal.numel() > 1:
        size = max(1, round(signal.numel() * sample_rate / rate))
        signal = F.interpolate(signal.view(1, 1, -1), size=size, mode="linear", align_corners=False).view(-1)
        rate = sample_rate
    return signal, rate


def _language_dirs(root: Path, languages: list[str] | None) -> dict[str, Path]:
    found: dict[str, Path] = {}
    seen: dict[str, str] = {}
    for d in sorted((p for p in root.iterdir() if p.is_dir()), key=lambda p: (len(p.name), p.name)):
        real = os.path.realpath(d)
        if real in seen:
            continue
        name = d.name
        if languages is not None and name not in languages:
            continue
        if not any(d.rglob("*.wav")):
            continue
        seen[real] = name
        found[name] = d
    return found


def load_voice_prompts(data_dir: str | Path | None = None, *, languages: list[str] | None = None,
                       sample_rate: int = 8000, seconds: float = 1.0, test_fraction: float = 0.2,
                       max_per_language: int | None = None, seed: int = 0
                       ) -> tuple[AudioDataset, AudioDataset]:
    """Train and test clips of every language folder under ``data_dir`` (default :data:`DEFAULT_DIR`).

    Each file gives one clip: its first ``seconds`` seconds at ``sample_rate`` (zero-padded; ``lengths``
    holds the real samples). ``languages``: folder names to keep (default: every folder with WAVs, links to
    the same folder counted once). The split is stratified by language, seeded; ``max_per_language`` caps
    the files per language (a seeded sample) to keep a run small.
    """
    root = Path(data_dir) if data_dir is not None else DEFAULT_DIR
    if not root.is_dir():
        raise FileNotFoundError(f"{root}: no such folder; install the voice prompts with "
                                "`apt-get install asterisk-core-sounds-en-wav asterisk-core-sounds-fr-wav "
                                "...` or pass --data-dir")
    if not 0.0 < test_fraction < 1.0:
        raise ValueError(f"test_fraction must be in (0, 1), got {test_fraction!r}")
    if not seconds > 0 or sample_rate < 1:
        raise ValueError(f"seconds and sample_rate must be > 0, got {seconds!r}, {sample_rate!r}")
    dirs = _language_dirs(root, languages)
    if len(dirs) < 2:
        raise FileNotFoundError(f"{root}: need WAV files in at least two language folders, found "
                                f"{sorted(dirs) or 'none'}")
    length = round(seconds * sample_rate)
    g = torch.Generator().manual_seed(seed)
    waves, lengths, labels, files, is_test = [], [], [], [], []
    classes = sorted(dirs)
    for label, lang in enumerate(classes):
        paths = sorted(dirs[lang].rglob("*.wav"))
        order = torch.randperm(len(paths), generator=g).tolist()
        if max_per_language is not None:
            order = order[:max_per_language]
        n_test = max(1, round(len(order) * test_fraction))
        for rank, k in enumerate(order):
            signal, _ = read_wav(paths[k], sample_rate)
            clip = torch.zeros(length)
            m = min(length, signal.numel())
            clip[:m] = signal[:m]
            waves.append(clip)
            lengths.append(m)
            labels.append(label)
            files.append(str(paths[k]))
            is_test.append(rank < n_test)
    data = AudioDataset(torch.stack(waves), torch.tensor(lengths), torch.tensor(labels), classes, sample_rate,
                        files)
    test = torch.tensor(is_test)
    return data.subset(torch.nonzero(~test).flatten()), data.subset(torch.nonzero(test).flatten())
