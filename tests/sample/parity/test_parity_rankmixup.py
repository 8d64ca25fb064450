"""RankMixup parity: MRL and M-NDCG against an oracle written from the release's algorithm
(cvlab-yonsei/RankMixup: calibrate/losses/rankmixup.py, calibrate/net/resnet_mixup.py), on fixed draws."""

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from parity_helpers import ks_ok
from torch import nn

import mixkit
from mixkit.sample.losses.ranking import mixup_ranking_loss, mndcg_loss


def _mixed_targets(y, index, lam, k):
    """The release's target_reweighted: lam * onehot(y) + (1 - lam) * onehot(y[index])."""
    t = [[0.0] * k for _ in y]
    for i in range(len(y)):
        t[i][int(y[i])] += lam[i]
        t[i][int(y[index[i]])] += 1 - lam[i]
    return t


def oracle_mrl(raw, mixed, targets, margin):
    """Release MRL: [B] mask (no label weight equal to 1) times [B, 1] hinges, averaged over [B, B]."""
    b = len(raw)
    mask = [0.0 if any(abs(v - 1.0) < 1e-9 for v in targets[j]) else 1.0 for j in range(b)]
    hinge = [max(0.0, max(mixed[i]) - max(raw[i]) + margin) for i in range(b)]
    return sum(mask[j] * hinge[i] for i in range(b) for j in range(b)) / (b * b)


def _softmax_max(row):
    mx = max(row)
    e = [math.exp(v - mx) for v in row]
    return max(e) / sum(e)


def oracle_mndcg(raw, mixups, targets):
    """Release M-NDCG per row: raw first, mixups by decreasing max label value; symmetric DCG ratio."""
    b = len(raw)
    losses = []
    for i in range(b):
        conf = [_softmax_max(raw[i])]
        rel = [1.0]
        items = sorted(((max(t[i]), _softmax_max(z[i])) for z, t in zip(mixups, targets)),
                       key=lambda p: -p[0])
        for r, c in items:
            rel.append(r)
            conf.append(c)
        dcg = sum(c / math.log2(r + 2) for r, c in enumerate(conf))
        idcg = sum(v / math.log2(r + 2) for r, v in enumerate(rel))
        ndcg = dcg / idcg if idcg > dcg else idcg / dcg
        losses.append(1 - ndcg)
    return sum(losses) / b


class _Net(nn.Module):
    def __init__(self):
        super().__init__()
        torch.manual_seed(0)
        self.fc = nn.Linear(12, 5)

    def forward(self, x):
        return 3 * self.fc(x.flatten(1))


def _inputs():
    g = torch.Generator().manual_seed(11)
    x = torch.randn(8, 3, 2, 2, generator=g, dtype=torch.float64)
    y = torch.tensor([0, 1, 2, 0, 1, 2, 3, 0])  # repeated classes: some pairs are same-class
    return x, y


@pytest.mark.parametrize("variant", ["mrl", "mndcg"])
def test_rankmixup_step_matches_the_release_oracle(variant):
    model = _Net().double()
    x, y = _inputs()
    mixer = mixkit.RankMixup(variant=variant)
    step = mixer.training_step(model, x, y, generator=torch.Generator().manual_seed(3))
    params = mixer.draw(x.shape, torch.Generator().manual_seed(3))  # the draws of that step
    with torch.no_grad():
        raw = model(x)
        mixups, targets = [], []
        for j, pairs in enumerate(params.mixups):
            lam = params.lams[:, j].double()
            idx = pairs.index.tolist()
            xm = lam.view(-1, 1, 1, 1) * x + (1 - lam.view(-1, 1, 1, 1)) * x[idx]
            mixups.append(model(xm).tolist())
            targets.append(_mixed_targets(y.tolist(), idx, lam.tolist(), 5))
        ce = float(F.cross_entropy(raw, y))
    if variant == "mrl":
        expected = ce + 0.1 * oracle_mrl(raw.tolist(), mixups[0], targets[0], 2.0)
    else:
        expected = ce + 0.1 * oracle_mndcg(raw.tolist(), mixups, targets)
    # float32 lam and the float32 cross-entropy of the step set the tolerance
    assert float(step.loss.detach()) == pytest.approx(expected, rel=1e-6)


def test_mrl_and_mndcg_functions_match_the_oracle_on_fixed_logits():
    g = torch.Generator().manual_seed(5)
    raw = torch.randn(6, 4, generator=g, dtype=torch.float64) * 2
    mixed = [torch.randn(6, 4, generator=g, dtype=torch.float64) * 2 for _ in range(3)]
    y = [0, 1, 1, 2, 3, 0]
    index = [1, 2, 0, 3, 5, 4]  # row 1 <- row 2: same class; row 3 <- itself
    lams = [[0.7] * 6, [0.2] * 6, [0.55] * 6]
    targets = [_mixed_targets(y, index, lam, 4) for lam in lams]
    valid = torch.tensor([not any(abs(v - 1) < 1e-9 for v in t) for t in targets[0]])
    got = mixup_ranking_loss(raw, mixed[0], 0.5, valid)
    want = oracle_mrl(raw.tolist(), mixed[0].tolist(), targets[0], 0.5)
    assert float(got) == pytest.approx(want, rel=1e-12)
    conf = torch.cat([raw] + mixed).softmax(-1).amax(-1).view(4, 6).t()
    rel = torch.tensor([[1.0] + [max(t[i]) for t in targets] for i in range(6)], dtype=torch.float64)
    want = oracle_mndcg(raw.tolist(), [m.tolist() for m in mixed], targets)
    assert float(mndcg_loss(conf, rel)) == pytest.approx(want, rel=1e-12)


def test_mndcg_of_ordered_overconfident_outputs_is_not_zero():
    # confidences ordered like the labels, but all at 1: the release formula penalises them
    rel = torch.tensor([[1.0, 0.9, 0.7, 0.6]], dtype=torch.float64)
    conf = torch.ones(1, 4, dtype=torch.float64)
    dcg = sum(1 / math.log2(r + 2) for r in range(4))
    idcg = sum(v / math.log2(r + 2) for r, v in enumerate(rel[0].tolist()))
    assert float(mndcg_loss(conf, rel)) == pytest.approx(1 - idcg / dcg, rel=1e-12)
    assert float(mndcg_loss(conf, rel)) > 0.05


def test_lam_is_one_beta_draw_per_mixup_shared_by_the_batch():
    mixer = mixkit.RankMixup()
    g = torch.Generator().manual_seed(0)
    draws = []
    for _ in range(700):
        p = mixer.draw(torch.Size([4, 3]), g)
        assert torch.all(p.lams == p.lams[:1])  # one lam per mixup
        draws.extend(p.lams[0].tolist())
    ref = np.random.default_rng(0).beta(2.0, 2.0, size=2000)
    assert ks_ok(draws[:2000], ref)
    assert not ks_ok(draws[:2000], np.random.default_rng(1).beta(1.0, 1.0, size=2000))  # the test has power
    perm = {tuple(mixer.draw(torch.Size([5, 1]), g).pairs.index.tolist()) for _ in range(200)}
    assert len(perm) > 30  # random permutations, not a fixed roll family
