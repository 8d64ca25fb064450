"""Properties of SaliencyMix, GridMix, SmoothMix, AttentiveMix and PuzzleMix (plain-call path)."""

import itertools

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

import mixkit
from mixkit.sample import block_saliency, greedy_transport, registry
from mixkit.sample.functional import (
    grid_energy,
    peak_location,
    solve_binary_grids,
    spectral_residual,
    swap_grids,
)
from mixkit.sample.spec import spec_name
from optional_extras import needs


def constant_rows(b, c=3, h=16, w=16, dtype=torch.float32):
    """Row i is the constant 1 + i: any mixed pixel reveals how much of each source it holds."""
    vals = torch.arange(1, b + 1, dtype=torch.float64)
    return vals.view(-1, 1, 1, 1).expand(b, c, h, w).to(dtype).contiguous(), vals


def recovered_lam(out, vals):
    """lam implied by pixel means: mean(out_i) = lam c_i + (1 - lam) c_j."""
    mean = out.x.double().mean((1, 2, 3))
    ci, cj = vals, vals[out.index.cpu()]
    same = ci == cj
    return torch.where(same, torch.ones_like(ci), (mean - cj) / torch.where(same, 1.0, ci - cj))


def plain(name, **kw):
    cls = registry.get(name)
    return cls(**kw)


def call(mixer, x, y=None, g=None):
    if isinstance(mixer, mixkit.AttentiveMix):
        feats = torch.rand(x.shape[0], 4, 3, 3, generator=torch.Generator().manual_seed(7))
        return mixer(x, y, generator=g, features=feats)
    if isinstance(mixer, mixkit.PuzzleMix):
        sal = torch.rand(x.shape[0], *x.shape[-2:], generator=torch.Generator().manual_seed(7))
        return mixer(x, y, generator=g, saliency=sal)
    return mixer(x, y, generator=g)


PLAIN = ["saliencymix", "gridmix", "smoothmix", "attentivemix",
         pytest.param("puzzlemix", marks=needs("puzzlemix"))]


@pytest.mark.parametrize("name", PLAIN)
@pytest.mark.parametrize("mode", ["batch", "elem"])
def test_lam_equals_true_mask_mean(name, mode):
    x, vals = constant_rows(9, h=12, w=12)
    out = call(plain(name, mode=mode), x, torch.arange(9), torch.Generator().manual_seed(1))
    torch.testing.assert_close(out.lam.double(), recovered_lam(out, vals), atol=1e-5, rtol=0)
    assert sorted(out.index.tolist()) == list(range(9))
    assert ((out.lam >= 0) & (out.lam <= 1)).all()


@settings(max_examples=12, deadline=None)
@given(name=st.sampled_from(["saliencymix", "gridmix", "smoothmix"]), b=st.integers(1, 6),
       h=st.integers(5, 20), w=st.integers(5, 20), alpha=st.floats(0.2, 4.0), seed=st.integers(0, 99),
       shape=st.sampled_from(["square", "circle"]), prob=st.sampled_from([1.0, 0.5]))
def test_lam_property_random_shapes(name, b, h, w, alpha, seed, shape, prob):
    kw = {"shape": shape} if name == "smoothmix" else {}
    x, vals = constant_rows(b, c=2, h=h, w=w)
    mixer = plain(name, alpha=alpha, mode="elem", prob=prob, **kw)
    out = mixer(x, generator=torch.Generator().manual_seed(seed))
    torch.testing.assert_close(out.lam.double(), recovered_lam(out, vals), atol=1e-5, rtol=0)
    assert torch.isfinite(out.x).all()


@pytest.mark.parametrize("name", PLAIN)
@pytest.mark.parametrize("dtype", [torch.float32, torch.float16, torch.bfloat16])
def test_shape_dtype_device_and_channels_last(name, dtype):
    x = torch.rand(6, 3, 12, 12).to(dtype).contiguous(memory_format=torch.channels_last)
    out = call(plain(name, mode="elem"), x, torch.arange(6), torch.Generator().manual_seed(0))
    assert out.x.shape == x.shape and out.x.dtype == dtype and out.x.device == x.device
    assert out.lam.dtype == torch.float32 and out.index.dtype == torch.int64
    assert torch.isfinite(out.x.float()).all()


@pytest.mark.parametrize("name", PLAIN)
def test_reproducible_under_generator(name):
    x = torch.rand(8, 3, 12, 12)
    a = call(plain(name, mode="elem"), x, None, torch.Generator().manual_seed(5))
    b = call(plain(name, mode="elem"), x, None, torch.Generator().manual_seed(5))
    assert torch.equal(a.x, b.x) and torch.equal(a.lam, b.lam) and torch.equal(a.index, b.index)


