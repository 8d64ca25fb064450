"""Property tests of MixtureSampler: prefix/window bounds, permutations, ranks, resume, policies, errors."""

from __future__ import annotations

import json
from fractions import Fraction

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mixkit.domain import (
    WEIGHT_DENOMINATOR,
    MixtureSampler,
    quantize_weights,
    quota_interleave_reference,
)
from mixkit.domain.interleave import deficit_schedule

weights_st = st.lists(st.integers(0, 1000), min_size=1, max_size=12).filter(lambda w: sum(w) > 0)


def _names(k: int) -> list[str]:
    return [f"d{i}" for i in range(k)]


def _prefix_deviation(dom: np.ndarray, q: list[int]) -> float:
    """max over prefixes N and domains k of |count_k(N) - N * q_k / Q| (exact rationals via integers)."""
    K = len(q)
    onehot = np.zeros((dom.shape[0], K), dtype=np.int64)
    onehot[np.arange(dom.shape[0]), dom] = 1
    counts = np.cumsum(onehot, axis=0)  # [N, K]
    n = np.arange(1, dom.shape[0] + 1, dtype=object)[:, None]
    # integer arithmetic: |count * Q - N * q| / Q
    dev = np.abs(counts.astype(object) * WEIGHT_DENOMINATOR - n * np.asarray(q, dtype=object)[None, :])
    return float(Fraction(int(dev.max()), WEIGHT_DENOMINATOR))


def _schedule(q: list[int], n: int, cut: int | None = None) -> np.ndarray:
    """``n`` slots of the one-rank deficit schedule from zero deficits, optionally cut in two calls."""
    qa = np.asarray(q, dtype=np.int64)
    e = np.zeros(len(q), dtype=np.int64)
    cut = n if cut is None else min(cut, n)
    return np.concatenate([deficit_schedule(qa, e, None, 0, cut), deficit_schedule(qa, e, None, 0, n - cut)])


@settings(max_examples=60, deadline=None)
@given(w=weights_st, n=st.integers(1, 600))
def test_quota_schedule_prefix_bound_below_one(w, n):
    q = quantize_weights([float(x) for x in w])
    dom = _schedule(q, n)
    assert _prefix_deviation(dom, q) < 1
    assert not np.isin(dom, [k for k, x in enumerate(w) if x == 0]).any()  # zero weight never drawn


@settings(max_examples=40, deadline=None)
@given(w=st.lists(st.floats(0, 1), min_size=1, max_size=40).filter(lambda w: sum(w) > 1e-3),
       n=st.integers(1, 3000), cut=st.integers(1, 3000))
def test_fixed_weight_schedule_equals_quota_reference_slot_by_slot(w, n, cut):
    q = quantize_weights(w)
    # block boundaries must not matter: the deficits carry the whole state
    assert np.array_equal(_schedule(q, n, cut), quota_interleave_reference(q, n))


@settings(max_examples=25, deadline=None)
@given(w=weights_st, n=st.integers(1, 400), a=st.integers(0, 399), block=st.integers(1, 64))
def test_sampler_prefix_and_window_bounds(w, n, a, block):
    names = _names(len(w))
    s = MixtureSampler(dict.fromkeys(names, 7), dict(zip(names, map(float, w))), block_size=block)
    dom = s.take(n).domain_ids
    q = quantize_weights([float(x) for x in w])
    assert _prefix_deviation(dom, q) < 1
    a = min(a, n - 1)
    win = np.bincount(dom[a:], minlength=len(w)) - (n - a) * np.asarray(q) / WEIGHT_DENOMINATOR
    assert np.abs(win).max() < 2
    assert s.discrepancy() < 1
    assert sum(s.counts().values()) == n


def test_float_weights_match_requested_within_tiny_error():
    s = MixtureSampler({"a": 5, "b": 5, "c": 5}, {"a": 0.6, "b": 0.3, "c": 0.1})
    for k, v in {"a": 0.6, "b": 0.3, "c": 0.1}.items():
        assert abs(s.weights[k] - v) < 2**-31
    dom = s.take(10_000).domain_ids
    got = np.bincount(dom, minlength=3)
    assert np.all(np.abs(got - 10_000 * np.array([0.6, 0.3, 0.1])) < 1)


