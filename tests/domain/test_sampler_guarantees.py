"""Guarantees of the deficit schedule: cumulative targets across set_weights, per-rank proportions,
iteration vs checkpoints, threads, corrupt states, compiled == pure, defaults from torch.distributed."""

from __future__ import annotations

import json
import threading
from fractions import Fraction

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mixkit.domain import MixtureSampler, quantize_weights
from mixkit.domain.interleave import HAVE_NUMBA, deficit_reference, deficit_schedule, edf_loop

Q = 1 << 31


def _run_changing(sampler, weight_seq, per_step):
    """Per-step weights; returns global domain ids and the exact per-slot q."""
    doms, qs = [], []
    for w in weight_seq:
        sampler.set_weights(w)
        q = quantize_weights([w[n] for n in sampler.names])
        b = sampler.take(per_step)
        doms.append(b.domain_ids)
        qs += [q] * len(b)
    return np.concatenate(doms), qs


def _max_error(dom, qs, K):
    """max over prefixes and domains of |count - integral of weights| (exact)."""
    c = [0] * K
    t = [0] * K
    worst = 0
    for d, q in zip(dom.tolist(), qs):
        c[d] += 1
        for k in range(K):
            t[k] += q[k]
            worst = max(worst, abs(c[k] * Q - t[k]))
    return Fraction(worst, Q)


weights_every_step = st.lists(
    st.lists(st.sampled_from([0.0005, 0.01, 0.03, 0.1, 0.3, 1.0, 3.0]), min_size=4, max_size=4),
    min_size=5, max_size=60)


@settings(max_examples=30, deadline=None)
@given(seq=weights_every_step, per_step=st.sampled_from([1, 4, 16]))
def test_cumulative_target_within_2_with_weights_changed_every_step(seq, per_step):
    names = ["a", "b", "c", "d"]
    s = MixtureSampler(dict.fromkeys(names, 1000), dict.fromkeys(names, 1.0))
    dom, qs = _run_changing(s, [dict(zip(names, w)) for w in seq], per_step)
    assert _max_error(dom, qs, 4) < 2
    assert s.discrepancy() < 2


def test_same_weights_reset_every_step_no_longer_starve_a_small_domain():
    w = {"a": 0.30, "b": 0.25, "c": 0.20, "d": 0.15, "e": 0.07, "f": 0.03}
    s = MixtureSampler(dict.fromkeys(w, 10_000), w)
    for _ in range(400):
        s.set_weights(w)
        s.take(16)
    n = 400 * 16
    for k, v in s.counts().items():
        assert abs(v - n * w[k]) < 1  # fixed weights: the quota bound, whatever set_weights does


def test_single_rank_fixed_weights_equals_the_quota_method():
    from mixkit.domain import quota_interleave_reference

    q = quantize_weights([0.5, 0.3, 0.15, 0.05])
    dom = MixtureSampler({k: 50 for k in "abcd"}, dict(zip("abcd", [0.5, 0.3, 0.15, 0.05]))).take(3000)
    assert np.array_equal(dom.domain_ids, quota_interleave_reference(q, 3000))


def _max_error_np(dom, qs, K):
    """:func:`_max_error` vectorised (int64 exact: |count * Q - target| over every prefix)."""
    q = np.asarray(qs, dtype=np.int64)
    target = np.cumsum(q, axis=0)
    count = np.cumsum(np.eye(K, dtype=np.int64)[dom], axis=0)
    return Fraction(int(np.abs(count * Q - target).max()), Q)


def _ranks_under_changing_weights(world, steps, per, K=6, alpha=0.5, seed=0):
    rng = np.random.default_rng(seed)
    names = [f"d{i}" for i in range(K)]
    seq = [dict(zip(names, (rng.dirichlet(np.full(K, alpha)) + 1e-4).tolist())) for _ in range(steps)]
    ranks = []
    for r in range(world):
        s = MixtureSampler(dict.fromkeys(names, 10_000), seq[0], rank=r, world_size=world)
        doms, poss, qs = [], [], []
        for w in seq:
            s.set_weights(w)
            b = s.take(per)
            doms.append(b.domain_ids)
            poss.append(b.positions)
            qs += [quantize_weights([w[n] for n in names])] * len(b)
        ranks.append((np.concatenate(doms), np.concatenate(poss), qs))
    return seq, names, ranks


