"""R&B against an oracle written from the paper (Ge et al. 2025, Algorithm 1): per round, accumulate each
domain's summed final-layer gradient and its example count, G_ij = <g_i, g_j> / (n_i n_j),
p = softmax(lambda * G p_eval / ||G p_eval||); plus the Regroup step (k-means)."""

import math

import pytest
import torch

from mixkit.domain.online import RnB, choose_groups, regroup

K, D, ROUND, STEPS = 4, 6, 5, 60
NAMES = [f"d{i}" for i in range(K)]


def _steps(seed):
    g = torch.Generator().manual_seed(seed)
    out = []
    for _ in range(STEPS):
        present = [n for n in NAMES if torch.rand((), generator=g) < 0.75]
        grads = {
            n: torch.randn(D, generator=g, dtype=torch.float64) * (1 + i)
            for i, n in enumerate(NAMES)
            if n in present
        }
        counts = {n: float(torch.randint(1, 5, (), generator=g)) for n in present}
        out.append((grads, counts))
    return out


def oracle(steps, lam, p_eval):
    p = [1 / K] * K
    acc = [[0.0] * D for _ in range(K)]
    cnt = [0.0] * K
    out = []
    for t, (grads, counts) in enumerate(steps):
        for i, n in enumerate(NAMES):
            if n in grads:
                acc[i] = [acc[i][c] + float(grads[n][c]) for c in range(D)]
                cnt[i] += counts[n]
        if (t + 1) % ROUND == 0:
            gram = [
                [
                    sum(acc[i][c] * acc[j][c] for c in range(D)) / (max(cnt[i], 1) * max(cnt[j], 1))
                    for j in range(K)
                ]
                for i in range(K)
            ]
            v = [sum(gram[i][j] * p_eval[j] for j in range(K)) for i in range(K)]
            norm = math.sqrt(sum(x * x for x in v))
            logits = [lam * x / norm for x in v]
            z = sum(math.exp(x - max(logits)) for x in logits)
            p = [math.exp(x - max(logits)) / z for x in logits]
            acc = [[0.0] * D for _ in range(K)]
            cnt = [0.0] * K
        out.append(list(p))
    return out


@pytest.mark.parametrize("lam,p_eval", [(3.0, [0.25] * 4), (10.0, [0.6, 0.0, 0.3, 0.1])])
def test_rnb_matches_the_paper_rule_for_60_steps(lam, p_eval):
    steps = _steps(2)
    m = RnB(NAMES, temperature=lam, round_steps=ROUND, eval_proportions=dict(zip(NAMES, p_eval)))
    for t, ((grads, counts), want) in enumerate(zip(steps, oracle(steps, lam, p_eval))):
        got = m.update(t, grads_by_domain=grads, counts_by_domain=counts)
        assert max(abs(got[n] - want[i]) for i, n in enumerate(NAMES)) < 1e-6, t
    assert m.steps_seen == STEPS // ROUND


def test_rnb_is_finite_for_huge_gradients_and_rejects_nan():
    m = RnB(["a", "b"], round_steps=1)
    w = m.update(0, grads_by_domain={"a": torch.full((3,), 1e30), "b": torch.ones(3)})
    assert all(math.isfinite(v) for v in w.values())
    with pytest.raises(ValueError, match="non-finite"):
        m.update(1, grads_by_domain={"a": torch.tensor([float("inf")] * 3), "b": torch.ones(3)})


def test_regroup_recovers_separated_clusters_and_picks_k_by_silhouette():
    g = torch.Generator().manual_seed(0)
    centers = torch.tensor([[0.0, 0.0], [10.0, 0.0], [0.0, 10.0]])
    x = torch.cat([c + 0.3 * torch.randn(40, 2, generator=g) for c in centers])
    labels, _ = regroup(x, 3, seed=1)
    for block in range(3):
        assert labels[block * 40 : (block + 1) * 40].unique().numel() == 1
    assert labels.unique().numel() == 3
    best, _, scores = choose_groups(x, [2, 3, 4, 5], seed=1)
    assert best == 3 and scores[3] > 0.8
