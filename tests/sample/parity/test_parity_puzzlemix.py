"""PuzzleMix against an oracle written from the release's algorithm (snu-mllab/PuzzleMix: mixup.py).

The oracle computes, with plain loops, the energy ``graphcut_multi`` minimises (saliency summing to 1,
binomial prior ``eta / n^2``, smoothness ``beta / (16 n)``, the pooled boundary term split into unary parts
and an edge weight), the transport plan of ``mask_transport`` and the mask mean. Graph cuts are checked
against brute force on small grids.
"""

import itertools
import math

import pytest
import torch
from torch import nn

import mixkit
from mixkit.sample.functional import grid_energy, swap_grids
from mixkit.sample.mixers.puzzlemix import block_saliency, release_transport
from optional_extras import needs

# ------------------------------------------------------------------ oracle


def pooled(img, p):
    """[C, H, W] -> [C, H/p, W/p] cell means, by loops."""
    c, h, w = img.shape
    out = torch.zeros(c, h // p, w // p, dtype=torch.float64)
    for i in range(h // p):
        for j in range(w // p):
            out[:, i, j] = img[:, i * p:(i + 1) * p, j * p:(j + 1) * p].double().mean((1, 2))
    return out


def oracle_terms(x0, x1, sal0, sal1, n, beta, gamma, eta, neigh):
    """Per-block costs of showing own / partner and the edge weights, as the release builds them."""
    _, h, w = x0.shape
    bh = h // n
    p = min(neigh, bh)
    k = bh // p
    s = []
    for sal in (sal0, sal1):
        blocks = torch.zeros(n, n, dtype=torch.float64)
        for i in range(n):
            for j in range(n):
                blocks[i, j] = sal[i * bh:(i + 1) * bh, j * bh:(j + 1) * bh].double().mean()
        s.append(blocks / blocks.sum())
    bprime = beta / n / 16
    imgs = (pooled(x0, p), pooled(x1, p))  # 0 = own, 1 = partner

    def jump(a, b, first, second, vertical):
        """Mean |last pooled line of block `first` (image a) - first pooled line of `second` (image b)|."""
        (i1, j1), (i2, j2) = first, second
        tot = 0.0
        for t in range(k):
            if vertical:
                u = imgs[a][:, (i1 + 1) * k - 1, j1 * k + t]
                v = imgs[b][:, i2 * k, j2 * k + t]
            else:
                u = imgs[a][:, i1 * k + t, (j1 + 1) * k - 1]
                v = imgs[b][:, i2 * k + t, j2 * k]
            tot += float((u - v).abs().mean())
        return tot / k

    cost_own = s[1].clone()  # showing the row's own block loses the partner's saliency
    cost_par = s[0].clone()
    edges = {}
    for i in range(n):
        for j in range(n):
            for di, dj, vertical in ((0, 1, False), (1, 0, True)):
                if i + di >= n or j + dj >= n:
                    continue
                d = [[bprime * gamma * jump(a, b, (i, j), (i + di, j + dj), vertical) for b in (0, 1)]
                     for a in (0, 1)]
                cost_own[i, j] += (d[0][0] + d[0][1]) / 2
                cost_par[i, j] += (d[1][0] + d[1][1]) / 2
                cost_own[i + di, j + dj] += (d[0][0] + d[1][0]) / 2
                cost_par[i + di, j + dj] += (d[0][1] + d[1][1]) / 2
                edges[((i, j), (i + di, j + dj))] = bprime + (d[0][1] + d[1][0] - d[0][0] - d[1][1]) / 2
    return cost_own, cost_par, edges


def oracle_energy(labels, terms, lam, n_labels, eta, n):
    cost_own, cost_par, edges = terms
    e = 0.0
    for (i, j), lab in ((ij, int(labels[ij])) for ij in itertools.product(range(n), range(n))):
        f = lab / (n_labels - 1)
        p = math.comb(n_labels - 1, lab) * lam ** (n_labels - 1 - lab) * (1 - lam) ** lab
        e += (1 - f) * float(cost_own[i, j]) + f * float(cost_par[i, j]) - eta / n ** 2 * math.log(p + 1e-8)
    for (a, b), wt in edges.items():
        e += wt * ((int(labels[a]) - int(labels[b])) / (n_labels - 1)) ** 2
    return e


def oracle_transport(sal, region, xi):
    """mask_transport of the release, by loops: sal [N] (sums to 1), region [N] bool -> source per dst."""
    nn_ = sal.numel()
    n = int(round(nn_ ** 0.5))
    dist = [[((a // n - b // n) ** 2 + (a % n - b % n) ** 2) / (n - 1) ** 2 for b in range(nn_)]
            for a in range(nn_)]
    cost = [[xi * dist[a][b] - float(sal[a]) * float(region[b]) for b in range(nn_)] for a in range(nn_)]
    win = None
    for _ in range(n):
        pick = [min(range(nn_), key=lambda b, a=a: (cost[a][b], b)) for a in range(nn_)]
        win = [[0] * nn_ for _ in range(nn_)]
        for b in range(nn_):
            fight = [cost[a][b] if pick[a] == b else 0.0 for a in range(nn_)]
            best = min(range(nn_), key=lambda a: (fight[a], a))
            if pick[best] == b:
                win[best][b] = 1
        for a in range(nn_):
            if not win[a][pick[a]]:
                cost[a][pick[a]] += 1.0
    return [next((a for a in range(nn_) if win[a][b]), -1) for b in range(nn_)]


# ------------------------------------------------------------------ tests


@needs("puzzlemix")
@pytest.mark.parametrize("n_labels", [2, 3])
def test_energy_matches_the_release_energy_for_every_labelling(n_labels):
    g = torch.Generator().manual_seed(0)
    b, n, hw = 3, 2, 16
    x = torch.rand(b, 3, hw, hw, generator=g)
    sal = torch.rand(b, hw, hw, generator=g) ** 3
    idx = torch.tensor([1, 2, 0])
    lam = torch.tensor([0.3, 0.5, 0.8])
    mixer = mixkit.PuzzleMix(labels=n_labels)
    s0 = block_saliency(sal, n)
    unary, horiz, vert = mixer.energies(x, x[idx], s0, s0[idx], lam, n)
    allz = torch.tensor(list(itertools.product(range(n_labels), repeat=n * n))).view(-1, n, n)
    for r in range(b):
        terms = oracle_terms(x[r], x[idx[r]], sal[r], sal[idx[r]], n, 1.2, 0.5, 0.2, 4)
        k = allz.shape[0]
        ours = grid_energy(allz, unary[r:r + 1].expand(k, -1, -1, -1),
                           horiz[r:r + 1].expand(k, -1, -1, -1, -1), vert[r:r + 1].expand(k, -1, -1, -1, -1))
        ref = torch.tensor([oracle_energy(z, terms, float(lam[r]), n_labels, 0.2, n) for z in allz],
                           dtype=torch.float64)
        torch.testing.assert_close(ours.double(), ref, atol=1e-6, rtol=1e-6)  # float32 pooling


def oracle_swap(terms, lam, n_labels, eta, n):
    """Alpha-beta swap as GCO runs it: all-own start, label pairs in order, each move solved by brute force
    over the free blocks, sweeps until nothing changes."""
    z = torch.zeros(n, n, dtype=torch.long)
    while True:
        before = z.clone()
        for a, b in itertools.combinations(range(n_labels), 2):
            free = [ij for ij in itertools.product(range(n), range(n)) if int(z[ij]) in (a, b)]
            best, best_e = z, oracle_energy(z, terms, lam, n_labels, eta, n)
            for choice in itertools.product((a, b), repeat=len(free)):
                cand = z.clone()
                for ij, lab in zip(free, choice):
                    cand[ij] = lab
                e = oracle_energy(cand, terms, lam, n_labels, eta, n)
                if e < best_e - 1e-12:
                    best, best_e = cand, e
            z = best
        if torch.equal(before, z):
            return z


@needs("puzzlemix")
def test_graph_cut_matches_brute_force_on_small_grids():
    """Two labels: the cut is the brute-force optimum. Three labels: the swap moves (each an exact cut) give
    the labelling of a brute-force swap oracle run from the same start in the same order."""
    g = torch.Generator().manual_seed(1)
    for n_labels, n in ((2, 3), (3, 2), (3, 3)):
        b = 6
        x = torch.rand(b, 3, 4 * n, 4 * n, generator=g)
        sal = torch.rand(b, 4 * n, 4 * n, generator=g) ** 4
        idx = torch.roll(torch.arange(b), 1)
        lam = torch.rand(b, generator=g)
        mixer = mixkit.PuzzleMix(labels=n_labels, gamma=0.5)
        s0 = block_saliency(sal, n)
        unary, horiz, vert = mixer.energies(x, x[idx], s0, s0[idx], lam, n)
        z, truncated = swap_grids(unary, horiz, vert)
        assert truncated == 0
        for r in range(b):
            terms = oracle_terms(x[r], x[idx[r]], sal[r], sal[idx[r]], n, 1.2, 0.5, 0.2, 4)
            if n_labels == 2:
                allz = torch.tensor(list(itertools.product(range(2), repeat=n * n))).view(-1, n, n)
                best = min(oracle_energy(a, terms, float(lam[r]), 2, 0.2, n) for a in allz)
                assert oracle_energy(z[r], terms, float(lam[r]), 2, 0.2, n) == pytest.approx(best, abs=1e-9)
            else:
                assert torch.equal(z[r], oracle_swap(terms, float(lam[r]), n_labels, 0.2, n))


def test_transport_matches_the_release_plan_on_fixed_costs():
    g = torch.Generator().manual_seed(2)
    for n in (2, 4):
        sal = torch.rand(5, n * n, generator=g) ** 3
        sal = sal / sal.sum(1, keepdim=True)
        region = torch.rand(5, n * n, generator=g) < 0.5
        region[3], region[4] = False, True  # ties at cost 0 everywhere / nowhere
        for xi in (0.0, 0.05, 0.8):
            ours = release_transport(sal, region, xi)
            for r in range(5):
                assert ours[r].tolist() == oracle_transport(sal[r], region[r], xi), (n, xi, r)


def test_block_count_is_uniform_over_the_release_set():
    """2,000 draws on 32 x 32 images: chi-square against uniform on {2, 4, 8, 16} (df = 3, p = 0.001)."""
    mixer = mixkit.PuzzleMix()
    g = torch.Generator().manual_seed(3)
    counts = {2: 0, 4: 0, 8: 0, 16: 0}
    for _ in range(2000):
        counts[mixer._choose_blocks(32, 32, g)] += 1
    chi2 = sum((c - 500) ** 2 / 500 for c in counts.values())
    assert chi2 < 16.27, counts


@needs("puzzlemix")
@pytest.mark.parametrize("transport", [False, True])
def test_mask_mean_is_lam_and_pixels_follow_the_mask(transport):
    b, hw = 6, 32
    vals = torch.arange(1, b + 1, dtype=torch.float64)
    x = vals.view(-1, 1, 1, 1).expand(b, 3, hw, hw).float().contiguous()
    sal = torch.rand(b, hw, hw, generator=torch.Generator().manual_seed(4))
    mixer = mixkit.PuzzleMix(mode="elem", transport=transport)
    for seed in range(4):
        out = mixer(x, generator=torch.Generator().manual_seed(seed), saliency=sal)
        mask = out.extras["mask"]
        assert set(mask.unique().tolist()) <= {0.0, 0.5, 1.0}
        torch.testing.assert_close(out.lam, 1 - mask.mean((1, 2)))
        if not transport:  # every pixel is (1 - f) own + f partner of its block
            n = out.extras["blocks"]
            f = mask.repeat_interleave(hw // n, 1).repeat_interleave(hw // n, 2).double()
            expect = (1 - f) * vals.view(-1, 1, 1) + f * vals[out.index].view(-1, 1, 1)
            torch.testing.assert_close(out.x[:, 0].double(), expect)


def test_transport_grid_follows_the_release_t_size():
    mixer = mixkit.PuzzleMix()  # transport_size = 4 pixels (the release's CIFAR recipe)
    assert [mixer.transport_grid(32, 32, n) for n in (2, 4, 8, 16)] == [8, 8, 8, 16]
    assert mixkit.PuzzleMix(transport_size=None).transport_grid(32, 32, 4) == 4


@needs("puzzlemix")
def test_saliency_pass_runs_in_eval_mode():
    """BN statistics are updated only by the mixed forward, never by the clean saliency pass."""
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.BatchNorm2d(4), nn.Flatten(),
                          nn.Linear(4 * 256, 5))
    x, y = torch.randn(4, 3, 16, 16), torch.randint(0, 5, (4,))
    before = {k: v.clone() for k, v in model.state_dict().items()}
    model.train()
    step = mixkit.PuzzleMix().training_step(model, x, y, generator=torch.Generator().manual_seed(0))
    assert model.training
    bn_after = model[1].running_mean.clone()
    model.load_state_dict(before)
    model.train()
    model(step.mixed.x)  # one train-mode forward of the mixed batch alone
    torch.testing.assert_close(bn_after, model[1].running_mean)
