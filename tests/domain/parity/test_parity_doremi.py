"""DoReMi against an oracle written from the released rule (sangmichaelxie/doremi, doremi/trainer.py):
per-token clipped excess averaged per domain, last score kept for absent domains (initially log V),
exponentiated-gradient step with smoothing, the average including the initial weights, and the proxy loss
reweighted by (a / s) / sum(a / s)."""

import math

import torch

from mixkit.domain.online import DoReMi

K, STEPS, B, T = 4, 60, 6, 5


def _inputs(seed):
    g = torch.Generator().manual_seed(seed)
    out = []
    for _ in range(STEPS):
        ids = torch.randint(0, K - 1, (B,), generator=g)  # the last domain never appears: keeps log V
        loss = torch.rand(B, T, generator=g, dtype=torch.float64) * 4
        ref = torch.rand(B, T, generator=g, dtype=torch.float64) * 4
        out.append((loss, ref, ids))
    return out


def oracle(inputs, eta, eps, init, vocab):
    w = list(init)
    score = [math.log(vocab)] * K
    avg, counter = list(w), 1
    history = []
    for loss, ref, ids in inputs:
        for d in range(K):
            vals = []
            for b in range(B):
                if int(ids[b]) == d:
                    vals += [max(float(loss[b, t]) - float(ref[b, t]), 0.0) for t in range(T)]
            if vals:
                score[d] = sum(vals) / len(vals)
        logits = [math.log(w[d]) + eta * score[d] for d in range(K)]
        top = max(logits)
        z = sum(math.exp(x - top) for x in logits)
        w = [(1 - eps) * math.exp(x - top) / z + eps / K for x in logits]
        counter += 1
        avg = [(avg[d] * (counter - 1) + w[d]) / counter for d in range(K)]
        history.append((list(w), list(avg)))
    return history


def test_doremi_matches_the_released_rule_for_60_steps():
    names = [f"d{i}" for i in range(K)]
    init = [0.1, 0.2, 0.3, 0.4]
    inputs = _inputs(0)
    m = DoReMi(names, initial_weights=dict(zip(names, init)))  # defaults: step 1, smoothing 1e-3, V=256
    expected = oracle(inputs, 1.0, 1e-3, init, 256)
    for (loss, ref, ids), (w, avg) in zip(inputs, expected):
        got = m.update_tokens(0, loss, ref, ids)
        assert max(abs(got[n] - w[i]) for i, n in enumerate(names)) < 1e-6
        assert max(abs(m.average_weights[n] - avg[i]) for i, n in enumerate(names)) < 1e-6
    assert m.scores["d3"] == math.log(256)  # never observed: the release's initial score
    # the proxy's loss factors: (a / s) / sum(a / s) with s the fixed sampling (reference) mixture
    c = [w[i] / init[i] for i in range(K)]
    c = [x / sum(c) for x in c]
    assert torch.allclose(m.loss_weights(), torch.tensor(c, dtype=torch.float64), atol=1e-12)
    assert m.sampling_weights == dict(zip(names, [x / sum(init) for x in init]))
    loss, _, ids = inputs[-1]
    per_token = [c[int(ids[b])] for b in range(B) for _ in range(T)]
    want = sum(p * float(v) for p, v in zip(per_token, loss.reshape(-1))) / sum(per_token)
    assert abs(float(m.reweighted_loss(loss, ids)) - want) < 1e-9


def test_doremi_clips_per_token_not_after_the_mean():
    m = DoReMi(["a", "b"], step_size=1.0, smoothing=0.0)
    loss = torch.tensor([[3.0, 0.0]], dtype=torch.float64)
    ref = torch.tensor([[1.0, 2.0]], dtype=torch.float64)  # excess [2, -2]: mean of clipped = 1, not 0
    m.update_tokens(0, loss, ref, torch.tensor([0]))
    assert m.scores["a"] == 1.0


def test_doremi_is_finite_for_huge_losses_and_rejects_nan():
    m = DoReMi(["a", "b", "c"])
    huge = torch.full((2, 3), 1e300, dtype=torch.float64)
    w = m.update_tokens(0, huge, torch.zeros_like(huge), torch.tensor([0, 1]))
    assert all(math.isfinite(v) for v in w.values()) and abs(sum(w.values()) - 1) < 1e-12
    try:
        m.update_tokens(1, huge * float("nan"), huge, torch.tensor([0, 1]))
    except ValueError as e:
        assert "finite" in str(e)
    else:
        raise AssertionError("NaN losses must raise")
