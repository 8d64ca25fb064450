"""Each test reproduces the situation behind a known failure of an existing data-mixing tool and checks
that MixtureSampler does not have it. The tools are named so the reason for each test is clear; their
code is not used here."""

from __future__ import annotations

import numpy as np

from mixkit.domain import WEIGHT_DENOMINATOR, MixtureSampler, quantize_weights

SIZES = {"web": 60, "code": 25, "de": 7}
WEIGHTS = {"web": 0.55, "code": 0.3, "de": 0.15}


def test_interleave_plus_split_by_node_does_not_duplicate_across_ranks():
    # HF `interleave_datasets` + `split_dataset_by_node`: ranks can read the same examples.
    world, sizes = 4, {"web": 600, "code": 250, "de": 70}  # 100 draws stay inside every first epoch
    keys = [MixtureSampler(sizes, WEIGHTS, seed=9, rank=r, world_size=world).take(25).keys()
            for r in range(world)]
    flat = [k for ks in keys for k in ks]
    assert len(set(flat)) == 100  # no example on two ranks (nor twice on one)
    assert sorted(flat) == sorted(MixtureSampler(sizes, WEIGHTS, seed=9).take(100).keys())


def test_resume_mid_epoch_neither_drops_nor_repeats_items():
    # Shuffle buffers of streaming loaders are dropped or replayed on resume.
    full = MixtureSampler(SIZES, WEIGHTS, seed=2).take(60).keys()
    for cut in (1, 17, 33, 59):
        s = MixtureSampler(SIZES, WEIGHTS, seed=2)
        head = s.take(cut).keys()
        t = MixtureSampler(SIZES, WEIGHTS, seed=2)
        t.load_state_dict(s.state_dict())
        assert head + t.take(60 - cut).keys() == full
    web = [i for d, i in full if d == "web"]
    assert len(set(web)) == len(web)  # web is still in its first epoch: nothing read twice


def test_zero_probability_source_does_not_deadlock_all_exhausted():
    # `interleave_datasets(probabilities=[..., 0], stopping_strategy="all_exhausted")` never ends,
    # waiting for a source that is never drawn.
    s = MixtureSampler({"a": 5, "b": 8, "never": 3}, {"a": 1, "b": 1, "never": 0},
                       on_exhausted="renormalize")
    keys = list(s)  # must terminate
    assert sorted(keys) == sorted([("a", i) for i in range(5)] + [("b", i) for i in range(8)])


def test_changing_weights_at_resume_loses_and_duplicates_nothing():
    # Megatron's blended dataset rebuilds its blend index from the new weights at resume, so samples
    # already seen can come back and others are skipped. Here each domain continues its permutation.
    ref_order = {d: MixtureSampler({d: n}, {d: 1.0}, seed=4) for d, n in SIZES.items()}
    s = MixtureSampler(SIZES, WEIGHTS, seed=4)
    head = s.take(40).keys()
    resumed = MixtureSampler(SIZES, WEIGHTS, seed=4)
    resumed.load_state_dict(s.state_dict())
    resumed.set_weights({"web": 0.1, "code": 0.1, "de": 0.8})
    tail = resumed.take(80).keys()
    for d, single in ref_order.items():
        seq = [i for dd, i in head + tail if dd == d]
        # the domain's reads over the whole run are exactly its own permutation stream, in order
        assert seq == single.take(len(seq)).indices.tolist()


def test_proportions_exact_in_every_prefix_not_only_in_expectation():
    # Stream mixers that draw sources at random keep proportions only in expectation.
    n = 20_000
    q = quantize_weights(list(WEIGHTS.values()))
    expect = np.arange(1, n + 1)[:, None] * np.asarray(q)[None, :] / WEIGHT_DENOMINATOR
    for mode, bound in (("quota", 1.0), ("iid", None)):
        dom = MixtureSampler(SIZES, WEIGHTS, seed=0, mode=mode).take(n).domain_ids
        counts = np.cumsum(np.eye(3, dtype=np.int64)[dom], axis=0)
        dev = np.abs(counts - expect).max()
        if bound is not None:
            assert dev < bound
        else:  # the i.i.d. mode drifts like a random walk: far more than 1 over 20k draws
            assert dev > 5


def test_no_drift_when_a_source_runs_out():
    # Stream mixers drift when a source runs out (its share silently goes to the others, unevenly).
    s = MixtureSampler({"small": 10, "a": 1000, "b": 1000}, {"small": 0.5, "a": 0.3, "b": 0.2},
                       on_exhausted="renormalize")
    s.take(21)  # "small" is used up by draw 20
    assert s.counts()["small"] == 10
    dom = s.take(500).domain_ids
    assert 0 not in dom
    # the remaining two keep their relative weights 0.3 : 0.2 exactly (bound < 1 per prefix)
    a = np.cumsum(dom == 1)
    n = np.arange(1, dom.shape[0] + 1)
    assert np.abs(a - 0.6 * n).max() < 2  # < 1 from the change point; the window may start 1 early
    assert s.discrepancy() < 1
    # with "cycle" a small domain keeps its exact share epoch after epoch instead of fading out
    c = MixtureSampler({"small": 10, "a": 1000}, {"small": 0.25, "a": 0.75})
    c.take(4000)
    assert abs(c.counts()["small"] - 1000) < 1 and c.epochs()["small"] == 100
