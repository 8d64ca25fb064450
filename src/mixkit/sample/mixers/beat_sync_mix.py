"""MusicLDM's beat-synchronous mixup: mix tracks of the same tempo group with their downbeats aligned."""

from __future__ import annotations

import torch
from torch import Tensor

from ..batch import MixedBatch
from ..functional.beats import align_to_downbeat, tempo_from_beats, tempo_group_partners
from ..lam import check_alpha, sample_beta
from .mixer import MixParams
from .seqmix import SequenceMixer, real_positions

__all__ = ["BeatSyncMixup"]


class BeatSyncMixup(SequenceMixer):
    """Beat-synchronous mixup (Chen et al., MusicLDM, ICASSP 2024): each track is mixed with a partner of
    the same tempo group whose first downbeat is moved onto its own, ``lam ~ Beta(5, 5)`` per track.

    Call ``mixer(x, beats=..., downbeats=..., rate=..., lengths=...)``:

    * ``x``: ``[B, T]`` or ``[B, C, T]`` waveforms (beat-synchronous audio mixup) or ``[B, C, ..., T]``
      latents (beat-synchronous latent mixup), time last, ``rate`` steps per second;
    * ``beats``: ``[B, K]`` beat times in seconds, NaN-padded (tempo ``round((n - 1) / (t_n - t_1) * 60)``
      BPM, grouped by ``tempo // group_width``), or ``tempo=`` ``[B]`` BPM directly;
    * ``downbeats``: ``[B]`` time of each track's first downbeat in seconds
      (:func:`mixkit.sample.functional.beats.track_beats` estimates both with librosa);
    * ``lengths``/``padding_mask``: real time steps, as the sequence mixers.

    Partners are drawn uniformly among the other tracks of the same group (a track alone in its group is
    left unmixed, ``lam = 1``); the partner is shifted by ``round((d_j - d_i) * rate)`` steps and mixed
    where both are real (elsewhere the track keeps its own samples); ``lam`` returned is the exact own
    share over the track's real steps. ``out.extras``: ``"tempo"`` ``[B]``, ``"shift"`` ``[B]``.

    Paper: https://arxiv.org/abs/2308.01546. Release: ``RetroCirce/MusicLDM:
    interface/src/utilities/tools.py`` (``process_mixup_dict``: tempo from beat times, groups of
    ``tempo // 3``) and ``interface/src/latent_diffusion/models/musicldm.py`` (``Beta(5, 5)`` weights).
    Defaults from it: ``alpha=5`` (``Beta(5, 5)``), ``group_width=3``.

    Deviations:
        * partners are drawn within the batch (the release draws them from the dataset's tempo groups);
        * downbeats are the caller's (the release reads Beat-Transformer annotations; librosa, the optional
          tracker here, finds beats only, so its first beat stands in for the first downbeat).
    """

    name = "beatsync_mixup"
    aliases = ("beat_sync_mixup", "bam")
    paper = ("MusicLDM: Enhancing Novelty in Text-to-Music Generation Using Beat-Synchronous Mixup "
             "Strategies (Chen et al., ICASSP 2024)")
    paper_url = "https://arxiv.org/abs/2308.01546"
    release = "RetroCirce/MusicLDM: interface/src/utilities/tools.py"
    tasks = frozenset({"audio"})
    min_rank = 2

    def __init__(self, alpha: float = 5.0, *, group_width: int = 3, validate: bool = True) -> None:
        super().__init__(check_alpha(alpha), -1, mode="elem", pairing="permute", validate=validate)
        if isinstance(group_width, bool) or not isinstance(group_width, int) or group_width < 1:
            raise ValueError(f"group_width must be an int >= 1 (BPM), got {group_width!r}")
        self.group_width = group_width

    def forward(self, x: Tensor, y: Tensor | None = None, *, generator: torch.Generator | None = None,
                beats: Tensor | None = None, tempo: Tensor | None = None, downbeats: Tensor | None = None,
                rate: float = 16000.0, lengths: Tensor | None = None, padding_mask: Tensor | None = None,
                out: Tensor | None = None) -> MixedBatch:
        g = self.check_call(x, y, generator, out)
        n = x.shape[0]
        if (beats is None) == (tempo is None):
            raise ValueError("give exactly one of beats ([B, K] seconds) and tempo ([B] BPM)")
        if tempo is None:
            tempo = tempo_from_beats(beats)
        if not isinstance(tempo, Tensor) or tempo.shape != (n,):
            got = getattr(tempo, "shape", type(tempo))
            raise ValueError(f"tempo must be a tensor [B] = [{n}], got {got}")
        if downbeats is None or not isinstance(downbeats, Tensor) or downbeats.shape != (n,):
            raise ValueError(f"downbeats must be a tensor [B] = [{n}] (seconds of the first downbeat), got "
                             f"{getattr(downbeats, 'shape', type(downbeats))}")
        if not float(rate) > 0:
            raise ValueError(f"rate must be > 0 (time steps per second), got {rate!r}")
        tempo = tempo.cpu().long()
        partner = tempo_group_partners(tempo // self.group_width, g)
        lam = sample_beta(self.alpha, n, g)
        lam = torch.where(partner == torch.arange(n), torch.ones_like(lam), lam)
        d = downbeats.detach().cpu().double()
        shift = torch.round((d[partner] - d) * float(rate)).long()
        real = real_positions(x, -1, lengths, padding_mask)
        aligned, valid = align_to_downbeat(x, partner, shift, real)
        both = real & valid
        w = (1.0 - lam.to(x.device)).view(-1, 1) * both                           # partner weight [B, T]
        wv = w.view(n, *([1] * (x.dim() - 2)), x.shape[-1]).to(x.dtype)
        mixed = x + wv * (aligned - x)
        if out is not None:
            mixed = out.copy_(mixed)
        n_real = real.sum(1)
        own = (n_real - w.sum(1)) / n_real.clamp_min(1)
        own = torch.where(n_real > 0, own, torch.ones_like(own))
        return MixedBatch(x=mixed, index=partner.to(x.device), lam=own.to(torch.float32), y=y,
                          extras={"tempo": tempo.to(x.device), "shift": shift.to(x.device),
                                  "padding_mask": ~real})

    def draw(self, shape: torch.Size, generator: torch.Generator | None) -> MixParams:
        raise TypeError("BeatSyncMixup draws its partners from the tracks' tempos: call the mixer with "
                        "beats= or tempo= and downbeats=")

    def extra_repr(self) -> str:
        return f"alpha={self.alpha}, group_width={self.group_width}"

