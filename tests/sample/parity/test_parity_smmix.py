"""SMMix parity: region placement, mixed images and the three losses against an oracle written from the
release's algorithm (ChenMnZ/SMMix: smmix.py, engine.py, deit.py), on fixed attention and region size."""

import math

import numpy as np
import pytest
import torch
from parity_helpers import ks_ok

import mixkit
from mixkit.bench.models import TinyViT


def _window_sums(attn_row, s, k):
    """Sum of attention over every k x k window, row-major over window corners (the release's unfold)."""
    return [sum(attn_row[(r + i) * s + c + j] for i in range(k) for j in range(k))
            for r in range(s - k + 1) for c in range(s - k + 1)]


def oracle_smmix_images(x, attn, s, k):
    """Release smmix(): target = own min window, source = partner (flipped row)'s max window; patches copied
    in row-major order of the window. Returns the mixed batch and the pasted-patch mask [B][N]."""
    b, p = x.shape[0], x.shape[-1] // s
    mixed = x.clone()
    pasted = [[False] * (s * s) for _ in range(b)]
    n_corner = s - k + 1
    for i in range(b):
        own = _window_sums(attn[i].tolist(), s, k)
        other = _window_sums(attn[b - 1 - i].tolist(), s, k)
        t = min(range(len(own)), key=lambda q: (own[q], q))
        src = max(range(len(other)), key=lambda q: (other[q], -q))
        tr, tc, sr, sc = t // n_corner, t % n_corner, src // n_corner, src % n_corner
        for di in range(k):
            for dj in range(k):
                ty, tx, sy, sx = (tr + di) * p, (tc + dj) * p, (sr + di) * p, (sc + dj) * p
                mixed[i, :, ty:ty + p, tx:tx + p] = x[b - 1 - i, :, sy:sy + p, sx:sx + p]
                pasted[i][(tr + di) * s + tc + dj] = True
    return mixed, pasted


def _log_softmax(row):
    mx = max(row)
    lse = mx + math.log(sum(math.exp(v - mx) for v in row))
    return [v - lse for v in row]


def _soft_ce(row, target):
    return -sum(t * lp for t, lp in zip(target, _log_softmax(row)))


def _smooth(y, k, eps):
    return [1 - eps + eps / k if c == y else eps / k for c in range(k)]


def oracle_losses(logits, tokens, head, clean_logits, pasted, y, lam, k_cls, eps):
    b = len(y)
    cls = fine = con = 0.0
    for i in range(b):
        j = b - 1 - i
        y1, y2 = _smooth(int(y[i]), k_cls, eps), _smooth(int(y[j]), k_cls, eps)
        cls += _soft_ce(logits[i].tolist(), [lam * u + (1 - lam) * v for u, v in zip(y1, y2)])
        own = [n for n in range(len(pasted[i])) if not pasted[i][n]]
        src = [n for n in range(len(pasted[i])) if pasted[i][n]]
        t_res = head(tokens[i, own].mean(0)).tolist()
        s_res = head(tokens[i, src].mean(0)).tolist()
        fine += 0.5 * (_soft_ce(t_res, y1) + _soft_ce(s_res, y2))
        zi, zj = clean_logits[i].tolist(), clean_logits[j].tolist()
        mixed_clean = [lam * u + (1 - lam) * v for u, v in zip(zi, zj)]
        q = [math.exp(v) for v in _log_softmax(mixed_clean)]
        logp = _log_softmax(logits[i].tolist())
        con += sum(qq * (math.log(qq) - lp) for qq, lp in zip(q, logp))
    return cls / b + fine / b + con / b


def test_smmix_step_matches_the_release_oracle():
    torch.manual_seed(0)
    model = TinyViT(image_size=12, patch_size=2, in_channels=2, num_classes=4, dim=16, depth=1, heads=2)
    model = model.double()
    x = torch.randn(6, 2, 12, 12, dtype=torch.float64)
    y = torch.tensor([0, 1, 2, 3, 0, 1])
    mixer = mixkit.SMMix(switch_prob=1.0)
    step = mixer.training_step(model, x, y, generator=torch.Generator().manual_seed(2))
    k = step.mixed.extras["side"]
    assert 1 <= k <= 4  # int(6 * 0.25) .. int(6 * 0.75)
    with torch.no_grad():
        clean_logits, attn = model.forward_with_attention(x, query="image")
        mixed, pasted = oracle_smmix_images(x, attn, 6, k)
        torch.testing.assert_close(step.mixed.x, mixed)
        assert step.mixed.extras["token_mask"].tolist() == pasted
        logits, tokens = model.forward_tokens(mixed)
        lam = (36 - k * k) / 36
        want = oracle_losses(logits, tokens, model.head, clean_logits, pasted, y, lam, 4, 0.1)
    # lam passes through float32 (the MixedBatch label weight)
    assert float(step.loss.detach()) == pytest.approx(want, rel=1e-6)


def test_image_token_attention_is_the_mean_over_heads_and_querying_patches():
    torch.manual_seed(1)
    model = TinyViT(image_size=8, patch_size=2, in_channels=1, num_classes=3, dim=8, depth=1, heads=2)
    x = torch.randn(2, 1, 8, 8)
    seen = {}
    block = model.blocks[-1]
    orig = block.attn.forward

    def spy(t, need_weights=False):
        out, w = orig(t, need_weights)
        seen["w"] = w
        return out, w

    block.attn.forward = spy
    _, image_attn = model.forward_with_attention(x, query="image")
    w = seen["w"]
    want = torch.stack([torch.stack([sum(w[b, h, q, 1 + n] for h in range(2) for q in range(1, 17)) / 32
                                     for n in range(16)]) for b in range(2)])
    torch.testing.assert_close(image_attn, want)


def test_region_side_is_uniform_over_the_release_range():
    mixer = mixkit.SMMix()
    g = torch.Generator().manual_seed(0)
    x, attn = torch.randn(2, 1, 14, 14), torch.rand(2, 196)
    sides = [mixer(x, None, generator=g, attn=attn, patch_size=1, grid=(14, 14)).extras["side"]
             for _ in range(2000)]
    assert set(sides) == set(range(3, 11))  # int(14 * 0.25) = 3 .. int(14 * 0.75) = 10
    ref = np.random.default_rng(0).integers(3, 11, size=2000)  # the release: random.choice over 3..10
    assert ks_ok(sides, ref)
    assert not ks_ok(sides, np.random.default_rng(1).integers(3, 9, size=2000))
