"""TransMix and SMMix: attention label rule by hand, region placement, and steps on a tiny ViT."""

import pytest
import torch
from torch import nn

import mixkit
from mixkit.bench.models import TinyViT
from mixkit.sample import ModelAwareMixer, max_min_regions, paste_patches, patch_fraction, transmix_lam


def _gen(seed=0):
    return torch.Generator().manual_seed(seed)


def test_transmix_lam_by_hand():
    attn = torch.tensor([[0.5, 0.3, 0.1, 0.1], [0.0, 0.0, 0.0, 0.0]])
    mask = torch.tensor([[0.0, 1.0, 0.0, 1.0], [1.0, 1.0, 1.0, 0.0]])
    lam = transmix_lam(attn, mask, label="attention")
    torch.testing.assert_close(lam, torch.tensor([0.6, 0.25]))  # zero attention falls back to the area
    lam = transmix_lam(attn, mask)  # mean of area (0.5, 0.25) and attention (0.6, 0.25)
    torch.testing.assert_close(lam, torch.tensor([0.55, 0.25]))


def test_patch_fraction_area_and_nearest_and_area_label_from_pixels():
    mask = torch.zeros(2, 1, 8, 8, dtype=torch.bool)
    mask[0, :, :3, :5] = True  # not patch-aligned for 4x4 patches
    torch.testing.assert_close(patch_fraction(mask, 2), torch.tensor([[12 / 16, 3 / 16, 0.0, 0.0]] * 1 +
                                                                     [[0.0] * 4]))
    # nearest: the top-left pixel of each patch decides (pixels (0, 0), (0, 4), (4, 0), (4, 4))
    torch.testing.assert_close(patch_fraction(mask, 2, "nearest")[0], torch.tensor([1.0, 1.0, 0.0, 0.0]))
    lam = transmix_lam(torch.full((2, 4), 0.25), mask, 2, patch_mask="area")
    torch.testing.assert_close(lam, 1 - mask.flatten(1).float().mean(1))
    with pytest.raises(ValueError, match="grid_size"):
        transmix_lam(torch.full((2, 4), 0.25), mask)
    with pytest.raises(ValueError, match="cls_attn"):
        transmix_lam(torch.full((2, 5), 0.2), mask, 2)
    with pytest.raises(ValueError, match="label"):
        transmix_lam(torch.full((2, 4), 0.25), mask, 2, label="area")


def test_transmix_step_on_tiny_vit_uses_cutmix_inputs_and_attention_labels():
    torch.manual_seed(0)
    model = TinyViT(image_size=16, patch_size=4, in_channels=3, num_classes=5, dim=32, depth=1, heads=2)
    x, y = torch.randn(6, 3, 16, 16), torch.randint(0, 5, (6,))
    mixer = mixkit.build("transmix:alpha=1.0,mode='elem',switch_prob=1.0")
    assert isinstance(mixer, ModelAwareMixer) and mixer.requires == {"attention"}
    step = mixer.training_step(model, x, y, generator=_gen(1))
    out = step.mixed
    mask = out.extras["partner_mask"]
    assert out.extras["use_cutmix"]
    torch.testing.assert_close(out.x, torch.where(mask, x[out.index], x))
    torch.testing.assert_close(out.extras["area_lam"], 1 - mask.flatten(1).float().mean(1))
    _, attn = model.forward_with_attention(out.x)
    torch.testing.assert_close(out.lam, transmix_lam(attn, mask, 4))
    torch.testing.assert_close(step.loss, out.loss(step.logits, label_smoothing=0.1))
    step.loss.backward()
    assert model.patch_embed.weight.grad.abs().sum() > 0
    with pytest.raises(TypeError, match="attention"):
        mixer.training_step(nn.Linear(3, 3), x, y)


def test_transmix_switches_to_mixup_batches_with_plain_labels():
    model = TinyViT(image_size=8, patch_size=4, in_channels=1, num_classes=3, dim=16, depth=1, heads=2)
    x, y = torch.randn(4, 1, 8, 8), torch.tensor([0, 1, 2, 0])
    mixer = mixkit.TransMix(switch_prob=0.0)
    step = mixer.training_step(model, x, y, generator=_gen(2))
    out = step.mixed
    assert not out.extras["use_cutmix"] and not out.extras["partner_mask"].any()
    lam = out.lam.view(-1, 1, 1, 1)
    torch.testing.assert_close(out.x, lam * x + (1 - lam) * x.flip(0))
    assert bool((out.lam == out.lam[0]).all())
    branches = {mixkit.TransMix().draw(torch.Size([4, 1, 8, 8]), _gen(s)).use_cutmix for s in range(20)}
    assert branches == {True, False}


def test_max_min_regions_by_hand():
    own = torch.ones(1, 4, 4)
    own[0, 2:4, 0:2] = 0.0  # lowest 2x2 at (2, 0)
    partner = torch.zeros(1, 4, 4)
    partner[0, 1:3, 2:4] = 5.0  # highest 2x2 at (1, 2)
    src, dst = max_min_regions(own, partner, (2, 2))
    assert src.tolist() == [[1, 2]] and dst.tolist() == [[2, 0]]


