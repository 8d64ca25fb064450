"""C-Mixup and RegMix-kNN: hand-computed pairings and the properties of the regression mixers."""

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

import mixkit
from mixkit.sample import select_knn_k
from mixkit.sample.functional import kernel_partners, knn_partners


def _gen(seed=0):
    return torch.Generator().manual_seed(seed)


def test_tiny_bandwidth_pairs_each_example_with_its_nearest_label_neighbour():
    # labels with a unique nearest neighbour for every row
    y = torch.tensor([0.0, 0.1, 1.0, 1.3, 5.0, 5.05, 9.0, 8.0]).view(-1, 1)
    nearest = torch.tensor([1, 0, 3, 2, 5, 4, 7, 6])
    for seed in range(5):
        out = mixkit.CMixup(bandwidth=1e-3, exclude_self=True)(torch.randn(8, 4), y, generator=_gen(seed))
        assert torch.equal(out.index, nearest)
        released = mixkit.CMixup(bandwidth=1e-3)(torch.randn(8, 4), y, generator=_gen(seed))
        assert torch.equal(released.index, torch.arange(8))  # self included: the nearest target is its own


def test_kernel_probabilities_match_gaussian_kernel():
    # row 0 sees rows 1 and 2 at distances 1 and 2; sigma = 1 -> P(1) / P(2) = exp(-1/2) / exp(-2)
    keys = torch.tensor([[0.0], [1.0], [2.0]])
    u = torch.rand(1000, 3, generator=_gen(1), dtype=torch.float64)
    p1 = torch.exp(torch.tensor(-0.5)) / (torch.exp(torch.tensor(-0.5)) + torch.exp(torch.tensor(-2.0)))
    idx = torch.stack([kernel_partners(keys, 1.0, row) for row in u])
    frac1 = (idx[:, 0] == 1).double().mean()
    assert abs(float(frac1) - float(p1)) < 0.05
    assert not bool((idx == torch.arange(3)).any())  # never self


def test_kernel_is_chunk_invariant_and_handles_multidim_targets():
    y = torch.randn(37, 2, 3, generator=_gen(2))
    u = torch.rand(37, generator=_gen(3), dtype=torch.float64)
    a = kernel_partners(y, 0.7, u, chunk_size=5)
    b = kernel_partners(y, 0.7, u, chunk_size=1000)
    assert torch.equal(a, b)


def test_large_bandwidth_is_close_to_uniform_over_other_rows():
    y = torch.linspace(0, 3, 200).view(-1, 1)
    u = torch.rand(20, 200, generator=_gen(4), dtype=torch.float64)
    idx = torch.stack([kernel_partners(y, 1e6, row) for row in u])  # 4000 draws
    assert not bool((idx == torch.arange(200)).any())
    low_half = (idx < 100).double().mean()
    assert abs(float(low_half) - 0.5) < 0.04
    assert len(torch.unique(idx)) > 190  # nearly every row is somebody's partner


def test_cmixup_mixes_inputs_and_targets_with_the_same_lam():
    x, y = torch.randn(16, 5, generator=_gen(5)), torch.randn(16, 3, generator=_gen(6))
    out = mixkit.CMixup(alpha=2.0, bandwidth=0.5, mode="elem")(x, y, generator=_gen(7))
    lam = out.lam.view(-1, 1)
    torch.testing.assert_close(out.x, lam * x + (1 - lam) * x[out.index])
    torch.testing.assert_close(out.mix_targets(), lam * y + (1 - lam) * y[out.index])
    assert out.extras["partners_with_replacement"]


def test_index_with_replacement_works_with_mixed_batch_losses():
    # several rows share partner 0 (not a permutation): every label rule only gathers y[index]
    y_cls = torch.tensor([0, 1, 2, 1])
    mb = mixkit.MixedBatch(x=torch.zeros(4, 2), index=torch.tensor([0, 0, 0, 2]),
                           lam=torch.tensor([1.0, 0.25, 0.5, 0.75]), y=y_cls)
    logits = torch.randn(4, 3, generator=_gen(8))
    ref = -(mb.soft_targets(3) * torch.log_softmax(logits, -1)).sum(-1).mean()
    torch.testing.assert_close(mb.loss(logits), ref)


