"""DGA against an oracle written from the paper's update (Fan, Grangier, Ablin 2024): exponentiated gradient
on the inner products of domain gradients with the target gradient, with the EMA variant and the
distribution-reweighting variant (weights over basis distributions, basis gradient = sum_i P_j[i] g_i)."""

import math

import pytest
import torch

from mixkit.domain.online import DGA

K, D, UPDATES = 4, 7, 60
NAMES = [f"d{i}" for i in range(K)]


def _grads(seed, scale):
    g = torch.Generator().manual_seed(seed)
    return [
        {n: scale * torch.randn(D, generator=g, dtype=torch.float64) for n in [*NAMES, "spec"]}
        for _ in range(UPDATES)
    ]


def oracle(grads, eta, ema, basis=None):
    rows = [[1.0 if i == j else 0.0 for i in range(K)] for j in range(K)] if basis is None else basis
    n = len(rows)
    alpha = [1 / n] * n
    out = []
    for step in grads:
        scores = []
        for j in range(n):
            gj = [sum(rows[j][i] * float(step[NAMES[i]][c]) for i in range(K)) for c in range(D)]
            scores.append(sum(gj[c] * float(step["spec"][c]) for c in range(D)))
        logits = [math.log(alpha[j]) + eta * scores[j] for j in range(n)]
        top = max(logits)
        z = sum(math.exp(x - top) for x in logits)
        alpha = [ema * alpha[j] + (1 - ema) * math.exp(logits[j] - top) / z for j in range(n)]
        out.append([sum(alpha[j] * rows[j][i] for j in range(n)) for i in range(K)])
    return out


@pytest.mark.parametrize("eta,ema,scale", [(0.05, 0.0, 1.0), (0.3, 0.5, 1.0), (1.0, 0.2, 30.0)])
def test_dga_matches_the_paper_rule_for_60_updates(eta, ema, scale):
    grads = _grads(0, scale)
    m = DGA(NAMES, target="spec", step_size=eta, ema=ema, every=1)
    for step, (g, want) in enumerate(zip(grads, oracle(grads, eta, ema))):
        got = m.update(step, grads_by_domain=g)
        assert max(abs(got[n] - want[i]) for i, n in enumerate(NAMES)) < 1e-6


def test_dga_distribution_reweighting_matches_the_oracle():
    basis = [[0.7, 0.1, 0.1, 0.1], [0.0, 0.5, 0.5, 0.0], [0.25, 0.25, 0.25, 0.25]]
    grads = _grads(1, 1.0)
    m = DGA(
        NAMES,
        target="spec",
        step_size=0.2,
        ema=0.3,
        every=1,
        basis={f"b{j}": dict(zip(NAMES, row)) for j, row in enumerate(basis)},
    )
    for step, (g, want) in enumerate(zip(grads, oracle(grads, 0.2, 0.3, basis))):
        got = m.update(step, grads_by_domain=g)
        assert max(abs(got[n] - want[i]) for i, n in enumerate(NAMES)) < 1e-6
    assert set(m.basis_weights) == {"b0", "b1", "b2"}


def test_dga_is_finite_for_huge_gradients_and_rejects_nan():
    m = DGA(["a", "b"], target="t", every=1)
    w = m.update(
        0, grads_by_domain={"a": torch.full((3,), 1e30), "b": torch.zeros(3), "t": torch.full((3,), 1e30)}
    )
    assert all(math.isfinite(v) for v in w.values()) and abs(sum(w.values()) - 1) < 1e-12
    with pytest.raises(ValueError, match="non-finite"):
        m.update(
            1, grads_by_domain={"a": torch.tensor([float("nan")]), "b": torch.ones(1), "t": torch.ones(1)}
        )
