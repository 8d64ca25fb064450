"""R&B, Regroup and Balance (Ge et al. 2025, "R&B: Domain Regrouping and Data Mixture Balancing for Efficient
Foundation Model Training", https://arxiv.org/abs/2505.00358; Algorithm 1/3 and Appendix E of the paper, no
public release found).

*Balance* (:class:`RnB`): training runs in rounds of ``round_steps`` steps. During a round the loop passes,
after every step, each present domain's gradient of its summed per-example loss with respect to the *final
layer* (the paper reads these off the ordinary backward pass: ``dl/ds`` times the layer input, Appendix E)
and its example count. At the end of the round, with the accumulated gradients ``g_i`` and counts ``n_i``:
``G_ij = <g_i, g_j> / (n_i n_j)``, ``v = G p_eval`` with the evaluation proportions ``p_eval``, and the next
round samples from ``softmax(temperature * v / ||v||_2)`` -- recomputed each round, not multiplied in.
Defaults from the paper: ``temperature`` (its lambda) = 3, one tracked layer, rounds start uniform.
Deviations: the round length is not stated in the paper (default 50 steps is ours); when ``v`` is zero (e.g.
no evaluation domain seen, where the paper's norm is NaN) the weights stay unchanged.

*Regroup* (:func:`regroup`, :func:`choose_groups`): re-partition the training data into semantically
coherent domains by k-means on embeddings (the paper embeds with ModernBERT-embed), choosing the number of
groups by silhouette score (the paper's Algorithm 2); pass the labels as the new domains.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import torch
from torch import Tensor

from mixkit.domain.online.online_method import (
    OnlineMixer,
    as_float,
    check_positive,
    check_step,
    exp_update,
    small_to_host,
    state_has,
    state_matrix,
    state_vector,
    weights_vector,
)


def rnb_proportions(
    grads: Tensor, counts: Tensor, eval_proportions: Tensor, temperature: float
) -> Tensor | None:
    """The Balance rule: ``softmax(temperature * v / ||v||)`` with ``v = G p_eval``,
    ``G_ij = <g_i, g_j> / (n_i n_j)``. ``grads [K, D]`` (summed gradients), ``counts [K]``, ``eval_proportions
    [K]``. Returns float64 ``[K]`` on the host, or ``None`` when ``v`` is zero."""
    n = counts.to(device=grads.device, dtype=grads.dtype)
    mean = grads / n.clamp_min(1).unsqueeze(1)  # unseen domains: zero gradient
    scale = mean.abs().max()
    if not torch.isfinite(scale):
        raise ValueError("grads_by_domain holds non-finite values")
    mean = mean / scale if scale > 0 else mean  # the rule is scale-free: no overflow for large gradients
    gram = small_to_host(mean @ mean.T, "grads_by_domain")
    v = gram @ eval_proportions
    norm = v.norm()
    if not norm > 0:
        return None
    return exp_update(torch.full_like(v, 1.0 / v.numel()), v / norm, temperature, "gradient scores")


class RnB(OnlineMixer):
    """R&B's Balance step (see the module docstring).

    Args:
        domains: domain names.
        temperature: the paper's lambda (3).
        round_steps: steps per round.
        eval_proportions: ``{domain: weight}`` of the evaluation data (uniform if None).
        initial_weights: the first round's mixture (uniform, as in the paper, if None).
    """

    needs = "grads"
    gradient_scope = "final_layer"
    _repr_fields = ("temperature", "round_steps")

    def __init__(
        self,
        domains: Sequence[str],
        temperature: float = 3.0,
        round_steps: int = 50,
        eval_proportions: Mapping[str, float] | None = None,
        initial_weights: Mapping[str, float] | None = None,
    ) -> None:
        super().__init__(domains, initial_weights)
        if isinstance(round_steps, bool) or not isinstance(round_steps, int) or round_steps < 1:
            raise ValueError(f"round_steps must be a positive int, got {round_steps!r}")
        self.temperature = check_positive(temperature, "temperature")
        self.round_steps = round_steps
        self._eval = weights_vector(self.domains, eval_proportions)
        self._acc: Tensor | None = None  # [K, D] summed final-layer gradients of the round
        self._counts = torch.zeros(len(self.domains), dtype=torch.float64)
        self.last_gram: Tensor | None = None

    def wants_signal(self, step: int) -> bool:
        """Every training step (the gradients come from the step's own backward pass)."""
        return step >= 0

    def update(
        self,
        step: int,
        losses_by_domain: Mapping[str, Any] | None = None,
        grads_by_domain: Mapping[str, Tensor] | None = None,
        counts_by_domain: Mapping[str, Any] | None = None,
    ) -> dict[str, float]:
        """Accumulate one step's per-domain summed gradients (domains absent from the batch may be omitted)
        and example counts (1 each when ``counts_by_domain`` is None); at the end of a round set the new
        weights."""
        check_step(step)
        if grads_by_domain is None:
            raise ValueError("RnB.update needs grads_by_domain (domain -> summed final-layer gradient)")
        unknown = set(grads_by_domain) - set(self.domains)
        if unknown:
            raise ValueError(f"grads_by_domain names unknown domains {sorted(unknown)}")
        present = [d for d in self.domains if d in grads_by_domain]
        if present:
            mat = self._grad_matrix(grads_by_domain, present)
            if self._acc is None:
                self._acc = torch.zeros(
                    len(self.domains), mat.shape[1], dtype=torch.float64, device=mat.device
                )
            elif self._acc.shape[1] != mat.shape[1]:
                raise ValueError("grads_by_domain tensors must keep the same length across steps")
            idx = torch.tensor([self.domains.index(d) for d in present], device=mat.device)
            self._acc.index_add_(0, idx, mat.to(self._acc.dtype))
            for d in present:
                c = (
                    1.0
                    if counts_by_domain is None
                    else as_float(counts_by_domain[d], f"counts_by_domain[{d!r}]")
                )
                if c < 0:
                    raise ValueError(f"counts_by_domain[{d!r}] must be >= 0, got {c}")
                self._counts[self.domains.index(d)] += c
        if (step + 1) % self.round_steps == 0 and self._acc is not None:
            p = rnb_proportions(self._acc, self._counts, self._eval, self.temperature)
            if p is not None:
                self._p = p
                self.steps_seen += 1
            self._acc = None
            self._counts = torch.zeros_like(self._counts)
        return self.weights

    def state_dict(self) -> dict[str, Any]:
        """Weights, evaluation proportions and the round's accumulators (plain JSON)."""
        return {
            **self._base_state(),
            "eval": self._eval.tolist(),
            "counts": self._counts.tolist(),
            "acc": None if self._acc is None else self._acc.detach().cpu().double().tolist(),
        }

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """Restore a :meth:`state_dict` (validated; ``ValueError`` names a bad field)."""
        super().load_state_dict(state)
        k = len(self.domains)
        self._eval = state_vector(state, "eval", k, positive=True)
        self._counts = state_vector(state, "counts", k)
        self._acc = None if not state_has(state, "acc") else state_matrix(state, "acc", k, None)


def regroup(embeddings: Tensor, k: int, seed: int = 0, iters: int = 100) -> tuple[Tensor, Tensor]:
    """R&B's Regroup: k-means (k-means++ seeding, Lloyd iterations) of ``embeddings [N, D]``.

    Returns (labels int64 ``[N]`` in ``[0, k)``, centroids ``[k, D]``). Deterministic for a given ``seed``.
    """
    if embeddings.dim() != 2 or embeddings.shape[0] < k or k < 1:
        raise ValueError(
            f"embeddings must be [N, D] with N >= k >= 1, got {tuple(embeddings.shape)} and k={k}"
        )
    x = embeddings.detach().to(torch.float64)
    if not bool(torch.isfinite(x).all()):
        raise ValueError("embeddings must be finite")
    g = torch.Generator().manual_seed(seed)
    first = int(torch.randint(x.shape[0], (1,), generator=g))
    centers = [x[first]]
    d2 = ((x - centers[0]) ** 2).sum(1)
    for _ in range(1, k):
        probs = d2 / d2.sum() if d2.sum() > 0 else torch.full_like(d2, 1 / len(d2))
        nxt = int(torch.multinomial(probs.cpu(), 1, generator=g))
        centers.append(x[nxt])
        d2 = torch.minimum(d2, ((x - x[nxt]) ** 2).sum(1))
    c = torch.stack(centers)
    labels = torch.cdist(x, c).argmin(1)
    for _ in range(iters):
        sums = torch.zeros_like(c).index_add_(0, labels, x)
        counts = torch.zeros(k, dtype=x.dtype, device=x.device).index_add_(
            0, labels, torch.ones_like(x[:, 0])
        )
        c = torch.where(counts[:, None] > 0, sums / counts.clamp_min(1)[:, None], c)
        new = torch.cdist(x, c).argmin(1)
        if torch.equal(new, labels):
            break
        labels = new
    return labels, c


def silhouette(embeddings: Tensor, labels: Tensor) -> float:
    """Mean silhouette score of a clustering (Euclidean; O(N^2) memory, for modest N)."""
    x = embeddings.detach().to(torch.float64)
    dist = torch.cdist(x, x)
    k = int(labels.max()) + 1
    onehot = torch.nn.functional.one_hot(labels, k).to(x.dtype)  # [N, k]
    sizes = onehot.sum(0)
    mean_to = dist @ onehot  # [N, k] summed distances to each cluster
    own = sizes[labels]
    a = mean_to.gather(1, labels[:, None]).squeeze(1) / (own - 1).clamp_min(1)
    other = mean_to / sizes.clamp_min(1)
    other = other.scatter(1, labels[:, None], float("inf"))
    other = torch.where(sizes[None, :] > 0, other, torch.full_like(other, float("inf")))
    b = other.min(1).values
    s = torch.where(own > 1, (b - a) / torch.maximum(a, b).clamp_min(1e-300), torch.zeros_like(a))
    return float(s.mean())


def choose_groups(
    embeddings: Tensor, ks: Sequence[int], seed: int = 0
) -> tuple[int, Tensor, dict[int, float]]:
    """Algorithm 2 of the paper: k-means for each ``k`` in ``ks``; keep the best silhouette score.

    Returns (best k, its labels ``[N]``, ``{k: silhouette}``)."""
    scores: dict[int, float] = {}
    best: tuple[float, int, Tensor] | None = None
    for k in ks:
        labels, _ = regroup(embeddings, int(k), seed)
        scores[int(k)] = silhouette(embeddings, labels)
        if best is None or scores[int(k)] > best[0]:
            best = (scores[int(k)], int(k), labels)
    if best is None:
        raise ValueError("ks must name at least one number of groups")
    return best[1], best[2], scores
