"""Audio mixers' properties: padding kept, lam exact, partners within tempo groups, errors."""

import math

import pytest
import torch

from mixkit.sample import build
from mixkit.sample.functional.beats import align_to_downbeat, tempo_group_partners
from mixkit.sample.mixers.audio_mix import SpecCutMix
from mixkit.sample.mixers.beat_sync_mix import BeatSyncMixup


def test_speccutmix_never_touches_padding_and_lam_is_the_own_share():
    x = torch.arange(4, dtype=torch.float32).view(4, 1, 1, 1).expand(4, 1, 8, 10).contiguous()
    lengths = torch.tensor([10, 6, 3, 0])
    for axis in ("time", "freq", "both"):
        out = build(f"speccutmix:axis={axis},mode=elem")(x, generator=torch.Generator().manual_seed(2),
                                                             lengths=lengths)
        for i in range(4):
            pad = x[i, ..., int(lengths[i]):]
            assert torch.equal(out.x[i, ..., int(lengths[i]):], pad)
            real = out.x[i, ..., : int(lengths[i])]
            share = float((real == i).float().mean()) if lengths[i] > 0 else 1.0
            assert math.isclose(float(out.lam[i]), share, abs_tol=1e-6) or int(out.index[i]) == i
        assert torch.equal(out.extras["padding_mask"], torch.arange(10) >= lengths.view(-1, 1))


def test_partners_stay_in_their_group_and_form_cycles():
    groups = torch.tensor([3, 1, 3, 3, 2, 1, 7])
    for seed in range(10):
        p = tempo_group_partners(groups, torch.Generator().manual_seed(seed))
        assert torch.equal(groups[p], groups)
        assert sorted(p.tolist()) == list(range(7))
        assert int(p[6]) == 6 and int(p[4]) == 4 and all(int(p[i]) != i for i in (0, 1, 2, 3, 5))


def test_alignment_shifts_the_partner():
    x = torch.arange(10, dtype=torch.float32).view(1, 1, 10).repeat(2, 1, 1)
    real = torch.ones(2, 10, dtype=torch.bool)
    aligned, valid = align_to_downbeat(x, torch.tensor([1, 0]), torch.tensor([3, -2]), real)
    assert aligned[0, 0, :7].tolist() == list(range(3, 10)) and not bool(valid[0, 7:].any())
    assert aligned[1, 0, 2:].tolist() == list(range(0, 8)) and not bool(valid[1, :2].any())


def test_beat_sync_mixup_from_beats_and_errors():
    t = torch.arange(0, 4, 0.5).repeat(4, 1)                       # 120 BPM for every row
    x = torch.randn(4, 1600)
    out = BeatSyncMixup()(x, beats=t, downbeats=torch.zeros(4), rate=400.0,
                          generator=torch.Generator().manual_seed(0))
    assert out.extras["tempo"].tolist() == [120] * 4 and bool((out.lam < 1).all())
    with pytest.raises(ValueError, match="beats"):
        BeatSyncMixup()(x, downbeats=torch.zeros(4))
    with pytest.raises(ValueError, match="downbeats"):
        BeatSyncMixup()(x, tempo=torch.full((4,), 120))
    with pytest.raises(ValueError, match="group_width"):
        BeatSyncMixup(group_width=0)
    with pytest.raises(ValueError, match="axis"):
        SpecCutMix(axis="diagonal")


@pytest.mark.slow
def test_track_beats_with_librosa_when_installed():
    librosa = pytest.importorskip("librosa")  # noqa: F841
    from mixkit.sample.functional.beats import track_beats
    sr = 8000
    t = torch.arange(sr * 6) / sr
    clicks = (torch.remainder(t, 0.5) < 0.01).float() * torch.sin(2 * math.pi * 1000 * t)  # 120 BPM
    beats, first = track_beats(clicks[None], sr)
    from mixkit.sample.functional.beats import tempo_from_beats
    assert abs(int(tempo_from_beats(beats)[0]) - 120) <= 3 and float(first[0]) < 1.6
