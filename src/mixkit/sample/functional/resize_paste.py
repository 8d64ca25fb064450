"""Nearest-neighbour resize of a partner pasted into a box (ResizeMix), touching only the patch pixels.

* :func:`resize_nearest`: ``[B, C, *S]`` -> ``[B, C, *sides]`` with ``F.interpolate(mode="nearest")``'s
  source positions (:func:`nearest_source`).
* :func:`paste_resized_shared`: one shared box for the batch, the resized partner gathered straight into it.
* :func:`paste_resized_patches`: per-row boxes, each row's resized partner pasted into its own box.
"""

from __future__ import annotations

import math
import threading

import torch
from torch import Tensor

from ..pairing import Pairs
from .boxes import Boxes

__all__ = [
    "nearest_source",
    "paste_resized_differentiable",
    "paste_resized_patches",
    "paste_resized_shared",
    "resize_nearest",
]


def paste_resized_shared(x: Tensor, pairs: Pairs, region: tuple[slice, ...], out: Tensor | None = None
                         ) -> Tensor | None:
    """Batch-mode ResizeMix paste without an intermediate patch: ``out[i][region] = resize(x[index[i]])``.

    Every row is pasted (the caller checks that every row is mixed); ``region``: the shared box as an index
    tuple ``(:, :, lo_1:hi_1, ...)``; the resize is nearest neighbour (:func:`nearest_source`, as
    :func:`resize_nearest`). ``out`` (optional, like ``x``, not overlapping it) receives ``x`` first.
    For a contiguous ``x`` and the roll pairing the resized partner is gathered straight into the box of
    ``out`` (one ``gather`` per roll half, reading ``x``'s rows through a view expanded over the patch's
    leading axes), instead of building the resized batch and copying it in: about 20% less time at
    ``(128, 3, 224, 224)``. Returns ``None`` (nothing written) when that fast path does not apply.
    """
    n, c, size = x.shape[0], x.shape[1], tuple(x.shape[2:])
    s = pairs.shift
    if not x.is_contiguous() or s is None or not 0 < s < n:
        return None
    sides = tuple(sl.stop - sl.start for sl in region[2:])
    d, dev = len(size), x.device
    flat: Tensor | None = None
    for k, (side, sz) in enumerate(zip(sides, size)):
        src = nearest_source(torch.arange(side, device=dev), sz, side) * math.prod(size[k + 1 :])
        shape = [1] * d
        shape[k] = side
        flat = src.view(shape) if flat is None else flat + src.view(shape)
    assert flat is not None
    out = x.clone() if out is None else out.copy_(x)
    hw = math.prod(size)
    for rows, partner_rows in ((slice(0, n - s), slice(s, n)), (slice(n - s, n), slice(0, s))):
        part = x[partner_rows]
        b = part.shape[0]
        # [b, C, side_1, ..., side_{d-1}, prod(S)]: each patch line reads the whole partner image
        source = part.reshape(b, c, *[1] * (d - 1), hw).expand(b, c, *sides[:-1], hw)
        torch.gather(source, d + 1, flat.view(1, 1, *sides).expand(b, c, *sides), out=out[rows][region])
    return out


def nearest_source(pos: Tensor, size: int, side: Tensor | int) -> Tensor:
    """Source positions of a nearest-neighbour resize from ``size`` to ``side``: ``floor(pos * (size/side))``.

    Computed in float32 exactly as ``F.interpolate(mode="nearest")`` does, so the batch-mode path (which
    calls ``F.interpolate``) and the per-row path agree pixel for pixel.
    """
    # torch.full, not torch.tensor: a fill on the device, no host-to-device copy
    scale = torch.full((), float(size), dtype=torch.float32, device=pos.device) / (
        side.float() if isinstance(side, Tensor) else torch.full((), float(side), device=pos.device))
    return torch.floor(pos.float() * scale).long().clamp_(max=size - 1)