@settings(max_examples=20, deadline=None)
@given(sizes=st.lists(st.integers(1, 30), min_size=1, max_size=5), seed=st.integers(0, 2**31),
       n=st.integers(1, 300))
def test_each_domain_is_a_permutation_per_epoch(sizes, seed, n):
    names = _names(len(sizes))
    s = MixtureSampler(dict(zip(names, sizes)), dict.fromkeys(names, 1.0), seed=seed, block_size=17)
    b = s.take(n)
    for k, size in enumerate(sizes):
        idx = b.indices[b.domain_ids == k]
        for e in range(0, idx.shape[0], size):
            chunk = idx[e:e + size]
            assert len(set(chunk.tolist())) == chunk.shape[0]  # no duplicate within an epoch
            if chunk.shape[0] == size:
                assert sorted(chunk.tolist()) == list(range(size))  # full epoch = every item once
    ep = s.epochs()
    for k, size in enumerate(sizes):
        assert ep[names[k]] == pytest.approx(int((b.domain_ids == k).sum()) / size)


def test_epochs_use_fresh_permutations_and_seed_matters():
    a = MixtureSampler({"x": 50}, {"x": 1.0}, seed=1).take(100).indices
    b = MixtureSampler({"x": 50}, {"x": 1.0}, seed=2).take(100).indices
    assert not np.array_equal(a[:50], a[50:])
    assert not np.array_equal(a, b)


