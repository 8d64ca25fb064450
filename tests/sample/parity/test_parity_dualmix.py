"""EnMix and AdpMix (DualMix, Fan et al. 2023; no authors' release) against oracles of their rules:
EnMix = MixUp over ``[stream; replay]``; AdpMix = cross pairs (stream <-> replay), input weight
``lam``, label weight ``lam w_a / (lam w_a + (1 - lam) w_b)`` with ``w_c = count_c ** -gamma``."""

import torch

import mixkit
from mixkit.sample.mixers.mixer import MixParams
from mixkit.sample.pairing import Pairs


def test_enmix_is_mixup_over_stream_and_replay():
    g = torch.Generator().manual_seed(0)
    x_new, x_old = torch.randn(3, 2, generator=g), torch.randn(2, 2, generator=g)
    y_new, y_old = torch.tensor([5, 6, 5]), torch.tensor([0, 1])
    out = mixkit.EnMix()(x_new, y_new, x_old, y_old, generator=torch.Generator().manual_seed(1))
    x = torch.cat([x_new, x_old])
    lam = out.lam.view(-1, 1)
    torch.testing.assert_close(out.x, lam * x + (1 - lam) * x[out.index])
    mixed = out.index != torch.arange(5)  # one lambda per batch (rows paired with themselves keep 1)
    assert bool((out.lam[mixed] == out.lam[mixed][0]).all())
    assert torch.equal(out.y, torch.cat([y_new, y_old])) and out.extras["num_stream"] == 3


def test_adpmix_label_weights_match_the_formula():
    mixer = mixkit.AdpMix(num_classes=4, gamma=0.5)
    g = torch.Generator().manual_seed(2)
    x_new, x_old = torch.randn(3, 2, generator=g), torch.randn(2, 2, generator=g)
    y_new, y_old = torch.tensor([2, 3, 3]), torch.tensor([0, 1])
    counts = torch.tensor([10.0, 4.0, 50.0, 80.0], dtype=torch.float64)
    out = mixer(x_new, y_new, x_old, y_old, generator=g, class_counts=counts)
    y, idx, lam_in = out.y, out.index, out.extras["input_lam"]
    assert all(int(i) >= 3 for i in idx[:3]) and all(int(i) < 3 for i in idx[3:])  # cross pairs
    x = torch.cat([x_new, x_old])
    torch.testing.assert_close(out.x, lam_in.view(-1, 1) * x + (1 - lam_in.view(-1, 1)) * x[idx])
    for i in range(5):
        a, b, lam = int(y[i]), int(y[int(idx[i])]), float(lam_in[i])
        wa, wb = float(counts[a]) ** -0.5, float(counts[b]) ** -0.5
        assert abs(float(out.lam[i]) - lam * wa / (lam * wa + (1 - lam) * wb)) < 1e-5
    # gamma = 0: plain mixup labels
    flat = mixkit.AdpMix(num_classes=4, gamma=0.0)
    lam = torch.tensor([0.2, 0.7])
    got = flat.label_weights(torch.tensor([0, 3]), torch.tensor([1, 0]), lam, counts)
    torch.testing.assert_close(got, lam)


def test_adpmix_apply_is_the_input_blend():
    x = torch.randn(4, 3)
    out, lam = mixkit.AdpMix(num_classes=3).apply(x, MixParams(Pairs(torch.tensor([2, 3, 0, 0])),
                                                                  torch.tensor([0.1, 0.5, 0.9, 1.0])))
    pairs = zip([2, 3, 0, 0], [0.1, 0.5, 0.9, 1.0])
    want = torch.stack([w * x[i] + (1 - w) * x[j] for i, (j, w) in enumerate(pairs)])
    torch.testing.assert_close(out, want)