def resize_nearest(x: Tensor, sides: tuple[int, ...]) -> Tensor:
    """``[B, C, *S]`` -> ``[B, C, *sides]`` by nearest neighbour (``F.interpolate`` "nearest" indices).

    Channels-first (contiguous) inputs: one ``index_select`` of flat spatial offsets on the
    ``[B * C, prod(S)]`` view (on CPU 1-50x faster than ``F.interpolate`` or a per-axis chain, whose
    ``index_select`` along a middle axis is slow). Channels-last inputs: ``F.interpolate`` (keeps the
    layout). Otherwise a chain of ``index_select`` with the same source positions.
    """
    if len(sides) != x.dim() - 2 or any(isinstance(v, bool) or not isinstance(v, int) or v < 1
                                         for v in sides):
        raise ValueError(f"sides must be {x.dim() - 2} ints >= 1 (one per spatial axis of x), got {sides!r}")
    if x.is_contiguous() and x.dim() >= 3:
        flat: Tensor | None = None
        for k, (side, s) in enumerate(zip(sides, x.shape[2:])):
            src = nearest_source(torch.arange(side, device=x.device), s, side) * math.prod(x.shape[3 + k :])
            shape = [1] * len(sides)
            shape[k] = side
            flat = src.view(shape) if flat is None else flat + src.view(shape)
        assert flat is not None
        rows = x.reshape(x.shape[0] * x.shape[1], -1).index_select(1, flat.reshape(-1))
        return rows.view(*x.shape[:2], *sides)
    channels_last = x.dim() in (4, 5) and x.is_contiguous(
        memory_format=torch.channels_last if x.dim() == 4 else torch.channels_last_3d)
    if channels_last or math.prod(sides) >= 4096:
        return torch.nn.functional.interpolate(x, size=sides, mode="nearest")
    for k, (side, s) in enumerate(zip(sides, x.shape[2:])):
        x = x.index_select(2 + k, nearest_source(torch.arange(side, device=x.device), s, side))
    return x


_SCRATCH = threading.local()


def _scratch(slot: str, shape: list[int], dtype: torch.dtype, device: torch.device) -> Tensor:
    """Uninitialised contiguous ``shape`` tensor for a temporary of the CPU paste, reused between calls.

    On CPU a fresh multi-megabyte temporary is page-faulted in on every call (glibc returns large blocks
    to the OS on free), which cost ResizeMix elem about a fifth of its time at ``(128, 3, 224, 224)``.
    Each thread keeps one grow-only flat buffer per ``slot`` (the largest size seen so far) and hands
    out a view of its front; callers must not keep the view past their call. Other devices get a plain
    ``torch.empty`` (their caching allocators already reuse memory).
    """
    numel = math.prod(shape)
    if device.type != "cpu":
        return torch.empty(shape, dtype=dtype, device=device)
    pool = getattr(_SCRATCH, "pool", None)
    if pool is None:
        pool = _SCRATCH.pool = {}
    buf = pool.get((slot, dtype))
    if buf is None or buf.numel() < numel:
        buf = pool[(slot, dtype)] = torch.empty(numel, dtype=dtype)
    return buf[:numel].view(shape)


def _paste_resized_one_grid(out: Tensor, x: Tensor, index: Tensor, boxes: Boxes, shift: int | None) -> Tensor:
    """:func:`_paste_resized_grid` for small batches: one ``gather``, one ``scatter_`` on a single grid.

    Every row's patch is laid on a padded ``[max side_1, ..., max side_d]`` grid whose positions past the
    row's own sides repeat its last patch line / pixel (so padded entries rewrite an identical value to
    the same place: the result is exact). Source and destination flat spatial offsets are sums of small
    per-axis tables (``[B, max side_k]``), broadcast once; the channel axis is an expanded view. With a
    roll pairing (``shift``) the partner rows are two slices of ``x`` (no permuted copy). On CPU the
    offset grids and the gathered values live in per-thread scratch buffers reused between calls
    (see :func:`_scratch`).
    """
    n, size = x.shape[0], boxes.size
    d, dev = len(size), x.device
    sides = boxes.sides
    active = sides.prod(1) > 0
    strides = [math.prod(size[k + 1 :]) for k in range(d)]
    src_axes: list[Tensor] = []
    dst_axes: list[Tensor] = []
    grid = []
    for k, s in enumerate(size):
        m = max(int(sides[:, k].max()), 1)
        grid.append(m)
        side = sides[:, k : k + 1].clamp_min(1).to(dev, non_blocking=True)
        pos = torch.minimum(torch.arange(m, device=dev).view(1, -1), side - 1)
        shape = [n] + [1] * d
        shape[1 + k] = m
        src_axes.append((nearest_source(pos, s, side) * strides[k]).view(shape))
        dst_axes.append(((boxes.lo[:, k : k + 1].to(dev, non_blocking=True) + pos) * strides[k]).view(shape))
    if not bool(active.all()):  # rows left alone: copy their own first pixel onto itself
        keep = active.to(dev, non_blocking=True).view(-1, *[1] * d)
        src_axes, dst_axes = [t * keep for t in src_axes], [t * keep for t in dst_axes]
    full = [n, *grid]
    src = _scratch("src", full, torch.int64, dev)
    dst = _scratch("dst", full, torch.int64, dev)
    for axes, buf in ((src_axes, src), (dst_axes, dst)):  # sum of the per-axis tables, broadcast
        if d == 2:
            torch.add(axes[0], axes[1], out=buf)
        else:
            buf.copy_(axes[0].expand(full))
            for t in axes[1:]:
                buf.add_(t)
    count = math.prod(grid)
    src, dst = src.view(n, 1, count), dst.view(n, 1, count)
    c = x.shape[1]
    flat_x, flat_out = x.flatten(2), out.flatten(2)
    if shift is not None and 0 < shift < n and bool(active.all()):
        parts = ((slice(0, n - shift), slice(shift, n)), (slice(n - shift, n), slice(0, shift)))
    else:
        own = torch.arange(n)
        partner = torch.where(active, index, own).to(dev, non_blocking=True)
        flat_x = flat_x.index_select(0, partner)
        parts = ((slice(0, n), slice(0, n)),)
    vals = _scratch("vals", [n, c, count], x.dtype, dev)
    for rows, partner_rows in parts:
        torch.gather(flat_x[partner_rows], 2, src[rows].expand(-1, c, -1), out=vals[rows])
        flat_out[rows].scatter_(2, dst[rows].expand(-1, c, -1), vals[rows])
    return out


