"""Box geometry for the cut-and-paste mixers, as vectorized tensor operations.

Inputs are ``[B, C, *S]`` with ``d = len(S)`` spatial dimensions (1-D signals, 2-D images, 3-D volumes).
Per-row geometry (box corners, patch sizes) is O(B) and drawn on the host from the caller's CPU generator;
everything of size ``prod(S)`` is built on the data's device with broadcast comparisons, never with a
Python loop over the batch (the only loops below run over the ``d <= 3`` spatial axes).

* :func:`sample_boxes`: CutMix boxes from the cut fraction ``1 - lam`` (side ratio ``(1 - lam) ** (1/d)``,
  uniform centre, clipped at the border; the true area is what :meth:`Boxes.area` returns).
* :func:`place_boxes`: boxes of given side lengths at uniform centres, clipped (Cutout).
* :func:`place_patches`: boxes of given side lengths placed fully inside the image (ResizeMix).
* :func:`shared_region`, :func:`region_fraction`: one box for the whole batch, in host ints.
* :func:`box_weight`: boxes -> ``[B, 1, *S]`` 0/1 tensor in the data's dtype.
* :func:`mix_shared_box`: copy one box region from the partner rows (host-int slices, no mask at all).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import Tensor

from ..checks import check_shape_args
from ..pairing import Pairs

__all__ = [
    "Boxes",
    "box_weight",
    "mix_shared_box",
    "place_boxes",
    "place_patches",
    "region_fraction",
    "sample_boxes",
    "shared_region",
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
    _check_sides(sides, size)
    n = sides.shape[0]
    s = torch.tensor(size, dtype=torch.long)
    centre = _uniform_ints(1 if shared else n, s, generator).expand(n, -1)
    start = centre - sides // 2
    return Boxes(start.clamp(0, None).minimum(s), (start + sides).clamp(0, None).minimum(s), tuple(size))


def _check_sides(sides: Tensor, size: tuple[int, ...]) -> None:
    """``sides``: integer ``[B, len(size)]`` tensor of box sides >= 0 (larger than the image is clipped)."""
    check_shape_args(0, tuple(size))
    if not isinstance(sides, Tensor) or sides.dtype.is_floating_point or sides.dtype == torch.bool \
            or sides.dim() != 2 or sides.shape[1] != len(size):
        got = (sides.dtype, tuple(sides.shape)) if isinstance(sides, Tensor) else type(sides).__name__
        raise ValueError(f"sides must be an integer [B, {len(size)}] tensor, got {got}")
    if sides.numel() and bool((sides < 0).any()):
        raise ValueError("sides must be >= 0")


def sample_boxes(cut: Tensor, size: tuple[int, ...], generator: torch.Generator | None = None,
                 shared: bool = False) -> Boxes:
    """CutMix boxes (Yun et al., ICCV 2019) for the requested cut fractions ``cut = 1 - lam`` ([B], CPU).

    Each side is ``round(S_k * cut ** (1/d))`` (``sqrt(1 - lam)`` of the side for images), the centre is
    uniform and the box is clipped at the border, so the true area (:meth:`Boxes.area`) can be smaller
    than ``cut``; CutMix reports that true area.
    """
    if not isinstance(cut, Tensor) or cut.dim() != 1:
        raise ValueError(f"cut must be a [B] tensor of fractions in [0, 1], got "
                         f"{tuple(cut.shape) if isinstance(cut, Tensor) else type(cut).__name__}")
    if cut.numel() and bool(torch.isnan(cut).any()):
        raise ValueError("cut must hold fractions in [0, 1], got NaN")
    d = len(size)
    ratio = cut.double().clamp(0.0, 1.0).pow(1.0 / d)
    sides = torch.round(ratio[:, None] * torch.tensor(size, dtype=torch.float64)).long()
    return place_boxes(sides, size, generator, shared)


def place_patches(sides: Tensor, size: tuple[int, ...], generator: torch.Generator | None = None,
                  shared: bool = False) -> Boxes:
    """Boxes of the given ``sides`` ([B, d] int64, ``<= S``) placed uniformly *inside* ``size``."""
    _check_sides(sides, size)
    s = torch.tensor(size, dtype=torch.long)
    sides = sides.minimum(s)
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
