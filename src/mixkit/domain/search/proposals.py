"""Candidate mixtures for a RegMix-style search (Liu et al. 2024, "RegMix: Data Mixture as Regression for
Language Model Pre-training", https://arxiv.org/abs/2407.01492).

Mixtures are Dirichlet draws around a tempered token-distribution prior ``prior_i ~ n_i ** tau``, at
several concentrations (sparse to near-prior), rejecting any mixture that would repeat a domain more
than ``max_epochs`` times within the training budget (``w_i * total_tokens <= max_epochs * n_i``).
Mixtures are ``dict[str, float]`` on the simplex; internally ``float64`` NumPy arrays ``[N, K]``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np


def check_token_sizes(sizes: Mapping[str, int]) -> tuple[list[str], np.ndarray]:
    """Domain names and their token counts (``float64 [K]``) from ``sizes``; at least 2, all finite > 0."""
    if not isinstance(sizes, Mapping) or len(sizes) < 2:
        raise ValueError(f"sizes must map at least 2 domain names to token counts, got {sizes!r}")
    names = list(sizes)
    arr = np.array([float(sizes[n]) for n in names])
    if not np.all(np.isfinite(arr)) or np.any(arr <= 0):
        raise ValueError(f"sizes must be finite and > 0, got {dict(sizes)}")
    return names, arr


def token_prior(sizes: Mapping[str, int], temperature: float = 0.5) -> dict[str, float]:
    """Tempered token distribution ``n_i ** temperature / sum`` (1: proportional, 0: uniform)."""
    names, n = check_token_sizes(sizes)
    if not (0 <= temperature <= 1):
        raise ValueError(f"temperature must be in [0, 1], got {temperature!r}")
    p = n**temperature
    return dict(zip(names, (p / p.sum()).tolist()))


def repetition_caps(sizes: Mapping[str, int], total_tokens: float, max_epochs: float) -> dict[str, float]:
    """Largest weight of each domain that repeats it at most ``max_epochs`` times in ``total_tokens``."""
    names, n = check_token_sizes(sizes)
    if not (total_tokens > 0 and max_epochs > 0):
        raise ValueError(f"total_tokens and max_epochs must be > 0, got {total_tokens!r}, {max_epochs!r}")
    caps = np.minimum(1.0, max_epochs * n / float(total_tokens))
    if caps.sum() < 1.0:
        raise ValueError(
            f"no mixture fits: the domains hold {n.sum():.0f} tokens, {max_epochs} epochs cover "
            f"{max_epochs * n.sum():.0f} < total_tokens={total_tokens:.0f}; raise max_epochs or add data"
        )
    return dict(zip(names, caps.tolist()))


def project_to_caps(w: np.ndarray, caps: np.ndarray) -> np.ndarray:
    """Clip rows of ``w [N, K]`` to ``caps`` and hand the excess to unclipped domains pro rata."""
    w = w.copy()
    for _ in range(len(caps) + 1):
        over = w > caps
        if not over.any():
            break
        excess = np.where(over, w - caps, 0.0).sum(axis=1, keepdims=True)
        w = np.minimum(w, caps)
        room = np.where(w < caps, w + 1e-12, 0.0)
        w = w + excess * room / room.sum(axis=1, keepdims=True)
    return w / w.sum(axis=1, keepdims=True)


def propose_mixtures(
    sizes: Mapping[str, int],
    n: int,
    total_tokens: float,
    max_epochs: float = 4.0,
    temperature: float = 0.5,
    concentrations: Sequence[float] = (0.1, 0.3, 1.0, 3.0),
    seed: int = 0,
) -> list[dict[str, float]]:
    """``n`` mixtures drawn ``Dirichlet(c * prior)`` with ``c`` cycling over ``concentrations``,
    rejecting draws that break the repetition caps (after 50 tries a draw is projected onto the caps)."""
    if not isinstance(n, int) or n < 1:
        raise ValueError(f"n must be a positive int, got {n!r}")
    names = list(sizes)
    arr = proposal_array(sizes, n, total_tokens, max_epochs, temperature, concentrations, seed)
    return [dict(zip(names, row.tolist())) for row in arr]


def proposal_array(sizes: Mapping[str, int], n: int, total_tokens: float, max_epochs: float,
                   temperature: float, concentrations: Sequence[float], seed: int) -> np.ndarray:
    """:func:`propose_mixtures` as a ``float64 [n, K]`` array (rows in the order of ``sizes``)."""
    names, _ = check_token_sizes(sizes)
    prior = np.array(list(token_prior(sizes, temperature).values()))
    caps = np.array(list(repetition_caps(sizes, total_tokens, max_epochs).values()))
    if not concentrations or any(not c > 0 for c in concentrations):
        raise ValueError(f"concentrations must be positive numbers, got {concentrations!r}")
    rng = np.random.default_rng(seed)
    out = np.empty((n, len(names)))
    conc = np.array([concentrations[i % len(concentrations)] for i in range(n)])
    pending = np.arange(n)
    for _ in range(50):
        alpha = np.maximum(conc[pending, None] * prior[None, :] * len(names), 1e-3)
        draws = np.array([rng.dirichlet(a) for a in alpha])
        ok = np.all(draws <= caps + 1e-12, axis=1)
        out[pending[ok]] = draws[ok]
        pending = pending[~ok]
        if pending.size == 0:
            break
    if pending.size:
        alpha = np.maximum(conc[pending, None] * prior[None, :] * len(names), 1e-3)
        out[pending] = project_to_caps(np.array([rng.dirichlet(a) for a in alpha]), caps)
    return out