_PASTE_GROUPS = 4
"""Rows of :func:`_paste_resized_grid` are split into this many groups of similar patch size."""
_PASTE_GROUP_MIN = 1 << 21
"""Below this many padded values (``C * B * largest patch``) :func:`_paste_resized_one_grid` is faster."""


def _paste_resized_grid(out: Tensor, x: Tensor, index: Tensor, boxes: Boxes, shift: int | None) -> Tensor:
    """:func:`paste_resized_patches` for contiguous ``x`` / ``out``: ``gather`` + ``scatter_`` per group.

    The rows with a patch are sorted by patch area and split into :data:`_PASTE_GROUPS` groups (a loop
    over at most 4 groups, not over the batch); each group's patches are laid on a grid padded to the
    group's largest side per axis, whose positions past a row's own sides repeat its last patch line /
    pixel (padded entries rewrite an identical value to the same place: the result is exact). Grouping
    cuts the padded work about in half against one grid padded to the batch's largest patch (small
    batches, under :data:`_PASTE_GROUP_MIN` padded values, go to :func:`_paste_resized_one_grid`,
    which has fewer small ops and measured 25% faster at ``(256, 3, 32, 32)``).
    Source and destination offsets are sums of small per-axis tables broadcast once (the channel axis
    is an expanded view for the gather). Partner rows are read in place, without a copy, through a
    ``[g, C, *]`` view of ``x`` with row stride 0 whose offsets include the partner's row; the scatter
    writes the flat ``out`` with offsets that include the row and the channel (a written-to view may
    not overlap itself).
    ``shift`` (roll pairing) is only used by the small-batch path. On CPU the offset grids and the
    gathered values live in per-thread scratch buffers reused between calls (see :func:`_scratch`).
    """
    n, c = x.shape[:2]
    size = boxes.size
    d, dev = len(size), x.device
    hw = math.prod(size)
    strides = [math.prod(size[k + 1 :]) for k in range(d)]
    sides = boxes.sides
    area = sides.prod(1)
    if c * n * math.prod(int(v) for v in sides.max(0).values) < _PASTE_GROUP_MIN:
        return _paste_resized_one_grid(out, x, index, boxes, shift)
    order = torch.argsort(area, descending=True, stable=True)
    order = order[area.index_select(0, order) > 0]
    if order.numel() == 0:
        return out
    plan, total = [], 0
    for rows in torch.tensor_split(order, min(_PASTE_GROUPS, order.numel())):
        grid = [int(sides[rows, k].max()) for k in range(d)]
        plan.append((rows, grid, total))
        total += rows.numel() * math.prod(grid)
    src_all = _scratch("src", [total], torch.int64, dev)
    dst_all = _scratch("dst", [c * total], torch.int64, dev)
    vals_all = _scratch("vals", [c * total], x.dtype, dev)
    x_rows = x.as_strided((n, c, x.numel() - (c - 1) * hw), (0, hw, 1), x.storage_offset())
    flat_out = out.view(1, -1)
    channel = (torch.arange(c, device=dev) * hw).view(1, c, 1)
    for rows, grid, off in plan:
        g, count = rows.numel(), math.prod(grid)
        base_src = (index.index_select(0, rows) * (c * hw)).to(dev, non_blocking=True)
        base_dst = (rows * (c * hw)).to(dev, non_blocking=True)
        src_axes: list[Tensor] = []
        dst_axes: list[Tensor] = []
        for k, (s, m) in enumerate(zip(size, grid)):
            side = sides[rows, k : k + 1].to(dev, non_blocking=True)
            pos = torch.minimum(torch.arange(m, device=dev).view(1, -1), side - 1)
            src_k = nearest_source(pos, s, side) * strides[k]
            dst_k = (boxes.lo[rows, k : k + 1].to(dev, non_blocking=True) + pos) * strides[k]
            if k == 0:
                src_k, dst_k = src_k + base_src.view(-1, 1), dst_k + base_dst.view(-1, 1)
            shape = [g] + [1] * d
            shape[1 + k] = m
            src_axes.append(src_k.view(shape))
            dst_axes.append(dst_k.view(shape))
        src = src_all[off : off + g * count].view(g, *grid)
        if d == 2:  # sum of the per-axis tables, broadcast
            torch.add(src_axes[0], src_axes[1], out=src)
            pixel = dst_axes[0] + dst_axes[1]
        else:
            src.copy_(src_axes[0].expand(g, *grid))
            pixel = dst_axes[0].expand(g, *grid).clone()
            for t_src, t_dst in zip(src_axes[1:], dst_axes[1:]):
                src.add_(t_src)
                pixel.add_(t_dst)
        dst = dst_all[c * off : c * (off + g * count)].view(g, c, count)
        torch.add(pixel.view(g, 1, count), channel, out=dst)
        vals = vals_all[c * off : c * (off + g * count)].view(g, c, count)
        torch.gather(x_rows[:g], 2, src.view(g, 1, count).expand(g, c, count), out=vals)
        flat_out.scatter_(1, dst.view(1, -1), vals.view(1, -1))
    return out


