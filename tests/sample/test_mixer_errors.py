"""Bad input to the mixers, the registry and the label rules raises a clear error naming the argument."""

from __future__ import annotations

import pytest
import torch

import mixkit
from mixkit.sample import build, registry


class _FakeCudaGenerator:
    device = torch.device("cuda")


@pytest.mark.parametrize("cls", [mixkit.MixUp, mixkit.CutMix, mixkit.FMix])
@pytest.mark.parametrize("alpha", [0.0, -1.0, float("nan"), float("inf"), "a"])
def test_alpha_must_be_positive(cls, alpha):
    with pytest.raises(ValueError, match="alpha"):
        cls(alpha=alpha)


@pytest.mark.parametrize("spec", ["cutmix", "resizemix", "fmix", "cutout"])
@pytest.mark.parametrize("shape", [(4, 10), (4,), (2, 1, 2, 2, 2, 2)])
def test_spatial_mixers_reject_wrong_rank(spec, shape):
    with pytest.raises(ValueError, match=r"x must have rank 3\.\.5"):
        build(spec)(torch.randn(shape))


@pytest.mark.parametrize("spec", ["mixup", "cutmix", "resizemix", "fmix", "cutout"])
def test_input_and_label_checks(spec):
    mixer = build(spec)
    x = torch.randn(4, 3, 6, 6)
    with pytest.raises(ValueError, match="batch size 4"):
        mixer(x, torch.arange(5))
    with pytest.raises(TypeError, match="floating"):
        mixer(torch.zeros(4, 3, 6, 6, dtype=torch.long))
    with pytest.raises(TypeError, match="torch.Tensor"):
        mixer([[1.0]])
    with pytest.raises(ValueError, match="CPU torch.Generator"):
        mixer(x, generator=_FakeCudaGenerator())


def test_bad_mode_pairing_and_method_arguments():
    with pytest.raises(ValueError, match="mode must be one of"):
        mixkit.CutMix(mode="row")
    with pytest.raises(ValueError, match="pairing must be one of"):
        mixkit.FMix(pairing="random")
    with pytest.raises(ValueError, match="needs pairing='flip'"):
        mixkit.ResizeMix(mode="pair", pairing="roll")
    with pytest.raises(ValueError, match="prob"):
        mixkit.CutMix(prob=1.5)
    with pytest.raises(ValueError, match="scale"):
        mixkit.ResizeMix(scale=(0.8, 0.1))
    with pytest.raises(ValueError, match="scale"):
        mixkit.ResizeMix(scale=0.5)
    with pytest.raises(ValueError, match="decay_power"):
        mixkit.FMix(decay_power=0)
    with pytest.raises(ValueError, match="length"):
        mixkit.Cutout(length=0)
    with pytest.raises(ValueError, match="ratio"):
        mixkit.Cutout(ratio=0.0)
    with pytest.raises(ValueError, match="mode must be one of"):
        mixkit.Cutout(mode="all")


def test_registry_errors():
    with pytest.raises(ValueError, match="unknown mixing method 'cutmixx'.*cutmix"):
        build("cutmixx")
    with pytest.raises(ValueError, match="bad arguments for mixing method 'cutmix'"):
        build("cutmix:beta=2")
    with pytest.raises(ValueError, match="alpha"):
        build("fmix:alpha=0")
    with pytest.raises(ValueError, match="expected key=value"):
        build("cutmix:1.0")
    with pytest.raises(ValueError, match="empty"):
        build("  ")


def test_label_rule_errors():
    out = mixkit.CutMix()(torch.randn(4, 3, 6, 6), torch.tensor([0, 1, 2, 1]),
                          generator=torch.Generator().manual_seed(0))
    logits = torch.randn(4, 3)
    with pytest.raises(ValueError, match="soft labels must be probability distributions"):
        out.loss(logits, torch.full((4, 3), 0.5))
    with pytest.raises(ValueError, match="soft labels must be probability distributions"):
        out.soft_targets(3, y=torch.tensor([[1.5, -0.5, 0.0]] * 4))
    with pytest.raises(ValueError, match=r"soft labels must have shape \[B, 3\]"):
        out.loss(logits, torch.full((4, 2), 0.5))
    with pytest.raises(ValueError, match=r"class ids must lie in \[0, 2\)"):
        out.loss(torch.randn(4, 2))
    with pytest.raises(ValueError, match="logits must have shape"):
        out.loss(torch.randn(3, 3))
    with pytest.raises(ValueError, match="smoothing"):
        out.loss(logits, label_smoothing=1.0)
    with pytest.raises(ValueError, match="batch size 4"):
        out.loss(logits, torch.arange(3))
    with pytest.raises(ValueError, match="no labels"):
        mixkit.CutMix()(torch.randn(4, 3, 6, 6)).loss(logits)
    with pytest.raises(ValueError, match="reduction"):
        out.loss(logits, reduction="avg")


def test_registry_lists_only_arguments_a_method_accepts():
    info = {m.name: m.defaults for m in registry.available()}
    assert "alpha" not in info["cutout"] and "pairing" not in info["cutout"]
    assert "alpha" not in info["resizemix"] and info["resizemix"]["scale"] == (0.1, 0.8)
    assert info["cutmix"]["correct_lam"] is True and info["cutmix"]["alpha"] == 1.0
    assert info["fmix"]["decay_power"] == 3.0
    for name, defaults in info.items():  # every listed default is accepted back by the spec parser
        build(name, **defaults)
