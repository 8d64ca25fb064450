"""Aioli (Chen et al. 2024, "Aioli: A Unified Optimization Framework for Language Model Data Mixing",
https://arxiv.org/abs/2411.05735), as released in https://github.com/HazyResearch/aioli
(``trainer/aioli_trainer.py``: ``AioliTrainer.train`` and ``learn_params_subroutine``; settings from
``scripts/arxiv_books_stackexchange/aioli/run.sh``): estimate a linear dynamic mixing law during training
and set the proportions from it.

``estimator="probe"`` (default, the release). Training is split into rounds of ``round_steps`` steps. Each
round starts with the held-out loss ``L0`` of every domain, then ``probe_rounds`` sweeps over the domains in
random order (one ``torch.randperm(K)`` per sweep from a generator seeded with ``(seed, round)``); for domain
``j`` it trains ``probe_steps`` steps on the probe mixture ``q_j`` (``one_hot_factor`` on ``j``, the rest
spread evenly), evaluates, and adds the loss decrease ``prev - L`` to column ``j`` of ``D`` (``prev`` is the
previous evaluation). Then ``D /= probe_rounds``; with ``one_hot_factor < 1`` each row is solved against
the probe mixtures, ``A[i] = Q^{-1} D[i]`` (``Q[j] = q_j``); ``normalize``: ``A -= min(A)`` when negative,
``A /= sum(A)``; ``ema``: ``E = A`` on the first round, else ``E = (1 - ema) A + ema E``, and the new
proportions are recomputed from the prior ``p0``: ``p = softmax(log p0 + step_size * colsum(E))``
(without ``ema``: multiplicative, ``log p += step_size * colsum(A)``). The rest of the round trains on ``p``.
Defaults from the release script: ``step_size=0.1`` (eta), ``round_steps=250``, ``probe_rounds=4``,
``probe_steps=6``, ``one_hot_factor=0.5``, ``ema=0.5``, ``normalize=True``. Deviations: the probe order
comes from torch's generator instead of numpy's global one; ``floor`` (default 0) is an option of ours.

``estimator="window"`` -- mixkit's own cheaper estimate, not the paper's: no probe steps and no extra
evaluation. Training runs on the current ``p`` multiplied by small seeded log-normal perturbations
(``perturbation``, refreshed every ``perturb_every`` steps); per-domain *training* losses are regressed, over
a sliding window of ``window`` steps, on the cumulative mixture consumed so far,
``L_i(t) ~ c_i - sum_j A_ij C_j(t)`` (ridge least squares), and every ``update_every`` steps
``p = softmax(log p + window_step_size * s / max|s|)`` with ``s_j = sum_i A_ij``, then the floor.

Loop contract: call ``update(step, ...)`` after training step ``step`` whenever ``wants_signal(step)``;
``needs`` says what to pass (``"eval_losses"``: held-out loss of every domain; ``"losses"``: training batch
losses). A loop first asks ``wants_signal(-1)`` (the probe estimator's first ``L0``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import torch

from mixkit.domain.online.online_method import (
    OnlineMixer,
    check_fraction,
    check_positive,
    check_step,
    exp_update,
    log_exp_step,
    mix_floor,
    state_has,
    state_int,
    state_matrix,
    state_vector,
)


def mixing_law_scores(a_matrix: torch.Tensor) -> torch.Tensor:
    """``s_j = sum_i A_ij`` scaled to max magnitude 1 (zero when ``A`` is zero)."""
    s = a_matrix.sum(dim=0)
    m = s.abs().max()
    return s / m if m > 0 else s


def fit_window_law(cum: torch.Tensor, losses: torch.Tensor, seen: torch.Tensor, ridge: float) -> torch.Tensor:
    """Ridge least squares of ``losses[:, i]`` on ``[1, cum]`` over the rows where ``seen[:, i]``.

    ``cum [W, K]`` cumulative mixture, ``losses [W, K]``, ``seen [W, K]`` bool. Returns ``A [K, K]`` with
    ``A[i, j] = -d L_i / d C_j``. Domains observed in fewer than ``K + 2`` rows get a zero row.
    """
    w, k = cum.shape
    x = torch.cat([torch.ones(w, 1, dtype=cum.dtype), cum - cum.mean(dim=0)], dim=1)
    a = torch.zeros(k, k, dtype=cum.dtype)
    reg = ridge * torch.eye(k + 1, dtype=cum.dtype)
    reg[0, 0] = 0.0
    for i in range(k):  # K small solves on host: O(K) per update, not per sample
        rows = seen[:, i]
        if int(rows.sum()) < k + 2:
            continue
        xi, yi = x[rows], losses[rows, i]
        beta = torch.linalg.solve(xi.T @ xi + reg, xi.T @ yi)
        a[i] = -beta[1:]
    return a


class Aioli(OnlineMixer):
    """Online linear mixing-law estimation (see the module docstring for both estimators).

    Args:
        domains: domain names.
        step_size: the release's ``eta`` (probe estimator).
        estimator: ``"probe"`` (release) or ``"window"`` (mixkit's own).
        round_steps, probe_rounds, probe_steps, one_hot_factor, ema, normalize, seed: the probe estimator
            (release ``update_steps``, ``lp_rounds``, ``lp_steps``, ``one_hot_factor``, ``ema``,
            ``aioli_normalize_A``); ``ema=None`` for the multiplicative update.
        floor: mixed with uniform after each update (0: none, as released).
        window, update_every, perturbation, perturb_every, ridge, window_step_size: the window estimator.
        initial_weights: the prior ``p0`` (uniform, as released, when None).
    """

    _repr_fields = ("estimator", "step_size", "round_steps", "floor")

    def __init__(
        self,
        domains: Sequence[str],
        step_size: float = 0.1,
        estimator: str = "probe",
        floor: float = 0.0,
        # probe estimator (release)
        round_steps: int = 250,
        probe_rounds: int = 4,
        probe_steps: int = 6,
        one_hot_factor: float = 0.5,
        ema: float | None = 0.5,
        normalize: bool = True,
        seed: int = 0,
        # window estimator (mixkit)
        window: int = 60,
        update_every: int = 20,
        perturbation: float = 0.3,
        perturb_every: int = 4,
        ridge: float = 1e-3,
        window_step_size: float = 0.3,
        initial_weights: Mapping[str, float] | None = None,
    ) -> None:
        super().__init__(domains, initial_weights)
        if estimator not in ("window", "probe"):
            raise ValueError(f"estimator must be 'probe' or 'window', got {estimator!r}")
        for name, value in (
            ("round_steps", round_steps),
            ("probe_rounds", probe_rounds),
            ("probe_steps", probe_steps),
            ("window", window),
            ("update_every", update_every),
            ("perturb_every", perturb_every),
        ):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be a positive int, got {value!r}")
        k = len(self.domains)
        self.estimator = estimator
        self.needs = "eval_losses" if estimator == "probe" else "losses"
        self.step_size = check_positive(step_size, "step_size")
        self.floor = check_fraction(floor, "floor")
        self.round_steps = round_steps
        self.probe_rounds = probe_rounds
        self.probe_steps = probe_steps
        self.one_hot_factor = check_positive(one_hot_factor, "one_hot_factor")
        if estimator == "probe" and (self.one_hot_factor > 1 or self.one_hot_factor <= 1.0 / k):
            raise ValueError(f"one_hot_factor must be in (1/K, 1] = (1/{k}, 1], got {one_hot_factor!r}")
        self.ema = None if ema is None else check_fraction(ema, "ema")
        self.normalize = bool(normalize)
        self.probe_duration = probe_rounds * k * probe_steps
        if estimator == "probe" and self.probe_duration >= round_steps:
            raise ValueError(
                f"round_steps={round_steps} must exceed the probe steps per round "
                f"probe_rounds * K * probe_steps = {self.probe_duration}"
            )
        self.seed = int(seed)
        self.window = window
        self.update_every = update_every
        self.perturbation = check_positive(perturbation, "perturbation", allow_zero=True)
        self.perturb_every = perturb_every
        self.ridge = check_positive(ridge, "ridge", allow_zero=True)
        self.window_step_size = check_positive(window_step_size, "window_step_size")
        self.last_a: torch.Tensor | None = None
        self.probe_steps_used = 0  # steps trained on a probe mixture (overhead of the probe estimator)
        self.eval_calls = 0  # held-out evaluations requested
        self._prior = self._p.clone()
        # probe state
        self._prev_eval: torch.Tensor | None = None
        self._delta = torch.zeros(k, k, dtype=torch.float64)
        self._ema_a: torch.Tensor | None = None
        self._log_p = torch.log(self._p)
        # window state
        self._cum = torch.zeros(k, dtype=torch.float64)
        self._rows_cum: list[torch.Tensor] = []
        self._rows_loss: list[torch.Tensor] = []
        self._rows_seen: list[torch.Tensor] = []
        self._current = self._p.clone()

    # --- what the sampler should use next -------------------------------------------------------------
    @property
    def weights(self) -> dict[str, float]:
        """Weights for the next step: a probe mixture, a perturbed ``p`` (window), or ``p``."""
        return self._to_dict(self._current)

    @property
    def law_weights(self) -> dict[str, float]:
        """The mixing-law proportions ``p`` without probes or perturbations."""
        return self._to_dict(self._p)

    def probe_mixture(self, j: int) -> torch.Tensor:
        """float64 ``[K]``: ``one_hot_factor`` on ``j``, ``(1 - one_hot_factor) / (K - 1)`` on the rest."""
        k = len(self.domains)
        q = torch.full((k,), (1 - self.one_hot_factor) / (k - 1), dtype=torch.float64)
        q[j] = self.one_hot_factor
        return q

    def probe_order(self, round_index: int) -> list[int]:
        """The domains probed in round ``round_index``: ``probe_rounds`` random permutations, concatenated."""
        g = torch.Generator().manual_seed(self.seed * 1_000_003 + round_index)
        k = len(self.domains)
        return torch.cat([torch.randperm(k, generator=g) for _ in range(self.probe_rounds)]).tolist()

    def _perturbed(self, step: int) -> torch.Tensor:
        if self.perturbation == 0:
            return self._p.clone()
        g = torch.Generator().manual_seed(self.seed * 1_000_003 + step // self.perturb_every)
        z = torch.randn(len(self.domains), generator=g, dtype=torch.float64)
        return exp_update(self._p, z, self.perturbation, "perturbation")

    def wants_signal(self, step: int) -> bool:
        """Window: every step. Probe: before training (-1), after each probe segment and at the end of each
        round (the next round's ``L0``)."""
        if self.estimator == "window":
            return step >= 0
        local = step % self.round_steps
        return (
            step == -1
            or local == self.round_steps - 1
            or (local < self.probe_duration and (local + 1) % self.probe_steps == 0)
        )

    def update(
        self,
        step: int,
        losses_by_domain: Mapping[str, Any] | None = None,
        grads_by_domain: Mapping[str, torch.Tensor] | None = None,
    ) -> dict[str, float]:
        """Record the signal, re-estimate ``A`` when due, and return the weights for the next step."""
        check_step(step)
        if self.estimator == "probe":
            self._update_probe(step, losses_by_domain)
        else:
            self._update_window(step, losses_by_domain)
        return self.weights

    # --- the release's estimator: probe sweeps ----------------------------------------------------------
    def _solve_law(self, delta: torch.Tensor) -> torch.Tensor:
        k = len(self.domains)
        d = delta / self.probe_rounds
        if self.one_hot_factor != 1:
            q = torch.stack([self.probe_mixture(j) for j in range(k)])  # row j = q_j
            d = torch.linalg.solve(q, d.T).T  # A[i] solves Q A[i] = D[i]
        if self.normalize:
            low = d.min()
            if low < 0:
                d = d - low
            total = d.sum()
            d = d / total if total > 0 else torch.zeros_like(d)
        return d

    def _update_probe(self, step: int, losses_by_domain: Mapping[str, Any] | None) -> None:
        losses, seen = self._loss_vector(losses_by_domain)
        if not bool(seen.all()):
            raise ValueError(
                "Aioli(estimator='probe') needs the held-out loss of every domain at each signal"
            )
        self.eval_calls += 1
        local = step % self.round_steps
        if step == -1 or local == self.round_steps - 1:  # L0 of the next round; start its first probe
            self._prev_eval = losses
            self._delta = torch.zeros_like(self._delta)
            self._current = self.probe_mixture(self.probe_order((step + 1) // self.round_steps)[0])
            return
        if self._prev_eval is None:
            raise ValueError(
                "Aioli(estimator='probe') needs the baseline signal at step -1 (wants_signal(-1))"
            )
        order = self.probe_order(step // self.round_steps)
        m = (local + 1) // self.probe_steps - 1
        j = order[m]
        self._delta[:, j] += self._prev_eval - losses
        self._prev_eval = losses
        self.probe_steps_used += self.probe_steps
        if m + 1 < len(order):
            self._current = self.probe_mixture(order[m + 1])
            return
        a = self._solve_law(self._delta)
        self.last_a = a
        if self.ema is not None:
            self._ema_a = a if self._ema_a is None else (1 - self.ema) * a + self.ema * self._ema_a
            scores = self._ema_a.sum(dim=0)
            self._log_p = log_exp_step(torch.log(self._prior), scores, self.step_size, "mixing-law scores")
        else:  # normalised in log space each step, so the running sum cannot overflow
            self._log_p = log_exp_step(self._log_p, a.sum(dim=0), self.step_size, "mixing-law scores")
        self._p = mix_floor(torch.exp(self._log_p), self.floor)
        self._current = self._p.clone()
        self.steps_seen += 1

    # --- mixkit's cheap estimator: sliding-window least squares -----------------------------------------
    def _update_window(self, step: int, losses_by_domain: Mapping[str, Any] | None) -> None:
        losses, seen = self._loss_vector(losses_by_domain)
        # losses were measured on this step's batch before its update: they belong to C before this step
        self._rows_cum.append(self._cum.clone())
        self._rows_loss.append(losses)
        self._rows_seen.append(seen)
        if len(self._rows_cum) > self.window:
            del self._rows_cum[0], self._rows_loss[0], self._rows_seen[0]
        self._cum += self._current
        if (step + 1) % self.update_every == 0 and len(self._rows_cum) == self.window:
            self.last_a = fit_window_law(
                torch.stack(self._rows_cum),
                torch.stack(self._rows_loss),
                torch.stack(self._rows_seen),
                self.ridge,
            )
            self._p = mix_floor(
                exp_update(self._p, mixing_law_scores(self.last_a), self.window_step_size,
                           "mixing-law scores (are the losses finite and moderate?)"), self.floor
            )
            self.steps_seen += 1
        self._current = self._perturbed(step + 1)

    def state_dict(self) -> dict[str, Any]:
        """Everything needed to continue identically, as plain JSON (lists, numbers, ``None``)."""
        rows = [torch.stack(r).tolist() if r else [] for r in (self._rows_cum, self._rows_loss)]
        return {
            **self._base_state(),
            "current": self._current.tolist(),
            "prior": self._prior.tolist(),
            "log_p": self._log_p.tolist(),
            "prev_eval": None if self._prev_eval is None else self._prev_eval.tolist(),
            "delta": self._delta.tolist(),
            "ema_a": None if self._ema_a is None else self._ema_a.tolist(),
            "last_a": None if self.last_a is None else self.last_a.tolist(),
            "cum": self._cum.tolist(),
            "rows_cum": rows[0],
            "rows_loss": rows[1],
            "rows_seen": [[bool(b) for b in r.tolist()] for r in self._rows_seen],
            "probe_steps_used": self.probe_steps_used,
            "eval_calls": self.eval_calls,
        }

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """Restore a :meth:`state_dict` (validated; ``ValueError`` names a bad field)."""
        super().load_state_dict(state)
        k = len(self.domains)
        self._current = state_vector(state, "current", k, positive=True)
        self._prior = state_vector(state, "prior", k, positive=True)
        self._log_p = state_vector(state, "log_p", k)
        self._prev_eval = None if not state_has(state, "prev_eval") else state_vector(state, "prev_eval", k)
        self._delta = state_matrix(state, "delta", k, k)
        self._ema_a = None if not state_has(state, "ema_a") else state_matrix(state, "ema_a", k, k)
        self.last_a = None if not state_has(state, "last_a") else state_matrix(state, "last_a", k, k)
        self._cum = state_vector(state, "cum", k)
        rows_cum = state_matrix(state, "rows_cum", None, k)
        rows_loss = state_matrix(state, "rows_loss", rows_cum.shape[0], k)
        state_has(state, "rows_seen")
        seen = state["rows_seen"]
        if (
            not isinstance(seen, list)
            or len(seen) != rows_cum.shape[0]
            or any(not isinstance(r, list) or len(r) != k for r in seen)
        ):
            raise ValueError(f"state field 'rows_seen' must be {rows_cum.shape[0]} lists of {k} booleans")
        self._rows_cum = list(rows_cum.unbind(0))
        self._rows_loss = list(rows_loss.unbind(0))
        self._rows_seen = [torch.tensor([bool(b) for b in r]) for r in seen]
        self.probe_steps_used = state_int(state, "probe_steps_used")
        self.eval_calls = state_int(state, "eval_calls")
