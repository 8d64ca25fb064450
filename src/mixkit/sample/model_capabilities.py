"""The model capabilities that model-aware mixers read, found by what a model exposes.

Two protocols are understood, so mixkit's reference models, user models written to mixkit's protocol and timm
models taken as they are all work:

* ``features``: mixkit's ``forward_features(x) -> [B, C, h, w]`` and ``head(features) -> logits``; or timm's
  ``forward_features(x)`` then ``forward_head(features)``, a ViT's tokens ``[B, T, D]`` laid out as the
  patch-grid map ``[B, D, gh, gw]`` (prefix tokens dropped).
* stages (AutoMix's ``mask_layer``): mixkit's ``forward_stages(x) -> [stage maps]``; or timm's
  ``forward_intermediates(x, indices=[i], intermediates_only=True)``, stage ``s`` being the ``feature_info``
  entry ``s`` after the stem entries (module names starting ``stem``, ``act``, ``bn``, ``conv``, ``norm``).
* ``attention``: mixkit's ``forward_with_attention(x)``, ``patch_size``, ``grid_size``; or a timm ViT with
  ``blocks[-1].attn`` (``fused_attn``, ``attn_drop``), ``patch_embed`` and ``num_prefix_tokens``, read
  through :class:`TimmViTAdapter`.
* ``tokens`` (SMMix's token loss): mixkit's ``forward_tokens(x)`` and ``head(tokens)``; or the same timm ViT's
  ``forward_features`` tokens and ``get_classifier()``.

mixkit's protocol is checked first, except for the logits: ``forward_head`` is used wherever it exists (a
timm ViT also has a ``head``, its last ``Linear``, which expects pooled features). The timm side follows
timm's own API (``timm/models/vision_transformer.py``: ``forward_features``,
``forward_head(x, pre_logits=False)``, ``forward_intermediates``; ``timm/utils/attention_extract.py``: the
softmax attention is the output of each block's ``attn.attn_drop`` once ``fused_attn`` is off). timm itself
is not imported.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from torch import Tensor, nn

__all__ = ["TimmViTAdapter", "attention_model", "capabilities", "classify", "feature_map", "is_timm_vit",
           "stage_map", "tokens_model"]

_STEM_PREFIXES = ("stem", "act", "bn", "conv", "norm")


def _callable(model: object, name: str) -> bool:
    return callable(getattr(model, name, None))


def _pair(value: Any) -> tuple[int, int]:
    if isinstance(value, int):
        return value, value
    return int(value[0]), int(value[1])


def is_timm_vit(model: nn.Module) -> bool:
    """True for a timm-shaped ViT: ``patch_embed.patch_size``, ``num_prefix_tokens``, ``blocks`` whose last
    block has ``attn.attn_drop`` and ``attn.fused_attn``, and ``forward_features``/``forward_head``."""
    blocks = getattr(model, "blocks", None)
    patch = getattr(model, "patch_embed", None)
    if blocks is None or patch is None or not hasattr(patch, "patch_size") \
            or not hasattr(model, "num_prefix_tokens"):
        return False
    try:
        attn = blocks[-1].attn
    except (TypeError, IndexError, AttributeError):
        return False
    return (isinstance(getattr(attn, "attn_drop", None), nn.Module) and hasattr(attn, "fused_attn")
            and _callable(model, "forward_features") and _callable(model, "forward_head"))


def capabilities(model: nn.Module) -> frozenset[str]:
    """The capabilities ``model`` offers (``features``, ``attention``, ``tokens``), by either protocol, plus
    any it declares in a ``capabilities`` attribute."""
    caps = set(getattr(model, "capabilities", ()))
    if _callable(model, "forward_features") and (_callable(model, "head")
                                                 or _callable(model, "forward_head")):
        caps.add("features")
    if _callable(model, "forward_with_attention") and hasattr(model, "patch_size") \
            and hasattr(model, "grid_size"):
        caps.add("attention")
    if _callable(model, "forward_tokens") and _callable(model, "head"):
        caps.add("tokens")
    if is_timm_vit(model):
        caps.add("attention")
        caps.add("tokens")
    return frozenset(caps)


def tokens_as_map(model: nn.Module, tokens: Tensor, x: Tensor) -> Tensor:
    """A ViT's tokens ``[B, T, D]`` as the patch-grid map ``[B, D, gh, gw]`` (its ``num_prefix_tokens``
    dropped; the grid from the input size and ``patch_embed.patch_size``)."""
    p = int(getattr(model, "num_prefix_tokens", 0))
    patch = getattr(getattr(model, "patch_embed", None), "patch_size", None)
    if patch is None:
        raise ValueError("forward_features returned tokens [B, T, D] but the model has no "
                         "patch_embed.patch_size to lay them out as a grid")
    ph, pw = _pair(patch)
    gh, gw = x.shape[-2] // ph, x.shape[-1] // pw
    n, t, d = tokens.shape
    if t - p != gh * gw:
        raise ValueError(f"forward_features returned {t} tokens; {p} prefix tokens + a {gh}x{gw} patch grid "
                         f"expected for an input of {tuple(x.shape[-2:])} with patches of {ph}x{pw}")
    return tokens[:, p:].transpose(1, 2).reshape(n, d, gh, gw)


def feature_map(model: nn.Module, x: Tensor) -> Tensor:
    """The feature map ``[B, C, h, w]`` of ``x``: ``model.forward_features(x)``, with a ViT's tokens laid out
    on the patch grid. A ``TypeError`` names what is missing; a ``ValueError`` describes a wrong shape."""
    fn = getattr(model, "forward_features", None)
    if not callable(fn):
        raise TypeError(f"this mixer needs a model with forward_features(x) -> [B, C, h, w] (requires "
                        f"{{'features'}}); {type(model).__name__} has none")
    feats = fn(x)
    if isinstance(feats, Tensor) and feats.dim() == 3 and feats.shape[0] == x.shape[0] \
            and hasattr(model, "patch_embed"):
        feats = tokens_as_map(model, feats, x)
    if not isinstance(feats, Tensor) or feats.dim() != 4 or feats.shape[0] != x.shape[0]:
        shape = tuple(feats.shape) if isinstance(feats, Tensor) else type(feats).__name__
        raise ValueError(f"forward_features must return a feature map [B, C, h, w] with B = {x.shape[0]}, "
                         f"got {shape}")
    return feats


def head_logits(model: nn.Module, feats: Tensor) -> Tensor:
    """Logits ``[B, K]`` from features ``model.forward_features`` already returned: timm's
    ``forward_head(feats)`` or mixkit's ``head(feats)``."""
    if _callable(model, "forward_head"):
        return model.forward_head(feats)
    head = getattr(model, "head", None)
    if not callable(head):
        raise TypeError(f"this mixer needs a model with head(features) -> logits or timm's forward_head; "
                        f"{type(model).__name__} has neither")
    return head(feats)


