"""Numerics: the Beta sampler follows its law for tiny and huge concentrations, the C-Mixup kernel and the
online methods' exponentiated updates stay finite, and non-finite inputs are refused."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

import mixkit
from mixkit.domain import DGA, ODM, Aioli, DoReMi, RnB
from mixkit.domain.online.online_method import exp_update, log_exp_step, stable_softmax
from mixkit.sample.functional import kernel_partners
from mixkit.sample.functional.partners import dataset_kernel_partners, kernel_weights, window_kernel_partners
from mixkit.sample.lam import sample_beta

N = 20_000


def _gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


# ------------------------------------------------------------------ Beta law
def _thresholds() -> np.ndarray:
    """Where the empirical CDF is compared: log-spaced near 0 and 1 (tiny alpha puts its mass there)."""
    low = np.logspace(-30, -1, 40)
    return np.concatenate([low, np.linspace(0.1, 0.9, 17), 1 - np.logspace(-1, -7, 20)])


@pytest.mark.parametrize("alpha", [1e-4, 1e-2, 1.0, 1e3])
def test_beta_sampler_follows_the_beta_law_ks_style(alpha):
    """sup_t |F_n(t) - F(t)| over a grid, against the Dvoretzky-Kiefer-Wolfowitz bound: with n = 20000,
    P(sup > 0.015) <= 2 exp(-2 n 0.015^2) ~ 2.5e-4 for a correct sampler (the seed is fixed)."""
    special = pytest.importorskip("scipy.special")
    draws = np.sort(sample_beta(alpha, N, _gen(1)).double().numpy())
    t = _thresholds()
    empirical = np.searchsorted(draws, t, side="right") / N
    exact = special.betainc(alpha, alpha, t)
    assert np.abs(empirical - exact).max() < 0.015


@pytest.mark.parametrize("alpha", [1e-4, 1e-3, 1e-6, 1e-300])
def test_tiny_alpha_is_a_fair_coin_between_0_and_1_not_one_half(alpha):
    draws = sample_beta(alpha, N, _gen(2)).double()
    assert bool(torch.isfinite(draws).all())
    near_edge = ((draws < 1e-3) | (draws > 1 - 1e-3)).double().mean().item()
    # P(min(lam, 1 - lam) > 1e-3) = 1 - 2 I_{1e-3}(a, a) ~ a * 2 * log(1000) for small a
    assert near_edge > 1 - 20 * alpha - 0.005
    assert abs((draws > 0.5).double().mean().item() - 0.5) < 0.02  # a fair coin
    assert (draws == 0.5).double().mean().item() < 0.001  # the old underflow gave 0.5


def test_tiny_asymmetric_beta_limit_is_a_biased_coin():
    a, b = 1e-4, 3e-4  # limit: P(lam -> 1) = a / (a + b) = 1/4
    draws = sample_beta(a, N, _gen(3), beta=b).double()
    assert abs((draws > 0.5).double().mean().item() - 0.25) < 0.02


@pytest.mark.parametrize("alpha", [1e3, 1e6, 1e12])
def test_huge_alpha_concentrates_at_one_half(alpha):
    draws = sample_beta(alpha, N, _gen(4)).double()
    assert abs(draws.mean().item() - 0.5) < 1e-3
    sd = math.sqrt(1.0 / (4 * (2 * alpha + 1)))  # Beta(a, a) standard deviation
    assert draws.std().item() == pytest.approx(sd, rel=0.05, abs=1e-7)


@settings(max_examples=60, deadline=None)
@given(log_alpha=st.floats(-300, 12), log_beta=st.floats(-300, 12), seed=st.integers(0, 2**31))
def test_beta_draws_are_always_in_the_unit_interval(log_alpha, log_beta, seed):
    lam = sample_beta(10.0**log_alpha, 64, _gen(seed), beta=10.0**log_beta)
    assert lam.dtype == torch.float32 and lam.shape == (64,)
    assert bool(((lam >= 0) & (lam <= 1)).all())


def test_mixup_elem_with_tiny_alpha_uses_the_beta_law():
    out = mixkit.MixUp(alpha=1e-4, mode="elem")(torch.randn(2000, 4), generator=_gen(5))
    lam = out.lam
    assert ((lam - 0.5).abs() < 0.4).float().mean().item() < 0.01  # not 0.5 for most rows
    assert abs((lam > 0.5).float().mean().item() - 0.5) < 0.05


def test_same_seed_same_draws():
    assert torch.equal(sample_beta(0.2, 100, _gen(7)), sample_beta(0.2, 100, _gen(7)))
    assert torch.equal(sample_beta(2.0, 100, _gen(7)), sample_beta(2.0, 100, _gen(7)))


# ------------------------------------------------------------------ C-Mixup kernel
Y = torch.tensor([0.0, 0.1, 5.0, 5.2, 9.0, 9.05])
NEAREST = [1, 0, 3, 2, 5, 4]


@pytest.mark.parametrize("bandwidth", [1e-3, 1e-20, 1e-40, 1e-200, 5e-324])
def test_tiny_bandwidth_pairs_each_row_with_its_nearest_label(bandwidth):
    u = torch.rand(6, generator=_gen(0), dtype=torch.float64)
    assert kernel_partners(Y, bandwidth, u, exclude_self=True).tolist() == NEAREST
    assert kernel_partners(Y, bandwidth, u, exclude_self=False).tolist() == list(range(6))
    assert window_kernel_partners(Y, bandwidth, u, window=2).tolist() == NEAREST
    assert dataset_kernel_partners(Y + 0.01, Y, bandwidth, u).tolist() == list(range(6))


def test_tiny_bandwidth_through_the_mixer():
    m = mixkit.CMixup(bandwidth=1e-30, source="batch", exclude_self=True)
    assert m(torch.randn(6, 3), Y, generator=_gen(0)).index.tolist() == NEAREST


def test_huge_bandwidth_is_uniform_and_ties_share_mass():
    u = (torch.arange(6, dtype=torch.float64) + 0.5) / 6
    assert sorted(kernel_partners(Y, 1e30, u, exclude_self=False).tolist()) == list(range(6))
    w = kernel_weights(torch.tensor([[0.0, 0.0, 4.0]]), 1e-30)
    assert w.tolist() == [[1.0, 1.0, 0.0]]


def test_kernel_of_overflowing_distances_stays_finite():
    keys = torch.tensor([1e30, -1e30, 3e30])  # squared distances overflow float32
    u = torch.rand(3, generator=_gen(0), dtype=torch.float64)
    idx = kernel_partners(keys, 1.0, u, exclude_self=True)
    assert all(i != j for i, j in enumerate(idx.tolist()))


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), -float("inf")])
def test_cmixup_refuses_non_finite_labels(bad):
    y = Y.clone()
    y[2] = bad
    with pytest.raises(ValueError, match="y must be finite"):
        mixkit.CMixup(source="batch")(torch.randn(6, 3), y)
    with pytest.raises(ValueError, match="y_train must be finite"):
        mixkit.CMixup(dataset=(torch.randn(6, 3), y))
    with pytest.raises(ValueError, match="y must be finite"):
        mixkit.RegMixKNN()(torch.randn(6, 3), y)


# ------------------------------------------------------------------ exponentiated updates
@settings(max_examples=80, deadline=None)
@given(
    scores=st.lists(st.floats(-1e308, 1e308), min_size=2, max_size=6),
    log_step=st.floats(-10, 308),
)
def test_exp_update_is_finite_for_any_finite_score_and_step(scores, log_step):
    k = len(scores)
    p = torch.full((k,), 1.0 / k, dtype=torch.float64)
    s = torch.tensor(scores, dtype=torch.float64)
    new = exp_update(p, s, 10.0**log_step)
    assert bool(torch.isfinite(new).all()) and abs(new.sum().item() - 1) < 1e-9
    assert new[int(s.argmax())] >= new.min()  # the best score never loses most


def test_exp_update_matches_the_textbook_rule_for_moderate_values():
    p = torch.tensor([0.2, 0.3, 0.5], dtype=torch.float64)
    s = torch.tensor([1.0, -2.0, 0.5], dtype=torch.float64)
    expected = p * torch.exp(0.7 * s)
    torch.testing.assert_close(exp_update(p, s, 0.7), expected / expected.sum())


def test_exp_update_limit_and_zero_weights():
    p = torch.tensor([0.0, 0.5, 0.5], dtype=torch.float64)
    s = torch.tensor([100.0, 1.0, 2.0], dtype=torch.float64)
    new = exp_update(p, s, 1e308)
    assert new.tolist() == [0.0, 0.0, 1.0]  # weight 0 stays 0; the limit puts all mass on the best
    with pytest.raises(ValueError, match="finite"):
        exp_update(p, torch.tensor([float("nan"), 0.0, 0.0], dtype=torch.float64), 1.0)
    with pytest.raises(ValueError, match="positive entry"):
        log_exp_step(torch.full((2,), -math.inf, dtype=torch.float64), torch.zeros(2), 1.0)
    assert stable_softmax(torch.tensor([math.inf, 1.0, math.inf])).tolist() == [0.5, 0.0, 0.5]
    with pytest.raises(ValueError, match="NaN"):
        stable_softmax(torch.tensor([math.nan, 1.0]))


D = ["a", "b", "c"]


def _finite_weights(w: dict[str, float]) -> bool:
    return all(math.isfinite(v) and v >= 0 for v in w.values()) and abs(sum(w.values()) - 1) < 1e-9


@pytest.mark.parametrize("rule", ["smoothed_mean", "exp3"])
@pytest.mark.parametrize("loss", [1e300, 1e308, -1e308, 0.0])
@pytest.mark.parametrize("reward_scale", [0.1, 1e308])
def test_odm_stays_finite_for_huge_losses(rule, loss, reward_scale):
    m = ODM(D, rule=rule, warmup_steps=0, reward_scale=reward_scale)
    for step in range(6):
        w = m.update(step, {"a": loss, "b": 1.0, "c": 2.0})
        assert _finite_weights(w)
    clone = ODM(D, rule=rule, warmup_steps=0, reward_scale=reward_scale)
    clone.load_state_dict(m.state_dict())
    assert clone.weights == m.weights


@pytest.mark.parametrize("step_size", [1.0, 1e10, 1e308])
@pytest.mark.parametrize("loss", [10.0, 1e300, 1e308])
def test_doremi_stays_finite_for_huge_losses_and_step_sizes(step_size, loss):
    m = DoReMi(D, step_size=step_size)
    for step in range(4):
        assert _finite_weights(m.update(step, {"a": loss, "b": 1.0}))
    assert _finite_weights(m.average_weights)
    tok = m.update_tokens(4, torch.full((2, 3), 1e300, dtype=torch.float64),
                          torch.zeros(2, 3, dtype=torch.float64), torch.tensor([0, 1]))
    assert _finite_weights(tok)
    clone = DoReMi(D, step_size=step_size)
    clone.load_state_dict(m.state_dict())
    assert clone.weights == m.weights
    if step_size == 1e308 and loss >= 1e300:  # the limit: mass on the worst domain, plus the smoothing floor
        assert m.weights["a"] > 0.99


def test_dga_rnb_aioli_stay_finite_for_huge_steps():
    g = _gen(0)
    grads = {d: torch.randn(8, generator=g) * 1e30 for d in D}
    dga = DGA(D, target="a", step_size=1e308)
    assert _finite_weights(dga.update(0, grads_by_domain=grads))
    rnb = RnB(D, round_steps=1, temperature=1e308)
    assert _finite_weights(rnb.update(0, grads_by_domain=grads))
    aioli = Aioli(D, estimator="window", window_step_size=1e308, update_every=1, window=3, perturbation=1e300)
    for step in range(8):
        assert _finite_weights(aioli.update(step, {"a": 1e10 * step, "b": -1e10, "c": 1.0}))
    probe = Aioli(D, step_size=1e308, ema=None, round_steps=20, probe_rounds=1, probe_steps=2)
    probe.update(-1, {d: 1.0 for d in D})
    for step in range(40):
        if probe.wants_signal(step):
            assert _finite_weights(probe.update(step, {"a": 3.0 - 0.1 * step, "b": 2.0, "c": 1.0}))
