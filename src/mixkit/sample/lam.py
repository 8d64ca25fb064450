"""Mixing-coefficient sampling: ``lam ~ Beta(alpha, alpha)`` drawn once per batch, pair or element.

Mixing parameters are O(B) scalars. mixkit draws them from an explicit CPU ``torch.Generator`` (so that a
seeded run is reproducible bit for bit on any device) and ships them to the data's device with one small
asynchronous copy; the per-pixel work then runs on the data's device without a host synchronisation.
"""

from __future__ import annotations

from typing import Literal

import torch
from torch import Tensor

Mode = Literal["batch", "pair", "elem"]
_MODE_ALIASES = {
    "batch": "batch",
    "pair": "pair",
    "elem": "elem",
    "element": "elem",
    "sample": "elem",
}


def check_mode(mode: str) -> Mode:
    """Return the canonical mode name or raise ``ValueError`` naming the accepted ones."""
    try:
        return _MODE_ALIASES[mode]  # type: ignore[return-value]
    except (KeyError, TypeError):
        raise ValueError(
            f"mode must be one of 'batch', 'pair', 'elem' (aliases 'element', 'sample'); got {mode!r}"
        ) from None


def check_alpha(alpha: float, name: str = "alpha") -> float:
    """Validate a Beta concentration: a finite number > 0."""
    try:
        value = float(alpha)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a number > 0, got {alpha!r}") from None
    if not value > 0 or value == float("inf"):
        raise ValueError(f"{name} must be a finite number > 0, got {alpha!r}")
    return value


def check_prob(prob: float, name: str = "prob") -> float:
    """Validate a probability in [0, 1]."""
    try:
        value = float(prob)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a number in [0, 1], got {prob!r}") from None
    if not 0.0 <= value <= 1.0:
        raise ValueError(f"{name} must be in [0, 1], got {prob!r}")
    return value


def cpu_generator(generator: torch.Generator | None) -> torch.Generator | None:
    """Check that ``generator`` (if given) lives on the CPU, where mixkit draws its O(B) parameters."""
    if generator is not None and generator.device.type != "cpu":
        raise ValueError(
            "generator must be a CPU torch.Generator: mixkit draws its per-batch parameters (lambda, "
            "partners, boxes) on the host and copies them asynchronously; got a generator on "
            f"{generator.device}"
        )
    return generator


def sample_beta(alpha: float, n: int, generator: torch.Generator | None = None,
                beta: float | None = None) -> Tensor:
    """Draw ``n`` samples of ``Beta(alpha, beta)`` (``beta`` defaults to ``alpha``) as float32 on the CPU.

    Uses the two-gamma construction through ``torch._sample_dirichlet`` so the draw follows ``generator``.
    For tiny concentrations both gamma draws can underflow to zero; such a draw is replaced by the limit
    of the distribution (a fair coin between 0 and 1), never returned as NaN.
    """
    a = check_alpha(alpha)
    b = a if beta is None else check_alpha(beta, "beta")
    conc = torch.tensor([a, b], dtype=torch.float64).expand(n, 2).contiguous()
    draws = torch._sample_dirichlet(conc, generator=generator)[:, 0]
    bad = ~torch.isfinite(draws)
    if bool(bad.any()):
        coin = (torch.rand(n, generator=generator, dtype=torch.float64) < 0.5).to(torch.float64)
        draws = torch.where(bad, coin, draws)
    return draws.clamp_(0.0, 1.0).to(torch.float32)


def sample_lam(
    alpha: float,
    index: Tensor,
    mode: Mode,
    generator: torch.Generator | None = None,
    beta: float | None = None,
) -> Tensor:
    """Draw the per-row mixing weight ``lam`` ([B] float32, CPU) for a batch paired by ``index``.

    * ``batch``: one draw shared by every row.
    * ``pair``: one draw per unordered pair ``{i, index[i]}`` when the pairing is an involution (flip),
      else one per row; both members of a pair keep the same share of themselves.
    * ``elem``: one independent draw per row.
    """
    n = index.numel()
    if mode == "batch":
        return sample_beta(alpha, 1, generator, beta).expand(n).contiguous()
    draws = sample_beta(alpha, n, generator, beta)
    if mode == "pair":
        owner = torch.minimum(torch.arange(n), index.cpu())
        return draws[owner]
    return draws


def sample_active(prob: float, index: Tensor, mode: Mode, generator: torch.Generator | None) -> Tensor | None:
    """Which rows are mixed ([B] bool on the CPU), or ``None`` when every row is (``prob == 1``).

    In ``pair`` mode both members of a pair are switched on or off together.
    """
    if prob >= 1.0:
        return None
    n = index.numel()
    active = torch.rand(n, generator=generator) < prob
    if mode == "pair":
        owner = torch.minimum(torch.arange(n), index.cpu())
        active = active[owner]
    return active