def classify(model: nn.Module, x: Tensor) -> Tensor:
    """Logits ``[B, K]`` through the model's features: ``forward_head(forward_features(x))`` (timm) or
    ``head(forward_features(x))`` (mixkit's protocol)."""
    if _callable(model, "forward_head") and _callable(model, "forward_features"):
        return model.forward_head(model.forward_features(x))
    head = getattr(model, "head", None)
    if not callable(head):
        raise TypeError(f"this mixer needs a model with head(features) -> logits or timm's forward_head; "
                        f"{type(model).__name__} has neither")
    return head(feature_map(model, x))


def _stem_entries(info: Any) -> int:
    """How many leading ``feature_info`` entries are the stem (module names like ``act1``, ``stem.*``)."""
    count = 0
    for entry in info:
        module = str(entry.get("module", "")) if isinstance(entry, dict) else ""
        if not module.startswith(_STEM_PREFIXES):
            break
        count += 1
    return count


def stage_map(model: nn.Module, x: Tensor, layer: int) -> Tensor | None:
    """Stage ``layer``'s map ``[B, C, h, w]`` (0-based): ``forward_stages(x)[layer]``, else timm's
    ``forward_intermediates`` at the ``feature_info`` entry ``layer`` after the stem; ``None`` when the model
    has neither (the caller then reads :func:`feature_map`)."""
    if _callable(model, "forward_stages"):
        stages = model.forward_stages(x)
        if not 0 <= layer < len(stages):
            raise ValueError(f"mask_layer={layer} but forward_stages returned {len(stages)} stages")
        feats = stages[layer]
        where = "forward_stages"
    elif _callable(model, "forward_intermediates"):
        info = getattr(model, "feature_info", None)
        index = layer + (_stem_entries(info) if isinstance(info, (list, tuple)) else 0)
        if isinstance(info, (list, tuple)) and not 0 <= index < len(info):
            raise ValueError(f"mask_layer={layer} but the model has {len(info) - _stem_entries(info)} stages "
                             "after its stem (feature_info)")
        feats = model.forward_intermediates(x, indices=[index], intermediates_only=True)[0]
        where = "forward_intermediates"
    else:
        return None
    if isinstance(feats, Tensor) and feats.dim() == 3 and hasattr(model, "patch_embed"):
        feats = tokens_as_map(model, feats, x)
    if not isinstance(feats, Tensor) or feats.dim() != 4 or feats.shape[0] != x.shape[0]:
        raise ValueError(f"{where} must return feature maps [B, C, h, w]; stage {layer} is "
                         f"{tuple(feats.shape) if isinstance(feats, Tensor) else type(feats).__name__}")
    return feats


