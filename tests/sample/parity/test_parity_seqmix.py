"""SeqMixUp / SeqCutMix against per-row, per-position oracles of their rules (MixUp of token embeddings,
Guo et al. 2019; a CutMix span over the positions real in both rows; padding never mixed in)."""

import pytest
import torch

import mixkit
from mixkit.sample.mixers.seqmix import SeqParams
from mixkit.sample.pairing import Pairs


def _case():
    g = torch.Generator().manual_seed(0)
    x = torch.randn(4, 7, 3, generator=g, dtype=torch.float64)
    lengths = torch.tensor([7, 4, 0, 5])
    real = torch.arange(7) < lengths.view(-1, 1)
    return x, real, torch.tensor([1, 3, 0, 2])


def test_seqmixup_matches_the_position_oracle():
    x, real, index = _case()
    lam = torch.tensor([0.3, 0.6, 0.5, 0.8])
    out, own = mixkit.SeqMixUp(mode="elem").apply(x, SeqParams(Pairs(index), lam, real=real))
    for i in range(4):
        j, n_i, share = int(index[i]), int(real[i].sum()), 0.0
        for t in range(7):
            both = bool(real[i, t] and real[j, t])
            want = float(lam[i]) * x[i, t] + (1 - float(lam[i])) * x[j, t] if both else x[i, t]
            torch.testing.assert_close(out[i, t], want)
            share += (float(lam[i]) if both else 1.0) if real[i, t] else 0.0
        assert float(own[i]) == pytest.approx(share / n_i if n_i else 1.0, abs=1e-6)


def test_seqcutmix_matches_the_span_oracle():
    x, real, index = _case()
    lam = torch.tensor([0.3, 0.6, 0.5, 0.5])
    starts = torch.tensor([0.9, 0.2, 0.5, 0.0], dtype=torch.float64)
    out, own = mixkit.SeqCutMix(mode="elem").apply(x, SeqParams(Pairs(index), lam, starts=starts, real=real))
    for i in range(4):
        j = int(index[i])
        common = [t for t in range(7) if real[i, t] and real[j, t]]
        width = round((1 - float(lam[i])) * len(common))
        start = int(float(starts[i]) * (len(common) - width + 1))
        span = set(common[start:start + width])
        for t in range(7):
            torch.testing.assert_close(out[i, t], x[j, t] if t in span else x[i, t])
        n_i = int(real[i].sum())
        assert float(own[i]) == pytest.approx(1 - len(span) / n_i if n_i else 1.0, abs=1e-6)
