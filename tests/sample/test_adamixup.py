"""AdaMixup's properties: a valid policy region, gradients reach the generator, its own optimizer steps it,
state round-trips, the bench loop trains with it, errors."""

import pytest
import torch

from mixkit.bench.models.cnn import SmallCNN
from mixkit.sample import build
from mixkit.sample.mixers.adamixup import AdaMixup, truncated_normal


def test_truncated_normal_is_bounded_and_seeded():
    a = truncated_normal((20000,), torch.Generator().manual_seed(0))
    b = truncated_normal((20000,), torch.Generator().manual_seed(0))
    assert torch.equal(a, b) and float(a.abs().max()) <= 2.0
    assert abs(float(a.mean())) < 0.03 and abs(float(a.std()) - 0.8796) < 0.02


def test_lazy_build_own_optimizer_steps_the_generator_and_state_round_trips():
    torch.manual_seed(0)
    model = SmallCNN(in_channels=1, num_classes=3, width=4)
    mixer = build("adamixup")
    assert mixer.policy is None and mixer.owns_optimizer
    x, y = torch.randn(8, 1, 8, 8), torch.tensor([0, 1, 2, 0, 1, 2, 0, 1])
    step = mixer.training_step(model, x, y, generator=torch.Generator().manual_seed(0))
    region = step.mixed.extras["policy"]
    assert region.shape == (4, 3) and torch.allclose(region.sum(1), torch.ones(4))
    lam = step.mixed.lam
    assert bool(((lam[:4] >= region[:, 0] - 1e-6) & (lam[:4] <= region[:, 0] + region[:, 1] + 1e-6)).all())
    step.loss.backward()
    assert all(p.grad is not None for p in mixer.policy.parameters())
    before = [p.detach().clone() for p in mixer.policy.parameters()]
    mixer.on_step_end(model, 0)
    assert any(not torch.equal(a, p) for a, p in zip(before, mixer.policy.parameters()))
    assert all(p.grad is None for p in mixer.parameters())
    fresh = AdaMixup()
    fresh.load_state_dict(mixer.state_dict())
    for a, b in zip(fresh.parameters(), mixer.parameters()):
        assert torch.equal(a, b)
    assert fresh._optimizer is not None and "own_optimizer=True" in repr(fresh)


def test_plain_call_mixes_the_first_half():
    mixer = AdaMixup(in_channels=3, feature_channels=8)
    x = torch.rand(5, 3, 8, 8)
    out = mixer(x, torch.arange(5), generator=torch.Generator().manual_seed(0))
    assert out.x.shape == x.shape and torch.equal(out.x[2:], x[2:])
    assert bool((out.lam[:2] > 0).all()) and bool((out.lam[:2] < 1).all())


def test_bench_loop_trains_with_it():
    from mixkit.bench.train import make_optimizer  # noqa: F401  (the loop leaves the mixer's parameters out)
    torch.manual_seed(0)
    model = SmallCNN(in_channels=1, num_classes=2, width=4)
    mixer = AdaMixup()
    opt = torch.optim.SGD(model.parameters(), lr=0.05)
    g = torch.Generator().manual_seed(0)
    x = torch.randn(16, 1, 8, 8)
    y = (x.mean((1, 2, 3)) > 0).long()
    losses = []
    for i in range(15):
        step = mixer.training_step(model, x, y, generator=g)
        opt.zero_grad()
        step.loss.backward()
        opt.step()
        mixer.on_step_end(model, i)
        losses.append(float(step.loss))
    assert losses[-1] < losses[0]


def test_bad_arguments():
    with pytest.raises(ValueError, match="feature_channels"):
        AdaMixup(own_optimizer=False, in_channels=3)
    with pytest.raises(ValueError, match="disc_hidden"):
        AdaMixup(disc_hidden=0)
    with pytest.raises(ValueError, match="lr"):
        AdaMixup(lr=0)
    with pytest.raises(ValueError, match="y"):
        AdaMixup().training_step(SmallCNN(), torch.randn(4, 1, 8, 8), None)
