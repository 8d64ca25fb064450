"""DGA, Dynamic Gradient Alignment (Fan, Grangier, Ablin 2024, "Dynamic Gradient Alignment for Online Data
Mixing", https://arxiv.org/abs/2410.02498; no public release found): upweight the domains whose gradient
points where the gradient of a small *specific* (target) set points.

Every ``every`` steps, with domain gradients ``g_i`` and the target gradient ``g_T`` at the current
parameters:

* score ``s_i = <g_i, g_T>`` -- the inner product: the first-order change of the target loss after a step on
  domain ``i`` (``similarity="cosine"`` is an option of ours that makes ``step_size`` scale-free);
* ``a' = softmax(log a + step_size * s)`` (exponentiated gradient on the simplex);
* with ``ema > 0`` (the paper's stabilised variant) ``a = ema * a + (1 - ema) * a'``, else ``a = a'``.

Distribution reweighting (the paper's variant for many fine-grained domains): with ``basis``, a mapping
``name -> distribution over domains``, DGA learns weights ``alpha`` over the ``n`` basis distributions and
samples domains from ``sum_j alpha_j P_j``; the gradient of basis ``j`` is ``sum_i P_j[i] g_i``, computed
here from the per-domain gradients (``grads_by_domain`` may instead give each basis gradient by name).

Deviations: the reference loop passes the gradients of the step's batch split by domain (and of a held-out
target batch), rather than a fresh batch per domain; ``floor`` (default 0) is an option of ours. The rule
above follows the paper's published description (inner-product alignment, exponentiated update on the
simplex, optional EMA, basis reweighting); its default ``step_size``, ``ema`` and ``every`` were not
checked against the paper's full text, which was not at hand.
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
    mix_floor,
    small_to_host,
    state_vector,
    weights_vector,
)


def similarity_scores(grads: torch.Tensor, target: torch.Tensor, similarity: str) -> torch.Tensor:
    """``[K]`` inner products (or cosines) of the rows of ``grads [K, D]`` with ``target [D]``, float64 on
    the host. Both sides are divided by a power of two near their largest magnitude before the products
    (on the gradients' device; only the K numbers move), so float32 gradients of any size do not overflow."""
    gs = small_to_host(grads.abs().max().reshape(1), "grads_by_domain")
    ts = small_to_host(target.abs().max().reshape(1), "grads_by_domain")
    if not (gs > 0 and ts > 0):
        return torch.zeros(grads.shape[0], dtype=torch.float64)
    gs, ts = torch.exp2(torch.ceil(torch.log2(gs))), torch.exp2(torch.ceil(torch.log2(ts)))  # exact scaling
    g = grads / gs.to(grads.device, grads.dtype)
    t = target / ts.to(target.device, target.dtype)
    dots = small_to_host(g @ t, "grads_by_domain")
    if similarity == "dot":
        return dots * (gs * ts)
    norms = small_to_host(g.norm(dim=1) * t.norm(), "grads_by_domain")
    return torch.where(norms > 0, dots / norms.clamp_min(1e-300), torch.zeros_like(dots))


class DGA(OnlineMixer):
    """Gradient alignment with a target set (see the module docstring).

    Args:
        domains: domain names.
        target: key of the target gradient in ``grads_by_domain`` (a training domain or a held-out set).
        step_size: the outer learning rate.
        every: update every ``every`` steps.
        ema: weight on the previous weights (0: plain DGA).
        similarity: ``"dot"`` (paper) or ``"cosine"``.
        floor: mixed with uniform after each update (0: none).
        basis: optional ``{name: {domain: weight}}`` for the distribution-reweighting variant.
        initial_weights: initial weights over the domains (or over the basis names with ``basis``).
    """

    needs = "grads"
    gradient_scope = "all"
    _repr_fields = ("target", "similarity", "step_size", "ema", "every")

    def __init__(
        self,
        domains: Sequence[str],
        target: str,
        step_size: float = 1.0,
        every: int = 10,
        ema: float = 0.0,
        similarity: str = "dot",
        floor: float = 0.0,
        basis: Mapping[str, Mapping[str, float]] | None = None,
        initial_weights: Mapping[str, float] | None = None,
    ) -> None:
        super().__init__(domains, None if basis is not None else initial_weights)
        if not isinstance(target, str) or not target:
            raise ValueError(f"target must be a non-empty name, got {target!r}")
        if similarity not in ("cosine", "dot"):
            raise ValueError(f"similarity must be 'dot' or 'cosine', got {similarity!r}")
        if isinstance(every, bool) or not isinstance(every, int) or every < 1:
            raise ValueError(f"every must be a positive int, got {every!r}")
        self.target = target
        self.similarity = similarity
        self.step_size = check_positive(step_size, "step_size")
        self.ema = check_fraction(ema, "ema")
        self.floor = check_fraction(floor, "floor")
        self.every = every
        self.basis_names: list[str] | None = None
        self._basis: torch.Tensor | None = None  # [n, K] rows are distributions over domains
        if basis is not None:
            if not isinstance(basis, Mapping) or len(basis) < 2:
                raise ValueError("basis must map at least 2 names to distributions over the domains")
            self.basis_names = [str(b) for b in basis]
            self._basis = torch.stack([weights_vector(self.domains, basis[b]) for b in basis])
            self._alpha = weights_vector(self.basis_names, initial_weights)
            self._p = self._alpha @ self._basis
        else:
            self._alpha = self._p.clone()

    @property
    def basis_weights(self) -> dict[str, float] | None:
        """Weights over the basis distributions (``None`` without ``basis``)."""
        if self.basis_names is None:
            return None
        return {b: float(v) for b, v in zip(self.basis_names, self._alpha.tolist())}

    def wants_signal(self, step: int) -> bool:
        """True every ``every`` steps (when the loop should compute the gradients)."""
        return step >= 0 and step % self.every == 0

    def _score_matrix(self, grads_by_domain: Mapping[str, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
        if self.basis_names is not None and all(b in grads_by_domain for b in self.basis_names):
            keys = self.basis_names + [self.target]
            mat = self._grad_matrix(grads_by_domain, keys)
            return mat[:-1], mat[-1]
        keys = list(self.domains) + ([self.target] if self.target not in self.domains else [])
        mat = self._grad_matrix(grads_by_domain, keys)
        rows = mat[: len(self.domains)]
        if self._basis is not None:
            rows = self._basis.to(device=rows.device, dtype=rows.dtype) @ rows
        return rows, mat[keys.index(self.target)]

    def update(
        self,
        step: int,
        losses_by_domain: Mapping[str, Any] | None = None,
        grads_by_domain: Mapping[str, torch.Tensor] | None = None,
    ) -> dict[str, float]:
        """One DGA step from ``grads_by_domain`` (every domain -- or every basis name -- plus ``target``)."""
        check_step(step)
        if grads_by_domain is None:
            raise ValueError("DGA.update needs grads_by_domain (domain -> 1-D gradient)")
        rows, target = self._score_matrix(grads_by_domain)
        scores = similarity_scores(rows, target, self.similarity)
        proposal = exp_update(self._alpha, scores, self.step_size, "gradient alignment scores")
        self._alpha = mix_floor(self.ema * self._alpha + (1 - self.ema) * proposal, self.floor)
        self._p = self._alpha @ self._basis if self._basis is not None else self._alpha.clone()
        self.steps_seen += 1
        return self.weights

    def state_dict(self) -> dict[str, Any]:
        """Weights (over domains and, with ``basis``, over the basis) and the step count."""
        return {**self._base_state(), "alpha": self._alpha.tolist()}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """Restore a :meth:`state_dict` (validated; ``ValueError`` names a bad field)."""
        super().load_state_dict(state)
        self._alpha = state_vector(state, "alpha", self._alpha.numel(), positive=True)
