"""Upsample vs upweight against oracles written from the paper's objective (Li et al. 2025): the target is
``sum_k w_k L_k`` with ``w_k ∝ n_k^(1/T)``; temperature sampling draws from ``w`` with unit loss weights;
scalarization draws in proportion to the sizes with loss weights ``w_k / q_k``. Both give the same
expected gradient; the single-draw gradient variance of temperature sampling is never larger."""

import math

import pytest
import torch

from mixkit.domain import BalancedMixture

SIZES = {"en": 9000, "de": 700, "sw": 40, "yo": 5}


def temp_oracle(sizes, t):
    raw = {k: n ** (1 / t) for k, n in sizes.items()}
    z = sum(raw.values())
    return {k: v / z for k, v in raw.items()}


def _per_example_grads(seed=0, per=6, dim=3):
    g = torch.Generator().manual_seed(seed)
    return {k: [[float(v) for v in torch.randn(dim, generator=g) + i] for _ in range(per)]
            for i, k in enumerate(SIZES)}


def expected_and_variance(sample_w, loss_w, grads):
    """Exact mean and total variance of one draw's weighted gradient (domain ~ sample_w, example uniform)."""
    dim = len(next(iter(grads.values()))[0])
    mean = [0.0] * dim
    second = 0.0
    for k, rows in grads.items():
        for r in rows:
            prob = sample_w[k] / len(rows)
            v = [loss_w[k] * x for x in r]
            mean = [m + prob * x for m, x in zip(mean, v)]
            second += prob * sum(x * x for x in v)
    return mean, second - sum(m * m for m in mean)


@pytest.mark.parametrize("t", [1.0, 3.0, 10.0])
def test_equivalent_in_expectation_and_upsampling_has_lower_variance(t):
    grads = _per_example_grads()
    target = temp_oracle(SIZES, t)
    up, scal = BalancedMixture(SIZES, t, "upsample"), BalancedMixture(SIZES, t, "upweight")
    assert up.sampling_weights() == pytest.approx(target)
    assert scal.sampling_weights() == pytest.approx({k: n / sum(SIZES.values()) for k, n in SIZES.items()})
    m1, v1 = expected_and_variance(up.sampling_weights(), up.loss_weights(), grads)
    m2, v2 = expected_and_variance(scal.sampling_weights(), scal.loss_weights(), grads)
    want = [sum(target[k] * sum(r[c] for r in rows) / len(rows) for k, rows in grads.items())
            for c in range(3)]
    assert m1 == pytest.approx(want) and m2 == pytest.approx(want)
    assert v1 <= v2 + 1e-9
    if t > 1:
        assert v2 > 2 * v1  # heavy imbalance: scalarization's variance is much larger


def test_weighted_loss_is_the_unbiased_estimate():
    b = BalancedMixture(SIZES, 5.0, "upweight")
    ids = torch.tensor([0, 0, 1, 3, 2])
    losses = torch.tensor([1.0, 2.0, 3.0, 4.0, 5.0])
    lw = b.loss_weights()
    names = list(SIZES)
    want = sum(lw[names[i]] * float(v) for i, v in zip(ids.tolist(), losses)) / 5
    assert float(b.weighted_loss(losses, ids)) == pytest.approx(want, rel=1e-6)


def test_cooldown_lowers_temperature_and_keeps_or_drops_the_objective():
    c = BalancedMixture(SIZES, 5.0, "cooldown", end_temperature=1.0, start=0.2, end=0.8)
    assert c.sampling_weights(0.0) == pytest.approx(temp_oracle(SIZES, 5.0))
    assert c.sampling_weights(1.0) == pytest.approx(temp_oracle(SIZES, 1.0))
    mid = c.sampling_weights(0.5)
    assert mid == pytest.approx(temp_oracle(SIZES, 3.0))
    assert all(v == 1.0 for v in c.loss_weights(0.7).values())
    cu = BalancedMixture(SIZES, 5.0, "cooldown_upweight", end_temperature=1.0)
    for p in (0.0, 0.4, 1.0):
        q, lw = cu.sampling_weights(p), cu.loss_weights(p)
        assert {k: q[k] * lw[k] for k in SIZES} == pytest.approx(temp_oracle(SIZES, 5.0))
    with pytest.raises(ValueError, match="strategy"):
        BalancedMixture(SIZES, 5.0, "both")
    assert "cooldown" in repr(c) and math.isfinite(c.temperature)
