"""SaliencyMix against an oracle written from the release (afm-shahab-uddin/SaliencyMix:
SaliencyMix_CIFAR/saliencymix.py) and the fine-grained saliency it calls (Montabone & Soto 2010, as in
OpenCV's StaticSaliencyFineGrained): per-pixel loops over integral-image windows, one box per batch centred
on the saliency peak of row 0's partner, ``lam`` = kept area."""

import math

import torch

import mixkit
from mixkit.sample.functional.saliency_maps import fine_grained_saliency

SCALES = (12, 24, 48, 28, 56, 112)


def oracle_fine_grained(img):
    """[C, H, W] -> [H, W] by loops (float64, no 8-bit rounding)."""
    c, h, w = img.shape
    gray = [[0.114 * float(img[0, y, x]) + 0.587 * float(img[1, y, x]) + 0.299 * float(img[2, y, x])
             for x in range(w)] for y in range(h)]

    def blur(a):
        def at(y, x):
            y = -y if y < 0 else (2 * (h - 1) - y if y >= h else y)  # mirror without repeating the edge
            x = -x if x < 0 else (2 * (w - 1) - x if x >= w else x)
            return a[y][x]
        k = (0.25, 0.5, 0.25)
        rows = [[sum(k[t] * at(y, x + t - 1) for t in range(3)) for x in range(w)] for y in range(h)]
        a = rows
        return [[sum(k[t] * at(y + t - 1, x) for t in range(3)) for x in range(w)] for y in range(h)]

    gray = blur(blur(gray))
    integ = [[0.0] * (w + 1) for _ in range(h + 1)]
    for y in range(h):
        for x in range(w):
            integ[y + 1][x + 1] = gray[y][x] + integ[y][x + 1] + integ[y + 1][x] - integ[y][x]
    on = [[0.0] * w for _ in range(h)]
    off = [[0.0] * w for _ in range(h)]
    for s in SCALES:
        for y in range(h):
            for x in range(w):
                x1, y1 = min(max(x - s + 1, 0), w), min(max(y - s + 1, 0), h)
                x2, y2 = min(max(x + s + 1, 0), w), min(max(y + s + 1, 0), h)
                tot = integ[y2][x2] + integ[y1][x1] - integ[y2][x1] - integ[y1][x2]
                mean = (tot - gray[y][x]) / ((x2 - x1) * (y2 - y1) - 1)
                on[y][x] += max(gray[y][x] - mean, 0.0)
                off[y][x] += max(mean - gray[y][x], 0.0)
    mon = max(max(r) for r in on)
    moff = max(max(r) for r in off)
    sal = [[on[y][x] / mon + off[y][x] / moff for x in range(w)] for y in range(h)]
    top = max(max(r) for r in sal)
    return torch.tensor([[v / top for v in r] for r in sal], dtype=torch.float64)


def test_fine_grained_map_matches_the_loop_oracle():
    g = torch.Generator().manual_seed(0)
    x = torch.rand(2, 3, 20, 26, generator=g)
    x[0, :, 5:9, 14:19] += 2.0  # a bright object
    ours = fine_grained_saliency(x)
    for i in range(2):
        torch.testing.assert_close(ours[i].double(), oracle_fine_grained(x[i]), atol=2e-5, rtol=0)


def test_one_box_per_batch_centred_on_the_peak_of_row_zeros_partner():
    g = torch.Generator().manual_seed(1)
    b, h, w = 5, 32, 32
    x = torch.rand(b, 3, h, w, generator=g)
    for seed in range(5):
        out = mixkit.SaliencyMix()(x, generator=torch.Generator().manual_seed(seed))
        j0 = int(out.index[0])
        sal = oracle_fine_grained(x[j0])
        flat = int(sal.flatten().argmax())
        r, c = flat // w, flat % w
        lam = float(mixkit.SaliencyMix().draw(x.shape, torch.Generator().manual_seed(seed)).lam[0])
        cut = int(h * math.sqrt(1 - lam))
        y1, y2 = min(max(r - cut // 2, 0), h), min(max(r + cut // 2, 0), h)
        x1, x2 = min(max(c - cut // 2, 0), w), min(max(c + cut // 2, 0), w)
        expect = x.clone()
        expect[:, :, y1:y2, x1:x2] = x[out.index][:, :, y1:y2, x1:x2]
        torch.testing.assert_close(out.x, expect)
        torch.testing.assert_close(out.lam, torch.full((b,), 1 - (y2 - y1) * (x2 - x1) / (h * w)))


def test_per_row_boxes_are_a_named_option():
    x = torch.rand(4, 3, 16, 16, generator=torch.Generator().manual_seed(2))
    out = mixkit.SaliencyMix(mode="elem", saliency="spectral")(x, generator=torch.Generator().manual_seed(0))
    assert out.x.shape == x.shape and (out.lam <= 1).all()
