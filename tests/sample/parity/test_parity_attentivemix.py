"""AttentiveMix against an oracle of xden2331/attentive_cutmix (attentive_transform.py,
attentive_image.py): the ``k = 6`` most activated cells of the partner's 7 x 7 map pasted at the same
cells, label weight ``k / 49`` for the partner."""

import torch

import mixkit
from mixkit.sample.mixers.attentivemix import AttentiveMixParams
from mixkit.sample.pairing import Pairs


def oracle_attentive(x, feats, index, k):
    b, _, h, w = x.shape
    gh, gw = feats.shape[-2:]
    out = x.clone()
    for i in range(b):
        j = int(index[i])
        score = feats[j].sum(0).flatten()
        top = sorted(range(gh * gw), key=lambda c: -float(score[c]))[:k]
        for cell in top:
            r, c = divmod(cell, gw)
            rows = [p for p in range(h) if p * gh // h == r]
            cols = [q for q in range(w) if q * gw // w == c]
            for p in rows:
                for q in cols:
                    out[i, :, p, q] = x[j, :, p, q]
    return out


def test_attentivemix_pastes_the_partner_top_cells():
    g = torch.Generator().manual_seed(0)
    x = torch.randn(3, 2, 14, 14, generator=g)
    feats = torch.randn(3, 5, 7, 7, generator=g)
    index = torch.tensor([2, 0, 1])
    mixer = mixkit.AttentiveMix()
    out, lam = mixer.apply(x, AttentiveMixParams(Pairs(index), torch.full((3,), 0.5), feats))
    torch.testing.assert_close(out, oracle_attentive(x, feats, index, 6))
    torch.testing.assert_close(lam, torch.full((3,), 1 - 6 / 49))
    uneven = torch.randn(3, 2, 16, 15, generator=g)  # cells of unequal size: the exact pixel share
    out, lam = mixer.apply(uneven, AttentiveMixParams(Pairs(index), torch.full((3,), 0.5), feats))
    want = oracle_attentive(uneven, feats, index, 6)
    torch.testing.assert_close(out, want)
    torch.testing.assert_close(lam, (want == uneven).all(1).flatten(1).float().mean(1))