def test_knn_k1_is_nearest_neighbour_in_chosen_space():
    x = torch.tensor([[0.0], [0.2], [3.0], [3.1], [10.0]])
    y = torch.tensor([[5.0], [0.0], [5.1], [0.1], [2.0]])
    u = torch.rand(5, generator=_gen(9), dtype=torch.float64)
    assert knn_partners(x, 1, u).tolist() == [1, 0, 3, 2, 3]
    out = mixkit.RegMixKNN(k=1, space="y")(x, y, generator=_gen(9))
    assert out.index.tolist() == [2, 3, 0, 1, 3]


@settings(max_examples=25, deadline=None)
@given(n=st.integers(2, 24), k=st.integers(1, 30), seed=st.integers(0, 10_000))
def test_knn_partner_is_among_the_k_nearest(n, k, seed):
    g = _gen(seed)
    keys = torch.randn(n, 3, generator=g)
    ks = torch.randint(1, k + 1, (n,), generator=g)
    u = torch.rand(n, generator=g, dtype=torch.float64)
    idx = knn_partners(keys, ks, u, chunk_size=7)
    d = torch.cdist(keys, keys)
    d.fill_diagonal_(float("inf"))
    rank_of_partner = (d < d.gather(1, idx.view(-1, 1))).sum(1)
    assert bool((idx != torch.arange(n)).all())
    assert bool((rank_of_partner < ks.clamp(max=n - 1)).all())


def test_per_example_k_at_call_time_and_batch_of_one():
    x, y = torch.randn(6, 2), torch.randn(6)
    out = mixkit.RegMixKNN(k=2)(x, y, generator=_gen(1), k=torch.tensor([1, 1, 5, 5, 2, 2]))
    assert out.index.shape == (6,)
    one = mixkit.CMixup()(torch.randn(1, 3), torch.randn(1, 1), generator=_gen(2))
    assert one.index.tolist() == [0] and one.lam.tolist() == [1.0]
    torch.testing.assert_close(one.x, one.x)


def test_bad_arguments_are_named():
    with pytest.raises(ValueError, match="bandwidth"):
        mixkit.CMixup(bandwidth=0.0)
    with pytest.raises(ValueError, match="y"):
        mixkit.CMixup()(torch.randn(3, 2))
    with pytest.raises(ValueError, match="k"):
        mixkit.RegMixKNN(k=2)(torch.randn(3, 2), torch.randn(3), k=torch.tensor([1, 0, 1]))
    with pytest.raises(ValueError, match="space"):
        mixkit.RegMixKNN(space="z")
    with pytest.raises(ValueError, match="chunk_size"):
        kernel_partners(torch.randn(3, 1), 1.0, torch.rand(3, dtype=torch.float64), chunk_size=0)


def test_registry_names_and_papers():
    for name, cls in (("cmixup", mixkit.CMixup), ("regmix_knn", mixkit.RegMixKNN)):
        built = mixkit.build(f"{name}:alpha=0.5")
        assert isinstance(built, cls) and cls.paper and cls.paper_url.startswith("https://")


def test_select_knn_k_finds_the_best_group_wise_k():
    groups = torch.tensor([0, 0, 1, 1, 2, 2])
    want = torch.tensor([1, 1, 8, 8, 4, 4])
    calls = []

    def evaluate(table):
        calls.append(table)
        return float((table.float().log2() - want.float().log2()).abs().sum())

    best = select_knn_k(evaluate, 6, candidates=(1, 2, 4, 8), groups=groups)
    assert torch.equal(best, want)
    assert len(calls) <= 4 + 3 * 4
    assert torch.equal(select_knn_k(evaluate, 6, candidates=(2, 4)), torch.full((6,), 4))


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16, torch.float64])
def test_regression_mixers_keep_dtype_and_never_nan(dtype):
    x, y = torch.randn(9, 4, dtype=dtype), torch.randn(9, 2, dtype=dtype)
    y[3] = y[4]  # duplicate targets: zero distances must not produce NaN
    for mixer in (mixkit.CMixup(bandwidth=1e-4, exclude_self=True), mixkit.RegMixKNN(k=3, space="y")):
        out = mixer(x, y, generator=_gen(3))
        assert out.x.dtype == dtype and out.mix_targets().dtype == dtype
        assert out.lam.dtype == torch.float32 and bool(torch.isfinite(out.x.float()).all())
        assert bool((out.index != torch.arange(9)).all())


