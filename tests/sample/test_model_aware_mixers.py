"""Model-aware mixers: Manifold Mixup, AutoMix, AdAutoMix; training_step of PuzzleMix/AttentiveMix."""

import pytest
import torch
from torch import nn

import mixkit
from mixkit.sample import GradientReversal, MixBlock, make_pairs, mix_hidden
from optional_extras import needs


class Square(nn.Module):
    def forward(self, x):
        return x * x


class Sequence(nn.Module):
    """input -> square -> identity -> flatten: mixing before or after the square gives different logits."""

    def __init__(self):
        super().__init__()
        self.square = Square()
        self.ident = nn.Identity()
        self.pool = nn.Flatten()

    def forward(self, x):
        return self.pool(self.ident(self.square(x)))


class TinyNet(nn.Module):
    """Tiny CNN with the "features" capability: forward_features -> [B, 8, 4, 4], head -> [B, 5]."""

    def __init__(self):
        super().__init__()
        self.body = nn.Sequential(nn.Conv2d(1, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU(),
                                  nn.MaxPool2d(2))
        self.fc = nn.Linear(8, 5)

    def forward_features(self, x):
        return self.body(x)

    def head(self, f):
        return self.fc(f.mean((2, 3)))

    def forward(self, x):
        return self.head(self.forward_features(x))


def data(b=8, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.rand(b, 1, 8, 8, generator=g), torch.randint(0, 5, (b,), generator=g)


# ------------------------------------------------------------------ Manifold Mixup
@pytest.mark.parametrize("layer", ["input", "square", "ident"])
def test_manifold_mixes_at_the_chosen_layer(layer):
    model = Sequence()
    x = torch.rand(6, 3)
    mixer = mixkit.ManifoldMixup(alpha=1.0, layers=[layer], include_input=False, mode="elem", criterion="ce")
    step = mixer.training_step(model, x, torch.arange(6) % 3, generator=torch.Generator().manual_seed(0))
    lam = step.mixed.lam.view(-1, 1)
    j = step.mixed.index
    if layer == "input":
        expected = (lam * x + (1 - lam) * x[j]) ** 2
        torch.testing.assert_close(step.mixed.x, lam * x + (1 - lam) * x[j])
    else:  # after the square (identity afterwards): mixing of squares
        expected = lam * x**2 + (1 - lam) * x[j] ** 2
        assert step.mixed.x is x
    torch.testing.assert_close(step.logits, expected)
    assert step.mixed.extras["layer"] == layer
    torch.testing.assert_close(step.loss, step.mixed.loss(step.logits))
    assert not model.square._forward_hooks and not model.ident._forward_hooks  # hook removed


def test_manifold_candidates_and_layer_draw_is_reproducible():
    model = Sequence()
    m = mixkit.ManifoldMixup()
    assert m.candidate_layers(model) == ["input", "square", "ident"]  # children except the last
    nested = nn.Sequential(nn.Sequential(nn.Linear(3, 3), nn.Tanh()), nn.Linear(3, 2))
    assert m.candidate_layers(nested) == ["input", "0.0", "0.1"]  # descends into the single container
    only_square = mixkit.ManifoldMixup(module_types=[Square], include_input=False)
    assert only_square.candidate_layers(model) == ["square"]
    assert mixkit.ManifoldMixup(module_types="Identity").candidate_layers(model) == ["input", "ident"]
    x, y = torch.rand(5, 3), torch.arange(5) % 3
    layers = [m.training_step(model, x, y, generator=torch.Generator().manual_seed(s)).mixed.extras["layer"]
              for s in range(12)]
    again = [m.training_step(model, x, y, generator=torch.Generator().manual_seed(s)).mixed.extras["layer"]
             for s in range(12)]
    assert layers == again and set(layers) == {"input", "square", "ident"}


def test_manifold_errors():
    model = Sequence()
    with pytest.raises(ValueError, match="not sub-modules"):
        mixkit.ManifoldMixup(layers=["nope"]).training_step(model, torch.rand(4, 3), torch.arange(4))
    with pytest.raises(ValueError, match="module_types"):
        mixkit.ManifoldMixup(module_types=[nn.Conv2d]).candidate_layers(model)
    with pytest.raises(ValueError, match="criterion"):
        mixkit.ManifoldMixup(criterion="mse")

    class Skips(nn.Module):
        def __init__(self):
            super().__init__()
            self.unused = nn.Identity()
            self.out = nn.Identity()

        def forward(self, x):
            return self.out(x)

    with pytest.raises(RuntimeError, match="not called"):
        mixkit.ManifoldMixup(layers=["unused"], include_input=False).training_step(Skips(), torch.rand(4, 3),
                                                                                  torch.arange(4))


def test_manifold_hook_rejects_non_tensor_output():
    class Pair(nn.Module):
        def forward(self, x):
            return x, x

    model = nn.Sequential(Pair())
    pairs = make_pairs(4, "roll", torch.Generator().manual_seed(0))
    with pytest.raises(TypeError, match="must be a tensor"):
        with mix_hidden(model, "0", pairs, torch.rand(4)):
            model(torch.rand(4, 3))


def test_manifold_gradients_reach_layers_before_the_mixing_point():
    model = nn.Sequential(nn.Linear(3, 4), nn.Tanh(), nn.Linear(4, 5))
    mixer = mixkit.ManifoldMixup(layers=["1"], include_input=False)
    step = mixer.training_step(model, torch.rand(6, 3), torch.randint(0, 5, (6,)),
                               generator=torch.Generator().manual_seed(0))
    step.loss.backward()
    assert model[0].weight.grad is not None and model[0].weight.grad.abs().sum() > 0


# ------------------------------------------------------------------ AutoMix / AdAutoMix
class StagedNet(TinyNet):
    """TinyNet with forward_stages: stage maps [B, 8, 8, 8], [B, 8, 4, 4], [B, 8, 4, 4] (the last is
    forward_features), so mask_layer=2 reads a 4x4 map."""

    def forward_stages(self, x):
        s1 = self.body[2](self.body[1](self.body[0](x)))
        s2 = self.body[3](s1)
        return [s1, s2, s2]


def test_mix_block_mask_shape_range_and_partner_value():
    from mixkit.sample.mixers.adautomix import AdaptiveMaskBlock

    torch.manual_seed(0)
    block = MixBlock(8, init_std=0.5)
    a, b = torch.rand(3, 8, 4, 4), torch.rand(3, 8, 4, 4)
    lam = torch.tensor([0.2, 0.5, 0.9])
    mask = block(a, b, lam, (8, 8))
    assert mask.shape == (3, 1, 8, 8) and ((mask > 0) & (mask < 1)).all()
    assert torch.equal(mask[:, :, ::2, ::2], mask[:, :, 1::2, 1::2])  # nearest upsampling of a 4x4 map
    with torch.no_grad():
        block.query.weight.zero_()  # uniform attention: every cell gets the mean of the partner's value
        block.query.bias.zero_()
    m = block(a, b, lam, (8, 8))
    v = block.value(b).mean((1, 2, 3))
    torch.testing.assert_close(m[:, 0, 0, 0], 1 - torch.sigmoid(v))
    torch.testing.assert_close(block(b, b, lam, (8, 8)), m)  # the row's own map does not enter the value
    ada = AdaptiveMaskBlock(8)
    masks = ada(torch.rand(3, 2, 8, 4, 4), torch.full((3, 2), 1 / 3), (8, 8))
    assert masks.shape == (2, 3, 8, 8)
    torch.testing.assert_close(masks.sum(1), torch.ones(2, 8, 8))


def test_gradient_flows_to_the_automix_generator():
    model = StagedNet()
    mixer = mixkit.AutoMix(in_channels=8, own_optimizer=False, lam_margin=0.0)
    x, y = data()
    step = mixer.training_step(model, x, y, generator=torch.Generator().manual_seed(0))
    step.loss.backward()
    for name, p in mixer.block.named_parameters():
        assert p.grad is not None and p.grad.abs().sum() > 0, name
    assert all(p.grad is None for p in mixer.teacher.parameters())  # the teacher is frozen
    assert model.fc.weight.grad.abs().sum() > 0


def test_learned_mixers_train_generator_and_keep_contract():
    model = StagedNet()
    x, y = data()
    for cls in (mixkit.AutoMix, mixkit.AdAutoMix):
        mixer = cls()
        step = mixer.training_step(model, x, y, generator=torch.Generator().manual_seed(0))
        before = {k: v.clone() for k, v in mixer.block.state_dict().items()}
        assert all(p.grad is None for p in model.parameters())  # generator update leaves the classifier alone
        out = step.mixed
        assert out.x.shape == x.shape and out.x.dtype == x.dtype
        mask = out.extras["mask"]
        if cls is mixkit.AutoMix:
            assert mask.shape == (8, 1, 8, 8)
            torch.testing.assert_close(out.x, mask * x + (1 - mask) * x[out.index])
            assert bool((out.lam == out.lam[0]).all())  # one lam per batch, the drawn one
        else:
            src, w = out.extras["sources"], out.extras["weights"]
            assert src.shape == (3, 8) and torch.equal(src[0], torch.arange(8)) and mask.shape == (8, 3, 8, 8)
            torch.testing.assert_close(w.sum(0), torch.ones(8))
            expected = sum(mask[:, s:s + 1] * x[src[s]] for s in range(3))
            torch.testing.assert_close(out.x, expected)
        step.loss.backward()
        assert model.fc.weight.grad.abs().sum() > 0
        model.zero_grad(set_to_none=True)
        mixer.training_step(model, x, y, generator=torch.Generator().manual_seed(1))
        after = mixer.block.state_dict()
        assert any(not torch.equal(before[k], after[k]) for k in before)  # its own optimizer stepped


def test_learned_mixers_are_reproducible():
    x, y = data()
    outs = []
    for _ in range(2):
        torch.manual_seed(0)
        model, mixer = StagedNet(), mixkit.AdAutoMix()
        outs.append(mixer.training_step(model, x, y, generator=torch.Generator().manual_seed(3)))
    assert torch.equal(outs[0].mixed.x, outs[1].mixed.x) and torch.equal(outs[0].loss, outs[1].loss)


def test_ema_teacher_update_and_momentum_schedule():
    model = StagedNet()
    mixer = mixkit.AutoMix(momentum=0.9)
    x, y = data()
    mixer.training_step(model, x, y)
    t0 = mixer.teacher.fc.weight.clone()
    with torch.no_grad():
        model.fc.weight.add_(1.0)
    mixer.on_step_end(model, 0)
    torch.testing.assert_close(mixer.teacher.fc.weight, 0.9 * t0 + 0.1 * model.fc.weight)
    sched = mixkit.AutoMix(total_steps=100)
    assert sched.momentum_at(0) == sched.momentum_at(9) == 0.999  # constant over the first 10 %
    assert sched.momentum_at(10) > 0.999 and abs(sched.momentum_at(100) - 0.999999) < 1e-12
    assert all(sched.momentum_at(k) <= sched.momentum_at(k + 1) for k in range(10, 100))
    assert sched.lr_at(0) == 0.1 and abs(sched.lr_at(100) - 0.05) < 1e-12
    assert abs(sched.lr_at(50) - 0.075) < 1e-12


def test_adautomix_adversarial_step_raises_the_teacher_loss():
    """On an even (adversarial) step with cos_weight=0 the generator ascends the teacher's mixed CE; on the
    odd step after it, it descends it."""
    from mixkit.sample.mixers.adautomix import multi_source_loss

    torch.manual_seed(0)
    model = StagedNet()
    x, y = data(16)
    mixer = mixkit.AdAutoMix(cos_weight=0.0, lr=0.5, sgd_momentum=0.0)
    mixer.teacher_of(model)
    params = mixer.draw(x.shape, torch.Generator().manual_seed(0))
    feats = mixer.teacher.forward_stages(x)[2]

    def teacher_loss():
        with torch.no_grad():
            masks = mixer.masks(x, feats, params.gen_sources, params.gen_weights)
            xm = mixer.combine(x, params.gen_sources, masks)
            return multi_source_loss(mixer.teacher(xm), y, params.gen_sources, params.gen_weights)

    mixer.generator_of(8, x.device)
    before = teacher_loss()
    mixer.training_step(model, x, y, generator=torch.Generator().manual_seed(0))  # iteration 0: adversarial
    middle = teacher_loss()
    mixer.training_step(model, x, y, generator=torch.Generator().manual_seed(0))  # iteration 1: CE_t
    assert middle > before and teacher_loss() < middle


def test_reverse_grad_layer():
    x = torch.rand(4, requires_grad=True)
    (GradientReversal.apply(x, 2.0) * 3).sum().backward()
    torch.testing.assert_close(x.grad, torch.full((4,), -6.0))


def test_learned_mixer_errors():
    with pytest.raises(TypeError, match="forward_features"):
        mixkit.AutoMix(mask_layer=None).training_step(nn.Linear(3, 2), torch.rand(2, 1, 4, 4),
                                                      torch.arange(2))
    with pytest.raises(ValueError, match="momentum"):
        mixkit.AutoMix(momentum=1.0)
    with pytest.raises(ValueError, match="in_channels"):
        MixBlock(0)
    with pytest.raises(ValueError, match="own_optimizer=False needs in_channels"):
        mixkit.AutoMix(own_optimizer=False)
    with pytest.raises(ValueError, match="mix_samples"):
        mixkit.AdAutoMix(mix_samples=1)
    with pytest.raises(ValueError, match="mask_layer"):
        mixkit.AutoMix(mask_layer=-1)
    with pytest.raises(ValueError, match="upsample"):
        mixkit.AutoMix(upsample="area")
    with pytest.raises(ValueError, match="mask_layer=5"):
        mixkit.AutoMix(mask_layer=5).training_step(StagedNet(), *data())
    with pytest.warns(UserWarning, match="forward_stages"):
        mixkit.sample.mixers.automix._WARNED.discard("TinyNet")
        mixkit.AutoMix().training_step(TinyNet(), *data())
    assert mixkit.AutoMix().owns_optimizer
    assert not mixkit.AutoMix(own_optimizer=False, in_channels=4).owns_optimizer
    with pytest.raises(ValueError, match="rank 4"):
        mixkit.AdAutoMix().training_step(TinyNet(), torch.rand(2, 8), torch.arange(2))


# ------------------------------------------------------------------ training_step of PuzzleMix / AttentiveMix
@pytest.mark.parametrize("mixer", [
    pytest.param(mixkit.PuzzleMix(blocks=(2, 4), mode="elem"), marks=needs("puzzlemix")),
    mixkit.AttentiveMix(top_k=None, mode="elem"),
])
def test_saliency_training_steps(mixer):
    model = TinyNet()
    x, y = data()
    step = mixer.training_step(model, x, y, generator=torch.Generator().manual_seed(0))
    assert torch.isfinite(step.loss) and step.logits.shape == (8, 5)
    assert all(p.grad is None for p in model.parameters())  # saliency pass leaves .grad untouched
    step.loss.backward()
    assert model.fc.weight.grad.abs().sum() > 0
    torch.testing.assert_close(step.loss, step.mixed.loss(step.logits))


@pytest.mark.parametrize("cls", [mixkit.AutoMix, mixkit.AdAutoMix])
def test_learned_mixer_state_round_trips_into_a_fresh_instance(cls):
    """A trained mixer's state_dict (generator, teacher, the generator's SGD, momentum, step parity) loads
    into a fresh instance, and the next step is then identical."""
    import copy

    torch.manual_seed(0)
    model = StagedNet()
    x, y = data()
    trained = cls(momentum=0.9, total_steps=10)
    trained.training_step(model, x, y, generator=torch.Generator().manual_seed(0))
    trained.on_step_end(model, 0)
    state = trained.state_dict()
    fresh = cls(momentum=0.9, total_steps=10)
    fresh.load_state_dict(state)
    assert fresh.block is not None and fresh.optimizer().state_dict()["state"]
    twin = copy.deepcopy(model)
    a = trained.training_step(model, x, y, generator=torch.Generator().manual_seed(1))
    b = fresh.training_step(twin, x, y, generator=torch.Generator().manual_seed(1))
    assert torch.equal(a.loss, b.loss) and torch.equal(a.mixed.x, b.mixed.x)
    for (k, p), q in zip(trained.block.state_dict().items(), fresh.block.state_dict().values()):
        assert torch.equal(p, q), k
    for p, q in zip(trained.teacher.parameters(), fresh.teacher.parameters()):
        assert torch.equal(p, q)
    assert "AutoMix(" in repr(fresh) or "AdAutoMix(" in repr(fresh)


def test_model_aware_mixers_declare_their_contract():
    for cls in (mixkit.AutoMix, mixkit.AdAutoMix, mixkit.ManifoldMixup, mixkit.PuzzleMix, mixkit.AttentiveMix,
                mixkit.TransMix, mixkit.SMMix, mixkit.RankMixup):
        assert issubclass(cls, mixkit.ModelAwareMixer) and cls.name and cls.paper and cls.paper_url
    for cls in (mixkit.SaliencyMix, mixkit.EnMix, mixkit.AdpMix, mixkit.MixOE, mixkit.Mix3D):
        assert issubclass(cls, mixkit.Mixer) and not issubclass(cls, mixkit.ModelAwareMixer)
    assert mixkit.MixOE.tasks == {"ood_detection"} and mixkit.EnMix.tasks == {"class_incremental"}
    for m in (mixkit.AutoMix(), mixkit.SMMix(), mixkit.RankMixup(), mixkit.MixOE(), mixkit.Mix3D(),
              mixkit.AdpMix()):
        assert " object at 0x" not in repr(m)
