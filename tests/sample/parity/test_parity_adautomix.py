"""AdAutoMix parity: generator steps (even: adversarial, odd: teacher CE) and classifier steps against an
oracle written from the release's algorithm (JinXins/Adversarial-AutoMixup: classifiers/AdAutoMix.py
forward_train/co_mixup/mixup/forward_q/forward_k, heads/Ada_mix_pine.py AdaptiveMask with the CIFAR config),
on a tiny model with fixed weights, inputs, lambdas and permutations."""

import copy
import math

import numpy as np
import pytest
import torch
from parity_helpers import Staged, ks_ok, oracle_ce

import mixkit
from mixkit.sample.mixers.adautomix import AdAutoMixParams
from mixkit.sample.pairing import Pairs


def oracle_bilinear(grid, big_h, big_w):
    """align_corners=False bilinear upsampling, written out (source coordinate clamped at 0)."""
    h, w = grid.shape

    def axis(dst, n_src, n_dst):
        src = max((dst + 0.5) * n_src / n_dst - 0.5, 0.0)
        i0 = min(int(math.floor(src)), n_src - 1)
        i1 = min(i0 + 1, n_src - 1)
        return i0, i1, src - i0

    rows = []
    for r in range(big_h):
        r0, r1, fr = axis(r, h, big_h)
        row = []
        for c in range(big_w):
            c0, c1, fc = axis(c, w, big_w)
            top = grid[r0, c0] * (1 - fc) + grid[r0, c1] * fc
            bottom = grid[r1, c0] * (1 - fc) + grid[r1, c1] * fc
            row.append(top * (1 - fr) + bottom * fr)
        rows.append(torch.stack(row))
    return torch.stack(rows)


def oracle_masks(feats, sources, p, size):
    """AdaptiveMask for every row: q, k = ReLU(1x1 conv), v = 1x1 conv; source s attends with the sum over
    the other sources of q_s k_j; mask logit = attention @ own value; upsample; softmax over the sources."""
    wq, bq, wk, bk, wv, bv = p
    d = wq.shape[0]
    n_src, n = sources.shape
    out = []
    for r in range(n):
        f = [feats[sources[s, r]] for s in range(n_src)]  # [C, h, w] each
        _, h, w = f[0].shape
        cells = [[fs[:, i, j] for i in range(h) for j in range(w)] for fs in f]
        q = [[torch.relu(wq @ c + bq) for c in cs] for cs in cells]
        k = [[torch.relu(wk @ c + bk) for c in cs] for cs in cells]
        v = [[wv @ c + bv for c in cs] for cs in cells]
        logits = []
        for s in range(n_src):
            grid = []
            for i in range(h * w):
                scores = torch.stack([sum(q[s][i] @ k[j][t] for j in range(n_src) if j != s) / math.sqrt(d)
                                      for t in range(h * w)])
                att = torch.softmax(scores, 0)
                grid.append(sum(att[t] * v[s][t] for t in range(h * w)))
            logits.append(oracle_bilinear(torch.stack(grid).view(h, w), *size))
        out.append(torch.softmax(torch.stack(logits), 0))  # [S, H, W]
    return torch.stack(out)  # [B, S, H, W]


def oracle_combine(x, sources, masks):
    return torch.stack([sum(masks[r, s] * x[sources[s, r]] for s in range(sources.shape[0]))
                        for r in range(x.shape[0])])


def oracle_weighted_ce(logits, y, sources, lams):
    return sum(lams[s] * oracle_ce(logits, y[sources[s]]) for s in range(sources.shape[0])).mean()


def _names():
    return ["conv_q.weight", "conv_q.bias", "conv_k.weight", "conv_k.bias", "conv_v.weight", "conv_v.bias"]


def _as_oracle(w):
    return [w["conv_q.weight"].view(3, 6), w["conv_q.bias"], w["conv_k.weight"].view(3, 6), w["conv_k.bias"],
            w["conv_v.weight"].view(6), w["conv_v.bias"].view(())]


