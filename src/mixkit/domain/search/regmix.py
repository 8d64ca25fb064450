"""RegMix mixture search (Liu et al. 2024, "RegMix: Data Mixture as Regression for Language Model
Pre-training", https://arxiv.org/abs/2407.01492; release github.com/sail-sg/regmix), with mixkit's active
(uncertainty-driven) selection as an option.

1. Propose proxy mixtures with the release's rule (``mixture_config/synthesize_mixture.py``; see
   :mod:`.proposals`): Dirichlet draws around the tempered token prior at strengths log-spaced over
   [0.1, 5], within repetition caps, small weights zeroed and rounded, deduplicated.
2. Run a proxy training per mixture (a plain function ``mixture -> metric``; see
   :func:`~mixkit.domain.search.run_proxies`).
3. Fit the regressor mixture -> metric: LightGBM with the release's hyper-parameters by default, early
   stopping on validation runs when given (``regression_fitting/regression.ipynb``; :mod:`.regressors`).
4. Recommend as released: score 100,000 ``Dirichlet(token distribution)`` candidates, average the 128 with
   the lowest prediction (:meth:`RegMixSearch.best`).
5. mixkit's own: ``propose_uncertain`` picks the next proxy mixtures where a bootstrap ensemble of the
   regressor disagrees most, instead of the release's fixed set of random runs.

Deviations (one line each): one scalar target metric per search (the release fits one regressor per
validation domain and picks one, e.g. Pile-CC loss); ``respect_caps=True`` (off by default, as released)
restricts the candidates to the repetition caps.

Mixtures are ``dict[str, float]`` on the simplex; internally ``float64`` NumPy arrays ``[N, K]`` (host-side
search code, not a per-batch path).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .proposals import (
    RELEASE_MINIMUM,
    SCHEMES,
    candidate_array,
    check_token_sizes,
    proposal_array,
    recommend,
    repetition_caps,
)
from .regressors import REGRESSORS

#: The release's recommendation: 100,000 candidates, the mean of the 128 best.
RELEASE_N_CANDIDATES = 100_000
RELEASE_TOP_K = 128


@dataclass
class SearchResult:
    """Recommended mixture: ``mixture`` (dict summing to 1), ``predicted`` metric of it (lower is better),
    ``spearman`` of predicted vs actual on held-out runs (``None`` when not evaluated), the number of runs
    fitted, the ``regressor`` name and ``regressor_info`` (model, library and version, settings)."""

    mixture: dict[str, float]
    predicted: float
    spearman: float | None = None
    n_runs: int = 0
    regressor: str = "gbt"
    regressor_info: dict[str, Any] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)


def _number(value: Any, name: str) -> float:
    """A float from a real number (``TypeError`` naming ``name`` for a string, bool or other object)."""
    if isinstance(value, (bool, str, bytes)):
        raise TypeError(f"{name} must be a number, got {value!r}")
    try:
        return float(value)
    except (TypeError, ValueError):
        raise TypeError(f"{name} must be a number, got {value!r}") from None


class RegMixSearch:
    """Propose -> observe -> fit -> recommend, over domains with token counts ``sizes``.

    ``total_tokens`` is the *target* run's budget (the repetition caps ``max_epochs`` apply to it); lower
    metric is better. ``temperature`` tempers the proposals' token prior (release 0.5). ``regressor``: a name
    of :data:`~mixkit.domain.search.REGRESSORS` (``"gbt"``, the release's, by default), built with
    ``n_members``, ``seed`` and ``regressor_options``. ``proposal``: ``"regmix"`` (the release's) or
    ``"cycled"`` (mixkit's own); ``proposal_options`` go to
    :func:`~mixkit.domain.search.proposals.proposal_array` (``minimum``, strengths, ``pool_multiplier``).
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
        proposal: str = "regmix",
        proposal_options: Mapping[str, Any] | None = None,
        regressor_options: Mapping[str, Any] | None = None,
    ) -> None:
        self.names, _ = check_token_sizes(sizes)
        self.sizes = dict(sizes)
        if regressor not in REGRESSORS:
            raise ValueError(f"regressor must be one of {sorted(REGRESSORS)}, got {regressor!r}")
        if proposal not in SCHEMES:
            raise ValueError(f"proposal must be one of {SCHEMES}, got {proposal!r}")
        if isinstance(seed, bool) or not isinstance(seed, int):
            raise TypeError(f"seed must be an int, got {seed!r}")
        self.total_tokens = _number(total_tokens, "total_tokens")
        self.max_epochs = _number(max_epochs, "max_epochs")
        self.temperature = _number(temperature, "temperature")
        for name, options in (("proposal_options", proposal_options),
                              ("regressor_options", regressor_options)):
            if options is not None and not isinstance(options, Mapping):
                raise TypeError(f"{name} must be a mapping of keyword options, got {type(options).__name__}")
        self.caps = np.array(list(repetition_caps(sizes, total_tokens, max_epochs).values()))
        self.proposal = proposal
        self.proposal_options = dict(proposal_options or {})
        if proposal == "regmix":
            self.proposal_options.setdefault("minimum", RELEASE_MINIMUM)
        try:  # validate the options now
            proposal_array(self.sizes, 1, self.total_tokens, self.max_epochs, self.temperature,
                           scheme=proposal, seed=0, **self.proposal_options)
        except TypeError as err:
            raise TypeError(f"proposal_options {self.proposal_options!r} not accepted: {err}") from None
        self.regressor_name = regressor
        try:
            options = dict(regressor_options or {})
            self.model = REGRESSORS[regressor](n_members=n_members, seed=seed, **options)
        except TypeError as err:
            raise TypeError(f"regressor_options {dict(regressor_options or {})!r} not accepted by "
                            f"{regressor!r}: {err}") from None
        self.seed = int(seed)
        self._draws = 0
        self.x: list[np.ndarray] = []
        self.y: list[float] = []
        self.eval_x: list[np.ndarray] = []
        self.eval_y: list[float] = []

    def __repr__(self) -> str:
        return (f"RegMixSearch(domains={self.names}, total_tokens={self.total_tokens:.4g}, "
                f"max_epochs={self.max_epochs:.4g}, regressor={self.regressor_name!r}, "
                f"proposal={self.proposal!r}, runs={len(self.y)}, validation={len(self.eval_y)})")

    def describe_regressor(self) -> dict[str, Any]:
        """The regressor that makes this search's predictions: name, model, library, version, settings."""
        return self.model.describe()

    def state_dict(self) -> dict[str, Any]:
        """The recorded results and validation runs, the number of pools drawn and whether the regressor
        was fitted (plain Python, JSON-serialisable; a fitted regressor is refitted on load,
        deterministically)."""
        return {
            "names": list(self.names),
            "x": [row.tolist() for row in self.x],
            "y": list(self.y),
            "eval_x": [row.tolist() for row in self.eval_x],
            "eval_y": list(self.eval_y),
            "draws": self._draws,
            "fitted": bool(self.model.members),
        }

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """Restore a :meth:`state_dict` into a search built with the same arguments (validated)."""
        if not isinstance(state, Mapping):
            raise TypeError(f"state must be a mapping from state_dict(), got {type(state).__name__}")
        missing = {"names", "x", "y", "draws", "fitted"} - set(state)
        if missing:
            raise ValueError(f"state_dict is missing {sorted(missing)}")
        if not isinstance(state["names"], (list, tuple)) or list(state["names"]) != self.names:
            raise ValueError(f"state_dict domains {list(state['names'])} differ from {self.names}")
        x = [self._vec(dict(zip(self.names, row))) for row in state["x"]]
        y = [self._metric(v) for v in state["y"]]
        ex = [self._vec(dict(zip(self.names, row))) for row in state.get("eval_x", [])]
        ey = [self._metric(v) for v in state.get("eval_y", [])]
        if len(x) != len(y) or len(ex) != len(ey):
            raise ValueError("state_dict holds mixtures and metrics of different lengths")
        draws = state["draws"]
        if isinstance(draws, bool) or not isinstance(draws, int) or draws < 0:
            raise ValueError(f"state_dict draws must be an int >= 0, got {draws!r}")
        self.x, self.y, self.eval_x, self.eval_y, self._draws = x, y, ex, ey, draws
        self.model.members = []
        if state["fitted"]:
            self.fit()

    @staticmethod
    def _metric(value: Any) -> float:
        try:
            m = float(value)
        except (TypeError, ValueError):
            raise TypeError(f"metric must be a number, got {value!r}") from None
        if not math.isfinite(m):
            raise ValueError(f"metric must be finite, got {value!r}")
        return m

    def _vec(self, mixture: Mapping[str, float]) -> np.ndarray:
        if not isinstance(mixture, Mapping):
            raise TypeError(f"mixture must map domain names to weights, got {mixture!r}")
        unknown = set(mixture) - set(self.names)
        if unknown:
            raise ValueError(f"mixture names unknown domains {sorted(unknown)}; domains are {self.names}")
        v = np.array([float(mixture.get(n, 0.0)) for n in self.names])
        if not np.all(np.isfinite(v)) or np.any(v < 0) or v.sum() <= 0:
            raise ValueError(f"mixture must be finite, >= 0 and not all zero, got {dict(mixture)}")
        return v / v.sum()

    def _next_seed(self) -> int:
        self._draws += 1
        return self.seed * 7919 + self._draws

    def _pool(self, n: int) -> np.ndarray:
        return proposal_array(self.sizes, n, self.total_tokens, self.max_epochs, self.temperature,
                              scheme=self.proposal, seed=self._next_seed(), **self.proposal_options)

    def propose(self, n: int) -> list[dict[str, float]]:
        """``n`` proxy mixtures by the proposal scheme (the release's by default)."""
        return [dict(zip(self.names, r.tolist())) for r in self._pool(n)]

    def add(self, mixture: Mapping[str, float], metric: float) -> None:
        """Record one proxy run's result (fitted by :meth:`fit`)."""
        m = self._metric(metric)
        self.x.append(self._vec(mixture))
        self.y.append(m)

    def add_validation(self, mixture: Mapping[str, float], metric: float) -> None:
        """Record one held-out run: the release stops the boosting early on these (``"gbt"``); they are
        not fitted."""
        m = self._metric(metric)
        self.eval_x.append(self._vec(mixture))
        self.eval_y.append(m)

    def fit(self) -> RegMixSearch:
        """Fit the regressor on every result added so far (needs at least 3), with the validation runs as
        its early-stopping set when there are any."""
        if len(self.y) < 3:
            raise ValueError(f"need at least 3 (mixture, metric) results to fit, got {len(self.y)}")
        eval_set = (np.stack(self.eval_x), np.array(self.eval_y)) if self.eval_y else None
        self.model.fit(np.stack(self.x), np.array(self.y), eval_set=eval_set)
        return self

    def predict(self, mixtures: Sequence[Mapping[str, float]]) -> np.ndarray:
        """Predicted metric of each mixture, float64 ``[M]``."""
        if len(mixtures) == 0:
            raise ValueError("mixtures must not be empty")
        return self.model.predict(np.stack([self._vec(m) for m in mixtures]))

    def propose_uncertain(self, n: int, pool: int = 2000) -> list[dict[str, float]]:
        """mixkit's own active selection: the ``n`` mixtures of a proposal pool where the bootstrap ensemble
        disagrees most (greedy, each pick at least half the median pool distance away from earlier picks so
        one batch does not cluster)."""
        if not self.model.members:
            raise RuntimeError("fit on at least 3 results before propose_uncertain")
        if isinstance(n, bool) or not isinstance(n, int) or not 1 <= n <= pool:
            raise ValueError(f"n must be an int in [1, pool={pool}], got {n!r}")
        cand = self._pool(pool)
        std = self.model.uncertainty(cand)
        order = np.argsort(-std, kind="stable")
        head = cand[:200]
        d_min = np.median(np.linalg.norm(head[:, None] - head[None, :], axis=-1)) * 0.5
        chosen: list[int] = []
        for i in order:
            if all(np.linalg.norm(cand[i] - cand[j]) >= d_min for j in chosen):
                chosen.append(int(i))
            if len(chosen) == n:
                break
        for i in order:  # a pool with few distinct mixtures: fill up with the next most uncertain
            if len(chosen) == n:
                break
            if int(i) not in chosen:
                chosen.append(int(i))
        return [dict(zip(self.names, cand[i].tolist())) for i in chosen]

    def candidates(self, n_candidates: int = RELEASE_N_CANDIDATES, strength: float = 1.0,
                   respect_caps: bool = False) -> np.ndarray:
        """The recommendation's candidates, ``float64 [N, K]``: ``Dirichlet(token distribution * strength)``
        as released; ``respect_caps`` (mixkit's own) keeps only those within the repetition caps."""
        cand = candidate_array(self.sizes, n_candidates, strength, seed=self._next_seed())
        if respect_caps:
            cand = cand[np.all(cand <= self.caps, axis=1)]
            if len(cand) == 0:
                raise ValueError("no candidate lies within the repetition caps; raise n_candidates or "
                                 "max_epochs, or use respect_caps=False")
        return cand

    def best(self, n_candidates: int = RELEASE_N_CANDIDATES, top_k: int = RELEASE_TOP_K,
             strength: float = 1.0, respect_caps: bool = False) -> SearchResult:
        """The release's recommendation: score ``n_candidates`` draws of :meth:`candidates` with the fitted
        regressor and average the ``top_k`` with the lowest prediction; ``predicted`` is the regressor's
        prediction for that average (``extra["top_k_predicted"]``: the mean prediction of the ``top_k``)."""
        if not self.model.members:
            raise RuntimeError("best() needs a fitted regressor: add() proxy results, then call fit()")
        cand = self.candidates(n_candidates, strength, respect_caps)
        pred = self.model.predict(cand)
        k = min(int(top_k), len(cand)) if respect_caps else top_k
        mix = recommend(cand, pred, k)
        top = np.sort(pred, kind="stable")[:k]
        return SearchResult(
            mixture=dict(zip(self.names, mix.tolist())),
            predicted=float(self.model.predict(mix[None])[0]),
            n_runs=len(self.y),
            regressor=self.regressor_name,
            regressor_info=self.describe_regressor(),
            extra={"n_candidates": len(cand), "top_k": k, "top_k_predicted": float(top.mean()),
                   "candidate_strength": float(strength), "respect_caps": bool(respect_caps)},
        )

    def spearman(self, mixtures: Sequence[Mapping[str, float]], metrics: Sequence[float]) -> float:
        """Spearman rank correlation of predicted vs actual metric on held-out runs (0 when the predictions
        are constant)."""
        from scipy.stats import spearmanr

        if len(mixtures) != len(metrics) or len(metrics) < 3:
            raise ValueError("need at least 3 held-out (mixture, metric) pairs of equal length")
        pred = self.predict(mixtures)
        if np.ptp(pred) == 0:
            return 0.0
        rho = spearmanr(pred, np.asarray(metrics, dtype=np.float64)).statistic
        return float(rho) if math.isfinite(rho) else 0.0
