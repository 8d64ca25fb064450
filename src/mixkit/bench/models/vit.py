"""``TinyViT``: a small Vision Transformer (Dosovitskiy et al., ICLR 2021) exposing attention and tokens.

"An Image is Worth 16x16 Words", https://arxiv.org/abs/2010.11929. Pre-norm encoder blocks, a learned class
token and position embedding, classification from the class token. Sized for small images (patch 4 on
28x28 or 32x32 -> a 7x7 or 8x8 patch grid). TransMix / SMMix read the attention through
``forward_with_attention``; SMMix's token losses read the patch tokens through ``forward_tokens``.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn
from torch.nn import functional as F


class SelfAttention(nn.Module):
    """Multi-head self-attention over ``[B, T, D]``; optionally also returns weights ``[B, heads, T, T]``."""

    def __init__(self, dim: int, heads: int) -> None:
        super().__init__()
        if dim % heads:
            raise ValueError(f"dim ({dim}) must be divisible by heads ({heads})")
        self.heads, self.head_dim = heads, dim // heads
        self.qkv = nn.Linear(dim, 3 * dim)
        self.proj = nn.Linear(dim, dim)

    def forward(self, x: Tensor, need_weights: bool = False) -> tuple[Tensor, Tensor | None]:
        b, t, d = x.shape
        q, k, v = self.qkv(x).view(b, t, 3, self.heads, self.head_dim).permute(2, 0, 3, 1, 4)
        if need_weights:
            attn = torch.softmax((q @ k.transpose(-2, -1)) * self.head_dim ** -0.5, dim=-1)
            out = attn @ v
        else:
            attn, out = None, F.scaled_dot_product_attention(q, k, v)
        return self.proj(out.transpose(1, 2).reshape(b, t, d)), attn


class Block(nn.Module):
    """Pre-norm transformer block: ``x + attn(ln(x))`` then ``x + mlp(ln(x))``."""

    def __init__(self, dim: int, heads: int, mlp_ratio: float) -> None:
        super().__init__()
        self.norm1 = nn.LayerNorm(dim)
        self.attn = SelfAttention(dim, heads)
        self.norm2 = nn.LayerNorm(dim)
        hidden = int(dim * mlp_ratio)
        self.mlp = nn.Sequential(nn.Linear(dim, hidden), nn.GELU(), nn.Linear(hidden, dim))

    def forward(self, x: Tensor, need_weights: bool = False) -> tuple[Tensor, Tensor | None]:
        a, attn = self.attn(self.norm1(x), need_weights)
        x = x + a
        return x + self.mlp(self.norm2(x)), attn


class TinyViT(nn.Module):
    """A small ViT classifier.

    Args:
        image_size: input height = width (must be divisible by ``patch_size``).
        patch_size: side of a square patch; ``grid_size = image_size // patch_size``, ``N = grid_size**2``.
        in_channels, num_classes, dim, depth, heads, mlp_ratio: the usual ViT sizes.

    ``forward(x)``: ``[B, C, H, W]`` -> logits ``[B, num_classes]``.
    ``forward_with_attention(x, query="cls")`` -> ``(logits, attn)`` with ``attn`` ``[B, N]`` (float), from
    the last block's softmax attention averaged over heads, patches in row-major order of the
    ``grid_size x grid_size`` grid: ``query="cls"``: the class token's attention to each patch token (its
    attention to itself dropped, as in TransMix); ``query="image"``: the attention each patch token
    receives from the patch tokens, averaged over them (SMMix's image-token attention).
    ``forward_tokens(x)`` -> ``(logits, patch_tokens [B, N, dim])`` (final-norm patch tokens) and
    ``head(tokens [..., dim])`` -> logits (the classifier, shared with the class token).
    """

    capabilities = frozenset({"attention", "tokens"})

    def __init__(self, image_size: int = 28, patch_size: int = 4, in_channels: int = 1, num_classes: int = 10,
                 dim: int = 96, depth: int = 4, heads: int = 3, mlp_ratio: float = 2.0) -> None:
        super().__init__()
        if patch_size < 1 or image_size % patch_size:
            raise ValueError(f"image_size ({image_size}) must be a positive multiple of patch_size "
                             f"({patch_size})")
        if depth < 1 or num_classes < 2:
            raise ValueError(f"TinyViT needs depth >= 1 and num_classes >= 2; got {depth}, {num_classes}")
        self.image_size, self.patch_size = image_size, patch_size
        self.grid_size = image_size // patch_size
        self.num_patches = self.grid_size ** 2
        self.in_channels, self.num_classes = in_channels, num_classes
        self.patch_embed = nn.Conv2d(in_channels, dim, patch_size, patch_size)
        self.cls_token = nn.Parameter(torch.zeros(1, 1, dim))
        self.pos_embed = nn.Parameter(torch.randn(1, self.num_patches + 1, dim) * 0.02)
        self.blocks = nn.ModuleList(Block(dim, heads, mlp_ratio) for _ in range(depth))
        self.norm = nn.LayerNorm(dim)
        self.fc = nn.Linear(dim, num_classes)

    def _tokens(self, x: Tensor) -> Tensor:
        if x.dim() != 4 or x.shape[1] != self.in_channels or x.shape[-2:] != (self.image_size,) * 2:
            s = self.image_size
            raise ValueError(f"x must have shape [B, {self.in_channels}, {s}, {s}], "
                             f"got {tuple(x.shape)}")
        t = self.patch_embed(x).flatten(2).transpose(1, 2)
        return torch.cat([self.cls_token.expand(t.shape[0], -1, -1), t], dim=1) + self.pos_embed

    def _run(self, x: Tensor, need_attention: bool) -> tuple[Tensor, Tensor, Tensor | None]:
        """Final-norm tokens ``[B, 1 + N, D]``, logits, and the last block's weights when asked."""
        t = self._tokens(x)
        attn = None
        last = len(self.blocks) - 1
        for i, block in enumerate(self.blocks):
            t, a = block(t, need_attention and i == last)
            if a is not None:
                attn = a
        t = self.norm(t)
        return t, self.fc(t[:, 0]), attn

    def forward(self, x: Tensor) -> Tensor:
        """``[B, C, H, W]`` -> logits ``[B, num_classes]``."""
        return self._run(x, False)[1]

    def forward_with_attention(self, x: Tensor, query: str = "cls") -> tuple[Tensor, Tensor]:
        """``(logits [B, num_classes], attn [B, N_patches])``; see the class docstring."""
        if query not in ("cls", "image"):
            raise ValueError(f"query must be 'cls' or 'image', got {query!r}")
        _, logits, attn = self._run(x, True)
        assert attn is not None
        return logits, attn[:, :, 0, 1:].mean(1) if query == "cls" else attn[:, :, 1:, 1:].mean((1, 2))

    def forward_tokens(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """``(logits [B, num_classes], patch_tokens [B, N_patches, dim])``."""
        t, logits, _ = self._run(x, False)
        return logits, t[:, 1:]

    def head(self, tokens: Tensor) -> Tensor:
        """The classifier on any tokens ``[..., dim]`` -> ``[..., num_classes]``."""
        return self.fc(tokens)
