"""The ``"attention"`` model capability read by TransMix and SMMix, and :class:`AttentionCapture`, which
gives any ViT that capability through a forward hook.

A model with the capability offers

* ``forward_with_attention(x) -> (logits [B, K], cls_attn [B, N])``: the class token's attention to the ``N``
  patch tokens (last block, averaged over heads, class token's self-attention dropped, patches in row-major
  order of the patch grid); SMMix also calls ``forward_with_attention(x, query="image")`` for the attention
  each patch token receives from the patch tokens (averaged over heads and querying patches);
* ``patch_size`` (int) and ``grid_size`` (int or ``(gh, gw)``) attributes.

SMMix's token losses also read the ``"tokens"`` capability: ``forward_tokens(x) -> (logits [B, K],
patch_tokens [B, N, D])`` and ``head(tokens [..., D]) -> logits [..., K]``.

``mixkit.bench.models.TinyViT`` has all three. timm ViTs need no wrapper: TransMix and SMMix read their last
block's attention and tokens through :class:`mixkit.sample.model_capabilities.TimmViTAdapter`. For another
ViT, wrap it in :class:`AttentionCapture`.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

__all__ = ["AttentionCapture", "attention_grid", "check_cls_attention"]


def attention_grid(model: nn.Module) -> tuple[int, int, int]:
    """``(patch_size, gh, gw)`` of an attention-capable model, or a ``TypeError`` naming what is missing."""
    if not callable(getattr(model, "forward_with_attention", None)) or not hasattr(model, "patch_size") \
            or not hasattr(model, "grid_size"):
        raise TypeError(
            f"{type(model).__name__} lacks the 'attention' capability: it needs forward_with_attention(x) -> "
            "(logits [B, K], cls_attn [B, N_patches]) and patch_size / grid_size attributes "
            "(see mixkit.sample.AttentionCapture)")
    g = model.grid_size
    gh, gw = (g, g) if isinstance(g, int) else (int(g[0]), int(g[1]))
    return int(model.patch_size), gh, gw


def check_cls_attention(cls_attn: Tensor, n: int, num_patches: int) -> Tensor:
    """``cls_attn`` must be ``[n, num_patches]``; half precision is upcast to float32."""
    if not isinstance(cls_attn, Tensor) or cls_attn.shape != (n, num_patches):
        raise ValueError(f"cls_attn must have shape [B, N_patches] = [{n}, {num_patches}], got "
                         f"{tuple(getattr(cls_attn, 'shape', ())) or type(cls_attn).__name__}")
    return cls_attn.float() if cls_attn.dtype in (torch.float16, torch.bfloat16) else cls_attn


class AttentionCapture(nn.Module):
    """Give any ViT the ``"attention"`` capability by hooking the module that emits its attention weights.

    ``AttentionCapture(model, weights_module, patch_size, grid_size, num_prefix_tokens=1)`` wraps ``model``;
    ``weights_module`` is the sub-module whose *output* is the last block's softmax attention
    ``[B, heads, T, T]`` (for timm ViTs: ``model.blocks[-1].attn.attn_drop`` after setting
    ``model.blocks[-1].attn.fused_attn = False``; in a hand-written ViT, any ``nn.Dropout``/``nn.Identity``
    applied to the softmax). ``forward(x)`` is the model's; ``forward_with_attention(x)`` returns
    ``(logits, cls_attn [B, N])`` with ``cls_attn = w[:, :, 0, num_prefix_tokens:].mean(1)`` (the class
    token's attention to the patch tokens, averaged over heads); ``forward_with_attention(x, query="image")``
    gives ``w[:, :, p:, p:].mean((1, 2))`` with ``p = num_prefix_tokens`` (SMMix's image-token attention).
    The wrapper holds no tensor between calls.
    """

    capabilities = frozenset({"attention"})

    def __init__(self, model: nn.Module, weights_module: nn.Module, patch_size: int,
                 grid_size: int | tuple[int, int], num_prefix_tokens: int = 1) -> None:
        super().__init__()
        if not isinstance(weights_module, nn.Module):
            raise TypeError("weights_module must be the nn.Module whose output is the attention weights")
        if not isinstance(num_prefix_tokens, int) or num_prefix_tokens < 1:
            raise ValueError(f"num_prefix_tokens must be an int >= 1 (the class token first), got "
                             f"{num_prefix_tokens!r}")
        self.model, self.patch_size, self.grid_size = model, int(patch_size), grid_size
        self.num_prefix_tokens = num_prefix_tokens
        self._captured: list[Tensor] = []
        self._recording = False
        weights_module.register_forward_hook(self._hook)

    def _hook(self, module: nn.Module, args: object, output: Tensor) -> None:
        if self._recording:
            self._captured.append(output)

    def forward(self, x: Tensor) -> Tensor:
        """The wrapped model's output."""
        return self.model(x)

    def forward_with_attention(self, x: Tensor, query: str = "cls") -> tuple[Tensor, Tensor]:
        """``(logits, attn [B, N])`` from one forward pass of the wrapped model (``query``: ``"cls"`` or
        ``"image"``)."""
        if query not in ("cls", "image"):
            raise ValueError(f"query must be 'cls' or 'image', got {query!r}")
        self._recording, self._captured = True, []
        try:
            logits = self.model(x)
        finally:
            self._recording = False
        if not self._captured:
            raise RuntimeError("weights_module did not run during the forward pass (for timm ViTs set "
                               "blocks[-1].attn.fused_attn = False so the attention weights exist)")
        w = self._captured[-1]
        self._captured = []
        if w.dim() != 4 or w.shape[-1] != w.shape[-2]:
            raise ValueError("weights_module must output attention weights [B, heads, T, T], got "
                             f"{tuple(w.shape)}")
        p = self.num_prefix_tokens
        return logits, w[:, :, 0, p:].mean(1) if query == "cls" else w[:, :, p:, p:].mean((1, 2))

    def extra_repr(self) -> str:
        return (f"patch_size={self.patch_size}, grid_size={self.grid_size}, "
                f"num_prefix_tokens={self.num_prefix_tokens}")
