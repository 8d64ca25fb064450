"""AutoMix parity: one Mix Block step and one classifier step against an oracle written from the release's
algorithm (Westlake-AI/openmixup: classifiers/automix.py AutoMixup.forward_train/pixel_mixup,
heads/pmix_block.py PixelMixBlock with the CIFAR config, core/hooks/momentum_hook.py CosineScheduleHook), on a
tiny model with fixed weights, inputs, lambdas and permutations."""

import copy
import math

import numpy as np
import pytest
import torch
from parity_helpers import Staged, ks_ok, oracle_ce

import mixkit
from mixkit.sample.pairing import Pairs


def oracle_partner_mask(fa, fb, wq, bq, wv, bv, size):
    """PixelMixBlock for one row: shared query conv for q (row) and k (partner), one-channel value of the
    partner, P @ v, nearest upsampling, sigmoid. Returns the partner's weight [H, W]."""
    c, h, w = fa.shape
    d = wq.shape[0]
    cells_a = [fa[:, i, j] for i in range(h) for j in range(w)]
    cells_b = [fb[:, i, j] for i in range(h) for j in range(w)]
    q = [wq @ v + bq for v in cells_a]
    k = [wq @ v + bq for v in cells_b]
    val = [wv @ v + bv for v in cells_b]
    logit = []
    for qi in q:
        scores = torch.stack([qi @ kj / math.sqrt(d) for kj in k])
        p = torch.softmax(scores, 0)
        logit.append(sum(p[t] * val[t] for t in range(len(val))))
    grid = torch.stack(logit).view(h, w)
    big_h, big_w = size
    up = torch.stack([torch.stack([grid[r * h // big_h, s * w // big_w] for s in range(big_w)])
                      for r in range(big_h)])
    return torch.sigmoid(up)


def oracle_own_masks(feats, idx, wq, bq, wv, bv, size):
    return torch.stack([1 - oracle_partner_mask(feats[r], feats[idx[r]], wq, bq, wv, bv, size)
                        for r in range(feats.shape[0])])  # [B, H, W]


def oracle_mix(x, idx, own):
    return torch.stack([own[r] * x[r] + (1 - own[r]) * x[idx[r]] for r in range(x.shape[0])])


@pytest.mark.parametrize("lam_c", [0.65, 0.05])
def test_one_generator_and_one_classifier_step_match_the_release(lam_c):
    torch.manual_seed(0)
    model = Staged()
    x = torch.randn(6, 2, 8, 8)
    y = torch.tensor([0, 1, 2, 3, 4, 1])
    lam_g = 0.3  # mask mean ~0.5 at init: the mask loss is active (gap > margin 0.1)
    idx_g = torch.tensor([2, 0, 1, 5, 3, 4])
    idx_c = torch.tensor([1, 2, 0, 3, 5, 4])  # row 3 paired with itself
    mixer = mixkit.AutoMix(in_channels=6)
    with torch.no_grad():
        for p in mixer.block.parameters():
            p.normal_(0, 0.3)
    w0 = {k: v.detach().clone() for k, v in mixer.block.named_parameters()}
    fixed = mixkit.sample.mixers.automix.AutoMixParams(
        Pairs(idx_c), torch.full((6,), lam_c), gen_pairs=Pairs(idx_g), gen_lam=torch.full((6,), lam_g))
    mixer.draw = lambda shape, g: fixed
    ref_model = copy.deepcopy(model)
    step = mixer.training_step(model, x, y)
    step.loss.backward()

    # ---- oracle: the release's step
    teacher = copy.deepcopy(ref_model)  # backbone_k starts as a copy of backbone_q, in train mode
    teacher.requires_grad_(False)
    with torch.no_grad():
        feats = teacher.forward_stages(x)[2]  # mask_layer=2
    wq = w0["query.weight"].view(3, 6).clone().requires_grad_()
    bq = w0["query.bias"].clone().requires_grad_()
    wv = w0["value.weight"].view(6).clone().requires_grad_()
    bv = w0["value.bias"].view(()).clone().requires_grad_()
    own_mb = oracle_own_masks(feats, idx_g, wq, bq, wv, bv, (8, 8))
    own_bb = oracle_own_masks(feats, idx_c, wq, bq, wv, bv, (8, 8)).detach()
    if lam_c <= 0.08 or 1 - lam_c <= 0.08:  # lam_margin: plain mixup for the classifier
        own_bb = torch.full_like(own_bb, lam_c)
    x_mb = oracle_mix(x, idx_g, own_mb.unsqueeze(1))
    x_bb = oracle_mix(x, idx_c, own_bb.unsqueeze(1))
    t_logits = teacher(x_mb)
    mix_k = (lam_g * oracle_ce(t_logits, y) + (1 - lam_g) * oracle_ce(t_logits, y[idx_g])).mean()
    m_mean = (1 - own_mb).sum() / own_mb.numel()  # partner mask mean
    mask_loss = 0.1 * torch.clamp(torch.abs(1 - m_mean - lam_g) - 0.1, min=0.0)
    gen_loss = mix_k + mask_loss
    grads = torch.autograd.grad(gen_loss, [wq, bq, wv, bv])
    new = []
    for p, g in zip([wq, bq, wv, bv], grads):  # SGD, first step: buf = g + wd p
        new.append(p.detach() - 0.1 * (g + 1e-4 * p.detach()))
    one_q = oracle_ce(ref_model(x), y).mean()
    mixed_logits = ref_model(x_bb)
    mix_q = (lam_c * oracle_ce(mixed_logits, y) + (1 - lam_c) * oracle_ce(mixed_logits, y[idx_c])).mean()
    cls_loss = mix_q + one_q
    cls_loss.backward()

    tol = dict(atol=2e-5, rtol=1e-4)
    torch.testing.assert_close(step.mixed.extras["generator_x"], x_mb.detach(), **tol)
    torch.testing.assert_close(step.mixed.extras["generator_loss"], gen_loss.detach(), **tol)
    assert float(mask_loss.detach()) > 0
    torch.testing.assert_close(step.mixed.x, x_bb, **tol)
    torch.testing.assert_close(step.mixed.extras["mask"][:, 0], own_bb, **tol)
    torch.testing.assert_close(step.mixed.lam, torch.full((6,), lam_c))
    torch.testing.assert_close(step.loss, cls_loss.detach(), **tol)
    got = [mixer.block.query.weight.view(3, 6), mixer.block.query.bias, mixer.block.value.weight.view(6),
           mixer.block.value.bias.view(())]
    for g_, n_, p0 in zip(got, new, [wq, bq, wv, bv]):
        assert not torch.allclose(n_, p0.detach())  # the step moved it
        torch.testing.assert_close(g_.detach(), n_, **tol)
    for (name, p), q in zip(model.named_parameters(), ref_model.parameters()):
        torch.testing.assert_close(p.grad, q.grad, **tol, msg=name)


def test_ema_momentum_follows_the_cosine_schedule_hook():
    """CosineScheduleHook(end_momentum=0.999999, adjust_scope=[0.1, 1.0], warming_up='constant') then
    momentum_update after the iteration; the block's lr cosine from 0.1 to 0.05."""
    total = 40
    torch.manual_seed(1)
    model = Staged()
    mixer = mixkit.AutoMix(total_steps=total)
    x, y = torch.randn(4, 2, 8, 8), torch.tensor([0, 1, 2, 3])
    mixer.training_step(model, x, y, generator=torch.Generator().manual_seed(0))
    teacher = {k: v.clone() for k, v in mixer.teacher.named_parameters()}
    for k in range(total):
        with torch.no_grad():
            for p in model.parameters():
                p.add_(0.01)
        min_iter, max_iter = int(total * 0.1), total
        cosine = 0.999999 - (0.999999 - 0.999) * (math.cos(math.pi * k / max_iter) + 1) / 2
        m = 0.999 if k < min_iter else cosine
        params = dict(model.named_parameters())
        teacher = {n: t * m + params[n].detach() * (1 - m) for n, t in teacher.items()}
        mixer.on_step_end(model, k)
        assert mixer.momentum == pytest.approx(m, abs=1e-12)
        lr = 0.05 + 0.05 * (1 + math.cos(math.pi * (k + 1) / total)) / 2
        assert mixer.optimizer().param_groups[0]["lr"] == pytest.approx(lr, abs=1e-12)
    for n, t in mixer.teacher.named_parameters():
        torch.testing.assert_close(t, teacher[n], atol=1e-6, rtol=1e-5)




def test_draws_two_independent_lams_and_permutations():
    """np.random.beta(2, 2, 2) (one lam per batch for each of mb, bb) and two torch.randperm."""
    mixer = mixkit.AutoMix()
    g = torch.Generator().manual_seed(0)
    draws = [mixer.draw(torch.Size([8, 3, 4, 4]), g) for _ in range(2000)]
    lam_c = [float(d.lam[0]) for d in draws]
    lam_g = [float(d.gen_lam[0]) for d in draws]
    assert all(bool((d.lam == d.lam[0]).all()) for d in draws[:50])
    ref = np.random.default_rng(0).beta(2.0, 2.0, (2000, 2))
    assert ks_ok(lam_c, ref[:, 0]) and ks_ok(lam_g, ref[:, 1])
    assert abs(np.corrcoef(lam_c, lam_g)[0, 1]) < 0.1
    same = np.mean([torch.equal(d.pairs.index, d.gen_pairs.index) for d in draws])
    assert same < 0.01
    fixed = np.mean([float((d.pairs.index == torch.arange(8)).float().mean()) for d in draws])
    assert abs(fixed - 1 / 8) < 0.02  # random permutations (expected fixed-point share 1/B)