@pytest.mark.parametrize("world", [2, 3, 4, 5, 8, 16, 64])
def test_every_rank_keeps_the_proportions(world):
    steps, per = (30, 4) if world <= 16 else (8, 4)
    _, _, ranks = _ranks_under_changing_weights(world, steps, per, seed=world)
    for d, _, qs in ranks:
        assert _max_error_np(d, qs, 6) < 2  # the rank's own stream vs its share of the cumulative target
    pos = np.concatenate([p for _, p, _ in ranks])
    order = np.argsort(pos)
    assert np.array_equal(pos[order], np.arange(pos.shape[0]))  # ranks disjoint and together complete
    glob = np.concatenate([d for d, _, _ in ranks])[order]
    gq = [q for _, _, qs in ranks for q in qs]
    gq = [gq[i] for i in order.tolist()]
    assert _max_error_np(glob, gq, 6) < 2  # and the global stream keeps the cumulative bound


@pytest.mark.parametrize("alpha", [0.5, 0.1])
def test_256_ranks_with_spiky_weights_changed_every_step(alpha):
    _, _, ranks = _ranks_under_changing_weights(256, 12, 4, K=16, alpha=alpha, seed=7)
    assert max(_max_error_np(d, qs, 16) for d, _, qs in ranks) < 2


