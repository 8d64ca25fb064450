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
def test_mix_block_mask_shape_range_and_untrained_is_mixup():
    block = MixBlock(8)
    a, b = torch.rand(3, 8, 4, 4), torch.rand(3, 8, 4, 4)
    lam = torch.tensor([0.2, 0.5, 0.9])
    mask = block(a, b, lam, (8, 8))
    assert mask.shape == (3, 1, 8, 8) and ((mask > 0) & (mask < 1)).all()
    torch.testing.assert_close(mask.mean((1, 2, 3)), lam, atol=1e-4, rtol=0)  # zero-init output: plain mixup


def test_gradient_flows_to_the_automix_generator():
    model = TinyNet()
    mixer = mixkit.AutoMix(in_channels=8, own_optimizer=False)
    x, y = data()
    step = mixer.training_step(model, x, y, generator=torch.Generator().manual_seed(0))
    step.loss.backward()
    assert mixer.block.out.weight.grad is not None and mixer.block.out.weight.grad.abs().sum() > 0
    # after a step of the output layer, the attention layers receive gradient too
    with torch.no_grad():
        mixer.block.out.weight.normal_(0, 0.1)
    mixer.zero_grad()
    mixer.training_step(model, x, y, generator=torch.Generator().manual_seed(0)).loss.backward()
    for name, p in mixer.block.named_parameters():
        assert p.grad is not None and p.grad.abs().sum() > 0, name
    assert all(p.grad is None for p in mixer.teacher.parameters())  # the teacher is frozen


@pytest.mark.parametrize("cls", [mixkit.AutoMix, mixkit.AdAutoMix])
def test_learned_mixers_train_generator_and_keep_contract(cls):
    model = TinyNet()
    mixer = cls()
    x, y = data()
    step = mixer.training_step(model, x, y, generator=torch.Generator().manual_seed(0))
    before = {k: v.clone() for k, v in mixer.block.state_dict().items()}
    assert all(p.grad is None for p in model.parameters())  # generator update leaves the classifier alone
    out = step.mixed
    assert out.x.shape == x.shape and out.x.dtype == x.dtype
    mask = out.extras["mask"]
    torch.testing.assert_close(out.lam, mask.flatten(1).mean(1))
    partner = x[out.index]
    torch.testing.assert_close(out.x, mask * x + (1 - mask) * partner)
    step.loss.backward()
    assert model.fc.weight.grad.abs().sum() > 0
    mixer.training_step(model, x, y, generator=torch.Generator().manual_seed(1))
    after = mixer.block.state_dict()
    assert any(not torch.equal(before[k], after[k]) for k in before)  # its own optimizer stepped


def test_learned_mixers_are_reproducible():
    x, y = data()
    outs = []
    for _ in range(2):
        torch.manual_seed(0)
        model, mixer = TinyNet(), mixkit.AdAutoMix()
        outs.append(mixer.training_step(model, x, y, generator=torch.Generator().manual_seed(3)))
    assert torch.equal(outs[0].mixed.x, outs[1].mixed.x) and torch.equal(outs[0].loss, outs[1].loss)


def test_ema_teacher_update():
    model = TinyNet()
    mixer = mixkit.AutoMix(momentum=0.9)
    x, y = data()
    mixer.training_step(model, x, y)
    t0 = mixer.teacher.fc.weight.clone()
    with torch.no_grad():
        model.fc.weight.add_(1.0)
    mixer.on_step_end(model, 0)
    torch.testing.assert_close(mixer.teacher.fc.weight, 0.9 * t0 + 0.1 * model.fc.weight)


def test_adautomix_generator_ascends_the_classifier_loss():
    """With only the adversarial term, one generator step must raise the classifier's mixed loss."""
    torch.manual_seed(0)
    model = TinyNet()
    mixer = mixkit.AdAutoMix(cos_weight=0.0, mask_weight=0.0, lr=0.05)
    x, y = data(16)
    teacher = mixer.teacher_of(model)
    teacher.fc.weight.data.zero_()
    teacher.fc.bias.data.zero_()  # teacher CE is constant: only the adversarial term trains the generator
    mixer.generator_of(8, x.device).out.weight.data.normal_(0, 0.1)
    params = mixer.draw(x.shape, torch.Generator().manual_seed(0))
    pairs, lam = params.pairs, params.lam
    feats = teacher.forward_features(x).detach()

    def classifier_loss():
        with torch.no_grad():
            xm, mask = mixer.generate(x, feats, pairs, lam)
            out = mixkit.MixedBatch(x=xm, index=pairs.index, lam=mask.flatten(1).mean(1), y=y)
            return out.loss(model(xm))

    model.eval()
    before = classifier_loss()
    for _ in range(3):
        mixer.training_step(model, x, y, generator=torch.Generator().manual_seed(0))
    assert classifier_loss() > before


def test_reverse_grad_layer():
    x = torch.rand(4, requires_grad=True)
    (GradientReversal.apply(x, 2.0) * 3).sum().backward()
    torch.testing.assert_close(x.grad, torch.full((4,), -6.0))


def test_learned_mixer_errors():
    with pytest.raises(TypeError, match="forward_features"):
        mixkit.AutoMix().training_step(nn.Linear(3, 2), torch.rand(2, 1, 4, 4), torch.arange(2))
    with pytest.raises(ValueError, match="momentum"):
        mixkit.AutoMix(momentum=1.0)
    with pytest.raises(ValueError, match="in_channels"):
        MixBlock(0)
    with pytest.raises(ValueError, match="own_optimizer=False needs in_channels"):
        mixkit.AutoMix(own_optimizer=False)
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
    """A trained mixer's state_dict (generator, teacher, the generator's Adam) loads into a fresh instance,
    and the next step is then identical."""
    import copy

    torch.manual_seed(0)
    model = TinyNet()
    x, y = data()
    trained = cls(momentum=0.9)
    trained.training_step(model, x, y, generator=torch.Generator().manual_seed(0))
    trained.on_step_end(model, 0)
    state = trained.state_dict()
    fresh = cls(momentum=0.9)
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
