"""AdaMixup against an oracle written from the release (SITE5039/AdaMixUp:
GitHub.AdaMixup.AAAI.MNIST.Cifar.py): the policy sees ``(m1 x1 + m2 x2) / 2``, ``lam = a + u b`` from its
softmax ``(a, b, c)``, the classifier's soft cross-entropy over ``[mixed, x1]``, the discriminator's
cross-entropy with ``mixed -> 0``, ``x1, unseen -> 1``, summed."""

import math

import torch
import torch.nn.functional as F
from torch import nn

from mixkit.bench.models.cnn import SmallCNN
from mixkit.sample.mixers.adamixup import AdaMixup


class FixedPolicy(nn.Module):
    """Records its input and returns a fixed softmax per row."""

    def __init__(self, region):
        super().__init__()
        self.region, self.seen = region, None
        self.dummy = nn.Parameter(torch.zeros(()))

    def forward(self, x):
        self.seen = x.detach().clone()
        return self.region + 0 * self.dummy


def setup(seed=0, n=6):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, 1, 8, 8, generator=g)
    y = torch.randint(0, 4, (n,), generator=g)
    torch.manual_seed(seed)
    model = SmallCNN(in_channels=1, num_classes=4, width=4).eval()  # eval: rows independent of the batch
    mixer = AdaMixup(in_channels=1, feature_channels=16, disc_hidden=5)
    return x, y, model, mixer


def test_policy_input_and_mixture_follow_the_release():
    x, y, model, mixer = setup()
    h = 3
    region = torch.tensor([[0.2, 0.5, 0.3], [0.6, 0.1, 0.3], [0.0, 1.0, 0.0]])
    mixer.policy = FixedPolicy(region)
    params = mixer.draw(x.shape, torch.Generator().manual_seed(1))
    mixed, lam = mixer.apply(x, params)
    mixed, lam = mixed.detach(), lam.detach()
    idx = params.pairs.index
    for i in range(h):
        want_lam = float(region[i, 0] + params.u[i] * region[i, 1])
        assert math.isclose(float(lam[i]), want_lam, rel_tol=1e-6)
        torch.testing.assert_close(mixed[i], want_lam * x[i] + (1 - want_lam) * x[int(idx[i])])
        want_in = (params.m1[i] * x[i] + params.m2[i] * x[int(idx[i])]) / 2
        torch.testing.assert_close(mixer.policy.seen[i], want_in)
    assert torch.equal(mixed[h:], x[h:]) and torch.equal(lam[h:], torch.ones(3))


def test_loss_matches_the_oracle():
    x, y, model, mixer = setup(2)
    step = mixer.training_step(model, x, y, generator=torch.Generator().manual_seed(3))
    params = mixer.draw(x.shape, torch.Generator().manual_seed(3))
    _, lam = mixer.policy_lam(x, params)
    idx, h = params.pairs.index, 3
    cls, disc = [], []
    with torch.no_grad():
        for i in range(h):
            lm = float(lam[i])
            xm = lm * x[i] + (1 - lm) * x[int(idx[i])]
            z = model(xm[None])[0]
            cls.append(lm * float(F.cross_entropy(z[None], y[i:i + 1]))
                       + (1 - lm) * float(F.cross_entropy(z[None], y[int(idx[i])][None])))
            f = model.forward_features(xm[None]).mean((2, 3))
            disc.append(float(F.cross_entropy(mixer.discriminator(f), torch.tensor([0]))))
        for i in range(h):
            cls.append(float(F.cross_entropy(model(x[i:i + 1]), y[i:i + 1])))
        for i in range(6):
            f = model.forward_features(x[i:i + 1]).mean((2, 3))
            disc.append(float(F.cross_entropy(mixer.discriminator(f), torch.tensor([1]))))
    want = sum(cls) / len(cls) + sum(disc) / len(disc)
    assert math.isclose(float(step.loss), want, rel_tol=1e-4)
    assert torch.equal(step.mixed.index[h:], torch.arange(h, 6))
    torch.testing.assert_close(step.mixed.lam[:h], lam.detach())
