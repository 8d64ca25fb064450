"""The round-by-round rank layout: an exact optimum of the quartic gain, the same compiled or not, and
one draw per rank per round."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mixkit.domain import MixtureSampler, quantize_weights
from mixkit.domain.rank_assignment import HAVE_NUMBA, assign_rounds

Q = 1 << 31


def _gain(x):  # the same fixed-point quartic gain, written out
    y = max(min(x >> 20, 65536), -65536)
    U = 2048
    return 4 * y**3 - 6 * U * y**2 + 4 * U * U * y


@settings(max_examples=40, deadline=None)
@given(W=st.integers(2, 6), K=st.integers(2, 4), seed=st.integers(0, 10_000))
def test_one_round_is_the_best_assignment_by_brute_force(W, K, seed):
    rng = np.random.default_rng(seed)
    dom = rng.integers(0, K, W).astype(np.int64)
    q = np.asarray(quantize_weights(rng.dirichlet(np.ones(K)).tolist()), np.int64)
    f0 = (rng.integers(-3 * Q // 2, 3 * Q // 2, (W, K))).astype(np.int64)
    f0 -= f0.sum(axis=1, keepdims=True) // K  # any deficits work; rows need not sum to 0 here
    f = f0.copy()
    perm = assign_rounds_loop_wrapper(dom, q, f)
    assert sorted(perm.tolist()) == list(range(W))  # one draw per rank, every draw to one rank
    got = sum(_gain(int(f0[r, dom[perm[r]]] + q[dom[perm[r]]])) for r in range(W))
    best = max(sum(_gain(int(f0[r, dom[p[r]]] + q[dom[p[r]]])) for r in range(W))
               for p in itertools.permutations(range(W)))
    assert got == best
    expect = f0 + q[None, :] - Q * np.eye(K, dtype=np.int64)[dom[perm]]
    assert np.array_equal(f, expect)


def assign_rounds_loop_wrapper(dom, q, f):
    return assign_rounds(dom, q, f, compiled=False)


@pytest.mark.skipif(not HAVE_NUMBA, reason="numba not installed")
@settings(max_examples=25, deadline=None)
@given(W=st.integers(4, 40), K=st.integers(2, 30), rounds=st.integers(1, 12), seed=st.integers(0, 10_000))
def test_compiled_and_plain_assignment_agree(W, K, rounds, seed):
    rng = np.random.default_rng(seed)
    q = np.asarray(quantize_weights((rng.dirichlet(np.full(K, 0.3)) + 1e-4).tolist()), np.int64)
    dom = rng.choice(K, W * rounds, p=q / q.sum()).astype(np.int64)
    f = np.zeros((W, K), np.int64)
    g = f.copy()
    a = assign_rounds(dom, q, f, compiled=True)
    b = assign_rounds(dom, q, g, compiled=False)
    assert np.array_equal(a, b) and np.array_equal(f, g)


def test_assign_rounds_refuses_a_partial_round():
    with pytest.raises(ValueError, match="whole rounds"):
        assign_rounds(np.zeros(5, np.int64), np.asarray([Q], np.int64), np.zeros((4, 1), np.int64))


@pytest.mark.skipif(not HAVE_NUMBA, reason="numba not installed")
@pytest.mark.parametrize("policy", ["cycle", "renormalize", "stop"])
def test_sampler_stream_is_the_same_with_and_without_numba(policy):
    sizes = {"a": 40, "b": 25, "c": 9, "d": 3}
    w = {"a": 0.5, "b": 0.3, "c": 0.15, "d": 0.05}
    for r in (0, 3):
        out = []
        for compiled in (True, False):
            s = MixtureSampler(sizes, w, seed=2, rank=r, world_size=5, on_exhausted=policy, compiled=compiled)
            keys = s.take(9).keys()
            s.set_weights({"a": 0.1, "b": 0.1, "c": 0.4, "d": 0.4})
            keys += s.take(30).keys()
            out.append(keys)
        assert out[0] == out[1]


@pytest.mark.parametrize("policy", ["renormalize", "stop"])
def test_exhaustion_with_rounds_reads_every_item_once_across_ranks(policy):
    sizes = {"a": 37, "b": 23, "c": 11}
    w = {"a": 0.2, "b": 0.5, "c": 0.3}
    W = 6
    got = []
    for r in range(W):
        s = MixtureSampler(sizes, w, seed=1, rank=r, world_size=W, on_exhausted=policy)
        got.append([(k, int(p)) for b in s.batches(4) for k, p in zip(b.keys(), b.positions)])
    lengths = {len(g) for g in got}
    assert len(lengths) == 1  # every rank gets the same number of draws
    flat = [x for g in got for x in g]
    pos = sorted(p for _, p in flat)
    assert pos == list(range(len(pos)))  # disjoint and complete
    keys = [k for k, _ in flat]
    assert len(set(keys)) == len(keys)  # no item twice
    if policy == "renormalize":
        assert len(keys) == sum(sizes.values()) - sum(sizes.values()) % W


def _global(parts):
    pos = np.concatenate([b.positions for b in parts])
    keys = [k for b in parts for k in b.keys()]
    return [keys[i] for i in np.argsort(pos).tolist()], np.sort(pos)


def test_resume_with_another_world_size_continues_the_same_global_stream():
    sizes = {"a": 300, "b": 200, "c": 100, "d": 7}
    w = {"a": 0.4, "b": 0.3, "c": 0.2, "d": 0.1}
    one = MixtureSampler(sizes, w, seed=5)
    ref = one.take(40 * 4).keys()
    one.set_weights({"a": 0.1, "b": 0.1, "c": 0.1, "d": 0.7})
    ref += one.take(240).keys()
    four = [MixtureSampler(sizes, w, seed=5, rank=r, world_size=4) for r in range(4)]
    first = [s.take(40) for s in four]
    for s in four:
        s.set_weights({"a": 0.1, "b": 0.1, "c": 0.1, "d": 0.7})
    state = four[0].state_dict()
    eight = [MixtureSampler(sizes, w, seed=5, rank=r, world_size=8) for r in range(8)]
    for s in eight:
        s.load_state_dict(state)
    second = [s.take(30) for s in eight]
    keys_a, pos_a = _global(first)
    keys_b, pos_b = _global(second)
    assert pos_a.tolist() == list(range(160)) and pos_b.tolist() == list(range(160, 400))
    assert keys_a + keys_b == ref  # the global stream does not depend on the layout


def test_state_written_before_the_round_layout_still_loads():
    s = MixtureSampler({"a": 50, "b": 50}, {"a": 0.5, "b": 0.5}, rank=1, world_size=4)
    s.take(10)
    state = s.state_dict()
    state["version"] = 2
    r = MixtureSampler({"a": 50, "b": 50}, {"a": 0.5, "b": 0.5}, rank=1, world_size=4)
    r.load_state_dict(state)
    assert r.take(5).keys() == s.take(5).keys()


def test_absurd_world_size_is_refused_before_any_work():
    with pytest.raises(ValueError, match="world_size"):
        MixtureSampler({"a": 5}, {"a": 1.0}, rank=0, world_size=10**9)


@settings(max_examples=200, deadline=None)
@given(K=st.integers(1, 8), W=st.integers(1, 6), seed=st.integers(0, 10_000))
def test_forgiving_all_ranks_at_once_equals_row_by_row(K, W, seed):
    from mixkit.domain.sampler import forgive_deficits, forgive_rank_deficits

    rng = np.random.default_rng(seed)
    w = rng.dirichlet(np.ones(K)) * (rng.random(K) < 0.6)
    if w.sum() == 0:
        w[0] = 1.0
    q = quantize_weights((w / w.sum()).tolist())
    f = rng.integers(-3 * Q, 3 * Q, (W, K)).astype(np.int64)
    f[:, -1] -= f.sum(axis=1)
    rows = [forgive_deficits(r.tolist(), q) for r in f]
    assert forgive_rank_deficits(f, q).tolist() == rows


@pytest.mark.parametrize("world", [1, 2, 4])
def test_rank_counts_survive_a_weight_change(world):
    s = MixtureSampler({"a": 100, "b": 100}, {"a": 0.5, "b": 0.5}, rank=0, world_size=world)
    got = s.take(4)
    s.set_weights({"a": 0.9, "b": 0.1})
    expect = np.bincount(got.domain_ids, minlength=2).tolist()
    assert list(s.rank_counts().values()) == expect
    assert s.state_dict()["rank_counts"] == expect


def test_absurd_block_size_is_refused_before_any_work():
    with pytest.raises(ValueError, match="block_size"):
        MixtureSampler({"a": 5}, {"a": 1.0}, block_size=10**12)


def test_a_large_world_builds_rounds_in_memory_linear_in_ranks():
    s = MixtureSampler({"a": 10**6, "b": 10**6, "c": 10}, {"a": 0.5, "b": 0.4999, "c": 0.0001},
                       rank=4000, world_size=8192)
    b = s.take(3)
    assert (b.positions // 8192).tolist() == [0, 1, 2]  # one draw of each round
