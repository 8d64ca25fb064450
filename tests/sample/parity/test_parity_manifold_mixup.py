"""Manifold Mixup vs an oracle of the release (vikasverma1077/manifold_mixup, preresnet.py + main.py): the
hidden state mixed after a fixed stage with a fixed lam/permutation, and the BCE-on-softmax loss."""

import math

import torch
from torch import nn

import mixkit


class TinyResNet(nn.Module):
    """Release naming: conv1 -> layer1 -> layer2 -> layer3 -> linear."""

    def __init__(self):
        super().__init__()
        torch.manual_seed(0)
        self.conv1 = nn.Conv2d(2, 4, 3, padding=1)
        self.layer1 = nn.Sequential(nn.ReLU(), nn.Conv2d(4, 4, 3, padding=1))
        self.layer2 = nn.Sequential(nn.Tanh(), nn.Conv2d(4, 6, 3, stride=2, padding=1))
        self.layer3 = nn.Sequential(nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten())
        self.linear = nn.Linear(6, 5)

    def forward(self, x):
        return self.linear(self.layer3(self.layer2(self.layer1(self.conv1(x)))))


def oracle(model, x, y, layer, lam, perm, k=5):
    """The release's forward with mixing at ``layer`` (0 input, 1 after layer1, 2 after layer2), then
    mean BCE between softmax and the mixed one-hot target, with explicit loops for the loss."""
    def mix(h):
        return lam * h + (1 - lam) * h[perm]

    h = mix(x) if layer == 0 else x
    h = model.layer1(model.conv1(h))
    if layer == 1:
        h = mix(h)
    mixed_hidden = h
    h = model.layer2(h)
    if layer == 2:
        h = mix(h)
        mixed_hidden = h
    logits = model.linear(model.layer3(h))
    total = 0.0
    for i in range(x.shape[0]):
        p = torch.softmax(logits[i].detach().double(), 0)
        for c in range(k):
            t = lam * (c == int(y[i])) + (1 - lam) * (c == int(y[perm[i]]))
            total += -(t * math.log(float(p[c])) + (1 - t) * math.log(1 - float(p[c])))
    return mixed_hidden, logits, total / (x.shape[0] * k)


def test_default_candidates_follow_the_release_on_resnet_naming():
    assert mixkit.ManifoldMixup().candidate_layers(TinyResNet()) == ["input", "layer1", "layer2"]


def test_mixed_hidden_state_and_loss_match_the_oracle():
    model = TinyResNet()
    g = torch.Generator().manual_seed(1)
    x, y = torch.randn(6, 2, 8, 8, generator=g), torch.randint(0, 5, (6,), generator=g)
    for layer, name in ((1, "layer1"), (2, "layer2")):
        mixer = mixkit.ManifoldMixup(layers=[name], include_input=False)
        captured = {}
        target = model.layer2 if layer == 1 else model.layer3
        handle = target.register_forward_pre_hook(
            lambda m, inp, store=captured: store.__setitem__("h", inp[0].detach()))
        step = mixer.training_step(model, x, y, generator=torch.Generator().manual_seed(7))
        handle.remove()
        lam = float(step.mixed.lam[0])
        assert bool((step.mixed.lam == lam).all())  # one lam per batch, as released
        perm = step.mixed.index
        assert sorted(perm.tolist()) == list(range(6))  # a permutation
        hidden, logits, loss = oracle(model, x, y, layer, lam, perm)
        torch.testing.assert_close(captured["h"], hidden.detach(), atol=1e-6, rtol=1e-5)
        torch.testing.assert_close(step.logits, logits, atol=1e-6, rtol=1e-5)
        assert abs(float(step.loss) - loss) < 1e-5
        assert abs(float(step.mixed.loss(step.logits)) - loss) > 1e-3  # BCE, not the mixed CE


def test_layer_draw_is_uniform_over_input_layer1_layer2():
    model = TinyResNet()
    mixer = mixkit.ManifoldMixup()
    x, y = torch.randn(4, 2, 8, 8), torch.arange(4)
    g = torch.Generator().manual_seed(0)
    counts = {"input": 0, "layer1": 0, "layer2": 0}
    for _ in range(300):
        counts[mixer.training_step(model, x, y, generator=g).mixed.extras["layer"]] += 1
    assert all(70 < c < 130 for c in counts.values()), counts
