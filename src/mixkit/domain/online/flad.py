"""FLAD bandits: EXP3-FLAD and UCB1-FLAD (Albalak, Raffel, Wang 2023, "Improving Few-Shot Generalization by
Exploring and Exploiting Auxiliary Data", NeurIPS 2023, https://arxiv.org/abs/2302.00674; release
github.com/alon-albalak/FLAD, file ``src/trainer.py``: ``Exp3BatchedFLADTrainer``,
``UCB1BatchedFLADTrainer`` and the gradient-alignment reward of ``BatchedFLADTrainer``).

Each training batch comes from one auxiliary dataset (an arm). After every optimizer step (``update``) the
arms drawn since the last update are rewarded by the alignment of their (averaged) gradient ``g_a`` with
the target-data gradient ``g_T``: ``cos(g_a, g_T)``, smoothed ``R_a <- (1 - beta) R_a + beta cos``.
Only the drawn arms' gradients are needed, so an update costs ``O(drawn x parameters)`` plus ``O(K)``
vector arithmetic: independent of the number ``K`` of auxiliary datasets up to that trivial term.

* EXP3-FLAD (:class:`EXP3FLAD`): importance-weighted cumulative reward ``G_a += R_a / p_a`` for the drawn
  arms; exploration ``eps_t = min(1/K, sqrt(ln K / (K t)))`` with ``t = updates x batches_per_update x 10
  + 1`` (the release's scale); ``p = (1 - K eps_t) softmax(eps_{t-1} G) + eps_t``.
* UCB1-FLAD (:class:`UCB1FLAD`): the next batch comes from ``argmax_a R_a + sqrt(2 ln(n + K) / n_a)``,
  ``n`` batches drawn so far, ``n_a`` batches of arm ``a`` (starting at 1); weights are one-hot.

Defaults from the release's scripts: ``beta = 1`` for EXP3 and ``0.1`` for UCB1; the reward is the
cosine over all weights. ``initial_rewards`` are the release's precomputed similarities (UCB1 requires
them there; here they default to the release's placeholder 1.0). ``next_domain`` draws the arm of the
next batch (EXP3 from ``p`` with an explicit ``torch.Generator``); a loop driving a
:class:`~mixkit.domain.MixtureSampler` instead passes ``counts_by_domain`` to ``update``.

Deviations: the release's optional similarity threshold and loss scaling are not included; gradients
are passed in by the training loop (``grads_by_domain``: drawn arms plus ``target``).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import torch

from mixkit.domain.online.dga import similarity_scores
from mixkit.domain.online.online_method import (
    OnlineMixer,
    as_float,
    check_positive,
    state_float,
    state_int,
    state_vector,
)

RELEASE_EXPLORATION_SCALE = 10.0


class _FLAD(OnlineMixer):
    needs = "grads"
    gradient_scope = "drawn"

    def __init__(self, domains: Sequence[str], target: str, beta: float,
                 initial_rewards: Mapping[str, float] | None, batches_per_update: int) -> None:
        super().__init__(domains)
        if not isinstance(target, str) or not target:
            raise ValueError(f"target must be a non-empty name, got {target!r}")
        if target in self.domains:
            raise ValueError(f"target {target!r} must not be one of the auxiliary domains")
        b = check_positive(beta, "beta")
        if b > 1:
            raise ValueError(f"beta must be in (0, 1], got {beta!r}")
        if isinstance(batches_per_update, bool) or not isinstance(batches_per_update, int) \
                or batches_per_update < 1:
            raise ValueError(f"batches_per_update must be a positive int, got {batches_per_update!r}")
        self.target, self.beta, self.batches_per_update = target, b, batches_per_update
        self._index = {d: i for i, d in enumerate(self.domains)}
        self._reward = torch.ones(len(self.domains), dtype=torch.float64)
        if initial_rewards is not None:
            if not isinstance(initial_rewards, Mapping):
                raise TypeError("initial_rewards must be a mapping domain -> float")
            unknown = set(initial_rewards) - set(self.domains)
            if unknown:
                raise ValueError(f"initial_rewards names unknown domains {sorted(unknown)}")
            for d, v in initial_rewards.items():
                self._reward[self._index[d]] = as_float(v, f"initial_rewards[{d!r}]")

    @property
    def rewards(self) -> dict[str, float]:
        """The smoothed gradient-alignment reward of each arm."""
        return {d: float(v) for d, v in zip(self.domains, self._reward.tolist())}

    def _drawn_rewards(self, grads_by_domain: Mapping[str, torch.Tensor] | None) -> tuple[torch.Tensor,
                                                                                          torch.Tensor]:
        """(arm indices int64 [S], cosines float64 [S]) of the drawn arms present in ``grads_by_domain``."""
        if grads_by_domain is None or self.target not in grads_by_domain:
            raise ValueError(f"{type(self).__name__}.update needs grads_by_domain with the target "
                             f"{self.target!r} and the drawn auxiliary domains")
        unknown = set(grads_by_domain) - set(self.domains) - {self.target}
        if unknown:
            raise ValueError(f"grads_by_domain names unknown domains {sorted(unknown)}")
        keys = [d for d in grads_by_domain if d != self.target]
        idx = torch.tensor([self._index[d] for d in keys], dtype=torch.int64)
        if not keys:
            return idx, torch.zeros(0, dtype=torch.float64)
        mat = self._grad_matrix(grads_by_domain, keys + [self.target])
        return idx, similarity_scores(mat[:-1], mat[-1], "cosine")

    def _smooth(self, idx: torch.Tensor, cos: torch.Tensor) -> None:
        self._reward[idx] = (1.0 - self.beta) * self._reward[idx] + self.beta * cos

    def initial_rewards_from(self, grads_by_domain: Mapping[str, torch.Tensor]) -> dict[str, float]:
        """Set every arm's reward to its cosine with the target (the release's weight initialisation from
        a gradient per auxiliary dataset); ``grads_by_domain`` holds all domains and the target."""
        idx, cos = self._drawn_rewards(grads_by_domain)
        if idx.numel() != len(self.domains):
            raise ValueError("initial_rewards_from needs a gradient for every auxiliary domain")
        self._reward[idx] = cos
        return self.rewards

    def _base(self) -> dict[str, Any]:
        return {**self._base_state(), "target": self.target, "reward": self._reward.tolist()}

    def _load_base(self, state: Mapping[str, Any]) -> None:
        super().load_state_dict(state)
        if state.get("target") != self.target:
            raise ValueError(f"state field 'target' {state.get('target')!r} differs from {self.target!r}")
        self._reward = state_vector(state, "reward", len(self.domains))


class EXP3FLAD(_FLAD):
    """EXP3-FLAD (see the module docstring).

    Args:
        domains: the auxiliary datasets (arms).
        target: key of the target-data gradient in ``grads_by_domain``.
        beta: reward smoothing (release default 1: the latest cosine).
        initial_rewards: optional starting rewards per arm.
        batches_per_update: batches per optimizer step (gradient accumulation), part of ``t``.
        exploration_scale: the release's factor 10 in ``t``.
    """

    _repr_fields = ("target", "beta", "batches_per_update")

    def __init__(self, domains: Sequence[str], target: str = "target", beta: float = 1.0,
                 initial_rewards: Mapping[str, float] | None = None, batches_per_update: int = 1,
                 exploration_scale: float = RELEASE_EXPLORATION_SCALE) -> None:
        super().__init__(domains, target, beta, initial_rewards, batches_per_update)
        self.exploration_scale = check_positive(exploration_scale, "exploration_scale")
        k = len(self.domains)
        self._gain = torch.zeros(k, dtype=torch.float64)
        self.eps = 1.0 / k
        self.prev_eps = self.eps
        self._probabilities(0)

    def _probabilities(self, updates: int) -> None:
        k = len(self.domains)
        self.prev_eps = self.eps
        t = updates * self.batches_per_update * self.exploration_scale + 1
        self.eps = min(1.0 / k, math.sqrt(math.log(k) / (k * t)))
        self._p = (1.0 - k * self.eps) * torch.softmax(self.prev_eps * self._gain, dim=0) + self.eps

    def update(self, step: int, losses_by_domain: Mapping[str, Any] | None = None,
               grads_by_domain: Mapping[str, torch.Tensor] | None = None,
               counts_by_domain: Mapping[str, int] | None = None) -> dict[str, float]:
        """Reward the drawn arms (keys of ``grads_by_domain`` besides ``target``) and recompute ``p``."""
        idx, cos = self._drawn_rewards(grads_by_domain)
        self._smooth(idx, cos)
        self._gain[idx] += self._reward[idx] / self._p[idx]
        self.steps_seen += 1
        self._probabilities(self.steps_seen)
        return self.weights

    def next_domain(self, generator: torch.Generator) -> str:
        """Draw the arm of the next batch from the current probabilities."""
        if not isinstance(generator, torch.Generator):
            raise TypeError(f"generator must be a torch.Generator, got {type(generator).__name__}")
        return self.domains[int(torch.multinomial(self._p, 1, generator=generator))]

    def state_dict(self) -> dict[str, Any]:
        """Probabilities, rewards, cumulative gains and exploration rates (JSON-safe)."""
        return {**self._base(), "gain": self._gain.tolist(), "eps": self.eps, "prev_eps": self.prev_eps}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """Restore a :meth:`state_dict` (``ValueError`` names a bad field)."""
        self._load_base(state)
        self._gain = state_vector(state, "gain", len(self.domains))
        self.eps, self.prev_eps = state_float(state, "eps"), state_float(state, "prev_eps")


class UCB1FLAD(_FLAD):
    """UCB1-FLAD (see the module docstring). ``weights`` is one-hot on the arm of the next batch.

    Args:
        domains: the auxiliary datasets (arms).
        target: key of the target-data gradient in ``grads_by_domain``.
        beta: reward smoothing (release scripts: 0.1).
        initial_rewards: starting reward per arm (the release precomputes them; default 1.0).
        batches_per_update: batches per optimizer step (kept for the state; ``n`` counts batches).
    """

    _repr_fields = ("target", "beta")

    def __init__(self, domains: Sequence[str], target: str = "target", beta: float = 0.1,
                 initial_rewards: Mapping[str, float] | None = None, batches_per_update: int = 1) -> None:
        super().__init__(domains, target, beta, initial_rewards, batches_per_update)
        self._draws = torch.ones(len(self.domains), dtype=torch.float64)  # n_a, starting at 1 as released
        self.total_draws = 0
        self._choose()

    def upper_confidence(self) -> torch.Tensor:
        """``R_a + sqrt(2 ln(n + K) / n_a)`` for every arm (float64 [K])."""
        t = self.total_draws + len(self.domains)
        return self._reward + torch.sqrt(2.0 * math.log(t) / self._draws)

    def _choose(self) -> int:
        a = int(torch.argmax(self.upper_confidence()))  # first maximum, like the release's strict '>'
        self._p = torch.zeros(len(self.domains), dtype=torch.float64)
        self._p[a] = 1.0
        return a

    def record_draws(self, counts_by_domain: Mapping[str, int]) -> None:
        """Count batches drawn from each arm (when a sampler, not :meth:`next_domain`, chose them)."""
        if not isinstance(counts_by_domain, Mapping):
            raise TypeError("counts_by_domain must be a mapping domain -> int")
        for d, c in counts_by_domain.items():
            if d not in self._index:
                raise ValueError(f"counts_by_domain names unknown domain {d!r}")
            if isinstance(c, bool) or not isinstance(c, int) or c < 0:
                raise ValueError(f"counts_by_domain[{d!r}] must be an int >= 0, got {c!r}")
            self._draws[self._index[d]] += c
            self.total_draws += c
        self._choose()

    def next_domain(self, generator: torch.Generator | None = None) -> str:
        """The arm of the next batch (deterministic; ``generator`` is accepted for a uniform interface),
        counted as drawn."""
        a = self._choose()
        self._draws[a] += 1
        self.total_draws += 1
        self._choose()
        return self.domains[a]

    def update(self, step: int, losses_by_domain: Mapping[str, Any] | None = None,
               grads_by_domain: Mapping[str, torch.Tensor] | None = None,
               counts_by_domain: Mapping[str, int] | None = None) -> dict[str, float]:
        """Reward the drawn arms; ``counts_by_domain`` (optional) records the batches drawn since the last
        update when they were not drawn through :meth:`next_domain`."""
        if counts_by_domain is not None:
            self.record_draws(counts_by_domain)
        idx, cos = self._drawn_rewards(grads_by_domain)
        self._smooth(idx, cos)
        self.steps_seen += 1
        self._choose()
        return self.weights

    def state_dict(self) -> dict[str, Any]:
        """Rewards, draw counts and the total (JSON-safe)."""
        return {**self._base(), "draws": self._draws.tolist(), "total_draws": self.total_draws}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """Restore a :meth:`state_dict` (``ValueError`` names a bad field)."""
        self._load_base(state)
        self._draws = state_vector(state, "draws", len(self.domains))
        if bool((self._draws < 1).any()):
            raise ValueError("state field 'draws' must hold counts >= 1")
        self.total_draws = state_int(state, "total_draws")
        self._choose()
