"""A byte-level GPT-style decoder (Radford et al. 2018/2019 architecture, pre-LayerNorm, learned positions)
sized ~100K to a few M parameters so proxy runs and online-mixing comparisons fit on a 2-core CPU."""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn


@dataclass(frozen=True)
class ByteGPTConfig:
    """Model size. ``d_model`` must be divisible by ``n_head``. Defaults give ~0.1M parameters."""

    seq_len: int = 64
    d_model: int = 64
    n_layer: int = 2
    n_head: int = 4
    vocab_size: int = 256
    dropout: float = 0.0

    def __post_init__(self) -> None:
        for field in ("seq_len", "d_model", "n_layer", "n_head", "vocab_size"):
            value = getattr(self, field)
            if not isinstance(value, int) or value < 1:
                raise ValueError(f"{field} must be a positive int, got {value!r}")
        if self.d_model % self.n_head:
            raise ValueError(f"d_model ({self.d_model}) must be divisible by n_head ({self.n_head})")


class _Block(nn.Module):
    def __init__(self, cfg: ByteGPTConfig):
        super().__init__()
        self.n_head = cfg.n_head
        self.ln1 = nn.LayerNorm(cfg.d_model)
        self.qkv = nn.Linear(cfg.d_model, 3 * cfg.d_model)
        self.proj = nn.Linear(cfg.d_model, cfg.d_model)
        self.ln2 = nn.LayerNorm(cfg.d_model)
        self.mlp = nn.Sequential(
            nn.Linear(cfg.d_model, 4 * cfg.d_model), nn.GELU(), nn.Linear(4 * cfg.d_model, cfg.d_model)
        )
        self.dropout = cfg.dropout

    def forward(self, x: Tensor) -> Tensor:
        b, t, c = x.shape
        q, k, v = self.qkv(self.ln1(x)).view(b, t, 3, self.n_head, c // self.n_head).permute(2, 0, 3, 1, 4)
        att = F.scaled_dot_product_attention(
            q, k, v, is_causal=True, dropout_p=self.dropout if self.training else 0.0
        )
        x = x + self.proj(att.transpose(1, 2).reshape(b, t, c))
        return x + self.mlp(self.ln2(x))


class ByteGPT(nn.Module):
    """Causal byte language model.

    ``forward(tokens)``: ``tokens`` int64 ``[B, T]`` (T <= seq_len) -> logits float ``[B, T, 256]``.
    ``token_losses(chunks)``: ``chunks`` int64 ``[B, T + 1]`` -> next-byte cross-entropy ``[B]`` (nats/byte,
    averaged over positions), the per-sequence loss the mixing methods aggregate per domain.
    """

    def __init__(self, cfg: ByteGPTConfig | None = None):
        super().__init__()
        self.cfg = cfg or ByteGPTConfig()
        self.tok = nn.Embedding(self.cfg.vocab_size, self.cfg.d_model)
        self.pos = nn.Parameter(torch.zeros(self.cfg.seq_len, self.cfg.d_model))
        self.blocks = nn.ModuleList(_Block(self.cfg) for _ in range(self.cfg.n_layer))
        self.ln_f = nn.LayerNorm(self.cfg.d_model)
        self.head = nn.Linear(self.cfg.d_model, self.cfg.vocab_size, bias=False)
        nn.init.normal_(self.pos, std=0.02)

    def forward(self, tokens: Tensor) -> Tensor:
        t = tokens.shape[1]
        if t > self.cfg.seq_len:
            raise ValueError(f"tokens has length {t}, longer than seq_len={self.cfg.seq_len}")
        x = self.tok(tokens) + self.pos[:t]
        for block in self.blocks:
            x = block(x)
        return self.head(self.ln_f(x))

    def token_losses(self, chunks: Tensor) -> Tensor:
        """Mean next-byte cross-entropy per sequence, float ``[B]``."""
        logits = self(chunks[:, :-1])
        ce = F.cross_entropy(
            logits.reshape(-1, logits.shape[-1]), chunks[:, 1:].reshape(-1), reduction="none"
        )
        return ce.view(chunks.shape[0], -1).mean(dim=1)

    def num_parameters(self) -> int:
        """Total parameter count."""
        return sum(p.numel() for p in self.parameters())
