"""MixedBatch's label rules against hand-computed cases."""

from __future__ import annotations

import math

import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from mixkit import MixedBatch


def _batch(lam, index, y=None):
    n = len(lam)
    return MixedBatch(x=torch.zeros(n, 1), index=torch.tensor(index), lam=torch.tensor(lam), y=y)


def test_loss_matches_a_hand_computed_mixed_cross_entropy():
    logits = torch.tensor([[2.0, 0.0, -1.0], [0.5, 0.5, 1.0]])
    y = torch.tensor([0, 2])
    out = _batch([0.7, 0.25], [1, 0], y)

    def ce(row, cls):
        z = logits[row].tolist()
        return math.log(sum(math.exp(v) for v in z)) - z[cls]

    row0 = 0.7 * ce(0, 0) + 0.3 * ce(0, 2)  # own label 0, partner (row 1) label 2
    row1 = 0.25 * ce(1, 2) + 0.75 * ce(1, 0)
    torch.testing.assert_close(out.loss(logits), torch.tensor((row0 + row1) / 2))
    torch.testing.assert_close(out.loss(logits, reduction="sum"), torch.tensor(row0 + row1))
    torch.testing.assert_close(out.loss(logits, reduction="none"), torch.tensor([row0, row1]))
    want = torch.tensor([[0.7, 0.0, 0.3], [0.75, 0.0, 0.25]])
    torch.testing.assert_close(out.soft_targets(3), want)


@settings(max_examples=40, deadline=None)
@given(st.integers(1, 8), st.integers(2, 7), st.floats(0.0, 0.5), st.integers(0, 2**31 - 1))
def test_label_smoothing_smooths_each_label_then_mixes(n, k, smoothing, seed):
    g = torch.Generator().manual_seed(seed)
    y = torch.randint(0, k, (n,), generator=g)
    lam = torch.rand(n, generator=g)
    index = torch.randperm(n, generator=g)
    out = MixedBatch(x=torch.zeros(n, 1), index=index, lam=lam, y=y)
    logits = torch.randn(n, k, generator=g)

    def smooth(labels):
        return torch.nn.functional.one_hot(labels, k).float() * (1 - smoothing) + smoothing / k

    target = lam.view(-1, 1) * smooth(y) + (1 - lam.view(-1, 1)) * smooth(y[index])
    torch.testing.assert_close(out.soft_targets(k, label_smoothing=smoothing), target)
    torch.testing.assert_close(out.soft_targets(k, label_smoothing=smoothing).sum(1), torch.ones(n))
    want = -(target * torch.log_softmax(logits, -1)).sum(-1).mean()
    torch.testing.assert_close(out.loss(logits, label_smoothing=smoothing), want)


def test_soft_labels_are_mixed_as_distributions():
    y = torch.tensor([[0.9, 0.1, 0.0], [0.0, 0.5, 0.5], [1 / 3, 1 / 3, 1 / 3]])
    out = _batch([0.6, 1.0, 0.2], [2, 1, 0], y)
    target = torch.stack([0.6 * y[0] + 0.4 * y[2], y[1], 0.2 * y[2] + 0.8 * y[0]])
    torch.testing.assert_close(out.soft_targets(3), target)
    logits = torch.randn(3, 3)
    torch.testing.assert_close(out.loss(logits), -(target * torch.log_softmax(logits, -1)).sum(-1).mean())
    torch.testing.assert_close(out.mix_targets(), target)


def test_half_precision_logits_are_computed_in_float32():
    logits = torch.tensor([[30.0, -30.0], [0.0, 1.0]], dtype=torch.float16)
    out = _batch([0.5, 1.0], [1, 0], torch.tensor([1, 0]))
    loss = out.loss(logits)
    assert loss.dtype == torch.float32 and torch.isfinite(loss)
    want = out.loss(logits.float())
    torch.testing.assert_close(loss, want)
