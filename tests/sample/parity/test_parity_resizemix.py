"""ResizeMix against an oracle written from the reference implementation (Westlake-AI/openmixup:
openmixup/models/augments/resizemix.py): ``tau ~ U(0.1, 0.8)``, cut ``int(S tau)``, box ``c +- cut // 2``
around a uniform pixel, clipped; the whole partner resized (nearest) into the clipped box; ``lam`` = kept
share."""

import bisect
import math
import random

import torch

import mixkit


def oracle_paste(x, index, tau, cy, cx):
    """The reference's result for given draws, by loops over the box pixels."""
    b, c, h, w = x.shape
    ch, cw = int(h * tau), int(w * tau)
    y1, y2 = min(max(cy - ch // 2, 0), h), min(max(cy + ch // 2, 0), h)
    x1, x2 = min(max(cx - cw // 2, 0), w), min(max(cx + cw // 2, 0), w)
    out = x.clone()
    ph, pw = y2 - y1, x2 - x1
    for i in range(b):
        for r in range(ph):
            for q in range(pw):
                out[i, :, y1 + r, x1 + q] = x[index[i], :, math.floor(r * h / ph), math.floor(q * w / pw)]
    return out, 1 - ph * pw / (h * w)


def test_batch_paste_matches_the_reference_for_the_drawn_box():
    g = torch.Generator().manual_seed(0)
    x = torch.rand(5, 2, 20, 20, generator=g)
    mixer = mixkit.ResizeMix()
    for seed in range(20):
        out = mixer(x, generator=torch.Generator().manual_seed(seed))
        params = mixer.draw(x.shape, torch.Generator().manual_seed(seed))
        tau = float(params.tau[0])
        region = params.region
        if region is None:
            continue
        ys, xs = region[2], region[3]
        # recover the drawn centre: the unclipped span is [c - cut // 2, c + cut // 2)
        cut = int(20 * tau)
        cy = ys.stop - cut // 2 if ys.start == 0 else ys.start + cut // 2
        cx = xs.stop - cut // 2 if xs.start == 0 else xs.start + cut // 2
        ref, lam = oracle_paste(x, out.index.tolist(), tau, cy, cx)
        torch.testing.assert_close(out.x, ref)
        torch.testing.assert_close(out.lam, torch.full((5,), lam))


def ks_two_sample(a, b):
    a, b = sorted(a), sorted(b)
    return max(abs(bisect.bisect_right(a, v) / len(a) - bisect.bisect_right(b, v) / len(b))
               for v in sorted(set(a) | set(b)))


def test_lam_distribution_matches_the_reference_draws():
    """2,000 draws each (batch mode, 32 x 32): two-sample KS on lam, alpha = 0.001."""
    x = torch.zeros(2, 1, 32, 32)
    mixer = mixkit.ResizeMix()
    g = torch.Generator().manual_seed(0)
    ours = [float(mixer(x, generator=g).lam[0]) for _ in range(2000)]
    rng = random.Random(1)
    ref = []
    for _ in range(2000):
        tau = rng.uniform(0.1, 0.8)
        cut = int(32 * tau)
        cy, cx = rng.randrange(32), rng.randrange(32)
        ph = min(max(cy + cut // 2, 0), 32) - min(max(cy - cut // 2, 0), 32)
        pw = min(max(cx + cut // 2, 0), 32) - min(max(cx - cut // 2, 0), 32)
        ref.append(1 - ph * pw / 1024)
    assert ks_two_sample(ours, ref) < 1.95 * math.sqrt(2 / 2000)
    assert min(ours) >= 1 - 0.8 ** 2  # the patch never covers more than tau^2 of the image


def test_elem_boxes_may_cross_the_border_and_inside_is_an_option():
    x = torch.rand(400, 1, 16, 16, generator=torch.Generator().manual_seed(3))
    clip = mixkit.ResizeMix(mode="elem").draw(x.shape, torch.Generator().manual_seed(0)).boxes
    sides = clip.sides
    full = clip.sides.new_tensor([[2 * (int(16 * float(t)) // 2)] * 2 for t in
                                  mixkit.ResizeMix(mode="elem").draw(x.shape,
                                                                     torch.Generator().manual_seed(0)).tau])
    assert bool((sides <= full).all()) and bool((sides < full).any())  # some are clipped
    inside = mixkit.ResizeMix(mode="elem", placement="inside").draw(x.shape, torch.Generator().manual_seed(0))
    assert bool((inside.boxes.lo >= 0).all() and (inside.boxes.hi <= 16).all())
