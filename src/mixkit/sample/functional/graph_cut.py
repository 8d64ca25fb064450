"""Exact minimisation of binary labelling energies on a batch of 4-connected grids by s-t min-cut.

An energy over labels ``z`` in ``{0, 1}^(n x m)`` per grid::

    E(z) = sum_i U[i, z_i] + sum_(i, j right neighbours) H[i, z_i, z_j] + sum_(i, j down neighbours) V[i,
    z_i, z_j]

is rewritten exactly (Kolmogorov & Zabih, PAMI 2004) as unary terms plus one directed edge of capacity
``c = E01 + E10 - E00 - E11`` per neighbour pair. When every ``c >= 0`` (the energy is submodular) the min
cut is
the global optimum. A pair with ``c < 0`` is truncated to ``c = 0`` (keeping its unary parts), the standard
fallback; :func:`solve_binary_grids` reports how many pairs were truncated.

The whole batch is one graph of ``B * n * m`` nodes built from NumPy arrays (no Python loop over the batch or
the nodes) and solved by the Boykov-Kolmogorov algorithm of the optional ``pymaxflow`` package
(``pip install "mixkit[puzzlemix]"``). The energies travel to the host once per call: graph cuts are a host
algorithm.
"""

from __future__ import annotations

import torch
from torch import Tensor

__all__ = ["grid_energy", "solve_binary_grids", "swap_grids"]


def _maxflow():
    try:
        import maxflow  # type: ignore[import-not-found]
    except ImportError as err:
        raise ImportError("PuzzleMix's graph cut needs the optional package 'pymaxflow': "
                          "pip install 'mixkit[puzzlemix]' (or pip install 'pymaxflow>=1.3')") from err
    return maxflow


def grid_energy(labels: Tensor, unary: Tensor, horizontal: Tensor, vertical: Tensor) -> Tensor:
    """Energy ``[B]`` of labellings ``labels`` ``[B, n, m]`` (ints in ``[0, L)`` or bool) under ``unary``
    ``[B, n, m, L]``, ``horizontal`` ``[B, n, m-1, L, L]`` and ``vertical`` ``[B, n-1, m, L, L]`` (float)."""
    z = labels.long()
    k = unary.shape[-1]
    e = unary.gather(-1, z.unsqueeze(-1)).squeeze(-1).sum((1, 2))
    a, b = z[:, :, :-1], z[:, :, 1:]
    h = horizontal.flatten(-2).gather(-1, (k * a + b).unsqueeze(-1)).squeeze(-1)
    a, b = z[:, :-1, :], z[:, 1:, :]
    v = vertical.flatten(-2).gather(-1, (k * a + b).unsqueeze(-1)).squeeze(-1)
    return e + h.sum((1, 2)) + v.sum((1, 2))


MAX_SWEEPS = 20
"""Cap on the sweeps of :func:`swap_grids` run until convergence."""


def swap_grids(unary: Tensor, horizontal: Tensor, vertical: Tensor, sweeps: int | None = None,
               init: Tensor | None = None) -> tuple[Tensor, int]:
    """Approximately minimise :func:`grid_energy` over ``L`` labels by alpha-beta swap moves (Boykov, Veksler
    & Zabih, PAMI 2001), the move PuzzleMix's release uses (GCO's ``swap``): start from ``init`` (default:
    every node at label 0, as GCO), then for every label pair ``(a, b)`` in order relabel the nodes
    currently labelled ``a`` or ``b`` optimally between ``a`` and ``b`` (one exact binary cut over the whole
    batch, :func:`solve_binary_grids`). ``sweeps=None`` repeats the sweep until no label changes (at most
    :data:`MAX_SWEEPS`), an int runs that many sweeps. Each move never raises the energy of a submodular
    move; the result is a local optimum with respect to swap moves, not a global one. With ``L = 2`` this is
    the exact binary cut. Returns ``(labels [B, n, m] int64, truncated)``."""
    k = unary.shape[-1]
    if k == 2:
        z, truncated = solve_binary_grids(unary, horizontal, vertical)
        return z.long(), truncated
    z = torch.zeros(unary.shape[:-1], dtype=torch.long, device=unary.device) if init is None else init.long()
    truncated = 0
    for _ in range(MAX_SWEEPS if sweeps is None else sweeps):
        before = z
        for a in range(k):
            for b in range(a + 1, k):
                u2, h2, v2 = _swap_problem(z, unary, horizontal, vertical, a, b)
                choice, t = solve_binary_grids(u2, h2, v2)
                truncated += t
                free = (z == a) | (z == b)
                z = torch.where(free, torch.where(choice, b, a), z)
        if sweeps is None and torch.equal(before, z):
            break
    return z, truncated


