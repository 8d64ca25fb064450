"""RegMix-style mixture search (Liu et al. 2024, "RegMix: Data Mixture as Regression for Language Model
Pre-training", https://arxiv.org/abs/2407.01492), with an active-learning extension.

1. Propose mixtures: Dirichlet draws around a tempered token-distribution prior ``prior_i ~ n_i ** tau``,
   at several concentrations (sparse to near-prior), rejecting any mixture that would repeat a domain more
   than ``max_epochs`` times within the training budget (``w_i * total_tokens <= max_epochs * n_i``).
2. Run a proxy training per mixture (a plain function ``mixture -> metric``; see ``runners.run_proxies``).
3. Fit a regressor mixture -> metric: gradient-boosted trees (RegMix uses LightGBM; sklearn's
   ``GradientBoostingRegressor`` here, on log metric with the Huber loss), a log-linear model
   ``log L = a + b . w + c . log(w + eps)``, or the exponential mixing law of Ye et al. 2024
   ("Data Mixing Laws", https://arxiv.org/abs/2403.16952), ``L(w) = c + k * exp(t . w)``.
   Every regressor is a bootstrap ensemble, so its members' disagreement measures uncertainty.
4. Search the simplex: score many capped prior draws, average the top ``top_k`` (as RegMix does) and report
   that mixture with its predicted metric.
5. Beyond RegMix's fixed 512 random runs: ``propose_uncertain`` picks the next proxy mixtures where the
   ensemble disagrees most, which reaches a given held-out rank correlation with fewer runs.

Mixtures are ``dict[str, float]`` on the simplex; internally ``float64`` NumPy arrays ``[N, K]`` (host-side
search code, not a per-batch path).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np


def _check_sizes(sizes: Mapping[str, int]) -> tuple[list[str], np.ndarray]:
    if not isinstance(sizes, Mapping) or len(sizes) < 2:
        raise ValueError(f"sizes must map at least 2 domain names to token counts, got {sizes!r}")
    names = list(sizes)
    arr = np.array([float(sizes[n]) for n in names])
    if not np.all(np.isfinite(arr)) or np.any(arr <= 0):
        raise ValueError(f"sizes must be finite and > 0, got {dict(sizes)}")
    return names, arr


def token_prior(sizes: Mapping[str, int], temperature: float = 0.5) -> dict[str, float]:
    """Tempered token distribution ``n_i ** temperature / sum`` (1: proportional, 0: uniform)."""
    names, n = _check_sizes(sizes)
    if not (0 <= temperature <= 1):
        raise ValueError(f"temperature must be in [0, 1], got {temperature!r}")
    p = n**temperature
    return dict(zip(names, (p / p.sum()).tolist()))


def repetition_caps(sizes: Mapping[str, int], total_tokens: float, max_epochs: float) -> dict[str, float]:
    """Largest weight of each domain that repeats it at most ``max_epochs`` times in ``total_tokens``."""
    names, n = _check_sizes(sizes)
    if not (total_tokens > 0 and max_epochs > 0):
        raise ValueError(f"total_tokens and max_epochs must be > 0, got {total_tokens!r}, {max_epochs!r}")
    caps = np.minimum(1.0, max_epochs * n / float(total_tokens))
    if caps.sum() < 1.0:
        raise ValueError(
            f"no mixture fits: the domains hold {n.sum():.0f} tokens, {max_epochs} epochs cover "
            f"{max_epochs * n.sum():.0f} < total_tokens={total_tokens:.0f}; raise max_epochs or add data"
        )
    return dict(zip(names, caps.tolist()))


def _project_to_caps(w: np.ndarray, caps: np.ndarray) -> np.ndarray:
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
    arr = _proposal_array(sizes, n, total_tokens, max_epochs, temperature, concentrations, seed)
    return [dict(zip(names, row.tolist())) for row in arr]


def _proposal_array(sizes, n, total_tokens, max_epochs, temperature, concentrations, seed) -> np.ndarray:
    names, _ = _check_sizes(sizes)
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
        out[pending] = _project_to_caps(np.array([rng.dirichlet(a) for a in alpha]), caps)
    return out


# --- regressors ----------------------------------------------------------------------------------------
class _Ensemble:
    """Bootstrap ensemble: ``fit(X [N, K], y [N])``, ``predict(X) -> [M]``,
    ``predict_members(X) -> [B, M]``."""

    def __init__(self, n_members: int = 8, seed: int = 0):
        if not isinstance(n_members, int) or n_members < 1:
            raise ValueError(f"n_members must be a positive int, got {n_members!r}")
        self.n_members = n_members
        self.seed = seed
        self.members: list[Any] = []

    def _fit_one(self, x: np.ndarray, y: np.ndarray, seed: int) -> Any:
        raise NotImplementedError

    def _predict_one(self, member: Any, x: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def fit(self, x: np.ndarray, y: np.ndarray) -> _Ensemble:
        """Fit member 0 on all data and the others on bootstrap resamples; ``X [N, K]``, ``y [N]``."""
        x = np.asarray(x, dtype=np.float64)
        y = np.asarray(y, dtype=np.float64)
        if x.ndim != 2 or y.shape != (x.shape[0],):
            raise ValueError(f"fit expects X [N, K] and y [N], got {x.shape} and {y.shape}")
        if x.shape[0] < 3:
            raise ValueError(f"need at least 3 (mixture, metric) results to fit, got {x.shape[0]}")
        if not np.all(np.isfinite(y)):
            raise ValueError("metric values must be finite")
        rng = np.random.default_rng(self.seed)
        self.members = [self._fit_one(x, y, int(rng.integers(2**31)))]  # member 0: all data
        for _ in range(self.n_members - 1):
            idx = rng.integers(0, len(y), len(y))
            self.members.append(self._fit_one(x[idx], y[idx], int(rng.integers(2**31))))
        return self

    def predict_members(self, x: np.ndarray) -> np.ndarray:
        """Predictions of every member, ``[n_members, M]``."""
        if not self.members:
            raise RuntimeError("call fit before predict")
        x = np.asarray(x, dtype=np.float64)
        return np.stack([self._predict_one(m, x) for m in self.members])

    def predict(self, x: np.ndarray) -> np.ndarray:
        """Prediction of the member fitted on all data."""
        if not self.members:
            raise RuntimeError("call fit before predict")
        return self._predict_one(self.members[0], np.asarray(x, dtype=np.float64))

    def uncertainty(self, x: np.ndarray) -> np.ndarray:
        """Standard deviation of the bootstrap members' predictions ``[M]``."""
        return self.predict_members(x).std(axis=0)