def _interleave(shares: list) -> list[tuple[str, int]]:
    """Global order of rank shares: rank r's i-th draw is global position i * W + r."""
    W = len(shares)
    keys = [b.keys() for b in shares]
    return [keys[g % W][g // W] for g in range(sum(len(k) for k in keys))]


def _continues_permutations(keys: list[tuple[str, int]], sizes: dict, seed: int) -> bool:
    """Every domain's reads, in global order, are exactly its own permutation stream from the start."""
    for d, n in sizes.items():
        seq = [i for dd, i in keys if dd == d]
        if seq != MixtureSampler({d: n}, {d: 1.0}, seed=seed).take(len(seq)).indices.tolist():
            return False
    return True


@settings(max_examples=15, deadline=None)
@given(w=weights_st, world=st.integers(1, 8), n=st.integers(1, 60), seed=st.integers(0, 99))
def test_ranks_are_disjoint_and_jointly_complete(w, world, n, seed):
    names = _names(len(w))
    sizes = dict.fromkeys(names, 13)
    weights = dict(zip(names, map(float, w)))
    shares = [MixtureSampler(sizes, weights, seed=seed, rank=r, world_size=world, block_size=11).take(n)
              for r in range(world)]
    glob = _interleave(shares)
    # the ranks together read each domain's permutation stream in order: nothing skipped, nothing twice
    assert _continues_permutations(glob, sizes, seed)
    probe = MixtureSampler(sizes, weights, seed=seed, rank=0, world_size=world)
    probe.take(n)
    assert probe.counts() == {d: sum(k == d for k, _ in glob) for d in names}


def test_rank_shares_have_no_duplicates_within_an_epoch():
    world = 8
    sizes, weights = {"a": 64, "b": 32}, {"a": 2.0, "b": 1.0}
    keys = [k for r in range(world)
            for k in MixtureSampler(sizes, weights, rank=r, world_size=world).take(12).keys()]
    assert len(keys) == len(set(keys)) == 96  # exactly one epoch of both domains, no repeats


@settings(max_examples=25, deadline=None)
@given(w=weights_st, w2=weights_st, cut=st.integers(0, 200), change=st.integers(0, 200),
       world=st.integers(1, 4), mode=st.sampled_from(["quota", "iid"]),
       policy=st.sampled_from(["cycle", "renormalize", "stop"]))
def test_resume_is_bit_exact_across_set_weights(w, w2, cut, change, world, mode, policy):
    names = _names(max(len(w), len(w2)))
    sizes = {n: 5 + 3 * i for i, n in enumerate(names)}
    weights = dict(zip(names, map(float, w)))
    new = dict(zip(names, map(float, w2)))

    def make(rank):
        return MixtureSampler(sizes, weights, seed=3, rank=rank, world_size=world, mode=mode,
                              on_exhausted=policy, max_epochs=3, block_size=16)

    def run(s, start, stop):
        out = []
        for i in range(start, stop):
            if i == change:
                s.set_weights(new)
            out.extend(s.take(1).keys())
        return out

    total = 250
    for rank in range(world):
        full = run(make(rank), 0, total)
        first = make(rank)
        head = run(first, 0, cut)
        state = json.loads(json.dumps(first.state_dict()))  # must survive JSON
        second = make(rank)
        second.load_state_dict(state)
        tail = run(second, cut, total)
        assert head + tail == full
        assert second.counts() == first.counts() if cut == total else True


def test_set_weights_restarts_prefix_bound_at_change_point():
    s = MixtureSampler({"a": 100, "b": 100, "c": 100}, {"a": 1, "b": 1, "c": 1})
    s.take(101)
    s.set_weights({"a": 0.7, "b": 0.0, "c": 0.3})
    dom = s.take(500).domain_ids
    q = quantize_weights([0.7, 0.0, 0.3])
    assert _prefix_deviation(dom, q) < 1
    assert s.segment_length() == 500 and s.discrepancy() < 1
    assert sum(s.counts().values()) == 601


def test_zero_weight_domains_are_never_drawn_and_do_not_block():
    s = MixtureSampler({"a": 3, "z": 3}, {"a": 1.0, "z": 0.0})
    b = s.take(50)
    assert set(b.domains) == {"a"} and len(b) == 50


def test_stop_policy_ends_before_any_repeat_with_equal_rank_shares():
    sizes, weights = {"a": 10, "b": 40}, {"a": 0.5, "b": 0.5}
    world = 3
    shares = [list(MixtureSampler(sizes, weights, rank=r, world_size=world, on_exhausted="stop"))
              for r in range(world)]
    assert len({len(x) for x in shares}) == 1  # same length on every rank
    keys = [k for x in shares for k in x]
    assert len(keys) == len(set(keys))  # nothing read twice
    assert sum(d == "a" for d, _ in keys) >= 9  # stopped only when "a" ran out (cut to multiple of 3)


def test_renormalize_policy_drops_exhausted_domains_then_stops():
    s = MixtureSampler({"a": 4, "b": 20, "c": 50}, {"a": 1, "b": 1, "c": 1}, on_exhausted="renormalize")
    keys = list(s)
    assert len(keys) == 74 and len(set(keys)) == 74  # every item exactly once, then the end
    assert s.exhausted
    assert s.counts() == {"a": 4, "b": 20, "c": 50}


def test_renormalize_keeps_quota_within_each_segment():
    s = MixtureSampler({"a": 6, "b": 1000, "c": 1000}, {"a": 0.5, "b": 0.25, "c": 0.25},
                       on_exhausted="renormalize", block_size=5)
    first = s.take(12)  # 'a' reaches 6 draws by slot 12 (< 1 from 6 = 12 * 0.5)
    assert (first.domain_ids == 0).sum() == 6
    rest = s.take(300).domain_ids
    assert 0 not in rest
    assert abs((rest == 1).sum() - 150) < 1 + 1  # new segment starts within this window
    assert s.discrepancy() < 1


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(sizes={"a": 3}, weights={"a": -1.0}), "weights\\['a'\\]"),
        (dict(sizes={"a": 3, "b": 2}, weights={"a": 0.0, "b": 0}), "at least one positive"),
        (dict(sizes={"a": 3}, weights={"a": 1.0, "x": 1.0}), "unknown domains \\['x'\\]"),
        (dict(sizes={"a": 0}, weights={"a": 1.0}), "sizes\\['a'\\] must be a positive integer"),
        (dict(sizes={"a": 2.5}, weights={"a": 1.0}), "sizes\\['a'\\] must be a positive integer"),
        (dict(sizes={"a": True}, weights={"a": 1.0}), "sizes\\['a'\\]"),
        (dict(sizes={}, weights={}), "non-empty"),
        (dict(sizes={"a": 3}, weights={"a": float("nan")}), "finite"),
        (dict(sizes={"a": 3}, weights={"a": 1.0}, rank=2, world_size=2), "rank"),
        (dict(sizes={"a": 3}, weights={"a": 1.0}, on_exhausted="wrap"), "on_exhausted"),
        (dict(sizes={"a": 3}, weights={"a": 1.0}, mode="random"), "mode"),
    ],
)
def test_clear_errors(kwargs, match):
    with pytest.raises(ValueError, match=match):
        MixtureSampler(**kwargs)