def test_window_kernel_matches_full_kernel_cases():
    from mixkit.sample.functional import window_kernel_partners

    y = torch.tensor([0.0, 0.1, 1.0, 1.3, 5.0, 5.05, 9.0, 8.0])
    out = mixkit.CMixup(bandwidth=1e-3, window=2)(torch.randn(8, 3), y.view(-1, 1), generator=_gen(1))
    assert out.index.tolist() == [1, 0, 3, 2, 5, 4, 7, 6]
    keys = torch.tensor([0.0, 1.0, 2.0])
    u = torch.rand(1000, 3, generator=_gen(2), dtype=torch.float64)
    idx = torch.stack([window_kernel_partners(keys, 1.0, row, 5) for row in u])
    p1 = 1 / (1 + torch.exp(torch.tensor(-1.5)))  # exp(-1/2) / (exp(-1/2) + exp(-2))
    assert abs(float((idx[:, 0] == 1).double().mean()) - float(p1)) < 0.05
    with pytest.raises(ValueError, match="scalar"):
        window_kernel_partners(torch.randn(4, 2), 1.0, torch.rand(4, dtype=torch.float64), 2)
    with pytest.raises(ValueError, match="window"):
        mixkit.CMixup(window=0)


@settings(max_examples=25, deadline=None)
@given(n=st.integers(2, 40), w=st.integers(1, 6), seed=st.integers(0, 10_000))
def test_window_partner_is_a_sorted_neighbour_within_the_window(n, w, seed):
    from mixkit.sample.functional import window_kernel_partners

    g = _gen(seed)
    y = torch.randn(n, generator=g)
    idx = window_kernel_partners(y, 0.5, torch.rand(n, generator=g, dtype=torch.float64), w)
    rank = torch.empty(n, dtype=torch.long)
    rank[y.argsort()] = torch.arange(n)
    gap = (rank[idx] - rank).abs()
    assert bool((gap >= 1).all()) and bool((gap <= w).all())


def test_cmixup_dataset_pool_gathers_partners_from_the_training_set():
    g = _gen(11)
    x_train, y_train = torch.randn(50, 3, generator=g), torch.randn(50, 1, generator=g)
    rows = torch.tensor([3, 7, 7, 20])
    mixer = mixkit.CMixup(bandwidth=0.5, dataset=(x_train, y_train), mode="elem")
    out = mixer(x_train[rows], y_train[rows], generator=_gen(12))
    j, lam = out.extras["partners"], out.lam.view(-1, 1)
    assert j.shape == (4,) and bool((j >= 0).all()) and bool((j < 50).all())
    torch.testing.assert_close(out.x, lam * x_train[rows] + (1 - lam) * x_train[j])
    torch.testing.assert_close(out.mix_targets(), lam * y_train[rows] + (1 - lam) * y_train[j])
    assert torch.equal(out.index, torch.arange(4))
    batch_only = mixkit.CMixup(bandwidth=0.5, dataset=(x_train, y_train), source="batch")
    assert "partners" not in batch_only(x_train[rows], y_train[rows], generator=_gen(12)).extras
    with pytest.raises(ValueError, match="source"):
        mixkit.CMixup(source="train")
    with pytest.raises(ValueError, match="dataset"):
        mixkit.CMixup().attach(torch.randn(3, 2), torch.randn(4, 1))
    with pytest.raises(ValueError, match="dataset"):
        mixer(torch.randn(4, 5), torch.randn(4, 1))
    assert "source='dataset'" in repr(mixer)