class TimmViTAdapter(nn.Module):
    """The ``attention`` and ``tokens`` capabilities of a timm-shaped ViT taken as it is.

    ``forward_with_attention(x, query="cls")`` runs the model once with its last block's ``fused_attn`` off
    and a forward hook on that block's ``attn.attn_drop`` (where timm's ``AttentionExtract`` reads the
    softmax attention ``[B, heads, T, T]``), both undone afterwards, and returns ``(logits, attn [B, N])``:
    ``query="cls"``: ``w[:, :, 0, p:].mean(1)``, the class token's attention to the patches; ``"image"``:
    ``w[:, :, p:, p:].mean((1, 2))``, with ``p = num_prefix_tokens``. In training mode with attention dropout
    the weights are read after the dropout, as timm's hook. ``forward_tokens(x)`` returns ``(logits,
    patch_tokens [B, N, D])`` from one ``forward_features``; ``head`` is ``get_classifier()`` (else ``head``).
    ``patch_size`` and ``grid_size`` come from ``patch_embed``. The adapter holds no hook between calls;
    ``train()``/``eval()`` reach the wrapped model.
    """

    capabilities = frozenset({"attention", "tokens"})

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        if not is_timm_vit(model):
            raise TypeError(f"{type(model).__name__} is not a timm-shaped ViT (needs "
                            "patch_embed.patch_size, num_prefix_tokens, blocks[-1].attn with attn_drop and "
                            "fused_attn, forward_features and forward_head)")
        self.model = model
        self.train(model.training)
        ph, pw = _pair(model.patch_embed.patch_size)
        if ph != pw:
            raise ValueError(f"model: square patches are needed, got {ph}x{pw}")
        self.patch_size = ph
        grid = getattr(model.patch_embed, "grid_size", None)
        if grid is None:
            raise ValueError("model: patch_embed.grid_size is needed (the patch grid of the training size)")
        self.grid_size = _pair(grid)
        self.num_prefix_tokens = int(model.num_prefix_tokens)

    def forward(self, x: Tensor) -> Tensor:
        """The wrapped model's logits."""
        return self.model(x)

    def forward_with_attention(self, x: Tensor, query: str = "cls") -> tuple[Tensor, Tensor]:
        """``(logits, attn [B, N])`` from one forward pass; see the class docstring."""
        if query not in ("cls", "image"):
            raise ValueError(f"query must be 'cls' or 'image', got {query!r}")
        p = self.num_prefix_tokens
        if query == "cls" and p < 1:
            raise ValueError("query='cls' needs a class token; this model has num_prefix_tokens = 0")
        attn = self.model.blocks[-1].attn
        captured: list[Tensor] = []
        handle = attn.attn_drop.register_forward_hook(lambda m, a, out: captured.append(out))
        fused = attn.fused_attn
        attn.fused_attn = False
        try:
            logits = self.model(x)
        finally:
            attn.fused_attn = fused
            handle.remove()
        if not captured:
            raise RuntimeError("the last block's attn.attn_drop did not run during the forward pass")
        w = captured[-1]
        if w.dim() != 4 or w.shape[-1] != w.shape[-2]:
            raise ValueError("attn.attn_drop must output attention weights [B, heads, T, T], got "
                             f"{tuple(w.shape)}")
        return logits, w[:, :, 0, p:].mean(1) if query == "cls" else w[:, :, p:, p:].mean((1, 2))

    def forward_tokens(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """``(logits [B, K], patch_tokens [B, N, D])`` from one ``forward_features``."""
        tokens = self.model.forward_features(x)
        return self.model.forward_head(tokens), tokens[:, self.num_prefix_tokens:]

    def head(self, tokens: Tensor) -> Tensor:
        """The classifier on features ``[..., D]``: ``get_classifier()`` (timm), else the model's ``head``."""
        get: Callable[[], nn.Module] | None = getattr(self.model, "get_classifier", None)
        classifier = get() if callable(get) else self.model.head
        return classifier(tokens)

    def extra_repr(self) -> str:
        return (f"patch_size={self.patch_size}, grid_size={self.grid_size}, "
                f"num_prefix_tokens={self.num_prefix_tokens}")


def attention_model(model: nn.Module) -> nn.Module:
    """``model`` itself when it has the ``attention`` capability by mixkit's protocol, a
    :class:`TimmViTAdapter` for a timm-shaped ViT, else ``model`` (the caller's check names what is
    missing)."""
    if _callable(model, "forward_with_attention") and hasattr(model, "patch_size") \
            and hasattr(model, "grid_size"):
        return model
    if is_timm_vit(model):
        return TimmViTAdapter(model)
    return model


def tokens_model(model: nn.Module) -> nn.Module:
    """``model`` when it has ``forward_tokens`` and ``head``, a :class:`TimmViTAdapter` for a timm ViT, else
    ``model``."""
    if _callable(model, "forward_tokens") and _callable(model, "head"):
        return model
    if is_timm_vit(model):
        return TimmViTAdapter(model)
    return model

