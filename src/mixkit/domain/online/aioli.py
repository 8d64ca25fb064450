"""Aioli (Chen et al. 2024, "Aioli: A Unified Optimization Framework for Language Model Data Mixing",
https://arxiv.org/abs/2411.05735): estimate a *linear dynamic mixing law* during training and move the
proportions along it.

Mixing law: one step on mixture ``p`` changes the loss of domain ``i`` by ``-sum_j A_ij p_j``. Given an
estimate of ``A [K, K]``, the update is exponentiated gradient on the total loss decrease,
``p = softmax(log p + step_size * s / max|s|)`` with ``s_j = sum_i A_ij``, then a floor.

Two estimators of ``A`` behind the same interface (``estimator=``):

* ``"probe"`` -- the reference method: each round of ``round_steps`` steps starts with ``probe_fraction`` of
  its steps on ``K`` skewed probe mixtures ``q_j = skew * e_j + (1 - skew) * p`` (the reference code spends
  140 of every 200 steps this way), with held-out losses of every domain measured before and after each probe
  segment. ``Delta L [:, j] = -A q_j`` gives ``A = -Delta L (Q^T)^{-1}``.
* ``"window"`` -- mixkit's cheaper estimate: no probe steps and no extra evaluation. Training runs on the
  current ``p`` multiplied by small seeded log-normal perturbations (``perturbation``, refreshed every
  ``perturb_every`` steps); per-domain *training* losses (free: computed anyway, measured before the step's
  update) are regressed, over a sliding window of ``window`` steps, on the cumulative mixture consumed so far:
  ``L_i(t) ~ c_i - sum_j A_ij C_j(t)`` with ``C(t) = sum_{tau < t} w(tau)`` (ridge least squares). The
  sampler's low-discrepancy schedule realises the requested weights to within one sequence per prefix, so the
  requested weights are the consumed ones.

Loop contract: call ``update(step, ...)`` after training step ``step`` whenever ``wants_signal(step)``;
``needs`` says what to pass (``"eval_losses"``: held-out loss of every domain; ``"losses"``: training batch
losses). A loop first asks ``wants_signal(-1)`` to take a baseline before training.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import torch

from mixkit.domain.online.online_method import (
    OnlineMixer,
    check_fraction,
    check_positive,
    exp_update,
    mix_floor,
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
    """Online linear mixing-law estimation (see module docstring for both estimators)."""

    _repr_fields = ("estimator", "step_size", "floor")

    def __init__(
        self,
        domains: Sequence[str],
        step_size: float = 0.3,
        estimator: str = "window",
        floor: float = 0.02,
        # probe estimator
        round_steps: int = 200,
        probe_fraction: float = 0.7,
        probe_skew: float = 0.8,
        # window estimator
        window: int = 60,
        update_every: int = 20,
        perturbation: float = 0.3,
        perturb_every: int = 4,
        ridge: float = 1e-3,
        seed: int = 0,
        initial_weights: Mapping[str, float] | None = None,
    ) -> None:
        super().__init__(domains, initial_weights)
        if estimator not in ("window", "probe"):
            raise ValueError(f"estimator must be 'window' or 'probe', got {estimator!r}")
        for name, value in (
            ("round_steps", round_steps),
            ("window", window),
            ("update_every", update_every),
            ("perturb_every", perturb_every),
        ):
            if not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be a positive int, got {value!r}")
        self.estimator = estimator
        self.needs = "eval_losses" if estimator == "probe" else "losses"
        self.step_size = check_positive(step_size, "step_size")
        self.floor = check_fraction(floor, "floor")
        self.round_steps = round_steps
        self.probe_fraction = check_fraction(probe_fraction, "probe_fraction")
        self.probe_skew = check_positive(probe_skew, "probe_skew")
        if self.probe_skew > 1:
            raise ValueError(f"probe_skew must be in (0, 1], got {probe_skew!r}")
        k = len(self.domains)
        self.segment = int(round(self.probe_fraction * round_steps)) // k
        if estimator == "probe" and self.segment < 1:
            raise ValueError(
                f"round_steps * probe_fraction = {round_steps * probe_fraction:.0f} "
                f"is < one step per domain ({k})"
            )
        self.window = window
        self.update_every = update_every
        self.perturbation = check_positive(perturbation, "perturbation", allow_zero=True)
        self.perturb_every = perturb_every
        self.ridge = check_positive(ridge, "ridge", allow_zero=True)
        self.seed = int(seed)
        self.last_a: torch.Tensor | None = None
        self.probe_steps = 0  # steps trained on a probe mixture (overhead of the probe estimator)
        self.eval_calls = 0  # held-out evaluations requested
        # probe state
        self._probe_j: int | None = None
        self._prev_eval: torch.Tensor | None = None
        self._delta = torch.zeros(k, k, dtype=torch.float64)
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

    def _probe_mixture(self, j: int) -> torch.Tensor:
        e = torch.zeros_like(self._p)
        e[j] = 1.0
        return self.probe_skew * e + (1 - self.probe_skew) * self._p

    def _perturbed(self, step: int) -> torch.Tensor:
        if self.perturbation == 0:
            return self._p.clone()
        g = torch.Generator().manual_seed(self.seed * 1_000_003 + step // self.perturb_every)
        z = torch.randn(len(self.domains), generator=g, dtype=torch.float64)
        return torch.softmax(torch.log(self._p) + self.perturbation * z, dim=0)

    def wants_signal(self, step: int) -> bool:
        """Window: every step. Probe: at the end of each probe segment and of each round (and at -1)."""
        if self.estimator == "window":
            return step >= 0
        local = step % self.round_steps
        k = len(self.domains)
        return local == self.round_steps - 1 or (
            (local + 1) % self.segment == 0 and local + 1 <= k * self.segment
        )

    def update(
        self,
        step: int,
        losses_by_domain: Mapping[str, Any] | None = None,
        grads_by_domain: Mapping[str, torch.Tensor] | None = None,
    ) -> dict[str, float]:
        """Record the signal, re-estimate ``A`` when due, and return the weights for the next step."""
        if self.estimator == "probe":
            self._update_probe(step, losses_by_domain)
        else:
            self._update_window(step, losses_by_domain)
        return self.weights

    # --- reference estimator: probe rounds ------------------------------------------------------------
    def _update_probe(self, step: int, losses_by_domain: Mapping[str, Any] | None) -> None:
        losses, seen = self._loss_vector(losses_by_domain)
        if not bool(seen.all()):
            raise ValueError(
                "Aioli(estimator='probe') needs the held-out loss of every domain at each signal"
            )
        self.eval_calls += 1
        k = len(self.domains)
        local = step % self.round_steps
        if (
            self._probe_j is not None
            and self._prev_eval is not None
            and (local + 1) == (self._probe_j + 1) * self.segment
        ):
            self._delta[:, self._probe_j] = (losses - self._prev_eval) / self.segment
            self.probe_steps += self.segment
            self._probe_j += 1
            if self._probe_j == k:  # all probes done: solve for A and move p
                q = torch.stack([self._probe_mixture(j) for j in range(k)])
                self.last_a = -self._delta @ torch.linalg.inv(q.T)
                self._p = mix_floor(
                    exp_update(self._p, mixing_law_scores(self.last_a), self.step_size), self.floor
                )
                self.steps_seen += 1
                self._probe_j = None
        if local == self.round_steps - 1:  # next step starts a round with probe 0
            self._probe_j = 0
        self._prev_eval = losses
        if self._probe_j is not None:
            self._current = self._probe_mixture(self._probe_j)
        else:
            self._current = self._p.clone()

    # --- cheap estimator: sliding-window least squares --------------------------------------------------
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
                exp_update(self._p, mixing_law_scores(self.last_a), self.step_size), self.floor
            )
            self.steps_seen += 1
        self._current = self._perturbed(step + 1)

    def state_dict(self) -> dict[str, Any]:
        """Everything needed to continue identically, including the window rows and probe position."""
        return {
            **self._base_state(),
            "current": self._current.clone(),
            "probe_j": self._probe_j,
            "prev_eval": None if self._prev_eval is None else self._prev_eval.clone(),
            "delta": self._delta.clone(),
            "cum": self._cum.clone(),
            "rows": [
                torch.stack(r) if r else None for r in (self._rows_cum, self._rows_loss, self._rows_seen)
            ],
            "probe_steps": self.probe_steps,
            "eval_calls": self.eval_calls,
        }

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """Restore a :meth:`state_dict`."""
        super().load_state_dict(state)
        self._current = state["current"].clone()
        self._probe_j = state["probe_j"]
        self._prev_eval = None if state["prev_eval"] is None else state["prev_eval"].clone()
        self._delta = state["delta"].clone()
        self._cum = state["cum"].clone()
        rows = state["rows"]
        self._rows_cum, self._rows_loss, self._rows_seen = (
            [] if r is None else list(r.unbind(0)) for r in rows
        )
        self.probe_steps = int(state["probe_steps"])
        self.eval_calls = int(state["eval_calls"])
