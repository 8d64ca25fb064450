"""Mask geometry shared by the cut- and Fourier-based mixers, as vectorized tensor operations.

Inputs are ``[B, C, *S]`` with ``d = len(S)`` spatial dimensions (1-D signals, 2-D images, 3-D volumes).
Per-row geometry (box corners, patch sizes, top-k counts) is O(B) and drawn on the host from the caller's
CPU generator; everything of size ``prod(S)`` is built on the data's device with broadcast comparisons,
never with a Python loop over the batch (the only loops below run over the ``d <= 3`` spatial axes).

* :func:`sample_boxes`: CutMix boxes from the cut fraction ``1 - lam`` (side ratio ``(1 - lam) ** (1/d)``,
  uniform centre, clipped at the border; the true area is what :meth:`Boxes.area` returns).
* :func:`place_boxes`: boxes of given side lengths at uniform centres, clipped (Cutout).
* :func:`place_patches`: boxes of given side lengths placed fully inside the image (ResizeMix).
* :func:`box_weight`: boxes -> ``[B, 1, *S]`` 0/1 tensor in the data's dtype.
* :func:`mix_shared_box`: copy one box region from the partner rows (host-int slices, no mask at all).
* :func:`paste_resized_patches`: per-row nearest-neighbour resized partner pasted into per-row boxes,
  touching only the patch pixels.
* :func:`fourier_noise`, :func:`top_k_weight`: FMix's low-frequency noise and its exact top-k threshold.
* :func:`band_limited_noise`, :func:`top_k_weight_histogram`: the same, faster: only the frequencies that
  carry all but ``tol`` of the noise variance, and an exact top-k found by a per-row histogram.
"""

from __future__ import annotations

import functools
import math
import threading
from dataclasses import dataclass

import torch
from torch import Tensor

from .pairing import Pairs

__all__ = [
    "Boxes",
    "box_weight",
    "band_limited_noise",
    "fourier_noise",
    "paste_resized_patches",
    "paste_resized_shared",
    "mix_shared_box",
    "place_boxes",
    "place_patches",
    "region_fraction",
    "shared_region",
    "sample_boxes",
    "top_k_weight",
    "top_k_weight_histogram",
]


@dataclass(frozen=True)
class Boxes:
    """One half-open axis-aligned box per row, on the CPU.

    Attributes:
        lo, hi: ``[B, d]`` int64 corners with ``0 <= lo <= hi <= S`` (an empty box has ``lo == hi``).
        size: the spatial size ``S`` of the inputs, ``d`` ints.
    """

    lo: Tensor
    hi: Tensor
    size: tuple[int, ...]

    @property
    def sides(self) -> Tensor:
        """``[B, d]`` int64 side lengths."""
        return self.hi - self.lo

    def area(self) -> Tensor:
        """``[B]`` float32 fraction of the spatial volume covered by each (clipped) box."""
        return (self.sides.prod(1).double() / math.prod(self.size)).float()

    def region(self, row: int) -> tuple[slice, ...]:
        """Index tuple ``(:, :, lo_1:hi_1, ..., lo_d:hi_d)`` of ``row``'s box, for slicing ``[B, C, *S]``."""
        lo, hi = self.lo[row].tolist(), self.hi[row].tolist()
        return (slice(None), slice(None), *(slice(a, b) for a, b in zip(lo, hi)))


def _uniform_ints(n: int, high: Tensor, generator: torch.Generator | None) -> Tensor:
    """``[n, d]`` int64 with column ``k`` uniform on ``[0, high[..., k])`` (``high`` broadcasts, >= 1)."""
    u = torch.rand(n, high.shape[-1], generator=generator, dtype=torch.float64)
    return torch.minimum((u * high).long(), high - 1)


def place_boxes(sides: Tensor, size: tuple[int, ...], generator: torch.Generator | None = None,
                shared: bool = False) -> Boxes:
    """Boxes of the given ``sides`` ([B, d] int64) centred uniformly in ``size`` and clipped at the border.

    The centre of each box is a uniform pixel; the box spans ``[c - side // 2, c - side // 2 + side)``
    intersected with ``[0, S)``. ``shared=True`` draws one centre for every row (batch mode).
    """
    n = sides.shape[0]
    s = torch.tensor(size, dtype=torch.long)
    centre = _uniform_ints(1 if shared else n, s, generator).expand(n, -1)
    start = centre - sides // 2
    return Boxes(start.clamp(0, None).minimum(s), (start + sides).clamp(0, None).minimum(s), tuple(size))