class GBTRegressor(_Ensemble):
    """Gradient-boosted trees (sklearn ``GradientBoostingRegressor``), RegMix's regressor family. Fitted on
    ``log(metric)`` with the Huber loss by default: a few proxy runs on near-single-domain mixtures have
    losses far above the rest, and squared error on the raw metric lets them dominate the trees."""

    def __init__(self, n_members: int = 6, seed: int = 0, n_estimators: int = 100, max_depth: int = 3,
                 learning_rate: float = 0.1, loss: str = "huber", log_target: bool = True):
        super().__init__(n_members, seed)
        self.log_target = bool(log_target)
        self.params = {"n_estimators": n_estimators, "max_depth": max_depth, "learning_rate": learning_rate,
                       "subsample": 0.8, "min_samples_leaf": 2, "loss": loss}

    def _fit_one(self, x, y, seed):
        from sklearn.ensemble import GradientBoostingRegressor

        if self.log_target and np.any(y <= 0):
            raise ValueError("GBTRegressor(log_target=True) needs metric values > 0 (e.g. losses)")
        target = np.log(y) if self.log_target else y
        return GradientBoostingRegressor(random_state=seed, **self.params).fit(x, target)

    def _predict_one(self, member, x):
        out = member.predict(x)
        return np.exp(out) if self.log_target else out


