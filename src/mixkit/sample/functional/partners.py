"""Partner choice from the data, for the regression mixers (C-Mixup, RegMix), vectorised.

* :func:`kernel_partners`: C-Mixup's Gaussian kernel on the targets (Yao et al., NeurIPS 2022).
* :func:`dataset_kernel_partners`: the same kernel over a training set (the C-Mixup release's pool).
* :func:`window_kernel_partners`: the same kernel restricted to sorted neighbours, for scalar targets.
* :func:`knn_partners`: a uniform draw among each row's ``k`` nearest rows (after Hwang & Whang, 2021).

Partners are drawn **with replacement**: the result is not a permutation. The ``B x B`` distances are
computed ``chunk_size`` rows at a time (memory ``O(chunk_size * B)``), kernel rows are sampled by
inverse-CDF (``cumsum`` + ``searchsorted``) from uniforms the caller draws on its CPU generator
(``torch.multinomial`` would need a generator on the data's device), and nearest neighbours come from one
``topk`` per chunk. No Python loop runs over the rows, no value is synchronised to the host.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

__all__ = [
    "check_chunk_size",
    "check_neighbours",
    "dataset_kernel_partners",
    "kernel_partners",
    "knn_partners",
    "window_kernel_partners",
]


def _flat_keys(keys: Tensor, what: str) -> Tensor:
    if not isinstance(keys, Tensor):
        raise TypeError(f"{what} must be a torch.Tensor, got {type(keys).__name__}")
    if keys.dim() == 0 or keys.shape[0] < 1:
        raise ValueError(f"{what} must have shape [B, ...] with B >= 1, got {tuple(keys.shape)}")
    if not keys.dtype.is_floating_point:
        keys = keys.float()
    k = keys.reshape(keys.shape[0], -1)
    k = k.float() if k.dtype in (torch.float16, torch.bfloat16) else k
    check_finite(k, what)
    return k


def check_finite(t: Tensor, what: str) -> None:
    """Refuse NaN/inf in ``t`` (``ValueError`` on the CPU, an asynchronous assertion elsewhere): one
    non-finite target would otherwise poison every kernel row it enters."""
    ok = torch.isfinite(t).all()
    msg = f"{what} must be finite (no NaN or inf)"
    if t.device.type == "cpu":
        if t.numel() and not bool(ok):
            raise ValueError(msg)
    else:
        torch._assert_async(ok, msg)


def check_bandwidth(bandwidth: float) -> float:
    """``bandwidth`` as a float after checking it is a finite number > 0."""
    if isinstance(bandwidth, (bool, str, bytes)):
        raise TypeError(f"bandwidth must be a finite number > 0, got {bandwidth!r}")
    try:
        sigma = float(bandwidth)
    except (TypeError, ValueError):
        raise TypeError(f"bandwidth must be a finite number > 0, got {bandwidth!r}") from None
    if not sigma > 0 or sigma == float("inf"):
        raise ValueError(f"bandwidth must be a finite number > 0, got {bandwidth!r}")
    return sigma


def kernel_weights(sq_dists: Tensor, sigma: float, excluded: Tensor | None = None) -> Tensor:
    """Unnormalised Gaussian kernel rows ``exp(-(d² - min_row d²) / (2 σ²))`` (largest entry of a row 1).

    ``sq_dists``: ``[R, N]`` squared distances (modified in place); ``excluded``: optional bool mask of
    candidates that get weight 0. The row minimum is subtracted *before* the scale is applied (the
    log-sum-exp shift), and the scale ``1 / (2 σ²)`` is computed in log space and capped at the dtype's
    largest value, so any bandwidth > 0 gives finite weights: a tiny one keeps exactly the nearest
    candidates (ties share the mass), a huge one approaches uniform. Distances that overflow to ``inf``
    count as farther than every finite one; a row whose candidates all overflow keeps them all.
    """
    if excluded is not None:
        sq_dists.masked_fill_(excluded, float("inf"))
    d_min = sq_dists.amin(dim=1, keepdim=True)
    diff = sq_dists.sub_(d_min)
    diff = torch.where(torch.isnan(diff), torch.zeros((), dtype=diff.dtype, device=diff.device), diff)
    log_scale = -math.log(2.0) - 2.0 * math.log(sigma)
    scale = min(math.exp(min(log_scale, 700.0)), torch.finfo(diff.dtype).max)
    w = diff.mul_(-scale).exp_()
    return w if excluded is None else w.masked_fill_(excluded, 0.0)


def _check_uniforms(uniforms: Tensor, n: int) -> None:
    if not isinstance(uniforms, Tensor):
        raise TypeError(f"uniforms must be a torch.Tensor [{n}], got {type(uniforms).__name__}")
    if uniforms.shape != (n,):
        raise ValueError(f"uniforms must have shape [{n}], got {tuple(uniforms.shape)}")


def check_chunk_size(chunk_size: int) -> int:
    """``chunk_size`` as given, after checking it is an int >= 1."""
    if isinstance(chunk_size, bool) or not isinstance(chunk_size, int) or chunk_size < 1:
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
    sigma = check_bandwidth(bandwidth)
    n = k.shape[0]
    _check_uniforms(uniforms, n)
    chunk = check_chunk_size(chunk_size)
    u = uniforms.to(k.device, k.dtype, non_blocking=True)
    out = torch.empty(n, dtype=torch.long, device=k.device)
    for start in range(0, n, chunk):  # loop over chunks of rows (memory bound), not over rows
        stop = min(start + chunk, n)
        d2 = _sq_dists(k[start:stop], k)  # one buffer, reused in place
        excluded = None
        if exclude_self and n > 1:
            rows = torch.arange(stop - start, device=k.device)
            excluded = torch.zeros_like(d2, dtype=torch.bool)
            excluded[rows, rows + start] = True
        w = kernel_weights(d2, sigma, excluded)  # unnormalised kernel row, its largest entry is 1
        cdf = w.cumsum_(dim=1)
        target = (u[start:stop] * cdf[:, -1]).unsqueeze(1)
        out[start:stop] = torch.searchsorted(cdf, target, right=True).squeeze(1).clamp_(max=n - 1)
    return out


def dataset_kernel_partners(keys: Tensor, pool: Tensor, bandwidth: float, uniforms: Tensor, *,
                            chunk_size: int = 2048) -> Tensor:
    """C-Mixup pairing over a pool (the training set): ``P(j | i) ∝ exp(-||k_i - p_j||² / (2 σ²))``.

    Args:
        keys: ``[B, ...]`` the batch's targets; ``pool``: ``[N, ...]`` the training targets (same row shape,
            same device). Every pool row is a candidate, the row's own copy included (as released).
        bandwidth: ``σ > 0``. ``uniforms``: ``[B]`` floats in ``[0, 1)`` from the caller's CPU generator.
        chunk_size: batch rows whose ``[chunk, N]`` kernel is held in memory at once.

    Returns ``[B]`` int64 indices into ``pool`` on ``keys.device`` (with replacement).
    """
    k = _flat_keys(keys, "keys")
    p = _flat_keys(pool, "pool").to(k.device, k.dtype)
    if p.shape[1] != k.shape[1]:
        raise ValueError(f"pool rows must have the shape of keys rows, got {tuple(pool.shape)} and "
                         f"{tuple(keys.shape)}")
    sigma = check_bandwidth(bandwidth)
    n, m = k.shape[0], p.shape[0]
    _check_uniforms(uniforms, n)
    chunk = check_chunk_size(chunk_size)
    u = uniforms.to(k.device, k.dtype, non_blocking=True)
    out = torch.empty(n, dtype=torch.long, device=k.device)
    for start in range(0, n, chunk):  # loop over chunks of batch rows (memory bound), not over rows
        stop = min(start + chunk, n)
        cdf = kernel_weights(_sq_dists(k[start:stop], p), sigma).cumsum_(dim=1)
        target = (u[start:stop] * cdf[:, -1]).unsqueeze(1)
        out[start:stop] = torch.searchsorted(cdf, target, right=True).squeeze(1).clamp_(max=m - 1)
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
    sigma = check_bandwidth(bandwidth)
    if not isinstance(window, int) or isinstance(window, bool) or window < 1:
        raise ValueError(f"window must be an int >= 1, got {window!r}")
    n = k.shape[0]
    _check_uniforms(uniforms, n)
    if n == 1:
        return torch.zeros(1, dtype=torch.long, device=k.device)
    w = min(window, n - 1)
    values, order = k.squeeze(1).sort()
    offsets = torch.cat([torch.arange(-w, 0, device=k.device), torch.arange(1, w + 1, device=k.device)])
    pos = torch.arange(n, device=k.device).view(-1, 1) + offsets  # [B, 2w] sorted positions, self excluded
    valid = (pos >= 0) & (pos < n)
    pos = pos.clamp_(0, n - 1)
    d2 = (values[pos] - values.view(-1, 1)).square_()
    cdf = kernel_weights(d2, sigma, ~valid).cumsum_(dim=1)
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
    k_cpu = check_neighbours(k, n)
    chunk = check_chunk_size(chunk_size)
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


def check_neighbours(k: int | Tensor, n: int) -> Tensor:
    """``k`` (one int or ``[n]`` ints, each >= 1) as ``[n]`` int64 on the CPU."""
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
