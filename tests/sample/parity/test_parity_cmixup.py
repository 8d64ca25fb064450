"""C-Mixup sampling vs the release's rates (huaxiuyao/C-Mixup, src/algorithm.py get_mixup_sample_rate): a
Gaussian kernel density fitted on y_i, evaluated at every training target (self included) and normalised.
Distribution tests on 2,000 draws (chi-square against the oracle's probabilities)."""

import math

import torch

import mixkit
from mixkit.sample.functional import kernel_partners
from mixkit.sample.functional.partners import dataset_kernel_partners


def oracle_rates(y_i, pool, bandwidth):
    """exp(score of a Gaussian KDE fitted on the single point y_i) at each pool row, normalised."""
    dens = []
    for p in pool:
        d2 = sum((float(a) - float(b)) ** 2 for a, b in zip(y_i.reshape(-1), p.reshape(-1)))
        norm = (math.sqrt(2 * math.pi) * bandwidth) ** len(p.reshape(-1))
        dens.append(math.exp(-d2 / (2 * bandwidth**2)) / norm)
    s = sum(dens)
    return [v / s for v in dens]


def chi_square(counts, probs, n):
    return sum((c - n * p) ** 2 / (n * p) for c, p in zip(counts, probs) if n * p > 0)


# 99.9 % quantiles of chi-square with 5 and 7 degrees of freedom
CHI2_999 = {5: 20.52, 7: 24.32}


def test_dataset_pool_matches_the_release_rates_on_2000_draws():
    pool = torch.tensor([[0.0], [0.3], [0.5], [1.0], [1.4], [3.0]])
    y_i = torch.tensor([[0.4]])
    probs = oracle_rates(y_i[0], pool, 0.5)
    u = torch.rand(2000, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    draws = dataset_kernel_partners(y_i.expand(2000, 1), pool, 0.5, u)
    counts = torch.bincount(draws, minlength=6).tolist()
    assert chi_square(counts, probs, 2000) < CHI2_999[5]
    # the test can fail: probabilities of a kernel twice as wide are rejected
    assert chi_square(counts, oracle_rates(y_i[0], pool, 1.0), 2000) > CHI2_999[5]


def test_batch_pool_includes_self_with_the_release_rates():
    keys = torch.tensor([[0.0], [0.2], [0.7], [1.0], [1.1], [2.0], [2.2], [4.0]])
    probs = oracle_rates(keys[2], keys, 0.6)  # row 2's partner distribution, itself included
    g = torch.Generator().manual_seed(1)
    picks = [int(kernel_partners(keys, 0.6, torch.rand(8, generator=g, dtype=torch.float64),
                                 exclude_self=False)[2]) for _ in range(2000)]
    counts = torch.bincount(torch.tensor(picks), minlength=8).tolist()
    assert counts[2] > 0  # self-pairs occur
    assert chi_square(counts, probs, 2000) < CHI2_999[7]


def test_mixer_default_draws_from_the_attached_training_set():
    g = torch.Generator().manual_seed(2)
    x_train = torch.randn(6, 2, generator=g)
    y_train = torch.tensor([[0.0], [0.3], [0.5], [1.0], [1.4], [3.0]])
    mixer = mixkit.CMixup(bandwidth=0.5, dataset=(x_train, y_train))
    rows = torch.full((2000,), 2)
    out = mixer(x_train[rows], y_train[rows], generator=torch.Generator().manual_seed(3))
    counts = torch.bincount(out.extras["partners"], minlength=6).tolist()
    assert chi_square(counts, oracle_rates(y_train[2], y_train, 0.5), 2000) < CHI2_999[5]
    assert bool((out.lam == out.lam[0]).all())  # one lam per batch, as released