class MixingLawRegressor(_Ensemble):
    """Data-mixing law ``L(w) = c + k * exp(t . w)`` (Ye et al. 2024), fitted by nonlinear least squares
    (``scipy.optimize.least_squares``, soft-L1 loss) from a log-linear initial guess."""

    def _fit_one(self, x, y, seed):
        from scipy.optimize import least_squares

        kdim = x.shape[1]
        c0 = float(y.min()) - 0.1 * (float(np.ptp(y)) + 1e-6)
        # log-linear initial guess: log(y - c0) ~ log k + t . w
        a = np.c_[np.ones(len(y)), x]
        coef, *_ = np.linalg.lstsq(a, np.log(y - c0), rcond=None)
        theta0 = np.r_[c0, coef[0], coef[1:]]

        def resid(theta):
            return theta[0] + np.exp(np.clip(theta[1] + x @ theta[2:], -50, 50)) - y

        fit = least_squares(resid, theta0, loss="soft_l1", f_scale=max(float(np.std(y)), 1e-6), max_nfev=2000)
        theta = fit.x if np.all(np.isfinite(fit.x)) else theta0
        assert theta.shape == (kdim + 2,)
        return theta

    def _predict_one(self, theta, x):
        return theta[0] + np.exp(np.clip(theta[1] + x @ theta[2:], -50, 50))


class LogLinearRegressor(_Ensemble):
    """Log-linear model ``log L(w) = a + b . w + c . log(w + eps)`` by ridge least squares.

    The ``log(w + eps)`` terms give each domain diminishing returns in its own share (the power-law-in-data
    behaviour the data-mixing-law literature fits per domain); the ``w`` terms carry transfer between
    domains. ``eps`` keeps zero weights finite. Needs metric values > 0 (losses)."""

    def __init__(self, n_members: int = 6, seed: int = 0, ridge: float = 1e-2, eps: float = 1e-3):
        super().__init__(n_members, seed)
        self.ridge = float(ridge)
        self.eps = float(eps)

    def _features(self, x):
        return np.c_[np.ones(len(x)), x, np.log(x + self.eps)]

    def _fit_one(self, x, y, seed):
        if np.any(y <= 0):
            raise ValueError("LogLinearRegressor needs metric values > 0 (e.g. losses)")
        f = self._features(x)
        reg = self.ridge * np.eye(f.shape[1])
        reg[0, 0] = 0.0
        return np.linalg.solve(f.T @ f + reg, f.T @ np.log(y))

    def _predict_one(self, coef, x):
        return np.exp(np.clip(self._features(x) @ coef, -50, 50))


REGRESSORS = {"gbt": GBTRegressor, "loglinear": LogLinearRegressor, "law": MixingLawRegressor}


@dataclass
class SearchResult:
    """Best mixture found: ``mixture`` (dict summing to 1), ``predicted`` metric (lower is better),
    ``spearman`` of predicted vs actual on held-out runs (``None`` when not evaluated)."""

    mixture: dict[str, float]
    predicted: float
    spearman: float | None = None
    n_runs: int = 0
    regressor: str = "gbt"
    extra: dict[str, Any] = field(default_factory=dict)