@pytest.mark.parametrize("case", ["three", "three_margin", "two"])
def test_generator_and_classifier_steps_match_the_release(case):
    torch.manual_seed(0)
    model = Staged()
    n = 5
    x = torch.randn(n, 2, 8, 8)
    y = torch.tensor([0, 1, 2, 3, 4])
    if case == "two":  # co_mix == 2: (x, x[index]) with separate lam_mb, lam_bb
        gsrc = torch.stack([torch.arange(n), torch.tensor([2, 0, 1, 4, 3])])
        src = torch.stack([torch.arange(n), torch.tensor([1, 2, 3, 4, 0])])
        glam, lam = torch.tensor([0.35, 0.65]), torch.tensor([0.8, 0.2])
    else:  # co_mix == 3: three random permutations each, normalised Beta draws shared
        gsrc = torch.tensor([[1, 2, 0, 4, 3], [2, 0, 1, 3, 4], [4, 3, 2, 1, 0]])
        src = torch.tensor([[0, 1, 2, 3, 4], [3, 4, 0, 1, 2], [1, 0, 4, 2, 3]])
        raw = torch.tensor([0.6, 0.3, 0.5]) if case == "three" else torch.tensor([0.02, 0.5, 0.6])
        glam = lam = raw / raw.sum()
    mixer = mixkit.AdAutoMix(in_channels=6)
    with torch.no_grad():
        for p in mixer.block.parameters():
            p.normal_(0, 0.4)
    fixed = AdAutoMixParams(Pairs(src[1]), lam[:1].expand(n).clone(), sources=src,
                            weights=lam.view(-1, 1).expand(-1, n).clone(), gen_sources=gsrc,
                            gen_weights=glam.view(-1, 1).expand(-1, n).clone())
    mixer.draw = lambda shape, g: fixed
    names = _names()
    w = {k: v.detach().clone() for k, v in mixer.block.named_parameters()}
    ref_model = copy.deepcopy(model)
    teacher = copy.deepcopy(model)
    teacher.requires_grad_(False)
    with torch.no_grad():
        feats = teacher.forward_stages(x)[2]
    buf = None
    tol = dict(atol=3e-5, rtol=2e-4)
    for it in range(2):  # iteration 0: adversarial objective; iteration 1: teacher CE
        step = mixer.training_step(model, x, y)
        # ---- oracle
        p = [t.clone().requires_grad_() for t in _as_oracle(w)]
        masks_mb = oracle_masks(feats, gsrc, p, (8, 8))
        masks_bb = oracle_masks(feats, src, p, (8, 8)).detach()
        margin_hit = (0.03 >= lam[0] or 0.03 > 1 - lam[0]) if case != "two" else (
            0.03 >= lam[0] or 0.03 >= 1 - lam[0])
        if margin_hit:
            masks_bb = lam.view(1, -1, 1, 1).expand_as(masks_bb).clone()
        x_mb = oracle_combine(x, gsrc, masks_mb)
        x_bb = oracle_combine(x, src, masks_bb)
        t_mix = teacher(x_mb)
        mix_k = oracle_weighted_ce(t_mix, y, gsrc, glam)
        if it % 2 == 0:
            preds = [teacher(x[gsrc[s]]) for s in range(gsrc.shape[0])]
            cos = sum(torch.nn.functional.cosine_similarity(t_mix, preds[s], dim=-1) * glam[s]
                      for s in range(gsrc.shape[0])).mean()
            gen_loss = -0.3 * mix_k + 0.7 * cos
        else:
            gen_loss = mix_k
        grads = torch.autograd.grad(gen_loss, p)
        d_p = [g + 1e-4 * q.detach() for g, q in zip(grads, p)]
        buf = d_p if buf is None else [0.9 * b + d for b, d in zip(buf, d_p)]
        new = [q.detach() - 0.1 * b for q, b in zip(p, buf)]
        for name, t in zip(names, new):
            w[name] = t.view_as(w[name])
        ref_model.zero_grad()
        one_q = oracle_ce(ref_model(x), y).mean()
        if src.shape[0] > 2:
            co_x = sum(x[src[s]] * lam[s] for s in range(src.shape[0]))
            re_q = 0.5 * one_q + 0.5 * oracle_weighted_ce(ref_model(co_x), y, src, lam)
        else:
            re_q = one_q
        cls_loss = oracle_weighted_ce(ref_model(x_bb), y, src, lam) + re_q
        cls_loss.backward()
        model.zero_grad()
        step.loss.backward()
        # ---- compare
        torch.testing.assert_close(step.mixed.extras["generator_x"], x_mb.detach(), **tol)
        torch.testing.assert_close(step.mixed.extras["generator_loss"], gen_loss.detach(), **tol)
        torch.testing.assert_close(step.mixed.x, x_bb, **tol)
        torch.testing.assert_close(step.mixed.extras["mask"], masks_bb, **tol)
        torch.testing.assert_close(step.loss, cls_loss.detach(), **tol)
        for name, param in mixer.block.named_parameters():
            torch.testing.assert_close(param.detach(), w[name], **tol, msg=f"{name} after iteration {it}")
        for (name, a), b in zip(model.named_parameters(), ref_model.parameters()):
            torch.testing.assert_close(a.grad, b.grad, **tol, msg=name)




def test_draws_normalised_beta_weights_shared_by_generator_and_classifier():
    """np.random.beta(1, 1, 3) normalised, one set per batch for both sides; random permutations."""
    mixer = mixkit.AdAutoMix()
    g = torch.Generator().manual_seed(0)
    draws = [mixer.draw(torch.Size([6, 3, 4, 4]), g) for _ in range(2000)]
    ref = np.random.default_rng(0).beta(1.0, 1.0, (2000, 3))
    ref = ref / ref.sum(1, keepdims=True)
    for s in range(3):
        assert ks_ok([float(d.weights[s, 0]) for d in draws], ref[:, s])
    assert all(torch.equal(d.weights, d.gen_weights) and bool((d.weights == d.weights[:, :1]).all())
               for d in draws[:50])
    assert np.mean([torch.equal(d.sources, d.gen_sources) for d in draws]) < 0.01
    counts = [int(mixkit.AdAutoMix(random_count=True).draw(torch.Size([4, 1, 4, 4]),
                                                           torch.Generator().manual_seed(s)).sources.shape[0])
              for s in range(200)]
    assert set(counts) == {2, 3} and 0.35 < counts.count(2) / 200 < 0.65  # random.randint(2, 3)
