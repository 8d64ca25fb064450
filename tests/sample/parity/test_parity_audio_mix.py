"""Audio mixing against oracles: SpecCutMix's band/span/box over the frames real in both rows (CutMix's rule
on time-frequency bands, written as a loop), and MusicLDM's beat-synchronous mixup (RetroCirce/MusicLDM:
tempo ``round((n - 1) / (t_n - t_1) * 60)``, groups ``tempo // 3``, ``Beta(5, 5)``), partner shifted so its
first downbeat meets the row's, mixed where both are real."""

import math

import pytest
import torch

from mixkit.sample.functional.beats import tempo_from_beats, tempo_group_partners
from mixkit.sample.mixers.audio_mix import SpecCutMix
from mixkit.sample.mixers.beat_sync_mix import BeatSyncMixup


def oracle_spec(x, partner, lam, lengths, axis, u, v):
    out = x.clone()
    n, f, t = x.shape[0], x.shape[-2], x.shape[-1]
    own = []
    for i in range(n):
        j = int(partner[i])
        common = [k for k in range(t) if k < lengths[i] and k < lengths[j]]
        cut = 1 - float(lam[i])
        ts = cut if axis == "time" else math.sqrt(cut) if axis == "both" else 1.0
        fs = cut if axis == "freq" else math.sqrt(cut) if axis == "both" else 1.0
        w, fw = round(ts * len(common)), round(fs * f)
        if axis == "both" and (w == 0 or fw == 0):
            w = fw = 0
        s = math.floor(float(u[i]) * (len(common) - w + 1))
        fs0 = math.floor(float(v[i]) * (f - fw + 1))
        pasted = 0
        for k in common[s:s + w]:
            for b in range(fs0, fs0 + fw):
                out[i, ..., b, k] = x[j, ..., b, k]
                pasted += 1
        own.append(1 - pasted / (f * int(lengths[i])) if lengths[i] > 0 else 1.0)
    return out, torch.tensor(own)


@pytest.mark.parametrize("axis", ["time", "freq", "both"])
def test_speccutmix_matches_the_oracle(axis):
    g = torch.Generator().manual_seed(0)
    x = torch.randn(5, 2, 6, 11, generator=g)
    lengths = torch.tensor([11, 7, 9, 4, 11])
    mixer = SpecCutMix(axis=axis, mode="elem")
    out = mixer(x, generator=torch.Generator().manual_seed(1), lengths=lengths)
    params = mixer.draw(x.shape, torch.Generator().manual_seed(1))
    want_x, want_lam = oracle_spec(x, params.pairs.index, params.lam, lengths, axis, params.starts,
                                   params.fstarts)
    torch.testing.assert_close(out.x, want_x)
    torch.testing.assert_close(out.lam, want_lam)


def test_tempo_matches_the_release_formula():
    beats = torch.tensor([[0.5, 1.0, 1.5, 2.0, math.nan], [0.1, 0.5, 0.9, 1.3, 1.7], [1.0] + [math.nan] * 4])
    want = [round(3 / 1.5 * 60), round(4 / 1.6 * 60), 0]
    assert tempo_from_beats(beats).tolist() == want


def test_beat_sync_mixup_matches_the_oracle():
    g = torch.Generator().manual_seed(0)
    x = torch.randn(6, 1, 40, generator=g)
    lengths = torch.tensor([40, 35, 40, 30, 40, 38])
    tempo = torch.tensor([120, 121, 122, 90, 91, 200])          # groups 40, 40, 40, 30, 30, 66
    downbeats = torch.tensor([0.10, 0.25, 0.05, 0.3, 0.0, 0.2])
    rate = 20.0
    out = BeatSyncMixup()(x, tempo=tempo, downbeats=downbeats, rate=rate, lengths=lengths,
                          generator=torch.Generator().manual_seed(5))
    g2 = torch.Generator().manual_seed(5)
    from mixkit.sample.lam import sample_beta
    partner = tempo_group_partners(tempo // 3, g2)
    lam = sample_beta(5.0, 6, g2)
    for i in range(6):
        j = int(partner[i])
        assert tempo[i] // 3 == tempo[j] // 3 and (j != i or i == 5)
        li = 1.0 if j == i else float(lam[i])
        shift = round((float(downbeats[j]) - float(downbeats[i])) * rate)
        own_sum = 0.0
        want = x[i].clone()
        for t in range(40):
            s = t + shift
            if t < lengths[i] and 0 <= s < lengths[j]:
                want[:, t] = li * x[i, :, t] + (1 - li) * x[j, :, s]
                own_sum += li
            elif t < lengths[i]:
                own_sum += 1
        torch.testing.assert_close(out.x[i], want)
        assert math.isclose(float(out.lam[i]), own_sum / int(lengths[i]), rel_tol=1e-5)
    assert float(out.lam[5]) == 1.0 and int(out.index[5]) == 5
