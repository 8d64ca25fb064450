import pytest
import torch

from mixkit.bench.models import PreActResNet18, SmallCNN, TinyViT, build_model, model_capabilities


@pytest.mark.parametrize("shape", [(3, 1, 28, 28), (2, 3, 32, 32)])
def test_small_cnn_features_and_head_compose_to_forward(shape):
    torch.manual_seed(0)
    m = SmallCNN(shape[1], 7, width=8).eval()
    x = torch.randn(shape)
    f = m.forward_features(x)
    assert f.shape == (shape[0], 32, shape[2] // 4, shape[3] // 4)
    torch.testing.assert_close(m.head(f), m(x))
    assert m(x).shape == (shape[0], 7)
    assert model_capabilities(m) == {"features"}


def test_preact_resnet18_shapes_and_parameter_count():
    torch.manual_seed(0)
    full = PreActResNet18(3, 10)
    # the published CIFAR PreAct-ResNet-18 has about 11.17 M parameters
    assert 11.1e6 < sum(p.numel() for p in full.parameters()) < 11.3e6
    m = PreActResNet18(1, 10, width=8).eval()
    x = torch.randn(2, 1, 28, 28)
    f = m.forward_features(x)
    assert f.shape == (2, 64, 4, 4)
    torch.testing.assert_close(m.head(f), m(x))


def test_vit_attention_is_last_block_cls_row_averaged_over_heads():
    torch.manual_seed(0)
    m = TinyViT(image_size=28, patch_size=4, in_channels=1, num_classes=10, dim=24, depth=2, heads=3).eval()
    assert (m.patch_size, m.grid_size, m.num_patches) == (4, 7, 49)
    x = torch.randn(2, 1, 28, 28)
    captured = {}
    last = m.blocks[-1].attn
    orig = last.forward

    def spy(t, need_weights=False):
        out, attn = orig(t, True)
        captured["attn"] = attn
        return out, attn

    last.forward = spy
    logits, cls_attn = m.forward_with_attention(x)
    last.forward = orig
    assert logits.shape == (2, 10) and cls_attn.shape == (2, 49)
    torch.testing.assert_close(cls_attn, captured["attn"][:, :, 0, 1:].mean(1))
    # the class token also attends to itself, so the patch weights sum to less than 1
    assert bool((cls_attn >= 0).all()) and bool((cls_attn.sum(-1) < 1).all())
    torch.testing.assert_close(m(x), logits, atol=1e-5, rtol=1e-5)  # fused path gives the same logits
    assert model_capabilities(m) == {"attention", "tokens"}


def test_build_model_by_name_and_errors():
    assert isinstance(build_model("cnn", 3, 10, 32), SmallCNN)
    assert isinstance(build_model("resnet18", 3, 100, 32, width=8), PreActResNet18)
    assert build_model("vit", 1, 10, 28, dim=24, heads=2, depth=1).grid_size == 7
    with pytest.raises(ValueError, match="model must be one of"):
        build_model("mlp", 1, 10, 28)
    with pytest.raises(ValueError, match="multiple of patch_size"):
        TinyViT(image_size=30, patch_size=4)
    with pytest.raises(ValueError, match=r"x must have shape"):
        TinyViT(image_size=28, dim=24, heads=2)(torch.zeros(1, 1, 32, 32))
