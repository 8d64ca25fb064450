"""MixUp and NoMix against an oracle of facebookresearch/mixup-cifar10 (train.py: ``mixup_data``,
``mixup_criterion``): ``x = lam x + (1 - lam) x[index]``, one ``lam ~ Beta(alpha, alpha)`` per batch, loss
``lam CE(y) + (1 - lam) CE(y[index])``."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F

import mixkit
from mixkit.sample.mixers.mixer import MixParams
from mixkit.sample.pairing import Pairs

stats = pytest.importorskip("scipy.stats")


def oracle_mixup(x, index, lam):
    """The release's rule, one row at a time (``lam``: one float or one per row)."""
    lams = [lam] * x.shape[0] if isinstance(lam, float) else list(lam)
    return torch.stack([lams[i] * x[i] + (1 - lams[i]) * x[int(index[i])] for i in range(x.shape[0])])


@pytest.mark.parametrize("pairs", [Pairs(torch.tensor([3, 0, 4, 1, 2])),
                                   Pairs(torch.tensor([2, 3, 4, 0, 1]), 2)])
def test_mixup_apply_matches_the_release_rule(pairs):
    x = torch.randn(5, 3, 4, 4, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    mixer = mixkit.MixUp()
    lam = torch.full((5,), 0.3)
    out, lam_out = mixer.apply(x, MixParams(pairs, lam))
    torch.testing.assert_close(out, oracle_mixup(x, pairs.index, 0.3))
    torch.testing.assert_close(lam_out, lam)
    per_row = torch.tensor([0.1, 0.9, 0.5, 0.25, 1.0])
    out, _ = mixkit.MixUp(mode="elem").apply(x, MixParams(pairs, per_row))
    torch.testing.assert_close(out, oracle_mixup(x, pairs.index, per_row.double().tolist()))


def test_mixup_loss_is_the_release_criterion():
    g = torch.Generator().manual_seed(1)
    x, y = torch.randn(6, 5, generator=g), torch.randint(0, 4, (6,), generator=g)
    out = mixkit.MixUp()(x, y, generator=g)
    logits = torch.randn(6, 4, generator=g)
    lam = float(out.lam[0])
    want = lam * F.cross_entropy(logits, y) + (1 - lam) * F.cross_entropy(logits, y[out.index])
    torch.testing.assert_close(out.loss(logits), want)


@pytest.mark.parametrize("alpha", [0.2, 1.0])
def test_mixup_lambda_follows_beta_alpha_alpha(alpha):
    """Two-sample KS of 2,000 per-batch lambdas against numpy's Beta(alpha, alpha) draws."""
    mixer = mixkit.MixUp(alpha=alpha)
    g = torch.Generator().manual_seed(2)
    ours = np.array([float(mixer.draw(torch.Size((4, 3)), g).lam[0]) for _ in range(2000)])
    ref = np.random.default_rng(3).beta(alpha, alpha, 2000)
    assert stats.ks_2samp(ours, ref).pvalue > 1e-3
    # and the test can fail: a different alpha is rejected
    other = np.random.default_rng(4).beta(alpha * 4, alpha * 4, 2000)
    assert stats.ks_2samp(ours, other).pvalue < 1e-3


def test_mixup_partners_are_uniform_over_the_other_rows():
    """The release's randperm gives row i a uniform partner; the roll pairing does too (among others)."""
    mixer = mixkit.MixUp()
    g = torch.Generator().manual_seed(5)
    counts = torch.zeros(6, 6)
    for _ in range(3000):
        idx = mixer.draw(torch.Size((6, 2)), g).pairs.index
        counts[torch.arange(6), idx] += 1
    assert float(counts.diagonal().sum()) == 0
    off = counts[~torch.eye(6, dtype=torch.bool)]
    assert float((off / 600 - 1).abs().max()) < 0.15


def test_nomix_is_the_identity():
    x = torch.randn(4, 3)
    mixer = mixkit.build("none")
    params = mixer.draw(x.shape, torch.Generator().manual_seed(0))
    out, lam = mixer.apply(x, params)
    assert out is x and torch.equal(lam, torch.ones(4)) and torch.equal(params.pairs.index, torch.arange(4))
