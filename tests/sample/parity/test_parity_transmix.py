"""TransMix parity: labels, inputs and loss against an oracle written from the release's algorithm
(Beckschen/TransMix: transmix.py, Mixup_transmix.transmix_label on timm's Mixup) and its box sampler."""

import math

import numpy as np
import pytest
import torch
from parity_helpers import ks_ok

import mixkit
from mixkit.bench.models import TinyViT
from mixkit.sample import transmix_lam


def oracle_partner_weight(box, attn_row, h, w, grid):
    """Release: lam0 = box area; nearest-downsampled box mask on the patch grid; lam1 = attention on the
    box / total attention; partner weight (lam0 + lam1) / 2."""
    yl, yh, xl, xh = box
    lam0 = (yh - yl) * (xh - xl) / (h * w)
    on, total = 0.0, 0.0
    for i in range(grid):
        for j in range(grid):
            py, px = (i * h) // grid, (j * w) // grid  # nearest: the patch's top-left pixel
            a = attn_row[i * grid + j]
            total += a
            if yl <= py < yh and xl <= px < xh:
                on += a
    return (lam0 + on / total) / 2


def oracle_soft_ce(logits_row, y1, y2, partner_w, k, smoothing):
    off = smoothing / k
    on = 1 - smoothing + off
    target = [(on if c == y1 else off) * (1 - partner_w) + (on if c == y2 else off) * partner_w
              for c in range(k)]
    mx = max(logits_row)
    lse = mx + math.log(sum(math.exp(v - mx) for v in logits_row))
    return -sum(t * (v - lse) for t, v in zip(target, logits_row))


def test_transmix_lam_matches_the_release_on_a_fixed_box_and_attention():
    g = torch.Generator().manual_seed(0)
    attn = torch.rand(3, 16, generator=g, dtype=torch.float64)
    box = (1, 6, 3, 8)  # rows 1:6, cols 3:8 of a 8x8 image, 4x4 grid of 2x2 patches: not patch-aligned
    mask = torch.zeros(3, 1, 8, 8, dtype=torch.bool)
    mask[:, :, 1:6, 3:8] = True
    got = transmix_lam(attn, mask, 4)
    want = [1 - oracle_partner_weight(box, attn[b].tolist(), 8, 8, 4) for b in range(3)]
    torch.testing.assert_close(got, torch.tensor(want, dtype=torch.float32))


def test_transmix_step_matches_the_release_oracle():
    torch.manual_seed(0)
    model = TinyViT(image_size=16, patch_size=4, in_channels=3, num_classes=5, dim=32, depth=1, heads=2)
    model = model.double()
    x, y = torch.randn(6, 3, 16, 16, dtype=torch.float64), torch.tensor([0, 1, 2, 3, 4, 0])
    mixer = mixkit.TransMix(switch_prob=1.0)
    step = mixer.training_step(model, x, y, generator=torch.Generator().manual_seed(4))
    p = mixer.draw(x.shape, torch.Generator().manual_seed(4))
    (yl, xl), (yh, xh) = p.boxes.lo[0].tolist(), p.boxes.hi[0].tolist()
    assert (p.boxes.lo == p.boxes.lo[0]).all() and 0 < (yh - yl) * (xh - xl) < 256
    xm = x.clone()
    xm[:, :, yl:yh, xl:xh] = x.flip(0)[:, :, yl:yh, xl:xh]  # release: paste from the flipped batch
    torch.testing.assert_close(step.mixed.x, xm)
    with torch.no_grad():
        logits, attn = model.forward_with_attention(xm)
    losses = []
    for b in range(6):
        w = oracle_partner_weight((yl, yh, xl, xh), attn[b].tolist(), 16, 16, 4)
        losses.append(oracle_soft_ce(logits[b].tolist(), int(y[b]), int(y.flip(0)[b]), w, 5, 0.1))
    # lam passes through float32 (the MixedBatch label weight)
    assert float(step.loss.detach()) == pytest.approx(sum(losses) / 6, rel=1e-6)


def _timm_rand_bbox_area(lam, h, w, rng):
    cut = math.sqrt(1 - lam)
    ch, cw = int(h * cut), int(w * cut)
    cy, cx = rng.integers(0, h), rng.integers(0, w)
    yl, yh = np.clip(cy - ch // 2, 0, h), np.clip(cy + ch // 2, 0, h)
    xl, xh = np.clip(cx - cw // 2, 0, w), np.clip(cx + cw // 2, 0, w)
    return (yh - yl) * (xh - xl) / (h * w)


def test_box_area_and_switch_distributions_match_timm():
    mixer = mixkit.TransMix()
    g = torch.Generator().manual_seed(1)
    areas, cutmix = [], 0
    draws = 0
    while len(areas) < 2000:
        p = mixer.draw(torch.Size([2, 3, 24, 24]), g)
        draws += 1
        if p.use_cutmix:
            cutmix += 1
            areas.append(float(p.boxes.area()[0]))
    rng = np.random.default_rng(0)
    ref = [_timm_rand_bbox_area(rng.beta(1.0, 1.0), 24, 24, rng) for _ in range(2000)]
    assert ks_ok(areas, ref)
    assert abs(cutmix / draws - 0.5) < 4 * math.sqrt(0.25 / draws)  # switch_prob 0.5
    mixup = mixkit.TransMix(switch_prob=0.0)
    lams = [float(mixup.draw(torch.Size([2, 1, 4, 4]), g).lam[0]) for _ in range(2000)]
    assert ks_ok(lams, rng.beta(0.8, 0.8, size=2000))  # MixUp batches: Beta(0.8, 0.8)
    assert not ks_ok(lams, rng.beta(2.0, 2.0, size=2000))
