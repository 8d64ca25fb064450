"""MixOE against an oracle of zjysteven/MixOE (train/train_mixoe.py): one ``lam ~ Beta(alpha, alpha)``
per batch, ID row ``i`` with outlier row ``i``, ``mixup``: ``lam x + (1 - lam) x_out``; ``cutmix``: the
CutMix box of the outliers pasted into the ID images, ``lam`` = kept area; soft target
``lam onehot(y) + (1 - lam) / K``, loss ``sum(-t log_softmax(z))``."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F

import mixkit
from mixkit.sample.functional.boxes import Boxes
from mixkit.sample.losses import mixoe_loss, mixoe_targets
from mixkit.sample.mixers.mixoe import MixOEParams
from mixkit.sample.pairing import Pairs


def oracle_targets(y, lam, k):
    return torch.stack([float(lam[i]) * F.one_hot(y[i], k).float() + (1 - float(lam[i])) / k
                        for i in range(len(y))])


def test_mixoe_targets_and_loss_match_the_release_soft_ce():
    g = torch.Generator().manual_seed(0)
    logits, y = torch.randn(6, 5, generator=g), torch.randint(0, 5, (6,), generator=g)
    lam = torch.full((6,), 0.37)
    t = oracle_targets(y, lam, 5)
    torch.testing.assert_close(mixoe_targets(y, lam, 5), t)
    torch.testing.assert_close(mixoe_loss(logits, y, lam), (-t * logits.log_softmax(-1)).sum(-1).mean())


def test_mixoe_mixup_matches_the_release():
    g = torch.Generator().manual_seed(1)
    x, x_out, y = torch.randn(4, 3, 6, 6, generator=g), torch.randn(4, 3, 6, 6, generator=g), torch.arange(4)
    mixer = mixkit.MixOE()
    params = mixer.draw(x.shape, torch.Generator().manual_seed(2), 4)
    assert torch.equal(params.pairs.index, torch.arange(4)) and bool((params.lam == params.lam[0]).all())
    out = mixer(x, y, x_out, generator=torch.Generator().manual_seed(2))
    lam = float(params.lam[0])
    torch.testing.assert_close(out.x, lam * x + (1 - lam) * x_out)
    logits = torch.randn(4, 4, generator=g)
    t = oracle_targets(y, out.lam, 4)
    torch.testing.assert_close(out.loss(logits), (-t * logits.log_softmax(-1)).sum(-1).mean())


@pytest.mark.parametrize("lam,centre", [(0.4, (2, 3)), (0.8, (7, 0))])
def test_mixoe_cutmix_pastes_the_outlier_box(lam, centre):
    g = torch.Generator().manual_seed(3)
    x, x_out = torch.randn(3, 2, 8, 8, generator=g), torch.randn(3, 2, 8, 8, generator=g)
    cut = int(8 * np.sqrt(1 - lam))
    y1, y2 = np.clip(centre[0] - cut // 2, 0, 8), np.clip(centre[0] + cut // 2, 0, 8)
    x1, x2 = np.clip(centre[1] - cut // 2, 0, 8), np.clip(centre[1] + cut // 2, 0, 8)
    want = x.clone()
    want[:, :, y1:y2, x1:x2] = x_out[:, :, y1:y2, x1:x2]
    boxes = Boxes(torch.tensor([[y1, x1]] * 3), torch.tensor([[y2, x2]] * 3), (8, 8))
    params = MixOEParams(Pairs(torch.arange(3)), torch.full((3,), lam), boxes, outliers=x_out)
    out, lam_out = mixkit.MixOE(variant="cutmix").apply(x, params)
    torch.testing.assert_close(out, want)
    torch.testing.assert_close(lam_out, torch.full((3,), 1 - (y2 - y1) * (x2 - x1) / 64))


def test_mixoe_random_outliers_and_per_row_lambda_are_options():
    mixer = mixkit.MixOE(mode="elem", outliers="random")
    p = mixer.draw(torch.Size((64, 3)), torch.Generator().manual_seed(4), 5)
    assert int(p.pairs.index.max()) < 5 and len(set(p.lam.tolist())) > 1