def test_paste_patches_moves_the_partner_region_to_the_target():
    p = 2
    x = torch.zeros(1, 1, 8, 8)
    partner = torch.arange(64.0).view(1, 1, 8, 8)
    source, target = torch.tensor([[0, 1]]), torch.tensor([[3, 2]])
    mixed, token_mask, src = paste_patches(x, partner, p, source, target, (1, 2))
    torch.testing.assert_close(mixed[0, 0, 6:8, 4:8], partner[0, 0, 0:2, 2:6])
    assert float(mixed.sum()) == float(partner[0, 0, 0:2, 2:6].sum())
    assert token_mask.sum() == 2 and bool(token_mask[0, 3 * 4 + 2]) and bool(token_mask[0, 3 * 4 + 3])
    assert src[0, 3 * 4 + 2] == 1 and src[0, 3 * 4 + 3] == 2 and src[0, 0] == 0


def test_smmix_step_with_token_and_consistency_losses():
    torch.manual_seed(0)
    model = TinyViT(image_size=16, patch_size=4, in_channels=1, num_classes=4, dim=32, depth=1, heads=2)
    x, y = torch.randn(6, 1, 16, 16), torch.randint(0, 4, (6,))
    mixer = mixkit.SMMix(switch_prob=1.0)
    assert mixer.requires == {"attention", "tokens"}
    step = mixer.training_step(model, x, y, generator=_gen(3))
    out = step.mixed
    mask = out.extras["token_mask"]
    k = out.extras["side"]
    assert 1 <= k <= 3 and bool((mask.sum(1) == k * k).all())
    torch.testing.assert_close(out.lam, 1 - mask.float().mean(1))  # area labels
    assert torch.isfinite(step.loss)
    assert float(step.loss.detach()) > float(out.loss(step.logits, label_smoothing=0.1).detach())
    step.loss.backward()
    assert model.training  # the clean pass restores train mode
    with pytest.raises(TypeError, match="tokens"):
        mixer.training_step(_HookableViT.wrapped(), torch.randn(2, 1, 8, 8), torch.tensor([0, 1]))
    plain = mixkit.SMMix(token_weight=0.0, consistency_weight=0.0, switch_prob=0.0)
    step = plain.training_step(model, x, y, generator=_gen(4))
    assert plain.requires == {"attention"} and "token_mask" not in step.mixed.extras


def test_smmix_pastes_partners_most_attended_region_into_own_least_attended():
    x = torch.randn(3, 2, 8, 8)
    attn = torch.rand(3, 16, generator=_gen(4))
    mixer = mixkit.SMMix()
    out = mixer(x, torch.arange(3), generator=_gen(5), attn=attn, patch_size=2, grid=(4, 4))
    mask = out.extras["token_mask"]
    assert mask.any()
    grid = attn.view(3, 4, 4)
    rows = mask.view(3, 4, 4)
    k = int(mask[0].sum())
    own_sum = (grid[0] * rows[0]).sum()
    rh, rw = int(rows[0].any(1).sum()), int(rows[0].any(0).sum())
    windows = torch.nn.functional.avg_pool2d(grid[:1].unsqueeze(1), (rh, rw), stride=1) * rh * rw
    assert float(own_sum) == pytest.approx(float(windows.min()), rel=1e-5)
    torch.testing.assert_close(out.lam, 1 - mask.float().mean(1))
    assert k == rh * rw and rh == rw == out.extras["side"]
    with pytest.raises(ValueError, match="attn"):
        mixer(x, torch.arange(3), generator=_gen(5))


class _HookableViT(nn.Module):
    """A one-block ViT that applies a Dropout module to its softmax attention (timm's non-fused layout)."""

    def __init__(self, dim=16, classes=3, patch=4, grid=2):
        super().__init__()
        self.embed = nn.Conv2d(1, dim, patch, patch)
        self.cls = nn.Parameter(torch.randn(1, 1, dim))
        self.qkv = nn.Linear(dim, 3 * dim)
        self.attn_drop = nn.Dropout(0.0)
        self.fc = nn.Linear(dim, classes)
        self.weights_seen = None

    def forward(self, x):
        t = self.embed(x).flatten(2).transpose(1, 2)
        t = torch.cat([self.cls.expand(len(t), -1, -1), t], 1)
        q, k, v = self.qkv(t).chunk(3, -1)
        w = self.attn_drop(torch.softmax(q @ k.transpose(1, 2) / 4, -1).unsqueeze(1))  # [B, 1, T, T]
        self.weights_seen = w.detach()
        return self.fc((w.squeeze(1) @ v)[:, 0])

    @classmethod
    def wrapped(cls):
        from mixkit.sample import AttentionCapture

        vit = cls()
        return AttentionCapture(vit, vit.attn_drop, patch_size=4, grid_size=2)


def test_attention_capture_gives_any_vit_the_attention_capability():
    from mixkit.sample import AttentionCapture

    torch.manual_seed(0)
    vit = _HookableViT()
    model = AttentionCapture(vit, vit.attn_drop, patch_size=4, grid_size=2)
    x, y = torch.randn(4, 1, 8, 8), torch.tensor([0, 1, 2, 0])
    logits, attn = model.forward_with_attention(x)
    torch.testing.assert_close(attn, vit.weights_seen[:, 0, 0, 1:])
    _, image_attn = model.forward_with_attention(x, query="image")
    torch.testing.assert_close(image_attn, vit.weights_seen[:, 0, 1:, 1:].mean(1))
    torch.testing.assert_close(logits, model(x))
    step = mixkit.TransMix(alpha=1.0, mode="elem").training_step(model, x, y, generator=_gen(6))
    assert torch.isfinite(step.loss) and step.mixed.lam.shape == (4,)
    with pytest.raises(RuntimeError, match="did not run"):
        AttentionCapture(vit, nn.Dropout(), 4, 2).forward_with_attention(x)
