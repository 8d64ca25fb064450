"""Selection, bandit, balancing and merging methods through their public interfaces: exports, the
catalog behind ``mixkit list``, use with a DataLoader / MixtureSampler, reprs and argument errors."""

import json

import pytest
import torch
from torch.utils.data import DataLoader, TensorDataset

import mixkit.domain as domain
from mixkit.domain import (
    EXP3FLAD,
    UCB1FLAD,
    BalancedMixture,
    MixtureSampler,
    OnlineMixer,
    PrunedSampler,
    RS2Sampler,
    prune_indices,
)
from mixkit.domain.online import ONLINE_METHODS
from mixkit.domain.selection.catalog import SELECTION_METHODS


def test_exports_and_catalog():
    for name in ("RS2Sampler", "PrunedSampler", "EXP3FLAD", "UCB1FLAD", "BalancedMixture", "MergingEstimator",
                 "el2n_scores", "grand_scores", "average_scores", "prune_indices", "merge_parameters"):
        assert name in domain.__all__ and hasattr(domain, name)
    assert ONLINE_METHODS["exp3-flad"] is EXP3FLAD and ONLINE_METHODS["ucb1-flad"] is UCB1FLAD
    names = [m.name for m in SELECTION_METHODS]
    assert len(names) == len(set(names)) >= 7
    for m in SELECTION_METHODS:
        assert m.paper and m.url.startswith("https://")
        json.dumps(m.defaults)
    assert dict(SELECTION_METHODS[0].defaults) == {"replace": False, "shuffle": True}


def test_rs2_drives_a_dataloader_round_by_round():
    ds = TensorDataset(torch.arange(50))
    sampler = RS2Sampler(len(ds), 0.2, seed=0)
    loader = DataLoader(ds, batch_size=4, sampler=sampler)
    seen = []
    for _ in range(5):  # one pass without replacement
        seen += torch.cat([b[0] for b in loader]).tolist()
    assert sorted(seen) == list(range(50))


def test_pruned_sampler_with_dataloader():
    kept = prune_indices(torch.linspace(0, 1, 30), 0.5, drop_hardest=2)
    assert kept.tolist() == list(range(13, 28))
    loader = DataLoader(TensorDataset(torch.arange(30)), batch_size=5, sampler=PrunedSampler(kept, seed=1))
    assert sorted(torch.cat([b[0] for b in loader]).tolist()) == kept.tolist()


def test_flad_is_an_online_mixer_feeding_the_sampler():
    names = ["a", "b", "c"]
    sampler = MixtureSampler({n: 100 for n in names}, {n: 1.0 for n in names}, seed=0)
    for cls in (EXP3FLAD, UCB1FLAD):
        m = cls(names)
        assert isinstance(m, OnlineMixer) and m.needs == "grads"
        g = torch.Generator().manual_seed(0)
        for step in range(5):
            draw = sampler.take(4)
            counts = {names[k]: int((draw.domain_ids == k).sum()) for k in range(3)}
            grads = {n: torch.randn(8, generator=g) for n, c in counts.items() if c}
            grads["target"] = torch.randn(8, generator=g)
            w = m.update(step, grads_by_domain=grads,
                         counts_by_domain=counts if cls is UCB1FLAD else None)
            assert sum(w.values()) == pytest.approx(1.0)
            sampler.set_weights(m.sampling_weights)
        assert type(m).__name__ in repr(m)


def test_balanced_mixture_feeds_the_sampler_and_validates():
    sizes = {"big": 1000, "small": 10}
    b = BalancedMixture(sizes, 3.0, "upweight")
    MixtureSampler(sizes, b.sampling_weights(), seed=0)
    assert b.loss_weights()["small"] > 1 > b.loss_weights()["big"]
    with pytest.raises(ValueError, match="temperature"):
        BalancedMixture(sizes, 0.0)
    with pytest.raises(ValueError, match="same length"):
        b.weighted_loss(torch.ones(3), torch.zeros(2, dtype=torch.int64))


def test_flad_update_cost_table_runs():
    from mixkit.bench.studies.flad_study import cost_table

    table = cost_table([3, 30], dim=50, drawn=2, repeats=2)
    assert table.count("\n| ") == 3


def test_flad_initial_rewards_from_gradients():
    names = ["a", "b"]
    m = UCB1FLAD(names)
    t = torch.tensor([1.0, 0.0])
    r = m.initial_rewards_from({"a": torch.tensor([2.0, 0.0]), "b": torch.tensor([0.0, 1.0]), "target": t})
    assert r == pytest.approx({"a": 1.0, "b": 0.0})
    assert m.weights == {"a": 1.0, "b": 0.0} or m.upper_confidence()[0] >= m.upper_confidence()[1]
    with pytest.raises(ValueError, match="every auxiliary"):
        m.initial_rewards_from({"a": t, "target": t})


def test_merging_min_weight_leaves_small_partitions_out():
    from mixkit.domain import MergingEstimator

    states = {"a": {"w": torch.zeros(2)}, "b": {"w": torch.ones(2)}}
    est = MergingEstimator(states, lambda sd: float(sd["w"].sum()), min_weight=0.1)
    assert est({"a": 0.95, "b": 0.05}) == pytest.approx(0.0)
    assert est({"a": 0.5, "b": 0.5}) == pytest.approx(1.0)
    assert "MergingEstimator" in repr(est)
