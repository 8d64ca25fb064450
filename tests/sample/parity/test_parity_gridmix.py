"""GridMix against an oracle of the paper's rule (Baek et al., 2021; no authors' release): an ``n x n``
grid, each cell filled from the partner with probability ``1 - lam``; the label weight is the exact
share of the row's own pixels."""

import pytest
import torch

import mixkit
from mixkit.sample.mixers.gridmix import GridParams
from mixkit.sample.pairing import Pairs


def oracle_gridmix(x, index, take):
    n = take.shape[1]
    h, w = x.shape[2:]
    out = x.clone()
    own = torch.ones(x.shape[0])
    for b in range(x.shape[0]):
        for r in range(h):
            for c in range(w):
                if take[b, r * n // h, c * n // w]:
                    out[b, :, r, c] = x[int(index[b]), :, r, c]
                    own[b] -= 1 / (h * w)
    return out, own


@pytest.mark.parametrize("n,h,w", [(2, 8, 8), (3, 10, 7), (5, 6, 9)])
def test_gridmix_apply_matches_the_cell_rule(n, h, w):
    g = torch.Generator().manual_seed(n)
    x = torch.randn(4, 2, h, w, generator=g)
    take = torch.rand(4, n, n, generator=g) < 0.5
    index = torch.tensor([3, 2, 1, 0])
    out, lam = mixkit.GridMix().apply(x, GridParams(Pairs(index), torch.full((4,), 0.5), take=take))
    want, own = oracle_gridmix(x, index, take)
    torch.testing.assert_close(out, want)
    torch.testing.assert_close(lam, own, atol=1e-5, rtol=0)


def test_gridmix_cells_are_bernoulli_one_minus_lam():
    mixer = mixkit.GridMix(grid=4)
    g = torch.Generator().manual_seed(0)
    taken, expected = 0.0, 0.0
    for _ in range(500):
        p = mixer.draw(torch.Size((4, 1, 8, 8)), g)
        taken += float(p.take.float().sum())
        expected += float((1 - p.lam).sum()) * 16
    assert abs(taken / expected - 1) < 0.03