def sample_boxes(cut: Tensor, size: tuple[int, ...], generator: torch.Generator | None = None,
                 shared: bool = False) -> Boxes:
    """CutMix boxes (Yun et al., ICCV 2019) for the requested cut fractions ``cut = 1 - lam`` ([B], CPU).

    Each side is ``round(S_k * cut ** (1/d))`` (``sqrt(1 - lam)`` of the side for images), the centre is
    uniform and the box is clipped at the border, so the true area (:meth:`Boxes.area`) can be smaller
    than ``cut``; CutMix reports that true area.
    """
    d = len(size)
    ratio = cut.double().clamp(0.0, 1.0).pow(1.0 / d)
    sides = torch.round(ratio[:, None] * torch.tensor(size, dtype=torch.float64)).long()
    return place_boxes(sides, size, generator, shared)


def place_patches(sides: Tensor, size: tuple[int, ...], generator: torch.Generator | None = None,
                  shared: bool = False) -> Boxes:
    """Boxes of the given ``sides`` ([B, d] int64, ``<= S``) placed uniformly *inside* ``size``."""
    s = torch.tensor(size, dtype=torch.long)
    sides = sides.clamp(0, None).minimum(s)
    n = sides.shape[0]
    high = s - (sides.max(0).values if shared else sides) + 1
    lo = _uniform_ints(1 if shared else n, high, generator).expand(n, -1)
    return Boxes(lo, lo + sides, tuple(size))


def shared_region(sides: tuple[int, ...], size: tuple[int, ...], generator: torch.Generator | None,
                  inside: bool) -> tuple[slice, ...]:
    """One box for the whole batch (batch mode) as an index tuple ``(:, :, lo_1:hi_1, ...)``, in host ints.

    ``inside=False``: uniform centre pixel, box clipped at the border (CutMix, Cutout; as
    :func:`place_boxes`). ``inside=True``: uniform position with the box fully inside (ResizeMix; as
    :func:`place_patches`). ``sides`` must not exceed ``size`` when ``inside``.
    """
    u = torch.rand(len(size), generator=generator, dtype=torch.float64).tolist()
    spans = []
    for side, s, v in zip(sides, size, u):
        if inside:
            lo = min(int(v * (s - side + 1)), s - side)
            spans.append(slice(lo, lo + side))
        else:
            start = min(int(v * s), s - 1) - side // 2
            spans.append(slice(min(max(start, 0), s), min(max(start + side, 0), s)))
    return (slice(None), slice(None), *spans)


def region_fraction(region: tuple[slice, ...], size: tuple[int, ...]) -> float:
    """Fraction of the spatial volume covered by a box index tuple."""
    return math.prod(sl.stop - sl.start for sl in region[2:]) / math.prod(size)


def box_weight(boxes: Boxes, like: Tensor) -> Tensor:
    """``[B, 1, *S]`` tensor in ``like``'s dtype on ``like``'s device: 1 inside each row's box, else 0.

    Built as a product of ``d`` per-axis indicators ``[B, S_k]`` (broadcast comparisons against
    ``arange``), so its cost is one write of ``B * prod(S)`` elements, ``1/C`` of the batch.
    """
    n, d = boxes.lo.shape
    corners = torch.stack((boxes.lo, boxes.hi)).to(like.device, non_blocking=True)
    weight: Tensor | None = None
    for k, s in enumerate(boxes.size):
        pos = torch.arange(s, device=like.device)
        inside = (pos >= corners[0, :, k : k + 1]) & (pos < corners[1, :, k : k + 1])
        shape = [n, 1] + [1] * d
        shape[2 + k] = s
        axis = inside.to(like.dtype).view(shape)
        weight = axis if weight is None else weight * axis
    assert weight is not None
    return weight


def mix_shared_box(x: Tensor, patch: Tensor, pairs: Pairs, rows: Tensor | None, region: tuple[slice, ...],
                   out: Tensor | None = None) -> Tensor:
    """A new batch equal to ``x`` except ``out[i][region] = patch[index[i]]`` for the given rows.

    ``patch``: ``[B, C, *sides]``, each row's contribution as a *source* (a view of ``x[region]`` for
    CutMix, the resized batch for ResizeMix). ``rows``: CPU int64 row ids to paste, or ``None`` for every
    row. The batch is cloned, then the box pasted; with the roll pairing and every row the paste is two
    slice copies (no gather, no index tensor). (Copying around the box instead of cloning writes less,
    but its short strided runs made it several times slower on CPU.) ``out``: optional preallocated
    result (like ``x``, not overlapping it; the box is pasted after ``x`` is copied into it).
    """
    n, s = x.shape[0], pairs.shift
    out = x.clone() if out is None else out.copy_(x)
    if rows is None:
        if s is not None:
            out[: n - s][region] = patch[s:]
            out[n - s :][region] = patch[:s]
            return out
        rows = torch.arange(n)
    dev = out.device
    src = patch.index_select(0, pairs.index[rows].to(dev, non_blocking=True))
    out[(rows.to(dev, non_blocking=True), *region[1:])] = src
    return out


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


