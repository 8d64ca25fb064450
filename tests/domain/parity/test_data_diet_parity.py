"""EL2N and GraNd against oracles written from the paper's definitions (Paul et al. 2021): EL2N is
``|| softmax(f(x)) - onehot(y) ||_2``; GraNd is the norm of the per-example loss gradient over all
parameters, computed here one example at a time with ``backward``; pruning keeps the highest scores after
dropping the hardest few (the release's ``keep_max_scores`` and ``offset`` windows)."""

import json
import math

import pytest
import torch
from torch import nn

from mixkit.domain.selection import PrunedSampler, average_scores, el2n_scores, grand_scores, prune_indices


def _model(seed=0, bn=False):
    torch.manual_seed(seed)
    layers = [nn.Linear(5, 8), nn.Tanh(), nn.Linear(8, 3)]
    if bn:
        layers.insert(1, nn.BatchNorm1d(8))
    return nn.Sequential(*layers).double()


def _data(n=13):
    g = torch.Generator().manual_seed(1)
    return torch.randn(n, 5, generator=g, dtype=torch.float64), torch.randint(0, 3, (n,), generator=g)


def el2n_oracle(model, x, y):
    model.eval()
    out = []
    for i in range(x.shape[0]):
        logits = model(x[i: i + 1])[0].tolist()
        top = max(logits)
        e = [math.exp(v - top) for v in logits]
        z = sum(e)
        err = [e[c] / z - (1.0 if c == int(y[i]) else 0.0) for c in range(len(e))]
        out.append(math.sqrt(sum(v * v for v in err)))
    return out


def grand_oracle(model, x, y):
    model.eval()
    out = []
    for i in range(x.shape[0]):
        model.zero_grad()
        nn.functional.cross_entropy(model(x[i: i + 1]), y[i: i + 1]).backward()
        out.append(math.sqrt(sum(float(p.grad.pow(2).sum()) for p in model.parameters())))
    return out


@pytest.mark.parametrize("bn", [False, True])
def test_el2n_and_grand_match_oracles(bn):
    model = _model(bn=bn)
    if bn:  # non-trivial running statistics
        model.train()
        model(torch.randn(32, 5, dtype=torch.float64))
    x, y = _data()
    torch.testing.assert_close(el2n_scores(model, x, y, batch_size=4).double(),
                               torch.tensor(el2n_oracle(model, x, y), dtype=torch.float64),
                               rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(grand_scores(model, x, y, batch_size=5).double(),
                               torch.tensor(grand_oracle(model, x, y), dtype=torch.float64),
                               rtol=1e-5, atol=1e-6)


def test_average_over_runs_is_the_mean_of_runs():
    x, y = _data()
    got = average_scores(lambda i: _model(seed=i), x, y, score="grand", runs=3)
    want = sum(torch.tensor(grand_oracle(_model(seed=i), x, y)) for i in range(3)) / 3
    torch.testing.assert_close(got.double(), want.double(), rtol=1e-5, atol=1e-6)
    calls = []
    average_scores(lambda i: _model(seed=i), x, y, runs=2, train=lambda m, i: calls.append(i))
    assert calls == [0, 1]


def prune_oracle(scores, keep, drop):
    order = sorted(range(len(scores)), key=lambda i: (scores[i], i))
    n = len(scores)
    return sorted(order[n - drop - keep: n - drop])


@pytest.mark.parametrize("keep,drop", [(5, 0), (3, 2), (10, 0), (1, 9), (0.5, 0.1)])
def test_prune_matches_oracle(keep, drop):
    scores = [0.3, 0.9, 0.1, 0.9, 0.5, 0.2, 0.7, 0.0, 0.4, 0.6]
    k = keep if isinstance(keep, int) else round(keep * 10)
    d = drop if isinstance(drop, int) else round(drop * 10)
    assert prune_indices(torch.tensor(scores), keep, drop).tolist() == prune_oracle(scores, k, d)


def test_prune_errors():
    with pytest.raises(ValueError, match="keep"):
        prune_indices(torch.ones(4), 4, 1)
    with pytest.raises(ValueError, match="finite"):
        prune_indices(torch.tensor([1.0, float("nan")]), 1)
    with pytest.raises(ValueError, match="targets"):
        el2n_scores(_model(), *(_data()[0], _data()[1].float()))


def test_pruned_sampler_epochs_and_resume():
    kept = prune_indices(torch.arange(20.0), 8)
    s = PrunedSampler(kept, seed=3)
    stream = [i for _ in range(3) for i in s]
    assert all(sorted(stream[e * 8:(e + 1) * 8]) == kept.tolist() for e in range(3))
    assert stream[:8] != stream[8:16]
    t = PrunedSampler(kept, seed=3)
    it = iter(t)
    head = [next(it) for _ in range(5)]
    state = json.loads(json.dumps(t.state_dict()))
    u = PrunedSampler([0], seed=0)
    u.load_state_dict(state)
    rest = list(u) + list(u) + list(u)
    assert head + rest[: 24 - 5] == stream
    with pytest.raises(ValueError, match="PrunedSampler"):
        u.load_state_dict({**state, "kind": "x"})
