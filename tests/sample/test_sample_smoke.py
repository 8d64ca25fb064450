import torch

import mixkit


def test_mixup_matches_lerp_definition():
    g = torch.Generator().manual_seed(0)
    x, y = torch.randn(7, 3, 5, 5), torch.arange(7)
    out = mixkit.MixUp(alpha=0.4, mode="elem")(x, y, generator=g)
    lam = out.lam.view(-1, 1, 1, 1)
    torch.testing.assert_close(out.x, lam * x + (1 - lam) * x[out.index])
    assert sorted(out.index.tolist()) == list(range(7))
