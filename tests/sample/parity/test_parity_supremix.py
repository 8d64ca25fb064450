"""SupReMix against an oracle written from the release's rule (yilei-wu/SupReMix: train.py ``mixing_func``,
supremix_loss.py ``SupConLoss_v2`` with ``use_weight=True, distance='L1_inv'``): the mixed features are built
explicitly, every denominator term is listed in a loop, one softmax over clean and mixed terms."""

import math

import pytest
import torch
import torch.nn.functional as F

from mixkit.sample.lam import sample_beta
from mixkit.sample.losses.supremix import supremix_loss


def oracle(features, labels, tau, window, seed, mix_neg=True, mix_pos=True):
    b, v, _ = features.shape
    f = torch.cat([features[:, k] for k in range(v)]).double()
    y = [float(t) for t in labels] * v
    n = len(y)
    alpha = sample_beta(2.0, n * n, torch.Generator().manual_seed(seed), beta=8.0).view(n, n).double()
    total = 0.0
    for i in range(n):
        terms, positives = [], []           # (score, weight), scores of positives
        for c in range(n):
            if c == i:
                continue
            s = float(f[i] @ f[c]) / tau
            terms.append((s, abs(y[i] - y[c]) + 1))
            if y[c] == y[i]:
                positives.append(s)
        for k in range(n):
            if mix_neg and y[k] != y[i]:
                a = float(alpha[i, k])
                m = a * f[i] + (1 - a) * f[k]
                label = a * y[i] + (1 - a) * y[k]
                terms.append((float(f[i] @ m) / tau, abs(y[i] - label) + 1))
        for j in range(n):
            for k in range(n):
                if mix_pos and y[j] < y[i] < y[k] and y[i] - y[j] < window and y[k] - y[i] < window:
                    a = (y[k] - y[i]) / (y[k] - y[j])
                    m = a * f[j] + (1 - a) * f[k]
                    s = float(f[i] @ m) / tau
                    terms.append((s, 1.0))
                    positives.append(s)
        log_z = math.log(sum(w * math.exp(s) for s, w in terms))
        total += -sum(s - log_z for s in positives) / (len(positives) + 1)
    return total / n


@pytest.mark.parametrize("mix_neg,mix_pos", [(True, True), (True, False), (False, True), (False, False)])
def test_loss_matches_the_release_oracle(mix_neg, mix_pos):
    g = torch.Generator().manual_seed(0)
    feats = F.normalize(torch.randn(6, 2, 5, generator=g, dtype=torch.float64), dim=-1)
    labels = torch.tensor([1.0, 3.0, 3.0, 4.5, 7.0, 12.0])
    got = supremix_loss(feats, labels, temperature=0.3, window=5.0, mix_negatives=mix_neg,
                        mix_positives=mix_pos, generator=torch.Generator().manual_seed(4))
    want = oracle(feats, labels, 0.3, 5.0, 4, mix_neg, mix_pos)
    assert math.isclose(float(got), want, rel_tol=1e-5, abs_tol=1e-6)


def test_single_view_and_other_window():
    g = torch.Generator().manual_seed(1)
    feats = F.normalize(torch.randn(7, 4, generator=g, dtype=torch.float64), dim=-1)
    labels = torch.tensor([0.0, 1.0, 2.0, 2.0, 3.5, 4.0, 9.0])
    got = supremix_loss(feats, labels, temperature=0.5, window=2.0,
                        generator=torch.Generator().manual_seed(2))
    want = oracle(feats[:, None], labels, 0.5, 2.0, 2)
    assert math.isclose(float(got), want, rel_tol=1e-5, abs_tol=1e-6)
