"""Small modules shaped like timm's VisionTransformer and ResNet (same attribute and method names and
signatures: ``forward_features``, ``forward_head(x, pre_logits=False)``, ``forward_intermediates``,
``get_classifier``, ``feature_info``, ``patch_embed``, ``num_prefix_tokens``, ``blocks[i].attn`` with
``fused_attn``/``attn_drop``), written for the tests because timm does not import beside this torch."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn


class PatchEmbed(nn.Module):
    def __init__(self, img_size: int, patch_size: int, in_chans: int, embed_dim: int) -> None:
        super().__init__()
        self.patch_size = (patch_size, patch_size)
        self.grid_size = (img_size // patch_size, img_size // patch_size)
        self.num_patches = self.grid_size[0] * self.grid_size[1]
        self.proj = nn.Conv2d(in_chans, embed_dim, patch_size, patch_size)

    def forward(self, x: Tensor) -> Tensor:
        return self.proj(x).flatten(2).transpose(1, 2)


class Attention(nn.Module):
    def __init__(self, dim: int, num_heads: int) -> None:
        super().__init__()
        self.num_heads, self.head_dim = num_heads, dim // num_heads
        self.scale = self.head_dim ** -0.5
        self.fused_attn = True
        self.qkv = nn.Linear(dim, dim * 3)
        self.attn_drop = nn.Dropout(0.0)
        self.proj = nn.Linear(dim, dim)

    def forward(self, x: Tensor) -> Tensor:
        b, n, c = x.shape
        qkv = self.qkv(x).reshape(b, n, 3, self.num_heads, self.head_dim).permute(2, 0, 3, 1, 4)
        q, k, v = qkv.unbind(0)
        if self.fused_attn:
            x = F.scaled_dot_product_attention(q, k, v)
        else:
            attn = (q * self.scale) @ k.transpose(-2, -1)
            attn = self.attn_drop(attn.softmax(dim=-1))
            x = attn @ v
        return self.proj(x.transpose(1, 2).reshape(b, n, c))


class Block(nn.Module):
    def __init__(self, dim: int, num_heads: int) -> None:
        super().__init__()
        self.norm1, self.attn = nn.LayerNorm(dim), Attention(dim, num_heads)
        self.norm2 = nn.LayerNorm(dim)
        self.mlp = nn.Sequential(nn.Linear(dim, dim), nn.GELU(), nn.Linear(dim, dim))

    def forward(self, x: Tensor) -> Tensor:
        x = x + self.attn(self.norm1(x))
        return x + self.mlp(self.norm2(x))


class VisionTransformer(nn.Module):
    """timm's VisionTransformer interface with a class token and ``global_pool='token'``."""

    def __init__(self, img_size: int = 8, patch_size: int = 2, in_chans: int = 3, num_classes: int = 5,
                 embed_dim: int = 16, depth: int = 2, num_heads: int = 2) -> None:
        super().__init__()
        self.num_prefix_tokens, self.global_pool = 1, "token"
        self.patch_embed = PatchEmbed(img_size, patch_size, in_chans, embed_dim)
        self.cls_token = nn.Parameter(torch.randn(1, 1, embed_dim) * 0.02)
        self.pos_embed = nn.Parameter(torch.randn(1, self.patch_embed.num_patches + 1, embed_dim) * 0.02)
        self.blocks = nn.Sequential(*[Block(embed_dim, num_heads) for _ in range(depth)])
        self.norm = nn.LayerNorm(embed_dim)
        self.fc_norm = nn.Identity()
        self.head_drop = nn.Dropout(0.0)
        self.head = nn.Linear(embed_dim, num_classes)
        self.feature_info = [dict(module=f"blocks.{i}", num_chs=embed_dim, reduction=patch_size)
                             for i in range(depth)]

    def _pos_embed(self, x: Tensor) -> Tensor:
        return torch.cat([self.cls_token.expand(x.shape[0], -1, -1), x], dim=1) + self.pos_embed

    def get_classifier(self) -> nn.Module:
        return self.head

    def forward_intermediates(self, x: Tensor, indices=None, return_prefix_tokens: bool = False,
                              norm: bool = False, stop_early: bool = False, output_fmt: str = "NCHW",
                              intermediates_only: bool = False):
        b, _, h, w = x.shape
        take = list(range(len(self.blocks))) if indices is None else list(indices)
        t = self._pos_embed(self.patch_embed(x))
        outs = []
        for i, blk in enumerate(self.blocks):
            t = blk(t)
            if i in take:
                outs.append(t)
        gh, gw = self.patch_embed.grid_size
        outs = [o[:, 1:].reshape(b, gh, gw, -1).permute(0, 3, 1, 2) for o in outs]
        return outs if intermediates_only else (self.norm(t), outs)

    def forward_features(self, x: Tensor) -> Tensor:
        return self.norm(self.blocks(self._pos_embed(self.patch_embed(x))))

    def forward_head(self, x: Tensor, pre_logits: bool = False) -> Tensor:
        x = self.head_drop(self.fc_norm(x[:, 0]))
        return x if pre_logits else self.head(x)

    def forward(self, x: Tensor) -> Tensor:
        return self.forward_head(self.forward_features(x))


class ResNet(nn.Module):
    """timm's ResNet interface: stem ``conv1/bn1/act1/maxpool``, ``layer1..4``, ``global_pool``, ``fc``."""

    def __init__(self, in_chans: int = 3, num_classes: int = 5, width: int = 4) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(in_chans, width, 3, 2, 1)
        self.bn1, self.act1 = nn.BatchNorm2d(width), nn.ReLU()
        self.maxpool = nn.Identity()
        chans = [width, width, 2 * width, 2 * width, 4 * width]
        for i in range(4):
            stride = 1 if i == 0 else 2
            layer = nn.Sequential(nn.Conv2d(chans[i], chans[i + 1], 3, stride, 1), nn.ReLU())
            setattr(self, f"layer{i + 1}", layer)
        self.global_pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(chans[-1], num_classes)
        self.feature_info = [dict(num_chs=width, reduction=2, module="act1")] + [
            dict(num_chs=chans[i + 1], reduction=2 * 2 ** i, module=f"layer{i + 1}") for i in range(4)]

    def get_classifier(self) -> nn.Module:
        return self.fc

    def forward_intermediates(self, x: Tensor, indices=None, norm: bool = False, stop_early: bool = False,
                              output_fmt: str = "NCHW", intermediates_only: bool = False):
        take = list(range(5)) if indices is None else list(indices)
        outs = []
        x = self.act1(self.bn1(self.conv1(x)))
        if 0 in take:
            outs.append(x)
        x = self.maxpool(x)
        for i in range(4):
            x = getattr(self, f"layer{i + 1}")(x)
            if i + 1 in take:
                outs.append(x)
        return outs if intermediates_only else (x, outs)

    def forward_features(self, x: Tensor) -> Tensor:
        x = self.maxpool(self.act1(self.bn1(self.conv1(x))))
        for i in range(4):
            x = getattr(self, f"layer{i + 1}")(x)
        return x

    def forward_head(self, x: Tensor, pre_logits: bool = False) -> Tensor:
        x = self.global_pool(x).flatten(1)
        return x if pre_logits else self.fc(x)

    def forward(self, x: Tensor) -> Tensor:
        return self.forward_head(self.forward_features(x))