def test_global_stream_does_not_depend_on_the_world_size_from_four_ranks():
    names = [f"d{i}" for i in range(5)]
    w = dict(zip(names, [0.4, 0.3, 0.2, 0.07, 0.03]))
    one = MixtureSampler(dict.fromkeys(names, 50), w, seed=3).take(480)
    for world in (4, 6, 8):
        parts = [MixtureSampler(dict.fromkeys(names, 50), w, seed=3, rank=r, world_size=world)
                 .take(480 // world) for r in range(world)]
        pos = np.concatenate([b.positions for b in parts])
        keys = [k for b in parts for k in b.keys()]
        assert [keys[i] for i in np.argsort(pos).tolist()] == one.keys()


def test_four_uniform_domains_on_four_ranks_each_rank_gets_all_four():
    names = list("abcd")
    for r in range(4):
        s = MixtureSampler(dict.fromkeys(names, 100), dict.fromkeys(names, 1.0), rank=r, world_size=4)
        b = s.take(40)
        assert np.bincount(b.domain_ids, minlength=4).tolist() == [10, 10, 10, 10]


def test_iteration_checkpoint_records_only_yielded_items():
    sizes, w = {"a": 500, "b": 300}, {"a": 0.6, "b": 0.4}
    full = MixtureSampler(sizes, w, seed=1).take(600).keys()
    s = MixtureSampler(sizes, w, seed=1)
    it = iter(s)
    head = [next(it) for _ in range(137)]
    state = json.loads(json.dumps(s.state_dict()))
    assert s.items_taken == 137
    mid = s.take(10).keys()  # a take between iteration steps gets the next draws
    more = [next(it) for _ in range(5)]
    assert head + mid + more == full[:152]
    r = MixtureSampler(sizes, w, seed=1)
    r.load_state_dict(state)
    assert r.take(463).keys() == full[137:]


def test_concurrent_take_from_threads_is_safe():
    sizes, w = {"a": 10_000, "b": 10_000}, {"a": 0.5, "b": 0.5}
    s = MixtureSampler(sizes, w)
    got: list = []
    lock = threading.Lock()

    def worker():
        for _ in range(50):
            b = s.take(7).keys()
            with lock:
                got.extend(b)

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(got) == sorted(MixtureSampler(sizes, w).take(1400).keys())


def _state():
    s = MixtureSampler({"a": 10, "b": 10}, {"a": 0.5, "b": 0.5}, rank=0, world_size=2)
    s.take(5)
    return s.state_dict()


@pytest.mark.parametrize("corrupt, field", [
    (lambda st: st.pop("taken"), "taken"),
    (lambda st: st["cursor"].pop("deficits"), "cursor.deficits"),
    (lambda st: st["cursor"].__setitem__("totals", [-1, 11]), "totals"),
    (lambda st: st["cursor"].__setitem__("q", [1, 2]), "cursor.q"),
    (lambda st: st["cursor"].__setitem__("position", 12), "cursor.position"),
    (lambda st: st["cursor"].__setitem__("totals", [7, 4]), "cursor.position"),
    (lambda st: st.__setitem__("taken", 4), "taken"),
    (lambda st: st["cursor"].__setitem__("deficits", [5, 0]), "cursor.deficits"),
    (lambda st: st["cursor"].__setitem__("rank_deficits", [[0, 0]]), "cursor.rank_deficits"),
    (lambda st: st["cursor"].__setitem__("seg_counts", [9, 9]), "cursor.seg_counts"),
])
def test_corrupt_states_are_refused_naming_the_field(corrupt, field):
    st_ = _state()
    corrupt(st_)
    s = MixtureSampler({"a": 10, "b": 10}, {"a": 0.5, "b": 0.5}, rank=0, world_size=2)
    with pytest.raises(ValueError, match=field.replace(".", "\\.")):
        s.load_state_dict(st_)


@settings(max_examples=40, deadline=None)
@given(w=st.lists(st.integers(0, 1000), min_size=1, max_size=20).filter(lambda w: sum(w) > 0),
       n=st.integers(1, 2000), world=st.integers(1, 5), r0=st.integers(0, 4))
def test_compiled_and_pure_kernels_give_the_same_output(w, n, world, r0):
    if not HAVE_NUMBA:
        pytest.skip("numba (mixkit[fast]) is not installed")
    q = np.asarray(quantize_weights([float(x) for x in w]), dtype=np.int64)
    K = q.shape[0]
    outs = []
    for compiled in (True, False):
        e = np.zeros(K, np.int64)
        f = None if world == 1 else np.zeros((world, K), np.int64)
        a = deficit_schedule(q, e, f, r0 % world, n // 2, compiled=compiled)
        b = deficit_schedule(q, e, f, (r0 + n // 2) % world, n - n // 2, compiled=compiled)
        outs.append((np.concatenate([a, b]), e.tolist(), None if f is None else f.tolist()))
    assert np.array_equal(outs[0][0], outs[1][0]) and outs[0][1:] == outs[1][1:]


@settings(max_examples=40, deadline=None)
@given(seq=st.lists(st.lists(st.integers(0, 100), min_size=3, max_size=3).filter(lambda w: sum(w) > 0),
                    min_size=1, max_size=30), per=st.integers(1, 20))
def test_one_rank_kernel_matches_the_slot_by_slot_oracle_across_weight_changes(seq, per):
    K = 3
    e = np.zeros(K, np.int64)
    got, qs = [], []
    for w in seq:
        q = np.asarray(quantize_weights([float(x) for x in w]), dtype=np.int64)
        from mixkit.domain.sampler import forgive_deficits

        e[:] = forgive_deficits(e.tolist(), q.tolist())
        out = np.empty(per, np.int64)
        edf_loop(q, e, per, out)
        got.append(out)
        qs.append((q.tolist(), per))
    # oracle: replay with the same forgiving at every change
    e2 = [0] * K
    ref = []
    for q, n in qs:
        from mixkit.domain.sampler import forgive_deficits

        e2 = forgive_deficits(e2, q)
        r = deficit_reference([q] * n, e2)
        for d in r.tolist():
            e2 = [x + y for x, y in zip(e2, q)]
            e2[d] -= Q
        ref.append(r)
    assert np.array_equal(np.concatenate(got), np.concatenate(ref))


def test_a_domain_of_10_to_the_12_items_costs_nothing():
    s = MixtureSampler({"huge": 10**12, "small": 10}, {"huge": 0.9, "small": 0.1}, seed=3)
    b = s.take(10_000)
    big = b.indices[b.domain_ids == 0]
    assert big.min() >= 0 and big.max() < 10**12 and len(set(big.tolist())) == big.shape[0]
    assert s.epochs()["huge"] == pytest.approx(9000 / 10**12)


def test_explicit_rank_still_works_and_defaults_without_a_process_group():
    s = MixtureSampler({"a": 4}, {"a": 1.0})
    assert (s.rank, s.world_size) == (0, 1)
    assert MixtureSampler({"a": 4}, {"a": 1.0}, rank=1, world_size=3).rank == 1


def test_epoch_sampler_refuses_a_dataset_of_another_length():
    from mixkit.domain import MixtureDataset, MixtureEpochSampler

    s = MixtureSampler({"a": 3, "b": 2}, {"a": 1, "b": 1})
    MixtureEpochSampler(s, dataset=MixtureDataset({"a": [0, 1, 2], "b": [0, 1]}))
    with pytest.raises(ValueError, match="dataset"):
        MixtureEpochSampler(s, dataset={"a": [0, 1, 2], "b": [0]})


@settings(max_examples=30, deadline=None)
@given(dom=st.lists(st.integers(0, 40), max_size=500), seed=st.integers(0, 10))
def test_block_occurrences_compiled_and_numpy_agree_with_a_loop(dom, seed):
    from mixkit.domain.interleave import block_occurrences

    d = np.asarray(dom, dtype=np.int64)
    base = np.random.default_rng(seed).integers(0, 10**12, 41)
    run = base.tolist()
    ref = []
    for k in dom:
        ref.append(run[k])
        run[k] += 1
    for compiled in ((False, True) if HAVE_NUMBA else (False,)):
        assert block_occurrences(d, base, compiled).tolist() == ref


@settings(max_examples=40, deadline=None)
@given(seq=st.lists(st.lists(st.integers(0, 1000), min_size=5, max_size=5).filter(lambda w: sum(w) > 0),
                    min_size=1, max_size=8), n=st.integers(1, 700), tiny=st.booleans())
def test_packed_heap_kernel_equals_the_two_key_kernel(seq, n, tiny):
    from mixkit.domain.interleave import edf_packed_loop
    from mixkit.domain.sampler import forgive_deficits

    paths = [(edf_loop, ()), (edf_packed_loop, (3,))]
    if HAVE_NUMBA:
        from mixkit.domain.interleave import edf_compiled, edf_packed_compiled

        paths += [(edf_compiled, ()), (edf_packed_compiled, (3,))]
    results = []
    for fn, extra in paths:
        e = np.zeros(5, np.int64)
        outs = []
        for w in seq:
            ws = [float(x) for x in w]
            if tiny:
                ws[0] = 1e-9 * (ws[0] > 0)  # a weight of a few units of 2**-31: far deadlines
                if sum(ws) == 0:
                    ws[1] = 1.0
            q = np.asarray(quantize_weights(ws), dtype=np.int64)
            e[:] = forgive_deficits(e.tolist(), q.tolist())
            out = np.empty(n, np.int64)
            fn(q, e, n, out, *extra)
            outs.append(out)
        results.append((np.concatenate(outs).tolist(), e.tolist()))
    assert all(r == results[0] for r in results)


@settings(max_examples=30, deadline=None)
@given(w=st.lists(st.integers(0, 1000), min_size=1, max_size=12).filter(lambda w: sum(w) > 0),
       n=st.integers(1, 400), world=st.integers(2, 6), r0=st.integers(0, 5), warm=st.integers(0, 300))
def test_numpy_rank_kernel_equals_the_loop_from_carried_deficits(w, n, world, r0, warm):
    from mixkit.domain.interleave import GLOBAL_WEIGHT, RANK_WEIGHT, ranks_loop, ranks_numpy

    q = np.asarray(quantize_weights([float(x) for x in w]), dtype=np.int64)
    K = q.shape[0]
    e0, f0 = np.zeros(K, np.int64), np.zeros((world, K), np.int64)
    ranks_loop(np.asarray(quantize_weights([1.0] * K), dtype=np.int64), e0, f0, 0, warm,
                np.empty(warm, np.int64), RANK_WEIGHT, GLOBAL_WEIGHT)  # carried deficits of other weights
    outs = []
    for fn in (ranks_loop, ranks_numpy):
        e, f, out = e0.copy(), f0.copy(), np.empty(n, np.int64)
        fn(q, e, f, r0 % world, n, out, RANK_WEIGHT, GLOBAL_WEIGHT)
        outs.append((out.tolist(), e.tolist(), f.tolist()))
    assert outs[0] == outs[1]


@pytest.mark.skipif(not HAVE_NUMBA, reason="numba (mixkit[fast]) is not installed")
@pytest.mark.parametrize("K,world,steps,per", [(3, 2, 40, 7), (16, 8, 30, 24), (200, 5, 8, 50),
                                               (1000, 8, 3, 60), (1000, 3, 2, 40)])
def test_compiled_rank_kernel_equals_the_loop_across_weight_changes(K, world, steps, per):
    from mixkit.domain.interleave import GLOBAL_WEIGHT, RANK_WEIGHT, ranks_compiled, ranks_loop
    from mixkit.domain.sampler import forgive_deficits

    rng = np.random.default_rng(K * 1000 + world)
    states = {fn: (np.zeros(K, np.int64), np.zeros((world, K), np.int64), [])
              for fn in (ranks_loop, ranks_compiled)}
    pos = 0
    for _ in range(steps):
        w = rng.dirichlet(np.full(K, 0.3))
        w[rng.random(K) < 0.2] = 0.0  # zero weights
        w[rng.random(K) < 0.2] *= 1e-4  # weights far below one draw per batch
        if w.sum() == 0:
            w[0] = 1.0
        q = np.asarray(quantize_weights((w / w.sum()).tolist()), dtype=np.int64)
        for fn, (e, f, outs) in states.items():
            e[:] = forgive_deficits(e.tolist(), q.tolist())
            f[:] = [forgive_deficits(row, q.tolist()) for row in f.tolist()]
            out = np.empty(per, np.int64)
            fn(q, e, f, pos % world, per, out, RANK_WEIGHT, GLOBAL_WEIGHT)
            outs.append(out)
        pos += per
    (e1, f1, o1), (e2, f2, o2) = states.values()
    assert np.array_equal(np.concatenate(o1), np.concatenate(o2))
    assert np.array_equal(e1, e2) and np.array_equal(f1, f2)
    assert (np.concatenate(o1) < K).all()


@settings(max_examples=60, deadline=None)
@given(K=st.sampled_from([1, 2, 3, 5, 16, 200]), seed=st.integers(0, 10**6), steps=st.integers(1, 6),
       n=st.sampled_from([1, 5, 64, 700, 3000]), profile=st.sampled_from(["uniform", "two", "skewed"]))
def test_vectorised_prefix_then_loop_equals_the_loop_across_weight_changes(K, seed, steps, n, profile):
    from mixkit.domain.interleave import edf_sorted_prefix
    from mixkit.domain.sampler import forgive_deficits

    rng = np.random.default_rng(seed)
    e_loop, e_vec = np.zeros(K, np.int64), np.zeros(K, np.int64)
    for _ in range(steps):
        w = np.ones(K) if profile == "uniform" else rng.dirichlet(np.full(K, 0.5))
        if profile == "skewed":
            w[rng.random(K) < 0.25] = 0.0  # zero weights
            w[rng.random(K) < 0.25] *= 1e-5  # far below one draw per batch
        if profile == "two" or w.sum() == 0:
            w = np.zeros(K)
            w[:2] = rng.dirichlet(np.ones(2))[: min(K, 2)] if K > 1 else 1.0
        q = np.asarray(quantize_weights((w / w.sum()).tolist()), dtype=np.int64)
        e_loop[:] = forgive_deficits(e_loop.tolist(), q.tolist())
        e_vec[:] = e_loop
        e_sched = e_loop.copy()
        ref = np.empty(n, np.int64)
        edf_loop(q, e_loop, n, ref)
        got = np.empty(n, np.int64)
        p = edf_sorted_prefix(q, e_vec, n, got, block=int(rng.choice([7, 16384])))
        if profile in ("uniform", "two"):
            assert p == n  # the vectorised prefix does all the work here
        edf_loop(q, e_vec, n - p, got[p:])
        assert np.array_equal(got, ref) and np.array_equal(e_vec, e_loop)
        assert np.array_equal(deficit_schedule(q, e_sched, None, 0, n, compiled=False), ref)
        assert np.array_equal(e_sched, e_loop)
