"""Aioli against an oracle written from the release (HazyResearch/aioli, trainer/aioli_trainer.py:
``train`` and ``learn_params_subroutine``), both driven by the same simulated trainer for 200 steps."""

import math

import numpy as np
import pytest
import torch

from mixkit.domain.online import Aioli

K, ROUND, SWEEPS, SEG, STEPS = 3, 40, 2, 3, 200
RATES = np.array([0.03, 0.01, 0.02])
FLOORS = np.array([1.0, 2.0, 0.5])
CROSS = np.array([[1.0, 0.3, 0.0], [0.2, 1.0, 0.1], [0.0, 0.4, 1.0]])


def train_step(loss, mix):
    """Training one step on mixture ``mix`` lowers each domain's loss (with cross-domain transfer)."""
    return loss - RATES * (CROSS @ mix) * (loss - FLOORS)


def order(seed, r):
    g = torch.Generator().manual_seed(seed * 1_000_003 + r)
    return torch.cat([torch.randperm(K, generator=g) for _ in range(SWEEPS)]).tolist()


def oracle(eta, ohf, ema, normalize, seed):
    loss = np.array([5.0, 6.0, 4.0])
    weights_init = np.ones(K)
    weights = weights_init.copy()
    ema_graph = None
    trajectory = []  # mixture used at each step
    step = 0
    for r in range(STEPS // ROUND):
        prev = loss.copy()  # evaluate L0
        graph = np.zeros((K, K))
        for j in order(seed, r):
            q = np.ones(K) * (1 - ohf) / (K - 1)
            q[j] = ohf
            for _ in range(SEG):
                trajectory.append(q / q.sum())
                loss = train_step(loss, q)
                step += 1
            graph[:, j] += prev - loss
            prev = loss.copy()
        graph /= SWEEPS
        if ohf != 1:
            wm = np.array([[ohf if c == i else (1 - ohf) / (K - 1) for c in range(K)] for i in range(K)])
            graph = np.array([np.linalg.solve(wm, row) for row in graph])
        if normalize:
            if graph.min() < 0:
                graph = graph - graph.min()
            graph = graph / graph.sum()
        if ema is not None:
            ema_graph = graph if r == 0 else (1 - ema) * graph + ema * ema_graph
            weights = weights_init * np.exp(eta * ema_graph.sum(axis=0))
        else:
            weights = (
                weights_init * np.exp(eta * graph.sum(axis=0))
                if r == 0
                else weights * np.exp(eta * graph.sum(axis=0))
            )
        p = weights / weights.sum()
        while step % ROUND != 0:
            trajectory.append(p)
            loss = train_step(loss, p)
            step += 1
    return trajectory


def run_mixkit(m):
    names = m.domains
    loss = np.array([5.0, 6.0, 4.0])
    m.update(-1, losses_by_domain=dict(zip(names, loss.tolist())))
    trajectory = []
    for step in range(STEPS):
        mix = np.array([m.weights[n] for n in names])
        trajectory.append(mix)
        loss = train_step(loss, mix)
        if m.wants_signal(step):
            m.update(step, losses_by_domain=dict(zip(names, loss.tolist())))
    return trajectory


@pytest.mark.parametrize(
    "eta,ohf,ema,normalize", [(0.1, 0.5, 0.5, True), (5.0, 0.6, None, False), (2.0, 1.0, 0.2, True)]
)
def test_aioli_matches_the_release_for_200_steps(eta, ohf, ema, normalize):
    m = Aioli(
        ["a", "b", "c"],
        step_size=eta,
        round_steps=ROUND,
        probe_rounds=SWEEPS,
        probe_steps=SEG,
        one_hot_factor=ohf,
        ema=ema,
        normalize=normalize,
        seed=4,
    )
    got = run_mixkit(m)
    want = oracle(eta, ohf, ema, normalize, seed=4)
    assert len(got) == len(want) == STEPS
    assert max(float(np.abs(g - w).max()) for g, w in zip(got, want)) < 1e-6
    assert m.steps_seen == STEPS // ROUND and m.probe_steps_used == (STEPS // ROUND) * SWEEPS * K * SEG


def test_aioli_release_defaults_keep_a_bounded_ratio():
    m = Aioli(["a", "b", "c"])  # eta 0.1 on a normalised matrix: ratio of weights <= e^0.1
    assert (m.step_size, m.round_steps, m.probe_rounds, m.probe_steps, m.one_hot_factor, m.ema) == (
        0.1,
        250,
        4,
        6,
        0.5,
        0.5,
    )
    a = m._solve_law(torch.tensor([[5.0, -1.0, 0.0], [0.0, 2.0, 7.0], [1.0, 1.0, 1.0]], dtype=torch.float64))
    assert abs(float(a.sum()) - 1) < 1e-12 and float(a.min()) >= 0
    w = torch.softmax(0.1 * a.sum(0), 0)
    assert float(w.max() / w.min()) <= math.exp(0.1) + 1e-12


def test_aioli_is_finite_for_huge_losses_and_rejects_nan():
    m = Aioli(
        ["a", "b"],
        round_steps=10,
        probe_rounds=1,
        probe_steps=2,
        one_hot_factor=0.8,
        ema=None,
        normalize=False,
    )
    m.update(-1, losses_by_domain={"a": 1e200, "b": 0.0})
    for step in range(10):
        if m.wants_signal(step):
            w = m.update(step, losses_by_domain={"a": 1e200 * (step % 3), "b": -1e200 * step})
            assert all(math.isfinite(v) for v in w.values())
    with pytest.raises(ValueError, match="finite"):
        m.update(11, losses_by_domain={"a": float("nan"), "b": 0.0})
