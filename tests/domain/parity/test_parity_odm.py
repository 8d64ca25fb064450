"""ODM against an oracle written from the release (alon-albalak/online-data-mixing,
megatron/data/data_sampling_utils.py, the group updates on mixed minibatches)."""

import math

import pytest
import torch

from mixkit.domain.online import ODM

K, STEPS, WARMUP = 5, 80, 7


def _inputs(seed):
    g = torch.Generator().manual_seed(seed)
    out = []
    for _ in range(STEPS):
        present = (torch.rand(K, generator=g) < 0.7).tolist()
        losses = (torch.rand(K, generator=g, dtype=torch.float64) * 6).tolist()
        out.append({f"d{i}": losses[i] for i in range(K) if present[i]})
    return out


def oracle(inputs, rule, a, warmup, init):
    names = [f"d{i}" for i in range(K)]
    probs = [x / sum(init) for x in init]
    reward = [0.0] * K
    eps = 1 / K
    history = []
    for step, batch in enumerate(inputs):
        it = step + 1
        if it > warmup:
            prev_eps = eps
            eps = min(1 / K, math.sqrt(math.log(K) / (K * it)))
            for i, n in enumerate(names):
                if n in batch:
                    if rule == "smoothed_mean":
                        reward[i] = a * reward[i] + (1 - a) * math.exp(batch[n])
                    else:
                        reward[i] += (batch[n] / 10) / probs[i]
            if rule == "smoothed_mean":
                total = sum(r * prev_eps for r in reward)
                w = [reward[i] * prev_eps * (1 - K * eps) / total + eps for i in range(K)]
            else:
                total = sum(math.exp(r * prev_eps) for r in reward)
                w = [math.exp(reward[i] * prev_eps) * (1 - K * eps) / total + eps for i in range(K)]
            probs = [x / sum(w) for x in w]
        history.append(list(probs))
    return history


@pytest.mark.parametrize("rule", ["smoothed_mean", "exp3"])
def test_odm_matches_the_released_rule_for_80_steps(rule):
    names = [f"d{i}" for i in range(K)]
    init = [1.0, 2.0, 3.0, 1.0, 3.0]
    inputs = _inputs(1)
    m = ODM(names, rule=rule, warmup_steps=WARMUP, initial_weights=dict(zip(names, init)))
    for step, (batch, want) in enumerate(zip(inputs, oracle(inputs, rule, 0.9, WARMUP, init))):
        got = m.update(step, losses_by_domain=batch) if m.wants_signal(step) else m.weights
        assert max(abs(got[n] - want[i]) for i, n in enumerate(names)) < 1e-6, step
    assert m.steps_seen == STEPS - WARMUP


def test_odm_smoothed_mean_moves_with_fixed_losses():
    m = ODM(["easy", "hard"], warmup_steps=0)
    for step in range(200):
        w = m.update(step, losses_by_domain={"easy": 1.0, "hard": 3.0})
    # linear normalisation of exp(loss): e^3 / (e + e^3) = 0.88 of the non-exploration mass
    assert w["hard"] > 0.8


@pytest.mark.parametrize("rule", ["smoothed_mean", "exp3"])
def test_odm_is_finite_for_huge_losses_and_rejects_nan(rule):
    m = ODM(["a", "b", "c"], rule=rule)
    for step in range(5):
        w = m.update(step, losses_by_domain={"a": 1e6, "b": 1.0})
        assert all(math.isfinite(v) and v > 0 for v in w.values()) and abs(sum(w.values()) - 1) < 1e-12
    with pytest.raises(ValueError, match="finite"):
        m.update(6, losses_by_domain={"a": float("inf")})