def _swap_problem(z: Tensor, unary: Tensor, horizontal: Tensor, vertical: Tensor, a: int, b: int
                  ) -> tuple[Tensor, Tensor, Tensor]:
    """Binary energy of the (a, b)-swap move from labelling ``z``: choice 0 = label ``a``, 1 = label ``b``
    for the free nodes (labelled ``a`` or ``b``); other nodes are fixed and their edges become unary terms."""
    ab = torch.tensor([a, b], device=z.device)
    free = (z == a) | (z == b)
    u2 = unary.index_select(-1, ab) * free.unsqueeze(-1)
    pairwise = []
    for pw, first, second, pad in ((horizontal, z[:, :, :-1], z[:, :, 1:], (0, 1)),
                                   (vertical, z[:, :-1, :], z[:, 1:, :], (1, 0))):
        f1, f2 = (first == a) | (first == b), (second == a) | (second == b)
        # first free, second fixed: E(choice, z_second) lands on the first node
        to_first = pw.index_select(-2, ab).gather(-1, second[..., None, None].expand(*second.shape, 2, 1))
        to_first = to_first.squeeze(-1) * (f1 & ~f2).unsqueeze(-1)
        # first fixed, second free: E(z_first, choice) lands on the second node
        to_second = pw.index_select(-1, ab).gather(-2, first[..., None, None].expand(*first.shape, 1, 2))
        to_second = to_second.squeeze(-2) * (~f1 & f2).unsqueeze(-1)
        if pad == (0, 1):
            u2[:, :, :-1] += to_first
            u2[:, :, 1:] += to_second
        else:
            u2[:, :-1, :] += to_first
            u2[:, 1:, :] += to_second
        both = (f1 & f2)[..., None, None]
        pairwise.append(pw.index_select(-2, ab).index_select(-1, ab) * both)
    return u2, pairwise[0], pairwise[1]


def solve_binary_grids(unary: Tensor, horizontal: Tensor, vertical: Tensor) -> tuple[Tensor, int]:
    """Minimise :func:`grid_energy` for every grid of the batch; returns ``(labels [B, n, m] bool on unary's
    device, truncated)`` where ``truncated`` counts non-submodular pairs that were clipped (0 means every
    returned labelling is a global minimum)."""
    if unary.dim() != 4 or unary.shape[-1] != 2:
        raise ValueError(f"unary must have shape [B, n, m, 2], got {tuple(unary.shape)}")
    b, n, m, _ = unary.shape
    if horizontal.shape != (b, n, m - 1, 2, 2) or vertical.shape != (b, n - 1, m, 2, 2):
        raise ValueError(f"horizontal/vertical must have shapes {(b, n, m - 1, 2, 2)} and "
                         f"{(b, n - 1, m, 2, 2)}, "
                         f"got {tuple(horizontal.shape)} and {tuple(vertical.shape)}")
    maxflow = _maxflow()
    u = unary.detach().double().cpu().clone()
    truncated = 0
    edges = []
    for pw, (di, dj) in ((horizontal.detach().double().cpu(), (0, 1)),
                         (vertical.detach().double().cpu(), (1, 0))):
        e00, e01, e10, e11 = pw[..., 0, 0], pw[..., 0, 1], pw[..., 1, 0], pw[..., 1, 1]
        c = e01 + e10 - e00 - e11
        truncated += int((c < -1e-12).sum())
        rows, cols = pw.shape[1], pw.shape[2]
        # E(a, b) = E00 + (E10 - E00) a + (E11 - E10) b + c (1 - a) b
        u[:, :rows, :cols, 1] += e10 - e00
        u[:, di:di + rows, dj:dj + cols, 1] += e11 - e10
        edges.append((c.clamp_min(0.0), di, dj, rows, cols))
    g = maxflow.GraphFloat()
    ids = g.add_grid_nodes((b, n, m))
    d = (u[..., 1] - u[..., 0]).numpy()  # extra cost of label 1 over label 0
    g.add_grid_tedges(ids, d.clip(min=0.0), (-d).clip(min=0.0))  # label 1 = sink side pays the source edge
    for c, di, dj, rows, cols in edges:
        src = ids[:, :rows, :cols].ravel()
        dst = ids[:, di:di + rows, dj:dj + cols].ravel()
        cap = c.numpy().ravel()
        g.add_edges(src, dst, cap, cap * 0.0)  # cut when src has label 0 and dst label 1
    g.maxflow()
    labels = torch.from_numpy(g.get_grid_segments(ids).copy())
    return labels.to(unary.device, non_blocking=True), truncated