@pytest.mark.parametrize("name", PLAIN)
def test_clear_errors_on_bad_input(name):
    m = plain(name)
    with pytest.raises(ValueError, match="x must have rank 4"):
        call(m, torch.rand(4, 12, 12))
    with pytest.raises(TypeError, match="floating"):
        call(m, torch.ones(4, 3, 12, 12, dtype=torch.int64))


def test_bad_arguments_are_named():
    with pytest.raises(ValueError, match="grid"):
        mixkit.GridMix(grid=0)
    with pytest.raises(ValueError, match="shape"):
        mixkit.SmoothMix(shape="star")
    with pytest.raises(ValueError, match="smooth"):
        mixkit.SmoothMix(smooth=0.0)
    with pytest.raises(ValueError, match="top_k"):
        mixkit.AttentiveMix(top_k=-1)
    with pytest.raises(ValueError, match="top_k=10 exceeds"):
        mixkit.AttentiveMix(top_k=10)(torch.rand(2, 3, 8, 8), features=torch.rand(2, 4, 3, 3))
    with pytest.raises(ValueError, match="features"):
        mixkit.AttentiveMix()(torch.rand(2, 3, 8, 8))
    with pytest.raises(ValueError, match="saliency"):
        mixkit.PuzzleMix()(torch.rand(2, 3, 8, 8))
    with pytest.raises(ValueError, match="saliency must have shape"):
        mixkit.PuzzleMix()(torch.rand(2, 3, 8, 8), saliency=torch.rand(2, 4, 4))
    with pytest.raises(ValueError, match="divides"):
        mixkit.PuzzleMix(blocks=3)(torch.rand(2, 3, 8, 8), saliency=torch.rand(2, 8, 8))
    with pytest.raises(ValueError, match="beta"):
        mixkit.PuzzleMix(beta=-1)
    with pytest.raises(ValueError, match="labels"):
        mixkit.PuzzleMix(labels=1)
    with pytest.raises(ValueError, match="size"):
        mixkit.SaliencyMix(size=2)


def test_registry_names_and_paper_attributes():
    expected = {"saliencymix": mixkit.SaliencyMix, "gridmix": mixkit.GridMix, "smoothmix": mixkit.SmoothMix,
                "attentivemix": mixkit.AttentiveMix, "puzzlemix": mixkit.PuzzleMix,
                "manifoldmixup": mixkit.ManifoldMixup, "manifold": mixkit.ManifoldMixup,
                "automix": mixkit.AutoMix, "adautomix": mixkit.AdAutoMix}
    for name, cls in expected.items():
        assert registry.get(name) is cls
        assert cls.name == spec_name(name)
        assert cls.paper and cls.paper_url.startswith("https://")
    assert isinstance(mixkit.build("gridmix:grid=4,alpha=0.5"), mixkit.GridMix)
    aware = (mixkit.AttentiveMix, mixkit.PuzzleMix, mixkit.ManifoldMixup, mixkit.AutoMix, mixkit.AdAutoMix)
    for cls in aware:
        assert isinstance(cls(), mixkit.ModelAwareMixer)


# ------------------------------------------------------------------ SaliencyMix
def test_spectral_residual_finds_one_bright_spot():
    x = torch.zeros(3, 3, 40, 40)
    spots = [(8, 30), (25, 6), (33, 33)]
    for i, (r, c) in enumerate(spots):
        x[i, :, r, c] = 1.0
    row, col = peak_location(spectral_residual(x), 40, 40)
    for i, (r, c) in enumerate(spots):
        assert abs(int(row[i]) - r) <= 1 and abs(int(col[i]) - c) <= 1


def test_saliency_box_is_centred_on_partner_spot():
    b, h, w = 6, 32, 32
    x = 0.1 * torch.arange(1, b + 1, dtype=torch.float32).view(-1, 1, 1, 1).expand(b, 3, h, w).clone()
    spots = [(10, 12), (20, 21), (16, 9), (12, 22), (21, 12), (15, 16)]
    for i, (r, c) in enumerate(spots):
        x[i, :, r, c] = 5.0
    mixer = mixkit.SaliencyMix(alpha=1.0, mode="elem", saliency="spectral")
    out = mixer(x, generator=torch.Generator().manual_seed(3))
    for i in range(b):
        j = int(out.index[i])
        if out.lam[i] >= 1:
            continue
        pasted = (out.x[i, 0] - x[i, 0]).abs() > 1e-6
        pasted |= (out.x[i, 0] == x[j, 0]) & (x[i, 0] != x[j, 0])
        rows, cols = pasted.nonzero(as_tuple=True)
        r, c = spots[j]
        assert out.x[i, 0, r, c] == 5.0  # the partner's spot itself is pasted
        side_r, side_c = int(rows.max() - rows.min() + 1), int(cols.max() - cols.min() + 1)
        clipped = rows.min() == 0 or rows.max() == h - 1 or cols.min() == 0 or cols.max() == w - 1
        if not clipped:  # centred on the spot (integer box: within one pixel)
            assert abs(float(rows.float().mean()) - r) <= 1.0 and abs(float(cols.float().mean()) - c) <= 1.0
            assert side_r == side_c


