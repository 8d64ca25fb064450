"""Cutout against an oracle of uoguelph-mlrg/Cutout (util/cutout.py, ``n_holes=1``): a uniform centre
pixel, the square ``[c - L // 2, c + L // 2)`` clipped at the border, set to 0; labels untouched."""

import numpy as np
import pytest
import torch

import mixkit
from mixkit.sample.functional.boxes import Boxes
from mixkit.sample.mixers.cutout import CutoutParams
from mixkit.sample.pairing import Pairs

stats = pytest.importorskip("scipy.stats")


def oracle_cutout(img, length, cy, cx):
    h, w = img.shape[1:]
    mask = np.ones((h, w), np.float32)
    y1, y2 = np.clip(cy - length // 2, 0, h), np.clip(cy + length // 2, 0, h)
    x1, x2 = np.clip(cx - length // 2, 0, w), np.clip(cx + length // 2, 0, w)
    mask[y1:y2, x1:x2] = 0.0
    return img * torch.from_numpy(mask), (y1, y2, x1, x2)


@pytest.mark.parametrize("length,centres", [(16, [(0, 0), (16, 16), (31, 5)]),
                                            (7, [(3, 3), (0, 31), (20, 9)])])
def test_cutout_apply_matches_the_release(length, centres):
    x = torch.randn(3, 3, 32, 32, generator=torch.Generator().manual_seed(0))
    wants, lo, hi = [], [], []
    for i, (cy, cx) in enumerate(centres):
        want, (y1, y2, x1, x2) = oracle_cutout(x[i], length, cy, cx)
        wants.append(want)
        lo.append([y1, x1])
        hi.append([y2, x2])
    boxes = Boxes(torch.tensor(lo), torch.tensor(hi), (32, 32))
    params = CutoutParams(Pairs(torch.arange(3)), torch.ones(3), erased=boxes.area(), boxes=boxes)
    out, lam = mixkit.Cutout(length).apply(x, params)
    torch.testing.assert_close(out, torch.stack(wants))
    assert torch.equal(lam, torch.ones(3))


@pytest.mark.parametrize("length", [16, 7])
def test_cutout_draws_the_release_squares(length):
    """KS of 2,000 erased fractions against the oracle's (uniform centres, clipping, even span)."""
    mixer = mixkit.Cutout(length)
    g = torch.Generator().manual_seed(1)
    ours = torch.cat([mixer.draw(torch.Size((100, 3, 32, 32)), g).erased for _ in range(20)]).numpy()
    rng = np.random.default_rng(2)
    ref = []
    for _ in range(2000):
        _, (y1, y2, x1, x2) = oracle_cutout(torch.ones(1, 32, 32), length, rng.integers(32), rng.integers(32))
        ref.append((y2 - y1) * (x2 - x1) / 1024)
    assert stats.ks_2samp(ours, ref).pvalue > 1e-3
    assert float(ours.max()) == (2 * (length // 2)) ** 2 / 1024  # an odd length loses a pixel per side


def test_cutout_default_is_the_cifar10_recipe():
    mixer = mixkit.Cutout()
    params = mixer.draw(torch.Size((500, 3, 32, 32)), torch.Generator().manual_seed(3))
    assert float(params.erased.max()) == 16 * 16 / 1024
    assert bool((params.erased >= 8 * 8 / 1024).all())  # the centre is always inside: at least a quarter
