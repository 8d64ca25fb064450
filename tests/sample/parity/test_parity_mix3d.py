"""Mix3D against an oracle of kumuji/mix3d (mix3d/datasets/utils.py, ``VoxelizeCollateMerge``): the
union of two scenes' points, features and per-point labels (here after centring each scene)."""

import torch

import mixkit


def oracle_union(points, labels, index):
    rows, labs = [], []
    for i in range(points.shape[0]):
        a, b = points[i].clone(), points[int(index[i])].clone()
        a[:, :3] -= a[:, :3].mean(0)
        b[:, :3] -= b[:, :3].mean(0)
        rows.append(torch.cat([a, b]))
        labs.append(torch.cat([labels[i], labels[int(index[i])]]))
    return torch.stack(rows), torch.stack(labs)


def test_mix3d_union_matches_the_release_merge():
    g = torch.Generator().manual_seed(0)
    pts = torch.randn(4, 10, 6, generator=g) * 3 + 5
    labels = torch.randint(0, 7, (4, 10), generator=g)
    out = mixkit.Mix3D()(pts, labels, generator=torch.Generator().manual_seed(1))
    want_x, want_y = oracle_union(pts, labels, out.index)
    torch.testing.assert_close(out.x, want_x)
    assert torch.equal(out.y, want_y) and out.valid is None
    mixer = mixkit.Mix3D()
    params = mixer.draw(pts.shape, torch.Generator().manual_seed(1))
    union, lam = mixer.apply(pts, params)
    torch.testing.assert_close(union, want_x)
    assert torch.equal(lam, torch.ones(4))