# --------------------------------------------------------------------------- Fourier masks (FMix)
def spectrum_scale(size: tuple[int, ...], decay_power: float, device: torch.device) -> Tensor:
    """Amplitude ``1 / max(|f|, 1/max(S)) ** decay_power`` on the ``rfftn`` frequency grid of ``size``."""
    axes = [torch.fft.fftfreq(s, device=device) for s in size[:-1]]
    axes.append(torch.fft.rfftfreq(size[-1], device=device))
    grids = torch.meshgrid(*axes, indexing="ij")
    freq = torch.sqrt(sum(g * g for g in grids))
    return freq.clamp_min(1.0 / max(size)).pow(-float(decay_power))


def fourier_noise(batch: int, size: tuple[int, ...], decay_power: float, generator: torch.Generator,
                  device: torch.device) -> Tensor:
    """``[batch, *size]`` float32 low-frequency noise (FMix, Harris et al. 2020), made on ``device``.

    Complex Gaussian coefficients scaled by ``1 / |f| ** decay_power`` and inverse-FFT'd (real part via
    ``irfftn``). ``generator`` must live on ``device``.
    """
    scale = spectrum_scale(size, decay_power, device)
    coeff = torch.randn(batch, *scale.shape, 2, generator=generator, device=device)
    spec = torch.view_as_complex(coeff) * scale
    return torch.fft.irfftn(spec, s=size, dim=tuple(range(1, len(size) + 1)))


BAND_TOLERANCE = 1e-7
"""Share of FMix's noise variance that :func:`band_limited_noise` may drop (see there)."""


@functools.lru_cache(maxsize=32)
def _band(size: tuple[int, ...], decay_power: float, tol: float) -> tuple[tuple[Tensor, ...], Tensor, float]:
    """Kept frequency indices per axis (``rfftn`` grid order), their amplitudes, and the dropped share.

    The kept set is a box ``|f_k| <= f_c`` on every axis, with the smallest cut-off ``f_c`` (in cycles per
    pixel) whose dropped share of the total variance (squared amplitudes, counting the mirrored half of
    the last axis twice) is at most ``tol``. Computed once per (size, decay, tol) on the CPU.
    """
    scale = spectrum_scale(size, decay_power, torch.device("cpu")).double()
    var = scale * scale
    mult = torch.full((var.shape[-1],), 2.0, dtype=torch.float64)
    mult[0] = 1.0
    if size[-1] % 2 == 0:
        mult[-1] = 1.0
    var = var * mult
    total = float(var.sum())
    freqs = [torch.fft.fftfreq(n, dtype=torch.float64).abs() for n in size[:-1]]
    freqs.append(torch.fft.rfftfreq(size[-1], dtype=torch.float64))
    keep: list[Tensor] = []
    dropped = 0.0
    for cut in sorted(set(torch.cat(freqs).tolist())):
        keep = [f <= cut for f in freqs]
        inside = var[torch.meshgrid(*[torch.nonzero(k).flatten() for k in keep], indexing="ij")]
        dropped = max(0.0, 1.0 - float(inside.sum()) / total)
        if dropped <= tol:
            break
    idx = tuple(torch.nonzero(k).flatten() for k in keep)
    return idx, scale[torch.meshgrid(*idx, indexing="ij")].float(), dropped


