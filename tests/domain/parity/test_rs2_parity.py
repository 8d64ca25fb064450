"""RS2 against an oracle written from the paper's algorithm (Okanovic et al. 2023) and the release's block
rule: per pass one random permutation; every round takes the next ``m`` unseen examples; a short last
block is filled up from the start of the same permutation; the next round starts a new pass. With
replacement, each round is a fresh random subset."""

import json
import math

import pytest
import torch

from mixkit.domain.selection import RS2Sampler, rs2_schedule_steps
from mixkit.domain.selection._state import pass_generator


def oracle_rounds(n, m, seed, rounds):
    out, pool, perm, p = [], [], None, -1
    for _ in range(rounds):
        if not pool:
            p += 1
            perm = torch.randperm(n, generator=pass_generator(seed, p)).tolist()
            pool = list(perm)
        take = pool[:m]
        pool = pool[m:]
        if len(take) < m:
            take = take + perm[: m - len(take)]
            pool = []
        out.append(take)
    return out


@pytest.mark.parametrize("n,fraction", [(10, 0.3), (12, 0.25), (7, 0.5), (20, 1.0), (9, 0.1)])
def test_rounds_match_oracle(n, fraction):
    s = RS2Sampler(n, fraction, seed=5, shuffle=False)
    m = len(s)
    assert m == max(1, round(fraction * n))
    got = [s.round_indices(r).tolist() for r in range(3 * s.rounds_per_pass + 1)]
    assert got == oracle_rounds(n, m, 5, len(got))


def test_without_replacement_covers_each_pass_once():
    s = RS2Sampler(100, 0.1, seed=3)
    for p in range(3):
        seen = torch.cat([s.round_indices(p * 10 + j) for j in range(10)])
        assert sorted(seen.tolist()) == list(range(100))


def test_shuffle_only_reorders_the_round():
    a, b = RS2Sampler(50, 0.2, seed=1, shuffle=False), RS2Sampler(50, 0.2, seed=1, shuffle=True)
    for r in range(8):
        x, y = a.round_indices(r), b.round_indices(r)
        assert sorted(x.tolist()) == sorted(y.tolist())
    assert any(a.round_indices(r).tolist() != b.round_indices(r).tolist() for r in range(8))


def test_with_replacement_rounds_are_independent_subsets():
    s = RS2Sampler(30, 0.5, seed=2, replace=True)
    rounds = [set(s.round_indices(r).tolist()) for r in range(6)]
    assert all(len(r) == 15 for r in rounds)
    assert any(rounds[i] & rounds[i + 1] for i in range(5))  # overlap happens: drawn with replacement


def test_iteration_and_exact_mid_round_resume():
    full = RS2Sampler(23, 0.3, seed=9)
    stream = [i for _ in range(6) for i in full]
    s = RS2Sampler(23, 0.3, seed=9)
    got = []
    it = iter(s)
    for _ in range(len(s) + 4):  # into round 1
        try:
            got.append(next(it))
        except StopIteration:
            it = iter(s)
            got.append(next(it))
    state = json.loads(json.dumps(s.state_dict()))
    t = RS2Sampler(23, 0.3, seed=0)
    t.load_state_dict(state)
    rest = [i for i in t]
    rest += [i for _ in range(4) for i in t]
    assert got + rest == stream[: len(got) + len(rest)]


def test_state_consumed_and_errors():
    s = RS2Sampler(10, 0.5, seed=1)
    list(s)
    assert s.state_dict()["round"] == 1
    assert s.state_dict(consumed=0) == {**s.state_dict(), "position": 0}
    with pytest.raises(ValueError, match="consumed"):
        s.state_dict(consumed=11)
    bad = {**s.state_dict(), "n": 11}
    with pytest.raises(ValueError, match="'n'"):
        s.load_state_dict(bad)
    with pytest.raises(ValueError, match="fraction"):
        RS2Sampler(10, 0.0, seed=1)
    with pytest.raises(ValueError, match="exactly one"):
        RS2Sampler(10, 0.5)


def test_generator_seed_and_schedule_steps():
    a = RS2Sampler(40, 0.25, generator=torch.Generator().manual_seed(4))
    b = RS2Sampler(40, 0.25, generator=torch.Generator().manual_seed(4))
    assert a.round_indices(3).tolist() == b.round_indices(3).tolist()
    assert rs2_schedule_steps(1000, 0.1, 20, 32) == 20 * math.ceil(100 / 32)
    assert rs2_schedule_steps(1000, 0.1, 20, 32, drop_last=True) == 20 * 3
    assert "RS2Sampler(n=40" in repr(a)
