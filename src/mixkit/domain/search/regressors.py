"""Regressors from mixture to metric for a RegMix search.

* :class:`GBTRegressor` (``"gbt"``, the default): RegMix's regressor (Liu et al. 2024,
  https://arxiv.org/abs/2407.01492; release github.com/sail-sg/regmix,
  ``regression_fitting/regression.ipynb``):
  LightGBM ``LGBMRegressor`` with the release's hyper-parameters (gbdt, L2 objective, 1000 iterations,
  learning rate 0.01, seed 42, LightGBM's defaults otherwise: 31 leaves, 20 samples per leaf) and, when
  validation runs are given, the release's early stopping (3 rounds on their L1 and L2). Without LightGBM,
  scikit-learn's ``HistGradientBoostingRegressor`` with the matching settings and the same early-stopping
  rule. Note: 20 samples per leaf means no split at all below 40 training runs (the release fits 512).
* mixkit's own, named options: :class:`LogLinearRegressor` (``"loglinear"``,
  ``log L = a + b . w + c . log(w + eps)``), :class:`MixingLawRegressor` (``"law"``, the exponential law
  of Ye et al. 2024, "Data Mixing Laws", https://arxiv.org/abs/2403.16952, ``L(w) = c + k * exp(t . w)``)
  and :class:`HuberGBTRegressor` (``"gbt-huber"``, scikit-learn gradient boosting on log metric with the
  Huber loss).

Every regressor is a bootstrap ensemble (mixkit's own, for the active selection): member 0 is fitted on all
data and makes the predictions; the bootstrap members, fitted on resamples only when an uncertainty is
asked for, measure disagreement. Inputs are mixtures as ``float64 [N, K]`` arrays, metrics ``float64 [N]``.
"""

from __future__ import annotations

import contextlib
import importlib.util
import inspect
from collections.abc import Mapping
from typing import Any

import numpy as np

#: The release's LightGBM hyper-parameters (``regression_fitting/regression.ipynb``); the notebook's
#: ``task: train`` is the LightGBM default and ``num_iterations`` is spelled ``n_estimators`` here.
RELEASE_LGBM_PARAMS: dict[str, Any] = {
    "boosting_type": "gbdt",
    "objective": "regression",
    "metric": ["l1", "l2"],
    "n_estimators": 1000,
    "seed": 42,
    "learning_rate": 1e-2,
    "verbosity": -1,
}
#: The release's early stopping: ``lgb.early_stopping(stopping_rounds=3)`` on the held-out runs.
RELEASE_EARLY_STOPPING_ROUNDS = 3
#: scikit-learn settings matching LightGBM's defaults under the release's hyper-parameters.
HISTGB_PARAMS: dict[str, Any] = {
    "loss": "squared_error",
    "learning_rate": 1e-2,
    "max_iter": 1000,
    "max_leaf_nodes": 31,
    "max_depth": None,
    "min_samples_leaf": 20,
    "l2_regularization": 0.0,
    "max_bins": 255,
    "early_stopping": False,
    "random_state": 42,
}
GBT_LIBRARIES = ("auto", "lightgbm", "sklearn")


def _check_xy(x: Any, y: Any, what: str = "fit") -> tuple[np.ndarray, np.ndarray]:
    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    if x.ndim != 2 or y.shape != (x.shape[0],):
        raise ValueError(f"{what} expects X [N, K] and y [N], got {x.shape} and {y.shape}")
    if not (np.all(np.isfinite(x)) and np.all(np.isfinite(y))):
        raise ValueError(f"{what}: mixtures and metric values must be finite")
    return x, y


def early_stopping_iteration(staged_l1: np.ndarray, staged_l2: np.ndarray, rounds: int) -> int:
    """LightGBM's early-stopping rule on a validation set with the metrics ``l1`` then ``l2``: the number of
    trees to keep. ``staged_*`` are ``[T]`` validation errors after 1..T trees; a metric improves only when
    strictly lower; training stops at the first iteration where some metric has not improved for
    ``rounds`` iterations (keeping that metric's best), else at the end (keeping ``l1``'s best)."""
    metrics = (np.asarray(staged_l1, dtype=np.float64), np.asarray(staged_l2, dtype=np.float64))
    best = [np.inf, np.inf]
    best_it = [0, 0]
    n = len(metrics[0])
    for it in range(n):
        for i, m in enumerate(metrics):
            if it == 0 or m[it] < best[i]:
                best[i], best_it[i] = m[it], it
            if it - best_it[i] >= rounds:
                return best_it[i] + 1
            if it == n - 1:
                return best_it[i] + 1
    return n