# ------------------------------------------------------------------ GridMix / SmoothMix
def test_gridmix_cells_are_uniform():
    x, vals = constant_rows(5, h=16, w=16)
    out = mixkit.GridMix(grid=4, mode="elem")(x, generator=torch.Generator().manual_seed(2))
    cells = out.x[:, 0].reshape(5, 4, 4, 4, 4).permute(0, 1, 3, 2, 4).reshape(5, 4, 4, 16)
    assert (cells.amax(-1) == cells.amin(-1)).all()


def test_smoothmix_square_has_soft_edges_and_circle_peaks_at_partner():
    x = torch.cat([torch.zeros(1, 1, 24, 24), torch.ones(1, 1, 24, 24)])
    out = mixkit.SmoothMix(alpha=1.0, mode="elem")(x, generator=torch.Generator().manual_seed(0))
    frac = out.x[0, 0]  # own = 0, partner = 1: pixel value is the mask
    assert ((frac > 0.01) & (frac < 0.99)).any(), "the square mask must ramp, not jump"
    assert frac.max() <= 1 and frac.min() >= 0
    outc = mixkit.SmoothMix(shape="circle", mode="elem")(x, generator=torch.Generator().manual_seed(0))
    assert 0 < outc.x[0, 0].max() <= 1


# ------------------------------------------------------------------ AttentiveMix
def test_attentivemix_pastes_partners_top_cells():
    b = 4
    x, vals = constant_rows(b, h=12, w=12)
    feats = torch.zeros(b, 2, 3, 3)
    hot = [[0, 4], [8, 2], [3, 5], [6, 7]]  # two hottest cells (flat ids) per row
    for i, cells in enumerate(hot):
        feats[i, :, :, :].view(2, 9)[:, cells] = torch.tensor([3.0, 2.0])
    out = mixkit.AttentiveMix(top_k=2)(x, generator=torch.Generator().manual_seed(0), features=feats)
    for i in range(b):
        j = int(out.index[i])
        from_partner = out.x[i, 0].reshape(3, 4, 3, 4).permute(0, 2, 1, 3).reshape(9, 16)[:, 0] == vals[j]
        assert sorted(from_partner.nonzero().flatten().tolist()) == sorted(hot[j])
    torch.testing.assert_close(out.lam, torch.full((b,), 7 / 9))


# ------------------------------------------------------------------ PuzzleMix
def brute_force(unary, horiz, vert):
    n, m = unary.shape[1:3]
    allz = torch.tensor(list(itertools.product([0, 1], repeat=n * m))).view(-1, n, m)
    best = []
    for b in range(unary.shape[0]):
        k = allz.shape[0]
        e = grid_energy(allz, unary[b:b + 1].expand(k, -1, -1, -1), horiz[b:b + 1].expand(k, -1, -1, -1, -1),
                        vert[b:b + 1].expand(k, -1, -1, -1, -1))
        best.append((e.min(), allz[e.argmin()]))
    return best


@needs("puzzlemix")
@pytest.mark.parametrize("gamma", [0.0, 0.5])
def test_puzzlemix_mask_is_the_brute_force_optimum(gamma):
    g = torch.Generator().manual_seed(4)
    b, n = 6, 3
    x = torch.rand(b, 3, 12, 12, generator=g)
    sal = torch.rand(b, 12, 12, generator=g) ** 4
    mixer = mixkit.PuzzleMix(blocks=n, gamma=gamma, transport=False, mode="elem", labels=2)
    out = mixer(x, generator=torch.Generator().manual_seed(9), saliency=sal)
    pairs_idx = out.index
    # rebuild the energy the mixer minimised, with the same draws
    params = mixer.draw(x.shape, torch.Generator().manual_seed(9))
    pairs, lam = params.pairs, params.lam
    assert torch.equal(pairs.index, pairs_idx)
    s0 = block_saliency(sal, n)
    unary, horiz, vert = mixer.energies(x, x[pairs_idx], s0, s0[pairs_idx], lam, n)
    z, truncated = solve_binary_grids(unary, horiz, vert)
    assert truncated == 0 or gamma > 0
    e_cut = grid_energy(z, unary, horiz, vert)
    for i, (e_min, _) in enumerate(brute_force(unary, horiz, vert)):
        if truncated == 0:
            assert float(e_cut[i]) <= float(e_min) + 1e-5
        assert torch.equal(out.extras["labels"][i].bool(), z[i] & bool(lam[i] < 1))
    torch.testing.assert_close(out.lam, 1 - out.extras["mask"].float().mean((1, 2)))
