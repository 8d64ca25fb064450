"""Decoupled Mixup loss vs an oracle of the released soft decoupled CE (openmixup soft_mix_cross_entropy with
the ``eta_weight`` rule of ClsMixupHead, mode "less", thr 0.5, constant eta), written with loops."""

import math

import pytest
import torch

import mixkit
from mixkit.sample.losses import decoupled_mixup_loss


def oracle(logits, y, index, lam, eta, mode="less", thr=0.5):
    """One batch lam: soft CE on the two-hot mixed label plus eta times the 'global' CE of the chosen class
    over itself and the classes that are not mixed into the row."""
    total = 0.0
    n, k = logits.shape
    for i in range(n):
        z = [float(v) for v in logits[i]]
        a, b = int(y[i]), int(y[index[i]])
        lse = math.log(sum(math.exp(v) for v in z))
        label = [0.0] * k
        label[a] += lam
        label[b] += 1 - lam
        loss = -sum(label[c] * (z[c] - lse) for c in range(k))
        if a != b:
            below = lam < thr
            weights = {"less": (eta, 0.0) if below else (0.0, eta),
                       "more": (0.0, eta) if below else (eta, 0.0),
                       "both": (eta, eta)}[mode]
            for cls, other, w in ((a, b, weights[0]), (b, a, weights[1])):
                kept = [c for c in range(k) if c != other]
                lse_kept = math.log(sum(math.exp(z[c]) for c in kept))
                loss += w * -(z[cls] - lse_kept)
        total += loss
    return total / n


@pytest.mark.parametrize("lam", [0.15, 0.5, 0.7])
@pytest.mark.parametrize("mode", ["less", "more", "both"])
def test_decoupled_loss_matches_the_release_oracle(lam, mode):
    g = torch.Generator().manual_seed(0)
    logits = torch.randn(10, 7, generator=g, dtype=torch.float64) * 3
    y = torch.randint(0, 7, (10,), generator=g)
    y[3] = y[4]  # a same-class pair: mixed CE only
    index = torch.tensor([4, 2, 1, 0, 3, 9, 8, 7, 6, 5])
    out = mixkit.MixedBatch(x=torch.zeros(10, 1), index=index, lam=torch.full((10,), lam), y=y)
    got = decoupled_mixup_loss(logits.float(), out, eta=0.3, eta_mode=mode)
    want = oracle(logits.float().double(), y, index, lam, 0.3, mode)
    assert abs(float(got) - want) < 1e-5


def test_default_is_the_release_less_mode():
    g = torch.Generator().manual_seed(1)
    logits = torch.randn(6, 5, generator=g)
    y = torch.tensor([0, 1, 2, 3, 4, 0])
    index = torch.tensor([1, 2, 3, 4, 0, 2])
    out = mixkit.MixedBatch(x=torch.zeros(6, 1), index=index, lam=torch.full((6,), 0.3), y=y)
    assert abs(float(decoupled_mixup_loss(logits, out)) - oracle(logits.double(), y, index, 0.3, 0.1)) < 1e-5
    wrong = oracle(logits.double(), y, index, 0.3, 0.1, mode="both")
    assert abs(float(decoupled_mixup_loss(logits, out)) - wrong) > 1e-4  # the test can tell the modes apart
