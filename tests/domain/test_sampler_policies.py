"""The iid mode and the "stop" / "renormalize" exhaustion policies keep the bounds the sampler's docstring
states, under the deficit schedule (cumulative targets, several ranks)."""

from __future__ import annotations

from fractions import Fraction

import numpy as np
import pytest

from mixkit.domain import MixtureSampler, quantize_weights

Q = 1 << 31


def _errors(dom, q_per_slot, K):
    """Largest |count - integral of the weights| over prefixes and domains (exact)."""
    c, t, worst = [0] * K, [0] * K, 0
    for d, q in zip(dom, q_per_slot):
        c[d] += 1
        for k in range(K):
            t[k] += q[k]
            worst = max(worst, abs(c[k] * Q - t[k]))
    return Fraction(worst, Q)


@pytest.mark.parametrize("seed", range(12))
def test_renormalize_reads_every_item_once_and_tracks_the_weights_in_force(seed):
    rng = np.random.default_rng(seed)
    K = int(rng.integers(2, 7))
    names = [f"d{i}" for i in range(K)]
    sizes = {n: int(rng.integers(3, 60)) for n in names}
    w = dict(zip(names, (rng.dirichlet(np.ones(K)) + 0.01).tolist()))
    s = MixtureSampler(sizes, w, seed=seed, on_exhausted="renormalize")
    dom, qs, keys = [], [], []
    while True:
        q = [round(s.weights[n] * Q) for n in names]  # the weights in force for the next draw
        b = s.take(1)
        if len(b) == 0:
            break
        dom.append(int(b.domain_ids[0]))
        keys += b.keys()
        qs.append(q)
    assert sorted(keys) == sorted((n, i) for n in names for i in range(sizes[n]))  # each item once
    assert _errors(dom, qs, K) < 2  # cumulative bound against the renormalised weights
    assert s.exhausted


@pytest.mark.parametrize("world", [1, 3, 8])
def test_stop_ends_before_any_domain_is_exhausted_with_equal_rank_shares(world):
    names = ["a", "b", "c", "d"]
    sizes = {"a": 400, "b": 90, "c": 300, "d": 50}
    w = {"a": 0.4, "b": 0.3, "c": 0.2, "d": 0.1}
    ranks = [MixtureSampler(sizes, w, seed=2, rank=r, world_size=world, on_exhausted="stop")
             for r in range(world)]
    got = [s.take(10_000) for s in ranks]
    assert len({len(b) for b in got}) == 1  # every rank the same number of draws
    glob = np.stack([b.domain_ids for b in got], axis=1).reshape(-1)
    counts = np.bincount(glob, minlength=4)
    assert all(counts[k] <= sizes[n] for k, n in enumerate(names))  # no item read twice
    assert len({(d, i) for b in got for d, i in b.keys()}) == glob.shape[0]
    # the stream ends because a domain ran out: one more global round would have exceeded a limit
    assert counts[1] > sizes["b"] - 1 - world
    q = quantize_weights([w[n] for n in names])
    bound = 1 if world == 1 else 2
    assert _errors(glob.tolist(), [q] * glob.shape[0], 4) < bound
    for b in got:  # each rank's own stream keeps its share
        assert _errors(b.domain_ids.tolist(), [q] * len(b), 4) < 2


def test_iid_mode_tracks_changing_weights_in_expectation():
    rng = np.random.default_rng(0)
    names = [f"d{i}" for i in range(6)]
    s = MixtureSampler(dict.fromkeys(names, 10_000), dict.fromkeys(names, 1.0), seed=5, mode="iid")
    target = np.zeros(6)
    counts = np.zeros(6)
    var = np.zeros(6)
    for _ in range(400):
        w = rng.dirichlet(np.full(6, 0.5)) + 1e-3
        w /= w.sum()
        s.set_weights(dict(zip(names, w.tolist())))
        b = s.take(64)
        counts += np.bincount(b.domain_ids, minlength=6)
        target += 64 * w
        var += 64 * w * (1 - w)
    # independent draws: each count within 5 standard deviations of the integral of the weights
    assert np.all(np.abs(counts - target) < 5 * np.sqrt(var))
    assert counts.sum() == 400 * 64


def test_iid_mode_is_seeded_resumable_and_rank_complete():
    sizes, w = {"a": 500, "b": 500, "c": 500}, {"a": 0.5, "b": 0.3, "c": 0.2}
    full = MixtureSampler(sizes, w, seed=9, mode="iid").take(3000)
    ranks = [MixtureSampler(sizes, w, seed=9, mode="iid", rank=r, world_size=3).take(1000) for r in range(3)]
    glob = np.stack([b.indices for b in ranks], axis=1).reshape(-1)
    assert np.array_equal(glob, full.indices)
    s = MixtureSampler(sizes, w, seed=9, mode="iid")
    s.take(1234)
    r = MixtureSampler(sizes, w, seed=9, mode="iid")
    r.load_state_dict(s.state_dict())
    assert np.array_equal(r.take(1766).indices, full.indices[1234:])
