"""CutMix against an oracle of clovaai/CutMix-PyTorch (train.py: ``rand_bbox`` and the training loop):
``cut = floor(S sqrt(1 - lam))``, box ``[c - cut // 2, c + cut // 2)`` clipped, one box per batch, label
weight = kept area (``correct_lam=True``) or the sampled lambda (``correct_lam=False``)."""

import numpy as np
import pytest
import torch

import mixkit
from mixkit.sample.functional.boxes import Boxes
from mixkit.sample.mixers.cutmix import BoxParams, cutmix_sides
from mixkit.sample.pairing import Pairs

stats = pytest.importorskip("scipy.stats")


def oracle_box(h, w, lam, cy, cx):
    """The release's rand_bbox for a given centre (rows, cols)."""
    ch, cw = int(h * np.sqrt(1 - lam)), int(w * np.sqrt(1 - lam))
    y1, y2 = np.clip(cy - ch // 2, 0, h), np.clip(cy + ch // 2, 0, h)
    x1, x2 = np.clip(cx - cw // 2, 0, w), np.clip(cx + cw // 2, 0, w)
    return int(y1), int(y2), int(x1), int(x2)


def oracle_cutmix(x, index, box):
    y1, y2, x1, x2 = box
    out = x.clone()
    for i in range(x.shape[0]):
        out[i, :, y1:y2, x1:x2] = x[int(index[i]), :, y1:y2, x1:x2]
    lam_true = 1 - (y2 - y1) * (x2 - x1) / (x.shape[2] * x.shape[3])
    return out, lam_true


@pytest.mark.parametrize("correct_lam", [True, False])
@pytest.mark.parametrize("lam,centre", [(0.3, (5, 7)), (0.55, (0, 11)), (0.9, (9, 2))])
def test_cutmix_apply_matches_the_release(correct_lam, lam, centre):
    x = torch.randn(5, 3, 10, 12, generator=torch.Generator().manual_seed(0))
    index = torch.tensor([2, 4, 0, 1, 3])
    box = oracle_box(10, 12, lam, *centre)
    region = (slice(None), slice(None), slice(box[0], box[1]), slice(box[2], box[3]))
    mixer = mixkit.CutMix(correct_lam=correct_lam)
    out, lam_out = mixer.apply(x, BoxParams(Pairs(index), torch.full((5,), lam), region=region))
    want, lam_true = oracle_cutmix(x, index, box)
    torch.testing.assert_close(out, want)
    torch.testing.assert_close(lam_out, torch.full((5,), lam_true if correct_lam else lam))


def test_cutmix_per_row_boxes_match_the_oracle():
    x = torch.randn(3, 2, 8, 8, generator=torch.Generator().manual_seed(1))
    index = torch.tensor([1, 2, 0])
    boxes = [oracle_box(8, 8, 0.4, 3, 3), oracle_box(8, 8, 0.7, 7, 0), oracle_box(8, 8, 0.2, 0, 4)]
    lo = torch.tensor([[b[0], b[2]] for b in boxes])
    hi = torch.tensor([[b[1], b[3]] for b in boxes])
    params = BoxParams(Pairs(index), torch.tensor([0.4, 0.7, 0.2]), boxes=Boxes(lo, hi, (8, 8)))
    out, lam = mixkit.CutMix(mode="elem").apply(x, params)
    for i, b in enumerate(boxes):
        want, lam_true = oracle_cutmix(x[[i, int(index[i])]], torch.tensor([1, 0]), b)
        torch.testing.assert_close(out[i], want[0])
        torch.testing.assert_close(float(lam[i]), lam_true, atol=1e-6, rtol=0)


def test_cutmix_sides_are_the_release_sides():
    lams = torch.linspace(0.0, 1.0, 101)
    got = cutmix_sides(1 - lams.double(), (32, 20))
    for lam, (sh, sw) in zip(lams.tolist(), got.tolist()):
        y1, y2, x1, x2 = oracle_box(32, 20, lam, 16, 10)  # centred: never clipped
        assert (sh, sw) == (y2 - y1, x2 - x1), lam


@pytest.mark.parametrize("mode", ["batch", "elem"])
def test_cutmix_box_areas_follow_the_release_distribution(mode):
    """KS of 2,000 true kept areas (lam ~ Beta(1, 1), uniform centre, clipping) against the oracle's."""
    mixer = mixkit.CutMix(mode=mode)
    g = torch.Generator().manual_seed(2)
    ours = []
    for _ in range(2000 if mode == "batch" else 250):
        params = mixer.draw(torch.Size((8, 1, 16, 12)), g)
        _, lam = mixer.apply(torch.zeros(8, 1, 16, 12), params)
        ours.extend(lam.tolist() if mode == "elem" else [float(lam[0])])
    rng = np.random.default_rng(3)
    ref = []
    for _ in range(2000):
        y1, y2, x1, x2 = oracle_box(16, 12, rng.beta(1, 1), rng.integers(16), rng.integers(12))
        ref.append(1 - (y2 - y1) * (x2 - x1) / 192)
    assert stats.ks_2samp(ours, ref).pvalue > 1e-3
    # the old rule (sides rounded, not evened) is a visibly different distribution on small images
    g = torch.Generator().manual_seed(2)
    wider = []
    for _ in range(2000):
        lam = float(torch.distributions.Beta(1.0, 1.0).sample())
        side = [round(s * (1 - lam) ** 0.5) for s in (16, 12)]
        c = [int(torch.randint(0, s, (1,), generator=g)) for s in (16, 12)]
        spans = [min(max(c_ + sd - sd // 2, 0), s) - min(max(c_ - sd // 2, 0), s)
                 for c_, sd, s in zip(c, side, (16, 12))]
        wider.append(1 - spans[0] * spans[1] / 192)
    assert np.mean(wider) < np.mean(ref)
