"""Mix3D (Nekrasov et al., "Mix3D: Out-of-Context Data Augmentation for 3D Scenes", 3DV 2021):
out-of-context mixing of point-cloud scenes by taking their union."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from ..checks import check_inputs
from ..lam import cpu_generator
from ..pairing import make_pairs, partner_rows
from .mixer import Mixer, MixParams

__all__ = ["Mix3D", "Mix3DParams", "PointMixBatch"]


@dataclass
class PointMixBatch:
    """Result of :class:`Mix3D`.

    Attributes:
        x: ``[B, 2N, C]`` points: row ``i``'s own ``N`` points, then its partner's ``N`` points.
        y: ``[B, 2N]`` per-point labels, kept with their points (or ``None`` when none were given).
        index: ``[B]`` int64, partner of each row.
        valid: ``[B, 2N]`` bool, True on real points (``None`` when every point is real).

    No label mixing is involved: each point keeps its own label, so the usual per-point loss applies,
    e.g. ``F.cross_entropy(logits.transpose(1, 2), out.y, ignore_index=...)``.
    """

    x: Tensor
    y: Tensor | None
    index: Tensor
    valid: Tensor | None = None

    def __repr__(self) -> str:
        return f"PointMixBatch(x=Tensor{list(self.x.shape)}, valid={self.valid is not None})"


@dataclass(repr=False)
class Mix3DParams(MixParams):
    """Partners, ``lam`` (1: no label mixing) and ``active`` (``[B]`` bool, CPU): rows whose partner half is
    kept (``None`` when every row is mixed)."""

    active: Tensor | None = None


class Mix3D(Mixer):
    """Mix3D: the union of two (independently augmented) scenes, with per-point labels kept.

    Call ``mixer(points [B, N, C], labels [B, N] or None, generator=g, valid=None) -> PointMixBatch``. The
    first ``xyz_channels`` channels are coordinates; with ``center=True`` each scene is translated so that
    the mean of its (valid) coordinates is at the origin before the union, so the two scenes overlap as in
    the paper. Other channels (colour, normals) are copied unchanged. Padding points (``valid`` ``[B, N]``
    bool False) stay padding in the output and do not move the centre. Augment each scene before mixing
    (the paper applies its usual scene augmentations independently to both); ``prob`` leaves a row's
    partner half as padding (``valid`` False, labels ``ignore_index``) with probability ``1 - prob``, so
    shapes stay fixed. Declared task: ``"point_cloud_segmentation"``.

    Args:
        center: translate each scene to the origin first.
        xyz_channels: number of leading coordinate channels (3).
        prob: probability that a row is mixed at all.
        pairing: ``roll``, ``flip`` or ``permute`` (see :mod:`mixkit.sample.pairing`).
        ignore_index: label written for the padded partner points of unmixed rows (-100, PyTorch's default).

    Release: ``kumuji/mix3d: mix3d/datasets/utils.py`` (``VoxelizeCollateMerge``: the union of the
    coordinates, features and labels of two scenes, ``scenes=2``, ``proba=1``). Labels stay per point, as
    there.

    Deviations:
        * every row gets its union with a partner (``B`` unions per batch, each scene in two); the release
          merges consecutive disjoint pairs in its collate function (``B / 2`` unions).
        * ``prob`` switches rows; the release's ``proba`` is one coin per batch.
        * points are a dense ``[B, N, C]`` tensor before voxelisation (the release merges variable-size
          numpy scenes and voxelises after); ``center`` is mixkit's option.
    """

    name = "mix3d"
    paper = "Mix3D: Out-of-Context Data Augmentation for 3D Scenes (Nekrasov et al., 3DV 2021)"
    paper_url = "https://arxiv.org/abs/2110.02210"
    release = "kumuji/mix3d: mix3d/datasets/utils.py"
    tasks = frozenset({"point_cloud_segmentation"})
    min_rank = 3
    max_rank = 3

    def __init__(self, center: bool = True, xyz_channels: int = 3, prob: float = 1.0, pairing: str = "roll",
                 ignore_index: int = -100) -> None:
        super().__init__(1.0, prob=prob, pairing=pairing)
        if not isinstance(xyz_channels, int) or xyz_channels < 0:
            raise ValueError(f"xyz_channels must be an int >= 0, got {xyz_channels!r}")
        self.center, self.xyz_channels = bool(center), xyz_channels
        self.ignore_index = int(ignore_index)

    def draw(self, shape: torch.Size, generator: torch.Generator | None) -> Mix3DParams:
        """Partners, then (``prob < 1``) which rows keep their partner half."""
        n = shape[0]
        pairs = make_pairs(n, self.pairing, generator)
        active = torch.rand(n, generator=generator) < self.prob if self.prob < 1.0 else None
        return Mix3DParams(pairs, torch.ones(n), active)

    def centred(self, x: Tensor, valid: Tensor | None) -> Tensor:
        """``x`` ``[B, N, C]`` with each scene's (valid) coordinate mean moved to the origin (if
        ``center``)."""
        if not (self.center and self.xyz_channels):
            return x
        xyz = x[..., : self.xyz_channels]
        if valid is None:
            mean = xyz.mean(dim=1, keepdim=True)
        else:
            w = valid.to(x.dtype).unsqueeze(-1)
            mean = (xyz * w).sum(1, keepdim=True) / w.sum(1, keepdim=True).clamp_min(1)
        return torch.cat([xyz - mean, x[..., self.xyz_channels:]], dim=-1)

    def apply(self, x: Tensor, params: MixParams, out: Tensor | None = None) -> tuple[Tensor, Tensor]:
        """The union ``[B, 2N, C]`` of the (centred, all-valid) scenes and ``lam`` = 1 (labels are per point;
        ``out``, when given, must be ``[B, 2N, C]``)."""
        pts = self.centred(x, None)
        union = torch.cat([pts, partner_rows(pts, params.pairs)], dim=1)
        return (union if out is None else out.copy_(union)), torch.ones(x.shape[0], device=x.device)

    def forward(self, x: Tensor, y: Tensor | None = None, *,  # type: ignore[override]
                generator: torch.Generator | None = None, valid: Tensor | None = None) -> PointMixBatch:
        g = cpu_generator(generator)
        check_inputs(x, 3, 3, "points")
        n, m, c = x.shape
        if c < self.xyz_channels:
            raise ValueError(f"points must have at least xyz_channels={self.xyz_channels} channels, got {c}")
        if y is not None and (not isinstance(y, Tensor) or y.shape != (n, m)):
            raise ValueError(f"labels must have shape [B, N] = [{n}, {m}], got "
                             f"{tuple(getattr(y, 'shape', ())) or type(y).__name__}")
        if valid is not None and (not isinstance(valid, Tensor) or valid.dtype != torch.bool
                                  or valid.shape != (n, m)):
            raise ValueError(f"valid must be a bool tensor of shape [{n}, {m}]")
        params = self.draw(x.shape, g)
        pairs = params.pairs
        pts = self.centred(x, valid)
        partner_pts = partner_rows(pts, pairs)
        partner_valid = None if valid is None else partner_rows(valid, pairs)
        partner_y = None if y is None else partner_rows(y, pairs)
        if params.active is not None:
            keep = params.active.to(x.device, non_blocking=True).view(-1, 1).expand(n, m)
            partner_valid = keep if partner_valid is None else partner_valid & keep
            if partner_y is not None:
                partner_y = partner_y.masked_fill(~keep, self.ignore_index)
        out_valid = None
        if valid is not None or partner_valid is not None:
            own_valid = torch.ones(n, m, dtype=torch.bool, device=x.device) if valid is None else valid
            out_valid = torch.cat([own_valid, partner_valid], dim=1)
        return PointMixBatch(
            x=torch.cat([pts, partner_pts], dim=1),
            y=None if y is None else torch.cat([y, partner_y], dim=1),
            index=pairs.index.to(x.device, non_blocking=True),
            valid=out_valid,
        )

    def extra_repr(self) -> str:
        return (f"center={self.center}, xyz_channels={self.xyz_channels}, prob={self.prob}, "
                f"pairing={self.pairing!r}")
