"""Mixup for regression: label-aware partner choice (C-Mixup) and per-example nearest neighbours (RegMix).

Both mixers interpolate inputs and targets with one ``lam`` (``x = lam * x_i + (1 - lam) * x_j`` and
``out.mix_targets()`` gives ``lam * y_i + (1 - lam) * y_j``); what they change is *who* ``j`` is.

Contract change (read this if you consume ``MixedBatch.index``): for these mixers ``index`` is the partner of
each row, drawn **with replacement**. It is not a permutation: two rows may share a partner and some rows are
nobody's partner. Everything in :class:`~mixkit.sample.batch.MixedBatch` (``loss``, ``mix_targets``,
``soft_targets``) only gathers ``y[index]`` and therefore works unchanged; code that inverts ``index`` or
assumes each row appears once as a partner must not be used with these mixers.

Pairing is vectorised: the ``B x B`` label (or input) distances are computed ``chunk_size`` rows at a time
(memory ``O(chunk_size * B)``), kernel rows are sampled by inverse-CDF (``cumsum`` + ``searchsorted``) from
uniforms drawn on the CPU generator (``torch.multinomial`` would need a generator on the data's device and
would break the CPU-generator reproducibility contract of :mod:`mixkit.sample.lam`), and nearest neighbours
come from one ``topk`` per chunk. No Python loop
runs over the rows, no value is synchronised to the host.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
from torch import Tensor

from ..batch import MixedBatch
from ..lam import cpu_generator, sample_active, sample_lam
from ..pairing import Pairs, blend_with_partner
from ..registry import register
from ..validate import check_inputs, check_labels
from .base import Mixer, check_out, weight_view

__all__ = ["CMixup", "RegMixKNN", "kernel_partners", "knn_partners", "select_knn_k", "window_kernel_partners"]


# ---------------------------------------------------------------------------------------------- pairing
def _flat_keys(keys: Tensor, what: str) -> Tensor:
    if not isinstance(keys, Tensor):
        raise TypeError(f"{what} must be a torch.Tensor, got {type(keys).__name__}")
    if keys.dim() == 0 or keys.shape[0] < 1:
        raise ValueError(f"{what} must have shape [B, ...] with B >= 1, got {tuple(keys.shape)}")
    if not keys.dtype.is_floating_point:
        keys = keys.float()
    k = keys.reshape(keys.shape[0], -1)
    return k.float() if k.dtype in (torch.float16, torch.bfloat16) else k


def _check_chunk(chunk_size: int) -> int:
    if not isinstance(chunk_size, int) or chunk_size < 1:
        raise ValueError(f"chunk_size must be an int >= 1, got {chunk_size!r}")
    return chunk_size


def _sq_dists(a: Tensor, b: Tensor) -> Tensor:
    """Squared Euclidean distances ``[len(a), len(b)]``; exact (no matmul trick) for low-dimensional keys."""
    mode = "donot_use_mm_for_euclid_dist" if a.shape[1] <= 16 else "use_mm_for_euclid_dist_if_necessary"
    return torch.cdist(a, b, compute_mode=mode).square_()


def kernel_partners(keys: Tensor, bandwidth: float, uniforms: Tensor, *, exclude_self: bool = True,
                    chunk_size: int = 2048) -> Tensor:
    """C-Mixup pairing: partner ``j`` of row ``i`` drawn with ``P(j | i) ∝ exp(-||k_i - k_j||² / (2 σ²))``.

    Args:
        keys: ``[B, ...]`` what the kernel compares (C-Mixup: the regression targets); flattened per row.
        bandwidth: ``σ > 0``. Small ``σ`` picks the nearest-label neighbour, large ``σ`` approaches uniform.
        uniforms: ``[B]`` floats in ``[0, 1)`` (from the caller's CPU generator), one per row.
        exclude_self: never pair a row with itself (when ``B > 1``).
        chunk_size: rows of the ``B x B`` kernel held in memory at once.

    Returns ``[B]`` int64 partner indices on ``keys.device`` (with replacement, not a permutation). The
    kernel is normalised per row after subtracting the row's largest logit, so a tiny bandwidth never
    underflows to an all-zero row.
    """
    k = _flat_keys(keys, "keys")
    sigma = float(bandwidth)
    if not sigma > 0 or sigma == float("inf"):
        raise ValueError(f"bandwidth must be a finite number > 0, got {bandwidth!r}")
    n = k.shape[0]
    if uniforms.shape != (n,):
        raise ValueError(f"uniforms must have shape [{n}], got {tuple(uniforms.shape)}")
    chunk = _check_chunk(chunk_size)
    u = uniforms.to(k.device, k.dtype, non_blocking=True)
    out = torch.empty(n, dtype=torch.long, device=k.device)
    for start in range(0, n, chunk):  # loop over chunks of rows (memory bound), not over rows
        stop = min(start + chunk, n)
        w = _sq_dists(k[start:stop], k).mul_(-0.5 / sigma**2)  # kernel logits, one buffer reused in place
        if exclude_self and n > 1:
            rows = torch.arange(stop - start, device=k.device)
            w[rows, rows + start] = float("-inf")
        w.sub_(w.amax(dim=1, keepdim=True)).exp_()  # unnormalised kernel row, its largest entry is 1
        cdf = w.cumsum_(dim=1)
        target = (u[start:stop] * cdf[:, -1]).unsqueeze(1)
        out[start:stop] = torch.searchsorted(cdf, target, right=True).squeeze(1).clamp_(max=n - 1)
    return out


def window_kernel_partners(keys: Tensor, bandwidth: float, uniforms: Tensor, window: int) -> Tensor:
    """C-Mixup pairing for scalar targets in ``O(B log B + B * window)``: the kernel on sorted neighbours.

    ``keys``: ``[B]`` or ``[B, 1]`` scalar targets. The rows are sorted by target once; each row's partner is
    drawn with the Gaussian-kernel probabilities of :func:`kernel_partners` restricted to its ``window``
    nearest rows on each side *in sorted order* (so ``2 * window`` candidates, fewer at the ends), never
    itself. This is an approximation: it is exact when the rows outside the window carry negligible kernel
    mass, i.e. when ``window`` sorted neighbours span several bandwidths (the mass beyond ``8 σ`` is below
    ``1e-13`` of the nearest row's). With ``window >= B - 1`` every other row is a candidate (exact).
    Returns ``[B]`` int64 on ``keys.device``.
    """
    k = _flat_keys(keys, "keys")
    if k.shape[1] != 1:
        raise ValueError("keys: the windowed kernel needs scalar targets [B] or [B, 1], got "
                         f"{tuple(keys.shape)}")
    sigma = float(bandwidth)
    if not sigma > 0 or sigma == float("inf"):
        raise ValueError(f"bandwidth must be a finite number > 0, got {bandwidth!r}")
    if not isinstance(window, int) or isinstance(window, bool) or window < 1:
        raise ValueError(f"window must be an int >= 1, got {window!r}")
    n = k.shape[0]
    if uniforms.shape != (n,):
        raise ValueError(f"uniforms must have shape [{n}], got {tuple(uniforms.shape)}")
    if n == 1:
        return torch.zeros(1, dtype=torch.long, device=k.device)
    w = min(window, n - 1)
    values, order = k.squeeze(1).sort()
    offsets = torch.cat([torch.arange(-w, 0, device=k.device), torch.arange(1, w + 1, device=k.device)])
    pos = torch.arange(n, device=k.device).view(-1, 1) + offsets  # [B, 2w] sorted positions, self excluded
    valid = (pos >= 0) & (pos < n)
    pos = pos.clamp_(0, n - 1)
    logits = (values[pos] - values.view(-1, 1)).square_().mul_(-0.5 / sigma**2)
    logits.masked_fill_(~valid, float("-inf"))
    cdf = logits.sub_(logits.amax(dim=1, keepdim=True)).exp_().cumsum_(dim=1)
    u = uniforms.to(k.device, k.dtype, non_blocking=True)[order]  # row at sorted position r uses its own u
    pick = torch.searchsorted(cdf, (u * cdf[:, -1]).unsqueeze(1), right=True).clamp_(max=2 * w - 1)
    partner_sorted = pos.gather(1, pick).squeeze(1)
    out = torch.empty(n, dtype=torch.long, device=k.device)
    out[order] = order[partner_sorted]
    return out


def knn_partners(keys: Tensor, k: int | Tensor, uniforms: Tensor, *, chunk_size: int = 2048) -> Tensor:
    """RegMix-style pairing: partner of row ``i`` drawn uniformly among its ``k_i`` nearest other rows.

    Args:
        keys: ``[B, ...]`` what distances are measured on (inputs or targets); flattened per row.
        k: one int for every row, or ``[B]`` ints (per-example number of neighbours, on the CPU); each
            ``k_i >= 1`` and is clipped to ``B - 1``.
        uniforms: ``[B]`` floats in ``[0, 1)`` from the caller's CPU generator.
        chunk_size: rows of the distance matrix held in memory at once.

    Returns ``[B]`` int64 partner indices on ``keys.device`` (with replacement). With ``B == 1`` the only
    row is its own partner.
    """
    keys_f = _flat_keys(keys, "keys")
    n = keys_f.shape[0]
    if uniforms.shape != (n,):
        raise ValueError(f"uniforms must have shape [{n}], got {tuple(uniforms.shape)}")
    k_cpu = _check_k(k, n)
    chunk = _check_chunk(chunk_size)
    if n == 1:
        return torch.zeros(1, dtype=torch.long, device=keys_f.device)
    k_cpu = k_cpu.clamp(max=n - 1)
    kmax = int(k_cpu.max())
    # which of the k_i nearest neighbours: floor(u * k_i), decided on the host from host data
    rank = torch.minimum((uniforms.double() * k_cpu.double()).long(), k_cpu - 1)
    rank = rank.to(keys_f.device, non_blocking=True)
    out = torch.empty(n, dtype=torch.long, device=keys_f.device)
    for start in range(0, n, chunk):
        stop = min(start + chunk, n)
        d = _sq_dists(keys_f[start:stop], keys_f)
        rows = torch.arange(stop - start, device=keys_f.device)
        d[rows, rows + start] = float("inf")
        nbrs = d.topk(kmax, dim=1, largest=False, sorted=True).indices
        out[start:stop] = nbrs.gather(1, rank[start:stop].unsqueeze(1)).squeeze(1)
    return out


def _check_k(k: int | Tensor, n: int) -> Tensor:
    if isinstance(k, Tensor):
        if k.dtype.is_floating_point or k.dtype == torch.bool or k.shape not in ((n,), ()):
            raise ValueError(f"k must be an int or an integer tensor of shape [{n}], got "
                             f"{k.dtype} {tuple(k.shape)}")
        k_cpu = k.detach().cpu().long().expand(n)  # per-example policy: expected on the CPU already
    elif isinstance(k, int) and not isinstance(k, bool):
        k_cpu = torch.full((n,), k, dtype=torch.long)
    else:
        raise TypeError(f"k must be an int or an integer tensor of shape [{n}], got {type(k).__name__}")
    if n and bool((k_cpu < 1).any()):
        raise ValueError(f"k: every number of neighbours must be >= 1, got min {int(k_cpu.min())}")
    return k_cpu


# ---------------------------------------------------------------------------------------------- mixers
class _PartnerMixer(Mixer):
    """Shared call of the regression mixers: draw lam, choose partners from the data, blend x."""

    def _partners(self, x: Tensor, y: Tensor, uniforms: Tensor, k: int | Tensor | None) -> Tensor:
        raise NotImplementedError

    def forward(self, x: Tensor, y: Tensor | None = None, *, generator: torch.Generator | None = None,
                k: int | Tensor | None = None, out: Tensor | None = None) -> MixedBatch:
        """Mix ``x`` ``[B, ...]`` with partners chosen from the targets ``y`` ``[B, ...]``; ``out``: optional
        preallocated result like ``x`` (see :func:`check_out`)."""
        g = cpu_generator(generator)
        if y is None:
            raise ValueError(f"y: {type(self).__name__} chooses partners from the targets; pass y [B, ...]")
        if self.validate:
            check_inputs(x, self.min_rank, self.max_rank)
            check_labels(y, x.shape[0])
        if out is not None:
            check_out(out, x)
        n = x.shape[0]
        uniforms = torch.rand(n, generator=g, dtype=torch.float64)
        index = self._partners(x, y, uniforms, k).to(x.device)
        pairs = Pairs(index)  # shift=None: partners are gathered, never assumed to be a permutation
        # lambda per batch / per row; 'pair' mode needs an involution, which kernel sampling is not
        lam = sample_lam(self.alpha, torch.arange(n), "elem" if self.mode == "pair" else self.mode, g)
        active = sample_active(self.prob, torch.arange(n), "elem", g)
        if active is not None:
            lam = lam.masked_fill(~active, 1.0)
        lam_dev = lam.to(x.device, torch.float32, non_blocking=True)
        if n == 1:
            lam_dev = torch.ones_like(lam_dev)
        x_out = blend_with_partner(x, pairs, weight_view(1.0 - lam_dev, x), out)
        return MixedBatch(x=x_out, index=index, lam=lam_dev, y=y,
                          extras={"pairing": self.name, "partners_with_replacement": True})


@register("cmixup", "c-mixup", "c_mixup")
class CMixup(_PartnerMixer):
    """C-Mixup (Yao et al., NeurIPS 2022): mixup for regression with label-similar partners.

    Partner ``j`` of row ``i`` is drawn with probability ``∝ exp(-||y_i - y_j||² / (2 bandwidth²))`` among
    the other rows of the batch (the paper samples over the whole training set; per-batch sampling is the
    mini-batch form and is what this mixer does). Then ``x = lam x_i + (1 - lam) x_j`` and targets mix with
    the same ``lam`` (``out.mix_targets()``).

    Args:
        alpha: ``lam ~ Beta(alpha, alpha)`` (the paper uses ``alpha = 2`` on most datasets).
        bandwidth: kernel width ``σ`` in target units (the paper tunes it per dataset; standardise targets
            first so that ``σ ≈ 0.1 - 1`` is meaningful).
        mode: ``"batch"`` (one lam per call, the paper's choice) or ``"elem"``; ``"pair"`` is treated as
            ``"elem"`` because sampled partners are not symmetric.
        chunk_size: rows of the kernel held in memory at once (``O(chunk_size * B)`` floats).
        window: ``None`` (exact kernel over the batch, ``O(B²)`` time) or, for scalar targets, the number of
            sorted neighbours on each side the kernel is evaluated on (:func:`window_kernel_partners`,
            ``O(B log B + B * window)``; an approximation that is exact when the window spans several
            bandwidths). Use it for very large batches.

    Call: ``mixer(x [B, ...], y [B, ...] float targets, generator=g) -> MixedBatch``; ``index`` is drawn
    with replacement (see the module docstring). Shapes of ``y`` are arbitrary beyond the batch dimension.
    """

    name = "cmixup"
    paper = "C-Mixup: Improving Generalization in Regression (Yao et al., NeurIPS 2022)"
    paper_url = "https://arxiv.org/abs/2210.05775"
    tasks = frozenset({"regression"})

    def __init__(self, alpha: float = 2.0, bandwidth: float = 1.0, *, mode: str = "batch", prob: float = 1.0,
                 chunk_size: int = 2048, window: int | None = None, validate: bool = True) -> None:
        super().__init__(alpha, mode=mode, prob=prob, pairing="flip" if mode == "pair" else "roll",
                         validate=validate)
        sigma = float(bandwidth)
        if not sigma > 0 or sigma == float("inf"):
            raise ValueError(f"bandwidth must be a finite number > 0, got {bandwidth!r}")
        self.bandwidth = sigma
        self.chunk_size = _check_chunk(chunk_size)
        if window is not None and (not isinstance(window, int) or isinstance(window, bool) or window < 1):
            raise ValueError(f"window must be None or an int >= 1, got {window!r}")
        self.window = window

    def _partners(self, x: Tensor, y: Tensor, uniforms: Tensor, k: int | Tensor | None) -> Tensor:
        if k is not None:
            raise ValueError("k: C-Mixup draws partners from a kernel; k is only for RegMixKNN")
        if self.window is not None:
            return window_kernel_partners(y.detach(), self.bandwidth, uniforms, self.window)
        return kernel_partners(y.detach(), self.bandwidth, uniforms, chunk_size=self.chunk_size)

    def extra_repr(self) -> str:
        return f"{super().extra_repr()}, bandwidth={self.bandwidth}, window={self.window}"


@register("regmix_knn", "regmix-knn", "knn_mixup")
class RegMixKNN(_PartnerMixer):
    """Nearest-neighbour mixup for regression, after RegMix (Hwang & Whang, 2021).

    Each row mixes with a partner drawn uniformly among its ``k`` nearest rows of the batch, with ``k``
    chosen per example. Distances are measured on the inputs (``space="x"``, default) or the targets
    (``space="y"``). Not the domain-level RegMix (data-mixture regression, Liu et al. 2024) in
    ``mixkit.domain``.

    Simplified relative to the paper: RegMix learns the per-example ``k`` on validation data with a learned
    policy (Monte Carlo policy gradient in its later version, MixRL);
    here ``k`` is either one int or a per-example ``[B]`` tensor passed at call time
    (``mixer(x, y, k=k_batch)``, typically ``k_table[dataset_indices]``), and :func:`select_knn_k` picks
    the table on validation data (coordinate search over candidate values, per group of examples).

    Args:
        alpha: ``lam ~ Beta(alpha, alpha)``.
        k: default number of neighbours (>= 1; clipped to ``B - 1``).
        space: ``"x"`` or ``"y"``.
        mode: ``"batch"`` or ``"elem"`` (``"pair"`` is treated as ``"elem"``).
        chunk_size: rows of the distance matrix held in memory at once.
    """

    name = "regmix_knn"
    paper = "RegMix: Data Mixing Augmentation for Regression (Hwang & Whang, 2021)"
    paper_url = "https://arxiv.org/abs/2106.03374"
    tasks = frozenset({"regression"})

    def __init__(self, alpha: float = 1.0, k: int = 4, space: str = "x", *, mode: str = "batch",
                 prob: float = 1.0, chunk_size: int = 2048, validate: bool = True) -> None:
        super().__init__(alpha, mode=mode, prob=prob, pairing="flip" if mode == "pair" else "roll",
                         validate=validate)
        _check_k(k, 1)
        if space not in ("x", "y"):
            raise ValueError(f"space must be 'x' (inputs) or 'y' (targets), got {space!r}")
        self.k, self.space = k, space
        self.chunk_size = _check_chunk(chunk_size)

    def _partners(self, x: Tensor, y: Tensor, uniforms: Tensor, k: int | Tensor | None) -> Tensor:
        keys = x if self.space == "x" else y
        return knn_partners(keys.detach(), self.k if k is None else k, uniforms, chunk_size=self.chunk_size)

    def extra_repr(self) -> str:
        return f"{super().extra_repr()}, k={self.k}, space={self.space!r}"


# ---------------------------------------------------------------------------------------------- k selection
def select_knn_k(evaluate: Callable[[Tensor], float], num_examples: int,
                 candidates: Sequence[int] = (1, 2, 4, 8, 16), groups: Tensor | None = None,
                 rounds: int = 1) -> Tensor:
    """Choose the per-example number of neighbours ``k`` for :class:`RegMixKNN` on validation data.

    ``evaluate(k_table)`` trains (or fine-tunes) with ``RegMixKNN`` using ``k_table[dataset_indices]`` as the
    per-example ``k`` and returns a validation loss (lower is better). The search first picks the best single
    ``k`` for every example, then, if ``groups`` (``[num_examples]`` int group id per training example, e.g.
    target quantile bins or clusters) is given, revisits each group ``rounds`` times and keeps the candidate
    that lowers the validation loss with the other groups fixed. Cost: ``len(candidates) * (1 + rounds *
    num_groups)`` calls of ``evaluate``.

    This is a simplification of RegMix's learned per-example policy: examples of one group share ``k``.
    Returns ``[num_examples]`` int64 on the CPU.
    """
    if not callable(evaluate):
        raise TypeError("evaluate must be callable: k_table [N] int64 -> validation loss (float)")
    if not isinstance(num_examples, int) or num_examples < 1:
        raise ValueError(f"num_examples must be an int >= 1, got {num_examples!r}")
    cands = [int(c) for c in candidates]
    if not cands or any(c < 1 for c in cands):
        raise ValueError(f"candidates must be a non-empty sequence of ints >= 1, got {list(candidates)}")
    if not isinstance(rounds, int) or rounds < 0:
        raise ValueError(f"rounds must be an int >= 0, got {rounds!r}")

    def score(table: Tensor) -> float:
        value = float(evaluate(table.clone()))
        if value != value:
            raise ValueError("evaluate returned NaN; it must return a finite validation loss")
        return value

    tables = [torch.full((num_examples,), c, dtype=torch.long) for c in cands]
    scores = [score(t) for t in tables]
    best_i = min(range(len(cands)), key=scores.__getitem__)
    best, best_score = tables[best_i], scores[best_i]
    if groups is None:
        return best
    if groups.shape != (num_examples,) or groups.dtype.is_floating_point:
        raise ValueError(f"groups must be an integer tensor of shape [{num_examples}], got "
                         f"{groups.dtype} {tuple(groups.shape)}")
    groups = groups.cpu()
    for _ in range(rounds):
        for gid in torch.unique(groups).tolist():
            member = groups == gid
            for c in cands:
                trial = best.masked_fill(member, c)
                if torch.equal(trial, best):
                    continue
                s = score(trial)
                if s < best_score:
                    best, best_score = trial, s
    return best
