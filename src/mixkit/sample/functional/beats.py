"""Kernels of beat-synchronous mixing: tempo from beat times, partners within a tempo group, and the shift
that puts a partner's first downbeat on the row's own.

Beat times are a ``[B, K]`` float tensor in seconds, each row's beats first and ``NaN`` after them (rows
have different beat counts). :func:`track_beats` fills it from audio with librosa (an optional extra).
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

__all__ = ["align_to_downbeat", "tempo_from_beats", "tempo_group_partners", "track_beats"]


def tempo_from_beats(beats: Tensor) -> Tensor:
    """``[B]`` int64 tempo in BPM: ``round((n - 1) / (t_last - t_first) * 60)`` over a row's ``n`` beats,
    0 for rows with fewer than 2 beats (MusicLDM's ``process_mixup_dict``). ``beats``: ``[B, K]`` float,
    ``NaN`` after a row's beats."""
    if not isinstance(beats, Tensor) or beats.dim() != 2 or not beats.is_floating_point():
        raise ValueError(f"beats must be a float tensor [B, K] (seconds, NaN-padded), got "
                         f"{getattr(beats, 'shape', type(beats))}")
    b = beats.double()
    ok = ~torch.isnan(b)
    n = ok.sum(1)
    first = torch.where(ok, b, math.inf).min(1).values
    last = torch.where(ok, b, -math.inf).max(1).values
    span = (last - first).clamp_min(1e-9)
    tempo = torch.round((n - 1).clamp_min(0).double() / span * 60.0)
    return torch.where(n > 1, tempo, torch.zeros_like(tempo)).long()


def tempo_group_partners(groups: Tensor, generator: torch.Generator | None = None) -> Tensor:
    """A partner for every row among the other rows of its group (``[B]`` int64, CPU), uniformly shuffled;
    a row alone in its group is its own partner. ``groups``: ``[B]`` integer group ids (MusicLDM groups
    tempos by ``tempo // 3``).

    Rows are ordered by (group, uniform draw) and each takes the next row of its group in that order,
    cyclically, so every group is one random cycle (vectorised; no loop over rows)."""
    if not isinstance(groups, Tensor) or groups.dim() != 1 or groups.dtype.is_floating_point:
        got = getattr(groups, "shape", type(groups))
        raise ValueError(f"groups must be an integer tensor [B], got {got}")
    g = groups.cpu().long()
    n = g.shape[0]
    if n == 0:
        return g
    u = torch.rand(n, generator=generator, dtype=torch.float64)
    order = torch.argsort((g - g.min()).double() * 2.0 + u)        # by group, then random
    sorted_g = g[order]
    pos = torch.arange(n)
    first_of_group = torch.ones(n, dtype=torch.bool)
    first_of_group[1:] = sorted_g[1:] != sorted_g[:-1]
    start = torch.cummax(torch.where(first_of_group, pos, 0), 0).values     # first slot of each row's group
    nxt = pos + 1
    wrap = (nxt >= n) | (torch.cat([sorted_g[1:], sorted_g[:1]]) != sorted_g)
    nxt = torch.where(wrap, start, nxt)
    partner = torch.empty(n, dtype=torch.long)
    partner[order] = order[nxt]
    return partner


def align_to_downbeat(x: Tensor, partner: Tensor, shift: Tensor, real: Tensor) -> tuple[Tensor, Tensor]:
    """The partner rows moved along time so that their first downbeat falls on the row's own.

    ``x``: ``[B, ..., T]``; ``partner``: ``[B]`` int64 rows; ``shift``: ``[B]`` int64 time steps,
    ``downbeat(partner) - downbeat(row)``; ``real``: ``[B, T]`` bool real positions of ``x``. Returns the
    aligned partners ``out[i, ..., t] = x[partner[i], ..., t + shift[i]]`` (0 where that is outside the
    partner's real positions) and ``[B, T]`` bool: where the aligned partner is real.
    """
    t = x.shape[-1]
    dev = x.device
    src = torch.arange(t, device=dev) + shift.to(dev).view(-1, 1)                   # [B, T]
    inside = (src >= 0) & (src < t)
    src_c = src.clamp(0, t - 1)
    p = partner.to(dev)
    valid = inside & real[p].gather(1, src_c)
    rows = x[p]
    index = src_c.view(x.shape[0], *([1] * (x.dim() - 2)), t).expand_as(rows)
    aligned = rows.gather(-1, index)
    mask = valid.view(x.shape[0], *([1] * (x.dim() - 2)), t)
    return torch.where(mask, aligned, torch.zeros((), dtype=x.dtype, device=dev)), valid


def track_beats(waveform: Tensor, sample_rate: int, max_beats: int = 512) -> tuple[Tensor, Tensor]:
    """Beat times ``[B, max_beats]`` (seconds, NaN-padded) and the first downbeat ``[B]`` of ``waveform``
    ``[B, T]`` or ``[B, C, T]`` (channels averaged), with librosa's beat tracker (``pip install librosa``).

    librosa tracks beats, not downbeats: the first beat stands in for the first downbeat (MusicLDM uses
    Beat-Transformer's downbeats). A host loop over rows: run it in the data pipeline, not per step.
    """
    try:
        import librosa
    except ImportError as err:  # pragma: no cover - depends on the optional extra
        raise ImportError("track_beats needs librosa: pip install librosa (the 'audio' extra)") from err
    wave = waveform.detach().float().cpu()
    if wave.dim() == 3:
        wave = wave.mean(1)
    if wave.dim() != 2:
        raise ValueError(f"waveform must be [B, T] or [B, C, T], got {tuple(waveform.shape)}")
    beats = torch.full((wave.shape[0], max_beats), math.nan, dtype=torch.float64)
    for i, row in enumerate(wave.numpy()):
        _, frames = librosa.beat.beat_track(y=row, sr=sample_rate)
        times = librosa.frames_to_time(frames, sr=sample_rate)[:max_beats]
        beats[i, : len(times)] = torch.as_tensor(times, dtype=torch.float64)
    first = beats[:, 0].nan_to_num(0.0)
    return beats, first
