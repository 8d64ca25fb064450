"""RegMixKNN against an oracle of its rule (after RegMix, Hwang & Whang 2021; no authors' release): the
partner of row ``i`` is its ``floor(u_i k)``-th nearest other row (squared Euclidean distance on the
inputs or the targets), then MixUp of inputs and targets."""

import torch

import mixkit


def oracle_partner(keys, i, k, u):
    d = [(float(((keys[i] - keys[j]) ** 2).sum()), j) for j in range(keys.shape[0]) if j != i]
    d.sort()
    k = min(k, len(d))
    return d[min(int(u * k), k - 1)][1]


def test_regmix_knn_partners_match_the_oracle():
    g = torch.Generator().manual_seed(0)
    x = torch.randn(12, 4, generator=g, dtype=torch.float64)
    y = torch.randn(12, 1, generator=g, dtype=torch.float64)
    u = torch.rand(12, generator=g, dtype=torch.float64)
    for space, keys in (("x", x), ("y", y)):
        for k in (1, 3, 20):
            got = mixkit.RegMixKNN(k=k, space=space).partners(x, y, u, None)
            want = [oracle_partner(keys, i, k, float(u[i])) for i in range(12)]
            assert got.tolist() == want, (space, k)
    k_rows = torch.randint(1, 5, (12,), generator=g)
    got = mixkit.RegMixKNN().partners(x, y, u, k_rows)
    assert got.tolist() == [oracle_partner(x, i, int(k_rows[i]), float(u[i])) for i in range(12)]


def test_regmix_knn_mixes_inputs_and_targets_with_its_partner():
    g = torch.Generator().manual_seed(1)
    x, y = torch.randn(10, 3, generator=g), torch.randn(10, generator=g)
    out = mixkit.RegMixKNN(k=2, mode="elem")(x, y, generator=g)
    lam = out.lam.view(-1, 1)
    torch.testing.assert_close(out.x, lam * x + (1 - lam) * x[out.index])
    for i in range(10):
        assert int(out.index[i]) in {oracle_partner(x, i, 2, 0.0), oracle_partner(x, i, 2, 0.99)}
