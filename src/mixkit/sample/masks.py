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
* :func:`paste_shared_box`: copy one box region from the partner rows (host-int slices, no mask at all).
* :func:`paste_resized_patches`: per-row nearest-neighbour resized partner pasted into per-row boxes,
  touching only the patch pixels.
* :func:`fourier_noise`, :func:`top_k_weight`: FMix's low-frequency noise and its exact top-k threshold.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import Tensor

from .pairing import Pairs

__all__ = [
    "Boxes",
    "box_weight",
    "fourier_noise",
    "paste_resized_patches",
    "paste_shared_box",
    "place_boxes",
    "place_patches",
    "sample_boxes",
    "top_k_weight",
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


def paste_shared_box(out: Tensor, patch: Tensor, pairs: Pairs, rows: Tensor | None,
                     region: tuple[slice, ...]) -> Tensor:
    """``out[i][region] = patch[index[i]]`` for the given rows (one box shared by the batch).

    ``patch``: ``[B, C, *side]`` holding each row's contribution as a *source* (a view of ``x[region]``
    for CutMix, the resized batch for ResizeMix). ``rows``: CPU int64 row ids to paste, or ``None`` for
    every row. With the roll pairing and every row this is two slice copies (no gather, no index tensor).
    """
    n, s = out.shape[0], pairs.shift
    if rows is None and s is not None:
        if s:
            out[: n - s][region] = patch[s:]
            out[n - s :][region] = patch[:s]
        return out
    if rows is None:
        rows = torch.arange(n)
    if rows.numel() == 0:
        return out
    dev = out.device
    src = patch.index_select(0, pairs.index[rows].to(dev, non_blocking=True))
    out[(rows.to(dev, non_blocking=True), *region[1:])] = src
    return out


def resize_index(side: int, size: int, device: torch.device) -> Tensor:
    """Nearest-neighbour source positions ``floor(j * size / side)``, ``j < side`` (int64 on ``device``)."""
    return torch.div(torch.arange(side, device=device) * size, side, rounding_mode="floor")


def paste_resized_patches(out: Tensor, x: Tensor, index: Tensor, boxes: Boxes) -> Tensor:
    """Paste each row's partner ``x[index[i]]``, resized (nearest) to ``boxes`` row ``i``, into ``out``.

    ``out`` must already hold ``x`` (a clone). ``index``: ``[B]`` int64 CPU partners; ``boxes``: per-row
    patches inside the image. Only the ``P = sum(area_i)`` patch pixels are touched: the host knows every
    patch size, so the flat list of (row, offset) pairs is built on the device with
    ``repeat_interleave(..., output_size=P)`` (no synchronisation), then one ``take`` and one ``put_``
    move ``C * P`` values. Source position along axis ``k`` is ``floor(j * S_k / side_k)``.
    """
    n, c = x.shape[0], x.shape[1]
    size = boxes.size
    d = len(size)
    sides = boxes.sides
    area = sides.prod(1)
    total = int(area.sum())
    if total == 0:
        return out
    dev = x.device
    per_row = torch.cat((sides, boxes.lo, index.view(-1, 1), area.view(-1, 1)), 1).to(dev, non_blocking=True)
    row = torch.repeat_interleave(torch.arange(n, device=dev), per_row[:, -1], output_size=total)
    start = torch.cumsum(per_row[:, -1], 0) - per_row[:, -1]
    info = per_row.index_select(0, row)  # [P, 2d + 2]
    rest = torch.arange(total, device=dev) - start.index_select(0, row)
    numel = math.prod(size)
    dest = row * (c * numel)
    src = info[:, 2 * d] * (c * numel)
    stride = 1
    for k in range(d - 1, -1, -1):  # spatial axes, innermost first
        side_k = info[:, k]
        offset = torch.remainder(rest, side_k)
        rest = torch.div(rest, side_k, rounding_mode="floor")
        dest = dest + (info[:, d + k] + offset) * stride
        src = src + torch.div(offset * size[k], side_k, rounding_mode="floor") * stride
        stride *= size[k]
    chan = (torch.arange(c, device=dev) * numel).view(c, 1)
    out.put_(dest.view(1, -1) + chan, x.take(src.view(1, -1) + chan))
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


def top_k_weight(noise: Tensor, counts: Tensor, dtype: torch.dtype) -> Tensor:
    """0/1 weight ``[B, N]`` in ``dtype`` marking the ``counts[i]`` largest entries of ``noise[i]``.

    ``counts``: ``[B]`` int64 CPU in ``[0, N]``. The per-row threshold is the ``counts[i]``-th largest
    value, found with one ``kthvalue`` for all rows: row ``i`` is padded with ``counts[i]`` copies of
    ``-inf`` and ``K - counts[i]`` of ``+inf`` (``K = max counts``) so that its rank ``N + 1`` is its own
    threshold. Exactly ``counts[i]`` entries are marked unless the noise has exact ties at the threshold
    (then a few more); callers report the weight's actual mean, which is exact either way.
    """
    n, numel = noise.shape
    k_max = int(counts.max())
    if k_max == 0:
        return torch.zeros(n, numel, dtype=dtype, device=noise.device)
    if bool((counts == k_max).all()):
        thresh = noise.kthvalue(numel - k_max + 1, dim=1, keepdim=True).values
    else:
        k_dev = counts.to(noise.device, non_blocking=True).view(-1, 1)
        pad_pos = torch.arange(k_max, device=noise.device)
        inf = torch.tensor(float("inf"), device=noise.device, dtype=noise.dtype)
        pad = torch.where(pad_pos < k_dev, -inf, inf)
        thresh = torch.cat((noise, pad), 1).kthvalue(numel + 1, dim=1, keepdim=True).values
    return (noise >= thresh).to(dtype)
