"""EXP3-FLAD and UCB1-FLAD against oracles written from the paper's algorithms and the release's update
order (Albalak et al. 2023; alon-albalak/FLAD src/trainer.py): reward = cosine of the drawn arm's gradient
with the target gradient, smoothed with ``beta``; EXP3: ``G_a += R_a / p_a``, ``eps_t = min(1/K,
sqrt(ln K / (K t)))``, ``p = (1 - K eps_t) exp(eps_{t-1} G) / sum + eps_t``; UCB1: argmax of
``R_a + sqrt(2 ln(n + K) / n_a)``. Plain floats and loops."""

import json
import math

import pytest
import torch

from mixkit.domain.online import EXP3FLAD, UCB1FLAD

K, D = 5, 6
NAMES = [f"aux{i}" for i in range(K)]


def cos(a, b):
    dot = sum(x * y for x, y in zip(a, b))
    return dot / (math.sqrt(sum(x * x for x in a)) * math.sqrt(sum(y * y for y in b)))


def _steps(n, seed=0, drawn=2):
    g = torch.Generator().manual_seed(seed)
    out = []
    for _ in range(n):
        arms = torch.randperm(K, generator=g)[:drawn].tolist()
        tgt = torch.randn(D, generator=g, dtype=torch.float64)
        grads = {NAMES[a]: torch.randn(D, generator=g, dtype=torch.float64) + (2 * tgt if a == 0 else 0)
                 for a in arms}
        grads["target"] = tgt
        out.append(grads)
    return out


def exp3_oracle(steps, beta, accum, scale=10.0):
    sim = {n: 1.0 for n in NAMES}
    gain = {n: 0.0 for n in NAMES}
    eps = 1.0 / K

    def probs(global_step, eps):
        prev = eps
        new = min(1.0 / K, math.sqrt(math.log(K) / (K * (global_step * accum * scale + 1))))
        tot = sum(math.exp(gain[n] * prev) for n in NAMES)
        return {n: math.exp(prev * gain[n]) * (1 - K * new) / tot + new for n in NAMES}, new

    p, eps = probs(0, eps)
    history = []
    for u, grads in enumerate(steps, 1):
        tgt = grads["target"].tolist()
        for n in NAMES:
            if n in grads:
                sim[n] = (1 - beta) * sim[n] + beta * cos(tgt, grads[n].tolist())
                gain[n] += sim[n] / p[n]
        p, eps = probs(u, eps)
        history.append([p[n] for n in NAMES])
    return history


@pytest.mark.parametrize("beta,accum", [(1.0, 1), (0.3, 4)])
def test_exp3_matches_oracle(beta, accum):
    steps = _steps(40)
    m = EXP3FLAD(NAMES, beta=beta, batches_per_update=accum)
    assert m.weights == pytest.approx({n: 1 / K for n in NAMES})
    want = exp3_oracle(steps, beta, accum)
    for u, grads in enumerate(steps):
        got = m.update(u, grads_by_domain=grads)
        assert [got[n] for n in NAMES] == pytest.approx(want[u], rel=1e-9, abs=1e-12)
    assert want[-1][0] > 1.3 / K  # the probabilities moved: the test can fail


def ucb1_oracle(steps, beta, init, per_update):
    sim = dict(init)
    n_a = {n: 1 for n in NAMES}
    played = 0
    chosen, rewards = [], []

    def best():
        t = played + K
        vals = {n: sim[n] + math.sqrt(2 * math.log(t) / n_a[n]) for n in NAMES}
        top, arm = -math.inf, None
        for n in NAMES:  # first strict maximum
            if vals[n] > top:
                top, arm = vals[n], n
        return arm

    for grads_fn in steps:
        drawn = {}
        for _ in range(per_update):
            a = best()
            chosen.append(a)
            n_a[a] += 1
            played += 1
            drawn[a] = True
        grads = grads_fn(list(drawn))
        tgt = grads["target"].tolist()
        for n in drawn:
            sim[n] = (1 - beta) * sim[n] + beta * cos(tgt, grads[n].tolist())
        rewards.append([sim[n] for n in NAMES])
    return chosen, rewards


def test_ucb1_matches_oracle():
    g = torch.Generator().manual_seed(7)
    table = {(u, n): torch.randn(D, generator=g, dtype=torch.float64) for u in range(30) for n in NAMES}
    tgts = [torch.randn(D, generator=g, dtype=torch.float64) for _ in range(30)]
    steps = [(lambda arms, u=u: {**{a: table[(u, a)] for a in arms}, "target": tgts[u]}) for u in range(30)]
    init = {n: 0.1 * i for i, n in enumerate(NAMES)}
    want_chosen, want_rewards = ucb1_oracle(steps, 0.1, init, per_update=3)
    m = UCB1FLAD(NAMES, beta=0.1, initial_rewards=init)
    chosen = []
    for u, fn in enumerate(steps):
        drawn = []
        for _ in range(3):
            drawn.append(m.next_domain())
        chosen += drawn
        m.update(u, grads_by_domain=fn(list(dict.fromkeys(drawn))))
        assert list(m.rewards.values()) == pytest.approx(want_rewards[u], rel=1e-9, abs=1e-12)
    assert chosen == want_chosen
    assert len(set(chosen)) > 1


def test_ucb1_counts_path_equals_next_domain_path():
    steps = _steps(10, seed=3, drawn=1)
    a, b = UCB1FLAD(NAMES), UCB1FLAD(NAMES)
    for u, grads in enumerate(steps):
        arm = a.next_domain()
        b_arm = max(b.weights, key=b.weights.get)
        assert arm == b_arm
        grads = {arm: grads[next(k for k in grads if k != "target")], "target": grads["target"]}
        a.update(u, grads_by_domain=grads)
        b.update(u, grads_by_domain=grads, counts_by_domain={arm: 1})
    assert a.state_dict() == b.state_dict()


@pytest.mark.parametrize("cls", [EXP3FLAD, UCB1FLAD])
def test_state_round_trip_and_errors(cls):
    steps = _steps(12, seed=4)
    a = cls(NAMES)
    for u, grads in enumerate(steps[:6]):
        a.update(u, grads_by_domain=grads)
    b = cls(NAMES)
    b.load_state_dict(json.loads(json.dumps(a.state_dict())))
    for u, grads in enumerate(steps[6:], 6):
        assert a.update(u, grads_by_domain=grads) == b.update(u, grads_by_domain=grads)
    gen_a, gen_b = torch.Generator().manual_seed(1), torch.Generator().manual_seed(1)
    assert a.next_domain(gen_a) == b.next_domain(gen_b)
    with pytest.raises(ValueError, match="target"):
        a.update(0, grads_by_domain={"aux0": torch.ones(3)})
    with pytest.raises(ValueError, match="unknown"):
        a.update(0, grads_by_domain={"zzz": torch.ones(3), "target": torch.ones(3)})
    with pytest.raises(ValueError, match="must not be one of"):
        cls(NAMES, target="aux0")
    with pytest.raises(ValueError, match="reward"):
        b.load_state_dict({**a.state_dict(), "reward": [1.0]})


def test_exp3_draws_follow_probabilities():
    m = EXP3FLAD(NAMES)
    m._p = torch.tensor([0.7, 0.1, 0.1, 0.05, 0.05], dtype=torch.float64)
    g = torch.Generator().manual_seed(0)
    draws = [m.next_domain(g) for _ in range(4000)]
    assert draws.count("aux0") / 4000 == pytest.approx(0.7, abs=0.03)
