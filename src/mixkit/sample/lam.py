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


def _number(value: object, name: str, expected: str) -> float:
    """``value`` as a float; ``ValueError`` naming ``name`` for a bool, a string or a non-number."""
    if isinstance(value, bool) or isinstance(value, (str, bytes)):
        raise ValueError(f"{name} must be {expected}, got {value!r}")
    if isinstance(value, Tensor):
        if value.numel() != 1:
            raise ValueError(f"{name} must be {expected}, got a tensor of shape {tuple(value.shape)}")
        value = value.item()
    try:
        return float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be {expected}, got {value!r}") from None


def check_alpha(alpha: float, name: str = "alpha") -> float:
    """Validate a Beta concentration: a finite number > 0."""
    value = _number(alpha, name, "a finite number > 0")
    if not value > 0 or value == float("inf"):
        raise ValueError(f"{name} must be a finite number > 0, got {alpha!r}")
    return value


def check_prob(prob: float, name: str = "prob") -> float:
    """Validate a probability in [0, 1]."""
    value = _number(prob, name, "a number in [0, 1]")
    if not 0.0 <= value <= 1.0:
        raise ValueError(f"{name} must be in [0, 1], got {prob!r}")
    return value


def cpu_generator(generator: torch.Generator | None) -> torch.Generator | None:
    """Check that ``generator`` is ``None`` or a ``torch.Generator`` on the CPU, where mixkit draws its O(B)
    parameters; ``TypeError`` for anything else (a seed int, a NumPy generator)."""
    if generator is None:
        return None
    if not isinstance(generator, torch.Generator):
        if isinstance(getattr(generator, "device", None), torch.device):
            device = generator.device  # a generator-like object: report where it lives
        else:
            raise TypeError(
                "generator must be a CPU torch.Generator or None (e.g. torch.Generator().manual_seed(0)), "
                f"got {type(generator).__name__} {generator!r}"
            )
    else:
        device = generator.device
    if device.type != "cpu":
        raise ValueError(
            "generator must be a CPU torch.Generator: mixkit draws its per-batch parameters (lambda, "
            "partners, boxes) on the host and copies them asynchronously; got a generator on "
            f"{device}"
        )
    return generator


def sample_beta(alpha: float, n: int, generator: torch.Generator | None = None,
                beta: float | None = None) -> Tensor:
    """Draw ``n`` samples of ``Beta(alpha, beta)`` (``beta`` defaults to ``alpha``) as float32 on the CPU.

    Every mixer draws its Beta variates here. Correct for any finite concentration > 0:

    * ``min(alpha, beta) >= 1``: the two-gamma construction ``G_a / (G_a + G_b)`` through
      ``torch._sample_dirichlet`` (follows ``generator``); no gamma draw of shape >= 1 underflows.
    * otherwise the draw is computed in log space: ``G_a = G'_a * U^(1/alpha)`` with
      ``G'_a ~ Gamma(alpha + 1)`` (Marsaglia and Tsang's boost), so
      ``lam = sigmoid(log G_a - log G_b)`` never divides zero by zero. Tiny concentrations therefore give the
      law's own limit, a coin between 0 and 1 (``P(1) = alpha / (alpha + beta)``), never a spurious 0.5.

    Large concentrations concentrate at ``alpha / (alpha + beta)`` as they should. ``n`` is an int >= 0.
    """
    a = check_alpha(alpha)
    b = a if beta is None else check_alpha(beta, "beta")
    if isinstance(n, bool) or not isinstance(n, int) or n < 0:
        raise ValueError(f"n must be an int >= 0, got {n!r}")
    cpu_generator(generator)
    if min(a, b) >= 1.0:
        conc = torch.tensor([a, b], dtype=torch.float64).expand(n, 2).contiguous()
        draws = torch._sample_dirichlet(conc, generator=generator)[:, 0]
        return draws.clamp_(0.0, 1.0).to(torch.float32)
    conc = torch.tensor([a + 1.0, b + 1.0], dtype=torch.float64).expand(n, 2).contiguous()
    boosted = torch._sample_dirichlet(conc, generator=generator)  # [n, 2]: G'_a, G'_b up to a common scale
    # E = -log U with U uniform on (0, 1]; log G = log G' - E / concentration
    e = -torch.log1p(-torch.rand(n, 2, generator=generator, dtype=torch.float64))
    shape = torch.tensor([a, b], dtype=torch.float64)
    log_g = torch.log(boosted) - e / shape
    diff = log_g[:, 0] - log_g[:, 1]
    lam = torch.sigmoid(diff)
    both_inf = torch.isnan(diff)  # both log-gammas -inf (subnormal concentrations): the limiting coin
    if bool(both_inf.any()):
        coin = (e[:, 0] * b < e[:, 1] * a).to(torch.float64)
        lam = torch.where(both_inf, coin, lam)
    return lam.clamp_(0.0, 1.0).to(torch.float32)


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