class BootstrapEnsemble:
    """Bootstrap ensemble: ``fit(X [N, K], y [N], eval_set=None)``, ``predict(X) -> [M]``,
    ``predict_members(X) -> [B, M]``. ``eval_set = (X_val, y_val)`` is passed to regressors that use
    validation data (the release's early stopping); the others ignore it."""

    name = "ensemble"

    def __init__(self, n_members: int = 8, seed: int = 0) -> None:
        if isinstance(n_members, bool) or not isinstance(n_members, int) or n_members < 1:
            raise ValueError(f"n_members must be a positive int, got {n_members!r}")
        self.n_members = n_members
        self.seed = seed
        self.members: list[Any] = []
        self._data: tuple[np.ndarray, np.ndarray, tuple[np.ndarray, np.ndarray] | None] | None = None

    def __repr__(self) -> str:
        fitted = f"{len(self.members)} fitted" if self.members else "not fitted"
        return f"{type(self).__name__}(n_members={self.n_members}, seed={self.seed}, {fitted})"

    def describe(self) -> dict[str, Any]:
        """Which model produced the predictions: name, model, library and its version, settings."""
        return {"regressor": self.name, "model": type(self).__name__, "library": "numpy",
                "version": np.__version__, "params": {}}

    def _fit_one(self, x: np.ndarray, y: np.ndarray, seed: int,
                 eval_set: tuple[np.ndarray, np.ndarray] | None) -> Any:
        raise NotImplementedError

    def _predict_one(self, member: Any, x: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def _member0_seed(self, rng: np.random.Generator) -> int:
        return int(rng.integers(2**31))

    def fit(self, x: Any, y: Any, eval_set: tuple[Any, Any] | None = None) -> BootstrapEnsemble:
        """Fit member 0 on all data (the bootstrap members follow when an uncertainty is asked for)."""
        x, y = _check_xy(x, y)
        if x.shape[0] < 3:
            raise ValueError(f"need at least 3 (mixture, metric) results to fit, got {x.shape[0]}")
        if eval_set is not None:
            ex, ey = _check_xy(*eval_set, what="eval_set")
            if ex.shape[1] != x.shape[1] or len(ey) < 1:
                raise ValueError(f"eval_set must hold mixtures over the same {x.shape[1]} domains")
            eval_set = (ex, ey)
        self._data = (x, y, eval_set)
        self._rng = np.random.default_rng(self.seed)
        self.members = [self._fit_one(x, y, self._member0_seed(self._rng), eval_set)]
        return self

    def _fit_bootstrap(self) -> None:
        if self._data is None:
            raise RuntimeError("call fit before predict")
        x, y, eval_set = self._data
        while len(self.members) < self.n_members:
            idx = self._rng.integers(0, len(y), len(y))
            self.members.append(self._fit_one(x[idx], y[idx], int(self._rng.integers(2**31)), eval_set))

    def predict_members(self, x: Any) -> np.ndarray:
        """Predictions of every member, ``[n_members, M]`` (fits the bootstrap members on first use)."""
        if not self.members:
            raise RuntimeError("call fit before predict")
        self._fit_bootstrap()
        x = np.asarray(x, dtype=np.float64)
        return np.stack([self._predict_one(m, x) for m in self.members])

    def predict(self, x: Any) -> np.ndarray:
        """Prediction of the member fitted on all data, ``float64 [M]``."""
        if not self.members:
            raise RuntimeError("call fit before predict")
        return np.asarray(self._predict_one(self.members[0], np.asarray(x, dtype=np.float64)), np.float64)

    def uncertainty(self, x: Any) -> np.ndarray:
        """Standard deviation of the bootstrap members' predictions ``[M]``."""
        return self.predict_members(x).std(axis=0)


def lightgbm_available() -> bool:
    """Whether LightGBM imports here (``pip install 'mixkit[lightgbm]'``)."""
    return importlib.util.find_spec("lightgbm") is not None


class GBTRegressor(BootstrapEnsemble):
    """RegMix's gradient-boosted trees: LightGBM with the release's hyper-parameters (``library="lightgbm"``
    or ``"auto"`` when it is installed), else scikit-learn's ``HistGradientBoostingRegressor`` with the
    matching settings (``library="sklearn"``). ``params`` overrides single settings of the library in use.
    With an ``eval_set``, training stops early as released (``early_stopping_rounds`` on L1 and L2; 0 turns
    it off). Member 0 uses the release's seed 42. ``threads`` (mixkit's, not a model setting): OpenMP threads
    of a fit or prediction, 1 by default (the proxy data are small, and more threads only oversubscribe a
    machine that also trains proxies; LightGBM may differ in the last bits across thread counts); ``None``
    leaves the library's default."""

    name = "gbt"

    def __init__(self, n_members: int = 8, seed: int = 0, library: str = "auto",
                 params: Mapping[str, Any] | None = None,
                 early_stopping_rounds: int = RELEASE_EARLY_STOPPING_ROUNDS, threads: int | None = 1) -> None:
        super().__init__(n_members, seed)
        if library not in GBT_LIBRARIES:
            raise ValueError(f"library must be one of {GBT_LIBRARIES}, got {library!r}")
        if library == "auto":
            library = "lightgbm" if lightgbm_available() else "sklearn"
        elif library == "lightgbm" and not lightgbm_available():
            raise ImportError("library='lightgbm' needs LightGBM: pip install 'mixkit[lightgbm]'")
        if isinstance(early_stopping_rounds, bool) or not isinstance(early_stopping_rounds, int) \
                or early_stopping_rounds < 0:
            raise ValueError(f"early_stopping_rounds must be an int >= 0, got {early_stopping_rounds!r}")
        if threads is not None and (isinstance(threads, bool) or not isinstance(threads, int) or threads < 1):
            raise ValueError(f"threads must be a positive int or None, got {threads!r}")
        self.threads = threads
        self.library = library
        base = RELEASE_LGBM_PARAMS if library == "lightgbm" else HISTGB_PARAMS
        if params is not None and not isinstance(params, Mapping):
            raise TypeError(f"params must be a mapping of settings, got {params!r}")
        self.params = {**base, **dict(params or {})}
        self.early_stopping_rounds = early_stopping_rounds

    def __repr__(self) -> str:
        return super().__repr__()[:-1] + f", library={self.library!r})"

    def describe(self) -> dict[str, Any]:
        if self.library == "lightgbm":
            import lightgbm

            model, lib, version = "LGBMRegressor", "lightgbm", lightgbm.__version__
        else:
            import sklearn

            model, lib, version = "HistGradientBoostingRegressor", "scikit-learn", sklearn.__version__
        return {"regressor": self.name, "model": model, "library": lib, "version": version,
                "params": {**self.params, "early_stopping_rounds": self.early_stopping_rounds},
                "threads": self.threads}

    def _limit(self):
        """A context that limits the OpenMP threads of scikit-learn to ``threads``."""
        if self.threads is None or self.library == "lightgbm":
            return contextlib.nullcontext()
        from threadpoolctl import threadpool_limits

        return threadpool_limits(self.threads)

    def _member0_seed(self, rng: np.random.Generator) -> int:
        rng.integers(2**31)  # keep the bootstrap stream independent of the library
        return int(self.params.get("seed" if self.library == "lightgbm" else "random_state", 42))

    def _fit_one(self, x: np.ndarray, y: np.ndarray, seed: int,
                 eval_set: tuple[np.ndarray, np.ndarray] | None) -> Any:
        stop = eval_set is not None and self.early_stopping_rounds > 0
        if self.library == "lightgbm":
            import lightgbm as lgb

            extra = {} if self.threads is None else {"n_jobs": self.threads}
            model = lgb.LGBMRegressor(**{**extra, **self.params, "seed": seed})
            if stop:
                callbacks = [lgb.early_stopping(self.early_stopping_rounds, verbose=False)]
                if "eval_X" in inspect.signature(model.fit).parameters:  # LightGBM >= 4.7 spelling
                    return model.fit(x, y, eval_X=(eval_set[0],), eval_y=(eval_set[1],), eval_metric="l2",
                                     callbacks=callbacks)
                return model.fit(x, y, eval_set=[eval_set], eval_metric="l2", callbacks=callbacks)
            return model.fit(x, y)
        from sklearn.ensemble import HistGradientBoostingRegressor

        params = {**self.params, "random_state": seed}
        with self._limit():
            model = HistGradientBoostingRegressor(**params).fit(x, y)
            if not stop:
                return model
            ex, ey = eval_set
            staged = np.stack(list(model.staged_predict(ex)))  # [T, M]
            keep = early_stopping_iteration(np.abs(staged - ey).mean(1), ((staged - ey) ** 2).mean(1),
                                            self.early_stopping_rounds)
            if keep == staged.shape[0]:
                return model
            return HistGradientBoostingRegressor(**{**params, "max_iter": keep}).fit(x, y)

    def _predict_one(self, member: Any, x: np.ndarray) -> np.ndarray:
        with self._limit():
            return np.asarray(member.predict(x), dtype=np.float64)


class HuberGBTRegressor(BootstrapEnsemble):
    """mixkit's own gradient boosting (scikit-learn ``GradientBoostingRegressor``) on ``log(metric)`` with the
    Huber loss: robust to a few proxy runs on near-single-domain mixtures whose losses sit far above the
    rest. Needs metric values > 0."""

    name = "gbt-huber"

    def __init__(self, n_members: int = 6, seed: int = 0, n_estimators: int = 100, max_depth: int = 3,
                 learning_rate: float = 0.1, loss: str = "huber", log_target: bool = True) -> None:
        super().__init__(n_members, seed)
        self.log_target = bool(log_target)
        self.params = {"n_estimators": n_estimators, "max_depth": max_depth, "learning_rate": learning_rate,
                       "subsample": 0.8, "min_samples_leaf": 2, "loss": loss}

    def describe(self) -> dict[str, Any]:
        import sklearn

        return {"regressor": self.name, "model": "GradientBoostingRegressor", "library": "scikit-learn",
                "version": sklearn.__version__, "params": {**self.params, "log_target": self.log_target}}

    def _fit_one(self, x, y, seed, eval_set):
        from sklearn.ensemble import GradientBoostingRegressor

        if self.log_target and np.any(y <= 0):
            raise ValueError("HuberGBTRegressor(log_target=True) needs metric values > 0 (e.g. losses)")
        target = np.log(y) if self.log_target else y
        return GradientBoostingRegressor(random_state=seed, **self.params).fit(x, target)

    def _predict_one(self, member: Any, x: np.ndarray) -> np.ndarray:
        out = member.predict(x)
        return np.exp(out) if self.log_target else out


class MixingLawRegressor(BootstrapEnsemble):
    """Data-mixing law ``L(w) = c + k * exp(t . w)`` (Ye et al. 2024), fitted by nonlinear least squares
    (``scipy.optimize.least_squares``, soft-L1 loss) from a log-linear initial guess. mixkit's own option."""

    name = "law"

    def describe(self) -> dict[str, Any]:
        import scipy

        return {"regressor": self.name, "model": "MixingLawRegressor (least_squares, soft_l1)",
                "library": "scipy", "version": scipy.__version__, "params": {}}

    def _fit_one(self, x, y, seed, eval_set):
        from scipy.optimize import least_squares

        c0 = float(y.min()) - 0.1 * (float(np.ptp(y)) + 1e-6)
        # log-linear initial guess: log(y - c0) ~ log k + t . w
        a = np.c_[np.ones(len(y)), x]
        coef, *_ = np.linalg.lstsq(a, np.log(y - c0), rcond=None)
        theta0 = np.r_[c0, coef[0], coef[1:]]

        def resid(theta: np.ndarray) -> np.ndarray:
            return theta[0] + np.exp(np.clip(theta[1] + x @ theta[2:], -50, 50)) - y

        fit = least_squares(resid, theta0, loss="soft_l1", f_scale=max(float(np.std(y)), 1e-6), max_nfev=2000)
        return fit.x if np.all(np.isfinite(fit.x)) else theta0

    def _predict_one(self, theta: np.ndarray, x: np.ndarray) -> np.ndarray:
        return theta[0] + np.exp(np.clip(theta[1] + x @ theta[2:], -50, 50))


class LogLinearRegressor(BootstrapEnsemble):
    """Log-linear model ``log L(w) = a + b . w + c . log(w + eps)`` by ridge least squares (mixkit's own).

    The ``log(w + eps)`` terms give each domain diminishing returns in its own share (the power-law-in-data
    behaviour the data-mixing-law literature fits per domain); the ``w`` terms carry transfer between
    domains. ``eps`` keeps zero weights finite. Needs metric values > 0 (losses)."""

    name = "loglinear"

    def __init__(self, n_members: int = 6, seed: int = 0, ridge: float = 1e-2, eps: float = 1e-3) -> None:
        super().__init__(n_members, seed)
        self.ridge = float(ridge)
        self.eps = float(eps)

    def describe(self) -> dict[str, Any]:
        return {"regressor": self.name, "model": "LogLinearRegressor (ridge least squares)",
                "library": "numpy", "version": np.__version__,
                "params": {"ridge": self.ridge, "eps": self.eps}}

    def _features(self, x: np.ndarray) -> np.ndarray:
        return np.c_[np.ones(len(x)), x, np.log(x + self.eps)]

    def _fit_one(self, x, y, seed, eval_set):
        if np.any(y <= 0):
            raise ValueError("LogLinearRegressor needs metric values > 0 (e.g. losses)")
        f = self._features(x)
        reg = self.ridge * np.eye(f.shape[1])
        reg[0, 0] = 0.0
        return np.linalg.solve(f.T @ f + reg, f.T @ np.log(y))

    def _predict_one(self, coef: np.ndarray, x: np.ndarray) -> np.ndarray:
        return np.exp(np.clip(self._features(x) @ coef, -50, 50))


REGRESSORS: dict[str, type[BootstrapEnsemble]] = {
    "gbt": GBTRegressor,
    "loglinear": LogLinearRegressor,
    "law": MixingLawRegressor,
    "gbt-huber": HuberGBTRegressor,
}
