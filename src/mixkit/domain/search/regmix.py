"""RegMix-style mixture search (Liu et al. 2024, "RegMix: Data Mixture as Regression for Language Model
Pre-training", https://arxiv.org/abs/2407.01492), with an active-learning extension.

1. Propose mixtures around a tempered token prior within repetition caps (:mod:`.proposals`).
2. Run a proxy training per mixture (a plain function ``mixture -> metric``; see
   :func:`~mixkit.domain.search.run_proxies`).
3. Fit a regressor ensemble mixture -> metric (:mod:`.regressors`).
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

from .proposals import check_token_sizes, project_to_caps, proposal_array, repetition_caps
from .regressors import REGRESSORS


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
    ) -> None:
        self.names, _ = check_token_sizes(sizes)
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

    def __repr__(self) -> str:
        return (f"RegMixSearch(domains={self.names}, total_tokens={self.total_tokens:.4g}, "
                f"max_epochs={self.max_epochs:.4g}, regressor={self.regressor_name!r}, runs={len(self.y)})")

    def state_dict(self) -> dict[str, Any]:
        """The recorded results, the number of proposal pools drawn and whether the ensemble was fitted
        (plain Python, JSON-serialisable; a fitted ensemble is refitted on load, which is deterministic)."""
        return {
            "names": list(self.names),
            "x": [row.tolist() for row in self.x],
            "y": list(self.y),
            "draws": self._draws,
            "fitted": bool(self.model.members),
        }

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """Restore a :meth:`state_dict` into a search built with the same arguments."""
        if list(state["names"]) != self.names:
            raise ValueError(f"state_dict domains {list(state['names'])} differ from {self.names}")
        self.x = [np.asarray(row, dtype=np.float64) for row in state["x"]]
        self.y = [float(v) for v in state["y"]]
        self._draws = int(state["draws"])
        self.model.members = []
        if state["fitted"]:
            self.fit()

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
        return proposal_array(
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
        mix = project_to_caps(top.mean(axis=0, keepdims=True), self.caps)[0]
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