class RegMixSearch:
    """Propose -> observe -> fit -> search, over domains with token counts ``sizes``.

    ``total_tokens`` is the *target* run's budget (the repetition caps apply to it); lower metric is better.
    """

    def __init__(
        self,
        sizes: Mapping[str, int],
        total_tokens: float,
        max_epochs: float = 4.0,
        temperature: float = 0.5,
        regressor: str = "gbt",
        n_members: int = 8,
        seed: int = 0,
    ):
        self.names, _ = _check_sizes(sizes)
        self.sizes = dict(sizes)
        if regressor not in REGRESSORS:
            raise ValueError(f"regressor must be one of {sorted(REGRESSORS)}, got {regressor!r}")
        self.total_tokens = float(total_tokens)
        self.max_epochs = float(max_epochs)
        self.temperature = float(temperature)
        self.caps = np.array(list(repetition_caps(sizes, total_tokens, max_epochs).values()))
        self.regressor_name = regressor
        self.model = REGRESSORS[regressor](n_members=n_members, seed=seed)
        self.seed = int(seed)
        self._draws = 0
        self.x: list[np.ndarray] = []
        self.y: list[float] = []

    def _vec(self, mixture: Mapping[str, float]) -> np.ndarray:
        unknown = set(mixture) - set(self.names)
        if unknown:
            raise ValueError(f"mixture names unknown domains {sorted(unknown)}; domains are {self.names}")
        v = np.array([float(mixture.get(n, 0.0)) for n in self.names])
        if not np.all(np.isfinite(v)) or np.any(v < 0) or v.sum() <= 0:
            raise ValueError(f"mixture must be finite, >= 0 and not all zero, got {dict(mixture)}")
        return v / v.sum()

    def _pool(self, n: int) -> np.ndarray:
        self._draws += 1
        return _proposal_array(
            self.sizes,
            n,
            self.total_tokens,
            self.max_epochs,
            self.temperature,
            (0.1, 0.3, 1.0, 3.0),
            self.seed * 7919 + self._draws,
        )

    def propose(self, n: int) -> list[dict[str, float]]:
        """``n`` random capped prior draws (RegMix's proposal)."""
        return [dict(zip(self.names, r.tolist())) for r in self._pool(n)]

    def add(self, mixture: Mapping[str, float], metric: float) -> None:
        """Record one proxy run's result."""
        m = float(metric)
        if not math.isfinite(m):
            raise ValueError(f"metric must be finite, got {metric!r}")
        self.x.append(self._vec(mixture))
        self.y.append(m)

    def fit(self) -> RegMixSearch:
        """Fit the regressor ensemble on every result added so far (needs at least 3)."""
        if len(self.y) < 3:
            raise ValueError(f"need at least 3 (mixture, metric) results to fit, got {len(self.y)}")
        self.model.fit(np.stack(self.x), np.array(self.y))
        return self

    def predict(self, mixtures: Sequence[Mapping[str, float]]) -> np.ndarray:
        """Predicted metric of each mixture, float64 ``[M]``."""
        return self.model.predict(np.stack([self._vec(m) for m in mixtures]))

    def propose_uncertain(self, n: int, pool: int = 2000) -> list[dict[str, float]]:
        """The ``n`` pool mixtures where the bootstrap ensemble disagrees most (greedy, each pick at least
        the median pool distance away from earlier picks so one batch does not cluster)."""
        if not self.model.members:
            raise RuntimeError("fit on at least 3 results before propose_uncertain")
        cand = self._pool(pool)
        std = self.model.uncertainty(cand)
        order = np.argsort(-std)
        d_min = np.median(np.linalg.norm(cand[:200, None] - cand[None, :200], axis=-1)) * 0.5
        chosen: list[int] = []
        for i in order:
            if all(np.linalg.norm(cand[i] - cand[j]) >= d_min for j in chosen):
                chosen.append(int(i))
            if len(chosen) == n:
                break
        return [dict(zip(self.names, cand[i].tolist())) for i in chosen]

    def best(self, n_candidates: int = 20000, top_k: int = 20) -> SearchResult:
        """Score ``n_candidates`` capped prior draws, average the ``top_k`` lowest predictions' mixtures
        (projected back onto the caps), and predict that average."""
        cand = np.vstack([self._pool(n_candidates), np.stack(self.x)]) if self.x else self._pool(n_candidates)
        pred = self.model.predict(cand)
        top = cand[np.argsort(pred)[: max(1, min(top_k, len(cand)))]]
        mix = _project_to_caps(top.mean(axis=0, keepdims=True), self.caps)[0]
        predicted = float(self.model.predict(mix[None])[0])
        return SearchResult(
            mixture=dict(zip(self.names, mix.tolist())),
            predicted=predicted,
            n_runs=len(self.y),
            regressor=self.regressor_name,
        )

    def spearman(self, mixtures: Sequence[Mapping[str, float]], metrics: Sequence[float]) -> float:
        """Spearman rank correlation of predicted vs actual metric on held-out runs."""
        from scipy.stats import spearmanr

        if len(mixtures) != len(metrics) or len(metrics) < 3:
            raise ValueError("need at least 3 held-out (mixture, metric) pairs of equal length")
        rho = spearmanr(self.predict(mixtures), np.asarray(metrics, dtype=np.float64)).statistic
        return float(rho) if math.isfinite(rho) else 0.0