def test_set_weights_validates_and_load_checks_config():
    s = MixtureSampler({"a": 3, "b": 3}, {"a": 1, "b": 1})
    with pytest.raises(ValueError, match="unknown domains"):
        s.set_weights({"c": 1.0})
    with pytest.raises(ValueError, match="at least one positive"):
        s.set_weights({"a": 0.0})
    other = MixtureSampler({"a": 3, "b": 3}, {"a": 1, "b": 1}, seed=5)
    with pytest.raises(ValueError, match="seed"):
        other.load_state_dict(s.state_dict())


def test_resume_with_a_different_world_size_continues_the_global_stream():
    sizes, weights = {"a": 30, "b": 17}, {"a": 0.3, "b": 0.7}
    olds = [MixtureSampler(sizes, weights, rank=r, world_size=4) for r in range(4)]
    head = [s.take(5) for s in olds]  # group position 20
    state = olds[0].state_dict()
    news = []
    for r in range(2):
        s = MixtureSampler(sizes, weights, rank=r, world_size=2)
        s.load_state_dict(state)
        news.append(s.take(20))
    keys = _interleave(head) + _interleave(news)
    assert _continues_permutations(keys, sizes, 0)
    q = quantize_weights([0.3, 0.7])
    assert _prefix_deviation(np.asarray([0 if d == "a" else 1 for d, _ in keys]), q) < 2


def test_block_size_and_look_ahead_do_not_change_the_stream():
    sizes, weights = {"a": 11, "b": 7, "c": 5}, {"a": 0.5, "b": 0.3, "c": 0.2}
    ref = MixtureSampler(sizes, weights, block_size=1 << 15).take(5000)
    small = MixtureSampler(sizes, weights, block_size=3)
    got = [small.take(n) for n in (1, 2, 997, 4000)]
    assert np.array_equal(np.concatenate([b.indices for b in got]), ref.indices)
    assert np.array_equal(np.concatenate([b.domain_ids for b in got]), ref.domain_ids)


def test_pickle_and_fork_carry_configuration_and_position():
    import pickle

    s = MixtureSampler({"a": 9, "b": 4}, {"a": 0.7, "b": 0.3}, seed=5, rank=1, world_size=3, mode="iid")
    s.take(10)
    clone = pickle.loads(pickle.dumps(s))
    other = s.fork()
    nxt = s.take(20).keys()
    assert clone.take(20).keys() == nxt == other.take(20).keys()
    assert s.summary()["position"] == 90 and set(s.summary()) >= {"counts", "epochs", "discrepancy"}
    b = MixtureSampler({"a": 9, "b": 4}, {"a": 0.7, "b": 0.3}).take(5)
    assert len(b) == 5 and b.domains == [d for d, _ in b] and b.keys() == list(b)


def test_batches_cover_the_stream_and_end_with_the_stop_policy():
    sizes, weights = {"a": 10, "b": 6}, {"a": 0.6, "b": 0.4}
    ref = list(MixtureSampler(sizes, weights, on_exhausted="stop"))
    got = [b for b in MixtureSampler(sizes, weights, on_exhausted="stop").batches(4)]
    assert [len(b) for b in got] == [4, 4, 4, 4] and [k for b in got for k in b] == ref
    short = list(MixtureSampler(sizes, weights, on_exhausted="stop").batches(5, drop_last=True))
    assert [len(b) for b in short] == [5, 5, 5]
    with pytest.raises(ValueError, match="batch_size"):
        next(MixtureSampler(sizes, weights).batches(0))
