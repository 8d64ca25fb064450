"""Colorful Cutout against an oracle written from the paper (Choi & Kim, ICLR 2024 Tiny Papers): Cutout's
square ``[c - L // 2, c + L // 2)`` clipped at the border, tiled by ``2 ** N_epoch`` cells of random colours
(the grid of :func:`colorful_cells`), pixels outside the square untouched, labels untouched."""

import pytest
import torch

from mixkit.sample.mixers.colorful_cutout import ColorfulCutout, colorful_cells


def oracle(x, centre, length, grid, colors):
    out = x.clone()
    n, c, h, w = x.shape
    half = length // 2
    span = 2 * half
    rows, cols = grid
    for b in range(n):
        y0, x0 = int(centre[b, 0]) - half, int(centre[b, 1]) - half
        for i in range(h):
            for j in range(w):
                if y0 <= i < y0 + span and x0 <= j < x0 + span:
                    cy = min(max((i - y0) * rows // span, 0), rows - 1)
                    cx = min(max((j - x0) * cols // span, 0), cols - 1)
                    out[b, :, i, j] = colors[b, cy, cx]
    return out


@pytest.mark.parametrize("epoch,length,size",
                         [(0, 4, (7, 9)), (1, 4, (8, 8)), (3, 6, (10, 7)), (5, 3, (6, 6))])
def test_matches_the_oracle(epoch, length, size):
    g = torch.Generator().manual_seed(epoch)
    x = torch.randn(5, 3, *size, generator=g)
    mixer = ColorfulCutout(length)
    mixer.set_epoch(epoch)
    params = mixer.draw(x.shape, torch.Generator().manual_seed(7))
    centre = params.origin + length // 2
    out, lam = mixer.apply(x, params)
    assert params.grid == colorful_cells(epoch, 2 * (length // 2))
    torch.testing.assert_close(out, oracle(x, centre, length, params.grid, params.colors))
    assert torch.equal(lam, torch.ones(5))


def test_cell_count_doubles_each_epoch():
    assert [colorful_cells(e, 64) for e in range(5)] == [(1, 1), (1, 2), (2, 2), (2, 4), (4, 4)]
    assert [r * c for r, c in (colorful_cells(e, 1024) for e in range(10))] == [2 ** e for e in range(10)]
    assert colorful_cells(12, 8) == (8, 8)  # cells stay at least one pixel