def paste_resized_patches(out: Tensor, x: Tensor, index: Tensor, boxes: Boxes, *, shift: int | None = None
                          ) -> Tensor:
    """Paste each row's partner ``x[index[i]]``, resized (nearest) to ``boxes`` row ``i``, into ``out``.

    ``out`` must already hold ``x`` (a clone with the same layout). ``index``: ``[B]`` int64 CPU partners;
    ``boxes``: per-row patches inside the image; source positions follow :func:`nearest_source`. Only the
    ``P = sum(area_i)`` patch pixels are touched. The host knows every patch size, so the ragged list of
    patch *lines* (runs along the last axis) and then of pixels is expanded on the device with
    ``repeat_interleave(..., output_size=...)`` (no synchronisation); one advanced-indexing gather and one
    ``index_put_`` then move ``C * P`` values. When both ``x`` and ``out`` are channels-first (spatial
    axes flatten to a view) a padded-grid ``gather`` / ``scatter_`` is used instead (several times faster
    on CPU; same result); ``shift`` (the roll pairing's, optional) lets it read partners in place.
    """
    if x.is_contiguous() and out.is_contiguous():
        return _paste_resized_grid(out, x, index, boxes, shift)
    if out.dim() > 3 and out.flatten(2)._base is None:  # flatten had to copy
        # out's spatial axes do not flatten to a view (e.g. a channels-last buffer for a
        # channels-first batch): paste into a dense copy, then write it back
        dense = out.contiguous()
        return out.copy_(paste_resized_patches(dense, x.contiguous(), index, boxes, shift=shift))
    n = x.shape[0]
    size = boxes.size
    d = len(size)
    sides = boxes.sides
    total = int(sides.prod(1).sum())
    if total == 0:
        return out
    dev = x.device
    lines_per_row = sides[:, :-1].prod(1)
    n_lines = int(lines_per_row.sum())
    width = int(sides[:, -1].max())
    per_row = torch.cat((sides, boxes.lo, index.view(-1, 1), lines_per_row.view(-1, 1)), 1)
    per_row = per_row.to(dev, non_blocking=True)
    side_d, lo_d, partner, lines = per_row[:, :d], per_row[:, d : 2 * d], per_row[:, 2 * d], per_row[:, -1]
    strides = [math.prod(size[k + 1 :]) for k in range(d)]
    # lines: one per (row, position on the outer axes); small (at most B * prod(S[:-1]))
    line_row = torch.repeat_interleave(torch.arange(n, device=dev), lines, output_size=n_lines)
    rest = torch.arange(n_lines, device=dev) - (torch.cumsum(lines, 0) - lines).index_select(0, line_row)
    line_side = side_d.index_select(0, line_row)
    dst_base = lo_d[:, -1].index_select(0, line_row)
    src_base = torch.zeros_like(dst_base)
    for k in range(d - 2, -1, -1):  # outer spatial axes, innermost first
        offset = torch.remainder(rest, line_side[:, k])
        rest = torch.div(rest, line_side[:, k], rounding_mode="floor")
        dst_base = dst_base + (lo_d[:, k].index_select(0, line_row) + offset) * strides[k]
        src_base = src_base + nearest_source(offset, size[k], line_side[:, k]) * strides[k]
    run = line_side[:, -1]
    run_start = torch.cumsum(run, 0) - run
    # per-row source column table for the last axis: floor(b * S / side), [B, width]
    cols = torch.arange(width, device=dev)
    col_src = nearest_source(cols, size[-1], side_d[:, -1:].clamp_min(1)).view(-1)
    line_info = torch.stack((line_row, partner.index_select(0, line_row), dst_base, src_base, run_start), 1)
    # pixels
    pix = line_info.index_select(
        0, torch.repeat_interleave(torch.arange(n_lines, device=dev), run, output_size=total))
    b = torch.arange(total, device=dev) - pix[:, 4]
    dst = pix[:, 2] + b
    src = pix[:, 3] + col_src.index_select(0, pix[:, 0] * width + b)
    flat_out, flat_x = out.flatten(2), x.flatten(2)
    if flat_out.untyped_storage().data_ptr() != out.untyped_storage().data_ptr():
        raise ValueError("out must be a dense tensor whose spatial axes flatten to a view (a clone of x)")
    flat_out[pix[:, 0], :, dst] = flat_x[pix[:, 1], :, src]
    return out


