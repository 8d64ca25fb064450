"""Log-mel spectrograms with torch only (no torchaudio): ``torch.stft`` and a triangular mel filterbank."""

from __future__ import annotations

import torch
from torch import Tensor

__all__ = ["frame_lengths", "hz_to_mel", "log_mel", "mel_filterbank", "mel_to_hz"]


def hz_to_mel(f: Tensor | float) -> Tensor:
    """HTK mel scale: ``2595 log10(1 + f / 700)``."""
    return 2595.0 * torch.log10(1.0 + torch.as_tensor(f, dtype=torch.float64) / 700.0)


def mel_to_hz(m: Tensor | float) -> Tensor:
    """Inverse of :func:`hz_to_mel`."""
    return 700.0 * (10.0 ** (torch.as_tensor(m, dtype=torch.float64) / 2595.0) - 1.0)


def mel_filterbank(n_mels: int, n_fft: int, sample_rate: int, f_min: float = 0.0,
                   f_max: float | None = None) -> Tensor:
    """``[n_mels, n_fft // 2 + 1]`` float32 triangular filters with centres equally spaced in mel between
    ``f_min`` and ``f_max`` (default Nyquist), peak 1 (HTK-style, no area normalisation)."""
    f_max = sample_rate / 2 if f_max is None else f_max
    if n_mels < 1 or n_fft < 2 or not 0 <= f_min < f_max <= sample_rate / 2:
        raise ValueError(f"need n_mels >= 1, n_fft >= 2 and 0 <= f_min < f_max <= sample_rate / 2, got "
                         f"{n_mels}, {n_fft}, {f_min}, {f_max}")
    freqs = torch.linspace(0, sample_rate / 2, n_fft // 2 + 1, dtype=torch.float64)
    edges = mel_to_hz(torch.linspace(float(hz_to_mel(f_min)), float(hz_to_mel(f_max)), n_mels + 2,
                                     dtype=torch.float64))
    lo, mid, hi = edges[:-2, None], edges[1:-1, None], edges[2:, None]
    up = (freqs - lo) / (mid - lo)
    down = (hi - freqs) / (hi - mid)
    return torch.clamp(torch.minimum(up, down), min=0.0).float()


def frame_lengths(lengths: Tensor, hop: int) -> Tensor:
    """Frames of a centred STFT that hold real samples: ``lengths // hop + 1`` (0 for empty clips)."""
    return torch.where(lengths > 0, lengths // hop + 1, torch.zeros_like(lengths))


def log_mel(waves: Tensor, sample_rate: int, *, n_fft: int = 256, hop: int | None = None,
            win: int | None = None, n_mels: int = 40, eps: float = 1e-6) -> Tensor:
    """``[B, n_mels, frames]`` float32 ``log(mel power + eps)`` of ``waves`` ``[B, T]``: Hann window of
    ``win`` samples (default 25 ms), hop ``hop`` (default 10 ms), centred frames (``T // hop + 1``)."""
    hop = hop if hop is not None else max(1, round(0.010 * sample_rate))
    win = win if win is not None else min(n_fft, max(2, round(0.025 * sample_rate)))
    window = torch.hann_window(win, device=waves.device, dtype=torch.float32)
    spec = torch.stft(waves.float(), n_fft=n_fft, hop_length=hop, win_length=win, window=window,
                      center=True, return_complex=True)
    power = spec.real ** 2 + spec.imag ** 2
    bank = mel_filterbank(n_mels, n_fft, sample_rate).to(waves.device)
    return torch.log(torch.einsum("mf,bft->bmt", bank, power) + eps)

