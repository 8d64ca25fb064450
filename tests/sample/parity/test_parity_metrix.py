"""Metrix against oracles written from the paper (Venkataramanan et al., ICLR 2022, eqs. 7-9) and the release
(billpsomas/Metrix_ICLR22: mixup/utils.py pairs, mixup/losses.py ``loss_posneg_mixup``, PML's
``ContrastiveLoss(neg_margin=0.5)`` with ``AvgNonZeroReducer``), on fixed inputs."""

import math

import pytest
import torch

from mixkit.sample.lam import sample_beta
from mixkit.sample.losses.metrix import (
    metrix_embedding_loss,
    metrix_mix,
    metrix_pairs,
    mixed_contrastive_loss,
    mixed_multi_similarity_loss,
    mixed_proxy_anchor_loss,
)

LABELS = torch.tensor([0, 1, 0, 2, 1, 3, 0])


def unit(v):
    return v / v.norm()


def oracle_pairs(labels, kind):
    out = []
    n = len(labels)
    for a in range(n):
        negatives = [j for j in range(n) if labels[j] != labels[a]]
        if kind == "anchor_negative":
            out += [(a, a, j) for j in negatives]
            continue
        positives = [j for j in range(n) if j != a and labels[j] == labels[a]]
        if positives:
            out += [(a, positives[0], j) for j in negatives]
    return sorted(out)


@pytest.mark.parametrize("kind", ["positive_negative", "anchor_negative"])
def test_pairs_match_the_release_lists(kind):
    a, f, s = metrix_pairs(LABELS, kind)
    assert sorted(zip(a.tolist(), f.tolist(), s.tolist())) == oracle_pairs(LABELS.tolist(), kind)


def oracle_contrastive(anchor, other, v, mpos=0.0, mneg=0.5):
    pos, neg = [], []
    for i in range(len(v)):
        d = float((unit(anchor[i]) - unit(other[i])).norm())
        pos.append(float(v[i]) * max(d - mpos, 0.0))
        neg.append((1 - float(v[i])) * max(mneg - d, 0.0))

    def avg_nonzero(xs):
        nz = [x for x in xs if x > 0]
        return sum(nz) / len(nz) if nz else 0.0
    return avg_nonzero(pos) + avg_nonzero(neg)


def oracle_ms(anchor, other, v, ids, a=2.0, b=50.0, m=0.5):
    total, anchors = 0.0, sorted(set(ids.tolist()))
    for k in anchors:
        sp = sn = 0.0
        for i in range(len(v)):
            if int(ids[i]) != k:
                continue
            s = float(unit(anchor[i]) @ unit(other[i]))
            sp += float(v[i]) * math.exp(-a * (s - m))
            sn += (1 - float(v[i])) * math.exp(b * (s - m))
        total += math.log(1 + sp) / a + math.log(1 + sn) / b
    return total / len(anchors)


def oracle_pa(emb, targets, proxies, alpha=32.0, delta=0.1):
    c = proxies.shape[0]
    pos_terms, neg_terms = [], []
    for p in range(c):
        sp = sn = 0.0
        for u in range(emb.shape[0]):
            s = float(unit(emb[u]) @ unit(proxies[p]))
            sp += float(targets[u, p]) * math.exp(-alpha * (s - delta))
            sn += (1 - float(targets[u, p])) * math.exp(alpha * (s + delta))
        if any(float(targets[u, p]) > 0 for u in range(emb.shape[0])):
            pos_terms.append(math.log(1 + sp))
        neg_terms.append(math.log(1 + sn))
    return sum(pos_terms) / len(pos_terms) + sum(neg_terms) / c


def test_generalised_losses_match_the_oracles():
    g = torch.Generator().manual_seed(0)
    anchor, other = torch.randn(9, 5, generator=g, dtype=torch.float64), torch.randn(9, 5, generator=g,
                                                                                        dtype=torch.float64)
    v = torch.tensor([1.0, 0.0, 0.3, 0.7, 0.0, 1.0, 0.5, 0.25, 0.0], dtype=torch.float64)
    ids = torch.tensor([0, 0, 0, 1, 1, 2, 2, 2, 2])
    got = mixed_contrastive_loss(anchor, other, v)
    assert math.isclose(float(got), oracle_contrastive(anchor, other, v), rel_tol=1e-5)
    got = mixed_multi_similarity_loss(anchor, other, v, ids, neg_scale=5.0)
    assert math.isclose(float(got), oracle_ms(anchor, other, v, ids, b=5.0), rel_tol=1e-5)
    targets = torch.tensor([[1.0, 0, 0], [0.3, 0.7, 0], [0, 0, 1], [0, 0.6, 0.4]], dtype=torch.float64)
    proxies = torch.randn(3, 5, generator=g, dtype=torch.float64)
    got = mixed_proxy_anchor_loss(anchor[:4], targets, proxies, alpha=4.0)
    assert math.isclose(float(got), oracle_pa(anchor[:4], targets, proxies, alpha=4.0), rel_tol=1e-5)
    targets[:, 0] = 0  # a proxy without positives leaves P+
    got = mixed_proxy_anchor_loss(anchor[:4], targets, proxies, alpha=4.0)
    assert math.isclose(float(got), oracle_pa(anchor[:4], targets, proxies, alpha=4.0), rel_tol=1e-5)


def test_embedding_loss_is_clean_plus_weighted_mixed_contrastive():
    g = torch.Generator().manual_seed(1)
    emb = torch.randn(7, 6, generator=g, dtype=torch.float64)
    got = metrix_embedding_loss(emb, LABELS, kind="positive_negative", weight=0.4,
                                generator=torch.Generator().manual_seed(2))
    lam = float(sample_beta(2.0, 1, torch.Generator().manual_seed(2))[0])
    pairs = [(i, j) for i in range(7) for j in range(7) if i != j]
    clean = oracle_contrastive(torch.stack([emb[i] for i, _ in pairs]),
                               torch.stack([emb[j] for _, j in pairs]),
                               torch.tensor([float(LABELS[i] == LABELS[j]) for i, j in pairs]))
    trip = oracle_pairs(LABELS.tolist(), "positive_negative")
    mixed = torch.stack([lam * emb[f] + (1 - lam) * emb[s] for _, f, s in trip])
    anchors = torch.stack([emb[a] for a, _, _ in trip])
    want = clean + 0.4 * oracle_contrastive(anchors, mixed, torch.full((len(trip),), lam))
    assert math.isclose(float(got), want, rel_tol=1e-5)
    # the mixture itself
    a, f, s = metrix_pairs(LABELS, "positive_negative")
    torch.testing.assert_close(metrix_mix(emb, f, s, lam), lam * emb[f] + (1 - lam) * emb[s])
