"""Candidate mixtures for a RegMix search (Liu et al. 2024, "RegMix: Data Mixture as Regression for Language
Model Pre-training", https://arxiv.org/abs/2407.01492; release: github.com/sail-sg/regmix,
``mixture_config/synthesize_mixture.py`` for the proxy mixtures, ``regression_fitting/regression.ipynb``
for the candidates scored by the regressor).

Proxy mixtures (``scheme="regmix"``, the release's rule, the default):

1. prior = token distribution tempered by ``temperature`` (``n_i ** 0.5``, normalised; release ``TEMP``);
2. each draw picks a strength ``s`` uniformly among ``n_strengths`` values log-spaced over
   ``[min_strength, max_strength]`` (release: 15 values over [0.1, 5.0]) and draws ``Dirichlet(prior * s)``:
   the concentrations sum to ``s``, so most draws put nearly all weight on a few domains;
3. a draw is rejected when a domain exceeds its repetition cap;
4. weights below ``minimum`` become 0 (release ``MINIMUM = 2e-4``), the row is renormalised and rounded to
   multiples of ``minimum``;
5. ``n * pool_multiplier`` draws are made (release ``SAMPLE_MULTIPLIER = 100``), duplicates removed, and
   ``n`` of the distinct accepted mixtures are chosen uniformly without replacement.

Deviations (one line each): the caps are ``max_epochs * n_i / total_tokens`` for the *target* budget
(the release bounds ``w_i <= 15 * prior_i``, i.e. a target budget equal to the corpus and 15 epochs); a
chosen row is renormalised after rounding so it sums to 1 (the release's trainer normalises the weights
it reads); duplicates are removed exactly on the rounded weights (the release drops sorted neighbours
closer than 1e-5 in L1, the same on rounded rows).

``scheme="cycled"`` is mixkit's own earlier rule: ``Dirichlet(prior * K * c)`` with ``c`` cycling over
``concentrations``, projected onto the caps after 50 rejections.

Recommendation candidates (:func:`candidate_array`): ``Dirichlet(token distribution * strength)``,
``strength = 1``, untempered and uncapped, as in the release's notebook (100,000 of them).

Mixtures are ``dict[str, float]`` on the simplex; internally ``float64`` NumPy arrays ``[N, K]``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

SCHEMES = ("regmix", "cycled")

#: The release's proposal constants (``mixture_config/synthesize_mixture.py``).
RELEASE_MIN_STRENGTH = 0.1
RELEASE_MAX_STRENGTH = 5.0
RELEASE_N_STRENGTHS = 15
RELEASE_MINIMUM = 2e-4
RELEASE_POOL_MULTIPLIER = 100
RELEASE_TEMPERATURE = 0.5


def check_token_sizes(sizes: Mapping[str, int]) -> tuple[list[str], np.ndarray]:
    """Domain names and their token counts (``float64 [K]``) from ``sizes``; at least 2, all finite > 0."""
    if not isinstance(sizes, Mapping) or len(sizes) < 2:
        raise ValueError(f"sizes must map at least 2 domain names to token counts, got {sizes!r}")
    names = list(sizes)
    try:
        arr = np.array([float(sizes[n]) for n in names])
    except (TypeError, ValueError):
        raise TypeError(f"sizes must map domain names to numbers, got {dict(sizes)!r}") from None
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
    if not (np.isfinite(total_tokens) and np.isfinite(max_epochs) and total_tokens > 0 and max_epochs > 0):
        raise ValueError(f"total_tokens and max_epochs must be finite and > 0, got {total_tokens!r}, "
                         f"{max_epochs!r}")
    caps = np.minimum(1.0, max_epochs * n / float(total_tokens))
    if caps.sum() < 1.0:
        raise ValueError(
            f"no mixture fits: the domains hold {n.sum():.0f} tokens, {max_epochs} epochs cover "
            f"{max_epochs * n.sum():.0f} < total_tokens={total_tokens:.0f}; raise max_epochs or add data"
        )
    return dict(zip(names, caps.tolist()))


def regmix_strengths(min_strength: float = RELEASE_MIN_STRENGTH, max_strength: float = RELEASE_MAX_STRENGTH,
                     n_strengths: int = RELEASE_N_STRENGTHS) -> np.ndarray:
    """The Dirichlet strengths a proposal picks from: ``n_strengths`` values log-spaced over
    ``[min_strength, max_strength]`` (``float64 [n_strengths]``; one value when the two are equal)."""
    if not (np.isfinite(min_strength) and np.isfinite(max_strength) and 0 < min_strength <= max_strength):
        raise ValueError(f"strengths need 0 < min_strength <= max_strength, got {min_strength!r}, "
                         f"{max_strength!r}")
    if not isinstance(n_strengths, int) or n_strengths < 1:
        raise ValueError(f"n_strengths must be a positive int, got {n_strengths!r}")
    if min_strength == max_strength:
        return np.array([float(min_strength)])
    return np.logspace(np.log10(min_strength), np.log10(max_strength), n_strengths)


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


def _rng(seed: int | np.random.Generator) -> np.random.Generator:
    if isinstance(seed, np.random.Generator):
        return seed
    if isinstance(seed, (bool, float)) or not isinstance(seed, (int, np.integer)):
        raise TypeError(f"seed must be an int or a numpy Generator, got {seed!r}")
    return np.random.default_rng(int(seed))


def propose_mixtures(
    sizes: Mapping[str, int],
    n: int,
    total_tokens: float,
    max_epochs: float = 4.0,
    temperature: float = RELEASE_TEMPERATURE,
    seed: int | np.random.Generator = 0,
    **options,
) -> list[dict[str, float]]:
    """``n`` proxy mixtures by :func:`proposal_array` (the release's rule unless ``scheme="cycled"``),
    as dicts in the order of ``sizes``. ``options``: the keyword arguments of :func:`proposal_array`."""
    names = list(sizes)
    arr = proposal_array(sizes, n, total_tokens, max_epochs, temperature, seed=seed, **options)
    return [dict(zip(names, row.tolist())) for row in arr]


def proposal_array(
    sizes: Mapping[str, int],
    n: int,
    total_tokens: float,
    max_epochs: float = 4.0,
    temperature: float = RELEASE_TEMPERATURE,
    *,
    scheme: str = "regmix",
    min_strength: float = RELEASE_MIN_STRENGTH,
    max_strength: float = RELEASE_MAX_STRENGTH,
    n_strengths: int = RELEASE_N_STRENGTHS,
    minimum: float = RELEASE_MINIMUM,
    pool_multiplier: int = RELEASE_POOL_MULTIPLIER,
    concentrations: Sequence[float] = (0.1, 0.3, 1.0, 3.0),
    seed: int | np.random.Generator = 0,
) -> np.ndarray:
    """``n`` proxy mixtures, ``float64 [n, K]`` (columns in the order of ``sizes``); see the module
    docstring for the two schemes. Raises ``ValueError`` when the caps leave fewer than ``n`` distinct
    mixtures among the ``n * pool_multiplier`` draws."""
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
        raise ValueError(f"n must be a positive int, got {n!r}")
    if scheme not in SCHEMES:
        raise ValueError(f"scheme must be one of {SCHEMES}, got {scheme!r}")
    names, _ = check_token_sizes(sizes)
    prior = np.array(list(token_prior(sizes, temperature).values()))
    caps = np.array(list(repetition_caps(sizes, total_tokens, max_epochs).values()))
    rng = _rng(seed)
    if scheme == "cycled":
        return _cycled(prior, caps, int(n), concentrations, rng)
    strengths = regmix_strengths(min_strength, max_strength, n_strengths)
    if not (np.isfinite(minimum) and 0 < minimum and minimum * len(names) < 1):
        raise ValueError(f"minimum must be > 0 and below 1/K = {1 / len(names):.3g}, got {minimum!r}")
    if isinstance(pool_multiplier, bool) or not isinstance(pool_multiplier, int) or pool_multiplier < 1:
        raise ValueError(f"pool_multiplier must be a positive int, got {pool_multiplier!r}")
    m = int(n) * pool_multiplier
    which = rng.integers(0, len(strengths), m)
    draws = np.empty((m, len(names)))
    for j, s in enumerate(strengths):  # one vectorised Dirichlet call per strength (<= 15)
        rows = which == j
        draws[rows] = rng.dirichlet(prior * s, int(rows.sum()))
    w = draws[np.all(draws <= caps, axis=1)]
    w = np.where(w < minimum, 0.0, w)
    w = w / w.sum(axis=1, keepdims=True)
    units = np.round(w / minimum)
    _, first = np.unique(units, axis=0, return_index=True)
    distinct = units[np.sort(first)] * minimum
    if len(distinct) < n:
        raise ValueError(
            f"only {len(distinct)} distinct mixtures within the repetition caps among {m} draws, need {n}: "
            "raise max_epochs or pool_multiplier, or lower minimum"
        )
    out = distinct[rng.choice(len(distinct), int(n), replace=False)]
    return out / out.sum(axis=1, keepdims=True)


def _cycled(prior: np.ndarray, caps: np.ndarray, n: int, concentrations: Sequence[float],
            rng: np.random.Generator) -> np.ndarray:
    """mixkit's own scheme: ``Dirichlet(c * prior * K)``, ``c`` cycling over ``concentrations``; draws over
    the caps are redrawn up to 50 times, then projected onto the caps."""
    if not concentrations or any(not (np.isfinite(c) and c > 0) for c in concentrations):
        raise ValueError(f"concentrations must be positive numbers, got {concentrations!r}")
    k = len(prior)
    out = np.empty((n, k))
    conc = np.array([concentrations[i % len(concentrations)] for i in range(n)], dtype=np.float64)
    pending = np.arange(n)
    for _ in range(50):
        alpha = np.maximum(conc[pending, None] * prior[None, :] * k, 1e-3)
        draws = np.array([rng.dirichlet(a) for a in alpha])
        ok = np.all(draws <= caps + 1e-12, axis=1)
        out[pending[ok]] = draws[ok]
        pending = pending[~ok]
        if pending.size == 0:
            break
    if pending.size:
        alpha = np.maximum(conc[pending, None] * prior[None, :] * k, 1e-3)
        out[pending] = project_to_caps(np.array([rng.dirichlet(a) for a in alpha]), caps)
    return out


def candidate_array(sizes: Mapping[str, int], n: int, strength: float = 1.0,
                    seed: int | np.random.Generator = 0) -> np.ndarray:
    """``n`` recommendation candidates ``Dirichlet(token distribution * strength)``, ``float64 [n, K]``
    (the release's notebook: 100,000 draws at strength 1 from the untempered token distribution)."""
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
        raise ValueError(f"n_candidates must be a positive int, got {n!r}")
    if not (np.isfinite(strength) and strength > 0):
        raise ValueError(f"strength must be finite and > 0, got {strength!r}")
    prior = np.array(list(token_prior(sizes, 1.0).values()))
    return _rng(seed).dirichlet(prior * float(strength), int(n))


def recommend(candidates: np.ndarray, predictions: np.ndarray, top_k: int = 128) -> np.ndarray:
    """The release's recommendation: the mean of the ``top_k`` candidates with the lowest predicted metric.

    ``candidates`` ``float64 [N, K]``, ``predictions`` ``float64 [N]``; returns ``float64 [K]``. Ties are
    broken by candidate order (stable sort)."""
    cand = np.asarray(candidates, dtype=np.float64)
    pred = np.asarray(predictions, dtype=np.float64)
    if cand.ndim != 2 or pred.shape != (cand.shape[0],):
        raise ValueError(f"candidates must be [N, K] and predictions [N], got {cand.shape}, {pred.shape}")
    if isinstance(top_k, bool) or not isinstance(top_k, (int, np.integer)) or not 1 <= top_k <= len(pred):
        raise ValueError(f"top_k must be an int in [1, {len(pred)}], got {top_k!r}")
    if not np.all(np.isfinite(pred)):
        raise ValueError("predictions must be finite (the regressor returned NaN or inf)")
    return cand[np.argsort(pred, kind="stable")[: int(top_k)]].mean(axis=0)
