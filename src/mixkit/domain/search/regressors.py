"""Regressors from mixture to metric for a RegMix-style search, each a bootstrap ensemble whose members'
disagreement measures uncertainty.

* :class:`GBTRegressor`: gradient-boosted trees (RegMix, Liu et al. 2024, https://arxiv.org/abs/2407.01492,
  uses LightGBM; sklearn's ``GradientBoostingRegressor`` here, on log metric with the Huber loss).
* :class:`LogLinearRegressor`: ``log L = a + b . w + c . log(w + eps)``.
* :class:`MixingLawRegressor`: the exponential mixing law of Ye et al. 2024 ("Data Mixing Laws",
  https://arxiv.org/abs/2403.16952), ``L(w) = c + k * exp(t . w)``.

Inputs are mixtures as ``float64 [N, K]`` arrays, metrics ``float64 [N]``.
"""

from __future__ import annotations

from typing import Any

import numpy as np


class BootstrapEnsemble:
    """Bootstrap ensemble: ``fit(X [N, K], y [N])``, ``predict(X) -> [M]``,
    ``predict_members(X) -> [B, M]``."""

    def __init__(self, n_members: int = 8, seed: int = 0) -> None:
        if not isinstance(n_members, int) or n_members < 1:
            raise ValueError(f"n_members must be a positive int, got {n_members!r}")
        self.n_members = n_members
        self.seed = seed
        self.members: list[Any] = []

    def __repr__(self) -> str:
        fitted = f"{len(self.members)} fitted" if self.members else "not fitted"
        return f"{type(self).__name__}(n_members={self.n_members}, seed={self.seed}, {fitted})"

    def _fit_one(self, x: np.ndarray, y: np.ndarray, seed: int) -> Any:
        raise NotImplementedError

    def _predict_one(self, member: Any, x: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def fit(self, x: np.ndarray, y: np.ndarray) -> BootstrapEnsemble:
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


class GBTRegressor(BootstrapEnsemble):
    """Gradient-boosted trees (sklearn ``GradientBoostingRegressor``), RegMix's regressor family. Fitted on
    ``log(metric)`` with the Huber loss by default: a few proxy runs on near-single-domain mixtures have
    losses far above the rest, and squared error on the raw metric lets them dominate the trees."""

    def __init__(self, n_members: int = 6, seed: int = 0, n_estimators: int = 100, max_depth: int = 3,
                 learning_rate: float = 0.1, loss: str = "huber", log_target: bool = True) -> None:
        super().__init__(n_members, seed)
        self.log_target = bool(log_target)
        self.params = {"n_estimators": n_estimators, "max_depth": max_depth, "learning_rate": learning_rate,
                       "subsample": 0.8, "min_samples_leaf": 2, "loss": loss}

    def _fit_one(self, x: np.ndarray, y: np.ndarray, seed: int) -> Any:
        from sklearn.ensemble import GradientBoostingRegressor

        if self.log_target and np.any(y <= 0):
            raise ValueError("GBTRegressor(log_target=True) needs metric values > 0 (e.g. losses)")
        target = np.log(y) if self.log_target else y
        return GradientBoostingRegressor(random_state=seed, **self.params).fit(x, target)

    def _predict_one(self, member: Any, x: np.ndarray) -> np.ndarray:
        out = member.predict(x)
        return np.exp(out) if self.log_target else out


class MixingLawRegressor(BootstrapEnsemble):
    """Data-mixing law ``L(w) = c + k * exp(t . w)`` (Ye et al. 2024), fitted by nonlinear least squares
    (``scipy.optimize.least_squares``, soft-L1 loss) from a log-linear initial guess."""

    def _fit_one(self, x: np.ndarray, y: np.ndarray, seed: int) -> Any:
        from scipy.optimize import least_squares

        kdim = x.shape[1]
        c0 = float(y.min()) - 0.1 * (float(np.ptp(y)) + 1e-6)
        # log-linear initial guess: log(y - c0) ~ log k + t . w
        a = np.c_[np.ones(len(y)), x]
        coef, *_ = np.linalg.lstsq(a, np.log(y - c0), rcond=None)
        theta0 = np.r_[c0, coef[0], coef[1:]]

        def resid(theta: np.ndarray) -> np.ndarray:
            return theta[0] + np.exp(np.clip(theta[1] + x @ theta[2:], -50, 50)) - y

        fit = least_squares(resid, theta0, loss="soft_l1", f_scale=max(float(np.std(y)), 1e-6), max_nfev=2000)
        theta = fit.x if np.all(np.isfinite(fit.x)) else theta0
        assert theta.shape == (kdim + 2,)
        return theta

    def _predict_one(self, theta: np.ndarray, x: np.ndarray) -> np.ndarray:
        return theta[0] + np.exp(np.clip(theta[1] + x @ theta[2:], -50, 50))


class LogLinearRegressor(BootstrapEnsemble):
    """Log-linear model ``log L(w) = a + b . w + c . log(w + eps)`` by ridge least squares.

    The ``log(w + eps)`` terms give each domain diminishing returns in its own share (the power-law-in-data
    behaviour the data-mixing-law literature fits per domain); the ``w`` terms carry transfer between
    domains. ``eps`` keeps zero weights finite. Needs metric values > 0 (losses)."""

    def __init__(self, n_members: int = 6, seed: int = 0, ridge: float = 1e-2, eps: float = 1e-3) -> None:
        super().__init__(n_members, seed)
        self.ridge = float(ridge)
        self.eps = float(eps)

    def _features(self, x: np.ndarray) -> np.ndarray:
        return np.c_[np.ones(len(x)), x, np.log(x + self.eps)]

    def _fit_one(self, x: np.ndarray, y: np.ndarray, seed: int) -> Any:
        if np.any(y <= 0):
            raise ValueError("LogLinearRegressor needs metric values > 0 (e.g. losses)")
        f = self._features(x)
        reg = self.ridge * np.eye(f.shape[1])
        reg[0, 0] = 0.0
        return np.linalg.solve(f.T @ f + reg, f.T @ np.log(y))

    def _predict_one(self, coef: np.ndarray, x: np.ndarray) -> np.ndarray:
        return np.exp(np.clip(self._features(x) @ coef, -50, 50))


REGRESSORS = {"gbt": GBTRegressor, "loglinear": LogLinearRegressor, "law": MixingLawRegressor}
