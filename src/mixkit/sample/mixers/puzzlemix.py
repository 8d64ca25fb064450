"""PuzzleMix (Kim, Choo & Song, "Puzzle Mix: Exploiting Saliency and Local Statistics for Optimal Mixup",
ICML 2020): saliency- and smoothness-optimal block labels by graph cut, then transport of salient blocks."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..batch import MixedBatch
from ..checks import check_int_range
from ..functional.graph_cut import swap_grids
from ..functional.saliency_maps import gradient_saliency
from ..pairing import partner_rows
from .mixer import MixParams
from .model_aware import ModelAwareMixer, StepOutput

__all__ = ["PuzzleMix", "PuzzleMixParams", "block_saliency", "boundary_discontinuity", "greedy_transport"]


def block_saliency(saliency: Tensor, blocks: int) -> Tensor:
    """Average ``saliency`` ``[B, H, W]`` over ``blocks x blocks`` equal blocks; mean 1 per image."""
    s = F.adaptive_avg_pool2d(saliency.float().unsqueeze(1), blocks).squeeze(1)
    return s / s.mean((1, 2), keepdim=True).clamp_min(1e-12)


def boundary_discontinuity(x0: Tensor, x1: Tensor, blocks: int) -> tuple[Tensor, Tensor]:
    """Mean absolute pixel jump across every block boundary for each choice of source image on either side.

    Returns ``horizontal [B, n, n-1, 2, 2]`` and ``vertical [B, n-1, n, 2, 2]`` (float32), where entry
    ``[.., a, b]`` is the jump between the last pixel column (row) of the left (upper) block taken from image
    ``a`` and the first pixel column (row) of the right (lower) block taken from image ``b`` (0 = own, 1 =
    partner).
    Each row is scaled by its mean so the weight ``gamma`` does not depend on the data's range.
    """
    b, c, h, w = x0.shape
    n = blocks
    bh, bw = h // n, w // n
    pair = torch.stack([x0, x1], 1).float()  # [B, 2, C, H, W]
    last_col = pair[..., bw - 1:w - 1:bw]  # [B, 2, C, H, n-1]
    first_col = pair[..., bw::bw]
    dh = (last_col.unsqueeze(2) - first_col.unsqueeze(1)).abs()  # [B, 2(a), 2(b), C, H, n-1]
    dh = dh.view(b, 2, 2, c, n, bh, n - 1).mean((3, 5)).permute(0, 3, 4, 1, 2)  # [B, n, n-1, 2, 2]
    last_row = pair[..., bh - 1:h - 1:bh, :]  # [B, 2, C, n-1, W]
    first_row = pair[..., bh::bh, :]
    dv = (last_row.unsqueeze(2) - first_row.unsqueeze(1)).abs()  # [B, 2, 2, C, n-1, W]
    dv = dv.view(b, 2, 2, c, n - 1, n, bw).mean((3, 6)).permute(0, 3, 4, 1, 2)  # [B, n-1, n, 2, 2]
    scale = torch.cat([dh.flatten(1), dv.flatten(1)], 1).mean(1).clamp_min(1e-12).view(-1, 1, 1, 1, 1)
    return dh / scale, dv / scale


def greedy_transport(saliency: Tensor, region: Tensor, xi: float) -> Tensor:
    """Move salient blocks into ``region``: an approximate solution of PuzzleMix's transport problem.

    ``saliency``: ``[B, N]`` block saliency (mean 1); ``region``: ``[B, N]`` (1 where the image is shown).
    Minimises ``sum_i xi * N * d(i, pi(i)) - saliency[i] * region[pi(i)]`` (``d``: squared block distance over
    ``(n - 1)^2``, the paper's cost at its saliency scale, which sums to 1) over permutations ``pi`` of the
    ``N = n x n``
    blocks by the greedy assignment (repeatedly take the cheapest remaining (source, destination) pair): ``N``
    vectorised steps over the batch, not an exact optimum. Returns ``source [B, N]`` int64: the block that
    lands
    at each destination.
    """
    b, nn_ = saliency.shape
    n = int(round(nn_ ** 0.5))
    pos = torch.stack(torch.meshgrid(torch.arange(n), torch.arange(n), indexing="ij"), -1).view(-1, 2).float()
    dist = (torch.cdist(pos, pos).square() * (nn_ / max(n - 1, 1) ** 2)).to(saliency.device)
    cost = xi * dist.unsqueeze(0) - saliency.unsqueeze(2) * region.unsqueeze(1).float()  # [B, src, dst]
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


class PuzzleMix(ModelAwareMixer):
    """PuzzleMix (Kim, Choo & Song, ICML 2020): give each of ``n x n`` blocks a mixing level
    ``z_i`` in ``{0, 1/(L-1), ..., 1}`` (the fraction taken from the partner; ``L = labels``) by minimising

        sum_i  -(1 - z_i) s0_i - z_i s1_i - eta log p(z_i; lam)        (saliency data term + label prior)
      + sum_(i~j)  beta' ((z_i - z_j)^2 + gamma D_ij(z_i, z_j))         (smoothness + boundary jump)

    with graph cuts, then move salient blocks of each image into the region where it is shown (transport)
    and assemble ``x = (1 - z) * T0(x_i) + z * T1(x_j)`` block-wise. ``s0``/``s1``: block-averaged gradient
    saliency of the row and its partner (``||dCE/dx||_2`` over channels, scaled to mean 1); ``p(.; lam)``: the
    binomial prior of the paper (for ``L = 2``: ``p(1) = 1 - lam``), ``lam ~ Beta(alpha, alpha)``; ``D``: mean
    pixel jump across a block boundary for each choice of sources (blended for intermediate levels), scaled
    to mean 1 per row. ``beta' = beta n / 16`` and the transport weight follow the scaling of the authors'
    release (their saliency sums to 1, here it averages 1), with the paper's defaults ``beta = 1.2,
    gamma = 0.5, eta = 0.2, xi = 0.8``. ``lam`` is the mask mean ``1 - mean(z)`` (exact: blocks have equal
    size). ``blocks``: blocks per side, an int or an inclusive ``(low, high)`` range drawn per call among the
    values that divide both ``H`` and ``W``. ``extras``: ``mask`` (``z``, ``[B, n, n]``), ``labels``,
    ``blocks``, ``truncated_pairs``.

    Solver: ``labels=2`` (default) is solved exactly by one s-t min cut over the whole batch
    (:mod:`mixkit.sample.functional.graph_cut`, pymaxflow); ``labels >= 3`` uses alpha-beta swap moves
    (each an exact binary cut; ``sweeps`` sweeps), the move the authors' release uses, which reaches a local
    optimum only.

    Named simplifications relative to the paper:
      * Non-submodular boundary pairs are truncated (count in ``extras["truncated_pairs"]``).
      * Transport by greedy assignment (:func:`greedy_transport`), not the authors' iterative solver, and on
        the label grid (their release can transport on a finer grid).
      * Labelling and transport are one pass each, not alternated; no adversarial input perturbation and no
        clean-loss term.

    Use :meth:`training_step` (computes the saliency with one extra forward/backward of the model) or call
    ``mixer(x, y, saliency=...)`` with saliency maps ``[B, H, W]`` of ``x``. The graph cut runs on the host:
    the ``[B, n, n, L]`` energies are copied there once per cut. ``x``: ``[B, C, H, W]``.
    """

    name = "puzzlemix"
    aliases = ("puzzle",)
    paper = "Puzzle Mix: Exploiting Saliency and Local Statistics for Optimal Mixup (Kim et al., ICML 2020)"
    paper_url = "https://arxiv.org/abs/2009.06962"
    release = "snu-mllab/PuzzleMix"
    min_rank = 4
    max_rank = 4

    def __init__(self, alpha: float = 1.0, blocks: int | tuple[int, int] = (2, 4), beta: float = 1.2,
                 gamma: float = 0.5, eta: float = 0.2, xi: float = 0.8, transport: bool = True,
                 labels: int = 2, sweeps: int = 2, *, mode: str = "batch", prob: float = 1.0,
                 pairing: str = "roll", validate: bool = True) -> None:
        super().__init__(alpha, mode=mode, prob=prob, pairing=pairing, validate=validate)
        if not isinstance(labels, int) or not 2 <= labels <= 5:
            raise ValueError(f"labels must be an int in [2, 5] (mixing levels per block), got {labels!r}")
        if not isinstance(sweeps, int) or sweeps < 1:
            raise ValueError(f"sweeps must be a positive int, got {sweeps!r}")
        self.labels, self.sweeps = labels, sweeps
        self.blocks = check_int_range(blocks, "blocks", low=2)
        for key, val in (("beta", beta), ("gamma", gamma), ("eta", eta), ("xi", xi)):
            if not float(val) >= 0:
                raise ValueError(f"{key} must be a number >= 0, got {val!r}")
        self.beta, self.gamma, self.eta, self.xi = float(beta), float(gamma), float(eta), float(xi)
        self.transport = bool(transport)

    def _choose_blocks(self, h: int, w: int, generator: torch.Generator | None) -> int:
        lo, hi = self.blocks
        ok = [n for n in range(lo, hi + 1) if h % n == 0 and w % n == 0]
        if not ok:
            raise ValueError(f"blocks={self.blocks}: no block count in that range divides the image size "
                             f"{h} x {w}")
        return ok[int(torch.randint(len(ok), (1,), generator=generator))] if len(ok) > 1 else ok[0]

    def energies(self, x: Tensor, partner: Tensor, s0: Tensor, s1: Tensor, lam: Tensor, n: int
                 ) -> tuple[Tensor, Tensor, Tensor]:
        """Unary ``[B, n, n, L]`` and pairwise ``[B, n, n-1, L, L]``/``[B, n-1, n, L, L]`` label energies
        (``L = labels``; label ``l`` takes the fraction ``v = l / (L - 1)`` of the block from the partner)."""
        k = self.labels
        v = torch.linspace(0.0, 1.0, k, device=x.device)  # partner fraction of each label
        lam_dev = lam.to(x.device, torch.float32).clamp(1e-4, 1 - 1e-4).view(-1, 1, 1, 1)
        counts = torch.arange(k, device=x.device, dtype=torch.float32)
        log_binom = (torch.lgamma(torch.tensor(float(k), device=x.device)) - torch.lgamma(counts + 1)
                     - torch.lgamma(k - counts))
        log_prior = log_binom + counts * torch.log1p(-lam_dev) + (k - 1 - counts) * torch.log(lam_dev)
        unary = -(1 - v) * s0.unsqueeze(-1) - v * s1.unsqueeze(-1) - self.eta * log_prior
        smooth = self.beta * n / 16  # the paper's beta / (16 n) at saliency sum 1, rescaled to mean 1
        potts = smooth * (v.view(-1, 1) - v.view(1, -1)).square()
        b = x.shape[0]
        if self.gamma > 0:
            mix = torch.stack([1 - v, v], 1)  # [L, 2]: weight of (own, partner) in each label
            dh, dv = boundary_discontinuity(x, partner, n)  # [.., 2, 2] -> blend to [.., L, L]
            dh = torch.einsum("ka,...ab,lb->...kl", mix, dh, mix)
            dv = torch.einsum("ka,...ab,lb->...kl", mix, dv, mix)
            return unary, smooth * self.gamma * dh + potts, smooth * self.gamma * dv + potts
        return unary, potts.expand(b, n, n - 1, k, k), potts.expand(b, n - 1, n, k, k)

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

    def apply(self, x: Tensor, params: PuzzleMixParams, out: Tensor | None = None) -> tuple[Tensor, Tensor]:
        """Graph-cut labels, transport, block-wise assembly; the kept fraction ``1 - mean(z)`` ``[B]``."""
        if params.saliency is None:
            raise ValueError("params.saliency: PuzzleMix needs saliency maps [B, H, W] of x")
        b = x.shape[0]
        pairs, lam, n = params.pairs, params.lam, params.blocks
        idx = pairs.index.to(x.device, non_blocking=True)
        partner = partner_rows(x, pairs, idx)
        s0 = block_saliency(params.saliency, n)
        s1 = s0[idx]
        unary, horiz, vert = self.energies(x, partner, s0, s1, lam, n)
        labels, truncated = swap_grids(unary, horiz, vert, self.sweeps)
        labels = labels * (lam < 1.0).to(labels.device).view(-1, 1, 1)  # inactive / self-paired rows: own
        frac = (labels.float() / (self.labels - 1)).flatten(1)  # [B, N] partner fraction of each block
        blocks0, blocks1 = _blocks_view(x, n), _blocks_view(partner, n)
        if self.transport:
            src0 = greedy_transport(s0.flatten(1), frac < 1, self.xi)
            src1 = greedy_transport(s1.flatten(1), frac > 0, self.xi)
            blocks0 = blocks0.gather(1, src0.view(b, -1, 1, 1, 1).expand_as(blocks0))
            blocks1 = blocks1.gather(1, src1.view(b, -1, 1, 1, 1).expand_as(blocks1))
        # 0/1 (and 1/2) weights: lerp copies exactly where a block comes from one image
        mixed = torch.lerp(blocks0, blocks1, frac.to(x.dtype).view(b, -1, 1, 1, 1))
        x_out = _unblock(mixed, n, x.shape).contiguous(memory_format=_memory_format(x))
        params.mask, params.labels, params.truncated_pairs = frac.view(b, n, n), labels, truncated
        return (x_out if out is None else out.copy_(x_out)), 1.0 - frac.mean(1)

    def extras(self, params: PuzzleMixParams, x_mixed: Tensor) -> dict[str, Any]:
        """``mask`` (``z``, ``[B, n, n]``), ``labels``, ``blocks`` and ``truncated_pairs``."""
        return {"mask": params.mask, "labels": params.labels, "blocks": params.blocks,
                "truncated_pairs": params.truncated_pairs}

    def training_step(self, model: nn.Module, x: Tensor, y: Tensor, *,
                      generator: torch.Generator | None = None) -> StepOutput:
        """Gradient saliency from one clean forward/backward (input gradient only), mix, forward, mixed CE."""
        saliency, _, _ = gradient_saliency(model, x, y)
        out = self(x, y, generator=generator, saliency=saliency)
        logits = model(out.x)
        return StepOutput(loss=out.loss(logits), logits=logits, mixed=out)

    def extra_repr(self) -> str:
        return (f"{super().extra_repr()}, blocks={self.blocks}, beta={self.beta}, gamma={self.gamma}, "
                f"eta={self.eta}, xi={self.xi}, transport={self.transport}, labels={self.labels}")


def _memory_format(x: Tensor) -> torch.memory_format:
    if x.dim() == 4 and x.is_contiguous(memory_format=torch.channels_last) and not x.is_contiguous():
        return torch.channels_last
    return torch.contiguous_format
