"""SupReMix's properties: hard positives and negatives change the loss the right way, gradients, errors."""

import pytest
import torch
import torch.nn.functional as F

from mixkit.sample.losses.supremix import supremix_loss, supremix_weights


def test_ordered_embeddings_score_better_than_shuffled_ones():
    labels = torch.linspace(0, 10, 16)
    angle = labels / 10 * 1.5
    ordered = torch.stack([angle.cos(), angle.sin()], 1)
    shuffled = ordered[torch.randperm(16, generator=torch.Generator().manual_seed(0))]
    g = lambda: torch.Generator().manual_seed(1)  # noqa: E731
    assert supremix_loss(ordered, labels, window=3.0, generator=g()) < supremix_loss(
        shuffled, labels, window=3.0, generator=g())


def test_hard_positives_exist_only_inside_the_window():
    feats = F.normalize(torch.randn(4, 3, generator=torch.Generator().manual_seed(0)), dim=1)
    labels = torch.tensor([0.0, 1.0, 2.0, 30.0])
    base = supremix_loss(feats, labels, mix_positives=False, generator=torch.Generator().manual_seed(0))
    narrow = supremix_loss(feats, labels, window=0.5, generator=torch.Generator().manual_seed(0))
    wide = supremix_loss(feats, labels, window=5.0, generator=torch.Generator().manual_seed(0))
    assert torch.equal(base, narrow)   # no pair brackets any label within 0.5
    assert not torch.equal(base, wide)


def test_gradients_flow_and_seeds_replay():
    feats = F.normalize(torch.randn(5, 2, 8, generator=torch.Generator().manual_seed(0)), dim=-1)
    feats.requires_grad_()
    labels = torch.tensor([1.0, 2.0, 3.0, 3.0, 6.0])
    a = supremix_loss(feats, labels, generator=torch.Generator().manual_seed(3))
    b = supremix_loss(feats, labels, generator=torch.Generator().manual_seed(3))
    assert torch.equal(a, b) and torch.isfinite(a)
    a.backward()
    assert torch.isfinite(feats.grad).all() and float(feats.grad.abs().sum()) > 0


def test_weights_and_bad_input():
    d = torch.tensor([0.0, 1.0, 3.0])
    torch.testing.assert_close(supremix_weights(d), d + 1)
    torch.testing.assert_close(supremix_weights(d, "l2"), 1 / (d ** 2 + 1))
    with pytest.raises(ValueError, match="weighting"):
        supremix_weights(d, "cosine")
    with pytest.raises(ValueError, match="labels"):
        supremix_loss(torch.randn(3, 4), torch.zeros(4))
    with pytest.raises(ValueError, match="features"):
        supremix_loss(torch.randn(3), torch.zeros(3))
    with pytest.raises(ValueError, match="temperature"):
        supremix_loss(torch.randn(3, 4), torch.zeros(3), temperature=0.0)
    with pytest.raises(ValueError, match="window"):
        supremix_loss(torch.randn(3, 4), torch.zeros(3), window=-1.0)
