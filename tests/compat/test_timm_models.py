"""Model-aware mixers take timm-shaped models as they are (features, stages, attention, tokens)."""

from __future__ import annotations

import pytest
import torch
from fake_timm import ResNet, VisionTransformer
from torch import nn

import mixkit
from mixkit.sample.model_capabilities import (
    TimmViTAdapter,
    attention_model,
    capabilities,
    classify,
    feature_map,
    stage_map,
)


def gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def data(b: int = 4, size: int = 8):
    return torch.randn(b, 3, size, size, generator=gen(0)), torch.tensor([0, 1, 2, 3])[:b] % 5


def oracle_last_attention(model: VisionTransformer, x: torch.Tensor) -> torch.Tensor:
    """The last block's softmax attention [B, heads, T, T], computed by hand from its qkv weights."""
    with torch.no_grad():
        t = model._pos_embed(model.patch_embed(x))
        for blk in list(model.blocks)[:-1]:
            t = blk(t)
        blk = model.blocks[-1]
        h = blk.norm1(t)
        a = blk.attn
        b, n, c = h.shape
        w = torch.zeros(b, a.num_heads, n, n, dtype=torch.float64)
        qkv = a.qkv(h).double()
        for bi in range(b):
            for hd in range(a.num_heads):
                sl = slice(hd * a.head_dim, (hd + 1) * a.head_dim)
                q, k = qkv[bi, :, :c][:, sl], qkv[bi, :, c:2 * c][:, sl]
                for i in range(n):
                    scores = [float((q[i] * k[j]).sum()) * a.scale for j in range(n)]
                    m = max(scores)
                    e = [pow(2.718281828459045, s - m) for s in scores]
                    for j in range(n):
                        w[bi, hd, i, j] = e[j] / sum(e)
    return w


def test_capabilities_of_timm_shaped_models():
    assert {"features", "attention", "tokens"} <= capabilities(VisionTransformer())
    assert "features" in capabilities(ResNet())
    assert "attention" not in capabilities(ResNet())
    vit = VisionTransformer()
    wrapped = mixkit.sample.AttentionCapture(vit, vit.blocks[-1].attn.attn_drop, 2, 4)
    assert "attention" in capabilities(wrapped)
    assert capabilities(nn.Linear(2, 2)) == frozenset()


def test_vit_attention_matches_hand_computed_softmax_and_leaves_no_trace():
    torch.manual_seed(0)
    model = VisionTransformer().eval()
    x, _ = data()
    adapter = attention_model(model)
    assert isinstance(adapter, TimmViTAdapter)
    assert (adapter.patch_size, adapter.grid_size) == (2, (4, 4))
    w = oracle_last_attention(model, x)
    logits, cls = adapter.forward_with_attention(x)
    torch.testing.assert_close(logits, model(x), atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(cls.double(), w[:, :, 0, 1:].mean(1), atol=1e-5, rtol=1e-5)
    _, img = adapter.forward_with_attention(x, query="image")
    torch.testing.assert_close(img.double(), w[:, :, 1:, 1:].mean((1, 2)), atol=1e-5, rtol=1e-5)
    attn = model.blocks[-1].attn
    assert attn.fused_attn is True and not attn.attn_drop._forward_hooks
    assert attention_model(mixkit.sample.AttentionCapture(model, attn.attn_drop, 2, 4)) is not model


def test_vit_features_are_patch_tokens_on_the_grid():
    torch.manual_seed(0)
    model = VisionTransformer().eval()
    x, _ = data()
    fmap = feature_map(model, x)
    tokens = model.forward_features(x)
    assert fmap.shape == (4, 16, 4, 4)
    for i in range(4):
        for j in range(4):
            torch.testing.assert_close(fmap[:, :, i, j], tokens[:, 1 + i * 4 + j])
    torch.testing.assert_close(classify(model, x), model(x))


def test_resnet_head_stages_and_features():
    torch.manual_seed(0)
    model = ResNet().eval()
    x, _ = data()
    torch.testing.assert_close(classify(model, x), model(x))
    assert feature_map(model, x).shape == (4, 16, 1, 1)
    with torch.no_grad():
        h = model.act1(model.bn1(model.conv1(x)))
        stages = []
        for i in range(4):
            h = getattr(model, f"layer{i + 1}")(h)
            stages.append(h)
        for s in range(4):  # stage s is layer(s+1): the stem entry act1 is skipped
            torch.testing.assert_close(stage_map(model, x, s), stages[s])
    with pytest.raises(ValueError, match="mask_layer=4"):
        stage_map(model, x, 4)
    assert stage_map(nn.Linear(2, 2), x, 0) is None


@pytest.mark.parametrize("make_mixer", [
    lambda: mixkit.AttentiveMix(),
    lambda: mixkit.AutoMix(mask_layer=1),
    lambda: mixkit.AdAutoMix(mask_layer=1),
    lambda: mixkit.AdaMixup(),
])
@pytest.mark.parametrize("make_model", [ResNet, VisionTransformer])
def test_feature_mixers_train_timm_models(make_mixer, make_model):
    torch.manual_seed(0)
    model, mixer = make_model(), make_mixer()
    x, y = data(b=4, size=64 if make_model is ResNet else 8)
    if make_model is VisionTransformer:
        model = VisionTransformer(img_size=8)
    step = mixer.training_step(model, x, y, generator=gen(1))
    assert torch.isfinite(step.loss)
    step.loss.backward()
    assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in model.parameters())


@pytest.mark.parametrize("make_mixer", [
    lambda: mixkit.TransMix(switch_prob=1.0),
    lambda: mixkit.SMMix(switch_prob=1.0),
])
def test_attention_mixers_train_timm_vits(make_mixer):
    torch.manual_seed(0)
    model = VisionTransformer()
    x, y = data()
    step = make_mixer().training_step(model, x, y, generator=gen(2))
    assert torch.isfinite(step.loss) and step.logits.shape == (4, 5)
    step.loss.backward()
    assert model.blocks[-1].attn.fused_attn is True and model.training


def test_transmix_with_timm_vit_uses_the_attention_labels():
    torch.manual_seed(0)
    model = VisionTransformer().eval()
    x, y = data()
    step = mixkit.TransMix(switch_prob=1.0).training_step(model, x, y, generator=gen(3))
    out = step.mixed
    _, cls = TimmViTAdapter(model).forward_with_attention(out.x)
    lam = mixkit.sample.transmix_lam(cls, out.extras["partner_mask"], (4, 4), area_lam=out.extras["area_lam"])
    torch.testing.assert_close(out.lam, lam.to(out.lam.dtype))


def test_adapter_errors():
    with pytest.raises(TypeError, match="timm-shaped ViT"):
        TimmViTAdapter(ResNet())
    with pytest.raises(ValueError, match="query"):
        TimmViTAdapter(VisionTransformer()).forward_with_attention(torch.randn(2, 3, 8, 8), query="all")
    with pytest.raises(TypeError, match="forward_features"):
        feature_map(nn.Linear(2, 2), torch.randn(2, 2))
