"""Mixture estimation by merging against an oracle written from the paper (Na et al. 2024): the candidate's
score is the loss of the parameter average of the partition proxies (weighted by the mixture; uniform over
the partitions of a union), computed element by element with loops."""

import pytest
import torch
from torch import nn

from mixkit.domain.search.merging import MergingEstimator, merge_parameters, spearman


def _states(n=3):
    out = []
    for i in range(n):
        torch.manual_seed(i)
        m = nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4), nn.Linear(4, 2))
        m[1].num_batches_tracked += i + 1
        out.append({k: v.clone() for k, v in m.state_dict().items()})
    return out


def merge_oracle(states, weights):
    z = sum(weights)
    out = {}
    for k, v in states[0].items():
        if not torch.is_floating_point(v):
            out[k] = states[max(range(len(weights)), key=lambda i: (weights[i], -i))][k]
            continue
        flat = [0.0] * v.numel()
        for s, w in zip(states, weights):
            vals = s[k].reshape(-1).tolist()
            for j in range(len(flat)):
                flat[j] += w / z * vals[j]
        out[k] = torch.tensor(flat, dtype=v.dtype).reshape(v.shape)
    return out


@pytest.mark.parametrize("weights", [[1, 1, 1], [0.2, 0.5, 0.3], [0, 3, 1]])
def test_merge_matches_oracle(weights):
    states = _states()
    got, want = merge_parameters(states, weights), merge_oracle(states, weights)
    assert got.keys() == want.keys()
    for k in want:
        torch.testing.assert_close(got[k], want[k], rtol=1e-6, atol=1e-7)


def test_estimator_scores_the_merged_model_and_ranks():
    states = dict(zip("abc", _states()))
    target = torch.zeros(4, 3)

    def evaluate(sd):
        return float((sd["0.weight"] - target).pow(2).sum())

    est = MergingEstimator(states, evaluate)
    mixes = [{"a": 1.0}, {"a": 0.5, "b": 0.5}, {"a": 1 / 3, "b": 1 / 3, "c": 1 / 3}]
    scores = est.score(mixes)
    for m, s in zip(mixes, scores):
        want = merge_oracle([states[k] for k in m], list(m.values()))
        assert s == pytest.approx(evaluate(want), rel=1e-6)
    assert est.rank(mixes) == sorted(range(3), key=lambda i: scores[i])
    assert est.evaluations == 6
    with pytest.raises(ValueError, match="unknown partitions"):
        est({"z": 1.0})
    with pytest.raises(ValueError, match="weights"):
        merge_parameters(_states(2), [1.0, -1.0])


def test_spearman():
    assert spearman([1, 2, 3, 4], [10, 20, 30, 40]) == pytest.approx(1.0)
    assert spearman([1, 2, 3, 4], [4, 3, 2, 1]) == pytest.approx(-1.0)
    assert spearman([1, 2, 2, 3], [1, 2, 3, 4]) == pytest.approx(0.9486833, rel=1e-6)