@needs("puzzlemix")
def test_graph_cut_matches_brute_force_on_random_submodular_energies():
    g = torch.Generator().manual_seed(0)
    unary = torch.randn(8, 3, 2, 2, generator=g)
    horiz = torch.rand(8, 3, 1, 2, 2, generator=g)
    vert = torch.rand(8, 2, 2, 2, 2, generator=g)
    for pw in (horiz, vert):  # make every pair submodular: E01 + E10 >= E00 + E11
        pw[..., 0, 1] += 1.0
        pw[..., 1, 0] += 1.0
    z, truncated = solve_binary_grids(unary, horiz, vert)
    assert truncated == 0
    e = grid_energy(z, unary, horiz, vert)
    for i, (e_min, _) in enumerate(brute_force(unary, horiz, vert)):
        assert abs(float(e[i]) - float(e_min)) < 1e-5
@needs("puzzlemix")
def test_three_label_swap_is_a_local_optimum_and_mixes_halves():
    g = torch.Generator().manual_seed(1)
    k = 3
    v = torch.linspace(0, 1, k)
    smooth = (v.view(-1, 1) - v.view(1, -1)).square()
    unary = torch.randn(5, 2, 2, k, generator=g)
    horiz = 0.2 * torch.rand(5, 2, 1, k, k, generator=g) + smooth
    vert = 0.2 * torch.rand(5, 1, 2, k, k, generator=g) + smooth
    z, _ = swap_grids(unary, horiz, vert)
    allz = torch.tensor(list(itertools.product(range(k), repeat=4))).view(-1, 2, 2)
    n = allz.shape[0]
    for b in range(5):
        e = grid_energy(allz, unary[b:b + 1].expand(n, -1, -1, -1), horiz[b:b + 1].expand(n, -1, -1, -1, -1),
                        vert[b:b + 1].expand(n, -1, -1, -1, -1))
        ez = float(grid_energy(z[b:b + 1], unary[b:b + 1], horiz[b:b + 1], vert[b:b + 1]))
        for a, c in itertools.combinations(range(k), 2):  # no single (a, c)-swap move lowers the energy
            free = (z[b] == a) | (z[b] == c)
            reachable = ((allz == z[b]) | (free & ((allz == a) | (allz == c)))).flatten(1).all(1)
            assert ez <= float(e[reachable].min()) + 1e-5
    x, vals = constant_rows(6, h=12, w=12)
    sal = torch.rand(6, 12, 12, generator=g) ** 4
    out = mixkit.PuzzleMix(labels=3, blocks=3, mode="elem")(x, generator=torch.Generator().manual_seed(1),
                                                            saliency=sal)
    assert set(out.extras["mask"].unique().tolist()) <= {0.0, 0.5, 1.0}
    torch.testing.assert_close(out.lam.double(), recovered_lam(out, vals), atol=1e-5, rtol=0)
    torch.testing.assert_close(out.lam, 1 - out.extras["mask"].mean((1, 2)))
@needs("puzzlemix")
def test_puzzlemix_follows_saliency():
    b = 4
    x, vals = constant_rows(b, h=16, w=16)
    sal = torch.full((b, 16, 16), 0.01)
    sal[0::2, :, :8] = 1.0  # even rows salient on the left half
    sal[1::2, :, 8:] = 1.0  # odd rows salient on the right half
    mixer = mixkit.PuzzleMix(alpha=1.0, blocks=4, transport=False, pairing="flip", gamma=0.0)
    out = mixer(x, generator=torch.Generator().manual_seed(0), saliency=sal)
    mask = out.extras["mask"].float()  # True = from partner; flip pairs even with odd rows
    assert mask[0::2, :, 2:].mean() > 0.9 and mask[0::2, :, :2].mean() < 0.1


def test_greedy_transport_is_a_permutation_moving_salient_blocks_in():
    g = torch.Generator().manual_seed(0)
    sal = torch.rand(5, 16, generator=g)
    sal[:, 0] = 10.0  # one very salient block at the corner
    region = torch.zeros(5, 16, dtype=torch.bool)
    region[:, 15] = True  # shown only at the opposite corner
    src = greedy_transport(sal, region, xi=0.0)
    assert (src.sort(1).values == torch.arange(16)).all()
    assert (src[:, 15] == 0).all()
    assert (greedy_transport(sal, region, xi=1e6) == torch.arange(16)).all()  # moving is too costly: identity


def test_missing_pymaxflow_gives_a_clear_error(monkeypatch):
    import sys

    monkeypatch.setitem(sys.modules, "maxflow", None)  # makes `import maxflow` raise ImportError
    with pytest.raises(ImportError, match=r"mixkit\[puzzlemix\]"):
        mixkit.PuzzleMix()(torch.rand(2, 3, 8, 8), saliency=torch.rand(2, 8, 8))
