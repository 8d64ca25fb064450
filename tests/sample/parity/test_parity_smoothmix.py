"""SmoothMix against an oracle written from the reference implementation (Westlake-AI/openmixup:
openmixup/models/augments/smoothmix.py): a Gaussian over a 2H x 2H coordinate grid centred at (2H - 1) / 2,
rolled by the drawn offsets and cropped to the middle H x H; ``sigma ~ U(0.25, 0.5) H``; ``lam = 1 - mean``.
"""

import bisect
import math
import random

import torch

import mixkit
from mixkit.sample.mixers.smoothmix import SmoothParams


def oracle_kernel(h, roll_r, roll_c, sigma):
    """The reference's mask for a square h x h image, by loops over the rolled 2h grid."""
    s = 2 * h
    mean = (s - 1) / 2
    crop = s // 4
    out = torch.zeros(h, h, dtype=torch.float64)
    for i in range(h):
        for j in range(h):
            a, b = i + crop, j + crop  # position in the rolled grid
            row, col = (a - roll_r) % s, (b - roll_c) % s  # torch.roll: new[a] = old[a - shift]
            out[i, j] = math.exp(-((row - mean) ** 2 + (col - mean) ** 2) / (2 * sigma ** 2))
    return out


def test_gaussian_mask_matches_the_reference_kernel():
    h = 16
    x = torch.cat([torch.zeros(3, 1, h, h), torch.ones(3, 1, h, h)])  # own 0, partner 1: pixel = mask
    mixer = mixkit.SmoothMix(mode="elem", pairing="flip")
    cases = [(0, 0, 4.5), (15, 3, 6.0), (8, 11, 7.9)]
    cy = torch.tensor([float(c[0]) for c in cases] * 2)
    cx = torch.tensor([float(c[1]) for c in cases] * 2)
    sigma = torch.tensor([c[2] for c in cases] * 2)
    base = mixer.draw(x.shape, torch.Generator().manual_seed(0))
    params = SmoothParams(base.pairs, torch.full((6,), 0.5), cy=cy, cx=cx, sigma=sigma)
    mixed, lam = mixer.apply(x, params)
    for r, (ky, kx, sg) in enumerate(cases):
        if int(base.pairs.index[r]) == r:
            continue
        ref = oracle_kernel(h, ky - h // 2, kx - h // 2, sg)
        torch.testing.assert_close(mixed[r, 0].double(), ref, atol=1e-6, rtol=0)
        assert abs(float(lam[r]) - (1 - float(ref.mean()))) < 1e-6


def ks_two_sample(a, b):
    a, b = sorted(a), sorted(b)
    grid = sorted(set(a) | set(b))
    return max(abs(bisect.bisect_right(a, v) / len(a) - bisect.bisect_right(b, v) / len(b)) for v in grid)


def test_lam_distribution_matches_the_reference_draws():
    """2,000 draws each: two-sample Kolmogorov-Smirnov on lam (alpha = 0.001: D < 1.95 sqrt(2 / 2000))."""
    h = 12
    x = torch.cat([torch.zeros(1, 1, h, h), torch.ones(1, 1, h, h)])
    mixer = mixkit.SmoothMix()
    g = torch.Generator().manual_seed(0)
    ours = [float(mixer(x, generator=g).lam[0]) for _ in range(2000)]
    rng = random.Random(1)
    ref = []
    for _ in range(2000):
        roll_r, roll_c = rng.randrange(h) - h // 2, rng.randrange(h) - h // 2
        sigma = (rng.random() / 4 + 0.25) * h
        ref.append(1 - float(oracle_kernel(h, roll_r, roll_c, sigma).mean()))
    assert ks_two_sample(ours, ref) < 1.95 * math.sqrt(2 / 2000)


def test_batch_mode_shares_one_mask_and_lam_is_the_mask_mean():
    x = torch.cat([torch.zeros(4, 1, 10, 10), torch.ones(4, 1, 10, 10)])
    out = mixkit.SmoothMix(pairing="flip")(x, generator=torch.Generator().manual_seed(5))
    masks = torch.where(torch.arange(8).view(-1, 1, 1) < 4, out.x[:, 0], 1 - out.x[:, 0])
    torch.testing.assert_close(masks, masks[:1].expand(8, -1, -1))
    torch.testing.assert_close(out.lam, 1 - masks.mean((1, 2)))
