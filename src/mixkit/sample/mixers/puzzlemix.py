"""PuzzleMix (Kim, Choo & Song, "Puzzle Mix: Exploiting Saliency and Local Statistics for Optimal Mixup",
ICML 2020): saliency- and smoothness-optimal block labels by graph cut, then transport of salient blocks."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..batch import MixedBatch
from ..functional.graph_cut import swap_grids
from ..functional.saliency_maps import gradient_saliency
from ..pairing import partner_rows
from .mixer import MixParams
from .model_aware import ModelAwareMixer, StepOutput

__all__ = ["PuzzleMix", "PuzzleMixParams", "block_saliency", "boundary_discontinuity", "greedy_transport",
           "release_transport"]

MAX_TRANSPORT_GRID = 16
"""Largest transport grid side: the release precomputes its transport costs for sides 2, 4, 8 and 16."""


def block_saliency(saliency: Tensor, blocks: int) -> Tensor:
    """Average ``saliency`` ``[B, H, W]`` over ``blocks x blocks`` equal blocks; each map sums to 1
    (float32)."""
    s = F.adaptive_avg_pool2d(saliency.float().unsqueeze(1), blocks).squeeze(1)
    return s / s.sum((1, 2), keepdim=True).clamp_min(1e-12)


def _neigh_size(bh: int, bw: int, neigh: int) -> int:
    """Largest pooling side ``<= neigh`` dividing both block sides (the release's ``min(neigh, block)``)."""
    g = math.gcd(bh, bw)
    return max(d for d in range(1, min(neigh, g) + 1) if g % d == 0)


def boundary_discontinuity(x0: Tensor, x1: Tensor, blocks: int, neigh_size: int = 4) -> tuple[Tensor, Tensor]:
    """PuzzleMix's data smoothness term: the jump across every block boundary for each choice of sources.

    ``x0``, ``x1``: ``[B, C, H, W]`` (the row and its partner). Both are average-pooled over ``p x p`` cells
    (``p``: the largest side ``<= neigh_size`` dividing the block sides); the jump between two vertically
    adjacent blocks is the channel mean of ``|last pooled row of the upper block - first pooled row of the
    lower block|``, averaged over the pooled columns of the block (horizontally adjacent blocks likewise).
    Returns ``horizontal [B, n, n-1, 2, 2]`` and ``vertical [B, n-1, n, 2, 2]`` (float32), entry
    ``[.., a, b]`` for the left (upper) block taken from image ``a`` and the right (lower) one from ``b``
    (0 = own, 1 = partner). Unscaled, as in the release (which pools the un-normalised image).
    """
    b, c, h, w = x0.shape
    n = blocks
    p = _neigh_size(h // n, w // n, neigh_size)
    pair = F.avg_pool2d(torch.stack([x0, x1], 1).float().flatten(0, 1), p).view(b, 2, c, h // p, w // p)
    kh, kw = h // n // p, w // n // p
    last_col = pair[..., kw - 1:-1:kw]  # [B, 2, C, h/p, n-1]
    first_col = pair[..., kw::kw]
    dh = (last_col.unsqueeze(2) - first_col.unsqueeze(1)).abs().mean(3)  # [B, 2(a), 2(b), h/p, n-1]
    dh = dh.view(b, 2, 2, n, kh, n - 1).mean(4).permute(0, 3, 4, 1, 2)  # [B, n, n-1, 2, 2]
    last_row = pair[..., kh - 1:-1:kh, :]  # [B, 2, C, n-1, w/p]
    first_row = pair[..., kh::kh, :]
    dv = (last_row.unsqueeze(2) - first_row.unsqueeze(1)).abs().mean(3)  # [B, 2, 2, n-1, w/p]
    dv = dv.view(b, 2, 2, n - 1, n, kw).mean(5).permute(0, 3, 4, 1, 2)  # [B, n-1, n, 2, 2]
    return dh, dv


def _transport_cost(n: int, device: torch.device) -> Tensor:
    """``[N, N]`` squared grid distance between the ``N = n x n`` blocks over ``(n - 1)^2``
    (the release's)."""
    pos = torch.stack(torch.meshgrid(torch.arange(n), torch.arange(n), indexing="ij"), -1).view(-1, 2)
    d = (pos.unsqueeze(1) - pos.unsqueeze(0)).square().sum(-1).float()
    return (d / max(n - 1, 1) ** 2).to(device)


def release_transport(saliency: Tensor, region: Tensor, xi: float) -> Tensor:
    """PuzzleMix's transport plan as released: ``n`` rounds of row-best / column-resolve on the cost
    ``xi * C - saliency[src] * region[dst]`` (``C``: squared block distance over ``(n - 1)^2``).

    ``saliency``: ``[B, N]`` (sums to 1), ``region``: ``[B, N]`` bool (where the image is shown), ``N = n x
    n``. Each round every source picks its cheapest destination; each destination keeps the cheapest of the
    sources that picked it (ties: lowest index; a destination whose picked costs are all positive keeps
    none); every losing (source, destination) cost is raised by 1. Returns ``source [B, N]`` int64, the block
    moved to each destination, or -1 where no source won (the release leaves such a block zero).
    ``n`` vectorised rounds over the batch; not an exact optimum.
    """
    b, nn_ = saliency.shape
    n = int(round(nn_ ** 0.5))
    dev = saliency.device
    cost = xi * _transport_cost(n, dev).unsqueeze(0) \
        - saliency.float().unsqueeze(2) * region.float().unsqueeze(1)  # [B, src, dst]
    ar = torch.arange(nn_, device=dev).expand(b, nn_)
    big = torch.full((b, nn_), nn_, dtype=torch.long, device=dev)
    source = torch.full((b, nn_), -1, dtype=torch.long, device=dev)
    for _ in range(n):
        picked, pick = cost.min(-1)  # [B, src]: each source's cheapest destination (first on ties)
        # the release takes, per destination, the argmin over ALL sources of plan * cost, where sources
        # that did not pick it count 0: the winner is the lowest-index source at the column minimum
        col_min = torch.full((b, nn_), math.inf, device=dev).scatter_reduce(1, pick, picked, "amin")
        count = torch.zeros(b, nn_, dtype=torch.long, device=dev).scatter_add(1, pick, torch.ones_like(pick))
        col_min = torch.where(count < nn_, col_min.clamp(max=0.0), col_min)
        at_min = picked == col_min.gather(1, pick)
        first = big.scatter_reduce(1, pick, torch.where(at_min, ar, big), "amin")  # lowest picker at the min
        first_other = torch.where((pick != pick[:, :1]).any(1), (pick != pick[:, :1]).long().argmax(1), nn_)
        lowest_other = torch.where(ar == pick[:, :1], first_other.view(-1, 1), 0)  # lowest non-picker
        won = (first < nn_) & ((col_min < 0) | (first < lowest_other) | (count == nn_))
        source = torch.where(won, first, -1)
        is_winner = won.gather(1, pick) & (first.gather(1, pick) == ar)
        cost.scatter_add_(2, pick.unsqueeze(-1), (~is_winner).to(cost.dtype).unsqueeze(-1))
    return source


def greedy_transport(saliency: Tensor, region: Tensor, xi: float) -> Tensor:
    """mixkit's own transport: a full permutation by greedy assignment (repeatedly take the cheapest
    remaining (source, destination) pair) for the cost of :func:`release_transport` (``saliency`` summing
    to 1, ``region`` ``[B, N]``). ``N`` vectorised steps over the batch, not an exact optimum. Returns
    ``source [B, N]`` int64: the block that lands at each destination."""
    b, nn_ = saliency.shape
    n = int(round(nn_ ** 0.5))
    cost = xi * _transport_cost(n, saliency.device).unsqueeze(0) \
        - saliency.float().unsqueeze(2) * region.float().unsqueeze(1)  # [B, src, dst]
    inf = torch.finfo(cost.dtype).max
    source = torch.empty(b, nn_, dtype=torch.long, device=saliency.device)
    rows = torch.arange(b, device=saliency.device)
    for _ in range(nn_):  # N steps, each vectorised over the batch
        flat = cost.view(b, -1).argmin(1)
        i, j = flat // nn_, flat % nn_
        source[rows, j] = i
        cost[rows, i, :] = inf
        cost[rows, :, j] = inf
    return source


def _blocks_view(x: Tensor, n: int) -> Tensor:
    b, c, h, w = x.shape
    blocks = x.reshape(b, c, n, h // n, n, w // n).permute(0, 2, 4, 1, 3, 5)
    return blocks.reshape(b, n * n, c, h // n, w // n)


def _unblock(blocks: Tensor, n: int, shape: torch.Size) -> Tensor:
    b, c, h, w = shape
    return blocks.view(b, n, n, c, h // n, w // n).permute(0, 3, 1, 4, 2, 5).reshape(b, c, h, w)


@dataclass(repr=False)
class PuzzleMixParams(MixParams):
    """:class:`MixParams` plus the drawn block count ``blocks`` (per side), the saliency maps ``[B, H, W]``
    of the call's ``x``, and what :meth:`PuzzleMix.apply` computes: the partner fraction of every block
    ``mask`` ``[B, n, n]``, the graph-cut ``labels`` ``[B, n, n]`` and the number of truncated pairs."""

    blocks: int = 0
    saliency: Tensor | None = None
    mask: Tensor | None = None
    labels: Tensor | None = None
    truncated_pairs: int = 0


def _check_blocks(blocks: int | tuple[int, ...]) -> tuple[int, ...]:
    vals = (blocks,) if isinstance(blocks, int) else tuple(blocks) if isinstance(blocks, (tuple, list)) \
        else ()
    if not vals or not all(isinstance(v, int) and not isinstance(v, bool) and v >= 2 for v in vals):
        raise ValueError(f"blocks must be an int >= 2 or a tuple of such ints (block counts per side to draw "
                         f"from), got {blocks!r}")
    return tuple(sorted(set(vals)))


class PuzzleMix(ModelAwareMixer):
    """PuzzleMix (Kim, Choo & Song, ICML 2020), as released in ``snu-mllab/PuzzleMix: mixup.py``
    (``mixup_graph``, ``graphcut_multi``, ``mask_transport``; training loop in ``main.py``).

    Each of ``n x n`` blocks gets a label ``l`` in ``{0, ..., L-1}`` (``L = labels``), the fraction
    ``f_l = l / (L - 1)`` of the block taken from the partner, minimising the release's energy

        sum_i (1 - f_i) (s1_i + A0_i) + f_i (s0_i + A1_i) - eta/n^2 log(p(l_i; lam) + 1e-8)
      + sum_(i~j) (beta' + beta' gamma w_ij) (f_i - f_j)^2

    ``s0``/``s1``: block-averaged gradient saliency of the row and its partner, each summing to 1;
    ``p(.; lam)``: binomial prior ``C(L-1, l) lam^(L-1-l) (1-lam)^l``, ``lam ~ Beta(alpha, alpha)``;
    ``beta' = beta / (16 n)``; ``D_ij(a, b)``: :func:`boundary_discontinuity` (pooled pixel jump across the
    boundary for sources ``a, b``), split as in the release into ``A0``/``A1`` (the mean of the two pair costs
    with this block from the row / the partner, summed over its neighbours) and ``w_ij = (D01 + D10 - D00 -
    D11) / 2``. Then salient blocks of each image are moved into the region where it is shown
    (:func:`release_transport`, on a grid of ``transport_size``-pixel cells) and ``x = (1 - f) T0(x_i) + f
    T1(x_j)``. ``lam`` is the exact own share ``1 - mean(f)``. ``x``: ``[B, C, H, W]``.

    Defaults from the release (CIFAR recipe in its README): ``alpha=1``, block counts ``{2, 4, 8, 16}`` drawn
    uniformly (here among those dividing ``H`` and ``W``), ``labels=3``, ``beta=1.2``, ``gamma=0.5``,
    ``eta=0.2``, ``neigh_size=4``, transport with ``xi=0.8`` (``t_eps``) on ``transport_size=4`` pixel cells,
    labels by alpha-beta swap moves from the all-own labelling until no move changes a label (GCO's
    ``swap``), and in :meth:`training_step` the saliency pass in eval mode (BN statistics untouched).
    ``extras``: ``mask`` (``f``, ``[B, n, n]``), ``labels``, ``blocks``, ``truncated_pairs``.

    Remaining deviations:
      * Energies in float64 (the release rounds them to int32 at scale ``1000 n^2``).
      * Non-submodular pairs of a swap move are truncated (count in ``extras["truncated_pairs"]``).
      * The boundary term is computed on ``x`` as passed (the release un-normalises to ``[0, 1]`` first).
      * The transport grid side is capped at 16 (the largest the release supports).
      * :meth:`training_step` uses the mixed cross-entropy (the release: BCE on softmax); no adversarial
        noise, no clean-loss term (release defaults ``adv_p = 0``, ``clean_lam = 0`` for CIFAR).
      * Non-square images and ``L`` up to 5 are mixkit's extensions.

    ``transport_solver="greedy"`` (:func:`greedy_transport`, a full permutation) and ``transport_size=None``
    (transport on the label grid, the release's ``t_size=-1``) are named options. The graph cut runs on the
    host (:mod:`mixkit.sample.functional.graph_cut`, pymaxflow): the energies are copied there once per
    swap move. Use :meth:`training_step` or call ``mixer(x, y, saliency=...)`` with maps ``[B, H, W]``.
    """

    name = "puzzlemix"
    aliases = ("puzzle",)
    paper = "Puzzle Mix: Exploiting Saliency and Local Statistics for Optimal Mixup (Kim et al., ICML 2020)"
    paper_url = "https://arxiv.org/abs/2009.06962"
    release = "snu-mllab/PuzzleMix: mixup.py"
    min_rank = 4
    max_rank = 4

    def __init__(self, alpha: float = 1.0, blocks: int | tuple[int, ...] = (2, 4, 8, 16), beta: float = 1.2,
                 gamma: float = 0.5, eta: float = 0.2, xi: float = 0.8, transport: bool = True,
                 labels: int = 3, sweeps: int | None = None, neigh_size: int = 4,
                 transport_size: int | None = 4, transport_solver: str = "release", *, mode: str = "batch",
                 prob: float = 1.0, pairing: str = "roll", validate: bool = True) -> None:
        super().__init__(alpha, mode=mode, prob=prob, pairing=pairing, validate=validate)
        if not isinstance(labels, int) or not 2 <= labels <= 5:
            raise ValueError(f"labels must be an int in [2, 5] (mixing levels per block), got {labels!r}")
        if sweeps is not None and (not isinstance(sweeps, int) or sweeps < 1):
            raise ValueError(f"sweeps must be a positive int or None (until convergence), got {sweeps!r}")
        if not isinstance(neigh_size, int) or neigh_size < 1:
            raise ValueError(f"neigh_size must be a positive int, got {neigh_size!r}")
        if transport_size is not None and (not isinstance(transport_size, int) or transport_size < 1):
            raise ValueError(f"transport_size must be a positive int (pixels) or None, "
                             f"got {transport_size!r}")
        if transport_solver not in ("release", "greedy"):
            raise ValueError(f"transport_solver must be 'release' or 'greedy', got {transport_solver!r}")
        self.labels, self.sweeps, self.neigh_size = labels, sweeps, neigh_size
        self.transport_size, self.transport_solver = transport_size, transport_solver
        self.blocks = _check_blocks(blocks)
        for key, val in (("beta", beta), ("gamma", gamma), ("eta", eta), ("xi", xi)):
            if not float(val) >= 0:
                raise ValueError(f"{key} must be a number >= 0, got {val!r}")
        self.beta, self.gamma, self.eta, self.xi = float(beta), float(gamma), float(eta), float(xi)
        self.transport = bool(transport)

    def _choose_blocks(self, h: int, w: int, generator: torch.Generator | None) -> int:
        ok = [n for n in self.blocks if h % n == 0 and w % n == 0]
        if not ok:
            raise ValueError(f"blocks={self.blocks}: no block count divides the image size {h} x {w}")
        return ok[int(torch.randint(len(ok), (1,), generator=generator))] if len(ok) > 1 else ok[0]

    def energies(self, x: Tensor, partner: Tensor, s0: Tensor, s1: Tensor, lam: Tensor, n: int
                 ) -> tuple[Tensor, Tensor, Tensor]:
        """The release's energy: unary ``[B, n, n, L]`` and pairwise ``[B, n, n-1, L, L]`` (horizontal) /
        ``[B, n-1, n, L, L]`` (vertical), float64; label ``l`` takes ``l / (L - 1)`` of the block from the
        partner. ``s0``/``s1``: block saliency ``[B, n, n]`` summing to 1; ``lam``: ``[B]`` own weights."""
        k, b = self.labels, x.shape[0]
        dev = x.device
        f = torch.linspace(0.0, 1.0, k, device=dev, dtype=torch.float64)  # partner fraction of each label
        lam_dev = lam.to(dev, torch.float64).view(-1, 1, 1, 1)
        counts = torch.arange(k, device=dev, dtype=torch.float64)
        log_binom = (torch.lgamma(torch.tensor(float(k), device=dev, dtype=torch.float64))
                     - torch.lgamma(counts + 1) - torch.lgamma(k - counts))
        prob = torch.exp(log_binom + counts * torch.log1p(-lam_dev.clamp(max=1.0))
                         + (k - 1 - counts) * torch.log(lam_dev.clamp(min=0.0)))
        prior = -self.eta / n ** 2 * torch.log(prob + 1e-8)  # [B, 1, 1, L]
        smooth = self.beta / n / 16
        cost_own, cost_par = s1.double().clone(), s0.double().clone()  # showing own loses s1, and vice versa
        w_h = torch.zeros(b, n, n - 1, device=dev, dtype=torch.float64)
        w_v = torch.zeros(b, n - 1, n, device=dev, dtype=torch.float64)
        if self.gamma > 0:
            dh, dv = boundary_discontinuity(x, partner, n, self.neigh_size)
            dh, dv = smooth * self.gamma * dh.double(), smooth * self.gamma * dv.double()
            every = slice(None)
            lo, hi = slice(None, -1), slice(1, None)
            for d, w, first, second in ((dh, w_h, (every, every, lo), (every, every, hi)),
                                        (dv, w_v, (every, lo), (every, hi))):
                cost_own[first] += (d[..., 0, 0] + d[..., 0, 1]) / 2  # first block own, second either
                cost_par[first] += (d[..., 1, 0] + d[..., 1, 1]) / 2
                cost_own[second] += (d[..., 0, 0] + d[..., 1, 0]) / 2
                cost_par[second] += (d[..., 0, 1] + d[..., 1, 1]) / 2
                w += (d[..., 0, 1] + d[..., 1, 0] - d[..., 0, 0] - d[..., 1, 1]) / 2
        unary = (1 - f) * cost_own.unsqueeze(-1) + f * cost_par.unsqueeze(-1) + prior
        sq = (f.view(-1, 1) - f.view(1, -1)).square()
        return unary, (smooth + w_h)[..., None, None] * sq, (smooth + w_v)[..., None, None] * sq

    def draw(self, shape: torch.Size, generator: torch.Generator | None) -> PuzzleMixParams:
        """Partners and ``lam`` (as :class:`Mixer`), then the block count among those dividing ``H`` and
        ``W``."""
        base = super().draw(shape, generator)
        return PuzzleMixParams(base.pairs, base.lam, self._choose_blocks(shape[-2], shape[-1], generator))

    def forward(self, x: Tensor, y: Tensor | None = None, *, generator: torch.Generator | None = None,
                out: Tensor | None = None, saliency: Tensor | None = None) -> MixedBatch:
        g = self.check_call(x, y, generator, out)
        if saliency is None:
            raise ValueError("saliency: PuzzleMix needs saliency maps [B, H, W] of x (pass saliency=, or use "
                             "training_step(model, x, y), which computes the gradient saliency)")
        b, _, h, w = x.shape
        if saliency.shape != (b, h, w):
            raise ValueError(f"saliency must have shape {(b, h, w)}, got {tuple(saliency.shape)}")
        params = self.draw(x.shape, g)
        params.saliency = saliency
        x_mixed, lam = self.apply(x, params, out)
        return MixedBatch(x=x_mixed, index=params.pairs.index.to(x_mixed.device, non_blocking=True),
                          lam=lam.to(x_mixed.device, torch.float32, non_blocking=True), y=y,
                          extras=self.extras(params, x_mixed))

    def transport_grid(self, h: int, w: int, n: int) -> int:
        """Side of the transport grid: ``n`` refined to ``transport_size``-pixel cells (the release's
        ``t_size``) where the blocks split evenly, at most :data:`MAX_TRANSPORT_GRID`; ``n`` when
        ``transport_size`` is None."""
        bh, bw = h // n, w // n
        if self.transport_size is None or self.transport_size >= min(bh, bw):
            return n
        r = min(bh, bw) // self.transport_size
        while r > 1 and (bh % r or bw % r or n * r > MAX_TRANSPORT_GRID):
            r -= 1
        return n * r

    def apply(self, x: Tensor, params: PuzzleMixParams, out: Tensor | None = None) -> tuple[Tensor, Tensor]:
        """Graph-cut labels, transport, block-wise assembly; the kept fraction ``1 - mean(f)`` ``[B]``."""
        if params.saliency is None:
            raise ValueError("params.saliency: PuzzleMix needs saliency maps [B, H, W] of x")
        b, _, h, w = x.shape
        pairs, lam, n = params.pairs, params.lam, params.blocks
        idx = pairs.index.to(x.device, non_blocking=True)
        partner = partner_rows(x, pairs, idx)
        s0 = block_saliency(params.saliency, n)
        s1 = s0[idx]
        unary, horiz, vert = self.energies(x, partner, s0, s1, lam, n)
        labels, truncated = swap_grids(unary, horiz, vert, self.sweeps)
        labels = labels * (lam < 1.0).to(labels.device).view(-1, 1, 1)  # inactive / self-paired rows: own
        frac = labels.float() / (self.labels - 1)  # [B, n, n] partner fraction of each block
        t = self.transport_grid(h, w, n) if self.transport else n
        r = t // n
        frac_t = frac.repeat_interleave(r, 1).repeat_interleave(r, 2).flatten(1)  # [B, t*t]
        blocks0, blocks1 = _blocks_view(x, t), _blocks_view(partner, t)
        if self.transport:
            st0 = block_saliency(params.saliency, t).flatten(1)
            solve = release_transport if self.transport_solver == "release" else greedy_transport
            blocks0 = _move(blocks0, solve(st0, frac_t < 1, self.xi))
            blocks1 = _move(blocks1, solve(st0[idx], frac_t > 0, self.xi))
        # 0/1 (and 1/2) weights: lerp copies exactly where a block comes from one image
        mixed = torch.lerp(blocks0, blocks1, frac_t.to(x.dtype).view(b, -1, 1, 1, 1))
        x_out = _unblock(mixed, t, x.shape).contiguous(memory_format=_memory_format(x))
        params.mask, params.labels, params.truncated_pairs = frac, labels, truncated
        return (x_out if out is None else out.copy_(x_out)), 1.0 - frac.mean((1, 2))

    def extras(self, params: PuzzleMixParams, x_mixed: Tensor) -> dict[str, Any]:
        """``mask`` (``f``, ``[B, n, n]``), ``labels``, ``blocks`` and ``truncated_pairs``."""
        return {"mask": params.mask, "labels": params.labels, "blocks": params.blocks,
                "truncated_pairs": params.truncated_pairs}

    def training_step(self, model: nn.Module, x: Tensor, y: Tensor, *,
                      generator: torch.Generator | None = None) -> StepOutput:
        """Gradient saliency from one clean forward/backward in eval mode (input gradient only; the model's
        train/eval state is restored), mix, forward, mixed CE."""
        self.check_step(model, x, y, generator)
        was_training = model.training
        model.eval()
        try:
            saliency, _, _ = gradient_saliency(model, x, y)
        finally:
            model.train(was_training)
        out = self(x, y, generator=generator, saliency=saliency)
        logits = model(out.x)
        return StepOutput(loss=out.loss(logits), logits=logits, mixed=out)

    def extra_repr(self) -> str:
        return (f"{super().extra_repr()}, blocks={self.blocks}, beta={self.beta}, gamma={self.gamma}, "
                f"eta={self.eta}, xi={self.xi}, transport={self.transport}, labels={self.labels}, "
                f"transport_size={self.transport_size}, transport_solver={self.transport_solver!r}")


def _move(blocks: Tensor, source: Tensor) -> Tensor:
    """Blocks ``[B, N, C, h, w]`` rearranged so destination ``j`` holds block ``source[:, j]``
    (0 where -1)."""
    b = blocks.shape[0]
    moved = blocks.gather(1, source.clamp_min(0).view(b, -1, 1, 1, 1).expand_as(blocks))
    return moved * (source >= 0).to(blocks.dtype).view(b, -1, 1, 1, 1)


def _memory_format(x: Tensor) -> torch.memory_format:
    if x.dim() == 4 and x.is_contiguous(memory_format=torch.channels_last) and not x.is_contiguous():
        return torch.channels_last
    return torch.contiguous_format