def paste_resized_differentiable(x: Tensor, index: Tensor, boxes: Boxes) -> Tensor:
    """:func:`paste_resized_patches` as one differentiable gather, for inputs that require grad.

    Returns a new ``[B, C, *S]`` tensor (contiguous) equal to ``x`` except that row ``i``'s box holds
    ``x[index[i]]`` resized (nearest, :func:`nearest_source`) to the box; gradients flow to both the kept
    pixels and the partners' source pixels. Builds a ``[B, prod(S)]`` int64 source map, so it costs more
    memory than the in-place paths and is only taken when autograd records.
    """
    n, c, size = x.shape[0], x.shape[1], boxes.size
    d, dev = len(size), x.device
    lo, side = boxes.lo.to(dev), boxes.sides.to(dev)
    own_flat = torch.zeros((n, *[1] * d), dtype=torch.long, device=dev)
    src_flat = torch.zeros_like(own_flat)
    inside = torch.ones((n, *[1] * d), dtype=torch.bool, device=dev)
    for k, sz in enumerate(size):
        stride = math.prod(size[k + 1 :])
        pos = torch.arange(sz, device=dev).view(1, -1)
        rel = pos - lo[:, k : k + 1]
        ins = (rel >= 0) & (rel < side[:, k : k + 1])
        src = nearest_source(rel.clamp_min(0), sz, side[:, k : k + 1].clamp_min(1))
        shape = [n] + [1] * d
        shape[1 + k] = sz
        own_flat = own_flat + (pos * stride).expand(n, sz).reshape(shape)
        src_flat = src_flat + (src * stride).reshape(shape)
        inside = inside & ins.reshape(shape)
    rows = torch.arange(n, device=dev).view(n, *[1] * d)
    partner = index.to(dev, non_blocking=True).view(n, *[1] * d)
    hw = math.prod(size)
    source = torch.where(inside, partner * hw + src_flat, rows * hw + own_flat).reshape(-1)
    columns = x.reshape(n, c, hw).transpose(0, 1).reshape(c, n * hw)
    return columns[:, source].view(c, n, hw).transpose(0, 1).reshape(x.shape)
