"""DataLoader datasets and samplers (0 and 2 workers, ranks, resume), JSONL and Hugging Face sources."""

from __future__ import annotations

import json
import pickle

import pytest
from domain_fakes import Tagged
from torch.utils.data import DataLoader

from mixkit.domain import (
    JsonlSource,
    MixtureDataset,
    MixtureEpochSampler,
    MixtureIterableDataset,
    MixtureSampler,
    hf_sources,
    jsonl_sources,
)

DATA = {"web": Tagged(0, 40), "code": Tagged(1, 12), "de": Tagged(2, 5)}
SIZES = {k: len(v) for k, v in DATA.items()}
WEIGHTS = {"web": 0.5, "code": 0.3, "de": 0.2}
NAMES = list(DATA)


def _rows(batches):
    return [(NAMES[int(r[0])], int(r[1])) for b in batches for r in b]


@pytest.mark.parametrize("workers", [0, 2])
def test_torch_sampler_with_dataloader_workers_resumes_exactly(workers):
    ref = MixtureSampler(SIZES, WEIGHTS, seed=7).take(96).keys()
    sampler = MixtureEpochSampler(MixtureSampler(SIZES, WEIGHTS, seed=7), length=96)
    loader = DataLoader(MixtureDataset(DATA), batch_size=8, sampler=sampler, num_workers=workers)
    got, state = [], None
    for step, batch in enumerate(loader):  # the loader reads ahead of this loop with 2 workers
        got.append(batch)
        if step == 4:
            state = sampler.state_dict(consumed=5 * 8)
            break
    del loader
    assert _rows(got) == ref[:40]
    resumed = MixtureEpochSampler(MixtureSampler(SIZES, WEIGHTS, seed=7), length=56)
    resumed.load_state_dict(json.loads(json.dumps(state)))
    loader = DataLoader(MixtureDataset(DATA), batch_size=8, sampler=resumed, num_workers=workers)
    assert _rows(loader) == ref[40:]


@pytest.mark.parametrize("workers", [0, 2])
def test_iterable_dataset_workers_are_disjoint_and_keep_the_rank_order(workers):
    world = 2
    rows = []
    for rank in range(world):
        ref = MixtureSampler(SIZES, WEIGHTS, seed=3, rank=rank, world_size=world).take(64).keys()
        s = MixtureSampler(SIZES, WEIGHTS, seed=3, rank=rank, world_size=world)
        ds = MixtureIterableDataset(DATA, s, chunk_size=4, length=64)
        mine = _rows(DataLoader(ds, batch_size=4, num_workers=workers))
        assert mine == ref  # in-order output == this rank's share of the global stream
        rows += mine
    probe = MixtureSampler(SIZES, WEIGHTS, seed=3, rank=0, world_size=world)
    probe.take(64)
    assert {d: sum(k == d for k, _ in rows) for d in SIZES} == probe.counts()


def test_iterable_dataset_resume_and_worker_shares():
    s = MixtureSampler(SIZES, WEIGHTS, seed=1)
    ds = MixtureIterableDataset(DATA, s, chunk_size=3, length=30)
    w0, w1 = list(ds.keys(0, 2)), list(ds.keys(1, 2))
    full = MixtureSampler(SIZES, WEIGHTS, seed=1).take(30).keys()
    assert w0 == [k for c in range(0, 30, 6) for k in full[c:c + 3]]  # chunks 0, 2, 4, ... of the stream
    assert w1 == [k for c in range(3, 30, 6) for k in full[c:c + 3]]
    state = ds.state_dict(consumed=30)
    ds2 = MixtureIterableDataset(DATA, MixtureSampler(SIZES, WEIGHTS, seed=1), chunk_size=3, length=30)
    ds2.load_state_dict(state)
    ds.advance(30)
    assert list(ds2.keys()) == list(ds.keys()) == MixtureSampler(SIZES, WEIGHTS, seed=1).take(60).keys()[30:]


def test_adapters_reject_bad_input():
    with pytest.raises(TypeError, match="no len"):
        MixtureDataset({"a": iter(range(3))})
    with pytest.raises(TypeError, match="\\(domain, index\\)"):
        MixtureDataset(DATA)[3]
    with pytest.raises(ValueError, match="sizes"):
        MixtureIterableDataset(DATA, MixtureSampler({"web": 1}, {"web": 1}), chunk_size=2)


def test_jsonl_source_indexes_offsets_once_and_reads_lazily(tmp_path):
    p = tmp_path / "code.jsonl"
    recs = [{"id": i, "text": "x" * i} for i in range(7)]
    p.write_text("\n".join(json.dumps(r) for r in recs[:3]) + "\n\n" +
                 "\n".join(json.dumps(r) for r in recs[3:]) + "\n")
    src = JsonlSource(p)
    assert len(src) == 7 and src[4] == recs[4] and src[-1] == recs[6]
    clone = pickle.loads(pickle.dumps(src))  # travels to workers without an open handle
    assert clone[2] == recs[2]
    with pytest.raises(IndexError):
        src[7]
    web = tmp_path / "web.jsonl"
    web.write_text("".join(json.dumps({"id": 100 + i}) + "\n" for i in range(20)))
    sources = jsonl_sources({"code": p, "web": web}, transform=lambda r: r["id"])
    sizes = {k: len(v) for k, v in sources.items()}
    sampler = MixtureEpochSampler(MixtureSampler(sizes, {"code": 1, "web": 1}), length=14)
    loader = DataLoader(MixtureDataset(sources), batch_size=7, sampler=sampler, num_workers=2)
    ids = [int(i) for b in loader for i in b]
    assert sorted(i for i in ids if i < 100) == list(range(7))  # every code record exactly once
    assert len({i for i in ids if i >= 100}) == 7


def test_hf_datasets_adapter_with_a_tiny_in_memory_dataset():
    datasets = pytest.importorskip("datasets", reason="Hugging Face datasets (mixkit[hf]) is not installed")
    dd = datasets.DatasetDict({
        "en": datasets.Dataset.from_dict({"text": [f"en{i}" for i in range(6)], "n": list(range(6))}),
        "de": datasets.Dataset.from_dict({"text": [f"de{i}" for i in range(3)], "n": list(range(3))}),
    })
    sources = hf_sources(dd, columns=["text"])
    sizes = {k: len(v) for k, v in sources.items()}
    s = MixtureSampler(sizes, {"en": 2, "de": 1}, on_exhausted="stop")
    texts = [MixtureDataset(sources)[key]["text"] for key in s]
    assert sorted(texts) == sorted([f"en{i}" for i in range(6)] + [f"de{i}" for i in range(3)])
    with pytest.raises(TypeError, match="streaming"):
        hf_sources({"en": dd["en"].to_iterable_dataset()})