@functools.lru_cache(maxsize=32)
def _band_bases(size: tuple[int, ...], decay_power: float, tol: float, device: torch.device
                ) -> tuple[list[Tensor], Tensor, Tensor]:
    """Per-axis inverse-DFT bases of the kept frequencies, on ``device`` (cached per shape and device).

    Returns complex ``[S_k, K_k]`` bases for the leading axes, the real ``[2 K_d, S_d]`` basis of the last
    axis (interleaved cos / -sin rows, Hermitian weights 1 or 2, scaled by ``1 / prod(S)`` as ``irfftn``),
    and the kept amplitudes.
    """
    idx, amp, _ = _band(size, decay_power, tol)
    lead = []
    for k, n in enumerate(size[:-1]):
        f = torch.fft.fftfreq(n, dtype=torch.float64)[idx[k]]
        ang = 2 * math.pi * torch.arange(n, dtype=torch.float64)[:, None] * f[None, :]
        lead.append(torch.polar(torch.ones_like(ang), ang).to(device, torch.complex64))
    n = size[-1]
    kx = idx[-1].double()
    weight = torch.where(kx == 0, 1.0, 2.0)
    if n % 2 == 0:
        weight = torch.where(kx == n // 2, 1.0, weight)
    ang = 2 * math.pi * kx[:, None] * torch.arange(n, dtype=torch.float64)[None, :] / n
    last = torch.stack((weight[:, None] * torch.cos(ang), -weight[:, None] * torch.sin(ang)), 1)
    last = (last.reshape(-1, n) / math.prod(size)).to(device, torch.float32)
    return lead, last, amp.to(device)


def band_limited_noise(batch: int, size: tuple[int, ...], decay_power: float, generator: torch.Generator,
                       device: torch.device, tol: float = BAND_TOLERANCE) -> Tensor:
    """``[batch, *size]`` float32 FMix noise from only the frequencies that matter (faster than the FFT).

    Same field as :func:`fourier_noise` (complex Gaussian coefficients scaled by ``1 / |f| **
    decay_power``, real inverse DFT, ``irfftn`` normalisation) except that coefficients outside the box
    ``|f_k| <= f_c`` are zero, with ``f_c`` the smallest cut-off whose dropped share of the variance is
    ``<= tol`` (default ``1e-7``: for 224 x 224 and ``decay_power=3`` the box keeps 75 x 38 of the
    224 x 113 coefficients; for 32 x 32 nothing is dropped and the result is exactly
    :func:`fourier_noise`'s). The inverse DFT of the kept box is computed directly with small matrix
    products (bases cached per shape and device), and only the kept coefficients are drawn.
    Measured effect on FMix masks (224 x 224, same coefficients, exact top-k of one third of the
    pixels): 1.5e-4 of the pixels differ, at most 18 per mask. ``generator`` must live on ``device``.
    """
    size = tuple(int(v) for v in size)
    lead, last, amp = _band_bases(size, float(decay_power), float(tol), torch.device(device))
    coeff = torch.randn(batch, *amp.shape, 2, generator=generator, device=device)
    field = torch.view_as_complex(coeff) * amp
    if amp.shape[-1] == size[-1] // 2 + 1 and all(a == s for a, s in zip(amp.shape[:-1], size[:-1])):
        # nothing dropped (small inputs): exactly fourier_noise, whose FFT is then the cheaper route
        return torch.fft.irfftn(field, s=size, dim=tuple(range(1, len(size) + 1)))
    if len(lead) == 1:  # images: [S_0, K_0] @ [B, K_0, K_d] (contiguous result, no transposed copy)
        field = lead[0] @ field
    for k, basis in enumerate(lead if len(lead) > 1 else ()):  # complex inverse DFT, [K_k] -> [S_k]
        field = torch.movedim(torch.tensordot(field, basis, dims=([1 + k], [1])), -1, 1 + k)
    flat = torch.view_as_real(field).reshape(-1, last.shape[0])
    return (flat @ last).view(batch, *size)


def top_k_weight_histogram(noise: Tensor, counts: Tensor, dtype: torch.dtype, buckets: int | None = None
                           ) -> Tensor:
    """0/1 weight ``[B, N]`` marking every value ``>=`` the ``counts[i]``-th largest of row ``i``.

    Without ties that is exactly the ``counts[i]`` largest values, the same mask as :func:`top_k_weight`
    (faster on CPU); with ties at the threshold every tied value is marked. ``noise``: ``[B, N]`` float;
    ``counts``: ``[B]`` int64 in ``[0, N]``. Each row's values are mapped monotonically to ``buckets``
    buckets (default ``N / 32`` clamped to [16, 2048]) over its subsampled range (values beyond it go to
    the end buckets, so the result stays exact); one ``bincount`` gives every row's histogram, a
    cumulative sum the bucket holding the threshold, and only that bucket's few values are gathered and
    sorted to find the exact threshold. Reads the small per-row bucket sizes on the host: meant for CPU
    tensors (on CUDA use :func:`top_k_weight`, whose ``kthvalue`` does not synchronise).
    """
    n, numel = noise.shape
    dev = noise.device
    if buckets is None:
        buckets = min(2048, max(16, numel // 32))
    k = counts.to(dev).clamp(0, numel)
    step = max(1, numel // 4096)
    sample = noise[:, ::step]
    lo, hi = sample.amin(1, keepdim=True), sample.amax(1, keepdim=True)
    rows = torch.arange(n, device=dev).view(-1, 1)
    scale = buckets / (hi - lo).clamp_min(1e-30)
    pos = torch.addcmul(-lo * scale, noise, scale).clamp_(0, buckets - 1).to(torch.int32)  # monotone
    pos += (rows * buckets).to(torch.int32)  # row i's buckets: [i * buckets, (i+1) * buckets)
    hist = torch.bincount(pos.view(-1), minlength=n * buckets).view(n, buckets)
    below = hist.cumsum(1)  # below[:, b]: values in buckets <= b
    # the boundary bucket holds the (N - k + 1)-th smallest value: first b with below[b] > N - k
    bucket = torch.searchsorted(below, (numel - k).view(-1, 1), right=True).clamp_(max=buckets - 1)
    size_b = hist.gather(1, bucket).view(-1)
    rank = k - (numel - below.gather(1, bucket).view(-1))  # rank from the top inside the bucket, 1..size_b
    bucket = bucket.view(-1)
    where = torch.nonzero(pos == (bucket + rows.view(-1) * buckets).to(torch.int32).view(-1, 1))
    values = noise[where[:, 0], where[:, 1]]  # row-major: size_b[i] values of row i
    width = max(int(size_b.max()), 1)
    start = torch.cumsum(size_b, 0) - size_b
    slot = torch.arange(width, device=dev)
    valid = slot.view(1, -1) < size_b.view(-1, 1)
    take = (start.view(-1, 1) + slot).clamp_(0, max(values.numel() - 1, 0))
    padded = torch.where(valid, values[take] if values.numel() else 0.0, float("-inf"))
    ordered = padded.sort(dim=1, descending=True).values
    thresh = ordered.gather(1, (rank - 1).clamp_min(0).view(-1, 1))
    thresh = torch.where((k == 0).view(-1, 1), float("inf"), thresh)
    out = torch.empty(n, numel, dtype=dtype, device=dev)
    return torch.ge(noise, thresh, out=out)


def top_k_weight(noise: Tensor, counts: Tensor, dtype: torch.dtype) -> Tensor:
    """0/1 weight ``[B, N]`` in ``dtype`` marking the ``counts[i]`` largest entries of ``noise[i]``.

    ``counts``: ``[B]`` int64 CPU in ``[0, N]``. The per-row threshold is found with one ``kthvalue`` for
    all rows: a row that needs more than half of its entries selects the complement instead (the
    smallest ``N - counts[i]``, on the negated noise), so at most ``K <= N/2`` entries are selected per
    row; then row ``i`` is padded with ``k_i`` copies of ``-inf`` and ``K - k_i`` of ``+inf`` so that its
    rank ``N + 1`` is its own threshold. Exactly ``counts[i]`` entries are marked unless the noise has
    exact ties at the threshold (then a few more or fewer); callers report the weight's actual mean,
    which is exact either way.
    """
    n, numel = noise.shape
    flip = counts > numel // 2
    k = torch.where(flip, numel - counts, counts)
    k_max = int(k.max())
    dev = noise.device
    if k_max == 0:
        return flip.to(dev, dtype, non_blocking=True).view(-1, 1).expand(n, numel).contiguous()
    sign = 1.0 - 2.0 * flip.to(dev, noise.dtype, non_blocking=True).view(-1, 1)
    if bool(flip.any()):
        noise = noise * sign
    if bool((k == k_max).all()):
        thresh = noise.kthvalue(numel - k_max + 1, dim=1, keepdim=True).values
    else:
        pad_pos = torch.arange(k_max, device=dev)
        inf = torch.full((), float("inf"), device=dev, dtype=noise.dtype)
        pad = torch.where(pad_pos < k.to(dev, non_blocking=True).view(-1, 1), -inf, inf)
        thresh = torch.cat((noise, pad), 1).kthvalue(numel + 1, dim=1, keepdim=True).values
    marked = noise >= thresh
    if bool(flip.any()):
        marked = marked ^ flip.to(dev, non_blocking=True).view(-1, 1)
    return marked.to(dtype)
